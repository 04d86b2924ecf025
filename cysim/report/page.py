"""The one-page before/after HTML report: scenarios, KPI table, figures, change log and caveats.

The page is self-contained (figures embedded as base64 PNG data URIs, CSS inline, no scripts), so
it can be mailed or archived as one file. The pages are Jinja2 templates shipped with the package
(``report/templates/*.html.j2``), rendered with autoescape and ``StrictUndefined``: every text
that comes from OSM or a scenario YAML reaches them as a plain string and is escaped by Jinja. The
KPI and junction tables stay Python (:func:`kpi_table_html`, :func:`junction_table_html`): each cell
needs its own number formatting, their labels are escaped cell by cell with :func:`escape`, and
they are passed to the template deliberately as :class:`markupsafe.Markup`.
"""

from __future__ import annotations

import base64
import functools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup
from markupsafe import escape as _escape

from .. import io
from .._fonts import font_face_css
from ..results.compare import NEAR_KPI_META
from ..results.metrics import KPI_META, KpiInfo, level_of_service

#: Captions of the figures the pipeline makes, by key; other keys are shown with their key.
FIGURE_CAPTIONS: dict[str, str] = {
    "kpi_bars": "主要指标对比（均值与 95 % 置信区间） · Headline KPIs, mean with 95 % CI",
    "congestion_a": "现状拥堵图 · Congestion before (colour: speed ÷ free-flow speed; width: flow)",
    "congestion_b": "方案拥堵图 · Congestion after",
    "difference": "车速变化图（标出改造路段与路口） · Change in mean speed; patched roads marked",
    "timeseries": "路网车速与在网车辆随时间变化 · Network speed and vehicles over time",
    "top_links": "改善与恶化最大的路段 · Links that improved or worsened most",
}

_VERDICT_TEXT = {
    "better": "改善 better",
    "worse": "恶化 worse",
    "no significant change": "无显著变化 n.s.",
    "within route-choice gap": "在路径选择误差内 within route-choice gap",
    "neutral": "—",
}

#: Where the page templates live (package data, see pyproject.toml).
TEMPLATE_DIR: str = "templates"

#: Replaced after rendering by the @font-face rules of the page's own characters.
_FONT_FACE = "/*FONT_FACE*/"


@functools.cache
def _environment() -> jinja2.Environment:
    """The Jinja2 environment of the page templates: autoescaped, strict about undefined names."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cysim.report", TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(template: str, *, mono_text: str, **context: Any) -> str:
    """Render a page template, then embed the font subsets for the characters it uses."""
    page = _environment().get_template(template).render(**context)
    return page.replace(_FONT_FACE, font_face_css(page, mono_text), 1)


def write_page(
    path: str | os.PathLike,
    *,
    title: str,
    kicker: str,
    run_info: Mapping[str, Any],
    body_html: str,
    footer: str,
) -> Path:
    """Write a one-file HTML page in the report's house style (atomically).

    Parameters
    ----------
    path
        ``.html`` file to write.
    title, kicker
        Heading and the small line above it (plain text).
    run_info
        Facts for the line under the heading.
    body_html
        The page's sections, already HTML (escape text with :func:`escape`).
    footer
        Plain-text footer.
    """
    page = _render(
        "page.html.j2",
        mono_text="",
        page_title=title,
        kicker=kicker,
        run_info=run_info,
        body=Markup(body_html),  # the caller's HTML, its text escaped with escape()
        footer=footer,
    )
    return io.write_text(Path(path), page)


def escape(value: Any) -> str:
    """HTML-escape a value's text (for pages built with :func:`write_page`)."""
    return _e(value)


def embed_png(path: Path) -> str:
    """A PNG as a data URI (for an ``<img src>`` of a one-file page)."""
    return _embed_png(path)


def format_number(value: float, decimals: int, signed: bool = False) -> str:
    """A number with thousands separators and a true minus; an en dash when missing."""
    return _number(value, decimals, signed)


def _e(value: Any) -> str:
    """HTML-escape any value as text (the same escaping as the templates' autoescape)."""
    return str(_escape("" if value is None else str(value)))


