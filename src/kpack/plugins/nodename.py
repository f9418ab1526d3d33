"""NodeName (filter): a pod with spec.nodeName fits only that node."""
from __future__ import annotations

import numpy as np

from ..models import Pod
from .registry import PluginSpec

REASON = "node(s) didn't match the requested node name"
SPEC = PluginSpec("NodeName", filter=True, default_filter=True)


def fails(names: np.ndarray, pod: Pod) -> np.ndarray:
    """bool [N]: nodes this plugin rejects (`names` is the object array of node names)."""
    if not pod.node_name:
        return np.zeros(len(names), dtype=np.bool_)
    return names != pod.node_name
