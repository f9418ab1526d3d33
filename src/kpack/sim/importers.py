"""Importers to the Parquet trace format: the Alibaba openb CSVs, and Kubernetes Node manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pyarrow as pa

from .schema import GPU, NODES_FILE, PODS_FILE, write_table

MIB = 1 << 20


def openb_nodes_columns(nodes, rank: Optional[np.ndarray] = None) -> dict:
    """nodes.parquet columns for an openb NodeTable (memory MiB -> bytes, model -> gpu_model)."""
    n = len(nodes)
    cols = {
        "name": nodes.names.tolist(),
        "cpu": nodes.cpu_milli,
        "memory": nodes.memory_mib * MIB,
        "pods": np.full(n, 110, np.int64),
        GPU: nodes.num_gpu.astype(np.int64),
        "gpu_model": [nodes.models[c] if c >= 0 else "" for c in nodes.model_code.tolist()],
        "labels": [[] for _ in range(n)],
    }
    if rank is not None:
        cols["tiebreak_rank"] = rank.astype(np.int64)
    return cols


def typical_groups(pods) -> list[list]:
    """(cpu, gpu_milli, num_gpu, gpu_spec, count) groups in first-appearance order: the input of FGD's
    typical_pods, recorded so a replay of an inflated workload uses the experiment's target workload."""
    counts: dict[tuple, int] = {}
    for c, g, k, s in zip(
        pods.cpu_milli.tolist(), pods.gpu_milli.tolist(), pods.num_gpu.tolist(), pods.gpu_spec
    ):
        counts[(c, g, k, s)] = counts.get((c, g, k, s), 0) + 1
    return [[c, g, k, s, n] for (c, g, k, s), n in counts.items()]


def import_openb(
    nodes_csv: str | Path,
    pods_csv: str | Path,
    out: str | Path,
    experiment_seed: Optional[int] = None,
    tune: Optional[float] = None,
) -> dict:
    """openb CSVs -> a trace directory.

    Default: arrival = creation_time, departure = deletion_time (pods sorted by creation time; a deletion
    before creation is dropped). With `experiment_seed`, the workload of `kpack experiment fgd --seed S`
    instead: the experiment's shuffled and inflated arrival order (one pod per second, none leaving), and
    the draws that follow it (node tie-break ranks, the policy kernel's seed), so `kpack simulate --policy P`
    on it places every pod exactly as the experiment does."""
    from ..experiments.fgd import TUNE_RATIO, inflate
    from ..experiments.openb import read_nodes, read_pods

    nodes = read_nodes(nodes_csv)
    pods = read_pods(pods_csv)
    out = Path(out)
    meta: dict = {"source": f"openb:{Path(pods_csv).name}"}
    if experiment_seed is None:
        created, deleted = _openb_times(Path(pods_csv))
        order = np.argsort(created, kind="stable")
        arrival = created[order] - (created.min() if len(created) else 0)
        dep = deleted[order] - (created.min() if len(created) else 0)
        departure = pa.array(dep, mask=(deleted[order] < 0) | (dep < arrival))
        rank = None
        names = pods.names[order].tolist()
    else:
        tune = TUNE_RATIO if tune is None else tune
        rng = np.random.default_rng(int(experiment_seed))
        order = inflate(pods, nodes.total_gpu_milli, rng, tune)
        rank = rng.permutation(len(nodes)).astype(np.int64)[np.argsort(np.argsort(nodes.names.astype(str)))]
        meta.update(
            policy_seed=int(rng.integers(0, 2**63 - 1)),
            experiment_seed=int(experiment_seed),
            tune=tune,
            typical_pods=typical_groups(pods),
        )
        arrival = np.arange(len(order), dtype=np.int64)
        departure = pa.nulls(len(order), pa.int64())
        seen: dict[str, int] = {}
        names = []
        for nm in pods.names[order].tolist():  # clones get a suffix: names stay unique
            k = seen.get(nm, 0)
            seen[nm] = k + 1
            names.append(nm if k == 0 else f"{nm}-clone{k}")
    sel = pods.take(order)
    sharing = (sel.num_gpu > 0) & (sel.gpu_milli < 1000)
    write_table(out, NODES_FILE, openb_nodes_columns(nodes, rank), meta)
    write_table(
        out,
        PODS_FILE,
        {
            "name": names,
            "arrival": arrival,
            "departure": departure,
            "cpu": sel.cpu_milli,
            "memory": sel.memory_mib * MIB,
            GPU: sel.num_gpu.astype(np.int64),
            "gpu_milli": pa.array(sel.gpu_milli.astype(np.int64), mask=~sharing),
            "gpu_models": sel.gpu_spec.tolist(),
            "owner_kind": ["openb"] * len(names),
        },
        meta,
    )
    return {"nodes": len(nodes), "pods": len(names), "dir": str(out)}


def _openb_times(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """creation_time and deletion_time (seconds; -1 when empty) of an openb pod list, in file order."""
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if r]
    header = [h.strip() for h in rows[0]]
    for c in ("creation_time", "deletion_time"):
        if c not in header:
            raise ValueError(f"{path}: missing column {c!r} (needed for arrival/departure times)")
    ci, di = header.index("creation_time"), header.index("deletion_time")
    created, deleted = [], []
    for line, r in enumerate(rows[1:], start=2):
        try:
            created.append(int(float(r[ci] or 0)))
            deleted.append(int(float(r[di])) if r[di].strip() else -1)
        except ValueError:
            raise ValueError(
                f"{path}: row {line}: creation_time/deletion_time not a number: {r[ci]!r}/{r[di]!r}"
            ) from None
    return np.array(created, np.int64), np.array(deleted, np.int64)


def import_manifests(files: Sequence[str | Path], out: str | Path) -> dict:
    """Node objects of Kubernetes manifests (YAML/JSON files or directories) -> nodes.parquet."""
    from ..manifests import load_manifests
    from ..models import Node
    from ..resources import BASE_RESOURCES

    objs = []
    for f in files:
        objs.extend(load_manifests(f))
    nodes = [o for o in objs if isinstance(o, Node)]
    if not nodes:
        raise ValueError(f"manifests {', '.join(map(str, files))}: no Node objects found")
    extra = sorted({r for n in nodes for r in n.allocatable} - set(BASE_RESOURCES))
    cols: dict = {"name": [n.name for n in nodes]}
    for r in list(BASE_RESOURCES) + extra:
        cols[r] = np.array([n.allocatable.get(r, 0) for n in nodes], np.int64)
    cols["gpu_model"] = [n.labels.get("nvidia.com/gpu.product", "") for n in nodes]
    cols["labels"] = [
        sorted((k, v) for k, v in n.labels.items() if k != "nvidia.com/gpu.product") for n in nodes
    ]
    cols["taints"] = [[{"key": t.key, "value": t.value, "effect": t.effect} for t in n.taints] for n in nodes]
    cols["unschedulable"] = [n.unschedulable for n in nodes]
    path = write_table(out, NODES_FILE, cols, {"source": "manifests"})
    return {"nodes": len(nodes), "file": str(path)}
