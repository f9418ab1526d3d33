"""Cluster.zone_keys / visit_order (vectorised) against the per-node definition: zone keys as upstream
GetZoneKey, zones round robin in first-seen order, each zone's nodes in their sequence order."""

import random

import numpy as np

from kpack import Cluster, Node
from kpack.state import REGION_KEYS, ZONE_KEYS


def zone_keys_by_node(c):
    def first(node, keys):
        for k in keys:
            if k in node.labels:
                return node.labels[k]
        return None

    out = []
    for node in c.nodes:
        r, z = first(node, REGION_KEYS), first(node, ZONE_KEYS)
        rv, zv = r or "", z or ""
        out.append(rv + ":\x00:" + zv if rv or zv else "")
    return out


def visit_by_round_robin(c):
    if len(c._zone_seq) <= 1:
        return None
    by_zone = {}
    zkeys = zone_keys_by_node(c)
    for j in sorted(range(len(c._node_seq)), key=c._node_seq.__getitem__):
        by_zone.setdefault(zkeys[j], []).append(j)
    lists = [by_zone[z] for z in sorted(by_zone, key=c._zone_seq.__getitem__)]
    out = []
    for i in range(max(len(x) for x in lists)):
        out += [x[i] for x in lists if i < len(x)]
    arr = np.array(out, dtype=np.int64)
    return None if np.array_equal(arr, np.arange(len(arr))) else arr


def node(name, labels):
    return Node(name=name, allocatable={"cpu": "1", "memory": "1Gi", "pods": 10}, labels=labels)


def test_visit_order_matches_round_robin_definition():
    for seed in range(200):
        rng = random.Random(seed)
        nodes = []
        for i in range(rng.randint(1, 40)):
            lab = {}
            if rng.random() < 0.7:
                lab["topology.kubernetes.io/zone"] = rng.choice(["a", "b", "c", ""])
            if rng.random() < 0.3:
                lab["failure-domain.beta.kubernetes.io/zone"] = rng.choice(["a", "x"])
            if rng.random() < 0.5:
                lab["topology.kubernetes.io/region"] = rng.choice(["r1", "a", ""])
            if rng.random() < 0.3:
                lab["other"] = rng.choice(["a", "b"])
            nodes.append(node(f"n{i}", lab))
        c = Cluster(nodes)
        for _ in range(4):
            assert c.zone_keys() == zone_keys_by_node(c)
            got = c.visit_order()
            want = visit_by_round_robin(c)
            assert (got is None) == (want is None)
            if got is not None:
                assert np.array_equal(got, want)
            if rng.random() < 0.5 and len(c.node_names) > 1:
                c.remove_node(rng.choice(c.node_names))
            else:
                c.add_node(node(f"m{rng.randint(100, 10**6)}",
                                {"topology.kubernetes.io/zone": rng.choice(["a", "b", "q"])}))
