"""`cysim map fetch` against a local HTTP server serving recorded Nominatim/Overpass responses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import osmnx as ox
import pytest
from helpers.fixtures_osm import grid, lonlat, overpass_json
from typer.testing import CliRunner

from cysim._errors import MapError
from cysim.cli import app
from cysim.network import build as network
from cysim.network import fetch


def _nominatim_result() -> list[dict]:
    """A Nominatim ``search`` answer for 城阳区 whose polygon covers the test grid."""
    ring = [
        lonlat(x, y) for x, y in [(-100, -100), (500, -100), (500, 500), (-100, 500), (-100, -100)]
    ]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    return [
        {
            "place_id": 1,
            "licence": "Data © OpenStreetMap contributors, ODbL 1.0",
            "osm_type": "relation",
            "osm_id": 3374221,
            "lat": str(sum(lats[:4]) / 4),
            "lon": str(sum(lons[:4]) / 4),
            "class": "boundary",
            "type": "administrative",
            "place_rank": 12,
            "importance": 0.55,
            "addresstype": "district",
            "name": "城阳区",
            "display_name": "城阳区, 青岛市, 山东省, 中国",
            "boundingbox": [str(min(lats)), str(max(lats)), str(min(lons)), str(max(lons))],
            "geojson": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        }
    ]


#: Overpass ``/status`` text as the server sends it (osmnx reads the slots line to pace queries).
OVERPASS_STATUS = (
    "Connected as: 2130706433\n"
    "Current time: 2026-01-01T00:00:00Z\n"
    "Announced endpoint: none\n"
    "Rate limit: 2\n"
    "2 slots available now.\n"
    "Currently running queries (pid, space limit, time limit, start time):\n"
)


class _Recorded(BaseHTTPRequestHandler):
    """Serves the recorded answers and logs every request path."""

    requests: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, body: object, status: int = 200) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        type(self).requests.append(f"GET {self.path}")
        if self.path.startswith("/nominatim/search"):
            self._send(_nominatim_result())
        elif self.path.startswith("/api/status"):
            text = OVERPASS_STATUS.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
        else:
            self._send({"error": "not recorded"}, status=404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        type(self).requests.append(f"POST {self.path}")
        if self.path.startswith("/api/interpreter"):
            self._send(overpass_json(grid(3, 200.0)))
        else:
            self._send({"error": "not recorded"}, status=404)


@pytest.fixture()
def server() -> Iterator[str]:
    """A recorded Overpass/Nominatim server on 127.0.0.1 (random port); yields its base URL."""
    _Recorded.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _fetch(server: str, output: Path, **kwargs: object) -> Path:
    return fetch.fetch_network(
        output=output,
        overpass_url=f"{server}/api",
        nominatim_url=f"{server}/nominatim/",
        use_cache=False,
        rate_limit=False,
        **kwargs,
    )


def test_fetch_place_to_graphml_loads_and_restores_osmnx_settings(
    server: str, tmp_path: Path
) -> None:
    before = (
        ox.settings.overpass_url,
        ox.settings.nominatim_url,
        ox.settings.use_cache,
        ox.settings.all_oneway,
        list(ox.settings.useful_tags_way),
    )
    out = _fetch(server, tmp_path / "maps" / "chengyang.graphml", place="城阳区, 青岛市")
    after = (
        ox.settings.overpass_url,
        ox.settings.nominatim_url,
        ox.settings.use_cache,
        ox.settings.all_oneway,
        list(ox.settings.useful_tags_way),
    )
    assert before == after
    assert any(r.startswith("GET /nominatim/search") for r in _Recorded.requests)
    assert any(r.startswith("POST /api/interpreter") for r in _Recorded.requests)
    G = network.load_network(out)
    # 3×3 grid: 9 junction nodes, 12 two-way blocks = 24 directed links
    assert len(G) == 9
    assert G.number_of_edges() == 24
    names = {d["name"] for *_, d in G.edges(data=True)}
    assert {"正阳路0", "支路1"} <= names
    primary = [d for *_, d in G.edges(data=True) if d["highway"] == "primary"]
    assert all(d["lanes"] == 2 and d["speed_kph"] == 50.0 for d in primary)
    assert G.graph["crs"] == "EPSG:32651"


def test_fetch_polygon_to_osm_is_loadable(server: str, tmp_path: Path) -> None:
    ring = [lonlat(x, y) for x, y in [(-50, -50), (450, -50), (450, 450), (-50, 450), (-50, -50)]]
    polygon_file = tmp_path / "area.geojson"
    polygon_file.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
                    }
                ],
            }
        )
    )
    out = _fetch(server, tmp_path / "area.osm", polygon_path=polygon_file)
    assert not any("nominatim" in r for r in _Recorded.requests)  # a polygon needs no geocoding
    G = network.load_network(out)
    assert len(G) == 9
    assert G.number_of_edges() == 24


def test_fetch_unreachable_server_is_a_map_error(tmp_path: Path) -> None:
    with pytest.raises(MapError, match="cannot reach"):
        fetch.fetch_network(
            place="城阳区, 青岛市",
            output=tmp_path / "x.graphml",
            overpass_url="http://127.0.0.1:9/api",
            nominatim_url="http://127.0.0.1:9/",
            use_cache=False,
            rate_limit=False,
        )


def test_fetch_rejects_bad_output_and_polygon(tmp_path: Path) -> None:
    with pytest.raises(MapError, match=r"\.graphml or \.osm"):
        fetch.fetch_network(output=tmp_path / "x.png")
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(MapError, match="no polygon"):
        fetch.fetch_network(polygon_path=bad, output=tmp_path / "x.graphml")


def test_cli_fetch_with_rate_limit_status(server: str, tmp_path: Path) -> None:
    out = tmp_path / "maps" / "cy.graphml"
    result = CliRunner().invoke(
        app,
        [
            "map",
            "fetch",
            "--place",
            "城阳区, 青岛市",
            "-o",
            str(out),
            "--no-cache",
            "--overpass-url",
            f"{server}/api",
            "--nominatim-url",
            f"{server}/nominatim/",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "GET /api/status" in _Recorded.requests  # osmnx asked for a slot first
    assert f"wrote {out}" in result.output
    assert "junctions 5" in result.output  # the 3×3 grid: 5 nodes where ≥ 3 streets meet
    assert network.load_network(out).number_of_edges() == 24


def test_default_output_names() -> None:
    assert fetch.default_output(None, None) == Path("maps/chengyang.graphml")
    assert fetch.default_output("Tempe, Arizona", None) == Path("maps/tempe-arizona.graphml")
    assert fetch.default_output(None, Path("b/boundary_wgs84.geojson")) == Path(
        "maps/boundary_wgs84.graphml"
    )
