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
    _, prepared, run_w1 = sequential
    done: list[tuple[int, int]] = []
    outputs = pipeline.run_replications(
        prepared, [2, 1], workers=2, progress=lambda d, t: done.append((d, t))
    )
    assert [o.seed for o in outputs] == [2, 1]
    assert done[0] == (0, 2) and done[-1] == (2, 2)
    summary = json.loads((run_w1 / "summary.json").read_text(encoding="utf-8"))
    by_seed = {rep.pop("seed"): rep for rep in summary["replications"]}
    assert json.loads(json.dumps(outputs[0].kpis)) == by_seed[2]
    assert json.loads(json.dumps(outputs[1].kpis)) == by_seed[1]
    # the two seeds are different replications, not one result copied
    assert by_seed[1] != by_seed[2]


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
