"""Signal plans: phases from approach bearings (protected lefts), default and explicit timings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import networkx as nx

from .._errors import SimulationError
from ..network import locate, turnlanes
from ..network.turns import (  # noqa: F401  (re-exported: the turn geometry signals are built on)
    LEFT,
    RIGHT,
    THROUGH,
    Approach,
    approach_bearing,
    bearing_stretch_m,
    departure_bearing,
    turn_kind,
    turn_threshold_deg,
)

#: Approaches whose travel axes differ by at most this many degrees share a phase.
axis_tolerance_deg: float = 30.0
#: Most phases a default plan uses (approach axes beyond this merge into the nearest phase).
max_default_phases: int = 3
#: Amber (yellow) time per phase change, seconds.
amber_s: float = 3.0
#: All-red clearance per phase change, seconds.
all_red_s: float = 1.0
#: Lost time per phase (start-up lost time + unused clearance), seconds.
lost_time_per_phase_s: float = 4.0
#: Shortest effective green a default plan gives a phase, seconds.
min_green_s: float = 10.0
#: Shortest effective green any plan may give a phase, seconds: below it the phase serves
#: nobody (and sneakers would leave in the next phase's green).
min_plan_green_s: float = 1.0
#: Webster cycle clamp, seconds.
min_cycle_s: float = 40.0
max_cycle_s: float = 180.0
#: Default cycle (s) by the widest approach (lanes in one direction) for a two-phase junction:
#: 1 lane → 60 s, 2 lanes → 90 s, 3+ lanes (arterial crossings) → 120 s. Three-phase junctions
#: add 30 s (capped at 150 s). Typical of Chinese urban fixed-time practice (GB 14886 guidance,
#: HCM 2010 ch. 31 ranges of 60–120 s for two-phase control).
default_cycle_by_lanes_s: dict[int, float] = {1: 60.0, 2: 90.0, 3: 120.0}
extra_cycle_per_extra_phase_s: float = 30.0
max_default_cycle_s: float = 150.0


@dataclass
class SignalPlan:
    """A fixed-time plan: phases run in order, each an effective green followed by its lost time.

    Phase ``i`` gives effective green from ``offset_s + Σ_{j<i}(green_s[j] + lost_time_s[j])``
    (modulo ``cycle_s``) for ``green_s[i]`` seconds. ``cycle_s == Σ(green_s + lost_time_s)``.
    The displayed green of phase ``i`` is ``green_s[i] + lost_time_s[i] − amber_s − all_red_s``:
    with the default lost time (amber + all-red) displayed and effective greens are equal.

    Attributes
    ----------
    cycle_s
        Cycle length, seconds.
    offset_s
        Start of phase 0 within the common cycle clock, seconds.
    green_s
        Effective green per phase, seconds.
    lost_time_s
        Lost time per phase (start-up loss + the part of amber and all-red not used), seconds.
    amber_s, all_red_s
        Amber and all-red after every phase, seconds.
    phases
        Incoming approach edges ``(u, v, key)`` whose through and right turns (and left turns,
        unless protected) move in each phase; empty for a protected-left phase.
    protected_left
        Approaches whose left turns move only in their own protected phase: approach → phase.
    names
        Each phase named by the roads it serves (``"长城路"``, ``"长城路 left"``).
    """

    cycle_s: float
    offset_s: float
    green_s: list[float]
    lost_time_s: list[float]
    amber_s: float = amber_s
    all_red_s: float = all_red_s
    phases: list[list[Approach]] = field(default_factory=list)
    protected_left: dict[Approach, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def green_windows(self) -> list[tuple[float, float]]:
        """``(start_s, green_s)`` of each phase's effective green; start within ``[0, cycle)``."""
        windows = []
        start = self.offset_s
        for green, lost in zip(self.green_s, self.lost_time_s, strict=True):
            windows.append((start % self.cycle_s, green))
            start += green + lost
        return windows

    @property
    def display_green_s(self) -> list[float]:
        """Green shown to drivers per phase, seconds (amber and all-red follow it)."""
        change = self.amber_s + self.all_red_s
        return [g + lost - change for g, lost in zip(self.green_s, self.lost_time_s, strict=True)]


