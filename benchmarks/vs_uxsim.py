"""cysim and UXsim side by side on the same network and demand: travel times, flows, time, memory.

Run (needs the ``bench`` extra)::

    .venv/bin/python benchmarks/vs_uxsim.py                       # Sioux Falls + grid 100k
    .venv/bin/python benchmarks/vs_uxsim.py --cases grid1m         # the 1M-trip target (cysim)
    .venv/bin/python benchmarks/vs_uxsim.py --cases multilane      # 2–4 lanes, light + congested
    .venv/bin/python benchmarks/vs_uxsim.py --cases mlmicro        # one mechanism per small case

Every simulator run happens in its own spawned child process, one after the other, so wall time,
CPU time and peak resident memory (``ru_maxrss``) belong to that simulator alone.

Sioux Falls (``../shared/data/uxsim``): UXsim loads the CSVs with its own loader; cysim gets the
same network converted with UXsim's own fundamental diagram (see :func:`sioux_falls_graph`) and
the vehicles UXsim's ``adddemand`` generates at each ``deltan`` (one platoon of ``deltan`` becomes
``deltan`` individual cysim trips at the same departure time, :func:`uxsim_departures`). The
link-flow correlation (Pearson r) of cysim, UXsim and the TNTP user-equilibrium flows
(``../shared/data/tntp``) is printed too.

Grid (``benchmarks/grid.py``, unsignalised here so both simulators see the same junctions): random
trips; UXsim gets every ``deltan``-th trip as a platoon of ``deltan``.

OSM (``--cases osm``): an OSM XML file (by default the bundled ``maps/chengyang-arterials.osm``,
401 junctions; ``--osm ../shared/data/osm/tempe-asu.osm`` for a real extract) loaded by
``cysim.network.build`` (lanes, speeds, capacities, storage by road class; junctions
consolidated), signals switched off so both simulators see uncontrolled junctions, random trips
between its junctions; UXsim gets the same links (length, speed, lanes, jam density from cysim's
storage) as for the grid.

Multi-lane (``--cases multilane``): a grid whose roads have 2–4 lanes by a fixed rule
(:func:`multilane_graph`), converted with UXsim's fundamental diagram per link (capacity, storage,
backward wave), at a light and a congested demand of random west-to-east platoons: UXsim moves
each as one platoon of ``deltan``, cysim as ``deltan`` trips at the same time
(:func:`multilane_trips`). Both use the same free-flow routes: cysim's (one route-choice
iteration), enforced on every UXsim vehicle (``Vehicle.enforce_route``), so only the traffic
models differ. cysim's parking search is off (UXsim ends a trip at its destination node).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Column, check, pearson_r, print_table, run_measured

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
UXSIM_DIR = SHARED / "uxsim"
TNTP_FLOW = SHARED / "tntp" / "SiouxFalls_flow.tntp"

#: UXsim's default reaction time τ (s): backward wave w = 1 / (τ κ), capacity = u w κ / (u + w).
UXSIM_REACTION_TIME_S = 1.0
#: Sioux Falls: demand from t = 0 to 4800 s; UXsim's recommended horizon is 7200 s.
SF_DEMAND_END_S = 4800.0
SF_TMAX_S = 7200.0


# --- inputs ----------------------------------------------------------------------------------


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def uxsim_link_capacity_vph(u_mps: float, kappa_vpm: float, lanes: int = 1) -> float:
    """UXsim's link capacity (triangular fundamental diagram), veh/h.

    UXsim sets ``τ = reaction_time / lanes``, ``w = 1 / (τ κ)`` and ``q* = u w κ / (u + w)``
    (uxsim.Link.__init__), with ``κ`` the jam density of the whole link (veh/m).
    """
    tau = UXSIM_REACTION_TIME_S / lanes
    w = 1.0 / (tau * kappa_vpm)
    return 3600.0 * u_mps * w * kappa_vpm / (u_mps + w)


def sioux_falls_graph(data_dir: Path = UXSIM_DIR):
    """UXsim's Sioux Falls CSVs as a cysim network (docs/data-model.md §1).

    Mapping (UXsim's CSV loader creates one-lane links): ``lanes`` = 1; ``speed_kph`` = 3.6 u;
    ``capacity_vph`` and ``saturation_flow_vphpl`` = UXsim's link capacity ``u w κ / (u + w)``
    with ``w = 1/(τ κ)``, τ = 1 s (0.375–0.78 veh/s); ``storage_veh`` = κ × length (κ = 0.2
    veh/m, i.e. 5 m per vehicle); no signals; every road ``primary`` (equal priority: UXsim's
    ``merge_priority`` has no cysim counterpart). With κ = 0.2 the jam wave is w = 5 m/s = 18
    km/h, cysim's default ``backward_wave_kph``. Coordinates: lon/lat projected to metres with
    a local equirectangular projection.
    """
    import networkx as nx
    from shapely.geometry import LineString

    nodes = _read_csv(data_dir / "siouxfalls_nodes.csv")
    lon0 = float(np.mean([float(n["x"]) for n in nodes]))
    lat0 = float(np.mean([float(n["y"]) for n in nodes]))
    metres_per_deg = 111_320.0
    G = nx.MultiDiGraph(crs="EPSG:32651", name="sioux-falls-uxsim", simplified=True)
    for n in nodes:
        lon, lat = float(n["x"]), float(n["y"])
        G.add_node(
            int(n["name"]), x=(lon - lon0) * metres_per_deg * math.cos(math.radians(lat0)),
            y=(lat - lat0) * metres_per_deg, lon=lon, lat=lat, signal=False,
            junction_id=int(n["name"]), street_count=0, signal_cycle_s=0.0, signal_offset_s=0.0,
            signal_splits="", parking_spaces=0, parking_guidance=False,
        )  # fmt: skip
    for row in _read_csv(data_dir / "siouxfalls_links.csv"):
        u, v = int(row["start"]), int(row["end"])
        length, speed, kappa = float(row["length"]), float(row["u"]), float(row["kappa"])
        cap = uxsim_link_capacity_vph(speed, kappa)
        geom = LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
        G.add_edge(
            u, v, length_m=length, lanes=1, speed_kph=3.6 * speed, capacity_vph=cap,
            saturation_flow_vphpl=cap, storage_veh=kappa * length, highway="primary",
            name=row["name"], osmid="", oneway=True, curb_parking=False, pocket_left=0,
            pocket_right=0, pocket_length_m=0.0, defaults_applied="", geometry=geom,
        )  # fmt: skip
    for n in G.nodes:
        G.nodes[n]["street_count"] = len(set(G.predecessors(n)) | set(G.successors(n)))
    return G


def uxsim_departures(flow_vps: float, start_s: float, end_s: float, deltan: int) -> list[float]:
    """Departure times of the platoons UXsim's ``World.adddemand`` creates for one OD pair.

    Replicates uxsim.World.adddemand: time steps of ``Δt = τ × deltan``; ``flow × Δt`` accumulates
    and each time it reaches ``deltan`` a platoon of ``deltan`` vehicles departs at that step.
    """
    dt = UXSIM_REACTION_TIME_S * deltan
    out: list[float] = []
    acc = 0.0
    for step in range(int(start_s / dt), int(end_s / dt)):
        acc += flow_vps * dt
        while acc >= deltan:
            out.append(step * dt)
            acc -= deltan
    return out


def sioux_falls_trips(deltan: int, data_dir: Path = UXSIM_DIR, *, sampled: bool = False):
    """The vehicles UXsim generates from the demand CSV at ``deltan``, as individual cysim trips.

    With ``sampled``, one trip per platoon and ``sample_factor = 1/deltan`` (cysim then scales
    capacities and storage by 1/deltan): cysim's analogue of UXsim's platoons.
    """
    per_platoon = 1 if sampled else deltan
    import pandas as pd

    origin, destination, departure = [], [], []
    for row in _read_csv(data_dir / "siouxfalls_demand.csv"):
        times = uxsim_departures(
            float(row["q"]), float(row["start_t"]), float(row["end_t"]), deltan
        )
        for t in times:
            origin += [int(row["orig"])] * per_platoon
            destination += [int(row["dest"])] * per_platoon
            departure += [t] * per_platoon
    trips = pd.DataFrame(
        {"origin_node": origin, "destination_node": destination, "departure_s": departure}
    )
    trips = trips.sort_values("departure_s", kind="stable").reset_index(drop=True)
    trips.insert(0, "trip_id", np.arange(len(trips), dtype=np.int64))
    trips["origin_zone"] = ""
    trips["destination_zone"] = ""
    trips.attrs["sample_factor"] = per_platoon / deltan
    trips.attrs["source"] = f"UXsim adddemand at deltan={deltan}"
    return trips


def grid_inputs(size: int, n_trips: int, duration_s: float, seed: int):
    """The benchmark grid without signals (UXsim sees the same junctions) and random trips."""
    from grid import grid_network, random_trips

    G = grid_network(size, signal_every=0)
    return G, random_trips(G, n_trips, duration_s, seed)


def osm_inputs(path: str, n_trips: int, duration_s: float, seed: int):
    """A real OSM extract through ``cysim.network.build``, signals off, and random trips."""
    from grid import random_trips

    from cysim.network import build as network

    G = network.load_network(path)
    for n in G.nodes:
        G.nodes[n]["signal"] = False  # UXsim's network here has no signals
    return G, random_trips(G, n_trips, duration_s, seed)


def network_inputs(case: dict[str, Any]):
    """The graph and trips of a grid or OSM case.

    With ``case["sample_every"] = k > 1`` cysim gets every k-th trip with ``sample_factor`` 1/k
    (capacities and storage scaled by 1/k, results scaled back by k): the vehicles UXsim moves
    as platoons of k at ``deltan = k``, so both simulate at the same resolution.
    """
    if case["kind"] == "osm":
        G, trips = osm_inputs(case["path"], case["trips"], case["duration_s"], case["seed"])
    else:
        G, trips = grid_inputs(case["size"], case["trips"], case["duration_s"], case["seed"])
    every = int(case.get("sample_every", 1))
    if every > 1:
        attrs = dict(trips.attrs)
        trips = trips.iloc[::every].reset_index(drop=True)
        trips.attrs.update(attrs, sample_factor=1.0 / every)
    return G, trips


#: Multi-lane grid: lanes of a road by its row/column index, free-flow speed by lanes.
MULTILANE_SPEED_KPH = {2: 40.0, 3: 50.0, 4: 60.0}
#: Multi-lane grid: jam density per lane (veh/m), 7.5 m per vehicle as ``grid_network``.
MULTILANE_KAPPA_PER_LANE = 1.0 / 7.5


def multilane_graph(size: int, *, link_waves: bool = True, lane_groups: bool = True):
    """An unsignalised ``size × size`` grid with 2–4 lanes, in UXsim's fundamental diagram.

    Fixed rule: the road along row ``i`` (column ``j``) has ``2 + i % 3`` (``2 + j % 3``) lanes in
    each direction and a free-flow speed of 40, 50 or 60 km/h for 2, 3 or 4 lanes (an arterial
    hierarchy: free-flow routes prefer the wide roads, which are then the ones to congest). Per
    link with ``n`` lanes, jam density ``κ_l`` per lane and ``κ = n κ_l``: UXsim's ``τ = 1 s / n``,
    ``w = 1/(τ κ)`` and capacity ``u w κ / (u + w)``; cysim gets that capacity as ``capacity_vph``
    and ``n × saturation_flow_vphpl``, ``storage_veh = κ × length`` and, with ``link_waves``,
    ``backward_wave_kph = 3.6 w`` (else cysim's default wave). With ``lane_groups``,
    ``G.graph["lane_groups"] = "none"``: no shared-left-lane split (UXsim's links have no lane
    detail). Without both the graph is what cysim received before those attributes existed.
    """
    from grid import grid_network

    G = grid_network(size, signal_every=0)
    if lane_groups:
        G.graph["lane_groups"] = "none"
    for u, v, d in G.edges(data=True):
        (iu, ju), (iv, _) = divmod(u, size), divmod(v, size)
        lanes = 2 + (iu if iu == iv else ju) % 3  # a horizontal link lies on row iu
        speed = MULTILANE_SPEED_KPH[lanes] / 3.6
        kappa = MULTILANE_KAPPA_PER_LANE * lanes
        cap = uxsim_link_capacity_vph(speed, kappa, lanes)
        d.update(
            lanes=lanes, speed_kph=3.6 * speed, capacity_vph=cap,
            saturation_flow_vphpl=cap / lanes, storage_veh=kappa * d["length_m"],
        )  # fmt: skip
        if link_waves:
            d["backward_wave_kph"] = 3.6 * lanes / (UXSIM_REACTION_TIME_S * kappa)
    return G


def multilane_trips(G, n_vehicles: int, duration_s: float, deltan: int, seed: int):
    """Random west-to-east platoons of ``deltan`` vehicles as individual cysim trips.

    ``n_vehicles / deltan`` platoons from a random node of the western third of the grid to one of
    the eastern third (a commute across the grid: no westbound traffic, so queues cannot close a
    loop and gridlock, as they do on this grid with random OD pairs from about 100k trips/h on),
    departures uniform over whole UXsim time steps ``τ × deltan`` in ``[0, duration_s)``; each
    platoon becomes ``deltan`` consecutive trips at its departure time (rows ``::deltan`` are the
    platoons).
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    nodes = np.array(sorted(G.nodes), dtype=np.int64)
    x = np.array([G.nodes[v]["x"] for v in nodes])
    third = (x.max() - x.min()) / 3.0
    west, east = nodes[x < x.min() + third], nodes[x > x.max() - third]
    n = n_vehicles // deltan
    o, d = rng.choice(west, n), rng.choice(east, n)
    dt = UXSIM_REACTION_TIME_S * deltan
    dep = np.sort(rng.integers(0, int(duration_s / dt), n)) * dt
    trips = pd.DataFrame(
        {
            "trip_id": np.arange(n * deltan, dtype=np.int64),
            "origin_node": np.repeat(o, deltan),
            "destination_node": np.repeat(d, deltan),
            "departure_s": np.repeat(dep, deltan),
            "origin_zone": "",
            "destination_zone": "",
        }
    )
    trips.attrs["sample_factor"] = 1.0
    trips.attrs["source"] = f"random platoons of {deltan}"
    return trips


def multilane_inputs(case: dict[str, Any]):
    """The multi-lane case's graph and trips (see :func:`multilane_graph`)."""
    G = multilane_graph(
        case["size"], link_waves=case.get("link_waves", True),
        lane_groups=case.get("lane_groups", True),
    )  # fmt: skip
    trips = multilane_trips(G, case["trips"], case["duration_s"], case["demand_deltan"],
                            case["seed"])  # fmt: skip
    return G, trips


def freeflow_routes(G, trips) -> list[list[tuple[int, int, int]]]:
    """cysim's free-flow paths of ``trips`` (the routes of one route-choice iteration) as edges."""
    from grid import freeflow_paths

    from cysim.settings import backward_wave_kph
    from cysim.sim import netarrays

    net = netarrays.build(G, 1.0, backward_wave_kph, priority_junctions=False)
    edges = sorted(G.edges(keys=True))
    return [[edges[i] for i in p] for p in freeflow_paths(net, trips)]


# --- one run each (executed in a spawned child) ----------------------------------------------


def run_cysim(case: dict[str, Any]) -> dict[str, Any]:
    """Build the case's inputs, simulate with cysim and return figures and link flows."""
    from cysim.sim import simulate
    from cysim.simsettings import SimSettings

    if case["kind"] == "sioux_falls":
        G = sioux_falls_graph()
        trips = sioux_falls_trips(case["demand_deltan"], sampled=case.get("sampled", False))
    elif case["kind"] == "multilane":
        G, trips = multilane_inputs(case)
    elif case["kind"] == "micro":
        G, trips = micro_inputs(case)
    else:
        G, trips = network_inputs(case)
    settings = SimSettings(
        duration_s=case["duration_s"],
        cooldown_s=case["tmax_s"] - case["duration_s"],
        seed=case["seed"],
        route_choice={
            "iterations": case["iterations"],
            "relative_gap_tolerance": case.get("gap", 0.02),
        },
        priority_junctions=case.get("priority", True),
        # UXsim ends a trip at its destination; cysim's parking search would cruise on
        parking={"enabled": case.get("parking", True)},
    )
    last = [-1.0]

    def progress(stage: str, fraction: float) -> None:
        # a line every 5 %: shows how far a run got if it hits the timeout
        if fraction >= last[0] + 0.05 or fraction >= 1.0:
            last[0] = fraction
            print(f"  cysim {stage}: {100 * fraction:.0f} % "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip

    t0, c0 = time.perf_counter(), time.process_time()
    result = simulate(G, trips, settings, seed=case["seed"], progress=progress)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    t = result.trips
    arrived = t["status"].to_numpy() == "arrived"
    tt = (t["arrival_s"] - t["departure_s"]).to_numpy()[arrived]
    counts = np.bincount(result.traversals["link"].to_numpy(), minlength=len(result.links))
    flows: dict[tuple[int, int], float] = {}
    for u, v, c in zip(result.links["u"], result.links["v"], counts, strict=True):
        flows[int(u), int(v)] = flows.get((int(u), int(v)), 0.0) + int(c)  # parallel links add
    gap = float(result.route_choice["relative_gap"].iloc[-1])
    scale = 1.0 / float(trips.attrs["sample_factor"])  # a sampled trip stands for this many
    flows = {k: c * scale for k, c in flows.items()}
    # entries during the demand period only: with fixed routes and every trip completed, whole-run
    # flows are equal by construction, while these differ where queues hold vehicles back
    entered = result.traversals["link"].to_numpy()[
        result.traversals["entry_s"].to_numpy() < case["duration_s"]
    ]
    counts = np.bincount(entered, minlength=len(result.links))
    flows_demand: dict[tuple[int, int], float] = {}
    for u, v, c in zip(result.links["u"], result.links["v"], counts, strict=True):
        flows_demand[int(u), int(v)] = flows_demand.get((int(u), int(v)), 0.0) + int(c) * scale
    watch_vph = {}
    ends = zip(result.links["u"], result.links["v"], strict=True)
    link_of = {(int(u), int(v)): i for i, (u, v) in enumerate(ends)}
    for u, v, a, b in case.get("watch", []):  # vehicles leaving the link in [a, b), veh/h
        exits = result.traversals["exit_s"].to_numpy()[
            result.traversals["link"].to_numpy() == link_of[u, v]
        ]
        watch_vph[f"{u}-{v}"] = float(((exits >= a) & (exits < b)).sum()) * scale * 3600 / (b - a)
    sampled = f", 1 in {scale:.0f} sampled" if scale > 1 else ""
    return {
        "trips": round(len(t) * scale),
        "completed": round(int(arrived.sum()) * scale),
        "total_tt_h": float(tt.sum()) * scale / 3600.0,
        "mean_tt_s": float(tt.mean()) if len(tt) else math.nan,
        "mean_ff_s": float(t["freeflow_s"].to_numpy()[arrived].mean()) if len(tt) else math.nan,
        "sim_wall_s": wall,
        "sim_cpu_s": cpu,
        "traversals": len(result.traversals),
        "flows": flows,
        "flows_demand": flows_demand,
        "watch_vph": watch_vph,
        "note": f"{len(result.route_choice)} of ≤{case['iterations']} it., gap {gap:.3f}"
        f" ({int(result.route_choice['gap_trips'].iloc[-1]):,} trips){sampled}",
    }


def run_uxsim(case: dict[str, Any], deltan: int) -> dict[str, Any]:
    """Build the same case in UXsim at ``deltan``, simulate and return figures and link flows."""
    import uxsim

    routes = None
    if case["kind"] in ("multilane", "micro"):
        if deltan != case["demand_deltan"]:
            raise ValueError(f"platoons of {case['demand_deltan']}, not {deltan}")
        # cysim's free-flow routes, computed before the clock starts: UXsim is told them
        G, trips = (multilane_inputs if case["kind"] == "multilane" else micro_inputs)(case)
        platoons = trips.iloc[::deltan]
        routes = freeflow_routes(G, platoons)
    t0, c0 = time.perf_counter(), time.process_time()
    W = uxsim.World(
        name="", deltan=deltan, tmax=case["tmax_s"], print_mode=0, save_mode=0, show_mode=0,
        random_seed=case["seed"], vehicle_logging_timestep_interval=-1,
    )  # fmt: skip
    if case["kind"] == "sioux_falls":
        W.load_scenario_from_csv(
            str(UXSIM_DIR / "siouxfalls_nodes.csv"),
            str(UXSIM_DIR / "siouxfalls_links.csv"),
            str(UXSIM_DIR / "siouxfalls_demand.csv"),
            tmax=case["tmax_s"],
        )
    else:
        if routes is None:
            G, trips = network_inputs(case)
        for n, d in G.nodes(data=True):
            W.addNode(str(n), d["x"], d["y"])
        for u, v, k, d in G.edges(keys=True, data=True):
            W.addLink(
                f"{u}-{v}-{k}", str(u), str(v), length=d["length_m"],
                free_flow_speed=d["speed_kph"] / 3.6, number_of_lanes=int(d["lanes"]),
                jam_density_per_lane=d["storage_veh"] / (d["lanes"] * d["length_m"]),
            )  # fmt: skip
        sub = trips.iloc[::deltan]
        for i, (o, dst, t) in enumerate(
            zip(sub["origin_node"], sub["destination_node"], sub["departure_s"], strict=True)
        ):
            veh = W.addVehicle(str(o), str(dst), float(t))
            if routes is not None:
                veh.enforce_route([f"{u}-{v}-{k}" for u, v, k in routes[i]])
    W.exec_simulation()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    W.analyzer.basic_analysis()
    a = W.analyzer
    links = W.analyzer.link_to_pandas()
    flows: dict[tuple[int, int], float] = {}
    for s, e, q in zip(
        links["start_node"], links["end_node"], links["traffic_volume"], strict=True
    ):
        flows[int(s), int(e)] = flows.get((int(s), int(e)), 0.0) + float(q)  # parallel links add
    flows_demand: dict[tuple[int, int], float] = {}
    for link in W.LINKS:  # entries during the demand period
        key = (int(link.start_node.name), int(link.end_node.name))
        flows_demand[key] = flows_demand.get(key, 0.0) + float(
            link.arrival_count(case["duration_s"])
        )
    watch_vph = {}
    for u, v, t0_s, t1_s in case.get("watch", []):  # vehicles leaving the link in [t0, t1), veh/h
        link = W.get_link(f"{u}-{v}-0")
        left = link.departure_count(t1_s) - link.departure_count(t0_s)
        watch_vph[f"{u}-{v}"] = float(left) * 3600 / (t1_s - t0_s)
    return {
        "trips": int(a.trip_all),
        "completed": int(a.trip_completed),
        "total_tt_h": float(a.total_travel_time) / 3600.0,
        "mean_tt_s": float(a.average_travel_time),
        "sim_wall_s": wall,
        "sim_cpu_s": cpu,
        "flows": flows,
        "flows_demand": flows_demand,
        "watch_vph": watch_vph,
        "note": f"deltan={deltan}",
    }


# --- cases -----------------------------------------------------------------------------------

COLUMNS: list[Column] = [
    ("simulator", "simulator", "s"),
    ("demand", "demand", "s"),
    ("trips", "trips", ",d"),
    ("completed", "completed", ",d"),
    ("total_tt_h", "total TT h", ",.0f"),
    ("mean_tt_s", "mean TT s", ".0f"),
    ("sim_wall_s", "wall s", ".1f"),
    ("sim_cpu_s", "cpu s", ".1f"),
    ("peak_mb", "peak MiB", ".0f"),
    ("note", "setting", "s"),
    ("status", "status", "s"),
]
RATIO_COLUMNS: list[Column] = [
    ("pair", "cysim / UXsim", "s"),
    ("total_tt", "total TT", ".3f"),
    ("mean_tt", "mean TT", ".3f"),
    ("wall", "wall", ".3f"),
    ("cpu", "cpu", ".3f"),
    ("peak", "peak memory", ".3f"),
    ("flow_r", "link-flow r", ".3f"),
]


def _ratio(a: dict, b: dict, key: str) -> float:
    if a.get("status") != "ok" or b.get("status") != "ok" or not b.get(key):
        return math.nan
    return a[key] / b[key]


def _ratios(pairs: list[tuple[str, dict, dict]]) -> list[dict[str, Any]]:
    rows = []
    for label, c, u in pairs:
        common = sorted(set(c.get("flows", {})) & set(u.get("flows", {})))
        in_demand = sorted(set(c.get("flows_demand", {})) & set(u.get("flows_demand", {})))
        rows.append(
            {
                "pair": label,
                "total_tt": _ratio(c, u, "total_tt_h"),
                "mean_tt": _ratio(c, u, "mean_tt_s"),
                "wall": _ratio(c, u, "sim_wall_s"),
                "cpu": _ratio(c, u, "sim_cpu_s"),
                "peak": _ratio(c, u, "peak_mb"),
                "flow_r": pearson_r(
                    [c["flows"][k] for k in common], [u["flows"][k] for k in common]
                )
                if common
                else math.nan,
                "flow_r_demand": pearson_r(
                    [c["flows_demand"][k] for k in in_demand],
                    [u["flows_demand"][k] for k in in_demand],
                )
                if in_demand
                else math.nan,
            }
        )
    return rows


def sioux_falls(args: argparse.Namespace) -> bool:
    """Both simulators on Sioux Falls at each deltan; table, ratios, flow correlations, targets."""
    if not UXSIM_DIR.is_dir():
        print(f"skip Sioux Falls: {UXSIM_DIR} is absent")
        return True
    base = {"kind": "sioux_falls", "duration_s": SF_DEMAND_END_S, "tmax_s": SF_TMAX_S,
            "seed": args.seed, "iterations": args.sf_iterations, "gap": args.sf_gap}  # fmt: skip
    rows, pairs = [], []
    by_deltan: dict[int, tuple[dict, dict]] = {}
    for deltan in args.deltan:
        label = f"UXsim Δn={deltan} vehicles"
        print(f"Sioux Falls, demand as UXsim Δn={deltan}: cysim …", flush=True)
        c = run_measured(run_cysim, {**base, "demand_deltan": deltan}, timeout_s=args.timeout)
        print(f"Sioux Falls: UXsim Δn={deltan} …", flush=True)
        u = run_measured(run_uxsim, base, deltan, timeout_s=args.timeout)
        rows += [{"simulator": "cysim", "demand": label, **c},
                 {"simulator": "UXsim", "demand": label, **u}]  # fmt: skip
        pairs.append((f"Δn={deltan}", c, u))
        if deltan > 1 and args.sampled:
            print(f"Sioux Falls: cysim, one trip per Δn={deltan} platoon …", flush=True)
            cs = run_measured(run_cysim, {**base, "demand_deltan": deltan, "sampled": True},
                              timeout_s=args.timeout)  # fmt: skip
            rows.append({"simulator": "cysim (sampled)", "demand": label, **cs})
            pairs.append((f"Δn={deltan}, cysim 1/{deltan} sample", cs, u))
        by_deltan[deltan] = (c, u)
    print_table(rows, COLUMNS, "Sioux Falls (UXsim CSVs), same network and vehicles")
    print_table(_ratios(pairs), RATIO_COLUMNS, "Sioux Falls ratios")
    _flow_correlations(by_deltan)
    ok = True
    if 5 in by_deltan:
        c, u = by_deltan[5]
        done = c.get("status") == "ok" and u.get("status") == "ok"
        ok &= check(
            "Sioux Falls: cysim (individual vehicles) faster than UXsim Δn=5",
            done and c["sim_wall_s"] < u["sim_wall_s"],
            f"cysim {c.get('sim_wall_s', math.nan):.1f} s vs UXsim "
            f"{u.get('sim_wall_s', math.nan):.1f} s wall; cpu {c.get('sim_cpu_s', math.nan):.1f}"
            f" vs {u.get('sim_cpu_s', math.nan):.1f} s",
        )
        ratio = _ratio(c, u, "total_tt_h")
        ok &= check(
            "Sioux Falls: total travel time within ±15 % of UXsim Δn=5",
            done and abs(ratio - 1) <= 0.15,
            f"cysim/UXsim = {ratio:.3f} (same {c.get('trips', 0):,} vehicles)",
        )
    return ok


def _flow_correlations(by_deltan: dict[int, tuple[dict, dict]]) -> None:
    """Pearson r of link flows between cysim, UXsim and TNTP's user-equilibrium solution."""
    sources: dict[str, dict] = {}
    for deltan, (c, u) in by_deltan.items():
        if c.get("status") == "ok":
            sources[f"cysim (Δn={deltan} demand)"] = c["flows"]
        if u.get("status") == "ok":
            sources[f"UXsim Δn={deltan}"] = u["flows"]
    if TNTP_FLOW.exists():
        from cysim.network import tntp

        ue = tntp.read_tntp_flows(TNTP_FLOW)
        sources["TNTP static UE"] = {
            (int(a), int(b)): float(q)
            for a, b, q in zip(ue["init_node"], ue["term_node"], ue["volume"], strict=True)
        }
    names = list(sources)
    rows = []
    for name in names:
        row: dict[str, Any] = {"source": name}
        for other in names:
            common = sorted(set(sources[name]) & set(sources[other]))
            row[other] = pearson_r([sources[name][k] for k in common],
                                   [sources[other][k] for k in common])  # fmt: skip
        rows.append(row)
    columns: list[Column] = [("source", "link flow r", "s")] + [(n, n, ".3f") for n in names]
    print_table(rows, columns, "Sioux Falls link-flow correlation (Pearson r, 76 links)")


def grid(args: argparse.Namespace, n_trips: int, size: int, uxsim: bool) -> bool:
    """Both simulators on the unsignalised grid with random trips."""
    base = {"kind": "grid", "size": size, "trips": n_trips, "duration_s": args.grid_duration,
            "tmax_s": args.grid_duration + 3600.0, "seed": args.seed,
            "iterations": args.grid_iterations}  # fmt: skip
    title = f"Grid {size}×{size} ({size * size:,} junctions), {n_trips:,} random trips"
    sampled: dict[int, dict] = {}
    for every in sorted({d for d in args.deltan if d > 1}) if args.sampled else []:
        # the quick sampled runs first: they report even if the full run hits the timeout
        print(f"{title}: cysim, 1 in {every} sampled …", flush=True)
        case = {**base, "sample_every": every}
        sampled[every] = run_measured(
            run_cysim, case, timeout_s=args.timeout, memory_limit_gb=args.memory_limit
        )
    if args.sampled_only:
        c = {"status": "not run (--sampled-only)"}
    else:
        print(f"{title}: cysim …", flush=True)
        c = run_measured(run_cysim, base, timeout_s=args.timeout, memory_limit_gb=args.memory_limit)
    rows = [{"simulator": "cysim", "demand": "random trips", **c}]
    for every, r in sampled.items():
        rows.append(
            {"simulator": "cysim (sampled)", "demand": f"every {every}th trip ×{every}", **r}
        )
    pairs = []
    for deltan in args.deltan if uxsim else []:
        print(f"{title}: UXsim Δn={deltan} …", flush=True)
        u = run_measured(run_uxsim, base, deltan, timeout_s=args.timeout,
                         memory_limit_gb=args.memory_limit)  # fmt: skip
        rows.append({"simulator": "UXsim", "demand": f"every {deltan}th trip ×{deltan}", **u})
        if not args.sampled_only:
            pairs.append((f"Δn={deltan}", c, u))
        if deltan in sampled:
            pairs.append((f"Δn={deltan}, cysim 1/{deltan} sample", sampled[deltan], u))
    if not uxsim:
        rows.append({"simulator": "UXsim", "status": "not run (see --uxsim-max-trips)"})
    print_table(rows, COLUMNS, title)
    if pairs:
        print_table(_ratios(pairs), RATIO_COLUMNS, f"{title}: ratios")
    if n_trips >= 1_000_000 and size * size >= 10_000:
        ok = True
        runs = [] if args.sampled_only else [("individual vehicles", c)]
        runs += [(f"1 in {k} sampled (UXsim Δn={k} resolution)", r) for k, r in sampled.items()]
        for label, r in runs:
            done = r.get("status") == "ok"
            ok &= check(
                f"1M trips on a 10,000-junction grid in ≤ 120 s, {label}",
                done and r["sim_wall_s"] <= 120.0,
                f"wall {r.get('sim_wall_s', math.nan):.0f} s, "
                f"cpu {r.get('sim_cpu_s', math.nan):.0f} s ({r.get('status')})",
            )
            # the stricter reading of "1.5 GB": 1.5 × 10⁹ bytes (1,431 MiB), not 1.5 GiB
            ok &= check(
                f"1M trips on a 10,000-junction grid in ≤ 1.5 GB (1,431 MiB) peak, {label}",
                done and r["peak_mb"] <= 1.5e9 / 2**20,
                f"peak {r.get('peak_mb', math.nan):.0f} MiB ({r.get('status')})",
            )
        return ok
    return True


def osm(args: argparse.Namespace) -> bool:
    """Both simulators on a real OSM extract (signals off) with random trips."""
    case = {"kind": "osm", "path": args.osm, "trips": args.osm_trips,
            "duration_s": args.grid_duration, "tmax_s": args.grid_duration + 3600.0,
            "seed": args.seed, "iterations": args.osm_iterations,
            "priority": not args.osm_no_priority}  # fmt: skip
    rules = ", no priority rules in cysim" if args.osm_no_priority else ""
    title = f"OSM {Path(args.osm).name}, {args.osm_trips:,} random trips, no signals{rules}"
    print(f"{title}: cysim …", flush=True)
    c = run_measured(run_cysim, case, timeout_s=args.timeout, memory_limit_gb=args.memory_limit)
    rows = [{"simulator": "cysim", "demand": "random trips", **c}]
    pairs = []
    for deltan in args.deltan:
        print(f"{title}: UXsim Δn={deltan} …", flush=True)
        u = run_measured(run_uxsim, case, deltan, timeout_s=args.timeout,
                         memory_limit_gb=args.memory_limit)  # fmt: skip
        rows.append({"simulator": "UXsim", "demand": f"every {deltan}th trip ×{deltan}", **u})
        pairs.append((f"Δn={deltan}", c, u))
    print_table(rows, COLUMNS, title)
    ratios = _ratios(pairs)
    print_table(ratios, RATIO_COLUMNS, f"{title}: ratios")
    ok = True
    for row, (_, cy, ux) in zip(ratios, pairs, strict=True):
        if cy.get("status") != "ok" or ux.get("status") != "ok":
            continue
        ok &= check(
            f"OSM {row['pair']}: total travel time within ±15 % of UXsim",
            abs(row["total_tt"] - 1.0) <= 0.15,
            f"ratio {row['total_tt']:.3f}",
        )
    return ok


#: Multi-lane case: the band on cysim / UXsim total travel time per demand level.
MULTILANE_TT_BAND = {"light": 0.05, "congested": 0.15}
#: Multi-lane case: vehicles departing in the hour, light and congested demand.
MULTILANE_LIGHT, MULTILANE_CONGESTED = 10_000, 30_000


def multilane(args: argparse.Namespace) -> bool:
    """Both simulators on the 2–4-lane grid at a light and a congested demand, same routes."""
    size = args.ml_size
    title = (f"Multi-lane grid {size}×{size} (2–4 lanes), west-to-east platoons in 1 h, "
             f"same free-flow routes in both")  # fmt: skip
    rows, pairs, bands = [], [], []
    for level, n in (("light", args.ml_light), ("congested", args.ml_congested)):
        for deltan in args.deltan:
            case = {"kind": "multilane", "size": size, "trips": n, "demand_deltan": deltan,
                    "duration_s": args.grid_duration, "tmax_s": args.grid_duration + 3600.0,
                    "seed": args.seed, "iterations": 1, "priority": False,
                    "parking": False}  # fmt: skip
            demand = f"{level}, platoons of {deltan}"
            print(f"{title}: {demand}: cysim …", flush=True)
            c = run_measured(run_cysim, case, timeout_s=args.timeout)
            rows.append({"simulator": "cysim", "demand": demand, **c})
            if args.ml_before:
                print(f"{title}: {demand}: cysim without the two attributes …", flush=True)
                old = {**case, "link_waves": False, "lane_groups": False}
                b = run_measured(run_cysim, old, timeout_s=args.timeout)
                rows.append({"simulator": "cysim (default wave, lane groups)", "demand": demand,
                             **b})  # fmt: skip
            print(f"{title}: {demand}: UXsim Δn={deltan} …", flush=True)
            u = run_measured(run_uxsim, case, deltan, timeout_s=args.timeout)
            rows.append({"simulator": "UXsim", "demand": demand, **u})
            pairs.append((f"{level}, Δn={deltan}", c, u))
            bands.append((level, deltan))
            if args.ml_before:
                pairs.append((f"{level}, Δn={deltan}, without the attributes", b, u))
    columns = [*COLUMNS[:6], ("mean_ff_s", "free-flow TT s", ".0f"), *COLUMNS[6:]]
    print_table(rows, columns, title)
    ratios = _ratios(pairs)
    ratio_columns = [*RATIO_COLUMNS, ("flow_r_demand", "r, entries in demand hour", ".3f")]
    print_table(ratios, ratio_columns, f"{title}: ratios")
    ok = True
    main_rows = [r for r in ratios if not r["pair"].endswith("without the attributes")]
    for row, (level, deltan) in zip(main_rows, bands, strict=True):
        band = MULTILANE_TT_BAND[level]
        ok &= check(
            f"multi-lane, {level}, Δn={deltan}: total travel time within ±{100 * band:.0f} % "
            f"of UXsim",
            abs(row["total_tt"] - 1.0) <= band,
            f"ratio {row['total_tt']:.3f}",
        )
        ok &= check(
            f"multi-lane, {level}, Δn={deltan}: link-flow r ≥ 0.9",
            row["flow_r"] >= 0.9,
            f"r = {row['flow_r']:.3f}",
        )
    return ok


#: Small cases isolating one mechanism each (``--cases mlmicro``): nodes ``{id: (x, y)}``, links
#: ``(u, v, lanes, km/h)``, flows ``(route nodes, share of the reference link's capacity)``, the
#: reference link, and the links whose discharge is measured over [600 s or 900 s, 1,800 s).
MICRO_CASES: dict[str, dict[str, Any]] = {
    "3-lane bottleneck": {
        "nodes": {0: (0, 0), 1: (600, 0), 2: (900, 0), 3: (1500, 0)},
        "links": [(0, 1, 4, 50), (1, 2, 3, 50), (2, 3, 4, 50)],
        "flows": [((0, 1, 2, 3), 1.3)], "ref": (1, 2), "watch": [(1, 2)], "from_s": 600.0,
    },
    "merge of two 4-lane links": {
        "nodes": {0: (0, 300), 1: (0, -300), 2: (300, 0), 3: (900, 0)},
        "links": [(0, 2, 4, 50), (1, 2, 4, 50), (2, 3, 4, 50)],
        "flows": [((0, 2, 3), 0.75), ((1, 2, 3), 0.75)], "ref": (2, 3),
        "watch": [(2, 3), (0, 2), (1, 2)], "from_s": 600.0,
    },
    "diverge, one branch blocked": {
        "nodes": {0: (0, 0), 2: (300, 0), 3: (600, 300), 4: (1200, 300), 5: (600, -300),
                  6: (1200, -300)},
        "links": [(0, 2, 4, 50), (2, 3, 4, 50), (3, 4, 1, 50), (2, 5, 4, 50), (5, 6, 4, 50)],
        "flows": [((0, 2, 3, 4), 0.4), ((0, 2, 5, 6), 0.4)], "ref": (0, 2),
        "watch": [(3, 4), (2, 5)], "from_s": 900.0,
    },
    "crossing arterials": {
        "nodes": {0: (0, 0), 1: (300, -300), 2: (300, 0), 3: (900, 0), 4: (300, 300)},
        "links": [(0, 2, 4, 60), (2, 3, 4, 60), (1, 2, 4, 60), (2, 4, 4, 60)],
        "flows": [((0, 2, 3), 0.9), ((1, 2, 4), 0.9)], "ref": (0, 2),
        "watch": [(2, 3), (2, 4)], "from_s": 600.0,
    },
    "junction, turns into a 2-lane bottleneck": {
        "nodes": {0: (0, 0), 1: (300, -300), 2: (300, 0), 3: (600, 0), 4: (300, 300),
                  5: (1200, 0), 6: (300, 900)},
        "links": [(0, 2, 4, 60), (1, 2, 4, 60), (2, 3, 4, 60), (2, 4, 4, 60), (3, 5, 2, 40),
                  (4, 6, 4, 60)],
        "flows": [((0, 2, 3, 5), 0.35), ((0, 2, 4, 6), 0.35), ((1, 2, 3, 5), 0.35),
                  ((1, 2, 4, 6), 0.35)], "ref": (0, 2),
        "watch": [(3, 5), (2, 4), (0, 2), (1, 2)], "from_s": 900.0,
    },
    "merge at capacity, approaches also turning": {
        "nodes": {0: (0, 0), 1: (300, -300), 2: (300, 0), 3: (900, 0), 4: (300, 600)},
        "links": [(0, 2, 4, 60), (1, 2, 4, 60), (2, 3, 4, 60), (2, 4, 4, 60)],
        "flows": [((0, 2, 3), 0.6), ((0, 2, 4), 0.3), ((1, 2, 3), 0.6), ((1, 2, 4), 0.3)],
        "ref": (2, 3), "watch": [(2, 3), (2, 4), (0, 2), (1, 2)], "from_s": 600.0,
    },
    "trips entering a busy link": {
        "nodes": {0: (0, 0), 1: (300, 0), 2: (600, 0), 3: (1200, 0)},
        "links": [(0, 1, 4, 60), (1, 2, 4, 60), (2, 3, 4, 60)],
        "flows": [((0, 1, 2, 3), 0.7), ((1, 2, 3), 0.5)], "ref": (1, 2),
        "watch": [(0, 1), (1, 2)], "from_s": 600.0,
    },
}  # fmt: skip
#: Micro cases: demand period and horizon, s.
MICRO_DEMAND_S, MICRO_TMAX_S = 1800.0, 5400.0


def micro_inputs(case: dict[str, Any]):
    """A micro case's graph (UXsim's fundamental diagram per link) and platoon trips.

    Each flow departs as platoons of ``deltan`` on whole UXsim steps at a steady rate (UXsim's
    ``adddemand`` accumulator, :func:`uxsim_departures`); every OD pair has one path.
    """
    import networkx as nx
    import pandas as pd

    spec = MICRO_CASES[case["name"]]
    G = nx.MultiDiGraph(crs="EPSG:32651", name="micro", simplified=True, lane_groups="none")
    for n, (x, y) in spec["nodes"].items():
        G.add_node(
            n, x=float(x), y=float(y), lon=0.0, lat=0.0, signal=False, junction_id=n,
            street_count=0, signal_cycle_s=0.0, signal_offset_s=0.0, signal_splits="",
            parking_spaces=0, parking_guidance=False,
        )  # fmt: skip
    for u, v, lanes, kph in spec["links"]:
        (xu, yu), (xv, yv) = spec["nodes"][u], spec["nodes"][v]
        kappa = MULTILANE_KAPPA_PER_LANE * lanes
        cap = uxsim_link_capacity_vph(kph / 3.6, kappa, lanes)
        length = math.hypot(xv - xu, yv - yu)
        G.add_edge(
            u, v, length_m=length, lanes=lanes, speed_kph=float(kph), capacity_vph=cap,
            saturation_flow_vphpl=cap / lanes, storage_veh=kappa * length,
            backward_wave_kph=3.6 * lanes / (UXSIM_REACTION_TIME_S * kappa), highway="secondary",
            name="", osmid="", oneway=True, curb_parking=False, pocket_left=0, pocket_right=0,
            pocket_length_m=0.0, defaults_applied="",
        )  # fmt: skip
    ref = G.edges[(*spec["ref"], 0)]["capacity_vph"]
    deltan = case["demand_deltan"]
    rows = []
    for path, share in spec["flows"]:
        times = uxsim_departures(share * ref / 3600.0, 0.0, case["duration_s"], deltan)
        rows += [(t, path[0], path[-1]) for t in times]
    rows.sort()
    trips = pd.DataFrame(
        {
            "trip_id": np.arange(len(rows) * deltan, dtype=np.int64),
            "origin_node": np.repeat([r[1] for r in rows], deltan),
            "destination_node": np.repeat([r[2] for r in rows], deltan),
            "departure_s": np.repeat([r[0] for r in rows], deltan).astype(float),
            "origin_zone": "",
            "destination_zone": "",
        }
    )
    trips.attrs["sample_factor"] = 1.0
    return G, trips


def micro(args: argparse.Namespace) -> bool:
    """Each micro case in both simulators: discharge of the watched links and total travel time."""
    rows = []
    for name, spec in MICRO_CASES.items():
        for deltan in args.deltan:
            case = {"kind": "micro", "name": name, "demand_deltan": deltan,
                    "duration_s": MICRO_DEMAND_S, "tmax_s": MICRO_TMAX_S, "seed": args.seed,
                    "iterations": 1, "priority": False, "parking": False,
                    "watch": [(a, b, spec["from_s"], MICRO_DEMAND_S)
                              for a, b in spec["watch"]]}  # fmt: skip
            print(f"micro: {name}, Δn={deltan} …", flush=True)
            c = run_measured(run_cysim, case, timeout_s=args.timeout)
            u = run_measured(run_uxsim, case, deltan, timeout_s=args.timeout)
            G, _ = micro_inputs(case)
            for u_, v_ in spec["watch"]:
                key = f"{u_}-{v_}"
                rows.append(
                    {
                        "case": name,
                        "deltan": deltan,
                        "link": key,
                        "capacity": G.edges[u_, v_, 0]["capacity_vph"],
                        "cysim": c.get("watch_vph", {}).get(key, math.nan),
                        "uxsim": u.get("watch_vph", {}).get(key, math.nan),
                        "tt_ratio": _ratio(c, u, "total_tt_h"),
                    }
                )
    columns: list[Column] = [
        ("case", "case", "s"),
        ("deltan", "Δn", "d"),
        ("link", "link", "s"),
        ("capacity", "capacity veh/h", ",.0f"),
        ("cysim", "cysim veh/h", ",.0f"),
        ("uxsim", "UXsim veh/h", ",.0f"),
        ("tt_ratio", "total TT cysim/UXsim", ".3f"),
    ]
    print_table(rows, columns, "Micro cases: discharge of a link during the queue, veh/h")
    return True


def main() -> None:
    """Run the chosen cases and print tables and target checks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["sf", "grid100k"],
                        choices=["sf", "grid100k", "grid1m", "osm", "multilane",
                                 "mlmicro"])  # fmt: skip
    parser.add_argument("--deltan", type=int, nargs="+", default=[5, 1], help="UXsim platoon sizes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sf-iterations", type=int, default=5,
                        help="cysim route-choice iterations, Sioux Falls")  # fmt: skip
    parser.add_argument("--sf-gap", type=float, default=0.02,
                        help="cysim relative-gap tolerance, Sioux Falls")  # fmt: skip
    parser.add_argument("--sampled", action="store_true",
                        help="add cysim with one trip per UXsim platoon (Sioux Falls) or "
                        "every Δn-th grid/OSM trip, sample_factor 1/Δn")  # fmt: skip
    parser.add_argument("--sampled-only", action="store_true",
                        help="grid cases: only the sampled cysim runs")  # fmt: skip
    parser.add_argument("--grid-iterations", type=int, default=1,
                        help="cysim route-choice iterations, grids (1 = free flow)")  # fmt: skip
    parser.add_argument("--grid-size-100k", type=int, default=30, help="grid side for 100k trips")
    parser.add_argument("--grid-duration", type=float, default=3600.0, help="departure period, s")
    parser.add_argument("--uxsim-max-trips", type=int, default=200_000,
                        help="run UXsim on grid cases up to this many trips")  # fmt: skip
    parser.add_argument("--osm", default=str(ROOT / "maps" / "chengyang-arterials.osm"),
                        help="OSM extract for --cases osm")  # fmt: skip
    parser.add_argument("--osm-trips", type=int, default=20_000, help="random trips, OSM case")
    parser.add_argument("--osm-iterations", type=int, default=3,
                        help="cysim route-choice iterations, OSM case")  # fmt: skip
    parser.add_argument("--osm-no-priority", action="store_true",
                        help="OSM case: cysim serves every unsignalised approach first come, "
                        "first served (as UXsim's nodes)")  # fmt: skip
    parser.add_argument("--ml-size", type=int, default=10, help="multi-lane grid side")
    parser.add_argument(
        "--ml-light", type=int, default=MULTILANE_LIGHT, help="vehicles, light demand"
    )
    parser.add_argument("--ml-congested", type=int, default=MULTILANE_CONGESTED,
                        help="vehicles, congested demand")  # fmt: skip
    parser.add_argument("--ml-before", action="store_true",
                        help="multi-lane: also cysim without backward_wave_kph and "
                        "lane_groups (its default wave and shared-left-lane groups)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800.0, help="per simulator run, s")
    parser.add_argument("--memory-limit", type=float, default=8.0,
                        help="address-space limit per grid child, GB (0 = none)")  # fmt: skip
    args = parser.parse_args()
    ok = True
    if "sf" in args.cases:
        ok &= sioux_falls(args)
    if "grid100k" in args.cases:
        n = 100_000
        ok &= grid(args, n, args.grid_size_100k, uxsim=n <= args.uxsim_max_trips)
    if "grid1m" in args.cases:
        n = 1_000_000
        ok &= grid(args, n, 100, uxsim=n <= args.uxsim_max_trips)
    if "osm" in args.cases:
        ok &= osm(args)
    if "multilane" in args.cases:
        ok &= multilane(args)
    if "mlmicro" in args.cases:
        ok &= micro(args)
    print("all targets met" if ok else "some targets missed (FAIL lines above)")


if __name__ == "__main__":
    main()
