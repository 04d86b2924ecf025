"""Find roads, stretches and junctions in a network by name or by WGS84 coordinates.

The nearest-node and nearest-edge searches (:func:`nearest_node`, :func:`nearest_edge`) are plain
loops, kept rather than replaced by :func:`osmnx.distance.nearest_nodes` / ``nearest_edges``
(checked with osmnx 2.1 on the bundled map at 500 points, 300 random and 200 edge midpoints):
those find the same distances, but

* ties are the rule here, not the exception: a two-way road is two edges with one geometry, and
  dual carriageways cross at coincident nodes. osmnx returns whichever one its k-d tree or STRtree
  meets first (an order set by the index, not documented); cysim takes the lowest id, so a
  scenario snaps to the same edge and junction whatever the library versions. osmnx picked
  another edge than the lowest-keyed for 219 of the 500 points (144 of the random ones), another
  node for 19.
* each call here answers one point (a patch's place, a demand gateway), and osmnx rebuilds a
  GeoDataFrame and a spatial index of the whole graph per call: about ten times slower than the
  loop (nodes 2.1 s against 0.15 s, edges 12.6 s against 1.2 s for the 500 points).
* :func:`nearest_node` may be limited to candidate nodes, and the stretch and junction searches
  run over the nodes of named roads only; a whole-graph nearest is not the same question.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import networkx as nx
import pyproj
import shapely
from shapely.geometry import LineString, Point

from .._errors import PatchError

#: A directed edge of a MultiDiGraph.
EdgeKey = tuple[int, int, int]

#: Road-type words at the end of a Chinese road name, longest first.
_ROAD_TYPES = ("大道", "大街", "公路", "路", "街", "线")
#: Direction / section characters that distinguish 正阳中路 from 正阳东路.
_DIRECTIONS = "东西南北中"
#: How many closest names an error lists.
N_SUGGESTIONS = 5
#: Default radius within which a lon/lat point snaps to a junction, metres.
DEFAULT_SNAP_M = 100.0
#: A point farther than this beyond the map's extent is reported as outside the map, metres.
OUTSIDE_MARGIN_M = 2000.0


# --- names ---------------------------------------------------------------------------------


def clean_name(name: str) -> str:
    """Return ``name`` with full-width characters folded (NFKC) and all whitespace removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


def normalise_road_name(name: str) -> str:
    """Reduce a road name to its stem so that variants of one road compare equal.

    The road-type word (路, 大道, 街, 线, …) is dropped, then one trailing direction
    character (东/西/南/北/中) if at least two characters remain, so 正阳路, 正阳中路 and
    正阳东路 all become 正阳, while 华中路 stays 华中.

    Parameters
    ----------
    name
        A road name as written in a scenario or in OSM.

    Returns
    -------
    str
    """
    stem = clean_name(name)
    for road_type in _ROAD_TYPES:
        if stem.endswith(road_type) and len(stem) > len(road_type):
            stem = stem[: -len(road_type)]
            break
    if len(stem) >= 3 and stem[-1] in _DIRECTIONS:
        stem = stem[:-1]
    return stem


def edge_names(data: dict) -> list[str]:
    """Return the road names of one edge (OSM may join several with ``;`` or give a list)."""
    return _split_names(data.get("name", ""))


def _split_names(raw: object) -> list[str]:
    values = raw if isinstance(raw, list | tuple) else [raw]
    names: list[str] = []
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        names.extend(part.strip() for part in str(value).split(";") if part.strip())
    return names


def road_names(G: nx.MultiDiGraph) -> list[str]:
    """Return every distinct road name in the graph, sorted."""
    return sorted({name for _, _, data in G.edges(data=True) for name in edge_names(data)})


def english_names(G: nx.MultiDiGraph) -> dict[str, list[str]]:
    """Return the OSM ``name:en`` values (edge attribute ``name_en``) of each road name.

    Networks built before cysim kept ``name:en``, and links added by patches, have none.
    """
    found: dict[str, set[str]] = {}
    for _, _, data in G.edges(data=True):
        names, english = edge_names(data), _split_names(data.get("name_en", ""))
        pairs: Iterable[tuple[str, str]]
        if len(english) == len(names):
            pairs = zip(names, english, strict=True)
        elif len(names) == 1:
            pairs = ((names[0], en) for en in english)
        else:
            continue  # "A;B" translated as one text: which part is which is unknown
        for name, en in pairs:
            found.setdefault(name, set()).add(en)
    return {name: sorted(values) for name, values in found.items()}


