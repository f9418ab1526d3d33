"""kpack's topology path against tests/reference.py (PodTopologySpread and InterPodAffinity written from
K8S_SEMANTICS.md alone) on random small clusters: placements, reasons and explain."""

import random

import pytest
from reference import ReferenceScheduler

from kpack import Cluster, Node, Pod, Profile, Scheduler
from kpack.models import ReplicaSet
from kpack.topology.objects import Namespace, Service

KEYS = ["topology.kubernetes.io/zone", "kubernetes.io/hostname", "region"]  # zone: node tree order applies


def _sel(rng):
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.15:
        return {}
    if r < 0.8:
        return {"matchLabels": {"app": rng.choice("ab")}}
    return {"matchExpressions": [{"key": "app", "operator": rng.choice(["In", "NotIn"]), "values": ["a"]}]}


def _term(rng):
    t = {"labelSelector": _sel(rng) or {"matchLabels": {"app": "a"}}, "topologyKey": rng.choice(KEYS)}
    r = rng.random()
    if r < 0.2:
        t["namespaces"] = ["default", "other"]
    elif r < 0.35:
        t["namespaceSelector"] = rng.choice([{}, {"matchLabels": {"team": "x"}}])
    return t


def _affinity(rng):
    aff = {}
    for kind in ("podAffinity", "podAntiAffinity"):
        if rng.random() < 0.4:
            spec = {}
            if rng.random() < 0.5:
                spec["requiredDuringSchedulingIgnoredDuringExecution"] = [
                    _term(rng) for _ in range(rng.randint(1, 2))
                ]
            if rng.random() < 0.6:
                spec["preferredDuringSchedulingIgnoredDuringExecution"] = [
                    {"weight": rng.randint(1, 100), "podAffinityTerm": _term(rng)}
                    for _ in range(rng.randint(1, 2))
                ]
            aff[kind] = spec
    return aff


def _pod(rng, name, node_name=None, features=True):
    labels = {"app": rng.choice("abc")}
    meta = {"name": name, "namespace": rng.choice(["default", "default", "other"]), "labels": labels}
    spec = {
        "containers": [
            {
                "name": "c",
                "resources": {"requests": {"cpu": f"{rng.choice([100, 500, 1000])}m", "memory": "256Mi"}},
            }
        ]
    }
    if node_name:
        spec["nodeName"] = node_name
    if rng.random() < 0.3:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "controller": True}
        ]
    if features and rng.random() < 0.5:
        used, tsc = set(), []
        for _ in range(rng.randint(1, 2)):
            key, when = rng.choice(KEYS), rng.choice(["DoNotSchedule", "ScheduleAnyway"])
            if (key, when) in used:
                continue
            used.add((key, when))
            c = {
                "maxSkew": rng.randint(1, 3),
                "topologyKey": key,
                "whenUnsatisfiable": when,
                "labelSelector": _sel(rng),
            }
            if c["labelSelector"] is None:
                del c["labelSelector"]
            if when == "DoNotSchedule" and rng.random() < 0.2:
                c["minDomains"] = rng.randint(1, 5)
            if rng.random() < 0.2:
                c["nodeTaintsPolicy"] = "Honor"
            if rng.random() < 0.2:
                c["nodeAffinityPolicy"] = "Ignore"
            tsc.append(c)
        spec["topologySpreadConstraints"] = tsc
    if features and rng.random() < 0.5:
        aff = _affinity(rng)
        if aff:
            spec["affinity"] = aff
    if rng.random() < 0.2:
        spec["nodeSelector"] = {"region": rng.choice(["r1", "r2"])}
    if rng.random() < 0.2:
        spec["tolerations"] = [{"operator": "Exists"}]
    return Pod.from_k8s({"metadata": meta, "spec": spec})


def _world(seed):
    rng = random.Random(seed)
    nodes = []
    for i in range(rng.randint(3, 9)):
        labels = {"kubernetes.io/hostname": f"n{i}"}
        if rng.random() < 0.85:
            labels["topology.kubernetes.io/zone"] = rng.choice(["z1", "z2", "z3"])
        if rng.random() < 0.8:
            labels["region"] = rng.choice(["r1", "r2"])
        taints = [{"key": "t", "value": "v", "effect": "NoSchedule"}] if rng.random() < 0.15 else []
        nodes.append(
            Node(
                name=f"n{i}",
                allocatable={
                    "cpu": rng.choice(["2", "4", "8"]),
                    "memory": "16Gi",
                    "pods": rng.choice([3, 110]),
                },
                labels=labels,
                taints=taints,
            )
        )
    bound = [
        _pod(rng, f"b{j}", rng.choice(nodes).name, features=rng.random() < 0.5)
        for j in range(rng.randint(0, 12))
    ]
    objects = []
    if rng.random() < 0.6:
        objects.append(Service(name="svc", namespace="default", selector={"app": rng.choice("ab")}))
    if rng.random() < 0.5:
        objects.append(ReplicaSet(name="rs", namespace="default", selector={"matchLabels": {"app": "a"}}))
    if rng.random() < 0.5:
        objects.append(Namespace(name="other", labels={"team": "x"}))
    pods = [_pod(rng, f"p{j}") for j in range(rng.randint(1, 12))]
    profile = Profile.default()
    if rng.random() < 0.3:
        profile.percentage_of_nodes_to_score = 100
    if rng.random() < 0.2:
        profile = Profile.from_k8s(
            {
                "profiles": [
                    {
                        "pluginConfig": [
                            {
                                "name": "InterPodAffinity",
                                "args": {
                                    "hardPodAffinityWeight": rng.randint(0, 5),
                                    "ignorePreferredTermsOfExistingPods": rng.random() < 0.5,
                                },
                            },
                            {
                                "name": "PodTopologySpread",
                                "args": {
                                    "defaultingType": "List",
                                    "defaultConstraints": [
                                        {
                                            "maxSkew": 1,
                                            "topologyKey": "zone",
                                            "whenUnsatisfiable": "DoNotSchedule",
                                        }
                                    ],
                                },
                            },
                        ]
                    }
                ]
            }
        )
    return nodes, bound, objects, pods, profile


@pytest.mark.parametrize("seed", range(60))
def test_schedule_matches_reference(seed):
    nodes, bound, objects, pods, profile = _world(seed)
    cluster = Cluster(nodes, pods=bound, objects=objects)
    res = Scheduler(profile, seed=seed).schedule(cluster, pods)
    names, reasons = ReferenceScheduler(profile, seed).schedule(nodes, bound, pods, objects)
    assert res.node_names == names
    assert res.reasons == reasons


@pytest.mark.parametrize("seed", range(60, 100))
def test_explain_matches_reference(seed):
    nodes, bound, objects, pods, profile = _world(seed)
    cluster = Cluster(nodes, pods=bound, objects=objects)
    ex = Scheduler(profile, seed=seed).explain(cluster, pods[0])
    ref = ReferenceScheduler(profile, seed).explain(nodes, bound, pods[0], objects)
    assert ex.filter == ref.filter
    assert ex.scores == ref.scores
    assert ex.total == ref.total and ex.selected == ref.selected
