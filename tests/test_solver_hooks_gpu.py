"""Solver seams and newer pieces: the scheduler's fallback hook registry, the fallback honouring the
scheduler's compiled classes (addedAffinity), branch-and-bound pricing, the column generation dive, and GPU
defragmentation on device arrays."""
import itertools

import numpy as np
import pytest

import kpack
from kpack import scheduler as sched_mod
from kpack.solver.colgen import column_generation, dive, knapsack_bb
from kpack.solver.gpu_defrag import (
    FULL,
    GpuState,
    apply_repack,
    check_state,
    defrag,
    repack_neighbourhood,
    unallocated_lower_bound,
)
from kpack.solver.heuristics import Instance
from kpack.solver.planning import check_packing, solve


def cfg(plugin_config):
    return {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
            "profiles": [{"pluginConfig": plugin_config}]}


def node(name, cpu="4", **kw):
    return kpack.Node(name=name, allocatable={"cpu": cpu, "memory": "8Gi", "pods": 10}, **kw)


def pod(name, cpu):
    return kpack.Pod(name=name, requests={"cpu": cpu})


# --- hook registry -------------------------------------------------------------------------------------
def test_cpsat_is_registered_by_import_and_unknown_names_fail():
    assert "cpsat" in sched_mod.FALLBACKS
    with pytest.raises(kpack.SchedulingError, match="fallback: unknown solver 'nope'"):
        kpack.Scheduler(fallback="nope")
    with pytest.raises(kpack.SchedulingError, match="fallback name"):
        sched_mod.register_fallback("", lambda *a: None, lambda *a: None)


def test_a_registered_hook_runs_after_the_greedy_pass():
    calls = []
    sched_mod.register_fallback("probe", lambda t, m, w: calls.append(("check", t, m, w)),
                                lambda s, before, cluster, res: calls.append(("run", list(res.node_names))))
    try:
        c = kpack.Cluster([node("n0")])
        kpack.Scheduler(fallback="probe", fallback_time_limit=2.0).schedule(c, [pod("a", "1"), pod("b", "8")])
        assert calls == [("check", 2.0, 0, 2), ("run", ["n0", None])]
    finally:
        del sched_mod.FALLBACKS["probe"]


