"""Vehicle-actuated control: gap-out, max-out, skipped phases, and delay against fixed plans."""

from __future__ import annotations

import json

import pytest
from helpers.invariants import check_invariants
from helpers.simnets import crossroads, settings_for, trips_frame

from cysim.control import actuated, signals
from cysim.sim import simulate


def actuated_crossroads(**attrs) -> object:
    """Crossroads (one lane per approach) under actuated control."""
    G = crossroads(lanes_ns=1, lanes_ew=1)
    for e in G.edges:
        G.edges[e]["storage_veh"] = 400.0
    G.nodes[0].update(signal_control="actuated", **attrs)
    return G


def phase_of(G, approach) -> int:
    return next(i for i, ph in enumerate(signals.plan_for_node(G, 0).phases) if approach in ph)


def test_phase_gaps_out_after_a_platoon_when_the_cross_street_calls():
    G = actuated_crossroads(signal_min_green_s="[10, 10]", signal_max_green_s="[40, 40]")
    ns = phase_of(G, (1, 0, 0))
    # a platoon of 12 vehicles from the north (they enter at the link's 2 s headway) and one
    # vehicle from the east that calls the cross street while the platoon is served
    rows = [(1, 3, 100.0 + i) for i in range(12)] + [(2, 4, 110.0)]
    res = simulate(G, trips_frame(rows), settings_for(600, cooldown_s=0), seed=0)
    check_invariants(res)
    greens = res.actuated_greens
    tr = res.traversals
    approach = res.links.set_index(["u", "v"])["link"][(1, 0)]
    last_exit = tr[tr["link"] == approach]["exit_s"].max()
    platoon = greens[(greens["phase"] == ns) & (greens["end_s"] > 130)].iloc[0]
    # the zone empties when the last vehicle crosses the stop line; the phase gaps out one
    # passage time (3 s) later, before its maximum (40 s from the cross street's call)
    assert platoon["end_s"] == pytest.approx(last_exit + 3.0, abs=1e-6)
    call_s = 110.0 + 30.0 * (1 - 30.0 / 300.0)  # the east vehicle reaches its zone at 137 s
    assert platoon["end_s"] < call_s + 40.0
    # then the cross street gets its green, after amber and all-red (4 s)
    after = greens[greens["start_s"] > platoon["start_s"]].iloc[0]
    assert after["phase"] == 1 - ns
    assert after["start_s"] == pytest.approx(platoon["end_s"] + 4.0)
    assert tr["exit_s"].notna().all()


def test_without_a_conflicting_call_the_green_rests_and_empty_phases_are_skipped():
    G = actuated_crossroads(signal_min_green_s="[10, 10]", signal_max_green_s="[20, 20]")
    ns = phase_of(G, (1, 0, 0))
    rows = [(1, 3, 50.0 + 2.0 * i) for i in range(200)]  # north–south only, 1,800 veh/h
    res = simulate(G, trips_frame(rows), settings_for(900, cooldown_s=0), seed=0)
    greens = res.actuated_greens
    # the cross street never calls: after the first green (phase 0 at the start) the north–south
    # green rests to the end, far beyond its 20 s maximum, and nobody waits at red
    served = greens[greens["phase"] == ns]
    assert len(served) == 1 and served["end_s"].iloc[0] == pytest.approx(res.extra["end_s"])
    assert (greens["phase"] == 1 - ns).sum() <= 1
    tr = res.traversals
    approach = res.links.set_index(["u", "v"])["link"][(1, 0)]
    waits = tr[tr["link"] == approach].eval("exit_s - entry_s") - 30.0
    assert waits[tr.loc[waits.index, "entry_s"] > 100].max() < 1e-6


def test_max_out_under_continuous_demand():
    G = actuated_crossroads(signal_min_green_s="[10, 10]", signal_max_green_s="[30, 20]")
    # both roads oversaturated: every green runs to its maximum
    rows = [(1, 3, 1.5 * i) for i in range(800)] + [(2, 4, 1.5 * i) for i in range(800)]
    res = simulate(G, trips_frame(rows), settings_for(1200, cooldown_s=0), seed=0)
    greens = res.actuated_greens
    greens = greens[greens["start_s"] > 60]
    length = (greens["end_s"] - greens["start_s"]).groupby(greens["phase"]).median()
    assert length.to_dict() == pytest.approx({0: 30.0, 1: 20.0}, abs=0.01)


def time_varying_demand() -> list[tuple[int, int, float]]:
    """North→south 720 veh/h and east→west 240 veh/h for 30 min, then the other way round."""
    rows = []
    for start, ns_h, ew_h in ((0.0, 5.0, 15.0), (1800.0, 15.0, 5.0)):
        rows += [(1, 3, start + ns_h * i) for i in range(int(1800 / ns_h))]
        rows += [(2, 4, start + ew_h * i) for i in range(int(1800 / ew_h))]
    return rows


def total_delay_h(G) -> float:
    res = simulate(G, trips_frame(time_varying_demand()), settings_for(3600), seed=0)
    check_invariants(res)
    trips = res.trips
    return float((trips["arrival_s"] - trips["departure_s"] - trips["freeflow_s"]).sum() / 3600)


