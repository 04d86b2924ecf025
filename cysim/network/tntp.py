"""Readers for the TNTP test-problem formats: network, trips, best-known flows, node coordinates."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import CysimError, DemandError, MapError

#: Columns of a TNTP network file, in file order.
NETWORK_COLUMNS: tuple[str, ...] = (
    "init_node",
    "term_node",
    "capacity",
    "length",
    "free_flow_time",
    "b",
    "power",
    "speed",
    "toll",
    "link_type",
)

_METADATA_TAG = re.compile(r"<\s*([^>]+?)\s*>(.*)")
_ORIGIN = re.compile(r"^\s*Origin\s+(\S+)\s*$", re.IGNORECASE)
_OD_PAIR = re.compile(r"^\s*([^:;\s]+)\s*:\s*([^:;\s]+)\s*$")


def read_tntp_network(path: str | Path) -> pd.DataFrame:
    """Read a TNTP network file (``*_net.tntp``) into a link table.

    Parameters
    ----------
    path
        The network file.

    Returns
    -------
    pandas.DataFrame
        One row per link with the columns of :data:`NETWORK_COLUMNS` (``init_node``,
        ``term_node`` and ``link_type`` int64, the rest float64), in file order. ``df.attrs``
        holds the metadata: ``number_of_zones``, ``number_of_nodes``, ``first_thru_node``,
        ``number_of_links`` (ints, or None when the file omits them) and ``source`` (the path).

    Raises
    ------
    MapError
        The file is missing or unreadable, a row does not have the ten columns or holds a value that
        is not a number, or the link count disagrees with ``<NUMBER OF LINKS>``.
    """
    metadata, rows = _read_table(path, MapError)
    records = []
    for line_no, fields in rows:
        if len(fields) != len(NETWORK_COLUMNS):
            raise MapError(
                f"a link row has {len(fields)} fields, expected {len(NETWORK_COLUMNS)} "
                f"({', '.join(NETWORK_COLUMNS)})",
                file=path,
                line=line_no,
                hint="each link row lists the ten TNTP columns and ends with ';'",
            )
        records.append(_numbers(fields, path, line_no, MapError))
    if not records:
        raise MapError("the network file has no link rows", file=path, hint="check the file")
    table = np.array(records, dtype=float)
    links = pd.DataFrame(table, columns=list(NETWORK_COLUMNS))
    for column in ("init_node", "term_node", "link_type"):
        links[column] = _as_int(links[column], column, path, MapError)
    links.attrs.update(
        source=str(path),
        number_of_zones=_int_tag(metadata, "NUMBER OF ZONES", path, MapError),
        number_of_nodes=_int_tag(metadata, "NUMBER OF NODES", path, MapError),
        first_thru_node=_int_tag(metadata, "FIRST THRU NODE", path, MapError),
        number_of_links=_int_tag(metadata, "NUMBER OF LINKS", path, MapError),
    )
    declared = links.attrs["number_of_links"]
    if declared is not None and declared != len(links):
        raise MapError(
            f"<NUMBER OF LINKS> says {declared} but the file has {len(links)} link rows",
            file=path,
            key="NUMBER OF LINKS",
            hint="the file is truncated or the header is wrong",
        )
    return links


def read_tntp_trips(path: str | Path) -> pd.DataFrame:
    """Read a TNTP trips file (``*_trips.tntp``) into a long OD table.

    Parameters
    ----------
    path
        The trips file: ``Origin N`` blocks of ``destination : trips;`` pairs.

    Returns
    -------
    pandas.DataFrame
        Columns ``origin`` (int64), ``destination`` (int64) and ``trips`` (float64), one row per
        OD pair with positive trips, in file order. ``df.attrs`` holds ``total`` (the sum of
        ``trips``), ``declared_total`` (``<TOTAL OD FLOW>`` or None), ``number_of_zones`` and
        ``source``.

    Raises
    ------
    DemandError
        The file is missing or unreadable, a pair appears before any ``Origin`` line, a pair or
        value is malformed, a value is negative, an OD pair repeats, or the sum disagrees with
        ``<TOTAL OD FLOW>`` by more than 0.1 %.
    """
    lines = _lines(path, DemandError)
    metadata, body_start = _metadata(lines, path, DemandError)
    origins: list[int] = []
    destinations: list[int] = []
    values: list[float] = []
    seen: set[tuple[int, int]] = set()
    origin: int | None = None
    for line_no, text in _content_lines(lines, body_start):
        match = _ORIGIN.match(text)
        if match:
            origin = _integer(match.group(1), path, line_no, DemandError)
            continue
        for chunk in text.split(";"):
            if not chunk.strip():
                continue
            pair = _OD_PAIR.match(chunk)
            if pair is None:
                raise DemandError(
                    f"cannot read {chunk.strip()!r} as 'destination : trips'",
                    file=path,
                    line=line_no,
                    hint="pairs look like '  7 :    500.0;'",
                )
            if origin is None:
                raise DemandError(
                    "an OD pair appears before any 'Origin N' line",
                    file=path,
                    line=line_no,
                    hint="start each block with 'Origin <zone>'",
                )
            destination = _integer(pair.group(1), path, line_no, DemandError)
            value = _numbers([pair.group(2)], path, line_no, DemandError)[0]
            if not np.isfinite(value) or value < 0:
                raise DemandError(
                    f"trips from {origin} to {destination} is {value}; it must be ≥ 0",
                    file=path,
                    line=line_no,
                )
            if (origin, destination) in seen:
                raise DemandError(
                    f"the OD pair {origin} → {destination} appears twice",
                    file=path,
                    line=line_no,
                    hint="list each destination once per origin block",
                )
            seen.add((origin, destination))
            if value > 0:
                origins.append(origin)
                destinations.append(destination)
                values.append(value)
    trips = pd.DataFrame(
        {
            "origin": np.array(origins, dtype=np.int64),
            "destination": np.array(destinations, dtype=np.int64),
            "trips": np.array(values, dtype=float),
        }
    )
    total = float(trips["trips"].sum())
    declared = metadata.get("TOTAL OD FLOW")
    declared_total = None
    if declared is not None:
        declared_total = _numbers([declared[1]], path, declared[0], DemandError)[0]
        if abs(total - declared_total) > 1e-3 * max(abs(declared_total), 1.0):
            raise DemandError(
                f"the OD pairs sum to {total:,.2f} but <TOTAL OD FLOW> says {declared_total:,.2f}",
                file=path,
                line=declared[0],
                hint="the file is truncated or the header is wrong",
            )
    trips.attrs.update(
        source=str(path),
        total=total,
        declared_total=declared_total,
        number_of_zones=_int_tag(metadata, "NUMBER OF ZONES", path, DemandError),
    )
    return trips


def read_tntp_flows(path: str | Path) -> pd.DataFrame:
    """Read a TNTP solution file (``*_flow.tntp``: ``From To Volume Cost``).

    Parameters
    ----------
    path
        The flow file.

    Returns
    -------
    pandas.DataFrame
        Columns ``init_node``, ``term_node`` (int64), ``volume`` and ``cost`` (float64), file order.

    Raises
    ------
    MapError
        The file is missing or unreadable, or a row is not four numbers.
    """
    return _read_numeric_table(
        path, ("init_node", "term_node", "volume", "cost"), ("init_node", "term_node")
    )


def read_tntp_nodes(path: str | Path) -> pd.DataFrame:
    """Read a TNTP node-coordinate file (``*_node.tntp``: ``Node X Y``).

    Parameters
    ----------
    path
        The node file.

    Returns
    -------
    pandas.DataFrame
        Columns ``node`` (int64), ``x`` and ``y`` (float64, in the file's coordinate units).

    Raises
    ------
    MapError
        The file is missing or unreadable, or a row is not three numbers.
    """
    return _read_numeric_table(path, ("node", "x", "y"), ("node",))


# --- internals ---------------------------------------------------------------------------------


def _read_numeric_table(
    path: str | Path, columns: tuple[str, ...], int_columns: tuple[str, ...]
) -> pd.DataFrame:
    """Read a headed whitespace table of numbers (flows, nodes); the header row is skipped."""
    _, rows = _read_table(path, MapError)
    records = []
    for index, (line_no, fields) in enumerate(rows):
        if index == 0 and not _is_number(fields[0]):
            continue  # the column header ("From To Volume Cost", "Node X Y")
        if len(fields) != len(columns):
            raise MapError(
                f"a row has {len(fields)} fields, expected {len(columns)} ({', '.join(columns)})",
                file=path,
                line=line_no,
            )
        records.append(_numbers(fields, path, line_no, MapError))
    if not records:
        raise MapError("the file has no data rows", file=path, hint="check the file")
    table = pd.DataFrame(np.array(records, dtype=float), columns=list(columns))
    for column in int_columns:
        table[column] = _as_int(table[column], column, path, MapError)
    table.attrs["source"] = str(path)
    return table


def _read_table(
    path: str | Path, error: type[CysimError]
) -> tuple[dict[str, tuple[int, str]], list[tuple[int, list[str]]]]:
    """Split a file into its metadata tags and its data rows (fields split on whitespace)."""
    lines = _lines(path, error)
    metadata, body_start = _metadata(lines, path, error)
    rows = [(line_no, text.split()) for line_no, text in _content_lines(lines, body_start)]
    rows = [(line_no, [f for f in fields if f != ";"]) for line_no, fields in rows]
    return metadata, [(line_no, fields) for line_no, fields in rows if fields]


def _lines(path: str | Path, error: type[CysimError]) -> list[str]:
    """The file's lines; a missing or unreadable file raises ``error`` naming it."""
    try:
        return Path(path).read_text(encoding="utf-8-sig", errors="strict").splitlines()
    except FileNotFoundError:
        raise error("file not found", file=path, hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read the file: {exc}", file=path) from None


def _metadata(
    lines: list[str], path: str | Path, error: type[CysimError]
) -> tuple[dict[str, tuple[int, str]], int]:
    """Parse ``<TAG> value`` lines up to ``<END OF METADATA>``.

    Returns the tags (upper-cased name → (1-based line, value text)) and the index of the first
    body line. A file without ``<END OF METADATA>`` (flow and node files) has no metadata.
    """
    tags: dict[str, tuple[int, str]] = {}
    for index, raw in enumerate(lines):
        text = raw.split("~", 1)[0].strip()
        if not text:
            continue
        match = _METADATA_TAG.match(text)
        if match is None:
            break
        name = match.group(1).strip().upper()
        if name == "END OF METADATA":
            return tags, index + 1
        tags[name] = (index + 1, match.group(2).strip())
    if tags:
        raise error(
            "the metadata has no <END OF METADATA> line",
            file=path,
            hint="end the header block with <END OF METADATA>",
        )
    return {}, 0


def _content_lines(lines: list[str], start: int) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text) of non-blank lines, with ``~`` comments removed."""
    for index in range(start, len(lines)):
        text = lines[index].split("~", 1)[0].strip()
        if text:
            yield index + 1, text


def _numbers(
    fields: list[str], path: str | Path, line_no: int, error: type[CysimError]
) -> list[float]:
    """Convert fields to floats; a field that is not a number raises ``error`` at that line."""
    values = []
    for field in fields:
        token = field.rstrip(";")
        try:
            values.append(float(token))
        except ValueError:
            raise error(
                f"{token!r} is not a number", file=path, line=line_no, hint="check the value"
            ) from None
    return values


def _integer(token: str, path: str | Path, line_no: int, error: type[CysimError]) -> int:
    """Parse a node or zone id (``12`` or ``12.0``)."""
    value = _numbers([token], path, line_no, error)[0]
    if not np.isfinite(value) or value != int(value):
        raise error(f"{token!r} is not a whole node or zone number", file=path, line=line_no)
    return int(value)


def _is_number(token: str) -> bool:
    try:
        float(token.rstrip(";"))
    except ValueError:
        return False
    return True


def _as_int(values: pd.Series, column: str, path: str | Path, error: type[CysimError]) -> pd.Series:
    """Cast a float column that must hold whole numbers to int64."""
    array = values.to_numpy()
    bad = ~np.isfinite(array) | (array != np.round(array))
    if bad.any():
        raise error(
            f"column {column} holds {array[bad][0]}, which is not a whole number",
            file=path,
            key=column,
        )
    return pd.Series(array.astype(np.int64), index=values.index, name=column)


def _int_tag(
    metadata: dict[str, tuple[int, str]], name: str, path: str | Path, error: type[CysimError]
) -> int | None:
    """An integer metadata tag, or None when absent."""
    if name not in metadata:
        return None
    line_no, text = metadata[name]
    return _integer(text.split()[0] if text.split() else text, path, line_no, error)
