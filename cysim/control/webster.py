"""Webster timing per lane group: flow ratios, protected-left warrants, minimum greens, X.

A junction's plan is timed from the hourly flow of each movement (left, through, right per
approach). Lane groups are the engine's (:mod:`cysim.sim.netarrays`): a left pocket is its own
group; without one, left turns share the approach's lanes. A permitted left counts as
``s / c_p`` through vehicles, with ``c_p`` the gap-acceptance saturation flow the engine gives it
against the opposing flow (HCM potential capacity, :func:`potential_capacity_vps`); a
protected left, a through and a right turn count as one (the engine discharges every movement
at the lane saturation flow). docs/model.md §3 documents the rules and their sources.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx

from ..network import turnlanes
from ..simsettings import SimSettings
from . import signals
from .signals import LEFT, RIGHT, THROUGH, Approach

#: Left-turn flow (veh/h) from which a left pocket gets a protected phase (FHWA Traffic Signal
#: Timing Manual, FHWA-HOP-08-024, 2008, §4.3.1: 240 veh/h).
protected_left_flow_vph: float = 240.0
#: Cross-product warrant (left flow × opposing through flow, veh²/h²) by the number of opposing
#: lanes (same manual, §4.3.1: 50,000 / 90,000 / 110,000).
protected_left_cross_product: dict[int, float] = {1: 50_000.0, 2: 90_000.0, 3: 110_000.0}
#: Pedestrian walk interval, seconds (MUTCD 2009 §4E.06: at least 7 s).
pedestrian_walk_s: float = 7.0
#: Pedestrian walking speed for the clearance, m/s (HCM 2000 ch. 16: 1.2 m/s).
pedestrian_speed_mps: float = 1.2
#: Lane width for crossing distances, metres (CJJ 37: 3.25–3.75 m urban lanes).
lane_width_m: float = 3.5
#: Shortest displayed green for vehicles (protected-left phases), seconds.
min_vehicle_green_s: float = 5.0
#: Practical minimum cycle per phase, seconds: a two-phase plan runs at least 50 s, a four-phase
#: one 100 s, so lost time stays at most 16 % of the cycle (4 s of 25 s per phase).
min_cycle_per_phase_s: float = 25.0
#: A junction whose critical degree of saturation X exceeds this gets a warning.
x_warning: float = 0.9

#: Hourly flow per movement kind of each approach: ``{approach: {THROUGH|LEFT|RIGHT: veh/h}}``;
#: the key None holds an approach total whose turning split is unknown (static assignment).
ApproachFlows = Mapping[Approach, Mapping[int | None, float]]


def potential_capacity_vps(flow_vps: float, critical_gap_s: float, follow_up_s: float) -> float:
    """Gap-acceptance capacity (veh/s) of a minor movement against a random major flow.

    HCM potential capacity ``c = q e^{−q t_c} / (1 − e^{−q t_f})`` (Harders); without major
    flow ``1 / t_f``. The engine uses it for permitted left turns and unsignalised minor
    approaches.
    """
    if flow_vps <= 1e-9:
        return 1.0 / follow_up_s
    return flow_vps * math.exp(-flow_vps * critical_gap_s) / -math.expm1(-flow_vps * follow_up_s)


def light_load_signal_delay_s(n_phases: int) -> float:
    """Mean delay at a signal when traffic is light, seconds: Webster's uniform delay at X → 0.

    That is ``C (1 − λ)² / 2`` for the plan Webster gives a junction of ``n_phases`` at negligible
    flow (the shortest cycle, ``max(min_cycle_per_phase_s × n, signals.min_cycle_s)``, with equal
    effective greens ``λ = (C − n · lost time) / (n C)``).

    It is what a driver crossing the junction in uncongested conditions waits on average (8.4 s
    at a two-phase, 19.4 s at a three-phase junction), the part of an observed "free-flow" travel
    time that signals add. 0 for fewer than one phase.
    """
    if n_phases < 1:
        return 0.0
    cycle = min(max(min_cycle_per_phase_s * n_phases, signals.min_cycle_s), signals.max_cycle_s)
    green_ratio = (cycle - n_phases * signals.lost_time_per_phase_s) / (n_phases * cycle)
    if n_phases == 1:
        green_ratio = (cycle - signals.lost_time_per_phase_s) / cycle
    return cycle * (1.0 - green_ratio) ** 2 / 2.0


def webster_cycle_s(total_y: float, total_lost_s: float) -> float:
    """Webster's optimum cycle ``C0 = (1.5 L + 5) / (1 − Y)``, seconds (``Y`` < 1)."""
    return (1.5 * total_lost_s + 5.0) / (1.0 - total_y)


