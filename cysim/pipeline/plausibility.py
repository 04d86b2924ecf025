"""The baseline's plausibility page: the model against published targets and capacities.

A before/after verdict is only as good as the baseline it is measured against. This page (written
by ``cysim calibrate``) puts one finished run of a baseline beside:

* the targets of ``demand.calibration.targets`` (network travel-time index, mean peak speed,
  number of congested places), each with its source;
* a map of the degree of saturation of every junction approach;
* the most congested places by name (:func:`cysim.results.metrics.congested_links`);
* the volume per lane by road class against the mid-block capacity per lane of
  《城市道路工程设计规范》 CJJ 37-2012 (2016 edition), tables 4.2.2 (快速路, expressways) and
  4.2.3 (other roads), for the design speed of the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import demand, io
from ..report import figures as plot
from ..report import page as report
from ..results import metrics, stats

if TYPE_CHECKING:
    from .runfolder import RunResults


@dataclass(frozen=True)
class Cjj37Class:
    """A CJJ 37 road class and one lane's mid-block capacity at its design speed.

    Attributes
    ----------
    name
        Class (Chinese and English).
    design_speed_kph
        The design speed the capacities are read at.
    base_capacity_pcuh
        基本通行能力, pcu/h per lane.
    design_capacity_pcuh
        设计通行能力, pcu/h per lane (the planning figure).
    """

    name: str
    design_speed_kph: float
    base_capacity_pcuh: float
    design_capacity_pcuh: float


#: CJJ 37-2012 (2016 ed.) capacities per lane, by the class an OSM ``highway`` value maps to:
#: expressways (快速路, table 4.2.2) at 80 km/h; arterials (主干路) at 60, sub-arterials (次干路) at
#: 50 and branch roads (支路) at 40 and 30 km/h (table 4.2.3). Values as transcribed offline from
#: the standard; check them against the printed tables before quoting them.
CJJ37_BY_HIGHWAY: dict[str, Cjj37Class] = {
    "motorway": Cjj37Class("快速路 expressway", 80.0, 2100.0, 1750.0),
    "trunk": Cjj37Class("快速路 expressway", 80.0, 2100.0, 1750.0),
    "primary": Cjj37Class("主干路 arterial", 60.0, 1800.0, 1400.0),
    "secondary": Cjj37Class("次干路 sub-arterial", 50.0, 1700.0, 1350.0),
    "tertiary": Cjj37Class("支路 branch road", 40.0, 1650.0, 1300.0),
    "unclassified": Cjj37Class("支路 branch road", 30.0, 1600.0, 1300.0),
    "residential": Cjj37Class("支路 branch road", 30.0, 1600.0, 1300.0),
}

#: Congested places listed by name on the page.
PLACES_LISTED: int = 40


def volumes_by_class(links: pd.DataFrame) -> pd.DataFrame:
    """Volume per lane by road class against the CJJ 37 design capacity of the class.

    Parameters
    ----------
    links
        Mean link table of a run (``highway, lanes, length_m, flow_vph``).

    Returns
    -------
    pandas.DataFrame
        One row per OSM class with traffic (``_link`` ramps with their class): ``highway,
        cjj37_class, links, lane_km, median_vphpl, p90_vphpl, max_vphpl`` (demand-period veh/h
        per lane over links that carry traffic), ``design_capacity_pcuh``, ``p90_share``
        (p90 ÷ design capacity), sorted by class rank.
    """
    frame = pd.DataFrame(links)
    highway = frame["highway"].astype(str).str.removesuffix("_link")
    lanes = frame["lanes"].astype(float).clip(lower=1.0)
    per_lane = frame["flow_vph"].astype(float) / lanes
    rows = []
    for osm_class, info in CJJ37_BY_HIGHWAY.items():
        mask = (highway == osm_class).to_numpy()
        if not mask.any():
            continue
        used = per_lane[mask & (per_lane > 0).to_numpy()]
        p90 = float(np.percentile(used, 90)) if len(used) else np.nan
        rows.append(
            {
                "highway": osm_class,
                "cjj37_class": info.name,
                "links": int(mask.sum()),
                "lane_km": float((lanes[mask] * frame["length_m"][mask]).sum() / 1000.0),
                "median_vphpl": float(np.median(used)) if len(used) else np.nan,
                "p90_vphpl": p90,
                "max_vphpl": float(used.max()) if len(used) else np.nan,
                "design_capacity_pcuh": info.design_capacity_pcuh,
                "p90_share": p90 / info.design_capacity_pcuh,
            }
        )
    return pd.DataFrame(rows)


def target_summary(
    targets: demand.CalibrationTargets, kpis: list[dict[str, float]]
) -> pd.DataFrame:
    """The targets against the mean over replications, with its 95 % interval.

    Returns
    -------
    pandas.DataFrame
        :func:`cysim.demand.target_table` of the means, plus ``ci_low, ci_high`` and ``n``.
    """
    summary = stats.summarize(kpis)
    means = {k: float(summary.loc[k, "mean"]) for k in summary.index}
    table = demand.target_table(targets, means)
    for column, source in (("ci_low", "ci_low"), ("ci_high", "ci_high"), ("n", "n")):
        table[column] = [
            float(summary.loc[t, source]) if t in summary.index else np.nan for t in table["target"]
        ]
    return table


@dataclass
class Plausibility:
    """What the page shows, as tables (also written as CSV beside it)."""

    targets: pd.DataFrame
    places: pd.DataFrame
    volumes: pd.DataFrame
    approaches: pd.DataFrame


def plausibility_tables(run: RunResults, targets: demand.CalibrationTargets) -> Plausibility:
    """The page's tables from a finished run.

    Parameters
    ----------
    run
        A finished run read back (:func:`cysim.pipeline.runfolder.load_run`), with approach records.
    targets
        The scenario's ``demand.calibration.targets``.
    """
    approaches = run.approaches if run.approaches is not None else pd.DataFrame()
    places = metrics.congested_links(run.links, approaches)
    summary = metrics.approach_summary(approaches).set_index(["u", "v", "key"])
    index = pd.MultiIndex.from_frame(places[["u", "v", "key"]])
    places.insert(0, "junction", summary["junction"].reindex(index).fillna("").to_numpy())
    places["control_delay_s"] = summary["control_delay_s"].reindex(index).to_numpy()
    places["control"] = summary["control"].reindex(index).fillna("").to_numpy()
    return Plausibility(
        targets=target_summary(targets, run.kpis),
        places=places,
        volumes=volumes_by_class(run.links),
        approaches=approaches,
    )


def _table_html(frame: pd.DataFrame, columns: dict[str, tuple[str, int | None]]) -> str:
    """A plain HTML table: ``columns`` maps a column to (header, decimals or None for text)."""
    head = "".join(f"<th>{report.escape(h)}</th>" for h, _ in columns.values())
    body = []
    for _, row in frame.iterrows():
        cells = []
        for column, (_, decimals) in columns.items():
            value = row[column]
            if decimals is None:
                cells.append(f"<td>{report.escape('' if pd.isna(value) else value)}</td>")
            else:
                cells.append(f'<td class="num">{report.format_number(value, decimals)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="kpi"><tr>{head}</tr>{"".join(body)}</table>'


def write_page(
    out_dir: Path,
    run: RunResults,
    targets: demand.CalibrationTargets,
    *,
    title: str,
    run_info: dict[str, str],
) -> tuple[Path, Plausibility]:
    """Write ``plausibility.html`` and its tables (CSV) and figure into ``out_dir``.

    Files: ``plausibility.html``, ``targets.csv``, ``congested_places.csv`` (all of them),
    ``volumes_by_class.csv``, ``figures/saturation_map.png``.

    Returns
    -------
    (path, tables)
        The page and the tables it shows.
    """
    tables = plausibility_tables(run, targets)
    io.write_csv(out_dir / "targets.csv", tables.targets)
    io.write_csv(out_dir / "congested_places.csv", tables.places)
    io.write_csv(out_dir / "volumes_by_class.csv", tables.volumes)
    figure = out_dir / "figures" / "saturation_map.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    sections = []
    target_rows = tables.targets.assign(
        verdict=np.where(tables.targets["met"], "met 达标", "not met 未达标"),
        interval=[
            f"{report.format_number(lo, 3)} … {report.format_number(hi, 3)}" if n > 1 else "–"
            for lo, hi, n in zip(
                tables.targets["ci_low"],
                tables.targets["ci_high"],
                tables.targets["n"],
                strict=True,
            )
        ],
    )
    sections.append(
        "<h2>目标对照 · Targets</h2>"
        + _table_html(
            target_rows,
            {
                "target": ("target", None),
                "value": ("published", 3),
                "tolerance": ("± tolerance", 3),
                "model": ("model (mean)", 3),
                "interval": ("95 % CI", None),
                "verdict": ("", None),
                "source": ("source", None),
            },
        )
    )
    if not tables.approaches.empty:
        plot.saturation_map(run.links, tables.approaches, figure, title=title)
        sections.append(
            "<h2>进口道饱和度 · Degree of saturation by approach</h2>"
            f'<figure><img src="{report.embed_png(figure)}" alt="saturation map">'
            "<figcaption>Every junction approach, coloured by its most loaded lane group's "
            "X = busiest-hour flow ÷ (saturation flow × green ratio); links grey, width by "
            "flow.</figcaption></figure>"
        )
    if not tables.places.empty:
        breakdown = (
            tables.places.assign(
                junction_control=tables.places["control"].replace("", "none"),
            )
            .groupby(["highway", "junction_control", "reason"])
            .size()
            .rename("places")
            .reset_index()
            .sort_values("places", ascending=False)
        )
        sections.append(
            "<h2>拥堵点段构成 · What the congested places are</h2>"
            "<p>By road class, the control at the junction the place leads to (signal; minor = "
            "yields at a priority junction; major) and why it counts.</p>"
            + _table_html(
                breakdown,
                {
                    "highway": ("class", None),
                    "junction_control": ("junction control", None),
                    "reason": ("why", None),
                    "places": ("places", 0),
                },
            )
        )
    shown = tables.places.head(PLACES_LISTED)
    sections.append(
        f"<h2>拥堵点段 · The {len(shown)} most congested places "
        f"(of {len(tables.places)})</h2>"
        f"<p>A place is one direction of a link whose approach has a lane group at X ≥ "
        f"{metrics.CONGESTED_X:g}, or a link of at least {metrics.CONGESTED_SECTION_MIN_M:g} m "
        f"at ≤ {metrics.CONGESTED_SPEED_RATIO:.0%} of its free-flow speed. All of them: "
        "congested_places.csv.</p>"
        + _table_html(
            shown,
            {
                "junction": ("junction 路口", None),
                "name": ("approach 进口道", None),
                "highway": ("class", None),
                "control": ("control", None),
                "max_degree_of_saturation": ("X", 2),
                "speed_ratio": ("speed ÷ free flow", 2),
                "control_delay_s": ("delay s", 0),
                "flow_vph": ("flow veh/h", 0),
                "reason": ("why", None),
            },
        )
    )
    sections.append(
        "<h2>分等级流量 · Volumes by road class against CJJ 37</h2>"
        "<p>Demand-period volume per lane (veh/h, links with traffic) against the design "
        "capacity per lane of the class in CJJ 37-2012 (2016 ed.) tables 4.2.2/4.2.3 at the "
        "design speed named. These are mid-block figures: on a signalised arterial a lane "
        "passes at most its saturation flow × g/C, about 700–900 veh/h at g/C 0.4–0.5, so "
        "when its junctions are at capacity its busiest links reach p90 shares of about "
        "0.5–0.65, not 1. A p90 share far below that says the demand is light.</p>"
        + _table_html(
            tables.volumes,
            {
                "highway": ("OSM class", None),
                "cjj37_class": ("CJJ 37 class", None),
                "links": ("links", 0),
                "lane_km": ("lane-km", 0),
                "median_vphpl": ("median veh/h/lane", 0),
                "p90_vphpl": ("p90", 0),
                "max_vphpl": ("max", 0),
                "design_capacity_pcuh": ("CJJ 37 design capacity", 0),
                "p90_share": ("p90 ÷ capacity", 2),
            },
        )
    )
    path = report.write_page(
        out_dir / "plausibility.html",
        title=title,
        kicker="基线合理性 · baseline plausibility (cysim calibrate)",
        run_info=run_info,
        body_html="\n".join(sections),
        footer="Generated by cysim. Targets and their sources: the scenario's "
        "demand.calibration.targets. Definitions: docs/metrics.md, docs/demand.md.",
    )
    return path, tables
