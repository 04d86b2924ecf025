"""Loading a scenario file: `base:` inheritance, paths, errors that point to a file and line."""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Union

import pydantic
from pydantic import BaseModel

from .._errors import CysimError, ScenarioError
from ..demand import DemandSpec
from ..patch.models import PATCH_MODELS, PatchOrigin
from ._yaml import KeyPath, YamlDocument, format_key_path, load_yaml
from .schema import ONE_OF_SECTIONS, OWN_KEYS, KeySource, NetworkSettings, Scenario

# --- loading -------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file, resolve its ``base:`` chain and validate it.

    ``base:`` names one file or a list of files (relative to the declaring file). Bases are
    resolved depth first, each file once, so a diamond (two bases sharing ``baseline.yaml``)
    applies the shared patches once. Patch lists concatenate, bases first; the other sections
    merge key by key, later files winning, except that ``demand.od`` or ``demand.zones``
    naming a different source replaces the inherited one; ``name``, ``title``, ``description``,
    ``report_quote`` and ``assumptions`` are never inherited (``name`` defaults to the file
    name). ``map:`` is resolved relative to the file that declares it.

    Parameters
    ----------
    path
        The scenario YAML.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Malformed YAML, a missing or cyclic base, an unknown key (with the nearest valid key)
        or an invalid value; the message names file, line and key path.
    """
    try:
        top = Path(path).resolve()
    except (ValueError, OSError, RuntimeError) as error:
        raise ScenarioError(f"invalid path {str(path)!r}: {error}", file=path) from None
    if not top.is_file():
        raise ScenarioError("scenario file not found", file=path, hint="check the path")
    docs: dict[Path, Any] = {}
    order: list[Path] = []
    _linearise(top, [], order, docs)
    merged, sources = _merge(order, docs)
    merged.setdefault("name", top.stem)
    data = {**merged, "source_file": top, "base_chain": order[:-1]}
    try:
        scenario = Scenario.model_validate(data)
    except pydantic.ValidationError as error:
        raise _to_scenario_error(error, merged, sources, top) from None
    _attach_origins(scenario, sources)
    scenario._sources = sources
    return scenario


def _linearise(path: Path, stack: list[Path], order: list[Path], docs: dict[Path, Any]) -> None:
    """Depth-first post-order over ``base:`` references, each file once; detects cycles."""
    if path in docs:
        return
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ScenarioError(
            "a scenario file must be a mapping of keys (name:, map:, patches:, …)",
            file=path,
            line=1,
        )
    bases = doc.data.get("base")
    if bases is not None:
        items = bases if isinstance(bases, list) else [bases]
        for index, base in enumerate(items):
            local: KeyPath = ("base", index) if isinstance(bases, list) else ("base",)
            line = doc.line_of(local)
            if not isinstance(base, str) or not base:
                raise ScenarioError(
                    "base must be a file name or a list of file names",
                    file=path,
                    line=line,
                    key=format_key_path(local),
                )
            base_path = Path(_absolute_path(path.parent, base, doc, local))
            if base_path == path or base_path in stack:
                chain = " → ".join(p.name for p in [*stack, path, base_path])
                raise ScenarioError(
                    f"base files form a cycle: {chain}",
                    file=path,
                    line=line,
                    key=format_key_path(local),
                    hint="remove one of the base references",
                )
            if not base_path.is_file():
                raise ScenarioError(
                    f"base file not found: {base_path}",
                    file=path,
                    line=line,
                    key=format_key_path(local),
                    hint="paths in base: are relative to this file",
                )
            _linearise(base_path, [*stack, path], order, docs)
    docs[path] = doc
    order.append(path)


def _merge(order: list[Path], docs: dict[Path, Any]) -> tuple[dict, dict[KeyPath, KeySource]]:
    """Merge the files in ``order`` (last wins) and remember where every key path came from."""
    merged: dict[str, Any] = {}
    sources: dict[KeyPath, KeySource] = {}
    top = order[-1]
    for file in order:
        doc = docs[file]
        for key, value in doc.data.items():
            if key == "base" or (key in OWN_KEYS and file != top):
                continue
            if key == "patches" and isinstance(value, list):
                offset = len(merged.setdefault("patches", []))
                merged["patches"].extend(value)
                for local, line in doc.lines.items():
                    if local[:1] == ("patches",) and len(local) >= 2:
                        resolved = ("patches", local[1] + offset, *local[2:])
                        sources[resolved] = KeySource(file, line, local)
                continue
            if key == "map" and isinstance(value, str):
                value = _absolute_path(file.parent, value, doc, (key,))
            elif key == "demand":
                value = _resolve_paths(value, DemandSpec, file.parent, doc, (key,))
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                inherited = dict(merged[key])
                for section in _replaced_sections(key, inherited, value):
                    del inherited[section[1]]
                    for stale in [p for p in sources if p[: len(section)] == section]:
                        del sources[stale]
                merged[key] = _deep_merge(inherited, value)
            else:
                merged[key] = value
                for stale in [p for p in sources if p[:1] == (key,)]:
                    del sources[stale]
            for local, line in doc.lines.items():
                if local[:1] == (key,):
                    sources[local] = KeySource(file, line, local)
        sources.setdefault((), KeySource(file, 1, ()))
    sources[()] = KeySource(top, 1, ())
    return merged, sources


def _absolute_path(base_dir: Path, value: str, doc: YamlDocument, local: KeyPath) -> str:
    """``value`` made absolute relative to ``base_dir``.

    A path the OS cannot hold (a NUL character, a symlink loop) is a ScenarioError at ``local``
    in ``doc``.
    """
    try:
        return str((base_dir / value).expanduser().resolve())
    except (ValueError, OSError, RuntimeError) as error:
        raise ScenarioError(
            f"invalid path {value!r}: {error}",
            file=doc.file,
            line=doc.line_of(local),
            key=format_key_path(local),
            hint="write the file name as plain text, relative to this file",
        ) from None


def _resolve_paths(
    value: Any, annotation: Any, base_dir: Path, doc: YamlDocument, local: KeyPath
) -> Any:
    """Make relative paths absolute (relative to ``base_dir``) wherever the model expects a Path.

    A plain string given for a sub-model with a ``file`` field (``od_csv: od.csv`` shorthand) is
    resolved too, unless the field also accepts a plain string (``profile: morning_peak``).
    ``doc`` and ``local`` (the key path of ``value`` in it) place errors.
    """
    members = _unwrap(annotation)
    if isinstance(value, str) and value:
        if Path in members:
            return _absolute_path(base_dir, value, doc, local)
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if str not in members and any("file" in m.model_fields for m in models):
            return _absolute_path(base_dir, value, doc, local)
        return value
    if isinstance(value, dict):
        model = _model_of(annotation, value)
        if model is not None:
            resolved = dict(value)
            for name, info in model.model_fields.items():
                for key in {name, info.alias or name}:
                    if key in resolved:
                        resolved[key] = _resolve_paths(
                            resolved[key], info.annotation, base_dir, doc, (*local, key)
                        )
            return resolved
    if isinstance(value, list):
        item = next((typing.get_args(a)[0] for a in members if typing.get_origin(a) is list), None)
        if item is not None:
            return [
                _resolve_paths(v, item, base_dir, doc, (*local, index))
                for index, v in enumerate(value)
            ]
    return value


def _replaced_sections(key: str, inherited: dict, child: dict) -> list[KeyPath]:
    """The one-of sections under ``key`` where ``child`` names a different source.

    See :data:`ONE_OF_SECTIONS`; the same source, or none, merges key by key.
    """
    replaced = []
    for section, names in ONE_OF_SECTIONS.items():
        old, new = inherited.get(section[1]), child.get(section[1])
        if section[0] != key or not isinstance(old, dict) or not isinstance(new, dict):
            continue
        new_sources = {name for name in names if name in new}
        if new_sources and new_sources != {name for name in names if name in old}:
            replaced.append(section)
    return replaced


def _deep_merge(base: dict, child: dict) -> dict:
    """Merge ``child`` into a copy of ``base`` key by key; nested mappings merge, others replace."""
    result = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _attach_origins(scenario: Scenario, sources: dict[KeyPath, KeySource]) -> None:
    """Give each patch its file, line and per-key lines so patch errors can point at them."""
    for index, patch in enumerate(scenario.patches):
        source = sources.get(("patches", index))
        if source is None:
            continue
        key_lines = {
            str(path[2]): src.line
            for path, src in sources.items()
            if len(path) == 3 and path[:2] == ("patches", index) and src.line is not None
        }
        patch._origin = PatchOrigin(
            file=source.file, line=source.line, index=int(source.local[1]), key_lines=key_lines
        )


def _to_scenario_error(
    error: pydantic.ValidationError, data: dict, sources: dict[KeyPath, KeySource], top: Path
) -> ScenarioError:
    """Turn pydantic's first error into a one-line ScenarioError with file, line and key path."""
    first = error.errors(include_url=False)[0]
    kind = first["type"]
    path = _clean_loc(first["loc"], data, keep_last=kind in ("missing", "extra_forbidden"))
    if kind == "union_tag_invalid":
        path = (*path, "type")
    # The deepest resolved path with a recorded source gives file and line.
    probe = path
    while probe and probe not in sources:
        probe = probe[:-1]
    source = sources.get(probe) or sources[()]
    local = (*source.local, *path[len(probe) :])
    key = format_key_path(local) or None
    hint = None
    leaf = path[-1] if path else None
    if kind == "extra_forbidden":
        valid = _valid_keys(path[:-1], data)
        close = difflib.get_close_matches(str(leaf), valid, n=1, cutoff=0.5)
        message = f"unknown key '{leaf}'"
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"valid keys: {', '.join(valid)}"
    elif kind == "missing":
        message = f"missing required key '{leaf}'"
    elif kind == "union_tag_invalid":
        given = first.get("ctx", {}).get("tag", "?")
        close = difflib.get_close_matches(str(given), list(PATCH_MODELS), n=1, cutoff=0.4)
        message = f"unknown patch type '{given}'"
        hint = (
            f"did you mean '{close[0]}'? " if close else ""
        ) + f"types: {', '.join(PATCH_MODELS)}"
    elif kind == "union_tag_not_found":
        message = "the patch has no 'type'"
        hint = f"add type: one of {', '.join(PATCH_MODELS)}"
    elif any(isinstance(part, str) and part.startswith("tuple[") for part in first["loc"]):
        place = _clean_loc(first["loc"][: _place_end(first["loc"])], data, keep_last=False)
        given = _value_at(data, place)
        path = place
        message = f"a place is [lon, lat] (two numbers) or [road, road] (two names), got {given!r}"
        road = _one_road(given)
        if road is not None:
            message = (
                f"a junction is named by two crossing roads, [road, road], or by [lon, lat]; "
                f"got only the road '{road}'"
            )
            hint = _second_road_hint(data, road, place[-1])
        elif _is_lat_lon(given):
            message = (
                f"a place is [lon, lat], longitude first; {given!r} reads as [lat, lon] "
                f"(latitude {given[1]} is outside −90…90)"
            )
            hint = f"write [{given[1]}, {given[0]}]"
        elif isinstance(given, list | tuple) and len(given) != 2:
            hint = "write two numbers [lon, lat] or two crossing road names [road, road]"
        probe = path
        while probe and probe not in sources:
            probe = probe[:-1]
        source = sources.get(probe) or sources[()]
        key = format_key_path((*source.local, *path[len(probe) :])) or None
    else:
        message = first["msg"].removeprefix("Value error, ")
        if "input" in first and not isinstance(first["input"], dict | list):
            message += f" (got {first['input']!r})"
        hint = _patch_reference_hint(data, path)
    return ScenarioError(message, file=source.file, line=source.line, key=key, hint=hint)


