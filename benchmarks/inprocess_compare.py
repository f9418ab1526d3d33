"""In-process timings for comparing two trees run one after the other (PYTHONPATH=<tree>/src): `explain` of
one pod on SchedulingBasic's shape, CPU time of `kpack bench`'s own `run_kpack` on a scenario (SchedulingBasic
unless named; any substring of a `kpack bench --list` name), or a cProfile of 20 SchedulingBasic calls.

    python benchmarks/inprocess_compare.py explain | cpu [SCENARIO] | profile
"""
from __future__ import annotations

import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

import kpack
from kpack.bench import runner as R
from kpack.bench import scenarios as S

sys.path.insert(0, str(Path(__file__).parent))
import call_overhead as co  # noqa: E402

SCENARIO = "SchedulingBasic/5000Nodes/10000Pods"


def explain() -> None:
    c, s = co.cluster(), kpack.Scheduler()
    for p in co.pods("w", 30):
        s.schedule(c, [p])
        s.explain(c, p)
    probe = co.pods("x", 200)
    t0 = time.perf_counter()
    for p in probe:
        s.explain(c, p)
    print(f"explain: {(time.perf_counter() - t0) / len(probe) * 1e3:.2f} ms per pod (mean of {len(probe)})")


def cpu() -> None:
    want = sys.argv[2] if len(sys.argv) > 2 else SCENARIO
    name = next(k for k in S.SCENARIOS if want in k)
    print(name)
    sc = S.SCENARIOS[name]()
    for ex in (True, False):
        R.run_kpack(sc, ex, "auto")
        wall, cpu_s = [], []
        for _ in range(25):
            t0 = time.process_time()
            dt, _, _ = R.run_kpack(sc, ex, "auto")
            cpu_s.append(time.process_time() - t0)
            wall.append(dt)
        print(f"{'exhaustive' if ex else 'sampled'}: wall median {statistics.median(wall) * 1e3:.1f} ms, "
              f"CPU median {statistics.median(cpu_s) * 1e3:.1f} ms, min {min(cpu_s) * 1e3:.1f} ms (25 calls)")


def profile() -> None:
    sc = S.SCENARIOS[SCENARIO]()
    R.run_kpack(sc, True, "auto")
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(20):
        R.run_kpack(sc, True, "auto")
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    {"explain": explain, "cpu": cpu, "profile": profile}[sys.argv[1] if len(sys.argv) > 1 else "explain"]()
