"""Patch models: one pydantic model per patch ``type``, and the places they name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

# --- places --------------------------------------------------------------------------------

Lon = Annotated[float, Field(ge=-180.0, le=180.0)]
Lat = Annotated[float, Field(ge=-90.0, le=90.0)]
#: A WGS84 point, ``[lon, lat]``.
LonLat = tuple[Lon, Lat]
#: A junction named by two crossing roads, ``[road, road]``.
RoadPair = tuple[str, str]
#: A place: ``[lon, lat]`` or ``[road, road]``.
Place = LonLat | RoadPair


class StrictModel(BaseModel):
    """Base of the scenario-file models: unknown keys are errors, fields accept name or alias."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- patches -------------------------------------------------------------------------------


@dataclass
class PatchOrigin:
    """Where a patch was written: file, its line, its index there, and the line of each key."""

    file: Path
    line: int | None
    index: int
    key_lines: dict[str, int] = field(default_factory=dict)


class PatchBase(StrictModel):
    """Fields every patch has."""

    description: str = Field("", description="what the patch does, shown in the change log")
    _origin: PatchOrigin | None = PrivateAttr(default=None)

    @property
    def origin(self) -> PatchOrigin | None:
        """Where the patch was written (``None`` when built in Python)."""
        return self._origin


class RoadSelection(PatchBase):
    """A named road, whole or a stretch between two places, in one or both directions."""

    road: str = Field(
        min_length=1,
        description="road name (exact match first; else every variant with the same stem: "
        "正阳路 finds 正阳中路, 正阳东路, 正阳西路)",
    )
    between: tuple[Place, Place] | None = Field(
        None,
        description="only the stretch between two places on the road, each [lon, lat] or "
        "[road, road] (see 'between' below); default the whole road",
    )
    direction: Literal["both", "forward", "backward"] = Field(
        "both",
        description="which direction of travel: forward = from the first 'between' place to the "
        "second, backward = the reverse (needs 'between')",
    )
    snap_m: float = Field(
        300.0, gt=0, description="how far a [lon, lat] 'between' point may lie off the road, metres"
    )

    @model_validator(mode="after")
    def _direction_needs_between(self) -> RoadSelection:
        if self.direction != "both" and self.between is None:
            raise ValueError("'direction' needs 'between' (forward = from its first place)")
        return self


class OpenRoad(PatchBase):
    """New link(s) between two places; both ends snap to existing junctions within ``snap_m``."""

    type: Literal["open_road"]
    from_: Place = Field(alias="from", description="where the new road starts")
    to: Place = Field(description="where it ends")
    via: list[LonLat] = Field(
        default_factory=list, description="intermediate points of the new road's line, in order"
    )
    name: str = Field("", description="name of the new road (later patches can select it)")
    highway: str = Field(
        "secondary", description="OSM class of the new road; sets its capacity per lane"
    )
    lanes_per_direction: int = Field(
        ge=1, le=8, description="lanes in each direction of travel (the one direction if oneway)"
    )
    speed_kph: float = Field(gt=0, le=130, description="free-flow speed, km/h")
    oneway: bool = Field(False, description="only from → to")
    snap_m: float = Field(
        100.0, gt=0, description="how far a [lon, lat] end may lie from a junction, metres"
    )
    split_edges: bool = Field(
        False,
        description="a [lon, lat] end with no junction within snap_m joins the nearest road "
        "mid-block instead (its link is split at a new, unsignalised junction)",
    )


class CloseRoad(RoadSelection):
    """Remove a road (or a stretch) from the network, e.g. for road works."""

    type: Literal["close_road"]
    allow_disconnect: bool = Field(False, description="accept that some junctions lose access")


class WidenRoad(RoadSelection):
    """Set or add lanes on a road; capacity and storage are recomputed."""

    type: Literal["widen_road"]
    lanes_per_direction: int | None = Field(
        None, ge=1, le=8, description="the new lanes in each direction (or give add_lanes)"
    )
    add_lanes: int | None = Field(
        None, ge=1, le=4, description="lanes to add in each direction (or give lanes_per_direction)"
    )
    highway: str | None = Field(
        None, description="new OSM class (a rebuild that upgrades the road)"
    )
    speed_kph: float | None = Field(
        None, gt=0, le=130, description="new free-flow speed, km/h (default: unchanged)"
    )

    @model_validator(mode="after")
    def _one_lane_setting(self) -> WidenRoad:
        if (self.lanes_per_direction is None) == (self.add_lanes is None):
            raise ValueError("give exactly one of 'lanes_per_direction' or 'add_lanes'")
        return self


class SetSpeed(RoadSelection):
    """Set the free-flow speed on a road."""

    type: Literal["set_speed"]
    speed_kph: float = Field(gt=0, le=130, description="new free-flow speed, km/h")


