"""cysim and SUMO's mesoscopic model side by side on the same network, signals, trips and routes.

Run (needs SUMO: the eclipse-sumo wheel or ``sumo``/``netconvert`` on PATH)::

    .venv/bin/python benchmarks/vs_sumo.py                          # all cases, both demands
    .venv/bin/python benchmarks/vs_sumo.py --cases tempe --demand light
    .venv/bin/python benchmarks/vs_sumo.py --cases isolate           # one mechanism per small case

Inputs. Each case's network goes through :func:`cysim.pipeline.sumo_export.export_sumo`: the same
links
(length, lanes, speed), lane groups and movements (SUMO connections per lane group), the same
fixed-time signal phases, greens, cycles and offsets, and the same priority rule at unsignalised
junctions (class rank; equal ranks do not yield). Demand: uniform random OD trips between
junctions (``benchmarks/grid.random_trips``, seeded) departing uniformly over the demand period,
at a *light* and a *congested* level per case. Routes are identical: cysim runs one route-choice
iteration (its free-flow routes) and SUMO gets exactly those routes, so neither re-routes.
Parking search is off in cysim (SUMO trips end at their destination too).

Cases: Sioux Falls (UXsim's CSVs, converted as ``benchmarks/vs_uxsim.py`` does: one lane per
link, UXsim's capacities, no signals, every road ``primary``); ``../shared/data/osm/tempe-asu.osm``
(a real OSM extract, loaded by ``cysim.network.build`` with its signals); the bundled
``maps/chengyang-arterials.osm`` with its signals.

SUMO runs ``sumo`` with :data:`cysim.pipeline.sumo_export.MESO_OPTIONS` (``--mesosim``,
``--meso-junction-control``, ``--meso-taujf 1.5``, no teleporting; reasons in that module) and
SUMO's other meso defaults (``--meso-edgelength`` 98 m, multi-queue, no TLS penalty: junction
control already stops vehicles at red).

Each simulator runs in its own spawned child process, one after the other
(``_common.run_measured``): cysim's wall time is its ``simulate`` call; SUMO's is the ``sumo``
process (network loading included), and its peak memory that process's ``ru_maxrss``.

Figures: trips, completed, total travel time (every trip's time in the network from its planned
departure to its arrival or, unfinished, to the end of the run; so waiting to enter counts on both
sides), the total and mean travel time of completed trips, mean delay at signalised junctions (time
spent on links ending at a signal per entering vehicle, minus the link's free-flow time), the
link-flow correlation (Pearson r of vehicles entering each link), wall time and peak memory, and
cysim / SUMO ratios. Bands (PASS/FAIL): total travel time within ±5 % (light) or ±15 %
(congested), link-flow r ≥ 0.9.

``--cases isolate`` runs the small cases behind docs/validation.md's explanations: a saturated
signal approach of one, two and three lanes (vehicles per cycle, SUMO meso and micro), a light
signal approach (delay against Webster's uniform delay) and an unsignalised minor approach.
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Column, check, pearson_r, print_table, run_measured

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

#: Per case: the network and the trips of each demand level (over ``duration_s``).
CASES: dict[str, dict[str, Any]] = {
    "sf": {"title": "Sioux Falls (UXsim CSVs, no signals)", "kind": "sioux_falls",
           "light": 3_000, "congested": 15_000},
    "tempe": {"title": "Tempe ASU (real OSM, signals)", "kind": "osm",
              "path": str(SHARED / "osm" / "tempe-asu.osm"), "light": 1_000, "congested": 1_800},
    "chengyang": {"title": "Chengyang arterials (bundled map, signals)", "kind": "osm",
                  "path": str(ROOT / "maps" / "chengyang-arterials.osm"),
                  "light": 10_000, "congested": 20_000},
}  # fmt: skip
BANDS = {"light": 0.05, "congested": 0.15}
FLOW_R_MIN = 0.9


def case_inputs(case: dict[str, Any]):
    """The case's cysim network and random trips."""
    from grid import random_trips

    if case["kind"] == "sioux_falls":
        from vs_uxsim import sioux_falls_graph

        G = sioux_falls_graph()
    else:
        from cysim.network import build as network

        G = network.load_network(case["path"])
    return G, random_trips(G, case["trips"], case["duration_s"], case["seed"])


