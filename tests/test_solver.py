"""CP-SAT fallback: known optima by construction, defragmentation moves, static filters, GPU devices,
brute force on tiny random clusters, bad options."""
import itertools
import random

import numpy as np
import pytest

import kpack
from kpack.cli import main
from kpack.solver import SolverError
from kpack.solver.cluster_ops import bound_pairs


def node(name, cpu="4", mem="8Gi", pods=10, **kw):
    alloc = {"cpu": cpu, "memory": mem, "pods": pods, **kw.pop("extra", {})}
    return kpack.Node(name=name, allocatable=alloc, **kw)


def pod(name, cpu, mem="0", **kw):
    return kpack.Pod(name=name, requests={"cpu": cpu, "memory": mem}, **kw)


def assert_consistent(cluster):
    """The cluster's arrays equal those of a cluster rebuilt from its bound pods."""
    bound = [p.model_copy(update={"node_name": cluster.node_names[n]}) for p, n in bound_pairs(cluster)]
    fresh = kpack.Cluster(cluster.nodes, pods=bound)
    assert (fresh.requested == cluster.requested[:, :fresh.requested.shape[1]]).all()
    assert (fresh.nonzero_requested == cluster.nonzero_requested).all()
    assert (cluster.requested <= cluster.allocatable).all()


def test_fragmented_batch_is_repacked():
    c = kpack.Cluster([node("n0"), node("n1")])
    pods = [pod("a", "2"), pod("b", "2"), pod("big", "4")]
    greedy = kpack.Scheduler().schedule(c.copy(), pods)
    assert greedy.node_names[2] is None      # LeastAllocated spreads a and b
    res = kpack.Scheduler(fallback="cpsat").schedule(c, pods)
    assert all(res.node_names)
    assert res.solver_placed.tolist() == [False, False, True]
    assert res.solver_optimal is True and res.moves == [] and res.reasons[2] is None
    assert len(bound_pairs(c)) == 3
    assert_consistent(c)


def test_one_move_frees_room_for_a_large_pod():
    running = [pod("a", "2", node_name="n0"), pod("b", "2", node_name="n1")]
    c = kpack.Cluster([node("n0"), node("n1")], pods=running)
    res = kpack.Scheduler(fallback="cpsat", max_moves=0).schedule(c, [pod("big", "4")])
    assert res.node_names == [None] and res.solver_optimal is True    # proven: no placement without moves
    assert not res.solver_placed.any()
    c2 = kpack.Cluster([node("n0"), node("n1")], pods=running)
    res = kpack.Scheduler(fallback="cpsat", max_moves=1).schedule(c2, [pod("big", "4")])
    assert res.node_names[0] is not None and res.solver_placed.tolist() == [True]
    assert len(res.moves) == 1
    moved, src, dst = res.moves[0]
    assert moved.name in ("a", "b") and src != dst and dst != res.node_names[0]
    on = {p.name: c2.node_names[n] for p, n in bound_pairs(c2)}
    assert on[moved.name] == dst and on["big"] == res.node_names[0]
    assert_consistent(c2)


def test_static_filters_are_respected():
    # n1 has room but a taint; the big pod does not tolerate it, the small ones do: they must go there.
    taint = [{"key": "k", "value": "v", "effect": "NoSchedule"}]
    tol = [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]
    c = kpack.Cluster([node("n0"), node("n1", taints=taint)])
    pods = [pod("a", "2", tolerations=tol), pod("big", "4")]
    # Whatever greedy does with a, the solver must leave the untainted node to big.
    res = kpack.Scheduler(fallback="cpsat").schedule(c, pods)
    assert res.node_names == ["n1", "n0"]
    assert_consistent(c)
    c = kpack.Cluster([node("n0", labels={"z": "a"}), node("n1", labels={"z": "b"})])
    pods = [pod("x", "3"), pod("y", "3", node_selector={"z": "a"})]
    res = kpack.Scheduler(fallback="cpsat").schedule(c, pods)
    assert res.node_names[1] == "n0" and res.node_names[0] == "n1"


def test_priority_decides_who_gets_the_last_slot():
    c = kpack.Cluster([node("n0"), node("n1")])
    pods = [pod("a", "2"), pod("b", "2"), pod("low", "4", priority=1), pod("high", "4", priority=100)]
    res = kpack.Scheduler(fallback="cpsat").schedule(c, pods)
    assert res.node_names[3] is not None and res.node_names[2] is None
    assert res.solver_placed.tolist() == [False, False, False, True]


