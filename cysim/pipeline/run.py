"""Run scenarios end to end: network → patches → demand → replications → run folder."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import io
from .._errors import ResultsError
from .._version import __version__
from .memory import check_memory
from .parallel import ProgressFn, _run_jointly, run_replications
from .prepare import PreparedScenario, prepare_scenario
from .replicate import ReplicationOutput
from .runfolder import _finished_kpis, _run_key, write_run

#: Called with the outcome of a scenario whose finished run is reused (nothing is simulated).
ReusedFn = Callable[["RunOutcome"], None]


@dataclass
class RunOutcome:
    """A finished (or reused) run of one scenario."""

    run_dir: Path
    reused: bool
    scenario_name: str
    seeds: list[int]
    kpis: list[dict[str, float]]
    log_lines: list[str] = field(default_factory=list)


def run_scenario(
    path: str | Path,
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    force: bool = False,
    results_root: Path | None = None,
    progress: ProgressFn | None = None,
    prepared: PreparedScenario | None = None,
    scheduler: str | None = None,
    sample_factor: float | None = None,
    on_reused: ReusedFn | None = None,
) -> RunOutcome:
    """Run a scenario's replications and write its results folder, or reuse a finished one.

    A finished run with the same resolved scenario (incl. the map file's hash), seed,
    replications and cysim version is reused unless ``force``. The folder is written under a
    temporary name and renamed when complete, under a per-scenario lock, so an interrupted or
    concurrent run never leaves a folder that looks complete.

    Parameters
    ----------
    path
        Scenario YAML file.
    replications, seed
        Override ``simulation.replications`` / ``simulation.seed``; seeds are ``seed, seed+1, …``.
    workers
        Parallel processes for the replications.
    force
        Run even if a finished identical run exists.
    results_root
        Where results go (``results/`` in the working directory by default).
    progress
        Called as ``progress(done, total)`` replications.
    prepared
        An already prepared scenario (saves loading the map twice).
    scheduler
        Dask scheduler address (``tcp://HOST:PORT``): run the replications on that cluster.
    sample_factor
        Override ``demand.sample_factor`` (share of vehicles simulated; 1.0 for final figures).
    on_reused
        Called with the outcome as soon as a finished run is found to reuse (``progress`` is
        then never called).

    Returns
    -------
    RunOutcome
    """
    [outcome] = run_scenarios(
        [path],
        replications=replications,
        seed=seed,
        workers=workers,
        force=force,
        results_root=results_root,
        progress_for=(lambda _name: progress) if progress else None,
        prepared=[prepared],
        scheduler=scheduler,
        sample_factor=sample_factor,
        on_reused=on_reused,
    )
    return outcome


@dataclass
class _PendingRun:
    """A scenario run that is neither finished nor reusable yet."""

    path: Path
    prepared: PreparedScenario
    seeds: list[int]
    key: str
    log_lines: list[str]
    started: float
    progress: ProgressFn | None


def run_scenarios(
    paths: Sequence[str | Path],
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    force: bool = False,
    results_root: Path | None = None,
    progress_for: Callable[[str], ProgressFn | None] | None = None,
    prepared: Sequence[PreparedScenario | None] | None = None,
    scheduler: str | None = None,
    sample_factor: float | None = None,
    on_reused: ReusedFn | None = None,
) -> list[RunOutcome]:
    """Run several scenarios as :func:`run_scenario` does, sharing the worker processes.

    The replications of all scenarios go to one pool of ``workers`` processes, so no core waits
    for the other scenario (with ``route_choice.warm_start`` a scenario's later replications
    start once its first has finished). Each replication's result is the one
    :func:`run_scenario` would give; a scenario given twice (as two paths, or as two files with
    the same name and content) runs once.

    Parameters
    ----------
    paths
        Scenario YAML files (a file given twice runs once).
    replications, seed, workers, force, results_root, scheduler, sample_factor, on_reused
        As :func:`run_scenario`.
    progress_for
        ``progress_for(name)`` returns the progress callback of one scenario; it is asked only
        for the scenarios that run (not for reused ones).
    prepared
        Already prepared scenarios, aligned with ``paths`` (None entries are prepared here).

    Returns
    -------
    list[RunOutcome]
        Aligned with ``paths``.
    """
    given = list(prepared) if prepared is not None else [None] * len(paths)
    outcomes: dict[Path, RunOutcome] = {}
    pending: dict[Path, _PendingRun] = {}
    resolved_paths = [Path(p).resolve() for p in paths]
    same_as: dict[Path, Path] = {}  # a file whose run is another file's (same name and content)
    planned: dict[tuple[str, str, int], Path] = {}
    for path, ready in zip(resolved_paths, given, strict=True):
        if path in outcomes or path in pending or path in same_as:
            continue
        run = _plan_run(path, ready, replications, seed, workers, scheduler, sample_factor)
        name = run.prepared.scenario.name
        identity = (name, run.key, run.seeds[0])
        if identity in planned:
            same_as[path] = planned[identity]
            continue
        planned[identity] = path
        existing = (
            None
            if force
            else io.find_complete_run(name, run.key, run.seeds[0], __version__, results_root)
        )
        if existing is not None:
            outcomes[path] = RunOutcome(
                existing, True, name, run.seeds, _finished_kpis(existing), run.log_lines
            )
            if on_reused:
                on_reused(outcomes[path])
            continue
        run.progress = progress_for(path.stem) if progress_for else None
        pending[path] = run
    if pending:
        runs = list(pending.values())
        for run in runs:
            check_memory(
                run.prepared.scenario,
                run.prepared.demand_spec,
                run.prepared.graph.number_of_nodes(),
                parallel_runs=1 if scheduler else min(workers, sum(len(r.seeds) for r in runs)),
            )
        with contextlib.ExitStack() as locks:
            for name in sorted({r.prepared.scenario.name for r in runs}):
                locks.enter_context(io.scenario_lock(name, results_root))
            if scheduler:
                outputs = [
                    run_replications(r.prepared, r.seeds, progress=r.progress, scheduler=scheduler)
                    for r in runs
                ]
            else:
                outputs = _run_jointly([(r.prepared, r.seeds, r.progress) for r in runs], workers)
            for path, run, out in zip(pending, runs, outputs, strict=True):
                outcomes[path] = _write_outcome(run, out, workers, results_root)
    for path, first in same_as.items():
        outcomes[path] = outcomes[first]
    return [outcomes[p] for p in resolved_paths]


def _plan_run(
    path: Path,
    prepared: PreparedScenario | None,
    replications: int | None,
    seed: int | None,
    workers: int,
    scheduler: str | None,
    sample_factor: float | None = None,
) -> _PendingRun:
    """Prepare a scenario and work out its seeds, fingerprint and log header."""
    log_lines = [f"cysim {__version__}", f"scenario file: {path}"]
    started = time.perf_counter()
    if prepared is None:
        prepared = prepare_scenario(path, sample_factor=sample_factor)
    elif sample_factor is not None and prepared.demand_spec.sample_factor != sample_factor:
        raise ValueError("prepare the scenario with prepare_scenario(path, sample_factor=...)")
    if sample_factor is not None:
        log_lines.append(f"demand.sample_factor overridden: {sample_factor:g}")
    resolved = prepared.scenario
    n_reps = replications or resolved.simulation.replications
    first_seed = resolved.simulation.seed if seed is None else seed
    seeds = [first_seed + i for i in range(n_reps)]
    key = _run_key(prepared, n_reps)
    log_lines.append(f"fingerprint: {key}; seeds: {seeds}; workers: {workers}")
    if scheduler:
        log_lines.append(f"dask scheduler: {scheduler}")
    log_lines.append(f"map: {resolved.map} ({prepared.graph.number_of_nodes()} junctions)")
    return _PendingRun(path, prepared, seeds, key, log_lines, started, None)


def _write_outcome(
    run: _PendingRun,
    outputs: list[ReplicationOutput],
    workers: int,
    results_root: Path | None,
) -> RunOutcome:
    """Write a finished run's folder atomically and describe it."""
    resolved = run.prepared.scenario
    log_lines = run.log_lines
    for o in outputs:
        log_lines.append(f"seed {o.seed}: {o.wall_s:.1f} s, gridlock={o.gridlock}")
    log_lines.append(f"total wall time {time.perf_counter() - run.started:.1f} s")
    run_id = io.make_run_id(run.seeds[0], run.key)
    partial = io.new_run_dir(resolved.name, run_id, results_root)
    try:
        write_run(run.prepared, outputs, partial, log_lines=log_lines)
        final = io.finalize(
            partial,
            fingerprint=run.key,
            seed=run.seeds[0],
            version=__version__,
            extra={"replications": len(run.seeds), "seeds": run.seeds, "workers": workers},
        )
    except OSError as error:
        io.discard(partial)
        raise ResultsError(
            f"cannot write results to {partial.parent}: {error.strerror or error}",
            hint="free disk space or pass another folder with --results",
        ) from None
    except BaseException:
        io.discard(partial)
        raise
    return RunOutcome(final, False, resolved.name, run.seeds, [o.kpis for o in outputs], log_lines)
