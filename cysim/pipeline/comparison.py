"""Compare two runs: KPI and link deltas with intervals, layers, figures and the HTML report."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import chinacoords, io, scenario
from .._version import __version__
from ..report import basemaps, mapview, webmap
from ..report import figures as plot
from ..results import compare, metrics
from ..sim import retiming
from .parallel import ProgressFn
from .run import ReusedFn, run_scenarios
from .runfolder import RunResults, load_run


@dataclass
class CompareOutcome:
    """A written comparison."""

    out_dir: Path
    table: pd.DataFrame
    a: RunResults
    b: RunResults
    #: Findings the reader must see beside the table (also in the report's caveats).
    notes: list[str] = field(default_factory=list)

    @property
    def report(self) -> Path:
        """The HTML report."""
        return self.out_dir / "report.html"


def _scenario_card(results: RunResults) -> dict:
    """Title, report quote, assumptions and description of a run, for the report."""
    meta = results.meta
    return {
        "title": meta.get("title") or results.name,
        "report_quote": meta.get("report_quote", ""),
        "assumptions": meta.get("assumptions", []),
        "description": meta.get("description", ""),
    }


def compare_scenarios(
    a: str | Path,
    b: str | Path,
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    force: bool = False,
    results_root: Path | None = None,
    progress_for: Callable[[str], ProgressFn | None] | None = None,
    scheduler: str | None = None,
    sample_factor: float | None = None,
    basemap: str | None = None,
    on_reused: ReusedFn | None = None,
) -> CompareOutcome:
    """Compare scenario A (before) with B (after): run what is missing, write tables and report.

    Writes ``results/compare/<a>__<b>/``: ``comparison.csv``, ``near_measure.csv``,
    ``link_deltas.gpkg``, ``junction_deltas.csv``, ``approach_deltas.csv`` and
    ``junction_deltas.gpkg``,
    ``figures/*.png``, ``link_deltas_map.html`` and ``report.html``. The folder is written under
    a temporary name and swapped in when complete.

    Parameters
    ----------
    a, b
        Scenario YAML files or finished run folders.
    replications, seed, workers, force, results_root
        As :func:`~cysim.pipeline.run.run_scenario` (for sides given as scenario files).
    progress_for
        ``progress_for(name)`` returns the progress callback of one side's run.
    on_reused
        Called with the outcome of a side whose finished run is reused.
    scheduler
        Dask scheduler address: both sides' replications run on that cluster.
    sample_factor
        Override both scenarios' ``demand.sample_factor`` (1.0 for final figures); finished run
        folders given as a side are used as they are.
    basemap
        Override B's ``report.basemap`` (one of :data:`cysim.report.basemaps.BASEMAP_NAMES`).

    Returns
    -------
    CompareOutcome
    """
    # resolved before anything runs, so a missing Tianditu key is not found after the runs
    shown = report_settings(Path(b))
    tiles = basemap_of(shown, basemap)
    china_layers = tuple(shown.china_layers)
    files = [Path(t) for t in (a, b) if not Path(t).is_dir()]
    ran = dict(
        zip(
            files,
            run_scenarios(
                files,
                replications=replications,
                seed=seed,
                workers=workers,
                force=force,
                results_root=results_root,
                progress_for=progress_for,
                scheduler=scheduler,
                sample_factor=sample_factor,
                on_reused=on_reused,
            ),
            strict=True,
        )
    )
    run_a, run_b = (load_run(Path(t) if Path(t).is_dir() else ran[Path(t)].run_dir) for t in (a, b))
    table = compare.compare_kpis(run_a.kpis, run_b.kpis, run_a.seeds, run_b.seeds)
    deltas = compare.link_deltas(run_a.links, run_b.links)
    notes = [*run_notes(run_a, run_b), *idle_patch_notes(deltas, run_a, run_b)]

    final = io.compare_dir(run_a.name, run_b.name, results_root)
    if sample_factor is not None:
        # a comparison at another sample keeps its own folder beside the scenarios' own one
        final = final.with_name(f"{final.name}__sample-{sample_factor:g}")
    partial = final.with_name(f".{final.name}{io.PARTIAL_SUFFIX}")
    if partial.exists():
        io.discard(partial)
    partial.mkdir(parents=True)
    try:
        _write_comparison(
            partial, run_a, run_b, table, deltas, notes, basemap=tiles, china_layers=china_layers
        )
        _swap_in(partial, final)
    except BaseException:
        io.discard(partial)
        raise
    return CompareOutcome(final, table, run_a, run_b, notes)


def report_settings(target: Path) -> scenario.ReportSettings:
    """The ``report:`` section of scenario B: a YAML file or a finished run folder.

    A run folder gives its resolved ``scenario.yaml`` (defaults for runs written before the
    section existed).
    """
    if target.is_dir():
        import yaml

        resolved = target / "scenario.yaml"
        data = yaml.safe_load(resolved.read_text(encoding="utf-8")) if resolved.is_file() else {}
        return scenario.ReportSettings.model_validate((data or {}).get("report") or {})
    return scenario.load_scenario(target).report


def report_basemap(target: Path, override: str | None = None) -> basemaps.Basemap | None:
    """The base map of a comparison: ``override``, else the ``report:`` section of ``target``.

    Parameters
    ----------
    target
        Scenario B: a YAML file or a finished run folder (its resolved ``scenario.yaml``).
    override
        A base-map name from the command line, or ``None``.

    Returns
    -------
    cysim.report.basemaps.Basemap or None
    """
    return basemap_of(report_settings(target), override)


def basemap_of(
    settings: scenario.ReportSettings, override: str | None = None
) -> basemaps.Basemap | None:
    """The base map a ``report:`` section (or ``override``, a name) asks for, or None."""
    return basemaps.resolve_basemap(
        override or settings.basemap,
        url=settings.tiles_url,
        system=settings.tiles_system,
        attribution=settings.tiles_attribution,
    )


def run_notes(run_a: RunResults, run_b: RunResults) -> list[str]:
    """What every reader of a comparison must know of how far route choice got on each side.

    Its final relative gaps bound which changes the comparison calls better or worse
    (docs/metrics.md, "Verdicts"). (The share of vehicles simulated is in the report's standard
    caveats and on the command line.)
    """
    notes = []
    factors = [float(r.summary.get("sample_factor", 1.0)) for r in (run_a, run_b)]
    if factors[0] != factors[1]:
        notes.append(
            f"抽样不同 Different samples: A simulated {factors[0]:.0%} of the vehicles, B "
            f"{factors[1]:.0%}. Totals are scaled to the full demand on both sides, but "
            "capacity rounding and noise differ; rerun both at one sample factor to compare."
        )
    sides = []
    converged = True
    for label, run in (("A", run_a), ("B", run_b)):
        rc = run.summary.get("route_choice") or {}
        gaps = [g for g in rc.get("relative_gap", []) if g is not None and math.isfinite(g)]
        if not gaps:
            sides.append(f"{label} ({run.name}) not recorded")
            converged = False
            continue
        its = rc.get("iterations", [])
        span = f"{min(its)}–{max(its)}" if its and min(its) != max(its) else f"{max(its or [0])}"
        sides.append(f"{label} ({run.name}) ≤ {max(gaps):.3f} after {span} iterations")
        converged = converged and bool(rc.get("converged"))
    tolerance = (run_b.summary.get("route_choice") or {}).get("tolerance")
    text = (
        "路径选择 Route choice: final relative gap "
        + ", ".join(sides)
        + (f" (tolerance {tolerance:g})" if tolerance else "")
        + ". A change no larger than the larger gap is reported as 'within route-choice gap', "
        "not as better or worse."
    )
    moving = {
        label: float((run.summary.get("route_choice") or {}).get("max_signal_plan_change_s") or 0)
        for label, run in (("A", run_a), ("B", run_b))
    }
    moving = {k: v for k, v in moving.items() if v > retiming.plan_tolerance_s}
    if moving:
        text += (
            " Re-timed signal plans still moved after the last run ("
            + ", ".join(
                f"{k}: {v:.1f} s" if math.isfinite(v) else f"{k}: a left phase added"
                for k, v in moving.items()
            )
            + ")."
        )
    if not converged:
        text += (
            " Not every replication reached the tolerance with settled plans: raise "
            "simulation.route_choice.iterations for figures to rely on."
        )
    notes.append(text)
    return notes


def idle_patch_notes(deltas: gpd.GeoDataFrame, run_a: RunResults, run_b: RunResults) -> list[str]:
    """A warning for the patched links on which neither run has any traffic.

    Such a measure shows "no change" only because no simulated trip uses the link (often because
    the demand has no through or external traffic, docs/demand.md §4a), not because it is
    ineffective; the reader must be told.
    """
    edges = [*run_a.patched_edges, *run_b.patched_edges]
    idle = compare.idle_patched_links(deltas, edges)
    if idle.empty:
        return []
    rows = zip(idle["name"], idle["u"], idle["v"], strict=True)
    named = sorted({str(name) or f"{u}→{v}" for name, u, v in rows})
    shown = "、".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
    return [
        f"无车流 No traffic on a measure: {len(idle)} of the {len(set(map(tuple, edges)))} "
        f"patched links ({shown}) carry no vehicle in either run, so the model cannot show an "
        "effect there. Unless the scenario sets demand.external, the demand has no through or "
        "external (cross-boundary) trips (docs/demand.md §4a); add them, or check that the "
        "measure's location is right, before judging this measure."
    ]


def _swap_in(partial: Path, final: Path) -> None:
    """Replace ``final`` by the finished ``partial`` folder; the old one is removed only after."""
    import shutil

    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    partial.rename(final)
    if old.exists():
        shutil.rmtree(old)


def _project_path(path: Path, out: Path) -> str:
    """``path`` relative to the project (the folder holding the results folder), for reports.

    Full local paths say nothing to a committee and leak the author's folders.
    """
    project = out.resolve().parent.parent.parent  # <project>/results/compare/<folder>
    return os.path.relpath(Path(path).resolve(), project)


def _link_delta_layer(
    deltas: gpd.GeoDataFrame,
    links_a: pd.DataFrame,
    links_b: pd.DataFrame,
    measure_edges: Sequence[Sequence[int]],
) -> gpd.GeoDataFrame:
    """The link deltas for ``link_deltas.gpkg``, with intervals and the measure's links marked.

    Each link gets the 95 % interval of its change
    (:func:`cysim.results.compare.link_delta_intervals`, from both runs' ``links.parquet``) and
    ``measure`` (B's patches changed the link, ``patches.json``).
    """
    intervals = compare.link_delta_intervals(links_a, links_b)
    layer = deltas.merge(intervals, on=["u", "v", "key"], how="left")
    changed = {tuple(int(x) for x in edge) for edge in measure_edges}
    keys = zip(layer["u"], layer["v"], layer["key"], strict=True)
    layer["measure"] = [(int(u), int(v), int(k)) in changed for u, v, k in keys]
    return layer


def _write_junction_deltas(
    out: Path,
    run_a: RunResults,
    run_b: RunResults,
    china_layers: Sequence[chinacoords.CoordinateSystem] = (),
) -> pd.DataFrame | None:
    """Write the junctions and approaches before and after, for runs that have those records.

    The files are ``approach_deltas.csv``, ``junction_deltas.csv`` and ``junction_deltas.gpkg``
    (point layers ``junction_deltas_*`` and ``approach_deltas_*``).

    Returns
    -------
    pandas.DataFrame or None
        :func:`cysim.results.compare.approach_deltas` (for the report), None without approach
        records.
    """
    # junctions a patch changed, and the ends of the links it changed
    touched = sorted(set(run_b.patched_nodes) | {n for e in run_b.patched_edges for n in e[:2]})
    layers: dict[str, gpd.GeoDataFrame] = {}
    junctions_a, junctions_b = (
        io.read_layers_gpkg(run.run_dir / "junctions.gpkg", ["junctions"])
        if (run.run_dir / "junctions.gpkg").exists()
        else None
        for run in (run_a, run_b)
    )
    if junctions_a is not None and junctions_b is not None:
        layers["junction_deltas"] = compare.junction_deltas(
            junctions_a, junctions_b, touched_nodes=touched
        )
        io.write_points_csv(out / "junction_deltas.csv", layers["junction_deltas"])
    approaches = None
    if run_a.approaches is not None and run_b.approaches is not None:
        approaches = compare.approach_deltas(
            metrics.approach_summary(run_a.approaches),
            metrics.approach_summary(run_b.approaches),
            touched_nodes=touched,
        )
        approaches = compare.with_approach_queues(approaches, run_a.links, run_b.links)
        approaches["junction_changed"] = approaches["node"].isin(run_b.changed_junctions)
        points = compare.approach_points(run_b.approaches, run_a.approaches)
        layers["approach_deltas"] = points.merge(approaches, on=["u", "v", "key"], how="right")
        io.write_points_csv(out / "approach_deltas.csv", layers["approach_deltas"])
    if layers:
        io.write_layers_gpkg(out / "junction_deltas.gpkg", layers, china_layers)
    return approaches


def _write_comparison(
    out: Path,
    run_a: RunResults,
    run_b: RunResults,
    table: pd.DataFrame,
    deltas: gpd.GeoDataFrame,
    notes: Sequence[str] = (),
    basemap: basemaps.Basemap | None = None,
    china_layers: Sequence[chinacoords.CoordinateSystem] = (),
) -> None:
    """Write every file of a comparison folder into ``out``.

    With ``china_layers``, the GeoPackages also hold GCJ-02 / BD-09 layers.
    """
    from ..report import page as report

    labels = (run_a.name, run_b.name)
    schematic = mapview.SCHEMATIC_MAP_NAME in str(run_b.summary.get("map", ""))
    io.write_csv(out / "comparison.csv", compare.kpi_table_for_csv(table), index=True)
    links_per_replication = [
        pd.read_parquet(run.run_dir / "links.parquet") for run in (run_a, run_b)
    ]
    link_layer = _link_delta_layer(
        deltas, links_per_replication[0], links_per_replication[1], run_b.patched_edges
    )
    significant = compare.significant_links(link_layer)
    if significant is not None:
        link_layer["significant"] = significant
    io.write_layers_gpkg(out / "link_deltas.gpkg", {"link_deltas": link_layer}, china_layers)
    deltas = link_layer  # the maps grey out changes that are not significant
    near_links = compare.near_measure_links(
        run_a.links, run_b.patched_edges, run_b.patched_nodes
    ) | compare.near_measure_links(run_b.links, run_b.patched_edges, run_b.patched_nodes)
    fig = out / "figures"
    fig.mkdir()
    title_a = _scenario_card(run_a)["title"]
    title_b = _scenario_card(run_b)["title"]
    # Same line-width scale and the same zoomed panel on both congestion maps, so they compare.
    flow_reference_vph = float(
        np.nanmax([run_a.links["flow_vph"].max(), run_b.links["flow_vph"].max(), 1.0])
    )
    detail = plot.detail_extent(run_b.patched, run_a.links)
    figures = {
        "kpi_bars": plot.kpi_bars(table, fig / "kpi_bars.png", labels=labels),
        "congestion_a": plot.congestion_map(
            run_a.links,
            fig / "congestion_a.png",
            title=title_a,
            flow_reference_vph=flow_reference_vph,
            detail=detail,
        ),
        "congestion_b": plot.congestion_map(
            run_b.links,
            fig / "congestion_b.png",
            title=title_b,
            flow_reference_vph=flow_reference_vph,
            detail=detail,
        ),
        "difference": plot.difference_map(
            deltas,
            fig / "difference.png",
            title=f"变化 Change: {run_b.name} − {run_a.name}",
            patched=run_b.patched,
        ),
        "timeseries": plot.timeseries_chart(
            run_a.timeseries, run_b.timeseries, fig / "timeseries.png", labels=labels
        ),
        "top_links": plot.top_links_chart(deltas, fig / "top_links.png", near=near_links or None),
        "interactive": webmap.interactive_map(
            deltas,
            out / "link_deltas_map.html",
            labels=labels,
            basemap=basemap,
            title=f"{run_b.name} − {run_a.name}: link changes",
            credit=f"{mapview.SCHEMATIC_MARK}: {mapview.SCHEMATIC_CREDIT}"
            if schematic
            else "road data © OpenStreetMap contributors",
        ),
    }
    approaches = _write_junction_deltas(out, run_a, run_b, china_layers)
    near = None
    if near_links:
        sides = []
        for side, run in enumerate((run_a, run_b)):
            kpis, seeds = compare.near_measure_kpis(links_per_replication[side], near_links)
            gaps = {
                int(s): k.get("relative_gap", math.nan)
                for s, k in zip(run.seeds, run.kpis, strict=True)
            }
            for seed, k in zip(seeds, kpis, strict=True):
                k["relative_gap"] = gaps.get(seed, math.nan)  # the gap applies locally too
            sides.append((kpis, seeds))
        near = compare.compare_kpis(
            sides[0][0], sides[1][0], sides[0][1], sides[1][1], meta=compare.NEAR_KPI_META
        )
        io.write_csv(
            out / "near_measure.csv",
            compare.kpi_table_for_csv(near, compare.NEAR_KPI_META),
            index=True,
        )
    patch_log = run_b.patch_summary
    if run_a.patch_log.strip() and "no patches" not in run_a.patch_log:
        patch_log = (
            f"A ({run_a.name}):\n{run_a.patch_summary}\n\nB ({run_b.name}):\n{run_b.patch_summary}"
        )
    sample_factor = float(run_b.summary.get("sample_factor", 1.0))
    caveats = [
        *notes,
        *report.standard_caveats(
            sample_factor, schematic_map=schematic, replications=len(run_b.seeds)
        ),
    ]
    run_info = {
        "cysim version": __version__,
        "A run folder": _project_path(run_a.run_dir, out),
        "B run folder": _project_path(run_b.run_dir, out),
        "seeds": ", ".join(str(s) for s in run_b.seeds),
        "map": str(run_b.summary.get("map", "")),
        "vehicles simulated": " / ".join(
            f"{float(r.summary.get('sample_factor', 1.0)):.0%}" for r in (run_a, run_b)
        ),
        "route-choice gap": " / ".join(
            f"≤ {g:.3f}" if math.isfinite(g) else "not recorded"
            for g in (compare.route_gap(run_a.kpis), compare.route_gap(run_b.kpis))
        ),
    }
    report.write_report(
        out / "report.html",
        title_a=title_a,
        title_b=title_b,
        scenario_a=_scenario_card(run_a),
        scenario_b=_scenario_card(run_b),
        patch_log_text=patch_log,
        kpi_table=table,
        figures=figures,
        caveats=caveats,
        run_info=run_info,
        approaches=approaches,
        near=near,
        near_m=compare.NEAR_MEASURE_M,
    )
