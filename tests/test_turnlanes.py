"""Lane groups from evidence: OSM turn:lanes, the default per class and junction, the switch."""

from __future__ import annotations

import pytest
from helpers.fixtures_osm import Way, write_osm
from helpers.simnets import crossroads, settings_for, trips_frame

from cysim._errors import MapError
from cysim.control import signals
from cysim.control.signals import LEFT, RIGHT, THROUGH
from cysim.network import build as network
from cysim.network import turnlanes
from cysim.network.turnlanes import LaneUse, lane_use, parse_turn_lanes
from cysim.sim import netarrays, simulate

ALL = [LEFT, THROUGH, RIGHT]


def edge(lanes: int, highway: str = "primary", **attrs) -> dict:
    return {"lanes": lanes, "highway": highway, **attrs}


def test_parse_turn_lanes_reads_osm_values_and_refuses_junk():
    assert parse_turn_lanes("left|through|through;right") == [
        {LEFT},
        {THROUGH},
        {THROUGH, RIGHT},
    ]
    assert parse_turn_lanes("left||reverse;left") == [{LEFT}, {THROUGH}, {LEFT}]
    assert parse_turn_lanes("slight_right|none") == [{RIGHT}, {THROUGH}]
    assert parse_turn_lanes("") is None
    assert parse_turn_lanes("left|straight") is None  # not an OSM value: ignored, not guessed


@pytest.mark.parametrize(
    ("tag", "lanes", "expected"),
    [
        ("left|through|through;right", 3, LaneUse(2, 1, False, 0, "osm")),
        ("left;through|through", 2, LaneUse(1, 1, True, 0, "osm")),
        ("left|through|right", 3, LaneUse(1, 1, False, 1, "osm")),
        ("left|left|through|through", 4, LaneUse(2, 2, False, 0, "osm")),
        ("through|through;right", 2, LaneUse(2, 0, False, 0, "osm")),
    ],
)
def test_a_fitting_tag_decides_the_groups(tag, lanes, expected):
    assert lane_use(edge(lanes, turn_lanes=tag), ALL, signalised=True) == expected


def test_a_tag_that_does_not_fit_falls_back_to_the_default():
    # a patch widened the road to 4 lanes: the 3-lane tag no longer describes it
    use = lane_use(edge(4, turn_lanes="left|through|right"), ALL, signalised=True)
    assert use == LaneUse(3, 1, False, 0, "osm_misfit")
    # no lane serves the junction's through movement
    use = lane_use(edge(2, "tertiary", turn_lanes="left|right"), ALL, signalised=False)
    assert use == LaneUse(1, 1, True, 0, "osm_misfit")


def test_turn_only_approach_keeps_a_main_group():
    # a T-junction stem marked left|right: the right lane is the main group, the left its own
    assert lane_use(edge(2, turn_lanes="left|right"), [LEFT, RIGHT], signalised=True) == LaneUse(
        1, 1, False, 0, "osm"
    )


@pytest.mark.parametrize(
    ("lanes", "highway", "signalised", "kinds", "rule"),
    [
        (3, "primary", True, ALL, "exclusive_left"),
        (4, "trunk", True, ALL, "exclusive_left"),
        (3, "secondary", True, ALL, "exclusive_left"),
        (2, "primary", True, ALL, "shared_left"),  # one through lane would be left
        (3, "tertiary", True, ALL, "shared_left"),
        (3, "primary", False, ALL, "shared_left"),
        (1, "primary", True, ALL, "one_group"),
        (3, "primary", True, [THROUGH, RIGHT], "one_group"),  # U-turns are left out of kinds
        (3, "primary", True, [LEFT], "one_group"),
    ],
)
def test_default_per_class_and_junction(lanes, highway, signalised, kinds, rule):
    use = lane_use(edge(lanes, highway), kinds, signalised=signalised)
    assert use.rule == rule
    expected = {
        "exclusive_left": LaneUse(lanes - 1, 1, False, 0, rule),
        "shared_left": LaneUse(lanes - 1, 1, True, 0, rule),
        "one_group": LaneUse(lanes, rule=rule),
    }[rule]
    assert use == expected


def test_pockets_and_the_switch_override_the_rest():
    tagged = edge(3, turn_lanes="left|through|right")
    assert lane_use({**tagged, "pocket_left": 1}, ALL, signalised=True).rule == "pocket"
    assert lane_use(tagged, ALL, signalised=True, mode="none") == LaneUse(3, rule="none")


def groups_of_south_approach(G):
    net = netarrays.build(G, 1.0, 0.0)
    link = net.links.set_index(["u", "v"])["link"]
    south = link[(3, 0)]
    groups = net.group_of[south]
    left, through, right, uturn = (groups[link[(0, n)]] for n in (4, 1, 2, 3))
    return net, south, left, through, right, uturn


