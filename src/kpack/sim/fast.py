"""Fast replay: the same discrete-event replay as `Replay.run`, with the event loop compiled (sim/loop.py)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from ..plugins import nodeunschedulable
from ..predicates import REASON_ABSENT, REASONS, UNSCHEDULABLE, pinned_class
from ..profile import Profile
from ..scheduler import Scheduler, fit_error
from . import loop as L
from .metrics import (
    WAIT_EDGES,
    metrics_table,
    sample_interval,
    sample_rates,
    summary_of,
    thin_samples,
)
from .sampling import sample_stats
from .schema import EVENTS_FILE, PODS_FILE
from .timeline import node_timeline

NEVER = L.NEVER
# Remembered node verdicts of pod classes (loop.mem_update): on, for every class from its first attempt
# (REMEMBER_ALL) or from its first failure, and the memory they may take. VERIFY re-checks every remembered
# verdict against a full scan (tests; slow).
REMEMBER_FAILURES = True
REMEMBER_ALL = True
MEMORY_BYTES = 64 << 20
VERIFY = False


def log_node_change(chg: np.ndarray, ist: np.ndarray, v: int) -> None:
    """loop.chg_log for the driver's node changes (evictions, cordons, joins, departures)."""
    p = int(ist[L.I_CHGN])
    chg[p & (len(chg) - 1)] = v
    ist[L.I_CHGN] = p + 1


class FastUnsupported(Exception):
    """The trace or options need the Python replay (the message says why)."""


def unsupported_reason(replay: Any) -> Optional[str]:
    """Why `replay` cannot take the fast path, or None. Checked before anything runs; a few conditions that
    only show in the pod stream (a GPU-sharing pod) are checked while streaming (FastUnsupported)."""
    from ..gpu.plugins import GPU_POLICY_CODES

    opts = replay.opts
    if opts.policy:
        return "a GPU policy backend (--policy) runs its own kernel"
    if opts.control_plane is not None:
        return "a control plane is attached (workload events run in Python)"
    if replay.trace.has_events:
        kinds = set(replay.trace.read(EVENTS_FILE).column("kind").to_pylist())
        if kinds - {"Node"}:
            return ("events.parquet has Deployment/DaemonSet events: kpack.ControlPlane runs on the Python "
                    "loop (its controllers and scheduling batches are Python)")
    prof = opts.profile or Profile.default()
    if any(n in GPU_POLICY_CODES for n in prof.score_weights):
        return "the profile enables a GPU policy plugin (device-aware kernel)"
    if prof.static_scores:
        return "the profile enables registered static score plugins"
    return None


class _Strings:
    """Pod name/namespace/owner columns of streamed batches, by trace order (seq); survivors of old batches
    are compacted into one segment so memory follows the live pods, not the trace length."""

    def __init__(self) -> None:
        self.segs: list[tuple[np.ndarray, list[pa.Array]]] = []   # (sorted seqs, 4 string arrays)
        self.rows = 0

    def add(self, base: int, cols: list[pa.Array]) -> None:
        n = len(cols[0])
        self.segs.append((np.arange(base, base + n, dtype=np.int64), cols))
        self.rows += n

    def take(self, seqs: np.ndarray) -> list[pa.Array]:
        out_idx = []
        parts: list[list[pa.Array]] = [[], [], [], []]
        for sq, cols in self.segs:
            pos = np.searchsorted(sq, seqs)
            pos_c = np.minimum(pos, len(sq) - 1)
            hit = np.flatnonzero(sq[pos_c] == seqs)
            if not len(hit):
                continue
            out_idx.append(hit)
            idx = pa.array(pos_c[hit])
            for j in range(4):
                parts[j].append(cols[j].take(idx))
        order = np.argsort(np.concatenate(out_idx), kind="stable") if out_idx else np.zeros(0, np.int64)
        res = []
        for j in range(4):
            a = pa.concat_arrays(parts[j]) if parts[j] else pa.array([], pa.string())
            res.append(a.take(pa.array(order)))
        return res

    def compact(self, keep: np.ndarray, from_seq: int) -> None:
        """Keep the rows whose seq is in `keep` (sorted) or >= from_seq."""
        segs = []
        for sq, cols in self.segs:
            m = (sq >= from_seq) | np.isin(sq, keep)
            if m.all():
                segs.append((sq, cols))
            elif m.any():
                mi = pa.array(np.flatnonzero(m))
                segs.append((sq[m], [c.take(mi) for c in cols]))
        # merge everything below from_seq into one segment (sorted: segments are in trace order)
        old = [s for s in segs if s[0][-1] < from_seq]
        new = [s for s in segs if s[0][-1] >= from_seq]
        if len(old) > 1:
            merged = (np.concatenate([s[0] for s in old]),
                      [pa.concat_arrays([s[1][j] for s in old]) for j in range(4)])
            old = [merged]
        self.segs = old + new
        self.rows = sum(len(s[0]) for s in self.segs)


