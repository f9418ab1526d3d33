"""Static predicates compiled once per scheduling class: node masks for NodeUnschedulable, NodeName,
TaintToleration and NodeAffinity, their reason codes, and the static score inputs (preferred affinity
weights, untolerated PreferNoSchedule taint counts). Vectorised over nodes with NumPy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .models import Pod
from .plugins import REGISTRY, nodeaffinity, nodename, nodeunschedulable, tainttoleration
from .plugins.nodeaffinity import REASON_ABSENT, REASON_CONFLICT, NodeLabels, parse_int64
from .state import Cluster

# Static reason codes, in upstream filter order (the first failing plugin gives the node's status).
OK, UNSCHEDULABLE, NODE_NAME, TAINT, AFFINITY, AFFINITY_ADDED = 0, 1, 2, 3, 4, 5
REASONS = {UNSCHEDULABLE: nodeunschedulable.REASON, NODE_NAME: nodename.REASON, TAINT: tainttoleration.REASON,
           AFFINITY: nodeaffinity.REASON, AFFINITY_ADDED: nodeaffinity.REASON_ADDED}
__all__ = ["REASON_ABSENT", "REASON_CONFLICT", "NodeLabels", "parse_int64"]
CUSTOM_CODES: dict[str, int] = {}        # registered static filter plugin -> its code (16, 17, ...)


def custom_code(name: str) -> int:
    """The static code of a registered filter plugin, its reason added to REASONS."""
    c = CUSTOM_CODES.get(name)
    if c is None:
        c = CUSTOM_CODES[name] = 16 + len(CUSTOM_CODES)
        if c > 127:
            raise ValueError("too many registered filter plugins (at most 112)")
    REASONS[c] = REGISTRY[name].reason or f"node(s) didn't satisfy plugin {name}"
    return c


@dataclass
class StaticClass:
    """What one scheduling class needs from the static filters and scores."""
    code: np.ndarray                    # int8 [N]: 0 feasible so far, else the failing plugin's code
    taint_reason: np.ndarray            # int32 [N]: taint id for code == TAINT, else -1
    candidates: Optional[np.ndarray]    # int32 node indices from NodeAffinity PreFilter, or None (all)
    conflict: bool                      # PreFilter "pod affinity terms conflict"
    affinity_raw: Optional[np.ndarray]  # int64 [N] preferred weights sum, None when PreScore skips
    taint_raw: np.ndarray               # int64 [N] untolerated PreferNoSchedule taints
    static_raw: Optional[np.ndarray] = None   # int64 [X, N] registered static score plugins' raw scores


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
    (`pinned_base`). The caller must have the NodeAffinity filter enabled (otherwise there is no
    PreFilter)."""
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
    # the rest of the affinity: preferred terms (the common DaemonSet pin has none: no JSON dump per pod)
    aff = pod.affinity.model_dump_json(exclude={"required"}) if pod.affinity.preferred else ""
    models = tuple(pod.gpu_models) if pod.gpu_count else ()
    return ("pinned-base", tuple(sorted(pod.node_selector.items())), aff, toleration_key(pod), pod.node_name,
            models)


def pinned_base(pod: Pod) -> Pod:
    """The pod with its required node affinity removed (preferred terms kept)."""
    return pod.model_copy(update={"affinity": pod.affinity.model_copy(update={"required": None})})


def pinned_class(cluster: Cluster, base: "StaticClass", node: str) -> "StaticClass":
    """The static class of a pod pinned to `node` whose unpinned pod compiles to `base`: the base's arrays
    (shared, not copied) with the one-node candidate list. Only the candidate's code is ever read (the
    kernels visit candidates only; reasons count the other nodes as REASON_ABSENT)."""
    i = cluster.node_index.get(node)
    cand = np.array([] if i is None else [i], dtype=np.int32)
    return StaticClass(base.code, base.taint_reason, cand, False, base.affinity_raw, base.taint_raw,
                       base.static_raw)


def compile_class(cluster: Cluster, pod: Pod, labels: Optional[NodeLabels] = None,
                  filters: Optional[set[str]] = None, added_affinity=None,
                  statics: tuple = ()) -> StaticClass:
    """Static filter codes and static score inputs for pods like `pod` (None filters: all enabled). Each
    plugin's rule lives in its kpack.plugins module; this applies them in upstream's filter order."""
    labels = labels or NodeLabels(cluster)
    on = (lambda name: True) if filters is None else (lambda name: name in filters)
    n = len(cluster.node_names)
    code = np.zeros(n, dtype=np.int8)
    taint_reason = np.full(n, -1, dtype=np.int32)

    def fail(mask: np.ndarray, c: int) -> None:
        code[(code == OK) & mask] = c

    if on("NodeUnschedulable"):
        fail(nodeunschedulable.fails(cluster.unschedulable, pod), UNSCHEDULABLE)
    if on("NodeName"):
        fail(nodename.fails(labels.names, pod), NODE_NAME)
    if on("TaintToleration"):
        first = tainttoleration.filter_taint(cluster.node_taints, cluster.taint_effect, cluster.taints,
                                             pod.tolerations)
        newly = (code == OK) & (first >= 0)
        taint_reason[newly] = first[newly]
        fail(first >= 0, TAINT)
    aff = pod.affinity
    required = aff.required if aff is not None else None
    candidates, conflict = None, False
    if on("NodeAffinity"):
        added = nodeaffinity.added_match(labels, added_affinity)
        if added is not None:
            fail(~added, AFFINITY_ADDED)
        fail(~nodeaffinity.required_match(labels, pod), AFFINITY)
        if required:
            names = nodeaffinity.prefilter_names(required)
            if names is not None:
                conflict = not names
                idx = sorted(cluster.node_index[x] for x in names if x in cluster.node_index)
                candidates = np.array(idx, dtype=np.int32)
    for name in sorted(filters or ()):
        spec = REGISTRY.get(name)
        if spec is not None and spec.static_filter is not None:
            fail(np.asarray(spec.static_filter(cluster, pod, labels), dtype=np.bool_), custom_code(name))
    static_raw = None
    if statics:
        static_raw = np.full((len(statics), n), -1, dtype=np.int64)     # -1: PreScore skipped
        for x, name in enumerate(statics):
            raw = REGISTRY[name].static_score(cluster, pod, labels)
            if raw is not None:
                raw = np.asarray(raw, dtype=np.int64)
                if raw.shape != (n,) or (raw < 0).any():
                    raise ValueError(f"plugin {name}: static_score must return {n} non-negative integers")
                static_raw[x] = raw
    affinity_raw = nodeaffinity.raw_score(labels, pod, added_affinity)
    taint_raw = tainttoleration.raw_score(cluster.node_taints, cluster.taint_effect, cluster.taints,
                                          pod.tolerations)
    return StaticClass(code, taint_reason, candidates, conflict, affinity_raw, taint_raw, static_raw)


def static_reason(cluster: Cluster, cls: StaticClass, node: int) -> Optional[str]:
    """The reason string of the static filter that rejected `node`, None when none did."""
    c = int(cls.code[node])
    return REASONS.get(c) if c != OK else None
