"""Demand imports: OD CSV, trip-list CSV and TNTP trips, with errors that name the row."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from helpers.demandnets import lattice_graph

from cysim._errors import DemandError
from cysim.demand import DemandSpec, build_trips


def _spec(od: dict, **extra: object) -> DemandSpec:
    return DemandSpec.model_validate({"zones": {"grid_m": 1000}, "od": od} | extra)


def test_od_csv_with_slices_and_profile(tmp_path: Path) -> None:
    G = lattice_graph(6, 5)
    (tmp_path / "od.csv").write_text(
        "origin,destination,trips,slice\n"
        "E265N4018,E267N4020,10.4,07:00-07:30\n"
        "E265N4018,E267N4020,5,07:30-08:00\n"
        "E267N4020,E265N4018,84.6,\n"
    )
    trips = build_trips(G, _spec({"od_csv": "od.csv"}), seed=1, base_dir=tmp_path)
    assert len(trips) == 100  # 10.4 + 5 + 84.6, rounded preserving the total
    ab = trips[trips["origin_zone"] == "E265N4018"]
    first = ab[ab["departure_s"] < 1800]
    assert len(first) in (10, 11)
    assert ab["departure_s"].between(0, 3600, inclusive="left").all()
    assert len(ab[ab["departure_s"] >= 1800]) == 5
    # The unsliced row follows the morning peak over 07:00-09:00.
    ba = trips[trips["origin_zone"] == "E267N4020"]
    assert len(ba) in (84, 85)
    assert ba["departure_s"].max() > 5400
    assert trips.attrs["source"].startswith("od_csv")


def test_od_csv_total_rescaled_by_trips(tmp_path: Path) -> None:
    G = lattice_graph(6, 5)
    (tmp_path / "od.csv").write_text(
        "origin,destination,trips\nE265N4018,E267N4020,3\nE267N4020,E265N4018,1\n"
    )
    trips = build_trips(G, _spec({"od_csv": "od.csv"}, trips=400), seed=1, base_dir=tmp_path)
    assert len(trips) == 400
    assert (trips["origin_zone"] == "E265N4018").sum() == 300


def test_od_csv_unknown_zone_names_the_line(tmp_path: Path) -> None:
    G = lattice_graph(6, 5)
    path = tmp_path / "od.csv"
    path.write_text("origin,destination,trips\nE265N4018,E267N4020,3\nE265N4018,nowhere,1\n")
    with pytest.raises(DemandError) as error:
        build_trips(G, _spec({"od_csv": str(path)}), seed=1)
    message = str(error.value)
    assert f"{path}:3" in message
    assert "unknown destination zone 'nowhere'" in message
    assert "E265N4018" in message  # the fix lists real zone ids


def test_trip_list_with_zones_nodes_and_coordinates(tmp_path: Path) -> None:
    G = lattice_graph(6, 5)
    lon, lat = G.nodes[305]["lon"], G.nodes[305]["lat"]
    (tmp_path / "trips.csv").write_text(
        "origin_zone,origin_node,origin_lon,origin_lat,destination_node,departure\n"
        f"E265N4018,,,,402,07:05\n"
        f",101,,,5,600\n"
        f",,{lon + 0.0005},{lat},1,07:10:30\n"
    )
    trips = build_trips(G, _spec({"trips_csv": "trips.csv"}), seed=1, base_dir=tmp_path)
    assert trips["departure_s"].tolist() == [300.0, 600.0, 630.0]
    assert trips["origin_zone"].tolist() == ["E265N4018", "", ""]
    assert trips["destination_zone"].tolist() == ["", "", ""]
    assert trips["origin_node"].iloc[0] in (1, 2, 101, 102)
    assert trips["origin_node"].tolist()[1:] == [101, 305]  # coordinates snap to node 305
    assert trips["destination_node"].tolist() == [402, 5, 1]


def test_trip_list_coordinates_off_the_map_name_the_row(tmp_path: Path) -> None:
    G = lattice_graph(6, 5)
    path = tmp_path / "trips.csv"
    path.write_text(
        "origin_lon,origin_lat,destination_node,departure\n"
        f"{G.nodes[1]['lon']},{G.nodes[1]['lat']},5,07:00\n"
        "120.80,36.10,5,07:01\n"
    )
    with pytest.raises(DemandError) as error:
        build_trips(G, _spec({"trips_csv": str(path)}), seed=1)
    message = str(error.value)
    assert f"{path}:3" in message
    assert "off the map" in message and "km from the nearest junction" in message
    assert "fix:" in message


def test_trip_list_unknown_zone_and_bad_departure_name_the_row(tmp_path: Path) -> None:
    G = lattice_graph(6, 5)
    path = tmp_path / "trips.csv"
    path.write_text(
        "origin_zone,destination_zone,departure\nE265N4018,E266N4019,07:00\nE265N4018,x9,07:01\n"
    )
    where = re.escape(str(path))
    with pytest.raises(DemandError, match=rf"{where}:3.*unknown destination zone 'x9'"):
        build_trips(G, _spec({"trips_csv": str(path)}), seed=1)
    path.write_text("origin_node,destination_node,departure\n1,5,06:59\n")
    with pytest.raises(DemandError, match=rf"{where}:2.*outside the period"):
        build_trips(G, _spec({"trips_csv": str(path)}), seed=1)
    path.write_text("origin_node,destination_node,departure\n1,99999,07:00\n")
    with pytest.raises(DemandError, match=rf"{where}:2.*99999.*not a node"):
        build_trips(G, _spec({"trips_csv": str(path)}), seed=1)


def test_trip_list_cannot_be_rescaled(tmp_path: Path) -> None:
    G = lattice_graph(4, 4)
    (tmp_path / "t.csv").write_text("origin_node,destination_node,departure\n1,5,0\n")
    with pytest.raises(DemandError, match="trip list fixes every trip"):
        build_trips(G, _spec({"trips_csv": "t.csv"}, trips=10), seed=1, base_dir=tmp_path)


def _tntp_graph(shared_data: Path) -> nx.MultiDiGraph:
    """A graph whose node ids are the Sioux Falls node numbers (from the TNTP files)."""
    from cysim.network.tntp import read_tntp_network, read_tntp_nodes

    nodes = read_tntp_nodes(shared_data / "tntp" / "SiouxFalls_node.tntp")
    links = read_tntp_network(shared_data / "tntp" / "SiouxFalls_net.tntp")
    G = nx.MultiDiGraph(crs="EPSG:32651")
    node_col, x_col, y_col = nodes.columns[:3]
    for row in nodes.itertuples(index=False):
        # Coordinates are degrees (lon/lat); a flat-earth metre scale is enough here.
        x, y = getattr(row, x_col), getattr(row, y_col)
        G.add_node(int(getattr(row, node_col)), x=x * 80_000.0, y=y * 111_000.0, lon=x, lat=y)
    for row in links.itertuples(index=False):
        G.add_edge(
            int(row.init_node),
            int(row.term_node),
            length_m=float(row.length) * 1609.344,
            speed_kph=60.0,
            highway="primary",
        )
    return G


def test_tntp_sioux_falls_trips_total(shared_data: Path) -> None:
    G = _tntp_graph(shared_data)
    spec = DemandSpec.model_validate(
        {
            "od": {"tntp_trips": {"file": str(shared_data / "tntp" / "SiouxFalls_trips.tntp")}},
            "profile": "uniform",
        }
    )
    trips = build_trips(G, spec, seed=1)
    assert len(trips) == 360_600
    assert trips.attrs["source"].startswith("tntp_trips")
    # Zone 1 -> 10 is 1300 trips in the file.
    pair = ((trips["origin_node"] == 1) & (trips["destination_node"] == 10)).sum()
    assert pair == 1300
    assert (trips["origin_zone"] == "").all()
    assert np.all(trips["departure_s"] < 7200)


def test_tntp_node_map_and_unknown_zone(shared_data: Path, tmp_path: Path) -> None:
    G = _tntp_graph(shared_data)
    G = nx.relabel_nodes(G, {n: n + 1000 for n in G.nodes})
    trips_file = shared_data / "tntp" / "SiouxFalls_trips.tntp"
    spec = DemandSpec.model_validate({"od": {"tntp_trips": {"file": str(trips_file)}}})
    with pytest.raises(DemandError, match="TNTP zone 1 has no node"):
        build_trips(G, spec, seed=1)
    (tmp_path / "map.csv").write_text(
        "tntp_zone,node\n" + "".join(f"{z},{z + 1000}\n" for z in range(1, 25))
    )
    spec = DemandSpec.model_validate(
        {"od": {"tntp_trips": {"file": str(trips_file), "node_map": "map.csv"}}, "trips": 1000}
    )
    trips = build_trips(G, spec, seed=2, base_dir=tmp_path)
    assert len(trips) == 1000
    assert trips["origin_node"].min() > 1000
