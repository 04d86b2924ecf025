"""Load an OSM or GraphML map into cysim's road network graph (docs/data-model.md §1)."""

from __future__ import annotations

import json
import logging
import math
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import pyproj
from scipy.spatial import cKDTree
from shapely import STRtree
from shapely.geometry import LineString, Point

from .. import settings
from .._errors import MapError
from . import _osm_tags, roadclass, turnlanes
from ._graphml import EDGE_ATTRS, GRAPH_ATTRS, NODE_ATTRS, load_graphml, save_graphml

logger = logging.getLogger(__name__)

__all__ = [
    "DRIVABLE_CLASSES",
    "EDGE_ATTRS",
    "GRAPH_ATTRS",
    "NODE_ATTRS",
    "build_network",
    "derive_link_attributes",
    "format_summary",
    "is_drivable",
    "link_attributes",
    "load_graphml",
    "load_network",
    "network_summary",
    "save_graphml",
]

#: OSM classes kept as drivable: the defaults table minus ``service`` (as osmnx's "drive").
DRIVABLE_CLASSES: frozenset[str] = frozenset(roadclass.ROAD_CLASSES) - {"service"}
# Classes on separate grades: their nodes are not buffered when junctions are consolidated, so a
# motorway diverge never swallows a surface junction beside it (see _consolidate).
_GRADE_SEPARATED = frozenset({"motorway", "motorway_link"})
_OSM_SUFFIXES = {".osm": "osm", ".xml": "osm", ".bz2": "osm.bz2", ".gz": "osm.gz", ".pbf": "pbf"}
# Ids for the pieces of ways split at missing nodes: above any OSM way id for decades to come.
_SPLIT_WAY_ID_BASE = 10**15
_MAP_HINT = "give an OpenStreetMap .osm, .osm.bz2 or .osm.pbf file, or a GraphML saved by cysim"
# A signal node lies on its way's geometry (a vertex of it); this allows for rounding only, m.
_SIGNAL_ON_ROAD_M = 1.0
#: Why an OSM signal node controls no junction (``load_report["signals"]["nodes"][i]["reason"]``).
SIGNAL_REASONS: dict[str, str] = {
    "off_network": "its road is not in the network (outside the largest strongly connected part)",
    "pedestrian_crossing": "pedestrian crossing light (traffic_signals=pedestrian_crossing) "
    "away from junctions",
    "junction_lost": "at a junction or road end whose other roads are not in the network "
    "(cut off by the extract, or dropped)",
    "mid_block": "no junction near it along the road (mid-block, or at a driveway or service "
    "road: not modelled)",
}


# --- public entry points --------------------------------------------------------------------


def load_network(
    path: str | Path,
    *,
    road_class_overrides: Mapping[str, Mapping[str, float]] | None = None,
    consolidation_tolerance_m: float | None = None,
) -> nx.MultiDiGraph:
    """Load a map file into the road network graph of docs/data-model.md §1.

    Parameters
    ----------
    path
        ``.osm``, ``.osm.bz2``, ``.osm.pbf`` (OpenStreetMap) or ``.graphml`` (saved by
        :func:`save_graphml`; loaded as is).
    road_class_overrides
        ``{osm_class: {key: value}}`` overriding :mod:`cysim.network.roadclass` defaults. For a
        GraphML
        file they re-apply to lanes and speeds that came from defaults and re-derive capacities.
    consolidation_tolerance_m
        Buffer radius (m) for merging junction nodes (nodes up to twice this apart merge);
        ``None`` = ``cysim.settings.consolidation_tolerance_m``, ``0`` = no consolidation.

    Returns
    -------
    networkx.MultiDiGraph
        Projected to ``settings.projected_crs`` (a map lying far outside that UTM zone gets its
        own zone, noted in the load report), drivable roads only, junctions consolidated, the
        largest strongly connected component; what was dropped is in ``G.graph["load_report"]``.

    Raises
    ------
    MapError
        Missing, empty, truncated, non-OSM file, no drivable roads, or a GraphML without the
        contract's attributes.
    ScenarioError
        Invalid ``road_class_overrides``.

    Notes
    -----
    The OSM pipeline: osmium copies the drivable ways (:func:`is_drivable`) and their nodes to
    a temporary OSM XML, which osmnx reads unsimplified. Each OSM segment gets lanes, speed,
    class, name and curb parking from its own tags (:mod:`cysim.network._osm_tags`, class defaults
    recorded in ``defaults_applied``); osmnx then simplifies, keeping ways with different tags
    apart; the graph is projected and junctions consolidated (:func:`_consolidate` explains the
    ramp and bridge rules); self-loops are dropped, links shorter than
    ``settings.min_link_length_m`` merged; the largest strongly connected component is kept;
    each signal node is assigned to the junction it controls (:func:`_assign_signals`); capacities
    come from :func:`link_attributes`. ``consolidation_tolerance_m`` is ignored for GraphML.
    """
    path = Path(path)
    kind = _map_kind(path)
    table = roadclass.road_class_table(road_class_overrides)
    if kind == "graphml":
        G = load_graphml(path)
        if road_class_overrides:
            _reapply_class_defaults(G, table)
            derive_link_attributes(G, road_class_overrides)
        return G
    with tempfile.TemporaryDirectory(prefix="cysim-osm-") as tmp:
        xml_path = Path(tmp) / "drivable.osm"
        counts = _extract_drivable(path, kind, xml_path)
        with _osm_tags.useful_tags():
            raw = ox.graph_from_xml(xml_path, simplify=False, retain_all=True)
    return build_network(
        raw,
        name=_map_name(path),
        source=str(path),
        road_class_overrides=road_class_overrides,
        consolidation_tolerance_m=consolidation_tolerance_m,
        report=counts,
    )


