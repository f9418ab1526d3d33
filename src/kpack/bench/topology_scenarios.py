"""scheduler_perf's inter-pod affinity and topology-spreading workloads (`affinity/performance-config.yaml`,
`misc/performance-config.yaml`, templates `pod-with-*.yaml`) at 5,000 nodes, plus a 10,000-replica Deployment
with system-default spreading on 5,000 nodes in 5 zones.

Nodes are upstream's node-default (4 cpu, 32Gi, 110 pods) plus the kubernetes.io/hostname label kubelet sets
(scheduler_perf's fake nodes lack it, which makes hostname terms vacuous there). Init pods are bound up front
(round robin over the nodes) instead of being scheduled first."""

from __future__ import annotations

import numpy as np

from ..models import Pod, ReplicaSet
from ..topology.api import HOSTNAME_KEY, ZONE_KEY
from ..topology.workloads import owned_pods
from .scenarios import Scenario, _alloc, _names

NS = ["sched-0", "sched-1"]


def _template(name: str, ns: str, labels: dict, affinity: dict = None, tsc: list = None) -> Pod:
    spec = {"containers": [{"name": "pause", "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}
    if affinity:
        spec["affinity"] = affinity
    if tsc:
        spec["topologySpreadConstraints"] = tsc
    return Pod.from_k8s({"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": spec})


def _term(color: str, key: str) -> dict:
    return {"labelSelector": {"matchLabels": {"color": color}}, "topologyKey": key, "namespaces": NS}


def _nodes(n: int, zones: list[str] | None, seed: int = 0):
    names = _names(n)
    keys = [HOSTNAME_KEY] + ([ZONE_KEY] if zones else [])
    values = names + (zones or [])
    codes = np.empty((n, len(keys)), np.int32)
    codes[:, 0] = np.arange(n)
    if zones:
        codes[:, 1] = n + np.random.default_rng(seed).integers(len(zones), size=n)
    return dict(
        node_names=names,
        allocatable=_alloc(np.full(n, 4), np.full(n, 32), 110),
        label_keys=keys,
        label_values=values,
        label_codes=codes,
        taints=[],
        node_taints=np.zeros((n, 0), np.int32),
    )


def _scenario(name, n_nodes, init: Pod, n_init, measure: Pod, n_measure, zones=None, desc="") -> Scenario:
    return Scenario(
        name=name,
        **_nodes(n_nodes, zones),
        specs=[measure],
        spec_index=np.zeros(n_measure, np.int32),
        bound_specs=[init],
        bound_index=np.zeros(n_init, np.int32),
        bound_node=(np.arange(n_init) % n_nodes).astype(np.int32),
        description=desc,
    )


def _anti(color, key=HOSTNAME_KEY):
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(color, key)]}}


def pod_anti_affinity(n_nodes=5000, n_init=1000, n_measure=2000) -> Scenario:
    t = lambda ns: _template("anti-affinity-pod", ns, {"color": "green"}, _anti("green"))  # noqa: E731
    return _scenario(
        f"SchedulingPodAntiAffinity/{n_nodes}Nodes/{n_measure}Pods",
        n_nodes,
        t(NS[0]),
        n_init,
        t(NS[1]),
        n_measure,
        desc="required hostname anti-affinity among green pods",
    )


def pod_matching_anti_affinity(n_nodes=5000, n_init=1000, n_measure=5000) -> Scenario:
    init = _template("anti-affinity-pod", NS[0], {"color": "green"}, _anti("green"))
    measure = _template("anti-affinity-matching-pod", NS[1], {"color": "green"})
    return _scenario(
        f"SchedulingPodMatchingAntiAffinity/{n_nodes}Nodes/{n_measure}Pods",
        n_nodes,
        init,
        n_init,
        measure,
        n_measure,
        desc="plain pods matching existing pods' hostname anti-affinity",
    )


