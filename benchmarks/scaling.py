"""How cysim's wall time and memory grow with the number of trips on one network (log-log fit).

Run: ``.venv/bin/python benchmarks/scaling.py [--trips 10000 20000 50000 100000] [--size 30]``

Every trip count runs in its own spawned child (``_common.run_measured``). By default the demand
*rate* is held constant (``--trips-per-hour``), so the departure period grows with the trip count
and the network stays equally loaded: the exponent then measures the engine's cost per trip, not
the extra queueing of a more congested network (``--fixed-period S`` measures that instead).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Column, check, loglog_exponent, print_table, run_measured


def run_grid(size: int, n_trips: int, period_s: float, iterations: int, seed: int) -> dict:
    """Simulate ``n_trips`` random trips departing over ``period_s`` on a signalised grid."""
    from grid import grid_network, random_trips

    from cysim.sim import simulate
    from cysim.simsettings import SimSettings

    G = grid_network(size)
    trips = random_trips(G, n_trips, period_s, seed)
    settings = SimSettings(
        duration_s=period_s, cooldown_s=3600.0, seed=seed, route_choice={"iterations": iterations}
    )
    t0, c0 = time.perf_counter(), time.process_time()
    result = simulate(G, trips, settings, seed=seed)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    arrived = int((result.trips["status"] == "arrived").sum())
    return {
        "trips": n_trips,
        "period_h": period_s / 3600.0,
        "completed": arrived,
        "traversals": len(result.traversals),
        "sim_wall_s": wall,
        "sim_cpu_s": cpu,
        "gridlock": bool(result.gridlock["detected"]),
    }


#: Functions whose cumulative time splits a ``simulate`` call into stages (file suffix, name).
STAGES = [
    ("cysim/sim/runner.py", "simulate", "simulate (total)"),
    ("cysim/sim/netarrays.py", "build", "network arrays"),
    ("cysim/sim/routing.py", "route_trips", "routing (all calls)"),
    ("cysim/sim/routing.py", "_time_dependent_trees", "  of which time-dependent trees"),
    ("cysim/sim/engine.py", "run", "engine run(s)"),
    ("simpy/core.py", "step", "  of which event callbacks (SimPy step, cumulative)"),
    ("cysim/sim/monitor.py", "take", "  of which link sampling"),
    ("cysim/sim/parking.py", "on_arrival", "  of which parking at trip ends"),
    ("cysim/sim/movements.py", "movement_times", "movement-time profile"),
    ("cysim/sim/movements.py", "path_costs", "path costs"),
    ("cysim/sim/records.py", "to_result", "records to frames"),
]


def profile(size: int, n_trips: int, period_s: float, iterations: int, seed: int) -> None:
    """cProfile one case in this process; print the stage split and the top functions."""
    import cProfile
    import pstats

    import grid  # noqa: F401  (imports outside the profile)

    import cysim.sim  # noqa: F401

    profiler = cProfile.Profile()
    profiler.enable()
    run_grid(size, n_trips, period_s, iterations, seed)
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries = stats.stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    total = max(v[3] for (f, _, name), v in entries.items() if name == "simulate")
    rows = []
    for suffix, name, label in STAGES:
        cum = sum(v[3] for (f, _, n), v in entries.items() if n == name and f.endswith(suffix))
        rows.append({"stage": label, "cum_s": cum, "share": 100 * cum / total})
    # own time of the scheduler: SimPy's loop, the heap and the wake events the engine creates
    overhead = sum(
        v[2]
        for (f, _, n), v in entries.items()
        if f.endswith(("simpy/core.py", "simpy/events.py"))
        or n in ("<built-in method _heapq.heappop>", "<built-in method _heapq.heappush>")
        or (f.endswith("cysim/sim/simpy_adapter.py") and n == "__init__")
    )
    rows.insert(6, {"stage": "  of which scheduling overhead (own time)", "cum_s": overhead,
                    "share": 100 * overhead / total})  # fmt: skip
    print_table(rows, [("stage", "stage", "s"), ("cum_s", "cum s (profiled)", ".2f"),
                       ("share", "% of simulate", ".1f")],
                f"cProfile of simulate: {size}×{size} grid, {n_trips:,} trips, "
                f"{iterations} iteration(s)")  # fmt: skip
    stats.sort_stats("tottime").print_stats(15)


COLUMNS: list[Column] = [
    ("trips", "trips", ",d"),
    ("period_h", "departures h", ".2f"),
    ("completed", "completed", ",d"),
    ("traversals", "traversals", ",d"),
    ("sim_wall_s", "wall s", ".1f"),
    ("sim_cpu_s", "cpu s", ".1f"),
    ("trav_per_cpu_s", "trav / cpu s", ",.0f"),
    ("peak_mb", "peak MB", ".0f"),
    ("gridlock", "gridlock", ""),
    ("status", "status", "s"),
]


def main() -> None:
    """Measure every trip count, print the table and the fitted exponents."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips", type=int, nargs="+", default=[10_000, 20_000, 50_000, 100_000])
    parser.add_argument("--size", type=int, default=30, help="grid nodes per side")
    parser.add_argument("--trips-per-hour", type=float, default=25_000.0)
    parser.add_argument("--fixed-period", type=float, default=0.0,
                        help="departure period, s (0 = constant rate)")  # fmt: skip
    parser.add_argument("--iterations", type=int, default=1, help="route-choice iterations")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the first trip count (stages, hot spots)")  # fmt: skip
    args = parser.parse_args()
    if args.profile:
        n = args.trips[0]
        period = args.fixed_period or 3600.0 * n / args.trips_per_hour
        profile(args.size, n, period, args.iterations, args.seed)
        return
    rows: list[dict[str, Any]] = []
    for n in args.trips:
        period = args.fixed_period or 3600.0 * n / args.trips_per_hour
        print(f"{n:,} trips …", flush=True)
        row = run_measured(
            run_grid, args.size, n, period, args.iterations, args.seed, timeout_s=args.timeout
        )
        if row.get("status") == "ok":
            row["trav_per_cpu_s"] = row["traversals"] / row["sim_cpu_s"]
        rows.append({"trips": n, **row})
    title = (
        f"Scaling on a {args.size}×{args.size} signalised grid, route-choice iterations "
        f"{args.iterations}, "
        + (
            f"departures over {args.fixed_period:.0f} s"
            if args.fixed_period
            else f"{args.trips_per_hour:,.0f} trips/h"
        )
    )
    print_table(rows, COLUMNS, title)
    ok = [r for r in rows if r.get("status") == "ok"]
    if len(ok) < 2:
        print("FAIL  fewer than two runs finished: no exponent")
        return
    trips = [r["trips"] for r in ok]
    wall = loglog_exponent(trips, [r["sim_wall_s"] for r in ok])
    cpu = loglog_exponent(trips, [r["sim_cpu_s"] for r in ok])
    memory = loglog_exponent(trips, [r["peak_mb"] for r in ok])
    print(f"fitted exponents (log-log least squares): wall {wall:.3f}, cpu {cpu:.3f}, "
          f"peak memory {memory:.3f}")  # fmt: skip
    span = max(trips) / min(trips)
    check("scaling exponent of wall time ≤ 1.1", wall <= 1.1,
          f"{wall:.3f} over a {span:.0f}× span of trips (cpu {cpu:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
