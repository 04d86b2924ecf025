"""``simulate``: route choice with equilibration around repeated engine runs."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import networkx as nx
import numpy as np
import pandas as pd

from .._errors import SimulationError
from ..simsettings import SimSettings
from . import engine, lanegroups, movements, netarrays, records, retiming, routing
from .parking import ParkingModel
from .result import SimResult

REQUIRED_COLUMNS = ("trip_id", "origin_node", "destination_node", "departure_s")
#: A warm-started trip takes the final path of the earlier run's trip with the same origin and
#: destination that departed nearest to it, if within this many seconds (else its best path on
#: the earlier run's movement times).
warm_start_reuse_within_s: float = 1800.0
#: A warm start is further along than a cold one: its step sizes continue as if this many
#: iterations had been made (1/(k + 1 + offset)), so the first step does not undo it.
warm_start_step_offset: int = 4


def _node_indices(net: netarrays.NetArrays, nodes: np.ndarray, column: str) -> np.ndarray:
    index = net.node_index
    missing = sorted({int(n) for n in nodes.tolist() if int(n) not in index})
    if missing:
        raise SimulationError(
            f"{len(missing)} trip {column} value(s) are not network nodes, e.g. {missing[:5]}",
            key=column,
            hint="build the trips on the same (patched) network you simulate",
        )
    return np.array([index[int(n)] for n in nodes.tolist()], dtype=np.int64)


def _waiting_movements(moves: movements.Movements, rec: engine.RunRecords) -> np.ndarray:
    """First movement of each trip still waiting to enter its first link at the end, else -1."""
    out = np.full(len(rec.waiting), -1, dtype=np.int64)
    waiting = [v for v in rec.open_heads if rec.waiting[v]]
    if waiting:
        heads = np.array([rec.open_heads[v] for v in waiting], dtype=np.int64).reshape(-1, 2)
        out[waiting] = moves.ids(heads[:, 0], heads[:, 1])
    return out


def _switchers(
    rng: np.random.Generator, step: float, current_s: np.ndarray, best_s: np.ndarray
) -> np.ndarray:
    """Trips that take their best path for the next run: gap-weighted successive averages.

    A share ``step`` of the trips that have a faster path switches, as in the method of
    successive averages, but a trip's chance is proportional to its own relative gain
    ``(current − best) / current``: a trip 30 % slower than its best path switches far more
    often than one 2 % slower, whose "gain" is mostly noise of the binned times. A chance is
    capped at 1, so the expected share is at most ``step``.
    One uniform draw per trip is made whatever happens, so the draws do not depend on the gains.

    Parameters
    ----------
    rng
        The run's generator.
    step
        Expected share of the improvable trips that switch.
    current_s, best_s
        Cost of each trip's current path and of its best path (NaN: not a candidate).

    Returns
    -------
    numpy.ndarray
        Boolean mask of the trips that switch.
    """
    draw = rng.random(len(current_s))
    with np.errstate(invalid="ignore"):
        gain = current_s - best_s
        better = gain > 1e-6 * current_s
    if not better.any():
        return better
    rel = np.where(better, gain / current_s, 0.0)
    return better & (draw < step * rel / rel[better].mean())


def _checked_trips(trips: pd.DataFrame, settings: SimSettings) -> tuple[pd.DataFrame, float]:
    """The trips in departure order and their sample factor, both checked.

    Raises
    ------
    SimulationError
        A required column is missing, or the sample factor is outside (0, 1].
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in trips.columns]
    if missing:
        raise SimulationError(
            f"the trips table lacks column(s) {missing}",
            key="trips",
            hint="build trips with cysim.demand (docs/data-model.md §3)",
        )
    trips = trips.sort_values(["departure_s", "trip_id"], kind="stable").reset_index(drop=True)
    sample_factor = float(trips.attrs.get("sample_factor", settings.sample_factor))
    if not 0 < sample_factor <= 1:
        raise SimulationError(
            f"sample_factor {sample_factor} is outside (0, 1]", key="sample_factor"
        )
    return trips, sample_factor


def _switch_paths(
    rng: np.random.Generator,
    step: float,
    counted: np.ndarray,
    current: np.ndarray,
    best: np.ndarray,
    paths: list[list[int] | None],
    best_paths: list[list[int] | None],
) -> int:
    """Switch the trips :func:`_switchers` draws to their best path (in ``paths``); how many."""
    switch = _switchers(
        rng,
        step,
        np.where(counted, current, np.nan),
        np.where(counted, best, np.nan),
    )
    for i in np.flatnonzero(switch).tolist():
        paths[i] = best_paths[i]
    return int(switch.sum())


def _actuated_greens(net: netarrays.NetArrays, rec: engine.RunRecords) -> pd.DataFrame | None:
    """The greens the actuated controllers gave, by node id; None without actuated junctions."""
    if not rec.actuated_greens:
        return None
    greens = pd.DataFrame(rec.actuated_greens, columns=["node", "phase", "start_s", "end_s"])
    greens["node"] = [net.nodes[i] for i in greens["node"]]
    return greens