def pod_affinity(n_nodes=5000, n_init=5000, n_measure=5000) -> Scenario:
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("blue", ZONE_KEY)]}}
    t = lambda ns: _template("affinity-pod", ns, {"color": "blue"}, aff)  # noqa: E731
    return _scenario(
        f"SchedulingPodAffinity/{n_nodes}Nodes/{n_measure}Pods",
        n_nodes,
        t(NS[0]),
        n_init,
        t(NS[1]),
        n_measure,
        zones=["zone1"],
        desc="required zone affinity, one zone",
    )


def _preferred(kind, color, name, label):
    aff = {
        kind: {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "podAffinityTerm": _term(color, HOSTNAME_KEY)}
            ]
        }
    }
    t = lambda ns: _template(name, ns, {"color": color}, aff)  # noqa: E731

    def make(n_nodes=5000, n_init=5000, n_measure=5000) -> Scenario:
        return _scenario(
            f"{label}/{n_nodes}Nodes/{n_measure}Pods",
            n_nodes,
            t(NS[0]),
            n_init,
            t(NS[1]),
            n_measure,
            desc=f"preferred hostname {kind}, weight 1",
        )

    return make


def _spreading(when, label):
    tsc = [
        {
            "maxSkew": 5,
            "topologyKey": ZONE_KEY,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"color": "blue"}},
        }
    ]

    def make(n_nodes=5000, n_init=5000, n_measure=5000) -> Scenario:
        init = _template("pod-default", "default", {})
        measure = _template("spreading-pod", "default", {"color": "blue"}, tsc=tsc)
        return _scenario(
            f"{label}/{n_nodes}Nodes/{n_measure}Pods",
            n_nodes,
            init,
            n_init,
            measure,
            n_measure,
            zones=["moon-1", "moon-2", "moon-3"],
            desc=f"zone spreading maxSkew 5, {when}",
        )

    return make


def deployment_default_spreading(n_nodes=5000, replicas=10000, n_zones=5) -> Scenario:
    """A Deployment's ReplicaSet and its replicas: PodTopologySpread's system defaults apply."""
    rs = ReplicaSet(
        name="web-5d8f7c",
        selector={"matchLabels": {"app": "web", "pod-template-hash": "5d8f7c"}},
        template={
            "metadata": {"labels": {"app": "web", "pod-template-hash": "5d8f7c"}},
            "spec": {
                "containers": [{"name": "web", "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}}}]
            },
        },
        replicas=replicas,
    )
    spec = owned_pods(rs, ["web"])[0]
    zones = [f"zone-{i}" for i in range(n_zones)]
    sc = Scenario(
        name=f"DeploymentDefaultSpreading/{n_nodes}Nodes/{replicas}Replicas",
        **_nodes(n_nodes, zones),
        specs=[spec],
        spec_index=np.zeros(replicas, np.int32),
        description=f"{replicas} replicas owned by a ReplicaSet, system-default spreading, {n_zones} zones",
    )
    sc.objects = [rs]
    return sc


SCENARIOS = {
    "SchedulingPodAntiAffinity/5000Nodes/2000Pods": pod_anti_affinity,
    "SchedulingPodAffinity/5000Nodes/5000Pods": pod_affinity,
    "SchedulingPreferredPodAffinity/5000Nodes/5000Pods": _preferred(
        "podAffinity", "red", "preferred-affinity-pod", "SchedulingPreferredPodAffinity"
    ),
    "SchedulingPreferredPodAntiAffinity/5000Nodes/5000Pods": _preferred(
        "podAntiAffinity", "yellow", "preferred-anti-affinity-pod", "SchedulingPreferredPodAntiAffinity"
    ),
    "SchedulingPodMatchingAntiAffinity/5000Nodes/5000Pods": pod_matching_anti_affinity,
    "TopologySpreading/5000Nodes/5000Pods": _spreading("DoNotSchedule", "TopologySpreading"),
    "PreferredTopologySpreading/5000Nodes/5000Pods": _spreading(
        "ScheduleAnyway", "PreferredTopologySpreading"
    ),
    "DeploymentDefaultSpreading/5000Nodes/10000Replicas": deployment_default_spreading,
}


# Per-engine pod limits for `kpack bench` (the NumPy baseline runs ~50-100 pods/s here).
BENCH_LIMITS = {"numpy": 200}