@dataclass
class JunctionTiming:
    """A Webster plan of one junction and the figures behind it.

    Attributes
    ----------
    node
        The junction.
    names
        Phase names (roads served), as in :func:`cysim.control.signals.plan_phases`.
    cycle_s
        Cycle, seconds.
    display_green_s
        Displayed green per phase, seconds.
    flow_ratio
        Critical flow ratio ``y`` per phase (the highest of its lane groups).
    degree_of_saturation
        ``X = y C / g`` per phase.
    critical_x
        The junction's critical degree of saturation ``Y C / (C − L)`` (HCM).
    min_green_s
        Shortest displayed green per phase (pedestrians or vehicles), seconds.
    warnings
        Oversaturation and X warnings.
    """

    node: int
    names: list[str]
    cycle_s: float
    display_green_s: list[float]
    flow_ratio: list[float]
    degree_of_saturation: list[float]
    critical_x: float
    min_green_s: list[float]
    warnings: list[str] = field(default_factory=list)


def _sat(G: nx.MultiDiGraph, e: Approach) -> float:
    return float(G.edges[e].get("saturation_flow_vphpl", 1800.0) or 1800.0)


def left_turn_equivalent(
    G: nx.MultiDiGraph,
    approach: Approach,
    opposing_vph: float,
    critical_gap_s: float,
    follow_up_s: float,
) -> float:
    """Through-car equivalents of a permitted left turn: lane saturation flow / gap capacity."""
    gap = potential_capacity_vps(opposing_vph / 3600.0, critical_gap_s, follow_up_s) * 3600.0
    return max(1.0, _sat(G, approach) / gap)


def left_turn_warrants(G: nx.MultiDiGraph, node: int, flows: ApproachFlows) -> dict[Approach, str]:
    """Approaches of a junction whose exclusive left lanes warrant a protected phase, and why.

    Warrants (FHWA Traffic Signal Timing Manual 2008, §4.3.1): two or more left-turn lanes;
    left-turn flow of at least ``protected_left_flow_vph``; or left flow × opposing through
    flow of at least ``protected_left_cross_product`` for the number of opposing lanes.
    Approaches without an exclusive left lane (pocket, marked or default,
    :func:`cysim.network.turnlanes.exclusive_left_lanes`) keep permitted lefts (a shared lane cannot
    hold the left turns while through traffic moves), and so do lefts nothing opposes.
    """
    reasons: dict[Approach, str] = {}
    for group in signals.phase_groups(G, node):
        for e in group:
            pocket = turnlanes.exclusive_left_lanes(G, e)
            opp = signals.facing_approach(G, e, group)
            if pocket == 0 or opp is None:
                continue  # no pocket to hold the lefts, or nothing opposes them
            left = float(flows.get(e, {}).get(LEFT, 0.0))
            opp_through = float(flows.get(opp, {}).get(THROUGH, 0.0))
            opp_lanes = max(int(G.edges[opp]["lanes"]), 1)
            product = left * opp_through
            threshold = protected_left_cross_product[min(opp_lanes, 3)]
            if pocket >= 2:
                reasons[e] = f"{pocket} left-turn lanes"
            elif left >= protected_left_flow_vph:
                reasons[e] = f"left flow {left:.0f} ≥ {protected_left_flow_vph:.0f} veh/h"
            elif product >= threshold:
                reasons[e] = (
                    f"left × opposing through {product:,.0f} ≥ {threshold:,.0f} "
                    f"({opp_lanes} opposing lane{'s' if opp_lanes > 1 else ''})"
                )
    return reasons


