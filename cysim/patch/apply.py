"""Scenario patches: one pure function per patch type, each giving a new graph and a change log."""

from __future__ import annotations

import difflib
import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
from shapely.geometry import LineString, Point
from shapely.ops import substring

from .._errors import CysimError, PatchError, SimulationError
from ..control import actuated, signals, webster
from ..network import build as network
from ..network import locate, roadclass, turnlanes
from ..network.locate import EdgeKey
from . import changes as patchreport
from .changes import PatchChange, PatchReport, describe, locate_error

# The demand patch works on the trips table; it lives in its own module, re-exported here.
from .demand import apply_demand_patches, demand_shift
from .models import (
    AddParking,
    Channelize,
    CloseRoad,
    DemandShift,
    OpenRoad,
    Patch,
    RemoveOnStreetParking,
    RoadSelection,
    SetSpeed,
    SignalTiming,
    WidenRoad,
)


def _edge_text(edge: EdgeKey) -> str:
    return patchreport.format_value(edge)


# --- applying ------------------------------------------------------------------------------


@dataclass
class _Context:
    """State shared by the patches of one application (one working copy of the graph)."""

    G: nx.MultiDiGraph
    report: PatchReport
    index: int = 0
    patch_type: str = ""
    road_class_overrides: dict[str, roadclass.RoadClass] | None = None
    baseline_link_flows: dict[EdgeKey, float] | None = None
    defer_webster: bool = False
    #: Road names closed whole by a close_road patch: its index and the names' name:en.
    closed: dict[str, tuple[int, list[str]]] = field(default_factory=dict)


def apply_patches(
    G: nx.MultiDiGraph,
    patches: Sequence[Patch],
    *,
    baseline_link_flows: dict[EdgeKey, float] | None = None,
    scenario_file: str | Path | None = None,
    road_class_overrides: dict[str, dict[str, float]] | None = None,
    defer_webster: bool = False,
) -> tuple[nx.MultiDiGraph, PatchReport]:
    """Apply the graph patches of a scenario in order.

    ``demand_shift`` patches are not graph changes: they are listed with a note and applied to
    the trips by :func:`apply_demand_patches`.

    Parameters
    ----------
    G
        The network (never modified).
    patches
        Patch models, e.g. ``Scenario.patches``.
    baseline_link_flows
        Hourly flow per edge of the baseline, for ``signal_timing`` with ``optimize: webster``.
    scenario_file
        Used in error messages for patches built in Python (loaded patches know their file).
    road_class_overrides
        The scenario's ``network.road_classes``, used when capacities are recomputed.
    defer_webster
        Without flows, leave Webster plans to run time (noted in the report) instead of
        raising; ``cysim validate`` uses this when it cannot compute flows itself.

    Returns
    -------
    (G2, PatchReport)

    Raises
    ------
    PatchError
        On the first patch that cannot be applied; the message names file, line and key.
    """
    # Attribute values are immutable (numbers, strings, shapely geometries) and patches replace
    # them rather than mutate them, so one copy of the attribute dicts isolates the input.
    working = G.copy()
    context = _Context(
        G=working,
        report=PatchReport(),
        road_class_overrides=roadclass.road_class_table(road_class_overrides),
        # Copied: links split by open_road inherit their parent's flow in this copy.
        baseline_link_flows=dict(baseline_link_flows) if baseline_link_flows is not None else None,
        defer_webster=defer_webster,
    )
    for index, patch in enumerate(patches):
        context.index = index
        context.patch_type = patch.type
        context.report.headers[index] = describe(patch)
        apply_one = _GRAPH_PATCHES.get(type(patch))
        if apply_one is None:
            raise PatchError(f"unknown patch model {type(patch).__name__}")
        try:
            apply_one(context, patch)
        except CysimError as error:
            raise locate_error(error, patch, index, scenario_file) from None
    return working, context.report


def _road_of(G: nx.MultiDiGraph, element: EdgeKey) -> str:
    return ";".join(locate.edge_names(G.edges[element]))


def _record(
    ctx: _Context, element: Any, attribute: str, before: Any, after: Any, *, kind: str, road: str
) -> None:
    ctx.report.add(
        PatchChange(ctx.index, _current_type(ctx), element, road, attribute, before, after, kind)
    )


def _current_type(ctx: _Context) -> str:
    return ctx.patch_type


def _set_node(ctx: _Context, node: int, attribute: str, value: Any) -> None:
    before = ctx.G.nodes[node].get(attribute)
    if before != value:
        ctx.G.nodes[node][attribute] = value
        road = "/".join(locate.roads_at_node(ctx.G, node))
        _record(ctx, node, attribute, before, value, kind="node", road=road)


def _link_attributes(
    ctx: _Context,
    highway: str,
    lanes: int,
    length_m: float,
    speed_kph: float,
    curb_parking: bool,
    pocket_left: int = 0,
    pocket_right: int = 0,
    pocket_length_m: float = 0.0,
) -> dict[str, float]:
    """Capacity, saturation flow and storage from the one formula in :mod:`cysim.network.build`."""
    return network.link_attributes(
        highway,
        lanes,
        length_m,
        speed_kph,
        curb_parking,
        pocket_left,
        pocket_right,
        pocket_length_m,
        overrides=ctx.road_class_overrides,
    )


def _derived(ctx: _Context, data: dict[str, Any]) -> dict[str, float]:
    """Capacity, saturation flow and storage of an edge's attribute dict."""
    return _link_attributes(
        ctx,
        data["highway"],
        int(data["lanes"]),
        float(data["length_m"]),
        float(data["speed_kph"]),
        bool(data.get("curb_parking", False)),
        int(data.get("pocket_left", 0) or 0),
        int(data.get("pocket_right", 0) or 0),
        float(data.get("pocket_length_m", 0.0) or 0.0),
    )


