"""The compiled replay loop (kpack.sim.fast) gives exactly what the Python replay loop gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kpack.sim.gen import generate
from kpack.sim.replay import Replay, SimOptions
from kpack.sim.schema import EVENTS_FILE, NODES_FILE, PODS_FILE, write_table

DEMO = Path(__file__).resolve().parents[1] / "datasets" / "trace-demo"
GI = 1 << 30


def rows(out: Path) -> list:
    t = pq.read_table(out / "placements.parquet").to_pylist()
    return sorted(t, key=lambda r: (r["namespace"] or "", r["pod"], r["arrival"], r["outcome"]))


def both(trace: Path, tmp: Path, **kw) -> tuple:
    fast = Replay(trace, SimOptions(**kw)).run(tmp / "fast")
    slow = Replay(trace, SimOptions(fast=False, **kw)).run(tmp / "slow")
    assert fast.timing["path"] == "fast" and slow.timing["path"] == "python"
    return fast, slow


def assert_same(fast, slow, tmp: Path) -> None:
    assert fast.summary == slow.summary
    assert fast.metrics.equals(slow.metrics)
    assert np.array_equal(fast.wait, slow.wait)
    assert rows(tmp / "fast") == rows(tmp / "slow")


def test_fast_equals_python_on_the_demo_trace(tmp_path):
    fast, slow = both(DEMO, tmp_path)
    assert fast.summary["placements"] > 5000 and fast.summary["node_events"]
    assert_same(fast, slow, tmp_path)


@pytest.mark.parametrize("seed,nodes,pods,load,window", [
    (0, 20, 500, 0.9, 0),
    (1, 8, 400, 1.5, 0),        # overloaded: long pending queues and pruned retries
    (2, 30, 600, 1.1, 60),      # windowed times
    (3, 5, 300, 2.0, 0),        # tiny cluster, node adds/failures/removals in play
])
def test_fast_equals_python_on_generated_traces(tmp_path, seed, nodes, pods, load, window):
    generate(tmp_path / "t", nodes, pods, seed=seed, load=load)
    fast, slow = both(tmp_path / "t", tmp_path, seed=seed, window=window)
    assert fast.summary["placements"] > 0
    assert_same(fast, slow, tmp_path)


def test_fast_equals_python_with_retry_all(tmp_path):
    generate(tmp_path / "t", 10, 400, seed=9, load=1.4)
    fast, slow = both(tmp_path / "t", tmp_path, seed=4, retry_all=True)
    assert_same(fast, slow, tmp_path)


@pytest.mark.parametrize("ends", ["duration", "departure"])
def test_fast_equals_python_on_edge_cases(tmp_path, ends):
    """Zero durations, fixed departures (also of pending pods), priorities, cordon/uncordon, evictions,
    a selector nothing matches, and pods pinned to a node."""
    rng = np.random.default_rng(7)
    P = 300
    arrival = np.sort(rng.integers(0, 400, P))
    dur = rng.choice([0, 1, 5, 30, 200], P)
    pods = {
        "name": [f"p{i}" for i in range(P)],
        "arrival": arrival,
        ends: dur if ends == "duration" else pa.array(arrival + rng.integers(0, 100, P),
                                                       mask=rng.random(P) < 0.2),
        "cpu": rng.choice([100, 500, 1500], P),
        "memory": rng.choice([GI // 4, GI, 3 * GI], P),
        "priority": rng.choice([0, 0, 10, 100], P),
        "node_selector": [[("disk", "ssd")] if i % 37 == 0 else ([("zone", "nowhere")] if i % 101 == 0
                                                                   else []) for i in range(P)],
        "pinned_node": [f"n{i % 4}" if i % 23 == 0 else None for i in range(P)],
    }
    nodes = {
        "name": [f"n{i}" for i in range(4)],
        "cpu": [2000, 2000, 1000, 4000],
        "memory": [4 * GI, 8 * GI, 2 * GI, 8 * GI],
        "labels": [[("disk", "ssd")], [], [], [("disk", "ssd")]],
        "add_time": [0, 0, 0, 50],
        "fail_time": pa.array([None, 120, None, None], pa.int64()),
    }
    d = tmp_path / "t"
    write_table(d, NODES_FILE, nodes)
    write_table(d, PODS_FILE, pods)
    write_table(d, EVENTS_FILE, {"time": [30, 90, 150], "kind": ["Node"] * 3, "name": ["n0", "n0", "n2"],
                                 "action": ["cordon", "uncordon", "cordon"]})
    fast, slow = both(d, tmp_path)
    assert fast.summary["evictions"] > 0
    assert fast.summary["deleted_while_pending"] > 0 or ends == "duration"
    assert_same(fast, slow, tmp_path)


def test_fast_path_is_skipped_with_a_reason(tmp_path):
    generate(tmp_path / "t", 10, 100, seed=1)
    res = Replay(tmp_path / "t", SimOptions(policy="best-fit")).run(tmp_path / "o")
    assert res.timing["path"] == "python" and "policy" in res.timing["fast_path_skipped"]


def test_pod_classes_of_a_sliced_batch():
    """Record batches cut from a larger row group are slices: their list/map values must be this slice's."""
    from kpack.sim.replay import _nested_ids

    m = pa.map_(pa.string(), pa.string())
    a = pa.array([[("k", "v")], [], [("a", "b"), ("k", "v")], [("z", "1")]], m)
    ids, vals = _nested_ids(a.slice(2, 2), ("key", "value"))
    assert [vals[i] for i in ids] == [[("a", "b"), ("k", "v")], [("z", "1")]]


def test_compiled_sample_equals_metrics_fragmentation():
    """sampling.sample_stats (the compiled loop's samples) agrees with metrics.fragmentation and the
    Python loop's sums on random node states."""
    from kpack.sim.loop import BOUND, FREE, PENDING
    from kpack.sim.metrics import fragmentation
    from kpack.sim.sampling import sample_stats

    rng = np.random.default_rng(5)
    for _ in range(200):
        n, r = int(rng.integers(1, 60)), 4
        alloc = rng.integers(0, 64000, (n, r)).astype(np.int64)
        req = np.minimum(alloc, rng.integers(0, 64000, (n, r))).astype(np.int64)
        present = rng.random(n) < 0.8
        unsched = rng.random(n) < 0.2
        state = rng.choice([FREE, PENDING, BOUND], 50).astype(np.int8)
        ref = rng.choice([0.0, 500.0, 4000.0, 1e9], 2) * rng.random()

        class View:
            def free_matrix(self):
                return alloc - req, unsched

        used, capv = np.zeros(r, np.int64), np.zeros(r, np.int64)
        p, b, f = sample_stats(alloc, req, present, unsched, state, ref[0], ref[1], used, capv)
        assert f == fragmentation(View(), present, ref)
        assert (p, b) == ((state == PENDING).sum(), (state == BOUND).sum())
        assert np.array_equal(used, req[present].sum(axis=0))
        assert np.array_equal(capv, alloc[present].sum(axis=0))
