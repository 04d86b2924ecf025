"""Before/after comparison: KPI differences with confidence intervals, and per-link deltas.

Differences are always **B − A** (after minus before). Whether a change is *better* uses
:data:`cysim.results.metrics.KPI_META` (lower-is-better or not) and is only claimed when the confidence
interval of the difference excludes zero (otherwise "no significant change") **and** the change
is larger than what route choice left undone can explain: a relative change no larger than the
final relative gap of the route choice (the larger of the two sides', docs/metrics.md) is
"within route-choice gap" — the model cannot tell it from an unfinished equilibration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from . import stats
from .metrics import KPI_META, NON_NEGATIVE, KpiInfo

#: Columns copied from each side into :func:`link_deltas` (suffixes ``_a`` / ``_b``): the lanes
#: (in the link's direction) and capacity each side ran with, then the traffic figures.
LINK_DELTA_COLUMNS: tuple[str, ...] = (
    "lanes",
    "capacity_vph",
    "flow_veh",
    "flow_vph",
    "mean_speed_kph",
    "speed_ratio",
    "v_c",
    "mean_delay_s",
    "total_delay_vh",
    "queue_max_veh",
    "spillback_min",
)


#: Verdicts of :func:`compare_kpis`, from a clear change to none claimed.
VERDICTS: tuple[str, ...] = (
    "better",
    "worse",
    "within route-choice gap",
    "no significant change",
    "neutral",
)


def _verdict(
    difference: float,
    relative_change: float,
    excludes_zero: bool,
    lower_is_better: bool | None,
    route_gap: float,
) -> str:
    """The verdict of one KPI (:data:`VERDICTS`).

    ``relative_change`` is the change relative to A (NaN when A is 0: a change from nothing is
    never put down to route choice); ``route_gap`` the larger final relative gap of the sides.
    """
    if lower_is_better is None:
        return "neutral"
    if not excludes_zero or difference == 0 or np.isnan(difference):
        return "no significant change"
    if route_gap > 0 and abs(relative_change) <= route_gap:
        return "within route-choice gap"
    return "better" if (difference < 0) == lower_is_better else "worse"


def route_gap(kpis: Sequence[Mapping[str, float]]) -> float:
    """The largest final relative gap of route choice over a side's replications (NaN if none)."""
    gaps = np.array([float(k.get("relative_gap", np.nan)) for k in kpis], dtype=float)
    return float(np.nanmax(gaps)) if np.isfinite(gaps).any() else float("nan")


def _aligned(
    kpis: Sequence[Mapping[str, float]], seeds: Sequence[int], key: str
) -> dict[int, float]:
    """``{seed: value}`` of one KPI."""
    return {int(seed): float(k.get(key, np.nan)) for seed, k in zip(seeds, kpis, strict=True)}


def same_seeds(seeds_a: Sequence[int], seeds_b: Sequence[int]) -> bool:
    """Both sides ran the same two or more distinct seeds: their differences pair by seed
    (common random numbers), so the paired t interval applies, not Welch's."""
    a = sorted(map(int, seeds_a))
    return a == sorted(map(int, seeds_b)) and len(a) > 1 and len(set(a)) == len(a)


