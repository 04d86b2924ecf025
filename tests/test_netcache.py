"""The prepared-network cache: a hit reuses the build, any change of what shaped it misses."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import networkx as nx
import pytest
from conftest import BUNDLED_MAP

from cysim import pipeline, settings
from cysim.network import _graphml
from cysim.network import build as network
from cysim.pipeline import netcache
from cysim.scenario.load import load_scenario

pytestmark = pytest.mark.skipif(not BUNDLED_MAP.exists(), reason="bundled map not present")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A scenario on a copy of the bundled map, a results folder of its own, and a counter of
    real network builds."""
    map_path = tmp_path / "map.osm"
    shutil.copyfile(BUNDLED_MAP, map_path)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: s\nmap: map.osm\nnetwork: {consolidation_tolerance_m: 12}\n", encoding="utf-8"
    )
    monkeypatch.setattr(settings, "results_dir", str(tmp_path / "results"))
    builds: list[str] = []
    real = network.load_network

    def counting(path, **kwargs):
        builds.append(str(path))
        return real(path, **kwargs)

    monkeypatch.setattr(network, "load_network", counting)
    return {"map": map_path, "scenario": scenario, "builds": builds, "tmp": tmp_path}


def _load(path: Path) -> nx.MultiDiGraph:
    return pipeline.load_scenario_network(load_scenario(path))


def _same_graph(a: nx.MultiDiGraph, b: nx.MultiDiGraph) -> bool:
    return (
        a.graph == b.graph
        and list(a.nodes(data=True)) == list(b.nodes(data=True))
        and [(u, v, k, str(d)) for u, v, k, d in a.edges(keys=True, data=True)]
        == [(u, v, k, str(d)) for u, v, k, d in b.edges(keys=True, data=True)]
    )


def test_second_load_is_a_hit_with_the_same_network(project):
    first = _load(project["scenario"])
    second = _load(project["scenario"])
    assert len(project["builds"]) == 1  # the second came from the cache
    assert _same_graph(first, second)
    assert first is not second  # a fresh copy: patching one cannot touch the other
    files = list(netcache.cache_folder().iterdir())
    assert [f.suffix for f in files] == [".graphml"]  # no temporary file left behind


def test_another_scenario_on_the_same_map_and_network_settings_hits(project):
    _load(project["scenario"])
    other = project["tmp"] / "other.yaml"
    other.write_text(
        "name: other\nmap: map.osm\nnetwork: {consolidation_tolerance_m: 12}\n"
        "patches:\n  - {type: widen_road, road: 文阳路, lanes_per_direction: 3}\n",
        encoding="utf-8",
    )
    _load(other)
    assert len(project["builds"]) == 1


@pytest.mark.parametrize(
    "change",
    ["map bytes", "network section", "lane groups", "a settings default", "a road-class default",
     "cysim version"],
)  # fmt: skip
def test_any_change_of_what_shaped_the_network_misses(project, monkeypatch, change):
    _load(project["scenario"])
    if change == "map bytes":
        with open(project["map"], "a", encoding="utf-8") as f:
            f.write("\n<!-- edited -->\n")
    elif change == "network section":
        project["scenario"].write_text(
            "name: s\nmap: map.osm\nnetwork: {consolidation_tolerance_m: 8}\n", encoding="utf-8"
        )
    elif change == "lane groups":
        project["scenario"].write_text(
            "name: s\nmap: map.osm\nnetwork: {consolidation_tolerance_m: 12, lane_groups: none}\n",
            encoding="utf-8",
        )
    elif change == "a settings default":
        monkeypatch.setattr(settings, "min_link_length_m", 6.0)
    elif change == "a road-class default":
        table = netcache.roadclass.URBAN_CAPACITY_BY_SPEED
        monkeypatch.setattr(
            netcache.roadclass, "URBAN_CAPACITY_BY_SPEED", ((60.0, 1750.0), *table[1:])
        )
    else:
        monkeypatch.setattr(netcache, "__version__", "0.0.0-test")
    G = _load(project["scenario"])
    assert len(project["builds"]) == 2
    if change == "lane groups":
        assert G.graph["lane_groups"] == "none"
    _load(project["scenario"])
    assert len(project["builds"]) == 2  # and the new network is cached in turn


def test_unreadable_cache_file_is_rebuilt_with_a_warning(project):
    _load(project["scenario"])
    (cached,) = netcache.cache_folder().glob("*.graphml")
    cached.write_bytes(b"<graphml><truncated")
    with pytest.warns(UserWarning, match="unreadable"):
        G = _load(project["scenario"])
    assert len(project["builds"]) == 2
    assert _same_graph(_graphml.load_graphml(cached), G)  # replaced by the good one


def test_cache_can_be_switched_off(project, monkeypatch):
    monkeypatch.setattr(settings, "network_cache", False)
    _load(project["scenario"])
    _load(project["scenario"])
    assert len(project["builds"]) == 2
    assert not netcache.cache_folder().exists()


def test_a_failing_build_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "results_dir", str(tmp_path / "results"))

    def broken() -> nx.MultiDiGraph:
        raise ValueError("bad map")

    with pytest.raises(ValueError, match="bad map"):
        netcache.load_or_build("k" * 64, broken)
    assert not list(tmp_path.rglob("*.graphml"))


def test_an_unwritable_cache_warns_and_the_run_goes_on(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go", encoding="utf-8")
    G = nx.MultiDiGraph(name="x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, hit = netcache.load_or_build("a" * 64, lambda: G, folder=blocker / "networks")
    assert out is G and not hit
    assert any("could not cache" in str(w.message) for w in caught)
