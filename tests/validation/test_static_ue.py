"""Static user equilibrium against known answers: analytic cases, Braess, Sioux Falls, Anaheim."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from cysim import assign

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _load_validation_table() -> ModuleType:
    """benchmarks/validation_table.py holds the case builders shared with docs/validation.md."""
    path = PROJECT_ROOT / "benchmarks" / "validation_table.py"
    spec = importlib.util.spec_from_file_location("cysim_validation_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


cases = _load_validation_table()


@pytest.mark.parametrize("method", assign.METHODS)
def test_two_route_split_is_the_analytic_one(method: str) -> None:
    links, trips, split = cases.two_route_network()
    result = assign.assign(links, trips, method=method, relative_gap=1e-12)
    assert result.converged
    assert result.flow[0] == pytest.approx(split, abs=1e-6)
    assert result.flow[2] == pytest.approx(220.0 - split, abs=1e-6)
    # equal costs on both used routes
    assert result.cost[0] + result.cost[1] == pytest.approx(result.cost[2], rel=1e-9)


@pytest.mark.parametrize("method", assign.METHODS)
def test_braess_paradox(method: str) -> None:
    without_links, trips = cases.braess_network(with_bridge=False)
    without = assign.assign(without_links, trips, method=method, relative_gap=1e-12)
    with_links, trips = cases.braess_network(with_bridge=True)
    with_bridge = assign.assign(with_links, trips, method=method, relative_gap=1e-12)
    # 3 + 3 trips at 83 without the bridge; 2 + 2 + 2 at 92 with it
    np.testing.assert_allclose(without.flow, [3, 3, 3, 3], atol=1e-5)
    np.testing.assert_allclose(with_bridge.flow, [4, 2, 2, 4, 2], atol=1e-5)
    assert without.total_travel_time == pytest.approx(498.0, abs=1e-3)
    assert with_bridge.total_travel_time == pytest.approx(552.0, abs=1e-3)
    # the paradox: the extra road makes everyone slower
    assert with_bridge.total_travel_time > without.total_travel_time + 50


def test_sioux_falls_objective_definition_matches_the_published_optimum(
    shared_data: Path,
) -> None:
    run = cases.run_tntp(shared_data / "tntp", "SiouxFalls", "bfw", 1e-2)
    # the Beckmann objective of the best-known flows is the README's 42.31335287107440 × 1e5
    assert run.reference_objective == pytest.approx(cases.SIOUX_FALLS_OBJECTIVE, rel=1e-12)


@pytest.mark.parametrize("name", ["SiouxFalls", "Anaheim"])
def test_tntp_network_reaches_the_best_known_solution(shared_data: Path, name: str) -> None:
    run = cases.run_tntp(shared_data / "tntp", name, "bfw", cases.TNTP_SOLVE_GAP)
    result = run.result
    assert result.converged
    assert result.relative_gap <= 1e-4
    assert run.flow_error <= 0.01
    expected = cases.SIOUX_FALLS_OBJECTIVE if name == "SiouxFalls" else run.reference_objective
    assert result.objective == pytest.approx(expected, rel=1e-3)
    # a feasible flow's objective can't beat the optimum by more than rounding
    assert result.objective >= run.reference_objective * (1 - 1e-9)
    # the gap is non-negative (SPTT is a lower bound on TSTT) and shrinks overall
    gaps = result.iterations["relative_gap"].to_numpy()
    assert (gaps >= 0).all()
    assert gaps[-1] < gaps[0] / 100


def test_plain_frank_wolfe_on_sioux_falls(shared_data: Path) -> None:
    run = cases.run_tntp(shared_data / "tntp", "SiouxFalls", "fw", 1e-4)
    assert run.result.converged
    assert run.flow_error <= 0.01
    assert run.result.objective == pytest.approx(cases.SIOUX_FALLS_OBJECTIVE, rel=1e-3)
    # BFW gets there in far fewer iterations
    fast = cases.run_tntp(shared_data / "tntp", "SiouxFalls", "bfw", 1e-4)
    assert len(fast.result.iterations) < len(run.result.iterations) / 4


def test_anaheim_first_thru_node_matters(shared_data: Path) -> None:
    """Anaheim's zones 1–38 must not carry through traffic; ignoring that changes the flows."""
    from cysim.network import tntp

    folder = shared_data / "tntp"
    network = tntp.read_tntp_network(folder / "Anaheim_net.tntp")
    trips = tntp.read_tntp_trips(folder / "Anaheim_trips.tntp")
    assert network.attrs["first_thru_node"] == 39
    honoured = assign.assign(network, trips, relative_gap=1e-3)
    ignored = assign.assign(network, trips, relative_gap=1e-3, first_thru_node=1)
    into_zones = network["term_node"].to_numpy() < 39
    out_of_zones = network["init_node"].to_numpy() < 39
    # with zones honoured, what enters a zone is exactly its demand (nothing passes through)
    arriving = np.bincount(
        network["term_node"].to_numpy()[into_zones], weights=honoured.flow[into_zones], minlength=39
    )
    demand_in = np.bincount(trips["destination"], weights=trips["trips"], minlength=39)
    np.testing.assert_allclose(arriving[1:39], demand_in[1:39], atol=1e-6)
    # ignoring it lets paths cut through zones
    leaving = ignored.flow[out_of_zones].sum()
    assert leaving > trips["trips"].sum() + 1.0


def test_validation_table_rows_all_pass(shared_data: Path) -> None:
    rows = cases.static_rows(shared_data)
    assert len(rows) == 11
    assert [row.case for row in rows if row.passed is not True] == []
    table = cases.markdown_table(rows)
    assert table.count("\n") == len(rows) + 1
