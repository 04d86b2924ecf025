"""The errors cysim raises: every one a :class:`CysimError` with file, line, key and a fix.

Catch :class:`CysimError` for any bad input; the subclasses say which stage found it.
"""

from ._errors import (
    CysimError,
    DemandError,
    MapError,
    PatchError,
    ResultsError,
    ScenarioError,
    SimulationError,
)

__all__ = [
    "CysimError",
    "DemandError",
    "MapError",
    "PatchError",
    "ResultsError",
    "ScenarioError",
    "SimulationError",
]
