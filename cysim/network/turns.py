"""Movement kinds at a junction from the road geometry: bearings and through, left, right.

The one place a movement is classed: signal phases (:mod:`cysim.control.signals`), lane use
(:mod:`cysim.network.turnlanes`), the engine's movements and the reports all read it from here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import networkx as nx
import numpy as np

__all__ = [
    "LEFT",
    "RIGHT",
    "THROUGH",
    "Approach",
    "approach_bearing",
    "bearing_stretch_m",
    "departure_bearing",
    "edge_bearings",
    "is_u_turn",
    "turn_kind",
    "turn_kind_of_change",
    "turn_threshold_deg",
]

Approach = tuple[int, int, int]

#: Turn kinds of a movement.
THROUGH, LEFT, RIGHT = 0, 1, 2
#: A bearing change above this many degrees is a turn (else through).
turn_threshold_deg: float = 45.0


#: Length (m) of the stretch of an edge whose direction is its approach (or departure) bearing at
#: a junction: the chord from the point this far back along the geometry to the junction (the
#: whole edge when shorter). Tens of metres, so the few-metre kink that junction consolidation
#: adds towards the merged centre (docs/model.md §3) does not decide the bearing.
bearing_stretch_m: float = 30.0


def _stretch_bearing(G: nx.MultiDiGraph, u: int, v: int, k: int, *, at_end: bool) -> float:
    """Compass bearing (degrees) of the chord over ``bearing_stretch_m`` at one end of an edge.

    ``at_end``: the stretch ending at ``v``, else the one starting at ``u``. Without a usable
    geometry, the straight line u → v.
    """
    geom = G.edges[u, v, k].get("geometry")
    if geom is not None and geom.length > 0:
        stretch = min(bearing_stretch_m, geom.length)
        if at_end:
            point = geom.interpolate(geom.length - stretch)
            (x0, y0), (x1, y1) = (point.x, point.y), geom.coords[-1][:2]
        else:
            point = geom.interpolate(stretch)
            (x0, y0), (x1, y1) = geom.coords[0][:2], (point.x, point.y)
        if math.hypot(x1 - x0, y1 - y0) > 1e-6:  # else a loop: use its end nodes
            return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0
    x0, y0 = G.nodes[u]["x"], G.nodes[u]["y"]
    x1, y1 = G.nodes[v]["x"], G.nodes[v]["y"]
    return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0


def approach_bearing(G: nx.MultiDiGraph, u: int, v: int, k: int) -> float:
    """Bearing (degrees, 0 = north, clockwise) of travel on ``(u, v, k)`` as it reaches ``v``.

    The chord from the point ``bearing_stretch_m`` back along the edge geometry (its start when
    the edge is shorter) to ``v``; the straight line u → v without a geometry.
    """
    return _stretch_bearing(G, u, v, k, at_end=True)


def departure_bearing(G: nx.MultiDiGraph, u: int, v: int, k: int) -> float:
    """Compass bearing (degrees) of travel on edge ``(u, v, k)`` as it leaves ``u``.

    The chord from ``u`` to the point ``bearing_stretch_m`` along the edge geometry (its end
    when the edge is shorter); the straight line u → v without a geometry.
    """
    return _stretch_bearing(G, u, v, k, at_end=False)


def is_u_turn(e_in: Approach, e_out: Approach) -> bool:
    """Whether ``e_in`` → ``e_out`` returns to the junction it came from."""
    return e_out[1] == e_in[0]


def turn_kind(G: nx.MultiDiGraph, e_in: Approach, e_out: Approach) -> int:
    """Classify ``e_in`` → ``e_out`` as ``THROUGH``, ``LEFT`` or ``RIGHT`` by bearing change.

    U-turns count as left (right-hand traffic).
    """
    change = departure_bearing(G, *e_out) - approach_bearing(G, *e_in)
    return turn_kind_of_change(change, is_u_turn(e_in, e_out))


def turn_kind_of_change(change_deg: float, u_turn: bool) -> int:
    """The turn kind of a bearing change (departure − approach, degrees; any range).

    Parameters
    ----------
    change_deg
        Departure bearing minus approach bearing.
    u_turn
        Whether the movement returns to the junction it came from (always ``LEFT``).

    Returns
    -------
    int
        ``THROUGH``, ``LEFT`` or ``RIGHT``.
    """
    change = (change_deg + 180.0) % 360.0 - 180.0
    if u_turn or abs(change) > 150.0:
        return LEFT
    if change > turn_threshold_deg:
        return RIGHT
    if change < -turn_threshold_deg:
        return LEFT
    return THROUGH


def edge_bearings(G: nx.MultiDiGraph, edges: Sequence[Approach]) -> tuple[np.ndarray, np.ndarray]:
    """Approach and departure bearing of every edge, each computed once.

    For classing every movement of a network: a movement's turn kind needs its two links'
    bearings, and a link takes part in several movements.

    Parameters
    ----------
    G
        The network.
    edges
        ``(u, v, key)`` per edge.

    Returns
    -------
    (approach, departure)
        Degrees (:func:`approach_bearing`, :func:`departure_bearing`), aligned with ``edges``.
    """
    approach = np.array([approach_bearing(G, *e) for e in edges], dtype=float)
    departure = np.array([departure_bearing(G, *e) for e in edges], dtype=float)
    return approach, departure
