"""The patch reference ``docs/patches.md``, generated from the patch models in cysim.scenario.

Each patch type's purpose is its model's docstring; each field's row comes from its annotation
(the readable type and bounds), its ``Field(description=...)`` (the meaning) and its default.
Units follow the project's naming rule: ``_m`` metres, ``_s`` seconds, ``_kph`` km/h. The YAML
examples live here and are checked by ``tests/test_patchdoc.py``: each one loads on top of
``scenarios/baseline.yaml`` and applies to the bundled map through ``cysim validate``.

Regenerate the page after changing a patch model::

    python -m cysim.patch.doc --write          # writes docs/patches.md
    python -m cysim.patch.doc > other.md       # or prints it
"""

from __future__ import annotations

import argparse
import inspect
import textwrap
import types
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .. import io
from ..network import roadclass
from .models import PATCH_MODELS, PatchBase, RoadSelection

#: Where the reference lives in a source checkout.
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "patches.md"

#: Unit of a field by the ending of its name (the project's naming rule).
UNIT_SUFFIXES: dict[str, str] = {"_m": "m", "_s": "s", "_kph": "km/h"}

#: What the text of some fields names (the type column says so instead of "text").
TEXT_KINDS: dict[str, str] = {
    "road": "road name",
    "roads": "road name",
    "approach": "road name",
    "highway": "OSM road class",
    "zones": "zone id",
}

#: One example per patch type: a ``patches:`` list item, valid on the bundled map.
EXAMPLES: dict[str, str] = {
    "open_road": """\
- type: open_road
  description: 德阳路 east to 靖城路
  name: 德阳路
  from: [120.3995, 36.3240]
  to: [120.4040, 36.3240]
  highway: tertiary
  lanes_per_direction: 1
  speed_kph: 30
  split_edges: true
""",
    "close_road": """\
- type: close_road
  description: close 正阳中路 between 中城路 and 安城路 (both directions)
  road: 正阳中路
  between: [[正阳中路, 中城路], [正阳中路, 安城路]]
""",
    "widen_road": """\
- type: widen_road
  description: 文阳路 one more lane each way
  road: 文阳路
  add_lanes: 1
""",
    "set_speed": """\
- type: set_speed
  description: 40 km/h eastbound on 正阳中路 through the centre
  road: 正阳中路
  between: [[120.3805, 36.3000], [120.3955, 36.3000]]
  direction: forward
  speed_kph: 40
""",
    "channelize": """\
- type: channelize
  description: left-turn pockets at 正阳中路 × 长城路
  junction: [正阳中路, 长城路]
  add_turn_lanes: {left: 1}
  pocket_length_m: 60
""",
    "signal_timing": """\
- type: signal_timing
  description: a 120 s cycle with protected lefts at 正阳中路 × 长城路
  junction: [正阳中路, 长城路]
  cycle_s: 120
  left_turns: protected
""",
    "add_parking": """\
- type: add_parking
  name: 区政府/正阳路商圈 lot
  location: [正阳中路, 长城路]
  spaces: 300
  guidance: true
""",
    "remove_on_street_parking": """\
- type: remove_on_street_parking
  description: ban curb parking on two central sub-arterials
  roads: [华城路, 明阳路]
""",
    "demand_shift": """\
- type: demand_shift
  description: −5 % car trips in the 正阳路/春阳路 bus corridors
  remove_share: 0.05
  corridor:
    roads: [正阳路, 春阳路]
    within_m: 500
  ends: either
  seed: 2021
""",
}

#: The forms of ``between:`` the models accept, each with an example (caption, list item).
BETWEEN_EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "Two junctions, each `[road, road]`: the road itself and the road crossing it there.",
        """\
- type: close_road
  road: 正阳中路
  between: [[正阳中路, 中城路], [正阳中路, 安城路]]
""",
    ),
    (
        "Two points, each `[lon, lat]`: each must lie within `snap_m` of the road and takes the "
        "road's junction nearest to it.",
        """\
- type: set_speed
  road: 正阳中路
  between: [[120.3805, 36.3001], [120.3955, 36.2999]]
  snap_m: 100
  speed_kph: 40
""",
    ),
    (
        "A junction and a point, in either order; written as a block list here (the same data "
        "as the flow list `[[…], […]]`).",
        """\
- type: widen_road
  road: 正阳中路
  between:
    - [正阳中路, 中城路]
    - [120.3955, 36.3000]
  lanes_per_direction: 5
""",
    ),
    (
        "One direction: `forward` is the traffic travelling from the first place to the second, "
        "`backward` the opposite traffic; here only the westbound lanes, from 安城路 back to "
        "中城路.",
        """\
- type: set_speed
  road: 正阳中路
  between: [[正阳中路, 中城路], [正阳中路, 安城路]]
  direction: backward
  speed_kph: 30
""",
    ),
)


