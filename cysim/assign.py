"""Static user-equilibrium traffic assignment with BPR link costs (Frank–Wolfe family).

The link cost is the BPR function ``t(x) = fft · (1 + b · (x / capacity) ** power)``. The user
equilibrium minimises the Beckmann objective ``Σ ∫₀^x t(w) dw``; three methods are offered:

- ``"fw"``: Frank–Wolfe (LeBlanc et al. 1975): the direction is all-or-nothing minus current flow.
- ``"cfw"``: conjugate Frank–Wolfe, and ``"bfw"``: bi-conjugate Frank–Wolfe (Mitradjieva &
  Lindberg 2013, *Transportation Science* 47(2)): the target point mixes the all-or-nothing flow
  with the previous one (two) so that the direction is conjugate, under the diagonal Hessian of
  the objective, to the previous direction (two). Much faster than FW near equilibrium.

Every method uses an exact line search (bisection on the directional derivative of the objective)
and all-or-nothing loading on shortest paths from ``scipy.sparse.csgraph.dijkstra``, with flows
accumulated along the predecessor trees in vectorised steps. TNTP's *first thru node* is honoured:
zone nodes numbered below it are split into an origin copy and a destination copy so that no path
passes through them. Progress is the relative gap ``(TSTT − SPTT) / TSTT`` with
``TSTT = Σ x · t(x)`` and ``SPTT = Σ demand × shortest-path cost``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ._errors import DemandError, MapError, SimulationError

Method = Literal["bfw", "cfw", "fw"]

#: The assignment methods, fastest first.
METHODS: tuple[str, ...] = ("bfw", "cfw", "fw")
#: The "traditional" BPR coefficient and exponent used when a network does not give its own.
DEFAULT_BPR_B: float = 0.15
DEFAULT_BPR_POWER: float = 4.0
#: Iteration cap when the caller does not give one.
DEFAULT_MAX_ITERATIONS: int = 2000

# The CFW weight is kept below 1 − δ so the new target never collapses onto the old one
# (Mitradjieva & Lindberg's safeguard); δ = 0.1 converged fastest of 1e-6…0.1 on Sioux Falls.
_CONJUGATE_DELTA = 0.1
_BISECTION_STEPS = 60
_SHORTEST_PATH_ENTRIES = 4_000_000
_REQUIRED_LINK_COLUMNS = ("init_node", "term_node", "capacity", "free_flow_time", "b", "power")


@dataclass(frozen=True)
class AssignmentResult:
    """The outcome of :func:`assign`.

    Attributes
    ----------
    links
        One row per input link (same index and order): ``init_node``, ``term_node`` (and
        ``key`` when the input has it, as from :func:`network_from_graph`), ``flow``, ``cost``
        (BPR time at that flow, in the network's time unit), ``free_flow_time``, ``capacity``
        and ``voc`` (flow / capacity).
    flow
        Link flows as an array, in link order.
    cost
        Link costs at ``flow``, in link order.
    iterations
        One row per iteration: ``iteration`` (1-based), ``relative_gap`` and ``objective`` (the
        Beckmann objective) at the flow of that iteration, ``tstt``, ``sptt``, ``direction``
        (``fw``, ``cfw`` or ``bfw``: the direction actually used for the step that followed),
        ``step_size`` (NaN on the last row) and ``elapsed_s`` (wall time since the start).
    converged
        The relative gap reached the requested tolerance.
    relative_gap
        The relative gap at ``flow``.
    objective
        The Beckmann objective at ``flow``.
    method
        The method used.
    """

    links: pd.DataFrame
    flow: np.ndarray
    cost: np.ndarray
    iterations: pd.DataFrame
    converged: bool
    relative_gap: float
    objective: float
    method: str

    @property
    def total_travel_time(self) -> float:
        """Σ flow × cost (TSTT), in flow × the network's time unit."""
        return float(self.flow @ self.cost)


def link_costs(network: pd.DataFrame, flow: np.ndarray) -> np.ndarray:
    """BPR travel time of every link at the given flows.

    Parameters
    ----------
    network
        Link table with ``free_flow_time``, ``capacity``, ``b`` and ``power``.
    flow
        Link flows, in link order.

    Returns
    -------
    numpy.ndarray
        ``fft · (1 + b · (flow / capacity) ** power)``.
    """
    return _Bpr.from_network(network).cost(np.asarray(flow, dtype=float))


def beckmann_objective(network: pd.DataFrame, flow: np.ndarray) -> float:
    """The Beckmann objective ``Σ ∫₀^x t(w) dw`` of link flows, in flow × time units.

    Parameters
    ----------
    network
        Link table with ``free_flow_time``, ``capacity``, ``b`` and ``power``.
    flow
        Link flows, in link order.

    Returns
    -------
    float
        ``Σ fft · (x + b · capacity · (x / capacity) ** (power + 1) / (power + 1))``.
    """
    return _Bpr.from_network(network).objective(np.asarray(flow, dtype=float))


def assign(
    network: pd.DataFrame,
    trips: pd.DataFrame,
    *,
    method: Method = "bfw",
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    relative_gap: float = 1e-4,
    first_thru_node: int | None = None,
) -> AssignmentResult:
    """Static user-equilibrium assignment of an OD table onto a link table.

    Parameters
    ----------
    network
        Link table as from :func:`cysim.network.tntp.read_tntp_network` or
        :func:`network_from_graph`:
        ``init_node``, ``term_node``, ``capacity``, ``free_flow_time``, ``b``, ``power``. Costs and
        the objective come out in the unit of ``free_flow_time``.
    trips
        OD table with ``origin``, ``destination`` (node ids of ``network``) and ``trips`` (flow in
        the unit of ``capacity``, e.g. veh/h). Repeated pairs are summed; intrazonal trips are
        ignored (they load no link).
    method
        ``"bfw"`` (bi-conjugate Frank–Wolfe, default), ``"cfw"`` (conjugate) or ``"fw"``.
    max_iterations
        Stop after this many iterations even when the gap is not reached.
    relative_gap
        Stop once ``(TSTT − SPTT) / TSTT`` is at most this.
    first_thru_node
        Nodes numbered below this are zones that paths may start or end at but not pass through.
        None takes ``network.attrs["first_thru_node"]`` when present; 0 or 1 means no such zones.

    Returns
    -------
    AssignmentResult
        Link flows and costs, per-iteration gap and objective, and whether the gap was reached.

    Raises
    ------
    MapError
        The link table lacks a column or holds impossible values (capacity ≤ 0 with b > 0,
        negative free-flow time, negative b or power).
    DemandError
        The OD table lacks a column, names a node the network does not have, has negative trips,
        or some OD pair with trips has no path.
    SimulationError
        An unknown method or a non-positive iteration cap or gap.
    """
    if method not in METHODS:
        raise SimulationError(
            f"unknown assignment method {method!r}", hint=f"use one of {', '.join(METHODS)}"
        )
    if max_iterations < 1:
        raise SimulationError(f"max_iterations is {max_iterations}; it must be ≥ 1")
    if not relative_gap > 0:
        raise SimulationError(f"relative_gap is {relative_gap}; it must be > 0")
    started = time.perf_counter()
    bpr = _Bpr.from_network(network)
    if first_thru_node is None:
        first_thru_node = network.attrs.get("first_thru_node")
    problem = _Problem.build(network, trips, first_thru_node)

    flow, _ = problem.all_or_nothing(bpr.cost(np.zeros(problem.n_links)))
    previous_target: np.ndarray | None = None
    older_target: np.ndarray | None = None
    previous_step = older_step = 1.0
    records: list[dict[str, object]] = []
    converged = False
    gap = np.inf
    for iteration in range(1, max_iterations + 1):
        cost = bpr.cost(flow)
        aon_flow, sptt = problem.all_or_nothing(cost)
        tstt = float(flow @ cost)
        gap = (tstt - sptt) / tstt if tstt > 0 else 0.0
        record: dict[str, object] = {
            "iteration": iteration,
            "relative_gap": gap,
            "objective": bpr.objective(flow),
            "tstt": tstt,
            "sptt": sptt,
            "direction": "",
            "step_size": np.nan,
            "elapsed_s": time.perf_counter() - started,
        }
        records.append(record)
        if gap <= relative_gap:
            converged = True
            break
        if iteration == max_iterations:
            break
        target, used = _target(
            method,
            bpr,
            flow,
            cost,
            aon_flow,
            previous_target,
            older_target,
            previous_step,
            older_step,
        )
        step = _line_search(bpr, flow, target - flow)
        if step <= 0.0 and used != "fw":
            # a conjugate direction that does not descend: restart from the plain FW direction
            target, used = aon_flow, "fw"
            step = _line_search(bpr, flow, target - flow)
        record["direction"], record["step_size"] = used, step
        if step <= 0.0:
            break  # no descent along the FW direction: numerically at the optimum
        flow = flow + step * (target - flow)
        np.maximum(flow, 0.0, out=flow)  # rounding must not leave a negative flow
        older_target, previous_target = previous_target, target
        older_step, previous_step = previous_step, step
        if used == "fw":
            older_target = None  # conjugacy restarts after a plain FW step

    cost = bpr.cost(flow)
    ends = (
        ["init_node", "term_node", "key"]
        if "key" in network.columns
        else ["init_node", "term_node"]
    )
    links = pd.DataFrame(
        {
            **{column: network[column].to_numpy() for column in ends},
            "flow": flow,
            "cost": cost,
            "free_flow_time": bpr.free_flow_time,
            "capacity": bpr.capacity,
            "voc": np.divide(flow, bpr.capacity, out=np.zeros_like(flow), where=bpr.capacity > 0),
        },
        index=network.index,
    )
    return AssignmentResult(
        links=links,
        flow=flow,
        cost=cost,
        iterations=pd.DataFrame.from_records(records),
        converged=converged,
        relative_gap=float(gap),
        objective=bpr.objective(flow),
        method=method,
    )


def network_from_graph(
    G: nx.MultiDiGraph,
    *,
    bpr_b: float = DEFAULT_BPR_B,
    bpr_power: float = DEFAULT_BPR_POWER,
) -> pd.DataFrame:
    """Convert a cysim road graph (docs/data-model.md §1) into an assignment link table.

    Parameters
    ----------
    G
        Road graph whose edges carry ``length_m``, ``speed_kph`` and ``capacity_vph``.
    bpr_b, bpr_power
        BPR coefficient and exponent given to every link.

    Returns
    -------
    pandas.DataFrame
        One row per edge, in ``G.edges(keys=True)`` order: ``init_node``, ``term_node``, ``key``,
        ``capacity`` (veh/h), ``length`` (m), ``free_flow_time`` (**seconds**), ``b``, ``power``,
        ``speed`` (km/h), ``toll`` (0) and ``link_type`` (0). ``df.attrs``: ``first_thru_node``
        None (every node may be passed through), ``time_unit`` ``"s"``, ``source``.

    Raises
    ------
    MapError
        An edge lacks one of the attributes or holds a non-positive value.
    """
    rows = []
    for u, v, key, data in G.edges(keys=True, data=True):
        values = []
        for name in ("length_m", "speed_kph", "capacity_vph"):
            value = data.get(name)
            if value is None or not np.isfinite(float(value)) or float(value) <= 0:
                raise MapError(
                    f"edge ({u}, {v}, {key}) has {name}={value!r}; it must be a number > 0",
                    key=name,
                    hint="load the map with cysim.network.build, which fills road-class defaults",
                )
            values.append(float(value))
        length_m, speed_kph, capacity_vph = values
        rows.append((u, v, key, capacity_vph, length_m, length_m / (speed_kph / 3.6), speed_kph))
    links = pd.DataFrame(
        rows,
        columns=[
            "init_node",
            "term_node",
            "key",
            "capacity",
            "length",
            "free_flow_time",
            "speed",
        ],
    )
    links.insert(6, "b", float(bpr_b))
    links.insert(7, "power", float(bpr_power))
    links["toll"] = 0.0
    links["link_type"] = 0
    links = links.astype({"init_node": np.int64, "term_node": np.int64, "key": np.int64})
    source = G.graph.get("source") or G.graph.get("name") or ""
    links.attrs.update(first_thru_node=None, time_unit="s", source=str(source))
    return links


def trips_from_table(trips: pd.DataFrame, *, period_s: float | None = None) -> pd.DataFrame:
    """Aggregate a cysim trips table (docs/data-model.md §3) into an OD table for :func:`assign`.

    Parameters
    ----------
    trips
        One row per car trip with ``origin_node`` and ``destination_node``; each row counts as
        ``1 / df.attrs["sample_factor"]`` vehicles (1 when the attribute is absent).
    period_s
        When given, counts are divided by ``period_s / 3600`` so the OD table is in veh/h, the
        unit of ``capacity_vph``. Without it the table holds vehicles over the whole period.

    Returns
    -------
    pandas.DataFrame
        ``origin``, ``destination`` (int64) and ``trips`` (float64), one row per OD pair, sorted.

    Raises
    ------
    DemandError
        A column is missing, the sample factor is not in (0, 1], or ``period_s`` is not > 0.
    """
    missing = [c for c in ("origin_node", "destination_node") if c not in trips.columns]
    if missing:
        raise DemandError(
            f"the trips table lacks the column(s) {', '.join(missing)}",
            hint="pass the table from cysim.demand.build_trips",
        )
    sample_factor = float(trips.attrs.get("sample_factor", 1.0))
    if not 0 < sample_factor <= 1:
        raise DemandError(f"sample_factor is {sample_factor}; it must be in (0, 1]")
    scale = 1.0 / sample_factor
    if period_s is not None:
        if not period_s > 0:
            raise DemandError(f"period_s is {period_s}; it must be > 0")
        scale *= 3600.0 / period_s
    od = (
        trips.groupby(["origin_node", "destination_node"], sort=True)
        .size()
        .rename("trips")
        .reset_index()
        .rename(columns={"origin_node": "origin", "destination_node": "destination"})
    )
    od["trips"] = od["trips"].astype(float) * scale
    return od.astype({"origin": np.int64, "destination": np.int64})


# --- internals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bpr:
    """BPR parameters as arrays, with the cost, its derivative and its integral."""

    free_flow_time: np.ndarray
    capacity: np.ndarray
    b: np.ndarray
    power: np.ndarray

    @classmethod
    def from_network(cls, network: pd.DataFrame) -> _Bpr:
        missing = [c for c in _REQUIRED_LINK_COLUMNS if c not in network.columns]
        if missing:
            raise MapError(
                f"the link table lacks the column(s) {', '.join(missing)}",
                hint="read it with cysim.network.tntp.read_tntp_network or network_from_graph",
            )
        arrays = {
            c: pd.to_numeric(network[c], errors="coerce").to_numpy(dtype=float)
            for c in ("free_flow_time", "capacity", "b", "power")
        }
        for name, array in arrays.items():
            if not np.isfinite(array).all():
                raise MapError(f"column {name} holds a missing or non-numeric value", key=name)
        checks = (
            ("free_flow_time", arrays["free_flow_time"] < 0, "must be ≥ 0"),
            ("b", arrays["b"] < 0, "must be ≥ 0"),
            ("power", arrays["power"] < 1, "must be ≥ 1"),
            ("capacity", (arrays["capacity"] <= 0) & (arrays["b"] > 0), "must be > 0 when b > 0"),
        )
        for name, bad, rule in checks:
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise MapError(
                    f"link {row} has {name}={arrays[name][row]}; it {rule}", key=f"{name}[{row}]"
                )
        capacity = np.where(arrays["capacity"] > 0, arrays["capacity"], 1.0)
        return cls(arrays["free_flow_time"], capacity, arrays["b"], arrays["power"])

    def cost(self, flow: np.ndarray) -> np.ndarray:
        return self.free_flow_time * (1.0 + self.b * (flow / self.capacity) ** self.power)

    def derivative(self, flow: np.ndarray) -> np.ndarray:
        ratio = flow / self.capacity
        return self.free_flow_time * self.b * self.power / self.capacity * ratio ** (self.power - 1)

    def objective(self, flow: np.ndarray) -> float:
        integral = flow + self.b * self.capacity * (flow / self.capacity) ** (self.power + 1) / (
            self.power + 1
        )
        return float(self.free_flow_time @ integral)


@dataclass(frozen=True)
class _Problem:
    """Graph and OD arrays in the integer form the shortest-path loading needs."""

    n_links: int
    n_nodes: int  # graph nodes, zone origin copies included
    graph_links: np.ndarray  # link indices that are graph edges (self-loops left out)
    link_pair: np.ndarray  # for each graph link, its (tail, head) pair index
    pair_keys: np.ndarray  # sorted tail * n_nodes + head of the distinct pairs
    pair_head: np.ndarray
    indptr: np.ndarray  # CSR row pointers over the pairs
    has_parallel: bool
    origin_nodes: np.ndarray  # graph node of each distinct origin
    od_row: np.ndarray  # per OD pair: index into origin_nodes
    od_dest: np.ndarray  # per OD pair: destination graph node
    od_trips: np.ndarray
    od_ids: np.ndarray  # per OD pair: (origin id, destination id), for messages

    @classmethod
    def build(
        cls, network: pd.DataFrame, trips: pd.DataFrame, first_thru_node: int | None
    ) -> _Problem:
        init = network["init_node"].to_numpy(dtype=np.int64)
        term = network["term_node"].to_numpy(dtype=np.int64)
        node_ids = np.unique(np.concatenate([init, term]))
        n_base = len(node_ids)
        is_zone = (
            node_ids < first_thru_node
            if first_thru_node is not None
            else np.zeros(n_base, dtype=bool)
        )
        # a zone's outgoing links leave from its origin copy, so its own node is a dead end
        out_index = np.arange(n_base, dtype=np.int64)
        out_index[is_zone] = n_base + np.arange(int(is_zone.sum()))
        n_nodes = n_base + int(is_zone.sum())
        tail = out_index[np.searchsorted(node_ids, init)]
        head = np.searchsorted(node_ids, term)
        graph_links = np.flatnonzero(init != term)
        keys = tail[graph_links] * n_nodes + head[graph_links]
        pair_keys, link_pair = np.unique(keys, return_inverse=True)
        pair_tail = pair_keys // n_nodes
        indptr = np.concatenate([[0], np.cumsum(np.bincount(pair_tail, minlength=n_nodes))])

        origin, destination, volume = _od_arrays(trips, node_ids)
        origin_node = out_index[np.searchsorted(node_ids, origin)]
        origin_nodes, od_row = np.unique(origin_node, return_inverse=True)
        by_origin = np.argsort(od_row, kind="stable")  # the loading walks origins in chunks
        origin, destination, volume, od_row = (
            origin[by_origin],
            destination[by_origin],
            volume[by_origin],
            od_row[by_origin],
        )
        return cls(
            n_links=len(network),
            n_nodes=n_nodes,
            graph_links=graph_links,
            link_pair=link_pair,
            pair_keys=pair_keys,
            pair_head=pair_keys % n_nodes,
            indptr=indptr,
            has_parallel=len(pair_keys) < len(graph_links),
            origin_nodes=origin_nodes,
            od_row=od_row,
            od_dest=np.searchsorted(node_ids, destination),
            od_trips=volume,
            od_ids=np.column_stack([origin, destination]),
        )

    def all_or_nothing(self, cost: np.ndarray) -> tuple[np.ndarray, float]:
        """Load every OD pair on its shortest path at ``cost``; return link flows and SPTT."""
        graph_cost = cost[self.graph_links]
        if self.has_parallel:
            # of parallel links keep the cheapest: sort by pair then cost, take each group's first
            order = np.lexsort((graph_cost, self.link_pair))
            group_first = np.ones(len(order), dtype=bool)
            group_first[1:] = self.link_pair[order][1:] != self.link_pair[order][:-1]
            best = order[group_first]
        else:
            best = np.empty(len(self.pair_keys), dtype=np.int64)
            best[self.link_pair] = np.arange(len(self.link_pair))
        pair_link = self.graph_links[best]
        graph = csr_matrix(
            (graph_cost[best], self.pair_head, self.indptr), shape=(self.n_nodes, self.n_nodes)
        )
        flow = np.zeros(self.n_links)
        sptt = 0.0
        # origins in chunks so the distance and predecessor matrices stay near 4e6 entries each
        chunk = max(1, _SHORTEST_PATH_ENTRIES // self.n_nodes)
        for first in range(0, len(self.origin_nodes), chunk):
            last = min(first + chunk, len(self.origin_nodes))
            ods = slice(*np.searchsorted(self.od_row, [first, last]))
            distance, predecessor = dijkstra(
                graph,
                directed=True,
                indices=self.origin_nodes[first:last],
                return_predecessors=True,
            )
            rows = self.od_row[ods] - first
            od_cost = distance[rows, self.od_dest[ods]]
            unreachable = ~np.isfinite(od_cost)
            if unreachable.any():
                o, d = self.od_ids[ods][np.flatnonzero(unreachable)[0]]
                raise DemandError(
                    f"no path from node {o} to node {d} "
                    f"({int(unreachable.sum())} OD pairs of this batch unreachable)",
                    hint="check the network's connectivity and the zone / first-thru-node numbers",
                )
            sptt += float(od_cost @ self.od_trips[ods])
            flow += self._load_trees(
                predecessor, self.origin_nodes[first:last], rows, ods, pair_link
            )
        return flow, sptt

    def _load_trees(
        self,
        predecessor: np.ndarray,
        origin_nodes: np.ndarray,
        rows: np.ndarray,
        ods: slice,
        pair_link: np.ndarray,
    ) -> np.ndarray:
        """Walk every OD load up its origin's shortest-path tree, one hop per vectorised step."""
        flow = np.zeros(self.n_links)
        nodes, volume = self.od_dest[ods], self.od_trips[ods]
        for _ in range(self.n_nodes):
            if rows.size == 0:
                break
            # merge the loads that meet at the same node of the same origin's tree
            merged, inverse = np.unique(rows * self.n_nodes + nodes, return_inverse=True)
            volume = np.bincount(inverse, weights=volume)
            rows, nodes = merged // self.n_nodes, merged % self.n_nodes
            parents = predecessor[rows, nodes]
            pair = np.searchsorted(self.pair_keys, parents * self.n_nodes + nodes)
            flow += np.bincount(pair_link[pair], weights=volume, minlength=self.n_links)
            moving = parents != origin_nodes[rows]
            rows, nodes, volume = rows[moving], parents[moving], volume[moving]
        return flow


def equilibrium_edge_flows(
    G: nx.MultiDiGraph,
    trips: pd.DataFrame,
    period_s: float,
    *,
    relative_gap: float = 1e-3,
    max_iterations: int = 50,
) -> tuple[dict[tuple[int, int, int], float], AssignmentResult]:
    """Hourly flow on every edge of a cysim graph at static user equilibrium of a trips table.

    The screening estimate of a network's flows: Webster signal timing uses it as the baseline's
    approach flows (``cysim validate`` and ``cysim run`` alike), so it needs no earlier simulation.

    Parameters
    ----------
    G
        Road graph (docs/data-model.md §1).
    trips
        Trips table (docs/data-model.md §3) of the demand period.
    period_s
        Length of the demand period, to express flows in veh/h (the unit of ``capacity_vph``).
    relative_gap, max_iterations
        Stopping rule of the bi-conjugate Frank–Wolfe assignment.

    Returns
    -------
    (flows, result)
        ``{(u, v, key): veh/h}`` and the full :class:`AssignmentResult`.
    """
    links = network_from_graph(G)
    od = trips_from_table(trips, period_s=period_s)
    result = assign(links, od, max_iterations=max_iterations, relative_gap=relative_gap)
    keys = zip(links["init_node"], links["term_node"], links["key"], strict=True)
    flows = {
        (int(u), int(v), int(k)): float(f) for (u, v, k), f in zip(keys, result.flow, strict=True)
    }
    return flows, result


def peak_hour_trips(trips: pd.DataFrame, window_s: float = 3600.0) -> pd.DataFrame:
    """The trips departing in the busiest window (the peak hour) of a trips table.

    Windows start every 5 minutes; the first of equally busy windows wins. Signal timing is
    designed for the peak hour, not the average of a longer period.

    Parameters
    ----------
    trips
        Trips table with ``departure_s``; ``attrs`` are kept.
    window_s
        Window length, seconds.

    Returns
    -------
    pandas.DataFrame
        The rows departing in ``[start, start + window_s)``; ``attrs["peak_start_s"]`` is set.
    """
    departures = np.sort(trips["departure_s"].to_numpy(dtype=float))
    if departures.size == 0:
        return trips
    starts = np.arange(departures[0], max(departures[-1] - window_s, departures[0]) + 300.0, 300.0)
    counts = np.searchsorted(departures, starts + window_s) - np.searchsorted(departures, starts)
    start = float(starts[int(np.argmax(counts))])
    in_window = (trips["departure_s"] >= start) & (trips["departure_s"] < start + window_s)
    peak = trips[in_window].copy()
    peak.attrs = {**trips.attrs, "peak_start_s": start}
    return peak


def peak_hour_edge_flows(
    G: nx.MultiDiGraph, trips: pd.DataFrame
) -> tuple[dict[tuple[int, int, int], float], AssignmentResult]:
    """Peak-hour flow (veh/h) on every edge: static equilibrium of the busiest hour's trips.

    Webster signal timing uses it as the baseline's approach flows (``cysim validate`` and
    ``cysim run`` alike). Averaging over a two-hour period would understate the peak and give
    cycles that are too short.
    """
    return equilibrium_edge_flows(G, peak_hour_trips(trips), 3600.0)


def _od_arrays(
    trips: pd.DataFrame, node_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated origin, destination and trips arrays; intrazonal and zero pairs dropped."""
    missing = [c for c in ("origin", "destination", "trips") if c not in trips.columns]
    if missing:
        raise DemandError(
            f"the OD table lacks the column(s) {', '.join(missing)}",
            hint="read it with cysim.network.tntp.read_tntp_trips or cysim.assign.trips_from_table",
        )
    volume = pd.to_numeric(trips["trips"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(volume).all() or (volume < 0).any():
        raise DemandError("the OD table has a missing, non-numeric or negative trips value")
    origin = trips["origin"].to_numpy(dtype=np.int64)
    destination = trips["destination"].to_numpy(dtype=np.int64)
    for name, ids in (("origin", origin), ("destination", destination)):
        unknown = ~np.isin(ids, node_ids)
        if unknown.any():
            raise DemandError(
                f"{name} node {ids[unknown][0]} is not in the network "
                f"({int(unknown.sum())} OD rows affected)",
                key=name,
                hint="zones must be network node ids",
            )
    keep = (volume > 0) & (origin != destination)
    od = (
        pd.DataFrame({"o": origin[keep], "d": destination[keep], "q": volume[keep]})
        .groupby(["o", "d"], sort=True)["q"]
        .sum()
    )
    if od.empty:
        raise DemandError("the OD table has no trips between different nodes")
    return (
        od.index.get_level_values(0).to_numpy(dtype=np.int64),
        od.index.get_level_values(1).to_numpy(dtype=np.int64),
        od.to_numpy(dtype=float),
    )


def _target(
    method: str,
    bpr: _Bpr,
    flow: np.ndarray,
    cost: np.ndarray,
    aon_flow: np.ndarray,
    previous_target: np.ndarray | None,
    older_target: np.ndarray | None,
    previous_step: float,
    older_step: float,
) -> tuple[np.ndarray, str]:
    """The point to move towards, and which direction rule produced it.

    FW moves towards the all-or-nothing flow ``y``. CFW moves towards ``a·s₁ + (1−a)·y`` and BFW
    towards ``β₀·y + β₁·s₁ + β₂·s₂`` (``s₁``, ``s₂`` the previous targets), with weights that make
    the new direction conjugate to the previous one (two) under ``H = diag(t'(x))``. After a full
    step (``τ = 1``) the old targets say nothing and the rule restarts from FW; a combined target
    that does not descend falls back to the simpler rule.
    """
    if method == "fw" or previous_target is None or previous_step >= 1.0:
        return aon_flow, "fw"
    hessian = bpr.derivative(flow)
    fw_direction = aon_flow - flow
    last_direction = previous_target - flow  # parallel to the previous direction
    if method == "bfw" and older_target is not None and older_step < 1.0:
        # Mitradjieva & Lindberg (2013), eq. for μ and ν: the new direction is made conjugate to
        # the one two steps back (μ) and to the last one (ν); negative weights are clipped to 0.
        older_direction = (
            previous_step * previous_target - flow + (1.0 - previous_step) * older_target
        )
        weighted = hessian * older_direction
        denominator = weighted @ (older_target - previous_target)
        mu = max(-(weighted @ fw_direction) / denominator, 0.0) if denominator != 0 else 0.0
        weighted = hessian * last_direction
        denominator = weighted @ last_direction
        if denominator != 0:
            nu = (
                mu * previous_step / (1.0 - previous_step) - (weighted @ fw_direction) / denominator
            )
            nu = max(nu, 0.0)
            beta0 = 1.0 / (1.0 + mu + nu)
            target = beta0 * aon_flow + nu * beta0 * previous_target + mu * beta0 * older_target
            if cost @ (target - flow) < 0:
                return target, "bfw"
    numerator = last_direction @ (hessian * fw_direction)
    denominator = last_direction @ (hessian * (aon_flow - previous_target))
    if denominator != 0:
        weight = min(max(numerator / denominator, 0.0), 1.0 - _CONJUGATE_DELTA)
        if weight > 0:
            target = weight * previous_target + (1.0 - weight) * aon_flow
            if cost @ (target - flow) < 0:
                return target, "cfw"
    return aon_flow, "fw"


def _line_search(bpr: _Bpr, flow: np.ndarray, direction: np.ndarray) -> float:
    """The step in [0, 1] minimising the objective along ``direction`` (bisection on its slope)."""

    def slope(step: float) -> float:
        return float(bpr.cost(np.maximum(flow + step * direction, 0.0)) @ direction)

    if slope(0.0) >= 0.0:
        return 0.0
    if slope(1.0) <= 0.0:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if slope(middle) > 0.0:
            high = middle
        else:
            low = middle
        if high - low < 1e-15:
            break
    return 0.5 * (low + high)
