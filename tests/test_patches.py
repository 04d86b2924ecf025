"""Each patch type changes exactly the intended elements by the intended amount."""
# ruff: noqa: E501  (the table of failing patches reads best one case per line)

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers.graphs import grid_graph, lonlat, offset_lonlat, snapshot

from cysim._errors import PatchError
from cysim.control import signals, webster
from cysim.network import build as network
from cysim.patch.apply import (
    add_parking,
    apply_demand_patches,
    apply_patches,
    channelize,
    close_road,
    demand_shift,
    open_road,
    remove_on_street_parking,
    set_speed,
    signal_timing,
    widen_road,
)
from cysim.patch.models import (
    AddParking,
    Channelize,
    CloseRoad,
    DemandShift,
    OpenRoad,
    RemoveOnStreetParking,
    SetSpeed,
    SignalTiming,
    WidenRoad,
)
from cysim.scenario.load import load_scenario

WENYANG = {(1, 2, 0), (2, 1, 0), (2, 3, 0), (3, 2, 0)}


@pytest.fixture
def G():
    return grid_graph()


def changed_edges(before, after) -> set:
    """Edges whose attribute dicts differ (or exist in only one graph)."""
    _, _, a = snapshot(before)
    _, _, b = snapshot(after)
    return {e for e in set(a) | set(b) if a.get(e) != b.get(e)}


def changed_nodes(before, after) -> set:
    _, a, _ = snapshot(before)
    _, b, _ = snapshot(after)
    return {n for n in set(a) | set(b) if a.get(n) != b.get(n)}


def every_patch_type() -> list:
    return [
        WidenRoad(type="widen_road", road="文阳路", lanes_per_direction=3),
        SetSpeed(type="set_speed", road="长城路", speed_kph=50),
        Channelize(type="channelize", junction=("正阳中路", "长城路"), add_turn_lanes={"left": 1}),
        SignalTiming(
            type="signal_timing", junction=("正阳中路", "长城路"), cycle_s=100, splits=[0.5, 0.4]
        ),
        AddParking(type="add_parking", location=lonlat(5), spaces=300, guidance=True),
        RemoveOnStreetParking(type="remove_on_street_parking", roads=["正阳中路"]),
        OpenRoad(
            type="open_road", **{"from": lonlat(9)}, to=lonlat(10), lanes_per_direction=1,
            speed_kph=30,
        ),
        CloseRoad(type="close_road", road="春阳路"),
        DemandShift(type="demand_shift", scale=0.9, zones=["A"]),
    ]  # fmt: skip


def test_input_graph_is_never_modified(G):
    before = snapshot(G)
    G2, report = apply_patches(G, every_patch_type())
    assert snapshot(G) == before
    assert snapshot(G2) != before
    assert len(report.headers) == 9
    assert "applies to the trips at run time" in report.notes[8]


def test_widen_two_to_three_lanes_scales_capacity_and_storage_by_three_halves(G):
    G2, report = widen_road(G, WidenRoad(type="widen_road", road="文阳路", lanes_per_direction=3))
    assert changed_edges(G, G2) == WENYANG
    assert changed_nodes(G, G2) == set()
    for edge in WENYANG:
        old, new = G.edges[edge], G2.edges[edge]
        assert (old["lanes"], new["lanes"]) == (2, 3)
        assert new["capacity_vph"] == pytest.approx(old["capacity_vph"] * 1.5)
        assert new["storage_veh"] == pytest.approx(old["storage_veh"] * 1.5)
        assert new["saturation_flow_vphpl"] == old["saturation_flow_vphpl"]
    assert report.patched_edges() == WENYANG
    assert {e.attribute for e in report.entries} == {"lanes", "capacity_vph", "storage_veh"}


def test_widen_one_direction_of_a_stretch(G):
    patch = WidenRoad(
        type="widen_road",
        road="文阳路",
        between=(lonlat(2), lonlat(3)),
        direction="backward",
        add_lanes=1,
    )
    G2, _ = widen_road(G, patch)
    assert changed_edges(G, G2) == {(3, 2, 0)}
    assert G2.edges[3, 2, 0]["lanes"] == 3


