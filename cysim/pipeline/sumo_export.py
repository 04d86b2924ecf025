"""Export a cysim network, its signal plans, trips and routes as SUMO plain XML (and net.xml).

The export takes the engine's own view of the network, :class:`cysim.sim.netarrays.NetArrays`,
as the source of truth, so SUMO gets the same links, movements, lane groups, signal phases and
priority rules as cysim simulates:

``NAME.nod.xml``
    One ``<node>`` per cysim node (id ``n<node>``, projected ``x``/``y``); ``traffic_light`` at
    signalised junctions (tl id = node id), ``priority`` otherwise. Turn-pocket ends add one
    ``priority`` node per pocketed link (``p<u>_<v>_<key>``).
``NAME.edg.xml``
    One ``<edge>`` per cysim link, id ``e<u>_<v>_<key>``, with ``numLanes`` = ``lanes``,
    ``speed`` (m/s), ``length`` (cysim's ``length_m``), ``priority`` = the road-class rank of
    :data:`cysim.sim.netarrays.class_rank` and the link's geometry as ``shape``. **Pockets**: a
    link with turn-pocket lane groups (``NetArrays.group_pockets``) is split at
    ``pocket_length_m`` before its end: the upstream edge keeps the link's id and lanes, the
    downstream edge ``e<u>_<v>_<key>_pocket`` has the pocket lanes added (right pockets on the
    right, left pockets on the left). A pocket as long as the link (or longer) gives the whole
    link the extra lanes instead. Routes list both parts.
``NAME.con.xml``
    One ``<connection>`` per lane of each lane group and movement it serves
    (``NetArrays.group_of``): lanes are laid out from the right as right-only groups, then the
    main group, then the shared left lane (``NetArrays.group_alt``), then left pockets; each
    group's lanes connect to every outgoing link its movements lead to. A shared left lane also
    connects to its main group's *through* exits (cysim lets any main vehicle pick it; SUMO gets
    the through ones only, as a right turn from the leftmost lane is not drivable). At
    unsignalised junctions every connection of a major approach (``group_minor`` false) has
    ``pass="true"`` (it never yields, cysim's rule); minor approaches keep SUMO's default, which
    yields to the higher-priority edges.
``NAME.tll.xml``
    One static ``<tlLogic>`` per signalised junction, offset 0, whose phases are cysim's effective
    green windows (``NetArrays.plans``, offset included) cut at every window start and end: in
    each interval a connection is green (``G``) when its lane group's phase is green; a left turn
    that yields to an opposing approach (``NetArrays.opposing_link``, not protected) is ``g``,
    and so is the protected-then-permitted left pocket in its road's phase
    (``group_then_phase``). The lost time between greens is all red (``r``), so SUMO's green
    equals cysim's *effective* green (SUMO's meso model drives through yellow, so a yellow would
    lengthen it). Actuated junctions are exported as the fixed plan cysim's actuated controller
    replaces. The ``<connection … tl= linkIndex=>`` elements fix the signal index of each.
``NAME.rou.xml``
    One vehicle type (length 5 m + min gap 2.5 m = cysim's 7.5 m jam spacing, no speed deviation,
    ``sigma`` 0) and one ``<vehicle>`` per trip (id = ``trip_id``, ``depart`` = ``departure_s``)
    with its cysim route as SUMO edges. Routes default to cysim's free-flow routes (its first
    route-choice iteration); trips without a route (unreachable, or origin = destination) are
    left out and counted.

``netconvert`` (found on ``PATH`` or under the ``sumo`` package's ``SUMO_HOME``) then builds
``NAME.net.xml``; without it the plain files are written and the command is returned.

Known differences that remain (docs/validation.md, "SUMO meso"): SUMO's priority junctions also
order conflicting *minor* movements among themselves, and its meso model has its own discharge
headways (``--meso-taujf``; see :data:`MESO_OPTIONS`).
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from .. import io, settings
from .._errors import CysimError
from ..control.signals import LEFT, RIGHT, THROUGH
from ..sim import movements, netarrays, routing

__all__ = [
    "MESO_OPTIONS",
    "SumoExport",
    "SumoExportError",
    "export_scenario",
    "export_sumo",
    "find_netconvert",
    "find_sumo",
    "free_flow_paths",
    "netconvert_command",
    "sumo_edge_ids",
]

#: ``sumo --mesosim`` options for comparing with cysim (benchmarks/vs_sumo.py):
#:
#: - ``--meso-junction-control``: signals and priorities act on every vehicle, as in cysim
#:   (instead of SUMO's default uncontrolled junctions or a time penalty);
#: - ``--meso-taujf 1.5``: SUMO meso's gross discharge headway of a queue is ``taujf + (length +
#:   minGap) / speed`` (MESegment), so its default 1.73 s gives 12.05 vehicles per 26 s green on a
#:   one-lane 36 km/h approach where cysim (1,800 veh/h/lane) gives 13.0; 1.5 s gives 12.95
#:   (tests/test_sumo_export.py measures it);
#: - ``--time-to-teleport -1``: cysim never removes stuck vehicles.
MESO_OPTIONS: tuple[str, ...] = (
    "--mesosim",
    "true",
    "--meso-junction-control",
    "true",
    "--meso-taujf",
    "1.5",
    "--time-to-teleport",
    "-1",
)

#: Direction rank of a movement kind for laying lane groups out from the right.
_SIDE = {RIGHT: 0, THROUGH: 1, LEFT: 2}


class SumoExportError(CysimError):
    """The network or trips cannot be exported to SUMO, or netconvert failed."""


@dataclass
class SumoExport:
    """What :func:`export_sumo` wrote.

    Attributes
    ----------
    files
        Kind (``nodes``, ``edges``, ``connections``, ``tll``, ``routes``, ``net``) → path written.
    netconvert
        The netconvert command that builds (or would build) the net.xml.
    built
        Whether netconvert ran and wrote the net.xml.
    edge_ids
        cysim link ``(u, v, key)`` → its SUMO edges in driving order (one, or two with a pocket).
    vehicles
        Trips written to the routes file.
    skipped
        Trips left out: no route, or origin equals destination.
    connections
        SUMO connections written (one per lane and movement).
    netconvert_log
        netconvert's output (warnings), when it ran.
    """

    files: dict[str, Path]
    netconvert: list[str]
    built: bool
    edge_ids: dict[tuple[int, int, int], list[str]]
    vehicles: int = 0
    skipped: int = 0
    connections: int = 0
    netconvert_log: str = ""
    notes: list[str] = field(default_factory=list)


# --- tools -------------------------------------------------------------------------------------


def _sumo_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    homes = [os.environ.get("SUMO_HOME")]
    try:  # the eclipse-sumo wheel
        import sumo  # type: ignore[import-not-found]

        homes.append(getattr(sumo, "SUMO_HOME", None))
    except ImportError:
        pass
    for home in homes:
        if home:
            candidate = Path(home) / "bin" / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def find_netconvert() -> str | None:
    """Path of SUMO's ``netconvert`` (``PATH``, ``$SUMO_HOME/bin`` or the ``sumo`` wheel)."""
    return _sumo_tool("netconvert")


