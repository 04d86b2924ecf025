"""Build the trips table (docs/data-model.md §3) from a demand spec: plan once, realise per seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from .. import settings
from .._errors import DemandError
from . import external
from ._graph import GraphArrays, graph_arrays
from .gravity import FurnessResult, gravity_od, zone_times
from .imports import read_od_csv, read_tntp_od, read_trip_list
from .profile import departure_profile
from .sampling import choose_members, round_preserving_total, sample_share, uniform_departures
from .spec import DemandSpec
from .zones import build_zones

#: Column order of the trips table.
TRIP_COLUMNS = (
    "trip_id",
    "origin_node",
    "destination_node",
    "departure_s",
    "origin_zone",
    "destination_zone",
)


#: Starting total when ``target_tti`` is set without ``trips``: car trips per lane-km of
#: non-motorway road per hour of the period. About a third of an effective signalised lane
#: capacity (≈ 900 veh/h) spread over trips of ≈ 5 km: a lightly loaded start that the search
#: scales up (docs/demand.md).
START_TRIPS_PER_LANE_KM_HOUR = 30.0


def initial_trips_guess(G: nx.MultiDiGraph, duration_s: float) -> int:
    """A lightly loaded starting total for calibration, from the network's lane-km.

    Parameters
    ----------
    G
        The road graph.
    duration_s
        Length of the demand period, seconds.

    Returns
    -------
    int
        ``START_TRIPS_PER_LANE_KM_HOUR × lane-km × hours`` (at least 100).
    """
    lane_km = 0.0
    for _, _, data in G.edges(data=True):
        highway = data.get("highway", "")
        if isinstance(highway, list):
            highway = highway[0] if highway else ""
        if highway in ("motorway", "motorway_link"):
            continue
        lane_km += float(data.get("lanes", 1) or 1) * float(data.get("length_m", 0.0)) / 1000.0
    return max(100, round(START_TRIPS_PER_LANE_KM_HOUR * lane_km * duration_s / 3600.0))


@dataclass
class DemandPlan:
    """Everything about a demand that does not depend on the seed or the total.

    Attributes
    ----------
    source
        Human-readable description of where the demand comes from (``df.attrs["source"]``).
    arrays
        Graph arrays of the network.
    zones
        Zone table, or None when the source needs no zones.
    cells
        Fractional demand: ``origin_zone``, ``destination_zone`` (``""`` = node-level end),
        ``origin_node``, ``destination_node`` (-1 = zone-level end), ``trips`` (float),
        ``start_s``, ``end_s`` (departure interval), or None for a trip list.
    trip_list
        Individual trips read from a trip list (see :func:`cysim.demand.imports.read_trip_list`),
        or None.
    base_total
        Total trips of ``cells`` or ``trip_list`` before any rescaling.
    furness
        The gravity model's balancing result (None for imports).
    zone_time_min, zone_length_km
        Free-flow zone-to-zone times and distances (None when there are no zones).
    external_cells, external_trips
        Fractional external demand at the map's gateways (same layout as ``cells``, summing to
        ``external_trips``), added to whatever total the internal cells are given; None and 0
        without ``demand.external``.
    """

    source: str
    arrays: GraphArrays
    zones: gpd.GeoDataFrame | None
    cells: pd.DataFrame | None
    trip_list: pd.DataFrame | None
    base_total: float
    furness: FurnessResult | None = None
    zone_time_min: np.ndarray | None = None
    zone_length_km: np.ndarray | None = None
    external_cells: pd.DataFrame | None = None
    external_trips: int = 0


def _resolve(path: Path, base_dir: Path | None) -> Path:
    """A path relative to the scenario file's folder."""
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


