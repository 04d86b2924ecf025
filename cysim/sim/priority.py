"""Unsignalised priority junctions: minor movements accept gaps in the major flows.

A minor movement's headway follows HCM's two-way-stop potential capacity against the major
flows it conflicts with (``NetArrays.minor_conflicts``), each estimated from the major
approach's own discharges (an exponentially weighted rate, :data:`major_flow_window_s` of
:mod:`cysim.sim.engine`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .netarrays import NetArrays

__all__ = ["MajorFlows", "PriorityRule", "priority_rule"]

#: ``capacity(q, critical_gap_s, follow_up_s)``: potential capacity (veh/s) of a movement
#: giving way to a major flow ``q`` (veh/s), :func:`cysim.webster.potential_capacity_vps`
PotentialCapacity = Callable[[float, float, float], float]


@dataclass(eq=False)
class MajorFlows:
    """Discharge-rate estimates of the major approaches at priority junctions, per link.

    Attributes
    ----------
    rate
        Discharge rate of the simulated vehicles (exponentially weighted), veh/s, as of
        ``updated``.
    updated
        When ``rate`` was last updated, s.
    tracked
        Per lane group: whether its discharges count (a major group at a junction with minor
        movements).
    """

    rate: list[float]
    updated: list[float]
    tracked: list[bool]

    @classmethod
    def build(cls, net: NetArrays) -> MajorFlows:
        """No discharge yet on ``net``."""
        n_groups = len(net.group_link)
        has_minor = [False] * len(net.nodes)
        for g in range(n_groups):
            if net.group_minor[g]:
                has_minor[net.group_node[g]] = True
        tracked = [has_minor[net.group_node[g]] and not net.group_minor[g] for g in range(n_groups)]
        return cls(rate=[0.0] * net.n_links, updated=[0.0] * net.n_links, tracked=tracked)


class PriorityRule(NamedTuple):
    """Gap acceptance at priority junctions (see :func:`priority_rule`)."""

    #: ``minor_headway(link, nxt, base_h, lanes, now)``: headway of minor movement link → nxt
    minor_headway: Callable[[int, int, float, int, float], float]
    #: ``count_major(link, now)``: a vehicle of major approach ``link`` discharged at ``now``
    count_major: Callable[[int, float], None]


def priority_rule(
    flows: MajorFlows,
    net: NetArrays,
    capacity: PotentialCapacity,
    *,
    critical_gap_s: float,
    follow_up_s: float,
    sample_factor: float,
    window_s: float,
) -> PriorityRule:
    """The gap-acceptance rule of minor movements, over ``flows``.

    Parameters
    ----------
    flows
        The major flows' estimates (updated by ``count_major``).
    net
        The network arrays (``minor_conflicts``).
    capacity
        HCM potential capacity.
    critical_gap_s, follow_up_s
        Gap acceptance of minor movements (HCM two-way stop).
    sample_factor
        Share of vehicles simulated (used to un-scale measured major flows).
    window_s
        Time constant of the major-flow estimate, s.

    Returns
    -------
    PriorityRule
    """
    minor_conflicts = net.minor_conflicts
    major_rate = flows.rate
    major_t = flows.updated
    exp = math.exp

    def minor_headway(link: int, nxt: int, base_h: float, lanes: int, now: float) -> float:
        """Headway of a minor movement ``link → nxt``.

        Gap acceptance in the major flows it conflicts with (``net.minor_conflicts``).
        """
        q = 0.0
        for major, weight in minor_conflicts[link].get(nxt, ()):
            q += weight * major_rate[major] * exp(-(now - major_t[major]) / window_s)
        q /= sample_factor
        cp = capacity(q, critical_gap_s, follow_up_s)
        return max(base_h, 1.0 / (cp * lanes * sample_factor))

    def count_major(link: int, now: float) -> None:
        """A discharge of major approach ``link`` at ``now``: decay the rate, add one."""
        decayed = major_rate[link] * exp(-(now - major_t[link]) / window_s)
        major_rate[link] = decayed + 1.0 / window_s
        major_t[link] = now

    return PriorityRule(minor_headway=minor_headway, count_major=count_major)
