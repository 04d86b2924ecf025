"""Locators: road names (exact, normalised, suggestions), stretches, junctions, snapping."""

from __future__ import annotations

import pytest
from helpers.graphs import grid_graph, lonlat, offset_lonlat

from cysim._errors import PatchError
from cysim.network import locate


@pytest.fixture
def G():
    return grid_graph()


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("正阳路", "正阳"),
        ("正阳中路", "正阳"),
        ("正阳东路", "正阳"),
        ("正阳 西路", "正阳"),
        ("华中路", "华中"),  # a two-character stem keeps its 中
        ("岙东路", "岙东"),
        ("中车大道", "中车"),
        ("中车路", "中车"),
        ("长城南路", "长城"),
        ("黑龙江路", "黑龙江"),
        ("ＡＢ路", "AB"),  # full-width letters fold
    ],
)
def test_normalise_road_name(name, stem):
    assert locate.normalise_road_name(name) == stem


def test_exact_name_wins_over_variants(G):
    exact = locate.find_road_edges(G, "正阳中路")
    assert set(exact) == {(4, 5, 0), (5, 4, 0), (5, 6, 0), (6, 5, 0)}
    variants = locate.find_road_edges(G, "正阳路")
    assert set(variants) == set(exact) | {(6, 8, 0), (8, 6, 0)}
    assert set(locate.find_road_edges(G, " 文阳 路 ")) == {
        (1, 2, 0),
        (2, 1, 0),
        (2, 3, 0),
        (3, 2, 0),
    }


def test_unknown_road_lists_five_closest_names(G):
    with pytest.raises(PatchError) as caught:
        locate.find_road_edges(G, "正阳道", key="road")
    message = str(caught.value)
    listed = message.split("closest: ")[1].split(" (fix")[0].split(", ")
    assert len(listed) == 5
    assert set(listed[:2]) == {"正阳中路", "正阳东路"}
    assert caught.value.key == "road"


def test_stretch_between_two_points(G):
    edges, path = locate.road_stretch(G, "正阳路", lonlat(4), offset_lonlat(1020, 530))
    assert path == [4, 5, 6]
    assert set(edges) == {(4, 5, 0), (5, 4, 0), (5, 6, 0), (6, 5, 0)}
    edges, path = locate.road_stretch(G, "正阳路", ("正阳路", "长城路"), lonlat(8))
    assert path == [5, 6, 8]


def test_stretch_point_too_far_from_the_road(G):
    with pytest.raises(PatchError, match=r"is 400 m from '文阳路' \(allowed: 300 m\)"):
        locate.road_stretch(G, "文阳路", offset_lonlat(0, 400), lonlat(3))
    with pytest.raises(PatchError, match="snap to the same junction"):
        locate.road_stretch(G, "文阳路", lonlat(1), offset_lonlat(10, 10))


def test_junction_by_two_road_names(G):
    assert locate.junction_by_roads(G, "文阳路", "长城路") == 2
    assert locate.junction_by_roads(G, "正阳路", "黑龙江路") == 6
    with pytest.raises(PatchError, match="do not meet") as caught:
        locate.junction_by_roads(G, "文阳路", "银河路")
    assert "长城路" in caught.value.hint


def test_junction_met_twice_needs_near(G):
    G.edges[1, 4, 0]["name"] = "长城路"
    G.edges[4, 1, 0]["name"] = "长城路"
    with pytest.raises(PatchError, match=r"meet at 2 junctions: node 1 .*; node 2") as caught:
        locate.junction_by_roads(G, "文阳路", "长城路")
    assert "near" in caught.value.hint
    assert locate.junction_by_roads(G, "文阳路", "长城路", near=offset_lonlat(50, 0)) == 1
    assert locate.junction_by_roads(G, "文阳路", "长城路", near=offset_lonlat(450, 0)) == 2


def test_lonlat_snapping(G):
    node, distance = locate.nearest_node(G, *offset_lonlat(530, 540))
    assert node == 5 and distance == pytest.approx(50.0, abs=0.5)
    with pytest.raises(PatchError, match=r"no junction within 30 m .* is 50 m away"):
        locate.nearest_node(G, *offset_lonlat(530, 540), snap_m=30)
    with pytest.raises(PatchError, match="lies outside the map"):
        locate.nearest_node(G, 120.9, 36.3)
    with pytest.raises(PatchError, match="not a WGS84 coordinate"):
        locate.nearest_node(G, 36.3, 200.0)
    assert locate.locate_junction(G, ("正阳中路", "长城路")) == 5
    assert locate.locate_junction(G, lonlat(7)) == 7


def test_nearest_edge_and_node_resolve_ties_to_the_lowest_id(G):
    from helpers.graphs import X0, Y0

    # both directions of a two-way road are equally near: the lower key wins
    assert locate.nearest_edge(G, X0 + 250, Y0 + 10, max_m=50) == ((1, 2, 0), 10.0)
    assert locate.nearest_edge(G, X0 + 503, Y0 + 260, max_m=50) == ((2, 5, 0), 3.0)
    with pytest.raises(PatchError, match=r"no road within 5 m of the point; the nearest .* 10 m"):
        locate.nearest_edge(G, X0 + 250, Y0 + 10, max_m=5)
    # a node added later at the position of node 5 (a dual-carriageway crossing): lowest id
    G.add_node(0, **G.nodes[5])
    node, distance = locate.nearest_node(G, *offset_lonlat(510, 505))
    assert node == 0 and distance == pytest.approx(11.18, abs=0.01)
    assert locate.nearest_node(G, *offset_lonlat(510, 505), nodes=[5, 6])[0] == 5


def test_nodes_within_a_corridor(G):
    edges = locate.find_road_edges(G, "长城路")
    assert locate.nodes_within(G, edges, 10) == {2, 5, 7}
    assert locate.nodes_within(G, edges, 600) == {1, 2, 3, 4, 5, 6, 7}
