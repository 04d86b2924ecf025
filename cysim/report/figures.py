"""Figures for planners: congestion and difference maps, KPI bars, time series, top links.

Static figures use matplotlib's object API (no pyplot, no global backend) sized for an A4 page
(7.5 in wide at 200 dpi) with a CJK font, so Chinese road names never render as empty boxes.
Each function writes one file atomically and returns its path. Link maps draw each direction of
a two-way road offset to its right-hand side, so both directions stay visible.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import matplotlib as mpl
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.colors import TwoSlopeNorm, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from shapely.geometry import LineString, Point

from .. import io, settings
from .._fonts import use_cjk_font

#: Width of every figure, inches (fits an A4 page with margins).
FIGURE_WIDTH_IN: float = 7.5
#: Resolution of the PNG files.
DPI: int = 200

#: Speed-ratio classes (upper bound, colour, label) after AutoNavi's travel-time-index bands:
#: TTI ≥ 4 severe (ratio ≤ 0.25), 2–4 congested, 1.5–2 slow, < 1.5 free (ratio > 2/3).
SPEED_CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.25, "#8c1c13", "严重拥堵 severe (<25 %)"),
    (0.5, "#e4572e", "拥堵 congested (25–50 %)"),
    (2 / 3, "#f3a712", "缓行 slow (50–67 %)"),
    (math.inf, "#3a9e57", "畅通 free (>67 %)"),
)
#: Volume-to-capacity classes (upper bound, colour, label).
VC_CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.6, "#3a9e57", "v/c < 0.6"),
    (0.85, "#f3a712", "0.6–0.85"),
    (1.0, "#e4572e", "0.85–1.0"),
    (math.inf, "#8c1c13", "> 1.0"),
)
#: Degree-of-saturation classes of junction approaches (upper bound, colour, label).
SATURATION_CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.6, "#3a9e57", "X < 0.6"),
    (0.8, "#9cc54a", "0.6–0.8"),
    (0.9, "#f3a712", "0.8–0.9"),
    (1.0, "#e4572e", "0.9–1.0"),
    (math.inf, "#8c1c13", "≥ 1.0"),
)
_UNUSED_COLOUR = "#c9c9c9"
_COLOUR_A, _COLOUR_B = "#5b6c8f", "#e07a1f"
_DIRECTIONS = ("东行 EB", "北行 NB", "西行 WB", "南行 SB")


def _new_figure(height_in: float) -> Figure:
    """A figure without pyplot, with the CJK font and a clean house style."""
    family = use_cjk_font()
    mpl.rcParams.update(
        {
            # DejaVu Sans after the CJK font supplies glyphs it lacks (CO₂'s subscript).
            "font.family": [family, "DejaVu Sans"],
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.titleweight": "normal",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.edgecolor": "#555555",
            "axes.grid": False,
            "legend.frameon": False,
        }
    )
    return Figure(figsize=(FIGURE_WIDTH_IN, height_in), layout="constrained")


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write a figure as PNG atomically."""
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, facecolor="white")
    return Path(path)


