"""Per-call costs through Pod objects on SchedulingBasic's shape (5,000 nodes, 32 cpu / 128Gi, 1,000 bound
pods): one pod per schedule() call, explain() of one pod, and schedule() of 10,000 Pods exhaustive, each next
to a lean per-pod NumPy implementation of the same profile (vectorised over nodes per pod) in the same run.

    python benchmarks/call_overhead.py [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import kpack

N_NODES, N_INIT, N_PODS = 5000, 1000, 10000
CPU, MEM = 32000, 128 * 2**30


def cluster() -> kpack.Cluster:
    nodes = [kpack.Node(name=f"n{i}", allocatable={"cpu": "32", "memory": "128Gi", "pods": 110})
             for i in range(N_NODES)]
    bound = [kpack.Pod(name=f"init-{i}", requests={"cpu": "100m", "memory": "500Mi"}, node_name=f"n{i % N_NODES}")
             for i in range(N_INIT)]
    return kpack.Cluster(nodes, pods=bound)


def pods(prefix: str, n: int) -> list:
    return [kpack.Pod(name=f"{prefix}-{i}", requests={"cpu": "100m", "memory": "500Mi"}) for i in range(n)]


def numpy_lean(n_pods: int) -> float:
    """Default profile, exhaustive, per pod: fit filter, LeastAllocated + BalancedAllocation (cpu, memory),
    weights 1 and 1 (NodeAffinity and TaintToleration score every node equally here), argmax, commit."""
    alloc = np.array([CPU, MEM, 110], dtype=np.int64)
    used = np.zeros((N_NODES, 3), dtype=np.int64)
    used[:, 0] = 100 * (N_INIT // N_NODES)
    used[:, 1] = 500 * 2**20 * (N_INIT // N_NODES)
    used[:, 2] = N_INIT // N_NODES
    req = np.array([100, 500 * 2**20, 1], dtype=np.int64)
    t0 = time.perf_counter()
    for _ in range(n_pods):
        after = used + req
        fit = (after <= alloc).all(axis=1)
        least = ((alloc[:2] - after[:, :2]) * 100 // alloc[:2]).sum(axis=1) // 2
        f = after[:, :2] / alloc[:2]
        bal = ((1 - np.abs(f[:, 0] - f[:, 1]) / 2) * 100).astype(np.int64)
        total = np.where(fit, least + bal, -1)
        best = int(np.argmax(total))
        used[best] += req
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    exhaustive = kpack.Profile.from_k8s({"percentageOfNodesToScore": 100})
    one, expl, batch, base = [], [], [], []
    for r in range(args.runs):
        c = cluster()
        s = kpack.Scheduler()
        warm = pods(f"w{r}", 50)
        for p in warm:
            s.schedule(c, [p])
            s.explain(c, p)
        t = []
        for p in pods(f"one{r}", 300):
            t0 = time.perf_counter()
            s.schedule(c, [p])
            t.append(time.perf_counter() - t0)
        one.append(statistics.median(t) * 1e6)
        t = []
        probe = pods(f"x{r}", 30)
        for p in probe:
            t0 = time.perf_counter()
            s.explain(c, p)
            t.append(time.perf_counter() - t0)
        expl.append(statistics.median(t) * 1e3)
        c = cluster()
        s = kpack.Scheduler(exhaustive)
        s.schedule(c, pods(f"warm{r}", 10))
        ps = pods(f"b{r}", N_PODS)
        t0 = time.perf_counter()
        s.schedule(c, ps)
        batch.append(N_PODS / (time.perf_counter() - t0))
        base.append(2000 / numpy_lean(2000))
    print(f"one pod per schedule() call, median of {args.runs} run medians: {statistics.median(one):.0f} us "
          f"(runs {min(one):.0f}-{max(one):.0f})")
    print(f"explain of one pod: {statistics.median(expl):.2f} ms (runs {min(expl):.2f}-{max(expl):.2f})")
    print(f"schedule(10,000 Pods) exhaustive: {statistics.median(batch):,.0f} pods/s "
          f"(runs {min(batch):,.0f}-{max(batch):,.0f})")
    print(f"lean per-pod NumPy, same profile: {statistics.median(base):,.0f} pods/s; "
          f"ratio {statistics.median(batch) / statistics.median(base):,.0f}x")


if __name__ == "__main__":
    main()
