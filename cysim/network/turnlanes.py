"""Lane use at an approach's stop line: OSM ``turn:lanes`` where tagged, else a default by class.

Which lanes serve which movement decides an approach's lane groups (docs/model.md §4): the
engine queues each group on its own, Webster sizes greens on the busiest group and the degree of
saturation is reported per group. The evidence, in order:

1. **Turn pockets** added by a patch (``pocket_left``/``pocket_right``): the rebuilt approach's
   own lanes carry through traffic, the pockets the turns. A pocket supersedes the map's tag (the
   channelisation redraws the markings).
2. **OSM** ``turn:lanes`` (``:forward``/``:backward`` on two-way roads), kept by
   :mod:`cysim.network.build` as the edge attribute ``turn_lanes`` when it lists one value per lane.
3. **A default per road class and junction type** (:data:`EXCLUSIVE_LEFT_CLASSES`):

   - a signalised approach of a trunk, primary or secondary road with three or more lanes keeps
     its leftmost lane for left turns and U-turns only. GB 50647-2011 (城市道路交叉口规划规范)
     §4.2 asks for exclusive left-turn lanes on the approaches of signal-controlled junctions
     of arterial and sub-arterial roads (clause transcribed offline: check it against the
     text), and Chinese arterials are marked that way;
   - any other multi-lane approach with left turns and other movements: the leftmost lane is
     shared by left turners and through vehicles (HCM's default when lane use is not known). On
     a two-lane approach an exclusive left lane would leave one lane for the through traffic of
     a two-lane road; the standard gets its left lane by widening the approach, which the map
     does not show (a ``channelize`` patch adds it as a pocket);
   - otherwise one group over every lane.

U-turns (the next link returns to the approach's upstream junction) are served from the left
lanes but never make an approach "mixed": on a sketch network every link has a reverse twin, and
counting the U-turn as a left split almost every approach.

The network attribute ``G.graph["lane_groups"]`` switches the evidence: ``"evidence"`` (the
default, the rules above) or ``"none"`` (no split anywhere except patch pockets: sketch networks
converted from models without lane detail).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import networkx as nx

from .._errors import MapError
from .turns import LEFT, RIGHT, THROUGH, is_u_turn, turn_kind

__all__ = [
    "EXCLUSIVE_LEFT_CLASSES",
    "EXCLUSIVE_LEFT_MIN_LANES",
    "LANE_GROUP_MODES",
    "LaneUse",
    "approach_lane_use",
    "exclusive_left_lanes",
    "is_u_turn",
    "lane_group_mode",
    "lane_use",
    "lane_use_counts",
    "parse_turn_lanes",
]

#: Values of ``G.graph["lane_groups"]``.
LANE_GROUP_MODES: tuple[str, ...] = ("evidence", "none")

#: Road classes whose signalised approaches of :data:`EXCLUSIVE_LEFT_MIN_LANES` or more lanes
#: get an exclusive left lane by default (GB 50647-2011 §4.2: arterial and sub-arterial
#: approaches at signal-controlled junctions).
EXCLUSIVE_LEFT_CLASSES: frozenset[str] = frozenset({"trunk", "primary", "secondary"})
#: Fewest lanes for the exclusive-left default: two or more stay for the through traffic.
EXCLUSIVE_LEFT_MIN_LANES: int = 3

#: OSM ``turn:lanes`` values and the movement each stands for (``reverse``: a U-turn, left).
_OSM_TURNS: dict[str, int] = {
    "left": LEFT,
    "slight_left": LEFT,
    "sharp_left": LEFT,
    "reverse": LEFT,
    "through": THROUGH,
    "none": THROUGH,
    "": THROUGH,
    "merge_to_left": THROUGH,
    "merge_to_right": THROUGH,
    "right": RIGHT,
    "slight_right": RIGHT,
    "sharp_right": RIGHT,
}


@dataclass(frozen=True)
class LaneUse:
    """How an approach's own lanes are split into lane groups (pockets come on top).

    Attributes
    ----------
    through_lanes
        Lanes of the main group: through traffic, and right turns when ``right_lanes`` is 0.
    left_lanes
        Lanes that serve left turns and U-turns apart from the main group (0: they use it).
    left_shared
        The left lanes take through vehicles too (a shared left/through lane).
    right_lanes
        Exclusive right-turn lanes (0: right turns use the main group).
    rule
        Where the split comes from: ``"pocket"``, ``"osm"``, ``"exclusive_left"`` (the GB 50647
        default), ``"shared_left"`` (the HCM default), ``"one_group"`` or ``"none"`` (switched
        off); ``"osm_misfit"`` when a tag did not fit the lanes or movements and the default
        was used.
    """

    through_lanes: int
    left_lanes: int = 0
    left_shared: bool = False
    right_lanes: int = 0
    rule: str = "one_group"


def lane_group_mode(G: nx.MultiDiGraph) -> str:
    """The network's ``lane_groups`` mode (``"evidence"`` when not set).

    Raises
    ------
    MapError
        The graph attribute holds another value.
    """
    mode = str(G.graph.get("lane_groups", "evidence") or "evidence")
    if mode not in LANE_GROUP_MODES:
        raise MapError(
            f"graph attribute lane_groups={mode!r} is not one of {', '.join(LANE_GROUP_MODES)}",
            key="lane_groups",
            hint="set network.lane_groups to 'evidence' or 'none' in the scenario",
        )
    return mode


def parse_turn_lanes(value: str) -> list[frozenset[int]] | None:
    """Movements per lane, left to right, of an OSM ``turn:lanes`` value.

    ``"left|through|through;right"`` → ``[{LEFT}, {THROUGH}, {THROUGH, RIGHT}]``. None when a
    value is not an OSM turn value (the tag is then ignored, not guessed).
    """
    if not value or not value.strip():
        return None
    lanes: list[frozenset[int]] = []
    for lane in value.split("|"):
        kinds = set()
        for part in lane.split(";"):
            kind = _OSM_TURNS.get(part.strip().lower())
            if kind is None:
                return None
            kinds.add(kind)
        lanes.append(frozenset(kinds))
    return lanes


def lane_use(
    data: dict[str, Any],
    kinds: list[int],
    *,
    signalised: bool,
    mode: str = "evidence",
) -> LaneUse:
    """Split an approach's lanes into lane groups.

    Parameters
    ----------
    data
        The approach edge's attributes (``lanes``, ``highway``, pockets, ``turn_lanes``).
    kinds
        Movement kind (``THROUGH``, ``LEFT``, ``RIGHT``) of each movement out of the approach,
        U-turns left out.
    signalised
        Whether the approach ends at a signal.
    mode
        ``"evidence"`` or ``"none"`` (see the module docstring).

    Returns
    -------
    LaneUse
    """
    lanes = int(data["lanes"])
    if int(data.get("pocket_left", 0) or 0) or int(data.get("pocket_right", 0) or 0):
        return LaneUse(lanes, rule="pocket")
    if mode == "none":
        return LaneUse(lanes, rule="none")
    tagged = parse_turn_lanes(str(data.get("turn_lanes", "") or ""))
    misfit = False
    if tagged is not None:
        use = _from_tag(tagged, lanes, kinds)
        if use is not None:
            return use
        misfit = True
    use = _default(data, lanes, kinds, signalised)
    return LaneUse(use.through_lanes, use.left_lanes, use.left_shared, use.right_lanes,
                   "osm_misfit" if misfit else use.rule)  # fmt: skip


def _from_tag(tagged: list[frozenset[int]], lanes: int, kinds: list[int]) -> LaneUse | None:
    """The tag's split, or None when it does not fit the approach (lane count or movements)."""
    if len(tagged) != lanes:
        return None  # a patch widened the road, or the tag counts lanes of both directions
    left_only = sum(1 for lane in tagged if lane == {LEFT})
    right_only = sum(1 for lane in tagged if lane == {RIGHT})
    shared_left = sum(1 for lane in tagged if LEFT in lane and len(lane) > 1)
    through = lanes - left_only - right_only
    if THROUGH in kinds and not any(THROUGH in lane for lane in tagged):
        return None  # the junction has a through movement no lane serves
    if left_only:
        left, shared = left_only, False
    elif shared_left and through > shared_left:
        left, shared, through = shared_left, True, through - shared_left
    else:
        left, shared = 0, False
    right = right_only
    if through == 0:  # only turn lanes: the right (or left) lanes become the main group
        through, right = (right, 0) if right else (left, 0)
        if not right_only:
            left, shared = 0, False
    return LaneUse(through, left, shared, right, "osm")


