"""CLI commands ``cysim run`` and ``cysim compare``: simulate scenarios and write results."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .console import make_console

if TYPE_CHECKING:  # the command line starts without pandas and the pipeline (lazy imports)
    import pandas as pd

    from .. import pipeline

Replications = Annotated[
    int | None,
    typer.Option("--replications", "-n", min=1, help="replications (default: the scenario's)"),
]
Seed = Annotated[
    int | None, typer.Option("--seed", min=0, help="first seed; replications use seed, seed+1, …")
]
Workers = Annotated[
    int,
    typer.Option(
        "--workers", "-w", min=0, help="parallel processes for replications (0 = one per CPU core)"
    ),
]
Force = Annotated[bool, typer.Option("--force", help="rerun even if an identical run finished")]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the replications on this Dask cluster (needs the dist extra, see docs)",
    ),
]
SampleFactor = Annotated[
    float | None,
    typer.Option(
        "--sample-factor",
        min=0.01,
        max=1.0,
        help="share of vehicles simulated, overriding the scenarios' demand.sample_factor "
        "(1.0 = every vehicle, for final figures)",
    ),
]
Basemap = Annotated[
    str | None,
    typer.Option(
        "--basemap",
        metavar="NAME",
        help="tiles under the interactive map, overriding B's report.basemap: none (default; "
        "opens offline), osm, gaode, tencent (GCJ-02), tianditu (key in TIANDITU_KEY)",
    ),
]
ResultsDir = Annotated[
    Path | None,
    typer.Option("--results", help="results folder (default: ./results)", file_okay=False),
]


@dataclass
class _Reporter:
    """What the pipeline calls to show how a command is getting on (on standard error)."""

    #: ``progress_for(name)``: the progress callback of a scenario that runs
    progress_for: Callable[[str], pipeline.ProgressFn]
    #: called with a scenario whose finished run is reused
    reused: pipeline.ReusedFn

    def __call__(self, name: str) -> pipeline.ProgressFn:
        """``reporter(name)`` is ``reporter.progress_for(name)``.

        For commands that only show progress (``cysim calibrate``).
        """
        return self.progress_for(name)


@contextlib.contextmanager
def _progress(console: Console) -> Iterator[_Reporter]:
    """A rich progress bar with ETA per scenario that runs, and one line per reused run.

    A scenario's bar appears with its first progress report, when its replications start: a
    reused run (nothing simulated) gets no bar, which would sit at ``0/?`` with a running clock,
    but the line ``<name>: reused <folder> (finished <time>)``.
    """
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("replications"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:

        def for_scenario(name: str) -> pipeline.ProgressFn:
            task: TaskID | None = None

            def update(done: int, total: int) -> None:
                nonlocal task
                if task is None:
                    task = progress.add_task(escape(name), total=total)
                progress.update(task, completed=done, total=total)

            return update

        def reused(outcome: pipeline.RunOutcome) -> None:
            progress.console.print(escape(_reused_line(outcome)), highlight=False)

        yield _Reporter(for_scenario, reused)


def _reused_line(outcome: pipeline.RunOutcome) -> str:
    """``<name>: reused <run folder> (finished <UTC time>)`` for a reused run."""
    from .. import io

    marker = io.read_marker(outcome.run_dir) or {}
    finished = ""
    with contextlib.suppress(TypeError, ValueError):
        stamp = datetime.fromisoformat(str(marker.get("finished_utc")))
        finished = f" (finished {stamp.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    return f"{outcome.scenario_name}: reused {_shown_path(outcome.run_dir)}{finished}"


def _shown_path(path: Path) -> Path:
    """A path relative to the working folder when it lies inside it, else absolute."""
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(Path.cwd())
    return path


def _cpu_count() -> int:
    """CPU cores this process may use (the default number of workers)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _fmt(value: float) -> str:
    """A KPI value for the terminal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    magnitude = abs(value)
    return f"{value:,.0f}" if magnitude >= 100 else f"{value:,.3g}"


def _summary_table(kpis: list[dict[str, float]], title: str) -> Table:
    """KPI mean and 95 % CI over replications, as a rich table."""
    from ..results import metrics, stats

    summary = stats.summarize(
        kpis, bounds={k: info.value_range for k, info in metrics.KPI_META.items()}
    )
    meta = metrics.kpi_metadata()
    summary = summary[summary.index.isin(meta.index)]
    table = Table(title=escape(title))
    for column in ("KPI", "unit", "mean", "95 % CI"):
        table.add_column(column, justify="left" if column in ("KPI", "unit") else "right")
    for kpi, row in summary.iterrows():
        label = meta.loc[kpi, "label_en"] if kpi in meta.index else kpi
        unit = meta.loc[kpi, "unit"] if kpi in meta.index else ""
        ci = f"{_fmt(row['ci_low'])} … {_fmt(row['ci_high'])}" if row["n"] > 1 else "–"
        table.add_row(escape(str(label)), escape(str(unit)), _fmt(row["mean"]), ci)
    return table


def _comparison_table(frame: pd.DataFrame, labels: tuple[str, str]) -> Table:
    """The comparison of two scenarios as a compact rich table (fits 80 columns)."""
    import pandas as pd

    table = Table(title=escape(f"B = {labels[1]}  vs  A = {labels[0]}"), show_lines=False)
    table.add_column("KPI (unit)", justify="left", overflow="fold", ratio=3)
    for column in ("A", "B", "Δ %", "95 % CI of Δ", "verdict"):
        table.add_column(column, justify="right", overflow="fold")
    for _, row in frame.iterrows():
        pct = row["pct_change"]
        unit = f" ({row['unit']})" if str(row["unit"]) else ""
        table.add_row(
            escape(f"{row['label_en']}{unit}"),
            _fmt(row["mean_a"]),
            _fmt(row["mean_b"]),
            "–" if pd.isna(pct) else f"{pct:+.1f}",
            f"{_fmt(row['ci_low'])}…{_fmt(row['ci_high'])}",
            escape(_VERDICT_SHORT.get(str(row["verdict"]), str(row["verdict"]))),
        )
    return table


#: Short verdicts for the terminal; the report spells them out.
_VERDICT_SHORT = {
    "better": "better",
    "worse": "worse",
    "no significant change": "n.s.",
    "within route-choice gap": "≤ gap",
}


def run(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file", dir_okay=False)],
    replications: Replications = None,
    seed: Seed = None,
    workers: Workers = 0,
    force: Force = False,
    results: ResultsDir = None,
    scheduler: Scheduler = None,
    sample_factor: SampleFactor = None,
) -> None:
    """Run a scenario's replications and write results/<scenario>/<run-id>/."""
    from .. import pipeline

    console = make_console(stderr=True)
    workers = workers or _cpu_count()
    with _progress(console) as reporter:
        outcome = pipeline.run_scenario(
            scenario,
            replications=replications,
            seed=seed,
            workers=workers,
            force=force,
            results_root=results,
            progress=reporter.progress_for(scenario.stem),
            scheduler=scheduler,
            sample_factor=sample_factor,
            on_reused=reporter.reused,
        )
    out = make_console()
    out.print(_summary_table(outcome.kpis, outcome.scenario_name))
    gaps = ", ".join(f"{k.get('relative_gap', math.nan):.3f}" for k in outcome.kpis)
    factor = outcome.kpis[0].get("sample_factor", 1.0) if outcome.kpis else 1.0
    out.print(
        f"route choice: final relative gap per replication {gaps}; "
        f"{factor:.0%} of the vehicles simulated (totals scaled to the full demand)",
        highlight=False,
    )
    verb = "reused finished run" if outcome.reused else "results written to"
    out.print(f"{verb}: {escape(str(outcome.run_dir))}", highlight=False)


