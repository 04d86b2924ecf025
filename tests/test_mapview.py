"""The static network map (``cysim map plot``): view extent, label priority, title, credit."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import pytest
import shapely
from helpers.fixtures_osm import Way, write_osm
from typer.testing import CliRunner

from cysim._errors import MapError, PatchError
from cysim.cli import app
from cysim.network import build as network
from cysim.network import locate
from cysim.report import mapview

BUNDLED = Path(__file__).resolve().parents[1] / "maps" / "chengyang-arterials.osm"


@pytest.fixture(scope="module")
def bundled() -> nx.MultiDiGraph:
    return network.load_network(BUNDLED)


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> nx.MultiDiGraph:
    """A short primary road and a longer branch road 20 m beside it: their labels collide.

    A third road (a branch) runs 800 m away, where its label has room.
    """
    ways = [
        Way({"highway": "primary", "name": "主干甲路"}, [(-500, 0), (500, 0)]),
        Way({"highway": "residential", "name": "支路乙路"}, [(-1500, 20), (1500, 20)]),
        Way({"highway": "residential"}, [(-500, 0), (-1500, 20)]),
        Way({"highway": "residential"}, [(500, 0), (1500, 20)]),
        Way({"highway": "residential", "name": "远处丙路"}, [(-500, 0), (-500, 800)]),
        Way({"highway": "residential", "name": "远处丙路"}, [(-500, 800), (500, 800)]),
        Way({"highway": "residential", "name": "远处丙路"}, [(500, 800), (500, 0)]),
    ]
    path = write_osm(tmp_path_factory.mktemp("crowded") / "crowded.osm", ways)
    return network.load_network(path)


def _texts(figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].texts]


def test_a_bbox_sets_the_axes_to_that_box(bundled: nx.MultiDiGraph) -> None:
    extent = mapview.bbox_extent(bundled, 120.36, 36.29, 120.41, 36.33)
    figure = mapview.network_figure(bundled, extent=extent, label_roads=0)
    ax = figure.axes[0]
    assert ax.get_xlim() == pytest.approx((extent[0], extent[2]))
    assert ax.get_ylim() == pytest.approx((extent[1], extent[3]))
    west, south = locate.to_lonlat(bundled, extent[0], extent[1])
    east, north = locate.to_lonlat(bundled, extent[2], extent[3])
    # the view is the lon/lat box, widened by the turn of the UTM grid against it (≈ 1.5° here,
    # so ≈ 120 m at the box's corners)
    assert (west, south, east, north) == pytest.approx((120.36, 36.29, 120.41, 36.33), abs=2e-3)


def test_around_shows_the_road_and_its_margin(bundled: nx.MultiDiGraph) -> None:
    extent = mapview.road_extent(bundled, "正阳中路", 500)
    figure = mapview.network_figure(bundled, extent=extent, label_roads=0)
    xmin, xmax = figure.axes[0].get_xlim()
    ymin, ymax = figure.axes[0].get_ylim()
    edges = locate.find_road_edges(bundled, "正阳中路")
    road = shapely.union_all([locate.edge_geometry(bundled, *e) for e in edges]).bounds
    assert (xmin, ymin, xmax, ymax) == pytest.approx(
        (road[0] - 500, road[1] - 500, road[2] + 500, road[3] + 500)
    )


def test_around_an_unknown_road_lists_the_closest_names(bundled: nx.MultiDiGraph) -> None:
    with pytest.raises(PatchError, match="road '正阳大路' not found in the map; closest: 正阳"):
        mapview.road_extent(bundled, "正阳大路", 500)


def test_a_bbox_off_the_map_is_refused(bundled: nx.MultiDiGraph) -> None:
    with pytest.raises(MapError, match="holds no junction of the map"):
        mapview.bbox_extent(bundled, 100.0, 10.0, 101.0, 11.0)


def test_label_candidates_rank_class_before_length(crowded: nx.MultiDiGraph) -> None:
    extent = mapview._network_extent(crowded)
    names = [name for name, _ in mapview.label_candidates(crowded, extent)]
    # the branch road is longer, but the primary road comes first
    assert names == ["主干甲路", "支路乙路", "远处丙路"]


def test_a_label_that_would_overlap_a_more_important_one_is_left_out(
    crowded: nx.MultiDiGraph,
) -> None:
    figure = mapview.network_figure(crowded, label_roads=8)
    texts = _texts(figure)
    assert "主干甲路" in texts
    assert "支路乙路" not in texts  # its label would sit on the primary road's
    assert "远处丙路" in texts  # a branch road with room is still named


def test_the_title_gives_the_road_length_map_info_prints(bundled: nx.MultiDiGraph) -> None:
    info = CliRunner().invoke(app, ["map", "info", str(BUNDLED)])
    road_km = re.search(r"roads ([\d.]+) km", info.output)
    assert road_km is not None, info.output
    title = mapview.network_figure(bundled, label_roads=0).axes[0].get_title()
    assert f"{road_km.group(1)} km of road (centreline)" in title
    assert road_km.group(1) == "635.8"  # each two-way road once (1121 km counts both ways)


def test_the_bundled_map_is_marked_schematic_and_not_credited_to_osm(
    bundled: nx.MultiDiGraph, crowded: nx.MultiDiGraph
) -> None:
    texts = " ".join(_texts(mapview.network_figure(bundled, label_roads=0)))
    assert mapview.SCHEMATIC_MARK in texts and mapview.SCHEMATIC_CREDIT in texts
    assert "©" not in texts
    texts = " ".join(_texts(mapview.network_figure(crowded, label_roads=0)))
    assert mapview.OSM_CREDIT in texts and mapview.SCHEMATIC_MARK not in texts