def build_network(
    raw: nx.MultiDiGraph,
    *,
    name: str,
    source: str,
    road_class_overrides: Mapping[str, Mapping[str, float]] | None = None,
    consolidation_tolerance_m: float | None = None,
    report: dict[str, Any] | None = None,
) -> nx.MultiDiGraph:
    """Turn an unsimplified osmnx graph of drivable ways (WGS84, tags kept) into the cysim graph.

    Parameters
    ----------
    raw
        From ``ox.graph_from_xml`` / ``graph_from_place(simplify=False)`` under
        ``_osm_tags.useful_tags()``.
    name, source
        Map name and where it came from (graph attributes).
    road_class_overrides, consolidation_tolerance_m
        As in :func:`load_network`.
    report
        Facts gathered so far, extended and stored as ``G.graph["load_report"]``.

    Returns
    -------
    networkx.MultiDiGraph
        The network of docs/data-model.md §1.

    Raises
    ------
    MapError
        If no drivable road survives.
    """
    table = roadclass.road_class_table(road_class_overrides)
    tolerance = (
        settings.consolidation_tolerance_m
        if consolidation_tolerance_m is None
        else float(consolidation_tolerance_m)
    )
    report = dict(report or {})
    report.update(raw_nodes=len(raw), raw_edges=raw.number_of_edges())
    if raw.number_of_edges() == 0:
        raise MapError("the map has no drivable roads", file=source, hint=_MAP_HINT)
    signal_nodes = _signal_nodes(raw)
    G = _derive_segment_attributes(raw, table, report)
    G = ox.simplify_graph(G, edge_attrs_differ=["_tagkey"], edge_attr_aggs={"length": sum})
    _normalise_merged_attributes(G)
    crs = _choose_crs(G, report)
    G = ox.project_graph(G, to_crs=crs)
    _ensure_geometry(G)
    report["simplified"] = {"nodes": len(G), "edges": G.number_of_edges()}
    if tolerance > 0:
        G = _consolidate(G, tolerance)
    report["consolidation"] = {"tolerance_m": tolerance, "nodes_after": len(G)}
    report["self_loops_dropped"] = _drop_self_loops(G)
    report["short_links_merged"] = _merge_short_links(G, settings.min_link_length_m)
    G = _keep_largest_scc(G, report)
    if G.number_of_edges() == 0:
        raise MapError("no connected drivable network remains", file=source, hint=_MAP_HINT)
    G = _finalise(G, crs, table, name=name, source=source)
    _assign_signals(
        G,
        signal_nodes,
        snap_m=max(2 * tolerance, 1.0),
        approach_m=settings.signal_approach_m,
        report=report,
    )
    report["defaults"] = _defaults_share(G)
    G.graph["load_report"] = json.dumps(report, ensure_ascii=False, sort_keys=True)
    return G


def link_attributes(
    highway: str,
    lanes: int,
    length_m: float,
    speed_kph: float,
    curb_parking: bool,
    pocket_left: int = 0,
    pocket_right: int = 0,
    pocket_length_m: float = 0.0,
    overrides: Mapping[str, Mapping[str, float]] | Mapping[str, roadclass.RoadClass] | None = None,
) -> dict[str, float]:
    """Capacity, saturation flow and storage of one directed link: the ONE formula cysim uses.

    Parameters
    ----------
    highway
        OSM class (a key of :data:`cysim.network.roadclass.ROAD_CLASSES`; others use the fallback).
    lanes
        Lanes in this direction (≥ 1).
    length_m
        Link length, m (> 0).
    speed_kph
        Free-flow speed, km/h (> 0): CJJ 37 lane capacity depends on it.
    curb_parking
        Parked cars occupy the curb lane: capacity and saturation flow × the class's
        ``curb_parking_factor``.
    pocket_left, pocket_right, pocket_length_m
        Turn-pocket lanes at the downstream end and their length; they add storage.
    overrides
        Road-class overrides, or a table from :func:`cysim.network.roadclass.road_class_table`.

    Returns
    -------
    dict
        ``capacity_vph`` (all lanes), ``saturation_flow_vphpl``, ``storage_veh``
        (lanes × length / jam spacing + pockets, at least one vehicle).
    """
    table = roadclass.road_class_table(overrides)
    rc = table[highway] if highway in table else table[roadclass.resolve_road_class(highway)]
    lanes = max(1, int(lanes))
    parking_factor = rc.curb_parking_factor if curb_parking else 1.0
    capacity = lanes * rc.lane_capacity_vphpl(speed_kph) * parking_factor
    saturation = rc.lane_saturation_flow_vphpl(speed_kph) * parking_factor
    pocket_m = min(max(float(pocket_length_m), 0.0), float(length_m))
    pocket_lanes = max(0, int(pocket_left)) + max(0, int(pocket_right))
    storage = (lanes * float(length_m) + pocket_lanes * pocket_m) / rc.jam_spacing()
    return {
        "capacity_vph": float(capacity),
        "saturation_flow_vphpl": float(saturation),
        "storage_veh": float(max(storage, 1.0)),
    }


