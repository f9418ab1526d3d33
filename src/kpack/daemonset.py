"""DaemonSet placement rules (upstream NodeShouldRunDaemonPod): which nodes run a daemon pod, and the
pod each one gets (node-pinning affinity, automatic tolerations), scheduled by the normal kernels."""
from __future__ import annotations

import numpy as np

from .models import DaemonSet, NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, Pod, Toleration
from .predicates import NodeLabels
from .state import Cluster

_DAEMON_TOLERATIONS = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
]
_NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", "NoSchedule")


def daemon_tolerations(pod: Pod) -> list[Toleration]:
    """The template's tolerations plus the automatic daemon ones (added only when not already present)."""
    extra = list(_DAEMON_TOLERATIONS) + ([_NETWORK_UNAVAILABLE] if pod.host_network else [])
    tols = list(pod.tolerations)
    for key, effect in extra:
        t = Toleration(key=key, operator="Exists", effect=effect)
        if t not in tols:
            tols.append(t)
    return tols


def should_run(cluster: Cluster, ds: DaemonSet) -> tuple[np.ndarray, np.ndarray]:
    """(shouldRun, shouldContinueRunning) per node, as bool arrays (resources are not checked)."""
    tmpl = ds.template_pod(ds.name)
    n = len(cluster.node_names)
    labels = NodeLabels(cluster)
    match = np.ones(n, dtype=np.bool_)
    if tmpl.node_name:
        match &= labels.names == tmpl.node_name
    for k, v in tmpl.node_selector.items():
        match &= labels.column(k) == cluster.label_value_index.get(v, -2)
    if tmpl.affinity is not None and tmpl.affinity.required is not None:
        match &= labels.terms(tmpl.affinity.required)
    tols = daemon_tolerations(tmpl)
    nt = cluster.node_taints
    run = match.copy()
    keep = match.copy()
    if nt.shape[1]:
        tolerated = np.array([any(t.tolerates(x) for t in tols) for x in cluster.taints] + [True],
                             dtype=np.bool_)
        eff = np.append(cluster.taint_effect, 1)     # padding: PreferNoSchedule (never blocks)
        untol = ~tolerated[nt]
        run &= ~(untol & (eff[nt] != 1)).any(axis=1)
        keep &= ~(untol & (eff[nt] == 2)).any(axis=1)
    return run, keep


def daemon_pod(ds: DaemonSet, node_name: str) -> Pod:
    """The daemon pod for `node_name`: required terms replaced by matchFields metadata.name In [node]."""
    tmpl = ds.template_pod(f"{ds.name}-{node_name}")
    pin = NodeSelectorTerm(match_fields=[NodeSelectorRequirement(key="metadata.name", operator="In",
                                                                 values=[node_name])])
    preferred = tmpl.affinity.preferred if tmpl.affinity is not None else []
    return tmpl.model_copy(update={
        "affinity": NodeAffinity(required=[pin], preferred=preferred),
        "tolerations": daemon_tolerations(tmpl),
        "owner": f"daemonset/{ds.name}",
    })


def daemonset_pods(cluster: Cluster, ds: DaemonSet) -> dict[str, Pod]:
    """node name -> the daemon pod that node should run (docs/semantics.md section 8)."""
    run, _ = should_run(cluster, ds)
    return {cluster.node_names[i]: daemon_pod(ds, cluster.node_names[i]) for i in np.flatnonzero(run)}