class TurnLanes(StrictModel):
    """Exclusive turn lanes to add per approach."""

    left: int = Field(0, ge=0, le=3, description="exclusive left-turn lanes per approach")
    right: int = Field(0, ge=0, le=3, description="exclusive right-turn lanes per approach")

    @model_validator(mode="after")
    def _something(self) -> TurnLanes:
        if self.left == 0 and self.right == 0:
            raise ValueError("add at least one left or right turn lane")
        return self


class Channelize(PatchBase):
    """Add exclusive turn pockets on the approaches of a junction."""

    type: Literal["channelize"]
    junction: Place = Field(description="the junction: [road, road] or [lon, lat]")
    near: LonLat | None = Field(None, description="choose among several meetings of two roads")
    snap_m: float = Field(
        100.0, gt=0, description="how far a [lon, lat] junction may lie from the junction, metres"
    )
    approach: str | list[str] = Field("all", description="'all' or the road name(s) approaching")
    add_turn_lanes: TurnLanes = Field(
        description="turn pockets per approach: {left: n, right: n}, each 0–3, at least one > 0"
    )
    pocket_length_m: float = Field(50.0, gt=0, le=500, description="length of each pocket, metres")


LeftTurn = Literal["protected", "protected_permitted", "permitted"]
Seconds = Annotated[float, Field(gt=0)]
#: One value for every phase, a list in phase order, or a mapping of phase names.
GreenSetting = Seconds | list[Seconds] | dict[str, Seconds]


class SignalTiming(PatchBase):
    """Set fixed-time plans (explicit, or Webster-timed from flows), left-turn phases, or install.

    Greens are displayed greens, honoured as written; amber and all-red follow every phase.
    ``greens_s``/``splits`` map phase names (roads, ``"<road> left"`` for a protected-left
    phase) to values, or list them in the order ``cysim validate`` shows.
    """

    type: Literal["signal_timing"]
    junction: Place | None = Field(
        None, description="one junction: [road, road] or [lon, lat] (or give junctions/all_signals)"
    )
    junctions: list[Place] | None = Field(
        None, min_length=1, description="several junctions, each [road, road] or [lon, lat]"
    )
    all_signals: bool = Field(False, description="every signal-controlled junction of the map")
    near: LonLat | None = Field(None, description="choose among several meetings of two roads")
    snap_m: float = Field(
        100.0, gt=0, description="how far a [lon, lat] junction may lie from the junction, metres"
    )
    cycle_s: float | None = Field(None, ge=20, le=300, description="cycle length, seconds")
    splits: (
        list[Annotated[float, Field(gt=0, lt=1)]] | dict[str, Annotated[float, Field(gt=0, lt=1)]]
    ) | None = Field(
        None,
        min_length=1,
        description="each phase's share of the cycle as green (fractions summing to less than "
        "1; scaled to the green time the clearances leave), in phase order or by phase name",
    )
    greens_s: (
        list[Annotated[float, Field(gt=0)]] | dict[str, Annotated[float, Field(gt=0)]] | None
    ) = Field(
        None,
        min_length=1,
        description="displayed green of each phase, seconds, in phase order or by phase name",
    )
    amber_s: float | None = Field(
        None, gt=0, le=10, description="amber after every phase, seconds (at least 3)"
    )
    all_red_s: float | None = Field(
        None, ge=0, le=10, description="all-red after every amber, seconds"
    )
    offset_s: float | None = Field(
        None, ge=0, description="when the first phase starts, seconds into the cycle (< cycle_s)"
    )
    optimize: Literal["webster"] | None = Field(
        None, description="compute cycle and greens by Webster's method from the baseline flows"
    )
    lost_time_per_phase_s: float | None = Field(
        None, gt=0, le=20, description="lost time per phase, seconds (default amber + all-red)"
    )
    left_turns: LeftTurn | dict[str, LeftTurn] | None = Field(
        None,
        description="protected, protected_permitted or permitted left turns, for all approaches "
        "or per road",
    )
    control: Literal["fixed", "actuated"] | None = Field(
        None, description="fixed-time plan or vehicle-actuated control (docs/model.md §3)"
    )
    min_green_s: GreenSetting | None = Field(
        None, description="actuated: minimum green, one value, per phase or by phase name"
    )
    max_green_s: GreenSetting | None = Field(
        None, description="actuated: maximum green, one value, per phase or by phase name"
    )
    passage_s: float | None = Field(None, gt=0, le=10, description="actuated: passage time")
    detector_m: float | None = Field(
        None, gt=0, le=200, description="actuated: detection zone upstream of the stop line"
    )
    install: bool = Field(False, description="make an unsignalised junction signal-controlled")

    @model_validator(mode="after")
    def _consistent(self) -> SignalTiming:
        targets = [self.junction is not None, self.junctions is not None, self.all_signals]
        if sum(targets) != 1:
            raise ValueError("give exactly one of 'junction', 'junctions' or 'all_signals: true'")
        if self.splits is not None and self.greens_s is not None:
            raise ValueError("give 'splits' or 'greens_s', not both")
        if self.splits is not None and self.cycle_s is None:
            raise ValueError("'splits' need 'cycle_s'")
        split_values = list(
            self.splits.values() if isinstance(self.splits, dict) else self.splits or []
        )
        if split_values and sum(split_values) >= 1:
            raise ValueError(
                f"splits are green fractions of the cycle; they sum to {sum(split_values):g} ≥ 1"
            )
        if self.optimize and any(v is not None for v in (self.cycle_s, self.splits, self.greens_s)):
            raise ValueError(
                "'optimize: webster' computes cycle and greens; drop cycle_s/splits/greens_s"
            )
        if self.offset_s is not None and self.cycle_s is not None and self.offset_s >= self.cycle_s:
            raise ValueError("offset_s must be less than cycle_s")
        if self.all_signals and self.install:
            raise ValueError("'install' needs named junctions, not 'all_signals'")
        actuated_fields = (self.min_green_s, self.max_green_s, self.passage_s, self.detector_m)
        if self.control != "actuated" and any(v is not None for v in actuated_fields):
            raise ValueError(
                "min_green_s, max_green_s, passage_s and detector_m need 'control: actuated'"
            )
        settings = (
            self.cycle_s, self.splits, self.greens_s, self.offset_s, self.optimize, self.amber_s,
            self.all_red_s, self.lost_time_per_phase_s, self.left_turns, self.control,
        )  # fmt: skip
        if all(v is None for v in settings) and not self.install:
            raise ValueError(
                "nothing to set: give cycle_s/splits/greens_s/offset_s, amber_s/all_red_s, "
                "left_turns, control, optimize or install"
            )
        return self