def derive_link_attributes(
    G: nx.MultiDiGraph,
    road_class_overrides: Mapping[str, Mapping[str, float]]
    | Mapping[str, roadclass.RoadClass]
    | None = None,
) -> nx.MultiDiGraph:
    """Re-derive ``capacity_vph``, ``saturation_flow_vphpl``, ``storage_veh`` on every edge.

    Call after changing lanes, length, speed, curb parking or pockets. Edits ``G`` in place.

    Parameters
    ----------
    G
        A cysim network.
    road_class_overrides
        As in :func:`load_network`, or a table from
        :func:`cysim.network.roadclass.road_class_table`.

    Returns
    -------
    networkx.MultiDiGraph
        ``G`` itself.
    """
    table = roadclass.road_class_table(road_class_overrides)
    for _, _, data in G.edges(data=True):
        data.update(
            link_attributes(
                data["highway"],
                data["lanes"],
                data["length_m"],
                data["speed_kph"],
                data["curb_parking"],
                data.get("pocket_left", 0),
                data.get("pocket_right", 0),
                data.get("pocket_length_m", 0.0),
                overrides=table,
            )
        )
    return G


# --- reading OSM files ----------------------------------------------------------------------


def _map_kind(path: Path) -> str:
    """Check the file exists and is non-empty; return ``graphml`` or an osmium format name."""
    if not path.exists():
        raise MapError("map file not found", file=path, hint=_MAP_HINT)
    if not path.is_file():
        raise MapError("map path is not a file", file=path, hint=_MAP_HINT)
    if path.stat().st_size == 0:
        raise MapError("map file is empty", file=path, hint=_MAP_HINT)
    suffix = path.suffix.lower()
    if suffix == ".graphml":
        return "graphml"
    if suffix in _OSM_SUFFIXES:
        return _OSM_SUFFIXES[suffix]
    raise MapError(f"unsupported map file type {suffix or '(none)'!r}", file=path, hint=_MAP_HINT)


def is_drivable(tags: Mapping[str, str] | osmium.osm.TagList) -> bool:
    """Whether an OSM way is a road for cars (osmnx's ``network_type="drive"`` rules).

    Parameters
    ----------
    tags
        The way's tags (a mapping, or osmium's tag list).

    Returns
    -------
    bool
        ``highway`` in :data:`DRIVABLE_CLASSES`, not an area, not closed to motor vehicles,
        not private.
    """
    if tags.get("highway") not in DRIVABLE_CLASSES or tags.get("area") == "yes":
        return False
    if "no" in {tags.get("motor_vehicle"), tags.get("motorcar")}:
        return False
    return "private" not in (tags.get("access") or "")


def _extract_drivable(path: Path, fmt: str, out_path: Path) -> dict[str, int]:
    """Copy the drivable ways of an OSM file and their nodes into an OSM XML file (osmium).

    Ways whose nodes are partly missing (an extract cut at its bounding box) keep their runs of
    consecutive nodes that are present; extra runs get new ids above any real OSM id.
    """
    source = osmium.io.File(str(path), fmt)
    way_ids: set[int] = set()
    node_ids: set[int] = set()
    present: set[int] = set()
    counts: Counter[str] = Counter()
    try:
        # a FileProcessor yields only the kinds of entity its filter names: here ways
        ways = cast("Iterable[osmium.osm.Way]", osmium.FileProcessor(source, osmium.osm.WAY))
        for way in ways:
            counts["osm_ways"] += 1
            if is_drivable(way.tags):
                way_ids.add(way.id)
                node_ids.update(node.ref for node in way.nodes)
        with osmium.SimpleWriter(str(out_path), overwrite=True) as writer:
            # nodes and ways only (the filter); isinstance is what obj.is_node() tests
            entities = cast(
                "Iterable[osmium.osm.Node | osmium.osm.Way]",
                osmium.FileProcessor(source, osmium.osm.NODE | osmium.osm.WAY),
            )
            for obj in entities:
                if isinstance(obj, osmium.osm.Node):
                    counts["osm_nodes"] += 1
                    if obj.id in node_ids:
                        present.add(obj.id)
                        writer.add_node(obj)
                elif obj.id in way_ids:
                    refs = [node.ref for node in obj.nodes]
                    runs = _present_runs(refs, present)
                    if len(runs) == 1 and len(runs[0]) == len(refs):
                        writer.add_way(obj)
                        counts["ways_written"] += 1
                        continue
                    counts["ways_cut"] += 1
                    for k, run in enumerate(runs):
                        new_id = obj.id
                        if k > 0:
                            counts["ways_split"] += 1
                            new_id = _SPLIT_WAY_ID_BASE + counts["ways_split"]
                        writer.add_way(osmium.osm.mutable.Way(base=obj, id=new_id, nodes=run))
                        counts["ways_written"] += 1
    except (RuntimeError, ValueError, OSError, osmium.InvalidLocationError) as error:
        # InvalidLocationError: a node with a non-numeric coordinate (lat="nan"), raised on write.
        reason = str(error).split("\n")[0]
        raise MapError(
            f"cannot read OpenStreetMap data ({reason}); the file is truncated, corrupt or not OSM",
            file=path,
            hint=_MAP_HINT,
        ) from None
    if counts["osm_ways"] == 0:
        raise MapError(
            "the file holds no OSM ways (not an OSM extract?)", file=path, hint=_MAP_HINT
        )
    if not way_ids:
        raise MapError(
            "the map has no drivable roads (no ways tagged highway=motorway…living_street)",
            file=path,
            hint="extract a larger area or one with roads for cars",
        )
    if counts["ways_written"] == 0:
        raise MapError(
            f"{len(node_ids) - len(present)} of the {len(node_ids)} nodes of drivable ways are "
            "missing from the file",
            file=path,
            hint="the extract is cut or corrupt; export it again with complete ways",
        )
    return {
        "osm_nodes": counts["osm_nodes"],
        "osm_ways": counts["osm_ways"],
        "drivable_ways": len(way_ids),
        "way_nodes_missing": len(node_ids) - len(present),
        "ways_cut_at_missing_nodes": counts["ways_cut"],
    }


