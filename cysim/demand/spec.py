"""The ``demand:`` section of a scenario (placeholder model; the demand module replaces it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DemandSpec(BaseModel):
    """Which demand to build and how (placeholder: accepts any keys until issue 4 lands)."""

    model_config = ConfigDict(extra="allow")
