"""Bulk time-dependent shortest paths on binned link travel times (scipy.sparse.csgraph)."""

from __future__ import annotations

import functools
import itertools

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .netarrays import NetArrays

#: Origins per Dijkstra call (bounds the distance-matrix memory: chunk × nodes × 16 bytes).
origins_per_call: int = 256
#: Traversals binned at a time by :class:`LinkTimeBins` (bounds its temporaries, ~50 B each).
traversals_per_chunk: int = 1 << 20


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

    def tree_paths(
        self, pred: np.ndarray, rows: np.ndarray, origins: np.ndarray, dests: np.ndarray
    ) -> list[list[int]]:
        """Links of many tree paths at once: ``origins[i] → dests[i]`` in ``pred[rows[i]]``.

        The same paths as :meth:`path_links`, walked for all pairs together one hop per step.

        Parameters
        ----------
        pred
            Predecessor matrix, one row per search (as from :meth:`tree`).
        rows
            Row of ``pred`` per pair.
        origins, dests
            Node indices per pair; every destination must be reachable.

        Returns
        -------
        list[list[int]]
            One new list per pair (empty when origin equals destination); the link ints are
            shared objects.
        """
        hop_pair, hop_u, hop_v, lengths = _walk_back(pred, rows, origins, dests)
        n_pairs = len(rows)
        if not hop_pair.size:
            return [[] for _ in range(n_pairs)]
        # hops come destination first, step by step; hop j of a pair is its (len − 1 − j)-th link
        step = np.repeat(np.arange(len(lengths)), lengths)
        start = np.zeros(n_pairs + 1, dtype=np.int64)
        np.cumsum(np.bincount(hop_pair, minlength=n_pairs), out=start[1:])
        n_links_of = start[1:] - start[:-1]
        position = start[hop_pair] + n_links_of[hop_pair] - 1 - step
        flat = np.empty(len(hop_pair), dtype=np.int64)
        flat[position] = self.best[np.searchsorted(self.pair_key, hop_u * self.n + hop_v)]
        link_ints = _link_ints(self.net.n_links)
        shared = list(map(link_ints.__getitem__, flat.tolist()))
        bounds = start.tolist()
        return [shared[a:b] for a, b in itertools.pairwise(bounds)]