def find_sumo() -> str | None:
    """Path of the ``sumo`` binary (``PATH``, ``$SUMO_HOME/bin`` or the ``sumo`` wheel)."""
    return _sumo_tool("sumo")


# --- ids and routes ----------------------------------------------------------------------------


def _node_id(n: int) -> str:
    return f"n{n}"


def _edge_id(e: tuple[int, int, int]) -> str:
    u, v, k = e
    return f"e{u}_{v}_{k}"


def sumo_edge_ids(
    G: nx.MultiDiGraph, net: netarrays.NetArrays | None = None
) -> dict[tuple[int, int, int], list[str]]:
    """SUMO edge ids of each cysim link, in driving order.

    ``e<u>_<v>_<key>``, followed by ``e<u>_<v>_<key>_pocket`` when the link's turn pockets are
    a separate edge (see the module docstring). Deterministic: the same graph gives the same ids.
    """
    net = net if net is not None else _net(G)
    plan = _layout(G, net)
    return {e: _parts(e, plan[i]) for i, e in enumerate(_edges(net))}


def free_flow_paths(
    G: nx.MultiDiGraph, trips: pd.DataFrame, *, time_bin_s: float = 900.0
) -> list[list[int] | None]:
    """The free-flow route cysim takes for each trip row, as link indices.

    The indices are those of :func:`cysim.sim.netarrays.build`; the routes those of cysim's first
    route-choice iteration (``cysim.sim.simulate``): a search over movements on free-flow link
    times. None when the destination is unreachable.
    """
    net = _net(G)
    return _free_flow_paths(net, trips, time_bin_s)


