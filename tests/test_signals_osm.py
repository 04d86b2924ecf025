"""Signals where OSM puts them (issue 18): signal nodes to junctions, robust approach bearings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx
import osmium
import pytest
from conftest import BUNDLED_MAP
from helpers.fixtures_osm import Way, lonlat, write_osm
from helpers.simnets import add_link, add_node, new_graph
from shapely.geometry import LineString
from typer.testing import CliRunner

from cysim.cli import app
from cysim.control import signals
from cysim.network import build as network

#: Approach axes differing by more than this are crossing streets: never in one phase.
CONFLICT_DEG = 45.0
PRIMARY = {"highway": "primary", "name": "长城路", "lanes": "4"}
BRANCH = {"highway": "residential", "name": "春阳路"}
SIGNAL = {"highway": "traffic_signals"}
PEDESTRIAN = {"highway": "traffic_signals", "traffic_signals": "pedestrian_crossing"}


@pytest.fixture(scope="module")
def tempe_path(shared_data: Path) -> Path:
    path = shared_data / "osm" / "tempe-asu.osm"
    if not path.is_file():
        pytest.skip(f"real OSM extract {path} is absent (it sits in ../shared/data/osm)")
    return path


@pytest.fixture(scope="module")
def tempe(tempe_path: Path) -> nx.MultiDiGraph:
    return network.load_network(tempe_path)


def _signals(G: nx.MultiDiGraph) -> dict:
    return json.loads(G.graph["load_report"])["signals"]


def _signal_ids_on_drivable_ways(path: Path) -> set[int]:
    """OSM ids of the traffic_signals nodes on drivable ways, read independently with osmium."""
    signal_ids = {
        n.id
        for n in osmium.FileProcessor(str(path), osmium.osm.NODE)
        if n.tags.get("highway") == "traffic_signals"
    }
    on_roads: set[int] = set()
    for way in osmium.FileProcessor(str(path), osmium.osm.WAY):
        if network.is_drivable(way.tags):
            on_roads.update(n.ref for n in way.nodes if n.ref in signal_ids)
    return on_roads


# --- (a) every signal node of the Tempe extract is assigned or explained --------------------


def test_tempe_every_signal_node_is_assigned_or_explained(tempe, tempe_path) -> None:
    """All 39 signal nodes on drivable ways are listed; 8 go to the 5 signalised junctions.

    The other 31 cannot control a junction of this network: 22 lie on roads outside the
    largest strongly connected part (the extract cuts its arterials into fragments), 5 sit at a
    junction or road end whose other roads the extract cuts off or the load drops, and 4 are
    mid-block pedestrian lights. No signal node of the kept roads lies on an approach beyond
    the junction's 24 m consolidation radius, so the approach rule adds none here (the
    synthetic tests below exercise it).
    """
    report = _signals(tempe)
    nodes = report["nodes"]
    assert {n["osm_id"] for n in nodes} == _signal_ids_on_drivable_ways(tempe_path)
    assert len(nodes) == report["osm_signal_nodes"] == 39
    for node in nodes:
        if node["junction"] is None:
            assert node["reason"] in network.SIGNAL_REASONS, node
        else:
            assert node["how"] in {"at_junction", "approach"}, node
            assert tempe.nodes[node["junction"]]["signal"] is True
            assert tempe.nodes[node["junction"]]["street_count"] >= 3
            assert node["distance_m"] <= report["approach_m"]
    assert report["assigned"] == 8
    assert report["unassigned"] == 31
    assert report["unassigned_by_reason"] == {
        "off_network": 22,
        "pedestrian_crossing": 4,
        "junction_lost": 5,
    }
    signalised = {n for n, s in tempe.nodes(data="signal") if s}
    assert report["signalised_junctions"] == len(signalised) == 5
    assert signalised == {n["junction"] for n in nodes if n["junction"] is not None}


def test_tempe_map_info_lists_unassigned_signals(tempe_path) -> None:
    result = CliRunner().invoke(app, ["map", "info", str(tempe_path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "signal nodes (OSM highway=traffic_signals): 39, assigned 8 to 5 signalised" in out
    assert "signal nodes not assigned: 31" in out
    assert "4 pedestrian_crossing:" in out
    assert "node 317327702    lon -111.930194 lat 33.415833  nearest junction 115 m" in out


# --- (b) crossing streets never share a phase --------------------------------------------------


def _road_axis(G: nx.MultiDiGraph, edge: tuple[int, int, int]) -> float:
    """Axis (degrees mod 180) of an approach measured away from the junction: the chord over
    10–60 m before it (the whole edge when under 20 m), clear of any consolidation kink."""
    geom = G.edges[edge]["geometry"]
    if geom.length < 20.0:
        (x0, y0), (x1, y1) = geom.coords[0], geom.coords[-1]
    else:
        a = geom.interpolate(max(geom.length - 60.0, 0.0))
        b = geom.interpolate(geom.length - 10.0)
        (x0, y0), (x1, y1) = (a.x, a.y), (b.x, b.y)
    return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 180.0


def _axis_gap(a: float, b: float) -> float:
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def _shared_phase_conflicts(G: nx.MultiDiGraph) -> list[tuple]:
    conflicts = []
    for node, signal in G.nodes(data="signal"):
        if not signal:
            continue
        for phase in signals.plan_for_node(G, node).phases:
            for i, e in enumerate(phase):
                for f in phase[i + 1 :]:
                    gap = _axis_gap(_road_axis(G, e), _road_axis(G, f))
                    if gap > CONFLICT_DEG:
                        conflicts.append((node, e, f, round(gap)))
    return conflicts


def test_tempe_crossing_streets_never_share_a_phase(tempe) -> None:
    """Before issue 18, two of the five junctions ran one phase for every approach (116 s of
    green in 120 s) because the consolidation kink decided the approach bearing."""
    assert _shared_phase_conflicts(tempe) == []
    for node, signal in tempe.nodes(data="signal"):
        if signal:
            assert len(signals.plan_for_node(tempe, node).phases) >= 2, node


def test_bundled_map_crossing_streets_never_share_a_phase() -> None:
    """The bundled map: 8 of its 127 signalised junctions had a single phase before."""
    G = network.load_network(BUNDLED_MAP)
    assert sum(1 for _, s in G.nodes(data="signal") if s) == 127
    assert _shared_phase_conflicts(G) == []


# --- (c) synthetic cases ---------------------------------------------------------------------


def _crossing(tmp_path: Path, node_tags: dict, *, stub_m: float | None = None) -> Path:
    """长城路 (west-east) crosses 春阳路 (south-north) at the origin, both two-way, arms 300 m.

    Extra points of 长城路 at the tagged places west of the junction; with ``stub_m`` 春阳路
    ends that far north of the junction instead of 300 m.
    """
    west = sorted({p for p in node_tags if p[1] == 0 and p[0] < 0} | {(-300.0, 0.0)})
    ways = [
        Way(PRIMARY, [*west, (0.0, 0.0), (300.0, 0.0)]),
        Way(BRANCH, [(0.0, -300.0), (0.0, 0.0), (0.0, stub_m or 300.0)]),
    ]
    return write_osm(tmp_path / "crossing.osm", ways, node_tags)


def _entry(G: nx.MultiDiGraph, point: tuple[float, float]) -> dict:
    """The load report's entry for the signal node at ``point`` (fixture metres)."""
    lon, lat = lonlat(*point)
    (entry,) = [
        n for n in _signals(G)["nodes"] if abs(n["lon"] - lon) < 1e-6 and abs(n["lat"] - lat) < 1e-6
    ]
    return entry