def _link_keys(links) -> list[tuple[int, int, int]]:
    return [
        (int(u), int(v), int(k))
        for u, v, k in zip(links["u"], links["v"], links["key"], strict=True)
    ]


# --- one run each (executed in a spawned child) ----------------------------------------------


def run_cysim(case: dict[str, Any]) -> dict[str, Any]:
    """Simulate the case with cysim (one route-choice iteration, no parking search)."""
    from cysim.sim import simulate
    from cysim.simsettings import SimSettings

    G, trips = case_inputs(case)
    settings = SimSettings(
        duration_s=case["duration_s"],
        cooldown_s=case["tmax_s"] - case["duration_s"],
        seed=case["seed"],
        route_choice={"iterations": 1},
        parking={"enabled": False},
    )
    t0, c0 = time.perf_counter(), time.process_time()
    result = simulate(G, trips, settings, seed=case["seed"])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    t = result.trips
    arrived = t["status"].to_numpy() == "arrived"
    tt = (t["arrival_s"] - t["departure_s"]).to_numpy()[arrived]
    # every trip's time in the system: unfinished trips count until the end of the run
    in_system = np.fmin(t["arrival_s"].fillna(case["tmax_s"]).to_numpy(float), case["tmax_s"])
    system_h = float((in_system - t["departure_s"].to_numpy(float)).sum()) / 3600.0
    keys = _link_keys(result.links)
    tr = result.traversals
    link = tr["link"].to_numpy()
    counts = np.bincount(link, minlength=len(keys))
    end = float(result.extra.get("end_s", case["tmax_s"]))
    spent = np.fmin(tr["exit_s"].to_numpy(float), end) - tr["entry_s"].to_numpy(float)
    spent = np.where(np.isnan(spent), end - tr["entry_s"].to_numpy(float), spent)
    ff = result.links["freeflow_s"].to_numpy(float)
    signal_nodes = {n for n, d in G.nodes(data=True) if d.get("signal")}
    at_signal = np.array([v in signal_nodes for _, v, _ in keys], dtype=bool)
    on = at_signal[link]
    delay = float((spent[on] - ff[link[on]]).sum() / on.sum()) if on.any() else math.nan
    return {
        "trips": len(t),
        "completed": int(arrived.sum()),
        "total_tt_h": float(tt.sum()) / 3600.0,
        "system_h": system_h,
        "mean_tt_s": float(tt.mean()) if len(tt) else math.nan,
        "signal_delay_s": delay,
        "sim_wall_s": wall,
        "sim_cpu_s": cpu,
        "flows": {f"{u}_{v}_{k}": float(c) for (u, v, k), c in zip(keys, counts, strict=True)},
        "note": f"stuck {int(result.extra.get('counts', {}).get('stuck', 0))}",
    }


