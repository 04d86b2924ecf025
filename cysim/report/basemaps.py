"""Base maps for the interactive map: which tiles, in which coordinate system, with what credit.

The default is no base map: the vector layers draw on a plain background and the file opens
with no network at all. A base map is a choice (the scenario's ``report.basemap`` or
``cysim compare --basemap``); the vector layers are moved into its coordinate system
(:mod:`cysim.chinacoords`) so they sit on the right streets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .._errors import CysimError
from ..chinacoords import CoordinateSystem

__all__ = ["BASEMAP_NAMES", "Basemap", "resolve_basemap"]


@dataclass(frozen=True)
class Basemap:
    """One tile layer (and an optional label overlay) for Leaflet.

    Attributes
    ----------
    name
        Short name used in settings and on the command line.
    label
        Name shown in the legend.
    url
        Leaflet URL template (``{s}``, ``{z}``, ``{x}``, ``{y}``, ``{-y}``).
    system
        Coordinate system the tiles are drawn in.
    attribution
        Credit shown on the map.
    subdomains
        Values of ``{s}``.
    max_zoom
        Deepest zoom the tiles exist for.
    overlay_url
        Optional second layer drawn over the first (Tianditu's labels).
    """

    name: str
    label: str
    url: str
    system: CoordinateSystem
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 18
    overlay_url: str | None = None


#: Environment variable holding the Tianditu key (a browser key from console.tianditu.gov.cn).
TIANDITU_KEY_ENV = "TIANDITU_KEY"

_TIANDITU = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
    "&TILECOL={{x}}&tk={key}"
)

_FIXED: dict[str, Basemap] = {
    "osm": Basemap(
        "osm",
        "OpenStreetMap",
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "wgs84",
        "© OpenStreetMap contributors",
        subdomains="",
        max_zoom=19,
    ),
    "gaode": Basemap(
        "gaode",
        "高德地图 AutoNavi",
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        "gcj02",
        "© 高德地图 AutoNavi",
        subdomains="1234",
    ),
    "tencent": Basemap(
        "tencent",
        "腾讯地图 Tencent",
        "https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&styleid=1000&scene=0",
        "gcj02",
        "© 腾讯地图 Tencent",
        subdomains="0123",
    ),
}

#: Every name ``report.basemap`` accepts.
BASEMAP_NAMES: tuple[str, ...] = ("none", *_FIXED, "tianditu", "url")


def resolve_basemap(
    name: str,
    *,
    url: str | None = None,
    system: CoordinateSystem = "wgs84",
    attribution: str = "",
) -> Basemap | None:
    """The base map a setting names, or ``None`` for none.

    Parameters
    ----------
    name
        One of :data:`BASEMAP_NAMES`.
    url
        Tile URL template, for ``name="url"``.
    system
        Coordinate system of the ``url`` tiles.
    attribution
        Credit for the ``url`` tiles.

    Returns
    -------
    Basemap or None

    Raises
    ------
    CysimError
        For an unknown name, ``url`` without a template, or ``tianditu`` without a key.
    """
    if name == "none":
        return None
    if name in _FIXED:
        return _FIXED[name]
    if name == "tianditu":
        key = os.environ.get(TIANDITU_KEY_ENV, "").strip()
        if not key:
            raise CysimError(
                "the Tianditu base map needs a key, and the environment variable "
                f"{TIANDITU_KEY_ENV} is not set",
                key="report.basemap",
                hint=f"set {TIANDITU_KEY_ENV} to a browser key from "
                "https://console.tianditu.gov.cn (free registration), or choose another base "
                "map (none, osm, gaode, tencent, url)",
            )
        return Basemap(
            "tianditu",
            "天地图 Tianditu",
            _TIANDITU.format(layer="vec", key=key),
            "wgs84",
            "© 天地图 Tianditu (国家地理信息公共服务平台)",
            subdomains="01234567",
            overlay_url=_TIANDITU.format(layer="cva", key=key),
        )
    if name == "url":
        if not url or "{z}" not in url or "{x}" not in url or not ("{y}" in url or "{-y}" in url):
            raise CysimError(
                f"basemap 'url' needs a tile URL template with {{z}}, {{x}} and {{y}} (or "
                f"{{-y}}); got {url!r}",
                key="report.tiles_url",
                hint="e.g. report: {basemap: url, tiles_url: "
                "'https://tiles.example.cn/{z}/{x}/{y}.png', tiles_system: gcj02}",
            )
        return Basemap("url", "custom tiles", url, system, attribution or url.split("/")[2])
    raise CysimError(
        f"unknown base map {name!r}",
        key="report.basemap",
        hint=f"use one of {', '.join(BASEMAP_NAMES)} (Baidu's BD-09 tiles use their own "
        "projection and are not offered as a base map; report: {china_layers: [bd09]} adds "
        "BD-09 layers to the comparison's GeoPackages)",
    )
