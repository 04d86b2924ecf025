"""One simulation run: SimPy processes per lane group moving vehicle ids through link queues."""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from .netarrays import NetArrays

#: Float tolerance for comparing event times, seconds.
EPS = 1e-9
#: Time constant of the major-road flow estimate at unsignalised junctions, seconds.
major_flow_window_s: float = 300.0


class ParkingHook:
    """What the engine asks parking at trip ends (see :mod:`cysim.sim.parking`)."""

    def on_departure(self, vehicle: int, time_s: float) -> list[int] | None:  # pragma: no cover
        """A new path for a guided vehicle, or None to keep its route."""
        return None

    def on_arrival(self, vehicle: int, node: int, time_s: float) -> list[int] | None:
        """Links to cruise to the next facility, or None when the vehicle has parked."""
        return None  # pragma: no cover


@dataclass
class RunRecords:
    """Compact arrays one run produces (turned into frames by :mod:`cysim.sim.records`)."""

    trav_trip: np.ndarray
    trav_link: np.ndarray
    trav_entry_s: np.ndarray
    trav_exit_s: np.ndarray
    arrival_s: np.ndarray
    on_link: np.ndarray  # link a vehicle is on at the end (-1 none)
    waiting: np.ndarray  # waiting to enter its first link at the end
    departed: np.ndarray
    sample_time_s: np.ndarray
    queue_veh: np.ndarray
    occupancy_veh: np.ndarray
    blocked: np.ndarray
    net_samples: dict[str, np.ndarray]
    gridlock: dict = field(default_factory=dict)
    end_s: float = 0.0


