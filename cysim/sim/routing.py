"""Bulk time-dependent shortest paths on binned link travel times (scipy.sparse.csgraph)."""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .netarrays import NetArrays

#: Origins per Dijkstra call (bounds the distance-matrix memory: chunk × nodes × 16 bytes).
origins_per_call: int = 256


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
        self.pair_link = dict(zip((u[best] * n + v[best]).tolist(), best.tolist(), strict=True))
        self.n = n
        # ``best`` is sorted by (u, v): exactly the CSR entry order, so costs can be swapped in
        self.best = best
        self.best_u = u[best]
        self._indices = v[best].astype(np.int32)
        self._indptr = np.searchsorted(self.best_u, np.arange(n + 1)).astype(np.int32)
        self.matrix = self.with_costs(cost[best])

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
    net: NetArrays,
    origin: np.ndarray,
    destination: np.ndarray,
    departure_s: np.ndarray,
    link_time_by_bin: np.ndarray,
    time_bin_s: float,
    time_dependent: bool = True,
) -> tuple[list[list[int] | None], np.ndarray]:
    """Best path per trip on binned link travel times.

    Per departure bin and origin: a Dijkstra search on the bin's snapshot, then (when
    ``time_dependent``) a second one with each link costed in the bin in which the first search
    reaches the link.

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

    Returns
    -------
    tuple[list[list[int] | None], numpy.ndarray]
        Link path per trip (None when the destination is unreachable) and its cost (inf then).
    """
    n_trips = len(origin)
    paths: list[list[int] | None] = [None] * n_trips
    cost = np.full(n_trips, np.inf)
    n_bins = link_time_by_bin.shape[0]
    bins = np.minimum((departure_s // time_bin_s).astype(np.int64), n_bins - 1)
    bins = np.maximum(bins, 0)
    for b in np.unique(bins):
        in_bin = np.flatnonzero(bins == b)
        router = Router(net, link_time_by_bin[b])
        origins = np.unique(origin[in_bin])
        for start in range(0, len(origins), origins_per_call):
            chunk = origins[start : start + origins_per_call]
            dist, pred = router.tree(chunk)
            if n_bins > 1 and time_dependent:
                dist, pred = _time_dependent_trees(
                    router, chunk, dist, link_time_by_bin, int(b), time_bin_s
                )
            row_of = {int(o): r for r, o in enumerate(chunk)}
            trips = in_bin[np.isin(origin[in_bin], chunk)]
            cache: dict[tuple[int, int], list[int] | None] = {}
            for t in trips.tolist():
                o, d = int(origin[t]), int(destination[t])
                r = row_of[o]
                c = dist[r, d]
                cost[t] = c
                if not math.isfinite(c):
                    continue
                key = (o, d)
                path = cache.get(key)
                if path is None:
                    path = cache[key] = router.path_links(pred[r], o, d)
                paths[t] = path
    return paths, cost


def _time_dependent_trees(
    router: Router,
    origins: np.ndarray,
    snapshot_dist: np.ndarray,
    link_time_by_bin: np.ndarray,
    departure_bin: int,
    time_bin_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-run each origin's Dijkstra with every link costed in the bin the vehicle reaches it.

    The bin a link is reached in is estimated from the departure-bin snapshot distance to the
    link's upstream node (one correction step of a time-dependent label-setting search).
    """
    n_bins = link_time_by_bin.shape[0]
    u = router.best_u
    cols = router.best
    dist = np.empty_like(snapshot_dist)
    pred = np.empty(snapshot_dist.shape, dtype=np.int32)
    for r, o in enumerate(origins.tolist()):
        reach = snapshot_dist[r, u]
        reach = np.where(np.isfinite(reach), reach, 0.0)
        b = np.minimum(departure_bin + (reach // time_bin_s).astype(np.int64), n_bins - 1)
        matrix = router.with_costs(link_time_by_bin[b, cols])
        d, p = dijkstra(matrix, directed=True, indices=o, return_predecessors=True)
        dist[r] = d
        pred[r] = p
    return dist, pred


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
    n_links = net.n_links
    ff = np.asarray(net.freeflow_s, dtype=float)
    exit_s = np.where(np.isnan(trav_exit_s), end_s, trav_exit_s)
    duration = np.maximum(exit_s - trav_entry_s, 0.0)
    b = np.minimum((trav_entry_s // time_bin_s).astype(np.int64), n_bins - 1)
    flat = b * n_links + trav_link
    flat = flat.astype(np.int64)
    total = np.bincount(flat, weights=duration, minlength=n_bins * n_links).astype(float)
    count = np.bincount(flat, minlength=n_bins * n_links)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    mean = mean.reshape(n_bins, n_links)
    seen = (count > 0).reshape(n_bins, n_links)
    return np.where(seen, np.maximum(mean, ff), ff)
