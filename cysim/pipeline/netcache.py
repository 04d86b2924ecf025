"""A cache of prepared networks, keyed by content: the map file, the network settings, the code.

Building a network from OpenStreetMap (osmium, osmnx simplification, projection, junction
consolidation, attributes, fitted signal plans) takes tens of seconds on a real-size map, and
every scenario of a comparison starts from the same one. :func:`load_or_build` keeps the built
graph as GraphML under ``<results_dir>/.cache/networks/`` (``cysim.settings.results_dir``),
named by a SHA-256 of everything it depends on:

- the bytes of the map file (not its name or date);
- the scenario's ``network:`` section (road-class overrides, consolidation tolerance, lane
  groups, signal plans);
- every public value of :mod:`cysim.settings`, :mod:`cysim.network.roadclass`,
:mod:`cysim.control.signals`
  and :mod:`cysim.network.turns` (a changed default is a different network);
- the cysim version (a changed loader is a different network).

Any change gives another key, so a stale network is never reused; an unreadable cache file is
rebuilt (with a warning). Files are written atomically (a temporary file, then a rename). Set
``cysim.settings.network_cache = False`` to bypass it; deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from .. import scenario, settings
from .._errors import MapError
from .._version import __version__
from ..control import signals
from ..modeldefaults import public_values
from ..network import _graphml, roadclass, turns

__all__ = ["cache_folder", "load_or_build", "network_key"]

#: Modules whose public values shape a built network.
_SHAPING_MODULES = (settings, roadclass, signals, turns)


def cache_folder() -> Path:
    """Where prepared networks are kept: ``<cysim.settings.results_dir>/.cache/networks``."""
    return Path(settings.results_dir).expanduser() / ".cache" / "networks"


def network_key(map_path: str | Path, network_section: Mapping[str, Any]) -> str:
    """The cache key of the network a map and a scenario's ``network:`` section give.

    Parameters
    ----------
    map_path
        The map file (its bytes enter the key).
    network_section
        The scenario's network settings, JSON-serialisable.

    Returns
    -------
    str
        Hex SHA-256.
    """
    parts = {
        "cysim": __version__,
        "map_sha256": scenario.file_sha256(Path(map_path)),
        "map_suffix": "".join(Path(map_path).suffixes).lower(),
        "network": network_section,
        "defaults": {m.__name__: public_values(m) for m in _SHAPING_MODULES},
    }
    text = json.dumps(parts, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_or_build(
    key: str, build: Callable[[], nx.MultiDiGraph], folder: Path | None = None
) -> tuple[nx.MultiDiGraph, bool]:
    """The network cached under ``key``, else ``build()``'s, stored for next time.

    The cache file is the project's GraphML (:func:`cysim.network.build.save_graphml`, every
    attribute's type kept), not a pickle: loading it runs no code.

    Parameters
    ----------
    key
        From :func:`network_key`.
    build
        Builds the network when the cache has none (its errors propagate, nothing is stored).
    folder
        Cache folder (default :func:`cache_folder`).

    Returns
    -------
    (graph, hit)
        The network and whether it came from the cache.
    """
    if not settings.network_cache:
        return build(), False
    folder = cache_folder() if folder is None else Path(folder)
    path = folder / f"{key}.graphml"
    if path.is_file():
        try:
            return _graphml.load_graphml(path), True
        except MapError as error:
            warnings.warn(
                f"cached network {path} is unreadable ({error}); rebuilding it", stacklevel=2
            )
    graph = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _graphml.save_graphml(graph, path)  # atomic: a temporary file, then a rename
    except OSError as error:
        # the run goes on with the network it built; only the next run's saving is lost
        warnings.warn(f"could not cache the network in {folder}: {error}", stacklevel=2)
    return graph, False