def test_fallback_honours_added_affinity():
    prof = kpack.Profile.from_k8s(cfg([{"name": "NodeAffinity", "args": {"addedAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["x"]}]}]}}}}]))
    nodes = [node("a", labels={"pool": "x"}), node("b", labels={"pool": "x"}),
             node("c", cpu="16", labels={"pool": "z"})]
    c = kpack.Cluster(nodes)
    res = kpack.Scheduler(prof, fallback="cpsat").schedule(c, [pod("p1", "3"), pod("p2", "3"),
                                                              pod("big", "4")])
    # Only c could take `big`, and the scheduler-enforced affinity excludes it: nothing to gain, proven.
    assert res.node_names[2] is None and not res.solver_placed.any()
    assert res.solver_optimal is True
    assert "c" not in res.node_names


def test_plan_honours_added_affinity():
    prof = kpack.Profile.from_k8s(cfg([{"name": "NodeAffinity", "args": {"addedAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["x"]}]}]}}}}]))
    shapes = [node("small", labels={"pool": "x"}), node("big", cpu="64", labels={"pool": "z"})]
    pods = [pod(f"p{i}", "2") for i in range(4)]
    assert kpack.plan(pods, shapes, time_limit=2.0).counts == {"small": 0, "big": 1}
    p = kpack.plan(pods, shapes, time_limit=2.0, profile=prof)
    assert p.counts == {"small": 2, "big": 0} and p.optimal


# --- column generation pieces --------------------------------------------------------------------------
def test_branch_and_bound_knapsack_matches_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(25):
        n = int(rng.integers(1, 9))
        w = rng.integers(1, 50, size=(n, 2)).astype(np.float64)
        val = rng.random(n) + 0.01
        cap = np.array([60.0, 70.0])
        vol = (w / cap).sum(axis=1)
        order = np.argsort(-(val / vol), kind="stable")
        best, sel, proven = knapsack_bb(w[order], val[order], cap, 10**6)
        brute = max(sum(val[list(s)]) for r in range(n + 1) for s in itertools.combinations(range(n), r)
                    if (w[list(s)].sum(axis=0) <= cap).all())
        assert proven and best == pytest.approx(brute)
        assert (w[order][sel].sum(axis=0) <= cap).all()


def test_column_generation_bound_and_dive_on_an_exact_tiling():
    # 12 items that tile 4 bins exactly (3 per bin); the simple volume bound is also 4.
    sizes = np.array([[5, 2], [3, 4], [2, 4]] * 4, dtype=np.int64)
    cap = np.array([10, 10], dtype=np.int64)
    lb, pool = column_generation(sizes, cap, [[i] for i in range(12)], deadline=1e18, target=12)
    assert lb == 4
    bins = dive(sizes, cap, pool, deadline=1e18)
    assert bins is not None and len(bins) == 4
    late = dive(sizes, cap, pool, deadline=0.0)      # out of time at once: first-fit decreasing, still valid
    inst = Instance(sizes, cap[None, :], np.ones((12, 1), bool), np.ones(1, np.int64))
    check_packing(inst, kpack.solver.heuristics.Packing([0] * len(late), late))
    out = solve(inst, 2.0)
    check_packing(inst, out.packing)
    assert len(out.packing.shape) == 4 and out.optimal


# --- GPU defragmentation --------------------------------------------------------------------------------
def two_nodes() -> tuple[GpuState, dict]:
    """Two nodes with one device each: a 500-milli share on n0, a 400-milli share on n1; a whole-GPU pod
    is pending. Moving the 400 share onto n0's device frees n1's device."""
    st = GpuState(free=np.array([[500], [600]], dtype=np.int32), ndev=np.array([1, 1]),
                  cpu=np.array([6000, 6000]), mem=np.array([1000, 1000]), model=np.array([0, 0]),
                  node=np.array([0, 1]), pcpu=np.array([2000, 2000]), pmem=np.array([100, 100]),
                  k=np.array([1, 1]), g=np.array([500, 400]), mask=np.array([-1, -1]),
                  dev=np.array([0, 0]), devmask=np.array([0, 0]))
    pending = {"cpu": np.array([4000]), "mem": np.array([100]), "k": np.array([1]), "g": np.array([FULL]),
               "mask": np.array([-1])}
    return st, pending


TOTAL_CPU, TOTAL_MEM = np.array([8000, 8000]), np.array([1100, 1100])


def extra_rows(res, pending):
    return [(n, int(pending["cpu"][i]), int(pending["mem"][i]), int(pending["k"][i]), int(pending["g"][i]),
             d if pending["g"][i] < FULL else -1, d if pending["g"][i] >= FULL else 0, -1)
            for i, n, d in res]


def test_defrag_moves_one_share_to_free_a_device():
    st, pending = two_nodes()
    check_state(st, TOTAL_CPU, TOTAL_MEM)
    assert defrag(st, pending, max_moves=0).placed == []
    r = defrag(st, pending, max_moves=1)
    assert r.placed_milli == FULL and r.moves == [(1, 1, 0)]
    assert r.state.node.tolist() == [0, 0] and r.state.free.tolist() == [[100], [0]]
    check_state(r.state, TOTAL_CPU, TOTAL_MEM, extra_rows(r.placed, pending))
    assert st.node.tolist() == [0, 1]            # the input state is not changed


def test_neighbourhood_repack_finds_the_same_move():
    st, pending = two_nodes()
    ans = repack_neighbourhood(st, np.array([0, 1]), pending, np.array([0]), budget=1, time_limit=5.0)
    assert ans is not None
    placements, moved = ans
    assert len(placements) == 1 and len(moved) == 1
    new, rows, milli = apply_repack(st, pending, placements, moved)
    assert milli == FULL
    check_state(new, TOTAL_CPU, TOTAL_MEM, extra_rows(rows, pending))
    assert repack_neighbourhood(st, np.array([0, 1]), pending, np.array([0]), budget=0,
                                time_limit=5.0) is None


def test_check_state_catches_an_over_committed_device():
    st, _ = two_nodes()
    st.free[1, 0] = 1000      # claims n1's device is free although a 400 share runs there
    with pytest.raises(AssertionError, match="do not match"):
        check_state(st, TOTAL_CPU, TOTAL_MEM)


def test_lower_bound_lp_counts_model_and_cpu_limits():
    ndev, cpu, mem, model = np.array([1, 1]), np.array([8000, 8000]), np.array([1000, 1000]), np.array([0, 1])
    # three whole-GPU pods; one may only use model 1; one needs more CPU than any node has
    pods = {"cpu": np.array([1000, 1000, 9000]), "mem": np.array([1, 1, 1]), "k": np.array([1, 1, 1]),
            "g": np.array([FULL, FULL, FULL]), "mask": np.array([-1, 0b10, -1])}
    bound, _ = unallocated_lower_bound(ndev, cpu, mem, model, pods)
    assert bound == pytest.approx(2 * FULL)
