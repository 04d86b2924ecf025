"""CLI commands ``cysim map info|plot|fetch``: inspect, draw and download road networks."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import typer

map_app = typer.Typer(
    name="map",
    help="Road network maps: summary, plot, download from OpenStreetMap.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_FILE_HELP = "Map file: .osm, .osm.bz2, .osm.pbf or a .graphml saved by cysim."
_TOL_HELP = "Junction consolidation radius in metres (default cysim.settings; 0 = off)."


@map_app.command("info")
def info(
    file: Path = typer.Argument(..., help=_FILE_HELP),
    tolerance: float | None = typer.Option(None, "--tolerance", help=_TOL_HELP),
    as_json: bool = typer.Option(
        False, "--json", help="Print the summary and load report (or the road list) as JSON."
    ),
    roads: bool = typer.Option(
        False,
        "--roads",
        help="List the named roads instead: Chinese name, OSM name:en, pinyin, class and length "
        "in km, longest first. The length is the centreline length, each road counted once: a "
        "two-way link once, a road mapped as two one-way carriageways at half their sum, a "
        "one-way street in full. Scenarios may write any of these names.",
    ),
) -> None:
    """Print nodes, junctions, signals, km and links by class, defaults, bounds.

    Lists every OSM traffic-signal node that controls no junction, with the reason.
    """
    from ..network import build as network
    from ..network import locate

    G = network.load_network(file, consolidation_tolerance_m=tolerance)
    if roads:
        rows = locate.road_table(G)
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False))
        else:
            typer.echo(format_road_table(rows))
        return
    summary = network.network_summary(G)
    if as_json:
        report = json.loads(G.graph["load_report"])
        typer.echo(json.dumps({"summary": summary, "load_report": report}, ensure_ascii=False))
        return
    typer.echo(network.format_summary(summary))
    report = json.loads(G.graph["load_report"])
    scc = report.get("largest_scc", {})
    if scc.get("nodes_dropped"):
        typer.echo(
            f"  dropped outside the largest strongly connected part: {scc['nodes_dropped']} nodes, "
            f"{scc['edges_dropped']} links, {scc['km_dropped']:.1f} km"
        )
    if report.get("signals"):
        typer.echo(network.format_signal_report(report["signals"]))
    if report.get("crs_note"):
        typer.echo(f"  note: {report['crs_note']}")
    if report.get("tag_warnings"):
        typer.echo(
            f"  {sum(report['tag_warnings'].values())} OSM tag values not understood "
            "(class defaults used; see --json)"
        )


_ROAD_COLUMNS = (("name", "road"), ("name_en", "name:en"), ("pinyin", "pinyin"),
                 ("highway", "class"), ("length_km", "km"))  # fmt: skip


def format_road_table(rows: list[dict[str, object]]) -> str:
    """Plain-text columns (Chinese characters count two wide).

    Aligned so, the list reads the same in a terminal and in a file it is redirected to.
    """
    cells = [[title for _, title in _ROAD_COLUMNS]]
    cells += [
        [f"{row[key]:.2f}" if key == "length_km" else str(row[key]) for key, _ in _ROAD_COLUMNS]
        for row in rows
    ]
    widths = [max(_width(line[i]) for line in cells) for i in range(len(_ROAD_COLUMNS))]
    lines = []
    for line in cells:
        padded = [_pad(text, width, right=i == len(widths) - 1) for i, (text, width) in
                  enumerate(zip(line, widths, strict=True))]  # fmt: skip
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines) + f"\n{len(rows)} named roads"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


@map_app.command("plot")
def plot(
    file: Path = typer.Argument(..., help=_FILE_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="PNG file to write."),
    title: str | None = typer.Option(None, "--title", help="Figure title (default: map name)."),
    labels: int = typer.Option(
        8,
        "--labels",
        min=0,
        help="Label up to this many named roads, major classes first, never overlapping.",
    ),
    bbox: str | None = typer.Option(
        None, "--bbox", metavar="W,S,E,N", help="Show only this WGS84 box (lon/lat degrees)."
    ),
    around: str | None = typer.Option(
        None, "--around", metavar="ROAD", help="Show only a named road and --margin-m around it."
    ),
    margin_m: float = typer.Option(
        500.0, "--margin-m", min=0, help="Margin around the --around road, metres."
    ),
    tolerance: float | None = typer.Option(None, "--tolerance", help=_TOL_HELP),
) -> None:
    """Draw the network: roads coloured by class, width by lanes, signals as dots."""
    from ..network import build as network
    from ..report import mapview

    if bbox is not None and around is not None:
        raise typer.BadParameter("give --bbox or --around, not both")
    box = _parse_bbox(bbox) if bbox is not None else None
    G = network.load_network(file, consolidation_tolerance_m=tolerance)
    extent, view = None, ""
    if box is not None:
        extent = mapview.bbox_extent(G, *box)
        view = f"view: lon {box[0]:g}–{box[2]:g}, lat {box[1]:g}–{box[3]:g}"
    elif around is not None:
        extent = mapview.road_extent(G, around, margin_m)
        view = f"view: {around} ± {margin_m:g} m"
    written = mapview.plot_network(
        G, output, title=title, label_roads=labels, extent=extent, view_label=view
    )
    typer.echo(f"wrote {written}")


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``W,S,E,N`` in degrees, west < east and south < north."""
    try:
        west, south, east, north = (float(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give four numbers W,S,E,N (lon/lat degrees)", param_hint="--bbox"
        ) from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise typer.BadParameter(
            f"{text!r}: need -180 ≤ W < E ≤ 180 and -90 ≤ S < N ≤ 90 (lon/lat degrees)",
            param_hint="--bbox",
        )
    return west, south, east, north


@map_app.command("fetch")
def fetch_cmd(
    place: str | None = typer.Option(
        None, "--place", help='Nominatim place query (default "城阳区, 青岛市").'
    ),
    polygon: Path | None = typer.Option(
        None, "--polygon", help="Boundary GeoJSON to fetch instead of a place."
    ),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        help="Output .graphml (processed) or .osm (raw); default maps/NAME.graphml.",
    ),
    overpass_url: str | None = typer.Option(None, "--overpass-url", help="Overpass API base URL."),
    nominatim_url: str | None = typer.Option(None, "--nominatim-url", help="Nominatim base URL."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use osmnx's HTTP cache."),
) -> None:
    """Download the real drive network with osmnx (needs internet) and save it under maps/."""
    from ..network import build as network
    from ..network import fetch

    if place is not None and polygon is not None:
        raise typer.BadParameter("give --place or --polygon, not both")
    written = fetch.fetch_network(
        place=place,
        polygon_path=polygon,
        output=output,
        overpass_url=overpass_url,
        nominatim_url=nominatim_url,
        use_cache=False if no_cache else None,
    )
    G = network.load_network(written)
    typer.echo(f"wrote {written}")
    typer.echo(network.format_summary(network.network_summary(G)))


def register(app: typer.Typer) -> None:
    """Register the ``map`` command group on the root app."""
    app.add_typer(map_app, name="map")
