"""Replications of one or more scenarios, in worker processes or on a Dask cluster."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Sequence

from .prepare import PreparedScenario
from .replicate import ReplicationOutput, run_replication

#: Called as ``progress(done_replications, total_replications)`` while a scenario runs.
ProgressFn = Callable[[int, int], None]


def run_replications(
    prepared: PreparedScenario,
    seeds: Sequence[int],
    *,
    workers: int = 1,
    progress: ProgressFn | None = None,
    scheduler: str | None = None,
) -> list[ReplicationOutput]:
    """Run replications, in parallel processes when ``workers > 1``; results in seed order.

    Each replication draws its own demand (the seed) and equilibrates route choice for it from
    free-flow routes, so replications are independent and their results do not depend on
    ``workers``. With ``simulation.route_choice.warm_start`` the replications after the first
    start from its final route choice instead (fewer iterations; docs/model.md §7). With
    ``scheduler`` (``tcp://HOST:PORT``) they run on that Dask cluster
    (:mod:`cysim.pipeline.distributed`;
    ``workers`` is then ignored).
    """
    if scheduler:
        from . import distributed

        warm = prepared.scenario.simulation.route_choice.warm_start
        if not warm or len(seeds) == 1:
            return distributed.run_replications(
                prepared, seeds, scheduler=scheduler, progress=progress
            )
        if progress:
            progress(0, len(seeds))
        first = distributed.run_replications(prepared, seeds[:1], scheduler=scheduler)
        if progress:
            progress(1, len(seeds))

        def later(done: int, _total: int) -> None:
            if progress and done:
                progress(1 + done, len(seeds))

        rest = distributed.run_replications(
            prepared, seeds[1:], scheduler=scheduler, progress=later,
            warm_start=first[0].route_costs,
        )  # fmt: skip
        return first + rest
    return _run_jointly([(prepared, list(seeds), progress)], workers)[0]


#: One scenario's replications for :func:`_run_jointly`: prepared scenario, seeds, progress.
_Job = tuple[PreparedScenario, list[int], ProgressFn | None]


def _run_jointly(jobs: Sequence[_Job], workers: int) -> list[list[ReplicationOutput]]:
    """Every job's replications on one pool of ``workers`` processes; outputs in seed order.

    All replications start at once, except with ``route_choice.warm_start``: then a scenario's
    later seeds start once its first seed has finished, from its route choice.
    """
    done: list[dict[int, ReplicationOutput]] = [{} for _ in jobs]

    def warm(i: int) -> bool:
        return jobs[i][0].scenario.simulation.route_choice.warm_start

    def report(i: int) -> None:
        _, seeds, progress = jobs[i]
        if progress:
            progress(len(done[i]), len(seeds))

    for i in range(len(jobs)):
        report(i)
    if workers <= 1 or sum(len(seeds) for _, seeds, _ in jobs) == 1:
        for i, (prepared, seeds, _) in enumerate(jobs):
            for seed in seeds:
                start = done[i][seeds[0]].route_costs if warm(i) and done[i] else None
                done[i][seed] = run_replication(prepared, seed, start)
                report(i)
        return [[done[i][s] for s in seeds] for i, (_, seeds, _) in enumerate(jobs)]
    # fork keeps start-up cheap (no re-import); the prepared scenario is pickled per task.
    context = multiprocessing.get_context("fork")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(run_replication, prepared, seed): (i, seed)
            for i, (prepared, seeds, _) in enumerate(jobs)
            for seed in (seeds[:1] if warm(i) else seeds)
        }
        try:
            while futures:
                finished, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    i, seed = futures.pop(future)
                    prepared, seeds, _ = jobs[i]
                    done[i][seed] = output = future.result()
                    if warm(i) and seed == seeds[0]:
                        for later in seeds[1:]:
                            task = pool.submit(run_replication, prepared, later, output.route_costs)
                            futures[task] = (i, later)
                    report(i)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [[done[i][s] for s in seeds] for i, (_, seeds, _) in enumerate(jobs)]