def run(
    net: NetArrays,
    paths: list[list[int] | None],
    departure_s: list[float],
    *,
    end_s: float,
    sample_interval_s: float,
    gridlock_timeout_s: float,
    critical_gap_s: float,
    follow_up_s: float,
    sample_factor: float = 1.0,
    parking: ParkingHook | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> RunRecords:
    """Simulate vehicles along fixed link paths.

    Parameters
    ----------
    net
        The network arrays.
    paths
        Link indices per vehicle from origin to destination; ``None`` = unrouted (never departs);
        ``[]`` = origin equals destination (arrives at departure).
    departure_s
        Departure time per vehicle, non-decreasing order not required.
    end_s
        Simulation end time.
    sample_interval_s
        Sampling interval for link and network state.
    gridlock_timeout_s
        No vehicle moves for this long with vehicles present ⇒ gridlock; the run stops.
    critical_gap_s, follow_up_s
        Gap acceptance of minor-road movements at unsignalised junctions (HCM two-way stop).
    sample_factor
        Share of vehicles simulated (used to un-scale measured major flows).
    parking
        Parking model consulted at departure and at trip ends, or None (trips end at the node).
    progress
        Called as ``progress("simulate", fraction)`` at every sample.

    Returns
    -------
    RunRecords
    """
    env = simpy.Environment()
    n_links = net.n_links
    n_groups = len(net.group_link)
    n_veh = len(paths)
    ff = net.freeflow_s
    cap = net.storage_cap
    inflow_h = net.inflow_headway_s
    wave = net.wave_delay_s
    group_of = net.group_of
    link_v = net.link_v

    used = [0] * n_links  # vehicles on the link + freed slots not yet usable upstream
    onlink = [0] * n_links
    pending: list[deque[float]] = [deque() for _ in range(n_links)]
    next_in = [0.0] * n_links
    space_waiters: list[list[simpy.Event]] = [[] for _ in range(n_links)]
    queues: list[deque[int]] = [deque() for _ in range(n_groups)]
    wake: list[simpy.Event | None] = [None] * n_groups
    next_free = [0.0] * n_groups
    source_q: dict[int, deque[int]] = {}
    source_wake: dict[int, simpy.Event | None] = {}
    n_nodes = len(net.nodes)
    has_minor = [False] * n_nodes
    for g in range(n_groups):
        if net.group_minor[g]:
            has_minor[net.group_node[g]] = True
    major_rate = [0.0] * n_nodes
    major_t = [0.0] * n_nodes

    pos = [0] * n_veh
    entry = [0.0] * n_veh
    cur_link = [-1] * n_veh
    cur_rec = [-1] * n_veh
    arrival = [math.nan] * n_veh
    departed = [False] * n_veh
    first_entered = [False] * n_veh
    paths = list(paths)
    rec_trip = array("q")
    rec_link = array("q")
    rec_entry = array("d")
    rec_exit = array("d")
    state = {"last_move": 0.0, "in_net": 0, "waiting": 0, "arrived": 0, "departed": 0}
    nan = math.nan

    def free_space(link: int, now: float) -> bool:
        if used[link] < cap[link]:
            return True
        pend = pending[link]
        while pend and pend[0] <= now + EPS:
            pend.popleft()
            used[link] -= 1
        return used[link] < cap[link]

    def wait_space(link: int, now: float) -> simpy.Event:
        pend = pending[link]
        if pend:
            return env.timeout(pend[0] - now)
        ev = env.event()
        space_waiters[link].append(ev)
        return ev

    def leave(v: int, link: int, now: float) -> None:
        onlink[link] -= 1
        rec_exit[cur_rec[v]] = now
        if wave[link] > 0:
            pending[link].append(now + wave[link])
        else:
            used[link] -= 1
        waiters = space_waiters[link]
        if waiters:
            space_waiters[link] = []
            for ev in waiters:
                ev.succeed()

    def enter(v: int, link: int, now: float) -> None:
        used[link] += 1
        onlink[link] += 1
        next_in[link] = now + inflow_h[link]
        entry[v] = now
        cur_link[v] = link
        cur_rec[v] = len(rec_trip)
        rec_trip.append(v)
        rec_link.append(link)
        rec_entry.append(now)
        rec_exit.append(nan)
        state["last_move"] = now
        path = paths[v]
        p = pos[v] + 1
        g = group_of[link][path[p] if p < len(path) else -1]
        queues[g].append(v)
        ev = wake[g]
        if ev is not None:
            wake[g] = None
            ev.succeed()

    def green_wait(node: int, phase: int, now: float) -> float:
        cycle, windows = net.plans[node]
        start, green = windows[phase]
        into = (now - start) % cycle
        if into < green - EPS or into > cycle - 1e-6:
            return 0.0
        return cycle - into

    def minor_headway(node: int, base_h: float, lanes: int, now: float) -> float:
        q = major_rate[node] * math.exp(-(now - major_t[node]) / major_flow_window_s)
        q /= sample_factor
        if q > 1e-9:
            cp = q * math.exp(-q * critical_gap_s) / (1.0 - math.exp(-q * follow_up_s))
        else:
            cp = 1.0 / follow_up_s
        return max(base_h, 1.0 / (cp * lanes * sample_factor))

    def server(g: int):
        q = queues[g]
        link = net.group_link[g]
        f = ff[link]
        h = net.group_headway_s[g]
        node = net.group_node[g]
        phase = net.group_phase[g]
        minor = net.group_minor[g]
        lanes = net.group_lanes[g]
        track_major = has_minor[node] and not minor
        while True:
            if not q:
                ev = env.event()
                wake[g] = ev
                yield ev
                continue
            v = q[0]
            now = env.now
            t = entry[v] + f
            if now < t - EPS:
                yield env.timeout(t - now)
                continue
            t = next_free[g]
            if now < t - EPS:
                yield env.timeout(t - now)
                continue
            if phase >= 0:
                w = green_wait(node, phase, now)
                if w > 0:
                    yield env.timeout(w)
                    continue
            path = paths[v]
            nxt = path[pos[v] + 1]
            if not free_space(nxt, now):
                yield wait_space(nxt, now)
                continue
            t = next_in[nxt]
            if now < t - EPS:
                yield env.timeout(t - now)
                continue
            q.popleft()
            leave(v, link, now)
            pos[v] += 1
            enter(v, nxt, now)
            if minor:
                next_free[g] = now + minor_headway(node, h, lanes, now)
            else:
                next_free[g] = now + h
                if track_major:
                    major_rate[node] = (
                        major_rate[node] * math.exp(-(now - major_t[node]) / major_flow_window_s)
                        + 1.0 / major_flow_window_s
                    )
                    major_t[node] = now

    def exit_server(g: int):
        q = queues[g]
        link = net.group_link[g]
        f = ff[link]
        node = link_v[link]
        while True:
            if not q:
                ev = env.event()
                wake[g] = ev
                yield ev
                continue
            v = q[0]
            now = env.now
            t = entry[v] + f
            if now < t - EPS:
                yield env.timeout(t - now)
                continue
            q.popleft()
            leave(v, link, now)
            state["last_move"] = now
            cruise = parking.on_arrival(v, node, now) if parking is not None else None
            if cruise:
                paths[v] = cruise
                pos[v] = 0
                cur_link[v] = -1
                to_source(v, cruise[0])
            else:
                arrival[v] = now
                cur_link[v] = -1
                state["in_net"] -= 1
                state["arrived"] += 1

    def to_source(v: int, link: int) -> None:
        sq = source_q.get(link)
        if sq is None:
            sq = source_q[link] = deque()
            source_wake[link] = None
            env.process(source_server(link, sq))
        sq.append(v)
        ev = source_wake[link]
        if ev is not None:
            source_wake[link] = None
            ev.succeed()

    def source_server(link: int, sq: deque[int]):
        while True:
            if not sq:
                ev = env.event()
                source_wake[link] = ev
                yield ev
                continue
            now = env.now
            if not free_space(link, now):
                yield wait_space(link, now)
                continue
            t = next_in[link]
            if now < t - EPS:
                yield env.timeout(t - now)
                continue
            v = sq.popleft()
            if not first_entered[v]:
                first_entered[v] = True
                state["waiting"] -= 1
                state["in_net"] += 1
            enter(v, link, now)

    order = sorted(range(n_veh), key=lambda i: (departure_s[i], i))

    def departures():
        for v in order:
            t = departure_s[v]
            if paths[v] is None:
                continue
            now = env.now
            if t > now:
                yield env.timeout(t - now)
                now = env.now
            departed[v] = True
            state["departed"] += 1
            if parking is not None:
                guided = parking.on_departure(v, now)
                if guided is not None:
                    paths[v] = guided
            path = paths[v]
            if not path:
                arrival[v] = now
                state["arrived"] += 1
                continue
            state["waiting"] += 1
            to_source(v, path[0])

    sample_times: list[float] = []
    queue_rows: list[list[int]] = []
    occ_rows: list[list[int]] = []
    blocked_rows: list[list[bool]] = []
    net_rows: list[tuple[float, int, int, int, int]] = []
    link_groups: list[list[int]] = [[] for _ in range(n_links)]
    for g in range(n_groups):
        link_groups[net.group_link[g]].append(g)
    gridlock: dict = {"detected": False, "time_s": None, "links": []}
    stop = env.event()

    def queued_on(link: int, now: float) -> int:
        count = 0
        f = ff[link]
        for g in link_groups[link]:
            for v in queues[g]:
                if entry[v] + f > now + EPS:
                    break
                count += 1
        return count

    def sample(now: float) -> None:
        sample_times.append(now)
        queue_rows.append([queued_on(link, now) for link in range(n_links)])
        occ_rows.append(list(onlink))
        blocked_rows.append([not free_space(link, now) for link in range(n_links)])
        net_rows.append(
            (now, state["in_net"], state["waiting"], state["departed"], state["arrived"])
        )

    def find_gridlock_links(now: float) -> list[int]:
        points_to: dict[int, int] = {}
        for link in range(n_links):
            if free_space(link, now) and onlink[link] == 0:
                continue
            for g in link_groups[link]:
                q = queues[g]
                if not q:
                    continue
                v = q[0]
                p = pos[v] + 1
                if p < len(paths[v]) and not free_space(paths[v][p], now):
                    points_to[link] = paths[v][p]
                    break
        for start in sorted(points_to):
            seen: list[int] = []
            link = start
            while link in points_to and link not in seen:
                seen.append(link)
                link = points_to[link]
            if link in seen:
                cycle = seen[seen.index(link) :]
                return sorted(cycle)
        return sorted(points_to)

    def monitor():
        while True:
            now = env.now
            sample(now)
            if progress is not None:
                progress("simulate", min(now / end_s, 1.0))
            busy = state["in_net"] > 0
            if busy and now - state["last_move"] >= gridlock_timeout_s - EPS:
                gridlock.update(detected=True, time_s=now, links=find_gridlock_links(now))
                stop.succeed()
                return
            if now >= end_s - EPS:
                stop.succeed()
                return
            yield env.timeout(min(sample_interval_s, end_s - now))

    exit_groups = {groups[-1] for groups in net.group_of}
    for g in range(n_groups):
        if g in exit_groups:
            env.process(exit_server(g))
        else:
            env.process(server(g))
    env.process(departures())
    env.process(monitor())
    env.run(until=stop)

    net_arr = np.array(net_rows, dtype=float).reshape(-1, 5)
    return RunRecords(
        trav_trip=np.frombuffer(rec_trip, dtype=np.int64).copy(),
        trav_link=np.frombuffer(rec_link, dtype=np.int64).copy(),
        trav_entry_s=np.frombuffer(rec_entry, dtype=np.float64).copy(),
        trav_exit_s=np.frombuffer(rec_exit, dtype=np.float64).copy(),
        arrival_s=np.array(arrival, dtype=float),
        on_link=np.array(cur_link, dtype=np.int64),
        waiting=np.array(
            [departed[v] and not first_entered[v] and math.isnan(arrival[v]) for v in range(n_veh)],
            dtype=bool,
        ),
        departed=np.array(departed, dtype=bool),
        sample_time_s=np.array(sample_times, dtype=float),
        queue_veh=np.array(queue_rows, dtype=np.int32).reshape(-1, n_links),
        occupancy_veh=np.array(occ_rows, dtype=np.int32).reshape(-1, n_links),
        blocked=np.array(blocked_rows, dtype=bool).reshape(-1, n_links),
        net_samples={
            "time_s": net_arr[:, 0],
            "vehicles_in_network": net_arr[:, 1].astype(np.int64),
            "waiting_to_enter": net_arr[:, 2].astype(np.int64),
            "departed": net_arr[:, 3].astype(np.int64),
            "arrived": net_arr[:, 4].astype(np.int64),
        },
        gridlock=gridlock,
        end_s=float(env.now),
    )
