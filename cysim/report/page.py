"""The one-page before/after HTML report: scenarios, KPI table, figures, change log and caveats.

The page is self-contained (figures embedded as base64 PNG data URIs, CSS inline, no scripts), so
it can be mailed or archived as one file. Every text that comes from OSM or a scenario YAML is
HTML-escaped; the template is a :class:`string.Template` with no logic of its own.
"""

from __future__ import annotations

import base64
import html
import math
import os
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

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

#: The house style of every cysim HTML page (fonts are added per page).
_STYLE = """/*FONT_FACE*/
  :root { --ink:#1f2933; --muted:#616e7c; --line:#d9dee4; --a:#5b6c8f; --b:#e07a1f;
          --good:#2b8a3e; --bad:#c92a2a; --bg:#f5f7fa; }
  * { box-sizing: border-box; }
  body { margin:0; background:var(--bg); color:var(--ink);
         font: 15px/1.55 "cysim CJK","Noto Sans CJK SC","Source Han Sans SC","PingFang SC",
               "Microsoft YaHei",sans-serif; }
  main { max-width:1100px; margin:0 auto; padding:28px 32px 48px; background:#fff;
         box-shadow:0 0 0 1px var(--line); }
  header { border-bottom:3px solid var(--ink); padding-bottom:14px; margin-bottom:22px; }
  .kicker { color:var(--muted); font-size:13px; letter-spacing:.04em; text-transform:uppercase; }
  h1 { font-size:26px; margin:6px 0 6px; line-height:1.3; }
  h1 .arrow { color:var(--muted); font-weight:400; padding:0 .3em; }
  h2 { font-size:19px; margin:30px 0 10px; padding-bottom:4px;
       border-bottom:1px solid var(--line); }
  .meta { color:var(--muted); font-size:13px; margin:0; }
  .cards { display:grid; grid-template-columns:1fr 1fr; gap:16px; }
  .card { border:1px solid var(--line); border-radius:6px; padding:12px 16px;
          border-top:5px solid var(--a); }
  .card.b { border-top-color:var(--b); }
  .card h3 { margin:2px 0 6px; font-size:16px; }
  .tag { display:inline-block; font-size:12px; color:#fff; background:var(--a); border-radius:3px;
         padding:0 6px; margin-right:6px; vertical-align:2px; }
  .card.b .tag { background:var(--b); }
  blockquote { margin:8px 0; padding:6px 12px; border-left:3px solid var(--line);
               color:#3e4c59; background:#fafbfc; }
  .card ul { margin:6px 0 0; padding-left:20px; font-size:14px; }
  .findings li { margin:3px 0; }
  p.summary { font-size:15px; line-height:1.6; margin:6px 0; }
  table.kpi { width:100%; border-collapse:collapse; font-size:13.5px; }
  table.kpi th, table.kpi td { padding:6px 8px; border-bottom:1px solid var(--line); }
  table.kpi th { text-align:left; background:#eef1f5; font-weight:600; }
  table.kpi td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
  table.kpi td .en { color:var(--muted); font-size:12px; }
  tr.better td.verdict { color:var(--good); font-weight:600; }
  tr.worse td.verdict { color:var(--bad); font-weight:600; }
  tr.sub td:first-child { padding-left:22px; }
  figure { margin:18px 0; }
  figure img { width:100%; height:auto; border:1px solid var(--line); }
  figcaption { color:var(--muted); font-size:13px; margin-top:4px; }
  pre { font-family:"cysim Mono","Noto Sans Mono CJK SC",ui-monospace,monospace;
        background:#f6f8fa; border:1px solid var(--line); border-radius:4px; padding:10px 12px;
        font-size:12.5px; white-space:pre-wrap; word-break:break-word; }
  .caveats li { margin:4px 0; }
  footer { margin-top:32px; color:var(--muted); font-size:12px; border-top:1px solid var(--line);
           padding-top:8px; }
  @media print { body { background:#fff; } main { box-shadow:none; }
                 figure { break-inside:avoid; } }
"""

#: The start of every cysim HTML page, up to the page's content.
_HEAD = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$page_title</title>
<style>
$style</style>
</head>
<body>
<main>
"""

_TEMPLATE = string.Template(
    _HEAD
    + """<header>
  <div class="kicker">城阳区交通治堵方案仿真评估 · cysim before/after report</div>
  <h1>$title_a<span class="arrow">→</span>$title_b</h1>
  <p class="meta">$run_info</p>
</header>

<section class="cards">
$card_a
$card_b
</section>

<h2>主要结论 · Key findings</h2>
<p class="summary" lang="zh-CN">$summary_zh</p>
<p class="summary" lang="en">$summary_en</p>
<ul class="findings">
$findings
</ul>

<h2>指标对比 · KPI comparison</h2>
$kpi_table

<h2>图表 · Figures</h2>
$figures

$near

$approaches

<h2>方案改动记录 · Patch change log</h2>
<pre>$patch_log</pre>

