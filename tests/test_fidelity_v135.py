"""Table tests for the v1.35.4 fidelity items found side by side with the real kube-scheduler: the taint
reason, pod-level requests in Fit scoring, BalancedAllocation weights, re-listed score plugins, the
zone-interleaved node order, NodeAffinityArgs.addedAffinity, and the registry's checks of plugin names and
args."""
import numpy as np
import pytest

import kpack
from kpack.plugins import REGISTRY


def node(name, cpu="4", mem="8Gi", **kw):
    return kpack.Node(name=name, allocatable={"cpu": cpu, "memory": mem, "pods": 110}, **kw)


def cfg(plugins=None, plugin_config=None):
    prof = {}
    if plugins is not None:
        prof["plugins"] = plugins
    if plugin_config is not None:
        prof["pluginConfig"] = plugin_config
    return {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
            "profiles": [prof]}


# --- taint reason (kubernetes#134740) ---------------------------------------------------------------
def test_taint_reason_does_not_print_key_and_value():
    nodes = [node("a", taints=[{"key": "k1", "value": "v1", "effect": "NoSchedule"}]),
             node("b", taints=[{"key": "k2", "value": "v2", "effect": "NoExecute"}])]
    res = kpack.Scheduler().schedule(kpack.Cluster(nodes), [kpack.Pod(name="p")])
    assert res.reasons == ["0/2 nodes are available: 2 node(s) had untolerated taint(s)."]


