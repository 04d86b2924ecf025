"""Run a scenario end to end: network → patches → demand → replications → results folder."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from . import (
    assign,
    basemaps,
    compare,
    demand,
    io,
    mapview,
    metrics,
    modeldefaults,
    netcache,
    network,
    patches,
    patchreport,
    plot,
    scenario,
    signals,
    sim,
    stats,
    webmap,
)
from ._errors import ResultsError, SimulationError
from ._version import __version__
from .sim import retiming
from .simsettings import RouteChoiceSettings

#: Called as ``progress(done_replications, total_replications)`` while a scenario runs.
ProgressFn = Callable[[int, int], None]
#: Called with the outcome of a scenario whose finished run is reused (nothing is simulated).
ReusedFn = Callable[["RunOutcome"], None]


@dataclass
class PreparedScenario:
    """A scenario with its patched network, ready to simulate (plain data, picklable).

    Attributes
    ----------
    scenario
        The resolved scenario.
    graph
        The patched network.
    base_graph
        The network before the scenario's patches (the baseline network), for calibration and
        for Webster's baseline flows.
    patch_report
        What the patches changed.
    demand_spec
        The demand actually used: the scenario's, with ``trips`` fixed when it was calibrated.
    calibration_log
        The calibration iterations when ``demand.target_tti`` was set, else None.
    """

    scenario: scenario.Scenario
    graph: nx.MultiDiGraph
    base_graph: nx.MultiDiGraph
    patch_report: patches.PatchReport
    demand_spec: demand.DemandSpec
    calibration_log: pd.DataFrame | None = None


@dataclass
class ReplicationOutput:
    """What one replication returns to the parent process: KPIs and frames, no engine state."""

    seed: int
    kpis: dict[str, float]
    links: gpd.GeoDataFrame
    junctions: gpd.GeoDataFrame
    timeseries: pd.DataFrame
    trips: pd.DataFrame
    route_choice: pd.DataFrame
    gridlock: dict
    demand_log: str
    wall_s: float
    #: the final route choice, the warm start of the scenario's other replications
    route_costs: sim.RouteCosts | None = None
    #: the plans re-timed inside route choice (``optimize: webster``), per phase
    signal_timing: pd.DataFrame | None = None
    #: degree of saturation and level of service per junction approach lane group
    approaches: gpd.GeoDataFrame | None = None


@dataclass
class RunOutcome:
    """A finished (or reused) run of one scenario."""

    run_dir: Path
    reused: bool
    scenario_name: str
    seeds: list[int]
    kpis: list[dict[str, float]]
    log_lines: list[str] = field(default_factory=list)


def _has_webster(patch_list: Sequence[patches.PatchBase]) -> bool:
    """Whether any signal_timing patch asks for Webster optimisation from baseline flows."""
    return any(getattr(p, "optimize", None) == "webster" for p in patch_list)


def prepare_scenario(path: str | Path, *, sample_factor: float | None = None) -> PreparedScenario:
    """Load a scenario and its map, calibrate its demand if asked, apply its network patches.

    Parameters
    ----------
    path
        Scenario YAML file.
    sample_factor
        Override ``demand.sample_factor`` (the share of vehicles simulated) before anything is
        prepared, so calibration and Webster flows use it too and the run's fingerprint tells it
        apart.

    Returns
    -------
    PreparedScenario

    Raises
    ------
    CysimError
        Any problem with the scenario, the map or a patch (the message names file and key).
    """
    resolved = scenario.load_scenario(path)
    if sample_factor is not None:
        resolved = _with_sample_factor(resolved, sample_factor)
    road_classes = resolved.network.road_classes or None
    base_graph = load_scenario_network(resolved)
    demand_spec, calibration_log = resolved.demand, None
    check_memory(resolved, demand_spec, base_graph.number_of_nodes())
    if demand_spec.target_tti is not None:
        with resolved.pointing_into():
            demand_spec, calibration_log = calibrate_demand(resolved, base_graph)
    flows = None
    if _has_webster(resolved.patches):
        # Webster needs the baseline's peak-hour approach flows: the static equilibrium of the
        # scenario's demand on the unpatched network gives them deterministically, without an
        # earlier run.
        with resolved.pointing_into():
            base_trips = build_scenario_trips(resolved, base_graph, spec=demand_spec)
        flows, _ = assign.peak_hour_edge_flows(base_graph, base_trips)
    graph, report = patches.apply_patches(
        base_graph,
        resolved.patches,
        baseline_link_flows=flows,
        scenario_file=resolved.source_file,
        road_class_overrides=road_classes,
    )
    return PreparedScenario(resolved, graph, base_graph, report, demand_spec, calibration_log)


def load_scenario_network(resolved: scenario.Scenario) -> nx.MultiDiGraph:
    """The scenario's network before its patches: its map, built with its ``network:`` section.

    Reused from :mod:`cysim.netcache` when the same map bytes were built with the same network
    settings, defaults and cysim version before (a second scenario on a map skips the build).

    Raises
    ------
    CysimError
        The map cannot be loaded (the message names the file).
    """
    section = resolved.network

    def build() -> nx.MultiDiGraph:
        G = network.load_network(
            resolved.map,
            road_class_overrides=section.road_classes or None,
            consolidation_tolerance_m=section.consolidation_tolerance_m,
        )
        G.graph["lane_groups"] = section.lane_groups
        if section.signal_plans == "fitted":
            # before calibration and patches: the baseline's own plans fit its flows, and a
            # patch that times a junction replaces the mark
            signals.fit_plans_to_flows(G)
        return G

    with resolved.pointing_into():
        if not Path(resolved.map).is_file():
            return build()  # the loader's own error names the missing file
        key = netcache.network_key(resolved.map, section.model_dump(mode="json"))
        graph, _ = netcache.load_or_build(key, build)
    return graph


def _with_sample_factor(resolved: scenario.Scenario, sample_factor: float) -> scenario.Scenario:
    """The scenario simulating a share ``sample_factor`` of the vehicles instead.

    Raises
    ------
    SimulationError
        The factor is outside (0, 1].
    """
    if not 0 < sample_factor <= 1:
        raise SimulationError(
            f"sample factor {sample_factor:g} is outside (0, 1]",
            key="--sample-factor",
            hint="give the share of vehicles to simulate, e.g. 0.5, or 1.0 for final figures",
        )
    demand_spec = resolved.demand.model_copy(update={"sample_factor": sample_factor})
    return resolved.model_copy(update={"demand": demand_spec})


def calibrate_demand(
    resolved: scenario.Scenario, base_graph: nx.MultiDiGraph
) -> tuple[demand.DemandSpec, pd.DataFrame]:
    """Find the total of car trips at which the baseline network reaches ``demand.target_tti``.

    Calibration runs the engine on the *unpatched* network with the scenario's own demand, so a
    baseline and a measure that share a demand section get the same total, and the measure's
    effect is not absorbed into the calibration.

    Returns
    -------
    (spec, log)
        The demand spec with ``trips`` fixed at the calibrated total (``target_tti`` cleared) and
        the iteration log of :func:`cysim.demand.calibrate_trips`.
    """
    settings = resolved.simulation
    seed = settings.seed

    def tti_of_trips(trips: pd.DataFrame) -> float:
        result = sim.simulate(base_graph, trips, settings, seed=seed)
        return float(metrics.network_kpis(result, base_graph)["travel_time_index"])

    _, log = demand.calibrate_trips(
        base_graph,
        resolved.demand,
        seed=seed,
        tti_of_trips=tti_of_trips,
        base_dir=resolved.source_file.parent,
        duration_s=settings.duration_s,
        start_time=settings.start_time,
    )
    total = int(log.attrs["chosen_trips"])
    return resolved.demand.model_copy(update={"trips": total, "target_tti": None}), log


def fit_demand_targets(
    path: str | Path,
    *,
    sample_factor: float | None = None,
    on_iteration: Callable[[dict[str, float]], None] | None = None,
) -> tuple[scenario.Scenario, demand.TargetFit]:
    """Fit a scenario's demand levers to ``demand.calibration.targets`` (``cysim calibrate
    --fit``).

    Every evaluation runs the engine (route choice as the scenario sets it, the scenario's seed)
    on the *unpatched* network with the scenario's signal plans, as :func:`calibrate_demand`.

    Returns
    -------
    (scenario, fit)
        The loaded scenario and :class:`cysim.demand.TargetFit`.
    """
    prepared = prepare_scenario(path, sample_factor=sample_factor)
    resolved, base_graph = prepared.scenario, prepared.base_graph
    settings = resolved.simulation

    def evaluate(trips: pd.DataFrame) -> dict[str, float]:
        result = sim.simulate(base_graph, trips, settings, seed=settings.seed)
        return metrics.network_kpis(result, base_graph)

    with resolved.pointing_into():
        fit = demand.fit_targets(
            base_graph,
            prepared.demand_spec,
            seed=settings.seed,
            evaluate=evaluate,
            base_dir=resolved.source_file.parent,
            duration_s=settings.duration_s,
            start_time=settings.start_time,
            on_iteration=on_iteration,
        )
    return resolved, fit


def build_scenario_trips(
    resolved: scenario.Scenario,
    G: nx.MultiDiGraph,
    seed: int | None = None,
    spec: demand.DemandSpec | None = None,
) -> pd.DataFrame:
    """A scenario's car trips for one seed, before demand patches: the one place trips are built
    from a scenario (``cysim run``, ``cysim validate``).

    Parameters
    ----------
    resolved
        The scenario (its period and folder).
    G
        The network the trips are drawn on (unpatched, for common random numbers).
    seed
        Seed of the demand draws (default: the scenario's ``simulation.seed``).
    spec
        The demand (default: the scenario's ``demand:``; calibrated runs pass their own).

    Returns
    -------
    pandas.DataFrame
        The trips table (docs/data-model.md §3).
    """
    spec = resolved.demand if spec is None else spec
    seed = resolved.simulation.seed if seed is None else seed
    return demand.build_trips(
        G,
        spec,
        seed=seed,
        base_dir=resolved.source_file.parent,
        duration_s=resolved.simulation.duration_s,
        start_time=resolved.simulation.start_time,
    )


def scenario_trips(
    prepared: PreparedScenario, seed: int, *, what: str = "simulate"
) -> tuple[pd.DataFrame, patches.PatchReport]:
    """The car trips a prepared scenario simulates for ``seed``, demand patches applied.

    Trips are drawn on the unpatched network, so a baseline and a measure with the same demand
    and seed get the same trips (common random numbers); a trip end a patch cut off is reported
    as unrouted, not silently moved.

    Parameters
    ----------
    prepared
        From :func:`prepare_scenario`.
    seed
        Seed of the demand draws.
    what
        What the trips are for, in the error message (``"simulate"``, ``"export"``).

    Returns
    -------
    tuple
        ``(trips, demand_report)``, the report of :func:`cysim.patches.apply_demand_patches`.

    Raises
    ------
    SimulationError
        The demand is empty.
    """
    resolved = prepared.scenario
    with resolved.pointing_into():
        trips = build_scenario_trips(resolved, prepared.base_graph, seed, spec=prepared.demand_spec)
    trips, demand_report = patches.apply_demand_patches(
        trips, resolved.patches, prepared.graph, scenario_file=resolved.source_file
    )
    if trips.empty:
        raise SimulationError(
            f"the demand is empty: no car trips to {what}",
            file=resolved.source_file,
            key="demand",
            hint="raise demand.trips or check the OD input and demand_shift patches",
        )
    return trips, demand_report


def run_replication(
    prepared: PreparedScenario, seed: int, warm_start: sim.RouteCosts | None = None
) -> ReplicationOutput:
    """Build the demand for ``seed``, simulate it and reduce the records to metric frames.

    Parameters
    ----------
    prepared
        From :func:`prepare_scenario`.
    seed
        Seed of the demand draws and the engine.
    warm_start
        Route choice of another replication of the same scenario to start from
        (:func:`cysim.sim.simulate`), or None to equilibrate from free-flow routes.

    Returns
    -------
    ReplicationOutput
    """
    started = time.perf_counter()
    resolved = prepared.scenario
    trips, demand_report = scenario_trips(prepared, seed)
    result = sim.simulate(
        prepared.graph, trips, resolved.simulation, seed=seed, warm_start=warm_start
    )
    return ReplicationOutput(
        seed=seed,
        kpis=metrics.network_kpis(result, prepared.graph),
        links=metrics.link_table(result, prepared.graph),
        junctions=metrics.junction_table(result, prepared.graph),
        timeseries=metrics.timeseries(result),
        trips=metrics.trip_table(result),
        route_choice=result.route_choice,
        gridlock=result.gridlock,
        demand_log=demand_report.to_text() if demand_report.entries else "",
        wall_s=time.perf_counter() - started,
        # only a warm start needs it (and it is sent back from the worker process)
        route_costs=result.route_costs if resolved.simulation.route_choice.warm_start else None,
        signal_timing=result.signal_timing,
        approaches=metrics.approach_table(result, prepared.graph),
    )


def run_replications(
    prepared: PreparedScenario,
    seeds: Sequence[int],
    *,
    workers: int = 1,
    progress: ProgressFn | None = None,
    scheduler: str | None = None,
) -> list[ReplicationOutput]:
    """Run replications, in parallel processes when ``workers > 1``; results in seed order.

    Each replication draws its own demand (the seed) and equilibrates route choice for it from
    free-flow routes, so replications are independent and their results do not depend on
    ``workers``. With ``simulation.route_choice.warm_start`` the replications after the first
    start from its final route choice instead (fewer iterations; docs/model.md §7). With
    ``scheduler`` (``tcp://HOST:PORT``) they run on that Dask cluster (:mod:`cysim.distributed`;
    ``workers`` is then ignored).
    """
    if scheduler:
        from . import distributed

        warm = prepared.scenario.simulation.route_choice.warm_start
        if not warm or len(seeds) == 1:
            return distributed.run_replications(
                prepared, seeds, scheduler=scheduler, progress=progress
            )
        if progress:
            progress(0, len(seeds))
        first = distributed.run_replications(prepared, seeds[:1], scheduler=scheduler)
        if progress:
            progress(1, len(seeds))

        def later(done: int, _total: int) -> None:
            if progress and done:
                progress(1 + done, len(seeds))

        rest = distributed.run_replications(
            prepared, seeds[1:], scheduler=scheduler, progress=later,
            warm_start=first[0].route_costs,
        )  # fmt: skip
        return first + rest
    return _run_jointly([(prepared, list(seeds), progress)], workers)[0]


#: One scenario's replications for :func:`_run_jointly`: prepared scenario, seeds, progress.
_Job = tuple[PreparedScenario, list[int], ProgressFn | None]


def _run_jointly(jobs: Sequence[_Job], workers: int) -> list[list[ReplicationOutput]]:
    """Every job's replications on one pool of ``workers`` processes; outputs in seed order.

    All replications start at once, except with ``route_choice.warm_start``: then a scenario's
    later seeds start once its first seed has finished, from its route choice.
    """
    done: list[dict[int, ReplicationOutput]] = [{} for _ in jobs]

    def warm(i: int) -> bool:
        return jobs[i][0].scenario.simulation.route_choice.warm_start

    def report(i: int) -> None:
        _, seeds, progress = jobs[i]
        if progress:
            progress(len(done[i]), len(seeds))

    for i in range(len(jobs)):
        report(i)
    if workers <= 1 or sum(len(seeds) for _, seeds, _ in jobs) == 1:
        for i, (prepared, seeds, _) in enumerate(jobs):
            for seed in seeds:
                start = done[i][seeds[0]].route_costs if warm(i) and done[i] else None
                done[i][seed] = run_replication(prepared, seed, start)
                report(i)
        return [[done[i][s] for s in seeds] for i, (_, seeds, _) in enumerate(jobs)]
    # fork keeps start-up cheap (no re-import); the prepared scenario is pickled per task.
    context = multiprocessing.get_context("fork")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(run_replication, prepared, seed): (i, seed)
            for i, (prepared, seeds, _) in enumerate(jobs)
            for seed in (seeds[:1] if warm(i) else seeds)
        }
        try:
            while futures:
                finished, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    i, seed = futures.pop(future)
                    prepared, seeds, _ = jobs[i]
                    done[i][seed] = output = future.result()
                    if warm(i) and seed == seeds[0]:
                        for later in seeds[1:]:
                            task = pool.submit(run_replication, prepared, later, output.route_costs)
                            futures[task] = (i, later)
                    report(i)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [[done[i][s] for s in seeds] for i, (_, seeds, _) in enumerate(jobs)]


def _run_key(prepared: PreparedScenario, replications: int) -> str:
    """Fingerprint of what a run depends on: the resolved scenario (with the map's hash), the
    model's defaults that live in code (:func:`cysim.modeldefaults.digest`) and replications."""
    return f"{prepared.scenario.fingerprint()}-m{modeldefaults.digest()[:16]}-r{replications}"


def _patch_marks(report: patches.PatchReport) -> dict:
    """The patched edges and nodes, JSON-ready (for the maps), and the change log in road names
    (for the report)."""
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
    """The mean link table for ``links.gpkg``: with each link's 95 % intervals over the
    replications (:func:`cysim.compare.link_intervals`) and ``patched`` (a patch of the
    scenario changed the link)."""
    layer = links_mean.merge(compare.link_intervals(links_all), on=["u", "v", "key"], how="left")
    changed = set(report.patched_edges())
    keys = zip(layer["u"], layer["v"], layer["key"], strict=True)
    layer["patched"] = [(int(u), int(v), int(k)) in changed for u, v, k in keys]
    return layer


def _mean_junctions(tables: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Junction tables averaged over replications, the level of service from the mean delay
    (not the first replication's letter)."""
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
        io.write_parquet(
            partial_dir / "approaches.parquet",
            stacked([o.approaches.drop(columns="geometry") for o in outputs]),
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


#: Engine memory per simulated trip and path link, and per trip besides, measured with
#: tracemalloc on the bundled map (2,000 and 20,000 trips: ≈ 2.2 kB per trip at ~10 links).
BYTES_PER_TRIP_LINK: float = 230.0
BYTES_PER_TRIP: float = 600.0
#: The demand builder holds a few arrays of the full (unsampled) trip count.
BYTES_PER_DEMAND_TRIP: float = 100.0


def _available_memory_bytes() -> float:
    """Memory the system can still give this run (``MemAvailable``; total RAM as fallback)."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def memory_estimate_bytes(
    spec: demand.DemandSpec, n_junctions: int, parallel_runs: int = 1
) -> float | None:
    """Peak memory a run of the scenario needs, estimated before any trip is built.

    ``trips × sample_factor × (BYTES_PER_TRIP_LINK × path links + BYTES_PER_TRIP)`` per
    simulated replication, where path links ≈ 0.6 √junctions (a grid-like network), plus the
    demand builder's arrays of the full trip count (``trips`` plus ``external.trips``); times the
    replications that run at once. None when the total is not known up front (an imported file
    sets it).
    """
    if spec.trips is None:
        return None
    trips = spec.trips + (spec.external.trips if spec.external is not None else 0)
    path_links = 0.6 * math.sqrt(max(n_junctions, 1))
    simulated = trips * spec.sample_factor
    per_run = simulated * (BYTES_PER_TRIP_LINK * path_links + BYTES_PER_TRIP)
    per_run += trips * BYTES_PER_DEMAND_TRIP
    return per_run * max(parallel_runs, 1)


def check_memory(
    resolved: scenario.Scenario,
    spec: demand.DemandSpec,
    n_junctions: int,
    parallel_runs: int = 1,
) -> None:
    """Refuse up front a run that would not fit in memory, saying what lowers the need.

    Raises
    ------
    SimulationError
        The estimate exceeds 80 % of the memory available now.
    """
    need = memory_estimate_bytes(spec, n_junctions, parallel_runs)
    available = _available_memory_bytes()
    if need is None or need <= 0.8 * available:
        return
    file, line = resolved.where("demand.trips")
    share = max(0.01, 0.5 * spec.sample_factor * available / need)
    raise SimulationError(
        f"{spec.trips:,} car trips (sample_factor {spec.sample_factor:g}) need about "
        f"{need / 1e9:,.1f} GB of memory with {parallel_runs} replication(s) at once; "
        f"{available / 1e9:,.1f} GB are available",
        file=file,
        line=line,
        key="demand.trips",
        hint=f"lower demand.trips, or set demand.sample_factor to {share:.2f} or less, "
        "or use fewer --workers",
    )


def run_scenario(
    path: str | Path,
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    force: bool = False,
    results_root: Path | None = None,
    progress: ProgressFn | None = None,
    prepared: PreparedScenario | None = None,
    scheduler: str | None = None,
    sample_factor: float | None = None,
    on_reused: ReusedFn | None = None,
) -> RunOutcome:
    """Run a scenario's replications and write its results folder, or reuse a finished one.

    A finished run with the same resolved scenario (incl. the map file's hash), seed,
    replications and cysim version is reused unless ``force``. The folder is written under a
    temporary name and renamed when complete, under a per-scenario lock, so an interrupted or
    concurrent run never leaves a folder that looks complete.

    Parameters
    ----------
    path
        Scenario YAML file.
    replications, seed
        Override ``simulation.replications`` / ``simulation.seed``; seeds are ``seed, seed+1, …``.
    workers
        Parallel processes for the replications.
    force
        Run even if a finished identical run exists.
    results_root
        Where results go (``results/`` in the working directory by default).
    progress
        Called as ``progress(done, total)`` replications.
    prepared
        An already prepared scenario (saves loading the map twice).
    scheduler
        Dask scheduler address (``tcp://HOST:PORT``): run the replications on that cluster.
    sample_factor
        Override ``demand.sample_factor`` (share of vehicles simulated; 1.0 for final figures).
    on_reused
        Called with the outcome as soon as a finished run is found to reuse (``progress`` is
        then never called).

    Returns
    -------
    RunOutcome
    """
    [outcome] = run_scenarios(
        [path],
        replications=replications,
        seed=seed,
        workers=workers,
        force=force,
        results_root=results_root,
        progress_for=(lambda _name: progress) if progress else None,
        prepared=[prepared],
        scheduler=scheduler,
        sample_factor=sample_factor,
        on_reused=on_reused,
    )
    return outcome


@dataclass
class _PendingRun:
    """A scenario run that is neither finished nor reusable yet."""

    path: Path
    prepared: PreparedScenario
    seeds: list[int]
    key: str
    log_lines: list[str]
    started: float
    progress: ProgressFn | None


def run_scenarios(
    paths: Sequence[str | Path],
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    force: bool = False,
    results_root: Path | None = None,
    progress_for: Callable[[str], ProgressFn | None] | None = None,
    prepared: Sequence[PreparedScenario | None] | None = None,
    scheduler: str | None = None,
    sample_factor: float | None = None,
    on_reused: ReusedFn | None = None,
) -> list[RunOutcome]:
    """Run several scenarios as :func:`run_scenario` does, sharing the worker processes.

    The replications of all scenarios go to one pool of ``workers`` processes, so no core waits
    for the other scenario (with ``route_choice.warm_start`` a scenario's later replications
    start once its first has finished). Each replication's result is the one
    :func:`run_scenario` would give; a scenario given twice (as two paths, or as two files with
    the same name and content) runs once.

    Parameters
    ----------
    paths
        Scenario YAML files (a file given twice runs once).
    replications, seed, workers, force, results_root, scheduler, sample_factor, on_reused
        As :func:`run_scenario`.
    progress_for
        ``progress_for(name)`` returns the progress callback of one scenario; it is asked only
        for the scenarios that run (not for reused ones).
    prepared
        Already prepared scenarios, aligned with ``paths`` (None entries are prepared here).

    Returns
    -------
    list[RunOutcome]
        Aligned with ``paths``.
    """
    given = list(prepared) if prepared is not None else [None] * len(paths)
    outcomes: dict[Path, RunOutcome] = {}
    pending: dict[Path, _PendingRun] = {}
    resolved_paths = [Path(p).resolve() for p in paths]
    same_as: dict[Path, Path] = {}  # a file whose run is another file's (same name and content)
    planned: dict[tuple[str, str, int], Path] = {}
    for path, ready in zip(resolved_paths, given, strict=True):
        if path in outcomes or path in pending or path in same_as:
            continue
        run = _plan_run(path, ready, replications, seed, workers, scheduler, sample_factor)
        name = run.prepared.scenario.name
        identity = (name, run.key, run.seeds[0])
        if identity in planned:
            same_as[path] = planned[identity]
            continue
        planned[identity] = path
        existing = (
            None
            if force
            else io.find_complete_run(name, run.key, run.seeds[0], __version__, results_root)
        )
        if existing is not None:
            outcomes[path] = RunOutcome(
                existing, True, name, run.seeds, _finished_kpis(existing), run.log_lines
            )
            if on_reused:
                on_reused(outcomes[path])
            continue
        run.progress = progress_for(path.stem) if progress_for else None
        pending[path] = run
    if pending:
        runs = list(pending.values())
        for run in runs:
            check_memory(
                run.prepared.scenario,
                run.prepared.demand_spec,
                run.prepared.graph.number_of_nodes(),
                parallel_runs=1 if scheduler else min(workers, sum(len(r.seeds) for r in runs)),
            )
        with contextlib.ExitStack() as locks:
            for name in sorted({r.prepared.scenario.name for r in runs}):
                locks.enter_context(io.scenario_lock(name, results_root))
            if scheduler:
                outputs = [
                    run_replications(r.prepared, r.seeds, progress=r.progress, scheduler=scheduler)
                    for r in runs
                ]
            else:
                outputs = _run_jointly([(r.prepared, r.seeds, r.progress) for r in runs], workers)
            for path, run, out in zip(pending, runs, outputs, strict=True):
                outcomes[path] = _write_outcome(run, out, workers, results_root)
    for path, first in same_as.items():
        outcomes[path] = outcomes[first]
    return [outcomes[p] for p in resolved_paths]


def _plan_run(
    path: Path,
    prepared: PreparedScenario | None,
    replications: int | None,
    seed: int | None,
    workers: int,
    scheduler: str | None,
    sample_factor: float | None = None,
) -> _PendingRun:
    """Prepare a scenario and work out its seeds, fingerprint and log header."""
    log_lines = [f"cysim {__version__}", f"scenario file: {path}"]
    started = time.perf_counter()
    if prepared is None:
        prepared = prepare_scenario(path, sample_factor=sample_factor)
    elif sample_factor is not None and prepared.demand_spec.sample_factor != sample_factor:
        raise ValueError("prepare the scenario with prepare_scenario(path, sample_factor=...)")
    if sample_factor is not None:
        log_lines.append(f"demand.sample_factor overridden: {sample_factor:g}")
    resolved = prepared.scenario
    n_reps = replications or resolved.simulation.replications
    first_seed = resolved.simulation.seed if seed is None else seed
    seeds = [first_seed + i for i in range(n_reps)]
    key = _run_key(prepared, n_reps)
    log_lines.append(f"fingerprint: {key}; seeds: {seeds}; workers: {workers}")
    if scheduler:
        log_lines.append(f"dask scheduler: {scheduler}")
    log_lines.append(f"map: {resolved.map} ({prepared.graph.number_of_nodes()} junctions)")
    return _PendingRun(path, prepared, seeds, key, log_lines, started, None)


def _write_outcome(
    run: _PendingRun,
    outputs: list[ReplicationOutput],
    workers: int,
    results_root: Path | None,
) -> RunOutcome:
    """Write a finished run's folder atomically and describe it."""
    resolved = run.prepared.scenario
    log_lines = run.log_lines
    for o in outputs:
        log_lines.append(f"seed {o.seed}: {o.wall_s:.1f} s, gridlock={o.gridlock}")
    log_lines.append(f"total wall time {time.perf_counter() - run.started:.1f} s")
    run_id = io.make_run_id(run.seeds[0], run.key)
    partial = io.new_run_dir(resolved.name, run_id, results_root)
    try:
        write_run(run.prepared, outputs, partial, log_lines=log_lines)
        final = io.finalize(
            partial,
            fingerprint=run.key,
            seed=run.seeds[0],
            version=__version__,
            extra={"replications": len(run.seeds), "seeds": run.seeds, "workers": workers},
        )
    except OSError as error:
        io.discard(partial)
        raise ResultsError(
            f"cannot write results to {partial.parent}: {error.strerror or error}",
            hint="free disk space or pass another folder with --results",
        ) from None
    except BaseException:
        io.discard(partial)
        raise
    return RunOutcome(final, False, resolved.name, run.seeds, [o.kpis for o in outputs], log_lines)


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
        As :func:`run_scenario` (for sides given as scenario files).
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
        Override B's ``report.basemap`` (one of :data:`cysim.basemaps.BASEMAP_NAMES`).

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


#: Credit of the bundled schematic map, which the project drew (not OpenStreetMap's data).
SCHEMATIC_CREDIT = "示意图 schematic network drawn by cysim (road names after OpenStreetMap)"


def report_settings(target: Path) -> scenario.ReportSettings:
    """The ``report:`` section of scenario B: a YAML file or a finished run folder (its
    resolved ``scenario.yaml``; defaults for runs written before the section existed)."""
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
    cysim.basemaps.Basemap or None
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
    """``path`` relative to the project (the folder holding the results folder), for reports:
    full local paths say nothing to a committee and leak the author's folders."""
    project = out.resolve().parent.parent.parent  # <project>/results/compare/<folder>
    return os.path.relpath(Path(path).resolve(), project)


def _link_delta_layer(
    deltas: gpd.GeoDataFrame,
    links_a: pd.DataFrame,
    links_b: pd.DataFrame,
    measure_edges: Sequence[Sequence[int]],
) -> gpd.GeoDataFrame:
    """The link deltas for ``link_deltas.gpkg``: with the 95 % interval of each link's change
    (:func:`cysim.compare.link_delta_intervals`, from both runs' ``links.parquet``) and
    ``measure`` (B's patches changed the link, ``patches.json``)."""
    intervals = compare.link_delta_intervals(links_a, links_b)
    layer = deltas.merge(intervals, on=["u", "v", "key"], how="left")
    changed = {tuple(int(x) for x in edge) for edge in measure_edges}
    keys = zip(layer["u"], layer["v"], layer["key"], strict=True)
    layer["measure"] = [(int(u), int(v), int(k)) in changed for u, v, k in keys]
    return layer


def _write_junction_deltas(
    out: Path, run_a: RunResults, run_b: RunResults, china_layers: Sequence[str] = ()
) -> pd.DataFrame | None:
    """Write the junctions and approaches before and after: ``approach_deltas.csv``,
    ``junction_deltas.csv`` and ``junction_deltas.gpkg`` (point layers ``junction_deltas_*``
    and ``approach_deltas_*``), for the runs that have those records.

    Returns
    -------
    pandas.DataFrame or None
        :func:`cysim.compare.approach_deltas` (for the report), None without approach records.
    """
    # junctions a patch changed, and the ends of the links it changed
    touched = sorted(set(run_b.patched_nodes) | {n for e in run_b.patched_edges for n in e[:2]})
    layers: dict[str, gpd.GeoDataFrame] = {}
    junctions = [
        io.read_layers_gpkg(run.run_dir / "junctions.gpkg", ["junctions"])
        if (run.run_dir / "junctions.gpkg").exists()
        else None
        for run in (run_a, run_b)
    ]
    if junctions[0] is not None and junctions[1] is not None:
        layers["junction_deltas"] = compare.junction_deltas(*junctions, touched_nodes=touched)
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
    china_layers: Sequence[str] = (),
) -> None:
    """Write every file of a comparison folder into ``out`` (with ``china_layers``, the
    GeoPackages also hold GCJ-02 / BD-09 layers)."""
    from . import report

    labels = (run_a.name, run_b.name)
    schematic = mapview.SCHEMATIC_MAP_NAME in str(run_b.summary.get("map", ""))
    io.write_csv(out / "comparison.csv", compare.kpi_table_for_csv(table), index=True)
    links_per_replication = [
        pd.read_parquet(run.run_dir / "links.parquet") for run in (run_a, run_b)
    ]
    link_layer = _link_delta_layer(deltas, *links_per_replication, run_b.patched_edges)
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
    same_scale = {
        "flow_reference_vph": float(
            np.nanmax([run_a.links["flow_vph"].max(), run_b.links["flow_vph"].max(), 1.0])
        ),
        "detail": plot.detail_extent(run_b.patched, run_a.links),
    }
    figures = {
        "kpi_bars": plot.kpi_bars(table, fig / "kpi_bars.png", labels=labels),
        "congestion_a": plot.congestion_map(
            run_a.links, fig / "congestion_a.png", title=title_a, **same_scale
        ),
        "congestion_b": plot.congestion_map(
            run_b.links, fig / "congestion_b.png", title=title_b, **same_scale
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
            credit=SCHEMATIC_CREDIT if schematic else "road data © OpenStreetMap contributors",
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
