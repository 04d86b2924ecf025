"""A toy network and a hand-made simulation result for the metric tests."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from shapely.geometry import LineString

from cysim.sim.result import LinkSamples, SimResult
from cysim.simsettings import SimSettings

NAN = float("nan")


def toy_graph(name_1: str = "正阳路", name_2: str = "长城路") -> nx.MultiDiGraph:
    """The two-link graph in EPSG:32651 (near Chengyang)."""
    G = nx.MultiDiGraph(crs="EPSG:32651", name="toy")
    x0, y0 = 265000.0, 4020000.0
    for node, dx in ((1, 0.0), (2, 1000.0), (3, 1500.0)):
        G.add_node(node, x=x0 + dx, y=y0, signal=node == 2)
    G.add_edge(1, 2, 0, name=name_1, geometry=LineString([(x0, y0), (x0 + 1000, y0)]))
    G.add_edge(2, 3, 0, name=name_2, geometry=LineString([(x0 + 1000, y0), (x0 + 1500, y0)]))
    return G


def toy_result(sample_factor: float = 1.0, seed: int = 1) -> SimResult:
    """The five-vehicle SimResult of the module docstring."""
    links = pd.DataFrame(
        {
            "u": [1, 2],
            "v": [2, 3],
            "key": [0, 0],
            "length_m": [1000.0, 500.0],
            "lanes": [2, 1],
            "speed_kph": [36.0, 36.0],
            "capacity_vph": [1800.0, 900.0],
            "storage_veh": [266.7, 66.7],
            "freeflow_s": [100.0, 50.0],
            "name": ["正阳路", "长城路"],
            "highway": ["primary", "secondary"],
        }
    )
    trips = pd.DataFrame(
        {
            "trip_id": [0, 1, 2, 3, 4],
            "origin_node": [1] * 5,
            "destination_node": [3] * 5,
            "departure_s": [0.0, 10.0, 20.0, 500.0, 30.0],
            "arrival_s": [150.0, 190.0, 310.0, NAN, NAN],
            "status": ["arrived", "arrived", "arrived", "en_route", "unrouted"],
            "distance_m": [1500.0, 1500.0, 1500.0, NAN, NAN],
            "freeflow_s": [150.0, 150.0, 150.0, 150.0, NAN],
            "cruise_distance_m": [0.0, 400.0, 0.0, 0.0, 0.0],
            "cruise_s": [0.0, 60.0, 0.0, 0.0, 0.0],
            "parking_node": [3, 3, 3, -1, -1],
        }
    )
    traversals = pd.DataFrame(
        {
            "trip_id": [0, 0, 1, 1, 2, 2, 3, 3],
            "link": [0, 1, 0, 1, 0, 1, 0, 1],
            "entry_s": [0.0, 100.0, 10.0, 130.0, 20.0, 260.0, 500.0, 600.0],
            "exit_s": [100.0, 150.0, 130.0, 190.0, 260.0, 310.0, 600.0, NAN],
        }
    )
    times = np.arange(0.0, 900.0, 60.0)  # 15 samples
    queue = np.zeros((times.size, 2))
    queue[3, 0] = 3.0  # 3 vehicles queued on link 0 at t = 180 s
    queue[12, 1] = 1.0
    blocked = np.zeros((times.size, 2), dtype=bool)
    blocked[[10, 11], 1] = True  # link 1 full for two samples = 2 minutes
    network_samples = pd.DataFrame(
        {
            "time_s": times,
            "vehicles_in_network": [0, 3, 3, 2, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1],
            "waiting_to_enter": np.zeros(times.size),
        }
    )
    settings = SimSettings(duration_s=600, cooldown_s=300, seed=seed)
    return SimResult(
        links=links,
        trips=trips,
        traversals=traversals,
        link_samples=LinkSamples(times, queue, queue.copy(), blocked),
        network_samples=network_samples,
        gridlock={"detected": False, "time_s": None, "links": []},
        route_choice=pd.DataFrame(),
        settings=settings,
        seed=seed,
        sample_factor=sample_factor,
    )
