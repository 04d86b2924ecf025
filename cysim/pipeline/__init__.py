"""The pipeline: prepare a scenario, run its replications, write run folders, compare two runs.

:mod:`~cysim.pipeline.prepare` → :mod:`~cysim.pipeline.replicate` →
:mod:`~cysim.pipeline.parallel` (or :mod:`~cysim.pipeline.distributed`) →
:mod:`~cysim.pipeline.runfolder`, orchestrated by :mod:`~cysim.pipeline.run`;
:mod:`~cysim.pipeline.comparison` compares two runs and writes the report.
"""

from .comparison import CompareOutcome, basemap_of, compare_scenarios, report_basemap
from .memory import check_memory, memory_estimate_bytes
from .parallel import ProgressFn, run_replications
from .prepare import (
    PreparedScenario,
    build_scenario_trips,
    fit_demand_targets,
    load_scenario_network,
    prepare_scenario,
    scenario_trips,
)
from .replicate import ReplicationOutput, run_replication
from .run import ReusedFn, RunOutcome, run_scenario, run_scenarios
from .runfolder import RunResults, load_run

__all__ = [
    "CompareOutcome", "PreparedScenario", "ProgressFn", "ReplicationOutput", "ReusedFn",
    "RunOutcome", "RunResults", "basemap_of", "build_scenario_trips", "check_memory",
    "compare_scenarios", "fit_demand_targets", "load_run", "load_scenario_network",
    "memory_estimate_bytes", "prepare_scenario", "report_basemap", "run_replication",
    "run_replications", "run_scenario", "run_scenarios", "scenario_trips",
]  # fmt: skip
