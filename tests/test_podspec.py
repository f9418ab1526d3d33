"""Spec tokens cached on Pods (kpack.podspec): shared by equal specs, dropped by every change to a Pod, and
scheduling through them equals scheduling pod by pod."""
import copy
import pickle
import random

import numpy as np
import pytest

import kpack
from kpack.models import POD_SPEC_FIELDS
from kpack.scheduler import MIN_GROUPED_PODS, compare_groups, spec_groups


def replicas(n, prefix="r", **kw):
    kw.setdefault("requests", {"cpu": "500m", "memory": "1Gi"})
    return [kpack.Pod(name=f"{prefix}-{i}", **copy.deepcopy(kw)) for i in range(n)]


def world():
    nodes = [kpack.Node(name=f"n{i}", allocatable={"cpu": str(4 + i % 3), "memory": "16Gi", "pods": 20},
                        labels={"zone": "a" if i % 2 else "b"}) for i in range(12)]
    return kpack.Cluster(nodes)


def one_by_one(pods, seed=3):
    c, s = world(), kpack.Scheduler(seed=seed)
    return [s.schedule(c, [p]) for p in pods], c


def grouped(pods, seed=3):
    c, s = world(), kpack.Scheduler(seed=seed)
    return s.schedule(c, pods), c


def same_result(pods):
    assert len(pods) >= MIN_GROUPED_PODS      # the grouped path
    r, c1 = grouped(pods)
    one, c2 = one_by_one(pods)
    assert r.node_names == [x.node_names[0] for x in one]
    assert r.reasons == [x.reasons[0] for x in one]
    np.testing.assert_array_equal(c1.requested, c2.requested)
    return r


def test_equal_specs_share_a_token_and_names_do_not_matter():
    a, b = replicas(2)
    assert a.spec_token() is not None and a.spec_token() is b.spec_token()
    c = kpack.Pod(name="c", requests={"cpu": "600m", "memory": "1Gi"})
    assert c.spec_token() is not a.spec_token()
    d = kpack.Pod(name="r-0", namespace="other", requests={"cpu": "500m", "memory": "1Gi"})
    assert d.spec_token() is not a.spec_token()       # the namespace is part of the spec


@pytest.mark.parametrize("change", [
    lambda p: p.requests.__setitem__("cpu", 3000),
    lambda p: p.requests.update({"cpu": 3000}),
    lambda p: p.requests.pop("memory"),
    lambda p: setattr(p, "requests", {"cpu": 3000, "memory": 2**30}),
    lambda p: p.node_selector.__setitem__("zone", "a"),
    lambda p: p.node_selector.setdefault("zone", "a"),
    lambda p: p.node_selector.__ior__({"zone": "a"}),
    lambda p: setattr(p, "node_selector", {"zone": "a"}),
    lambda p: setattr(p, "scoring_cpu", 4000),
    lambda p: p.gpu_models.append("A100"),
    lambda p: p.tolerations.append(kpack.models.Toleration(key="k", operator="Exists")),
])
def test_a_change_after_scheduling_drops_the_token(change):
    pods = replicas(24)
    grouped(pods)                                   # tokens used once
    tok = pods[0].spec_token()
    victim = pods[7]
    change(victim)
    assert victim.spec_token() is not tok           # dropped (rebuilt for the new spec, or None)
    assert pods[8].spec_token() is tok
    fresh = [kpack.Pod(name=p.name, **p.model_dump(exclude={"name"})) for p in pods]
    r = same_result(pods)
    assert r.node_names == grouped(fresh)[0].node_names     # as if the Pods were built changed


def test_a_changed_pod_is_placed_by_its_new_spec():
    """Without the drop on in-place change, pod 5 would keep its group's token and be placed as 500m."""
    pods = replicas(20)
    grouped(pods)
    pods[5].requests["cpu"] = 64000                # fits no node
    r = same_result(pods)
    assert r.node_names[5] is None and "Insufficient cpu" in r.reasons[5]
    assert all(n is not None for i, n in enumerate(r.node_names) if i != 5)
    pods[5].requests["cpu"] = 500                  # back to the replicas' spec: the token is shared again
    assert pods[5].spec_token() is pods[4].spec_token()


def test_undo_and_rename_keep_identity_right():
    pods = replicas(18)
    pods[3].name = "renamed"
    assert pods[3].key == "default/renamed"
    r, c = grouped(pods)
    assert c.node_of("default/renamed") == r.node_names[3]
    pods[4].namespace = "other"
    assert pods[4].key == "other/r-4" and pods[4].spec_token() is not pods[5].spec_token()


