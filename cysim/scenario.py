"""Scenario YAML: the validated model, the patch schemas and ``base:`` inheritance."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from . import roadclass
from ._errors import CysimError, MapError, ScenarioError
from ._yaml import KeyPath, YamlDocument, format_key_path, load_yaml, parse_key_path
from .demand import DemandSpec
from .simsettings import SimSettings

# --- places --------------------------------------------------------------------------------

Lon = Annotated[float, Field(ge=-180.0, le=180.0)]
Lat = Annotated[float, Field(ge=-90.0, le=90.0)]
#: A WGS84 point, ``[lon, lat]``.
LonLat = tuple[Lon, Lat]
#: A junction named by two crossing roads, ``[road, road]``.
RoadPair = tuple[str, str]
#: A place: ``[lon, lat]`` or ``[road, road]``.
Place = LonLat | RoadPair


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- patches -------------------------------------------------------------------------------


@dataclass
class PatchOrigin:
    """Where a patch was written: file, its line, its index there, and the line of each key."""

    file: Path
    line: int | None
    index: int
    key_lines: dict[str, int] = field(default_factory=dict)


class PatchBase(_Model):
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


class TurnLanes(_Model):
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


class Corridor(_Model):
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


# --- the scenario --------------------------------------------------------------------------


class NetworkSettings(_Model):
    """How the map is turned into a network (the ``network:`` section)."""

    consolidation_tolerance_m: float | None = Field(None, gt=0, le=100)
    road_classes: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="overrides of cysim.roadclass defaults per OSM class"
    )
    signal_plans: Literal["fitted", "default"] = Field(
        "fitted",
        description=(
            "plans of signals no patch times: 'fitted' re-times each one with Webster on its own "
            "simulated flows inside route choice (as a traffic engineer would have set them); "
            "'default' keeps the lane-based default cycles (cysim ≤ 0.3)"
        ),
    )
    lane_groups: Literal["evidence", "none"] = Field(
        "evidence",
        description=(
            "which lanes serve which turns at a junction approach: 'evidence' takes OSM "
            "turn:lanes where tagged, else a default per road class and junction type "
            "(cysim.turnlanes); 'none' keeps every approach one lane group (pockets aside), for "
            "sketch networks without lane detail"
        ),
    )

    @field_validator("road_classes")
    @classmethod
    def _known_classes(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        try:
            roadclass.road_class_table(value)
        except ScenarioError as error:
            message = f"{error.message} ({error.hint})" if error.hint else error.message
            raise ValueError(message) from None
        return value


class ReportSettings(_Model):
    """How results are presented (the ``report:`` section); never part of the fingerprint."""

    basemap: Literal["none", "osm", "gaode", "tencent", "tianditu", "url"] = Field(
        "none",
        description=(
            "tiles under the interactive map: none (vector layers only; opens offline), osm, "
            "gaode (高德 AutoNavi, GCJ-02), tencent (腾讯, GCJ-02), tianditu (天地图; key from "
            "the TIANDITU_KEY environment variable) or url (tiles_url); the links are moved "
            "into the tiles' coordinate system"
        ),
    )
    tiles_url: str | None = Field(
        None, description="tile URL template with {z}, {x}, {y} for basemap: url"
    )
    tiles_system: Literal["wgs84", "gcj02", "bd09"] = Field(
        "wgs84", description="coordinate system of the tiles_url tiles"
    )
    tiles_attribution: str = Field("", description="credit for the tiles_url tiles")
    china_layers: list[Literal["gcj02", "bd09"]] = Field(
        default_factory=list,
        description=(
            "extra layers in the comparison's GeoPackages with coordinates in these non-EPSG "
            "systems (GCJ-02 for AutoNavi/Tencent, BD-09 for Baidu), named <layer>_gcj02 / "
            "<layer>_bd09 and labelled EPSG:4326"
        ),
    )


@dataclass
class _Source:
    """Where a resolved key path was written: file, line and the key path inside that file."""

    file: Path
    line: int | None
    local: KeyPath


#: Keys describing one file; never inherited through ``base:``.
OWN_KEYS = ("name", "title", "description", "report_quote", "assumptions")

#: Sections that hold exactly one source, with their source keys. A file naming a different
#: source replaces the inherited section wholesale: merging would leave two sources.
ONE_OF_SECTIONS: dict[KeyPath, tuple[str, ...]] = {
    ("demand", "od"): ("gravity", "od_csv", "trips_csv", "tntp_trips"),
    ("demand", "zones"): ("file", "grid_m", "junction_clusters"),
}


class Scenario(_Model):
    """A resolved scenario (see docs/data-model.md §2)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str = ""
    description: str = ""
    report_quote: str = ""
    assumptions: list[str] = Field(default_factory=list)
    map: Path
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    demand: DemandSpec = Field(default_factory=DemandSpec)
    simulation: SimSettings = Field(default_factory=SimSettings)
    patches: list[Patch] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    report: ReportSettings = Field(default_factory=ReportSettings)
    source_file: Path
    base_chain: list[Path] = Field(default_factory=list)
    _sources: dict[KeyPath, _Source] = PrivateAttr(default_factory=dict)

    def where(self, key: str) -> tuple[Path, int | None]:
        """Return the file and line that declare ``key`` (``demand.trips``, ``patches[2].road``).

        Useful for errors found after loading (e.g. by the demand builder). Falls back to the
        deepest declared parent key, then to the scenario file itself.
        """
        path = parse_key_path(key)
        while path and path not in self._sources:
            path = path[:-1]
        source = self._sources.get(path)
        if source is None:
            return self.source_file, None
        return source.file, source.line

    @contextlib.contextmanager
    def pointing_into(self) -> Iterator[None]:
        """Give errors raised by later stages (network, demand) this scenario's file and line."""
        try:
            yield
        except CysimError as error:
            missing = isinstance(error, MapError) and not self.map.exists()
            if missing and error.file == str(self.map):
                raise self._map_not_found() from None
            if error.file is not None or not error.key:
                raise
            file, line = self.where(error.key)
            raise type(error)(
                error.message, file=file, line=line, key=error.key, hint=error.hint
            ) from None

    def _map_not_found(self) -> ScenarioError:
        """The error for a ``map:`` that names no file: where it was looked for, and why."""
        file, line = self.where("map")
        fetched = (
            self.map
            if self.map.suffix in (".osm", ".graphml")
            else self.map.with_suffix(".graphml")
        )
        return ScenarioError(
            f"map file not found: {self.map} (map: is resolved relative to the folder of the "
            f"file that sets it, {file.parent})",
            file=file,
            line=line,
            key="map",
            hint=f"correct the path in map: (relative to {file.name}, or absolute), or "
            f"download the district's roads with `cysim map fetch -o {fetched}`"
            + ("" if fetched == self.map else f" and set map: {fetched.name}"),
        )

    def content(self) -> dict[str, Any]:
        """The resolved scenario as plain data, as a scenario file would spell it."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"source_file", "base_chain"})
        data["patches"] = [
            {"type": patch.type}
            | patch.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            for patch in self.patches
        ]
        return data

    def resolved_yaml(self) -> str:
        """Return the fully resolved scenario as YAML (loadable again; paths absolute)."""
        files = "".join(f"#   {p}\n" for p in [*self.base_chain, self.source_file])
        header = f"# resolved scenario '{self.name}', from (bases first):\n{files}"
        body = yaml.dump(
            self.content(), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100
        )
        return header + body

    def fingerprint(self) -> str:
        """Return a sha256 of the resolved content and the map file's bytes.

        The map's path is left out (only its content counts), so the same scenario in another
        checkout has the same fingerprint. The ``report:`` section only changes how results
        are shown, so it is left out too: a new base map reuses the finished runs.
        """
        content = self.content()
        del content["report"]
        content["map"] = {"name": self.map.name, "sha256": file_sha256(self.map)}
        content["demand"] = _hash_files(content["demand"])
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hash_files(value: Any) -> Any:
    """Replace absolute paths of existing files by their name and content hash (recursively)."""
    if isinstance(value, dict):
        return {key: _hash_files(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_hash_files(item) for item in value]
    if isinstance(value, str) and Path(value).is_absolute() and Path(value).is_file():
        return f"{Path(value).name}#sha256:{file_sha256(Path(value))}"
    return value


class _Dumper(yaml.SafeDumper):
    """Safe dumper writing short lists of scalars inline (``[lon, lat]``), the rest as blocks."""


def _represent_list(dumper: yaml.SafeDumper, items: list) -> yaml.Node:
    inline = len(items) <= 8 and all(isinstance(i, str | int | float | bool) for i in items)
    inline = inline and sum(len(str(i)) for i in items) <= 60
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=inline)


_Dumper.add_representer(list, _represent_list)


def file_sha256(path: Path) -> str:
    """Return the sha256 of a file's bytes (``"missing"`` when it does not exist)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return "missing"
    return digest.hexdigest()


