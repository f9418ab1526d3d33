"""Scheduler: compiles a profile and pods' scheduling classes to arrays, runs the kernels, reports
kube-scheduler style results (`schedule`) and per-node reasons and scores (`explain`)."""
from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from . import engines as E
from . import kernels as K
from .gpu import plugins as _gpu
from .models import GPU_RESOURCE, Pod
from .plugins import NORMALIZE_MODES, REGISTRY
from .predicates import (
    REASON_ABSENT,
    REASON_CONFLICT,
    REASONS,
    NodeLabels,
    StaticClass,
    class_key,
    compile_class,
    pinned_base,
    pinned_base_key,
    pinned_class,
    pinned_node,
    static_reason,
)
from .profile import Profile
from .resources import COL_PODS, CPU, EPHEMERAL, MEMORY, is_extended, is_scalar
from .state import Cluster
from .topology import engine as topology

SCORE_PLUGIN_NAMES = ("NodeResourcesFit", "NodeResourcesBalancedAllocation", "NodeAffinity",
                      "TaintToleration")
ALL_SCORE_PLUGIN_NAMES = SCORE_PLUGIN_NAMES + topology.PLUGINS   # explain's rows (kpack.topology.kernel)
_STRATEGY = {"LeastAllocated": K.LEAST_ALLOCATED, "MostAllocated": K.MOST_ALLOCATED,
             "RequestedToCapacityRatio": K.REQUESTED_TO_CAPACITY_RATIO}


class SchedulingError(ValueError):
    """Bad input to schedule/explain (for example a pod bound to a node that does not exist)."""


@dataclass
class Explanation:
    filter: dict[str, Optional[str]]
    scores: dict[str, dict[str, int]]
    total: dict[str, int]
    selected: Optional[str]


@dataclass
class ScheduleResult:
    node_names: list[Optional[str]]
    node_index: np.ndarray
    reasons: list[Optional[str]]
    pods: list[Pod] = field(default_factory=list, repr=False)
    solver_placed: Optional[np.ndarray] = None    # pods greedy left pending that the fallback placed
    moves: list = field(default_factory=list)     # (pod, from_node, to_node) of running pods moved
    solver_optimal: Optional[bool] = None         # None: the fallback did not run

    def __post_init__(self):
        if self.solver_placed is None:
            self.solver_placed = np.zeros(len(self.node_index), dtype=np.bool_)

    @property
    def scheduled(self) -> int:
        return int((self.node_index >= 0).sum())


def resource_kind(name: str, *, use_requested: bool) -> int:
    """How a configured score resource reads its values (upstream calculateResourceAllocatableRequest)."""
    if name in (CPU, MEMORY):
        if use_requested:
            return K.KIND_REQUESTED
        return K.KIND_NONZERO_CPU if name == CPU else K.KIND_NONZERO_MEMORY
    if name == EPHEMERAL:
        return K.KIND_REQUESTED
    if is_scalar(name):
        return K.KIND_SCALAR
    return K.KIND_ABSENT


