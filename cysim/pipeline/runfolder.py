"""The run folder: what a finished run writes (``write_run``) and reads back (``load_run``)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .. import io, modeldefaults
from .._errors import ResultsError
from .._version import __version__
from ..patch import apply as patches
from ..patch import changes as patchreport
from ..report import figures as plot
from ..results import compare, metrics, stats
from ..sim import retiming
from ..simsettings import RouteChoiceSettings
from .prepare import PreparedScenario
from .replicate import ReplicationOutput


def _run_key(prepared: PreparedScenario, replications: int) -> str:
    """Fingerprint of what a run depends on.

    That is the resolved scenario (with the map's hash), the model's defaults that live in code
    (:func:`cysim.modeldefaults.digest`) and the number of replications.
    """
    return f"{prepared.scenario.fingerprint()}-m{modeldefaults.digest()[:16]}-r{replications}"


def _patch_marks(report: patches.PatchReport) -> dict:
    """The patched edges and nodes, and the change log, for the maps and the report.

    Edges and nodes are JSON-ready (for the maps); the change log is in road names (for the
    report).
    """
    edges = [[int(u), int(v), int(k)] for (u, v, k) in report.patched_edges()]
    nodes = [int(n) for n in report.patched_nodes()]
    junctions = sorted(int(n) for n in report.changed_junctions())
    return {
        "edges": edges,
        "nodes": nodes,
        "junctions": junctions,
        "summary": report.to_summary_text(),
    }


def _changed_features(prepared: PreparedScenario) -> dict[str, gpd.GeoDataFrame]:
    """The links and junctions the scenario's patches changed, as two single-geometry tables.

    ``changed_links`` (lines: ``kind, label, u, v, key, removed, patch_types, changes``) and
    ``changed_junctions`` (points: ``kind, label, node, patch_types, changes``); ``kind``
    (``edge`` / ``node``) and ``label`` are what the maps draw. Closed or split links are gone
    from the patched graph: they are drawn from the base network and marked ``removed``.
    """
    crs = prepared.graph.graph.get("crs")
    links, junctions = [], []
    changes = patchreport.element_changes(prepared.patch_report)
    for kind, element, types, text in changes.itertuples(index=False):
        if kind == "edge":
            removed = not prepared.graph.has_edge(*element)
            graph = prepared.base_graph if removed else prepared.graph
            u, v, key = element
            feature = plot.patched_features(graph, [element], [])
            links.append(
                feature.assign(u=u, v=v, key=key, removed=removed, patch_types=types, changes=text)
            )
        else:
            graph = prepared.graph if element in prepared.graph else prepared.base_graph
            if element not in graph:
                continue
            feature = plot.patched_features(graph, [], [element])
            junctions.append(feature.assign(node=element, patch_types=types, changes=text))

    def table(rows: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
        if not rows:
            return gpd.GeoDataFrame(geometry=[], crs=crs)
        return gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), geometry="geometry", crs=crs)

    return {"changed_links": table(links), "changed_junctions": table(junctions)}


def _link_layer(
    links_mean: gpd.GeoDataFrame, links_all: pd.DataFrame, report: patches.PatchReport
) -> gpd.GeoDataFrame:
    """The mean link table for ``links.gpkg``, with intervals and the patched links marked.

    Each link gets its 95 % intervals over the replications
    (:func:`cysim.results.compare.link_intervals`) and ``patched`` (a patch of the scenario
    changed the link).
    """
    layer = links_mean.merge(compare.link_intervals(links_all), on=["u", "v", "key"], how="left")
    changed = set(report.patched_edges())
    keys = zip(layer["u"], layer["v"], layer["key"], strict=True)
    layer["patched"] = [(int(u), int(v), int(k)) in changed for u, v, k in keys]
    return layer


def _mean_junctions(tables: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Junction tables averaged over replications.

    The level of service comes from the mean delay (not the first replication's letter).
    """
    mean = compare.mean_over_replications(tables, ["node"])
    mean["los"] = [
        metrics.level_of_service(float(d), bool(s))
        for d, s in zip(mean["mean_control_delay_s"], mean["signal"], strict=True)
    ]
    return mean


def write_run(
    prepared: PreparedScenario,
    outputs: Sequence[ReplicationOutput],
    partial_dir: Path,
    *,
    log_lines: list[str],
) -> None:
    """Write every file of a run folder (DESIGN §6) into ``partial_dir``.

    Files: ``scenario.yaml`` (resolved), ``summary.json`` (per-replication KPIs with mean and CI),
    ``links.parquet`` (every replication), ``links.gpkg`` (mean over replications with 95 %
    intervals and the ``patched`` flag, WGS84 and UTM layers), ``junctions.parquet``,
    ``trips.parquet``, ``timeseries.csv``, ``route_choice.csv``, ``signal_plans.csv``
    (junctions re-timed inside route choice), ``approaches.parquet`` (degree of saturation per
    junction approach lane group, every replication), ``junctions.gpkg`` (junctions and
    approaches, mean over replications, point layers), ``junctions.csv`` and ``approaches.csv``
    (the same for spreadsheets, lon/lat), ``patched.gpkg`` (changed links and junctions, a layer
    each), ``patches.txt`` and ``patches.json`` (change log and patched elements),
    ``figures/*.png``.
    """
    resolved = prepared.scenario
    io.write_text(partial_dir / "scenario.yaml", resolved.resolved_yaml())
    kpis = [o.kpis for o in outputs]
    # KPIs only: what they were computed under (sample, gap, iterations) is summarised apart
    summary_table = stats.summarize(
        [{k: kp[k] for k in metrics.KPI_META if k in kp} for kp in kpis],
        bounds={k: info.value_range for k, info in metrics.KPI_META.items()},
    )
    sample_factor = float(outputs[0].kpis.get("sample_factor", 1.0)) if outputs else 1.0
    summary = {
        "scenario": resolved.name,
        "title": resolved.title,
        "cysim_version": __version__,
        "seeds": [o.seed for o in outputs],
        "replications": [dict(seed=o.seed, **o.kpis) for o in outputs],
        "kpis": {
            kpi: {
                "mean": row["mean"],
                "sd": row["sd"],
                "ci95_low": row["ci_low"],
                "ci95_high": row["ci_high"],
                "n": int(row["n"]),
            }
            for kpi, row in summary_table.iterrows()
        },
        "gridlock": [o.gridlock for o in outputs],
        "sample_factor": sample_factor,
        "route_choice": route_choice_summary(kpis, resolved.simulation.route_choice),
        "map": str(resolved.map.name),
    }
    io.write_json(partial_dir / "summary.json", summary)

    def stacked(frames: list[pd.DataFrame]) -> pd.DataFrame:
        parts = [
            pd.DataFrame(f).assign(replication=i + 1, seed=o.seed)
            for i, (f, o) in enumerate(zip(frames, outputs, strict=True))
        ]
        return pd.concat(parts, ignore_index=True)

    links_all = stacked([o.links.drop(columns="geometry") for o in outputs])
    io.write_parquet(partial_dir / "links.parquet", links_all)
    links_mean = compare.mean_link_table([o.links for o in outputs])
    io.write_links_gpkg(
        partial_dir / "links.gpkg", _link_layer(links_mean, links_all, prepared.patch_report)
    )
    io.write_parquet(
        partial_dir / "junctions.parquet",
        stacked([o.junctions.drop(columns="geometry") for o in outputs]),
    )
    junctions_mean = _mean_junctions([o.junctions for o in outputs])
    approaches = [o.approaches for o in outputs if o.approaches is not None]
    approaches_mean = None
    if approaches:
        # the replications run on one network: each has an approach table, or none has
        if len(approaches) != len(outputs):
            raise ValueError(
                f"{len(approaches)} of {len(outputs)} replications have an approach table"
            )
        io.write_parquet(
            partial_dir / "approaches.parquet",
            stacked([a.drop(columns="geometry") for a in approaches]),
        )
        approaches_mean = metrics.mark_congested(
            compare.mean_over_replications(approaches, ["link", "movements"])
        )
        io.write_points_csv(partial_dir / "approaches.csv", approaches_mean)
    if not junctions_mean.empty:
        io.write_junctions_gpkg(partial_dir / "junctions.gpkg", junctions_mean, approaches_mean)
        io.write_points_csv(partial_dir / "junctions.csv", junctions_mean)
    io.write_parquet(partial_dir / "trips.parquet", stacked([o.trips for o in outputs]))
    io.write_csv(partial_dir / "timeseries.csv", stacked([o.timeseries for o in outputs]))
    io.write_csv(partial_dir / "route_choice.csv", stacked([o.route_choice for o in outputs]))
    if any(o.signal_timing is not None for o in outputs):
        io.write_csv(
            partial_dir / "signal_plans.csv",
            stacked(
                [pd.DataFrame() if o.signal_timing is None else o.signal_timing for o in outputs]
            ),
        )
    if prepared.calibration_log is not None:
        io.write_csv(partial_dir / "calibration.csv", prepared.calibration_log)
        log_lines.append(
            f"demand calibrated to target TTI {prepared.scenario.demand.target_tti}: "
            f"{prepared.demand_spec.trips} trips"
        )
    io.write_text(partial_dir / "patches.txt", prepared.patch_report.to_text())
    io.write_json(partial_dir / "patches.json", _patch_marks(prepared.patch_report))
    changed = _changed_features(prepared)
    if any(not table.empty for table in changed.values()):
        io.write_layers_gpkg(partial_dir / "patched.gpkg", changed)
    figures = partial_dir / "figures"
    figures.mkdir(exist_ok=True)
    plot.congestion_map(
        links_mean, figures / "congestion.png", title=f"{resolved.title or resolved.name}"
    )
    for o in outputs:
        if o.demand_log:
            log_lines.append(f"seed {o.seed} demand patches:\n{o.demand_log}")
    io.write_text(partial_dir / "log.txt", "\n".join(log_lines) + "\n")


def route_choice_summary(kpis: Sequence[dict[str, float]], settings: RouteChoiceSettings) -> dict:
    """How far route choice got in each replication: final relative gaps and iterations.

    Returns
    -------
    dict
        ``relative_gap`` and ``iterations`` per replication, the ``tolerance`` and ``cap`` of the
        settings, the largest gap (``max_relative_gap``), the re-timed signal plans' 90th-
        percentile move after the final run, highest over the replications
        (``max_signal_plan_change_s``), and whether every replication reached the tolerance with
        settled plans (``converged``).
    """
    gaps = [float(k.get("relative_gap", math.nan)) for k in kpis]
    finite = [g for g in gaps if math.isfinite(g)]
    plan_change = max((float(k.get("signal_plan_change_s", 0.0)) for k in kpis), default=0.0)
    return {
        "relative_gap": gaps,
        "iterations": [int(k.get("route_iterations", 0)) for k in kpis],
        "tolerance": settings.relative_gap_tolerance,
        "cap": settings.iterations,
        "max_relative_gap": max(finite) if finite else None,
        "max_signal_plan_change_s": plan_change,
        "converged": bool(finite)
        and max(finite) < settings.relative_gap_tolerance
        and plan_change <= retiming.plan_tolerance_s,
    }


def _finished_kpis(run_dir: Path) -> list[dict[str, float]]:
    """KPI dicts per replication of a finished run, for reuse; a damaged summary is an error."""
    summary_path = run_dir / "summary.json"
    try:
        done = json.loads(summary_path.read_text(encoding="utf-8"))
        return [{k: v for k, v in rep.items() if k != "seed"} for rep in done["replications"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ResultsError(
            f"the finished run {run_dir.name} cannot be reused: summary.json is unreadable "
            f"({error})",
            file=summary_path,
            hint="rerun with --force (or delete that run folder)",
        ) from None


# --- comparison ------------------------------------------------------------------------------


@dataclass
class RunResults:
    """A finished run folder read back: what a comparison needs."""

    run_dir: Path
    name: str
    meta: dict
    summary: dict
    links: gpd.GeoDataFrame
    timeseries: list[pd.DataFrame]
    patched: gpd.GeoDataFrame | None
    patch_log: str
    #: ``[u, v, key]`` of the links the scenario's patches touched (``patches.json``).
    patched_edges: list[list[int]] = field(default_factory=list)
    #: junctions the scenario's patches touched (``patches.json``).
    patched_nodes: list[int] = field(default_factory=list)
    #: lane groups of the junction approaches, mean over replications (``junctions.gpkg``);
    #: None for runs written before cysim 0.4
    approaches: gpd.GeoDataFrame | None = None
    #: the change log in road names (``patches.json``); the full log for runs before cysim 0.6.1
    patch_summary: str = ""
    #: junctions a patch changed itself, channelised ones included (``patches.json``)
    changed_junctions: list[int] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        """Seeds of the replications, in order."""
        return [int(s) for s in self.summary["seeds"]]

    @property
    def kpis(self) -> list[dict[str, float]]:
        """KPI dict per replication, in seed order."""
        return [{k: v for k, v in r.items() if k != "seed"} for r in self.summary["replications"]]


def load_run(run_dir: str | Path) -> RunResults:
    """Read a finished run folder (one with a ``COMPLETE`` marker).

    Parameters
    ----------
    run_dir
        ``results/<scenario>/<run-id>/``, as :func:`cysim.pipeline.run.run_scenario` wrote it.

    Returns
    -------
    RunResults
        The resolved scenario (``meta``), summary, link layer, time series and patched features.

    Raises
    ------
    ResultsError
        The folder is missing, incomplete (no marker: interrupted or still running) or lacks a file.
    """
    import yaml

    run_dir = Path(run_dir)
    if io.read_marker(run_dir) is None:
        raise ResultsError(
            f"{run_dir} is not a complete cysim run folder (no COMPLETE marker)",
            hint="pass a scenario YAML, or a finished folder under results/<scenario>/",
        )
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        meta = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8")) or {}
        links = gpd.read_file(run_dir / "links.gpkg", layer="links_utm", engine="pyogrio")
        series = pd.read_csv(run_dir / "timeseries.csv")
        patched = io.read_patched_gpkg(run_dir / "patched.gpkg")
        patch_log = (run_dir / "patches.txt").read_text(encoding="utf-8")
        marks_path = run_dir / "patches.json"
        marks = json.loads(marks_path.read_text(encoding="utf-8")) if marks_path.exists() else {}
        junctions_path = run_dir / "junctions.gpkg"
        approaches = (
            gpd.read_file(junctions_path, layer="approaches_utm", engine="pyogrio")
            if junctions_path.exists()
            else None
        )
    except (OSError, ValueError, KeyError) as error:
        raise ResultsError(
            f"cannot read run folder {run_dir}: {error}", hint="rerun the scenario with --force"
        ) from error
    timeseries = [g.drop(columns=["replication", "seed"]) for _, g in series.groupby("replication")]
    return RunResults(
        run_dir,
        str(summary["scenario"]),
        meta,
        summary,
        links,
        timeseries,
        patched,
        patch_log,
        patched_edges=[list(map(int, e)) for e in marks.get("edges", [])],
        patched_nodes=[int(n) for n in marks.get("nodes", [])],
        approaches=approaches,
        patch_summary=str(marks.get("summary") or patch_log),
        changed_junctions=[int(n) for n in marks.get("junctions", marks.get("nodes", []))],
    )
