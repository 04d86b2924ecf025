"""Read planners' demand files: long-form OD CSV, trip-list CSV and TNTP trips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

from .. import settings
from .._errors import DemandError
from ..network.tntp import read_tntp_trips
from ._graph import GraphArrays
from .profile import clock_seconds, parse_slice

#: Line number in a CSV file of data row ``i`` (0-based): the header is line 1.
_FIRST_DATA_LINE = 2


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV as strings, keeping blank lines so row positions map to file lines."""
    if not path.is_file():
        raise DemandError(f"{what} not found", file=path, hint="check the path in demand.od")
    try:
        raw = pd.read_csv(
            path, dtype=str, skipinitialspace=True, skip_blank_lines=False, encoding="utf-8-sig"
        )
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DemandError(f"cannot read the {what}: {error}", file=path) from error
    if not isinstance(raw.index, pd.RangeIndex):
        # More fields than header names: pandas silently turns the first column into the index.
        _raise_long_row(path, what, len(raw.columns))
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw.dropna(how="all")


def _raise_long_row(path: Path, what: str, n_columns: int) -> None:
    """Name the first line of ``path`` with more fields than its header has columns."""
    import csv

    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line_no, fields in enumerate(csv.reader(handle), start=1):
            if line_no > 1 and len(fields) > n_columns:
                raise DemandError(
                    f"the {what} row has {len(fields)} fields but the header names {n_columns}",
                    file=path,
                    line=line_no,
                    hint="quote values that contain commas, or add the missing header name",
                )
    raise DemandError(f"the {what} has rows longer than its header", file=path)


def _require(raw: pd.DataFrame, columns: tuple[str, ...], path: Path, hint: str) -> None:
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise DemandError(
            f"missing column(s) {', '.join(missing)} (found: {', '.join(raw.columns)})",
            file=path,
            line=1,
            hint=hint,
        )


