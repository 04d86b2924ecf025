"""cysim: traffic-decongestion scenario simulation for Chengyang District, Qingdao.

The Python API follows the pipeline, each step a plain function on plain data (as in osmnx)::

    import cysim

    scenario = cysim.load_scenario("scenarios/2021-package.yaml")   # validated, base: resolved
    G = cysim.load_network("maps/chengyang-arterials.osm")          # networkx MultiDiGraph
    G2, changes = cysim.apply_patches(G, scenario.patches)           # patched copy + change log
    prepared = cysim.prepare_scenario("scenarios/2021-package.yaml") # network, patches, demand
    trips, _ = cysim.build_trips(prepared, seed=1)                   # the car trips of one seed
    one = cysim.simulate(prepared, seed=1)                           # one replication's metrics
    run = cysim.run_scenario("scenarios/baseline.yaml")              # replications, run folder
    outcome = cysim.compare("scenarios/baseline.yaml", "scenarios/2021-package.yaml")
    outcome.table, outcome.report                                    # KPI frame, report.html

Errors are :mod:`cysim.errors` (all :class:`CysimError`). The names load on first use, so
``import cysim`` stays fast (the command line imports the same functions).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._errors import CysimError
from ._version import __version__

#: Public name → (module, attribute) it comes from.
_API: dict[str, tuple[str, str]] = {
    "load_scenario": ("cysim.scenario.load", "load_scenario"),
    "load_network": ("cysim.network.build", "load_network"),
    "apply_patches": ("cysim.patch.apply", "apply_patches"),
    "prepare_scenario": ("cysim.pipeline.prepare", "prepare_scenario"),
    "build_trips": ("cysim.pipeline.prepare", "scenario_trips"),
    "simulate": ("cysim.pipeline.replicate", "run_replication"),
    "run_scenario": ("cysim.pipeline.run", "run_scenario"),
    "load_run": ("cysim.pipeline.runfolder", "load_run"),
    "compare": ("cysim.pipeline.comparison", "compare_scenarios"),
    "compare_scenarios": ("cysim.pipeline.comparison", "compare_scenarios"),
}

__all__ = ["CysimError", "__version__", "errors", *_API]


def __getattr__(name: str) -> Any:
    """Load an API function (or :mod:`cysim.errors`) on first use."""
    if name == "errors":
        return importlib.import_module("cysim.errors")
    if name in _API:
        module, attribute = _API[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cysim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