def test_copies_and_pickles_are_never_given_a_stale_token():
    a, b = replicas(2)
    tok = a.spec_token()
    shallow = a.model_copy()
    assert shallow.spec_token() is None           # shares a's containers: compared field by field
    shallow.requests["cpu"] = 9000                # the shared dict changes: a's token must go
    assert a.spec_token() is not tok and a.requests["cpu"] == 9000
    deep = copy.deepcopy(b)
    assert deep.spec_token() is None and type(deep.requests) is dict
    deep.requests["cpu"] = 1
    assert b.spec_token() is tok
    back = pickle.loads(pickle.dumps(b))
    assert back == b and back.spec_token() is None
    dumped = b.model_dump()["requests"]
    assert type(dumped) is dict and dumped == {"cpu": "500m", "memory": str(2**30)}


def test_untracked_pods_mix_with_tracked_ones():
    tol = [{"key": "k", "operator": "Exists"}]
    pods = replicas(10) + replicas(6, "t", tolerations=tol) + replicas(4, "s") + [
        kpack.Pod(name="aff", requests={"cpu": "500m", "memory": "1Gi"},
                  affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                      "nodeSelectorTerms": [{"matchExpressions": [
                          {"key": "zone", "operator": "In", "values": ["a"]}]}]}}})]
    assert pods[10].spec_token() is None and pods[-1].spec_token() is None
    specs, idx = spec_groups(pods)
    assert idx.tolist() == [0] * 10 + [1] * 6 + [0] * 4 + [2]
    same_result(pods)
    # a node affinity changed in place (not trackable) is seen: the pod is compared every call
    pods[-1].affinity.required[0].match_expressions[0].values[0] = "b"
    r = same_result(pods)
    assert c_zone(r.node_names[-1]) == "b"


def c_zone(node):
    return "a" if int(node[1:]) % 2 else "b"


def test_token_groups_agree_with_field_comparison_on_random_pods():
    rnd = random.Random(7)
    for _ in range(30):
        pods = []
        for i in range(40):
            kw = {"requests": {"cpu": rnd.choice(["100m", "200m"])}}
            if rnd.random() < 0.3:
                kw["labels"] = {"app": rnd.choice(["x", "y"])}
            if rnd.random() < 0.2:
                kw["node_selector"] = {"zone": "a"}
            if rnd.random() < 0.1:
                kw["tolerations"] = [{"key": "k", "operator": "Exists"}]
            pods.append(kpack.Pod(name=f"p{i}", **kw))
        for p in rnd.sample(pods, 5):          # in-place changes after construction
            rnd.choice([lambda: p.labels.update(app="z"), lambda: p.requests.__setitem__("cpu", 300),
                        lambda: setattr(p, "priority", 5), lambda: p.node_selector.clear()])()
        specs, idx = spec_groups(pods)
        fields = [tuple(getattr(p, f) for f in POD_SPEC_FIELDS) for p in pods]
        for i in range(len(pods)):          # same group <=> equal fields (dict order aside: all built alike)
            for j in range(i):
                assert (idx[i] == idx[j]) == (fields[i] == fields[j])
        cspecs, cidx = compare_groups(pods)
        assert len(specs) <= len(cspecs)      # compare_groups looks back at the few most recent specs only


def test_cluster_changes_between_calls():
    pods = replicas(40)
    c, s = world(), kpack.Scheduler(seed=1)
    s.schedule(c, pods[:20])
    c.update_node(kpack.Node(name="n3", allocatable={"cpu": "1", "memory": "16Gi", "pods": 20}))
    c.cordon("n4")
    r = s.schedule(c, pods[20:])
    c2, s2 = world(), kpack.Scheduler(seed=1)
    for p in pods[:20]:
        s2.schedule(c2, [p.model_copy()])
    c2.update_node(kpack.Node(name="n3", allocatable={"cpu": "1", "memory": "16Gi", "pods": 20}))
    c2.cordon("n4")
    r2 = [s2.schedule(c2, [p.model_copy()]) for p in pods[20:]]
    assert r.node_names == [x.node_names[0] for x in r2]
    assert "n4" not in r.node_names


def test_values_a_token_cannot_follow_give_no_token():
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "w"}}, "topologyKey": "zone"}]}}
    assert kpack.Pod(name="a", affinity=anti).spec_token() is None
    p = kpack.Pod(name="p", labels={"app": "w"})
    assert p.spec_token() is not None
    p.labels["app"] = ["w"]                        # a mutable value put in place: compared from now on
    assert p.spec_token() is None
    p.labels = {"app": "w"}                        # a plain dict assigned: not tracked, so no token
    assert p.spec_token() is None
