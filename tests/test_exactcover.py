"""The exact cover at the bound (kpack.solver.exactcover): its bin list and its search against brute force."""
import itertools
import time

import numpy as np
import pytest

from kpack.solver.exactcover import PerfectPacking, perfect_packing, window_patterns
from kpack.solver.heuristics import Instance
from kpack.solver.planning import check_packing, solve


def brute_bins(sizes: np.ndarray, cap: np.ndarray) -> int:
    """Fewest bins, by dynamic programming over subsets."""
    n = len(sizes)
    fits = np.zeros(1 << n, dtype=bool)
    for mask in range(1 << n):
        idx = [i for i in range(n) if mask >> i & 1]
        fits[mask] = (sizes[idx].sum(axis=0) <= cap).all() if idx else True
    best = [0] + [n + 1] * ((1 << n) - 1)
    for mask in range(1, 1 << n):
        low = mask & -mask
        sub = mask
        while sub:
            if sub & low and fits[sub]:
                best[mask] = min(best[mask], best[mask ^ sub] + 1)
            sub = (sub - 1) & mask
    return best[-1]


def valid(sizes, cap, bins, k) -> bool:
    seen = sorted(i for b in bins for i in b)
    return len(bins) == k and seen == list(range(len(sizes))) and all((sizes[b].sum(axis=0) <= cap).all()
                                                                      for b in bins)


def perfect_instance(rng, k: int, per_bin: int, cap: np.ndarray) -> np.ndarray:
    """k bins cut exactly into per_bin items each (every bin full in every dimension), shuffled."""
    items = []
    for _ in range(k):
        cuts = [np.diff(np.concatenate([[0], np.sort(rng.choice(np.arange(1, c), per_bin - 1, replace=False)),
                                        [c]])) for c in cap]
        items += [list(t) for t in zip(*cuts)]
    items = np.array(items, dtype=np.int64)
    return items[rng.permutation(len(items))]


@pytest.mark.parametrize("seed", range(30))
def test_window_patterns_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 10))
    cap = rng.integers(10, 30, size=2)
    sizes = rng.integers(1, 15, size=(n, 2))
    slack = rng.integers(0, 12, size=2)
    order = np.lexsort((-sizes[:, 1], -sizes[:, 0]))
    w = np.ascontiguousarray(sizes[order])
    pats, P, complete = window_patterns(w, cap, slack, 10_000, 1_000_000)
    assert complete
    got = sorted(tuple(sorted(int(t) for t in row if t >= 0)) for row in pats[:P])
    want = sorted(s for r in range(1, n + 1) for s in itertools.combinations(range(n), r)
                  if ((w[list(s)].sum(axis=0) <= cap) & (w[list(s)].sum(axis=0) >= cap - slack)).all())
    assert got == want


@pytest.mark.parametrize("seed", range(40))
def test_exact_cover_agrees_with_brute_force(seed):
    """At the volume bound k: a packing found has k bins and is valid; 'proven' means brute force needs
    more than k; with a complete list and time, one of the two always happens."""
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 10))
    cap = np.array([20, 20])
    sizes = rng.integers(2, 14, size=(n, 2))
    k = int(np.ceil((sizes.sum(axis=0) / cap).max()))
    bins, proven = perfect_packing(sizes, cap, k, time.perf_counter() + 300)
    opt = brute_bins(sizes, cap)
    assert (bins is not None) != proven
    if bins is not None:
        assert opt == k and valid(sizes, cap, bins, k)
    else:
        assert opt > k


@pytest.mark.parametrize("seed", range(8))
def test_perfect_packings_are_found(seed):
    rng = np.random.default_rng(seed)
    cap = np.array([100, 60])
    sizes = perfect_instance(rng, k=int(rng.integers(4, 12)), per_bin=3, cap=cap)
    k = len(sizes) // 3
    bins, proven = perfect_packing(sizes, cap, k, time.perf_counter() + 300)
    assert not proven and bins is not None and valid(sizes, cap, bins, k)


def test_proves_the_volume_bound_one_short():
    # Three items of 6 in bins of 10: two bins by volume, but no two items share a bin.
    sizes = np.array([[6, 6]] * 3)
    search = PerfectPacking(sizes, np.array([10, 10]), 2, time.perf_counter() + 300)
    assert search.ready and search.run(time.perf_counter() + 300) is None and search.proven


def test_not_tried_when_the_slack_is_large():
    sizes = np.array([[3, 3]] * 4)
    # Slack 8 of 10 per dimension.
    search = PerfectPacking(sizes, np.array([10, 10]), 2, time.perf_counter() + 300, near=0.5)
    assert not search.ready and not search.proven


def test_solve_finds_a_perfect_packing_with_many_items_per_bin():
    """40 bins of 3 exact-fit items each: the optimum is the volume bound and solve() must reach it."""
    rng = np.random.default_rng(7)
    cap = np.array([1000, 1000])
    sizes = perfect_instance(rng, k=40, per_bin=3, cap=cap)
    inst = Instance(sizes, cap[None, :], np.ones((len(sizes), 1), bool), np.ones(1, np.int64))
    # A generous limit: solve() returns as soon as the packing meets the bound, and a cold Numba cache (a
    # fresh checkout) spends seconds of the limit compiling.
    out = solve(inst, 60.0)
    check_packing(inst, out.packing)
    assert out.optimal and len(out.packing.shape) == 40 and out.lower_bound == 40


def test_solve_bounds_agree_with_brute_force_on_near_perfect_instances():
    """Tiny instances whose volume bound leaves little slack: solve()'s bound never exceeds the optimum, a
    claimed optimum is the optimum, and the exact cover proves the volume bound one short on some of them
    (never wrongly)."""
    decided = 0
    for seed in range(60):
        rng = np.random.default_rng(1000 + seed)
        cap = np.array([20, 20])
        sizes = perfect_instance(rng, k=3, per_bin=3, cap=cap)
        sizes = sizes[:-1].copy()                      # one item fewer: a little slack
        sizes[: 2] += rng.integers(0, 3, size=(2, 2))  # and a little noise
        sizes = np.minimum(sizes, cap)
        inst = Instance(sizes, cap[None, :], np.ones((len(sizes), 1), bool), np.ones(1, np.int64))
        out = solve(inst, 2.0)
        check_packing(inst, out.packing)
        opt = brute_bins(sizes, cap)
        assert out.lower_bound <= opt <= len(out.packing.shape)
        assert out.optimal == (len(out.packing.shape) == out.lower_bound)
        k = int(np.ceil((sizes.sum(axis=0) / cap).max()))
        search = PerfectPacking(sizes, cap, k, time.perf_counter() + 300, near=0.5)
        search.run(time.perf_counter() + 300)
        if search.proven:
            assert opt > k
            decided += 1
    assert decided > 0
