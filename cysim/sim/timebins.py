"""Time bins of route choice: a departure time to the bin of link times it is routed on."""

from __future__ import annotations

import numpy as np

__all__ = ["departure_bins", "floor_divide"]


def floor_divide(a: np.ndarray, d: float) -> np.ndarray:
    """``np.floor_divide(a, d)`` (the same floats) for finite ``a`` and ``d > 0``, ~10× faster.

    ``floor(a / d)`` is what float floor division gives except where ``a / d`` rounds onto or
    off an integer; only those quotients (within a relative 1e-12 of one) take the slow path.
    """
    q = np.asarray(a, dtype=float) / d
    f = np.floor(q)
    tol = (np.abs(q) + 1.0) * 1e-12
    near = (q - f < tol) | (f + 1.0 - q < tol)
    if near.any():
        f[near] = np.floor_divide(np.asarray(a, dtype=float)[near], d)
    return f


def departure_bins(departure_s: np.ndarray, time_bin_s: float, n_bins: int) -> np.ndarray:
    """Routing bin per trip: its departure bin, clipped to ``[0, n_bins − 1]``."""
    bins = np.minimum(floor_divide(departure_s, time_bin_s).astype(np.int64), n_bins - 1)
    return np.maximum(bins, 0)
