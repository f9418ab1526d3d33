"""The topology path's bucket index (kpack.topology.tindex) against the node scan (kernel.schedule_topology,
engine="numba") and the oracle (tests/reference.py): placements, reasons, rng and start state."""

import random

import numpy as np
import pytest
from reference import ReferenceScheduler

from kpack import Cluster, Node, Pod, Profile, Scheduler
from kpack.bench import runner
from kpack.bench import topology_scenarios as TS
from kpack.models import ReplicaSet
from kpack.topology import engine as TE
from kpack.topology import tindex as TX
from kpack.topology.objects import Namespace, Service

KEYS = ["topology.kubernetes.io/zone", "kubernetes.io/hostname", "region"]


@pytest.fixture
def force_index(monkeypatch):
    """Route every batch through the index, however small or however many node types."""
    monkeypatch.setattr(TE, "TX_MIN_PODS", 0)
    monkeypatch.setattr(TX, "NODES_PER_TYPE", 0)
    monkeypatch.setattr(TX, "FIND_PER_TYPE", 0)


def sel(rng):
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.15:
        return {}
    if r < 0.8:
        return {"matchLabels": {"app": rng.choice("ab")}}
    return {"matchExpressions": [{"key": "app", "operator": rng.choice(["In", "NotIn"]), "values": ["a"]}]}


def term(rng):
    t = {"labelSelector": sel(rng) or {"matchLabels": {"app": "a"}}, "topologyKey": rng.choice(KEYS)}
    r = rng.random()
    if r < 0.2:
        t["namespaces"] = ["default", "other"]
    elif r < 0.35:
        t["namespaceSelector"] = rng.choice([{}, {"matchLabels": {"team": "x"}}])
    return t


def affinity(rng):
    aff = {}
    for kind in ("podAffinity", "podAntiAffinity"):
        if rng.random() < 0.4:
            spec = {}
            if rng.random() < 0.5:
                spec["requiredDuringSchedulingIgnoredDuringExecution"] = [
                    term(rng) for _ in range(rng.randint(1, 2))
                ]
            if rng.random() < 0.6:
                spec["preferredDuringSchedulingIgnoredDuringExecution"] = [
                    {"weight": rng.randint(1, 100), "podAffinityTerm": term(rng)}
                    for _ in range(rng.randint(1, 2))
                ]
            aff[kind] = spec
    return aff


def make_pod(rng, name, node_name=None, features=True):
    meta = {"name": name, "namespace": rng.choice(["default", "default", "other"]),
            "labels": {"app": rng.choice("abc")}}
    cpu = rng.choice([100, 500, 1000])
    spec = {"containers": [{"name": "c", "resources": {"requests": {"cpu": f"{cpu}m", "memory": "256Mi"}}}]}
    if node_name:
        spec["nodeName"] = node_name
    if rng.random() < 0.3:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                    "controller": True}]
    if features and rng.random() < 0.5:
        used, tsc = set(), []
        for _ in range(rng.randint(1, 2)):
            key, when = rng.choice(KEYS), rng.choice(["DoNotSchedule", "ScheduleAnyway"])
            if (key, when) in used:
                continue
            used.add((key, when))
            c = {"maxSkew": rng.randint(1, 3), "topologyKey": key, "whenUnsatisfiable": when}
            s = sel(rng)
            if s is not None:
                c["labelSelector"] = s
            if when == "DoNotSchedule" and rng.random() < 0.2:
                c["minDomains"] = rng.randint(1, 5)
            if rng.random() < 0.2:
                c["nodeTaintsPolicy"] = "Honor"
            if rng.random() < 0.2:
                c["nodeAffinityPolicy"] = "Ignore"
            tsc.append(c)
        spec["topologySpreadConstraints"] = tsc
    if features and rng.random() < 0.5:
        aff = affinity(rng)
        if aff:
            spec["affinity"] = aff
    if rng.random() < 0.2:
        spec["nodeSelector"] = {"region": rng.choice(["r1", "r2"])}
    if rng.random() < 0.2:
        spec["tolerations"] = [{"operator": "Exists"}]
    return Pod.from_k8s({"metadata": meta, "spec": spec})


