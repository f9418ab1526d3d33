"""ClusterState: nodes as rows of columnar int64 arrays, labels and taints as integer codes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from .models import GPU_RESOURCE, Node, Pod, Taint, quantities
from .resources import BASE_RESOURCES, COL_CPU, COL_MEMORY, COL_PODS, MAX_RESOURCE_COLUMNS

_EFFECT_CODE = {"NoSchedule": 0, "PreferNoSchedule": 1, "NoExecute": 2}
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class ClusterError(ValueError):
    """Invalid cluster input (duplicate node, pod bound to a missing node, ...)."""


GPU_TAGS = 9   # GpuClustering tags: [0] GPU-sharing pods, [k] pods with k whole GPUs (k >= 8 in [8])


def device_table(gpu_alloc: np.ndarray) -> np.ndarray:
    """int32 [N, max devices]: 1000 free milli-GPU on each of a node's devices, 0 on padding columns."""
    width = int(gpu_alloc.max()) if len(gpu_alloc) else 0
    free = np.zeros((len(gpu_alloc), width), dtype=np.int32)
    free[np.arange(width)[None, :] < gpu_alloc[:, None]] = 1000
    return free


def _check_width(columns: int) -> None:
    if columns > MAX_RESOURCE_COLUMNS:
        raise ClusterError(f"{columns} distinct resource names: kpack supports at most {MAX_RESOURCE_COLUMNS} "
                           f"resource columns ({MAX_RESOURCE_COLUMNS - len(BASE_RESOURCES)} besides cpu, memory, "
                           "ephemeral-storage and pods)")


def assign_devices(free_row: np.ndarray, count: int, milli: int) -> bool:
    """Reserve devices for a bound pod (best-fit device for a share, lowest-index free devices otherwise)."""
    if milli < 1000:
        fits = np.flatnonzero(free_row >= milli)
        if not len(fits):
            return False
        d = fits[np.argmin(free_row[fits])]
        free_row[d] -= milli
        return True
    full = np.flatnonzero(free_row == 1000)[:count]
    if len(full) < count:
        return False
    free_row[full] = 0
    return True


