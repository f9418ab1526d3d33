"""Workload controllers over a Cluster: Deployments, ReplicaSets, DaemonSets, Jobs, CronJobs, nodes."""

from .objects import CronJob, Job
from .plane import ControlPlane, load_objects
from .rollout import ControllerError, daemonset_fenceposts, resolve_fenceposts

__all__ = [
    "ControlPlane",
    "ControllerError",
    "CronJob",
    "Job",
    "daemonset_fenceposts",
    "load_objects",
    "resolve_fenceposts",
]