def _walk_back(
    pred: np.ndarray, rows: np.ndarray, origins: np.ndarray, dests: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Follow predecessors from every destination to its origin, all pairs one hop per step.

    Returns
    -------
    tuple
        Per hop the pair index, upstream and downstream node (hops of step 0 first, pairs
        ascending within a step), and the number of hops per step.
    """
    n = pred.shape[1]
    flat_pred = np.ascontiguousarray(pred).reshape(-1)
    base = np.asarray(rows, dtype=np.int64) * n
    origins = np.asarray(origins, dtype=np.int64)
    pair = np.flatnonzero(np.asarray(dests) != origins)
    node = np.asarray(dests, dtype=np.int64)[pair]
    parts_pair, parts_u, parts_v, lengths = [], [], [], []
    while pair.size:
        prev = flat_pred[base[pair] + node].astype(np.int64)
        if (prev < 0).any():
            raise ValueError("unreachable")
        parts_pair.append(pair)
        parts_u.append(prev)
        parts_v.append(node)
        lengths.append(len(pair))
        going = prev != origins[pair]
        pair = pair[going]
        node = prev[going]
    if not lengths:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, []
    return np.concatenate(parts_pair), np.concatenate(parts_u), np.concatenate(parts_v), lengths


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
    net: NetArrays,
    origin: np.ndarray,
    destination: np.ndarray,
    departure_s: np.ndarray,
    link_time_by_bin: np.ndarray,
    time_bin_s: float,
    time_dependent: bool = True,
    *,
    trips: np.ndarray | None = None,
    need_paths: bool | np.ndarray = True,
) -> tuple[list[list[int] | None], np.ndarray]:
    """Best path per trip on binned link travel times.

    Per departure bin and origin: a Dijkstra search on the bin's snapshot, then (when
    ``time_dependent``) a second one with each link costed in the bin in which the first search
    reaches the link. Only bins and origins of the trips asked for are searched.

    Parameters
    ----------
    net
        Network arrays.
    origin, destination
        Node indices per trip.
    departure_s
        Departure times.
    link_time_by_bin
        Link travel time per bin, shape ``(B, L)``; a trip departing in bin ``b`` (clipped to
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
        the trip not routed) and its cost (inf when unreachable, NaN when not routed). Trips of
        the same bin, origin and destination share one path list.
    """
    n_trips = len(origin)
    paths: list[list[int] | None] = [None] * n_trips
    cost = np.full(n_trips, np.nan)
    want = np.broadcast_to(np.asarray(need_paths, dtype=bool), (n_trips,))
    todo = np.arange(n_trips) if trips is None else np.asarray(trips, dtype=np.int64)
    n_bins = link_time_by_bin.shape[0]
    bins = departure_bins(departure_s[todo], time_bin_s, n_bins)
    for b in np.unique(bins).tolist():
        in_bin = todo[bins == b]
        # by origin, so each chunk of origins owns a contiguous run of trips
        in_bin = in_bin[np.argsort(origin[in_bin], kind="stable")]
        router = Router(net, link_time_by_bin[b])
        origins = np.unique(origin[in_bin])
        bounds = np.searchsorted(origin[in_bin], origins[::origins_per_call]).tolist()
        bounds.append(len(in_bin))
        for k, start in enumerate(range(0, len(origins), origins_per_call)):
            chunk = origins[start : start + origins_per_call]
            dist, pred = router.tree(chunk)
            if n_bins > 1 and time_dependent:
                _time_dependent_trees(router, chunk, dist, pred, link_time_by_bin, b, time_bin_s)
            chunk_trips = in_bin[bounds[k] : bounds[k + 1]]
            rows = np.searchsorted(chunk, origin[chunk_trips])
            dest = destination[chunk_trips]
            c = dist[rows, dest]
            cost[chunk_trips] = c
            walk = want[chunk_trips] & np.isfinite(c)
            _store_paths(paths, router, pred, chunk, chunk_trips[walk], rows[walk], dest[walk])
    return paths, cost


def _store_paths(
    paths: list[list[int] | None],
    router: Router,
    pred: np.ndarray,
    chunk: np.ndarray,
    trips: np.ndarray,
    rows: np.ndarray,
    dest: np.ndarray,
) -> None:
    """Walk the tree path of every distinct (row, destination) once; its trips share the list."""
    if not len(trips):
        return
    key = rows.astype(np.int64) * router.n + dest
    pairs, which = np.unique(key, return_inverse=True)
    pair_rows = pairs // router.n
    lists = router.tree_paths(pred, pair_rows, chunk[pair_rows], pairs % router.n)
    for t, i in zip(trips.tolist(), which.tolist(), strict=True):
        paths[t] = lists[i]


def _time_dependent_trees(
    router: Router,
    origins: np.ndarray,
    dist: np.ndarray,
    pred: np.ndarray,
    link_time_by_bin: np.ndarray,
    departure_bin: int,
    time_bin_s: float,
) -> None:
    """Re-run each origin's Dijkstra with every link costed in the bin the vehicle reaches it.

    The bin a link is reached in is estimated from the departure-bin snapshot distance to the
    link's upstream node (one correction step of a time-dependent label-setting search). ``dist``
    and ``pred`` hold the snapshot trees and are overwritten row by row; an origin whose
    corrected costs equal the snapshot's keeps its snapshot tree (the search would repeat it).
    """
    n_bins = link_time_by_bin.shape[0]
    u = router.best_u
    # link times of the stored entries, flat by (bin, entry): one take per origin
    by_bin = link_time_by_bin[:, router.best].ravel()
    entry = np.arange(len(router.best))
    matrix = router.with_costs(router.costs.copy())
    for r, o in enumerate(origins.tolist()):
        reach = dist[r, u]
        reach = np.where(np.isfinite(reach), reach, 0.0)
        b = np.minimum(departure_bin + floor_divide(reach, time_bin_s).astype(np.int64), n_bins - 1)
        costs = by_bin.take(b * len(entry) + entry)
        if np.array_equal(costs, router.costs):
            continue
        # the same sparsity pattern every time: swap the costs in instead of a new matrix
        matrix.data[:] = costs
        dist[r], pred[r] = dijkstra(matrix, directed=True, indices=o, return_predecessors=True)


class LinkTimeBins:
    """Sums of experienced link travel times by entry bin, fed traversal chunk by chunk.

    Sums are accumulated in input order (``np.add.at``), so feeding chunks gives the same floats
    as one pass over everything.

    Parameters
    ----------
    n_links, n_bins
        Links and bins.
    time_bin_s
        Bin width.
    end_s
        End of the run; a traversal without exit time counts until then.
    """

    def __init__(self, n_links: int, n_bins: int, time_bin_s: float, end_s: float) -> None:
        self.n_links = n_links
        self.n_bins = n_bins
        self.time_bin_s = time_bin_s
        self.end_s = end_s
        self.total = np.zeros(n_bins * n_links)
        self.count = np.zeros(n_bins * n_links, dtype=np.int64)

    def add(self, link: np.ndarray, entry_s: np.ndarray, exit_s: np.ndarray) -> None:
        """Add traversals (exit NaN = still on the link at the end)."""
        for s in range(0, len(link), traversals_per_chunk):
            part = slice(s, s + traversals_per_chunk)
            entry = np.asarray(entry_s[part], dtype=float)
            duration = np.asarray(exit_s[part], dtype=float)  # a copy only when not float64
            duration = np.where(np.isnan(duration), self.end_s, duration)
            duration -= entry
            np.maximum(duration, 0.0, out=duration)
            flat = np.minimum(
                floor_divide(entry, self.time_bin_s).astype(np.int64), self.n_bins - 1
            )
            flat *= self.n_links
            flat += link[part]
            np.add.at(self.total, flat, duration)
            self.count += np.bincount(flat, minlength=len(self.count))

    def profile(self, freeflow_s: np.ndarray) -> np.ndarray:
        """Mean time per bin and link, shape ``(n_bins, L)``, at least free flow; free flow where
        nobody entered."""
        count = self.count
        mean = np.divide(self.total, count, out=np.zeros_like(self.total), where=count > 0)
        mean = mean.reshape(self.n_bins, self.n_links)
        seen = (count > 0).reshape(self.n_bins, self.n_links)
        ff = np.asarray(freeflow_s, dtype=float)
        return np.where(seen, np.maximum(mean, ff), ff)


def link_time_profile(
    net: NetArrays,
    trav_link: np.ndarray,
    trav_entry_s: np.ndarray,
    trav_exit_s: np.ndarray,
    end_s: float,
    time_bin_s: float,
    n_bins: int,
) -> np.ndarray:
    """Mean experienced link travel time by entry bin, shape ``(n_bins, L)``.

    Traversals still on the link at the end count with ``end − entry`` (a lower bound); bins in
    which nobody entered a link take its free-flow time.
    """
    bins = LinkTimeBins(net.n_links, n_bins, time_bin_s, end_s)
    bins.add(trav_link, trav_entry_s, trav_exit_s)
    return bins.profile(net.freeflow_s)
