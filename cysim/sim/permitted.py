"""Permitted left turns at signals: gaps in the opposing flow, and sneakers at the end of green.

A permitted left turner at the head of its lane group waits for a gap in the opposing approach
of the same phase (HCM potential capacity against the opposing flow measured over whole cycles),
counted in green time like every saturation headway. In the last moment of a fixed-time green a
left turner that found no gap may leave as a *sneaker* (HCM: 2 per cycle and lane group).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .fixedtime import FixedTimeSignals, green_after
from .netarrays import NetArrays
from .priority import PotentialCapacity

__all__ = ["PermittedLeftRule", "PermittedLefts", "permitted_left_rule"]


@dataclass(eq=False)
class PermittedLefts:
    """State of the permitted lefts and of the approaches they give way to.

    Attributes
    ----------
    opposing
        Per lane group, the approach (link) its permitted lefts give way to; -1: none (none at
        all when left turns are protected).
    opposes
        Per link: whether some lane group's lefts give way to it.
    discharges
        Per opposing link, its discharge times within ``window`` (None for other links).
    window
        Per opposing link, the whole cycles spanning at least the major-flow window, s: the
        rate has no cyclic ripple.
    last_discharge
        Per lane group, its last discharge (sneakers included).
    gap_from
        Per lane group with permitted lefts, the last discharge that was not a sneaker: gaps
        are counted in green time from it, so sneakers add to the gap capacity, not replace it.
    sneaks
        Per lane group: whether it may have sneakers (a fixed-time green longer than the
        sneakers' window; the plans give every phase at least 1 s).
    sneak_cycle
        Per lane group, the cycle number of its current sneaker credit.
    sneak_credit
        Per lane group, sneakers still allowed: ``left_sneakers × sample_factor`` per cycle.
    per_cycle
        Sneakers per cycle and lane group (scaled by the sample factor).
    """

    opposing: list[int]
    opposes: list[bool]
    discharges: list[deque[float] | None]
    window: list[float]
    last_discharge: list[float]
    gap_from: list[float]
    sneaks: list[bool]
    sneak_cycle: list[int]
    sneak_credit: list[float]
    per_cycle: float

    @classmethod
    def build(
        cls,
        net: NetArrays,
        signals: FixedTimeSignals,
        *,
        permitted: bool,
        sneakers_per_cycle: float,
        major_window_s: float,
        sneak_window_s: float,
    ) -> PermittedLefts:
        """The permitted lefts of ``net`` before the run.

        Parameters
        ----------
        net
            The network arrays.
        signals
            The fixed-time windows.
        permitted
            False when left turns are protected (no gap acceptance, no sneakers' opposition).
        sneakers_per_cycle
            Sneakers per cycle and lane group, scaled by the sample factor.
        major_window_s
            Least span of the opposing-flow estimate, s.
        sneak_window_s
            The last seconds of green in which sneakers leave.

        Returns
        -------
        PermittedLefts
        """
        n_groups = len(net.group_link)
        opposing = [-1] * n_groups
        if permitted:
            for g, phase in enumerate(net.group_phase):
                if phase >= 0 and not net.group_protected[g]:
                    opposing[g] = net.opposing_link[net.group_link[g]]
        opposes = [False] * net.n_links
        for link in opposing:
            if link >= 0:
                opposes[link] = True
        discharges: list[deque[float] | None] = [deque() if o else None for o in opposes]
        window = [0.0] * net.n_links
        for link in range(net.n_links):
            plan = net.plans[net.link_v[link]] if opposes[link] else None
            if plan is not None:
                window[link] = plan[0] * math.ceil(major_window_s / plan[0])
        sneaks = [
            sneakers_per_cycle > 0 and sig is not None and sig[2] > sneak_window_s
            for sig in signals.signal
        ]
        return cls(
            opposing=opposing,
            opposes=opposes,
            discharges=discharges,
            window=window,
            last_discharge=[-math.inf] * n_groups,
            gap_from=[-math.inf] * n_groups,
            sneaks=sneaks,
            sneak_cycle=[-(1 << 62)] * n_groups,  # no cycle yet (cycle numbers may be negative)
            sneak_credit=[0.0] * n_groups,
            per_cycle=sneakers_per_cycle,
        )


class PermittedLeftRule(NamedTuple):
    """Gap acceptance and sneakers of permitted lefts (see :func:`permitted_left_rule`)."""

    #: ``left_turn_at(g, opp, at_stop_line, now, sneak_at)``: when g's head may turn
    left_turn_at: Callable[[int, int, float, float, float], float]
    #: ``sneak_chance(g, opp, at_stop_line, now)``: ``(sneaks now, when it could sneak)``
    sneak_chance: Callable[[int, int, float, float], tuple[bool, float]]
    #: ``count_opposing(link, now)``: a vehicle of opposing approach ``link`` discharged
    count_opposing: Callable[[int, float], None]


def permitted_left_rule(  # noqa: C901 - builds hot-path closures; McCabe counts them in
    lefts: PermittedLefts,
    signals: FixedTimeSignals,
    net: NetArrays,
    capacity: PotentialCapacity,
    *,
    next_free: list[float],
    group_act: list[int],
    act_green_start: dict[int, float],
    left_gap_s: float | None,
    left_follow_up_s: float,
    sample_factor: float,
    sneak_window_s: float,
    eps: float,
) -> PermittedLeftRule:
    """The rule of permitted lefts over ``lefts`` (closures: called on the hot path).

    Parameters
    ----------
    lefts
        Their state (changed as the run goes).
    signals
        The fixed-time windows.
    net
        The network arrays (saturation headways and lanes per group).
    capacity
        HCM potential capacity.
    next_free
        The lane groups' next service time (a sneaker is not offered while its gap is due).
    group_act, act_green_start
        Per group its actuated junction (else -1), and per actuated junction the start of its
        current green (a single left-turner's wait for a gap starts in it).
    left_gap_s, left_follow_up_s
        Gap acceptance of permitted lefts (``left_gap_s`` None: left turns are protected and
        nothing here is called).
    sample_factor
        Share of vehicles simulated.
    sneak_window_s
        The last seconds of green in which sneakers leave.
    eps
        Float tolerance for comparing event times, s.

    Returns
    -------
    PermittedLeftRule
    """
    EPS = eps
    opp_times = lefts.discharges
    opp_window = lefts.window
    last_dis = lefts.last_discharge
    gap_from = lefts.gap_from
    sneak_cycle = lefts.sneak_cycle
    sneak_credit = lefts.sneak_credit
    sneak_per_cycle = lefts.per_cycle
    group_signal = signals.signal
    group_clearance = signals.clearance
    group_protected_s = signals.protected_s
    sneak_window_half = sneak_window_s / 2
    group_headway = net.group_headway_s
    group_lanes = net.group_lanes

    def drop_before(times: deque[float], start: float) -> None:
        """Drop the times up to ``start`` from the front of ``times`` (ascending)."""
        while times and times[0] <= start:
            times.popleft()

    def opposing_flow(opp: int, now: float) -> float:
        """Real flow (veh/s) of approach ``opp``.

        Measured over the last whole cycles spanning at least the major-flow window.
        """
        times = opp_times[opp]
        window = opp_window[opp]
        drop_before(times, now - window)  # type: ignore[arg-type]
        return len(times) / window / sample_factor  # type: ignore[arg-type]

    def permitted_left_headway(q: float, lane_h: float) -> float:
        """Headway of permitted left turns against the real opposing flow ``q``.

        With HCM potential capacity ``c``, as a sampled run serves them: ``1 / (c ×
        sample_factor)``.
        """
        cp = capacity(q, left_gap_s, left_follow_up_s)  # type: ignore[arg-type]
        return max(lane_h, 1.0 / (cp * sample_factor))

    def first_gap_wait(q: float) -> float:
        """Mean wait of a single left-turner for a gap of ``left_gap_s``.

        In a random opposing flow ``q`` (Adams' delay, ``(e^{q t_c} − 1) / q − t_c``): 0
        without opposing traffic.
        """
        if q <= 1e-9:
            return 0.0
        return (math.expm1(q * left_gap_s)) / q - left_gap_s  # type: ignore[operator]

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
                at_stop_line = max(at_stop_line, act_green_start[group_act[g]])
            return max(t, green_after(signal, at_stop_line, min(left_h, first_gap_wait(q))))
        return t

    def left_turn_at(g: int, opp: int, at_stop_line: float, now: float, sneak_at: float) -> float:
        """When the permitted left at the head of ``g`` may turn.

        ``now`` in the protected part of a protected-then-permitted green, else at the next gap
        in the opposing flow, or at ``sneak_at`` when the gap comes no earlier than the
        sneakers' moment of this green.
        """
        protected = group_protected_s[g]
        if protected > 0:
            cycle, green_start, _ = group_signal[g]  # type: ignore[misc]
            if (now - green_start) % cycle < protected - EPS:
                return now
        t = left_gap_at(g, opp, at_stop_line, now)
        if t > sneak_at - sneak_window_half:
            t = sneak_at  # no gap this green: try to sneak at its end
        return t

    def sneak_chance(g: int, opp: int, at_stop_line: float, now: float) -> tuple[bool, float]:
        """Whether the permitted left at the head of fixed-time group ``g`` sneaks now.

        Else when it could try to sneak: in the last moment of this green or of the next one
        (inf when it sneaks now).
        """
        cycle, green_start, green_len = group_signal[g]  # type: ignore[misc]
        into = (now - green_start) % cycle
        if into < green_len - sneak_window_s - EPS:
            # strictly before the window, so a wake at sneak_at is ≥ 0.25 s ahead
            # and always lands inside it (no zero-delay wake loop)
            return False, now - into + green_len - sneak_window_s / 2
        sneak = False
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
                and left_gap_at(g, opp, at_stop_line, now) <= now + EPS
            ):
                sneak = False  # its gap has come: a regular turn, sneakers later
        if sneak:
            return True, math.inf
        # this window is used up or over: wake again in the next one, so every
        # cycle's sneakers are offered (the gap may be greens away when sampled)
        return False, now - into + cycle + green_len - sneak_window_s / 2

    def count_opposing(link: int, now: float) -> None:
        """A discharge of opposing approach ``link`` at ``now``."""
        times = opp_times[link]
        times.append(now)  # type: ignore[union-attr]
        # kept to the window here too: an approach whose opposing lefts seldom ask would
        # otherwise keep every discharge time of the run
        drop_before(times, now - opp_window[link])  # type: ignore[arg-type]

    return PermittedLeftRule(
        left_turn_at=left_turn_at, sneak_chance=sneak_chance, count_opposing=count_opposing
    )