# --- types ---------------------------------------------------------------------------------


def _members(annotation: Any) -> list[Any]:
    """The member types of a union (``None`` dropped); one annotation is its own member."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [m for m in typing.get_args(annotation) if m is not type(None)]
    return [annotation]


def _split_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    """The bare type of ``Annotated[T, ...]`` and its constraints (``Ge``, ``MinLen`` …)."""
    if typing.get_origin(annotation) is not Annotated:
        return annotation, []
    bare, *extras = typing.get_args(annotation)
    constraints: list[Any] = []
    for extra in extras:
        constraints.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
    return bare, constraints


def _format_number(value: object) -> str:
    """A bound as text: floats compactly (``0.5``, ``130``), anything else as ``str``."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def bounds_text(constraints: Sequence[Any]) -> str:
    """Numeric bounds as planners read them: ``1–8``, ``> 0 and ≤ 130``, ``≥ 0``."""
    low = next(
        (c for c in constraints if isinstance(c, annotated_types.Ge | annotated_types.Gt)), None
    )
    high = next(
        (c for c in constraints if isinstance(c, annotated_types.Le | annotated_types.Lt)), None
    )
    if isinstance(low, annotated_types.Ge) and isinstance(high, annotated_types.Le):
        return f"{_format_number(low.ge)}–{_format_number(high.le)}"
    parts = []
    if isinstance(low, annotated_types.Ge):
        parts.append(f"≥ {_format_number(low.ge)}")
    elif isinstance(low, annotated_types.Gt):
        parts.append(f"> {_format_number(low.gt)}")
    if isinstance(high, annotated_types.Le):
        parts.append(f"≤ {_format_number(high.le)}")
    elif isinstance(high, annotated_types.Lt):
        parts.append(f"< {_format_number(high.lt)}")
    return " and ".join(parts)


def _is_coordinate_pair(args: tuple[Any, ...]) -> bool:
    return len(args) == 2 and all(_split_annotated(a)[0] is float for a in args)


def readable_type(annotation: Any, constraints: Sequence[Any] = (), *, field: str = "") -> str:
    """A field's type in planners' words, such as ``[lon, lat] or [road, road]`` or ``number > 0``.

    Parameters
    ----------
    annotation
        The field's annotation (unions, ``Annotated``, lists, mappings, literals, models).
    constraints
        Bounds that pydantic keeps beside the annotation (``FieldInfo.metadata``).
    field
        The field's name: some texts are road names or zone ids (:data:`TEXT_KINDS`).

    Returns
    -------
    str
    """
    return _union_text(annotation, constraints, field, plural=False)


def _union_text(annotation: Any, constraints: Sequence[Any], field: str, *, plural: bool) -> str:
    texts = [_member_text(m, constraints, field, plural) for m in _members(annotation)]
    return " or ".join(dict.fromkeys(texts))


def _member_text(annotation: Any, constraints: Sequence[Any], field: str, plural: bool) -> str:
    bare, own = _split_annotated(annotation)
    constraints = [*constraints, *own]
    origin, args = typing.get_origin(bare), typing.get_args(bare)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args) if len(args) > 1 else f"`{args[0]}`"
    if origin is tuple and _is_coordinate_pair(args):
        return "[lon, lat]"
    if origin is tuple and args == (str, str):
        return "[road, road]"
    if origin is tuple:
        places = [readable_type(a, field=field) for a in args]
        if len(set(places)) == 1:
            return f"[place, place], each {places[0]}"
        return "[" + ", ".join(places) + "]"
    if origin is list:
        items = _union_text(args[0], (), field, plural=True)
        items = f"({items})" if " or " in items else items
        non_empty = any(
            isinstance(c, annotated_types.MinLen) and c.min_length > 0 for c in constraints
        )
        return ("non-empty list of " if non_empty else "list of ") + items
    if origin is dict:
        return f"mapping of name → {_union_text(args[1], (), field, plural=False)}"
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return f"mapping ({bare.__name__}, fields below)"
    if bare is bool:
        return "true or false"
    if bare is str:
        kind = TEXT_KINDS.get(field, "text")
        return f"{kind}s" if plural else kind
    kind = {int: "integer", float: "number"}.get(bare, getattr(bare, "__name__", str(bare)))
    kind = f"{kind}s" if plural else kind
    bounds = bounds_text(constraints)
    return f"{kind} {bounds}" if bounds else kind