def _free_flow_paths(
    net: netarrays.NetArrays, trips: pd.DataFrame, time_bin_s: float
) -> list[list[int] | None]:
    index = net.node_index
    bad = sorted(
        {
            int(n)
            for c in ("origin_node", "destination_node")
            for n in trips[c]
            if int(n) not in index
        }
    )
    if bad:
        raise SumoExportError(
            f"{len(bad)} trip origin/destination node(s) are not network nodes, e.g. {bad[:5]}",
            key="trips",
            hint="build the trips on the same (patched) network you export",
        )
    origin = np.array([index[int(n)] for n in trips["origin_node"]], dtype=np.int64)
    dest = np.array([index[int(n)] for n in trips["destination_node"]], dtype=np.int64)
    moves = movements.Movements.build(net)
    ff = np.asarray(net.freeflow_s, dtype=float)
    paths, _ = routing.route_trips(
        moves, origin, dest, np.zeros(len(trips)), moves.from_link_times(ff)[None, :], time_bin_s
    )
    return list(paths)


# --- the network as lanes ----------------------------------------------------------------------


def _net(G: nx.MultiDiGraph, *, priority_junctions: bool = True) -> netarrays.NetArrays:
    if not isinstance(G, nx.MultiDiGraph) or G.number_of_edges() == 0:
        raise SumoExportError(
            "the network has no links to export",
            hint="load a map with cysim.network.build.load_network (or a scenario) first",
        )
    try:
        return netarrays.build(
            G, 1.0, settings.backward_wave_kph, priority_junctions=priority_junctions
        )
    except CysimError as error:
        raise SumoExportError(error.message, key=error.key, hint=error.hint) from error


def _edges(net: netarrays.NetArrays) -> list[tuple[int, int, int]]:
    links = net.links
    return [
        (int(u), int(v), int(k))
        for u, v, k in zip(links["u"], links["v"], links["key"], strict=True)
    ]


@dataclass
class _LinkLanes:
    """Lane layout of one link at its downstream end (SUMO lane 0 = rightmost)."""

    lanes: int  # lanes upstream of the pockets
    end_lanes: int  # lanes at the stop line
    pocket_m: float  # length of the pocket part (0 = no separate pocket edge)
    group_lanes: dict[int, list[int]]  # lane group → SUMO lane indices at the stop line
    main_offset: int  # stop-line lane of upstream lane 0


def _group_side(net: netarrays.NetArrays, i: int, g: int) -> float:
    kinds = [net.movement_kind[i][j] for j, h in net.group_of[i].items() if j >= 0 and h == g]
    if not kinds:
        return math.nan
    return float(np.mean([_SIDE.get(k, 1) for k in kinds]))


