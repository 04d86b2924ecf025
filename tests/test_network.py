"""cysim.network.build: every format, the graph contract, consolidation, signals, GraphML."""

from __future__ import annotations

import bz2
import json
import math
from pathlib import Path

import networkx as nx
import osmium
import osmnx as ox
import pytest
from helpers.fixtures_osm import Way, dual_carriageway_crossing, grid, write_osm
from shapely.geometry import LineString

from cysim import settings
from cysim._errors import MapError
from cysim.network import build as network

REAL_EXTRACTS = ["tempe-asu.osm", "West-Oakland.osm.bz2", "munich-small.osm"]
POSITIVE_EDGE = [
    "length_m",
    "lanes",
    "speed_kph",
    "capacity_vph",
    "saturation_flow_vphpl",
    "storage_veh",
]


@pytest.fixture(scope="session")
def real_networks(shared_data: Path) -> dict[str, nx.MultiDiGraph]:
    """Each real extract loaded once per test session."""
    return {name: network.load_network(shared_data / "osm" / name) for name in REAL_EXTRACTS}


@pytest.fixture(scope="module")
def dual(tmp_path_factory: pytest.TempPathFactory) -> nx.MultiDiGraph:
    ways, node_tags = dual_carriageway_crossing()
    path = write_osm(tmp_path_factory.mktemp("dual") / "dual.osm", ways, node_tags)
    return network.load_network(path)


def assert_contract(G: nx.MultiDiGraph) -> None:
    """Exactly the data-model attributes, with their types, finite and positive where stated."""
    assert set(G.graph) == set(network.GRAPH_ATTRS)
    assert G.graph["simplified"] is True
    report = json.loads(G.graph["load_report"])
    assert "largest_scc" in report
    assert nx.is_strongly_connected(G)
    for node, data in G.nodes(data=True):
        assert isinstance(node, int)
        assert set(data) == set(network.NODE_ATTRS), node
        for key, kind in network.NODE_ATTRS.items():
            assert type(data[key]) is kind, (node, key, data[key])
        assert data["junction_id"] == node
        assert all(math.isfinite(data[k]) for k in ("x", "y", "lon", "lat"))
        assert -180 <= data["lon"] <= 180 and -90 <= data["lat"] <= 90
    for u, v, key, data in G.edges(keys=True, data=True):
        assert set(data) == set(network.EDGE_ATTRS), (u, v, key)
        for attr, kind in network.EDGE_ATTRS.items():
            assert isinstance(data[attr], kind), (u, v, attr, data[attr])
            if kind in (int, float):
                assert type(data[attr]) is kind, (u, v, attr)
        for attr in POSITIVE_EDGE:
            assert math.isfinite(data[attr]) and data[attr] > 0, (u, v, attr, data[attr])
        assert data["length_m"] >= settings.min_link_length_m
        assert data["geometry"].length == pytest.approx(data["length_m"])
        start, end = data["geometry"].coords[0], data["geometry"].coords[-1]
        assert start == pytest.approx((G.nodes[u]["x"], G.nodes[u]["y"]))
        assert end == pytest.approx((G.nodes[v]["x"], G.nodes[v]["y"]))
        assert set(filter(None, data["defaults_applied"].split(","))) <= {"lanes", "speed"}
        assert u != v


@pytest.mark.parametrize("name", REAL_EXTRACTS)
def test_real_extracts_load_with_the_contract(real_networks, name) -> None:
    G = real_networks[name]
    assert len(G) >= 5
    assert_contract(G)
    assert G.graph["source"].endswith(name)


def test_tempe_tags_signals_and_projection(real_networks) -> None:
    G = real_networks["tempe-asu.osm"]
    report = json.loads(G.graph["load_report"])
    assert report["osm_nodes"] == 15175
    assert report["signals"]["osm_signal_nodes"] == 39  # of the 45 in the file, 39 lie on roads
    assert sum(1 for _, s in G.nodes(data="signal") if s) >= 4
    assert G.graph["crs"] == "EPSG:32612"  # Arizona is far outside UTM 51N: its own zone
    assert "EPSG:32612" in report["crs_note"]
    classes = {d["highway"] for *_, d in G.edges(data=True)}
    assert {"primary", "secondary", "residential"} <= classes
    tagged = [d for *_, d in G.edges(data=True) if d["defaults_applied"] == ""]
    assert tagged and any(d["lanes"] >= 2 for d in tagged)
    # lengths are true metres: the network spans about 2 km north-south
    south = min(d["lat"] for _, d in G.nodes(data=True))
    north = max(d["lat"] for _, d in G.nodes(data=True))
    assert 1.5 < (north - south) * 111.3 < 2.5
    assert report["largest_scc"]["nodes_dropped"] > 0  # the extract has disconnected fragments


