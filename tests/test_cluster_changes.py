"""The Cluster's change methods: node add/update/cordon/remove, bind/unbind, identity, copies, generations."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kpack
from kpack.batch import PodBatch, bind_arrays


def node(name, cpu="4", gpus=0, **kw):
    alloc = {"cpu": cpu, "memory": "8Gi", "pods": 10}
    if gpus:
        alloc["nvidia.com/gpu"] = gpus
    return kpack.Node(name=name, allocatable=alloc, **kw)


def totals(c: kpack.Cluster) -> np.ndarray:
    """requested recomputed from the bound pods alone."""
    want = np.zeros_like(c.requested)
    for p, n in c.bound():
        req, _ = c.pod_vectors([p])
        want[n] += req[0]
    return want


def test_bind_unbind_releases_exactly():
    c = kpack.Cluster([node("a"), node("b")])
    g0 = c.generation
    p = kpack.Pod(name="p", requests={"cpu": "1500m", "memory": "1Gi"})
    c.bind(p, "a")
    assert c.generation > g0
    a = c.node_index["a"]
    assert c.requested[a, 0] == 1500 and c.requested[a, 3] == 1
    assert c.pod("p").node_name == "a" and c.node_of("default/p") == "a"
    assert [q.name for q in c.pods_on("a")] == ["p"]
    back = c.unbind("p")
    assert back.name == "p" and back.node_name == "a"
    assert not c.requested.any() and not c.nonzero_requested.any()
    assert c.n_bound == 0


def test_double_bind_refused():
    c = kpack.Cluster([node("a"), node("b")])
    p = kpack.Pod(name="p", requests={"cpu": "1"})
    c.bind(p, "a")
    before = c.requested.copy()
    with pytest.raises(kpack.ClusterError, match="already bound"):
        c.bind(p, "b")
    with pytest.raises(kpack.SchedulingError, match="already bound"):
        kpack.Scheduler().schedule(c, [kpack.Pod(name="p", requests={"cpu": "1"})])
    assert np.array_equal(c.requested, before)
    # the same name in another namespace is another pod
    c.bind(kpack.Pod(name="p", namespace="other", requests={"cpu": "1"}), "b")
    assert c.n_bound == 2


def test_schedule_same_pods_twice_refused():
    c = kpack.Cluster([node("a"), node("b")])
    pods = [kpack.Pod(name=f"p{i}", requests={"cpu": "1"}) for i in range(3)]
    s = kpack.Scheduler()
    s.schedule(c, pods)
    before = c.requested.copy()
    with pytest.raises(kpack.SchedulingError, match="already bound"):
        s.schedule(c, pods)
    assert np.array_equal(c.requested, before)


def test_batch_identity_against_objects():
    c = kpack.Cluster([node("a", cpu="64")])
    c.bind(kpack.Pod(name="web-3", requests={"cpu": "1"}), "a")
    s = kpack.Scheduler()
    batch = PodBatch([kpack.Pod(name="web", requests={"cpu": "100m"})], np.zeros(5, np.int32))
    with pytest.raises(kpack.SchedulingError, match="web-3"):
        s.schedule_arrays(c, batch)
    c.unbind("web-3")
    s.schedule_arrays(c, batch)
    assert c.pod("web-4").node_name == "a"
    with pytest.raises(kpack.ClusterError, match="already bound"):
        c.bind(kpack.Pod(name="web-0"), "a")
    assert np.array_equal(c.requested, totals(c))
    names = c.bound_pods().column("pod").to_pylist()
    assert sorted(names) == [f"web-{i}" for i in range(5)]


def test_bind_refuses_misfit_unless_forced():
    c = kpack.Cluster([node("a", cpu="1")])
    big = kpack.Pod(name="big", requests={"cpu": "2"})
    with pytest.raises(kpack.ClusterError, match="Insufficient cpu"):
        c.bind(big, "a")
    assert c.n_bound == 0
    c.bind(big, "a", force=True)
    assert c.requested[0, 0] == 2000


def test_gpu_devices_held_and_released():
    c = kpack.Cluster([node("g", gpus=2)])
    share = kpack.Pod(name="s", requests={"nvidia.com/gpu": 1}, gpu_milli=300)
    whole = kpack.Pod(name="w", requests={"nvidia.com/gpu": 1})
    c.bind(share, "g")
    c.bind(whole, "g")
    assert sorted(c.gpu_free[0].tolist()) == [0, 700]
    t = c.bound_pods()
    assert t.column("gpu_devices").to_pylist() in ([[0], [1]], [[1], [0]])
    with pytest.raises(kpack.ClusterError, match="no free device"):
        c.bind(kpack.Pod(name="w2", requests={"nvidia.com/gpu": 1}), "g")
    c.unbind("s")
    assert sorted(c.gpu_free[0].tolist()) == [0, 1000]
    c.unbind("w")
    assert c.gpu_free[0].tolist() == [1000, 1000] and not c.gpu_tags.any()


def test_node_changes():
    c = kpack.Cluster([node("a"), node("b")],
                      pods=[kpack.Pod(name="x", requests={"cpu": "1"}, node_name="b")])
    g = c.node_generation
    c.add_node(node("c", labels={"zone": "z1"}, taints=[{"key": "k", "effect": "NoSchedule"}]))
    assert c.node_names == ["a", "b", "c"] and c.node_generation > g
    assert c.label_keys == ["zone"] and len(c.taints) == 1
    with pytest.raises(kpack.ClusterError, match="already exists"):
        c.add_node(node("a"))
    c.cordon("a")
    assert c.unschedulable.tolist() == [True, False, False]
    c.uncordon("a")
    assert not c.unschedulable.any()
    c.update_node(node("b", cpu="500m", labels={"zone": "z2"}))     # x stays bound though it no longer fits
    assert c.node_of("x") == "b" and c.requested[1, 0] == 1000 and c.allocatable[1, 0] == 500
    freed = c.remove_node("b")
    assert [p.name for p in freed] == ["x"] and freed[0].node_name is None
    assert c.node_names == ["a", "c"] and c.n_bound == 0 and not c.requested.any()
    with pytest.raises(kpack.ClusterError, match="not a node"):
        c.remove_node("b")
    res = kpack.Scheduler().schedule(c,
                                     [kpack.Pod(name="y", requests={"cpu": "1"}, node_selector={"zone": "z1"},
                                                   tolerations=[{"operator": "Exists"}])])
    assert res.node_names == ["c"]


def test_remove_node_renumbers_pods():
    c = kpack.Cluster([node("a"), node("b"), node("c")])
    for i, n in enumerate(["a", "b", "c", "c"]):
        c.bind(kpack.Pod(name=f"p{i}", requests={"cpu": "1"}), n)
    c.remove_node("a")
    assert [(p.name, c.node_names[n]) for p, n in c.bound()] == [("p1", "b"), ("p2", "c"), ("p3", "c")]
    assert np.array_equal(c.requested, totals(c))
    c.unbind("p3")
    assert np.array_equal(c.requested, totals(c))


def test_new_resource_column_in_node_update_is_atomic():
    c = kpack.Cluster([node("a")])
    before = (list(c.resource_names), c.allocatable.copy(), c.generation)
    too_many = {f"example.com/r{i}": 1 for i in range(70)}
    with pytest.raises(kpack.ClusterError, match="resource columns"):
        c.add_node(kpack.Node(name="z", allocatable=too_many))
    assert (c.resource_names, c.generation) == (before[0], before[2])
    assert np.array_equal(c.allocatable, before[1]) and c.node_names == ["a"]


def test_copy_shares_nothing_mutable():
    c = kpack.Cluster([node("a"), node("g", gpus=1)])
    c.bind(kpack.Pod(name="p", requests={"cpu": "1"}), "a")
    d = c.copy()
    d.bind(kpack.Pod(name="q", requests={"cpu": "1", "nvidia.com/gpu": 1}), "g")
    d.add_node(node("b"))
    d.unbind("p")
    d.cordon("a")
    assert c.node_names == ["a", "g"] and c.n_bound == 1 and c.requested[0, 0] == 1000
    assert c.gpu_free.tolist() == [[0], [1000]] and not c.unschedulable.any()
    assert len(c.nodes) == 2


def test_objects():
    ns = kpack.Node(name="n1")
    c = kpack.Cluster([ns])

    class Obj:
        def __init__(self, kind, namespace, name):
            self.kind, self.namespace, self.name = kind, namespace, name
    c.add_object(Obj("Service", "default", "web"))
    assert ("Service", "default", "web") in c.objects
    c.remove_object("Service", "default", "web")
    with pytest.raises(kpack.ClusterError, match="no such object"):
        c.remove_object("Service", "default", "web")


def test_bind_arrays_names_and_parquet(tmp_path):
    c = kpack.Cluster([node("a", cpu="8"), node("b", cpu="8")])
    spec = kpack.Pod(name="b", requests={"cpu": "1"})
    bind_arrays(c, [spec], np.zeros(4, np.int32), np.array([0, 1, -1, 0], np.int32))
    assert sorted(c.bound_pods().column("pod").to_pylist()) == ["b-0", "b-1", "b-3"]
    c.to_parquet(tmp_path)
    d = kpack.Cluster.from_parquet(tmp_path)
    assert d.bound_pods().equals(c.bound_pods()) and np.array_equal(d.requested, c.requested)


# --- property: any sequence of binds, unbinds, schedules and node changes keeps the books exact ----------
ops = st.lists(st.tuples(st.sampled_from(["bind", "unbind", "schedule", "add", "remove", "cordon", "update"]),
                         st.integers(0, 10**6)), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(ops, st.sampled_from(["auto", "numba", "native", "indexed"]), st.booleans())
def test_books_stay_exact(seq, engine, gpu_profile):
    prof = kpack.Profile.default()
    if gpu_profile:
        prof = kpack.Profile.from_k8s({"profiles": [{"plugins": {"score": {"enabled": [
            {"name": "FGDScore", "weight": 1}]}}}]})
    c = kpack.Cluster([node(f"n{i}", cpu=str(2 + i % 3), gpus=i % 3) for i in range(4)])
    s = kpack.Scheduler(prof, seed=1, engine=engine)
    k = 0
    for op, r in seq:
        k += 1
        names = c.node_names
        bound = [p.key for p, _ in c.bound()]
        if op == "bind" and names:
            p = kpack.Pod(name=f"p{k}", requests={"cpu": f"{100 * (1 + r % 20)}m",
                                                   **({"nvidia.com/gpu": 1 + r % 2} if r % 3 == 0 else {})},
                          gpu_milli=(250 if r % 7 == 0 and r % 3 == 0 and r % 2 == 0 else None))
            try:
                c.bind(p, names[r % len(names)])
            except kpack.ClusterError:
                pass
        elif op == "unbind" and bound:
            c.unbind(bound[r % len(bound)])
        elif op == "schedule":
            pods = [kpack.Pod(name=f"s{k}-{j}",
                              requests={"cpu": f"{300 * (1 + (r >> j) % 5)}m",
                                        **({"nvidia.com/gpu": 1} if (r >> j) % 4 == 0 else {})},
                              gpu_milli=(500 if (r >> j) % 8 == 0 else None)) for j in range(3)]
            s.schedule(c, pods)
        elif op == "add":
            c.add_node(node(f"x{k}", cpu="3", gpus=r % 2))
        elif op == "remove" and names:
            c.remove_node(names[r % len(names)])
        elif op == "cordon" and names:
            c.cordon(names[r % len(names)])
        elif op == "update" and names:
            n = c.node(names[r % len(names)])
            c.update_node(n.model_copy(update={"labels": {"k": str(r % 3)}}))
        assert np.array_equal(c.requested, totals(c)), op
        assert (c.gpu_free >= 0).all() and (c.gpu_free <= 1000).all()
        # nothing the scheduler or a non-forced bind placed oversubscribes a node (nvidia.com/gpu is checked
        # per device: sharing pods count 1 each in the counted column while sharing one device)
        cols = [j for j, r in enumerate(c.resource_names) if r != "nvidia.com/gpu"]
        assert (c.requested[:, cols] <= c.allocatable[:, cols]).all()
        held = {}
        for row, devs in c.table.devices.items():
            for d, m in devs:
                held[(int(c.table.node[row]), d)] = held.get((int(c.table.node[row]), d), 0) + m
        for (n, d), m in held.items():
            assert c.gpu_free[n, d] == 1000 - m


def test_device_filter_stands_without_fit_filter():
    prof = kpack.Profile.from_k8s({"profiles": [{"plugins": {
        "filter": {"disabled": [{"name": "NodeResourcesFit"}]},
        "score": {"enabled": [{"name": "FGDScore", "weight": 1}]}}}]})
    c = kpack.Cluster([node("one", gpus=1), node("two", gpus=2)])
    s = kpack.Scheduler(prof, seed=0)
    res = s.schedule(c, [kpack.Pod(name=f"p{i}", requests={"nvidia.com/gpu": 2}) for i in range(3)])
    assert res.node_names[0] == "two" and res.node_names[1:] == [None, None]
    assert (c.gpu_free >= 0).all()
    assert "Insufficient nvidia.com/gpu" in res.reasons[1]


# --- property: update_node's row re-encode equals a cluster built afresh from the same nodes and pods -----
def decoded(c: kpack.Cluster):
    """The node state as values (label strings, taint triples), independent of code numbering."""
    labels = [{c.label_keys[k]: c.label_values[v] for k, v in enumerate(row) if v >= 0}
              for row in c.label_codes.tolist()]
    taints = [sorted((c.taints[t].key, c.taints[t].value, c.taints[t].effect) for t in row if t >= 0)
              for row in c.node_taints.tolist()]
    alloc = {(c.node_names[i], r): int(v) for (i, j), v in np.ndenumerate(c.allocatable)
             for r in [c.resource_names[j]] if v}
    return labels, taints, alloc, c.unschedulable.tolist(), c.gpu_free.tolist()


updates = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10**6)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(updates)
def test_update_node_equals_rebuild(seq):
    taint_pool = [kpack.Taint(key="t", value=str(v), effect=e)
                  for v in range(3) for e in ("NoSchedule", "PreferNoSchedule", "NoExecute")]
    zone = "topology.kubernetes.io/zone"
    c = kpack.Cluster([node(f"n{i}", cpu=str(2 + i % 3), gpus=i % 2,
                            labels={"k": "a", "j": str(i), zone: f"z{i % 2}"},
                            taints=taint_pool[:i % 3])
                       for i in range(6)])
    s = kpack.Scheduler(seed=3)
    s.schedule(c, [kpack.Pod(name=f"p{i}", requests={"cpu": "500m"}) for i in range(5)])
    moved = False                                  # a zone move puts the node last in its zone (node tree)
    for i, r in seq:
        n = c.nodes[i]
        labels = dict(n.labels)
        labels["k"] = "abc"[r % 3]
        if r % 5 == 0:
            labels.pop("j", None)
        if r % 11 == 0:
            labels["fresh"] = str(r % 4)          # a new key: the full re-encode
        if r % 13 == 0:
            moved |= labels[zone] != f"z{r % 3}"
            labels[zone] = f"z{r % 3}"             # another zone: the full re-encode
        taints = [taint_pool[(r >> b) % 9] for b in range(r % 3)]
        alloc = dict(n.allocatable)
        alloc["cpu"] = 1000 * (1 + r % 4)
        if r % 17 == 0:
            alloc["nvidia.com/gpu"] = r % 3        # another GPU count: the full re-encode
        taints = [t for j, t in enumerate(taints) if t not in taints[:j]]
        c.update_node(n.model_copy(update={"labels": labels, "taints": taints,
                                           "allocatable": alloc, "unschedulable": r % 7 == 0}))
        fresh = kpack.Cluster(c.nodes, [p for p, _ in c.bound()])
        assert decoded(c) == decoded(fresh)
        assert np.array_equal(c.requested, fresh.requested)
        if moved:
            continue
        assert np.array_equal(c.visit_order() if c.visit_order() is not None else np.arange(len(c)),
                              fresh.visit_order() if fresh.visit_order() is not None else np.arange(len(c)))
        pods = [kpack.Pod(name=f"q{j}", requests={"cpu": f"{300 * (1 + j)}m"},
                          tolerations=[kpack.Toleration(key="t", operator="Exists")] if j % 2 else [],
                          node_selector={"k": "abc"[j % 3]} if j == 2 else {}) for j in range(4)]
        got = kpack.Scheduler(seed=5).schedule(c.copy(), pods)
        want = kpack.Scheduler(seed=5).schedule(fresh.copy(), pods)
        assert got.node_names == want.node_names and got.reasons == want.reasons


# --- property: the one-row node changes (add, update, remove) equal the full re-encode, visit order included
node_ops = st.lists(st.tuples(st.sampled_from(["add", "update", "remove", "cordon", "schedule", "unbind"]),
                              st.integers(0, 10**6)), min_size=1, max_size=20)


def full_path_only(c: kpack.Cluster) -> kpack.Cluster:
    c._add_row = c._update_row = c._delete_row = lambda *a, **k: False
    return c


@settings(max_examples=60, deadline=None)
@given(node_ops)
def test_row_changes_equal_full_reencode(seq):
    zone = "topology.kubernetes.io/zone"
    taint_pool = [kpack.Taint(key="t", value=str(v), effect="NoSchedule") for v in range(3)]

    def make(k, r):
        labels = {"k": "abc"[r % 3], zone: f"z{r % 4}"}
        if r % 9 == 0:
            labels[f"new{r % 2}"] = "x"
        return node(f"x{k}", cpu=str(1 + r % 5), gpus=(r >> 3) % 3, labels=labels,
                    taints=taint_pool[:(r >> 5) % 4])
    start = [make(i, i * 7) for i in range(5)]
    fast, full = kpack.Cluster(start), full_path_only(kpack.Cluster(start))
    for k, (op, r) in enumerate(seq):
        names = fast.node_names
        for c in (fast, full):
            if op == "add":
                c.add_node(make(100 + k, r))
            elif op == "update" and names:
                n = make(0, r).model_copy(update={"name": names[r % len(names)]})
                c.update_node(n)
            elif op == "remove" and names:
                c.remove_node(names[r % len(names)])
            elif op == "cordon" and names:
                c.cordon(names[r % len(names)])
            elif op == "unbind" and c.n_bound:
                c.unbind(sorted(p.key for p, _ in c.bound())[r % c.n_bound])
            elif op == "schedule":
                kpack.Scheduler(seed=r).schedule(c, [kpack.Pod(
                    name=f"p{k}-{j}", requests={"cpu": f"{200 * (1 + (r >> j) % 4)}m",
                                                **({"nvidia.com/gpu": 1} if (r >> j) % 3 == 0 else {})})
                    for j in range(3)])
        assert fast.node_names == full.node_names and decoded(fast) == decoded(full), op
        assert np.array_equal(fast.requested, full.requested)
        assert sorted((p.key, n) for p, n in fast.bound()) == sorted((p.key, n) for p, n in full.bound())
        vf, vr = fast.visit_order(), full.visit_order()
        assert (vf is None and vr is None) or np.array_equal(vf, vr), op
