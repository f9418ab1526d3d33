"""Placement engines behind `Scheduler`: `numba` (cycle.schedule, the Numba node scan over named bundles),
`native` (the same scan in the C core, native.schedule_native over the same bundles), `indexed` (state-class
buckets, engines/indexed.py) and `blocked` (experimental, engines/blocked.py). All produce identical
placements, reasons, rng and start state.

`auto` chooses by structure: `indexed` when the batch is large enough to amortise its index and the nodes fall
into few static types compared with the nodes one pod's scan visits (each pod evaluates every bucket of its
feasible types, so many types make the index a slower scan); otherwise the scan, in C when the native core is
built, else Numba."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import cycle
from .. import kernels as K
from .. import native as NAT
from ..bundles import NO_DEVICES, NO_STATIC, StateArrays, StaticScores, cluster_arrays, pod_arrays
from ..validation import MAX_QUANTITY
from . import blocked as BL
from . import indexed as IX

ENGINES = ("auto", "numba", "native", "indexed", "blocked")
ALIASES = {"reference": "numba"}   # round-1 name of the Numba scan
AUTO_MIN_PODS = 32                   # below this, one node scan per pod is cheaper than building the index
# auto: indexed when nodes >= AUTO_NODES_PER_TYPE * static types and, with sampling, the nodes to find >=
# AUTO_FIND_PER_TYPE * types (each pod evaluates the buckets of its feasible types; a sampled scan stops
# early). Measured on the 2-core VM, pods/s indexed vs native scan, exhaustive / sampled: SchedulingBasic
# (1 type, 5,000 nodes) 1.1M vs 14k / 630k vs 36k; DaemonSets (100 types) 74k vs 9k / 71k vs 40k;
# NodeSelectorTaints (295 types) 7.8k vs 14k / 7.4k vs 28k; Heterogeneous (3,598 types, 100,000 nodes,
# 2,000 pods) 1,125 vs 405 / 596 vs 1,239.
AUTO_NODES_PER_TYPE = 24
AUTO_FIND_PER_TYPE = 4
INDEX_BUDGET_BYTES = 128 << 20       # bucket table size limit (bitsets dominate: N/8 bytes per bucket)
INITIAL_BUCKETS = 1024               # the table starts this large and grows x4 while states diverge


class EngineStats:
    """What the last `place` call did (for benchmarks and --verbose output)."""

    def __init__(self) -> None:
        self.engine = ""
        self.indexed_pods = 0
        self.blocked_pods = 0
        self.scan_pods = 0
        self.buckets = 0
        self.types = 0
        self.note = ""      # why the pods did not run on the requested engine ("" when they did)

    def __repr__(self) -> str:
        note = f", note={self.note!r}" if self.note else ""
        return (f"EngineStats(engine={self.engine!r}, indexed_pods={self.indexed_pods}, "
                f"blocked_pods={self.blocked_pods}, scan_pods={self.scan_pods}, types={self.types}, "
                f"buckets={self.buckets}{note})")


def check_engine(engine: str) -> str:
    engine = ALIASES.get(engine, engine) if isinstance(engine, str) else engine
    if engine not in ENGINES:
        raise ValueError(f"engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    return engine


def _static_types(cluster, arrays, full_classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node static type ids (equal allocatable, labels, taints, cordon flag and, where a class reads more,
    equal class rows) and one representative node per type."""
    code, _, _, _, _, aff_row, aff_rows, taint_row, taint_rows = arrays
    parts = [cluster.allocatable, cluster.label_codes.astype(np.int64), cluster.node_taints.astype(np.int64),
             cluster.unschedulable.astype(np.int64)[:, None]]
    empty = np.zeros(0, dtype=np.int64)
    while True:
        mat = np.ascontiguousarray(np.hstack(parts))
        ntype, rep = IX.row_ids(mat)
        ntype = ntype.astype(np.int32)
        bad = []
        for c in full_classes:
            ar = aff_row[c]
            arow = aff_rows[ar] if ar >= 0 else empty
            if not IX.static_types_consistent(ntype, rep, code[c], arow, taint_rows[taint_row[c]]):
                bad.append(c)
        if not bad:
            return ntype, rep
        # A class reads something beyond labels/taints (node names via matchFields or NodeName): refine.
        for c in bad:
            parts.append((code[c] == 0).astype(np.int64)[:, None])
            parts.append(taint_rows[taint_row[c]][:, None])
            if aff_row[c] >= 0:
                parts.append(aff_rows[aff_row[c]][:, None])


