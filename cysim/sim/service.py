"""Lane-group service: vehicles discharge from a link's lane groups onto their next links.

Every lane group is a server (:mod:`.simpy_adapter`) that sleeps on an empty queue and is woken
when its head vehicle can reach the stop line. It discharges its queue in order as far as its
signal (:mod:`.fixedtime`, :mod:`.controllers`), its saturation headway, the gaps its movement
needs (:mod:`.priority`, :mod:`.permitted`), turn pockets and room on the next link
(:mod:`.linkspace`) allow, moving each vehicle from one link to the next.

This is the engine's hot path: :func:`group_server` and :func:`link_entry` return closures
that read the run's lists through local bindings (a closure cell is read as fast as a local;
an attribute lookup per vehicle is not).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .controllers import ActuatedJunctions
from .fixedtime import FixedTimeSignals, green_after
from .fleet import Fleet, Traversals
from .linkspace import LinkAccess, LinkSpace
from .netarrays import LEFT, NetArrays
from .permitted import PermittedLeftRule, PermittedLefts
from .priority import MajorFlows, PriorityRule
from .simpy_adapter import Server, Wake, WakeEnvironment

__all__ = ["LaneGroups", "PocketQueue", "group_server", "link_entry"]

#: A turn pocket seen from the lane group it branches off: ``(the pocket's queue, its
#: capacity in vehicles, the pocket's lane group)``.
PocketQueue = tuple[list[int], int, int]


@dataclass(eq=False)
class LaneGroups:
    """Per lane group, its queue and service state.

    Attributes
    ----------
    queues
        Vehicles in the group, in order of arrival at the link (the head first).
    armed
        Whether its server has a wake scheduled or waits (space, merge, pocket, green).
    next_free
        Earliest time of its next regular discharge (the saturation or gap headway).
    pockets
        The turn pockets branching off it.
    pocket_waiters
        Pocket group → the server its overflowing queue blocks.
    """

    queues: list[list[int]]
    armed: list[bool]
    next_free: list[float]
    pockets: list[tuple[PocketQueue, ...]]
    pocket_waiters: dict[int, int]

    @classmethod
    def build(cls, net: NetArrays) -> LaneGroups:
        """Every lane group of ``net`` empty and asleep."""
        n_groups = len(net.group_link)
        queues: list[list[int]] = [[] for _ in range(n_groups)]
        pockets = [
            tuple((queues[pg], net.group_pocket_cap[pg], pg) for pg in of) if of else ()
            for of in net.group_pockets
        ]
        return cls(
            queues=queues,
            armed=[False] * n_groups,
            next_free=[0.0] * n_groups,
            pockets=pockets,
            pocket_waiters={},
        )


def link_entry(
    net: NetArrays,
    wake: Wake,
    *,
    space: LinkSpace,
    fleet: Fleet,
    log: Traversals,
    groups: LaneGroups,
    group_act: list[int],
    notify_controller: Callable[[int], None],
) -> Callable[[int, int, float], None]:
    """``enter(v, link, now)``: vehicle ``v`` enters ``link`` from its upstream node.

    It takes a slot and the link's entry headway, starts a traversal record and joins the lane
    group of its next movement (a shared left lane when that is less busy per lane), waking the
    group's server for its arrival at the stop line. :func:`group_server` does the same inline
    for a vehicle it discharges onto its next link: the two must stay alike.

    Parameters
    ----------
    net
        The network arrays.
    wake
        Schedules server wakes.
    space, fleet, log, groups
        The run's links, vehicles, traversal records and lane groups.
    group_act, notify_controller
        Per group its actuated junction (else -1), and the call telling that junction's
        controller of a new vehicle.

    Returns
    -------
    Callable
    """
    nan = math.nan
    ff = net.freeflow_s
    group_of = net.group_of
    group_alt = net.group_alt
    group_lanes = net.group_lanes
    inflow_h = space.inflow_h
    used = space.used
    next_in = space.next_in
    paths = fleet.paths
    pos = fleet.pos
    entry = fleet.entry
    cur_rec = fleet.cur_rec
    rec_trip, rec_link, rec_entry, rec_exit = log.trip, log.link, log.entry_s, log.exit_s
    queues = groups.queues
    armed = groups.armed

    def enter(v: int, link: int, now: float) -> None:
        used[link] += 1
        next_in[link] = now + inflow_h[link]
        entry[v] = now
        cur_rec[v] = len(rec_exit)
        rec_trip.append(v)
        rec_link.append(link)
        rec_entry.append(now)
        rec_exit.append(nan)
        path = paths[v]
        after = pos[v] + 1
        g = group_of[link][path[after] if after < len(path) else -1]  # type: ignore[arg-type,index]
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

    return enter


def group_server(  # noqa: C901 - builds hot-path closures; McCabe counts them in
    net: NetArrays,
    env: WakeEnvironment,
    wake: Wake,
    *,
    space: LinkSpace,
    access: LinkAccess,
    fleet: Fleet,
    log: Traversals,
    groups: LaneGroups,
    signals: FixedTimeSignals,
    junctions: ActuatedJunctions,
    notify_controller: Callable[[int], None],
    lefts: PermittedLefts,
    left_rule: PermittedLeftRule,
    majors: MajorFlows,
    priority: PriorityRule,
    sample_factor: float,
    sneak_window_s: float,
    eps: float,
) -> Server:
    """The server function shared by every lane group that leads to a next link.

    One function for all groups, called as ``serve(g)``, reading each group's constants from
    per-group lists: a function object with its constants per group cost about 0.5 KB ×
    119,000 groups on a 100 × 100 grid.

    Parameters
    ----------
    net
        The network arrays.
    env, wake
        The run's environment and its wake scheduler.
    space, access
        The links' state and its operations (room, entry gate, merge queues).
    fleet, log
        The vehicles and their traversal records.
    groups
        The lane groups' queues and service state.
    signals
        Fixed-time green windows.
    junctions, notify_controller
        Actuated junctions (a group of one is served in its controller's green) and the call
        telling a controller of a vehicle joining one of its groups.
    lefts, left_rule
        Permitted lefts' state and rule (gaps, sneakers, opposing flows).
    majors, priority
        Major flows at priority junctions and the minor movements' gap acceptance.
    sample_factor
        Share of vehicles simulated.
    sneak_window_s
        The last seconds of green in which sneakers leave.
    eps
        Float tolerance for comparing event times, s.

    Returns
    -------
    Server
        ``serve(g)``: discharge lane group ``g`` as far as it can now, then sleep or wake later.
    """
    EPS = eps
    nan = math.nan
    inf = math.inf
    sneak_window_half = sneak_window_s / 2  # sneak_at - this: the start of the sneakers' window
    ff = net.freeflow_s
    group_of = net.group_of
    group_alt = net.group_alt
    group_lanes = net.group_lanes
    group_link = net.group_link
    group_headway = net.group_headway_s
    group_minor = net.group_minor
    group_phase = net.group_phase
    movement_kind = net.movement_kind
    cap = space.cap
    inflow_h = space.inflow_h
    wave = space.wave
    used = space.used
    pending = space.pending
    next_in = space.next_in
    space_waiters = space.space_waiters
    last_exit = space.last_exit
    merge_q = space.merge_q
    registered = space.registered
    gate = access.gate
    drop_out = access.drop_out
    paths = fleet.paths
    pos = fleet.pos
    entry = fleet.entry
    cur_rec = fleet.cur_rec
    rec_trip, rec_link, rec_entry, rec_exit = log.trip, log.link, log.entry_s, log.exit_s
    queues = groups.queues
    armed = groups.armed
    next_free = groups.next_free
    group_pocket_queues = groups.pockets
    pocket_waiters = groups.pocket_waiters
    group_signal = signals.signal
    group_act = junctions.group_act
    act_green = junctions.green
    act_waiting = junctions.waiting
    act_last = junctions.last_left
    group_opp = lefts.opposing
    opposes = lefts.opposes
    group_sneaks = lefts.sneaks
    last_dis = lefts.last_discharge
    gap_from = lefts.gap_from
    sneak_credit = lefts.sneak_credit
    left_turn_at = left_rule.left_turn_at
    sneak_chance = left_rule.sneak_chance
    count_opposing = left_rule.count_opposing
    track_major = majors.tracked
    minor_headway = priority.minor_headway
    count_major = priority.count_major

    def pocket_overflow(pockets: tuple[PocketQueue, ...], t_ready: float, now: float) -> int:
        """The pocket group whose overflow queue blocks a vehicle ready at ``t_ready``, or -1."""
        for pq, pcap, pg in pockets:
            if len(pq) > pcap:
                u = pq[pcap]  # first vehicle that found no room in the pocket
                tu = entry[u] + ff[group_link[pg]]
                if tu <= now + EPS and tu <= t_ready + EPS:
                    return pg
        return -1

    def held_by_pocket(
        g: int, pockets: tuple[PocketQueue, ...], t_ready: float, now: float
    ) -> bool:
        """Whether a turner that found its pocket full holds up ``g``'s head now.

        The head is ready at the stop line at ``t_ready``. If so, ``g``'s server sleeps until the
        pocket serves it, or is
        woken for its next headway.

        The turner stands in a lane ahead of the head vehicle: on one lane it blocks it; on
        more lanes it takes one lane out of service (the headway of the others is longer).
        """
        blocked_by = pocket_overflow(pockets, t_ready, now)
        if blocked_by < 0:
            return False
        lanes = group_lanes[g]
        if lanes == 1:
            if g in registered:
                drop_out(g)
            pocket_waiters[blocked_by] = g  # the pocket's server wakes g when it discharges
            return True
        t = green_after(group_signal[g], next_free[g], group_headway[g] / (lanes - 1))
        if now < t - EPS:
            wake(g, t - now)
            return True
        return False

    def serve_group(g: int) -> None:  # noqa: C901 - the hot path, one call per discharge: kept inline for speed (engine_ab)
        """Discharge lane group ``g`` as far as its signal, headway and the next links allow."""
        q = queues[g]
        link = group_link[g]
        f = ff[link]
        opp = group_opp[g]
        pockets = group_pocket_queues[g]
        now = env.now  # no time passes within a call: read the clock once
        while q:
            v = q[0]
            t = entry[v] + f
            if now < t - EPS:
                wake(g, t - now)
                return
            nxt = paths[v][pos[v] + 1]  # type: ignore[index]
            permitted_left = opp >= 0 and movement_kind[link][nxt] == LEFT
            if permitted_left and group_sneaks[g]:
                # in the last moment of green a left turner that found no gap may sneak
                sneak, sneak_at = sneak_chance(g, opp, entry[v] + f, now)
            else:
                sneak = False
                sneak_at = inf
            # sneakers, too, keep the saturation headway between them, in clock time (the
            # green-time headway of the others would carry into the next green), and at its
            # real length: a sampled sneaker stands for real ones already in the junction
            t = last_dis[g] + group_headway[g] * sample_factor if sneak else next_free[g]
            if opp >= 0 and not sneak:
                # behind a sneaker (which uses none of the green's service) a vehicle still
                # keeps the real saturation headway: the sneaker is in the junction
                t = max(t, last_dis[g] + group_headway[g] * sample_factor)
            if now < t - EPS:
                if t > sneak_at - sneak_window_half:
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
            if pockets and held_by_pocket(g, pockets, entry[v] + f, now):
                return
            if permitted_left and not sneak:
                # a permitted left (not in its protected part) waits for a gap in the opposing
                # flow, or to sneak at the end of the green when no gap comes before
                t = left_turn_at(g, opp, entry[v] + f, now, sneak_at)
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
            # access.leave(link, now) and link_entry's enter(v, nxt, now), inlined: this is
            # the hot path
            last_exit[link] = now
            rec_exit[cur_rec[v]] = now
            wave_delay = wave[link]
            if wave_delay > 0:
                # drop the freed slots whose wave has arrived, inlined: the list holds only the
                # backward-wave window, not one entry per traversal of the run
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
            g2 = group_of[nxt][path[p + 1] if p + 1 < len(path) else -1]  # type: ignore[arg-type,index]
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
                count_opposing(link, now)
            if pocket_waiters and g in pocket_waiters:
                wake(pocket_waiters.pop(g), 0.0)
            if group_minor[g]:
                # the gap the next vehicle needs depends on its movement (the queue's next one,
                # else a movement like this one's)
                after = paths[q[0]][pos[q[0]] + 1] if q else nxt  # type: ignore[index]
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
                    count_major(link, now)
        armed[g] = False

    return serve_group
