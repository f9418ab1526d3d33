"""The indexed engine makes exactly the reference kernel's decisions: placements, reasons, final rng and
start index, node state, on random clusters and pods in exhaustive and sampled modes."""
import numpy as np
import pytest

import kpack
from kpack.batch import PodBatch

SHAPES = [("4", "8Gi", 20), ("8", "16Gi", 30), ("16", "64Gi", 110), ("2", "4Gi", 5)]
ZONES = ["a", "b", "c"]
TAINTS = [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"},
          {"key": "spot", "value": "", "effect": "PreferNoSchedule"},
          {"key": "old", "value": "y", "effect": "PreferNoSchedule"},
          {"key": "gone", "value": "", "effect": "NoExecute"}]


def random_cluster(rng, n, n_shapes):
    nodes = []
    for i in range(n):
        cpu, mem, pods = SHAPES[rng.integers(n_shapes)]
        labels = {"zone": ZONES[rng.integers(3)]}
        if rng.random() < 0.5:
            labels["disk"] = "ssd" if rng.random() < 0.5 else "hdd"
        if rng.random() < 0.2:
            labels["rank"] = str(rng.integers(10))
        taints = [TAINTS[j] for j in range(4) if rng.random() < 0.12]
        nodes.append(kpack.Node(name=f"n{i}", allocatable={"cpu": cpu, "memory": mem, "pods": pods,
                                                           **({"example.com/gpu": 2} if rng.random() < 0.1 else {})},
                                labels=labels, taints=taints, unschedulable=bool(rng.random() < 0.05)))
    return kpack.Cluster(nodes)


def random_spec(rng, i, n):
    req = {}
    if rng.random() < 0.9:
        req["cpu"] = f"{int(rng.choice([0, 100, 250, 500, 1000, 3000]))}m"
    if rng.random() < 0.8:
        req["memory"] = f"{int(rng.choice([0, 128, 512, 2048]))}Mi"
    if rng.random() < 0.05:
        req["example.com/gpu"] = 1
    kw = {}
    r = rng.random()
    if r < 0.2:
        kw["node_selector"] = {"zone": ZONES[rng.integers(3)]}
    elif r < 0.3:
        kw["node_selector"] = {"disk": "nvme"}           # matches nothing: unschedulable pods
    aff = {}
    if rng.random() < 0.2:
        aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "rank", "operator": rng.choice(["Gt", "Lt"]), "values": ["4"]}]},
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}
    elif rng.random() < 0.08:
        # PreFilter node list (DaemonSet-style pin) and a NotIn name field (name-dependent class rows).
        op = "In" if rng.random() < 0.5 else "NotIn"
        aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": op, "values": [f"n{rng.integers(n)}"]}]}]}
    if rng.random() < 0.25:
        aff["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": int(rng.integers(1, 100)), "preference": {"matchExpressions": [
                {"key": "zone", "operator": "In", "values": [ZONES[rng.integers(3)]]}]}},
            {"weight": int(rng.integers(1, 100)), "preference": {"matchExpressions": [
                {"key": "disk", "operator": "Exists"}]}}]
    if aff:
        kw["affinity"] = {"nodeAffinity": aff}
    tols = []
    if rng.random() < 0.3:
        tols.append({"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"})
    if rng.random() < 0.2:
        tols.append({"key": "spot", "operator": "Exists"})
    if rng.random() < 0.03:
        tols.append({"operator": "Exists"})
    if tols:
        kw["tolerations"] = tols
    return kpack.Pod(name=f"s{i}", requests=req, **kw)


def profile_for(rng, pct):
    prof = kpack.Profile.default()
    prof.percentage_of_nodes_to_score = pct
    r = rng.random()
    if r < 0.2:
        prof.scoring_strategy = "MostAllocated"
    elif r < 0.3:
        prof.scoring_strategy = "RequestedToCapacityRatio"
        prof.shape = [(0, 0), (50, 7), (100, 10)]
    if rng.random() < 0.15:
        prof.fit_resources = [("cpu", 1), ("memory", 1), ("example.com/gpu", 3)]
    if rng.random() < 0.1:
        prof.score_weights = {k: v for k, v in prof.score_weights.items() if k != "NodeResourcesBalancedAllocation"}
    return prof


