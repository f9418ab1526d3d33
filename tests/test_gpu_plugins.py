"""GPU sharing through the normal API: device state, the device filter, GPU policies as profile plugins."""
import numpy as np
import pytest

import kpack


def gpu_node(name, gpus, model="V100", cpu="64"):
    return kpack.Node(name=name,
                      allocatable={"cpu": cpu, "memory": "256Gi", "pods": 110, "nvidia.com/gpu": gpus},
                      labels={"nvidia.com/gpu.product": model})


def gpu_pod(name, k=1, milli=None, models=None, cpu="4"):
    ann = {}
    if milli is not None:
        ann["kpack.io/gpu-milli"] = str(milli)
    if models:
        ann["kpack.io/gpu-models"] = models
    return kpack.Pod.from_k8s({"kind": "Pod", "metadata": {"name": name, "annotations": ann}, "spec": {
        "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "nvidia.com/gpu": k}}}]}})


def policy(name, weight=100, **extra):
    prof = {"plugins": {"score": {"enabled": [{"name": name, "weight": weight}]}}, **extra}
    return kpack.Profile.from_k8s({"profiles": [prof]})


def test_sharing_pods_pack_into_devices_and_report_insufficient_gpu():
    c = kpack.Cluster([gpu_node("n", 1)])
    s = kpack.Scheduler()
    res = s.schedule(c, [gpu_pod("a", milli=600), gpu_pod("b", milli=400), gpu_pod("c", milli=100)])
    assert res.node_names == ["n", "n", None]
    assert res.reasons[2] == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    assert c.gpu_free.tolist() == [[0]]


def test_whole_gpu_pods_need_fully_free_devices():
    c = kpack.Cluster([gpu_node("n", 2)])
    s = kpack.Scheduler()
    assert s.schedule(c, [gpu_pod("share", milli=100)]).node_names == ["n"]
    res = s.schedule(c, [gpu_pod("two", k=2), gpu_pod("one", k=1)])
    assert res.node_names == [None, "n"]
    assert res.reasons[0] == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    assert sorted(c.gpu_free[0].tolist()) == [0, 900]


def test_gpu_model_constraint_is_node_affinity():
    c = kpack.Cluster([gpu_node("v", 8, "V100"), gpu_node("t", 4, "T4")])
    res = kpack.Scheduler().schedule(c, [gpu_pod("p", milli=500, models="T4"), gpu_pod("q", models="A100")])
    assert res.node_names[0] == "t"
    assert res.reasons[1] == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."


def test_default_profile_without_sharing_counts_gpus_like_upstream_and_tracks_devices():
    c = kpack.Cluster([gpu_node("n", 4)])
    res = kpack.Scheduler().schedule(c, [gpu_pod("a", k=3), gpu_pod("b", k=2)])
    assert res.node_names == ["n", None]
    assert res.reasons[1] == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    assert c.gpu_free.tolist() == [[0, 0, 0, 1000]]


def test_bound_gpu_pods_take_devices_and_round_trip(tmp_path):
    bound = [gpu_pod("a", milli=300).model_copy(update={"node_name": "n"}),
             gpu_pod("b", k=1).model_copy(update={"node_name": "n"})]
    c = kpack.Cluster([gpu_node("n", 2)], pods=bound)
    assert c.gpu_free.tolist() == [[700, 0]]
    c.to_parquet(tmp_path)
    assert kpack.Cluster.from_parquet(tmp_path).gpu_free.tolist() == [[700, 0]]
    over = kpack.Cluster([gpu_node("n", 1)], pods=[gpu_pod("x", k=2).model_copy(update={"node_name": "n"})])
    assert over.gpu_free.tolist() == [[1000]]
    assert over.requested[0, over.resource_index["nvidia.com/gpu"]] == 2


def test_gpu_milli_validation():
    with pytest.raises(Exception, match="must ask for nvidia.com/gpu: 1"):
        gpu_pod("x", k=2, milli=500)
    with pytest.raises(Exception, match="must be an integer"):
        kpack.Pod.from_k8s({"metadata": {"name": "x", "annotations": {"kpack.io/gpu-milli": "half"}},
                            "spec": {"containers": []}})


def test_only_one_gpu_policy():
    with pytest.raises(kpack.ProfileError, match="at most one GPU policy"):
        kpack.Profile.from_k8s({"profiles": [{"plugins": {"score": {"enabled": [
            {"name": "FGDScore"}, {"name": "BestFitScore"}]}}}]})


def only(name):
    """A profile where the GPU policy alone scores (kube score plugins disabled)."""
    return kpack.Profile.from_k8s({"profiles": [{"plugins": {"score": {"disabled": [{"name": "*"}],
                                                                         "enabled": [{"name": name}]}}}]})


def partially_used_cluster():
    # "busy" has one device at 500 free (a sharing pod on it) and one fully free; "idle" is untouched.
    c = kpack.Cluster([gpu_node("busy", 2), gpu_node("idle", 2)],
                      pods=[gpu_pod("x", milli=500).model_copy(update={"node_name": "busy"})])
    return c


@pytest.mark.parametrize("name", ["GpuPackingScore", "BestFitScore", "GpuClusteringScore"])
def test_packing_policies_put_a_share_on_the_partly_used_device(name):
    c = partially_used_cluster()
    s = kpack.Scheduler(only(name), seed=3)
    res = s.schedule(c, [gpu_pod("p", milli=400)])
    assert res.node_names == ["busy"]
    assert s.last_gpu_devices.tolist() == [0]          # best fit / least fragmenting: the 500-free device
    assert c.gpu_free.tolist() == [[100, 1000], [1000, 1000]]


def test_dot_product_prefers_the_node_with_least_left_where_the_pod_asks():
    # busy: 4 cpu and 1500 milli-GPU left -> dot 0.0104 -> 99; idle: 64 cpu, 2000 -> dot 0.0281 -> 98.
    c = kpack.Cluster([gpu_node("busy", 2), gpu_node("idle", 2)],
                      pods=[gpu_pod("x", milli=500, cpu="60").model_copy(update={"node_name": "busy"})])
    s = kpack.Scheduler(only("DotProductScore"))
    assert s.schedule(c, [gpu_pod("p", milli=400)]).node_names == ["busy"]
    assert s.last_gpu_devices.tolist() == [0]


def test_random_policy_is_seeded_and_spreads():
    picks = set()
    for seed in range(20):
        c = partially_used_cluster()
        s = kpack.Scheduler(only("RandomScore"), seed=seed)
        picks.add(s.schedule(c, [gpu_pod("p", milli=400)]).node_names[0])
        c2 = partially_used_cluster()
        res = kpack.Scheduler(only("RandomScore"), seed=seed).schedule(c2, [gpu_pod("p", milli=400)])
        assert res.node_names[0] in picks
    assert picks == {"busy", "idle"}


def test_fgd_fills_the_sliver_that_whole_gpu_pods_cannot_use():
    # M (the batch): one 300m share, three 1-GPU pods -> p = 0.25 / 0.75. Node a: devices [300, 1000] free
    # (a 700m share bound), node b: [1000, 1000]. F_a = 0.75 * 300 = 225. The share on a's sliver: F' = 0,
    # dF = 225 -> floor(100 sigma(0.225)) = 55; on a's free device or on b: F' = 525 / 750 -> 37.
    c = kpack.Cluster([gpu_node("a", 2), gpu_node("b", 2)],
                      pods=[gpu_pod("x", milli=700).model_copy(update={"node_name": "a"})])
    pods = [gpu_pod("share", milli=300)] + [gpu_pod(f"w{i}", k=1) for i in range(3)]
    s = kpack.Scheduler(only("FGDScore"), seed=0)
    res = s.schedule(c, pods[:1] + pods[1:])
    assert res.node_names[0] == "a" and s.last_gpu_devices[0] == 0
    assert c.gpu_free[0].tolist()[0] == 0


def test_profile_with_gpu_policy_and_kube_plugins_is_accepted_by_name():
    p = policy("GpuPackingScore", weight=5)
    assert p.score_weights["GpuPackingScore"] == 5 and p.score_weights["NodeResourcesFit"] == 1
    c = kpack.Cluster([gpu_node("n", 1)])
    assert kpack.Scheduler(p).schedule(c, [gpu_pod("a", milli=10)]).node_names == ["n"]


def test_explain_uses_the_device_filter():
    c = kpack.Cluster([gpu_node("a", 1), gpu_node("b", 1)])
    s = kpack.Scheduler()
    s.schedule(c, [gpu_pod("x", milli=800), gpu_pod("y", milli=100)])
    ex = s.explain(c, gpu_pod("p", milli=500))
    full = [n for n in "ab" if c.gpu_free[c.node_index[n]][0] < 500]
    assert all(ex.filter[n] == "Insufficient nvidia.com/gpu" for n in full)
    assert [n for n in "ab" if ex.filter[n] is None] == [n for n in "ab" if n not in full]


def test_gpu_sharing_demo_through_the_cli(capsys):
    from pathlib import Path

    from kpack.cli import main
    d = Path(__file__).resolve().parents[1] / "datasets" / "gpu-sharing"
    assert main(["schedule", "-f", str(d / "cluster.yaml"), "--config", str(d / "fgd-profile.yml"),
                 "--json"]) == 0
    import json
    rows = {r["pod"]: r for r in json.loads(capsys.readouterr().out)["placements"]}
    assert rows["default/infer-a"]["node"] in ("t4-a", "t4-b")          # kpack.io/gpu-models: T4
    assert rows["default/train-8gpu"]["reason"] == "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    assert sum(r["node"] is not None for r in rows.values()) == 5


def test_schedule_arrays_refuses_gpu_pods_instead_of_losing_devices():
    from kpack.batch import PodBatch
    c = kpack.Cluster([gpu_node("n", 2)])
    before = c.gpu_free.copy()
    with pytest.raises(kpack.SchedulingError, match="does not track GPU devices"):
        kpack.Scheduler().schedule_arrays(c, PodBatch([gpu_pod("g", k=1)], np.zeros(3, dtype=np.int32)))
    assert np.array_equal(c.gpu_free, before) and c.requested.sum() == 0