# --- rows ----------------------------------------------------------------------------------


def unit_of(name: str) -> str:
    """The unit of a field named by the project's rule (``snap_m`` → m), else ``""``."""
    return next((unit for suffix, unit in UNIT_SUFFIXES.items() if name.endswith(suffix)), "")


def default_text(info: FieldInfo) -> str:
    """The default as a scenario file would write it; "required" when there is none."""
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if isinstance(value, list):
        return "`[]`" if not value else f"`{value}`"
    return f"`{_format_number(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _ordered_fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """``type`` first, then the model's own fields, the common ``description`` last."""
    fields = list(model.model_fields.items())
    first = [(n, f) for n, f in fields if n == "type"]
    last = [(n, f) for n, f in fields if n in PatchBase.model_fields]
    return first + [(n, f) for n, f in fields if (n, f) not in first + last] + last


def field_table(model: type[BaseModel], *, skip: Sequence[str] = ()) -> str:
    """The Markdown table of a model's fields: name, type, meaning, unit, default.

    Raises
    ------
    ValueError
        A field other than ``type`` has no description (the reference would have a hole).
    """
    rows = ["| field | type | meaning | unit | default |", "|---|---|---|---|---|"]
    for name, info in _ordered_fields(model):
        if name in skip:
            continue
        key = info.alias or name
        meaning = info.description or ("the patch type" if name == "type" else "")
        if not meaning:
            raise ValueError(f"{model.__name__}.{name} has no Field(description=...)")
        kind = readable_type(info.annotation, info.metadata, field=name)
        cells = (f"`{key}`", kind, meaning, unit_of(name) or "—", default_text(info))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def _nested_models(model: type[BaseModel]) -> Iterator[tuple[str, type[BaseModel]]]:
    """The sub-models a field holds (``add_turn_lanes`` → TurnLanes), with the field's key."""
    for name, info in model.model_fields.items():
        for member in _members(info.annotation):
            if isinstance(member, type) and issubclass(member, BaseModel):
                yield info.alias or name, member


# --- the page ------------------------------------------------------------------------------


def docstring(model: type) -> str:
    """A model's docstring as Markdown (reST ``code`` becomes `code`)."""
    return inspect.cleandoc(model.__doc__ or "").replace("``", "`")


def yaml_block(item: str) -> str:
    """A ``patches:`` list item shown inside its ``patches:`` key, as a YAML code block."""
    return "```yaml\npatches:\n" + textwrap.indent(item, "  ") + "```"


def patch_section(type_name: str, model: type[PatchBase]) -> str:
    """The section of one patch type: purpose, field table(s) and an example."""
    parts = [f"## {type_name}", docstring(model)]
    skip: tuple[str, ...] = ()
    if issubclass(model, RoadSelection):
        skip = tuple(f for f in RoadSelection.model_fields if f not in PatchBase.model_fields)
        parts.append(
            "Selects its road with "
            + ", ".join(f"`{f}`" for f in skip)
            + " ([Selecting a road or a stretch](#selecting-a-road-or-a-stretch)); "
            "its own fields:"
        )
    parts.append(field_table(model, skip=skip))
    for key, nested in _nested_models(model):
        parts += [f"`{key}` holds:", field_table(nested)]
    parts += ["Example:", yaml_block(EXAMPLES[type_name])]
    return "\n\n".join(parts)


