"""Synthetic square-grid networks and random trips for engine benchmarks and comparisons."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd


def grid_network(
    size: int = 20,
    spacing_m: float = 300.0,
    lanes: int = 2,
    speed_kph: float = 50.0,
    signal_every: int = 2,
    jam_spacing_m: float = 7.5,
) -> nx.MultiDiGraph:
    """A ``size × size`` grid of two-way roads with the attributes of docs/data-model.md §1.

    Parameters
    ----------
    size
        Nodes per side.
    spacing_m
        Block length.
    lanes, speed_kph
        Per direction, every link.
    signal_every
        Nodes whose row and column are both multiples of this are signalised (0 = none).
    jam_spacing_m
        For storage.

    Returns
    -------
    networkx.MultiDiGraph
    """
    G = nx.MultiDiGraph(crs="EPSG:32651", name=f"grid{size}", simplified=True)
    for i in range(size):
        for j in range(size):
            n = i * size + j
            sig = signal_every > 0 and i % signal_every == 0 and j % signal_every == 0
            G.add_node(
                n, x=j * spacing_m, y=i * spacing_m, lon=120.4 + j * 0.003, lat=36.3 + i * 0.003,
                signal=sig, junction_id=n, street_count=4, signal_cycle_s=0.0,
                signal_offset_s=0.0, signal_splits="", parking_spaces=0, parking_guidance=False,
            )  # fmt: skip
    for i in range(size):
        for j in range(size):
            n = i * size + j
            for di, dj in ((0, 1), (1, 0)):
                if i + di < size and j + dj < size:
                    m = (i + di) * size + (j + dj)
                    for a, b in ((n, m), (m, n)):
                        G.add_edge(
                            a, b, length_m=spacing_m, lanes=lanes, speed_kph=speed_kph,
                            capacity_vph=1800.0 * lanes, saturation_flow_vphpl=1800.0,
                            storage_veh=lanes * spacing_m / jam_spacing_m, highway="secondary",
                            name="", osmid="", oneway=False, curb_parking=False, pocket_left=0,
                            pocket_right=0, pocket_length_m=0.0, defaults_applied="",
                        )  # fmt: skip
    return G


def freeflow_paths(net, trips: pd.DataFrame) -> list:
    """Free-flow shortest link paths of ``trips`` on the network arrays ``net`` (engine input).

    Imports cysim when called, so the cysim found first on ``sys.path`` is the one routed with
    (``engine_ab.py`` points it at another revision).
    """
    from cysim.sim import routing

    o = np.array([net.node_index[n] for n in trips["origin_node"]], dtype=np.int64)
    d = np.array([net.node_index[n] for n in trips["destination_node"]], dtype=np.int64)
    ff = np.asarray(net.freeflow_s, dtype=float)[None, :]
    try:
        from cysim.sim import movements
    except ImportError:  # a revision before route choice over movements (2026-12-07)
        paths, _ = routing.route_trips(net, o, d, np.zeros(len(trips)), ff, 300.0)
        return paths
    moves = movements.Movements.build(net)
    times = moves.from_link_times(ff)
    paths, _ = routing.route_trips(moves, o, d, np.zeros(len(trips)), times, 300.0)
    return paths


def random_trips(
    G: nx.MultiDiGraph, n_trips: int, duration_s: float, seed: int = 0
) -> pd.DataFrame:
    """Uniform random origin/destination nodes (distinct) and uniform departure times."""
    rng = np.random.default_rng(seed)
    nodes = np.array(sorted(G.nodes), dtype=np.int64)
    o = rng.choice(nodes, n_trips)
    d = rng.choice(nodes, n_trips)
    same = o == d
    while same.any():
        d[same] = rng.choice(nodes, int(same.sum()))
        same = o == d
    dep = np.sort(rng.uniform(0, duration_s, n_trips))
    df = pd.DataFrame(
        {
            "trip_id": np.arange(n_trips, dtype=np.int64),
            "origin_node": o,
            "destination_node": d,
            "departure_s": dep,
            "origin_zone": "",
            "destination_zone": "",
        }
    )
    df.attrs["sample_factor"] = 1.0
    df.attrs["source"] = "benchmarks.grid.random_trips"
    return df
