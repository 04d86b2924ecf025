"""Route choice's relative gap per iteration with every vehicle simulated and with a quarter.

Run::

    .venv/bin/python benchmarks/gap_vs_sample.py   # 20 × 20 grid, 6,000 trips, 12 iterations

The same random-OD demand (``grid.random_trips``, seed 0) on the 20 × 20 grid of ``grid.py``:
once with every trip (f = 1), then every 4th trip from offsets 0 and 1 (f = 0.25, capacities
scaled by 0.25); route choice runs the full cap (no tolerance stop). Prints the gap of each
iteration per run. docs/performance.md, "Real-size maps", reads it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grid import grid_network, random_trips

from cysim.sim import runner
from cysim.simsettings import SimSettings


def main() -> None:
    """Run f = 1 and two quarter samples, print their gaps per iteration."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--trips", type=int, default=6000)
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--offsets", type=int, default=2, help="quarter samples to run")
    args = parser.parse_args()
    G = grid_network(args.size)
    trips = random_trips(G, args.trips, 3600.0, 0)
    settings = SimSettings(
        duration_s=3600.0,
        route_choice={"iterations": args.iterations, "relative_gap_tolerance": 1e-9},
    )
    runs = {"f = 1.0": trips}
    for k in range(args.offsets):
        sample = trips.iloc[k::4].reset_index(drop=True)
        sample.attrs["sample_factor"] = 0.25
        runs[f"f = 0.25, offset {k}"] = sample
    print(f"{args.size} × {args.size} grid, {args.trips:,} random-OD trips over 1 h, seed 1")
    print("| run | " + " | ".join(str(k) for k in range(1, args.iterations + 1)) + " |")
    print("|---" * (args.iterations + 1) + "|")
    for label, run_trips in runs.items():
        gaps = runner.simulate(G, run_trips, settings, seed=1).route_choice["relative_gap"]
        print(f"| {label} | " + " | ".join(f"{g:.4f}" for g in gaps) + " |")


if __name__ == "__main__":
    main()
