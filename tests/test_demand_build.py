"""build_trips end to end on hand-built graphs: contract, determinism, zones, sampling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.demandnets import lattice_graph

from cysim._errors import DemandError
from cysim.demand import DemandSpec, build_trips, zone_table
from cysim.demand.spec import ZonesSpec


def _spec(**overrides: object) -> DemandSpec:
    data = {"zones": {"grid_m": 1000}, "trips": 4000} | overrides
    return DemandSpec.model_validate(data)


def test_trips_table_follows_the_contract() -> None:
    G = lattice_graph(8, 6)
    trips = build_trips(G, _spec(), seed=1)
    assert list(trips.columns) == [
        "trip_id",
        "origin_node",
        "destination_node",
        "departure_s",
        "origin_zone",
        "destination_zone",
    ]
    assert len(trips) == 4000
    assert trips["trip_id"].tolist() == list(range(4000))
    for column in ("trip_id", "origin_node", "destination_node"):
        assert trips[column].dtype == np.int64
    assert trips["departure_s"].dtype == np.float64
    assert trips["departure_s"].is_monotonic_increasing
    assert trips["departure_s"].between(0, 7200, inclusive="left").all()
    assert set(trips["origin_node"]) | set(trips["destination_node"]) <= set(G.nodes)
    assert (trips["origin_node"] != trips["destination_node"]).all()
    assert (trips["origin_zone"] != trips["destination_zone"]).all()  # intrazonal excluded
    assert trips.attrs["sample_factor"] == 1.0
    assert trips.attrs["source"].startswith("gravity")
    # Trips start at a connector of their origin zone.
    zones = zone_table(G, _spec()).set_index("zone")
    for row in trips.head(200).itertuples():
        assert row.origin_node in zones.loc[row.origin_zone, "connectors"]
        assert row.destination_node in zones.loc[row.destination_zone, "connectors"]


def test_same_seed_same_trips_different_seed_different() -> None:
    G = lattice_graph(8, 6)
    a = build_trips(G, _spec(), seed=42)
    b = build_trips(G, _spec(), seed=42)
    c = build_trips(G, _spec(), seed=43)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs
    assert len(c) == len(a)
    assert not a.equals(c)


def test_departures_follow_the_morning_peak() -> None:
    G = lattice_graph(8, 6)
    trips = build_trips(G, _spec(trips=20_000), seed=3)
    counts = np.bincount((trips["departure_s"] // 900).astype(int), minlength=8)
    shares = counts / counts.sum()
    expected = np.array([0.09, 0.11, 0.15, 0.16, 0.15, 0.13, 0.11, 0.10])
    # Systematic sampling keeps each interval within ± the number of OD cells of its expectation.
    np.testing.assert_allclose(shares, expected, atol=0.01)


def test_sample_factor_keeps_a_seeded_share() -> None:
    G = lattice_graph(8, 6)
    full = build_trips(G, _spec(), seed=5)
    sampled = build_trips(G, _spec(sample_factor=0.25), seed=5)
    assert len(sampled) == 1000
    assert sampled.attrs["sample_factor"] == 0.25
    assert sampled.attrs["full_demand_trips"] == 4000
    assert sampled["trip_id"].tolist() == list(range(1000))
    # The sample is a subset of the full demand's trips.
    key = ["origin_node", "destination_node", "departure_s"]
    merged = sampled[key].merge(full[key], how="left", indicator=True)
    assert (merged["_merge"] == "both").all()


def test_gravity_without_size_is_a_clear_error() -> None:
    G = lattice_graph(4, 4)
    spec = DemandSpec.model_validate({"zones": {"grid_m": 1000}})
    with pytest.raises(DemandError, match=r"demand\.trips"):
        build_trips(G, spec, seed=1)


def test_junction_cluster_zones_are_deterministic() -> None:
    G = lattice_graph(8, 6)
    spec = ZonesSpec(junction_clusters=6, connectors_per_zone=2)
    a = zone_table(G, spec)
    b = zone_table(G, spec)
    assert len(a) == 6
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert all(len(c) == 2 for c in a["connectors"])
    # Every connector lies inside its zone's hull.
    for row in a.itertuples():
        for node in row.connectors:
            point = (G.nodes[node]["x"], G.nodes[node]["y"])
            assert row.geometry.buffer(1.0).contains(__import__("shapely").Point(point))


def test_grid_zones_drop_empty_cells_and_weigh_roads() -> None:
    G = lattice_graph(6, 5)  # 2500 m x 2000 m of nodes
    zones = zone_table(G, ZonesSpec(grid_m=1000))
    # Node columns 0..5 at 500 m fall in cells 0..2; rows 0..4 in cells 0..2.
    assert len(zones) == 9
    assert zones["zone"].tolist()[0] == "E265N4018"
    assert zones["population"].isna().all()
    # Rows 0, 2, 4 are primary (attractions), 1, 3 residential (productions): cell row 0
    # (node rows 0-1) has both, so both weights are positive.
    assert (zones["production_weight"] > 0).all() and (zones["attraction_weight"] > 0).all()
    # Row 2 of cells holds only node row 4 (primary): more attraction than production.
    top = zones[zones["zone"].str.endswith("N4020")]
    assert (top["attraction_weight"] > top["production_weight"]).all()


def _write_geojson(path: Path, features: list[dict]) -> None:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def _box_feature(G, zone_id: str, nodes: tuple[int, int], **properties: object) -> dict:
    """A lon/lat rectangle around two opposite lattice nodes (a little margin)."""
    lon0, lat0 = G.nodes[nodes[0]]["lon"] - 0.001, G.nodes[nodes[0]]["lat"] - 0.001
    lon1, lat1 = G.nodes[nodes[1]]["lon"] + 0.001, G.nodes[nodes[1]]["lat"] + 0.001
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {
        "type": "Feature",
        "properties": {"zone_id": zone_id, **properties},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_zones_from_geojson_with_population_and_jobs(tmp_path: Path) -> None:
    G = lattice_graph(6, 4)
    _write_geojson(
        tmp_path / "zones.geojson",
        [
            _box_feature(G, "west", (1, 303), population=8000, jobs=2000),
            _box_feature(G, "east", (4, 306), population=2000, jobs=8000),
        ],
    )
    spec = DemandSpec.model_validate(
        {
            "zones": {"file": "zones.geojson", "id_column": "zone_id"},
            "trips": 1000,
            "profile": "uniform",
        }
    )
    zones = zone_table(G, spec, tmp_path)
    assert zones["zone"].tolist() == ["west", "east"]
    assert zones["production_weight"].tolist() == [8000.0, 2000.0]
    west_nodes = {100 * r + c for r in range(4) for c in (1, 2, 3)}
    assert set(zones["connectors"].iloc[0]) <= west_nodes
    trips = build_trips(G, spec, seed=1, base_dir=tmp_path)
    # Two zones, no intrazonal trips: west→east carries west's 80 % of productions, which
    # matches east's 80 % of jobs.
    pairs = trips.groupby(["origin_zone", "destination_zone"]).size().to_dict()
    assert pairs == {("east", "west"): 200, ("west", "east"): 800}
    assert trips["departure_s"].between(0, 7200).all()


def test_zone_file_errors(tmp_path: Path) -> None:
    G = lattice_graph(4, 4)
    path = tmp_path / "zones.geojson"
    _write_geojson(path, [_box_feature(G, "a", (1, 202)), _box_feature(G, "a", (3, 304))])
    with pytest.raises(DemandError, match="duplicate zone ids: a"):
        zone_table(G, ZonesSpec(file=path, id_column="zone_id"))
    with pytest.raises(DemandError, match="no column 'id'"):
        zone_table(G, ZonesSpec(file=path))
    with pytest.raises(DemandError, match="not found"):
        zone_table(G, ZonesSpec(file=tmp_path / "missing.geojson"))