def _update_edge(ctx: _Context, edge: EdgeKey, changes: dict[str, Any]) -> None:
    """Set attributes of an edge, recompute capacity/saturation/storage, log what changed."""
    data = ctx.G.edges[edge]
    new = {**data, **changes}
    derived = _derived(ctx, new)
    new.update(derived)
    explicit = {_DEFAULT_TOKENS.get(name, name) for name in changes}
    tokens = [t for t in str(data.get("defaults_applied", "") or "").split(",") if t]
    if any(t in explicit for t in tokens):
        new["defaults_applied"] = ",".join(t for t in tokens if t not in explicit)
    road = _road_of(ctx.G, edge)
    for attribute in [*changes, *derived, "defaults_applied"]:
        if attribute in new and data.get(attribute) != new[attribute]:
            _record(
                ctx, edge, attribute, data.get(attribute), new[attribute], kind="edge", road=road
            )
            data[attribute] = new[attribute]


#: Names used in ``defaults_applied`` for attributes a patch may set explicitly.
_DEFAULT_TOKENS = {"speed_kph": "speed", "lanes": "lanes", "highway": "highway"}


# --- road selections -----------------------------------------------------------------------


def _select_road(ctx: _Context, patch: RoadSelection) -> list[EdgeKey]:
    """Edges of the patch's road (or stretch, or one direction of it)."""
    try:
        if patch.between is None:
            return locate.find_road_edges(ctx.G, patch.road, key="road")
        edges, path = locate.road_stretch(
            ctx.G,
            patch.road,
            patch.between[0],
            patch.between[1],
            snap_m=patch.snap_m,
            key="between",
            road_key="road",
        )
    except PatchError as error:
        raise _conflict_or(ctx, patch.road, error) from None
    if patch.direction == "both":
        return edges
    forward = set(itertools.pairwise(path))
    wanted = forward if patch.direction == "forward" else {(v, u) for u, v in forward}
    chosen = [e for e in edges if (e[0], e[1]) in wanted]
    if not chosen:
        raise PatchError(
            f"'{patch.road}' carries no traffic {patch.direction} along the stretch (one-way road)",
            key="direction",
        )
    return chosen


def _conflict_or(ctx: _Context, road: str, error: PatchError) -> PatchError:
    """Explain a lookup failure caused by an earlier close_road patch (conflicting patches)."""
    closer = next(
        (
            index
            for name, (index, english) in ctx.closed.items()
            if locate.match_tier(road, name, english) is not None
        ),
        None,
    )
    if closer is None:
        return error
    return PatchError(
        f"road '{road}' was closed by an earlier patch ({ctx.report.headers.get(closer, closer)}), "
        f"so this {_current_type(ctx)} cannot apply to it",
        key=error.key,
        hint="remove one of the two conflicting patches or reorder them",
    )


# --- one function per patch type (in-place on the working copy) ----------------------------


def _open_road(ctx: _Context, patch: OpenRoad) -> None:
    G = ctx.G
    if patch.highway not in roadclass.ROAD_CLASSES:
        close = difflib.get_close_matches(patch.highway, list(roadclass.ROAD_CLASSES), n=3)
        raise PatchError(
            f"unknown road class '{patch.highway}'",
            key="highway",
            hint=f"did you mean {', '.join(close)}?" if close else "see cysim.network.roadclass",
        )
    u, v = (_open_road_end(ctx, patch, place, key) for key, place in _ends(patch))
    if u == v:
        raise PatchError(
            f"both ends snap to the same junction (node {u})",
            key="to",
            hint="put the two ends farther apart or lower snap_m",
        )
    points = [(G.nodes[u]["x"], G.nodes[u]["y"])]
    for index, (lon, lat) in enumerate(patch.via):
        points.append(locate.check_point(G, lon, lat, margin_m=1000.0, key=f"via[{index}]"))
    points.append((G.nodes[v]["x"], G.nodes[v]["y"]))
    line = LineString(points)
    directions = [(u, v, line)] if patch.oneway else [(u, v, line), (v, u, line.reverse())]
    for a, b, geometry in directions:
        if G.has_edge(a, b):
            ctx.report.warnings.append(
                f"{describe(patch)}: junctions {a} and {b} were already linked; a parallel link "
                "was added"
            )
        key = G.new_edge_key(a, b)
        length = float(geometry.length)
        derived = _link_attributes(
            ctx, patch.highway, patch.lanes_per_direction, length, float(patch.speed_kph), False
        )
        G.add_edge(
            a,
            b,
            key,
            length_m=length,
            lanes=patch.lanes_per_direction,
            speed_kph=float(patch.speed_kph),
            highway=patch.highway,
            name=patch.name,
            name_en="",
            osmid="",
            oneway=patch.oneway,
            curb_parking=False,
            pocket_left=0,
            pocket_right=0,
            pocket_length_m=0.0,
            turn_lanes="",
            defaults_applied="",
            geometry=geometry,
            **derived,
        )
        summary = (
            f"{patch.highway}, {patch.lanes_per_direction} lane(s), {patch.speed_kph:g} km/h, "
            f"{length:.0f} m, {derived['capacity_vph']:.0f} veh/h"
        )
        _record(ctx, (a, b, key), "edge", None, summary, kind="edge", road=patch.name)
    for node in (u, v):
        _set_node(ctx, node, "street_count", int(G.nodes[node].get("street_count", 0) or 0) + 1)
    _check_signal_plans(ctx, (u, v))