def simulate(
    G: nx.MultiDiGraph,
    trips: pd.DataFrame,
    settings: SimSettings,
    *,
    seed: int,
    progress: Callable[[str, float], None] | None = None,
    warm_start: movements.RouteCosts | None = None,
) -> SimResult:
    """Simulate the trips on the network with route choice equilibrated over repeated runs.

    Iteration 1 routes every trip on its free-flow path (or, with ``warm_start``, on the paths
    and movement times of an earlier run on the same network). After each run the time spent on
    each link is averaged per **movement** (link and the next link, or the trip end) and entry bin
    of ``settings.route_choice.time_bin_s``; every trip's current path and its best path (a
    time-dependent search over movements) are costed on those times. The relative gap
    ``Σ(experienced − best) / Σ experienced`` counts every routed trip that departed (a trip still
    under way counts its time until the end, at least its path's cost). Unless the gap is below
    the tolerance or the iteration cap is reached, trips with a faster path switch to it with a
    chance proportional to their relative gain, a share ``1/(k + 1)`` of them in expectation
    (gap-weighted successive averages), and the next run starts. The last run's records are
    returned. docs/model.md §7.

    Parameters
    ----------
    G
        The (patched) network, docs/data-model.md §1.
    trips
        The trips table, docs/data-model.md §3; ``trips.attrs["sample_factor"]`` < 1 scales link
        capacities, saturation flows, storage and lot sizes by the same factor.
    settings
        The scenario's ``simulation:`` section.
    seed
        Seed of the run (route switching); replications use ``seed, seed + 1, …``.
    progress
        Called as ``progress(stage, fraction)`` with fraction in [0, 1] of the whole call.
    warm_start
        The route choice of an earlier run on the same network (``SimResult.route_costs``): a
        trip reuses the final path of that run's trip with the same origin and destination that
        departed nearest (within ``warm_start_reuse_within_s``), else takes its best path on that
        run's movement times; the step sizes continue at ``1/(k + 1 + warm_start_step_offset)``.

    Returns
    -------
    SimResult

    Raises
    ------
    SimulationError
        Missing trip columns, trips on nodes not in the network, or invalid link attributes.
    """
    trips, sample_factor = _checked_trips(trips, settings)
    timed = retiming.Retiming(retiming.webster_nodes(G))
    if timed.nodes:
        G = G.copy()  # plans are re-timed on a copy: the caller's network stays as given
    net = netarrays.build(
        G,
        sample_factor,
        settings.backward_wave_kph,
        priority_junctions=settings.priority_junctions,
    )
    origin = _node_indices(net, trips["origin_node"].to_numpy(), "origin_node")
    destination = _node_indices(net, trips["destination_node"].to_numpy(), "destination_node")
    departure = trips["departure_s"].to_numpy(float)
    dep_list = departure.tolist()
    end_s = settings.duration_s + settings.cooldown_s
    rc = settings.route_choice
    n_bins = max(1, math.ceil(end_s / rc.time_bin_s))
    ff = np.asarray(net.freeflow_s, dtype=float)

    moves = movements.Movements.build(net)
    paths, ff_cost = routing.route_trips(
        moves, origin, destination, np.zeros(len(trips)), moves.from_link_times(ff)[None, :],
        rc.time_bin_s,
    )  # fmt: skip
    routed = np.array([p is not None for p in paths], dtype=bool)
    freeflow_s = np.where(np.isfinite(ff_cost), ff_cost, np.nan)
    n_unrouted = int((~routed).sum())
    if n_unrouted:
        warnings.warn(
            f"{n_unrouted} trip(s) have no path to their destination; status 'unrouted'",
            stacklevel=2,
        )
    rng = np.random.default_rng(seed)
    paths = list(paths)
    times = None
    first_step = 1
    if warm_start is not None and rc.iterations > 1:  # one iteration = free-flow routes only
        times = warm_start.times_for(moves, rc.time_bin_s, n_bins)
        warm_paths, _ = routing.route_trips(
            moves, origin, destination, departure, times, rc.time_bin_s, rc.time_dependent,
            trips=np.flatnonzero(routed),
        )  # fmt: skip
        reused = warm_start.paths_for(origin, destination, departure, warm_start_reuse_within_s)
        paths = [
            r if r is not None and ok else w if w is not None else p
            for r, w, p, ok in zip(reused, warm_paths, paths, routed, strict=True)
        ]
        first_step = 1 + warm_start_step_offset
    rows = []
    rec = None
    parking = None
    best_paths: list[list[int] | None] | None = None  # dropped after each run's switching
    for k in range(1, rc.iterations + 1):

        def report(stage: str, fraction: float, k: int = k) -> None:
            if progress is not None:
                progress(f"simulate (iteration {k}/{rc.iterations})",
                         ((k - 1) + fraction) / rc.iterations)  # fmt: skip

        # drop the previous run before the next one is built: never two runs' records in memory
        rec = parking = None
        parking = (
            ParkingModel(G, net, origin, destination, settings.parking, sample_factor)
            if settings.parking.enabled
            else None
        )
        rec = engine.run(
            net,
            paths,
            dep_list,
            end_s=end_s,
            sample_interval_s=settings.sample_interval_s,
            gridlock_timeout_s=settings.gridlock_timeout_s,
            critical_gap_s=settings.critical_gap_s,
            follow_up_s=settings.follow_up_s,
            sample_factor=sample_factor,
            left_gap_s=settings.permitted_left_critical_gap_s if settings.permitted_left else None,
            left_follow_up_s=settings.permitted_left_follow_up_s,
            left_sneakers=settings.permitted_left_sneakers,
            parking=parking,
            progress=report,
        )
        arrived = ~np.isnan(rec.arrival_s)
        times = movements.movement_times(
            moves, net, rec, departure, _waiting_movements(moves, rec), rc.time_bin_s,
            n_bins, previous=times,
        )  # fmt: skip
        current = movements.path_costs(moves, paths, departure, times, rc.time_bin_s)
        counted = routed & rec.departed
        best_paths, _ = routing.route_trips(
            moves, origin, destination, departure, times, rc.time_bin_s, rc.time_dependent,
            trips=np.flatnonzero(counted),
        )  # fmt: skip
        # the search departs at its bin's start and is exact for FIFO times: cost the path exactly,
        # and never call a path better than the trip's current one unless it is
        best = movements.path_costs(moves, best_paths, departure, times, rc.time_bin_s)
        best = np.where(np.isnan(best), current, np.minimum(best, current))
        spent = np.where(arrived, rec.arrival_s, rec.end_s) - departure
        # the time to the trip's destination: parking search after it is not route choice's; a
        # trip that has not reached it by the end has spent at least the time until then, and
        # its path costs at least what the binned times say
        reached = parking.first_arrival_s if parking is not None else rec.arrival_s
        experienced = np.where(np.isnan(reached), np.maximum(spent, current), reached - departure)
        if parking is not None:
            # guidance, not route choice, chose the paths of guided trips: no gap of their own
            guided = parking.guided_to >= 0
            experienced[guided] = best[guided] = current[guided]
        total_exp = float(experienced[counted].sum())
        gap = float((experienced - best)[counted].sum() / total_exp) if total_exp > 0 else 0.0
        plan_change = plan_change_max = 0.0
        if timed.nodes:
            # also after the last run: its plan change tells whether the plans had settled
            plan_change, plan_change_max, timings, warrants = retiming.retime(
                G, timed, net, moves,
                retiming.movement_flows_vph(moves, net, rec, departure, sample_factor),
                1.0 / k,
                critical_gap_s=settings.permitted_left_critical_gap_s,
                follow_up_s=settings.permitted_left_follow_up_s,
                warrants=retiming.warrant_stage(k),
            )  # fmt: skip
        last = (
            gap < rc.relative_gap_tolerance and plan_change <= retiming.plan_tolerance_s
        ) or k == rc.iterations
        if timed.nodes and not last:
            # the next run uses the plans that fit this run's flows
            retiming.apply(G, timed, timings, warrants)
            net = netarrays.build(
                G, sample_factor, settings.backward_wave_kph,
                priority_junctions=settings.priority_junctions,
            )  # fmt: skip
            moves = movements.Movements.build(net)
        switched = 0
        if not last:
            switched = _switch_paths(
                rng, 1.0 / (k + first_step), counted, current, best, paths, best_paths
            )
        best_paths = None
        rows.append(
            {
                "iteration": k,
                "relative_gap": gap,
                "total_travel_time_s": float(spent[counted].sum()),
                "arrived": int(arrived.sum()),
                "switched": switched,
                "gap_trips": int(counted.sum()),
                "plan_change_s": plan_change,
                "plan_change_max_s": plan_change_max,
            }
        )
        if last:
            break
    if rec is None or times is None:
        # RouteChoiceSettings.iterations >= 1: the loop above runs at least once
        raise SimulationError(
            f"route choice ran no simulation (iterations = {rc.iterations})",
            key="route_choice.iterations",
        )
    route_choice = pd.DataFrame(rows)
    if progress is not None:
        progress("simulate", 1.0)
    # before to_result, which turns the records' vehicle indices into trip ids in place
    lane_groups = lanegroups.lane_group_table(
        G, net, moves, rec, departure, sample_factor, settings.duration_s,
        critical_gap_s=settings.critical_gap_s,
        follow_up_s=settings.follow_up_s,
        left_critical_gap_s=settings.permitted_left_critical_gap_s,
        left_follow_up_s=settings.permitted_left_follow_up_s,
    )  # fmt: skip
    result = records.to_result(
        net, trips, rec, routed, freeflow_s, parking, route_choice, settings, seed, sample_factor
    )
    result.lane_groups = lane_groups
    if timed.nodes:
        result.signal_timing = retiming.timing_table(G, timed)
    result.actuated_greens = _actuated_greens(net, rec)
    result.route_costs = movements.RouteCosts.of_run(
        moves, rc.time_bin_s, times, origin, destination, departure, paths
    )
    return result