def _axis_difference(a: float, b: float) -> float:
    """Smallest angle between two undirected axes (degrees in [0, 90])."""
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def _incoming(G: nx.MultiDiGraph, node: int) -> list[Approach]:
    return sorted((u, v, k) for u, v, k in G.in_edges(node, keys=True) if u != node)


def phase_groups(G: nx.MultiDiGraph, node: int) -> list[list[Approach]]:
    """Group a junction's incoming approaches into signal phases by travel axis.

    Approaches are taken widest first (lanes, then capacity, then edge id for a stable order).
    Each joins the phase whose axis is within ``axis_tolerance_deg`` of its own, else opens a new
    phase; so opposite approaches share a phase (classic two-phase control). A T-junction gets two
    phases (the through road, then the stem); a five- or six-leg junction gets up to
    ``max_default_phases`` phases, extra axes merging into the phase with the nearest axis. A node
    with a single axis (e.g. a mid-block crossing) gets one phase.

    Parameters
    ----------
    G
        The network.
    node
        The junction.

    Returns
    -------
    list[list[tuple[int, int, int]]]
        Incoming edges ``(u, v, key)`` per phase; phase 0 holds the widest approach.
    """
    approaches = _incoming(G, node)
    if not approaches:
        return []

    def width(e: Approach) -> tuple[float, float]:
        d = G.edges[e]
        return (float(d.get("lanes", 1)), float(d.get("capacity_vph", 0.0)))

    ordered = sorted(approaches, key=lambda e: (-width(e)[0], -width(e)[1], e))
    axes: list[float] = []
    groups: list[list[Approach]] = []
    pending: list[tuple[Approach, float]] = []
    for e in ordered:
        axis = approach_bearing(G, *e) % 180.0
        diffs = [_axis_difference(axis, a) for a in axes]
        if diffs and min(diffs) <= axis_tolerance_deg:
            groups[diffs.index(min(diffs))].append(e)
        elif len(groups) < max_default_phases:
            axes.append(axis)
            groups.append([e])
        else:
            pending.append((e, axis))
    for e, axis in pending:
        diffs = [_axis_difference(axis, a) for a in axes]
        groups[diffs.index(min(diffs))].append(e)
    return [sorted(g) for g in groups]


#: ``left_turn`` values that give an approach's left turns a phase of their own.
PROTECTED_TREATMENTS = ("protected", "protected_permitted")


def has_protected_left(G: nx.MultiDiGraph, approach: Approach) -> bool:
    """Whether an approach's left turns run in a protected phase of their own.

    Needs ``left_turn: protected`` (or ``protected_permitted``: protected, then filtering through
    gaps in its road's phase) on the edge and an exclusive left lane (a pocket, or a marked or
    default one, :func:`cysim.network.turnlanes.exclusive_left_lanes`): a left turn sharing a lane
    with
    through traffic cannot stop while the through traffic goes.
    """
    data = G.edges[approach]
    return (
        data.get("left_turn", "") in PROTECTED_TREATMENTS
        and turnlanes.exclusive_left_lanes(G, approach) > 0
    )


def _left_lanes(G: nx.MultiDiGraph, approach: Approach) -> int:
    return max(1, turnlanes.exclusive_left_lanes(G, approach))


def is_protected_permitted(G: nx.MultiDiGraph, approach: Approach) -> bool:
    """Whether a protected left also turns in gaps during its road's phase."""
    return (
        has_protected_left(G, approach) and G.edges[approach]["left_turn"] == "protected_permitted"
    )


def _phase_name(G: nx.MultiDiGraph, approaches: list[Approach]) -> str:
    """The roads an approach group serves, joined by '/', in order of first appearance."""
    names: list[str] = []
    for e in approaches:
        name = str(G.edges[e].get("name", "") or "").split(";")[0].strip()
        if not name:
            name = f"unnamed {approach_bearing(G, *e):.0f}°"
        if name not in names:
            names.append(name)
    return "/".join(names) or "no approach"


