"""KPIs from a simulation's records: network, link, junction, trip and time-series level.

Every KPI is defined once, here, with its formula; ``docs/metrics.md`` lists them with units and
sources. Inputs are a :class:`cysim.sim.result.SimResult` (docs/data-model.md §4) and the graph the
run used. Conventions shared by all functions:

* **Scaling.** A run with ``sample_factor`` f < 1 simulates a fraction f of the vehicles (with
  capacities scaled alike), so every simulated vehicle stands for 1/f real ones. Counts and totals
  (trips, VKT, VHT, CO₂, flows, queues) are multiplied by 1/f and so describe the *full* demand;
  means and ratios are not scaled. :data:`KPI_META` marks scaled KPIs.
* **Periods.** Network totals cover the whole run (demand period + cool-down), so they include all
  travel of the demand's trips. Link and junction statistics use the traversals that *entered* a
  link during the demand period ``[0, duration_s)``; flows per hour divide by its length.
* **Vehicles still on a link at the end** (``exit_s`` NaN) count their time up to the end of the run
  T (the engine's ``extra["end_s"]``, else ``duration_s + cooldown_s``) and the distance
  ``min(length, elapsed · free-flow speed)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point

from . import emissions
from ..sim.result import SimResult

#: A traversal is congested when its speed is below this fraction of free-flow speed. AutoNavi
#: (高德) classes a road as congested (拥堵) when its travel-time index is ≥ 2.0, i.e. speed ≤ 50 %.
CONGESTED_SPEED_RATIO: float = 0.5

#: A junction approach lane group is congested at this degree of saturation or above (HCM and
#: GB 50647 treat X ≥ 0.9 as near capacity: queues no longer clear every cycle).
CONGESTED_X: float = 0.9
#: A link counts as a congested section by its speed only when at least this long: on a shorter
#: link one stop at a signal halves the speed at any flow, which is not congestion.
CONGESTED_SECTION_MIN_M: float = 300.0

#: HCM 6th ed. level-of-service upper bounds of control delay, s/veh: signalised intersections
#: (Exhibit 19-8) and two-way/all-way stop-controlled ones (Exhibits 20-2, 21-8). Above ⇒ F.
LOS_SIGNALISED_S: tuple[float, ...] = (10.0, 20.0, 35.0, 55.0, 80.0)
LOS_UNSIGNALISED_S: tuple[float, ...] = (10.0, 15.0, 25.0, 35.0, 50.0)


@dataclass(frozen=True)
class KpiInfo:
    """How to label, judge and format one network KPI.

    Attributes
    ----------
    label_en, label_zh
        Labels for tables and figures.
    unit
        Unit as printed (``"km"``, ``"s/veh"``; ``""`` when dimensionless).
    lower_is_better
        True/False says which direction is an improvement; None when neither is (e.g. trip count).
    scaled
        The value is a total scaled to full demand by 1/sample_factor.
    headline
        Shown in the report's KPI figure.
    decimals
        Decimals when printed.
    value_range
        ``(lowest, highest)`` value the KPI can take (:data:`NON_NEGATIVE` for counts and
        totals, :data:`PERCENT` for shares); the confidence interval of its mean is clipped to it
        (a t interval of a count near 0 would otherwise reach below 0). None for a quantity that
        can be negative, such as a delay (actual minus free-flow time).
    """

    label_en: str
    label_zh: str
    unit: str
    lower_is_better: bool | None
    scaled: bool
    headline: bool = False
    decimals: int = 1
    value_range: tuple[float, float] | None = None


#: :attr:`KpiInfo.value_range` of counts, totals, times, speeds and ratios: nothing below 0.
NON_NEGATIVE: tuple[float, float] = (0.0, math.inf)
#: :attr:`KpiInfo.value_range` of a percentage share.
PERCENT: tuple[float, float] = (0.0, 100.0)
#: :attr:`KpiInfo.value_range` of a share of runs (0 … 1).
SHARE: tuple[float, float] = (0.0, 1.0)

#: Metadata of every key :func:`network_kpis` returns, in display order.
KPI_META: dict[str, KpiInfo] = {
    # key: KpiInfo(label_en, label_zh, unit, lower_is_better, scaled, headline, decimals, range)
    "trips_total": KpiInfo(
        "Trips (total)", "出行总数", "trips", None, True, False, 0, NON_NEGATIVE
    ),
    # A count: fewer completed trips is not worse when a measure removes car trips (mode shift).
    "trips_completed": KpiInfo(
        "Trips completed", "完成出行", "trips", None, True, False, 0, NON_NEGATIVE
    ),
    "trips_completed_pct": KpiInfo(
        "Trips completed (share)", "完成率", "%", False, False, True, 1, PERCENT
    ),
    "trips_unfinished": KpiInfo(
        "Trips unfinished", "未完成出行", "trips", True, True, True, 0, NON_NEGATIVE
    ),
    "trips_en_route": KpiInfo(
        "…still en route at end", "结束时在途", "trips", True, True, False, 0, NON_NEGATIVE
    ),
    "trips_stuck": KpiInfo(
        "…stuck (gridlock)", "锁死滞留", "trips", True, True, False, 0, NON_NEGATIVE
    ),
    "trips_unrouted": KpiInfo(
        "…without a route", "无可行路径", "trips", True, True, False, 0, NON_NEGATIVE
    ),
    "vkt_km": KpiInfo(
        "Vehicle-km travelled", "车公里 VKT", "veh·km", None, True, False, 0, NON_NEGATIVE
    ),
    "vht_h": KpiInfo(
        "Vehicle-hours travelled", "车小时 VHT", "veh·h", True, True, True, 0, NON_NEGATIVE
    ),
    "mean_trip_time_s": KpiInfo(
        "Mean trip time", "平均出行时间", "s", True, False, True, 0, NON_NEGATIVE
    ),
    # a delay is actual minus free-flow time: not bounded below in principle
    "mean_delay_s": KpiInfo("Mean delay per trip", "平均延误", "s", True, False, True, 0),
    "mean_speed_kph": KpiInfo(
        "Mean speed (VKT/VHT)", "路网平均车速", "km/h", False, False, True, 1, NON_NEGATIVE
    ),
    "travel_time_index": KpiInfo(
        "Travel-time index", "拥堵延时指数", "", True, False, True, 3, NON_NEGATIVE
    ),
    "congestion_index": KpiInfo(
        "Congestion index (vs. light traffic)",
        "拥堵指数（对比畅通含信号）",
        "",
        True,
        False,
        False,
        3,
        NON_NEGATIVE,
    ),
    "congested_vkt_share_pct": KpiInfo(
        "VKT share in congestion", "拥堵里程占比", "%", True, False, True, 1, PERCENT
    ),
    "congested_places": KpiInfo(
        "Congested places", "拥堵点段", "places", True, False, True, 0, NON_NEGATIVE
    ),
    "max_queue_veh": KpiInfo(
        "Longest link queue", "最大排队", "veh", True, True, False, 0, NON_NEGATIVE
    ),
    "spillback_link_min": KpiInfo(
        "Spillback", "排队溢出时长", "link·min", True, False, True, 1, NON_NEGATIVE
    ),
    "gridlock": KpiInfo("Gridlock (share of runs)", "路网锁死", "", True, False, False, 2, SHARE),
    "cruise_vkt_km": KpiInfo(
        "Cruising for parking", "寻泊绕行里程", "veh·km", True, True, False, 1, NON_NEGATIVE
    ),
    "cruise_vht_h": KpiInfo(
        "Cruising for parking", "寻泊绕行时间", "veh·h", True, True, False, 1, NON_NEGATIVE
    ),
    "co2_t": KpiInfo("CO₂ (estimate)", "CO₂ 排放估算", "t", True, True, True, 2, NON_NEGATIVE),
}


def kpi_metadata() -> pd.DataFrame:
    """Return :data:`KPI_META` as a table, one row per KPI key.

    Returns
    -------
    pandas.DataFrame
        Index ``kpi``; columns ``label_en``, ``label_zh``, ``unit``, ``lower_is_better``,
        ``scaled``, ``headline``, ``decimals``.
    """
    rows = {key: vars(info) for key, info in KPI_META.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("kpi")


# --- shared record handling ----------------------------------------------------------------


def _scale(result: SimResult) -> float:
    """Multiplier from simulated to real vehicles: 1 / sample_factor."""
    factor = float(result.sample_factor or 1.0)
    return 1.0 / factor if factor > 0 else 1.0


def _period_s(result: SimResult) -> float:
    """Length of the demand period, s."""
    return float(result.settings.duration_s)


def _end_s(result: SimResult) -> float:
    """End of the simulated time, s: the engine's ``extra["end_s"]`` when it reports one (it may
    stop early once every vehicle is done), else demand period + cool-down."""
    end = result.extra.get("end_s") if result.extra else None
    if end is not None and np.isfinite(end):
        return float(end)
    return float(result.settings.duration_s + result.settings.cooldown_s)


@dataclass(frozen=True)
class _Traversals:
    """Traversal records as aligned arrays with derived time and distance."""

    trip_id: np.ndarray
    link: np.ndarray
    entry_s: np.ndarray
    exit_s: np.ndarray
    done: np.ndarray  # the vehicle left the link
    time_s: np.ndarray  # time on the link (up to the end of the run if still on it)
    distance_m: np.ndarray  # distance covered on the link
    freeflow_s: np.ndarray  # free-flow time of the link


def _traversals(result: SimResult) -> _Traversals:
    """Read traversals into arrays and derive each one's time and distance on its link."""
    frame = pd.DataFrame(result.traversals)
    link = frame["link"].to_numpy(dtype=np.int64)
    entry = frame["entry_s"].to_numpy(dtype=float)
    exit_ = frame["exit_s"].to_numpy(dtype=float)
    length = result.links["length_m"].to_numpy(dtype=float)[link]
    freeflow = result.links["freeflow_s"].to_numpy(dtype=float)[link]
    done = ~np.isnan(exit_)
    time_s = np.clip(np.where(done, exit_, _end_s(result)) - entry, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        partial = np.minimum(length, time_s * length / freeflow)
    distance = np.where(done, length, partial)
    return _Traversals(
        trip_id=frame["trip_id"].to_numpy(dtype=np.int64),
        link=link,
        entry_s=entry,
        exit_s=exit_,
        done=done,
        time_s=time_s,
        distance_m=distance,
        freeflow_s=freeflow,
    )


def _light_load_signal_delay(result: SimResult, trav: _Traversals) -> np.ndarray:
    """Per trip (in ``result.trips`` order), the light-load delay of the signals it crossed, s.

    A traversal crosses its link's end junction unless it is the trip's last one; records without
    the ``light_load_delay_s`` link column (read back from older runs) give zeros.
    """
    trips = result.trips
    if "light_load_delay_s" not in result.links.columns or len(trav.link) == 0:
        return np.zeros(len(trips))
    delay = result.links["light_load_delay_s"].to_numpy(dtype=float)[trav.link]
    order = np.lexsort((trav.entry_s, trav.trip_id))
    trip_sorted = trav.trip_id[order]
    crossed = np.zeros(len(order), dtype=bool)
    crossed[:-1] = trip_sorted[1:] == trip_sorted[:-1]
    per_trip = pd.Series(np.where(crossed, delay[order], 0.0)).groupby(trip_sorted).sum()
    return per_trip.reindex(trips["trip_id"].to_numpy(), fill_value=0.0).to_numpy()


def _sample_interval_s(result: SimResult) -> float:
    """Spacing of the link samples, s (from the sample times, else the settings)."""
    times = np.asarray(result.link_samples.time_s, dtype=float)
    if times.size >= 2:
        return float(np.median(np.diff(times)))
    return float(result.settings.sample_interval_s)


# --- network KPIs --------------------------------------------------------------------------


def network_kpis(result: SimResult, G: nx.MultiDiGraph | None = None) -> dict[str, float]:
    """Network-wide KPIs of one replication (keys and units in :data:`KPI_META`).

    Definitions (sums over all trips or traversals of the run; *arrived* = status ``"arrived"``;
    s = 1/sample_factor):

    * ``trips_total`` = s · number of trips; ``trips_completed`` = s · arrived trips;
      ``trips_completed_pct`` = 100 · arrived / trips;
      ``trips_unfinished`` = s · (en route + stuck + unrouted), each also given alone.
    * ``vkt_km`` = s · Σ distance covered per traversal / 1000.
    * Trip time t = arrival − departure for an arrived trip; for a routed trip not arrived when
      the run ends (en route, waiting to enter, stuck, or not yet departed after a full gridlock
      stopped the run) t = max(end − departure, free-flow path time), a lower bound, so a
      measure that leaves trips in queues is not flattered by dropping them. Unrouted trips
      have no trip time (they are counted apart).
    * ``vht_h`` = s · Σ t / 3600: time on links and waiting to enter the first link.
    * ``mean_trip_time_s`` = mean of t; ``mean_delay_s`` = mean of (t − free-flow path time).
    * ``mean_speed_kph`` = VKT / VHT.
    * ``travel_time_index`` = Σ t / Σ free-flow path time: AutoNavi's 拥堵延时指数 (actual ÷
      free-flow travel time), aggregated as a ratio of sums, i.e. weighted by each trip's
      free-flow time. 1.0 = free flow; AutoNavi calls ≥ 2.0 congested.
    * ``congestion_index`` = Σ t / Σ (f + s_light): the index as Baidu and AutoNavi publish it,
      whose denominator is an *observed* uncongested travel time, stops at signals included. For
      each trip s_light is the light-load delay (:func:`cysim.control.webster.light_load_signal_delay_s`,
      the links frame's ``light_load_delay_s``) of every signal it crossed. ``travel_time_index``
      counts all signal delay as congestion; this one only what traffic adds. It is the figure
      ``cysim calibrate`` holds against the published indices.
    * ``congested_vkt_share_pct`` = 100 · VKT of traversals slower than 50 % of the link's
      free-flow speed (time > 2 × free-flow time) ÷ VKT.
    * ``congested_places`` = number of links that are a congested approach or section
      (:func:`congested_places`: a lane group at its downstream junction with degree of
      saturation ≥ ``CONGESTED_X``, or at least ``CONGESTED_SECTION_MIN_M`` long with a space
      mean speed ≤ 50 % of free flow); NaN for records without lane groups.
    * ``max_queue_veh`` = s · largest exit queue of any link at any sample time.
    * ``spillback_link_min`` = Σ over links of minutes flagged ``blocked`` (link full).
    * ``gridlock`` = 1 if the engine detected gridlock, else 0 (its mean over replications is
      the share of runs that locked up).
    * ``cruise_vkt_km``, ``cruise_vht_h`` = s · Σ cruising-for-parking distance / time.
    * ``co2_t`` = s · Σ over traversals of distance · EF(traversal speed) / 10⁶, EF from
      :func:`cysim.results.emissions.co2_g_per_km` (COPERT petrol car).

    Parameters
    ----------
    result
        One replication's records.
    G
        The graph the run used (not needed for these KPIs; accepted for a uniform signature).

    Returns
    -------
    dict[str, float]
        The KPIs above, plus what they were computed under (not KPIs): ``sample_factor`` (the
        scaling applied), ``relative_gap`` (route choice's relative gap in the final run, NaN
        without route-choice records), ``route_iterations`` (runs made) and
        ``signal_plan_change_s`` (how far the re-timed signal plans still moved after the final
        run; 0 without ``optimize: webster``). Means over no trips are NaN.
    """
    scale = _scale(result)
    trav = _traversals(result)
    trips = result.trips
    status = trips["status"].astype(str)
    n_arrived = int((status == "arrived").sum())
    end_s = _end_s(result)
    departure = trips["departure_s"].to_numpy(dtype=float)
    timed = (status != "unrouted").to_numpy()
    arrival = trips["arrival_s"].to_numpy(dtype=float)
    freeflow_all = trips["freeflow_s"].to_numpy(dtype=float)
    under_way = np.maximum(end_s - departure, freeflow_all)
    trip_time = np.where(np.isnan(arrival), under_way, arrival - departure)[timed]
    freeflow_trip = freeflow_all[timed]
    n_timed = len(trip_time)

    light_signal_s = _light_load_signal_delay(result, trav)[timed]
    vkt_km = float(trav.distance_m.sum()) / 1000.0
    vht_h = float(trip_time.sum()) / 3600.0
    congested = trav.time_s > trav.freeflow_s / CONGESTED_SPEED_RATIO
    congested_km = float(trav.distance_m[congested].sum()) / 1000.0
    co2_t = float(emissions.co2_g(trav.distance_m / 1000.0, trav.time_s).sum()) / 1e6

    queue = np.asarray(result.link_samples.queue_veh, dtype=float)
    blocked = np.asarray(result.link_samples.blocked, dtype=bool)
    counts = {name: int((status == name).sum()) for name in ("en_route", "stuck", "unrouted")}
    route_choice = result.route_choice
    has_gap = len(route_choice) > 0 and "relative_gap" in route_choice

    return {
        "trips_total": scale * len(trips),
        "trips_completed": scale * n_arrived,
        "trips_completed_pct": 100.0 * n_arrived / len(trips) if len(trips) else float("nan"),
        "trips_unfinished": scale * sum(counts.values()),
        "trips_en_route": scale * counts["en_route"],
        "trips_stuck": scale * counts["stuck"],
        "trips_unrouted": scale * counts["unrouted"],
        "vkt_km": scale * vkt_km,
        "vht_h": scale * vht_h,
        "mean_trip_time_s": float(trip_time.mean()) if n_timed else float("nan"),
        "mean_delay_s": float((trip_time - freeflow_trip).mean()) if n_timed else float("nan"),
        "mean_speed_kph": vkt_km / vht_h if vht_h > 0 else float("nan"),
        "travel_time_index": (
            float(trip_time.sum() / freeflow_trip.sum())
            if n_timed and freeflow_trip.sum() > 0
            else float("nan")
        ),
        "congestion_index": (
            float(trip_time.sum() / (freeflow_trip + light_signal_s).sum())
            if n_timed and freeflow_trip.sum() > 0
            else float("nan")
        ),
        "congested_vkt_share_pct": 100.0 * congested_km / vkt_km if vkt_km > 0 else 0.0,
        "congested_places": (
            float(len(congested_places(result))) if result.lane_groups is not None else np.nan
        ),
        "max_queue_veh": scale * float(queue.max()) if queue.size else 0.0,
        "spillback_link_min": float(blocked.sum()) * _sample_interval_s(result) / 60.0,
        "gridlock": 1.0 if result.gridlock.get("detected") else 0.0,
        "cruise_vkt_km": scale * float(trips["cruise_distance_m"].fillna(0).sum()) / 1000.0,
        "cruise_vht_h": scale * float(trips["cruise_s"].fillna(0).sum()) / 3600.0,
        "co2_t": scale * co2_t,
        "sample_factor": float(result.sample_factor),
        "relative_gap": float(route_choice["relative_gap"].iloc[-1]) if has_gap else float("nan"),
        "route_iterations": float(len(route_choice)),
        "signal_plan_change_s": (
            float(route_choice["plan_change_s"].iloc[-1])
            if len(route_choice) and "plan_change_s" in route_choice
            else 0.0
        ),
    }


# --- link table ----------------------------------------------------------------------------


def _edge_geometry(G: nx.MultiDiGraph, u: int, v: int, key: int) -> LineString | None:
    """The edge's geometry, a straight line between its nodes when it has none, or None."""
    data = G.get_edge_data(u, v, key)
    if data is not None and data.get("geometry") is not None:
        return data["geometry"]
    if u in G.nodes and v in G.nodes:
        nu, nv = G.nodes[u], G.nodes[v]
        return LineString([(nu["x"], nu["y"]), (nv["x"], nv["y"])])
    return None


def link_table(result: SimResult, G: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """Per-link KPIs of one replication, with the link geometry (one row per engine link).

    Statistics use traversals that entered the link in the demand period ``[0, D)``, D =
    ``duration_s``; s = 1/sample_factor:

    * ``flow_veh`` = s · vehicles entering; ``flow_vph`` = flow_veh / (D / 3600).
    * ``mean_speed_kph`` = 3.6 · n · length / Σ traversal times over completed traversals (space
      mean speed); NaN when no vehicle completed the link. ``speed_ratio`` = it ÷ free-flow speed.
    * ``v_c`` = flow_vph / capacity_vph: **mid-block** v/c (demand-period volume over the
      road's mid-block capacity; a junction approach's degree of saturation is in
      :func:`approach_table`).
    * ``mean_delay_s`` = mean over completed traversals of (exit − entry − free-flow time).
    * ``total_delay_vh`` = s · Σ those delays / 3600 (vehicle-hours lost on the link).
    * ``queue_max_veh`` = s · largest sampled exit queue (whole run).
    * ``spillback_min`` = minutes the link was sampled full (``blocked``), whole run.
    * ``co2_kg`` = s · CO₂ of the demand-period traversals (see :func:`network_kpis`).

    Parameters
    ----------
    result
        One replication's records.
    G
        The graph the run used; edge ``geometry`` (or node x/y) gives each link's line.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``link, u, v, key, name, highway, lanes, length_m, speed_kph, capacity_vph,
        flow_veh, flow_vph, mean_speed_kph, speed_ratio, v_c, mean_delay_s, total_delay_vh,
        queue_max_veh, spillback_min, co2_kg, geometry``, in the CRS of ``G``.
    """
    table = _link_frame(result)
    geometry = [
        _edge_geometry(G, int(u), int(v), int(k))
        for u, v, k in zip(table["u"], table["v"], table["key"], strict=True)
    ]
    return gpd.GeoDataFrame(table, geometry=geometry, crs=G.graph.get("crs"))


def _link_frame(result: SimResult) -> pd.DataFrame:
    """The columns of :func:`link_table` without geometry."""
    scale = _scale(result)
    period_s = _period_s(result)
    links = result.links
    n_links = len(links)
    trav = _traversals(result)
    in_period = (trav.entry_s >= 0) & (trav.entry_s < period_s)
    complete = in_period & trav.done

    def per_link(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = None if weights is None else weights[mask]
        return np.bincount(trav.link[mask], weights=w, minlength=n_links)[:n_links]

    entered = per_link(in_period)
    n_complete = per_link(complete)
    time_complete = per_link(complete, trav.time_s)
    delay_complete = per_link(complete, trav.time_s - trav.freeflow_s)
    co2 = emissions.co2_g(trav.distance_m / 1000.0, trav.time_s)
    co2_link = per_link(in_period, co2)

    length = links["length_m"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_speed = np.where(time_complete > 0, 3.6 * n_complete * length / time_complete, np.nan)
        mean_delay = np.where(n_complete > 0, delay_complete / n_complete, np.nan)
    queue = np.asarray(result.link_samples.queue_veh, dtype=float)
    blocked = np.asarray(result.link_samples.blocked, dtype=bool)
    flow_vph = scale * entered / (period_s / 3600.0)

    return pd.DataFrame(
        {
            "link": np.arange(n_links),
            "u": links["u"].to_numpy(),
            "v": links["v"].to_numpy(),
            "key": links["key"].to_numpy(),
            "name": links["name"].fillna("").astype(str).to_numpy(),
            "highway": links["highway"].fillna("").astype(str).to_numpy(),
            "lanes": links["lanes"].to_numpy(),
            "length_m": length,
            "speed_kph": links["speed_kph"].to_numpy(dtype=float),
            "capacity_vph": links["capacity_vph"].to_numpy(dtype=float),
            "flow_veh": scale * entered,
            "flow_vph": flow_vph,
            "mean_speed_kph": mean_speed,
            "speed_ratio": mean_speed / links["speed_kph"].to_numpy(dtype=float),
            "v_c": flow_vph / links["capacity_vph"].to_numpy(dtype=float),
            "mean_delay_s": mean_delay,
            "total_delay_vh": scale * delay_complete / 3600.0,
            "queue_max_veh": scale * queue.max(axis=0) if queue.size else np.zeros(n_links),
            "spillback_min": blocked.sum(axis=0) * _sample_interval_s(result) / 60.0
            if blocked.size
            else np.zeros(n_links),
            "co2_kg": scale * co2_link / 1000.0,
        }
    )


# --- junctions -----------------------------------------------------------------------------


def level_of_service(delay_s: float, signalised: bool) -> str:
    """HCM 6th edition level of service (A–F) from control delay per vehicle.

    Parameters
    ----------
    delay_s
        Mean control delay, s/veh.
    signalised
        Use the signalised thresholds (10/20/35/55/80 s, HCM Exhibit 19-8) instead of the
        stop-controlled ones (10/15/25/35/50 s, Exhibits 20-2 and 21-8).

    Returns
    -------
    str
        ``"A"`` … ``"F"``, or ``""`` when the delay is NaN (no vehicles).
    """
    if delay_s != delay_s:  # NaN
        return ""
    bounds = LOS_SIGNALISED_S if signalised else LOS_UNSIGNALISED_S
    for letter, bound in zip("ABCDE", bounds, strict=True):
        if delay_s <= bound:
            return letter
    return "F"


def _junction_name(G: nx.MultiDiGraph, node: int) -> str:
    """Names of the roads meeting at a node, ``"A / B"`` (up to three, sorted)."""
    names: set[str] = set()
    for _, _, data in G.in_edges(node, data=True):
        names.update(n for n in str(data.get("name") or "").split(";") if n)
    for _, _, data in G.out_edges(node, data=True):
        names.update(n for n in str(data.get("name") or "").split(";") if n)
    return " / ".join(sorted(names)[:3])


def junction_table(result: SimResult, G: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """Control delay and HCM level of service per junction (node) of one replication.

    A traversal's control delay is ``exit − entry − free-flow time`` of the link: the time lost
    queueing and waiting for green at the link's downstream junction (in a link-queue model all
    of a link's delay builds up at its exit). A junction's ``mean_control_delay_s`` is the mean
    over completed traversals that entered in the demand period and end at it, leaving out each
    arrived trip's last traversal (the vehicle leaves the road there, it does not cross).

    Parameters
    ----------
    result
        One replication's records.
    G
        The graph the run used (node positions, ``signal`` flag, road names).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per node crossed by at least one vehicle: ``node, name, signal, vehicles``
        (s · traversals counted), ``mean_control_delay_s``, ``los``,
        ``max_degree_of_saturation`` (the highest ``X`` of its approach lane groups,
        :func:`approach_table`), ``congested_approaches`` (approaches with ``X ≥ CONGESTED_X``;
        both NaN for records without lane groups), point geometry, CRS of ``G``.
    """
    scale = _scale(result)
    trav = _traversals(result)
    period_s = _period_s(result)
    frame = pd.DataFrame(
        {
            "trip_id": trav.trip_id,
            "entry_s": trav.entry_s,
            "node": result.links["v"].to_numpy()[trav.link],
            "delay_s": trav.time_s - trav.freeflow_s,
            "use": trav.done & (trav.entry_s >= 0) & (trav.entry_s < period_s),
        }
    )
    arrived_ids = result.trips.loc[result.trips["status"] == "arrived", "trip_id"]
    last_entry = frame.groupby("trip_id")["entry_s"].transform("max")
    is_last = (frame["entry_s"] == last_entry) & frame["trip_id"].isin(arrived_ids)
    used = frame[frame["use"] & ~is_last]
    grouped = used.groupby("node")["delay_s"].agg(["size", "mean"])

    rows = []
    for node, (size, mean) in grouped.iterrows():
        data = G.nodes.get(node, {})
        signal = bool(data.get("signal", False))
        rows.append(
            {
                "node": int(node),
                "name": _junction_name(G, node) if node in G.nodes else "",
                "signal": signal,
                "vehicles": scale * float(size),
                "mean_control_delay_s": float(mean),
                "los": level_of_service(float(mean), signal),
                "geometry": Point(data["x"], data["y"]) if "x" in data else None,
            }
        )
    columns = ["node", "name", "signal", "vehicles", "mean_control_delay_s", "los", "geometry"]
    table = pd.DataFrame(rows, columns=columns)
    groups = result.lane_groups
    if groups is not None and not groups.empty:
        per_node = groups.groupby("node")["degree_of_saturation"]
        table.insert(6, "max_degree_of_saturation", table["node"].map(per_node.max()))
        congested = groups[groups["degree_of_saturation"] >= CONGESTED_X].groupby("node")["link"]
        table.insert(7, "congested_approaches", table["node"].map(congested.nunique()).fillna(0))
    else:
        table.insert(6, "max_degree_of_saturation", np.nan)
        table.insert(7, "congested_approaches", np.nan)
    return gpd.GeoDataFrame(table, geometry="geometry", crs=G.graph.get("crs"))


# --- junction approaches -------------------------------------------------------------------

#: Distance before the stop line at which an approach's point is drawn, metres.
APPROACH_MARK_M: float = 20.0


def _approach_point(G: nx.MultiDiGraph, u: int, v: int, key: int) -> Point | None:
    """A point on the link ``APPROACH_MARK_M`` before its downstream end (or its middle)."""
    line = _edge_geometry(G, u, v, key)
    if line is None:
        return None
    back = min(APPROACH_MARK_M, line.length / 2.0)
    return line.interpolate(line.length - back)


def approach_table(result: SimResult, G: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """Degree of saturation and level of service per junction approach lane group.

    The figures come from :func:`cysim.sim.lanegroups.lane_group_table` (busiest-hour flow,
    capacity ``s · N · g/C``, ``X``, control delay); this adds where and what:

    * ``junction`` (roads meeting at the node), ``u, v, key`` (the approach's graph edge),
      ``road`` (its name), ``highway``;
    * ``los``: HCM level of service from the group's control delay, with the signalised
      thresholds at signals and the stop-controlled ones for a movement yielding to a major
      road (a major road's free movements have none: ``""``);
    * ``congested``: ``X ≥ CONGESTED_X``;
    * a point ``APPROACH_MARK_M`` before the stop line on the approach, so that the approaches
      of one junction are told apart on a map.

    Parameters
    ----------
    result
        One replication's records, with ``lane_groups`` (a run of :func:`cysim.sim.simulate`).
    G
        The graph the run used.

    Returns
    -------
    geopandas.GeoDataFrame
        The lane-group columns plus ``junction, u, v, key, road, highway, los, congested,
        geometry``, in the CRS of ``G``; empty when the records carry no lane groups.
    """
    groups = result.lane_groups
    columns = [
        "node", "junction", "link", "u", "v", "key", "road", "highway", "lane_group",
        "movements", "lanes",
        "control", "saturation_flow_vph", "green_ratio", "capacity_vph", "flow_vph",
        "degree_of_saturation", "vehicles", "control_delay_s", "los", "congested",
    ]  # fmt: skip
    if groups is None or groups.empty:
        return gpd.GeoDataFrame(pd.DataFrame(columns=columns), geometry=[], crs=G.graph.get("crs"))
    table = groups.copy()
    links = result.links
    link = table["link"].to_numpy()
    table["road"] = links["name"].fillna("").astype(str).to_numpy()[link]
    table["highway"] = links["highway"].fillna("").astype(str).to_numpy()[link]
    names = {n: _junction_name(G, n) if n in G.nodes else "" for n in set(table["node"])}
    table["junction"] = [names[n] for n in table["node"]]
    table = mark_congested(table)
    u, v, k = (links[c].to_numpy()[link] for c in ("u", "v", "key"))
    table["u"], table["v"], table["key"] = u, v, k
    geometry = [_approach_point(G, int(a), int(b), int(c)) for a, b, c in zip(u, v, k, strict=True)]
    return gpd.GeoDataFrame(table[columns], geometry=geometry, crs=G.graph.get("crs"))


def _approach_los(control: pd.Series, delay_s: pd.Series) -> list[str]:
    """HCM level of service of approaches: signalised thresholds at signals, stop-controlled
    ones for a movement yielding to a major road, none (``""``) for a major road's free
    movements."""
    return [
        "" if c == "major" else level_of_service(d, c != "minor")
        for c, d in zip(control, delay_s, strict=True)
    ]


def mark_congested(approaches: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Set ``congested`` (``X ≥ CONGESTED_X``) and ``los`` again from the table's own figures
    (after averaging replications)."""
    out = approaches.copy()
    out["congested"] = out["degree_of_saturation"] >= CONGESTED_X
    out["los"] = _approach_los(out["control"], out["control_delay_s"])
    return out


def approach_summary(approaches: pd.DataFrame) -> pd.DataFrame:
    """One row per junction approach (link) from its lane groups: the worst group's degree of
    saturation and the vehicle-weighted control delay.

    Parameters
    ----------
    approaches
        :func:`approach_table` (or its mean over replications).

    Returns
    -------
    pandas.DataFrame
        ``u, v, key, node, junction, road, highway, control`` (``signal`` / ``actuated`` when
        any group is signalised, else the first group's), ``flow_vph`` (sum of the groups),
        ``max_degree_of_saturation``, ``control_delay_s``, ``los``, ``congested``.
    """
    columns = [
        "u", "v", "key", "node", "junction", "road", "highway", "control", "flow_vph",
        "max_degree_of_saturation", "control_delay_s", "los", "congested",
    ]  # fmt: skip
    if approaches.empty:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(approaches).copy()
    frame["weighted_delay"] = frame["control_delay_s"].fillna(0.0) * frame["vehicles"]
    frame["timed_vehicles"] = frame["vehicles"].where(frame["control_delay_s"].notna(), 0.0)
    signalised = frame["control"].isin(["signal", "actuated"])
    frame["rank"] = np.where(signalised, 0, 1)
    frame = frame.sort_values("rank", kind="stable")
    grouped = frame.groupby(["u", "v", "key"], sort=False)
    out = grouped.agg(
        node=("node", "first"),
        junction=("junction", "first"),
        road=("road", "first"),
        highway=("highway", "first"),
        control=("control", "first"),
        flow_vph=("flow_vph", "sum"),
        max_degree_of_saturation=("degree_of_saturation", "max"),
        weighted_delay=("weighted_delay", "sum"),
        timed_vehicles=("timed_vehicles", "sum"),
    ).reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["control_delay_s"] = np.where(
            out["timed_vehicles"] > 0, out["weighted_delay"] / out["timed_vehicles"], np.nan
        )
    out["los"] = _approach_los(out["control"], out["control_delay_s"])
    out["congested"] = out["max_degree_of_saturation"] >= CONGESTED_X
    return out[columns]


def congested_places(result: SimResult) -> pd.DataFrame:
    """The links of one replication that are congested approaches or sections, worst first.

    See :func:`congested_links`; empty for records without lane groups.
    """
    if result.lane_groups is None:
        return congested_links(_link_frame(result).iloc[0:0], result.links.iloc[0:0])
    return congested_links(_link_frame(result), result.lane_groups)


def congested_links(links: pd.DataFrame, lane_groups: pd.DataFrame) -> pd.DataFrame:
    """The links that are congested approaches or congested sections, worst first.

    A link is a *congested place* when a lane group at its downstream junction has a degree of
    saturation ``X ≥ CONGESTED_X`` (an approach that no longer clears), or when it is at least
    ``CONGESTED_SECTION_MIN_M`` long and its space mean speed over the demand period is at most
    ``CONGESTED_SPEED_RATIO`` of free flow (a congested road section, the work report's 拥堵路段).
    Each direction of a road is its own place.

    Parameters
    ----------
    links
        :func:`link_table` (or its mean over replications): ``u, v, key, name, highway,
        length_m, speed_ratio, flow_vph``.
    lane_groups
        :func:`approach_table` or ``SimResult.lane_groups`` of the same run(s): ``u, v, key``
        or ``link``, and ``degree_of_saturation``.

    Returns
    -------
    pandas.DataFrame
        One row per congested link: ``u, v, key, name, highway, length_m,
        max_degree_of_saturation, speed_ratio, flow_vph, reason`` (``"X ≥ 0.9"``,
        ``"speed ≤ 50 %"`` or both), sorted by ``max_degree_of_saturation`` then
        ``speed_ratio``.
    """
    columns = [
        "u", "v", "key", "name", "highway", "length_m", "max_degree_of_saturation",
        "speed_ratio", "flow_vph", "reason",
    ]  # fmt: skip
    frame = pd.DataFrame(links).copy()
    groups = pd.DataFrame(lane_groups)
    if "u" not in groups.columns and len(groups):
        ends = pd.DataFrame(links)[["link", "u", "v", "key"]]
        groups = groups.merge(ends, on="link", how="left")
    worst = (
        groups.groupby(["u", "v", "key"])["degree_of_saturation"].max()
        if len(groups)
        else pd.Series(dtype=float)
    )
    index = pd.MultiIndex.from_frame(frame[["u", "v", "key"]])
    frame["max_degree_of_saturation"] = worst.reindex(index).to_numpy() if len(worst) else np.nan
    by_x = frame["max_degree_of_saturation"].fillna(0.0) >= CONGESTED_X
    by_speed = (frame["length_m"] >= CONGESTED_SECTION_MIN_M) & (
        frame["speed_ratio"] <= CONGESTED_SPEED_RATIO
    )
    places = frame[by_x | by_speed].copy()
    x_text, speed_text = f"X ≥ {CONGESTED_X:g}", f"speed ≤ {CONGESTED_SPEED_RATIO:.0%}"
    places["reason"] = np.where(
        by_x[places.index] & by_speed[places.index],
        f"{x_text}; {speed_text}",
        np.where(by_x[places.index], x_text, speed_text),
    )
    places = places.sort_values(
        ["max_degree_of_saturation", "speed_ratio"], ascending=[False, True], na_position="last"
    )
    return places[columns].reset_index(drop=True)


# --- time series and trips -----------------------------------------------------------------


def _clock(start_time: str, seconds: np.ndarray) -> list[str]:
    """Clock times ``HH:MM`` of offsets from a ``"HH:MM"`` start."""
    hours, minutes = (int(part) for part in start_time.split(":"))
    total = (hours * 60 + minutes + np.asarray(seconds, dtype=float) // 60).astype(int)
    return [f"{(m // 60) % 24:02d}:{m % 60:02d}" for m in total]


def timeseries(result: SimResult, interval_s: float = 300.0) -> pd.DataFrame:
    """Network state per time interval (default 5 minutes) over the whole run.

    For interval ``[t, t + Δ)``: ``vehicles_in_network`` = s · mean of the sampled vehicles in the
    network; ``mean_speed_kph`` = 3.6 · Σ length / Σ time of traversals completed in the interval
    (space mean speed, NaN if none); ``departures`` / ``arrivals`` = s · trips departing /
    arriving in it; ``vehicles_waiting`` = s · mean vehicles waiting to enter.

    Parameters
    ----------
    result
        One replication's records.
    interval_s
        Width of the intervals, s.

    Returns
    -------
    pandas.DataFrame
        Columns ``time_s`` (interval start), ``clock`` (``HH:MM``), ``vehicles_in_network``,
        ``vehicles_waiting``, ``mean_speed_kph``, ``departures``, ``arrivals``.
    """
    scale = _scale(result)
    end_s = _end_s(result)
    starts = np.arange(0.0, end_s, interval_s)
    n_bins = len(starts)

    def bin_of(times: np.ndarray) -> np.ndarray:
        index = np.floor(np.asarray(times, dtype=float) / interval_s)
        return np.where(np.isfinite(index), index, -1).astype(np.int64)

    def counts(times: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        index = bin_of(times)
        keep = (index >= 0) & (index < n_bins)
        w = None if weights is None else np.asarray(weights, dtype=float)[keep]
        return np.bincount(index[keep], weights=w, minlength=n_bins)[:n_bins]

    trav = _traversals(result)
    done = trav.done
    dist = counts(trav.exit_s[done], trav.distance_m[done])
    time = counts(trav.exit_s[done], trav.time_s[done])
    samples = result.network_samples
    n_samples = counts(samples["time_s"].to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(time > 0, 3.6 * dist / time, np.nan)
        in_network = counts(samples["time_s"], samples["vehicles_in_network"]) / n_samples
        waiting = counts(samples["time_s"], samples["waiting_to_enter"]) / n_samples
    return pd.DataFrame(
        {
            "time_s": starts,
            "clock": _clock(result.settings.start_time, starts),
            "vehicles_in_network": scale * in_network,
            "vehicles_waiting": scale * waiting,
            "mean_speed_kph": speed,
            "departures": scale * counts(result.trips["departure_s"].to_numpy()),
            "arrivals": scale * counts(result.trips["arrival_s"].to_numpy()),
        }
    )


def trip_table(result: SimResult) -> pd.DataFrame:
    """The trips with their derived times, one row per simulated trip (not scaled).

    Adds ``travel_time_s`` = arrival − departure, ``delay_s`` = travel_time_s − free-flow path
    time, ``distance_km`` and ``tti`` = travel_time_s / free-flow time (NaN unless arrived).

    Parameters
    ----------
    result
        One replication's records.

    Returns
    -------
    pandas.DataFrame
        The engine's trip columns (docs/data-model.md §4) plus the four above.
    """
    trips = result.trips.copy()
    arrived = trips["status"] == "arrived"
    travel = (trips["arrival_s"] - trips["departure_s"]).where(arrived)
    trips["travel_time_s"] = travel
    trips["delay_s"] = travel - trips["freeflow_s"]
    trips["distance_km"] = trips["distance_m"] / 1000.0
    trips["tti"] = travel / trips["freeflow_s"].where(trips["freeflow_s"] > 0)
    return trips
