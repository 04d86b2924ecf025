"""KPIs on a hand-computable network: two links in a row, five vehicles, values worked out by hand.

Network: node 1 →(link 0: 1000 m, 36 km/h, free-flow 100 s)→ node 2 (signal) →(link 1: 500 m,
36 km/h, free-flow 50 s)→ node 3. Demand period 600 s, cool-down 300 s (run ends at 900 s).

| trip | dep | link 0 entry–exit | link 1 entry–exit | status   | free-flow |
|------|-----|-------------------|-------------------|----------|-----------|
| 0    | 0   | 0–100             | 100–150           | arrived  | 150       |
| 1    | 10  | 10–130            | 130–190           | arrived  | 150       |
| 2    | 20  | 20–260 (slow)     | 260–310           | arrived  | 150       |
| 3    | 500 | 500–600           | 600–(still on)    | en_route | 150       |
| 4    | 30  | —                 | —                 | unrouted | NaN       |
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from helpers.toyresults import NAN, toy_graph, toy_result

from cysim.results import emissions, metrics


def test_network_kpis_equal_hand_values():
    kpis = metrics.network_kpis(toy_result(), toy_graph())
    assert kpis["trips_total"] == 5
    assert kpis["trips_completed"] == 3
    assert kpis["trips_completed_pct"] == pytest.approx(100.0 * 3 / kpis["trips_total"])
    assert kpis["trips_unfinished"] == 2
    assert kpis["trips_en_route"] == 1 and kpis["trips_unrouted"] == 1 and kpis["trips_stuck"] == 0
    # Four vehicles covered both links (trip 3 is queued at the end of link 1: 300 s ≥ free-flow).
    assert kpis["vkt_km"] == pytest.approx(6.0)
    # trip times: 150, 180, 290 s arrived, and trip 3 still under way counts until the end of
    # the run (900 − 500 = 400 s); the unrouted trip 4 has none
    assert kpis["vht_h"] == pytest.approx(1020 / 3600)
    assert kpis["mean_speed_kph"] == pytest.approx(6.0 / (1020 / 3600))
    assert kpis["mean_trip_time_s"] == pytest.approx((150 + 180 + 290 + 400) / 4)
    assert kpis["mean_delay_s"] == pytest.approx((0 + 30 + 140 + 250) / 4)
    assert kpis["travel_time_index"] == pytest.approx(1020 / 600)
    # congested (slower than half free-flow speed): trip 2 on link 0 (240 > 200 s), trip 3 on link 1
    assert kpis["congested_vkt_share_pct"] == pytest.approx(100 * 1.5 / 6.0)
    assert kpis["max_queue_veh"] == 3
    assert kpis["spillback_link_min"] == pytest.approx(2.0)
    assert kpis["gridlock"] == 0
    assert kpis["cruise_vkt_km"] == pytest.approx(0.4)
    assert kpis["cruise_vht_h"] == pytest.approx(60 / 3600)
    speeds = [36, 36, 30, 30, 15, 36, 36, 10]  # km/h per traversal (6 km/h clamps to 10)
    grams = sum(d * emissions.co2_g_per_km(v) for d, v in zip([1, 0.5] * 4, speeds, strict=True))
    assert kpis["co2_t"] == pytest.approx(grams / 1e6)
    assert set(metrics.KPI_META) <= set(kpis)


def test_run_end_from_engine_bounds_time_of_vehicles_still_on_links():
    result = toy_result()
    result.extra = {"end_s": 800.0}  # the engine stopped at 800 s, not 900 s
    kpis = metrics.network_kpis(result)
    assert kpis["vht_h"] == pytest.approx((1020 - 100) / 3600)
    assert kpis["travel_time_index"] == pytest.approx((1020 - 100) / 600)
    assert kpis["vkt_km"] == pytest.approx(6.0)  # 200 s at 10 m/s still covers the 500 m


def test_sampled_run_scales_totals_not_means():
    full = metrics.network_kpis(toy_result(1.0))
    half = metrics.network_kpis(toy_result(0.5))
    for key, info in metrics.KPI_META.items():
        factor = 2.0 if info.scaled else 1.0
        assert half[key] == pytest.approx(factor * full[key], nan_ok=True), key
    assert half["trips_total"] == 10 and half["sample_factor"] == 0.5


def test_emission_curve_at_hand_points():
    # FC(50) = (136 − 1.65·50 + 0.0312·2500) / (1 + 0.026·50 + 0.000228·2500) = 131.5 / 2.87
    assert emissions.fuel_g_per_km(50.0) == pytest.approx(131.5 / 2.87)
    assert emissions.co2_g_per_km(50.0) == pytest.approx(3.18334 * 131.5 / 2.87, rel=1e-5)
    # clamped below 10 km/h, and U-shaped: stop-and-go emits about twice as much per km
    assert emissions.co2_g_per_km(2.0) == emissions.co2_g_per_km(10.0)
    assert emissions.co2_g_per_km(10.0) > 2 * emissions.co2_g_per_km(60.0)


def test_link_table_hand_values_and_geometry():
    table = metrics.link_table(toy_result(), toy_graph())
    assert table.crs.to_epsg() == 32651
    first, second = table.iloc[0], table.iloc[1]
    # link 0: 4 entries in [0, 600) → 4 veh / (1/6 h) = 24 veh/h
    assert first["flow_veh"] == 4 and first["flow_vph"] == pytest.approx(24.0)
    assert first["v_c"] == pytest.approx(24.0 / 1800)
    assert first["mean_speed_kph"] == pytest.approx(3.6 * 4 * 1000 / (100 + 120 + 240 + 100))
    assert first["speed_ratio"] == pytest.approx(first["mean_speed_kph"] / 36)
    assert first["mean_delay_s"] == pytest.approx((0 + 20 + 140 + 0) / 4)
    assert first["total_delay_vh"] == pytest.approx(160 / 3600)
    assert first["queue_max_veh"] == 3 and first["spillback_min"] == 0
    # link 1: trip 3 entered at 600 s, outside the demand period
    assert second["flow_veh"] == 3
    assert second["mean_speed_kph"] == pytest.approx(3.6 * 3 * 500 / 160)
    assert second["mean_delay_s"] == pytest.approx(10 / 3)
    assert second["spillback_min"] == pytest.approx(2.0)
    assert second["name"] == "长城路"
    assert second.geometry.length == pytest.approx(500.0)


def test_junction_delay_and_hcm_los():
    table = metrics.junction_table(toy_result(), toy_graph())
    # node 3 is only reached on trips' last links, which end there: not a crossing
    assert list(table["node"]) == [2]
    row = table.iloc[0]
    assert row["vehicles"] == 4 and row["signal"]
    assert row["mean_control_delay_s"] == pytest.approx(40.0)
    assert row["los"] == "D"  # signalised: 35 < 40 ≤ 55
    assert row["name"] == "正阳路 / 长城路"


@pytest.mark.parametrize(
    ("delay", "signalised", "letter"),
    [
        (10, True, "A"),
        (10.1, True, "B"),
        (80, True, "E"),
        (80.1, True, "F"),
        (15, False, "B"),
        (25.5, False, "D"),
        (50.1, False, "F"),
        (NAN, True, ""),
    ],
)
def test_level_of_service_thresholds(delay, signalised, letter):
    assert metrics.level_of_service(delay, signalised) == letter


def test_timeseries_hand_values():
    ts = metrics.timeseries(toy_result(), interval_s=300)
    assert list(ts["time_s"]) == [0, 300, 600]
    assert list(ts["clock"]) == ["07:00", "07:05", "07:10"]
    assert list(ts["departures"]) == [4, 1, 0]
    assert list(ts["arrivals"]) == [2, 1, 0]
    # exits in [0, 300): 4000 m in 570 s
    assert ts["mean_speed_kph"].iloc[0] == pytest.approx(3.6 * 4000 / 570)
    assert ts["mean_speed_kph"].iloc[1] == pytest.approx(36.0)
    assert ts["vehicles_in_network"].iloc[0] == pytest.approx((0 + 3 + 3 + 2 + 1) / 5)


def test_trip_table_derived_columns():
    trips = metrics.trip_table(toy_result())
    assert list(trips["travel_time_s"].iloc[:3]) == [150, 180, 290]
    assert list(trips["delay_s"].iloc[:3]) == [0, 30, 140]
    assert math.isnan(trips["tti"].iloc[3])


def test_gridlock_flag_and_metadata_table():
    result = toy_result()
    result.gridlock = {"detected": True, "time_s": 700.0, "links": [1]}
    assert metrics.network_kpis(result)["gridlock"] == 1.0
    meta = metrics.kpi_metadata()
    assert meta.loc["vht_h", "lower_is_better"] is True or meta.loc["vht_h", "lower_is_better"]
    assert meta.loc["mean_speed_kph", "unit"] == "km/h"
    assert meta.loc["travel_time_index", "label_zh"] == "拥堵延时指数"


def test_trips_under_way_count_at_least_their_free_flow_time():
    # two more trips that have not arrived when the run ends at 900 s: one departed at 880 s
    # (20 s so far, free flow 150 s) and one that never departed (due at 950 s, after a full
    # gridlock stopped the run early): both count their free-flow time, a lower bound
    result = toy_result()
    extra = result.trips.iloc[[3, 3]].copy()
    extra["trip_id"] = [5, 6]
    extra["departure_s"] = [880.0, 950.0]
    result.trips = pd.concat([result.trips, extra], ignore_index=True)
    kpis = metrics.network_kpis(result)
    times = [150, 180, 290, 400, 150, 150]
    assert kpis["mean_trip_time_s"] == pytest.approx(sum(times) / 6)
    assert kpis["mean_delay_s"] == pytest.approx((0 + 30 + 140 + 250 + 0 + 0) / 6)
    assert kpis["travel_time_index"] == pytest.approx(sum(times) / (6 * 150))
    assert kpis["vht_h"] == pytest.approx(sum(times) / 3600)
    assert kpis["trips_unfinished"] == 4
