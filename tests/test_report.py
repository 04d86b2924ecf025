"""HTML report: parses, has the KPI table, escapes names, embeds figures, renders in Chromium."""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from helpers.plotcases import EVIL, synthetic_case

from cysim.report import figures as plot
from cysim.report import page as report
from cysim.report import webmap
from cysim.results import metrics


class _Collector(HTMLParser):
    """Collects tags, table cells and images of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cells: list[str] = []
        self.images: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


@pytest.fixture(scope="module")
def written_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    case = synthetic_case()
    figures = {
        "kpi_bars": plot.kpi_bars(case["comparison"], folder / "figures" / "kpi.png"),
        "difference": plot.difference_map(
            case["deltas"], folder / "figures" / "d.png", title="Δ", patched=case["patched"]
        ),
        "interactive_map": webmap.interactive_map(case["deltas"], folder / "link_deltas.html"),
    }
    path = report.write_report(
        folder / "report.html",
        title_a="现状 baseline",
        title_b=f"2021 治堵方案 {EVIL}",
        scenario_a={"title": "现状", "description": "morning peak"},
        scenario_b={
            "title": "2021",
            "report_quote": "打通断头路。",
            "assumptions": [f"closes {EVIL}"],
        },
        patch_log_text=f"close_road {EVIL}: 2 edges removed",
        kpi_table=case["comparison"],
        figures=figures,
        caveats=report.standard_caveats(0.25, schematic_map=True, replications=3),
        run_info={"cysim": "0.1.0", "replications": 3},
    )
    return path, case


def test_report_parses_and_contains_the_kpi_table(written_report):
    path, case = written_report
    text = path.read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(text)
    assert parser.tags.count("table") == 1 and "script" not in parser.tags
    cells = parser.cells
    assert "指标 KPI" in cells
    comparison = case["comparison"]
    # every KPI row is there with its label and its mean of A as printed
    for key, row in comparison.iterrows():
        assert any(row["label_en"] in c for c in cells), key
    vht = comparison.loc["vht_h"]
    assert any(c.startswith(f"{vht['mean_a']:,.0f}") for c in cells)
    assert any(c == "paired t" for c in cells)
    # figures embedded as data URIs, the interactive map linked relatively
    assert len(parser.images) == 2 and all(
        s.startswith("data:image/png;base64,") for s in parser.images
    )
    assert 'href="link_deltas.html"' in text
    assert "示意路网 Schematic map" in text and "抽样 Sampling" in text


def test_names_from_yaml_and_osm_are_escaped(written_report):
    text = written_report[0].read_text(encoding="utf-8")
    assert EVIL not in text
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # title ×2, assumption, log


def test_key_findings_only_claim_significant_changes():
    case = synthetic_case()
    table = case["comparison"].copy()
    table["excludes_zero"] = False
    sentences = report.key_findings(table)
    assert len(sentences) == 1 and "No headline KPI changed significantly" in sentences[0]
    better = report.key_findings(case["comparison"])
    assert all(s.endswith(("better.", "worse.")) for s in better)


def test_report_renders_in_headless_chromium(written_report, tmp_path, offline_chromium):
    shot = tmp_path / "shot.png"
    command = offline_chromium(f"--screenshot={shot}", "--window-size=1200,2000")
    command.append(written_report[0].as_uri())
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1200)
    assert pixels.std() > 20  # a blank page has no variance
    # the top band (title, cards) has dark text on white, not a uniform error page
    assert (pixels[:400] < 100).mean() > 0.005 and (pixels[:400] > 240).mean() > 0.5


def test_embedded_font_subsets_cover_the_chinese_text(written_report):
    """Machines without a CJK font still render the names: the page carries font subsets."""
    import base64
    import io as stdlib_io
    import re

    from fontTools.ttLib import TTFont

    text = written_report[0].read_text(encoding="utf-8")
    faces = dict(re.findall(r"font-family: '([^']+)';[^}]*base64,([A-Za-z0-9+/=]+)\)", text))
    assert set(faces) == {"cysim CJK", "cysim Mono"}
    sans = TTFont(stdlib_io.BytesIO(base64.b64decode(faces["cysim CJK"]))).getBestCmap()
    mono = TTFont(stdlib_io.BytesIO(base64.b64decode(faces["cysim Mono"]))).getBestCmap()
    visible = re.sub(r"<[^>]+>|data:[^\"')]+", "", text)
    chinese = {ch for ch in visible if "\u4e00" <= ch <= "\u9fff"}
    assert chinese and all(ord(ch) in sans for ch in chinese)
    assert all(ord(ch) in mono for ch in "close_road <script>")
    assert len(faces["cysim CJK"]) < 400_000  # a subset, not the 16 MB font


def test_changes_within_the_route_choice_gap_are_named_but_not_judged():
    case = synthetic_case()
    table = case["comparison"].copy()
    judged = table.index[table["verdict"].isin(["better", "worse"])]
    headline = [k for k in judged if metrics.KPI_META[k].headline]
    assert headline, "the synthetic case needs a significant headline change"
    key = headline[0]
    table.loc[key, "verdict"] = "within route-choice gap"
    table["route_gap_pct"] = 2.0
    sentences = report.key_findings(table)
    label = metrics.KPI_META[key].label_en
    assert not any(s.startswith(metrics.KPI_META[key].label_zh) for s in sentences)
    [within] = [s for s in sentences if "Within the route-choice gap" in s]
    assert label in within and "(2.0 %)" in within
    assert "在路径选择误差内 within route-choice gap" in report.kpi_table_html(table)


def _approaches(junction: str, road: str) -> pd.DataFrame:
    """Two approaches of one junction the measure changes, shaped like compare.approach_deltas."""
    figures = {
        "flow_vph_a": 500.0,
        "flow_vph_b": 520.0,
        "max_degree_of_saturation_a": 0.81,
        "max_degree_of_saturation_b": 0.7,
        "control_delay_s_a": 35.0,
        "control_delay_s_b": 30.0,
        "los_a": "C",
        "los_b": "C",
        "queue_max_veh_a": 8.0,
        "queue_max_veh_b": 6.0,
    }
    return pd.DataFrame(
        [
            {
                "node": 1,
                "junction": junction,
                "road": road,
                "approach": approach,
                "measure": True,
                "junction_changed": True,
                "control": "signal",
                **figures,
            }
            for approach in ("东进口 E", "西进口 W")
        ]
    )


def test_titles_and_road_names_with_markup_and_ampersands_arrive_escaped(tmp_path):
    """Text from a scenario YAML or OSM is escaped by the template (autoescape) and in the
    tables built in Python; nothing is escaped twice."""
    title = "方案 <script>alert(1)</script> & co"
    road = "<script>alert('road')</script> & 长城路"
    path = report.write_report(
        tmp_path / "report.html",
        title_a="现状 & baseline",
        title_b=title,
        scenario_a={"title": "现状 & baseline", "report_quote": "a & b\n<i>c</i>"},
        scenario_b={"title": title, "assumptions": [f"closes {road}"]},
        patch_log_text=f"close_road {road}: 2 edges removed",
        kpi_table=synthetic_case()["comparison"],
        figures={},
        caveats=[f"caveat on {road}"],
        run_info={"map <m>": "a & b"},
        approaches=_approaches(f"{road} × 文阳路", road),
    )
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text and "<i>" not in text and "&amp;amp;" not in text
    escaped_title = "方案 &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"
    assert f"<title>现状 &amp; baseline → {escaped_title}</title>" in text
    assert f'<span class="arrow">→</span>{escaped_title}</h1>' in text
    assert f'<span class="tag">B 方案/后</span>{escaped_title}</h3>' in text
    assert "<blockquote>a &amp; b<br>&lt;i&gt;c&lt;/i&gt;</blockquote>" in text
    assert '<p class="meta">map &lt;m&gt;: a &amp; b</p>' in text
    escaped_road = "&lt;script&gt;alert(&#39;road&#39;)&lt;/script&gt; &amp; 长城路"
    assert f"<li>closes {escaped_road}</li>" in text  # assumption (template)
    assert f"<pre>close_road {escaped_road}: 2 edges removed</pre>" in text  # change log
    assert f"<li>caveat on {escaped_road}</li>" in text
    assert f"<td>东进口 E {escaped_road}</td>" in text  # junction table (Python, Markup)
    # read back as HTML, the page shows the names exactly as written
    parser = _Collector()
    parser.feed(text)
    assert "script" not in parser.tags and "i" not in parser.tags
    assert f"东进口 E {road}" in parser.cells


def test_templates_are_autoescaped_strict_and_shipped_as_package_data():
    import fnmatch
    import tomllib
    from pathlib import Path

    import jinja2

    environment = report._environment()
    assert environment.autoescape is True and environment.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        environment.get_template("page.html.j2").render(page_title="t")
    package = Path(report.__file__).parent
    pyproject = tomllib.loads((package.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["cysim.report"]
    templates = sorted(p.relative_to(package).as_posix() for p in (package / "templates").iterdir())
    assert {"templates/base.html.j2", "templates/page.html.j2", "templates/report.html.j2"} <= set(
        templates
    )
    assert all(any(fnmatch.fnmatch(t, p) for p in patterns) for t in templates)
