"""Table tests pinning the worked examples of docs/semantics.md through kpack's public
API (Scheduler.explain / schedule on hand-built nodes, Pod.from_k8s), plus regression tests for the
departures the reference oracle found (each cites the section)."""
from __future__ import annotations

import pytest

import kpack
from kpack.kernels import num_feasible_nodes_to_find

MI = 1 << 20
GI = 1 << 30


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def node(name, cpu="4000", memory="10000", pods=110, labels=None, taints=None, unschedulable=False, **extra):
    alloc = {"cpu": cpu, "memory": memory, "pods": pods, **extra}
    return kpack.Node(name=name, allocatable=alloc, labels=labels or {}, taints=taints or [],
                      unschedulable=unschedulable)


def pod(name="p", **kw):
    return kpack.Pod(name=name, **kw)


def explain(nodes, p, profile=None, bound=(), seed=0):
    return kpack.Scheduler(profile or kpack.Profile.default(),
                           seed=seed).explain(kpack.Cluster(nodes, pods=list(bound)), p)


def schedule(nodes, pods, profile=None, bound=(), seed=0):
    return kpack.Scheduler(profile or kpack.Profile.default(), seed=seed).schedule(
        kpack.Cluster(nodes, pods=list(bound)), pods)


def profile(**kw):
    p = kpack.Profile.default()
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def rtcr(shape):
    return profile(scoring_strategy="RequestedToCapacityRatio", shape=shape)


# "4000" cpu means 4000 cores (4,000,000 m); the pod asks "3000" cores. Memory in bytes. Explicit cpu and
# memory on the pod, so no non-zero defaults apply (section 0 / 3.3).
EX_NODE = dict(cpu="4000", memory="10000")
EX_POD = dict(requests={"cpu": "3000", "memory": "5000"})


# --------------------------------------------------------------------------------------------------
# section 3: NodeResourcesFit scoring strategies
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("prof, expected", [
    (profile(), 37),                                            # 3.3 LeastAllocated: (25 + 50) / 2
    (profile(scoring_strategy="MostAllocated"), 62),            # 3.3 MostAllocated: (75 + 50) / 2
    (rtcr([(0, 10), (100, 0)]), 38),                            # 3.4 RTCR rounds 37.5 half away from zero
], ids=["least", "most", "rtcr"])
def test_fit_strategy_example(prof, expected):
    ex = explain([node("n1", **EX_NODE)], pod(**EX_POD), prof)
    assert ex.scores["NodeResourcesFit"] == {"n1": expected}


def test_cpu_quantity_units_scale_both_sides():
    """"4000" cores vs "4000m": the ratios (and therefore the scores) are the same (section 0)."""
    a = explain([node("n1", cpu="4000", memory="10000")], pod(requests={"cpu": "3000", "memory": "5000"}))
    b = explain([node("n1", cpu="4000m", memory="10000")], pod(requests={"cpu": "3000m", "memory": "5000"}))
    assert a.scores == b.scores and a.scores["NodeResourcesFit"]["n1"] == 37


def test_rtcr_case1_drops_zero_scored_resource():
    """3.4: cpu 2000+3000 > 4000 -> util 100 -> f = 0, dropped from the average; memory util 90 -> 10."""
    bound = [pod("old", requests={"cpu": "2000", "memory": "4000"}, node_name="n1")]
    prof = rtcr([(0, 10), (100, 0)])
    prof.filters = [f for f in prof.filters if f != "NodeResourcesFit"]   # score an over-committed node
    ex = explain([node("n1", **EX_NODE)], pod(**EX_POD), prof, bound=bound)
    assert ex.scores["NodeResourcesFit"]["n1"] == 10