def _layout(G: nx.MultiDiGraph, net: netarrays.NetArrays) -> list[_LinkLanes]:
    """Lay every link's lane groups out side by side, from the right."""
    pocket_groups = {p for ps in net.group_pockets for p in ps}
    alt_groups = {a for a in net.group_alt if a >= 0}
    out = []
    for i, e in enumerate(_edges(net)):
        d = G.edges[e]
        lanes = int(d["lanes"])
        groups = sorted({g for j, g in net.group_of[i].items() if j >= 0})
        # pockets without movements (no left turn at that junction) still exist as lanes
        for g in list(groups):
            groups += [p for p in net.group_pockets[g] if p not in groups]
        keyed = []
        for g in groups:
            side = _group_side(net, i, g)
            pocket = g in pocket_groups
            if math.isnan(side):
                side = 2.0 if pocket and int(d.get("pocket_left", 0) or 0) > 0 else 0.0
            # a pocket sits outside the through lanes: push it to its side
            outer = (-1 if side < 1 else 1) if pocket else 0
            keyed.append((outer, side, 1 if g in alt_groups else 0, g))
        keyed.sort()
        lane = 0
        group_lanes: dict[int, list[int]] = {}
        main_offset = None
        for _, _, _, g in keyed:
            n = max(1, int(net.group_lanes[g]))
            group_lanes[g] = list(range(lane, lane + n))
            if g not in pocket_groups and main_offset is None:
                main_offset = lane
            lane += n
        end_lanes = max(lane, 1)
        pocket_m = 0.0
        if any(g in pocket_groups for g in groups) and end_lanes != lanes:
            length = float(d["length_m"])
            pocket_length = float(d.get("pocket_length_m", 0.0) or 0.0)
            if 0 < pocket_length < length - 1.0:
                pocket_m = pocket_length
        if pocket_m == 0.0:
            lanes = max(lanes, end_lanes)  # the pocket runs the link's whole length
        out.append(_LinkLanes(lanes, end_lanes, pocket_m, group_lanes, main_offset or 0))
    return out


def _parts(e: tuple[int, int, int], lay: _LinkLanes) -> list[str]:
    return [_edge_id(e), _edge_id(e) + "_pocket"] if lay.pocket_m > 0 else [_edge_id(e)]


