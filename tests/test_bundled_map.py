"""The bundled schematic map maps/chengyang-arterials.osm: size, names, boundary, gaps, rebuild."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
from conftest import BUNDLED_MAP, PROJECT_ROOT
from shapely.geometry import Point, shape

from cysim.network.build import load_network

BUILDER = PROJECT_ROOT / "maps" / "build_chengyang_arterials.py"

# Every road the 2021 report names (交通治堵工程) and the district's main arterials.
REQUIRED_NAMES = [
    "文阳路", "岙东路", "华中路", "中车大道", "银河路", "黑龙江路", "黑龙江路上桥匝道",
    "长城路", "春阳路", "中城路", "204国道", "双元路", "青威路", "重庆北路", "兴阳路", "明阳路",
    "崇阳路", "王沙路", "书院路", "青大一路", "沈海高速", "青银高速", "胶州湾高速",
]  # fmt: skip
# Roads that real OSM splits into segments; one segment is enough.
REQUIRED_ANY = {"正阳路": {"正阳西路", "正阳中路", "正阳东路"}, "仙山路": {"仙山西路", "仙山东路"}}
CURB_PARKING = {"明阳路", "崇阳路", "华城路", "和阳路", "山城路", "荟城路"}
# Ends of the unbuilt stretches documented in maps/README.md: (road, lon, lat).
GAP_DEAD_ENDS = [("岙东路", 120.2668, 36.3150), ("岙东路", 120.2658, 36.3280),
                 ("德阳路", 120.3995, 36.3240), ("泰城路", 120.4085, 36.3160)]  # fmt: skip
GAP_JUNCTIONS = {  # road -> the two junctions between which it is missing
    "华中路": ((120.2862, 36.2962), (120.2860, 36.3112)),
    "中车大道": ((120.2650, 36.3320), (120.2320, 36.3360)),
    "银河路": ((120.4460, 36.2700), (120.4600, 36.2700)),
}


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    """The map loaded through cysim's OSM code path, as every scenario loads it."""
    return load_network(BUNDLED_MAP)


@pytest.fixture(scope="module")
def osm() -> ET.Element:
    return ET.parse(BUNDLED_MAP).getroot()


def _ways(osm: ET.Element) -> list[tuple[list[str], dict[str, str]]]:
    return [
        ([nd.get("ref") for nd in w.iter("nd")], {t.get("k"): t.get("v") for t in w.iter("tag")})
        for w in osm.iter("way")
    ]


def _nearest_node(G: nx.MultiDiGraph, lon: float, lat: float) -> tuple[int, float]:
    """Graph node nearest to lon/lat and its distance in metres (equirectangular)."""
    k = math.cos(math.radians(lat))

    def dist(n: int) -> float:
        d = G.nodes[n]
        return 111_200 * math.hypot((d["lon"] - lon) * k, d["lat"] - lat)

    node = min(G.nodes, key=dist)
    return node, dist(node)


def test_file_is_osm_06_with_bounds_and_small(osm: ET.Element) -> None:
    assert osm.tag == "osm"
    assert osm.get("version") == "0.6"
    assert osm.get("generator") == "cysim schematic"
    bounds = osm.find("bounds")
    assert bounds is not None
    lats = [float(n.get("lat")) for n in osm.iter("node")]
    assert float(bounds.get("minlat")) == pytest.approx(min(lats), abs=1e-7)
    assert float(bounds.get("maxlat")) == pytest.approx(max(lats), abs=1e-7)
    assert BUNDLED_MAP.stat().st_size < 2_000_000
    ids = [int(n.get("id")) for n in osm.iter("node")] + [int(w.get("id")) for w in osm.iter("way")]
    assert min(ids) >= 9_000_000_000
    assert len(ids) == len(set(ids))


def test_header_says_schematic_and_how_to_replace_it() -> None:
    head = BUNDLED_MAP.read_text(encoding="utf-8")[:4000]
    comment = head[head.index("<!--") : head.index("-->")]
    for phrase in ("SCHEMATIC", "approximate", "NOT surveyed", "示意图", "近似", "cysim map fetch"):
        assert phrase in comment, phrase
    readme = (PROJECT_ROOT / "maps" / "README.md").read_text(encoding="utf-8")
    for phrase in ("schematic", "approximate", "示意图", "近似", "cysim map fetch"):
        assert phrase in readme, phrase


