"""Seeded integer rounding, sampling shares and departure-time profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cysim._errors import DemandError
from cysim.demand.profile import clock_seconds, departure_profile, parse_slice
from cysim.demand.sampling import (
    choose_members,
    round_preserving_total,
    sample_share,
    uniform_departures,
)
from cysim.demand.spec import ProfileCsvSpec


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(0, 50, allow_nan=False), min_size=1, max_size=60),
    seed=st.integers(0, 2**32 - 1),
)
def test_rounding_preserves_total_and_stays_within_floor_and_ceiling(
    values: list[float], seed: int
) -> None:
    array = np.array(values)
    if array.sum() == 0:
        array[0] = 1.0
    total = round(array.sum())
    counts = round_preserving_total(array, total, np.random.default_rng(seed))
    assert counts.sum() == total
    assert counts.dtype == np.int64
    scaled = array * total / array.sum()
    assert np.all(counts >= np.floor(scaled) - 1e-9)
    assert np.all(counts <= np.ceil(scaled) + 1e-9)


def test_rounding_is_unbiased_for_small_cells() -> None:
    # 1000 cells of 0.3 trips: largest-remainder would favour whichever cells sort first;
    # systematic sampling gives every cell the same 30 % chance.
    values = np.full(1000, 0.3)
    hits = np.zeros(1000)
    for seed in range(400):
        hits += round_preserving_total(values, 300, np.random.default_rng(seed))
    assert hits.sum() == 400 * 300
    assert hits.min() > 0.15 * 400 and hits.max() < 0.45 * 400


def test_rounding_same_seed_same_counts() -> None:
    values = np.random.default_rng(0).uniform(0, 3, 500)
    total = round(values.sum())
    a = round_preserving_total(values, total, np.random.default_rng(5))
    b = round_preserving_total(values, total, np.random.default_rng(5))
    c = round_preserving_total(values, total, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_share_and_member_choice() -> None:
    rng = np.random.default_rng(3)
    kept = sample_share(1000, 0.25, rng)
    assert len(kept) == 250 and len(np.unique(kept)) == 250 and np.all(np.diff(kept) > 0)
    assert np.array_equal(sample_share(10, 1.0, rng), np.arange(10))
    chosen = choose_members(np.array([0, 1, 1, 0] * 100), [[7], [8, 9]], rng)
    assert set(chosen[::4]) == {7}
    assert set(chosen[1::4]) == {8, 9}


def test_morning_peak_profile_shares_and_intervals() -> None:
    profile = departure_profile("morning_peak", start_time="07:00", duration_s=7200)
    assert profile["share"].sum() == pytest.approx(1.0, abs=1e-12)
    assert list(profile["start_s"]) == [900.0 * i for i in range(8)]
    assert list(profile["end_s"]) == [900.0 * (i + 1) for i in range(8)]
    # Peak 07:30-08:15: those three intervals are the largest.
    top3 = set(profile.nlargest(3, "share")["start_s"])
    assert top3 == {1800.0, 2700.0, 3600.0}
    # A run that starts at 06:30 sees the same peak shifted by 30 min.
    shifted = departure_profile("morning_peak", start_time="06:30", duration_s=10800)
    assert shifted["start_s"].iloc[0] == 1800.0


def test_departures_fall_in_their_intervals() -> None:
    rng = np.random.default_rng(11)
    starts = np.repeat([0.0, 900.0, 1800.0], 500)
    departures = uniform_departures(starts, starts + 900.0, rng)
    assert np.all(departures >= starts) and np.all(departures < starts + 900.0)
    assert departures[:500].mean() == pytest.approx(450.0, abs=40.0)


def test_profile_outside_period_is_an_error() -> None:
    with pytest.raises(DemandError, match="outside the simulated period"):
        departure_profile("morning_peak", start_time="07:00", duration_s=3600)


def test_profile_csv(tmp_path: Path) -> None:
    good = tmp_path / "profile.csv"
    good.write_text("start,end,share\n07:00,07:30,0.25\n07:30,08:00,0.75\n")
    profile = departure_profile(
        ProfileCsvSpec(csv=Path("profile.csv")),
        start_time="07:00",
        duration_s=3600,
        base_dir=tmp_path,
    )
    assert profile.to_dict("list") == {
        "start_s": [0.0, 1800.0],
        "end_s": [1800.0, 3600.0],
        "share": [0.25, 0.75],
    }
    bad = tmp_path / "bad.csv"
    bad.write_text("start,end,share\n07:00,07:30,0.25\n07:30,8h,0.75\n")
    with pytest.raises(DemandError, match=r"bad\.csv:3") as error:
        departure_profile(ProfileCsvSpec(csv=bad), start_time="07:00", duration_s=3600)
    assert "HH:MM" in str(error.value)
    short = tmp_path / "short.csv"
    short.write_text("start,end,share\n07:00,07:30,0.25\n07:30,08:00,0.5\n")
    with pytest.raises(DemandError, match=r"sum to 0\.75"):
        departure_profile(ProfileCsvSpec(csv=short), start_time="07:00", duration_s=3600)


def test_clock_parsing() -> None:
    assert clock_seconds("07:30") == 27000.0
    assert clock_seconds("7:30:15") == 27015.0
    assert parse_slice("07:00-07:30", "07:00") == (0.0, 1800.0)
    with pytest.raises(ValueError):
        clock_seconds("7.30")
    with pytest.raises(ValueError):
        parse_slice("07:30-07:00", "07:00")
