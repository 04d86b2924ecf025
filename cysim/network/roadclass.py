"""Default lanes, speeds and capacities by road class (CJJ 37 classes mapped to OSM classes).

Every value a map does not state comes from this table; every one is overridable from a
scenario's ``network:`` section, e.g. ``{"primary": {"lanes": 3, "capacity_vphpl": 1600}}``.

Sources
-------
- CJJ 37-2012 《城市道路工程设计规范》 (Code for design of urban road engineering):
  §3.1 road classes 快速路 / 主干路 / 次干路 / 支路 and their design speeds (km/h):
  expressway 100/80/60, arterial 60/50/40, sub-arterial 50/40/30, branch 40/30/20.
  Table 4.2.2, basic capacity of one expressway lane (pcu/h/ln) by design speed:
  100 → 2200, 80 → 2100, 60 → 1800.
  Table 4.2.3, basic capacity of one lane of other roads (mid-block, pcu/h/ln):
  60 → 1800, 50 → 1700, 40 → 1650, 30 → 1600, 20 → 1400.
  We use the *basic* (基本通行能力) values, not the lower *design* (设计通行能力) values,
  because the simulation needs the flow a lane actually carries at saturation.
- GB 50647-2011 《城市道路交叉口规划规范》 gives base saturation flows of 1400-2000 pcu/h per
  through lane at signalised approaches; 1800 veh/h/lane is the customary planning value (also
  Webster's and close to HCM 2010's 1900 pc/h/ln after heavy-vehicle adjustment).
- HCM 2010 (Chapter 18, signalized intersections) parking adjustment
  f_p = (N − 0.1 − 18·N_m/3600) / N gives 0.80 for one lane and 0.90 for two lanes with
  20 parking manoeuvres per hour; the class factors below sit in that range (one-lane branch
  roads 0.80, multi-lane roads 0.85).
- Jam spacing 7.5 m/veh: ``cysim.settings.jam_spacing_m`` (a 4.5 m car plus a 3 m gap).
- Default lanes per direction: CJJ 37 cross-section practice (expressway main carriageway
  ≥ 2 lanes, urban ones usually 3; arterials 2-3; sub-arterials 2; branch roads 1).
- Default speeds: the middle of each class's CJJ 37 design-speed range.

OSM → CJJ 37 mapping (DESIGN §2): motorway and trunk ≈ 快速路 expressway, primary ≈ 主干路
arterial, secondary ≈ 次干路 sub-arterial, tertiary / unclassified / residential / living_street /
service ≈ 支路 branch. Ramps (``*_link``) take a ramp speed of 40 km/h and one lane.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from .. import settings
from .._errors import ScenarioError

logger = logging.getLogger(__name__)

#: Class used for an OSM ``highway`` value that is not in the table.
FALLBACK_CLASS = "unclassified"

#: CJJ 37-2012 Table 4.2.2: expressway basic capacity per lane by design speed.
EXPRESSWAY_CAPACITY_BY_SPEED: tuple[tuple[float, float], ...] = (
    (60.0, 1800.0),
    (80.0, 2100.0),
    (100.0, 2200.0),
)
#: CJJ 37-2012 Table 4.2.3: basic mid-block capacity per lane of other urban roads by design speed.
URBAN_CAPACITY_BY_SPEED: tuple[tuple[float, float], ...] = (
    (20.0, 1400.0),
    (30.0, 1600.0),
    (40.0, 1650.0),
    (50.0, 1700.0),
    (60.0, 1800.0),
)


@dataclass(frozen=True)
class RoadClass:
    """Defaults for one OSM road class.

    Attributes
    ----------
    osm_class
        The OSM ``highway`` value.
    cjj_class
        CJJ 37 class: ``快速路``, ``主干路``, ``次干路`` or ``支路``.
    cjj_class_en
        Its English name: expressway, arterial, sub-arterial, branch.
    lanes
        Lanes per direction when OSM gives none.
    speed_kph
        Free-flow speed when OSM gives no usable ``maxspeed``.
    capacity_vphpl
        Mid-block capacity per lane, veh/h/lane. ``None`` = from the CJJ 37 table at the
        link's speed (the usual case); a number fixes it for the class.
    saturation_flow_vphpl
        Stop-line saturation flow per lane. ``None`` = equal to the lane capacity (roads with no
        stop line, i.e. motorways, whose merges are limited by the carriageway itself).
    curb_parking_factor
        Multiplier on capacity and saturation flow when parked cars occupy the curb lane.
    jam_spacing_m
        Road length per stopped vehicle; ``None`` = ``cysim.settings.jam_spacing_m``.
    """

    osm_class: str
    cjj_class: str
    cjj_class_en: str
    lanes: int
    speed_kph: float
    capacity_vphpl: float | None = None
    saturation_flow_vphpl: float | None = 1800.0
    curb_parking_factor: float = 0.85
    jam_spacing_m: float | None = None

    @property
    def expressway(self) -> bool:
        """Whether CJJ 37 Table 4.2.2 (expressway) rather than 4.2.3 gives the capacity."""
        return self.cjj_class_en == "expressway" and not self.osm_class.endswith("_link")

    def lane_capacity_vphpl(self, speed_kph: float) -> float:
        """Mid-block capacity of one lane at a free-flow speed, veh/h/lane.

        Parameters
        ----------
        speed_kph
            The link's free-flow speed; the CJJ 37 table is interpolated and clamped to its range.

        Returns
        -------
        float
            The class override if set, otherwise the CJJ 37 basic capacity at that speed.
        """
        if self.capacity_vphpl is not None:
            return float(self.capacity_vphpl)
        table = EXPRESSWAY_CAPACITY_BY_SPEED if self.expressway else URBAN_CAPACITY_BY_SPEED
        speeds, capacities = zip(*table, strict=True)
        return float(np.interp(speed_kph, speeds, capacities))

    def lane_saturation_flow_vphpl(self, speed_kph: float) -> float:
        """Stop-line saturation flow of one lane, veh/h/lane (see ``saturation_flow_vphpl``)."""
        if self.saturation_flow_vphpl is None:
            return self.lane_capacity_vphpl(speed_kph)
        return float(self.saturation_flow_vphpl)

    def jam_spacing(self) -> float:
        """Jam spacing in metres, reading ``cysim.settings`` at call time when not overridden."""
        if self.jam_spacing_m is None:
            return float(settings.jam_spacing_m)
        return float(self.jam_spacing_m)


_EXPRESSWAY = ("快速路", "expressway")
_ARTERIAL = ("主干路", "arterial")
_SUB_ARTERIAL = ("次干路", "sub-arterial")
_BRANCH = ("支路", "branch")

#: The defaults table, keyed by OSM ``highway`` value.
ROAD_CLASSES: Mapping[str, RoadClass] = {
    rc.osm_class: rc
    for rc in (
        # expressway: urban expressways carry 3 lanes a direction; 80 km/h is CJJ 37's middle speed
        RoadClass("motorway", *_EXPRESSWAY, lanes=3, speed_kph=80.0, saturation_flow_vphpl=None,
                  curb_parking_factor=0.80),
        # ramps (匝道): one lane, 40 km/h ramp design speed
        RoadClass("motorway_link", *_EXPRESSWAY, lanes=1, speed_kph=40.0, curb_parking_factor=0.80),
        # trunk: Chinese national roads (国道) through a district are at-grade expressway-like roads
        RoadClass("trunk", *_EXPRESSWAY, lanes=2, speed_kph=60.0, curb_parking_factor=0.80),
        RoadClass("trunk_link", *_EXPRESSWAY, lanes=1, speed_kph=40.0, curb_parking_factor=0.80),
        RoadClass("primary", *_ARTERIAL, lanes=2, speed_kph=50.0),
        RoadClass("primary_link", *_ARTERIAL, lanes=1, speed_kph=40.0),
        RoadClass("secondary", *_SUB_ARTERIAL, lanes=2, speed_kph=40.0),
        RoadClass("secondary_link", *_SUB_ARTERIAL, lanes=1, speed_kph=30.0),
        RoadClass("tertiary", *_BRANCH, lanes=1, speed_kph=30.0, curb_parking_factor=0.80),
        RoadClass("tertiary_link", *_BRANCH, lanes=1, speed_kph=30.0, curb_parking_factor=0.80),
        RoadClass("unclassified", *_BRANCH, lanes=1, speed_kph=30.0, curb_parking_factor=0.80),
        # residential: 30 km/h, the statutory urban limit on roads without a centre line
        # (道路交通安全法实施条例 §45)
        RoadClass("residential", *_BRANCH, lanes=1, speed_kph=30.0, curb_parking_factor=0.80),
        RoadClass("living_street", *_BRANCH, lanes=1, speed_kph=20.0, curb_parking_factor=0.80),
        # service roads are not in osmnx's "drive" network; kept for graphs built with other filters
        RoadClass("service", *_BRANCH, lanes=1, speed_kph=20.0, curb_parking_factor=0.80),
    )
}  # fmt: skip

#: Keys a scenario may override per class, with the type each must have.
OVERRIDABLE_KEYS: Mapping[str, type] = {
    "lanes": int,
    "speed_kph": float,
    "capacity_vphpl": float,
    "saturation_flow_vphpl": float,
    "curb_parking_factor": float,
    "jam_spacing_m": float,
}

#: Ordering of classes from most to least important (for plots and summaries).
CLASS_ORDER: tuple[str, ...] = tuple(ROAD_CLASSES)


def road_class_table(
    overrides: Mapping[str, Mapping[str, float]] | Mapping[str, RoadClass] | None = None,
) -> dict[str, RoadClass]:
    """Return the defaults table with a scenario's overrides applied (the module table unchanged).

    Parameters
    ----------
    overrides
        ``{osm_class: {key: value}}`` with keys from ``OVERRIDABLE_KEYS``, or a table this
        function returned before (passed through unchanged).

    Returns
    -------
    dict[str, RoadClass]
        A new table.

    Raises
    ------
    ScenarioError
        For an unknown class or key (naming it and listing the valid ones) or an invalid value.
    """
    table = dict(ROAD_CLASSES)
    if not overrides:
        return table
    if _is_table(overrides):
        return {**table, **overrides}
    if not isinstance(overrides, Mapping):
        raise ScenarioError(
            "road-class overrides must be a mapping of class to settings",
            key="network",
            hint="e.g. network: {primary: {lanes: 3, speed_kph: 50}}",
        )
    for osm_class, values in overrides.items():
        if osm_class not in table:
            raise ScenarioError(
                f"unknown road class {osm_class!r}",
                key=f"network.{osm_class}",
                hint=f"use one of: {', '.join(ROAD_CLASSES)}",
            )
        if not isinstance(values, Mapping):
            raise ScenarioError(
                f"overrides for {osm_class!r} must be a mapping of setting to value",
                key=f"network.{osm_class}",
                hint=f"settings: {', '.join(OVERRIDABLE_KEYS)}",
            )
        # Any: the keys are checked against OVERRIDABLE_KEYS and the values by _checked_value, at
        # run time; no static type maps a dynamic key to its field's type for dataclasses.replace
        changes: dict[str, Any] = {}
        for key, value in values.items():
            where = f"network.{osm_class}.{key}"
            if key not in OVERRIDABLE_KEYS:
                raise ScenarioError(
                    f"unknown road-class setting {key!r}",
                    key=where,
                    hint=f"use one of: {', '.join(OVERRIDABLE_KEYS)}",
                )
            changes[key] = _checked_value(key, value, where)
        table[osm_class] = dataclasses.replace(table[osm_class], **changes)
    return table


def _is_table(overrides: object) -> TypeGuard[Mapping[str, RoadClass]]:
    """Whether ``overrides`` is a table :func:`road_class_table` returned (not overrides)."""
    return isinstance(overrides, Mapping) and all(
        isinstance(v, RoadClass) for v in overrides.values()
    )


def _checked_value(key: str, value: object, where: str) -> float | int:
    """Validate one override value: lanes a whole number ≥ 1, everything else finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{key} must be a number, got {value!r}", key=where)
    if OVERRIDABLE_KEYS[key] is int:
        if float(value) != int(value) or int(value) < 1:
            raise ScenarioError(f"{key} must be a whole number ≥ 1, got {value!r}", key=where)
        return int(value)
    if not math.isfinite(value) or value <= 0:
        raise ScenarioError(f"{key} must be a finite number > 0, got {value!r}", key=where)
    if key == "curb_parking_factor" and value > 1:
        raise ScenarioError(f"{key} is a capacity multiplier ≤ 1, got {value!r}", key=where)
    return float(value)


def resolve_road_class(highway: str | Iterable[str] | None) -> str:
    """Map an OSM ``highway`` value to a key of the defaults table.

    Parameters
    ----------
    highway
        A class name, a ``;``-separated OSM list, or a list (osmnx merges ways into lists).
        The first value the table knows wins.

    Returns
    -------
    str
        A key of ``ROAD_CLASSES``; ``FALLBACK_CLASS`` (with a logged warning) when none is known.
    """
    if highway is None:
        candidates: list[str] = []
    elif isinstance(highway, str):
        candidates = [part.strip() for part in highway.split(";")]
    else:
        candidates = [str(part).strip() for part in highway]
    for candidate in candidates:
        if candidate in ROAD_CLASSES:
            return candidate
    logger.warning(
        "road class %r is not in the defaults table; using %r defaults", highway, FALLBACK_CLASS
    )
    return FALLBACK_CLASS