def test_dual_carriageway_crossing_is_one_signalised_junction(dual) -> None:
    assert_contract(dual)
    junctions = [n for n, c in dual.nodes(data="street_count") if c >= 3]
    assert len(junctions) == 1
    (junction,) = junctions
    assert dual.nodes[junction]["signal"] is True
    assert dual.nodes[junction]["street_count"] == 4
    assert len(dual) == 5  # the junction and four arm ends (each U-turn pair merged too)
    assert sum(1 for _, s in dual.nodes(data="signal") if s) == 1
    report = json.loads(dual.graph["load_report"])
    signals = {k: v for k, v in report["signals"].items() if k != "nodes"}
    assert signals == {
        "snap_m": 24.0,
        "approach_m": settings.signal_approach_m,
        "osm_signal_nodes": 5,
        "assigned": 5,
        "unassigned": 0,
        "unassigned_by_reason": {},
        "signalised_junctions": 1,
    }
    # the four crossing nodes are in the junction's cluster, the fifth 10 m before it
    hows = sorted(n["how"] for n in report["signals"]["nodes"])
    assert hows == ["at_junction"] * 5
    assert all(n["junction"] == junction for n in report["signals"]["nodes"])
    assert dual.graph["crs"] == "EPSG:32651"
    assert dual.nodes[junction]["lon"] == pytest.approx(120.40, abs=1e-4)
    assert dual.nodes[junction]["lat"] == pytest.approx(36.30, abs=1e-4)
    for _, _, data in dual.edges(junction, data=True):
        assert data["oneway"] is True
        assert data["lanes"] == (3 if data["name"] == "长城路" else 2)
        assert data["defaults_applied"] == "speed"
        assert data["length_m"] == pytest.approx(300, abs=15)


def test_without_consolidation_the_crossing_stays_four_nodes(tmp_path) -> None:
    ways, node_tags = dual_carriageway_crossing()
    G = network.load_network(
        write_osm(tmp_path / "d.osm", ways, node_tags), consolidation_tolerance_m=0
    )
    assert sum(1 for _, c in G.nodes(data="street_count") if c >= 3) == 4
    assert sum(1 for _, s in G.nodes(data="signal") if s) == 4


def test_grade_separated_ramp_is_not_merged_into_the_junction(tmp_path) -> None:
    """A motorway passes 20 m north of a surface junction on a bridge; its loop ramp (150 m)
    comes down into the junction. The motorway diverge node must stay its own node."""
    ways, node_tags = dual_carriageway_crossing()
    motorway = {"highway": "motorway", "name": "青银高速", "oneway": "no", "lanes": "3"}
    link = {"highway": "motorway_link", "oneway": "yes"}
    ways += [
        Way(motorway, [(-600, 20), (0, 20), (600, 20)]),
        # loop ramp from the diverge at (0, 20) round to the junction's north-east node (8, 8)
        Way(link, [(0, 20), (40, 60), (80, 40), (60, 0), (30, 8), (8, 8)]),
        # ramps joining the motorway ends to the surface road ends keep it strongly connected
        Way({"highway": "motorway_link", "oneway": "no"}, [(-600, 20), (-300, 8)]),
        Way({"highway": "motorway_link", "oneway": "no"}, [(600, 20), (300, -8)]),
    ]
    G = network.load_network(write_osm(tmp_path / "ramp.osm", ways, node_tags))
    assert_contract(G)
    junction = max(G.nodes, key=lambda n: G.nodes[n]["street_count"])
    motorway_nodes = {u for u, v, d in G.edges(data=True) if d["highway"] == "motorway"}
    assert junction not in motorway_nodes
    jx, jy = G.nodes[junction]["x"], G.nodes[junction]["y"]
    diverge = [
        n for n in motorway_nodes if math.dist((G.nodes[n]["x"], G.nodes[n]["y"]), (jx, jy)) < 30
    ]
    assert len(diverge) == 1
    assert G.has_edge(diverge[0], junction)
    assert G.edges[diverge[0], junction, 0]["highway"] == "motorway_link"
    assert G.edges[diverge[0], junction, 0]["length_m"] > 100
    assert G.nodes[junction]["signal"] is True