def _junction(G: nx.MultiDiGraph) -> int:
    (junction,) = [n for n, c in G.nodes(data="street_count") if c >= 3]
    return junction


@pytest.mark.parametrize(
    ("tolerance", "before_m", "how"),
    [(None, 20.0, "at_junction"), (5.0, 20.0, "approach"), (None, 40.0, "approach")],
)
def test_approach_node_signal_goes_to_its_junction(tmp_path, tolerance, before_m, how) -> None:
    """A signal on the approach: inside twice the consolidation radius it is part of the
    junction; beyond it, up to ``settings.signal_approach_m`` along the road, an approach."""
    point = (-before_m, 0.0)
    G = network.load_network(
        _crossing(tmp_path, {point: SIGNAL}), consolidation_tolerance_m=tolerance
    )
    junction = _junction(G)
    entry = _entry(G, point)
    assert entry["junction"] == junction
    assert entry["how"] == how
    assert entry["distance_m"] == pytest.approx(before_m, abs=0.5)
    assert isinstance(entry["osm_id"], int)
    assert G.nodes[junction]["signal"] is True
    assert _signals(G)["unassigned"] == 0


def test_mid_block_signal_is_unassigned_with_its_reason(tmp_path) -> None:
    mid_block, crossing_light = (-150.0, 0.0), (-230.0, 0.0)
    G = network.load_network(_crossing(tmp_path, {mid_block: SIGNAL, crossing_light: PEDESTRIAN}))
    for point, reason in ((mid_block, "mid_block"), (crossing_light, "pedestrian_crossing")):
        entry = _entry(G, point)
        assert entry["junction"] is None
        assert entry["reason"] == reason
        assert entry["distance_m"] == pytest.approx(-point[0], abs=0.5)
    assert not any(s for _, s in G.nodes(data="signal"))
    report = _signals(G)
    assert report["unassigned_by_reason"] == {"pedestrian_crossing": 1, "mid_block": 1}
    out = CliRunner().invoke(app, ["map", "info", str(tmp_path / "crossing.osm")]).output
    lon, lat = lonlat(*mid_block)
    assert f"lon {lon:.6f} lat {lat:.6f}  nearest junction 150 m" in out
    assert "1 mid_block: no junction near it along the road" in out


