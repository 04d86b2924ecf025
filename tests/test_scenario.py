"""Scenario loading: base inheritance, path resolution, one-line errors with file:line:key."""
# ruff: noqa: E501  (the table of bad patches reads best one case per line)

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cysim._errors import ScenarioError
from cysim.patch.models import WidenRoad
from cysim.scenario._yaml import parse_yaml
from cysim.scenario.load import load_scenario

BASE = """\
name: baseline
title: Baseline
report_quote: 基线
assumptions: [none]
map: maps/test.osm
network:
  road_classes: {primary: {lanes: 3}}
simulation:
  replications: 3
  route_choice: {iterations: 4}
patches:
  - type: set_speed
    road: 正阳路
    speed_kph: 40
"""

CHILD = """\
base: ../base.yaml
title: Child
simulation:
  seed: 7
patches:
  - type: widen_road
    road: 文阳路
    lanes_per_direction: 3
  - type: channelize
    junction: [正阳路, 长城路]
    add_turn_lanes: {left: 1}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(tmp_path, "base.yaml", BASE)
    write(tmp_path, "maps/test.osm", "<osm/>")
    write(tmp_path, "sub/child.yaml", CHILD)
    return tmp_path


def error_of(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert "\n" not in str(caught.value)
    return caught.value


def test_base_inheritance(tree):
    scenario = load_scenario(tree / "sub/child.yaml")
    assert [p.type for p in scenario.patches] == ["set_speed", "widen_road", "channelize"]
    assert scenario.simulation.seed == 7  # child adds
    assert scenario.simulation.replications == 3  # base kept
    assert scenario.simulation.route_choice.iterations == 4  # nested keys merge
    assert scenario.network.road_classes == {"primary": {"lanes": 3.0}}
    assert scenario.map == tree / "maps/test.osm"  # relative to the file that declares it
    assert scenario.name == "child" and scenario.title == "Child"  # own keys are not inherited
    assert scenario.report_quote == "" and scenario.assumptions == []
    assert scenario.base_chain == [tree / "base.yaml"]
    assert scenario.source_file == tree / "sub/child.yaml"
    origin = scenario.patches[0].origin
    assert (origin.file, origin.line, origin.index) == (tree / "base.yaml", 12, 0)
    assert scenario.patches[2].origin.key_lines["junction"] == 10


def test_base_list_applies_a_shared_ancestor_once(tree):
    write(
        tree,
        "sub/other.yaml",
        "base: ../base.yaml\npatches:\n  - {type: set_speed, road: 银河路, speed_kph: 30}\n",
    )
    package = write(tree, "sub/package.yaml", "base: [child.yaml, other.yaml]\n")
    scenario = load_scenario(package)
    assert [p.type for p in scenario.patches] == [
        "set_speed",
        "widen_road",
        "channelize",
        "set_speed",
    ]
    assert scenario.base_chain == [
        tree / "base.yaml",
        tree / "sub/child.yaml",
        tree / "sub/other.yaml",
    ]


def test_resolved_yaml_round_trips_with_the_same_fingerprint(tree):
    scenario = load_scenario(tree / "sub/child.yaml")
    resolved = write(tree, "resolved.yaml", scenario.resolved_yaml())
    again = load_scenario(resolved)
    assert [p.model_dump() for p in again.patches] == [p.model_dump() for p in scenario.patches]
    assert again.content() | {"name": "child"} == scenario.content()
    assert load_scenario(tree / "sub/child.yaml").fingerprint() == scenario.fingerprint()
    assert len(scenario.fingerprint()) == 64


def test_fingerprint_follows_content_not_location(tree, tmp_path_factory):
    first = load_scenario(tree / "sub/child.yaml").fingerprint()
    elsewhere = tmp_path_factory.mktemp("copy")
    shutil.copytree(tree, elsewhere, dirs_exist_ok=True)
    assert load_scenario(elsewhere / "sub/child.yaml").fingerprint() == first
    write(elsewhere, "maps/test.osm", "<osm version='0.6'/>")
    assert load_scenario(elsewhere / "sub/child.yaml").fingerprint() != first
    write(tree, "sub/child.yaml", CHILD.replace("lanes_per_direction: 3", "lanes_per_direction: 4"))
    assert load_scenario(tree / "sub/child.yaml").fingerprint() != first


def test_unknown_key_names_file_line_and_nearest_key(tree):
    path = write(tree, "sub/typo.yaml", CHILD.replace("lanes_per_direction", "lanes_per_directon"))
    error = error_of(path)
    assert (error.file, error.line, error.key) == (str(path), 8, "patches[0].lanes_per_directon")
    assert error.hint.startswith("did you mean 'lanes_per_direction'?")
    nested = write(
        tree, "sub/nested.yaml", "base: ../base.yaml\nsimulation:\n  route_choice: {iteratons: 3}\n"
    )
    error = error_of(nested)
    assert (error.line, error.key) == (3, "simulation.route_choice.iteratons")
    assert "did you mean 'iterations'?" in error.hint
    top = write(tree, "sub/top.yaml", "base: ../base.yaml\npatchs: []\n")
    assert "did you mean 'patches'?" in error_of(top).hint


def test_errors_in_an_inherited_patch_point_at_the_base_file(tree):
    write(tree, "base.yaml", BASE.replace("speed_kph: 40", "speed_kph: -5"))
    error = error_of(tree / "sub/child.yaml")
    assert (error.file, error.line, error.key) == (
        str(tree / "base.yaml"),
        14,
        "patches[0].speed_kph",
    )
    assert "greater than 0" in error.message and "-5" in error.message


@pytest.mark.parametrize(
    ("patch", "line", "key", "text"),
    [
        ("  - {type: widen_road, road: 文阳路, lanes_per_direction: 0}", 3, "patches[0].lanes_per_direction", "greater than or equal to 1"),
        ("  - {type: widen_road, road: 文阳路}", 3, "patches[0]", "exactly one of 'lanes_per_direction' or 'add_lanes'"),
        ("  - {type: widn_road, road: 文阳路}", 3, "patches[0].type", "did you mean 'widen_road'?"),
        ("  - {road: 文阳路}", 3, "patches[0]", "the patch has no 'type'"),
        ("  - {type: open_road, from: [1, 2], to: [3, 4], lanes_per_direction: 1}", 3, "patches[0].speed_kph", "missing required key 'speed_kph'"),
        ("  - {type: channelize, junction: [正阳路, 3], add_turn_lanes: {left: 1}}", 3, "patches[0].junction", "a place is [lon, lat]"),
        ("  - {type: set_speed, road: 文阳路, speed_kph: 30, direction: forward}", 3, "patches[0]", "'direction' needs 'between'"),
        ("  - {type: signal_timing, junction: [a, b], cycle_s: 90, splits: [0.6, 0.5]}", 3, "patches[0]", "sum to 1.1"),
        ("  - {type: add_parking, location: [120.4, 36.3], spaces: 0}", 3, "patches[0].spaces", "greater than or equal to 1"),
        ("  - {type: demand_shift, scale: 0.9}", 3, "patches[0]", "exactly one of 'zones' or 'corridor'"),
    ],
)  # fmt: skip
def test_bad_patch_values(tree, patch, line, key, text):
    path = write(tree, "sub/bad.yaml", f"map: ../maps/test.osm\npatches:\n{patch}\n")
    error = error_of(path)
    assert (error.file, error.line, error.key) == (str(path), line, key)
    assert text in str(error)


def test_base_cycle(tree):
    write(tree, "a.yaml", "base: b.yaml\nmap: maps/test.osm\n")
    write(tree, "b.yaml", "map: maps/test.osm\nbase: [base.yaml, a.yaml]\n")
    error = error_of(tree / "a.yaml")
    assert "base files form a cycle: a.yaml → b.yaml → a.yaml" in error.message
    assert (error.file, error.line, error.key) == (str(tree / "b.yaml"), 2, "base[1]")
    write(tree, "self.yaml", "base: self.yaml\n")
    assert "cycle" in error_of(tree / "self.yaml").message


def test_missing_base_file(tree):
    path = write(tree, "lost.yaml", "name: lost\nbase: nowhere.yaml\n")
    error = error_of(path)
    assert "base file not found" in error.message and str(tree / "nowhere.yaml") in error.message
    assert (error.line, error.key) == (2, "base")


def test_malformed_yaml_and_duplicate_keys(tree):
    broken = write(
        tree, "broken.yaml", "map: x.osm\npatches:\n  - type: widen_road\n   road: 文阳路\n"
    )
    error = error_of(broken)
    assert error.file == str(broken) and error.line == 4
    assert error.message.startswith("not valid YAML")
    twice = write(tree, "twice.yaml", "map: x.osm\nname: a\nname: b\n")
    error = error_of(twice)
    assert (error.line, error.key) == (3, "name") and "appears twice" in error.message
    listed = write(tree, "list.yaml", "- a\n- b\n")
    assert "must be a mapping" in error_of(listed).message
    assert "scenario file not found" in error_of(tree / "absent.yaml").message


def test_yaml_lines_for_every_key():
    doc = parse_yaml("a: 1\nb:\n  - x: 2\n    y: [1, 2]\n  - 3\n")
    assert doc.data == {"a": 1, "b": [{"x": 2, "y": [1, 2]}, 3]}
    assert doc.lines[("b", 0, "y")] == 4 and doc.lines[("b", 1)] == 5
    assert doc.line_of(("b", 0, "y", 1, "deeper")) == 4


def test_demand_paths_resolve_relative_to_the_declaring_file(tree):
    write(
        tree,
        "base.yaml",
        BASE + "demand:\n  zones: {file: data/zones.geojson}\n  od: {od_csv: od.csv}\n",
    )
    scenario = load_scenario(tree / "sub/child.yaml")
    assert scenario.demand.zones.file == tree / "data/zones.geojson"
    assert scenario.demand.od.od_csv.file == tree / "od.csv"
    assert scenario.demand.profile == "morning_peak"


def test_patch_models_reject_unknown_keys_in_python():
    with pytest.raises(ValueError, match="lanes_per_directon"):
        WidenRoad(type="widen_road", road="x", lanes_per_directon=3)


def test_fingerprint_hashes_demand_files_not_their_location(tree, tmp_path_factory):
    write(tree, "od.csv", "origin,destination,trips\n1,2,10\n")
    write(tree, "base.yaml", BASE + "demand:\n  od: {od_csv: od.csv}\n")
    first = load_scenario(tree / "sub/child.yaml").fingerprint()
    elsewhere = tmp_path_factory.mktemp("copy")
    shutil.copytree(tree, elsewhere, dirs_exist_ok=True)
    assert load_scenario(elsewhere / "sub/child.yaml").fingerprint() == first
    write(elsewhere, "od.csv", "origin,destination,trips\n1,2,11\n")
    assert load_scenario(elsewhere / "sub/child.yaml").fingerprint() != first


def test_where_finds_the_declaring_file_and_line(tree):
    scenario = load_scenario(tree / "sub/child.yaml")
    assert scenario.where("simulation.seed") == (tree / "sub/child.yaml", 4)
    assert scenario.where("simulation.replications") == (tree / "base.yaml", 9)
    assert scenario.where("patches[1].road") == (tree / "sub/child.yaml", 7)
    assert scenario.where("demand.trips") == (tree / "sub/child.yaml", 1)  # not declared


def test_runaway_yaml_is_a_scenario_error():
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        laughs += f"{level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
    with pytest.raises(ScenarioError, match="expands to more than"):
        parse_yaml(laughs)
    with pytest.raises(ScenarioError, match="nested too deeply"):
        parse_yaml("a: " + "[" * 1100 + "]" * 1100)
    with pytest.raises(ScenarioError, match="nested too deeply"):
        parse_yaml("&a [*a]")


@pytest.mark.parametrize(
    ("text", "line", "key", "tag"),
    [
        ("a: 1\nb: !!python/object/apply:os.system [x]\n", 2, "b", "python/object/apply"),
        ("a:\n  b: !!python/object/new:os.system {c: 1}\n", 2, "a.b", "python/object/new"),
        ("a:\n  - !!binary aGVsbG8=\n", 2, "a[0]", "binary"),
        ("a: !local text\n", 1, "a", "!local"),
    ],
)
def test_yaml_tags_other_than_plain_types_are_refused(text, line, key, tag):
    with pytest.raises(ScenarioError, match="is not allowed in scenario files") as caught:
        parse_yaml(text, file=Path("s.yaml"))
    assert (caught.value.line, caught.value.key) == (line, key)
    assert tag in caught.value.message


def test_plain_tags_and_bare_markers_read_as_values():
    doc = parse_yaml("a: !!str 12\nb: =\nc: [<<]\nd: !!int '3'\n")
    assert doc.data == {"a": "12", "b": "=", "c": ["<<"], "d": 3}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: [1, 2\nc: 3\n", 3),
        ("a: 1\n  b: 2\n", 2),
        ("x:\n  y: 1\n  z: *nope\n", 3),
        ("a: 1\nkey: |\n  text\n bad\n", 4),
    ],
)
def test_malformed_yaml_lines_agree_between_pure_and_c_parsers(monkeypatch, text, line):
    import yaml

    import cysim.scenario._yaml

    for loader in {yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)}:
        monkeypatch.setattr(cysim.scenario._yaml, "_COMPOSE_LOADER", loader)
        with pytest.raises(ScenarioError, match="not valid YAML") as caught:
            parse_yaml(text, file=Path("s.yaml"))
        assert caught.value.line == line, loader


@pytest.mark.parametrize(
    ("text", "line", "shown"),
    [
        ("\x1fname: x\n", 1, "#x001f"),
        ("名名名: 1\n名: 2\nb: \x07\n", 3, "#x0007"),  # libyaml counts bytes, not characters
        ("a: 1\nb: \ud800\n", 2, "#xd800"),  # libyaml cannot even encode it
    ],
)
def test_control_characters_are_one_line_errors_with_the_line(monkeypatch, text, line, shown):
    import yaml

    import cysim.scenario._yaml

    for loader in {yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)}:
        monkeypatch.setattr(cysim.scenario._yaml, "_COMPOSE_LOADER", loader)
        with pytest.raises(ScenarioError) as caught:
            parse_yaml(text, file=Path("s.yaml"))
        assert caught.value.line == line, loader
        assert f"character {shown} is not allowed" in str(caught.value)
        assert "\n" not in str(caught.value)


def test_a_child_naming_another_od_or_zone_source_replaces_the_inherited_one(tree):
    write(
        tree,
        "base.yaml",
        BASE
        + "demand:\n  zones: {grid_m: 500, connectors_per_zone: 4}\n"
        + "  od:\n    gravity: {beta_per_min: 0.2, deterrence: gamma}\n",
    )
    write(
        tree,
        "sub/switch.yaml",
        "base: ../base.yaml\ndemand:\n  od: {trips_csv: t.csv}\n  zones: {junction_clusters: 5}\n",
    )
    switched = load_scenario(tree / "sub/switch.yaml")
    assert switched.demand.od.source == "trips_csv" and switched.demand.od.gravity is None
    assert switched.demand.od.trips_csv.file == tree / "sub/t.csv"
    assert switched.demand.zones.kind == "clusters" and switched.demand.zones.grid_m is None
    assert switched.demand.zones.connectors_per_zone == 3  # the base's setting went with it
    assert switched.where("demand.od") == (tree / "sub/switch.yaml", 3)
    assert switched.where("demand.od.gravity")[0] == tree / "sub/switch.yaml"  # not the base's
    # The same source, or none, still merges key by key.
    write(
        tree,
        "sub/tweak.yaml",
        "base: ../base.yaml\ndemand:\n  od: {gravity: {beta_per_min: 0.3}}\n  zones: {connectors_per_zone: 2}\n",
    )
    tweaked = load_scenario(tree / "sub/tweak.yaml")
    assert tweaked.demand.od.gravity.beta_per_min == 0.3
    assert tweaked.demand.od.gravity.deterrence == "gamma"
    assert (tweaked.demand.zones.grid_m, tweaked.demand.zones.connectors_per_zone) == (500, 2)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ('name: x\nmap: "a\\0b.osm"\n', 2, "map"),
        ('map: m.osm\ndemand:\n  od: {od_csv: "od\\0.csv"}\n', 3, "demand.od.od_csv"),
        ('map: m.osm\ndemand:\n  zones:\n    file: "z\\0.geojson"\n', 4, "demand.zones.file"),
        ('base: "b\\0.yaml"\nmap: m.osm\n', 1, "base"),
    ],
)
def test_a_nul_character_in_a_path_is_a_scenario_error(tmp_path, text, line, key):
    error = error_of(write(tmp_path, "s.yaml", text))
    assert (Path(error.file), error.line, error.key) == (tmp_path / "s.yaml", line, key)
    assert "invalid path" in error.message and "null" in error.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: !!int x\n", "'x' is not a valid int"),
        ("a: 1\nb: !!bool maybe\n", "'maybe' is not a valid bool"),
        ("a: 1\nb: !!timestamp 2020-13-45\n", "'2020-13-45' is not a valid timestamp"),
        ("a: 1\nb: !!int [1]\n", "'tag:yaml.org,2002:int' is not allowed on a sequence"),
        ("a: 1\nb: !!seq {c: 1}\n", "'tag:yaml.org,2002:seq' is not allowed on a mapping"),
    ],
)
def test_explicit_plain_tags_that_do_not_fit_the_value_are_scenario_errors(text, message):
    with pytest.raises(ScenarioError, match=message) as caught:
        parse_yaml(text, file=Path("s.yaml"))
    assert (caught.value.line, caught.value.key) == (2, "b")
