"""Departure-time profiles: the built-in morning peak, a uniform period, or shares from a CSV."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import DemandError
from .spec import ProfileCsvSpec

#: Built-in morning peak 07:00–09:00, share of the period's car trips departing in each 15 min.
#: The shape is ASSUMED (no Chengyang count data is available offline): it peaks 07:30–08:15,
#: puts 59 % of the two hours' trips in the peak hour 07:30–08:30, and has a peak-hour factor
#: 0.59 / (4 × 0.16) = 0.92, the HCM default PHF for urban streets. See docs/demand.md.
MORNING_PEAK_SHARES: tuple[tuple[str, float], ...] = (
    ("07:00", 0.09),
    ("07:15", 0.11),
    ("07:30", 0.15),
    ("07:45", 0.16),
    ("08:00", 0.15),
    ("08:15", 0.13),
    ("08:30", 0.11),
    ("08:45", 0.10),
)
MORNING_PEAK_INTERVAL_S = 900.0

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d*)?))?\s*$")


def clock_seconds(text: str) -> float:
    """Seconds after midnight of a clock time ``HH:MM`` or ``HH:MM:SS``.

    Raises
    ------
    ValueError
        The text is not a clock time.
    """
    match = _CLOCK.match(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a clock time HH:MM[:SS]")
    hours, minutes = int(match.group(1)), int(match.group(2))
    seconds = float(match.group(3) or 0.0)
    if minutes >= 60 or seconds >= 60 or hours > 47:
        raise ValueError(f"{text!r} is not a valid clock time")
    return hours * 3600.0 + minutes * 60.0 + seconds


def parse_slice(text: str, start_time: str) -> tuple[float, float]:
    """Interval ``"07:00-07:30"`` as seconds after the simulation start.

    Raises
    ------
    ValueError
        The text is not two clock times joined by ``-`` with the end after the start.
    """
    parts = str(text).split("-")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a time slice like 07:00-07:30")
    origin = clock_seconds(start_time)
    begin, end = clock_seconds(parts[0]) - origin, clock_seconds(parts[1]) - origin
    if end <= begin:
        raise ValueError(f"time slice {text!r} ends before it starts")
    return begin, end


def departure_profile(
    profile: str | ProfileCsvSpec,
    *,
    start_time: str,
    duration_s: float,
    base_dir: Path | None = None,
) -> pd.DataFrame:
    """The departure profile as intervals relative to the simulation start.

    Parameters
    ----------
    profile
        ``"morning_peak"`` (07:00–09:00 in 15-min shares), ``"uniform"`` (the whole period) or a
        :class:`ProfileCsvSpec` naming a CSV with columns ``start``, ``end`` (HH:MM) and ``share``.
    start_time
        Clock time of the simulation start, ``HH:MM``.
    duration_s
        Length of the demand period, seconds.
    base_dir
        Folder that a relative CSV path is relative to.

    Returns
    -------
    pandas.DataFrame
        Columns ``start_s``, ``end_s``, ``share`` (shares sum to exactly 1), sorted by start.

    Raises
    ------
    DemandError
        The CSV is missing or malformed, shares do not sum to 1 (±1 %), intervals overlap, or
        the profile reaches outside the simulated period.
    """
    origin = clock_seconds(start_time)
    source: Path | None = None
    if profile == "uniform":
        table = pd.DataFrame({"start_s": [0.0], "end_s": [float(duration_s)], "share": [1.0]})
    elif profile == "morning_peak":
        starts = np.array([clock_seconds(t) for t, _ in MORNING_PEAK_SHARES]) - origin
        table = pd.DataFrame(
            {
                "start_s": starts,
                "end_s": starts + MORNING_PEAK_INTERVAL_S,
                "share": [s for _, s in MORNING_PEAK_SHARES],
            }
        )
    elif isinstance(profile, ProfileCsvSpec):
        source = (
            profile.csv if base_dir is None or profile.csv.is_absolute() else base_dir / profile.csv
        )
        table = _read_profile_csv(source, origin)
    else:
        raise DemandError(f"unknown profile {profile!r}", key="demand.profile")
    return _checked(table, duration_s, start_time, source)


def _read_profile_csv(path: Path, origin_s: float) -> pd.DataFrame:
    """Read ``start,end,share`` rows; times are clock times."""
    if not path.is_file():
        raise DemandError("profile CSV not found", file=path, key="demand.profile.csv")
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DemandError(f"cannot read the profile CSV: {error}", file=path) from error
    missing = {"start", "end", "share"} - set(raw.columns)
    if missing:
        raise DemandError(
            f"the profile CSV lacks column(s) {', '.join(sorted(missing))}",
            file=path,
            line=1,
            hint="columns are start,end,share, e.g. 07:00,07:15,0.09",
        )
    rows = []
    for i, record in enumerate(raw.itertuples(index=False)):
        line = i + 2  # header is line 1
        try:
            begin = clock_seconds(record.start) - origin_s
            end = clock_seconds(record.end) - origin_s
            share = float(record.share)
        except (TypeError, ValueError) as error:
            raise DemandError(
                f"bad profile row: {error}",
                file=path,
                line=line,
                hint="start and end are HH:MM, share a number",
            ) from None
        if end <= begin or not np.isfinite(share) or share < 0:
            raise DemandError(
                "profile interval must end after it starts and have a share ≥ 0",
                file=path,
                line=line,
            )
        rows.append((begin, end, share))
    if not rows:
        raise DemandError("the profile CSV has no rows", file=path)
    return pd.DataFrame(rows, columns=["start_s", "end_s", "share"])


def _checked(
    table: pd.DataFrame, duration_s: float, start_time: str, source: Path | None
) -> pd.DataFrame:
    """Sort, check shares and bounds, and renormalise shares to sum to exactly 1."""
    table = table.sort_values("start_s", kind="stable").reset_index(drop=True)
    total = float(table["share"].sum())
    if abs(total - 1.0) > 0.01:
        raise DemandError(
            f"departure shares sum to {total:.4f}, not 1",
            file=source,
            key="demand.profile",
            hint="make the shares of all intervals add up to 1",
        )
    if (table["start_s"].to_numpy()[1:] < table["end_s"].to_numpy()[:-1] - 1e-9).any():
        raise DemandError("profile intervals overlap", file=source, key="demand.profile")
    first, last = float(table["start_s"].min()), float(table["end_s"].max())
    if first < -1e-9 or last > duration_s + 1e-9:
        raise DemandError(
            f"the departure profile runs from {first / 60:+.0f} to {last / 60:+.0f} min after "
            f"the start {start_time}, outside the simulated period of {duration_s / 60:.0f} min",
            file=source,
            key="demand.profile",
            hint="set simulation.start_time/duration_s to cover the profile, or use "
            "profile: uniform",
        )
    table["share"] = table["share"] / total
    return table
