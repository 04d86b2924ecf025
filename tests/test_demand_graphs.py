"""Small hand-built road graphs for the demand tests, and tests of demand's graph arrays."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
from helpers.demandnets import lattice_graph

from cysim.demand._graph import freeflow_paths, graph_arrays

#: South-west corner of the test lattice in EPSG:32651 (inside Chengyang, about 120.37 E 36.28 N).


def test_graph_arrays_freeflow_times_and_lengths() -> None:
    G = lattice_graph(columns=3, rows=2)
    arrays = graph_arrays(G)
    index = arrays.index_of()
    time_s, length_m = freeflow_paths(arrays, np.array([index[1]]))
    # 1 -> 3 along the primary row: 1000 m at 50 km/h = 72 s.
    assert time_s[0, index[3]] == np.float64(1000 / (50 / 3.6))
    assert length_m[0, index[3]] == 1000.0
    # 1 -> 103: up (40 km/h) then the residential row (30 km/h) or along primary then up.
    expected = min(500 / (40 / 3.6) + 1000 / (30 / 3.6), 1000 / (50 / 3.6) + 500 / (40 / 3.6))
    assert np.isclose(time_s[0, index[103]], expected)
    assert length_m[0, index[103]] == 1500.0
    assert arrays.access.all()


def test_motorway_only_nodes_are_not_trip_ends() -> None:
    G = lattice_graph(columns=3, rows=3, motorway_row=1)
    # Remove the column roads of the middle node so it is reached by motorway only.
    G.remove_edges_from([(102, 2), (2, 102), (102, 202), (202, 102)])
    arrays = graph_arrays(G)
    access = dict(zip(arrays.nodes.tolist(), arrays.access.tolist(), strict=True))
    assert access[102] is False
    assert access[101] is True  # motorway end, but it also has its column road


def test_freeflow_lengths_follow_the_fastest_paths() -> None:
    G = lattice_graph(columns=7, rows=5)
    for _, _, data in G.edges(data=True):
        data["time_s"] = data["length_m"] / (data["speed_kph"] / 3.6)
    arrays = graph_arrays(G)
    index = arrays.index_of()
    sources = [1, 203, 407]
    time_s, length_m = freeflow_paths(arrays, np.array([index[s] for s in sources]), chunk=2)
    for row, source in enumerate(sources):
        times, paths = nx.single_source_dijkstra(G, source, weight="time_s")
        for target, path in paths.items():
            assert np.isclose(time_s[row, index[target]], times[target])
            # The length of the fastest path, edge by edge.
            hops = sum(G[u][v][0]["length_m"] for u, v in itertools.pairwise(path))
            assert length_m[row, index[target]] == hops
