"""Verdict: one pod's filter outcome, reasons and extender priorities as arrays over a cluster's node rows."""
from __future__ import annotations

import dataclasses
import weakref
from itertools import repeat
from typing import Any, Optional

import numpy as np

from .. import cycle
from ..bundles import NO_DEVICES, NO_STATIC, ClassArrays, cluster_arrays, pod_arrays
from ..gpu import plugins as gpu_plugins
from ..models import GPU_RESOURCE, Pod
from ..predicates import REASON_ABSENT, REASONS, NodeLabels, StaticClass, class_key, compile_class
from ..scheduler import SCORE_PLUGIN_NAMES, CompiledProfile, Explanation, Scheduler, class_arrays, fit_reasons
from ..state import Cluster
from ..topology import engine as topology
from . import wire as W

REASON_NOT_CACHED = "node is not in kpack's node cache (POST it to /nodes)"
PASSED, FAILED, UNRESOLVABLE = 0, 1, 2
_FIT_PREFIX = "Insufficient "
_TOO_MANY_PODS = "Too many pods"


class Verdict:
    """One pod on one cluster, as arrays over the cluster's node rows plus a last row for nodes the cluster
    does not have, so that answering for thousands of node names is array indexing, not a loop over nodes.

    code: PASSED, FAILED (upstream Unschedulable: preemption may help) or UNRESOLVABLE (upstream
    UnschedulableAndUnresolvable). Only NodeResourcesFit failures are resolvable, and only when every short
    resource fits the empty node (a request above allocatable is unresolvable, docs/semantics.md section 2).
    rid: each row's filter reason as an index into `reasons` (reasons[0] is None: the node passed).
    score: the weighted total as an extender priority, total * 10 // max_total (rounded down, 0..10), where
    max_total = 100 x the sum of the weights of the score plugins that ran for the pod.
    Built by `evaluate` from the kernels' arrays, or `from_explanation` from a `Scheduler.explain`.
    """

    __slots__ = ("code", "rid", "reasons", "score", "passed", "_answers", "_covered")

    def __init__(self, code: np.ndarray, rid: np.ndarray, reasons: list[Optional[str]], score: np.ndarray):
        self.code, self.rid, self.reasons, self.score = code, rid, reasons, score
        self.passed = int((code == PASSED).sum())
        self._answers: dict[str, tuple[np.ndarray, Any]] = {}
        self._covered: Optional[tuple[np.ndarray, bool]] = None

    @classmethod
    def from_explanation(cls, cluster: Cluster, pod: Pod, ex: Explanation, max_total: int) -> "Verdict":
        """The verdict of a `Scheduler.explain` answer (the path for pods the array path does not take)."""
        names = cluster.node_names
        n = len(names)
        # map() with bound methods keeps these per-node passes in C
        reasons = list(map(ex.filter.get, names, repeat(REASON_NOT_CACHED)))
        reasons.append(REASON_NOT_CACHED)
        table = [None] + [r for r in dict.fromkeys(reasons) if r is not None]
        ids = {r: i for i, r in enumerate(table)}
        rid = np.fromiter(map(ids.__getitem__, reasons), dtype=np.int32, count=n + 1)
        short = {i: fit_resources(r) for i, r in enumerate(table) if r is not None}
        code = classify(cluster, pod.requests, rid, short)
        totals = np.fromiter(map(ex.total.get, names, repeat(0)), dtype=np.int64, count=n)
        return cls(code, rid, table, priorities(totals, max_total, n))

    def covers(self, rows: np.ndarray) -> bool:
        """Whether `rows` hold every node this verdict finds feasible (then its scores, normalised over the
        feasible nodes, are the scores of a cluster of just those rows). The last answer is kept for the same
        rows object (Extender._rows gives one per node list while the cluster's node set holds)."""
        hit = self._covered
        if hit is not None and hit[0] is rows:
            return hit[1]
        out = self._covers(rows)
        self._covered = (rows, out)
        return out

    def _covers(self, rows: np.ndarray) -> bool:
        ok = rows[self.code[rows] == PASSED]
        if len(ok) < self.passed:
            return False
        seen = np.zeros(len(self.code), dtype=np.bool_)
        seen[ok] = True
        return int(np.count_nonzero(seen)) == self.passed

    def reason_of(self, row: int) -> Optional[str]:
        return self.reasons[self.rid[row]]

    def answer(self, verb: str, rows: np.ndarray) -> Any:
        """The last answer for `verb` if it was for these very rows (the same object from Extender._rows)."""
        hit = self._answers.get(verb)
        return hit[1] if hit is not None and hit[0] is rows else None

    def remember(self, verb: str, rows: np.ndarray, answer: Any) -> None:
        self._answers[verb] = (rows, answer)