def run_both(seed, n, n_pods, pct, n_specs, n_shapes, via_arrays):
    rng = np.random.default_rng(seed)
    specs = [random_spec(rng, i, n) for i in range(n_specs)]
    idx = rng.integers(len(specs), size=n_pods).astype(np.int32)
    idx[: n_pods // 3] = 0                                # long runs of one spec: buckets stay few
    prof = profile_for(rng, pct)
    base = random_cluster(rng, n, n_shapes)
    bound = [specs[int(i)].model_copy(update={"name": f"b{j}", "node_name": f"n{rng.integers(n)}"})
             for j, i in enumerate(rng.integers(len(specs), size=n // 2))]
    base.bind(bound, np.array([base.node_index[p.node_name] for p in bound], dtype=np.int32))
    results = []
    for engine in ("reference", "indexed"):
        c = base.copy()
        s = kpack.Scheduler(prof, seed=seed, engine=engine)
        s._start[0] = seed % (n + 7)                      # any start, including one >= N
        if via_arrays:
            res = s.schedule_arrays(c, PodBatch(specs, idx))
        else:
            pods = [specs[int(i)].model_copy(update={"name": f"p{j}"}) for j, i in enumerate(idx)]
            res = s.schedule(c, pods)
        results.append((res, c, s))
    (r1, c1, s1), (r2, c2, s2) = results
    assert s2.last_stats.engine == "indexed"
    assert r1.node_index.tolist() == r2.node_index.tolist()
    assert r1.reasons == r2.reasons
    assert s1._rng[0] == s2._rng[0] and s1._start[0] == s2._start[0]
    assert np.array_equal(c1.requested, c2.requested) and np.array_equal(c1.nonzero_requested, c2.nonzero_requested)
    return r1, s2


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("pct", [None, 100, 30])
def test_indexed_matches_reference(seed, pct):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.choice([7, 60, 150, 420]))
    run_both(seed, n, n_pods=int(rng.integers(40, 400)), pct=pct, n_specs=int(rng.integers(1, 12)),
             n_shapes=int(rng.integers(1, 5)), via_arrays=bool(seed % 2))


@pytest.mark.parametrize("seed", range(6))
def test_identical_nodes_many_ties(seed):
    # One shape, no labels drawn for most nodes: huge tie sets; sampled (pct 10) and exhaustive.
    for pct in (None, 10, 100):
        res, s = run_both(seed, 700, n_pods=600, pct=pct, n_specs=1, n_shapes=1, via_arrays=True)
        assert s.last_stats.indexed_pods == 600


def test_bucket_overflow_hands_over_to_reference(monkeypatch):
    import kpack.engines as E
    monkeypatch.setattr(E, "INDEX_BUDGET_BYTES", 1)      # capacity floor: 256 buckets
    res, s = run_both(5, 300, n_pods=2000, pct=None, n_specs=12, n_shapes=4, via_arrays=True)
    st = s.last_stats
    assert st.reference_pods > 0 and st.indexed_pods + st.reference_pods == 2000


def test_full_cluster_reasons_and_start():
    # Pods keep coming after the cluster is full: failures explained identically, start unchanged.
    res, s = run_both(11, 120, n_pods=3000, pct=None, n_specs=3, n_shapes=1, via_arrays=False)
    assert res.scheduled < 3000


def test_bucket_table_growth(monkeypatch):
    import kpack.engines as E
    monkeypatch.setattr(E, "INITIAL_BUCKETS", 4)         # grows several times during the batch
    res, s = run_both(7, 300, n_pods=1500, pct=30, n_specs=8, n_shapes=3, via_arrays=True)
    assert s.last_stats.indexed_pods == 1500 and s.last_stats.buckets > 64