def place(engine: str, cluster, cp, arrays, spec_cls: np.ndarray, spec_req: np.ndarray, spec_nz: np.ndarray,
          pod_spec: Optional[np.ndarray], rng: np.ndarray, start: np.ndarray, out: np.ndarray,
          fail: np.ndarray, stats: Optional[EngineStats] = None,
          statics: StaticScores = NO_STATIC, plans: Optional[dict] = None) -> EngineStats:
    """Place pods in order: pod p is spec `pod_spec[p]` (None: pod p is spec p). Mutates cluster.requested,
    cluster.nonzero_requested, rng, start; fills out (node or -1) and fail (fit failure counts).
    `plans`: a dict the caller keeps while `cluster`'s static arrays, `cp` and `arrays` stay the same objects
    (kpack.scheduler.CompiledCache.plans); the C scan then reuses its bundles (native.NativePlan)."""
    stats = stats or EngineStats()
    n_pods = len(out)
    identity = pod_spec is None
    if identity:
        pod_spec = np.arange(n_pods, dtype=np.int32)
    engine = check_engine(engine)
    alloc, req, nz = cluster.allocatable, cluster.requested, cluster.nonzero_requested
    if statics.w.shape[0]:
        # Registered static score plugins: only the numba cycle computes them; auto routes there.
        if engine not in ("auto", "numba"):
            raise ValueError(f"engine={engine!r} does not compute the registered score plugin(s) "
                             f"{', '.join(cp.static_names)}: use engine 'numba' or 'auto'")
        stats.engine = "numba"
        stats.scan_pods = n_pods
        cycle.schedule(cluster_arrays(cluster), cp.arrays, arrays,
                       pod_arrays(spec_cls[pod_spec], spec_req[pod_spec], spec_nz[pod_spec]),
                       StateArrays(rng, start), NO_DEVICES, statics, out, fail)
        return stats
    types = None
    in_range = None
    if engine == "auto":
        engine, types = _auto_engine(cluster, cp, arrays, spec_cls, n_pods)
        if engine == "native":
            in_range = range_ok(plans, cluster)
            engine = engine if in_range else "numba"
    elif engine == "native" and not NAT.available():
        raise RuntimeError(f"engine='native': the native core is unavailable ({NAT.load_error()})")
    stats.engine = engine
    prof = (cp.weights, cp.fit_col, cp.fit_kind, cp.fit_w, cp.strategy, cp.shape_u, cp.shape_s,
            cp.bal_col, cp.bal_kind)
    p_done = 0
    if engine == "blocked" and n_pods:
        p_done = stats.blocked_pods = _run_blocked(cluster, cp, arrays, spec_cls, spec_req, spec_nz, pod_spec,
                                                   rng, start, out, fail)
        if p_done < n_pods:
            engine = stats.engine = _scan_engine()        # not eligible (see blocked.eligible)
    if engine == "indexed" and n_pods:
        p_done = stats.indexed_pods = _run_indexed(cluster, cp, arrays, spec_cls, spec_req, spec_nz, pod_spec,
                                                   rng, start, out, fail, prof, stats, types)
    stats.scan_pods = n_pods - p_done
    if p_done < n_pods:
        ps = slice(p_done, None) if identity else pod_spec[p_done:]
        # "numba" is the Numba kernel (the specification); the indexed engine hands over to the C scan.
        if engine in ("indexed", "blocked"):
            in_range = NAT.available() and range_ok(plans, cluster)
        use_c = engine == "native" or (engine in ("indexed", "blocked") and in_range)
        if use_c and plans is not None and (in_range or (in_range is None and range_ok(plans, cluster))):
            # Bundles kept across calls; only the pods are marshalled (the range check above is what the
            # prevalidated core relies on).
            plan = native_plan(plans, alloc, cp, arrays)
            plan.run(req, nz, spec_cls[ps], spec_req[ps], spec_nz[ps], rng, start, out[p_done:],
                     fail[p_done:])
            return stats
        pods = pod_arrays(spec_cls[ps], spec_req[ps], spec_nz[ps])
        bundles = (cluster_arrays(cluster), cp.arrays, arrays, pods, StateArrays(rng, start))
        if use_c:
            NAT.schedule_native(*bundles, out[p_done:], fail[p_done:])
        else:
            cycle.schedule(*bundles, NO_DEVICES, NO_STATIC, out[p_done:], fail[p_done:])
    return stats