def crossing_width_m(G: nx.MultiDiGraph, approach: Approach) -> float:
    """Kerb-to-kerb width a pedestrian crosses over an approach road at its junction, metres.

    The approach's lanes and pockets plus the lanes of the opposite direction of the same road
    (the edge leaving the junction back to the approach's upstream node), at ``lane_width_m``.
    """
    u, v, _ = approach
    data = G.edges[approach]
    lanes = int(data["lanes"]) + int(data.get("pocket_left", 0) or 0)
    lanes += int(data.get("pocket_right", 0) or 0)
    back = G.get_edge_data(v, u) or {}
    lanes += max((int(d["lanes"]) for d in back.values()), default=0)
    return lanes * lane_width_m


def pedestrian_min_green_s(G: nx.MultiDiGraph, plan: signals.SignalPlan, phase: int) -> float:
    """Shortest displayed green of a phase that lets pedestrians cross, seconds.

    Pedestrians walk beside the phase's traffic across the roads of the other phases: walk
    ``pedestrian_walk_s`` plus the widest such crossing at ``pedestrian_speed_mps``, minus the
    amber and all-red in which they may still finish crossing (MUTCD 2009 §4E.06). A protected
    left phase has no pedestrian movement.
    """
    if not plan.phases[phase]:
        return min_vehicle_green_s
    others = [e for i, group in enumerate(plan.phases) if i != phase for e in group]
    if not others:
        return min_vehicle_green_s
    width = max(crossing_width_m(G, e) for e in others)
    clearance = width / pedestrian_speed_mps - plan.amber_s - plan.all_red_s
    return max(min_vehicle_green_s, pedestrian_walk_s + clearance)


def phase_flow_ratios(
    G: nx.MultiDiGraph,
    plan: signals.SignalPlan,
    flows: ApproachFlows,
    critical_gap_s: float,
    follow_up_s: float,
) -> list[float]:
    """Critical flow ratio ``y`` of each phase.

    That is the highest ``flow / saturation flow`` of the lane groups the phase serves, permitted
    lefts in through-car equivalents.
    """
    ratios = [0.0] * len(plan.phases)
    for p, group in enumerate(plan.phases):
        for e in group:
            data = G.edges[e]
            s = _sat(G, e)
            f = flows.get(e, {})
            left, through, right = (float(f.get(k, 0.0)) for k in (LEFT, THROUGH, RIGHT))
            lanes = int(data["lanes"])
            pocket_l = int(data.get("pocket_left", 0) or 0)
            pocket_r = int(data.get("pocket_right", 0) or 0)
            if None in f:  # approach total, turning split unknown: one group over every lane
                ratios[p] = max(ratios[p], float(f[None]) / ((lanes + pocket_l + pocket_r) * s))
                continue
            # the lane groups the engine queues (cysim.network.turnlanes): pockets, marked or
            # default
            # exclusive lanes, or a shared left/through lane
            use = turnlanes.approach_lane_use(G, e)
            if e in plan.protected_left:
                # a protected-then-permitted left's phase is sized as if protected only: what
                # it turns in gaps during its road's phase is spare capacity
                lp = plan.protected_left[e]
                ratios[lp] = max(ratios[lp], left / ((pocket_l or use.left_lanes) * s))
                left_eq = 0.0
            else:
                opp = signals.facing_approach(G, e, group)
                opp_flow = (
                    sum(v for k, v in flows.get(opp, {}).items() if k != LEFT) if opp else 0.0
                )
                left_eq = left * left_turn_equivalent(G, e, opp_flow, critical_gap_s, follow_up_s)
            right_lanes = pocket_r or use.right_lanes
            main = through + (0.0 if right_lanes else right)
            main_lanes = use.through_lanes + (use.left_lanes if use.left_shared else 0)
            if pocket_l and e not in plan.protected_left:
                ratios[p] = max(ratios[p], left_eq / (pocket_l * s))
            elif use.left_lanes and not use.left_shared:
                ratios[p] = max(ratios[p], left_eq / (use.left_lanes * s))
            elif not pocket_l:
                main += left_eq
                if use.left_shared and through + right > 0:
                    # the engine keeps left turners in the leftmost lane (shared with through)
                    ratios[p] = max(ratios[p], left_eq / (use.left_lanes * s))
            if right_lanes:
                ratios[p] = max(ratios[p], right / (right_lanes * s))
            ratios[p] = max(ratios[p], main / (main_lanes * s))
    return ratios