def _ends(patch: OpenRoad) -> list[tuple[str, Sequence]]:
    return [("from", patch.from_), ("to", patch.to)]


def _open_road_end(ctx: _Context, patch: OpenRoad, place: Sequence, key: str) -> int:
    """The junction at one end of a new road; with ``split_edges``, maybe a new mid-block one."""
    try:
        return locate.locate_junction(ctx.G, place, snap_m=patch.snap_m, key=key)
    except PatchError:
        if not (patch.split_edges and locate.is_lonlat(place)):
            raise
    x, y = locate.check_point(ctx.G, place[0], place[1], margin_m=patch.snap_m, key=key)
    edge, _ = locate.nearest_edge(ctx.G, x, y, max_m=patch.snap_m, key=key)
    return _split_edge(ctx, edge, x, y)


def _split_edge(ctx: _Context, edge: EdgeKey, x: float, y: float) -> int:
    """Split an edge and its opposite-direction twin at the point nearest (x, y).

    The new junction is unsignalised. Both pieces copy the edge's attributes; lengths are shared in
    proportion to the geometry; turn pockets stay on the downstream piece.
    """
    G = ctx.G
    u, v, _ = edge
    line = locate.edge_geometry(G, *edge)
    at = line.project(Point(x, y))
    if at < 1.0 or at > line.length - 1.0:  # at an end already: use that junction
        return u if at < 1.0 else v
    node = max(G.nodes) + 1
    point = line.interpolate(at)
    lon, lat = locate.to_lonlat(G, point.x, point.y)
    G.add_node(
        node, x=point.x, y=point.y, lon=lon, lat=lat, signal=False, junction_id=node,
        street_count=2, signal_cycle_s=0.0, signal_offset_s=0.0, signal_splits="",
        parking_spaces=0, parking_guidance=False,
    )  # fmt: skip
    _record(ctx, node, "node", None, "added (split)", kind="node", road=_road_of(G, edge))
    names = locate.edge_names(G.edges[edge])
    twins = [(v, u, k) for k in G[v].get(u, {}) if locate.edge_names(G.edges[v, u, k]) == names]
    for a, b, k in [edge, *twins[:1]]:
        geometry = locate.edge_geometry(G, a, b, k)
        cut = geometry.project(point)
        data = dict(G.edges[a, b, k])
        _record(ctx, (a, b, k), "edge", "present", None, kind="edge", road=_road_of(G, (a, b, k)))
        G.remove_edge(a, b, k)
        # the stop-line layout (pockets, marked turn lanes) stays with the piece that ends there
        upstream = {"pocket_left": 0, "pocket_right": 0, "pocket_length_m": 0.0, "turn_lanes": ""}
        pieces = [
            (a, node, substring(geometry, 0, cut), upstream),
            (node, b, substring(geometry, cut, geometry.length), {}),
        ]
        for start, end, piece, overrides in pieces:
            share = piece.length / geometry.length
            attrs = {**data, **overrides, "geometry": piece, "length_m": data["length_m"] * share}
            attrs.update(_derived(ctx, attrs))
            new_key = G.new_edge_key(start, end)
            G.add_edge(start, end, new_key, **attrs)
            flows = ctx.baseline_link_flows
            if flows is not None and (a, b, k) in flows:
                flows[(start, end, new_key)] = flows[(a, b, k)]
            _record(ctx, (start, end, new_key), "edge", None, "added (split)", kind="edge",
                    road=_road_of(G, (start, end, new_key)))  # fmt: skip
    return node


def _close_road(ctx: _Context, patch: CloseRoad) -> None:
    G = ctx.G
    edges = _select_road(ctx, patch)
    if patch.between is None:
        english = locate.english_names(G)
        for name in locate.matching_road_names(G, patch.road):
            ctx.closed[name] = (ctx.index, english.get(name, []))
    main_before = max(nx.strongly_connected_components(G), key=len)
    touched = {n for u, v, _ in edges for n in (u, v)}
    removed_roads = {n: locate.roads_at_node(G, n) for n in touched}
    for edge in edges:
        _record(ctx, edge, "edge", "present", None, kind="edge", road=_road_of(G, edge))
    G.remove_edges_from(edges)
    main_after = max(nx.strongly_connected_components(G), key=len) if len(G) else set()
    lost = sorted(set(main_before) - set(main_after))
    if lost:
        roads = sorted(
            {r for n in lost for r in [*locate.roads_at_node(G, n), *removed_roads.get(n, [])]}
        )
        message = (
            f"closing '{patch.road}' cuts {len(lost)} junction{'s' if len(lost) != 1 else ''} "
            f"off the rest of the network (nodes {', '.join(map(str, lost[:8]))}"
            f"{', …' if len(lost) > 8 else ''}; roads losing access: {', '.join(roads) or 'none'})"
        )
        if not patch.allow_disconnect:
            raise PatchError(
                message,
                key="road",
                hint="close a shorter stretch, open a detour first, or set allow_disconnect: true",
            )
        ctx.report.warnings.append(f"{describe(patch)}: {message}")
    for node in sorted(touched):
        if G.degree(node) == 0:
            # Kept as an isolated junction: trips drawn on the baseline that start or end here
            # are then reported as unrouted (with counts) instead of failing the engine.
            _record(ctx, node, "node", "present", "isolated", kind="node", road="")
    _check_signal_plans(ctx, [n for n in touched if n in G])


