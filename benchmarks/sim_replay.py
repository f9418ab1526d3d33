"""Whole-process trace replay benchmark: `kpack simulate` (trace read to report written) as a subprocess.

    python benchmarks/sim_replay.py TRACE_DIR [TRACE_DIR...] [--window 60] [--policy NAME] [--out DIR]
                                    [--baseline]

Prints, per trace: events, wall seconds, events/s (whole process: `kpack simulate` from start to report
written), the child's CPU seconds and events per CPU second (what an idle core would give), the replay's
placement vs bookkeeping split (timing.json: placement = the per-pod
filter/score/select/commit cycle, counted in CPU cycles inside the compiled loop; bookkeeping = everything
else, including reading the trace, the event loop, metrics, outputs and loading the compiled kernel), the
peak number of live (running + pending) pods, and the child's peak RSS. --baseline also replays each trace
on the Python event loop (`--python-loop`, the reference) and prints the speed-up. Generate traces first,
e.g. `kpack gen --nodes 5000 --pods 500000 --seed 1 --out /tmp/g5k`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(trace: str, window: int, policy: str | None, out: Path, python_loop: bool = False) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "kpack.cli",
        "simulate",
        trace,
        "--quiet",
        "--window",
        str(window),
        "--out",
        str(out),
    ]
    if policy:
        cmd += ["--policy", policy]
    if python_loop:
        cmd += ["--python-loop"]
    code = (
        "import resource, subprocess, sys, json; r = subprocess.run(sys.argv[1:]); "
        "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(json.dumps({'rc': r.returncode, 'maxrss_kb': u.ru_maxrss, 'cpu_s': u.ru_utime + u.ru_stime}))"
    )
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    info = json.loads(p.stdout.strip().splitlines()[-1])
    if info["rc"] != 0:
        raise SystemExit(f"simulate failed: {p.stderr}")
    s = json.loads((out / "summary.json").read_text())
    t = json.loads((out / "timing.json").read_text())
    import pyarrow.parquet as pq

    m = pq.read_table(out / "metrics.parquet", columns=["running", "pending"])
    return {
        "trace": trace,
        "window": window,
        "pods": s["pods"],
        "events": s["events"],
        "wall_s": wall,
        "events_per_s": s["events"] / wall,
        # CPU seconds of the child (user + system): on a loaded machine, wall time is mostly waiting
        "cpu_s": info["cpu_s"],
        "events_per_cpu_s": s["events"] / info["cpu_s"],
        "replay_events_per_s": s["events"] / t["run_s"],
        "replay_s": t["run_s"],
        "placement_s": t["placement_s"],
        "bookkeeping_pct": 100 * t["bookkeeping_s"] / t["run_s"],
        "peak_rss_mb": info["maxrss_kb"] / 1024,
        "path": t.get("path"),
        "kernel_load_s": t.get("kernel_load_s"),
        "peak_live_pods": int(max(r + p for r, p in zip(m["running"].to_pylist(), m["pending"].to_pylist()))),
        "attempts": s["scheduling_attempts"],
        "placements": s["placements"],
        "pending_at_end": s["pending_at_end"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("trace", nargs="+")
    ap.add_argument("--window", type=int, default=0)
    ap.add_argument("--policy")
    ap.add_argument("--out")
    ap.add_argument("--baseline", action="store_true", help="also run the Python event loop (slow)")
    a = ap.parse_args()
    rows = []
    for tr in a.trace:
        out = Path(a.out or tempfile.mkdtemp(prefix="kpack-sim-")) / Path(tr).name
        rows.append(run(tr, a.window, a.policy, out))
        print(json.dumps(rows[-1]), flush=True)
        if a.baseline:
            base = run(tr, a.window, a.policy, out.with_name(out.name + "-python"), python_loop=True)
            print(json.dumps(base), flush=True)
            print(f"speed-up, whole process: {base['wall_s'] / rows[-1]['wall_s']:.1f}x; replay only: "
                  f"{base['replay_s'] / rows[-1]['replay_s']:.1f}x", flush=True)
    print(
        f"\n{'trace':30} {'events':>10} {'wall s':>8} {'events/s':>10} {'CPU s':>7} {'ev/CPU s':>9} "
        f"{'placement s':>11} "
        f"{'bookkeep %':>10} {'peak live':>9} {'peak RSS MB':>11}"
    )
    for r in rows:
        print(
            f"{r['trace'][-30:]:30} {r['events']:>10,} {r['wall_s']:>8.1f} {r['events_per_s']:>10,.0f} "
            f"{r['cpu_s']:>7.1f} {r['events_per_cpu_s']:>9,.0f} "
            f"{r['placement_s']:>11.1f} {r['bookkeeping_pct']:>10.1f} {r['peak_live_pods']:>9,} "
            f"{r['peak_rss_mb']:>11.0f}"
        )


if __name__ == "__main__":
    main()
