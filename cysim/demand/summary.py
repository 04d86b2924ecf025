"""Trips-table summaries: counts by time, top OD pairs, free-flow trip lengths, desire lines."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from ._graph import freeflow_paths, graph_arrays
from .profile import clock_seconds


def _clock(seconds: float) -> str:
    """``HH:MM`` of seconds after midnight."""
    minutes = round(seconds / 60.0)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def departures_by_interval(
    trips: pd.DataFrame, *, start_time: str, interval_s: float = 900.0
) -> pd.DataFrame:
    """Number of trips departing in each interval.

    Parameters
    ----------
    trips
        The trips table.
    start_time
        Simulation start ``HH:MM`` (for clock labels).
    interval_s
        Interval width, seconds (900 = 15 min, 3600 = hourly).

    Returns
    -------
    pandas.DataFrame
        ``start`` and ``end`` (clock labels) and ``trips``, one row per interval from the first
        to the last departure.
    """
    origin = clock_seconds(start_time)
    if trips.empty:
        return pd.DataFrame({"start": [], "end": [], "trips": []})
    bins = np.floor(trips["departure_s"].to_numpy() / interval_s).astype(np.int64)
    counts = np.bincount(bins - bins.min())
    first = int(bins.min())
    starts = [(first + i) * interval_s for i in range(len(counts))]
    return pd.DataFrame(
        {
            "start": [_clock(origin + s) for s in starts],
            "end": [_clock(origin + s + interval_s) for s in starts],
            "trips": counts.astype(np.int64),
        }
    )


def top_od_pairs(trips: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` largest origin-destination pairs (zones when known, else nodes).

    Returns
    -------
    pandas.DataFrame
        ``origin``, ``destination`` (str) and ``trips``, largest first (ties by name).
    """
    has_zones = (trips["origin_zone"] != "").all() and (trips["destination_zone"] != "").all()
    if has_zones:
        origin, destination = trips["origin_zone"], trips["destination_zone"]
    else:
        origin = trips["origin_node"].astype(str)
        destination = trips["destination_node"].astype(str)
    counts = (
        pd.DataFrame({"origin": origin.to_numpy(), "destination": destination.to_numpy()})
        .value_counts()
        .rename("trips")
        .reset_index()
        .sort_values(["trips", "origin", "destination"], ascending=[False, True, True])
    )
    return counts.head(n).reset_index(drop=True)


def freeflow_trip_stats(G: nx.MultiDiGraph, trips: pd.DataFrame) -> dict[str, float]:
    """Mean length and time of the trips' fastest free-flow paths.

    Parameters
    ----------
    G
        The road graph.
    trips
        The trips table.

    Returns
    -------
    dict
        ``mean_km``, ``mean_min`` (over trips with a path) and ``unreachable`` (trip count).
    """
    if trips.empty:
        return {"mean_km": float("nan"), "mean_min": float("nan"), "unreachable": 0}
    arrays = graph_arrays(G)
    index = arrays.index_of()
    origin = np.array([index[int(n)] for n in trips["origin_node"]], dtype=np.int64)
    destination = np.array([index[int(n)] for n in trips["destination_node"]], dtype=np.int64)
    sources, row = np.unique(origin, return_inverse=True)
    targets, column = np.unique(destination, return_inverse=True)
    time_s, length_m = freeflow_paths(arrays, sources, targets)
    t = time_s[row, column]
    d = length_m[row, column]
    ok = np.isfinite(t)
    return {
        "mean_km": float(d[ok].mean() / 1000.0) if ok.any() else float("nan"),
        "mean_min": float(t[ok].mean() / 60.0) if ok.any() else float("nan"),
        "unreachable": int((~ok).sum()),
    }


def plot_desire_lines(
    zones: gpd.GeoDataFrame,
    trips: pd.DataFrame,
    path: Path,
    *,
    title: str = "",
    min_trips: int = 1,
    max_lines: int = 400,
    G: nx.MultiDiGraph | None = None,
) -> Path:
    """Draw desire lines between zone centroids, width proportional to trips; save a PNG.

    Parameters
    ----------
    zones
        Zone table (``zone``, ``centroid_x``, ``centroid_y``, ``geometry``).
    trips
        Trips table with zone ids.
    path
        Output PNG; written atomically.
    title
        Figure title (may be Chinese).
    min_trips
        Zone pairs with fewer trips (both directions together) are not drawn.
    max_lines
        Draw at most this many pairs, the largest.
    G
        Optional road graph drawn underneath in grey.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    from .._fonts import use_cjk_font

    use_cjk_font()
    zoned = trips[(trips["origin_zone"] != "") & (trips["destination_zone"] != "")]
    # Both directions of a pair share one line: the morning's flows are mostly one-way anyway,
    # and overlapping lines would hide each other.
    a = zoned["origin_zone"].to_numpy(dtype=object)
    b = zoned["destination_zone"].to_numpy(dtype=object)
    first = a < b
    pairs = (
        pd.DataFrame({"zone_a": np.where(first, a, b), "zone_b": np.where(first, b, a)})
        .value_counts()
        .rename("trips")
        .reset_index()
    )
    pairs = pairs[pairs["trips"] >= min_trips].nlargest(max_lines, "trips").sort_values("trips")
    xy = zones.set_index("zone")[["centroid_x", "centroid_y"]]
    fig, ax = plt.subplots(figsize=(9, 9), dpi=120)
    zones.boundary.plot(ax=ax, color="#9db4d0", linewidth=0.4, linestyle="--")
    if G is not None:
        segments = [
            ((G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"]))
            for u, v in G.edges()
        ]
        ax.add_collection(LineCollection(segments, colors="#b0b0b0", linewidths=0.5))
    if len(pairs):
        start = xy.loc[pairs["zone_a"]].to_numpy()
        end = xy.loc[pairs["zone_b"]].to_numpy()
        widths = 0.3 + 6.0 * pairs["trips"].to_numpy() / pairs["trips"].max()
        # a list of (2, 2) segments, as LineCollection is typed (it iterates the array anyway)
        desire = list(np.stack([start, end], axis=1))
        lines = LineCollection(desire, linewidths=widths, colors="#c0392b", alpha=0.45)
        ax.add_collection(lines)
    ax.scatter(zones["centroid_x"], zones["centroid_y"], s=8, color="#2c3e50", zorder=3)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_axis_off()
    total = int(pairs["trips"].sum()) if len(pairs) else 0
    ax.set_title(
        (title or "Desire lines")
        + f"\n{total:,} trips on the {len(pairs)} drawn zone pairs, both directions; width ∝ trips",
        fontsize=11,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(temporary, bbox_inches="tight")
    plt.close(fig)
    temporary.replace(path)
    return path