def road_table(G: nx.MultiDiGraph) -> list[dict[str, object]]:
    """Return one row per road name: Chinese name, ``name:en``, pinyin, class and length.

    ``length_km`` is the centreline length, each road counted once: a two-way link (both
    directions between the same two junctions) counts once, and a road mapped as two one-way
    carriageways (its one-way links run both ways) counts half their length; a one-way street
    counts in full. ``highway`` is the class of most of that length. Rows are sorted by length,
    longest first, then by name.

    Returns
    -------
    list of dict
        Keys ``name``, ``name_en`` (``/``-joined when several), ``pinyin``, ``highway``,
        ``length_km``.
    """
    english = english_names(G)
    roads: dict[str, _RoadLength] = {}
    for u, v, k, data in G.edges(keys=True, data=True):
        for name in edge_names(data):
            roads.setdefault(name, _RoadLength()).add(G, (u, v, k), data)
    rows = [
        {
            "name": name,
            "name_en": "/".join(english.get(name, [])),
            "pinyin": display_pinyin(name) if has_chinese(name) else "",
            "highway": max(road.by_class.items(), key=lambda item: (item[1], item[0]))[0],
            "length_km": round(road.centreline_m() / 1000.0, 2),
        }
        for name, road in roads.items()
    ]
    return sorted(rows, key=lambda row: (-float(str(row["length_km"])), str(row["name"])))


@dataclass
class _RoadLength:
    """The links of one road name, gathered for its centreline length."""

    two_way_m: float = 0.0
    one_way_m: float = 0.0
    #: Sum of the one-way links' end-minus-start vectors and of their lengths: carriageways
    #: running both ways cancel out, a one-way street adds up.
    drift: list[float] = field(default_factory=lambda: [0.0, 0.0])
    chords_m: float = 0.0
    by_class: dict[str, float] = field(default_factory=dict)
    _pairs: set[tuple[int, int]] = field(default_factory=set)

    def add(self, G: nx.MultiDiGraph, edge: EdgeKey, data: dict) -> None:
        u, v, _ = edge
        metres = float(data.get("length_m", 0.0))
        if data.get("oneway", False):
            dx, dy = G.nodes[v]["x"] - G.nodes[u]["x"], G.nodes[v]["y"] - G.nodes[u]["y"]
            self.drift[0] += dx
            self.drift[1] += dy
            self.chords_m += math.hypot(dx, dy)
            self.one_way_m += metres
        elif (v, u) in self._pairs:
            return  # the twin of a two-way link already counted: the same centreline
        else:
            self._pairs.add((u, v))
            self.two_way_m += metres
        highway = str(data.get("highway", ""))
        self.by_class[highway] = self.by_class.get(highway, 0.0) + metres

    def centreline_m(self) -> float:
        both_ways = math.hypot(*self.drift) < 0.5 * self.chords_m
        return self.two_way_m + (self.one_way_m / 2 if both_ways else self.one_way_m)


# --- pinyin and English --------------------------------------------------------------------

#: English words in romanised names, as the pinyin of the Chinese word they translate, so
#: that "Zhongcheng Road" and "Zhongcheng Lu" compare equal.
_ENGLISH_AS_PINYIN = {
    "road": "lu", "rd": "lu", "street": "jie", "st": "jie", "avenue": "dadao", "ave": "dadao",
    "av": "dadao", "east": "dong", "west": "xi", "south": "nan", "north": "bei",
    "middle": "zhong", "central": "zhong",
}  # fmt: skip
#: Pinyin of the road-type words of :data:`_ROAD_TYPES`, longest first.
_ROAD_TYPES_PINYIN = ("dadao", "dajie", "gonglu", "lu", "jie", "xian")
#: Pinyin of the direction characters of :data:`_DIRECTIONS`.
_DIRECTIONS_PINYIN = ("dong", "xi", "nan", "bei", "zhong")
#: CJK ideographs (unified, extension A, compatibility).
_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def has_chinese(text: str) -> bool:
    """Return whether ``text`` contains a Chinese character."""
    return _CHINESE.search(text) is not None


