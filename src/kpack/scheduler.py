"""Scheduler: compiles a profile and pods' scheduling classes to arrays, runs the kernels, reports
kube-scheduler style results (`schedule`) and per-node reasons and scores (`explain`)."""
from __future__ import annotations

import functools
import gc
import operator
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from . import cycle
from . import engines as E
from . import kernels as K
from .bundles import (
    NO_DEVICES,
    NO_STATIC,
    ClassArrays,
    ProfileArrays,
    StateArrays,
    StaticScores,
    cluster_arrays,
    pod_arrays,
)
from .gpu import plugins as _gpu
from .models import GPU_RESOURCE, POD_SPEC_FIELDS, Pod
from .plugins import NORMALIZE_MODES, REGISTRY
from .podspec import UNTRACKED
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


_spec_of = operator.itemgetter(*POD_SPEC_FIELDS)     # applied to a Pod's field dict (vars)
_node_name_attr = operator.attrgetter("node_name")
_token_of, _key_of = operator.attrgetter("_kp_spec"), operator.attrgetter("_kp_key")   # kpack.podspec caches
MIN_GROUPED_PODS = 16      # below this a call compiles pods one by one (grouping costs more than it saves)
RECENT_SPECS = 4           # distinct specs compared against before a pod opens a new one


def gc_paused(method):
    """Run `method` with the cyclic garbage collector paused: a call over many Pods allocates one small
    tuple or string per pod (none of them cyclic), and without the pause those allocations trigger
    collections that traverse every live object, the caller's Pods included (a full one costs more than
    the whole placement of 10,000 pods)."""
    @functools.wraps(method)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return method(*args, **kwargs)
        gc.disable()
        try:
            return method(*args, **kwargs)
        finally:
            gc.enable()
    return paused


def spec_groups(pods: Sequence[Pod]) -> tuple[list[Pod], np.ndarray]:
    """(one representative Pod per spec, spec index per pod, specs in order of first appearance): pods equal
    in every field but the name share a spec. Pods carrying a spec token (kpack.podspec: one shared object per
    distinct spec, cached on the Pod and dropped on any change to it) are grouped by the token's identity;
    the others by `compare_groups`. Equal specs may end up in two groups (never unequal ones in one)."""
    n = len(pods)
    if not n:
        return [], np.empty(0, dtype=np.int32)
    try:
        toks = list(map(_token_of, pods))
    except AttributeError:       # Pods built without validation (model_construct, copies) carry no token
        toks = [getattr(p, "_kp_spec", UNTRACKED) for p in pods]
    first_tok = toks[0]
    if first_tok is not None and first_tok is not UNTRACKED and toks.count(first_tok) == n:
        return [pods[0]], np.zeros(n, dtype=np.int32)      # replicas of one spec (counted by identity)
    if None in toks:
        toks = [(p.spec_token() or UNTRACKED) if t is None else t for p, t in zip(pods, toks)]
    if UNTRACKED in toks:
        if toks.count(UNTRACKED) == n:
            return compare_groups(pods)
        # Some pods hold values the token cannot follow: those are compared, the rest go by token.
        loose = [i for i, t in enumerate(toks) if t is UNTRACKED]
        specs, idx = compare_groups([pods[i] for i in loose])
        for i, k in zip(loose, idx.tolist()):
            toks[i] = specs[k]        # the representative Pod stands for its group (distinct from tokens)
    ids = np.fromiter(map(id, toks), dtype=np.uintp, count=n)
    _, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    reps = [pods[i] for i in first[order].tolist()]
    return reps, rank[inv.reshape(-1)]