# --- loading -------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file, resolve its ``base:`` chain and validate it.

    ``base:`` names one file or a list of files (relative to the declaring file). Bases are
    resolved depth first, each file once, so a diamond (two bases sharing ``baseline.yaml``)
    applies the shared patches once. Patch lists concatenate, bases first; the other sections
    merge key by key, later files winning, except that ``demand.od`` or ``demand.zones``
    naming a different source replaces the inherited one; ``name``, ``title``, ``description``,
    ``report_quote`` and ``assumptions`` are never inherited (``name`` defaults to the file
    name). ``map:`` is resolved relative to the file that declares it.

    Parameters
    ----------
    path
        The scenario YAML.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Malformed YAML, a missing or cyclic base, an unknown key (with the nearest valid key)
        or an invalid value; the message names file, line and key path.
    """
    try:
        top = Path(path).resolve()
    except (ValueError, OSError, RuntimeError) as error:
        raise ScenarioError(f"invalid path {str(path)!r}: {error}", file=path) from None
    if not top.is_file():
        raise ScenarioError("scenario file not found", file=path, hint="check the path")
    docs: dict[Path, Any] = {}
    order: list[Path] = []
    _linearise(top, [], order, docs)
    merged, sources = _merge(order, docs)
    merged.setdefault("name", top.stem)
    data = {**merged, "source_file": top, "base_chain": order[:-1]}
    try:
        scenario = Scenario.model_validate(data)
    except pydantic.ValidationError as error:
        raise _to_scenario_error(error, merged, sources, top) from None
    _attach_origins(scenario, sources)
    scenario._sources = sources
    return scenario


def _linearise(path: Path, stack: list[Path], order: list[Path], docs: dict[Path, Any]) -> None:
    """Depth-first post-order over ``base:`` references, each file once; detects cycles."""
    if path in docs:
        return
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ScenarioError(
            "a scenario file must be a mapping of keys (name:, map:, patches:, …)",
            file=path,
            line=1,
        )
    bases = doc.data.get("base")
    if bases is not None:
        items = bases if isinstance(bases, list) else [bases]
        for index, base in enumerate(items):
            local: KeyPath = ("base", index) if isinstance(bases, list) else ("base",)
            line = doc.line_of(local)
            if not isinstance(base, str) or not base:
                raise ScenarioError(
                    "base must be a file name or a list of file names",
                    file=path,
                    line=line,
                    key=format_key_path(local),
                )
            base_path = Path(_absolute_path(path.parent, base, doc, local))
            if base_path == path or base_path in stack:
                chain = " → ".join(p.name for p in [*stack, path, base_path])
                raise ScenarioError(
                    f"base files form a cycle: {chain}",
                    file=path,
                    line=line,
                    key=format_key_path(local),
                    hint="remove one of the base references",
                )
            if not base_path.is_file():
                raise ScenarioError(
                    f"base file not found: {base_path}",
                    file=path,
                    line=line,
                    key=format_key_path(local),
                    hint="paths in base: are relative to this file",
                )
            _linearise(base_path, [*stack, path], order, docs)
    docs[path] = doc
    order.append(path)


def _merge(order: list[Path], docs: dict[Path, Any]) -> tuple[dict, dict[KeyPath, _Source]]:
    """Merge the files in ``order`` (last wins) and remember where every key path came from."""
    merged: dict[str, Any] = {}
    sources: dict[KeyPath, _Source] = {}
    top = order[-1]
    for file in order:
        doc = docs[file]
        for key, value in doc.data.items():
            if key == "base" or (key in OWN_KEYS and file != top):
                continue
            if key == "patches" and isinstance(value, list):
                offset = len(merged.setdefault("patches", []))
                merged["patches"].extend(value)
                for local, line in doc.lines.items():
                    if local[:1] == ("patches",) and len(local) >= 2:
                        resolved = ("patches", local[1] + offset, *local[2:])
                        sources[resolved] = _Source(file, line, local)
                continue
            if key == "map" and isinstance(value, str):
                value = _absolute_path(file.parent, value, doc, (key,))
            elif key == "demand":
                value = _resolve_paths(value, DemandSpec, file.parent, doc, (key,))
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                inherited = dict(merged[key])
                for section in _replaced_sections(key, inherited, value):
                    del inherited[section[1]]
                    for stale in [p for p in sources if p[: len(section)] == section]:
                        del sources[stale]
                merged[key] = _deep_merge(inherited, value)
            else:
                merged[key] = value
                for stale in [p for p in sources if p[:1] == (key,)]:
                    del sources[stale]
            for local, line in doc.lines.items():
                if local[:1] == (key,):
                    sources[local] = _Source(file, line, local)
        sources.setdefault((), _Source(file, 1, ()))
    sources[()] = _Source(top, 1, ())
    return merged, sources


def _absolute_path(base_dir: Path, value: str, doc: YamlDocument, local: KeyPath) -> str:
    """``value`` made absolute relative to ``base_dir``; a path the OS cannot hold (a NUL
    character, a symlink loop) is a ScenarioError at ``local`` in ``doc``."""
    try:
        return str((base_dir / value).expanduser().resolve())
    except (ValueError, OSError, RuntimeError) as error:
        raise ScenarioError(
            f"invalid path {value!r}: {error}",
            file=doc.file,
            line=doc.line_of(local),
            key=format_key_path(local),
            hint="write the file name as plain text, relative to this file",
        ) from None


def _resolve_paths(
    value: Any, annotation: Any, base_dir: Path, doc: YamlDocument, local: KeyPath
) -> Any:
    """Make relative paths absolute (relative to ``base_dir``) wherever the model expects a Path.

    A plain string given for a sub-model with a ``file`` field (``od_csv: od.csv`` shorthand) is
    resolved too, unless the field also accepts a plain string (``profile: morning_peak``).
    ``doc`` and ``local`` (the key path of ``value`` in it) place errors.
    """
    members = _unwrap(annotation)
    if isinstance(value, str) and value:
        if Path in members:
            return _absolute_path(base_dir, value, doc, local)
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if str not in members and any("file" in m.model_fields for m in models):
            return _absolute_path(base_dir, value, doc, local)
        return value
    if isinstance(value, dict):
        model = _model_of(annotation, value)
        if model is not None:
            resolved = dict(value)
            for name, info in model.model_fields.items():
                for key in {name, info.alias or name}:
                    if key in resolved:
                        resolved[key] = _resolve_paths(
                            resolved[key], info.annotation, base_dir, doc, (*local, key)
                        )
            return resolved
    if isinstance(value, list):
        item = next((typing.get_args(a)[0] for a in members if typing.get_origin(a) is list), None)
        if item is not None:
            return [
                _resolve_paths(v, item, base_dir, doc, (*local, index))
                for index, v in enumerate(value)
            ]
    return value


def _replaced_sections(key: str, inherited: dict, child: dict) -> list[KeyPath]:
    """The one-of sections under ``key`` where ``child`` names a different source (see
    :data:`ONE_OF_SECTIONS`); the same source, or none, merges key by key."""
    replaced = []
    for section, names in ONE_OF_SECTIONS.items():
        old, new = inherited.get(section[1]), child.get(section[1])
        if section[0] != key or not isinstance(old, dict) or not isinstance(new, dict):
            continue
        new_sources = {name for name in names if name in new}
        if new_sources and new_sources != {name for name in names if name in old}:
            replaced.append(section)
    return replaced


def _deep_merge(base: dict, child: dict) -> dict:
    """Merge ``child`` into a copy of ``base`` key by key; nested mappings merge, others replace."""
    result = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _attach_origins(scenario: Scenario, sources: dict[KeyPath, _Source]) -> None:
    """Give each patch its file, line and per-key lines so patch errors can point at them."""
    for index, patch in enumerate(scenario.patches):
        source = sources.get(("patches", index))
        if source is None:
            continue
        key_lines = {
            str(path[2]): src.line
            for path, src in sources.items()
            if len(path) == 3 and path[:2] == ("patches", index) and src.line is not None
        }
        patch._origin = PatchOrigin(
            file=source.file, line=source.line, index=int(source.local[1]), key_lines=key_lines
        )


def _to_scenario_error(
    error: pydantic.ValidationError, data: dict, sources: dict[KeyPath, _Source], top: Path
) -> ScenarioError:
    """Turn pydantic's first error into a one-line ScenarioError with file, line and key path."""
    first = error.errors(include_url=False)[0]
    kind = first["type"]
    path = _clean_loc(first["loc"], data, keep_last=kind in ("missing", "extra_forbidden"))
    if kind == "union_tag_invalid":
        path = (*path, "type")
    # The deepest resolved path with a recorded source gives file and line.
    probe = path
    while probe and probe not in sources:
        probe = probe[:-1]
    source = sources.get(probe) or sources[()]
    local = (*source.local, *path[len(probe) :])
    key = format_key_path(local) or None
    hint = None
    leaf = path[-1] if path else None
    if kind == "extra_forbidden":
        valid = _valid_keys(path[:-1], data)
        close = difflib.get_close_matches(str(leaf), valid, n=1, cutoff=0.5)
        message = f"unknown key '{leaf}'"
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"valid keys: {', '.join(valid)}"
    elif kind == "missing":
        message = f"missing required key '{leaf}'"
    elif kind == "union_tag_invalid":
        given = first.get("ctx", {}).get("tag", "?")
        close = difflib.get_close_matches(str(given), list(PATCH_MODELS), n=1, cutoff=0.4)
        message = f"unknown patch type '{given}'"
        hint = (
            f"did you mean '{close[0]}'? " if close else ""
        ) + f"types: {', '.join(PATCH_MODELS)}"
    elif kind == "union_tag_not_found":
        message = "the patch has no 'type'"
        hint = f"add type: one of {', '.join(PATCH_MODELS)}"
    elif any(isinstance(part, str) and part.startswith("tuple[") for part in first["loc"]):
        place = _clean_loc(first["loc"][: _place_end(first["loc"])], data, keep_last=False)
        given = _value_at(data, place)
        path = place
        message = f"a place is [lon, lat] (two numbers) or [road, road] (two names), got {given!r}"
        road = _one_road(given)
        if road is not None:
            message = (
                f"a junction is named by two crossing roads, [road, road], or by [lon, lat]; "
                f"got only the road '{road}'"
            )
            hint = _second_road_hint(data, road, place[-1])
        elif _is_lat_lon(given):
            message = (
                f"a place is [lon, lat], longitude first; {given!r} reads as [lat, lon] "
                f"(latitude {given[1]} is outside −90…90)"
            )
            hint = f"write [{given[1]}, {given[0]}]"
        elif isinstance(given, list | tuple) and len(given) != 2:
            hint = "write two numbers [lon, lat] or two crossing road names [road, road]"
        probe = path
        while probe and probe not in sources:
            probe = probe[:-1]
        source = sources.get(probe) or sources[()]
        key = format_key_path((*source.local, *path[len(probe) :])) or None
    else:
        message = first["msg"].removeprefix("Value error, ")
        if "input" in first and not isinstance(first["input"], dict | list):
            message += f" (got {first['input']!r})"
        hint = _patch_reference_hint(data, path)
    return ScenarioError(message, file=source.file, line=source.line, key=key, hint=hint)


