"""The engine of two git revisions side by side: CPU time and whether the records are identical.

Run::

    .venv/bin/python benchmarks/engine_ab.py --before 314e506            # vs the working tree
    .venv/bin/python benchmarks/engine_ab.py --before v0.1 --after HEAD --rounds 5
    .venv/bin/python benchmarks/engine_ab.py --before HEAD --case 100:15000:0   # a large grid

Each revision other than the working tree is checked out into a temporary ``git worktree``.
Every round runs each side in its own fresh process (alternating, so machine load hits both
alike) on the same cases: ``engine.run`` alone on free-flow routes of random grid trips
(``benchmarks/grid.py``). The fastest round per side is reported (the least disturbed by other
load), and every record array of the run (traversals, arrivals, samples, stuck flags) is compared
exactly between the two sides. A change meant to be a pure speed-up must print "identical".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: (grid side, trips, signalise every n-th row/column; 0 = none)
CASES: list[tuple[int, int, int]] = [(20, 30_000, 2), (12, 20_000, 3), (40, 40_000, 0)]
RECORD_FIELDS = (
    "trav_trip", "trav_link", "trav_entry_s", "trav_exit_s", "arrival_s", "queue_veh",
    "occupancy_veh", "blocked", "stuck",
)  # fmt: skip

CHILD = """
import json, resource, sys, time
root, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)
sys.path.insert(0, {bench!r})
import numpy as np
import cysim
assert cysim.__file__.startswith(root), cysim.__file__
from grid import freeflow_paths, grid_network, random_trips
from cysim.sim import engine, netarrays
figures, arrays = [], {{}}
for size, n, every in {cases!r}:
    G = grid_network(size, signal_every=every)
    trips = random_trips(G, n, 3600.0, 0)
    net = netarrays.build(G, 1.0, 18.0)
    paths = freeflow_paths(net, trips)
    c0 = time.process_time()
    rec = engine.run(net, paths, trips.departure_s.tolist(), end_s=5400.0,
                     sample_interval_s=60.0, gridlock_timeout_s=600.0, critical_gap_s=6.0,
                     follow_up_s=3.5, left_gap_s=4.5)
    figures.append([time.process_time() - c0, len(rec.trav_link)])
    for k in {fields!r}:
        arrays[f"{{size}}_{{n}}_{{every}}_{{k}}"] = np.asarray(getattr(rec, k))
np.savez(out, **arrays)
print(json.dumps(figures))
"""


def parse_case(text: str) -> tuple[int, int, int]:
    """``SIZE:TRIPS:SIGNALS`` (e.g. ``100:15000:0``) as a case tuple."""
    try:
        size, trips, every = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SIZE:TRIPS:SIGNALS, got {text!r}") from None
    return size, trips, every


def run_side(root: Path, out: Path, cases: list[tuple[int, int, int]]) -> list[tuple[float, int]]:
    """One fresh process running every case on the cysim found at ``root``."""
    code = CHILD.format(bench=str(ROOT / "benchmarks"), cases=cases, fields=RECORD_FIELDS)
    done = subprocess.run(
        [sys.executable, "-c", code, str(root), str(out)],
        capture_output=True, text=True, check=False, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"engine run at {root} failed:\n{done.stderr[-2000:]}")
    return [tuple(x) for x in json.loads(done.stdout.strip().splitlines()[-1])]


def same_records(a: Path, b: Path) -> bool:
    """Whether every saved record array is exactly equal (NaN equal to NaN)."""
    with np.load(a) as x, np.load(b) as y:
        if sorted(x.files) != sorted(y.files):
            return False
        return all(np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f") for k in x.files)


def main() -> None:
    """Check out the revisions, run the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="git revision of the 'before' engine")
    parser.add_argument("--after", default=None, help="git revision (default: working tree)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side (fastest kept)")
    parser.add_argument(
        "--case", type=parse_case, action="append", default=None,
        help="SIZE:TRIPS:SIGNALS instead of the default cases (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    cases = args.case or CASES
    with tempfile.TemporaryDirectory(prefix="cysim-ab-") as tmp:
        roots = {}
        for side, rev in (("before", args.before), ("after", args.after)):
            if rev is None:
                roots[side] = ROOT
                continue
            roots[side] = Path(tmp) / side
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(roots[side]),
                 rev], check=True,
            )  # fmt: skip
        try:
            best: dict[str, list[float]] = {}
            counts: list[int] = []
            for _ in range(args.rounds):
                for side, root in roots.items():
                    figures = run_side(root, Path(tmp) / f"{side}.npz", cases)
                    cpu = [f[0] for f in figures]
                    counts = [f[1] for f in figures]
                    best[side] = [min(p) for p in zip(best.get(side, cpu), cpu, strict=True)]
            identical = same_records(Path(tmp) / "before.npz", Path(tmp) / "after.npz")
        finally:
            for root in roots.values():
                if root != ROOT:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(root)],
                        check=False,
                    )  # fmt: skip
    after = args.after or "working tree"
    print(f"engine before = {args.before}, after = {after}; fastest of {args.rounds} rounds\n")
    print(
        "| grid | trips | signals every | traversals | before cpu s | after cpu s | after/before |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for (size, n, every), count, b, a in zip(
        cases, counts, best["before"], best["after"], strict=True
    ):
        print(f"| {size}×{size} | {n:,} | {every or '–'} | {count:,} | {b:.2f} | {a:.2f} | "
              f"{a / b:.3f} |")  # fmt: skip
    print(f"\nrecords: {'identical' if identical else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