def _widen_road(ctx: _Context, patch: WidenRoad) -> None:
    edges = _select_road(ctx, patch)
    if patch.lanes_per_direction is not None:
        _refuse_fewer_lanes(ctx, patch, edges, patch.lanes_per_direction)
    for edge in edges:
        data = ctx.G.edges[edge]
        lanes = patch.lanes_per_direction or int(data["lanes"]) + int(patch.add_lanes or 0)
        changes: dict[str, Any] = {"lanes": lanes}
        if patch.highway is not None:
            changes["highway"] = patch.highway
        if patch.speed_kph is not None:
            changes["speed_kph"] = float(patch.speed_kph)
        _update_edge(ctx, edge, changes)


def _refuse_fewer_lanes(ctx: _Context, patch: WidenRoad, edges: list[EdgeKey], lanes: int) -> None:
    """A widening never removes lanes: refuse ``lanes_per_direction`` below what a link has.

    No patch type narrows a road: lanes come from the map's OSM ``lanes`` tags.
    """
    wider = [e for e in edges if int(ctx.G.edges[e]["lanes"]) > lanes]
    if not wider:
        return
    most = max(int(ctx.G.edges[e]["lanes"]) for e in wider)
    where = "" if len(wider) == len(edges) else f" on {len(wider)} of its {len(edges)} links"
    raise PatchError(
        f"'{patch.road}' already has up to {most} lanes per direction{where}; "
        f"widen_road to {lanes} would remove lanes, and widen_road only adds them",
        key="lanes_per_direction",
        hint=f"to widen, give lanes_per_direction of at least {most}, or add_lanes: 1 (each "
        "link gains a lane), or limit the patch with between:; no patch type narrows a road "
        "(to model fewer lanes, edit the lanes=… tag of the road in a copy of the map, or use "
        "close_road with between: for a stretch that closes)",
    )


def _set_speed(ctx: _Context, patch: SetSpeed) -> None:
    for edge in _select_road(ctx, patch):
        _update_edge(ctx, edge, {"speed_kph": float(patch.speed_kph)})


def _channelize(ctx: _Context, patch: Channelize) -> None:
    G = ctx.G
    node = _junction(ctx, patch.junction, patch.near, patch.snap_m, "junction")
    approaches = sorted((u, v, k) for u, v, k in G.in_edges(node, keys=True) if u != node)
    if patch.approach != "all":
        names = [patch.approach] if isinstance(patch.approach, str) else patch.approach
        wanted: set[EdgeKey] = set()
        for name in names:
            try:
                wanted |= set(locate.find_road_edges(G, name, key="approach"))
            except PatchError as error:
                raise _conflict_or(ctx, name, error) from None
        approaches = [e for e in approaches if e in wanted]
        if not approaches:
            raise PatchError(
                f"no approach of junction {node} belongs to {', '.join(names)}",
                key="approach",
                hint=f"roads at this junction: {', '.join(locate.roads_at_node(G, node))}",
            )
    for edge in approaches:
        data = G.edges[edge]
        pocket = float(patch.pocket_length_m)
        if pocket > 0.9 * float(data["length_m"]):
            pocket = round(0.9 * float(data["length_m"]), 1)
            ctx.report.warnings.append(
                f"{describe(patch)}: approach {_edge_text(edge)} is {data['length_m']:.0f} m long; "
                f"pocket shortened to {pocket:g} m"
            )
        changes = {
            "pocket_left": int(data.get("pocket_left", 0) or 0) + patch.add_turn_lanes.left,
            "pocket_right": int(data.get("pocket_right", 0) or 0) + patch.add_turn_lanes.right,
            "pocket_length_m": pocket,
        }
        _update_edge(ctx, edge, changes)


def _junction(
    ctx: _Context, place: Sequence, near: Sequence[float] | None, snap_m: float, key: str
) -> int:
    try:
        return locate.locate_junction(ctx.G, place, near=near, snap_m=snap_m, key=key)
    except PatchError as error:
        if locate.is_lonlat(place):
            raise
        for road in place:
            conflict = _conflict_or(ctx, str(road), error)
            if conflict is not error:
                raise conflict from None
        raise


def _signal_timing(ctx: _Context, patch: SignalTiming) -> None:
    G = ctx.G
    if patch.all_signals:
        nodes = sorted(n for n, signal in G.nodes(data="signal") if signal)
        if not nodes:
            raise PatchError("the network has no signal-controlled junctions", key="all_signals")
        keys = ["all_signals"] * len(nodes)
    else:
        places = [patch.junction] if patch.junction is not None else list(patch.junctions or [])
        keys = (
            ["junction"]
            if patch.junction is not None
            else [f"junctions[{i}]" for i in range(len(places))]
        )
        nodes = [
            _junction(ctx, p, patch.near, patch.snap_m, k)
            for p, k in zip(places, keys, strict=True)
        ]
    for node, key in zip(nodes, keys, strict=True):
        if not G.nodes[node].get("signal", False):
            if not patch.install:
                raise PatchError(
                    f"junction {node} ({'/'.join(locate.roads_at_node(G, node))}) has no signal",
                    key=key,
                    hint="add 'install: true' to make it signal-controlled",
                )
            _set_node(ctx, node, "signal", True)
        _time_one_signal(ctx, patch, node, key)


#: Shortest amber a plan may have, seconds (MUTCD 2009 §4D.26: 3–6 s; GB 14886-2016: 3 s).
min_amber_s: float = 3.0
#: The attributes of an explicit plan's greens, cleared before new greens are set (amber,
#: all-red and lost time are set on their own).
_PLAN_ATTRIBUTES = signals.PLAN_ATTRIBUTES
#: The attributes of vehicle-actuated control.
_CONTROL_ATTRIBUTES = (
    "signal_control", "signal_min_green_s", "signal_max_green_s", "signal_passage_s",
    "signal_detector_m",
)  # fmt: skip


