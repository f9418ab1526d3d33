"""Scheduler behaviour through the public API: placement, reasons, round robin, bad input."""
import numpy as np
import pytest

import kpack


def simple_cluster(n=3, cpu="4", memory="10000"):
    return kpack.Cluster([kpack.Node(name=f"n{i}", allocatable={"cpu": cpu, "memory": memory, "pods": 110})
                          for i in range(n)])


def test_schedule_binds_and_reports():
    c = simple_cluster()
    res = kpack.Scheduler(seed=1).schedule(c,
                                           [kpack.Pod(name=f"p{i}", requests={"cpu": "3", "memory": "5000"})
                                               for i in range(4)])
    assert sorted(x for x in res.node_names if x) == ["n0", "n1", "n2"]
    assert res.node_names[3] is None and res.node_index[3] == -1
    assert res.reasons[3] == "0/3 nodes are available: 3 Insufficient cpu."
    assert c.requested[:, 0].tolist() == [3000, 3000, 3000]
    assert c.requested[:, 3].tolist() == [1, 1, 1]


def test_seed_reproducible_and_ties_uniform():
    picks = []
    for seed in range(200):
        c = simple_cluster(4)
        picks.append(kpack.Scheduler(seed=seed).schedule(c, [kpack.Pod(name="p")]).node_names[0])
    again = [kpack.Scheduler(seed=s).schedule(simple_cluster(4), [kpack.Pod(name="p")]).node_names[0]
             for s in range(200)]
    assert picks == again
    counts = {n: picks.count(n) for n in set(picks)}
    assert len(counts) == 4 and min(counts.values()) > 25


def test_unknown_node_name_rejected_without_changes():
    c = simple_cluster()
    before = c.requested.copy()
    with pytest.raises(kpack.SchedulingError, match="'nope' is not a node"):
        kpack.Scheduler().schedule(c, [kpack.Pod(name="a", requests={"cpu": "1"}),
                                       kpack.Pod(name="b", node_name="nope")])
    assert np.array_equal(c.requested, before)


def test_node_name_pod_goes_to_its_node():
    c = simple_cluster()
    res = kpack.Scheduler().schedule(c, [kpack.Pod(name="a", node_name="n2", requests={"cpu": "5"})])
    assert res.reasons[0] == ("0/3 nodes are available: 1 Insufficient cpu, "
                              "2 node(s) didn't match the requested node name.")


def test_new_extended_resource_column():
    c = simple_cluster()
    res = kpack.Scheduler().schedule(c, [kpack.Pod(name="g", requests={"example.com/fpga": 1})])
    assert res.reasons[0] == "0/3 nodes are available: 3 Insufficient example.com/fpga."
    assert "example.com/fpga" in c.resource_names


def test_explain_changes_nothing():
    c = simple_cluster()
    s = kpack.Scheduler(seed=3)
    before = (c.requested.copy(), s.rng.copy(), s.start.copy())
    ex = s.explain(c, kpack.Pod(name="x", requests={"cpu": "3000m", "memory": "5000"}))
    assert ex.scores["NodeResourcesFit"] == {"n0": 37, "n1": 37, "n2": 37}
    assert ex.scores["NodeResourcesBalancedAllocation"]["n0"] == 87
    assert ex.total["n0"] == 37 + 87 + 300 and ex.selected in c.node_names
    assert np.array_equal(c.requested, before[0]) and s.rng[0] == before[1][0] and s.start[0] == before[2][0]
    # explain's pick is what schedule then does
    assert s.schedule(c, [kpack.Pod(name="x", requests={"cpu": "3000m", "memory": "5000"})]).node_names[0] \
        == ex.selected


def test_round_robin_start_with_sampling():
    # 200 nodes, pct 10 -> to_find = max(100, 20) = 100 feasible; start advances by processed nodes.
    c = simple_cluster(200)
    prof = kpack.Profile.default()
    prof.percentage_of_nodes_to_score = 10
    s = kpack.Scheduler(prof)
    s.schedule(c, [kpack.Pod(name="a")])
    assert s.start[0] == 100
    s.schedule(c, [kpack.Pod(name="b")])
    assert s.start[0] == 0


