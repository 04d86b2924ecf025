"""The interactive map: self-contained (no remote script or style), offline in Chromium, one
feature per link, names escaped, and moved onto GCJ-02 base maps correctly."""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from helpers.plotcases import EVIL, synthetic_case
from shapely.geometry import shape

from cysim import chinacoords
from cysim._errors import CysimError
from cysim.report import basemaps, webmap

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chengyang"


@pytest.fixture(scope="module")
def case():
    return synthetic_case()


@pytest.fixture(scope="module")
def written(case, tmp_path_factory):
    path = tmp_path_factory.mktemp("webmap") / "map.html"
    webmap.interactive_map(case["deltas"], path, labels=("A", "B</script>"))
    return path


class _Assets(HTMLParser):
    """Every script, stylesheet and image reference of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if attrs.get(key):
                self.references.append(attrs[key])
        if tag == "script" and not attrs.get("src"):
            self.inline_scripts += 1


def _remote(reference: str) -> bool:
    return bool(re.match(r"^(https?:)?//", reference.strip(), flags=re.I))


def test_no_script_or_stylesheet_points_to_a_remote_host(written):
    text = written.read_text(encoding="utf-8")
    parser = _Assets()
    parser.feed(text)
    assert parser.inline_scripts >= 2  # Leaflet itself and the map
    assert not [r for r in parser.references if _remote(r)], parser.references
    styles = " ".join(re.findall(r"<style>(.*?)</style>", text, flags=re.S))
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", styles, flags=re.I)
    assert "Leaflet 1.9.3" in text  # Leaflet's own code is inlined, not fetched


def test_the_remote_check_would_catch_a_cdn_script():
    parser = _Assets()
    parser.feed('<script src="https://cdn.jsdelivr.net/npm/leaflet.js"></script>')
    assert [r for r in parser.references if _remote(r)]


def _features(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    raw = re.search(r"const links = (\{.*?\});\n", text, flags=re.S).group(1)
    return json.loads(raw)


def test_one_feature_per_link_with_hover_text(case, written):
    collection = _features(written)
    drawable = case["deltas"][~case["deltas"].geometry.is_empty]
    assert len(collection["features"]) == len(drawable)
    tips = [f["properties"]["tip"] for f in collection["features"]]
    assert all("flow veh/h" in t and "speed km/h" in t and "Δ speed" in t for t in tips)
    assert any("正阳路" in t and "primary" in t for t in tips)


def test_names_from_data_are_escaped(written):
    text = written.read_text(encoding="utf-8")
    assert EVIL not in text
    assert "B</script>" not in text
    collection = _features(written)
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in f["properties"]["tip"]
               for f in collection["features"])  # fmt: skip


def test_not_significant_links_are_grey(case, tmp_path):
    deltas = case["deltas"].copy()
    deltas["significant"] = np.arange(len(deltas)) % 2 == 0
    path = webmap.interactive_map(deltas, tmp_path / "map.html")
    features = _features(path)["features"]
    grey = [f for f in features if f["properties"]["colour"] == webmap.NOT_SIGNIFICANT_COLOUR]
    flagged = [f for f in features if "— not significant" in f["properties"]["tip"]]
    assert flagged and {id(f) for f in flagged} <= {id(f) for f in grey}


# --- coordinate systems --------------------------------------------------------------------

# Published by wandergis/coordtransform (README "result" block), computed for (116.404, 39.915).
REFERENCE_WGS84 = (116.404, 39.915)
REFERENCE_GCJ02 = (116.41024449916938, 39.91640428150164)
REFERENCE_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    from pyproj import Geod

    lon1, lat1, lon2, lat2 = np.broadcast_arrays(
        *(np.atleast_1d(x) for x in (lon1, lat1, lon2, lat2))
    )
    return np.abs(Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2])


def test_gcj02_matches_published_reference_points_within_a_metre():
    lon, lat = chinacoords.from_wgs84(
        np.array([REFERENCE_WGS84[0]]), np.array([REFERENCE_WGS84[1]]), "gcj02"
    )
    assert _metres(lon, lat, *REFERENCE_GCJ02)[0] < 1.0
    # BD-09 from that GCJ-02 point: through WGS 84 and back
    back_lon, back_lat = chinacoords.to_wgs84(np.array([116.404]), np.array([39.915]), "gcj02")
    bd_lon, bd_lat = chinacoords.from_wgs84(back_lon, back_lat, "bd09")
    assert _metres(bd_lon, bd_lat, *REFERENCE_GCJ02_TO_BD09)[0] < 1.0


def test_inverse_returns_to_wgs84_and_outside_china_nothing_moves():
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(120.2, 120.6, 200), rng.uniform(36.1, 36.5, 200)
    for system in ("gcj02", "bd09"):
        moved = chinacoords.from_wgs84(lon, lat, system)
        assert _metres(lon, lat, *moved).min() > 100  # hundreds of metres in Qingdao
        back = chinacoords.to_wgs84(*moved, system)
        assert _metres(lon, lat, *back).max() < 0.05  # the iterated inverse: about 1 cm
    assert chinacoords.from_wgs84(np.array([2.35]), np.array([48.85]), "gcj02") == (
        np.array([2.35]),
        np.array([48.85]),
    )


@pytest.mark.skipif(
    not (SHARED / "boundary_wgs84.geojson").is_file(),
    reason="../shared/data/chengyang/boundary_*.json is not beside the repository",
)
def test_gaode_layers_match_the_published_gcj02_district_boundary_within_15_m():
    wgs84 = gpd.read_file(SHARED / "boundary_wgs84.geojson")
    published = json.loads((SHARED / "boundary_gcj02.json").read_text(encoding="utf-8"))
    published = shape(published[0]["geometry"])
    tiles = basemaps.resolve_basemap("gaode")
    moved = chinacoords.transform_frame(wgs84, tiles.system).geometry.iloc[0]
    ours = np.asarray([c for poly in moved.geoms for c in poly.exterior.coords])
    theirs = np.asarray([c for poly in published.geoms for c in poly.exterior.coords])
    assert ours.shape == theirs.shape
    error = _metres(ours[:, 0], ours[:, 1], theirs[:, 0], theirs[:, 1])
    assert error.max() < 15.0, error.max()
    # and without the transform the boundary would be hundreds of metres off
    raw = np.asarray([c for poly in wgs84.geometry.iloc[0].geoms for c in poly.exterior.coords])
    assert _metres(raw[:, 0], raw[:, 1], theirs[:, 0], theirs[:, 1]).min() > 100


def test_base_map_choices_and_their_errors(monkeypatch):
    assert basemaps.resolve_basemap("none") is None
    assert basemaps.resolve_basemap("gaode").system == "gcj02"
    assert basemaps.resolve_basemap("tencent").system == "gcj02"
    assert basemaps.resolve_basemap("osm").system == "wgs84"
    monkeypatch.delenv(basemaps.TIANDITU_KEY_ENV, raising=False)
    with pytest.raises(CysimError, match="TIANDITU_KEY"):
        basemaps.resolve_basemap("tianditu")
    monkeypatch.setenv(basemaps.TIANDITU_KEY_ENV, "abc123")
    tianditu = basemaps.resolve_basemap("tianditu")
    assert "tk=abc123" in tianditu.url and tianditu.overlay_url
    with pytest.raises(CysimError, match="template"):
        basemaps.resolve_basemap("url", url="https://example.cn/tiles")
    custom = basemaps.resolve_basemap("url", url="https://e.cn/{z}/{x}/{y}.png", system="gcj02")
    assert custom.system == "gcj02"
    with pytest.raises(CysimError, match="unknown base map"):
        basemaps.resolve_basemap("baidu")


def test_map_on_gaode_tiles_moves_the_links_and_names_the_system(case, tmp_path):
    plain = _features(webmap.interactive_map(case["deltas"], tmp_path / "a.html"))
    path = webmap.interactive_map(
        case["deltas"], tmp_path / "b.html", basemap=basemaps.resolve_basemap("gaode")
    )
    moved = _features(path)
    a = np.array(plain["features"][0]["geometry"]["coordinates"])
    b = np.array(moved["features"][0]["geometry"]["coordinates"])
    assert 100 < _metres(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).min() < 1000
    text = path.read_text(encoding="utf-8")
    assert "GCJ-02" in text and "autonavi.com" in text


# --- in a real browser, with the network blocked -------------------------------------------


@pytest.mark.parametrize("tiles", ["none", "gaode"])
def test_map_draws_offline_in_chromium(case, tmp_path, tiles, offline_chromium):
    path = webmap.interactive_map(
        case["deltas"], tmp_path / "map.html", basemap=basemaps.resolve_basemap(tiles)
    )
    shot = tmp_path / "shot.png"
    command = offline_chromium(f"--screenshot={shot}", "--window-size=900,700")
    subprocess.run([*command, path.as_uri()], capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    from PIL import Image

    rgb = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert rgb.std() > 15  # a blank page has no spread
    # coloured (not grey) pixels: the links in red and blue, not only the legend's ramp
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    assert (saturation[:, :600] > 60).mean() > 0.005

    dom = subprocess.run(
        [*offline_chromium("--dump-dom"), path.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
        text=True,
    ).stdout
    drawn = len(re.findall(r"<path[^>]*class=\"leaflet-interactive\"", dom))
    drawable = int((~case["deltas"].geometry.is_empty).sum())
    assert drawn == drawable
    assert EVIL not in dom  # the road name shows as text (in the tooltip), never as a tag


def test_base_map_comes_from_the_report_section_or_the_command_line(tmp_path):
    from cysim import pipeline

    base = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.yaml"
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(f"name: s\nbase: {base}\nreport: {{basemap: gaode}}\n", "utf-8")
    assert pipeline.report_basemap(scenario_file).name == "gaode"
    assert pipeline.report_basemap(scenario_file, "none") is None
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    (run_folder / "scenario.yaml").write_text("name: old\n", encoding="utf-8")
    assert pipeline.report_basemap(run_folder) is None  # runs before the report: section
    assert pipeline.report_basemap(run_folder, "tencent").system == "gcj02"
    # the report section never changes which run is reused
    from cysim import scenario

    plain = tmp_path / "p.yaml"
    plain.write_text(f"name: s\nbase: {base}\n", "utf-8")
    assert (
        scenario.load_scenario(plain).fingerprint()
        == scenario.load_scenario(scenario_file).fingerprint()
    )


def test_geopackages_carry_gcj02_and_bd09_layers_on_request(case, tmp_path):
    import pyogrio

    from cysim import io

    path = io.write_layers_gpkg(
        tmp_path / "d.gpkg", {"link_deltas": case["deltas"]}, ("gcj02", "bd09")
    )
    layers = {name for name, _ in pyogrio.list_layers(path)}
    assert layers == {f"link_deltas_{s}" for s in ("wgs84", "utm", "gcj02", "bd09")}
    wgs84 = gpd.read_file(path, layer="link_deltas_wgs84")
    first = np.asarray(wgs84.geometry.iloc[0].coords)
    for system, (low, high) in {"gcj02": (300, 700), "bd09": (900, 1600)}.items():
        moved = gpd.read_file(path, layer=f"link_deltas_{system}")
        assert moved.crs.to_epsg() == 4326 and len(moved) == len(wgs84)
        shifted = np.asarray(moved.geometry.iloc[0].coords)
        offset = _metres(first[:, 0], first[:, 1], shifted[:, 0], shifted[:, 1])
        assert ((offset > low) & (offset < high)).all(), offset
    import sqlite3

    with sqlite3.connect(path) as db:
        descriptions = dict(db.execute("select table_name, description from gpkg_contents"))
    assert "GCJ-02" in descriptions["link_deltas_gcj02"]
    assert "BD-09" in descriptions["link_deltas_bd09"]
    assert all("not an EPSG system" in descriptions[f"link_deltas_{s}"] for s in ("gcj02", "bd09"))


def test_validate_checks_the_report_section_before_any_run(tmp_path, monkeypatch, capsys):
    import sys

    from cysim import cli

    base = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.yaml"
    monkeypatch.delenv(basemaps.TIANDITU_KEY_ENV, raising=False)
    cases = {
        "report: {basemap: tianditu}": ("[report.basemap]", "TIANDITU_KEY"),
        "report: {basemap: url, tiles_url: 'https://x.cn/{z}/{x}.png'}": (
            "[report.tiles_url]",
            "fix: e.g.",
        ),
    }
    for text, expected in cases.items():
        path = tmp_path / "s.yaml"
        path.write_text(f"name: s\nbase: {base}\n{text}\n", encoding="utf-8")
        monkeypatch.setattr(sys, "argv", ["cysim", "validate", str(path)])
        with pytest.raises(SystemExit) as caught:
            cli.main()
        out, err = capsys.readouterr()
        assert caught.value.code == 2, out + err
        assert all(e in err for e in expected), err
        assert "s.yaml:3" in err and "Traceback" not in out + err
