"""Every file in scenarios/ loads, applies to the bundled map, and encodes what it says."""

from __future__ import annotations

import sys
from pathlib import Path

import networkx as nx
import pytest
from conftest import BUNDLED_MAP, PROJECT_ROOT

from cysim import cli
from cysim.network import build as network
from cysim.network import locate
from cysim.patch.apply import apply_patches
from cysim.scenario.load import load_scenario

SCENARIOS = sorted((PROJECT_ROOT / "scenarios").glob("*.yaml"))
# examples of measures a planner might write (not 2021 measures, not in the package)
EXAMPLES = sorted((PROJECT_ROOT / "scenarios" / "examples").glob("*.yaml"))
# the measures the package combines; `2021-package-*` files are variants of the package, and
# `stress-*` files test the baseline (not 2021 measures)
MEASURES = [
    p
    for p in SCENARIOS
    if p.stem not in ("baseline", "2021-package")
    and not p.stem.startswith(("2021-package-", "stress-"))
]

pytestmark = pytest.mark.skipif(
    not BUNDLED_MAP.is_file(), reason=f"the bundled map {BUNDLED_MAP} is not there yet"
)


@pytest.fixture(scope="module")
def G():
    return network.load_network(BUNDLED_MAP)


def test_the_scenario_set_is_complete():
    names = {p.stem for p in SCENARIOS}
    assert {"baseline", "2021-package"} <= names
    assert len(MEASURES) >= 9


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_applies_to_the_bundled_map(G, path: Path):
    scenario = load_scenario(path)
    assert scenario.map == BUNDLED_MAP and scenario.name == path.stem
    _, report = apply_patches(G, scenario.patches, defer_webster=True)
    assert all(report.for_patch(i) for i in range(len(scenario.patches)))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_scenario_applies_to_the_bundled_map(G, path: Path):
    scenario = load_scenario(path)
    assert scenario.map == BUNDLED_MAP
    assert scenario.name == path.stem
    _, report = apply_patches(
        G,
        scenario.patches,
        defer_webster=True,
        road_class_overrides=scenario.network.road_classes or None,
    )
    assert len(report.headers) == len(scenario.patches)
    for index, patch in enumerate(scenario.patches):
        if patch.type != "demand_shift":
            changed = report.for_patch(index) or report.notes.get(index)  # deferred Webster
            assert changed, f"patch {index} of {path.name} changed nothing"
    if path.stem != "baseline":
        assert scenario.base_chain[0] == path.parent / "baseline.yaml"
    if path.stem != "baseline" and not path.stem.startswith("stress-"):
        assert "“" in scenario.report_quote and "—" in scenario.report_quote  # quote + gloss
        assert scenario.assumptions


def test_baseline_settings():
    baseline = load_scenario(PROJECT_ROOT / "scenarios/baseline.yaml")
    assert baseline.patches == []
    assert baseline.simulation.replications == 3


def test_package_combines_every_measure_once():
    package = load_scenario(PROJECT_ROOT / "scenarios/2021-package.yaml")
    expected = [p.model_dump() for m in package.base_chain[1:] for p in load_scenario(m).patches]
    assert [p.model_dump() for p in package.patches] == expected
    assert {p.resolve() for p in package.base_chain[1:]} == {p.resolve() for p in MEASURES}


def test_wenyang_rebuild_widens_the_whole_road(G):
    scenario = load_scenario(PROJECT_ROOT / "scenarios/wenyang-rebuild.yaml")
    G2, report = apply_patches(G, scenario.patches)
    edges = locate.find_road_edges(G, "文阳路")
    assert report.patched_edges() == set(edges)
    for edge in edges:
        assert G2.edges[edge]["lanes"] == 3 and G.edges[edge]["lanes"] == 2
        assert G2.edges[edge]["capacity_vph"] == pytest.approx(1.5 * G.edges[edge]["capacity_vph"])


def test_sixteen_channelised_junctions_and_900_parking_spaces(G):
    signals_file = load_scenario(PROJECT_ROOT / "scenarios/channelize-signals.yaml")
    _, report = apply_patches(G, signals_file.patches, defer_webster=True)
    channelised = {e.element[1] for p in range(16) for e in report.for_patch(p)}
    assert len(channelised) == 16
    assert all(G.nodes[n]["signal"] for n in channelised)
    parking = load_scenario(PROJECT_ROOT / "scenarios/public-parking.yaml")
    G3, _ = apply_patches(G, parking.patches)
    added = {n: G3.nodes[n]["parking_spaces"] - G.nodes[n]["parking_spaces"] for n in G3.nodes}
    assert sum(added.values()) == 900
    assert all(G3.nodes[n]["parking_guidance"] for n, spaces in added.items() if spaces)


def pieces_of(graph: nx.MultiDiGraph, name: str) -> int:
    """Number of disconnected pieces of the road called ``name``."""
    road = graph.edge_subgraph(locate.find_road_edges(graph, name)).to_undirected()
    return nx.number_connected_components(road)


def test_opened_gaps_join_the_pieces_of_each_road(G):
    scenario = load_scenario(PROJECT_ROOT / "scenarios/aodong-huazhong-zhongche.yaml")
    G2, _ = apply_patches(G, scenario.patches)
    for name in ("岙东路", "华中路", "中车大道"):
        assert pieces_of(G, name) >= 2, name
        assert pieces_of(G2, name) == 1, name


def test_validate_cli_on_the_package(monkeypatch, capsys):
    path = PROJECT_ROOT / "scenarios/2021-package.yaml"
    monkeypatch.setattr(sys, "argv", ["cysim", "validate", str(path)])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    out, err = capsys.readouterr()
    assert (caught.value.code or 0) == 0, err
    assert "ok: " in out and "patches apply" in out