# --- pod-level requests: the Fit scorer ignores them, its filter and BalancedAllocation use them ----------
def test_pod_level_requests_not_in_fit_score():
    pod = kpack.Pod.from_k8s({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}},
        "containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}]}})
    assert pod.requests["cpu"] == 2000                    # filter: pod-level wins
    assert (pod.scoring_cpu, pod.scoring_memory) == (500, 200 * 2**20)   # Fit score: containers, non-zero
    ex = kpack.Scheduler().explain(kpack.Cluster([node("n", cpu="4", mem="8Gi")]), pod)
    # LeastAllocated on (500m of 4, 200Mi of 8Gi): (87 + 97) // 2 = 92
    assert ex.scores["NodeResourcesFit"] == {"n": ((4000 - 500) * 100 // 4000
                                                   + (8 * 2**30 - 200 * 2**20) * 100 // (8 * 2**30)) // 2}
    # BalancedAllocation: real requests 2/4 and 4Gi/8Gi -> balanced, 100
    assert ex.scores["NodeResourcesBalancedAllocation"] == {"n": 100}


# --- plugin config ---------------------------------------------------------------------------------
TOPO = {"PodTopologySpread": 2, "InterPodAffinity": 2}   # modelled default score plugins (weight 2)


@pytest.mark.parametrize("plugins, weights", [
    ({"multiPoint": {"enabled": [{"name": "TaintToleration"}]}},
     {"TaintToleration": 1, "NodeAffinity": 2, "NodeResourcesFit": 1,
      "NodeResourcesBalancedAllocation": 1, **TOPO}),
    ({"multiPoint": {"enabled": [{"name": "TaintToleration", "weight": 7}]}},
     {"TaintToleration": 7, "NodeAffinity": 2, "NodeResourcesFit": 1,
      "NodeResourcesBalancedAllocation": 1, **TOPO}),
    ({"score": {"enabled": [{"name": "NodeAffinity", "weight": 5}]}},
     {"TaintToleration": 3, "NodeAffinity": 5, "NodeResourcesFit": 1,
      "NodeResourcesBalancedAllocation": 1, **TOPO}),
    ({"score": {"enabled": [{"name": "NodeAffinity"}]}},
     {"TaintToleration": 3, "NodeAffinity": 1, "NodeResourcesFit": 1,
      "NodeResourcesBalancedAllocation": 1, **TOPO}),
    ({"score": {"disabled": [{"name": "*"}], "enabled": [{"name": "NodeResourcesFit", "weight": 2}]}},
     {"NodeResourcesFit": 2}),
    ({"multiPoint": {"disabled": [{"name": "NodeAffinity"}]}},
     {"TaintToleration": 3, "NodeResourcesFit": 1,
      "NodeResourcesBalancedAllocation": 1, **TOPO}),
])
def test_score_weights_follow_upstream_merge(plugins, weights):
    assert kpack.Profile.from_k8s(cfg(plugins)).score_weights == weights


def test_filter_disabled_by_point_and_multipoint():
    p = kpack.Profile.from_k8s(cfg({"filter": {"disabled": [{"name": "TaintToleration"}]}}))
    assert "TaintToleration" not in p.filters and p.score_weights["TaintToleration"] == 3
    p = kpack.Profile.from_k8s(cfg({"multiPoint": {"disabled": [{"name": "NodeResourcesFit"}]}}))
    assert "NodeResourcesFit" not in p.filters and "NodeResourcesFit" not in p.score_weights


@pytest.mark.parametrize("config, match", [
    (cfg(plugin_config=[{"name": "NodeResourcesBalancedAllocation",
                         "args": {"resources": [{"name": "cpu", "weight": 2}]}}]),
     r"pluginConfig\[0\].args.resources\[0\].weight: Invalid value: 2: must be 1"),
    (cfg(plugin_config=[{"name": "NodeResourcesFit", "args": {"scoringStrategyy": {}}}]),
     r"pluginConfig\[0\].args.scoringStrategyy: unknown field"),
    (cfg(plugin_config=[{"name": "NodeResourcesFit", "args": {}}, {"name": "NodeResourcesFit", "args": {}}]),
     r"pluginConfig\[1\].name: Duplicate value"),
    (cfg(plugin_config=[{"name": "NodeResourcesFit", "args": {"ignoredResources": "example.com/foo"}}]),
     r"ignoredResources: must be a list of strings"),
    (cfg(plugin_config=[{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"resources": []}}}]),
     r"scoringStrategy.type: Unsupported value"),
    (cfg({"score": {"enabled": [{"name": "Bogus"}]}}), r"score.enabled\[0\].name: Invalid value: 'Bogus'"),
    (cfg({"scoree": {}}), r"plugins.scoree: unknown"),
    (cfg("hello"), r"plugins: must be a mapping"),
    (cfg({"multiPoint": {"enabled": [{"name": "ImageLocality"}, {"name": "ImageLocality"}]}}),
     r"already registered"),
    (cfg(plugin_config=[{"name": "NodeAffinity", "args": {"addedAffinity": {"bogus": 1}}}]),
     r"addedAffinity.bogus: unknown field"),
    (cfg(plugin_config=[{"name": "InterPodAffinity", "args": {"hardPodAffinityWeightt": 1}}]),
     r"hardPodAffinityWeightt: unknown field"),
])
def test_bad_plugin_config(config, match):
    with pytest.raises(kpack.ProfileError, match=match):
        kpack.Profile.from_k8s(config)


def test_args_of_disabled_plugin_accepted_and_zero_weight_is_one():
    p = kpack.Profile.from_k8s(cfg({"multiPoint": {
                                       "disabled": [{"name": "NodeResourcesBalancedAllocation"}]}},
                                   [{"name": "NodeResourcesBalancedAllocation",
                                     "args": {"resources": [{"name": "cpu"}]}},
                                    {"name": "NodeResourcesFit", "args": {"scoringStrategy": {
                                        "type": "MostAllocated",
                                        "resources": [{"name": "cpu", "weight": 0}]}}}]))
    assert "NodeResourcesBalancedAllocation" not in p.score_weights
    assert p.balanced_resources == [("cpu", 1)] and p.fit_resources == [("cpu", 1)]


def test_registry_entries():
    assert REGISTRY["TaintToleration"].default_weight == 3 and REGISTRY["TaintToleration"].filter
    assert REGISTRY["NodeResourcesBalancedAllocation"].score
    assert not REGISTRY["NodeResourcesBalancedAllocation"].filter
    assert "FGDScore" in REGISTRY and REGISTRY["FGDScore"].engines == ("numba",)