def test_close_stretch_removes_it_and_nothing_else(G):
    patch = CloseRoad(type="close_road", road="文阳路", between=(lonlat(1), lonlat(2)))
    G2, report = close_road(G, patch)
    assert set(G.edges(keys=True)) - set(G2.edges(keys=True)) == {(1, 2, 0), (2, 1, 0)}
    assert set(G2.edges(keys=True)) <= set(G.edges(keys=True))
    assert changed_edges(G, G2) == {(1, 2, 0), (2, 1, 0)}
    assert changed_nodes(G, G2) == set()
    assert report.patched_edges() == {(1, 2, 0), (2, 1, 0)}


def test_close_that_disconnects_is_an_error_unless_allowed(G):
    with pytest.raises(PatchError) as caught:
        close_road(G, CloseRoad(type="close_road", road="华中路"))
    assert "cuts 1 junction off" in str(caught.value)
    assert "华中路" in str(caught.value)
    assert "allow_disconnect" in str(caught.value)
    G2, report = close_road(G, CloseRoad(type="close_road", road="华中路", allow_disconnect=True))
    assert G2.degree(9) == 0  # kept isolated: baseline trips to it count as unrouted
    assert report.patched_nodes() == {9}
    assert report.warnings


def test_set_speed_recomputes_capacity_only_on_that_road(G):
    G2, _ = set_speed(G, SetSpeed(type="set_speed", road="文阳路", speed_kph=60))
    assert changed_edges(G, G2) == WENYANG
    for edge in WENYANG:
        assert G2.edges[edge]["speed_kph"] == 60
        # CJJ 37 lane capacity 1700 at 50 km/h → 1800 at 60 km/h
        assert G2.edges[edge]["capacity_vph"] == pytest.approx(
            G.edges[edge]["capacity_vph"] * 18 / 17
        )


def test_channelize_changes_only_the_approaches_of_that_junction(G):
    patch = Channelize(
        type="channelize",
        junction=("正阳路", "长城路"),
        add_turn_lanes={"left": 1, "right": 1},
        pocket_length_m=60,
    )
    G2, _ = channelize(G, patch)
    approaches = {(4, 5, 0), (6, 5, 0), (2, 5, 0), (7, 5, 0)}
    assert changed_edges(G, G2) == approaches
    for edge in approaches:
        new = G2.edges[edge]
        assert (new["pocket_left"], new["pocket_right"], new["pocket_length_m"]) == (1, 1, 60)
        assert new["storage_veh"] == pytest.approx(G.edges[edge]["storage_veh"] + 2 * 60 / 7.5)
        assert new["capacity_vph"] == G.edges[edge]["capacity_vph"]


def test_channelize_one_named_approach(G):
    patch = Channelize(
        type="channelize",
        junction=("正阳中路", "长城路"),
        approach="长城路",
        add_turn_lanes={"left": 1},
    )
    G2, _ = channelize(G, patch)
    assert changed_edges(G, G2) == {(2, 5, 0), (7, 5, 0)}
    bad = patch.model_copy(update={"approach": "文阳路"})
    with pytest.raises(PatchError, match="no approach of junction 5 belongs to 文阳路"):
        channelize(G, bad)


def test_signal_timing_explicit_plan(G):
    patch = SignalTiming(
        type="signal_timing", junction=lonlat(5), cycle_s=100, splits=[0.5, 0.4], offset_s=20
    )
    G2, report = signal_timing(G, patch)
    assert changed_edges(G, G2) == set()
    assert changed_nodes(G, G2) == {5}
    node = G2.nodes[5]
    assert (node["signal_cycle_s"], node["signal_offset_s"]) == (100, 20)
    assert json.loads(node["signal_splits"]) == [0.5, 0.4]
    assert signals.plan_for_node(G2, 5).cycle_s == 100
    assert report.patched_nodes() == {5}


