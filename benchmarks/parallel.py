"""Parallel replications: ``cysim run --workers 2`` and a local Dask cluster vs ``--workers 1``.

Run: ``.venv/bin/python benchmarks/parallel.py [--scenario scenarios/baseline.yaml] [-n 4]``

Each variant is a separate ``cysim run … --force`` process into a temporary results folder; the
script prints wall time, the CPU time of the process tree, the speed-up against one worker, and
checks that summary.json KPIs and links.parquet are identical. On a machine shared with other
jobs the wall-time speed-up is bounded by the cores actually free: the CPU column shows it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Column, check, print_table

ROOT = Path(__file__).resolve().parents[1]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(scenario: Path, replications: int, results: Path, extra: list[str]) -> dict[str, Any]:
    """One ``cysim run`` in a child process; wall time, CPU time of its process tree, run folder."""
    cmd = [sys.executable, "-m", "cysim", "run", str(scenario), "-n", str(replications),
           "--force", "--results", str(results), *extra]  # fmt: skip
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu_s() - cpu0
    if done.returncode != 0:
        return {"status": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
    [summary] = results.glob("*/*/summary.json")
    return {"status": "ok", "wall_s": wall, "cpu_s": cpu, "run_dir": summary.parent}


def same_results(a: Path, b: Path) -> bool:
    """summary.json replications/KPIs and links.parquet equal."""
    sa = json.loads((a / "summary.json").read_text(encoding="utf-8"))
    sb = json.loads((b / "summary.json").read_text(encoding="utf-8"))
    if (sa["replications"], sa["kpis"]) != (sb["replications"], sb["kpis"]):
        return False
    return pd.read_parquet(a / "links.parquet").equals(pd.read_parquet(b / "links.parquet"))


def main() -> None:
    """Run the variants, print the table and the checks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "baseline.yaml")
    parser.add_argument("-n", "--replications", type=int, default=4)
    parser.add_argument("--no-dask", action="store_true", help="skip the LocalCluster variant")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cysim-parallel-") as tmp:
        variants: list[tuple[str, list[str]]] = [("--workers 1", ["-w", "1"]),
                                                 ("--workers 2", ["-w", "2"])]  # fmt: skip
        cluster = None
        if not args.no_dask:
            try:
                from dask.distributed import LocalCluster

                cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)  # fmt: skip
                variants.append(("--scheduler (2 Dask workers)",
                                 ["--scheduler", cluster.scheduler_address]))  # fmt: skip
            except ImportError:
                print("dask not installed: Dask variant skipped (pip install cysim[dist])")
        try:
            for i, (label, extra) in enumerate(variants):
                print(f"{label} …", flush=True)
                r = run_cli(args.scenario, args.replications, Path(tmp) / f"v{i}", extra)
                rows.append({"variant": label, **r})
        finally:
            if cluster is not None:
                cluster.close()
        base = rows[0]
        for r in rows:
            if r.get("status") == "ok" and base.get("status") == "ok":
                r["speedup"] = base["wall_s"] / r["wall_s"]
                r["identical"] = "yes" if same_results(base["run_dir"], r["run_dir"]) else "NO"
        columns: list[Column] = [("variant", "variant", "s"), ("wall_s", "wall s", ".1f"),
                                 ("cpu_s", "cpu s (client tree)", ".1f"),
                                 ("speedup", "speed-up", ".2f"), ("identical", "identical", "s"),
                                 ("status", "status", "s")]  # fmt: skip
        print_table(rows, columns, f"{args.scenario.name}, {args.replications} replications")
        two = rows[1]
        check("--workers 2 ≥ 1.7× --workers 1", two.get("speedup", 0) >= 1.7,
              f"{two.get('speedup', float('nan')):.2f}×")  # fmt: skip
        same = all(r.get("identical") == "yes" for r in rows)
        check("identical results for every variant", same, "summary.json KPIs, links.parquet")


if __name__ == "__main__":
    main()