def plan_phases(
    G: nx.MultiDiGraph, node: int
) -> tuple[list[list[Approach]], dict[Approach, int], list[str]]:
    """The phases of a junction's plan: :func:`phase_groups` plus protected-left phases.

    A phase whose approaches include one with a protected left turn (:func:`has_protected_left`)
    is preceded by a left phase serving those left turns (leading lefts, as in four-phase
    control of Chinese arterial crossings).

    Returns
    -------
    (phases, protected_left, names)
        Approaches moving in each phase (empty for a left phase), the phase of each protected
        left turn, and each phase's name (its roads; a left phase adds " left").
    """
    phases: list[list[Approach]] = []
    protected: dict[Approach, int] = {}
    names: list[str] = []
    for group in phase_groups(G, node):
        name = _phase_name(G, group)
        lefts = [e for e in group if has_protected_left(G, e)]
        if lefts:
            protected.update(dict.fromkeys(lefts, len(phases)))
            phases.append([])
            names.append(f"{name} left")
        phases.append(group)
        names.append(name)
    # two phases may serve the same road (e.g. a road that bends through the junction)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[i] = f"{name} ({seen[name]})"
    return phases, protected, names


def facing_approach(
    G: nx.MultiDiGraph, approach: Approach, group: list[Approach]
) -> Approach | None:
    """The approach of ``group`` facing ``approach`` (its flow opposes permitted left turns).

    Facing: travel bearings differ by 180° within ``axis_tolerance_deg``; None when there is
    no such approach (a T-junction's stem, a one-way road).
    """
    bearing = approach_bearing(G, *approach)
    for other in group:
        if other != approach:
            diff = abs((approach_bearing(G, *other) - bearing) % 360.0 - 180.0)
            if diff <= axis_tolerance_deg:
                return other
    return None


def phase_index(name: str, names: list[str]) -> int | None:
    """The phase a name refers to, None when no phase matches.

    A name refers to a phase by its exact name or by one of its roads (``"<road> left"`` for a
    protected-left phase).
    """
    if name in names:
        return names.index(name)
    left = name.endswith(" left")
    wanted = locate.normalise_road_name(name.removesuffix(" left").strip())
    for i, phase in enumerate(names):
        if phase.endswith(" left") != left:
            continue
        roads = phase.removesuffix(" left").split("/")
        if any(locate.normalise_road_name(r.split(" (")[0]) == wanted for r in roads):
            return i
    return None


def default_cycle_s(G: nx.MultiDiGraph, node: int, n_phases: int) -> float:
    """Default cycle by the widest approach and the number of phases (docs/model.md)."""
    lanes = max((int(G.edges[e].get("lanes", 1)) for e in _incoming(G, node)), default=1)
    lanes = min(max(lanes, 1), max(default_cycle_by_lanes_s))
    cycle = default_cycle_by_lanes_s[lanes]
    cycle += extra_cycle_per_extra_phase_s * max(n_phases - 2, 0)
    return min(cycle, max_default_cycle_s)


def require_plan_green(green_s: float, phase: str, *, key: str, hint: str, where: str = "") -> None:
    """Refuse a phase with less than ``min_plan_green_s`` of effective green (it serves nobody).

    Raises
    ------
    SimulationError
        Naming ``where`` (e.g. the junction), the phase, its effective green, ``key`` and ``hint``.
    """
    if green_s < min_plan_green_s:
        raise SimulationError(
            f"{where}phase {phase} gets {green_s:.3g} s of effective green; every phase needs "
            f"at least {min_plan_green_s:g} s",
            key=key,
            hint=hint,
        )


def _split_greens(cycle_s: float, lost: list[float], weights: list[float]) -> list[float]:
    """Share ``cycle − Σ lost`` among phases in proportion to ``weights``."""
    available = cycle_s - sum(lost)
    if available <= 0:
        raise SimulationError(
            f"signal cycle {cycle_s:g} s leaves no green after {sum(lost):g} s of lost time",
            key="signal_cycle_s",
            hint="use a longer cycle",
        )
    total = sum(weights)
    if total <= 0:
        weights, total = [1.0] * len(weights), float(len(weights))
    greens = [available * w / total for w in weights]
    for i, green in enumerate(greens):
        require_plan_green(
            green,
            f"{i + 1} of {len(greens)} (cycle {cycle_s:g} s)",
            key="signal_splits",
            hint="give every phase a larger split or green (or a longer cycle)",
        )
    return greens


