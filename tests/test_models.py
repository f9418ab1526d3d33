"""Node/Pod models: manifests, PodRequests aggregation, validation errors that name the field."""
import pytest
from pydantic import ValidationError

import kpack
from kpack.resources import DEFAULT_MEMORY_REQUEST


def test_node_from_k8s_allocatable_falls_back_to_capacity():
    n = kpack.Node.from_k8s({"kind": "Node", "metadata": {"name": "n", "labels": {"a": "b"}},
                             "spec": {"unschedulable": True,
                                      "taints": [{"key": "k", "effect": "NoSchedule"}]},
                             "status": {"capacity": {"cpu": "2", "memory": "1Gi", "pods": "10"}}})
    assert n.allocatable == {"cpu": 2000, "memory": 2**30, "pods": 10}
    assert n.unschedulable and n.labels == {"a": "b"} and n.taints[0].value == ""


def test_pod_requests_init_sidecars_overhead():
    spec = {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                           {"name": "b", "resources": {"requests": {"cpu": "500m"}}}],
            "initContainers": [
                {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "200m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "3", "memory": "100Mi"}}}],
            "overhead": {"cpu": "10m"}}
    p = kpack.Pod.from_k8s({"kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
    # containers 1500 + sidecar 200 = 1700 vs init 3000 + sidecars so far 200 = 3200 -> 3200, + overhead 10
    assert p.requests["cpu"] == 3210
    assert p.requests["memory"] == 2**30
    # scoring: container b has no memory key -> 200Mi default; sidecar gets defaults too
    assert p.scoring_cpu == 3210
    assert p.scoring_memory == 2**30 + 2 * DEFAULT_MEMORY_REQUEST


def test_nonzero_defaults_per_missing_key_and_explicit_zero():
    p = kpack.Pod.from_k8s({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "a", "resources": {"requests": {"cpu": "0"}}}]}})
    assert p.requests == {"cpu": 0}
    assert p.scoring_cpu == 0 and p.scoring_memory == DEFAULT_MEMORY_REQUEST
    empty = kpack.Pod.from_k8s({"metadata": {"name": "q"}, "spec": {"containers": []}})
    assert empty.scoring_cpu == 0 and empty.scoring_memory == 0
    no_req = kpack.Pod.from_k8s({"metadata": {"name": "r"}, "spec": {"containers": [{"name": "a"}]}})
    assert no_req.scoring_cpu == 100 and no_req.requests == {}


def test_pod_level_resources_replace_cpu_memory():
    p = kpack.Pod.from_k8s({"metadata": {"name": "p"}, "spec": {
        "resources": {"requests": {"cpu": "2"}},
        "containers": [{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}})
    assert p.requests == {"cpu": 2000, "memory": 2**30}


def test_limits_default_requests():
    p = kpack.Pod.from_k8s({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "a", "resources": {"limits": {"cpu": "1"}}}]}})
    assert p.requests == {"cpu": 1000}


def test_direct_construction_and_defaults():
    p = kpack.Pod(name="p", requests={"cpu": "500m", "memory": "1Gi"}, node_selector={"disktype": "ssd"})
    assert p.requests == {"cpu": 500, "memory": 2**30} and p.scoring_cpu == 500
    q = kpack.Pod(name="q")
    assert q.scoring_cpu == 100 and q.scoring_memory == DEFAULT_MEMORY_REQUEST


@pytest.mark.parametrize("kwargs, field", [
    ({"requests": {"cpu": "-1"}}, "requests[cpu]"),
    ({"requests": {"cpu": "1x"}}, "requests[cpu]"),
    ({"requests": {"pods": 1}}, "requests[pods]"),
    ({"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}, "value must be empty"),
    ({"name": ""}, "metadata.name"),
])
def test_pod_validation_names_field(kwargs, field):
    args = {"name": "p", **kwargs}
    with pytest.raises(ValidationError, match=field.replace("[", r"\[").replace("]", r"\]")):
        kpack.Pod(**args)


def test_taint_effect_validated():
    with pytest.raises(ValidationError, match="effect"):
        kpack.Node(name="n", taints=[{"key": "k", "effect": "Sometimes"}])


def test_toleration_matching():
    t = kpack.Taint(key="k", value="v", effect="NoSchedule")
    assert kpack.Toleration(key="k", operator="Equal", value="v").tolerates(t)
    assert not kpack.Toleration(key="k", value="w").tolerates(t)
    assert kpack.Toleration(operator="Exists").tolerates(t)
    assert not kpack.Toleration(key="k", operator="Exists", effect="NoExecute").tolerates(t)
