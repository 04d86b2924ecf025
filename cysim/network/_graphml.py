"""GraphML save/load of cysim networks, keeping every attribute's type (docs/data-model.md §1).

networkx reads and writes the XML; what is left here is cysim's attribute contract
(:data:`NODE_ATTRS`, :data:`EDGE_ATTRS`, :data:`GRAPH_ATTRS`) and its checks. It is kept rather
than replaced by :func:`osmnx.io.load_graphml` with ``node_dtypes``/``edge_dtypes``/
``graph_dtypes`` (checked with osmnx 2.1) because:

* osmnx reads only GraphML that osmnx wrote, where every value is a string. :func:`save_graphml`
  writes typed GraphML (networkx declares ``int``/``double``/``boolean`` keys), as every cysim
  version has for its maps and network caches; osmnx fails on those files (``'float' object has
  no attribute 'startswith'``), so switching saving and loading to osmnx would leave every
  existing file unreadable.
* osmnx evaluates (``ast.literal_eval``) every node and edge value that starts with ``[`` or
  ``{``, so a string attribute holding JSON or a bracketed name changes type: on an edge it
  becomes a list; on a node a JSON list of strings comes back as a Python repr (``["NS"]`` →
  ``['NS']``).
* osmnx checks nothing: a missing or malformed attribute would surface later as a ``KeyError``
  or ``ValueError``, not as a :class:`MapError` naming the file, the node or edge and the
  attribute.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from shapely import wkt
from shapely.errors import ShapelyError
from shapely.geometry import LineString

from .._errors import MapError

#: Node attributes of the contract and their Python types.
NODE_ATTRS: Mapping[str, type] = {
    "x": float,
    "y": float,
    "lon": float,
    "lat": float,
    "signal": bool,
    "junction_id": int,
    "street_count": int,
    "signal_cycle_s": float,
    "signal_offset_s": float,
    "signal_splits": str,
    "parking_spaces": int,
    "parking_guidance": bool,
}
#: Edge attributes of the contract and their Python types (geometry: shapely LineString).
EDGE_ATTRS: Mapping[str, type] = {
    "length_m": float,
    "lanes": int,
    "speed_kph": float,
    "capacity_vph": float,
    "saturation_flow_vphpl": float,
    "storage_veh": float,
    "highway": str,
    "name": str,
    "name_en": str,
    "osmid": str,
    "oneway": bool,
    "curb_parking": bool,
    "pocket_left": int,
    "pocket_right": int,
    "pocket_length_m": float,
    "turn_lanes": str,
    "defaults_applied": str,
    "geometry": LineString,
}
#: Graph attributes of the contract.
GRAPH_ATTRS: Mapping[str, type] = {
    "crs": str,
    "name": str,
    "source": str,
    "simplified": bool,
    "load_report": str,
}


def save_graphml(G: nx.MultiDiGraph, path: str | Path) -> Path:
    """Write a cysim network to GraphML atomically, keeping every attribute's type.

    Parameters
    ----------
    G
        A cysim network.
    path
        Target file; its folder is created if needed.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    H = nx.MultiDiGraph()
    H.graph.update({k: _plain(v) for k, v in G.graph.items()})
    for node, data in G.nodes(data=True):
        H.add_node(int(node), **{k: _plain(v) for k, v in data.items()})
    for u, v, key, data in G.edges(keys=True, data=True):
        H.add_edge(int(u), int(v), key=key, **{k: _plain(v) for k, v in data.items()})
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        nx.write_graphml(H, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _plain(value: Any) -> Any:
    """A value GraphML can type: geometry → WKT, numpy scalars → Python, lists → JSON."""
    if hasattr(value, "wkt"):
        return value.wkt
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def load_graphml(path: str | Path) -> nx.MultiDiGraph:
    """Read a GraphML written by :func:`save_graphml`, restoring the contract's types.

    Parameters
    ----------
    path
        The ``.graphml`` file.

    Returns
    -------
    networkx.MultiDiGraph

    Raises
    ------
    MapError
        Unreadable XML, or a node/edge missing a contract attribute (named in the message).
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        state = "empty" if path.is_file() else "not found"
        raise MapError(f"GraphML file {state}", file=path, hint="give a .graphml saved by cysim")
    try:
        G = nx.read_graphml(path, node_type=int, force_multigraph=True)
    except Exception as error:  # networkx raises bare XML, KeyError and ValueError variants
        raise MapError(
            f"cannot read GraphML ({type(error).__name__}: {error})",
            file=path,
            hint="the file is truncated or not GraphML; write it with save_graphml",
        ) from None
    if not G.is_directed():
        G = nx.MultiDiGraph(G)
    G.graph.pop("node_default", None)
    G.graph.pop("edge_default", None)
    hint = (
        "this GraphML was not written by cysim; load the OSM file instead "
        "(or `cysim map fetch -o maps/NAME.graphml`)"
    )
    for key, kind in GRAPH_ATTRS.items():
        if key not in G.graph:
            raise MapError(f"graph attribute {key!r} is missing", file=path, hint=hint)
        G.graph[key] = _typed(G.graph[key], kind, path, f"graph.{key}")
    for node, data in G.nodes(data=True):
        _check_attrs(data, NODE_ATTRS, path, f"node {node}", hint)
    for u, v, key, data in G.edges(keys=True, data=True):
        # networks saved before cysim 0.5 have no lane-use tags: untagged, as OSM mostly is
        data.setdefault("turn_lanes", "")
        # nor the English name (cysim 0.6 before it kept OSM name:en)
        data.setdefault("name_en", "")
        _check_attrs(data, EDGE_ATTRS, path, f"edge ({u}, {v}, {key})", hint)
    if len(G) == 0 or G.number_of_edges() == 0:
        raise MapError("the GraphML network has no roads", file=path, hint=hint)
    return G


def _check_attrs(
    data: dict[str, Any], spec: Mapping[str, type], path: Path, where: str, hint: str
) -> None:
    missing = [k for k in spec if k not in data]
    if missing:
        raise MapError(f"{where} lacks attribute(s) {', '.join(missing)}", file=path, hint=hint)
    for key, kind in spec.items():
        data[key] = _typed(data[key], kind, path, f"{where}.{key}")


def _typed(value: Any, kind: type, path: Path, where: str) -> Any:
    """Convert a GraphML value to its contract type (networkx already types most)."""
    try:
        if kind is LineString:
            geometry = wkt.loads(value) if isinstance(value, str) else value
            if not isinstance(geometry, LineString):
                raise ValueError("not a LineString")
            return geometry
        if kind is bool:
            if isinstance(value, str):
                if value.strip().lower() not in {"true", "false", "1", "0"}:
                    raise ValueError("not a boolean")
                return value.strip().lower() in {"true", "1"}
            return bool(value)
        if kind is int:
            if float(value) != int(float(value)):
                raise ValueError("not a whole number")
            return int(float(value))
        return kind(value)
    except (ValueError, TypeError, OverflowError, ShapelyError) as error:
        # ShapelyError: unparsable WKT geometry; OverflowError: an integer given as inf/1e400.
        raise MapError(f"{where} = {value!r}: {error}", file=path) from None
