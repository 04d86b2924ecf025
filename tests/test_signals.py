"""Signal phases, default plans, node overrides and Webster's method."""

from __future__ import annotations

import math

import pytest
from helpers.simnets import add_link, add_node, crossroads, new_graph, t_junction

from cysim._errors import SimulationError
from cysim.control import signals, webster


def test_crossroads_two_phases_opposites_together():
    G = crossroads(lanes_ns=2, lanes_ew=1)
    phases = signals.phase_groups(G, 0)
    assert len(phases) == 2
    # widest approaches (north-south, 2 lanes) first; opposite approaches share a phase
    assert phases[0] == [(1, 0, 0), (3, 0, 0)]
    assert phases[1] == [(2, 0, 0), (4, 0, 0)]


def test_t_junction_two_phases():
    G = t_junction()
    phases = signals.phase_groups(G, 0)
    assert phases == [[(2, 0, 0), (4, 0, 0)], [(3, 0, 0)]]


def test_six_leg_junction_capped_phases():
    G = new_graph()
    add_node(G, 0, 0, 0, signal=True)
    for i in range(6):
        ang = math.radians(60 * i)
        add_node(G, i + 1, 300 * math.sin(ang), 300 * math.cos(ang))
        add_link(G, i + 1, 0)
    phases = signals.phase_groups(G, 0)
    assert len(phases) == 3
    assert sorted(e for ph in phases for e in ph) == sorted((i + 1, 0, 0) for i in range(6))
    assert all(len(ph) == 2 for ph in phases)


def test_default_plan_cycle_table_and_consistency():
    G = crossroads(lanes_ns=2, lanes_ew=1)
    plan = signals.default_plan(G, 0)
    assert plan.cycle_s == 90.0
    assert plan.lost_time_s == [4.0, 4.0]
    assert sum(plan.green_s) + sum(plan.lost_time_s) == pytest.approx(plan.cycle_s)
    # green in proportion to the widest lane count 2 : 1
    assert plan.green_s[0] == pytest.approx(2 * plan.green_s[1])
    big = crossroads(lanes_ns=4, lanes_ew=3)
    assert signals.default_plan(big, 0).cycle_s == 120.0
    small = crossroads(lanes_ns=1, lanes_ew=1)
    assert signals.default_plan(small, 0).cycle_s == 60.0


def test_green_windows_follow_phases():
    G = crossroads(lanes_ns=1, lanes_ew=1)
    G.nodes[0]["signal_offset_s"] = 10.0
    plan = signals.plan_for_node(G, 0)
    (s0, g0), (s1, g1) = plan.green_windows()
    assert s0 == 10.0 and g0 == pytest.approx(26.0)
    assert s1 == pytest.approx(10 + 26 + 4) and g1 == pytest.approx(26.0)


def test_plan_for_node_uses_attributes():
    G = crossroads()
    G.nodes[0]["signal_cycle_s"] = 100.0
    G.nodes[0]["signal_splits"] = "[0.6, 0.3]"
    plan = signals.plan_for_node(G, 0)
    assert plan.cycle_s == 100.0
    assert plan.green_s == pytest.approx([92 * 2 / 3, 92 / 3])
    G.nodes[0]["signal_splits"] = "[0.5]"
    with pytest.raises(SimulationError, match="phases"):
        signals.plan_for_node(G, 0)
    G.nodes[0]["signal_splits"] = "nonsense"
    with pytest.raises(SimulationError, match="invalid"):
        signals.plan_for_node(G, 0)


def test_webster_textbook():
    # Webster (1958) / Garber & Hoel example form: y = 0.3 and 0.3, L = 10 s:
    # C0 = (1.5·10 + 5)/(1 − 0.6) = 50 s, effective greens (50 − 10)·0.5 = 20 s each.
    assert webster.webster_cycle_s(0.6, 10.0) == pytest.approx(50.0)
    assert webster.proportional_greens(40.0, [0.3, 0.3], [0, 0]) == pytest.approx([20.0, 20.0])
    # Mannering et al. style example: y = 0.25, 0.35, 0.15, L = 12 s:
    # C0 = (18 + 5)/(1 − 0.75) = 92 s; greens = 80 · y/0.75.
    assert webster.webster_cycle_s(0.75, 12.0) == pytest.approx(92.0)
    greens = webster.proportional_greens(80.0, [0.25, 0.35, 0.15], [0, 0, 0])
    assert greens == pytest.approx([80 / 3, 80 * 0.35 / 0.75, 16.0])


def test_proportional_greens_keep_minima():
    """A phase with no flow keeps its minimum; the others share the rest pro rata."""
    assert webster.proportional_greens(32.0, [0.5, 0.0], [10.0, 10.0]) == pytest.approx([22, 10])
    greens = webster.proportional_greens(40.0, [0.3, 0.1, 0.0], [5.0, 12.0, 5.0])
    assert greens == pytest.approx([23.0, 12.0, 5.0])
    # minima that do not fit are scaled down to fill the green time
    assert webster.proportional_greens(20.0, [0.5, 0.5], [15.0, 25.0]) == pytest.approx([7.5, 12.5])