class CompiledProfile:
    """A profile as the integer arrays the kernels read, for one cluster's resource columns."""

    def __init__(self, profile: Profile, cluster: Cluster):
        profile.validate_profile()
        ri = cluster.resource_index
        self.fit_col = np.array([ri.get(n, -1) for n, _ in profile.fit_resources], dtype=np.int64)
        self.fit_kind = np.array([resource_kind(n, use_requested=False) for n, _ in profile.fit_resources],
                                 dtype=np.int64)
        self.fit_w = np.array([w for _, w in profile.fit_resources], dtype=np.int64)
        self.strategy = _STRATEGY[profile.scoring_strategy]
        self.shape_u = np.array([u for u, _ in profile.shape] or [0], dtype=np.int64)
        self.shape_s = np.array([s * 10 for _, s in profile.shape] or [0], dtype=np.int64)
        self.bal_col = np.array([ri.get(n, -1) for n, _ in profile.balanced_resources], dtype=np.int64)
        self.bal_kind = np.array([resource_kind(n, use_requested=True)
                                  for n, _ in profile.balanced_resources], dtype=np.int64)
        self.weights = np.array([profile.score_weights.get(n, 0) for n in SCORE_PLUGIN_NAMES], dtype=np.int64)
        ignored = set(profile.ignored_resources)
        groups = set(profile.ignored_resource_groups)
        self.check_col = np.array([not (is_extended(r) and (r in ignored or r.split("/")[0] in groups))
                                   for r in cluster.resource_names], dtype=np.bool_)
        self.fit_filter_on = "NodeResourcesFit" in profile.filters
        # Registered static score plugins (kpack.plugins.register): names, normalisation modes, weights.
        self.static_names = tuple(profile.static_scores)
        self.static_mode = np.array([NORMALIZE_MODES[REGISTRY[n].normalize] for n in self.static_names],
                                    dtype=np.int64)
        self.static_w = np.array([profile.score_weights[n] for n in self.static_names], dtype=np.int64)
        self.pct = int(profile.percentage_of_nodes_to_score or 0)


@dataclass
class CompiledCache:
    """What a Scheduler compiled for one cluster at one node generation (static, so binds keep it)."""
    key: tuple
    profile: CompiledProfile
    labels: NodeLabels
    classes: dict = field(default_factory=dict)     # class key -> StaticClass


@dataclass(frozen=True)
class FallbackHook:
    """A solver run after the greedy pass (`Scheduler(fallback=name)`): `check(time_limit, max_moves,
    workers)` validates the options at construction; `run(scheduler, before, cluster, result)` may re-place
    the batch and updates `result` in place."""
    check: Callable[[float, int, int], None]
    run: Callable[..., None]


# Fallback solvers by name. kpack.solver registers "cpsat" when kpack is imported, so the scheduler never
# imports the solver (import direction: scheduler -> solver).
FALLBACKS: dict[str, FallbackHook] = {}


def register_fallback(name: str, check: Callable[[float, int, int], None], run: Callable[..., None]) -> None:
    """Register (or replace) the fallback solver `name` for `Scheduler(fallback=name)`."""
    if not isinstance(name, str) or not name:
        raise SchedulingError(f"fallback name: must be a non-empty string, got {name!r}")
    FALLBACKS[name] = FallbackHook(check, run)


