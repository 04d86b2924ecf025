"""Tests for cysim.assign: analytic equilibria, zones, parallel links, conversions and errors."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from cysim import assign
from cysim._errors import DemandError, MapError, SimulationError


def _links(rows: list[tuple[int, int, float, float, float, float]]) -> pd.DataFrame:
    """Link table from (init, term, free_flow_time, b, capacity, power) rows."""
    return pd.DataFrame(
        rows, columns=["init_node", "term_node", "free_flow_time", "b", "capacity", "power"]
    )


def _od(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["origin", "destination", "trips"])


# t_A = 10 + 0.1 x, t_B = 15 + 0.05 x, 200 trips: x_A = x_B = 100, both at cost 20,
# Beckmann objective 10·100 + 0.05·100² + 15·100 + 0.025·100² = 3250.
LINEAR_A = (10.0, 1.0, 100.0, 1.0)
LINEAR_B = (15.0, 1.0 / 3.0, 100.0, 1.0)


def _two_routes(topology: str, link_a: tuple, link_b: tuple) -> pd.DataFrame:
    if topology == "parallel":  # two links between the same pair of nodes
        return _links([(1, 2, *link_a), (1, 2, *link_b)])
    # route A via node 3, route B via node 4; the second link of each route is free-ish
    return _links(
        [(1, 3, *link_a), (3, 2, 1e-9, 0.0, 1.0, 1.0), (1, 4, *link_b), (4, 2, 1e-9, 0.0, 1.0, 1.0)]
    )


@pytest.mark.parametrize("topology", ["parallel", "routes"])
@pytest.mark.parametrize("method", assign.METHODS)
def test_linear_two_route_split(topology: str, method: str) -> None:
    network = _two_routes(topology, LINEAR_A, LINEAR_B)
    result = assign.assign(network, _od([(1, 2, 200.0)]), method=method, relative_gap=1e-10)
    assert result.converged
    flow_a, flow_b = result.flow[0], result.flow[2 if topology == "routes" else 1]
    assert flow_a == pytest.approx(100.0, abs=1e-6)
    assert flow_b == pytest.approx(100.0, abs=1e-6)
    assert result.cost[0] == pytest.approx(20.0, abs=1e-7)
    assert result.objective == pytest.approx(3250.0, abs=1e-5)
    assert result.total_travel_time == pytest.approx(200 * 20.0, abs=1e-4)


def test_bpr_two_route_split_matches_root_of_cost_difference() -> None:
    route_a = (6.0, 0.15, 50.0, 4.0)
    route_b = (9.0, 0.15, 80.0, 4.0)
    demand = 220.0

    def bpr(x: float, fft: float, b: float, cap: float, power: float) -> float:
        return fft * (1 + b * (x / cap) ** power)

    expected_a = brentq(lambda x: bpr(x, *route_a) - bpr(demand - x, *route_b), 0.0, demand)
    network = _two_routes("parallel", route_a, route_b)
    result = assign.assign(network, _od([(1, 2, demand)]), relative_gap=1e-12)
    assert result.flow[0] == pytest.approx(expected_a, rel=1e-7)
    assert result.flow.sum() == pytest.approx(demand)
    assert result.cost[0] == pytest.approx(result.cost[1], rel=1e-8)


def test_all_traffic_on_one_route_when_the_other_is_never_worth_it() -> None:
    network = _two_routes("parallel", (1.0, 0.15, 1000.0, 4.0), (50.0, 0.15, 1000.0, 4.0))
    result = assign.assign(network, _od([(1, 2, 10.0)]))
    assert result.flow.tolist() == [10.0, 0.0]
    assert result.relative_gap == 0.0
    assert len(result.iterations) == 1


def test_zones_below_first_thru_node_are_not_passed_through() -> None:
    # 1 → 2 → 3 costs 2, the direct 1 → 3 costs 5; node 2 is a zone when first_thru_node = 3
    network = _links([(1, 2, 1.0, 0.0, 1.0, 1.0), (2, 3, 1.0, 0.0, 1.0, 1.0)])
    network = pd.concat([network, _links([(1, 3, 5.0, 0.0, 1.0, 1.0)])], ignore_index=True)
    trips = _od([(1, 3, 10.0), (2, 3, 4.0)])
    through = assign.assign(network, trips, first_thru_node=1)
    assert through.flow.tolist() == [10.0, 14.0, 0.0]
    blocked = assign.assign(network, trips, first_thru_node=3)
    # zone 2 still sends its own trips out, but carries no through traffic
    assert blocked.flow.tolist() == [0.0, 4.0, 10.0]
    network.attrs["first_thru_node"] = 3
    assert assign.assign(network, trips).flow.tolist() == [0.0, 4.0, 10.0]


def test_trips_to_a_zone_can_end_there() -> None:
    # destination 2 is a zone (first_thru_node = 3); 1 → 2 must still be served
    network = _links([(1, 3, 1.0, 0.0, 1.0, 1.0), (3, 2, 1.0, 0.0, 1.0, 1.0)])
    result = assign.assign(network, _od([(1, 2, 5.0)]), first_thru_node=3)
    assert result.flow.tolist() == [5.0, 5.0]


def test_objective_never_increases_and_methods_agree() -> None:
    grid = nx.grid_2d_graph(5, 5).to_directed()
    ids = {node: i + 1 for i, node in enumerate(sorted(grid.nodes))}
    rng = np.random.default_rng(7)
    rows = [
        (ids[u], ids[v], float(rng.uniform(1, 3)), 0.15, float(rng.uniform(20, 60)), 4.0)
        for u, v in grid.edges
    ]
    network = _links(rows)
    zones = [1, 3, 5, 11, 13, 15, 21, 23, 25]
    trips = _od([(o, d, float(rng.uniform(5, 20))) for o in zones for d in zones if o != d])
    results = {
        m: assign.assign(network, trips, method=m, relative_gap=1e-4) for m in assign.METHODS
    }
    for result in results.values():
        assert result.converged
        objective = result.iterations["objective"].to_numpy()
        # an exact line search never goes uphill
        assert np.all(np.diff(objective) <= 1e-9 * objective[0])
        assert result.iterations["relative_gap"].iloc[-1] == result.relative_gap <= 1e-4
        assert list(result.iterations.columns) == [
            "iteration",
            "relative_gap",
            "objective",
            "tstt",
            "sptt",
            "direction",
            "step_size",
            "elapsed_s",
        ]
        # flow is conserved: every trip leaves its origin once
        out_of_origins = result.links.groupby("init_node")["flow"].sum()
        into_origins = result.links.groupby("term_node")["flow"].sum()
        for zone in zones:
            sent = trips.loc[trips["origin"] == zone, "trips"].sum()
            received = trips.loc[trips["destination"] == zone, "trips"].sum()
            net_out = out_of_origins[zone] - into_origins[zone]
            assert net_out == pytest.approx(sent - received, abs=1e-6)
    # link flows at user equilibrium are unique: the three methods agree (max flow is ~86)
    np.testing.assert_allclose(results["fw"].flow, results["bfw"].flow, rtol=0, atol=0.5)
    np.testing.assert_allclose(results["cfw"].flow, results["bfw"].flow, rtol=0, atol=0.5)
    # the conjugate methods need far fewer iterations than FW
    assert len(results["bfw"].iterations) < len(results["fw"].iterations) / 4
    # and a run is deterministic
    again = assign.assign(network, trips, method="bfw", relative_gap=1e-4)
    assert np.array_equal(again.flow, results["bfw"].flow)


def test_links_frame_lines_up_with_the_input() -> None:
    network = _two_routes("routes", LINEAR_A, LINEAR_B)
    network.index = [10, 11, 12, 13]
    result = assign.assign(network, _od([(1, 2, 200.0)]))
    assert list(result.links.index) == [10, 11, 12, 13]
    assert result.links["voc"].iloc[0] == pytest.approx(result.flow[0] / 100.0)
    np.testing.assert_allclose(result.links["cost"], assign.link_costs(network, result.flow))


def test_self_loop_and_intrazonal_trips_load_nothing() -> None:
    network = _links([(1, 1, 1.0, 0.15, 10.0, 4.0), (1, 2, 1.0, 0.15, 10.0, 4.0)])
    result = assign.assign(network, _od([(1, 2, 3.0), (2, 2, 50.0), (1, 2, 2.0)]))
    assert result.flow.tolist() == [0.0, 5.0]


@pytest.mark.parametrize(
    ("trips", "message"),
    [
        (_od([(1, 9, 1.0)]), "destination node 9 is not in the network"),
        (_od([(2, 1, 1.0)]), "no path from node 2 to node 1"),
        (_od([(1, 2, -1.0)]), "negative"),
        (pd.DataFrame({"origin": [1], "trips": [1.0]}), "lacks the column"),
        (_od([(1, 1, 4.0)]), "no trips between different nodes"),
    ],
)
def test_bad_demand_raises_demand_error(trips: pd.DataFrame, message: str) -> None:
    network = _links([(1, 2, 1.0, 0.15, 10.0, 4.0)])
    with pytest.raises(DemandError, match=message):
        assign.assign(network, trips)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("capacity", 0.0, "capacity=0.0; it must be > 0 when b > 0"),
        ("free_flow_time", -1.0, "free_flow_time=-1.0"),
        ("power", np.nan, "missing or non-numeric"),
    ],
)
def test_bad_network_raises_map_error(column: str, value: float, message: str) -> None:
    network = _links([(1, 2, 1.0, 0.15, 10.0, 4.0)])
    network[column] = value
    with pytest.raises(MapError, match=message):
        assign.assign(network, _od([(1, 2, 1.0)]))


def test_bad_settings_raise_simulation_error() -> None:
    network = _links([(1, 2, 1.0, 0.15, 10.0, 4.0)])
    with pytest.raises(SimulationError, match="unknown assignment method"):
        assign.assign(network, _od([(1, 2, 1.0)]), method="msa")  # type: ignore[arg-type]
    with pytest.raises(SimulationError, match="max_iterations"):
        assign.assign(network, _od([(1, 2, 1.0)]), max_iterations=0)


def _road_graph() -> nx.MultiDiGraph:
    G = nx.MultiDiGraph(name="toy")
    edge = {"length_m": 1000.0, "speed_kph": 36.0, "capacity_vph": 1800.0}
    G.add_edge(10, 20, **edge)
    G.add_edge(20, 30, **edge)
    G.add_edge(10, 30, **{**edge, "length_m": 3000.0})
    G.add_edge(10, 30, **{**edge, "speed_kph": 18.0, "length_m": 1500.0})  # a parallel edge
    return G


def test_network_from_graph_units_and_defaults() -> None:
    links = assign.network_from_graph(_road_graph())
    assert links[["init_node", "term_node", "key"]].values.tolist() == [
        [10, 20, 0],
        [10, 30, 0],
        [10, 30, 1],
        [20, 30, 0],
    ]
    # 1000 m at 36 km/h = 10 m/s is 100 s
    assert links["free_flow_time"].tolist() == pytest.approx([100.0, 300.0, 300.0, 100.0])
    assert (links["b"] == 0.15).all()
    assert (links["power"] == 4.0).all()
    assert links["capacity"].tolist() == [1800.0] * 4
    assert links.attrs["time_unit"] == "s"
    assert links.attrs["first_thru_node"] is None


def test_network_from_graph_rejects_missing_attributes() -> None:
    G = _road_graph()
    G.add_edge(30, 10, length_m=50.0, speed_kph=0.0, capacity_vph=900.0)
    with pytest.raises(MapError, match=r"edge \(30, 10, 0\) has speed_kph=0.0"):
        assign.network_from_graph(G)


def test_trips_from_table_counts_and_scales() -> None:
    trips = pd.DataFrame(
        {
            "trip_id": range(5),
            "origin_node": [10, 10, 10, 20, 10],
            "destination_node": [30, 30, 20, 30, 30],
            "departure_s": [0.0] * 5,
        }
    )
    trips.attrs["sample_factor"] = 0.5
    od = assign.trips_from_table(trips, period_s=7200.0)
    assert od.values.tolist() == [[10, 20, 1.0], [10, 30, 3.0], [20, 30, 1.0]]
    assert od["origin"].dtype == np.int64
    with pytest.raises(DemandError, match="origin_node"):
        assign.trips_from_table(trips.drop(columns="origin_node"))


def test_graph_and_trips_table_assign_end_to_end() -> None:
    G = _road_graph()
    trips = pd.DataFrame({"origin_node": [10] * 3000, "destination_node": [30] * 3000})
    result = assign.assign(
        assign.network_from_graph(G), assign.trips_from_table(trips), relative_gap=1e-8
    )
    assert result.converged
    via_20, direct, direct_slow, onward = result.flow
    assert result.links[["init_node", "term_node", "key"]].values.tolist() == [
        [10, 20, 0],
        [10, 30, 0],
        [10, 30, 1],
        [20, 30, 0],
    ]
    assert via_20 == pytest.approx(onward)
    assert via_20 + direct + direct_slow == pytest.approx(3000.0)
    # 3000 veh/h overloads the 200 s route via node 20, so all three routes are used at one cost
    assert min(via_20, direct, direct_slow) > 100
    route_costs = [result.cost[0] + result.cost[3], result.cost[1], result.cost[2]]
    assert route_costs == pytest.approx([route_costs[1]] * 3, rel=1e-5)


def test_origins_loaded_in_chunks_give_the_same_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    grid = nx.grid_2d_graph(4, 4).to_directed()
    ids = {node: i + 1 for i, node in enumerate(sorted(grid.nodes))}
    network = _links([(ids[u], ids[v], 1.0 + (ids[u] % 3), 0.15, 30.0, 4.0) for u, v in grid.edges])
    trips = _od([(o, d, 5.0 + o) for o in range(1, 17, 3) for d in range(2, 17, 4) if o != d])
    whole = assign.assign(network, trips, relative_gap=1e-6)
    monkeypatch.setattr(assign, "_SHORTEST_PATH_ENTRIES", 20)  # one origin per chunk
    chunked = assign.assign(network, trips, relative_gap=1e-6)
    np.testing.assert_allclose(chunked.flow, whole.flow, rtol=1e-12, atol=1e-9)
    assert len(chunked.iterations) == len(whole.iterations)


TWO_ROUTE_NET = """<NUMBER OF ZONES> 2
<NUMBER OF NODES> 2
<FIRST THRU NODE> 1
<NUMBER OF LINKS> 2
<END OF METADATA>
~ init term capacity length fft b power speed toll type ;
1 2 100 1 10 1 1 0 0 1 ;
1 2 100 1 15 0.3333333333333333 1 0 0 1 ;
"""
TWO_ROUTE_TRIPS = """<NUMBER OF ZONES> 2
<TOTAL OD FLOW> 200
<END OF METADATA>
Origin 1
  2 : 200.0;
