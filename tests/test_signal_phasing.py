"""Protected-left phases, lane-group Webster timing, warrants and re-timing inside route choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.invariants import check_invariants
from helpers.junctionnets import permitted_capacity_per_green
from helpers.simnets import crossroads, settings_for, t_junction, trips_frame

from cysim.control import signals, webster
from cysim.control.signals import LEFT, THROUGH
from cysim.sim import simulate


def protected_left_net() -> tuple:
    """Crossroads with a left pocket on the south approach 3→0, run as a protected phase.

    Greens as written: south/north left 16 s, north–south 26 s, east–west 26 s; amber 3 s +
    all-red 1 s after each: an 80 s cycle.
    """
    G = crossroads(lanes_ns=1, lanes_ew=1)
    for e in G.edges:
        G.edges[e]["storage_veh"] = 400.0
    G.edges[3, 0, 0].update(pocket_left=1, pocket_length_m=300.0, left_turn="protected")
    _, protected, names = signals.plan_phases(G, 0)
    greens = {name: 26.0 for name in names}
    left_phase = protected[(3, 0, 0)]
    greens[names[left_phase]] = 16.0
    G.nodes[0]["signal_greens_s"] = json.dumps([greens[n] for n in names])
    return G, left_phase


def test_protected_left_phase_structure_and_names():
    G, left_phase = protected_left_net()
    plan = signals.plan_for_node(G, 0)
    assert len(plan.phases) == 3 and plan.phases[left_phase] == []
    assert plan.names[left_phase].endswith(" left")
    assert plan.phases[left_phase + 1].count((3, 0, 0)) == 1  # the lefts lead their road's phase
    assert plan.cycle_s == pytest.approx(16 + 26 + 26 + 3 * 4)
    # without a pocket a "protected" tag cannot give the lefts their own phase
    H = crossroads(lanes_ns=1, lanes_ew=1)
    H.edges[3, 0, 0]["left_turn"] = "protected"
    assert len(signals.plan_for_node(H, 0).phases) == 2


def test_protected_left_capacity_is_saturation_flow_times_its_green():
    # HCM: a protected left lane serves s × g / C: 1800 veh/h × 16 s / 80 s = 8 per cycle (the
    # engine applies no left-turn saturation factor: docs/model.md §3); the opposing flow does
    # not matter and left turns leave only in their own green
    G, left_phase = protected_left_net()
    rows = [(3, 4, 4.0 * i) for i in range(600)]  # 900 veh/h of left turns, above capacity
    rows += [(1, 3, 5.0 * i) for i in range(480)]  # 720 veh/h opposing
    settings = settings_for(2400, cooldown_s=0)
    res = simulate(G, trips_frame(rows), settings, seed=0)
    check_invariants(res)
    link = res.links.set_index(["u", "v"])["link"]
    tr = res.traversals
    lefts = tr[(tr["link"] == link[(3, 0)]) & (tr["exit_s"] >= 800) & (tr["exit_s"] < 2400)]
    per_cycle = len(lefts) / 20  # 20 cycles of 80 s
    assert per_cycle == pytest.approx(8.0, rel=0.05)
    # permitted against the same opposing flow: the gap-acceptance capacity, far less
    assert per_cycle > 1.4 * permitted_capacity_per_green(1 / 5.0, green_s=16.0)
    plan = signals.plan_for_node(G, 0)
    start, green = plan.green_windows()[left_phase]
    in_cycle = (lefts["exit_s"].to_numpy() - start) % plan.cycle_s
    assert (in_cycle <= green + 1e-6).all()


def test_left_turn_warrants():
    G = crossroads(lanes_ns=1, lanes_ew=1)
    G.edges[3, 0, 0].update(pocket_left=1, pocket_length_m=60.0)
    south, north = (3, 0, 0), (1, 0, 0)
    heavy = webster.left_turn_warrants(G, 0, {south: {LEFT: 300.0}})
    assert heavy == {south: "left flow 300 ≥ 240 veh/h"}
    # 100 left × 600 opposing on one lane = 60,000 > 50,000
    product = webster.left_turn_warrants(G, 0, {south: {LEFT: 100.0}, north: {THROUGH: 600.0}})
    assert "60,000 ≥ 50,000" in product[south]
    light = webster.left_turn_warrants(G, 0, {south: {LEFT: 100.0}, north: {THROUGH: 300.0}})
    assert light == {}
    # the north approach has no pocket: never warranted
    assert north not in webster.left_turn_warrants(G, 0, {north: {LEFT: 500.0}})
    G.edges[south]["pocket_left"] = 2
    assert webster.left_turn_warrants(G, 0, {}) == {south: "2 left-turn lanes"}
    # the cross product uses the total opposing through flow; the lanes pick the threshold
    G.edges[south]["pocket_left"] = 1
    G.edges[north]["lanes"] = 2
    two = webster.left_turn_warrants(G, 0, {south: {LEFT: 100.0}, north: {THROUGH: 1000.0}})
    assert "100,000 ≥ 90,000 (2 opposing lanes)" in two[south]
    # nothing opposes a T-junction's stem: its lefts need no protection
    T = t_junction()
    T.edges[3, 0, 0].update(pocket_left=1, pocket_length_m=60.0)
    assert webster.left_turn_warrants(T, 0, {(3, 0, 0): {LEFT: 600.0}}) == {}


def test_pedestrian_minimum_green():
    # north–south road: 2 + 2 lanes (14 m); east–west: 1 + 1 lanes (7 m). Walking beside the
    # north–south traffic, pedestrians cross the east–west road: 7 + 7 / 1.2 − 4 = 8.83 s; the
    # other phase crosses 14 m: 7 + 14 / 1.2 − 4 = 14.67 s
    G = crossroads(lanes_ns=2, lanes_ew=1)
    plan = signals.plan_for_node(G, 0)
    ns = next(i for i, ph in enumerate(plan.phases) if (1, 0, 0) in ph)
    minima = [webster.pedestrian_min_green_s(G, plan, p) for p in range(2)]
    assert minima[ns] == pytest.approx(7 + 7 / 1.2 - 4)
    assert minima[1 - ns] == pytest.approx(7 + 14 / 1.2 - 4)


def test_lane_group_flow_ratios_count_permitted_lefts_in_through_equivalents():
    G = crossroads(lanes_ns=2, lanes_ew=1)
    G.edges[3, 0, 0].update(pocket_left=1, pocket_length_m=60.0)
    plan = signals.plan_for_node(G, 0)
    ns = next(i for i, ph in enumerate(plan.phases) if (3, 0, 0) in ph)
    flows = {(3, 0, 0): {LEFT: 250.0, THROUGH: 900.0}, (1, 0, 0): {THROUGH: 720.0}}
    ratios = webster.phase_flow_ratios(G, plan, flows, 4.5, 2.5)
    gap_capacity = permitted_capacity_per_green(720 / 3600, green_s=3600.0)  # veh/h of green
    left_y = 250.0 * (1800 / gap_capacity) / 1800
    assert ratios[ns] == pytest.approx(max(900 / 3600, 720 / 3600, left_y))
    assert left_y > 900 / 3600  # the permitted left pocket is the critical lane group
    # protected, the same left flow needs only 250 / 1800 of its own phase
    G.edges[3, 0, 0]["left_turn"] = "protected"
    plan = signals.plan_for_node(G, 0)
    ratios = webster.phase_flow_ratios(G, plan, flows, 4.5, 2.5)
    left_phase = plan.protected_left[(3, 0, 0)]
    assert ratios[left_phase] == pytest.approx(250 / 1800)
    assert ratios[left_phase + 1] == pytest.approx(900 / 3600)


def webster_crossroads_run(iterations: int, left_every_s: float | None = None):
    """Crossroads timed by Webster inside route choice: 1,000 veh/h north→south on two lanes,
    250 veh/h east→west; optionally left turns 3→4 from a pocket."""
    G = crossroads(lanes_ns=2, lanes_ew=1)
    G.nodes[0]["signal_optimize"] = "webster"
    G.nodes[0]["signal_greens_s"] = "[30, 20]"  # the static plan the patch sets: two phases
    G.edges[3, 0, 0].update(pocket_left=1, pocket_length_m=120.0)
    rows = [(1, 3, 3.6 * i) for i in range(1000)]
    rows += [(2, 4, 14.4 * i) for i in range(250)]
    if left_every_s:
        rows += [(3, 4, left_every_s * i) for i in range(int(3600 / left_every_s))]
    settings = settings_for(3600, route_choice={"iterations": iterations})
    return G, simulate(G, trips_frame(rows), settings, seed=0)


def test_webster_retiming_inside_route_choice_settles_on_the_flows():
    G, res = webster_crossroads_run(10)
    check_invariants(res, fifo=False)  # two-lane approaches: FIFO per lane, not per movement
    rc = res.route_choice
    assert rc["plan_change_s"].iloc[-1] <= 1.0  # the plans stopped changing
    assert len(rc) < 10
    table = res.signal_timing
    assert set(table["junction"]) == {0}
    ns_phase = table[table["roads"].str.contains("north|0°", regex=True)]
    # the busier road gets the longer green; its degree of saturation is below 0.9
    greens = table.set_index("phase")["green_s"]
    x = table.set_index("phase")["degree_of_saturation"]
    assert greens.max() > greens.min() and (x <= 0.9 + 1e-6).all()
    assert ns_phase.empty or ns_phase["green_s"].iloc[0] == greens.max()
    # the caller's network keeps its plan: re-timing works on a copy
    assert G.nodes[0]["signal_greens_s"] == "[30, 20]"


def test_warranted_left_pocket_gets_a_protected_phase_in_the_run():
    # 300 veh/h of left turns: a third phase replaces the two-phase plan in force
    _, res = webster_crossroads_run(10, left_every_s=12.0)
    table = res.signal_timing
    left = table[table["roads"].str.endswith(" left")]
    assert len(left) == 1 and "left flow" in left["warrant"].iloc[0]
    assert np.isfinite(left["flow_ratio"].iloc[0])


def test_protected_then_permitted_left_adds_the_gap_capacity_of_its_roads_phase():
    # protected 16 s (8 per 80 s cycle), then its green runs on through the change (4 s) and its
    # road's 26 s green, turning in gaps of the opposing flow: HCM c_p × 30 s, plus 2 sneakers
    G, left_phase = protected_left_net()
    G.edges[3, 0, 0]["left_turn"] = "protected_permitted"
    rows = [(3, 4, 4.0 * i) for i in range(600)]  # 900 veh/h of left turns, above capacity
    rows += [(1, 3, 5.0 * i) for i in range(480)]  # 720 veh/h opposing (585 veh/h get through)
    res = simulate(G, trips_frame(rows), settings_for(2400, cooldown_s=0), seed=0)
    check_invariants(res)
    link = res.links.set_index(["u", "v"])["link"]
    tr = res.traversals
    window = (tr["exit_s"] >= 800) & (tr["exit_s"] < 2400)
    lefts = tr[(tr["link"] == link[(3, 0)]) & window]
    opposing_vps = len(tr[(tr["link"] == link[(1, 0)]) & window]) / 1600.0
    per_cycle = len(lefts) / 20
    expected = 8.0 + permitted_capacity_per_green(opposing_vps, green_s=30.0) + 2.0
    assert per_cycle == pytest.approx(expected, rel=0.05)
    plan = signals.plan_for_node(G, 0)
    start, green = plan.green_windows()[left_phase]
    in_cycle = (lefts["exit_s"].to_numpy() - start) % plan.cycle_s
    protected = (in_cycle <= green + 1e-6).sum() / 20
    assert protected == pytest.approx(8.0, abs=0.1)  # the protected part as before