def _places_section() -> str:
    return """\
## Places

A place is written one of two ways, wherever a field says `[lon, lat] or [road, road]`:

- `[lon, lat]`: WGS84 degrees, longitude first (`[120.391, 36.300]`). It snaps to the nearest
  junction within the patch's `snap_m`; a point outside the map is an error naming the map's
  extent. **Coordinates read off 高德 (AutoNavi), 腾讯 (Tencent) or 百度 (Baidu) maps are not
  WGS84**: they are GCJ-02 or BD-09, about 450 m or 1.2 km off in Chengyang, and would snap to
  another junction. Take WGS84 coordinates from OpenStreetMap or 天地图 (Tianditu), convert with
  `cysim.chinacoords.to_wgs84(lon, lat, "gcj02")`, or name the junction by its roads.
- `[road, road]`: the junction where the two named roads meet (`[正阳中路, 长城路]`). Names
  match like `road:` (exact first, then by stem). When the roads meet at more than one
  junction, `near: [lon, lat]` picks the nearest of them (patches with a `near` field);
  elsewhere write that place as `[lon, lat]`."""


def _road_selection_section() -> str:
    examples = "\n\n".join(f"{caption}\n\n{yaml_block(item)}" for caption, item in BETWEEN_EXAMPLES)
    users = [f"`{t}`" for t, model in PATCH_MODELS.items() if issubclass(model, RoadSelection)]
    return f"""\
## Selecting a road or a stretch

{docstring(RoadSelection)} {", ".join(users)} select their road with these fields:

{field_table(RoadSelection, skip=tuple(PatchBase.model_fields))}

### `between`

Without `between` the patch applies to every link of the road (both directions). With it, only
to the stretch between two places on that road: `between: [first, second]`, each place
`[lon, lat]` or `[road, road]` ([Places](#places)):

- a `[road, road]` end is the junction where the two roads meet, and it must lie on `road`
  (usually `[road, crossing road]`). If the two roads meet more than once, write that end as
  `[lon, lat]` instead: `between` has no `near`.
- a `[lon, lat]` end must lie within `snap_m` metres of `road`; it takes the road's junction
  nearest to the point.
- the stretch is the shortest way along `road`'s own links from the first end to the second;
  the two ends must be different junctions on one connected piece of the road.
- `direction` (only with `between`): `both` (default), `forward` (travel from the first place
  towards the second) or `backward` (travel from the second towards the first). A one-way road
  that carries no traffic in the chosen direction is an error.

{examples}"""


def render() -> str:
    """The whole reference page, as ``docs/patches.md`` holds it."""
    index = ", ".join(f"[{t}](#{t})" for t in PATCH_MODELS)
    classes = ", ".join(f"`{c}`" for c in roadclass.CLASS_ORDER)
    intro = f"""\
# Patch reference

<!-- Generated from cysim/patch/models.py by `python -m cysim.patch.doc --write`;
     do not edit by hand (tests/test_patchdoc.py fails when this page is out of date). -->

A scenario's `patches:` is a list of changes to the map or the demand, applied in order; each
item is one patch, chosen by its `type`: {index}. Check a scenario without simulating with
`cysim validate FILE`: it applies every patch and prints what changed.

Every example on this page is tested: it loads on top of `scenarios/baseline.yaml` and applies
to the bundled map (`tests/test_patchdoc.py`). In the tables, *required* fields have no default;
*not set* means the patch leaves that setting as it is (or another field is used instead). Units
follow the field names: `_m` metres, `_s` seconds, `_kph` km/h. OSM road classes (`highway`):
{classes}."""
    sections = [intro, _places_section(), _road_selection_section()]
    sections += [patch_section(t, m) for t, m in PATCH_MODELS.items()]
    return "\n\n".join(sections) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Print the reference, or write it to ``docs/patches.md`` with ``--write``."""
    parser = argparse.ArgumentParser(prog="python -m cysim.patch.doc", description=__doc__)
    parser.add_argument(
        "--write",
        nargs="?",
        const=DEFAULT_PATH,
        type=Path,
        metavar="PATH",
        help=f"write the page (default {DEFAULT_PATH.relative_to(DEFAULT_PATH.parents[1])})",
    )
    args = parser.parse_args(argv)
    text = render()
    if args.write is None:
        print(text, end="")
        return
    io.write_text(args.write, text)
    print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
