"""A synthetic comparison (links, KPIs, time series) for the figure and report tests."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from shapely.geometry import LineString

from cysim.report import figures as plot
from cysim.results import compare
from cysim.results.metrics import KPI_META

EVIL = "<script>alert(1)</script>"


ROADS_EW = ["正阳路", "长城路", "文阳路", "春阳路", EVIL]


ROADS_NS = ["黑龙江路", "双元路", "仙山路", "城阳路", "明阳路", "青威路"]


def grid_graph(rows: int = 5, cols: int = 6, spacing_m: float = 900.0) -> nx.MultiDiGraph:
    """A two-way grid of named roads in EPSG:32651 near Chengyang."""
    G = nx.MultiDiGraph(crs="EPSG:32651")
    x0, y0 = 262000.0, 4015000.0
    for r in range(rows):
        for c in range(cols):
            G.add_node(
                r * cols + c, x=x0 + c * spacing_m, y=y0 + r * spacing_m, signal=(r + c) % 2 == 0
            )
    for r in range(rows):
        for c in range(cols):
            n = r * cols + c
            for m, name, highway in (
                (n + 1 if c + 1 < cols else None, ROADS_EW[r % len(ROADS_EW)], "primary"),
                (n + cols if r + 1 < rows else None, ROADS_NS[c % len(ROADS_NS)], "secondary"),
            ):
                if m is None:
                    continue
                a, b = G.nodes[n], G.nodes[m]
                line = LineString([(a["x"], a["y"]), (b["x"], b["y"])])
                G.add_edge(n, m, 0, name=name, highway=highway, geometry=line)
                G.add_edge(
                    m, n, 0, name=name, highway=highway, geometry=LineString(line.coords[::-1])
                )
    return G


def synthetic_links(G: nx.MultiDiGraph, seed: int, boost: float = 0.0):
    """A link table shaped like metrics.link_table, with random but plausible values."""
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    rows = []
    for i, (u, v, k, d) in enumerate(G.edges(keys=True, data=True)):
        capacity = 3600.0 if d["highway"] == "primary" else 1800.0
        flow = capacity * rng.uniform(0.1, 1.05)
        ratio = float(
            np.clip(
                1.1 - flow / capacity + rng.normal(0, 0.1) + boost * (d["name"] == "正阳路"), 0.1, 1
            )
        )
        rows.append(
            {
                "link": i,
                "u": u,
                "v": v,
                "key": k,
                "name": d["name"],
                "highway": d["highway"],
                "lanes": 3,
                "length_m": 900.0,
                "speed_kph": 50.0,
                "capacity_vph": capacity,
                "flow_veh": flow * 2,
                "flow_vph": flow,
                "mean_speed_kph": 50 * ratio,
                "speed_ratio": ratio,
                "v_c": flow / capacity,
                "mean_delay_s": 900 / (50 * ratio / 3.6) - 64.8,
                "total_delay_vh": 0.0,
                "queue_max_veh": 10.0,
                "spillback_min": 0.0,
                "co2_kg": 1.0,
                "geometry": d["geometry"],
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=G.graph["crs"])
    frame["total_delay_vh"] = frame["flow_veh"] * frame["mean_delay_s"] / 3600
    return frame


def synthetic_case():
    """Everything the figures and the report need, without running the engine."""
    G = grid_graph()
    links_a, links_b = synthetic_links(G, 1), synthetic_links(G, 2, boost=0.35)
    links_a = links_a.iloc[1:]  # link 0 is new in B: NaN "before" values must plot too
    links_b.loc[5, ["mean_speed_kph", "speed_ratio"]] = np.nan  # a link nobody completed
    deltas = compare.link_deltas(links_a, links_b)
    rng = np.random.default_rng(3)
    kpis_a = [{k: 100.0 + rng.normal(0, 3) for k in KPI_META} for _ in range(3)]
    kpis_b = [{k: 92.0 + rng.normal(0, 3) for k in KPI_META} for _ in range(3)]
    comparison = compare.compare_kpis(kpis_a, kpis_b, [1, 2, 3], [1, 2, 3])
    t = np.arange(0, 9000, 300.0)
    clock = [f"{7 + int(s // 3600):02d}:{int(s % 3600) // 60:02d}" for s in t]

    def series(depth):
        load = 800 * np.exp(-(((t - 3600) / 2000) ** 2))
        return pd.DataFrame(
            {
                "time_s": t,
                "clock": clock,
                "vehicles_in_network": load,
                "mean_speed_kph": 45 - depth * load / 800,
                "departures": 0.0,
                "arrivals": 0.0,
                "vehicles_waiting": 0.0,
            }
        )

    patched = plot.patched_features(G, edges=[(0, 1, 0), (1, 2, 0)], nodes=[8])
    return {
        "G": G,
        "links_a": links_a,
        "links_b": links_b,
        "deltas": deltas,
        "comparison": comparison,
        "ts_a": [series(20), series(22)],
        "ts_b": [series(12)],
        "patched": patched,
    }
