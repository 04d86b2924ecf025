"""Vehicle-actuated signal control: the parameters of a junction's controller.

A junction with ``signal_control = "actuated"`` runs its phases (those of
:func:`cysim.control.signals.plan_phases`) under a controller in the engine
(:func:`cysim.sim.engine.run`): each phase gets its minimum green, then extends while a vehicle
is in its detection zone (``detector_m`` upstream of the stop line to the stop line) and until
the zone has been empty for the passage time (gap-out), up to its maximum green counted from a
conflicting call (max-out); a phase without a call is skipped. docs/model.md §3 documents the
rules and defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import networkx as nx

from .._errors import SimulationError
from . import signals, webster

#: Passage time (unit extension), seconds: the largest gap between detections that keeps a
#: phase green (FHWA Traffic Signal Timing Manual 2008 §5.3: typically 2–3 s for stop-line
#: presence detection).
passage_s: float = 3.0
#: Length of the detection zone upstream of the stop line, metres.
detector_m: float = 30.0
#: Default maximum green as a multiple of the phase's green in the fixed plan (same manual,
#: §5.3.1.3: 1.25–1.5 times).
max_green_factor: float = 1.5
#: A default maximum green is at least this much above the minimum, seconds.
min_extension_s: float = 10.0


@dataclass(frozen=True)
class ActuatedPlan:
    """Controller settings of one actuated junction (effective green times).

    Attributes
    ----------
    min_green_s, max_green_s
        Effective minimum and maximum green per phase, seconds.
    lost_time_s
        Lost time after each phase (amber + all-red by default), seconds.
    passage_s
        Passage time, seconds (real vehicles; the engine scales it by 1 / sample factor).
    detector_m
        Detection zone length, metres.
    """

    min_green_s: tuple[float, ...]
    max_green_s: tuple[float, ...]
    lost_time_s: tuple[float, ...]
    passage_s: float
    detector_m: float


def _per_phase(
    G: nx.MultiDiGraph, node: int, attribute: str, names: list[str]
) -> list[float | None] | None:
    """A setting per phase: stored as one number, a list per phase or a mapping of phase names.

    Phases the mapping leaves out get None (the default).
    """
    text = G.nodes[node].get(attribute, "") or ""
    if not text:
        return None
    hint = "give one number, one per phase, or a mapping of phase names (`cysim validate`)"
    try:
        values = json.loads(text)
    except ValueError as exc:
        raise SimulationError(
            f"junction {node}: {attribute} {text!r} is not valid ({exc})", key=attribute, hint=hint
        ) from exc
    if isinstance(values, int | float):
        return [float(values)] * len(names)
    if isinstance(values, list) and len(values) == len(names):
        return [float(x) for x in values]
    if isinstance(values, dict):
        out: list[float | None] = [None] * len(names)
        for name, value in values.items():
            index = signals.phase_index(name, names)
            if index is None:
                raise SimulationError(
                    f"junction {node}: {attribute} names '{name}', not one of its phases "
                    f"({', '.join(names)})",
                    key=attribute,
                    hint=hint,
                )
            out[index] = float(value)
        return out
    raise SimulationError(
        f"junction {node}: {attribute} must give one value per phase ({len(names)})",
        key=attribute,
        hint=hint,
    )


def actuated_plan(G: nx.MultiDiGraph, node: int) -> ActuatedPlan | None:
    """The controller settings of a junction, or None when it runs a fixed-time plan.

    From ``signal_min_green_s`` and ``signal_max_green_s`` (JSON: one displayed green, a list per
    phase, or a mapping of phase names), ``signal_passage_s`` and ``signal_detector_m``;
    defaults: the pedestrian minimum green of :func:`cysim.control.webster.pedestrian_min_green_s`,
    ``max_green_factor`` × the fixed plan's green (at least ``min_extension_s`` above the
    minimum), ``passage_s``, ``detector_m``.

    Raises
    ------
    SimulationError
        A list does not have one value per phase, or a maximum is below its minimum.
    """
    data = G.nodes[node]
    if not data.get("signal") or data.get("signal_control", "") != "actuated":
        return None
    plan = signals.plan_for_node(G, node)
    n = len(plan.phases)
    change = plan.amber_s + plan.all_red_s
    given_min = _per_phase(G, node, "signal_min_green_s", plan.names) or [None] * n
    given_max = _per_phase(G, node, "signal_max_green_s", plan.names) or [None] * n
    shown_min = [
        m if m is not None else webster.pedestrian_min_green_s(G, plan, p)
        for p, m in enumerate(given_min)
    ]
    shown_max = [
        m if m is not None else max(max_green_factor * g, low + min_extension_s)
        for m, g, low in zip(given_max, plan.display_green_s, shown_min, strict=True)
    ]
    for p, (low, high, lost) in enumerate(zip(shown_min, shown_max, plan.lost_time_s, strict=True)):
        if high < low:
            raise SimulationError(
                f"junction {node}: phase {plan.names[p]} has a maximum green of {high:g} s "
                f"below its minimum of {low:g} s"
                + ("" if given_min[p] is not None else " (the pedestrian minimum)"),
                key="max_green_s",
                hint="raise the maximum green or lower the minimum",
            )
        signals.require_plan_green(
            low + change - lost,
            f"{plan.names[p]} (minimum green {low:g} s)",
            key="min_green_s",
            hint="raise the minimum green or shorten the lost time per phase",
            where=f"junction {node}: ",
        )
    lost_times = plan.lost_time_s
    return ActuatedPlan(
        min_green_s=tuple(g + change - lp for g, lp in zip(shown_min, lost_times, strict=True)),
        max_green_s=tuple(g + change - lp for g, lp in zip(shown_max, lost_times, strict=True)),
        lost_time_s=tuple(lost_times),
        passage_s=float(data.get("signal_passage_s", 0.0) or 0.0) or passage_s,
        detector_m=float(data.get("signal_detector_m", 0.0) or 0.0) or detector_m,
    )


def describe_control(G: nx.MultiDiGraph, node: int) -> str:
    """``"; actuated: min … / max … s green, passage … s, zone … m"`` or ``""`` (fixed time)."""
    plan = actuated_plan(G, node)
    if plan is None:
        return ""
    fixed = signals.plan_for_node(G, node)
    change = fixed.amber_s + fixed.all_red_s
    shown = [
        f"{name} {low - change + lost:.0f}–{high - change + lost:.0f}"
        for name, low, high, lost in zip(
            fixed.names, plan.min_green_s, plan.max_green_s, plan.lost_time_s, strict=True
        )
    ]
    return (
        f"; actuated: green {', '.join(shown)} s, passage {plan.passage_s:g} s, detection zone "
        f"{plan.detector_m:g} m"
    )
