"""Calibrate the demand to published targets with the engine.

:func:`calibrate_trips` scales the total until the travel-time index reaches ``target_tti``
(run inside ``cysim run``); :func:`fit_targets` fits the total and the gravity deterrence to the
index and mean-speed targets of ``demand.calibration.targets`` and checks the count of congested
places (``cysim calibrate``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from .. import settings
from .._errors import DemandError
from .build import DemandPlan, initial_trips_guess, plan_demand, realise_trips
from .spec import CalibrationTargets, DemandSpec


def calibrate_trips(
    G: nx.MultiDiGraph,
    spec: DemandSpec,
    *,
    seed: int,
    tti_of_trips: Callable[[pd.DataFrame], float],
    base_dir: Path | None = None,
    duration_s: float | None = None,
    start_time: str | None = None,
    on_iteration: Callable[[int, int, float], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scale the total number of trips until ``tti_of_trips(trips)`` hits ``spec.target_tti``.

    The OD pattern (zones, gravity matrix or imported OD, profile) is fixed; only the total
    changes. The search works on ``log(total)`` against ``log(TTI − 1)``: it grows or shrinks the
    total until the target is bracketed, then uses the secant through the bracket (falling back
    to bisection when the secant leaves it). It stops when ``|TTI − target| ≤ tolerance`` or
    after ``calibration.max_iterations`` evaluations, and returns the closest trips found.

    Parameters
    ----------
    G
        The baseline road graph.
    spec
        Demand spec with ``target_tti`` set; ``trips`` (if set) is the starting total.
    seed
        Seed of every random draw (the same for all iterations, so only the total differs).
    tti_of_trips
        Runs the engine on a trips table and returns the network travel-time index.
    base_dir
        Folder of the scenario file.
    duration_s, start_time
        The simulated period (``simulation.duration_s``, ``simulation.start_time``).
    on_iteration
        Called after every evaluation with ``(iteration, total_trips, tti)`` (progress display).

    Returns
    -------
    (trips, log)
        The trips table closest to the target, and one row per evaluation: ``iteration``,
        ``scale`` (total / starting total), ``trips`` (full-demand total), ``simulated_trips``
        (after sampling), ``tti``. ``log.attrs`` has ``target_tti``, ``converged`` and
        ``chosen_trips``.

    Raises
    ------
    DemandError
        ``target_tti`` is not set, the demand is a trip list, or ``tti_of_trips`` returns a
        non-finite value.
    """
    duration_s = settings.duration_s if duration_s is None else duration_s
    start_time = settings.start_time if start_time is None else start_time
    if spec.target_tti is None:
        raise DemandError(
            "calibration needs demand.target_tti", key="demand.target_tti", hint="e.g. 1.6"
        )
    plan: DemandPlan = plan_demand(
        G, spec, base_dir=base_dir, duration_s=duration_s, start_time=start_time
    )
    if plan.cells is None:
        raise DemandError(
            "a trip list cannot be calibrated: its trips are fixed",
            key="demand.target_tti",
            hint="remove target_tti, or give the demand as an OD matrix or gravity model",
        )
    target = float(spec.target_tti)
    settings_ = spec.calibration
    low_bound, high_bound = settings_.min_trips, settings_.max_trips
    start = spec.trips if spec.trips is not None else initial_trips_guess(G, duration_s)
    total = int(np.clip(start, low_bound, high_bound))
    below: tuple[int, float] | None = None  # largest total with TTI under the target
    above: tuple[int, float] | None = None  # smallest total with TTI over the target
    best: tuple[float, int, pd.DataFrame, float] | None = None
    rows = []
    converged = False
    seen: set[int] = set()
    for iteration in range(1, settings_.max_iterations + 1):
        trips = realise_trips(plan, total_trips=total, seed=seed, sample_factor=spec.sample_factor)
        tti = float(tti_of_trips(trips))
        if not math.isfinite(tti):
            raise DemandError(
                f"the engine returned TTI={tti} for {total} trips",
                key="demand.target_tti",
                hint="check the simulation (gridlock?) or lower the starting trips",
            )
        seen.add(total)
        rows.append((iteration, total / start, total, len(trips), tti))
        if on_iteration is not None:
            on_iteration(iteration, total, tti)
        miss = abs(tti - target)
        if best is None or miss < best[0]:
            best = (miss, total, trips, tti)
        if miss <= settings_.tolerance:
            converged = True
            break
        if tti < target:
            below = (total, tti) if below is None or total > below[0] else below
        else:
            above = (total, tti) if above is None or total < above[0] else above
        proposal = _next_total(total, tti, target, below, above)
        proposal = int(np.clip(proposal, low_bound, high_bound))
        if proposal in seen:
            break  # at a bound, or the bracket has closed to one trip
        total = proposal
    log = pd.DataFrame(rows, columns=["iteration", "scale", "trips", "simulated_trips", "tti"])
    assert best is not None
    log.attrs["target_tti"] = target
    log.attrs["converged"] = converged
    log.attrs["chosen_trips"] = best[1]
    chosen = best[2]
    chosen.attrs["calibrated_tti"] = best[3]
    return chosen, log


