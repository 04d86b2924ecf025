"""Results folders, run ids, locks and atomic writers (JSON, CSV, Parquet, GeoPackage).

Layout (DESIGN §6)::

    results/<scenario>/<run-id>/          one finished run (has a COMPLETE marker)
    results/<scenario>/.<run-id>.partial/ a run being written (never reused)
    results/<scenario>/.lock              locked (OS lock) while a run of <scenario> writes
    results/compare/<a>__<b>/             a comparison

A run is written into ``.<run-id>.partial``; :func:`finalize` writes the ``COMPLETE`` marker (JSON:
fingerprint, seed, version, finish time) *last* inside it and then renames the folder to
``<run-id>``, so a folder without the marker is never mistaken for a result. Every file is written
to a temporary name in its target folder and moved into place with :func:`os.replace`, so readers
never see half a file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import filelock
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from . import chinacoords, settings
from ._errors import ResultsError

#: Name of the marker file that says a run folder is complete.
COMPLETE_MARKER: str = "COMPLETE"
#: Suffix of a run folder still being written.
PARTIAL_SUFFIX: str = ".partial"
#: Name of the per-scenario lock file.
LOCK_NAME: str = ".lock"
#: Layer names and CRSs of ``links.gpkg``.
GPKG_LAYERS: dict[str, str] = {
    "links_wgs84": settings.geographic_crs,
    "links_utm": settings.projected_crs,
}

_UNSAFE_CHARS = re.compile(r"[^\w\-.+=@]", flags=re.UNICODE)


# --- names and folders ---------------------------------------------------------------------


def results_root() -> Path:
    """The results folder: :data:`cysim.settings.results_dir` relative to the working directory.

    Returns
    -------
    pathlib.Path
        Absolute path (not created).
    """
    return Path(settings.results_dir).expanduser().resolve()


def safe_name(name: str) -> str:
    r"""Make a scenario or run name safe as one folder name under ``results/``.

    Path separators, ``..``, leading dots and control characters are refused (a name must never
    lead outside ``results/``); other characters outside letters (any script), digits and
    ``-._+=@`` become ``_``.

    Parameters
    ----------
    name
        Scenario name (from YAML) or run id.

    Returns
    -------
    str
        The sanitised name.

    Raises
    ------
    ResultsError
        If the name is empty, contains ``/`` or ``\`` or ``..``, starts with a dot, or has
        control characters.
    """
    text = str(name).strip()
    problem = None
    if not text:
        problem = "is empty"
    elif "/" in text or "\\" in text:
        problem = "contains a path separator"
    elif ".." in text or text.startswith("."):
        problem = "contains '..' or starts with '.'"
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        problem = "contains control characters"
    if problem:
        raise ResultsError(
            f"name {name!r} {problem}; it cannot be used as a results folder",
            key="name",
            hint="use letters, digits, '-' and '_' in the scenario name",
        )
    return _UNSAFE_CHARS.sub("_", text)


def scenario_dir(scenario_name: str, root: Path | None = None) -> Path:
    """``<root>/<scenario>``, checked to lie inside ``root``.

    Parameters
    ----------
    scenario_name
        Scenario name (sanitised with :func:`safe_name`).
    root
        Results root; :func:`results_root` when None.

    Returns
    -------
    pathlib.Path
        The scenario's folder (not created).
    """
    base = (root or results_root()).resolve()
    folder = (base / safe_name(scenario_name)).resolve()
    if folder.parent != base:
        raise ResultsError(f"results folder {folder} would lie outside {base}", key="name")
    return folder


def compare_dir(name_a: str, name_b: str, root: Path | None = None) -> Path:
    """``<root>/compare/<a>__<b>`` for a comparison of two scenarios (not created)."""
    base = (root or results_root()).resolve()
    return base / "compare" / f"{safe_name(name_a)}__{safe_name(name_b)}"


def make_run_id(seed: int, fingerprint: str, now: _dt.datetime | None = None) -> str:
    """A run id that sorts by time: ``YYYYmmddTHHMMSSZ-s<seed>-<fingerprint[:8]>``.

    Parameters
    ----------
    seed
        First seed of the run.
    fingerprint
        Hash of the resolved scenario (any string; only its first 8 safe characters are used).
    now
        Time stamp (UTC now when None).

    Returns
    -------
    str
        The run id.
    """
    stamp = (now or _dt.datetime.now(_dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    short = _UNSAFE_CHARS.sub("", fingerprint)[:8] or "nofp"
    return f"{stamp}-s{int(seed)}-{short}"


def new_run_dir(scenario_name: str, run_id: str, root: Path | None = None) -> Path:
    """Create the temporary folder ``<root>/<scenario>/.<run-id>.partial`` to write a run into.

    A leftover partial folder of the same id (a crashed earlier attempt) is removed first.

    Parameters
    ----------
    scenario_name, run_id
        Names of the scenario and the run (sanitised).
    root
        Results root; :func:`results_root` when None.

    Returns
    -------
    pathlib.Path
        The empty partial folder; pass it to :func:`finalize` when every file is written.

    Raises
    ------
    ResultsError
        If a finished run with this id already exists, or the folder cannot be created.
    """
    folder = scenario_dir(scenario_name, root)
    run = safe_name(run_id)
    if (folder / run).exists():
        raise ResultsError(
            f"run folder {folder / run} already exists", hint="use a new run id or delete it"
        )
    partial = folder / f".{run}{PARTIAL_SUFFIX}"
    try:
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
    except OSError as error:
        raise _unwritable(folder, error) from None
    return partial


def _unwritable(folder: Path, error: OSError) -> ResultsError:
    """The error for a results folder the OS will not let us create or write (no bare OSError)."""
    return ResultsError(
        f"cannot create the results folder {folder}: {error.strerror or error}",
        hint="pass a writable folder with --results",
    )


def finalize(
    partial_dir: Path, *, fingerprint: str, seed: int, version: str, extra: Mapping | None = None
) -> Path:
    """Mark a partial run folder complete and move it to its final name.

    Writes ``COMPLETE`` (JSON with the fingerprint, seed, version, finish time and ``extra``) last,
    then renames ``.<run-id>.partial`` to ``<run-id>``.

    Parameters
    ----------
    partial_dir
        Folder from :func:`new_run_dir`.
    fingerprint
        Hash of the resolved scenario, for :func:`find_complete_run`.
    seed
        Seed the run started from.
    version
        cysim version that produced it.
    extra
        More JSON-serialisable facts to record in the marker (replications, wall time, …).

    Returns
    -------
    pathlib.Path
        The final run folder.

    Raises
    ------
    ResultsError
        If ``partial_dir`` is not a partial run folder or the final name is taken.
    """
    partial_dir = Path(partial_dir)
    name = partial_dir.name
    if not (partial_dir.is_dir() and name.startswith(".") and name.endswith(PARTIAL_SUFFIX)):
        raise ResultsError(f"{partial_dir} is not a partial run folder from new_run_dir")
    final = partial_dir.parent / name[1 : -len(PARTIAL_SUFFIX)]
    if final.exists():
        raise ResultsError(f"run folder {final} already exists", hint="use a new run id")
    marker = {
        "fingerprint": fingerprint,
        "seed": int(seed),
        "version": version,
        "finished_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **dict(extra or {}),
    }
    write_json(partial_dir / COMPLETE_MARKER, marker)
    os.replace(partial_dir, final)
    return final


def discard(partial_dir: Path) -> None:
    """Delete a partial run folder after a failure (refuses anything else).

    Parameters
    ----------
    partial_dir
        Folder from :func:`new_run_dir`.
    """
    partial_dir = Path(partial_dir)
    if partial_dir.name.startswith(".") and partial_dir.name.endswith(PARTIAL_SUFFIX):
        shutil.rmtree(partial_dir, ignore_errors=True)


def read_marker(run_dir: Path) -> dict | None:
    """The ``COMPLETE`` marker of a run folder, or None if absent or unreadable."""
    try:
        return json.loads((Path(run_dir) / COMPLETE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def find_complete_run(
    scenario_name: str, fingerprint: str, seed: int, version: str, root: Path | None = None
) -> Path | None:
    """Find a finished run of the same resolved scenario, seed and cysim version, for reuse.

    Folders without a readable ``COMPLETE`` marker (crashed or still being written) and partial
    folders are ignored.

    Parameters
    ----------
    scenario_name
        Scenario name.
    fingerprint, seed, version
        Must all equal the marker's.
    root
        Results root; :func:`results_root` when None.

    Returns
    -------
    pathlib.Path or None
        The newest matching run folder (by finish time), or None.
    """
    folder = scenario_dir(scenario_name, root)
    if not folder.is_dir():
        return None
    matches: list[tuple[str, Path]] = []
    for run in folder.iterdir():
        if run.name.startswith(".") or not run.is_dir():
            continue
        marker = read_marker(run)
        if marker is None:
            continue
        if (
            marker.get("fingerprint") == fingerprint
            and marker.get("seed") == int(seed)
            and marker.get("version") == version
        ):
            matches.append((str(marker.get("finished_utc", "")), run))
    return max(matches)[1] if matches else None


# --- lock ----------------------------------------------------------------------------------


@contextlib.contextmanager
def scenario_lock(
    scenario_name: str, root: Path | None = None, timeout_s: float = 0.0
) -> Iterator[Path]:
    """Hold ``results/<scenario>/.lock`` while writing a run of that scenario.

    The lock is an operating-system lock on that file (:class:`filelock.FileLock`: ``flock`` on
    Linux), not the file's existence. The kernel drops it when the holding process ends, however
    it ends (SIGKILL included), so a lock file left behind by a killed run never blocks the next
    one, and nothing needs pid/host bookkeeping or a staleness guess. filelock (≥ 4) also closes
    the lock's descriptor in forked children, so the replication workers (a fork pool) do not
    keep it held after a killed parent. The file stays in place after a run (filelock keeps it so
    that every contender locks the same inode); only a live holder means anything. On a file
    system without ``flock``, filelock falls back to a marker file that it breaks once its owner
    (pid, host) is gone.

    Parameters
    ----------
    scenario_name
        Scenario name.
    root
        Results root; :func:`results_root` when None.
    timeout_s
        Keep trying this long while another process holds the lock (0: one attempt).

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    ResultsError
        If another process still holds the lock after ``timeout_s`` (naming the scenario, the
        lock file and what to do), or the folder or lock file cannot be created.
    """
    folder = scenario_dir(scenario_name, root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _unwritable(folder, error) from None
    path = folder / LOCK_NAME
    lock = filelock.FileLock(path, timeout=timeout_s)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ResultsError(
            f"another cysim process is writing results of {scenario_name!r} and holds its lock",
            file=path,
            hint="wait for that run to finish, then run again; the lock is released when that "
            "process ends (even if it is killed), so there is no need to delete the file",
        ) from None
    except OSError as error:  # read-only or full file system, no permission
        raise _unwritable(folder, error) from None
    try:
        yield path
    finally:
        lock.release()


# --- atomic writers ------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    The temporary file keeps ``path``'s suffix (some writers choose the format by it). If the
    block raises, the temporary file is deleted and ``path`` is left as it was.

    Parameters
    ----------
    path
        Final file path; its folder is created if needed.

    Yields
    ------
    pathlib.Path
        Where to write.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as GDAL refuse to open an existing empty file
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _json_ready(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths and NaN (→ null) so json can write strict JSON."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray | pd.Series):
        return [_json_ready(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write strict JSON (UTF-8, indented, NaN → null) atomically; return the path."""
    text = json.dumps(_json_ready(data), ensure_ascii=False, indent=2, allow_nan=False)
    return write_text(path, text + "\n")


