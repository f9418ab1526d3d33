"""The bin-emptying local search: packings stay feasible, perfect packings built by construction are found,
and the kernel's loads and overflow agree with a recount."""
import time

import numpy as np
import pytest

from kpack.solver.heuristics import Instance, Packing, best_heuristic, ffd, lower_bound
from kpack.solver.localsearch import empty_bins, overflow_kernel
from kpack.solver.planning import check_packing, solve


@pytest.fixture(autouse=True, scope="module")
def compiled():
    """Compile the kernel before any test times it."""
    w = np.ones((2, 1), dtype=np.int64)
    overflow_kernel(w, np.ones(1, np.int64), np.ones(1), np.zeros(2, np.int64), np.array([[2]], np.int64),
                    np.zeros((2, 1), np.int64), np.ones(1), 0, 1, 0)


def perfect(k: int, seed: int, cap=(100, 100), shrink: int = 0):
    """k bins cut into 3 or 4 items that fill them exactly in both dimensions (less `shrink` per item),
    shuffled: k bins suffice by construction."""
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(k):
        parts = int(rng.integers(3, 5))
        cols = []
        for c in cap:
            cuts = np.sort(rng.choice(np.arange(1, c), size=parts - 1, replace=False))
            cols.append(np.diff(np.concatenate([[0], cuts, [c]])))
        items += list(zip(*cols))
    sizes = np.maximum(np.array(items, dtype=np.int64) - shrink, 1)[rng.permutation(len(items))]
    return sizes, np.array([cap], dtype=np.int64)


def feasible(sizes, cap, bins):
    assert sorted(i for b in bins for i in b) == list(range(len(sizes)))
    for b in bins:
        assert (sizes[b].sum(axis=0) <= cap).all()


@pytest.mark.parametrize("seed", range(4))
def test_finds_packings_that_ffd_misses(seed):
    sizes, cap = perfect(10, seed, shrink=1)
    inst = Instance(sizes, cap, np.ones((len(sizes), 1), bool), np.ones(1, np.int64))
    start = ffd(inst)
    lb, _ = lower_bound(inst)
    assert lb == 10
    assert len(start.items) > 10
    bins = empty_bins(sizes, cap[0], start.items, lb, time.perf_counter() + 20.0, seed=seed)
    feasible(sizes, cap[0], bins)
    assert len(bins) == 10


def test_never_worse_and_keeps_the_deadline():
    sizes, cap = perfect(12, 7)
    inst = Instance(sizes, cap, np.ones((len(sizes), 1), bool), np.ones(1, np.int64))
    start = ffd(inst)
    # A deadline in the past: the input comes back unchanged.
    assert empty_bins(sizes, cap[0], start.items, 12, time.perf_counter() - 1.0) == start.items
    t = time.perf_counter()
    bins = empty_bins(sizes, cap[0], start.items, 0, t + 0.5)     # lb 0: runs until the deadline
    assert time.perf_counter() - t < 0.5 + 0.5
    feasible(sizes, cap[0], bins)
    assert len(bins) <= len(start.items)


def test_kernel_state_matches_a_recount():
    rng = np.random.default_rng(3)
    n, k, D = 40, 6, 2
    w = rng.integers(5, 60, size=(n, D)).astype(np.int64)
    cap = np.array([150, 140], dtype=np.int64)
    scale = 1.0 / cap
    bin_of = rng.integers(0, k, size=n).astype(np.int64)
    load = np.zeros((k, D), dtype=np.int64)
    for i in range(n):
        load[bin_of[i]] += w[i]
    tabu = np.zeros((n, k), dtype=np.int64)
    bw = np.ones(k)
    it = 0
    for r in range(20):
        done, over = overflow_kernel(w, cap, scale, bin_of, load, tabu, bw, it, 25, r)
        it += done
        recount = np.zeros((k, D), dtype=np.int64)
        for i in range(n):
            recount[bin_of[i]] += w[i]
        assert (recount == load).all()
        assert over == pytest.approx((np.maximum(load - cap, 0) * scale).sum())
        assert (bin_of >= 0).all() and (bin_of < k).all()


def test_solve_reaches_the_bound_the_greedy_packings_miss():
    sizes, cap = perfect(10, 0, shrink=1)
    inst = Instance(sizes, cap, np.ones((len(sizes), 1), bool), np.ones(1, np.int64))
    assert len(best_heuristic(inst)[0].items) > 10
    out = solve(inst, 10.0)
    check_packing(inst, out.packing)
    assert isinstance(out.packing, Packing)
    assert out.lower_bound == 10 and out.optimal and len(out.packing.shape) == 10
