"""PodTopologySpread and InterPodAffinity: the worked examples of K8S_SEMANTICS.md sections 12 and 13, bad
input, and batch == one call per pod."""

import pytest

from kpack import Cluster, Node, Pod, Profile, Scheduler
from kpack.scheduler import SchedulingError
from kpack.topology.objects import Namespace, Service

SEL_FOO = {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}


def node(name, taints=(), **labels):
    return Node(
        name=name,
        allocatable={"cpu": "100", "memory": "100Gi", "pods": 110},
        labels=labels,
        taints=list(taints),
    )


def pod(name, node_name=None, labels=None, ns="default", tsc=None, affinity=None, **spec):
    spec = dict(spec, containers=[{"name": "c"}])
    if node_name:
        spec["nodeName"] = node_name
    if tsc:
        spec["topologySpreadConstraints"] = tsc
    if affinity:
        spec["affinity"] = affinity
    return Pod.from_k8s(
        {
            "metadata": {"name": name, "namespace": ns, "labels": {"foo": ""} if labels is None else labels},
            "spec": spec,
        }
    )


def spread(key, skew=1, when="DoNotSchedule", sel=SEL_FOO, **kw):
    return dict(maxSkew=skew, topologyKey=key, whenUnsatisfiable=when, labelSelector=sel, **kw)


def placed(counts, labels=None):
    return [pod(f"{n}-{i}", n, labels) for n, c in counts.items() for i in range(c)]


FOUR = [
    node("node-a", node="node-a", zone="zone1"),
    node("node-b", node="node-b", zone="zone1"),
    node("node-x", node="node-x", zone="zone2"),
    node("node-y", node="node-y", zone="zone2"),
]
R_SPREAD = "node(s) didn't match pod topology spread constraints"


# --- 12.4 Filter -------------------------------------------------------------------------------------
@pytest.mark.parametrize("skew, fits", [(1, {"node-x"}), (2, {"node-b", "node-x"})])
def test_single_constraint_2_1_0_3(skew, fits):
    c = Cluster(FOUR, pods=placed({"node-a": 2, "node-b": 1, "node-y": 3}))
    ex = Scheduler().explain(c, pod("p", tsc=[spread("node", skew)]))
    assert {n for n, r in ex.filter.items() if r is None} == fits
    assert all(r == R_SPREAD for n, r in ex.filter.items() if n not in fits)


def test_min_domains_forces_global_min_zero():
    nodes = [node("node-a", node="node-a"), node("node-b", node="node-b"), node("node-c", node="node-c")]
    c = Cluster(nodes, pods=placed({"node-a": 2, "node-b": 2, "node-c": 1}))
    ex = Scheduler().explain(c, pod("p", tsc=[spread("node", 2, minDomains=4)]))
    assert ex.filter == {"node-a": R_SPREAD, "node-b": R_SPREAD, "node-c": None}
    ex = Scheduler().explain(c, pod("p", tsc=[spread("node", 2)]))  # minDomains 1: globalMin 1
    assert all(r is None for r in ex.filter.values())


def test_fit_error_counts_missing_label_separately():
    nodes = [
        node("node-a", zone="zone1"),
        node("node-b"),
        node("node-x", zone="zone2"),
        node("node-y", zone="zone2"),
    ]
    c = Cluster(nodes, pods=placed({"node-a": 1, "node-x": 1}))
    res = Scheduler().schedule(c, [pod("p", tsc=[spread("zone", 1, minDomains=3)])])
    assert res.reasons[0] == (
        "0/4 nodes are available: 1 node(s) didn't match pod topology spread constraints "
        "(missing required label), 3 node(s) didn't match pod topology spread constraints."
    )


def test_duplicate_key_and_action_is_rejected_like_the_api_server():
    with pytest.raises(ValueError, match="Duplicate value"):
        pod("p", tsc=[spread("zone", 1), spread("zone", 2)])


def test_absent_and_empty_selector_quirks():
    c = Cluster(FOUR, pods=placed({"node-a": 5}))
    ex = Scheduler().explain(c, pod("p", tsc=[spread("node", 1, sel=None)]))
    assert all(r is None for r in ex.filter.values())  # nil selector counts nothing, no self-match
    ex = Scheduler().explain(c, pod("p", tsc=[spread("node", 1, sel={})]))
    assert all(r is None for r in ex.filter.values())  # {} counts nothing (v1.35), self-match 1: skew 1


