"""Fuzzing: any scenario document either validates (and its patches apply) or fails as CysimError.

Hypothesis generates valid scenario documents and mutates them (misspelt and unknown keys, type
swaps, deleted required keys, garbage values, deep nesting, unicode, broken YAML text). Each is
written to a file and loaded with :func:`cysim.scenario.load.load_scenario`; a document that loads
has
its graph patches applied to the small hand-built network of ``tests/helpers/graphs.py``. The only
exception allowed is cysim's own :class:`~cysim.CysimError` — anything else would reach a user
as a traceback. Runs derandomised so CI sees the same documents every time.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.graphs import grid_graph, lonlat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cysim._errors import CysimError
from cysim.cli import one_line
from cysim.patch.apply import apply_patches
from cysim.scenario.load import load_scenario

#: Examples per test; together the two tests generate well over 1,000 documents.
STRUCTURED_EXAMPLES = 1000
TEXT_EXAMPLES = 300

FUZZ = settings(
    max_examples=STRUCTURED_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ROADS = ["文阳路", "正阳中路", "长城路", "春阳路", "黑龙江路", "华中路", "银河路"]


def _valid_patches() -> list[dict[str, Any]]:
    """One valid patch of every type on the grid network of tests/helpers/graphs.py."""
    return [
        {"type": "widen_road", "road": "文阳路", "lanes_per_direction": 3},
        {"type": "widen_road", "road": "长城路", "add_lanes": 1, "speed_kph": 50},
        {"type": "set_speed", "road": "春阳路", "speed_kph": 30},
        {"type": "close_road", "road": "银河路", "allow_disconnect": True},
        {
            "type": "open_road",
            "from": list(lonlat(7)),
            "to": list(lonlat(8)),
            "lanes_per_direction": 1,
            "speed_kph": 40,
            "name": "新路",
        },
        {"type": "channelize", "junction": ["文阳路", "长城路"], "add_turn_lanes": {"left": 1}},
        {
            "type": "signal_timing",
            "junction": ["正阳中路", "长城路"],
            "cycle_s": 90,
            "greens_s": [40, 30],
        },
        {"type": "signal_timing", "all_signals": True, "offset_s": 5},
        {"type": "add_parking", "location": list(lonlat(5)), "spaces": 200, "guidance": True},
        {"type": "remove_on_street_parking", "roads": ["正阳中路"]},
        {"type": "demand_shift", "remove_share": 0.1, "corridor": {"roads": ["文阳路"]}},
    ]


def _valid_document(map_path: str) -> dict[str, Any]:
    return {
        "name": "fuzz",
        "title": "模糊测试 fuzz",
        "map": map_path,
        "demand": {
            "zones": {"grid_m": 1000},
            "od": {"gravity": {"beta_per_min": 0.1}},
            "trips": 500,
            "profile": "uniform",
        },
        "simulation": {
            "duration_s": 600,
            "seed": 3,
            "replications": 2,
            "route_choice": {"iterations": 2},
        },
        "patches": _valid_patches(),
    }


# --- mutations -----------------------------------------------------------------------------

GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(-3, 3), max_size=2),
    st.sampled_from(
        ["", "-1", "1e309", "nan", "~", "[bold red]x[/]", "../../etc", "文阳路", "\u202e", "\x00"]
    ),
)


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key path in a nested document (mapping keys and list indices)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _parent(doc: Any, path: tuple) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _typo(key: str, position: int, letter: str) -> str:
    """Misspell a key: drop, double or replace one character."""
    if not key:
        return letter
    i = position % len(key)
    choice = position % 3
    if choice == 0:
        return key[:i] + key[i + 1 :] or letter
    if choice == 1:
        return key[:i] + key[i] + key[i:]
    return key[:i] + letter + key[i + 1 :]


@st.composite
def mutated_documents(draw: st.DrawFn, map_path: str) -> dict[str, Any]:
    """A valid document with 0–4 random mutations applied."""
    doc = copy.deepcopy(_valid_document(map_path))
    # A few patches per document keep the YAML short (parsing dominates the run time).
    chosen = draw(st.lists(st.integers(0, len(doc["patches"]) - 1), max_size=3, unique=True))
    doc["patches"] = [doc["patches"][i] for i in chosen]
    for _ in range(draw(st.integers(0, 4))):
        paths = list(_paths(doc))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        leaf = path[-1]
        action = draw(
            st.sampled_from(["typo", "delete", "garbage", "swap", "nest", "unicode", "extra"])
        )
        if action == "typo" and isinstance(parent, dict):
            position = draw(st.integers(0, 50))
            letter = draw(st.sampled_from(list("aezé_路0")))
            parent[_typo(str(leaf), position, letter)] = parent.pop(leaf)
        elif action == "delete":
            del parent[leaf]
        elif action == "garbage":
            parent[leaf] = draw(GARBAGE)
        elif action == "swap":
            value = parent[leaf]
            parent[leaf] = (
                str(value)
                if not isinstance(value, str)
                else draw(st.sampled_from([[value], {"x": value}, 3, True]))
            )
        elif action == "nest":
            depth = draw(st.integers(1, 60))
            nested: Any = parent[leaf]
            for _ in range(depth):
                nested = {"k": nested} if depth % 2 else [nested]
            parent[leaf] = nested
        elif action == "unicode":
            parent[leaf] = draw(st.text(min_size=0, max_size=20))
        elif action == "extra" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(GARBAGE)
    return doc


# --- the checks ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cysim-fuzz-") as folder:
        path = Path(folder)
        (path / "map.osm").write_text("<osm/>\n", encoding="utf-8")
        yield path


_counter = itertools.count()
#: The hand-built network the patches apply to (apply_patches never modifies its input).
GRID = grid_graph()


def _check_document(text: str, folder: Path) -> str:
    """Load ``text`` as a scenario; apply its patches when it loads. Returns the outcome."""
    path = folder / f"doc{next(_counter)}.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        scenario = load_scenario(path)
    except CysimError as error:
        message = str(error)
        assert message.strip(), "an error must say something"
        assert "\n" not in one_line(message)
        return "refused"
    try:
        apply_patches(GRID, scenario.patches, defer_webster=True)
    except CysimError:
        return "patch refused"
    return "valid"


def _dump(doc: Any) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(
        doc, Dumper=dumper, allow_unicode=True, sort_keys=False, default_flow_style=None
    )


def test_valid_document_loads_and_applies(workdir: Path) -> None:
    """The generator's starting point is valid, so mutations test real rejection paths."""
    assert _check_document(_dump(_valid_document(str(workdir / "map.osm"))), workdir) == "valid"


