"""The solver's only reader of bound pods and only writer of Cluster state: commits a re-placed batch and
moved running pods through the Cluster's own `unbind`/`bind`."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..models import Pod
from ..state import Cluster, ClusterError


def bound_pairs(cluster: Cluster) -> list[tuple[Pod, int]]:
    """Every bound pod with its node row, in bind order."""
    return cluster.bound()


def commit_changes(cluster: Cluster, pods: Sequence[Pod], greedy: np.ndarray, final: np.ndarray,
                   moves: Sequence[tuple[int, int]], bound: list[tuple[Pod, int]],
                   devices: Optional[dict] = None) -> Optional[str]:
    """Turn `cluster` (after the greedy pass) into: bound pod `b` moved to node `dst` for each (b, dst) in
    `moves` (b indexes `bound`, the pods bound before the batch), and batch pod i on `final[i]` (-1: pending)
    holding the GPU devices `devices[i]` when given (the solver's device choice, re-checked by
    `Cluster.bind`). Unbinds what changes (a GPU pod that stays on its node but on other devices too), then
    binds it at its new node (whole-GPU pods first, then GPU shares largest first, then the rest), on a copy
    first so that a refusal changes nothing: returns None, or why the Cluster refused. Without a device
    choice the Cluster picks the devices (its own rule), which can refuse a share packing the solver found:
    the caller then keeps greedy."""
    try:
        _apply(cluster.copy(), pods, greedy, final, moves, bound, devices or {})
    except ClusterError as e:
        return str(e)
    _apply(cluster, pods, greedy, final, moves, bound, devices or {})
    return None


def _held(c: Cluster, p: Pod) -> list[int]:
    """The devices a bound pod holds, sorted."""
    return sorted(d for d, _ in c.table.devices.get(c.table.find(p.key), ()))


def _apply(c, pods, greedy, final, moves, bound, devices: dict) -> None:
    names = c.node_names
    todo = []
    for i, p in enumerate(pods):
        devs = devices.get(i) if p.gpu_count else None
        moved_devices = devs is not None and final[i] >= 0 and final[i] == greedy[i] \
            and _held(c, p) != sorted(devs)
        if final[i] != greedy[i] or moved_devices:
            if greedy[i] >= 0:
                c.unbind(p.key)
            if final[i] >= 0:
                todo.append((p, names[int(final[i])], devs))
    for b, dst in moves:
        todo.append((c.unbind(bound[b][0].key), names[dst], None))
    todo.sort(key=lambda x: (0 if x[0].gpu_count and x[0].gpu_per_device >= 1000 else 1 if x[0].gpu_count
                             else 2, -x[0].gpu_per_device))
    for p, n, devs in todo:
        c.bind(p, n, devices=devs)
