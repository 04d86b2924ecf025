"""The bad-input catalogue: every case is one line naming file, line or key and the fix, exit 2.

Each case runs the real CLI entry point (:func:`cysim.cli.main`) in-process with ``sys.argv`` set,
so what is checked is exactly what a user sees on stderr and the exit status; no case may leave a
results folder marked complete. Map-dependent cases use the small hand-built network of
``tests/helpers/graphs.py`` saved as GraphML (fast to load). docs/robustness.md lists the same
catalogue.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.fixtures_osm import grid as osm_grid
from helpers.fixtures_osm import write_osm
from helpers.graphs import grid_graph

from cysim.cli import main
from cysim.network import build as network

SIM = (
    "simulation: {duration_s: 300, cooldown_s: 300, replications: 1, seed: 1,\n"
    "             route_choice: {iterations: 1}}\n"
)
DEMAND = "demand: {trips: 60, profile: uniform, zones: {grid_m: 500}}\n"


@pytest.fixture(scope="module")
def maps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the grid network as GraphML, and broken variants of map files."""
    folder = tmp_path_factory.mktemp("maps")
    G = grid_graph()
    network.save_graphml(G, folder / "grid.graphml")
    broken = G.copy()
    del broken.edges[1, 2, 0]["capacity_vph"]
    network.save_graphml(broken, folder / "no-capacity.graphml")
    osm = (folder / "grid.graphml").read_bytes()
    (folder / "truncated.osm").write_bytes(
        b"<?xml version='1.0'?>\n<osm version='0.6'>\n <node id='1' lat='36.3' lon='120.4'/>\n <way"
    )
    (folder / "empty.osm").write_bytes(b"")
    (folder / "binary.osm").write_bytes(bytes(range(256)) * 8)
    (folder / "html.osm").write_bytes(b"<?xml version='1.0'?><html><body>404</body></html>")
    (folder / "truncated.graphml").write_bytes(osm[: len(osm) // 3])
    text = (folder / "grid.graphml").read_text(encoding="utf-8")
    bad_geometry = re.sub(r"LINESTRING \([^)]*\)", "[", text, count=1)
    (folder / "bad-geometry.graphml").write_text(bad_geometry, encoding="utf-8")
    write_osm(folder / "bad-coordinate.osm", osm_grid(2))
    text = (folder / "bad-coordinate.osm").read_text(encoding="utf-8")
    (folder / "bad-coordinate.osm").write_text(text.replace('lat="', 'lat="nan" x="', 1))
    return folder


def run_cli(args: list[str], capsys: pytest.CaptureFixture, monkeypatch) -> tuple[int, str, str]:
    """Run ``cysim ARGS`` through the real ``main()``; return (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["cysim", *args])
    code = 0
    try:
        main()
    except SystemExit as stop:
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(err: str) -> str:
    """The one ``error:`` line of stderr (a progress bar may precede it)."""
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def assert_nothing_complete(results: Path) -> None:
    assert not list(results.rglob("COMPLETE")), "a failed run left a folder marked complete"


# (id, command, scenario text (MAP = the map path), extra files, fragments of the error line)
CASES: list[tuple[str, str, str, dict[str, str], list[str]]] = [
    (
        "malformed-yaml",
        "validate",
        "name: x\nmap: MAP\npatches: [unclosed\n",
        {},
        # PyYAML's pure and C parsers point at line 4 (end) or 3 (the bracket)
        ["scenario.yaml:", "not valid YAML", "fix: check indentation"],
    ),
    (
        "tab-indentation",
        "validate",
        "name: x\nmap: MAP\nsimulation:\n\tseed: 1\n",
        {},
        ["scenario.yaml:4", "not valid YAML"],
    ),
    (
        "misspelt-top-key",
        "validate",
        "name: x\nmap: MAP\nsimulaton: {seed: 3}\n",
        {},
        ["scenario.yaml:3", "[simulaton]", "unknown key 'simulaton'", "did you mean 'simulation'"],
    ),
    (
        "misspelt-nested-key",
        "validate",
        "name: x\nmap: MAP\nsimulation: {duraton_s: 60}\n",
        {},
        ["scenario.yaml:3", "[simulation.duraton_s]", "did you mean 'duration_s'"],
    ),
    (
        "misspelt-patch-type",
        "validate",
        "name: x\nmap: MAP\npatches:\n  - type: widen_raod\n    road: 文阳路\n",
        {},
        ["scenario.yaml:4", "[patches[0].type]", "unknown patch type", "did you mean 'widen_road'"],
    ),
    (
        "wrong-type",
        "validate",
        "name: x\nmap: MAP\npatches:\n  - type: widen_road\n    road: 文阳路\n"
        "    lanes_per_direction: three\n",
        {},
        ["scenario.yaml:6", "[patches[0].lanes_per_direction]", "valid integer", "'three'"],
    ),
    (
        "negative-lanes",
        "validate",
        "name: x\nmap: MAP\npatches:\n  - type: widen_road\n    road: 文阳路\n"
        "    lanes_per_direction: -2\n",
        {},
        ["scenario.yaml:6", "[patches[0].lanes_per_direction]", "greater than or equal to 1"],
    ),
    (
        "zero-capacity-override",
        "validate",
        "name: x\nmap: MAP\nnetwork:\n  road_classes:\n    primary: {capacity_vphpl: 0}\n",
        {},
        ["scenario.yaml:4", "[network.road_classes]", "capacity_vphpl", "> 0"],
    ),
    (
        "cycle-shorter-than-greens",
        "validate",
        "name: x\nmap: MAP\npatches:\n  - type: signal_timing\n    junction: [文阳路, 长城路]\n"
        "    cycle_s: 60\n    greens_s: [40, 30]\n",
        {},
        [
            "scenario.yaml:7",
            "[patches[0].greens_s]",
            "leaves -5 s per change",
            "lengthen cycle_s to at least 76 s",
        ],
    ),
    (
        "base-cycle",
        "validate",
        "base: other.yaml\nmap: MAP\n",
        {"other.yaml": "base: scenario.yaml\n"},
        ["other.yaml:1", "[base]", "cycle", "fix: remove one of the base references"],
    ),
    (
        "missing-base",
        "validate",
        "base: nowhere.yaml\nmap: MAP\n",
        {},
        ["scenario.yaml:1", "[base]", "base file not found", "relative to this file"],
    ),
    (
        "unknown-road",
        "validate",
        "name: x\nmap: MAP\npatches:\n  - type: widen_road\n    road: 不存在路\n"
        "    lanes_per_direction: 3\n",
        {},
        ["scenario.yaml:5", "[patches[0].road]", "'不存在路' not found", "closest", "fix:"],
    ),
    (
        "unknown-junction",
        "validate",
        "name: x\nmap: MAP\npatches:\n  - type: channelize\n    junction: [文阳路, 银河路]\n"
        "    add_turn_lanes: {left: 1}\n",
        {},
        ["scenario.yaml:5", "[patches[0].junction]", "文阳路", "银河路", "fix:"],
    ),
    (
        "point-outside-map",
        "validate",
        "name: x\nmap: MAP\npatches:\n  - type: add_parking\n    location: [100.0, 10.0]\n"
        "    spaces: 100\n",
        {},
        ["scenario.yaml:5", "[patches[0].location]", "outside the map", "fix:"],
    ),
    (
        "patch-disconnects",
        "validate",
        "name: x\nmap: MAP\npatches:\n  - type: close_road\n    road: 华中路\n",
        {},
        ["scenario.yaml:5", "[patches[0].road]", "cuts 1 junction off", "allow_disconnect: true"],
    ),
    (
        "empty-demand-trip-list",
        "run",
        "name: x\nmap: MAP\n" + SIM + "demand: {od: {trips_csv: trips.csv}, profile: uniform}\n",
        {"trips.csv": "origin_node,destination_node,departure\n"},
        ["trips.csv", "no trips"],
    ),
    (
        "empty-demand-od-zeros",
        "run",
        "name: x\nmap: MAP\n"
        + SIM
        + "demand: {od: {od_csv: od.csv}, zones: {grid_m: 500}, profile: uniform}\n",
        {"od.csv": "origin,destination,trips\nE267N4020,E267.5N4020,0\n"},
        ["od.csv", "no trips"],
    ),
    (
        "trips-with-unknown-zones",
        "run",
        "name: x\nmap: MAP\n"
        + SIM
        + "demand: {od: {trips_csv: trips.csv}, zones: {grid_m: 500}, profile: uniform}\n",
        {"trips.csv": "origin_zone,destination_zone,departure\nNOPE,NADA,07:10\n"},
        ["trips.csv:2", "unknown origin zone 'NOPE'", "fix: use ids of the scenario's zones"],
    ),
    (
        "od-with-unknown-zones",
        "run",
        "name: x\nmap: MAP\n"
        + SIM
        + "demand: {od: {od_csv: od.csv}, zones: {grid_m: 500}, profile: uniform}\n",
        {"od.csv": "origin,destination,trips\nNOPE,NADA,10\n"},
        ["od.csv:2", "unknown origin zone 'NOPE'", "fix:"],
    ),
    (
        "row-longer-than-header",  # fails until fix 14 (demand/imports.py)
        "run",
        "name: x\nmap: MAP\n"
        + SIM
        + "demand: {od: {od_csv: od.csv}, zones: {grid_m: 500}, profile: uniform}\n",
        {"od.csv": "origin,destination,trips\nE267N4020,E267.5N4020,3,x\n"},
        ["od.csv:2", "4 fields", "header names 3", "fix:"],
    ),
    (
        "trips-with-unknown-nodes",
        "run",
        "name: x\nmap: MAP\n" + SIM + "demand: {od: {trips_csv: trips.csv}, profile: uniform}\n",
        {"trips.csv": "origin_node,destination_node,departure\n999999,3,07:10\n"},
        ["trips.csv:2", "'999999' is not a node", "fix:"],
    ),
    # Values that validated but exhausted memory or crashed later (fails until fix 10).
    (
        "clock-time-out-of-range",
        "validate",
        "name: x\nmap: MAP\nsimulation: {start_time: '99:99'}\n",
        {},
        ["scenario.yaml:3", "[simulation.start_time]"],
    ),
    (
        "route-time-bin-too-small",
        "validate",
        "name: x\nmap: MAP\nsimulation: {route_choice: {time_bin_s: 0.0001}}\n",
        {},
        ["scenario.yaml:3", "[simulation.route_choice.time_bin_s]", "greater than"],
    ),
    (
        "sample-interval-too-small",
        "validate",
        "name: x\nmap: MAP\nsimulation: {sample_interval_s: 0.00001}\n",
        {},
        ["scenario.yaml:3", "[simulation.sample_interval_s]", "greater than"],
    ),
    (
        "duration-too-long",
        "validate",
        "name: x\nmap: MAP\nsimulation: {duration_s: 1.0e+15}\n",
        {},
        ["scenario.yaml:3", "[simulation.duration_s]", "less than"],
    ),
    (
        "cooldown-too-long",
        "validate",
        "name: x\nmap: MAP\nsimulation: {cooldown_s: 1.0e+12}\n",
        {},
        ["scenario.yaml:3", "[simulation.cooldown_s]", "less than"],
    ),
    (
        "seed-too-large",
        "validate",
        "name: x\nmap: MAP\nsimulation: {seed: 99999999999999999999}\n",
        {},
        ["scenario.yaml:3", "[simulation.seed]", "less than"],
    ),
    (
        "control-character",
        "validate",
        "\x1fname: x\nmap: MAP\n",
        {},
        ["scenario.yaml:1", "not valid YAML", "#x001f"],
    ),
    (
        "demand-error-under-run-names-the-file",  # fails until fix 7 (pipeline)
        "run",
        "name: x\nmap: MAP\n" + SIM + "demand: {trips: 50, zones: {grid_m: 500}}\n",
        {},
        ["scenario.yaml", "[demand.profile]", "departure profile", "fix:"],
    ),
    (
        "zero-trips",
        "validate",
        "name: x\nmap: MAP\ndemand: {trips: 0}\n",
        {},
        ["scenario.yaml:3", "[demand.trips]", "greater than or equal to 1"],
    ),
    (
        "empty-scenario-file",
        "validate",
        "",
        {},
        ["scenario.yaml:1", "must be a mapping"],
    ),
]

MAP_CASES: list[tuple[str, str, list[str]]] = [
    ("truncated-osm", "truncated.osm", ["truncated.osm", "truncated, corrupt or not OSM", "fix:"]),
    ("empty-map", "empty.osm", ["empty.osm", "map file is empty", "fix:"]),
    ("binary-map", "binary.osm", ["binary.osm", "not well-formed", "fix:"]),
    ("non-osm-xml", "html.osm", ["html.osm", "Unknown top-level element: html", "fix:"]),
    ("missing-map", "nowhere.osm", ["nowhere.osm", "map file not found", "fix:"]),
    ("unsupported-suffix", "grid.txt", ["grid.txt", "unsupported map file type", "fix:"]),
    ("truncated-graphml", "truncated.graphml", ["truncated.graphml", "fix:"]),
    (
        "osm-node-with-invalid-coordinate",
        "bad-coordinate.osm",
        ["bad-coordinate.osm", "wrong format for coordinate: 'nan'", "corrupt", "fix:"],
    ),
    (
        "graphml-unreadable-geometry",
        "bad-geometry.graphml",
        ["bad-geometry.graphml", "geometry = '['", "ParseException"],
    ),
    ("graphml-missing-attribute", "no-capacity.graphml", ["no-capacity.graphml", "capacity_vph"]),
]


def _write_case(folder: Path, maps: Path, text: str, files: dict[str, str], map_name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content, encoding="utf-8")
    path = folder / "scenario.yaml"
    path.write_text(text.replace("MAP", str(maps / map_name)), encoding="utf-8")
    return path


def _args(command: str, path: Path, results: Path) -> list[str]:
    if command == "run":
        return ["run", str(path), "--results", str(results), "--workers", "1"]
    return ["validate", str(path)]


@pytest.mark.parametrize(
    ("command", "text", "files", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_is_one_line_exit_2(
    command, text, files, fragments, maps, tmp_path, capsys, monkeypatch
) -> None:
    path = _write_case(tmp_path / "case", maps, text, files, "grid.graphml")
    results = tmp_path / "results"
    code, _, err = run_cli(_args(command, path, results), capsys, monkeypatch)
    assert code == 2, err
    assert "Traceback" not in err
    line = error_line(err)
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert_nothing_complete(results)


@pytest.mark.parametrize(
    ("map_name", "fragments"), [pytest.param(*case[1:], id=case[0]) for case in MAP_CASES]
)
def test_bad_map_file_is_one_line_exit_2(
    map_name, fragments, maps, tmp_path, capsys, monkeypatch
) -> None:
    path = _write_case(tmp_path / "case", maps, "name: x\nmap: MAP\n", {}, map_name)
    if map_name == "grid.txt":
        (maps / "grid.txt").write_text("hello", encoding="utf-8")
    code, _, err = run_cli(["validate", str(path)], capsys, monkeypatch)
    assert code == 2, err
    assert "Traceback" not in err
    line = error_line(err)
    for fragment in fragments:
        assert fragment in line, (fragment, line)


def test_allowed_disconnect_warns_with_counts(maps, tmp_path, capsys, monkeypatch) -> None:
    text = (
        "name: x\nmap: MAP\npatches:\n  - type: close_road\n    road: 华中路\n"
        "    allow_disconnect: true\n"
    )
    path = _write_case(tmp_path, maps, text, {}, "grid.graphml")
    code, out, err = run_cli(["validate", str(path)], capsys, monkeypatch)
    assert code == 0, err
    flat = " ".join(out.split())  # rich wraps long lines
    assert re.search(r"warning: close_road: 华中路 .*cuts 1 junction off", flat), out
    assert "华中路" in out


def test_nul_byte_in_a_path_is_a_scenario_error(maps, tmp_path, capsys, monkeypatch) -> None:
    """Found by the fuzz test: ``map: "\\0"`` raised ValueError from pathlib (fails until fix 5)."""
    path = _write_case(tmp_path, maps, 'name: x\nmap: "a\\0b.osm"\n', {}, "grid.graphml")
    code, _, err = run_cli(["validate", str(path)], capsys, monkeypatch)
    assert code == 2, err
    line = error_line(err)
    assert "scenario.yaml:2" in line and "[map]" in line


def test_child_can_replace_the_od_source(maps, tmp_path, capsys, monkeypatch) -> None:
    """A file inheriting gravity demand may switch to a trip list (fails until fix 3)."""
    (tmp_path / "base.yaml").write_text(
        f"name: b\nmap: {maps / 'grid.graphml'}\n"
        "demand: {od: {gravity: {beta_per_min: 0.1}}, zones: {grid_m: 500}, trips: 50}\n",
        encoding="utf-8",
    )
    (tmp_path / "trips.csv").write_text(
        "origin_node,destination_node,departure\n1,3,07:10\n", encoding="utf-8"
    )
    path = tmp_path / "child.yaml"
    path.write_text("base: base.yaml\ndemand: {od: {trips_csv: trips.csv}}\n", encoding="utf-8")
    code, _, err = run_cli(["validate", str(path)], capsys, monkeypatch)
    assert code == 0, err


def _limit_memory() -> None:
    """Child process: cap the address space at 3 GB so a missing check cannot hurt the machine."""
    limit = 3 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_demand_too_large_for_memory_is_refused_up_front(maps, tmp_path) -> None:
    """10⁹ trips would need terabytes: refused before building trips, naming the estimate and
    the options that lower it (fails until fix 6 adds the check)."""
    text = (
        "name: huge\nmap: MAP\n"
        + SIM
        + "demand: {trips: 1000000000, profile: uniform, zones: {grid_m: 500}}\n"
    )
    path = _write_case(tmp_path, maps, text, {}, "grid.graphml")
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "cysim", *_args("run", path, results)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    line = error_line(done.stderr)
    assert "memory" in line and "GB" in line, line
    assert "sample_factor" in line and "demand.trips" in line, line
    assert_nothing_complete(results)


def test_unwritable_results_folder_is_one_line(maps, tmp_path, capsys, monkeypatch) -> None:
    """`--results` where no folder can be made: a ResultsError before any simulation, not an
    OSError traceback (fails until fix 12 in cysim/io.py)."""
    path = _write_case(tmp_path, maps, "name: x\nmap: MAP\n" + SIM + DEMAND, {}, "grid.graphml")
    unwritable = Path("/proc/cysim-results")  # not creatable, even by root
    code, _, err = run_cli(["run", str(path), "--results", str(unwritable)], capsys, monkeypatch)
    assert code == 2, err
    line = error_line(err)
    assert "/proc/cysim-results" in line and "--results" in line, line


def test_memory_estimate_is_grounded_in_the_measurement() -> None:
    """The up-front estimate covers what tracemalloc measured on the bundled map (455 junctions,
    docs/robustness.md: 2,000 trips → 17.1 MB, 20,000 → 57.1 MB engine peak plus 7.8 MB demand)
    without refusing runs that fit by more than a factor of about two."""
    from cysim import pipeline
    from cysim.demand import DemandSpec

    # At 2,000 trips fixed costs (network, zone matrices) dominate; at 20,000 the per-trip
    # terms the estimate models do.
    measured_mb = 57.1 + 7.8
    estimate_mb = pipeline.memory_estimate_bytes(DemandSpec(trips=20_000), n_junctions=455) / 1e6
    assert measured_mb <= estimate_mb <= 2 * measured_mb, estimate_mb
    sampled = DemandSpec(trips=1_000_000, sample_factor=0.1)
    full = DemandSpec(trips=1_000_000, sample_factor=1.0)
    assert pipeline.memory_estimate_bytes(sampled, 455) < 0.2 * pipeline.memory_estimate_bytes(
        full, 455
    )
    assert pipeline.memory_estimate_bytes(full, 455, parallel_runs=4) == pytest.approx(
        4 * pipeline.memory_estimate_bytes(full, 455)
    )
    # external trips count like internal ones
    with_external = DemandSpec(trips=900_000, external={"trips": 100_000})
    assert pipeline.memory_estimate_bytes(with_external, 455) == pytest.approx(
        pipeline.memory_estimate_bytes(full, 455)
    )


def test_allowed_disconnect_runs_and_counts_unrouted_trips(maps, tmp_path) -> None:
    """With allow_disconnect the run completes; trips drawn on the baseline to or from the cut-off
    junction are counted as unrouted (fails until fix 15: the junction was removed, so the engine
    refused those trips with 'not network nodes')."""
    from cysim import pipeline

    text = (
        "name: cut\nmap: MAP\n"
        "demand: {trips: 2000, profile: uniform, zones: {grid_m: 500}}\n" + SIM + "patches:\n"
        "  - type: close_road\n    road: 华中路\n    allow_disconnect: true\n"
    )
    path = _write_case(tmp_path, maps, text, {}, "grid.graphml")
    with pytest.warns(UserWarning, match="no path"):
        outcome = pipeline.run_scenario(path, results_root=tmp_path / "results", workers=1)
    kpis = outcome.kpis[0]
    assert kpis["trips_total"] == 2000
    assert 0 < kpis["trips_unrouted"] < 2000
    assert kpis["trips_completed"] + kpis["trips_unfinished"] == kpis["trips_total"]