def run_sumo(
    case: dict[str, Any], files: dict[str, str], links: dict[str, Any], micro: bool = False
) -> dict[str, Any]:
    """Run ``sumo --mesosim`` (or, ``micro``, SUMO's microscopic model) on the exported files
    and read its trip and edge outputs.

    ``links``: cysim link key → (SUMO edge ids, free-flow s, ends at a signal).
    """
    from cysim.pipeline import sumo_export

    out = Path(files["dir"])
    info, edges, stats = out / "tripinfo.xml", out / "edgedata.xml", out / "stats.xml"
    command = [
        sumo_export.find_sumo(),
        *(("--time-to-teleport", "-1") if micro else sumo_export.MESO_OPTIONS),
        "-n", files["net"], "-r", files["routes"], "--end", f"{case['tmax_s']:g}",
        "--tripinfo-output", str(info), "--edgedata-output", str(edges),
        "--statistic-output", str(stats), "--no-step-log", "true", "--no-warnings", "true",
        "--seed", str(case["seed"]),
    ]  # fmt: skip
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"sumo failed: {done.stderr.strip()[-500:]}")
    planned = {
        v.get("id"): float(v.get("depart"))
        for v in ET.parse(files["routes"]).getroot().iter("vehicle")
    }
    arrival = {
        v.get("id"): float(v.get("arrival")) for v in ET.parse(info).getroot().iter("tripinfo")
    }
    # from the planned departure, as cysim: the insertion delay counts
    tt_arr = np.array([a - planned[k] for k, a in arrival.items()])
    system_h = sum(arrival.get(k, case["tmax_s"]) - d for k, d in planned.items()) / 3600.0
    data: dict[str, dict[str, float]] = {}
    for e in ET.parse(edges).getroot().iter("edge"):
        data[e.get("id")] = {
            # vehicles starting their trip on the edge are "departed", not "entered"
            "entered": float(e.get("entered", 0.0)) + float(e.get("departed", 0.0)),
            "sampled": float(e.get("sampledSeconds", 0.0)),
        }
    flows, spent, entered_at_signal, ff_at_signal = {}, 0.0, 0.0, 0.0
    for key, (parts, ff, signal) in links.items():
        first = data.get(parts[0], {"entered": 0.0, "sampled": 0.0})
        flows[key] = first["entered"]
        if signal and first["entered"] > 0:
            spent += sum(data.get(p, {"sampled": 0.0})["sampled"] for p in parts)
            entered_at_signal += first["entered"]
            ff_at_signal += first["entered"] * ff
    root = ET.parse(stats).getroot()
    veh = root.find("vehicles")
    teleports = root.find("teleports")
    return {
        "trips": int(veh.get("loaded")) if veh is not None else math.nan,
        "completed": len(tt_arr),
        "total_tt_h": float(tt_arr.sum()) / 3600.0,
        "system_h": system_h,
        "mean_tt_s": float(tt_arr.mean()) if len(tt_arr) else math.nan,
        "signal_delay_s": (spent - ff_at_signal) / entered_at_signal
        if entered_at_signal
        else math.nan,
        "sim_wall_s": wall,
        "sim_cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,  # the sumo process, not this Python child
        "flows": flows,
        "note": f"teleports {teleports.get('total') if teleports is not None else '?'}, "
        f"running {veh.get('running') if veh is not None else '?'}, "
        f"waiting {veh.get('waiting') if veh is not None else '?'}",
    }


# --- table -----------------------------------------------------------------------------------

COLUMNS: list[Column] = [
    ("case", "case", "s"),
    ("demand", "demand", "s"),
    ("simulator", "simulator", "s"),
    ("trips", "trips", ",d"),
    ("completed", "completed", ",d"),
    ("system_h", "total TT h", ",.1f"),
    ("total_tt_h", "TT completed h", ",.1f"),
    ("mean_tt_s", "mean TT s", ".0f"),
    ("signal_delay_s", "signal delay s/veh", ".1f"),
    ("sim_wall_s", "wall s", ".2f"),
    ("peak_mb", "peak MiB", ".0f"),
    ("note", "note", "s"),
    ("status", "status", "s"),
]
RATIO_COLUMNS: list[Column] = [
    ("case", "case", "s"),
    ("demand", "demand", "s"),
    ("completed", "completed", ".3f"),
    ("total_tt", "total TT", ".3f"),
    ("completed_tt", "TT completed", ".3f"),
    ("mean_tt", "mean TT", ".3f"),
    ("delay", "signal delay", ".3f"),
    ("flow_r", "link-flow r", ".3f"),
    ("wall", "wall", ".3f"),
    ("peak", "peak memory", ".3f"),
    ("band", "TT band", "s"),
    ("total_tt_micro", "total TT / SUMO micro", ".3f"),
]


def _ratio(a: dict, b: dict, key: str) -> float:
    if a.get("status") != "ok" or b.get("status") != "ok" or not b.get(key):
        return math.nan
    return a[key] / b[key]


