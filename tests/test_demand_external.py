"""External and through trips at gateway junctions (cysim.demand.external)."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers.demandnets import _TO_LONLAT, lattice_graph

from cysim._errors import DemandError
from cysim.demand import DemandSpec, build_trips
from cysim.demand.external import gateway_nodes


def gateway_lattice():
    """The 8×6 lattice with two trunk roads leaving it (gateways 900, 901) and a residential stub.

    Gateway 900 hangs off junction 1 with a two-lane trunk (3,600 veh/h each way), gateway 901 off
    junction 508 with a one-lane trunk (1,800 veh/h); 902 is a residential dead end.
    """
    G = lattice_graph(8, 6)
    for data in G.edges.values():
        data["capacity_vph"] = 900.0 * data["lanes"]
    ends = {900: (1, -600.0, 2, 3600.0), 901: (508, 600.0, 1, 1800.0), 902: (302, 300.0, 1, 600.0)}
    for node, (anchor, dx, lanes, capacity) in ends.items():
        x, y = G.nodes[anchor]["x"] + dx, G.nodes[anchor]["y"]
        lon, lat = _TO_LONLAT.transform(x, y)
        G.add_node(node, x=x, y=y, lon=lon, lat=lat, signal=False)
        highway = "trunk" if node != 902 else "residential"
        for u, v in ((node, anchor), (anchor, node)):
            G.add_edge(u, v, length_m=abs(dx), speed_kph=60.0, highway=highway, lanes=lanes,
                       capacity_vph=capacity)  # fmt: skip
    return G


def spec(**external: object) -> DemandSpec:
    data = {"zones": {"grid_m": 1000}, "trips": 4000, "external": {"trips": 1000} | external}
    return DemandSpec.model_validate(data)


def test_gateways_are_dead_ends_of_the_chosen_classes() -> None:
    G = gateway_lattice()
    assert gateway_nodes(G, ["motorway", "trunk"]) == [900, 901]
    assert gateway_nodes(G, ["trunk", "residential"]) == [900, 901, 902]
    assert gateway_nodes(lattice_graph(8, 6), ["motorway", "trunk"]) == []


def test_external_trips_add_to_the_internal_total_in_their_shares() -> None:
    G = gateway_lattice()
    trips = build_trips(G, spec(through_share=0.3), seed=3)
    assert len(trips) == 5000  # 4,000 internal + 1,000 external, exactly
    at_gateway_o = trips["origin_node"].isin([900, 901])
    at_gateway_d = trips["destination_node"].isin([900, 901])
    external = at_gateway_o | at_gateway_d
    through = at_gateway_o & at_gateway_d
    # systematic rounding: each contiguous block of cells is within one trip of its expectation
    assert abs(int(external.sum()) - 1000) <= 1
    assert abs(int(through.sum()) - 300) <= 1
    assert abs(int((at_gateway_o & ~through).sum()) - 350) <= 1
    assert abs(int((at_gateway_d & ~through).sum()) - 350) <= 1
    # gateway ends carry no zone; zone ends are zone connectors; no U-turn at one gateway
    assert (trips.loc[at_gateway_o, "origin_zone"] == "").all()
    assert (
        (trips.loc[external & ~through, ["origin_zone", "destination_zone"]] != "")
        .any(axis=1)
        .all()
    )
    assert not (through & (trips["origin_node"] == trips["destination_node"])).any()
    # inbound trips split by the capacity entering at each gateway: 3,600 vs 1,800 veh/h
    inbound = trips[at_gateway_o & ~through]
    share = (inbound["origin_node"] == 900).mean()
    assert share == pytest.approx(2 / 3, abs=0.06)
    assert "external: 1000 trips at 2 gateways, 30% through" in trips.attrs["source"]


def test_external_trips_are_seeded() -> None:
    G = gateway_lattice()
    pd.testing.assert_frame_equal(build_trips(G, spec(), seed=5), build_trips(G, spec(), seed=5))


def test_gateways_from_points_and_their_errors() -> None:
    G = gateway_lattice()
    lonlat = [list(_TO_LONLAT.transform(G.nodes[n]["x"], G.nodes[n]["y"])) for n in (900, 902)]
    trips = build_trips(G, spec(gateways=lonlat, through_share=1.0), seed=1)
    through = trips["origin_node"].isin([900, 902]) & trips["destination_node"].isin([900, 902])
    assert abs(int(through.sum()) - 1000) <= 1
    far = [lonlat[0], [lonlat[1][0] + 0.5, lonlat[1][1]]]
    with pytest.raises(DemandError, match=r"demand\.external\.gateways\[1\]"):
        build_trips(G, spec(gateways=far), seed=1)
    with pytest.raises(DemandError, match="at least 2 gateways; the map has 0"):
        build_trips(G, spec(road_classes=["motorway"]), seed=1)


def test_external_trips_need_zones(tmp_path) -> None:
    G = gateway_lattice()
    (tmp_path / "t.csv").write_text("origin_node,destination_node,departure\n1,8,60\n")
    bad = DemandSpec.model_validate({"od": {"trips_csv": "t.csv"}, "external": {"trips": 10}})
    with pytest.raises(DemandError, match="external trips need zones"):
        build_trips(G, bad, seed=1, base_dir=tmp_path)