def _present_runs(refs: list[int], present: set[int]) -> list[list[int]]:
    """Runs of consecutive node ids that are present, each at least two nodes long."""
    runs: list[list[int]] = [[]]
    for ref in refs:
        if ref in present:
            runs[-1].append(ref)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if len(run) >= 2]


def _map_name(path: Path) -> str:
    name = path.name
    for suffix in (".pbf", ".bz2", ".gz", ".osm", ".xml", ".graphml"):
        name = name.removesuffix(suffix)
    return name


# --- pipeline steps ------------------------------------------------------------------------


def _derive_segment_attributes(
    raw: nx.MultiDiGraph, table: Mapping[str, roadclass.RoadClass], report: dict[str, Any]
) -> nx.MultiDiGraph:
    """Replace each raw edge's tags by lanes, speed, class, name, curb parking (one OSM segment).

    Done before simplification, where every edge still carries one way's scalar tags and its own
    direction (``reversed``). ``_tagkey`` (the way's relevant tags) keeps ways with different
    tags apart when osmnx simplifies.
    """
    G = raw.copy()
    class_of: dict[Any, str] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", _osm_tags.OSMTagWarning)
        for _, _, data in G.edges(data=True):
            tags = dict(data)
            highway = tags.get("highway")
            key = tuple(highway) if isinstance(highway, list) else highway
            if key not in class_of:
                class_of[key] = roadclass.resolve_road_class(highway)
            rc = table[class_of[key]]
            # osmnx stores a bool; a graph built with all_oneway keeps the raw tag string
            oneway = _osm_tags.parse_oneway(tags.get("oneway")) != 0
            reverse = bool(tags.get("reversed", False)) and not oneway
            lanes, lanes_defaulted = _osm_tags.lanes_per_direction(tags, oneway, reverse, rc.lanes)
            speed = _osm_tags.parse_maxspeed(_osm_tags.maxspeed_for_direction(tags, reverse))
            defaults = ["lanes"] if lanes_defaulted else []
            if speed is None:
                speed = rc.speed_kph
                defaults.append("speed")
            name = tags.get("name")
            name_en = tags.get("name:en")
            data.clear()
            data.update(
                osmid=tags["osmid"],
                length=tags["length"],
                highway=rc.osm_class,
                name=str(name).strip() if isinstance(name, str) else "",
                name_en=str(name_en).strip() if isinstance(name_en, str) else "",
                oneway=oneway,
                lanes=int(lanes),
                speed_kph=float(speed),
                curb_parking=_osm_tags.curb_parking(tags, oneway, reverse),
                turn_lanes=_osm_tags.turn_lanes_for_direction(tags, oneway, reverse),
                defaults_applied=",".join(defaults),
                _tagkey=json.dumps(
                    {t: str(tags[t]) for t in _osm_tags.LINK_TAGS if t in tags}, sort_keys=True
                ),
            )
    messages = Counter(str(w.message) for w in caught)
    if messages:
        logger.warning("%d OSM tag values not understood; see load_report", sum(messages.values()))
    report["tag_warnings"] = dict(messages.most_common(50))
    unknown = sorted(str(k) for k, v in class_of.items() if v != k and k not in (None,))
    if unknown:
        report["unknown_classes"] = unknown
    return G


def _normalise_merged_attributes(G: nx.MultiDiGraph) -> None:
    """Collapse the lists osmnx leaves where merged segments disagree.

    Such segments are rare (ways of opposite direction with the same tags); the edge keeps the
    fewest lanes and the lowest speed (the bottleneck governs).
    """
    for _, _, data in G.edges(data=True):
        osmid = data.get("osmid")
        ids = osmid if isinstance(osmid, list) else [osmid]
        data["osmid"] = ",".join(str(i) for i in sorted(set(ids), key=str))
        for key, pick in (
            ("lanes", min),
            ("speed_kph", min),
            ("curb_parking", any),
            ("oneway", all),
            ("highway", _first),
            ("name", _first),
            ("name_en", _longest),
            ("turn_lanes", _first),
        ):
            if isinstance(data.get(key), list):
                data[key] = pick(data[key])
        if isinstance(data.get("defaults_applied"), list):
            parts = {p for value in data["defaults_applied"] for p in value.split(",") if p}
            data["defaults_applied"] = ",".join(p for p in ("lanes", "speed") if p in parts)
        data.pop("_tagkey", None)


def _first(values: list[Any]) -> Any:
    return values[0]


def _longest(values: list[str]) -> str:
    """The longest of the values (a tagged translation rather than the untagged ``""``)."""
    return max(values, key=len)