def world(seed, n_nodes, n_bound, n_specs, n_pods):
    """Random nodes (zone/region/hostname labels, some tainted), bound pods, objects, and n_pods drawn from
    n_specs specs (replicas share a spec, so node states repeat and buckets hold many nodes)."""
    rng = random.Random(seed)
    nodes = []
    for i in range(n_nodes):
        labels = {"kubernetes.io/hostname": f"n{i}"}
        if rng.random() < 0.9:
            labels["topology.kubernetes.io/zone"] = rng.choice(["z1", "z2", "z3"])
        if rng.random() < 0.8:
            labels["region"] = rng.choice(["r1", "r2"])
        taints = [{"key": "t", "value": "v", "effect": "NoSchedule"}] if rng.random() < 0.1 else []
        nodes.append(Node(name=f"n{i}", labels=labels, taints=taints,
                          allocatable={"cpu": rng.choice(["2", "4"]), "memory": "16Gi",
                                       "pods": rng.choice([5, 110])}))
    bound = [make_pod(rng, f"b{j}", rng.choice(nodes).name, features=rng.random() < 0.5)
             for j in range(n_bound)]
    objects = []
    if rng.random() < 0.6:
        objects.append(Service(name="svc", namespace="default", selector={"app": rng.choice("ab")}))
    if rng.random() < 0.5:
        objects.append(ReplicaSet(name="rs", namespace="default", selector={"matchLabels": {"app": "a"}}))
    if rng.random() < 0.5:
        objects.append(Namespace(name="other", labels={"team": "x"}))
    specs = [make_pod(rng, f"s{j}") for j in range(n_specs)]
    pods = [specs[rng.randrange(n_specs)].model_copy(update={"name": f"p{j}"}) for j in range(n_pods)]
    profile = Profile.default()
    if rng.random() < 0.4:
        profile.percentage_of_nodes_to_score = 100
    if rng.random() < 0.2:
        profile = Profile.from_k8s({"profiles": [{"pluginConfig": [
            {"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": rng.randint(0, 5),
                                                  "ignorePreferredTermsOfExistingPods": rng.random() < 0.5}},
            {"name": "PodTopologySpread", "args": {"defaultingType": "List", "defaultConstraints": [
                {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}}]}]})
    return nodes, bound, objects, pods, profile


def both(seed, nodes, bound, objects, pods, profile):
    """(indexed Scheduler, its result, scan Scheduler, its result) on two copies of the same cluster."""
    out = []
    for engine in ("auto", "numba"):
        cluster = Cluster(nodes, pods=bound, objects=objects)
        s = Scheduler(profile, seed=seed, engine=engine)
        out += [s, s.schedule(cluster, pods)]
    return out


@pytest.mark.parametrize("seed", range(40))
def test_index_matches_scan_on_random_clusters(seed, force_index):
    rng = random.Random(1000 + seed)
    w = world(seed, rng.randint(5, 60), rng.randint(0, 40), rng.randint(1, 4), rng.randint(20, 120))
    si, ri, ss, rs = both(seed, *w)
    if si.last_stats.engine == "topology":
        assert si.last_stats.indexed_pods == len(w[3])
    assert ri.node_names == rs.node_names
    assert ri.reasons == rs.reasons
    assert np.array_equal(si.rng, ss.rng) and np.array_equal(si.start, ss.start)


@pytest.mark.parametrize("seed", range(40, 70))
def test_index_matches_reference(seed, force_index):
    rng = random.Random(seed)
    nodes, bound, objects, pods, profile = world(seed, rng.randint(3, 12), rng.randint(0, 12),
                                                 rng.randint(1, 3), rng.randint(1, 25))
    res = Scheduler(profile, seed=seed).schedule(Cluster(nodes, pods=bound, objects=objects), pods)
    names, reasons = ReferenceScheduler(profile, seed).schedule(nodes, bound, pods, objects)
    assert res.node_names == names
    assert res.reasons == reasons


def test_index_hands_over_to_the_scan_when_the_table_is_full(force_index, monkeypatch):
    """A tiny bucket table: the index stops before the pod that could overflow it and the scan finishes on
    the same counts; the result is unchanged."""
    monkeypatch.setattr(TX, "INITIAL_BUCKETS", 2)
    monkeypatch.setattr(TX.Table, "max_cap", staticmethod(lambda N, R, H: 8))
    for exhaustive in (False, True):
        sc = TS.deployment_default_spreading(60, 200, 3)
        _, ra, sa = runner.run_kpack(sc, exhaustive, "auto")
        _, rn, _ = runner.run_kpack(sc, exhaustive, "numba")
        assert 0 < sa.indexed_pods < 200 and sa.scan_pods == 200 - sa.indexed_pods
        assert np.array_equal(ra.node_index, rn.node_index)


@pytest.mark.parametrize("make", [TS.deployment_default_spreading, TS.pod_anti_affinity,
                                  TS.SCENARIOS["PreferredTopologySpreading/5000Nodes/5000Pods"],
                                  TS.SCENARIOS["SchedulingPreferredPodAffinity/5000Nodes/5000Pods"]])
@pytest.mark.parametrize("exhaustive", [False, True])
def test_benchmark_shapes_are_indexed_and_equal_the_scan(make, exhaustive):
    """auto picks the index on the benchmark shapes (scaled down) and places exactly as the scan."""
    sc = make(600, 300, 900) if make is not TS.deployment_default_spreading else make(600, 1200, 5)
    _, ra, sa = runner.run_kpack(sc, exhaustive, "auto")
    _, rn, _ = runner.run_kpack(sc, exhaustive, "numba")
    assert sa.engine == "topology" and sa.indexed_pods == len(ra.node_index)
    assert np.array_equal(ra.node_index, rn.node_index)
