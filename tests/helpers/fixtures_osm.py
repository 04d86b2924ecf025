"""Small OSM networks written by the tests: ways drawn in metres around a point in Chengyang."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

#: Local origin (lon, lat) in Chengyang; x east and y north in metres from here.
ORIGIN = (120.40, 36.30)
_M_PER_DEG_LAT = 111_320.0


@dataclass
class Way:
    """An OSM way: tags and its points (x, y) in metres; equal points share one node."""

    tags: dict[str, str]
    points: list[tuple[float, float]]
    node_tags: dict[int, dict[str, str]] = field(default_factory=dict)


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    """Local metres to WGS84 (equirectangular; plenty for a few km)."""
    lon0, lat0 = ORIGIN
    lat = lat0 + y_m / _M_PER_DEG_LAT
    lon = lon0 + x_m / (_M_PER_DEG_LAT * math.cos(math.radians(lat0)))
    return lon, lat


def _elements(
    ways: list[Way], node_tags: dict[tuple[float, float], dict[str, str]] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ids: dict[tuple[float, float], int] = {}
    tags_of: dict[int, dict[str, str]] = {}
    way_elements = []
    for way_index, way in enumerate(ways):
        refs = []
        for point_index, point in enumerate(way.points):
            key = (round(point[0], 3), round(point[1], 3))
            node_id = ids.setdefault(key, 1000 + len(ids))
            refs.append(node_id)
            if point_index in way.node_tags:
                tags_of.setdefault(node_id, {}).update(way.node_tags[point_index])
        way_elements.append(
            {"type": "way", "id": 500 + way_index, "nodes": refs, "tags": dict(way.tags)}
        )
    for point, tags in (node_tags or {}).items():
        key = (round(point[0], 3), round(point[1], 3))
        node_id = ids.setdefault(key, 1000 + len(ids))
        tags_of.setdefault(node_id, {}).update(tags)
    nodes = []
    for (x, y), node_id in ids.items():
        lon, lat = lonlat(x, y)
        nodes.append(
            {
                "type": "node",
                "id": node_id,
                "lat": lat,
                "lon": lon,
                "tags": tags_of.get(node_id, {}),
            }
        )
    return nodes, way_elements


def osm_xml(
    ways: list[Way], node_tags: dict[tuple[float, float], dict[str, str]] | None = None
) -> str:
    """OSM XML text of the ways (and extra tagged nodes)."""
    nodes, way_elements = _elements(ways, node_tags)
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<osm version="0.6" generator="cysim-tests">',
    ]
    for node in nodes:
        head = (
            f'  <node id="{node["id"]}" lat="{node["lat"]:.8f}" lon="{node["lon"]:.8f}" version="1"'
        )
        if node["tags"]:
            lines.append(head + ">")
            lines += [
                f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in node["tags"].items()
            ]
            lines.append("  </node>")
        else:
            lines.append(head + "/>")
    for way in way_elements:
        lines.append(f'  <way id="{way["id"]}" version="1">')
        lines += [f'    <nd ref="{ref}"/>' for ref in way["nodes"]]
        lines += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in way["tags"].items()]
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def overpass_json(
    ways: list[Way], node_tags: dict[tuple[float, float], dict[str, str]] | None = None
) -> dict[str, Any]:
    """The same data shaped like an Overpass API ``[out:json]`` response."""
    nodes, way_elements = _elements(ways, node_tags)
    for node in nodes:
        if not node["tags"]:
            del node["tags"]
    return {
        "version": 0.6,
        "generator": "Overpass API (recorded for cysim tests)",
        "osm3s": {"timestamp_osm_base": "2026-01-01T00:00:00Z"},
        "elements": nodes + way_elements,
    }


def write_osm(path: Path, ways: list[Way], node_tags: dict | None = None) -> Path:
    """Write the ways as an .osm file and return its path."""
    path.write_text(osm_xml(ways, node_tags), encoding="utf-8")
    return path


def grid(n: int = 3, spacing: float = 200.0) -> list[Way]:
    """An n×n grid of two-way streets: rows 主干路 (primary, 2+2 lanes), columns residential."""
    ways = []
    extent = spacing * (n - 1)
    for i in range(n):
        row = [(x * spacing, i * spacing) for x in range(n)]
        ways.append(
            Way({"highway": "primary", "name": f"正阳路{i}", "lanes": "4", "maxspeed": "50"}, row)
        )
        column = [(i * spacing, y * spacing) for y in range(n)]
        ways.append(Way({"highway": "residential", "name": f"支路{i}"}, column))
    assert extent > 0
    return ways


def dual_carriageway_crossing(half_gap: float = 8.0, arm: float = 300.0) -> tuple[list[Way], dict]:
    """Two dual carriageways crossing at the origin, four signal nodes ~16 m apart.

    East-west 长城路 runs eastbound at y = -half_gap and westbound at y = +half_gap; north-south
    春阳路 runs northbound at x = +half_gap and southbound at x = -half_gap (right-hand traffic).
    The far ends of each pair are joined by short two-way U-turn links so the network is strongly
    connected. Each carriageway carries a signal at its crossing nodes, and one approach has an
    extra signal 10 m before the junction.
    """
    g = half_gap
    ew = {"highway": "primary", "name": "长城路", "oneway": "yes", "lanes": "3"}
    ns = {"highway": "secondary", "name": "春阳路", "oneway": "yes", "lanes": "2"}
    ways = [
        Way(ew, [(-arm, -g), (-g - 10, -g), (-g, -g), (g, -g), (arm, -g)]),
        Way(ew, [(arm, g), (g, g), (-g, g), (-arm, g)]),
        Way(ns, [(g, -arm), (g, -g), (g, g), (g, arm)]),
        Way(ns, [(-g, arm), (-g, g), (-g, -g), (-g, -arm)]),
    ]
    uturn = {"highway": "tertiary", "name": "掉头"}
    ways += [
        Way(uturn, [(-arm, g), (-arm, -g)]),
        Way(uturn, [(arm, -g), (arm, g)]),
        Way(uturn, [(g, arm), (-g, arm)]),
        Way(uturn, [(-g, -arm), (g, -arm)]),
    ]
    signal = {"highway": "traffic_signals"}
    node_tags = {(-g, -g): signal, (g, -g): signal, (g, g): signal, (-g, g): signal}
    node_tags[(-g - 10, -g)] = signal
    return ways, node_tags
