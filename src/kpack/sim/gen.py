"""Seeded synthetic trace generator: node pools and shapes, heavy-tailed pods, diurnal arrivals, streamed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import EVENTS_FILE, GPU, NODES_FILE, PODS_FILE, TraceWriter, arrow_schema, write_table

GI = 1 << 30
MI = 1 << 20
DAY = 86_400
ZONES = ("zone-a", "zone-b", "zone-c")
# (pool, share of nodes, [(cpu cores, memory GiB, GPUs, gpu model, weight)], taint or None)
POOLS = (
    (
        "general",
        0.70,
        [
            (4, 16, 0, "", 2),
            (8, 32, 0, "", 4),
            (16, 64, 0, "", 3),
            (32, 128, 0, "", 1),
            (64, 256, 0, "", 0.5),
        ],
        None,
    ),
    ("highmem", 0.12, [(16, 128, 0, "", 2), (32, 256, 0, "", 1)], ("dedicated", "highmem", "NoSchedule")),
    ("spot", 0.13, [(8, 32, 0, "", 2), (16, 64, 0, "", 1)], ("lifecycle", "spot", "NoSchedule")),
    ("gpu", 0.05, [(32, 256, 4, "V100", 1), (64, 512, 8, "A100", 1)], (GPU, "present", "NoSchedule")),
)
CPU_CHOICES = np.array([50, 100, 250, 500, 1000, 2000, 4000, 8000, 16000], dtype=np.int64)
DAEMONSETS = (
    ("log-agent", 100, 128 * MI, None),
    ("node-exporter", 50, 64 * MI, None),
    ("gpu-device-plugin", 50, 64 * MI, "gpu"),
)


def _templates(rng: np.random.Generator, n: int) -> list[dict]:
    """Pod templates (one scheduling class each): heavy-tailed cpu, memory per core, pools, priorities."""
    p = 1.0 / (np.arange(1, len(CPU_CHOICES) + 1) ** 1.1)  # power law over the size ladder
    out = []
    for i in range(n):
        cpu = int(rng.choice(CPU_CHOICES, p=p / p.sum()))
        mem = max(64 * MI, int(cpu * rng.choice([1, 2, 4, 8]) * GI // 1000))
        t = {
            "cpu": cpu,
            "memory": mem,
            "gpu": 0,
            "selector": [],
            "tolerations": [],
            "priority": 0,
            "owner_kind": "Deployment",
            "owner_name": f"app-{i}",
            "gpu_models": "",
        }
        u = rng.random()
        if u < 0.06:
            t.update(
                gpu=int(rng.choice([1, 1, 2, 4])),
                selector=[("pool", "gpu")],
                tolerations=[{"key": GPU, "operator": "Exists", "value": "", "effect": "NoSchedule"}],
                owner_kind="Job",
                owner_name=f"train-{i}",
            )
        elif u < 0.20:
            t.update(
                selector=[("pool", "highmem")],
                memory=mem * 4,
                tolerations=[
                    {"key": "dedicated", "operator": "Equal", "value": "highmem", "effect": "NoSchedule"}
                ],
            )
        elif u < 0.40:
            t.update(
                tolerations=[
                    {"key": "lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
                ],
                owner_kind="Job",
                owner_name=f"batch-{i}",
            )
        elif u < 0.50:
            t.update(selector=[("topology.kubernetes.io/zone", ZONES[i % 3])])
        t["priority"] = int(rng.choice([0, 0, 0, 100, 1000]))
        out.append(t)
    return out


def _nodes(rng: np.random.Generator, n: int, horizon: int) -> dict:
    pools = rng.choice(len(POOLS), size=n, p=np.array([p[1] for p in POOLS]) / sum(p[1] for p in POOLS))
    cols: dict = {k: [] for k in ("pool", "cpu", "memory", GPU, "gpu_model", "labels", "taints")}
    for k in pools.tolist():
        name, _, shapes, taint = POOLS[k]
        w = np.array([s[4] for s in shapes], dtype=float)
        c, m, g, model, _ = shapes[int(rng.choice(len(shapes), p=w / w.sum()))]
        cols["pool"].append(name)
        cols["cpu"].append(c * 1000)
        cols["memory"].append(m * GI)
        cols[GPU].append(g)
        cols["gpu_model"].append(model)
        zone = ZONES[int(rng.integers(3))]
        labels = [
            ("pool", name),
            ("topology.kubernetes.io/zone", zone),
            ("node.kubernetes.io/instance-type", f"{name}-{c}c{m}g"),
        ]
        if model:
            labels.append(("nvidia.com/gpu.product", model))
        cols["labels"].append(labels)
        cols["taints"].append([{"key": taint[0], "value": taint[1], "effect": taint[2]}] if taint else [])
    # ~3% join later (scale-up), ~2% leave gracefully, spot nodes fail now and then.
    add = np.where(rng.random(n) < 0.03, rng.integers(1, max(2, horizon), n), 0)
    remove = np.where(rng.random(n) < 0.02, add + rng.integers(1, max(2, horizon), n), -1)
    spot = pools == [p[0] for p in POOLS].index("spot")
    fail = np.where(spot & (rng.random(n) < 0.10), add + rng.integers(1, max(2, horizon), n), -1)
    remove = np.where((fail >= 0) & (remove >= 0), -1, remove)
    order = np.argsort(add, kind="stable")
    cols = {k: [v[i] for i in order.tolist()] for k, v in cols.items()}
    cols["name"] = [f"node-{i:06d}" for i in range(n)]
    cols["pods"] = [110] * n
    cols["add_time"] = add[order]
    cols["remove_time"] = pa.array(remove[order], mask=remove[order] < 0)
    cols["fail_time"] = pa.array(fail[order], mask=fail[order] < 0)
    return cols


def generate(
    out: str | Path,
    nodes: int,
    pods: int,
    seed: int = 0,
    *,
    load: float = 0.8,
    templates: int = 48,
    chunk: int = 500_000,
    progress: Optional[callable] = None,
    workloads: int = 0,
) -> dict:
    """Write a trace of `nodes` nodes and `pods` pods (2 events each: arrival and departure) to `out`.

    Arrivals are a diurnal Poisson process (rate x (1 + 0.5 sin)) scaled so that the mean cpu load is about
    `load` of the cluster; durations are log-normal (median 20 min, heavy tail, capped at 3 days).
    Pods are streamed in chunks of `chunk` rows, so memory does not grow with `pods`. With `workloads` > 0,
    events.parquet gets that many Deployments and one DaemonSet with rollouts (see `workload_events`); their
    draws use a generator of their own, so nodes.parquet and pods.parquet are the same with or without."""
    if nodes <= 0 or pods < 0:
        raise ValueError(f"nodes/pods: need nodes > 0 and pods >= 0, got {nodes}/{pods}")
    out = Path(out)
    rng = np.random.default_rng(seed)
    tmpl = _templates(rng, templates)
    pop = 1.0 / np.arange(1, templates + 1) ** 1.2
    pop /= pop.sum()
    med, sigma, cap = 20 * 60.0, 1.6, 3 * DAY
    mean_dur = med * math.exp(sigma**2 / 2)
    cpu_mean = float(sum(p * t["cpu"] for p, t in zip(pop, tmpl)))
    # Node cpu mean from the pool mix (estimated before drawing nodes, so the rate does not depend on them).
    shapes = [(share * s[4] / sum(x[4] for x in sh), s[0]) for _, share, sh, _ in POOLS for s in sh]
    node_cpu = 1000 * sum(w * c for w, c in shapes) / sum(w for w, _ in shapes)
    rate = load * nodes * node_cpu / (cpu_mean * mean_dur)  # pods per second
    horizon = int(max(1, pods / rate)) if pods else DAY
    ncols = _nodes(rng, nodes, horizon)
    meta = {
        "generator": "kpack gen",
        "seed": seed,
        "nodes": nodes,
        "pods": pods,
        "horizon_s": horizon,
        "load": load,
    }
    write_table(out, NODES_FILE, ncols, meta)
    (out / EVENTS_FILE).unlink(missing_ok=True)
    if workloads:
        write_table(out, EVENTS_FILE, workload_events(np.random.default_rng([seed, 1]), workloads, horizon),
                    meta)

    # Per-template Arrow columns, gathered by template index per chunk (no per-pod Python objects).
    T = {
        "namespace": pa.array(["default"] * templates, pa.string()),
        "selector": pa.array([t["selector"] for t in tmpl], pa.map_(pa.string(), pa.string())),
        "tolerations": pa.array(
            [t["tolerations"] for t in tmpl], arrow_schema(PODS_FILE).field("tolerations").type
        ),
        "owner_kind": pa.array([t["owner_kind"] for t in tmpl], pa.string()),
        "owner_name": pa.array([t["owner_name"] for t in tmpl], pa.string()),
    }
    t_cpu = np.array([t["cpu"] for t in tmpl], np.int64)
    t_mem = np.array([t["memory"] for t in tmpl], np.int64)
    t_gpu = np.array([t["gpu"] for t in tmpl], np.int64)
    t_pri = np.array([t["priority"] for t in tmpl], np.int64)
    # DaemonSet pods: one per matching node, created when the node joins.
    ds_rows = []
    pools = ncols["pool"]
    for ds, cpu, mem, pool in DAEMONSETS:
        for j, nm in enumerate(ncols["name"]):
            if pool is None or pools[j] == pool:
                ds_rows.append((int(ncols["add_time"][j]), ds, nm, cpu, mem))
    ds_rows.sort(key=lambda r: r[0])
    ds_time = np.array([r[0] for r in ds_rows], np.int64)

    cols = [
        "name",
        "namespace",
        "arrival",
        "duration",
        "cpu",
        "memory",
        GPU,
        "node_selector",
        "tolerations",
        "priority",
        "owner_kind",
        "owner_name",
        "pinned_node",
    ]
    schema = arrow_schema(PODS_FILE, columns=cols)
    all_tol = [{"key": "", "operator": "Exists", "value": "", "effect": ""}]
    written, ds_done, t0, seq = 0, 0, 0.0, 0
    lam_max = rate * 1.5
    with TraceWriter(out, PODS_FILE, schema, meta) as w:
        while written < pods or ds_done < len(ds_rows):
            # Candidate window sized for ~chunk accepted arrivals (thinning of the diurnal rate).
            span = max(1.0, chunk / rate)
            if written >= pods:
                span = float(2**62)
            n_cand = int(rng.poisson(lam_max * span)) if written < pods else 0
            times = np.sort(t0 + rng.random(n_cand) * span)
            keep = rng.random(n_cand) < (1 + 0.5 * np.sin(2 * np.pi * times / DAY)) / 1.5
            times = np.floor(times[keep]).astype(np.int64)[: pods - written]
            t1 = t0 + span
            k = len(times)
            ti = rng.choice(templates, size=k, p=pop).astype(np.int32)
            dur = np.minimum(cap, np.ceil(rng.lognormal(math.log(med), sigma, k))).astype(np.int64)
            e = np.searchsorted(ds_time, t1 if written + k < pods else 2**62, side="left")
            ds = ds_rows[ds_done:e]
            ds_done = e
            nd = len(ds)
            arrival = np.concatenate([np.array([r[0] for r in ds], np.int64), times])
            order = np.argsort(arrival, kind="stable")
            idx_t = pa.array(np.maximum(ti, 0))
            names = pc.binary_join_element_wise(
                pc.take(T["owner_name"], idx_t), pc.cast(pa.array(np.arange(seq, seq + k)), pa.string()), "-"
            )
            seq += k
            ds_kw = {
                "name": [f"{r[1]}-{r[2]}" for r in ds],
                "owner_name": [r[1] for r in ds],
                "pinned_node": [r[2] for r in ds],
            }
            chunk_cols = {
                "name": pa.concat_arrays([pa.array(ds_kw["name"], pa.string()), names]),
                "namespace": pa.concat_arrays(
                    [pa.array(["kube-system"] * nd, pa.string()), pc.take(T["namespace"], idx_t)]
                ),
                "arrival": arrival,
                "duration": pa.concat_arrays([pa.nulls(nd, pa.int64()), pa.array(dur)]),
                "cpu": np.concatenate([np.array([r[3] for r in ds], np.int64), t_cpu[ti]]),
                "memory": np.concatenate([np.array([r[4] for r in ds], np.int64), t_mem[ti]]),
                GPU: np.concatenate([np.zeros(nd, np.int64), t_gpu[ti]]),
                "node_selector": pa.concat_arrays(
                    [pa.array([[]] * nd, T["selector"].type), pc.take(T["selector"], idx_t)]
                ),
                "tolerations": pa.concat_arrays(
                    [pa.array([all_tol] * nd, T["tolerations"].type), pc.take(T["tolerations"], idx_t)]
                ),
                "priority": np.concatenate([np.full(nd, 2000, np.int64), t_pri[ti]]),
                "owner_kind": pa.concat_arrays(
                    [pa.array(["DaemonSet"] * nd, pa.string()), pc.take(T["owner_kind"], idx_t)]
                ),
                "owner_name": pa.concat_arrays(
                    [pa.array(ds_kw["owner_name"], pa.string()), pc.take(T["owner_name"], idx_t)]
                ),
                "pinned_node": pa.concat_arrays(
                    [pa.array(ds_kw["pinned_node"], pa.string()), pa.nulls(k, pa.string())]
                ),
            }
            tab = pa.table(chunk_cols).take(pa.array(order))
            tab = pa.table({c: tab.column(c).cast(schema.field(c).type) for c in cols}, schema=schema)
            w.write({c: tab.column(c) for c in cols})
            written += k
            t0 = t1
            if progress:
                progress(written)
    return {"nodes": nodes, "pods": written + len(ds_rows), "horizon_s": horizon, "dir": str(out)}


def _manifest(kind: str, name: str, image: str, cpu: int, mem: int, replicas: Optional[int] = None) -> str:
    spec: dict = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": image,
                                     "resources": {"requests": {"cpu": f"{cpu}m", "memory": str(mem)}}}],
                     "tolerations": [{"operator": "Exists"}] if kind == "DaemonSet" else []},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
        spec["strategy"] = {"type": "RollingUpdate",
                            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    else:  # a DaemonSet: 10 % at a time (pods on failed nodes never become Ready, so 1 at a time would stall)
        spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}
    meta = {"name": name, "namespace": "default"}
    return json.dumps({"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}, sort_keys=True)


def workload_events(rng: np.random.Generator, n: int, horizon: int) -> dict:
    """events.parquet columns: `n` Deployments (2-20 replicas of 100m-2 cpu, no tolerations, so on the
    general pool) created in the first tenth of the horizon, each rolled to a new image once later, a third of
    them rolled back, a third scaled, a few deleted near the end; one DaemonSet (`workload-agent`, on every
    node) created at time 1 and rolled once."""
    ev: list[tuple] = []   # (time, order, kind, action, name, replicas, manifest)
    h = max(10, horizon)
    ev.append((1, 0, "DaemonSet", "create", "workload-agent", None,
               _manifest("DaemonSet", "workload-agent", "agent:1", 50, 64 * MI)))
    ev.append((int(rng.integers(h // 4, h // 2)), 1, "DaemonSet", "update", "workload-agent", None,
               _manifest("DaemonSet", "workload-agent", "agent:2", 50, 64 * MI)))
    for i in range(n):
        name = f"web-{i}"
        cpu = int(rng.choice([100, 250, 500, 1000, 2000]))
        mem = int(cpu * int(rng.choice([1, 2, 4])) * MI)
        reps = int(rng.integers(2, 21))
        t0 = int(rng.integers(1, max(2, h // 10)))
        ev.append((t0, 2, "Deployment", "create", name, None, _manifest("Deployment", name, "app:1", cpu, mem,
                                                                          reps)))
        t1 = int(rng.integers(t0 + 1, max(t0 + 2, h)))
        ev.append((t1, 3, "Deployment", "update", name, None, _manifest("Deployment", name, "app:2", cpu, mem,
                                                                          reps)))
        u = rng.random()
        if u < 1 / 3:
            ev.append((int(rng.integers(t1 + 1, max(t1 + 2, h + 1))), 4, "Deployment", "rollback", name, None,
                       None))
        elif u < 2 / 3:
            ev.append((int(rng.integers(t0 + 1, max(t0 + 2, h + 1))), 4, "Deployment", "update", name,
                       int(rng.integers(1, 31)), None))
        if rng.random() < 0.1:
            ev.append((h + 1, 5, "Deployment", "delete", name, None, None))
    ev.sort(key=lambda e: (e[0], e[1], e[4]))
    return {
        "time": [e[0] for e in ev],
        "kind": [e[2] for e in ev],
        "action": [e[3] for e in ev],
        "name": [e[4] for e in ev],
        "replicas": pa.array([e[5] for e in ev], pa.int64()),
        "manifest": pa.array([e[6] for e in ev], pa.string()),
    }