def plan_demand(
    G: nx.MultiDiGraph,
    spec: DemandSpec,
    *,
    base_dir: Path | None = None,
    duration_s: float | None = None,
    start_time: str | None = None,
) -> DemandPlan:
    """Read or synthesise the fractional demand of ``spec`` (no randomness).

    The internal demand comes from ``spec.od`` (:func:`_plan_internal`); ``spec.external`` adds
    trips at the map's gateways (:mod:`cysim.demand.external`).

    Parameters
    ----------
    G
        The (patched) road graph.
    spec
        The scenario's demand section.
    base_dir
        Folder of the scenario file; relative paths in ``spec`` are relative to it.
    duration_s
        Length of the demand period, seconds.
    start_time
        Clock time of the simulation start, ``HH:MM``.

    Returns
    -------
    DemandPlan

    Raises
    ------
    DemandError
        Bad input files, a gravity model without ``trips`` or ``target_tti``, or external trips
        that cannot be placed.
    """
    duration_s = settings.duration_s if duration_s is None else duration_s
    start_time = settings.start_time if start_time is None else start_time
    profile = departure_profile(
        spec.profile, start_time=start_time, duration_s=duration_s, base_dir=base_dir
    )
    plan = _plan_internal(
        G, spec, profile, base_dir=base_dir, duration_s=duration_s, start_time=start_time
    )
    if spec.external is None:
        return plan
    if plan.cells is None or plan.zones is None:
        raise DemandError(
            f"external trips need zones to start and end in; this demand has none ({spec.source})",
            key="demand.external",
            hint="use gravity or od_csv demand, or put the external trips in the trip list",
        )
    gateways = external.resolve_gateways(G, spec.external)
    cells = external.external_cells(
        G, plan.zones, gateways, float(spec.external.trips), spec.external.through_share
    )
    plan.external_cells = _spread(cells, profile)
    plan.external_trips = int(spec.external.trips)
    plan.source = f"{plan.source}; {external.describe(spec.external, gateways)}"
    return plan