def test_nothing_pending_leaves_greedy_alone():
    c = kpack.Cluster([node("n0"), node("n1")])
    pods = [pod("a", "1"), pod("b", "1")]
    greedy = kpack.Scheduler().schedule(c.copy(), pods)
    res = kpack.Scheduler(fallback="cpsat").schedule(c, pods)
    assert res.node_names == greedy.node_names and res.solver_optimal is None and not res.solver_placed.any()


def test_gpu_shares_packed_per_device():
    gpu = {"nvidia.com/gpu": 1}
    c = kpack.Cluster([node("g0", extra=gpu), node("g1", extra=gpu)])

    def share(name, milli):
        return kpack.Pod(name=name, requests={"cpu": "1", "nvidia.com/gpu": 1}, gpu_milli=milli)

    pods = [share("s1", 300), share("s2", 300), share("big", 800)]
    greedy = kpack.Scheduler().schedule(c.copy(), pods)
    assert greedy.node_names[2] is None
    res = kpack.Scheduler(fallback="cpsat").schedule(c, pods)
    assert all(res.node_names) and res.solver_placed.tolist() == [False, False, True]
    assert res.node_names[0] == res.node_names[1] != res.node_names[2]
    free = sorted(c.gpu_free[:, 0].tolist())
    assert free == [200, 400]


def test_the_solvers_share_packing_is_committed_with_its_devices():
    # Best-fit decreasing (the Cluster's own device rule) packs 500+400 | 300+300+300 and leaves the 200 out;
    # the solver's packing 500+300+200 | 400+300+300 fills both devices, and is bound with those devices.
    c = kpack.Cluster([node("g0", cpu="8", extra={"nvidia.com/gpu": 2})])
    pods = [kpack.Pod(name=f"s{i}", requests={"cpu": "1", "nvidia.com/gpu": 1}, gpu_milli=m)
            for i, m in enumerate([500, 400, 300, 300, 300, 200])]
    assert kpack.Scheduler().schedule(c.copy(), pods).node_names[5] is None
    s = kpack.Scheduler(fallback="cpsat")
    res = s.schedule(c, pods)
    assert "rejected" not in s.last_fallback_stats
    assert all(res.node_names) and res.solver_placed.tolist() == [False] * 5 + [True]
    assert c.gpu_free.tolist() == [[0, 0]]
    load = [0, 0]
    for p in pods:
        (d, m), = c.table.devices[c.table.find(p.key)]
        load[d] += m
    assert load == [1000, 1000]


def test_whole_gpus_need_free_devices():
    gpu = {"nvidia.com/gpu": 2}
    c = kpack.Cluster([node("g0", extra=gpu), node("g1", extra=gpu)])
    pods = [kpack.Pod(name="s", requests={"cpu": "1", "nvidia.com/gpu": 1}, gpu_milli=500),
            kpack.Pod(name="t", requests={"cpu": "1", "nvidia.com/gpu": 1}, gpu_milli=500),
            kpack.Pod(name="w", requests={"cpu": "1", "nvidia.com/gpu": 2})]
    res = kpack.Scheduler(fallback="cpsat").schedule(c, pods)
    assert all(res.node_names)
    w = res.node_names[2]
    assert res.node_names[0] != w and res.node_names[1] != w
    assert c.gpu_free[c.node_index[w]].tolist() == [0, 0]


