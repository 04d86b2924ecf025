"""Small hand-built networks with the data-model attributes, for patch and locator tests."""

from __future__ import annotations

import networkx as nx
import pyproj
from shapely.geometry import LineString

from cysim.network import build as network

CRS = "EPSG:32651"
#: Projected origin of the test grid (somewhere in Chengyang), metres.
_TO_XY = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
_TO_LONLAT = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
X0, Y0 = _TO_XY.transform(120.40, 36.30)

#: node id → (x offset, y offset) in metres.
NODES: dict[int, tuple[float, float]] = {
    1: (0, 0),
    2: (500, 0),
    3: (1000, 0),
    4: (0, 500),
    5: (500, 500),
    6: (1000, 500),
    7: (500, 1000),
    8: (1500, 500),
    9: (1000, -500),
    10: (1500, 0),
}
SIGNALS = {2, 5, 6}

#: (u, v, name, highway, lanes per direction, speed, curb parking) — both directions each.
ROADS: list[tuple[int, int, str, str, int, float, bool]] = [
    (1, 2, "文阳路", "primary", 2, 50.0, False),
    (2, 3, "文阳路", "primary", 2, 50.0, False),
    (4, 5, "正阳中路", "primary", 2, 50.0, True),
    (5, 6, "正阳中路", "primary", 2, 50.0, True),
    (6, 8, "正阳东路", "primary", 2, 50.0, False),
    (2, 5, "长城路", "secondary", 2, 40.0, False),
    (5, 7, "长城路", "secondary", 2, 40.0, False),
    (1, 4, "春阳路", "secondary", 1, 40.0, False),
    (3, 6, "黑龙江路", "secondary", 1, 40.0, False),
    (3, 9, "华中路", "tertiary", 1, 30.0, False),
    (8, 10, "银河路", "tertiary", 1, 30.0, False),
]


def lonlat(node: int) -> tuple[float, float]:
    """WGS84 lon/lat of a test node."""
    dx, dy = NODES[node]
    lon, lat = _TO_LONLAT.transform(X0 + dx, Y0 + dy)
    return float(lon), float(lat)


def offset_lonlat(dx: float, dy: float) -> tuple[float, float]:
    """WGS84 lon/lat of a point ``(dx, dy)`` metres from the grid origin."""
    lon, lat = _TO_LONLAT.transform(X0 + dx, Y0 + dy)
    return float(lon), float(lat)


def _add_edge(G: nx.MultiDiGraph, u: int, v: int, attrs: dict) -> None:
    geometry = LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
    data = {
        **attrs,
        "length_m": float(geometry.length),
        "oneway": False,
        "pocket_left": 0,
        "pocket_right": 0,
        "pocket_length_m": 0.0,
        "defaults_applied": "",
        "osmid": str(1000 + u * 10 + v),
        "geometry": geometry,
    }
    data.update(
        network.link_attributes(
            data["highway"],
            data["lanes"],
            data["length_m"],
            data["speed_kph"],
            data["curb_parking"],
        )
    )
    G.add_edge(u, v, 0, **data)


def grid_graph() -> nx.MultiDiGraph:
    """A 10-junction network: 文阳路, 正阳中路/正阳东路, 长城路, a dead-end 华中路 (node 9), ….

    Signals at nodes 2, 5 and 6; curb parking on 正阳中路; every edge has both directions.
    """
    G = nx.MultiDiGraph(
        crs=CRS, name="test-grid", source="tests/helpers/graphs.py", simplified=True
    )
    G.graph["load_report"] = "{}"
    for node, (dx, dy) in NODES.items():
        lon, lat = lonlat(node)
        G.add_node(
            node,
            x=X0 + dx,
            y=Y0 + dy,
            lon=lon,
            lat=lat,
            signal=node in SIGNALS,
            junction_id=node,
            street_count=0,
            signal_cycle_s=0.0,
            signal_offset_s=0.0,
            signal_splits="",
            parking_spaces=0,
            parking_guidance=False,
        )
    for u, v, name, highway, lanes, speed, parking in ROADS:
        attrs = {
            "name": name,
            "highway": highway,
            "lanes": lanes,
            "speed_kph": speed,
            "curb_parking": parking,
        }
        _add_edge(G, u, v, attrs)
        _add_edge(G, v, u, attrs)
    for node in G.nodes:
        G.nodes[node]["street_count"] = len(set(G.predecessors(node)) | set(G.successors(node)))
    return G


def snapshot(G: nx.MultiDiGraph) -> tuple[dict, dict, dict]:
    """Graph, node and edge attributes as plain dicts (geometry as WKT) for equality checks."""
    nodes = {n: dict(d) for n, d in G.nodes(data=True)}
    edges = {
        (u, v, k): {a: (b.wkt if a == "geometry" else b) for a, b in d.items()}
        for u, v, k, d in G.edges(keys=True, data=True)
    }
    return dict(G.graph), nodes, edges
