"""Solver benchmarks (not unit tests): the CP-SAT fallback on fragmented clusters, and kpack.plan on the
Caprara-Toth 2-D vector packing instances.

    python benchmarks/solver_bench.py frag [--nodes 200] [--seeds 3] [--limit 1.0]
    python benchmarks/solver_bench.py vbp  [--dir /work/shared/benchmarks/vbp/caprara_toth_2001]
                                           [--per-group 10] [--limit 5] [--json out.json]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics
import sys
import time

import numpy as np

import kpack
from kpack.solver.heuristics import Instance
from kpack.solver.planning import check_packing, solve

# Deployment-like pod shapes (cpu millicores, memory MiB): few shapes, many replicas, as real clusters have.
SMALL = [(250, 512), (500, 1024), (1000, 2048), (1500, 3072), (2000, 4096), (3000, 6144), (4000, 8192),
         (500, 4096), (2000, 2048), (6000, 12288)]
LARGE = [(12000, 24576), (16000, 32768), (10000, 49152)]


def fragmented(n_nodes: int, seed: int, fill: float = 0.85, n_large: int = 40):
    """Nodes of 32 cpu / 128 GiB; small pods in random order until `fill` of the cpu is requested; then a
    tail of large pods."""
    rng = np.random.default_rng(seed)
    nodes = [kpack.Node(name=f"n{i}", allocatable={"cpu": "32", "memory": "128Gi", "pods": 110})
             for i in range(n_nodes)]
    small, total, i = [], 0, 0
    while total < fill * 32000 * n_nodes:
        c, m = SMALL[rng.integers(len(SMALL))]
        small.append(kpack.Pod(name=f"s{i}", requests={"cpu": f"{c}m", "memory": f"{m}Mi"}))
        total += c
        i += 1
    large = []
    for j in range(n_large):
        c, m = LARGE[rng.integers(len(LARGE))]
        large.append(kpack.Pod(name=f"l{j}", requests={"cpu": f"{c}m", "memory": f"{m}Mi"}))
    return nodes, small, large


def cmd_frag(args) -> None:
    rows = []
    for seed in range(args.seeds):
        nodes, small, large = fragmented(args.nodes, seed)
        # (A) one batch: greedy places the small pods, the large tail is left pending; the solver may re-place
        # the whole batch.
        c = kpack.Cluster(nodes)
        g = kpack.Scheduler(seed=seed).schedule(c, small + large)
        pend = int((g.node_index < 0).sum())
        c = kpack.Cluster(nodes)
        s = kpack.Scheduler(seed=seed, fallback="cpsat", fallback_time_limit=args.limit)
        t = time.perf_counter()
        r = s.schedule(c, small + large)
        rows.append(dict(seed=seed, case="one batch, max_moves=0", pending=pend,
                         placed=int(r.solver_placed.sum()), moves=0, optimal=r.solver_optimal,
                         seconds=time.perf_counter() - t, stats=dict(s.last_fallback_stats)))
        # (B) small pods already running, the large tail arrives: max_moves = 0, then moves allowed.
        for moves in (0, args.moves):
            c = kpack.Cluster(nodes)
            kpack.Scheduler(seed=seed).schedule(c, small)
            c0 = c.copy()
            pend = int((kpack.Scheduler(seed=seed).schedule(c0, large).node_index < 0).sum())
            s = kpack.Scheduler(seed=seed, fallback="cpsat", fallback_time_limit=args.limit, max_moves=moves)
            t = time.perf_counter()
            r = s.schedule(c, large)
            rows.append(dict(seed=seed, case=f"running cluster, max_moves={moves}", pending=pend,
                             placed=int(r.solver_placed.sum()), moves=len(r.moves), optimal=r.solver_optimal,
                             seconds=time.perf_counter() - t, stats=dict(s.last_fallback_stats)))
        alloc = c.requested[:, 0].sum() / c.allocatable[:, 0].sum()
        print(f"seed {seed}: {len(small)} small + {len(large)} large pods, cpu allocated after: {alloc:.1%}",
              file=sys.stderr)
    print(f"{'case':36} {'seed':>4} {'pending':>7} {'placed':>6} {'frac':>6} {'moves':>5} {'optimal':>7} "
          f"{'fallback s':>10} {'repair s':>8} {'answer from':>16} {'cp-sat status':>13}")
    for r in rows:
        frac = r["placed"] / r["pending"] if r["pending"] else float("nan")
        st = r["stats"]
        print(f"{r['case']:36} {r['seed']:>4} {r['pending']:>7} {r['placed']:>6} {frac:>6.0%} "
              f"{r['moves']:>5} {str(r['optimal']):>7} {st.get('seconds', 0):>10.2f} "
              f"{st.get('repair_seconds', 0):>8.2f} "
              f"{st.get('answer', '-'):>16} {st.get('status', '-'):>13}")
    for case in dict.fromkeys(r["case"] for r in rows):
        rs = [r for r in rows if r["case"] == case]
        tot_p, tot_s = sum(r["pending"] for r in rs), sum(r["placed"] for r in rs)
        print(f"TOTAL {case}: placed {tot_s}/{tot_p} = {tot_s / max(tot_p, 1):.0%} of greedy-pending pods")


def load_vbp(path: str) -> tuple[np.ndarray, np.ndarray]:
    t = open(path).read().split()
    d = int(t[0])
    cap = [int(x) for x in t[1:1 + d]]
    m = int(t[1 + d])
    k, items = 2 + d, []
    for _ in range(m):
        w = [int(x) for x in t[k:k + d]]
        q = int(t[k + d])
        k += d + 1
        items += [w] * q
    return np.array(items, dtype=np.int64), np.array([cap], dtype=np.int64)


def via_kpack(sizes: np.ndarray, cap: np.ndarray, limit: float):
    """The same instance through the public API: one node shape, one pod per item (cpu, memory)."""
    alloc = {"cpu": f"{cap[0, 0]}m", "memory": str(cap[0, 1]), "pods": len(sizes)}
    shape = kpack.Node(name="bin", allocatable=alloc)
    pods = [kpack.Pod(name=f"i{i}", requests={"cpu": f"{a}m", "memory": str(b)})
            for i, (a, b) in enumerate(sizes)]
    return kpack.plan(pods, [shape], time_limit=limit)


def cmd_vbp(args) -> None:
    files = sorted(glob.glob(os.path.join(args.dir, "*.vbp")))
    groups: dict[str, list[str]] = {}
    for f in files:
        g = re.sub(r"_\d+\.vbp$", "", os.path.basename(f))
        groups.setdefault(g, []).append(f)
    chosen = []
    for g, fs in sorted(groups.items()):
        fs.sort(key=lambda x: int(re.search(r"_(\d+)\.vbp$", x).group(1)))
        if re.fullmatch(args.match, g):
            chosen += fs[:args.per_group]
    rows = []
    t_all = time.perf_counter()
    for f in chosen:
        sizes, cap = load_vbp(f)
        t = time.perf_counter()
        if args.api:
            p = via_kpack(sizes, cap, args.limit)
            row = dict(name=os.path.basename(f)[:-4], n=len(sizes), ffd=int(p.ffd_cost),
                       greedy=int(p.greedy_cost), best=p.node_count, lb=int(p.lower_bound),
                       optimal=p.optimal, status=p.status, seconds=p.seconds)
        else:
            inst = Instance(sizes, cap, np.ones((len(sizes), 1), bool), np.ones(1, np.int64))
            out = solve(inst, args.limit, workers=args.workers)
            check_packing(inst, out.packing)
            row = dict(name=os.path.basename(f)[:-4], n=len(sizes), ffd=len(out.ffd.shape),
                       greedy=len(out.greedy.shape), best=len(out.packing.shape), lb=out.lower_bound,
                       optimal=out.optimal, status=out.status, seconds=time.perf_counter() - t)
        rows.append(row)
        print(f"{row['name']:16} n={row['n']:3} ffd={row['ffd']:3} greedy={row['greedy']:3} "
              f"cp-sat={row['best']:3} lb={row['lb']:3} {'OPT' if row['optimal'] else '   '} "
              f"{row['seconds']:5.2f}s {row['status']}", flush=True)
    summary(rows)
    print(f"wall {time.perf_counter() - t_all:.0f} s for {len(rows)} instances")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


def summary(rows: list[dict]) -> None:
    """% proven optimal and mean % above the proven lower bound (an upper bound on the gap to the optimum),
    for FFD alone, the best greedy packing, and CP-SAT."""
    def stats(key):
        opt = [r[key] <= r["lb"] for r in rows]
        gap = [100.0 * (r[key] - r["lb"]) / r["lb"] for r in rows if r["lb"]]
        return 100.0 * sum(opt) / len(rows), statistics.mean(gap)

    print(f"{'method':10} {'% = lower bound (proven optimal)':>34} {'mean % above lower bound':>26}")
    for key, name in (("ffd", "FFD"), ("greedy", "greedy"), ("best", "CP-SAT")):
        o, g = stats(key)
        print(f"{name:10} {o:>33.1f}% {g:>25.2f}%")
    by_class: dict[str, list[dict]] = {}
    for r in rows:
        by_class.setdefault(r["name"].split("_")[1], []).append(r)
    for k in sorted(by_class, key=int):
        rs = by_class[k]
        print(f"  class {k:>2}: {len(rs):3} inst, CP-SAT optimal {sum(r['optimal'] for r in rs):3}, "
              f"FFD = lb {sum(r['ffd'] <= r['lb'] for r in rs):3}, "
              f"sum(best - lb) {sum(r['best'] - r['lb'] for r in rs):3}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("frag")
    f.add_argument("--nodes", type=int, default=200)
    f.add_argument("--seeds", type=int, default=3)
    f.add_argument("--limit", type=float, default=1.0)
    f.add_argument("--moves", type=int, default=50)
    f.set_defaults(func=cmd_frag)
    v = sub.add_parser("vbp")
    v.add_argument("--dir", default="/work/shared/benchmarks/vbp/caprara_toth_2001")
    v.add_argument("--per-group", type=int, default=10)
    v.add_argument("--match", default=".*", help="only the groups (e.g. CL_1_100) matching this regex")
    v.add_argument("--limit", type=float, default=5.0)
    v.add_argument("--workers", type=int, default=2)
    v.add_argument("--api", action="store_true", help="go through kpack.plan with Pods and a Node shape")
    v.add_argument("--json")
    v.set_defaults(func=cmd_vbp)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