def test_netarrays_queues_the_tagged_lanes():
    G = crossroads(lanes_ns=3)
    G.edges[3, 0, 0]["turn_lanes"] = "left|through|right"
    net, south, left, through, right, uturn = groups_of_south_approach(G)
    assert len({left, through, right}) == 3
    assert [net.group_lanes[g] for g in (left, through, right)] == [1, 1, 1]
    assert net.group_alt[through] == -1  # exclusive: through vehicles never take the left lane
    assert uturn == left  # U-turns from the left lane
    assert net.links.loc[south, "lane_rule"] == "osm"


def test_u_turns_do_not_split_an_approach():
    # on a sketch network every link has a reverse twin: the U-turn is the only "left"
    G = crossroads(lanes_ns=2)
    for n in (2, 4):
        G.remove_edge(0, n)
    net, south, *_ = groups_of_south_approach_without_lefts(G)
    assert net.links.loc[south, "lane_rule"] == "one_group"


def groups_of_south_approach_without_lefts(G):
    net = netarrays.build(G, 1.0, 0.0)
    link = net.links.set_index(["u", "v"])["link"]
    south = link[(3, 0)]
    assert len(set(net.group_of[south].values()) - {net.group_of[south][-1]}) == 1
    return net, south


def test_switch_none_keeps_one_group_per_approach():
    G = crossroads(lanes_ns=3)
    G.graph["lane_groups"] = "none"
    net, _, left, through, right, uturn = groups_of_south_approach(G)
    assert left == through == right == uturn
    assert net.group_lanes[through] == 3
    G.graph["lane_groups"] = "sometimes"
    with pytest.raises(MapError, match="lane_groups"):
        netarrays.build(G, 1.0, 0.0)


def through_discharge_vph(mode: str) -> float:
    """Through vehicles leaving the saturated 3-lane south approach per hour of the run."""
    G = crossroads(lanes_ns=3)
    G.graph["lane_groups"] = mode
    G.nodes[0].update(signal_cycle_s=60.0, signal_splits="[0.5, 0.5]")
    rows = [(3, 1, 0.5 * i) for i in range(7200)]  # 7,200 veh/h, far above capacity
    res = simulate(G, trips_frame(rows), settings_for(3600, cooldown_s=0), seed=0)
    link = res.links.set_index(["u", "v"])["link"][(3, 0)]
    exits = res.traversals.loc[res.traversals["link"] == link, "exit_s"].dropna()
    return float(((exits >= 600) & (exits < 3000)).sum() * 3600 / 2400)


def test_exclusive_left_lane_takes_a_lane_from_through_traffic():
    # known answer: the saturated through flow is proportional to the lanes it may use,
    # 2 of 3 with the default exclusive left lane of a signalised primary approach
    exclusive, shared_none = through_discharge_vph("evidence"), through_discharge_vph("none")
    assert exclusive / shared_none == pytest.approx(2 / 3, rel=0.02)


def test_osm_turn_lanes_reach_the_network_per_direction(tmp_path):
    ways = [
        Way(
            {
                "highway": "primary",
                "name": "North South Road",
                "lanes": "6",
                "turn:lanes:forward": "left|through|through;right",
                "turn:lanes:backward": "left;through|through|right",
            },
            [(0, -300), (0, 0)],
        ),
        Way({"highway": "primary", "name": "North South Road", "lanes": "6"}, [(0, 0), (0, 300)]),
        Way({"highway": "secondary", "name": "East West Road"}, [(-300, 0), (0, 0), (300, 0)]),
    ]
    G = network.load_network(write_osm(tmp_path / "turns.osm", ways))
    tags = {}
    for _, _, d in G.edges(data=True):
        if d["name"] == "North South Road" and d.get("turn_lanes"):
            tags[d["turn_lanes"]] = d["lanes"]
    assert tags == {"left|through|through;right": 3, "left;through|through|right": 3}
    counts = turnlanes.lane_use_counts(G)
    # the forward tag at the junction, the backward one at the way's first node (a dead end)
    assert counts["osm"] == 2
    assert network.network_summary(G)["lane_groups"] == counts


def test_a_marked_exclusive_left_lane_can_run_protected():
    G = crossroads(lanes_ns=3)
    south = (3, 0, 0)
    G.edges[south]["left_turn"] = "protected"
    G.edges[south]["turn_lanes"] = "left;through|through|right"  # shared: cannot be protected
    assert not signals.has_protected_left(G, south)
    G.edges[south]["turn_lanes"] = "left|through|right"
    assert turnlanes.exclusive_left_lanes(G, south) == 1
    assert signals.has_protected_left(G, south)
    plan = signals.plan_for_node(G, 0)
    assert south in plan.protected_left
    net, _, left, through, *_ = groups_of_south_approach(G)
    assert net.group_protected[left] and not net.group_protected[through]
    assert net.group_phase[left] == plan.protected_left[south] != net.group_phase[through]
