"""Room on the links: storage, the backward wave that frees it, the entry headway, merges.

A link holds at most its storage capacity. A vehicle leaving it frees its slot only when the
backward wave has travelled from the stop line to the entry (``wave_delay_s``), and a link takes
a vehicle at most every ``inflow_headway_s`` (mid-block capacity). Servers that find the next
link full, or its next entry slot not yet come, queue for it first come, first served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .netarrays import NetArrays
from .simpy_adapter import Wake

__all__ = ["LinkAccess", "LinkSpace", "link_access"]


@dataclass(eq=False)
class LinkSpace:
    """Per-link occupancy and entry state, indexed by link.

    Attributes
    ----------
    cap, inflow_h, wave
        Storage capacity (vehicles), entry headway and backward-wave delay (s): the network's.
    used
        Vehicles on the link plus freed slots not yet usable upstream.
    pending
        Times at which the freed slots become usable, ascending (the backward-wave window).
    next_in
        Earliest time of the next entry.
    space_waiters
        Servers asleep until a slot of the link is freed.
    last_exit
        Time of the last vehicle leaving the link.
    merge_q
        Servers blocked on the link, first come, first served (the first one waits actively).
    registered
        Server id → the link in whose ``merge_q`` it is.
    """

    cap: list[int]
    inflow_h: list[float]
    wave: list[float]
    used: list[int]
    pending: list[list[float]]
    next_in: list[float]
    space_waiters: list[list[int]]
    last_exit: list[float]
    merge_q: list[list[int]]
    registered: dict[int, int]

    @classmethod
    def empty(cls, net: NetArrays) -> LinkSpace:
        """Every link of ``net`` empty.

        Per-link queues are short (bounded by the link's storage) and there are tens of
        thousands on a large network: lists (56 B empty) rather than deques (~600 B).
        """
        n = net.n_links
        return cls(
            cap=net.storage_cap,
            inflow_h=net.inflow_headway_s,
            wave=net.wave_delay_s,
            used=[0] * n,
            pending=[[] for _ in range(n)],
            next_in=[0.0] * n,
            space_waiters=[[] for _ in range(n)],
            last_exit=[0.0] * n,
            merge_q=[[] for _ in range(n)],
            registered={},
        )

    def on_links(self) -> np.ndarray:
        """Vehicles on each link: its used slots minus the freed ones not yet usable upstream."""
        freed = np.fromiter(map(len, self.pending), dtype=np.int32, count=len(self.pending))
        return np.array(self.used, dtype=np.int32) - freed


class LinkAccess(NamedTuple):
    """The operations on :class:`LinkSpace` (closures over its lists, see :func:`link_access`)."""

    #: ``free_space(link, now)``: whether ``link`` has a usable slot now
    free_space: Callable[[int, float], bool]
    #: ``gate(link, now, server, early=0.0)``: whether ``server`` may move its head onto ``link``
    gate: Callable[..., bool]
    #: ``drop_out(server)``: ``server`` waits for its own reason; the next in its merge queue goes
    drop_out: Callable[[int], None]
    #: ``leave(link, now)``: a vehicle leaves ``link`` at ``now`` (its slot frees with the wave)
    leave: Callable[[int, float], None]


def link_access(space: LinkSpace, wake: Wake, eps: float) -> LinkAccess:  # noqa: C901 - factory of hot-path closures; McCabe adds theirs in
    """The operations on ``space``, bound to its lists (closures: the hot path reads locals).

    Parameters
    ----------
    space
        The links' state.
    wake
        Schedules server wakes.
    eps
        Float tolerance for comparing event times, s.

    Returns
    -------
    LinkAccess
    """
    EPS = eps
    cap = space.cap
    wave = space.wave
    used = space.used
    pending = space.pending
    next_in = space.next_in
    space_waiters = space.space_waiters
    last_exit = space.last_exit
    merge_q = space.merge_q
    registered = space.registered

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

    def leave(link: int, now: float) -> None:
        """A vehicle leaves ``link`` at ``now``.

        Its slot frees when the backward wave has reached the entry, and servers waiting for
        space on it try again.
        """
        last_exit[link] = now
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

    return LinkAccess(free_space=free_space, gate=gate, drop_out=drop_out, leave=leave)