def default_plan(G: nx.MultiDiGraph, node: int) -> SignalPlan:
    """The default fixed-time plan of a junction.

    Phases from :func:`plan_phases`; cycle from :func:`default_cycle_s`; lost time
    ``lost_time_per_phase_s`` per phase; effective greens shared in proportion to each phase's
    widest approach (lanes; a left phase by its widest left pocket), with at least
    ``min_green_s`` each; offset 0.

    Parameters
    ----------
    G
        The network.
    node
        The junction.

    Returns
    -------
    SignalPlan
    """
    phases, protected, names = plan_phases(G, node)
    n = max(len(phases), 1)
    cycle = default_cycle_s(G, node, n)
    lost = [lost_time_per_phase_s] * n
    weights = [
        max(float(G.edges[e].get("lanes", 1)) for e in ph)
        if ph
        else max(float(_left_lanes(G, e)) for e, p in protected.items() if p == i)
        for i, ph in enumerate(phases)
    ] or [1.0]
    greens = _split_greens(cycle, lost, weights)
    short = [g < min_green_s for g in greens]
    if any(short) and min_green_s * n < cycle - sum(lost):
        fixed = sum(min_green_s for s in short if s)
        rest = _split_greens(
            cycle - fixed, lost, [w for w, s in zip(weights, short, strict=True) if not s]
        )
        it = iter(rest)
        greens = [min_green_s if s else next(it) for s in short]
    return SignalPlan(
        cycle_s=cycle,
        offset_s=0.0,
        green_s=greens,
        lost_time_s=lost,
        phases=phases,
        protected_left=protected,
        names=names,
    )


def _json_numbers(node: int, attribute: str, text: str, names: list[str], hint: str) -> list[float]:
    """A node attribute holding a JSON list of non-negative numbers, one per phase."""
    try:
        values = json.loads(text)
        if not isinstance(values, list) or not all(
            isinstance(x, int | float) and x >= 0 for x in values
        ):
            raise ValueError("not a list of non-negative numbers")
    except ValueError as exc:
        raise SimulationError(
            f"junction {node}: {attribute} {text!r} is invalid ({exc})", key=attribute, hint=hint
        ) from exc
    if len(values) != len(names):
        raise SimulationError(
            f"junction {node}: {attribute} has {len(values)} values but the junction has "
            f"{len(names)} phases ({', '.join(names)})",
            key=attribute,
            hint="give one value per phase (`cysim validate` lists the phases)",
        )
    return [float(x) for x in values]


def clearances(G: nx.MultiDiGraph, node: int) -> tuple[float, float, float]:
    """Amber, all-red and lost time per phase of a junction's plan, seconds.

    From ``signal_amber_s`` (> 0), ``signal_all_red_s`` (≥ 0, when present) and
    ``signal_lost_time_s`` (> 0), else the defaults; the lost time defaults to amber + all-red.
    """
    attrs = G.nodes[node]
    amber = float(attrs.get("signal_amber_s", 0.0) or 0.0) or amber_s
    given = attrs.get("signal_all_red_s")
    all_red = all_red_s if given is None or given == "" else float(given)  # 0 s is a choice
    lost = float(attrs.get("signal_lost_time_s", 0.0) or 0.0) or (amber + all_red)
    return amber, all_red, lost


#: Node attributes that fix a junction's plan (a patch's timing); a junction with none of them
#: runs the default plan, or is fitted to its flows (:func:`fit_plans_to_flows`).
PLAN_ATTRIBUTES = ("signal_cycle_s", "signal_splits", "signal_greens_s", "signal_optimize")


