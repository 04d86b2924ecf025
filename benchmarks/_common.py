"""Shared benchmark plumbing: one measured child process per run, tables, fits and target checks."""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import resource
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: Columns of a printed table: (key, header, format spec).
Column = tuple[str, str, str]


def _current_rss_mb() -> float:
    """Resident set size of this process now, MiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _proc_figures(pid: int) -> dict[str, float]:
    """Peak resident memory and CPU time of a running process so far (Linux /proc; {} else)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return {"peak_mb": hwm / 1024, "sim_cpu_s": (int(fields[11]) + int(fields[12])) / ticks}
    except (OSError, StopIteration, IndexError, ValueError):
        return {}


def _child(
    fn: Callable[..., dict[str, Any]], args: tuple, out: multiprocessing.Queue, limit_gb: float
) -> None:
    """Run ``fn(*args)`` in this fresh process and send its result plus resource figures."""
    # the queue's feeder thread starts on the first put: start it before the memory limit,
    # which could otherwise leave no address space for its stack at the end
    out.put({"status": "started"})
    if limit_gb > 0:
        limit = int(limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        base_mb = _current_rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn(*args)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        # ru_maxrss is KiB on Linux: the peak of this child alone
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = {"status": "ok", "wall_s": wall, "cpu_s": cpu, "peak_mb": peak_mb,
                  "base_mb": base_mb, **result}  # fmt: skip
    except MemoryError:
        result = {"status": f"out of memory (> {limit_gb:g} GB address space)"}
    except Exception as error:
        result = {"status": f"error: {error!r}", "traceback": traceback.format_exc()}
    out.put(result)


def run_measured(
    fn: Callable[..., dict[str, Any]],
    *args: Any,
    timeout_s: float = 3600.0,
    memory_limit_gb: float = 0.0,
) -> dict[str, Any]:
    """Run ``fn(*args)`` in a spawned child and measure it there.

    ``fn`` does its own imports and set-up; ``wall_s``/``cpu_s`` cover the whole call (the
    function may report narrower timings itself, which then take precedence), ``peak_mb`` is the
    child's peak resident memory (``ru_maxrss``), so each simulator's memory is its own.

    Parameters
    ----------
    fn
        A module-level function returning a dict of figures.
    args
        Its arguments (picklable).
    timeout_s
        The child is terminated after this long; status ``"timeout"``.
    memory_limit_gb
        Address-space limit of the child (0 = none); exceeding it gives status ``out of memory``.

    Returns
    -------
    dict
        ``status`` (``"ok"``, ``"timeout …"``, ``"error: …"``) and the figures.
    """
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_child, args=(fn, args, out, memory_limit_gb), daemon=True)
    started = time.perf_counter()
    child.start()
    try:
        result = out.get(timeout=120)  # the "started" marker
        if result.get("status") == "started":
            result = out.get(timeout=timeout_s)
    except queue.Empty:
        # what the child reached before it is stopped: peak memory and CPU time so far
        result = {"status": f"timeout (> {timeout_s:.0f} s)", **_proc_figures(child.pid)}
        child.terminate()
    child.join(timeout=30)
    if child.is_alive():
        child.kill()
    result.setdefault("elapsed_s", time.perf_counter() - started)
    if "traceback" in result:
        print(result["traceback"], flush=True)
    return result


def fmt(value: Any, spec: str) -> str:
    """Format a table cell; missing or NaN values print as ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, str):
        return value
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], title: str) -> None:
    """Print rows as a fixed-width text table (also valid Markdown)."""
    cells = [[fmt(row.get(key), spec) for key, _, spec in columns] for row in rows]
    widths = [
        max([len(header), *(len(c[i]) for c in cells)]) for i, (_, header, _) in enumerate(columns)
    ]
    print(f"\n{title}\n", flush=True)
    print(
        "| " + " | ".join(h.rjust(w) for (_, h, _), w in zip(columns, widths, strict=True)) + " |"
    )
    print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for c in cells:
        print("| " + " | ".join(v.rjust(w) for v, w in zip(c, widths, strict=True)) + " |")
    print(flush=True)


def loglog_exponent(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (the scaling exponent)."""
    slope, _ = np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)
    return float(slope)


def check(name: str, passed: bool, detail: str) -> bool:
    """Print one target line, ``PASS``/``FAIL``, and return ``passed``."""
    print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}", flush=True)
    return passed


def pearson_r(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation of two equally long sequences (NaN when either is constant)."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])
