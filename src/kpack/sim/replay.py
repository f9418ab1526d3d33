"""Discrete-event replay of a Parquet trace through kpack's Scheduler (or an FGD-paper GPU policy).

Event order at one time t: departures, then node changes (add, cordon, fail, remove; events.parquet), then
one scheduling call for the queue: pending pods (only if capacity was freed since they last failed: until
then they cannot fit, as placements only take capacity) plus arrivals, ordered by priority (high first)
then arrival time. Arrivals at later times with no departure or node event in between join the same call
in (time, -priority) order: placing them one call at a time would give the same result, since nothing else
changes the cluster in between. With `window` > 0, event times are rounded up to a multiple of `window`
seconds first (an approximation: a pod sees departures up to `window` seconds early; documented).
"""

from __future__ import annotations

import heapq
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from ..batch import PodBatch, cluster_from_arrays
from ..models import (
    GPU_MODEL_LABEL,
    NodeAffinity,
    Pod,
    Taint,
    quantities,
)
from ..profile import Profile
from ..resources import BASE_RESOURCES
from ..scheduler import Scheduler
from .metrics import (
    WAIT_EDGES,
    fragmentation,
    metrics_table,
    sample_interval,
    sample_rates,
    summary_of,
    thin_samples,
)
from .schema import EVENTS_FILE, GPU, NODES_FILE, PODS_FILE, TraceDir, TraceError
from .timeline import node_timeline

FREE, PENDING, BOUND = 0, 1, 2
NEVER = np.iinfo(np.int64).max


@dataclass
class SimOptions:
    """What to replay with: a kube-scheduler profile (default) or an FGD-paper GPU `policy` by name."""

    profile: Optional[Profile] = None
    policy: Optional[str] = None
    seed: int = 0
    engine: str = "auto"
    window: int = 0
    samples: int = 600
    quiet: bool = True
    control_plane: Any = None
    label: str = ""
    retry_all: bool = False  # retry every pending pod whenever capacity frees (no pruning; for tests)
    fast: bool = True  # the compiled event loop (sim/fast.py) where it applies; False: always this module's


@dataclass
class SimResult:
    summary: dict
    metrics: pa.Table
    placements_path: Optional[Path]
    wait: np.ndarray
    timing: dict = field(default_factory=dict)


# --- trace decoding -----------------------------------------------------------------------------------
def unique_rows(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """np.unique(mat, axis=0, return_index=True, return_inverse=True, return_counts=True) of a 2-D integer
    matrix, without its sort of rows as structured records (the replay's slowest NumPy call): each column
    becomes dense ranks, folded into one int64 key with the first column most significant, so the key
    order is the rows' lexicographic order; the key is re-ranked before it could overflow."""
    n, m = mat.shape
    if n == 0 or m == 0:
        return np.unique(mat, axis=0, return_index=True, return_inverse=True, return_counts=True)
    key = np.zeros(n, np.int64)
    top = 1     # key < top
    for j in range(m):
        vals, rank = np.unique(mat[:, j], return_inverse=True)
        card = len(vals)
        if card == 1:
            continue
        if top * card >= 1 << 62:
            key = np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)
            top = int(key.max()) + 1
        key = key * card + rank.reshape(-1)
        top *= card
    _, first, inv, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    return mat[first], first, inv.reshape(-1), counts


def _codes(arr: pa.Array) -> tuple[np.ndarray, list]:
    """Dictionary codes (int64, -1 for null) and the values of a string column."""
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    idx = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return idx, arr.dictionary.to_pylist()


def _nested_ids(arr: pa.Array, fields: tuple[str, ...]) -> tuple[np.ndarray, list]:
    """Exact per-row ids for a list/map column (equal contents -> equal id) and one value per id."""
    n = len(arr)
    if arr.null_count == n or n == 0:
        return np.zeros(n, np.int64), [[]]
    arr = arr.fill_null([]) if arr.null_count else arr
    offsets = arr.offsets.to_numpy()
    flat = (
        arr.values
        if not pa.types.is_map(arr.type)
        else pa.StructArray.from_arrays([arr.keys, arr.items], names=["key", "value"])
    )
    # A sliced list/map array (a record batch cut from a larger row group) keeps its parent's child values
    # and offsets that do not start at 0: take only this slice's values.
    flat = flat.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    offsets = offsets - offsets[0]
    if len(flat) == 0:
        return np.zeros(n, np.int64), [[]]
    parts = []
    for f in fields:
        c, vals = _codes(flat.field(f).cast(pa.string()))
        parts.append(c)
    elem = unique_rows(np.stack(parts, axis=1))[2]
    lens = np.diff(offsets)
    width = int(lens.max()) if n else 0
    mat = np.full((n, max(width, 1)), -1, np.int64)
    pos = np.arange(len(elem)) - np.repeat(offsets[:-1], lens)
    mat[np.repeat(np.arange(n), lens), pos] = elem
    uniq, first, inv, _ = unique_rows(mat)
    values = [arr[int(i)].as_py() or [] for i in first.tolist()]
    return inv.reshape(-1), values


