"""Cluster.bind with an explicit device list: the pod holds exactly those devices, unbind gives them back,
and bad lists fail with the field and value named and the cluster unchanged."""
import numpy as np
import pytest

import kpack
from kpack.state import ClusterError

GPU = "nvidia.com/gpu"


def cluster():
    nodes = [kpack.Node(name="g0", allocatable={"cpu": "32", "memory": "64Gi", "pods": 110, GPU: 4}),
             kpack.Node(name="c0", allocatable={"cpu": "32", "memory": "64Gi", "pods": 110})]
    return kpack.Cluster(nodes)


def share(name, milli):
    return kpack.Pod(name=name, requests={"cpu": "1", GPU: 1}, gpu_milli=milli)


def whole(name, k):
    return kpack.Pod(name=name, requests={"cpu": "1", GPU: k})


def snapshot(c):
    return (c.requested.copy(), c.gpu_free.copy(), c.gpu_tags.copy(), len(c.table.live_rows()),
            dict(c.table.devices))


def test_share_and_whole_pods_take_the_devices_given():
    c = cluster()
    c.bind(share("s", 300), "g0", devices=[2])
    c.bind(whole("w", 2), "g0", devices=[0, 3])
    assert c.gpu_free[0].tolist() == [0, 1000, 700, 0]
    # the default rule would have put the share on device 0 (best fit among equals, lowest index)
    c.bind(share("t", 500), "g0", devices=[2])
    assert c.gpu_free[0].tolist() == [0, 1000, 200, 0]
    c.unbind("s")
    assert c.gpu_free[0].tolist() == [0, 1000, 500, 0]
    c.unbind("w")
    assert c.gpu_free[0].tolist() == [1000, 1000, 500, 1000]


def test_numpy_integers_are_accepted():
    c = cluster()
    c.bind(whole("w", 1), "g0", devices=np.array([1]))
    assert c.gpu_free[0].tolist() == [1000, 0, 1000, 1000]


@pytest.mark.parametrize("pod, node, devices, msg", [
    (share("s", 300), "g0", [4], "device 4 does not exist on node 'g0'"),
    (share("s", 300), "g0", [-1], "device -1 does not exist"),
    (share("s", 300), "g0", [0, 1], "needs 1 distinct device"),
    (whole("w", 2), "g0", [1, 1], r"needs 2 distinct device\(s\).*\[1, 1\]"),
    (whole("w", 2), "g0", [1], "needs 2 distinct"),
    (share("s", 300), "g0", ["0"], "expected integer device indices, got \\['0'\\]"),
    (share("s", 300), "g0", 0, "expected a list of device indices, got 0"),
    (share("s", 300), "g0", [True], "expected integer device indices"),
    (kpack.Pod(name="p", requests={"cpu": "1"}), "c0", [0], r"requests no nvidia.com/gpu; got devices=\[0\]"),
    (share("s", 300), "c0", [0], "device 0 does not exist on node 'c0' \\(0 device"),
])
def test_bad_device_lists_name_the_field_and_leave_the_cluster_unchanged(pod, node, devices, msg):
    c = cluster()
    c.bind(share("x", 800), "g0", devices=[1])
    before = snapshot(c)
    with pytest.raises(ClusterError, match="devices: .*" + msg):
        c.bind(pod, node, devices=devices)
    after = snapshot(c)
    for a, b in zip(before, after):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def test_a_device_without_room_is_refused_even_with_force():
    c = cluster()
    c.bind(share("x", 800), "g0", devices=[1])
    before = snapshot(c)
    for force in (False, True):
        with pytest.raises(ClusterError, match="devices: device 1 on node 'g0' has 200 milli free, "
                                               "pod 'default/s' needs 300"):
            c.bind(share("s", 300), "g0", devices=[1], force=force)
        with pytest.raises(ClusterError, match="devices: device 1 on node 'g0' has 200 milli free"):
            c.bind(whole("w", 1), "g0", devices=[1], force=force)
    after = snapshot(c)
    for a, b in zip(before, after):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
