"""Scenario files: the validated schema, ``base:`` inheritance, and errors at a file and line.

:mod:`~cysim.scenario.schema` holds the models, :mod:`~cysim.scenario.load` reads a file and its
``base:`` chain, :mod:`~cysim.scenario._yaml` parses YAML keeping every key's line.
"""

from .load import load_scenario
from .schema import NetworkSettings, ReportSettings, Scenario, file_sha256

__all__ = ["NetworkSettings", "ReportSettings", "Scenario", "file_sha256", "load_scenario"]