def _plan_internal(
    G: nx.MultiDiGraph,
    spec: DemandSpec,
    profile: pd.DataFrame,
    *,
    base_dir: Path | None = None,
    duration_s: float | None = None,
    start_time: str | None = None,
) -> DemandPlan:
    """The demand of ``spec.od`` alone, departures spread over ``profile``.

    ``profile`` comes from :func:`cysim.demand.profile.departure_profile`; other parameters,
    result and errors as :func:`plan_demand`.
    """
    duration_s = settings.duration_s if duration_s is None else duration_s
    start_time = settings.start_time if start_time is None else start_time
    arrays = graph_arrays(G)
    crs = G.graph.get("crs", settings.projected_crs)
    source = spec.source

    def zones() -> gpd.GeoDataFrame:
        table, _ = build_zones(G, spec.zones, base_dir, arrays)
        return table

    if source == "gravity":
        gravity = spec.od.gravity
        assert gravity is not None
        if spec.trips is None and spec.target_tti is None:
            raise DemandError(
                "a gravity demand needs its size",
                key="demand.trips",
                hint="set demand.trips (car trips in the period) or demand.target_tti",
            )
        table = zones()
        if len(table) < 2:
            raise DemandError(
                f"the gravity model needs at least 2 zones, the zone system has {len(table)}",
                key="demand.zones",
                hint="use smaller grid cells or more junction clusters",
            )
        time_min, length_km = zone_times(arrays, table)
        base_total = float(spec.trips or initial_trips_guess(G, duration_s))
        result = gravity_od(
            table["production_weight"].to_numpy(),
            table["attraction_weight"].to_numpy(),
            time_min,
            gravity,
            base_total,
        )
        Z = len(table)
        i, j = np.nonzero(result.matrix > 0)
        ids = table["zone"].to_numpy(dtype=object)
        cells = pd.DataFrame(
            {
                "origin_zone": ids[i],
                "destination_zone": ids[j],
                "origin_node": np.full(len(i), -1, dtype=np.int64),
                "destination_node": np.full(len(i), -1, dtype=np.int64),
                "trips": result.matrix[i, j],
                "start_s": np.nan,
                "end_s": np.nan,
            }
        )
        detail = (
            f"{gravity.deterrence} deterrence"
            + (f" beta={gravity.beta_per_min}/min" if gravity.deterrence == "exponential" else "")
            + f", {Z} zones ({spec.zones.kind}), Furness {result.iterations} iterations"
        )
        return DemandPlan(
            source=f"gravity: {detail}",
            arrays=arrays,
            zones=table,
            cells=_spread(cells, profile),
            trip_list=None,
            base_total=base_total,
            furness=result,
            zone_time_min=time_min,
            zone_length_km=length_km,
        )

    if source == "od_csv":
        od_spec = spec.od.od_csv
        assert od_spec is not None
        path = _resolve(od_spec.file, base_dir)
        table = zones()
        od = read_od_csv(path, set(table["zone"]), start_time)
        od["origin_node"] = np.int64(-1)
        od["destination_node"] = np.int64(-1)
        _check_slices(od, duration_s, path)
        return _import_plan(f"od_csv: {path}", arrays, table, od, profile, path)

    if source == "tntp_trips":
        tntp = spec.od.tntp_trips
        assert tntp is not None
        path = _resolve(tntp.file, base_dir)
        node_map = _resolve(tntp.node_map, base_dir) if tntp.node_map is not None else None
        table = zones() if tntp.match == "zones" and node_map is None else None
        od = read_tntp_od(
            path,
            match=tntp.match,
            node_map=node_map,
            zone_ids=set(table["zone"]) if table is not None else set(),
            arrays=arrays,
        )
        return _import_plan(f"tntp_trips: {path}", arrays, table, od, profile, path)

    trips_spec = spec.od.trips_csv
    assert trips_spec is not None
    path = _resolve(trips_spec.file, base_dir)
    if spec.trips is not None or spec.target_tti is not None:
        raise DemandError(
            "a trip list fixes every trip: demand.trips and demand.target_tti cannot rescale it",
            key="demand.trips",
            hint="remove demand.trips/target_tti, or use sample_factor to simulate a share",
        )
    built: list[gpd.GeoDataFrame] = []

    def zone_ids() -> set[str]:
        built.append(zones())
        return set(built[0]["zone"])

    trip_list = read_trip_list(
        path,
        zone_ids=zone_ids,
        arrays=arrays,
        crs=crs,
        start_time=start_time,
        duration_s=duration_s,
        max_snap_m=trips_spec.max_snap_m,
    )
    table = built[0] if built else None
    if trip_list.empty:
        raise DemandError("the trip list has no trips", file=path)
    return DemandPlan(
        source=f"trips_csv: {path}",
        arrays=arrays,
        zones=table,
        cells=None,
        trip_list=trip_list,
        base_total=float(len(trip_list)),
    )


def _check_slices(od: pd.DataFrame, duration_s: float, path: Path) -> None:
    """OD slices must lie inside the simulated period."""
    sliced = od["start_s"].notna()
    outside = sliced & ((od["start_s"] < 0) | (od["end_s"] > duration_s + 1e-9))
    if outside.any():
        row = od[outside].iloc[0]
        raise DemandError(
            f"a time slice of {row['origin_zone']}->{row['destination_zone']} lies outside the "
            f"simulated period ({row['start_s'] / 60:+.0f} to {row['end_s'] / 60:+.0f} min)",
            file=path,
            hint="check simulation.start_time and duration_s against the slices",
        )


def _import_plan(
    source: str,
    arrays: GraphArrays,
    zones: gpd.GeoDataFrame | None,
    od: pd.DataFrame,
    profile: pd.DataFrame,
    path: Path,
) -> DemandPlan:
    """A plan from an imported fractional OD table."""
    cells = _spread(od, profile)
    cells = cells[cells["trips"] > 0].reset_index(drop=True)
    total = float(cells["trips"].sum())
    if total <= 0:
        raise DemandError("the OD input has no trips", file=path)
    time_min = length_km = None
    if zones is not None:
        time_min, length_km = zone_times(arrays, zones)
    return DemandPlan(
        source=source,
        arrays=arrays,
        zones=zones,
        cells=cells,
        trip_list=None,
        base_total=total,
        zone_time_min=time_min,
        zone_length_km=length_km,
    )