# --- addedAffinity ----------------------------------------------------------------------------------
def test_added_affinity_filters_with_its_own_reason_and_scores():
    prof = kpack.Profile.from_k8s(cfg(plugin_config=[{"name": "NodeAffinity", "args": {"addedAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["x", "y"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 4, "preference": {"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["y"]}]}}]}}}]))
    nodes = [node("a", labels={"pool": "x"}), node("b", labels={"pool": "y"}),
             node("c", labels={"pool": "z"})]
    ex = kpack.Scheduler(prof).explain(kpack.Cluster(nodes), kpack.Pod(name="p"))
    assert ex.filter == {"a": None, "b": None, "c": "node(s) didn't match scheduler-enforced node affinity"}
    assert ex.scores["NodeAffinity"] == {"a": 0, "b": 100}
    res = kpack.Scheduler(prof).schedule(kpack.Cluster(nodes),
                                         [kpack.Pod(name="p", node_selector={"pool": "y"})])
    assert res.node_names == ["b"]


def test_added_affinity_counts_first():
    prof = kpack.Profile.from_k8s(cfg(plugin_config=[{"name": "NodeAffinity", "args": {"addedAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["x"]}]}]}}}}]))
    nodes = [node("a", labels={"pool": "x"}), node("b", labels={"pool": "y"})]
    pod = kpack.Pod(name="p", node_selector={"pool": "z"})
    res = kpack.Scheduler(prof).schedule(kpack.Cluster(nodes), [pod])
    assert res.reasons == ["0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
                           "1 node(s) didn't match scheduler-enforced node affinity."]


# --- node order: zones round robin (node_tree.go) ------------------------------------------------------
ZONE = "topology.kubernetes.io/zone"


def test_visit_order_interleaves_zones():
    names = ["a1", "a2", "a3", "b1", "c1", "c2"]
    c = kpack.Cluster([node(n, labels={ZONE: n[0]}) for n in names])
    assert [c.node_names[i] for i in c.visit_order()] == ["a1", "b1", "c1", "a2", "c2", "a3"]
    c.update_node(node("a1", labels={ZONE: "c"}))             # zone change: end of its new zone
    assert [c.node_names[i] for i in c.visit_order()] == ["a2", "b1", "c1", "a3", "c2", "a1"]
    c.remove_node("b1")                                        # zone b dropped
    assert [c.node_names[i] for i in c.visit_order()] == ["a2", "c1", "a3", "c2", "a1"]
    c.add_node(node("b2", labels={ZONE: "b"}))                 # a new zone goes last
    assert [c.node_names[i] for i in c.visit_order()] == ["a2", "c1", "b2", "a3", "c2", "a1"]
    assert kpack.Cluster([node("x"), node("y")]).visit_order() is None


def test_beta_zone_label_wins_even_when_empty():
    c = kpack.Cluster([node("n1", labels={"failure-domain.beta.kubernetes.io/zone": "", ZONE: "z1"}),
                       node("n2", labels={ZONE: "z1"})])
    assert c.zone_keys() == ["", ":\x00:z1"]


def test_sampling_walks_zones_round_robin():
    # 300 nodes in 3 zones, listed zone by zone; 5 % sampling finds 100 nodes: upstream visits them
    # round robin over the zones, so the first cycle sees about a third of each zone.
    nodes = [node(f"{z}{i}", labels={ZONE: z}) for z in "abc" for i in range(100)]
    c = kpack.Cluster(nodes)
    prof = kpack.Profile.from_k8s({"percentageOfNodesToScore": 5})
    s = kpack.Scheduler(prof, seed=3)
    res = s.schedule(c, [kpack.Pod(name="p", requests={"cpu": "1"})])
    # every node ties on score; the winner is one of the 100 visited, i.e. index < 34 in its zone
    assert int(res.node_names[0][1:]) < 34
    assert int(s.start[0]) == 100
    for eng in ("numba", "native", "indexed"):
        d = kpack.Cluster(nodes)
        e = kpack.Scheduler(prof, seed=3, engine=eng)
        assert e.schedule(d, [kpack.Pod(name="p", requests={"cpu": "1"})]).node_names == res.node_names
    assert np.array_equal(c.requested.sum(axis=0)[:1], [1000])
