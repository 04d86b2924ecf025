"""End to end on the bundled map: run two small scenarios, reuse, compare, report (DESIGN §6)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from conftest import BUNDLED_MAP, PROJECT_ROOT

from cysim import io, pipeline
from cysim._errors import ResultsError
from cysim.results import compare

pytestmark = pytest.mark.skipif(not BUNDLED_MAP.exists(), reason="bundled map not present")

HOSTILE_TITLE = "Small <script>alert(1)</script>"


@pytest.fixture(scope="module")
def scenario_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny baseline (few trips, short period) and a 文阳路 widening on top of it."""
    folder = tmp_path_factory.mktemp("scenarios")
    base = PROJECT_ROOT / "scenarios" / "baseline.yaml"
    (folder / "small.yaml").write_text(
        f"name: small-base\n"
        f'title: "{HOSTILE_TITLE}"\n'
        f"base: {base}\n"
        "demand: {trips: 800, profile: uniform, sample_factor: 1.0}\n"
        "simulation: {duration_s: 1200, cooldown_s: 900, replications: 2, seed: 7,\n"
        "             route_choice: {iterations: 1}}\n",
        encoding="utf-8",
    )
    (folder / "small-wen.yaml").write_text(
        "name: small-wen\n"
        "title: 文阳路 widened\n"
        "base: small.yaml\n"
        "patches:\n"
        "  - type: widen_road\n"
        "    road: 文阳路\n"
        "    lanes_per_direction: 3\n"
        "  - type: channelize\n"
        "    junction: [长城路, 文阳路]\n"
        "    add_turn_lanes: {left: 1}\n"
        "    pocket_length_m: 60\n",
        encoding="utf-8",
    )
    return {"a": folder / "small.yaml", "b": folder / "small-wen.yaml"}


@pytest.fixture(scope="module")
def results_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def comparison(scenario_files, results_root) -> pipeline.CompareOutcome:
    return pipeline.compare_scenarios(
        scenario_files["a"], scenario_files["b"], results_root=results_root
    )


def test_run_folder_has_every_output(comparison: pipeline.CompareOutcome) -> None:
    run_dir = comparison.a.run_dir
    assert run_dir.parent.name == "small-base"
    for name in (
        "COMPLETE",
        "scenario.yaml",
        "summary.json",
        "links.parquet",
        "links.gpkg",
        "junctions.parquet",
        "approaches.parquet",
        "junctions.gpkg",
        "junctions.csv",
        "approaches.csv",
        "trips.parquet",
        "timeseries.csv",
        "route_choice.csv",
        "patches.txt",
        "log.txt",
        "figures/congestion.png",
    ):
        assert (run_dir / name).is_file(), name
    # No partial folders are left behind.
    assert not [p for p in run_dir.parent.iterdir() if p.name.endswith(io.PARTIAL_SUFFIX)]