def test_size_signals_and_strong_connectivity(graph: nx.MultiDiGraph) -> None:
    junctions = [n for n, count in graph.nodes(data="street_count") if count >= 3]
    signals = [n for n, s in graph.nodes(data="signal") if s]
    assert len(junctions) >= 300
    assert len(signals) >= 40
    assert set(signals) <= set(junctions)
    largest = max(nx.strongly_connected_components(graph), key=len)
    assert len(largest) == graph.number_of_nodes()
    report = json.loads(graph.graph.get("load_report", "{}"))
    if "largest_scc" in report:  # what cysim dropped before keeping the largest component
        assert report["largest_scc"]["nodes_dropped"] <= 0.05 * graph.number_of_nodes()


def test_required_road_names_present(graph: nx.MultiDiGraph) -> None:
    names = {d["name"] for *_, d in graph.edges(data=True) if d.get("name")}
    missing = [n for n in REQUIRED_NAMES if n not in names]
    missing += [k for k, variants in REQUIRED_ANY.items() if not names & variants]
    assert not missing


def test_all_nodes_inside_the_district(osm: ET.Element, shared_data: Path) -> None:
    data = json.loads((shared_data / "chengyang" / "boundary_wgs84.geojson").read_text("utf-8"))
    district = shape(data["features"][0]["geometry"])
    outside = [
        (n.get("lon"), n.get("lat"))
        for n in osm.iter("node")
        if not district.contains(Point(float(n.get("lon")), float(n.get("lat"))))
    ]
    assert outside == []


def test_tags_look_like_real_osm(osm: ET.Element) -> None:
    ways = _ways(osm)
    classes = {t["highway"] for _, t in ways}
    assert {"motorway", "motorway_link", "trunk", "trunk_link", "primary", "secondary"} <= classes
    assert {"tertiary", "unclassified", "residential"} <= classes
    refs = {t.get("ref") for _, t in ways}
    assert {"G15", "G20", "G204"} <= refs
    for refs, t in ways:
        if t["highway"] in {"motorway_link", "trunk_link"}:
            assert t.get("oneway") == "yes", t
        if t["highway"] == "motorway" and t.get("oneway") != "yes":
            assert t["oneway"] == "no" and len(refs) == 2, t  # the short tail at an open end
    with_speed = sum("maxspeed" in t for _, t in ways)
    assert 0 < with_speed < len(ways)  # most main roads tagged, local streets left to defaults
    assert any("lanes:forward" in t for _, t in ways)
    (ramp,) = [t for _, t in ways if t.get("name") == "黑龙江路上桥匝道"]
    assert ramp["highway"] in {"trunk_link", "motorway_link"} and ramp["lanes"] == "1"
    wenyang = [t for _, t in ways if t.get("name") == "文阳路"]
    assert wenyang and all(t["highway"] == "secondary" and t["lanes"] == "4" for t in wenyang)
    parked = {t["name"] for _, t in ways if t.get("parking:lane:both") == "parallel"}
    assert parked == CURB_PARKING


def test_motorways_are_grade_separated(osm: ET.Element) -> None:
    """A motorway shares nodes only with motorway ways and ramps, never with a street below it."""
    motorway_nodes: set[str] = set()
    street_nodes: set[str] = set()
    for refs, t in _ways(osm):
        if t["highway"] == "motorway":
            motorway_nodes.update(refs)
        elif not t["highway"].endswith("_link"):
            street_nodes.update(refs)
    assert motorway_nodes
    assert not motorway_nodes & street_nodes


def test_curb_parking_reaches_the_graph(graph: nx.MultiDiGraph) -> None:
    parked = {d["name"] for *_, d in graph.edges(data=True) if d["curb_parking"]}
    assert parked == CURB_PARKING


def test_documented_gaps_are_open_ends(graph: nx.MultiDiGraph) -> None:
    for road, lon, lat in GAP_DEAD_ENDS:
        node, dist = _nearest_node(graph, lon, lat)
        assert dist < 30, (road, dist)
        neighbours = set(graph.successors(node)) | set(graph.predecessors(node))
        assert len(neighbours) == 1, road  # a dead end
        assert any(d["name"] == road for *_, d in graph.edges(node, data=True)), road
    for road, (a, b) in GAP_JUNCTIONS.items():
        end_a, dist_a = _nearest_node(graph, *a)
        end_b, dist_b = _nearest_node(graph, *b)
        assert dist_a < 30 and dist_b < 30, road
        # Both gap ends lie on the road, but the road itself does not join them.
        on_road = graph.edge_subgraph(
            [(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if d["name"] == road]
        )
        assert end_a in on_road and end_b in on_road, road
        assert not nx.has_path(on_road.to_undirected(), end_a, end_b), road


def test_builder_is_deterministic(tmp_path: Path) -> None:
    out = tmp_path / "rebuilt.osm"
    subprocess.run(
        [sys.executable, str(BUILDER), "--output", str(out)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    assert out.read_bytes() == BUNDLED_MAP.read_bytes()
