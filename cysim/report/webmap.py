"""The interactive before/after map: one self-contained HTML file that opens offline.

Leaflet's script and stylesheet are inlined from the installed ``XStatic-Leaflet`` package
(Leaflet 1.9.3, 147 kB of script and 15 kB of style; the wheel is 0.8 MB), and the links are
inlined as GeoJSON, so the page needs no network when it is opened from ``file://``: the
vector layers draw on a plain background. A base map (:mod:`cysim.report.basemaps`) is optional;
with one, the links are moved into its coordinate system first.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from pathlib import Path

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import shapely.geometry
from matplotlib.colors import TwoSlopeNorm
from xstatic.pkg import leaflet

from .. import io
from .._fonts import font_face_css
from ..chinacoords import SYSTEM_LABELS, transform_frame
from .basemaps import Basemap

__all__ = ["interactive_map", "leaflet_assets"]

#: Colour of links whose change is not significant (or that carried no traffic).
NOT_SIGNIFICANT_COLOUR = "#b8b8b8"


def leaflet_assets() -> tuple[str, str]:
    """Leaflet's script and stylesheet from the installed package, images as data URIs.

    Returns
    -------
    tuple of str
        ``(script, stylesheet)``.
    """
    folder = Path(leaflet.BASE_DIR)
    script = (folder / "leaflet.js").read_text(encoding="utf-8")
    style = (folder / "leaflet.css").read_text(encoding="utf-8")

    def inline_image(match: re.Match) -> str:
        image = folder / "images" / match.group(1)
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    style = re.sub(r"url\(images/([\w.-]+\.png)\)", inline_image, style)
    # the script's source-map comment names a file that is not there
    script = re.sub(r"//# sourceMappingURL=\S+", "", script)
    return script, style


def _number(value: float, digits: int = 0) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:,.{digits}f}"


def _first_finite(*values) -> float:
    for value in values:
        if value is not None and np.isfinite(float(value)):
            return float(value)
    return math.nan


def _tooltip(row, labels: tuple[str, str], significant: bool | None) -> str:
    """The hover text of one link: name, class, lanes, flows, speeds, change, significance."""
    e = html.escape
    a, b = (e(x) for x in labels)
    lanes = _first_finite(row.get("lanes_b"), row.get("lanes_a"), row.get("lanes"))
    verdict = {True: "significant", False: "not significant", None: "significance not computed"}
    rows = [
        ("lanes", _number(row.get("lanes_a", math.nan)), _number(row.get("lanes_b", math.nan))),
        ("flow veh/h", _number(row["flow_vph_a"]), _number(row["flow_vph_b"])),
        ("speed km/h", _number(row["mean_speed_kph_a"], 1), _number(row["mean_speed_kph_b"], 1)),
        ("v/c", _number(row["v_c_a"], 2), _number(row["v_c_b"], 2)),
    ]
    body = "".join(
        f"<tr><td>{k}</td><td>{x}</td><td>{y}</td></tr>" for k, x, y in rows if x + y != "––"
    )
    return (
        f"<b>{e(str(row['name']) or '(unnamed)')}</b> <small>{e(str(row['highway']))}"
        f"{'' if not np.isfinite(lanes) else f', {lanes:g} lanes'}</small>"
        f"<table><tr><th></th><th>{a}</th><th>{b}</th></tr>{body}</table>"
        f"Δ speed {_number(row['d_mean_speed_kph'], 1)} km/h · Δ flow "
        f"{_number(row['d_flow_vph'])} veh/h — {verdict[significant]}"
    )


def _features(
    frame: gpd.GeoDataFrame, labels: tuple[str, str], column: str
) -> tuple[list[dict], float]:
    """GeoJSON features of the links, coloured by ``column`` (grey where not significant)."""
    change = frame[column].to_numpy(dtype=float)
    spread = float(np.nanpercentile(np.abs(change), 95)) if np.isfinite(change).any() else 1.0
    spread = max(spread, 1e-9)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-spread, vmax=spread)
    cmap = mpl.colormaps["RdBu"]
    busy = np.fmax(frame["flow_vph_a"].fillna(0), frame["flow_vph_b"].fillna(0)).to_numpy()
    busiest = max(float(busy.max()) if len(busy) else 1.0, 1.0)
    has_flag = "significant" in frame.columns
    features = []
    for (_, row), value, flow in zip(frame.iterrows(), change, busy, strict=True):
        geometry = row.geometry
        if geometry is None or geometry.is_empty:
            continue
        significant = bool(row["significant"]) if has_flag else None
        coloured = np.isfinite(value) and significant is not False
        properties = {
            "colour": mpl.colors.to_hex(cmap(norm(value))) if coloured else NOT_SIGNIFICANT_COLOUR,
            "weight": round(1.5 + 6 * math.sqrt(flow / busiest), 2),
            "tip": _tooltip(row, labels, significant),
        }
        features.append(
            {
                "type": "Feature",
                "properties": properties,
                "geometry": _rounded_geojson(geometry),
            }
        )
    return features, spread


def _rounded_geojson(geometry) -> dict:
    """GeoJSON of a line (or multi-line), coordinates to 6 decimals (about 0.1 m)."""

    def rounded(coords):
        if coords and isinstance(coords[0], float | int):
            return [round(float(c), 6) for c in coords]
        return [rounded(c) for c in coords]

    mapped = shapely.geometry.mapping(geometry)
    return {"type": mapped["type"], "coordinates": rounded(mapped["coordinates"])}


def _json_for_script(value: object) -> str:
    """JSON safe inside a <script> element (no ``</script>`` or ``<!--`` can form)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _legend(spread: float, system: str, basemap: Basemap | None, drawn: int, total: int) -> str:
    e = html.escape
    ramp = ", ".join(mpl.colors.to_hex(mpl.colormaps["RdBu"](x)) for x in np.linspace(0.0, 1.0, 7))
    base = "none (vector layers only)" if basemap is None else e(basemap.label)
    capped = "" if drawn == total else f"<br>the {drawn:,} busiest of {total:,} links drawn"
    return (
        "<b>Δ mean speed (B − A)</b>"
        f'<div style="height:10px;background:linear-gradient(to right,{ramp})"></div>'
        f'<div style="display:flex;justify-content:space-between"><span>−{spread:.1f}</span>'
        f"<span>0</span><span>+{spread:.1f} km/h</span></div>"
        f'<span style="color:{NOT_SIGNIFICANT_COLOUR}">■</span> not significant or no traffic'
        "<br>(95 % per link: about 1 in 20 unchanged links<br>shows as significant by chance)"
        "<br>width = busier of the two flows"
        f"<br>底图 base map: {base}<br>坐标 coordinates: {e(SYSTEM_LABELS[system])}{capped}"
    )