def _choose_crs(G: nx.MultiDiGraph, report: dict[str, Any]) -> str:
    """``settings.projected_crs`` when the map lies in its zone, else the map's own UTM zone.

    UTM 51N is right for Qingdao; a map elsewhere (the test extracts from Arizona, Oakland,
    Munich) projected to it would have lengths off by orders of magnitude, so it gets its own zone.
    """
    xs = np.fromiter((d["x"] for _, d in G.nodes(data=True)), float)
    ys = np.fromiter((d["y"] for _, d in G.nodes(data=True)), float)
    lon, lat = float(np.median(xs)), float(np.median(ys))
    area = pyproj.CRS(settings.projected_crs).area_of_use
    margin = 3.0  # degrees: UTM stays accurate (scale error < 0.1 %) a little beyond its zone
    if area is None or (
        area.west - margin <= lon <= area.east + margin
        and area.south - margin <= lat <= area.north + margin
    ):
        return settings.projected_crs
    zone = int((lon + 180) // 6) + 1
    crs = f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"
    report["crs_note"] = f"map lies outside {settings.projected_crs}; projected to {crs}"
    return crs


def _ensure_geometry(G: nx.MultiDiGraph) -> None:
    """Give straight edges (osmnx leaves them without geometry) a LineString from u to v."""
    for u, v, data in G.edges(data=True):
        if "geometry" not in data:
            nu, nv = G.nodes[u], G.nodes[v]
            data["geometry"] = LineString([(nu["x"], nu["y"]), (nv["x"], nv["y"])])


def _consolidate(G: nx.MultiDiGraph, tolerance: float) -> nx.MultiDiGraph:
    """Merge the nodes of one junction (osmnx ``consolidate_intersections``, rebuilt graph).

    Ramps and cloverleafs: nodes touching only motorway/motorway_link edges are not buffered
    (per-node tolerance), so a diverge or merge on an expressway never joins a surface junction
    nearby; edges longer than four tolerances are ignored when osmnx checks that nodes of a
    cluster are connected, so a loop ramp does not tie the nodes at its two ends together; and
    osmnx splits a cluster whose nodes are not connected inside it, which keeps a road and the
    bridge over it apart. Dead ends are kept (trips start and end there).
    """
    tolerances = {}
    for node in G.nodes:
        classes = {d["highway"] for _, _, d in G.in_edges(node, data=True)}
        classes |= {d["highway"] for _, _, d in G.out_edges(node, data=True)}
        if not classes <= _GRADE_SEPARATED:
            tolerances[node] = tolerance
    return ox.consolidate_intersections(
        G,
        tolerance=tolerances,
        rebuild_graph=True,
        dead_ends=True,
        reconnect_edges=True,
        max_length=4 * tolerance,
    )


def _drop_self_loops(G: nx.MultiDiGraph) -> int:
    loops = list(nx.selfloop_edges(G, keys=True))
    G.remove_edges_from(loops)
    return len(loops)


def _merge_short_links(G: nx.MultiDiGraph, min_length_m: float) -> int:
    """Merge the end nodes of every link shorter than ``min_length_m`` (into the upstream node).

    The other links of the removed node are re-attached to the kept one, their geometry's end
    moved to it. Returns the number of links removed.
    """
    removed = 0
    while True:
        short = [
            (u, v)
            for u, v, d in G.edges(data=True)
            if u != v and d["geometry"].length < min_length_m
        ]
        if not short:
            return removed
        touched: set[Any] = set()
        for keep, gone in short:
            if keep in touched or gone in touched or not G.has_edge(keep, gone):
                continue  # merged into a neighbour this round; re-checked next round
            touched.update((keep, gone))
            removed += _merge_node_into(G, gone, keep)


def _merge_node_into(G: nx.MultiDiGraph, gone: Any, keep: Any) -> int:
    """Re-attach ``gone``'s links to ``keep`` and delete it; returns links between the two."""
    between = 0
    point = (G.nodes[keep]["x"], G.nodes[keep]["y"])
    for u, v, data in list(G.out_edges(gone, data=True)) + list(G.in_edges(gone, data=True)):
        if {u, v} <= {keep, gone}:
            between += 1
            continue
        coords = list(data["geometry"].coords)
        if u == gone:
            coords[0] = point
            G.add_edge(keep, v, **{**data, "geometry": LineString(coords)})
        else:
            coords[-1] = point
            G.add_edge(u, keep, **{**data, "geometry": LineString(coords)})
    G.remove_node(gone)
    return between


def _keep_largest_scc(G: nx.MultiDiGraph, report: dict[str, Any]) -> nx.MultiDiGraph:
    """Keep the largest strongly connected component; report what the others held."""
    components = sorted(nx.strongly_connected_components(G), key=lambda c: (-len(c), min(c)))
    if not components:
        return G
    keep = components[0]
    dropped_nodes = set(G.nodes) - keep
    dropped_edges = [
        d for u, v, d in G.edges(data=True) if u in dropped_nodes or v in dropped_nodes
    ]
    report["largest_scc"] = {
        "components_dropped": len(components) - 1,
        "nodes_dropped": len(dropped_nodes),
        "edges_dropped": len(dropped_edges),
        "km_dropped": round(sum(d["geometry"].length for d in dropped_edges) / 1000, 3),
    }
    return G.subgraph(keep).copy()


def _finalise(
    G: nx.MultiDiGraph,
    crs: str,
    table: Mapping[str, roadclass.RoadClass],
    *,
    name: str,
    source: str,
) -> nx.MultiDiGraph:
    """Build the final graph with exactly the contract's attributes and ids 0..n-1."""
    to_wgs84 = pyproj.Transformer.from_crs(crs, settings.geographic_crs, always_xy=True)
    order = sorted(G.nodes, key=lambda n: (G.nodes[n]["x"], G.nodes[n]["y"], str(n)))
    new_id = {old: i for i, old in enumerate(order)}
    H = nx.MultiDiGraph(crs=crs, name=name, source=source, simplified=True, load_report="{}")
    for old in order:
        x, y = float(G.nodes[old]["x"]), float(G.nodes[old]["y"])
        lon, lat = to_wgs84.transform(x, y)
        neighbours = (set(G.successors(old)) | set(G.predecessors(old))) - {old}
        H.add_node(
            new_id[old],
            x=x,
            y=y,
            lon=float(lon),
            lat=float(lat),
            signal=False,
            junction_id=new_id[old],
            street_count=len(neighbours),
            signal_cycle_s=0.0,
            signal_offset_s=0.0,
            signal_splits="",
            parking_spaces=0,
            parking_guidance=False,
        )
    edges = sorted(G.edges(keys=True, data=True), key=lambda e: (new_id[e[0]], new_id[e[1]], e[2]))
    for u, v, _, data in edges:
        length_m = float(data["geometry"].length)
        attrs = {
            "length_m": length_m,
            "lanes": int(data["lanes"]),
            "speed_kph": float(data["speed_kph"]),
            "highway": str(data["highway"]),
            "name": str(data["name"]),
            "name_en": str(data.get("name_en", "") or ""),
            "osmid": str(data["osmid"]),
            "oneway": bool(data["oneway"]),
            "curb_parking": bool(data["curb_parking"]),
            "turn_lanes": str(data.get("turn_lanes", "") or ""),
            "pocket_left": 0,
            "pocket_right": 0,
            "pocket_length_m": 0.0,
            "defaults_applied": str(data["defaults_applied"]),
            "geometry": data["geometry"],
        }
        attrs.update(
            link_attributes(
                attrs["highway"],
                attrs["lanes"],
                length_m,
                attrs["speed_kph"],
                attrs["curb_parking"],
                overrides=table,
            )
        )
        H.add_edge(new_id[u], new_id[v], **attrs)
    return H


@dataclass(frozen=True)
class _SignalNode:
    """An OSM ``highway=traffic_signals`` node on a drivable way.

    ``streets``: its neighbours in the raw road graph; 2 for a node inside a road, where an
    approach signal sits. ``pedestrian``: tagged ``traffic_signals=pedestrian_crossing``.
    """

    osm_id: int | None
    lon: float
    lat: float
    streets: int
    pedestrian: bool


def _signal_nodes(raw: nx.MultiDiGraph) -> list[_SignalNode]:
    """The signal nodes of the raw (unsimplified, WGS84) graph, with their OSM ids."""
    return [
        _SignalNode(
            osm_id=node if isinstance(node, int) else None,
            lon=float(d["x"]),
            lat=float(d["y"]),
            streets=len((set(raw.successors(node)) | set(raw.predecessors(node))) - {node}),
            pedestrian=d.get("traffic_signals") == "pedestrian_crossing",
        )
        for node, d in raw.nodes(data=True)
        if d.get("highway") == "traffic_signals"
    ]


def _assign_signals(
    G: nx.MultiDiGraph,
    signals: list[_SignalNode],
    snap_m: float,
    approach_m: float,
    report: dict[str, Any],
) -> None:
    """Mark signalised junctions: each OSM signal node goes to the junction it controls.

    OSM puts ``highway=traffic_signals`` on the crossing node or on each approach, at the stop
    line a few to some 40 m before the junction. A junction is a node where ≥ 3 roads meet. From
    the signal's place on its road, the road is followed in the direction of travel (through
    nodes where only two roads meet) to the first junction, the nearer end of a two-way road:

    - within ``snap_m`` (twice the consolidation tolerance): ``at_junction``, the node is part of
      the junction or of its consolidated cluster; also a node within ``snap_m`` of a junction in
      a straight line (a node merged into it, or just past it);
    - within ``approach_m``: ``approach``, if the node lies inside a road (two neighbours in
      the OSM road graph) and is not a pedestrian crossing light;
    - else unassigned, with the first reason of :data:`SIGNAL_REASONS` that applies.

    Parameters
    ----------
    G
        The final network (``street_count`` set); ``signal`` is set on assigned junctions.
    signals
        OSM signal nodes (WGS84).
    snap_m, approach_m
        Distances in metres, as above.
    report
        Gets ``report["signals"]``: the two distances, counts, ``unassigned_by_reason`` and
        ``nodes``, one entry per signal node: ``osm_id``, ``lon``, ``lat``, ``junction`` (node
        id, ``None`` when unassigned), ``how`` or ``reason``, ``distance_m`` (to the junction
        along the road; when unassigned, to the nearest junction in a straight line, ``None``
        if there is none).
    """
    entries = []
    if signals:
        to_xy = pyproj.Transformer.from_crs(settings.geographic_crs, G.graph["crs"], always_xy=True)
        xs, ys = to_xy.transform([s.lon for s in signals], [s.lat for s in signals])
        locator = _SignalLocator(G)
        for signal, x, y in zip(signals, xs, ys, strict=True):
            place = {
                "osm_id": signal.osm_id,
                "lon": round(signal.lon, 7),
                "lat": round(signal.lat, 7),
            }
            entry = locator.assign(signal, (float(x), float(y)), snap_m, approach_m)
            entries.append({**place, **entry})
    for entry in entries:
        if entry["junction"] is not None:
            G.nodes[entry["junction"]]["signal"] = True
    reasons = Counter(e["reason"] for e in entries if e["junction"] is None)
    report["signals"] = {
        "snap_m": snap_m,
        "approach_m": approach_m,
        "osm_signal_nodes": len(signals),
        "assigned": len(entries) - sum(reasons.values()),
        "unassigned": sum(reasons.values()),
        "unassigned_by_reason": {r: reasons[r] for r in SIGNAL_REASONS if reasons[r]},
        "signalised_junctions": sum(1 for _, s in G.nodes(data="signal") if s),
        "nodes": entries,
    }


class _SignalLocator:
    """Finds the junction a signal node controls (rules in :func:`_assign_signals`)."""

    def __init__(self, G: nx.MultiDiGraph) -> None:
        self.G = G
        self.junctions = [n for n, count in G.nodes(data="street_count") if count >= 3]
        xy = [(G.nodes[n]["x"], G.nodes[n]["y"]) for n in self.junctions]
        self.junction_tree = cKDTree(np.array(xy)) if xy else None
        self.edges = list(G.edges(keys=True))
        self.edge_tree = STRtree([G.edges[e]["geometry"] for e in self.edges])

    def assign(
        self, signal: _SignalNode, xy: tuple[float, float], snap_m: float, approach_m: float
    ) -> dict[str, Any]:
        """``junction``, ``distance_m`` and ``how`` (assigned) or ``reason`` (unassigned)."""
        on_road = self.on_road(xy)
        along = self.junction_along_road(on_road, approach_m)
        if along is not None and along[1] <= snap_m:
            return {"junction": along[0], "how": "at_junction", "distance_m": round(along[1], 1)}
        if along is not None and signal.streets == 2 and not signal.pedestrian:
            return {"junction": along[0], "how": "approach", "distance_m": round(along[1], 1)}
        nearest, straight_m = self.nearest_junction(xy)
        if nearest is not None and straight_m <= snap_m:
            return {"junction": nearest, "how": "at_junction", "distance_m": round(straight_m, 1)}
        if not on_road:
            reason = "off_network"
        elif signal.pedestrian:
            reason = "pedestrian_crossing"
        elif signal.streets != 2:
            reason = "junction_lost"
        else:
            reason = "mid_block"
        distance = round(straight_m, 1) if nearest is not None else None
        return {"junction": None, "reason": reason, "distance_m": distance}

    def nearest_junction(self, xy: tuple[float, float]) -> tuple[int | None, float]:
        """The nearest junction in a straight line and its distance (``None``, inf if none)."""
        if self.junction_tree is None:
            return None, math.inf
        distance, index = self.junction_tree.query(xy)
        return self.junctions[int(index)], float(distance)

    def on_road(self, xy: tuple[float, float]) -> list[tuple[Any, Any, float]]:
        """Directed edges ``(u, v, metres from xy to v)`` whose geometry passes through ``xy``."""
        point = Point(xy)
        hits = self.edge_tree.query(point, predicate="dwithin", distance=_SIGNAL_ON_ROAD_M)
        found = []
        for i in sorted(int(i) for i in hits):
            u, v, k = self.edges[i]
            geometry = self.G.edges[u, v, k]["geometry"]
            found.append((u, v, max(geometry.length - geometry.project(point), 0.0)))
        return found

    def junction_along_road(
        self, on_road: list[tuple[Any, Any, float]], max_m: float
    ) -> tuple[int, float] | None:
        """The nearest junction reached in the direction of travel within ``max_m`` metres."""
        found = [self.downstream_junction(u, v, to_v, max_m) for u, v, to_v in on_road]
        return min((f for f in found if f is not None), key=lambda f: f[1], default=None)

    def downstream_junction(
        self, u: Any, v: Any, travelled_m: float, max_m: float
    ) -> tuple[int, float] | None:
        """Follow the road ``u → v`` on through two-road nodes to a junction within ``max_m``."""
        seen = {u}
        while travelled_m <= max_m:
            if self.G.nodes[v]["street_count"] >= 3:
                return v, travelled_m
            onward = sorted(set(self.G.successors(v)) - seen - {v})
            if len(onward) != 1:
                return None  # a dead end, or a road running back into itself
            seen.add(v)
            u, v = v, onward[0]
            travelled_m += min(d["length_m"] for d in self.G[u][v].values())
        return None


def _defaults_share(G: nx.MultiDiGraph) -> dict[str, Any]:
    edges = G.number_of_edges()
    lanes = sum(1 for *_, d in G.edges(data="defaults_applied") if "lanes" in d)
    speed = sum(1 for *_, d in G.edges(data="defaults_applied") if "speed" in d)
    return {"edges": edges, "lanes_defaulted": lanes, "speed_defaulted": speed}


def _reapply_class_defaults(G: nx.MultiDiGraph, table: Mapping[str, roadclass.RoadClass]) -> None:
    """Set lanes and speed from (overridden) class defaults where they came from defaults."""
    for _, _, data in G.edges(data=True):
        rc = table.get(data["highway"]) or table[roadclass.FALLBACK_CLASS]
        if "lanes" in data["defaults_applied"]:
            data["lanes"] = int(rc.lanes)
        if "speed" in data["defaults_applied"]:
            data["speed_kph"] = float(rc.speed_kph)


# --- summary ------------------------------------------------------------------------------


def network_summary(G: nx.MultiDiGraph) -> dict[str, Any]:
    """Key figures of a network for ``cysim map info``.

    Parameters
    ----------
    G
        A cysim network.

    Returns
    -------
    dict
        ``name``, ``crs``, ``nodes``, ``edges``, ``junctions`` (nodes where ≥ 3 roads meet),
        ``signalised_junctions``, ``km`` (length of all directed links), ``road_km`` (centre-line
        length: a two-way road counted once, each carriageway of a dual one counted),
        ``by_class`` (``{class: {"edges", "km", "road_km"}}``), ``lanes_defaulted_share``,
        ``speed_defaulted_share``, ``bbox`` (``[west, south, east, north]`` in degrees),
        ``lane_groups`` (approaches per lane-use rule,
        :func:`cysim.network.turnlanes.lane_use_counts`).
    """
    by_class: dict[str, dict[str, float]] = {}
    for _, _, data in G.edges(data=True):
        entry = by_class.setdefault(data["highway"], {"edges": 0, "km": 0.0, "road_km": 0.0})
        entry["edges"] += 1
        entry["km"] += data["length_m"] / 1000
        # a two-way road is two directed links over one centre line
        entry["road_km"] += data["length_m"] / 1000 * (1.0 if data["oneway"] else 0.5)
    order = {c: i for i, c in enumerate(roadclass.CLASS_ORDER)}
    by_class = {
        c: {"edges": int(v["edges"]), "km": round(v["km"], 3), "road_km": round(v["road_km"], 3)}
        for c, v in sorted(by_class.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))
    }
    edges = G.number_of_edges()
    defaults = _defaults_share(G)
    lons = [d["lon"] for _, d in G.nodes(data=True)]
    lats = [d["lat"] for _, d in G.nodes(data=True)]
    return {
        "name": G.graph.get("name", ""),
        "crs": G.graph.get("crs", ""),
        "nodes": len(G),
        "edges": edges,
        "junctions": sum(1 for _, c in G.nodes(data="street_count") if c >= 3),
        "signalised_junctions": sum(1 for _, s in G.nodes(data="signal") if s),
        "km": round(sum(d for *_, d in G.edges(data="length_m")) / 1000, 3),
        "road_km": round(sum(v["road_km"] for v in by_class.values()), 3),
        "by_class": by_class,
        "lanes_defaulted_share": defaults["lanes_defaulted"] / edges if edges else 0.0,
        "speed_defaulted_share": defaults["speed_defaulted"] / edges if edges else 0.0,
        "bbox": [min(lons), min(lats), max(lons), max(lats)] if lons else [],
        "lane_groups": turnlanes.lane_use_counts(G),
    }


