"""Gravity model: deterrence functions, Furness balancing and free-flow zone times."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from helpers.demandnets import lattice_graph

from cysim._errors import DemandError
from cysim.demand._graph import graph_arrays
from cysim.demand.gravity import deterrence, furness, gravity_od, zone_times
from cysim.demand.spec import GammaParams, GravitySpec, ZonesSpec
from cysim.demand.zones import zone_table


def test_furness_matches_row_and_column_targets_to_1e6() -> None:
    rng = np.random.default_rng(7)
    Z = 12
    productions = rng.uniform(50, 900, Z)
    attractions = rng.uniform(10, 1500, Z)
    attractions *= productions.sum() / attractions.sum()
    time_min = rng.uniform(2, 40, (Z, Z))
    F = deterrence(time_min, GravitySpec(beta_per_min=0.1))
    np.fill_diagonal(F, 0.0)
    result = furness(productions, attractions, F, tolerance=1e-9, max_iterations=5000)
    T = result.matrix
    np.testing.assert_allclose(T.sum(axis=1), productions, rtol=1e-6)
    np.testing.assert_allclose(T.sum(axis=0), attractions, rtol=1e-6)
    assert np.all(np.diag(T) == 0)
    assert result.max_relative_error <= 1e-9
    # Balancing keeps the gravity form: T_ij / F_ij factorises into a_i * b_j.
    ratio = T[0, 1] / F[0, 1] * T[2, 3] / F[2, 3]
    assert ratio == pytest.approx(T[0, 3] / F[0, 3] * T[2, 1] / F[2, 1], rel=1e-9)


def test_furness_known_two_by_two_answer() -> None:
    # With f = 1 everywhere and P = A = (30, 70) the balanced matrix is P_i A_j / total.
    result = furness(np.array([30.0, 70.0]), np.array([30.0, 70.0]), np.ones((2, 2)))
    np.testing.assert_allclose(result.matrix, [[9.0, 21.0], [21.0, 49.0]], rtol=1e-6)


def test_furness_reports_infeasible_targets() -> None:
    # Zone 0 holds 90 % of trips but may not send to itself: no balanced matrix exists.
    F = np.ones((2, 2)) - np.eye(2)
    with pytest.raises(DemandError, match="did not converge"):
        furness(np.array([90.0, 10.0]), np.array([90.0, 10.0]), F, max_iterations=50)


def test_furness_reports_isolated_zone() -> None:
    F = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    with pytest.raises(DemandError, match="cannot reach"):
        furness(np.ones(3), np.ones(3), F)


def test_deterrence_functions() -> None:
    t = np.array([0.0, 10.0, np.inf])
    exp = deterrence(t, GravitySpec(deterrence="exponential", beta_per_min=0.1))
    np.testing.assert_allclose(exp, [1.0, np.exp(-1.0), 0.0])
    gamma = GravitySpec(deterrence="gamma", gamma=GammaParams(a=2.0, b=-0.5, c=-0.1))
    np.testing.assert_allclose(deterrence(np.array([10.0]), gamma), [2.0 * 10**-0.5 * np.exp(-1.0)])


def test_gravity_od_on_lattice_keeps_total_and_excludes_intrazonal() -> None:
    G = lattice_graph(columns=8, rows=6)
    arrays = graph_arrays(G)
    zones = zone_table(G, ZonesSpec(grid_m=1000))
    time_min, length_km = zone_times(arrays, zones)
    assert np.isfinite(time_min).all()
    off_diagonal = ~np.eye(len(zones), dtype=bool)
    assert (length_km[off_diagonal] > 0).all()
    # Zone-to-zone time is the mean over connector pairs of networkx's fastest free-flow times.
    for G_edge in G.edges(data=True):
        G_edge[2]["time_s"] = G_edge[2]["length_m"] / (G_edge[2]["speed_kph"] / 3.6)
    a, b = zones["connectors"].iloc[0], zones["connectors"].iloc[1]
    expected = np.mean([nx.shortest_path_length(G, o, d, weight="time_s") for o in a for d in b])
    assert time_min[0, 1] == pytest.approx(expected / 60.0, rel=1e-12)
    result = gravity_od(
        zones["production_weight"].to_numpy(),
        zones["attraction_weight"].to_numpy(),
        time_min,
        GravitySpec(),
        12_345.0,
    )
    assert result.matrix.sum() == pytest.approx(12_345.0, rel=1e-9)
    assert np.all(np.diag(result.matrix) == 0)
    P = zones["production_weight"].to_numpy()
    np.testing.assert_allclose(result.matrix.sum(axis=1), P / P.sum() * 12_345.0, rtol=1e-6)
    # Nearer zones get more trips: from the corner zone, its neighbour beats the far corner.
    first = zones.index[zones["zone"] == "E265N4018"][0]
    near = zones.index[zones["zone"] == "E266N4018"][0]
    far = zones.index[zones["zone"] == zones["zone"].max()][0]
    assert result.matrix[first, near] > result.matrix[first, far]
