"""Calibration of the demand total against a target travel-time index."""

from __future__ import annotations

import pandas as pd
import pytest
from test_demand_graphs import lattice_graph

from cysim._errors import DemandError
from cysim.demand import DemandSpec, calibrate_trips


def _bpr_like_tti(trips: pd.DataFrame) -> float:
    """A stand-in for the engine: TTI = 1 + 0.15 (q / 3000)^4, q = full-demand trips."""
    q = len(trips) / trips.attrs["sample_factor"]
    return 1.0 + 0.15 * (q / 3000.0) ** 4


def test_calibration_reaches_the_target_and_logs_iterations() -> None:
    G = lattice_graph(6, 5)
    spec = DemandSpec.model_validate({"zones": {"grid_m": 1000}, "trips": 1000, "target_tti": 1.6})
    calls: list[tuple[int, int, float]] = []
    trips, log = calibrate_trips(
        G, spec, seed=1, tti_of_trips=_bpr_like_tti, on_iteration=lambda *a: calls.append(a)
    )
    # Exact answer: q = 3000 * 4**0.25 = 4243 trips.
    assert log.attrs["converged"] is True
    assert abs(log["tti"].iloc[-1] - 1.6) <= spec.calibration.tolerance
    assert len(trips) == log.attrs["chosen_trips"]
    assert len(trips) == pytest.approx(4243, rel=0.01)
    assert len(log) <= spec.calibration.max_iterations
    assert log["iteration"].tolist() == list(range(1, len(log) + 1))
    assert log["trips"].iloc[0] == 1000 and log["scale"].iloc[0] == 1.0
    assert [c[0] for c in calls] == log["iteration"].tolist()


def test_calibration_from_above_with_sampling() -> None:
    G = lattice_graph(6, 5)
    spec = DemandSpec.model_validate(
        {"zones": {"grid_m": 1000}, "trips": 20_000, "target_tti": 1.3, "sample_factor": 0.5}
    )
    trips, log = calibrate_trips(G, spec, seed=1, tti_of_trips=_bpr_like_tti)
    assert log.attrs["converged"] is True
    assert trips.attrs["sample_factor"] == 0.5
    assert (log["simulated_trips"] * 2 - log["trips"]).abs().max() <= 1


def test_calibration_stops_at_max_iterations_and_returns_closest() -> None:
    G = lattice_graph(6, 5)
    spec = DemandSpec.model_validate(
        {
            "zones": {"grid_m": 1000},
            "trips": 200,
            "target_tti": 1.6,
            "calibration": {"max_iterations": 2},
        }
    )
    trips, log = calibrate_trips(G, spec, seed=1, tti_of_trips=_bpr_like_tti)
    assert len(log) == 2
    assert log.attrs["converged"] is False
    best = log.loc[(log["tti"] - 1.6).abs().idxmin()]
    assert len(trips) == best["trips"]


def test_calibration_needs_a_target() -> None:
    G = lattice_graph(4, 4)
    spec = DemandSpec.model_validate({"zones": {"grid_m": 1000}, "trips": 100})
    with pytest.raises(DemandError, match="target_tti"):
        calibrate_trips(G, spec, seed=1, tti_of_trips=_bpr_like_tti)


def test_build_trips_refuses_an_uncalibrated_target() -> None:
    from cysim.demand import build_trips

    G = lattice_graph(4, 4)
    spec = DemandSpec.model_validate({"zones": {"grid_m": 1000}, "target_tti": 1.5})
    with pytest.raises(DemandError, match="calibrate_trips"):
        build_trips(G, spec, seed=1)
    trips, log = calibrate_trips(G, spec, seed=1, tti_of_trips=_bpr_like_tti)
    fixed = spec.model_copy(update={"trips": log.attrs["chosen_trips"], "target_tti": None})
    pd.testing.assert_frame_equal(build_trips(G, fixed, seed=1), trips)
