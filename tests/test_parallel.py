"""Replications in parallel processes give exactly the results of a sequential run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from cysim import cli, pipeline

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BASELINE = PROJECT_ROOT / "scenarios" / "baseline.yaml"


def small_scenario(folder: Path, name: str = "small") -> Path:
    """The bundled baseline with a small demand, short period and two replications."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"base: {BASELINE}\n"
        f"name: {name}\n"
        "demand: {trips: 500, profile: uniform}\n"
        "simulation: {duration_s: 1200, cooldown_s: 900, replications: 2,"
        " route_choice: {iterations: 2}}\n",
        encoding="utf-8",
    )
    return path


def assert_same_results(dir_a: Path, dir_b: Path) -> None:
    """Same seeds, same KPI values per replication and summary, same link and trip tables."""
    summary_a = json.loads((dir_a / "summary.json").read_text(encoding="utf-8"))
    summary_b = json.loads((dir_b / "summary.json").read_text(encoding="utf-8"))
    assert summary_a["seeds"] == summary_b["seeds"]
    assert summary_a["replications"] == summary_b["replications"]
    assert summary_a["kpis"] == summary_b["kpis"]
    for name in ("links.parquet", "trips.parquet", "junctions.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(dir_a / name), pd.read_parquet(dir_b / name))


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> tuple[Path, pipeline.PreparedScenario, Path]:
    """The small scenario, prepared once, and its run folder with one worker."""
    folder = tmp_path_factory.mktemp("parallel")
    path = small_scenario(folder)
    prepared = pipeline.prepare_scenario(path)
    outcome = pipeline.run_scenario(
        path, workers=1, results_root=folder / "results-w1", prepared=prepared
    )
    return path, prepared, outcome.run_dir


def test_run_replications_in_parallel_keep_seed_order(sequential):
    # the first seed equilibrates from free flow, the others start from its route choice and
    # run in parallel; the results do not depend on the number of workers
    _, prepared, _ = sequential
    seeds = [1, 3, 2]
    done: list[tuple[int, int]] = []
    parallel = pipeline.run_replications(
        prepared, seeds, workers=2, progress=lambda d, t: done.append((d, t))
    )
    serial = pipeline.run_replications(prepared, seeds, workers=1)
    assert [o.seed for o in parallel] == seeds
    assert done[0] == (0, 3) and done[-1] == (3, 3)
    assert [d for d, _ in done] == sorted(d for d, _ in done)
    for p, s in zip(parallel, serial, strict=True):
        assert json.loads(json.dumps(p.kpis)) == json.loads(json.dumps(s.kpis))
    # the seeds are different replications, not one result copied
    assert parallel[1].kpis != parallel[2].kpis


def test_summary_states_the_sample_factor_the_replications_used(sequential):
    # the small scenario inherits the baseline's sample of 50 % of the vehicles
    _, _, run_w1 = sequential
    summary = json.loads((run_w1 / "summary.json").read_text(encoding="utf-8"))
    assert summary["sample_factor"] == 0.5
    assert {rep["sample_factor"] for rep in summary["replications"]} == {0.5}
    rc = summary["route_choice"]
    assert rc["iterations"] and max(rc["iterations"]) <= rc["cap"] == 2
    assert rc["max_relative_gap"] == max(rc["relative_gap"])


def test_cli_workers_option(sequential, tmp_path, monkeypatch, capsys):
    path, _, run_w1 = sequential
    monkeypatch.setattr(
        sys, "argv", ["cysim", "run", str(path), "--workers", "2", "--results", str(tmp_path)]
    )
    with pytest.raises(SystemExit) as caught:
        cli.main()
    assert (caught.value.code or 0) == 0
    assert "results written to" in capsys.readouterr().out
    [summary] = (tmp_path / "small").glob("*/summary.json")
    assert_same_results(run_w1, summary.parent)


def test_cli_sample_factor_option_overrides_the_scenario(sequential, tmp_path, monkeypatch, capsys):
    # the small scenario simulates 50 %; --sample-factor 1.0 simulates every vehicle, as a run of
    # its own (another fingerprint), and says so in summary.json, log.txt and the terminal
    path, _, run_w1 = sequential
    argv = ["cysim", "run", str(path), "--sample-factor", "1.0", "--results", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as caught:
        cli.main()
    assert (caught.value.code or 0) == 0
    assert "100% of the vehicles simulated" in " ".join(capsys.readouterr().out.split())
    [summary_path] = (tmp_path / "small").glob("*/summary.json")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["sample_factor"] == 1.0
    assert summary["kpis"]["trips_total"]["mean"] == 500
    assert summary_path.parent.name.split("-")[-1] != run_w1.name.split("-")[-1]
    assert "demand.sample_factor overridden: 1" in (summary_path.parent / "log.txt").read_text(
        encoding="utf-8"
    )
    monkeypatch.setattr(sys, "argv", [*argv[:3], "--sample-factor", "1.5"])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    assert caught.value.code == 2
