"""Static predicates compiled once per scheduling class: node masks for NodeUnschedulable, NodeName,
TaintToleration and NodeAffinity, their reason codes, and the static score inputs (preferred affinity
weights, untolerated PreferNoSchedule taint counts). Vectorised over nodes with NumPy."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .models import GPU_MODEL_LABEL, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration
from .state import Cluster

# Static reason codes, in upstream filter order (the first failing plugin gives the node's status).
OK, UNSCHEDULABLE, NODE_NAME, TAINT, AFFINITY = 0, 1, 2, 3, 4
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_NAME = "node(s) didn't match the requested node name"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_CONFLICT = "pod affinity terms conflict"
REASON_ABSENT = "node(s) didn't satisfy plugin(s) [NodeAffinity]"
UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")
_INT_RE = re.compile(r"^[+-]?[0-9]+$")


def parse_int64(s: str) -> Optional[int]:
    """Go strconv.ParseInt(s, 10, 64): None when it fails."""
    if not _INT_RE.fullmatch(s):
        return None
    v = int(s)
    return v if -(2**63) <= v < 2**63 else None


@dataclass
class StaticClass:
    """What one scheduling class needs from the static filters and scores."""
    code: np.ndarray                    # int8 [N]: 0 feasible so far, else the failing plugin's code
    taint_reason: np.ndarray            # int32 [N]: taint id for code == TAINT, else -1
    candidates: Optional[np.ndarray]    # int32 node indices from NodeAffinity PreFilter, or None (all)
    conflict: bool                      # PreFilter "pod affinity terms conflict"
    affinity_raw: Optional[np.ndarray]  # int64 [N] preferred weights sum, None when PreScore skips
    taint_raw: np.ndarray               # int64 [N] untolerated PreferNoSchedule taints


def toleration_key(pod: Pod) -> tuple:
    return tuple((t.key, t.operator, t.value, t.effect) for t in pod.tolerations)


def class_key(pod: Pod) -> tuple:
    """Pods with equal keys have identical static predicates and static scores."""
    aff = pod.affinity.model_dump_json() if pod.affinity is not None else None
    models = tuple(pod.gpu_models) if pod.gpu_count else ()
    return (tuple(sorted(pod.node_selector.items())), aff, toleration_key(pod), pod.node_name, models)


def pinned_node(pod: Pod) -> Optional[str]:
    """The node name when the pod's required node affinity is exactly one term holding exactly one
    `matchFields: metadata.name In [<one name>]` (the DaemonSet controller's pin), else None.

    For such a pod NodeAffinity's PreFilter leaves one candidate, on which the pin term matches, so its static
    class equals the class of the same pod without required affinity, restricted to that candidate
    (`pinned_base`). The caller must have the NodeAffinity filter enabled (otherwise there is no PreFilter)."""
    aff = pod.affinity
    if aff is None or aff.required is None or len(aff.required) != 1:
        return None
    t = aff.required[0]
    if t.match_expressions or len(t.match_fields) != 1:
        return None
    r = t.match_fields[0]
    if r.key != "metadata.name" or r.operator != "In" or len(r.values) != 1:
        return None
    return r.values[0]


def pinned_base_key(pod: Pod) -> tuple:
    """Class key of a pinned pod's base (the pod without its required node affinity)."""
    aff = pod.affinity.model_dump_json(exclude={"required"})
    models = tuple(pod.gpu_models) if pod.gpu_count else ()
    return ("pinned-base", tuple(sorted(pod.node_selector.items())), aff, toleration_key(pod), pod.node_name, models)


def pinned_base(pod: Pod) -> Pod:
    """The pod with its required node affinity removed (preferred terms kept)."""
    return pod.model_copy(update={"affinity": pod.affinity.model_copy(update={"required": None})})


def pinned_class(cluster: Cluster, base: "StaticClass", node: str) -> "StaticClass":
    """The static class of a pod pinned to `node` whose unpinned pod compiles to `base`: the base's arrays
    (shared, not copied) with the one-node candidate list. Only the candidate's code is ever read (the
    kernels visit candidates only; reasons count the other nodes as REASON_ABSENT)."""
    i = cluster.node_index.get(node)
    cand = np.array([] if i is None else [i], dtype=np.int32)
    return StaticClass(base.code, base.taint_reason, cand, False, base.affinity_raw, base.taint_raw)


class _Labels:
    """Node label columns and the int64 parse of each distinct label value."""

    def __init__(self, cluster: Cluster):
        self.c = cluster
        ints = [parse_int64(v) for v in cluster.label_values]
        self.val_ok = np.array([i is not None for i in ints] + [False], dtype=np.bool_)
        self.val_int = np.array([i or 0 for i in ints] + [0], dtype=np.int64)
        self.names = np.array(cluster.node_names, dtype=object)

    def column(self, key: str) -> np.ndarray:
        k = self.c.label_key_index.get(key)
        if k is None:
            return np.full(len(self.c.node_names), -1, dtype=np.int32)
        return self.c.label_codes[:, k]

    def requirement(self, r: NodeSelectorRequirement) -> Optional[np.ndarray]:
        """Mask of nodes matching a label requirement; None when it does not parse (term fails)."""
        if not _KEY_RE.fullmatch(r.key) or not all(_VALUE_RE.fullmatch(v) for v in r.values):
            return None
        col = self.column(r.key)
        op = r.operator
        if op in ("In", "NotIn"):
            if not r.values:
                return None
            codes = [self.c.label_value_index[v] for v in r.values if v in self.c.label_value_index]
            m = np.isin(col, np.array(codes, dtype=np.int32))
            return m if op == "In" else ~m
        if op in ("Exists", "DoesNotExist"):
            if r.values:
                return None
            return col >= 0 if op == "Exists" else col < 0
        if len(r.values) != 1 or parse_int64(r.values[0]) is None:
            return None
        v = parse_int64(r.values[0])
        present = col >= 0
        ok = present & self.val_ok[col]          # col == -1 reads the padding entry (False)
        vals = self.val_int[col]
        return ok & (vals > v if op == "Gt" else vals < v)

    def field(self, r: NodeSelectorRequirement) -> Optional[np.ndarray]:
        if r.key != "metadata.name" or r.operator not in ("In", "NotIn") or len(r.values) != 1:
            return None
        m = self.names == r.values[0]
        return m if r.operator == "In" else ~m

    def term(self, t: NodeSelectorTerm) -> np.ndarray:
        n = len(self.c.node_names)
        if not t.match_expressions and not t.match_fields:
            return np.zeros(n, dtype=np.bool_)
        m = np.ones(n, dtype=np.bool_)
        for r in t.match_expressions:
            x = self.requirement(r)
            if x is None:
                return np.zeros(n, dtype=np.bool_)
            m &= x
        for r in t.match_fields:
            x = self.field(r)
            if x is None:
                return np.zeros(n, dtype=np.bool_)
            m &= x
        return m

    def terms(self, terms: list[NodeSelectorTerm]) -> np.ndarray:
        m = np.zeros(len(self.c.node_names), dtype=np.bool_)
        for t in terms:
            m |= self.term(t)
        return m


def _prefilter_names(terms: list[NodeSelectorTerm]) -> Optional[set[str]]:
    """NodeAffinity PreFilter: node names when every term pins metadata.name In, else None."""
    names: Optional[set[str]] = None
    for t in terms:
        term_names: Optional[set[str]] = None
        for r in t.match_fields:
            if r.key == "metadata.name" and r.operator == "In":
                term_names = set(r.values) if term_names is None else term_names & set(r.values)
        if term_names is None:
            return None
        names = term_names if names is None else names | term_names
    return names


def tolerated_taints(cluster: Cluster, tolerations: list[Toleration], effects: tuple[str, ...]) -> np.ndarray:
    """bool [T + 1]: taint id -> tolerated by a toleration (padding slot -1 -> True)."""
    tol = [t for t in tolerations if not effects or t.effect in effects]
    out = np.array([any(t.tolerates(x) for t in tol) for x in cluster.taints] + [True], dtype=np.bool_)
    return out


def compile_class(cluster: Cluster, pod: Pod, labels: Optional[_Labels] = None,
                  filters: Optional[set[str]] = None) -> StaticClass:
    """Static filter codes and static score inputs for pods like `pod` (None filters: all enabled)."""
    labels = labels or _Labels(cluster)
    on = (lambda name: True) if filters is None else (lambda name: name in filters)
    n = len(cluster.node_names)
    code = np.zeros(n, dtype=np.int8)
    taint_reason = np.full(n, -1, dtype=np.int32)

    def fail(mask: np.ndarray, c: int) -> None:
        code[(code == OK) & mask] = c

    # NodeUnschedulable: a cordoned node passes only if the pod tolerates the unschedulable taint.
    unsched_taint = Taint(key=UNSCHEDULABLE_TAINT_KEY, effect="NoSchedule")
    if on("NodeUnschedulable") and not any(t.tolerates(unsched_taint) for t in pod.tolerations):
        fail(cluster.unschedulable, UNSCHEDULABLE)
    # NodeName
    if on("NodeName") and pod.node_name:
        fail(labels.names != pod.node_name, NODE_NAME)
    # TaintToleration filter: first untolerated NoSchedule/NoExecute taint in node order.
    nt = cluster.node_taints
    if on("TaintToleration") and nt.shape[1]:
        tol_all = tolerated_taints(cluster, pod.tolerations, ())
        hard = np.append(cluster.taint_effect != 1, False)      # NoSchedule or NoExecute; padding False
        bad = hard[nt] & ~tol_all[nt]
        any_bad = bad.any(axis=1)
        first = bad.argmax(axis=1)
        newly = (code == OK) & any_bad
        taint_reason[newly] = nt[newly, first[newly]]
        fail(any_bad, TAINT)
    # NodeAffinity filter: nodeSelector AND required terms.
    aff = pod.affinity
    required = aff.required if aff is not None else None
    match = np.ones(n, dtype=np.bool_)
    for k, v in pod.node_selector.items():
        code_v = cluster.label_value_index.get(v, -2)
        match &= labels.column(k) == code_v
    if required is not None:
        match &= labels.terms(required)
    if pod.gpu_models and pod.gpu_count:
        # GPU model constraint (kpack.io/gpu-models): an implicit `nvidia.com/gpu.product In [...]`.
        codes = [cluster.label_value_index[m] for m in pod.gpu_models if m in cluster.label_value_index]
        match &= np.isin(labels.column(GPU_MODEL_LABEL), np.array(codes, dtype=np.int32))
    candidates, conflict = None, False
    if not on("NodeAffinity"):
        required = None
    else:
        fail(~match, AFFINITY)
    if required:
        names = _prefilter_names(required)
        if names is not None:
            if not names:
                conflict = True
            idx = sorted(cluster.node_index[x] for x in names if x in cluster.node_index)
            candidates = np.array(idx, dtype=np.int32)
    # Static scores.
    affinity_raw = None
    if aff is not None:
        prefs = [p for p in aff.preferred if p.weight != 0]
        if prefs:
            affinity_raw = np.zeros(n, dtype=np.int64)
            for p in prefs:
                # An empty preference term matches nothing (upstream ignores it).
                affinity_raw += p.weight * labels.term(p.preference)
    taint_raw = np.zeros(n, dtype=np.int64)
    if nt.shape[1]:
        tol_soft = tolerated_taints(cluster, pod.tolerations, ("", "PreferNoSchedule"))
        soft = np.append(cluster.taint_effect == 1, False)
        taint_raw = (soft[nt] & ~tol_soft[nt]).sum(axis=1).astype(np.int64)
    return StaticClass(code, taint_reason, candidates, conflict, affinity_raw, taint_raw)


def static_reason(cluster: Cluster, cls: StaticClass, node: int) -> Optional[str]:
    c = cls.code[node]
    if c == OK:
        return None
    if c == UNSCHEDULABLE:
        return REASON_UNSCHEDULABLE
    if c == NODE_NAME:
        return REASON_NODE_NAME
    if c == TAINT:
        t = cluster.taints[cls.taint_reason[node]]
        return f"node(s) had untolerated taint {{{t.key}: {t.value}}}"
    return REASON_AFFINITY