def webster_timing(
    G: nx.MultiDiGraph,
    node: int,
    flows: ApproachFlows,
    *,
    critical_gap_s: float | None = None,
    follow_up_s: float | None = None,
) -> JunctionTiming:
    """Webster's plan for a junction's current phases from its movement flows.

    ``C0 = (1.5 L + 5) / (1 − Y)`` with ``L`` the plan's lost time and ``Y`` the sum of critical
    lane-group flow ratios, clamped to [``min_cycle_per_phase_s`` × phases,
    ``signals.max_cycle_s``]; effective greens in proportion to ``y``; every phase at least its
    pedestrian (or vehicle) minimum green, the cycle lengthened when the minima need it.

    Parameters
    ----------
    G
        The network, with the junction's phase structure (protected lefts) already set.
    node
        The junction.
    flows
        Hourly flow per movement kind of each approach.
    critical_gap_s, follow_up_s
        Gap acceptance of permitted left turns (default: the engine's defaults,
        ``simulation.permitted_left_critical_gap_s`` and ``…_follow_up_s``).

    Returns
    -------
    JunctionTiming
    """
    defaults = SimSettings.model_fields
    if critical_gap_s is None:
        critical_gap_s = float(defaults["permitted_left_critical_gap_s"].default)
    if follow_up_s is None:
        follow_up_s = float(defaults["permitted_left_follow_up_s"].default)
    # the junction's phases and clearances; greens of a plan in force do not matter (and may
    # belong to another phase structure)
    phases, protected, names = signals.plan_phases(G, node)
    n = len(phases)
    amber, all_red, lost_per_phase = signals.clearances(G, node)
    plan = signals.SignalPlan(
        cycle_s=0.0, offset_s=0.0, green_s=[0.0] * n, lost_time_s=[lost_per_phase] * n,
        amber_s=amber, all_red_s=all_red, phases=phases, protected_left=protected, names=names,
    )  # fmt: skip
    change = plan.amber_s + plan.all_red_s
    lost = plan.lost_time_s
    total_lost = sum(lost)
    ratios = phase_flow_ratios(G, plan, flows, critical_gap_s, follow_up_s)
    total_y = sum(ratios)
    warnings: list[str] = []
    floor = min(max(min_cycle_per_phase_s * n, signals.min_cycle_s), signals.max_cycle_s)
    if total_y >= 0.95:
        warnings.append(
            f"critical flow ratios sum to {total_y:.2f}: oversaturated, cycle capped at "
            f"{signals.max_cycle_s:g} s"
        )
        cycle = signals.max_cycle_s
    else:
        cycle = min(max(webster_cycle_s(total_y, total_lost), floor), signals.max_cycle_s)
    # minimum displayed greens → minimum effective greens
    min_shown = [pedestrian_min_green_s(G, plan, p) for p in range(n)]
    min_eff = [m + change - lost_p for m, lost_p in zip(min_shown, lost, strict=True)]
    cycle = min(max(cycle, total_lost + sum(min_eff)), signals.max_cycle_s)
    if total_lost + sum(min_eff) > signals.max_cycle_s:
        warnings.append(
            f"minimum greens ({', '.join(f'{m:.0f}' for m in min_shown)} s) and lost time do not "
            f"fit in the {signals.max_cycle_s:g} s maximum cycle: minimum greens scaled down"
        )
    # phases held at their minimum green leave the others less than Webster's share: where that
    # pushes a phase past X = x_warning (or Webster's own X, if higher), lengthen the cycle
    webster_x = total_y * cycle / (cycle - total_lost) if cycle > total_lost else 1.0
    cycle = _cycle_for_x(cycle, total_lost, ratios, min_eff, min(max(webster_x, x_warning), 1.0))
    greens = proportional_greens(cycle - total_lost, ratios, min_eff)
    available = cycle - total_lost
    shown = [g - change + lost_p for g, lost_p in zip(greens, lost, strict=True)]
    x = [y * cycle / g if g > 0 else math.inf for y, g in zip(ratios, greens, strict=True)]
    critical_x = total_y * cycle / available if available > 0 else math.inf
    worst = max(range(n), key=lambda i: x[i]) if n else 0
    if n and x[worst] > x_warning + 1e-6:
        warnings.append(
            f"degree of saturation X = {x[worst]:.2f} > {x_warning:g} on phase {plan.names[worst]}"
        )
    return JunctionTiming(
        node=node,
        names=list(plan.names),
        cycle_s=cycle,
        display_green_s=shown,
        flow_ratio=ratios,
        degree_of_saturation=x,
        critical_x=critical_x,
        min_green_s=min_shown,
        warnings=warnings,
    )


