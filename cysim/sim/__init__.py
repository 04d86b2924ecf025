"""The SimPy mesoscopic engine (see DESIGN §4 and docs/model.md)."""

from .movements import RouteCosts
from .result import LinkSamples, SimResult
from .runner import simulate

__all__ = ["LinkSamples", "RouteCosts", "SimResult", "simulate"]