def test_affinity_conflict_message():
    c = simple_cluster()
    aff = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n0"]},
                         {"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}
    res = kpack.Scheduler().schedule(c, [kpack.Pod(name="p", affinity=aff)])
    assert res.reasons[0] == "0/3 nodes are available: pod affinity terms conflict."


def test_no_nodes():
    res = kpack.Scheduler().schedule(kpack.Cluster([]), [kpack.Pod(name="p")])
    assert res.reasons == ["no nodes available to schedule pods"]


def test_profile_from_k8s_and_errors():
    cfg = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: packer
  plugins:
    score:
      disabled: [{name: NodeResourcesBalancedAllocation}]
      enabled: [{name: NodeResourcesFit, weight: 5}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 2}, {name: nvidia.com/gpu, weight: 3}]
"""
    p = kpack.Profile.from_k8s(cfg)
    assert p.scheduler_name == "packer" and p.percentage_of_nodes_to_score == 30
    assert p.score_weights == {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 5,
                              "PodTopologySpread": 2, "InterPodAffinity": 2}   # upstream defaults
    assert p.scoring_strategy == "MostAllocated" and p.fit_resources == [("cpu", 2), ("nvidia.com/gpu", 3)]
    # v1 defaulting: a resource weight of 0 means 1; above 100 is an error
    assert kpack.Profile.from_k8s(cfg.replace("weight: 2}", "weight: 0}")).fit_resources[0] == ("cpu", 1)
    with pytest.raises(kpack.ProfileError, match=r"resources\[0\].weight: Invalid value: 101"):
        kpack.Profile.from_k8s(cfg.replace("weight: 2}", "weight: 101}"))
    with pytest.raises(kpack.ProfileError, match="percentageOfNodesToScore: Invalid value: 130"):
        kpack.Profile.from_k8s(cfg.replace("30", "130"))
    with pytest.raises(kpack.ProfileError, match=r"enabled\[0\].name: Invalid value: 'Bogus'"):
        kpack.Profile.from_k8s(cfg.replace("name: NodeResourcesFit, weight: 5", "name: Bogus"))
    with pytest.raises(kpack.ProfileError, match="scoringStrategy.type: Unsupported value"):
        kpack.Profile.from_k8s(cfg.replace("MostAllocated", "Fancy"))
    with pytest.raises(kpack.ProfileError, match=r"shape\[1\].utilization.*increasing"):
        kpack.Profile.from_k8s(cfg.replace("type: MostAllocated", "type: RequestedToCapacityRatio\n"
                                           "        requestedToCapacityRatio: "
                                           "{shape: [{utilization: 50, score: 1},"
                                           " {utilization: 10, score: 2}]}"))


def test_every_profile_is_validated_and_the_first_is_used():
    """kube-scheduler validates all profiles (names required with several, no duplicates); kpack uses the
    first."""
    head = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n"
    two = head + "- schedulerName: a\n- schedulerName: b\n"
    assert kpack.Profile.from_k8s(two).scheduler_name == "a"
    assert kpack.Profile.from_k8s(head + "- {}\n").scheduler_name == "default-scheduler"
    with pytest.raises(kpack.ProfileError, match=r"profiles\[1\].schedulerName: Duplicate value: 'a'"):
        kpack.Profile.from_k8s(head + "- schedulerName: a\n- schedulerName: a\n")
    with pytest.raises(kpack.ProfileError, match=r"profiles\[1\].schedulerName: Required value"):
        kpack.Profile.from_k8s(head + "- schedulerName: a\n- {}\n")
    with pytest.raises(kpack.ProfileError, match=r"profiles\[0\].schedulerName: Required value"):
        kpack.Profile.from_k8s(head + "- schedulerName: ''\n")
    bad = two + "  plugins: {score: {enabled: [{name: Bogus}]}}\n"
    with pytest.raises(kpack.ProfileError, match=r"profiles\[1\].plugins.score.enabled\[0\].name: Invalid"):
        kpack.Profile.from_k8s(bad)


def test_explain_answers_are_independent_dicts():
    # explain builds its all-pass / constant-score dicts from kept templates: every answer is a new dict
    c = kpack.Cluster([kpack.Node(name=f"n{i}", allocatable={"cpu": "4", "memory": "8Gi", "pods": 10})
                       for i in range(4)])
    s = kpack.Scheduler()
    p = kpack.Pod(name="p", requests={"cpu": "5"})
    first = s.explain(c, p)
    assert first.filter == {f"n{i}": "Insufficient cpu" for i in range(4)}
    q = kpack.Pod(name="q", requests={"cpu": "1"})
    a = s.explain(c, q)
    a.filter["n0"] = "changed"
    for d in a.scores.values():
        d.clear()
    b = s.explain(c, q)
    assert b.filter == dict.fromkeys(c.node_names) and all(len(d) == 4 for d in b.scores.values())
    assert list(b.filter) == c.node_names