def test_pedestrian_light_near_a_junction_is_not_its_approach_signal(tmp_path) -> None:
    point = (-35.0, 0.0)
    G = network.load_network(_crossing(tmp_path, {point: PEDESTRIAN}))
    assert _entry(G, point)["reason"] == "pedestrian_crossing"


def test_signal_at_a_cut_off_road_end_is_not_an_approach_signal(tmp_path) -> None:
    """春阳路 ends 30 m north of the junction at a signal node (an extract cut the junction
    there off): within reach along the road, but it controls no junction of the network."""
    point = (0.0, 30.0)
    G = network.load_network(_crossing(tmp_path, {point: SIGNAL}, stub_m=30.0))
    entry = _entry(G, point)
    assert entry["junction"] is None
    assert entry["reason"] == "junction_lost"


def test_signal_on_a_dropped_fragment_is_off_network(tmp_path) -> None:
    ways = [
        Way(PRIMARY, [(-300.0, 0.0), (0.0, 0.0), (300.0, 0.0)]),
        Way(BRANCH, [(0.0, -300.0), (0.0, 0.0), (0.0, 300.0)]),
        # a one-way stretch 500 m away, not strongly connected to the rest
        Way(
            {"highway": "tertiary", "oneway": "yes"},
            [(500.0, 500.0), (600.0, 500.0), (700.0, 500.0)],
        ),
    ]
    path = write_osm(tmp_path / "fragment.osm", ways, {(600.0, 500.0): SIGNAL})
    entry = _entry(network.load_network(path), (600.0, 500.0))
    assert entry["junction"] is None
    assert entry["reason"] == "off_network"


# --- (c) bearings from a stretch, not the last segment ----------------------------------------


def _kinked_edge(coords: list[tuple[float, float]]) -> nx.MultiDiGraph:
    G = new_graph()
    add_node(G, 0, *coords[0])
    add_node(G, 1, *coords[-1])
    add_link(G, 0, 1, length_m=LineString(coords).length, geometry=LineString(coords))
    return G


def test_bearing_ignores_a_short_kink_at_the_junction() -> None:
    """An eastbound road whose last 7 m bend 45° towards a merged junction centre."""
    G = _kinked_edge([(0.0, 0.0), (200.0, 0.0), (205.0, 5.0)])
    assert signals.approach_bearing(G, 0, 1, 0) == pytest.approx(90.0, abs=12.0)
    G = _kinked_edge([(0.0, 0.0), (5.0, 5.0), (205.0, 5.0)])
    assert signals.departure_bearing(G, 0, 1, 0) == pytest.approx(90.0, abs=12.0)


def test_bearing_stretch_follows_the_geometry() -> None:
    # the stretch is bearing_stretch_m long: a bend 50 m back does not count
    G = _kinked_edge([(0.0, 0.0), (0.0, 100.0), (100.0, 100.0)])
    assert signals.approach_bearing(G, 0, 1, 0) == pytest.approx(90.0)
    assert signals.departure_bearing(G, 0, 1, 0) == pytest.approx(0.0)
    # an edge shorter than the stretch: its chord
    G = _kinked_edge([(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)])
    assert signals.approach_bearing(G, 0, 1, 0) == pytest.approx(45.0)
    assert signals.departure_bearing(G, 0, 1, 0) == pytest.approx(45.0)
    # no geometry: the straight line between the nodes
    G = new_graph()
    add_node(G, 0, 0.0, 0.0)
    add_node(G, 1, -30.0, 0.0)
    add_link(G, 0, 1)
    assert signals.approach_bearing(G, 0, 1, 0) == pytest.approx(270.0)
