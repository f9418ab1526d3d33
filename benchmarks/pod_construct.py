"""CPU time and memory of building 10,000 kpack.Pod objects (SchedulingBasic's pod shape), for comparing two
trees: the Pod builds its spec token (kpack.podspec) at construction.

    python benchmarks/pod_construct.py [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import kpack


def build(n: int, prefix: str) -> list:
    return [kpack.Pod(name=f"{prefix}-{i}", requests={"cpu": "100m", "memory": "500Mi"}) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    build(200, "w")
    ts = []
    for r in range(args.runs):
        t0 = time.process_time()
        pods = build(10000, f"b{r}")
        ts.append(time.process_time() - t0)
        del pods
    tracemalloc.start()
    pods = build(10000, "m")
    cur, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"10,000 Pods: {statistics.median(ts) * 1e3:.0f} ms CPU, median of {args.runs} "
          f"({statistics.median(ts) * 100:.1f} us per Pod); {cur / 1e6:.1f} MB held ({len(pods)} Pods)")


if __name__ == "__main__":
    main()