class Scheduler:
    """kube-scheduler's scheduling cycle over a Cluster, seeded for reproducible tie-breaks."""

    def __init__(self, profile: Optional[Profile] = None, seed: int = 0, engine: str = "auto",
                 gpu_workload: Optional[Sequence[Pod]] = None, fallback: Optional[str] = None,
                 fallback_time_limit: float = 1.0, max_moves: int = 0, fallback_workers: int = 2):
        if fallback is not None:
            hook = FALLBACKS.get(fallback) if isinstance(fallback, str) else None
            if hook is None:
                raise SchedulingError(f"fallback: unknown solver {fallback!r} "
                                      f"(known: {', '.join(sorted(FALLBACKS)) or 'none'}, or None)")
            hook.check(fallback_time_limit, max_moves, fallback_workers)
        self.fallback, self.fallback_time_limit = fallback, fallback_time_limit
        self.max_moves, self.fallback_workers = max_moves, fallback_workers
        self.profile = profile or Profile.default()
        self.profile.validate_profile()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise SchedulingError(f"seed: must be an integer, got {seed!r}")
        self.seed = int(seed)
        # Placement engine (engines/): "numba" = kernels.schedule_batch, "indexed" = state-class index,
        # "native" = the same scan in the C core, "auto" = chosen by structure (engines/__init__.py). All give
        # identical decisions.
        self.engine = E.check_engine(engine)
        # FGDScore's target workload (docs/fgd.md section 2 step 1); None: bound pods plus this batch.
        self.gpu_workload = None if gpu_workload is None else list(gpu_workload)
        self.last_stats = E.EngineStats()
        self.rng = np.array([np.uint64(seed & (2**64 - 1))], dtype=np.uint64)
        self.start = np.zeros(1, dtype=np.int64)   # nextStartNodeIndex (round robin across cycles)
        # Compiled profile and scheduling classes per cluster, valid while its node_generation holds.
        self._compiled: "weakref.WeakKeyDictionary[Cluster, CompiledCache]" = weakref.WeakKeyDictionary()

    # --- public ------------------------------------------------------------------------------------
    def schedule(self, cluster: Cluster, pods: Sequence[Pod]) -> ScheduleResult:
        """Place `pods` in order and bind them into `cluster`. Raises before changing anything on bad
        input."""
        pods = list(pods)
        self._validate(cluster, pods)
        n_nodes = len(cluster.node_names)
        if n_nodes == 0:
            return ScheduleResult([None] * len(pods), np.full(len(pods), -1, np.int32),
                                  ["no nodes available to schedule pods"] * len(pods), pods)
        with_devices = _gpu.needs_devices(self.profile, cluster, pods)
        if with_devices:
            cluster.ensure_resources([GPU_RESOURCE])
        pod_req, pod_nz = cluster.pod_vectors(pods)
        view, order, cache = self.view(cluster)
        cp = cache.profile
        classes, pod_cls = self.classes(view, pods, cache)
        arrays = class_arrays(classes, n_nodes)
        before = cluster.copy() if self.fallback else None    # the solver re-places this batch from here
        out = np.full(len(pods), -1, dtype=np.int32)
        fail = np.zeros((len(pods), len(cluster.resource_names)), dtype=np.int32)
        shared = None
        topo_fail = topology.run_if_needed(self, view, cp, arrays, pods, pod_cls, pod_req, pod_nz, None, out,
                                           fail, with_devices, order)
        if topo_fail is not None:
            pass
        elif with_devices and cp.static_names:
            raise SchedulingError(f"plugin(s) {', '.join(cp.static_names)}: registered static score "
                                  "plugins do not combine with GPU device scheduling yet")
        elif with_devices:
            shared = self._place_with_devices(view, cp, arrays, pods, pod_cls, pod_req, pod_nz, out, fail)
        else:
            self.last_stats = E.place(self.engine, view, cp, arrays, pod_cls, pod_req, pod_nz, None,
                                      self.rng, self.start, out, fail, static_rows=static_rows(cp, classes))
        if order is not None:
            view = cluster.unpermute(view, order)
            out = np.where(out >= 0, order[np.maximum(out, 0)], -1).astype(np.int32)
        cluster.commit_pods(view, pods, out, shared, checked=True)   # _validate checked identity
        placed = out >= 0
        names = cluster.node_names
        reasons: list[Optional[str]] = [None] * len(pods)
        static_hist: dict[int, Counter] = {}
        for i in np.flatnonzero(~placed):
            c = int(pod_cls[i])
            if c not in static_hist:
                static_hist[c] = static_histogram(cluster, classes[c])
            extra = topology.histogram(topo_fail[i]) if topo_fail is not None else None
            reasons[i] = fit_error(cluster, classes[c], static_hist[c], fail[i], extra)
        res = ScheduleResult([names[i] if i >= 0 else None for i in out], out, reasons, pods)
        if before is not None:
            FALLBACKS[self.fallback].run(self, before, cluster, res)
        return res

    def _place_with_devices(self, cluster, cp, arrays, pods, pod_cls, pod_req, pod_nz, out, fail) -> None:
        """GPU devices and GPU policy plugins (kpack.gpu.plugins): the device filter replaces the counted
        nvidia.com/gpu check; the enabled GPU policy adds its score and picks the shared device."""
        gpu_col = cluster.resource_index[GPU_RESOURCE]
        check_col = cp.check_col.copy()
        check_col[gpu_col] = False
        names = [n for n in self.profile.score_weights if n in _gpu.GPU_POLICY_CODES]
        policy = _gpu.GPU_POLICY_CODES[names[0]] if names else _gpu.NO_POLICY
        policy_w = self.profile.score_weights[names[0]] if names else 0
        models = _gpu.gpu_models(cluster)
        if policy == _gpu.FGD:
            workload, counts = _gpu.target_workload(cluster, pods, self.gpu_workload)
            tp = _gpu.typical_pod_arrays(workload, models, counts)
        else:
            tp = _gpu.typical_pod_arrays([], models)
        pod_k, pod_g = _gpu.pod_gpu_arrays(pods)
        free, tags = cluster.gpu_free, cluster.gpu_tags   # the working copy's own arrays
        dev = np.full(len(pods), -1, dtype=np.int64)
        _gpu.schedule_gpu_batch(
            cluster.allocatable, cluster.requested, cluster.nonzero_requested, check_col, cp.fit_filter_on,
            pod_cls, pod_req, pod_nz, *arrays, cp.weights, cp.fit_col, cp.fit_kind, cp.fit_w, cp.strategy,
            cp.shape_u, cp.shape_s, cp.bal_col, cp.bal_kind, cp.pct, self.rng, self.start, out, fail,
            gpu_col, free, _gpu.node_model_codes(cluster, models), cluster.allocatable[:, gpu_col], tags,
            pod_k, pod_g, policy, policy_w, *tp, dev, *_gpu.normalisers(cluster))
        self.last_gpu_devices = dev
        return dev

    def schedule_arrays(self, cluster: Cluster, batch) -> ScheduleResult:
        """`schedule` for a `kpack.batch.PodBatch` (spec Pods + an int32 spec index per pod): same decisions,
        no per-pod Python objects. `result.pods` is empty; `batch.pod(i)` materialises pod i."""
        from .batch import schedule_batch_arrays
        return schedule_batch_arrays(self, cluster, batch)

    def explain(self, cluster: Cluster, pod: Pod) -> Explanation:
        """Filter reason and per-plugin scores on every node for `pod`; changes nothing."""
        self._validate(cluster, [pod], bound_ok=True)
        base = cluster if set(pod.requests) <= set(cluster.resource_index) else cluster.copy()
        preq, pnz = base.pod_vectors([pod])
        work, order, cache = self.view(base)
        cp = cache.profile
        cls = self.classes(work, [pod], cache)[0][0]
        names = work.node_names
        if cls.conflict:
            return Explanation({n: REASON_CONFLICT for n in cluster.node_names}, {}, {}, None)
        if topology.needed(self.profile, work, [pod]):
            return self._explain_topology(work, pod, cls, preq, pnz, cp, order)
        cand = (np.arange(len(names), dtype=np.int64) if cls.candidates is None
                else cls.candidates.astype(np.int64))
        aff = cls.affinity_raw if cls.affinity_raw is not None else np.zeros(0, dtype=np.int64)
        code, check_col, no_device = cls.code, cp.check_col, np.zeros(len(names), dtype=np.bool_)
        if _gpu.needs_devices(self.profile, work, [pod]) and GPU_RESOURCE in work.resource_index \
                and pod.gpu_count:
            # Device-aware filter, as schedule runs it (GPU policy scores are not broken out here).
            check_col = check_col.copy()
            check_col[work.resource_index[GPU_RESOURCE]] = False
            no_device = (code == 0) & ~_gpu.devices_fit_all(work.gpu_free, pod.gpu_count, pod.gpu_per_device)
            code = np.where(no_device, np.int8(-1), code)
        bits, feasible, scores, totals, pick = K.explain_pod(
            work.allocatable, work.requested, work.nonzero_requested, check_col, cp.fit_filter_on,
            preq[0], pnz[0], code, cand, aff, cls.taint_raw, cp.weights, cp.fit_col, cp.fit_kind,
            cp.fit_w, cp.strategy, cp.shape_u, cp.shape_s, cp.bal_col, cp.bal_kind, self.rng.copy())
        extra: dict[str, np.ndarray] = {}
        if cp.static_names and len(feasible) > 1:
            # Registered static score plugins, normalised over the feasible nodes as the kernel does.
            totals = totals.copy()
            for x, name in enumerate(cp.static_names):
                raw = cls.static_raw[x, feasible]
                if raw[0] < 0:
                    continue
                mx = int(raw.max())
                mode = cp.static_mode[x]
                v = raw if mode == 0 else (raw if mx == 0 else 100 * raw // mx) if mode == 1 else \
                    (np.full_like(raw, 100) if mx == 0 else 100 - 100 * raw // mx)
                extra[name] = v
                totals += cp.static_w[x] * v
            pick = int(K.select_host(totals, len(feasible), self.rng.copy(), False))
        # Reasons per node, vectorised: static codes through a lookup table, fit failures only where
        # they occur.
        reason = np.array([None] + [REASONS[c] for c in sorted(REASONS)], dtype=object)[
            np.searchsorted([0] + sorted(REASONS), np.maximum(cls.code, 0))]
        reason[cls.code == 0] = None
        for i in np.flatnonzero(bits).tolist():
            if cls.code[i] == 0:
                reason[i] = ", ".join(fit_reasons(work, int(bits[i])))
        reason[no_device] = f"Insufficient {GPU_RESOURCE}"
        in_cand = np.zeros(len(names), dtype=np.bool_)
        in_cand[cand] = True
        reason[~in_cand] = REASON_ABSENT
        rows = np.arange(len(names)) if order is None else np.argsort(order)   # cluster row -> view index
        filt = dict(zip(cluster.node_names, reason[rows].tolist()))
        fidx = np.sort(rows[np.isin(rows, feasible)]) if order is not None else None
        # report scores in the cluster's row order
        pos = np.argsort(feasible, kind="stable") if order is None else None
        if order is not None:
            inv = np.full(len(names), -1, dtype=np.int64)
            inv[feasible] = np.arange(len(feasible))
            pos = inv[fidx]
        fnames = [names[n] for n in feasible[pos].tolist()]
        out_scores: dict[str, dict[str, int]] = {}
        for p, pname in enumerate(SCORE_PLUGIN_NAMES):
            if len(feasible) and scores[p, 0] >= 0:
                out_scores[pname] = dict(zip(fnames, scores[p, pos].tolist()))
        for name, v in extra.items():
            out_scores[name] = dict(zip(fnames, v[pos].tolist()))
        total = dict(zip(fnames, totals[pos].tolist()))
        return Explanation(filt, out_scores, total, names[feasible[pick]] if pick >= 0 else None)

    def _explain_topology(self, work: Cluster, pod: Pod, cls: StaticClass, preq, pnz, cp,
                          order) -> Explanation:
        """explain through the topology kernel (PodTopologySpread / InterPodAffinity reasons and scores)."""
        names = work.node_names
        arrays = class_arrays([cls], len(names))
        plan = topology.Plan(self.profile, work, [pod], np.zeros(1, np.int64), order)
        bits, why, feasible, scores, totals, pick = topology.explain_pod(work, cp, arrays, preq, pnz,
                                                                         self.rng, plan)
        in_cand = np.zeros(len(names), dtype=np.bool_)
        in_cand[np.arange(len(names)) if cls.candidates is None else cls.candidates] = True
        filt: dict[str, Optional[str]] = {}
        for i, n in enumerate(names):
            if not in_cand[i]:
                filt[n] = REASON_ABSENT
            elif cls.code[i] != 0:
                filt[n] = static_reason(work, cls, i)
            elif bits[i]:
                filt[n] = ", ".join(fit_reasons(work, int(bits[i])))
            elif why[i]:
                filt[n] = topology.REASONS[int(why[i])]
            else:
                filt[n] = None
        rows = [(p, name) for p, name in enumerate(ALL_SCORE_PLUGIN_NAMES)
                if len(feasible) and scores[p, 0] >= 0]
        out_scores = {name: {names[n]: int(scores[p, j]) for j, n in enumerate(feasible)} for p, name in rows}
        total = {names[n]: int(totals[j]) for j, n in enumerate(feasible)}
        return Explanation(filt, out_scores, total, names[feasible[pick]] if pick >= 0 else None)

    def view(self, cluster: Cluster) -> tuple[Cluster, Optional[np.ndarray], "CompiledCache"]:
        """The working copy placement runs on (nodes in kube-scheduler's visit order), that order (None:
        row order) and the compiled profile and classes cached for this cluster's node generation."""
        order = cluster.visit_order()
        view = cluster.working() if order is None else cluster.permuted(order)
        key = (cluster.node_generation, tuple(cluster.resource_names))
        cache = self._compiled.get(cluster)
        if cache is None or cache.key != key:
            cache = CompiledCache(key, CompiledProfile(self.profile, view), NodeLabels(view))
            self._compiled[cluster] = cache
        return view, order, cache

    # --- internals ---------------------------------------------------------------------------------
    def _validate(self, cluster: Cluster, pods: Sequence[Pod], bound_ok: bool = False) -> None:
        seen = set()
        for i, p in enumerate(pods):
            if not isinstance(p, Pod):
                raise SchedulingError(f"pods[{i}]: expected kpack.Pod, got {type(p).__name__}")
            if p.node_name is not None and p.node_name not in cluster.node_index:
                raise SchedulingError(f"pod {p.key!r}: spec.nodeName {p.node_name!r} "
                                      "is not a node of this cluster")
            if p.key in seen:
                raise SchedulingError(f"pod {p.key!r}: duplicate pod in one schedule call")
            seen.add(p.key)
        dup = None if bound_ok else cluster.check_new(pods)
        if dup is not None:
            raise SchedulingError(f"pod {dup!r}: already bound to node {cluster.node_of(dup)!r} "
                                  "(pod identity is namespace/name; unbind it first)")

    def classes(self, cluster: Cluster, pods: Sequence[Pod],
                 cache: Optional["CompiledCache"] = None) -> tuple[list[StaticClass], np.ndarray]:
        """Scheduling classes of `pods` (compiled once per class key, kept in `cache` across calls) and the
        class of each pod (an index into the returned list)."""
        keys: dict[tuple, int] = {}
        classes: list[StaticClass] = []
        pod_cls = np.empty(len(pods), dtype=np.int64)
        known = cache.classes if cache is not None else {}
        labels = cache.labels if cache is not None else NodeLabels(cluster)
        filters = set(self.profile.filters)
        added = self.profile.added_affinity
        statics = tuple(self.profile.static_scores)
        # DaemonSet-style pins (one matchFields metadata.name In [node]): one compiled base class per distinct
        # rest-of-the-pod, shared by every pinned class (each keeps its one-node candidate list).
        pin_ok = "NodeAffinity" in filters
        for i, p in enumerate(pods):
            pin = pinned_node(p) if pin_ok else None
            k = class_key(p) if pin is None else (pinned_base_key(p), pin)
            c = keys.get(k)
            if c is None:
                sc = known.get(k)
                if sc is None:
                    if pin is None:
                        sc = compile_class(cluster, p, labels, filters=filters, added_affinity=added,
                                           statics=statics)
                    else:
                        bk = k[0]
                        base = known.get(bk)
                        if base is None:
                            base = known[bk] = compile_class(cluster, pinned_base(p), labels, filters=filters,
                                                             added_affinity=added, statics=statics)
                        sc = pinned_class(cluster, base, pin)
                    known[k] = sc
                c = keys[k] = len(classes)
                classes.append(sc)
            pod_cls[i] = c
        return classes, pod_cls


def static_rows(cp: CompiledProfile, classes: list[StaticClass]) -> Optional[np.ndarray]:
    """int64 [C, X, N] raw scores of the registered static score plugins per class, None when none."""
    if not cp.static_names:
        return None
    return np.ascontiguousarray(np.stack([c.static_raw for c in classes]))


def class_arrays(classes: list[StaticClass], n: int) -> tuple:
    """Stack per-class static data into the flat arrays schedule_batch reads. Score rows are shared
    between classes holding the same array object (pinned classes share their base's) or, for taints,
    all-zero rows."""
    C = len(classes)
    code = np.stack([c.code for c in classes]) if C else np.zeros((0, n), np.int8)
    cand_len = np.array([-1 if c.candidates is None else len(c.candidates) for c in classes], dtype=np.int64)
    cands = [c.candidates for c in classes if c.candidates is not None]
    cand_flat = np.concatenate(cands).astype(np.int32) if cands else np.zeros(0, np.int32)
    cand_off = np.zeros(C, dtype=np.int64)
    if C:
        cand_off[1:] = np.cumsum(np.maximum(cand_len, 0))[:-1]
    conflict = np.array([c.conflict for c in classes], dtype=np.bool_)
    aff_row = np.full(C, -1, dtype=np.int64)
    aff = []
    seen: dict[int, int] = {}
    for i, c in enumerate(classes):
        a = c.affinity_raw
        if a is not None:
            r = seen.get(id(a))
            if r is None:
                r = seen[id(a)] = len(aff)
                aff.append(a)
            aff_row[i] = r
    aff_rows = np.stack(aff) if aff else np.zeros((1, n), np.int64)
    # Taint score rows are shared: most classes see the all-zero row.
    taint_row = np.zeros(C, dtype=np.int64)
    trows = [np.zeros(n, dtype=np.int64)]
    seen = {}
    for i, c in enumerate(classes):
        t = c.taint_raw
        r = seen.get(id(t))
        if r is None:
            r = seen[id(t)] = len(trows) if t.any() else 0
            if r:
                trows.append(t)
        taint_row[i] = r
    return (code, cand_off, cand_len, cand_flat, conflict, aff_row, aff_rows, taint_row, np.stack(trows))


def fit_reasons(cluster: Cluster, bits: int) -> list[str]:
    """Reasons in upstream's check order: pods, cpu, memory, ephemeral-storage, then scalar resources
    (a Go map, so unordered upstream; kpack sorts them by name to be independent of column history)."""
    out = []
    if bits >> COL_PODS & 1:
        out.append("Too many pods")
    names = cluster.resource_names
    base = [r for r in range(COL_PODS) if bits >> r & 1]
    scalars = sorted((names[r] for r in range(COL_PODS + 1, len(names)) if bits >> r & 1))
    return out + [f"Insufficient {names[r]}" for r in base] + [f"Insufficient {n}" for n in scalars]


def static_histogram(cluster: Cluster, cls: StaticClass) -> Counter:
    nodes = range(len(cluster.node_names)) if cls.candidates is None else cls.candidates
    h: Counter = Counter()
    for n in np.asarray(nodes)[cls.code[np.asarray(nodes, dtype=np.int64)] != 0]:
        h[static_reason(cluster, cls, int(n))] += 1
    if cls.candidates is not None and len(cluster.node_names) > len(cls.candidates):
        h[REASON_ABSENT] += len(cluster.node_names) - len(cls.candidates)
    return h


def fit_error_message(n_nodes: int, hist: Counter) -> str:
    """upstream FitError.Error(): "0/N nodes are available: <count reason>, ... ." sorted as strings."""
    parts = sorted(f"{v} {k}" for k, v in hist.items() if v)
    msg = f"0/{n_nodes} nodes are available:"
    if parts:
        msg += f" {', '.join(parts)}."
    return msg


def fit_error(cluster: Cluster, cls: StaticClass, static_hist: Counter, fail_row: np.ndarray,
              extra: Optional[Counter] = None) -> str:
    n = len(cluster.node_names)
    if cls.conflict:
        return fit_error_message(n, Counter({REASON_CONFLICT: 1})).replace(f"1 {REASON_CONFLICT}",
                                                                           REASON_CONFLICT)
    h = Counter(static_hist)
    if fail_row[COL_PODS]:
        h["Too many pods"] += int(fail_row[COL_PODS])
    for r, name in enumerate(cluster.resource_names):
        if r != COL_PODS and fail_row[r]:
            h[f"Insufficient {name}"] += int(fail_row[r])
    if extra:
        h.update(extra)
    return fit_error_message(n, h)
