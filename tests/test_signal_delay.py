"""Fixed-time signal delay under random arrivals, against Webster (issue 18).

1. **Webster's delay formula.** One single-lane approach (s = 1,800 veh/h) into an isolated
   two-phase signal (C = 60 s, effective green g = 26 s, λ = g/C = 0.433); arrivals at its stop
   line are a Poisson process of rate q = X λ s for degrees of saturation X = 0.5, 0.7, 0.85.
   The mean stop-line delay (link time minus free-flow time) must be within ±10 % of

   ``d = C(1−λ)²/(2(1−λX)) + X²/(2q(1−X)) − 0.65 (C/q²)^{1/3} X^{2+5λ}`` (q in veh/s)

   at sample factor 1 and 0.25 (f = 0.25 does not hold: an engine sampling bias, marked xfail,
   see SAMPLING_BIAS). The sampled run keeps a seeded share f of the *same* real
   Poisson stream (``cysim.demand.sampling.sample_share``, as the demand builder does), so its
   sampled vehicles arrive at rate f q and the engine scales the headways by 1/f.
2. **The Webster plan lowers delay.** A crossroads with 900 veh/h each way on a two-lane main
   road and 250 veh/h each way on a one-lane side road: the plan of ``webster.webster_timing``
   (50 s, greens 27 / 15 s) has less total delay than the default plan (90 s, 54.7 / 27.3 s) and
   than equal greens at the same cycle: measured 5.60, 8.33 and 7.17 veh·h per hour.

The deterministic D/D/1 part alone (uniform arrivals) is checked exactly in
``test_sim_junctions.py``; these tests are about random arrivals. docs/model.md §9.
"""

from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pytest
from helpers.invariants import check_invariants
from helpers.simnets import add_link, add_node, crossroads, new_graph, settings_for, trips_frame

from cysim.control import signals, webster
from cysim.control.signals import THROUGH
from cysim.demand.sampling import sample_share
from cysim.sim import simulate

#: Saturation flow of the studied lane, veh/h.
SAT_VPH = 1800.0
#: Cycle and splits of the isolated signal: (60 − 2 × 4 s lost) / 2 = 26 s effective green.
CYCLE_S = 60.0
SPLITS = "[0.5, 0.5]"
#: Warm-up (queues start empty) excluded from every replication, seconds.
WARMUP_S = 1800.0
#: Batches for the standard error of the mean (much longer than a queue's relaxation), seconds.
BATCH_S = 7200.0
#: Arrivals per replication: warm-up plus 10 batches (20.5 h).
DURATION_S = WARMUP_S + 10 * BATCH_S
#: Replications (seeds 1, 2, … of the arrival process) at f = 1; 1/f times as many at f < 1, so
#: every f simulates about as many vehicles (at f = 0.25: 64 replications, 1,312 h).
REPLICATIONS = 16
#: The acceptance band around Webster's formula.
TOLERANCE = 0.10
#: The standard error of the measured mean must be well below the band.
MAX_STANDARD_ERROR = 0.02

#: Measured at commit 5341e49 (16 replications of 20 h after warm-up at f = 1, 64 at f = 0.25):
#:   X      Webster d   f = 1 (±SE)           f = 0.25 (±SE)        Webster at rate f q
#:   0.50   13.98 s     12.94 ±0.04 (−7.4 %)  17.06 ±0.09 (+22 %)   19.96 s
#:   0.70   17.19 s     16.02 ±0.07 (−6.8 %)  28.20 ±0.26 (+64 %)   30.27 s
#:   0.85   24.33 s     23.86 ±0.29 (−2.0 %)  58.66 ±0.95 (+141 %)  57.49 s
#: (f = 0.5: 14.11, 19.75, 34.39 s, +1 / +15 / +41 %.)
#: f = 1 sits 2–7 % below Webster: the engine lets a queue's head leave at the *start* of its
#: saturation headway, one headway (2 s) less per queued vehicle than the fluid queue of Webster's
#: uniform term (docs/model.md §2, the offset of the uniform test in test_sim_junctions.py); with
#: one headway added per vehicle that waited at all it would be 3–6 % above.
#: f = 0.25 is far above, close to Webster's formula for the *sampled* rate f q: a sampled vehicle
#: holds the stop line for 1/f saturation headways at one instant, like a platoon of 1/f real
#: vehicles arriving together, and a Poisson stream of such platoons queues far more than the
#: real one. (With uniform arrivals the same platoons bias delay the other way, by less: the
#: sampled queue's head leaves at green start, ahead of most of the real vehicles it stands for;
#: 9.2 / 11.7 / 13.3 s at f = 0.25 against 10.7 / 13.2 / 14.8 s at f = 1.)
SAMPLING_BIAS = (
    "engine sampling bias: a sampled vehicle holds the stop line for 1/f saturation headways "
    "(lane-group headway 3600 / (s × lanes × f)), so the thinned Poisson stream (rate f q) "
    "queues like one of rate f q and its random delay is X²/(2 f q (1 − X)), 1/f times "
    "Webster's X²/(2 q (1 − X)): at f = 0.25, 17.1 / 28.2 / 58.7 s against 14.0 / 17.2 / 24.3 s "
    "at X = 0.5 / 0.7 / 0.85 (Webster at rate f q: 20.0 / 30.3 / 57.5 s)"
)


