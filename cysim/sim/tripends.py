"""Trip starts and ends: departures, entry from a node onto a first link, arrival and parking.

Vehicles depart in order of departure time (a SimPy process) and queue to enter their first
link from its upstream node (one *source* server per link, armed while it has vehicles). At
the end of its path a vehicle leaves through the link's exit group: it arrives, or the parking
model sends it cruising to the next facility, a new leg entered like a first link.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any, NamedTuple

import simpy

from .fleet import Counters, Fleet, Traversals
from .linkspace import LinkAccess
from .netarrays import NetArrays
from .service import LaneGroups
from .simpy_adapter import Server, Wake, WakeEnvironment

__all__ = ["ParkingHook", "TripEnds", "trip_ends"]


class ParkingHook:
    """What the engine asks parking at trip ends (see :mod:`cysim.sim.parking`)."""

    def on_departure(self, vehicle: int, time_s: float) -> list[int] | None:  # pragma: no cover
        """A new path for a guided vehicle, or None to keep its route."""
        return None

    def on_arrival(self, vehicle: int, node: int, time_s: float) -> list[int] | None:
        """Links to cruise to the next facility, or None when the vehicle has parked."""
        return None  # pragma: no cover

    def trip_end_node(self, vehicle: int) -> int:
        """Node index where ``vehicle``'s trip ends (used when its origin equals it)."""
        raise NotImplementedError  # pragma: no cover


class TripEnds(NamedTuple):
    """The servers and the process of trip starts and ends (see :func:`trip_ends`)."""

    #: ``serve_source(server)``: vehicles entering link ``server - n_groups`` from its node
    serve_source: Server
    #: ``serve_exit(g)``: vehicles of exit group ``g`` ending their trip or leg
    serve_exit: Server
    #: ``departures()``: the SimPy process generator releasing vehicles at their departure
    departures: Callable[[], Generator[simpy.Event, Any, None]]


def trip_ends(  # noqa: C901 - builds hot-path closures; McCabe counts them in
    net: NetArrays,
    env: WakeEnvironment,
    wake: Wake,
    *,
    departure_s: list[float],
    fleet: Fleet,
    log: Traversals,
    counters: Counters,
    groups: LaneGroups,
    access: LinkAccess,
    enter: Callable[[int, int, float], None],
    parking: ParkingHook | None,
    leg_end_rows: list[int],
    eps: float,
) -> TripEnds:
    """The servers of trip starts and ends.

    Parameters
    ----------
    net
        The network arrays.
    env, wake
        The run's environment and its wake scheduler.
    departure_s
        Departure time per vehicle.
    fleet, log, counters
        The vehicles, their traversal records and the run's counts.
    groups
        The lane groups (an exit group's queue).
    access
        The links' operations (``gate`` at entry, ``leave`` at exit).
    enter
        ``enter(v, link, now)`` (:func:`cysim.sim.service.link_entry`).
    parking
        Parking model consulted at departure and at trip ends, or None (trips end at the node).
    leg_end_rows
        Filled with the traversal rows after which a vehicle cruised on to another facility.
    eps
        Float tolerance for comparing event times, s.

    Returns
    -------
    TripEnds
    """
    EPS = eps
    n_groups = len(net.group_link)
    ff = net.freeflow_s
    group_link = net.group_link
    link_v = net.link_v
    paths = fleet.paths
    pos = fleet.pos
    entry = fleet.entry
    cur_rec = fleet.cur_rec
    arrival = fleet.arrival
    departed = fleet.departed
    first_entered = fleet.first_entered
    rec_exit = log.exit_s
    queues = groups.queues
    armed = groups.armed
    gate = access.gate
    leave = access.leave
    # vehicles waiting to enter a link from its upstream node; a link's deque exists while its
    # source server is armed (from the first vehicle to the last one entering)
    source_q: dict[int, deque[int]] = {}

    def to_source(v: int, link: int) -> None:
        """Queue ``v`` to enter ``link`` from its upstream node (arming the link's source)."""
        sq = source_q.get(link)
        if sq is None:
            source_q[link] = deque((v,))
            wake(n_groups + link, 0.0)
        else:
            sq.append(v)

    def serve_source(server: int) -> None:
        """Vehicles entering their first link (or a cruise leg) from the node."""
        link = server - n_groups
        sq = source_q.get(link)
        if sq is None:
            return  # a second wake after the queue emptied
        now = env.now  # no time passes within a call: read the clock once
        while sq:
            if not gate(link, now, server):
                return
            v = sq.popleft()
            if not first_entered[v]:
                first_entered[v] = True
                counters.waiting -= 1
                counters.in_network += 1
            counters.last_move_s = now
            enter(v, link, now)
        del source_q[link]

    def serve_exit(g: int) -> None:
        """Vehicles of exit group ``g`` ending their trip (or a cruise leg) at the link's end."""
        q = queues[g]
        link = group_link[g]
        f = ff[link]
        now = env.now  # no time passes within a call: read the clock once
        while q:
            v = q[0]
            t = entry[v] + f
            if now < t - EPS:
                wake(g, t - now)
                return
            del q[0]
            rec_exit[cur_rec[v]] = now
            leave(link, now)
            counters.last_move_s = now
            cruise = parking.on_arrival(v, link_v[link], now) if parking is not None else None
            if cruise:
                leg_end_rows.append(cur_rec[v])
                paths[v] = cruise
                pos[v] = 0
                to_source(v, cruise[0])
            else:
                arrival[v] = now
                counters.in_network -= 1
                counters.arrived += 1
        armed[g] = False

    order = sorted(range(len(paths)), key=lambda i: (departure_s[i], i))

    def departures() -> Generator[simpy.Event, Any, None]:
        """Release every routed vehicle at its departure time, in order (ties by index)."""
        for v in order:
            t = departure_s[v]
            if paths[v] is None:
                continue
            now = env.now
            if t > now:
                yield env.timeout(t - now)
                now = env.now
            departed[v] = True
            counters.departed += 1
            if parking is not None:
                guided = parking.on_departure(v, now)
                if guided is not None:
                    paths[v] = guided
            path = paths[v]
            if not path:
                # origin = destination: the trip ends where it starts and parks there like any
                # other trip, so it may have to cruise to the next facility
                cruise = None
                if parking is not None:
                    cruise = parking.on_arrival(v, parking.trip_end_node(v), now)
                if not cruise:
                    arrival[v] = now
                    counters.arrived += 1
                    continue
                paths[v] = path = cruise
            counters.waiting += 1
            to_source(v, path[0])

    return TripEnds(serve_source=serve_source, serve_exit=serve_exit, departures=departures)
