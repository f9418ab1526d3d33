"""The solver's only writer of Cluster state: commit a re-placed batch and moved running pods."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..models import Pod
from ..state import GPU_TAGS, Cluster


def commit_changes(cluster: Cluster, before: Cluster, pods: Sequence[Pod], final: np.ndarray,
                   gpu_free: np.ndarray, moves: Sequence[tuple[int, int]]) -> None:
    """Make `cluster` equal to `before` (its state before the batch) plus: bound pod `b` moved to node `dst`
    for each (b, dst) in `moves` (b indexes `before.bound_pods()`), and batch pod i bound to `final[i]`
    (-1: pending). `gpu_free` is the device table after all of it (the solver chose the devices).

    Until the Cluster has `unbind(name)`/`bind(pod, node_name)` (API.md "Changes"), this rebuilds the
    arrays and the private bound-pod lists directly: requested, nonzero_requested, gpu_free, gpu_tags,
    _bound_pods/_bound_nodes. With those methods it becomes: unbind every moved pod and every batch pod
    whose node changed, then bind them at their new nodes (devices as chosen here)."""
    bound_pods = list(before._bound_pods)
    idx = (np.concatenate(before._bound_nodes).astype(np.int32) if before._bound_nodes
           else np.zeros(0, dtype=np.int32))
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
    if hasattr(cluster, "generation"):
        cluster.generation += 1