def native_plan(plans: dict, alloc: np.ndarray, cp, arrays) -> "NAT.NativePlan":
    """The NativePlan of (alloc, cp, arrays) kept in `plans` (rebuilt when any of them is another object)."""
    entry = plans.get(id(arrays))
    if entry is not None and entry[0] is arrays and entry[1] is alloc and entry[2] is cp:
        return entry[3]
    plan = NAT.NativePlan(alloc, cp.arrays, arrays)
    plans[id(arrays)] = (arrays, alloc, cp, plan)
    return plan


def c_range_ok(req: np.ndarray, nz: np.ndarray) -> bool:
    """Whether the C core can take the node totals: bound pods may over-commit a node past 2**53 (upstream
    takes them as facts); the Numba scan then gives the same answer (kpack.validation.MAX_QUANTITY)."""
    return max(int(req.max(initial=0)), int(nz.max(initial=0))) <= MAX_QUANTITY


def range_ok(plans: Optional[dict], cluster) -> bool:
    """`c_range_ok` for the cluster view's requested arrays. With `plans`, an upper bound of their values is
    kept there (key "bound") and carried across the caller's own commits (`carry_bound`) while the
    cluster's generation shows no other write, so a call does not rescan every node."""
    req, nz = cluster.requested, cluster.nonzero_requested
    if plans is None:
        return c_range_ok(req, nz)
    e = plans.get("bound")
    if e is None or e[0] is not req or e[1] is not nz or e[2] != cluster.generation:
        top = max(int(req.max(initial=0)), int(nz.max(initial=0)))
        e = plans["bound"] = (req, nz, cluster.generation, top)
    return e[3] <= MAX_QUANTITY


def carry_bound(plans: dict, generation: int, cluster, spec_req: np.ndarray, spec_nz: np.ndarray,
                n_pods: int) -> None:
    """After the caller committed at most `n_pods` pods of these specs (request rows) into `cluster`, whose
    generation was `generation` when `range_ok` ran: the bound grows by at most n_pods times the largest."""
    e = plans.get("bound")
    if (e is None or e[2] != generation or e[0] is not cluster.requested
            or e[1] is not cluster.nonzero_requested):
        plans.pop("bound", None)
        return
    grow = int(spec_req.max(initial=0)) + int(spec_nz.max(initial=0))
    plans["bound"] = (e[0], e[1], cluster.generation, e[3] + grow * n_pods)


def _scan_engine() -> str:
    return "native" if NAT.available() else "numba"


def _auto_engine(cluster, cp, arrays, spec_cls, n_pods: int):
    """(engine, static types or None) for engine="auto"; see the module docstring."""
    if n_pods < AUTO_MIN_PODS:
        return _scan_engine(), None
    n = len(cluster.node_names)
    _, _, cand_len, _, conflict = arrays[:5]
    used = np.unique(spec_cls)
    full = used[(cand_len[used] < 0) & ~conflict[used]]
    types = _static_types(cluster, arrays, full)
    T = len(types[1])
    to_find = int(K.num_feasible_nodes_to_find(n, cp.pct))
    if T * AUTO_NODES_PER_TYPE <= n and (to_find >= n or T * AUTO_FIND_PER_TYPE <= to_find):
        return "indexed", types
    return _scan_engine(), None


