"""The memory guard: a run's peak memory estimated before it starts, refused if it cannot fit."""

from __future__ import annotations

import math
import os
from pathlib import Path

from .. import demand, scenario
from .._errors import SimulationError

#: Engine memory per simulated trip and path link, and per trip besides, measured with
#: tracemalloc on the bundled map (2,000 and 20,000 trips: ≈ 2.2 kB per trip at ~10 links).
BYTES_PER_TRIP_LINK: float = 230.0
BYTES_PER_TRIP: float = 600.0
#: The demand builder holds a few arrays of the full (unsampled) trip count.
BYTES_PER_DEMAND_TRIP: float = 100.0


def _available_memory_bytes() -> float:
    """Memory the system can still give this run (``MemAvailable``; total RAM as fallback)."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def memory_estimate_bytes(
    spec: demand.DemandSpec, n_junctions: int, parallel_runs: int = 1
) -> float | None:
    """Peak memory a run of the scenario needs, estimated before any trip is built.

    ``trips × sample_factor × (BYTES_PER_TRIP_LINK × path links + BYTES_PER_TRIP)`` per
    simulated replication, where path links ≈ 0.6 √junctions (a grid-like network), plus the
    demand builder's arrays of the full trip count (``trips`` plus ``external.trips``); times the
    replications that run at once. None when the total is not known up front (an imported file
    sets it).
    """
    if spec.trips is None:
        return None
    trips = spec.trips + (spec.external.trips if spec.external is not None else 0)
    path_links = 0.6 * math.sqrt(max(n_junctions, 1))
    simulated = trips * spec.sample_factor
    per_run = simulated * (BYTES_PER_TRIP_LINK * path_links + BYTES_PER_TRIP)
    per_run += trips * BYTES_PER_DEMAND_TRIP
    return per_run * max(parallel_runs, 1)


def check_memory(
    resolved: scenario.Scenario,
    spec: demand.DemandSpec,
    n_junctions: int,
    parallel_runs: int = 1,
) -> None:
    """Refuse up front a run that would not fit in memory, saying what lowers the need.

    Raises
    ------
    SimulationError
        The estimate exceeds 80 % of the memory available now.
    """
    need = memory_estimate_bytes(spec, n_junctions, parallel_runs)
    available = _available_memory_bytes()
    if need is None or need <= 0.8 * available:
        return
    file, line = resolved.where("demand.trips")
    share = max(0.01, 0.5 * spec.sample_factor * available / need)
    raise SimulationError(
        f"{spec.trips:,} car trips (sample_factor {spec.sample_factor:g}) need about "
        f"{need / 1e9:,.1f} GB of memory with {parallel_runs} replication(s) at once; "
        f"{available / 1e9:,.1f} GB are available",
        file=file,
        line=line,
        key="demand.trips",
        hint=f"lower demand.trips, or set demand.sample_factor to {share:.2f} or less, "
        "or use fewer --workers",
    )