def test_rtcr_descending_shape_truncates_toward_zero():
    """3.4 / 11.4: (s_i - s_{i-1}) * (p - u_{i-1}) is negative on a descending shape; Go truncates toward
    zero. Shape {0:10, 30:7} (scaled 100, 70), util 25: 100 + (-30 * 25) / 30 = 100 - 25 = 75;
    util 50 is past the last point -> 70."""
    shape = [(0, 10), (30, 7)]
    # cpu 1000/4000 -> util 25 (memory has the same util) -> 75
    ex = explain([node("n1", cpu="4", memory="4000")], pod(requests={"cpu": "1", "memory": "1000"}),
                 rtcr(shape))
    assert ex.scores["NodeResourcesFit"]["n1"] == 75
    # util 11: 100 + (-30 * 11) / 30 = 100 - 11 = 89 ; util 1: 100 - 1 = 99 (floor would give 98)
    ex = explain([node("n1", cpu="100", memory="100")], pod(requests={"cpu": "1", "memory": "1"}),
                 rtcr([(0, 10), (100, 7)]))
    # (70 - 100) * 1 / 100 = -0.3 -> 0 (trunc), floor would be -1
    assert ex.scores["NodeResourcesFit"]["n1"] == 100


def test_least_allocated_over_capacity_scores_zero_and_most_caps():
    bound = [pod("old", requests={"cpu": "3000", "memory": "9000"}, node_name="n1")]
    big = dict(requests={"cpu": "3000", "memory": "1000"})
    ex = explain([node("n1", **EX_NODE)], pod(**big), profile(filters=[]), bound=bound)
    assert ex.scores["NodeResourcesFit"]["n1"] == 0          # cpu 6000 > 4000 -> 0, memory 10000/10000 -> 0
    ex = explain([node("n1", **EX_NODE)], pod(**big), profile(filters=[], scoring_strategy="MostAllocated"),
                 bound=bound)
    assert ex.scores["NodeResourcesFit"]["n1"] == 100


def test_scalar_not_requested_is_bypassed_not_scored_zero():
    """3 / 11.6: an extended resource the pod does not request is left out of the weight sum."""
    prof = profile(fit_resources=[("cpu", 1), ("memory", 1), ("nvidia.com/gpu", 5)])
    ex = explain([node("n1", **EX_NODE, **{"nvidia.com/gpu": 8})], pod(**EX_POD), prof)
    assert ex.scores["NodeResourcesFit"]["n1"] == 37
    # requested: gpu (8-2)/8 -> 75 with weight 5: (25 + 50 + 375) / 7 = 64
    ex = explain([node("n1", **EX_NODE, **{"nvidia.com/gpu": 8})],
                 pod(requests={"cpu": "3000", "memory": "5000", "nvidia.com/gpu": 2}), prof)
    assert ex.scores["NodeResourcesFit"]["n1"] == 64


def test_resource_the_node_lacks_is_skipped():
    prof = profile(fit_resources=[("cpu", 1), ("memory", 1), ("ephemeral-storage", 3)])
    ex = explain([node("n1", **EX_NODE)], pod(**EX_POD), prof)
    assert ex.scores["NodeResourcesFit"]["n1"] == 37


# --------------------------------------------------------------------------------------------------
# section 3.5: BalancedAllocation
# --------------------------------------------------------------------------------------------------
def test_balanced_allocation_example():
    ex = explain([node("n1", **EX_NODE)], pod(**EX_POD))
    assert ex.scores["NodeResourcesBalancedAllocation"] == {"n1": 87}       # std 0.125
    ex = explain([node("n1", **EX_NODE)], pod(requests={"cpu": "2000", "memory": "5000"}))
    assert ex.scores["NodeResourcesBalancedAllocation"] == {"n1": 100}      # balanced


def test_balanced_allocation_uses_real_requests():
    """No 100m/200Mi defaults: a memory-only pod has cpu fraction 0."""
    ex = explain([node("n1", cpu="1", memory="1000")], pod(requests={"memory": "500"}))
    assert ex.scores["NodeResourcesBalancedAllocation"]["n1"] == 75          # |0 - 0.5| / 2 = 0.25


@pytest.mark.parametrize("requests", [{}, {"cpu": "0"}, {"cpu": "0", "memory": "0"}, {"nvidia.com/gpu": 1}])
def test_best_effort_pod_skips_balanced_allocation(requests):
    """3.5: PreScore Skip when every configured (cpu, memory) real request is 0 (kubernetes#129138)."""
    ex = explain([node("n1", **EX_NODE, **{"nvidia.com/gpu": 2}),
                  node("n2", **EX_NODE, **{"nvidia.com/gpu": 2})],
                 pod(requests=requests))
    assert "NodeResourcesBalancedAllocation" not in ex.scores
    assert "NodeResourcesFit" in ex.scores and "TaintToleration" in ex.scores
    assert ex.total == {"n1": ex.scores["NodeResourcesFit"]["n1"] + 300,
                        "n2": ex.scores["NodeResourcesFit"]["n2"] + 300}


