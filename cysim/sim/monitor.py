"""What the engine watches while it runs: link and network samples, gridlock, the run's end.

A SimPy process (:func:`monitor`) samples every ``sample_interval_s``: per link the queued and
present vehicles and whether it blocks its upstream, and the network's counts. It detects
gridlock (:class:`GridlockWatch`), and it ends the run at ``end_s``, once every routed vehicle
has arrived, or when nothing has moved anywhere for the gridlock timeout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from itertools import compress
from typing import Any

import numpy as np
import simpy

from .fleet import Counters, Fleet, Traversals
from .linkspace import LinkAccess, LinkSpace
from .netarrays import NetArrays
from .service import LaneGroups

__all__ = ["GridlockWatch", "Samples", "monitor"]


class Samples:
    """Link and network state sampled during the run, one row per sample.

    Parameters
    ----------
    net
        The network arrays.
    space, access
        The links' state and operations (``free_space``: a full link blocks its upstream
        unless a freed slot has become usable).
    groups, fleet, counters
        The lane groups' queues, the vehicles' entry times and the run's counts.
    eps
        Float tolerance for comparing event times, s.
    """

    def __init__(
        self,
        net: NetArrays,
        *,
        space: LinkSpace,
        access: LinkAccess,
        groups: LaneGroups,
        fleet: Fleet,
        counters: Counters,
        eps: float,
    ) -> None:
        self._net = net
        self._space = space
        self._free_space = access.free_space
        self._queues = groups.queues
        self._entry = fleet.entry
        self._counters = counters
        self._eps = eps
        self._cap = np.asarray(space.cap)
        #: sample times, s
        self.times: list[float] = []
        #: per sample and link: vehicles at the stop line (reached it at free flow)
        self.queued: list[np.ndarray] = []
        #: per sample and link: vehicles on it
        self.occupancy: list[np.ndarray] = []
        #: per sample and link: full, no freed slot usable yet
        self.blocked: list[np.ndarray] = []
        #: per sample: time, in network, waiting to enter, departed, arrived
        self.network: list[tuple[float, int, int, int, int]] = []

    def take(self, now: float) -> None:
        """Sample the state at ``now``."""
        EPS = self._eps
        queues = self._queues
        entry = self._entry
        ff = self._net.freeflow_s
        group_link = self._net.group_link
        n_links = self._net.n_links
        self.times.append(now)
        queued = np.zeros(n_links, dtype=np.int32)
        # only the non-empty queues (compress skips the empty ones in C: most of a large network)
        for g in compress(range(len(queues)), queues):
            f = ff[group_link[g]]
            count = 0
            for v in queues[g]:
                if entry[v] + f > now + EPS:
                    break
                count += 1
            queued[group_link[g]] += count
        self.queued.append(queued)
        self.occupancy.append(self._space.on_links())
        full = np.flatnonzero(np.array(self._space.used) >= self._cap)
        blocked = np.zeros(n_links, dtype=bool)
        blocked[full] = [not self._free_space(link, now) for link in full.tolist()]
        self.blocked.append(blocked)
        c = self._counters
        self.network.append((now, c.in_network, c.waiting, c.departed, c.arrived))

    def network_columns(self) -> dict[str, np.ndarray]:
        """The network samples as columns (``RunRecords.net_samples``)."""
        net_arr = np.array(self.network, dtype=float).reshape(-1, 5)
        return {
            "time_s": net_arr[:, 0],
            "vehicles_in_network": net_arr[:, 1].astype(np.int64),
            "waiting_to_enter": net_arr[:, 2].astype(np.int64),
            "departed": net_arr[:, 3].astype(np.int64),
            "arrived": net_arr[:, 4].astype(np.int64),
        }


class GridlockWatch:
    """Gridlock: a cycle of full links whose queue heads wait for each other.

    Parameters
    ----------
    net
        The network arrays.
    space, access
        The links' state and operations.
    groups, fleet, log, counters
        The lane groups' queues, the vehicles, their traversal records and the run's counts.
    timeout_s
        A cycle of full links none of which discharged for this long is a (local) gridlock;
        no vehicle moving anywhere for this long ends the run.
    eps
        Float tolerance for comparing event times, s.
    """

    def __init__(
        self,
        net: NetArrays,
        *,
        space: LinkSpace,
        access: LinkAccess,
        groups: LaneGroups,
        fleet: Fleet,
        log: Traversals,
        counters: Counters,
        timeout_s: float,
        eps: float,
    ) -> None:
        self._space = space
        self._free_space = access.free_space
        self._queues = groups.queues
        self._fleet = fleet
        self._log = log
        self._counters = counters
        self._timeout_s = timeout_s
        self._eps = eps
        self._link_groups: list[list[int]] = [[] for _ in range(net.n_links)]
        for g, link in enumerate(net.group_link):
            self._link_groups[link].append(g)
        #: what was found: ``detected``, ``time_s`` and the ``links`` of the gridlock
        self.found: dict[str, Any] = {"detected": False, "time_s": None, "links": []}

    def last_move(self) -> float:
        """Time of the last entry or exit anywhere (a discharge is both)."""
        return max(self._counters.last_move_s, max(self._space.last_exit, default=0.0))

    def at_full_stop(self, now: float) -> bool:
        """Whether nothing has moved anywhere for the timeout."""
        return now - self.last_move() >= self._timeout_s - self._eps

    def stale_links(self, now: float) -> list[int]:
        """Links holding vehicles that nobody has left for the timeout."""
        last_exit = self._space.last_exit
        full = np.flatnonzero(self._space.on_links() > 0).tolist()
        return [link for link in full if now - last_exit[link] >= self._timeout_s - self._eps]

    def cycle_links(self, now: float, among: list[int] | None = None) -> list[int]:
        """A cycle of full links whose queue heads wait for each other.

        When ``among`` is None: all full links whose head waits for a full link.
        """
        free_space = self._free_space
        used = self._space.used
        pending = self._space.pending
        pos = self._fleet.pos
        paths = self._fleet.paths
        points_to: dict[int, int] = {}
        for link in range(len(used)) if among is None else among:
            if free_space(link, now) and used[link] == len(pending[link]):
                continue
            for g in self._link_groups[link]:
                q = self._queues[g]
                if not q:
                    continue
                v = q[0]
                p = pos[v] + 1
                path = paths[v]
                assert path is not None  # a queued vehicle has a path
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

    def check(self, now: float) -> bool:
        """Look for gridlock at ``now``; True when nothing moves anywhere (the run must end).

        A full stop is a gridlock of the whole network. Otherwise, once per run, a local
        deadlock is looked for: a cycle of full links none of which has discharged for the
        timeout; the rest of the network runs on (the jam will spread from it).
        """
        found = self.found
        if self.at_full_stop(now):
            if not found["detected"]:
                found.update(detected=True, time_s=now, links=self.cycle_links(now))
            return True
        if not found["detected"] and now >= self._timeout_s - self._eps:
            cycle = self.cycle_links(now, self.stale_links(now))
            if cycle:
                found.update(detected=True, time_s=now, links=cycle)
        return False

    def stuck(self, now: float) -> np.ndarray:
        """Per vehicle, at the end: whether it is stuck.

        Stuck is on a link in a queue that has not moved for the timeout (every queue after a
        full stop). All False when no gridlock was found.
        """
        fleet, log = self._fleet, self._log
        stuck = np.zeros(len(fleet.paths), dtype=bool)
        if not self.found["detected"]:
            return stuck
        stale = set(self.stale_links(now)) | set(self.found["links"])
        full_stop = self.at_full_stop(now)
        for v in range(len(fleet.paths)):
            r = fleet.cur_rec[v]
            on_link = r >= 0 and math.isnan(log.exit_s[r]) and math.isnan(fleet.arrival[v])
            if on_link and (full_stop or log.link[r] in stale):
                stuck[v] = True
        return stuck


def monitor(
    env: simpy.Environment,
    samples: Samples,
    watch: GridlockWatch,
    counters: Counters,
    stop: simpy.Event,
    *,
    end_s: float,
    sample_interval_s: float,
    n_to_arrive: int,
    progress: Callable[[str, float], None] | None,
    eps: float,
) -> Generator[simpy.Event, Any, None]:
    """The monitor process: sample, watch for gridlock, and trigger ``stop`` at the end.

    Parameters
    ----------
    env
        The run's environment.
    samples, watch
        Where samples go, and the gridlock detection.
    counters
        The run's counts (arrivals).
    stop
        Succeeded when the run ends: at ``end_s``, when ``n_to_arrive`` vehicles have arrived,
        or at a full stop.
    end_s, sample_interval_s
        Latest end and sampling interval, s.
    n_to_arrive
        Routed vehicles.
    progress
        Called as ``progress("simulate", fraction)`` at every sample, or None.
    eps
        Float tolerance for comparing event times, s.

    Returns
    -------
    Generator
        The SimPy process generator.
    """
    while True:
        now = env.now
        samples.take(now)
        if progress is not None:
            progress("simulate", min(now / end_s, 1.0))
        if counters.in_network > 0 and watch.check(now):
            stop.succeed()  # nothing moves anywhere: the whole network is gridlocked
            return
        if now >= end_s - eps or counters.arrived == n_to_arrive:
            # the end, or every vehicle has arrived: nothing is left to simulate
            stop.succeed()
            return
        yield env.timeout(min(sample_interval_s, end_s - now))