def test_other_namespaces_and_terminating_pods_do_not_count():
    other = [pod(f"o{i}", "node-a", ns="other") for i in range(3)]
    term = Pod.from_k8s(
        {
            "metadata": {"name": "t", "labels": {"foo": ""}, "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "node-b", "containers": [{"name": "c"}]},
        }
    )
    c = Cluster(FOUR, pods=other + [term])
    ex = Scheduler().explain(c, pod("p", tsc=[spread("node", 1)]))
    assert all(r is None for r in ex.filter.values())


def test_node_affinity_policy_honor_excludes_pods_on_unmatched_nodes():
    c = Cluster(FOUR, pods=placed({"node-y": 3}))
    sel = {"nodeSelector": {"zone": "zone2"}}
    ex = Scheduler().explain(c, pod("p", tsc=[spread("node", 1)], **sel))
    assert ex.filter["node-x"] is None and ex.filter["node-y"] == R_SPREAD
    ex = Scheduler().explain(c, pod("p", tsc=[spread("zone", 1)], **sel))  # zone1 not counted: only zone2
    assert ex.filter["node-y"] is None


# --- 12.5 Score --------------------------------------------------------------------------------------
@pytest.mark.parametrize("skew, want", [(1, [20, 60, 100, 0]), (2, [33, 66, 100, 16])])
def test_score_hostname_2_1_0_3(skew, want):
    c = Cluster(FOUR, pods=placed({"node-a": 2, "node-b": 1, "node-y": 3}))
    ex = Scheduler().explain(c, pod("p", tsc=[spread("node", skew, "ScheduleAnyway")]))
    assert [ex.scores["PodTopologySpread"][n] for n in ("node-a", "node-b", "node-x", "node-y")] == want


def test_score_two_constraints_two_candidates():
    taint = [{"key": "k", "value": "v", "effect": "NoSchedule"}]
    nodes = [
        node("node-a", node="node-a", zone="zone1"),
        node("node-b", taint, node="node-b", zone="zone1"),
        node("node-x", node="node-x", zone="zone2"),
        node("node-y", taint, node="node-y", zone="zone2"),
    ]
    c = Cluster(nodes, pods=placed({"node-a": 2, "node-b": 1, "node-x": 2, "node-y": 4}))
    ex = Scheduler().explain(
        c, pod("p", tsc=[spread("zone", 1, "ScheduleAnyway"), spread("node", 1, "ScheduleAnyway")])
    )
    assert ex.scores["PodTopologySpread"] == {"node-a": 100, "node-x": 63}


def test_system_defaults_with_service_and_no_zone_labels():
    nodes = [
        Node(
            name=n,
            allocatable={"cpu": "100", "memory": "100Gi", "pods": 110},
            labels={"kubernetes.io/hostname": n},
        )
        for n in ("node-a", "node-b", "node-c", "node-d")
    ]
    c = Cluster(
        nodes,
        pods=placed({"node-a": 4, "node-b": 3, "node-c": 2, "node-d": 1}),
        objects=[Service(name="svc", selector={"foo": ""})],
    )
    ex = Scheduler().explain(c, pod("p"))
    assert ex.scores["PodTopologySpread"] == {"node-a": 44, "node-b": 66, "node-c": 77, "node-d": 100}
    bare = Cluster(nodes, pods=placed({"node-a": 4}))  # no selecting object: no spreading at all
    assert "PodTopologySpread" not in Scheduler().explain(bare, pod("p")).scores


# --- 13 InterPodAffinity -----------------------------------------------------------------------------
REGION3 = [
    node("machine1", region="China"),
    node("machine2", region="China"),
    node("machine3", region="India"),
]


def aff_term(key, sel, **kw):
    return dict(labelSelector=sel, topologyKey=key, **kw)


def test_required_affinity_multiple_nodes():
    c = Cluster(REGION3, pods=[pod("e", "machine1", {"foo": "bar"})])
    aff = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                aff_term("region", {"matchLabels": {"foo": "bar"}})
            ]
        }
    }
    ex = Scheduler().explain(c, pod("p", labels={}, affinity=aff))
    assert ex.filter == {
        "machine1": None,
        "machine2": None,
        "machine3": "node(s) didn't match pod affinity rules",
    }


