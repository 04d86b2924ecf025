"""Fixed-time signals: each signalised lane group's green window, counted in green time.

A phase of a periodic plan is ``(cycle, green start, green length)``; a lane group is served
only in its green, and its saturation headways count green time (:func:`green_after`). Groups
of actuated junctions have no periodic window (:mod:`.controllers` decides their greens).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .netarrays import NetArrays

__all__ = ["FixedTimeSignals", "Signal", "green_after"]

#: ``(cycle, green start, green length)`` of a phase, s.
Signal = tuple[float, float, float]


def green_after(signal: Signal | None, t: float, dt: float) -> float:
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


@dataclass(eq=False)
class FixedTimeSignals:
    """The periodic green of every lane group, indexed by group.

    Attributes
    ----------
    signal
        The group's window, None when unsignalised or actuated. A protected-then-permitted left
        is green from its own phase's start through the end of its road's phase.
    clearance
        Seconds from the end of its green to the next phase's green (amber + all-red of the
        plan): sneakers may clear until then.
    protected_s
        For a protected-then-permitted left, the seconds at the start of its green in which it
        is protected (then it turns in gaps); 0 otherwise.
    """

    signal: list[Signal | None]
    clearance: list[float]
    protected_s: list[float]

    @classmethod
    def build(cls, net: NetArrays, group_act: Sequence[int]) -> FixedTimeSignals:
        """The windows of ``net``'s plans; groups with ``group_act[g] >= 0`` (actuated) get none.

        Parameters
        ----------
        net
            The network arrays (``group_phase``, ``group_then_phase``, ``plans``).
        group_act
            Per group, the node index of its actuated junction, else -1.

        Returns
        -------
        FixedTimeSignals
        """
        n_groups = len(net.group_link)
        group_node = net.group_node
        group_signal: list[Signal | None] = [None] * n_groups
        group_clearance = [0.0] * n_groups
        group_protected_s = [0.0] * n_groups
        for g, phase in enumerate(net.group_phase):
            then = net.group_then_phase[g]
            if phase >= 0 and then >= 0:
                cycle, windows = net.plans[group_node[g]]  # type: ignore[misc]
                start, green = windows[phase]
                then_start, then_green = windows[then]
                group_signal[g] = (cycle, start, (then_start + then_green - start) % cycle)
                next_start = windows[(then + 1) % len(windows)][0]
                group_clearance[g] = (next_start - then_start - then_green) % cycle
                group_protected_s[g] = green
        # the groups of one phase share its window (one tuple per phase, not per group)
        signal_of: dict[tuple[int, int], Signal] = {}
        clearance_of: dict[tuple[int, int], float] = {}
        for g, phase in enumerate(net.group_phase):
            if phase >= 0 and net.group_then_phase[g] < 0:
                node = group_node[g]
                if (node, phase) not in signal_of:
                    cycle, windows = net.plans[node]  # type: ignore[misc]
                    start, green = windows[phase]
                    signal_of[node, phase] = (cycle, start, green)
                    next_start = windows[(phase + 1) % len(windows)][0]
                    clearance_of[node, phase] = (next_start - start - green) % cycle
                group_signal[g] = signal_of[node, phase]
                group_clearance[g] = clearance_of[node, phase]
        for g, node in enumerate(group_act):
            if node >= 0:
                group_signal[g] = None
        return cls(signal=group_signal, clearance=group_clearance, protected_s=group_protected_s)