class AddParking(PatchBase):
    """An off-street public parking lot at the junction nearest a place."""

    type: Literal["add_parking"]
    location: Place = Field(
        description="where: [road, road] or [lon, lat]; the lot opens onto the nearest junction"
    )
    near: LonLat | None = Field(None, description="choose among several meetings of two roads")
    snap_m: float = Field(
        300.0, gt=0, description="how far a [lon, lat] location may lie from a junction, metres"
    )
    spaces: int = Field(
        ge=1, le=20000, description="parking spaces (added to any lot already there)"
    )
    guidance: bool = Field(False, description="the lot is in the parking-guidance system")
    name: str = Field("", description="name of the lot, shown in the change log")


class RemoveOnStreetParking(PatchBase):
    """Ban curb parking on named roads, restoring the curb lane's capacity."""

    type: Literal["remove_on_street_parking"]
    roads: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="the roads whose curb parking is banned"
    )


class Corridor(StrictModel):
    """Trips whose end lies within ``within_m`` of any of the named roads."""

    roads: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="the corridor's roads"
    )
    within_m: float = Field(
        500.0, gt=0, le=5000, description="how far a trip end may lie from the roads, metres"
    )


class DemandShift(PatchBase):
    """Scale car trips by zone or corridor (e.g. mode shift to new bus lines)."""

    type: Literal["demand_shift"]
    scale: float | None = Field(None, ge=0, le=5, description="multiply the selected car trips")
    remove_share: float | None = Field(None, ge=0, le=1, description="= 1 − scale")
    zones: list[str] | None = Field(
        None, min_length=1, description="zone ids of the scenario's demand zones (or a corridor)"
    )
    corridor: Corridor | None = Field(
        None, description="trips near named roads: {roads: [...], within_m: 500} (or zones)"
    )
    ends: Literal["origin", "destination", "either", "both"] = Field(
        "either", description="which trip end must lie in the zones / corridor"
    )
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="seeds the choice of which trips are removed or copied"
    )

    @model_validator(mode="after")
    def _one_each(self) -> DemandShift:
        if (self.scale is None) == (self.remove_share is None):
            raise ValueError("give exactly one of 'scale' or 'remove_share'")
        if (self.zones is None) == (self.corridor is None):
            raise ValueError("give exactly one of 'zones' or 'corridor'")
        return self

    @property
    def factor(self) -> float:
        """The multiplier on the selected trips."""
        return float(self.scale) if self.scale is not None else 1.0 - float(self.remove_share or 0)


#: Every patch model by its ``type``.
PATCH_MODELS: dict[str, type[PatchBase]] = {
    "open_road": OpenRoad,
    "close_road": CloseRoad,
    "widen_road": WidenRoad,
    "set_speed": SetSpeed,
    "channelize": Channelize,
    "signal_timing": SignalTiming,
    "add_parking": AddParking,
    "remove_on_street_parking": RemoveOnStreetParking,
    "demand_shift": DemandShift,
}

Patch = Annotated[
    Union[  # noqa: UP007 (a discriminated union reads better spelled out)
        OpenRoad,
        CloseRoad,
        WidenRoad,
        SetSpeed,
        Channelize,
        SignalTiming,
        AddParking,
        RemoveOnStreetParking,
        DemandShift,
    ],
    Field(discriminator="type"),
]
