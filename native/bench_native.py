"""Native C core vs the Numba cycle on the same inputs (SchedulingBasic/5000Nodes/10000Pods shape).

    python native/bench_native.py [--nodes 5000] [--pods 10000] [--runs 7]

Identical nodes (32 cpu, 128Gi, 110 pods), 1,000 pods pre-bound round robin, then 10,000 identical
pods (100m cpu, 500Mi) placed in one batch with the default profile, at percentageOfNodesToScore 100
and at the adaptive default. Each engine runs on fresh copies of the same arrays; placements are
checked equal before times count. Reports the median and min-max of --runs runs per engine.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import kpack
from kpack import bundles as B
from kpack import cycle, native
from kpack.scheduler import CompiledProfile, class_arrays


def build(n_nodes: int, n_pods: int, pct: int):
    nodes = [kpack.Node(name=f"n{i}", allocatable={"cpu": "32", "memory": "128Gi", "pods": 110})
             for i in range(n_nodes)]
    bound = [kpack.Pod(name=f"b{i}", node_name=f"n{i % n_nodes}", requests={"cpu": "100m", "memory": "500Mi"})
             for i in range(1000)]
    cluster = kpack.Cluster(nodes, bound)
    pods = [kpack.Pod(name=f"p{i}", requests={"cpu": "100m", "memory": "500Mi"}) for i in range(n_pods)]
    profile = kpack.Profile.from_k8s({"profiles": [{"percentageOfNodesToScore": pct}]})
    sched = kpack.Scheduler(profile, seed=0)
    pod_req, pod_nz = cluster.pod_vectors(pods)
    cp = CompiledProfile(profile, cluster)
    classes, pod_cls = sched.classes(cluster, pods)
    arrays = class_arrays(classes, n_nodes)
    out = np.full(n_pods, -1, dtype=np.int32)
    fail = np.zeros((n_pods, len(cluster.resource_names)), dtype=np.int32)
    return [cluster.allocatable, cluster.requested, cluster.nonzero_requested, cp.check_col, cp.fit_filter_on,
            pod_cls, pod_req, pod_nz, *arrays, cp.weights, cp.fit_col, cp.fit_kind, cp.fit_w, cp.strategy,
            cp.shape_u, cp.shape_s, cp.bal_col, cp.bal_kind, cp.pct, np.zeros(1, np.uint64),
            np.zeros(1, np.int64), out, fail]


def numba_cycle(*args) -> None:
    cycle.schedule(*B.from_arrays(*args[:29]), B.NO_DEVICES, B.NO_STATIC, *args[29:])


def native_core(*args) -> None:
    native.schedule_native(*B.from_arrays(*args[:29]), *args[29:])


def fresh(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def timed(fn, args, runs):
    times, last = [], None
    for _ in range(runs):
        a = fresh(args)
        t0 = time.perf_counter()
        fn(*a)
        times.append(time.perf_counter() - t0)
        last = a
    return times, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=7)
    o = ap.parse_args()
    if not native.available():
        raise SystemExit(f"native core unavailable: {native.load_error()}")
    print(f"{o.nodes} nodes x {o.pods} pods, default profile, median of {o.runs} runs (min-max)")
    print(f"{'pct':>9} {'engine':>7} {'median s':>9} {'min-max s':>17} {'pods/s':>11}  native/numba")
    for pct in (100, 0):
        args = build(o.nodes, o.pods, pct)
        numba_cycle(*fresh(args))            # JIT warm-up (cache=True: usually a cache load)
        native_core(*fresh(args))
        t_nb, r_nb = timed(numba_cycle, args, o.runs)
        t_c, r_c = timed(native_core, args, o.runs)
        for i in (1, 2, 27, 28, 29, 30):
            assert np.array_equal(r_nb[i], r_c[i]), f"engines disagree on argument {i}"
        m_nb, m_c = statistics.median(t_nb), statistics.median(t_c)
        label = "100" if pct else "adaptive"
        for name, t, m in (("numba", t_nb, m_nb), ("native", t_c, m_c)):
            ratio = f"{m_c / m_nb:.2f}" if name == "native" else ""
            print(f"{label:>9} {name:>7} {m:9.4f} {min(t):8.4f}-{max(t):.4f} {o.pods / m:11,.0f}  {ratio}")


if __name__ == "__main__":
    main()