def test_summary_holds_replications_and_their_mean(comparison) -> None:
    summary = json.loads((comparison.a.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["seeds"] == [7, 8]
    reps = summary["replications"]
    assert len(reps) == 2
    for kpi in ("vkt_km", "vht_h", "mean_trip_time_s", "travel_time_index"):
        values = [r[kpi] for r in reps]
        assert summary["kpis"][kpi]["mean"] == pytest.approx(np.mean(values))
        low, high = summary["kpis"][kpi]["ci95_low"], summary["kpis"][kpi]["ci95_high"]
        assert low <= np.mean(values) <= high
    # Every vehicle is accounted for in every replication.
    for rep in reps:
        assert rep["trips_total"] == 800
        assert rep["trips_completed"] + rep["trips_unfinished"] == rep["trips_total"]
    assert reps[0] != reps[1], "different seeds must give different replications"


def test_links_outputs_have_crs_and_replications(comparison) -> None:
    run_dir = comparison.a.run_dir
    layers = {name for name, _ in pyogrio.list_layers(run_dir / "links.gpkg")}
    assert {"links_wgs84", "links_utm"} <= layers
    wgs = gpd.read_file(run_dir / "links.gpkg", layer="links_wgs84")
    utm = gpd.read_file(run_dir / "links.gpkg", layer="links_utm")
    assert wgs.crs.to_epsg() == 4326 and utm.crs.to_epsg() == 32651
    assert 120.0 < wgs.total_bounds[0] < 121.0 and 36.0 < wgs.total_bounds[1] < 37.0
    links = pd.read_parquet(run_dir / "links.parquet")
    assert set(links["seed"]) == {7, 8}
    assert {"flow_vph", "mean_speed_kph", "v_c", "queue_max_veh", "spillback_min"} <= set(
        links.columns
    )
    trips = pd.read_parquet(run_dir / "trips.parquet")
    assert len(trips) == 1600  # 800 trips × 2 replications


def test_patch_only_changes_the_widened_road(comparison) -> None:
    log = (comparison.b.run_dir / "patches.txt").read_text(encoding="utf-8")
    assert "文阳路" in log
    assert comparison.b.patched is not None and not comparison.b.patched.empty
    keys = ["u", "v", "key"]
    merged = comparison.a.links.merge(comparison.b.links, on=keys, suffixes=("_a", "_b"))
    assert len(merged) == len(comparison.a.links) == len(comparison.b.links)
    changed = merged[merged["lanes_a"] != merged["lanes_b"]]
    assert not changed.empty
    assert all("文阳" in name for name in changed["name_a"])
    assert (changed["lanes_b"] == 3).all()
    assert np.allclose(
        changed["capacity_vph_b"] / changed["capacity_vph_a"],
        changed["lanes_b"] / changed["lanes_a"],
    )
    untouched = merged[merged["lanes_a"] == merged["lanes_b"]]
    assert np.allclose(untouched["capacity_vph_a"], untouched["capacity_vph_b"])


def test_comparison_outputs_and_escaped_report(comparison) -> None:
    out = comparison.out_dir
    table = pd.read_csv(out / "comparison.csv", index_col=0)
    assert {"mean_a", "mean_b", "difference", "pct_change", "ci_low", "ci_high"} <= set(
        table.columns
    )
    # rounded to the KPI's decimals (vehicle-km: whole numbers), units in the unit column
    assert table.loc["vkt_km", "mean_a"] == round(np.mean([k["vkt_km"] for k in comparison.a.kpis]))
    assert table.loc["vkt_km", "unit"] == "veh·km"
    assert table.loc["travel_time_index", "mean_a"] == pytest.approx(
        comparison.table.loc["travel_time_index", "mean_a"], abs=5e-4
    )
    text = (out / "comparison.csv").read_text(encoding="utf-8-sig")
    assert not re.search(r"\d\.\d{4,}", text), "no long decimals in comparison.csv"
    # counts' intervals stay at or above 0 on each side
    assert (
        (table.loc[["trips_unfinished", "trips_stuck"], ["a_ci_low", "b_ci_low"]] >= 0).all().all()
    )
    for figure in ("kpi_bars", "congestion_a", "congestion_b", "difference", "timeseries"):
        assert (out / "figures" / f"{figure}.png").stat().st_size > 10_000, figure
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "文阳路" in html
    assert "路口 · Junctions" in html
    deltas = pd.read_csv(out / "approach_deltas.csv")
    assert {"max_degree_of_saturation_a", "max_degree_of_saturation_b", "los_a"} <= set(
        deltas.columns
    )
    # the widened road's junctions come first, flagged as the measure's
    assert deltas["measure"].iloc[0]
    assert deltas.loc[deltas["measure"], "road"].str.contains("文阳").any()


def test_report_junction_table_shows_the_channelised_junction_first(comparison) -> None:
    import html as html_lib
    import re

    page = (comparison.out_dir / "report.html").read_text(encoding="utf-8")
    section = page[page.index("<h2>路口 · Junctions</h2>") :]
    table = section[: section.index("</table>")]
    rows = [
        [
            html_lib.unescape(re.sub(r"<[^>]+>", "", c))
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r)
        ]
        for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S)
    ]
    header, first_junction = rows[0], rows[1]
    assert "最大排队 Queue veh (A)" in header and "服务水平 LOS (A)" in header
    # the junction a patch changed itself comes first, as a signalised junction with its LOS
    assert "长城路" in first_junction[0] and "文阳路" in first_junction[0]
    assert "信号 signal" in first_junction[0]
    assert first_junction[3] in "ABCDEF" and first_junction[4] in "ABCDEF"
    approaches = []
    for row in rows[2:]:
        if len(row) != 11:
            break
        approaches.append(row)
    # each approach named by the side it comes from, with before/after figures
    assert len(approaches) >= 3
    assert all(re.match(r"[东南西北]进口 [NESW] ", row[0]) for row in approaches)
    assert all(row[7] in "ABCDEF–" and row[8] in "ABCDEF–" for row in approaches)
    assert all(row[9] != "" and row[10] != "" for row in approaches)
    # the change log speaks in road names, not edge ids
    log = page[page.index("方案改动记录") :]
    assert "pocket_left 0 → 1" in log and "edge " not in log[:2000]


