"""External and through traffic: trips that enter or leave the map at its gateway junctions.

A zone system covers the map only, so a gravity model (or a zone OD table) has no traffic that
crosses the boundary. Here the boundary is represented by *gateways*: the junctions where a road
of a high class ends at the edge of the map (by default dead ends of ``motorway``/``trunk`` roads),
or junctions snapped from coordinates given in the scenario. External trips are split into
through trips (gateway → gateway) and, half each, inbound (gateway → zone) and outbound
(zone → gateway) trips. Gateways are weighted by the capacity of the links that enter (origins)
or leave (destinations) the map there; zones by the gravity model's production and attraction
weights, the same weights the internal trips use.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd

from .._errors import DemandError, PatchError
from ..network.locate import nearest_node
from .spec import ExternalSpec


def gateway_nodes(G: nx.MultiDiGraph, road_classes: Sequence[str]) -> list[int]:
    """Junctions where a road of ``road_classes`` ends at the edge of the map.

    A gateway is a dead end (one neighbouring junction) reached by a link of one of the classes:
    where an extract cuts an expressway or a national road at its boundary. Dead ends of lower
    classes are left out: inside a district they are usually unfinished streets, not entries.

    Parameters
    ----------
    G
        Road graph (docs/data-model.md §1).
    road_classes
        OSM ``highway`` values that may carry traffic across the boundary.

    Returns
    -------
    list of int
        Node ids, sorted.
    """
    wanted = set(road_classes)
    found = []
    for node in G.nodes:
        neighbours = (set(G.successors(node)) | set(G.predecessors(node))) - {node}
        if len(neighbours) != 1:
            continue
        edges = [*G.out_edges(node, data="highway"), *G.in_edges(node, data="highway")]
        if any(str(highway) in wanted for _, _, highway in edges):
            found.append(int(node))
    return sorted(found)


def resolve_gateways(G: nx.MultiDiGraph, spec: ExternalSpec) -> list[int]:
    """The scenario's gateways: snapped from ``spec.gateways`` or found by :func:`gateway_nodes`.

    Raises
    ------
    DemandError
        A gateway point is off the map, or the map has fewer than two gateways.
    """
    if spec.gateways is None:
        nodes = gateway_nodes(G, spec.road_classes)
        where = f"dead ends of {'/'.join(spec.road_classes)} roads"
    else:
        nodes = []
        for i, (lon, lat) in enumerate(spec.gateways):
            try:
                node, _ = nearest_node(G, lon, lat, snap_m=spec.snap_m)
            except PatchError as error:
                raise DemandError(
                    f"external gateway {i + 1} ({lon}, {lat}): {error.message}",
                    key=f"demand.external.gateways[{i}]",
                    hint="give [lon, lat] (WGS84) of a junction at the map edge, or raise snap_m",
                ) from None
            nodes.append(int(node))
        nodes = sorted(set(nodes))
        where = "the gateways given"
    if len(nodes) < 2:
        raise DemandError(
            f"external trips need at least 2 gateways; the map has {len(nodes)} ({where})",
            key="demand.external",
            hint="list gateways as [lon, lat] points, or add road_classes (e.g. primary)",
        )
    return nodes


def _link_capacity(G: nx.MultiDiGraph, edges) -> float:
    return float(sum(float(d.get("capacity_vph", 0.0) or 0.0) for *_, d in edges))


def external_cells(
    G: nx.MultiDiGraph,
    zones: pd.DataFrame,
    gateways: Sequence[int],
    trips: float,
    through_share: float,
) -> pd.DataFrame:
    """Fractional external demand in the cell layout of :class:`cysim.demand.build.DemandPlan`.

    Parameters
    ----------
    G
        Road graph.
    zones
        Zone table with ``zone``, ``production_weight`` and ``attraction_weight``.
    gateways
        Gateway node ids (at least two).
    trips
        External trips in the period.
    through_share
        Share of them from gateway to gateway; the rest is half inbound, half outbound.

    Returns
    -------
    pandas.DataFrame
        ``origin_zone``, ``destination_zone`` (``""`` at a gateway end), ``origin_node``,
        ``destination_node`` (the gateway, -1 at a zone end), ``trips`` summing to ``trips``,
        ``start_s``/``end_s`` NaN (departures follow the profile).
    """
    enter = np.array([_link_capacity(G, G.out_edges(g, data=True)) for g in gateways])
    leave = np.array([_link_capacity(G, G.in_edges(g, data=True)) for g in gateways])
    gw = np.asarray(gateways, dtype=np.int64)
    ids = zones["zone"].to_numpy(dtype=object)
    produce = zones["production_weight"].to_numpy(dtype=float)
    attract = zones["attraction_weight"].to_numpy(dtype=float)
    parts = []

    def part(o_zone, d_zone, o_node, d_node, weight, amount) -> None:
        if amount <= 0 or weight.sum() <= 0:
            return
        parts.append(
            pd.DataFrame(
                {
                    "origin_zone": o_zone,
                    "destination_zone": d_zone,
                    "origin_node": o_node,
                    "destination_node": d_node,
                    "trips": amount * weight / weight.sum(),
                }
            )
        )

    n_g, n_z = len(gw), len(ids)
    through = np.outer(enter, leave)
    np.fill_diagonal(through, 0.0)  # no U-turn at the boundary
    i, j = np.nonzero(through > 0)
    part("", "", gw[i], gw[j], through[i, j], trips * through_share)
    half = trips * (1.0 - through_share) / 2.0
    inbound = np.outer(enter, attract).ravel()
    part("", np.tile(ids, n_g), np.repeat(gw, n_z), -1, inbound, half)
    outbound = np.outer(produce, leave).ravel()
    part(np.repeat(ids, n_g), "", -1, np.tile(gw, n_z), outbound, half)
    if not parts:
        raise DemandError(
            "external trips found no gateway with capacity or no zone with weight",
            key="demand.external",
        )
    cells = pd.concat(parts, ignore_index=True)
    cells = cells[cells["trips"] > 0].reset_index(drop=True)
    cells["origin_node"] = cells["origin_node"].astype("int64")
    cells["destination_node"] = cells["destination_node"].astype("int64")
    cells["start_s"] = np.nan
    cells["end_s"] = np.nan
    return cells


def describe(spec: ExternalSpec, gateways: Sequence[int]) -> str:
    """One line for the demand's ``source`` attribute."""
    return (
        f"external: {spec.trips} trips at {len(gateways)} gateways, "
        f"{spec.through_share:.0%} through"
    )


__all__: list[str] = ["describe", "external_cells", "gateway_nodes", "resolve_gateways"]
