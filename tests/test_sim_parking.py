"""Parking at trip ends: cruising distance to the next facility, overflow, guidance."""

from __future__ import annotations

import math

import numpy as np
from helpers.invariants import check_invariants
from helpers.simnets import add_link, add_node, new_graph, settings_for, trips_frame

from cysim.sim import simulate


def parking_net(guidance: bool):
    """Origin 0, destination 1 (1000 m east); a 5-space lot at 2, 360.6 m from 1, 854.4 m from 0."""
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (1000, 0), 2: (800, 300), 3: (1000, -500)}.items():
        add_node(G, n, *xy)
    for a, b in [(0, 1), (1, 2), (0, 2), (1, 3)]:
        add_link(G, a, b)
        add_link(G, b, a)
    G.nodes[2].update(parking_spaces=5, parking_guidance=guidance)
    return G


PARKING = {"enabled": True, "spaces_per_arrival": 0.5, "initial_occupancy": 0.0}


def run(guidance: bool):
    rows = [(0, 1, 10.0 * i) for i in range(12)]
    res = simulate(parking_net(guidance), trips_frame(rows), settings_for(600, parking=PARKING),
                   seed=0)  # fmt: skip
    check_invariants(res)
    return res.trips


def test_full_facility_cruises_to_next_one():
    t = run(guidance=False)
    assert (t["status"] == "arrived").all()
    # the street facility at 1 holds ceil(0.5 × 12) = 6: the first six park there
    first = t.iloc[:6]
    assert (first["parking_node"] == 1).all() and (first["cruise_distance_m"] == 0).all()
    # the next five find it full and drive on to the lot at 2
    leg = math.hypot(200, 300)
    cruisers = t.iloc[6:11]
    assert (cruisers["parking_node"] == 2).all()
    np.testing.assert_allclose(cruisers["cruise_distance_m"], leg)
    np.testing.assert_allclose(cruisers["cruise_s"], leg / 10.0)
    np.testing.assert_allclose(cruisers["distance_m"], 1000.0 + leg)
    # the last finds both full: overflow (illegal) parking at the last facility tried
    last = t.iloc[11]
    assert last["parking_overflow"] and last["parking_node"] == 2
    assert not t.iloc[:11]["parking_overflow"].any()


def test_guidance_removes_cruising():
    t = run(guidance=True)
    guided = t.iloc[6:11]
    assert (guided["parking_node"] == 2).all()
    assert (guided["cruise_distance_m"] == 0).all() and (guided["cruise_s"] == 0).all()
    # straight from the origin to the lot: 854.4 m instead of 1000 + 360.6 m
    np.testing.assert_allclose(guided["distance_m"], math.hypot(800, 300))
    np.testing.assert_allclose(
        guided["arrival_s"] - guided["departure_s"], math.hypot(800, 300) / 10.0
    )
    assert t.iloc[11]["parking_overflow"]


def test_initial_occupancy_and_radius():
    rows = [(0, 1, 10.0 * i) for i in range(12)]
    G = parking_net(False)
    # 50 % of the 6 street spaces occupied at the start: only 3 park at 1
    half = dict(PARKING, initial_occupancy=0.5)
    t = simulate(G, trips_frame(rows), settings_for(600, parking=half), seed=0).trips
    assert (t["parking_node"] == 1).sum() == 3
    # a search radius shorter than the lot's distance: no cruising, overflow at the destination
    near = dict(PARKING, search_radius_m=300.0)
    t = simulate(G, trips_frame(rows), settings_for(600, parking=near), seed=0).trips
    assert (t["cruise_distance_m"] == 0).all()
    assert t["parking_overflow"].sum() == 6
    assert (t["parking_node"] == 1).all()


def test_parking_disabled_ends_at_destination():
    rows = [(0, 1, 10.0 * i) for i in range(12)]
    t = simulate(parking_net(False), trips_frame(rows), settings_for(600), seed=0).trips
    assert (t["parking_node"] == 1).all() and (t["cruise_distance_m"] == 0).all()


def test_trip_from_its_own_destination_parks_there():
    """A trip whose origin is its destination parks like any other (it used to report none)."""
    # ceil(0.5 × 4) = 2 street spaces at node 1: two of the four trips ending there park at once
    rows = [(1, 1, 0.0), (1, 1, 5.0), (0, 1, 10.0), (1, 1, 20.0)]
    res = simulate(parking_net(False), trips_frame(rows), settings_for(600, parking=PARKING),
                   seed=0)  # fmt: skip
    check_invariants(res)
    t = res.trips
    assert (t["status"] == "arrived").all()
    first = t.iloc[:2]
    assert (first["parking_node"] == 1).all()
    assert (first["arrival_s"] == first["departure_s"]).all() and (first["distance_m"] == 0).all()
    # the facility is full for the later two: they cruise to the lot at 2, from node 1 or
    # from the end of the 1000 m drive
    leg = math.hypot(200, 300)
    later = t.iloc[2:]
    assert (later["parking_node"] == 2).all()
    np.testing.assert_allclose(later["cruise_distance_m"], leg)
    np.testing.assert_allclose(later["distance_m"], [1000.0 + leg, leg])
    np.testing.assert_allclose(t.iloc[3]["arrival_s"] - 20.0, leg / 10.0)


def test_trip_from_its_own_destination_without_parking():
    t = simulate(parking_net(False), trips_frame([(1, 1, 0.0)]), settings_for(600), seed=0).trips
    assert t.iloc[0]["status"] == "arrived" and t.iloc[0]["parking_node"] == 1


def test_trip_home_that_cruises_and_waits_at_the_end_is_routed_on():
    # regression: a trip whose origin is its destination finds its facility full, cruises to
    # the lot next door and is still waiting to enter that cruise link when the run ends; route
    # choice then charges the wait to the cruise leg's first movement (it once read the trip's
    # own empty path and crashed)
    G = new_graph()
    add_node(G, 0, 0, 0)
    add_node(G, 1, 300, 0, parking_spaces=100)
    add_link(G, 0, 1)
    add_link(G, 1, 0)
    settings = settings_for(
        1800,
        cooldown_s=0,
        parking={"enabled": True, "spaces_per_arrival": 0.0, "initial_occupancy": 0.0},
        route_choice={"iterations": 2},
    )
    res = simulate(G, trips_frame([(0, 0, 1790.0)] * 20), settings, seed=1)
    assert (res.trips["status"] != "unrouted").all()
    assert res.extra["counts"]["waiting_to_enter"] > 0
    assert len(res.route_choice) >= 1