def compare_groups(pods: Sequence[Pod]) -> tuple[list[Pod], np.ndarray]:
    """`spec_groups` by comparing the pods' fields: runs of equal neighbours are found by comparing each pod's
    field tuple with the previous one's (a C-level map, no Python per pod); a pod that starts a run is
    compared against the few most recent specs (workloads arrive as runs of replicas), never hashed (its
    fields nest dicts and lists)."""
    reps: list[Pod] = []
    pod_spec = np.empty(len(pods), dtype=np.int32)
    if not pods:
        return reps, pod_spec
    sigs = list(map(_spec_of, map(vars, pods)))
    same = np.fromiter(map(operator.eq, sigs[1:], sigs[:-1]), dtype=np.bool_, count=len(pods) - 1)
    starts = [0] + (np.flatnonzero(~same) + 1).tolist()
    recent: list[tuple[tuple, int]] = []
    ends = starts[1:] + [len(pods)]
    for a, b in zip(starts, ends):
        sig = sigs[a]
        for j, (rsig, idx) in enumerate(recent):
            if rsig == sig:
                pod_spec[a:b] = idx
                if j:
                    recent.insert(0, recent.pop(j))
                break
        else:
            pod_spec[a:b] = len(reps)
            recent.insert(0, (sig, len(reps)))
            del recent[RECENT_SPECS:]
            reps.append(pods[a])
    return reps, pod_spec


class SchedulingError(ValueError):
    """Bad input to schedule/explain (for example a pod bound to a node that does not exist)."""


def check_types(pods: Sequence[Pod]) -> None:
    """Raise unless every item is a kpack.Pod."""
    if not set(map(type, pods)) <= {Pod}:
        for i, p in enumerate(pods):
            if not isinstance(p, Pod):
                raise SchedulingError(f"pods[{i}]: expected kpack.Pod, got {type(p).__name__}")


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
        self.filter_set = set(profile.filters)
        # Registered static score plugins (kpack.plugins.register): names, normalisation modes, weights.
        self.static_names = tuple(profile.static_scores)
        self.static_mode = np.array([NORMALIZE_MODES[REGISTRY[n].normalize] for n in self.static_names],
                                    dtype=np.int64)
        self.static_w = np.array([profile.score_weights[n] for n in self.static_names], dtype=np.int64)
        self.pct = int(profile.percentage_of_nodes_to_score or 0)
        # The cycle's profile bundle (kpack.bundles.ProfileArrays), built once.
        self.arrays = ProfileArrays(self.check_col, bool(self.fit_filter_on), int(self.strategy),
                                    self.weights, self.fit_col, self.fit_kind, self.fit_w, self.shape_u,
                                    self.shape_s, self.bal_col, self.bal_kind, self.pct)

    def device_arrays(self, gpu_col: int) -> ProfileArrays:
        """The profile for a call on GPU devices: the device filter replaces the counted nvidia.com/gpu
        check (its column is not checked by the fit filter)."""
        check_col = self.check_col.copy()
        check_col[gpu_col] = False
        return self.arrays._replace(check_col=check_col)


MAX_CACHED_CLASS_SETS = 256   # ClassArrays kept per CompiledCache (one per distinct class set of a call)
MAX_CONSTANT_MAPS = 8          # explain's constant {node: value} dicts kept per CompiledCache


@dataclass
class CompiledCache:
    """What a Scheduler compiled for one cluster at one node generation (static, so binds keep it)."""
    key: tuple
    profile: CompiledProfile
    labels: NodeLabels
    classes: dict = field(default_factory=dict)     # class key -> StaticClass
    arrays: dict = field(default_factory=dict)      # class ids of a call -> ClassArrays
    plans: dict = field(default_factory=dict)       # engines.place's NativePlan per ClassArrays
    names: Optional[np.ndarray] = None              # the view's node names as an object array
    reasons: dict = field(default_factory=dict)     # id(StaticClass) -> (class, explain's static reasons)
    constant: dict = field(default_factory=dict)    # (id(keys), value) -> (keys, {key: value})

    def constant_map(self, keys: list, value) -> dict:
        """A new dict {key: value for key in keys}: a copy of one kept per (keys object, value), since
        copying a dict is ~10x cheaper than building it (explain answers one per plugin per node list)."""
        hit = self.constant.get((id(keys), value))
        if hit is None or hit[0] is not keys:
            if len(self.constant) >= MAX_CONSTANT_MAPS:
                self.constant.clear()
            hit = self.constant[(id(keys), value)] = (keys, dict.fromkeys(keys, value))
        return hit[1].copy()

    def static_reasons(self, cls: StaticClass) -> tuple[np.ndarray, np.ndarray]:
        """(object array [N]: the static filter reason of each node for class `cls`, None where it passes;
        bool array [N]: where a reason is set)."""
        hit = self.reasons.get(id(cls))
        if hit is None or hit[0] is not cls:
            codes, texts = reason_table()
            reason = texts[np.searchsorted(codes, np.maximum(cls.code, 0))]
            hit = self.reasons[id(cls)] = (cls, reason, reason.astype(np.bool_))   # texts are non-empty
        return hit[1], hit[2]

    def node_names(self, view: Cluster) -> np.ndarray:
        if self.names is None:
            self.names = np.array(view.node_names, dtype=object)
        return self.names

    def class_arrays(self, classes: list[StaticClass], n: int) -> "ClassArrays":
        """`class_arrays(classes, n)`, built once per class set (classes are cached objects)."""
        k = tuple(map(id, classes))
        a = self.arrays.get(k)
        if a is None:
            if len(self.arrays) >= MAX_CACHED_CLASS_SETS:
                self.arrays.clear()
                self.plans.clear()
            a = self.arrays[k] = class_arrays(classes, n)
        return a


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