def isolated_signal() -> nx.MultiDiGraph:
    """Approach 0 → 1 (300 m, 30 s) into signal 1, exit 1 → 2; side road 5 → 1 is phase 2.

    The approach admits vehicles without a mid-block limit and stores all of them, so they
    reach the stop line as the Poisson process they depart in.
    """
    G = new_graph()
    add_node(G, 0, -300, 0)
    add_node(G, 1, 0, 0, signal=True, signal_cycle_s=CYCLE_S, signal_splits=SPLITS)
    add_node(G, 2, 300, 0)
    add_node(G, 5, 0, 300)
    add_link(G, 0, 1, capacity_vph=1e6, storage_veh=1e6)
    add_link(G, 1, 2)
    add_link(G, 5, 1, highway="secondary")
    return G


def webster_delay(cycle_s: float, lam: float, x: float, q_vps: float) -> float:
    """Webster's mean delay per vehicle, s: uniform + random − the empirical correction.

    Parameters
    ----------
    cycle_s
        Cycle C, s.
    lam
        Effective green ratio g/C.
    x
        Degree of saturation q/(λ s).
    q_vps
        Arrival rate, veh/s.

    Returns
    -------
    float
    """
    uniform = cycle_s * (1 - lam) ** 2 / (2 * (1 - lam * x))
    random = x**2 / (2 * q_vps * (1 - x))
    correction = 0.65 * (cycle_s / q_vps**2) ** (1 / 3) * x ** (2 + 5 * lam)
    return uniform + random - correction


def poisson_departures(q_vps: float, duration_s: float, seed: int) -> np.ndarray:
    """Sorted departure times of a Poisson process of rate ``q_vps`` over ``[0, duration_s)``."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.uniform(0.0, duration_s, rng.poisson(q_vps * duration_s)))


def approach_delays(res, approaches: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Entry times and delays (link time − free-flow time) on ``approaches`` after the warm-up."""
    links = res.links.set_index(["u", "v"])
    ids = [int(links.loc[a, "link"]) for a in approaches]
    tr = res.traversals
    tr = tr[tr["link"].isin(ids) & (tr["entry_s"] >= WARMUP_S)]
    ff = res.links.set_index("link")["freeflow_s"]
    delay = tr["exit_s"] - tr["entry_s"] - ff.reindex(tr["link"]).to_numpy()
    assert tr["exit_s"].notna().all()  # everybody measured has left the stop line
    return tr["entry_s"].to_numpy(), delay.to_numpy()