def strip_tones(text: str) -> str:
    """Return ``text`` without diacritics: Zhōngchéng Lù → Zhongcheng Lu, lǘ → lu."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.lru_cache(maxsize=8192)
def pinyin_words(text: str) -> tuple[str, ...]:
    """Return the lower-case toneless words of a name.

    Chinese characters become pinyin syllables (pypinyin, with its phrase readings: 重庆 → chong
    qing); other text is split at spaces, hyphens and punctuation.
    """
    # imported here: loading pypinyin's dictionaries takes a quarter second, which every CLI
    # command would otherwise pay at start-up
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(unicodedata.normalize("NFKC", text), style=Style.NORMAL, v_to_u=True)
    words: list[str] = []
    for piece in syllables:
        words.extend(w for w in re.split(r"[^0-9a-z]+", strip_tones(piece).lower()) if w)
    return tuple(words)


@functools.lru_cache(maxsize=8192)
def match_key(text: str) -> str:
    """Reduce a Chinese, pinyin or English road name to one comparable string.

    Chinese becomes toneless pinyin; tones, case, spaces and hyphens are dropped; the English
    words road/rd, street/st, avenue/ave and east/west/south/north/middle become lu, jie, dadao
    and dong/xi/nan/bei/zhong. So 中城路, "Zhongcheng Lu", "zhongchenglu", "Zhōngchéng Lù" and
    "Zhongcheng Road" all give ``zhongchenglu``.

    Parameters
    ----------
    text
        A road name in any of these spellings.

    Returns
    -------
    str
    """
    words = [_ENGLISH_AS_PINYIN.get(word, word) for word in pinyin_words(text)]
    if words:
        # "ZhongchengRoad" written as one word
        for english in ("road", "street", "avenue"):
            if words[-1].endswith(english) and words[-1] != english:
                words[-1] = words[-1].removesuffix(english) + _ENGLISH_AS_PINYIN[english]
    return "".join(words)


def display_pinyin(name: str) -> str:
    """Return the pinyin of a Chinese road name as planners write it: 中城路 → Zhongcheng Lu."""
    clean = clean_name(name)
    road_type = next((t for t in _ROAD_TYPES if clean.endswith(t) and len(clean) > len(t)), "")
    parts = [clean[: len(clean) - len(road_type)], road_type]
    return " ".join("".join(pinyin_words(part)).capitalize() for part in parts if part)


def _query_stem_keys(key: str) -> set[str]:
    """Stems a romanised query may have.

    The query without its road-type word, and also without one direction word after it (as
    :func:`normalise_road_name` drops 路 and then 东/西/…).
    """
    for road_type in _ROAD_TYPES_PINYIN:
        if key.endswith(road_type) and len(key) > len(road_type):
            key = key.removesuffix(road_type)
            break
    stems = {key}
    for direction in _DIRECTIONS_PINYIN:
        if key.endswith(direction) and len(key) > len(direction):
            stems.add(key.removesuffix(direction))
    return stems


# --- matching ------------------------------------------------------------------------------

#: How a query matched a road name, best first (the first tier with a match decides).
MATCH_TIERS = ("exact", "stem", "pinyin", "pinyin stem")


def match_tier(query: str, name: str, english: Sequence[str] = ()) -> int | None:
    """Return how well ``query`` names the road ``name`` (an index into :data:`MATCH_TIERS`).

    A query with Chinese characters matches Chinese names only: exactly, then by stem
    (:func:`normalise_road_name`); a homophone typo (长成路 for 长城路) is not taken for the
    road. A query without them (pinyin, English) matches the pinyin of the name or its
    ``name:en`` (:func:`match_key`), then by stem.

    Parameters
    ----------
    query
        The name as written in the scenario.
    name
        A road name of the map.
    english
        The road's ``name:en`` values.

    Returns
    -------
    int or None
        None when it does not match.
    """
    if clean_name(query) == clean_name(name):
        return 0
    if has_chinese(query):
        stem = normalise_road_name(query)
        return 1 if stem and stem == normalise_road_name(name) else None
    key = match_key(query)
    if not key:
        return None
    if key == match_key(name) or key in {match_key(en) for en in english}:
        return 2
    if has_chinese(name) and match_key(normalise_road_name(name)) in _query_stem_keys(key):
        return 3
    return None


def matching_road_names(G: nx.MultiDiGraph, name: str, *, key: str | None = None) -> list[str]:
    """Return the road names of ``G`` that ``name`` refers to (see :func:`match_tier`).

    Raises
    ------
    PatchError
        When nothing matches (listing the closest names), or when a pinyin or English name
        fits roads with different Chinese names (listing them).
    """
    english = english_names(G)
    tiers: dict[int, list[str]] = {}
    for candidate in road_names(G):
        tier = match_tier(name, candidate, english.get(candidate, ()))
        if tier is not None:
            tiers.setdefault(tier, []).append(candidate)
    if not tiers:
        raise road_not_found(G, name, key)
    tier = min(tiers)
    matched = tiers[tier]
    # a stem matches every section of one road (正阳中路, 正阳东路); more than one road only when
    # different Chinese names (or stems) read the same in pinyin
    distinct = {normalise_road_name(n) for n in matched} if tier == 3 else set(matched)
    if tier >= 2 and len(distinct) > 1:
        listed = ", ".join(_with_english(n, english) for n in matched)
        raise PatchError(
            f"road '{name}' is ambiguous: its pinyin fits {len(distinct)} roads: {listed}",
            key=key,
            hint=f"write the Chinese name of the one you mean ({' or '.join(matched[:4])})",
        )
    return matched


def _with_english(name: str, english: dict[str, list[str]]) -> str:
    """``中城路 (Zhongcheng Road)``; the pinyin when the map has no English name."""
    return f"{name} ({'/'.join(english.get(name, [])) or display_pinyin(name)})"


def closest_names(G: nx.MultiDiGraph, name: str, n: int = N_SUGGESTIONS) -> list[str]:
    """Return the ``n`` road names of ``G`` most similar to ``name``, best first.

    Similarity is difflib's ratio. A Chinese query scores the mean of its best ratio against
    the name or its stem and the ratio of their pinyin (so a homophone typo 长成路 ranks 长城路
    first, and pypinyin reading 长 as zhang alone cannot put 中城路 ahead); a pinyin or English
    query scores its best ratio against the name's pinyin, its ``name:en`` or the name itself.
    """
    english = english_names(G)
    query, stem, key = clean_name(name), normalise_road_name(name), match_key(name)
    chinese = has_chinese(name)

    def ratio(a: str, b: str) -> float:
        return difflib.SequenceMatcher(None, a, b).ratio() if a and b else 0.0

    def score(candidate: str) -> float:
        pinyin = ratio(key, match_key(candidate))
        if chinese:
            written = max(
                ratio(query, clean_name(candidate)),
                ratio(stem, normalise_road_name(candidate)),
            )
            return (written + pinyin) / 2
        translated = (ratio(key, match_key(en)) for en in english.get(candidate, ()))
        return max(pinyin, ratio(query.lower(), clean_name(candidate).lower()), *translated)

    return sorted(road_names(G), key=lambda candidate: (-score(candidate), candidate))[:n]


def road_not_found(G: nx.MultiDiGraph, name: str, key: str | None) -> PatchError:
    """Build the error for a road name that matches nothing, listing the closest names."""
    suggestions = closest_names(G, name)
    if not has_chinese(name):
        english = english_names(G)
        suggestions = [_with_english(s, english) for s in suggestions]
    listed = ", ".join(suggestions) if suggestions else "the map has no named roads"
    return PatchError(
        f"road '{name}' not found in the map; closest: {listed}",
        key=key,
        hint="names match exactly, then by stem (正阳路 finds 正阳中路/正阳东路); pinyin and the "
        "map's English names match too (Zhongcheng Lu, zhongchenglu, Zhongcheng Road); check "
        "spelling, or list the roads with `cysim map info --roads MAP`",
    )


def find_road_edges(G: nx.MultiDiGraph, name: str, *, key: str | None = None) -> list[EdgeKey]:
    """Return all directed edges of the road called ``name``.

    Exact names win; when no edge carries the exact name, every edge whose name has the same
    stem (:func:`normalise_road_name`) matches, so 正阳路 finds 正阳中路, 正阳东路 and 正阳西路.
    A name written without Chinese characters matches by pinyin or ``name:en`` instead
    (:func:`match_tier`): "Zhongcheng Lu", "zhongchenglu", "Zhongcheng Road" find 中城路.

    Parameters
    ----------
    G
        The network.
    name
        The road name.
    key
        The scenario key the name came from (for the error message).

    Returns
    -------
    list of (u, v, key)
        In graph order.

    Raises
    ------
    PatchError
        When nothing matches (the message lists the closest names), or when a pinyin name is
        ambiguous.
    """
    matched = set(matching_road_names(G, name, key=key))
    return [
        (u, v, k)
        for u, v, k, data in G.edges(keys=True, data=True)
        if matched.intersection(edge_names(data))
    ]


# --- coordinates ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _transformer(crs: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def to_graph_xy(G: nx.MultiDiGraph, lon: float, lat: float) -> tuple[float, float]:
    """Project a WGS84 lon/lat to the graph's CRS (``G.graph['crs']``)."""
    crs = G.graph.get("crs")
    if not crs:
        raise PatchError("the network has no 'crs' graph attribute; cannot place coordinates")
    x, y = _transformer(str(crs)).transform(float(lon), float(lat))
    return float(x), float(y)


