"""Remembered failure verdicts in the compiled replay (loop.mem_update) change nothing: the outputs equal a
full scan per attempt, byte for byte, on random traces with node joins, failures, departures and cordons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from kpack.sim import fast
from kpack.sim.metrics import write_outputs
from kpack.sim.replay import Replay, SimOptions
from kpack.sim.schema import EVENTS_FILE, NODES_FILE, PODS_FILE, write_table

GI = 1 << 30
OUTS = ("placements.parquet", "metrics.parquet", "summary.json")


def random_trace(d: Path, seed: int, n_nodes: int, n_pods: int) -> None:
    """An overloaded cluster: selectors (candidate lists), taints, pinned pods, joins, failures, removals,
    cordons and uncordons; pods end by duration (even seeds) or at a departure time, also while pending."""
    rng = np.random.default_rng(seed)
    N = n_nodes
    add = np.sort(np.where(rng.random(N) < 0.2, rng.integers(1, 300, N), 0))
    fail = np.where(rng.random(N) < 0.3, add + rng.integers(20, 400, N), -1)
    remove = np.where((fail < 0) & (rng.random(N) < 0.3), add + rng.integers(20, 400, N), -1)
    nodes = {
        "name": [f"n{i}" for i in range(N)],
        "cpu": rng.choice([1000, 2000, 4000, 8000], N),
        "memory": rng.choice([2 * GI, 4 * GI, 8 * GI, 16 * GI], N),
        "pods": rng.choice([4, 8, 110], N),
        "labels": [[("zone", f"z{i % 3}")] + ([("disk", "ssd")] if rng.random() < 0.5 else [])
                   for i in range(N)],
        "taints": [[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}] if rng.random() < 0.1 else []
                   for _ in range(N)],
        "add_time": add,
        "fail_time": pa.array(fail, mask=fail < 0),
        "remove_time": pa.array(remove, mask=remove < 0),
    }
    P = n_pods
    arrival = np.sort(rng.integers(0, 600, P))
    ends = ({"duration": rng.choice([0, 5, 30, 120, 400], P)} if seed % 2 == 0 else
            {"departure": pa.array(arrival + rng.integers(1, 300, P), mask=rng.random(P) < 0.05)})
    tol = [{"key": "dedicated", "operator": "Exists", "value": "", "effect": "NoSchedule"}]
    pods = {
        "name": [f"p{i}" for i in range(P)],
        "arrival": arrival,
        **ends,
        "cpu": rng.choice([100, 500, 1500, 3000], P),
        "memory": rng.choice([GI // 4, GI, 3 * GI], P),
        "priority": rng.choice([0, 0, 10], P),
        "node_selector": [[("zone", f"z{i % 3}")] if i % 5 == 0 else ([("disk", "ssd")] if i % 7 == 0 else [])
                          for i in range(P)],
        "tolerations": [tol if i % 9 == 0 else [] for i in range(P)],
        "pinned_node": [f"n{i % N}" if i % 31 == 0 else None for i in range(P)],
    }
    write_table(d, NODES_FILE, nodes)
    write_table(d, PODS_FILE, pods)
    k = max(4, N // 2)
    t = np.sort(rng.integers(1, 700, k))
    names = rng.integers(0, N, k)
    write_table(d, EVENTS_FILE, {"time": t, "kind": ["Node"] * k, "name": [f"n{i}" for i in names],
                                 "action": rng.choice(["cordon", "uncordon"], k).tolist()})


def replay(trace: Path, out: Path, monkeypatch, remember: bool, verify: bool = False, memory: int = 64 << 20,
           every_class: bool = True):
    monkeypatch.setattr(fast, "REMEMBER_FAILURES", remember)
    monkeypatch.setattr(fast, "REMEMBER_ALL", every_class)
    monkeypatch.setattr(fast, "VERIFY", verify)
    monkeypatch.setattr(fast, "MEMORY_BYTES", memory)
    res = Replay(trace, SimOptions(seed=3)).run(out)
    assert res.timing["path"] == "fast"
    write_outputs(res, out)
    return res


def same_bytes(a: Path, b: Path) -> None:
    for f in OUTS:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


@pytest.mark.parametrize("seed,nodes,pods,every_class", [(0, 12, 900, True), (1, 40, 2500, True),
                                                         (2, 6, 700, False), (3, 25, 1500, False)])
def test_remembered_verdicts_equal_full_scans(tmp_path, monkeypatch, seed, nodes, pods, every_class):
    random_trace(tmp_path / "t", seed, nodes, pods)
    on = replay(tmp_path / "t", tmp_path / "on", monkeypatch, True, verify=True, every_class=every_class)
    off = replay(tmp_path / "t", tmp_path / "off", monkeypatch, False)
    mem = on.timing["remembered_failures"]
    # every verdict taken from memory was checked against a full scan, and the memory against a rescan
    assert mem["verify_mismatches"] == 0
    assert mem["failed_from_memory"] > 0 and mem["memory_updates"] > 0 and mem["found_from_memory"] > 0
    assert off.timing["remembered_failures"]["failed_from_memory"] == 0
    # the trace exercises every kind of node change the replay has
    s = on.summary
    for kind in ("add", "fail", "remove", "cordon", "uncordon"):
        assert s["node_events"].get(kind, 0) > 0, kind
    assert s["evictions"] > 0 and s["top_pending_reasons"]
    assert s["deleted_while_pending"] > 0 or seed % 2 == 0
    same_bytes(tmp_path / "on", tmp_path / "off")


def test_a_small_memory_pool_forgets_and_stays_exact(tmp_path, monkeypatch):
    random_trace(tmp_path / "t", 6, 30, 2000)
    n = 30
    on = replay(tmp_path / "t", tmp_path / "on", monkeypatch, True, verify=True, memory=4 * n * 2)
    replay(tmp_path / "t", tmp_path / "off", monkeypatch, False)
    mem = on.timing["remembered_failures"]
    assert mem["slots"] == 2 and mem["verify_mismatches"] == 0 and mem["failed_from_memory"] > 0
    same_bytes(tmp_path / "on", tmp_path / "off")


def test_verification_catches_an_unlogged_change(tmp_path, monkeypatch):
    """The check is not vacuous: with the driver's node changes (evictions, cordons, joins, failures) left
    out of the change log, remembered verdicts go stale and the verification counts it."""
    random_trace(tmp_path / "t", 0, 12, 900)
    monkeypatch.setattr(fast, "log_node_change", lambda chg, ist, v: None)
    on = replay(tmp_path / "t", tmp_path / "on", monkeypatch, True, verify=True)
    assert on.timing["remembered_failures"]["verify_mismatches"] > 0
