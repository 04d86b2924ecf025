"""OSM tag parsing: lanes per direction, maxspeed, oneway, curb parking; road-class defaults."""

from __future__ import annotations

import warnings

import osmnx as ox
import pytest

from cysim._errors import ScenarioError
from cysim.network import _osm_tags as tags
from cysim.network import roadclass

# (tags, oneway, reverse, default) -> (lanes, defaulted)
LANE_CASES = [
    ({}, False, False, 2, (2, True)),
    ({"lanes": "4"}, False, False, 1, (2, False)),
    ({"lanes": "4"}, False, True, 1, (2, False)),
    # odd total: the extra lane goes nowhere unless lanes:forward says so
    ({"lanes": "3"}, False, False, 1, (1, False)),
    ({"lanes": "3"}, False, True, 1, (1, False)),
    ({"lanes": "3", "lanes:forward": "2"}, False, False, 1, (2, False)),
    ({"lanes": "3", "lanes:forward": "2"}, False, True, 1, (1, False)),
    ({"lanes": "5", "lanes:backward": "3"}, False, False, 1, (2, False)),
    ({"lanes:forward": "2", "lanes:backward": "1"}, False, True, 3, (1, False)),
    ({"lanes": "1"}, False, False, 2, (1, False)),  # one-lane two-way road: 1 each way
    ({"lanes": "5", "lanes:both_ways": "1"}, False, False, 1, (2, False)),  # centre turn lane
    ({"lanes": "3"}, True, False, 1, (3, False)),
    ({"lanes:backward": "2"}, True, False, 1, (2, False)),  # oneway=-1 drawn backwards
    ({"lanes": "2;3"}, True, False, 1, (2, False)),
    ({"lanes": " 2 "}, True, False, 1, (2, False)),
    ({"lanes": "2.0"}, True, False, 1, (2, False)),
    ({}, True, False, 3, (3, True)),
]

JUNK_LANES = [{"lanes": "two"}, {"lanes": "0"}, {"lanes": "-2"}, {"lanes": "2.5"}, {"lanes": ""}]

MAXSPEED_CASES = [
    ("50", 50.0),
    ("50 km/h", 50.0),
    ("50km/h", 50.0),
    ("60 kmh", 60.0),
    ("30 mph", 30 * 1.609344),
    ("25mph", 25 * 1.609344),
    ("10 knots", 18.52),
    ("50;60", 50.0),  # lists: the smallest binds
    ("60; 40", 40.0),
    (["70", "50"], 70.0),  # osmnx list: first value
    (None, None),
    ("", None),
]
JUNK_MAXSPEED = [
    "RU:urban",
    "CN:urban",
    "none",
    "signals",
    "walk",
    "fast",
    "50 furlongs",
    "0",
    "50;x",
]


@pytest.mark.parametrize(("way_tags", "oneway", "reverse", "default", "expected"), LANE_CASES)
def test_lanes_per_direction(way_tags, oneway, reverse, default, expected) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tags.lanes_per_direction(way_tags, oneway, reverse, default) == expected


@pytest.mark.parametrize("way_tags", JUNK_LANES)
def test_junk_lanes_fall_back_to_default(way_tags) -> None:
    with pytest.warns(tags.OSMTagWarning, match="lane count"):
        assert tags.lanes_per_direction(way_tags, False, False, 2) == (2, True)


@pytest.mark.parametrize(("value", "expected"), MAXSPEED_CASES)
def test_parse_maxspeed(value, expected) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = tags.parse_maxspeed(value)
    assert result == pytest.approx(expected) if expected is not None else result is None


@pytest.mark.parametrize("value", JUNK_MAXSPEED)
def test_junk_maxspeed_warns_and_gives_none(value) -> None:
    with pytest.warns(tags.OSMTagWarning, match="maxspeed"):
        assert tags.parse_maxspeed(value) is None


def test_directional_maxspeed() -> None:
    way = {"maxspeed": "60", "maxspeed:backward": "40"}
    assert tags.maxspeed_for_direction(way, reverse=True) == "40"
    assert tags.maxspeed_for_direction(way, reverse=False) == "60"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", 1),
        ("true", 1),
        ("1", 1),
        ("-1", -1),
        ("reverse", -1),
        ("no", 0),
        ("false", 0),
        ("0", 0),
        (None, 0),
        (True, 1),
        (False, 0),
    ],
)
def test_parse_oneway(value, expected) -> None:
    assert tags.parse_oneway(value) == expected


def test_parse_oneway_junk_is_two_way_with_warning() -> None:
    with pytest.warns(tags.OSMTagWarning):
        assert tags.parse_oneway("reversible") == 0


