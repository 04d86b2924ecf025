"""A converged scenario on a real-size map: the stage table, per iteration, against the targets.

Run::

    .venv/bin/python benchmarks/real_size.py                  # 100 × 100 grid, f = 0.25 and 1.0
    .venv/bin/python benchmarks/real_size.py --factors 0.25   # the 10-minute target only
    .venv/bin/python benchmarks/real_size.py --osm path/to/extract.osm.pbf

The map is the 100 × 100 grid of ``grid.py`` (10,000 junctions, 39,600 links, 300 m blocks, two
lanes, every second row and column signalised: 2,500 signals on the default plan), or with
``--osm`` any OpenStreetMap extract, loaded as ``cysim map`` loads it. The demand is **random
OD**: 80,000 trips between uniformly drawn distinct junctions, departing uniformly over the
2-hour period (``grid.random_trips``; on an OSM map over its junctions). Random OD is the hard
case for routing: almost every trip has an origin and departure bin of its own, so no search is
shared, where a zone-based demand starts many trips at the same connectors.

A sample factor ``f`` simulates every ``1/f``-th trip with capacities scaled by ``f``. Route
choice runs to the relative gap ``--gap`` (0.02) or the iteration cap ``--iterations``. Each
factor runs in a fresh process; stages are wrapped with timers (CPU counts every thread of the
process, so routing's CPU exceeds its wall time on two cores). The last lines check the targets
of issue 21: f = 0.25 within 10 min wall and 4 GB, f = 1.0 within 30 min.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import check, run_measured

#: (module path, function, stage label) wrapped with timers inside ``simulate``.
STAGES = [
    ("cysim.sim.netarrays", "build", "netarrays.build"),
    ("cysim.sim.routing", "route_trips", "routing"),
    ("cysim.sim.engine", "run", "engine"),
]

#: Wall-time targets per sample factor, s (issue 21); memory target for f = 0.25, MB.
WALL_TARGET_S = {0.25: 600.0, 1.0: 1800.0}
MEMORY_TARGET_MB = 4096.0


def _timed(function, label: str, calls: list) -> object:
    """``function`` appending ``(label, cpu_s, wall_s)`` per call to ``calls``."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        cpu, wall = time.process_time(), time.perf_counter()
        out = function(*args, **kwargs)
        calls.append((label, time.process_time() - cpu, time.perf_counter() - wall))
        return out

    return wrapper


def run_case(
    osm: str, size: int, n_trips: int, factor: float, gap: float, iterations: int, seed: int
) -> dict:
    """Build the map and the trips, simulate to the gap, return the stage figures."""
    import importlib

    import numpy as np
    from grid import grid_network, random_trips

    from cysim.network import build as network
    from cysim.sim import runner
    from cysim.simsettings import SimSettings

    figures: dict = {}
    cpu, wall = time.process_time(), time.perf_counter()
    G = network.load_network(osm) if osm else grid_network(size)
    figures["network"] = (time.process_time() - cpu, time.perf_counter() - wall)
    cpu, wall = time.process_time(), time.perf_counter()
    duration_s = 7200.0
    trips = random_trips(G, n_trips, duration_s, seed)
    every = round(1.0 / factor)
    if every > 1:
        trips = trips.iloc[::every].reset_index(drop=True)
    trips.attrs["sample_factor"] = 1.0 / every
    figures["demand"] = (time.process_time() - cpu, time.perf_counter() - wall)
    calls: list = []
    for module_name, name, label in STAGES:
        module = importlib.import_module(module_name)
        setattr(module, name, _timed(getattr(module, name), label, calls))
    settings = SimSettings(
        duration_s=duration_s,
        route_choice={"iterations": iterations, "relative_gap_tolerance": gap},
    )
    cpu, wall = time.process_time(), time.perf_counter()
    result = runner.simulate(G, trips, settings, seed=seed)
    figures["simulate"] = (time.process_time() - cpu, time.perf_counter() - wall)
    # calls before the first engine run set up iteration 1; the rest belong to the run before
    iteration, per_iteration = 0, []
    for label, c, w in calls:
        if label == "engine":
            iteration += 1
            per_iteration.append({})
        key = "setup" if iteration == 0 else iteration
        bucket = figures.setdefault(("iteration", key), {})
        old = bucket.get(label, (0.0, 0.0))
        bucket[label] = (old[0] + c, old[1] + w)
        total = figures.setdefault(("stage", label), (0.0, 0.0))
        figures[("stage", label)] = (total[0] + c, total[1] + w)
    rc = result.route_choice
    counts = result.extra["counts"]
    return {
        "figures": figures,
        "gaps": rc["relative_gap"].tolist(),
        "iterations": int(rc["iteration"].iloc[-1]),
        "junctions": G.number_of_nodes(),
        "links": G.number_of_edges(),
        "simulated_trips": len(trips),
        "counts": {k: int(v) for k, v in counts.items()},
        "mean_travel_s": float(np.nanmean(result.trips["arrival_s"] - result.trips["departure_s"])),
    }


