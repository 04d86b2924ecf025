"""CLI command ``cysim demand``: build a scenario's trips, summarise them, write table and map."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from .._errors import DemandError
from .console import make_console

if TYPE_CHECKING:
    import pandas as pd


def register(app: typer.Typer) -> None:
    """Register this module's commands on app."""
    app.command(name="demand")(demand)


def demand(
    scenario: Path = typer.Argument(..., help="scenario YAML file (its base: chain is resolved)"),
    trips_out: Path | None = typer.Option(
        None, "--trips-out", help="write the trips table here (.csv or .parquet)"
    ),
    map_out: Path | None = typer.Option(
        None, "--map-out", help="write a desire-line map PNG here (zone-to-zone trips)"
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="random seed (default: the scenario's simulation.seed)"
    ),
    top: int = typer.Option(10, "--top", min=1, help="OD pairs listed"),
) -> None:
    """Build the car trips of a scenario's demand and print a summary.

    Shows the total, departures per 15 minutes and per hour, the largest OD pairs and the mean
    free-flow trip length. Demand is built on the scenario's map without graph patches;
    demand_shift patches are applied. With target_tti the starting total is shown (cysim run
    calibrates it with the engine).
    """
    from .. import pipeline
    from ..demand import summary
    from ..demand.build import plan_demand, realise_trips
    from ..patch import apply as patches
    from ..scenario.load import load_scenario

    if trips_out is not None and trips_out.suffix.lower() not in (".csv", ".parquet"):
        raise DemandError(
            f"cannot write {trips_out.name}: unknown format",
            key="--trips-out",
            hint="end the file name in .csv or .parquet",
        )
    if map_out is not None and map_out.suffix.lower() != ".png":
        raise DemandError(
            f"cannot write {map_out.name}: the map is a PNG", key="--map-out", hint="use .png"
        )
    console = make_console(highlight=False)
    resolved = load_scenario(scenario)
    sim = resolved.simulation
    seed = sim.seed if seed is None else seed
    G = pipeline.load_scenario_network(resolved)
    spec = resolved.demand
    plan = plan_demand(
        G,
        spec,
        base_dir=resolved.source_file.parent,
        duration_s=sim.duration_s,
        start_time=sim.start_time,
    )
    total = spec.trips if plan.cells is not None else None
    trips = realise_trips(plan, total_trips=total, seed=seed, sample_factor=spec.sample_factor)
    shifts = [p for p in resolved.patches if p.type == "demand_shift"]
    if shifts:
        trips, _ = patches.apply_demand_patches(
            trips, resolved.patches, G, scenario_file=resolved.source_file
        )

    console.print(f"[bold]{escape(resolved.name)}[/bold]  {escape(resolved.title)}")
    console.print(f"  source: {escape(str(plan.source))}")
    if plan.zones is not None:
        console.print(f"  zones: {len(plan.zones)} ({escape(str(spec.zones.kind))})")
    sampled = trips.attrs.get("sample_factor", 1.0)
    line = f"  car trips: {len(trips):,}"
    if sampled < 1.0:
        full = trips.attrs.get("full_demand_trips", len(trips))
        line += f" [yellow](sampled {sampled:g} of {full:,})[/yellow]"
    console.print(line + f", start {escape(sim.start_time)}, seed {seed}")
    if spec.target_tti is not None:
        console.print(
            f"  target_tti {spec.target_tti}: this is the starting total; "
            "cysim run calibrates it with the engine"
        )
    if shifts:
        console.print(f"  after {len(shifts)} demand_shift patch(es)")
    stats = summary.freeflow_trip_stats(G, trips)
    console.print(
        f"  mean free-flow trip: {stats['mean_km']:.2f} km, {stats['mean_min']:.1f} min"
        + (f" ({stats['unreachable']} trips unreachable)" if stats["unreachable"] else "")
    )
    console.print(_time_table("Departures per 15 min", trips, sim.start_time, 900.0))
    console.print(_time_table("Departures per hour", trips, sim.start_time, 3600.0))
    pairs = summary.top_od_pairs(trips, top)
    table = Table(title=f"Top {len(pairs)} OD pairs")
    for column in ("origin", "destination", "trips"):
        table.add_column(column, justify="right" if column == "trips" else "left")
    for row in pairs.itertuples(index=False):
        table.add_row(escape(str(row.origin)), escape(str(row.destination)), f"{row.trips:,}")
    console.print(table)

    if trips_out is not None:
        from .. import io

        if trips_out.suffix.lower() == ".csv":
            io.write_csv(trips_out, trips)
        else:
            io.write_parquet(trips_out, trips)
        console.print(f"wrote {escape(str(trips_out))}")
    if map_out is not None:
        if plan.zones is None:
            raise DemandError(
                "this demand has no zones, so there are no desire lines to draw",
                key="--map-out",
                hint="use a zone-based demand (gravity, od_csv, or zone ids in the trip list)",
            )
        summary.plot_desire_lines(
            plan.zones, trips, map_out, title=f"{resolved.name}: desire lines", G=G
        )
        console.print(f"wrote {escape(str(map_out))}")


def _time_table(title: str, trips: pd.DataFrame, start_time: str, interval_s: float) -> Table:
    """A rich table of departures per interval with a share column."""
    from ..demand.summary import departures_by_interval

    counts = departures_by_interval(trips, start_time=start_time, interval_s=interval_s)
    table = Table(title=title)
    table.add_column("interval")
    table.add_column("trips", justify="right")
    table.add_column("share", justify="right")
    total = max(int(counts["trips"].sum()), 1)
    for row in counts.itertuples(index=False):
        table.add_row(f"{row.start}–{row.end}", f"{row.trips:,}", f"{row.trips / total:.1%}")
    return table
