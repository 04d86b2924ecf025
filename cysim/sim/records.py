"""Turn one run's compact arrays into the frames of :class:`~cysim.sim.result.SimResult`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..simsettings import SimSettings
from .engine import RunRecords
from .netarrays import NetArrays
from .parking import ParkingModel
from .result import LinkSamples, SimResult

#: Traversals turned into trip ids at a time (bounds the temporaries of the conversion).
traversals_per_chunk: int = 1 << 20


def trip_status(rec: RunRecords, routed: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Status per trip (arrived / en_route / stuck / unrouted) and the counts."""
    arrived = ~np.isnan(rec.arrival_s)
    status = np.full(len(routed), "en_route", dtype=object)
    status[arrived] = "arrived"
    status[~routed] = "unrouted"
    status[rec.stuck & routed & ~arrived] = "stuck"
    counts = {s: int((status == s).sum()) for s in ("arrived", "en_route", "stuck", "unrouted")}
    counts["waiting_to_enter"] = int(rec.waiting.sum())
    return status, counts


def to_result(
    net: NetArrays,
    trips: pd.DataFrame,
    rec: RunRecords,
    routed: np.ndarray,
    freeflow_s: np.ndarray,
    parking: ParkingModel | None,
    route_choice: pd.DataFrame,
    settings: SimSettings,
    seed: int,
    sample_factor: float,
) -> SimResult:
    """Assemble the :class:`SimResult` of the final run.

    Parameters
    ----------
    net
        Network arrays.
    trips
        The trips table as given to ``simulate``.
    rec
        Arrays of the final run; consumed: its ``trav_trip`` column becomes the trip ids.
    routed
        Whether each trip had a path.
    freeflow_s
        Free-flow shortest-path time per trip (NaN when unrouted).
    parking
        The run's parking model, or None when parking is disabled.
    route_choice
        One row per equilibration iteration.
    settings, seed, sample_factor
        What produced the run.
    """
    status, counts = trip_status(rec, routed)
    n = len(trips)
    lengths = np.asarray(net.length_m)
    # per trip, in traversal order (np.add.at: the floats of one bincount) and in chunks, so no
    # float64 copy of the whole traversal table is made
    distance = np.zeros(n)
    step = traversals_per_chunk
    for start in range(0, len(rec.trav_trip), step):
        part = slice(start, start + step)
        np.add.at(distance, rec.trav_trip[part], lengths[rec.trav_link[part]])
    if parking is not None:
        cruise_m = parking.cruise_distance_m
        cruise_s = np.where(np.isnan(rec.arrival_s), 0.0, parking.cruise_s)
        parking_node_idx = parking.parking_node
        overflow = parking.overflow
    else:
        cruise_m, cruise_s = np.zeros(n), np.zeros(n)
        last = np.full(n, -1, dtype=np.int64)
        arrived = ~np.isnan(rec.arrival_s)
        last[arrived] = np.asarray(trips["destination_node"])[arrived]
        parking_node_idx = None
        overflow = np.zeros(n, dtype=bool)
    nodes = np.asarray(net.nodes, dtype=np.int64)
    if parking_node_idx is not None:
        parking_node = np.where(parking_node_idx >= 0, nodes[np.maximum(parking_node_idx, 0)], -1)
    else:
        parking_node = last
    trips_out = pd.DataFrame(
        {
            "trip_id": trips["trip_id"].to_numpy(np.int64),
            "origin_node": trips["origin_node"].to_numpy(np.int64),
            "destination_node": trips["destination_node"].to_numpy(np.int64),
            "departure_s": trips["departure_s"].to_numpy(float),
            "arrival_s": rec.arrival_s,
            "status": pd.Categorical(
                status, categories=["arrived", "en_route", "stuck", "unrouted"]
            ).astype(str),
            "distance_m": distance,
            "freeflow_s": freeflow_s,
            "cruise_distance_m": cruise_m,
            "cruise_s": cruise_s,
            "parking_node": parking_node.astype(np.int64),
            "parking_overflow": overflow,
        }
    )
    # the engine's int64 vehicle-index column becomes the trip-id column in place, chunk by chunk:
    # a gather into a new column would add 8 B per traversal at the run's memory peak
    trip_ids = trips["trip_id"].to_numpy(np.int64)
    trav_trip_id = rec.trav_trip
    for start in range(0, len(trav_trip_id), step):
        part = slice(start, start + step)
        trav_trip_id[part] = trip_ids[trav_trip_id[part]]
    # copy=False: the columns are the engine's record arrays (pandas copies them by default)
    traversals = pd.DataFrame(
        {
            "trip_id": trav_trip_id,
            "link": rec.trav_link,
            "entry_s": rec.trav_entry_s,
            "exit_s": rec.trav_exit_s,
        },
        copy=False,
    )
    network_samples = pd.DataFrame(rec.net_samples)
    return SimResult(
        links=net.links.copy(),
        trips=trips_out,
        traversals=traversals,
        link_samples=LinkSamples(
            time_s=rec.sample_time_s,
            queue_veh=rec.queue_veh,
            occupancy_veh=rec.occupancy_veh,
            blocked=rec.blocked,
        ),
        network_samples=network_samples,
        gridlock=dict(rec.gridlock),
        route_choice=route_choice,
        settings=settings,
        seed=seed,
        sample_factor=sample_factor,
        extra={"counts": counts, "end_s": rec.end_s},
    )
