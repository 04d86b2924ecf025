"""Parking at trip ends: street facilities and public lots, cruising when full, guidance."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from ..simsettings import ParkingSettings
from .engine import ParkingHook
from .netarrays import NetArrays
from .routing import Router


class ParkingModel(ParkingHook):
    """Facilities per node with capacity and occupancy; vehicles search when theirs is full.

    Every trip-end node has a street facility of ``ceil(spaces_per_arrival × trips ending there)``
    spaces; a node with ``parking_spaces > 0`` adds a public lot (scaled by the sample factor).
    ``initial_occupancy`` of each facility is taken at the start. Spaces are not released during
    the run (morning-peak arrivals; parking departures are ignored). A vehicle finding its facility
    full drives (free-flow shortest path) to the next-nearest facility within ``search_radius_m``
    of its destination (straight-line distance) it has not tried; when none is left it parks at the
    last one tried as overflow (illegal parking), counted. A vehicle whose destination has a
    guided lot within the radius is sent at departure straight to the nearest facility (its own
    street facility first, then guided lots) expected to have a space: free spaces minus the
    vehicles already heading there (the guidance system's prediction).

    Parameters
    ----------
    G
        Network (node attributes ``x``, ``y``, ``parking_spaces``, ``parking_guidance``).
    net
        Network arrays.
    origin, destination
        Node indices per vehicle.
    settings
        Parking settings.
    sample_factor
        Share of vehicles simulated (lot capacities are scaled by it).
    """

    def __init__(
        self,
        G: nx.MultiDiGraph,
        net: NetArrays,
        origin: np.ndarray,
        destination: np.ndarray,
        settings: ParkingSettings,
        sample_factor: float,
    ) -> None:
        n_nodes = len(net.nodes)
        self.net = net
        self.origin = origin
        self.destination = destination
        self.radius = settings.search_radius_m
        ends = np.bincount(destination, minlength=n_nodes)
        capacity = np.ceil(settings.spaces_per_arrival * ends).astype(np.int64)
        guided = np.zeros(n_nodes, dtype=bool)
        for i, node in enumerate(net.nodes):
            attrs = G.nodes[node]
            spaces = int(attrs.get("parking_spaces", 0) or 0)
            if spaces > 0:
                capacity[i] += max(1, round(spaces * sample_factor))
                guided[i] = bool(attrs.get("parking_guidance", False))
        self.capacity = capacity
        self.occupied = np.floor(settings.initial_occupancy * capacity).astype(np.int64)
        self.guided = guided
        self.xy = np.array([[G.nodes[n]["x"], G.nodes[n]["y"]] for n in net.nodes], dtype=float)
        self.facilities = np.flatnonzero(capacity > 0)
        n_veh = len(destination)
        self.first_arrival_s = np.full(n_veh, np.nan)
        self.cruise_distance_m = np.zeros(n_veh)
        self.cruise_s = np.zeros(n_veh)
        self.parking_node = np.full(n_veh, -1, dtype=np.int64)
        self.overflow = np.zeros(n_veh, dtype=bool)
        self.guided_to = np.full(n_veh, -1, dtype=np.int64)
        self.heading = np.zeros(n_nodes, dtype=np.int64)
        self.target = destination.astype(np.int64).copy()
        self._tried: dict[int, list[int]] = {}
        self._leg_m: dict[int, float] = {}
        self._router = Router(net, np.asarray(net.freeflow_s))
        self._trees: dict[int, np.ndarray] = {}
        self._candidates: dict[int, list[int]] = {}
        self._has_guidance: dict[int, bool] = {}

    def candidates(self, dest: int) -> list[int]:
        """Facilities within the search radius of ``dest``, nearest first (``dest`` excluded)."""
        found = self._candidates.get(dest)
        if found is None:
            d = np.hypot(*(self.xy[self.facilities] - self.xy[dest]).T)
            near = (d <= self.radius) & (self.facilities != dest)
            order = np.lexsort((self.facilities[near], d[near]))
            found = self._candidates[dest] = self.facilities[near][order].tolist()
        return found

    def _path(self, start: int, end: int) -> list[int] | None:
        pred = self._trees.get(start)
        if pred is None:
            _, pred = self._router.tree(np.array([start]))
            pred = self._trees[start] = pred[0]
        if start != end and pred[end] < 0:
            return None
        return self._router.path_links(pred, start, end)

    def _length(self, path: list[int]) -> float:
        return float(sum(self.net.length_m[i] for i in path))

    def on_departure(self, vehicle: int, time_s: float) -> list[int] | None:
        """Guided vehicles go straight to the nearest facility with space; others keep theirs."""
        dest = int(self.destination[vehicle])
        self.heading[dest] += 1
        has = self._has_guidance.get(dest)
        if has is None:
            has = self._has_guidance[dest] = bool(self.guided[dest]) or any(
                self.guided[c] for c in self.candidates(dest)
            )
        if not has:
            return None
        options = [dest] + [c for c in self.candidates(dest) if self.guided[c]]
        for node in options:
            expected = self.occupied[node] + self.heading[node] - (node == dest)
            if expected < self.capacity[node]:
                if node == dest:
                    return None
                path = self._path(int(self.origin[vehicle]), node)
                if path is None:
                    continue
                self.guided_to[vehicle] = node
                self._retarget(vehicle, node)
                return path
        return None

    def trip_end_node(self, vehicle: int) -> int:
        """The trip's destination node index."""
        return int(self.destination[vehicle])

    def on_arrival(self, vehicle: int, node: int, time_s: float) -> list[int] | None:
        """Park at ``node`` if it has space, else return the links to the next facility to try."""
        if self.target[vehicle] == node:
            self.heading[node] -= 1
            self.target[vehicle] = -1
        if vehicle in self._leg_m:
            self.cruise_distance_m[vehicle] += self._leg_m.pop(vehicle)
        if math.isnan(self.first_arrival_s[vehicle]):
            self.first_arrival_s[vehicle] = time_s
        if self.occupied[node] < self.capacity[node]:
            self._park(vehicle, node, time_s)
            return None
        tried = self._tried.setdefault(vehicle, [node])
        if node not in tried:
            tried.append(node)
        for cand in self.candidates(int(self.destination[vehicle])):
            if cand in tried:
                continue
            tried.append(cand)
            path = self._path(node, cand)
            if not path:
                continue
            self._leg_m[vehicle] = self._length(path)
            self._retarget(vehicle, cand)
            return path
        self.overflow[vehicle] = True
        self._park(vehicle, node, time_s)
        return None

    def _retarget(self, vehicle: int, node: int) -> None:
        old = self.target[vehicle]
        if old >= 0:
            self.heading[old] -= 1
        self.target[vehicle] = node
        self.heading[node] += 1

    def _park(self, vehicle: int, node: int, time_s: float) -> None:
        self.occupied[node] += 1
        self.parking_node[vehicle] = node
        self.cruise_s[vehicle] = time_s - self.first_arrival_s[vehicle]
        self._tried.pop(vehicle, None)