def test_signal_timing_greens_are_honoured_as_written(G):
    # 90 s cycle, greens 45 + 36 s: 4.5 s per change, amber 3 s + all-red 1.5 s
    patch = SignalTiming(type="signal_timing", junction=lonlat(5), cycle_s=90, greens_s=[45, 36])
    G2, report = signal_timing(G, patch)
    plan = signals.plan_for_node(G2, 5)
    assert plan.cycle_s == pytest.approx(90)
    assert plan.display_green_s == pytest.approx([45, 36])
    assert (plan.amber_s, plan.all_red_s) == (3.0, 1.5)
    assert plan.green_s == pytest.approx([45, 36])  # lost time = amber + all-red by default
    row = next(e for e in report.entries if e.attribute == "signal plan")
    assert "cycle 90 s" in row.after and "45" in row.after


def test_signal_timing_greens_by_road_name_do_not_follow_lane_counts(G):
    names = signals.plan_phases(G, 5)[2]
    by_road = {"正阳中路": 60, "长城路": 44}
    patch = SignalTiming(type="signal_timing", junction=lonlat(5), cycle_s=120, greens_s=by_road)
    G2, _ = signal_timing(G, patch)
    plan = signals.plan_for_node(G2, 5)
    assert dict(zip(plan.names, plan.display_green_s, strict=True)) == pytest.approx(
        {name: by_road[name] for name in names}
    )
    assert (plan.amber_s, plan.all_red_s) == (3.0, 5.0)  # 16 s left for two changes
    unknown = patch.model_copy(update={"greens_s": {"正阳中路": 60, "文阳路": 44}})
    with pytest.raises(PatchError, match="has no phase '文阳路'; its phases are"):
        signal_timing(G, unknown)


def test_signal_timing_changeover_too_short_is_an_error_with_the_fix(G):
    patch = SignalTiming(type="signal_timing", junction=lonlat(5), cycle_s=105, greens_s=[60, 44])
    with pytest.raises(PatchError, match=r"leaves 0\.5 s per change") as caught:
        signal_timing(G, patch)
    assert "lengthen cycle_s to at least 110" in str(caught.value)
    clash = patch.model_copy(update={"cycle_s": 120, "amber_s": 3.0, "all_red_s": 1.0})
    with pytest.raises(PatchError, match="make 112 s, not the 120 s cycle"):
        signal_timing(G, clash)


def test_signal_timing_lost_time_and_amber_reach_the_plan(G):
    base = SignalTiming(type="signal_timing", junction=lonlat(5), greens_s=[40, 30])
    plan = signals.plan_for_node(signal_timing(G, base)[0], 5)
    assert plan.cycle_s == pytest.approx(40 + 30 + 2 * 4) and plan.green_s == pytest.approx(
        [40, 30]
    )
    lost = signals.plan_for_node(
        signal_timing(G, base.model_copy(update={"lost_time_per_phase_s": 6.0}))[0], 5
    )
    assert lost.green_s == pytest.approx([38, 28]) and lost.cycle_s == plan.cycle_s
    amber = signals.plan_for_node(
        signal_timing(G, base.model_copy(update={"amber_s": 4.0, "all_red_s": 2.0}))[0], 5
    )
    assert amber.cycle_s == pytest.approx(82) and amber.green_s == pytest.approx([40, 30])
    windows = [w[0] for w in amber.green_windows()]
    assert windows[1] == pytest.approx(46)  # 40 s green + 4 s amber + 2 s all-red
    with pytest.raises(PatchError, match="amber of 2 s is shorter than the minimum of 3 s"):
        signal_timing(G, base.model_copy(update={"amber_s": 2.0, "all_red_s": 0.0}))