def _to_lanes(kind: int, n_from: int, n_to: int) -> list[int]:
    """Target lane of each of ``n_from`` source lanes on an exit of ``n_to`` lanes."""
    if kind == RIGHT:
        return [min(k, n_to - 1) for k in range(n_from)]
    if kind == LEFT:
        return [max(0, n_to - n_from + k) for k in range(n_from)]
    if n_from == 1:
        return [0] if n_to == 1 else [min(n_to - 1, n_to // 2)]
    return [round(k * (n_to - 1) / (n_from - 1)) for k in range(n_from)]


def _shape(geom, start_m: float, end_m: float, length_m: float) -> str | None:
    if geom is None or getattr(geom, "is_empty", True) or geom.length <= 0:
        return None
    from shapely.ops import substring

    scale = geom.length / length_m
    part = substring(geom, start_m * scale, end_m * scale)
    coords = list(getattr(part, "coords", []))
    if len(coords) < 2:
        return None
    return " ".join(f"{x:.2f},{y:.2f}" for x, y, *_ in coords)


def _signal_states(
    net: netarrays.NetArrays, node: int, links: list[tuple[int, int, int]]
) -> list[tuple[float, str]]:
    """``(duration, state)`` of the SUMO phases of a signalised node, cycle starting at 0.

    ``links`` is ``(link, next link, group)`` per controlled connection, in link-index order.
    """
    plan = net.plans[node]
    assert plan is not None
    cycle, windows = plan
    cuts = {0.0, float(cycle)}
    for start, green_s in windows:
        cuts.add(start % cycle)
        cuts.add((start + green_s) % cycle)
    cuts_sorted = sorted(c for c in cuts if 0 <= c <= cycle)
    phases: list[tuple[float, str]] = []

    def green(p: int, t: float) -> bool:
        if p < 0:
            return False
        start, length = windows[p]
        return (t - start) % cycle < length

    def since_start(p: int, t: float) -> float:
        return (t - windows[p][0]) % cycle

    for a, b in itertools.pairwise(cuts_sorted):
        if b - a <= 1e-9:
            continue
        mid = 0.5 * (a + b)
        state = []
        for i, j, g in links:
            kind = net.movement_kind[i].get(j, THROUGH)
            phase, then = net.group_phase[g], net.group_then_phase[g]
            if phase < 0:
                state.append("G")  # no phase: cysim lets the group discharge at any time
            elif then >= 0:
                # protected-then-permitted left: green from its own phase's start to the end of
                # its road's phase (the intergreen between them included), protected first
                end = (windows[then][0] + windows[then][1] - windows[phase][0]) % cycle
                t = since_start(phase, mid)
                state.append("G" if t < windows[phase][1] else "g" if t < end else "r")
            elif green(phase, mid):
                yields = kind == LEFT and not net.group_protected[g] and net.opposing_link[i] >= 0
                state.append("g" if yields else "G")
            else:
                state.append("r")
        s = "".join(state)
        if phases and phases[-1][1] == s:
            phases[-1] = (phases[-1][0] + b - a, s)
        else:
            phases.append((b - a, s))
    return phases


# --- writing ------------------------------------------------------------------------------------


def _write_xml(path: Path, root: ET.Element) -> Path:
    ET.indent(root)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    return io.write_text(path, text + "\n")


def _num(x: float) -> str:
    return f"{x:.2f}"


def netconvert_command(netconvert: str, files: dict[str, Path], net_path: Path | str) -> list[str]:
    """The netconvert call that builds ``net_path`` from the plain files."""
    return [
        netconvert,
        "--node-files", str(files["nodes"]),
        "--edge-files", str(files["edges"]),
        "--connection-files", str(files["connections"]),
        "--tllogic-files", str(files["tll"]),
        "--output-file", str(net_path),
        "--offset.disable-normalization", "true",
        "--no-turnarounds", "true",
        "--no-warnings", "false",
    ]  # fmt: skip


def export_sumo(
    G: nx.MultiDiGraph,
    trips: pd.DataFrame | None,
    out_dir: str | os.PathLike,
    *,
    name: str = "cysim",
    paths: Sequence[list[int] | None] | None = None,
    priority_junctions: bool = True,
    build: bool = True,
    time_bin_s: float = 900.0,
) -> SumoExport:
    """Write the network, signal plans, trips and routes as SUMO plain XML; build the net.xml.

    Parameters
    ----------
    G
        The (patched) cysim network, docs/data-model.md §1.
    trips
        The trips table (docs/data-model.md §3), or None for the network only.
    out_dir
        Folder for ``NAME.nod.xml``, ``.edg.xml``, ``.con.xml``, ``.tll.xml``, ``.rou.xml`` and
        ``.net.xml`` (created if needed; each file is written atomically).
    name
        File stem.
    paths
        Route per trip row as cysim link indices (``NetArrays`` order, e.g. from a run); default:
        cysim's free-flow routes (:func:`free_flow_paths`).
    priority_junctions
        cysim's ``simulation.priority_junctions``: False makes every unsignalised approach major.
    build
        Run netconvert when it is available.
    time_bin_s
        Route-choice time bin for the free-flow search (one bin: any value).

    Returns
    -------
    SumoExport

    Raises
    ------
    SumoExportError
        Empty network, trips on nodes outside it, a path of the wrong length or with a gap, an
        unwritable folder, or netconvert failed.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SumoExportError(
            f"{out} is a file, not a folder", key="--out", hint="give a folder for the SUMO files"
        )
    if not name or any(c in name for c in '/\\:*?"<>|'):
        raise SumoExportError(
            f"bad file name stem {name!r}", key="name", hint="use letters, digits, -_"
        )
    net = _net(G, priority_junctions=priority_junctions)
    edges = _edges(net)
    layout = _layout(G, net)
    parts = {i: _parts(e, layout[i]) for i, e in enumerate(edges)}
    if trips is not None:
        missing = [
            c for c in ("trip_id", "origin_node", "destination_node", "departure_s")
            if c not in trips.columns
        ]  # fmt: skip
        if missing:
            raise SumoExportError(
                f"the trips table lacks column(s) {missing}",
                key="trips",
                hint="build trips with cysim.demand (docs/data-model.md §3)",
            )
        if paths is None:
            paths = _free_flow_paths(net, trips, time_bin_s)
        elif len(paths) != len(trips):
            raise SumoExportError(
                f"{len(paths)} paths for {len(trips)} trips",
                key="paths",
                hint="give one path (or None) per trip row",
            )

    nodes_el = _nodes_xml(G, net)
    edges_el = _edges_xml(G, edges, layout, parts, nodes_el)
    con_el, controlled, n_con = _connections_xml(net, layout, parts)
    tll_el = _tll_xml(net, controlled)

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    try:
        files["nodes"] = _write_xml(out / f"{name}.nod.xml", nodes_el)
        files["edges"] = _write_xml(out / f"{name}.edg.xml", edges_el)
        files["connections"] = _write_xml(out / f"{name}.con.xml", con_el)
        files["tll"] = _write_xml(out / f"{name}.tll.xml", tll_el)
        vehicles = skipped = 0
        if trips is not None:
            assert paths is not None
            root, vehicles, skipped = _routes(trips, paths, parts, net.group_of)
            files["routes"] = _write_xml(out / f"{name}.rou.xml", root)
    except OSError as error:
        raise SumoExportError(
            f"cannot write the SUMO files in {out}: {error.strerror or error}",
            key="--out",
            hint="choose a writable folder",
        ) from error
    result = SumoExport(files, [], False, {e: parts[i] for i, e in enumerate(edges)},
                        vehicles, skipped, n_con)  # fmt: skip
    net_path = out / f"{name}.net.xml"
    tool = find_netconvert()
    result.netconvert = netconvert_command(tool or "netconvert", files, net_path)
    if build and tool is not None:
        with io.atomic_path(net_path) as tmp:
            command = netconvert_command(tool, files, tmp)
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            result.netconvert_log = (done.stdout + done.stderr).strip()
            if done.returncode != 0 or not tmp.exists():
                raise SumoExportError(
                    f"netconvert failed (exit {done.returncode}): "
                    + " ".join(result.netconvert_log.splitlines()[-3:]),
                    hint=f"the plain files are in {out}; run {' '.join(result.netconvert)}",
                )
        files["net"] = net_path
        result.built = True
    return result


def _nodes_xml(G: nx.MultiDiGraph, net: netarrays.NetArrays) -> ET.Element:
    """The ``<nodes>`` of the network: ``traffic_light`` at signalised junctions."""
    nodes_el = ET.Element("nodes")
    for ni, n in enumerate(net.nodes):
        data = G.nodes[n]
        signal = net.plans[ni] is not None
        attrs = {"id": _node_id(n), "x": _num(float(data["x"])), "y": _num(float(data["y"]))}
        attrs["type"] = "traffic_light" if signal else "priority"
        if signal:
            attrs["tl"] = _node_id(n)
        ET.SubElement(nodes_el, "node", attrs)
    return nodes_el


def _edges_xml(
    G: nx.MultiDiGraph,
    edges: list[tuple[int, int, int]],
    layout: list[_LinkLanes],
    parts: dict[int, list[str]],
    nodes_el: ET.Element,
) -> ET.Element:
    """The ``<edges>`` of the links, split at their pockets; the pocket nodes go to ``nodes_el``."""
    edges_el = ET.Element("edges")
    for i, e in enumerate(edges):
        u, v, _ = e
        d = G.edges[e]
        lay = layout[i]
        length = float(d["length_m"])
        speed = f"{float(d['speed_kph']) / 3.6:.3f}"
        priority = str(netarrays.class_rank.get(str(d.get("highway", "")), 1))
        geom = d.get("geometry")
        common = {"speed": speed, "priority": priority}
        if lay.pocket_m > 0:
            cut = length - lay.pocket_m
            mid = f"p{u}_{v}_{e[2]}"
            x, y = _point_along(G, e, cut / length)
            ET.SubElement(
                nodes_el, "node", {"id": mid, "x": _num(x), "y": _num(y), "type": "priority"}
            )
            up = {"id": parts[i][0], "from": _node_id(u), "to": mid, "numLanes": str(lay.lanes),
                  "length": _num(cut), **common}  # fmt: skip
            down = {
                "id": parts[i][1],
                "from": mid,
                "to": _node_id(v),
                "numLanes": str(lay.end_lanes),
                "length": _num(lay.pocket_m),
                **common,
            }
            for attrs, a, b in ((up, 0.0, cut), (down, cut, length)):
                shape = _shape(geom, a, b, length)
                if shape:
                    attrs["shape"] = shape
                ET.SubElement(edges_el, "edge", attrs)
        else:
            attrs = {"id": parts[i][0], "from": _node_id(u), "to": _node_id(v),
                     "numLanes": str(lay.lanes), "length": _num(length), **common}  # fmt: skip
            shape = _shape(geom, 0.0, length, length)
            if shape:
                attrs["shape"] = shape
            ET.SubElement(edges_el, "edge", attrs)
    return edges_el


def _connections_xml(
    net: netarrays.NetArrays, layout: list[_LinkLanes], parts: dict[int, list[str]]
) -> tuple[ET.Element, dict[int, list[tuple[dict[str, str], tuple[int, int, int]]]], int]:
    """The ``<connections>`` of every lane group's lanes, and the signal-controlled ones.

    Returns the element, the controlled connections per signalised node index (with their
    ``(link, next link, group)``) and the number of connections between links.
    """
    con_el = ET.Element("connections")
    controlled: dict[int, list[tuple[dict[str, str], tuple[int, int, int]]]] = {}
    n_con = 0
    for i in range(len(layout)):
        lay = layout[i]
        last = parts[i][-1]
        if lay.pocket_m > 0:
            # upstream lanes continue into the pocket edge's through lanes
            for k in range(lay.lanes):
                to_lane = min(lay.end_lanes - 1, lay.main_offset + k)
                ET.SubElement(con_el, "connection", {"from": parts[i][0], "to": last,
                              "fromLane": str(k), "toLane": str(to_lane)})  # fmt: skip
        vi = net.link_v[i]
        signal = net.plans[vi] is not None
        served: list[tuple[int, int, list[int]]] = []  # (next link, group, lanes)
        for j, g in sorted(net.group_of[i].items()):
            if j < 0:
                continue
            served.append((j, g, lay.group_lanes[g]))
            alt = net.group_alt[g]
            if alt >= 0 and net.movement_kind[i][j] == THROUGH and alt in lay.group_lanes:
                served.append((j, alt, lay.group_lanes[alt]))
        for j, g, lanes in served:
            kind = net.movement_kind[i][j]
            to_first = parts[j][0]
            n_to = layout[j].lanes
            for k, to_lane in zip(lanes, _to_lanes(kind, len(lanes), n_to), strict=True):
                attrs = {"from": last, "to": to_first, "fromLane": str(k), "toLane": str(to_lane)}
                if not signal and not net.group_minor[g]:
                    attrs["pass"] = "true"
                ET.SubElement(con_el, "connection", attrs)
                n_con += 1
                if signal:
                    controlled.setdefault(vi, []).append((attrs, (i, j, g)))
    return con_el, controlled, n_con


def _tll_xml(
    net: netarrays.NetArrays,
    controlled: dict[int, list[tuple[dict[str, str], tuple[int, int, int]]]],
) -> ET.Element:
    """The ``<tlLogics>``: each signalised junction's phases, then its connections' indices."""
    tll_el = ET.Element("tlLogics")
    for vi, cons in sorted(controlled.items()):
        tl = _node_id(net.nodes[vi])
        program = {"id": tl, "type": "static", "programID": "0", "offset": "0"}
        logic = ET.SubElement(tll_el, "tlLogic", program)
        for duration, state in _signal_states(net, vi, [c for _, c in cons]):
            ET.SubElement(logic, "phase", {"duration": f"{duration:.3f}", "state": state})
    for vi, cons in sorted(controlled.items()):
        tl = _node_id(net.nodes[vi])
        for index, (attrs, _) in enumerate(cons):
            link = {k: attrs[k] for k in ("from", "to", "fromLane", "toLane")}
            ET.SubElement(tll_el, "connection", {**link, "tl": tl, "linkIndex": str(index)})
    return tll_el


def _point_along(
    G: nx.MultiDiGraph, e: tuple[int, int, int], fraction: float
) -> tuple[float, float]:
    geom = G.edges[e].get("geometry")
    if geom is not None and not getattr(geom, "is_empty", True) and geom.length > 0:
        p = geom.interpolate(fraction, normalized=True)
        return float(p.x), float(p.y)
    a, b = G.nodes[e[0]], G.nodes[e[1]]
    return (
        float(a["x"]) + fraction * (float(b["x"]) - float(a["x"])),
        float(a["y"]) + fraction * (float(b["y"]) - float(a["y"])),
    )


def _routes(
    trips: pd.DataFrame,
    paths: Sequence[list[int] | None],
    parts: dict[int, list[str]],
    group_of: list[dict[int, int]],
) -> tuple[ET.Element, int, int]:
    root = ET.Element("routes")
    ET.SubElement(root, "vType", {"id": "car", "length": "5", "minGap": "2.5", "speedFactor": "1",
                                  "speedDev": "0", "sigma": "0"})  # fmt: skip
    order = np.argsort(trips["departure_s"].to_numpy(float), kind="stable")
    ids = trips["trip_id"].to_numpy()
    dep = trips["departure_s"].to_numpy(float)
    written = skipped = 0
    n_links = len(parts)
    for r in order.tolist():
        path = paths[r]
        if not path:
            skipped += 1
            continue
        if any(not 0 <= int(j) < n_links for j in path):
            raise SumoExportError(
                f"trip {ids[r]}'s path has link indices outside the network",
                key="paths",
                hint="give paths as cysim.sim.netarrays link indices of this network",
            )
        gaps = [a for a, b in itertools.pairwise(path) if int(b) not in group_of[int(a)]]
        if gaps:
            raise SumoExportError(
                f"trip {ids[r]}'s path jumps from link {gaps[0]} to a link that does not follow it",
                key="paths",
                hint="give connected paths (each link starts where the previous one ends)",
            )
        vehicle = ET.SubElement(root, "vehicle", {"id": str(ids[r]), "type": "car",
                                "depart": f"{dep[r]:.2f}", "departLane": "best",
                                "departSpeed": "max"})  # fmt: skip
        edges = [p for j in path for p in parts[int(j)]]
        ET.SubElement(vehicle, "route", {"edges": " ".join(edges)})
        written += 1
    return root, written, skipped


def export_scenario(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike,
    *,
    seed: int | None = None,
    sample_factor: float | None = None,
    build: bool = True,
) -> SumoExport:
    """Export a scenario's patched network and its trips (one seed) with free-flow routes.

    The network and trips are those :func:`cysim.pipeline.replicate.run_replication` simulates: the
    scenario prepared by :func:`cysim.pipeline.prepare.prepare_scenario` (map, signal plans,
    patches),
    its demand drawn for ``seed`` (default: the scenario's) on the unpatched network, then its
    demand patches. Routes are cysim's free-flow routes (its first route-choice iteration).

    Parameters
    ----------
    path
        Scenario YAML file.
    out_dir
        Folder for the SUMO files; the file stem is the scenario's name.
    seed
        Demand seed (default ``simulation.seed``).
    sample_factor
        Override ``demand.sample_factor``; with f < 1 the trips are a sample (run SUMO with
        ``--scale 1/f``, :attr:`SumoExport.notes` says so).
    build
        Run netconvert when it is available.

    Returns
    -------
    SumoExport

    Raises
    ------
    CysimError
        Any problem with the scenario, its map, patches or demand; :class:`SumoExportError` for
        the export itself.
    """
    from .. import pipeline

    # fspath: a str stays as given (error messages quote it), a Path becomes its str
    prepared = pipeline.prepare_scenario(os.fspath(path), sample_factor=sample_factor)
    resolved = prepared.scenario
    seed = resolved.simulation.seed if seed is None else seed
    trips, _ = pipeline.scenario_trips(prepared, seed, what="export")
    stem = io.safe_name(resolved.name) or "scenario"
    result = export_sumo(
        prepared.graph,
        trips,
        out_dir,
        name=stem,
        priority_junctions=resolved.simulation.priority_junctions,
        build=build,
        time_bin_s=resolved.simulation.route_choice.time_bin_s,
    )
    factor = float(trips.attrs.get("sample_factor", 1.0))
    if factor < 1.0:
        result.notes.append(
            f"the trips are a {factor:.0%} sample (demand.sample_factor): run sumo with "
            f"--scale {1.0 / factor:g} for the full demand"
        )
    return result
