"""The validated scenario: its sections (network, demand, simulation, report) and fingerprint."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, PrivateAttr, field_validator

from .. import modeldefaults
from .._errors import CysimError, MapError, ScenarioError
from ..demand import DemandSpec
from ..network import roadclass
from ..patch.models import Patch, StrictModel
from ..simsettings import SimSettings
from ._yaml import KeyPath, parse_key_path

# --- the scenario --------------------------------------------------------------------------


class NetworkSettings(StrictModel):
    """How the map is turned into a network (the ``network:`` section)."""

    consolidation_tolerance_m: float | None = Field(None, gt=0, le=100)
    road_classes: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="overrides of cysim.network.roadclass defaults per OSM class",
    )
    signal_plans: Literal["fitted", "default"] = Field(
        "fitted",
        description=(
            "plans of signals no patch times: 'fitted' re-times each one with Webster on its own "
            "simulated flows inside route choice (as a traffic engineer would have set them); "
            "'default' keeps the lane-based default cycles (cysim ≤ 0.3)"
        ),
    )
    lane_groups: Literal["evidence", "none"] = Field(
        "evidence",
        description=(
            "which lanes serve which turns at a junction approach: 'evidence' takes OSM "
            "turn:lanes where tagged, else a default per road class and junction type "
            "(cysim.network.turnlanes); "
            "'none' keeps every approach one lane group (pockets aside), for "
            "sketch networks without lane detail"
        ),
    )

    @field_validator("road_classes")
    @classmethod
    def _known_classes(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        try:
            roadclass.road_class_table(value)
        except ScenarioError as error:
            message = f"{error.message} ({error.hint})" if error.hint else error.message
            raise ValueError(message) from None
        return value


class ReportSettings(StrictModel):
    """How results are presented (the ``report:`` section); never part of the fingerprint."""

    basemap: Literal["none", "osm", "gaode", "tencent", "tianditu", "url"] = Field(
        "none",
        description=(
            "tiles under the interactive map: none (vector layers only; opens offline), osm, "
            "gaode (高德 AutoNavi, GCJ-02), tencent (腾讯, GCJ-02), tianditu (天地图; key from "
            "the TIANDITU_KEY environment variable) or url (tiles_url); the links are moved "
            "into the tiles' coordinate system"
        ),
    )
    tiles_url: str | None = Field(
        None, description="tile URL template with {z}, {x}, {y} for basemap: url"
    )
    tiles_system: Literal["wgs84", "gcj02", "bd09"] = Field(
        "wgs84", description="coordinate system of the tiles_url tiles"
    )
    tiles_attribution: str = Field("", description="credit for the tiles_url tiles")
    china_layers: list[Literal["gcj02", "bd09"]] = Field(
        default_factory=list,
        description=(
            "extra layers in the comparison's GeoPackages with coordinates in these non-EPSG "
            "systems (GCJ-02 for AutoNavi/Tencent, BD-09 for Baidu), named <layer>_gcj02 / "
            "<layer>_bd09 and labelled EPSG:4326"
        ),
    )


@dataclass
class KeySource:
    """Where a resolved key path was written: file, line and the key path inside that file."""

    file: Path
    line: int | None
    local: KeyPath


#: Keys describing one file; never inherited through ``base:``.
OWN_KEYS = ("name", "title", "description", "report_quote", "assumptions")

#: Sections that hold exactly one source, with their source keys. A file naming a different
#: source replaces the inherited section wholesale: merging would leave two sources.
ONE_OF_SECTIONS: dict[KeyPath, tuple[str, ...]] = {
    ("demand", "od"): ("gravity", "od_csv", "trips_csv", "tntp_trips"),
    ("demand", "zones"): ("file", "grid_m", "junction_clusters"),
}


class Scenario(StrictModel):
    """A resolved scenario (see docs/data-model.md §2)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str = ""
    description: str = ""
    report_quote: str = ""
    assumptions: list[str] = Field(default_factory=list)
    map: Path
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    demand: DemandSpec = Field(default_factory=DemandSpec)
    simulation: SimSettings = Field(default_factory=SimSettings)
    patches: list[Patch] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    report: ReportSettings = Field(default_factory=ReportSettings)
    #: The model's values in code (``{module: {name: value}}``) a run was made with: empty when
    #: loaded from a scenario file, filled by :func:`cysim.pipeline.prepare.prepare_scenario`, so
    #: a run folder's ``scenario.yaml`` records them. A file may repeat them, not change them.
    model_defaults: dict[str, dict[str, Any]] = Field(default_factory=dict)
    source_file: Path
    base_chain: list[Path] = Field(default_factory=list)
    _sources: dict[KeyPath, KeySource] = PrivateAttr(default_factory=dict)

    @field_validator("model_defaults")
    @classmethod
    def _model_defaults_are_the_code(cls, given: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Check that a file's ``model_defaults:`` equal the code's, and complete them.

        The section records what a run was made with. The engine and the signal planner read
        these values from their modules, so a different value in a file would be reported but
        not used: that is refused, with the way to change a value that does work.
        """
        if not given:
            return given
        # importing the model's modules (the engine's among them) only when a file repeats them
        code = modeldefaults.model_values()
        for module, values in given.items():
            if module not in code:
                close = difflib.get_close_matches(module, code, n=1)
                raise ValueError(
                    f"no module {module!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else "")
                    + f"; the recorded modules are {', '.join(code)}"
                )
            for name, value in (values or {}).items():
                if name not in code[module]:
                    close = difflib.get_close_matches(name, code[module], n=1)
                    raise ValueError(
                        f"{module} has no model value {name!r}"
                        + (f" (did you mean {close[0]!r}?)" if close else "")
                    )
                if value != code[module][name]:
                    raise ValueError(
                        f"{module}.{name} is {value!r} in the file but "
                        f"{code[module][name]!r} in this cysim; the section records the values "
                        "a run was made with and cannot change them. Remove model_defaults: to "
                        f"run with this version's values, or set {module}.{name} in Python "
                        "before the run (docs/architecture.md, 'Defaults are read when used')"
                    )
        return code

    def where(self, key: str) -> tuple[Path, int | None]:
        """Return the file and line that declare ``key`` (``demand.trips``, ``patches[2].road``).

        Useful for errors found after loading (e.g. by the demand builder). Falls back to the
        deepest declared parent key, then to the scenario file itself.
        """
        path = parse_key_path(key)
        while path and path not in self._sources:
            path = path[:-1]
        source = self._sources.get(path)
        if source is None:
            return self.source_file, None
        return source.file, source.line

    @contextlib.contextmanager
    def pointing_into(self) -> Iterator[None]:
        """Give errors raised by later stages (network, demand) this scenario's file and line."""
        try:
            yield
        except CysimError as error:
            missing = isinstance(error, MapError) and not self.map.exists()
            if missing and error.file == str(self.map):
                raise self._map_not_found() from None
            if error.file is not None or not error.key:
                raise
            file, line = self.where(error.key)
            raise type(error)(
                error.message, file=file, line=line, key=error.key, hint=error.hint
            ) from None

    def _map_not_found(self) -> ScenarioError:
        """The error for a ``map:`` that names no file: where it was looked for, and why."""
        file, line = self.where("map")
        fetched = (
            self.map
            if self.map.suffix in (".osm", ".graphml")
            else self.map.with_suffix(".graphml")
        )
        return ScenarioError(
            f"map file not found: {self.map} (map: is resolved relative to the folder of the "
            f"file that sets it, {file.parent})",
            file=file,
            line=line,
            key="map",
            hint=f"correct the path in map: (relative to {file.name}, or absolute), or "
            f"download the district's roads with `cysim map fetch -o {fetched}`"
            + ("" if fetched == self.map else f" and set map: {fetched.name}"),
        )

    def content(self) -> dict[str, Any]:
        """The resolved scenario as plain data, as a scenario file would spell it."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"source_file", "base_chain"})
        data["patches"] = [
            {"type": patch.type}
            | patch.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            for patch in self.patches
        ]
        return data

    def resolved_yaml(self) -> str:
        """Return the fully resolved scenario as YAML (loadable again; paths absolute)."""
        files = "".join(f"#   {p}\n" for p in [*self.base_chain, self.source_file])
        header = f"# resolved scenario '{self.name}', from (bases first):\n{files}"
        body = yaml.dump(
            self.content(), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100
        )
        return header + body

    def fingerprint(self) -> str:
        """Return a sha256 of the resolved content and the map file's bytes.

        The map's path is left out (only its content counts), so the same scenario in another
        checkout has the same fingerprint. The ``report:`` section only changes how results
        are shown, so it is left out too: a new base map reuses the finished runs.
        """
        content = self.content()
        del content["report"]
        content["map"] = {"name": self.map.name, "sha256": file_sha256(self.map)}
        content["demand"] = _hash_files(content["demand"])
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hash_files(value: Any) -> Any:
    """Replace absolute paths of existing files by their name and content hash (recursively)."""
    if isinstance(value, dict):
        return {key: _hash_files(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_hash_files(item) for item in value]
    if isinstance(value, str) and Path(value).is_absolute() and Path(value).is_file():
        return f"{Path(value).name}#sha256:{file_sha256(Path(value))}"
    return value


class _Dumper(yaml.SafeDumper):
    """Safe dumper writing short lists of scalars inline (``[lon, lat]``), the rest as blocks."""


def _represent_list(dumper: yaml.SafeDumper, items: list) -> yaml.Node:
    inline = len(items) <= 8 and all(isinstance(i, str | int | float | bool) for i in items)
    inline = inline and sum(len(str(i)) for i in items) <= 60
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=inline)


_Dumper.add_representer(list, _represent_list)


def file_sha256(path: Path) -> str:
    """Return the sha256 of a file's bytes (``"missing"`` when it does not exist)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return "missing"
    return digest.hexdigest()
