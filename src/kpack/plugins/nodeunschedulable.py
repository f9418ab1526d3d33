"""NodeUnschedulable (filter): cordoned nodes, unless the pod tolerates the unschedulable taint."""
from __future__ import annotations

import numpy as np

from ..models import Pod, Taint
from .registry import PluginSpec

REASON = "node(s) were unschedulable"
TAINT_KEY = "node.kubernetes.io/unschedulable"
SPEC = PluginSpec("NodeUnschedulable", filter=True, default_filter=True)


def fails(unschedulable: np.ndarray, pod: Pod) -> np.ndarray:
    """bool [N]: nodes this plugin rejects for `pod`."""
    taint = Taint(key=TAINT_KEY, effect="NoSchedule")
    if any(t.tolerates(taint) for t in pod.tolerations):
        return np.zeros(len(unschedulable), dtype=np.bool_)
    return unschedulable
