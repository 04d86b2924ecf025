"""Route choice converges on the bundled map with the baseline scenario's route-choice defaults
at a light demand (~70 s).

The calibrated baseline (143,000 car-equivalent trips, congestion index ≈ 1.8) ends at the
30-iteration cap with a gap of about 0.05 (docs/model.md §11, a known limitation); this test
keeps the equilibration itself checked at the 80,000 trips of cysim 0.3's baseline, where the
tolerance is reached.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BUNDLED_MAP, PROJECT_ROOT

from cysim import pipeline


@pytest.fixture(scope="module")
def replication(tmp_path_factory: pytest.TempPathFactory):
    """One replication (seed 1) of scenarios/baseline.yaml at 80,000 trips, and its prepared
    scenario."""
    if not BUNDLED_MAP.is_file():
        pytest.skip(f"the bundled map {BUNDLED_MAP} is missing")
    folder = tmp_path_factory.mktemp("light")
    light = folder / "baseline-light.yaml"
    light.write_text(
        f"base: {PROJECT_ROOT / 'scenarios' / 'baseline.yaml'}\n"
        "name: baseline-light\n"
        "demand: {trips: 80000}\n",
        encoding="utf-8",
    )
    prepared = pipeline.prepare_scenario(light)
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