def passing_map(cache: CompiledCache, names: list[str], reason: np.ndarray,
                failed: np.ndarray) -> dict[str, Optional[str]]:
    """{node name: reason or None} from an object array of reasons in `names` order (`failed`: where a reason
    is set): a copy of the all-None dict with only the failing nodes written (most nodes usually pass)."""
    out = cache.constant_map(names, None)
    failing = np.flatnonzero(failed)
    if len(failing):
        out.update(zip([names[i] for i in failing.tolist()], reason[failing].tolist()))
    return out


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
        # Placement engine (engines/): "numba" = cycle.schedule, "indexed" = state-class index,
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
    @gc_paused
    def schedule(self, cluster: Cluster, pods: Sequence[Pod]) -> ScheduleResult:
        """Place `pods` in order and bind them into `cluster`. Raises before changing anything on bad
        input."""
        pods = list(pods)
        check_types(pods)
        # Pods equal but for their name are compiled once (specs); the GPU device path takes pods one by one.
        if len(pods) >= MIN_GROUPED_PODS:
            specs, pod_spec = spec_groups(pods)
        else:
            specs, pod_spec = pods, None
        keys = self._validate(cluster, pods, specs=specs)
        n_nodes = len(cluster.node_names)
        if n_nodes == 0:
            return ScheduleResult([None] * len(pods), np.full(len(pods), -1, np.int32),
                                  ["no nodes available to schedule pods"] * len(pods), pods)
        with_devices = _gpu.needs_devices(self.profile, cluster, specs)    # a spec's pods agree on devices
        if with_devices:
            cluster.ensure_resources([GPU_RESOURCE])
            specs, pod_spec = pods, None
        spec_req, spec_nz = cluster.pod_vectors(specs)
        # Without GPU devices or the fallback, placement writes the cluster's own requested arrays (no copy);
        # a failure before the commit takes back what was placed (rolled back from `out`).
        in_place = not with_devices and not self.fallback
        view, order, cache = self.view(cluster, in_place=in_place)
        cp = cache.profile
        classes, spec_cls = self.classes(view, specs, cache)
        arrays = cache.class_arrays(classes, n_nodes)
        before = cluster.copy() if self.fallback else None    # the solver re-places this batch from here
        out = np.full(len(pods), -1, dtype=np.int32)
        fail = np.zeros((len(pods), len(cluster.resource_names)), dtype=np.int32)
        shared = None
        try:
            topo_fail = topology.run_if_needed(self, view, cp, arrays, specs, spec_cls, spec_req, spec_nz,
                                               pod_spec, out, fail, with_devices, order)
            if topo_fail is not None:
                pass
            elif with_devices:
                shared = self._place_with_devices(view, cp, arrays, pods, spec_cls, spec_req, spec_nz, out,
                                                  fail, static_scores(cp, classes))
                self.last_stats = gpu_stats(self.engine, len(pods))
            else:
                self.last_stats = E.place(self.engine, view, cp, arrays, spec_cls, spec_req, spec_nz,
                                          pod_spec, self.rng, self.start, out, fail,
                                          statics=static_scores(cp, classes), plans=cache.plans)
        except BaseException:
            if view.requested is cluster.requested:
                per_pod = slice(None) if pod_spec is None else pod_spec
                take_back(view, out, spec_req[per_pod], spec_nz[per_pod])
            raise
        pod_cls = spec_cls if pod_spec is None else spec_cls[pod_spec]
        if order is not None:
            view = cluster.unpermute(view, order)
            out = np.where(out >= 0, order[np.maximum(out, 0)], -1).astype(np.int32)
        generation = cluster.generation
        cluster.commit_pods(view, pods, out, shared, checked=True, keys=keys,    # _validate checked identity
                            any_gpu=any(p.gpu_count for p in specs),
                            distinct=None if pod_spec is None else specs)
        placed = out >= 0
        if in_place and order is None:
            E.carry_bound(cache.plans, generation, cluster, spec_req, spec_nz, len(pods))
        names = cluster.node_name_array
        reasons: list[Optional[str]] = [None] * len(pods)
        static_hist: dict[int, Counter] = {}
        for i in (() if placed.all() else np.flatnonzero(~placed)):
            c = int(pod_cls[i])
            if c not in static_hist:
                static_hist[c] = static_histogram(cluster, classes[c])
            extra = topology.histogram(topo_fail[i]) if topo_fail is not None else None
            reasons[i] = fit_error(cluster, classes[c], static_hist[c], fail[i], extra)
        res = ScheduleResult(names[out].tolist(), out, reasons, pods)     # out -1 takes the trailing None
        if before is not None:
            FALLBACKS[self.fallback].run(self, before, cluster, res)
        return res

    def _place_with_devices(self, cluster, cp, arrays, pods, pod_cls, pod_req, pod_nz, out, fail,
                            statics: StaticScores) -> np.ndarray:
        """GPU devices and GPU policy plugins (kpack.gpu.plugins) in the one cycle (kpack.cycle): the device
        filter replaces the counted nvidia.com/gpu check; the enabled GPU policy adds its score and picks
        the shared device. Returns the shared device per pod (-1: none or whole devices)."""
        devices = _gpu.device_arrays(cluster, self.profile, pods, self.gpu_workload)
        cycle.schedule(cluster_arrays(cluster), cp.device_arrays(devices.col), arrays,
                       pod_arrays(pod_cls, pod_req, pod_nz), StateArrays(self.rng, self.start), devices,
                       statics, out, fail)
        self.last_gpu_devices = devices.out_dev
        return devices.out_dev

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
        work, order, cache = self.view(base, in_place=True)    # explain writes nothing
        cp = cache.profile
        cls = self.classes(work, [pod], cache)[0][0]
        names = work.node_names
        if cls.conflict:
            return Explanation({n: REASON_CONFLICT for n in cluster.node_names}, {}, {}, None)
        if topology.needed(self.profile, work, [pod]):
            return self._explain_topology(work, pod, cls, preq, pnz, cp, order)
        plugins = SCORE_PLUGIN_NAMES + cp.static_names     # the rows of cycle.explain's scores
        profile, devices = cp.arrays, NO_DEVICES
        if _gpu.needs_devices(self.profile, work, [pod]) and GPU_RESOURCE in work.resource_index:
            # The device filter and the GPU policy score, as schedule runs them.
            devices = _gpu.device_arrays(work, self.profile, [pod], self.gpu_workload)
            profile = cp.device_arrays(devices.col)
            plugins += (_gpu.policy_name(self.profile),)
        bits, no_device, feasible, scores, totals, pick = cycle.explain(
            cluster_arrays(work), profile, cache.class_arrays([cls], len(names)),
            pod_arrays(np.zeros(1, np.int64), preq, pnz), devices, static_scores(cp, [cls]), self.rng.copy())
        # Reasons per node, vectorised: static codes through a lookup table, fit failures only where
        # they occur.
        reason, failed = cache.static_reasons(cls)
        reason, failed = reason.copy(), failed.copy()
        failing = np.flatnonzero(bits)
        if len(failing):
            failing = failing[cls.code[failing] == 0]
            failed[failing] = True
            texts: dict[int, str] = {}      # one string per distinct set of failing resources
            for i, b in zip(failing.tolist(), bits[failing].tolist()):
                t = texts.get(b)
                if t is None:
                    t = texts[b] = ", ".join(fit_reasons(work, b))
                reason[i] = t
        if no_device.any():
            reason[no_device] = f"Insufficient {GPU_RESOURCE}"
            failed |= no_device
        if cls.candidates is not None:
            in_cand = np.zeros(len(names), dtype=np.bool_)
            in_cand[cls.candidates] = True
            reason[~in_cand] = REASON_ABSENT
            failed |= ~in_cand
        # report scores in the cluster's row order
        if order is None:
            filt = passing_map(cache, cluster.node_names, reason, failed)
            # the kernel lists feasible nodes in candidate order, ascending: usually nothing to sort
            ascending = len(feasible) < 2 or bool((feasible[1:] > feasible[:-1]).all())
            pos = slice(None) if ascending else np.argsort(feasible, kind="stable")
        else:
            rows = np.argsort(order)     # cluster row -> view index
            filt = passing_map(cache, cluster.node_names, reason[rows], failed[rows])
            fidx = np.sort(rows[np.isin(rows, feasible)])
            inv = np.full(len(names), -1, dtype=np.int64)
            inv[feasible] = np.arange(len(feasible))
            pos = inv[fidx]
        if order is None and isinstance(pos, slice) and len(feasible) == len(names):
            fnames = names         # every node, in row order
        else:
            fnames = cache.node_names(work)[feasible[pos]].tolist()
        out_scores: dict[str, dict[str, int]] = {}
        for p, pname in enumerate(plugins):
            if pname is not None and len(feasible) and scores[p, 0] >= 0:
                row = scores[p, pos]
                lo = int(row.min())
                # one score on every node (common for NodeAffinity and TaintToleration): no value list
                out_scores[pname] = (cache.constant_map(fnames, lo) if lo == row.max()
                                     else dict(zip(fnames, row.tolist())))
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

    def view(self, cluster: Cluster, in_place: bool = False) -> tuple[Cluster, Optional[np.ndarray],
                                                                       "CompiledCache"]:
        """The working copy placement runs on (nodes in kube-scheduler's visit order), that order (None:
        row order) and the compiled profile and classes cached for this cluster's node generation.
        `in_place`: in row order the view shares the cluster's requested arrays (the caller takes back
        what it placed if it fails before committing)."""
        order = cluster.visit_order()
        view = cluster.working(private=not in_place) if order is None else cluster.permuted(order)
        key = (cluster.node_generation, tuple(cluster.resource_names))
        cache = self._compiled.get(cluster)
        if cache is None or cache.key != key:
            cache = CompiledCache(key, CompiledProfile(self.profile, view), NodeLabels(view))
            self._compiled[cluster] = cache
        return view, order, cache

    # --- internals ---------------------------------------------------------------------------------
    def _validate(self, cluster: Cluster, pods: Sequence[Pod], bound_ok: bool = False,
                  specs: Optional[Sequence[Pod]] = None) -> list[str]:
        """The pods' namespace/name keys; raises on a non-Pod, an unknown spec.nodeName, a pod repeated in
        `pods` or (unless `bound_ok`) already bound. `specs`: one Pod per spec among `pods` (spec_groups of
        pods already checked to be Pods), whose node names are the pods' (node_name is part of the spec)."""
        if specs is None:
            check_types(pods)       # (schedule checked them before grouping them into specs)
        try:
            keys = list(map(_key_of, pods))       # Pod.key, cached on the Pod (never None once set)
        except AttributeError:                   # a Pod built without validation: no cache slot
            keys = [p.key for p in pods]
        index = cluster.node_index
        some = pods if specs is None else specs
        node_names = list(map(_node_name_attr, some))
        if node_names.count(None) != len(node_names):
            for p in some:
                if p.node_name is not None and p.node_name not in index:
                    raise SchedulingError(f"pod {p.key!r}: spec.nodeName {p.node_name!r} "
                                          "is not a node of this cluster")
        if len(set(keys)) != len(keys):
            seen = set()
            for k in keys:
                if k in seen:
                    raise SchedulingError(f"pod {k!r}: duplicate pod in one schedule call")
                seen.add(k)
        dup = None if bound_ok else cluster.check_new(pods, keys, unique=True)   # distinct: checked above
        if dup is not None:
            raise SchedulingError(f"pod {dup!r}: already bound to node {cluster.node_of(dup)!r} "
                                  "(pod identity is namespace/name; unbind it first)")
        return keys

    def classes(self, cluster: Cluster, pods: Sequence[Pod],
                 cache: Optional["CompiledCache"] = None) -> tuple[list[StaticClass], np.ndarray]:
        """Scheduling classes of `pods` (compiled once per class key, kept in `cache` across calls) and the
        class of each pod (an index into the returned list)."""
        keys: dict[tuple, int] = {}
        classes: list[StaticClass] = []
        pod_cls = np.empty(len(pods), dtype=np.int64)
        known = cache.classes if cache is not None else {}
        labels = cache.labels if cache is not None else NodeLabels(cluster)
        if cache is not None:
            filters, statics = cache.profile.filter_set, cache.profile.static_names
        else:
            filters, statics = set(self.profile.filters), tuple(self.profile.static_scores)
        added = self.profile.added_affinity
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