def fit_plans_to_flows(G: nx.MultiDiGraph) -> list[int]:
    """Mark every signal without a plan of its own for Webster timing at run time.

    The marked junctions (``signal_optimize = "webster"``) are re-timed inside route choice on
    their own simulated flows (:mod:`cysim.sim.retiming`), so the baseline's delay does not come
    from default cycles that fit no demand. Call it before the patches: a patch that times a
    junction replaces the mark with its own plan, and actuated control set by a patch runs on
    top of the fitted plan (its maximum greens follow it).

    Parameters
    ----------
    G
        The network; changed in place.

    Returns
    -------
    list[int]
        The junctions marked.
    """
    marked = []
    for node, data in G.nodes(data=True):
        if not data.get("signal") or any(data.get(name) for name in PLAN_ATTRIBUTES):
            continue
        data["signal_optimize"] = "webster"
        marked.append(node)
    return marked


def plan_for_node(G: nx.MultiDiGraph, node: int) -> SignalPlan:
    """The plan a junction runs: node attributes when set, else :func:`default_plan`.

    Node attributes (set by the ``signal_timing`` patch, docs/data-model.md §1):

    - ``signal_greens_s`` (JSON list, one displayed green per phase of :func:`plan_phases`):
      the greens as written; the cycle is ``Σ greens + phases × (amber + all-red)``;
    - ``signal_amber_s``, ``signal_all_red_s`` (> 0 replaces the default ``amber_s``,
      ``all_red_s``) and ``signal_lost_time_s`` (> 0 replaces the default lost time per phase,
      amber + all-red): effective green = displayed green + amber + all-red − lost time;
    - ``signal_cycle_s`` > 0 and ``signal_splits`` (JSON list, one number per phase, shares of
      the effective green time ``cycle − Σ lost``; normalised), when no greens are given;
    - ``signal_offset_s``.

    Raises
    ------
    SimulationError
        A list is not JSON numbers, one per phase, or the plan leaves a phase less than
        ``min_plan_green_s`` of effective green.
    """
    plan = default_plan(G, node)
    n = len(plan.phases)
    attrs = G.nodes[node]
    plan.amber_s, plan.all_red_s, per_phase = clearances(G, node)
    change = plan.amber_s + plan.all_red_s
    clearances_set = per_phase != lost_time_per_phase_s or change != amber_s + all_red_s
    cycle = float(attrs.get("signal_cycle_s", 0.0) or 0.0)
    greens_text = attrs.get("signal_greens_s", "") or ""
    splits_text = attrs.get("signal_splits", "") or ""
    plan.offset_s = float(attrs.get("signal_offset_s", 0.0) or 0.0)
    if not (greens_text or splits_text or cycle > 0 or clearances_set):
        return plan
    plan.lost_time_s = [per_phase] * n
    if greens_text:
        shown = _json_numbers(
            node, "signal_greens_s", greens_text, plan.names, "give displayed greens, e.g. [60, 44]"
        )
        greens = [g + change - per_phase for g in shown]
        for name, green in zip(plan.names, greens, strict=True):
            require_plan_green(
                green,
                name,
                key="signal_greens_s",
                hint="lengthen that green or shorten the lost time per phase",
                where=f"junction {node}: ",
            )
        plan.green_s = greens
        plan.cycle_s = sum(shown) + n * change
        return plan
    weights = plan.green_s
    if splits_text:
        weights = _json_numbers(
            node,
            "signal_splits",
            splits_text,
            plan.names,
            "give green fractions, e.g. [0.5, 0.4]",
        )
    cycle = cycle if cycle > 0 else plan.cycle_s
    plan.green_s = _split_greens(cycle, plan.lost_time_s, weights)
    plan.cycle_s = cycle
    return plan


def describe_plan(plan: SignalPlan) -> str:
    """One line per plan: cycle, each phase's name and displayed green, clearances, lost time."""
    phases = ", ".join(
        f"{name} {green:.0f}" for name, green in zip(plan.names, plan.display_green_s, strict=True)
    )
    text = (
        f"cycle {plan.cycle_s:.0f} s: {phases} s green; amber {round(plan.amber_s, 1):g} s + "
        f"all-red {round(plan.all_red_s, 1):g} s after each"
    )
    change = plan.amber_s + plan.all_red_s
    if plan.lost_time_s and any(abs(lost - change) > 1e-9 for lost in plan.lost_time_s):
        effective = ", ".join(f"{g:.0f}" for g in plan.green_s)
        text += f"; lost time {plan.lost_time_s[0]:g} s per phase (effective greens {effective} s)"
    return text
