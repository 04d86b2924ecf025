"""Road names as planners type them (pinyin, English) and errors that say how to fix them."""

from __future__ import annotations

import networkx as nx
import pytest
from conftest import BUNDLED_MAP

from cysim import network


@pytest.fixture(scope="module")
def bundled() -> nx.MultiDiGraph:
    return network.load_network(BUNDLED_MAP)


# --- the map keeps name:en ------------------------------------------------------------------


def test_the_bundled_map_keeps_the_english_names(bundled, tmp_path):
    english = {d["name"]: d["name_en"] for _, _, d in bundled.edges(data=True)}
    assert english["中城路"] == "Zhongcheng Road"
    assert english["中车大道"] == "CRRC Avenue"
    saved = network.load_graphml(network.save_graphml(bundled, tmp_path / "m.graphml"))
    assert {d["name_en"] for _, _, d in saved.edges(data=True)} == set(english.values())


def test_a_graphml_saved_before_name_en_still_loads(bundled, tmp_path):
    older = bundled.copy()
    for _, _, data in older.edges(data=True):
        del data["name_en"]
    saved = network.load_graphml(network.save_graphml(older, tmp_path / "old.graphml"))
    assert {d["name_en"] for _, _, d in saved.edges(data=True)} == {""}