def test_signal_timing_errors(G):
    wrong_count = SignalTiming(
        type="signal_timing", junction=lonlat(5), cycle_s=90, splits=[0.9 / 3] * 3
    )
    with pytest.raises(PatchError, match=r"has 2 phases .*but 3 splits"):
        signal_timing(G, wrong_count)
    unsignalised = SignalTiming(type="signal_timing", junction=lonlat(3), cycle_s=90)
    with pytest.raises(PatchError, match="has no signal") as caught:
        signal_timing(G, unsignalised)
    assert "install: true" in str(caught.value)
    G2, _ = signal_timing(G, unsignalised.model_copy(update={"install": True}))
    assert G2.nodes[3]["signal"] is True and G2.nodes[3]["signal_cycle_s"] == 90
    webster = SignalTiming(type="signal_timing", all_signals=True, optimize="webster")
    with pytest.raises(PatchError, match="webster needs baseline flows: a static assignment"):
        signal_timing(G, webster)
    G3, report = signal_timing(G, webster, defer_webster=True)
    # deferred: the plans stay, each junction is marked for timing at run time
    signalised = {n for n, s in G.nodes(data="signal") if s}
    assert changed_nodes(G, G3) == signalised and len(report.notes[0]) == 3
    assert all(G3.nodes[n]["signal_optimize"] == "webster" for n in signalised)


def test_signal_timing_clearances_that_do_not_fit_and_patches_that_keep_the_greens(G):
    # 120 s with 104 s of greens leaves 8 s per change: amber 9 s cannot fit, all-red 6 s leaves
    # a 2 s amber
    fixed = SignalTiming(type="signal_timing", junction=lonlat(5), cycle_s=120, greens_s=[60, 44])
    with pytest.raises(PatchError, match="amber_s of 9 s leaves -1 s for the all-red"):
        signal_timing(G, fixed.model_copy(update={"amber_s": 9.0}))
    with pytest.raises(PatchError, match="all_red_s of 6 s leaves 2 s for the amber"):
        signal_timing(G, fixed.model_copy(update={"all_red_s": 6.0}))
    G2, _ = signal_timing(G, fixed.model_copy(update={"all_red_s": 0.0}))
    plan = signals.plan_for_node(G2, 5)
    assert (plan.amber_s, plan.all_red_s, plan.cycle_s) == (8.0, 0.0, 120.0)
    # a later patch that sets only the amber keeps the greens as written (the cycle follows)
    G3, report = signal_timing(
        G2, SignalTiming(type="signal_timing", junction=lonlat(5), amber_s=4.0, all_red_s=1.0)
    )
    plan = signals.plan_for_node(G3, 5)
    assert plan.display_green_s == pytest.approx([60, 44]) and plan.cycle_s == pytest.approx(114)
    # a lost time other than amber + all-red shows in the change log
    _, report = signal_timing(
        G3, SignalTiming(type="signal_timing", junction=lonlat(5), lost_time_per_phase_s=3.0)
    )
    row = next(e for e in report.entries if e.attribute == "signal plan")
    assert "lost time 3 s per phase (effective greens 62, 46 s)" in row.after


def test_left_turns_name_roads_as_other_patches_do(G):
    G = channelize(
        G, Channelize(type="channelize", junction=lonlat(5), add_turn_lanes={"left": 1})
    )[0]
    patch = SignalTiming(
        type="signal_timing", junction=lonlat(5), left_turns={"长城路": "protected"}
    )
    G2, _ = signal_timing(G, patch)
    on_road = [e for e in G2.in_edges(5, keys=True) if G2.edges[e].get("name") == "长城路"]
    assert on_road and all(G2.edges[e]["left_turn"] == "protected" for e in on_road)
    with pytest.raises(PatchError, match="road '长成路' not found in the map; closest: 长城路"):
        signal_timing(G, patch.model_copy(update={"left_turns": {"长成路": "protected"}}))


def test_left_turns_with_a_new_cycle_use_the_shares_of_the_new_phases(G):
    G = channelize(
        G, Channelize(type="channelize", junction=lonlat(5), add_turn_lanes={"left": 1})
    )[0]
    patch = SignalTiming(
        type="signal_timing", junction=lonlat(5), cycle_s=120, left_turns="protected"
    )
    G2, _ = signal_timing(G, patch)
    plan = signals.plan_for_node(G2, 5)
    assert plan.cycle_s == 120 and len(plan.phases) == 4
    assert sum(name.endswith(" left") for name in plan.names) == 2