def _time_one_signal(ctx: _Context, patch: SignalTiming, node: int, key: str) -> None:
    G = ctx.G
    before = signals.plan_for_node(G, node)
    control_before = actuated.describe_control(G, node)
    if patch.left_turns is not None:
        _set_left_turns(ctx, patch, node)
    _, _, names = signals.plan_phases(G, node)
    plan_attrs, amber, all_red = _plan_attributes(ctx, patch, node, before, names)
    if plan_attrs:
        for name in _PLAN_ATTRIBUTES:
            G.nodes[node].pop(name, None)
        G.nodes[node].update(plan_attrs)
    _set_clearances(G, patch, node, before, amber, all_red)
    if patch.control is not None:
        _set_control(ctx, patch, node, G, names)
    if patch.optimize == "webster" and ctx.baseline_link_flows is None and ctx.defer_webster:
        ctx.report.notes.setdefault(ctx.index, []).append(
            f"junction {node}: Webster plan computed from the baseline flows at run time"
        )
    elif patch.optimize == "webster":
        _webster(ctx, node)
    if patch.offset_s is not None:
        G.nodes[node]["signal_offset_s"] = float(patch.offset_s)
    try:
        after = signals.plan_for_node(G, node)
    except SimulationError as error:
        raise PatchError(error.message, key=key, hint=error.hint) from None
    if patch.offset_s is not None and patch.offset_s >= after.cycle_s:
        raise PatchError(
            f"offset {patch.offset_s:g} s is not less than the cycle ({after.cycle_s:g} s)",
            key="offset_s",
            hint=f"give an offset between 0 and {after.cycle_s:g} s",
        )
    road = "/".join(locate.roads_at_node(G, node))
    text_before = signals.describe_plan(before) + control_before
    text_after = signals.describe_plan(after) + actuated.describe_control(G, node)
    if (text_before, before.offset_s) != (text_after, after.offset_s):
        offset = f"; offset {after.offset_s:g} s" if after.offset_s else ""
        _record(ctx, node, "signal plan", text_before, text_after + offset, kind="node", road=road)


def _plan_attributes(
    ctx: _Context, patch: SignalTiming, node: int, before: signals.SignalPlan, names: list[str]
) -> tuple[dict[str, Any], float, float]:
    """The plan attributes ``patch`` sets on ``node``, with the amber and all-red it gives.

    Greens, splits or a new cycle (which keeps the shares of the plan in force), and
    ``signal_optimize``; empty when the patch sets none of them.
    """
    G = ctx.G
    n = len(names)
    plan_attrs: dict[str, Any] = {}
    amber = patch.amber_s if patch.amber_s is not None else before.amber_s
    all_red = patch.all_red_s if patch.all_red_s is not None else before.all_red_s
    if patch.greens_s is not None:
        shown = _per_phase(node, patch.greens_s, names, "greens_s")
        if patch.cycle_s is not None:
            amber, all_red = _changeover(ctx, node, patch, sum(shown), n)
        cycle = sum(shown) + n * (amber + all_red)
        plan_attrs.update(
            signal_greens_s=json.dumps([round(g, 3) for g in shown]), signal_cycle_s=cycle
        )
    elif patch.splits is not None:
        assert patch.cycle_s is not None  # the model requires cycle_s with splits
        splits = _per_phase(node, patch.splits, names, "splits")
        plan_attrs.update(signal_splits=json.dumps(splits), signal_cycle_s=float(patch.cycle_s))
    elif patch.cycle_s is not None:
        # a new cycle keeps the phases' shares of the plan in force (of the default plan when
        # left_turns changed the phases)
        shares = (
            before.green_s if len(before.green_s) == n else signals.default_plan(G, node).green_s
        )
        plan_attrs.update(
            signal_splits=json.dumps([round(g, 4) for g in shares]),
            signal_cycle_s=float(patch.cycle_s),
        )
    if patch.optimize == "webster":
        plan_attrs["signal_optimize"] = "webster"
    return plan_attrs, amber, all_red


def _set_clearances(
    G: nx.MultiDiGraph,
    patch: SignalTiming,
    node: int,
    before: signals.SignalPlan,
    amber: float,
    all_red: float,
) -> None:
    """Check the amber and set the clearances and lost time of ``node``'s plan.

    They are set on their own, so the greens in force stay as written.
    """
    if amber < min_amber_s:
        raise PatchError(
            f"junction {node}: amber of {amber:g} s is shorter than the minimum of "
            f"{min_amber_s:g} s",
            key="amber_s" if patch.amber_s is not None else "greens_s",
            hint=f"give amber_s of at least {min_amber_s:g} s (and fit the greens to the cycle)",
        )
    if patch.amber_s is not None or amber != before.amber_s:
        G.nodes[node]["signal_amber_s"] = float(amber)
    if patch.all_red_s is not None or all_red != before.all_red_s:
        G.nodes[node]["signal_all_red_s"] = float(all_red)
    if patch.lost_time_per_phase_s is not None:
        G.nodes[node]["signal_lost_time_s"] = float(patch.lost_time_per_phase_s)


