"""One simulation run: SimPy-driven lane-group servers moving vehicle ids through link queues."""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import compress

import numpy as np
import simpy

from ..webster import potential_capacity_vps
from .netarrays import LEFT, NetArrays
from .simpy_adapter import Server, WakeEnvironment, wake_scheduler

#: Float tolerance for comparing event times, seconds.
EPS = 1e-9
#: Time constant of the major-road flow estimate at unsignalised junctions, seconds.
major_flow_window_s: float = 300.0
#: The last seconds of green in which permitted left turns that found no gap leave as sneakers.
sneak_window_s: float = 0.5


def green_after(signal: tuple[float, float, float] | None, t: float, dt: float) -> float:
    """The time at which ``dt`` more seconds of green have passed after ``t``.

    Service at a signal is counted in *green time*: a headway that does not fit in what is left
    of a green continues at the start of the next one, so a lane group serves ``green / headway``
    vehicles per green on average, fractions carried from cycle to cycle. (Restarting the count
    at every green would serve ``ceil(green / headway)``, and a sampled run, whose headways are
    ``1 / sample_factor`` times longer, would round far more than a full one: a 10 s green at a
    2 s headway serves 5 at full scale but 2 × 4 = 8 at a quarter.)

    Parameters
    ----------
    signal
        ``(cycle, green start, green length)`` of the phase, or None (always green).
    t
        Start, s.
    dt
        Seconds of green to pass, ≥ 0.

    Returns
    -------
    float
    """
    if signal is None or t == -math.inf:  # -inf: nothing discharged yet
        return t + dt
    cycle, green_start, green_len = signal
    into = (t - green_start) % cycle
    if into < green_len:
        left = green_len - into
        if dt < left:
            return t + dt
        dt -= left
    # carry the rest into the following greens
    whole = math.floor(dt / green_len)
    return t - into + cycle * (1 + whole) + (dt - whole * green_len)


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


