"""What the engine's SimPy adapter (cysim/sim/simpy_adapter.py) relies on in SimPy.

The adapter queues server wakes as bare integers in SimPy's private event heap and overrides
``Environment.step``. These tests fail, naming the attribute or the behaviour, when a SimPy
release changes any of it; the engine's records would otherwise change silently (or it would
crash deep in a run).
"""

from __future__ import annotations

import itertools
from numbers import Real

import pytest
import simpy
from simpy.core import EmptySchedule
from simpy.events import NORMAL, URGENT

from cysim.sim.simpy_adapter import WakeEnvironment, wake_scheduler

CHANGED = "SimPy changed what cysim/sim/simpy_adapter.py relies on: "


def recording_env(n_servers: int = 3) -> tuple[WakeEnvironment, list[tuple[str, float]]]:
    """An adapter environment whose servers log ``("w<k>", now)`` when woken."""
    log: list[tuple[str, float]] = []
    servers = []
    for _ in range(n_servers):

        def server(k: int) -> None:
            log.append((f"w{k}", env.now))

        servers.append(server)
    env = WakeEnvironment(servers)
    return env, log


def log_timeout(env: simpy.Environment, delay: float, name: str, log: list) -> simpy.Event:
    """An ordinary SimPy timeout that logs ``(name, now)`` when processed."""
    event = env.timeout(delay)
    event.callbacks.append(lambda _: log.append((name, env.now)))
    return event


def test_simpy_is_the_major_version_the_adapter_was_written_for():
    assert simpy.__version__.split(".")[0] == "4", (
        CHANGED + f"SimPy {simpy.__version__} is not SimPy 4 (pyproject.toml pins simpy<5); check "
        "every test here before widening the pin"
    )


def test_environment_keeps_its_event_heap_clock_and_id_counter():
    env = simpy.Environment()
    assert isinstance(getattr(env, "_queue", None), list), (
        CHANGED + "Environment._queue (the event heap, a list) is gone or no longer a list"
    )
    assert isinstance(getattr(env, "_now", None), Real) and env._now == 0, (
        CHANGED + "Environment._now (the current time) is gone or not a number"
    )
    assert isinstance(getattr(env, "_eid", None), itertools.count), (
        CHANGED + "Environment._eid (the event id counter) is gone or no longer itertools.count"
    )
    first, second = next(env._eid), next(env._eid)
    assert isinstance(first, int) and second > first, (
        CHANGED + "Environment._eid no longer hands out increasing integer ids"
    )
    env._now = 7.5
    assert env.now == 7.5, CHANGED + "Environment.now no longer returns Environment._now"


def test_queue_entries_are_time_priority_id_event():
    env = simpy.Environment()
    timeout = env.timeout(3.0)
    assert len(env._queue) == 1, CHANGED + "Environment.timeout no longer schedules onto _queue"
    entry = env._queue[0]
    assert isinstance(entry, tuple) and len(entry) == 4, (
        CHANGED + f"an entry of Environment._queue is {entry!r}, not (time, priority, id, event)"
    )
    time, priority, eid, event = entry
    assert (time, priority, event) == (3.0, NORMAL, timeout), (
        CHANGED + f"a timeout's queue entry is {entry!r}, not (now + delay, NORMAL, id, timeout)"
    )
    assert isinstance(eid, int), CHANGED + "the third item of a queue entry is not an integer id"


def test_normal_priority_comes_after_urgent():
    assert isinstance(NORMAL, int) and isinstance(URGENT, int), (
        CHANGED + "simpy.events.NORMAL / URGENT are no longer integers"
    )
    assert URGENT < NORMAL, (
        CHANGED + "simpy.events.URGENT no longer sorts before NORMAL (run(until=t) must stop "
        "before the wakes at t)"
    )


def test_run_uses_the_overridden_step_and_now_advances_to_each_wake():
    env, log = recording_env()
    wake = wake_scheduler(env)
    wake(2, 4.0)
    wake(0, 0.5)
    wake(1, 1.5)
    assert env.run() is None
    assert log == [("w0", 0.5), ("w1", 1.5), ("w2", 4.0)], (
        CHANGED + "Environment.run no longer calls self.step() for every entry, or step no "
        f"longer sets _now from the popped entry: {log}"
    )
    assert env.now == 4.0, CHANGED + "Environment.now did not advance to the last wake"


def test_wakes_and_timeouts_at_one_time_fire_in_the_order_they_were_scheduled():
    env, log = recording_env()
    wake = wake_scheduler(env)
    log_timeout(env, 2.0, "t1", log)
    wake(0, 2.0)
    log_timeout(env, 2.0, "t2", log)
    wake(1, 1.0)
    wake(2, 2.0)
    env.run()
    assert log == [("w1", 1.0), ("t1", 2.0), ("w0", 2.0), ("t2", 2.0), ("w2", 2.0)], (
        CHANGED + "wakes (NORMAL priority, ids from Environment._eid) and timeouts due at the "
        f"same time no longer fire in the order they were scheduled: {log}"
    )


def test_a_process_resumes_in_order_with_wakes():
    env, log = recording_env()
    wake = wake_scheduler(env)

    def process():
        yield env.timeout(1.0)
        log.append(("p", env.now))
        wake(0, 0.0)  # due now, after everything scheduled before it
        yield env.timeout(1.0)
        log.append(("p", env.now))

    env.process(process())  # starts at 0, then waits for a timeout scheduled after these two
    log_timeout(env, 1.0, "t", log)
    wake(1, 1.0)
    env.run()
    assert log == [("t", 1.0), ("w1", 1.0), ("p", 1.0), ("w0", 1.0), ("p", 2.0)], (
        CHANGED + f"a process's steps and wakes are no longer ordered as scheduled: {log}"
    )


def test_run_until_a_time_stops_before_the_wakes_due_then():
    env, log = recording_env()
    wake = wake_scheduler(env)
    wake(0, 10.0)
    log_timeout(env, 10.0, "t", log)
    wake(1, 5.0)
    env.run(until=10.0)
    assert log == [("w1", 5.0)] and env.now == 10.0, (
        CHANGED + "run(until=t) no longer stops at t before the NORMAL events due at t (its "
        f"stop event is URGENT): {log}, now {env.now}"
    )
    env.run(until=11.0)
    assert log == [("w1", 5.0), ("w0", 10.0), ("t", 10.0)], (
        CHANGED + f"the wakes left at the stop did not fire when the run went on: {log}"
    )


def test_run_until_an_event_stops_when_a_server_triggers_it():
    env, log = recording_env()
    wake = wake_scheduler(env)
    stop = env.event()

    def stopping_server(k: int) -> None:
        log.append((f"w{k}", env.now))
        stop.succeed("done")

    env.servers[1] = stopping_server
    wake(0, 1.0)
    wake(1, 2.0)
    wake(2, 2.0)  # scheduled before the stop was triggered: still processed
    wake(0, 3.0)
    assert env.run(until=stop) == "done", CHANGED + "run(until=event) no longer returns its value"
    assert log == [("w0", 1.0), ("w1", 2.0), ("w2", 2.0)] and env.now == 2.0, (
        CHANGED + f"run(until=event) did not stop right after the event was processed: {log}"
    )


def test_an_empty_queue_ends_the_run():
    env, _ = recording_env()
    assert env.run() is None
    with pytest.raises(EmptySchedule):
        env.step()