def compare_kpis(
    kpis_a: Sequence[Mapping[str, float]],
    kpis_b: Sequence[Mapping[str, float]],
    seeds_a: Sequence[int],
    seeds_b: Sequence[int],
    confidence: float = stats.CONFIDENCE,
    meta: Mapping[str, KpiInfo] = KPI_META,
) -> pd.DataFrame:
    """Compare network KPIs of two sets of replications (A = before, B = after).

    When both sides ran the same set of seeds (common random numbers) the difference uses a
    paired t interval over seeds; otherwise Welch's interval (see :mod:`cysim.results.stats`).

    Parameters
    ----------
    kpis_a, kpis_b
        One KPI dict per replication (:func:`cysim.results.metrics.network_kpis`).
    seeds_a, seeds_b
        The seed of each replication, aligned with ``kpis_a`` / ``kpis_b``.
    confidence
        Confidence level of all intervals.
    meta
        Which KPIs to compare and how to judge them (:data:`~cysim.results.metrics.KPI_META`, or
        :data:`NEAR_KPI_META` for the figures near a measure).

    Returns
    -------
    pandas.DataFrame
        One row per KPI of ``meta`` present on both sides, index ``kpi``;
        columns ``label_en, label_zh, unit, n_a, n_b, mean_a, mean_b, a_ci_low, a_ci_high,
        b_ci_low, b_ci_high, difference, pct_change, ci_low, ci_high, excludes_zero, method,
        route_gap_pct, verdict`` (``pct_change`` = 100 · difference / |mean_a|, NaN when mean_a
        is 0; ``route_gap_pct`` = 100 × the larger of the sides' final relative gaps, the
        smallest relative change that is called better or worse; verdicts in :data:`VERDICTS`).
        Each side's interval (``a_ci_*``, ``b_ci_*``) is clipped to the KPI's
        :attr:`~cysim.results.metrics.KpiInfo.value_range` (no count below 0); that of the difference is
        not.

    Raises
    ------
    ValueError
        If a side has no replications, or seeds and KPI lists differ in length.
    """
    if not kpis_a or not kpis_b:
        raise ValueError("both sides need at least one replication")
    if len(kpis_a) != len(seeds_a) or len(kpis_b) != len(seeds_b):
        raise ValueError("give exactly one seed per replication on each side")
    paired = same_seeds(seeds_a, seeds_b)
    gap = float(np.nanmax([route_gap(kpis_a), route_gap(kpis_b), 0.0]))
    rows = {}
    for key, info in meta.items():
        if not all(key in k for k in kpis_a) or not all(key in k for k in kpis_b):
            continue
        by_seed_a = _aligned(kpis_a, seeds_a, key)
        by_seed_b = _aligned(kpis_b, seeds_b, key)
        a_values = np.array(list(by_seed_a.values()))
        b_values = np.array(list(by_seed_b.values()))
        if paired:
            order = sorted(by_seed_a)
            diff = stats.paired_difference_ci(
                [by_seed_a[s] for s in order], [by_seed_b[s] for s in order], confidence
            )
        else:
            diff = stats.welch_difference_ci(a_values, b_values, confidence)
        # each side's interval stays within what the KPI can be; the difference's need not
        ci_a = stats.clip_interval(stats.mean_ci(a_values, confidence), info.value_range)
        ci_b = stats.clip_interval(stats.mean_ci(b_values, confidence), info.value_range)
        difference = ci_b.estimate - ci_a.estimate
        pct = 100.0 * difference / abs(ci_a.estimate) if ci_a.estimate else float("nan")
        rows[key] = {
            "label_en": info.label_en,
            "label_zh": info.label_zh,
            "unit": info.unit,
            "n_a": len(a_values),
            "n_b": len(b_values),
            "mean_a": ci_a.estimate,
            "mean_b": ci_b.estimate,
            "a_ci_low": ci_a.low,
            "a_ci_high": ci_a.high,
            "b_ci_low": ci_b.low,
            "b_ci_high": ci_b.high,
            "difference": difference,
            "pct_change": pct,
            "ci_low": diff.low,
            "ci_high": diff.high,
            "excludes_zero": diff.excludes_zero,
            "method": diff.method,
            "route_gap_pct": 100.0 * gap,
            "verdict": _verdict(
                difference, pct / 100.0, diff.excludes_zero, info.lower_is_better, gap
            ),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("kpi")


#: Columns of :func:`compare_kpis` in the unit of the row's KPI (its ``unit`` column).
KPI_VALUE_COLUMNS: tuple[str, ...] = (
    "mean_a", "mean_b", "a_ci_low", "a_ci_high", "b_ci_low", "b_ci_high",
    "difference", "ci_low", "ci_high",
)  # fmt: skip


def kpi_table_for_csv(table: pd.DataFrame, meta: Mapping[str, KpiInfo] = KPI_META) -> pd.DataFrame:
    """A :func:`compare_kpis` table rounded for people: ``comparison.csv``, ``near_measure.csv``.

    Each row's figures (:data:`KPI_VALUE_COLUMNS`, in the unit its ``unit`` column names) are
    written with the decimals of the KPI (:attr:`~cysim.results.metrics.KpiInfo.decimals`), so
    ``78721.90598902652`` veh·km reads ``78722``; ``pct_change`` and ``route_gap_pct`` (percent)
    get one decimal. The table in memory keeps full precision.

    Parameters
    ----------
    table
        From :func:`compare_kpis` with the same ``meta``.
    meta
        KPI metadata (decimals per row; 2 for a KPI it does not name).

    Returns
    -------
    pandas.DataFrame
        Same index and columns; the figures as text (empty for NaN), which a CSV reader reads
        back as numbers.
    """
    out = table.copy()
    decimals = [meta[k].decimals if k in meta else 2 for k in out.index]
    for column in KPI_VALUE_COLUMNS:
        if column in out.columns:
            out[column] = [
                # + 0.0 turns a rounded −0 into 0
                "" if pd.isna(value) else f"{round(float(value), places) + 0.0:.{places}f}"
                for value, places in zip(out[column], decimals, strict=True)
            ]
    for column in ("pct_change", "route_gap_pct"):
        if column in out.columns:
            out[column] = out[column].astype(float).round(1)
    return out


#: Radius around a measure's links and junctions within which its local effect is measured, m:
#: on the bundled map's arterial grid (arterials 0.5–1 km apart) it takes in the two parallel
#: routes on each side that traffic diverted by a closure or drawn by a widening uses.
NEAR_MEASURE_M: float = 2000.0

#: KPIs of the links near a measure (:func:`near_measure_kpis`), judged like network KPIs.
NEAR_KPI_META: dict[str, KpiInfo] = {
    "near_delay_vh": KpiInfo(
        "Delay on links near the measure", "方案周边路段延误", "veh·h", True, True, True, 0
    ),
    "near_vkt_km": KpiInfo(
        "Vehicle-km on links near the measure",
        "方案周边路段车公里",
        "veh·km",
        None,
        True,
        False,
        0,
        NON_NEGATIVE,
    ),
    "near_delay_s_per_km": KpiInfo(
        "Delay per vehicle-km near the measure",
        "方案周边每车公里延误",
        "s/veh·km",
        True,
        False,
        True,
    ),
}


def near_measure_links(
    links: gpd.GeoDataFrame,
    edges: Sequence[Sequence[int]],
    nodes: Sequence[int] = (),
    within_m: float = NEAR_MEASURE_M,
) -> set[tuple[int, int, int]]:
    """The links within ``within_m`` of a measure's links and junctions.

    Parameters
    ----------
    links
        A link table with geometry in a metric CRS (``links.gpkg`` layer ``links_utm``).
    edges, nodes
        ``[u, v, key]`` of the links and the junctions the measure's patches touched
        (``patches.json``); a junction stands for the links that end at it.
    within_m
        Radius, metres.

    Returns
    -------
    set of (u, v, key)
        Empty when the measure touched nothing in ``links``.
    """
    touched = {tuple(int(x) for x in e) for e in edges}
    keys = list(zip(links["u"], links["v"], links["key"], strict=True))
    node_set = {int(n) for n in nodes}
    marked = [(int(u), int(v), int(k)) in touched or int(v) in node_set for u, v, k in keys]
    seeds = links.geometry[marked]
    if seeds.empty:
        return set()
    zone = seeds.union_all().buffer(within_m)
    near = links.geometry.intersects(zone).to_numpy()
    return {(int(u), int(v), int(k)) for (u, v, k), ok in zip(keys, near, strict=True) if ok}


def near_measure_kpis(
    links_per_replication: pd.DataFrame, near: set[tuple[int, int, int]]
) -> tuple[list[dict[str, float]], list[int]]:
    """Per replication, the delay and vehicle-km on the links near a measure.

    Parameters
    ----------
    links_per_replication
        ``links.parquet`` of a run (every replication, with ``seed``).
    near
        From :func:`near_measure_links` (the same set for both runs of a comparison).

    Returns
    -------
    (kpis, seeds)
        One dict of :data:`NEAR_KPI_META` keys per replication, and its seed.
    """
    frame = pd.DataFrame(links_per_replication)
    keys = zip(frame["u"], frame["v"], frame["key"], strict=True)
    inside = frame[[(int(u), int(v), int(k)) in near for u, v, k in keys]]
    kpis, seeds = [], []
    for seed, part in inside.groupby("seed", sort=True):
        delay_vh = float(part["total_delay_vh"].sum())
        vkt_km = float((part["flow_veh"] * part["length_m"]).sum() / 1000.0)
        kpis.append(
            {
                "near_delay_vh": delay_vh,
                "near_vkt_km": vkt_km,
                "near_delay_s_per_km": 3600.0 * delay_vh / vkt_km if vkt_km > 0 else np.nan,
            }
        )
        seeds.append(int(seed))
    return kpis, seeds


def link_deltas(links_a: gpd.GeoDataFrame, links_b: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Per-link change between two link tables (:func:`cysim.results.metrics.link_table`, or their mean
    over replications), matched on ``(u, v, key)``.

    Links that exist on one side only (opened or closed by a patch) are kept with NaN on the
    other side and ``presence`` ``"only_a"`` / ``"only_b"``. ``d_<column>`` = B − A, with a
    missing flow counted as 0 (no vehicles used a link that did not exist), and
    ``d_total_delay_vh`` ranks links by vehicle-hours lost or saved.

    Parameters
    ----------
    links_a, links_b
        Link tables of the before and after runs, in the same CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``u, v, key, name, highway, presence``, ``<col>_a``, ``<col>_b`` and ``d_<col>``
        for every column of :data:`LINK_DELTA_COLUMNS` the tables have, and the geometry (B's
        when the link exists in B). CRS of ``links_b`` (or ``links_a``).
    """
    keys = ["u", "v", "key"]
    columns = [c for c in LINK_DELTA_COLUMNS if c in links_a.columns and c in links_b.columns]
    a = pd.DataFrame(links_a[[*keys, "name", "highway", *columns, "geometry"]])
    b = pd.DataFrame(links_b[[*keys, "name", "highway", *columns, "geometry"]])
    merged = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    presence = merged["_merge"].map({"both": "both", "left_only": "only_a", "right_only": "only_b"})
    out = merged[keys].copy()
    out["name"] = merged["name_b"].fillna(merged["name_a"]).fillna("")
    out["highway"] = merged["highway_b"].fillna(merged["highway_a"]).fillna("")
    out["presence"] = presence.astype(str)
    for column in columns:
        before, after = merged[f"{column}_a"], merged[f"{column}_b"]
        out[f"{column}_a"] = before
        out[f"{column}_b"] = after
        if column in ("flow_veh", "flow_vph", "total_delay_vh"):
            out[f"d_{column}"] = after.fillna(0.0) - before.fillna(0.0)
        else:
            out[f"d_{column}"] = after - before
    geometry = merged["geometry_b"].where(merged["geometry_b"].notna(), merged["geometry_a"])
    crs = links_b.crs or links_a.crs
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geometry, crs=crs), crs=crs)


#: Link columns given a 95 % interval over replications in the link layers.
LINK_INTERVAL_COLUMNS: tuple[str, ...] = ("flow_vph", "mean_speed_kph", "total_delay_vh")
#: Of those, the ones that cannot be negative (their per-run interval is clipped at 0); a delay
#: (actual minus free-flow time) is not bounded below in principle.
_NON_NEGATIVE_LINK_COLUMNS: tuple[str, ...] = ("flow_vph", "mean_speed_kph")
_LINK_KEYS: list[str] = ["u", "v", "key"]


def link_intervals(
    links_per_replication: pd.DataFrame, confidence: float = stats.CONFIDENCE
) -> pd.DataFrame:
    """Per link, the confidence interval of the mean over replications of a few link figures.

    Parameters
    ----------
    links_per_replication
        ``links.parquet`` of a run: link tables of every replication, stacked.
    confidence
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        ``u, v, key`` and ``<c>_ci_low``, ``<c>_ci_high`` for each column ``c`` of
        :data:`LINK_INTERVAL_COLUMNS` (:func:`cysim.results.stats.group_mean_ci`; flows and speeds
        clipped at 0; NaN with fewer than two replications, or speeds of a link that fewer than
        two replications used).
    """
    frame = pd.DataFrame(links_per_replication)
    signed = [c for c in LINK_INTERVAL_COLUMNS if c not in _NON_NEGATIVE_LINK_COLUMNS]
    parts = [
        stats.group_mean_ci(
            frame, _LINK_KEYS, _NON_NEGATIVE_LINK_COLUMNS, confidence, NON_NEGATIVE
        ),
        stats.group_mean_ci(frame, _LINK_KEYS, signed, confidence),
    ]
    return _bounds_only(pd.concat(parts, axis=1), LINK_INTERVAL_COLUMNS)


def link_delta_intervals(
    links_a: pd.DataFrame,
    links_b: pd.DataFrame,
    confidence: float = stats.CONFIDENCE,
) -> pd.DataFrame:
    """Per link, the confidence interval of the change B − A of a few link figures.

    As :func:`compare_kpis` does for the network: with the same seeds on both sides the paired
    t interval of the per-seed differences, otherwise Welch's. A flow or delay of a link missing
    on one side counts as 0 when paired (as in :func:`link_deltas`); under Welch such a link has
    no interval.

    Parameters
    ----------
    links_a, links_b
        ``links.parquet`` of the two runs (every replication, with ``seed``).
    confidence
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        ``u, v, key`` and ``d_<c>_ci_low``, ``d_<c>_ci_high`` for each column ``c`` of
        :data:`LINK_INTERVAL_COLUMNS`; NaN where no interval exists.
    """
    columns = list(LINK_INTERVAL_COLUMNS)
    a, b = (pd.DataFrame(f)[[*_LINK_KEYS, "seed", *columns]] for f in (links_a, links_b))
    if same_seeds(a["seed"].unique(), b["seed"].unique()):
        merged = a.merge(b, on=[*_LINK_KEYS, "seed"], how="outer", suffixes=("_a", "_b"))
        change = merged[[*_LINK_KEYS]].copy()
        for column in columns:
            before, after = merged[f"{column}_a"], merged[f"{column}_b"]
            if column in ("flow_vph", "total_delay_vh"):
                before, after = before.fillna(0.0), after.fillna(0.0)
            change[column] = after - before
        intervals = stats.group_mean_ci(change, _LINK_KEYS, columns, confidence)
    else:
        intervals = stats.group_welch_difference_ci(a, b, _LINK_KEYS, columns, confidence)
    bounds = _bounds_only(intervals, columns)
    return bounds.rename(columns={c: f"d_{c}" for c in bounds.columns if c not in _LINK_KEYS})


def _bounds_only(intervals: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The ``<c>_ci_low``/``<c>_ci_high`` columns of a grouped interval table, keys as columns."""
    wanted = [f"{c}_ci_{end}" for c in columns for end in ("low", "high")]
    return intervals[wanted].reset_index()


def approach_deltas(
    before: pd.DataFrame, after: pd.DataFrame, touched_nodes: Sequence[int] = ()
) -> pd.DataFrame:
    """Junction approaches before and after, matched on the approach's edge ``(u, v, key)``.

    Parameters
    ----------
    before, after
        :func:`cysim.results.metrics.approach_summary` of the two runs.
    touched_nodes
        Junctions a patch of the after scenario changed (``patches.json``): their approaches are
        flagged ``measure``.

    Returns
    -------
    pandas.DataFrame
        ``u, v, key, node, junction, road, control, measure`` and ``<col>_a``, ``<col>_b`` for
        ``max_degree_of_saturation, control_delay_s, los, flow_vph``, sorted with the
        measure's approaches first, then by the larger degree of saturation of the two runs.
    """
    keys = ["u", "v", "key"]
    figures = ["max_degree_of_saturation", "control_delay_s", "los", "flow_vph"]
    a = pd.DataFrame(before)[[*keys, "node", "junction", "road", "control", *figures]]
    b = pd.DataFrame(after)[[*keys, "node", "junction", "road", "control", *figures]]
    merged = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b"))
    out = merged[keys].copy()
    for column in ("node", "junction", "road", "control"):
        out[column] = merged[f"{column}_b"].fillna(merged[f"{column}_a"])
    for column in (*keys, "node"):
        out[column] = out[column].astype("Int64")
    out["measure"] = out["node"].isin(list(touched_nodes))
    for column in figures:
        out[f"{column}_a"] = merged[f"{column}_a"]
        out[f"{column}_b"] = merged[f"{column}_b"]
    worst = np.fmax(
        out["max_degree_of_saturation_a"].to_numpy(dtype=float),
        out["max_degree_of_saturation_b"].to_numpy(dtype=float),
    )
    out["_worst"] = worst
    out = out.sort_values(["measure", "_worst"], ascending=[False, False], na_position="last")
    return out.drop(columns="_worst").reset_index(drop=True)


#: Junction columns of :func:`junction_deltas`, with ``_a`` / ``_b`` suffixes.
JUNCTION_DELTA_COLUMNS: tuple[str, ...] = (
    "vehicles",
    "mean_control_delay_s",
    "los",
    "max_degree_of_saturation",
    "congested_approaches",
)


def junction_deltas(
    before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, touched_nodes: Sequence[int] = ()
) -> gpd.GeoDataFrame:
    """Junctions before and after, matched on the node: their delay, level of service and load.

    Parameters
    ----------
    before, after
        Junction tables of the two runs, mean over replications (``junctions.gpkg`` layer
        ``junctions_utm``; :func:`cysim.results.metrics.junction_table`).
    touched_nodes
        Junctions the after scenario's patches changed (or ends of links they changed): flagged
        ``measure``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``node, name, signal, measure``, ``<col>_a``, ``<col>_b`` for the columns of
        :data:`JUNCTION_DELTA_COLUMNS` both tables have, ``d_mean_control_delay_s`` (B − A) and
        the junction's point (B's when it exists in B); the measure's junctions first, then by
        the larger control delay of the two runs. CRS of ``after``.
    """
    columns = [c for c in JUNCTION_DELTA_COLUMNS if c in before.columns and c in after.columns]
    a, b = (
        pd.DataFrame(t)[["node", "name", "signal", *columns, "geometry"]] for t in (before, after)
    )
    merged = a.merge(b, on="node", how="outer", suffixes=("_a", "_b"))
    out = merged[["node"]].astype("int64")
    for column in ("name", "signal", "geometry"):
        out[column] = merged[f"{column}_b"].where(
            merged[f"{column}_b"].notna(), merged[f"{column}_a"]
        )
    out["measure"] = out["node"].isin([int(n) for n in touched_nodes])
    for column in columns:
        out[f"{column}_a"], out[f"{column}_b"] = merged[f"{column}_a"], merged[f"{column}_b"]
    if "mean_control_delay_s" in columns:
        out["d_mean_control_delay_s"] = (
            out["mean_control_delay_s_b"] - out["mean_control_delay_s_a"]
        )
        worst = np.fmax(
            out["mean_control_delay_s_a"].to_numpy(dtype=float),
            out["mean_control_delay_s_b"].to_numpy(dtype=float),
        )
        order = np.lexsort((-np.nan_to_num(worst, nan=-np.inf), ~out["measure"].to_numpy()))
        out = out.iloc[order].reset_index(drop=True)
    crs = after.crs or before.crs
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(out.pop("geometry"), crs=crs), crs=crs)


def approach_points(*lane_groups: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """One point per junction approach ``(u, v, key)``, from the lane-group tables of the runs.

    Parameters
    ----------
    *lane_groups
        :func:`cysim.results.metrics.approach_table` of each run (``junctions.gpkg`` layer
        ``approaches_utm``), the preferred first (B's for a comparison); None entries are
        skipped.

    Returns
    -------
    geopandas.GeoDataFrame
        ``u, v, key`` and the approach's point (the first table that has the approach gives it).
    """
    tables = [t for t in lane_groups if t is not None]
    crs = tables[0].crs if tables else None
    frames = [
        pd.DataFrame(
            {"u": t["u"], "v": t["v"], "key": t["key"], "geometry": t.geometry.to_crs(crs)}
        )
        for t in tables
    ]
    if not frames:
        return gpd.GeoDataFrame({"u": [], "v": [], "key": []}, geometry=[], crs=crs)
    points = pd.concat(frames, ignore_index=True).drop_duplicates(["u", "v", "key"])
    points[["u", "v", "key"]] = points[["u", "v", "key"]].astype("int64")
    return gpd.GeoDataFrame(points, geometry="geometry", crs=crs)


def mean_link_table(tables: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Average link tables of several replications of one scenario, link by link.

    Numeric columns are averaged (NaN-aware: a link unused in some replications averages over
    those that used it for speeds and delays); text columns and geometry come from the first.

    Parameters
    ----------
    tables
        Link tables of the same network (same ``link`` rows).

    Returns
    -------
    geopandas.GeoDataFrame
        Same columns as the inputs.

    Raises
    ------
    ValueError
        If ``tables`` is empty.
    """
    return mean_over_replications(tables, ["link", "u", "v", "key"])


def mean_over_replications(
    tables: Sequence[gpd.GeoDataFrame], keys: Sequence[str]
) -> gpd.GeoDataFrame:
    """Average per-element tables of several replications, row key by row key.

    Numeric columns (other than ``keys``) are averaged NaN-aware; text columns and geometry
    come from the first replication that has the row. Rows missing from some replications (a
    lane group no vehicle used) average over those that have them.

    Parameters
    ----------
    tables
        Tables with the same columns, one per replication.
    keys
        Columns that identify a row (``["link", "u", "v", "key"]`` for links).

    Returns
    -------
    geopandas.GeoDataFrame
        Same columns as the inputs, rows in order of first appearance.

    Raises
    ------
    ValueError
        If ``tables`` is empty.
    """
    if not tables:
        raise ValueError("no tables to average")
    first = tables[0]
    keys = list(keys)
    numeric = [
        c
        for c in first.columns
        if c not in keys
        and pd.api.types.is_numeric_dtype(first[c])
        and not pd.api.types.is_bool_dtype(first[c])
    ]
    stacked = pd.concat([pd.DataFrame(t) for t in tables], ignore_index=True)
    grouped = stacked.groupby(keys, sort=False)
    means = grouped[numeric].mean()
    others = [c for c in first.columns if c not in keys and c not in numeric]
    out = grouped[others].first().join(means).reset_index() if others else means.reset_index()
    for column in numeric:
        # integer columns (lanes, node ids: the same in every replication) stay integers
        mean = out[column]
        whole = mean.notna().all() and (mean == mean.round()).all()
        if pd.api.types.is_integer_dtype(first[column]) and whole:
            out[column] = mean.astype(first[column].dtype)
    return gpd.GeoDataFrame(out[list(first.columns)], geometry="geometry", crs=first.crs)


def idle_patched_links(
    deltas: gpd.GeoDataFrame, patched_edges: Sequence[Sequence[int]]
) -> pd.DataFrame:
    """The patched links that carry no traffic in either run.

    A measure on such a link cannot change anything in the model; usually the demand has no trips
    that would use it (cysim's synthetic demand has no through or external traffic), so the report
    must say so rather than present "no change" as a finding.

    Parameters
    ----------
    deltas
        Output of :func:`link_deltas`.
    patched_edges
        ``[u, v, key]`` of every link the scenario's patches touched (``patches.json``).

    Returns
    -------
    pandas.DataFrame
        Rows of ``deltas`` (``u, v, key, name``) with zero flow in A and in B.
    """
    wanted = {(int(u), int(v), int(k)) for u, v, k in patched_edges}
    keys = zip(deltas["u"], deltas["v"], deltas["key"], strict=True)
    mask = np.array([(int(u), int(v), int(k)) in wanted for u, v, k in keys], dtype=bool)
    flow_a = deltas["flow_veh_a"].fillna(0.0).to_numpy(dtype=float)
    flow_b = deltas["flow_veh_b"].fillna(0.0).to_numpy(dtype=float)
    idle = mask & (flow_a <= 0) & (flow_b <= 0)
    return pd.DataFrame(deltas.loc[idle, ["u", "v", "key", "name"]])


def top_links(deltas: gpd.GeoDataFrame, n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The links that improved and worsened most, by change in vehicle-hours of delay.

    Parameters
    ----------
    deltas
        Output of :func:`link_deltas`.
    n
        How many of each.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(improved, worsened)``: the ``n`` most negative and most positive ``d_total_delay_vh``
        (zero changes left out), most extreme first.
    """
    change = deltas["d_total_delay_vh"].fillna(0.0)
    # select by label from the change series: assigning a series to an empty selection would
    # (pandas ≥ 3) re-index it into rows of NaN
    improved = deltas.loc[change[change < 0].nsmallest(n).index]
    worsened = deltas.loc[change[change > 0].nlargest(n).index]
    return pd.DataFrame(improved), pd.DataFrame(worsened)


#: Approach names by the compass direction the traffic comes from (东/南/西/北进口).
_APPROACH_NAMES = ("北进口 N", "东进口 E", "南进口 S", "西进口 W")


def approach_direction(geometry) -> str:
    """The side of the junction an approach link comes from, e.g. ``"北进口 N"``.

    Taken from the link's last segment (the one at the stop line), in a projected CRS with y
    to the north: traffic heading south comes from the north.

    Parameters
    ----------
    geometry
        The approach link's line, drawn towards the junction.

    Returns
    -------
    str
        One of ``北进口 N``, ``东进口 E``, ``南进口 S``, ``西进口 W``; ``""`` without geometry.
    """
    if geometry is None or geometry.is_empty or len(geometry.coords) < 2:
        return ""
    (x0, y0), (x1, y1) = list(geometry.coords)[-2:]
    heading = math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360  # 0 = north, clockwise
    origin = (heading + 180.0) % 360
    return _APPROACH_NAMES[int(((origin + 45.0) % 360) // 90)]


def with_approach_queues(
    approaches: pd.DataFrame, links_a: gpd.GeoDataFrame, links_b: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Add the side each approach comes from and its longest queue before and after.

    Parameters
    ----------
    approaches
        :func:`approach_deltas`.
    links_a, links_b
        The two runs' link tables (mean over replications, projected CRS): ``queue_max_veh`` is
        the longest queue on the approach link, in vehicles at the full demand.

    Returns
    -------
    pandas.DataFrame
        ``approaches`` with ``approach`` (e.g. ``北进口 N``), ``queue_max_veh_a`` and
        ``queue_max_veh_b``.
    """
    keys = ["u", "v", "key"]
    out = approaches.copy()
    for side, links in (("a", links_a), ("b", links_b)):
        table = pd.DataFrame(links)[[*keys, "queue_max_veh"]].astype({k: "Int64" for k in keys})
        out = out.merge(
            table.rename(columns={"queue_max_veh": f"queue_max_veh_{side}"}), on=keys, how="left"
        )
    geometry = pd.concat([pd.DataFrame(links_b)[[*keys, "geometry"]],
                          pd.DataFrame(links_a)[[*keys, "geometry"]]])  # fmt: skip
    geometry = geometry.astype({k: "Int64" for k in keys}).drop_duplicates(keys)
    directions = geometry.set_index(keys)["geometry"].map(approach_direction)
    out["approach"] = [directions.get(tuple(k), "") for k in out[keys].itertuples(index=False)]
    return out


def significant_links(layer: pd.DataFrame, column: str = "d_mean_speed_kph") -> pd.Series | None:
    """Per link, whether the 95 % interval of its change in ``column`` excludes 0.

    Parameters
    ----------
    layer
        Link deltas with the intervals of :func:`link_delta_intervals` merged in.
    column
        The change judged.

    Returns
    -------
    pandas.Series of bool, or None
        None when no link has an interval (one replication per side): the maps then colour every
        change and say that significance was not computed.
    """
    low, high = layer.get(f"{column}_ci_low"), layer.get(f"{column}_ci_high")
    if low is None or high is None or not low.notna().any():
        return None
    return ((low > 0) | (high < 0)).fillna(False)