def test_short_links_are_merged_and_reported(tmp_path) -> None:
    ways = grid(2, 200.0)
    ways.append(
        Way({"highway": "residential", "name": "短路"}, [(200, 200), (203, 200), (400, 200)])
    )
    ways.append(Way({"highway": "residential", "name": "短支"}, [(203, 200), (203, 400)]))
    G = network.load_network(write_osm(tmp_path / "short.osm", ways), consolidation_tolerance_m=0)
    report = json.loads(G.graph["load_report"])
    assert report["short_links_merged"] == 2  # the 3 m link, both directions
    assert_contract(G)


def test_ways_with_missing_nodes_are_cut_not_fatal(tmp_path) -> None:
    """An extract cut at its bounding box: a way refers to nodes the file lacks."""
    ways = grid(3, 200.0)
    ways.append(Way({"highway": "primary", "name": "出界路"}, [(400, 200), (600, 200), (800, 200)]))
    path = write_osm(tmp_path / "cut.osm", ways)
    lines = path.read_text().splitlines()
    node_ids = [line.split('"')[1] for line in lines if line.strip().startswith("<node")]
    last = node_ids[-1]  # (800, 200): the way's far end lies outside the extract
    path.write_text("\n".join(line for line in lines if f'node id="{last}"' not in line))
    G = network.load_network(path)
    report = json.loads(G.graph["load_report"])
    assert report["way_nodes_missing"] == 1
    assert report["ways_cut_at_missing_nodes"] == 1
    assert any(d["name"] == "出界路" for *_, d in G.edges(data=True))
    assert_contract(G)


def test_scc_keeps_largest_component_and_reports_the_rest(tmp_path) -> None:
    ways = grid(3, 200.0)
    # a one-way spur leading out of the grid cannot come back: dropped and reported
    ways.append(
        Way({"highway": "tertiary", "oneway": "yes", "name": "出城路"}, [(400, 400), (700, 700)])
    )
    # and an island far away
    ways.append(Way({"highway": "residential", "name": "孤岛"}, [(2000, 2000), (2300, 2000)]))
    G = network.load_network(write_osm(tmp_path / "scc.osm", ways))
    report = json.loads(G.graph["load_report"])["largest_scc"]
    assert len(G) == 9
    assert report["nodes_dropped"] == 3
    assert report["components_dropped"] == 2
    assert report["edges_dropped"] == 3
    assert report["km_dropped"] == pytest.approx((300 * math.sqrt(2) + 2 * 300) / 1000, rel=0.02)


def test_tags_become_link_attributes(tmp_path) -> None:
    ways = grid(2, 200.0)
    ways.append(Way({"highway": "secondary", "name": "停车路", "maxspeed": "30 mph",
                     "parking:lane:both": "parallel", "lanes": "3", "lanes:forward": "2"},
                    [(0, 200), (0, 400), (200, 400), (200, 200)]))  # fmt: skip
    ways.append(Way({"highway": "tertiary", "name": "怪路", "maxspeed": "CN:urban"},
                    [(200, 0), (400, 0), (400, 200), (200, 200)]))  # fmt: skip
    G = network.load_network(write_osm(tmp_path / "tags.osm", ways))
    parked = [d for *_, d in G.edges(data=True) if d["name"] == "停车路"]
    assert {d["lanes"] for d in parked} == {1, 2}
    assert all(d["curb_parking"] for d in parked)
    assert all(d["speed_kph"] == pytest.approx(48.28032) for d in parked)
    two_lane = next(d for d in parked if d["lanes"] == 2)
    expected = network.link_attributes("secondary", 2, two_lane["length_m"], 48.28032, True)
    assert two_lane["capacity_vph"] == pytest.approx(expected["capacity_vph"])
    assert two_lane["capacity_vph"] == pytest.approx(
        2 * 1691.4016 * 0.85, rel=1e-4
    )  # CJJ 37 at 48.3 km/h
    odd = [d for *_, d in G.edges(data=True) if d["name"] == "怪路"]
    assert all(d["speed_kph"] == 30.0 and d["defaults_applied"] == "lanes,speed" for d in odd)
    report = json.loads(G.graph["load_report"])
    assert any("CN:urban" in message for message in report["tag_warnings"])
    summary = network.network_summary(G)
    assert 0 < summary["speed_defaulted_share"] < 1


