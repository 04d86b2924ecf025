"""Zones: from a polygon file, a square grid or junction clusters, each with connector nodes."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.cluster.vq import kmeans2

from .. import settings
from .._errors import DemandError
from ._graph import GraphArrays, graph_arrays
from .spec import DemandSpec, ZonesSpec

#: Seed of the junction clustering: the zone system is part of the scenario, not of a replication,
#: so it must not change with the simulation seed.
CLUSTER_SEED = 20210204

#: Productions weight per lane-km by road class (network-derived weights, docs/demand.md):
#: homes sit mostly along branch and residential streets.
PRODUCTION_WEIGHT_PER_LANE_KM = {
    "residential": 1.0,
    "living_street": 1.0,
    "unclassified": 1.0,
    "tertiary": 1.0,
    "secondary": 0.5,
    "primary": 0.3,
}
#: Attractions weight per lane-km by road class: jobs, shops and schools front arterials.
ATTRACTION_WEIGHT_PER_LANE_KM = {
    "primary": 1.0,
    "secondary": 1.0,
    "tertiary": 0.5,
    "residential": 0.2,
    "living_street": 0.2,
    "unclassified": 0.2,
}
#: Attraction weight of one signalised junction, in lane-km equivalents (signals mark centres).
ATTRACTION_WEIGHT_PER_SIGNAL = 0.5


def zone_table(
    G: nx.MultiDiGraph,
    spec: DemandSpec | ZonesSpec,
    base_dir: Path | None = None,
    *,
    arrays: GraphArrays | None = None,
) -> gpd.GeoDataFrame:
    """Build the zone table of a scenario.

    Parameters
    ----------
    G
        Projected road graph (docs/data-model.md §1).
    spec
        The demand spec, or just its ``zones`` section.
    base_dir
        Folder that relative zone-file paths are relative to (the scenario file's folder).
    arrays
        Precomputed :func:`cysim.demand._graph.graph_arrays` of ``G`` (optional, saves time).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per zone, in the graph's CRS: ``zone`` (str id), ``geometry`` (polygon),
        ``population`` and ``jobs`` (float; NaN when the zone file has none), ``production_weight``
        and ``attraction_weight`` (float ≥ 0: population/jobs when given, else network-derived),
        ``connectors`` (list of node ids where the zone's trips start and end), ``connector_dist_m``
        (distance of the farthest connector from the zone centroid), ``centroid_x``, ``centroid_y``.

    Raises
    ------
    DemandError
        The zone file is missing, unreadable, lacks the id column, has duplicate ids, or no zone
        could be connected to the network.
    """
    zones_spec = spec.zones if isinstance(spec, DemandSpec) else spec
    arrays = arrays if arrays is not None else graph_arrays(G)
    zones, _ = build_zones(G, zones_spec, base_dir, arrays)
    return zones


def build_zones(
    G: nx.MultiDiGraph, zones_spec: ZonesSpec, base_dir: Path | None, arrays: GraphArrays
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The zone table (see :func:`zone_table`) and the zone id of every node (``""`` if none).

    The second array is aligned with ``arrays.nodes``.
    """
    crs = G.graph.get("crs", settings.projected_crs)
    if not arrays.access.any():
        raise DemandError(
            "no junction of the network can serve as a trip end (all are on motorway/trunk/link "
            "roads or lack in- or out-going edges)",
            hint="check the map: trips need local or arterial roads",
        )
    if zones_spec.kind == "file":
        zones, node_zone = _zones_from_file(zones_spec, base_dir, arrays, crs)
    elif zones_spec.kind == "grid":
        zones, node_zone = _zones_from_grid(float(zones_spec.grid_m or 0), arrays, crs)
    else:
        zones, node_zone = _zones_from_clusters(int(zones_spec.junction_clusters or 0), arrays, crs)
    zones = _add_connectors(zones, node_zone, arrays, zones_spec.connectors_per_zone)
    weights = _network_weights(G, arrays, node_zone, zones["zone"].tolist())
    zones["production_weight"] = np.where(
        zones["population"].notna(), zones["population"].fillna(0.0), weights["production"]
    )
    zones["attraction_weight"] = np.where(
        zones["jobs"].notna(), zones["jobs"].fillna(0.0), weights["attraction"]
    )
    return zones.reset_index(drop=True), node_zone


def _zones_from_file(
    spec: ZonesSpec, base_dir: Path | None, arrays: GraphArrays, crs: str
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Zones read from a polygon file; each node belongs to the zone that contains it."""
    path = Path(spec.file or "")
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise DemandError(
            "zone file not found", file=path, key="demand.zones.file", hint="check the path"
        )
    try:
        raw = gpd.read_file(path)
    except Exception as error:  # pyogrio raises several types for unreadable files
        raise DemandError(
            f"cannot read the zone file: {error}",
            file=path,
            hint="use GeoJSON, GeoPackage or Shapefile with polygon features",
        ) from error
    if spec.id_column not in raw.columns:
        raise DemandError(
            f"the zone file has no column {spec.id_column!r} (columns: "
            f"{', '.join(c for c in raw.columns if c != 'geometry')})",
            file=path,
            key="demand.zones.id_column",
            hint="set demand.zones.id_column to the column holding zone ids",
        )
    if raw.crs is None:
        raise DemandError(
            "the zone file has no coordinate reference system",
            file=path,
            hint="save it with a CRS (GeoJSON is always WGS84 / EPSG:4326)",
        )
    ids = raw[spec.id_column].astype(str)
    duplicated = ids[ids.duplicated()].unique().tolist()
    if duplicated:
        raise DemandError(
            f"duplicate zone ids: {', '.join(duplicated[:5])}",
            file=path,
            key=f"demand.zones.{spec.id_column}",
            hint="give every zone a unique id",
        )
    kinds = set(raw.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise DemandError(
            f"zones must be polygons, found {', '.join(sorted(kinds))}",
            file=path,
            hint="draw each zone as a polygon",
        )
    projected = raw.to_crs(crs)
    zones = gpd.GeoDataFrame(
        {
            "zone": ids.to_numpy(),
            "population": _optional_numeric(raw, spec.population_column, path),
            "jobs": _optional_numeric(raw, spec.jobs_column, path),
        },
        geometry=projected.geometry.to_numpy(),
        crs=crs,
    )
    points = gpd.GeoDataFrame(
        {"node_index": np.arange(len(arrays.nodes))},
        geometry=gpd.points_from_xy(arrays.x, arrays.y),
        crs=crs,
    )
    joined = gpd.sjoin(points, zones[["zone", "geometry"]], how="left", predicate="within")
    # A node on a shared boundary may match two zones: keep the first, in file order.
    joined = joined[~joined.index.duplicated(keep="first")].sort_index()
    node_zone = joined["zone"].fillna("").astype(str).to_numpy()
    return zones, node_zone


def _optional_numeric(raw: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """A numeric column of the zone file, or NaNs when the file has no such column."""
    if column not in raw.columns:
        return np.full(len(raw), np.nan)
    values = pd.to_numeric(raw[column], errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DemandError(
            f"zone {raw.iloc[row].get('id', row)!r} has {column}={raw[column].iloc[row]!r}",
            file=path,
            key=column,
            hint=f"give every zone a non-negative number in {column!r} or drop the column",
        )
    return values.to_numpy(dtype=float)


def _zones_from_grid(
    size_m: float, arrays: GraphArrays, crs: str
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Square cells; cells without a trip-end junction are dropped.

    Cells are anchored at multiples of ``size_m`` in the projected CRS, not at the network's
    extent, so a patch that adds a road beyond the map's edge does not renumber every zone. A
    cell's id is its south-west corner in km: ``E266N4018`` (easting 266 km, northing 4018 km).
    """
    col = np.floor(arrays.x / size_m).astype(np.int64)
    row = np.floor(arrays.y / size_m).astype(np.int64)

    def name(r: int, c: int) -> str:
        return f"E{c * size_m / 1000:g}N{r * size_m / 1000:g}"

    cells = sorted({(int(r), int(c)) for r, c, a in zip(row, col, arrays.access, strict=True) if a})
    names = [name(r, c) for r, c in cells]
    boxes = [
        shapely.box(c * size_m, r * size_m, (c + 1) * size_m, (r + 1) * size_m) for r, c in cells
    ]
    zones = gpd.GeoDataFrame(
        {"zone": names, "population": np.nan, "jobs": np.nan}, geometry=boxes, crs=crs
    )
    kept = set(cells)
    node_zone = np.array(
        [
            name(int(r), int(c)) if (int(r), int(c)) in kept else ""
            for r, c in zip(row, col, strict=True)
        ]
    )
    return zones, node_zone


def _zones_from_clusters(
    k: int, arrays: GraphArrays, crs: str
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """k-means clusters of trip-end junctions (seeded); zone polygons are the clusters' hulls."""
    access = np.flatnonzero(arrays.access)
    if k > len(access):
        raise DemandError(
            f"{k} junction clusters requested but only {len(access)} junctions can be trip ends",
            key="demand.zones.junction_clusters",
            hint=f"use at most {len(access)} clusters",
        )
    points = np.column_stack([arrays.x[access], arrays.y[access]])
    centre = points.mean(axis=0)
    _, labels = kmeans2(
        points - centre, k, seed=np.random.default_rng(CLUSTER_SEED), minit="++", iter=50
    )
    present = np.unique(labels)
    width = len(str(k))
    names = {int(label): f"k{i:0{width}d}" for i, label in enumerate(present)}
    geoms = []
    for label in present:
        members = points[labels == label]
        hull = shapely.convex_hull(shapely.multipoints(members))
        # Buffer so single junctions and collinear clusters still have an area.
        geoms.append(hull.buffer(100.0))
    zones = gpd.GeoDataFrame(
        {"zone": [names[int(label)] for label in present], "population": np.nan, "jobs": np.nan},
        geometry=geoms,
        crs=crs,
    )
    node_zone = np.full(len(arrays.nodes), "", dtype=object)
    node_zone[access] = [names[int(label)] for label in labels]
    # Non-access junctions belong to the zone of their nearest cluster centre (for weights).
    others = np.flatnonzero(~arrays.access)
    if len(others):
        centres = np.array([points[labels == label].mean(axis=0) for label in present])
        xy = np.column_stack([arrays.x[others], arrays.y[others]])
        nearest = np.argmin(((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1)
        node_zone[others] = [names[int(present[i])] for i in nearest]
    return zones, node_zone.astype(str)


def _add_connectors(
    zones: gpd.GeoDataFrame, node_zone: np.ndarray, arrays: GraphArrays, per_zone: int
) -> gpd.GeoDataFrame:
    """Attach up to ``per_zone`` trip-end junctions nearest each zone's centroid.

    A zone containing no trip-end junction (possible with a zone file) is connected to the
    nearest trip-end junctions outside it; ``connector_dist_m`` shows how far that is.
    """
    zones = zones.copy()
    centroids = zones.geometry.centroid
    zones["centroid_x"] = centroids.x.to_numpy()
    zones["centroid_y"] = centroids.y.to_numpy()
    tree, tree_index = arrays.access_tree()
    connectors: list[list[int]] = []
    distances: list[float] = []
    for zone, cx, cy in zip(zones["zone"], zones["centroid_x"], zones["centroid_y"], strict=True):
        inside = np.flatnonzero((node_zone == zone) & arrays.access)
        if len(inside) == 0:
            k = min(per_zone, len(tree_index))
            dist, pos = tree.query([cx, cy], k=k)
            chosen = tree_index[np.atleast_1d(pos)]
            dist = np.atleast_1d(dist)
        else:
            dist = np.hypot(arrays.x[inside] - cx, arrays.y[inside] - cy)
            order = np.lexsort((arrays.nodes[inside], dist))[:per_zone]
            chosen, dist = inside[order], dist[order]
        connectors.append([int(n) for n in arrays.nodes[chosen]])
        distances.append(float(np.max(dist)))
    zones["connectors"] = connectors
    zones["connector_dist_m"] = distances
    return zones


def _network_weights(
    G: nx.MultiDiGraph, arrays: GraphArrays, node_zone: np.ndarray, zone_ids: list[str]
) -> pd.DataFrame:
    """Network-derived production and attraction weights per zone (docs/demand.md).

    Each edge's lane-km is split half to the zone of each end node, weighted by road class;
    every signalised junction adds to its zone's attractions. A tiny floor keeps every zone able
    to send and receive trips.
    """
    index = arrays.index_of()
    position = {zone: i for i, zone in enumerate(zone_ids)}
    production = np.zeros(len(zone_ids))
    attraction = np.zeros(len(zone_ids))
    for u, v, data in G.edges(data=True):
        highway = data.get("highway", "")
        if isinstance(highway, list):
            highway = highway[0] if highway else ""
        lane_km = float(data.get("lanes", 1) or 1) * float(data.get("length_m", 0.0)) / 1000.0
        for node in (u, v):
            zone = position.get(str(node_zone[index[int(node)]]))
            if zone is None:
                continue
            production[zone] += 0.5 * lane_km * PRODUCTION_WEIGHT_PER_LANE_KM.get(highway, 0.0)
            attraction[zone] += 0.5 * lane_km * ATTRACTION_WEIGHT_PER_LANE_KM.get(highway, 0.0)
    for node, data in G.nodes(data=True):
        zone = position.get(str(node_zone[index[int(node)]]))
        if zone is not None and bool(data.get("signal", False)):
            attraction[zone] += ATTRACTION_WEIGHT_PER_SIGNAL
    floor = 1e-3 * max(production.max(initial=0.0), attraction.max(initial=0.0), 1.0)
    return pd.DataFrame(
        {"production": np.maximum(production, floor), "attraction": np.maximum(attraction, floor)}
    )
