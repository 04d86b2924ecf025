"""Probe: would a compiled engine core meet the 1M-trip time target? Measured, not estimated.

Run::

    .venv/bin/pip install -e .   # numba comes with cysim (its route search); the engine stays SimPy
    .venv/bin/python benchmarks/compiled_core_probe.py                        # 40 × 40, 40k trips
    .venv/bin/python benchmarks/compiled_core_probe.py --size 100 --trips 1000000 --every 5

Issue 8's time target (1M trips on a 10,000-junction grid in ≤ 120 s) fails by about 2× with the
pure-Python engine (docs/performance.md, "Third round"). The remedy proposed there is the event
loop and the lane-group servers in compiled code over typed arrays. That departs from DESIGN §4
("SimPy runs the model"), so it is not done in ``cysim`` itself. This script measures what it
would buy, so that the decision can be taken on figures:

- ``run_core`` is a numba port of ``cysim.sim.engine.run`` restricted to the features the grid
  benchmark uses: unsignalised junctions of equal priority, no turn pockets, no parking. It keeps
  SimPy's event order, ``(time, priority, event id)``, including the ids that the departure and
  monitor processes take, and the engine's float arithmetic, so its records must equal the
  engine's **exactly**. The script runs both on the same network arrays and free-flow paths and
  compares every traversal, arrival and link sample.
- Not ported: signals, permitted left turns, sneakers, pockets, minor-road gap acceptance,
  parking, the local-deadlock report (it reports and does not change the run). A network with
  any of these is refused.

It is a measurement, not a second engine: nothing in ``cysim`` imports it.
"""

from __future__ import annotations

import argparse
import heapq
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grid import freeflow_paths, grid_network, random_trips
from numba import njit

from cysim.sim import engine, netarrays

EPS = engine.EPS
#: SimPy's event order key: priority × 2⁵² + event id (URGENT = 0, NORMAL = 1).
NORMAL_KEY = 1 << 52
#: Event payloads other than a server id.
DEP, MON, STOP = -1, -2, -3


def flatten(net: netarrays.NetArrays, paths: list, departure_s: list[float]) -> dict:
    """The network, paths and departures as the typed arrays ``run_core`` reads.

    Raises SystemExit when the network uses a feature the probe does not port.
    """
    if any(p >= 0 for p in net.group_phase):
        raise SystemExit("the probe ports unsignalised networks only (use --signals 0)")
    if any(net.group_minor) or any(net.group_pockets):
        raise SystemExit("the probe ports equal-priority junctions without pockets only")
    n_links, n_groups = net.n_links, len(net.group_link)
    mv_off = np.zeros(n_links + 1, dtype=np.int64)
    mv_next, mv_group = [], []
    exit_group = np.empty(n_links, dtype=np.int64)
    for link, groups in enumerate(net.group_of):
        exit_group[link] = groups[-1]
        for nxt, g in groups.items():
            if nxt >= 0:
                mv_next.append(nxt)
                mv_group.append(g)
        mv_off[link + 1] = len(mv_next)
    is_exit = np.zeros(n_groups, dtype=np.bool_)
    is_exit[exit_group] = True
    # a merge queue or a link's space waiters hold servers that feed the link: lane groups at
    # its upstream node, and its own source
    groups_at_node = np.bincount(np.asarray(net.group_node), minlength=len(net.nodes))
    wait_size = groups_at_node[np.asarray(net.link_u)] + 1
    lengths = np.array([-1 if p is None else len(p) for p in paths], dtype=np.int64)
    path_off = np.zeros(len(paths) + 1, dtype=np.int64)
    path_off[1:] = np.cumsum(np.maximum(lengths, 0))
    path_links = np.fromiter(
        (link for p in paths if p for link in p), dtype=np.int64, count=int(path_off[-1])
    )
    dep = np.asarray(departure_s, dtype=np.float64)
    return {
        "ff": np.asarray(net.freeflow_s, dtype=np.float64),
        "cap": np.asarray(net.storage_cap, dtype=np.int64),
        "inflow_h": np.asarray(net.inflow_headway_s, dtype=np.float64),
        "wave": np.asarray(net.wave_delay_s, dtype=np.float64),
        "mv_off": mv_off,
        "mv_next": np.asarray(mv_next, dtype=np.int64),
        "mv_group": np.asarray(mv_group, dtype=np.int64),
        "exit_group": exit_group,
        "is_exit": is_exit,
        "group_link": np.asarray(net.group_link, dtype=np.int64),
        "group_headway": np.asarray(net.group_headway_s, dtype=np.float64),
        "group_lanes": np.asarray(net.group_lanes, dtype=np.int64),
        "group_alt": np.asarray(net.group_alt, dtype=np.int64),
        "wait_size": wait_size.astype(np.int64),
        "path_off": path_off,
        "path_links": path_links,
        "routed": lengths >= 0,
        "dep": dep,
        # the engine's departure order: (departure time, vehicle index)
        "order": np.lexsort((np.arange(len(dep)), dep)).astype(np.int64),
    }


