"""The vehicles of one engine run: where each one is, the traversals it made, the run's counts.

Plain lists indexed by vehicle, read and written by the engine's parts (:mod:`.service`,
:mod:`.tripends`, :mod:`.monitor`) through local bindings: the hot loops never look an
attribute up per vehicle.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

__all__ = ["Counters", "Fleet", "Traversals"]


@dataclass(eq=False)
class Fleet:
    """Per-vehicle state, indexed by vehicle.

    Attributes
    ----------
    paths
        Link path per vehicle (``None``: unrouted). The caller's path lists are read, never
        copied (8 B per trip-link); the outer list is a copy because parking replaces a
        vehicle's path with its cruise or guided route.
    pos
        Index in its path of the link the vehicle is on (or waits to enter); a position past the
        last link means the exit to the trip end (movement key -1).
    entry
        When it entered its current link, s.
    cur_rec
        Row of its current traversal in :class:`Traversals` (-1: none yet).
    arrival
        When it arrived at its trip end, s (NaN: not yet).
    departed, first_entered
        Whether it has departed, and whether it has entered its first link.
    """

    paths: list[list[int] | None]
    pos: list[int]
    entry: list[float]
    cur_rec: list[int]
    arrival: list[float]
    departed: list[bool]
    first_entered: list[bool]

    @classmethod
    def at_start(cls, paths: list[list[int] | None]) -> Fleet:
        """Vehicles of ``paths``, none departed."""
        n = len(paths)
        return cls(
            paths=list(paths),
            pos=[0] * n,
            entry=[0.0] * n,
            cur_rec=[-1] * n,
            arrival=[math.nan] * n,
            departed=[False] * n,
            first_entered=[False] * n,
        )

    def waiting_to_enter(self) -> list[bool]:
        """Per vehicle: departed, not arrived and not yet on its first link."""
        return [
            dep and not first and math.isnan(arr)
            for dep, first, arr in zip(self.departed, self.first_entered, self.arrival, strict=True)
        ]

    def open_heads(self) -> dict[int, tuple[int, int]]:
        """Per vehicle departed and not arrived: the movement it is queued for.

        That is its link and the next one of its path (-1: the link ends it).
        """
        heads = {}
        for v in range(len(self.paths)):
            if self.departed[v] and math.isnan(self.arrival[v]):
                path = self.paths[v]
                assert path is not None  # a departed vehicle has a path
                p = self.pos[v]
                heads[v] = (path[p], path[p + 1] if p + 1 < len(path) else -1)
        return heads


@dataclass(eq=False)
class Traversals:
    """One row per traversal of a link, in four typed columns.

    A row takes 28 bytes, handed to numpy without a copy. The vehicle column is int64 because the
    results turn it into the int64
    trip-id column in place (:func:`cysim.sim.records.to_result`), not by a copy.

    Attributes
    ----------
    trip, link
        Vehicle and link of the row.
    entry_s, exit_s
        Entry and exit times, s (exit NaN while the vehicle is on the link).
    """

    trip: array[int] = field(default_factory=lambda: array("q"))
    link: array[int] = field(default_factory=lambda: array("i"))
    entry_s: array[float] = field(default_factory=lambda: array("d"))
    exit_s: array[float] = field(default_factory=lambda: array("d"))


@dataclass(eq=False, slots=True)
class Counters:
    """Network-wide counts of the run (sampled by the monitor).

    Attributes
    ----------
    last_move_s
        Last entry of a vehicle onto a link from a node or exit at its trip end (discharges
        between links are in the links' last exits).
    in_network, waiting, arrived, departed
        Vehicles on links, waiting to enter their first link, arrived, departed.
    """

    last_move_s: float = 0.0
    in_network: int = 0
    waiting: int = 0
    arrived: int = 0
    departed: int = 0