@pytest.mark.parametrize(
    ("way_tags", "oneway", "reverse", "expected"),
    [
        ({"parking:lane:both": "parallel"}, False, False, True),
        ({"parking:lane:both": "parallel"}, False, True, True),
        ({"parking:lane:right": "diagonal"}, False, False, True),
        ({"parking:lane:right": "diagonal"}, False, True, False),  # backward curb is the left
        ({"parking:lane:left": "perpendicular"}, False, True, True),
        (
            {"parking:lane:both": "parallel", "parking:lane:right": "no_stopping"},
            False,
            False,
            False,
        ),
        ({"parking:both": "lane"}, False, False, True),
        ({"parking:right": "street_side"}, False, False, False),  # bays off the carriageway
        ({"parking:left": "on_kerb"}, False, True, False),
        ({"parking:left": "lane"}, True, False, True),  # one-way: either side takes a lane
        ({"parking:lane:both": "no"}, True, False, False),
        ({}, False, False, False),
    ],
)
def test_curb_parking(way_tags, oneway, reverse, expected) -> None:
    assert tags.curb_parking(way_tags, oneway, reverse) is expected


def test_useful_tags_context_restores_osmnx_settings() -> None:
    before_way, before_node = list(ox.settings.useful_tags_way), list(ox.settings.useful_tags_node)
    with tags.useful_tags():
        assert {"lanes:forward", "parking:lane:both", "maxspeed"} <= set(
            ox.settings.useful_tags_way
        )
        assert "highway" in ox.settings.useful_tags_node
    assert ox.settings.useful_tags_way == before_way
    assert ox.settings.useful_tags_node == before_node
    with pytest.raises(RuntimeError), tags.useful_tags():
        raise RuntimeError("boom")
    assert ox.settings.useful_tags_way == before_way


# --- road classes -------------------------------------------------------------------------


def test_cjj37_capacity_table_values() -> None:
    table = roadclass.road_class_table()
    assert table["primary"].cjj_class == "主干路"
    assert table["motorway"].cjj_class == "快速路"
    assert table["secondary"].cjj_class == "次干路"
    assert table["residential"].cjj_class == "支路"
    # CJJ 37-2012 Table 4.2.2 / 4.2.3 values at the table's speeds, interpolated between
    assert table["motorway"].lane_capacity_vphpl(80) == 2100
    assert table["motorway"].lane_capacity_vphpl(120) == 2200  # clamped
    assert table["primary"].lane_capacity_vphpl(50) == 1700
    assert table["primary"].lane_capacity_vphpl(45) == 1675
    assert table["residential"].lane_capacity_vphpl(20) == 1400
    assert table["motorway_link"].lane_capacity_vphpl(40) == 1650  # ramps use Table 4.2.3
    assert table["primary"].lane_saturation_flow_vphpl(50) == 1800
    assert table["motorway"].lane_saturation_flow_vphpl(80) == 2100  # no stop line
    assert table["primary"].jam_spacing() == 7.5


def test_overrides_apply_without_touching_module_table() -> None:
    table = roadclass.road_class_table(
        {
            "primary": {
                "lanes": 3,
                "speed_kph": 50,
                "capacity_vphpl": 1600,
                "saturation_flow_vphpl": 1750,
            }
        }
    )
    assert table["primary"].lanes == 3
    assert table["primary"].lane_capacity_vphpl(80) == 1600
    assert table["primary"].lane_saturation_flow_vphpl(50) == 1750
    assert roadclass.ROAD_CLASSES["primary"].lanes == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"primry": {"lanes": 3}}, "unknown road class 'primry'.*motorway"),
        ({"primary": {"lane": 3}}, "unknown road-class setting 'lane'.*lanes"),
        ({"primary": {"lanes": 2.5}}, "whole number"),
        ({"primary": {"lanes": 0}}, "whole number"),
        ({"primary": {"speed_kph": -5}}, "> 0"),
        ({"primary": {"speed_kph": "fast"}}, "must be a number"),
        ({"primary": {"curb_parking_factor": 1.5}}, "≤ 1"),
        ({"primary": 3}, "mapping"),
    ],
)
def test_bad_overrides_raise_scenario_error(overrides, message) -> None:
    with pytest.raises(ScenarioError, match=message):
        roadclass.road_class_table(overrides)


def test_resolve_road_class() -> None:
    assert roadclass.resolve_road_class("primary") == "primary"
    assert roadclass.resolve_road_class(["busway", "secondary"]) == "secondary"
    assert roadclass.resolve_road_class("primary;secondary") == "primary"
    assert roadclass.resolve_road_class("road") == roadclass.FALLBACK_CLASS
    assert roadclass.resolve_road_class(None) == roadclass.FALLBACK_CLASS
