"""Lattice road graphs for the demand tests."""

from __future__ import annotations

import networkx as nx
from pyproj import Transformer

_TO_LONLAT = Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)

ORIGIN_X, ORIGIN_Y = 265_000.0, 4_018_000.0


def lattice_graph(
    columns: int = 6, rows: int = 5, spacing_m: float = 500.0, motorway_row: int | None = None
) -> nx.MultiDiGraph:
    """A two-way lattice of junctions with docs/data-model.md §1 attributes.

    Node ids are ``100 * row + column + 1``; rows alternate primary and residential roads, columns
    are secondary. ``motorway_row`` turns the horizontal edges of that row into a motorway (its
    nodes are then served only through their column roads).
    """
    G = nx.MultiDiGraph(crs="EPSG:32651", name="test lattice")
    for r in range(rows):
        for c in range(columns):
            x, y = ORIGIN_X + c * spacing_m, ORIGIN_Y + r * spacing_m
            lon, lat = _TO_LONLAT.transform(x, y)
            G.add_node(100 * r + c + 1, x=x, y=y, lon=lon, lat=lat, signal=(r + c) % 3 == 0)
    for r in range(rows):
        for c in range(columns):
            node = 100 * r + c + 1
            if c + 1 < columns:
                highway = "primary" if r % 2 == 0 else "residential"
                speed = 50.0 if highway == "primary" else 30.0
                if motorway_row == r:
                    highway, speed = "motorway", 80.0
                for u, v in ((node, node + 1), (node + 1, node)):
                    G.add_edge(u, v, length_m=spacing_m, speed_kph=speed, highway=highway, lanes=2)
            if r + 1 < rows:
                for u, v in ((node, node + 100), (node + 100, node)):
                    G.add_edge(
                        u, v, length_m=spacing_m, speed_kph=40.0, highway="secondary", lanes=1
                    )
    return G
