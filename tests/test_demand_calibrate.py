"""Calibration of the demand total against a target travel-time index."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers.demandnets import lattice_graph

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


# --- several targets (cysim calibrate --fit) -------------------------------------------------


def _stand_in(G):
    """An engine stand-in with known behaviour: the index grows with the total as
    ``1 + 0.15 (q / 3000)^4``; the routes' free-flow speed grows with the mean straight-line
    trip length L (km) as ``20 + 12 L`` km/h (longer trips use faster roads); the mean speed is
    that over the index; congested places are ``40 (TTI − 1)``."""

    def evaluate(trips: pd.DataFrame) -> dict[str, float]:
        q = len(trips) / trips.attrs["sample_factor"]
        tti = 1.0 + 0.15 * (q / 3000.0) ** 4
        xo = trips["origin_node"].map(lambda n: G.nodes[n]["x"]).to_numpy()
        yo = trips["origin_node"].map(lambda n: G.nodes[n]["y"]).to_numpy()
        xd = trips["destination_node"].map(lambda n: G.nodes[n]["x"]).to_numpy()
        yd = trips["destination_node"].map(lambda n: G.nodes[n]["y"]).to_numpy()
        length_km = float(((xo - xd) ** 2 + (yo - yd) ** 2).mean() ** 0.5) / 1000.0
        return {
            "congestion_index": tti,
            "mean_speed_kph": (20.0 + 12.0 * length_km) / tti,
            "congested_places": 40.0 * (tti - 1.0),
        }

    return evaluate


def _targets_spec(speed: float, **calibration) -> DemandSpec:
    return DemandSpec.model_validate(
        {
            "zones": {"grid_m": 1000},
            "trips": 2000,
            "od": {"gravity": {"deterrence": "exponential", "beta_per_min": 0.2}},
            "calibration": {
                "max_iterations": 12,
                "targets": {
                    "congestion_index": {"value": 1.6, "tolerance": 0.02},
                    "mean_speed_kph": {"value": speed, "tolerance": 0.3},
                    "congested_places": {"value": 24, "tolerance": 6},
                },
                **calibration,
            },
        }
    )


def test_fit_targets_meets_index_and_speed_with_total_and_deterrence() -> None:
    from cysim.demand import build_trips, fit_targets

    G = lattice_graph(8, 6)
    evaluate = _stand_in(G)
    start = evaluate(build_trips(G, _targets_spec(20.0), seed=1))
    # ask for a mean speed 10 % below the starting deterrence's at the target index: only
    # shorter trips (a larger β) reach it
    light_start = start["mean_speed_kph"] * start["congestion_index"]
    wanted = 0.9 * light_start / 1.6
    spec = _targets_spec(wanted)
    rows = []
    fit = fit_targets(G, spec, seed=1, evaluate=evaluate, on_iteration=rows.append)
    assert fit.converged, fit.log
    assert fit.fit["met"].all()
    assert fit.trips == pytest.approx(4243, rel=0.02)  # 3000 · 4^¼, as for calibrate_trips
    assert fit.beta_per_min > 0.2
    assert len(rows) == len(fit.log) <= 12
    chosen = fit.fit.set_index("target")["model"]
    assert chosen["congestion_index"] == pytest.approx(1.6, abs=0.02)
    assert chosen["mean_speed_kph"] == pytest.approx(wanted, abs=0.3)


def test_fit_targets_with_the_total_only_reports_the_speed_it_could_not_meet() -> None:
    from cysim.demand import fit_targets

    G = lattice_graph(8, 6)
    spec = _targets_spec(5.0, levers=["trips"])
    fit = fit_targets(G, spec, seed=1, evaluate=_stand_in(G))
    assert not fit.converged
    met = fit.fit.set_index("target")["met"]
    assert met["congestion_index"] and not met["mean_speed_kph"]
    assert fit.beta_per_min == 0.2  # not a lever: unchanged


def test_fit_targets_refuses_a_deterrence_lever_without_gravity() -> None:
    from cysim.demand import fit_targets

    G = lattice_graph(4, 4)
    spec = DemandSpec.model_validate(
        {
            "zones": {"grid_m": 1000},
            "trips": 100,
            "od": {"gravity": {"deterrence": "gamma"}},
        }
    )
    with pytest.raises(DemandError, match="beta_per_min"):
        fit_targets(G, spec, seed=1, evaluate=_stand_in(G))
