"""The demand section of a scenario: YAML shapes, defaults and validation messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers.demandnets import lattice_graph
from pydantic import ValidationError

from cysim.demand import DemandSpec, build_trips

BASELINE_BLOCK = """
zones: {grid_m: 2000, connectors_per_zone: 3}
od:
  gravity: {deterrence: exponential, beta_per_min: 0.2}
trips: 60000
profile: morning_peak
sample_factor: 1.0
assumptions: ["stated"]
"""


def test_baseline_block_parses() -> None:
    spec = DemandSpec.model_validate(yaml.safe_load(BASELINE_BLOCK))
    assert spec.source == "gravity"
    assert spec.zones.kind == "grid" and spec.zones.grid_m == 2000
    assert spec.od.gravity is not None and spec.od.gravity.beta_per_min == 0.2
    assert spec.trips == 60000


def test_defaults_and_shorthands() -> None:
    default = DemandSpec()
    assert default.source == "gravity" and default.zones.grid_m == 2000
    assert default.profile == "morning_peak" and default.sample_factor == 1.0
    assert DemandSpec.model_validate({"od": {"gravity": None}}).source == "gravity"
    spec = DemandSpec.model_validate({"od": {"od_csv": "od.csv"}, "profile": {"csv": "p.csv"}})
    assert spec.source == "od_csv" and spec.od.od_csv is not None
    assert spec.od.od_csv.file == Path("od.csv")
    assert DemandSpec.model_validate({"zones": {"junction_clusters": 5}}).zones.kind == "clusters"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"od": {}}, "exactly one of 'gravity', 'od_csv'"),
        ({"od": {"gravity": {}, "od_csv": "a.csv"}}, "got gravity, od_csv"),
        ({"zones": {"grid_m": 1000, "junction_clusters": 3}}, "got grid_m, junction_clusters"),
        ({"zones": {}}, "exactly one of 'file', 'grid_m'"),
        ({"profile": "evening"}, "unknown profile 'evening'"),
        ({"sample_factor": 1.5}, "less than or equal to 1"),
        ({"target_tti": 0.9}, "greater than 1"),
        ({"trip": 100}, "Extra inputs are not permitted"),
        ({"od": {"gravity": {"deterrence": "power"}}}, "'exponential' or 'gamma'"),
    ],
)
def test_invalid_specs_explain_themselves(data: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DemandSpec.model_validate(data)


def test_every_field_has_a_description() -> None:
    schema = DemandSpec.model_json_schema()
    models = [schema, *schema.get("$defs", {}).values()]
    missing = [
        f"{model['title']}.{name}"
        for model in models
        for name, prop in model.get("properties", {}).items()
        if "description" not in prop
    ]
    assert missing == []


def test_tntp_match_zones_uses_the_zone_file(tmp_path: Path) -> None:
    G = lattice_graph(6, 4)
    (tmp_path / "tiny_trips.tntp").write_text(
        "<NUMBER OF ZONES> 2\n<TOTAL OD FLOW> 30.0\n<END OF METADATA>\n\n"
        "Origin 1\n    2 :     10.0;\n\nOrigin 2\n    1 :     20.0;\n"
    )

    def box(zone: int, lon0: float, lon1: float) -> dict:
        lat0, lat1 = G.nodes[1]["lat"] - 0.001, G.nodes[306]["lat"] + 0.001
        ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
        return {
            "type": "Feature",
            "properties": {"id": zone},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }

    middle = (G.nodes[3]["lon"] + G.nodes[4]["lon"]) / 2
    features = [
        box(1, G.nodes[1]["lon"] - 0.001, middle),
        box(2, middle, G.nodes[6]["lon"] + 0.001),
    ]
    (tmp_path / "zones.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    spec = DemandSpec.model_validate(
        {
            "zones": {"file": "zones.geojson"},
            "od": {"tntp_trips": {"file": "tiny_trips.tntp", "match": "zones"}},
            "profile": "uniform",
        }
    )
    trips = build_trips(G, spec, seed=1, base_dir=tmp_path)
    pairs = trips.groupby(["origin_zone", "destination_zone"]).size().to_dict()
    assert pairs == {("1", "2"): 10, ("2", "1"): 20}
    west = {100 * r + c for r in range(4) for c in (1, 2, 3)}
    assert set(trips.loc[trips["origin_zone"] == "1", "origin_node"]) <= west
