"""Route choice converges on the bundled map with the baseline scenario's defaults (~70 s)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BUNDLED_MAP, PROJECT_ROOT

from cysim import pipeline


@pytest.fixture(scope="module")
def replication():
    """One replication of scenarios/baseline.yaml (seed 1) and its prepared scenario."""
    if not BUNDLED_MAP.is_file():
        pytest.skip(f"the bundled map {BUNDLED_MAP} is missing")
    prepared = pipeline.prepare_scenario(PROJECT_ROOT / "scenarios" / "baseline.yaml")
    return prepared, pipeline.run_replication(prepared, seed=1)


@pytest.mark.slow
def test_baseline_route_choice_converges(replication):
    prepared, out = replication
    sim = prepared.scenario.simulation
    rc = sim.route_choice
    # the defaults this acceptance test is about
    assert prepared.demand_spec.sample_factor == 0.5
    assert (rc.relative_gap_tolerance, rc.iterations) == (0.02, 30)
    gaps = out.route_choice["relative_gap"].to_numpy()
    assert len(gaps) < rc.iterations  # stopped by the tolerance, not the cap
    assert gaps[-1] <= rc.relative_gap_tolerance
    assert gaps[:-1].min() > rc.relative_gap_tolerance  # … at the first iteration below it
    assert gaps[0] > 10 * gaps[-1]
    switched = out.route_choice["switched"].to_numpy()
    assert switched[-1] == 0 and (switched[:-1] > 0).all()


@pytest.mark.slow
def test_baseline_gap_counts_every_trip(replication):
    prepared, out = replication
    sim = prepared.scenario.simulation
    trips = out.trips
    routed = trips["status"].astype(str) != "unrouted"
    departed = trips["departure_s"] < sim.duration_s + sim.cooldown_s
    counted = int((routed & departed).sum())
    assert counted > 0.99 * len(trips)
    assert (out.route_choice["gap_trips"] == counted).all()
    # trips still under way at the end count too: not only the arrived ones
    arrived = out.route_choice["arrived"].to_numpy()
    assert (arrived <= counted).all() and arrived[0] < counted
    assert np.isfinite(out.route_choice["total_travel_time_s"]).all()