def _excess(tti: float) -> float:
    """Logarithm of the TTI excess over free flow, floored so an empty network stays finite."""
    return math.log(max(tti - 1.0, 1e-4))


def _next_total(
    total: int,
    tti: float,
    target: float,
    below: tuple[int, float] | None,
    above: tuple[int, float] | None,
) -> int:
    """Next total to try: secant in the bracket, else a damped power-law step towards it."""
    if below is not None and above is not None:
        x0, y0 = math.log(below[0]), _excess(below[1])
        x1, y1 = math.log(above[0]), _excess(above[1])
        guess = None
        if y1 > y0:
            x = x0 + (_excess(target) - y0) * (x1 - x0) / (y1 - y0)
            if x0 < x < x1:
                guess = math.exp(x)
        if guess is None:
            guess = math.sqrt(below[0] * above[0])
        return round(guess)
    # Congestion grows faster than demand (excess ∝ total^k, k ≥ 1), so the square root of the
    # excess ratio under-steps safely; steps are capped at ×4 and ÷4.
    ratio = (target - 1.0) / max(tti - 1.0, 1e-4)
    step = min(max(math.sqrt(ratio), 0.25), 4.0)
    step = max(step, 1.1) if tti < target else min(step, 0.9)
    return round(total * step)


# --- several targets at once ---------------------------------------------------------------


@dataclass
class TargetFit:
    """What :func:`fit_targets` found.

    Attributes
    ----------
    trips
        The fitted total of internal car trips.
    beta_per_min
        The fitted gravity deterrence (the spec's own when it was not a lever).
    log
        One row per engine evaluation: ``iteration, trips, beta_per_min``, the figures of
        :data:`TARGET_KEYS`, ``light_speed_kph`` (mean speed × congestion index) and ``score``.
    fit
        One row per target of the chosen evaluation: ``target, value, tolerance, model, miss,
        met, source``.
    converged
        Every target met.
    """

    trips: int
    beta_per_min: float | None
    log: pd.DataFrame
    fit: pd.DataFrame
    converged: bool


#: Targets and the KPI of :func:`cysim.results.metrics.network_kpis` each is compared with.
TARGET_KEYS: tuple[str, ...] = ("congestion_index", "mean_speed_kph", "congested_places")


def target_table(targets: CalibrationTargets, figures: dict[str, float]) -> pd.DataFrame:
    """The targets against a run's figures, one row per target set.

    Columns: ``target, value, tolerance, model, miss, met, source``.
    """
    rows = []
    for key in TARGET_KEYS:
        target = getattr(targets, key)
        if target is None:
            continue
        model = float(figures.get(key, float("nan")))
        miss = model - target.value
        rows.append(
            {
                "target": key,
                "value": target.value,
                "tolerance": target.tolerance,
                "model": model,
                "miss": miss,
                "met": bool(abs(miss) <= target.tolerance),
                "source": target.source,
            }
        )
    return pd.DataFrame(
        rows, columns=["target", "value", "tolerance", "model", "miss", "met", "source"]
    )


