"""Interrupted and concurrent runs, with real ``python -m cysim run`` processes and signals.

A run writes ``results/<scenario>/.<run-id>.partial`` and renames it with a ``COMPLETE`` marker
written last, under ``results/<scenario>/.lock``. These tests check what users rely on: Ctrl-C
(and SIGTERM) stop cleanly with one line and leave nothing marked complete; a SIGKILL while a run
is being written leaves the previous complete run intact and reusable; two runs of the same
scenario at once never corrupt each other. The scenarios run on the small hand-built network of
``tests/helpers/graphs.py`` so each process spends its time in the phase under test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.graphs import grid_graph

from cysim import io, pipeline
from cysim._errors import ResultsError
from cysim.network import build as network


def scenario_text(name: str, trips: int, replications: int) -> str:
    return (
        f"name: {name}\n"
        "map: grid.graphml\n"
        f"demand: {{trips: {trips}, profile: uniform, zones: {{grid_m: 500}}}}\n"
        f"simulation: {{duration_s: 3600, cooldown_s: 600, replications: {replications}, seed: 1,\n"
        "             route_choice: {iterations: 2}}\n"
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scenario files: ``slow`` (several seconds of replications) and ``quick``."""
    path = tmp_path_factory.mktemp("runs")
    network.save_graphml(grid_graph(), path / "grid.graphml")
    (path / "slow.yaml").write_text(scenario_text("slow", 60000, 2), encoding="utf-8")
    (path / "quick.yaml").write_text(scenario_text("quick", 3000, 1), encoding="utf-8")
    (path / "both.yaml").write_text(scenario_text("both", 15000, 1), encoding="utf-8")
    return path