def _prepare_sumo(case: dict[str, Any], folder: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """Export the case for SUMO (not timed): files, and per link its SUMO edges and free flow."""
    from cysim.pipeline import sumo_export

    G, trips = case_inputs(case)
    out = sumo_export.export_sumo(G, trips, folder, name="case")
    if not out.built:
        raise SystemExit("netconvert not found: install eclipse-sumo (pip) or set SUMO_HOME")
    signal = {n for n, d in G.nodes(data=True) if d.get("signal")}
    links = {
        f"{u}_{v}_{k}": (parts, float(G.edges[u, v, k]["length_m"])
                         / (float(G.edges[u, v, k]["speed_kph"]) / 3.6), v in signal)
        for (u, v, k), parts in out.edge_ids.items()
    }  # fmt: skip
    files = {"dir": str(folder), "net": str(out.files["net"]), "routes": str(out.files["routes"])}
    return files, links


# --- small isolating cases (--cases isolate) ---------------------------------------------------


def _small_graph(lanes: int, *, signal: bool = True, greens: str = "", arm_m: float = 600.0):
    """Approach 4 → 0 → 2 (``lanes`` lanes, 36 km/h, ``arm_m`` long) crossed by a one-lane road
    1 → 0 → 3; node 0 signalised (displayed greens ``greens``, JSON) or not."""
    sys.path.insert(0, str(ROOT / "tests"))
    import simnets

    G = simnets.new_graph()
    simnets.add_node(G, 0, 0, 0, signal=signal, **({"signal_greens_s": greens} if greens else {}))
    for n, (x, y) in {1: (0, 300), 2: (600, 0), 3: (0, -300), 4: (-arm_m, 0)}.items():
        simnets.add_node(G, n, x, y)
    simnets.add_link(G, 4, 0, lanes=lanes)
    simnets.add_link(G, 0, 2, lanes=lanes)
    simnets.add_link(G, 1, 0)
    simnets.add_link(G, 0, 3)
    return G


def _both(G, rows, folder: Path, approach: tuple[int, int], *, micro: bool = False):
    """cysim and SUMO (meso, or micro) on a small case: per simulator the approach's delay per
    vehicle and the times vehicles enter the exit link 0 → 2 (SUMO: arrival − 60 s)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import simnets

    from cysim.pipeline import sumo_export
    from cysim.sim import simulate

    trips = simnets.trips_frame(rows)
    end = 3600.0
    res = simulate(G, trips, simnets.settings_for(end, 1800.0), seed=1)
    links, t = res.links, res.traversals
    a = int(links.query(f"u == {approach[0]} and v == {approach[1]}").index[0])
    on = t["link"] == a
    c_delay = float((t.loc[on, "exit_s"] - t.loc[on, "entry_s"]).mean() - links["freeflow_s"][a])
    exit_link = links.query("u == 0 and v == 2").index
    c_exit = t.loc[t["link"].isin(exit_link), "entry_s"].to_numpy(float)
    out = sumo_export.export_sumo(G, trips, folder, name="s")
    model = ["--time-to-teleport", "-1"] if micro else list(sumo_export.MESO_OPTIONS)
    subprocess.run(
        [sumo_export.find_sumo(), *model, "-n", str(out.files["net"]), "-r",
         str(out.files["routes"]), "--end", f"{end + 1800:g}", "--no-step-log", "true",
         "--no-warnings", "true", "--tripinfo-output", str(folder / "ti.xml"),
         "--edgedata-output", str(folder / "ed.xml")],
        check=True, capture_output=True,
    )  # fmt: skip
    data = {e.get("id"): e.attrib for e in ET.parse(folder / "ed.xml").getroot().iter("edge")}
    parts = out.edge_ids[(approach[0], approach[1], 0)]
    n = float(data[parts[0]].get("entered", 0)) + float(data[parts[0]].get("departed", 0))
    spent = sum(float(data[p].get("sampledSeconds", 0)) for p in parts)
    s_delay = spent / n - float(links["freeflow_s"][a])
    infos = ET.parse(folder / "ti.xml").getroot().iter("tripinfo")
    arrivals = np.array([float(v.get("arrival")) - 60.0 for v in infos])
    return c_delay, c_exit, s_delay, arrivals


def isolate(folder: Path) -> None:
    """The small cases behind docs/validation.md's explanations of the failing bands."""
    from cysim.sim import netarrays

    rows = []
    # 1. saturated approach, 1/2/3 lanes, 74 s cycle: vehicles per cycle over 20 cycles
    for lanes in (1, 2, 3):
        G = _small_graph(lanes, greens="[16, 50]", arm_m=1500.0)
        cycle, windows = netarrays.build(G, 1.0, 18.0).plans[0]
        green = windows[0][1] if lanes > 1 else max(w[1] for w in windows)
        demand = [(4, 2, i * 3600.0 / 1700) for i in range(1700)]
        t0, t1 = 1200.0, 1200.0 + 20 * cycle
        per = {}
        for micro in (False, True):
            _, c_exit, _, s_arr = _both(G, demand, folder / f"sat{lanes}{micro}", (4, 0),
                                        micro=micro)  # fmt: skip
            per["cysim"] = float(((c_exit >= t0) & (c_exit < t1)).sum()) / 20
            per["micro" if micro else "meso"] = float(((s_arr >= t0) & (s_arr < t1)).sum()) / 20
        rows.append({"case": f"saturated signal approach, {lanes} lane(s), {green:.0f} s green "
                     f"of {cycle:.0f} s", "measure": "vehicles per cycle", "cysim": per["cysim"],
                     "SUMO meso": per["meso"], "SUMO micro": per["micro"]})  # fmt: skip
    # 2. light signal approach: delay per vehicle against Webster's uniform delay
    for lanes, q in ((1, 300), (2, 600)):
        G = _small_graph(lanes)
        cycle, windows = netarrays.build(G, 1.0, 18.0).plans[0]
        lam = windows[0][1] / cycle
        x = q / (1800.0 * lanes * lam)
        webster = cycle * (1 - lam) ** 2 / (2 * (1 - lam * x))
        c, _, s, _ = _both(
            G, [(4, 2, i * 3600.0 / q) for i in range(q)], folder / f"l{lanes}", (4, 0)
        )
        rows.append({"case": f"signal approach, {lanes} lane(s), {q} veh/h (Webster uniform "
                     f"{webster:.1f} s)", "measure": "delay s/veh", "cysim": c,
                     "SUMO meso": s})  # fmt: skip
    # 3. unsignalised T: a residential approach onto a primary road with 900 + 900 veh/h
    sys.path.insert(0, str(ROOT / "tests"))
    import simnets

    G = simnets.new_graph()
    simnets.add_node(G, 0, 0, 0)
    for n, (x, y) in {2: (600, 0), 3: (0, -300), 4: (-600, 0)}.items():
        simnets.add_node(G, n, x, y)
    for u, v in ((4, 0), (0, 2), (2, 0), (0, 4)):
        simnets.add_link(G, u, v)
    simnets.add_link(G, 3, 0, highway="residential")
    simnets.add_link(G, 0, 3, highway="residential")
    major = [(4, 2, i * 4.0) for i in range(900)] + [(2, 4, i * 4.0 + 1) for i in range(900)]
    minor = [(3, 2, i * 36.0) for i in range(100)] + [(3, 4, i * 36.0 + 18) for i in range(100)]
    demand = major + minor
    c, _, s, _ = _both(G, demand, folder / "minor", (3, 0))
    case = "unsignalised minor approach, 100 right + 100 left veh/h against 900 + 900 veh/h"
    rows.append({"case": case, "measure": "delay s/veh", "cysim": c, "SUMO meso": s})
    columns: list[Column] = [
        ("case", "case", "s"),
        ("measure", "measure", "s"),
        ("cysim", "cysim", ".2f"),
        ("SUMO meso", "SUMO meso", ".2f"),
        ("SUMO micro", "SUMO micro", ".2f"),
    ]
    title = "Small cases: one mechanism each (36 km/h links, 1,800 veh/h/lane in cysim)"
    print_table(rows, columns, title)


def main() -> None:
    """Run the chosen cases and demands; print the table, ratios and band checks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES),
                        choices=[*CASES, "isolate"])  # fmt: skip
    parser.add_argument("--demand", nargs="+", default=["light", "congested"],
                        choices=["light", "congested"])  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=1800.0, help="departure period, s")
    parser.add_argument("--cooldown", type=float, default=3600.0, help="run on after it, s")
    parser.add_argument("--timeout", type=float, default=900.0, help="per simulator run, s")
    parser.add_argument("--micro", action="store_true",
                        help="also run SUMO's microscopic model on the same files (a second "
                        "SUMO reading; slower on the large cases)")  # fmt: skip
    args = parser.parse_args()
    rows, ratios = [], []
    ok = True
    with tempfile.TemporaryDirectory(prefix="vs_sumo_") as tmp:
        if "isolate" in args.cases:
            isolate(Path(tmp))
        for name in args.cases:
            if name == "isolate":
                continue
            spec = CASES[name]
            if spec["kind"] == "osm" and not Path(spec["path"]).exists():
                print(f"skip {name}: {spec['path']} is absent")
                continue
            for level in args.demand:
                case = {**spec, "trips": spec[level], "duration_s": args.duration,
                        "tmax_s": args.duration + args.cooldown, "seed": args.seed}  # fmt: skip
                label = f"{level} ({spec[level]:,} random OD trips / {args.duration:.0f} s)"
                print(f"{spec['title']}, {label}: cysim …", flush=True)
                c = run_measured(run_cysim, case, timeout_s=args.timeout)
                print(f"{spec['title']}, {label}: export + netconvert …", flush=True)
                files, links = _prepare_sumo(case, Path(tmp) / f"{name}-{level}")
                print(f"{spec['title']}, {label}: sumo --mesosim …", flush=True)
                s = run_measured(run_sumo, case, files, links, timeout_s=args.timeout)
                common = {"case": name, "demand": level}
                rows += [{**common, "simulator": "cysim", **c},
                         {**common, "simulator": "SUMO meso", **s}]  # fmt: skip
                m: dict[str, Any] = {}
                if args.micro:
                    print(f"{spec['title']}, {label}: sumo (micro) …", flush=True)
                    m = run_measured(run_sumo, case, files, links, True, timeout_s=args.timeout)
                    rows.append({**common, "simulator": "SUMO micro", **m})
                keys = sorted(set(c.get("flows", {})) & set(s.get("flows", {})))
                r = pearson_r([c["flows"][k] for k in keys], [s["flows"][k] for k in keys])
                total = _ratio(c, s, "system_h")
                band = BANDS[level]
                ratios.append({
                    **common,
                    "completed": _ratio(c, s, "completed"),
                    "total_tt": total,
                    "completed_tt": _ratio(c, s, "total_tt_h"),
                    "mean_tt": _ratio(c, s, "mean_tt_s"),
                    "delay": _ratio(c, s, "signal_delay_s"),
                    "flow_r": r,
                    "wall": _ratio(c, s, "sim_wall_s"),
                    "peak": _ratio(c, s, "peak_mb"),
                    "band": f"±{band:.0%}",
                    "total_tt_micro": _ratio(c, m, "system_h") if m else math.nan,
                })  # fmt: skip
    if not rows:
        return
    print_table(rows, COLUMNS, "cysim and SUMO meso: same network, signals, trips and routes")
    print_table(ratios, RATIO_COLUMNS, "cysim / SUMO meso")
    for row in ratios:
        band = BANDS[row["demand"]]
        ok &= check(
            f"{row['case']} {row['demand']}: total travel time within ±{band:.0%} of SUMO meso",
            abs(row["total_tt"] - 1.0) <= band,
            f"ratio {row['total_tt']:.3f}",
        )
        ok &= check(
            f"{row['case']} {row['demand']}: link-flow r ≥ {FLOW_R_MIN}",
            row["flow_r"] >= FLOW_R_MIN,
            f"r = {row['flow_r']:.3f}",
        )
    print("all bands met" if ok else "some bands missed (FAIL lines above)")


if __name__ == "__main__":
    main()
