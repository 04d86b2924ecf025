"""China's map coordinate systems: WGS 84 → GCJ-02 (AutoNavi, Tencent) and BD-09 (Baidu).

Base maps published in China are drawn in GCJ-02 (国测局) or BD-09 (百度) coordinates, offset
from WGS 84 by a few hundred metres; OpenStreetMap geometry drawn on them is misplaced by that
much. The transforms here move WGS 84 geometry into those systems, so that layers line up with
those base maps. Neither system has an EPSG code: layers in them are labelled EPSG:4326 (so GIS
tools project them like the tiles) and named ``*_gcj02`` / ``*_bd09``.

The formulas come from the maintained, public-domain package ``prcoords`` (Artoria2e5/PRCoords),
not from code of our own; this module only applies them to arrays and geometries, and leaves
points outside mainland China's box unchanged (as every GCJ-02 implementation does).
"""

from __future__ import annotations

from typing import Literal

import geopandas as gpd
import numpy as np
import prcoords
import shapely

__all__ = ["SYSTEM_LABELS", "CoordinateSystem", "from_wgs84", "to_wgs84", "transform_frame"]

#: The coordinate systems of base maps.
CoordinateSystem = Literal["wgs84", "gcj02", "bd09"]

#: How each system is named in legends and layer descriptions.
SYSTEM_LABELS: dict[str, str] = {
    "wgs84": "WGS 84 (EPSG:4326; Tianditu's CGCS2000 agrees within a metre)",
    "gcj02": "GCJ-02 国测局坐标 (AutoNavi 高德, Tencent 腾讯; not an EPSG system)",
    "bd09": "BD-09 百度坐标 (Baidu; not an EPSG system)",
}

_FORWARD = {"gcj02": prcoords.wgs_gcj, "bd09": prcoords.wgs_bd}
_INVERSE = {"gcj02": prcoords.gcj_wgs_bored, "bd09": prcoords.bd_wgs_bored}


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points inside the box where GCJ-02 applies (prcoords' own test, vectorised)."""
    return (lat >= 0.8293) & (lat <= 55.8271) & (lon >= 72.004) & (lon <= 137.8347)


def _apply(function, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    out_lon, out_lat = lon.copy(), lat.copy()
    inside = _in_china(lon, lat)
    for i in np.flatnonzero(inside):
        moved = function((lat[i], lon[i]), False)
        out_lat[i], out_lon[i] = moved.lat, moved.lon
    return out_lon, out_lat


def _check_system(system: str) -> None:
    if system not in SYSTEM_LABELS:
        raise ValueError(f"unknown coordinate system {system!r}; use one of {list(SYSTEM_LABELS)}")


def from_wgs84(
    lon: np.ndarray, lat: np.ndarray, system: CoordinateSystem
) -> tuple[np.ndarray, np.ndarray]:
    """Move WGS 84 longitudes and latitudes into ``system``.

    Parameters
    ----------
    lon, lat
        WGS 84 degrees (arrays of the same shape).
    system
        ``"wgs84"`` (returned unchanged), ``"gcj02"`` or ``"bd09"``.

    Returns
    -------
    tuple of numpy.ndarray
        Longitudes and latitudes in ``system``; points outside mainland China's box unchanged.
    """
    _check_system(system)
    if system == "wgs84":
        return np.asarray(lon, dtype=float).copy(), np.asarray(lat, dtype=float).copy()
    return _apply(_FORWARD[system], lon, lat)


def to_wgs84(
    lon: np.ndarray, lat: np.ndarray, system: CoordinateSystem
) -> tuple[np.ndarray, np.ndarray]:
    """Move longitudes and latitudes in ``system`` back to WGS 84 (iterated inverse, ~1 cm).

    Parameters
    ----------
    lon, lat
        Degrees in ``system``.
    system
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.

    Returns
    -------
    tuple of numpy.ndarray
    """
    _check_system(system)
    if system == "wgs84":
        return np.asarray(lon, dtype=float).copy(), np.asarray(lat, dtype=float).copy()
    return _apply(_INVERSE[system], lon, lat)


def transform_frame(frame: gpd.GeoDataFrame, system: CoordinateSystem) -> gpd.GeoDataFrame:
    """A copy of ``frame`` with its geometry in ``system`` (from any CRS, via WGS 84).

    The result is labelled EPSG:4326 whatever ``system`` is, because GCJ-02 and BD-09 have no
    EPSG code and GIS tools must treat them as longitudes and latitudes to match the tiles.

    Parameters
    ----------
    frame
        Geometries with a CRS.
    system
        Target coordinate system.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    _check_system(system)
    wgs84 = frame.to_crs("EPSG:4326")
    if system == "wgs84" or wgs84.empty:
        return wgs84

    def move(coords: np.ndarray) -> np.ndarray:
        lon, lat = from_wgs84(coords[:, 0], coords[:, 1], system)
        return np.column_stack([lon, lat])

    moved = shapely.transform(wgs84.geometry.to_numpy(), move)
    return wgs84.set_geometry(gpd.GeoSeries(moved, index=wgs84.index, crs="EPSG:4326"))
