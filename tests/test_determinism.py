"""Same resolved scenario and seed ⇒ byte-identical summary.json and links.parquet, any workers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers.graphs import grid_graph

from cysim import pipeline
from cysim.network import build as network

#: Files of a run folder that must not depend on the number of workers or on wall time.
DETERMINISTIC_FILES = ("summary.json", "links.parquet", "trips.parquet", "timeseries.csv")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pipeline.RunOutcome]:
    """One scenario run three times: 1 worker, 2 workers, and 1 worker again."""
    folder = tmp_path_factory.mktemp("determinism")
    network.save_graphml(grid_graph(), folder / "grid.graphml")
    path = folder / "det.yaml"
    path.write_text(
        "name: det\nmap: grid.graphml\n"
        "demand: {trips: 4000, profile: uniform, zones: {grid_m: 500}}\n"
        "simulation: {duration_s: 1800, cooldown_s: 600, replications: 2, seed: 11,\n"
        "             route_choice: {iterations: 3}}\n",
        encoding="utf-8",
    )
    return {
        label: pipeline.run_scenario(
            path, workers=workers, force=True, results_root=folder / f"results-{label}"
        )
        for label, workers in (("one", 1), ("two", 2), ("again", 1))
    }


@pytest.mark.parametrize("name", DETERMINISTIC_FILES)
def test_outputs_identical_whatever_the_workers(runs, name: str) -> None:
    one = (runs["one"].run_dir / name).read_bytes()
    assert one == (runs["two"].run_dir / name).read_bytes(), f"{name} differs: 1 vs 2 workers"
    assert one == (runs["again"].run_dir / name).read_bytes(), f"{name} differs between runs"


def test_replications_differ_and_summary_has_no_wall_times(runs) -> None:
    """The identity above is not trivial: seeds differ per replication, and no time stamps or
    wall times hide in summary.json (those belong in log.txt and COMPLETE)."""
    summary = json.loads((runs["one"].run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["seeds"] == [11, 12]
    assert summary["replications"][0] != summary["replications"][1]
    text = json.dumps(summary)
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", text), "a time stamp in summary.json"
    for word in ("wall", "utc", "elapsed", "started_", "finished_"):
        assert word not in text, word
    assert "total wall time" in (runs["one"].run_dir / "log.txt").read_text(encoding="utf-8")


def test_run_ids_differ_but_fingerprint_matches(runs) -> None:
    dirs = [Path(r.run_dir) for r in runs.values()]
    assert len({d.name.split("-", 1)[1] for d in dirs}) == 1, "same seed and fingerprint"
