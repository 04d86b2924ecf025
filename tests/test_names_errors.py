"""Road names as planners type them (pinyin, English) and errors that say how to fix them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
from conftest import BUNDLED_MAP, PROJECT_ROOT
from helpers.graphs import grid_graph
from typer.testing import CliRunner

from cysim import cli, settings
from cysim._errors import PatchError
from cysim.network import build as network
from cysim.network import locate
from cysim.patch.apply import apply_patches
from cysim.patch.models import CloseRoad, WidenRoad
from cysim.scenario.load import load_scenario


@pytest.fixture(scope="module")
def bundled() -> nx.MultiDiGraph:
    return network.load_network(BUNDLED_MAP)


# --- the map keeps name:en ------------------------------------------------------------------


def test_the_bundled_map_keeps_the_english_names(bundled, tmp_path):
    english = {d["name"]: d["name_en"] for _, _, d in bundled.edges(data=True)}
    assert english["中城路"] == "Zhongcheng Road"
    assert english["中车大道"] == "CRRC Avenue"
    saved = network.load_graphml(network.save_graphml(bundled, tmp_path / "m.graphml"))
    assert {d["name_en"] for _, _, d in saved.edges(data=True)} == set(english.values())


def test_a_graphml_saved_before_name_en_still_loads(bundled, tmp_path):
    older = bundled.copy()
    for _, _, data in older.edges(data=True):
        del data["name_en"]
    saved = network.load_graphml(network.save_graphml(older, tmp_path / "old.graphml"))
    assert {d["name_en"] for _, _, d in saved.edges(data=True)} == {""}


# --- pinyin and English names ----------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "中城路",
        "Zhongcheng Lu",
        "zhongchenglu",
        "Zhōngchéng Lù",
        "Zhongcheng Road",
        "zhong-cheng rd",
    ],
)
def test_pinyin_and_english_spellings_find_the_road(bundled, written):
    assert locate.matching_road_names(bundled, written) == ["中城路"]
    assert set(locate.find_road_edges(bundled, written)) == set(
        locate.find_road_edges(bundled, "中城路")
    )


def test_english_names_that_are_not_pinyin_match_through_name_en(bundled):
    assert locate.matching_road_names(bundled, "CRRC Avenue") == ["中车大道"]
    assert locate.matching_road_names(bundled, "national road 204") == ["204国道"]
    assert locate.matching_road_names(bundled, "Zhengyang Middle Road") == ["正阳中路"]


def test_a_pinyin_stem_finds_every_section_like_the_chinese_stem(bundled):
    sections = ["正阳东路", "正阳中路", "正阳西路"]
    assert locate.matching_road_names(bundled, "正阳路") == sections
    assert locate.matching_road_names(bundled, "Zhengyang Lu") == sections
    assert locate.matching_road_names(bundled, "Zhengyang Zhonglu") == ["正阳中路"]


@pytest.fixture
def homophones() -> nx.MultiDiGraph:
    """The test grid with 春阳路 renamed 温阳路, which reads wenyang lu like 文阳路."""
    G = grid_graph()
    for u, v in ((1, 4), (4, 1)):
        G.edges[u, v, 0]["name"] = "温阳路"
    return G


def test_an_exact_chinese_name_wins_over_a_homophone(homophones):
    assert locate.matching_road_names(homophones, "文阳路") == ["文阳路"]
    assert locate.matching_road_names(homophones, "温阳路") == ["温阳路"]


def test_an_ambiguous_pinyin_name_lists_both_roads(homophones):
    with pytest.raises(PatchError) as caught:
        locate.find_road_edges(homophones, "Wenyang Lu", key="road")
    error = caught.value
    assert "road 'Wenyang Lu' is ambiguous" in error.message
    assert "文阳路 (Wenyang Lu)" in error.message and "温阳路 (Wenyang Lu)" in error.message
    assert error.hint == "write the Chinese name of the one you mean (文阳路 or 温阳路)"


def test_a_chinese_homophone_typo_is_not_taken_for_the_road(bundled):
    with pytest.raises(PatchError, match="road '长成路' not found in the map; closest: 长城路, "):
        locate.find_road_edges(bundled, "长成路")


# --- suggestions ranked by similarity ------------------------------------------------------


def _closest(error: PatchError) -> list[str]:
    return error.message.split("closest: ")[1].split(", ")


@pytest.mark.parametrize(
    ("written", "first"),
    [
        ("Zhongchen Lu", "中城路 (Zhongcheng Road)"),
        ("Wenyan Road", "文阳路 (Wenyang Road)"),
        ("CRC Avenue", "中车大道 (CRRC Avenue)"),
        ("文羊路", "文阳路"),
        ("正阳道", "正阳东路"),
    ],
)
def test_suggestions_are_ranked_by_similarity(bundled, written, first):
    with pytest.raises(PatchError) as caught:
        locate.find_road_edges(bundled, written)
    listed = _closest(caught.value)
    assert listed[0] == first
    assert len(listed) == locate.N_SUGGESTIONS
    assert listed != sorted(listed)  # not alphabetical
    assert "cysim map info --roads" in caught.value.hint


# --- errors point at the key that is wrong -------------------------------------------------


def test_an_unknown_road_with_between_is_reported_at_road(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "map: x.osm\npatches:\n"
        "  - type: widen_road\n"
        "    between: [[文阳路, 长城路], [文阳路, 黑龙江路]]\n"
        "    road: 文羊路\n"
        "    add_lanes: 1\n",
        encoding="utf-8",
    )
    with pytest.raises(PatchError) as caught:
        apply_patches(grid_graph(), load_scenario(path).patches)
    assert str(caught.value).startswith(
        f"{path}:5 [patches[0].road]: road '文羊路' not found in the map; closest: 文阳路"
    )


# --- every error says how to fix it (through `cysim validate` on the bundled map) ----------


@pytest.fixture
def validate(monkeypatch, capsys, tmp_path):
    """Run ``cysim validate`` on a scenario of the bundled map with these patches."""
    monkeypatch.setattr(settings, "network_cache", False)

    def run(patches: str, map_line: str = f"map: {BUNDLED_MAP}") -> tuple[int, str, Path]:
        path = tmp_path / "s.yaml"
        path.write_text(f"name: s\n{map_line}\npatches:\n{patches}", encoding="utf-8")
        monkeypatch.setattr(sys, "argv", ["cysim", "validate", str(path)])
        with pytest.raises(SystemExit) as caught:
            cli.main()
        _, err = capsys.readouterr()
        code = caught.value.code or 0
        assert err.count("\n") == (1 if code else 0), err  # one line, no traceback
        return code, err, path

    return run


@pytest.mark.parametrize("junction", ["[中城路]", "中城路"])
def test_a_junction_of_one_road_lists_the_roads_crossing_it(validate, junction):
    code, err, path = validate(
        f"  - type: channelize\n    junction: {junction}\n    add_turn_lanes: {{left: 1}}\n"
    )
    assert code == 2
    assert err.startswith(f"error: {path}:5 [patches[0].junction]: a junction is named by two ")
    assert "got only the road '中城路'" in err
    assert "(fix: write junction: [中城路, <the crossing road>]; roads crossing 中城路: " in err
    assert "春阳路" in err.split("roads crossing 中城路: ")[1]  # a road that really crosses it


def test_roads_that_do_not_meet_list_the_roads_crossing_the_first(validate):
    code, err, path = validate(
        "  - type: channelize\n    junction: [文阳路, 银河路]\n    add_turn_lanes: {left: 1}\n"
    )
    assert code == 2
    assert err.startswith(
        f"error: {path}:5 [patches[0].junction]: roads '文阳路' and '银河路' do not meet"
    )
    assert "they come nearest (4440 m apart) at node " in err
    assert "(fix: pick a road that crosses 文阳路: 春阳路, 靖城路, " in err
    assert "or give the junction as [lon, lat])" in err


def test_a_place_written_lat_lon_says_to_swap_it(validate):
    code, err, path = validate(
        "  - type: channelize\n    junction: [36.300, 120.391]\n    add_turn_lanes: {left: 1}\n"
    )
    assert code == 2
    assert err.startswith(f"error: {path}:5 [patches[0].junction]: a place is [lon, lat]")
    assert "[36.3, 120.391] reads as [lat, lon]" in err
    assert "(fix: write [120.391, 36.3])" in err


def test_a_patch_error_without_its_own_fix_points_to_the_patch_reference(validate):
    code, err, _ = validate(
        "  - type: widen_road\n    road: 中城路\n    lanes_per_direction: 4\n    add_lanes: 1\n"
    )
    assert code == 2
    assert "give exactly one of 'lanes_per_direction' or 'add_lanes'" in err
    assert "(fix: see the fields of widen_road in docs/patches.md (section 'widen_road')" in err
    assert (PROJECT_ROOT / "docs" / "patches.md").read_text(encoding="utf-8").count(
        "## widen_road"
    ) == 1


def test_a_stretch_end_off_the_road_lists_the_roads_crossing_it(validate):
    code, err, _ = validate(
        "  - type: widen_road\n    road: 文阳路\n    add_lanes: 1\n"
        "    between: [[文阳路, 春阳路], [中城路, 春阳路]]\n"
    )
    assert code == 2
    assert "[patches[0].between]: junction ['中城路', '春阳路'] (node " in err
    assert "is not on '文阳路'" in err
    assert "(fix: name a junction of 文阳路 with a road that crosses it: [文阳路, <road>]" in err


def test_greens_above_the_cycle_say_the_sum_the_cycle_the_lost_time_and_the_fix(validate):
    code, err, path = validate(
        "  - type: signal_timing\n    junction: [正阳中路, 长城路]\n"
        "    cycle_s: 60\n    greens_s: [40, 30]\n"
    )
    assert code == 2
    assert err.startswith(f"error: {path}:7 [patches[0].greens_s]: junction 263 (正阳中路/长城路)")
    assert "greens_s sum to 70 s with cycle_s 60 s" in err
    assert "an amber of at least 3 s (+ all-red) per change, 6 s in all" in err
    assert "so the greens may total at most 54 s" in err
    assert "(fix: shorten the greens to at most 54 s in all (e.g. greens_s: [30, 23])" in err
    assert "or lengthen cycle_s to at least 76 s; or drop cycle_s" in err


def test_too_many_greens_say_how_many_phases_and_what_to_write(validate):
    code, err, _ = validate(
        "  - type: signal_timing\n    junction: [正阳中路, 长城路]\n    greens_s: [20, 25, 30]\n"
    )
    assert code == 2
    assert "junction 263 has 2 phases (正阳中路, 长城路, in this order) but 3 greens_s" in err
    assert (
        "(fix: write one value per phase: greens_s: [20, 25] (正阳中路 first), or by phase "
        "name: greens_s: {正阳中路: 20, 长城路: 25})"
    ) in err
    assert "_per_phase" not in err and "()" not in err  # no Python function


def test_widen_road_to_fewer_lanes_is_an_error_naming_the_lanes_and_the_way_to_narrow(validate):
    code, err, path = validate(
        "  - type: widen_road\n    road: 正阳中路\n    lanes_per_direction: 1\n"
    )
    assert code == 2
    assert err.startswith(f"error: {path}:6 [patches[0].lanes_per_direction]: ")
    assert "'正阳中路' already has up to 4 lanes per direction; widen_road to 1" in err
    assert "give lanes_per_direction of at least 4, or add_lanes: 1" in err
    assert "no patch type narrows a road" in err and "edit the lanes=… tag" in err


def test_widen_road_to_as_many_lanes_as_some_links_have_applies(validate):
    code, err, _ = validate(
        "  - type: widen_road\n    road: 正阳中路\n    lanes_per_direction: 4\n"
    )
    assert code == 0, err


def test_a_missing_map_shows_the_resolved_path_and_how_to_get_one(validate):
    code, err, path = validate("  []\n", map_line="map: maps/nowhere.osm")
    resolved = path.parent / "maps" / "nowhere.osm"
    assert code == 2
    assert err.startswith(f"error: {path}:2 [map]: map file not found: {resolved} ")
    assert f"resolved relative to the folder of the file that sets it, {path.parent})" in err
    assert "(fix: correct the path in map: (relative to s.yaml, or absolute)" in err
    assert f"`cysim map fetch -o {resolved}`" in err


def test_a_missing_map_set_in_a_base_file_points_at_the_base(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(settings, "network_cache", False)
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "base.yaml").write_text("name: b\nmap: gone.pbf\n", encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("name: c\nbase: common/base.yaml\npatches: []\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["cysim", "validate", str(child)])
    with pytest.raises(SystemExit):
        cli.main()
    err = capsys.readouterr().err
    base = tmp_path / "common" / "base.yaml"
    assert err.startswith(f"error: {base}:2 [map]: map file not found: {base.parent / 'gone.pbf'}")
    assert f"`cysim map fetch -o {base.parent / 'gone.graphml'}` and set map: gone.graphml" in err


# --- cysim map info --roads ----------------------------------------------------------------


def test_road_table_counts_each_road_once():
    G = grid_graph()
    for u, v in ((8, 10), (10, 8)):  # 银河路 as two one-way carriageways
        G.edges[u, v, 0]["oneway"] = True
    G.remove_edge(9, 3, 0)  # 华中路 a one-way street
    G.edges[3, 9, 0]["oneway"] = True
    rows = {row["name"]: row for row in locate.road_table(G)}
    assert rows["文阳路"]["length_km"] == 1.0  # two two-way links of 500 m
    assert rows["银河路"]["length_km"] == 0.5
    assert rows["华中路"]["length_km"] == 0.5
    assert rows["正阳中路"] == {
        "name": "正阳中路", "name_en": "", "pinyin": "Zhengyangzhong Lu", "highway": "primary",
        "length_km": 1.0,
    }  # fmt: skip


def test_map_info_roads_lists_names_longest_first_into_a_file(tmp_path):
    out = tmp_path / "roads.txt"
    with out.open("w", encoding="utf-8") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "cysim", "map", "info", "--roads", str(BUNDLED_MAP)],
            stdout=handle,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONIOENCODING": "", "LC_ALL": "C"},
        )
    assert done.returncode == 0, done.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].split() == ["road", "name:en", "pinyin", "class", "km"]
    assert lines[-1] == "124 named roads"
    assert lines[1].split()[0] == "胶州湾高速"
    kms = [float(line.split()[-1]) for line in lines[1:-1]]
    assert kms == sorted(kms, reverse=True)
    zhongcheng = next(line for line in lines if line.startswith("中城路"))
    assert "Zhongcheng Road" in zhongcheng and "Zhongcheng Lu" in zhongcheng
    assert zhongcheng.split()[-2] in {"primary", "secondary", "tertiary"}


def test_map_info_roads_json(bundled):
    result = CliRunner().invoke(cli.app, ["map", "info", "--roads", "--json", str(BUNDLED_MAP)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows == locate.road_table(bundled)
    crrc = next(row for row in rows if row["name"] == "中车大道")
    assert (crrc["name_en"], crrc["pinyin"]) == ("CRRC Avenue", "Zhongche Dadao")


def test_a_scenario_may_write_roads_and_junctions_in_pinyin(validate):
    code, err, _ = validate(
        "  - type: widen_road\n    road: Zhongcheng Road\n    add_lanes: 1\n"
        "    between: [[Zhongcheng Lu, Chunyang Lu], [zhongchenglu, 明阳路]]\n"
        "  - type: channelize\n    junction: [Zhengyang Zhonglu, Changcheng Road]\n"
        "    add_turn_lanes: {left: 1}\n"
    )
    assert code == 0, err


def test_a_road_closed_by_its_chinese_name_conflicts_with_its_pinyin():
    patches = [
        CloseRoad(type="close_road", road="黑龙江路"),
        WidenRoad(type="widen_road", road="Heilongjiang Lu", add_lanes=1),
    ]
    with pytest.raises(PatchError, match="road 'Heilongjiang Lu' was closed by an earlier patch"):
        apply_patches(grid_graph(), patches)
