"""Time-dependent label-setting search over the movement graph (numba-compiled kernel).

One search per (origin, departure bin): a Dijkstra search in which each movement is costed in
the time bin its approach link is entered, ``min((b × bin + t) // bin, B − 1)`` for a label
``t`` measured from the start ``b × bin`` of the departure bin ``b``. With FIFO costs (no
movement lets a vehicle that enters later leave earlier) this is the exact earliest-arrival
search (Dreyfus 1969); the search stops as soon as every destination asked of it is settled.

numba compiles the kernel (routing on a 10,000-junction map is otherwise most of a run's time,
docs/performance.md); the engine stays SimPy (DESIGN §8). The kernel releases the GIL, so
:func:`cysim.sim.routing.route_trips` runs chunks of searches on Python threads (numba's own
thread pool is not used: replications run in forked processes). Searches of different groups
are independent and each writes only its own row, so results do not depend on the threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Predecessor of a vertex the search did not reach (scipy's convention).
NO_PREDECESSOR = -9999


@njit(cache=True, nogil=True)
def _push(heap_key, heap_vertex, size, key, vertex):  # pragma: no cover - compiled
    """Push ``(key, vertex)`` onto the binary min-heap of ``size`` entries; return the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        pk = heap_key[parent]
        if pk < key or (pk == key and heap_vertex[parent] <= vertex):
            break
        heap_key[i] = pk
        heap_vertex[i] = heap_vertex[parent]
        i = parent
    heap_key[i] = key
    heap_vertex[i] = vertex
    return size + 1


@njit(cache=True, nogil=True)
def _pop(heap_key, heap_vertex, size):  # pragma: no cover - compiled
    """Remove the heap's minimum (ties: the lower vertex); return ``(key, vertex, new size)``."""
    key = heap_key[0]
    vertex = heap_vertex[0]
    size -= 1
    last_key = heap_key[size]
    last_vertex = heap_vertex[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        other = child + 1
        if other < size and (
            heap_key[other] < heap_key[child]
            or (heap_key[other] == heap_key[child] and heap_vertex[other] < heap_vertex[child])
        ):
            child = other
        ck = heap_key[child]
        if last_key < ck or (last_key == ck and last_vertex <= heap_vertex[child]):
            break
        heap_key[i] = ck
        heap_vertex[i] = heap_vertex[child]
        i = child
    heap_key[i] = last_key
    heap_vertex[i] = last_vertex
    return key, vertex, size


@njit(cache=True, nogil=True)
def _search(  # noqa: C901 - numba kernel, helpers cost speed  # pragma: no cover - compiled
    indptr,
    indices,
    n_moves,
    flat_times,
    n_bins,
    time_bin_s,
    first_bin,
    time_dependent,
    source,
    targets,
    target_cost,
    pred,
    vertex_node,
    node_xy,
    inv_speed,
):
    """One search from ``source``; fills ``pred`` and the cost of each vertex in ``targets``.

    With ``inv_speed`` > 0 the search is A*: a vertex's key adds the straight line from its node
    to the nearest target, times ``inv_speed`` (a lower bound of the time still to go when no
    movement covers its link's chord faster than ``1 / inv_speed``, and consistent).
    """
    n_vertices = len(indptr) - 1
    first_dest = n_vertices - len(node_xy)
    dist = np.full(n_vertices, np.inf)
    settled = np.zeros(n_vertices, dtype=np.bool_)
    wanted = np.zeros(n_vertices, dtype=np.bool_)
    left = 0
    for t in targets:
        if not wanted[t]:
            wanted[t] = True
            left += 1
    n_goal = 0
    goal_x = np.empty(left)
    goal_y = np.empty(left)
    if inv_speed > 0.0:
        for t in targets:
            x, y = node_xy[t - first_dest, 0], node_xy[t - first_dest, 1]
            seen = False
            for k in range(n_goal):
                seen = seen or (goal_x[k] == x and goal_y[k] == y)
            if not seen:
                goal_x[n_goal], goal_y[n_goal] = x, y
                n_goal += 1
    heap_key = np.empty(len(indices) + 1)
    heap_vertex = np.empty(len(indices) + 1, dtype=np.int64)
    start_s = first_bin * time_bin_s
    dist[source] = 0.0
    size = _push(heap_key, heap_vertex, 0, 0.0, source)
    while size > 0 and left > 0:
        _, v, size = _pop(heap_key, heap_vertex, size)
        if settled[v]:
            continue
        settled[v] = True
        d = dist[v]
        if wanted[v]:
            left -= 1
        start, end = indptr[v], indptr[v + 1]
        if start == end:
            continue
        row = first_bin
        if time_dependent:
            # the bin of the clock time, as movements.path_costs bins it (floor division)
            row = min(int((start_s + d) // time_bin_s), n_bins - 1)
        offset = row * n_moves
        for e in range(start, end):
            w = indices[e]
            if settled[w] or (w >= first_dest and not wanted[w]):
                continue  # a trip end nobody asked for leads nowhere
            # movement edges come first in CSR order; origin edges (e ≥ n_moves) cost nothing
            nd = d + flat_times[offset + e] if e < n_moves else d
            if nd < dist[w]:
                dist[w] = nd
                pred[w] = v
                key = nd
                if n_goal > 0 and w < first_dest:
                    node = vertex_node[w]
                    x, y = node_xy[node, 0], node_xy[node, 1]
                    h = np.inf
                    for k in range(n_goal):
                        h = min(h, np.hypot(x - goal_x[k], y - goal_y[k]))
                    key = nd + h * inv_speed
                size = _push(heap_key, heap_vertex, size, key, w)
    for k in range(len(targets)):
        target_cost[k] = dist[targets[k]]


@njit(cache=True, nogil=True)
def search_groups(  # pragma: no cover - compiled
    indptr,
    indices,
    n_moves,
    flat_times,
    n_bins,
    time_bin_s,
    time_dependent,
    sources,
    bins,
    bounds,
    targets,
    target_cost,
    pred,
    vertex_node,
    node_xy,
    inv_speed,
):
    """Search each group ``g`` from ``sources[g]``, departing in ``bins[g]``, to its targets.

    The targets of ``g`` are the vertices ``targets[bounds[g]:bounds[g + 1]]``; row ``g`` of
    ``pred`` gets its tree and ``target_cost`` the cost of each target (inf when unreachable).
    ``vertex_node`` is the node of each link vertex's upstream end (A*, see :func:`_search`).
    """
    for g in range(len(sources)):
        pred[g, :] = NO_PREDECESSOR
        lo, hi = bounds[g], bounds[g + 1]
        _search(
            indptr,
            indices,
            n_moves,
            flat_times,
            n_bins,
            time_bin_s,
            bins[g],
            time_dependent,
            sources[g],
            targets[lo:hi],
            target_cost[lo:hi],
            pred[g],
            vertex_node,
            node_xy,
            inv_speed,
        )
