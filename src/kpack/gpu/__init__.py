"""GPU-sharing experiment of the FGD paper (USENIX ATC '23) on the Alibaba openb trace."""

from .experiment import RunResult, export, run_fgd, summarize, sweep
from .fragmentation import empty_cluster_fragmentation_pct, typical_pods
from .openb import read_nodes, read_pods
from .policies import POLICIES, get_policy

__all__ = [
    "POLICIES",
    "RunResult",
    "empty_cluster_fragmentation_pct",
    "export",
    "get_policy",
    "read_nodes",
    "read_pods",
    "run_fgd",
    "summarize",
    "sweep",
    "typical_pods",
]