"""


def test_cli_assign_writes_link_flows(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cysim.cli import app

    net = tmp_path / "net.tntp"
    net.write_text(TWO_ROUTE_NET, encoding="utf-8")
    trips = tmp_path / "trips.tntp"
    trips.write_text(TWO_ROUTE_TRIPS, encoding="utf-8")
    out = tmp_path / "out" / "flows.csv"
    arguments = ["assign", "--tntp-net", str(net), "--tntp-trips", str(trips), "--gap", "1e-9"]
    result = CliRunner().invoke(app, [*arguments, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "converged" in result.output
    flows = pd.read_csv(out)
    assert flows["flow"].tolist() == pytest.approx([100.0, 100.0], abs=1e-5)
    assert flows["cost"].tolist() == pytest.approx([20.0, 20.0], abs=1e-6)
    assert [p.name for p in out.parent.iterdir()] == ["flows.csv"]  # no temporary file left

    missing = CliRunner().invoke(app, ["assign", "--tntp-net", str(net)])
    assert missing.exit_code == 2
    bad = CliRunner().invoke(app, [*arguments, "-o", str(tmp_path / "flows.txt")])
    assert isinstance(bad.exception, SimulationError)
    trips.write_text(TWO_ROUTE_TRIPS.replace("200.0", "lots"), encoding="utf-8")
    broken = CliRunner().invoke(app, arguments)
    assert isinstance(broken.exception, DemandError)
    assert broken.exception.line == 5


def test_equilibrium_edge_flows_on_a_graph_match_the_two_route_split() -> None:
    """Two parallel roads of equal cost split a demand evenly; flows come back per edge in veh/h."""
    import networkx as nx
    import pandas as pd

    from cysim.assign import equilibrium_edge_flows

    G = nx.MultiDiGraph(crs="EPSG:32651")
    for node in (1, 2, 3):
        G.add_node(node, x=float(node), y=0.0)
    for u, v in ((1, 2), (2, 3)):
        G.add_edge(u, v, 0, length_m=1000.0, speed_kph=36.0, capacity_vph=1000.0)
    G.add_edge(1, 3, 0, length_m=2000.0, speed_kph=36.0, capacity_vph=1000.0)
    trips = pd.DataFrame({"origin_node": [1] * 600, "destination_node": [3] * 600})
    flows, result = equilibrium_edge_flows(G, trips, period_s=1800.0, relative_gap=1e-6)
    # 600 trips in half an hour = 1200 veh/h, split evenly between two identical routes.
    assert flows[(1, 2, 0)] == pytest.approx(600.0, rel=1e-3)
    assert flows[(2, 3, 0)] == pytest.approx(600.0, rel=1e-3)
    assert flows[(1, 3, 0)] == pytest.approx(600.0, rel=1e-3)
    assert result.converged


def test_peak_hour_trips_picks_the_busiest_hour_and_keeps_attrs() -> None:
    import pandas as pd

    from cysim.assign import peak_hour_trips

    # 10 trips/5 min from 0 to 60 min, 30 trips/5 min from 60 to 120 min.
    departures = [t * 30.0 for t in range(120)] + [3600.0 + t * 10.0 for t in range(360)]
    trips = pd.DataFrame({"departure_s": departures})
    trips.attrs["sample_factor"] = 0.25
    peak = peak_hour_trips(trips)
    assert peak.attrs["peak_start_s"] == 3600.0
    assert len(peak) == 360
    assert peak.attrs["sample_factor"] == 0.25
