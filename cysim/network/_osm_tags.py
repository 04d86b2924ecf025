"""Parse the OSM way tags cysim needs: lanes per direction, maxspeed, oneway, curb parking."""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import osmnx as ox


class OSMTagWarning(UserWarning):
    """A tag value could not be understood; the class default is used instead."""


#: Way tags osmnx must keep as edge attributes for cysim (``ox.settings.useful_tags_way``).
WAY_TAGS: tuple[str, ...] = (
    "highway",
    "name",
    "name:en",
    "ref",
    "oneway",
    "junction",
    "lanes",
    "lanes:forward",
    "lanes:backward",
    "lanes:both_ways",
    "maxspeed",
    "maxspeed:forward",
    "maxspeed:backward",
    "access",
    "motor_vehicle",
    "motorcar",
    "area",
    "service",
    "bridge",
    "tunnel",
    "layer",
    "parking:lane:both",
    "parking:lane:left",
    "parking:lane:right",
    "parking:both",
    "parking:left",
    "parking:right",
    "turn:lanes",
    "turn:lanes:forward",
    "turn:lanes:backward",
)
#: Node tags osmnx must keep (``highway=traffic_signals`` marks signals).
NODE_TAGS: tuple[str, ...] = ("highway", "junction", "ref", "traffic_signals")

#: Tags whose values decide a link's attributes; ways that differ in them stay separate links.
#: ``name:en`` is left out: a translation tagged on some ways of a road only must not split it
#: into more links (the graph stays the one cysim built before it kept ``name:en``).
LINK_TAGS: tuple[str, ...] = tuple(
    t for t in WAY_TAGS if t not in {"bridge", "tunnel", "layer", "name:en"}
)

_ONEWAY_FORWARD = {"yes", "true", "1"}
_ONEWAY_REVERSE = {"-1", "reverse"}
_ONEWAY_NO = {"no", "false", "0", ""}

# Curb-parking values that put parked cars on the carriageway (old scheme parking:lane:*,
# new scheme parking:* = lane / half_on_kerb); on_kerb, street_side (bays), no, separate do not.
_PARKING_ON_CARRIAGEWAY = {
    "parallel",
    "diagonal",
    "perpendicular",
    "marked",
    "lane",
    "half_on_kerb",
    "yes",
}

_SPEED_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?$")
_UNIT_TO_KPH = {None: 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}


@contextlib.contextmanager
def useful_tags() -> Iterator[None]:
    """Make osmnx keep the way and node tags cysim parses, restoring its settings afterwards.

    osmnx reads ``ox.settings.useful_tags_way``/``useful_tags_node`` when it builds a graph;
    this sets them for the duration of a ``with`` block only, so nothing leaks into the caller's
    osmnx configuration.
    """
    saved_way = ox.settings.useful_tags_way
    saved_node = ox.settings.useful_tags_node
    ox.settings.useful_tags_way = sorted(set(saved_way) | set(WAY_TAGS))
    ox.settings.useful_tags_node = sorted(set(saved_node) | set(NODE_TAGS))
    try:
        yield
    finally:
        ox.settings.useful_tags_way = saved_way
        ox.settings.useful_tags_node = saved_node


def _first(value: Any) -> Any:
    """The first element when osmnx gives a list, otherwise the value itself."""
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def parse_oneway(value: Any) -> int:
    """Parse an OSM ``oneway`` value.

    Parameters
    ----------
    value
        ``"yes"``, ``"true"``, ``"1"`` (forward), ``"-1"``, ``"reverse"`` (against the way's
        direction), ``"no"``, ``"false"``, ``"0"``, missing (two-way). Python bools as well.

    Returns
    -------
    int
        ``1`` forward only, ``-1`` backward only, ``0`` both directions. Anything else
        (``"reversible"``, ``"alternating"``, junk) counts as two-way with an ``OSMTagWarning``.
    """
    value = _first(value)
    if _is_missing(value):
        return 0
    if isinstance(value, bool):
        return 1 if value else 0
    text = str(value).strip().lower()
    if text in _ONEWAY_FORWARD:
        return 1
    if text in _ONEWAY_REVERSE:
        return -1
    if text not in _ONEWAY_NO:
        warnings.warn(
            f"oneway={value!r} not understood; treated as two-way", OSMTagWarning, stacklevel=2
        )
    return 0


def parse_lane_count(value: Any) -> int | None:
    """Parse a lane count (``"2"``, ``" 3 "``, ``"2.0"``, ``"2;3"`` → the smallest).

    Parameters
    ----------
    value
        A tag value.

    Returns
    -------
    int or None
        A whole number ≥ 1, or None when missing or not a positive whole number.
    """
    value = _first(value)
    if _is_missing(value):
        return None
    counts = []
    for part in str(value).replace("|", ";").split(";"):
        try:
            number = float(part.strip())
        except ValueError:
            return None
        if not math.isfinite(number) or number < 1 or number != int(number):
            return None
        counts.append(int(number))
    return min(counts) if counts else None


