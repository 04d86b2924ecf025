"""The ``cysim`` command line: one Typer app with a module per command group."""

from __future__ import annotations

import sys

import typer

from .._errors import CysimError
from .._version import __version__
from . import assign_cmd, demand_cmd, map_cmd, run_cmd, scenario_cmd

app = typer.Typer(
    name="cysim",
    help="Traffic-decongestion scenarios for Chengyang District: network, patches, simulation, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Traffic-decongestion scenarios for Chengyang District: network, patches, simulation, report."""


@app.command()
def version() -> None:
    """Print the cysim version."""
    typer.echo(__version__)


map_cmd.register(app)
scenario_cmd.register(app)
demand_cmd.register(app)
run_cmd.register(app)
assign_cmd.register(app)


def main() -> None:
    """Run the CLI; user errors print one line and exit 2, never a traceback.

    Typer's standalone mode already turns usage errors into a message and exit 2; what reaches
    here is cysim's own error type, raised from inside a command.
    """
    try:
        app()
    except CysimError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted: stopped cleanly; no results were marked complete", err=True)
        sys.exit(130)
