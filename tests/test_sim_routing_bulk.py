"""Bulk routing: vectorised tree paths, routing only what is needed, the sampled relative gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from graphs import grid_graph
from scipy.sparse.csgraph import dijkstra
from simnets import add_link, add_node, crossroads, grid, new_graph, settings_for, trips_frame

from cysim.sim import netarrays, routing, simulate


def city_grid(size: int):
    """A ``size × size`` grid of one-lane two-way roads (uniform lengths: many equal-cost ties)."""
    return grid(size, capacity_vph=600.0)


def parallel_links():
    """Two junctions joined by three parallel links each way, plus a detour over a third node."""
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (600, 0), 2: (300, 400), 3: (900, 300)}.items():
        add_node(G, n, *xy)
    for length in (600.0, 650.0, 700.0):
        add_link(G, 0, 1, length_m=length)
        add_link(G, 1, 0, length_m=length)
    for u, v in ((0, 2), (2, 1), (1, 3), (3, 2), (2, 0), (1, 2), (3, 1), (2, 3)):
        add_link(G, u, v)
    add_link(G, 1, 1, length_m=50.0)  # a self-loop never routes
    return G


def grid_trips(size: int, n: int, horizon_s: float, seed: int) -> pd.DataFrame:
    """``n`` random trips between distinct nodes of :func:`city_grid`, departing in the horizon."""
    rng = np.random.default_rng(seed)
    o = rng.integers(0, size * size, n)
    d = rng.integers(0, size * size, n)
    keep = o != d
    dep = rng.uniform(0, horizon_s, n)
    return trips_frame(
        list(zip(o[keep].tolist(), d[keep].tolist(), dep[keep].tolist(), strict=True))
    )


def reference_routes(net, origin, destination, departure_s, profile, time_bin_s):
    """One trip at a time: the snapshot search, one fresh corrected search, the per-node walk."""
    n_bins = profile.shape[0]
    paths, costs = [], []
    for o, d, t in zip(origin.tolist(), destination.tolist(), departure_s.tolist(), strict=True):
        b = min(max(int(t // time_bin_s), 0), n_bins - 1)
        router = routing.Router(net, profile[b])
        dist, pred = router.tree(np.array([o]))
        dist, pred = dist[0], pred[0]
        if n_bins > 1:
            reach = dist[router.best_u]
            reach = np.where(np.isfinite(reach), reach, 0.0)
            bins = np.minimum(b + (reach // time_bin_s).astype(np.int64), n_bins - 1)
            matrix = router.with_costs(profile[bins, router.best])
            dist, pred = dijkstra(matrix, directed=True, indices=o, return_predecessors=True)
        costs.append(dist[d])
        paths.append(router.path_links(pred, o, d) if np.isfinite(dist[d]) else None)
    return paths, np.array(costs)


def random_profile(net, n_bins: int, seed: int) -> np.ndarray:
    """Link times per bin: free flow on about half the links, up to 4× on the others; the last
    bin is all free flow (the corrected search then repeats the snapshot and is skipped)."""
    rng = np.random.default_rng(seed)
    ff = np.asarray(net.freeflow_s, dtype=float)
    slow = rng.random((n_bins, len(ff))) < 0.5
    profile = ff * np.where(slow, rng.uniform(1.0, 4.0, (n_bins, len(ff))), 1.0)
    profile[-1] = ff
    return profile


NETWORKS = {
    "parallel": parallel_links,
    "crossroads": crossroads,
    "graphs.grid": grid_graph,
    "city_grid": lambda: city_grid(12),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_bulk_paths_equal_per_trip_walks(name):
    net = netarrays.build(NETWORKS[name](), 1.0, 0.0)
    n_nodes = len(net.nodes)
    rng = np.random.default_rng(5)
    n = 600
    origin = rng.integers(0, n_nodes, n)
    destination = rng.integers(0, n_nodes, n)
    destination[:20] = origin[:20]  # empty paths
    departure = rng.uniform(0, 4 * 300.0, n)
    profile = random_profile(net, 4, seed=6)
    paths, cost = routing.route_trips(net, origin, destination, departure, profile, 300.0)
    ref_paths, ref_cost = reference_routes(net, origin, destination, departure, profile, 300.0)
    assert np.array_equal(cost, ref_cost)
    assert paths == ref_paths
    assert all(p == [] for p in paths[:20])
    assert sum(len(p) > 1 for p in paths if p) > n / 10  # multi-link paths were compared
    if name == "parallel":  # the cheapest of the parallel links, whatever its index
        links = net.links.set_index("link")
        used = {i for p in paths if p for i in p}
        assert not any(links.u[i] == links.v[i] for i in used)


def test_bulk_paths_share_lists_and_link_ints():
    net = netarrays.build(city_grid(12), 1.0, 0.0)
    assert net.n_links > 300  # link ints above CPython's small-int cache
    o = np.array([0, 0, 0, 143, 143])
    d = np.array([143, 143, 140, 0, 11])
    paths, _ = routing.route_trips(net, o, d, np.zeros(5), np.asarray(net.freeflow_s)[None], 300.0)
    assert paths[0] is paths[1]  # one list per (bin, origin, destination)
    assert paths[0] is not paths[2]
    ints = {}
    for p in paths:
        for link in p:
            assert ints.setdefault(link, link) is link  # the same int object in every path


def test_route_subset_and_costs_only():
    net = netarrays.build(city_grid(9), 1.0, 0.0)
    rng = np.random.default_rng(2)
    n = 400
    origin = rng.integers(0, 81, n)
    destination = rng.integers(0, 81, n)
    departure = rng.uniform(0, 1500, n)
    profile = random_profile(net, 5, seed=3)
    full_paths, full_cost = routing.route_trips(net, origin, destination, departure, profile, 300.0)
    some = np.sort(rng.choice(n, 100, replace=False))
    want = np.zeros(n, dtype=bool)
    want[some[::2]] = True
    paths, cost = routing.route_trips(
        net, origin, destination, departure, profile, 300.0, trips=some, need_paths=want
    )
    assert np.array_equal(cost[some], full_cost[some])
    assert np.isnan(np.delete(cost, some)).all()
    for i in range(n):
        assert paths[i] == (full_paths[i] if want[i] else None)


def test_unreachable_destination():
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (500, 0), 2: (1000, 0)}.items():
        add_node(G, n, *xy)
    add_link(G, 0, 1)
    add_link(G, 1, 2)
    net = netarrays.build(G, 1.0, 0.0)
    idx = net.node_index
    o = np.array([idx[0], idx[2]])
    d = np.array([idx[2], idx[0]])
    paths, cost = routing.route_trips(net, o, d, np.zeros(2), np.asarray(net.freeflow_s)[None], 60)
    assert len(paths[0]) == 2 and paths[1] is None
    assert np.isfinite(cost[0]) and cost[1] == np.inf


def test_link_time_profile_chunks_sum_like_one_pass(monkeypatch):
    net = netarrays.build(city_grid(5), 1.0, 0.0)
    rng = np.random.default_rng(8)
    n = 5000
    link = rng.integers(0, net.n_links, n).astype(np.int32)
    entry = rng.uniform(0, 3000, n)
    exit_s = entry + rng.exponential(60, n)
    exit_s[rng.random(n) < 0.05] = np.nan
    one = routing.link_time_profile(net, link, entry, exit_s, 3600.0, 300.0, 12)
    monkeypatch.setattr(routing, "traversals_per_chunk", 333)
    chunked = routing.link_time_profile(net, link, entry, exit_s, 3600.0, 300.0, 12)
    assert np.array_equal(one, chunked)
    # the definition: mean (exit or end − entry) per entry bin, at least free flow
    ff = np.asarray(net.freeflow_s)
    bins = np.minimum(entry // 300.0, 11).astype(int)
    pick = (bins == 3) & (link == link[0])
    expected = max(np.mean(np.where(np.isnan(exit_s), 3600.0, exit_s)[pick] - entry[pick]),
                   ff[link[0]])  # fmt: skip
    assert chunked[3, link[0]] == pytest.approx(expected, rel=1e-12)


# Recorded from the code before bulk routing (commit 314e506): a congested grid, four iterations.
RECORDED = {
    "relative_gap": [0.054195685600136184, 0.03215076938785823, 0.028399067529982613,
                     0.023145599298272534],
    "total_travel_time_s": [503621.24017451424, 494529.6307170093, 493049.8407697729,
                            490823.32871493156],
    "arrived": [3930, 3930, 3930, 3930],
    "switched": [1300, 823, 553, 0],
}  # fmt: skip


def congested_run(**route_choice):
    rc = {"iterations": 4, "relative_gap_tolerance": 1e-6, "time_bin_s": 120} | route_choice
    return simulate(
        city_grid(7), grid_trips(7, 4000, 1800.0, 11), settings_for(1800, route_choice=rc), seed=4
    )


def test_multi_iteration_run_unchanged():
    res = congested_run()
    rc = res.route_choice
    for column, values in RECORDED.items():
        assert rc[column].tolist() == values, column
    assert (rc["gap_trips"] == 3930).all()
    tr = res.traversals
    assert len(tr) == 18473
    assert float(tr.entry_s.sum()) == 17762933.767128117
    weights = tr.trip_id.to_numpy() % 97 + 1
    assert int((tr.link.to_numpy(np.int64) * weights).sum()) == 76720895
    assert float(np.nansum(res.trips.arrival_s)) == 4001352.382734866


def test_gap_sample():
    full = congested_run(gap_sample_trips=0)
    sampled = congested_run(gap_sample_trips=500)
    again = congested_run(gap_sample_trips=500)
    assert (full.route_choice["gap_trips"] == 3930).all()
    assert (sampled.route_choice["gap_trips"] == 500).all()
    pd.testing.assert_frame_equal(sampled.route_choice, again.route_choice)
    # the sample changes the gap only: switching and hence the runs are those of the full gap
    assert sampled.route_choice["relative_gap"].tolist() != RECORDED["relative_gap"]
    assert sampled.route_choice["relative_gap"].iloc[0] == pytest.approx(0.054, rel=0.5)
    assert full.route_choice["relative_gap"].tolist() == RECORDED["relative_gap"]
    for name in ("trips", "traversals"):
        pd.testing.assert_frame_equal(getattr(full, name), getattr(sampled, name))
    # as many trips as arrived (or more): the full computation
    at_size = congested_run(gap_sample_trips=3930)
    pd.testing.assert_frame_equal(at_size.route_choice, full.route_choice)


def test_converged_run_stops_without_the_rest_of_the_switchers():
    # a tolerance reached after the second run: its switchers are never routed, the result
    # equals the first two iterations of the run that goes on
    res = congested_run(relative_gap_tolerance=0.04)
    rc = res.route_choice
    assert rc["iteration"].tolist() == [1, 2]
    assert rc["relative_gap"].tolist() == RECORDED["relative_gap"][:2]
    assert rc["switched"].tolist() == [1300, 0]


@pytest.mark.parametrize("d", [300.0, 120.0, 7.3, 0.1, 3600.0])
def test_floor_divide_equals_numpy(d):
    rng = np.random.default_rng(4)
    k = rng.integers(-5, 300, 50_000).astype(float)
    on = k * d  # quotients on, just above and just below integers
    a = np.concatenate(
        [
            rng.uniform(-10 * d, 1e5, 200_000),
            on,
            np.nextafter(on, np.inf),
            np.nextafter(on, -np.inf),
        ]
    )
    assert np.array_equal(routing.floor_divide(a, d), np.floor_divide(a, d))
