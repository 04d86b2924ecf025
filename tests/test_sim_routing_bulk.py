"""Bulk routing helpers: departure bins with numpy's floor division, faster."""

from __future__ import annotations

import numpy as np
import pytest

from cysim.sim import routing


@pytest.mark.parametrize("d", [300.0, 120.0, 7.3, 0.1, 3600.0])
def test_floor_divide_equals_numpy(d):
    rng = np.random.default_rng(4)
    k = rng.integers(-5, 300, 50_000).astype(float)
    on = k * d  # quotients on, just above and just below integers
    a = np.concatenate(
        [
            rng.uniform(-10 * d, 1e5, 200_000),
            on,
            np.nextafter(on, np.inf),
            np.nextafter(on, -np.inf),
        ]
    )
    assert np.array_equal(routing.floor_divide(a, d), np.floor_divide(a, d))