@functools.lru_cache(maxsize=8)
def _inverse_transformer(crs: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def to_lonlat(G: nx.MultiDiGraph, x: float, y: float) -> tuple[float, float]:
    """Return the WGS84 lon/lat of a point in the graph's CRS."""
    lon, lat = _inverse_transformer(str(G.graph["crs"])).transform(float(x), float(y))
    return float(lon), float(lat)


def nearest_edge(
    G: nx.MultiDiGraph, x: float, y: float, *, max_m: float, key: str | None = None
) -> tuple[EdgeKey, float]:
    """Return the edge whose geometry passes nearest the projected point, and the distance.

    Raises
    ------
    PatchError
        When no edge passes within ``max_m`` metres.
    """
    point = Point(x, y)
    best: tuple[float, EdgeKey] | None = None
    for u, v, k in G.edges(keys=True):
        distance = edge_geometry(G, u, v, k).distance(point)
        if best is None or (distance, (u, v, k)) < best:
            best = (distance, (u, v, k))
    if best is None or best[0] > max_m:
        nearest = f"; the nearest road is {best[0]:.0f} m away" if best else ""
        raise PatchError(f"no road within {max_m:g} m of the point{nearest}", key=key)
    return best[1], best[0]


def check_point(
    G: nx.MultiDiGraph, lon: float, lat: float, *, margin_m: float, key: str | None = None
) -> tuple[float, float]:
    """Project a point and check that it lies inside the map's extent (plus ``margin_m``).

    Returns
    -------
    (x, y)
        Projected coordinates.

    Raises
    ------
    PatchError
        When the point is not a valid lon/lat or lies outside the map.
    """
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise PatchError(
            f"[{lon}, {lat}] is not a WGS84 coordinate",
            key=key,
            hint="write points as [lon, lat] in degrees, longitude first",
        )
    x, y = to_graph_xy(G, lon, lat)
    xs = [data["x"] for _, data in G.nodes(data=True)]
    ys = [data["y"] for _, data in G.nodes(data=True)]
    if not xs:
        raise PatchError("the network has no nodes", key=key)
    if not (
        min(xs) - margin_m <= x <= max(xs) + margin_m
        and min(ys) - margin_m <= y <= max(ys) + margin_m
    ):
        lons = [data.get("lon", math.nan) for _, data in G.nodes(data=True)]
        lats = [data.get("lat", math.nan) for _, data in G.nodes(data=True)]
        raise PatchError(
            f"point [{lon}, {lat}] lies outside the map (lon {min(lons):.4f}–{max(lons):.4f}, "
            f"lat {min(lats):.4f}–{max(lats):.4f})",
            key=key,
            hint="check the coordinates (WGS84, [lon, lat]) or use a map that covers them",
        )
    return x, y


def edge_geometry(G: nx.MultiDiGraph, u: int, v: int, k: int) -> LineString:
    """Return the projected geometry of an edge (a straight line when it has none)."""
    geometry = G.edges[u, v, k].get("geometry")
    if isinstance(geometry, LineString):
        return geometry
    return LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])