def print_case(factor: float, out: dict) -> None:
    """The stage table and the per-iteration table of one case."""
    if out["status"] != "ok":
        print(f"f = {factor}: {out['status']}")
        return
    fig = out["figures"]
    sim_wall = fig["simulate"][1]
    print(f"\n### f = {factor}: {out['simulated_trips']:,} trips simulated on "
          f"{out['junctions']:,} junctions / {out['links']:,} links; "
          f"{out['iterations']} iterations, final gap {out['gaps'][-1]:.4f}")  # fmt: skip
    print("\n| stage | CPU s | wall s | share of simulate wall |\n|---|---|---|---|")
    for label, key in (("network build", "network"), ("demand", "demand")):
        print(f"| {label} | {fig[key][0]:.1f} | {fig[key][1]:.1f} | |")
    print(f"| `simulate`, of which: | {fig['simulate'][0]:.1f} | {sim_wall:.1f} | 100 % |")
    known = 0.0
    for label in ("routing", "engine", "netarrays.build"):
        c, w = fig.get(("stage", label), (0.0, 0.0))
        known += w
        print(f"| – {label} | {c:.1f} | {w:.1f} | {100 * w / sim_wall:.0f} % |")
    rest = sim_wall - known
    print(f"| – other (link times, path costs, records) | | {rest:.1f} | "
          f"{100 * rest / sim_wall:.0f} % |")  # fmt: skip
    print(f"| peak memory | {out['peak_mb']:,.0f} MB | | |")
    print("\n| iteration | routing CPU / wall s | engine CPU / wall s | relative gap |")
    print("|---|---|---|---|")
    setup = fig.get(("iteration", "setup"), {})
    r = setup.get("routing", (0.0, 0.0))
    print(f"| free-flow routes | {r[0]:.1f} / {r[1]:.1f} | | |")
    for k in range(1, out["iterations"] + 1):
        it = fig.get(("iteration", k), {})
        r, e = it.get("routing", (0.0, 0.0)), it.get("engine", (0.0, 0.0))
        print(f"| {k} | {r[0]:.1f} / {r[1]:.1f} | {e[0]:.1f} / {e[1]:.1f} | "
              f"{out['gaps'][k - 1]:.4f} |")  # fmt: skip
    print(f"\ncounts: {out['counts']}; mean travel time {out['mean_travel_s']:.0f} s")


def main() -> None:
    """Run each sample factor in its own process, print the tables and the target checks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--osm", default="", help="an OSM extract instead of the grid")
    parser.add_argument("--size", type=int, default=100, help="grid junctions per side")
    parser.add_argument("--trips", type=int, default=80_000, help="random-OD trips (f = 1)")
    parser.add_argument("--factors", type=float, nargs="+", default=[0.25, 1.0])
    parser.add_argument("--gap", type=float, default=0.02, help="relative-gap tolerance")
    parser.add_argument("--iterations", type=int, default=40, help="iteration cap")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per factor, s")
    args = parser.parse_args()
    where = args.osm or f"{args.size} × {args.size} grid"
    print(f"# real-size maps: {where}, {args.trips:,} random-OD trips, gap ≤ {args.gap}, "
          f"cap {args.iterations} iterations, seed {args.seed}")  # fmt: skip
    outcomes = {}
    for factor in args.factors:
        outcomes[factor] = run_measured(
            run_case, args.osm, args.size, args.trips, factor, args.gap, args.iterations,
            args.seed, timeout_s=args.timeout,
        )  # fmt: skip
        print_case(factor, outcomes[factor])
    print()
    for factor, out in outcomes.items():
        target = WALL_TARGET_S.get(factor)
        if target is None or out["status"] != "ok":
            continue
        wall = out["wall_s"]
        converged = out["gaps"][-1] <= args.gap
        check(f"f = {factor}: converged within {target / 60:.0f} min wall",
              converged and wall <= target,
              f"{wall / 60:.1f} min, gap {out['gaps'][-1]:.4f} after {out['iterations']} "
              "iterations")  # fmt: skip
        if factor == 0.25:
            check(f"f = {factor}: peak memory ≤ {MEMORY_TARGET_MB / 1024:.0f} GB",
                  out["peak_mb"] <= MEMORY_TARGET_MB, f"{out['peak_mb']:,.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