def write_csv(path: str | os.PathLike, frame: pd.DataFrame, index: bool = False) -> Path:
    """Write a frame as UTF-8 CSV (with BOM, so Excel shows Chinese correctly) atomically.

    A ``geometry`` column, if any, is written as WKT.
    """
    frame = pd.DataFrame(frame)
    if "geometry" in frame.columns:
        frame = frame.assign(geometry=gpd.GeoSeries(frame["geometry"]).to_wkt())
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index, encoding="utf-8-sig")
    return Path(path)


def write_parquet(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    """Write a frame (GeoDataFrames as GeoParquet) atomically; return the path."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


def write_gpkg(
    path: str | os.PathLike,
    layers: Mapping[str, gpd.GeoDataFrame],
    descriptions: Mapping[str, str] | None = None,
) -> Path:
    """Write one or more layers into a GeoPackage atomically; return the path.

    Parameters
    ----------
    path
        ``.gpkg`` file to create or replace.
    layers
        ``{layer name: GeoDataFrame}``, each written in its own CRS.
    descriptions
        ``{layer name: text}`` stored as the layer's GeoPackage description (QGIS shows it).
    """
    if not layers:
        raise ValueError("a GeoPackage needs at least one layer")
    descriptions = descriptions or {}
    with atomic_path(path) as tmp:
        for name, frame in layers.items():
            options = {"DESCRIPTION": descriptions[name]} if name in descriptions else {}
            frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", **options)
    return Path(path)


#: The two CRSs every GeoPackage layer of a results folder is written in, by layer suffix.
LAYER_CRS: dict[str, str] = {"wgs84": settings.geographic_crs, "utm": settings.projected_crs}


def write_layers_gpkg(
    path: str | os.PathLike,
    tables: Mapping[str, gpd.GeoDataFrame],
    china_systems: Sequence[chinacoords.CoordinateSystem] = (),
) -> Path:
    """Write tables as named single-geometry layers, each in WGS84 and in UTM.

    Table ``name`` becomes layers ``name_wgs84`` (EPSG:4326, what QGIS, TransCAD and web maps
    expect) and ``name_utm`` (EPSG:32651, metres). Empty tables are left out, so a layer that
    exists always has features. With ``china_systems`` (``"gcj02"``, ``"bd09"``) also
    ``name_gcj02`` / ``name_bd09``: coordinates moved into those non-EPSG systems for tools on
    Chinese base maps, labelled EPSG:4326 and described as such in the GeoPackage.

    Parameters
    ----------
    path
        ``.gpkg`` file to create or replace.
    tables
        ``{name: GeoDataFrame}``; each must have a CRS and one geometry type (GIS tools show a
        layer that mixes points and lines badly or not at all).

    Raises
    ------
    ResultsError
        If a table has no CRS or mixes geometry types, or every table is empty.
    """
    layers = {}
    descriptions: dict[str, str] = {}
    for name, table in tables.items():
        if table.empty:
            continue
        if table.crs is None:
            raise ResultsError(
                f"{name} table has no CRS; cannot write a GeoPackage", file=Path(path)
            )
        kinds = set(table.geometry.dropna().geom_type)
        if len(kinds) > 1:
            raise ResultsError(
                f"{name} table mixes geometry types {sorted(kinds)}; write one layer per type",
                file=Path(path),
            )
        for suffix, crs in LAYER_CRS.items():
            layers[f"{name}_{suffix}"] = table.to_crs(crs)
        for system in china_systems:
            layers[f"{name}_{system}"] = chinacoords.transform_frame(table, system)
            descriptions[f"{name}_{system}"] = (
                f"{chinacoords.SYSTEM_LABELS[system]}: labelled EPSG:4326 so that GIS tools place "
                "it on tiles drawn in that system; not true WGS 84 coordinates"
            )
    if not layers:
        raise ResultsError(f"nothing to write to {Path(path).name}: every table is empty")
    return write_gpkg(path, layers, descriptions)


def write_junctions_gpkg(
    path: str | os.PathLike,
    junctions: gpd.GeoDataFrame,
    approaches: gpd.GeoDataFrame | None = None,
) -> Path:
    """Write junction and approach tables as point layers in WGS84 and UTM.

    Layers ``junctions_wgs84``, ``junctions_utm`` and, when approach records exist,
    ``approaches_wgs84``, ``approaches_utm`` (:func:`cysim.results.metrics.junction_table`,
    :func:`cysim.results.metrics.approach_table`).

    Raises
    ------
    ResultsError
        If a table has no CRS.
    """
    tables = {"junctions": junctions}
    if approaches is not None:
        tables["approaches"] = approaches
    return write_layers_gpkg(path, tables)


def write_points_csv(
    path: str | os.PathLike, points: gpd.GeoDataFrame, decimals: Mapping[str, int] | None = None
) -> Path:
    """Write a point table as a CSV for spreadsheets: ``lon``, ``lat`` (WGS84) for the geometry.

    Spreadsheets and TransCAD's table import read coordinates from two columns, not from WKT;
    the numbers are rounded as :func:`rounded_for_people` does.

    Parameters
    ----------
    path
        ``.csv`` file.
    points
        A GeoDataFrame of points with a CRS.
    decimals
        Decimals per column, overriding :func:`csv_decimals`.
    """
    wgs84 = points.to_crs(settings.geographic_crs)
    frame = pd.DataFrame(wgs84.drop(columns=wgs84.geometry.name))
    frame["lon"] = wgs84.geometry.x.to_numpy()
    frame["lat"] = wgs84.geometry.y.to_numpy()
    return write_csv(path, rounded_for_people(frame, decimals))


#: Decimals of numeric CSV columns by the unit their name ends with (see :func:`csv_decimals`).
DECIMALS_BY_SUFFIX: dict[str, int] = {
    "_vph": 0,
    "_veh": 1,
    "_s": 1,
    "_min": 1,
    "_m": 1,
    "_km": 1,
    "_kph": 1,
    "_vh": 2,
    "_kg": 2,
    "_pct": 1,
    "_ratio": 3,
    "_pcuh": 0,
}
#: Decimals of numeric CSV columns named without a unit suffix.
DECIMALS_BY_NAME: dict[str, int] = {
    "v_c": 3,
    "degree_of_saturation": 3,
    "max_degree_of_saturation": 3,
    "vehicles": 0,
    "congested_approaches": 1,
    "lon": 6,  # about 0.1 m
    "lat": 6,
}


def csv_decimals(column: str) -> int | None:
    """Decimals to print a numeric column with, from its name; None to leave it as it is.

    The side and interval affixes (``_a``, ``_b``, ``_ci_low``, ``_ci_high``, ``d_``) are
    ignored, so ``d_flow_vph`` and ``flow_vph_b`` print like ``flow_vph``.
    """
    name = column
    for suffix in ("_ci_low", "_ci_high", "_a", "_b"):
        name = name.removesuffix(suffix)
    name = name.removeprefix("d_")
    if name in DECIMALS_BY_NAME:
        return DECIMALS_BY_NAME[name]
    for suffix, decimals in DECIMALS_BY_SUFFIX.items():
        if name.endswith(suffix):
            return decimals
    return None


def rounded_for_people(
    frame: pd.DataFrame, decimals: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` with float columns rounded for a CSV people read.

    Only the human CSVs are rounded; Parquet files and the frames in memory keep full precision.

    Parameters
    ----------
    frame
        Any table.
    decimals
        Decimals per column; other float columns use :func:`csv_decimals`, and float columns
        it does not know keep their precision.
    """
    out = pd.DataFrame(frame).copy()
    for column in out.columns:
        if not pd.api.types.is_float_dtype(out[column]):
            continue
        places = (decimals or {}).get(column, csv_decimals(str(column)))
        if places is not None:
            out[column] = out[column].round(places) + 0.0  # + 0.0: no "-0.0" for a tiny negative
    return out


def read_layers_gpkg(path: str | os.PathLike, names: Sequence[str]) -> gpd.GeoDataFrame | None:
    """Read the UTM layers ``<name>_utm`` of a GeoPackage into one table (None if none exist)."""
    present = {name for name, _ in pyogrio.list_layers(path)}
    frames = [
        gpd.read_file(path, layer=f"{name}_utm", engine="pyogrio")
        for name in names
        if f"{name}_utm" in present
    ]
    if not frames:
        return None
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def write_links_gpkg(path: str | os.PathLike, links: gpd.GeoDataFrame) -> Path:
    """Write a link table as ``links_wgs84`` (EPSG:4326) and ``links_utm`` (EPSG:32651) layers.

    Parameters
    ----------
    path
        ``.gpkg`` file.
    links
        Link table with a CRS (:func:`cysim.results.metrics.link_table`,
        :func:`cysim.results.compare.link_deltas`).

    Raises
    ------
    ResultsError
        If the table has no CRS.
    """
    return write_layers_gpkg(path, {"links": links})


#: Layers of ``patched.gpkg`` (each as ``_wgs84`` and ``_utm``): what a scenario's patches changed.
PATCHED_LAYERS: tuple[str, str] = ("changed_links", "changed_junctions")


def read_patched_gpkg(path: str | os.PathLike) -> gpd.GeoDataFrame | None:
    """The changed links and junctions of a run folder's ``patched.gpkg`` in one table (UTM).

    Reads the layers of :data:`PATCHED_LAYERS`, or the single mixed ``patched`` layer of run
    folders written before them; None when the file does not exist.
    """
    path = Path(path)
    if not path.exists():
        return None
    layers = {name for name, _ in pyogrio.list_layers(path)}
    if "patched" in layers:
        return gpd.read_file(path, layer="patched", engine="pyogrio")
    return read_layers_gpkg(path, PATCHED_LAYERS)
