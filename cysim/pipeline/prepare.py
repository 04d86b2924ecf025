"""Prepare a scenario: its network (patched, cached), its demand plan, its trips per seed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pandas as pd

from .. import assign, demand, modeldefaults, scenario, sim
from .._errors import SimulationError
from ..control import signals
from ..network import build as network
from ..patch import apply as patches
from ..patch.models import PatchBase
from ..results import metrics
from . import netcache
from .memory import check_memory


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


def _has_webster(patch_list: Sequence[PatchBase]) -> bool:
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
    # the run folder's scenario.yaml records the model's values in code it is made with
    resolved = resolved.model_copy(update={"model_defaults": modeldefaults.model_values()})
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

    Reused from :mod:`cysim.pipeline.netcache` when the same map bytes were built with the same
    network
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
    on_iteration: Callable[[dict[str, float | None]], None] | None = None,
) -> tuple[scenario.Scenario, demand.TargetFit]:
    """Fit a scenario's demand levers to ``demand.calibration.targets``.

    This is ``cysim calibrate --fit``.

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
    """A scenario's car trips for one seed, before demand patches.

    This is the one place trips are built from a scenario (``cysim run``, ``cysim validate``).

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
        ``(trips, demand_report)``, the report of :func:`cysim.patch.apply.apply_demand_patches`.

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