def _run_blocked(cluster, cp, arrays, spec_cls, spec_req, spec_nz, pod_spec, rng, start, out, fail) -> int:
    """All pods through engines/blocked.py, or 0 when the classes or profile are not eligible."""
    alloc, req, nz = cluster.allocatable, cluster.requested, cluster.nonzero_requested
    used_specs = np.unique(pod_spec)
    used = np.unique(spec_cls[used_specs])
    if not BL.eligible(cp, arrays, used):
        return 0
    grp = BL.groups(alloc)
    if grp is None:
        return 0
    gid, galloc = grp
    N = alloc.shape[0]
    code, conflict = arrays[0], arrays[4]
    nb = (N + (1 << BL.BLOCK_SHIFT) - 1) >> BL.BLOCK_SHIFT
    G = len(galloc)
    # spec key: specs with equal class and request rows share cache entries
    rows = np.hstack([spec_cls[:, None].astype(np.int64), spec_req, spec_nz])
    _, spec_key = np.unique(rows, axis=0, return_inverse=True)
    spec_key = spec_key.reshape(-1).astype(np.int64)
    n_keys = int(spec_key[used_specs].max()) + 1 if len(used_specs) else 1
    if n_keys * nb * G > BL.MAX_CACHE_ENTRIES:
        return 0
    seg_off = np.zeros(nb * G + 1, dtype=np.int64)
    seg_nodes = np.empty(N, dtype=np.int64)
    scount = np.zeros((len(conflict), nb * G), dtype=np.int64)
    BL.build(gid, G, code, used.astype(np.int64), nb, BL.BLOCK_SHIFT, seg_off, seg_nodes, scount)
    cver = np.full((n_keys, nb * G), -1, dtype=np.int64)
    ccnt = np.zeros((n_keys, nb * G), dtype=np.int32)
    cmx = np.zeros((n_keys, nb * G), dtype=np.int64)
    ctc = np.zeros((n_keys, nb * G), dtype=np.int32)
    BL.run(alloc, req, nz, cp.check_col, pod_spec, spec_cls, spec_req, spec_nz, spec_key, code, conflict,
           cp.weights, cp.fit_col, cp.fit_kind, cp.fit_w, cp.strategy, cp.shape_u, cp.shape_s, cp.bal_col,
           cp.bal_kind, cp.pct, rng, start, out, fail, gid, G, BL.BLOCK_SHIFT, seg_off, seg_nodes, scount,
           cver, ccnt, cmx, ctc)
    return len(pod_spec)


