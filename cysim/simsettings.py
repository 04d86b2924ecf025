"""Simulation settings of a scenario (the ``simulation:`` section), validated with pydantic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from . import settings


class RouteChoiceSettings(BaseModel):
    """How routes are chosen and equilibrated over repeated runs."""

    model_config = ConfigDict(extra="forbid")

    iterations: int = Field(
        30,
        ge=1,
        le=500,
        description="most simulation runs of the equilibration (it stops earlier once the "
        "relative gap is below the tolerance); 1 = free-flow routes only",
    )
    relative_gap_tolerance: float = Field(
        0.02,
        gt=0,
        description="stop once the relative gap Σ(experienced − best) / Σ experienced over all "
        "trips is below this",
    )
    time_bin_s: float = Field(
        default_factory=lambda: settings.route_time_bin_s,
        ge=10,
        le=3600,
        description="travel-time bin width, s",
    )
    warm_start: bool = Field(
        False,
        description="a scenario's later replications start from the first one's final route "
        "choice: fewer iterations, but the replications are no longer independent, so "
        "confidence intervals come out narrower than they should",
    )
    time_dependent: bool = Field(
        True,
        description="cost each movement in the bin its link is reached in (one more Dijkstra "
        "per origin and bin); false = departure-bin snapshot only, faster on large networks",
    )


class ParkingSettings(BaseModel):
    """Parking search at trip ends."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True, description="trips end at parking facilities; full ones cause cruising"
    )
    search_radius_m: float = Field(
        800.0, gt=0, description="lots farther than this are not considered"
    )
    spaces_per_arrival: float = Field(
        1.2, ge=0, description="street spaces at each trip-end node per trip ending there"
    )
    initial_occupancy: float = Field(
        0.2, ge=0, le=1, description="share of every facility occupied at the start"
    )


class SimSettings(BaseModel):
    """Settings of one simulation run (see docs/data-model.md §2)."""

    model_config = ConfigDict(extra="forbid")

    # Bounds keep a run within a day and its arrays within memory (docs/robustness.md).
    start_time: str = Field(
        default_factory=lambda: settings.start_time,
        pattern=r"^([01]?\d|2[0-3]):[0-5]\d$",
        description="clock time the period starts, HH:MM between 00:00 and 23:59",
    )
    # cysim.settings read when a scenario is built, not when this module was imported
    duration_s: float = Field(default_factory=lambda: settings.duration_s, gt=0, le=86_400)
    cooldown_s: float = Field(default_factory=lambda: settings.cooldown_s, ge=0, le=86_400)
    seed: int = Field(1, ge=0, le=2**32 - 1)
    replications: int = Field(3, ge=1, le=1000)
    route_choice: RouteChoiceSettings = Field(default_factory=RouteChoiceSettings)
    backward_wave_kph: float = Field(default_factory=lambda: settings.backward_wave_kph, ge=0)
    gridlock_timeout_s: float = Field(default_factory=lambda: settings.gridlock_timeout_s, gt=0)
    sample_interval_s: float = Field(
        default_factory=lambda: settings.sample_interval_s, ge=1, le=3600
    )
    parking: ParkingSettings = Field(default_factory=ParkingSettings)
    sample_factor: float = Field(
        1.0, gt=0, le=1, description="share of vehicles simulated (trips.attrs overrides)"
    )
    critical_gap_s: float = Field(
        6.0, gt=0, description="critical gap of minor-road movements at unsignalised junctions"
    )
    priority_junctions: bool = Field(
        True,
        description="at unsignalised junctions lower road classes yield to higher ones (gap "
        "acceptance); false serves every approach first come, first served",
    )
    permitted_left: bool = Field(
        True, description="left turns at two-phase signals yield to the opposing through flow"
    )
    permitted_left_critical_gap_s: float = Field(
        4.5, gt=0, description="critical gap of permitted left turns (HCM 2010)"
    )
    permitted_left_follow_up_s: float = Field(
        2.5, gt=0, description="follow-up headway of permitted left turns (HCM 2010)"
    )
    permitted_left_sneakers: float = Field(
        2.0,
        ge=0,
        le=4,
        description="permitted left turns per cycle that leave at the end of green without a gap "
        "(HCM: 2 sneakers per cycle)",
    )
    follow_up_s: float = Field(
        3.5, gt=0, description="follow-up headway of minor-road movements at unsignalised junctions"
    )
