"""Degree of saturation per junction approach lane group (issue 23), against hand-worked values.

1. **Signalised through group.** A crossroads (two-lane north–south, one-lane east–west) runs a
   fixed plan, cycle 60 s, splits [0.5, 0.5] of the 52 s effective green: g/C = 26/60 for both
   phases. 1,000 veh/h arrive uniformly from the north, all straight on, for two hours: the
   north approach's through group has ``c = 1,800 × 2 × 26/60 = 1,560`` veh/h and
   ``X = 1,000 / 1,560 = 0.641``. 300 veh/h from the west: ``c = 1,800 × 26/60 = 780``,
   ``X = 0.385``.
2. **Oversaturated.** The same at 1,800 veh/h from the north: X = 1.15 (the busiest hour's
   *arrivals* count, so a queue that does not clear still shows its demand), the approach is
   congested, the junction's ``max_degree_of_saturation`` is that X, the link is a congested
   place and the run's ``congested_places`` KPI counts it.
3. **Permitted left.** One-lane approaches with 20 % left turners facing 600 veh/h: the
   capacity is divided by ``1 + 0.2 (E_L − 1)`` with E_L from the opposing flow
   (``webster.left_turn_equivalent``).
4. **Priority junction.** Unsignalised: a major approach's capacity is its saturation flow.
5. **Sampling.** At sample factor 0.5 flows and capacities are in real vehicles: X is the same.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.simnets import crossroads, settings_for, trips_frame

from cysim.control import webster
from cysim.results import metrics
from cysim.sim import simulate

DURATION_S = 7200.0


def _uniform(origin: int, destination: int, vph: float, offset_s: float = 0.0) -> list:
    headway = 3600.0 / vph
    times = np.arange(offset_s, DURATION_S, headway)
    return [(origin, destination, float(t)) for t in times]


def _fixed_plan(G) -> None:
    G.nodes[0]["signal_cycle_s"] = 60.0
    G.nodes[0]["signal_splits"] = "[0.5, 0.5]"


def _run(G, rows, sample_factor: float = 1.0):
    trips = trips_frame(rows, sample_factor=sample_factor)
    if sample_factor < 1:
        keep = np.random.default_rng(3).random(len(trips)) < sample_factor
        trips = trips[keep].reset_index(drop=True)
        trips["trip_id"] = np.arange(len(trips))
        trips.attrs["sample_factor"] = sample_factor
    return simulate(G, trips, settings_for(DURATION_S), seed=1)


def _group(result, G, origin: int) -> dict:
    table = metrics.approach_table(result, G)
    link = result.links.index[(result.links["u"] == origin) & (result.links["v"] == 0)][0]
    rows = table[table["link"] == link]
    assert len(rows) == 1, rows
    return rows.iloc[0].to_dict()


def test_signalised_through_groups_match_hand_values():
    G = crossroads(lanes_ns=2, lanes_ew=1)
    _fixed_plan(G)
    result = _run(G, _uniform(1, 3, 1000.0) + _uniform(4, 2, 300.0, 1.0))
    north = _group(result, G, 1)
    assert north["movements"] == "L+T+R" and north["control"] == "signal"  # one shared group
    assert north["green_ratio"] == pytest.approx(26 / 60)
    assert north["capacity_vph"] == pytest.approx(1560.0)
    assert north["flow_vph"] == pytest.approx(1000.0, rel=0.01)
    assert north["degree_of_saturation"] == pytest.approx(1000 / 1560, rel=0.01)
    assert north["los"] in "ABC" and not north["congested"]
    west = _group(result, G, 4)
    assert west["degree_of_saturation"] == pytest.approx(300 / 780, rel=0.01)
    kpis = metrics.network_kpis(result, G)
    assert kpis["congested_places"] == 0


def test_oversaturated_approach_is_a_congested_place():
    G = crossroads(lanes_ns=2, lanes_ew=1)
    _fixed_plan(G)
    result = _run(G, _uniform(1, 3, 1800.0) + _uniform(4, 2, 300.0, 1.0))
    north = _group(result, G, 1)
    assert north["degree_of_saturation"] == pytest.approx(1800 / 1560, rel=0.01)
    assert north["congested"] and north["los"] == "F"
    junctions = metrics.junction_table(result, G)
    row = junctions[junctions["node"] == 0].iloc[0]
    assert row["max_degree_of_saturation"] == pytest.approx(north["degree_of_saturation"])
    assert row["congested_approaches"] == 1
    places = metrics.congested_places(result)
    assert list(zip(places["u"], places["v"], strict=True)) == [(1, 0)]
    assert metrics.network_kpis(result, G)["congested_places"] == 1


def test_permitted_left_share_lowers_capacity_by_its_equivalents():
    G = crossroads(lanes_ns=1, lanes_ew=1)
    _fixed_plan(G)
    # north: 400 veh/h straight on and 100 veh/h turning left (to the east: heading south, left
    # is east), facing 600 veh/h straight on from the south
    rows = _uniform(1, 3, 400.0) + _uniform(1, 2, 100.0, 0.5) + _uniform(3, 1, 600.0, 1.0)
    result = _run(G, rows)
    north = _group(result, G, 1)
    assert north["movements"] == "L+T+R"
    settings = settings_for(DURATION_S)
    equivalent = webster.left_turn_equivalent(
        G,
        (1, 0, 0),
        600.0,
        settings.permitted_left_critical_gap_s,
        settings.permitted_left_follow_up_s,
    )
    assert equivalent > 1.5  # the equivalents must matter for the check to mean anything
    expected = 1800 * 26 / 60 / (1 + 0.2 * (equivalent - 1))
    assert north["capacity_vph"] == pytest.approx(expected, rel=0.02)
    assert north["degree_of_saturation"] == pytest.approx(500 / expected, rel=0.03)


def test_unsignalised_major_approach_has_its_saturation_flow():
    G = crossroads(lanes_ns=2, lanes_ew=1)
    G.nodes[0]["signal"] = False
    result = _run(G, _uniform(1, 3, 900.0))
    north = _group(result, G, 1)
    assert north["control"] == "major" and north["los"] == ""
    assert north["green_ratio"] == 1.0
    assert north["capacity_vph"] == pytest.approx(3600.0)
    assert north["degree_of_saturation"] == pytest.approx(0.25, rel=0.01)


def test_sampled_run_reports_real_flows_and_capacities():
    G = crossroads(lanes_ns=2, lanes_ew=1)
    _fixed_plan(G)
    result = _run(G, _uniform(1, 3, 1000.0), sample_factor=0.5)
    north = _group(result, G, 1)
    assert north["capacity_vph"] == pytest.approx(1560.0)
    assert north["degree_of_saturation"] == pytest.approx(1000 / 1560, rel=0.05)


def test_congestion_index_counts_light_load_signal_delay_as_uncongested():
    # a two-phase signal at light load: Webster's shortest cycle 50 s, equal effective greens
    # (50 − 2 × 4) / 2 = 21 s, λ = 0.42: a random arrival waits C (1 − λ)² / 2 = 8.41 s
    assert webster.light_load_signal_delay_s(2) == pytest.approx(8.41)
    assert webster.light_load_signal_delay_s(3) == pytest.approx(75 * (1 - 21 / 75) ** 2 / 2)
    G = crossroads(lanes_ns=2, lanes_ew=1)
    _fixed_plan(G)
    result = _run(G, _uniform(1, 3, 200.0) + _uniform(4, 2, 100.0, 1.0))
    into_signal = result.links["v"] == 0
    assert np.allclose(result.links.loc[into_signal, "light_load_delay_s"], 8.41)
    assert (result.links.loc[~into_signal, "light_load_delay_s"] == 0).all()
    kpis = metrics.network_kpis(result, G)
    trips = result.trips
    time_s = (trips["arrival_s"] - trips["departure_s"]).sum()
    freeflow_s = trips["freeflow_s"].sum()
    assert kpis["travel_time_index"] == pytest.approx(time_s / freeflow_s)
    # every trip crosses the signal once
    assert kpis["congestion_index"] == pytest.approx(time_s / (freeflow_s + 8.41 * len(trips)))
    assert kpis["congestion_index"] < kpis["travel_time_index"]