def test_webster_from_baseline_flows(G):
    flows = {edge: 0.0 for edge in G.edges(keys=True)}
    flows[(4, 5, 0)] = 1020.0  # 正阳中路 approach: 2 lanes × 1800 × 0.85 (curb parking)
    flows[(2, 5, 0)] = 720.0  # 长城路 approach: 2 lanes × 1800
    patch = SignalTiming(type="signal_timing", junction=lonlat(5), optimize="webster")
    G2, report = signal_timing(G, patch, baseline_link_flows=flows)
    plan = signals.plan_for_node(G2, 5)
    sat = {e: G.edges[e]["saturation_flow_vphpl"] * G.edges[e]["lanes"] for e in flows}
    y = [max(flows[e] / sat[e] for e in phase) for phase in plan.phases]
    lost = sum(plan.lost_time_s)
    webster_cycle = (1.5 * lost + 5) / (1 - sum(y))  # 36 s: below the two-phase practical 50 s
    assert webster_cycle < 50
    minima = [webster.pedestrian_min_green_s(G2, plan, p) for p in range(2)]
    expected = max(50.0, lost + sum(minima))
    assert plan.cycle_s == pytest.approx(expected, abs=0.02)
    greens = plan.green_s
    if min(g - m for g, m in zip(greens, minima, strict=True)) > 1e-6:  # no minimum binds
        assert greens[0] / greens[1] == pytest.approx(y[0] / y[1], rel=1e-3)
    assert all(g >= m - 0.01 for g, m in zip(plan.display_green_s, minima, strict=True))
    assert G2.nodes[5]["signal_optimize"] == "webster"
    assert any("Webster cycle" in note for note in report.notes[0])


def test_add_parking_at_nearest_junction(G):
    near_5 = offset_lonlat(540, 520)
    G2, _ = add_parking(
        G, AddParking(type="add_parking", location=near_5, spaces=300, guidance=True)
    )
    assert changed_nodes(G, G2) == {5} and changed_edges(G, G2) == set()
    assert (G2.nodes[5]["parking_spaces"], G2.nodes[5]["parking_guidance"]) == (300, True)
    twice = [AddParking(type="add_parking", location=near_5, spaces=s) for s in (300, 200)]
    G3, _ = apply_patches(G, twice)
    assert G3.nodes[5]["parking_spaces"] == 500 and G3.nodes[5]["parking_guidance"] is False
    far = AddParking(type="add_parking", location=offset_lonlat(250, 250), spaces=10, snap_m=100)
    with pytest.raises(PatchError, match=r"no junction within 100 m .* is 354 m away"):
        add_parking(G, far)


def test_remove_on_street_parking_restores_capacity(G):
    patch = RemoveOnStreetParking(type="remove_on_street_parking", roads=["正阳路"])
    G2, report = remove_on_street_parking(G, patch)
    parked = {(4, 5, 0), (5, 4, 0), (5, 6, 0), (6, 5, 0)}
    assert changed_edges(G, G2) == parked
    for edge in parked:
        data = G2.edges[edge]
        fresh = network.link_attributes(
            data["highway"], data["lanes"], data["length_m"], data["speed_kph"], False
        )
        assert data["curb_parking"] is False
        assert data["capacity_vph"] == pytest.approx(fresh["capacity_vph"])
        assert data["capacity_vph"] == pytest.approx(G.edges[edge]["capacity_vph"] / 0.85)
    none = RemoveOnStreetParking(type="remove_on_street_parking", roads=["文阳路"])
    G3, report = remove_on_street_parking(G, none)
    assert changed_edges(G, G3) == set() and "has no curb parking" in report.warnings[0]


