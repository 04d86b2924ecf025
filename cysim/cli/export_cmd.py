"""CLI command ``cysim export sumo``: a scenario's network, signals, trips and routes for SUMO."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from .run_cmd import SampleFactor

export_app = typer.Typer(
    name="export",
    help="Export a scenario for other simulators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@export_app.command("sumo")
def sumo(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML", dir_okay=False)],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="folder for the SUMO files", file_okay=False)
    ],
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, help="seed of the demand draws (default: the scenario's)"),
    ] = None,
    sample_factor: SampleFactor = None,
    no_netconvert: Annotated[
        bool,
        typer.Option("--no-netconvert", help="write the plain XML files only; print the command"),
    ] = False,
) -> None:
    """Write SUMO plain XML (nodes, edges, connections, signal programs, routes) and net.xml.

    The patched network as cysim simulates it (same lane groups, movements, signal phases and
    priority rules), the scenario's trips for one seed and cysim's free-flow routes; netconvert
    (if found) builds NAME.net.xml. The command prints how to run SUMO's meso model with the
    settings of benchmarks/vs_sumo.py (cysim.pipeline.sumo_export.MESO_OPTIONS).
    """
    from ..pipeline import sumo_export

    result = sumo_export.export_scenario(
        scenario, out, seed=seed, sample_factor=sample_factor, build=not no_netconvert
    )
    for kind, path in result.files.items():
        typer.echo(f"wrote {kind:11} {path}")
    typer.echo(
        f"{result.vehicles:,} vehicles with routes, {result.skipped:,} trips without a route "
        f"left out; {result.connections:,} lane connections"
    )
    if not result.built:
        why = "--no-netconvert" if no_netconvert else "netconvert not found (install eclipse-sumo)"
        typer.echo(f"net.xml not built ({why}); build it with:")
        typer.echo("  " + shlex.join(result.netconvert))
    if "routes" in result.files:
        net = result.files.get(
            "net", Path(result.netconvert[result.netconvert.index("--output-file") + 1])
        )
        run = ["sumo", *sumo_export.MESO_OPTIONS, "-n", str(net), "-r", str(result.files["routes"])]
        typer.echo("run SUMO meso with:")
        typer.echo("  " + shlex.join(run))
    for note in result.notes:
        typer.echo(f"note: {note}")


def register(app: typer.Typer) -> None:
    """Register the ``export`` command group on the root app."""
    app.add_typer(export_app, name="export")
