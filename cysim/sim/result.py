"""The records one simulation run produces (see docs/data-model.md §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..simsettings import SimSettings

if TYPE_CHECKING:
    from .movements import RouteCosts


@dataclass
class LinkSamples:
    """Per-link state sampled at a fixed interval.

    Attributes
    ----------
    time_s
        Sample times, shape ``(T,)``.
    queue_veh
        Vehicles waiting in the link's exit queues, shape ``(T, L)``.
    occupancy_veh
        Vehicles on the link (moving or queued), shape ``(T, L)``.
    blocked
        The link is full (its storage is used up), shape ``(T, L)``: spillback upstream.
    """

    time_s: np.ndarray
    queue_veh: np.ndarray
    occupancy_veh: np.ndarray
    blocked: np.ndarray


@dataclass
class SimResult:
    """Everything one replication records; metrics are derived from this, never from the engine.

    Attributes
    ----------
    links, trips, traversals, network_samples, route_choice
        Frames with the columns listed in docs/data-model.md §4. Beyond those, ``trips`` has
        ``parking_overflow`` (parked illegally after finding every facility full),
        ``network_samples`` has ``departed`` and ``arrived`` (so that ``departed =
        vehicles_in_network + waiting_to_enter + arrived`` at every sample), and
        ``route_choice`` has ``arrived``, ``switched`` (trips that changed path) and
        ``gap_trips`` (the trips the relative gap counts: every routed trip that departed).
    link_samples
        Sampled per-link queues, occupancy and spillback flags.
    gridlock
        ``{"detected": bool, "time_s": float | None, "links": list[int]}``: the first cycle of
        full links found deadlocked (see docs/model.md §8).
    settings, seed, sample_factor
        What produced the run.
    extra
        ``{"counts": {arrived, en_route, stuck, unrouted, waiting_to_enter}, "end_s": float}``
        (``end_s`` is earlier than duration + cool-down when every routed trip arrived before, or
        a full gridlock stopped the run).
    """

    links: pd.DataFrame
    trips: pd.DataFrame
    traversals: pd.DataFrame
    link_samples: LinkSamples
    network_samples: pd.DataFrame
    gridlock: dict
    route_choice: pd.DataFrame
    settings: SimSettings
    seed: int
    sample_factor: float = 1.0
    extra: dict = field(default_factory=dict)
    #: movement times of the final route choice (a warm start for another run of the network)
    route_costs: RouteCosts | None = None
    #: per phase of each junction re-timed inside route choice (``optimize: webster``): the
    #: final plan and its flow ratio, degree of saturation and left-turn warrant; else None
    signal_timing: pd.DataFrame | None = None
    #: per junction approach lane group: busiest-hour flow, capacity, degree of saturation and
    #: control delay (:func:`cysim.sim.lanegroups.lane_group_table`); None for records read back
    lane_groups: pd.DataFrame | None = None
    #: every green of the actuated junctions (``node``, ``phase``, ``start_s``, ``end_s``), or None
    actuated_greens: pd.DataFrame | None = None
