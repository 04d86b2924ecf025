"""CLI command ``cysim validate``: resolve a scenario, apply its patches, print the change log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .console import make_console

if TYPE_CHECKING:  # the command line starts without the pipeline's libraries (lazy imports)
    import networkx as nx

    from ..network.locate import EdgeKey
    from ..patch.changes import PatchReport
    from ..scenario.schema import Scenario


def register(app: typer.Typer) -> None:
    """Register this module's commands on app."""
    app.command(name="validate")(validate)


def validate(
    scenario: Path = typer.Argument(..., help="scenario YAML file (its base: chain is resolved)"),
    rows: int = typer.Option(12, "--rows", min=1, help="change-log rows shown per patch"),
    flows: bool = typer.Option(
        True,
        "--flows/--no-flows",
        help="for 'optimize: webster', compute baseline flows by a static assignment",
    ),
) -> None:
    """Check a scenario without simulating: load its map, apply every patch, print the changes.

    Exits 0 when every patch applies; on the first problem prints one line naming file, line
    and key, and exits 2.
    """
    from .. import pipeline
    from ..patch import apply as patch_module
    from ..patch.models import SignalTiming
    from ..scenario.load import load_scenario

    console = make_console(highlight=False)
    resolved = load_scenario(scenario)
    # the report: section fails here, not after a comparison's runs (a Tianditu key, a URL)
    with resolved.pointing_into():
        pipeline.report_basemap(scenario)
    chain = " → ".join(p.name for p in [*resolved.base_chain, resolved.source_file])
    console.print(f"[bold]{escape(resolved.name)}[/bold]  {escape(resolved.title)}")
    console.print(f"  files: {escape(chain)}")
    console.print(f"  map: {escape(str(resolved.map))}")
    G = pipeline.load_scenario_network(resolved)
    console.print(f"  network: {G.number_of_nodes()} junctions, {G.number_of_edges()} links")
    baseline_flows = None
    needs_webster = any(
        isinstance(p, SignalTiming) and p.optimize == "webster" for p in resolved.patches
    )
    if needs_webster and flows:
        with resolved.pointing_into():
            baseline_flows = static_baseline_flows(G, resolved, console)
    G2, report = patch_module.apply_patches(
        G,
        resolved.patches,
        baseline_link_flows=baseline_flows,
        scenario_file=resolved.source_file,
        road_class_overrides=resolved.network.road_classes or None,
        defer_webster=True,
    )
    with resolved.pointing_into():
        report = report.merge(_demand_report(G2, resolved, console))
    print_report(console, report, rows)
    console.print(
        f"[green]ok[/green]: {len(resolved.patches)} patch"
        f"{'es apply' if len(resolved.patches) != 1 else ' applies'}; patched network has "
        f"{G2.number_of_nodes()} junctions, {G2.number_of_edges()} links"
    )


def _demand_report(G: nx.MultiDiGraph, resolved: Scenario, console: Console) -> PatchReport:
    """Apply demand_shift patches to freshly built trips when trips can be built."""
    from .. import pipeline
    from ..patch import apply as patch_module
    from ..patch.changes import PatchReport

    shifts = [p for p in resolved.patches if p.type == "demand_shift"]
    if not shifts:
        return PatchReport()
    trips = pipeline.build_scenario_trips(resolved, G)
    console.print(f"  demand: {len(trips)} car trips built to check demand_shift patches")
    _, report = patch_module.apply_demand_patches(
        trips, resolved.patches, G, scenario_file=resolved.source_file
    )
    return report


def static_baseline_flows(
    G: nx.MultiDiGraph, resolved: Scenario, console: Console | None = None
) -> dict[EdgeKey, float]:
    """Hourly link flows for Webster: the static equilibrium of the demand on the unpatched map.

    The same estimate ``cysim run`` uses (:func:`cysim.assign.peak_hour_edge_flows`), on the
    trips :func:`cysim.pipeline.prepare.build_scenario_trips` builds.
    """
    from .. import assign, pipeline

    trips = pipeline.build_scenario_trips(resolved, G)
    flows, result = assign.peak_hour_edge_flows(G, trips)
    if console is not None:
        console.print(
            f"  baseline flows: static assignment of the peak hour of {len(trips)} trips "
            f"(relative gap {result.relative_gap:.1e})"
        )
    return flows


def print_report(console: Console, report: PatchReport, rows: int) -> None:
    """Print a change log: per patch a header, counts, notes and the first ``rows`` rows."""
    from ..patch.changes import element_label, format_value

    indices = sorted(set(report.headers) | {e.patch_index for e in report.entries})
    for index in indices:
        console.rule(
            f"[bold]patch {index}[/bold]  {escape(report.headers.get(index, ''))}", align="left"
        )
        console.print(f"  changed: {escape(report.summary(index))}")
        notes = report.notes.get(index, [])
        for note in notes[:rows]:
            console.print(f"  [cyan]note[/cyan]: {escape(note)}")
        if len(notes) > rows:
            console.print(f"  … {len(notes) - rows} more notes (use --rows)")
        entries = report.for_patch(index)
        plans = [e for e in entries if e.attribute == "signal plan"]
        entries = [e for e in entries if e.attribute != "signal plan"]
        for entry in plans[:rows]:
            console.print(f"  signal plan at {escape(element_label(entry))} ({escape(entry.road)})")
            console.print(f"    before: {escape(format_value(entry.before))}")
            console.print(f"    after:  {escape(format_value(entry.after))}")
        if len(plans) > rows:
            console.print(f"  … {len(plans) - rows} more signal plans (use --rows)")
        if not entries:
            continue
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("element", "road", "attribute", "before", "after"):
            table.add_column(column)
        for entry in entries[:rows]:
            table.add_row(
                escape(element_label(entry)),
                escape(entry.road),
                escape(entry.attribute),
                escape(format_value(entry.before)),
                escape(format_value(entry.after)),
            )
        console.print(table)
        if len(entries) > rows:
            console.print(f"  … {len(entries) - rows} more rows (use --rows)")
    for warning in report.warnings:
        console.print(f"[yellow]warning[/yellow]: {escape(warning)}")