@njit(cache=True)
def run_core(  # noqa: C901 - numba port of engine.run: one kernel, helpers cost speed
    ff, cap, inflow_h, wave, mv_off, mv_next, mv_group, exit_group, is_exit, group_link,
    group_headway, group_lanes, group_alt, wait_size, path_off, path_links, routed, dep, order,
    end_s, sample_interval_s, gridlock_timeout_s,
):  # fmt: skip
    """``engine.run`` for the ported features; returns the same record arrays (see module)."""
    n_links = ff.shape[0]
    n_groups = group_link.shape[0]
    n_veh = routed.shape[0]
    # --- state (one array per quantity; rings and linked lists instead of Python lists) ---
    used = np.zeros(n_links, np.int64)
    pend_off = np.zeros(n_links + 1, np.int64)
    pend_off[1:] = np.cumsum(cap)
    pend_buf = np.empty(pend_off[-1], np.float64)
    pend_head = np.zeros(n_links, np.int64)
    pend_len = np.zeros(n_links, np.int64)
    next_in = np.zeros(n_links, np.float64)
    last_exit = np.zeros(n_links, np.float64)
    wait_off = np.zeros(n_links + 1, np.int64)
    wait_off[1:] = np.cumsum(wait_size)
    sw_buf = np.empty(wait_off[-1], np.int64)
    sw_len = np.zeros(n_links, np.int64)
    mq_buf = np.empty(wait_off[-1], np.int64)
    mq_head = np.zeros(n_links, np.int64)
    mq_len = np.zeros(n_links, np.int64)
    registered = np.full(n_groups + n_links, -1, np.int64)
    q_head = np.full(n_groups, -1, np.int64)
    q_tail = np.full(n_groups, -1, np.int64)
    q_len = np.zeros(n_groups, np.int64)
    armed = np.zeros(n_groups, np.bool_)
    next_free = np.zeros(n_groups, np.float64)
    src_head = np.full(n_links, -1, np.int64)
    src_tail = np.full(n_links, -1, np.int64)
    src_armed = np.zeros(n_links, np.bool_)
    veh_next = np.full(n_veh, -1, np.int64)  # next vehicle in the same group or source queue
    pos = np.zeros(n_veh, np.int64)
    entry = np.zeros(n_veh, np.float64)
    cur_rec = np.full(n_veh, -1, np.int64)
    arrival = np.full(n_veh, np.nan)
    departed = np.zeros(n_veh, np.bool_)
    first_entered = np.zeros(n_veh, np.bool_)
    n_rec_max = path_off[-1]
    rec_trip = np.empty(n_rec_max, np.int64)
    rec_link = np.empty(n_rec_max, np.int32)
    rec_entry = np.empty(n_rec_max, np.float64)
    rec_exit = np.full(n_rec_max, np.nan)
    n_samples_max = int(end_s // sample_interval_s) + 3
    sample_t = np.empty(n_samples_max, np.float64)
    queue_veh = np.zeros((n_samples_max, n_links), np.int32)
    occupancy = np.zeros((n_samples_max, n_links), np.int32)
    blocked = np.zeros((n_samples_max, n_links), np.bool_)
    # scalars the inner functions change: [now, last movement]; [event id, records, samples,
    # in network, waiting to enter, arrived, departed, next departure]
    fs = np.zeros(2, np.float64)
    cnt = np.zeros(8, np.int64)
    heap = [(0.0, 0, DEP), (0.0, 1, MON)]  # the two processes' Initialize events (URGENT)
    cnt[0] = 2

    def wake(server, delay):
        heapq.heappush(heap, (fs[0] + delay, NORMAL_KEY + cnt[0], server))
        cnt[0] += 1

    def drop_freed(link, now):
        while pend_len[link] > 0 and pend_buf[pend_off[link] + pend_head[link]] <= now + EPS:
            pend_head[link] = (pend_head[link] + 1) % cap[link]
            pend_len[link] -= 1
            used[link] -= 1

    def free_space(link, now):
        if used[link] < cap[link]:
            return True
        drop_freed(link, now)
        return used[link] < cap[link]

    def mq_append(link, server):
        if mq_len[link] == wait_size[link]:
            raise RuntimeError("merge queue overflow")
        mq_buf[wait_off[link] + (mq_head[link] + mq_len[link]) % wait_size[link]] = server
        mq_len[link] += 1
        registered[server] = link

    def mq_first(link):
        return mq_buf[wait_off[link] + mq_head[link]]

    def gate(link, now, server):
        if mq_len[link] > 0 and mq_first(link) != server:
            if registered[server] < 0:
                mq_append(link, server)
            return False
        if used[link] >= cap[link] and not free_space(link, now):
            if mq_len[link] == 0:
                mq_append(link, server)
            if pend_len[link] > 0:
                wake(server, pend_buf[pend_off[link] + pend_head[link]] - now)
            else:
                if sw_len[link] == wait_size[link]:
                    raise RuntimeError("space waiters overflow")
                sw_buf[wait_off[link] + sw_len[link]] = server
                sw_len[link] += 1
            return False
        t = next_in[link]
        if now < t - EPS:
            if mq_len[link] == 0:
                mq_append(link, server)
            wake(server, t - now)
            return False
        if mq_len[link] > 0:
            mq_head[link] = (mq_head[link] + 1) % wait_size[link]
            mq_len[link] -= 1
            registered[server] = -1
            if mq_len[link] > 0:
                wake(mq_first(link), 0.0)
        return True

    def leave(v, link, now):
        last_exit[link] = now
        rec_exit[cur_rec[v]] = now
        if wave[link] > 0:
            drop_freed(link, now)
            n = pend_len[link]
            if n == cap[link]:
                raise RuntimeError("pending overflow")
            pend_buf[pend_off[link] + (pend_head[link] + n) % cap[link]] = now + wave[link]
            pend_len[link] = n + 1
        else:
            used[link] -= 1
        n = sw_len[link]
        if n > 0:
            sw_len[link] = 0
            for i in range(n):
                wake(sw_buf[wait_off[link] + i], 0.0)

    def enter(v, link, now):
        used[link] += 1
        next_in[link] = now + inflow_h[link]
        entry[v] = now
        r = cnt[1]
        cur_rec[v] = r
        rec_trip[r] = v
        rec_link[r] = link
        rec_entry[r] = now
        cnt[1] = r + 1
        after = pos[v] + 1
        g = exit_group[link]
        if after < path_off[v + 1] - path_off[v]:
            nxt = path_links[path_off[v] + after]
            for k in range(mv_off[link], mv_off[link + 1]):
                if mv_next[k] == nxt:
                    g = mv_group[k]
                    break
        alt = group_alt[g]
        if alt >= 0 and q_len[alt] * group_lanes[g] < q_len[g]:
            g = alt
        veh_next[v] = -1
        if q_len[g] == 0:
            q_head[g] = v
        else:
            veh_next[q_tail[g]] = v
        q_tail[g] = v
        q_len[g] += 1
        if not armed[g]:
            armed[g] = True
            wake(g, ff[link])

    def pop_queue(g):
        v = q_head[g]
        q_head[g] = veh_next[v]
        q_len[g] -= 1

    def head_at_stop_line(g, f):
        """Group ``g``'s head vehicle, or -1 (and ``g`` woken) while it has not reached the line."""
        v = q_head[g]
        t = entry[v] + f
        if fs[0] < t - EPS:
            wake(g, t - fs[0])
            return -1
        return v

    def serve_group(g):
        """Discharge lane group ``g`` (a trip-end group: let its vehicles arrive)."""
        link = group_link[g]
        f = ff[link]
        while q_len[g] > 0:
            v = head_at_stop_line(g, f)
            if v < 0:
                return
            now = fs[0]
            if is_exit[g]:
                pop_queue(g)
                leave(v, link, now)
                fs[1] = now
                arrival[v] = now
                cnt[3] -= 1
                cnt[5] += 1
                continue
            nxt = path_links[path_off[v] + pos[v] + 1]
            t = next_free[g]
            if now < t - EPS:
                wake(g, t - now)
                return
            busy = mq_len[nxt] > 0 or used[nxt] >= cap[nxt] or now < next_in[nxt] - EPS
            if busy and not gate(nxt, now, g):
                return
            pop_queue(g)
            leave(v, link, now)
            pos[v] += 1
            enter(v, nxt, now)
            next_free[g] = now + group_headway[g]
        armed[g] = False

    def serve_source(server):
        link = server - n_groups
        if not src_armed[link]:
            return
        while src_head[link] >= 0:
            now = fs[0]
            if not gate(link, now, server):
                return
            v = src_head[link]
            src_head[link] = veh_next[v]
            if not first_entered[v]:
                first_entered[v] = True
                cnt[4] -= 1
                cnt[3] += 1
            enter(v, link, now)
            fs[1] = now
        src_armed[link] = False

    def depart(v, now):
        departed[v] = True
        cnt[6] += 1
        if path_off[v + 1] == path_off[v]:
            arrival[v] = now
            cnt[5] += 1
            return
        cnt[4] += 1
        link = path_links[path_off[v]]
        veh_next[v] = -1
        if not src_armed[link]:
            src_armed[link] = True
            src_head[link] = v
            wake(n_groups + link, 0.0)
        else:
            if src_head[link] < 0:
                src_head[link] = v
            else:
                veh_next[src_tail[link]] = v
        src_tail[link] = v

    def departures(resume):
        i = cnt[7]
        now = fs[0]
        if resume:
            depart(order[i], now)
            i += 1
        while i < n_veh:
            v = order[i]
            if not routed[v]:
                i += 1
                continue
            t = dep[v]
            if t > now:
                heapq.heappush(heap, (now + (t - now), NORMAL_KEY + cnt[0], DEP))
                cnt[0] += 1
                cnt[7] = i
                return
            depart(v, now)
            i += 1
        cnt[7] = i
        cnt[0] += 1  # the finished process is an event of its own (it takes an id)

    def sample(now):
        s = cnt[2]
        sample_t[s] = now
        for g in range(n_groups):
            if q_len[g] == 0:
                continue
            f = ff[group_link[g]]
            count = 0
            v = q_head[g]
            while v >= 0:
                if entry[v] + f > now + EPS:
                    break
                count += 1
                v = veh_next[v]
            queue_veh[s, group_link[g]] += count
        for link in range(n_links):
            occupancy[s, link] = used[link] - pend_len[link]
        for link in range(n_links):
            if used[link] >= cap[link]:
                blocked[s, link] = not free_space(link, now)
        cnt[2] = s + 1

    def stop():
        heapq.heappush(heap, (fs[0], NORMAL_KEY + cnt[0], STOP))
        cnt[0] += 2  # the stop event, then the finished monitor process

    def monitor(now):
        sample(now)
        busy = cnt[3] > 0
        last_move = fs[1]
        for link in range(n_links):
            last_move = max(last_move, last_exit[link])
        # the whole network gridlocked, or the end of the run
        if (busy and now - last_move >= gridlock_timeout_s - EPS) or now >= end_s - EPS:
            stop()
            return
        heapq.heappush(heap, (now + min(sample_interval_s, end_s - now), NORMAL_KEY + cnt[0], MON))
        cnt[0] += 1

    started = False
    while True:
        t, _, s = heapq.heappop(heap)
        fs[0] = t
        if s >= n_groups:
            serve_source(s)
        elif s >= 0:
            serve_group(s)
        elif s == DEP:
            departures(started)
            started = True
        elif s == MON:
            monitor(t)
        else:
            break
    n_rec = cnt[1]
    n_s = cnt[2]
    return (
        rec_trip[:n_rec], rec_link[:n_rec], rec_entry[:n_rec], rec_exit[:n_rec], arrival,
        sample_t[:n_s], queue_veh[:n_s], occupancy[:n_s], blocked[:n_s],
    )  # fmt: skip


#: What ``run_core`` returns, named as in :class:`engine.RunRecords`; all compared with the engine.
RECORDS = (
    "trav_trip", "trav_link", "trav_entry_s", "trav_exit_s", "arrival_s", "sample_time_s",
    "queue_veh", "occupancy_veh", "blocked",
)  # fmt: skip


def run_probe(arrays: dict, end_s: float, sample_interval_s: float, gridlock_timeout_s: float):
    """``run_core`` on ``flatten``'s arrays, as a dict named like :class:`engine.RunRecords`."""
    out = run_core(**arrays, end_s=end_s, sample_interval_s=sample_interval_s,
                   gridlock_timeout_s=gridlock_timeout_s)  # fmt: skip
    return dict(zip(RECORDS, out, strict=True))


def main() -> None:
    """Build the case, run the engine and the probe, compare and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=40, help="grid nodes per side")
    parser.add_argument("--trips", type=int, default=40_000)
    parser.add_argument("--every", type=int, default=1, help="every n-th trip, sample factor 1/n")
    parser.add_argument("--duration", type=float, default=3600.0, help="departure period, s")
    parser.add_argument("--end", type=float, default=None, help="end of the run, s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-engine", action="store_true", help="run the probe only")
    args = parser.parse_args()

    G = grid_network(args.size, signal_every=0)
    trips = random_trips(G, args.trips, args.duration, args.seed)
    trips = trips.iloc[:: args.every].reset_index(drop=True)
    net = netarrays.build(G, 1.0 / args.every, 18.0)
    c0 = time.process_time()
    paths = freeflow_paths(net, trips)
    route_cpu = time.process_time() - c0
    dep = trips["departure_s"].tolist()
    timing = dict(end_s=args.end or args.duration + 3600.0, sample_interval_s=60.0,
                  gridlock_timeout_s=600.0)  # fmt: skip

    # compile on a small case first, so the timed run below is the compiled code alone
    c0 = time.process_time()
    small = grid_network(4, signal_every=0)
    small_trips = random_trips(small, 50, 60.0, 0)
    small_net = netarrays.build(small, 1.0, 18.0)
    small_paths = freeflow_paths(small_net, small_trips)
    run_probe(flatten(small_net, small_paths, small_trips["departure_s"].tolist()), **timing)
    compile_cpu = time.process_time() - c0

    c0 = time.process_time()
    arrays = flatten(net, paths, dep)
    flatten_cpu = time.process_time() - c0
    c0 = time.process_time()
    probe = run_probe(arrays, **timing)
    probe_cpu = time.process_time() - c0
    del arrays
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_trav = len(probe["trav_link"])
    print(f"grid {args.size} × {args.size} ({net.n_links:,} links), {len(trips):,} trips "
          f"(every {args.every}), free-flow routing {route_cpu:.1f} CPU s, "
          f"numba compile and first call {compile_cpu:.1f} CPU s, paths and network to "
          f"typed arrays {flatten_cpu:.1f} CPU s, peak resident memory after the probe "
          f"{peak_mib:,.0f} MiB\n")  # fmt: skip
    print("| engine | traversals | arrived | CPU s | µs per traversal |")
    print("|---|---:|---:|---:|---:|")
    arrived = int(np.isfinite(probe["arrival_s"]).sum())
    row = f"| {n_trav:,} | {arrived:,} | {probe_cpu:.2f} | {1e6 * probe_cpu / n_trav:.2f} |"
    if args.no_engine:
        print("| compiled probe (numba) " + row)
        return
    c0 = time.process_time()
    rec = engine.run(net, paths, dep, critical_gap_s=6.0, follow_up_s=3.5,
                     sample_factor=1.0 / args.every, **timing)  # fmt: skip
    engine_cpu = time.process_time() - c0
    n_eng = len(rec.trav_link)
    arrived_eng = int(np.isfinite(rec.arrival_s).sum())
    print(f"| cysim.sim.engine (Python, SimPy) | {n_eng:,} | {arrived_eng:,} | {engine_cpu:.2f} | "
          f"{1e6 * engine_cpu / n_eng:.2f} |")  # fmt: skip
    print("| compiled probe (numba) " + row)
    print(f"\nprobe / engine CPU: {probe_cpu / engine_cpu:.3f}")
    differ = [
        k for k in RECORDS
        if not np.array_equal(np.asarray(getattr(rec, k)), probe[k],
                              equal_nan=np.asarray(probe[k]).dtype.kind == "f")
    ]  # fmt: skip
    print("records: " + ("identical" if not differ else "DIFFERENT in " + ", ".join(differ)))
    if differ:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
