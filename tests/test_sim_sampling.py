"""Sampling is unbiased: every junction mechanism gives the same capacity per real vehicle at any f.

With ``trips.attrs["sample_factor"] = f`` the engine simulates a share ``f`` of the vehicles and
scales capacities, saturation flows and storage by ``f`` (docs/model.md §5). Each test below runs
one mechanism oversaturated at f = 1, 0.5, 0.25 and 0.1 and measures its capacity in *real*
vehicles per hour (sampled discharges / f / window hours). The issue's acceptance criterion: the
capacity is within ±5 % of the f = 1 value **and** within ±5 % of the analytic value.

Mechanisms (docs/model.md §2–§4): saturation discharge at a signal, permitted left turns with
sneakers, minor-road gap acceptance at a priority junction, a fair merge, a turn pocket, and a
link's mid-block entry capacity.

Measurement: demand of real flow Q veh/h becomes ``round(Q·f·T/3600)`` sampled vehicles evenly
spaced at ``3600/(Q·f)`` s. The measured movement's demand is well above its capacity and the
approach links store far more than the queue, so neither the demand nor spillback limits it.
Discharges are counted in a window of whole signal cycles that starts after a 30 min warm-up and
lasts at least 4 h, longer for low capacities, so that at f = 0.1 one vehicle is at most 1 % of
the count (asserted). Every case's f = 1 run is cached and serves as the reference of its f < 1
cases.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pytest
from helpers.simnets import (
    JAM_SPACING_M,
    add_link,
    add_node,
    new_graph,
    next_links,
    settings_for,
    trips_frame,
)

from cysim.control import signals
from cysim.sim import netarrays, simulate

#: Sample factors every mechanism is tested at.
SAMPLE_FACTORS = (1.0, 0.5, 0.25, 0.1)
#: The issue's acceptance band, relative to the analytic and to the f = 1 capacity.
TOLERANCE = 0.05
#: Warm-up before the counting window (queues form, flow estimates settle), seconds.
WARMUP_S = 1800.0
#: Shortest counting window (lengthened for low capacities, rounded up to whole cycles), seconds.
WINDOW_S = 4 * 3600.0
#: A window must hold at least this many sampled discharges: one vehicle ≤ 1 % of the count.
MIN_COUNT = 100
#: Saturation flow per lane, veh/h (the simnets default).
SAT_VPHPL = 1800.0
#: Storage of links that must never fill (vehicles at f = 1; scaled by f, still huge).
HUGE_STORAGE = 100_000.0
#: HCM permitted-left gap acceptance (engine defaults): critical gap and follow-up, seconds.
LEFT_TC_S, LEFT_TF_S = 4.5, 2.5
#: HCM two-way-stop minor-road gap acceptance (engine defaults), seconds.
MINOR_TC_S, MINOR_TF_S = 6.0, 3.5
#: Permitted-left sneakers per cycle (HCM); the engine scales them by f.
SNEAKERS = 2.0

Stream = tuple[int, int, float]  # (origin node, destination node, real flow veh/h)
Edge = tuple[int, int]


@dataclass(frozen=True)
class Measured:
    """A measured capacity.

    Attributes
    ----------
    vph
        Capacity in real vehicles per hour: sampled discharges / f / window hours.
    count
        Sampled discharges in the window.
    """

    vph: float
    count: int


# --------------------------------------------------------------------------------------------
# helpers


def hcm_capacity(q_vps: float, tc_s: float, tf_s: float) -> float:
    """HCM potential capacity ``c = q e^{−q·tc} / (1 − e^{−q·tf})`` in veh/s (``1/tf`` at q = 0).

    Parameters
    ----------
    q_vps
        Conflicting flow, real veh/s.
    tc_s, tf_s
        Critical gap and follow-up headway, s.

    Returns
    -------
    float
    """
    if q_vps == 0:
        return 1.0 / tf_s
    return q_vps * math.exp(-q_vps * tc_s) / (1.0 - math.exp(-q_vps * tf_s))


def sampled_rows(streams: list[Stream], f: float, end_s: float) -> list[tuple[int, int, float]]:
    """Trip rows of the sampled demand: ``round(Q·f·T/3600)`` vehicles ``3600/(Q·f)`` s apart.

    Parameters
    ----------
    streams
        ``(origin, destination, real flow veh/h)``; a flow of 0 adds no rows.
    f
        Sample factor.
    end_s
        Demand duration T, s.

    Returns
    -------
    list[tuple[int, int, float]]
    """
    rows = []
    for origin, destination, q_vph in streams:
        if q_vph <= 0:
            continue
        spacing = 3600.0 / (q_vph * f)
        rows += [(origin, destination, i * spacing) for i in range(round(q_vph * f * end_s / 3600))]
    return rows


def set_signal(G: nx.MultiDiGraph, node: int, cycle_s: float, greens: dict[Edge, float]) -> None:
    """Give ``node`` a fixed-time plan with the given effective greens for some approaches' phases.

    The other phases share the rest of the effective green ``cycle − 4 s × phases`` equally
    (``signal_splits`` are shares of the effective green, docs/model.md §3).

    Parameters
    ----------
    G
        The network (node attributes ``signal_cycle_s`` and ``signal_splits`` are set).
    node
        The signalised junction.
    cycle_s
        Cycle, s.
    greens
        Effective green, s, wanted for the phase of each ``(u, v)`` approach.
    """
    phases = signals.phase_groups(G, node)
    available = cycle_s - signals.lost_time_per_phase_s * len(phases)
    splits: list[float | None] = [None] * len(phases)
    for (u, v), green in greens.items():
        splits[next(i for i, p in enumerate(phases) if (u, v, 0) in p)] = green
    rest = available - sum(s for s in splits if s is not None)
    n_free = splits.count(None)
    splits = [rest / n_free if s is None else s for s in splits]
    G.nodes[node].update(signal=True, signal_cycle_s=cycle_s, signal_splits=str(splits))


def effective_green(G: nx.MultiDiGraph, node: int, approach: Edge) -> tuple[float, float]:
    """``(cycle, effective green)`` of ``approach``'s phase in the plan the engine runs.

    Parameters
    ----------
    G
        The network.
    node
        The signalised junction.
    approach
        ``(u, v)`` of the approach edge (key 0).

    Returns
    -------
    tuple[float, float]
    """
    plan = signals.plan_for_node(G, node)
    phase = next(i for i, p in enumerate(plan.phases) if (*approach, 0) in p)
    return plan.cycle_s, plan.green_windows()[phase][1]


def run_and_count(
    G: nx.MultiDiGraph,
    streams: list[Stream],
    f: float,
    link: Edge,
    onto: Edge | None,
    *,
    expected_vph: float,
    cycle_s: float | None = None,
    count: str = "exit_s",
    **settings,
) -> Measured:
    """Simulate the sampled demand and measure the capacity of one movement in a steady window.

    Parameters
    ----------
    G
        The network.
    streams
        Demand ``(origin, destination, real veh/h)``, constant from 0 to the end of the window.
    f
        Sample factor.
    link
        ``(u, v)`` of the link whose traversals are counted.
    onto
        ``(u, v)`` of the link those traversals continue onto (the movement), or None for all.
    expected_vph
        The analytic capacity: the window is lengthened beyond ``WINDOW_S`` when needed so that
        the smallest sample factor still counts ``MIN_COUNT`` with a margin.
    cycle_s
        Signal cycle: the window starts at a multiple of it and spans whole cycles.
    count
        ``"exit_s"`` counts discharges from ``link``; ``"entry_s"`` counts entries onto it.
    **settings
        Further :func:`simnets.settings_for` overrides.

    Returns
    -------
    Measured
    """
    # the same window at every f, so the f = 1 reference counts the same cycles
    window = max(WINDOW_S, 1.2 * MIN_COUNT / (min(SAMPLE_FACTORS) * expected_vph) * 3600.0)
    start = WARMUP_S
    if cycle_s:
        start = math.ceil(start / cycle_s) * cycle_s
        window = math.ceil(window / cycle_s) * cycle_s
    end = start + window
    # the demand lasts past the window so that the queue is still there at its end
    trips = trips_frame(sampled_rows(streams, f, end + 60.0), sample_factor=f)
    res = simulate(G, trips, settings_for(end + 60.0, cooldown_s=0.0, **settings), seed=0)
    ids = res.links.set_index(["u", "v"])["link"]
    tr = res.traversals
    mask = tr["link"] == ids[link]
    if onto is not None:
        mask &= next_links(tr) == ids[onto]
    times = tr.loc[mask, count].to_numpy()
    n = int(np.count_nonzero((times >= start) & (times < end)))
    return Measured(vph=n / f / (window / 3600.0), count=n)


def check(measured: Measured, analytic: float, reference: Measured, f: float) -> None:
    """Assert the issue's criterion: within ±5 % of the analytic and of the f = 1 capacity.

    Parameters
    ----------
    measured
        Capacity at ``f``.
    analytic
        Known answer, real veh/h.
    reference
        Capacity at f = 1.
    f
        Sample factor (for the message).
    """
    assert measured.count >= MIN_COUNT, (
        f"window too short: {measured.count} sampled discharges at f={f} (want ≥ {MIN_COUNT})"
    )
    dev_analytic = measured.vph / analytic - 1.0
    dev_reference = measured.vph / reference.vph - 1.0
    assert abs(dev_analytic) <= TOLERANCE and abs(dev_reference) <= TOLERANCE, (
        f"f={f}: measured {measured.vph:.1f} veh/h ({measured.count} sampled); "
        f"analytic {analytic:.1f} ({dev_analytic:+.1%}); f=1 {reference.vph:.1f} "
        f"({dev_reference:+.1%}); tolerance ±{TOLERANCE:.0%}"
    )


# --------------------------------------------------------------------------------------------
# 1. saturation discharge of a through movement at a signal


def signal_approach(cycle_s: float, green_s: float, lanes: int) -> nx.MultiDiGraph:
    """Approach 0 → 1 (600 m) into signal 1, exit 1 → 2; a side road 5 → 1 makes a second phase.

    The exit admits twice the approach's saturation flow, so only the signal limits discharge.
    """
    G = new_graph()
    add_node(G, 0, -600, 0)
    add_node(G, 1, 0, 0)
    add_node(G, 2, 300, 0)
    add_node(G, 5, 0, 300)
    add_link(G, 0, 1, lanes=lanes, storage_veh=HUGE_STORAGE)
    add_link(G, 1, 2, lanes=lanes, capacity_vph=2 * SAT_VPHPL * lanes)
    add_link(G, 5, 1, highway="secondary")
    set_signal(G, 1, cycle_s, {(0, 1): green_s})
    return G


#: (cycle s, effective green s, lanes): short greens in short and long cycles, long greens
SATURATION_CASES = [(40, 10, 1), (40, 16, 1), (90, 41, 1), (90, 41, 2), (150, 20, 1), (150, 71, 1)]


@functools.cache
def saturation_capacity(cycle_s: float, green_s: float, lanes: int, f: float) -> Measured:
    """Through discharge 0 → 1 → 2 with demand twice the analytic capacity."""
    G = signal_approach(cycle_s, green_s, lanes)
    analytic = SAT_VPHPL * lanes * green_s / cycle_s
    return run_and_count(
        G, [(0, 2, 2 * analytic)], f, (0, 1), (1, 2), expected_vph=analytic, cycle_s=cycle_s
    )


@pytest.mark.parametrize("f", SAMPLE_FACTORS, ids=lambda f: f"f{f}")
@pytest.mark.parametrize(
    ("cycle_s", "green_s", "lanes"),
    SATURATION_CASES,
    ids=[f"C{c}-g{g}-{n}lane" for c, g, n in SATURATION_CASES],
)
def test_signal_saturation_discharge(cycle_s: float, green_s: float, lanes: int, f: float) -> None:
    # capacity of a saturated signal approach: s · lanes · g / C
    G = signal_approach(cycle_s, green_s, lanes)
    assert effective_green(G, 1, (0, 1)) == pytest.approx((cycle_s, green_s))
    analytic = SAT_VPHPL * lanes * green_s / cycle_s
    check(
        saturation_capacity(cycle_s, green_s, lanes, f),
        analytic,
        saturation_capacity(cycle_s, green_s, lanes, 1.0),
        f,
    )


# --------------------------------------------------------------------------------------------
# 2. permitted left turns with sneakers at a two-phase signal


def permitted_left_crossroads(cycle_s: float) -> nx.MultiDiGraph:
    """Two-phase signalised crossroads 0 with arms 1 (N), 2 (E), 3 (S), 4 (W), 300 m each.

    The south approach 3 → 0 has one lane (left-turners to the west, 3 → 0 → 4); the opposing
    north approach 1 → 0 and its exit 0 → 3 have two lanes, so up to 1,200 veh/h opposing stay
    below the opposing capacity ``2 × 1,800 × g / C`` (1,440 veh/h at the 40 s cycle). The
    left-turners' exit 0 → 4 has one lane (1,800 veh/h), as in ``permitted_left_net`` of
    test_sim_junctions. The north-south phase gets half the effective green: ``g = (C − 8) / 2``.
    """
    G = new_graph()
    add_node(G, 0, 0, 0)
    arms = {1: (0, 300), 2: (300, 0), 3: (0, -300), 4: (-300, 0)}
    for n, (x, y) in arms.items():
        add_node(G, n, x, y)
        add_link(G, n, 0, lanes=2 if n == 1 else 1, storage_veh=HUGE_STORAGE)
        add_link(G, 0, n, lanes=2 if n == 3 else 1)
    set_signal(G, 0, cycle_s, {(3, 0): (cycle_s - 8.0) / 2})
    return G


#: Cycles and opposing flows (veh/h) of the permitted-left grid.
LEFT_CYCLES = (40, 60, 90, 120, 150)
LEFT_OPPOSING = (0, 360, 720, 1200)


def permitted_left_analytic(cycle_s: float, green_s: float, opposing_vph: float) -> float:
    """HCM permitted-left capacity, real veh/h: ``(c_p(q) · g + sneakers) / C``.

    ``q`` is the opposing flow averaged over the cycle (what the engine estimates).
    """
    per_cycle = hcm_capacity(opposing_vph / 3600, LEFT_TC_S, LEFT_TF_S) * green_s + SNEAKERS
    return per_cycle * 3600.0 / cycle_s


@functools.cache
def permitted_left_capacity(cycle_s: float, opposing_vph: float, f: float) -> Measured:
    """Left turns 3 → 0 → 4 against ``opposing_vph`` through vehicles 1 → 0 → 3."""
    G = permitted_left_crossroads(cycle_s)
    analytic = permitted_left_analytic(cycle_s, (cycle_s - 8.0) / 2, opposing_vph)
    streams = [(3, 4, 2 * analytic), (1, 3, opposing_vph)]
    return run_and_count(
        G,
        streams,
        f,
        (3, 0),
        (0, 4),
        expected_vph=analytic,
        cycle_s=cycle_s,
        permitted_left=True,
        permitted_left_sneakers=SNEAKERS,
    )


@pytest.mark.parametrize("f", SAMPLE_FACTORS, ids=lambda f: f"f{f}")
@pytest.mark.parametrize("opposing_vph", LEFT_OPPOSING, ids=lambda q: f"opp{q}")
@pytest.mark.parametrize("cycle_s", LEFT_CYCLES, ids=lambda c: f"C{c}")
def test_permitted_left_with_sneakers(cycle_s: float, opposing_vph: float, f: float) -> None:
    # permitted lefts find gaps in the opposing flow at the HCM potential capacity for the
    # green, plus two sneakers per cycle at the end of green (2 f in a sampled run)
    G = permitted_left_crossroads(cycle_s)
    green = (cycle_s - 8.0) / 2
    assert effective_green(G, 0, (3, 0)) == pytest.approx((cycle_s, green))
    net = netarrays.build(G, 1.0, 0.0)
    ids = net.links.set_index(["u", "v"])["link"]
    assert net.opposing_link[ids[(3, 0)]] == ids[(1, 0)]  # same phase, facing: lefts yield
    # the opposing approach is unsaturated, so its discharge rate is its demand
    assert opposing_vph < 2 * SAT_VPHPL * green / cycle_s
    check(
        permitted_left_capacity(cycle_s, opposing_vph, f),
        permitted_left_analytic(cycle_s, green, opposing_vph),
        permitted_left_capacity(cycle_s, opposing_vph, 1.0),
        f,
    )


@pytest.mark.parametrize("f", [0.3, 0.6, 0.15], ids=lambda f: f"f{f}")
@pytest.mark.parametrize("cycle_s", [60, 120], ids=lambda c: f"C{c}")
def test_sneaker_credit_keeps_no_float_remainder(cycle_s: float, f: float) -> None:
    # credits of 2 f per cycle that add up to 0.9999999999999999 instead of 1 once gave an
    # extra whole sneaker in the following cycle (+10 % of left turns at f = 0.3, about twice
    # the sneakers at f = 0.05): factors whose sums are not exact in binary, 1,200 veh/h opposing
    green = (cycle_s - 8.0) / 2
    check(
        permitted_left_capacity(cycle_s, 1200, f),
        permitted_left_analytic(cycle_s, green, 1200),
        permitted_left_capacity(cycle_s, 1200, 1.0),
        f,
    )


# --------------------------------------------------------------------------------------------
# 3. minor-road gap acceptance at an unsignalised priority junction


def priority_junction() -> nx.MultiDiGraph:
    """A tertiary road 3 → 1 (one lane) joins a primary road 0 → 1 → 2 (two lanes, then three).

    Unsignalised: the minor road yields to the major flow through junction 1. The exit has room
    for both (5,400 veh/h), so only gap acceptance limits the minor road.
    """
    G = new_graph()
    for n, xy in {0: (-600, 0), 1: (0, 0), 2: (600, 0), 3: (0, -600)}.items():
        add_node(G, n, *xy)
    add_link(G, 0, 1, lanes=2, capacity_vph=3600, storage_veh=HUGE_STORAGE)
    add_link(G, 1, 2, lanes=3, capacity_vph=5400, storage_veh=HUGE_STORAGE)
    add_link(G, 3, 1, highway="tertiary", storage_veh=HUGE_STORAGE)
    return G


#: Major-road flows, veh/h.
MAJOR_FLOWS = (0, 360, 720, 1200)


@functools.cache
def minor_road_capacity(major_vph: float, f: float) -> Measured:
    """Minor-road discharge 3 → 1 → 2 (1,800 veh/h demand) against ``major_vph`` on 0 → 1 → 2.

    The minor movement is a right turn: it merges into the nearer of the major road's two lanes,
    so its conflicting flow is ``major_vph / 2`` (HCM's ``v_2 / N``).
    """
    analytic = hcm_capacity(major_vph / 2 / 3600, MINOR_TC_S, MINOR_TF_S) * 3600
    streams = [(3, 2, SAT_VPHPL), (0, 2, major_vph)]
    return run_and_count(priority_junction(), streams, f, (3, 1), (1, 2), expected_vph=analytic)


@pytest.mark.parametrize("f", SAMPLE_FACTORS, ids=lambda f: f"f{f}")
@pytest.mark.parametrize("major_vph", MAJOR_FLOWS, ids=lambda q: f"major{q}")
def test_minor_road_gap_acceptance(major_vph: float, f: float) -> None:
    # HCM two-way-stop potential capacity c = q e^{−q·6} / (1 − e^{−q·3.5}), 1/3.5 at q = 0,
    # q = the near lane's share of the major flow (a right turn); the demand (1,800 veh/h) is
    # above it at every major flow
    analytic = hcm_capacity(major_vph / 2 / 3600, MINOR_TC_S, MINOR_TF_S) * 3600
    assert analytic < SAT_VPHPL
    check(minor_road_capacity(major_vph, f), analytic, minor_road_capacity(major_vph, 1.0), f)


# --------------------------------------------------------------------------------------------
# 4. fair merge of two equal approaches into one lane


def merge(downstream_vph: float) -> nx.MultiDiGraph:
    """Two equal one-lane roads 0 → 2 and 1 → 2 merge into 2 → 3 (one lane, ``downstream_vph``)."""
    G = new_graph()
    for n, xy in {0: (-600, 300), 1: (-600, -300), 2: (0, 0), 3: (600, 0)}.items():
        add_node(G, n, *xy)
    add_link(G, 0, 2, storage_veh=HUGE_STORAGE)
    add_link(G, 1, 2, storage_veh=HUGE_STORAGE)
    add_link(G, 2, 3, capacity_vph=downstream_vph, storage_veh=HUGE_STORAGE)
    return G


#: Mid-block capacity of the merged lane, veh/h: its saturation flow, and a lower one.
MERGE_CAPACITIES = (1800, 1000)


@functools.cache
def merge_capacity(downstream_vph: float, approach: int, f: float) -> Measured:
    """Discharge of ``approach`` (0 or 1) when both carry 1,800 veh/h into the merge."""
    streams = [(0, 3, SAT_VPHPL), (1, 3, SAT_VPHPL)]
    return run_and_count(
        merge(downstream_vph), streams, f, (approach, 2), (2, 3), expected_vph=downstream_vph / 2
    )


@pytest.mark.parametrize("f", SAMPLE_FACTORS, ids=lambda f: f"f{f}")
@pytest.mark.parametrize("approach", (0, 1), ids=lambda a: f"approach{a}")
@pytest.mark.parametrize("downstream_vph", MERGE_CAPACITIES, ids=lambda c: f"down{c}")
def test_fair_merge_halves_downstream_capacity(
    downstream_vph: float, approach: int, f: float
) -> None:
    # first come, first served at the merge: the two approaches alternate, each gets half
    check(
        merge_capacity(downstream_vph, approach, f),
        downstream_vph / 2,
        merge_capacity(downstream_vph, approach, 1.0),
        f,
    )


# --------------------------------------------------------------------------------------------
# 5. a left-turn pocket at a signal (protected left turns)


#: Pocket length: 150 m hold 20 vehicles, a whole number at every f (20, 10, 5, 2), so storage
#: rounding plays no part. (75 m = 10 vehicles would hold 2.5 at f = 0.25, rounded to 2; how
#: storage is rounded is a separate issue.)
POCKET_M = 150.0


def pocket_crossroads(cycle_s: float, green_s: float) -> nx.MultiDiGraph:
    """Signalised crossroads (arms 300 m, one lane each way); the south approach 3 → 0 has a left
    pocket of ``POCKET_M``. Exits admit twice the saturation flow so only the signal limits."""
    G = new_graph()
    add_node(G, 0, 0, 0)
    for n, (x, y) in {1: (0, 300), 2: (300, 0), 3: (0, -300), 4: (-300, 0)}.items():
        add_node(G, n, x, y)
        add_link(G, n, 0, storage_veh=HUGE_STORAGE)
        add_link(G, 0, n, capacity_vph=2 * SAT_VPHPL, storage_veh=HUGE_STORAGE)
    G.edges[3, 0, 0].update(pocket_left=1, pocket_length_m=POCKET_M)
    set_signal(G, 0, cycle_s, {(3, 0): green_s})
    return G


#: (cycle s, effective green s) of the pocket's phase.
POCKET_CASES = [(40, 10), (40, 16), (90, 41), (150, 71)]
#: Through demand sharing the approach with the left-turners, veh/h.
POCKET_THROUGH_VPH = 300.0


@functools.cache
def pocket_capacity(cycle_s: float, green_s: float, f: float) -> Measured:
    """Left turns 3 → 0 → 4 from the pocket, demand twice ``s · g / C``, protected."""
    analytic = SAT_VPHPL * green_s / cycle_s
    streams = [(3, 4, 2 * analytic), (3, 1, POCKET_THROUGH_VPH)]
    G = pocket_crossroads(cycle_s, green_s)
    return run_and_count(
        G, streams, f, (3, 0), (0, 4), expected_vph=analytic, cycle_s=cycle_s, permitted_left=False
    )


@pytest.mark.parametrize("f", SAMPLE_FACTORS, ids=lambda f: f"f{f}")
@pytest.mark.parametrize(
    ("cycle_s", "green_s"), POCKET_CASES, ids=[f"C{c}-g{g}" for c, g in POCKET_CASES]
)
def test_left_pocket_discharge(cycle_s: float, green_s: float, f: float) -> None:
    # a protected pocket lane discharges at one lane's saturation flow in its green: s · g / C
    G = pocket_crossroads(cycle_s, green_s)
    assert effective_green(G, 0, (3, 0)) == pytest.approx((cycle_s, green_s))
    # the engine's pocket storage is exactly lanes × length / 7.5 m × f (no rounding involved)
    caps = [c for c in netarrays.build(G, f, 0.0).group_pocket_cap if c]
    assert caps == [pytest.approx(POCKET_M / JAM_SPACING_M * f)]
    check(
        pocket_capacity(cycle_s, green_s, f),
        SAT_VPHPL * green_s / cycle_s,
        pocket_capacity(cycle_s, green_s, 1.0),
        f,
    )


# --------------------------------------------------------------------------------------------
# 6. mid-block entry capacity


def bottleneck(capacity_vph: float) -> nx.MultiDiGraph:
    """0 → 1 (600 m, 1,800 veh/h) → 2 (600 m, mid-block ``capacity_vph``) → 3 (300 m)."""
    G = new_graph()
    for n, x in {0: -600, 1: 0, 2: 600, 3: 900}.items():
        add_node(G, n, x, 0)
    add_link(G, 0, 1, storage_veh=HUGE_STORAGE)
    add_link(G, 1, 2, capacity_vph=capacity_vph, storage_veh=HUGE_STORAGE)
    add_link(G, 2, 3, storage_veh=HUGE_STORAGE)
    return G


#: Mid-block capacities below the upstream saturation flow, veh/h.
BOTTLENECK_CAPACITIES = (450, 900, 1500)


@functools.cache
def bottleneck_capacity(capacity_vph: float, f: float) -> Measured:
    """Entries onto 1 → 2 per hour, fed by 1,800 veh/h on 0 → 1."""
    return run_and_count(
        bottleneck(capacity_vph),
        [(0, 3, SAT_VPHPL)],
        f,
        (1, 2),
        None,
        expected_vph=capacity_vph,
        count="entry_s",
    )


@pytest.mark.parametrize("f", SAMPLE_FACTORS, ids=lambda f: f"f{f}")
@pytest.mark.parametrize("capacity_vph", BOTTLENECK_CAPACITIES, ids=lambda c: f"cap{c}")
def test_mid_block_entry_capacity(capacity_vph: float, f: float) -> None:
    # entries onto a link are at least 3600 / capacity_vph apart (× 1/f in a sampled run)
    check(
        bottleneck_capacity(capacity_vph, f),
        capacity_vph,
        bottleneck_capacity(capacity_vph, 1.0),
        f,
    )
