"""Hand-built test networks with the data-model attributes set directly (docs/data-model.md §1)."""

from __future__ import annotations

import math

import networkx as nx
import pandas as pd

JAM_SPACING_M = 7.5


def new_graph() -> nx.MultiDiGraph:
    """An empty projected graph."""
    return nx.MultiDiGraph(crs="EPSG:32651", name="test", simplified=True)


def add_node(G: nx.MultiDiGraph, node: int, x: float, y: float, *, signal: bool = False, **attrs):
    """Add a junction at ``(x, y)`` metres."""
    G.add_node(
        node,
        x=float(x),
        y=float(y),
        lon=120.0 + x * 1e-5,
        lat=36.0 + y * 1e-5,
        signal=signal,
        junction_id=node,
        street_count=0,
        signal_cycle_s=0.0,
        signal_offset_s=0.0,
        signal_splits="",
        parking_spaces=0,
        parking_guidance=False,
    )
    G.nodes[node].update(attrs)


def add_link(
    G: nx.MultiDiGraph,
    u: int,
    v: int,
    *,
    length_m: float | None = None,
    lanes: int = 1,
    speed_kph: float = 36.0,
    capacity_vph: float | None = None,
    saturation_flow_vphpl: float = 1800.0,
    storage_veh: float | None = None,
    highway: str = "primary",
    name: str = "",
    **attrs,
) -> tuple[int, int, int]:
    """Add a directed link with data-model attributes; returns ``(u, v, key)``.

    Length defaults to the straight distance; capacity to 1800 veh/h/lane; storage to
    lanes × length / 7.5 m.
    """
    if length_m is None:
        dx = G.nodes[v]["x"] - G.nodes[u]["x"]
        dy = G.nodes[v]["y"] - G.nodes[u]["y"]
        length_m = math.hypot(dx, dy)
    if capacity_vph is None:
        capacity_vph = 1800.0 * lanes
    if storage_veh is None:
        storage_veh = lanes * length_m / JAM_SPACING_M
    data = dict(
        length_m=float(length_m),
        lanes=int(lanes),
        speed_kph=float(speed_kph),
        capacity_vph=float(capacity_vph),
        saturation_flow_vphpl=float(saturation_flow_vphpl),
        storage_veh=float(storage_veh),
        highway=highway,
        name=name,
        osmid="",
        oneway=True,
        curb_parking=False,
        pocket_left=0,
        pocket_right=0,
        pocket_length_m=0.0,
        defaults_applied="",
    )
    data.update(attrs)
    k = G.add_edge(u, v, **data)
    return (u, v, k)


def trips_frame(rows: list[tuple[int, int, float]], sample_factor: float = 1.0) -> pd.DataFrame:
    """A trips table from ``(origin, destination, departure_s)`` rows (sorted, ids 0..n-1)."""
    df = pd.DataFrame(rows, columns=["origin_node", "destination_node", "departure_s"])
    df["departure_s"] = df["departure_s"].astype("float64")
    df = df.sort_values("departure_s", kind="stable").reset_index(drop=True)
    df.insert(0, "trip_id", range(len(df)))
    df["trip_id"] = df["trip_id"].astype("int64")
    df["origin_node"] = df["origin_node"].astype("int64")
    df["destination_node"] = df["destination_node"].astype("int64")
    df["origin_zone"] = ""
    df["destination_zone"] = ""
    df.attrs["sample_factor"] = sample_factor
    df.attrs["source"] = "test"
    return df


def grid(size: int, spacing_m: float = 250.0, **link_attrs) -> nx.MultiDiGraph:
    """A ``size × size`` grid of two-way roads, no signals and no parking lots.

    Node ``i·size + j`` sits at ``(j·spacing, i·spacing)``; all links have the same length, so
    shortest paths have many equal-cost ties. ``link_attrs`` go to every :func:`add_link`.
    """
    G = new_graph()
    for i in range(size):
        for j in range(size):
            add_node(G, i * size + j, j * spacing_m, i * spacing_m)
    for i in range(size):
        for j in range(size):
            a = i * size + j
            for b in ([a + 1] if j + 1 < size else []) + ([a + size] if i + 1 < size else []):
                add_link(G, a, b, **link_attrs)
                add_link(G, b, a, **link_attrs)
    return G


def crossroads(*, lanes_ns: int = 2, lanes_ew: int = 1, arm_m: float = 300.0) -> nx.MultiDiGraph:
    """A four-arm junction 0 with arms 1 (north), 2 (east), 3 (south), 4 (west), both directions."""
    G = new_graph()
    add_node(G, 0, 0, 0, signal=True)
    arms = {1: (0, arm_m), 2: (arm_m, 0), 3: (0, -arm_m), 4: (-arm_m, 0)}
    for n, (x, y) in arms.items():
        add_node(G, n, x, y)
        lanes = lanes_ns if n in (1, 3) else lanes_ew
        add_link(G, n, 0, lanes=lanes)
        add_link(G, 0, n, lanes=lanes)
    return G


def t_junction() -> nx.MultiDiGraph:
    """A T: through road west (4) – east (2), stem from the south (3)."""
    G = new_graph()
    add_node(G, 0, 0, 0, signal=True)
    for n, (x, y) in {2: (300, 0), 3: (0, -300), 4: (-300, 0)}.items():
        add_node(G, n, x, y)
        add_link(G, n, 0, lanes=2 if n != 3 else 1)
        add_link(G, 0, n, lanes=2 if n != 3 else 1)
    return G


def settings_for(duration_s: float, cooldown_s: float = 1800.0, **overrides):
    """SimSettings for a test: no parking, one route iteration, immediate freed space."""
    from cysim.simsettings import SimSettings

    base = dict(
        duration_s=duration_s,
        cooldown_s=cooldown_s,
        parking={"enabled": False},
        route_choice={"iterations": 1},
        backward_wave_kph=0.0,
    )
    base.update(overrides)
    return SimSettings(**base)


def next_links(traversals: pd.DataFrame) -> pd.Series:
    """The link each traversal continues onto (-1 at the trip's last traversal)."""
    t = traversals.sort_values(["trip_id", "entry_s"], kind="stable")
    nxt = t.groupby("trip_id")["link"].shift(-1).fillna(-1).astype("int64")
    return nxt.reindex(traversals.index)
