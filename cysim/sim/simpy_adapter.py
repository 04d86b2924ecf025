"""The engine's one contact with SimPy's internals: server wakes queued without Event objects.

SimPy is the engine's event loop (:meth:`simpy.Environment.run`, processes, timeouts). Most
events of a run, though, are "call lane-group server k at time t", millions of them on a large
network, and a SimPy :class:`~simpy.events.Event` for each (object, callback list, the
triggered/failed checks of :meth:`~simpy.Environment.step`) was a large share of the run time
(docs/performance.md: engine CPU ×0.84–0.96 without them). So a *wake* is queued as the bare
server id, with SimPy's own ``(time, priority, id)`` key, and :meth:`WakeEnvironment.step` calls
the server directly. A wake is ordered exactly like a SimPy event of NORMAL priority scheduled at
the same moment: by time, then priority, then the order of scheduling, shared with every
ordinary event (timeouts of the departure, monitor and controller processes).

What this relies on in SimPy 4 (pinned ``simpy>=4.1,<5`` in pyproject.toml; checked by
``tests/test_simpy_adapter.py``, which names the attribute when a release changes it):

* ``Environment._queue``: the heap (a list) of ``(time, priority, event id, event)`` tuples that
  :meth:`~simpy.Environment.schedule` pushes onto and :meth:`~simpy.Environment.step` pops from;
  ids are unique, so two entries never compare their fourth items (an int and an Event);
* ``Environment._now``: the current time, which ``step`` sets from the popped entry and
  :attr:`~simpy.Environment.now` returns;
* ``Environment._eid``: the :func:`itertools.count` handing out the event ids;
* ``simpy.events.NORMAL``: the priority of ordinary events (timeouts), after ``URGENT``, which
  :meth:`~simpy.Environment.run` gives its ``until`` event, so a run until ``t`` stops before
  the wakes at ``t``;
* :meth:`~simpy.Environment.run` advances by calling ``self.step()`` (so the override is used),
  and ``step`` on an empty queue raises :class:`~simpy.core.EmptySchedule`.

Nothing else in the package touches these names.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import cast

import simpy
from simpy.events import NORMAL

__all__ = ["Server", "Wake", "WakeEnvironment", "wake_scheduler"]

#: A server, called with its own id as ``servers[k](k)`` (a few functions shared by all servers,
#: so a large network holds no function object per lane group).
Server = Callable[[int], None]
#: ``wake(k, delay)``: call server ``k`` ``delay`` seconds from now.
Wake = Callable[[int, float], None]


class WakeEnvironment(simpy.Environment):
    """SimPy's environment in which a plain integer in the event queue is a server wake.

    Parameters
    ----------
    servers
        ``servers[k]`` is called as ``servers[k](k)`` when wake ``k`` comes; the list may be
        filled after the environment is made (it is read at each wake).
    """

    def __init__(self, servers: list[Server]) -> None:
        super().__init__()
        self.servers = servers

    def step(self) -> None:
        """Call the next wake directly, or let SimPy process the next event."""
        queue = self._queue
        if queue and type(queue[0][3]) is int:
            self._now, _, _, server = heappop(queue)  # type: ignore[assignment]
            self.servers[server](server)  # type: ignore[index]
            return
        super().step()


def wake_scheduler(env: WakeEnvironment) -> Wake:
    """The function that queues wakes on ``env``.

    Parameters
    ----------
    env
        The environment whose queue the wakes join.

    Returns
    -------
    Wake
        ``wake(server, delay)``: call ``server`` ``delay`` (≥ 0) seconds from now, after every
        event already scheduled for that moment with NORMAL priority.
    """
    # SimPy types its queue entries as holding Events; a wake holds the server id instead
    queue = cast(list[tuple[float, int, int, object]], env._queue)
    event_id = env._eid

    def wake(server: int, delay: float) -> None:
        heappush(queue, (env._now + delay, NORMAL, next(event_id), server))

    return wake
