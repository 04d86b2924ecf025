"""Scenario patches: the road measures, as models, applied to the network and the demand.

:mod:`~cysim.patch.models` (one pydantic model per ``type``), :mod:`~cysim.patch.apply` (network
patches), :mod:`~cysim.patch.demand` (demand shifts), :mod:`~cysim.patch.changes` (the change log)
and :mod:`~cysim.patch.doc` (the reference page generated from the models).
"""

from .apply import apply_patches
from .changes import PatchReport
from .demand import apply_demand_patches
from .models import PATCH_MODELS, Patch, PatchBase

__all__ = [
    "PATCH_MODELS",
    "Patch",
    "PatchBase",
    "PatchReport",
    "apply_demand_patches",
    "apply_patches",
]