def _projected(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame in the metric CRS (maps are drawn in metres)."""
    if frame.crs is None or frame.crs.is_projected:
        return frame
    return frame.to_crs(settings.projected_crs)


def _offset_lines(geometry: gpd.GeoSeries, offset_m: float) -> list:
    """Shift each directed line to its right by ``offset_m`` (right-hand traffic)."""
    shifted = []
    for line in geometry:
        if line is None or line.is_empty or line.length < 3 * offset_m:
            shifted.append(line)
            continue
        moved = line.offset_curve(-offset_m)
        shifted.append(moved if not moved.is_empty else line)
    return shifted


def _classes(values: np.ndarray, classes: Sequence[tuple[float, str, str]]) -> list[str]:
    """Colour of each value by its class; grey for NaN (unused link)."""
    bounds = np.array([c[0] for c in classes])
    colours = [c[1] for c in classes]
    index = np.searchsorted(bounds, np.nan_to_num(values, nan=-1.0), side="left")
    return [
        _UNUSED_COLOUR if math.isnan(v) else colours[min(i, len(colours) - 1)]
        for v, i in zip(values, index, strict=True)
    ]


def _widths(flow: np.ndarray, reference: float) -> np.ndarray:
    """Line widths (points) growing with the square root of flow."""
    flow = np.nan_to_num(np.asarray(flow, dtype=float), nan=0.0).clip(min=0)
    return 0.5 + 3.5 * np.sqrt(flow / reference) if reference > 0 else np.full(flow.shape, 0.8)


def _nice_length_m(width_m: float) -> float:
    """A round scale-bar length near a fifth of the map width."""
    target = width_m / 5
    for length in (100, 200, 500, 1000, 2000, 5000, 10000, 20000):
        if length >= target:
            return float(length)
    return 50000.0


Bounds = tuple[float, float, float, float]


def _padded_bounds(bounds: Sequence[float], fraction: float = 0.03) -> Bounds:
    """Map extent around ``(xmin, ymin, xmax, ymax)``, with extra room below for the scale bar."""
    xmin, ymin, xmax, ymax = (float(b) for b in bounds)
    pad = fraction * max(xmax - xmin, ymax - ymin, 1.0)
    return xmin - pad, ymin - 3 * pad, xmax + pad, ymax + pad


def _wrap(title: str, width: int = 64) -> str:
    """Break a long title into lines of about ``width`` columns (CJK characters count two)."""
    lines, line, used = [], "", 0
    for word in title.split(" "):
        cost = sum(2 if ord(ch) >= 0x2E80 else 1 for ch in word) + 1
        if line and used + cost > width:
            lines.append(line)
            line, used = word, cost
        else:
            line, used = (f"{line} {word}" if line else word), used + cost
    return "\n".join([*lines, line])


def _decorate_map(ax, bounds: Bounds) -> None:
    """Extent, equal aspect, no axes, a scale bar and a north arrow."""
    xmin, ymin, xmax, ymax = bounds
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.set_axis_off()
    length = _nice_length_m(xmax - xmin)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    bar = AnchoredSizeBar(
        ax.transData,
        length,
        label,
        loc="lower left",
        frameon=True,
        size_vertical=0,
        pad=0.4,
        borderpad=0.6,
        sep=3,
        fontproperties={"size": 7},
    )
    bar.patch.set(alpha=0.85, edgecolor="none")
    ax.add_artist(bar)
    ax.annotate(
        "N",
        xy=(0.975, 0.985),
        xytext=(0.975, 0.90),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=9,
        arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.2},
        bbox={"boxstyle": "circle,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
    )


def _label_roads(
    ax, frame: gpd.GeoDataFrame, weight: np.ndarray, limit: int = 14, within: Bounds | None = None
) -> None:
    """Name the most important roads once each, on the middle of their longest link in view.

    Roads are ranked by ``weight`` (e.g. vehicle-km) summed over their links, so arterials
    carrying traffic are named before long empty branch roads.
    """
    frame = frame.assign(_w=np.nan_to_num(np.asarray(weight, dtype=float)) * frame.geometry.length)
    if within is not None:
        frame = frame.cx[within[0] : within[2], within[1] : within[3]]
    named = frame[frame["name"].astype(str) != ""]
    if named.empty:
        return
    ranking = named.groupby("name")["_w"].sum().sort_values(ascending=False).head(limit)
    longest = named.assign(_len=named.geometry.length).sort_values("_len", ascending=False)
    best = longest.drop_duplicates("name").set_index("name").loc[ranking.index]
    halo = [patheffects.withStroke(linewidth=2.4, foreground="white")]
    for name, row in best.iterrows():
        line = row.geometry
        if line is None or line.is_empty:
            continue
        mid = line.interpolate(0.5, normalized=True)
        a, b = line.interpolate(0.45, normalized=True), line.interpolate(0.55, normalized=True)
        angle = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
        angle = angle - 180 if angle > 90 else angle + 180 if angle < -90 else angle
        ax.text(
            mid.x,
            mid.y,
            str(name),
            fontsize=6.5,
            rotation=angle,
            ha="center",
            va="center",
            color="#222222",
            path_effects=halo,
            rotation_mode="anchor",
            clip_on=True,
        )


def congestion_map(
    links: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    title: str,
    color_by: str = "speed_ratio",
    flow_reference_vph: float | None = None,
    boundary: gpd.GeoDataFrame | None = None,
    detail: Bounds | None = None,
) -> Path:
    """Map of links coloured by congestion, line width by flow.

    Parameters
    ----------
    links
        Link table (:func:`cysim.results.metrics.link_table`, or the mean over replications).
    path
        PNG to write.
    title
        Figure title (scenario name).
    color_by
        ``"speed_ratio"`` (mean speed ÷ free-flow speed, AutoNavi-style bands) or ``"v_c"``.
    flow_reference_vph
        Flow drawn at full width; pass the same value for the before and after maps so their
        widths compare (default: the largest flow in ``links``).
    boundary
        Optional district outline to draw underneath.
    detail
        ``(xmin, ymin, xmax, ymax)`` in metres of a second, zoomed panel (e.g. from
        :func:`detail_extent` around the patched roads); pass the same for before and after.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``color_by`` is not one of the two columns.
    """
    if color_by not in ("speed_ratio", "v_c"):
        raise ValueError(f"color_by must be 'speed_ratio' or 'v_c', not {color_by!r}")
    frame = _projected(links)
    classes = SPEED_CLASSES if color_by == "speed_ratio" else VC_CLASSES
    values = frame[color_by].to_numpy(dtype=float)
    if color_by == "v_c":
        values = np.where(frame["flow_veh"].to_numpy(dtype=float) > 0, values, np.nan)
    flow = frame["flow_vph"].to_numpy(dtype=float)
    reference = flow_reference_vph or float(np.nanmax(flow, initial=0))
    overview = _padded_bounds(frame.total_bounds)
    panels = [overview] if detail is None else [overview, detail]
    fig, axes = _map_panels(panels, 1.6)
    colours = np.array(_classes(values, classes))
    widths = _widths(flow, reference)
    order = np.argsort(np.nan_to_num(flow))  # busiest links drawn last, on top
    for ax, bounds in zip(axes, panels, strict=False):
        if boundary is not None:
            _projected(boundary).boundary.plot(ax=ax, color="#9aa5b1", lw=0.8, ls="--")
        offset = 0.0018 * max(bounds[2] - bounds[0], 1.0)
        lines = gpd.GeoSeries(_offset_lines(frame.geometry, offset), crs=frame.crs)
        gpd.GeoDataFrame(geometry=lines.iloc[order]).plot(
            ax=ax, color=colours[order], linewidth=widths[order], capstyle="round"
        )
        _decorate_map(ax, bounds)
    _label_roads(axes[0], frame, flow, limit=14 if detail is None else 10)
    if detail is not None:
        _mark_detail(axes[0], detail)
        _label_roads(axes[1], frame, flow, limit=12, within=detail)
        axes[1].set_title("局部放大 · detail", fontsize=8.5)
    handles: list[Artist] = [Patch(color=colour, label=label) for _, colour, label in classes]
    handles.append(Patch(color=_UNUSED_COLOUR, label="无车 no traffic"))
    for flow in (reference / 4, reference):
        handles.append(
            Line2D(
                [],
                [],
                color="#555555",
                lw=_widths(np.array([flow]), reference)[0],
                label=f"{flow:,.0f} veh/h",
            )
        )
    heading = (
        "速度比 speed ÷ free-flow"
        if color_by == "speed_ratio"
        else "路段 v/c mid-block volume ÷ capacity"
    )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=4,
        fontsize=7,
        title=heading,
        title_fontsize=7.5,
    )
    axes[0].set_title(_wrap(title))
    return _save(fig, path)


def saturation_map(
    links: gpd.GeoDataFrame,
    approaches: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    title: str,
) -> Path:
    """Map of the degree of saturation of every junction approach over the road network.

    Links are drawn grey with width by flow; each approach is a dot just before its stop line,
    coloured by its worst lane group's ``X`` (:data:`SATURATION_CLASSES`) and sized by it, the
    most saturated drawn on top.

    Parameters
    ----------
    links
        Link table (:func:`cysim.results.metrics.link_table`, or the mean over replications).
    approaches
        :func:`cysim.results.metrics.approach_table` (or its mean over replications), same CRS
        family.
    path
        PNG to write.
    title
        Figure title.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    frame = _projected(links)
    points = _projected(approaches)
    worst = (
        points.sort_values("degree_of_saturation", ascending=False)
        .drop_duplicates(["u", "v", "key"])
        .sort_values("degree_of_saturation")
    )
    x = worst["degree_of_saturation"].to_numpy(dtype=float)
    flow = frame["flow_vph"].to_numpy(dtype=float)
    overview = _padded_bounds(frame.total_bounds)
    fig, axes = _map_panels([overview], 1.4)
    ax = axes[0]
    frame.plot(ax=ax, color="#b8bec6", linewidth=_widths(flow, float(np.nanmax(flow, initial=1))))
    sizes = 4.0 + 26.0 * np.clip(np.nan_to_num(x), 0.0, 1.2)
    worst.plot(ax=ax, color=_classes(x, SATURATION_CLASSES), markersize=sizes, zorder=3)
    _decorate_map(ax, overview)
    _label_roads(ax, frame, flow, limit=14)
    handles = [Patch(color=colour, label=label) for _, colour, label in SATURATION_CLASSES]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=5,
        fontsize=7,
        title="进口道饱和度 X = flow ÷ (saturation flow × g/C), busiest hour",
        title_fontsize=7.5,
    )
    ax.set_title(_wrap(title))
    return _save(fig, path)


