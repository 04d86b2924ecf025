"""Replications in parallel processes give exactly the results of a sequential run."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from helpers.runs import assert_same_results, small_scenario

from cysim import cli, pipeline

PROJECT_ROOT = Path(__file__).resolve().parents[1]


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


def test_two_scenarios_share_the_workers_with_the_results_of_separate_runs(sequential, tmp_path):
    # compare runs both sides' replications on one pool: each scenario's results are exactly
    # those of running it alone, with one worker
    path, _, run_w1 = sequential
    other = tmp_path / "small-wen.yaml"
    other.write_text(
        f"name: small-wen\nbase: {path}\npatches:\n"
        "  - type: widen_road\n    road: 文阳路\n    lanes_per_direction: 3\n",
        encoding="utf-8",
    )
    seen: dict[str, list[tuple[int, int]]] = {}
    joint = pipeline.run_scenarios(
        [path, other],
        workers=2,
        results_root=tmp_path / "joint",
        progress_for=lambda name: lambda d, t: seen.setdefault(name, []).append((d, t)),
    )
    alone = pipeline.run_scenario(other, workers=1, results_root=tmp_path / "alone")
    assert_same_results(joint[0].run_dir, run_w1)
    assert_same_results(joint[1].run_dir, alone.run_dir)
    assert seen["small"][-1] == (2, 2) and seen["small-wen"][-1] == (2, 2)
    # the same file twice (relative and absolute) runs once
    again = pipeline.run_scenarios([path, path.resolve()], results_root=tmp_path / "joint")
    assert again[0].run_dir == again[1].run_dir == joint[0].run_dir and again[0].reused
    # so does a copy of it (same name, same content): an A/A comparison simulates once
    copy = tmp_path / "copy-of-small.yaml"
    copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    fresh = pipeline.run_scenarios([path, copy], results_root=tmp_path / "aa", workers=2)
    assert fresh[0].run_dir == fresh[1].run_dir and not fresh[0].reused
    assert len(list((tmp_path / "aa" / "small").glob("*/COMPLETE"))) == 1


def test_warm_start_option_starts_later_replications_from_the_first(sequential, tmp_path):
    # route_choice.warm_start: seeds after the first start from its route choice; still the
    # same results with one or two workers, and other results than independent replications
    path = sequential[0]
    warm = tmp_path / "small-warm.yaml"
    warm.write_text(
        f"name: small-warm\nbase: {path}\nsimulation: {{replications: 3, route_choice: "
        "{iterations: 3, warm_start: true}}\n",
        encoding="utf-8",
    )
    prepared = pipeline.prepare_scenario(warm)
    one = pipeline.run_replications(prepared, [1, 2, 3], workers=1)
    two = pipeline.run_replications(prepared, [1, 2, 3], workers=2)
    assert [o.kpis for o in one] == [o.kpis for o in two]
    assert all(o.route_costs is not None for o in one)
    cold = pipeline.prepare_scenario(path)
    cold_prepared = dataclasses.replace(
        prepared,
        scenario=prepared.scenario.model_copy(
            update={
                "simulation": prepared.scenario.simulation.model_copy(
                    update={
                        "route_choice": prepared.scenario.simulation.route_choice.model_copy(
                            update={"warm_start": False}
                        )
                    }
                )
            }
        ),
    )
    independent = pipeline.run_replications(cold_prepared, [1, 2, 3], workers=1)
    assert one[0].kpis == independent[0].kpis  # the first seed starts cold either way
    assert one[1].kpis != independent[1].kpis
    assert independent[1].route_costs is None  # not kept when nobody needs it
    assert cold.scenario.simulation.route_choice.warm_start is False
