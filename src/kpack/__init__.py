"""kpack: a fast, faithful Kubernetes scheduler and bin-packing engine on columnar arrays."""
from . import batch as batch  # kpack.batch (PodBatch, cluster_from_arrays) after a plain `import kpack`
from . import controllers as controllers
from . import solver as solver  # registers the "cpsat" fallback hook (OR-Tools loads on first use)
from .controllers import ControlPlane
from .daemonset import daemonset_pods
from .manifests import ManifestError, load_manifests
from .models import (
    DaemonSet,
    Deployment,
    Node,
    NodeAffinity,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Pod,
    PreferredSchedulingTerm,
    ReplicaSet,
    Taint,
    Toleration,
)
from .profile import Profile, ProfileError
from .scheduler import Explanation, Scheduler, ScheduleResult, SchedulingError
from .state import Cluster, ClusterError
from .validation import ManifestWarning


def plan(pods, node_shapes, time_limit: float = 10.0, costs=None, **kw):
    """Capacity planning (kpack.solver.planning.plan): fewest/cheapest nodes of the given shapes for pods."""
    from .solver.planning import plan as _plan
    return _plan(pods, node_shapes, time_limit=time_limit, costs=costs, **kw)


__version__ = "0.1.0"
__all__ = ["Cluster", "ClusterError", "ControlPlane", "DaemonSet", "Deployment", "Explanation",
           "ManifestError", "ManifestWarning",
           "Node", "NodeAffinity", "NodeSelectorRequirement", "NodeSelectorTerm", "Pod",
           "PreferredSchedulingTerm", "Profile", "ProfileError", "ReplicaSet", "ScheduleResult", "Scheduler",
           "SchedulingError", "Taint", "Toleration", "daemonset_pods", "load_manifests", "plan"]