def test_open_road_links_two_dead_ends(G):
    patch = OpenRoad(
        type="open_road",
        **{"from": offset_lonlat(1010, -490)},
        to=lonlat(10),
        name="新路",
        highway="secondary",
        lanes_per_direction=2,
        speed_kph=40,
    )
    G2, report = open_road(G, patch)
    added = set(G2.edges(keys=True)) - set(G.edges(keys=True))
    assert added == {(9, 10, 0), (10, 9, 0)}
    assert changed_edges(G, G2) == added
    assert changed_nodes(G, G2) == {9, 10}  # street_count + 1
    data = G2.edges[9, 10, 0]
    assert data["length_m"] == pytest.approx(np.hypot(500, 500), rel=1e-6)
    expected = network.link_attributes("secondary", 2, data["length_m"], 40.0, False)
    assert data["capacity_vph"] == pytest.approx(expected["capacity_vph"])
    assert data["storage_veh"] == pytest.approx(expected["storage_veh"])
    assert report.patched_edges() == added
    via = patch.model_copy(update={"via": [offset_lonlat(1500, -500)], "oneway": True})
    G3, _ = open_road(G, via)
    assert set(G3.edges(keys=True)) - set(G.edges(keys=True)) == {(9, 10, 0)}
    assert G3.edges[9, 10, 0]["length_m"] == pytest.approx(1000.0, rel=1e-6)


def test_open_road_endpoint_too_far(G):
    patch = OpenRoad(
        type="open_road", **{"from": offset_lonlat(1000, -800)}, to=lonlat(10),
        lanes_per_direction=1, speed_kph=30,
    )  # fmt: skip
    with pytest.raises(PatchError, match=r"nearest \(node 9.*\) is 300 m away"):
        open_road(G, patch)


def test_unknown_road_lists_the_closest_names(G):
    with pytest.raises(PatchError) as caught:
        widen_road(G, WidenRoad(type="widen_road", road="正阳道路", add_lanes=1))
    message = str(caught.value)
    assert "road '正阳道路' not found in the map; closest: " in message
    assert "正阳中路" in message and "正阳东路" in message
    assert message.count(",") >= 4 and "\n" not in message


def test_conflicting_patches_widening_a_closed_road(G):
    patches = [
        CloseRoad(type="close_road", road="黑龙江路"),
        WidenRoad(type="widen_road", road="黑龙江路", lanes_per_direction=2),
    ]
    with pytest.raises(PatchError, match="was closed by an earlier patch") as caught:
        apply_patches(G, patches)
    assert caught.value.key == "patches[1].road"


def test_patch_errors_name_file_line_and_key(G, tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "map: none.osm\n"
        "patches:\n"
        "  - type: widen_road\n"
        "    road: 文阳路\n"
        "    lanes_per_direction: 3\n"
        "  - type: channelize\n"
        "    junction: [文阳路, 正阳中路]\n"
        "    add_turn_lanes: {left: 1}\n",
        encoding="utf-8",
    )
    loaded = load_scenario(scenario)
    with pytest.raises(PatchError) as caught:
        apply_patches(G, loaded.patches)
    error = caught.value
    assert (error.file, error.line, error.key) == (str(scenario), 7, "patches[1].junction")
    assert str(error).startswith(
        f"{scenario}:7 [patches[1].junction]: roads '文阳路' and '正阳中路' do not meet"
    )


def test_report_views(G):
    _, report = apply_patches(G, every_patch_type()[:5])
    frame = report.to_frame()
    assert list(frame.columns[:7]) == [
        "patch_index",
        "patch_type",
        "element",
        "road",
        "attribute",
        "before",
        "after",
    ]
    assert set(frame["patch_index"]) == {0, 1, 2, 3, 4}
    assert report.patched_nodes() == {5}
    text = report.to_text()
    assert "[0] widen_road: 文阳路: 3 lanes per direction" in text
    assert "changed: 4 edges" in text
    assert "edge 1→2#0 文阳路  lanes: 2 → 3" in text


def trips_table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "trip_id": np.arange(n, dtype="int64"),
            "origin_node": rng.choice([1, 4, 7, 9, 10], n).astype("int64"),
            "destination_node": rng.choice([1, 4, 7, 9, 10], n).astype("int64"),
            "departure_s": np.sort(rng.uniform(0, 3600, n)),
            "origin_zone": rng.choice(["A", "B", "C"], n),
            "destination_zone": rng.choice(["A", "B", "C"], n),
        }
    )
    frame.attrs["sample_factor"] = 1.0
    return frame