def nearest_node(
    G: nx.MultiDiGraph,
    lon: float,
    lat: float,
    *,
    snap_m: float = DEFAULT_SNAP_M,
    nodes: Iterable[int] | None = None,
    key: str | None = None,
) -> tuple[int, float]:
    """Snap a lon/lat point to the nearest node within ``snap_m`` metres.

    Parameters
    ----------
    G
        The network.
    lon, lat
        WGS84 degrees.
    snap_m
        Largest allowed distance to the node.
    nodes
        Candidate nodes (default: all).
    key
        The scenario key the point came from (for the error message).

    Returns
    -------
    (node, distance_m)

    Raises
    ------
    PatchError
        When the point is outside the map or the nearest node is farther than ``snap_m``.
    """
    # Points a little outside the map get the more useful "nearest is N m away" message.
    x, y = check_point(G, lon, lat, margin_m=max(snap_m, OUTSIDE_MARGIN_M), key=key)
    candidates = list(G.nodes) if nodes is None else list(nodes)
    if not candidates:
        raise PatchError("no candidate junctions to snap to", key=key)
    best = min(candidates, key=lambda n: (_dist(G, n, x, y), n))
    distance = _dist(G, best, x, y)
    if distance > snap_m:
        raise PatchError(
            f"no junction within {snap_m:g} m of [{lon}, {lat}]: the nearest (node {best}, "
            f"{_describe_node(G, best)}) is {distance:.0f} m away",
            key=key,
            hint=f"move the point closer or raise snap_m above {math.ceil(distance)}",
        )
    return best, distance


