"""Movements (a link and what follows it at its junction), their experienced times and path costs.

A **movement** is an approach link together with what the vehicle does at the link's downstream
junction: continue onto one of the next links, or end its trip there. Route choice prices
movements, not links: a left turn that queues behind its signal costs what its vehicles
experienced, while the through lanes of the same link stay cheap. See docs/model.md §7.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .engine import RunRecords
from .netarrays import NetArrays
from .timebins import departure_bins

#: Share of its excess over free flow that an unobserved movement-bin keeps per iteration: a
#: movement nobody used in a bin keeps its last estimate, fading towards the estimate of its
#: lane group (or free flow), so an expensive turn is tried again once it may have cleared.
unobserved_memory: float = 0.5


@dataclass(frozen=True)
class Movements:
    """Every movement of a network as an integer id, and the turn-expanded routing graph.

    Movement ids are ordered by approach link, then by next link, with the trip end (next link
    -1) last. The routing graph has ``L + 2N`` vertices: ``0..L-1`` are the links (reaching one
    means entering it), ``L + n`` is the origin vertex of node ``n`` and ``L + N + n`` its
    destination vertex. Its edges, in CSR order, are first the movements (link → next link, or
    link → destination vertex of its downstream node), costed by the time spent on the approach
    link, then one edge of cost 0 from each origin vertex to each link leaving the node.

    Attributes
    ----------
    n_links, n_nodes
        Sizes of the network.
    link, next_link
        Approach link and next link (-1 = trip end) per movement.
    group
        Lane group of the engine (:class:`~cysim.sim.netarrays.NetArrays`) per movement.
    link_u, link_v
        Upstream and downstream node index per link.
    node_xy
        Projected ``x, y`` per node index (NaN where unknown), for the search's straight-line
        bound.
    indptr, indices
        CSR structure of the routing graph (``M + L`` edges).
    keys
        ``link × (L + 1) + next link`` per movement (the trip end as ``L``), ascending: the
        lookup of :meth:`ids`.
    """

    n_links: int
    n_nodes: int
    link: np.ndarray
    next_link: np.ndarray
    group: np.ndarray
    link_u: np.ndarray
    link_v: np.ndarray
    node_xy: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    keys: np.ndarray

    @property
    def n_movements(self) -> int:
        """Number of movements M."""
        return len(self.link)

    @property
    def n_vertices(self) -> int:
        """Vertices of the routing graph, ``L + 2N``."""
        return self.n_links + 2 * self.n_nodes

    @classmethod
    def build(cls, net: NetArrays) -> Movements:
        """The movements of ``net``: one per entry of ``net.group_of`` (next links and trip end).

        Parameters
        ----------
        net
            Network arrays.

        Returns
        -------
        Movements
        """
        n_links, n_nodes = net.n_links, len(net.nodes)
        rows = [
            (link, nxt if nxt >= 0 else n_links, nxt, g)
            for link, groups in enumerate(net.group_of)
            for nxt, g in groups.items()
        ]
        rows.sort()
        link = np.array([r[0] for r in rows], dtype=np.int64)
        next_link = np.array([r[2] for r in rows], dtype=np.int64)
        group = np.array([r[3] for r in rows], dtype=np.int64)
        link_v = np.asarray(net.link_v, dtype=np.int64)
        link_u = np.asarray(net.link_u, dtype=np.int64)
        heads = np.where(next_link >= 0, next_link, n_links + n_nodes + link_v[link])
        # origin edges: node u → every link leaving it, by node then link
        origin_links = np.lexsort((np.arange(n_links), link_u))
        indices = np.concatenate([heads, origin_links]).astype(np.int32)
        per_vertex = np.zeros(n_links + 2 * n_nodes, dtype=np.int64)
        per_vertex[:n_links] = np.bincount(link, minlength=n_links)
        per_vertex[n_links : n_links + n_nodes] = np.bincount(link_u, minlength=n_nodes)
        indptr = np.zeros(len(per_vertex) + 1, dtype=np.int32)
        np.cumsum(per_vertex, out=indptr[1:])
        keys = np.array([r[0] * (n_links + 1) + r[1] for r in rows], dtype=np.int64)
        node_xy = np.asarray(net.node_xy, dtype=float)
        return cls(
            n_links, n_nodes, link, next_link, group, link_u, link_v, node_xy, indptr, indices, keys
        )

    def ids(self, link: np.ndarray, next_link: np.ndarray) -> np.ndarray:
        """Movement id of each ``(link, next link)`` pair (next link -1 = trip end).

        Raises
        ------
        ValueError
            A pair is not a movement of the network (the next link does not leave the link's
            downstream junction).
        """
        link = np.atleast_1d(np.asarray(link, dtype=np.int64))
        nxt = np.atleast_1d(np.asarray(next_link, dtype=np.int64))
        outside = (link < 0) | (link >= self.n_links) | (nxt < -1) | (nxt >= self.n_links)
        if outside.any():
            bad = int(np.flatnonzero(outside)[0])
            raise ValueError(f"link {int(link[bad])} → {int(nxt[bad])} is not a movement")
        key = link * (self.n_links + 1) + np.where(nxt >= 0, nxt, self.n_links)
        ids = np.searchsorted(self.keys, key)
        ok = ids < len(self.keys)
        ok[ok] = self.keys[ids[ok]] == key[ok]
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"link {int(link[bad])} → {int(nxt[bad])} is not a movement")
        return ids

    def from_link_times(self, link_time: np.ndarray) -> np.ndarray:
        """Movement times in which every movement of a link costs the link's time.

        Parameters
        ----------
        link_time
            Shape ``(L,)`` or ``(B, L)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(M,)`` or ``(B, M)``.
        """
        return np.asarray(link_time, dtype=float)[..., self.link]

    def path_movements(self, paths: list[list[int] | None]) -> tuple[np.ndarray, np.ndarray]:
        """The movements of many link paths, flat, with offsets (``None`` counts as empty).

        Returns
        -------
        (movements, offsets)
            Movement ids of all paths concatenated (a path of k links has k movements, the last
            one its trip end) and ``offsets`` of length ``n + 1``.
        """
        lengths = np.fromiter((len(p) if p else 0 for p in paths), dtype=np.int64, count=len(paths))
        offsets = np.zeros(len(paths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        links = np.fromiter(
            itertools.chain.from_iterable(p for p in paths if p), dtype=np.int64, count=offsets[-1]
        )
        nxt = np.empty_like(links)
        nxt[:-1] = links[1:]
        ends = offsets[1:][lengths > 0] - 1
        nxt[ends] = -1
        return self.ids(links, nxt), offsets


@dataclass(frozen=True)
class RouteCosts:
    """The outcome of a route choice, for a warm start of another run on the same network.

    Attributes
    ----------
    keys
        :attr:`Movements.keys` of the network they belong to.
    time_bin_s
        Bin width.
    times
        Movement time per bin, shape ``(B, M)``.
    origin, destination, departure_s
        Node indices and departure time of every routed trip of the run.
    path_offsets, path_links
        The trips' final paths: links of trip i are ``path_links[path_offsets[i]:
        path_offsets[i + 1]]``.
    """

    keys: np.ndarray
    time_bin_s: float
    times: np.ndarray
    origin: np.ndarray
    destination: np.ndarray
    departure_s: np.ndarray
    path_offsets: np.ndarray
    path_links: np.ndarray

    @classmethod
    def of_run(
        cls,
        moves: Movements,
        time_bin_s: float,
        times: np.ndarray,
        origin: np.ndarray,
        destination: np.ndarray,
        departure_s: np.ndarray,
        paths: list[list[int] | None],
    ) -> RouteCosts:
        """Collect a run's final times and paths (trips without a path are left out)."""
        keep = np.array([p is not None for p in paths], dtype=bool)
        kept = [p for p in paths if p is not None]
        lengths = np.fromiter(map(len, kept), dtype=np.int64, count=len(kept))
        offsets = np.zeros(len(kept) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        links = np.fromiter(itertools.chain.from_iterable(kept), dtype=np.int32, count=offsets[-1])
        return cls(
            moves.keys, time_bin_s, times, origin[keep], destination[keep], departure_s[keep],
            offsets, links,
        )  # fmt: skip

    def times_for(self, moves: Movements, time_bin_s: float, n_bins: int) -> np.ndarray:
        """The times, checked against the network and bins of the run that reuses them.

        Raises
        ------
        ValueError
            They belong to another network or other bins.
        """
        if (
            not np.array_equal(self.keys, moves.keys)
            or self.time_bin_s != time_bin_s
            or self.times.shape != (n_bins, moves.n_movements)
        ):
            raise ValueError("a warm start must come from a run on the same network and bins")
        return self.times

    def paths_for(
        self, origin: np.ndarray, destination: np.ndarray, departure_s: np.ndarray, within_s: float
    ) -> list[list[int] | None]:
        """For each new trip, the final path of the run's nearest like trip, or None.

        A like trip has the same origin and destination; the nearest is the one whose departure
        is nearest the new trip's, and its path is reused only if that is at most ``within_s``
        away.

        Reusing paths keeps the spread of an equilibrium over several paths, which routing
        everybody on its best path under the same times would collapse onto one. Of two earlier
        trips equally near, the one that departed first is taken.
        """
        n_nodes = 1 << 31  # node indices are int32-sized: one key per (origin, destination)
        origin = np.asarray(origin, dtype=np.int64)
        destination = np.asarray(destination, dtype=np.int64)
        old_key = self.origin.astype(np.int64) * n_nodes + self.destination
        order = np.lexsort((self.departure_s, old_key))
        old_key, old_dep = old_key[order], self.departure_s[order]
        key = origin * n_nodes + destination
        lo = np.searchsorted(old_key, key, side="left")
        hi = np.searchsorted(old_key, key, side="right")
        out: list[list[int] | None] = [None] * len(key)
        links = self.path_links.tolist()
        offsets = self.path_offsets.tolist()
        for i in np.flatnonzero(hi > lo).tolist():
            a, b = int(lo[i]), int(hi[i])
            j = a + int(np.searchsorted(old_dep[a:b], departure_s[i]))
            best = min(
                (k for k in (j - 1, j) if a <= k < b),
                key=lambda k: abs(old_dep[k] - departure_s[i]),
            )
            if abs(old_dep[best] - departure_s[i]) <= within_s:
                t = int(order[best])
                out[i] = links[offsets[t] : offsets[t + 1]]
        return out


def path_costs(
    moves: Movements,
    paths: list[list[int] | None],
    departure_s: np.ndarray,
    time_by_bin: np.ndarray,
    time_bin_s: float,
) -> np.ndarray:
    """Travel time of each path from its departure, each movement costed in the bin it is reached.

    This is the exact time-dependent cost of a fixed path on binned movement times (the routing
    search approximates it, see :func:`cysim.sim.routing.route_trips`).

    Parameters
    ----------
    moves
        The movements.
    paths
        Link path per trip (``None`` = no path, cost NaN; ``[]`` = cost 0).
    departure_s
        Departure time per trip.
    time_by_bin
        Movement time per bin, shape ``(B, M)``.
    time_bin_s
        Bin width.

    Returns
    -------
    numpy.ndarray
        Cost per trip, s.
    """
    flat, offsets = moves.path_movements(paths)
    n_bins, n_moves = time_by_bin.shape
    table = np.ascontiguousarray(time_by_bin).reshape(-1)
    clock = np.asarray(departure_s, dtype=float).copy()
    start = offsets[:-1]
    length = offsets[1:] - start
    active = np.flatnonzero(length > 0)
    step = 0
    while active.size:
        m = flat[start[active] + step]
        b = departure_bins(clock[active], time_bin_s, n_bins)
        clock[active] += table[b * n_moves + m]
        step += 1
        active = active[length[active] > step]
    cost = clock - np.asarray(departure_s, dtype=float)
    cost[[p is None for p in paths]] = np.nan
    return cost


def traversal_movements(
    moves: Movements, rec: RunRecords, departure_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Movement, start and end of every traversal of a run.

    A traversal's movement is its link and the link the same vehicle entered next, or the trip
    end when the vehicle left through it (its last traversal, or the end of a leg after which it
    cruised on to another parking facility). A traversal still on its link at the end of the run
    has the movement the vehicle is queued for (``rec.open_heads``) and ends at the run's end. A
    vehicle's first traversal starts at its departure: the wait to enter a full first link is
    caused by that link.

    Returns
    -------
    (movement, start_s, end_s)
    """
    trip = rec.trav_trip
    n = len(trip)
    order = np.argsort(trip, kind="stable")  # a vehicle's rows are in time order already
    link = rec.trav_link.astype(np.int64)
    nxt = np.full(n, -1, dtype=np.int64)
    same = trip[order[1:]] == trip[order[:-1]]
    nxt[order[:-1][same]] = link[order[1:][same]]
    if len(rec.leg_end_rows):
        nxt[np.asarray(rec.leg_end_rows, dtype=np.int64)] = -1
    heads = rec.open_heads
    for row in np.flatnonzero(np.isnan(rec.trav_exit_s)).tolist():
        head = heads.get(int(trip[row]))
        if head is not None and head[0] == link[row]:
            nxt[row] = head[1]
    start = np.array(rec.trav_entry_s, dtype=float)
    first = np.ones(n, dtype=bool)
    first[order[1:][same]] = False
    start[first] = departure_s[trip[first]]
    end = np.where(np.isnan(rec.trav_exit_s), rec.end_s, rec.trav_exit_s)
    return moves.ids(link, nxt), start, end


def movement_times(
    moves: Movements,
    net: NetArrays,
    rec: RunRecords,
    departure_s: np.ndarray,
    waiting_movement: np.ndarray,
    time_bin_s: float,
    n_bins: int,
    previous: np.ndarray | None = None,
) -> np.ndarray:
    """Mean experienced time per movement and entry bin, shape ``(n_bins, M)``.

    A movement-bin that vehicles entered has their mean time on the approach link (at least free
    flow). One that nobody entered takes the mean of its lane group in that bin when the group
    was used (the same queue), else keeps ``unobserved_memory`` of its previous estimate's excess
    over free flow (so it fades to free flow unless used again). Vehicles still waiting to enter
    their first link at the end count on its movement from their departure until the end.

    Parameters
    ----------
    moves, net
        The movements and network arrays.
    rec
        The run's records (``leg_end_rows`` marks traversals that ended a leg).
    departure_s
        Departure time per vehicle.
    waiting_movement
        Per vehicle, the first movement of its path when it is still waiting to enter its first
        link at the end, else -1.
    time_bin_s, n_bins
        Bins.
    previous
        The estimate of the previous iteration, or None (free flow).

    Returns
    -------
    numpy.ndarray
    """
    mov, start, end = traversal_movements(moves, rec, departure_s)
    waiting = np.flatnonzero(waiting_movement >= 0)
    if waiting.size:
        mov = np.concatenate([mov, waiting_movement[waiting]])
        start = np.concatenate([start, departure_s[waiting]])
        end = np.concatenate([end, np.full(waiting.size, rec.end_s)])
    n_moves = moves.n_movements
    duration = np.maximum(end - start, 0.0)
    b = np.minimum(departure_bins(start, time_bin_s, n_bins), n_bins - 1)
    cell = b * n_moves + mov
    total = np.bincount(cell, weights=duration, minlength=n_bins * n_moves)
    count = np.bincount(cell, minlength=n_bins * n_moves)
    ff = np.asarray(net.freeflow_s, dtype=float)[moves.link]
    n_groups = int(moves.group.max()) + 1 if n_moves else 0
    gcell = b * n_groups + moves.group[mov]
    g_total = np.bincount(gcell, weights=duration, minlength=n_bins * n_groups)
    g_count = np.bincount(gcell, minlength=n_bins * n_groups)
    total = total.reshape(n_bins, n_moves)
    count = count.reshape(n_bins, n_moves)
    g_total = g_total.reshape(n_bins, n_groups)[:, moves.group]
    g_count = g_count.reshape(n_bins, n_groups)[:, moves.group]
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = total / count
        group_mean = g_total / g_count
    prev = np.broadcast_to(ff, (n_bins, n_moves)) if previous is None else previous
    faded = ff + unobserved_memory * (prev - ff)
    times = np.where(count > 0, observed, np.where(g_count > 0, group_mean, faded))
    return np.maximum(times, ff)
