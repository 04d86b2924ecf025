"""Junction networks and capacity formulas for the permitted-left tests."""

from __future__ import annotations

import numpy as np

from helpers.simnets import crossroads


def permitted_left_net(pocket_m: float):
    """Signalised crossroads (60 s, 26 s greens); the south approach 3→0 may get a left pocket."""
    G = crossroads(lanes_ns=1, lanes_ew=1)
    for e in G.edges:
        G.edges[e]["storage_veh"] = 400.0
    if pocket_m:
        G.edges[3, 0, 0].update(pocket_left=1, pocket_length_m=pocket_m)
    return G


def permitted_capacity_per_green(q_vps: float, green_s: float = 26.0) -> float:
    """HCM potential capacity of a permitted left, c = q e^{−q·4.5} / (1 − e^{−q·2.5}), × green."""
    if q_vps == 0:
        return green_s / 2.5
    return green_s * q_vps * np.exp(-q_vps * 4.5) / (1 - np.exp(-q_vps * 2.5))
