"""GPU defragmentation on the openb trace (benchmark, not a test): FGD places the `default` trace online;
at arrived = 100 % the pending GPU pods are re-placed with up to 5 % of the running pods moved.

    python benchmarks/gpu_defrag_bench.py [--trace default] [--seeds 42-51] [--move-frac 0.05]
                                          [--max-set 2] [--json out.json]

Per seed: unallocated GPU % at arrived = 100 % before (FGD alone) and after the defrag, moves, defrag
time, and two LP lower bounds on the unallocated GPU % of any placement of the same arrived pods: the
aggregate one (GPU milli per node type) and the device-aware one (device patterns of sharing pods).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from kpack.experiments.fgd import NODE_FILE, _load_nodes, _load_pods, inflate, parse_seeds, run_fgd
from kpack.experiments.trace import schedule_trace_state
from kpack.gpu.devices import N_TAGS, empty_device_table
from kpack.gpu.policies import get_policy
from kpack.gpu.tables import spec_masks
from kpack.solver.gpu_defrag import (
    FULL,
    GpuState,
    check_state,
    defrag,
    defrag_lns,
    device_lower_bound,
    unallocated_lower_bound,
)

TRACES = Path("/work/shared/traces/openb")


def state_at_100(trace: str, policy: str, seed: int):
    """Replay run_fgd's setup (same RNG draws) and place the pods that arrive up to 100 % of the GPU
    capacity. Returns (nodes, prefix pod arrays, placed node per pod, device per pod, kernel state)."""
    nodes = _load_nodes(str((TRACES / NODE_FILE).resolve()))
    pods, tp = _load_pods(str((TRACES / f"openb_pod_list_{trace}.csv").resolve()))
    pol = get_policy(policy)
    C = nodes.total_gpu_milli
    rng = np.random.default_rng(int(seed))
    order = inflate(pods, C, rng)
    rank = rng.permutation(len(nodes)).astype(np.int64)[np.argsort(np.argsort(nodes.names.astype(str)))]
    kernel_seed = int(rng.integers(0, 2**63 - 1))
    arr = pods.take(order)
    demand = arr.num_gpu.astype(np.int64) * arr.gpu_milli.astype(np.int64)
    cut = int(np.searchsorted(np.cumsum(demand), C, side="right"))     # pods arrived at <= 100 %
    mask = spec_masks(arr.gpu_spec, nodes.models)
    req = np.stack([arr.cpu_milli, arr.memory_mib, arr.num_gpu.astype(np.int64),
                    arr.gpu_milli.astype(np.int64), mask], axis=1)
    _, pod_spec = np.unique(req, axis=0, return_inverse=True)
    pod_spec = pod_spec.reshape(-1).astype(np.int64)
    free = empty_device_table(nodes)
    cpu, mem = nodes.cpu_milli.copy(), nodes.memory_mib.copy()
    N = len(nodes)
    rng_state = np.array([np.uint64(kernel_seed)], dtype=np.uint64)
    out_dev = np.empty(cut, dtype=np.int64)
    k = arr.num_gpu.astype(np.int64)[:cut]
    g = arr.gpu_milli.astype(np.int64)[:cut]
    res = schedule_trace_state(
        pol.code, pol.sharing_device, free, nodes.num_gpu, cpu, mem, nodes.model_code, rank,
        arr.cpu_milli[:cut], arr.memory_mib[:cut], k, g, mask[:cut], pod_spec[:cut], int(pod_spec.max()) + 1,
        tp.cpu_milli, tp.gpu_milli, tp.num_gpu, tp.masks(nodes.models), tp.level_of, tp.popularity, tp.levels,
        rng_state, np.zeros((N, N_TAGS), dtype=np.int32), np.zeros(N, dtype=np.bool_), out_dev)
    placed = res[4]
    pod = dict(cpu=arr.cpu_milli[:cut].astype(np.int64), mem=arr.memory_mib[:cut].astype(np.int64), k=k, g=g,
               mask=mask[:cut].astype(np.int64))
    return nodes, pod, placed.astype(np.int64), out_dev, free, cpu, mem, C


def run_seed(trace: str, policy: str, seed: int, move_frac: float, max_set: int, limit: float,
             args_trials: int = 40, lns: bool = True, hood: int = 16, step: float = 3.0,
             cpu_frac: float = 0.25) -> dict:
    nodes, pod, placed, out_dev, free, cpu, mem, C = state_at_100(trace, policy, seed)
    on = placed >= 0
    sharing = (pod["k"] > 0) & (pod["g"] < FULL)
    st = GpuState(free=free.astype(np.int32), ndev=nodes.num_gpu.astype(np.int64), cpu=cpu.astype(np.int64),
                  mem=mem.astype(np.int64), model=nodes.model_code.astype(np.int64),
                  node=np.where(on, placed, -1), pcpu=pod["cpu"], pmem=pod["mem"], k=pod["k"], g=pod["g"],
                  mask=pod["mask"], dev=np.where(on & sharing, out_dev, -1),
                  devmask=np.where(on & (pod["k"] > 0) & ~sharing, out_dev, 0))
    check_state(st, nodes.cpu_milli, nodes.memory_mib)
    demand = pod["k"] * pod["g"]
    allocated = int(demand[on].sum())
    pend = np.flatnonzero(~on & (pod["k"] > 0))
    pending = {x: pod[x][pend] for x in ("cpu", "mem", "k", "g", "mask")}
    max_moves = int(move_frac * int(on.sum()))
    if lns:
        r = defrag_lns(st, pending, max_moves, time_limit=limit, hood=hood, step_time=step, cpu_frac=cpu_frac)
    else:
        r = defrag(st, pending, max_moves, time_limit=limit, max_set=max_set, max_trials=args_trials)
    extra = []
    for i, n, d in r.placed:
        kk, gg = int(pending["k"][i]), int(pending["g"][i])
        extra.append((n, int(pending["cpu"][i]), int(pending["mem"][i]), kk, gg, d if gg < FULL else -1,
                      d if gg >= FULL else 0, int(pending["mask"][i])))
    check_state(r.state, nodes.cpu_milli, nodes.memory_mib, extra)     # independent re-check
    t = time.perf_counter()
    bound, ncols = unallocated_lower_bound(nodes.num_gpu, nodes.cpu_milli, nodes.memory_mib, nodes.model_code,
                                           pod)
    lb_seconds = time.perf_counter() - t
    t = time.perf_counter()
    dbound, dcols = device_lower_bound(nodes.num_gpu, nodes.cpu_milli, nodes.memory_mib, nodes.model_code,
                                       pod)
    dlb_seconds = time.perf_counter() - t
    fgd = run_fgd(TRACES / NODE_FILE, TRACES / f"openb_pod_list_{trace}.csv", policy, seed)
    return dict(seed=seed, pending=len(pend), pending_milli=int(demand[pend].sum()),
                running=int(on.sum()), max_moves=max_moves,
                unalloc_binned=fgd.unallocated_gpu_pct,
                before=100.0 * (C - allocated) / C, after=100.0 * (C - allocated - r.placed_milli) / C,
                placed=len(r.placed), moves=len(r.moves), seconds=r.seconds,
                lower_bound=max(0.0, 100.0 * (C - bound) / C), lb_seconds=lb_seconds, lb_columns=ncols,
                device_bound=max(0.0, 100.0 * (C - dbound) / C), dlb_seconds=dlb_seconds, dlb_columns=dcols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default="default")
    ap.add_argument("--policy", default="fgd")
    ap.add_argument("--seeds", default="42-51")
    ap.add_argument("--move-frac", type=float, default=0.05)
    ap.add_argument("--max-set", type=int, default=2, help="most running pods evicted for one pending pod")
    ap.add_argument("--trials", type=int, default=40, help="eviction sets tried per pending pod")
    ap.add_argument("--no-lns", action="store_true", help="move-based repair only, no CP-SAT")
    ap.add_argument("--hood", type=int, default=16, help="nodes per CP-SAT neighbourhood")
    ap.add_argument("--cpu-frac", type=float, default=0.25, help="share of a neighbourhood: CPU-rich nodes")
    ap.add_argument("--step", type=float, default=3.0, help="CP-SAT seconds per neighbourhood")
    ap.add_argument("--limit", type=float, default=30.0, help="defrag time limit per seed, seconds")
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    print(f"{'seed':>4} {'pending':>7} {'running':>7} {'budget':>6} {'FGD binned':>10} {'before %':>8} "
          f"{'after %':>7} {'placed':>6} {'moves':>5} {'defrag s':>8} {'LB %':>6} {'device LB %':>11}")
    for seed in parse_seeds(args.seeds):
        r = run_seed(args.trace, args.policy, seed, args.move_frac, args.max_set, args.limit, args.trials,
                     not args.no_lns, args.hood, args.step, args.cpu_frac)
        rows.append(r)
        print(f"{r['seed']:>4} {r['pending']:>7} {r['running']:>7} {r['max_moves']:>6} "
              f"{r['unalloc_binned']:>10.2f} {r['before']:>8.2f} {r['after']:>7.2f} {r['placed']:>6} "
              f"{r['moves']:>5} {r['seconds']:>8.2f} {r['lower_bound']:>6.2f} {r['device_bound']:>11.2f}",
              flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in
           ("unalloc_binned", "before", "after", "moves", "seconds", "lower_bound", "device_bound")}
    print(f"median: FGD binned {med['unalloc_binned']:.2f} %, before {med['before']:.2f} %, after "
          f"{med['after']:.2f} %, moves {med['moves']:.0f}, defrag {med['seconds']:.2f} s, "
          f"lower bound {med['lower_bound']:.2f} % (aggregate LP), {med['device_bound']:.2f} % "
          "(device-aware)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