def _number(value: float, decimals: int, signed: bool = False) -> str:
    """Format a number with thousands separators and a true minus; en dash when missing.

    A value that rounds to zero prints as ``0`` without a sign.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if round(float(value), decimals) == 0:
        return f"{0:.{decimals}f}"
    text = f"{value:+,.{decimals}f}" if signed else f"{value:,.{decimals}f}"
    return text.replace("-", "−")


def _change_decimals(row: Mapping[str, Any], decimals: int) -> int:
    """Decimals for a difference and its interval: enough to show two significant digits."""
    sizes = [abs(float(row[c])) for c in ("difference", "ci_low", "ci_high")]
    largest = max((x for x in sizes if math.isfinite(x)), default=0.0)
    if largest <= 0:
        return decimals
    return int(min(4, max(decimals, 1 - math.floor(math.log10(largest)))))


def _scenario_card(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """One scenario's card for the template: title, report quote, description, assumptions."""
    quote = scenario.get("report_quote") or ""
    if isinstance(quote, Sequence) and not isinstance(quote, str):
        quote = "\n".join(str(q) for q in quote)
    return {
        "title": str(scenario.get("title") or scenario.get("name") or ""),
        "quote_lines": str(quote).split("\n") if quote else [],
        "description": str(scenario.get("description") or ""),
        "assumptions": [str(a) for a in scenario.get("assumptions") or [] if a],
    }


def kpi_table_html(kpi_table: pd.DataFrame) -> str:
    """The comparison table (:func:`cysim.results.compare.compare_kpis`) as an HTML table.

    Parameters
    ----------
    kpi_table
        Index ``kpi``; the columns of :func:`cysim.results.compare.compare_kpis`.

    Returns
    -------
    str
        ``<table class="kpi">…</table>`` with escaped labels.
    """
    head = (
        "<tr><th>指标 KPI</th><th>单位</th><th>A 均值 [95 % CI]</th><th>B 均值 [95 % CI]</th>"
        "<th>差值 B − A</th><th>变化</th><th>差值 95 % CI</th><th>检验</th><th>评价</th></tr>"
    )
    rows = []
    for key, row in kpi_table.iterrows():
        info = KPI_META.get(str(key)) or NEAR_KPI_META.get(str(key))
        decimals = info.decimals if info else 2
        sub = " sub" if str(row.get("label_en", "")).startswith("…") else ""

        def with_ci(mean: float, low: float, high: float, d: int = decimals) -> str:
            if not (math.isfinite(low) and math.isfinite(high)):
                return _number(mean, d)
            interval = f"[{_number(low, d)}, {_number(high, d)}]"
            return f"{_number(mean, d)} <span class='en'>{interval}</span>"

        dd = _change_decimals(row, decimals)
        ci = (
            f"[{_number(row['ci_low'], dd, True)}, {_number(row['ci_high'], dd, True)}]"
            if math.isfinite(row["ci_low"])
            else "–"
        )
        pct = (
            _number(row["pct_change"], 1, True) + " %" if math.isfinite(row["pct_change"]) else "–"
        )
        rows.append(
            f'<tr class="{_e(row["verdict"]).replace(" ", "-")}{sub}">'
            f"<td>{_e(row['label_zh'])}<br><span class='en'>{_e(row['label_en'])}</span></td>"
            f"<td>{_e(row['unit'])}</td>"
            f"<td class='num'>{with_ci(row['mean_a'], row['a_ci_low'], row['a_ci_high'])}</td>"
            f"<td class='num'>{with_ci(row['mean_b'], row['b_ci_low'], row['b_ci_high'])}</td>"
            f"<td class='num'>{_number(row['difference'], dd, True)}</td>"
            f"<td class='num'>{pct}</td><td class='num'>{ci}</td>"
            f"<td>{_e(row['method'])}</td>"
            f"<td class='verdict'>{_e(_VERDICT_TEXT.get(row['verdict'], row['verdict']))}</td></tr>"
        )
    return (
        f'<table class="kpi">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table>"
    )


#: Rows of the table of the most saturated approaches away from the measure.
APPROACH_ROWS: int = 10

_APPROACH_FIGURES = (
    ("flow_vph", 0),
    ("max_degree_of_saturation", 2),
    ("control_delay_s", 0),
    ("los", None),
    ("queue_max_veh", 0),
)


def _approach_cells(row: Mapping[str, Any]) -> list[str]:
    """Before and after cells of one approach: flow, X, delay, LOS, queue."""
    cells = []
    for column, decimals in _APPROACH_FIGURES:
        for side in ("a", "b"):
            value = row.get(f"{column}_{side}")
            if decimals is None:
                cells.append(_e(value) if isinstance(value, str) and value else "–")
            else:
                number = float(value) if value is not None and not pd.isna(value) else math.nan
                cells.append(_number(number, decimals))
    return cells


