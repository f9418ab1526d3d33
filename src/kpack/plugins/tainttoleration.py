"""TaintToleration (filter + score): untolerated NoSchedule/NoExecute taints filter; untolerated
PreferNoSchedule taints count against a node (reverse-normalised score)."""
from __future__ import annotations

import numpy as np

from ..kernels import P_TAINT
from ..models import Toleration
from .registry import PluginSpec

# v1.35 (kubernetes#134740): the key and value are no longer printed.
REASON = "node(s) had untolerated taint(s)"
SPEC = PluginSpec("TaintToleration", filter=True, score=True, default_weight=3, default_filter=True,
                  slot=P_TAINT)
NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE = 0, 1, 2


def tolerated(taints, tolerations: list[Toleration], effects: tuple[str, ...]) -> np.ndarray:
    """bool [T + 1]: taint id -> tolerated by one of `tolerations` with an effect in `effects` (all when
    empty); the padding slot (taint id -1) reads True."""
    tol = [t for t in tolerations if not effects or t.effect in effects]
    return np.array([any(t.tolerates(x) for t in tol) for x in taints] + [True], dtype=np.bool_)


def filter_taint(node_taints: np.ndarray, taint_effect: np.ndarray, taints, tolerations) -> np.ndarray:
    """int32 [N]: the first untolerated NoSchedule/NoExecute taint id of each node, -1 when none."""
    n = node_taints.shape[0]
    if not node_taints.shape[1]:
        return np.full(n, -1, dtype=np.int32)
    ok = tolerated(taints, tolerations, ())
    hard = np.append(taint_effect != PREFER_NO_SCHEDULE, False)      # padding slot: False
    bad = hard[node_taints] & ~ok[node_taints]
    first = bad.argmax(axis=1)
    return np.where(bad.any(axis=1), node_taints[np.arange(n), first], -1).astype(np.int32)


def raw_score(node_taints: np.ndarray, taint_effect: np.ndarray, taints, tolerations) -> np.ndarray:
    """int64 [N]: untolerated PreferNoSchedule taints per node (tolerations with effect "" or
    PreferNoSchedule count). The kernels normalise it: 100 - 100*raw/max, all 100 when max is 0."""
    if not node_taints.shape[1]:
        return np.zeros(node_taints.shape[0], dtype=np.int64)
    ok = tolerated(taints, tolerations, ("", "PreferNoSchedule"))
    soft = np.append(taint_effect == PREFER_NO_SCHEDULE, False)
    return (soft[node_taints] & ~ok[node_taints]).sum(axis=1).astype(np.int64)