def test_first_pod_of_self_affine_group_needs_the_key():
    nodes = REGION3 + [node("nolabel")]
    c = Cluster(nodes)
    aff = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                aff_term("region", {"matchLabels": {"app": "x"}})
            ]
        }
    }
    ex = Scheduler().explain(c, pod("p", labels={"app": "x"}, affinity=aff))
    assert ex.filter["nolabel"] == "node(s) didn't match pod affinity rules"
    assert all(ex.filter[n] is None for n in ("machine1", "machine2", "machine3"))
    ex = Scheduler().explain(c, pod("p", labels={"app": "y"}, affinity=aff))  # does not match itself
    assert all(r == "node(s) didn't match pod affinity rules" for r in ex.filter.values())


def test_anti_affinity_and_existing_pods_anti_affinity():
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                aff_term("region", {"matchLabels": {"app": "x"}})
            ]
        }
    }
    c = Cluster(REGION3, pods=[pod("e", "machine1", {"app": "x"})])
    ex = Scheduler().explain(c, pod("p", labels={}, affinity=anti))
    assert ex.filter == {
        "machine1": "node(s) didn't match pod anti-affinity rules",
        "machine2": "node(s) didn't match pod anti-affinity rules",
        "machine3": None,
    }
    # symmetric: the existing pod's anti-affinity blocks a pod without any affinity
    c = Cluster(REGION3, pods=[pod("e", "machine1", {"app": "y"}, affinity=anti)])
    ex = Scheduler().explain(c, pod("p", labels={"app": "x"}))
    assert ex.filter["machine2"] == "node(s) didn't satisfy existing pods anti-affinity rules"
    assert ex.filter["machine3"] is None
    # a key no node carries never blocks
    anti_zone = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                aff_term("zone", {"matchLabels": {"app": "x"}})
            ]
        }
    }
    c = Cluster(REGION3, pods=[pod("e", "machine1", {"app": "x"})])
    assert all(
        r is None for r in Scheduler().explain(c, pod("p", labels={}, affinity=anti_zone)).filter.values()
    )


def pref(kind, *terms):
    return {
        kind: {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": w, "podAffinityTerm": aff_term(k, s)} for w, k, s in terms
            ]
        }
    }


def test_preferred_affinity_score_range_normalisation():
    nodes = [node("m1", region="China"), node("m2", region="India"), node("m3")]
    c = Cluster(nodes, pods=[pod("s1", "m1", {"security": "S1"}), pod("s2", "m2", {"security": "S2"})])
    aff = pref(
        "podAffinity",
        (
            8,
            "region",
            {
                "matchExpressions": [
                    {"key": "security", "operator": "NotIn", "values": ["S1"]},
                    {"key": "security", "operator": "In", "values": ["S2"]},
                ]
            },
        ),
        (2, "region", {"matchExpressions": [{"key": "security", "operator": "Exists"}]}),
    )
    ex = Scheduler().explain(c, pod("p", labels={}, affinity=aff))
    assert ex.scores["InterPodAffinity"] == {"m1": 20, "m2": 100, "m3": 0}
    six = [pod(f"c{i}", "m1", {"security": "S2"}) for i in range(4)] + [
        pod(f"i{i}", "m2", {"security": "S2"}) for i in range(2)
    ]
    c = Cluster(nodes[:2], pods=six)
    ex = Scheduler().explain(
        c,
        pod("p", labels={}, affinity=pref("podAffinity", (6, "region", {"matchLabels": {"security": "S2"}}))),
    )
    assert ex.scores["InterPodAffinity"] == {"m1": 100, "m2": 0}


def test_equal_raw_scores_give_zero():
    nodes = [node("m1", region="China"), node("m2", region="China")]
    c = Cluster(nodes, pods=[pod("e", "m1", {"security": "S1"})])
    ex = Scheduler().explain(
        c,
        pod("p", labels={}, affinity=pref("podAffinity", (8, "region", {"matchLabels": {"security": "S1"}}))),
    )
    assert ex.scores["InterPodAffinity"] == {"m1": 0, "m2": 0}