def _set_control(
    ctx: _Context, patch: SignalTiming, node: int, G: nx.MultiDiGraph, names: list[str]
) -> None:
    """Set (or clear) vehicle-actuated control and its settings on a junction.

    Minimum and maximum greens are stored as given (one number, a list per phase, or a mapping
    of phase names) and resolved against the phases when the plan is built, so a phase added
    later (a protected left) still gets them.
    """
    data = G.nodes[node]
    for name in _CONTROL_ATTRIBUTES:
        data.pop(name, None)
    if patch.control != "actuated":
        return
    data["signal_control"] = "actuated"
    for key, attribute in (
        ("min_green_s", "signal_min_green_s"),
        ("max_green_s", "signal_max_green_s"),
    ):
        given = getattr(patch, key)
        if given is None:
            continue
        if isinstance(given, dict):
            for name in given:
                if signals.phase_index(name, names) is None:
                    raise PatchError(
                        f"junction {node} has no phase '{name}'; its phases are: "
                        f"{', '.join(names)}",
                        key=f"{key}.{name}",
                        hint="name a phase by one of its roads, and '<road> left' for a left phase",
                    )
        elif isinstance(given, list):
            _per_phase(node, given, names, key)  # checks the count
        data[attribute] = json.dumps(given)
    if patch.passage_s is not None:
        data["signal_passage_s"] = float(patch.passage_s)
    if patch.detector_m is not None:
        data["signal_detector_m"] = float(patch.detector_m)
    try:
        control = actuated.actuated_plan(G, node)
    except SimulationError as error:
        raise PatchError(error.message, key=error.key or "control", hint=error.hint) from None
    assert control is not None
    plan = signals.plan_for_node(G, node)
    for p, name in enumerate(names):
        walk = webster.pedestrian_min_green_s(G, plan, p)
        shown_min = control.min_green_s[p] - plan.amber_s - plan.all_red_s + control.lost_time_s[p]
        if shown_min < walk - 0.05:
            ctx.report.warnings.append(
                f"junction {node}: minimum green of phase {name} ({shown_min:.0f} s) is shorter "
                f"than pedestrians need to cross ({walk:.0f} s)"
            )


def _set_left_turns(ctx: _Context, patch: SignalTiming, node: int) -> None:
    """Set ``left_turn`` on the junction's approaches named by ``patch.left_turns``."""
    G = ctx.G
    approaches = sorted((u, v, k) for u, v, k in G.in_edges(node, keys=True) if u != node)
    if isinstance(patch.left_turns, str):
        chosen = {e: patch.left_turns for e in approaches}
        if patch.left_turns in signals.PROTECTED_TREATMENTS:
            without = [e for e in approaches if not turnlanes.exclusive_left_lanes(G, e)]
            if without and len(without) == len(approaches):
                raise PatchError(
                    f"junction {node}: no approach has an exclusive left-turn lane (a pocket, or "
                    "a marked one), so no left turn can be protected",
                    key="left_turns",
                    hint="add a channelize patch with add_turn_lanes: {left: 1} before this one",
                )
            chosen = {e: t for e, t in chosen.items() if e not in without}
            if without:
                ctx.report.notes.setdefault(ctx.index, []).append(
                    f"junction {node}: {len(without)} approach(es) without an exclusive left "
                    "lane keep permitted lefts"
                )
    else:
        chosen = {}
        for road, treatment in (patch.left_turns or {}).items():
            # the project's name lookup (exact first, then the normalised stem), as channelize
            try:
                on_road = set(locate.find_road_edges(G, road, key=f"left_turns.{road}"))
            except PatchError as error:
                raise _conflict_or(ctx, road, error) from None
            matching = [e for e in approaches if e in on_road]
            if not matching:
                raise PatchError(
                    f"junction {node} has no approach on '{road}'",
                    key=f"left_turns.{road}",
                    hint=f"its approaches are on: {', '.join(locate.roads_at_node(G, node))}",
                )
            for e in matching:
                no_pocket = not turnlanes.exclusive_left_lanes(G, e)
                if treatment in signals.PROTECTED_TREATMENTS and no_pocket:
                    raise PatchError(
                        f"junction {node}: the approach on '{road}' has no exclusive left-turn "
                        "lane; a left turn sharing a lane cannot have its own phase",
                        key=f"left_turns.{road}",
                        hint="add a channelize patch (add_turn_lanes: {left: 1}) before this one",
                    )
                chosen[e] = treatment
    for e, treatment in chosen.items():
        _update_edge(ctx, e, {"left_turn": treatment})


def _per_phase(
    node: int, given: Sequence[float] | dict[str, float], names: list[str], key: str
) -> list[float]:
    """Values per phase from a list (phase order) or a mapping of phase names or roads."""
    if not isinstance(given, dict):
        if len(given) != len(names):
            raise PatchError(
                f"junction {node} has {len(names)} phases ({', '.join(names)}, in this order) "
                f"but {len(given)} {key} were given",
                key=key,
                hint=f"write one value per phase: {_per_phase_example(given, names, key)}",
            )
        return [float(x) for x in given]
    values: dict[int, float] = {}
    for name, value in given.items():
        index = signals.phase_index(name, names)
        if index is None:
            raise PatchError(
                f"junction {node} has no phase '{name}'; its phases are: {', '.join(names)}",
                key=f"{key}.{name}",
                hint="name a phase by one of its roads, and '<road> left' for a left phase",
            )
        values[index] = float(value)
    missing = [names[i] for i in range(len(names)) if i not in values]
    if missing:
        raise PatchError(
            f"junction {node}: no {key} value for phase(s) {', '.join(missing)}",
            key=key,
            hint="give a value for every phase",
        )
    return [values[i] for i in range(len(names))]


def _junction_text(ctx: _Context, node: int) -> str:
    """``263 (正阳中路/长城路)``: a junction's node id with the roads meeting there."""
    return f"{node} ({'/'.join(locate.roads_at_node(ctx.G, node)) or 'unnamed roads'})"