def _cycle_for_x(
    cycle: float, total_lost: float, ratios: list[float], minima: list[float], target_x: float
) -> float:
    """The shortest cycle (≥ ``cycle``, ≤ the maximum) that gives every phase enough green.

    Enough is at least ``y C / target_x`` of effective green or the phase's minimum:
    ``C = (L + Σ_min) / (1 − Σ_free y / X)``, ``min`` over the phases held at their minimum,
    ``free`` over the others.
    """
    for _ in range(len(ratios) + 1):
        need = [max(m, y * cycle / target_x) for y, m in zip(ratios, minima, strict=True)]
        if sum(need) <= cycle - total_lost + 1e-9:
            return cycle
        at_min = [m >= y * cycle / target_x for y, m in zip(ratios, minima, strict=True)]
        free_y = sum(y for y, fixed in zip(ratios, at_min, strict=True) if not fixed)
        fixed_green = sum(m for m, fixed in zip(minima, at_min, strict=True) if fixed)
        if free_y >= target_x:
            return signals.max_cycle_s
        cycle = (total_lost + fixed_green) / (1.0 - free_y / target_x)
        if cycle >= signals.max_cycle_s:
            return signals.max_cycle_s
    return min(cycle, signals.max_cycle_s)


def proportional_greens(available: float, weights: list[float], minima: list[float]) -> list[float]:
    """Share ``available`` in proportion to ``weights``, every share at least its minimum.

    This is Webster's ``g_i = (C − L) y_i / Y``. Phases below their minimum are fixed at it and
    the rest is shared again among the others; if the minima alone exceed ``available`` they are
    scaled down to fit.
    """
    n = len(weights)
    if sum(minima) >= available:
        return [available * m / sum(minima) for m in minima]
    fixed = [False] * n
    while True:
        free = [i for i in range(n) if not fixed[i]]
        rest = available - sum(minima[i] for i in range(n) if fixed[i])
        total = sum(weights[i] for i in free)
        shares = {i: rest * weights[i] / total if total > 0 else rest / len(free) for i in free}
        short = [i for i in free if shares[i] < minima[i] - 1e-9]
        if not short:
            return [minima[i] if fixed[i] else shares[i] for i in range(n)]
        for i in short:
            fixed[i] = True


def apply_timing(G: nx.MultiDiGraph, timing: JunctionTiming) -> None:
    """Set a junction's plan to a Webster timing (displayed greens; the cycle follows)."""
    data = G.nodes[timing.node]
    data.pop("signal_splits", None)
    data["signal_greens_s"] = json.dumps([round(g, 2) for g in timing.display_green_s])
    data["signal_cycle_s"] = round(timing.cycle_s, 2)


def describe_timing(timing: JunctionTiming) -> str:
    """One line: cycle, each phase's green and X, the junction's critical X."""
    phases = ", ".join(
        f"{name} {green:.0f} s (y {y:.2f}, X {x:.2f})"
        for name, green, y, x in zip(
            timing.names,
            timing.display_green_s,
            timing.flow_ratio,
            timing.degree_of_saturation,
            strict=True,
        )
    )
    return (
        f"junction {timing.node}: Webster cycle {timing.cycle_s:.0f} s; {phases}; "
        f"critical X {timing.critical_x:.2f}"
    )