def _patch_reference_hint(data: Any, path: KeyPath) -> str | None:
    """A hint for an error inside a patch with no specific fix, else None.

    The hint says where that patch type's fields, their ranges and an example are documented.
    """
    if len(path) < 2 or path[0] != "patches" or not isinstance(path[1], int):
        return None
    patch = _value_at(data, path[:2])
    kind = patch.get("type") if isinstance(patch, dict) else None
    if kind not in PATCH_MODELS:
        return None
    return (
        f"see the fields of {kind} in docs/patches.md (section '{kind}'): what each means, its "
        "range and a working example"
    )


def _one_road(given: Any) -> str | None:
    """The road name of a place written as one road (``中城路`` or ``[中城路]``), else None."""
    if isinstance(given, list) and len(given) == 1:
        given = given[0]
    return given if isinstance(given, str) and given.strip() else None


def _second_road_hint(data: dict, road: str, place_key: str | int) -> str:
    """How to name the junction: the roads crossing ``road`` on the scenario's map.

    The map is loaded only here, for this error; when it cannot be (missing, unreadable, the
    road unknown), the hint says where to find the names instead.
    """
    from ..network import build as network
    from ..network import locate  # the map, only to write this hint

    example = f"[{road}, <the crossing road>]"
    if isinstance(place_key, str):
        example = f"{place_key}: {example}"
    try:
        settings = NetworkSettings.model_validate(data.get("network") or {})
        G = network.load_network(
            data["map"], consolidation_tolerance_m=settings.consolidation_tolerance_m
        )
        crossing = locate.crossing_list(G, road)
    except (CysimError, pydantic.ValidationError, KeyError, OSError, TypeError):
        return f"write {example}; `cysim map info --roads MAP` lists the road names"
    return f"write {example}; roads crossing {road}: {crossing}"