def _dist(G: nx.MultiDiGraph, node: int, x: float, y: float) -> float:
    data = G.nodes[node]
    return math.hypot(data["x"] - x, data["y"] - y)


def roads_at_node(G: nx.MultiDiGraph, node: int) -> list[str]:
    """Return the names of the roads meeting at ``node``, sorted."""
    names: set[str] = set()
    for _, _, data in G.in_edges(node, data=True):
        names.update(edge_names(data))
    for _, _, data in G.out_edges(node, data=True):
        names.update(edge_names(data))
    return sorted(names)


#: How many crossing roads a hint lists.
N_CROSSING = 12


def roads_crossing(G: nx.MultiDiGraph, road: str, *, key: str | None = None) -> list[str]:
    """Return the names of the roads that meet ``road`` at one of its junctions.

    Longest roads come first (arterials before branch roads), then the names in order.

    Raises
    ------
    PatchError
        When ``road`` matches no road (see :func:`matching_road_names`).
    """
    own = set(matching_road_names(G, road, key=key))
    nodes = _road_nodes(G, find_road_edges(G, road, key=key))
    crossing = {name for node in nodes for name in roads_at_node(G, node)} - own
    length: dict[str, float] = dict.fromkeys(crossing, 0.0)
    for _, _, data in G.edges(data=True):
        for name in crossing.intersection(edge_names(data)):
            length[name] += float(data.get("length_m", 0.0))
    return sorted(crossing, key=lambda name: (-length[name], name))


def crossing_list(G: nx.MultiDiGraph, road: str) -> str:
    """The roads crossing ``road`` for a hint: ``"长城路, 春阳路, …"`` (at most N_CROSSING)."""
    crossing = roads_crossing(G, road)
    listed = ", ".join(crossing[:N_CROSSING]) or "none (no named road meets it)"
    return listed + (f", … ({len(crossing)} in all)" if len(crossing) > N_CROSSING else "")