def junction_delay(rows: pd.DataFrame, side: str) -> float:
    """Flow-weighted control delay of a junction's approaches (s/veh), one run's side."""
    flow = rows[f"flow_vph_{side}"].astype(float).fillna(0.0)
    delay = rows[f"control_delay_s_{side}"].astype(float)
    timed = delay.notna() & (flow > 0)
    if not timed.any():
        return math.nan
    return float((delay[timed] * flow[timed]).sum() / flow[timed].sum())


_APPROACH_HEADER = (
    "<th>流量 Flow veh/h (A)</th><th>(B)</th><th>饱和度 X (A)</th><th>(B)</th>"
    "<th>控制延误 Delay s (A)</th><th>(B)</th><th>服务水平 LOS (A)</th><th>(B)</th>"
    "<th>最大排队 Queue veh (A)</th><th>(B)</th>"
)


def _junction_rows(group: pd.DataFrame) -> str:
    """Table rows of one junction: its total, then each approach."""
    signalised = bool(group["control"].isin(["signal", "actuated"]).any())
    delays = [junction_delay(group, side) for side in ("a", "b")]
    levels = [level_of_service(d, signalised) if math.isfinite(d) else "–" for d in delays]
    rows = [
        f'<tr class="junction"><td colspan="5"><b>{_e(group["junction"].iloc[0])}</b> '
        f"({'信号 signal' if signalised else '无信号 no signal'})</td>"
        f"<td>{_number(delays[0], 0)}</td><td>{_number(delays[1], 0)}</td>"
        f"<td>{_e(levels[0])}</td><td>{_e(levels[1])}</td>"
        '<td colspan="2">路口 junction</td></tr>'
    ]
    for _, row in group.iterrows():
        name = f"{row.get('approach', '') or ''} {row['road']}".strip()
        cells = [_e(name), *_approach_cells(row)]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "".join(rows)


#: Junctions of the measure shown open in the report; the rest fold into a <details> element.
SHOWN_JUNCTIONS: int = 12


def junction_table_html(
    approaches: pd.DataFrame, limit: int = APPROACH_ROWS, shown_junctions: int = SHOWN_JUNCTIONS
) -> str:
    """The report's junction section, before and after.

    It shows every approach of every junction the measure touches, with each junction's
    flow-weighted delay and level of service; then the most saturated approaches elsewhere.

    Parameters
    ----------
    approaches
        :func:`cysim.results.compare.approach_deltas` with
        :func:`cysim.results.compare.with_approach_queues` applied.
    limit
        Rows of the table of approaches away from the measure.
    shown_junctions
        Junctions of the measure shown open; the others (a package touches hundreds) fold
        into a ``<details>`` element, still in the page. Junctions a patch changed itself
        (``junction_changed``) come first.

    Returns
    -------
    str
        HTML; ``""`` without approaches.
    """
    if approaches.empty:
        return ""
    measure = approaches[approaches["measure"].astype(bool)]
    if "junction_changed" in measure:
        # junctions a patch changed itself (channelised, re-timed) before the ends of links
        measure = measure.sort_values("junction_changed", ascending=False, kind="stable")
    blocks = [_junction_rows(group) for _, group in measure.groupby("node", sort=False)]
    others = approaches[~approaches["measure"].astype(bool)].head(limit)
    other_rows = [
        "<tr>"
        + "".join(
            f"<td>{c}</td>" for c in [_e(row["junction"]), _e(row["road"]), *_approach_cells(row)]
        )
        + "</tr>"
        for _, row in others.iterrows()
    ]
    parts = ["<h2>路口 · Junctions</h2>"]
    if blocks:
        parts.append(
            "<p>Every approach of every junction the measure changes (a junction a patch "
            "changed, or at an end of a link a patch changed), before (A) and after (B). X = "
            "busiest-hour flow ÷ (saturation flow × green ratio) of the approach's most loaded "
            "lane group; control delay per vehicle and HCM level of service; queue = the "
            "longest queue on the approach link, in vehicles at the full demand. The junction "
            "row gives the flow-weighted delay of its approaches and its level of service.</p>"
        )
        header = f'<table class="kpi junctions"><tr><th>进口道 Approach</th>{_APPROACH_HEADER}</tr>'
        parts.append(header + "".join(blocks[:shown_junctions]) + "</table>")
        if len(blocks) > shown_junctions:
            parts.append(
                f"<details><summary>{len(blocks) - shown_junctions} more junctions the measure "
                f"touches</summary>{header}{''.join(blocks[shown_junctions:])}</table></details>"
            )
    else:
        parts.append("<p>The measure changes no junction approach.</p>")
    if other_rows:
        parts.append(
            f"<h3>其他最饱和进口道 · The {limit} most saturated approaches elsewhere</h3>"
            f'<table class="kpi"><tr><th>路口 Junction</th><th>进口道 Approach</th>'
            f"{_APPROACH_HEADER}</tr>{''.join(other_rows)}</table>"
        )
    parts.append(
        "<p>All approaches: approach_deltas.csv; lane groups: junctions.gpkg in each run "
        "folder.</p>"
    )
    return "\n".join(parts)