# --------------------------------------------------------------------------------------------------
# section 4: NodeAffinity
# --------------------------------------------------------------------------------------------------
def pref(weight, key, op="Exists", values=()):
    return {"weight": weight,
            "preference": {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}}


def test_preferred_affinity_normalization_example():
    nodes = [node("a", labels={"x": "1"}), node("b", labels={"y": "1"}), node("c", labels={"z": "1"})]
    p = pod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                                       [pref(2, "x"), pref(11, "y"), pref(4, "z")]}})
    ex = explain(nodes, p)
    assert ex.scores["NodeAffinity"] == {"a": 18, "b": 100, "c": 36}


def test_no_preferred_terms_skips_node_affinity_score():
    ex = explain([node("a"), node("b")], pod())
    assert "NodeAffinity" not in ex.scores


def required(*terms):
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}


def expr(key, op, *values):
    return {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}


AFF = "node(s) didn't match Pod's node affinity/selector"


@pytest.mark.parametrize("term, feasible", [
    (expr("disk", "NotIn", "ssd"), {"bare", "hdd", "n0206", "n0204"}),  # 11.10: NotIn matches a missing label
    (expr("disk", "DoesNotExist"), {"bare"}),
    (expr("disk", "Exists"), {"ssd", "hdd", "n0206", "n0204"}),
    (expr("disk", "In", "ssd", "hdd"), {"ssd", "hdd"}),
    (expr("gen", "Gt", "0204"), {"n0206"}),                          # "0206" > "0204" as int64
    (expr("gen", "Lt", "0206"), {"n0204"}),
    (expr("gen", "Gt", "-1"), set()),                                # "-1" is not a valid label value
    (expr("gen", "Gt", "abc"), set()),                               # invalid: the term fails
    (expr("gen", "Gt", "1", "2"), set()),                            # wrong value count
    (expr("disk", "In"), set()),                                     # In without values
    (expr("disk", "Exists", "x"), set()),                            # Exists with values
    (expr("bad key!", "DoesNotExist"), set()),                       # invalid key
    ({"matchExpressions": [], "matchFields": []}, set()),            # empty term matches nothing
], ids=["notin", "dne", "exists", "in", "gt", "lt", "gt-neg", "gt-abc", "gt-2vals", "in-novals",
        "exists-vals", "badkey", "empty"])
def test_required_operators(term, feasible):
    nodes = [node("bare"), node("ssd", labels={"disk": "ssd"}), node("hdd", labels={"disk": "hdd"}),
             node("n0206", labels={"disk": "x", "gen": "0206"}),
             node("n0204", labels={"disk": "y", "gen": "0204"})]
    ex = explain(nodes, pod(affinity=required(term)))
    assert {n for n, r in ex.filter.items() if r is None} == feasible
    assert all(r == AFF for r in ex.filter.values() if r is not None)


def test_gt_never_matches_missing_label():
    ex = explain([node("bare"), node("l", labels={"gen": "5"})],
                 pod(affinity=required(expr("gen", "Lt", "9"))))
    assert ex.filter == {"bare": AFF, "l": None}


def test_invalid_term_does_not_poison_other_terms():
    ex = explain([node("a", labels={"disk": "ssd"}), node("b")],
                 pod(affinity=required(expr("x", "Gt", "abc"), expr("disk", "In", "ssd"))))
    assert ex.filter == {"a": None, "b": AFF}


def test_empty_required_term_list_matches_nothing():
    res = schedule([node("a"), node("b")], [pod(affinity=required())])
    assert res.reasons[0] == f"0/2 nodes are available: 2 {AFF}."


def test_node_selector_and_required_are_anded():
    nodes = [node("a", labels={"zone": "z1", "disk": "ssd"}), node("b", labels={"zone": "z1"}),
             node("c", labels={"disk": "ssd"})]
    ex = explain(nodes, pod(node_selector={"zone": "z1"}, affinity=required(expr("disk", "Exists"))))
    assert ex.filter == {"a": None, "b": AFF, "c": AFF}


