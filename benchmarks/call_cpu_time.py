"""CPU time (time.thread_time) next to wall time for call_overhead.py's three measures, for a loaded shared
machine where wall clock mostly measures the queue: 1,000 one-pod schedule() calls after 50 warm ones, 50
explain() calls, and three 10,000-Pod exhaustive calls on fresh clusters (the first includes compiling).

    python benchmarks/call_cpu_time.py [one] [explain] [batch]
"""
from __future__ import annotations

import statistics
import sys
import time

import call_overhead as co

import kpack


def main() -> None:
    what = sys.argv[1:] or ["one", "explain", "batch"]
    c = co.cluster()
    s = kpack.Scheduler()
    for p in co.pods("w", 50):
        s.schedule(c, [p])
        s.explain(c, p)
    if "one" in what:
        wall, cpu = [], []
        for p in co.pods("one", 1000):
            t0, c0 = time.perf_counter(), time.thread_time()
            s.schedule(c, [p])
            wall.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        print(f"one pod per schedule(): wall median {statistics.median(wall) * 1e6:.0f} us, "
              f"cpu median {statistics.median(cpu) * 1e6:.0f} us ({s.last_stats.engine})")
    if "explain" in what:
        wall, cpu = [], []
        for p in co.pods("x", 50):
            t0, c0 = time.perf_counter(), time.thread_time()
            s.explain(c, p)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        print(f"explain: wall median {statistics.median(wall) * 1e3:.2f} ms, "
              f"cpu median {statistics.median(cpu) * 1e3:.2f} ms")
    if "batch" in what:
        ex = kpack.Profile.from_k8s({"percentageOfNodesToScore": 100})
        for i in range(3):
            c = co.cluster()
            s = kpack.Scheduler(ex)
            s.schedule(c, co.pods(f"warm{i}", 10))
            ps = co.pods(f"b{i}", co.N_PODS)
            t0, c0 = time.perf_counter(), time.thread_time()
            s.schedule(c, ps)
            print(f"schedule({co.N_PODS:,} Pods) exhaustive: {co.N_PODS / (time.perf_counter() - t0):,.0f} "
                  f"pods/s wall, {co.N_PODS / (time.thread_time() - c0):,.0f} pods per CPU-second "
                  f"({s.last_stats.engine})")


if __name__ == "__main__":
    main()
