"""kpack.plan: optima by construction, brute force on tiny instances, costs, selectors/taints, DaemonSets,
heuristics and lower bounds, bad input."""
import random

import numpy as np
import pytest

import kpack
from kpack.cli import main
from kpack.solver import SolverError
from kpack.solver.heuristics import Instance, best_heuristic, ffd, lower_bound
from kpack.solver.planning import check_packing


def shape(name, cpu="4", mem="8Gi", pods=110, **kw):
    return kpack.Node(name=name, allocatable={"cpu": cpu, "memory": mem, "pods": pods}, **kw)


def pod(name, cpu, mem="0", **kw):
    return kpack.Pod(name=name, requests={"cpu": cpu, "memory": mem}, **kw)


def check_plan(p, pods, shapes):
    """Every pod assigned once; every node's pods fit its shape."""
    assert set(p.assignment) == {x.name for x in pods}
    by = {s.name: s for s in shapes}
    load: dict = {}
    for x in pods:
        s, i = p.assignment[x.name]
        assert 0 <= i < p.counts[s]
        acc = load.setdefault((s, i), {"pods": 0})
        acc["pods"] += 1
        for r, v in x.requests.items():
            acc[r] = acc.get(r, 0) + v
    for (s, _), acc in load.items():
        for r, v in acc.items():
            assert v <= by[s].allocatable.get(r, 0), (s, r)
    assert sum(p.counts.values()) == p.node_count == len({k for k in load})


def test_exact_tiling_one_dimension():
    pods = [pod(f"p{i}", "1", "2Gi") for i in range(16)]
    p = kpack.plan(pods, [shape("s")], time_limit=5)
    assert p.node_count == 4 and p.optimal and p.lower_bound == 4
    check_plan(p, pods, [shape("s")])


def test_exact_tiling_two_dimensions_needs_pairing():
    # (6 cpu, 4Gi) + (4 cpu, 6Gi) fill a (10, 10Gi) node exactly; n pairs need exactly n nodes.
    pods = [pod(f"a{i}", "6", "4Gi") for i in range(7)] + [pod(f"b{i}", "4", "6Gi") for i in range(7)]
    shapes = [shape("s", cpu="10", mem="10Gi")]
    p = kpack.plan(pods, shapes, time_limit=5)
    assert p.node_count == 7 and p.optimal and p.lower_bound == 7
    check_plan(p, pods, shapes)


def test_three_items_per_bin_tiling():
    # Sizes (5,3,2) in cpu and the mirror in memory tile a (10, 10) bin only as {5,3,2} triples.
    pods = []
    for i in range(5):
        pods += [pod(f"x{i}", "5", "2Gi"), pod(f"y{i}", "3", "3Gi"), pod(f"z{i}", "2", "5Gi")]
    shapes = [shape("s", cpu="10", mem="10Gi")]
    p = kpack.plan(pods, shapes, time_limit=5)
    assert p.node_count == 5 and p.optimal
    check_plan(p, pods, shapes)


def brute_force_bins(sizes, cap):
    """Fewest bins over all canonical assignments."""
    n = len(sizes)
    best = [n]

    def rec(i, loads):
        if len(loads) >= best[0]:
            return
        if i == n:
            best[0] = len(loads)
            return
        for b in range(len(loads)):
            if all(loads[b][d] + sizes[i][d] <= cap[d] for d in range(len(cap))):
                loads[b] = [loads[b][d] + sizes[i][d] for d in range(len(cap))]
                rec(i + 1, loads)
                loads[b] = [loads[b][d] - sizes[i][d] for d in range(len(cap))]
        loads.append(list(sizes[i]))
        rec(i + 1, loads)
        loads.pop()

    rec(0, [])
    return best[0]


@pytest.mark.parametrize("seed", range(15))
def test_brute_force_tiny_random(seed):
    rng = random.Random(seed)
    cap = (10, 10)
    sizes = [(rng.randint(1, 8), rng.randint(1, 8)) for _ in range(rng.randint(3, 8))]
    pods = [pod(f"p{i}", str(c), f"{m}Gi") for i, (c, m) in enumerate(sizes)]
    shapes = [shape("s", cpu="10", mem="10Gi")]
    p = kpack.plan(pods, shapes, time_limit=5)
    best = brute_force_bins(sizes, cap)
    check_plan(p, pods, shapes)
    assert p.lower_bound <= best <= p.node_count
    if p.optimal:
        assert p.node_count == best


def test_costs_choose_the_cheaper_mix():
    shapes = [shape("small", cpu="4", mem="16Gi"), shape("big", cpu="16", mem="64Gi")]
    pods = [pod(f"p{i}", "3", "4Gi") for i in range(10)]
    p = kpack.plan(pods, shapes, time_limit=5, costs={"small": 1, "big": 3.5})
    assert p.counts == {"small": 0, "big": 2} and p.cost == 7.0 and p.optimal and p.lower_bound == 7.0
    p = kpack.plan(pods, shapes, time_limit=5, costs={"small": 1, "big": 6})
    assert p.counts == {"small": 10, "big": 0} and p.cost == 10.0 and p.optimal
    check_plan(p, pods, shapes)


