"""The device-aware GPU bound: never below the most GPU any placement allocates (brute force on tiny
instances), never above the aggregate LP bound, and exact where sharing sizes strand device remainders."""
import itertools

import numpy as np
import pytest

from kpack.solver.gpu_defrag import FULL, best_pattern, device_lower_bound, unallocated_lower_bound


def brute_force(ndev, cpu, mem, model, pods) -> int:
    """Most GPU milli allocated by any placement (each pod on one node or not at all; sharing pods on one
    device each, whole-GPU pods on k fully free devices)."""
    n_pods = len(pods["k"])
    best = 0

    def rec(i, free, cpu_left, mem_left, got):
        nonlocal best
        best = max(best, got)
        if i == n_pods:
            return
        rec(i + 1, free, cpu_left, mem_left, got)          # pod i left out
        c, m, k, g, mask = (int(pods[x][i]) for x in ("cpu", "mem", "k", "g", "mask"))
        for n in range(len(ndev)):
            if cpu_left[n] < c or mem_left[n] < m or model[n] < 0 or not ((mask >> int(model[n])) & 1):
                continue
            cl, ml = cpu_left.copy(), mem_left.copy()
            cl[n] -= c
            ml[n] -= m
            if g < FULL:
                for d in range(ndev[n]):
                    if free[n][d] >= g:
                        f = [list(r) for r in free]
                        f[n][d] -= g
                        rec(i + 1, f, cl, ml, got + g)
            else:
                whole = [d for d in range(ndev[n]) if free[n][d] == FULL]
                for ds in itertools.combinations(whole, k):
                    f = [list(r) for r in free]
                    for d in ds:
                        f[n][d] = 0
                    rec(i + 1, f, cl, ml, got + k * FULL)

    rec(0, [[FULL] * int(d) for d in ndev], np.array(cpu), np.array(mem), 0)
    return best


def test_sharing_remainders_are_stranded():
    # Two devices, three 810 shares and two small ones: at most 810 + 190 and 810 + 100 fit.
    pods = {"cpu": np.ones(5, int), "mem": np.ones(5, int), "k": np.ones(5, int),
            "g": np.array([810, 810, 810, 190, 100]), "mask": np.full(5, -1)}
    args = (np.array([2]), np.array([100]), np.array([100]), np.array([0]), pods)
    assert unallocated_lower_bound(*args)[0] == pytest.approx(2 * FULL)
    assert device_lower_bound(*args)[0] == pytest.approx(1910)
    assert brute_force(*args) == 1910


@pytest.mark.parametrize("seed", range(12))
def test_bound_is_valid_and_no_weaker_than_the_aggregate_lp(seed):
    rng = np.random.default_rng(seed)
    n_nodes = int(rng.integers(1, 3))
    ndev = rng.integers(1, 3, size=n_nodes)
    cpu = rng.choice([4000, 8000], size=n_nodes)
    mem = rng.choice([1000, 2000], size=n_nodes)
    model = rng.integers(0, 2, size=n_nodes)
    n = int(rng.integers(3, 6))
    k = rng.choice([1, 1, 1, 2], size=n)
    g = np.where(k > 1, FULL, rng.choice([FULL, 810, 650, 470, 320, 190, 110], size=n))
    pods = {"cpu": rng.choice([1000, 2000, 3000], size=n), "mem": rng.choice([100, 500, 900], size=n),
            "k": k, "g": g, "mask": rng.choice([-1, -1, 0b01, 0b10], size=n)}
    args = (ndev, cpu, mem, model, pods)
    exact = brute_force(*args)
    dev, _ = device_lower_bound(*args)
    agg, _ = unallocated_lower_bound(*args)
    assert exact <= dev + 1e-6
    assert dev <= agg + 1e-6


def test_stopping_early_keeps_the_bound_valid():
    rng = np.random.default_rng(5)
    n = 40
    pods = {"cpu": np.ones(n, int), "mem": np.ones(n, int), "k": np.ones(n, int),
            "g": rng.choice([810, 650, 470, 320, 230, 160, 110, 50], size=n), "mask": np.full(n, -1)}
    args = (np.array([4, 2]), np.array([100, 100]), np.array([100, 100]), np.array([0, 0]), pods)
    full, _ = device_lower_bound(*args)
    early, _ = device_lower_bound(*args, max_rounds=1)
    assert early >= full - 1e-6


def test_best_pattern_is_the_best_device_fill():
    sizes = np.array([810, 470, 320, 190], dtype=np.int64)
    value = np.array([1.0, 0.6, 0.5, 0.3])
    val, counts = best_pattern(sizes, value)
    assert (sizes * counts).sum() <= FULL
    brute = max(sum(c * v for c, v in zip(cs, value))
                for cs in itertools.product(*[range(FULL // int(w) + 1) for w in sizes])
                if sum(c * int(w) for c, w in zip(cs, sizes)) <= FULL)
    assert val == pytest.approx(brute)
    assert float((counts * value).sum()) == pytest.approx(val)
