"""The model's defaults that live in code, not in the scenario file, as data for cache keys.

Module-level values of cysim (``cysim.settings.jam_spacing_m``, ``cysim.sim.engine
.sneak_window_s``, the road-class table, …) shape results as much as the scenario does. A run
is reused only when its key matches, so the key must see them: :func:`digest` hashes the public
data values of every module in :data:`MODEL_MODULES`, read when it is called (a value changed
in Python after import counts).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib
import inspect
import json
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MODEL_MODULES", "NOT_MODEL_VALUES", "digest", "model_values", "public_values"]

#: Modules whose public values shape a run (the network, the demand, the engine, route choice).
MODEL_MODULES: tuple[str, ...] = (
    "cysim.settings",
    "cysim.network.roadclass",
    "cysim.control.signals",
    "cysim.network.turns",
    "cysim.network.turnlanes",
    "cysim.control.webster",
    "cysim.results.emissions",
    "cysim.sim.engine",
    "cysim.sim.netarrays",
    "cysim.sim.movements",
    "cysim.sim.routing",
    "cysim.sim.retiming",
    "cysim.demand.build",
    "cysim.demand.zones",
    "cysim.demand.profile",
    "cysim.demand._graph",
)

#: Values of those modules that change where or how fast results are made, not the results
#: (tests show results independent of the search's threads and chunk size).
NOT_MODEL_VALUES: dict[str, frozenset[str]] = {
    "cysim.settings": frozenset({"results_dir", "network_cache"}),
    "cysim.sim.routing": frozenset({"origins_per_call", "search_threads"}),
}
#: Names that are never model values: a flag of the typing module, SimPy's event priority.
NOT_DATA_NAMES: frozenset[str] = frozenset({"TYPE_CHECKING", "NORMAL"})

#: Types of module values that are data (a logger, a class or a function is not).
_DATA_TYPES = (bool, int, float, str, tuple, list, dict, set, frozenset, Mapping, Path)


def _canonical(value: Any) -> Any:
    """``value`` as JSON-ready data that is the same in every process.

    :func:`_plain` data (sets sorted, whose iteration order follows string hashing and differs
    between processes; mappings with text keys), with every scalar but text as its repr.
    """
    return _scalar_reprs(_plain(value))


def _scalar_reprs(data: Any) -> Any:
    """Plain data with numbers, booleans and None replaced by their repr."""
    if isinstance(data, dict):
        return {key: _scalar_reprs(item) for key, item in data.items()}
    if isinstance(data, list):
        return [_scalar_reprs(item) for item in data]
    return data if isinstance(data, str) else repr(data)


def public_values(module: types.ModuleType, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A module's public data values (numbers, strings, containers of them), canonical.

    Parameters
    ----------
    module
        The module.
    skip
        Names left out.

    Returns
    -------
    dict
        ``{name: value}``, JSON-ready and equal in every process for equal values.
    """
    return {name: _canonical(value) for name, value in _data_items(module, skip)}


def _data_items(module: types.ModuleType, skip: frozenset[str]) -> list[tuple[str, Any]]:
    """A module's public data values, except ``skip`` and :data:`NOT_DATA_NAMES`."""
    return [
        (name, value)
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name not in skip
        and name not in NOT_DATA_NAMES
        and isinstance(value, _DATA_TYPES)
    ]


def _plain(value: Any) -> Any:
    """``value`` as YAML/JSON data a person reads: sets sorted, tuples as lists, records as maps."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_plain(item) for item in value), key=repr)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def model_values(modules: Sequence[str] = MODEL_MODULES) -> dict[str, dict[str, Any]]:
    """Every model value in code now, as plain data: ``{module: {name: value}}``.

    This is what a resolved scenario's ``model_defaults:`` section records
    (:class:`cysim.scenario.schema.Scenario`), so a run folder says which constants made it.

    Parameters
    ----------
    modules
        Module names (default :data:`MODEL_MODULES`).

    Returns
    -------
    dict
        Values as :func:`public_values` selects them, with sets sorted and tuples as lists.
    """
    values: dict[str, dict[str, Any]] = {}
    for name in modules:
        module = importlib.import_module(name)
        own = _assigned_names(name)
        items = _data_items(module, NOT_MODEL_VALUES.get(name, frozenset()))
        values[name] = {key: _plain(value) for key, value in items if key in own}
    return values


@functools.cache
def _assigned_names(module_name: str) -> frozenset[str]:
    """Names a module assigns at its top level (not those it imports, such as ``LEFT``)."""
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(names)


def digest(modules: Sequence[str] = MODEL_MODULES) -> str:
    """SHA-256 of the public values of ``modules`` now.

    Returns
    -------
    str
        Hex digest.
    """
    values: dict[str, Any] = {
        name: public_values(importlib.import_module(name), NOT_MODEL_VALUES.get(name, frozenset()))
        for name in modules
    }
    text = json.dumps(values, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