def patched_features(
    G: nx.MultiDiGraph,
    edges: Iterable[tuple[int, int, int]] = (),
    nodes: Iterable[int] = (),
    labels: Mapping[object, str] | None = None,
) -> gpd.GeoDataFrame:
    """Geometries and labels of the edges and junctions a scenario's patches changed.

    Parameters
    ----------
    G
        The patched graph.
    edges, nodes
        ``(u, v, key)`` edges and node ids named in the patch report.
    labels
        Optional label per edge tuple or node id; default: the road name(s).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``kind`` (``"edge"``/``"node"``), ``label``, geometry; CRS of ``G``.
    """
    labels = dict(labels or {})
    rows = []
    for u, v, key in edges:
        data = G.get_edge_data(u, v, key) or {}
        line = data.get("geometry")
        if line is None and u in G.nodes and v in G.nodes:
            line = LineString(
                [(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])]
            )
        label = labels.get((u, v, key), str(data.get("name") or ""))
        rows.append({"kind": "edge", "label": label, "geometry": line})
    for node in nodes:
        data = G.nodes[node]
        if not labels.get(node):
            names = {str(d.get("name") or "") for _, _, d in G.edges(node, data=True)}
            names |= {str(d.get("name") or "") for _, _, d in G.in_edges(node, data=True)}
            labels[node] = " × ".join(sorted(n for n in names if n)[:2])
        rows.append(
            {"kind": "node", "label": labels[node], "geometry": Point(data["x"], data["y"])}
        )
    frame = pd.DataFrame(rows, columns=["kind", "label", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=G.graph.get("crs"))


def difference_map(
    deltas: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    title: str,
    column: str = "d_mean_speed_kph",
    patched: gpd.GeoDataFrame | None = None,
) -> Path:
    """Map of the change per link (B − A), the patched roads and junctions marked and labelled.

    Parameters
    ----------
    deltas
        Output of :func:`cysim.results.compare.link_deltas`.
    path
        PNG to write.
    title
        Figure title.
    column
        ``"d_mean_speed_kph"`` (blue = faster) or ``"d_flow_vph"`` (purple = more traffic).
    patched
        Output of :func:`patched_features`: drawn as a yellow halo (roads) or star (junctions)
        with their labels.

    Links whose ``significant`` column (when present) is False are drawn grey.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    frame = _projected(deltas)
    values = frame[column].to_numpy(dtype=float)
    flow = np.fmax(
        frame["flow_vph_a"].to_numpy(dtype=float), frame["flow_vph_b"].to_numpy(dtype=float)
    )
    spread = float(np.nanpercentile(np.abs(values), 95)) if np.isfinite(values).any() else 1.0
    spread = spread if spread > 0 else 1.0
    cmap = mpl.colormaps["RdBu" if column != "d_flow_vph" else "PuOr_r"]
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-spread, vmax=spread)
    marks = _projected(patched) if patched is not None and not patched.empty else None
    overview = _padded_bounds(frame.total_bounds)
    detail = detail_extent(marks, frame) if marks is not None else None
    panels = [overview] if detail is None else [overview, detail]
    fig, axes = _map_panels(panels, 1.3)
    # One RGBA row per link (not a mix of hex strings and tuples): geopandas indexes the colour
    # array per part when a geometry is multi-part.
    # grey where the change is not significant (the link's 95 % interval includes 0), when the
    # deltas carry a ``significant`` flag (cysim.results.compare.significant_links)
    shown = (
        frame["significant"].fillna(False).to_numpy(dtype=bool)
        if "significant" in frame
        else np.ones(len(frame), dtype=bool)
    )
    colours = np.array(
        [
            to_rgba(_UNUSED_COLOUR) if math.isnan(v) or not keep else cmap(norm(v))
            for v, keep in zip(values, shown, strict=True)
        ]
    )
    widths = _widths(flow, float(np.nanmax(flow, initial=0)))
    only_b = frame["presence"] == "only_b"
    for ax, bounds in zip(axes, panels, strict=False):
        if marks is not None:
            roads = marks[marks["kind"] == "edge"]
            if not roads.empty:
                roads.plot(ax=ax, color="#ffd400", linewidth=9, alpha=0.55, zorder=1)
        offset = 0.0018 * max(bounds[2] - bounds[0], 1.0)
        lines = gpd.GeoSeries(_offset_lines(frame.geometry, offset))
        gpd.GeoDataFrame(geometry=lines).plot(ax=ax, color=colours, linewidth=widths, zorder=2)
        if only_b.any():
            frame[only_b].plot(ax=ax, color="black", linewidth=1.0, linestyle=(0, (3, 2)), zorder=3)
        _decorate_map(ax, bounds)
    if detail is not None:
        _mark_detail(axes[0], detail)
        axes[0].set_title(_wrap(title))
        axes[1].set_title(
            "改造区域放大 · detail around the patched roads and junctions", fontsize=8.5
        )
        _label_roads(axes[1], frame, flow, limit=10, within=detail)
        _label_patches(axes[1], marks)
    else:
        axes[0].set_title(_wrap(title))
        _label_roads(axes[0], frame, flow, limit=10)
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    unit = "km/h" if "speed" in column else "veh/h" if "flow" in column else ""
    name = {"d_mean_speed_kph": "Δ 平均车速 mean speed", "d_flow_vph": "Δ 流量 flow"}.get(
        column, column
    )
    fig.colorbar(
        sm,
        ax=list(axes),
        location="bottom",
        shrink=0.55,
        aspect=35,
        pad=0.01,
        label=f"{name} (B − A), {unit}",
    )
    handles: list[Artist] = [Patch(color="#ffd400", alpha=0.55, label="改造路段 patched road")]
    handles.append(
        Line2D([], [], marker="*", color="#d1006f", ls="", ms=10, label="改造路口 junction")
    )
    if only_b.any():
        handles.append(Line2D([], [], color="black", ls=(0, (3, 2)), label="新建道路 new road"))
    grey = "不显著或无数据 not significant or no traffic" if "significant" in frame else None
    handles.append(Patch(color=_UNUSED_COLOUR, label=grey or "无数据 no traffic"))
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=7)
    return _save(fig, path)


def detail_extent(
    features: gpd.GeoDataFrame | None, network: gpd.GeoDataFrame, min_size_m: float = 3000.0
) -> Bounds | None:
    """A landscape extent around some features, for the zoomed panel of a map.

    Parameters
    ----------
    features
        What to zoom on, e.g. :func:`patched_features` (any CRS; metres are used).
    network
        The links drawn in the overview (for the overview's size).
    min_size_m
        The extent is at least this tall.

    Returns
    -------
    tuple of float or None
        ``(xmin, ymin, xmax, ymax)`` in the metric CRS, or None when there are no features or
        the extent would cover most of the network anyway.
    """
    if features is None or features.empty:
        return None
    xmin, ymin, xmax, ymax = _projected(features).total_bounds
    if not np.isfinite([xmin, ymin, xmax, ymax]).all():
        return None
    half_h = max(xmax - xmin, ymax - ymin, min_size_m) * 0.5 * 1.3
    half_w = half_h * 1.8
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    nxmin, _, nxmax, _ = _projected(network).total_bounds
    if 2 * half_w > 0.6 * (nxmax - nxmin):
        return None
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def _map_panels(panels: Sequence[Bounds], extra_in: float) -> tuple[Figure, list]:
    """A figure with one full-width map axis per extent, stacked, heights by aspect."""
    aspects = [(b[3] - b[1]) / max(b[2] - b[0], 1.0) for b in panels]
    width_in = FIGURE_WIDTH_IN - 0.3
    height = width_in * sum(aspects) + 0.45 * (len(panels) - 1) + extra_in
    fig = _new_figure(float(np.clip(height, 3.5, 11.0)))
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=aspects).ravel()
    return fig, list(axes)


def _mark_detail(ax, detail: Bounds) -> None:
    """Outline the zoomed extent on the overview."""
    xmin, ymin, xmax, ymax = detail
    ax.add_patch(
        Rectangle(
            (xmin, ymin), xmax - xmin, ymax - ymin, fill=False, ec="#d1006f", lw=1.2, zorder=6
        )
    )


def _label_patches(ax, marks: gpd.GeoDataFrame) -> None:
    """Stars on patched junctions and boxed labels on every patched feature (one per label)."""
    nodes = marks[marks["kind"] == "node"]
    if not nodes.empty:
        ax.scatter(
            nodes.geometry.x,
            nodes.geometry.y,
            marker="*",
            s=160,
            color="#d1006f",
            edgecolor="white",
            linewidth=0.8,
            zorder=4,
        )
    seen: set[str] = set()
    box = {"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#d1006f", "lw": 0.8, "alpha": 0.9}
    for i, (_, row) in enumerate(marks.iterrows()):
        label = str(row["label"])
        if not label or label in seen or row.geometry is None:
            continue
        seen.add(label)
        point = (
            row.geometry
            if row["kind"] == "node"
            else row.geometry.interpolate(0.5, normalized=True)
        )
        dx, dy = [(18, 18), (-18, 18), (18, -18), (-18, -18)][i % 4]
        ax.annotate(
            label,
            xy=(point.x, point.y),
            xytext=(dx, dy),
            textcoords="offset points",
            fontsize=7,
            ha="center",
            bbox=box,
            zorder=5,
            arrowprops={"arrowstyle": "-", "color": "#d1006f", "lw": 0.7},
        )


def kpi_bars(
    comparison: pd.DataFrame,
    path: str | os.PathLike,
    *,
    labels: tuple[str, str] = ("A", "B"),
    kpis: Sequence[str] | None = None,
) -> Path:
    """Small panels, one per KPI: mean of A and B with 95 % confidence intervals.

    Parameters
    ----------
    comparison
        Output of :func:`cysim.results.compare.compare_kpis`.
    path
        PNG to write.
    labels
        Names of the two scenarios, short.
    kpis
        KPI keys to show; default the headline KPIs of :data:`cysim.results.metrics.KPI_META`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from ..results.metrics import KPI_META

    keys = [
        k for k in (kpis or [k for k, i in KPI_META.items() if i.headline]) if k in comparison.index
    ]
    columns = 3 if len(keys) % 4 and len(keys) % 3 == 0 else 4
    rows = max(1, math.ceil(len(keys) / columns))
    fig = _new_figure(2.05 * rows + 0.4)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    verdict_colour = {"better": "#2b8a3e", "worse": "#c92a2a"}
    for ax, key in zip(axes, keys, strict=False):
        row = comparison.loc[key]
        means = [row["mean_a"], row["mean_b"]]
        lows = np.array([row["a_ci_low"], row["b_ci_low"]], dtype=float)
        highs = np.array([row["a_ci_high"], row["b_ci_high"]], dtype=float)
        errors = np.nan_to_num([np.array(means) - lows, highs - np.array(means)], nan=0.0)
        ax.bar(
            [0, 1],
            means,
            color=[_COLOUR_A, _COLOUR_B],
            width=0.62,
            yerr=errors,
            capsize=3,
            error_kw={"lw": 0.9, "ecolor": "#222222"},
        )
        ax.set_xticks([0, 1], [_short(labels[0]), _short(labels[1])], fontsize=7.5)
        unit = f" ({row['unit']})" if row["unit"] else ""
        ax.set_title(f"{row['label_zh']}\n{row['label_en']}{unit}", fontsize=8, fontweight="normal")
        pct = row["pct_change"]
        text = f"{pct:+.1f} %" if np.isfinite(pct) else "n/a"
        ax.text(
            0.5,
            0.97,
            text,
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=8.5,
            color=verdict_colour.get(row["verdict"], "#666666"),
        )
        top = np.nanmax([row["a_ci_high"], row["b_ci_high"], *means])
        ax.set_ylim(0, top * 1.22 if np.isfinite(top) and top > 0 else 1)
        ax.tick_params(axis="y", labelsize=7)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    fig.suptitle(
        "KPI 均值与 95 % 置信区间 · means with 95 % CI  (green = better, red = worse, "
        "grey = no significant change or within the route-choice gap)",
        fontsize=8.5,
    )
    return _save(fig, path)


def _short(label: str, limit: int = 14) -> str:
    """Shorten a scenario label for tick labels."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _as_list(series: pd.DataFrame | Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    return [series] if isinstance(series, pd.DataFrame) else list(series)


def timeseries_chart(
    series_a: pd.DataFrame | Sequence[pd.DataFrame],
    series_b: pd.DataFrame | Sequence[pd.DataFrame],
    path: str | os.PathLike,
    *,
    labels: tuple[str, str] = ("A", "B"),
) -> Path:
    """Network mean speed and vehicles in the network over time, A against B.

    Parameters
    ----------
    series_a, series_b
        :func:`cysim.results.metrics.timeseries` of each side: one frame, or one per replication
        (then
        the mean is drawn with the range over replications shaded).
    path
        PNG to write.
    labels
        Names of the two scenarios.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    fig = _new_figure(4.8)
    speed_ax, count_ax = fig.subplots(2, 1, sharex=True)
    for frames, label, colour in (
        (series_a, labels[0], _COLOUR_A),
        (series_b, labels[1], _COLOUR_B),
    ):
        frames = _as_list(frames)
        minutes = frames[0]["time_s"].to_numpy() / 60.0
        for ax, column in ((speed_ax, "mean_speed_kph"), (count_ax, "vehicles_in_network")):
            stack = np.vstack([f[column].to_numpy(dtype=float) for f in frames])
            with np.errstate(all="ignore"):
                mean = np.nanmean(stack, axis=0) if len(frames) > 1 else stack[0]
            ax.plot(minutes, mean, color=colour, lw=1.8, label=label)
            if len(frames) > 1:
                ax.fill_between(
                    minutes,
                    np.nanmin(stack, 0),
                    np.nanmax(stack, 0),
                    color=colour,
                    alpha=0.18,
                    lw=0,
                )
    clock = _as_list(series_a)[0]
    ticks = clock["time_s"].to_numpy()[:: max(1, len(clock) // 8)]
    count_ax.set_xticks(ticks / 60.0, clock.set_index("time_s").loc[ticks, "clock"])
    speed_ax.set_ylabel("平均车速 speed, km/h")
    count_ax.set_ylabel("路网内车辆 vehicles")
    count_ax.set_xlabel("时间 clock time")
    speed_ax.set_ylim(bottom=0)
    count_ax.set_ylim(bottom=0)
    for ax in (speed_ax, count_ax):
        ax.grid(axis="y", color="#e5e5e5", lw=0.6)
    speed_ax.legend(loc="lower left", ncols=2)
    speed_ax.set_title("路网运行 · network speed and load (5-min intervals)")
    return _save(fig, path)


def _direction(line) -> str:
    """Compass direction of travel of a projected line (东行 EB …)."""
    if line is None or line.is_empty:
        return ""
    (x0, y0), (x1, y1) = line.coords[0], line.coords[-1]
    angle = math.degrees(math.atan2(y1 - y0, x1 - x0)) % 360
    return _DIRECTIONS[int(((angle + 45) % 360) // 90)]


def top_links_chart(
    deltas: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    n: int = 10,
    near: set[tuple[int, int, int]] | None = None,
) -> Path:
    """Bar chart of the links that improved and worsened most (change in vehicle-hours of delay).

    Parameters
    ----------
    deltas
        Output of :func:`cysim.results.compare.link_deltas` (projected or not).
    path
        PNG to write.
    n
        Links on each side.
    near
        ``(u, v, key)`` of the links near the measure
        (:func:`cysim.results.compare.near_measure_links`):
        the others are flagged "绕行 re-routing" and drawn pale, since a change far from the
        measure is traffic moving elsewhere (or noise), not the measure's own effect.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from ..results.compare import NEAR_MEASURE_M, top_links

    frame = _projected(deltas)
    improved, worsened = top_links(frame, n)
    chosen = pd.concat([improved, worsened])  # listed top to bottom
    fig = _new_figure(0.26 * max(len(chosen), 4) + 1.3)
    ax = fig.add_subplot()
    if chosen.empty:
        ax.text(0.5, 0.5, "no link changed its delay", ha="center", va="center")
        ax.set_axis_off()
        return _save(fig, path)
    far = [
        near is not None and (int(r["u"]), int(r["v"]), int(r["key"])) not in near
        for _, r in chosen.iterrows()
    ]
    names = [
        f"{_short(row['name'] or '(无名 unnamed)', 22)} · {_direction(row.geometry)}"
        f"{'  · 绕行 re-routing' if is_far else ''}"
        for (_, row), is_far in zip(chosen.iterrows(), far, strict=True)
    ]
    values = chosen["d_total_delay_vh"].to_numpy(dtype=float)
    colours = [
        to_rgba("#2b8a3e" if v < 0 else "#c92a2a", 0.35 if is_far else 1.0)
        for v, is_far in zip(values, far, strict=True)
    ]
    y = np.arange(len(values))[::-1]
    ax.set_axisbelow(True)
    ax.barh(y, values, color=colours, height=0.68)
    ax.set_yticks(y, names, fontsize=7.5)
    ax.axvline(0, color="#333333", lw=0.8)
    for yi, value in zip(y, values, strict=True):
        ax.text(
            value,
            yi,
            f" {value:+.1f} ",
            va="center",
            ha="left" if value > 0 else "right",
            fontsize=7,
        )
    limit = float(np.abs(values).max()) * 1.25
    ax.set_xlim(-limit, limit)
    ax.set_xlabel("Δ 总延误 total delay on the link, veh·h (B − A; negative = improved)")
    title = f"改善/恶化最大的路段 · top {n} improved (green) and worsened (red) links"
    if any(far):
        km = f"{NEAR_MEASURE_M / 1000:g} km"
        title += f"\n淡色 = 距方案 {km} 以外 · pale = more than {km} from the measure"
    ax.set_title(title)
    ax.grid(axis="x", color="#e5e5e5", lw=0.6)
    return _save(fig, path)
