"""The SimPy mesoscopic engine (see docs/model.md and docs/architecture.md)."""

from .movements import RouteCosts
from .result import LinkSamples, SimResult
from .runner import simulate

__all__ = ["LinkSamples", "RouteCosts", "SimResult", "simulate"]
