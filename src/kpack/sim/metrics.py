"""Replay metrics: fragmentation, wait-time histogram statistics, and writing metrics/summary outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

WAIT_EDGES = np.concatenate([[0, 1], np.logspace(0, 7, 57)[1:]])  # seconds; [0,1) then log bins to 1e7


def fragmentation(backend: Any, present: np.ndarray, ref: np.ndarray) -> float:
    """Share of free cpu (on present, schedulable nodes) that sits on nodes where the mean arriving pod
    (cpu, memory) no longer fits: capacity in pieces too small for the typical workload."""
    free, unsched = backend.free_matrix()
    ok = present & ~unsched
    if not ok.any() or ref[0] <= 0:
        return 0.0
    cpu = free[ok, 0].astype(np.float64)
    fits = (cpu >= ref[0]) & (free[ok, 1] >= ref[1])
    total = cpu[cpu > 0].sum()
    return float(cpu[(~fits) & (cpu > 0)].sum() / total) if total > 0 else 0.0


def column_max(pf: Any, column: str) -> Optional[int]:
    """The largest value of an int column of a ParquetFile, from row-group statistics (the column is read
    only for row groups without them); None if the column is absent or all null."""
    names = pf.schema_arrow.names
    if column not in names:
        return None
    ci = names.index(column)
    md = pf.metadata
    best: Optional[int] = None
    for g in range(md.num_row_groups):
        st = md.row_group(g).column(ci).statistics
        if st is not None and st.has_min_max:
            v = int(st.max)
        elif st is not None and st.null_count == md.row_group(g).num_rows:
            continue
        else:
            a = pf.read_row_group(g, columns=[column]).column(0).drop_null()
            if not len(a):
                continue
            v = int(pc.max(a).as_py())
        best = v if best is None else max(best, v)
    return best


def ended_by(pods_file: Any) -> int:
    """The latest arrival + duration of the trace's pods (0 without a duration column): two int columns read
    one row group at a time."""
    if "duration" not in pods_file.schema_arrow.names:
        return 0
    best = 0
    for g in range(pods_file.metadata.num_row_groups):
        t = pods_file.read_row_group(g, columns=["arrival", "duration"])
        a = t.column(0).to_numpy(zero_copy_only=False).astype(np.int64)
        d = t.column(1).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        if len(a):
            best = max(best, int((a + d).max()))
    return best


def sample_interval(pods_file: Any, last_event: int, samples: int, window: int = 0) -> int:
    """Seconds between metric samples: a bound on the replay's end over `samples`. The bound is the latest of
    the last arrival, the last fixed departure, the latest arrival + duration of a pod, and `last_event`
    (node and workload events): a replay whose pods do not wait ends by then, so it takes at most
    `samples` + 1 samples (more only when waiting pushes the end past the bound)."""
    arrival = column_max(pods_file, "arrival") or 0
    dep = column_max(pods_file, "departure") or 0
    horizon = max(arrival + window, dep + window, ended_by(pods_file) + window, last_event, 1)
    return max(1, -(-horizon // max(1, samples)))


def thin_samples(met: dict, interval: int, samples: int) -> int:
    """Keep the metric samples within `samples` + 1: past that (pods waited beyond the bound of
    `sample_interval`), the interval doubles and only the first sample of each doubled interval is kept, as
    if sampled at that interval from the start. Returns the interval to use from now on. `placements_per_s`
    holds cumulative placements until `sample_rates`."""
    while len(met["time"]) > samples + 1:
        interval *= 2
        t = met["time"]
        keep = [i for i in range(len(t)) if i == 0 or t[i] // interval != t[i - 1] // interval]
        for k in met:
            met[k] = [met[k][i] for i in keep]
    return interval


def sample_rates(met: dict) -> None:
    """Cumulative placements per sample -> placements per simulated second since the previous sample."""
    t, placed = met["time"], met["placements_per_s"]
    rates, t0, p0 = [], 0, 0
    for ti, pi in zip(t, placed):
        dt = ti - t0
        rates.append((pi - p0) / dt if dt > 0 else 0.0)
        t0, p0 = ti, pi
    met["placements_per_s"] = rates


def mean(v: list) -> float:
    return float(np.mean(v)) if v else 0.0


def wait_stats(hist: np.ndarray, total: int, mx: int) -> dict:
    n = int(hist.sum())
    if not n:
        return {"placed": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0}
    cum = np.cumsum(hist)

    def pct(q):  # upper edge of the bin holding the q-quantile (0 for the [0, 1) bin)
        b = int(np.searchsorted(cum, q * n, side="left"))
        return 0.0 if b == 0 else float(min(WAIT_EDGES[min(b + 1, len(WAIT_EDGES) - 1)], mx))

    return {"placed": n, "mean": total / n, "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": mx}


def metrics_table(met: dict) -> pa.Table:
    """The metric samples as a table: counts as int64, shares and fractions as float64."""
    counts = ("time", "pending", "running", "nodes")
    return pa.table({k: pa.array(v, pa.int64() if k in counts else pa.float64()) for k, v in met.items()})


def summary_of(trace_name: str, backend: str, policy: str, opts: Any, nodes: int, pods: int, events: int,
               counts: dict, running: int, pending: int, wait_hist: np.ndarray, wait_sum: int, wait_max: int,
               met: dict, res_names: list, reasons: dict) -> dict:
    """summary.json of one replay (both event loops write the same one)."""
    return {
        "trace": trace_name,
        "backend": backend,
        "policy": policy,
        "profile": "default" if opts.profile is None else "custom",
        "seed": opts.seed,
        "window_s": opts.window,
        "nodes": nodes,
        "pods": pods,
        "events": int(events),
        "placements": int(counts["placements"]),
        "departures": int(counts["departures"]),
        "evictions": int(counts["evictions"]),
        "deleted_while_pending": int(counts["deleted_pending"]),
        "running_at_end": int(running),
        "pending_at_end": int(pending),
        "never_placed": int(pods - int(wait_hist.sum())),
        "scheduling_attempts": int(counts["attempts"]),
        "node_events": {k[5:]: int(v) for k, v in sorted(counts.items()) if k.startswith("node_")},
        "wait_s": wait_stats(wait_hist, wait_sum, wait_max),
        "max_pending": int(max(met["pending"], default=0)),
        "mean_allocation": {r: mean(met[f"alloc_{r}"]) for r in res_names},
        "peak_allocation": {r: float(max(met[f"alloc_{r}"], default=0.0)) for r in res_names},
        "mean_fragmentation": mean(met["fragmentation"]),
        "top_pending_reasons": [
            [k, int(v)] for k, v in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        ],
    }


def write_outputs(result: Any, out: str | Path) -> dict[str, Path]:
    """metrics.parquet, summary.json and wait_hist.parquet of one replay (placements.parquet is streamed by
    the replay itself). Timing goes to timing.json: it is the only output that differs between runs."""
    import pyarrow as pa

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out / "metrics.parquet",
        "summary": out / "summary.json",
        "timing": out / "timing.json",
        "wait_hist": out / "wait_hist.parquet",
    }
    pq.write_table(result.metrics, paths["metrics"], compression="zstd")
    pq.write_table(pa.table({"wait_from_s": WAIT_EDGES, "pods": result.wait}), paths["wait_hist"])
    paths["summary"].write_text(json.dumps(result.summary, indent=2, sort_keys=True) + "\n")
    paths["timing"].write_text(json.dumps(result.timing, indent=2, sort_keys=True) + "\n")
    return paths