def brute_force_max_placed(alloc, fixed_ok, reqs, placed_by_greedy):
    """Most pods placed over all assignments (greedy-placed pods must stay placed)."""
    n_nodes = len(alloc)
    best = -1
    for assign in itertools.product(range(-1, n_nodes), repeat=len(reqs)):
        if any(placed_by_greedy[i] and a < 0 for i, a in enumerate(assign)):
            continue
        load = np.zeros_like(alloc)
        ok = True
        for i, a in enumerate(assign):
            if a >= 0:
                if not fixed_ok[i][a]:
                    ok = False
                    break
                load[a] += reqs[i]
        if ok and (load <= alloc).all():
            best = max(best, sum(a >= 0 for a in assign))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_brute_force_tiny_random(seed):
    rng = random.Random(seed)
    n_nodes, n_pods = rng.randint(2, 3), rng.randint(3, 6)
    nodes = [node(f"n{i}", cpu=str(rng.randint(3, 6)), mem=f"{rng.randint(3, 6)}Gi", pods=3,
                  labels={"z": rng.choice("ab")}) for i in range(n_nodes)]
    pods = []
    for i in range(n_pods):
        sel = {"z": rng.choice("ab")} if rng.random() < 0.3 else {}
        pods.append(pod(f"p{i}", str(rng.randint(1, 4)), f"{rng.randint(1, 4)}Gi", node_selector=sel))
    c = kpack.Cluster(nodes)
    greedy = kpack.Scheduler(seed=seed).schedule(c.copy(), pods)
    res = kpack.Scheduler(seed=seed, fallback="cpsat").schedule(c, pods)
    alloc = np.array([[int(n.allocatable["cpu"]), n.allocatable["memory"], 3] for n in nodes])
    reqs = [np.array([p.requests["cpu"], p.requests["memory"], 1]) for p in pods]
    ok = [[all(n.labels.get(k) == v for k, v in p.node_selector.items()) for n in nodes] for p in pods]
    best = brute_force_max_placed(alloc, ok, reqs, [x is not None for x in greedy.node_names])
    assert res.scheduled == best if res.solver_optimal is not False else res.scheduled <= best
    assert res.scheduled >= greedy.scheduled
    for p, n in zip(pods, res.node_names):
        if n is not None:
            assert ok[pods.index(p)][c.node_index[n]]
    assert_consistent(c)


@pytest.mark.parametrize("kw, field", [
    ({"fallback": "gurobi"}, "fallback"),     # unknown names: SchedulingError from the hook registry
    ({"fallback": "cpsat", "fallback_time_limit": -1}, "fallback_time_limit"),
    ({"fallback": "cpsat", "fallback_time_limit": 0}, "fallback_time_limit"),
    ({"fallback": "cpsat", "fallback_time_limit": float("nan")}, "fallback_time_limit"),
    ({"fallback": "cpsat", "max_moves": -1}, "max_moves"),
    ({"fallback": "cpsat", "max_moves": 1.5}, "max_moves"),
    ({"fallback": "cpsat", "fallback_workers": 0}, "fallback_workers"),
])
def test_bad_options(kw, field):
    err = kpack.SchedulingError if kw["fallback"] == "gurobi" else SolverError
    with pytest.raises(err, match=field):
        kpack.Scheduler(**kw)
    assert issubclass(SolverError, kpack.SchedulingError)


MANIFESTS = """
apiVersion: v1
kind: Node
metadata: {name: n0}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "10"}}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "10"}}
---
apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c, resources: {requests: {cpu: "2"}}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec: {containers: [{name: c, resources: {requests: {cpu: "2"}}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: big}
spec: {containers: [{name: c, resources: {requests: {cpu: "4"}}}]}
"""


def test_cli_schedule_shows_solver_column(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    f.write_text(MANIFESTS)
    assert main(["schedule", "-f", str(f)]) == 0
    assert "SOLVER" not in capsys.readouterr().out
    assert main(["schedule", "-f", str(f), "--fallback", "cpsat"]) == 0
    out = capsys.readouterr().out
    assert "SOLVER" in out
    line = next(x for x in out.splitlines() if x.startswith("default/big"))
    assert "placed" in line and "<pending>" not in line


def test_infeasible_answers_are_refused(monkeypatch):
    """Whatever the model returns is re-checked: an over-full node is refused and greedy stands."""
    import kpack.solver.fallback as fb

    def all_on_first_node(groups, greedy, dev_mode, yv, sv, value=None):
        return np.zeros_like(greedy), [], ({} if value is not None else None)

    monkeypatch.setattr(fb, "_concretize", all_on_first_node)
    c = kpack.Cluster([node("n0"), node("n1")])
    pods = [pod("a", "2"), pod("b", "2"), pod("big", "4")]
    greedy = kpack.Scheduler().schedule(c.copy(), pods)
    with pytest.warns(RuntimeWarning, match="over allocatable"):
        res = kpack.Scheduler(fallback="cpsat").schedule(c, pods)
    assert res.node_names == greedy.node_names and not res.solver_placed.any()
    assert_consistent(c)
