"""One replication: a seed's trips simulated and reduced to metric frames."""

from __future__ import annotations

import time
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from .. import sim
from ..results import metrics
from .prepare import PreparedScenario, scenario_trips


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


def run_replication(
    prepared: PreparedScenario, seed: int, warm_start: sim.RouteCosts | None = None
) -> ReplicationOutput:
    """Build the demand for ``seed``, simulate it and reduce the records to metric frames.

    Parameters
    ----------
    prepared
        From :func:`~cysim.pipeline.prepare.prepare_scenario`.
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