def test_match_fields_prefilter_restricts_candidates():
    nodes = [node("a"), node("b"), node("c")]
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["c"]}]}
    ex = explain(nodes, pod(affinity=required(term)))
    absent = "node(s) didn't satisfy plugin(s) [NodeAffinity]"
    assert ex.filter == {"a": absent, "b": absent, "c": None}
    res = schedule(nodes, [pod(affinity=required(term), requests={"cpu": "5000"})])
    assert res.reasons[0] == f"0/3 nodes are available: 1 Insufficient cpu, 2 {absent}."


def test_conflicting_name_terms():
    t1 = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]},
                          {"key": "metadata.name", "operator": "In", "values": ["b"]}]}
    sched = kpack.Scheduler()
    c = kpack.Cluster([node("a"), node("b"), node("c")])
    res = sched.schedule(c, [pod(affinity=required(t1))])
    assert res.reasons == ["0/3 nodes are available: pod affinity terms conflict."]
    assert int(sched.start[0]) == 0      # PreFilter rejection: nextStartNodeIndex unchanged


# --------------------------------------------------------------------------------------------------
# section 5 / 6: taints, cordon
# --------------------------------------------------------------------------------------------------
def soft(key):
    return {"key": key, "value": "v", "effect": "PreferNoSchedule"}


def test_taint_score_example():
    nodes = [node("t0"), node("t1", taints=[soft("a")]), node("t2", taints=[soft("a"), soft("b")])]
    ex = explain(nodes, pod())
    assert ex.scores["TaintToleration"] == {"t0": 100, "t1": 50, "t2": 0}


def test_taint_score_all_tolerated_gives_100_everywhere():
    nodes = [node("t0"), node("t1", taints=[soft("a")])]
    ex = explain(nodes, pod(tolerations=[{"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"}]))
    assert ex.scores["TaintToleration"] == {"t0": 100, "t1": 100}


def test_taint_score_ignores_tolerations_with_other_effects():
    """Only tolerations with effect PreferNoSchedule or empty count for the score (section 5)."""
    nodes = [node("t0"), node("t1", taints=[soft("a")])]
    ex = explain(nodes, pod(tolerations=[{"key": "a", "operator": "Exists", "effect": "NoSchedule"}]))
    assert ex.scores["TaintToleration"] == {"t0": 100, "t1": 0}
    ex = explain(nodes, pod(tolerations=[{"key": "a", "operator": "Exists"}]))
    assert ex.scores["TaintToleration"] == {"t0": 100, "t1": 100}


def test_taint_filter_first_untolerated_in_node_order():
    taints = [{"key": "soft", "value": "", "effect": "PreferNoSchedule"},
              {"key": "k1", "value": "v1", "effect": "NoSchedule"},
              {"key": "k2", "value": "v2", "effect": "NoExecute"}]
    ex = explain([node("n", taints=taints)], pod())
    assert ex.filter == {"n": "node(s) had untolerated taint(s)"}
    ex = explain([node("n", taints=taints)], pod(tolerations=[{"key": "k1", "value": "v1"}]))
    assert ex.filter == {"n": "node(s) had untolerated taint(s)"}
    ex = explain([node("n", taints=taints)], pod(tolerations=[{"operator": "Exists"}]))
    assert ex.filter == {"n": None}


@pytest.mark.parametrize("tol, ok", [
    ({"key": "k", "operator": "Equal", "value": "v"}, True),           # empty effect matches any effect
    ({"key": "k", "operator": "Equal", "value": "w"}, False),
    ({"key": "k", "operator": "Exists"}, True),
    ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, False),
    ({"operator": "Exists", "effect": "NoSchedule"}, True),            # empty key + Exists: any key
    ({"operator": "Exists"}, True),
    ({"key": "k", "value": "v", "effect": "NoSchedule"}, True),        # operator defaults to Equal
])
def test_toleration_matching(tol, ok):
    ex = explain([node("n", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])],
                 pod(tolerations=[tol]))
    assert ex.filter["n"] == (None if ok else "node(s) had untolerated taint(s)")


