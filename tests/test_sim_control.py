"""events.parquet through kpack.ControlPlane in the replay: rollouts, rollbacks, DaemonSets following node
add/remove, ReplicaSets replacing pods after a node failure; checked against the ControlPlane alone."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kpack.controllers import ControlPlane
from kpack.profile import Profile
from kpack.sim.replay import Replay, SimOptions, build_cluster, read_nodes
from kpack.sim.schema import EVENTS_FILE, NODES_FILE, PODS_FILE, TraceDir, TraceError, write_table

GI = 1 << 30


def deployment(name: str, image: str, replicas: int = 4, cpu: str = "500m", surge="25%") -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": surge, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                     {"name": "c", "image": image,
                      "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}}}]}}}})


def daemonset(name: str, image: str) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                     {"name": "c", "image": image,
                      "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}})


NODES = {"name": ["n1", "n2", "n3", "n4"], "cpu": [4000] * 4, "memory": [8 * GI] * 4,
         "add_time": pa.array([None, None, None, 50], pa.int64()),
         "remove_time": pa.array([None, None, None, 200], pa.int64())}
EVENTS = {
    "time": [10, 10, 20, 40, 60, 120],
    "kind": ["Deployment", "DaemonSet", "Deployment", "Deployment", "Node", "Deployment"],
    "action": ["create", "create", "update", "rollback", "fail", "update"],
    "name": ["web", "agent", "web", "web", "n1", "web"],
    "replicas": pa.array([None, None, None, None, None, 6], pa.int64()),
    "manifest": [deployment("web", "nginx:1"), daemonset("agent", "a:1"), deployment("web", "nginx:2"),
                 None, None, None],
}


def trace(d: Path, pods: dict | None = None, events: dict | None = None, nodes: dict | None = None) -> Path:
    write_table(d, NODES_FILE, nodes or NODES)
    write_table(d, PODS_FILE, pods or {"name": ["late"], "arrival": [1000], "duration": [1], "cpu": [1],
                                       "memory": [1]})
    write_table(d, EVENTS_FILE, events or EVENTS)
    return d


def alone(tr: Path, horizon: int) -> dict:
    """The same actions on a ControlPlane of its own (each given at its time, as ControlPlane's `at=`),
    stepped every second: pod -> (node, created, bound, deleted)."""
    nd = read_nodes(TraceDir(tr))
    cluster = build_cluster(nd)
    absent = [n for n, a in zip(nd["names"], nd["times"]["add_time"].tolist()) if a > 0]
    cp = ControlPlane(cluster, Profile.default(), seed=0, absent_nodes=absent)
    acts: dict[int, list] = {}
    for n, a, r in zip(nd["names"], nd["times"]["add_time"].tolist(), nd["times"]["remove_time"].tolist()):
        if a > 0:
            acts.setdefault(a, []).append(("add", n))
        if r >= 0:
            acts.setdefault(r, []).append(("remove", n))
    for e in pq.read_table(tr / EVENTS_FILE).to_pylist():
        acts.setdefault(e["time"], []).append(("event", e))
    out: dict = {}
    st = cp.store
    for t in range(1, horizon + 1):
        for kind, x in acts.get(t, []):
            if kind == "add":
                cluster.set_unschedulable([x], False)
                cp.join_node(x, at=t)
            elif kind == "remove":
                cluster.set_unschedulable([x], True)
                cp.leave_node(x, at=t)
            elif x["kind"] == "Node":
                cluster.set_unschedulable([x["name"]], True)
                cp.fail_node(x["name"], at=t)
            elif x["manifest"]:
                m = json.loads(x["manifest"])
                if x["replicas"] is not None:
                    m["spec"]["replicas"] = x["replicas"]
                cp.apply(m, at=t)
            elif x["action"] == "update":
                cp.scale(f"deployment/{x['name']}", x["replicas"], at=t)
            elif x["action"] == "rollback":
                cp.rollback(f"deployment/{x['name']}", at=t)
            else:
                cp.delete(f"{x['kind'].lower()}/{x['name']}", at=t)
        cp.step()
        for r in range(st.n):
            name = st.name(r)
            node = cp.node_name_of[st.node[r]] if st.node[r] >= 0 else None
            prev = out.get(name)
            deleted = prev[3] if prev and prev[3] is not None else (t if not st.alive[r] else None)
            out[name] = (node, int(st.created[r]), int(st.bound[r]) if st.bound[r] >= 0 else None, deleted)
    return out


def replayed(out: Path) -> dict:
    rows = pq.read_table(out / "placements.parquet").to_pylist()
    return {r["pod"]: (r["node"], r["arrival"], r["start"], r["end"]) for r in rows if r["owner_kind"]}


def test_rollout_rollback_daemonset_and_failure_match_the_control_plane_alone(tmp_path):
    tr = trace(tmp_path / "t")
    res = Replay(tr, SimOptions()).run(tmp_path / "o")
    assert res.timing["path"] == "python" and "ControlPlane" in res.timing["fast_path_skipped"]
    got = replayed(tmp_path / "o")
    want = alone(tr, 1000)
    assert got == want
    # the rollout and the rollback happened: ReplicaSets of v1 and v2 (the rollback reuses v1's, same hash)
    assert len({p.rsplit("-", 1)[0] for p in got if p.startswith("web-")}) == 2
    # n1 failed at 60: web pods there are evicted after the default 300 s toleration and replaced
    on_n1 = [v for p, v in got.items() if p.startswith("web-") and v[0] == "n1"]
    assert any(v[3] == 360 for v in on_n1)
    # the DaemonSet follows node add (n4 at 50) and remove (n4 at 200)
    assert got["agent-n4-0"][0] == "n4" and got["agent-n4-0"][2] == 50 and got["agent-n4-0"][3] == 200
    s = res.summary
    assert s["pods"] == 1 + len(got)
    assert s["control_plane"]["workloads"]["deployment/web"]["done"]
    assert s["running_at_end"] == sum(1 for v in got.values() if v[3] is None) + 0   # "late" has left
    assert s["placements"] == 1 + sum(1 for v in got.values() if v[2] is not None)


def test_controller_pods_share_capacity_with_trace_pods(tmp_path):
    """One 2-cpu node: a trace pod holds 1.5 cpu until 100; the Deployment's pod (1 cpu) waits for it; a trace
    pod that arrived later (1.5 cpu) finds the node taken by the controller's pod, placed first at 100."""
    nodes = {"name": ["n1"], "cpu": [2000], "memory": [8 * GI]}
    pods = {"name": ["big", "small"], "arrival": [0, 30], "duration": [100, 50], "cpu": [1500, 1500],
            "memory": [GI, GI]}
    events = {"time": [10], "kind": ["Deployment"], "action": ["create"], "name": ["web"],
              "manifest": [deployment("web", "nginx:1", replicas=1, cpu="1")]}
    tr = trace(tmp_path / "t", pods, events, nodes)
    res = Replay(tr, SimOptions()).run(tmp_path / "o")
    rows = {r["pod"]: r for r in pq.read_table(tmp_path / "o" / "placements.parquet").to_pylist()}
    web = [r for p, r in rows.items() if p.startswith("web-")]
    assert len(web) == 1 and web[0]["arrival"] == 10 and web[0]["start"] == 100 and web[0]["wait"] == 90
    # "small" arrived at 30 while web was pending: at 100 the control plane's step places web first
    assert rows["small"]["start"] is None and rows["small"]["outcome"] == "pending"
    assert res.summary["pending_at_end"] == 1 and res.summary["top_pending_reasons"]
    assert res.summary["wait_s"]["max"] == 90


def test_deterministic_outputs(tmp_path):
    from kpack.cli import main

    tr = trace(tmp_path / "t")
    for k in ("a", "b"):
        assert main(["simulate", str(tr), "--out", str(tmp_path / k), "--quiet"]) in (0, None)
    for f in ("placements.parquet", "metrics.parquet", "summary.json", "report.html"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_bad_workload_events_name_file_and_column(tmp_path):
    ev = dict(EVENTS, manifest=["{not json"] + EVENTS["manifest"][1:])
    tr = trace(tmp_path / "t", events=ev)
    with pytest.raises(TraceError, match=r"events\.parquet: event at time 10: Deployment default/web create: "
                                         r"column 'manifest': not JSON"):
        Replay(tr, SimOptions()).run(None)
    ev = dict(EVENTS, action=["rollback", "create", "update", "rollback", "fail", "update"])
    tr = trace(tmp_path / "u", events=ev)
    with pytest.raises(TraceError, match=r"events\.parquet.*deployment/web: not found"):
        Replay(tr, SimOptions()).run(None)
    with pytest.raises(TraceError, match="need the kube backend"):
        Replay(trace(tmp_path / "v"), SimOptions(policy="best-fit")).run(None)
    # checked on read (TraceDir streams events.parquet through the same checks)
    with pytest.raises(TraceError, match=r"events\.parquet: column 'manifest': the DaemonSet create at "
                                         "time 10 has no manifest"):
        trace(tmp_path / "w", events=dict(EVENTS, manifest=EVENTS["manifest"][:1] + [None] * 5))
    with pytest.raises(TraceError, match=r"events\.parquet: column 'replicas': set on a DaemonSet event"):
        reps = pa.array([None, 3, None, None, None, 6], pa.int64())
        trace(tmp_path / "x", events=dict(EVENTS, replicas=reps))
    with pytest.raises(TraceError, match=r"events\.parquet: column 'replicas': negative value -1"):
        trace(tmp_path / "y", events=dict(EVENTS, replicas=pa.array([None] * 5 + [-1], pa.int64())))


def test_gen_workloads_option(tmp_path):
    from kpack.sim.gen import generate

    generate(tmp_path / "plain", 20, 400, seed=5)
    generate(tmp_path / "wl", 20, 400, seed=5, workloads=3)
    assert not (tmp_path / "plain" / EVENTS_FILE).exists()
    for f in (NODES_FILE, PODS_FILE):   # the option leaves the nodes and pods as they were
        assert (tmp_path / "plain" / f).read_bytes() == (tmp_path / "wl" / f).read_bytes()
    ev = pq.read_table(tmp_path / "wl" / EVENTS_FILE).to_pylist()
    acts = {(e["kind"], e["action"]) for e in ev}
    assert {("Deployment", "create"), ("Deployment", "update"), ("DaemonSet", "create")} <= acts
    res = Replay(tmp_path / "wl", SimOptions()).run(tmp_path / "o")
    cp = res.summary["control_plane"]
    assert cp["pods_created"] >= 3 * 2 + 20 - 1 and set(cp["workloads"]) >= {"deployment/web-0",
                                                                              "daemonset/workload-agent"}
    owners = set(pq.read_table(tmp_path / "o" / "placements.parquet").column("owner_name").to_pylist())
    assert {"web-0", "web-1", "web-2", "workload-agent"} <= owners


def test_events_at_time_zero(tmp_path):
    tr = trace(tmp_path / "t", events=dict(EVENTS, time=[0, 0, 20, 40, 60, 120]))
    Replay(tr, SimOptions()).run(tmp_path / "o")
    got = replayed(tmp_path / "o")
    assert got["agent-n1-0"][1:3] == (0, 0)
    assert all(v[1] == 0 and v[2] == 0 for p, v in got.items() if p.startswith("web-") and v[1] < 20)