def _is_lat_lon(value: Any) -> bool:
    """Two numbers that only make sense swapped: [lat, lon] for a [lon, lat] place."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return False
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return False
    return abs(value[0]) <= 90 < abs(value[1]) <= 180


def _place_end(loc: tuple) -> int:
    """Index just before the first union-member part (``tuple[...]``) of a location."""
    for index, part in enumerate(loc):
        if isinstance(part, str) and part.startswith("tuple["):
            return index
    return len(loc)


def _value_at(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _clean_loc(loc: tuple, data: Any, *, keep_last: bool) -> KeyPath:
    """Keep the parts of a pydantic error location that exist in the data (drops union tags)."""
    path: list[str | int] = []
    node = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            path.append(part)
            node = node[part]
        elif last and keep_last:
            path.append(part)
    return tuple(path)


def _valid_keys(path: KeyPath, data: Any) -> list[str]:
    """Return the keys the model at ``path`` accepts (for 'did you mean' hints)."""
    annotation: Any = Scenario
    node = data
    for part in path:
        if isinstance(node, dict):
            node = node[part]
        elif isinstance(node, list):
            # _clean_loc keeps a position inside a list only as an int index
            if not isinstance(part, int):
                raise TypeError(f"list position {part!r} in key path {path!r} is not an index")
            node = node[part]
        else:
            node = None
        annotation = _child_annotation(annotation, part, node)
        if annotation is None:
            return []
    model = _model_of(annotation, node)
    if model is None:
        return []
    keys = [info.alias or name for name, info in model.model_fields.items()]
    if model is Scenario:
        keys = [k for k in keys if k not in ("source_file", "base_chain")] + ["base"]
    return keys


def _child_annotation(annotation: Any, part: str | int, node: Any) -> Any:
    model = _model_of(annotation, node)
    if model is not None and isinstance(part, str):
        for name, info in model.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    for arg in _unwrap(annotation):
        origin = typing.get_origin(arg)
        if origin is list and isinstance(part, int):
            return typing.get_args(arg)[0]
        if origin is dict and isinstance(part, str):
            return typing.get_args(arg)[1]
    return None


def _unwrap(annotation: Any) -> list[Any]:
    """Flatten Annotated / Optional / Union into their member types."""
    if typing.get_origin(annotation) is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _unwrap(arg)]
    return [annotation]


def _model_of(annotation: Any, node: Any) -> type[BaseModel] | None:
    models = [a for a in _unwrap(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    if len(models) > 1 and isinstance(node, dict):
        tagged = PATCH_MODELS.get(str(node.get("type")))
        return tagged if tagged in models else None
    return models[0] if len(models) == 1 else None