def _patch_reference_hint(data: Any, path: KeyPath) -> str | None:
    """For an error inside a patch with no specific fix: where that patch type's fields, their
    ranges and an example are documented."""
    if len(path) < 2 or path[0] != "patches" or not isinstance(path[1], int):
        return None
    patch = _value_at(data, path[:2])
    kind = patch.get("type") if isinstance(patch, dict) else None
    if kind not in PATCH_MODELS:
        return None
    return (
        f"see the fields of {kind} in docs/patches.md (section '{kind}'): what each means, its "
        "range and a working example"
    )


def _one_road(given: Any) -> str | None:
    """The road name of a place written as one road (``中城路`` or ``[中城路]``), else None."""
    if isinstance(given, list) and len(given) == 1:
        given = given[0]
    return given if isinstance(given, str) and given.strip() else None


def _second_road_hint(data: dict, road: str, place_key: str | int) -> str:
    """How to name the junction: the roads crossing ``road`` on the scenario's map.

    The map is loaded only here, for this error; when it cannot be (missing, unreadable, the
    road unknown), the hint says where to find the names instead.
    """
    from . import locate, network  # the map, only to write this hint

    example = f"[{road}, <the crossing road>]"
    if isinstance(place_key, str):
        example = f"{place_key}: {example}"
    try:
        settings = NetworkSettings.model_validate(data.get("network") or {})
        G = network.load_network(
            data["map"], consolidation_tolerance_m=settings.consolidation_tolerance_m
        )
        crossing = locate.crossing_list(G, road)
    except (CysimError, pydantic.ValidationError, KeyError, OSError, TypeError):
        return f"write {example}; `cysim map info --roads MAP` lists the road names"
    return f"write {example}; roads crossing {road}: {crossing}"