_REASON_TABLE: list = [None, None]     # (len(REASONS) it was built for, (codes, texts))


def reason_table() -> tuple[np.ndarray, np.ndarray]:
    """(sorted static reason codes with 0 first, their texts with None for 0) for a vectorised lookup;
    rebuilt when a registered filter plugin adds a code."""
    if _REASON_TABLE[0] != len(REASONS):
        codes = [0] + sorted(REASONS)
        _REASON_TABLE[:] = [len(REASONS), (np.array(codes), np.array([None] + [REASONS[c] for c in codes[1:]],
                                                                     dtype=object))]
    return _REASON_TABLE[1]


def gpu_stats(engine: str, n_pods: int) -> E.EngineStats:
    """EngineStats of a call that placed pods on GPU devices: only the Numba cycle (kpack.cycle) has the
    device filter, the GPU policies and the device choice (the C core, the indexed and the blocked engines
    have not), so any other requested engine is noted, not hidden."""
    st = E.EngineStats()
    st.engine = "numba"
    st.scan_pods = n_pods
    if engine not in ("auto", "numba"):
        st.note = (f"engine={engine!r} has no GPU device filter or GPU policy scores: these pods ran on the "
                   "Numba cycle")
    return st


def take_back(view: Cluster, out: np.ndarray, pod_req: np.ndarray, pod_nz: np.ndarray) -> None:
    """Undo the commits an engine made in place for pods `out >= 0` (placement aborted)."""
    placed = np.flatnonzero(out >= 0)
    np.subtract.at(view.requested, out[placed], pod_req[placed])
    np.subtract.at(view.nonzero_requested, out[placed], pod_nz[placed])
    out[placed] = -1


def static_scores(cp: CompiledProfile, classes: list[StaticClass]) -> StaticScores:
    """The registered static score plugins' bundle: int64 [C, X, N] raw scores per class, modes and weights
    (NO_STATIC when the profile enables none)."""
    if not cp.static_names:
        return NO_STATIC
    return StaticScores(np.ascontiguousarray(np.stack([c.static_raw for c in classes])), cp.static_mode,
                        cp.static_w)


def class_arrays(classes: list[StaticClass], n: int) -> ClassArrays:
    """Stack per-class static data into the flat arrays the engines read. Score rows are shared
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
    return ClassArrays(code, cand_off, cand_len, cand_flat, conflict, aff_row, aff_rows, taint_row,
                       np.stack(trows))


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