def _run_indexed(cluster, cp, arrays, spec_cls, spec_req, spec_nz, pod_spec, rng, start, out, fail, prof,
                 stats: EngineStats, types=None) -> int:
    code, cand_off, cand_len, cand_flat, conflict, aff_row, aff_rows, taint_row, taint_rows = arrays
    alloc, req, nz = cluster.allocatable, cluster.requested, cluster.nonzero_requested
    N, R = alloc.shape
    used = np.unique(spec_cls)
    full = used[(cand_len[used] < 0) & ~conflict[used]]
    ntype, rep = _static_types(cluster, arrays, full) if types is None else types
    T = len(rep)
    talloc = np.ascontiguousarray(alloc[rep])
    # Per class: the static types its static filters accept.
    C = len(cand_len)
    lists = [np.zeros(0, np.int64)] * C
    for c in full:
        lists[c] = np.flatnonzero(code[c][rep] == 0)
    cls_toff = np.zeros(C + 1, dtype=np.int64)
    cls_toff[1:] = np.cumsum([len(x) for x in lists])
    cls_tflat = np.concatenate(lists).astype(np.int64) if C else np.zeros(0, np.int64)
    taff = np.ascontiguousarray(aff_rows[:, rep])
    ttaint = np.ascontiguousarray(taint_rows[:, rep])
    # Bucket table: starts small and grows (x4) up to a memory budget (the bitsets are N/8 bytes per bucket).
    nw = (N + 63) // 64
    nsb = (N >> IX.SB_SHIFT) + 1
    per_bucket = nw * 8 + nsb * 4 + 3 * R * 8 + 112
    max_cap = int(min(1 << 20, max(256, INDEX_BUDGET_BYTES // per_bucket)))
    cap = min(max_cap, INITIAL_BUCKETS)
    tab = _BucketTable(cap, N, R, nw, nsb, T)
    stats.types = T
    while not IX.build_index(ntype, req, nz, talloc, tab.btype, tab.breq, tab.bnz, tab.balloc, tab.htab,
                             tab.nb, tab.nbucket, tab.bits, tab.sbc, tab.bcount, tab.bnext, tab.bprev,
                             tab.thead):
        if cap >= max_cap:
            stats.buckets = int(tab.nb[0])
            return 0
        cap = min(max_cap, cap * 4)
        tab = _BucketTable(cap, N, R, nw, nsb, T)
    done = 0
    while True:
        done = int(IX.run(alloc, req, nz, cp.check_col, cp.fit_filter_on, pod_spec, spec_cls, spec_req,
                          spec_nz, code, cand_off, cand_len, cand_flat, conflict, aff_row, aff_rows,
                          taint_row, taint_rows, *prof, cp.pct, rng, start, out, fail, ntype, talloc,
                          cls_toff, cls_tflat, taff, ttaint, tab.nbucket, tab.btype, tab.breq, tab.bnz,
                          tab.balloc, tab.bits, tab.sbc, tab.bcount, tab.bnext, tab.bprev, tab.thead,
                          tab.htab, tab.nb, tab.bc_spec, tab.bc_bits, tab.bc_tot, tab.bt_spec, tab.bt_to,
                          done))
        if done >= len(pod_spec) or cap >= max_cap:
            break
        cap = min(max_cap, cap * 4)
        tab = tab.grown(cap)
    stats.buckets = int(tab.nb[0])
    return done


class _BucketTable:
    """The indexed engine's bucket arrays (see indexed.py); `grown` copies them into a larger table."""
    FIELDS = (("btype", 0, np.int64), ("breq", "R", np.int64), ("bnz", 2, np.int64),
              ("balloc", "R", np.int64), ("bits", "nw", np.uint64), ("sbc", "nsb", np.int32),
              ("bcount", 0, np.int64), ("bnext", -1, np.int64), ("bprev", -1, np.int64),
              ("bc_spec", -1, np.int64), ("bc_bits", 0, np.int64), ("bc_tot", 0, np.int64),
              ("bt_spec", -1, np.int64), ("bt_to", 0, np.int64))

    def __init__(self, cap: int, N: int, R: int, nw: int, nsb: int, T: int, alloc_fields: bool = True):
        self.cap, self.N, self.R, self.nw, self.nsb, self.T = cap, N, R, nw, nsb, T
        width = {"R": R, "nw": nw, "nsb": nsb, 2: 2}
        IX.allocate_fields(self, self.FIELDS, cap, width)
        self.htab = np.full(1 << int(2 * cap - 1).bit_length(), -1, dtype=np.int64)
        self.thead = np.full(T, -1, dtype=np.int64)
        self.nb = np.zeros(1, dtype=np.int64)
        self.nbucket = np.zeros(N, dtype=np.int64)

    def grown(self, cap: int) -> "_BucketTable":
        new = _BucketTable(cap, self.N, self.R, self.nw, self.nsb, self.T)
        for name, _, _ in self.FIELDS:
            getattr(new, name)[: self.cap] = getattr(self, name)
        new.thead[:] = self.thead
        new.nb[:] = self.nb
        new.nbucket[:] = self.nbucket
        IX.rehash(new.htab, new.btype, new.breq, new.bnz, int(new.nb[0]))
        return new
