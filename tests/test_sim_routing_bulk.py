"""Bulk routing over movements: equal to a per-trip reference, shared paths, subsets, turns.

Also the departure-bin helper (numpy's floor division, faster).
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from helpers.graphs import grid_graph
from helpers.simnets import (
    add_link,
    add_node,
    crossroads,
    grid,
    new_graph,
    settings_for,
    trips_frame,
)

from cysim.sim import movements, netarrays, routing, simulate, timebins

BIN_S = 60.0


def parallel_links():
    """Two junctions joined by three parallel links each way, a detour over node 2, a self-loop."""
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (600, 0), 2: (300, 400), 3: (900, 300)}.items():
        add_node(G, n, *xy)
    for length in (600.0, 650.0, 700.0):
        add_link(G, 0, 1, length_m=length)
        add_link(G, 1, 0, length_m=length)
    for u, v in ((0, 2), (2, 1), (1, 3), (3, 2), (2, 0), (1, 2), (3, 1), (2, 3)):
        add_link(G, u, v)
    add_link(G, 1, 1, length_m=50.0)
    return G


def one_way_detour():
    """A two-way street 0–1–2–3 except 1→2, which is one way the other way: eastbound traffic
    detours 1→4→2. Node 5 can only be left (nothing reaches it), node 6 only reached."""
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (300, 0), 2: (600, 0), 3: (900, 0), 4: (450, 300),
                  5: (0, 300), 6: (900, 300)}.items():  # fmt: skip
        add_node(G, n, *xy)
    for u, v in ((0, 1), (1, 0), (2, 1), (2, 3), (3, 2), (1, 4), (4, 2), (5, 0), (3, 6)):
        add_link(G, u, v)
    return G


NETWORKS = {
    "crossroads": crossroads,
    "grid": lambda: grid(8, capacity_vph=600.0),
    "graphs.grid": grid_graph,
    "parallel+loop": parallel_links,
    "one-way detour": one_way_detour,
}


def random_profile(moves: movements.Movements, net, n_bins: int, seed: int) -> np.ndarray:
    """Movement times per bin: free flow on about half the movements, up to 4× on the others.

    The last bin is all free flow, so an origin whose searches all stay in it repeats the
    snapshot (the bulk search skips that one).
    """
    rng = np.random.default_rng(seed)
    ff = np.asarray(net.freeflow_s, dtype=float)[moves.link]
    shape = (n_bins, moves.n_movements)
    slow = rng.random(shape) < 0.5
    profile = ff * np.where(slow, rng.uniform(1.0, 4.0, shape), 1.0)
    profile[-1] = ff
    return profile


def reference_routes(moves, origin, destination, departure_s, profile, time_bin_s):
    """One trip at a time, as documented: a textbook label-setting search (heapq, ties by the
    lower vertex) from ``L + o`` in which a movement leaving a link reached at ``t`` after the
    start of the departure bin ``b`` costs its time in bin ``min((b × bin + t) // bin, B − 1)``;
    then the walk back from ``L + N + d`` through the link vertices."""
    n_links, n_nodes, n_moves = moves.n_links, moves.n_nodes, moves.n_movements
    n_bins = profile.shape[0]
    paths, costs = [], []
    for o, d, t in zip(origin.tolist(), destination.tolist(), departure_s.tolist(), strict=True):
        if o == d:
            paths.append([])
            costs.append(0.0)
            continue
        b = min(max(int(t // time_bin_s), 0), n_bins - 1)
        source, target = n_links + o, n_links + n_nodes + d
        dist = {source: 0.0}
        pred: dict[int, int] = {}
        done = set()
        heap = [(0.0, source)]
        while heap:
            du, u = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            row = min(int((b * time_bin_s + du) // time_bin_s), n_bins - 1)
            for e in range(moves.indptr[u], moves.indptr[u + 1]):
                w = int(moves.indices[e])
                nd = du + profile[row, e] if e < n_moves else du
                if w not in done and nd < dist.get(w, math.inf):
                    dist[w], pred[w] = nd, u
                    heapq.heappush(heap, (nd, w))
        costs.append(dist.get(target, math.inf))
        if target not in dist:
            paths.append(None)
            continue
        links = []
        vertex = pred[target]
        while vertex < n_links:
            links.append(vertex)
            vertex = pred[vertex]
        assert vertex == source
        paths.append(links[::-1])
    return paths, np.array(costs)


def random_trips(n_nodes: int, n: int, n_bins: int, seed: int):
    """``n`` random trips over ``n_bins`` bins (some after the last), 5 % with origin = dest."""
    rng = np.random.default_rng(seed)
    origin = rng.integers(0, n_nodes, n)
    destination = rng.integers(0, n_nodes, n)
    destination[: n // 20] = origin[: n // 20]
    departure = rng.uniform(0, (n_bins + 0.5) * BIN_S, n)
    return origin, destination, departure


@pytest.fixture(scope="module", params=list(NETWORKS))
def case(request):
    """A network, its movements, 600 random trips and a random 4-bin profile."""
    net = netarrays.build(NETWORKS[request.param](), 1.0, 0.0)
    moves = movements.Movements.build(net)
    origin, destination, departure = random_trips(len(net.nodes), 600, 4, seed=5)
    profile = random_profile(moves, net, 4, seed=6)
    return request.param, net, moves, origin, destination, departure, profile


def test_bulk_routes_equal_per_trip_reference(case):
    name, net, moves, origin, destination, departure, profile = case
    paths, cost = routing.route_trips(moves, origin, destination, departure, profile, BIN_S)
    ref_paths, ref_cost = reference_routes(moves, origin, destination, departure, profile, BIN_S)
    assert np.allclose(cost, ref_cost, rtol=1e-12, atol=0.0)
    assert np.array_equal(np.isinf(cost), np.isinf(ref_cost))
    # A* may settle another of equally fast paths (grids tie often): the costs of both agree
    bin_start = timebins.departure_bins(departure, BIN_S, profile.shape[0]) * BIN_S
    ours = movements.path_costs(moves, paths, bin_start, profile, BIN_S)
    theirs = movements.path_costs(moves, ref_paths, bin_start, profile, BIN_S)
    assert np.allclose(ours, theirs, rtol=1e-12, equal_nan=True)
    home = origin == destination
    assert all(paths[i] == [] for i in np.flatnonzero(home))
    assert (cost[home] == 0.0).all()
    assert sum(len(p) > 1 for p in paths if p) > 100  # multi-link paths were compared
    u, v = np.asarray(net.link_u), np.asarray(net.link_v)
    for p, o, d in zip(paths, origin.tolist(), destination.tolist(), strict=True):
        if p:  # a chain of links from the origin to the destination
            assert u[p[0]] == o and v[p[-1]] == d
            assert (u[p[1:]] == v[p[:-1]]).all()
    if name == "one-way detour":
        nodes = net.node_index
        unreachable = (destination == nodes[5]) & ~home
        assert unreachable.any()
        assert np.isinf(cost[unreachable]).all()
        assert all(paths[i] is None for i in np.flatnonzero(unreachable))


def test_costs_are_exact_path_costs_on_their_bins(case):
    # on one bin the search's cost is the exact cost of the path it returns
    _, _, moves, origin, destination, departure, profile = case
    flat = profile[:1]
    paths, cost = routing.route_trips(moves, origin, destination, departure, flat, BIN_S)
    exact = movements.path_costs(moves, paths, departure, flat, BIN_S)
    found = np.isfinite(cost)
    assert np.allclose(exact[found], cost[found], rtol=1e-12)
    assert np.isnan(exact[~found]).all()


def test_time_dependent_cost_is_the_paths_cost_from_the_bin_start(case):
    # the search's cost of a path is that path's time-dependent cost for a trip leaving at the
    # start of its departure bin, whatever the profile (FIFO or not)
    _, _, moves, origin, destination, departure, profile = case
    bin_start = np.floor(departure / BIN_S) * BIN_S
    paths, cost = routing.route_trips(moves, origin, destination, bin_start, profile, BIN_S)
    exact = movements.path_costs(moves, paths, bin_start, profile, BIN_S)
    found = np.isfinite(cost)
    assert np.allclose(exact[found], cost[found], rtol=1e-12)


def _all_path_costs(moves, source, target, times, first_bin, time_bin_s, max_links):
    """Time-dependent cost of every simple path source → target (links not repeated)."""
    n_moves, n_bins = moves.n_movements, times.shape[0]
    found = []

    def extend(vertex, t, used):
        if vertex == target:
            found.append(t)
            return
        if len(used) > max_links:
            return
        row = min(int((first_bin * time_bin_s + t) // time_bin_s), n_bins - 1)
        for e in range(moves.indptr[vertex], moves.indptr[vertex + 1]):
            w = int(moves.indices[e])
            if w in used:
                continue
            extend(w, t + (times[row, e] if e < n_moves else 0.0), used | {w})

    extend(source, 0.0, frozenset())
    return found


def test_time_dependent_search_is_optimal_on_fifo_times():
    # movement times that never fall from one bin to the next are FIFO: the label-setting search
    # then finds the earliest arrival over every simple path (enumerated on a 4 × 4 grid)
    net = netarrays.build(grid(4), 1.0, 0.0)
    moves = movements.Movements.build(net)
    rng = np.random.default_rng(11)
    ff = np.asarray(net.freeflow_s, dtype=float)[moves.link]
    shape = (6, moves.n_movements)
    growth = rng.uniform(0.0, 1.5, shape) * (rng.random(shape) < 0.4)
    profile = ff * (1.0 + np.cumsum(growth, axis=0))
    assert (np.diff(profile, axis=0) >= 0).all()
    origin, destination, departure = random_trips(16, 40, 3, seed=12)
    bins = timebins.departure_bins(departure, BIN_S, 6)
    _, cost = routing.route_trips(moves, origin, destination, departure, profile, BIN_S)
    checked = 0
    for i in np.flatnonzero(origin != destination):
        source = moves.n_links + origin[i]
        target = moves.n_links + moves.n_nodes + destination[i]
        options = _all_path_costs(moves, source, target, profile, int(bins[i]), BIN_S, 10)
        assert cost[i] == pytest.approx(min(options), rel=1e-12)
        checked += 1
    assert checked > 30


def test_time_dependent_search_differs_from_snapshot(case):
    # guards the reference comparison: on these profiles the time-dependent costs differ
    _, _, moves, origin, destination, departure, profile = case
    _, td = routing.route_trips(moves, origin, destination, departure, profile, BIN_S)
    snap_paths, snap = routing.route_trips(
        moves, origin, destination, departure, profile, BIN_S, time_dependent=False
    )
    finite = np.isfinite(snap)
    assert np.array_equal(np.isfinite(td), finite)
    assert (td[finite] != snap[finite]).sum() > 10
    # and the snapshot is the departure bin's plain Dijkstra (the reference with one bin)
    b = timebins.departure_bins(departure, BIN_S, profile.shape[0])
    for k in range(profile.shape[0]):
        sel = np.flatnonzero(b == k)
        ref_paths, ref_cost = reference_routes(
            moves, origin[sel], destination[sel], departure[sel], profile[k : k + 1], BIN_S
        )
        assert np.allclose(snap[sel], ref_cost, rtol=1e-12, atol=0.0)
        flat = profile[k : k + 1]
        ours = movements.path_costs(
            moves, [snap_paths[i] for i in sel], departure[sel], flat, BIN_S
        )
        theirs = movements.path_costs(moves, ref_paths, departure[sel], flat, BIN_S)
        assert np.allclose(ours, theirs, rtol=1e-12, equal_nan=True)


def test_paths_shared_per_bin_origin_destination_and_link_ints():
    net = netarrays.build(grid(12), 1.0, 0.0)
    moves = movements.Movements.build(net)
    assert net.n_links > 300  # link ints above CPython's small-int cache
    profile = random_profile(moves, net, 3, seed=1)
    o = np.array([0, 0, 0, 143, 143, 0, 0, 0])
    d = np.array([143, 143, 140, 0, 11, 143, 143, 143])
    dep = np.array([0.0, 50.0, 0.0, 0.0, 0.0, 70.0, 130.0, 900.0])  # bins 0 0 0 0 0 1 2 2
    paths, _ = routing.route_trips(moves, o, d, dep, profile, BIN_S)
    assert paths[0] is paths[1]  # one list per (bin, origin, destination)
    assert paths[0] is not paths[2]
    assert paths[0] is not paths[5]  # another bin: another list, even if equal
    assert paths[5] is not paths[6]
    assert paths[6] is paths[7]  # after the last bin: the last bin's
    ints: dict[int, int] = {}
    for p in paths:
        for link in p:
            assert type(link) is int
            assert ints.setdefault(link, link) is link  # the same int object in every path


def test_subsets_and_costs_only():
    net = netarrays.build(grid(9), 1.0, 0.0)
    moves = movements.Movements.build(net)
    origin, destination, departure = random_trips(81, 400, 5, seed=2)
    profile = random_profile(moves, net, 5, seed=3)
    full_paths, full_cost = routing.route_trips(
        moves, origin, destination, departure, profile, BIN_S
    )
    rng = np.random.default_rng(4)
    some = np.sort(rng.choice(400, 100, replace=False))
    some = np.union1d(some, [0, 1])  # trips with origin = destination among them
    want = np.zeros(400, dtype=bool)
    want[some[::2]] = True
    want[np.flatnonzero(~np.isin(np.arange(400), some))[:50]] = True  # wanted, not asked for
    paths, cost = routing.route_trips(
        moves, origin, destination, departure, profile, BIN_S, trips=some, need_paths=want
    )
    assert np.array_equal(cost[some], full_cost[some])
    assert np.isnan(np.delete(cost, some)).all()
    asked = np.zeros(400, dtype=bool)
    asked[some] = True
    for i in range(400):
        assert (paths[i] is None) == (not (want[i] and asked[i]) or full_paths[i] is None), i
    # a search's other destinations steer A* among equally fast paths: equal in cost
    walked = np.flatnonzero(want & asked)
    start = timebins.departure_bins(departure[walked], BIN_S, 5) * BIN_S
    costs_of = [
        movements.path_costs(moves, [p[i] for i in walked], start, profile, BIN_S)
        for p in (paths, full_paths)
    ]
    assert np.allclose(*costs_of, rtol=1e-12, equal_nan=True)
    # one value for all: costs alone
    paths, cost = routing.route_trips(
        moves, origin, destination, departure, profile, BIN_S, need_paths=False
    )
    assert np.array_equal(cost, full_cost)
    assert all(p is None for p in paths)
    # nothing asked for
    paths, cost = routing.route_trips(
        moves, origin, destination, departure, profile, BIN_S, trips=np.zeros(0, dtype=np.int64)
    )
    assert np.isnan(cost).all() and all(p is None for p in paths)


def test_unreachable_destination_and_origin_equal_destination():
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (500, 0), 2: (1000, 0)}.items():
        add_node(G, n, *xy)
    add_link(G, 0, 1)
    add_link(G, 1, 2)
    net = netarrays.build(G, 1.0, 0.0)
    moves = movements.Movements.build(net)
    idx = net.node_index
    o = np.array([idx[0], idx[2], idx[2], idx[1]])
    d = np.array([idx[2], idx[0], idx[2], idx[0]])
    ff = moves.from_link_times(np.asarray(net.freeflow_s))[None, :]
    paths, cost = routing.route_trips(moves, o, d, np.zeros(4), ff, 60.0)
    assert paths == [[0, 1], None, [], None]
    assert cost[0] == 100.0 and cost[2] == 0.0
    assert np.isinf(cost[[1, 3]]).all()


# --- routing sees turns ------------------------------------------------------------------------


def left_or_loop():
    """Northbound S→C; the destination W is a left turn at C, or a loop of three right turns.

    All links one way, 300 m at 36 km/h (30 s): S→C, C→W, C→N, N→NE, NE→E, E→C. The loop
    S→C→N→NE→E→C→W (through, right, right, right, through) is 180 s at free flow, the direct
    S→C→W 60 s.
    """
    G = new_graph()
    xy = {"S": (0, -300), "C": (0, 0), "W": (-300, 0), "N": (0, 300), "NE": (300, 300),
          "E": (300, 0)}  # fmt: skip
    ids = {name: i for i, name in enumerate(xy)}
    for name, (x, y) in xy.items():
        add_node(G, ids[name], x, y)
    for u, v in (("S", "C"), ("C", "W"), ("C", "N"), ("N", "NE"), ("NE", "E"), ("E", "C")):
        add_link(G, ids[u], ids[v])
    return G, ids


def test_routing_avoids_a_slow_left_turn_that_link_costs_hide():
    G, ids = left_or_loop()
    S, C, W, N, NE, E = (ids[k] for k in ("S", "C", "W", "N", "NE", "E"))
    net = netarrays.build(G, 1.0, 0.0)
    moves = movements.Movements.build(net)
    link = net.links.set_index(["u", "v"])["link"]
    assert net.movement_kind[link[S, C]] == {link[C, W]: netarrays.LEFT,
                                             link[C, N]: netarrays.THROUGH}  # fmt: skip

    def named(path):
        return [(net.nodes[net.link_u[i]], net.nodes[net.link_v[i]]) for i in path]

    ff = np.asarray(net.freeflow_s)
    times = moves.from_link_times(ff)[None, :].copy()
    left = moves.ids(np.array([link[S, C]]), np.array([link[C, W]]))
    times[0, left] = 600.0  # the left turn queues; S→C's other movements are free flow
    o, d = np.array([net.node_index[S]]), np.array([net.node_index[W]])
    paths, cost = routing.route_trips(moves, o, d, np.zeros(1), times, 300.0)
    assert named(paths[0]) == [(S, C), (C, N), (N, NE), (NE, E), (E, C), (C, W)]
    assert cost[0] == 180.0
    # averaged per link (say 1 in 3 vehicles on S→C turns left), the delay is on every path
    # through S→C, and the shorter one (the left turn) wins
    link_time = ff.copy()
    link_time[link[S, C]] = (600.0 + 2 * 30.0) / 3
    paths, cost = routing.route_trips(
        moves, o, d, np.zeros(1), moves.from_link_times(link_time)[None, :], 300.0
    )
    assert named(paths[0]) == [(S, C), (C, W)]
    assert cost[0] == 220.0 + 30.0


def left_against_opposing_flow():
    """Signalised crossroads 0 (60 s cycle, arms 1 N, 2 E, 3 S, 4 W, one lane each) and a bypass
    3 → 5 → 4 round the south-west corner, 2 × 450 m (90 s against 60 s via the junction)."""
    G = crossroads(lanes_ns=1, lanes_ew=1)
    for e in G.edges:
        G.edges[e]["storage_veh"] = 400.0
    add_node(G, 5, -300, -300)
    add_link(G, 3, 5, length_m=450.0)
    add_link(G, 5, 4, length_m=450.0)
    return G


def left_turners(res):
    """The trips from node 3: travel time and whether they took the left turn at junction 0.

    Parameters
    ----------
    res
        A :class:`~cysim.sim.result.SimResult` on :func:`left_against_opposing_flow`.

    Returns
    -------
    pandas.DataFrame
        ``travel_s`` and ``via_left`` (first link 3→0, not the bypass 3→5) per trip id.
    """
    trips = res.trips[res.trips.origin_node == 3].set_index("trip_id")
    tr = res.traversals[res.traversals.trip_id.isin(trips.index)]
    first_link = tr.sort_values("entry_s").groupby("trip_id")["link"].first()
    approach = res.links.set_index(["u", "v"])["link"][(3, 0)]
    return trips.assign(
        travel_s=trips.arrival_s - trips.departure_s, via_left=first_link == approach
    )


def test_route_choice_moves_left_turners_off_a_queued_permitted_left():
    # 500 veh/h turn left 3→0→4 against 900 veh/h of opposing through traffic 1→0→3: the
    # permitted left serves fewer (test_sim_junctions), so at free flow, when everybody takes
    # it, its queue grows all half hour; equilibrium sends part of them round the bypass
    rows = [(3, 4, 7.2 * i) for i in range(250)] + [(1, 3, 4.0 * i) for i in range(450)]
    G = left_against_opposing_flow()
    runs = {}
    for iterations in (1, 12):
        rc = {"iterations": iterations, "relative_gap_tolerance": 0.005, "time_bin_s": 300}
        settings = settings_for(1800, permitted_left=True, route_choice=rc)
        runs[iterations] = simulate(G, trips_frame(rows), settings, seed=2)
    first, last = left_turners(runs[1]), left_turners(runs[12])
    assert len(first) == len(last) == 250
    assert first.via_left.all()
    assert 0.5 < last.via_left.mean() < 0.9
    # the left is no longer worse than the 90 s bypass on average (it was over twice as slow)
    assert first.travel_s[first.via_left].mean() > 180.0
    assert last.travel_s[last.via_left].mean() < 90.0
    assert np.allclose(last.travel_s[~last.via_left], 90.0)  # free flow: 2 × 45 s
    gaps = runs[12].route_choice["relative_gap"]
    assert gaps.iloc[0] > 0.1
    assert gaps.iloc[-1] < 0.05
    assert (runs[12].trips["status"] == "arrived").all()


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
    assert np.array_equal(timebins.floor_divide(a, d), np.floor_divide(a, d))


def test_results_do_not_depend_on_threads_or_chunks(monkeypatch):
    net = netarrays.build(grid(9), 1.0, 0.0)
    moves = movements.Movements.build(net)
    origin, destination, departure = random_trips(81, 500, 5, seed=8)
    profile = random_profile(moves, net, 5, seed=9)
    outcomes = []
    for threads, chunk in ((1, 256), (1, 7), (3, 7), (2, 1)):
        monkeypatch.setattr(routing, "search_threads", threads)
        monkeypatch.setattr(routing, "origins_per_call", chunk)
        outcomes.append(routing.route_trips(moves, origin, destination, departure, profile, BIN_S))
    first_paths, first_cost = outcomes[0]
    for paths, cost in outcomes[1:]:
        assert np.array_equal(cost, first_cost, equal_nan=True)
        assert paths == first_paths