def _text(value: object) -> str:
    """A CSV cell as stripped text, ``""`` for empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def read_od_csv(path: Path, zone_ids: set[str], start_time: str) -> pd.DataFrame:
    """Read a long-form OD matrix ``origin,destination,trips[,slice]`` of zone ids.

    Parameters
    ----------
    path
        The CSV file.
    zone_ids
        Ids of the scenario's zones; every origin and destination must be one of them.
    start_time
        Simulation start ``HH:MM``; slices like ``07:00-07:30`` become seconds after it.

    Returns
    -------
    pandas.DataFrame
        ``origin_zone``, ``destination_zone`` (str), ``trips`` (float), ``start_s`` and ``end_s``
        (the slice; NaN when the row has none and the departure profile applies).

    Raises
    ------
    DemandError
        Naming the file and line: missing columns, unknown zones, bad or negative trips, bad slice.
    """
    raw = _read_csv(path, "OD CSV")
    _require(
        raw,
        ("origin", "destination", "trips"),
        path,
        "columns are origin,destination,trips[,slice] with zone ids, e.g. r01c02,r03c04,12.5",
    )
    has_slice = "slice" in raw.columns
    records = []
    for position, row in zip(raw.index, raw.to_dict("records"), strict=True):
        line = int(position) + _FIRST_DATA_LINE
        origin, destination = _text(row["origin"]), _text(row["destination"])
        for role, zone in (("origin", origin), ("destination", destination)):
            if zone not in zone_ids:
                raise DemandError(
                    f"unknown {role} zone {zone!r}",
                    file=path,
                    line=line,
                    hint=_zone_hint(zone_ids),
                )
        try:
            trips = float(_text(row["trips"]))
        except ValueError:
            trips = float("nan")
        if not np.isfinite(trips) or trips < 0:
            raise DemandError(
                f"trips must be a non-negative number, got {_text(row['trips'])!r}",
                file=path,
                line=line,
            )
        start_s = end_s = float("nan")
        if has_slice and _text(row["slice"]):
            try:
                start_s, end_s = parse_slice(_text(row["slice"]), start_time)
            except ValueError as error:
                raise DemandError(
                    str(error), file=path, line=line, hint="write slices as HH:MM-HH:MM"
                ) from None
        records.append((origin, destination, trips, start_s, end_s))
    return pd.DataFrame(
        records, columns=["origin_zone", "destination_zone", "trips", "start_s", "end_s"]
    )


def _zone_hint(zone_ids: set[str]) -> str:
    sample = ", ".join(sorted(zone_ids)[:6])
    return f"use ids of the scenario's zones (demand.zones), e.g. {sample}"


def read_trip_list(
    path: Path,
    *,
    zone_ids: Callable[[], set[str]],
    arrays: GraphArrays,
    crs: str,
    start_time: str,
    duration_s: float,
    max_snap_m: float,
) -> pd.DataFrame:
    """Read a trip list: one row per trip, ends as zone id, node id or lon/lat.

    Each end is taken from the first non-empty of ``<end>_zone``, ``<end>_node`` and the pair
    ``<end>_lon``/``<end>_lat`` (``<end>`` = ``origin`` or ``destination``); departure from
    ``departure`` (clock time ``HH:MM[:SS]`` or seconds after the start) or ``departure_s``.

    Parameters
    ----------
    path
        The CSV file.
    zone_ids
        Returns the ids of the scenario's zones; called only when the list names zones, so a
        node- or coordinate-level list needs no zone system.
    arrays
        Graph arrays; coordinates snap to the nearest trip-end junction.
    crs
        The graph's projected CRS.
    start_time
        Simulation start ``HH:MM``.
    duration_s
        Length of the demand period; departures must fall in ``[0, duration_s)``.
    max_snap_m
        Coordinates farther than this from every trip-end junction are an error.

    Returns
    -------
    pandas.DataFrame
        ``origin_zone``, ``destination_zone`` (str, ``""`` for node-level ends), ``origin_node``,
        ``destination_node`` (int64, -1 where a zone's connector is still to be chosen),
        ``departure_s`` (float), ``line`` (the CSV line, for later messages).

    Raises
    ------
    DemandError
        Naming the file and line: no usable end columns, unknown zone or node, coordinates off
        the map, bad or out-of-period departure.
    """
    raw = _read_csv(path, "trip list CSV")
    departure_column = next((c for c in ("departure", "departure_s") if c in raw.columns), None)
    if departure_column is None:
        raise DemandError(
            "the trip list has no 'departure' column",
            file=path,
            line=1,
            hint="add departure as HH:MM[:SS] or seconds after the simulation start",
        )
    for end in ("origin", "destination"):
        if not any(c in raw.columns for c in (f"{end}_zone", f"{end}_node", f"{end}_lon")):
            raise DemandError(
                f"the trip list has no {end} column",
                file=path,
                line=1,
                hint=f"give {end}_zone, {end}_node or {end}_lon and {end}_lat",
            )
    uses_zones = any(f"{end}_zone" in raw.columns for end in ("origin", "destination"))
    known_zones = zone_ids() if uses_zones else set()
    node_ids = set(arrays.nodes.tolist())
    tree, tree_index = arrays.access_tree()
    to_projected = Transformer.from_crs(settings.geographic_crs, crs, always_xy=True)
    origin_clock = clock_seconds(start_time)
    records = []
    for position, row in zip(raw.index, raw.to_dict("records"), strict=True):
        line = int(position) + _FIRST_DATA_LINE
        ends: list[tuple[str, int]] = []
        for end in ("origin", "destination"):
            zone = _text(row.get(f"{end}_zone"))
            node_text = _text(row.get(f"{end}_node"))
            lon_text, lat_text = _text(row.get(f"{end}_lon")), _text(row.get(f"{end}_lat"))
            if zone:
                if zone not in known_zones:
                    raise DemandError(
                        f"unknown {end} zone {zone!r}",
                        file=path,
                        line=line,
                        hint=_zone_hint(known_zones),
                    )
                ends.append((zone, -1))
            elif node_text:
                try:
                    node = int(float(node_text))
                except ValueError:
                    node = None
                if node is None or node not in node_ids:
                    raise DemandError(
                        f"{end} node {node_text!r} is not a node of the road graph",
                        file=path,
                        line=line,
                        hint="use node ids of the loaded map (cysim map info), or lon/lat",
                    )
                ends.append(("", node))
            elif lon_text and lat_text:
                ends.append(
                    (
                        "",
                        _snap(
                            lon_text,
                            lat_text,
                            end,
                            path,
                            line,
                            to_projected,
                            tree,
                            tree_index,
                            arrays,
                            max_snap_m,
                        ),
                    )
                )
            else:
                raise DemandError(
                    f"row gives no {end}",
                    file=path,
                    line=line,
                    hint=f"fill {end}_zone, {end}_node or {end}_lon/{end}_lat",
                )
        departure = _departure(_text(row[departure_column]), origin_clock, duration_s, path, line)
        if ends[0][1] >= 0 and ends[0][1] == ends[1][1]:
            raise DemandError(
                f"origin and destination are the same junction ({ends[0][1]})",
                file=path,
                line=line,
                hint="drop trips that do not leave their junction",
            )
        records.append((ends[0][0], ends[1][0], ends[0][1], ends[1][1], departure, line))
    table = pd.DataFrame(
        records,
        columns=[
            "origin_zone",
            "destination_zone",
            "origin_node",
            "destination_node",
            "departure_s",
            "line",
        ],
    )
    return table.astype({"origin_node": "int64", "destination_node": "int64"})


def _snap(
    lon_text: str,
    lat_text: str,
    end: str,
    path: Path,
    line: int,
    to_projected: Transformer,
    tree: object,
    tree_index: np.ndarray,
    arrays: GraphArrays,
    max_snap_m: float,
) -> int:
    """Node id of the trip-end junction nearest a lon/lat, or a DemandError naming the row."""
    try:
        lon, lat = float(lon_text), float(lat_text)
    except ValueError:
        lon = lat = float("nan")
    if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise DemandError(
            f"{end} coordinates ({lon_text}, {lat_text}) are not WGS84 lon/lat",
            file=path,
            line=line,
            hint="write decimal degrees, longitude first (e.g. 120.39, 36.31)",
        )
    x, y = to_projected.transform(lon, lat)
    distance, position = tree.query([x, y])  # type: ignore[attr-defined]
    if distance > max_snap_m:
        raise DemandError(
            f"{end} ({lon:.5f}, {lat:.5f}) is {distance / 1000:.1f} km from the nearest junction "
            f"of the map (limit {max_snap_m:.0f} m): it is off the map",
            file=path,
            line=line,
            hint="check the coordinates (WGS84, lon first) or use a map that covers them",
        )
    return int(arrays.nodes[tree_index[position]])


def _departure(text: str, origin_clock: float, duration_s: float, path: Path, line: int) -> float:
    """Seconds after the start of a ``HH:MM[:SS]`` clock time or a number of seconds."""
    try:
        seconds = clock_seconds(text) - origin_clock if ":" in text else float(text)
    except ValueError:
        seconds = float("nan")
    if not np.isfinite(seconds):
        raise DemandError(
            f"departure {text!r} is neither HH:MM[:SS] nor seconds",
            file=path,
            line=line,
        )
    if not 0 <= seconds < duration_s:
        raise DemandError(
            f"departure {text!r} is {seconds / 60:+.1f} min from the simulation start, outside "
            f"the period of {duration_s / 60:.0f} min",
            file=path,
            line=line,
            hint="check simulation.start_time and duration_s, or the departure times",
        )
    return float(seconds)


def read_tntp_od(
    path: Path,
    *,
    match: str,
    node_map: Path | None,
    zone_ids: set[str],
    arrays: GraphArrays,
) -> pd.DataFrame:
    """Read a TNTP trips file (via :func:`cysim.network.tntp.read_tntp_trips`) as an OD table.

    TNTP zone numbers are mapped to the graph in one of three ways: through ``node_map`` (a CSV
    ``tntp_zone,node``), as graph node ids (``match="nodes"``: a graph built from the TNTP net
    file, where zones are the first nodes), or as the scenario's zone ids (``match="zones"``).

    Parameters
    ----------
    path
        The ``*_trips.tntp`` file.
    match
        ``"nodes"`` or ``"zones"``.
    node_map
        Optional mapping CSV (takes precedence over ``match``).
    zone_ids
        The scenario's zone ids (for ``match="zones"``).
    arrays
        Graph arrays (for node checks).

    Returns
    -------
    pandas.DataFrame
        ``origin_zone``, ``destination_zone`` (str; ``""`` for node-level ends), ``origin_node``,
        ``destination_node`` (int64; -1 for zone-level ends), ``trips`` (float), ``start_s``,
        ``end_s`` (NaN: the departure profile applies).

    Raises
    ------
    DemandError
        A TNTP zone has no counterpart in the graph or zone table.
    """
    od = read_tntp_trips(path)
    origins = od["origin"].to_numpy(dtype=np.int64)
    destinations = od["destination"].to_numpy(dtype=np.int64)
    n = len(od)
    empty = np.full(n, "", dtype=object)
    unset = np.full(n, -1, dtype=np.int64)
    if node_map is not None or match == "nodes":
        mapping = _read_node_map(node_map) if node_map is not None else None
        node_ids = set(arrays.nodes.tolist())
        mapped = []
        for values in (origins, destinations):
            nodes = np.array(
                [mapping.get(int(v), -1) for v in values] if mapping is not None else values,
                dtype=np.int64,
            )
            bad = [int(v) for v, m in zip(values, nodes, strict=True) if int(m) not in node_ids]
            if bad:
                raise DemandError(
                    f"TNTP zone {bad[0]} has no node in the road graph"
                    + (" (not in the node map)" if mapping is not None else ""),
                    file=node_map or path,
                    key="demand.od.tntp_trips",
                    hint="use a graph built from the TNTP net file, give node_map: "
                    "tntp_zone,node, or set match: zones",
                )
            mapped.append(nodes)
        origin_zone, destination_zone = empty, empty.copy()
        origin_node, destination_node = mapped
    else:
        origin_zone = origins.astype(str).astype(object)
        destination_zone = destinations.astype(str).astype(object)
        unknown = sorted((set(origin_zone) | set(destination_zone)) - zone_ids)
        if unknown:
            raise DemandError(
                f"TNTP zone(s) {', '.join(unknown[:5])} are not zones of the scenario",
                file=path,
                key="demand.od.tntp_trips.match",
                hint="give a zones file whose id column holds the TNTP zone numbers",
            )
        origin_node, destination_node = unset, unset.copy()
    return pd.DataFrame(
        {
            "origin_zone": origin_zone,
            "destination_zone": destination_zone,
            "origin_node": origin_node,
            "destination_node": destination_node,
            "trips": od["trips"].to_numpy(dtype=float),
            "start_s": np.nan,
            "end_s": np.nan,
        }
    )


def _read_node_map(path: Path) -> dict[int, int]:
    """Read a ``tntp_zone,node`` CSV into a dict."""
    raw = _read_csv(path, "TNTP node map")
    _require(raw, ("tntp_zone", "node"), path, "columns are tntp_zone,node")
    mapping: dict[int, int] = {}
    for position, row in zip(raw.index, raw.to_dict("records"), strict=True):
        try:
            mapping[int(_text(row["tntp_zone"]))] = int(_text(row["node"]))
        except ValueError:
            raise DemandError(
                "tntp_zone and node must be integers",
                file=path,
                line=int(position) + _FIRST_DATA_LINE,
            ) from None
    return mapping
