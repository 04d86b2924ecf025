"""Figures: files are written, Chinese labels use a font with the glyphs, the web map escapes."""

from __future__ import annotations

import pytest
from helpers.plotcases import ROADS_EW, ROADS_NS, synthetic_case
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font
from shapely.geometry import LineString

from cysim import _fonts
from cysim.report import figures as plot
from cysim.results import compare


@pytest.fixture(scope="module")
def case():
    return synthetic_case()


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cjk_font_has_the_glyphs_of_road_names():
    family = _fonts.cjk_font_family()
    font_path = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    charmap = FT2Font(font_path).get_charmap()
    for ch in "".join(ROADS_EW[:4] + ROADS_NS) + "拥堵畅通缓行路口":
        assert ord(ch) in charmap, ch


def test_static_figures_are_written(tmp_path, case):
    paths = [
        plot.congestion_map(case["links_a"], tmp_path / "a.png", title="现状 baseline"),
        plot.congestion_map(case["links_b"], tmp_path / "b_vc.png", title="方案", color_by="v_c"),
        plot.difference_map(
            case["deltas"], tmp_path / "d.png", title="差异", patched=case["patched"]
        ),
        plot.kpi_bars(case["comparison"], tmp_path / "k.png", labels=("现状", "2021 治堵方案")),
        plot.timeseries_chart(case["ts_a"], case["ts_b"], tmp_path / "t.png", labels=("A", "B")),
        plot.top_links_chart(case["deltas"], tmp_path / "top.png"),
    ]
    for path in paths:
        assert path.exists() and _is_png(path) and path.stat().st_size > 20_000, path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    with pytest.raises(ValueError, match="color_by"):
        plot.congestion_map(case["links_a"], tmp_path / "x.png", title="x", color_by="speed")


def test_rendered_chinese_text_uses_the_cjk_font(case, tmp_path):
    """Every text artist with Chinese characters resolves to a font file that has them."""
    from matplotlib.figure import Figure

    captured = {}
    original = Figure.savefig

    def spy(fig, *args, **kwargs):
        captured["fig"] = fig
        return original(fig, *args, **kwargs)

    Figure.savefig = spy
    try:
        plot.top_links_chart(case["deltas"], tmp_path / "top.png")
    finally:
        Figure.savefig = original
    fig = captured["fig"]
    labels = [t for ax in fig.axes for t in ax.get_yticklabels() if "路" in t.get_text()]
    assert labels, "the chart should show road names"
    for text in labels:
        path = font_manager.findfont(text.get_fontproperties())
        charmap = FT2Font(path).get_charmap()
        assert all(ord(ch) in charmap for ch in text.get_text() if ord(ch) > 0x2E80), path


def test_patched_features_labels_from_names(case):
    marks = case["patched"]
    assert list(marks["kind"]) == ["edge", "edge", "node"]
    assert marks["label"].iloc[0] == "正阳路"
    assert "×" in marks["label"].iloc[2]


def test_kpi_bars_with_one_replication(tmp_path):
    table = compare.compare_kpis(
        [{"vht_h": 100.0, "co2_t": 3.0}], [{"vht_h": 80.0, "co2_t": 2.5}], [1], [1]
    )
    path = plot.kpi_bars(table, tmp_path / "k.png")
    assert _is_png(path)


def test_detail_extent_zooms_only_when_it_helps(tmp_path, case):
    import geopandas as gpd

    patched = case["patched"]
    assert plot.detail_extent(patched, case["links_a"]) is None  # would cover most of the grid
    wide = gpd.GeoDataFrame(
        geometry=[LineString([(240000, 4000000), (290000, 4030000)])], crs="EPSG:32651"
    )
    xmin, ymin, xmax, ymax = plot.detail_extent(patched, wide)
    fx0, fy0, fx1, fy1 = patched.total_bounds
    assert xmin < fx0 and xmax > fx1 and ymin < fy0 and ymax > fy1
    assert ymax - ymin >= 3000 and xmax - xmin == pytest.approx(1.8 * (ymax - ymin))
    path = plot.congestion_map(
        case["links_b"], tmp_path / "c.png", title="detail", detail=(xmin, ymin, xmax, ymax)
    )
    assert _is_png(path)


def test_a_measure_that_changes_no_link_gets_an_empty_top_links_chart(case, tmp_path):
    # regression: with no link changed, pandas ≥ 3 turned the empty selection into rows of NaN
    # and the chart failed on a float road name
    same = case["deltas"].assign(d_total_delay_vh=0.0)
    improved, worsened = compare.top_links(same)
    assert improved.empty and worsened.empty
    path = plot.top_links_chart(same, tmp_path / "top.png")
    assert _is_png(path)


def test_top_links_are_the_extremes_in_order(case):
    deltas = case["deltas"]
    improved, worsened = compare.top_links(deltas, n=3)
    change = deltas["d_total_delay_vh"].fillna(0.0)
    assert list(improved["d_total_delay_vh"]) == sorted(change[change < 0])[:3]
    assert list(worsened["d_total_delay_vh"]) == sorted(change[change > 0], reverse=True)[:3]
    assert improved["name"].map(type).eq(str).all()
