"""The SimPy mesoscopic engine (see DESIGN §4 and docs/model.md)."""

from .result import LinkSamples, SimResult
from .runner import simulate

__all__ = ["LinkSamples", "SimResult", "simulate"]
