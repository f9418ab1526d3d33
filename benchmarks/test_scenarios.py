"""Scenario throughput through pytest-benchmark: kpack's indexed engine (cluster built from arrays + schedule,
both timed) against the per-pod NumPy baseline, exhaustive and sampled, with a placement-equality check.

    pytest benchmarks/ --benchmark-columns=median,min,max,rounds
"""
import numpy as np
import pytest

from kpack.bench import runner
from kpack.bench import scenarios as S

from numpy_baseline import NumpyScheduler

SMALL = ["SchedulingBasic/5000Nodes/10000Pods", "NodeSelectorTaints/5000Nodes/10000Pods",
         "DaemonSets/5000Nodes/5DaemonSets"]
MODES = {"exhaustive": True, "sampled": False}
_cache: dict = {}


def scenario(name):
    if name not in _cache:
        _cache[name] = S.SCENARIOS[name]()
    return _cache[name]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", SMALL)
def test_kpack_indexed(benchmark, name, mode):
    sc = scenario(name)
    runner.run_kpack(sc, MODES[mode], "indexed")            # warm the Numba cache
    benchmark.group = f"{name} {mode}"
    benchmark.extra_info["pods"] = sc.n_pods
    dt, res, stats = benchmark.pedantic(runner.run_kpack, args=(sc, MODES[mode], "indexed"), rounds=5, iterations=1)
    benchmark.extra_info["engine_stats"] = repr(stats)
    assert stats.indexed_pods == sc.n_pods


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", SMALL)
def test_numpy_baseline_prefix(benchmark, name, mode):
    sc = scenario(name)
    n = 300
    benchmark.group = f"{name} {mode}"
    benchmark.extra_info["pods"] = n

    def go():
        c = sc.cluster()
        return NumpyScheduler(S.profile(MODES[mode]), 0).schedule(c, sc.specs, sc.spec_index[:n])
    out = benchmark.pedantic(go, rounds=2, iterations=1)
    _, res, _ = runner.run_kpack(sc, MODES[mode], "indexed", n)
    assert np.array_equal(out, res.node_index)


@pytest.mark.parametrize("mode", MODES)
def test_heterogeneous_prefix(benchmark, mode):
    sc = scenario("Heterogeneous/100000Nodes/1000000Pods")
    n = 5000
    benchmark.group = f"Heterogeneous prefix {n} {mode}"
    benchmark.extra_info["pods"] = n
    dt, res, stats = benchmark.pedantic(runner.run_kpack, args=(sc, MODES[mode], "indexed", n), rounds=1,
                                        iterations=1)
    benchmark.extra_info["engine_stats"] = repr(stats)
