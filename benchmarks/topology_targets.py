"""Issue 9's throughput targets in one run: every affinity / spreading scenario of `kpack bench` (kpack auto
vs the per-pod NumPy baseline of the same profile, placements compared), >= 100,000 pods/s and >= 100x NumPy;
with --basic, SchedulingBasic (pods without spread or affinity) as the median of --basic-runs runs.

    python benchmarks/topology_targets.py [--runs 3] [--basic] [--json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

from kpack.bench import runner
from kpack.bench import scenarios as S

TARGET_PODS_S = 100_000
TARGET_RATIO = 100


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--basic", action="store_true", help="also SchedulingBasic, auto, median of --basic-runs")
    ap.add_argument("--basic-runs", type=int, default=9)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    out = []
    for name in S.select(["Affinity", "Spreading"]):
        rows = runner.bench_scenario(name, runs=a.runs, memory=False,
                                     log=lambda *x: print(*x, file=sys.stderr))
        for mode in ("exhaustive", "sampled"):
            mine = [r for r in rows if r.mode == mode and r.engine.startswith("kpack (")][0]
            others = {r.engine: r for r in rows if r.mode == mode}
            same = all(r.same_placements is None or r.same_placements.startswith("yes")
                       for r in others.values())
            ratio = mine.ratios.get("numpy", float("nan"))
            out.append(dict(scenario=name, mode=mode, pods_per_s=round(mine.pods_per_s),
                            min=round(mine.pods_per_s_min), max=round(mine.pods_per_s_max),
                            numpy=round(others["numpy"].pods_per_s, 1), x_numpy=round(ratio),
                            scan=round(others["kpack-numba"].pods_per_s), note=mine.note,
                            same=same, met=mine.pods_per_s >= TARGET_PODS_S and ratio >= TARGET_RATIO))
    if a.basic:
        sc = S.SCENARIOS["SchedulingBasic/5000Nodes/10000Pods"]()
        for ex in (True, False):
            runner.run_kpack(sc, ex, "auto")
            rates = []
            for _ in range(a.basic_runs):
                dt, res, _ = runner.run_kpack(sc, ex, "auto")
                rates.append(len(res.node_index) / dt)
            out.append(dict(scenario=sc.name, mode="exhaustive" if ex else "sampled",
                            pods_per_s=round(statistics.median(rates)), min=round(min(rates)),
                            max=round(max(rates))))
    if a.json:
        print(json.dumps(out, indent=1))
        return 0
    print("| scenario | mode | kpack auto pods/s (min-max) | numpy pods/s | x numpy | scan (numba) | same "
          "| met |")
    print("|---|---|---|---|---|---|---|---|")
    for r in out:
        if "numpy" in r:
            print(f"| {r['scenario']} | {r['mode']} | {r['pods_per_s']:,} ({r['min']:,}-{r['max']:,}) | "
                  f"{r['numpy']:,} | {r['x_numpy']:,}x | {r['scan']:,} | {'yes' if r['same'] else 'NO'} | "
                  f"{'yes' if r['met'] else 'no'} |")
        else:
            print(f"| {r['scenario']} | {r['mode']} | {r['pods_per_s']:,} ({r['min']:,}-{r['max']:,}) "
                  "| | | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
