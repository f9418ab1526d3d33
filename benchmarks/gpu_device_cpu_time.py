"""CPU time (time.thread_time) of schedule() on the GPU device path: 1,000 GPU nodes (2, 4 or 8 devices,
V100 or T4), a batch of pods asking a share of one device (100, 250 or 500 milli) or one whole device, with
the default profile (device filter only) and with a GPU policy plugin. Median of 7 runs on fresh clusters,
after a warm-up call; prints a CRC of the placements so two trees can be compared.

    python benchmarks/gpu_device_cpu_time.py [PODS] [none|FGDScore|GpuPackingScore|...]...
"""
from __future__ import annotations

import statistics
import sys
import time
import zlib

import numpy as np

import kpack


def nodes(n: int) -> list:
    rs = np.random.default_rng(0)
    return [kpack.Node(name=f"g{i}", allocatable={"cpu": "64", "memory": "256Gi", "pods": 110,
                                                  "nvidia.com/gpu": int(rs.choice([2, 4, 8]))},
                       labels={"nvidia.com/gpu.product": str(rs.choice(["V100", "T4"]))}) for i in range(n)]


def pods(n: int) -> list:
    rs = np.random.default_rng(1)
    out = []
    for i in range(n):
        m = int(rs.choice([100, 250, 500, 1000]))
        ann = {"kpack.io/gpu-milli": str(m)} if m < 1000 else {}
        spec = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "2", "nvidia.com/gpu": 1}}}]}
        out.append(kpack.Pod.from_k8s({"kind": "Pod", "metadata": {"name": f"p{i}", "annotations": ann},
                                       "spec": spec}))
    return out


def profile(name):
    if name is None:
        return kpack.Profile.default()
    return kpack.Profile.from_k8s({"profiles": [{"plugins": {"score": {"enabled": [
        {"name": name, "weight": 100}]}}}]})


def main() -> None:
    n_pods = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    policies = [None if a == "none" else a for a in sys.argv[2:]] or [None, "GpuPackingScore", "FGDScore"]
    ns, batch = nodes(1000), pods(n_pods)
    for pol in policies:
        kpack.Scheduler(profile(pol)).schedule(kpack.Cluster(ns[:20]), batch[:50])   # warm-up (cache load)
        ts = []
        for _ in range(7):
            c = kpack.Cluster(ns)
            s = kpack.Scheduler(profile(pol), seed=0)
            t = time.thread_time()
            res = s.schedule(c, batch)
            ts.append(time.thread_time() - t)
        crc = zlib.crc32(repr(res.node_names).encode())
        print(f"{pol or 'default (device filter only)'}: {statistics.median(ts):.4f} s CPU, "
              f"{res.scheduled} placed, placements crc {crc:08x}")


if __name__ == "__main__":
    main()