def test_demand_shift_by_zone_is_exact_and_seeded(G):
    trips = trips_table()
    patch = DemandShift(type="demand_shift", remove_share=0.25, zones=["A"], ends="origin")
    out, report = demand_shift(trips, patch, G)
    selected = (trips["origin_zone"] == "A").sum()
    assert len(out) == len(trips) - round(selected * 0.25)
    assert (out["origin_zone"] != "A").sum() == (trips["origin_zone"] != "A").sum()
    assert out["trip_id"].tolist() == list(range(len(out)))
    assert out["departure_s"].is_monotonic_increasing
    assert out.attrs == trips.attrs
    again, _ = demand_shift(trips, patch, G)
    pd.testing.assert_frame_equal(out, again)
    assert report.entries[0].before == selected
    other_seed, _ = demand_shift(trips, patch.model_copy(update={"seed": 5}), G)
    assert not out["departure_s"].equals(other_seed["departure_s"])


def test_demand_shift_by_corridor_and_scale_up(G):
    trips = trips_table()
    # nodes within 100 m of 华中路 (3–9): 3 and 9; trips table uses 9 only
    corridor = {"roads": ["华中路"], "within_m": 100}
    down = DemandShift(type="demand_shift", scale=0.0, corridor=corridor, ends="either")
    out, _ = demand_shift(trips, down, G)
    touching = (trips["origin_node"] == 9) | (trips["destination_node"] == 9)
    assert len(out) == len(trips) - touching.sum()
    assert not ((out["origin_node"] == 9) | (out["destination_node"] == 9)).any()
    up = DemandShift(type="demand_shift", scale=1.5, corridor=corridor, ends="both")
    out2, _ = demand_shift(trips, up, G)
    both = ((trips["origin_node"] == 9) & (trips["destination_node"] == 9)).sum()
    assert len(out2) == len(trips) + round(both * 0.5)


def test_apply_demand_patches_errors_and_skips_graph_patches(G):
    trips = trips_table()
    patches = [*every_patch_type()[:2], DemandShift(type="demand_shift", scale=0.5, zones=["Z9"])]
    with pytest.raises(PatchError, match=r"none of the zones \['Z9'\] occurs") as caught:
        apply_demand_patches(trips, patches, G)
    assert caught.value.key == "patches[2].zones"
    patches[2] = DemandShift(type="demand_shift", scale=0.5, zones=["B"])
    out, report = apply_demand_patches(trips, patches, G)
    assert [e.patch_index for e in report.entries] == [2, 2]
    assert len(out) < len(trips)


def test_open_road_can_split_a_link_mid_block(G):
    patch = OpenRoad(
        type="open_road", **{"from": lonlat(9)}, to=offset_lonlat(1490, 250),
        lanes_per_direction=1, speed_kph=30, name="打通路",
    )  # fmt: skip
    with pytest.raises(PatchError, match="no junction within 100 m"):
        open_road(G, patch)
    G.edges[8, 10, 0].update(pocket_left=1, pocket_length_m=40.0)
    G2, report = open_road(G, patch.model_copy(update={"split_edges": True}))
    new = 11
    assert G2.nodes[new]["x"] == pytest.approx(G.nodes[8]["x"], abs=1e-6)
    assert G2.nodes[new]["signal"] is False and G2.nodes[new]["street_count"] == 3
    assert not G2.has_edge(8, 10) and not G2.has_edge(10, 8)
    pieces = [(8, new, 0), (new, 10, 0), (10, new, 0), (new, 8, 0)]
    for edge in pieces:
        data = G2.edges[edge]
        assert data["length_m"] == pytest.approx(250.0)
        assert (
            data["name"] == "银河路" and data["capacity_vph"] == G.edges[8, 10, 0]["capacity_vph"]
        )
    assert G2.edges[new, 10, 0]["pocket_left"] == 1  # pockets stay at the downstream end
    assert G2.edges[8, new, 0]["pocket_left"] == 0
    assert G2.edges[8, new, 0]["storage_veh"] == pytest.approx(250 / 7.5)
    assert G2.edges[9, new, 0]["length_m"] == pytest.approx(np.hypot(500, 750))
    assert report.patched_nodes() == {9, new}
    assert {(8, 10, 0), (10, 8, 0)} <= report.patched_edges()
    assert snapshot(G)[2][(8, 10, 0)]["pocket_left"] == 1  # input untouched


