"""A link's fundamental diagram per link: sustained throughput equals its capacity.

A triangular fundamental diagram with free-flow speed ``u``, backward-wave speed ``w`` and jam
density ``κ`` (whole link) has capacity ``q = κ u w / (u + w)``. In the link-queue model a
vehicle holds one of the link's ``κ L`` slots from entry until the backward wave brings the freed
space back to the entry, ``L / u + L / w`` at capacity, so the storage limit alone passes
``κ L / (L / u + L / w) = q``: with the link's own ``w`` the link runs at its capacity, whatever
the consistent ``(u, w, κ)``.
"""

from __future__ import annotations

import pytest
from helpers.simnets import add_link, add_node, new_graph, settings_for, trips_frame

from cysim.sim import simulate

LENGTH_M = 600.0
DEMAND_S = 1800.0


def link_capacity_vph(u_kph: float, w_kph: float, jam_vpkm_per_lane: float, lanes: int) -> float:
    """Triangular-diagram capacity ``κ u w / (u + w)`` of the whole link, veh/h."""
    return jam_vpkm_per_lane * lanes * u_kph * w_kph / (u_kph + w_kph)


def fed_link(u_kph: float, w_kph: float | None, jam_vpkm: float, lanes: int, q_vph: float):
    """0 → 1 (feeder, twice the capacity) → 2 (the link under test) → 3 (free exit)."""
    G = new_graph()
    for node, x in enumerate((0.0, 300.0, 300.0 + LENGTH_M, 600.0 + LENGTH_M)):
        add_node(G, node, x, 0.0)
    add_link(G, 0, 1, lanes=lanes, speed_kph=u_kph, capacity_vph=2 * q_vph,
             saturation_flow_vphpl=2 * q_vph / lanes, storage_veh=1000.0)  # fmt: skip
    extra = {} if w_kph is None else {"backward_wave_kph": w_kph}
    add_link(G, 1, 2, lanes=lanes, speed_kph=u_kph, capacity_vph=q_vph,
             saturation_flow_vphpl=q_vph / lanes,
             storage_veh=jam_vpkm * lanes * LENGTH_M / 1000.0, **extra)  # fmt: skip
    add_link(G, 2, 3, lanes=lanes, speed_kph=u_kph, capacity_vph=4 * q_vph,
             saturation_flow_vphpl=4 * q_vph / lanes, storage_veh=1000.0)  # fmt: skip
    return G


def sustained_throughput_vph(G, q_vph: float, global_wave_kph: float) -> float:
    """Vehicles leaving the link under test per hour once the queue upstream is steady."""
    headway = 3600.0 / (1.3 * q_vph)  # 30 % more than the link passes
    rows = [(0, 3, i * headway) for i in range(int(DEMAND_S / headway))]
    res = simulate(
        G,
        trips_frame(rows),
        settings_for(DEMAND_S, cooldown_s=1800, backward_wave_kph=global_wave_kph),
        seed=0,
    )
    link = res.links.set_index(["u", "v"])["link"][(1, 2)]
    exits = res.traversals.loc[res.traversals["link"] == link, "exit_s"].dropna().sort_values()
    steady = exits[(exits >= 600.0) & (exits < DEMAND_S)].to_numpy()
    # a storage-limited link passes its vehicles in bursts (one per wave round trip, the model
    # has no dispersion): average the time m vehicles take over every starting vehicle, which
    # cancels the burst phase a fixed time window would cut
    m = len(steady) // 2
    return 3600.0 * m / float((steady[m:] - steady[: len(steady) - m]).mean())


@pytest.mark.parametrize(
    ("lanes", "u_kph", "w_kph", "jam_vpkm"),
    [
        (1, 50.0, 20.0, 133.3),
        (2, 60.0, 27.0, 125.0),
        (3, 80.0, 25.0, 140.0),
        (4, 36.0, 15.0, 133.3),
    ],
)
def test_link_passes_its_capacity_with_its_own_wave_speed(lanes, u_kph, w_kph, jam_vpkm):
    q = link_capacity_vph(u_kph, w_kph, jam_vpkm, lanes)
    G = fed_link(u_kph, w_kph, jam_vpkm, lanes, q)
    # the global default is far off: the link's attribute must be what counts
    assert sustained_throughput_vph(G, q, global_wave_kph=5.0) == pytest.approx(q, rel=0.03)


def test_one_global_wave_speed_starves_a_faster_wave_link():
    # the same link without its own w runs at the storage limit of the global w (the defect of
    # a single w for every link: a converted network's multi-lane links lost capacity)
    lanes, u_kph, w_kph, jam_vpkm = 3, 80.0, 25.0, 140.0
    q = link_capacity_vph(u_kph, w_kph, jam_vpkm, lanes)
    G = fed_link(u_kph, None, jam_vpkm, lanes, q)
    storage_limited = link_capacity_vph(u_kph, 10.0, jam_vpkm, lanes)
    throughput = sustained_throughput_vph(G, q, global_wave_kph=10.0)
    assert throughput == pytest.approx(storage_limited, rel=0.03)
    assert throughput < 0.6 * q
