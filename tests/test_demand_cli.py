"""The ``cysim demand`` command on a small OSM map written by the test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from cysim.cli import app

LON0, LAT0, STEP = 120.37, 36.28, 0.006  # about 540 m east-west, 670 m north-south


def _write_osm(path: Path, size: int = 5) -> None:
    """A size × size grid of two-way streets: rows alternate primary/residential."""
    nodes, ways = [], []
    for r in range(size):
        for c in range(size):
            node_id = 1 + r * size + c
            tags = '<tag k="highway" v="traffic_signals"/>' if (r + c) % 2 == 0 else ""
            nodes.append(
                f'<node id="{node_id}" lat="{LAT0 + r * STEP:.6f}" lon="{LON0 + c * STEP:.6f}" '
                f'version="1">{tags}</node>'
            )
    way_id = 1000
    for r in range(size):
        refs = "".join(f'<nd ref="{1 + r * size + c}"/>' for c in range(size))
        highway = "primary" if r % 2 == 0 else "residential"
        ways.append(
            f'<way id="{way_id}" version="1">{refs}<tag k="highway" v="{highway}"/>'
            f'<tag k="name" v="横{r}路"/></way>'
        )
        way_id += 1
    for c in range(size):
        refs = "".join(f'<nd ref="{1 + r * size + c}"/>' for r in range(size))
        ways.append(
            f'<way id="{way_id}" version="1">{refs}<tag k="highway" v="secondary"/>'
            f'<tag k="name" v="纵{c}路"/></way>'
        )
        way_id += 1
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
        + "\n".join(nodes + ways)
        + "\n</osm>\n",
        encoding="utf-8",
    )


def test_demand_command_prints_summary_and_writes_outputs(tmp_path: Path) -> None:
    _write_osm(tmp_path / "grid.osm")
    (tmp_path / "s.yaml").write_text(
        "name: grid-test\nmap: grid.osm\n"
        "demand:\n  zones: {grid_m: 1000}\n  trips: 3000\n  sample_factor: 0.5\n"
        "simulation: {seed: 4}\n",
        encoding="utf-8",
    )
    out_csv = tmp_path / "out" / "trips.csv"
    out_png = tmp_path / "out" / "desire.png"
    result = CliRunner().invoke(
        app,
        [
            "demand",
            str(tmp_path / "s.yaml"),
            "--trips-out",
            str(out_csv),
            "--map-out",
            str(out_png),
        ],
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "car trips: 1,500" in text and "sampled 0.5 of 3,000" in text
    assert "Departures per 15 min" in text and "07:30–07:45" in text
    assert "Top 10 OD pairs" in text
    assert "mean free-flow trip:" in text
    trips = pd.read_csv(out_csv, encoding="utf-8-sig")
    assert len(trips) == 1500
    assert list(trips.columns[:4]) == ["trip_id", "origin_node", "destination_node", "departure_s"]
    assert out_png.stat().st_size > 10_000
    assert not list((tmp_path / "out").glob(".*tmp*"))  # atomic writes left no temp files
    # Parquet output works too and matches the CSV (same seed).
    result = CliRunner().invoke(
        app, ["demand", str(tmp_path / "s.yaml"), "--trips-out", str(tmp_path / "t.parquet")]
    )
    assert result.exit_code == 0, result.output
    parquet = pd.read_parquet(tmp_path / "t.parquet")
    assert parquet["origin_node"].tolist() == trips["origin_node"].tolist()


def test_demand_command_rejects_unknown_output_format(tmp_path: Path) -> None:
    _write_osm(tmp_path / "grid.osm", size=3)
    (tmp_path / "s.yaml").write_text("name: g\nmap: grid.osm\ndemand: {trips: 10}\n")
    result = CliRunner().invoke(
        app, ["demand", str(tmp_path / "s.yaml"), "--trips-out", str(tmp_path / "t.xlsx")]
    )
    assert result.exit_code != 0
    assert "unknown format" in str(result.exception)