def test_comparison_judges_the_links_near_the_measure(comparison) -> None:
    out = comparison.out_dir
    near = pd.read_csv(out / "near_measure.csv", index_col=0)
    assert list(near.index) == ["near_delay_vh", "near_vkt_km", "near_delay_s_per_km"]
    assert (near[["n_a", "n_b"]] == 2).all().all()
    assert near.loc["near_delay_vh", "method"] == "paired t"
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Near the measure (links within 2 km)" in html
    # the near links are a part of the network: their vehicle-km are below the network's
    assert near.loc["near_vkt_km", "mean_a"] < comparison.table.loc["vkt_km", "mean_a"]


def test_near_measure_links_are_those_within_the_radius() -> None:
    from shapely.geometry import LineString

    lines = [LineString([(x, 0), (x + 100, 0)]) for x in (0, 500, 1500, 5000)]
    links = gpd.GeoDataFrame(
        {"u": [1, 2, 3, 4], "v": [2, 3, 4, 5], "key": [0, 0, 0, 0]},
        geometry=lines,
        crs="EPSG:32651",
    )
    # link 1 → 2 is the measure: 500 m takes in the next link (400 m away), not the third
    assert compare.near_measure_links(links, [[1, 2, 0]], within_m=500) == {(1, 2, 0), (2, 3, 0)}
    # a junction stands for the links that end at it
    assert compare.near_measure_links(links, [], [5], within_m=100) == {(4, 5, 0)}
    assert compare.near_measure_links(links, [[9, 9, 0]]) == set()


def test_approach_records_in_parquet_and_geopackage(comparison) -> None:
    run_dir = comparison.a.run_dir
    approaches = pd.read_parquet(run_dir / "approaches.parquet")
    assert set(approaches["seed"]) == {7, 8}
    assert (approaches["capacity_vph"] > 0).all()
    assert np.allclose(
        approaches["degree_of_saturation"], approaches["flow_vph"] / approaches["capacity_vph"]
    )
    signalised = approaches[approaches["control"] == "signal"]
    assert not signalised.empty
    assert ((signalised["green_ratio"] > 0) & (signalised["green_ratio"] < 1)).all()
    layers = {name for name, _ in pyogrio.list_layers(run_dir / "junctions.gpkg")}
    assert layers == {"junctions_wgs84", "junctions_utm", "approaches_wgs84", "approaches_utm"}
    points = gpd.read_file(run_dir / "junctions.gpkg", layer="approaches_wgs84")
    assert (points.geometry.geom_type == "Point").all() and points.crs.to_epsg() == 4326
    junctions = pd.read_parquet(run_dir / "junctions.parquet")
    assert {"max_degree_of_saturation", "congested_approaches"} <= set(junctions.columns)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert all(np.isfinite(r["congested_places"]) for r in summary["replications"])


