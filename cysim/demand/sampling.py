"""Seeded sampling: integer trips from fractional OD, trip ends, departure times, sample shares."""

from __future__ import annotations

import numpy as np


def round_preserving_total(values: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Integer counts from fractional ``values`` whose sum is exactly ``total``.

    Systematic sampling: one seeded uniform offset ``u`` and the points ``u, u+1, …, u+total−1``
    laid along the cumulative sum of ``values`` (rescaled to ``total``). Each cell gets the floor
    or the ceiling of its value, its expectation is exactly its value, and the sum is exactly
    ``total``. Unlike largest-remainder rounding it does not starve the many small cells of a
    sparse OD × time matrix.

    Parameters
    ----------
    values
        Non-negative fractional counts.
    total
        The integer total wanted (usually ``round(values.sum())``).
    rng
        Seeded generator.

    Returns
    -------
    numpy.ndarray
        int64 counts, same shape as ``values``.

    Raises
    ------
    ValueError
        Negative or non-finite values, or a positive total with all values zero.
    """
    flat = np.asarray(values, dtype=float).ravel()
    if (flat < 0).any() or not np.isfinite(flat).all():
        raise ValueError("values must be finite and non-negative")
    total = int(total)
    if total == 0:
        return np.zeros(np.shape(values), dtype=np.int64)
    mass = flat.sum()
    if mass <= 0:
        raise ValueError("cannot distribute a positive total over all-zero values")
    cumulative = np.cumsum(flat) * (total / mass)
    cumulative[-1] = float(total)  # remove floating drift so the total is exact
    offset = rng.random()
    hits = np.ceil(cumulative - offset).astype(np.int64)
    counts = np.diff(np.concatenate([[0], hits]))
    return counts.reshape(np.shape(values))


def choose_members(
    groups: np.ndarray, members: list[list[int]], rng: np.random.Generator
) -> np.ndarray:
    """For each entry of ``groups`` pick one of ``members[group]`` uniformly (seeded).

    Parameters
    ----------
    groups
        Group index per draw (int).
    members
        Non-empty list of candidates per group.
    rng
        Seeded generator.

    Returns
    -------
    numpy.ndarray
        The chosen candidates, int64.
    """
    groups = np.asarray(groups, dtype=np.int64)
    width = max(len(m) for m in members)
    table = np.full((len(members), width), -1, dtype=np.int64)
    sizes = np.array([len(m) for m in members], dtype=np.int64)
    for i, m in enumerate(members):
        table[i, : len(m)] = m
    pick = np.floor(rng.random(len(groups)) * sizes[groups]).astype(np.int64)
    return table[groups, pick]


def uniform_departures(
    start_s: np.ndarray, end_s: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Departure times uniform in ``[start_s, end_s)`` per trip (seeded)."""
    start_s = np.asarray(start_s, dtype=float)
    end_s = np.asarray(end_s, dtype=float)
    return start_s + rng.random(len(start_s)) * (end_s - start_s)


def sample_share(n: int, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a seeded share ``factor`` of ``n`` trips (``round(n · factor)`` of them).

    Parameters
    ----------
    n
        Number of trips.
    factor
        Share to keep, in (0, 1]; 1 keeps all without drawing.
    rng
        Seeded generator.

    Returns
    -------
    numpy.ndarray
        Indices of the kept trips, ascending.
    """
    if factor >= 1.0:
        return np.arange(n)
    keep = round(n * factor)
    return np.sort(rng.choice(n, size=keep, replace=False))
