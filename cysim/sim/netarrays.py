"""The network as integer-indexed arrays for the engine: links, movements, lane groups."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from .. import settings
from .._errors import SimulationError
from ..control import actuated, signals, webster
from ..control.signals import LEFT, RIGHT, THROUGH, turn_kind
from ..network import turnlanes, turns

__all__ = ["LEFT", "RIGHT", "THROUGH", "NetArrays", "build", "turn_kind"]

#: Road-class rank for priority at unsignalised junctions (higher = major road).
class_rank: dict[str, int] = {
    "motorway": 7,
    "trunk": 6,
    "motorway_link": 5,
    "trunk_link": 5,
    "primary": 5,
    "primary_link": 4,
    "secondary": 4,
    "secondary_link": 3,
    "tertiary": 3,
    "tertiary_link": 2,
    "unclassified": 1,
    "residential": 1,
    "living_street": 0,
    "service": 0,
}


@dataclass
class NetArrays:
    """Integer-indexed network for the event loop (plain lists for fast scalar access).

    Attributes
    ----------
    nodes
        Graph node id per node index.
    node_index
        Graph node id → node index.
    link_u, link_v
        Node index at each end of each link.
    links
        The links frame of :class:`~cysim.sim.result.SimResult` (one row per link index).
    length_m, freeflow_s
        Per link.
    storage_cap
        Vehicles a link holds (scaled by the sample factor, at least 1).
    inflow_headway_s
        ``3600 / (capacity_vph × sample_factor)``: mid-block capacity limit on link entries.
    wave_delay_s
        ``length / backward wave speed``: freed space reappears upstream after this (0 = at once).
    out_links
        Outgoing link indices per node index.
    group_of
        Per link, ``{next link: lane group}``; ``-1`` key is the exit to a trip end.
    movement_kind
        Per link, ``{next link: THROUGH | LEFT | RIGHT}``.
    group_link, group_headway_s, group_node, group_phase, group_minor, group_lanes
        Per lane group: its link, discharge headway ``3600 / (s × lanes × f)``, junction node index,
        signal phase (-1 = unsignalised), whether it yields to a major road, lanes.
    group_protected
        Per lane group: a protected left-turn pocket (its own phase, no gap acceptance).
    group_then_phase
        Per lane group: for a protected-then-permitted left pocket, the phase after its own
        (its road's) through which its green runs on, turning in gaps; else -1.
    opposing_link
        Per link: the approach facing it in the same signal phase (its flow opposes permitted
        left turns), or -1.
    group_alt
        Per lane group: the shared left/through lane group its vehicles may choose instead
        (multi-lane approaches without a left pocket), or -1.
    group_pockets, group_pocket_cap
        Per lane group: the turn-pocket groups beside it (main groups only), and a pocket's
        storage in vehicles ``lanes × pocket_length / jam spacing × f`` (0 = not a pocket).
    plans
        Per node index: ``(cycle_s, [(start_s, green_s), ...])`` for signalised nodes, else None.
    actuated
        Node index → controller settings of each actuated junction (its ``plans`` entry is the
        fixed plan it replaces, used only for the opposing-flow window).
    node_major_rank
        Per node index: the highest road-class rank among its approaches.
    minor_conflicts
        Per link that yields at a priority junction: ``{next link: [(major link, weight), …]}``,
        the major approaches whose discharge a vehicle making that movement must find a gap in
        (HCM two-way stop control): a right turn merges into the major stream heading onto its
        exit, in that stream's nearest lane (weight ``1 / lanes``); a through or left movement
        crosses every major approach (weight 1). Empty for other links.
    node_xy
        Projected ``x, y`` per node index, m (straight-line bounds of route search); NaN where a
        node has no coordinates.
    """

    nodes: list[int]
    node_index: dict[int, int]
    link_u: list[int]
    link_v: list[int]
    links: pd.DataFrame
    length_m: list[float]
    freeflow_s: list[float]
    storage_cap: list[int]
    inflow_headway_s: list[float]
    wave_delay_s: list[float]
    out_links: list[list[int]]
    group_of: list[dict[int, int]]
    movement_kind: list[dict[int, int]]
    group_link: list[int]
    group_headway_s: list[float]
    group_node: list[int]
    group_phase: list[int]
    group_minor: list[bool]
    group_lanes: list[int]
    group_protected: list[bool]
    group_then_phase: list[int]
    opposing_link: list[int]
    group_alt: list[int]
    group_pockets: list[list[int]]
    group_pocket_cap: list[int]
    plans: list[tuple[float, list[tuple[float, float]]] | None]
    actuated: dict[int, actuated.ActuatedPlan]
    node_xy: np.ndarray
    minor_conflicts: list[dict[int, list[tuple[int, float]]]] = field(default_factory=list)

    @property
    def n_links(self) -> int:
        """Number of links."""
        return len(self.link_u)


def _edge_number(data: dict, key: str, u: int, v: int, k: int) -> float:
    try:
        value = float(data[key])
    except (KeyError, TypeError, ValueError) as exc:
        raise SimulationError(
            f"edge ({u}, {v}, {k}) has no valid {key!r}",
            key=key,
            hint="load the map with cysim.load_network, which sets every link attribute",
        ) from exc
    if not math.isfinite(value) or (value <= 0 and key != "pocket_length_m"):
        raise SimulationError(
            f"edge ({u}, {v}, {k}) has {key}={value}",
            key=key,
            hint="link lengths, lanes, speeds, capacities and storage must be positive",
        )
    return value


def _link_wave_kph(data: dict, default_kph: float, u: int, v: int, k: int) -> float:
    """A link's backward-wave speed: its own ``backward_wave_kph`` attribute, else the default.

    A per-link value keeps a converted network's fundamental diagram: with storage ``κ L`` and
    free-flow speed ``u`` a link then passes ``κ u w / (u + w)`` at most, its source's capacity.
    """
    if data.get("backward_wave_kph") in (None, ""):
        return float(default_kph)
    return _edge_number(data, "backward_wave_kph", u, v, k)


def build(
    G: nx.MultiDiGraph,
    sample_factor: float,
    backward_wave_kph: float,
    *,
    priority_junctions: bool = True,
) -> NetArrays:
    """Turn the graph into :class:`NetArrays`.

    Parameters
    ----------
    G
        Network with the attributes of docs/data-model.md §1.
    sample_factor
        Share of vehicles simulated; capacities, saturation flows and storage are scaled by it.
    backward_wave_kph
        Jam-wave speed of links without a ``backward_wave_kph`` attribute of their own; 0 makes
        freed space usable at once.
    priority_junctions
        Approaches of a lower road class than the highest one at an unsignalised junction are
        minor (they yield); False makes no approach minor (first come, first served).

    Returns
    -------
    NetArrays

    Raises
    ------
    SimulationError
        The graph is empty or a link lacks a valid attribute.
    """
    if G.number_of_edges() == 0:
        raise SimulationError("the network has no links", hint="check the map and the patches")
    f = float(sample_factor)
    nodes = sorted(G.nodes)
    node_index = {n: i for i, n in enumerate(nodes)}
    edges = sorted(G.edges(keys=True))
    link_of = {e: i for i, e in enumerate(edges)}
    rows = []
    length_m, freeflow_s, storage_cap, inflow_h, wave = [], [], [], [], []
    for u, v, k in edges:
        d = G.edges[u, v, k]
        length = _edge_number(d, "length_m", u, v, k)
        speed = _edge_number(d, "speed_kph", u, v, k)
        cap = _edge_number(d, "capacity_vph", u, v, k)
        storage = _edge_number(d, "storage_veh", u, v, k)
        lanes = int(_edge_number(d, "lanes", u, v, k))
        ff = length / (speed / 3.6)
        length_m.append(length)
        freeflow_s.append(ff)
        storage_cap.append(max(1, round(storage * f)))
        inflow_h.append(3600.0 / (cap * f))
        link_wave_kph = _link_wave_kph(d, backward_wave_kph, u, v, k)
        wave.append(length / (link_wave_kph / 3.6) if link_wave_kph > 0 else 0.0)
        rows.append(
            (u, v, k, length, lanes, speed, cap, storage, ff, str(d.get("name", "") or ""),
             str(d.get("highway", "") or ""))
        )  # fmt: skip
    links = pd.DataFrame(
        rows,
        columns=["u", "v", "key", "length_m", "lanes", "speed_kph", "capacity_vph",
                 "storage_veh", "freeflow_s", "name", "highway"],
    )  # fmt: skip
    links.index.name = "link"
    links.insert(0, "link", np.arange(len(edges), dtype=np.int64))
    # what a vehicle crossing the link's end junction waits there in light traffic (0 without
    # a signal): the part of an observed "free-flow" time that signals add
    light_delay = {
        n: webster.light_load_signal_delay_s(len(signals.phase_groups(G, n)))
        for n in {v for _, v, _ in edges}
        if G.nodes[n].get("signal") and G.in_degree(n) > 0
    }
    links["light_load_delay_s"] = [light_delay.get(v, 0.0) for _, v, _ in edges]

    out_links: list[list[int]] = [[] for _ in nodes]
    for i, (u, _v, _k) in enumerate(edges):
        out_links[node_index[u]].append(i)

    node_rank = [
        max(
            (
                class_rank.get(str(G.edges[e].get("highway", "")), 1)
                for e in G.in_edges(n, keys=True)
            ),
            default=0,
        )
        for n in nodes
    ]
    plans, actuated_of, phase_of_link, left_phase_of_link, permitted_after, opposing = (
        _junction_signals(G, nodes, link_of)
    )

    group_of: list[dict[int, int]] = []
    movement_kind: list[dict[int, int]] = []
    g_link: list[int] = []
    g_h: list[float] = []
    g_node: list[int] = []
    g_phase: list[int] = []
    g_minor: list[bool] = []
    g_lanes: list[int] = []
    g_protected: list[bool] = []
    g_then: list[int] = []

    pocket_cap: dict[int, int] = {}
    group_alt: dict[int, int] = {}
    pockets_of: dict[int, list[int]] = {}
    jam_spacing_m = settings.jam_spacing_m

    def new_group(
        link: int,
        lanes: int,
        sat: float,
        node: int,
        phase: int,
        minor: bool,
        protected: bool = False,
        then_phase: int = -1,
    ) -> int:
        pockets_of[len(g_link)] = []
        g_protected.append(protected)
        g_then.append(then_phase)
        g_link.append(link)
        g_h.append(3600.0 / (sat * lanes * f) if sat > 0 else 0.0)
        g_node.append(node)
        g_phase.append(phase)
        g_minor.append(minor)
        g_lanes.append(lanes)
        return len(g_link) - 1

    is_minor: list[bool] = []
    link_v_index = [node_index[v] for _, v, _ in edges]
    # each edge's bearings once (not per movement): turn kinds as turns.turn_kind gives them
    approach_arr, departure_arr = turns.edge_bearings(G, edges)
    approach_deg, departure_deg = approach_arr.tolist(), departure_arr.tolist()
    lane_mode = turnlanes.lane_group_mode(G)
    lane_rule: list[str] = []
    for i, (u, v, k) in enumerate(edges):
        d = G.edges[u, v, k]
        vi = node_index[v]
        sat = float(d.get("saturation_flow_vphpl", 1800.0) or 1800.0)
        phase = phase_of_link.get(i, -1) if plans[vi] is not None else -1
        rank = class_rank.get(str(d.get("highway", "")), 1)
        minor = priority_junctions and plans[vi] is None and rank < node_rank[vi]
        kinds: dict[int, int] = {}
        for j in out_links[vi]:
            kinds[j] = turns.turn_kind_of_change(
                departure_deg[j] - approach_deg[i], turns.is_u_turn((u, v, k), edges[j])
            )
        movement_kind.append(kinds)
        groups: dict[int, int] = {-1: new_group(i, 1, 0.0, vi, -1, False)}  # exit to a trip end
        pocket_left = int(d.get("pocket_left", 0) or 0)
        pocket_right = int(d.get("pocket_right", 0) or 0)
        pocket_m = float(d.get("pocket_length_m", 0.0) or 0.0)
        use = turnlanes.lane_use(
            d,
            [kind for j, kind in kinds.items() if not turns.is_u_turn((u, v, k), edges[j])],
            signalised=plans[vi] is not None,
            mode=lane_mode,
        )
        lane_rule.append(use.rule)
        main = new_group(i, use.through_lanes, sat, vi, phase, minor)
        if use.left_lanes and use.left_shared:
            # left-turners keep to the leftmost lanes, which through vehicles may also take
            # (shared left/through lane, HCM style)
            left = new_group(i, use.left_lanes, sat, vi, phase, minor)
            group_alt[main] = left
        elif use.left_lanes or pocket_left:
            # exclusive left lanes, a patch's pocket or marked ones (the pocket's storage apart)
            left_phase = left_phase_of_link.get(i, -1) if plans[vi] is not None else -1
            left = new_group(
                i, pocket_left or use.left_lanes, sat, vi,
                phase if left_phase < 0 else left_phase, minor,
                protected=left_phase >= 0 and i not in permitted_after,
                then_phase=phase if i in permitted_after else -1,
            )  # fmt: skip
        else:
            left = main
        # a right pocket, else marked exclusive right lanes (lane_use gives none beside a pocket)
        right_lanes = pocket_right or use.right_lanes
        right = new_group(i, right_lanes, sat, vi, phase, minor) if right_lanes else main
        for pocket, pocket_lanes in ((left, pocket_left), (right, pocket_right)):
            if pocket != main and pocket_lanes > 0:
                pocket_cap[pocket] = max(1, round(pocket_lanes * pocket_m / jam_spacing_m * f))
                pockets_of[main].append(pocket)
        for j, kind in kinds.items():
            groups[j] = left if kind == LEFT else right if kind == RIGHT else main
        group_of.append(groups)
        is_minor.append(minor)

    minor_conflicts = _minor_conflicts(G, edges, out_links, link_v_index, is_minor, movement_kind)
    links["lane_rule"] = lane_rule

    return NetArrays(
        nodes=nodes,
        node_index=node_index,
        link_u=[node_index[u] for u, _, _ in edges],
        link_v=[node_index[v] for _, v, _ in edges],
        links=links.reset_index(drop=True),
        length_m=length_m,
        freeflow_s=freeflow_s,
        storage_cap=storage_cap,
        inflow_headway_s=inflow_h,
        wave_delay_s=wave,
        out_links=out_links,
        group_of=group_of,
        movement_kind=movement_kind,
        group_link=g_link,
        group_headway_s=g_h,
        group_node=g_node,
        group_phase=g_phase,
        group_minor=g_minor,
        group_lanes=g_lanes,
        group_protected=g_protected,
        group_then_phase=g_then,
        opposing_link=opposing,
        group_alt=[group_alt.get(g, -1) for g in range(len(g_link))],
        group_pockets=[pockets_of[g] for g in range(len(g_link))],
        group_pocket_cap=[pocket_cap.get(g, 0) for g in range(len(g_link))],
        plans=plans,
        actuated=actuated_of,
        minor_conflicts=minor_conflicts,
        node_xy=np.array(
            [(G.nodes[n].get("x", np.nan), G.nodes[n].get("y", np.nan)) for n in nodes],
            dtype=float,
        ).reshape(-1, 2),
    )


def _junction_signals(
    G: nx.MultiDiGraph, nodes: list[int], link_of: dict[tuple[int, int, int], int]
) -> tuple[
    list[tuple[float, list[tuple[float, float]]] | None],
    dict[int, actuated.ActuatedPlan],
    dict[int, int],
    dict[int, int],
    set[int],
    list[int],
]:
    """The signal plans of the junctions and what they give each approach link.

    Returns
    -------
    (plans, actuated, phase_of_link, left_phase_of_link, permitted_after, opposing)
        Per node index, ``(cycle, green windows)`` of a signalised junction with approaches (else
        None); the actuated controllers per node index; per link index, the phase of its
        approach and of its protected left; the links whose protected lefts then filter through
        gaps; and per link the opposing approach of its permitted lefts (-1 for none).
    """
    plans: list[tuple[float, list[tuple[float, float]]] | None] = [None] * len(nodes)
    actuated_of: dict[int, actuated.ActuatedPlan] = {}
    phase_of_link: dict[int, int] = {}
    left_phase_of_link: dict[int, int] = {}
    permitted_after: set[int] = set()  # links whose protected lefts then filter through gaps
    opposing = [-1] * len(link_of)
    for ni, n in enumerate(nodes):
        if bool(G.nodes[n].get("signal", False)) and G.in_degree(n) > 0:
            plan = signals.plan_for_node(G, n)
            plans[ni] = (plan.cycle_s, plan.green_windows())
            control = actuated.actuated_plan(G, n)
            if control is not None:
                actuated_of[ni] = control
            for e, p in plan.protected_left.items():
                left_phase_of_link[link_of[e]] = p
                # (actuated junctions run protected-then-permitted lefts as protected)
                if control is None and signals.is_protected_permitted(G, e):
                    permitted_after.add(link_of[e])
            for p, approaches in enumerate(plan.phases):
                for e in approaches:
                    phase_of_link[link_of[e]] = p
                    facing = signals.facing_approach(G, e, approaches)
                    if facing is not None:
                        opposing[link_of[e]] = link_of[facing]
    return plans, actuated_of, phase_of_link, left_phase_of_link, permitted_after, opposing


def _minor_conflicts(
    G: nx.MultiDiGraph,
    edges: list[tuple[int, int, int]],
    out_links: list[list[int]],
    link_v: list[int],
    is_minor: list[bool],
    movement_kind: list[dict[int, int]],
) -> list[dict[int, list[tuple[int, float]]]]:
    """Per minor link and movement, the major approaches it must find a gap in.

    See :attr:`NetArrays.minor_conflicts`.
    """
    incoming: dict[int, list[int]] = {}
    for i, node in enumerate(link_v):
        incoming.setdefault(node, []).append(i)
    conflicts: list[dict[int, list[tuple[int, float]]]] = [{} for _ in edges]
    for i, minor in enumerate(is_minor):
        if not minor:
            continue
        majors = [m for m in incoming[link_v[i]] if not is_minor[m] and m != i]
        for j in out_links[link_v[i]]:
            if movement_kind[i][j] == RIGHT:
                conflicts[i][j] = [
                    (m, 1.0 / max(1, int(G.edges[edges[m]]["lanes"])))
                    for m in majors
                    if movement_kind[m].get(j) == THROUGH
                ]
            else:
                conflicts[i][j] = [(m, 1.0) for m in majors]
    return conflicts