def turn_lanes_for_direction(tags: Mapping[str, Any], oneway: bool, reverse: bool) -> str:
    """The OSM ``turn:lanes`` value of one direction of travel of a way (``""`` when untagged).

    One-way roads: ``turn:lanes`` (else ``turn:lanes:forward``). Two-way roads:
    ``turn:lanes:forward`` or ``turn:lanes:backward`` for the direction; a plain ``turn:lanes``
    on a two-way road is ambiguous and ignored. :mod:`cysim.network.turnlanes` reads the value.
    """
    if oneway:
        keys: tuple[str, ...] = ("turn:lanes", "turn:lanes:forward")
    else:
        keys = ("turn:lanes:backward",) if reverse else ("turn:lanes:forward",)
    for key in keys:
        value = tags.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def lanes_per_direction(
    tags: Mapping[str, Any],
    oneway: bool,
    reverse: bool,
    default_lanes: int,
) -> tuple[int, bool]:
    """Lanes in one direction of travel of an OSM way.

    Parameters
    ----------
    tags
        The way's tags (``lanes``, ``lanes:forward``, ``lanes:backward``, ``lanes:both_ways``).
    oneway
        The way is one-way (all its lanes go the direction of travel).
    reverse
        This direction runs against the way's node order (uses ``lanes:backward``).
    default_lanes
        The class default, used when the tags give no usable count.

    Returns
    -------
    tuple[int, bool]
        ``(lanes, defaulted)``; ``lanes`` ≥ 1, ``defaulted`` True when the default was used.

    Notes
    -----
    Two-way roads: the direction's own ``lanes:forward``/``lanes:backward`` wins; else the total
    minus the other direction's count; else the total (less a ``lanes:both_ways`` centre lane)
    split evenly, rounding down, at least one lane: an odd total gives the extra lane to neither
    direction, since only ``lanes:forward`` can say which way it goes. One-way roads: the total,
    else whichever of ``lanes:forward``/``lanes:backward`` is given. Junk values (``"two"``,
    ``"0"``, ``"-1"``) are ignored with an ``OSMTagWarning``.
    """
    total = _lane_tag(tags, "lanes")
    forward = _lane_tag(tags, "lanes:forward")
    backward = _lane_tag(tags, "lanes:backward")
    if oneway:
        own, other = (backward, forward) if reverse else (forward, backward)
        for count in (total, own, other):
            if count is not None:
                return count, False
        return max(1, int(default_lanes)), True
    own, other = (backward, forward) if reverse else (forward, backward)
    if own is not None:
        return own, False
    if total is not None:
        if other is not None and total - other >= 1:
            return total - other, False
        centre = _lane_tag(tags, "lanes:both_ways") or 0
        through = total - centre if total - centre >= 1 else total
        return max(1, through // 2), False
    return max(1, int(default_lanes)), True


def _lane_tag(tags: Mapping[str, Any], key: str) -> int | None:
    """One lane-count tag, warning on a value present but unusable."""
    raw = tags.get(key)
    if _is_missing(_first(raw)):
        return None
    count = parse_lane_count(raw)
    if count is None:
        warnings.warn(
            f"{key}={raw!r} is not a lane count; using the class default",
            OSMTagWarning,
            stacklevel=3,
        )
    return count


def parse_maxspeed(value: Any) -> float | None:
    """Parse an OSM ``maxspeed`` value to km/h.

    Parameters
    ----------
    value
        ``"50"``, ``"50 km/h"``, ``"30 mph"``, ``"10 knots"``, or a list ``"50;60"`` (the
        smallest value is taken: the lower limit binds on part of the way or at some times).

    Returns
    -------
    float or None
        km/h > 0; None when missing, and None with an ``OSMTagWarning`` for values that name no
        number: zone codes (``"RU:urban"``, ``"CN:urban"``), ``"none"``, ``"signals"``, ``"walk"``,
        junk. The caller then uses the class default.
    """
    value = _first(value)
    if _is_missing(value) or str(value).strip() == "":
        return None
    speeds = []
    for part in str(value).split(";"):
        match = _SPEED_RE.match(part.strip().lower())
        if match is None:
            warnings.warn(
                f"maxspeed={value!r} is not a speed; using the class default",
                OSMTagWarning,
                stacklevel=2,
            )
            return None
        speed = float(match.group(1)) * _UNIT_TO_KPH[match.group(2)]
        if speed <= 0:
            warnings.warn(
                f"maxspeed={value!r} is not positive; using the class default",
                OSMTagWarning,
                stacklevel=2,
            )
            return None
        speeds.append(speed)
    return min(speeds)


def maxspeed_for_direction(tags: Mapping[str, Any], reverse: bool) -> Any:
    """The raw maxspeed tag for one direction: ``maxspeed:forward|backward`` before ``maxspeed``."""
    directional = tags.get("maxspeed:backward" if reverse else "maxspeed:forward")
    if not _is_missing(_first(directional)):
        return directional
    return tags.get("maxspeed")


def curb_parking(tags: Mapping[str, Any], oneway: bool, reverse: bool) -> bool:
    """Whether parked cars occupy the curb lane of one direction of travel.

    Parameters
    ----------
    tags
        The way's tags: ``parking:lane:both|left|right`` (old scheme) or
        ``parking:both|left|right`` (current scheme).
    oneway
        One-way road: parking on either side takes a lane of the only direction.
    reverse
        This direction runs against the way's node order. With right-hand traffic (China) the
        right side is the curb of the forward direction and the left side that of the backward one.

    Returns
    -------
    bool
        True for ``parallel``, ``diagonal``, ``perpendicular``, ``marked``, ``lane``,
        ``half_on_kerb``; False for ``no``, ``separate``, ``on_kerb``, ``street_side`` or no tag.
    """
    sides = ("left", "right") if oneway else (("left",) if reverse else ("right",))
    for side in sides:
        for scheme in ("parking:lane", "parking"):
            value = tags.get(f"{scheme}:{side}")
            if _is_missing(_first(value)):
                value = tags.get(f"{scheme}:both")
            value = _first(value)
            if not _is_missing(value) and str(value).strip().lower() in _PARKING_ON_CARRIAGEWAY:
                return True
    return False