def batch_standard_error(entries: list[np.ndarray], delays: list[np.ndarray]) -> float:
    """Standard error of the mean delay from the means of ``BATCH_S`` batches (all replications)."""
    means = []
    for e, d in zip(entries, delays, strict=True):
        batch = ((e - WARMUP_S) // BATCH_S).astype(int)
        means += [d[batch == b].mean() for b in np.unique(batch)]
    return float(np.std(means, ddof=1) / math.sqrt(len(means)))


@pytest.mark.parametrize(
    ("x", "f"),
    [
        (0.5, 1.0),
        (0.7, 1.0),
        (0.85, 1.0),
        *[
            pytest.param(x, 0.25, marks=pytest.mark.xfail(strict=True, reason=SAMPLING_BIAS))
            for x in (0.5, 0.7, 0.85)
        ],
    ],
)
def test_random_arrival_delay_matches_webster(x, f):
    G = isolated_signal()
    plan = signals.plan_for_node(G, 1)
    phase = next(i for i, ph in enumerate(plan.phases) if (0, 1, 0) in ph)
    _, green = plan.green_windows()[phase]
    assert plan.cycle_s == CYCLE_S and green == pytest.approx(26.0)
    lam = green / CYCLE_S
    q_vps = x * lam * SAT_VPH / 3600.0
    settings = settings_for(DURATION_S, cooldown_s=1800.0)
    entries, delays = [], []
    for seed in range(1, round(REPLICATIONS / f) + 1):
        dep = poisson_departures(q_vps, DURATION_S, seed)
        # the sampled demand is a seeded share f of the same real stream, as cysim.demand keeps it
        dep = dep[sample_share(len(dep), f, np.random.default_rng(seed + 1000))]
        res = simulate(G, trips_frame([(0, 2, t) for t in dep], sample_factor=f), settings, seed=0)
        assert (res.trips["status"] == "arrived").all()
        e, d = approach_delays(res, [(0, 1)])
        entries.append(e)
        delays.append(d)
    if f == 1.0:
        check_invariants(res)
    measured = float(np.concatenate(delays).mean())
    expected = webster_delay(CYCLE_S, lam, x, q_vps)
    # the sampling error is well below the band (and below the distance from it at f = 0.25)
    assert batch_standard_error(entries, delays) <= MAX_STANDARD_ERROR * measured
    assert measured == pytest.approx(expected, rel=TOLERANCE)


# --------------------------------------------------------------------------------------------
# the Webster plan against the default plan and equal greens

#: Through flows, veh/h, each way: main road north–south (nodes 1, 3), side road east–west.
FLOWS = {(1, 3): 900.0, (3, 1): 900.0, (2, 4): 250.0, (4, 2): 250.0}
#: Arrivals per replication (warm-up + 5.5 h) and replications.
PLAN_DURATION_S = WARMUP_S + 5.5 * 3600.0
PLAN_SEEDS = (1, 2, 3)


def plan_total_delay(cycle_s: float | None, greens: list[float] | None) -> float:
    """Total stop-line delay on the four approaches, vehicle-hours per hour of arrivals.

    ``cycle_s`` and effective ``greens`` per phase (s) set the plan; ``None`` runs the default
    plan. Poisson arrivals of ``FLOWS``, through traffic only.
    """
    total = 0.0
    for seed in PLAN_SEEDS:
        G = crossroads(lanes_ns=2, lanes_ew=1)
        if cycle_s is not None:
            G.nodes[0]["signal_cycle_s"] = cycle_s
            G.nodes[0]["signal_splits"] = json.dumps(greens)  # shares of the effective green
            plan = signals.plan_for_node(G, 0)
            assert plan.cycle_s == cycle_s and plan.green_s == pytest.approx(greens)
        rows = []
        for i, ((o, d), q) in enumerate(FLOWS.items()):
            rows += [
                (o, d, t) for t in poisson_departures(q / 3600.0, PLAN_DURATION_S, seed * 10 + i)
            ]
        res = simulate(G, trips_frame(rows), settings_for(PLAN_DURATION_S), seed=0)
        assert (res.trips["status"] == "arrived").all()
        _, delays = approach_delays(res, [(o, 0) for o, _ in FLOWS])
        total += delays.sum()
    hours = len(PLAN_SEEDS) * (PLAN_DURATION_S - WARMUP_S) / 3600.0
    return total / 3600.0 / hours


def test_webster_plan_has_less_delay_than_default_and_equal_splits():
    G = crossroads(lanes_ns=2, lanes_ew=1)
    default = signals.default_plan(G, 0)
    flows = {(o, 0, 0): {THROUGH: q} for (o, _), q in FLOWS.items()}
    timing = webster.webster_timing(G, 0, flows)
    # critical lane-group flow ratios 900 / 3600 and 250 / 1800; C0 = (1.5 × 8 + 5) / (1 − 0.389)
    # = 27.8 s, raised to the two-phase practical minimum of 50 s; greens in proportion to y
    # (27.0 / 15.0 s; the pedestrian minima, 8.8 and 14.7 s, do not bind)
    assert sorted(timing.flow_ratio) == pytest.approx([250 / 1800, 900 / 3600])
    assert timing.cycle_s == 50.0
    cycle = timing.cycle_s
    greens = timing.display_green_s  # = effective greens (lost time = amber + all-red)
    assert sorted(greens) == pytest.approx([15.0, 27.0])
    assert default.cycle_s == 90.0 and default.green_s == pytest.approx([54.667, 27.333], abs=1e-3)
    webster_delay = plan_total_delay(cycle, greens)
    equal = plan_total_delay(cycle, [(cycle - sum(default.lost_time_s)) / 2] * 2)
    default_delay = plan_total_delay(None, None)
    # measured (3 × 5.5 h of 2,300 veh/h after warm-up), veh·h per hour: see the module docstring
    assert webster_delay < equal and webster_delay < default_delay
