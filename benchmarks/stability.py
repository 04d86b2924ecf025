"""Does the before/after verdict survive settings that should not matter? Exit 1 if it does not.

Runs the main job's comparison, ``scenarios/baseline.yaml`` against ``scenarios/2021-package.yaml``
(3 replications each, common seeds), under several settings that change how the answer is
computed but not what is asked: the share of vehicles simulated (sample factor 0.5 as shipped, 0.25
and 1.0) and how far route choice goes (the default cap and tolerance, then, at 0.5, twice the cap
with half the tolerance, so the equilibration really runs further). Prints one row per scenario
and setting:

    setting | scenario | TTI | VHT | unfinished | final gap (max of replications) | iterations
    | wall s

then the verdict of every KPI in every setting, and two checks (exit status 1 if either fails):

1. the travel-time index of each scenario is within ±3 % of its mean over all settings;
2. the sign of every significant change is the same in every setting (a KPI called "better" in one
   setting is never "worse" in another; "no significant change" or "within route-choice gap"
   are not a sign).

Usage (from the repository root)::

    .venv/bin/python benchmarks/stability.py                    # all settings (~40 min, 2 cores)
    .venv/bin/python benchmarks/stability.py --settings 0.5 0.25 --workers 2

Each setting is a pair of scenario files written to the results folder that inherit the shipped
ones (``base:``) and override ``demand.sample_factor`` and ``simulation.route_choice``; results go
to ``results/stability/`` (reused when run again, ``--force`` to rerun).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cysim import pipeline
from cysim.simsettings import RouteChoiceSettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {
    "baseline": PROJECT_ROOT / "scenarios" / "baseline.yaml",
    "2021-package": PROJECT_ROOT / "scenarios" / "2021-package.yaml",
}
#: Largest relative spread of a scenario's travel-time index across settings (issue 17).
TTI_TOLERANCE = 0.03
#: KPIs whose rows are printed per setting.
SHOWN = ("travel_time_index", "vht_h", "trips_unfinished")


@dataclass(frozen=True)
class Setting:
    """How one comparison is computed.

    Attributes
    ----------
    label
        Short name used in file names and tables.
    sample_factor
        Share of vehicles simulated.
    iterations, tolerance
        Route choice's cap and relative-gap tolerance.
    """

    label: str
    sample_factor: float
    iterations: int
    tolerance: float


def settings_from(args: argparse.Namespace) -> list[Setting]:
    """The settings to run: each sample factor at the defaults, then the longer route choice."""
    default = RouteChoiceSettings()
    cap, tol = default.iterations, default.relative_gap_tolerance
    out = [Setting(f"f{f:g}", f, cap, tol) for f in args.settings]
    if not args.no_longer:
        f = args.settings[0]
        out.append(Setting(f"f{f:g}-cap{2 * cap}-tol{tol / 2:g}", f, 2 * cap, tol / 2))
    return out


def scenario_file(folder: Path, name: str, setting: Setting) -> Path:
    """A scenario inheriting a shipped one with the setting's overrides."""
    path = folder / f"{name}-{setting.label}.yaml"
    path.write_text(
        f"name: {name}-{setting.label}\n"
        f"base: {SCENARIOS[name]}\n"
        f"demand: {{sample_factor: {setting.sample_factor}}}\n"
        "simulation:\n"
        f"  route_choice: {{iterations: {setting.iterations}, "
        f"relative_gap_tolerance: {setting.tolerance}}}\n",
        encoding="utf-8",
    )
    return path


def run_setting(
    setting: Setting, folder: Path, results: Path, workers: int, force: bool
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Compare baseline and package under one setting.

    Returns
    -------
    (rows, verdicts, wall_s)
        One row per scenario (KPI means, gap, iterations), the comparison table, wall seconds.
    """
    a = scenario_file(folder, "baseline", setting)
    b = scenario_file(folder, "2021-package", setting)
    started = time.perf_counter()
    outcome = pipeline.compare_scenarios(a, b, workers=workers, force=force, results_root=results)
    wall = time.perf_counter() - started
    rows = []
    for name, side in (("baseline", outcome.a), ("2021-package", outcome.b)):
        kpis = pd.DataFrame(side.kpis)
        rc = side.summary["route_choice"]
        rows.append(
            {
                "setting": setting.label,
                "scenario": name,
                **{k: kpis[k].mean() for k in SHOWN},
                "max_gap": rc["max_relative_gap"],
                "iterations": "/".join(str(i) for i in rc["iterations"]),
            }
        )
    return pd.DataFrame(rows), outcome.table, wall


def check(rows: pd.DataFrame, verdicts: dict[str, pd.DataFrame]) -> list[str]:
    """The failed checks, as sentences (empty when both hold)."""
    failures = []
    for name, group in rows.groupby("scenario"):
        tti = group["travel_time_index"]
        if (tti - tti.mean()).abs().max() > TTI_TOLERANCE * tti.mean():
            failures.append(
                f"{name}: travel-time index {tti.min():.3f}–{tti.max():.3f} varies by more than "
                f"±{TTI_TOLERANCE:.0%} across settings"
            )
    table = pd.DataFrame({label: v["verdict"] for label, v in verdicts.items()})
    for kpi, row in table.iterrows():
        signs = set(row) & {"better", "worse"}
        if len(signs) > 1:
            failures.append(f"{kpi}: called better in some settings and worse in others")
    return failures


def main(argv: list[str] | None = None) -> int:
    """Run every setting, print the tables and the checks; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--settings",
        nargs="+",
        type=float,
        default=[0.5, 0.25, 1.0],
        help="sample factors; the longer route choice runs at the first (the shipped default)",
    )
    parser.add_argument(
        "--no-longer", action="store_true", help="skip the twice-the-cap, half-the-tolerance run"
    )
    parser.add_argument("--workers", type=int, default=2, help="parallel replications")
    parser.add_argument("--force", action="store_true", help="rerun finished runs")
    parser.add_argument(
        "--results", type=Path, default=PROJECT_ROOT / "results" / "stability", help="folder"
    )
    args = parser.parse_args(argv)
    folder = args.results / "scenarios"
    folder.mkdir(parents=True, exist_ok=True)
    all_rows, verdicts, walls = [], {}, {}
    for setting in settings_from(args):
        print(f"running {setting} …", flush=True)
        rows, table, wall = run_setting(setting, folder, args.results, args.workers, args.force)
        rows["wall_s"] = wall
        all_rows.append(rows)
        verdicts[setting.label] = table
        walls[setting.label] = wall
    rows = pd.concat(all_rows, ignore_index=True)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print()
        print(
            rows.to_string(
                index=False,
                formatters={
                    "travel_time_index": "{:.3f}".format,
                    "vht_h": "{:,.0f}".format,
                    "trips_unfinished": "{:,.0f}".format,
                    "max_gap": "{:.4f}".format,
                    "wall_s": "{:.0f}".format,
                },
            )
        )
        print()
        changes = pd.DataFrame(
            {
                label: v["pct_change"].map("{:+.1f} %".format) + " " + v["verdict"]
                for label, v in verdicts.items()
            }
        )
        print("B − A per setting (relative change and verdict):")
        print(changes.to_string())
    failures = check(rows, verdicts)
    print()
    if failures:
        for failure in failures:
            print(f"FAIL {failure}")
        return 1
    print(
        f"PASS travel-time index within ±{TTI_TOLERANCE:.0%} across settings for each scenario; "
        "every significant change has the same sign in every setting"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
