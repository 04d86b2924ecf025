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
from . import engine, netarrays, records, routing
from .parking import ParkingModel
from .result import SimResult

REQUIRED_COLUMNS = ("trip_id", "origin_node", "destination_node", "departure_s")


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


def _first_rows(trav_trip: np.ndarray, n_trips: int) -> np.ndarray:
    """Index of each trip's first traversal row (a large sentinel for trips with none)."""
    first = np.full(n_trips, np.iinfo(np.int64).max, dtype=np.int64)
    step = routing.traversals_per_chunk
    for s in range(0, len(trav_trip), step):
        part = trav_trip[s : s + step]
        np.minimum.at(first, part, np.arange(s, s + len(part)))
    return first


def _profile(
    net: netarrays.NetArrays,
    rec: engine.RunRecords,
    paths: list[list[int] | None],
    departure: np.ndarray,
    time_bin_s: float,
    n_bins: int,
) -> np.ndarray:
    """Binned link times, counting the wait to enter a first link as time on that link.

    A trip's first traversal starts at its departure (the entry wait is caused by that link's
    storage or capacity); trips still waiting at the end count on their first link until the end.
    Traversals are binned in chunks, so no full-length temporaries are made.
    """
    first = _first_rows(rec.trav_trip, len(departure))
    bins = routing.LinkTimeBins(net.n_links, n_bins, time_bin_s, rec.end_s)
    step = routing.traversals_per_chunk
    for s in range(0, len(rec.trav_trip), step):
        trip = rec.trav_trip[s : s + step]
        start = np.array(rec.trav_entry_s[s : s + step], dtype=float)
        is_first = first[trip] == np.arange(s, s + len(trip))
        start[is_first] = departure[trip[is_first]]
        bins.add(rec.trav_link[s : s + step], start, rec.trav_exit_s[s : s + step])
    waiting = np.flatnonzero(rec.waiting)
    links = np.array([paths[i][0] for i in waiting.tolist()], dtype=np.int64)
    bins.add(links, departure[waiting], np.full(len(waiting), np.nan))
    return bins.profile(net.freeflow_s)


def _gap_sample(arrived: np.ndarray, size: int, seed: int, iteration: int) -> np.ndarray:
    """Trips the relative gap is computed on: the arrived ones, or a seeded sample of ``size``.

    The sample has its own generator (seeded by run seed and iteration), so the route-switching
    draws are the same whether or not the gap is sampled.
    """
    if size == 0 or int(arrived.sum()) <= size:
        return arrived
    rng = np.random.default_rng([seed, iteration])
    pick = rng.choice(np.flatnonzero(arrived), size=size, replace=False)
    sample = np.zeros(len(arrived), dtype=bool)
    sample[pick] = True
    return sample


def _switch(
    paths: list[list[int] | None], best_paths: list[list[int] | None], switch: np.ndarray
) -> int:
    """Give the switching trips their best path; the number whose path changed."""
    switched = 0
    for i in np.flatnonzero(switch).tolist():
        best = best_paths[i]
        if best is not None and best != paths[i]:
            paths[i] = best
            switched += 1
    return switched


def simulate(
    G: nx.MultiDiGraph,
    trips: pd.DataFrame,
    settings: SimSettings,
    *,
    seed: int,
    progress: Callable[[str, float], None] | None = None,
) -> SimResult:
    """Simulate the trips on the network with route choice equilibrated over repeated runs.

    Iteration 1 routes every trip on free-flow times. After each run, every trip's best path is
    computed on the link travel times experienced in that run, binned by entry time every
    ``settings.route_choice.time_bin_s`` (a snapshot of the trip's departure bin); the relative gap
    ``Σ(experienced − best) / Σ experienced`` over arrived trips is recorded. Unless the gap is
    below the tolerance or the iteration cap is reached, a seeded share ``1/(k+1)`` of trips switch
    to their best path (method of successive averages) and the next run starts. The last run's
    records are returned.

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

    Returns
    -------
    SimResult

    Raises
    ------
    SimulationError
        Missing trip columns, trips on nodes not in the network, or invalid link attributes.
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

    paths, ff_cost = routing.route_trips(
        net, origin, destination, np.zeros(len(trips)), ff[None, :], rc.time_bin_s
    )
    routed = np.array([p is not None for p in paths], dtype=bool)
    freeflow_s = np.where(np.isfinite(ff_cost), ff_cost, np.nan)
    n_unrouted = int((~routed).sum())
    if n_unrouted:
        warnings.warn(
            f"{n_unrouted} trip(s) have no path to their destination; status 'unrouted'",
            stacklevel=2,
        )
    rng = np.random.default_rng(seed)
    # trips of one (departure bin, origin) share a search: routing one of them makes the rest cheap
    search = routing.departure_bins(departure, rc.time_bin_s, n_bins) * len(net.nodes) + origin
    rows = []
    rec = None
    parking = None
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
        profile = _profile(net, rec, paths, departure, rc.time_bin_s, n_bins)
        arrived = ~np.isnan(rec.arrival_s)
        # drawn at every iteration (unused after the last), so the draws stay those of a run
        # that routes everyone
        switch = (rng.random(len(trips)) < 1.0 / (k + 1)) & routed
        in_gap = _gap_sample(arrived, rc.gap_sample_trips, seed, k)
        # best paths matter only for switchers that will run again; the gap needs costs only
        want = switch if k < rc.iterations else np.zeros(len(trips), dtype=bool)
        with_gap = np.isin(search, np.unique(search[in_gap]))
        best_paths, best_cost = routing.route_trips(
            net, origin, destination, departure, profile, rc.time_bin_s, rc.time_dependent,
            trips=np.flatnonzero(in_gap | (want & with_gap)), need_paths=want,
        )  # fmt: skip
        cruise = parking.cruise_s if parking is not None else np.zeros(len(trips))
        experienced = rec.arrival_s - departure - np.where(arrived, cruise, 0.0)
        total_exp = float(experienced[in_gap].sum())
        gap = float((experienced - best_cost)[in_gap].sum() / total_exp) if total_exp > 0 else 0.0
        spent = np.where(arrived, rec.arrival_s, rec.end_s) - departure
        total_tt = float(spent[routed & rec.departed].sum())
        last = gap < rc.relative_gap_tolerance or k == rc.iterations
        switched = 0
        if not last:
            # the switchers whose searches the gap did not need (skipped when it converged)
            rest = np.flatnonzero(want & ~with_gap)
            rest_paths, _ = routing.route_trips(
                net, origin, destination, departure, profile, rc.time_bin_s, rc.time_dependent,
                trips=rest,
            )  # fmt: skip
            for i in rest.tolist():
                best_paths[i] = rest_paths[i]
            rest_paths = None
            switched = _switch(paths, best_paths, switch)
        best_paths = None
        rows.append(
            {
                "iteration": k,
                "relative_gap": gap,
                "total_travel_time_s": total_tt,
                "arrived": int(arrived.sum()),
                "switched": switched,
                "gap_trips": int(in_gap.sum()),
            }
        )
        if last:
            break
    assert rec is not None
    route_choice = pd.DataFrame(rows)
    if progress is not None:
        progress("simulate", 1.0)
    return records.to_result(
        net, trips, rec, routed, freeflow_s, parking, route_choice, settings, seed, sample_factor
    )