def test_hard_pod_affinity_weight_of_existing_pods():
    nodes = [node("m1", region="China"), node("m2", region="India")]
    req = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                aff_term("region", {"matchLabels": {"app": "x"}})
            ]
        }
    }
    c = Cluster(nodes, pods=[pod("e", "m1", {"app": "y"}, affinity=req)])
    ex = Scheduler().explain(c, pod("p", labels={"app": "x"}))
    assert ex.scores["InterPodAffinity"] == {"m1": 100, "m2": 0}
    prof = Profile.from_k8s(
        {"profiles": [{"pluginConfig": [{"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 0}}]}]}
    )
    assert "InterPodAffinity" not in Scheduler(prof).explain(c, pod("p", labels={"app": "x"})).scores


def test_namespace_defaults_and_selector():
    nodes = [node("m1", region="China"), node("m2", region="India")]
    c = Cluster(
        nodes,
        pods=[pod("e", "m1", {"app": "x"}, ns="team-a")],
        objects=[Namespace(name="team-a", labels={"team": "a"})],
    )
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                aff_term("region", {"matchLabels": {"app": "x"}})
            ]
        }
    }
    # no namespaces, no selector: the owner's namespace only (default), so team-a's pod does not count
    assert Scheduler().explain(c, pod("p", labels={}, affinity=anti)).filter["m1"] is None
    anti_ns = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                aff_term(
                    "region", {"matchLabels": {"app": "x"}}, namespaceSelector={"matchLabels": {"team": "a"}}
                )
            ]
        }
    }
    assert Scheduler().explain(c, pod("p", labels={}, affinity=anti_ns)).filter["m1"] is not None


# --- bad input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tsc, match",
    [
        (spread("zone", 0), "maxSkew"),
        (spread("zone", 1, "Sometimes"), "whenUnsatisfiable"),
        (spread("", 1), "topologyKey"),
        (
            spread("zone", 1, sel={"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
            "operator",
        ),
        (spread("zone", 1, sel={"matchLabels": {"foo": "x"}}, matchLabelKeys=["foo"]), "matchLabelKeys"),
        (spread("zone", 1, "ScheduleAnyway", minDomains=2), "minDomains"),
    ],
)
def test_bad_constraints_are_named_errors(tsc, match):
    with pytest.raises(ValueError, match=match) as e:
        pod("p", tsc=[tsc])
    assert "spec.topologySpreadConstraints[0]" in str(e.value)


def test_bad_affinity_term_and_args():
    with pytest.raises(ValueError, match="topologyKey"):
        pod(
            "p",
            affinity={
                "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}
            },
        )
    with pytest.raises(ValueError, match="hardPodAffinityWeight"):
        Profile.from_k8s(
            {
                "profiles": [
                    {"pluginConfig": [{"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 101}}]}
                ]
            }
        )
    with pytest.raises(ValueError, match="defaultingType"):
        Profile.from_k8s(
            {
                "profiles": [
                    {
                        "pluginConfig": [
                            {
                                "name": "PodTopologySpread",
                                "args": {
                                    "defaultingType": "System",
                                    "defaultConstraints": [spread("zone", 1, sel=None)],
                                },
                            }
                        ]
                    }
                ]
            }
        )


def test_match_label_keys_merge_is_idempotent():
    p = pod("p", labels={"foo": "", "rev": "1"}, tsc=[spread("zone", 1, matchLabelKeys=["rev"])])
    sel = p.topology_spread_constraints[0].label_selector
    assert any(e.key == "rev" and e.values == ["1"] for e in sel.match_expressions)
    assert Pod.model_validate_json(p.model_dump_json()) == p


# --- batch == one call per pod; engines -----------------------------------------------------------------
def test_batch_equals_single_calls():
    nodes = [
        Node(
            name=f"n{i}",
            allocatable={"cpu": "8", "memory": "32Gi", "pods": 110},
            labels={"kubernetes.io/hostname": f"n{i}", "topology.kubernetes.io/zone": f"z{i % 3}"},
        )
        for i in range(12)
    ]
    objs = [Service(name="web", selector={"app": "web"})]
    anti = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 5,
                    "podAffinityTerm": aff_term("kubernetes.io/hostname", {"matchLabels": {"app": "db"}}),
                }
            ]
        }
    }
    pods = (
        [pod(f"w{i}", labels={"app": "web"}) for i in range(30)]
        + [pod(f"d{i}", labels={"app": "db"}, affinity=anti) for i in range(10)]
        + [
            pod(
                f"s{i}",
                labels={"app": "s"},
                tsc=[spread("topology.kubernetes.io/zone", 1, sel={"matchLabels": {"app": "s"}})],
            )
            for i in range(9)
        ]
    )
    a = Cluster(nodes, objects=objs)
    b = Cluster(nodes, objects=objs)
    sa, sb = Scheduler(seed=3), Scheduler(seed=3)
    batch = sa.schedule(a, pods).node_names
    single = [sb.schedule(b, [p]).node_names[0] for p in pods]
    assert batch == single
    assert sa.last_stats.engine == "topology"
    zones = [int(n[1:]) % 3 for n, p in zip(batch, pods) if p.name.startswith("s")]
    assert sorted(zones.count(z) for z in range(3)) == [3, 3, 3]