outcomes: dict[str, int] = {}


@FUZZ
@given(data=st.data())
def test_mutated_documents_validate_or_raise_cysim_error(workdir: Path, data: st.DataObject):
    doc = data.draw(mutated_documents(str(workdir / "map.osm")))
    try:
        text = _dump(doc)
    except (yaml.YAMLError, ValueError, RecursionError):
        return  # a document PyYAML itself cannot write is no scenario file
    outcome = _check_document(text, workdir)
    outcomes[outcome] = outcomes.get(outcome, 0) + 1


def test_fuzzing_exercised_both_outcomes() -> None:
    """Runs after the fuzz test: the generated documents were neither all valid nor all refused."""
    if not outcomes:
        pytest.skip("run together with the fuzz test")
    assert outcomes.get("valid", 0) >= 20, outcomes
    assert outcomes.get("refused", 0) >= 200, outcomes


@st.composite
def broken_texts(draw: st.DrawFn, map_path: str) -> str:
    """Valid YAML text cut, spliced or sprinkled with odd characters."""
    doc = _valid_document(map_path)
    doc["patches"] = draw(st.lists(st.sampled_from(doc["patches"]), max_size=2))
    text = _dump(doc)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["cut", "insert", "delete", "tag"]))
        if action == "cut":
            text = text[:at]
        elif action == "insert":
            text = text[:at] + draw(st.text(max_size=6)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        else:
            tag = draw(
                st.sampled_from(["!!python/object:os.system ", "!!binary ", "&a ", "*a ", "<<: "])
            )
            text = text[:at] + tag + text[at:]
    return text


@settings(FUZZ, max_examples=TEXT_EXAMPLES)
@given(data=st.data())
def test_broken_yaml_text_validates_or_raises_cysim_error(workdir: Path, data: st.DataObject):
    text = data.draw(broken_texts(str(workdir / "map.osm")))
    _check_document(text, workdir)
