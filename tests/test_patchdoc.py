"""The patch reference docs/patches.md: generated from the models, up to date, examples valid."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from pydantic import Field

from cysim import cli, pipeline
from cysim.patch import doc as patchdoc
from cysim.patch.apply import apply_patches
from cysim.patch.models import PATCH_MODELS, Lat, Lon, Place, RoadSelection, StrictModel
from cysim.scenario.load import load_scenario

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BASELINE = PROJECT_ROOT / "scenarios" / "baseline.yaml"

ALL_EXAMPLES = [(f"example:{t}", item) for t, item in patchdoc.EXAMPLES.items()] + [
    (f"between:{i}", item) for i, (_, item) in enumerate(patchdoc.BETWEEN_EXAMPLES)
]


def test_the_committed_reference_is_what_the_generator_writes_now() -> None:
    committed = (PROJECT_ROOT / "docs" / "patches.md").read_text(encoding="utf-8")
    assert committed == patchdoc.render(), (
        "docs/patches.md is out of date: run `python -m cysim.patch.doc --write`"
    )


def test_every_patch_type_has_an_example_and_a_section_with_every_field() -> None:
    page = patchdoc.render()
    assert set(patchdoc.EXAMPLES) == set(PATCH_MODELS)
    sections = dict(re.findall(r"^## (\S+)[^\n]*\n(.*?)(?=^## |\Z)", page, flags=re.M | re.S))
    selection = ("road", "between", "direction", "snap_m")
    for key in selection:
        assert f"| `{key}` |" in sections["Selecting"]  # "## Selecting a road or a stretch"
    for type_name, model in PATCH_MODELS.items():
        section = sections[type_name]
        for name, info in model.model_fields.items():
            if issubclass(model, RoadSelection) and name in selection:
                continue  # documented once, under "Selecting a road or a stretch"
            assert f"| `{info.alias or name}` |" in section, f"{type_name}.{name} has no row"
        assert f"type: {type_name}" in section


def _validate(tmp_path: Path, item: str, monkeypatch, capsys) -> tuple[int, str, str]:
    """Run ``cysim validate`` on the example as the only patch on top of the baseline."""
    body = "\n".join(f"  {line}" if line else line for line in item.splitlines())
    scenario = tmp_path / "example.yaml"
    scenario.write_text(f"base: {BASELINE}\npatches:\n{body}\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["cysim", "validate", str(scenario)])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    out, err = capsys.readouterr()
    return caught.value.code or 0, out, err


@pytest.mark.parametrize(
    "item", [item for _, item in ALL_EXAMPLES], ids=[i for i, _ in ALL_EXAMPLES]
)
def test_every_example_applies_to_the_bundled_map(tmp_path, item, monkeypatch, capsys) -> None:
    code, out, err = _validate(tmp_path, item, monkeypatch, capsys)
    assert code == 0, err
    assert "ok: 1 patch applies" in out


def test_a_broken_example_would_fail_the_check(tmp_path, monkeypatch, capsys) -> None:
    broken = patchdoc.EXAMPLES["close_road"].replace("安城路", "不存在路")
    code, _, err = _validate(tmp_path, broken, monkeypatch, capsys)
    assert code == 2 and "不存在路" in err


def test_forward_and_backward_split_the_stretch_as_the_reference_says(tmp_path: Path) -> None:
    """The between example: forward is eastbound (中城路 → 安城路), backward westbound."""
    chosen = {}
    for direction in ("forward", "backward", "both"):
        scenario = tmp_path / f"{direction}.yaml"
        scenario.write_text(
            f"base: {BASELINE}\npatches:\n  - type: set_speed\n    road: 正阳中路\n"
            "    between: [[正阳中路, 中城路], [正阳中路, 安城路]]\n"
            f"    direction: {direction}\n    speed_kph: 30\n",
            encoding="utf-8",
        )
        resolved = load_scenario(scenario)
        G = pipeline.load_scenario_network(resolved)
        _, report = apply_patches(G, resolved.patches)
        chosen[direction] = set(report.patched_edges())
    lon = {n: G.nodes[n]["lon"] for n in G.nodes}
    assert chosen["forward"] and all(lon[u] < lon[v] for u, v, _ in chosen["forward"])
    assert chosen["backward"] and all(lon[u] > lon[v] for u, v, _ in chosen["backward"])
    assert chosen["forward"] | chosen["backward"] == chosen["both"]


class _Sample(StrictModel):
    place: Place = Field(description="a place")
    stretch: tuple[Place, Place] | None = Field(None, description="two places")
    points: list[tuple[Lon, Lat]] = Field(default_factory=list, description="points")
    snap_m: float = Field(100.0, gt=0, description="metres")
    lanes: int = Field(ge=1, le=8, description="lanes")
    roads: list[str] = Field(min_length=1, description="roads")
    bare: float = 1.0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("place", "[lon, lat] or [road, road]"),
        ("stretch", "[place, place], each [lon, lat] or [road, road]"),
        ("points", "list of [lon, lat]"),
        ("snap_m", "number > 0"),
        ("lanes", "integer 1–8"),
        ("roads", "non-empty list of road names"),
    ],
)
def test_readable_types(name: str, expected: str) -> None:
    info = _Sample.model_fields[name]
    assert patchdoc.readable_type(info.annotation, info.metadata, field=name) == expected


def test_units_and_defaults_follow_the_fields() -> None:
    fields = _Sample.model_fields
    assert [patchdoc.unit_of(n) for n in ("snap_m", "cycle_s", "speed_kph", "lanes")] == [
        "m",
        "s",
        "km/h",
        "",
    ]
    assert patchdoc.default_text(fields["place"]) == "required"
    assert patchdoc.default_text(fields["stretch"]) == "not set"
    assert patchdoc.default_text(fields["points"]) == "`[]`"
    assert patchdoc.default_text(fields["snap_m"]) == "`100`"


def test_a_field_without_description_stops_the_generator() -> None:
    with pytest.raises(ValueError, match=r"_Sample\.bare has no Field"):
        patchdoc.field_table(_Sample)
