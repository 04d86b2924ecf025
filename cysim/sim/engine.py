"""One simulation run: SimPy-driven lane-group servers moving vehicle ids through link queues.

:func:`run` wires the engine's parts over the network arrays and runs SimPy:

* :mod:`.simpy_adapter`: server wakes in SimPy's event queue without Event objects (the only
  module that touches SimPy's internals);
* :mod:`.fleet`: the vehicles, their traversal records and the run's counts;
* :mod:`.linkspace`: room on the links (storage, backward wave, entry headway, merges);
* :mod:`.service`: lane-group discharge, moving vehicles from link to link (the hot path);
* :mod:`.fixedtime` and :mod:`.controllers`: fixed-time and vehicle-actuated signals;
* :mod:`.priority` and :mod:`.permitted`: gap acceptance at priority junctions and of permitted
  left turns (with sneakers);
* :mod:`.tripends`: departures, entry from a node, arrivals and parking;
* :mod:`.monitor`: samples, gridlock detection and the run's end.

The model's tunables below are read when :func:`run` is called (a value changed after import
counts, and :mod:`cysim.modeldefaults` keys cached runs on them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..control.webster import potential_capacity_vps
from .controllers import ActuatedJunctions, actuated_control
from .fixedtime import FixedTimeSignals, green_after
from .fleet import Counters, Fleet, Traversals
from .linkspace import LinkSpace, link_access
from .monitor import GridlockWatch, Samples, monitor
from .netarrays import NetArrays
from .permitted import PermittedLefts, permitted_left_rule
from .priority import MajorFlows, priority_rule
from .service import LaneGroups, group_server, link_entry
from .simpy_adapter import Server, WakeEnvironment, wake_scheduler
from .tripends import ParkingHook, trip_ends

__all__ = ["EPS", "ParkingHook", "RunRecords", "green_after", "run"]

#: Float tolerance for comparing event times, seconds.
EPS = 1e-9
#: Time constant of the major-road flow estimate at unsignalised junctions, seconds.
major_flow_window_s: float = 300.0
#: The last seconds of green in which permitted left turns that found no gap leave as sneakers.
sneak_window_s: float = 0.5


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
    eps = EPS  # the tunables are read here, once per run
    n_groups = len(net.group_link)
    # server ids: lane group g is server g, the entry from the node onto link l is n_groups + l
    servers: list[Server] = [None] * (n_groups + net.n_links)  # type: ignore[list-item]
    env = WakeEnvironment(servers)
    wake = wake_scheduler(env)

    # the run's state: plain lists per vehicle, link and lane group, shared by the parts
    fleet = Fleet.at_start(paths)
    log = Traversals()
    counters = Counters()
    space = LinkSpace.empty(net)
    access = link_access(space, wake, eps)
    groups = LaneGroups.build(net)
    junctions = ActuatedJunctions.build(net)
    signals = FixedTimeSignals.build(net, junctions.group_act)
    lefts = PermittedLefts.build(
        net,
        signals,
        permitted=left_gap_s is not None,
        sneakers_per_cycle=left_sneakers * sample_factor,
        major_window_s=major_flow_window_s,
        sneak_window_s=sneak_window_s,
    )
    majors = MajorFlows.build(net)

    # the parts' operations, closures over that state (the hot path reads no attributes)
    control = actuated_control(
        junctions,
        env,
        wake,
        queues=groups.queues,
        entry=fleet.entry,
        next_free=groups.next_free,
        gap_from=lefts.gap_from,
        group_phase=net.group_phase,
        group_link=net.group_link,
        sample_factor=sample_factor,
        eps=eps,
    )
    serve_group = group_server(
        net,
        env,
        wake,
        space=space,
        access=access,
        fleet=fleet,
        log=log,
        groups=groups,
        signals=signals,
        junctions=junctions,
        notify_controller=control.notify,
        lefts=lefts,
        left_rule=permitted_left_rule(
            lefts,
            signals,
            net,
            potential_capacity_vps,
            next_free=groups.next_free,
            group_act=junctions.group_act,
            act_green_start=junctions.green_start,
            left_gap_s=left_gap_s,
            left_follow_up_s=left_follow_up_s,
            sample_factor=sample_factor,
            sneak_window_s=sneak_window_s,
            eps=eps,
        ),
        majors=majors,
        priority=priority_rule(
            majors,
            net,
            potential_capacity_vps,
            critical_gap_s=critical_gap_s,
            follow_up_s=follow_up_s,
            sample_factor=sample_factor,
            window_s=major_flow_window_s,
        ),
        sample_factor=sample_factor,
        sneak_window_s=sneak_window_s,
        eps=eps,
    )
    enter = link_entry(
        net,
        wake,
        space=space,
        fleet=fleet,
        log=log,
        groups=groups,
        group_act=junctions.group_act,
        notify_controller=control.notify,
    )
    leg_end_rows: list[int] = []
    trips = trip_ends(
        net,
        env,
        wake,
        departure_s=departure_s,
        fleet=fleet,
        log=log,
        counters=counters,
        groups=groups,
        access=access,
        enter=enter,
        parking=parking,
        leg_end_rows=leg_end_rows,
        eps=eps,
    )
    samples = Samples(
        net, space=space, access=access, groups=groups, fleet=fleet, counters=counters, eps=eps
    )
    watch = GridlockWatch(
        net,
        space=space,
        access=access,
        groups=groups,
        fleet=fleet,
        log=log,
        counters=counters,
        timeout_s=gridlock_timeout_s,
        eps=eps,
    )

    # one server function per kind: lane groups, exit groups (a link's -1 movement), sources
    servers[:n_groups] = [serve_group] * n_groups
    for groups_of_link in net.group_of:
        servers[groups_of_link[-1]] = trips.serve_exit
    servers[n_groups:] = [trips.serve_source] * net.n_links
    stop = env.event()
    # the processes start in this order (their first steps are ordered by it)
    env.process(trips.departures())
    env.process(
        monitor(
            env,
            samples,
            watch,
            counters,
            stop,
            end_s=end_s,
            sample_interval_s=sample_interval_s,
            n_to_arrive=sum(p is not None for p in paths),
            progress=progress,
            eps=eps,
        )
    )
    for node in sorted(junctions.phase_groups):
        env.process(control.controller(node))
    env.run(until=stop)

    # the records: views on the traversal columns, the samples, what is left at the end
    now = float(env.now)
    junctions.close(now)
    n_links = net.n_links
    return RunRecords(
        # views on the arrays (they stay alive through the views): no copy of the records
        trav_trip=np.frombuffer(log.trip, dtype=np.int64),
        trav_link=np.frombuffer(log.link, dtype=np.int32),
        trav_entry_s=np.frombuffer(log.entry_s, dtype=np.float64),
        trav_exit_s=np.frombuffer(log.exit_s, dtype=np.float64),
        arrival_s=np.array(fleet.arrival, dtype=float),
        waiting=np.array(fleet.waiting_to_enter(), dtype=bool),
        departed=np.array(fleet.departed, dtype=bool),
        stuck=watch.stuck(now),
        sample_time_s=np.array(samples.times, dtype=float),
        queue_veh=np.array(samples.queued, dtype=np.int32).reshape(-1, n_links),
        occupancy_veh=np.array(samples.occupancy, dtype=np.int32).reshape(-1, n_links),
        blocked=np.array(samples.blocked, dtype=bool).reshape(-1, n_links),
        net_samples=samples.network_columns(),
        gridlock=watch.found,
        end_s=now,
        leg_end_rows=leg_end_rows,
        open_heads=fleet.open_heads(),
        actuated_greens=junctions.greens,
    )