#: How ``map info`` names the lane-use rules of :mod:`cysim.network.turnlanes`.
_LANE_RULE_LABELS = {
    "osm": "OSM turn:lanes",
    "osm_misfit": "turn:lanes not fitting (default used)",
    "exclusive_left": "default exclusive left lane (GB 50647)",
    "shared_left": "default shared left/through lane",
    "one_group": "one lane group",
    "pocket": "turn pockets",
    "none": "not split (lane_groups: none)",
}


def format_summary(summary: Mapping[str, Any]) -> str:
    """Render :func:`network_summary` as the text ``cysim map info`` prints."""
    west, south, east, north = summary["bbox"]
    lines = [
        f"map {summary['name']} ({summary['crs']})",
        f"  nodes {summary['nodes']}, directed links {summary['edges']}, "
        f"roads {summary['road_km']:.1f} km (links {summary['km']:.1f} km)",
        f"  junctions {summary['junctions']}, signalised {summary['signalised_junctions']}",
        f"  defaulted: lanes {summary['lanes_defaulted_share']:.0%} of links, "
        f"speed {summary['speed_defaulted_share']:.0%} of links",
        f"  bounding box lon {west:.5f}..{east:.5f}, lat {south:.5f}..{north:.5f}",
        "  approaches by lane use: "
        + ", ".join(
            f"{_LANE_RULE_LABELS.get(rule, rule)} {count}"
            for rule, count in summary.get("lane_groups", {}).items()
        ),
        "  by class:            links  road km  link km",
    ]
    for osm_class, values in summary["by_class"].items():
        road_km, link_km = values["road_km"], values["km"]
        lines.append(f"    {osm_class:<16} {values['edges']:>8} {road_km:>8.2f} {link_km:>8.2f}")
    return "\n".join(lines)