def fit_targets(
    G: nx.MultiDiGraph,
    spec: DemandSpec,
    *,
    seed: int,
    evaluate: Callable[[pd.DataFrame], dict[str, float]],
    base_dir: Path | None = None,
    duration_s: float | None = None,
    start_time: str | None = None,
    on_iteration: Callable[[dict[str, float | None]], None] | None = None,
) -> TargetFit:
    """Fit the demand levers of ``spec.calibration`` to its targets with the engine.

    The levers are decoupled by what they move:

    * ``trips`` (the internal total) sets how congested the network is: it is stepped towards
      the congestion index target (``congestion_index`` of
      :func:`cysim.results.metrics.network_kpis`)
      by the secant of ``log(index − 1)`` on ``log(total)`` through the last two evaluations (a
      damped power-law step before that).
    * ``beta_per_min`` (the gravity deterrence) sets how long trips are and so which roads they
      use: with the index fixed, the mean speed is the uncongested speed of the chosen routes
      (VKT ÷ uncongested VHT) divided by the index, so the speed target is a target on that
      uncongested speed, ``speed × index``. Longer trips (lower β) use faster roads. It is
      stepped by the secant of the uncongested speed on ``log β``.

    The total moves after every evaluation; β only when the speed it gives at the target index
    (its uncongested speed ÷ the target index) misses by more than half the speed tolerance. The
    search stops when every target is met or after
    ``calibration.max_iterations`` evaluations, and returns the evaluation with the smallest
    sum of misses in tolerances. ``congested_places`` is checked, not fitted: no demand lever
    moves it independently of the index (stated in docs/demand.md).

    Parameters
    ----------
    G
        The baseline road graph (with the plans the baseline runs).
    spec
        The demand; ``calibration.targets`` and ``calibration.levers`` say what to fit.
    seed
        Seed of every draw (the same in every evaluation).
    evaluate
        Runs the engine on a trips table and returns at least the KPIs of :data:`TARGET_KEYS`.
    base_dir, duration_s, start_time
        As for :func:`cysim.demand.build_trips`.
    on_iteration
        Called with each evaluation's log row.

    Returns
    -------
    TargetFit

    Raises
    ------
    DemandError
        The levers need what the demand lacks (``beta_per_min`` without a gravity model, a
        lever without its target), or the engine returns a non-finite index.
    """
    duration_s = settings.duration_s if duration_s is None else duration_s
    start_time = settings.start_time if start_time is None else start_time
    calibration = spec.calibration
    targets = calibration.targets
    levers = set(calibration.levers)
    tti_target, speed_target = targets.congestion_index, targets.mean_speed_kph
    if "trips" in levers and tti_target is None:
        raise DemandError(
            "the 'trips' lever needs the congestion_index target",
            key="demand.calibration.targets.congestion_index",
            hint="set the target, or drop 'trips' from demand.calibration.levers",
        )
    gravity = spec.od.gravity
    fit_beta = "beta_per_min" in levers
    if fit_beta and (gravity is None or gravity.deterrence != "exponential"):
        raise DemandError(
            "the 'beta_per_min' lever needs an exponential gravity model",
            key="demand.calibration.levers",
            hint="use demand.od.gravity with deterrence: exponential, or drop 'beta_per_min'",
        )
    if fit_beta and (speed_target is None or tti_target is None):
        raise DemandError(
            "the 'beta_per_min' lever needs the mean_speed_kph and congestion_index targets",
            key="demand.calibration.targets",
            hint="set both targets, or drop 'beta_per_min' from demand.calibration.levers",
        )
    beta = float(gravity.beta_per_min) if gravity is not None else None
    total = spec.trips if spec.trips is not None else initial_trips_guess(G, duration_s)
    total = int(np.clip(total, calibration.min_trips, calibration.max_trips))
    plans: dict[float | None, DemandPlan] = {}
    # beta_per_min is None without a gravity model; every other figure is a number
    rows: list[dict[str, float | None]] = []
    for iteration in range(1, calibration.max_iterations + 1):
        spec_now = _with_beta(spec, beta)
        if beta not in plans:
            plans[beta] = plan_demand(
                G, spec_now, base_dir=base_dir, duration_s=duration_s, start_time=start_time
            )
        if plans[beta].cells is None:
            raise DemandError(
                "a trip list cannot be calibrated: its trips are fixed",
                key="demand.calibration",
                hint="give the demand as an OD matrix or gravity model",
            )
        trips = realise_trips(
            plans[beta], total_trips=total, seed=seed, sample_factor=spec.sample_factor
        )
        figures = evaluate(trips)
        tti = float(figures["congestion_index"])
        if not math.isfinite(tti):
            raise DemandError(
                f"the engine returned TTI={tti} for {total} trips",
                key="demand.calibration",
                hint="check the simulation (gridlock?) or lower demand.trips",
            )
        measured = {key: float(figures.get(key, float("nan"))) for key in TARGET_KEYS}
        light_speed_kph = measured["mean_speed_kph"] * tti
        row: dict[str, float | None] = {
            "iteration": iteration,
            "trips": total,
            "beta_per_min": beta,
            **measured,
            "light_speed_kph": light_speed_kph,
            "score": _score(target_table(targets, measured)),
        }
        rows.append(row)
        if on_iteration is not None:
            on_iteration(row)  # beta_per_min is None without a gravity model
        if bool(target_table(targets, measured)["met"].all()):
            break
        if "trips" in levers:
            assert tti_target is not None
            total = _step_total(rows, tti_target.value)
            total = int(np.clip(total, calibration.min_trips, calibration.max_trips))
        if fit_beta:
            assert speed_target is not None and tti_target is not None and beta is not None
            # the speed this β would give at the target index: β moves only when that misses
            # by more than half the tolerance (the routes' uncongested speed is noisy, and a
            # needless β step confounds the total's secant)
            predicted = light_speed_kph / tti_target.value
            if abs(predicted - speed_target.value) <= speed_target.tolerance / 2:
                continue
            beta = _step_beta(rows, speed_target.value * tti_target.value)
            beta = float(np.clip(beta, calibration.min_beta_per_min, calibration.max_beta_per_min))
    log = pd.DataFrame(rows)
    best = log.loc[log["score"].idxmin()]
    fit = target_table(targets, best.to_dict())
    return TargetFit(
        trips=int(best["trips"]),
        beta_per_min=None if beta is None else float(best["beta_per_min"]),
        log=log,
        fit=fit,
        converged=bool(fit["met"].all()),
    )