def start_run(folder: Path, scenario: str, results: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cysim", "run", scenario, "--results", str(results), *extra],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "100"},
        start_new_session=True,  # its own process group, so a signal can reach all its workers
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout_s: float) -> bool:
    """Poll ``condition`` every 10 ms until true, the process ends, or the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def complete_runs(scenario_folder: Path) -> list[Path]:
    if not scenario_folder.is_dir():
        return []
    return sorted(p for p in scenario_folder.iterdir() if (p / io.COMPLETE_MARKER).exists())


def leftovers(scenario_folder: Path) -> list[str]:
    """Partial folders left behind, and the lock if something still holds it.

    The lock file itself stays after a run (an OS lock on it is what counts, see
    :func:`cysim.io.scenario_lock`), so a held lock is found by trying to take it.
    """
    if not scenario_folder.is_dir():
        return []
    found = [p.name for p in scenario_folder.iterdir() if p.name.endswith(io.PARTIAL_SUFFIX)]
    try:
        with io.scenario_lock(scenario_folder.name, root=scenario_folder.parent):
            pass
    except ResultsError:
        found.append(f"{io.LOCK_NAME} (held)")
    return sorted(found)


def test_ctrl_c_mid_run_stops_cleanly(folder: Path, tmp_path: Path) -> None:
    """Ctrl-C during parallel replications: one line, exit 130, nothing complete, no leftovers.

    The signal goes to the whole process group, as a terminal's Ctrl-C does, so the replication
    workers get it too and must not print tracebacks.
    """
    results = tmp_path / "results"
    process = start_run(folder, "slow.yaml", results, "--workers", "2")
    lock = results / "slow" / io.LOCK_NAME
    try:
        assert wait_for(lock.exists, process, timeout_s=120), process.communicate()[1]
        time.sleep(0.5)  # well inside the replications (they take several seconds)
        assert process.poll() is None, "the run finished before it could be interrupted"
        os.killpg(process.pid, signal.SIGINT)  # the whole group, like a terminal's Ctrl-C
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1].startswith("interrupted: stopped cleanly"), err
    assert complete_runs(results / "slow") == []
    assert leftovers(results / "slow") == []


def test_sigterm_stops_cleanly(folder: Path, tmp_path: Path) -> None:
    """SIGTERM (e.g. a batch system's time limit) behaves like Ctrl-C, exit 143."""
    results = tmp_path / "results"
    process = start_run(folder, "slow.yaml", results, "--workers", "1")
    lock = results / "slow" / io.LOCK_NAME
    try:
        assert wait_for(lock.exists, process, timeout_s=120), process.communicate()[1]
        time.sleep(0.3)
        assert process.poll() is None, "the run finished before it could be terminated"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("terminated: stopped cleanly"), err
    assert complete_runs(results / "slow") == []
    assert leftovers(results / "slow") == []


def test_sigkill_while_writing_keeps_previous_run(folder: Path, tmp_path: Path) -> None:
    """A forced rerun killed while its folder is being written: the earlier run stays whole,
    the debris is never taken for a result, and the next run reuses the earlier one."""
    results = tmp_path / "results"
    first = pipeline.run_scenario(folder / "quick.yaml", results_root=results)
    before = {p.name: p.read_bytes() for p in first.run_dir.rglob("*") if p.is_file()}
    process = start_run(folder, "quick.yaml", results, "--force", "--workers", "1")
    scenario_folder = results / "quick"

    def writing() -> bool:
        return any(p.name.endswith(io.PARTIAL_SUFFIX) for p in scenario_folder.iterdir())

    try:
        assert wait_for(writing, process, timeout_s=120), process.communicate()[1]
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    # The killed run left debris (partial folder, lock file of a dead process) but nothing
    # complete.
    assert (scenario_folder / io.LOCK_NAME).exists()
    assert complete_runs(scenario_folder) == [first.run_dir]
    after = {p.name: p.read_bytes() for p in first.run_dir.rglob("*") if p.is_file()}
    assert after == before, "the previous complete run was modified"
    pipeline.load_run(first.run_dir)  # still a valid run folder
    again = pipeline.run_scenario(folder / "quick.yaml", results_root=results)
    assert again.reused and again.run_dir == first.run_dir
    # The lock file the killed process left behind does not block a new run.
    forced = pipeline.run_scenario(folder / "quick.yaml", results_root=results, force=True)
    assert not forced.reused and (forced.run_dir / io.COMPLETE_MARKER).exists()
    assert f"{io.LOCK_NAME} (held)" not in leftovers(scenario_folder)


def test_two_concurrent_runs_do_not_corrupt_each_other(folder: Path, tmp_path: Path) -> None:
    """Two ``cysim run`` of one scenario at once: each either completes or stops with a clear
    lock message (exit 2); every folder marked complete is whole and they agree."""
    results = tmp_path / "results"
    processes = [start_run(folder, "both.yaml", results, "--workers", "1") for _ in range(2)]
    outcomes = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=180)
            outcomes.append((process.returncode, out, err))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    codes = [code for code, _, _ in outcomes]
    assert 0 in codes, outcomes
    for code, _, err in outcomes:
        assert "Traceback" not in err, err
        if code != 0:
            assert code == 2, err
            line = err.strip().splitlines()[-1]
            assert "another cysim process is writing results of 'both'" in line, line
            assert "fix:" in line
    runs = complete_runs(results / "both")
    assert 1 <= len(runs) <= 2
    summaries = [json.loads((run / "summary.json").read_text(encoding="utf-8")) for run in runs]
    assert all(s["replications"] == summaries[0]["replications"] for s in summaries)
    for run in runs:
        pipeline.load_run(run)
    assert leftovers(results / "both") == []


def test_damaged_finished_run_is_reported_not_a_traceback(folder: Path, tmp_path: Path) -> None:
    """A complete run whose summary.json was damaged afterwards (disk trouble, a hand edit) is
    refused with a ResultsError naming the file and --force (fails until fix 11)."""
    results = tmp_path / "results"
    first = pipeline.run_scenario(folder / "quick.yaml", results_root=results)
    (first.run_dir / "summary.json").write_text('{"scenario": "quick", "repl', encoding="utf-8")
    with pytest.raises(ResultsError, match=r"summary\.json.*--force"):
        pipeline.run_scenario(folder / "quick.yaml", results_root=results)
    with pytest.raises(ResultsError, match="--force"):
        pipeline.load_run(first.run_dir)
