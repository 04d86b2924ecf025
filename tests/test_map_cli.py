"""`cysim map info|plot|fetch` from the command line: output, PNG, one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.fixtures_osm import dual_carriageway_crossing, write_osm
from PIL import Image
from typer.testing import CliRunner

from cysim.cli import app, main

runner = CliRunner()


@pytest.fixture(scope="module")
def dual_osm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ways, node_tags = dual_carriageway_crossing()
    return write_osm(tmp_path_factory.mktemp("cli") / "dual.osm", ways, node_tags)


def test_map_info_prints_the_summary(shared_data: Path) -> None:
    result = runner.invoke(app, ["map", "info", str(shared_data / "osm" / "tempe-asu.osm")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "map tempe-asu (EPSG:32612)" in out
    assert "junctions" in out and "signalised" in out
    assert "primary" in out and "residential" in out
    assert "defaulted: lanes" in out
    assert "bounding box lon -111.9" in out
    assert "dropped outside the largest strongly connected part" in out


def test_map_info_json(dual_osm: Path) -> None:
    result = runner.invoke(app, ["map", "info", str(dual_osm), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["summary"]["junctions"] == 1
    assert data["summary"]["signalised_junctions"] == 1
    assert data["load_report"]["signals"]["assigned"] == 5


def test_map_info_tolerance_zero_keeps_the_four_nodes(dual_osm: Path) -> None:
    result = runner.invoke(app, ["map", "info", str(dual_osm), "--tolerance", "0", "--json"])
    assert json.loads(result.output)["summary"]["junctions"] == 4


def test_map_plot_writes_a_png(dual_osm: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs" / "dual.png"
    result = runner.invoke(
        app, ["map", "plot", str(dual_osm), "-o", str(out), "--title", "长城路 × 春阳路"]
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width > 400 and height > 400
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    # the arterial colour of the class legend is drawn on the map
    assert any(rgb == (0xE6, 0x7E, 0x22) for _, rgb in colours)


def test_map_plot_around_a_road_writes_a_file_others_can_read(
    dual_osm: Path, tmp_path: Path
) -> None:
    out = tmp_path / "around.png"
    old_umask = os.umask(0o022)
    try:
        result = runner.invoke(
            app,
            [
                "map",
                "plot",
                str(dual_osm),
                "-o",
                str(out),
                "--around",
                "春阳路",
                "--margin-m",
                "50",
            ],
        )
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    # rw-r--r--, as any file a planner shares: not the 0600 of a temporary file
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    with Image.open(out) as image:
        assert image.format == "PNG"


def test_map_plot_bbox_writes_a_png(dual_osm: Path, tmp_path: Path) -> None:
    out = tmp_path / "box.png"
    result = runner.invoke(
        app,
        ["map", "plot", str(dual_osm), "-o", str(out), "--bbox", "120.398,36.298,120.402,36.302"],
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


def _main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["cysim", *args])
    with pytest.raises(SystemExit) as caught:
        main()
    return caught.value.code or 0, capsys.readouterr().err


def test_map_plot_view_errors_exit_2(dual_osm: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = str(tmp_path / "x.png")
    code, err = _main(
        monkeypatch, capsys, "map", "plot", str(dual_osm), "-o", out, "--around", "长成路"
    )
    assert code == 2
    assert err.startswith("error: [--around]: road '长成路' not found in the map; closest: 长城路")
    for view in (
        ["--bbox", "1,2,3"],
        ["--bbox", "120.5,36.2,120.4,36.3"],
        ["--bbox", "100,10,101,11"],
    ):
        code, err = _main(monkeypatch, capsys, "map", "plot", str(dual_osm), "-o", out, *view)
        assert code == 2 and "Traceback" not in err, err
    both = ["--bbox", "120.39,36.29,120.41,36.31", "--around", "长城路"]
    code, err = _main(monkeypatch, capsys, "map", "plot", str(dual_osm), "-o", out, *both)
    assert code == 2 and "not both" in err
    assert not Path(out).exists()


HELP_ARGS = [
    ["map", "--help"],
    ["map", "info", "--help"],
    ["map", "plot", "--help"],
    ["map", "fetch", "--help"],
]


@pytest.mark.parametrize("args", HELP_ARGS)
def test_every_map_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_bad_files_give_one_line_errors_and_exit_2(tmp_path: Path, shared_data: Path) -> None:
    empty = tmp_path / "empty.osm"
    empty.write_text("")
    truncated = tmp_path / "cut.osm"
    truncated.write_bytes((shared_data / "osm" / "tempe-asu.osm").read_bytes()[:50_000])
    garbage = tmp_path / "noise.osm"
    garbage.write_bytes(bytes(range(256)) * 8)
    # one interpreter for all four cases keeps the test quick (importing osmnx takes seconds)
    script = (
        "import sys\n"
        "from cysim.cli import main\n"
        "for path in sys.argv[1:]:\n"
        "    sys.argv = ['cysim', 'map', 'info', path]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exit_:\n"
        "        print('EXIT', exit_.code, file=sys.stderr)\n"
    )
    cases = [tmp_path / "missing.osm", empty, truncated, garbage]
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, cases)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert [line for line in lines if line.startswith("EXIT")] == ["EXIT 2"] * 4
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 4
    for path, line, words in zip(
        cases, errors, ["not found", "empty", "truncated", "not OSM"], strict=True
    ):
        assert str(path) in line and words in line and "fix:" in line


def test_bundled_map_info(project_root: Path) -> None:
    bundled = project_root / "maps" / "chengyang-arterials.osm"
    if not bundled.is_file():
        pytest.skip("maps/chengyang-arterials.osm not drawn yet")
    result = runner.invoke(app, ["map", "info", str(bundled), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["summary"]
    assert summary["crs"] == "EPSG:32651"
    assert summary["junctions"] >= 300
    assert summary["signalised_junctions"] >= 40
