"""Array views of the road graph for demand: coordinates, trip-end junctions, free-flow paths."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from .._errors import DemandError

#: Road classes where trips may not start or end (grade-separated, no frontage access).
NO_ACCESS_CLASSES = frozenset(
    {
        "motorway",
        "trunk",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)


@dataclass(frozen=True)
class GraphArrays:
    """Node ids, coordinates and free-flow link weights of a graph as numpy arrays.

    Attributes
    ----------
    nodes
        Node ids (int64), position ``i`` is the csgraph index of node ``nodes[i]``.
    x, y
        Projected coordinates, metres.
    lon, lat
        WGS84 coordinates (NaN when the graph lacks them).
    time_s, length_m
        Sparse ``n × n`` matrices: free-flow time and length of the fastest edge between nodes.
    access
        True where trips may start and end: the node has an incoming and an outgoing edge whose
        class is not in :data:`NO_ACCESS_CLASSES`.
    """

    nodes: np.ndarray
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    time_s: sp.csr_matrix
    length_m: sp.csr_matrix
    access: np.ndarray

    def index_of(self) -> dict[int, int]:
        """Map from node id to array index."""
        return {int(n): i for i, n in enumerate(self.nodes)}

    def access_tree(self) -> tuple[cKDTree, np.ndarray]:
        """KD-tree over the access nodes and the array indices it refers to."""
        idx = np.flatnonzero(self.access)
        return cKDTree(np.column_stack([self.x[idx], self.y[idx]])), idx


def graph_arrays(G: nx.MultiDiGraph) -> GraphArrays:
    """Build :class:`GraphArrays` from an osmnx-style graph (docs/data-model.md §1).

    Parameters
    ----------
    G
        Projected graph with node ``x``, ``y`` and edge ``length_m``, ``speed_kph``, ``highway``.

    Returns
    -------
    GraphArrays

    Raises
    ------
    DemandError
        The graph is empty, a node lacks coordinates, or an edge lacks a positive length or speed.
    """
    if G.number_of_nodes() == 0:
        raise DemandError("the road graph has no nodes", hint="check the map file")
    nodes = np.fromiter((int(n) for n in G.nodes), dtype=np.int64, count=G.number_of_nodes())
    index = {int(n): i for i, n in enumerate(nodes)}
    try:
        x = np.array([float(d["x"]) for _, d in G.nodes(data=True)])
        y = np.array([float(d["y"]) for _, d in G.nodes(data=True)])
    except KeyError as missing:
        raise DemandError(
            f"a graph node lacks the coordinate {missing}",
            hint="load the map with cysim.network.build.load_network (projected, with x/y)",
        ) from None
    lon = np.array([float(d.get("lon", np.nan)) for _, d in G.nodes(data=True)])
    lat = np.array([float(d.get("lat", np.nan)) for _, d in G.nodes(data=True)])

    n = len(nodes)
    rows, cols, times, lengths = [], [], [], []
    local_in = np.zeros(n, dtype=bool)
    local_out = np.zeros(n, dtype=bool)
    for u, v, data in G.edges(data=True):
        length = float(data.get("length_m", 0.0))
        speed = float(data.get("speed_kph", 0.0))
        if not (length > 0 and speed > 0):
            raise DemandError(
                f"edge {u}->{v} has length_m={length} and speed_kph={speed}",
                hint="every edge needs positive length_m and speed_kph (load_network sets them)",
            )
        i, j = index[int(u)], index[int(v)]
        rows.append(i)
        cols.append(j)
        times.append(length / (speed / 3.6))
        lengths.append(length)
        highway = data.get("highway", "")
        if isinstance(highway, list):
            highway = highway[0] if highway else ""
        if highway not in NO_ACCESS_CLASSES:
            local_out[i] = True
            local_in[j] = True
    time_s = _min_matrix(rows, cols, times, n)
    # Length of the fastest edge between each pair, so time and length describe the same edge.
    length_m = _paired_matrix(rows, cols, times, lengths, n)
    return GraphArrays(
        nodes=nodes,
        x=x,
        y=y,
        lon=lon,
        lat=lat,
        time_s=time_s,
        length_m=length_m,
        access=local_in & local_out,
    )


def _min_matrix(rows: list[int], cols: list[int], values: list[float], n: int) -> sp.csr_matrix:
    """Sparse matrix keeping the smallest value among parallel edges."""
    order = np.lexsort((values, cols, rows))
    r, c, v = np.asarray(rows)[order], np.asarray(cols)[order], np.asarray(values)[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    return sp.csr_matrix((v[first], (r[first], c[first])), shape=(n, n))


def _paired_matrix(
    rows: list[int], cols: list[int], keys: list[float], values: list[float], n: int
) -> sp.csr_matrix:
    """Sparse matrix of ``values`` of the parallel edge with the smallest ``key``."""
    order = np.lexsort((keys, cols, rows))
    r, c, v = np.asarray(rows)[order], np.asarray(cols)[order], np.asarray(values)[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    return sp.csr_matrix((v[first], (r[first], c[first])), shape=(n, n))


def freeflow_paths(
    arrays: GraphArrays,
    sources: np.ndarray,
    targets: np.ndarray | None = None,
    *,
    chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Free-flow times and lengths of the fastest paths from each source to each target.

    Parameters
    ----------
    arrays
        The graph arrays.
    sources
        Array indices of the source nodes.
    targets
        Array indices of the target nodes; None = every node.
    chunk
        Sources per Dijkstra batch (bounds memory to ``chunk × n`` per array).

    Returns
    -------
    (time_s, length_m)
        Arrays of shape ``(len(sources), len(targets))``; ``inf`` where unreachable.
    """
    sources = np.asarray(sources, dtype=np.int64)
    n = len(arrays.nodes)
    targets = np.arange(n) if targets is None else np.asarray(targets, dtype=np.int64)
    time_out = np.empty((len(sources), len(targets)))
    length_out = np.empty((len(sources), len(targets)))
    for begin in range(0, len(sources), chunk):
        batch = sources[begin : begin + chunk]
        time_s, predecessors = dijkstra(
            arrays.time_s, directed=True, indices=batch, return_predecessors=True
        )
        length_m = _path_lengths(arrays.length_m, predecessors, batch)
        time_out[begin : begin + len(batch)] = time_s[:, targets]
        length_out[begin : begin + len(batch)] = length_m[:, targets]
    return time_out, length_out


