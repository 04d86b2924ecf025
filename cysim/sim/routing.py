"""Shortest paths with scipy.sparse.csgraph: time-dependent over movements in bulk, and single."""

from __future__ import annotations

import functools
import itertools
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .netarrays import NetArrays

if TYPE_CHECKING:
    from .movements import Movements

#: Origins per Dijkstra call (bounds the distance and predecessor memory: chunk × (links + 2 ×
#: junctions) × 12 bytes, about 160 MB for 256 origins on a 10,000-junction map).
origins_per_call: int = 256


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


def floor_divide(a: np.ndarray, d: float) -> np.ndarray:
    """``np.floor_divide(a, d)`` (the same floats) for finite ``a`` and ``d > 0``, ~10× faster.

    ``floor(a / d)`` is what float floor division gives except where ``a / d`` rounds onto or
    off an integer; only those quotients (within a relative 1e-12 of one) take the slow path.
    """
    q = np.asarray(a, dtype=float) / d
    f = np.floor(q)
    tol = (np.abs(q) + 1.0) * 1e-12
    near = (q - f < tol) | (f + 1.0 - q < tol)
    if near.any():
        f[near] = np.floor_divide(np.asarray(a, dtype=float)[near], d)
    return f


def departure_bins(departure_s: np.ndarray, time_bin_s: float, n_bins: int) -> np.ndarray:
    """Routing bin per trip: its departure bin, clipped to ``[0, n_bins − 1]``."""
    bins = np.minimum(floor_divide(departure_s, time_bin_s).astype(np.int64), n_bins - 1)
    return np.maximum(bins, 0)


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

    Per departure bin and origin: a Dijkstra search on the bin's snapshot of movement times,
    then (when ``time_dependent``) a second one with each movement costed in the bin in which the
    first search enters its link (one correction step of a time-dependent label-setting search).
    Only bins and origins of the trips asked for are searched.

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
        Do the correction step (else the departure-bin snapshot only).
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
    n_bins = time_by_bin.shape[0]
    n_moves = moves.n_movements
    first_dest = moves.n_links + moves.n_nodes
    graph = csr_matrix(
        (np.zeros(len(moves.indices)), moves.indices, moves.indptr),
        shape=(moves.n_vertices, moves.n_vertices),
    )
    flat_times = np.ascontiguousarray(time_by_bin).reshape(-1)
    bins = departure_bins(departure_s[todo], time_bin_s, n_bins)
    for b in np.unique(bins).tolist():
        in_bin = todo[bins == b]
        # by origin, so each chunk of origins owns a contiguous run of trips
        in_bin = in_bin[np.argsort(origin[in_bin], kind="stable")]
        graph.data[:n_moves] = time_by_bin[b]
        origins = np.unique(origin[in_bin])
        bounds = np.searchsorted(origin[in_bin], origins[::origins_per_call]).tolist()
        bounds.append(len(in_bin))
        for k, start in enumerate(range(0, len(origins), origins_per_call)):
            chunk = origins[start : start + origins_per_call]
            sources = moves.n_links + chunk
            dist, pred = dijkstra(graph, directed=True, indices=sources, return_predecessors=True)
            if n_bins > 1 and time_dependent:
                _time_dependent_trees(moves, graph, sources, dist, pred, flat_times, b, time_bin_s)
            chunk_trips = in_bin[bounds[k] : bounds[k + 1]]
            rows = np.searchsorted(chunk, origin[chunk_trips])
            target = first_dest + destination[chunk_trips]
            c = dist[rows, target]
            cost[chunk_trips] = c
            walk = want[chunk_trips] & np.isfinite(c)
            _store_paths(paths, moves.n_links, pred, chunk_trips[walk], rows[walk], target[walk])
    return paths, cost


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


def _time_dependent_trees(
    moves: Movements,
    graph: csr_matrix,
    sources: np.ndarray,
    dist: np.ndarray,
    pred: np.ndarray,
    flat_times: np.ndarray,
    departure_bin: int,
    time_bin_s: float,
) -> None:
    """Re-run each origin's Dijkstra with every movement costed in the bin its link is entered.

    The bin is estimated from the snapshot distance to the movement's link (one correction step
    of a time-dependent label-setting search). ``dist`` and ``pred`` hold the snapshot trees and
    are overwritten row by row; an origin whose corrected costs equal the snapshot's keeps its
    snapshot tree (the search would repeat it). ``graph`` holds the snapshot costs on return.
    """
    n_moves = moves.n_movements
    n_bins = len(flat_times) // n_moves
    snapshot = graph.data[:n_moves].copy()
    entry = np.arange(n_moves)
    for r, source in enumerate(sources.tolist()):
        reach = dist[r, moves.link]
        reach = np.where(np.isfinite(reach), reach, 0.0)
        b = np.minimum(departure_bin + floor_divide(reach, time_bin_s).astype(np.int64), n_bins - 1)
        costs = flat_times.take(b * n_moves + entry)
        if np.array_equal(costs, snapshot):
            continue
        # the same sparsity pattern every time: swap the costs in instead of a new matrix
        graph.data[:n_moves] = costs
        dist[r], pred[r] = dijkstra(graph, directed=True, indices=source, return_predecessors=True)
    graph.data[:n_moves] = snapshot
