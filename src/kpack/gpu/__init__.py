"""GPU sharing formulas: per-device state, fragmentation (FGD), the GPU policies' scores and their
Scheduler plugins. The FGD paper experiment that uses them lives in kpack.experiments."""

from .fragmentation import empty_cluster_fragmentation_pct, typical_pods
from .policies import POLICIES, get_policy

__all__ = ["POLICIES", "empty_cluster_fragmentation_pct", "get_policy", "typical_pods"]