def _spread(cells: pd.DataFrame, profile: pd.DataFrame) -> pd.DataFrame:
    """Split rows without a time slice over the profile intervals by their shares."""
    timed = cells[cells["start_s"].notna()]
    untimed = cells[cells["start_s"].isna()].drop(columns=["start_s", "end_s"])
    if untimed.empty:
        return timed.reset_index(drop=True)
    k = len(profile)
    spread = untimed.loc[untimed.index.repeat(k)].reset_index(drop=True)
    spread["start_s"] = np.tile(profile["start_s"].to_numpy(), len(untimed))
    spread["end_s"] = np.tile(profile["end_s"].to_numpy(), len(untimed))
    spread["trips"] = spread["trips"].to_numpy() * np.tile(
        profile["share"].to_numpy(), len(untimed)
    )
    return pd.concat([timed, spread[timed.columns]], ignore_index=True) if len(timed) else spread


def realise_trips(
    plan: DemandPlan, *, total_trips: int | None, seed: int, sample_factor: float = 1.0
) -> pd.DataFrame:
    """Draw the integer trips of a plan: rounding, trip-end junctions, departures, sampling.

    Parameters
    ----------
    plan
        From :func:`plan_demand`.
    total_trips
        Total car trips of the full demand; None keeps the plan's own total (rounded).
    seed
        Seed of every random draw.
    sample_factor
        Share of trips kept for a quick run, in (0, 1].

    Returns
    -------
    pandas.DataFrame
        The trips table (docs/data-model.md §3) with ``attrs`` ``sample_factor``, ``source``,
        ``seed`` and ``full_demand_trips`` (trips before sampling).
    """
    rng = np.random.default_rng(seed)
    if plan.trip_list is not None:
        trips = plan.trip_list.drop(columns=["line"]).copy()
    else:
        assert plan.cells is not None
        cells = plan.cells
        total = round(plan.base_total) if total_trips is None else int(total_trips)
        weights = cells["trips"].to_numpy(dtype=float)
        if plan.external_cells is not None:
            # the internal cells are scaled to their total, then the external trips are added
            weights = np.concatenate(
                [weights * total / weights.sum(), plan.external_cells["trips"].to_numpy()]
            )
            cells = pd.concat([cells, plan.external_cells[cells.columns]], ignore_index=True)
            total += plan.external_trips
        counts = round_preserving_total(weights, total, rng)
        rows = np.repeat(np.arange(len(cells)), counts)
        picked = cells.iloc[rows]
        trips = pd.DataFrame(
            {
                "origin_zone": picked["origin_zone"].to_numpy(),
                "destination_zone": picked["destination_zone"].to_numpy(),
                "origin_node": picked["origin_node"].to_numpy(dtype=np.int64),
                "destination_node": picked["destination_node"].to_numpy(dtype=np.int64),
                "departure_s": uniform_departures(
                    picked["start_s"].to_numpy(), picked["end_s"].to_numpy(), rng
                ),
            }
        )
    _choose_connectors(trips, plan, rng)
    _separate_ends(trips, plan.arrays)
    full = len(trips)
    kept = sample_share(full, sample_factor, rng)
    trips = trips.iloc[kept]
    order = np.lexsort((np.arange(len(trips)), trips["departure_s"].to_numpy()))
    trips = trips.iloc[order].reset_index(drop=True)
    trips.insert(0, "trip_id", np.arange(len(trips), dtype=np.int64))
    table = trips.astype(
        {
            "trip_id": "int64",
            "origin_node": "int64",
            "destination_node": "int64",
            "departure_s": "float64",
            "origin_zone": str,
            "destination_zone": str,
        }
    )[list(TRIP_COLUMNS)]
    table.attrs["sample_factor"] = float(sample_factor)
    table.attrs["source"] = plan.source
    table.attrs["seed"] = int(seed)
    table.attrs["full_demand_trips"] = int(full)
    return table