class Cluster:
    """Columnar cluster state.

    allocatable/requested are int64 [N, R]; `nonzero_requested` [N, 2] holds the cpu/memory totals with
    upstream's non-zero defaults (scoring only). requested[:, pods] counts bound pods.
    Labels: `label_keys` vocabulary and `label_codes` int32 [N, K] (-1 = absent) into `label_values`.
    Taints: `taints` table (unique key/value/effect) and `node_taints` int32 [N, T] (-1 padded, node order).
    """

    def __init__(self, nodes: Iterable[Node], pods: Iterable[Pod] = ()):
        nodes = list(nodes)
        pods = list(pods)
        names = [n.name for n in nodes]
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise ClusterError(f"duplicate node name {n!r}")
            seen.add(n)
        extra = sorted({r for n in nodes for r in n.allocatable} - set(BASE_RESOURCES))
        _check_width(len(BASE_RESOURCES) + len(extra))
        self.node_names: list[str] = names
        self.node_index: dict[str, int] = {n: i for i, n in enumerate(names)}
        self.resource_names: list[str] = list(BASE_RESOURCES) + extra
        self.resource_index: dict[str, int] = {r: i for i, r in enumerate(self.resource_names)}
        N, R = len(nodes), len(self.resource_names)
        self.allocatable = np.zeros((N, R), dtype=np.int64)
        for i, n in enumerate(nodes):
            for r, v in n.allocatable.items():
                self.allocatable[i, self.resource_index[r]] = v
        self.requested = np.zeros((N, R), dtype=np.int64)
        self.nonzero_requested = np.zeros((N, 2), dtype=np.int64)
        self.unschedulable = np.array([n.unschedulable for n in nodes], dtype=np.bool_)
        gi = self.resource_index.get(GPU_RESOURCE)
        # GPU devices (nvidia.com/gpu), free milli-GPU per device; see kpack.gpu.plugins for sharing.
        self.gpu_free = device_table(self.allocatable[:, gi] if gi is not None else np.zeros(N, np.int64))
        self.gpu_tags = np.zeros((N, GPU_TAGS), dtype=np.int64)   # GpuClustering: GPU pods per kind
        self._nodes: list[Node] = nodes
        self._encode_labels()
        self._encode_taints()
        self._bound_pods: list[Pod] = []
        self._bound_nodes: list[np.ndarray] = []
        if pods:
            unbound = [p.name for p in pods if not p.node_name]
            if unbound:
                raise ClusterError(f"pod {unbound[0]!r}: spec.nodeName is required for pods passed to Cluster "
                                   "(unbound pods go to Scheduler.schedule)")
            self.ensure_resources(r for p in pods for r in p.requests)
            idx = []
            for p in pods:
                if p.node_name not in self.node_index:
                    raise ClusterError(f"pod {p.name!r}: spec.nodeName {p.node_name!r} is not a node of this cluster")
                idx.append(self.node_index[p.node_name])
            self.bind(pods, np.asarray(idx, dtype=np.int32))

    # --- encoding -----------------------------------------------------------------------------------
    def _encode_labels(self) -> None:
        keys = sorted({k for n in self._nodes for k in n.labels})
        self.label_keys: list[str] = keys
        self.label_key_index = {k: i for i, k in enumerate(keys)}
        values: dict[str, int] = {}
        codes = np.full((len(self._nodes), len(keys)), -1, dtype=np.int32)
        for i, n in enumerate(self._nodes):
            for k, v in n.labels.items():
                codes[i, self.label_key_index[k]] = values.setdefault(v, len(values))
        self.label_values: list[str] = list(values)
        self.label_value_index = values
        self.label_codes = codes

    def _encode_taints(self) -> None:
        table: dict[tuple[str, str, str], int] = {}
        width = max((len(n.taints) for n in self._nodes), default=0)
        node_taints = np.full((len(self._nodes), width), -1, dtype=np.int32)
        for i, n in enumerate(self._nodes):
            for j, t in enumerate(n.taints):
                node_taints[i, j] = table.setdefault((t.key, t.value, t.effect), len(table))
        self.taints: list[Taint] = [Taint(key=k, value=v, effect=e) for (k, v, e) in table]
        self.taint_effect = np.array([_EFFECT_CODE[t.effect] for t in self.taints], dtype=np.int8)
        self.node_taints = node_taints

    # --- mutation -----------------------------------------------------------------------------------
    def ensure_resources(self, names: Iterable[str]) -> None:
        """Add zero columns for resource names the cluster has not seen (a pod asking for a new one)."""
        new = sorted(set(names) - set(self.resource_index))
        if not new:
            return
        _check_width(len(self.resource_names) + len(new))
        self.resource_names += new
        self.resource_index = {r: i for i, r in enumerate(self.resource_names)}
        pad = np.zeros((len(self.node_names), len(new)), dtype=np.int64)
        self.allocatable = np.ascontiguousarray(np.hstack([self.allocatable, pad]))
        self.requested = np.ascontiguousarray(np.hstack([self.requested, pad]))

    def pod_vectors(self, pods: Sequence[Pod]) -> tuple[np.ndarray, np.ndarray]:
        """Request matrix [P, R] (pods column = 1) and non-zero cpu/memory [P, 2] for `pods`."""
        self.ensure_resources(r for p in pods for r in p.requests)
        req = np.zeros((len(pods), len(self.resource_names)), dtype=np.int64)
        nz = np.zeros((len(pods), 2), dtype=np.int64)
        ri = self.resource_index
        for i, p in enumerate(pods):
            for r, v in p.requests.items():
                req[i, ri[r]] = v
            nz[i, 0], nz[i, 1] = p.scoring_cpu, p.scoring_memory
        req[:, COL_PODS] = 1
        return req, nz

    def bind(self, pods: Sequence[Pod], node_index: np.ndarray) -> None:
        """Record pods as running on `node_index` (-1 entries are skipped) and add their requests."""
        node_index = np.asarray(node_index, dtype=np.int32)
        ok = node_index >= 0
        placed = [p for p, k in zip(pods, ok) if k]
        if not placed:
            return
        req, nz = self.pod_vectors(placed)
        nodes = node_index[ok]
        gpu = [(p, n) for p, n in zip(placed, nodes.tolist()) if p.gpu_count]
        free = self.gpu_free.copy()
        for p, n in gpu:
            # Bound pods are facts: like over-committed cpu, a pod that finds no free device is still bound
            # (its nvidia.com/gpu count is added); it just takes no device.
            assign_devices(free[n], p.gpu_count, p.gpu_per_device)
        for p, n in gpu:
            self.gpu_tags[n, 0 if p.gpu_per_device < 1000 else min(p.gpu_count, GPU_TAGS - 1)] += 1
        self.gpu_free = free
        np.add.at(self.requested, nodes, req)
        np.add.at(self.nonzero_requested, nodes, nz)
        self._bound_pods.extend(placed)
        self._bound_nodes.append(nodes)

    # --- views --------------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes)

    def bound_pods(self) -> list[tuple[Pod, str]]:
        idx = np.concatenate(self._bound_nodes) if self._bound_nodes else np.zeros(0, np.int32)
        return [(p, self.node_names[i]) for p, i in zip(self._bound_pods, idx)]

    def copy(self) -> "Cluster":
        """A fork for what-if runs: arrays copied, immutable node objects shared."""
        c = Cluster.__new__(Cluster)
        c.__dict__.update(self.__dict__)
        for a in ("allocatable", "requested", "nonzero_requested", "unschedulable", "label_codes", "node_taints",
                  "gpu_free", "gpu_tags"):
            setattr(c, a, getattr(self, a).copy())
        c.resource_names = list(self.resource_names)
        c.resource_index = dict(self.resource_index)
        c._bound_pods = list(self._bound_pods)
        c._bound_nodes = list(self._bound_nodes)
        return c

    def __len__(self) -> int:
        return len(self.node_names)

    def __repr__(self) -> str:
        return f"Cluster({len(self)} nodes, {len(self._bound_pods)} bound pods, resources={self.resource_names})"

    # --- persistence --------------------------------------------------------------------------------
    def to_parquet(self, directory: str | Path) -> None:
        """Write nodes.parquet and pods.parquet; `from_parquet` restores an equal cluster."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        nodes = pa.table({
            "name": self.node_names,
            "unschedulable": [n.unschedulable for n in self._nodes],
            "labels": pa.array([list(n.labels.items()) for n in self._nodes], pa.map_(pa.string(), pa.string())),
            "taints": pa.array([[t.model_dump() for t in n.taints] for n in self._nodes],
                               pa.list_(pa.struct([("key", pa.string()), ("value", pa.string()),
                                                   ("effect", pa.string())]))),
            "allocatable": pa.array([list(n.allocatable.items()) for n in self._nodes],
                                    pa.map_(pa.string(), pa.int64())),
            "gpu_free": pa.array(self.gpu_free.tolist(), pa.list_(pa.int32())),
        })
        pq.write_table(nodes, d / "nodes.parquet")
        bound = self.bound_pods()
        pods = pa.table({
            "name": [p.name for p, _ in bound],
            "namespace": [p.namespace for p, _ in bound],
            "node": [n for _, n in bound],
            "spec": [p.model_dump_json() for p, _ in bound],
        }, schema=pa.schema([("name", pa.string()), ("namespace", pa.string()), ("node", pa.string()),
                             ("spec", pa.string())]))
        pq.write_table(pods, d / "pods.parquet")

    @classmethod
    def from_parquet(cls, directory: str | Path) -> "Cluster":
        import pyarrow.parquet as pq
        d = Path(directory)
        from .parquet_check import check_parquet   # files, column types, rows, device table (named errors)
        check_parquet(d, ClusterError)
        t = pq.read_table(d / "nodes.parquet").to_pylist()
        need = {"name", "unschedulable", "labels", "taints", "allocatable"}
        if t and need - set(t[0]):
            raise ClusterError(f"{d / 'nodes.parquet'}: missing column(s) {sorted(need - set(t[0]))}")
        nodes = [Node(name=r["name"], unschedulable=r["unschedulable"], labels=dict(r["labels"] or []),
                      taints=r["taints"] or [], allocatable=quantities(dict(r["allocatable"] or [])))
                 for r in t]
        pods = []
        for r in pq.read_table(d / "pods.parquet").to_pylist():
            p = Pod.model_validate_json(r["spec"])
            pods.append(p.model_copy(update={"node_name": r["node"]}))
        c = cls(nodes)
        if pods:
            c.bind(pods, np.array([c.node_index[p.node_name] for p in pods], dtype=np.int32))
        if t and "gpu_free" in t[0] and c.gpu_free.shape[1]:
            c.gpu_free = np.array([r["gpu_free"] for r in t], dtype=np.int32).reshape(c.gpu_free.shape)
        return c