def test_link_attributes_formula() -> None:
    base = network.link_attributes("primary", 2, 100.0, 50.0, False)
    assert base == pytest.approx(
        {"capacity_vph": 3400.0, "saturation_flow_vphpl": 1800.0, "storage_veh": 200 / 7.5}
    )
    parked = network.link_attributes("primary", 2, 100.0, 50.0, True)
    assert parked["capacity_vph"] == pytest.approx(3400 * 0.85)
    assert parked["saturation_flow_vphpl"] == pytest.approx(1800 * 0.85)
    pockets = network.link_attributes("primary", 2, 100.0, 50.0, False, 1, 1, 40.0)
    assert pockets["storage_veh"] == pytest.approx((200 + 80) / 7.5)
    assert network.link_attributes("residential", 1, 5.0, 30.0, False)["storage_veh"] == 1.0
    override = {"primary": {"capacity_vphpl": 1500, "jam_spacing_m": 10.0}}
    custom = network.link_attributes("primary", 2, 100.0, 50.0, False, overrides=override)
    assert custom["capacity_vph"] == 3000.0
    assert custom["storage_veh"] == 20.0


def test_derive_link_attributes_follows_lane_changes(dual) -> None:
    G = dual.copy()
    u, v, k = next(iter(G.edges(keys=True)))
    before = G.edges[u, v, k]["capacity_vph"]
    G.edges[u, v, k]["lanes"] += 1
    network.derive_link_attributes(G)
    lanes = G.edges[u, v, k]["lanes"]
    assert G.edges[u, v, k]["capacity_vph"] == pytest.approx(before * lanes / (lanes - 1))


def test_overrides_change_defaulted_speeds(tmp_path) -> None:
    path = write_osm(tmp_path / "g.osm", grid(2, 200.0))
    G = network.load_network(
        path, road_class_overrides={"residential": {"speed_kph": 20, "lanes": 2}}
    )
    residential = [d for *_, d in G.edges(data=True) if d["highway"] == "residential"]
    assert all(d["speed_kph"] == 20.0 and d["lanes"] == 2 for d in residential)
    primary = [d for *_, d in G.edges(data=True) if d["highway"] == "primary"]
    assert all(d["speed_kph"] == 50.0 and d["lanes"] == 2 for d in primary)  # from tags
    summary = network.network_summary(G)
    assert summary["road_km"] == pytest.approx(summary["km"] / 2, abs=2e-3)  # two-way streets
    assert summary["road_km"] == pytest.approx(0.8, rel=0.01)  # 2×2 grid, 200 m blocks


def test_graphml_round_trip_keeps_values_and_types(real_networks, dual, tmp_path) -> None:
    for G in (dual, real_networks["West-Oakland.osm.bz2"]):
        G = G.copy()
        first = next(iter(G.nodes))
        G.nodes[first].update(signal_splits="[0.5, 0.5]", parking_spaces=120, parking_guidance=True)
        path = network.save_graphml(G, tmp_path / "sub" / "net.graphml")
        assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left
        H = network.load_graphml(path)
        assert_contract(H)
        assert H.graph == G.graph
        assert dict(H.nodes(data=True)) == dict(G.nodes(data=True))
        assert sorted(H.edges(keys=True)) == sorted(G.edges(keys=True))
        for u, v, k, data in G.edges(keys=True, data=True):
            other = H.edges[u, v, k]
            assert other["geometry"].equals_exact(data["geometry"], 1e-6)
            assert {a: other[a] for a in data if a != "geometry"} == {
                a: data[a] for a in data if a != "geometry"
            }
        assert network.load_network(path).graph == G.graph  # load_network reads GraphML too


def test_graphml_load_with_overrides_rederives(dual, tmp_path) -> None:
    path = network.save_graphml(dual, tmp_path / "d.graphml")
    G = network.load_network(path, road_class_overrides={"primary": {"speed_kph": 40}})
    primary = [d for *_, d in G.edges(data=True) if d["highway"] == "primary"]
    assert all(d["speed_kph"] == 40.0 for d in primary)  # speed was defaulted
    assert all(d["capacity_vph"] == pytest.approx(3 * 1650) for d in primary)


def test_pbf_and_bz2_load_like_xml(dual, tmp_path) -> None:
    ways, node_tags = dual_carriageway_crossing()
    xml = write_osm(tmp_path / "d.osm", ways, node_tags)
    pbf = tmp_path / "d.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(xml)):
            writer.add(obj)
    compressed = tmp_path / "d.osm.bz2"
    compressed.write_bytes(bz2.compress(xml.read_bytes()))
    for path in (pbf, compressed):
        G = network.load_network(path)
        assert len(G) == len(dual)
        assert G.number_of_edges() == dual.number_of_edges()
        assert [d["signal"] for _, d in G.nodes(data=True)] == [
            d["signal"] for _, d in dual.nodes(data=True)
        ]