_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{leaflet_css}</style>
<style>
{font_faces}
html, body, #map {{ height: 100%; margin: 0; }}
.leaflet-container {{ font-family: "cysim CJK", "Noto Sans CJK SC", "Microsoft YaHei",
  sans-serif; }}
#map {{ background: #f4f3ef; }}
.cysim-legend {{ background: #fff; padding: 6px 8px; font-size: 12px; line-height: 1.4;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); max-width: 260px; }}
.leaflet-tooltip table {{ border-collapse: collapse; }}
.leaflet-tooltip td, .leaflet-tooltip th {{ padding: 0 4px; text-align: right; }}
</style>
<script>{leaflet_js}</script>
</head><body><div id="map"></div>
<script>
const links = {features};
const basemap = {basemap};
const map = L.map("map", {{ zoomSnap: 0.25, zoomControl: true, attributionControl: true }});
map.attributionControl.setPrefix(false);
map.attributionControl.addAttribution({credit});
if (basemap) {{
  const options = {{ attribution: basemap.attribution, maxZoom: basemap.max_zoom }};
  if (basemap.subdomains) options.subdomains = basemap.subdomains;
  L.tileLayer(basemap.url, options).addTo(map);
  if (basemap.overlay_url) L.tileLayer(basemap.overlay_url, options).addTo(map);
}}
const layer = L.geoJSON(links, {{
  style: f => ({{ color: f.properties.colour, weight: f.properties.weight, opacity: 0.9 }}),
  onEachFeature: (f, l) => l.bindTooltip(f.properties.tip, {{ sticky: true }}),
}}).addTo(map);
window.cysimLinks = layer;
if (links.features.length) map.fitBounds(layer.getBounds(), {{ padding: [10, 10] }});
else map.setView([36.3, 120.4], 12);
L.control.scale({{ imperial: false }}).addTo(map);
const legend = L.control({{ position: "bottomright" }});
legend.onAdd = () => {{
  const div = L.DomUtil.create("div", "cysim-legend");
  div.innerHTML = {legend};
  return div;
}};
legend.addTo(map);
</script></body></html>
"""


def interactive_map(
    deltas: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    labels: tuple[str, str] = ("A", "B"),
    basemap: Basemap | None = None,
    column: str = "d_mean_speed_kph",
    max_links: int = 20_000,
    title: str = "cysim link changes",
    credit: str = "road data © OpenStreetMap contributors",
) -> Path:
    """Write the before/after map of link changes as one HTML file that opens offline.

    Every link is one feature, coloured by the change in mean speed (blue faster, red slower),
    grey where the change is not significant (when ``deltas`` has a ``significant`` column) or
    the link carried no traffic; hovering shows its name, class, lanes, flows, speeds and change.

    Parameters
    ----------
    deltas
        Output of :func:`cysim.results.compare.link_deltas` with a CRS (and, optionally, a boolean
        ``significant`` column).
    path
        HTML file to write (atomically).
    labels
        Names of the two scenarios.
    basemap
        Tiles under the links (``None``: none, the file needs no network); the links are
        moved into the base map's coordinate system.
    column
        The change that colours the links.
    max_links
        Draw at most this many links (the busiest); the legend says when some are left out.
    title
        Page title.
    credit
        Where the road data come from (the bundled schematic map is the project's drawing).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    system = basemap.system if basemap is not None else "wgs84"
    frame = transform_frame(deltas, system)
    total = len(frame)
    busy = np.fmax(frame["flow_vph_a"].fillna(0), frame["flow_vph_b"].fillna(0))
    frame = frame.assign(_busy=busy).sort_values("_busy", kind="stable").tail(max_links)
    features, spread = _features(frame, labels, column)
    script, style = leaflet_assets()
    legend = _legend(spread, system, basemap, len(features), total)
    # Chinese glyphs embedded (subset to the characters used), as in the report
    shown = title + legend + credit + "".join(f["properties"]["tip"] for f in features)
    page = _PAGE.format(
        title=html.escape(title),
        font_faces=font_face_css(html.unescape(shown), ""),
        leaflet_css=style,
        leaflet_js=script,
        features=_json_for_script({"type": "FeatureCollection", "features": features}),
        basemap=_json_for_script(None if basemap is None else basemap.__dict__),
        credit=_json_for_script(f"cysim · {credit}"),
        legend=_json_for_script(legend),
    )
    with io.atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return Path(path)