@dataclass
class RunRecords:
    """Compact arrays one run produces (turned into frames by :mod:`cysim.sim.records`)."""

    trav_trip: np.ndarray  # vehicle index (int64; records.to_result turns it into trip ids)
    trav_link: np.ndarray
    trav_entry_s: np.ndarray
    trav_exit_s: np.ndarray
    arrival_s: np.ndarray
    waiting: np.ndarray  # waiting to enter its first link at the end
    departed: np.ndarray
    stuck: np.ndarray  # on a link in a gridlocked queue at the end
    sample_time_s: np.ndarray
    queue_veh: np.ndarray
    occupancy_veh: np.ndarray
    blocked: np.ndarray
    net_samples: dict[str, np.ndarray]
    gridlock: dict = field(default_factory=dict)
    end_s: float = 0.0
    #: rows of traversals after which the vehicle left through its trip end and cruised on to
    #: another parking facility (a new leg starts with its next row)
    leg_end_rows: list[int] = field(default_factory=list)
    #: per vehicle not arrived at the end (waiting to enter its first link, or on a link): that
    #: link and the next one of the path it is on (-1: the link ends it), which guidance or
    #: cruising may have replaced — the movement it is queued for
    open_heads: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: greens of actuated junctions: ``(node index, phase, start_s, end_s)`` in time order
    actuated_greens: list[tuple[int, int, float, float]] = field(default_factory=list)


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
    left_gap_s: float | None = None,
    left_follow_up_s: float = 2.5,
    left_sneakers: float = 2.0,
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
        ``[]`` = origin equals destination (arrives at departure, then parks as any trip).
    departure_s
        Departure time per vehicle (any order).
    end_s
        Latest end of the simulation; it ends at the first sample once every routed vehicle has
        arrived.
    sample_interval_s
        Sampling interval for link and network state.
    gridlock_timeout_s
        A cycle of full links none of which discharged for this long is a (local) gridlock, reported
        while the run goes on; no vehicle moving anywhere for this long ends the run.
    critical_gap_s, follow_up_s
        Gap acceptance of minor-road movements at unsignalised junctions (HCM two-way stop).
    sample_factor
        Share of vehicles simulated (used to un-scale measured major flows).
    left_gap_s, left_follow_up_s
        Gap acceptance of permitted left turns against the opposing approach of the same signal
        phase; ``None`` makes left turns protected.
    left_sneakers
        Permitted left turns per cycle and lane group that still leave at the end of green when no
        gap came (HCM: 2 "sneakers"); scaled by ``sample_factor``.
    parking
        Parking model consulted at departure and at trip ends, or None (trips end at the node).
    progress
        Called as ``progress("simulate", fraction)`` at every sample.

    Returns
    -------
    RunRecords
    """
    n_links = net.n_links
    n_groups = len(net.group_link)
    # server ids: lane group g is server g, the entry from the node onto link l is n_groups + l
    servers: list[Server] = [None] * (n_groups + n_links)  # type: ignore[list-item]
    env = WakeEnvironment(servers)
    wake = wake_scheduler(env)  # call server k `delay` seconds from now: wake(k, delay)

    n_veh = len(paths)
    ff = net.freeflow_s
    cap = net.storage_cap
    inflow_h = net.inflow_headway_s
    wave = net.wave_delay_s
    group_of = net.group_of
    group_link = net.group_link
    group_alt = net.group_alt
    group_lanes = net.group_lanes
    link_v = net.link_v

    used = [0] * n_links  # vehicles on the link + freed slots not yet usable upstream
    # per-link and per-group queues are short (bounded by the link's storage) and there are
    # tens of thousands on a large network: lists (56 B empty) rather than deques (~600 B)
    pending: list[list[float]] = [[] for _ in range(n_links)]
    next_in = [0.0] * n_links
    space_waiters: list[list[int]] = [[] for _ in range(n_links)]
    queues: list[list[int]] = [[] for _ in range(n_groups)]
    armed = [False] * n_groups  # the server has a wake scheduled or waits (space, merge, pocket)
    next_free = [0.0] * n_groups
    # vehicles waiting to enter a link from its upstream node; a link's deque exists while its
    # source server is armed (from the first vehicle to the last one entering)
    source_q: dict[int, deque[int]] = {}
    n_nodes = len(net.nodes)
    has_minor = [False] * n_nodes
    for g in range(n_groups):
        if net.group_minor[g]:
            has_minor[net.group_node[g]] = True
    # discharge-rate estimate of every major approach at a priority junction (veh/s, sampled)
    major_rate = [0.0] * n_links
    major_t = [0.0] * n_links
    minor_conflicts = net.minor_conflicts
    # per lane group, the approach its permitted lefts give way to (-1: none; none at all when
    # left turns are protected), and the discharge-rate estimates of those approaches
    group_opp = [-1] * n_groups
    if left_gap_s is not None:
        for g, phase in enumerate(net.group_phase):
            if phase >= 0 and not net.group_protected[g]:
                group_opp[g] = net.opposing_link[group_link[g]]
    opposes = [False] * n_links
    for link in group_opp:
        if link >= 0:
            opposes[link] = True
    # discharge times in a window of whole cycles (≥ 300 s), so the rate has no cyclic ripple
    opp_times: list[deque[float] | None] = [deque() if o else None for o in opposes]
    opp_window = [0.0] * n_links
    for link in range(n_links):
        plan = net.plans[link_v[link]] if opposes[link] else None
        if plan is not None:
            opp_window[link] = plan[0] * math.ceil(major_flow_window_s / plan[0])
    last_dis = [-math.inf] * n_groups
    # per lane group with permitted lefts, the last discharge that was not a sneaker: gaps are
    # counted in green time from it, so sneakers add to the gap capacity, not replace it
    gap_from = [-math.inf] * n_groups
    # sneaker credit per lane group: left_sneakers × sample_factor per cycle, one used per sneaker
    sneak_cycle = [-(1 << 62)] * n_groups  # no cycle yet (cycle numbers may be negative)
    sneak_credit = [0.0] * n_groups
    sneak_per_cycle = left_sneakers * sample_factor

    pos = [0] * n_veh
    entry = [0.0] * n_veh
    cur_rec = [-1] * n_veh
    arrival = [math.nan] * n_veh
    departed = [False] * n_veh
    first_entered = [False] * n_veh
    # the caller's path lists are read, never copied (8 B per trip-link); the outer list is
    # copied because parking replaces a vehicle's path with its cruise or guided route.
    # A position past the last link means the exit to the trip end (movement key -1).
    paths = list(paths)
    # one record per traversal in four typed columns (28 bytes, handed to numpy without a copy);
    # cur_rec[v] is the index of v's current traversal. The vehicle column is int64 because the
    # results turn it into the int64 trip-id column in place (records.to_result), not by a copy
    rec_trip = array("q")
    rec_link = array("i")
    rec_entry = array("d")
    rec_exit = array("d")
    # counters: [last movement time, in network, waiting to enter, arrived, departed]
    state = [0.0, 0, 0, 0, 0]
    nan = math.nan

    def drop_freed(link: int, now: float) -> None:
        """Release the slots of ``link`` whose backward wave has reached its entry by ``now``."""
        pend = pending[link]
        while pend and pend[0] <= now + EPS:
            del pend[0]
            used[link] -= 1

    def free_space(link: int, now: float) -> bool:
        if used[link] < cap[link]:
            return True
        drop_freed(link, now)
        return used[link] < cap[link]

    def wait_space(link: int, now: float, server: int) -> None:
        """Wake ``server`` once freed space on ``link`` is usable (waiters served in order)."""
        pend = pending[link]
        if pend:
            wake(server, pend[0] - now)
        else:
            space_waiters[link].append(server)

    last_exit = [0.0] * n_links
    merge_q: list[list[int]] = [[] for _ in range(n_links)]
    registered: dict[int, int] = {}  # server id -> the link it queues for in merge_q

    def gate(link: int, now: float, server: int, early: float = 0.0) -> bool:
        """Whether ``server`` may move its head vehicle onto ``link`` now.

        Servers blocked on a link (full, or its mid-block capacity used) queue for it first come,
        first served: only the first of them waits actively (for space or for the next entry
        slot); the others sleep until it has passed, so no approach starves at a merge.
        ``early`` is how much sooner than the link's next entry slot this vehicle may enter.
        """
        mq = merge_q[link]
        if mq and mq[0] != server:
            if server not in registered:
                mq.append(server)
                registered[server] = link
            return False
        if used[link] >= cap[link] and not free_space(link, now):
            if not mq:
                mq.append(server)
                registered[server] = link
            wait_space(link, now, server)
            return False
        t = next_in[link] - early
        if now < t - EPS:
            if not mq:
                mq.append(server)
                registered[server] = link
            wake(server, t - now)
            return False
        if mq:
            del mq[0]
            del registered[server]
            if mq:
                wake(mq[0], 0.0)
        return True

    def drop_out(server: int) -> None:
        """``server`` waits for its own reason (red): let the next one in its merge queue go."""
        link = registered.pop(server, None)
        if link is not None:
            mq = merge_q[link]
            was_first = mq[0] == server
            mq.remove(server)
            if was_first and mq:
                wake(mq[0], 0.0)

    def leave(v: int, link: int, now: float) -> None:
        last_exit[link] = now
        rec_exit[cur_rec[v]] = now
        if wave[link] > 0:
            drop_freed(link, now)  # keeps the list to the backward-wave window
            pending[link].append(now + wave[link])
        else:
            used[link] -= 1
        waiters = space_waiters[link]
        if waiters:
            space_waiters[link] = []
            for server in waiters:
                wake(server, 0.0)

    def enter(v: int, link: int, now: float) -> None:
        used[link] += 1
        next_in[link] = now + inflow_h[link]
        entry[v] = now
        cur_rec[v] = len(rec_exit)
        rec_trip.append(v)
        rec_link.append(link)
        rec_entry.append(now)
        rec_exit.append(nan)
        state[0] = now
        path = paths[v]
        after = pos[v] + 1
        g = group_of[link][path[after] if after < len(path) else -1]
        alt = group_alt[g]
        if alt >= 0 and len(queues[alt]) * group_lanes[g] < len(queues[g]):
            g = alt  # the shared left lane is less busy per lane
        queues[g].append(v)
        if not armed[g]:
            # the server sleeps on an empty queue: wake it when this vehicle reaches the stop line
            armed[g] = True
            wake(g, ff[link])
        if group_act[g] >= 0:
            notify_controller(g)

    def minor_headway(link: int, nxt: int, base_h: float, lanes: int, now: float) -> float:
        """Headway of a minor movement ``link → nxt``: gap acceptance in the major flows it
        conflicts with (``net.minor_conflicts``)."""
        q = 0.0
        for major, weight in minor_conflicts[link].get(nxt, ()):
            q += (
                weight * major_rate[major] * math.exp(-(now - major_t[major]) / major_flow_window_s)
            )
        q /= sample_factor
        cp = potential_capacity_vps(q, critical_gap_s, follow_up_s)
        return max(base_h, 1.0 / (cp * lanes * sample_factor))

    pocket_waiters: dict[int, int] = {}  # pocket lane group -> the server it blocks

    def pocket_overflow(pockets: list, t_ready: float, now: float) -> int:
        """The pocket group whose overflow queue blocks a vehicle ready at ``t_ready``, or -1."""
        for pq, pcap, pg in pockets:
            if len(pq) > pcap:
                u = pq[pcap]  # first vehicle that found no room in the pocket
                tu = entry[u] + ff[net.group_link[pg]]
                if tu <= now + EPS and tu <= t_ready + EPS:
                    return pg
        return -1

    def drop_before(times: deque[float], start: float) -> None:
        """Drop the times up to ``start`` from the front of ``times`` (ascending)."""
        while times and times[0] <= start:
            times.popleft()

    def opposing_flow(opp: int, now: float) -> float:
        """Real flow (veh/s) of approach ``opp`` over the last whole cycles spanning at least
        ``major_flow_window_s``."""
        times = opp_times[opp]
        window = opp_window[opp]
        drop_before(times, now - window)
        return len(times) / window / sample_factor

    def permitted_left_headway(q: float, lane_h: float) -> float:
        """Headway of permitted left turns against the real opposing flow ``q`` (HCM potential
        capacity ``c``), as a sampled run serves them: ``1 / (c × sample_factor)``."""
        cp = potential_capacity_vps(q, left_gap_s, left_follow_up_s)
        return max(lane_h, 1.0 / (cp * sample_factor))

    def first_gap_wait(q: float) -> float:
        """Mean wait of a single left-turner for a gap of ``left_gap_s`` in a random opposing
        flow ``q`` (Adams' delay, ``(e^{q t_c} − 1) / q − t_c``): 0 without opposing traffic."""
        if q <= 1e-9:
            return 0.0
        return (math.expm1(q * left_gap_s)) / q - left_gap_s

    # per lane group, the constants its server reads (one shared server function for all groups:
    # a function object with its constants per group cost about 0.5 KB × 119,000 groups on a
    # 100 × 100 grid). `group_signal[g]` is (cycle, green start, green length) of a signalised
    # group's phase, None when unsignalised; `group_pocket_queues[g]` its pockets as
    # (queue, capacity, group).
    group_headway = net.group_headway_s
    group_node = net.group_node
    group_minor = net.group_minor
    movement_kind = net.movement_kind
    signal_of: dict[tuple[int, int], tuple[float, float, float]] = {}
    group_signal: list[tuple[float, float, float] | None] = [None] * n_groups
    # sneakers may clear until the next phase's green starts (amber + all-red of the plan)
    clearance_of: dict[tuple[int, int], float] = {}
    group_clearance = [0.0] * n_groups
    # a protected-then-permitted left: green from its own phase's start through its road's
    # phase, protected for the first `group_protected_s[g]` seconds, then turning in gaps
    group_protected_s = [0.0] * n_groups
    for g, phase in enumerate(net.group_phase):
        then = net.group_then_phase[g]
        if phase >= 0 and then >= 0:
            cycle, windows = net.plans[group_node[g]]
            start, green = windows[phase]
            then_start, then_green = windows[then]
            group_signal[g] = (cycle, start, (then_start + then_green - start) % cycle)
            next_start = windows[(then + 1) % len(windows)][0]
            group_clearance[g] = (next_start - then_start - then_green) % cycle
            group_protected_s[g] = green
    for g, phase in enumerate(net.group_phase):
        if phase >= 0 and net.group_then_phase[g] < 0:
            node = group_node[g]
            if (node, phase) not in signal_of:
                cycle, windows = net.plans[node]
                start, green = windows[phase]
                signal_of[node, phase] = (cycle, start, green)
                next_start = windows[(phase + 1) % len(windows)][0]
                clearance_of[node, phase] = (next_start - start - green) % cycle
            group_signal[g] = signal_of[node, phase]
            group_clearance[g] = clearance_of[node, phase]
    # actuated junctions: a controller process decides each green (no periodic plan, no
    # sneakers); `group_act[g]` is the node index of an actuated group's junction, else -1
    group_act = [-1] * n_groups
    act_phase_groups: dict[int, list[list[int]]] = {}
    for g, phase in enumerate(net.group_phase):
        node = group_node[g]
        if phase >= 0 and node in net.actuated:
            group_act[g] = node
            group_signal[g] = None
            phases = act_phase_groups.setdefault(node, [[] for _ in net.actuated[node].min_green_s])
            phases[phase].append(g)
    act_green = dict.fromkeys(act_phase_groups, -1)  # node index -> phase in green, -1: none
    act_waiting: dict[int, set[int]] = {node: set() for node in act_phase_groups}
    act_last = [-math.inf] * n_groups  # when a vehicle last left the detection zone
    act_red_from = [0.0] * n_groups  # when an actuated group's last green ended
    act_start = dict.fromkeys(act_phase_groups, 0.0)  # start of the junction's current green
    act_sleep: dict[int, simpy.Event | None] = dict.fromkeys(act_phase_groups)
    actuated_greens: list[tuple[int, int, float, float]] = []
    # sneakers need a green longer than their window (the plans give every phase at least 1 s)
    group_sneaks = [
        sneak_per_cycle > 0 and sig is not None and sig[2] > sneak_window_s for sig in group_signal
    ]
    group_pocket_queues = [
        tuple((queues[pg], net.group_pocket_cap[pg], pg) for pg in pockets) if pockets else ()
        for pockets in net.group_pockets
    ]
    track_major = [has_minor[group_node[g]] and not group_minor[g] for g in range(n_groups)]

    def left_gap_at(g: int, opp: int, at_stop_line: float, now: float) -> float:
        """When the next gap in the opposing flow comes for the permitted left at the head of ``g``.

        Counted in green time: one service headway ``1 / (c f)`` after the group's previous
        non-sneaker discharge, so the fraction of a gap left at the end of one green carries to
        the next and a green serves ``c × g`` on average at any sample factor f. A left-turner
        that arrived at an empty stop line (after the previous discharge) also waits a single
        vehicle's mean wait for a gap (Adams' delay, at most one service headway) after it
        arrives, or after the green starts: a real wait, the same at any f.
        """
        q = opposing_flow(opp, now)
        signal = group_signal[g]
        left_h = permitted_left_headway(q, group_headway[g] * group_lanes[g])
        t = green_after(signal, gap_from[g], left_h)
        if at_stop_line > last_dis[g]:
            if group_act[g] >= 0:  # an actuated green: the wait starts in it
                at_stop_line = max(at_stop_line, act_start[group_act[g]])
            return max(t, green_after(signal, at_stop_line, min(left_h, first_gap_wait(q))))
        return t

    def serve_group(g: int) -> None:
        """Discharge lane group ``g`` as far as its signal, headway and the next links allow."""
        q = queues[g]
        link = group_link[g]
        f = ff[link]
        opp = group_opp[g]
        pockets = group_pocket_queues[g]
        while q:
            v = q[0]
            now = env.now
            t = entry[v] + f
            if now < t - EPS:
                wake(g, t - now)
                return
            nxt = paths[v][pos[v] + 1]
            sneak = False
            sneak_at = math.inf  # when a permitted left turner could sneak in this green
            if opp >= 0 and movement_kind[link][nxt] == LEFT and group_sneaks[g]:
                # in the last moment of green a left turner that found no gap may sneak
                cycle, green_start, green_len = group_signal[g]  # type: ignore[misc]
                into = (now - green_start) % cycle
                if into < green_len - sneak_window_s - EPS:
                    # strictly before the window, so a wake at sneak_at is ≥ 0.25 s ahead
                    # and always lands inside it (no zero-delay wake loop)
                    sneak_at = now - into + green_len - sneak_window_s / 2
                else:
                    if into < green_len + group_clearance[g]:
                        cycle_no = int((now - green_start) // cycle)
                        if sneak_cycle[g] != cycle_no:
                            sneak_cycle[g] = cycle_no
                            # unused whole sneakers lapse with their cycle; the fraction a
                            # sampled run carries (0.5 per cycle at sample_factor 0.25) adds up
                            # (the fraction without float drift: 0.9999999999999999 left
                            # from 0.3 + 0.3 + … is a whole sneaker, not a fraction)
                            credit = sneak_credit[g]
                            carried = credit - math.floor(credit + EPS)
                            sneak_credit[g] = (carried if carried > EPS else 0.0) + sneak_per_cycle
                        sneak = sneak_credit[g] >= 1.0 - EPS
                        if (
                            sneak
                            and into < green_len - EPS
                            and next_free[g] <= now + EPS
                            and left_gap_at(g, opp, entry[v] + f, now) <= now + EPS
                        ):
                            sneak = False  # its gap has come: a regular turn, sneakers later
                    if not sneak:
                        # this window is used up or over: wake again in the next one, so every
                        # cycle's sneakers are offered (the gap may be greens away when sampled)
                        sneak_at = now - into + cycle + green_len - sneak_window_s / 2
            # sneakers, too, keep the saturation headway between them, in clock time (the
            # green-time headway of the others would carry into the next green), and at its
            # real length: a sampled sneaker stands for real ones already in the junction
            t = last_dis[g] + group_headway[g] * sample_factor if sneak else next_free[g]
            if opp >= 0 and not sneak:
                # behind a sneaker (which uses none of the green's service) a vehicle still
                # keeps the real saturation headway: the sneaker is in the junction
                t = max(t, last_dis[g] + group_headway[g] * sample_factor)
            if now < t - EPS:
                if t > sneak_at - sneak_window_s / 2:
                    t = sneak_at  # the headway runs past green: wait to sneak instead
                wake(g, t - now)
                return
            signal = group_signal[g]
            if signal is not None and not sneak:
                cycle, green_start, green_len = signal
                into = (now - green_start) % cycle
                if into >= green_len - EPS and into <= cycle - 1e-6:  # red: wait for green
                    if g in registered:
                        drop_out(g)
                    wake(g, cycle - into)
                    return
            ni = group_act[g]
            if ni >= 0 and act_green[ni] != group_phase[g]:
                # an actuated junction's red: the controller wakes the group at its green
                if g in registered:
                    drop_out(g)
                act_waiting[ni].add(g)
                return
            if pockets:
                # a turner that found its pocket full stands in a lane ahead of v: on one
                # lane it blocks v; on more lanes it takes one lane out of service
                blocked_by = pocket_overflow(pockets, t_ready=entry[v] + f, now=now)
                lanes = group_lanes[g]
                if blocked_by >= 0 and lanes == 1:
                    if g in registered:
                        drop_out(g)
                    pocket_waiters[blocked_by] = g
                    return
                if blocked_by >= 0:
                    t = green_after(group_signal[g], next_free[g], group_headway[g] / (lanes - 1))
                    if now < t - EPS:
                        wake(g, t - now)
                        return
            if (
                opp >= 0
                and movement_kind[link][nxt] == LEFT
                and not sneak
                and not (
                    group_protected_s[g] > 0
                    and (now - group_signal[g][1]) % group_signal[g][0]  # type: ignore[index]
                    < group_protected_s[g] - EPS
                )
            ):
                # a permitted left (not in its protected part) waits for a gap in the opposing flow
                t = left_gap_at(g, opp, entry[v] + f, now)
                if t > sneak_at - sneak_window_s / 2:
                    t = sneak_at  # no gap this green: try to sneak at its end
                if now < t - EPS:
                    if g in registered:
                        drop_out(g)
                    wake(g, t - now)
                    return
            if (merge_q[nxt] or used[nxt] >= cap[nxt] or now < next_in[nxt] - EPS) and not gate(
                # a sneaker enters the next link at the real, not the sampled, mid-block headway
                nxt,
                now,
                g,
                inflow_h[nxt] * (1.0 - sample_factor) if sneak else 0.0,
            ):
                return
            if sneak:
                sneak_credit[g] -= 1.0
            if ni >= 0:
                act_last[g] = now  # the vehicle leaves the detection zone at the stop line
            del q[0]
            # leave(v, link, now) and enter(v, nxt, now), inlined: this is the hot path
            last_exit[link] = now
            rec_exit[cur_rec[v]] = now
            wave_delay = wave[link]
            if wave_delay > 0:
                # drop_freed(link, now), inlined: the list holds only the backward-wave
                # window, not one entry per traversal of the run
                pend = pending[link]
                while pend and pend[0] <= now + EPS:
                    del pend[0]
                    used[link] -= 1
                pend.append(now + wave_delay)
            else:
                used[link] -= 1
            if space_waiters[link]:
                waiters = space_waiters[link]
                space_waiters[link] = []
                for server in waiters:
                    wake(server, 0.0)
            p = pos[v] = pos[v] + 1
            used[nxt] += 1
            next_in[nxt] = now + inflow_h[nxt]
            entry[v] = now
            cur_rec[v] = len(rec_exit)
            rec_trip.append(v)
            rec_link.append(nxt)
            rec_entry.append(now)
            rec_exit.append(nan)
            path = paths[v]
            g2 = group_of[nxt][path[p + 1] if p + 1 < len(path) else -1]
            alt = group_alt[g2]
            if alt >= 0 and len(queues[alt]) * group_lanes[g2] < len(queues[g2]):
                g2 = alt  # the shared left lane is less busy per lane
            queues[g2].append(v)
            if not armed[g2]:
                armed[g2] = True
                wake(g2, ff[nxt])
            if group_act[g2] >= 0:
                notify_controller(g2)
            if opp >= 0:
                last_dis[g] = now
                if not sneak:
                    gap_from[g] = now
            if opposes[link]:
                times = opp_times[link]
                times.append(now)  # type: ignore[union-attr]
                # kept to the window here too: an approach whose opposing lefts seldom ask would
                # otherwise keep every discharge time of the run
                drop_before(times, now - opp_window[link])  # type: ignore[arg-type]
            if pocket_waiters and g in pocket_waiters:
                wake(pocket_waiters.pop(g), 0.0)
            if group_minor[g]:
                # the gap the next vehicle needs depends on its movement (the queue's next one,
                # else a movement like this one's)
                after = paths[q[0]][pos[q[0]] + 1] if q else nxt
                next_free[g] = now + minor_headway(
                    link, after, group_headway[g], group_lanes[g], now
                )
            elif sneak:
                pass  # a sneaker clears after the green: it uses none of the green's service
            else:
                if signal is None:
                    next_free[g] = now + group_headway[g]
                else:
                    next_free[g] = green_after(signal, now, group_headway[g])
                if track_major[g]:
                    major_rate[link] = (
                        major_rate[link] * math.exp(-(now - major_t[link]) / major_flow_window_s)
                        + 1.0 / major_flow_window_s
                    )
                    major_t[link] = now
        armed[g] = False

    group_phase = net.group_phase
    # free-flow seconds from entering an actuated approach to reaching its detection zone
    zone_after_s = [0.0] * n_links
    for node, plan in net.actuated.items():
        for phase_groups in act_phase_groups.get(node, []):
            for g in phase_groups:
                link = group_link[g]
                length = net.length_m[link]
                zone_after_s[link] = ff[link] * (1.0 - min(plan.detector_m, length) / length)

    def phase_calls(node: int, phase: int, now: float) -> tuple[float, float, float]:
        """Detection of a phase's lane groups: when the earliest vehicle still in its zones
        arrived there (inf: none, the zones are empty), when the next vehicle on its way will
        arrive (inf: none), and when a vehicle last left the zones (presence detection: a
        vehicle is in the zone from its free-flow arrival there until it crosses the stop line;
        each queue is in order of arrival)."""
        first = upcoming = math.inf
        last = -math.inf
        for g in act_phase_groups[node][phase]:
            last = max(last, act_last[g])
            zone_after = zone_after_s[group_link[g]]
            for v in queues[g]:
                t = entry[v] + zone_after
                if t <= now + EPS:
                    first = min(first, t)
                else:
                    upcoming = min(upcoming, t)
                    break
        return first, upcoming, last

    def controller(node: int):
        """Vehicle-actuated control of one junction (docs/model.md §3).

        A phase gets its minimum green, then extends while its detection zone is occupied and
        until it has been empty for the passage time (gap-out). Its maximum green counts from
        the first call of a conflicting phase (max-out); with no conflicting call it rests in
        green. The next phase is the next one in order with a call; phases without a call are
        skipped; with no call anywhere the junction rests in all-red. The controller sleeps
        until the next detection it can foresee or a vehicle joining one of its approaches.
        Headways and permitted-left gaps of its lane groups count green time only: at each
        green they resume where the last green stopped them.
        """
        plan = net.actuated[node]
        n = len(plan.min_green_s)
        # a sampled stream's gaps are 1/f times longer: the passage time follows them
        passage = plan.passage_s / sample_factor
        phase = 0
        while True:
            start = env.now
            act_green[node] = phase
            act_start[node] = start
            for g in act_phase_groups[node][phase]:
                red = start - act_red_from[g]
                if red > 0:
                    if next_free[g] > act_red_from[g]:
                        next_free[g] += red
                    gap_from[g] += red
            waiting = act_waiting[node]
            for g in sorted(waiting):
                if group_phase[g] == phase:
                    wake(g, 0.0)
            waiting.difference_update(act_phase_groups[node][phase])
            min_end = start + plan.min_green_s[phase]
            t_call = math.inf  # first call of a conflicting phase
            while True:
                now = env.now
                first, _, last = phase_calls(node, phase, now)
                gap_end = max(min_end, now + passage if first < math.inf else last + passage)
                others = [phase_calls(node, p, now) for p in range(n) if p != phase]
                t_call = min([t_call] + [c[0] for c in others])
                if t_call < math.inf:
                    end = min(gap_end, max(t_call, start) + plan.max_green_s[phase])
                    if now >= end - EPS:
                        break
                    yield env.timeout(end - now)
                else:
                    # rest in green until a conflicting call: the next detection foreseen, or
                    # a vehicle joining an approach of the junction
                    upcoming = min([math.inf] + [c[1] for c in others])
                    event = act_sleep[node] = env.event()
                    yield event | env.timeout(upcoming - now) if upcoming < math.inf else event
                    act_sleep[node] = None
            act_green[node] = -1
            now = env.now
            actuated_greens.append((node, phase, start, now))
            for g in act_phase_groups[node][phase]:
                act_red_from[g] = now
            yield env.timeout(plan.lost_time_s[phase])
            while True:
                now = env.now
                calls = [phase_calls(node, (phase + 1 + p) % n, now) for p in range(n)]
                called = [p for p, c in enumerate(calls) if c[0] < math.inf]
                if called:
                    phase = (phase + 1 + called[0]) % n
                    break
                upcoming = min(c[1] for c in calls)
                event = act_sleep[node] = env.event()
                yield event | env.timeout(upcoming - now) if upcoming < math.inf else event
                act_sleep[node] = None

    def notify_controller(g: int) -> None:
        """A vehicle joined lane group ``g``: wake its junction's controller if it sleeps."""
        event = act_sleep.get(group_act[g])
        if event is not None:
            act_sleep[group_act[g]] = None
            event.succeed()

    leg_end_rows: list[int] = []

    def serve_exit(g: int) -> None:
        """Vehicles of exit group ``g`` ending their trip (or a cruise leg) at the link's end."""
        q = queues[g]
        link = group_link[g]
        f = ff[link]
        while q:
            v = q[0]
            now = env.now
            t = entry[v] + f
            if now < t - EPS:
                wake(g, t - now)
                return
            del q[0]
            leave(v, link, now)
            state[0] = now
            cruise = parking.on_arrival(v, link_v[link], now) if parking is not None else None
            if cruise:
                leg_end_rows.append(cur_rec[v])
                paths[v] = cruise
                pos[v] = 0
                to_source(v, cruise[0])
            else:
                arrival[v] = now
                state[1] -= 1
                state[3] += 1
        armed[g] = False

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
        while sq:
            now = env.now
            if not gate(link, now, server):
                return
            v = sq.popleft()
            if not first_entered[v]:
                first_entered[v] = True
                state[2] -= 1
                state[1] += 1
            enter(v, link, now)
        del source_q[link]

    order = sorted(range(n_veh), key=lambda i: (departure_s[i], i))
    n_to_arrive = sum(p is not None for p in paths)

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
            state[4] += 1
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
                    state[3] += 1
                    continue
                paths[v] = path = cruise
            state[2] += 1
            to_source(v, path[0])

    sample_times: list[float] = []
    queue_rows: list[np.ndarray] = []
    occ_rows: list[np.ndarray] = []
    blocked_rows: list[np.ndarray] = []
    net_rows: list[tuple[float, int, int, int, int]] = []
    link_groups: list[list[int]] = [[] for _ in range(n_links)]
    for g in range(n_groups):
        link_groups[net.group_link[g]].append(g)
    gridlock: dict = {"detected": False, "time_s": None, "links": []}
    stop = env.event()

    cap_arr = np.asarray(cap)

    def sample(now: float) -> None:
        sample_times.append(now)
        queued = np.zeros(n_links, dtype=np.int32)
        # only the non-empty queues (compress skips the empty ones in C: most of a large network)
        for g in compress(range(n_groups), queues):
            f = ff[group_link[g]]
            count = 0
            for v in queues[g]:
                if entry[v] + f > now + EPS:
                    break
                count += 1
            queued[group_link[g]] += count
        queue_rows.append(queued)
        occ_rows.append(on_links())
        full = np.flatnonzero(np.array(used) >= cap_arr)
        blocked = np.zeros(n_links, dtype=bool)
        blocked[full] = [not free_space(link, now) for link in full.tolist()]
        blocked_rows.append(blocked)
        net_rows.append((now, state[1], state[2], state[4], state[3]))

    def find_gridlock_links(now: float, among: list[int] | None = None) -> list[int]:
        """A cycle of full links whose queue heads wait for each other (else all such links)."""
        points_to: dict[int, int] = {}
        for link in range(n_links) if among is None else among:
            if free_space(link, now) and used[link] == len(pending[link]):
                continue
            for g in link_groups[link]:
                q = queues[g]
                if not q:
                    continue
                v = q[0]
                p = pos[v] + 1
                path = paths[v]
                if p < len(path) and not free_space(path[p], now):
                    points_to[link] = path[p]
                    break
        cycles: set[int] = set()
        for start in sorted(points_to):
            seen: list[int] = []
            link = start
            while link in points_to and link not in seen and link not in cycles:
                seen.append(link)
                link = points_to[link]
            if link in seen:
                cycles.update(seen[seen.index(link) :])
        return sorted(cycles) if cycles or among is not None else sorted(points_to)

    def on_links() -> np.ndarray:
        """Vehicles on each link: its used slots minus the freed ones not yet usable upstream."""
        freed = np.fromiter(map(len, pending), dtype=np.int32, count=n_links)
        return np.array(used, dtype=np.int32) - freed

    def last_move() -> float:
        """Time of the last entry or exit anywhere (a discharge is both)."""
        return max(state[0], max(last_exit, default=0.0))

    def stale_links(now: float) -> list[int]:
        """Links holding vehicles that nobody has left for the gridlock timeout."""
        full = np.flatnonzero(on_links() > 0).tolist()
        return [link for link in full if now - last_exit[link] >= gridlock_timeout_s - EPS]

    def monitor():
        while True:
            now = env.now
            sample(now)
            if progress is not None:
                progress("simulate", min(now / end_s, 1.0))
            busy = state[1] > 0
            if busy and now - last_move() >= gridlock_timeout_s - EPS:
                # nothing moves anywhere: the whole network is gridlocked, the run ends
                if not gridlock["detected"]:
                    gridlock.update(detected=True, time_s=now, links=find_gridlock_links(now))
                stop.succeed()
                return
            if busy and not gridlock["detected"] and now >= gridlock_timeout_s - EPS:
                # a local deadlock: a cycle of full links none of which has discharged for the
                # timeout; the rest of the network runs on (the jam will spread from it)
                cycle = find_gridlock_links(now, stale_links(now))
                if cycle:
                    gridlock.update(detected=True, time_s=now, links=cycle)
            if now >= end_s - EPS or state[3] == n_to_arrive:
                # the end, or every vehicle has arrived: nothing is left to simulate
                stop.succeed()
                return
            yield env.timeout(min(sample_interval_s, end_s - now))

    servers[:n_groups] = [serve_group] * n_groups
    for groups in net.group_of:
        servers[groups[-1]] = serve_exit
    servers[n_groups:] = [serve_source] * n_links
    env.process(departures())
    env.process(monitor())
    for node in sorted(act_phase_groups):
        env.process(controller(node))
    env.run(until=stop)
    for node, phase in act_green.items():
        if phase >= 0:  # a green still running (resting) at the end
            actuated_greens.append((node, phase, act_start[node], float(env.now)))

    net_arr = np.array(net_rows, dtype=float).reshape(-1, 5)
    now = float(env.now)
    stuck = np.zeros(n_veh, dtype=bool)
    if gridlock["detected"]:
        # vehicles in a queue that has not moved for the timeout (every queue after a full stop)
        stale = set(stale_links(now)) | set(gridlock["links"])
        full_stop = now - last_move() >= gridlock_timeout_s - EPS
        for v in range(n_veh):
            r = cur_rec[v]
            on_link = r >= 0 and math.isnan(rec_exit[r]) and math.isnan(arrival[v])
            if on_link and (full_stop or rec_link[r] in stale):
                stuck[v] = True
    waiting = [
        departed[v] and not first_entered[v] and math.isnan(arrival[v]) for v in range(n_veh)
    ]
    open_heads = {}
    for v in range(n_veh):
        if departed[v] and math.isnan(arrival[v]):
            path = paths[v]
            p = pos[v]
            open_heads[v] = (path[p], path[p + 1] if p + 1 < len(path) else -1)
    return RunRecords(
        # views on the arrays (they stay alive through the views): no copy of the records
        trav_trip=np.frombuffer(rec_trip, dtype=np.int64),
        trav_link=np.frombuffer(rec_link, dtype=np.int32),
        trav_entry_s=np.frombuffer(rec_entry, dtype=np.float64),
        trav_exit_s=np.frombuffer(rec_exit, dtype=np.float64),
        arrival_s=np.array(arrival, dtype=float),
        waiting=np.array(waiting, dtype=bool),
        departed=np.array(departed, dtype=bool),
        stuck=stuck,
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
        leg_end_rows=leg_end_rows,
        open_heads=open_heads,
        actuated_greens=actuated_greens,
    )