def _scaled_greens(given: Any, factor: float) -> str:
    """Greens as written, scaled by ``factor`` and rounded down: ``[30, 23]`` or a mapping."""
    if isinstance(given, dict):
        items = ", ".join(f"{name}: {int(value * factor)}" for name, value in given.items())
        return "{" + items + "}"
    return "[" + ", ".join(str(int(value * factor)) for value in given) + "]"


def _per_phase_example(given: Sequence[float], names: list[str], key: str) -> str:
    """An example of per-phase values in both spellings, with the values as given.

    ``greens_s: [20, 20] (正阳中路 first), or by phase name: greens_s: {正阳中路: 20, …}``, the
    values cut or repeated to the number of phases.
    """
    values = [f"{float(given[min(i, len(given) - 1)]):g}" for i in range(len(names))]
    by_name = ", ".join(f"{name}: {value}" for name, value in zip(names, values, strict=True))
    return (
        f"{key}: [{', '.join(values)}] ({names[0]} first), or by phase name: {key}: {{{by_name}}}"
    )


def _changeover(
    ctx: _Context, node: int, patch: SignalTiming, total_green_s: float, n: int
) -> tuple[float, float]:
    """Amber and all-red of an explicit cycle with explicit greens: what the cycle leaves."""
    assert patch.cycle_s is not None
    per_change = (patch.cycle_s - total_green_s) / n
    most_green = patch.cycle_s - n * min_amber_s
    fits = (
        f"shorten the greens to at most {most_green:g} s in all, or "
        f"lengthen cycle_s to at least {total_green_s + n * min_amber_s:g} s"
    )
    if per_change < min_amber_s:
        example = _scaled_greens(patch.greens_s, most_green / total_green_s)
        raise PatchError(
            f"junction {_junction_text(ctx, node)}: greens_s sum to {total_green_s:g} s with "
            f"cycle_s {patch.cycle_s:g} s, which leaves {per_change:.3g} s per change between "
            f"its {n} phases; the cycle must also hold the lost time between phases, an amber of "
            f"at least {min_amber_s:g} s (+ all-red) per change, {n * min_amber_s:g} s in all, so "
            f"the greens may total at most {most_green:g} s",
            key="greens_s",
            hint=f"{fits.replace(' in all,', f' in all (e.g. greens_s: {example}),')}; or drop "
            "cycle_s (the greens plus amber and all-red then make the cycle)",
        )
    amber, all_red = patch.amber_s, patch.all_red_s
    if amber is not None and all_red is not None:
        if abs(amber + all_red - per_change) > 0.05:
            raise PatchError(
                f"junction {node}: greens of {total_green_s:g} s plus {n} × (amber {amber:g} s "
                f"+ all-red {all_red:g} s) make {total_green_s + n * (amber + all_red):g} s, not "
                f"the {patch.cycle_s:g} s cycle",
                key="cycle_s",
                hint="drop cycle_s (greens, amber and all-red give it) or make them add up",
            )
        return amber, all_red
    if amber is None and all_red is None:
        return signals.amber_s, per_change - signals.amber_s
    given, name = (amber, "amber_s") if amber is not None else (all_red, "all_red_s")
    rest = per_change - given  # type: ignore[operator]
    if (amber is not None and rest < 0) or (all_red is not None and rest < min_amber_s):
        raise PatchError(
            f"junction {node}: the cycle leaves {per_change:.3g} s per change; {name} of "
            f"{given:g} s leaves {rest:.3g} s for the "
            f"{'all-red' if amber is not None else 'amber'}",
            key=name,
            hint=f"shorten {name}, or {fits.replace(str(min_amber_s), str(min_amber_s))}",
        )
    return (amber, rest) if amber is not None else (rest, all_red)  # type: ignore[return-value]


def _webster(ctx: _Context, node: int) -> None:
    """Time a junction by Webster from the baseline's approach flows (turning split unknown).

    The static assignment gives link flows only: each approach counts as one lane group of
    through traffic. The run re-times the junction inside route choice from simulated turn
    flows (:mod:`cysim.sim.retiming`).
    """
    flows = ctx.baseline_link_flows
    if flows is None:
        raise PatchError(
            "webster needs baseline flows: a static assignment of the scenario's demand on the "
            "unpatched map, which `cysim run`, `cysim compare` and `cysim validate` compute",
            key="optimize",
            hint="run it through the CLI (or pass baseline_link_flows from "
            "cysim.assign.peak_hour_edge_flows); or set an explicit plan with greens_s",
        )
    approaches = [(u, v, k) for u, v, k in ctx.G.in_edges(node, keys=True) if u != node]
    for edge in approaches:
        if edge not in flows:
            ctx.report.warnings.append(
                f"junction {node}: approach {_edge_text(edge)} has no baseline flow "
                "(a new link?); taken as 0"
            )
    # the key None: an approach total, its turning split unknown (webster.ApproachFlows)
    approach_flows: dict[EdgeKey, dict[int | None, float]] = {
        e: {None: float(flows.get(e, 0.0))} for e in approaches
    }
    timing = webster.webster_timing(ctx.G, node, approach_flows)
    webster.apply_timing(ctx.G, timing)
    ctx.report.warnings.extend(f"junction {node}: {w}" for w in timing.warnings)
    ctx.report.notes.setdefault(ctx.index, []).append(
        webster.describe_timing(timing) + " (static flows; the run re-times it inside route "
        "choice from simulated turn flows and may give left pockets a protected phase: "
        "signal_plans.csv)"
    )


