"""Travel demand: zones, synthetic OD, imports, departure profiles (placeholder until issue 4)."""

from .spec import DemandSpec

__all__ = ["DemandSpec"]
