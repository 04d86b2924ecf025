"""Link-queue dynamics with known answers: free flow, D/D/1, spillback, FIFO, gridlock."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.invariants import check_invariants
from helpers.simnets import (
    add_link,
    add_node,
    grid,
    new_graph,
    settings_for,
    trips_frame,
)

from cysim._errors import SimulationError
from cysim.sim import records, simulate


def chain(bottleneck_vph: float = 1800.0) -> tuple:
    """0 → 1 (1000 m, 36 km/h = 100 s) → 2 (100 m, capacity bottleneck_vph)."""
    G = new_graph()
    add_node(G, 0, 0, 0)
    add_node(G, 1, 1000, 0)
    add_node(G, 2, 1100, 0)
    add_link(G, 0, 1)
    add_link(G, 1, 2, capacity_vph=bottleneck_vph)
    return G


def test_free_flow_single_link_exact():
    G = chain()
    trips = trips_frame([(0, 1, 10.0 * i) for i in range(20)])
    res = simulate(G, trips, settings_for(600), seed=0)
    t = res.trips
    assert (t["status"] == "arrived").all()
    np.testing.assert_allclose(t["arrival_s"] - t["departure_s"], 100.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(t["freeflow_s"], 100.0)
    np.testing.assert_allclose(t["distance_m"], 1000.0)
    check_invariants(res)


def test_bottleneck_total_delay_equals_point_queue():
    # arrivals every 2 s (1800 veh/h) for N vehicles at a 600 veh/h bottleneck (6 s headway):
    # vehicle i waits i·(6 − 2) s, so total delay = 4 · N(N − 1)/2 (the discrete D/D/1 value;
    # the fluid value T²(λ−μ)λ/(2μ) for T = 2N s differs by the half-headway term only).
    N = 200
    G = chain(bottleneck_vph=600.0)
    trips = trips_frame([(0, 2, 2.0 * i) for i in range(N)])
    res = simulate(G, trips, settings_for(600, cooldown_s=3000), seed=0)
    t = res.trips
    assert (t["status"] == "arrived").all()
    delay = (t["arrival_s"] - t["departure_s"] - t["freeflow_s"]).sum()
    assert delay == pytest.approx(4.0 * N * (N - 1) / 2, rel=1e-9)
    T, lam, mu = 2.0 * N, 0.5, 1 / 6
    fluid = T**2 * (lam - mu) * lam / (2 * mu)
    assert delay == pytest.approx(fluid, rel=0.02)
    check_invariants(res)
    # the queue shows up in the link samples of the approach link, not the bottleneck
    assert res.link_samples.queue_veh[:, 0].max() > 50
    assert res.link_samples.queue_veh[:, 1].max() == 0


def diverge() -> tuple:
    """0 →A→ 1; 1 →B→ 2 →D (300 veh/h)→ 3; 1 →C→ 4. B holds 10 vehicles."""
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (1000, 0), 2: (1075, 0), 3: (1175, 0), 4: (1000, -300)}.items():
        add_node(G, n, *xy)
    a = add_link(G, 0, 1)
    b = add_link(G, 1, 2, storage_veh=10)
    d = add_link(G, 2, 3, capacity_vph=300.0)
    c = add_link(G, 1, 4)
    return G, a, b, c, d


def test_spillback_blocks_upstream_diverge():
    # 1800 veh/h alternating to 3 (through the 300 veh/h bottleneck) and 4. Once B is full the
    # shared exit queue of A discharges one 3-bound vehicle per 12 s, and the 4-bound vehicle
    # behind it: C's flow drops from 900 to μ(1 − p)/p = 300 veh/h.
    G, *_ = diverge()
    rows = [(0, 3 if i % 2 == 0 else 4, 2.0 * i) for i in range(900)]
    res = simulate(G, trips_frame(rows), settings_for(1800, cooldown_s=600), seed=0)
    links = res.links.set_index(["u", "v"])["link"]
    tr = res.traversals
    c_entries = np.sort(tr.loc[tr["link"] == links[(1, 4)], "entry_s"].to_numpy())
    window = c_entries[(c_entries >= 600) & (c_entries <= 1800)]
    rate = (len(window) - 1) / (window[-1] - window[0]) * 3600
    assert rate == pytest.approx(300.0, rel=0.02)
    # unblocked, C would carry half the 1800 veh/h demand
    early = c_entries[c_entries < 150]
    assert (len(early) - 1) / (early[-1] - early[0]) * 3600 == pytest.approx(900.0, rel=0.02)
    ls = res.link_samples
    mid = (ls.time_s >= 600) & (ls.time_s <= 1800)
    assert ls.blocked[mid, links[(1, 2)]].all()
    assert ls.occupancy_veh[mid, links[(1, 2)]].max() == 10
    check_invariants(res)


def test_backward_wave_delays_freed_space():
    # with a 18 km/h backward wave, space freed at the head of B (75 m) is usable 15 s later:
    # the blocked discharge rate of A is unchanged in steady state (one per 12 s) but the first
    # discharge after blocking is shifted by the wave delay
    G, *_ = diverge()
    rows = [(0, 3, 2.0 * i) for i in range(100)]
    immediate = simulate(G, trips_frame(rows), settings_for(600, cooldown_s=2400), seed=0)
    waved = simulate(
        G, trips_frame(rows), settings_for(600, cooldown_s=2400, backward_wave_kph=18), seed=0
    )
    # the bottleneck D sets the arrival times either way (B never empties)
    np.testing.assert_allclose(
        np.sort(immediate.trips["arrival_s"]), np.sort(waved.trips["arrival_s"]), atol=1e-9
    )
    links = immediate.links.set_index(["u", "v"])["link"]
    b = links[(1, 2)]
    ent_i = immediate.traversals.loc[immediate.traversals["link"] == b, "entry_s"].to_numpy()
    ent_w = waved.traversals.loc[waved.traversals["link"] == b, "entry_s"].to_numpy()
    # with B full, vehicle k enters B when vehicle k − 10 leaves it (+ the 15 s wave delay)
    np.testing.assert_allclose(ent_w[40:90] - ent_i[40:90], 15.0, atol=1e-9)


def ring() -> tuple:
    G = new_graph()
    for n, xy in enumerate([(0, 0), (75, 0), (75, 75), (0, 75)]):
        add_node(G, n, *xy)
    for n in range(4):
        add_link(G, n, (n + 1) % 4, storage_veh=5)
    return G


def test_gridlock_on_ring_detected_and_stuck_counted():
    G = ring()
    rows = [(n, (n + 3) % 4, float(i)) for i in range(10) for n in range(4)]
    res = simulate(
        G,
        trips_frame(rows),
        settings_for(600, gridlock_timeout_s=120, sample_interval_s=30),
        seed=0,
    )
    gl = res.gridlock
    assert gl["detected"]
    assert gl["links"] == [0, 1, 2, 3]
    assert gl["time_s"] < 600
    counts = res.trips["status"].value_counts()
    assert counts["stuck"] == 20  # 4 full links × 5
    assert counts["stuck"] + counts.get("en_route", 0) + counts.get("arrived", 0) == 40
    assert res.extra["counts"]["waiting_to_enter"] == counts.get("en_route", 0)
    assert res.trips.loc[res.trips["status"] == "stuck", "arrival_s"].isna().all()
    check_invariants(res)


def test_unrouted_trips_counted_not_dropped():
    G = chain()
    add_node(G, 9, 5000, 5000)
    add_link(G, 9, 0)
    trips = trips_frame([(0, 2, 0.0), (0, 9, 0.0), (1, 1, 5.0)])
    with pytest.warns(UserWarning, match="no path"):
        res = simulate(G, trips, settings_for(300), seed=0)
    status = res.trips.set_index("destination_node")["status"]
    assert status[9] == "unrouted"
    assert status[2] == "arrived"
    assert res.extra["counts"]["unrouted"] == 1
    assert len(res.trips) == 3


def test_bad_trips_raise_simulation_error():
    G = chain()
    with pytest.raises(SimulationError, match="not network nodes"):
        simulate(G, trips_frame([(0, 77, 0.0)]), settings_for(300), seed=0)
    with pytest.raises(SimulationError, match="lacks"):
        simulate(G, pd.DataFrame({"trip_id": [0]}), settings_for(300), seed=0)


def test_sample_factor_scales_capacity():
    # a 10 % sample through a 600 veh/h bottleneck behaves like 60 veh/h: 60 s headways
    G = chain(bottleneck_vph=600.0)
    trips = trips_frame([(0, 2, 20.0 * i) for i in range(10)], sample_factor=0.1)
    res = simulate(G, trips, settings_for(600, cooldown_s=1200), seed=0)
    arr = np.sort(res.trips["arrival_s"].to_numpy())
    np.testing.assert_allclose(np.diff(arr), 60.0)
    assert res.sample_factor == 0.1


def test_local_gridlock_detected_while_rest_flows():
    G = ring()
    add_node(G, 10, 1000, 1000)
    add_node(G, 11, 2000, 1000)
    add_link(G, 10, 11)
    rows = [(n, (n + 3) % 4, float(i)) for i in range(10) for n in range(4)]
    rows += [(10, 11, 10.0 * i) for i in range(120)]
    res = simulate(
        G,
        trips_frame(rows),
        settings_for(1200, gridlock_timeout_s=120, sample_interval_s=30),
        seed=0,
    )
    gl = res.gridlock
    assert gl["detected"] and gl["links"] == [0, 1, 2, 3]
    assert 120 <= gl["time_s"] <= 240
    t = res.trips
    assert (t.loc[t["origin_node"] == 10, "status"] == "arrived").all()
    assert (t["status"] == "stuck").sum() == 20
    # the run went on after the local deadlock, until nothing moved anywhere
    assert res.network_samples["time_s"].iloc[-1] > 1290
    check_invariants(res)


def test_empty_trips_and_progress():
    G = chain()
    empty = trips_frame([(0, 1, 0.0)]).iloc[:0]
    res = simulate(G, empty, settings_for(300), seed=0)
    assert len(res.trips) == 0 and len(res.traversals) == 0
    assert (res.network_samples["vehicles_in_network"] == 0).all()
    calls = []
    simulate(G, trips_frame([(0, 1, 0.0)]), settings_for(300), seed=0,
             progress=lambda stage, f: calls.append((stage, f)))  # fmt: skip
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(stage.startswith("simulate") for stage, _ in calls)


def test_traversals_name_each_trip_by_its_own_id(monkeypatch):
    """Traversal rows carry the trip's id (int64), whatever the ids and the row order.

    The engine records vehicle indices (trips sorted by departure) and the results map them to
    ids in place, chunk by chunk: ids far from 0..n-1, trips given out of departure order and a
    chunk of 3 rows check that every row gets its own trip's id.
    """
    trips = trips_frame([(0, 8, 60.0), (8, 0, 0.0), (2, 6, 30.0), (6, 2, 90.0), (1, 7, 45.0)])
    trips["trip_id"] = np.array([9_000_000_000, 17, 5, 123_456, 40], dtype=np.int64)
    trips = trips.iloc[[3, 0, 4, 2, 1]]
    monkeypatch.setattr(records, "traversals_per_chunk", 3)
    res = simulate(grid(3), trips, settings_for(600), seed=0)
    tr = res.traversals.sort_values(["trip_id", "entry_s"], kind="stable")
    assert tr["trip_id"].dtype == np.int64
    assert set(tr["trip_id"]) == set(trips["trip_id"])
    link_u = res.links["u"].to_numpy()
    link_v = res.links["v"].to_numpy()
    ends = tr.groupby("trip_id")["link"].agg(["first", "last"])
    t = trips.set_index("trip_id").loc[ends.index]
    assert (link_u[ends["first"]] == t["origin_node"].to_numpy()).all()
    assert (link_v[ends["last"]] == t["destination_node"].to_numpy()).all()
    assert len(tr) == 4 * 4 + 2  # four corner-to-corner trips of 4 links, 1 → 7 takes 2
