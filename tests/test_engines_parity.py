"""The indexed engine makes exactly the reference kernel's decisions: placements, reasons, final rng and
start index, node state, on random clusters and pods in exhaustive and sampled modes."""
import numpy as np
import pytest

import kpack
from kpack import native
from kpack.batch import PodBatch
from kpack.daemonset import daemon_pod

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
        nodes.append(kpack.Node(name=f"n{i}",
                                allocatable={"cpu": cpu, "memory": mem, "pods": pods,
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
        prof.score_weights = {k: v for k, v in prof.score_weights.items()
                              if k != "NodeResourcesBalancedAllocation"}
    return prof


def run_both(seed, n, n_pods, pct, n_specs, n_shapes, via_arrays, engine="indexed"):
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
    for eng in ("numba", engine):
        c = base.copy()
        s = kpack.Scheduler(prof, seed=seed, engine=eng)
        s.start[0] = seed % (n + 7)                      # any start, including one >= N
        if via_arrays:
            res = s.schedule_arrays(c, PodBatch(specs, idx))
        else:
            pods = [specs[int(i)].model_copy(update={"name": f"p{j}"}) for j, i in enumerate(idx)]
            res = s.schedule(c, pods)
        results.append((res, c, s))
    (r1, c1, s1), (r2, c2, s2) = results
    assert engine in ("auto", "blocked") or s2.last_stats.engine == engine
    assert r1.node_index.tolist() == r2.node_index.tolist()
    assert r1.reasons == r2.reasons
    assert s1.rng[0] == s2.rng[0] and s1.start[0] == s2.start[0]
    assert np.array_equal(c1.requested, c2.requested) \
        and np.array_equal(c1.nonzero_requested, c2.nonzero_requested)
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
    assert st.scan_pods > 0 and st.indexed_pods + st.scan_pods == 2000


def test_full_cluster_reasons_and_start():
    # Pods keep coming after the cluster is full: failures explained identically, start unchanged.
    res, s = run_both(11, 120, n_pods=3000, pct=None, n_specs=3, n_shapes=1, via_arrays=False)
    assert res.scheduled < 3000


def test_bucket_table_growth(monkeypatch):
    import kpack.engines as E
    monkeypatch.setattr(E, "INITIAL_BUCKETS", 4)         # grows several times during the batch
    res, s = run_both(7, 300, n_pods=1500, pct=30, n_specs=8, n_shapes=3, via_arrays=True)
    assert s.last_stats.indexed_pods == 1500 and s.last_stats.buckets > 64


native_only = pytest.mark.skipif(not native.available(), reason="native core not built")


@native_only
@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("pct", [None, 100, 30])
def test_native_engine_matches_reference(seed, pct):
    rng = np.random.default_rng(2000 + seed)
    n = int(rng.choice([7, 60, 150, 420]))
    run_both(seed, n, n_pods=int(rng.integers(40, 400)), pct=pct, n_specs=int(rng.integers(1, 12)),
             n_shapes=int(rng.integers(1, 5)), via_arrays=bool(seed % 2), engine="native")


@pytest.mark.parametrize("seed", range(10))
def test_auto_matches_reference(seed):
    rng = np.random.default_rng(3000 + seed)
    for n_shapes, n_specs in ((1, 1), (4, 10)):           # few types (indexed) and many (scan)
        run_both(seed, int(rng.choice([150, 420, 900])), n_pods=300, pct=[None, 100][seed % 2],
                 n_specs=n_specs, n_shapes=n_shapes, via_arrays=True, engine="auto")


def test_auto_chooses_by_structure():
    one = kpack.Cluster([kpack.Node(name=f"n{i}", allocatable={"cpu": "4", "memory": "8Gi", "pods": 20})
                         for i in range(400)])
    pod = kpack.Pod(name="p", requests={"cpu": "100m"})
    s = kpack.Scheduler(engine="auto")
    s.schedule_arrays(one, PodBatch([pod], np.zeros(100, np.int32)))
    assert s.last_stats.engine == "indexed"                # 1 static type
    s.schedule_arrays(kpack.Cluster(one.nodes), PodBatch([pod], np.zeros(5, np.int32)))
    assert s.last_stats.engine in ("native", "numba")  # tiny batch: no index
    many = kpack.Cluster([kpack.Node(name=f"n{i}", allocatable={"cpu": "4", "memory": "8Gi", "pods": 20},
                                     labels={"rack": str(i % 50)}) for i in range(400)])
    s.schedule_arrays(many, PodBatch([pod], np.zeros(100, np.int32)))
    assert s.last_stats.engine == ("native" if native.available() else "numba")   # 50 types, 400 nodes


# --- DaemonSet-style pinned pods share one compiled base class ----------------------------------------------
def _pinned_workload(rng, n):
    c = random_cluster(rng, n, 4)
    dss = []
    for i, extra in enumerate([{}, {"tolerations": [{"operator": "Exists"}]}, {"nodeSelector": {"zone": "a"}},
                               {"hostNetwork": True, "affinity": {"nodeAffinity": {
                                   "preferredDuringSchedulingIgnoredDuringExecution": [
                                       {"weight": 7, "preference": {"matchExpressions": [
                                           {"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}}]):
        spec = {"containers": [{"name": "c", "resources": {"requests": {
            "cpu": f"{int(rng.choice([100, 900, 2500]))}m", "memory": "256Mi"}}}], **extra}
        dss.append(kpack.DaemonSet.from_k8s({"apiVersion": "apps/v1", "kind": "DaemonSet",
                                             "metadata": {"name": f"d{i}"},
                                             "spec": {"selector": {"matchLabels": {"a": f"d{i}"}},
                                                      "template": {
                                                 "metadata": {"labels": {"a": f"d{i}"}}, "spec": spec}}}))
    pods = []
    for ds in dss:
        # Pins to every node (also nodes the DaemonSet would not run on: static reasons, cordoned, tainted).
        pods += [daemon_pod(ds, c.node_names[j]) for j in range(n)]
    pods.append(daemon_pod(dss[0], "no-such-node"))
    pods += [random_spec(rng, 100 + i, n) for i in range(5)]
    order = rng.permutation(len(pods))
    return c, [pods[i].model_copy(update={"name": f"p{j}"}) for j, i in enumerate(order)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("engine", ["numba", "indexed", "auto"])
def test_pinned_classes_share_base(seed, engine, monkeypatch):
    import kpack.scheduler as SCH
    rng = np.random.default_rng(4000 + seed)
    base, pods = _pinned_workload(rng, int(rng.choice([20, 90])))
    pct = [None, 100, 40][seed % 3]
    prof = kpack.Profile.default()
    prof.percentage_of_nodes_to_score = pct
    results = []
    for share in (True, False):
        if not share:
            # every pinned pod compiles its own class
            monkeypatch.setattr(SCH, "pinned_node", lambda p: None)
        c = base.copy()
        s = kpack.Scheduler(prof, seed=seed, engine=engine)
        res = s.schedule(c, pods) if seed % 2 else s.schedule_arrays(c, PodBatch.from_pods(pods))
        results.append((res, c, s))
    (r1, c1, s1), (r2, c2, s2) = results
    assert r1.node_index.tolist() == r2.node_index.tolist()
    assert r1.reasons == r2.reasons
    assert s1.rng[0] == s2.rng[0] and s1.start[0] == s2.start[0]
    assert np.array_equal(c1.requested, c2.requested)
    assert r1.scheduled > 0 and any(r is not None for r in r1.reasons)


def test_pinned_node_detection():
    from kpack.predicates import pinned_node
    ds = kpack.DaemonSet.from_k8s({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"},
                                   "spec": {"selector": {"matchLabels": {"a": "d"}}, "template": {
                                       "metadata": {"labels": {"a": "d"}},
                                       "spec": {"containers": [{"name": "c"}]}}}})
    assert pinned_node(daemon_pod(ds, "n1")) == "n1"
    two = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a", "b"]}]}]}}}
    assert pinned_node(kpack.Pod(name="x", affinity=two)) is None
    notin = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["a"]}]}]}}}
    assert pinned_node(kpack.Pod(name="x", affinity=notin)) is None
    mixed = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]}],
         "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}
    assert pinned_node(kpack.Pod(name="x", affinity=mixed)) is None
    assert pinned_node(kpack.Pod(name="x")) is None


# --- blocked engine (engines/blocked.py): exact on eligible classes, falls back to the scan otherwise
def _eligible_spec(rng, i):
    req = {"cpu": f"{int(rng.choice([0, 100, 250, 500, 1000, 3000]))}m",
           "memory": f"{int(rng.choice([0, 128, 512, 2048]))}Mi"}
    if rng.random() < 0.1:
        req = {}
    kw = {}
    if rng.random() < 0.3:
        kw["node_selector"] = {"zone": ZONES[rng.integers(3)]}
    if rng.random() < 0.2:
        kw["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}
    if rng.random() < 0.3:
        kw["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "infra",
                              "effect": "NoSchedule"}]
    return kpack.Pod(name=f"e{i}", requests=req, **kw)


@pytest.mark.parametrize("seed", range(24))
def test_blocked_matches_reference(seed, monkeypatch):
    import kpack.engines.blocked as BL
    monkeypatch.setattr(BL, "BLOCK_SHIFT", int([2, 3, 5][seed % 3]))      # many blocks on small clusters
    rng = np.random.default_rng(5000 + seed)
    n = int(rng.choice([7, 60, 150, 420]))
    nodes = []
    for i in range(n):
        cpu, mem, pods = SHAPES[rng.integers(1 + seed % 4)]
        labels = {"zone": ZONES[rng.integers(3)]}
        if rng.random() < 0.5:
            labels["disk"] = "ssd"
        taints = [TAINTS[0]] if rng.random() < 0.2 else ([TAINTS[3]] if rng.random() < 0.05 else [])
        nodes.append(kpack.Node(name=f"n{i}", allocatable={"cpu": cpu, "memory": mem, "pods": pods},
                                labels=labels, taints=taints, unschedulable=bool(rng.random() < 0.05)))
    base = kpack.Cluster(nodes)
    specs = [_eligible_spec(rng, i) for i in range(int(rng.integers(1, 8)))]
    idx = rng.integers(len(specs), size=int(rng.integers(50, 600))).astype(np.int32)
    if seed % 4 == 0:
        idx[: len(idx) // 2] = 0
    bound = [specs[int(i)].model_copy(update={"name": f"b{j}", "node_name": f"n{rng.integers(n)}"})
             for j, i in enumerate(rng.integers(len(specs), size=n // 3))]
    base.bind(bound, np.array([base.node_index[p.node_name] for p in bound], dtype=np.int32))
    prof = kpack.Profile.default()
    prof.percentage_of_nodes_to_score = [None, 100, 30, 5][seed % 4]
    if seed % 5 == 1:
        prof.scoring_strategy = "MostAllocated"
    elif seed % 5 == 3:
        prof.scoring_strategy = "RequestedToCapacityRatio"
        prof.shape = [(0, 0), (50, 7), (100, 10)]
    if seed % 7 == 2:
        prof.score_weights = {k: v for k, v in prof.score_weights.items()
                              if k != "NodeResourcesBalancedAllocation"}
    results = []
    for eng in ("numba", "blocked"):
        c = base.copy()
        s = kpack.Scheduler(prof, seed=seed, engine=eng)
        s.start[0] = seed * 7 % (n + 5)
        res = s.schedule_arrays(c, PodBatch(specs, idx))
        results.append((res, c, s))
    (r1, c1, s1), (r2, c2, s2) = results
    assert s2.last_stats.engine == "blocked"
    assert r1.node_index.tolist() == r2.node_index.tolist()
    assert r1.reasons == r2.reasons
    assert s1.rng[0] == s2.rng[0] and s1.start[0] == s2.start[0]
    assert np.array_equal(c1.requested, c2.requested) \
        and np.array_equal(c1.nonzero_requested, c2.nonzero_requested)


@pytest.mark.parametrize("seed", range(4))
def test_blocked_falls_back_when_not_eligible(seed):
    run_both(seed, 150, n_pods=200, pct=None, n_specs=8, n_shapes=3, via_arrays=True, engine="blocked")