def static_histogram(n_nodes: int, code: np.ndarray, candidates: Optional[np.ndarray]) -> Counter:
    """scheduler.static_histogram, vectorised: nodes rejected by a static filter, per reason text."""
    nodes = np.arange(n_nodes) if candidates is None else np.asarray(candidates, np.int64)
    c = code[nodes]
    vals, cnt = np.unique(c[c != 0], return_counts=True)
    h: Counter = Counter()
    for v, k in zip(vals.tolist(), cnt.tolist()):
        h[REASONS.get(int(v))] += k
    if candidates is not None and n_nodes > len(candidates):
        h[REASON_ABSENT] += n_nodes - len(candidates)
    return h


def _str_col(b: pa.RecordBatch, c: str, default: Optional[str]) -> pa.Array:
    if c in b.schema.names:
        a = b.column(c)
        return a.cast(pa.string()) if pa.types.is_dictionary(a.type) else a
    return pa.array([default] * b.num_rows, pa.string())


def run_fast(replay: Any, out_dir: Optional[str | Path] = None):
    """`Replay.run` through the compiled loop: identical placements, waits, metrics and summary."""
    from ..topology import engine as topology
    from .replay import (
        PodClasses,
        SimResult,
        _PlacementWriter,
        build_cluster,
        node_arrays,
        read_nodes,
        unique_rows,
    )

    t_start = time.perf_counter()
    opts = replay.opts
    trace = replay.trace
    nd = read_nodes(trace)
    resources = list(nd["resources"])
    pod_res = [r for r in trace.resource_columns(PODS_FILE) if r not in resources]
    if pod_res:
        raise FastUnsupported(f"pods request resources no node has ({', '.join(pod_res)})")
    classes = PodClasses(resources, lazy_pins=True)
    replay.classes = classes
    names = nd["names"]
    N = len(names)
    node_idx = {n: i for i, n in enumerate(names)}
    times = nd["times"]
    w = opts.window
    nev, _ = node_timeline(trace, nd, w)     # workload events are refused before this
    nev_t = np.unique(np.array([e[0] for e in nev], np.int64)) if nev else np.zeros(0, np.int64)
    present = times["add_time"] <= 0
    cordoned = nd["unschedulable"].copy()
    unsched = nd["unschedulable"] | (times["add_time"] > 0)

    # The real cluster gives node names and reason texts; classes compile on one with every node
    # schedulable (the cordon filter is applied per node below: it is the first filter, so a cordoned node's
    # code is UNSCHEDULABLE for pods that do not tolerate it, else the code it has when schedulable).
    arrays = node_arrays(nd)
    cluster = build_cluster(nd, arrays)
    c0 = build_cluster(nd, arrays, unschedulable=np.zeros(N, bool))
    profile = opts.profile or Profile.default()
    sched = Scheduler(profile, seed=opts.seed, engine=opts.engine)
    view, order, cache = sched.view(c0)
    cp = cache.profile
    res_names = list(cluster.resource_names)
    R = len(res_names)
    if order is None:
        order = np.arange(N, dtype=np.int64)
    inv = np.empty(N, np.int64)
    inv[order] = np.arange(N)
    unsched_on = "NodeUnschedulable" in profile.filters
    pin_ok = "NodeAffinity" in cp.filter_set     # Scheduler.classes compiles pins this way only then

    alloc = np.ascontiguousarray(view.allocatable, dtype=np.int64)
    req = np.zeros((N, R), np.int64)
    nz = np.zeros((N, 2), np.int64)

    # --- classes -------------------------------------------------------------------------------------
    C = {"n": 0}
    cl: dict[str, list] = {k: [] for k in ("creq", "cnz", "crow", "cand_off", "cand_len", "conflict",
                                           "aff_row", "taint_row", "static")}
    rows_of: dict[int, int] = {}
    code0: list[np.ndarray] = []
    fu: list[bool] = []
    aff_of: dict[int, int] = {}
    aff_list: list[np.ndarray] = []
    taint_of: dict[int, int] = {}
    taint_list: list[np.ndarray] = [np.zeros(N, np.int64)]
    cand_parts: list[np.ndarray] = []
    cand_total = [0]
    base_static: dict[int, Any] = {}     # PodClasses.bases index -> its StaticClass
    A: dict[str, Any] = {}
    unsched_v = unsched[order]

    def rebuild_class_arrays() -> None:
        n = C["n"]
        # creq / cnz hold one block of rows per compile_new call
        A["creq"] = np.ascontiguousarray(np.concatenate(cl["creq"] or [np.zeros((0, R))]).astype(np.int64))
        A["cnz"] = np.ascontiguousarray(np.concatenate(cl["cnz"] or [np.zeros((0, 2))]).astype(np.int64))
        A["cprio"] = np.ascontiguousarray(classes.prio[:n].astype(np.int64))
        A["cpinned"] = np.array(classes.pinned[:n], np.int8)
        A["ccm"] = np.ascontiguousarray(classes.cpu_mem[:n].astype(np.int64))
        for k, dt in (("crow", np.int64), ("cand_off", np.int64), ("cand_len", np.int64),
                      ("conflict", np.int8), ("aff_row", np.int64), ("taint_row", np.int64)):
            A[k] = np.array(cl[k], dt)
        old_fg = A.get("fail_g", np.zeros(0, np.int64))
        fg = np.full(n, -1, np.int64)
        fg[: len(old_fg)] = old_fg
        A["fail_g"] = fg
        for k, fill in (("c_off", 0), ("c_cap", 0), ("c_n", 0), ("act", 0), ("act_pos", -1), ("zc_pos", -1),
                        ("zc_g", -2), ("mem_slot", -1), ("mem_pos", 0)):
            old = A.get(k, np.zeros(0, np.int64))
            a = np.full(n, fill, np.int64)
            a[: len(old)] = old
            A[k] = a
        c0_rows = np.stack(code0) if code0 else np.zeros((1, N), np.int8)
        A["code0"] = c0_rows
        A["fu"] = np.array(fu or [False], bool)
        A["code_rows"] = np.ascontiguousarray(
            np.where(unsched_v[None, :] & A["fu"][:, None], np.int8(UNSCHEDULABLE), c0_rows).astype(np.int8))
        A["cand_flat"] = np.concatenate(cand_parts).astype(np.int64) if cand_parts else np.zeros(0, np.int64)
        A["aff_rows"] = np.stack(aff_list) if aff_list else np.zeros((1, N), np.int64)
        A["taint_rows"] = np.stack(taint_list)

    def compile_new() -> None:
        n0, n1 = C["n"], len(classes.specs)
        if n1 == n0:
            return
        # pinned (DaemonSet) classes: compiled from their unpinned base plus the one-node candidate list, as
        # Scheduler.classes does for pins, without a spec Pod per node (see PodClasses.lazy_pins)
        pins = [(c, classes.pin_base[c], classes.pin_node[c]) for c in range(n0, n1)
                if classes.specs[c] is None]
        if pins and not pin_ok:
            for c, _, _ in pins:
                classes.spec(c)
            pins = []
        rep = [classes.bases[classes.pin_base[c]] if classes.specs[c] is None else classes.specs[c]
               for c in range(n0, n1)]
        for i, p in enumerate(rep):
            if p.gpu_milli is not None and p.gpu_milli < 1000:
                raise FastUnsupported(f"pod class {n0 + i} shares a GPU (gpu_milli {p.gpu_milli}): "
                                      "device-aware kernel")
        own = [c for c in range(n0, n1) if classes.specs[c] is not None]
        base_ids = sorted({b for _, b, _ in pins})
        comp = [classes.specs[c] for c in own] + [classes.bases[b] for b in base_ids]
        if topology.needed(profile, view, comp):
            raise FastUnsupported("pods need PodTopologySpread/InterPodAffinity (topology kernel)")
        cstat, ccls = sched.classes(view, comp, cache)
        sc_of: dict[int, Any] = {c: cstat[int(ccls[j])] for j, c in enumerate(own)}
        for j, b in enumerate(base_ids):
            base_static[b] = cstat[int(ccls[len(own) + j])]
        vec, nzv = c0.pod_vectors(rep)
        if list(c0.resource_names) != res_names:
            raise FastUnsupported("pods request resources no node has")
        m = n1 - n0
        cl["creq"].append(np.asarray(vec, np.int64).reshape(m, R))
        cl["cnz"].append(np.asarray(nzv, np.int64).reshape(m, 2))

        def rows(sc: Any, pod: Any) -> tuple[int, int, int]:
            """The class's code row, affinity row and taint row (shared by classes with the same arrays)."""
            key = id(sc.code)
            r = rows_of.get(key)
            if r is None:
                r = rows_of[key] = len(code0)
                code0.append(sc.code.astype(np.int8))
                fu.append(bool(unsched_on and nodeunschedulable.fails(np.ones(1, bool), pod)[0]))
            a = sc.affinity_raw
            ar = -1
            if a is not None:
                ar = aff_of.get(id(a))
                if ar is None:
                    ar = aff_of[id(a)] = len(aff_list)
                    aff_list.append(np.asarray(a, np.int64))
            tr = sc.taint_raw
            k = taint_of.get(id(tr))
            if k is None:
                k = taint_of[id(tr)] = len(taint_list) if tr.any() else 0
                if k:
                    taint_list.append(np.asarray(tr, np.int64))
            return r, ar, k

        # per-class columns of this batch; a pinned class takes its base's rows (predicates.pinned_class
        # shares the base's arrays) and the one-node candidate list of its node (none if the node is unknown)
        crow = np.zeros(m, np.int64)
        aff_row = np.zeros(m, np.int64)
        taint_row = np.zeros(m, np.int64)
        conflict = np.zeros(m, np.int64)
        clen = np.zeros(m, np.int64)
        cands: list[Any] = [None] * m
        statics: list[Any] = [None] * m
        base_rows: dict[int, tuple[int, int, int]] = {}
        for c in own:
            i = c - n0
            sc = sc_of[c]
            crow[i], aff_row[i], taint_row[i] = rows(sc, rep[i])
            conflict[i] = int(sc.conflict)
            statics[i] = sc
            if sc.candidates is None:
                clen[i] = -1
            else:
                cands[i] = np.asarray(sc.candidates, np.int64)
                clen[i] = len(cands[i])
        node_index = view.node_index
        for c, b, node in pins:
            i = c - n0
            br = base_rows.get(b)
            if br is None:
                br = base_rows[b] = rows(base_static[b], rep[i])
            crow[i], aff_row[i], taint_row[i] = br
            v = node_index.get(node)
            if v is not None:
                cands[i] = v
                clen[i] = 1
        size = np.maximum(clen, 0)
        off = cand_total[0] + np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
        flat = np.empty(int(size.sum()), np.int64)
        for i in np.flatnonzero(size).tolist():
            o = int(off[i]) - cand_total[0]
            flat[o: o + int(size[i])] = cands[i]
        cand_parts.append(flat)
        cand_total[0] += len(flat)
        cl["crow"].extend(crow.tolist())
        cl["aff_row"].extend(aff_row.tolist())
        cl["taint_row"].extend(taint_row.tolist())
        cl["conflict"].extend(conflict.tolist())
        cl["cand_len"].extend(clen.tolist())
        cl["cand_off"].extend(np.where(clen < 0, 0, off).tolist())
        cl["static"].extend(statics)
        C["n"] = n1
        rebuild_class_arrays()

    # --- slots, calendar, buffers ----------------------------------------------------------------------
    ist = np.zeros(L.N_STATE, np.int64)
    S: dict[str, np.ndarray] = {}
    SLOT = {"state": np.int8, "cls": np.int64, "node": np.int64, "evict": np.int64, "arrival": np.int64,
            "dep": np.int64, "dur": np.int64, "start_t": np.int64, "end_t": np.int64, "seq": np.int64,
            "queue": np.int64, "qtmp": np.int64, "evq": np.int64}

    def grow_slots(cap: int) -> None:
        old = int(ist[L.I_CAP])
        for k, dt in SLOT.items():
            a = np.zeros(cap, dt)
            if k in S:
                a[:old] = S[k]
            if k == "seq" and old < cap:
                a[old:] = -1
            S[k] = a
        fs = np.zeros(cap, np.int64)
        top = int(ist[L.I_TOP])
        if "fstack" in S:
            fs[:top] = S["fstack"][:top]
        # new slots pushed so the lowest is taken first
        fs[top: top + cap - old] = np.arange(cap - 1, old - 1, -1)
        S["fstack"] = fs
        ist[L.I_TOP] = top + cap - old
        ist[L.I_CAP] = cap
        ensure_buffers()

    B: dict[str, np.ndarray] = {}

    def sized(name: str, used: int, need: int, dt, shape2: int = 0) -> None:
        a = B.get(name)
        if a is None or len(a) - used < need:
            size = max(1024, 2 * (used + need))
            new = np.zeros((size, shape2) if shape2 else size, dt)
            if a is not None:
                new[:used] = a[:used]
            B[name] = new

    def ensure_buffers() -> None:
        cap = int(ist[L.I_CAP])
        # twice what the kernel asks for, so it returns FLUSH only after filling half of the room
        for k in ("o_seq", "o_node", "o_arr", "o_start", "o_end", "o_evict"):
            sized(k, int(ist[L.I_OUTN]), 2 * cap, np.int64)
        sized("o_out", int(ist[L.I_OUTN]), 2 * cap, np.int8)
        sized("f_cls", int(ist[L.I_FAILN]), 2 * cap, np.int64)
        sized("f_rows", int(ist[L.I_FAILN]), 2 * cap, np.int32, R)
        n = int(ist[L.I_HEAPN])
        for k in ("ht", "hs", "hq"):
            sized(k, n, 4 * cap, np.int64)
        for k in ("log_gen", "log_node"):
            sized(k, int(ist[L.I_LOGN]), 2 * cap + N, np.int64)
        if "c_n" in A:
            need = 8 * cap + 16 * C["n"]
            if "ph_slot" not in B or len(B["ph_slot"]) - int(ist[L.I_PHEND]) < need:
                pack_pending(need)

    def pack_pending(room: int) -> None:
        """Lay the per-class pending heaps out afresh (live entries only, each sorted by seq: a valid
        min-heap), with room to spare at the end of the pool."""
        c_off, c_n = A["c_off"], A["c_n"]
        if "ph_slot" in B:
            ncls = np.flatnonzero(c_n > 0)
            lens = c_n[ncls]
            idx = np.repeat(c_off[ncls] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(
                int(lens.sum()))
            ent_c = np.repeat(ncls, lens)
            ent_s, ent_q = B["ph_slot"][idx], B["ph_seq"][idx]
            ok = (S["seq"][ent_s] == ent_q) & (S["state"][ent_s] == L.PENDING)
            ent_c, ent_s, ent_q = ent_c[ok], ent_s[ok], ent_q[ok]
            o = np.lexsort((ent_q, ent_c))
            ent_c, ent_s, ent_q = ent_c[o], ent_s[o], ent_q[o]
        else:
            ent_c = ent_s = ent_q = np.zeros(0, np.int64)
        n = np.bincount(ent_c, minlength=len(c_n)).astype(np.int64)
        cap_ = np.where(n > 0, 2 * (n + 2), 0)
        off = np.concatenate([[0], np.cumsum(cap_)[:-1]]).astype(np.int64) if len(cap_) else cap_
        end = int(cap_.sum())
        size = max(1 << 12, 2 * (end + room))
        ph_slot = np.zeros(size, np.int64)
        ph_seq = np.zeros(size, np.int64)
        pos = off[ent_c] + (np.arange(len(ent_c)) - np.searchsorted(ent_c, ent_c))
        ph_slot[pos], ph_seq[pos] = ent_s, ent_q
        B["ph_slot"], B["ph_seq"] = ph_slot, ph_seq
        A["c_off"][:], A["c_cap"][:], A["c_n"][:] = off, cap_, n
        active = np.flatnonzero(n > 0)
        A["act"][:] = 0
        A["act"][: len(active)] = active
        A["act_pos"][:] = -1
        A["act_pos"][active] = np.arange(len(active))
        ist[L.I_NACT] = len(active)
        ist[L.I_PHEND] = end

    # the node change log (a ring of at least 2N entries: a class reads back at most N of them) and the
    # remembered verdicts, one slot of N verdicts per class that failed, round robin over a bounded pool
    chg = np.zeros(1 << max(12, int(2 * N - 1).bit_length()), np.int64)
    n_mem = min(4096, MEMORY_BYTES // (4 * N)) if REMEMBER_FAILURES and R <= 30 else 0
    ist[L.I_MEMON] = int(n_mem > 0)
    ist[L.I_VERIFY] = int(VERIFY)
    ist[L.I_MEMALL] = int(REMEMBER_ALL)
    mem_cls = np.full(max(1, n_mem), -1, np.int64)
    mem_bits = np.zeros((max(1, n_mem), N), np.int32)
    mem_hist = np.zeros((max(1, n_mem), R), np.int32)
    mem_nfeas = np.zeros(max(1, n_mem), np.int64)

    def log_change(v: int) -> None:
        log_node_change(chg, ist, v)

    rebuild_class_arrays()
    grow_slots(1 << 12)
    buf = {k: np.zeros(0, np.int64) for k in ("arr", "dep", "dur", "cls")}
    node_freed_at = np.zeros(N, np.int64)
    mark = np.zeros(N, np.int64)
    ref = np.zeros(2, np.float64)
    rng = sched.rng
    start = sched.start
    wait_hist = np.zeros(len(WAIT_EDGES), np.int64)
    strings = _Strings()

    pod_names = trace.files[PODS_FILE].schema_arrow.names
    batches = trace.iter_batches(PODS_FILE)
    seq_loaded = [0]

    def load() -> bool:
        b = next(batches, None)
        if b is None:
            return False
        n = b.num_rows
        arr = b.column("arrival").to_numpy(zero_copy_only=False).astype(np.int64)
        dep = (b.column("departure").fill_null(NEVER).to_numpy(zero_copy_only=False).astype(np.int64)
               if "departure" in pod_names else np.full(n, NEVER, np.int64))
        dur = (b.column("duration").fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
               if "duration" in pod_names else np.full(n, -1, np.int64))
        if w:
            arr = -(-arr // w) * w
            dep = np.where(dep == NEVER, NEVER, -(-np.minimum(dep, NEVER - w) // w) * w)
        cls = classes.encode(b).astype(np.int64)
        compile_new()
        pos = int(ist[L.I_POS])
        for k, v in (("arr", arr), ("dep", dep), ("dur", dur), ("cls", cls)):
            buf[k] = np.ascontiguousarray(np.concatenate([buf[k][pos:], v]))
        ist[L.I_POS] = 0
        ist[L.I_BUFN] = len(buf["arr"])
        strings.add(seq_loaded[0], [_str_col(b, "name", ""), _str_col(b, "namespace", "default"),
                                    _str_col(b, "owner_kind", None), _str_col(b, "owner_name", None)])
        seq_loaded[0] += n
        need = int(ist[L.I_BUFN])
        if int(ist[L.I_TOP]) < need:
            cap = int(ist[L.I_CAP])
            grow_slots(max(2 * cap, cap + need - int(ist[L.I_TOP])))
        ensure_buffers()
        return True

    # --- outputs ---------------------------------------------------------------------------------------
    out = Path(out_dir) if out_dir is not None else None
    pw = _PlacementWriter(out / "placements.parquet" if out else None)
    reasons: Counter = Counter()
    counts: Counter = Counter()
    hist_cache: dict = {}
    epoch = [0]
    node_names_arr = np.array(list(names) + [None], dtype=object)

    def write_records(seqs, nodes_v, arr, st, end, ev, outcome) -> None:
        if pw.writer is None or not len(seqs):
            return
        name, ns, ok_, on = strings.take(seqs)
        nodes_c = np.where(nodes_v >= 0, order[np.maximum(nodes_v, 0)], N)
        t = pa.table({
            "pod": name,
            "namespace": ns.dictionary_encode(),
            "owner_kind": on_or(ok_),
            "owner_name": on_or(on),
            "node": pa.array(node_names_arr[nodes_c].tolist(), pa.string()).dictionary_encode(),
            "arrival": arr,
            "start": pa.array(st, mask=st < 0),
            "end": pa.array(end, mask=end < 0),
            "wait": pa.array(st - arr, mask=st < 0),
            "evictions": ev.astype(np.int32),
            "outcome": pa.DictionaryArray.from_arrays(pa.array(outcome.astype(np.int32)),
                                                      pa.array(_PlacementWriter.OUTCOMES)),
        })
        pw.writer.write_table(t.cast(_PlacementWriter.SCHEMA))

    def on_or(a: pa.Array) -> pa.Array:
        return a.dictionary_encode()

    def flush_out() -> None:
        n = int(ist[L.I_OUTN])
        if n:
            write_records(B["o_seq"][:n].copy(), B["o_node"][:n], B["o_arr"][:n].copy(),
                          B["o_start"][:n].copy(),
                          B["o_end"][:n].copy(), B["o_evict"][:n], B["o_out"][:n])
            ist[L.I_OUTN] = 0

    def static_of(c: int) -> Any:
        """Class c's StaticClass (a pinned class's is built when first needed: only its failures read it)."""
        sc = cl["static"][c]
        if sc is None:
            sc = cl["static"][c] = pinned_class(view, base_static[classes.pin_base[c]], classes.pin_node[c])
        return sc

    def flush_fail() -> None:
        n = int(ist[L.I_FAILN])
        if not n:
            return
        key = np.hstack([B["f_cls"][:n, None], B["f_rows"][:n].astype(np.int64)])
        uniq, _, _, cnt = unique_rows(key)
        for row, k in zip(uniq, cnt.tolist()):
            c = int(row[0])
            sc = static_of(c)
            r = int(A["crow"][c])
            hk = (r, sc.candidates is None, -1 if sc.candidates is None else int(A["cand_off"][c]),
                  epoch[0])
            h = hist_cache.get(hk)
            if h is None:
                cur = type(sc)(A["code_rows"][r], sc.taint_reason, sc.candidates, sc.conflict,
                               sc.affinity_raw, sc.taint_raw, sc.static_raw)
                h = hist_cache[hk] = (cur, static_histogram(N, cur.code, cur.candidates))
            reasons[fit_error(cluster, h[0], h[1], row[1:])] += k
        ist[L.I_FAILN] = 0

    def compact() -> None:
        live = S["seq"][(S["state"] != L.FREE)]
        if strings.rows > 2 * (len(live) + int(ist[L.I_BUFN]) - int(ist[L.I_POS])) + (1 << 17):
            strings.compact(np.sort(live), int(ist[L.I_SEQ]))
        # the freed-node log: entries at or before every pending class's last failure are never read again
        n = int(ist[L.I_LOGN])
        if n > 4 * N + (1 << 16):
            act = A["act"][: int(ist[L.I_NACT])]
            g = int(A["fail_g"][act].min()) if len(act) else int(ist[L.I_FREEGEN])
            lo = int(np.searchsorted(B["log_gen"][:n], g, side="right")) if g >= 0 else 0
            for k in ("log_gen", "log_node"):
                B[k][: n - lo] = B[k][lo:n].copy()
            ist[L.I_LOGN] = n - lo
            z = A["zc_pos"]
            z[:] = np.where(z >= 0, np.maximum(z - lo, 0), z)

    # --- node events (rare: applied here, exactly as Replay.run applies them) -----------------------------
    ne_pos = [0]

    def set_unsched(i: int, flag: bool) -> None:
        unsched[i] = flag
        v = int(inv[i])
        unsched_v[v] = flag
        A["code_rows"][:, v] = np.where(flag & A["fu"], np.int8(UNSCHEDULABLE), A["code0"][:, v])
        log_change(v)
        epoch[0] += 1

    def log_free(v: int) -> None:
        n = int(ist[L.I_LOGN])
        if n >= len(B["log_gen"]):
            sized("log_gen", n, N + 1, np.int64)
            sized("log_node", n, N + 1, np.int64)
        B["log_gen"][n] = ist[L.I_FREEGEN]
        B["log_node"][n] = v
        ist[L.I_LOGN] = n + 1

    bound_by_node: dict[str, np.ndarray] = {}

    def evict_node(v: int) -> None:
        # the bound slots sorted by node, once per node_events call (no pod binds until it returns); a node's
        # slots come out in ascending order, as flatnonzero gives them
        if "slots" not in bound_by_node:
            b = np.flatnonzero(S["state"] == L.BOUND)
            o = np.argsort(S["node"][b], kind="stable")
            bound_by_node["slots"], bound_by_node["nodes"] = b[o], S["node"][b][o]
        lo, hi = np.searchsorted(bound_by_node["nodes"], [v, v + 1])
        on = bound_by_node["slots"][lo:hi]
        on = on[(S["state"][on] == L.BOUND) & (S["node"][on] == v)]    # not evicted earlier in this call
        if not len(on):
            return
        c = S["cls"][on]
        req[v] -= A["creq"][c].sum(axis=0)
        nz[v] -= A["cnz"][c].sum(axis=0)
        log_change(v)
        S["state"][on] = L.PENDING
        S["node"][on] = -1
        S["end_t"][on] = NEVER
        S["evict"][on] += 1
        counts["evictions"] += len(on)
        A["zc_pos"][:] = -1      # the node's capacity came back without a log entry
        k = int(ist[L.I_EVN])
        S["evq"][k: k + len(on)] = on
        ist[L.I_EVN] = k + len(on)

    def node_events(t: int) -> None:
        bound_by_node.clear()
        while ne_pos[0] < len(nev) and nev[ne_pos[0]][0] == t:
            _, _, act, nm = nev[ne_pos[0]]
            ne_pos[0] += 1
            i = node_idx[nm]
            v = int(inv[i])
            counts[f"node_{act}"] += 1
            if act in ("add", "uncordon"):
                ist[L.I_FREEGEN] += 1
                node_freed_at[v] = ist[L.I_FREEGEN]
                log_free(v)
            if act == "add":
                present[i] = True
                if not cordoned[i]:
                    set_unsched(i, False)
                ist[L.I_FREED] = 1
            elif act in ("fail", "remove"):
                if present[i]:
                    evict_node(v)
                    present[i] = False
                    set_unsched(i, True)
            elif act in ("cordon", "uncordon"):
                cordoned[i] = act == "cordon"
                if present[i]:
                    set_unsched(i, bool(cordoned[i]))
                if act == "uncordon":
                    ist[L.I_FREED] = 1
        ist[L.I_NE] += 1

    # --- metrics samples -----------------------------------------------------------------------------
    interval = sample_interval(trace.files[PODS_FILE], max([e[0] for e in nev] + [0]), opts.samples, w)
    met: dict[str, list] = {k: [] for k in ("time", "pending", "running", "placements_per_s", "fragmentation",
                                             "nodes")}
    for r in res_names:
        met[f"alloc_{r}"] = []
    step = [interval]

    used = np.zeros(R, np.int64)
    capv = np.zeros(R, np.int64)

    def sample(t: int) -> None:
        # metrics.fragmentation and the sums of Replay's samples, in one compiled pass
        rf = ref / max(1, int(ist[L.I_NREF]))
        pending, running, frag = sample_stats(alloc, req, present[order], unsched_v, S["state"], rf[0], rf[1],
                                              used, capv)
        met["time"].append(t)
        met["pending"].append(int(pending))
        met["running"].append(int(running))
        met["placements_per_s"].append(int(ist[L.I_PLACEMENTS]))   # cumulative; rates at the end
        met["nodes"].append(int(present.sum()))
        for j, r in enumerate(res_names):
            met[f"alloc_{r}"].append(float(used[j] / capv[j]) if capv[j] else 0.0)
        met["fragmentation"].append(float(frag))
        step[0] = thin_samples(met, step[0], opts.samples)
        ist[L.I_NEXTSAMPLE] = (t // step[0] + 1) * step[0]

    # --- the loop --------------------------------------------------------------------------------------
    ist[L.I_RETRYALL] = int(bool(opts.retry_all))
    ist[L.I_PHASE] = L.PH_TIME
    wait_edges = np.ascontiguousarray(WAIT_EDGES, dtype=np.float64)
    t_kernel = 0.0
    calls = Counter()
    if not load():
        ist[L.I_EXH] = 1
    while True:
        a = A
        t0 = time.perf_counter()
        status = L.run(
            ist, ref, rng, start, buf["arr"], buf["dep"], buf["dur"], buf["cls"],
            S["state"], S["cls"], S["node"], S["evict"], S["arrival"], S["dep"], S["dur"], S["start_t"],
            S["end_t"], S["seq"], S["fstack"], S["queue"], S["qtmp"], S["evq"],
            B["ph_slot"], B["ph_seq"], a["c_off"], a["c_cap"], a["c_n"], a["act"], a["act_pos"], a["zc_pos"],
            a["zc_g"],
            B["ht"], B["hs"], B["hq"], alloc, req, nz, node_freed_at, B["log_gen"], B["log_node"], mark,
            nev_t,
            a["creq"], a["cnz"], a["cprio"], a["cpinned"], a["ccm"], a["fail_g"],
            a["crow"], a["code_rows"], a["cand_off"], a["cand_len"], a["cand_flat"], a["conflict"],
            a["aff_row"], a["aff_rows"], a["taint_row"], a["taint_rows"],
            cp.check_col, cp.fit_filter_on, cp.weights, cp.fit_col, cp.fit_kind, cp.fit_w, cp.strategy,
            cp.shape_u, cp.shape_s, cp.bal_col, cp.bal_kind, cp.pct,
            chg, a["mem_slot"], a["mem_pos"], mem_cls, mem_bits, mem_hist, mem_nfeas,
            B["o_seq"], B["o_node"], B["o_arr"], B["o_start"], B["o_end"], B["o_evict"], B["o_out"],
            B["f_cls"], B["f_rows"], wait_hist, wait_edges)
        t_kernel += time.perf_counter() - t0
        calls[status] += 1
        if status == L.DONE:
            break
        if status == L.NEED_DATA:
            if not load():
                ist[L.I_EXH] = 1
            flush_out()
            flush_fail()
            compact()
            ensure_buffers()
        elif status == L.FLUSH:
            flush_out()
            flush_fail()
            compact()
            ensure_buffers()
        elif status == L.NODE_EVENTS:
            flush_fail()
            node_events(int(ist[L.I_T]))
        elif status == L.SAMPLE:
            sample(int(ist[L.I_T]))
    flush_fail()
    flush_out()
    live = np.flatnonzero(S["state"] == L.BOUND)
    pend = np.flatnonzero(S["state"] == L.PENDING)
    for slots in (live, pend):
        if len(slots):
            nodes = S["node"][slots] if slots is live else np.full(len(slots), -1, np.int64)
            write_records(S["seq"][slots], nodes, S["arrival"][slots], S["start_t"][slots],
                          np.full(len(slots), -1, np.int64), S["evict"][slots],
                          np.full(len(slots), 2 if slots is live else 3, np.int8))
    if pw.writer is not None:
        pw.writer.close()
    t_run = time.perf_counter() - t_start
    sample_rates(met)
    metrics = metrics_table(met)
    seq = int(ist[L.I_SEQ])
    events = seq + int(ist[L.I_DEPARTURES]) + int(ist[L.I_DELPEND]) + len(nev)
    for k in ("placements", "departures", "deleted_pending", "attempts"):
        counts[k] = int(ist[{"placements": L.I_PLACEMENTS, "departures": L.I_DEPARTURES,
                             "deleted_pending": L.I_DELPEND, "attempts": L.I_ATTEMPTS}[k]])
    summary = summary_of(str(trace.dir.name), "kube", "", opts, len(names), seq, events, counts, len(live),
                         len(pend), wait_hist, int(ist[L.I_WAITSUM]), int(ist[L.I_WAITMAX]), met, res_names,
                         reasons)
    # placement = the per-pod cycle (filter, score, select, commit), from the kernel's cycle counts; the
    # rest of the kernel's time is its event loop, and the first call also loads (or compiles) it
    hz = L.cycles_per_second()
    place_s = float(ist[L.I_PCYC]) / hz
    loop_s = float(ist[L.I_KCYC]) / hz
    timing = {
        "path": "fast",
        "run_s": t_run,
        "kernel_s": t_kernel,
        "kernel_load_s": max(0.0, t_kernel - loop_s),
        "python_s": t_run - t_kernel,
        "placement_s": place_s,
        "bookkeeping_s": t_run - place_s,
        "bookkeeping_share": (t_run - place_s) / t_run if t_run > 0 else 0.0,
        "events_per_s": events / t_run if t_run > 0 else 0.0,
        "remembered_failures": {
            "slots": int(n_mem), "failed_from_memory": int(ist[L.I_MEMHIT]),
            "memory_updates": int(ist[L.I_MEMUPD]), "full_rescans": int(ist[L.I_RESCAN]),
            "found_from_memory": int(ist[L.I_MEMFIND]),
            "node_changes": int(ist[L.I_CHGN]), "verify_mismatches": int(ist[L.I_VMISS])},
        "kernel_returns": {k: int(v) for k, v in sorted(
            ((["done", "need_data", "node_events", "sample", "flush"][s], n) for s, n in calls.items()))},
    }
    return SimResult(summary, metrics, pw.path, wait_hist, timing)