def _score(table: pd.DataFrame) -> float:
    """Sum of misses in tolerances (lower is better); NaN counts as a large miss."""
    ratios = (table["miss"].abs() / table["tolerance"]).fillna(1e6)
    return float(ratios.sum())


def _with_beta(spec: DemandSpec, beta: float | None) -> DemandSpec:
    """``spec`` with the gravity deterrence ``beta`` (unchanged when None or not gravity)."""
    gravity = spec.od.gravity
    if beta is None or gravity is None or gravity.beta_per_min == beta:
        return spec
    od = spec.od.model_copy(update={"gravity": gravity.model_copy(update={"beta_per_min": beta})})
    return spec.model_copy(update={"od": od})


def _figure(row: Mapping[str, float | None], key: str) -> float:
    """The figure ``key`` of an evaluation's log row.

    Only ``beta_per_min`` may be None, and never when the deterrence is fitted.
    """
    value = row[key]
    if value is None:
        raise AssertionError(f"the evaluation's {key} is not set")
    return float(value)


def _step_total(rows: Sequence[Mapping[str, float | None]], target: float) -> int:
    """Next total: a secant step, else a damped power-law step.

    The secant is of ``log(index − 1)`` on ``log(total)`` through the last two evaluations at the
    same deterrence, taken when their totals differ and the slope is positive.
    """
    last = rows[-1]
    total, tti = int(_figure(last, "trips")), _figure(last, "congestion_index")
    # only evaluations at the same deterrence: a β step moves the index too
    same_beta = [r for r in rows[:-1] if r["beta_per_min"] == last["beta_per_min"]]
    if same_beta:
        prev = same_beta[-1]
        x0, y0 = math.log(_figure(prev, "trips")), _excess(_figure(prev, "congestion_index"))
        x1, y1 = math.log(total), _excess(tti)
        if x1 != x0 and (y1 - y0) / (x1 - x0) > 0:
            slope = (y1 - y0) / (x1 - x0)
            x = x1 + (_excess(target) - y1) / slope
            # never more than ×2 or ÷2 in one step
            return round(math.exp(min(max(x, x1 - math.log(2.0)), x1 + math.log(2.0))))
    return _next_total(total, tti, target, None, None)


def _step_beta(rows: Sequence[Mapping[str, float | None]], target_light_kph: float) -> float:
    """Next deterrence: a secant step, else a first step of ×1.5 or ÷1.5.

    The secant is of the routes' uncongested speed on ``log β`` through the last two evaluations
    with different β. The first step's direction: longer trips, lower β, use faster roads.
    """
    last = rows[-1]
    beta, speed = _figure(last, "beta_per_min"), _figure(last, "light_speed_kph")
    earlier = [r for r in rows[:-1] if r["beta_per_min"] != beta]
    if earlier:
        prev = earlier[-1]
        x0, y0 = math.log(_figure(prev, "beta_per_min")), _figure(prev, "light_speed_kph")
        x1, y1 = math.log(beta), speed
        if y1 != y0 and (y1 - y0) / (x1 - x0) < 0:
            x = x1 + (target_light_kph - y1) * (x1 - x0) / (y1 - y0)
            return math.exp(min(max(x, x1 - math.log(2.0)), x1 + math.log(2.0)))
    return beta * 1.5 if speed > target_light_kph else beta / 1.5