class PodClasses:
    """Pods with equal scheduling-relevant fields share one class and one spec Pod (name/owner excluded).

    With `lazy_pins`, a pinned (DaemonSet) class gets no spec Pod of its own: `specs[c]` is None and
    `pin_base[c]` / `pin_node[c]` give its unpinned base spec (an index into `bases`) and its node; a caller
    that compiles pins itself (the compiled loop) never needs the per-node Pod."""

    def __init__(self, resources: list[str], lazy_pins: bool = False):
        self.resources = resources
        self.lazy_pins = lazy_pins
        self.bases: list[Pod] = []
        self.pin_base: list[int] = []   # per class: index into bases (-1: not pinned)
        self.pin_node: list[str] = []
        self.index: dict[tuple, int] = {}
        self.specs: list[Pod] = []
        self.gpu_k: list[int] = []
        self.gpu_g: list[int] = []
        self.models: list[str] = []
        self.pinned: list[bool] = []
        self._prio: list[int] = []
        self._cpu_mem: list[tuple[int, int]] = []
        self._arrays: tuple = (-1, None, None)
        self._bases: dict[tuple, int] = {}      # bases index per (requests, models, selector, tolerations)
        self._pins: dict[str, NodeAffinity] = {}
        self._base_fields: dict[int, tuple] = {}

    def _cached(self) -> tuple:
        # arrays rebuilt only when classes were added (appending per class would be quadratic)
        n, prio, cm = self._arrays
        if n != len(self.specs):
            prio = np.array(self._prio, np.int64)
            cm = np.array(self._cpu_mem, np.int64).reshape(-1, 2)
            self._arrays = (len(self.specs), prio, cm)
        return prio, cm

    @property
    def prio(self) -> np.ndarray:
        return self._cached()[0]

    @property
    def cpu_mem(self) -> np.ndarray:
        return self._cached()[1]

    def encode(self, b: pa.RecordBatch) -> np.ndarray:
        n = b.num_rows
        names = b.schema.names
        cols = []
        for r in self.resources:
            cols.append(
                b.column(r).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
                if r in names
                else np.zeros(n, np.int64)
            )
        for c in ("gpu_milli", "priority"):
            cols.append(
                b.column(c)
                .fill_null(-1 if c == "gpu_milli" else 0)
                .to_numpy(zero_copy_only=False)
                .astype(np.int64)
                if c in names
                else np.full(n, -1 if c == "gpu_milli" else 0, np.int64)
            )
        strs = {}
        for c in ("gpu_models", "pinned_node"):
            if c in names:
                code, vals = _codes(b.column(c))
                strs[c] = vals
                cols.append(code)
            else:
                strs[c] = []
                cols.append(np.full(n, -1, np.int64))
        nested = {}
        for c, f in (
            ("node_selector", ("key", "value")),
            ("tolerations", ("key", "operator", "value", "effect")),
        ):
            if c in names:
                ids, vals = _nested_ids(b.column(c), f)
            else:
                ids, vals = np.zeros(n, np.int64), [[]]
            nested[c] = vals
            cols.append(ids)
        mat = np.stack(cols, axis=1)
        uniq, first, inv, _ = unique_rows(mat)
        local = np.empty(len(uniq), np.int32)
        R = len(self.resources)
        # the key parts of each distinct selector / toleration list, built once per batch (a DaemonSet
        # batch has one unique row per node, all with the same few lists)
        sel_keys = [tuple(sorted(map(tuple, v))) for v in nested["node_selector"]]
        tol_keys = [tuple(tuple(sorted(t.items())) for t in v) for v in nested["tolerations"]]
        for j, row in enumerate(uniq.tolist()):
            gm = row[R + 2]
            key = (
                tuple(row[: R + 2]),
                strs["gpu_models"][gm] if gm >= 0 else "",
                strs["pinned_node"][row[R + 3]] if row[R + 3] >= 0 else "",
                sel_keys[row[R + 4]],
                tol_keys[row[R + 5]],
            )
            c = self.index.get(key)
            if c is None:
                c = self.index[key] = len(self.specs)
                self._add(key)
            local[j] = c
        return local[inv.reshape(-1)]

    def _pin_affinity(self, node: str) -> NodeAffinity:
        """required matchFields metadata.name In [node] (the DaemonSet pin), one per node: the classes of
        several DaemonSets pinned to one node share it (spec objects are never changed)."""
        aff = self._pins.get(node)
        if aff is None:
            aff = self._pins[node] = NodeAffinity(
                required=[{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
            )
        return aff

    def _add(self, key: tuple) -> None:
        vec, models, pin, sel, tol = key
        if pin:
            # a DaemonSet trace has a pinned class per node: they share one unpinned spec (building each
            # through Pod's validators, requests parsed as quantities, dominated class encoding)
            b = self._bases.get((vec, models, sel, tol))
            if b is None:
                b = self._bases[(vec, models, sel, tol)] = len(self.bases)
                self.bases.append(self._build((vec, models, "", sel, tol)))
            base = self.bases[b]
            spec = None if self.lazy_pins else base.model_copy(
                update={"name": f"c{len(self.specs)}", "affinity": self._pin_affinity(pin)})
            self._append(spec, base, models, b, pin)
        else:
            p = self._build(key)
            self._append(p, p, models, -1, "")

    def spec(self, c: int) -> Pod:
        """Class c's spec Pod (built now for a lazy pinned class)."""
        p = self.specs[c]
        if p is None:
            p = self.specs[c] = self.bases[self.pin_base[c]].model_copy(
                update={"name": f"c{c}", "affinity": self._pin_affinity(self.pin_node[c])})
        return p

    def _build(self, key: tuple) -> Pod:
        """The class's spec Pod, unpinned (`_add` adds pins)."""
        vec, models, _, sel, tol = key
        R = len(self.resources)
        req = quantities({r: int(v) for r, v in zip(self.resources, vec[:R]) if v and r != "pods"})
        gm, prio = vec[R], vec[R + 1]
        kw: dict = {
            "name": f"c{len(self.specs)}",
            "namespace": "sim",
            "requests": req,
            "priority": int(prio),
            "node_selector": dict(sel),
            "tolerations": [dict(t) for t in tol],
        }
        if gm >= 0:
            kw["gpu_milli"] = int(gm)
        if models:
            kw["gpu_models"] = [m for m in models.split("|") if m]
        return Pod(**kw)

    def _append(self, spec: Optional[Pod], p: Pod, models: str, base: int, pin: str) -> None:
        pinned = base >= 0
        # a base's fields are read once for all the classes pinned from it
        f = self._base_fields.get(base) if pinned else None
        if f is None:
            f = (p.gpu_count, p.gpu_per_device if p.gpu_count else 0, p.priority,
                 (p.requests.get("cpu", 0), p.requests.get("memory", 0)))
            if pinned:
                self._base_fields[base] = f
        self.specs.append(spec)
        self.pin_base.append(base)
        self.pin_node.append(pin)
        self.gpu_k.append(f[0])
        self.gpu_g.append(f[1])
        self.models.append(models)
        self._prio.append(f[2])
        self.pinned.append(pinned)
        self._cpu_mem.append(f[3])


def read_nodes(trace: TraceDir) -> dict:
    t = trace.read(NODES_FILE)
    n = t.num_rows
    names = t.column("name").to_pylist()
    res = [r for r in BASE_RESOURCES] + sorted(set(trace.resource_columns(NODES_FILE)) - set(BASE_RESOURCES))
    alloc = np.zeros((n, len(res)), np.int64)
    for j, r in enumerate(res):
        if r in t.column_names:
            alloc[:, j] = t.column(r).fill_null(0).to_numpy(zero_copy_only=False)
        elif r == "pods":
            alloc[:, j] = 110

    def col(c, default):
        return t.column(c).to_pylist() if c in t.column_names else [default] * n

    labels = [dict(x or []) for x in col("labels", [])]
    for i, m in enumerate(col("gpu_model", "")):
        if m:
            labels[i][GPU_MODEL_LABEL] = m
    times = {
        c: (
            t.column(c).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            if c in t.column_names
            else np.full(n, -1, np.int64)
        )
        for c in ("add_time", "remove_time", "fail_time")
    }
    rank = (
        t.column("tiebreak_rank").to_numpy(zero_copy_only=False).astype(np.int64)
        if "tiebreak_rank" in t.column_names
        else None
    )
    return {
        "names": names,
        "resources": res,
        "alloc": alloc,
        "labels": labels,
        "taints": [x or [] for x in col("taints", [])],
        "unschedulable": np.array(col("unschedulable", False), dtype=bool),
        "times": times,
        "rank": rank,
        "gpu_model": col("gpu_model", ""),
    }


def build_cluster(nd: dict, arrays: Optional[dict] = None, unschedulable: Optional[np.ndarray] = None):
    """A Cluster of every node of the trace (nodes not yet added, or gone, are kept cordoned; or the given
    `unschedulable`). `arrays` (from `node_arrays`) skips encoding labels and taints again."""
    a = arrays if arrays is not None else node_arrays(nd)
    return cluster_from_arrays(
        nd["names"],
        nd["resources"],
        nd["alloc"],
        label_keys=a["keys"],
        label_values=a["values"],
        label_codes=a["codes"],
        taints=a["taints"],
        node_taints=a["node_taints"],
        unschedulable=(nd["unschedulable"] | (nd["times"]["add_time"] > 0)) if unschedulable is None
        else unschedulable,
    )


def node_arrays(nd: dict) -> dict:
    """Label and taint codes of the trace's nodes (the slow, per-node part of building a Cluster)."""
    keys = sorted({k for lb in nd["labels"] for k in lb})
    kidx = {k: i for i, k in enumerate(keys)}
    values: dict[str, int] = {}
    codes = np.full((len(nd["names"]), len(keys)), -1, np.int32)
    for i, lb in enumerate(nd["labels"]):
        for k, v in lb.items():
            codes[i, kidx[k]] = values.setdefault(v, len(values))
    taints: dict[tuple, int] = {}
    width = max((len(x) for x in nd["taints"]), default=0)
    nt = np.full((len(nd["names"]), width), -1, np.int32)
    for i, ts in enumerate(nd["taints"]):
        for j, x in enumerate(ts):
            nt[i, j] = taints.setdefault((x["key"], x.get("value") or "", x["effect"]), len(taints))
    return {"keys": keys, "values": list(values), "codes": codes,
            "taints": [Taint(key=k, value=v, effect=e) for k, v, e in taints], "node_taints": nt}


# --- placement backends -------------------------------------------------------------------------------
class KubeBackend:
    """kpack.Scheduler on a Cluster: batch pods through schedule_arrays, GPU pods through schedule."""

    name = "kube"

    def __init__(self, nd: dict, classes: PodClasses, opts: SimOptions):
        self.cluster = build_cluster(nd)
        self.scheduler = Scheduler(opts.profile or Profile.default(), seed=opts.seed, engine=opts.engine)
        self.classes = classes
        self.calls = 0
        self.res_names = list(self.cluster.resource_names)
        self.compact_at = 1 << 16
        self._vec: dict[int, np.ndarray] = {}
        self.bound_gpu = True

    def schedule(self, cls: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
        """Place pods of classes `cls` in order. Returns (node per pod, cluster row per pod, reasons)."""
        from ..gpu.plugins import needs_devices

        P = len(cls)
        node = np.full(P, -1, np.int32)
        rows = np.full(P, -1, np.int64)
        reasons: list = [None] * P
        specs = self.classes.specs
        gpu = np.array(self.classes.gpu_k, dtype=np.int64)[cls] > 0
        dev = needs_devices(self.scheduler.profile, self.cluster, [specs[c] for c in np.unique(cls).tolist()])
        # Runs of array-path and object-path pods, in order (one call each; same as one call for all).
        kinds = np.ones(P, bool) if dev else gpu
        bounds = np.flatnonzero(np.diff(kinds.astype(np.int8))) + 1
        for seg in np.split(np.arange(P), bounds):
            if not len(seg):
                continue
            self.calls += 1
            c = self.cluster
            n0 = c.table.n
            if kinds[seg[0]]:
                pods = [
                    specs[k].model_copy(update={"name": f"p{self.calls}-{i}"})
                    for i, k in enumerate(cls[seg].tolist())
                ]
                res = self.scheduler.schedule(c, pods)
            else:
                uniq, inv = np.unique(cls[seg], return_inverse=True)
                bspecs = [specs[k].model_copy(update={"name": f"c{k}x{self.calls}"}) for k in uniq.tolist()]
                res = self.scheduler.schedule_arrays(c, PodBatch(bspecs, inv.reshape(-1).astype(np.int32)))
            out = res.node_index
            ok = out >= 0
            node[seg] = out
            rows[seg[ok]] = n0 + np.arange(int(ok.sum()))
            for i in np.flatnonzero(~ok).tolist():
                reasons[seg[i]] = res.reasons[i]
        return node, rows, reasons

    def release(self, rows: np.ndarray) -> None:
        self.cluster.unbind_rows(rows)

    def fit_bound(self, c: int, nodes: np.ndarray) -> int:
        """How many pods of class c the given nodes could hold at most, by resources alone (an upper
        bound: filters and other pods can only lower it). GPU classes are not bounded here."""
        k, g = self.classes.gpu_k[c], self.classes.gpu_g[c]
        if k and (g < 1000 or not self.bound_gpu):
            return 1 << 62  # GPU pods: not bounded here
        cl = self.cluster
        vec = self._vec.get(c)
        if vec is None:
            vec = self._vec[c] = cl.pod_vectors([self.classes.specs[c]])[0][0]
        if len(vec) != cl.allocatable.shape[1]:
            vec = self._vec[c] = cl.pod_vectors([self.classes.specs[c]])[0][0]
        gcol = cl.resource_index.get(GPU, -1)
        cols = np.flatnonzero((vec > 0) & (np.arange(len(vec)) != (gcol if k else -1)))
        free = cl.allocatable[nodes][:, cols] - cl.requested[nodes][:, cols]
        per = np.min(free // vec[cols], axis=1)
        if k:  # whole devices: fully free ones decide (as the device-aware filter does)
            per = np.minimum(
                per,
                (cl.gpu_free[nodes] == 1000).sum(axis=1) // k
                if cl.gpu_free.shape[1]
                else np.zeros(len(nodes), np.int64),
            )
        return int(np.maximum(per, 0).sum())

    def maybe_compact(self, live_rows: np.ndarray) -> Optional[np.ndarray]:
        """Drop dead rows once they outnumber live ones; returns the new rows of `live_rows`."""
        t = self.cluster.table
        if t.n < self.compact_at or t.n < 2 * len(live_rows):
            return None
        mapping = self.cluster.compact_pods()
        self.compact_at = max(1 << 16, 2 * t.n)
        return mapping[live_rows]

    def set_unschedulable(self, names: list[str], flag: bool) -> None:
        self.cluster.set_unschedulable(names, flag)

    def usage(self, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = self.cluster
        return c.requested[present].sum(axis=0), c.allocatable[present].sum(axis=0)

    def free_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.cluster
        return c.allocatable - c.requested, c.unschedulable


class PolicyBackend:
    """The FGD experiment's placement kernel (gpu.policies.schedule_trace_state) on its own arrays: cpu,
    memory and GPU devices per node; node selectors, taints and pins are not part of that model."""

    name = "policy"

    def __init__(self, nd: dict, classes: PodClasses, opts: SimOptions, typical: Any, meta: dict):
        from ..gpu.devices import FULL
        from ..gpu.policies import get_policy

        self.pol = get_policy(opts.policy)
        self.classes = classes
        names = nd["names"]
        N = len(names)
        ri = {r: j for j, r in enumerate(nd["resources"])}
        ndev = nd["alloc"][:, ri[GPU]] if GPU in ri else np.zeros(N, np.int64)
        self.models = tuple(sorted({m for m, g in zip(nd["gpu_model"], ndev.tolist()) if g > 0 and m}))
        code_of = {m: k for k, m in enumerate(self.models)}
        self.model = np.array(
            [code_of.get(m, -1) if g > 0 else -1 for m, g in zip(nd["gpu_model"], ndev.tolist())],
            dtype=np.int32,
        )
        self.ndev = ndev.astype(np.int32)
        self.free = np.zeros((N, max(1, int(ndev.max()) if N else 1)), np.int32)
        for n, g in enumerate(ndev.tolist()):
            self.free[n, :g] = FULL
        self.cpu = nd["alloc"][:, ri["cpu"]].copy()
        self.mem = nd["alloc"][:, ri["memory"]].copy()
        self.cap_cpu, self.cap_mem = self.cpu.copy(), self.mem.copy()
        self.down = np.zeros(N, bool)
        rng = np.random.default_rng(opts.seed)
        if nd["rank"] is not None:
            self.rank = nd["rank"]
        else:
            self.rank = rng.permutation(N).astype(np.int64)[
                np.argsort(np.argsort(np.array(names, dtype=str)))
            ]
        seed = meta.get("policy_seed")
        self.rng = np.array(
            [np.uint64(int(seed) if seed is not None else int(rng.integers(0, 2**63 - 1)))], dtype=np.uint64
        )
        self.tags = np.zeros((N, 9), np.int32)
        self.hosts = np.zeros(N, bool)
        self.count = np.zeros(N, np.int64)
        self.tp = typical
        self.tp_mask = typical.masks(self.models)
        self.dev = np.zeros(0, np.int64)  # per cluster row: device (sharing) or device bit mask (whole)
        self.row_node = np.zeros(0, np.int32)
        self.row_cls = np.zeros(0, np.int32)
        self.n_rows = 0
        self.free_rows: list[int] = []
        self.calls = 0
        self.cap_gpu = int(ndev.sum()) * FULL
        self.arrived = 0  # GPU milli of arrivals, and allocation after each arrival (paper metric)
        self.ev_arrived: list[np.ndarray] = []
        self.ev_alloc: list[np.ndarray] = []
        self.res_names = ["cpu", "memory", GPU]
        self._index = {n: i for i, n in enumerate(names)}

    def _rows(self, k: int) -> np.ndarray:
        out = []
        while self.free_rows and len(out) < k:
            out.append(self.free_rows.pop())
        extra = k - len(out)
        if self.n_rows + extra > len(self.dev):
            cap = max(1024, 2 * (self.n_rows + extra))
            for a in ("dev", "row_node", "row_cls"):
                old = getattr(self, a)
                new = np.zeros(cap, old.dtype)
                new[: len(old)] = old
                setattr(self, a, new)
        out.extend(range(self.n_rows, self.n_rows + extra))
        self.n_rows += extra
        return np.array(out, np.int64)

    def schedule(self, cls: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
        from ..experiments.trace import schedule_trace_state
        from ..gpu.tables import spec_masks

        c = self.classes
        specs = c.specs
        P = len(cls)
        ci = np.array([specs[k].requests.get("cpu", 0) for k in range(len(specs))], np.int64)
        mi = np.array([specs[k].requests.get("memory", 0) for k in range(len(specs))], np.int64)
        ki = np.array(c.gpu_k, np.int64)
        gi = np.array(c.gpu_g, np.int64)
        mask = spec_masks(np.array(c.models, dtype=object), self.models)
        pod_spec = np.unique(cls, return_inverse=True)[1].reshape(-1).astype(np.int64)
        out_dev = np.empty(P, np.int64)
        tp = self.tp
        self.calls += 1
        ev_arr, ev_alloc, _, _, placed = schedule_trace_state(
            self.pol.code,
            self.pol.sharing_device,
            self.free,
            self.ndev,
            self.cpu,
            self.mem,
            self.model,
            self.rank,
            ci[cls],
            mi[cls],
            ki[cls],
            gi[cls],
            mask[cls],
            pod_spec,
            int(pod_spec.max()) + 1 if P else 0,
            tp.cpu_milli,
            tp.gpu_milli,
            tp.num_gpu,
            self.tp_mask,
            tp.level_of,
            tp.popularity,
            tp.levels,
            self.rng,
            self.tags,
            self.hosts,
            out_dev,
        )
        ok = placed >= 0
        rows = np.full(P, -1, np.int64)
        r = self._rows(int(ok.sum()))
        rows[ok] = r
        self.dev[r] = out_dev[ok]
        self.row_node[r] = placed[ok]
        self.row_cls[r] = cls[ok]
        np.add.at(self.count, placed[ok], 1)
        # allocated GPU milli after each pod, cluster-wide (ev_alloc counts this call's placements only)
        base = self.cap_gpu - int(self.free.sum()) - int(ev_alloc[-1]) if P else 0
        self.ev_arrived.append(self.arrived + ev_arr)
        self.ev_alloc.append(base + ev_alloc)
        if P:
            self.arrived += int(ev_arr[-1])
        reasons = [
            None
            if k
            else "0/{} nodes are available: insufficient resources (policy {}).".format(
                len(self.cpu), self.pol.name
            )
            for k in ok.tolist()
        ]
        return placed.astype(np.int32), rows, reasons

    def release(self, rows: np.ndarray) -> None:
        from ..gpu.devices import FULL

        specs = self.classes.specs
        for r in rows.tolist():
            n = int(self.row_node[r])
            k = int(self.row_cls[r])
            p = specs[k]
            self.cpu[n] += p.requests.get("cpu", 0)
            self.mem[n] += p.requests.get("memory", 0)
            kk, g, d = self.classes.gpu_k[k], self.classes.gpu_g[k], int(self.dev[r])
            if kk:
                if g < FULL:
                    self.free[n, d] += g
                    self.tags[n, 0] -= 1
                else:
                    for i in range(self.free.shape[1]):
                        if d >> i & 1:
                            self.free[n, i] = FULL
                    self.tags[n, min(kk, 8)] -= 1
            self.count[n] -= 1
            self.hosts[n] = self.count[n] > 0
            self.free_rows.append(r)

    def maybe_compact(self, live_rows: np.ndarray) -> None:
        return None

    def fit_bound(self, c: int, nodes: np.ndarray) -> int:
        if self.classes.gpu_k[c]:
            return 1 << 62
        cpu, mem = self.classes.cpu_mem[c]
        per = np.full(len(nodes), 1 << 40, np.int64)
        if cpu > 0:
            per = np.minimum(per, self.cpu[nodes] // cpu)
        if mem > 0:
            per = np.minimum(per, self.mem[nodes] // mem)
        return int(np.maximum(per, 0).sum())

    def set_unschedulable(self, names: list[str], flag: bool) -> None:
        # A node out of service cannot fit anything: its memory is pushed far below zero while down.
        idx = np.array([self._index[n] for n in names], np.int64) if names else np.zeros(0, np.int64)
        change = idx[self.down[idx] != flag]
        self.mem[change] += -(1 << 60) if flag else (1 << 60)
        self.down[change] = flag

    def usage(self, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from ..gpu.devices import FULL

        mem = np.where(self.down, self.mem + (1 << 60), self.mem)
        used = np.array(
            [
                (self.cap_cpu - self.cpu)[present].sum(),
                (self.cap_mem - mem)[present].sum(),
                (self.ndev.astype(np.int64) * FULL - self.free.sum(axis=1))[present].sum(),
            ]
        )
        cap = np.array(
            [
                self.cap_cpu[present].sum(),
                self.cap_mem[present].sum(),
                self.ndev[present].astype(np.int64).sum() * FULL,
            ]
        )
        return used, cap

    def free_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        mem = np.where(self.down, self.mem + (1 << 60), self.mem)
        return np.stack([self.cpu, mem], axis=1), self.down.copy()


# --- the replay ---------------------------------------------------------------------------------------
class _Slots:
    """Hot per-pod state for pods that are pending or running, in recycled array slots."""

    INT = ("cls", "node", "evict")
    LONG = ("arrival", "dep", "dur", "prio", "row", "start", "end", "seq")

    def __init__(self, cap: int = 1024):
        self.cap = 0
        self.state = np.zeros(0, np.int8)
        for a in self.INT:
            setattr(self, a, np.zeros(0, np.int32))
        for a in self.LONG:
            setattr(self, a, np.zeros(0, np.int64))
        self.name = np.zeros(0, object)
        self.ns = np.zeros(0, object)
        self.owner_kind = np.zeros(0, object)
        self.owner_name = np.zeros(0, object)
        self.stack = np.zeros(0, np.int64)
        self.top = 0
        self._grow(cap)

    def _grow(self, cap: int) -> None:
        old = self.cap
        for a in ("state", "name", "ns", "owner_kind", "owner_name") + self.INT + self.LONG:
            arr = getattr(self, a)
            new = np.zeros(cap, arr.dtype) if arr.dtype != object else np.empty(cap, object)
            new[:old] = arr
            setattr(self, a, new)
        # free slots, lowest first (deterministic)
        self.stack = np.concatenate([np.arange(cap - 1, old - 1, -1), self.stack[: self.top]]).astype(
            np.int64
        )
        self.top = len(self.stack)
        self.cap = cap

    def alloc(self, k: int) -> np.ndarray:
        if k > self.top:
            self._grow(max(2 * self.cap, self.cap + k))
        out = self.stack[self.top - k : self.top][::-1].copy()
        self.top -= k
        return out

    def free(self, slots: np.ndarray) -> None:
        self.state[slots] = FREE
        self.name[slots] = None
        k = len(slots)
        if self.top + k > len(self.stack):
            self.stack = np.concatenate([self.stack, np.zeros(k, np.int64)])
        self.stack[self.top : self.top + k] = slots[::-1]
        self.top += k


class Replay:
    """One replay of a trace directory with one profile or policy and seed."""

    def __init__(self, trace_dir: str | Path, opts: SimOptions):
        self.trace = TraceDir(trace_dir)
        self.opts = opts
        if opts.window < 0:
            raise ValueError(f"window: must be >= 0 seconds, got {opts.window}")

    # -- inputs ------------------------------------------------------------------------------------
    def _typical(self, nd: dict):
        """FGD's target workload: recorded by the openb importer, else every pod of the trace."""
        from ..gpu.fragmentation import typical_pods
        from ..gpu.tables import PodTable as OpenbPods

        tp = self.trace.metadata.get("typical_pods")
        if tp:
            rows = np.repeat(np.arange(len(tp)), [r[4] for r in tp])
            cpu = np.array([r[0] for r in tp], np.int64)[rows]
            gm = np.array([r[1] for r in tp], np.int32)[rows]
            k = np.array([r[2] for r in tp], np.int32)[rows]
            spec = np.array([r[3] for r in tp], dtype=object)[rows]
        else:
            cols = ["cpu", GPU, "gpu_milli", "gpu_models"]
            names = self.trace.files[PODS_FILE].schema_arrow.names
            parts: dict = {c: [] for c in cols}
            for b in self.trace.iter_batches(
                PODS_FILE, columns=[c for c in cols if c in names] + ["arrival"]
            ):
                for c in cols:
                    parts[c].append(b.column(c).to_pylist() if c in names else [None] * b.num_rows)
            cpu = np.array(sum(parts["cpu"], []), np.int64)
            k = np.array([x or 0 for x in sum(parts[GPU], [])], np.int32)
            g = np.array([x if x is not None else 1000 for x in sum(parts["gpu_milli"], [])], np.int32)
            gm = np.where(k > 0, g, 0).astype(np.int32)
            spec = np.array([x or "" for x in sum(parts["gpu_models"], [])], dtype=object)
        table = OpenbPods(
            np.array([""] * len(cpu), dtype=object), cpu, np.zeros(len(cpu), np.int64), k, gm, spec
        )
        return typical_pods(table)

    def _pod_stream(self):
        names = self.trace.files[PODS_FILE].schema_arrow.names
        w = self.opts.window
        for b in self.trace.iter_batches(PODS_FILE):
            n = b.num_rows
            arr = b.column("arrival").to_numpy(zero_copy_only=False).astype(np.int64)
            dep = (
                b.column("departure").fill_null(NEVER).to_numpy(zero_copy_only=False).astype(np.int64)
                if "departure" in names
                else np.full(n, NEVER, np.int64)
            )
            dur = (
                b.column("duration").fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
                if "duration" in names
                else np.full(n, -1, np.int64)
            )
            if w:
                arr = -(-arr // w) * w
                dep = np.where(dep == NEVER, NEVER, -(-np.minimum(dep, NEVER - w) // w) * w)

            def strs(c, default):
                return (
                    np.array(b.column(c).to_pylist(), dtype=object)
                    if c in names
                    else np.full(n, default, dtype=object)
                )

            yield {
                "arrival": arr,
                "dep": dep,
                "dur": dur,
                "cls": self.classes.encode(b),
                "name": strs("name", ""),
                "ns": strs("namespace", "default"),
                "owner_kind": strs("owner_kind", None),
                "owner_name": strs("owner_name", None),
            }

    # -- run ---------------------------------------------------------------------------------------
    def run(self, out_dir: Optional[str | Path] = None) -> SimResult:
        why = "disabled (SimOptions.fast=False)"
        if self.opts.fast:
            from .fast import FastUnsupported, run_fast, unsupported_reason

            why = unsupported_reason(self)
            if why is None:
                try:
                    return run_fast(self, out_dir)
                except FastUnsupported as e:  # found while streaming: start over on the Python loop
                    why = str(e)
        res = self.run_python(out_dir)
        res.timing["path"] = "python"
        res.timing["fast_path_skipped"] = why
        return res

    def run_python(self, out_dir: Optional[str | Path] = None) -> SimResult:
        """The replay loop in Python (every backend, control planes, custom profiles)."""
        t_start = time.perf_counter()
        opts = self.opts
        nd = read_nodes(self.trace)
        resources = list(nd["resources"])
        pod_res = [r for r in self.trace.resource_columns(PODS_FILE) if r not in resources]
        self.classes = PodClasses(resources + pod_res)
        if opts.policy:
            backend: Any = PolicyBackend(nd, self.classes, opts, self._typical(nd), self.trace.metadata)
        else:
            backend = KubeBackend(nd, self.classes, opts)
        self.backend = backend
        names = nd["names"]
        node_idx = {n: i for i, n in enumerate(names)}
        times = nd["times"]
        w = opts.window
        nev, workload_events = node_timeline(self.trace, nd, w)
        present = times["add_time"] <= 0
        cordoned = nd["unschedulable"].copy()
        cp = opts.control_plane
        tc = None
        if workload_events and cp is None:
            if not isinstance(backend, KubeBackend):
                raise TraceError(
                    f"{self.trace.dir / EVENTS_FILE}: Deployment/DaemonSet events need the kube backend "
                    f"(the controllers place their pods with kpack.Scheduler), not --policy {opts.policy}"
                )
            from .control import TraceControl

            tc = TraceControl(backend.cluster, backend.scheduler, names,
                              [n for n, a in zip(names, times["add_time"].tolist()) if a > 0],
                              self.trace.dir / EVENTS_FILE)
        self.control = tc
        last_event = max([e[0] for e in nev] + [e[0] for e in workload_events] + [0])
        interval = sample_interval(self.trace.files[PODS_FILE], last_event, opts.samples, w)
        S = _Slots()
        cal: dict[int, list[np.ndarray]] = {}
        heap: list[int] = []

        def cal_push(tt: np.ndarray, slots: np.ndarray) -> None:
            if not len(slots):
                return
            order = np.argsort(tt, kind="stable")
            tt, slots = tt[order], slots[order]
            cuts = np.flatnonzero(np.diff(tt)) + 1
            for a, s in zip(np.split(tt, cuts), np.split(slots, cuts)):
                k = int(a[0])
                if k not in cal:
                    cal[k] = []
                    heapq.heappush(heap, k)
                cal[k].append(s)

        stream = self._pod_stream()
        buf: Optional[dict] = None
        pos = 0
        seq = 0
        exhausted = False

        def peek() -> int:
            nonlocal buf, pos, exhausted
            while not exhausted and (buf is None or pos >= len(buf["arrival"])):
                buf = next(stream, None)
                pos = 0
                if buf is None:
                    exhausted = True
            return NEVER if exhausted else int(buf["arrival"][pos])

        def admit(limit: int, first_limit: int) -> np.ndarray:
            """Admit arrivals with arrival < limit, stopping where an earlier admitted pod may end first."""
            nonlocal pos, seq
            got = []
            lim = limit
            while peek() < lim:
                a = buf["arrival"][pos:]
                ends = np.where(buf["dur"][pos:] >= 0, a + np.maximum(buf["dur"][pos:], 0), buf["dep"][pos:])
                prev_min = np.minimum.accumulate(np.concatenate([[lim], ends[:-1]]))
                take = int(np.argmax(~(a < prev_min))) if not (a < prev_min).all() else len(a)
                sl = slice(pos, pos + take)
                k = take
                slots = S.alloc(k)
                S.state[slots] = PENDING
                for f in ("arrival", "dep", "dur", "cls"):
                    getattr(S, f)[slots] = buf[f][sl]
                S.prio[slots] = self.classes.prio[buf["cls"][sl]]
                S.name[slots] = buf["name"][sl]
                S.ns[slots] = buf["ns"][sl]
                S.owner_kind[slots] = buf["owner_kind"][sl]
                S.owner_name[slots] = buf["owner_name"][sl]
                S.seq[slots] = np.arange(seq, seq + k)
                S.start[slots] = -1
                S.end[slots] = NEVER
                S.evict[slots] = 0
                S.row[slots] = -1
                S.node[slots] = -1
                seq += k
                fixed = buf["dep"][sl] != NEVER
                cal_push(buf["dep"][sl][fixed], slots[fixed])
                got.append(slots)
                pos += k
                if take < len(a):
                    break
                lim = min(
                    lim, int(ends[take - 1 :].min()) if take else lim, int(prev_min[-1]) if len(a) else lim
                )
            return np.concatenate(got) if got else np.zeros(0, np.int64)

        # outputs
        out = Path(out_dir) if out_dir is not None else None
        pw = _PlacementWriter(out / "placements.parquet" if out else None, deleted=tc is not None)
        met: dict[str, list] = {
            k: [] for k in ("time", "pending", "running", "placements_per_s", "fragmentation", "nodes")
        }
        res_names = backend.res_names
        for r in res_names:
            met[f"alloc_{r}"] = []
        wait_hist = np.zeros(len(WAIT_EDGES), np.int64)
        wait_sum = 0
        wait_max = 0
        reasons: Counter = Counter()
        counts = Counter()
        pending = np.zeros(0, np.int64)
        freed = False
        free_gen = 0
        node_freed_at = np.zeros(len(names), np.int64)
        fail_g = np.zeros(0, np.int64)
        next_sample = 0
        t_place = 0.0
        t_cp = 0.0  # the control plane's steps (its controllers and its scheduling batches)
        ref = np.zeros(2, np.float64)  # running sum of (cpu, memory) requests of arrivals
        n_ref = 0
        ne = 0
        we = 0
        from tqdm import tqdm

        bar = tqdm(
            total=self.trace.n_rows(PODS_FILE),
            unit="pod",
            disable=opts.quiet or not sys.stderr.isatty(),
            desc=opts.label or "simulate",
        )

        def finish(slots: np.ndarray, t_end: Optional[int], outcome: str) -> None:
            pw.add(S, slots, t_end, outcome, names)

        evicted: list[np.ndarray] = []

        def evict_node(i: int) -> None:
            on = np.flatnonzero((S.state == BOUND) & (S.node == i))
            if len(on):
                backend.release(S.row[on])
                S.state[on] = PENDING
                S.row[on] = -1
                S.node[on] = -1
                S.end[on] = NEVER
                S.evict[on] += 1
                counts["evictions"] += len(on)
                evicted.append(on)

        def cp_wake() -> int:
            return NEVER if tc is None or tc.wake is None else tc.wake

        while True:
            t_arr = peek()
            t = min(
                t_arr,
                heap[0] if heap else NEVER,
                nev[ne][0] if ne < len(nev) else NEVER,
                workload_events[we][0] if we < len(workload_events) else NEVER,
                cp_wake(),
            )
            if t == NEVER:
                break
            # 1. departures at t
            if heap and heap[0] == t:
                heapq.heappop(heap)
                slots = np.concatenate(cal.pop(t))
                st = S.state[slots]
                done = slots[(st == BOUND) & (S.end[slots] == t)]
                gone = slots[(st == PENDING) & (S.dep[slots] == t)]
                if len(done):
                    free_gen += 1
                    node_freed_at[S.node[done]] = free_gen
                    backend.release(S.row[done])
                    counts["departures"] += len(done)
                    finish(done, t, "completed")
                    S.free(done)
                    freed = True
                if len(gone):
                    counts["deleted_pending"] += len(gone)
                    finish(gone, t, "deleted-pending")
                    S.free(gone)
            # 2. node changes and workload events at t
            changed = False
            while ne < len(nev) and nev[ne][0] == t:
                _, _, act, nm = nev[ne]
                ne += 1
                i = node_idx[nm]
                counts[f"node_{act}"] += 1
                if act in ("add", "uncordon"):
                    free_gen += 1
                    node_freed_at[i] = free_gen
                if act == "add":
                    present[i] = True
                    if not cordoned[i]:
                        backend.set_unschedulable([nm], False)
                    freed = True
                elif act in ("fail", "remove"):
                    if present[i]:
                        evict_node(i)
                        present[i] = False
                        backend.set_unschedulable([nm], True)
                    if cp is not None:
                        (cp.fail_node if act == "fail" else cp.remove_node)(nm)
                if tc is not None:
                    tc.node_event(t, act, nm)
                elif act in ("cordon", "uncordon"):
                    cordoned[i] = act == "cordon"
                    if present[i]:
                        backend.set_unschedulable([nm], cordoned[i])
                    freed = freed or act == "uncordon"
                    if cp is not None:
                        fn = getattr(cp, act, None)
                        if fn is not None:
                            fn(nm)
                changed = True
            while we < len(workload_events) and workload_events[we][0] == t:
                if tc is not None:
                    tc.feed(t, workload_events[we][1])
                else:
                    dispatch_workload_event(cp, workload_events[we][1])
                we += 1
                changed = True
            if cp is not None and changed:
                cp.step(t)
            if tc is not None and tc.due(t, freed):
                # the control plane's step: its controllers, then its one scheduling batch (on the same
                # Cluster and Scheduler), before this time's scheduling call for the trace's pods
                t0 = time.perf_counter()
                b_rows, b_node, gone = tc.step(t)
                t_cp += time.perf_counter() - t0
                if len(b_rows):
                    counts["placements"] += len(b_rows)
                    rec = tc.records(b_rows)
                    wt = rec["start"] - rec["arrival"]
                    wait_hist += np.bincount(
                        np.searchsorted(WAIT_EDGES, wt, side="right") - 1, minlength=len(WAIT_EDGES)
                    )[: len(WAIT_EDGES)]
                    wait_sum += int(wt.sum())
                    wait_max = max(wait_max, int(wt.max()))
                if len(gone.rows):
                    freed_nodes = gone.node[gone.bound]
                    if len(freed_nodes):
                        free_gen += 1
                        node_freed_at[freed_nodes] = free_gen
                        freed = True
                    rec = tc.records(gone.rows)
                    pw.add_columns(rec, np.where(gone.node >= 0, gone.node, -1), t,
                                   np.array(gone.outcome, np.int8), names)
            # 3. one scheduling call: (pending, if capacity freed) + arrivals until the next other event
            t_next = min(
                heap[0] if heap else NEVER,
                nev[ne][0] if ne < len(nev) else NEVER,
                workload_events[we][0] if we < len(workload_events) else NEVER,
                cp_wake(),
            )
            pending = pending[S.state[pending] == PENDING] if len(pending) else pending
            retry = np.zeros(0, np.int64)
            if freed and len(pending):
                retry = self._retry_set(S, pending, node_freed_at, fail_g)
            if len(retry):
                d = S.dur[retry]
                if (d >= 0).any():
                    t_next = min(t_next, t + int(d[d >= 0].min()))
            arrivals = admit(t_next, t)
            bar.update(len(arrivals))
            if len(arrivals):
                ref += self.classes.cpu_mem[S.cls[arrivals]].sum(axis=0)
                n_ref += len(arrivals)
            queue = np.concatenate([retry] + evicted + [arrivals])
            evicted.clear()
            if len(queue):
                eff = np.maximum(S.arrival[queue], t)
                order = np.lexsort((S.seq[queue], S.arrival[queue], -S.prio[queue], eff))
                queue = queue[order]
                t0 = time.perf_counter()
                node, rows, why = backend.schedule(S.cls[queue])
                t_place += time.perf_counter() - t0
                counts["attempts"] += len(queue)
                ok = node >= 0
                placed = queue[ok]
                start = np.maximum(S.arrival[placed], t)
                S.state[placed] = BOUND
                S.node[placed] = node[ok]
                S.row[placed] = rows[ok]
                first = S.start[placed] < 0
                S.start[placed[first]] = start[first]
                dur = S.dur[placed]
                end = np.where(dur >= 0, start + np.maximum(dur, 0), S.dep[placed])
                S.end[placed] = end
                cal_push(end[dur >= 0], placed[dur >= 0])
                counts["placements"] += len(placed)
                wt = start[first] - S.arrival[placed[first]]
                if len(wt):
                    wait_hist += np.bincount(
                        np.searchsorted(WAIT_EDGES, wt, side="right") - 1, minlength=len(WAIT_EDGES)
                    )[: len(WAIT_EDGES)]
                    wait_sum += int(wt.sum())
                    wait_max = max(wait_max, int(wt.max()))
                failed = np.flatnonzero(~ok)
                rest = pending[~np.isin(pending, retry)] if len(retry) else pending
                if len(failed):
                    reasons.update(why[i] for i in failed.tolist())
                    fc = np.unique(S.cls[queue[failed]])
                    if len(fail_g) < len(self.classes.specs):
                        fail_g = np.concatenate([fail_g, np.full(len(self.classes.specs) - len(fail_g), -1)])
                    fail_g[fc] = free_gen
                pending = np.concatenate([rest, queue[failed]])
                freed = False
            # compaction of the cluster's pod table (rows of finished pods)
            if counts["placements"] and hasattr(backend, "cluster"):
                bound = (
                    np.flatnonzero(S.state == BOUND)
                    if backend.cluster.table.n >= backend.compact_at
                    else None
                )
                if bound is not None:
                    newrows = backend.maybe_compact(S.row[bound])
                    if newrows is not None:
                        S.row[bound] = newrows
            # 4. metrics sample
            if t >= next_sample:
                used, cap = backend.usage(present)
                met["time"].append(t)
                met["pending"].append(int((S.state == PENDING).sum()) + (tc.pending if tc else 0))
                met["running"].append(int((S.state == BOUND).sum()) + (tc.running if tc else 0))
                met["placements_per_s"].append(counts["placements"])   # rates at the end (sample_rates)
                met["nodes"].append(int(present.sum()))
                for j, r in enumerate(res_names):
                    met[f"alloc_{r}"].append(float(used[j] / cap[j]) if cap[j] else 0.0)
                met["fragmentation"].append(fragmentation(backend, present, ref / max(1, n_ref)))
                interval = thin_samples(met, interval, opts.samples)
                next_sample = (t // interval + 1) * interval
        bar.close()
        # pods still running or pending at the end
        live = np.flatnonzero(S.state == BOUND)
        pend = np.flatnonzero(S.state == PENDING)
        finish(live, None, "running")
        finish(pend, None, "pending")
        n_pods, n_live, n_pend = seq, len(live), len(pend)
        if tc is not None:
            rec, node, running = tc.live()
            pw.add_columns(rec, node, None, np.where(running, 2, 3).astype(np.int8), names)
            n_pods += tc.created
            n_live += tc.running
            n_pend += tc.pending
            counts["attempts"] += tc.cp.scheduling_attempts
            reasons.update(tc.cp.failure_reasons)
        pw.close()
        t_run = time.perf_counter() - t_start
        sample_rates(met)
        metrics = metrics_table(met)
        events = seq + counts["departures"] + counts["deleted_pending"] + len(nev) + len(workload_events)
        if tc is not None:
            events += tc.created + tc.deleted      # the control plane's pod creations and deletions
        summary = summary_of(str(self.trace.dir.name), backend.name, opts.policy or "", opts, len(names),
                             n_pods, events, counts, n_live, n_pend, wait_hist, wait_sum, wait_max, met,
                             res_names, reasons)
        if tc is not None:
            summary["control_plane"] = tc.summary()
        if isinstance(backend, PolicyBackend):
            summary["unallocated_gpu_pct"] = backend_unallocated(backend)
        timing = {
            "run_s": t_run,
            "placement_s": t_place,
            "bookkeeping_s": t_run - t_place,
            "events_per_s": events / t_run if t_run > 0 else 0.0,
        }
        if tc is not None:
            timing["control_plane_s"] = t_cp
        return SimResult(summary, metrics, pw.path, wait_hist, timing)

    def _retry_set(
        self, S: _Slots, pending: np.ndarray, node_freed_at: np.ndarray, fail_g: np.ndarray
    ) -> np.ndarray:
        """The pending pods worth retrying, in queue order. A pod failed when no node fit it; since then only
        nodes freed after that failure gained capacity, so a class whose request fits none of them is
        skipped, and at most as many of its pods as those nodes can hold are tried (the rest would fail:
        skipping them changes no placement, only which failure messages are counted)."""
        order = np.lexsort((S.seq[pending], S.arrival[pending], -S.prio[pending]))
        pend = pending[order]
        cls = S.cls[pend]
        keep = np.zeros(len(pend), bool)
        for c in np.unique(cls).tolist():
            if self.classes.pinned[c]:
                # a failed attempt of a pinned pod still advances the scheduler's round-robin start (by its
                # one candidate node), so skipping it would change later placements: always retried
                keep[cls == c] = True
                continue
            g = fail_g[c] if c < len(fail_g) else -1
            nodes = np.flatnonzero(node_freed_at > g)
            if not len(nodes) and not self.opts.retry_all:
                continue
            idx = np.flatnonzero(cls == c)
            bound = (1 << 62) if self.opts.retry_all else self.backend.fit_bound(c, nodes)
            keep[idx[:bound]] = True
        return pend[keep]


def dispatch_workload_event(cp: Any, e: dict) -> None:
    """Feed one Deployment/DaemonSet event of events.parquet to a ControlPlane-like object (duck typed)."""
    kind, act, ns, name = e["kind"], e["action"], e.get("namespace") or "default", e["name"]
    if act in ("create", "update"):
        manifest = (
            json.loads(e["manifest"])
            if e.get("manifest")
            else {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns}}
        )
        manifest.setdefault("kind", kind)
        manifest.setdefault("metadata", {}).setdefault("name", name)
        manifest["metadata"].setdefault("namespace", ns)
        if e.get("replicas") is not None:
            manifest.setdefault("spec", {})["replicas"] = int(e["replicas"])
        cp.apply(manifest)
    elif act == "rollback":
        cp.rollback(kind, ns, name, e.get("revision") or None)
    elif act == "delete":
        fn = getattr(cp, "delete", None)
        if fn is None:
            raise TraceError(f"events.parquet: {kind} {ns}/{name} delete: the control plane has no delete()")
        fn(kind, ns, name)


def backend_unallocated(b: PolicyBackend) -> float:
    """The FGD experiment's headline number (experiment.run_fgd): 100 - allocated GPU % when the arrived GPU
    demand reaches 100 % of capacity (binned per arrived %, as the experiment bins it)."""
    from ..experiments.fgd import bin_curve

    if not b.ev_arrived or not b.cap_gpu:
        return float("nan")
    arrived = 100.0 * np.concatenate(b.ev_arrived) / b.cap_gpu
    alloc = 100.0 * np.concatenate(b.ev_alloc) / b.cap_gpu
    at100 = bin_curve(arrived, alloc)[100]
    if np.isnan(at100):
        last = np.searchsorted(arrived, 100.5, side="right") - 1
        at100 = alloc[last] if last >= 0 else 0.0
    return float(100.0 - at100)


class _PlacementWriter:
    """placements.parquet: one row per pod when it leaves the replay (departed, deleted, or at the end)."""

    OUTCOMES = ["completed", "deleted-pending", "running", "pending"]
    # a control plane's running pod deleted (by its controller, a taint eviction, a node removal)
    DELETED = "deleted"

    SCHEMA = pa.schema(
        [
            ("pod", pa.string()),
            ("namespace", pa.dictionary(pa.int32(), pa.string())),
            ("owner_kind", pa.dictionary(pa.int32(), pa.string())),
            ("owner_name", pa.dictionary(pa.int32(), pa.string())),
            ("node", pa.dictionary(pa.int32(), pa.string())),
            ("arrival", pa.int64()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("wait", pa.int64()),
            ("evictions", pa.int32()),
            ("outcome", pa.dictionary(pa.int32(), pa.string())),
        ]
    )

    def __init__(self, path: Optional[Path], deleted: bool = False):
        self.path = path
        # the outcome dictionary of existing traces stays as it was; replays with a control plane add one
        self.outcomes = self.OUTCOMES + ([self.DELETED] if deleted else [])
        self.parts: list[pa.Table] = []
        self.rows = 0
        self.writer = None
        if path is not None:
            import pyarrow.parquet as pq

            path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(path, self.SCHEMA, compression="zstd")

    def add(self, S: _Slots, slots: np.ndarray, t_end: Optional[int], outcome: str, node_names: list) -> None:
        if self.writer is None or not len(slots):
            return
        n = len(slots)
        self.parts.append(
            (
                S.name[slots],
                S.ns[slots],
                S.owner_kind[slots],
                S.owner_name[slots],
                S.node[slots],
                S.arrival[slots],
                S.start[slots],
                np.full(n, -1 if t_end is None else t_end, np.int64),
                S.evict[slots],
                np.full(n, self.OUTCOMES.index(outcome), np.int8),
            )
        )
        self.node_names = node_names
        self.rows += n
        if self.rows >= 65_536:
            self.flush()

    def add_columns(self, rec: dict, node: np.ndarray, t_end: Optional[int], outcome: np.ndarray,
                    node_names: list) -> None:
        """Rows of pods that are not in the replay's slots (a control plane's): columns as
        TraceControl.records gives them, node per pod (trace index, -1 none), outcome codes."""
        if self.writer is None or not len(node):
            return
        n = len(node)
        self.parts.append((rec["name"], rec["ns"], rec["owner_kind"], rec["owner_name"],
                           np.asarray(node, np.int32), rec["arrival"], rec["start"],
                           np.full(n, -1 if t_end is None else t_end, np.int64), np.zeros(n, np.int32),
                           np.asarray(outcome, np.int8)))
        self.node_names = node_names
        self.rows += n
        if self.rows >= 65_536:
            self.flush()

    def flush(self) -> None:
        if not self.parts:
            return
        cols = [np.concatenate(c) for c in zip(*self.parts)]
        name, ns, ok_, on, node, arr, start, end, ev, out = cols
        nn = pa.array(list(self.node_names) + [None], pa.string())

        def dict_str(a):
            return pa.array(a.tolist(), pa.string()).dictionary_encode()

        t = pa.table(
            {
                "pod": pa.array(name.tolist(), pa.string()),
                "namespace": dict_str(ns),
                "owner_kind": dict_str(ok_),
                "owner_name": dict_str(on),
                "node": nn.take(pa.array(np.where(node >= 0, node, len(nn) - 1))).dictionary_encode(),
                "arrival": arr,
                "start": pa.array(start, mask=start < 0),
                "end": pa.array(end, mask=end < 0),
                "wait": pa.array(start - arr, mask=start < 0),
                "evictions": ev,
                "outcome": pa.DictionaryArray.from_arrays(
                    pa.array(out.astype(np.int32)), pa.array(self.outcomes)
                ),
            }
        )
        self.writer.write_table(t.cast(self.SCHEMA))
        self.parts = []
        self.rows = 0

    def close(self) -> None:
        if self.writer is not None:
            self.flush()
            self.writer.close()
