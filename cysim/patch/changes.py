"""The change log of scenario patches: one row per changed attribute, grouped per patch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._errors import CysimError, PatchError
from .models import (
    AddParking,
    Channelize,
    DemandShift,
    OpenRoad,
    Patch,
    PatchBase,
    RemoveOnStreetParking,
    RoadSelection,
    SetSpeed,
    SignalTiming,
    WidenRoad,
)

#: A directed edge of a MultiDiGraph.
EdgeKey = tuple[int, int, int]


@dataclass
class PatchChange:
    """One changed attribute of one element.

    Attributes
    ----------
    patch_index
        Position of the patch in the resolved scenario's list.
    patch_type
        ``widen_road``, ``close_road``, …
    element
        The edge ``(u, v, key)``, the node id, or the zone / corridor for demand patches.
    road
        The road name(s) of the element, ``""`` when unnamed.
    attribute
        The attribute changed (``lanes``, ``capacity_vph``, ``signal``, ``edge`` for an edge
        added or removed, ``node`` for a node removed, ``car_trips`` for demand).
    before, after
        Values before and after (``None`` where the element did not / no longer exists).
    kind
        ``edge``, ``node`` or ``trips``.
    """

    patch_index: int
    patch_type: str
    element: Any
    road: str
    attribute: str
    before: Any
    after: Any
    kind: str = "edge"


@dataclass
class PatchReport:
    """What a list of patches changed: rows, per-patch headers and notes, warnings."""

    entries: list[PatchChange] = field(default_factory=list)
    headers: dict[int, str] = field(default_factory=dict)
    notes: dict[int, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, change: PatchChange) -> None:
        """Append one row."""
        self.entries.append(change)

    def merge(self, other: PatchReport) -> PatchReport:
        """Return a new report with this report's content followed by ``other``'s."""
        notes = {k: list(v) for k, v in self.notes.items()}
        for index, items in other.notes.items():
            notes.setdefault(index, []).extend(items)
        return PatchReport(
            entries=[*self.entries, *other.entries],
            headers={**self.headers, **other.headers},
            notes=notes,
            warnings=[*self.warnings, *other.warnings],
        )

    def for_patch(self, index: int) -> list[PatchChange]:
        """Rows of one patch."""
        return [e for e in self.entries if e.patch_index == index]

    def patched_edges(self) -> set[EdgeKey]:
        """Edges changed, added or removed."""
        return {tuple(e.element) for e in self.entries if e.kind == "edge"}  # type: ignore[misc]

    def patched_nodes(self) -> set[int]:
        """Nodes changed (signals, parking, removed isolated nodes)."""
        return {int(e.element) for e in self.entries if e.kind == "node"}

    def changed_junctions(self) -> set[int]:
        """Junctions a patch changed itself.

        These are the nodes changed (signals, parking) and the junction each approach a
        ``channelize`` patch changed leads to.
        """
        approaches = {
            int(e.element[1])
            for e in self.entries
            if e.kind == "edge" and e.patch_type == "channelize"
        }
        return self.patched_nodes() | approaches

    def to_frame(self) -> pd.DataFrame:
        """All rows as a DataFrame (values as text where types differ)."""
        columns = [f for f in PatchChange.__dataclass_fields__]
        frame = pd.DataFrame([asdict(e) for e in self.entries], columns=columns)
        for column in ("element", "before", "after"):
            frame[column] = frame[column].map(_fmt)
        return frame

    def summary(self, index: int) -> str:
        """One line counting what patch ``index`` changed, e.g. ``8 edges, 1 node``."""
        rows = self.for_patch(index)
        edges = {tuple(e.element) for e in rows if e.kind == "edge"}
        nodes = {e.element for e in rows if e.kind == "node"}
        parts = []
        if edges:
            parts.append(f"{len(edges)} edge{'s' if len(edges) != 1 else ''}")
        if nodes:
            parts.append(f"{len(nodes)} junction{'s' if len(nodes) != 1 else ''}")
        trips = [e for e in rows if e.kind == "trips"]
        if trips:
            parts.append(f"{len(trips)} trip group{'s' if len(trips) != 1 else ''}")
        return ", ".join(parts) if parts else "no changes"

    def to_text(self, max_rows_per_patch: int | None = None) -> str:
        """The full change log, grouped per patch with counts.

        ``max_rows_per_patch`` cuts long groups short, for a terminal.
        """
        lines: list[str] = []
        for index in sorted(set(self.headers) | {e.patch_index for e in self.entries}):
            lines.append(f"[{index}] {self.headers.get(index, '')}")
            lines.append(f"    changed: {self.summary(index)}")
            lines.extend(f"    note: {note}" for note in self.notes.get(index, []))
            rows = self.for_patch(index)
            shown = rows if max_rows_per_patch is None else rows[:max_rows_per_patch]
            lines.extend("    " + format_change(row) for row in shown)
            if len(rows) > len(shown):
                lines.append(
                    f"    … {len(rows) - len(shown)} more rows (all rows: patches.txt in the "
                    "run folder)"
                )
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_summary_text(self) -> str:
        """The change log in road names, for a report: per patch, one line per road and attribute.

        ``中城路  lanes 3 → 4 (28 links)``; where the values differ between elements (storage
        follows each link's length) the range is shown, ``storage_veh 84–205 → 126–307``.
        """
        lines: list[str] = []
        for index in sorted(set(self.headers) | {e.patch_index for e in self.entries}):
            lines.append(f"[{index}] {self.headers.get(index, '')}")
            lines.extend(f"    note: {note}" for note in self.notes.get(index, []))
            groups: dict[tuple[str, str, str], list[PatchChange]] = {}
            for row in self.for_patch(index):
                groups.setdefault((row.kind, row.road, row.attribute), []).append(row)
            if not groups:
                lines.append("    no changes")
            for (kind, road, attribute), rows in groups.items():
                count = len({_fmt(r.element) for r in rows})
                noun = {"edge": "link", "node": "junction", "trips": "trip group"}.get(kind, kind)
                change = f"{_value_range(r.before for r in rows)} → "
                change += _value_range(r.after for r in rows)
                lines.append(
                    f"    {road or '(unnamed)'}  {attribute} {change} "
                    f"({count} {noun}{'s' if count != 1 else ''})"
                )
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _value_range(values) -> str:
    """One value as text, or ``low–high`` when numbers differ, or ``various``."""
    values = list(values)
    texts = {_fmt(v) for v in values}
    if len(texts) == 1:
        return texts.pop()
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) == len(values):
        low, high = min(numbers), max(numbers)
        return f"{low:.3g}–{high:.3g}"
    return "various"


def element_changes(report: PatchReport) -> pd.DataFrame:
    """What the patches changed on each edge and junction, one row per element, for map layers.

    Parameters
    ----------
    report
        The scenario's change log.

    Returns
    -------
    pandas.DataFrame
        ``kind`` (``edge`` / ``node``), ``element`` (the ``(u, v, key)`` tuple or node id),
        ``patch_types`` (``widen_road``, … joined with ``, ``) and ``changes``
        (``lanes: 2 → 3; capacity_vph: 3200 → 4800``), in the log's order. Demand patches
        (``trips``) have no place on a map and are left out.
    """
    rows: dict[tuple[str, Any], dict[str, list[str]]] = {}
    for entry in report.entries:
        if entry.kind not in ("edge", "node"):
            continue
        element = tuple(entry.element) if entry.kind == "edge" else int(entry.element)
        row = rows.setdefault((entry.kind, element), {"types": [], "changes": []})
        if entry.patch_type not in row["types"]:
            row["types"].append(entry.patch_type)
        row["changes"].append(f"{entry.attribute}: {_fmt(entry.before)} → {_fmt(entry.after)}")
    return pd.DataFrame(
        [
            {
                "kind": kind,
                "element": element,
                "patch_types": ", ".join(row["types"]),
                "changes": "; ".join(row["changes"]),
            }
            for (kind, element), row in rows.items()
        ],
        columns=["kind", "element", "patch_types", "changes"],
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if value == "":
        return '""'
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple):
        return "→".join(str(v) for v in value[:2]) + (f"#{value[2]}" if len(value) > 2 else "")
    return str(value)


def element_label(row: PatchChange) -> str:
    """The changed element as text: ``edge 1→2#0``, ``junction 5``, ``trips all``."""
    kind = {"node": "junction"}.get(row.kind, row.kind)
    return f"{kind} {_fmt(row.element)}"


def format_value(value: Any) -> str:
    """A before/after value as text (``—`` for none, floats to 6 significant digits)."""
    return _fmt(value)


def format_change(row: PatchChange) -> str:
    """One row as text: ``edge 1→2#0 文阳路  lanes: 2 → 3``."""
    road = f" {row.road}" if row.road else ""
    change = f"{row.attribute}: {_fmt(row.before)} → {_fmt(row.after)}"
    return f"{element_label(row)}{road}  {change}"


def locate_error(
    error: CysimError, patch: PatchBase, index: int, scenario_file: str | Path | None
) -> PatchError:
    """Return ``error`` as a PatchError pointing at the patch's file, line and key."""
    origin = patch.origin
    local_key = error.key or ""
    field_name = local_key.split(".")[0].split("[")[0]
    position = origin.index if origin is not None else index
    line = None
    if origin is not None:
        line = origin.key_lines.get(field_name, origin.line)
    return PatchError(
        error.message,
        file=origin.file if origin is not None else scenario_file,
        line=line,
        key=f"patches[{position}]" + (f".{local_key}" if local_key else ""),
        hint=error.hint,
    )


def describe(patch: Patch) -> str:
    """A header for the change log: type, the patch's description or a generated summary."""
    text = patch.description
    if not text:
        if isinstance(patch, OpenRoad):
            text = f"new {patch.name or 'road'} {list(patch.from_)} → {list(patch.to)}"
        elif isinstance(patch, WidenRoad):
            lanes = patch.lanes_per_direction or f"+{patch.add_lanes}"
            text = f"{patch.road}: {lanes} lanes per direction"
        elif isinstance(patch, SetSpeed):
            text = f"{patch.road}: {patch.speed_kph:g} km/h"
        elif isinstance(patch, RoadSelection):
            text = patch.road
        elif isinstance(patch, Channelize):
            text = f"junction {list(patch.junction)}"
        elif isinstance(patch, SignalTiming):
            text = "all signals" if patch.all_signals else "signal plans"
        elif isinstance(patch, AddParking):
            text = f"{patch.name or 'lot'}: {patch.spaces} spaces"
        elif isinstance(patch, RemoveOnStreetParking):
            text = ", ".join(patch.roads)
        elif isinstance(patch, DemandShift):
            shifted = patch.zones or (patch.corridor.roads if patch.corridor else [])
            text = f"car trips × {patch.factor:g} ({', '.join(shifted)})"
    where = ""
    if patch.origin is not None:
        where = f" ({patch.origin.file.name}:{patch.origin.line})"
    return f"{patch.type}: {text}{where}"