@pytest.mark.parametrize("tols, ok", [
    ([], False),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}], True),
    ([{"operator": "Exists"}], True),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoExecute"}], False),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Equal", "value": ""}], True),
])
def test_cordoned_node(tols, ok):
    ex = explain([node("c", unschedulable=True), node("u")], pod(tolerations=tols))
    assert ex.filter == {"c": None if ok else "node(s) were unschedulable", "u": None}


def test_cordon_is_checked_before_taints():
    ex = explain([node("c", unschedulable=True, taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])],
                 pod())
    assert ex.filter == {"c": "node(s) were unschedulable"}


# --------------------------------------------------------------------------------------------------
# section 2: NodeResourcesFit filter
# --------------------------------------------------------------------------------------------------
def test_too_many_pods_boundary():
    bound1 = [pod("b0", node_name="n")]
    assert explain([node("n", pods=2)], pod(), bound=bound1).filter == {"n": None}
    bound2 = bound1 + [pod("b1", node_name="n")]
    assert explain([node("n", pods=2)], pod(), bound=bound2).filter == {"n": "Too many pods"}
    # pod count is checked first, and alongside resources
    ex = explain([node("n", pods=2, cpu="1")], pod(requests={"cpu": "2"}), bound=bound2)
    assert ex.filter == {"n": "Too many pods, Insufficient cpu"}


def test_best_effort_pods_only_limited_by_pod_count():
    """11.2: the filter ignores non-zero defaults."""
    res = schedule([node("n", cpu="0", memory="0", pods=3)], [pod(f"p{i}") for i in range(4)])
    assert res.node_names == ["n", "n", "n", None]
    assert res.reasons[3] == "0/1 nodes are available: 1 Too many pods."


def test_request_equal_to_free_fits():
    bound = [pod("b", requests={"cpu": "1500m", "memory": "6000"}, node_name="n")]
    ex = explain([node("n", cpu="4", memory="10000")], pod(requests={"cpu": "2500m", "memory": "4000"}),
                 bound=bound)
    assert ex.filter == {"n": None}
    ex = explain([node("n", cpu="4", memory="10000")], pod(requests={"cpu": "2501m", "memory": "4001"}),
                 bound=bound)
    assert ex.filter == {"n": "Insufficient cpu, Insufficient memory"}


def test_fit_reason_order_and_scalars():
    n = node("n", cpu="1", memory="1", pods=0, **{"ephemeral-storage": "1", "nvidia.com/gpu": 1})
    p = pod(requests={"cpu": "2", "memory": "2", "ephemeral-storage": "2", "nvidia.com/gpu": 2})
    assert explain([n], p).filter == {"n": "Too many pods, Insufficient cpu, Insufficient memory, "
                                           "Insufficient ephemeral-storage, Insufficient nvidia.com/gpu"}


def test_missing_scalar_allocatable_counts_as_zero_and_ignored_resources():
    p = pod(requests={"example.com/foo": 1})
    assert explain([node("n")], p).filter == {"n": "Insufficient example.com/foo"}
    assert explain([node("n")], p, profile(ignored_resources=["example.com/foo"])).filter == {"n": None}
    assert explain([node("n")], p, profile(ignored_resource_groups=["example.com"])).filter == {"n": None}
    # hugepages are not extended resources: never ignored
    hp = pod(requests={"hugepages-2Mi": 2 * MI})
    assert explain([node("n")], hp, profile(ignored_resource_groups=["hugepages-2Mi"])).filter == \
        {"n": "Insufficient hugepages-2Mi"}


# --------------------------------------------------------------------------------------------------
# FitError message (section 7, upstream FitError.Error)
# --------------------------------------------------------------------------------------------------
def test_fit_error_sorted_as_strings():
    # 10 "Insufficient cpu" sorts before 2 "node(s) ..." because Go sort.Strings compares "10 ..." < "2 ...".
    nodes = [node(f"c{i}", cpu="1") for i in range(10)] + \
            [node(f"t{i}", taints=[{"key": "k", "value": "v", "effect": "NoExecute"}]) for i in range(2)] + \
            [node("u", unschedulable=True)]
    res = schedule(nodes, [pod(requests={"cpu": "5000"})])
    assert res.reasons[0] == ("0/13 nodes are available: 1 node(s) were unschedulable, 10 Insufficient cpu, "
                              "2 node(s) had untolerated taint(s).")