def test_demand_shift_corridor_roads_are_checked_with_the_graph(G):
    typo = DemandShift(type="demand_shift", scale=0.9, corridor={"roads": ["长成路"]})
    with pytest.raises(
        PatchError, match="road '长成路' not found in the map; closest: 长城路"
    ) as caught:
        apply_patches(G, [typo])
    assert caught.value.key == "patches[0].corridor.roads[0]"


def test_close_one_direction_of_a_stretch(G):
    patch = CloseRoad(
        type="close_road", road="正阳路", between=(lonlat(4), lonlat(6)), direction="forward"
    )
    G2, _ = close_road(G, patch)
    assert set(G.edges(keys=True)) - set(G2.edges(keys=True)) == {(4, 5, 0), (5, 6, 0)}
    assert changed_edges(G, G2) == {(4, 5, 0), (5, 6, 0)}


def _lonlat_text(point: tuple[float, float]) -> str:
    return f"[{point[0]:.6f}, {point[1]:.6f}]"


FAILING_PATCHES = [
    ("  - type: widen_road\n    road: 正阳道\n    add_lanes: 1\n", "road", "road '正阳道' not found in the map; closest: 正阳"),
    ("  - type: channelize\n    add_turn_lanes: {left: 1}\n    junction: [文阳路, 正阳中路]\n", "junction", "do not meet"),
    (f"  - type: add_parking\n    spaces: 5\n    location: {_lonlat_text(offset_lonlat(250, 250))}\n", "location", "is 354 m away"),
    ("  - type: open_road\n    to: [120.4, 36.3]\n    lanes_per_direction: 1\n    speed_kph: 30\n    from: [121.5, 36.3]\n", "from", "lies outside the map"),
    (f"  - type: set_speed\n    road: 文阳路\n    speed_kph: 30\n    between: [{_lonlat_text(offset_lonlat(0, 400))}, [文阳路, 长城路]]\n", "between", "is 400 m from '文阳路'"),
    ("  - type: signal_timing\n    junction: [正阳中路, 长城路]\n    cycle_s: 90\n    splits: [0.3, 0.3, 0.3]\n", "splits", "but 3 splits were given"),
    ("  - type: signal_timing\n    all_signals: true\n    optimize: webster\n", "optimize", "webster needs baseline flows"),
]  # fmt: skip


@pytest.mark.parametrize(("patch", "key", "text"), FAILING_PATCHES)
def test_patch_failures_are_one_line_with_file_line_key(G, tmp_path, patch, key, text):
    path = tmp_path / "s.yaml"
    path.write_text("map: x.osm\npatches:\n" + patch, encoding="utf-8")
    with pytest.raises(PatchError) as caught:
        apply_patches(G, load_scenario(path).patches)
    error = caught.value
    line = 3 + [k.split(":")[0].strip() for k in patch.splitlines()[1:]].index(key) + 1
    assert (error.file, error.line, error.key) == (str(path), line, f"patches[0].{key}")
    assert text in str(error) and "\n" not in str(error)
    assert str(error).startswith(f"{path}:{line} [patches[0].{key}]: ")


def test_conflicting_patches_point_at_the_second_patch(G, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "map: x.osm\npatches:\n  - {type: close_road, road: 黑龙江路}\n"
        "  - type: widen_road\n    road: 黑龙江路\n    add_lanes: 1\n",
        encoding="utf-8",
    )
    with pytest.raises(PatchError) as caught:
        apply_patches(G, load_scenario(path).patches)
    assert str(caught.value).startswith(
        f"{path}:5 [patches[1].road]: road '黑龙江路' was closed by an earlier patch"
    )
