"""Fixes found in review of round 1, each pinned by a test that failed before the fix."""
import json

import numpy as np
import pytest

import kpack
from kpack.batch import PodBatch
from kpack.cli import main


def test_schedule_arrays_records_pod_names_not_spec_names():
    c = kpack.Cluster([kpack.Node(name="n", allocatable={"cpu": "8", "memory": "8Gi", "pods": 20})])
    spec = kpack.Pod(name="web", requests={"cpu": "100m"})
    kpack.Scheduler().schedule_arrays(c, PodBatch([spec], np.zeros(3, np.int32)))
    assert sorted(c.bound_pods().column("pod").to_pylist()) == ["web-0", "web-1", "web-2"]
    assert sorted(p.name for p, _ in c.bound()) == ["web-0", "web-1", "web-2"]


def test_cli_queue_is_priority_then_manifest_order(tmp_path, capsys):
    (tmp_path / "m.yaml").write_text("""
apiVersion: v1
kind: Node
metadata: {name: n}
status: {allocatable: {cpu: "1", memory: 1Gi, pods: "10"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, resources: {requests: {cpu: 400m}}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: late}
spec: {containers: [{name: c, resources: {requests: {cpu: 400m}}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: urgent}
spec: {priority: 10, containers: [{name: c, resources: {requests: {cpu: 400m}}}]}
""")
    assert main(["schedule", "-f", str(tmp_path / "m.yaml"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["placements"]
    placed = {r["pod"]: r["node"] for r in rows}
    # 1 cpu fits two 400m pods: the priority-10 pod, then the first replica in manifest order
    assert placed["default/urgent"] == "n" and placed["default/web-0"] == "n"
    assert placed["default/web-1"] is None and placed["default/late"] is None


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "DaemonSet"])
def test_workload_needs_a_name(kind):
    with pytest.raises(ValueError, match="metadata.name must not be empty"):
        kpack.load_manifests("---\n" + json.dumps({
            "apiVersion": "apps/v1", "kind": kind, "metadata": {"name": ""},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}}}))


def test_blocked_pods_are_not_counted_as_indexed():
    nodes = [kpack.Node(name=f"n{i}",
                        allocatable={"cpu": "4", "memory": "8Gi", "pods": 20}) for i in range(300)]
    s = kpack.Scheduler(engine="blocked")
    s.schedule_arrays(kpack.Cluster(nodes), PodBatch([kpack.Pod(name="p", requests={"cpu": "100m"})],
                                                     np.zeros(200, np.int32)))
    st = s.last_stats
    assert st.indexed_pods == 0 and st.blocked_pods + st.scan_pods == 200


def test_gpu_normalisers_come_from_the_cluster():
    from kpack.gpu.plugins import normalisers
    from kpack.gpu.policies import best_fit_raw_score, dot_product_score
    big = kpack.Node(name="big",
                     allocatable={"cpu": "256", "memory": "1Ti", "pods": 110, "nvidia.com/gpu": 16})
    c = kpack.Cluster([big, kpack.Node(name="small", allocatable={"cpu": "8", "memory": "8Gi", "pods": 10})])
    cpu_max, gpu_max = normalisers(c)
    assert (cpu_max, gpu_max) == (256000, 16000)
    # the largest node, empty, scores inside 0..100 (with openb's 128-core/8-GPU normalisers it did not)
    assert 0 <= dot_product_score(256000, 16000, 256000, 16000, cpu_max, gpu_max) <= 100
    assert 0 <= best_fit_raw_score(256000, 16000, 0, 0, cpu_max, gpu_max) <= 100


def test_fgd_target_workload_is_explicit_or_cluster_wide():
    from kpack.gpu.plugins import target_workload
    c = kpack.Cluster([kpack.Node(name="g", allocatable={"cpu": "64", "memory": "64Gi", "pods": 110,
                                                          "nvidia.com/gpu": 8})])
    share = kpack.Pod(name="s", requests={"cpu": "1", "nvidia.com/gpu": 1}, gpu_milli=500)
    c.bind(share, "g")
    one = kpack.Pod(name="w", requests={"cpu": "1", "nvidia.com/gpu": 1})
    pods, counts = target_workload(c, [one], None)
    assert [p.name for p in pods] == ["s", "w"] and counts.tolist() == [1, 1]
    pods, counts = target_workload(c, [one], [share, share])
    assert [p.name for p in pods] == ["s", "s"] and counts.tolist() == [1, 1]
