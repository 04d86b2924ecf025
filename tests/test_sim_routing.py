"""Route choice and equilibration: analytic two-route split, Braess's paradox, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.simnets import add_link, add_node, new_graph, settings_for, trips_frame

from cysim.sim import movements, netarrays, routing, simulate


def two_route():
    """Route 1: 0→1→2, 100 s free flow, 600 veh/h bottleneck; route 2: 0→3→2, 160 s, ample."""
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (500, 0), 2: (1000, 0), 3: (500, 800)}.items():
        add_node(G, n, *xy)
    add_link(G, 0, 1, length_m=500, capacity_vph=600.0)
    add_link(G, 1, 2, length_m=500)
    add_link(G, 0, 3, length_m=800, lanes=2)
    add_link(G, 3, 2, length_m=800, lanes=2)
    return G


def test_two_route_equilibrium_split():
    # Demand λ = 1200 veh/h for D = 3600 s; route 1 is 60 s faster but passes μ = 600 veh/h.
    # Dynamic user equilibrium: everyone takes route 1 until its queue delay reaches ΔT = 60 s,
    # then route 1 carries μ and route 2 the rest, so route 1 carries μ (D + ΔT) = 610 trips.
    G = two_route()
    rows = [(0, 2, 3.0 * i) for i in range(1200)]
    rc = {"iterations": 20, "relative_gap_tolerance": 0.001, "time_bin_s": 60}
    res = simulate(G, trips_frame(rows), settings_for(3600, route_choice=rc), seed=3)
    tr = res.traversals
    share = (tr["link"] == 0).sum() / 1200
    assert share == pytest.approx(610 / 1200, rel=0.03)
    gaps = res.route_choice["relative_gap"]
    assert len(gaps) == 20
    assert gaps.iloc[0] > 0.5 and gaps.iloc[-5:].mean() < 0.15
    assert (res.trips["status"] == "arrived").all()


def braess(middle: bool):
    """O=0, D=3; 0→1 and 2→3 are 60 s bottlenecks (900 veh/h), 0→2 and 1→3 are 600 s roads."""
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (600, 600), 2: (600, -600), 3: (1200, 0)}.items():
        add_node(G, n, *xy)
    add_link(G, 0, 1, length_m=600, capacity_vph=900.0, storage_veh=400)
    add_link(G, 1, 3, length_m=6000, lanes=3, capacity_vph=5400)
    add_link(G, 0, 2, length_m=6000, lanes=3, capacity_vph=5400)
    add_link(G, 2, 3, length_m=600, capacity_vph=900.0, storage_veh=400)
    if middle:
        add_link(G, 1, 2, length_m=100, lanes=3, capacity_vph=5400)
    return G


def test_braess_middle_link_raises_total_travel_time():
    # 1500 veh/h for an hour: without the middle link the two routes split and neither
    # bottleneck queues much (660 s per trip); with it the 130 s free-flow middle route attracts
    # drivers through both bottlenecks and equilibrium total travel time rises.
    rows = [(0, 3, 2.4 * i) for i in range(1500)]
    rc = {"iterations": 12, "relative_gap_tolerance": 0.001, "time_bin_s": 120}
    totals = {}
    for middle in (False, True):
        res = simulate(
            braess(middle), trips_frame(rows), settings_for(3600, route_choice=rc), seed=1
        )
        # total time counts trips still en route up to the end (an underestimate for them)
        totals[middle] = res.route_choice["total_travel_time_s"].iloc[-1]
        if not middle:
            assert (res.trips["status"] == "arrived").all()
    assert totals[True] > 1.1 * totals[False]
    assert totals[False] / 1500 == pytest.approx(660.0, rel=0.05)


def test_same_seed_identical_result():
    G = two_route()
    rows = [(0, 2, 3.0 * i) for i in range(600)]
    rc = {"iterations": 4, "relative_gap_tolerance": 0.001, "time_bin_s": 60}
    runs = [simulate(G, trips_frame(rows), settings_for(1800, route_choice=rc), seed=7)
            for _ in range(2)]  # fmt: skip
    a, b = runs
    for name in ("trips", "traversals", "network_samples", "route_choice", "links"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert (a.link_samples.queue_veh == b.link_samples.queue_veh).all()
    assert a.gridlock == b.gridlock
    other = simulate(G, trips_frame(rows), settings_for(1800, route_choice=rc), seed=8)
    assert not other.traversals.equals(a.traversals)


def test_time_dependent_paths_use_the_bin_a_link_is_reached_in():
    # 0→1 (400 s) →3 is cheap in bin 0 but the link 1→3 is jammed from bin 1 (t ≥ 300 s), when
    # a vehicle leaving at 0 reaches it; 0→2→3 (450 s + 100 s) is steady. A departure-bin
    # snapshot would pick 0→1→3; the time-dependent search picks 0→2→3.
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (4000, 0), 2: (0, 4500), 3: (5000, 0)}.items():
        add_node(G, n, *xy)
    add_link(G, 0, 1)  # 400 s at 36 km/h
    add_link(G, 1, 3)  # 100 s
    add_link(G, 0, 2)  # 450 s
    add_link(G, 2, 3, length_m=1000)  # 100 s
    net = netarrays.build(G, 1.0, 0.0)
    ff = np.asarray(net.freeflow_s)
    profile = np.vstack([ff, ff, ff])
    jammed = net.links.set_index(["u", "v"])["link"][(1, 3)]
    profile[1:, jammed] = 1000.0
    moves = movements.Movements.build(net)
    profile = moves.from_link_times(profile)
    o = np.array([net.node_index[0]])
    d = np.array([net.node_index[3]])
    paths, cost = routing.route_trips(moves, o, d, np.array([0.0]), profile, 300.0)
    links = net.links.set_index("link")
    assert [(links.u[i], links.v[i]) for i in paths[0]] == [(0, 2), (2, 3)]
    assert cost[0] == pytest.approx(550.0)
    snapshot, _ = routing.route_trips(
        moves, o, d, np.array([0.0]), profile, 300.0, time_dependent=False
    )
    assert [(links.u[i], links.v[i]) for i in snapshot[0]] == [(0, 1), (1, 3)]


def test_switchers_favour_large_gains_at_the_msa_share():
    # gap-weighted successive averages: in expectation a share `step` of the trips with a faster
    # path switches, each in proportion to its relative gain; no gain (or no candidate), no switch
    from cysim.sim import runner

    n = 400_000
    current = np.full(n, 100.0)
    best = np.where(np.arange(n) % 2 == 0, 98.0, 70.0)  # gains of 2 % and 30 %
    best[:2000] = 100.0
    best[2000:4000] = np.nan
    switch = runner._switchers(np.random.default_rng(0), 0.1, current, best)
    assert not switch[:4000].any()
    small, large = switch[4000::2], switch[4001::2]
    mean_gain = (0.02 + 0.30) / 2
    assert small.mean() == pytest.approx(0.1 * 0.02 / mean_gain, rel=0.05)
    assert large.mean() == pytest.approx(0.1 * 0.30 / mean_gain, rel=0.02)
    assert switch[4000:].mean() == pytest.approx(0.1, rel=0.02)
    # seeded: the same draws give the same switchers
    again = runner._switchers(np.random.default_rng(0), 0.1, current, best)
    assert np.array_equal(switch, again)
