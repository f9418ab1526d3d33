"""kpack: a fast, faithful Kubernetes scheduler and bin-packing engine on columnar arrays."""
from . import controllers as controllers
from .controllers import ControlPlane
from .daemonset import daemonset_pods
from .manifests import ManifestError, load_manifests
from .models import (DaemonSet, Deployment, Node, NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, Pod,
                     PreferredSchedulingTerm, ReplicaSet, Taint, Toleration)
from .profile import Profile, ProfileError
from .scheduler import Explanation, Scheduler, ScheduleResult, SchedulingError
from .state import Cluster, ClusterError

__version__ = "0.1.0"
__all__ = ["Cluster", "ClusterError", "ControlPlane", "DaemonSet", "Deployment", "Explanation", "ManifestError",
           "Node", "NodeAffinity", "NodeSelectorRequirement", "NodeSelectorTerm", "Pod", "PreferredSchedulingTerm",
           "Profile", "ProfileError", "ReplicaSet", "ScheduleResult", "Scheduler", "SchedulingError", "Taint",
           "Toleration", "daemonset_pods", "load_manifests"]