<h2>说明与局限 · Caveats</h2>
<ul class="caveats">
$caveats
</ul>

<footer>$footer</footer>
</main>
</body>
</html>
"""
)


_PAGE = string.Template(
    _HEAD
    + """<header>
  <div class="kicker">$kicker</div>
  <h1>$title</h1>
  <p class="meta">$run_info</p>
</header>
$body
<footer>$footer</footer>
</main>
</body>
</html>
"""
)


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
    info = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in run_info.items())
    page = _PAGE.substitute(
        style=_STYLE,
        page_title=_e(title),
        kicker=_e(kicker),
        title=_e(title),
        run_info=info,
        body=body_html,
        footer=_e(footer),
    )
    page = page.replace("/*FONT_FACE*/", font_face_css(page, ""), 1)
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
    """HTML-escape any value as text."""
    return html.escape("" if value is None else str(value), quote=True)


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


def _scenario_card(side: str, css: str, scenario: Mapping[str, Any]) -> str:
    """One scenario's title, report quote, description and assumptions."""
    quote = scenario.get("report_quote") or ""
    if isinstance(quote, Sequence) and not isinstance(quote, str):
        quote = "\n".join(str(q) for q in quote)
    parts = [
        f'<div class="card {css}"><h3><span class="tag">{_e(side)}</span>'
        f"{_e(scenario.get('title') or scenario.get('name') or '')}</h3>"
    ]
    if quote:
        parts.append("<blockquote>" + _e(quote).replace("\n", "<br>") + "</blockquote>")
    if scenario.get("description"):
        parts.append(f"<p>{_e(scenario['description'])}</p>")
    assumptions = [a for a in scenario.get("assumptions") or [] if a]
    if assumptions:
        items = "".join(f"<li>{_e(a)}</li>" for a in assumptions)
        parts.append(f"<div><b>假设 Assumptions</b><ul>{items}</ul></div>")
    parts.append("</div>")
    return "\n".join(parts)


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
    """The report's junction section: every approach of every junction the measure touches,
    before and after, with each junction's flow-weighted delay and level of service; then the
    most saturated approaches elsewhere.

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


def _figures_html(figures: Mapping[str, str | os.PathLike], report_dir: Path) -> str:
    """Figures embedded in order; HTML files (the interactive map) linked relative to the report."""
    parts = []
    for key, value in figures.items():
        path = Path(value)
        caption = _e(FIGURE_CAPTIONS.get(key, key))
        if path.suffix.lower() == ".html":
            href = os.path.relpath(path, report_dir)
            parts.append(
                f'<p>🗺 <a href="{_e(href)}">交互地图 Interactive map of link changes '
                f"({_e(href)})</a></p>"
            )
            continue
        parts.append(
            f'<figure><img alt="{caption}" src="{_embed_png(path)}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return "\n".join(parts)


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
    info = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in run_info.items())
    sentences = key_findings(kpi_table)
    if near is not None and not near.empty:
        # a local effect the district totals do not show is a finding too
        sentences += [
            s for s in key_findings(near, meta=NEAR_KPI_META) if s.endswith(("better.", "worse."))
        ]
    findings = "\n".join(f"<li>{_e(s)}</li>" for s in sentences)
    summary_zh, summary_en = summary_paragraphs(
        kpi_table, (title_a, title_b), near=near, approaches=approaches
    )
    page = _TEMPLATE.substitute(
        summary_zh=_e(summary_zh),
        summary_en=_e(summary_en),
        style=_STYLE,
        page_title=_e(f"{title_a} → {title_b}"),
        title_a=_e(title_a),
        title_b=_e(title_b),
        run_info=info,
        card_a=_scenario_card("A 现状/前", "a", scenario_a),
        card_b=_scenario_card("B 方案/后", "b", scenario_b),
        findings=findings,
        kpi_table=kpi_table_html(kpi_table),
        figures=_figures_html(figures, target.parent.resolve()),
        patch_log=_e(patch_log_text or "(no patches)"),
        caveats="\n".join(f"<li>{_e(c)}</li>" for c in caveats),
        approaches=junction_table_html(approaches) if approaches is not None else "",
        near=(
            f"<h2>方案周边 · Near the measure (links within {near_m / 1000:g} km)</h2>\n"
            "<p>Network totals can hide a local effect in the noise of a whole district: these "
            "are the same figures on the links within that distance of the links and junctions "
            "the measure changes, paired over the same seeds and judged like the KPIs above.</p>\n"
            + kpi_table_html(near)
            if near is not None and not near.empty
            else ""
        ),
        footer="Generated by cysim. Differences are B − A; intervals are 95 % Student-t "
        "(paired over common seeds, Welch otherwise). Definitions: docs/metrics.md.",
    )
    page = page.replace("/*FONT_FACE*/", font_face_css(page, patch_log_text or ""), 1)
    return io.write_text(target, page)
