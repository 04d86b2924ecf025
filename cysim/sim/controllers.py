"""Vehicle-actuated junctions: one SimPy controller process per junction decides each green.

The plans come from :mod:`cysim.actuated` (docs/model.md §3). A controller reads presence
detection from the lane groups' queues (a vehicle is in a detection zone from its free-flow
arrival there until it crosses the stop line), wakes the groups of a phase at its green, and
sleeps until the next detection it can foresee or a vehicle joining one of its approaches
(:func:`actuated_control`'s ``notify``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import simpy

from .netarrays import NetArrays
from .simpy_adapter import Wake

__all__ = ["ActuatedControl", "ActuatedJunctions", "actuated_control"]


class ActuatedPlan(Protocol):
    """What a controller reads of a junction's plan (:class:`cysim.actuated.ActuatedPlan`)."""

    @property
    def min_green_s(self) -> Sequence[float]: ...
    @property
    def max_green_s(self) -> Sequence[float]: ...
    @property
    def lost_time_s(self) -> Sequence[float]: ...
    @property
    def passage_s(self) -> float: ...
    @property
    def detector_m(self) -> float: ...


@dataclass(eq=False)
class ActuatedJunctions:
    """State of the actuated junctions, keyed by node index, and of their lane groups.

    Attributes
    ----------
    plans
        Plan per actuated node.
    group_act
        Per lane group, the node index of its actuated junction, else -1.
    phase_groups
        Per actuated node, the lane groups of each phase.
    green
        Per actuated node, the phase in green, -1: none (lost time or all-red).
    green_start
        Per actuated node, the start of its current (or last) green.
    waiting
        Per actuated node, its lane groups that found red and wait for their green.
    sleeping
        Per actuated node, the event its resting controller waits for, or None.
    last_left
        Per lane group, when a vehicle last left its detection zone (crossed the stop line).
    red_from
        Per lane group, when its last green ended.
    zone_after_s
        Per link, free-flow seconds from entering it to reaching its detection zone.
    greens
        ``(node index, phase, start_s, end_s)`` of every finished green, in time order.
    """

    plans: Mapping[int, ActuatedPlan]
    group_act: list[int]
    phase_groups: dict[int, list[list[int]]]
    green: dict[int, int]
    green_start: dict[int, float]
    waiting: dict[int, set[int]]
    sleeping: dict[int, simpy.Event | None]
    last_left: list[float]
    red_from: list[float]
    zone_after_s: list[float]
    greens: list[tuple[int, int, float, float]]

    @classmethod
    def build(cls, net: NetArrays) -> ActuatedJunctions:
        """The actuated junctions of ``net`` before the run, every one in all-red."""
        n_groups = len(net.group_link)
        group_act = [-1] * n_groups
        phase_groups: dict[int, list[list[int]]] = {}
        for g, phase in enumerate(net.group_phase):
            node = net.group_node[g]
            if phase >= 0 and node in net.actuated:
                group_act[g] = node
                phases = phase_groups.setdefault(node, [[] for _ in net.actuated[node].min_green_s])
                phases[phase].append(g)
        zone_after_s = [0.0] * net.n_links
        for node, plan in net.actuated.items():
            for groups in phase_groups.get(node, []):
                for g in groups:
                    link = net.group_link[g]
                    length = net.length_m[link]
                    zone_after_s[link] = net.freeflow_s[link] * (
                        1.0 - min(plan.detector_m, length) / length
                    )
        return cls(
            plans=net.actuated,
            group_act=group_act,
            phase_groups=phase_groups,
            green=dict.fromkeys(phase_groups, -1),
            green_start=dict.fromkeys(phase_groups, 0.0),
            waiting={node: set() for node in phase_groups},
            sleeping=dict.fromkeys(phase_groups),
            last_left=[-math.inf] * n_groups,
            red_from=[0.0] * n_groups,
            zone_after_s=zone_after_s,
            greens=[],
        )

    def close(self, now: float) -> None:
        """End of the run: record the greens still running (resting) at ``now``."""
        for node, phase in self.green.items():
            if phase >= 0:
                self.greens.append((node, phase, self.green_start[node], now))


class ActuatedControl(NamedTuple):
    """The controllers of :class:`ActuatedJunctions` (see :func:`actuated_control`)."""

    #: ``controller(node)``: the SimPy process generator of one junction
    controller: Callable[[int], Generator[simpy.Event, Any, None]]
    #: ``notify(g)``: a vehicle joined lane group ``g``; wakes its controller if it sleeps
    notify: Callable[[int], None]


def actuated_control(  # noqa: C901 - builds hot-path closures; McCabe counts them in
    junctions: ActuatedJunctions,
    env: simpy.Environment,
    wake: Wake,
    *,
    queues: list[list[int]],
    entry: list[float],
    next_free: list[float],
    gap_from: list[float],
    group_phase: list[int],
    group_link: list[int],
    sample_factor: float,
    eps: float,
) -> ActuatedControl:
    """The controller processes of ``junctions``.

    Parameters
    ----------
    junctions
        Their state (changed as the run goes).
    env, wake
        The run's environment and its wake scheduler.
    queues, entry
        The lane groups' queues and the vehicles' link entry times (detection).
    next_free, gap_from
        The lane groups' next service time and permitted-left gap origin: shifted by each red,
        so that they count green time only.
    group_phase, group_link
        The network's phase and link per lane group.
    sample_factor
        Share of vehicles simulated: a sampled stream's gaps are ``1 / f`` times longer, and the
        passage time follows them.
    eps
        Float tolerance for comparing event times, s.

    Returns
    -------
    ActuatedControl
    """
    EPS = eps
    phase_groups = junctions.phase_groups
    act_green = junctions.green
    act_start = junctions.green_start
    act_waiting = junctions.waiting
    act_sleep = junctions.sleeping
    act_last = junctions.last_left
    act_red_from = junctions.red_from
    zone_after_s = junctions.zone_after_s
    actuated_greens = junctions.greens
    group_act = junctions.group_act

    def phase_calls(node: int, phase: int, now: float) -> tuple[float, float, float]:
        """Detection of a phase's lane groups.

        When the earliest vehicle still in its zones arrived there (inf: none, the zones are
        empty), when the next vehicle on its way will
        arrive (inf: none), and when a vehicle last left the zones (presence detection: a
        vehicle is in the zone from its free-flow arrival there until it crosses the stop line;
        each queue is in order of arrival).
        """
        first = upcoming = math.inf
        last = -math.inf
        for g in phase_groups[node][phase]:
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

    def controller(node: int) -> Generator[simpy.Event, Any, None]:
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
        plan = junctions.plans[node]
        n = len(plan.min_green_s)
        # a sampled stream's gaps are 1/f times longer: the passage time follows them
        passage = plan.passage_s / sample_factor
        phase = 0
        while True:
            start = env.now
            act_green[node] = phase
            act_start[node] = start
            for g in phase_groups[node][phase]:
                red = start - act_red_from[g]
                if red > 0:
                    if next_free[g] > act_red_from[g]:
                        next_free[g] += red
                    gap_from[g] += red
            waiting = act_waiting[node]
            for g in sorted(waiting):
                if group_phase[g] == phase:
                    wake(g, 0.0)
            waiting.difference_update(phase_groups[node][phase])
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
            for g in phase_groups[node][phase]:
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

    def notify(g: int) -> None:
        """A vehicle joined lane group ``g``: wake its junction's controller if it sleeps."""
        event = act_sleep.get(group_act[g])
        if event is not None:
            act_sleep[group_act[g]] = None
            event.succeed()

    return ActuatedControl(controller=controller, notify=notify)
