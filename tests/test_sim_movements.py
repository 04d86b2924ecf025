"""Movements: ids and the turn-expanded graph, path costs, experienced times, warm-start costs.

Most expected values here are worked out by hand on a four-node network (:func:`small_net`).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.graphs import grid_graph
from helpers.simnets import add_link, add_node, grid, new_graph

from cysim.sim import engine, movements, netarrays

BIN_S = 100.0
N_BINS = 3


def small_net(extra_link: bool = False) -> netarrays.NetArrays:
    """Four nodes: 0 ↔ 1 ↔ 2 along x, 1 ↔ 3 to the north; 10 m/s everywhere.

    Links by index (graph edges sorted): 0 = 0→1 (30 s free flow), 1 = 1→0 (30 s),
    2 = 1→2 (40 s), 3 = 1→3 (50 s), 4 = 2→1 (40 s), 5 = 3→1 (50 s). One lane each, so every
    turn of an approach shares one lane group; the trip end has a group of its own.
    """
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (300, 0), 2: (600, 0), 3: (300, 300)}.items():
        add_node(G, n, *xy)
    for u, v, length in [(0, 1, 300), (1, 0, 300), (1, 2, 400), (2, 1, 400), (1, 3, 500),
                         (3, 1, 500)]:  # fmt: skip
        add_link(G, u, v, length_m=length)
    if extra_link:
        add_link(G, 2, 3)
    return netarrays.build(G, 1.0, 0.0)


def parallel_and_loop():
    """Two junctions joined by two parallel links each way, and a self-loop at node 1."""
    G = new_graph()
    for n, xy in {0: (0, 0), 1: (600, 0), 2: (300, 400)}.items():
        add_node(G, n, *xy)
    for length in (600.0, 650.0):
        add_link(G, 0, 1, length_m=length)
        add_link(G, 1, 0, length_m=length)
    for u, v in ((0, 2), (2, 1), (1, 2)):
        add_link(G, u, v)
    add_link(G, 1, 1, length_m=50.0)
    return G


@pytest.fixture(scope="module")
def net() -> netarrays.NetArrays:
    return small_net()


@pytest.fixture(scope="module")
def moves(net) -> movements.Movements:
    return movements.Movements.build(net)


def mid(moves: movements.Movements, link: int, nxt: int) -> int:
    """Id of one movement (``nxt`` -1 = trip end)."""
    return int(moves.ids(np.array([link]), np.array([nxt]))[0])


def records(
    rows: list[tuple[int, int, float, float]],
    end_s: float,
    leg_end_rows: list[int] | None = None,
    open_heads: dict[int, tuple[int, int]] | None = None,
) -> engine.RunRecords:
    """Run records holding only traversals, as the engine lists them.

    Parameters
    ----------
    rows
        ``(vehicle, link, entry_s, exit_s)`` in the engine's order (by entry time, vehicles
        interleaved); ``exit_s`` NaN = still on the link at the end.
    end_s
        End of the run.
    leg_end_rows
        Rows after which the vehicle cruised on to another parking facility.
    open_heads
        Per vehicle not arrived: the link it is on (or waits to enter) and its next link.
    """
    n_veh = max((r[0] for r in rows), default=-1) + 1
    return engine.RunRecords(
        trav_trip=np.array([r[0] for r in rows], dtype=np.int64),
        trav_link=np.array([r[1] for r in rows], dtype=np.int32),
        trav_entry_s=np.array([r[2] for r in rows], dtype=float),
        trav_exit_s=np.array([r[3] for r in rows], dtype=float),
        arrival_s=np.full(n_veh, np.nan),
        waiting=np.zeros(n_veh, dtype=bool),
        departed=np.ones(n_veh, dtype=bool),
        stuck=np.zeros(n_veh, dtype=bool),
        sample_time_s=np.zeros(0),
        queue_veh=np.zeros((0, 6), dtype=np.int32),
        occupancy_veh=np.zeros((0, 6), dtype=np.int32),
        blocked=np.zeros((0, 6), dtype=bool),
        net_samples={},
        end_s=end_s,
        leg_end_rows=list(leg_end_rows or []),
        open_heads=dict(open_heads or {}),
    )


def times_of(net, moves, rec, departure, waiting=None, previous=None) -> np.ndarray:
    """:func:`movements.movement_times` in 3 bins of 100 s."""
    departure = np.asarray(departure, dtype=float)
    if waiting is None:
        waiting = np.full(len(departure), -1, dtype=np.int64)
    return movements.movement_times(
        moves, net, rec, departure, np.asarray(waiting), BIN_S, N_BINS, previous=previous
    )


# --- Movements.build -----------------------------------------------------------------------


def test_build_small_network_by_hand(moves):
    # heads: link 0 ends at node 1 (out: links 1, 2, 3), 1 at 0 (out: 0), 2 at 2 (out: 4),
    # 3 at 3 (out: 5), 4 and 5 at 1; each link also has its trip end (-1), listed last
    expected = [
        (0, 1), (0, 2), (0, 3), (0, -1), (1, 0), (1, -1), (2, 4), (2, -1), (3, 5), (3, -1),
        (4, 1), (4, 2), (4, 3), (4, -1), (5, 1), (5, 2), (5, 3), (5, -1),
    ]  # fmt: skip
    assert list(zip(moves.link.tolist(), moves.next_link.tolist(), strict=True)) == expected
    assert moves.n_movements == 18
    assert (moves.n_links, moves.n_nodes, moves.n_vertices) == (6, 4, 14)
    # vertices 0-5 links, 6-9 origins of nodes 0-3, 10-13 destinations of nodes 0-3
    assert moves.indptr.tolist() == [0, 4, 6, 8, 10, 14, 18, 19, 22, 23, 24, 24, 24, 24, 24]
    assert moves.indices.tolist() == [
        1, 2, 3, 11,  # link 0 → links 1, 2, 3, destination of node 1
        0, 10,  # link 1 → link 0 (a U-turn), destination of node 0
        4, 12,
        5, 13,
        1, 2, 3, 11,
        1, 2, 3, 11,
        0, 1, 2, 3, 4, 5,  # origin edges: node 0 → link 0; node 1 → 1, 2, 3; 2 → 4; 3 → 5
    ]  # fmt: skip
    # the approach's turns share its one lane; its trip end is a group of its own
    g = moves.group
    assert g[0] == g[1] == g[2] != g[3]


@pytest.mark.parametrize(
    "make", [lambda: grid(4), grid_graph, parallel_and_loop], ids=["grid", "graphs.grid", "loop"]
)
def test_build_counts_order_and_csr(make):
    net = netarrays.build(make(), 1.0, 0.0)
    moves = movements.Movements.build(net)
    n_links, n_nodes = net.n_links, len(net.nodes)
    out_degree = np.array([len(o) for o in net.out_links])
    head = np.asarray(net.link_v)
    tail = np.asarray(net.link_u)
    assert moves.n_movements == int((out_degree[head] + 1).sum())
    # by link, then next link, the trip end last
    order_key = moves.link * (n_links + 1) + np.where(moves.next_link < 0, n_links,
                                                      moves.next_link)  # fmt: skip
    assert (np.diff(order_key) > 0).all()
    assert np.array_equal(moves.keys, order_key)
    assert np.array_equal(moves.ids(moves.link, moves.next_link), np.arange(moves.n_movements))
    # every next link leaves the approach's downstream junction
    real = moves.next_link >= 0
    assert np.array_equal(tail[moves.next_link[real]], head[moves.link[real]])
    # CSR degrees: a link has one edge per movement, an origin one per link leaving its node,
    # a destination none
    degree = np.diff(moves.indptr)
    assert len(degree) == n_links + 2 * n_nodes
    assert np.array_equal(degree[:n_links], out_degree[head] + 1)
    assert np.array_equal(degree[n_links : n_links + n_nodes], out_degree)
    assert not degree[n_links + n_nodes :].any()
    # the edges themselves, independently of the CSR order
    src = np.repeat(np.arange(len(degree)), degree)
    edges = set(zip(src.tolist(), moves.indices.tolist(), strict=True))
    expected = {(a, b if b >= 0 else n_links + n_nodes + head[a]) for a, b in
                zip(moves.link.tolist(), moves.next_link.tolist(), strict=True)}  # fmt: skip
    expected |= {(n_links + tail[link], link) for link in range(n_links)}
    assert edges == expected
    assert len(moves.indices) == moves.n_movements + n_links
    # the first M edges are the movements in id order (route_trips swaps costs in by id)
    assert np.array_equal(src[: moves.n_movements], moves.link)


def test_ids_raises_for_a_non_movement(moves):
    assert mid(moves, 4, 1) == 10
    assert mid(moves, 0, -1) == 3
    with pytest.raises(ValueError, match="link 0 → 4 is not a movement"):
        moves.ids(np.array([0, 0]), np.array([1, 4]))  # link 4 leaves node 2, not node 1
    with pytest.raises(ValueError, match="not a movement"):
        moves.ids(np.array([9]), np.array([-1]))  # no such link
    # next links outside the network are refused, not wrapped onto another movement's key
    for bad in (6, 7, -5):
        with pytest.raises(ValueError, match=f"link 0 → {bad} is not a movement"):
            moves.ids(np.array([0]), np.array([bad]))
    assert moves.ids(4, 1).tolist() == [10]  # scalars work too


def test_from_link_times(moves):
    link_time = np.arange(6, dtype=float) * 10.0
    per_move = moves.from_link_times(link_time)
    assert per_move.shape == (18,)
    assert per_move[mid(moves, 4, 3)] == 40.0
    assert per_move[mid(moves, 4, -1)] == 40.0
    by_bin = moves.from_link_times(np.vstack([link_time, link_time + 1]))
    assert by_bin.shape == (2, 18)
    assert by_bin[1, mid(moves, 2, 4)] == 21.0


# --- path_movements and path_costs -----------------------------------------------------------


def test_path_movements(moves):
    flat, offsets = moves.path_movements([[0, 2], None, [], [3, 5, 1], [4]])
    assert offsets.tolist() == [0, 2, 2, 2, 5, 6]
    assert flat.tolist() == [
        mid(moves, 0, 2), mid(moves, 2, -1),
        mid(moves, 3, 5), mid(moves, 5, 1), mid(moves, 1, -1),
        mid(moves, 4, -1),
    ]  # fmt: skip
    flat, offsets = moves.path_movements([None, []])
    assert len(flat) == 0 and offsets.tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="not a movement"):
        moves.path_movements([[0, 4]])  # 0→1 then 2→1: not a path


def cost_table(moves) -> np.ndarray:
    """Times of the path [0, 2] (movements 0→2, 2→end) and [0, 3, 5] in three bins of 100 s.

    Every other cell is 1000 s, so reading a wrong cell shows.
    """
    t = np.full((N_BINS, moves.n_movements), 1000.0)
    t[:, mid(moves, 0, 2)] = [70.0, 90.0, 110.0]
    t[:, mid(moves, 2, -1)] = [20.0, 40.0, 60.0]
    t[:, mid(moves, 0, 3)] = [30.0, 35.0, 45.0]
    t[:, mid(moves, 3, 5)] = [80.0, 85.0, 95.0]
    t[:, mid(moves, 5, -1)] = [5.0, 15.0, 25.0]
    return t


@pytest.mark.parametrize(
    "path, departure, expected",
    [
        ([0, 2], 10.0, 90.0),  # 10 + 70 = 80, still bin 0: + 20
        ([0, 2], 30.0, 110.0),  # 30 + 70 = 100, exactly the start of bin 1: + 40
        ([0, 2], 50.0, 110.0),  # 50 + 70 = 120, bin 1: + 40
        ([0, 2], 150.0, 150.0),  # bin 1: + 90 = 240, bin 2: + 60
        ([0, 2], 250.0, 170.0),  # bin 2: + 110 = 360, past the last bin, which is kept: + 60
        ([0, 2], 500.0, 170.0),  # departure after the last bin: all in bin 2
        ([0, 3, 5], 0.0, 125.0),  # + 30 = 30, + 80 = 110 (bin 1): + 15
        ([0, 3, 5], 99.0, 140.0),  # + 30 = 129 (bin 1): + 85 = 214 (bin 2): + 25 = 239
    ],
)
def test_path_costs_by_hand(moves, path, departure, expected):
    cost = movements.path_costs(moves, [path], np.array([departure]), cost_table(moves), BIN_S)
    assert cost.tolist() == [expected]


def test_path_costs_none_empty_and_many(moves):
    paths = [[0, 2], None, [], [0, 3, 5], [0, 2]]
    departure = np.array([10.0, 0.0, 40.0, 0.0, 250.0])
    cost = movements.path_costs(moves, paths, departure, cost_table(moves), BIN_S)
    assert np.isnan(cost[1])
    assert cost[[0, 2, 3, 4]].tolist() == [90.0, 0.0, 125.0, 170.0]
    assert movements.path_costs(moves, [], np.zeros(0), cost_table(moves), BIN_S).shape == (0,)


# --- traversal_movements and movement_times ------------------------------------------------


def test_traversals_first_starts_at_departure_and_unfinished_ends_at_end(net, moves):
    # vehicle 1 enters link 0 at 20 (its departure), vehicle 0 at 25 after departing at 5; both
    # go on to link 2, where vehicle 1 is still at the end (290)
    rows = [(1, 0, 20.0, 60.0), (0, 0, 25.0, 75.0), (1, 2, 60.0, np.nan), (0, 2, 75.0, 120.0)]
    rec = records(rows, end_s=290.0)
    departure = np.array([5.0, 20.0])
    mov, start, end = movements.traversal_movements(moves, rec, departure)
    m02, m2e = mid(moves, 0, 2), mid(moves, 2, -1)
    assert mov.tolist() == [m02, m02, m2e, m2e]
    assert start.tolist() == [20.0, 5.0, 60.0, 75.0]
    assert end.tolist() == [60.0, 75.0, 290.0, 120.0]
    t = times_of(net, moves, rec, departure)
    assert t.shape == (N_BINS, 18)
    assert t[0, m02] == (40.0 + 70.0) / 2
    assert t[0, m2e] == (230.0 + 45.0) / 2


def test_vehicle_still_on_a_link_counts_on_the_turn_it_waits_for(net, moves):
    # vehicle 0 queues on link 0 for the turn onto 3 when the run ends (its path goes on): its
    # time counts on 0→3, the movement whose queue holds it, not on the trip end of link 0
    rows = [(1, 0, 0.0, 40.0), (0, 0, 10.0, np.nan), (1, 3, 40.0, 90.0)]
    departure = np.array([10.0, 0.0])
    rec = records(rows, end_s=250.0, open_heads={0: (0, 3)})
    mov, _, end = movements.traversal_movements(moves, rec, departure)
    assert mov.tolist() == [mid(moves, 0, 3), mid(moves, 0, 3), mid(moves, 3, -1)]
    assert end[1] == 250.0
    t = times_of(net, moves, rec, departure)
    assert t[0, mid(moves, 0, 3)] == (40.0 + 240.0) / 2
    assert t[0, mid(moves, 0, -1)] == 30.0  # nobody ended there: free flow
    # a head that names another link (the vehicle left it for a cruise) is not applied
    rec = records(rows, end_s=250.0, open_heads={0: (5, -1)})
    assert movements.traversal_movements(moves, rec, departure)[0][1] == mid(moves, 0, -1)


def test_leg_end_rows_are_trip_ends(net, moves):
    # departs 100; 0→1 then 1→3, where the leg ends (row 1) and it cruises on over 3→1; the
    # cruise row starts when it is entered (not at the departure)
    rows = [(0, 0, 100.0, 130.0), (0, 3, 130.0, 190.0), (0, 5, 195.0, 250.0)]
    departure = np.array([100.0])
    mov, start, _ = movements.traversal_movements(moves, records(rows, 300.0, [1]), departure)
    assert mov.tolist() == [mid(moves, 0, 3), mid(moves, 3, -1), mid(moves, 5, -1)]
    assert start.tolist() == [100.0, 130.0, 195.0]
    t = times_of(net, moves, records(rows, 300.0, [1]), departure)
    assert t[1, mid(moves, 3, -1)] == 60.0
    assert t[1, mid(moves, 3, 5)] == 50.0  # unused (its own group): free flow
    assert t[1, mid(moves, 5, -1)] == 55.0
    # without the mark, link 3 would count as the movement onto 5
    t = times_of(net, moves, records(rows, 300.0), departure)
    assert t[1, mid(moves, 3, 5)] == 60.0
    assert t[1, mid(moves, 3, -1)] == 50.0


def test_unobserved_movement_takes_its_lane_groups_mean(net, moves):
    # bin 1 on link 0: turns onto 3 (80 s) and onto 2 (40 s and 26 s); nobody turns onto 1
    rows = [(0, 0, 110.0, 190.0), (1, 0, 150.0, 190.0), (2, 0, 160.0, 186.0),
            (2, 2, 186.0, 230.0), (0, 3, 190.0, 240.0), (1, 2, 190.0, 230.0)]  # fmt: skip
    t = times_of(net, moves, records(rows, 300.0), [110.0, 150.0, 160.0])
    assert t[1, mid(moves, 0, 3)] == 80.0
    assert t[1, mid(moves, 0, 2)] == 33.0
    # the group's mean over its traversals, not the mean of its movements' means (56.5)
    assert t[1, mid(moves, 0, 1)] == pytest.approx((80.0 + 40.0 + 26.0) / 3, rel=1e-12)
    # the trip end is another group; other bins of the group were unused: free flow
    assert t[1, mid(moves, 0, -1)] == 30.0
    assert (t[[0, 2]][:, [mid(moves, 0, n) for n in (1, 2, 3)]] == 30.0).all()


def test_unobserved_group_fades_towards_free_flow(net, moves, monkeypatch):
    ff = np.asarray(net.freeflow_s)[moves.link]
    excess = np.linspace(1.0, 100.0, N_BINS * 18).reshape(N_BINS, 18)
    previous = ff + excess
    empty = records([], end_s=300.0)
    none = times_of(net, moves, empty, np.zeros(0))
    assert np.array_equal(none, np.broadcast_to(ff, (N_BINS, 18)))
    faded = times_of(net, moves, empty, np.zeros(0), previous=previous)
    assert np.allclose(faded, ff + 0.5 * excess, rtol=1e-12)
    monkeypatch.setattr(movements, "unobserved_memory", 0.25)
    faded = times_of(net, moves, empty, np.zeros(0), previous=previous)
    assert np.allclose(faded, ff + 0.25 * excess, rtol=1e-12)
    # an estimate below free flow fades up to free flow, not below it
    assert np.array_equal(times_of(net, moves, empty, np.zeros(0), previous=ff - 10.0),
                          np.broadcast_to(ff, (N_BINS, 18)))  # fmt: skip


def test_observed_cells_ignore_previous_and_floor_at_free_flow(net, moves):
    # 15 s on link 3 (free flow 50 s), and 60 s on link 0 turning onto 2, in bin 0
    rows = [(0, 3, 0.0, 15.0), (1, 0, 10.0, 70.0), (1, 2, 70.0, 110.0)]
    previous = np.full((N_BINS, 18), 500.0)
    t = times_of(net, moves, records(rows, 300.0), [0.0, 10.0], previous=previous)
    assert t[0, mid(moves, 3, -1)] == 50.0
    assert t[0, mid(moves, 0, 2)] == 60.0
    assert t[0, mid(moves, 0, 1)] == 60.0  # its group was used in the bin: not the 500 s
    assert t[0, mid(moves, 4, 1)] == 40.0 + 0.5 * (500.0 - 40.0)  # nobody on link 4 in bin 0


def test_waiting_vehicles_and_bins_by_start(net, moves):
    # vehicle 0 departs at 95 (bin 0) and enters link 0 only at 130: its 75 s count in bin 0;
    # vehicle 1 departs at 350, after the last bin (kept); vehicle 2 still waits at the end
    # (450) to enter link 4 towards link 1, since its departure at 250
    rows = [(0, 0, 130.0, 170.0), (1, 0, 350.0, 400.0)]
    waiting = np.array([-1, -1, mid(moves, 4, 1)])
    t = times_of(net, moves, records(rows, 450.0), [95.0, 350.0, 250.0], waiting=waiting)
    assert t[0, mid(moves, 0, -1)] == 75.0
    assert t[1, mid(moves, 0, -1)] == 30.0
    assert t[2, mid(moves, 0, -1)] == 50.0
    assert t[2, mid(moves, 4, 1)] == 200.0
    assert t[2, mid(moves, 4, 3)] == 200.0  # same lane group as 4 → 1
    assert t[1, mid(moves, 4, 1)] == 40.0


# --- RouteCosts -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def route_costs(moves) -> movements.RouteCosts:
    origin = np.array([0, 0, 0, 2])
    destination = np.array([2, 2, 2, 0])
    departure = np.array([100.0, 400.0, 900.0, 50.0])
    paths = [[0, 2], [0, 3, 5, 2], None, [4, 1]]
    times = np.full((N_BINS, moves.n_movements), 7.0)
    return movements.RouteCosts.of_run(moves, BIN_S, times, origin, destination, departure, paths)


def test_of_run_leaves_out_trips_without_a_path(route_costs):
    assert route_costs.departure_s.tolist() == [100.0, 400.0, 50.0]
    assert route_costs.path_offsets.tolist() == [0, 2, 6, 8]
    assert route_costs.path_links.tolist() == [0, 2, 0, 3, 5, 2, 4, 1]


@pytest.mark.parametrize(
    "origin, destination, departure, within, expected",
    [
        (0, 2, 120.0, 1800.0, [0, 2]),  # nearest: 100
        (0, 2, 300.0, 1800.0, [0, 3, 5, 2]),  # nearest: 400
        (0, 2, 0.0, 1800.0, [0, 2]),  # before every earlier trip
        (0, 2, 2000.0, 1800.0, [0, 3, 5, 2]),  # after every earlier trip, 1600 s away
        (0, 2, 2000.0, 1000.0, None),  # … too far
        (0, 2, 700.0, 300.0, [0, 3, 5, 2]),  # exactly within_s away
        (0, 2, 900.0, 400.0, None),  # the trip at 900 had no path: 400 is 500 s away
        (2, 0, 3000.0, 1e9, [4, 1]),
        (0, 3, 100.0, 1e9, None),  # no earlier trip with this origin and destination
        (2, 2, 50.0, 1e9, None),
    ],
)
def test_paths_for(route_costs, origin, destination, departure, within, expected):
    got = route_costs.paths_for(
        np.array([origin]), np.array([destination]), np.array([departure]), within
    )
    assert got == [expected]


def test_paths_for_many_at_once(route_costs):
    got = route_costs.paths_for(
        np.array([0, 2, 0, 1]), np.array([2, 0, 2, 0]), np.array([390.0, 60.0, 90.0, 0.0]), 60.0
    )
    assert got == [[0, 3, 5, 2], [4, 1], [0, 2], None]


def test_times_for_checks_network_and_bins(route_costs, moves):
    assert route_costs.times_for(moves, BIN_S, N_BINS) is route_costs.times
    other = movements.Movements.build(small_net(extra_link=True))
    for args in ((other, BIN_S, N_BINS), (moves, 60.0, N_BINS), (moves, BIN_S, N_BINS + 1)):
        with pytest.raises(ValueError, match="same network and bins"):
            route_costs.times_for(*args)