def test_engine_without_plugins_refuses():
    c = Cluster(FOUR)
    with pytest.raises(SchedulingError, match="PodTopologySpread"):
        Scheduler(engine="indexed").schedule(c, [pod("p", tsc=[spread("zone", 1)])])
    assert c.n_bound == 0


def test_demo_web_replicas_spread_and_explain_rows(capsys):
    import json
    from pathlib import Path

    from kpack.cli import main
    demo = str(Path(__file__).resolve().parents[1] / "datasets" / "demo")
    assert main(["schedule", "-f", demo, "--json"]) == 0
    rows = {r["pod"]: r["node"] for r in json.loads(capsys.readouterr().out)["placements"]}
    web = [rows[f"default/web-{i}"] for i in range(4)]
    assert {n[:6] for n in web} == {"node-a", "node-b"}      # both zones
    assert main(["explain", "-f", demo, "--pod", "web-1", "--json"]) == 0
    ex = json.loads(capsys.readouterr().out)
    assert ex["filter"]["node-a1"] == "node(s) didn't match pod topology spread constraints"


def test_deployment_replicas_get_a_replicaset_owner():
    from kpack.models import Deployment
    from kpack.topology.workloads import deployment_replicaset, owned_pods
    d = Deployment.from_k8s({"metadata": {"name": "web"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}}})
    rs = deployment_replicaset(d)
    pods = owned_pods(rs, ["web-0", "web-1"])
    assert rs.name.startswith("web-") and rs.selector["matchLabels"]["app"] == "web"
    ref = pods[0].owner_references[0]
    assert (ref.kind, ref.name, ref.controller, ref.api_version) == ("ReplicaSet", rs.name, True, "apps/v1")
    assert pods[0].labels["pod-template-hash"] == rs.selector["matchLabels"]["pod-template-hash"]
    nodes = [Node(name=f"n{i}", allocatable={"cpu": "8", "memory": "8Gi", "pods": 110},
                  labels={"kubernetes.io/hostname": f"n{i}"}) for i in range(3)]
    c = Cluster(nodes, objects=[rs])
    ex = Scheduler().explain(c, pods[0])
    assert "PodTopologySpread" in ex.scores          # system defaults apply through the ReplicaSet


def test_grouped_replicas_anti_affinity_binds_later_calls():
    """Replicas scheduled as one group of equal specs (spec_groups) still count as bound pods with
    anti-affinity terms for later calls: none of the 20 hosts may take another app=x pod."""
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        aff_term("kubernetes.io/hostname", {"matchLabels": {"app": "x"}})]}}
    nodes = [node(f"n{i}", **{"kubernetes.io/hostname": f"n{i}"}) for i in range(20)]
    c, s = Cluster(nodes), Scheduler()
    first = s.schedule(c, [pod(f"r-{i}", labels={"app": "x"}, affinity=anti) for i in range(20)])
    assert first.scheduled == 20
    later = s.schedule(c, [pod(f"plain-{i}", labels={"app": "x"}) for i in range(20)])
    assert later.scheduled == 0
    assert "didn't satisfy existing pods anti-affinity rules" in later.reasons[0]