def _path_lengths(
    length_matrix: sp.csr_matrix, predecessors: np.ndarray, sources: np.ndarray
) -> np.ndarray:
    """Lengths along shortest-path trees given by ``predecessors`` (one row per source).

    Pointer jumping: every node starts with the length of the edge from its predecessor and
    repeatedly adds its ancestor's partial sum while jumping to the ancestor's ancestor, so a
    tree of depth d is summed in log2(d) vectorised steps for all sources at once.
    """
    S, n = predecessors.shape
    rows = np.arange(S)
    pred = predecessors.astype(np.int64)
    reachable = pred >= 0
    columns = np.broadcast_to(np.arange(n), (S, n))
    edge = np.full((S, n), np.inf)
    if reachable.any():
        edge[reachable] = np.asarray(length_matrix[pred[reachable], columns[reachable]]).ravel()
    edge[rows, sources] = 0.0
    ancestor = np.where(reachable, pred, columns)  # roots and unreachable nodes point to themselves
    ancestor[rows, sources] = sources
    total = edge
    while True:
        next_ancestor = np.take_along_axis(ancestor, ancestor, axis=1)
        total = total + np.where(
            ancestor != columns, np.take_along_axis(total, ancestor, axis=1), 0.0
        )
        if np.array_equal(next_ancestor, ancestor):
            break
        ancestor = next_ancestor
    return total