def _describe_node(G: nx.MultiDiGraph, node: int) -> str:
    data = G.nodes[node]
    roads = "/".join(roads_at_node(G, node)) or "unnamed roads"
    return f"{roads} at [{data.get('lon', math.nan):.5f}, {data.get('lat', math.nan):.5f}]"


# --- junctions -----------------------------------------------------------------------------


def junction_by_roads(
    G: nx.MultiDiGraph,
    road_a: str,
    road_b: str,
    *,
    near: Sequence[float] | None = None,
    key: str | None = None,
) -> int:
    """Return the junction where roads ``road_a`` and ``road_b`` meet.

    Parameters
    ----------
    G
        The network.
    road_a, road_b
        Road names (matched like :func:`find_road_edges`).
    near
        Optional ``[lon, lat]`` to choose among several meeting points (nearest wins).
    key
        The scenario key (for error messages).

    Returns
    -------
    int
        The node id.

    Raises
    ------
    PatchError
        When a road is unknown, the roads do not meet, or they meet several times and no
        ``near`` point says which.
    """
    nodes_a = _road_nodes(G, find_road_edges(G, road_a, key=key))
    nodes_b = _road_nodes(G, find_road_edges(G, road_b, key=key))
    common = sorted(nodes_a & nodes_b)
    if not common:
        raise PatchError(
            f"roads '{road_a}' and '{road_b}' do not meet in the map (no junction is on both); "
            f"{_closest_approach(G, nodes_a, nodes_b)}",
            key=key,
            hint=f"pick a road that crosses {road_a}: {crossing_list(G, road_a)}; or give the "
            "junction as [lon, lat]",
        )
    if len(common) == 1:
        return common[0]
    if near is None:
        listed = "; ".join(f"node {n} at {_describe_node(G, n)}" for n in common[:6])
        raise PatchError(
            f"roads '{road_a}' and '{road_b}' meet at {len(common)} junctions: {listed}",
            key=key,
            hint="add 'near: [lon, lat]' to say which one (channelize, signal_timing, "
            "add_parking); in between:, from: or to: write that end as the [lon, lat] of the "
            "junction you mean, from the list above",
        )
    x, y = check_point(G, near[0], near[1], margin_m=1000.0, key=key)
    return min(common, key=lambda n: (_dist(G, n, x, y), n))


def _closest_approach(G: nx.MultiDiGraph, nodes_a: set[int], nodes_b: set[int]) -> str:
    """Where two roads that do not meet come nearest: their two closest junctions."""
    a, b = min(
        ((a, b) for a in nodes_a for b in nodes_b),
        key=lambda pair: (_dist(G, pair[0], G.nodes[pair[1]]["x"], G.nodes[pair[1]]["y"]), pair),
    )
    distance = _dist(G, a, G.nodes[b]["x"], G.nodes[b]["y"])
    return (
        f"they come nearest ({distance:.0f} m apart) at node {a} ({_describe_node(G, a)}) and "
        f"node {b} ({_describe_node(G, b)})"
    )


def _road_nodes(G: nx.MultiDiGraph, edges: Iterable[EdgeKey]) -> set[int]:
    nodes: set[int] = set()
    for u, v, _ in edges:
        nodes.update((u, v))
    return nodes


def is_lonlat(place: Sequence) -> bool:
    """Return whether a place is ``[lon, lat]`` numbers (rather than ``[road, road]`` names)."""
    return all(isinstance(value, int | float) and not isinstance(value, bool) for value in place)


def locate_junction(
    G: nx.MultiDiGraph,
    place: Sequence,
    *,
    near: Sequence[float] | None = None,
    snap_m: float = DEFAULT_SNAP_M,
    key: str | None = None,
) -> int:
    """Return the junction named by ``[road, road]`` or snapped from ``[lon, lat]``.

    Raises
    ------
    PatchError
        See :func:`junction_by_roads` and :func:`nearest_node`.
    """
    if is_lonlat(place):
        return nearest_node(G, place[0], place[1], snap_m=snap_m, key=key)[0]
    return junction_by_roads(G, str(place[0]), str(place[1]), near=near, key=key)


# --- stretches -----------------------------------------------------------------------------


