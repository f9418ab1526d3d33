"""The one Numba scheduling cycle (kpack.cycle): GPU devices, the GPU policy scores and registered static
score plugins run in the same cycle as the kube plugins; explain breaks out the GPU policy score and picks
the host schedule picks; an engine without devices says so in last_stats for GPU pods."""
import numpy as np
import pytest
from test_gpu_plugins import gpu_node, gpu_pod
from test_plugin_example import SLOTS_SCORE

import kpack
from kpack import bundles as B
from kpack import cycle, plugins
from kpack.engines import ENGINES

POLICIES = ["FGDScore", "BestFitScore", "GpuPackingScore", "GpuClusteringScore", "DotProductScore",
            "RandomScore"]


def world(seed: int) -> kpack.Cluster:
    rs = np.random.default_rng(seed)
    nodes = [gpu_node(f"g{i}", int(rs.choice([1, 2, 4, 8])), str(rs.choice(["V100", "T4"])),
                      cpu=str(int(rs.choice([16, 32, 64])))) for i in range(14)]
    nodes += [kpack.Node(name=f"c{i}", allocatable={"cpu": "32", "memory": "64Gi", "pods": 50},
                         labels={"example.com/slots": str(i % 4)}) for i in range(4)]
    return kpack.Cluster(nodes)


def workload(rs, n: int, prefix: str) -> list:
    pods = []
    for i in range(n):
        kind = int(rs.integers(0, 4))
        if kind == 0:
            pods.append(gpu_pod(f"{prefix}{i}", milli=int(rs.choice([100, 250, 500, 800])),
                                cpu=str(int(rs.choice([1, 2, 4])))))
        elif kind == 1:
            pods.append(gpu_pod(f"{prefix}{i}", k=int(rs.choice([1, 2])), cpu="4"))
        elif kind == 2:
            pods.append(gpu_pod(f"{prefix}{i}", milli=300, models="T4", cpu="2"))
        else:
            pods.append(kpack.Pod(name=f"{prefix}{i}", requests={"cpu": "2", "memory": "1Gi"}))
    return pods


def profile_with(*enabled) -> kpack.Profile:
    return kpack.Profile.from_k8s({"profiles": [{"plugins": {"score": {"enabled": [
        {"name": n, "weight": w} for n, w in enabled]}}}]})


def check_explain_matches_schedule(s: kpack.Scheduler, c: kpack.Cluster, pods, must_show) -> int:
    """explain's totals are the weighted sum of the scores it shows, and schedule picks its selected node;
    returns how many pods had more than one feasible node."""
    weights = s.profile.score_weights
    scored = 0
    for p in pods:
        ex = s.explain(c, p)
        if len(ex.total) > 1:
            scored += 1
            for name in must_show:
                assert name in ex.scores, (p.name, name, sorted(ex.scores))
                assert set(ex.scores[name]) == set(ex.total)
                assert all(0 <= v <= 100 for v in ex.scores[name].values()), (name, ex.scores[name])
        for n, t in ex.total.items():
            assert t == sum(ex.scores[k][n] * weights[k] for k in ex.scores), (p.name, n)
        assert s.schedule(c, [p]).node_names == [ex.selected], p.name
    return scored


@pytest.mark.parametrize("name", POLICIES)
def test_explain_reports_the_gpu_policy_score_and_picks_as_schedule_does(name):
    rs = np.random.default_rng(POLICIES.index(name))
    c = world(1)
    s = kpack.Scheduler(profile_with((name, 7)), seed=5)
    s.schedule(c, workload(rs, 25, "warm"))              # shared devices, busy nodes
    assert check_explain_matches_schedule(s, c, workload(rs, 30, "p"), [name]) > 10


def test_explain_without_a_gpu_policy_shows_no_policy_row():
    c = world(2)
    s = kpack.Scheduler(seed=1)
    ex = s.explain(c, gpu_pod("p", milli=500))
    assert set(ex.scores) <= set(kpack.scheduler.SCORE_PLUGIN_NAMES)


@pytest.fixture
def slots():
    plugins.register(SLOTS_SCORE)
    yield
    plugins.unregister("ExampleSlots")


def test_static_score_plugins_and_gpu_devices_share_the_cycle(slots):
    rs = np.random.default_rng(9)
    c = world(3)
    s = kpack.Scheduler(profile_with(("ExampleSlots", 3), ("GpuPackingScore", 5)), seed=2)
    res = s.schedule(c, workload(rs, 20, "warm"))
    assert res.scheduled > 10 and s.last_stats.engine == "numba"
    shown = ["ExampleSlots", "GpuPackingScore"]
    assert check_explain_matches_schedule(s, c, workload(rs, 25, "p"), shown) > 5


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "numba"])
def test_gpu_pods_place_alike_whatever_the_engine_and_say_where_they_ran(engine):
    pods = workload(np.random.default_rng(4), 60, "p")
    placed = []
    for eng in ("numba", engine):
        c = world(5)
        s = kpack.Scheduler(profile_with(("FGDScore", 10)), seed=8, engine=eng)
        res = s.schedule(c, pods)
        placed.append((res.node_names, res.reasons, c.gpu_free.tolist(), s.rng.tolist(), s.start.tolist()))
        assert s.last_stats.engine == "numba" and s.last_stats.scan_pods == len(pods)
    assert placed[0] == placed[1]
    if engine == "auto":
        assert s.last_stats.note == ""
    else:
        assert f"engine={engine!r}" in s.last_stats.note and "GPU" in s.last_stats.note


def test_cpu_only_calls_use_the_empty_device_bundle():
    """The empty device and static bundles change nothing: a direct cycle call equals Scheduler.schedule."""
    nodes = [kpack.Node(name=f"n{i}", allocatable={"cpu": str(2 + i % 3), "memory": "8Gi", "pods": 6})
             for i in range(25)]
    pods = [kpack.Pod(name=f"p{i}", requests={"cpu": ["250m", "1", "500m"][i % 3]}) for i in range(80)]
    c1, c2 = kpack.Cluster(nodes), kpack.Cluster(nodes)
    s1, s2 = kpack.Scheduler(seed=3, engine="numba"), kpack.Scheduler(seed=3)
    res = s1.schedule(c1, pods)
    view, _, cache = s2.view(c2)
    classes, pod_cls = s2.classes(view, pods, cache)
    req, nz = view.pod_vectors(pods)
    out = np.full(len(pods), -1, np.int32)
    fail = np.zeros((len(pods), len(view.resource_names)), np.int32)
    cycle.schedule(B.cluster_arrays(view), cache.profile.arrays, cache.class_arrays(classes, len(nodes)),
                   B.pod_arrays(pod_cls, req, nz), B.StateArrays(s2.rng, s2.start), B.NO_DEVICES, B.NO_STATIC,
                   out, fail)
    assert out.tolist() == res.node_index.tolist()
    assert (s1.rng.tolist(), s1.start.tolist()) == (s2.rng.tolist(), s2.start.tolist())
    np.testing.assert_array_equal(view.requested, c1.requested)
    assert B.NO_DEVICES.out_dev.shape == (0,) and B.NO_DEVICES.free.shape == (0, 0)   # nothing written
