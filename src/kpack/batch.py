"""Array-level entry points: a cluster built from columnar arrays and a `PodBatch` (a few spec Pods plus an
int32 spec index per pod), so a million pods never become a million pydantic objects."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence as _SequenceABC
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .models import GPU_RESOURCE, Node, Pod, Taint, quantities
from .podtable import PodTable
from .resources import BASE_RESOURCES, MAX_RESOURCE_COLUMNS
from .state import EFFECT_CODE, GPU_TAGS, Cluster, ClusterError, device_table
from .validation import MAX_GPU_DEVICES, MAX_QUANTITY, qualified_name_errors


@dataclass
class PodBatch:
    """Pods to schedule, in order: pod i is a copy of `specs[spec_index[i]]` named `<spec name>-<i>`, or
    `<spec name>-<ordinals[i]>` when `ordinals` is given (ascending within each spec; controllers name pods
    by their own counters this way).

    Only `specs` are pydantic objects; scheduling reads `spec_index` as an array.
    """
    specs: list[Pod]
    spec_index: np.ndarray
    ordinals: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.specs = list(self.specs)
        self.spec_index = np.ascontiguousarray(self.spec_index, dtype=np.int32)
        if self.ordinals is not None:
            self.ordinals = np.ascontiguousarray(self.ordinals, dtype=np.int64)
            if self.ordinals.shape != self.spec_index.shape or (len(self.ordinals)
                                                                and self.ordinals.min() < 0):
                raise ValueError("PodBatch.ordinals: must be non-negative, one per pod")
        if self.spec_index.ndim != 1:
            raise ValueError("PodBatch.spec_index: must be a 1-D integer array")
        if len(self.spec_index) and (self.spec_index.min() < 0 or self.spec_index.max() >= len(self.specs)):
            bad = int(self.spec_index[(self.spec_index < 0) | (self.spec_index >= len(self.specs))][0])
            raise ValueError(f"PodBatch.spec_index: {bad} is not an index into specs (len {len(self.specs)})")
        for i, p in enumerate(self.specs):
            if not isinstance(p, Pod):
                raise ValueError(f"PodBatch.specs[{i}]: expected kpack.Pod, got {type(p).__name__}")

    @classmethod
    def from_pods(cls, pods: Sequence[Pod]) -> "PodBatch":
        """Every pod its own spec (used by tests to compare with `Scheduler.schedule`)."""
        return cls(list(pods), np.arange(len(pods), dtype=np.int32))

    def __len__(self) -> int:
        return len(self.spec_index)

    def pod(self, i: int) -> Pod:
        """Materialise pod i (for reports; not used on the scheduling path)."""
        s = self.specs[int(self.spec_index[i])]
        o = i if self.ordinals is None else int(self.ordinals[i])
        return s.model_copy(update={"name": f"{s.name}-{o}"})


class LazyNodes(_SequenceABC):
    """Node objects of an array-built cluster, created only when someone asks for them."""

    def __init__(self, cluster: Cluster):
        self._c = cluster

    def rebind(self, cluster: Cluster) -> "LazyNodes":
        """The same lazy list for a copy of the cluster (its arrays, not the parent's)."""
        return LazyNodes(cluster)

    def __len__(self) -> int:
        return len(self._c.node_names)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        c = self._c
        alloc = quantities({r: int(v) for r, v in zip(c.resource_names, c.allocatable[i]) if v})
        labels = {c.label_keys[k]: c.label_values[v] for k, v in enumerate(c.label_codes[i]) if v >= 0}
        taints = [c.taints[t] for t in c.node_taints[i] if t >= 0]
        return Node(name=c.node_names[i], allocatable=alloc, labels=labels, taints=taints,
                    unschedulable=bool(c.unschedulable[i]))


def cluster_from_arrays(node_names: Sequence[str], resource_names: Sequence[str], allocatable: np.ndarray, *,
                        label_keys: Sequence[str] = (), label_values: Sequence[str] = (),
                        label_codes: Optional[np.ndarray] = None, taints: Sequence[Taint] = (),
                        node_taints: Optional[np.ndarray] = None,
                        unschedulable: Optional[np.ndarray] = None) -> Cluster:
    """A `Cluster` from columnar arrays, equal to `Cluster(nodes)` for the same nodes.

    `resource_names` must start with cpu, memory, ephemeral-storage, pods (base units: millicores, bytes,
    counts); `label_codes` int32 [N, K] indexes `label_values` (-1 = absent), `node_taints` int32 [N, T]
    indexes `taints` (-1 padded, node order). Node objects are built lazily if `cluster.nodes` is read.
    """
    names = list(node_names)
    n = len(names)
    rn = list(resource_names)
    if tuple(rn[:len(BASE_RESOURCES)]) != BASE_RESOURCES:
        raise ClusterError(f"resource_names: must start with {list(BASE_RESOURCES)}, got {rn[:4]}")
    alloc = _check_allocatable(allocatable, n, rn)
    index = {x: i for i, x in enumerate(names)}
    if len(index) != n:
        dup = next(x for x, k in Counter(names).items() if k > 1)
        raise ClusterError(f"duplicate node name {dup!r}")
    c = Cluster.__new__(Cluster)
    c.node_names = names
    c.node_index = index
    c.resource_names = rn
    c.resource_index = {r: i for i, r in enumerate(rn)}
    c.allocatable = alloc
    c.requested = np.zeros_like(alloc)
    c.nonzero_requested = np.zeros((n, 2), dtype=np.int64)
    c.unschedulable = _check_unschedulable(unschedulable, n)
    keys = list(label_keys)
    codes = (np.full((n, len(keys)), -1, dtype=np.int32) if label_codes is None
             else np.ascontiguousarray(label_codes, dtype=np.int32))
    if codes.shape != (n, len(keys)):
        raise ClusterError(f"label_codes: expected shape {(n, len(keys))}, got {codes.shape}")
    _check_codes(codes, len(label_values), "label_codes", "label_values")
    _check_unique(keys, "label_keys")
    _check_unique(list(label_values), "label_values")
    for i, t in enumerate(taints):
        if not isinstance(t, Taint):
            raise ClusterError(f"taints[{i}]: expected kpack.Taint, got {type(t).__name__}")
    # Cluster keeps label keys sorted; reorder the columns to match.
    order = sorted(range(len(keys)), key=lambda k: keys[k])
    c.label_keys = [keys[k] for k in order]
    c.label_key_index = {k: i for i, k in enumerate(c.label_keys)}
    c.label_codes = np.ascontiguousarray(codes[:, order]) if order != list(range(len(keys))) else codes
    c.label_values = list(label_values)
    c.label_value_index = {v: i for i, v in enumerate(c.label_values)}
    c.taints = list(taints)
    c.taint_effect = np.array([EFFECT_CODE[t.effect] for t in c.taints], dtype=np.int8)
    c.node_taints = (np.zeros((n, 0), dtype=np.int32) if node_taints is None
                     else np.ascontiguousarray(node_taints, dtype=np.int32))
    if c.node_taints.ndim != 2 or c.node_taints.shape[0] != n:
        raise ClusterError(f"node_taints: expected shape ({n}, T), got {c.node_taints.shape}")
    _check_codes(c.node_taints, len(c.taints), "node_taints", "taints")
    c._nodes = LazyNodes(c)
    c.table = PodTable()
    c.objects = {}
    c.generation = 0
    c.node_generation = 0
    c._order_init()
    gi = c.resource_index.get(GPU_RESOURCE)
    c.gpu_free = device_table(alloc[:, gi] if gi is not None else np.zeros(n, np.int64))
    c.gpu_tags = np.zeros((n, GPU_TAGS), dtype=np.int64)
    return c


def _check_allocatable(allocatable: np.ndarray, n: int, rn: list[str]) -> np.ndarray:
    """int64 [N, R] base units: whole numbers in [0, 2**53], at most 64 distinct resource columns."""
    if len(rn) > MAX_RESOURCE_COLUMNS:
        raise ClusterError(f"resource_names: {len(rn)} resources, kpack supports at most "
                           f"{MAX_RESOURCE_COLUMNS} resource columns")
    _check_unique(rn, "resource_names")
    for r in rn:
        for msg in qualified_name_errors(str(r)):
            raise ClusterError(f"resource_names: invalid resource name {r!r}: {msg}")
    raw = np.asarray(allocatable)
    if raw.shape != (n, len(rn)):
        raise ClusterError(f"allocatable: expected shape {(n, len(rn))}, got {raw.shape}")
    if raw.dtype.kind == "f":
        bad = ~np.isfinite(raw) | (raw != np.floor(raw))
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise ClusterError(f"allocatable[{i}, {rn[j]}]: {float(raw[i, j])!r} is not a whole number of "
                               "base units (cpu in millicores)")
        if (np.abs(raw) > MAX_QUANTITY).any():
            i, j = map(int, np.argwhere(np.abs(raw) > MAX_QUANTITY)[0])
            raise ClusterError(f"allocatable[{i}, {rn[j]}]: {float(raw[i, j])!r} is above kpack's limit "
                               "of 2**53")
    elif raw.dtype.kind not in "iub":
        raise ClusterError(f"allocatable: expected an integer array, got dtype {raw.dtype}")
    alloc = np.ascontiguousarray(raw, dtype=np.int64)
    for bad, what in ((alloc < 0, "must be non-negative"),
                      (alloc > MAX_QUANTITY, "is above kpack's limit of 2**53")):
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise ClusterError(f"allocatable[{i}, {rn[j]}]: {int(alloc[i, j])} {what}")
    if GPU_RESOURCE in rn:
        g = alloc[:, rn.index(GPU_RESOURCE)]
        if n and g.max() > MAX_GPU_DEVICES:
            i = int(np.argmax(g))
            raise ClusterError(f"allocatable[{i}, {GPU_RESOURCE}]: {int(g[i])} devices is above kpack's "
                               f"limit of {MAX_GPU_DEVICES} GPU devices per node")
    return alloc


def _check_unschedulable(unschedulable: Optional[np.ndarray], n: int) -> np.ndarray:
    if unschedulable is None:
        return np.zeros(n, dtype=np.bool_)
    raw = np.asarray(unschedulable)
    if raw.shape != (n,):
        raise ClusterError(f"unschedulable: expected shape ({n},) (one flag per node), got {raw.shape}")
    if raw.dtype.kind != "b" and not np.isin(raw, (0, 1)).all():
        raise ClusterError("unschedulable: expected booleans (or 0/1)")
    return np.ascontiguousarray(raw, dtype=np.bool_)


def _check_codes(codes: np.ndarray, size: int, name: str, table: str) -> None:
    bad = (codes < -1) | (codes >= size)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise ClusterError(f"{name}[{i}, {j}]: {int(codes[i, j])} is not -1 (absent) or an index into "
                           f"{table} (len {size})")


def _check_unique(items: list, name: str) -> None:
    if len(set(items)) != len(items):
        dup = next(x for x, k in Counter(items).items() if k > 1)
        raise ClusterError(f"{name}: duplicate entry {dup!r}")


def bind_arrays(cluster: Cluster, specs: Sequence[Pod], spec_index: np.ndarray,
                node_index: np.ndarray) -> None:
    """Bind pods given as (spec, node) index arrays, as facts: pod i is `<spec name>-<i>`
    (-1 nodes skipped)."""
    specs = list(specs)
    if any(p.gpu_count for p in specs):
        raise ClusterError("bind_arrays does not track GPU devices: bind GPU pods with Cluster.bind")
    spec_index = np.ascontiguousarray(spec_index, dtype=np.int32)
    node_index = np.asarray(node_index, dtype=np.int32)
    if spec_index.shape != node_index.shape:
        raise ClusterError(f"bind_arrays: spec_index and node_index differ in shape ({spec_index.shape} vs "
                           f"{node_index.shape})")
    work = cluster.working()
    ok = node_index >= 0
    sreq, snz = work.pod_vectors(specs)
    np.add.at(work.requested, node_index[ok], sreq[spec_index[ok]])
    np.add.at(work.nonzero_requested, node_index[ok], snz[spec_index[ok]])
    cluster.commit_batch(work, specs, spec_index, node_index)


def schedule_batch_arrays(sched, cluster: Cluster, batch: PodBatch):
    """Implementation of `Scheduler.schedule_arrays` (see there)."""
    from . import engines as E
    from .scheduler import (
        ScheduleResult,
        SchedulingError,
        fit_error,
        static_histogram,
        static_scores,
    )
    if not isinstance(batch, PodBatch):
        raise SchedulingError(f"batch: expected kpack.batch.PodBatch, got {type(batch).__name__}")
    specs = batch.specs
    for i, p in enumerate(specs):
        if p.node_name is not None and p.node_name not in cluster.node_index:
            raise SchedulingError(f"specs[{i}] {p.key!r}: spec.nodeName {p.node_name!r} is not a node of "
                                  "this cluster")
    from .gpu.plugins import needs_devices
    if needs_devices(sched.profile, cluster, specs) or any(p.gpu_count for p in specs):
        raise SchedulingError("schedule_arrays does not track GPU devices: schedule pods that request "
                              "nvidia.com/gpu (or profiles with a GPU policy plugin) with Scheduler.schedule")
    P = len(batch)
    n_nodes = len(cluster.node_names)
    if n_nodes == 0:
        return ScheduleResult([None] * P, np.full(P, -1, np.int32),
                              ["no nodes available to schedule pods"] * P, [])
    spec_req, spec_nz = cluster.pod_vectors(specs)
    dup = cluster.table.check_new_batch(specs, batch.spec_index, np.arange(P), batch.ordinals)
    if dup is not None:
        raise SchedulingError(f"pod {dup!r}: already bound (PodBatch pod i is named <spec name>-<i>; "
                              "pod identity is namespace/name)")
    view, order, cache = sched.view(cluster)
    classes, spec_cls = sched.classes(view, specs, cache)
    arrays = cache.class_arrays(classes, n_nodes)
    out = np.full(P, -1, dtype=np.int32)
    fail = np.zeros((P, len(cluster.resource_names)), dtype=np.int32)
    from .topology.engine import run_if_needed  # PodTopologySpread / InterPodAffinity when they matter
    topo_fail = run_if_needed(sched, view, cache.profile, arrays, specs, spec_cls, spec_req, spec_nz,
                              batch.spec_index, out, fail, False, order)
    if topo_fail is None:
        sched.last_stats = E.place(sched.engine, view, cache.profile, arrays, spec_cls, spec_req, spec_nz,
                                   batch.spec_index, sched.rng, sched.start, out, fail,
                                   statics=static_scores(cache.profile, classes), plans=cache.plans)
    if order is not None:
        view = cluster.unpermute(view, order)
        out = np.where(out >= 0, order[np.maximum(out, 0)], -1).astype(np.int32)
    cluster.commit_batch(view, specs, batch.spec_index, out, batch.ordinals)
    placed = out >= 0
    names = np.array(list(cluster.node_names) + [None], dtype=object)
    node_names = names[np.where(placed, out, n_nodes)].tolist()
    reasons: list = [None] * P
    failed = np.flatnonzero(~placed)
    if len(failed):
        # One message per distinct (class, fit failure counts).
        cols = [spec_cls[batch.spec_index[failed]][:, None].astype(np.int64), fail[failed].astype(np.int64)]
        if topo_fail is not None:
            cols.append(topo_fail[failed].astype(np.int64))
        key = np.hstack(cols)
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        static_hist: dict = {}
        msgs = []
        for row in uniq:
            c = int(row[0])
            if c not in static_hist:
                static_hist[c] = static_histogram(cluster, classes[c])
            R = fail.shape[1]
            extra = None
            if topo_fail is not None:
                from .topology.engine import histogram
                extra = histogram(row[1 + R:])
            msgs.append(fit_error(cluster, classes[c], static_hist[c], row[1:1 + R], extra))
        for i, m in zip(failed.tolist(), inv.reshape(-1).tolist()):
            reasons[i] = msgs[m]
    return ScheduleResult(node_names, out, reasons, [])
