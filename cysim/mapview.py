"""Static map of a network: roads coloured by class, width by lanes, signals as dots."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib as mpl
import networkx as nx

from . import _fonts, network, roadclass

#: Colour per CJJ 37 class (English name), strongest first.
CLASS_COLOURS: dict[str, str] = {
    "expressway": "#c0392b",
    "arterial": "#e67e22",
    "sub-arterial": "#f1c40f",
    "branch": "#7f8c8d",
}
_CJJ_LABEL = {
    "expressway": "快速路",
    "arterial": "主干路",
    "sub-arterial": "次干路",
    "branch": "支路",
}


def plot_network(
    G: nx.MultiDiGraph,
    path: str | Path,
    *,
    title: str | None = None,
    label_roads: int = 8,
    dpi: int = 150,
) -> Path:
    """Draw the network to a PNG (matplotlib, Agg), written atomically.

    Parameters
    ----------
    G
        A cysim network.
    path
        Output ``.png``.
    title
        Figure title; default the map name with junction and signal counts.
    label_roads
        Label this many of the longest named roads (0 = none).
    dpi
        Resolution.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    mpl.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    family = _fonts.use_cjk_font()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = network.network_summary(G)
    segments: dict[str, list] = {c: [] for c in CLASS_COLOURS}
    widths: dict[str, list[float]] = {c: [] for c in CLASS_COLOURS}
    drawn: set[tuple[int, int]] = set()
    for u, v, data in G.edges(data=True):
        rc = roadclass.ROAD_CLASSES.get(data["highway"])
        group = rc.cjj_class_en if rc is not None else "branch"
        lanes = data["lanes"]
        if not data["oneway"] and (v, u) in drawn:
            continue  # the other direction of a two-way road lies on top: draw once
        drawn.add((u, v))
        segments[group].append(list(data["geometry"].coords))
        widths[group].append(0.5 + 0.6 * lanes * (1 if data["oneway"] else 2))

    fig, ax = plt.subplots(figsize=(9, 9))
    for group in reversed(list(CLASS_COLOURS)):  # major roads drawn last, on top
        if segments[group]:
            ax.add_collection(
                LineCollection(
                    segments[group],
                    colors=CLASS_COLOURS[group],
                    linewidths=widths[group],
                    capstyle="round",
                )
            )
    signals = [(d["x"], d["y"]) for _, d in G.nodes(data=True) if d["signal"]]
    if signals:
        xs, ys = zip(*signals, strict=True)
        ax.scatter(xs, ys, s=14, c="#2980b9", zorder=5, edgecolors="white", linewidths=0.5)
    for name, _ in list(network.iter_named_roads(G))[:label_roads]:
        _label_road(ax, G, name, family)
    ax.autoscale()
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    handles = [
        Line2D([], [], color=colour, lw=3, label=f"{_CJJ_LABEL[group]} {group}")
        for group, colour in CLASS_COLOURS.items()
        if segments[group]
    ]
    handles.append(
        Line2D([], [], marker="o", ls="", color="#2980b9", label=f"信号灯 signals ({len(signals)})")
    )
    ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=True)
    ax.set_title(
        title
        or f"{summary['name']}: {summary['junctions']} junctions, "
        f"{summary['signalised_junctions']} signalised, {summary['km']:.0f} km",
        fontfamily=family,
    )
    ax.text(
        0.01,
        0.99,
        f"{G.graph.get('crs', '')}; width ∝ lanes; © OpenStreetMap contributors",
        transform=ax.transAxes,
        fontsize=7,
        color="#555555",
        va="top",
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _label_road(ax: object, G: nx.MultiDiGraph, name: str, family: str) -> None:
    """Write a road's name at the middle of its longest link."""
    longest = max(
        (d for *_, d in G.edges(data=True) if d["name"] == name), key=lambda d: d["length_m"]
    )
    point = longest["geometry"].interpolate(0.5, normalized=True)
    ax.annotate(  # type: ignore[attr-defined]
        name,
        (point.x, point.y),
        fontsize=8,
        fontfamily=family,
        ha="center",
        va="center",
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
    )
