"""Static map of a network: roads coloured by class, width by lanes, signals as dots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox
from shapely.geometry import LineString

from .. import _fonts, io
from .._errors import MapError
from ..network import build as network
from ..network import locate, roadclass

#: A map extent in the graph's CRS: ``(xmin, ymin, xmax, ymax)``, metres.
Bounds = tuple[float, float, float, float]

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
#: Label priority of an OSM class (ramps as their road): lower is labelled first. Everything
#: else (unclassified, residential, …) comes after these, as branch roads.
LABEL_TIERS: dict[str, int] = {
    "motorway": 0,
    "trunk": 0,
    "primary": 0,
    "secondary": 1,
    "tertiary": 2,
}

#: The bundled map's name (``maps/chengyang-arterials.osm``): a schematic, not OSM data. The
#: report's caveats and the interactive map's credit tell it by this name
#: (:mod:`cysim.pipeline.comparison`).
SCHEMATIC_MAP_NAME = "chengyang-arterials"
SCHEMATIC_MARK = "示意图 Schematic"
#: Credit of the bundled schematic map, which the project drew (not OpenStreetMap's data).
SCHEMATIC_CREDIT = "Schematic network drawn by cysim after OpenStreetMap names; not survey geometry"
OSM_CREDIT = "© OpenStreetMap contributors"


def is_schematic(G: nx.MultiDiGraph) -> bool:
    """Whether ``G`` is the bundled schematic map, by its name (the map file's stem).

    The report's caveats tell the schematic by the same name in the map's path
    (:mod:`cysim.pipeline.comparison`); the OSM file says ``generator="cysim schematic"``, which
    the loader does not keep.
    """
    return G.graph.get("name") == SCHEMATIC_MAP_NAME


# --- extents -------------------------------------------------------------------------------


def bbox_extent(G: nx.MultiDiGraph, west: float, south: float, east: float, north: float) -> Bounds:
    """The extent in ``G``'s CRS covering a WGS84 box (its four corners projected).

    Raises
    ------
    MapError
        The box holds no junction of the map.
    """
    corners = [locate.to_graph_xy(G, lon, lat) for lon in (west, east) for lat in (south, north)]
    xs, ys = zip(*corners, strict=True)
    extent = (min(xs), min(ys), max(xs), max(ys))
    if not any(_inside(extent, data["x"], data["y"]) for _, data in G.nodes(data=True)):
        lons = [lon for _, lon in G.nodes(data="lon")]
        lats = [lat for _, lat in G.nodes(data="lat")]
        raise MapError(
            f"the box lon {west:g}..{east:g}, lat {south:g}..{north:g} holds no junction of the "
            "map",
            hint=f"the map covers lon {min(lons):.4f}..{max(lons):.4f}, "
            f"lat {min(lats):.4f}..{max(lats):.4f}",
        )
    return extent


def road_extent(G: nx.MultiDiGraph, road: str, margin_m: float) -> Bounds:
    """The extent of a named road (matched as in scenario files) plus ``margin_m`` around it.

    Raises
    ------
    PatchError
        No road of that name; the message lists the closest names.
    """
    edges = locate.find_road_edges(G, road, key="--around")
    xmin, ymin, xmax, ymax = shapely.union_all([locate.edge_geometry(G, *e) for e in edges]).bounds
    return xmin - margin_m, ymin - margin_m, xmax + margin_m, ymax + margin_m


def _inside(extent: Bounds, x: float, y: float) -> bool:
    return extent[0] <= x <= extent[2] and extent[1] <= y <= extent[3]


def _network_extent(G: nx.MultiDiGraph) -> Bounds:
    xs = [x for _, x in G.nodes(data="x")]
    ys = [y for _, y in G.nodes(data="y")]
    pad = 0.02 * max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
    return min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad


# --- labels --------------------------------------------------------------------------------


def label_tier(highway: str) -> int:
    """Label priority of an OSM class: 0 motorway/trunk/primary, 1 secondary, 2 tertiary, 3 rest."""
    return LABEL_TIERS.get(highway.removesuffix("_link"), len(set(LABEL_TIERS.values())))


@dataclass
class _Candidate:
    """A named road in view: its best class tier, centreline length in view, longest piece."""

    name: str
    tier: int
    length_m: float = 0.0
    piece: LineString | None = None


def label_candidates(G: nx.MultiDiGraph, extent: Bounds) -> list[tuple[str, LineString]]:
    """Named roads in view, in labelling order, each with the piece its label goes on.

    Order: class tier (:func:`label_tier`, the road's best class), then centreline length in
    view (a two-way road counted once), longest first; the label goes on the middle of the
    road's longest link piece inside the view.
    """
    view = shapely.box(*extent)
    roads: dict[str, _Candidate] = {}
    for _, _, data in G.edges(data=True):
        if not data["name"]:
            continue
        shown = data["geometry"].intersection(view)
        pieces = [p for p in shapely.get_parts(shown) if isinstance(p, LineString) and p.length]
        if not pieces:
            continue
        road = roads.setdefault(data["name"], _Candidate(data["name"], label_tier(data["highway"])))
        road.tier = min(road.tier, label_tier(data["highway"]))
        road.length_m += sum(p.length for p in pieces) * (1.0 if data["oneway"] else 0.5)
        longest = max(pieces, key=lambda p: p.length)
        if road.piece is None or longest.length > road.piece.length:
            road.piece = longest
    ranked = sorted(roads.values(), key=lambda r: (r.tier, -r.length_m, r.name))
    return [(r.name, r.piece) for r in ranked if r.piece is not None]


def place_labels(
    ax: Axes,
    candidates: Sequence[tuple[str, LineString]],
    limit: int,
    family: str,
    obstacles: Sequence[Bbox] = (),
) -> list[str]:
    """Label roads in order, skipping any label that would overlap one placed or an obstacle.

    Parameters
    ----------
    ax
        The map's axes; its extent and aspect must be final (labels are measured on screen).
    candidates
        ``(name, piece)`` in priority order (:func:`label_candidates`).
    limit
        Most labels to place.
    family
        Font family with CJK glyphs.
    obstacles
        Display-space boxes labels must not cover (the legend).

    Returns
    -------
    list of str
        The names labelled, in order.
    """
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = ax.get_window_extent(renderer)
    taken = list(obstacles)
    placed: list[str] = []
    for name, piece in candidates:
        if len(placed) >= limit:
            break
        point = piece.interpolate(0.5, normalized=True)
        text = ax.annotate(
            name,
            (point.x, point.y),
            fontsize=8,
            fontfamily=family,
            ha="center",
            va="center",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
        )
        # the white box around the text is drawn 0.15 em wider: pad the measured extent alike
        # (the size in points: what get_fontsize() returns, typed as a float here)
        em = text.get_fontproperties().get_size()
        box = text.get_window_extent(renderer).padded(0.15 * em)
        fits = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
        if not fits or any(box.overlaps(other) for other in taken):
            text.remove()
            continue
        taken.append(box)
        placed.append(name)
    return placed


# --- the figure ----------------------------------------------------------------------------


def default_title(G: nx.MultiDiGraph) -> str:
    """Map name, junctions, signals and road length as ``cysim map info`` counts it."""
    summary = network.network_summary(G)
    return (
        f"{summary['name']}: {summary['junctions']} junctions, "
        f"{summary['signalised_junctions']} signalised, "
        f"{summary['road_km']:.1f} km of road (centreline)"
    )


def network_figure(
    G: nx.MultiDiGraph,
    *,
    title: str | None = None,
    label_roads: int = 8,
    extent: Bounds | None = None,
    view_label: str = "",
) -> Figure:
    """Draw the network on a new figure (no pyplot state).

    Parameters
    ----------
    G
        A cysim network.
    title
        Figure title; default :func:`default_title`.
    label_roads
        Label up to this many named roads, major classes first (:func:`label_candidates`),
        skipping labels that would overlap (0 = none).
    extent
        The area to show in ``G``'s CRS (:func:`bbox_extent`, :func:`road_extent`); default the
        whole network.
    view_label
        A second title line saying what the view is (e.g. ``around 正阳中路 ± 500 m``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    family = _fonts.use_cjk_font()
    extent = extent or _network_extent(G)
    fig = Figure(figsize=(9, 9))
    canvas = FigureCanvasAgg(fig)  # a renderer to measure labels with
    ax = fig.add_subplot()
    groups = _draw_roads(ax, G)
    signals = [(d["x"], d["y"]) for _, d in G.nodes(data=True) if d["signal"]]
    if signals:
        xs, ys = zip(*signals, strict=True)
        ax.scatter(xs, ys, s=14, c="#2980b9", zorder=5, edgecolors="white", linewidths=0.5)
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    in_view = sum(1 for x, y in signals if _inside(extent, x, y))
    legend = _legend(ax, groups, in_view)
    heading = title or default_title(G)
    ax.set_title(f"{heading}\n{view_label}" if view_label else heading, fontfamily=family)
    _credit(ax, G, family)
    ax.apply_aspect()
    renderer = canvas.get_renderer()
    if label_roads > 0:
        candidates = label_candidates(G, extent)
        place_labels(ax, candidates, label_roads, family, [legend.get_window_extent(renderer)])
    return fig


def _draw_roads(ax: Axes, G: nx.MultiDiGraph) -> list[str]:
    """Draw every road once (a two-way road's directions lie on top of each other)."""
    segments: dict[str, list] = {c: [] for c in CLASS_COLOURS}
    widths: dict[str, list[float]] = {c: [] for c in CLASS_COLOURS}
    drawn: set[tuple[int, int]] = set()
    for u, v, data in G.edges(data=True):
        rc = roadclass.ROAD_CLASSES.get(data["highway"])
        group = rc.cjj_class_en if rc is not None else "branch"
        if not data["oneway"] and (v, u) in drawn:
            continue
        drawn.add((u, v))
        segments[group].append(list(data["geometry"].coords))
        widths[group].append(0.5 + 0.6 * data["lanes"] * (1 if data["oneway"] else 2))
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
    return [group for group in CLASS_COLOURS if segments[group]]


def _legend(ax: Axes, groups: list[str], signals: int) -> Legend:
    handles = [
        Line2D([], [], color=CLASS_COLOURS[group], lw=3, label=f"{_CJJ_LABEL[group]} {group}")
        for group in groups
    ]
    handles.append(
        Line2D([], [], marker="o", ls="", color="#2980b9", label=f"信号灯 signals ({signals})")
    )
    return ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=True)


def _credit(ax: Axes, G: nx.MultiDiGraph, family: str) -> None:
    """CRS and source line; a schematic map is marked as such and not credited to OSM."""
    schematic = is_schematic(G)
    credit = SCHEMATIC_CREDIT if schematic else OSM_CREDIT
    ax.text(
        0.01,
        0.99,
        f"{G.graph.get('crs', '')}; width ∝ lanes; {credit}",
        transform=ax.transAxes,
        fontsize=7,
        color="#555555",
        va="top",
    )
    if schematic:
        ax.text(
            0.01,
            0.955,
            SCHEMATIC_MARK,
            transform=ax.transAxes,
            fontsize=11,
            fontfamily=family,
            color="#c0392b",
            va="top",
        )


def plot_network(
    G: nx.MultiDiGraph,
    path: str | Path,
    *,
    title: str | None = None,
    label_roads: int = 8,
    extent: Bounds | None = None,
    view_label: str = "",
    dpi: int = 150,
) -> Path:
    """Draw the network to a PNG, written atomically (see :func:`network_figure`).

    Parameters
    ----------
    G, title, label_roads, extent, view_label
        As :func:`network_figure`.
    path
        Output ``.png``.
    dpi
        Resolution.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    fig = network_figure(
        G, title=title, label_roads=label_roads, extent=extent, view_label=view_label
    )
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return Path(path)
