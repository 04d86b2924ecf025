"""Scale-out: run a scenario's replications on a Dask cluster (the optional ``dist`` extra)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import SimulationError
from .._version import __version__

if TYPE_CHECKING:  # pragma: no cover - import cycle only for type hints
    from ..sim import RouteCosts
    from .prepare import PreparedScenario
    from .replicate import ReplicationOutput

#: Seconds to wait for the scheduler to answer before giving up.
connect_timeout_s: float = 30.0

INSTALL_HINT = 'install the Dask extra with `pip install "cysim[dist]"` (dask[distributed])'


def _import_distributed() -> Any:
    """The ``dask.distributed`` module, or a :class:`SimulationError` saying how to install it."""
    try:
        import dask.distributed as distributed
    except ImportError as error:
        raise SimulationError(
            f"--scheduler needs dask.distributed, which is not installed ({error})",
            key="--scheduler",
            hint=INSTALL_HINT,
        ) from error
    return distributed


def worker_version() -> str:
    """The cysim version importable on a worker (run remotely by :func:`check_workers`)."""
    from .. import _version

    return _version.__version__


def check_workers(client: Any, address: str) -> dict[str, str]:
    """Check that every connected worker runs the same cysim version as this process.

    Parameters
    ----------
    client
        A connected ``dask.distributed.Client``.
    address
        The scheduler address, for the message.

    Returns
    -------
    dict
        ``{worker address: cysim version}`` (empty while no worker has joined yet: tasks then
        wait for the first worker).

    Raises
    ------
    SimulationError
        A worker cannot import cysim or runs another version (results would not be reproducible).
    """
    try:
        versions = client.run(worker_version)
    except Exception as error:  # a worker without cysim raises ModuleNotFoundError remotely
        raise SimulationError(
            f"a Dask worker of {address} cannot import cysim: {error}",
            key="--scheduler",
            hint="install the same cysim version in every worker's environment",
        ) from error
    wrong = {w: v for w, v in versions.items() if v != __version__}
    if wrong:
        raise SimulationError(
            f"Dask workers run other cysim versions than this one ({__version__}): {wrong}",
            key="--scheduler",
            hint="install the same cysim version in every worker's environment",
        )
    return versions


def connect(address: str) -> Any:
    """Connect a ``dask.distributed.Client`` to a running scheduler.

    Parameters
    ----------
    address
        Scheduler address, ``tcp://HOST:PORT``.

    Returns
    -------
    dask.distributed.Client

    Raises
    ------
    SimulationError
        Dask is not installed, the address is malformed or nothing answers there.
    """
    distributed = _import_distributed()
    if "://" not in address:
        raise SimulationError(
            f"scheduler address {address!r} lacks a protocol",
            key="--scheduler",
            hint="give it as tcp://HOST:PORT (the address `dask scheduler` prints)",
        )
    try:
        return distributed.Client(address, timeout=connect_timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise SimulationError(
            f"cannot reach the Dask scheduler at {address}: {error}",
            key="--scheduler",
            hint="start one with `dask scheduler` and workers with `dask worker tcp://HOST:8786`",
        ) from error


def run_replications(
    prepared: PreparedScenario,
    seeds: Sequence[int],
    *,
    scheduler: str,
    progress: Callable[[int, int], None] | None = None,
    warm_start: RouteCosts | None = None,
) -> list[ReplicationOutput]:
    """Run replications as tasks on a Dask cluster; results come back in seed order.

    The prepared scenario (patched network and resolved scenario) is sent to the cluster once and
    every seed becomes one :func:`cysim.pipeline.replicate.run_replication` task, so each
    replication is
    computed exactly as in a local run and the results do not depend on where it ran. Progress is
    reported as tasks finish (``as_completed``).

    Workers need the same cysim version (checked) and, for demand read from files (``od_csv``,
    ``trips_csv``, ``tntp_trips``), the same paths as this machine (a shared file system).

    Parameters
    ----------
    prepared
        From :func:`cysim.pipeline.prepare.prepare_scenario`.
    seeds
        One replication per seed.
    scheduler
        Scheduler address, ``tcp://HOST:PORT``.
    progress
        Called as ``progress(done, total)``.
    warm_start
        Route choice every replication starts from
        (:func:`cysim.pipeline.replicate.run_replication`).

    Returns
    -------
    list[ReplicationOutput]
        In the order of ``seeds``.

    Raises
    ------
    SimulationError
        Dask missing, scheduler unreachable or workers with another cysim version.
    CysimError
        Whatever a replication raises (re-raised here with its original type).
    """
    from .. import pipeline

    distributed = _import_distributed()
    client = connect(scheduler)
    try:
        check_workers(client, scheduler)
        if progress:
            progress(0, len(seeds))
        # one copy of the network on the cluster, referenced by every task
        [shared] = client.scatter([prepared], broadcast=False, hash=False)
        batch = uuid.uuid4().hex[:8]  # task names only; never affects results
        futures = {
            client.submit(
                pipeline.run_replication,
                shared,
                seed,
                warm_start,
                key=f"cysim-{prepared.scenario.name}-seed{seed}-{batch}",
                pure=False,
                retries=0,
            ): seed
            for seed in seeds
        }
        outputs: dict[int, ReplicationOutput] = {}
        try:
            for future in distributed.as_completed(futures, loop=client.loop):
                outputs[futures[future]] = future.result()
                if progress:
                    progress(len(outputs), len(seeds))
        except BaseException:
            client.cancel(list(futures))
            raise
        return [outputs[seed] for seed in seeds]
    finally:
        client.close()
