"""Results folders: atomic writes, COMPLETE markers, reuse, locks, safe names, GeoPackage layers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest
from helpers.toyresults import toy_graph, toy_result

from cysim import io
from cysim._errors import ResultsError
from cysim.results import metrics


def test_atomic_write_leaves_no_partial_file_when_writer_fails(tmp_path):
    target = tmp_path / "summary.json"
    io.write_json(target, {"old": 1})
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text('{"half": ', encoding="utf-8")
        raise RuntimeError("writer died mid-way")
    assert json.loads(target.read_text(encoding="utf-8")) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]

    class Broken:
        def to_parquet(self, path, index=False):
            path.write_bytes(b"PAR1 partial")
            raise OSError("disk full")

    with pytest.raises(OSError):
        io.write_parquet(tmp_path / "links.parquet", Broken())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_json_is_strict_and_unicode(tmp_path):
    import numpy as np

    path = io.write_json(
        tmp_path / "a.json", {"x": np.float64("nan"), "n": np.int64(3), "名": "路"}
    )
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {"x": None, "n": 3, "名": "路"} and "路" in text


def test_run_folder_lifecycle_and_reuse(tmp_path):
    partial = io.new_run_dir("baseline", "run-1", root=tmp_path)
    assert partial.name == ".run-1.partial" and partial.parent == tmp_path / "baseline"
    io.write_csv(partial / "timeseries.csv", pd.DataFrame({"a": [1]}))
    # not complete yet: never reused
    assert io.find_complete_run("baseline", "fp", 1, "0.1.0", root=tmp_path) is None
    final = io.finalize(partial, fingerprint="fp", seed=1, version="0.1.0", extra={"reps": 3})
    assert final == tmp_path / "baseline" / "run-1" and not partial.exists()
    assert io.read_marker(final)["reps"] == 3
    assert io.find_complete_run("baseline", "fp", 1, "0.1.0", root=tmp_path) == final
    assert io.find_complete_run("baseline", "fp", 2, "0.1.0", root=tmp_path) is None
    assert io.find_complete_run("baseline", "other", 1, "0.1.0", root=tmp_path) is None
    assert io.find_complete_run("baseline", "fp", 1, "0.2.0", root=tmp_path) is None
    # a folder that looks finished but lacks the marker (crash after rename of a copy) is ignored
    fake = tmp_path / "baseline" / "run-2"
    fake.mkdir()
    (fake / "summary.json").write_text("{}", encoding="utf-8")
    assert io.find_complete_run("baseline", "fp", 1, "0.1.0", root=tmp_path) == final
    with pytest.raises(ResultsError, match="already exists"):
        io.new_run_dir("baseline", "run-1", root=tmp_path)


@pytest.mark.parametrize("bad", ["../evil", "a/b", "..", ".hidden", "x\\y", "", "a\nb"])
def test_names_cannot_escape_results(tmp_path, bad):
    with pytest.raises(ResultsError):
        io.scenario_dir(bad, root=tmp_path)


def test_safe_name_keeps_chinese_and_replaces_odd_characters():
    assert io.safe_name("文阳路 改建") == "文阳路_改建"
    assert io.safe_name("wenyang-rebuild") == "wenyang-rebuild"
    assert io.make_run_id(7, "abcdef123456").endswith("-s7-abcdef12")


def test_lock_excludes_a_second_writer_in_the_same_process(tmp_path):
    with io.scenario_lock("baseline", root=tmp_path) as lock:
        assert lock == tmp_path / "baseline" / io.LOCK_NAME and lock.exists()
        with (
            pytest.raises(ResultsError, match="another cysim process is writing results of"),
            io.scenario_lock("baseline", root=tmp_path),
        ):
            pass
        with io.scenario_lock("other", root=tmp_path):  # another scenario is not blocked
            pass
    # released: the file stays (filelock keeps it), but the next writer takes the lock at once
    assert lock.exists()
    with io.scenario_lock("baseline", root=tmp_path) as again:
        assert again == lock


#: Holds the lock of scenario "baseline" in results root argv[1], like ``cysim run`` does, with a
#: forked child that outlives it (as the replication pool's workers would); prints the child's pid.
_HOLDER = """
import os, sys, time
from pathlib import Path
from cysim import io
with io.scenario_lock("baseline", root=Path(sys.argv[1])):
    child = os.fork()
    if child == 0:
        time.sleep(120)
        os._exit(0)
    print(child, flush=True)
    time.sleep(120)
