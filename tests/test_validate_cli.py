"""``cysim validate``: change log on success, one-line error and exit 2 on the first problem."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
from helpers.graphs import grid_graph, lonlat

from cysim import cli
from cysim.network import build as network

DEMAND = "demand:\n  trips: 1500\n  zones: {junction_clusters: 4}\n"


@pytest.fixture(scope="module")
def map_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("map") / "grid.graphml"
    network.save_graphml(grid_graph(), path)
    return path


def scenario(tmp_path: Path, map_file: Path, patches: str, extra: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nmap: {map_file}\n{extra}patches:\n{patches}", encoding="utf-8")
    return path


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["cysim", "validate", *args])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    out, err = capsys.readouterr()
    return caught.value.code or 0, out, err


def test_validate_prints_the_change_log(tmp_path, map_file, monkeypatch, capsys):
    nine, ten = lonlat(9), lonlat(10)
    path = scenario(
        tmp_path,
        map_file,
        "  - type: widen_road\n    description: 文阳路改建\n    road: 文阳路\n"
        "    lanes_per_direction: 3\n"
        f"  - type: open_road\n    name: 华中路\n    from: [{nine[0]}, {nine[1]}]\n"
        f"    to: [{ten[0]}, {ten[1]}]\n    lanes_per_direction: 2\n    speed_kph: 40\n"
        "  - type: add_parking\n    location: [正阳中路, 长城路]\n"
        "    spaces: 300\n    guidance: true\n",
    )
    code, out, err = run(monkeypatch, capsys, str(path), "--rows", "50")
    assert code == 0, err
    assert "patch 0  widen_road: 文阳路改建 (s.yaml:4)" in out
    assert "changed: 4 edges" in out
    assert out.count("capacity_vph  3400     5100") == 4
    assert "patch 1  open_road" in out and "changed: 2 edges, 2 junctions" in out
    assert "parking_spaces" in out and "300" in out
    assert "ok: 3 patches apply; patched network has 10 junctions, 24 links" in out


def test_first_problem_is_one_line_with_file_line_and_key(tmp_path, map_file, monkeypatch, capsys):
    path = scenario(
        tmp_path,
        map_file,
        "  - type: widen_road\n    road: 文阳路\n    add_lanes: 1\n"
        "  - type: set_speed\n    road: 文羊路\n    speed_kph: 40\n",
    )
    code, _, err = run(monkeypatch, capsys, str(path))
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"error: {path}:8 [patches[1].road]: road '文羊路' not found in the map")
    assert "closest: 文阳路" in err


def test_bad_yaml_exits_2(tmp_path, map_file, monkeypatch, capsys):
    path = scenario(tmp_path, map_file, "  - type: widen_road\n    road: [文阳路\n")
    code, _, err = run(monkeypatch, capsys, str(path))
    assert code == 2 and err.startswith(f"error: {path}:") and "not valid YAML" in err


def test_missing_map_exits_2(tmp_path, monkeypatch, capsys):
    path = scenario(tmp_path, tmp_path / "absent.osm", "  []\n")
    code, _, err = run(monkeypatch, capsys, str(path))
    assert code == 2 and "absent.osm" in err and err.count("\n") == 1


def test_webster_with_and_without_flows(tmp_path, map_file, monkeypatch, capsys):
    patches = "  - type: signal_timing\n    all_signals: true\n    optimize: webster\n"
    path = scenario(tmp_path, map_file, patches, extra=DEMAND)
    code, out, err = run(monkeypatch, capsys, str(path))
    assert code == 0, err
    assert "baseline flows: static assignment of the peak hour of 1500 trips" in out
    assert out.count("signal plan at junction") == 3 and out.count("Webster cycle") == 3
    code, out, err = run(monkeypatch, capsys, str(path), "--no-flows")
    assert code == 0, err
    assert out.count("Webster plan computed from the baseline flows at run time") == 3


def test_demand_shift_is_checked_on_built_trips(tmp_path, map_file, monkeypatch, capsys):
    patches = (
        "  - type: demand_shift\n    remove_share: 0.1\n"
        "    corridor: {roads: [长城路], within_m: 300}\n"
    )
    path = scenario(tmp_path, map_file, patches, extra=DEMAND)
    code, out, err = run(monkeypatch, capsys, str(path))
    assert code == 0, err
    assert "car trips built to check demand_shift patches" in out
    assert "trips within 300 m of 长城路" in out


def test_demand_errors_point_into_the_scenario(tmp_path, map_file, monkeypatch, capsys):
    patches = "  - type: demand_shift\n    scale: 0.9\n    zones: [x]\n"
    path = scenario(tmp_path, map_file, patches, extra="demand:\n  zones: {grid_m: 500}\n")
    code, _, err = run(monkeypatch, capsys, str(path))
    assert code == 2
    assert err.startswith(f"error: {path}:3 [demand"), err  # the line of the demand section


def test_a_bug_prints_one_line_and_saves_the_traceback(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("CYSIM_DEBUG", raising=False)

    def broken() -> None:
        raise TypeError("object of type 'float' has no len()")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setattr(sys, "argv", ["cysim", "compare", "a.yaml", "b.yaml"])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    assert stop.value.code == 70
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("internal error: TypeError: object of type 'float'")
    saved = list(tmp_path.glob("cysim-crash-*.txt"))
    assert len(saved) == 1 and str(saved[0]) in err
    text = saved[0].read_text(encoding="utf-8")
    assert "Traceback" in text and "cysim compare a.yaml b.yaml" in text
    # developers can ask for the exception itself
    monkeypatch.setenv("CYSIM_DEBUG", "1")
    with pytest.raises(TypeError):
        cli.main()
