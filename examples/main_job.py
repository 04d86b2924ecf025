"""The README's main job through the Python API: the baseline against the 2021 package.

Runs what is missing (finished runs are reused), writes ``results/compare/<a>__<b>/`` with the
report, and prints the headline KPIs::

    python examples/main_job.py                      # as `cysim compare` in the README
    python examples/main_job.py --sample-factor 0.25 --results /tmp/results
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cysim

PROJECT = Path(__file__).resolve().parents[1]
HEADLINE = ["mean_delay_s", "travel_time_index", "vht_h", "congested_places"]


def main(argv: list[str] | None = None) -> int:
    """Compare two scenarios and print where the report is; 2 on bad input."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, default=PROJECT / "scenarios/baseline.yaml")
    parser.add_argument("--after", type=Path, default=PROJECT / "scenarios/2021-package.yaml")
    parser.add_argument("--results", type=Path, default=None, help="results folder")
    parser.add_argument("--sample-factor", type=float, default=None)
    parser.add_argument("--replications", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        outcome = cysim.compare(
            args.before,
            args.after,
            results_root=args.results,
            sample_factor=args.sample_factor,
            replications=args.replications,
            workers=args.workers,
        )
    except cysim.errors.CysimError as error:
        print(f"error: {error}")
        return 2
    rows = [key for key in HEADLINE if key in outcome.table.index]
    print(outcome.table.loc[rows, ["mean_a", "mean_b", "pct_change", "verdict"]].to_string())
    for note in outcome.notes:
        print(f"note: {note}")
    print(f"report: {outcome.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
