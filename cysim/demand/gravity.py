"""Doubly-constrained gravity model: deterrence functions and Furness (IPF) balancing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import DemandError
from ._graph import GraphArrays, freeflow_paths
from .spec import GravitySpec


@dataclass(frozen=True)
class FurnessResult:
    """A balanced OD matrix and how the balancing went.

    Attributes
    ----------
    matrix
        ``T[i, j]`` trips from zone i to zone j (float).
    iterations
        Furness iterations used.
    max_relative_error
        Largest relative deviation of a row or column sum from its target at the end.
    """

    matrix: np.ndarray
    iterations: int
    max_relative_error: float


def deterrence(time_min: np.ndarray, spec: GravitySpec) -> np.ndarray:
    """Deterrence ``f(t)`` of free-flow times in minutes; 0 where ``t`` is infinite.

    Parameters
    ----------
    time_min
        Free-flow travel times, minutes (``inf`` = unreachable).
    spec
        ``exponential``: ``exp(-beta_per_min · t)``; ``gamma``: ``a · t^b · exp(c · t)``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``time_min``, non-negative.
    """
    t = np.asarray(time_min, dtype=float)
    finite = np.isfinite(t)
    out = np.zeros_like(t)
    if spec.deterrence == "exponential":
        out[finite] = np.exp(-spec.beta_per_min * t[finite])
    else:
        g = spec.gamma
        # t^b is undefined at t = 0 for b < 0: use a floor of 0.1 min (6 s).
        tf = np.maximum(t[finite], 0.1)
        out[finite] = g.a * np.power(tf, g.b) * np.exp(g.c * tf)
    return out


def furness(
    productions: np.ndarray,
    attractions: np.ndarray,
    deterrence_matrix: np.ndarray,
    *,
    tolerance: float = 1e-6,
    max_iterations: int = 500,
) -> FurnessResult:
    """Balance ``T = a_i · b_j · f_ij`` so rows sum to productions and columns to attractions.

    Parameters
    ----------
    productions, attractions
        Row and column targets (non-negative; attractions are rescaled to the productions' total).
    deterrence_matrix
        ``f_ij ≥ 0``; zeros forbid a pair (unreachable, or intrazonal when excluded).
    tolerance
        Stop when every row and column sum is within this relative error of its target.
    max_iterations
        Give up after this many row-and-column passes.

    Returns
    -------
    FurnessResult

    Raises
    ------
    DemandError
        A zone with a positive target has no allowed partner, or balancing did not converge.
    """
    P = np.asarray(productions, dtype=float)
    A = np.asarray(attractions, dtype=float)
    F = np.asarray(deterrence_matrix, dtype=float)
    if P.sum() <= 0:
        raise DemandError("the gravity model has no productions", hint="check zone weights")
    A = A * (P.sum() / A.sum()) if A.sum() > 0 else A
    if ((P > 0) & (F.sum(axis=1) <= 0)).any() or ((A > 0) & (F.sum(axis=0) <= 0)).any():
        raise DemandError(
            "a zone with trips cannot reach (or be reached from) any other zone",
            hint="check that the network is connected and every zone has connectors",
        )
    a = np.ones_like(P)
    b = np.ones_like(A)
    error = np.inf
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 - reported after the loop
        row = F @ b
        a = np.divide(P, row, out=np.zeros_like(P), where=row > 0)
        col = a @ F
        b = np.divide(A, col, out=np.zeros_like(A), where=col > 0)
        T = a[:, None] * F * b[None, :]
        error = max(
            _relative_error(T.sum(axis=1), P),
            _relative_error(T.sum(axis=0), A),
        )
        if error <= tolerance:
            break
    else:
        raise DemandError(
            f"Furness balancing did not converge in {max_iterations} iterations "
            f"(largest relative error {error:.2e})",
            key="demand.od.gravity",
            hint="raise max_iterations, or use larger zones: one zone may hold most of the "
            "productions and attractions while intrazonal trips are excluded",
        )
    return FurnessResult(
        matrix=a[:, None] * F * b[None, :], iterations=iteration, max_relative_error=error
    )


def _relative_error(actual: np.ndarray, target: np.ndarray) -> float:
    """Largest |actual − target| / target (targets below 1e-9 of the total count as 1e-9)."""
    floor = max(1e-9 * float(np.sum(target)), 1e-300)
    return float(np.max(np.abs(actual - target) / np.maximum(target, floor)))


def zone_times(arrays: GraphArrays, zones: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Free-flow zone-to-zone times and distances, averaged over connector pairs.

    Parameters
    ----------
    arrays
        Graph arrays of the network.
    zones
        Zone table with a ``connectors`` column (lists of node ids).

    Returns
    -------
    (time_min, length_km)
        ``Z × Z`` arrays; ``inf`` where unreachable. Diagonal entries are computed like the
        others (connector to connector within the zone) but the gravity model excludes them.
    """
    index = arrays.index_of()
    connector_idx = [np.array([index[n] for n in c], dtype=np.int64) for c in zones["connectors"]]
    nodes = np.unique(np.concatenate(connector_idx))
    time_s, length_m = freeflow_paths(arrays, nodes, nodes)
    # Averaging matrix: zone z's row holds 1/k at the positions of its k connectors, so
    # W @ M @ W.T is the mean over connector pairs of zone-to-zone entries.
    position = {int(node): i for i, node in enumerate(nodes)}
    W = np.zeros((len(connector_idx), len(nodes)))
    for z, members in enumerate(connector_idx):
        for node in members:
            W[z, position[int(node)]] += 1.0 / len(members)
    unreachable = W @ np.isinf(time_s).astype(float) @ W.T > 0
    time_min = W @ np.where(np.isinf(time_s), 0.0, time_s) @ W.T / 60.0
    length_km = W @ np.where(np.isinf(length_m), 0.0, length_m) @ W.T / 1000.0
    time_min[unreachable] = np.inf
    length_km[unreachable] = np.inf
    return time_min, length_km


def gravity_od(
    productions: np.ndarray,
    attractions: np.ndarray,
    time_min: np.ndarray,
    spec: GravitySpec,
    total_trips: float,
) -> FurnessResult:
    """A doubly-constrained gravity OD matrix with ``total_trips`` in all (intrazonal excluded).

    Parameters
    ----------
    productions, attractions
        Zone weights (any scale; both are scaled to ``total_trips``).
    time_min
        Free-flow zone-to-zone times, minutes.
    spec
        Deterrence function and balancing settings.
    total_trips
        Total trips of the matrix.

    Returns
    -------
    FurnessResult
    """
    P = np.asarray(productions, dtype=float)
    A = np.asarray(attractions, dtype=float)
    P = P * (total_trips / P.sum())
    A = A * (total_trips / A.sum())
    F = deterrence(time_min, spec)
    np.fill_diagonal(F, 0.0)
    return furness(P, A, F, tolerance=spec.tolerance, max_iterations=spec.max_iterations)