def test_fit_error_counts_every_reason_of_a_node():
    nodes = [node("a", cpu="1", memory="1"), node("b", cpu="1")]
    res = schedule(nodes, [pod(requests={"cpu": "2", "memory": "2"})])
    assert res.reasons[0] == "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu."


# --------------------------------------------------------------------------------------------------
# section 7: numFeasibleNodesToFind, one feasible node, ties
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, pct, expected", [
    (1000, 0, 420), (6000, 0, 300), (1000, 40, 400), (99, 0, 99), (99, 10, 99), (100, 0, 100),
    (150, 10, 100), (5000, 0, 500), (100000, 0, 5000), (1000, 100, 1000), (250, 50, 125),
])
def test_num_feasible_nodes_to_find(n, pct, expected):
    assert num_feasible_nodes_to_find(n, pct) == expected


def test_single_feasible_node_skips_scoring_and_rng():
    sched = kpack.Scheduler(seed=42)
    c = kpack.Cluster([node("a", cpu="1"), node("b")])
    res = sched.schedule(c, [pod(requests={"cpu": "2"})])
    assert res.node_names == ["b"] and int(sched.rng[0]) == 42


# --------------------------------------------------------------------------------------------------
# section 1: PodRequests and non-zero defaults through Pod.from_k8s
# --------------------------------------------------------------------------------------------------
def k8s_pod(containers, init=(), overhead=None, **spec):
    s = {"containers": list(containers), "initContainers": list(init), **spec}
    if overhead:
        s["overhead"] = overhead
    return kpack.Pod.from_k8s({"kind": "Pod", "metadata": {"name": "x"}, "spec": s})


def c(name="c", restart=None, **requests):
    d = {"name": name}
    if requests is not None:
        d["resources"] = {"requests": requests}
    if restart:
        d["restartPolicy"] = restart
    return d


def test_non_zero_defaults_per_missing_key():
    p = k8s_pod([c(memory="1Gi")])
    assert p.requests == {"memory": GI} and (p.scoring_cpu, p.scoring_memory) == (100, GI)
    p = k8s_pod([c(cpu="250m")])
    assert (p.scoring_cpu, p.scoring_memory) == (250, 200 * MI)
    p = k8s_pod([{"name": "c"}, {"name": "d"}])                       # no requests at all, two containers
    assert p.requests == {} and (p.scoring_cpu, p.scoring_memory) == (200, 400 * MI)


def test_explicit_zero_stays_zero():
    p = k8s_pod([c(cpu="0", memory="0")])
    assert (p.scoring_cpu, p.scoring_memory) == (0, 0)
    p = k8s_pod([c(cpu="0")])
    assert (p.scoring_cpu, p.scoring_memory) == (0, 200 * MI)


def test_zero_container_pod_gets_no_defaults():
    p = k8s_pod([])
    assert p.requests == {} and (p.scoring_cpu, p.scoring_memory) == (0, 0)


def test_pod_requests_init_containers_sidecars_overhead():
    # regular: cpu 100m+200m, memory 1Gi (+ c2 has none)
    # init i1 (cpu 500m)         candidate cpu 500m
    # sidecar s1 (50m, 100Mi)    adds to the regular sum and to the running sidecar total
    # init i2 (cpu 400m)         candidate cpu 400m + 50m, memory 0 + 100Mi
    # real:    cpu max(350, 500, 450) = 500m, memory max(1Gi+100Mi, 100Mi) -> + overhead (10m, 1Mi)
    # scoring: defaults per missing key in every container (init too):
    #          regular memory 1Gi + 200Mi(c2) + 100Mi(s1) = 1Gi+300Mi; i1 candidate memory 200Mi;
    #          i2 200Mi+100Mi
    p = k8s_pod([c("c1", cpu="100m", memory="1Gi"), c("c2", cpu="200m")],
                init=[c("i1", cpu="500m"), c("s1", restart="Always", cpu="50m", memory="100Mi"),
                      c("i2", cpu="400m")],
                overhead={"cpu": "10m", "memory": "1Mi"})
    assert p.requests == {"cpu": 510, "memory": GI + 101 * MI}
    assert (p.scoring_cpu, p.scoring_memory) == (510, GI + 301 * MI)