def format_signal_report(signals: Mapping[str, Any]) -> str:
    """Render ``load_report["signals"]`` (see :func:`_assign_signals`) for ``cysim map info``.

    Parameters
    ----------
    signals
        The ``signals`` entry of a load report; an older report without per-node entries
        gives the counts only.

    Returns
    -------
    str
        How many OSM signal nodes went to junctions and how, then every unassigned node with
        its OSM id, position and reason, grouped by reason.
    """
    nodes = signals.get("nodes", [])
    assigned = [n for n in nodes if n.get("junction") is not None]
    how = Counter(n.get("how") for n in assigned)
    lines = [
        f"  signal nodes (OSM highway=traffic_signals): {signals.get('osm_signal_nodes', 0)}, "
        f"assigned {signals.get('assigned', 0)} to "
        f"{signals.get('signalised_junctions', 0)} signalised junctions"
    ]
    if nodes:
        lines.append(
            f"    {how['at_junction']} at a junction (within {signals['snap_m']:g} m), "
            f"{how['approach']} on an approach (within {signals['approach_m']:g} m along the road)"
        )
    unassigned = [n for n in nodes if n.get("junction") is None]
    if unassigned:
        lines.append(f"  signal nodes not assigned: {len(unassigned)}")
    for reason, text in SIGNAL_REASONS.items():
        group = [n for n in unassigned if n.get("reason") == reason]
        if not group:
            continue
        lines.append(f"    {len(group)} {reason}: {text}")
        for node in group:
            osm_id = "?" if node["osm_id"] is None else node["osm_id"]
            nearest = (
                "no junction"
                if node["distance_m"] is None
                else f"nearest junction {node['distance_m']:.0f} m"
            )
            lines.append(
                f"      node {osm_id:<12} lon {node['lon']:.6f} lat {node['lat']:.6f}  {nearest}"
            )
    return "\n".join(lines)


def iter_named_roads(G: nx.MultiDiGraph) -> Iterable[tuple[str, float]]:
    """Named roads with their total directed length in metres, longest first."""
    totals: Counter[str] = Counter()
    for _, _, data in G.edges(data=True):
        if data["name"]:
            totals[data["name"]] += data["length_m"]
    return totals.most_common()