_VERDICT_ZH = {
    "better": "改善",
    "worse": "恶化",
    "neutral": "无明显变化",
    "no significant change": "无统计显著变化",
    "within route-choice gap": "变化在路径选择误差之内，不能判定",
}


def _kpi_sentence(row: Mapping[str, Any], info: KpiInfo) -> tuple[str, str]:
    """``(zh, en)`` clauses for one KPI row: before → after, change, verdict."""
    d = info.decimals
    unit = f" {info.unit}" if info.unit else ""
    values = f"{_number(row['mean_a'], d)} → {_number(row['mean_b'], d)}{unit}"
    change = f"{_number(row['pct_change'], 1, True)} %"
    verdict = str(row["verdict"])
    zh = f"{info.label_zh}{values}（{change}），{_VERDICT_ZH.get(verdict, verdict)}"
    en = f"{info.label_en.lower()} {values} ({change}): {verdict}"
    return zh, en


def summary_paragraphs(
    kpi_table: pd.DataFrame,
    names: tuple[str, str],
    near: pd.DataFrame | None = None,
    approaches: pd.DataFrame | None = None,
    meta: Mapping[str, KpiInfo] = KPI_META,
) -> tuple[str, str]:
    """A plain-language summary for a committee, in Chinese and in English.

    It states the district-wide verdict on mean delay and the travel-time index, the effect
    near the measure, how the delay changed at the junctions the measure touches, and the
    route-choice gap that bounds what the model can tell apart.

    Parameters
    ----------
    kpi_table
        :func:`cysim.results.compare.compare_kpis`.
    names
        Titles (or names) of A and B.
    near
        The same for the links near the measure (:data:`cysim.results.compare.NEAR_KPI_META`).
    approaches
        :func:`cysim.results.compare.approach_deltas` (``measure`` marks the measure's junctions).
    meta
        KPI metadata.

    Returns
    -------
    tuple of str
        ``(zh, en)``.
    """
    a, b = names
    zh = [f"与“{a}”相比，“{b}”的仿真结果："]
    en = [f"Compared with “{a}”, the simulation of “{b}” gives:"]
    clauses = [
        _kpi_sentence(kpi_table.loc[key], meta[key])
        for key in ("mean_delay_s", "travel_time_index")
        if key in kpi_table.index and key in meta
    ]
    if near is not None and "near_delay_s_per_km" in near.index:
        clauses.append(_kpi_sentence(near.loc["near_delay_s_per_km"], NEAR_KPI_META[
            "near_delay_s_per_km"]))  # fmt: skip
    zh.append("；".join(c[0] for c in clauses) + "。")
    en.append("; ".join(c[1] for c in clauses) + ".")
    if approaches is not None and not approaches.empty:
        measure = approaches[approaches["measure"].astype(bool)]
        delays = [
            (junction_delay(group, "a"), junction_delay(group, "b"))
            for _, group in measure.groupby("node", sort=False)
        ]
        delays = [(x, y) for x, y in delays if math.isfinite(x) and math.isfinite(y)]
        if delays:
            lower = sum(y < x - 1.0 for x, y in delays)
            higher = sum(y > x + 1.0 for x, y in delays)
            zh.append(
                f"方案涉及且两次仿真均有车流的{len(delays)}个路口中，{lower}个路口平均控制延误"
                f"下降，{higher}个上升（变化超过1秒）。"
            )
            en.append(
                f"Of the {len(delays)} junctions the measure touches that carried traffic in "
                f"both runs, the mean control delay fell at {lower} and rose at {higher} (by "
                "more than 1 s)."
            )
    if "route_gap_pct" in kpi_table:
        gap = float(kpi_table["route_gap_pct"].max())
        zh.append(f"路径选择的相对间隙为{gap:.1f}%：小于此幅度的变化，模型无法与未完全收敛区分。")
        en.append(
            f"Route choice ended within a relative gap of {gap:.1f} %: changes smaller than "
            "that cannot be told apart from an unfinished equilibration."
        )
    return "".join(zh), " ".join(en)


