"""Download a real drive network with osmnx (place name or boundary polygon) into ``maps/``."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import networkx as nx
import osmnx as ox
import requests
from shapely.geometry import MultiPolygon, Polygon

from .. import settings
from .._errors import MapError
from . import _osm_tags
from . import build as network

#: The place query for Chengyang District, Qingdao (Nominatim).
CHENGYANG_PLACE = "城阳区, 青岛市"
#: Folder fetched maps go to when no output is given.
MAPS_DIR = "maps"


@contextlib.contextmanager
def osmnx_endpoints(
    *,
    overpass_url: str | None = None,
    nominatim_url: str | None = None,
    use_cache: bool | None = None,
    rate_limit: bool | None = None,
) -> Iterator[None]:
    """Point osmnx at other Overpass/Nominatim servers for a ``with`` block, then restore.

    Parameters
    ----------
    overpass_url, nominatim_url
        Server base URLs (``None`` = keep osmnx's). A local mirror or a test server.
    use_cache
        osmnx's HTTP response cache (``None`` = keep).
    rate_limit
        Ask the Overpass server for a slot before querying (``None`` = keep).
    """
    names = {
        "overpass_url": overpass_url,
        "nominatim_url": nominatim_url,
        "use_cache": use_cache,
        "overpass_rate_limit": rate_limit,
        # all_oneway keeps each OSM way as drawn, so the raw graph saves back to faithful OSM XML
        "all_oneway": True,
    }
    saved = {name: getattr(ox.settings, name) for name in names}
    try:
        for name, value in names.items():
            if value is not None:
                setattr(ox.settings, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)


def default_output(place: str | None, polygon_path: Path | None) -> Path:
    """``maps/<name>.graphml`` named after the place or the polygon file."""
    if polygon_path is not None:
        stem = polygon_path.name.split(".")[0]
    elif place in (None, CHENGYANG_PLACE):
        stem = "chengyang"
    else:
        stem = re.sub(r"[^a-z0-9]+", "-", str(place).lower()).strip("-") or "fetched"
    return Path(MAPS_DIR) / f"{stem}.graphml"


def read_polygon(path: str | Path) -> Polygon | MultiPolygon:
    """Read a (Multi)Polygon boundary from a GeoJSON (or any vector) file, in WGS84.

    Raises
    ------
    MapError
        Missing or unreadable file, or no polygon in it.
    """
    path = Path(path)
    if not path.is_file():
        raise MapError("polygon file not found", file=path, hint="give a GeoJSON boundary file")
    try:
        frame = gpd.read_file(path)
    except Exception as error:  # pyogrio raises its own DataSourceError family
        raise MapError(f"cannot read polygon file ({error})", file=path) from None
    if frame.crs is not None:
        frame = frame.to_crs(settings.geographic_crs)
    shape = frame.geometry.union_all() if len(frame) else None
    if not isinstance(shape, Polygon | MultiPolygon) or shape.is_empty:
        raise MapError(
            "the file holds no polygon", file=path, hint="give the area's boundary as a Polygon"
        )
    return shape


def fetch_raw_graph(
    *,
    place: str | None = None,
    polygon: Polygon | MultiPolygon | None = None,
    overpass_url: str | None = None,
    nominatim_url: str | None = None,
    use_cache: bool | None = None,
    rate_limit: bool | None = None,
) -> nx.MultiDiGraph:
    """Download the unsimplified drive network of a place or polygon (osmnx, tags cysim needs).

    Parameters
    ----------
    place
        A Nominatim query such as ``"城阳区, 青岛市"``; ignored when ``polygon`` is given.
    polygon
        Boundary in WGS84.
    overpass_url, nominatim_url, use_cache, rate_limit
        See :func:`osmnx_endpoints`.

    Returns
    -------
    networkx.MultiDiGraph
        osmnx's raw graph (WGS84, one edge per OSM way segment as drawn).

    Raises
    ------
    MapError
        The place is not found, the servers cannot be reached, or the area has no roads.
    """
    where = "polygon" if polygon is not None else repr(place or CHENGYANG_PLACE)
    try:
        with (
            _osm_tags.useful_tags(),
            osmnx_endpoints(
                overpass_url=overpass_url,
                nominatim_url=nominatim_url,
                use_cache=use_cache,
                rate_limit=rate_limit,
            ),
        ):
            if polygon is not None:
                return ox.graph_from_polygon(
                    polygon, network_type="drive", simplify=False, retain_all=True
                )
            return ox.graph_from_place(
                place or CHENGYANG_PLACE, network_type="drive", simplify=False, retain_all=True
            )
    except requests.RequestException as error:
        raise MapError(
            f"cannot reach the OSM servers for {where} ({type(error).__name__})",
            hint="check the internet connection, or pass --overpass-url/--nominatim-url",
        ) from None
    except (ox._errors.InsufficientResponseError, TypeError, ValueError) as error:
        raise MapError(
            f"OSM returned no usable data for {where} ({error})",
            hint="check the place name (try it on nominatim.openstreetmap.org) or use --polygon",
        ) from None


def fetch_network(
    *,
    place: str | None = None,
    polygon_path: str | Path | None = None,
    output: str | Path | None = None,
    overpass_url: str | None = None,
    nominatim_url: str | None = None,
    use_cache: bool | None = None,
    rate_limit: bool | None = None,
) -> Path:
    """Fetch a drive network and save it where :func:`cysim.network.build.load_network` reads it.

    ``.osm`` output is the raw OSM XML (all tags cysim uses); ``.graphml`` output is that XML
    loaded through the usual pipeline and saved with :func:`cysim.network.build.save_graphml`. Both
    are checked by loading them back before the call returns.

    Parameters
    ----------
    place, polygon_path
        What to fetch (default: Chengyang by place name).
    output
        Target file (``.graphml`` or ``.osm``); default :func:`default_output`.
    overpass_url, nominatim_url, use_cache, rate_limit
        See :func:`osmnx_endpoints`.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    MapError
        Bad output type, polygon file, place, or server problems.
    """
    polygon_path = Path(polygon_path) if polygon_path is not None else None
    out = Path(output) if output is not None else default_output(place, polygon_path)
    if out.suffix.lower() not in {".graphml", ".osm"}:
        raise MapError("output must end in .graphml or .osm", file=out)
    polygon = read_polygon(polygon_path) if polygon_path is not None else None
    raw = fetch_raw_graph(
        place=place,
        polygon=polygon,
        overpass_url=overpass_url,
        nominatim_url=nominatim_url,
        use_cache=use_cache,
        rate_limit=rate_limit,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cysim-fetch-") as tmp:
        xml_path = Path(tmp) / f"{out.name.split('.')[0]}.osm"
        with _osm_tags.useful_tags(), osmnx_endpoints():
            ox.io.save_graph_xml(raw, xml_path)
        G = network.load_network(xml_path)
        G.graph["source"] = f"fetched: {polygon_path or place or CHENGYANG_PLACE}"
        if out.suffix.lower() == ".graphml":
            network.save_graphml(G, out)
            network.load_graphml(out)
        else:
            fd, staged = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
            os.close(fd)
            with open(xml_path, "rb") as src, open(staged, "wb") as dst:
                dst.write(src.read())
            os.replace(staged, out)
    return out
