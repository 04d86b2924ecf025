"""Calibrate the demand total so the baseline's travel-time index reaches a target."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from .. import settings
from .._errors import DemandError
from .build import DemandPlan, initial_trips_guess, plan_demand, realise_trips
from .spec import DemandSpec


def calibrate_trips(
    G: nx.MultiDiGraph,
    spec: DemandSpec,
    *,
    seed: int,
    tti_of_trips: Callable[[pd.DataFrame], float],
    base_dir: Path | None = None,
    duration_s: float = settings.duration_s,
    start_time: str = settings.start_time,
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
    """log of the TTI excess over free flow, floored so an empty network stays finite."""
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
