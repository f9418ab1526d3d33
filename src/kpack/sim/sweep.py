"""Sweeps: traces x policies/profiles x seeds on a local process pool or on Ray; one Parquet table."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

SCALARS = (
    "backend",
    "policy",
    "profile",
    "seed",
    "window_s",
    "nodes",
    "pods",
    "events",
    "placements",
    "departures",
    "evictions",
    "running_at_end",
    "pending_at_end",
    "never_placed",
    "max_pending",
    "mean_fragmentation",
    "unallocated_gpu_pct",
)


def parse_list(text: str) -> list[str]:
    return [x.strip() for x in str(text).split(",") if x.strip()]


def run_one(task: dict) -> dict:
    """One (trace, variant, seed) replay without file outputs; a flat row for the sweep table."""
    from .cli import variant
    from .replay import Replay, SimOptions

    label, kw = variant(task["variant"], None)
    res = Replay(task["trace"], SimOptions(seed=task["seed"], window=task["window"], **kw)).run(None)
    s = res.summary
    row = {"trace": str(task["trace"]), "variant": label}
    for k in SCALARS:
        v = s.get(k)
        row[k] = float(v) if k in ("mean_fragmentation", "unallocated_gpu_pct") else v
        if k in ("unallocated_gpu_pct",) and v is None:
            row[k] = float("nan")
    row["profile"] = str(s.get("profile"))
    row["wait_mean_s"] = float(s["wait_s"]["mean"])
    for r, v in s["mean_allocation"].items():
        row[f"mean_alloc_{r}"] = float(v)
    row["replay_s"] = float(res.timing["run_s"])
    return row


def tasks(
    traces: Sequence[str],
    policies: Sequence[str],
    configs: Sequence[str],
    seeds: Sequence[int],
    window: int = 0,
) -> list[dict]:
    variants = list(policies) + [c for c in configs if c != "default" or not policies]
    for t in traces:
        if not Path(t).is_dir():
            raise ValueError(f"trace: not a directory: {t}")
    return [
        {"trace": t, "variant": v, "seed": int(s), "window": window}
        for t in traces
        for v in variants
        for s in seeds
    ]


def run_sweep(
    traces: Sequence[str],
    policies: Sequence[str],
    configs: Sequence[str],
    seeds: Sequence[int],
    out: str | Path,
    window: int = 0,
    workers: Optional[int] = None,
    ray_address: Optional[str] = None,
) -> tuple[pa.Table, Path]:
    """Run the grid; rows come back in grid order either way, so the table is the same on both executors
    (but for replay_s)."""
    grid = tasks(traces, policies, configs, seeds, window)
    if ray_address is not None:
        rows = _on_ray(grid, ray_address)
    elif (workers or os.cpu_count() or 1) == 1 or len(grid) == 1:
        rows = [run_one(t) for t in grid]
    else:
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as ex:
            rows = list(ex.map(run_one, grid))
    table = pa.Table.from_pylist(rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sweep.parquet"
    pq.write_table(table, path)
    return table, path


def _on_ray(grid: list[dict], address: str) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise ValueError("--ray: Ray is not installed (pip install 'kpack[ray]')") from None
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=None if address == "local" else address,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )
    try:
        remote = ray.remote(run_one)
        return ray.get([remote.remote(t) for t in grid])
    finally:
        if started:
            ray.shutdown()