def key_findings(
    kpi_table: pd.DataFrame, limit: int = 6, meta: Mapping[str, KpiInfo] = KPI_META
) -> list[str]:
    """Plain-language sentences for the significant changes of headline KPIs.

    Parameters
    ----------
    kpi_table
        Output of :func:`cysim.results.compare.compare_kpis`.
    meta
        The KPIs' metadata (:data:`cysim.results.compare.NEAR_KPI_META` for the table near a
        measure).
    limit
        Most sentences on significant changes (the sentence on changes within the route-choice
        gap comes after them).

    Returns
    -------
    list of str
        E.g. ``"平均延误 Mean delay per trip: 312 → 274 s (−12.1 %, 95 % CI of the change
        −45 to −31 s) — better."``; one sentence saying nothing changed significantly if so.
    """
    sentences = []
    for key, row in kpi_table.iterrows():
        info = meta.get(str(key))
        if info is None or not info.headline or not row["excludes_zero"]:
            continue
        if row["verdict"] not in ("better", "worse"):
            continue
        d = info.decimals
        dd = _change_decimals(row, d)
        unit = f" {info.unit}" if info.unit else ""
        sentences.append(
            f"{info.label_zh} {info.label_en}: {_number(row['mean_a'], d)} → "
            f"{_number(row['mean_b'], d)}{unit} ({_number(row['pct_change'], 1, True)} %, "
            f"95 % CI of the change {_number(row['ci_low'], dd, True)} to "
            f"{_number(row['ci_high'], dd, True)}{unit}) — {row['verdict']}."
        )
    within = [
        f"{meta[str(key)].label_zh} {meta[str(key)].label_en} "
        f"({_number(row['pct_change'], 1, True)} %)"
        for key, row in kpi_table.iterrows()
        if str(key) in meta
        and meta[str(key)].headline
        and row["verdict"] == "within route-choice gap"
    ]
    # the caveat about changes within the gap is always shown, after at most `limit` findings
    sentences = sentences[:limit]
    if within:
        gap = float(kpi_table["route_gap_pct"].max()) if "route_gap_pct" in kpi_table else 0.0
        sentences.append(
            "在路径选择误差内 Within the route-choice gap: "
            + "; ".join(within)
            + f" changed significantly over the replications, but by no more than the "
            f"route-choice gap ({gap:.1f} %), so the model cannot tell these changes from an "
            "unfinished equilibration."
        )
    if not sentences:
        return [
            "没有主要指标出现统计显著的变化 · No headline KPI changed significantly "
            "(every 95 % CI of the difference includes 0)."
        ]
    return sentences


def standard_caveats(
    sample_factor: float, schematic_map: bool, calibrated: bool = False, replications: int = 0
) -> list[str]:
    """The caveats every report should carry, worded for planners.

    Parameters
    ----------
    sample_factor
        Fraction of vehicles simulated (1.0 = all).
    schematic_map
        The network is the bundled schematic map, not real OSM data.
    calibrated
        Demand and capacities were calibrated against counts.
    replications
        Replications per scenario.

    Returns
    -------
    list of str
    """
    caveats = []
    if sample_factor < 1:
        caveats.append(
            f"抽样 Sampling: {sample_factor:.0%} of the vehicles were simulated with capacities "
            f"scaled alike; counts and totals are scaled back by 1/{sample_factor:g} to the full "
            "demand, which adds noise to link-level values."
        )
    if schematic_map:
        caveats.append(
            "示意路网 Schematic map: the bundled map draws Chengyang's arterial skeleton with "
            "approximate geometry; run `cysim map fetch` for the real OpenStreetMap network before "
            "relying on link-level numbers."
        )
    if not calibrated:
        caveats.append(
            "未标定 Not calibrated: demand (synthetic OD) and road-class capacities are defaults, "
            "not fitted to traffic counts; compare scenarios with each other, not with observed "
            "travel times."
        )
    if replications and replications < 5:
        caveats.append(
            f"重复次数 Replications: {replications} per scenario; confidence intervals are wide "
            "with few replications — rerun with more (`--replications`) for firmer conclusions."
        )
    caveats.append(
        "CO₂ 估算 CO₂ is an estimate from a COPERT speed curve for a petrol car (EMEP/EEA "
        "Guidebook); it ignores the fleet mix, cold starts and gradients."
    )
    return caveats


