"""Confidence intervals of replication means and before/after differences, checked with scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from cysim.results import compare, stats

A = np.array([812.0, 790.5, 845.2, 801.3, 830.9])
B = np.array([760.1, 751.0, 799.8, 770.4, 781.2])


def test_mean_ci_matches_scipy_t_interval():
    interval = stats.mean_ci(A)
    low, high = sps.t.interval(0.95, len(A) - 1, loc=A.mean(), scale=sps.sem(A))
    assert interval.estimate == pytest.approx(A.mean())
    assert (interval.low, interval.high) == pytest.approx((low, high))
    assert interval.sd == pytest.approx(A.std(ddof=1))
    ninety = stats.mean_ci(A, confidence=0.90)
    assert ninety.high - ninety.low < interval.high - interval.low


def test_paired_difference_matches_ttest_rel():
    interval = stats.paired_difference_ci(A, B)
    ci = sps.ttest_rel(B, A).confidence_interval(0.95)
    assert interval.estimate == pytest.approx((B - A).mean())
    assert (interval.low, interval.high) == pytest.approx((ci.low, ci.high))
    assert interval.method == "paired t" and interval.excludes_zero


def test_welch_difference_matches_ttest_ind_unequal_var():
    b = np.array([700.0, 770.0, 820.0, 690.0])  # different n and spread
    interval = stats.welch_difference_ci(A, b)
    result = sps.ttest_ind(b, A, equal_var=False)
    ci = result.confidence_interval(0.95)
    assert (interval.low, interval.high) == pytest.approx((ci.low, ci.high))
    assert interval.df == pytest.approx(result.df)
    assert interval.method == "Welch t"


def test_degenerate_cases():
    one = stats.mean_ci([5.0])
    assert one.estimate == 5.0 and math.isnan(one.low) and not one.excludes_zero
    flat = stats.mean_ci([2.0, 2.0, 2.0])
    assert (flat.low, flat.high) == (2.0, 2.0)
    assert stats.mean_ci([1.0, np.nan, 3.0]).estimate == 2.0
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_difference_ci([1, 2], [1, 2, 3])


def test_summarize_per_kpi():
    reps = [{"vht_h": a, "gridlock": 0.0} for a in A]
    table = stats.summarize(reps)
    assert table.loc["vht_h", "n"] == 5
    assert table.loc["vht_h", "mean"] == pytest.approx(A.mean())
    low, high = sps.t.interval(0.95, 4, loc=A.mean(), scale=sps.sem(A))
    assert table.loc["vht_h", "ci_low"] == pytest.approx(low)
    assert table.loc["vht_h", "ci_high"] == pytest.approx(high)
    assert table.loc["vht_h", "rep_3"] == A[2]


def test_compare_kpis_pairs_common_seeds_and_judges_direction():
    kpis_a = [{"vht_h": a, "mean_speed_kph": 30.0 + i, "vkt_km": 100.0} for i, a in enumerate(A)]
    kpis_b = [{"vht_h": b, "mean_speed_kph": 30.0 + i, "vkt_km": 101.0} for i, b in enumerate(B)]
    seeds = [1, 2, 3, 4, 5]
    table = compare.compare_kpis(kpis_a, kpis_b, seeds, seeds)
    row = table.loc["vht_h"]
    ci = sps.ttest_rel(B, A).confidence_interval(0.95)
    assert row["method"] == "paired t"
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert row["difference"] == pytest.approx(B.mean() - A.mean())
    assert row["pct_change"] == pytest.approx(100 * (B.mean() - A.mean()) / A.mean())
    assert row["excludes_zero"] and row["verdict"] == "better"  # fewer vehicle-hours
    assert table.loc["mean_speed_kph", "verdict"] == "no significant change"
    assert table.loc["vkt_km", "verdict"] == "neutral"
    assert "co2_t" not in table.index  # only KPIs present on both sides

    # the same seeds in another order are still paired, by seed
    shuffled = compare.compare_kpis(kpis_a, kpis_b[::-1], seeds, seeds[::-1])
    assert shuffled.loc["vht_h", "ci_low"] == pytest.approx(ci.low)

    # different seeds: Welch
    welch = compare.compare_kpis(kpis_a, kpis_b, seeds, [11, 12, 13, 14, 15])
    ci_w = sps.ttest_ind(B, A, equal_var=False).confidence_interval(0.95)
    assert welch.loc["vht_h", "method"] == "Welch t"
    assert welch.loc["vht_h", "ci_low"] == pytest.approx(ci_w.low)


def test_worse_verdict_when_speed_falls():
    kpis_a = [{"mean_speed_kph": v} for v in (30.0, 31.0, 29.5)]
    kpis_b = [{"mean_speed_kph": v} for v in (25.0, 26.5, 24.0)]
    table = compare.compare_kpis(kpis_a, kpis_b, [1, 2, 3], [1, 2, 3])
    assert table.loc["mean_speed_kph", "verdict"] == "worse"


def test_single_replication_gives_no_interval_and_claims_nothing():
    table = compare.compare_kpis([{"vht_h": 100.0}], [{"vht_h": 80.0}], [1], [1])
    row = table.loc["vht_h"]
    assert row["difference"] == -20.0 and row["pct_change"] == -20.0
    assert math.isnan(row["ci_low"]) and not row["excludes_zero"]
    assert row["verdict"] == "no significant change"


def test_change_within_the_route_choice_gap_is_not_called():
    # VHT falls by 3 % with a tight interval; the sides' route choice stopped at relative gaps of
    # up to 0.02 (A) and 0.04 (B): a change no larger than 4 % may be an unfinished equilibration
    kpis_a = [{"vht_h": v, "relative_gap": g} for v, g in ((100.0, 0.01), (101.0, 0.02))]
    kpis_a.append({"vht_h": 99.0, "relative_gap": 0.015})
    kpis_b = [{"vht_h": 0.97 * k["vht_h"], "relative_gap": 0.04} for k in kpis_a]
    table = compare.compare_kpis(kpis_a, kpis_b, [1, 2, 3], [1, 2, 3])
    row = table.loc["vht_h"]
    assert row["excludes_zero"] and row["pct_change"] == pytest.approx(-3.0)
    assert row["route_gap_pct"] == pytest.approx(4.0)
    assert row["verdict"] == "within route-choice gap"
    assert set(table["verdict"]) <= set(compare.VERDICTS)
    # the same change with both sides converged to 0.01 is called
    tight = [{**k, "relative_gap": 0.01} for k in kpis_b]
    assert (
        compare.compare_kpis(kpis_a, tight, [1, 2, 3], [1, 2, 3]).loc["vht_h", "verdict"]
        == "better"
    )
    # without route-choice records (no gap known) only significance decides
    bare_a = [{"vht_h": k["vht_h"]} for k in kpis_a]
    bare_b = [{"vht_h": k["vht_h"]} for k in kpis_b]
    assert (
        compare.compare_kpis(bare_a, bare_b, [1, 2, 3], [1, 2, 3]).loc["vht_h", "verdict"]
        == "better"
    )


def test_interval_of_a_count_is_clipped_at_zero_but_not_its_difference():
    # unfinished trips: mostly none, one replication with many; the t interval reaches below 0
    a = [0.0, 0.0, 0.0, 1200.0]
    b = [0.0, 0.0, 0.0, 0.0]
    raw = stats.mean_ci(a)
    assert raw.low < 0
    kpis_a = [{"trips_unfinished": v, "mean_delay_s": v - 50.0} for v in a]
    kpis_b = [{"trips_unfinished": v, "mean_delay_s": v - 50.0} for v in b]
    table = compare.compare_kpis(kpis_a, kpis_b, [1, 2, 3, 4], [1, 2, 3, 4])
    row = table.loc["trips_unfinished"]
    assert row["a_ci_low"] == 0.0 and row["a_ci_high"] == pytest.approx(raw.high)
    assert row["ci_low"] < 0  # B − A can be negative
    # a delay is not a count: its interval is left as it is
    assert table.loc["mean_delay_s", "a_ci_low"] == pytest.approx(raw.low - 50.0)
    summary = stats.summarize(
        [{"trips_unfinished": v} for v in a], bounds={"trips_unfinished": (0.0, math.inf)}
    )
    assert summary.loc["trips_unfinished", "ci_low"] == 0.0
    assert stats.summarize([{"trips_unfinished": v} for v in a]).loc[
        "trips_unfinished", "ci_low"
    ] == pytest.approx(raw.low)
    share = stats.clip_interval(stats.mean_ci([90.0, 99.0, 100.0]), (0.0, 100.0))
    assert share.high == 100.0 and share.low < 100.0


def test_every_count_kpi_has_a_value_range():
    from cysim.results import metrics

    for key, info in metrics.KPI_META.items():
        if info.unit in ("trips", "veh", "veh·km", "veh·h", "t", "%", "places"):
            assert info.value_range is not None and info.value_range[0] == 0.0, key


def test_group_intervals_equal_the_one_group_functions():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "link": np.repeat([1, 2, 3], 4),
            "flow": rng.normal(100, 20, 12),
            "speed": rng.normal(30, 5, 12),
        }
    )
    frame.loc[frame.index[-3:], "speed"] = np.nan  # link 3: one speed only
    grouped = stats.group_mean_ci(frame, ["link"], ["flow", "speed"])
    for link, part in frame.groupby("link"):
        for column in ("flow", "speed"):
            one = stats.mean_ci(part[column])
            got = grouped.loc[link, [column, f"{column}_ci_low", f"{column}_ci_high"]]
            np.testing.assert_allclose(got.to_numpy(dtype=float), [one.estimate, one.low, one.high])
    assert np.isnan(grouped.loc[3, "speed_ci_low"])
    counts = frame.assign(flow=np.tile([0.0, 0.0, 0.0, 40.0], 3))  # mean 10, t interval < 0
    assert (stats.group_mean_ci(counts, ["link"], ["flow"])["flow_ci_low"] < 0).all()
    clipped = stats.group_mean_ci(counts, ["link"], ["flow"], bounds=(0.0, math.inf))
    assert (clipped["flow_ci_low"] == 0).all() and (clipped["flow"] == 10).all()

    other = frame.assign(flow=frame["flow"] * 1.5).iloc[:-2]  # link 3 has two values in B
    welch = stats.group_welch_difference_ci(frame, other, ["link"], ["flow"])
    for link in (1, 2, 3):
        one = stats.welch_difference_ci(
            frame.loc[frame["link"] == link, "flow"], other.loc[other["link"] == link, "flow"]
        )
        got = welch.loc[link, ["flow", "flow_ci_low", "flow_ci_high"]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, [one.estimate, one.low, one.high])


def test_kpi_csv_rounds_each_row_to_its_decimals():
    kpis_a = [
        {"vkt_km": v, "travel_time_index": t} for v, t in ((78721.906, 1.23456), (78000.1, 1.2))
    ]
    kpis_b = [{"vkt_km": v, "travel_time_index": t} for v, t in ((78721.0, 1.1), (78001.0, 1.3))]
    table = compare.compare_kpis(kpis_a, kpis_b, [1, 2], [1, 2])
    out = compare.kpi_table_for_csv(table)
    assert out.loc["vkt_km", "mean_a"] == "78361"
    assert out.loc["travel_time_index", "mean_a"] == "1.217"
    assert table.loc["vkt_km", "mean_a"] == pytest.approx(78361.003)  # the frame keeps precision
    assert out.loc["vkt_km", "pct_change"] == round(table.loc["vkt_km", "pct_change"], 1)


def test_clipping_never_cuts_past_the_estimate_and_keeps_nan():
    above = stats.clip_interval(stats.Interval(101.0, 98.0, 104.0, 1.0, 2.0, "t"), (0.0, 100.0))
    assert (above.low, above.high) == (98.0, 101.0)
    missing = stats.clip_interval(stats.mean_ci([5.0]), (0.0, math.inf))
    assert math.isnan(missing.low) and math.isnan(missing.high)


def test_junction_deltas_match_nodes_and_put_the_measure_first():
    import geopandas as gpd
    from shapely.geometry import Point

    def junctions(delays: dict[int, float]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(
            {
                "node": list(delays),
                "name": [f"j{n}" for n in delays],
                "signal": [True] * len(delays),
                "mean_control_delay_s": list(delays.values()),
                "los": ["C"] * len(delays),
            },
            geometry=[Point(n, n) for n in delays],
            crs="EPSG:32651",
        )

    table = compare.junction_deltas(
        junctions({1: 10.0, 2: 50.0, 3: 30.0}), junctions({1: 12.0, 2: 40.0, 4: 5.0}), [3]
    )
    assert list(table["node"]) == [3, 2, 1, 4]  # the measure's, then by the worse delay
    assert table.loc[table["node"] == 1, "d_mean_control_delay_s"].item() == 2.0
    assert np.isnan(table.loc[table["node"] == 3, "mean_control_delay_s_b"].item())
    assert table.geometry.notna().all() and table.crs.to_epsg() == 32651
