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
from dataclasses import dataclass, replace

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
    low, high = _t_bounds(estimate, se, df, confidence)
    return float(low), float(high)


def _t_bounds(
    estimate: npt.ArrayLike, se: npt.ArrayLike, df: npt.ArrayLike, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """``estimate ± t(1 − α/2, df) · se`` element-wise: NaN where df ≤ 0 or se is NaN, the point
    where se is 0. The one implementation of the t interval, for one value or for many."""
    estimate, se, df = (np.asarray(x, dtype=float) for x in (estimate, se, df))
    valid = (df > 0) & ~np.isnan(se)
    with np.errstate(invalid="ignore"):
        quantile = _scipy_stats.t.ppf(0.5 + confidence / 2.0, np.where(valid, df, 1.0))
    half = np.where(se == 0, 0.0, quantile * se)
    nan = np.full(np.shape(half), np.nan)
    return np.where(valid, estimate - half, nan), np.where(valid, estimate + half, nan)


def clip_interval(interval: Interval, bounds: tuple[float, float] | None) -> Interval:
    """An interval with its bounds clipped to the values the quantity can take.

    A Student-t interval is symmetric, so for a count near 0 with much spread it reaches below 0
    (e.g. unfinished trips −166 … 1,278); no count can be negative, so the bound says nothing
    beyond 0. Only intervals of a quantity itself are clipped: a *difference* of two counts can
    be negative.

    Parameters
    ----------
    interval
        The interval, e.g. from :func:`mean_ci`.
    bounds
        ``(lowest, highest)`` value of the quantity (``(0, inf)`` for a count, ``(0, 100)`` for a
        percentage); None leaves the interval as it is.

    Returns
    -------
    Interval
        The same interval with ``low`` and ``high`` inside ``bounds`` (NaN stays NaN), but
        never cut past the estimate.
    """
    if bounds is None:
        return interval
    low, high = _clipped(interval.estimate, interval.low, interval.high, bounds)
    return replace(interval, low=float(low), high=float(high))


def _clipped(
    estimate: npt.ArrayLike, low: npt.ArrayLike, high: npt.ArrayLike, bounds: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds clipped to ``bounds``, element-wise, but never past the estimate: an interval
    always holds its estimate, even one outside ``bounds`` (which real data cannot give)."""
    point = np.asarray(estimate, dtype=float)
    with np.errstate(invalid="ignore"):
        clipped_low = np.minimum(np.clip(low, *bounds), point)
        clipped_high = np.maximum(np.clip(high, *bounds), point)
    return clipped_low, clipped_high


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
    se, df = _welch_se_df(a.var(ddof=1), a.size, b.var(ddof=1), b.size)
    low, high = _t_interval(estimate, float(se), float(df), confidence)
    return Interval(estimate, low, high, float(se), float(df), "Welch t")


def _welch_se_df(
    var_a: npt.ArrayLike, n_a: npt.ArrayLike, var_b: npt.ArrayLike, n_b: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Standard error of B − A and the Welch–Satterthwaite degrees of freedom, element-wise.

    Where the standard error is 0 the degrees of freedom are ``n_a + n_b − 2`` (the interval
    collapses to the point); where a side has fewer than two values its variance is NaN and so
    are both results.
    """
    var_a, n_a, var_b, n_b = (np.asarray(x, dtype=float) for x in (var_a, n_a, var_b, n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        va, vb = var_a / n_a, var_b / n_b
        se = np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    return se, np.where(se == 0, n_a + n_b - 2, df)


def group_mean_ci(
    frame: pd.DataFrame,
    keys: Sequence[str],
    columns: Sequence[str],
    confidence: float = CONFIDENCE,
    bounds: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """:func:`mean_ci` of several columns for many groups at once (e.g. every link's replications).

    Parameters
    ----------
    frame
        One row per group and replication.
    keys
        Columns that identify a group (``["u", "v", "key"]`` for links).
    columns
        Numeric columns to average (NaNs dropped, as in :func:`mean_ci`).
    confidence
        Confidence level.
    bounds
        Values the columns can take; the interval bounds are clipped to them
        (:func:`clip_interval`), None for no clipping.

    Returns
    -------
    pandas.DataFrame
        Index ``keys``; for each column ``c`` the mean ``c`` and the bounds ``c_ci_low``,
        ``c_ci_high`` (NaN for groups with fewer than two values).
    """
    grouped = pd.DataFrame(frame).groupby(list(keys), sort=False)[list(columns)]
    n, mean, sd = grouped.count(), grouped.mean(), grouped.std(ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = sd / np.sqrt(n)
    low, high = _t_bounds(mean, se, n - 1, confidence)
    return _estimate_and_bounds(mean, low, high, bounds)


def group_welch_difference_ci(
    frame_a: pd.DataFrame,
    frame_b: pd.DataFrame,
    keys: Sequence[str],
    columns: Sequence[str],
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """:func:`welch_difference_ci` (B − A) of several columns for many groups at once.

    Parameters
    ----------
    frame_a, frame_b
        One row per group and replication of each side.
    keys, columns, confidence
        As :func:`group_mean_ci`.

    Returns
    -------
    pandas.DataFrame
        Index ``keys`` (groups of either side); for each column ``c`` the difference of means
        ``c`` and the bounds ``c_ci_low``, ``c_ci_high`` (NaN unless both sides have ≥ 2 values).
    """
    groups = [
        pd.DataFrame(f).groupby(list(keys), sort=False)[list(columns)] for f in (frame_a, frame_b)
    ]
    index = groups[0].mean().index.union(groups[1].mean().index, sort=False)
    n_a, n_b = (g.count().reindex(index, fill_value=0) for g in groups)
    mean_a, mean_b = (g.mean().reindex(index) for g in groups)
    var_a, var_b = (g.var(ddof=1).reindex(index) for g in groups)
    estimate = mean_b - mean_a
    se, df = _welch_se_df(var_a, n_a, var_b, n_b)
    low, high = _t_bounds(estimate, se, df, confidence)
    return _estimate_and_bounds(estimate, low, high, None)


def _estimate_and_bounds(
    estimate: pd.DataFrame,
    low: np.ndarray,
    high: np.ndarray,
    bounds: tuple[float, float] | None,
) -> pd.DataFrame:
    """Columns ``c``, ``c_ci_low``, ``c_ci_high`` side by side for every column of ``estimate``."""
    if bounds is not None:
        low, high = _clipped(estimate.to_numpy(dtype=float), low, high, bounds)
    parts = {}
    for i, column in enumerate(estimate.columns):
        parts[column] = estimate[column].to_numpy(dtype=float)
        parts[f"{column}_ci_low"] = low[:, i]
        parts[f"{column}_ci_high"] = high[:, i]
    return pd.DataFrame(parts, index=estimate.index)


def summarize(
    values_per_replication: Sequence[Mapping[str, float]],
    confidence: float = CONFIDENCE,
    bounds: Mapping[str, tuple[float, float] | None] | None = None,
) -> pd.DataFrame:
    """Summarise KPI dicts of several replications: mean, sd and confidence interval per KPI.

    Parameters
    ----------
    values_per_replication
        One ``{kpi: value}`` dict per replication (e.g. from :func:`cysim.results.metrics.network_kpis`).
    confidence
        Confidence level.
    bounds
        ``{kpi: (lowest, highest)}`` values a KPI can take; its interval is clipped to them
        (:func:`clip_interval`; :attr:`cysim.results.metrics.KpiInfo.value_range`). KPIs not named are
        not clipped.

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
        interval = clip_interval(mean_ci(values, confidence), (bounds or {}).get(kpi))
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
