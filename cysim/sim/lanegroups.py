"""Degree of saturation per junction approach lane group, from one run's flows and plans.

Mid-block v/c says little about a junction: an approach with a minute of delay and a long
queue can show v/c 0.1 against the road's mid-block capacity. What a traffic engineer reads is
each lane group's degree of saturation ``X = v / c`` with ``c = s · N · g/C`` (HCM 6th ed.
ch. 19; 《城市道路交叉口规划规范》 GB 50647 uses the same 饱和度). This module computes it for
every lane group the engine served, with the flows, saturation flows and plans the engine used:

* ``v``: the group's flow in its junction's busiest hour (:func:`retiming.movement_flows_vph`,
  the flow the signal plans are timed on), real vehicles per hour;
* ``s · N``: the group's saturation flow (lanes × per-lane saturation flow of the link);
* ``g/C``: effective green over cycle of the group's phase in the plan in force at the end
  (a protected-then-permitted left adds its road's phase); at an actuated junction the share of
  the demand period its phase was green; 1 at a junction without signals;
* a permitted left turn (no own phase, facing an approach in the same phase) counts in
  through-car equivalents ``E_L`` of the opposing flow
  (:func:`cysim.control.webster.left_turn_equivalent`, the equivalents Webster timing uses): a group
  with a share ``P_L`` of left turners has its capacity divided by ``1 + P_L (E_L − 1)``
  (HCM's left-turn adjustment);
* a movement yielding to a major road at a priority junction has the gap-acceptance capacity
  (:func:`cysim.control.webster.potential_capacity_vps`) against the major flows it conflicts with
  (``NetArrays.minor_conflicts``, the engine's rule); a group of several movements has HCM's
  shared-lane capacity ``Σ v / Σ (v / c)``.

A multi-lane approach without a left pocket has a shared left/through lane that through
vehicles may also take: the two groups are reported as one (their flows and capacities
summed), as HCM treats a de-facto shared lane group.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from ..control import webster
from ..control.signals import LEFT, RIGHT, THROUGH
from . import retiming
from .engine import RunRecords
from .movements import Movements, traversal_movements
from .netarrays import NetArrays

#: Columns of :func:`lane_group_table`, in order.
COLUMNS = [
    "node", "link", "lane_group", "movements", "lanes", "control", "saturation_flow_vph",
    "green_ratio", "capacity_vph", "flow_vph", "degree_of_saturation", "vehicles",
    "control_delay_s",
]  # fmt: skip

_KIND_LETTER = {LEFT: "L", THROUGH: "T", RIGHT: "R"}


def _green_ratios(net: NetArrays, rec: RunRecords, period_s: float) -> dict[tuple[int, int], float]:
    """Effective green ÷ cycle per (node index, phase).

    The ratio of the plan in force, or at an actuated junction the share of the demand period the
    phase was green.
    """
    ratios: dict[tuple[int, int], float] = {}
    for node, plan in enumerate(net.plans):
        if plan is None:
            continue
        cycle, windows = plan
        for phase, (_, green) in enumerate(windows):
            ratios[node, phase] = green / cycle if cycle > 0 else 0.0
    shown: dict[tuple[int, int], float] = {}
    for node, phase, start, end in rec.actuated_greens:
        overlap = min(end, period_s) - max(start, 0.0)
        if overlap > 0:
            shown[node, phase] = shown.get((node, phase), 0.0) + overlap
    for node in net.actuated:
        for key in [k for k in ratios if k[0] == node]:
            ratios[key] = shown.get(key, 0.0) / period_s
    return ratios


def lane_group_table(
    G: nx.MultiDiGraph,
    net: NetArrays,
    moves: Movements,
    rec: RunRecords,
    departure_s: np.ndarray,
    sample_factor: float,
    period_s: float,
    *,
    critical_gap_s: float,
    follow_up_s: float,
    left_critical_gap_s: float,
    left_follow_up_s: float,
) -> pd.DataFrame:
    """Flow, capacity, degree of saturation and control delay of every lane group of a run.

    Parameters
    ----------
    G
        The network with the plans in force during the run (after re-timing).
    net, moves
        The arrays the run used.
    rec
        The run's records.
    departure_s
        Departure time per trip (the trips in the run's order).
    sample_factor
        Share of vehicles simulated: flows and counts are scaled back by its inverse.
    period_s
        Length of the demand period: delays and counts use traversals that entered in it.
    critical_gap_s, follow_up_s
        Gap acceptance of movements yielding to a major road (``simulation.critical_gap_s``…).
    left_critical_gap_s, left_follow_up_s
        Gap acceptance of permitted left turns at signals.

    Returns
    -------
    pandas.DataFrame
        One row per lane group that served vehicles or has a plan (:data:`COLUMNS`): ``node``
        (graph node id), ``link`` (engine link), ``lane_group`` (engine group id, the main
        group of a shared pair), ``movements`` (``"L"``, ``"T+R"``, ``"L+T"``…), ``lanes``,
        ``control`` (``signal``, ``actuated``, ``major``, ``minor``), ``saturation_flow_vph``
        (all its lanes), ``green_ratio``, ``capacity_vph``, ``flow_vph`` (busiest hour),
        ``degree_of_saturation``, ``vehicles`` (entered in the demand period, real vehicles),
        ``control_delay_s`` (mean of time on the link − free-flow time over those of them that
        crossed the junction; NaN when none did).
    """
    flows_vph = retiming.movement_flows_vph(moves, net, rec, departure_s, sample_factor)
    n_groups = len(net.group_link)
    crossing = np.flatnonzero(moves.next_link >= 0)
    group_of_move = np.full(moves.n_movements, -1, dtype=np.int64)
    for m in crossing.tolist():
        group_of_move[m] = net.group_of[int(moves.link[m])][int(moves.next_link[m])]
    # a shared left/through lane is reported with its main group
    owner = np.arange(n_groups)
    for main, alt in enumerate(net.group_alt):
        if alt >= 0:
            owner[alt] = main
    group_flow = np.bincount(
        owner[group_of_move[crossing]], weights=flows_vph[crossing], minlength=n_groups
    )
    link_flow_vph = np.bincount(
        moves.link[crossing], weights=flows_vph[crossing], minlength=len(net.length_m)
    )
    kinds: dict[int, set[int]] = {}
    # flow of each link's through and right movements: what opposes a permitted left facing it
    opposing_flow_vph = np.zeros(len(net.length_m))
    left_flow = np.zeros(n_groups)
    # per minor group: (flow, capacity) of each of its movements, for HCM's shared-lane capacity
    minor_moves: dict[int, list[tuple[float, float]]] = {}
    for m in crossing.tolist():
        link, nxt = int(moves.link[m]), int(moves.next_link[m])
        g = int(owner[group_of_move[m]])
        kind = net.movement_kind[link][nxt]
        kinds.setdefault(g, set()).add(kind)
        if kind != LEFT:
            opposing_flow_vph[link] += flows_vph[m]
        else:
            left_flow[g] += flows_vph[m]
        if net.group_minor[g]:
            conflicting = sum(
                w * link_flow_vph[major] for major, w in net.minor_conflicts[link][nxt]
            )
            gap_vph = 3600.0 * webster.potential_capacity_vps(
                conflicting / 3600.0, critical_gap_s, follow_up_s
            )
            minor_moves.setdefault(g, []).append((float(flows_vph[m]), gap_vph))

    movement, start, _ = traversal_movements(moves, rec, departure_s)
    link_of_trav = moves.link[movement]
    done = ~np.isnan(rec.trav_exit_s)
    used = done & (start >= 0) & (start < period_s) & (moves.next_link[movement] >= 0)
    freeflow = np.asarray(net.freeflow_s, dtype=float)[link_of_trav]
    delay = np.asarray(rec.trav_exit_s, dtype=float) - np.asarray(rec.trav_entry_s, dtype=float)
    delay = delay - freeflow
    trav_group = owner[group_of_move[movement[used]]]
    n_used = np.bincount(trav_group, minlength=n_groups)
    delay_sum = np.bincount(trav_group, weights=delay[used], minlength=n_groups)

    ratios = _green_ratios(net, rec, period_s)
    keys = net.links["key"].to_numpy()

    rows = []
    for g in range(n_groups):
        headway = net.group_headway_s[g]
        if owner[g] != g or headway <= 0 or (group_flow[g] <= 0 and n_used[g] == 0):
            continue
        members = [g] + ([net.group_alt[g]] if net.group_alt[g] >= 0 else [])
        saturation = sum(3600.0 / (net.group_headway_s[h] * sample_factor) for h in members)
        lanes = sum(net.group_lanes[h] for h in members)
        link, node = net.group_link[g], net.group_node[g]
        phase = net.group_phase[g]
        kind_set = kinds.get(g, set())
        if net.plans[node] is not None and phase >= 0:
            control = "actuated" if node in net.actuated else "signal"
            green = ratios.get((node, phase), 0.0)
            if net.group_then_phase[g] >= 0:
                green += ratios.get((node, net.group_then_phase[g]), 0.0)
            capacity = saturation * green
            opposing = net.opposing_link[link]
            if LEFT in kind_set and not net.group_protected[g] and opposing >= 0:
                # HCM's left-turn adjustment of a (shared) lane group: 1 / (1 + P_L (E_L − 1))
                approach = (net.nodes[net.link_u[link]], node_id(net, node), int(keys[link]))
                equivalent = webster.left_turn_equivalent(
                    G,
                    approach,
                    float(opposing_flow_vph[opposing]),
                    left_critical_gap_s,
                    left_follow_up_s,
                )
                left_share = left_flow[g] / group_flow[g] if group_flow[g] > 0 else 1.0
                capacity /= 1.0 + left_share * (equivalent - 1.0)
        elif net.group_minor[g]:
            control, green = "minor", 1.0
            moved = minor_moves.get(g, [])
            volume = sum(v for v, _ in moved)
            if volume > 0:
                # shared lane: Σ v / Σ (v / c) (HCM 6th ed. eq. 20-40)
                gap_vph = volume / sum(v / max(c, 1e-9) for v, c in moved if v > 0)
            else:
                gap_vph = min((c for _, c in moved), default=saturation)
            capacity = min(saturation, gap_vph * lanes)
        else:
            control, green, capacity = "major", 1.0, saturation
        flow = float(group_flow[g])
        rows.append(
            {
                "node": node_id(net, node),
                "link": link,
                "lane_group": g,
                "movements": "+".join(
                    _KIND_LETTER[k] for k in (LEFT, THROUGH, RIGHT) if k in kind_set
                ),
                "lanes": lanes,
                "control": control,
                "saturation_flow_vph": saturation,
                "green_ratio": green,
                "capacity_vph": capacity,
                "flow_vph": flow,
                "degree_of_saturation": flow / capacity if capacity > 0 else np.inf,
                "vehicles": float(n_used[g]) / sample_factor,
                "control_delay_s": delay_sum[g] / n_used[g] if n_used[g] else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def node_id(net: NetArrays, node_index: int) -> int:
    """Graph node id of a node index."""
    return int(net.nodes[node_index])
