"""CPU time and peak memory of each stage of one ``simulate`` call on a grid.

Run::

    .venv/bin/python benchmarks/stages.py --size 100 --trips 1000000 --every 5
    .venv/bin/python benchmarks/stages.py --size 30 --trips 20000 --iterations 3 --signals 2

The stages of :func:`cysim.sim.simulate` (network arrays, each ``routing.route_trips`` call,
each ``engine.run``, the link-time profile, ``records.to_result``) are wrapped with CPU timers;
each prints its CPU seconds, the process's peak resident memory after it and its resident memory
now (what the stage left alive), so a memory peak can be pinned to a stage. Unlike
``scaling.py --profile`` there is no profiler overhead.
"""

from __future__ import annotations

import argparse
import functools
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grid import grid_network, random_trips

from cysim.sim import movements, netarrays, records, routing, runner
from cysim.simsettings import SimSettings

STAGES = [
    (netarrays, "build", "network arrays"),
    (routing, "route_trips", "routing"),
    (runner.engine, "run", "engine"),
    (movements, "movement_times", "movement-time profile"),
    (movements, "path_costs", "path costs"),
    (records, "to_result", "result frames"),
]


def peak_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory of this process now, MB (what is alive, unlike the peak); NaN without
    Linux's ``/proc``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass  # not Linux: the "now" column reads nan
    return float("nan")


def timed(function: Callable, label: str, totals: dict[str, float]) -> Callable:
    """``function`` printing its CPU time and the peak memory after each call."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.process_time()
        out = function(*args, **kwargs)
        cpu = time.process_time() - start
        totals[label] = totals.get(label, 0.0) + cpu
        print(f"  {label}: {cpu:.1f} s cpu, peak {peak_mb():.0f} MB, "
              f"now {rss_mb():.0f} MB", flush=True)  # fmt: skip
        return out

    return wrapper


def main() -> None:
    """Build the case, run ``simulate`` with the stages timed, print the totals."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100, help="grid side (junctions per side)")
    parser.add_argument("--trips", type=int, default=100_000, help="random trips")
    parser.add_argument("--every", type=int, default=1,
                        help="simulate every n-th trip with sample_factor 1/n")  # fmt: skip
    parser.add_argument("--signals", type=int, default=0, help="signalise every n-th row/column")
    parser.add_argument("--iterations", type=int, default=1, help="route-choice iterations")
    args = parser.parse_args()
    G = grid_network(args.size, signal_every=args.signals)
    trips = random_trips(G, args.trips, 3600.0, 0)
    if args.every > 1:
        trips = trips.iloc[:: args.every].reset_index(drop=True)
        trips.attrs.update(sample_factor=1.0 / args.every)
    totals: dict[str, float] = {}
    for module, name, label in STAGES:
        setattr(module, name, timed(getattr(module, name), label, totals))
    settings = SimSettings(
        duration_s=3600.0, cooldown_s=3600.0,
        route_choice={"iterations": args.iterations},
    )  # fmt: skip
    print(f"{args.size}×{args.size} grid, {args.trips:,} trips, every {args.every}:", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    result = runner.simulate(G, trips, settings, seed=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"simulate: {wall:.1f} s wall, {cpu:.1f} s cpu, {len(result.traversals):,} "
          f"traversals, peak {peak_mb():.0f} MB")  # fmt: skip
    print("counts:", result.extra["counts"])
    print("cpu by stage:", {k: round(v, 1) for k, v in totals.items()})


if __name__ == "__main__":
    main()