def priorities(totals: np.ndarray, max_total: int, n: int, rows: Optional[np.ndarray] = None) -> np.ndarray:
    """Extender priorities over n rows + 1: totals (of `rows`, default all) scaled to 0..10, others 0."""
    score = np.zeros(n + 1, dtype=np.int64)
    if max_total > 0 and len(totals):
        top = W.MAX_EXTENDER_PRIORITY
        scaled = np.clip(totals * top // max_total, 0, top)
        if rows is None:
            score[:n] = scaled
        else:
            score[rows] = scaled
    return score


def classify(cluster: Cluster, requests: dict[str, int], rid: np.ndarray,
             short: dict[int, Optional[list[str]]]) -> np.ndarray:
    """PASSED / FAILED / UNRESOLVABLE per row from reason ids; `short[i]` is the resources reason i says are
    short (fit_resources), None for reasons of other filters."""
    n = len(cluster.node_names)
    code = np.full(n + 1, UNRESOLVABLE, dtype=np.int8)
    code[rid == 0] = PASSED
    for i, res in short.items():
        if res is None:
            continue
        rows = rid[:n] == i
        for r in res:
            col = cluster.resource_index.get(r)
            rows &= False if col is None else cluster.allocatable[:, col] >= requests.get(r, 0)
        code[:n][rows] = FAILED
    return code


def fit_resources(reason: str) -> Optional[list[str]]:
    """The resources a NodeResourcesFit reason says are short ("Insufficient cpu, Too many pods" ->
    ["cpu"]), or None when the reason comes from another filter."""
    out = []
    for part in reason.split(", "):
        if part == _TOO_MANY_PODS:
            continue   # never unresolvable upstream
        if not part.startswith(_FIT_PREFIX):
            return None
        out.append(part[len(_FIT_PREFIX):])
    return out


def _distinct(values: np.ndarray) -> list[int]:
    """The distinct values of an int array, ascending (np.unique's answer): a bincount when they are small
    and non-negative (fit failure bits over a few resource columns), several times cheaper than the sort or
    hash of np.unique over thousands of nodes."""
    top = int(values.max())
    if top < 4096 and int(values.min()) >= 0:
        return np.flatnonzero(np.bincount(values, minlength=top + 1)).tolist()
    return np.unique(values).tolist()


class _Compiled:
    """A profile and the pods' static classes compiled for one cluster generation, in the cluster's row
    order (filters and scores do not depend on kube-scheduler's visit order; not used here)."""

    def __init__(self, key: tuple, profile: CompiledProfile, labels: NodeLabels):
        self.key, self.profile, self.labels = key, profile, labels
        self.classes: dict[tuple, StaticClass] = {}
        self.arrays: dict[tuple, ClassArrays] = {}     # the cycle's bundle of each class alone
        self.reasons: dict[tuple, _StaticReasons] = {}


class _StaticReasons:
    """The reasons of a static class's failing nodes (its static filters' codes through REASONS, ids 1.. in
    code order) as an id per row (n + 1 rows, the last one left for nodes not cached), and the rows outside
    NodeAffinity's PreFilter candidates (or None): what every pod of the class starts its reasons from."""

    def __init__(self, cls: StaticClass, n: int):
        code = cls.code
        self.table: list[Optional[str]] = [None]
        self.ids: dict[Optional[str], int] = {None: 0}
        self.rid = np.zeros(n + 1, dtype=np.int32)
        for c in np.unique(code[code > 0]).tolist():
            reason = REASONS[c]
            i = self.ids.get(reason)
            if i is None:
                i = self.ids[reason] = len(self.table)
                self.table.append(reason)
            self.rid[:n][code == c] = i
        self.absent: Optional[np.ndarray] = None
        if cls.candidates is not None and len(cls.candidates) < n:
            self.absent = np.ones(n, dtype=np.bool_)
            self.absent[cls.candidates] = False


class ArrayPath:
    """`evaluate` straight from the kernels: the filter outcome and per-node totals of `Scheduler.explain`
    without its per-node dicts. Pods the kernel path does not model here (pod topology: spreading or pod
    (anti-)affinity; GPU devices; registered score plugins; a pod already naming a node; resources the cluster
    has no column for) go through `Scheduler.explain` and `Verdict.from_explanation`."""

    def __init__(self, scheduler: Scheduler):
        self.scheduler = scheduler
        self._compiled: "weakref.WeakKeyDictionary[Cluster, _Compiled]" = weakref.WeakKeyDictionary()
        self.stats = {"arrays": 0, "explain": 0}

    def max_total(self, ex: Explanation) -> int:
        """The largest weighted total a node can get: MaxNodeScore x the weights of the plugins that ran."""
        weights = self.scheduler.profile.score_weights
        top = W.MAX_NODE_SCORE * sum(weights.get(p, 0) for p in ex.scores)
        return max([top, *ex.total.values()])

    def evaluate(self, cluster: Cluster, pod: Pod, subset: Optional[np.ndarray] = None) -> Optional[Verdict]:
        """The pod's verdict on `cluster`. With `subset` (sorted unique rows) its scores are normalised over
        just those nodes, as on a cluster of them alone (filter codes outside it are not meaningful); None
        when the pod needs `Scheduler.explain`, which only answers for whole clusters."""
        v = self._arrays(cluster, pod, subset)
        if v is not None:
            self.stats["arrays"] += 1
            return v
        if subset is not None:
            return None
        self.stats["explain"] += 1
        ex = self.scheduler.explain(cluster, pod)
        return Verdict.from_explanation(cluster, pod, ex, self.max_total(ex))

    def compiled(self, cluster: Cluster) -> _Compiled:
        key = (cluster.node_generation, tuple(cluster.resource_names))
        c = self._compiled.get(cluster)
        if c is None or c.key != key:
            c = _Compiled(key, CompiledProfile(self.scheduler.profile, cluster), NodeLabels(cluster))
            self._compiled[cluster] = c
        return c

    def _arrays(self, cluster: Cluster, pod: Pod, subset: Optional[np.ndarray] = None) -> Optional[Verdict]:
        sched = self.scheduler
        profile = sched.profile
        ri = cluster.resource_index
        if pod.node_name is not None or any(r not in ri for r in pod.requests) or profile.static_scores:
            return None
        if (pod.gpu_count and GPU_RESOURCE in ri and gpu_plugins.needs_devices(profile, cluster, [pod])) or \
                topology.needed(profile, cluster, [pod]):
            return None
        comp = self.compiled(cluster)
        k = class_key(pod)
        cls = comp.classes.get(k)
        if cls is None:
            cls = comp.classes[k] = compile_class(cluster, pod, comp.labels, filters=set(profile.filters),
                                                  added_affinity=profile.added_affinity, statics=())
        if cls.conflict:
            return None
        n = len(cluster.node_names)
        cp = comp.profile
        preq, pnz = cluster.pod_vectors([pod])
        if subset is None:
            arrays = comp.arrays.get(k)
            if arrays is None:
                arrays = comp.arrays[k] = class_arrays([cls], n)
        else:
            # the nodes being scored: NodeAffinity and TaintToleration normalise over the feasible ones
            cand = np.arange(n) if cls.candidates is None else cls.candidates
            arrays = class_arrays([dataclasses.replace(cls, candidates=np.intersect1d(cand, subset)
                                                       .astype(np.int32))], n)
        bits, _, feasible, scores, totals, _ = cycle.explain(
            cluster_arrays(cluster), cp.arrays, arrays,
            pod_arrays(np.zeros(1, np.int64), preq, pnz), NO_DEVICES, NO_STATIC, sched.rng.copy())
        # Reasons as explain gives them: static codes through REASONS, fit failures by their bit pattern,
        # nodes outside NodeAffinity's PreFilter candidates absent; one id per distinct string, in that order.
        static = comp.reasons.get(k)
        if static is None:
            static = comp.reasons[k] = _StaticReasons(cls, n)
        table = list(static.table)
        ids = dict(static.ids)
        short: dict[int, Optional[list[str]]] = dict.fromkeys(range(1, len(table)))
        rid = static.rid.copy()
        body = rid[:n]

        def rid_of(reason: str, resources: Optional[list[str]]) -> int:
            i = ids.get(reason)
            if i is None:
                i = ids[reason] = len(table)
                table.append(reason)
                short[i] = resources
            return i

        failing = np.flatnonzero(bits)
        if len(failing):
            b = bits[failing]
            patterns = _distinct(b)
            for pattern in patterns:
                parts = fit_reasons(cluster, pattern)
                res = [p[len(_FIT_PREFIX):] for p in parts if p != _TOO_MANY_PODS]
                body[failing if len(patterns) == 1 else failing[b == pattern]] = rid_of(", ".join(parts), res)
        if static.absent is not None:
            body[static.absent] = rid_of(REASON_ABSENT, None)
        rid[n] = rid_of(REASON_NOT_CACHED, None)
        verdict_code = classify(cluster, pod.requests, rid, short)
        # max_total: MaxNodeScore x the weights of the plugins that ran (a plugin whose PreScore skipped the
        # pod has -1 scores), as Extender.max_total reads them from an Explanation.
        weights = profile.score_weights
        ran = [p for i, p in enumerate(SCORE_PLUGIN_NAMES) if len(feasible) and scores[i, 0] >= 0]
        max_total = W.MAX_NODE_SCORE * sum(weights.get(p, 0) for p in ran)
        if len(totals):
            max_total = max(max_total, int(totals.max()))
        score = priorities(totals, max_total, n, feasible)
        return Verdict(verdict_code, rid, table, score)