def test_pod_requests_init_dominates_without_sidecars():
    p = k8s_pod([c("a", cpu="1"), c("b", cpu="1")], init=[c("i", cpu="3", memory="1")])
    assert p.requests == {"cpu": 3000, "memory": 1}


def test_sidecar_after_init_does_not_count_for_that_init():
    p = k8s_pod([c("a", cpu="100m")], init=[c("i", cpu="1"), c("s", restart="Always", cpu="600m")])
    # i: candidate 1000m (no sidecar before it); regular+sidecars = 700m
    assert p.requests["cpu"] == 1000
    p = k8s_pod([c("a", cpu="100m")], init=[c("s", restart="Always", cpu="600m"), c("i", cpu="1")])
    assert p.requests["cpu"] == 1600


def test_pod_level_requests_replace_cpu_memory_aggregate():
    p = k8s_pod([c("a", cpu="1", memory="1Gi", **{"ephemeral-storage": "1Gi"})],
                resources={"requests": {"cpu": "2", "memory": "3Gi"}})
    assert p.requests == {"cpu": 2000, "memory": 3 * GI, "ephemeral-storage": GI}


def test_defaults_flow_into_scoring_only():
    """A pod without requests: the filter sees nothing (fits a 0-cpu node) but LeastAllocated sees
    100m/200Mi."""
    nodes = [node("n1", cpu="1", memory=str(1000 * MI)), node("n2", cpu="1", memory=str(1000 * MI))]
    ex = explain(nodes, k8s_pod([{"name": "c"}]))
    assert ex.filter == {"n1": None, "n2": None}
    assert ex.scores["NodeResourcesFit"] == {"n1": 85, "n2": 85}           # (90 + 80) / 2
    assert "NodeResourcesBalancedAllocation" not in ex.scores


# --------------------------------------------------------------------------------------------------
# Departures found by the oracle (fixed in c8a4c8d: fullmatch validation; kept as regression tests)
# --------------------------------------------------------------------------------------------------
def test_label_value_with_trailing_newline_is_invalid():
    """Section 4: an invalid requirement (bad value syntax) makes its term fail. Go's label-value regexp is
    anchored at the end of the text, so "ssd\\n" is invalid. kpack validates with Python re.match(... $),
    where `$` also matched before a trailing newline, so the requirement was accepted: NotIn ["ssd\\n"]
    then matched every node instead of none."""
    ex = explain([node("a", labels={"disk": "ssd"}), node("b")],
                 pod(affinity=required(expr("disk", "NotIn", "ssd\n"))))
    assert ex.filter == {"a": AFF, "b": AFF}


def test_label_key_with_trailing_newline_is_invalid():
    """Same as above for the key: "disk\\n" is not a qualified name, DoesNotExist on it must not match."""
    ex = explain([node("a")], pod(affinity=required(expr("disk\n", "DoesNotExist"))))
    assert ex.filter == {"a": AFF}


def test_gt_node_label_with_trailing_newline_does_not_parse():
    """Section 4: Gt/Lt need the node label to parse with strconv.ParseInt(v, 10, 64); "7\\n" does not.
    kpack's parse_int64 used re.match(r"^[+-]?[0-9]+$") + int(), which accepted it."""
    ex = explain([node("a", labels={"gen": "7\n"})], pod(affinity=required(expr("gen", "Gt", "5"))))
    assert ex.filter == {"a": AFF}


def test_preferred_term_with_empty_preference_still_runs_node_affinity_score():
    """Upstream nodeaffinity.PreScore skips only when the pod's preferred list is nil; a pod whose only
    preferred term has an empty preference is scored (every node 0 after NormalizeScore with max 0)."""
    p = pod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                                       [{"weight": 5, "preference": {}}]}})
    ex = explain([node("a"), node("b")], p)
    assert ex.scores.get("NodeAffinity") == {"a": 0, "b": 0}


def test_scalar_reason_order_is_history_independent():
    p = pod(requests={"example.com/foo": 1, "nvidia.com/gpu": 1})
    with_gpu_column = explain([node("n", **{"nvidia.com/gpu": 0})], p).filter["n"]
    without = explain([node("n")], p).filter["n"]
    assert with_gpu_column == without