def test_cli_calibrate_writes_the_plausibility_page(scenario_files, results_root, comparison):
    done = subprocess.run(
        [sys.executable, "-m", "cysim", "calibrate", str(scenario_files["a"]),
         "--results", str(results_root)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "reused finished run" in done.stdout
    out = results_root / "calibrate" / "small-base"
    targets = pd.read_csv(out / "targets.csv")
    assert list(targets["target"]) == [
        "congestion_index", "mean_speed_kph", "congested_places",
    ]  # fmt: skip
    assert targets["source"].str.contains("Baidu").iloc[0]
    assert targets["source"].str.contains("report", case=False).all()
    # a light test baseline cannot meet Qingdao's published index
    assert not targets.set_index("target").loc["congestion_index", "met"]
    assert "NO" in done.stdout
    html = (out / "plausibility.html").read_text(encoding="utf-8")
    for text in ("Targets", "Degree of saturation by approach", "CJJ 37", "data:image/png"):
        assert text in html, text
    volumes = pd.read_csv(out / "volumes_by_class.csv")
    assert "primary" in set(volumes["highway"])
    assert (volumes["design_capacity_pcuh"] > 0).all()


def test_cli_says_a_run_is_reused_and_does_not_wrap_into_a_file(
    scenario_files, results_root, comparison
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run(
        [sys.executable, "-m", "cysim", "run", str(scenario_files["a"]),
         "--results", str(results_root)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"small-base: reused {comparison.a.run_dir}" in done.stderr
    assert " UTC)" in done.stderr
    assert "replications" not in done.stderr  # no progress bar stuck at 0/?
    # written to a pipe, long lines stay whole instead of wrapping at 80 columns
    lines = done.stdout.splitlines()
    assert any(len(line) > 80 and "totals scaled to the full demand" in line for line in lines)
    assert any("Trips completed (share)" in line and "%" in line for line in lines)


def test_rerun_reuses_and_force_runs_again(scenario_files, results_root, comparison) -> None:
    again = pipeline.run_scenario(scenario_files["a"], results_root=results_root)
    assert again.reused and again.run_dir == comparison.a.run_dir
    forced = pipeline.run_scenario(scenario_files["a"], results_root=results_root, force=True)
    assert not forced.reused and forced.run_dir != comparison.a.run_dir
    # Same scenario and seeds ⇒ identical results.
    first = json.loads((comparison.a.run_dir / "summary.json").read_text(encoding="utf-8"))
    second = json.loads((forced.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert first["replications"] == second["replications"]


def test_compare_accepts_finished_run_folders(comparison, results_root) -> None:
    outcome = pipeline.compare_scenarios(
        comparison.a.run_dir, comparison.b.run_dir, results_root=results_root
    )
    assert outcome.table.loc["vkt_km", "mean_b"] == pytest.approx(
        comparison.table.loc["vkt_km", "mean_b"]
    )


def test_incomplete_run_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="COMPLETE"):
        pipeline.load_run(tmp_path)


def test_cli_run_reuses_and_bad_path_is_one_line(scenario_files, results_root, comparison):
    cysim = [sys.executable, "-m", "cysim"]
    done = subprocess.run(
        [*cysim, "run", str(scenario_files["a"]), "--results", str(results_root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "reused finished run" in done.stdout
    bad = subprocess.run(
        [*cysim, "run", str(results_root / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert "missing.yaml" in bad.stderr


def test_measure_on_a_link_no_trip_uses_is_flagged(scenario_files, results_root, comparison):
    # the bundled demand has no external trips: nothing uses the 黑龙江路 on-ramp, so widening it
    # cannot show an effect; the comparison must say so instead of reporting a silent "no change"
    ramp = scenario_files["a"].with_name("small-ramp.yaml")
    ramp.write_text(
        "name: small-ramp\nbase: small.yaml\npatches:\n"
        "  - type: widen_road\n    road: 黑龙江路上桥匝道\n    add_lanes: 1\n",
        encoding="utf-8",
    )
    outcome = pipeline.compare_scenarios(scenario_files["a"], ramp, results_root=results_root)
    idle_notes = [n for n in outcome.notes if n.startswith("无车流")]
    assert len(idle_notes) == 1
    assert "黑龙江路上桥匝道" in idle_notes[0] and "no vehicle in either run" in idle_notes[0]
    html = outcome.report.read_text(encoding="utf-8")
    assert "无车流" in html and "黑龙江路上桥匝道" in html
    # the 文阳路 widening is used: any note it gets names only patched links without traffic
    idle = compare.idle_patched_links(
        compare.link_deltas(comparison.a.links, comparison.b.links), comparison.b.patched_edges
    )
    assert comparison.b.patched_edges and len(idle) < len(comparison.b.patched_edges)
    assert any(n.startswith("无车流") for n in comparison.notes) == (not idle.empty)


def test_comparison_states_sample_and_route_choice_gaps(comparison):
    # every comparison says how many vehicles were simulated and how far route choice got on
    # each side, in the notes the CLI prints and in the report
    route = comparison.notes[0]
    factor = comparison.a.summary["sample_factor"]
    assert factor == comparison.a.kpis[0]["sample_factor"] == 1.0
    for side in (comparison.a, comparison.b):
        rc = side.summary["route_choice"]
        assert rc["relative_gap"] == [k["relative_gap"] for k in side.kpis]
        assert f"≤ {max(rc['relative_gap']):.3f}" in route
    html = comparison.report.read_text(encoding="utf-8")
    assert "路径选择 Route choice: final relative gap" in html
    gaps = [max(s.summary["route_choice"]["relative_gap"]) for s in (comparison.a, comparison.b)]
    assert f"route-choice gap: ≤ {gaps[0]:.3f} / ≤ {gaps[1]:.3f}" in html
    assert "vehicles simulated: 100% / 100%" in html


def test_compare_at_another_sample_keeps_its_own_folder(scenario_files, results_root, comparison):
    # --sample-factor: both sides simulate that share (own runs, own fingerprints) and the
    # comparison goes to a folder of its own, so the scenarios' own comparison is not replaced
    half = pipeline.compare_scenarios(
        scenario_files["a"], scenario_files["b"], results_root=results_root, sample_factor=0.5
    )
    assert half.out_dir.name == f"{comparison.out_dir.name}__sample-0.5"
    assert comparison.out_dir.is_dir() and half.report.is_file()
    assert half.a.summary["sample_factor"] == half.b.summary["sample_factor"] == 0.5
    assert half.a.run_dir != comparison.a.run_dir
    assert "抽样 Sampling: 50%" in half.report.read_text(encoding="utf-8")
    # a finished folder at another sample is compared as it is, with a note
    mixed = pipeline.compare_scenarios(
        half.a.run_dir, comparison.b.run_dir, results_root=results_root
    )
    assert any(n.startswith("抽样不同 Different samples") for n in mixed.notes)


def test_link_layers_carry_lanes_capacity_measure_and_intervals(comparison) -> None:
    run_links = gpd.read_file(comparison.b.run_dir / "links.gpkg", layer="links_wgs84")
    for column in ("lanes", "capacity_vph", "patched", "flow_vph_ci_low", "flow_vph_ci_high"):
        assert column in run_links.columns, column
    assert run_links["patched"].any() and not run_links["patched"].all()
    assert (
        run_links.loc[run_links["patched"], "name"].str.contains("文阳|长城")
    ).all()  # widened, channelised
    assert (run_links["flow_vph_ci_low"].dropna() >= 0).all()
    inside = run_links.dropna(subset=["flow_vph_ci_low"])
    assert (inside["flow_vph_ci_low"] <= inside["flow_vph"] + 1e-9).all()
    assert (inside["flow_vph"] <= inside["flow_vph_ci_high"] + 1e-9).all()

    out = comparison.out_dir
    layers = {name for name, _ in pyogrio.list_layers(out / "link_deltas.gpkg")}
    assert layers == {"link_deltas_wgs84", "link_deltas_utm"}
    deltas = gpd.read_file(out / "link_deltas.gpkg", layer="link_deltas_wgs84")
    assert deltas.crs.to_epsg() == 4326
    for column in ("lanes_a", "lanes_b", "capacity_vph_a", "capacity_vph_b", "measure",
                   "d_flow_vph_ci_low", "d_total_delay_vh_ci_high"):  # fmt: skip
        assert column in deltas.columns, column
    widened = deltas[deltas["lanes_b"] > deltas["lanes_a"]]
    assert not widened.empty and widened["measure"].all()
    assert not deltas.loc[~deltas["measure"], "d_lanes"].fillna(0).any()
    # the same seeds on both sides: the paired interval of the change exists where traffic varies
    assert deltas["d_flow_vph_ci_low"].notna().any()
    assert (
        (deltas["d_flow_vph_ci_low"] <= deltas["d_flow_vph"] + 1e-9)
        .where(deltas["d_flow_vph_ci_low"].notna(), True)
        .all()
    )


def test_patched_layers_are_single_geometry_and_wgs84(comparison) -> None:
    path = comparison.b.run_dir / "patched.gpkg"
    layers = {name for name, _ in pyogrio.list_layers(path)}
    # a widening and pockets (recorded on the approach links): links only
    assert layers == {"changed_links_wgs84", "changed_links_utm"}
    links = gpd.read_file(path, layer="changed_links_wgs84")
    assert links.crs.to_epsg() == 4326
    assert set(links.geometry.geom_type) == {"LineString"}
    assert 120.0 < links.total_bounds[0] < 121.0
    assert links["changes"].str.contains("lanes: 2 → 3").any()
    assert set(", ".join(links["patch_types"]).split(", ")) == {"widen_road", "channelize"}
    assert not links["removed"].any()
    # read back for the maps: one table in metres
    assert comparison.b.patched.crs.to_epsg() == 32651
    assert set(comparison.b.patched["kind"]) == {"edge"}


def test_junction_tables_for_spreadsheets_and_gis(comparison) -> None:
    run_dir = comparison.a.run_dir
    raw = (run_dir / "junctions.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM for Excel"
    junctions = pd.read_csv(run_dir / "junctions.csv", encoding="utf-8-sig")
    assert {"node", "name", "mean_control_delay_s", "los", "lon", "lat"} <= set(junctions.columns)
    assert junctions["lon"].between(120.0, 121.0).all() and junctions["lat"].between(36, 37).all()
    assert junctions["node"].is_unique
    approaches = pd.read_csv(run_dir / "approaches.csv", encoding="utf-8-sig")
    assert {"degree_of_saturation", "control_delay_s", "lon", "lat"} <= set(approaches.columns)

    out = comparison.out_dir
    layers = {name for name, _ in pyogrio.list_layers(out / "junction_deltas.gpkg")}
    assert layers == {
        "junction_deltas_wgs84", "junction_deltas_utm", "approach_deltas_wgs84",
        "approach_deltas_utm",
    }  # fmt: skip
    nodes = gpd.read_file(out / "junction_deltas.gpkg", layer="junction_deltas_wgs84")
    assert (nodes.geometry.geom_type == "Point").all() and nodes["node"].is_unique
    assert nodes["measure"].iloc[0] and nodes["name"].iloc[0]
    assert {"mean_control_delay_s_a", "los_b", "d_mean_control_delay_s"} <= set(nodes.columns)
    assert len(pd.read_csv(out / "junction_deltas.csv", encoding="utf-8-sig")) == len(nodes)
    points = gpd.read_file(out / "junction_deltas.gpkg", layer="approach_deltas_wgs84")
    assert (points.geometry.geom_type == "Point").all() and points.crs.to_epsg() == 4326
    assert {"max_degree_of_saturation_a", "max_degree_of_saturation_b", "measure"} <= set(
        points.columns
    )
    table = pd.read_csv(out / "approach_deltas.csv", encoding="utf-8-sig")
    assert len(table) == len(points) and {"lon", "lat"} <= set(table.columns)


def test_maps_grey_out_link_changes_that_are_not_significant(comparison) -> None:
    import json
    import re

    layer = gpd.read_file(comparison.out_dir / "link_deltas.gpkg", layer="link_deltas_wgs84")
    significant = (layer["d_mean_speed_kph_ci_low"] > 0) | (layer["d_mean_speed_kph_ci_high"] < 0)
    assert (layer["significant"] == significant).all()
    page = (comparison.out_dir / "link_deltas_map.html").read_text(encoding="utf-8")
    features = json.loads(re.search(r"const links = (\{.*?\});\n", page, flags=re.S).group(1))
    tips = [f["properties"] for f in features["features"]]
    greyed = [p for p in tips if "— not significant" in p["tip"]]
    assert greyed and all(p["colour"] == "#b8b8b8" for p in greyed)
    assert len(greyed) == int((~layer["significant"]).sum())