def road_stretch(
    G: nx.MultiDiGraph,
    name: str,
    start: Sequence,
    end: Sequence,
    *,
    snap_m: float = 300.0,
    key: str | None = None,
    road_key: str | None = None,
) -> tuple[list[EdgeKey], list[int]]:
    """Return the edges of road ``name`` between two places, and the node path along it.

    Each place is ``[lon, lat]`` (snapped to the road's nearest node; the point must lie within
    ``snap_m`` of the road) or ``[road, road]`` (a junction on it). The stretch is the shortest
    path along the road's own edges (by ``length_m``, ignoring direction) between the two nodes;
    both directions of travel are returned.

    ``key`` names the places in error messages, ``road_key`` (default ``key``) the road name:
    an unknown road is reported at its own key, not at ``between``.

    Returns
    -------
    (edges, path)
        ``edges``: the road's directed edges between consecutive path nodes; ``path``: the
        node sequence from ``start`` to ``end``.

    Raises
    ------
    PatchError
        When the road is unknown, a point is too far from it, or the road does not connect the
        two places.
    """
    edges = find_road_edges(G, name, key=key if road_key is None else road_key)
    nodes = _road_nodes(G, edges)
    ends = [_stretch_end(G, name, edges, nodes, place, snap_m, key) for place in (start, end)]
    if ends[0] == ends[1]:
        raise PatchError(
            f"both ends of the stretch of '{name}' snap to the same junction (node {ends[0]})",
            key=key,
            hint="choose points farther apart along the road",
        )
    along = nx.Graph()
    for u, v, k in edges:
        length = float(G.edges[u, v, k].get("length_m", 1.0))
        if not along.has_edge(u, v) or along.edges[u, v]["length_m"] > length:
            along.add_edge(u, v, length_m=length)
    try:
        path = nx.shortest_path(along, ends[0], ends[1], weight="length_m")
    except nx.NetworkXNoPath:
        raise PatchError(
            f"'{name}' does not run continuously between the two points "
            f"(nodes {ends[0]} and {ends[1]})",
            key=key,
            hint="pick two points on one connected piece of the road",
        ) from None
    pairs = set(itertools.pairwise(path))
    pairs |= {(v, u) for u, v in pairs}
    return [(u, v, k) for u, v, k in edges if (u, v) in pairs], path


def _stretch_end(
    G: nx.MultiDiGraph,
    name: str,
    edges: list[EdgeKey],
    nodes: set[int],
    place: Sequence,
    snap_m: float,
    key: str | None,
) -> int:
    if not is_lonlat(place):
        node = junction_by_roads(G, str(place[0]), str(place[1]), key=key)
        if node not in nodes:
            raise PatchError(
                f"junction {list(place)} (node {node}) is not on '{name}', so it cannot end a "
                f"stretch of it",
                key=key,
                hint=f"name a junction of {name} with a road that crosses it: "
                f"[{name}, <road>] with <road> one of {crossing_list(G, name)}",
            )
        return node
    x, y = check_point(G, place[0], place[1], margin_m=snap_m, key=key)
    road = shapely.union_all([edge_geometry(G, u, v, k) for u, v, k in edges])
    distance = road.distance(Point(x, y))
    if distance > snap_m:
        raise PatchError(
            f"point [{place[0]}, {place[1]}] is {distance:.0f} m from '{name}' "
            f"(allowed: {snap_m:g} m)",
            key=key,
            hint="move the point onto the road or raise snap_m",
        )
    return min(nodes, key=lambda n: (_dist(G, n, x, y), n))


def nodes_within(G: nx.MultiDiGraph, edges: Iterable[EdgeKey], radius_m: float) -> set[int]:
    """Return the nodes of ``G`` within ``radius_m`` metres of the given edges' geometry."""
    lines = [edge_geometry(G, u, v, k) for u, v, k in edges]
    if not lines:
        return set()
    corridor = shapely.union_all(lines)
    node_ids = list(G.nodes)
    points = shapely.points(
        [G.nodes[n]["x"] for n in node_ids], [G.nodes[n]["y"] for n in node_ids]
    )
    distances = shapely.distance(points, corridor)
    return {n for n, d in zip(node_ids, distances, strict=True) if d <= radius_m}
