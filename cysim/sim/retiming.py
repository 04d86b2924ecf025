"""Signal plans re-timed inside route choice: Webster on the simulated turn flows.

A junction whose ``signal_timing`` patch asks for ``optimize: webster`` starts from the plan
of the static assignment (:mod:`cysim.patch.apply`). After every route-choice run its movement
flows are counted in its busiest hour, averaged over the runs with the route-choice step, and
the junction is re-timed (:func:`cysim.control.webster.webster_timing`); in runs 3 to 6 a left
pocket
whose averaged flows meet the warrant gets a protected phase (never taken back; the first runs'
free-flow routes do not decide it, and after run 6 the phase structure is fixed so the greens
can settle). Route
choice stops only when its gap is below the tolerance *and* at 90 % of the junctions no cycle
or green moved by more than ``plan_tolerance_s``: the plans fit the flows they produce
(docs/model.md §3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from ..control import signals, webster
from ..control.signals import Approach
from .engine import RunRecords
from .movements import Movements, traversal_movements
from .netarrays import NetArrays

#: Flows for timing are counted in each junction's busiest window of this length, seconds.
timing_window_s: float = 3600.0
#: Bins in which the busiest window is searched, seconds.
timing_bin_s: float = 900.0
#: Plans have stopped changing when no cycle or displayed green moves by more than this, s:
#: one saturation headway (less than a vehicle per lane and cycle; timing sheets are in whole
#: seconds, and the busiest-hour flows of a sampled run are noisy at that level).
plan_tolerance_s: float = 2.0
#: Share of the re-timed junctions whose plans must have settled (moved by at most
#: ``plan_tolerance_s``): the largest move of all is noise-driven on a large map.
plan_quantile: float = 0.9
#: Left-turn warrants are checked in these route-choice runs (the first runs' flows come from
#: free-flow routes; after the last, the phase structure is fixed so the greens can settle).
first_warrant_run: int = 3
last_warrant_run: int = 6

#: veh/h per movement kind (THROUGH, LEFT, RIGHT) of one approach, keyed as in
#: :data:`cysim.control.webster.ApproachFlows` (whose key None, an approach total of unknown
#: split, the simulated flows never use).
KindFlows = dict[int | None, float]


def warrant_stage(run: int) -> str:
    """What :func:`retime` does with left-turn warrants after route-choice run ``run``.

    ``"early"`` (before ``first_warrant_run``), ``"check"``, or ``"closed"`` (after
    ``last_warrant_run``).
    """
    if run < first_warrant_run:
        return "early"
    return "check" if run <= last_warrant_run else "closed"


def webster_nodes(G: nx.MultiDiGraph) -> list[int]:
    """Signalised junctions marked for Webster timing at run time (``signal_optimize``)."""
    return sorted(
        n
        for n, d in G.nodes(data=True)
        if d.get("signal") and d.get("signal_optimize") == "webster"
    )


@dataclass
class Retiming:
    """The state of re-timing across route-choice runs.

    Attributes
    ----------
    nodes
        Junctions re-timed.
    flows
        Per junction, the averaged hourly flow per approach and movement kind.
    timings
        The last timing applied per junction.
    warrants
        Approaches given a protected left phase, with the warrant that chose it.
    rounds
        Re-timings applied.
    """

    nodes: list[int]
    flows: dict[int, dict[Approach, KindFlows]] = field(default_factory=dict)
    timings: dict[int, webster.JunctionTiming] = field(default_factory=dict)
    warrants: dict[Approach, str] = field(default_factory=dict)
    rounds: int = 0


def movement_flows_vph(
    moves: Movements,
    net: NetArrays,
    rec: RunRecords,
    departure_s: np.ndarray,
    sample_factor: float,
) -> np.ndarray:
    """Hourly flow of every movement in its junction's busiest hour (real vehicles).

    A vehicle counts when it enters the approach link (its arrival at the back of the queue,
    so a queue that does not clear still counts as demand); the busiest ``timing_window_s`` of
    each junction is found on ``timing_bin_s`` bins.

    Returns
    -------
    numpy.ndarray
        veh/h per movement id.
    """
    movement, start, _ = traversal_movements(moves, rec, departure_s)
    keep = moves.next_link[movement] >= 0
    movement, start = movement[keep], start[keep]
    node = moves.link_v[moves.link[movement]]
    n_bins = max(1, int(np.ceil((rec.end_s + 1.0) / timing_bin_s)))
    bins = np.clip((start // timing_bin_s).astype(np.int64), 0, n_bins - 1)
    per_node_bin = np.zeros((len(net.nodes), n_bins))
    np.add.at(per_node_bin, (node, bins), 1.0)
    width = max(1, min(n_bins, round(timing_window_s / timing_bin_s)))
    cumulative = np.concatenate([np.zeros((len(net.nodes), 1)), per_node_bin.cumsum(axis=1)], 1)
    window = cumulative[:, width:] - cumulative[:, :-width]
    first = window.argmax(axis=1)
    inside = (bins >= first[node]) & (bins < first[node] + width)
    counts = np.bincount(movement[inside], minlength=moves.n_movements).astype(float)
    hours = width * timing_bin_s / 3600.0
    return counts / sample_factor / hours


def approach_flows(
    net: NetArrays, moves: Movements, flows_vph: np.ndarray, nodes: list[int]
) -> dict[int, dict[Approach, KindFlows]]:
    """Flow per movement kind of each approach of the junctions ``nodes`` (graph node ids).

    One pass over the movements, whatever the number of junctions.
    """
    wanted = {net.node_index[n]: n for n in nodes}
    out: dict[int, dict[Approach, KindFlows]] = {n: {} for n in nodes}
    link_u, link_v = net.link_u, net.link_v
    keys = net.links["key"].to_numpy()
    at = np.flatnonzero(
        np.isin(moves.link_v[moves.link], list(wanted)) & (moves.next_link >= 0)
    ).tolist()
    for m in at:
        link, nxt = int(moves.link[m]), int(moves.next_link[m])
        edge = (net.nodes[link_u[link]], net.nodes[link_v[link]], int(keys[link]))
        flows = out[wanted[link_v[link]]].setdefault(edge, {})
        kind = net.movement_kind[link][nxt]
        flows[kind] = flows.get(kind, 0.0) + float(flows_vph[m])
    return out


def retime(
    G: nx.MultiDiGraph,
    state: Retiming,
    net: NetArrays,
    moves: Movements,
    flows_vph: np.ndarray,
    step: float,
    *,
    critical_gap_s: float,
    follow_up_s: float,
    warrants: str = "check",
) -> tuple[float, float, dict[int, webster.JunctionTiming], dict[Approach, str]]:
    """New plans for the re-timed junctions from one run's movement flows.

    The flows are averaged into ``state.flows`` with weight ``step``; warrants and Webster
    timings are computed on the averages. ``warrants``: ``"check"`` gives warranted left
    pockets a protected phase, ``"early"`` only reports a met warrant as an unsettled plan
    (change inf), ``"closed"`` ignores warrants. Nothing is applied to ``G``: see :func:`apply`.

    Returns
    -------
    (change_s, max_change_s, timings, new_warrants)
        Per junction the largest move of its cycle or a displayed green against the plan in
        force (inf when its phases change): their ``plan_quantile`` quantile and their maximum;
        the new timings; the approaches newly warranted a protected left.
    """
    moves_s: list[float] = []  # per junction, the largest move of its cycle or a green
    timings: dict[int, webster.JunctionTiming] = {}
    new_warrants: dict[Approach, str] = {}
    observed_at = approach_flows(net, moves, flows_vph, state.nodes)
    for node in state.nodes:
        observed = observed_at[node]
        averaged = state.flows.setdefault(node, {})
        for edge in set(observed) | set(averaged):
            old, new = averaged.setdefault(edge, {}), observed.get(edge, {})
            for kind in set(old) | set(new):
                before = old.get(kind, 0.0)
                old[kind] = before + step * (new.get(kind, 0.0) - before)
        met = {
            e: why
            for e, why in webster.left_turn_warrants(G, node, averaged).items()
            if not G.edges[e].get("left_turn")
        }
        chosen = met if warrants == "check" else {}
        # time the new phase structure, then put the approaches back: G is changed by apply()
        for e in chosen:
            G.edges[e]["left_turn"] = "protected"
        try:
            timing = webster.webster_timing(
                G, node, averaged, critical_gap_s=critical_gap_s, follow_up_s=follow_up_s
            )
        finally:
            for e in chosen:
                del G.edges[e]["left_turn"]
        new_warrants.update(chosen)
        timings[node] = timing
        if chosen or (met and warrants == "early"):
            # a new phase, or one met before warrants are decided: not settled
            moves_s.append(math.inf)
            continue
        plan = signals.plan_for_node(G, node)
        moved = [abs(timing.cycle_s - plan.cycle_s)] + [
            abs(a - b) for a, b in zip(timing.display_green_s, plan.display_green_s, strict=True)
        ]
        moves_s.append(max(moved))
    if not moves_s:
        return 0.0, 0.0, timings, new_warrants
    settled_share = float(np.quantile(moves_s, plan_quantile, method="higher"))
    return settled_share, max(moves_s), timings, new_warrants


def apply(
    G: nx.MultiDiGraph,
    state: Retiming,
    timings: dict[int, webster.JunctionTiming],
    warrants: dict[Approach, str],
) -> None:
    """Put new warrants and timings in force on ``G`` and record them in ``state``."""
    for e, why in warrants.items():
        G.edges[e]["left_turn"] = "protected"
        state.warrants[e] = why
    for timing in timings.values():
        webster.apply_timing(G, timing)
    state.timings.update(timings)
    state.rounds += 1


def timing_table(G: nx.MultiDiGraph, state: Retiming) -> pd.DataFrame:
    """One row per phase of each re-timed junction: the plan in force and its figures."""
    rows = []
    for node in state.nodes:
        plan = signals.plan_for_node(G, node)
        timing = state.timings.get(node)
        for p, name in enumerate(plan.names):
            lefts = [e for e, phase in plan.protected_left.items() if phase == p]
            rows.append(
                {
                    "junction": node,
                    "phase": p + 1,
                    "roads": name,
                    "cycle_s": plan.cycle_s,
                    "green_s": plan.display_green_s[p],
                    "flow_ratio": timing.flow_ratio[p] if timing else np.nan,
                    "degree_of_saturation": timing.degree_of_saturation[p] if timing else np.nan,
                    "critical_x": timing.critical_x if timing else np.nan,
                    "warrant": "; ".join(
                        state.warrants.get(e, "set by the scenario") for e in lefts
                    ),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "junction", "phase", "roads", "cycle_s", "green_s", "flow_ratio",
            "degree_of_saturation", "critical_x", "warrant",
        ],
    )  # fmt: skip