def _default(data: dict[str, Any], lanes: int, kinds: list[int], signalised: bool) -> LaneUse:
    mixed = LEFT in kinds and any(k != LEFT for k in kinds)
    if lanes < 2 or not mixed:
        return LaneUse(lanes, rule="one_group")
    arterial = str(data.get("highway", "")) in EXCLUSIVE_LEFT_CLASSES
    if signalised and arterial and lanes >= EXCLUSIVE_LEFT_MIN_LANES:
        return LaneUse(lanes - 1, 1, False, 0, "exclusive_left")
    return LaneUse(lanes - 1, 1, True, 0, "shared_left")


def approach_lane_use(G: nx.MultiDiGraph, approach: tuple[Any, Any, Any]) -> LaneUse:
    """:func:`lane_use` of one edge of ``G``, its movements classed from the geometry."""
    v = approach[1]
    kinds = [
        turn_kind(G, approach, out)
        for out in G.out_edges(v, keys=True)
        if not is_u_turn(approach, out)
    ]
    return lane_use(
        G.edges[approach],
        kinds,
        signalised=bool(G.nodes[v].get("signal", False)),
        mode=lane_group_mode(G),
    )


def exclusive_left_lanes(G: nx.MultiDiGraph, approach: tuple[Any, Any, Any]) -> int:
    """Lanes that hold an approach's left turns apart from through traffic (0: none).

    A patch's left pocket, else marked or default exclusive left lanes: what a protected left
    phase needs (a left turn in a shared lane cannot stop while the through traffic goes).
    """
    pocket = int(G.edges[approach].get("pocket_left", 0) or 0)
    if pocket:
        return pocket
    use = approach_lane_use(G, approach)
    return 0 if use.left_shared else use.left_lanes


def lane_use_counts(G: nx.MultiDiGraph) -> dict[str, int]:
    """How many approaches (edges into a junction with more than one way on) got each rule."""
    counts: Counter[str] = Counter()
    for e in G.edges(keys=True):
        if G.out_degree(e[1]) > 0:
            counts[approach_lane_use(G, e).rule] += 1
    return dict(sorted(counts.items()))