def compare(
    a: Annotated[Path, typer.Argument(help="before: scenario YAML or finished run folder")],
    b: Annotated[Path, typer.Argument(help="after: scenario YAML or finished run folder")],
    replications: Replications = None,
    seed: Seed = None,
    workers: Workers = 0,
    force: Force = False,
    results: ResultsDir = None,
    scheduler: Scheduler = None,
    sample_factor: SampleFactor = None,
    basemap: Basemap = None,
) -> None:
    """Compare scenario B against A: run what is missing, write tables, figures and report.html."""
    from .. import pipeline

    console = make_console(stderr=True)
    workers = workers or _cpu_count()
    with _progress(console) as reporter:
        outcome = pipeline.compare_scenarios(
            a,
            b,
            replications=replications,
            seed=seed,
            workers=workers,
            force=force,
            results_root=results,
            progress_for=reporter.progress_for,
            scheduler=scheduler,
            sample_factor=sample_factor,
            basemap=basemap,
            on_reused=reporter.reused,
        )
    out = make_console()
    out.print(_comparison_table(outcome.table, (outcome.a.name, outcome.b.name)))
    factors = sorted({float(r.summary.get("sample_factor", 1.0)) for r in (outcome.a, outcome.b)})
    out.print(
        f"sample: {' and '.join(f'{f:.0%}' for f in factors)} of the vehicles simulated "
        "(totals scaled to the full demand)",
        highlight=False,
    )
    for note in outcome.notes:
        out.print(f"note: {escape(note)}", highlight=False)
    out.print(
        "verdicts: better/worse = the 95 % CI of Δ excludes 0 and |Δ %| exceeds the route-choice "
        "gap; n.s. = the CI includes 0; ≤ gap = significant but within the gap",
        highlight=False,
    )
    out.print(f"comparison written to: {escape(str(outcome.out_dir))}", highlight=False)
    out.print(f"report: {escape(str(outcome.report))}", highlight=False)


def register(app: typer.Typer) -> None:
    """Register ``run`` and ``compare`` on ``app``."""
    app.command("run")(run)
    app.command("compare")(compare)
