"""Engine throughput: vehicle-link traversals per second, wall time and peak memory on a grid.

Run: ``.venv/bin/python benchmarks/engine_throughput.py [--trips 10000 30000 100000] [--size 20]``
(``--every 5`` simulates every 5th trip at sample factor 0.2, ``--end 900`` stops the run early,
``--no-memory`` skips the traced second run).

Throughput is reported per wall second and per CPU second of the engine run (the machine may be
shared; CPU time is the fairer figure). Peak memory is traced (tracemalloc) in a second run.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grid import freeflow_paths, grid_network, random_trips

from cysim.sim import engine, netarrays


def measure(
    size: int,
    n_trips: int,
    duration_s: float,
    seed: int,
    repeat: int = 1,
    every: int = 1,
    end_s: float | None = None,
    signal_every: int = 2,
    memory: bool = True,
) -> dict:
    """Route on free-flow times, then time the engine (best of ``repeat`` runs) and its memory.

    ``every`` > 1 simulates every n-th trip at sample factor 1/n; ``end_s`` (default: departure
    period + 1 h) ends the run early; ``memory=False`` skips the traced run (peak reported NaN).
    """
    G = grid_network(size, signal_every=signal_every)
    trips = random_trips(G, n_trips, duration_s, seed).iloc[::every].reset_index(drop=True)
    net = netarrays.build(G, 1.0 / every, 18.0)
    t0 = time.perf_counter()
    paths = freeflow_paths(net, trips)
    route_s = time.perf_counter() - t0
    kwargs = dict(
        end_s=end_s or duration_s + 3600.0, sample_interval_s=60.0, gridlock_timeout_s=600.0,
        critical_gap_s=6.0, follow_up_s=3.5, sample_factor=1.0 / every,
    )  # fmt: skip
    dep = trips["departure_s"].tolist()
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        rec = engine.run(net, paths, dep, **kwargs)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    peak = float("nan")
    if memory:
        tracemalloc.start()
        engine.run(net, paths, dep, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    traversals = len(rec.trav_link)
    return {
        "grid": f"{size}x{size}",
        "links": net.n_links,
        "trips": len(trips),
        "arrived": int((~np.isnan(rec.arrival_s)).sum()),
        "traversals": traversals,
        "route_s": route_s,
        "engine_s": wall,
        "cpu_s": cpu,
        "trav_per_s": traversals / wall,
        "trav_per_cpu_s": traversals / cpu,
        "in_network": float(np.mean(rec.net_samples["vehicles_in_network"])),
        "peak_mb": peak / 2**20,
        "gridlock": rec.gridlock["detected"],
    }


def main() -> None:
    """Print one table row per trip count."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trips", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--size", type=int, default=20, help="grid nodes per side")
    parser.add_argument("--duration", type=float, default=3600.0, help="departure period, s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="engine runs per case (best kept)")
    parser.add_argument("--every", type=int, default=1, help="every n-th trip, sample factor 1/n")
    parser.add_argument("--end", type=float, default=None, help="end of the run, s")
    parser.add_argument("--signals", type=int, default=2, help="signalise every n-th row/column")
    parser.add_argument("--no-memory", action="store_true", help="skip the traced memory run")
    args = parser.parse_args()
    header = (
        f"{'grid':>7} {'links':>6} {'trips':>7} {'arrived':>7} {'traversals':>10} "
        f"{'route s':>8} {'wall s':>8} {'cpu s':>8} {'trav/wall s':>11} {'trav/cpu s':>10} "
        f"{'us/trav':>7} {'in net':>7} {'peak MB':>8} gridlock"
    )
    print(header)
    for n in args.trips:
        r = measure(args.size, n, args.duration, args.seed, args.repeat, args.every, args.end,
                    args.signals, not args.no_memory)  # fmt: skip
        print(
            f"{r['grid']:>7} {r['links']:>6} {r['trips']:>7} {r['arrived']:>7} "
            f"{r['traversals']:>10} {r['route_s']:>8.2f} {r['engine_s']:>8.2f} {r['cpu_s']:>8.2f} "
            f"{r['trav_per_s']:>11.0f} {r['trav_per_cpu_s']:>10.0f} "
            f"{1e6 / r['trav_per_cpu_s']:>7.2f} {r['in_network']:>7.0f} {r['peak_mb']:>8.1f} "
            f"{r['gridlock']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
