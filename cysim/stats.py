"""Replication statistics: means with Student-t confidence intervals, and differences of two sets.

Replications of a stochastic simulation are independent draws of each KPI, so the mean over n
replications has the Student-t interval ``mean ± t(1 − α/2, n − 1) · sd / √n`` (sd with n − 1).

For a before/after difference (B − A) two tests apply:

* **paired t** when both sides ran the *same seeds* (common random numbers: replication i of A and
  of B share their random draws, so their difference has far less noise): the interval of the
  mean of the per-seed differences d_i = B_i − A_i, ``mean(d) ± t(1 − α/2, n − 1) · sd(d) / √n``;
* **Welch t** otherwise: ``mean(B) − mean(A) ± t(1 − α/2, ν) · √(s_A²/n_A + s_B²/n_B)`` with the
  Welch–Satterthwaite degrees of freedom ν (no equal-variance assumption).

Both agree with ``scipy.stats.ttest_rel`` / ``ttest_ind(equal_var=False)`` ``.confidence_interval``.
With one replication per side no interval exists and NaN is returned; with zero spread the
interval collapses to the point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as _scipy_stats

#: Default confidence level of every interval.
CONFIDENCE: float = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval.

    Attributes
    ----------
    estimate
        Mean (or difference of means).
    low, high
        Bounds of the interval; NaN when it cannot be computed (n < 2).
    sd
        Standard deviation of the values (or of the paired differences); NaN when n < 2.
    df
        Degrees of freedom of the t distribution used; NaN when n < 2.
    method
        ``"t"``, ``"paired t"`` or ``"Welch t"``.
    """

    estimate: float
    low: float
    high: float
    sd: float
    df: float
    method: str

    @property
    def excludes_zero(self) -> bool:
        """The interval lies wholly above or below 0 (False when it is NaN)."""
        return bool(self.low > 0 or self.high < 0)


def _clean(values: npt.ArrayLike) -> np.ndarray:
    """Values as a float array without NaNs."""
    array = np.asarray(values, dtype=float).ravel()
    return array[~np.isnan(array)]


def _t_interval(estimate: float, se: float, df: float, confidence: float) -> tuple[float, float]:
    """``estimate ± t(1 − α/2, df) · se``; the point itself when se is 0."""
    if not (df > 0) or math.isnan(se):
        return float("nan"), float("nan")
    if se == 0:
        return estimate, estimate
    half = float(_scipy_stats.t.ppf(0.5 + confidence / 2.0, df)) * se
    return estimate - half, estimate + half


def mean_ci(values: npt.ArrayLike, confidence: float = CONFIDENCE) -> Interval:
    """Mean of replication values with its Student-t confidence interval.

    Parameters
    ----------
    values
        One value per replication (NaNs are dropped).
    confidence
        Confidence level, e.g. 0.95.

    Returns
    -------
    Interval
        ``mean ± t(1 − α/2, n − 1) · sd / √n``; bounds NaN when fewer than two values.
    """
    x = _clean(values)
    n = x.size
    if n == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, nan, nan, "t")
    mean = float(x.mean())
    if n < 2:
        nan = float("nan")
        return Interval(mean, nan, nan, nan, nan, "t")
    sd = float(x.std(ddof=1))
    low, high = _t_interval(mean, sd / math.sqrt(n), n - 1, confidence)
    return Interval(mean, low, high, sd, float(n - 1), "t")


def paired_difference_ci(
    values_a: npt.ArrayLike, values_b: npt.ArrayLike, confidence: float = CONFIDENCE
) -> Interval:
    """Mean of the paired differences B − A with its paired-t confidence interval.

    Parameters
    ----------
    values_a, values_b
        Values per replication, aligned: element i of both ran with the same seed.
    confidence
        Confidence level.

    Returns
    -------
    Interval
        Method ``"paired t"``; pairs with a NaN on either side are dropped.

    Raises
    ------
    ValueError
        If the two sequences differ in length.
    """
    a = np.asarray(values_a, dtype=float).ravel()
    b = np.asarray(values_b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.size} and {b.size}")
    d = mean_ci(b - a, confidence)
    return Interval(d.estimate, d.low, d.high, d.sd, d.df, "paired t")


def welch_difference_ci(
    values_a: npt.ArrayLike, values_b: npt.ArrayLike, confidence: float = CONFIDENCE
) -> Interval:
    """Difference of means B − A of two independent sets with Welch's confidence interval.

    Parameters
    ----------
    values_a, values_b
        Values per replication of each side (any lengths; NaNs dropped).
    confidence
        Confidence level.

    Returns
    -------
    Interval
        Method ``"Welch t"``; ``sd`` is the standard error of the difference, ``df`` the
        Welch–Satterthwaite degrees of freedom. Bounds NaN unless both sides have ≥ 2 values.
    """
    a, b = _clean(values_a), _clean(values_b)
    nan = float("nan")
    if a.size == 0 or b.size == 0:
        return Interval(nan, nan, nan, nan, nan, "Welch t")
    estimate = float(b.mean() - a.mean())
    if a.size < 2 or b.size < 2:
        return Interval(estimate, nan, nan, nan, nan, "Welch t")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(estimate, estimate, estimate, 0.0, float(a.size + b.size - 2), "Welch t")
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    low, high = _t_interval(estimate, se, df, confidence)
    return Interval(estimate, low, high, se, float(df), "Welch t")


def summarize(
    values_per_replication: Sequence[Mapping[str, float]], confidence: float = CONFIDENCE
) -> pd.DataFrame:
    """Summarise KPI dicts of several replications: mean, sd and confidence interval per KPI.

    Parameters
    ----------
    values_per_replication
        One ``{kpi: value}`` dict per replication (e.g. from :func:`cysim.metrics.network_kpis`).
    confidence
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        Index ``kpi`` (in first-seen order); columns ``n``, ``mean``, ``sd``, ``ci_low``,
        ``ci_high``, and one column per replication ``rep_1`` … ``rep_n`` with the raw values.
    """
    frame = pd.DataFrame(list(values_per_replication))
    rows = {}
    for kpi in frame.columns:
        values = frame[kpi].to_numpy(dtype=float)
        interval = mean_ci(values, confidence)
        row = {
            "n": int((~np.isnan(values)).sum()),
            "mean": interval.estimate,
            "sd": interval.sd,
            "ci_low": interval.low,
            "ci_high": interval.high,
        }
        row.update({f"rep_{i + 1}": float(v) for i, v in enumerate(values)})
        rows[kpi] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("kpi")
