"""The ``demand:`` section of a scenario: zones, OD source, size, departure profile, sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Names of the built-in departure-time profiles (see :mod:`cysim.demand.profile`).
BUILTIN_PROFILES = ("morning_peak", "uniform")

OdSource = Literal["gravity", "od_csv", "trips_csv", "tntp_trips"]

#: A demand lever ``cysim calibrate`` can fit (see :class:`CalibrationSpec`).
Lever = Literal["trips", "beta_per_min"]


class ZonesSpec(BaseModel):
    """Where the zones come from: exactly one of ``file``, ``grid_m`` or ``junction_clusters``."""

    model_config = ConfigDict(extra="forbid")

    file: Path | None = Field(
        None,
        description="polygon file (GeoJSON, GeoPackage, Shapefile) with one zone per feature; "
        "relative paths are relative to the scenario file",
    )
    id_column: str = Field("id", description="column of the zone file holding the zone id")
    population_column: str = Field(
        "population", description="optional column of residents (productions), used when present"
    )
    jobs_column: str = Field(
        "jobs", description="optional column of jobs (attractions), used when present"
    )
    grid_m: float | None = Field(
        None, gt=0, description="square grid cells of this size (m) over the network extent"
    )
    junction_clusters: int | None = Field(
        None, ge=1, description="this many zones by seeded k-means clustering of junctions"
    )
    connectors_per_zone: int = Field(
        3, ge=1, le=20, description="junctions per zone where its trips start and end"
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ZonesSpec:
        given = [k for k in ("file", "grid_m", "junction_clusters") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "zones needs exactly one of 'file', 'grid_m' or 'junction_clusters' "
                f"(got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> Literal["file", "grid", "clusters"]:
        """Which of the three zone sources this spec uses."""
        if self.file is not None:
            return "file"
        return "grid" if self.grid_m is not None else "clusters"


class GammaParams(BaseModel):
    """Gamma deterrence ``f(t) = a · t^b · exp(c · t)``, t in minutes (c < 0 for decay)."""

    model_config = ConfigDict(extra="forbid")

    a: float = Field(1.0, gt=0, description="scale (cancels out in a doubly-constrained model)")
    b: float = Field(-0.5, description="power of travel time in minutes")
    c: float = Field(-0.1, description="exponential rate per minute (negative)")


class GravitySpec(BaseModel):
    """Doubly-constrained gravity model on free-flow zone-to-zone times (Furness balancing)."""

    model_config = ConfigDict(extra="forbid")

    deterrence: Literal["exponential", "gamma"] = Field(
        "exponential", description="exp(-beta·t) or a·t^b·exp(c·t), t in free-flow minutes"
    )
    beta_per_min: float = Field(
        0.08, gt=0, description="decay rate of the exponential deterrence, per minute"
    )
    gamma: GammaParams = Field(
        default_factory=GammaParams, description="parameters of the gamma deterrence"
    )
    max_iterations: int = Field(500, ge=1, description="Furness iterations at most")
    tolerance: float = Field(
        1e-6, gt=0, description="stop when row and column sums are within this relative error"
    )


class OdCsvSpec(BaseModel):
    """Long-form OD matrix CSV: ``origin,destination,trips`` (zone ids), optional ``slice``."""

    model_config = ConfigDict(extra="forbid")

    file: Path = Field(description="CSV path, relative to the scenario file")


class TripsCsvSpec(BaseModel):
    """Trip list CSV: one row per trip with origin, destination and departure time.

    Origins and destinations are given by zone id (``origin_zone``/``destination_zone``), node id
    (``origin_node``/``destination_node``) or coordinates (``origin_lon``, ``origin_lat``,
    ``destination_lon``, ``destination_lat``); departure ``departure`` as clock time HH:MM[:SS]
    or as seconds after the simulation start.
    """

    model_config = ConfigDict(extra="forbid")

    file: Path = Field(description="CSV path, relative to the scenario file")
    max_snap_m: float = Field(
        500.0, gt=0, description="coordinates farther than this from any junction are an error"
    )


class TntpTripsSpec(BaseModel):
    """A TNTP ``*_trips.tntp`` OD matrix (Transportation Networks for Research format)."""

    model_config = ConfigDict(extra="forbid")

    file: Path = Field(description="TNTP trips file, relative to the scenario file")
    match: Literal["nodes", "zones"] = Field(
        "nodes",
        description="'nodes': TNTP zone numbers are graph node ids (a graph built from the TNTP "
        "net file); 'zones': they are ids of this scenario's zones",
    )
    node_map: Path | None = Field(
        None,
        description="optional CSV 'tntp_zone,node' mapping TNTP zone numbers to graph node ids",
    )


class OdSpec(BaseModel):
    """Where the origin-destination demand comes from: exactly one source key."""

    model_config = ConfigDict(extra="forbid")

    gravity: GravitySpec | None = Field(None, description="synthetic doubly-constrained gravity OD")
    od_csv: OdCsvSpec | None = Field(None, description="long-form OD CSV of zone-to-zone trips")
    trips_csv: TripsCsvSpec | None = Field(None, description="list of individual trips")
    tntp_trips: TntpTripsSpec | None = Field(None, description="TNTP trips file")

    @field_validator("od_csv", "trips_csv", "tntp_trips", mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        # `od_csv: od.csv` is shorthand for `od_csv: {file: od.csv}`.
        if isinstance(value, str | Path):
            return {"file": value}
        return value

    @model_validator(mode="before")
    @classmethod
    def _bare_gravity(cls, data: Any) -> Any:
        # `gravity:` with no value in YAML means "gravity with default parameters".
        if isinstance(data, dict) and "gravity" in data and data["gravity"] is None:
            return {**data, "gravity": {}}
        return data

    @model_validator(mode="after")
    def _exactly_one_source(self) -> OdSpec:
        given = [
            k
            for k in ("gravity", "od_csv", "trips_csv", "tntp_trips")
            if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "od needs exactly one of 'gravity', 'od_csv', 'trips_csv' or 'tntp_trips' "
                f"(got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def source(self) -> OdSource:
        """Name of the OD source in use."""
        for key in ("gravity", "od_csv", "trips_csv", "tntp_trips"):
            if getattr(self, key) is not None:
                return key  # type: ignore[return-value]
        raise AssertionError("validated OdSpec has no source")  # pragma: no cover


class ProfileCsvSpec(BaseModel):
    """Departure shares per interval from a CSV with columns ``start,end,share`` (HH:MM)."""

    model_config = ConfigDict(extra="forbid")

    csv: Path = Field(description="CSV path, relative to the scenario file")


class CalibrationTarget(BaseModel):
    """One published figure the baseline is held against."""

    model_config = ConfigDict(extra="forbid")

    value: float = Field(gt=0, description="the published figure")
    tolerance: float = Field(gt=0, description="largest accepted |model − value|, same unit")
    source: str = Field("", description="where the figure comes from (shown beside it)")


#: Baidu Maps, 《2020年度中国城市交通报告》 (2020 China Urban Transportation Report), Qingdao.
BAIDU_2020_QINGDAO = (
    "Baidu Maps 2020 China Urban Transportation Report (百度地图《2020年度中国城市交通报告》): "
    "Qingdao, commute peak"
)


def _default_index_target() -> CalibrationTarget:
    return CalibrationTarget(
        value=1.838, tolerance=0.05, source=f"{BAIDU_2020_QINGDAO}, congestion index 1.838"
    )


def _default_speed_target() -> CalibrationTarget:
    return CalibrationTarget(
        value=27.6, tolerance=2.0, source=f"{BAIDU_2020_QINGDAO}, peak speed 27.6 km/h"
    )


def _default_places_target() -> CalibrationTarget:
    return CalibrationTarget(
        value=40,
        tolerance=10,
        source="Chengyang 2021 government work report (城阳区2021年政府工作报告): "
        "'重点整治40个拥堵路段' (40 congested road sections to fix)",
    )


class CalibrationTargets(BaseModel):
    """Targets of ``cysim calibrate``; set one to null to leave it out."""

    model_config = ConfigDict(extra="forbid")

    congestion_index: CalibrationTarget | None = Field(
        default_factory=_default_index_target,
        description="congestion index as published: Σ trip time ÷ Σ uncongested trip time "
        "(free-flow time plus the light-load delay at the signals crossed)",
    )
    mean_speed_kph: CalibrationTarget | None = Field(
        default_factory=_default_speed_target, description="VKT ÷ VHT over all trips, km/h"
    )
    congested_places: CalibrationTarget | None = Field(
        default_factory=_default_places_target,
        description="links with a lane group at X ≥ 0.9, or ≥ 300 m at ≤ 50 % of free-flow speed",
    )


def _default_levers() -> list[Lever]:
    return ["trips", "beta_per_min"]


class CalibrationSpec(BaseModel):
    """How calibration searches.

    ``target_tti`` fits the total only; ``cysim calibrate`` fits the targets with the levers named
    in ``levers``.
    """

    model_config = ConfigDict(extra="forbid")

    targets: CalibrationTargets = Field(
        default_factory=CalibrationTargets, description="what `cysim calibrate` fits and checks"
    )
    levers: list[Lever] = Field(
        default_factory=_default_levers,
        min_length=1,
        description="demand levers `cysim calibrate` fits: the total (fits the index) and the "
        "gravity deterrence (fits the uncongested speed of the routes, hence the mean speed)",
    )

    max_iterations: int = Field(6, ge=1, le=30, description="engine runs at most")
    min_beta_per_min: float = Field(
        0.02, gt=0, description="lower bound of the deterrence search, per free-flow minute"
    )
    max_beta_per_min: float = Field(
        1.0, gt=0, description="upper bound of the deterrence search, per free-flow minute"
    )
    tolerance: float = Field(
        0.02, gt=0, description="stop when |TTI - target| is below this (absolute)"
    )
    min_trips: int = Field(100, ge=1, description="lower bound of the search")
    max_trips: int = Field(2_000_000, ge=1, description="upper bound of the search")


class ExternalSpec(BaseModel):
    """Trips that cross the map boundary at gateway junctions (docs/demand.md §4a).

    They come in addition to ``demand.trips`` (which stays the internal total) and follow the
    same departure profile and sampling.
    """

    model_config = ConfigDict(extra="forbid")

    trips: int = Field(ge=1, description="external car trips in the period (in, out and through)")
    through_share: float = Field(
        0.3, ge=0, le=1, description="share of external trips from gateway to gateway"
    )
    road_classes: list[str] = Field(
        default_factory=lambda: ["motorway", "trunk"],
        min_length=1,
        description="OSM highway classes whose dead ends at the map edge are gateways (auto)",
    )
    gateways: list[tuple[float, float]] | None = Field(
        None,
        description="gateways as [lon, lat] points (WGS84), snapped to junctions; "
        "omitted = found automatically from road_classes",
    )
    snap_m: float = Field(500.0, gt=0, description="largest snapping distance of a gateway point")


class DemandSpec(BaseModel):
    """Which car trips to simulate and how to build them (docs/demand.md).

    ``od`` selects the source (gravity, OD CSV, trip list, TNTP). ``trips`` sets the total number
    of car trips in the period (for imports it rescales the file's total; omitted = the file's
    total). ``target_tti`` instead calibrates the total until the network travel-time index of
    the baseline reaches the target, starting from ``trips`` when given.
    """

    model_config = ConfigDict(extra="forbid")

    zones: ZonesSpec = Field(
        default_factory=lambda: ZonesSpec(grid_m=2000.0),
        description="zone system: {grid_m: 2000}, {file: zones.geojson} or {junction_clusters: 40}",
    )
    od: OdSpec = Field(
        default_factory=lambda: OdSpec(gravity=GravitySpec()),
        description="OD source: gravity, od_csv, trips_csv or tntp_trips",
    )
    trips: int | None = Field(
        None, ge=1, description="total car trips in the period (or the calibration start)"
    )
    target_tti: float | None = Field(
        None, gt=1.0, description="calibrate the total so the baseline travel-time index hits this"
    )
    calibration: CalibrationSpec = Field(
        default_factory=CalibrationSpec, description="search settings for target_tti"
    )
    profile: str | ProfileCsvSpec = Field(
        "morning_peak",
        description="departure-time profile: 'morning_peak', 'uniform' or {csv: profile.csv}",
    )
    sample_factor: float = Field(
        1.0,
        gt=0,
        le=1,
        description="simulate this seeded share of trips; results are scaled back and labelled",
    )
    external: ExternalSpec | None = Field(
        None,
        description="trips entering, leaving or crossing the map at its gateways, in addition "
        "to trips",
    )
    assumptions: list[str] = Field(
        default_factory=list, description="plain-language assumptions behind this demand"
    )

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str | ProfileCsvSpec) -> str | ProfileCsvSpec:
        if isinstance(value, str) and value not in BUILTIN_PROFILES:
            raise ValueError(
                f"unknown profile {value!r}; use one of {', '.join(BUILTIN_PROFILES)} "
                "or {csv: file.csv}"
            )
        return value

    @property
    def source(self) -> OdSource:
        """Name of the OD source in use (``gravity``, ``od_csv``, ``trips_csv``, ``tntp_trips``)."""
        return self.od.source