def _choose_connectors(trips: pd.DataFrame, plan: DemandPlan, rng: np.random.Generator) -> None:
    """Pick a connector junction for every zone-level trip end (in place, seeded)."""
    for end in ("origin", "destination"):
        node_col, zone_col = f"{end}_node", f"{end}_zone"
        todo = np.flatnonzero(trips[node_col].to_numpy() < 0)
        if len(todo) == 0:
            continue
        assert plan.zones is not None
        position = {z: i for i, z in enumerate(plan.zones["zone"])}
        groups = np.array([position[z] for z in trips[zone_col].to_numpy()[todo]], dtype=np.int64)
        chosen = choose_members(groups, list(plan.zones["connectors"]), rng)
        values = trips[node_col].to_numpy().copy()
        values[todo] = chosen
        trips[node_col] = values


def _separate_ends(trips: pd.DataFrame, arrays: GraphArrays) -> None:
    """Move a destination that equals its origin to the nearest other trip-end junction.

    Happens when two zones share a connector, or for intra-node TNTP demand; deterministic.
    """
    same = np.flatnonzero(trips["origin_node"].to_numpy() == trips["destination_node"].to_numpy())
    if len(same) == 0:
        return
    alternative = _nearest_other_access(arrays)
    values = trips["destination_node"].to_numpy().copy()
    values[same] = [alternative[int(n)] for n in values[same]]
    trips["destination_node"] = values


def _nearest_other_access(arrays: GraphArrays) -> dict[int, int]:
    """For every node, the nearest trip-end junction other than itself."""
    tree, tree_index = arrays.access_tree()
    k = min(2, len(tree_index))
    _, positions = tree.query(np.column_stack([arrays.x, arrays.y]), k=k)
    positions = positions.reshape(len(arrays.nodes), k)
    out = {}
    for i, node in enumerate(arrays.nodes):
        candidates = [int(arrays.nodes[tree_index[p]]) for p in positions[i]]
        others = [c for c in candidates if c != int(node)]
        out[int(node)] = others[0] if others else int(node)
    return out


def build_trips(
    G: nx.MultiDiGraph,
    spec: DemandSpec,
    *,
    seed: int,
    base_dir: Path | None = None,
    duration_s: float | None = None,
    start_time: str | None = None,
) -> pd.DataFrame:
    """Build the trips table of a scenario's demand.

    Parameters
    ----------
    G
        The (patched) road graph (docs/data-model.md §1).
    spec
        The scenario's ``demand:`` section. ``target_tti`` must be resolved first: run
        :func:`cysim.demand.calibrate_trips` once, then build every replication from
        ``spec.model_copy(update={"trips": log.attrs["chosen_trips"], "target_tti": None})``.
    seed
        Seed of every random draw: same inputs and seed give an identical table.
    base_dir
        Folder of the scenario file; relative paths in ``spec`` are relative to it.
    duration_s
        Length of the demand period (``simulation.duration_s``), seconds.
    start_time
        Simulation start clock time (``simulation.start_time``), ``HH:MM``.

    Returns
    -------
    pandas.DataFrame
        ``trip_id``, ``origin_node``, ``destination_node``, ``departure_s``, ``origin_zone``,
        ``destination_zone``, sorted by departure; ``attrs["sample_factor"]`` and
        ``attrs["source"]``.

    Raises
    ------
    DemandError
        Invalid demand input (the message names the file, row and fix), or ``target_tti`` is
        set (the total is not known until calibrated).
    """
    duration_s = settings.duration_s if duration_s is None else duration_s
    start_time = settings.start_time if start_time is None else start_time
    if spec.target_tti is not None:
        raise DemandError(
            f"demand.target_tti={spec.target_tti} must be calibrated before trips can be built",
            key="demand.target_tti",
            hint="call cysim.demand.calibrate_trips (it runs the engine), then build with the "
            "chosen total as demand.trips; or replace target_tti by trips",
        )
    plan = plan_demand(G, spec, base_dir=base_dir, duration_s=duration_s, start_time=start_time)
    total = spec.trips if plan.cells is not None else None
    return realise_trips(plan, total_trips=total, seed=seed, sample_factor=spec.sample_factor)