"""


def test_a_second_process_gets_a_clear_error_and_a_killed_holder_blocks_nothing(tmp_path):
    lock = tmp_path / "baseline" / io.LOCK_NAME
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    worker = None
    try:
        worker = int(holder.stdout.readline())
        # a second writer of the same scenario is refused at once, with what to do
        with pytest.raises(ResultsError) as caught, io.scenario_lock("baseline", root=tmp_path):
            pass
        message = str(caught.value)
        assert message.startswith(f"{lock}: another cysim process is writing results of 'baseline'")
        assert "(fix: wait for that run to finish, then run again;" in message
        assert "\n" not in message
        # SIGKILL: no cleanup runs; the lock file is left behind and the forked worker lives on
        holder.kill()
        holder.wait(timeout=30)
        assert lock.exists()
        os.kill(worker, 0)
        # the dead process's lock file does not block the next run
        with io.scenario_lock("baseline", root=tmp_path) as taken:
            assert taken == lock
    finally:
        holder.kill()
        holder.wait(timeout=30)
        if worker is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)


def test_links_gpkg_has_two_layers_with_crs_and_columns(tmp_path):
    links = metrics.link_table(toy_result(), toy_graph())
    path = io.write_links_gpkg(tmp_path / "links.gpkg", links)
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(path)}
    assert layers == {"links_wgs84", "links_utm"}
    wgs = gpd.read_file(path, layer="links_wgs84")
    utm = gpd.read_file(path, layer="links_utm")
    assert wgs.crs.to_epsg() == 4326 and utm.crs.to_epsg() == 32651
    for column in ("u", "v", "key", "name", "flow_vph", "v_c", "mean_speed_kph", "spillback_min"):
        assert column in wgs.columns and column in utm.columns
    assert list(wgs["name"]) == ["正阳路", "长城路"]
    assert 120.0 < wgs.geometry.iloc[0].coords[0][0] < 121.0  # longitude near Qingdao
    assert utm.geometry.iloc[1].length == pytest.approx(500.0)
    assert [p.name for p in tmp_path.iterdir()] == ["links.gpkg"]


def test_parquet_and_csv_round_trip(tmp_path):
    links = metrics.link_table(toy_result(), toy_graph())
    io.write_parquet(tmp_path / "links.parquet", links)
    back = gpd.read_parquet(tmp_path / "links.parquet")
    assert back.crs.to_epsg() == 32651 and list(back["flow_veh"]) == [4, 3]
    io.write_csv(tmp_path / "links.csv", links)
    csv = pd.read_csv(tmp_path / "links.csv", encoding="utf-8-sig")
    assert csv["geometry"].iloc[0].startswith("LINESTRING") and csv["name"].iloc[1] == "长城路"


@pytest.mark.parametrize("make", ["lock", "run_dir"])
def test_a_results_root_that_cannot_hold_folders_is_a_results_error(tmp_path, make):
    root = tmp_path / "not-a-folder"
    root.write_text("a file where the results folder should be", encoding="utf-8")
    with pytest.raises(ResultsError) as caught:
        if make == "lock":
            with io.scenario_lock("s", root=root):
                pass
        else:
            io.new_run_dir("s", "run1", root=root)
    message = str(caught.value)
    assert f"cannot create the results folder {root / 's'}" in message
    assert "--results" in message and "\n" not in message


def test_layers_are_single_geometry_in_both_crs_and_empty_ones_left_out(tmp_path):
    from shapely.geometry import LineString, Point

    crs = "EPSG:32651"
    lines = gpd.GeoDataFrame({"u": [1]}, geometry=[LineString([(0, 0), (1, 1)])], crs=crs)
    points = gpd.GeoDataFrame({"node": [1]}, geometry=[Point(0, 0)], crs=crs)
    empty = gpd.GeoDataFrame({"node": []}, geometry=[], crs=crs)
    path = io.write_layers_gpkg(tmp_path / "x.gpkg", {"lines": lines, "empty": empty})
    import pyogrio

    assert {name for name, _ in pyogrio.list_layers(path)} == {"lines_wgs84", "lines_utm"}
    mixed = pd.concat([lines, points], ignore_index=True)
    with pytest.raises(ResultsError, match="mixes geometry types"):
        io.write_layers_gpkg(tmp_path / "mixed.gpkg", {"patched": mixed})
    with pytest.raises(ResultsError, match="no CRS"):
        io.write_layers_gpkg(
            tmp_path / "nocrs.gpkg", {"lines": lines.set_crs(None, allow_override=True)}
        )
    assert not (tmp_path / "mixed.gpkg").exists()


def test_patched_layers_read_back_in_one_table_and_the_old_mixed_layer_too(tmp_path):
    from shapely.geometry import LineString, Point

    crs = "EPSG:32651"
    lines = gpd.GeoDataFrame({"kind": ["edge"]}, geometry=[LineString([(0, 0), (9, 9)])], crs=crs)
    points = gpd.GeoDataFrame({"kind": ["node"]}, geometry=[Point(5, 5)], crs=crs)
    io.write_layers_gpkg(
        tmp_path / "patched.gpkg", {"changed_links": lines, "changed_junctions": points}
    )
    both = io.read_patched_gpkg(tmp_path / "patched.gpkg")
    assert list(both["kind"]) == ["edge", "node"] and both.crs.to_epsg() == 32651
    old = tmp_path / "old" / "patched.gpkg"
    io.write_gpkg(old, {"patched": pd.concat([lines, points], ignore_index=True)})
    assert list(io.read_patched_gpkg(old)["kind"]) == ["edge", "node"]
    assert io.read_patched_gpkg(tmp_path / "missing.gpkg") is None


def test_points_csv_has_lon_lat_and_numbers_rounded_by_unit(tmp_path):
    from shapely.geometry import Point

    table = gpd.GeoDataFrame(
        {
            "node": [5],
            "mean_control_delay_s": [12.3456],
            "flow_vph": [812.7],
            "max_degree_of_saturation": [0.91234],
            "tiny_delay_s": [-0.0001],
            "other": [1.23456789],
        },
        geometry=[Point(300000.0, 4020000.0)],
        crs="EPSG:32651",
    )
    io.write_points_csv(tmp_path / "j.csv", table)
    back = pd.read_csv(tmp_path / "j.csv", encoding="utf-8-sig")
    row = back.iloc[0]
    assert (row["mean_control_delay_s"], row["flow_vph"]) == (12.3, 813.0)
    assert row["max_degree_of_saturation"] == 0.912 and row["other"] == 1.23456789
    assert "-0.0" not in (tmp_path / "j.csv").read_text(encoding="utf-8-sig")
    assert 120.0 < row["lon"] < 121.0 and 36.0 < row["lat"] < 37.0
    assert "geometry" not in back.columns
    assert io.csv_decimals("d_flow_vph_ci_low") == 0 and io.csv_decimals("label") is None
