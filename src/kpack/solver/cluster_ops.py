"""The solver's only reader of bound pods and only writer of Cluster state (commit a re-placed batch and
moved running pods), for both Cluster generations: with `bind(pod, node_name)`/`unbind(name)` (API.md
"Changes") and the older array form."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..models import Pod
from ..state import GPU_TAGS, Cluster


def bound_pairs(cluster: Cluster) -> list[tuple[Pod, int]]:
    """Every bound pod with its node row, in bind order."""
    if hasattr(cluster, "bound"):
        return cluster.bound()
    return [(p, cluster.node_index[n]) for p, n in cluster.bound_pods()]


def commit_changes(cluster: Cluster, before: Cluster, pods: Sequence[Pod], greedy: np.ndarray,
                   final: np.ndarray, gpu_free: np.ndarray, moves: Sequence[tuple[int, int]],
                   bound: list[tuple[Pod, int]]) -> Optional[str]:
    """Turn `cluster` (after the greedy pass; `before` = the state before it) into: bound pod `b` moved to
    node `dst` for each (b, dst) in `moves` (b indexes `bound`, the pods bound in `before`), and batch pod i
    on `final[i]` (-1: pending). `gpu_free` is the device table the solver computed. Returns None, or why
    the Cluster refused (then nothing changed)."""
    if hasattr(cluster, "unbind"):
        return _with_methods(cluster, pods, greedy, final, moves, bound)
    _rebuild(cluster, before, pods, final, gpu_free, moves, bound)
    return None


def _with_methods(cluster, pods, greedy, final, moves, bound) -> Optional[str]:
    """Unbind what changes, then bind it at its new node (whole-GPU pods first, then GPU shares largest
    first, then the rest), on a copy first so that a refusal changes nothing. The Cluster picks the devices
    (its own rule), which can refuse a share packing the solver found: the caller then keeps greedy."""
    from ..state import ClusterError
    try:
        _apply(cluster.copy(), pods, greedy, final, moves, bound)
    except ClusterError as e:
        return str(e)
    _apply(cluster, pods, greedy, final, moves, bound)
    return None


def _apply(c, pods, greedy, final, moves, bound) -> None:
    names = c.node_names
    todo = []
    for i, p in enumerate(pods):
        if final[i] != greedy[i]:
            if greedy[i] >= 0:
                c.unbind(p.key)
            if final[i] >= 0:
                todo.append((p, names[int(final[i])]))
    for b, dst in moves:
        todo.append((c.unbind(bound[b][0].key), names[dst]))
    todo.sort(key=lambda x: (0 if x[0].gpu_count and x[0].gpu_per_device >= 1000 else 1 if x[0].gpu_count
                             else 2, -x[0].gpu_per_device))
    for p, n in todo:
        c.bind(p, n)


def _rebuild(cluster, before, pods, final, gpu_free, moves, bound) -> None:
    """Older Cluster (no unbind): rebuild requested, nonzero_requested, gpu_free, gpu_tags and the private
    bound-pod lists (_bound_pods/_bound_nodes) from `before` plus the changes."""
    bound_pods = [p for p, _ in bound]
    idx = np.array([n for _, n in bound], dtype=np.int32)
    requested = before.requested.copy()
    nonzero = before.nonzero_requested.copy()
    if moves:
        b = np.array([m[0] for m in moves], dtype=np.int64)
        dst = np.array([m[1] for m in moves], dtype=np.int32)
        req, nz = before.pod_vectors([bound_pods[i] for i in b])
        np.subtract.at(requested, idx[b], req)
        np.subtract.at(nonzero, idx[b], nz)
        np.add.at(requested, dst, req)
        np.add.at(nonzero, dst, nz)
        for i, d in zip(b.tolist(), dst.tolist()):
            bound_pods[i] = bound_pods[i].model_copy(update={"node_name": cluster.node_names[d]})
            idx[i] = d
    final = np.asarray(final, dtype=np.int32)
    placed = final >= 0
    batch = [p for p, ok in zip(pods, placed) if ok]
    nodes = final[placed]
    tags = before.gpu_tags.copy()
    if batch:
        req, nz = before.pod_vectors(batch)
        np.add.at(requested, nodes, req)
        np.add.at(nonzero, nodes, nz)
        for p, n in zip(batch, nodes.tolist()):
            if p.gpu_count:
                tags[n, 0 if p.gpu_per_device < 1000 else min(p.gpu_count, GPU_TAGS - 1)] += 1
    cluster.requested = requested
    cluster.nonzero_requested = nonzero
    cluster.gpu_free = np.ascontiguousarray(gpu_free, dtype=np.int32)
    cluster.gpu_tags = tags
    cluster._bound_pods = bound_pods + batch
    cluster._bound_nodes = [idx, nodes.copy()]
