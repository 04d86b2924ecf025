"""CLI command ``cysim assign``: static user-equilibrium assignment of a TNTP network and demand."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from .._errors import SimulationError
from .console import make_console

if TYPE_CHECKING:
    from ..assign import AssignmentResult


class MethodChoice(StrEnum):
    """Assignment methods offered on the command line."""

    bfw = "bfw"
    cfw = "cfw"
    fw = "fw"


def register(app: typer.Typer) -> None:
    """Register this module's commands on app."""
    app.command(name="assign")(assign_command)


def assign_command(
    tntp_net: Path | None = typer.Option(
        None, "--tntp-net", help="TNTP network file (*_net.tntp)", dir_okay=False
    ),
    tntp_trips: Path | None = typer.Option(
        None, "--tntp-trips", help="TNTP trips file (*_trips.tntp)", dir_okay=False
    ),
    method: MethodChoice = typer.Option(
        MethodChoice.bfw,
        "--method",
        help="bfw: bi-conjugate Frank–Wolfe (fastest); cfw: conjugate; fw: plain Frank–Wolfe",
    ),
    gap: float = typer.Option(
        1e-4, "--gap", min=1e-15, help="stop at this relative gap (TSTT − SPTT) / TSTT"
    ),
    max_iterations: int = typer.Option(2000, "--max-iterations", min=1, help="iteration cap"),
    first_thru_node: int | None = typer.Option(
        None,
        "--first-thru-node",
        help="zones numbered below this are not passed through (default: the file's header)",
    ),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        help="write link flows here (.csv or .parquet): init_node, term_node, flow, cost, …",
        dir_okay=False,
    ),
    rows: int = typer.Option(12, "--rows", min=2, help="iteration rows shown"),
) -> None:
    """Solve the static user equilibrium (BPR link costs) and print gap and objective per iteration.

    Costs and the objective are in the network's time unit (TNTP files: as given in the file).
    Exits 0 when solved; the summary says whether the gap was reached within the iteration cap.
    """
    from .. import assign, io
    from ..network import tntp

    if tntp_net is None or tntp_trips is None:
        raise typer.BadParameter(
            "give both --tntp-net and --tntp-trips", param_hint="--tntp-net / --tntp-trips"
        )
    if output is not None and output.suffix.lower() not in (".csv", ".parquet"):
        raise SimulationError(
            f"cannot write {output.name}: unknown format",
            key="--output",
            hint="end the file name in .csv or .parquet",
        )
    console = make_console(highlight=False)
    network = tntp.read_tntp_network(tntp_net)
    trips = tntp.read_tntp_trips(tntp_trips)
    console.print(
        f"[bold]{tntp_net.name}[/bold]: {len(network)} links, "
        f"first thru node {first_thru_node or network.attrs.get('first_thru_node')}; "
        f"[bold]{tntp_trips.name}[/bold]: {len(trips)} OD pairs, {trips.attrs['total']:,.1f} trips"
    )
    result = assign.assign(
        network,
        trips,
        method=method.value,
        max_iterations=max_iterations,
        relative_gap=gap,
        first_thru_node=first_thru_node,
    )
    console.print(_iteration_table(result, rows))
    elapsed = float(result.iterations["elapsed_s"].iloc[-1])
    status = (
        f"[green]converged[/green] to gap {result.relative_gap:.2e} ≤ {gap:.0e}"
        if result.converged
        else f"[yellow]not converged[/yellow]: gap {result.relative_gap:.2e} > {gap:.0e}"
    )
    console.print(
        f"{status} in {len(result.iterations)} iterations ({elapsed:.2f} s); "
        f"objective {result.objective:,.4f}, total travel time {result.total_travel_time:,.4f}"
    )
    if output is not None:
        links = result.links
        with io.atomic_path(output) as tmp:
            if output.suffix.lower() == ".csv":
                links.to_csv(tmp, index=False)
            else:
                links.to_parquet(tmp, index=False)
        console.print(f"link flows written to {output}")


def _iteration_table(result: AssignmentResult, rows: int) -> Table:
    """A table of up to ``rows`` iterations: the first few, evenly spaced ones and the last."""
    import numpy as np

    iterations = result.iterations
    count = len(iterations)
    if count <= rows:
        shown = list(range(count))
    else:
        head = min(3, rows // 2)  # the first iterations, then evenly spaced ones to the last
        spaced = np.linspace(count - 1, head, rows - head).round().astype(int).tolist()
        shown = sorted(set(range(head)) | set(spaced))
    table = Table(title=f"{result.method.upper()} iterations", header_style="bold")
    for column in ("iteration", "relative gap", "objective", "direction", "step"):
        table.add_column(column, justify="right")
    for index in shown:
        row = iterations.iloc[index]
        step = "" if row["step_size"] != row["step_size"] else f"{row['step_size']:.3g}"
        table.add_row(
            str(int(row["iteration"])),
            f"{row['relative_gap']:.3e}",
            f"{row['objective']:,.4f}",
            str(row["direction"]),
            step,
        )
    return table