def test_loading_is_deterministic(shared_data) -> None:
    path = shared_data / "osm" / "West-Oakland.osm.bz2"
    a, b = network.load_network(path), network.load_network(path)
    assert dict(a.nodes(data=True)) == dict(b.nodes(data=True))
    assert [
        (u, v, k, d["length_m"], d["osmid"]) for u, v, k, d in a.edges(keys=True, data=True)
    ] == [(u, v, k, d["length_m"], d["osmid"]) for u, v, k, d in b.edges(keys=True, data=True)]


# --- errors -------------------------------------------------------------------------------


def _bad_files(tmp: Path, shared: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp / "empty.osm"
    empty.write_bytes(b"")
    truncated = tmp / "truncated.osm"
    truncated.write_bytes((shared / "osm" / "tempe-asu.osm").read_bytes()[:200_000])
    binary = tmp / "binary.osm"
    binary.write_bytes(bytes(range(256)) * 20)
    html = tmp / "page.osm"
    html.write_text("<html><body>not a map</body></html>")
    pbf = tmp / "bad.osm.pbf"
    pbf.write_bytes(b"\x00\x00\x00\x0dnot really a pbf file at all")
    footways = write_osm(tmp / "footways.osm", [Way({"highway": "footway"}, [(0, 0), (100, 0)])])
    return {
        "missing": (tmp / "nope.osm", "not found"),
        "empty": (empty, "empty"),
        "truncated": (truncated, "truncated"),
        "binary": (binary, "not OSM"),
        "html": (html, "not OSM|no OSM ways"),
        "pbf": (pbf, "not OSM"),
        "suffix": (tmp / "map.png", "not found|unsupported"),
        "no roads": (footways, "no drivable roads"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "empty", "truncated", "binary", "html", "pbf", "suffix", "no roads"]
)
def test_bad_map_files_raise_map_error(case, tmp_path, shared_data) -> None:
    path, message = _bad_files(tmp_path, shared_data)[case]
    with pytest.raises(MapError, match=message) as caught:
        network.load_network(path)
    assert str(path) in str(caught.value)
    assert caught.value.hint


def test_unsupported_suffix_is_named(tmp_path) -> None:
    path = tmp_path / "map.png"
    path.write_bytes(b"\x89PNG")
    with pytest.raises(MapError, match=r"unsupported map file type '\.png'"):
        network.load_network(path)


def test_foreign_or_broken_graphml_raises_map_error(tmp_path) -> None:
    G = ox.graph_from_xml(write_osm(tmp_path / "g.osm", grid(2, 200.0)))
    foreign = tmp_path / "osmnx.graphml"
    ox.save_graphml(G, foreign)
    with pytest.raises(MapError, match=r"graph attribute '.*' is missing|lacks attribute"):
        network.load_network(foreign)
    broken = tmp_path / "broken.graphml"
    broken.write_text(foreign.read_text()[:500])
    with pytest.raises(MapError, match="cannot read GraphML"):
        network.load_network(broken)


def test_graphml_with_a_missing_edge_attribute(dual, tmp_path) -> None:
    G = dual.copy()
    u, v, k = next(iter(G.edges(keys=True)))
    del G.edges[u, v, k]["lanes"]
    path = network.save_graphml(G, tmp_path / "x.graphml")
    with pytest.raises(MapError, match=r"lacks attribute\(s\) lanes"):
        network.load_graphml(path)


def test_summary_of_the_dual_crossing(dual) -> None:
    summary = network.network_summary(dual)
    assert summary["junctions"] == 1
    assert summary["signalised_junctions"] == 1
    assert summary["by_class"]["primary"]["edges"] == 4
    assert summary["by_class"]["secondary"]["edges"] == 4
    assert summary["km"] == pytest.approx(2.49, abs=0.1)
    assert summary["road_km"] == summary["km"]  # every carriageway is one-way
    assert summary["lanes_defaulted_share"] == 0.0
    assert summary["speed_defaulted_share"] == 1.0
    west, south, east, north = summary["bbox"]
    assert west < 120.40 < east and south < 36.30 < north
    text = network.format_summary(summary)
    assert "junctions 1, signalised 1" in text and "primary" in text
    assert isinstance(LineString([(0, 0), (1, 1)]), LineString)
