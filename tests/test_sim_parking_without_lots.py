"""Parking enabled on a network without lots: street facilities at trip ends still count.

``simulate`` builds the parking model whenever parking is enabled. Without any
``parking_spaces`` the model is not a no-op: every trip-end node has ``ceil(1.2 × ends)`` street
spaces of which 20 % are taken at the start, so a node where more trips end than spaces are free
sends the late arrivals cruising or parks them as overflow. Only when the free street spaces
suffice everywhere are the results those of parking disabled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from helpers.simnets import grid, settings_for, trips_frame

from cysim.sim import simulate


def both(rows):
    """The run with parking enabled and with it disabled."""
    G = grid(5)
    return [
        simulate(G, trips_frame(rows), settings_for(1800, parking={"enabled": on}), seed=1)
        for on in (True, False)
    ]


def test_same_as_disabled_when_street_spaces_suffice():
    rng = np.random.default_rng(0)
    dest = rng.permutation(np.repeat(np.arange(25), 3))  # three trips end at each node
    origin = (dest + rng.integers(1, 25, 75)) % 25
    rows = list(zip(origin.tolist(), dest.tolist(), rng.uniform(0, 900, 75).tolist(), strict=True))
    on, off = both(rows)
    pd.testing.assert_frame_equal(on.trips, off.trips)
    pd.testing.assert_frame_equal(on.traversals, off.traversals)
    assert (on.trips["status"] == "arrived").all()


def test_differs_when_more_trips_end_at_a_node_than_spaces_are_free():
    # 40 trips end at node 12: ceil(48) spaces, floor(9.6) taken at the start, 39 free; no other
    # facility within the search radius, so the last arrival parks as overflow
    rng = np.random.default_rng(1)
    rows = [
        (int(o), 12, float(t))
        for o, t in zip(rng.integers(0, 12, 40), rng.uniform(0, 900, 40), strict=True)
    ]
    on, off = both(rows)
    assert on.trips["parking_overflow"].sum() == 1
    assert not off.trips["parking_overflow"].any()
    pd.testing.assert_frame_equal(on.traversals, off.traversals)