def test_actuated_beats_the_best_fixed_plan_for_the_average_demand():
    # the average demand is 480 veh/h on each road: the best fixed plan gives both roads equal
    # greens; search its cycle. Actuated control follows the demand as it shifts.
    fixed = {}
    for cycle in (40.0, 50.0, 60.0, 80.0, 100.0):
        G = crossroads(lanes_ns=1, lanes_ew=1)
        green = (cycle - 8.0) / 2
        G.nodes[0]["signal_greens_s"] = json.dumps([green, green])
        fixed[cycle] = total_delay_h(G)
    best = min(fixed.values())
    G = actuated_crossroads()
    act = total_delay_h(G)
    # measured: fixed 2.55 veh·h (40 s) … 5.60 (100 s); actuated 2.03
    assert act < 0.9 * best, (act, fixed)


def test_default_settings_follow_pedestrians_and_the_fixed_plan():
    G = actuated_crossroads()
    control = actuated.actuated_plan(G, 0)
    plan = signals.plan_for_node(G, 0)
    # one lane each way: crossing 7 m, 7 + 7 / 1.2 − 4 = 8.83 s; max 1.5 × the fixed green
    assert control.min_green_s == pytest.approx((7 + 7 / 1.2 - 4,) * 2)
    assert control.max_green_s == pytest.approx(tuple(1.5 * g for g in plan.display_green_s))
    assert (control.passage_s, control.detector_m) == (3.0, 30.0)
    G.nodes[0]["signal_max_green_s"] = "[5, 5]"
    with pytest.raises(Exception, match="below its minimum"):
        actuated.actuated_plan(G, 0)


def test_signal_timing_patch_sets_actuated_control():
    from helpers.graphs import grid_graph, lonlat

    from cysim.patch.apply import signal_timing
    from cysim.patch.models import SignalTiming

    G = grid_graph()
    names = signals.plan_phases(G, 5)[2]
    patch = SignalTiming(
        type="signal_timing", junction=lonlat(5), control="actuated",
        min_green_s=8, max_green_s={names[0]: 40, names[1]: 25}, passage_s=2.5,
    )  # fmt: skip
    G2, report = signal_timing(G, patch)
    control = actuated.actuated_plan(G2, 5)
    assert control.min_green_s == pytest.approx((8.0, 8.0))
    assert control.max_green_s == pytest.approx((40.0, 25.0))
    assert control.passage_s == 2.5 and actuated.actuated_plan(G, 5) is None
    row = next(e for e in report.entries if e.attribute == "signal plan")
    assert "actuated: green" in row.after and "actuated" not in row.before
    back = SignalTiming(type="signal_timing", junction=lonlat(5), control="fixed")
    assert actuated.actuated_plan(signal_timing(G2, back)[0], 5) is None
    with pytest.raises(ValueError, match="need 'control: actuated'"):
        SignalTiming(type="signal_timing", junction=lonlat(5), passage_s=2.0)


@pytest.mark.parametrize("f", [1.0, 0.5, 0.25])
def test_actuated_service_counts_green_time_like_a_fixed_plan(f):
    # min = max = 11 s under continuous calls: the controller runs the fixed 30 s plan of 11 s
    # greens (4 s amber + all-red); both must serve s·g/C = 1800 × 11 / 30 = 660 veh/h per
    # approach, at any sample factor (headways resume where the last green stopped them)
    step = 1.5 / f  # 2,400 veh/h per approach (oversaturated), sampled
    rows = [(1, 3, step * i) for i in range(int(2400 / step))]
    rows += [(2, 4, step * i) for i in range(int(2400 / step))]
    served = {}
    for control in ("fixed", "actuated"):
        G = crossroads(lanes_ns=1, lanes_ew=1)
        for e in G.edges:
            G.edges[e]["storage_veh"] = 1000.0
        if control == "fixed":
            G.nodes[0]["signal_greens_s"] = "[11, 11]"
        else:
            G.nodes[0].update(
                signal_control="actuated", signal_min_green_s="[11, 11]",
                signal_max_green_s="[11, 11]",
            )  # fmt: skip
        res = simulate(
            G, trips_frame(rows, sample_factor=f), settings_for(2400, cooldown_s=0), seed=0
        )
        tr = res.traversals
        approach = res.links.set_index(["u", "v"])["link"][(1, 0)]
        done = tr[(tr["link"] == approach) & (tr["exit_s"] >= 600) & (tr["exit_s"] < 2400)]
        served[control] = len(done) / f / 0.5  # real vehicles per hour
    assert served["fixed"] == pytest.approx(660, rel=0.03)
    assert served["actuated"] == pytest.approx(served["fixed"], rel=0.03)


def test_actuated_settings_follow_phases_added_later_and_bad_values_are_refused():
    G = actuated_crossroads(signal_min_green_s="12", signal_max_green_s="[40, 30]")
    assert actuated.actuated_plan(G, 0).min_green_s == pytest.approx((12.0, 12.0))
    # a protected left phase appears (a warrant at run time): one number still fits every phase,
    # a list for the old phases no longer does
    G.edges[3, 0, 0].update(pocket_left=1, pocket_length_m=60.0, left_turn="protected")
    with pytest.raises(Exception, match="one value per phase"):
        actuated.actuated_plan(G, 0)
    G.nodes[0]["signal_max_green_s"] = "50"
    control = actuated.actuated_plan(G, 0)
    assert control.min_green_s == pytest.approx((12.0,) * 3)
    assert control.max_green_s == pytest.approx((50.0,) * 3)
    # an effective minimum green under 1 s (lost time 12 s, minimum 6 s) serves nobody
    G.nodes[0].update(signal_min_green_s="6", signal_lost_time_s=12.0)
    with pytest.raises(Exception, match="effective green"):
        actuated.actuated_plan(G, 0)
    from cysim.patch.models import SignalTiming

    with pytest.raises(ValueError):
        SignalTiming(type="signal_timing", all_signals=True, control="actuated", min_green_s=-5)