def _check_signal_plans(ctx: _Context, nodes: Iterable[int]) -> None:
    """Reset explicit plans whose phase count no longer matches a junction's approaches."""
    for node in nodes:
        data = ctx.G.nodes[node]
        text = data.get("signal_greens_s", "") or data.get("signal_splits", "") or ""
        if not data.get("signal", False) or not text:
            continue
        phases = len(signals.plan_phases(ctx.G, node)[0])
        if len(json.loads(text)) != phases:
            data.pop("signal_greens_s", None)
            data.pop("signal_splits", None)
            ctx.report.warnings.append(
                f"junction {node}: its approaches changed to {phases} phases; explicit greens "
                "were reset to the default plan"
            )


def _add_parking(ctx: _Context, patch: AddParking) -> None:
    node = _junction(ctx, patch.location, patch.near, patch.snap_m, "location")
    data = ctx.G.nodes[node]
    _set_node(ctx, node, "parking_spaces", int(data.get("parking_spaces", 0) or 0) + patch.spaces)
    _set_node(ctx, node, "parking_guidance", bool(data.get("parking_guidance")) or patch.guidance)


def _check_demand_shift(ctx: _Context, patch: DemandShift) -> None:
    """Trips change at run time; here only check that the corridor's roads exist."""
    ctx.report.notes.setdefault(ctx.index, []).append("applies to the trips at run time")
    for index, road in enumerate(patch.corridor.roads if patch.corridor else []):
        try:
            locate.find_road_edges(ctx.G, road, key=f"corridor.roads[{index}]")
        except PatchError as error:
            raise _conflict_or(ctx, road, error) from None


def _remove_on_street_parking(ctx: _Context, patch: RemoveOnStreetParking) -> None:
    for index, road in enumerate(patch.roads):
        try:
            edges = locate.find_road_edges(ctx.G, road, key=f"roads[{index}]")
        except PatchError as error:
            raise _conflict_or(ctx, road, error) from None
        parked = [e for e in edges if ctx.G.edges[e].get("curb_parking", False)]
        if not parked:
            ctx.report.warnings.append(f"{describe(patch)}: '{road}' has no curb parking")
        for edge in parked:
            _update_edge(ctx, edge, {"curb_parking": False})


_GRAPH_PATCHES: dict[type, Callable[[_Context, Any], None]] = {
    OpenRoad: _open_road,
    CloseRoad: _close_road,
    WidenRoad: _widen_road,
    SetSpeed: _set_speed,
    Channelize: _channelize,
    SignalTiming: _signal_timing,
    AddParking: _add_parking,
    RemoveOnStreetParking: _remove_on_street_parking,
    DemandShift: _check_demand_shift,
}


# --- public one-patch functions ------------------------------------------------------------


def _single(G: nx.MultiDiGraph, patch: Patch, **kwargs: Any) -> tuple[nx.MultiDiGraph, PatchReport]:
    return apply_patches(G, [patch], **kwargs)


def open_road(
    G: nx.MultiDiGraph, patch: OpenRoad, **kwargs: Any
) -> tuple[nx.MultiDiGraph, PatchReport]:
    """Add a new road between two junctions (see :class:`cysim.patch.models.OpenRoad`).

    Returns a new graph and the change log; ``G`` is untouched. Keyword arguments are those of
    :func:`apply_patches`. The same holds for every patch function below.
    """
    return _single(G, patch, **kwargs)


def close_road(
    G: nx.MultiDiGraph, patch: CloseRoad, **kwargs: Any
) -> tuple[nx.MultiDiGraph, PatchReport]:
    """Remove a road or stretch; refuses to disconnect junctions unless ``allow_disconnect``."""
    return _single(G, patch, **kwargs)


def widen_road(
    G: nx.MultiDiGraph, patch: WidenRoad, **kwargs: Any
) -> tuple[nx.MultiDiGraph, PatchReport]:
    """Set or add lanes.

    Capacity and storage are recomputed by :func:`cysim.network.build.link_attributes`.
    """
    return _single(G, patch, **kwargs)


def set_speed(
    G: nx.MultiDiGraph, patch: SetSpeed, **kwargs: Any
) -> tuple[nx.MultiDiGraph, PatchReport]:
    """Set the free-flow speed of a road (capacity recomputed, it depends on speed)."""
    return _single(G, patch, **kwargs)


def channelize(
    G: nx.MultiDiGraph, patch: Channelize, **kwargs: Any
) -> tuple[nx.MultiDiGraph, PatchReport]:
    """Add turn pockets on a junction's approaches (storage recomputed)."""
    return _single(G, patch, **kwargs)


def signal_timing(
    G: nx.MultiDiGraph, patch: SignalTiming, **kwargs: Any
) -> tuple[nx.MultiDiGraph, PatchReport]:
    """Set signal plans (explicit, or Webster from ``baseline_link_flows``), or install signals."""
    return _single(G, patch, **kwargs)


def add_parking(
    G: nx.MultiDiGraph, patch: AddParking, **kwargs: Any
) -> tuple[nx.MultiDiGraph, PatchReport]:
    """Add an off-street lot at the nearest junction (spaces add up; guidance is kept if set)."""
    return _single(G, patch, **kwargs)


def remove_on_street_parking(
    G: nx.MultiDiGraph, patch: RemoveOnStreetParking, **kwargs: Any
) -> tuple[nx.MultiDiGraph, PatchReport]:
    """Clear ``curb_parking`` on named roads, restoring their capacity."""
    return _single(G, patch, **kwargs)


__all__ = [
    "PatchChange",
    "PatchReport",
    "add_parking",
    "apply_demand_patches",
    "apply_patches",
    "channelize",
    "close_road",
    "demand_shift",
    "describe",
    "locate_error",
    "open_road",
    "remove_on_street_parking",
    "set_speed",
    "signal_timing",
    "widen_road",
]
