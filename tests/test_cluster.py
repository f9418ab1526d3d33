"""Cluster: columnar state, bad input leaves nothing half-built, copy and lossless Parquet round trip."""
import numpy as np
import pytest

import kpack


def nodes():
    return [kpack.Node(name="a", allocatable={"cpu": "4", "memory": "8Gi", "pods": 10, "nvidia.com/gpu": 2},
                       labels={"zone": "z1"}, taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]),
            kpack.Node(name="b", allocatable={"cpu": "2", "memory": "4Gi", "pods": 10}, unschedulable=True)]


def test_columns_and_bound_pods():
    c = kpack.Cluster(nodes(), pods=[kpack.Pod(name="p", requests={"cpu": "1", "example.com/foo": 1},
                                               node_name="a")])
    assert c.resource_names[:4] == ["cpu", "memory", "ephemeral-storage", "pods"]
    assert "nvidia.com/gpu" in c.resource_names and "example.com/foo" in c.resource_names
    a = c.node_index["a"]
    assert c.allocatable.dtype == np.int64
    assert c.requested[a, c.resource_index["cpu"]] == 1000
    assert c.requested[a, c.resource_index["pods"]] == 1
    assert c.nonzero_requested[a, 1] == 200 * 2**20


@pytest.mark.parametrize("pods, match", [
    ([kpack.Pod(name="p", node_name="zzz")], "'zzz' is not a node"),
    ([kpack.Pod(name="p")], "spec.nodeName is required"),
])
def test_bad_bound_pods(pods, match):
    with pytest.raises(kpack.ClusterError, match=match):
        kpack.Cluster(nodes(), pods=pods)


def test_duplicate_node():
    with pytest.raises(kpack.ClusterError, match="duplicate node name 'a'"):
        kpack.Cluster(nodes() + [kpack.Node(name="a")])


def test_copy_is_independent():
    c = kpack.Cluster(nodes())
    d = c.copy()
    kpack.Scheduler().schedule(d, [kpack.Pod(name="p", requests={"cpu": "1"},
                                             tolerations=[{"operator": "Exists"}])])
    assert c.requested.sum() == 0 and d.requested.sum() > 0


def test_parquet_round_trip(tmp_path):
    c = kpack.Cluster(nodes(), pods=[kpack.Pod(name="p", requests={"cpu": "1"}, node_name="a",
                                               tolerations=[{"key": "k", "operator": "Exists"}])])
    c.to_parquet(tmp_path)
    d = kpack.Cluster.from_parquet(tmp_path)
    assert d.node_names == c.node_names and d.resource_names == c.resource_names
    assert np.array_equal(d.allocatable, c.allocatable) and np.array_equal(d.requested, c.requested)
    assert np.array_equal(d.nonzero_requested, c.nonzero_requested)
    assert [n.model_dump() for n in d.nodes] == [n.model_dump() for n in c.nodes]
    assert [(p.model_dump(), n) for p, n in d.bound()] == [(p.model_dump(), n) for p, n in c.bound()]
    assert d.bound_pods().equals(c.bound_pods())


def test_from_parquet_missing_file(tmp_path):
    with pytest.raises(kpack.ClusterError, match="nodes.parquet: missing"):
        kpack.Cluster.from_parquet(tmp_path)


def test_array_built_cluster_nodes_round_trip():
    from kpack.batch import cluster_from_arrays
    c = kpack.Cluster(nodes())
    d = cluster_from_arrays(c.node_names, c.resource_names, c.allocatable, label_keys=c.label_keys,
                            label_values=c.label_values, label_codes=c.label_codes, taints=c.taints,
                            node_taints=c.node_taints, unschedulable=c.unschedulable)
    assert [n.model_dump() for n in d.nodes] == [n.model_dump() for n in c.nodes]
    assert np.array_equal(kpack.Cluster(d.nodes).allocatable, c.allocatable)
