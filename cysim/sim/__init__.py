"""The SimPy mesoscopic engine (see DESIGN §4)."""

from .result import LinkSamples, SimResult

__all__ = ["LinkSamples", "SimResult"]
