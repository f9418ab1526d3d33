"""DaemonSet placement rules: which nodes run a daemon pod and what that pod looks like."""
import kpack

DS = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {
    "selector": {"matchLabels": {"app": "agent"}},
    "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {
        "nodeSelector": {"os": "linux"},
        "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["edge"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}]}},
        "containers": [{"name": "a", "image": "agent:1", "resources": {"requests": {"cpu": "3"}}}]}}}}


def cluster():
    linux = {"os": "linux"}
    return kpack.Cluster([
        kpack.Node(name="plain", allocatable={"cpu": "4", "pods": 10}, labels=linux),
        kpack.Node(name="cordoned", allocatable={"cpu": "4", "pods": 10}, labels=linux, unschedulable=True),
        kpack.Node(name="edge", allocatable={"cpu": "4", "pods": 10}, labels={**linux, "tier": "edge"}),
        kpack.Node(name="windows", allocatable={"cpu": "4", "pods": 10}, labels={"os": "windows"}),
        kpack.Node(name="noexec", allocatable={"cpu": "4", "pods": 10}, labels=linux,
                   taints=[{"key": "gpu", "value": "x", "effect": "NoExecute"}]),
        kpack.Node(name="soft", allocatable={"cpu": "4", "pods": 10}, labels=linux,
                   taints=[{"key": "soft", "effect": "PreferNoSchedule"}]),
        kpack.Node(name="small", allocatable={"cpu": "1", "pods": 10}, labels=linux),
    ])


def test_should_run_nodes():
    c = cluster()
    pods = kpack.daemonset_pods(c, kpack.DaemonSet.from_k8s(DS))
    # Resources and spec.unschedulable are not checked by the controller; selector, affinity, taints are.
    assert sorted(pods) == ["cordoned", "plain", "small", "soft"]


def test_daemon_pod_shape():
    pods = kpack.daemonset_pods(cluster(), kpack.DaemonSet.from_k8s(DS))
    p = pods["plain"]
    req = p.affinity.required
    assert len(req) == 1 and not req[0].match_expressions
    f = req[0].match_fields[0]
    assert (f.key, f.operator, f.values) == ("metadata.name", "In", ["plain"])
    assert p.affinity.preferred[0].weight == 5
    assert p.node_selector == {"os": "linux"}
    keys = {(t.key, t.effect) for t in p.tolerations}
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
    assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
    assert ("node.kubernetes.io/network-unavailable", "NoSchedule") not in keys


def test_host_network_adds_network_unavailable_toleration():
    ds = {**DS, "spec": {**DS["spec"], "template": {**DS["spec"]["template"], "spec": {
        **DS["spec"]["template"]["spec"], "hostNetwork": True}}}}
    p = next(iter(kpack.daemonset_pods(cluster(), kpack.DaemonSet.from_k8s(ds)).values()))
    assert (("node.kubernetes.io/network-unavailable", "NoSchedule")
            in {(t.key, t.effect) for t in p.tolerations})


def test_daemon_pods_scheduled_by_kernels_land_on_cordoned_and_report_upstream_reason():
    c = cluster()
    pods = list(kpack.daemonset_pods(c, kpack.DaemonSet.from_k8s(DS)).values())
    res = kpack.Scheduler().schedule(c, pods)
    got = dict(zip([p.name for p in pods], res.node_names))
    assert got["agent-plain"] == "plain" and got["agent-cordoned"] == "cordoned" \
        and got["agent-soft"] == "soft"
    assert got["agent-small"] is None
    i = [p.name for p in pods].index("agent-small")
    assert res.reasons[i] == ("0/7 nodes are available: 1 Insufficient cpu, "
                              "6 node(s) didn't satisfy plugin(s) [NodeAffinity].")
