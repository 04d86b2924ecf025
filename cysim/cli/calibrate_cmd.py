"""CLI command ``cysim calibrate``: hold a baseline against published targets, or fit its demand."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .. import settings
from .console import make_console
from .run_cmd import ResultsDir, SampleFactor, Workers, _cpu_count, _fmt, _progress


def _targets_table(frame, title: str) -> Table:
    """Targets against the model as a rich table."""
    table = Table(title=escape(title))
    for column in ("target", "published", "±", "model", "met", "source"):
        table.add_column(column, justify="left" if column in ("target", "source") else "right")
    for _, row in frame.iterrows():
        table.add_row(
            escape(str(row["target"])),
            _fmt(row["value"]),
            _fmt(row["tolerance"]),
            _fmt(row["model"]),
            "yes" if row["met"] else "NO",
            escape(str(row["source"])),
        )
    return table


def calibrate(
    scenario: Annotated[Path, typer.Argument(help="baseline scenario YAML", dir_okay=False)],
    fit: Annotated[
        bool,
        typer.Option(
            "--fit",
            help="fit the demand levers (demand.calibration.levers) to the targets with the "
            "engine and print the values to write into the scenario; without it, run the "
            "scenario as written (or reuse its run) and write the plausibility page",
        ),
    ] = False,
    replications: Annotated[
        int | None,
        typer.Option("--replications", "-n", min=1, help="replications of the check run"),
    ] = None,
    workers: Workers = 0,
    results: ResultsDir = None,
    sample_factor: SampleFactor = None,
) -> None:
    """Hold a baseline against its published targets (plausibility page), or fit its demand."""
    from .. import io, pipeline
    from ..scenario.load import load_scenario

    out = make_console()
    root = Path(results) if results is not None else Path(settings.results_dir)
    if fit:
        console = make_console(stderr=True)

        def show(row: dict[str, float | None]) -> None:
            beta = row.get("beta_per_min")
            # every figure but beta is measured in each evaluation
            figure = {key: float(value) for key, value in row.items() if value is not None}
            console.print(
                f"evaluation {int(figure['iteration'])}: {int(figure['trips']):,} trips"
                + (f", β {beta:.3f}/min" if beta is not None and not math.isnan(beta) else "")
                + f" → congestion index {figure['congestion_index']:.3f}, speed "
                f"{figure['mean_speed_kph']:.1f} km/h, {figure['congested_places']:.0f} congested "
                "places",
                highlight=False,
            )

        resolved, result = pipeline.fit_demand_targets(
            scenario, sample_factor=sample_factor, on_iteration=show
        )
        out_dir = root / "calibrate" / io.safe_name(resolved.name)
        out_dir.mkdir(parents=True, exist_ok=True)
        io.write_csv(out_dir / "fit_log.csv", result.log)
        io.write_csv(out_dir / "fit.csv", result.fit)
        out.print(_targets_table(result.fit, f"best fit of {resolved.name}"))
        beta = "" if result.beta_per_min is None else f", β = {result.beta_per_min:.3f}/min"
        verdict = "every target met" if result.converged else "NOT every target met"
        out.print(
            f"{verdict} at {result.trips:,} trips{beta}. Write into {scenario}:", highlight=False
        )
        out.print(f"  demand:\n    trips: {result.trips}", highlight=False)
        if result.beta_per_min is not None:
            out.print(
                "    od:\n      gravity: {deterrence: exponential, beta_per_min: "
                f"{result.beta_per_min:.3f}}}",
                highlight=False,
            )
        out.print(f"fit log: {escape(str(out_dir / 'fit_log.csv'))}", highlight=False)
        return

    from ..pipeline import plausibility

    console = make_console(stderr=True)
    with _progress(console) as progress_for:
        outcome = pipeline.run_scenario(
            scenario,
            replications=replications,
            workers=workers or _cpu_count(),
            results_root=results,
            progress=progress_for(scenario.stem) if progress_for else None,
            sample_factor=sample_factor,
        )
    run = pipeline.load_run(outcome.run_dir)
    resolved = load_scenario(scenario)
    out_dir = root / "calibrate" / io.safe_name(outcome.scenario_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    factor = float(run.summary.get("sample_factor", 1.0))
    page, tables = plausibility.write_page(
        out_dir,
        run,
        resolved.demand.calibration.targets,
        title=f"{resolved.title or resolved.name}",
        run_info={
            "run folder": str(outcome.run_dir),
            "replications": str(len(run.seeds)),
            "vehicles simulated": f"{factor:.0%}",
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        },
    )
    out.print(_targets_table(tables.targets, f"{outcome.scenario_name} against its targets"))
    reused = "reused finished run" if outcome.reused else "run"
    out.print(f"{reused}: {escape(str(outcome.run_dir))}", highlight=False)
    out.print(f"plausibility page: {escape(str(page))}", highlight=False)


def register(app: typer.Typer) -> None:
    """Register ``calibrate`` on ``app``."""
    app.command("calibrate")(calibrate)
