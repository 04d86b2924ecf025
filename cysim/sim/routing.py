"""Shortest paths: time-dependent over movements in bulk (compiled), single over links (scipy)."""

from __future__ import annotations

import collections
import concurrent.futures as cf
import functools
import itertools
import os
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .netarrays import NetArrays
from .timebins import departure_bins

if TYPE_CHECKING:
    from .movements import Movements

#: (Origin, departure bin) searches per compiled call (bounds the predecessor memory: chunk ×
#: (links + 2 × junctions) × 4 bytes, about 60 MB for 256 searches on a 10,000-junction map).
origins_per_call: int = 256

#: Threads searching at once (``None`` = one per CPU, at most 8: each holds a chunk's trees,
#: about 60 MB on a 10,000-junction map); results do not depend on it.
search_threads: int | None = None


@functools.lru_cache(maxsize=4)
def _link_ints(n_links: int) -> list[int]:
    """One shared Python int per link index, so paths hold references, not new int objects."""
    return list(range(n_links))


class Router:
    """Shortest paths over one set of link costs, on the node graph (parallel links: cheapest wins).

    Parameters
    ----------
    net
        Network arrays.
    link_cost
        Cost per link (seconds), all > 0.
    """

    def __init__(self, net: NetArrays, link_cost: np.ndarray) -> None:
        self.net = net
        n = len(net.nodes)
        u = np.asarray(net.link_u, dtype=np.int64)
        v = np.asarray(net.link_v, dtype=np.int64)
        cost = np.asarray(link_cost, dtype=float)
        keep = u != v  # self-loops never help a shortest path
        idx = np.flatnonzero(keep)
        # cheapest link per (u, v) pair, ties by link index, so csr_matrix never sums duplicates
        order = idx[np.lexsort((idx, cost[idx], v[idx], u[idx]))]
        pair = u[order] * n + v[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = pair[1:] != pair[:-1]
        best = order[first]
        self.n = n
        # ``best`` is sorted by (u, v): exactly the CSR entry order, so costs can be swapped in,
        # and ``pair_key`` is sorted, so node pairs map to links by binary search
        self.best = best
        self.best_u = u[best]
        self.pair_key = pair[first]
        self._indices = v[best].astype(np.int32)
        self._indptr = np.searchsorted(self.best_u, np.arange(n + 1)).astype(np.int32)
        self.costs = cost[best]
        self.matrix = self.with_costs(self.costs)

    @functools.cached_property
    def pair_link(self) -> dict[int, int]:
        """Link per node pair key ``u × n + v`` (for single paths; bulk paths use ``pair_key``)."""
        return dict(zip(self.pair_key.tolist(), self.best.tolist(), strict=True))

    def with_costs(self, costs_in_entry_order: np.ndarray) -> csr_matrix:
        """The same graph with new costs, given per stored entry (order of ``self.best``)."""
        return csr_matrix(
            (costs_in_entry_order, self._indices, self._indptr), shape=(self.n, self.n)
        )

    def tree(self, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distances and predecessors from each origin node index (rows follow ``origins``)."""
        return dijkstra(self.matrix, directed=True, indices=origins, return_predecessors=True)

    def path_links(self, pred_row: np.ndarray, origin: int, dest: int) -> list[int]:
        """Links of the tree path origin → dest (empty when equal)."""
        n = self.n
        nodes = []
        node = dest
        while node != origin:
            nodes.append(node)
            node = int(pred_row[node])
            if node < 0:
                raise ValueError("unreachable")
        nodes.append(origin)
        nodes.reverse()
        pair_link = self.pair_link
        return [pair_link[a * n + b] for a, b in itertools.pairwise(nodes)]


def route_trips(
    moves: Movements,
    origin: np.ndarray,
    destination: np.ndarray,
    departure_s: np.ndarray,
    time_by_bin: np.ndarray,
    time_bin_s: float,
    time_dependent: bool = True,
    *,
    trips: np.ndarray | None = None,
    need_paths: bool | np.ndarray = True,
) -> tuple[list[list[int] | None], np.ndarray]:
    """Best path per trip on binned movement travel times (turn-expanded graph, in bulk).

    One search per departure bin and origin node (:mod:`cysim.sim._tdsearch`): a time-dependent
    label-setting search in which each movement is costed in the bin its approach link is
    entered, counted from the start of the departure bin (or, without ``time_dependent``, the
    departure bin's snapshot throughout). It is exact when the binned times are FIFO and stops
    once the destinations of the bin's trips from that origin are settled. Only bins and origins
    of the trips asked for are searched.

    Parameters
    ----------
    moves
        The movements (:class:`cysim.sim.movements.Movements`).
    origin, destination
        Node indices per trip.
    departure_s
        Departure times.
    time_by_bin
        Movement time per bin, shape ``(B, M)``; a trip departing in bin ``b`` (clipped to
        ``B − 1``) uses row ``b``.
    time_bin_s
        Bin width.
    time_dependent
        Cost each movement in the bin its link is entered (else the departure bin's throughout).
    trips
        Indices of the trips to route (default: all).
    need_paths
        Whether each trip's path is wanted (per trip, or one value for all); costs alone need no
        path walk.

    Returns
    -------
    tuple[list[list[int] | None], numpy.ndarray]
        Link path per trip (None when the destination is unreachable, the path was not wanted or
        the trip not routed; ``[]`` when origin equals destination) and the search's cost of it
        (inf when unreachable, NaN when not routed).
    """
    from . import _tdsearch  # numba compiles on first use: keep it out of ``import cysim``

    n_trips = len(origin)
    paths: list[list[int] | None] = [None] * n_trips
    cost = np.full(n_trips, np.nan)
    want = np.broadcast_to(np.asarray(need_paths, dtype=bool), (n_trips,))
    todo = np.arange(n_trips) if trips is None else np.asarray(trips, dtype=np.int64)
    home = todo[origin[todo] == destination[todo]]
    cost[home] = 0.0
    for t in home.tolist():
        paths[t] = [] if want[t] else None
    todo = todo[origin[todo] != destination[todo]]
    if not len(todo):
        return paths, cost
    n_bins = time_by_bin.shape[0]
    flat_times = np.ascontiguousarray(time_by_bin, dtype=np.float64).reshape(-1)
    bins = departure_bins(departure_s[todo], time_bin_s, n_bins)
    # one group per (departure bin, origin); its trips are contiguous after this sort
    order = np.lexsort((origin[todo], bins))
    todo, bins = todo[order], bins[order]
    new_group = np.ones(len(todo), dtype=bool)
    new_group[1:] = (bins[1:] != bins[:-1]) | (origin[todo][1:] != origin[todo][:-1])
    starts = np.flatnonzero(new_group)
    indptr = np.asarray(moves.indptr, dtype=np.int64)
    indices = np.asarray(moves.indices, dtype=np.int64)
    first_dest = moves.n_links + moves.n_nodes
    targets = (first_dest + destination[todo]).astype(np.int64)
    node_xy = np.ascontiguousarray(moves.node_xy, dtype=np.float64)
    inv_speed = straight_line_bound(moves, time_by_bin)
    # chunks of groups: (first trip, end trip, the chunk's group starts)
    chunk_first = starts[::origins_per_call]
    chunk_end = np.append(chunk_first[1:], len(todo))
    chunks = [
        (int(first), int(end), starts[k * origins_per_call : (k + 1) * origins_per_call])
        for k, (first, end) in enumerate(zip(chunk_first, chunk_end, strict=True))
    ]

    def search(first: int, last: int, group_start: np.ndarray):
        bounds = np.append(group_start - first, last - first).astype(np.int64)
        chunk_cost = np.empty(last - first)
        pred = np.empty((len(group_start), moves.n_vertices), dtype=np.int32)
        _tdsearch.search_groups(
            indptr, indices, moves.n_movements, flat_times, n_bins, float(time_bin_s),
            bool(time_dependent and n_bins > 1), (moves.n_links + origin[todo[group_start]]),
            bins[group_start], bounds, targets[first:last], chunk_cost, pred, moves.link_u,
            node_xy, inv_speed,
        )  # fmt: skip
        return bounds, chunk_cost, pred

    def store(first: int, last: int, found) -> None:
        bounds, chunk_cost, pred = found
        chunk_trips = todo[first:last]
        cost[chunk_trips] = chunk_cost
        rows = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
        walk = want[chunk_trips] & np.isfinite(chunk_cost)
        _store_paths(
            paths, moves.n_links, pred, chunk_trips[walk], rows[walk], targets[first:last][walk]
        )

    threads = min(search_threads or min(os.cpu_count() or 1, 8), len(chunks))
    if threads <= 1:
        for chunk in chunks:
            store(chunk[0], chunk[1], search(*chunk))
        return paths, cost
    # the kernel releases the GIL; at most threads + 1 chunks' trees are alive at once
    with cf.ThreadPoolExecutor(threads) as pool:
        pending: collections.deque = collections.deque()
        for chunk in chunks:
            pending.append((chunk, pool.submit(search, *chunk)))
            if len(pending) > threads:
                done, future = pending.popleft()
                store(done[0], done[1], future.result())
        while pending:
            done, future = pending.popleft()
            store(done[0], done[1], future.result())
    return paths, cost


def straight_line_bound(moves: Movements, time_by_bin: np.ndarray) -> float:
    """Seconds per metre of straight line that no movement beats (0 when none can be given).

    Every movement costs at least its link's chord (the straight line between the link's end
    nodes) times this, so the straight line from a link's upstream node to the nearest
    destination, times this, is a consistent lower bound of the time still to go (A*).
    """
    chord = np.hypot(*(moves.node_xy[moves.link_v] - moves.node_xy[moves.link_u]).T)[moves.link]
    times = np.asarray(time_by_bin, dtype=float)
    if not len(chord) or not np.isfinite(chord).all() or not (times > 0).all():
        return 0.0
    fastest = float((chord / times.min(axis=0)).max())  # m/s over any movement in any bin
    return 1.0 / fastest if fastest > 0 else 0.0


def _store_paths(
    paths: list[list[int] | None],
    n_links: int,
    pred: np.ndarray,
    trips: np.ndarray,
    rows: np.ndarray,
    target: np.ndarray,
) -> None:
    """Walk back the tree path of every distinct (row, target vertex) once; its trips share it.

    All pairs are walked together, one hop per step: from the destination vertex through the
    link vertices to the origin vertex (the first vertex ≥ ``n_links``).
    """
    if not len(trips):
        return
    n_vertices = pred.shape[1]
    key = rows.astype(np.int64) * n_vertices + target
    pairs, which = np.unique(key, return_inverse=True)
    flat_pred = np.ascontiguousarray(pred).reshape(-1)
    base = (pairs // n_vertices) * n_vertices
    pair = np.arange(len(pairs))
    vertex = pairs % n_vertices
    hop_pair, hop_link, lengths = [], [], []
    while pair.size:
        prev = flat_pred[base[pair] + vertex].astype(np.int64)
        on_link = (prev >= 0) & (prev < n_links)
        pair, vertex = pair[on_link], prev[on_link]
        hop_pair.append(pair)
        hop_link.append(vertex)
        lengths.append(len(pair))
    all_pair = np.concatenate(hop_pair)
    all_link = np.concatenate(hop_link)
    # hops come destination first, step by step; hop j of a pair is its (len − 1 − j)-th link
    step = np.repeat(np.arange(len(lengths)), lengths)
    start = np.zeros(len(pairs) + 1, dtype=np.int64)
    np.cumsum(np.bincount(all_pair, minlength=len(pairs)), out=start[1:])
    n_of = start[1:] - start[:-1]
    flat = np.empty(len(all_pair), dtype=np.int64)
    flat[start[all_pair] + n_of[all_pair] - 1 - step] = all_link
    link_ints = _link_ints(n_links)
    shared = list(map(link_ints.__getitem__, flat.tolist()))
    bounds = start.tolist()
    lists = [shared[a:b] for a, b in itertools.pairwise(bounds)]
    for t, i in zip(trips.tolist(), which.tolist(), strict=True):
        paths[t] = lists[i]