def _is_lat_lon(value: Any) -> bool:
    """Two numbers that only make sense swapped: [lat, lon] for a [lon, lat] place."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return False
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return False
    return abs(value[0]) <= 90 < abs(value[1]) <= 180


def _place_end(loc: tuple) -> int:
    """Index just before the first union-member part (``tuple[...]``) of a location."""
    for index, part in enumerate(loc):
        if isinstance(part, str) and part.startswith("tuple["):
            return index
    return len(loc)


def _value_at(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _clean_loc(loc: tuple, data: Any, *, keep_last: bool) -> KeyPath:
    """Keep the parts of a pydantic error location that exist in the data (drops union tags)."""
    path: list[str | int] = []
    node = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            path.append(part)
            node = node[part]
        elif last and keep_last:
            path.append(part)
    return tuple(path)


def _valid_keys(path: KeyPath, data: Any) -> list[str]:
    """Return the keys the model at ``path`` accepts (for 'did you mean' hints)."""
    annotation: Any = Scenario
    node = data
    for part in path:
        node = node[part] if isinstance(node, dict | list) else None
        annotation = _child_annotation(annotation, part, node)
        if annotation is None:
            return []
    model = _model_of(annotation, node)
    if model is None:
        return []
    keys = [info.alias or name for name, info in model.model_fields.items()]
    if model is Scenario:
        keys = [k for k in keys if k not in ("source_file", "base_chain")] + ["base"]
    return keys


def _child_annotation(annotation: Any, part: str | int, node: Any) -> Any:
    model = _model_of(annotation, node)
    if model is not None and isinstance(part, str):
        for name, info in model.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    for arg in _unwrap(annotation):
        origin = typing.get_origin(arg)
        if origin is list and isinstance(part, int):
            return typing.get_args(arg)[0]
        if origin is dict and isinstance(part, str):
            return typing.get_args(arg)[1]
    return None


def _unwrap(annotation: Any) -> list[Any]:
    """Flatten Annotated / Optional / Union into their member types."""
    if typing.get_origin(annotation) is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _unwrap(arg)]
    return [annotation]


def _model_of(annotation: Any, node: Any) -> type[BaseModel] | None:
    models = [a for a in _unwrap(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    if len(models) > 1 and isinstance(node, dict):
        tagged = PATCH_MODELS.get(str(node.get("type")))
        return tagged if tagged in models else None
    return models[0] if len(models) == 1 else None