def _embed_png(path: Path) -> str:
    """A PNG as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _figures(figures: Mapping[str, str | os.PathLike], report_dir: Path) -> list[dict[str, str]]:
    """Figures in order for the template.

    PNGs are embedded (with captions), HTML files (the interactive map) linked relative to the
    report.
    """
    items = []
    for key, value in figures.items():
        path = Path(value)
        if path.suffix.lower() == ".html":
            items.append({"kind": "link", "href": os.path.relpath(path, report_dir)})
        else:
            caption = FIGURE_CAPTIONS.get(key, key)
            items.append({"kind": "image", "src": _embed_png(path), "caption": caption})
    return items


def write_report(
    path: str | os.PathLike,
    *,
    title_a: str,
    title_b: str,
    scenario_a: Mapping[str, Any],
    scenario_b: Mapping[str, Any],
    patch_log_text: str,
    kpi_table: pd.DataFrame,
    figures: Mapping[str, str | os.PathLike],
    caveats: Sequence[str],
    run_info: Mapping[str, Any],
    approaches: pd.DataFrame | None = None,
    near: pd.DataFrame | None = None,
    near_m: float = 0.0,
) -> Path:
    """Write the self-contained before/after report as one HTML file (atomically).

    Parameters
    ----------
    path
        ``report.html`` to write.
    title_a, title_b
        Scenario titles for the heading.
    scenario_a, scenario_b
        ``{"title", "report_quote", "assumptions", "description"}`` of each scenario (missing keys
        are left out).
    patch_log_text
        The patch change log of B relative to A, as plain text.
    kpi_table
        Output of :func:`cysim.results.compare.compare_kpis`.
    figures
        ``{key: path}`` in display order: PNGs are embedded (captions from
        :data:`FIGURE_CAPTIONS`); ``.html`` files are linked relative to the report.
    caveats
        Sentences for the caveats section (see :func:`standard_caveats`).
    run_info
        Facts for the header line, e.g. ``{"cysim": "0.1.0", "replications": 5, "seeds": "1–5",
        "sample_factor": 0.25, "map": "chengyang-arterials.osm", "date": "2026-11-26"}``.
    approaches
        :func:`cysim.results.compare.approach_deltas`, or None (runs without approach records): its
        measure's junctions and the ``APPROACH_ROWS`` most saturated others become the junction
        tables (:func:`junction_table_html`).
    near, near_m
        :func:`cysim.results.compare.compare_kpis` of the links within ``near_m`` metres of the
        measure
        (:data:`cysim.results.compare.NEAR_KPI_META`), or None: the local-effect table.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    target = Path(path)
    near_table = ""
    sentences = key_findings(kpi_table)
    if near is not None and not near.empty:
        near_table = kpi_table_html(near)
        # a local effect the district totals do not show is a finding too
        sentences += [
            s for s in key_findings(near, meta=NEAR_KPI_META) if s.endswith(("better.", "worse."))
        ]
    summary_zh, summary_en = summary_paragraphs(
        kpi_table, (title_a, title_b), near=near, approaches=approaches
    )
    page = _render(
        "report.html.j2",
        mono_text=patch_log_text or "",
        page_title=f"{title_a} → {title_b}",
        title_a=title_a,
        title_b=title_b,
        run_info=run_info,
        scenario_a=_scenario_card(scenario_a),
        scenario_b=_scenario_card(scenario_b),
        summary_zh=summary_zh,
        summary_en=summary_en,
        findings=sentences,
        # HTML built (and escaped cell by cell) here, passed as Markup on purpose:
        kpi_table=Markup(kpi_table_html(kpi_table)),
        near_table=Markup(near_table),
        near_km=f"{near_m / 1000:g}",
        junctions=Markup(junction_table_html(approaches)) if approaches is not None else "",
        figures=_figures(figures, target.parent.resolve()),
        patch_log=patch_log_text or "(no patches)",
        caveats=list(caveats),
        footer="Generated by cysim. Differences are B − A; intervals are 95 % Student-t "
        "(paired over common seeds, Welch otherwise). Definitions: docs/metrics.md.",
    )
    return io.write_text(target, page)
