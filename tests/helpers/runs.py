"""A small scenario file and a check that two run folders hold the same results."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[2]
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