def test_selectors_and_tolerations():
    taint = [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]
    tol = [{"key": "gpu", "operator": "Exists"}]
    shapes = [shape("cpu", cpu="8"), shape("gpu", cpu="8", labels={"acc": "gpu"}, taints=taint)]
    pods = [pod(f"w{i}", "2") for i in range(4)] + \
        [pod(f"g{i}", "2", node_selector={"acc": "gpu"}, tolerations=tol) for i in range(2)]
    p = kpack.plan(pods, shapes, time_limit=5)
    for x in pods:
        assert p.assignment[x.name][0] == ("gpu" if x.name.startswith("g") else "cpu")
    assert p.counts == {"cpu": 1, "gpu": 1} and p.optimal


def test_daemonsets_reserve_room_on_every_node():
    ds = kpack.DaemonSet.from_k8s({"apiVersion": "apps/v1", "kind": "DaemonSet",
                                   "metadata": {"name": "agent"},
                                   "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
                                       "metadata": {"labels": {"app": "agent"}},
                                       "spec": {"containers": [{"name": "c", "resources": {
                                           "requests": {"cpu": "1"}}}]}}}})
    dep = kpack.Deployment.from_k8s({"apiVersion": "apps/v1", "kind": "Deployment",
                                     "metadata": {"name": "web"},
                                     "spec": {"replicas": 8, "selector": {"matchLabels": {"app": "web"}},
                                              "template": {"metadata": {"labels": {"app": "web"}},
                                                           "spec": {"containers": [{"name": "c",
                                                                                    "resources": {
                                                               "requests": {"cpu": "1"}}}]}}}})
    shapes = [shape("s")]
    assert kpack.plan([dep], shapes, time_limit=5).node_count == 2
    p = kpack.plan([dep, ds], shapes, time_limit=5)
    assert p.node_count == 3 and p.optimal and len(p.assignment) == 8
    assert p.daemon_pods == {"s": ["agent-s"]}


def test_heuristics_and_bounds_on_arrays():
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 60, size=(60, 2))
    inst = Instance(sizes, np.array([[100, 100]]), np.ones((60, 1), bool), np.ones(1, np.int64))
    best, allc = best_heuristic(inst)
    check_packing(inst, best)
    check_packing(inst, ffd(inst))
    lb, clique = lower_bound(inst)
    assert lb <= best.cost(inst.costs) <= len(ffd(inst).shape)
    assert lb >= int(np.ceil(sizes.sum(axis=0) / 100).max())
    assert len(allc) > 10


@pytest.mark.parametrize("call, msg", [
    (lambda: kpack.plan([pod("a", "1")], [shape("s")], time_limit=-1), "time_limit"),
    (lambda: kpack.plan([pod("a", "1")], [], time_limit=1), "node_shapes"),
    (lambda: kpack.plan([pod("a", "1")], [shape("s"), shape("s")]), "duplicate shape"),
    (lambda: kpack.plan([pod("a", "1")], [shape("s")], costs={"t": 1}), "costs: 't'"),
    (lambda: kpack.plan([pod("a", "1")], [shape("s"), shape("t")], costs={"s": 1}), "no cost for node shape"),
    (lambda: kpack.plan([pod("a", "1")], [shape("s")], costs={"s": -2}), r"costs\[s\]"),
    (lambda: kpack.plan([pod("a", "9")], [shape("s")]), "pod 'a' fits no node shape"),
    (lambda: kpack.plan([pod("a", "1"), pod("a", "2")], [shape("s")]), "duplicate pod name"),
    (lambda: kpack.plan([pod("a", "1", node_name="x")], [shape("s")]), "nodeName"),
    (lambda: kpack.plan(["x"], [shape("s")]), r"pods\[0\]"),
])
def test_bad_input(call, msg):
    with pytest.raises(SolverError, match=msg):
        call()


def test_cli_plan_with_costs(tmp_path, capsys):
    f = tmp_path / "m.yaml"
    f.write_text("""
kind: Node
metadata: {name: small, annotations: {kpack.io/cost: "1"}}
status: {allocatable: {cpu: "4", memory: 16Gi, pods: "110"}}
---
kind: Node
metadata: {name: big, annotations: {kpack.io/cost: "3.5"}}
status: {allocatable: {cpu: "16", memory: 64Gi, pods: "110"}}
---
kind: Deployment
metadata: {name: web}
spec:
  replicas: 10
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, resources: {requests: {cpu: "3", memory: 4Gi}}}]}
""")
    assert main(["plan", "-f", str(f), "--time-limit", "5", "--json"]) == 0
    import json
    out = json.loads(capsys.readouterr().out)
    assert out["counts"] == {"small": 0, "big": 2} and out["cost"] == 7.0 and out["optimal"]
    assert main(["plan", "-f", str(f), "--time-limit", "0"]) == 2
    assert "time_limit" in capsys.readouterr().err
