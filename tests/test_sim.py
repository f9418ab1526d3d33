"""Trace format, generator, replay semantics, determinism, openb agreement, control-plane hook, sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kpack.sim.importers import import_openb
from kpack.sim.replay import Replay, SimOptions
from kpack.sim.schema import EVENTS_FILE, NODES_FILE, PODS_FILE, TraceDir, TraceError, write_table

OPENB = Path(__file__).resolve().parents[2] / "shared" / "traces" / "openb"
if not OPENB.is_dir():
    OPENB = Path("/work/shared/traces/openb")
GI = 1 << 30


def small_trace(d: Path, pods: dict, nodes: dict | None = None, events: dict | None = None) -> Path:
    write_table(d, NODES_FILE, nodes or {"name": ["n1"], "cpu": [1000], "memory": [4 * GI]})
    write_table(d, PODS_FILE, pods)
    if events:
        write_table(d, EVENTS_FILE, events)
    return d


def placements(out: Path) -> dict:
    return {r["pod"]: r for r in pq.read_table(out / "placements.parquet").to_pylist()}


# --- schema -----------------------------------------------------------------------------------------
def _pods(**over):
    cols = {"name": ["a", "b"], "arrival": [0, 5], "cpu": [100, 100], "memory": [GI, GI]}
    cols.update(over)
    return cols


def test_schema_missing_column(tmp_path):
    write_table(tmp_path, NODES_FILE, {"name": ["n1"], "cpu": [1000], "memory": [GI]})
    pq.write_table(pa.table({"name": ["a"], "arrival": [0], "cpu": [1]}), tmp_path / PODS_FILE)
    with pytest.raises(TraceError, match=r"pods\.parquet: missing required column 'memory'"):
        TraceDir(tmp_path)


def test_schema_mistyped_column(tmp_path):
    write_table(tmp_path, NODES_FILE, {"name": ["n1"], "cpu": [1000], "memory": [GI]})
    pq.write_table(
        pa.table({"name": ["a"], "arrival": [0], "cpu": ["100m"], "memory": [1]}), tmp_path / PODS_FILE
    )
    with pytest.raises(TraceError, match=r"pods\.parquet: column 'cpu': expected int64, got string"):
        TraceDir(tmp_path)


def test_schema_unsorted_and_negative(tmp_path):
    write_table(tmp_path, NODES_FILE, {"name": ["n1"], "cpu": [1000], "memory": [GI]})
    pq.write_table(pa.table(_pods(arrival=[5, 0])), tmp_path / PODS_FILE)
    with pytest.raises(TraceError, match=r"pods\.parquet: column 'arrival': not sorted"):
        TraceDir(tmp_path).read(PODS_FILE)
    pq.write_table(pa.table(_pods(cpu=[100, -1])), tmp_path / PODS_FILE)
    with pytest.raises(TraceError, match=r"pods\.parquet: column 'cpu': negative request -1"):
        TraceDir(tmp_path).read(PODS_FILE)
    with pytest.raises(TraceError, match="not sorted"):  # the writer refuses too
        write_table(tmp_path / "w", PODS_FILE, _pods(arrival=[5, 0]))


@pytest.mark.parametrize("file, column", [(PODS_FILE, "name"), (PODS_FILE, "cpu"), (PODS_FILE, "memory"),
                                          (PODS_FILE, "arrival"), (NODES_FILE, "name"), (NODES_FILE, "cpu")])
def test_schema_null_in_required_column(tmp_path, file, column):
    nodes = {"name": ["n1", "n2"], "cpu": [1000, 1000], "memory": [GI, GI]}
    cols = {PODS_FILE: _pods(), NODES_FILE: nodes}
    cols[file][column] = [cols[file][column][0], None]
    types = {c: (pa.int64() if c != "name" else pa.string()) for c in cols[file]}
    for f in (PODS_FILE, NODES_FILE):
        t = pa.table({c: pa.array(v, types[c] if f == file else None) for c, v in cols[f].items()})
        pq.write_table(t, tmp_path / f)
    want = rf"{file.replace('.', '[.]')}: column '{column}': null in a required"
    with pytest.raises(TraceError, match=want):
        TraceDir(tmp_path).read(file)


def test_simulate_reports_a_bad_taint_by_field(tmp_path, capsys):
    from kpack import cli
    item = pa.struct([("key", pa.string()), ("value", pa.string()), ("effect", pa.string())])
    taints = pa.array([[{"key": "k", "value": "v", "effect": "Bogus"}]], pa.list_(item))
    nodes = pa.table({"name": ["n1"], "cpu": [1000], "memory": [GI], "taints": taints})
    pq.write_table(nodes, tmp_path / NODES_FILE)
    write_table(tmp_path, PODS_FILE, _pods())
    assert cli.main(["simulate", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "effect: Input should be 'NoSchedule'" in err, err


def test_schema_events_and_unknown_columns(tmp_path):
    write_table(tmp_path, NODES_FILE, {"name": ["n1"], "cpu": [1000], "memory": [GI]})
    write_table(tmp_path, PODS_FILE, _pods())
    pq.write_table(
        pa.table({"time": [0], "kind": ["Node"], "action": ["explode"], "name": ["n1"]}),
        tmp_path / EVENTS_FILE,
    )
    with pytest.raises(
        TraceError, match=r"events\.parquet: column 'action': 'explode' is not an action of Node"
    ):
        TraceDir(tmp_path).read(EVENTS_FILE)
    pq.write_table(pa.table({**_pods(), "colour": ["x", "y"]}), tmp_path / PODS_FILE)
    with pytest.raises(TraceError, match="unknown column 'colour'"):
        TraceDir(tmp_path)


def test_written_files_are_dictionary_encoded_with_row_groups(tmp_path):
    from kpack.sim.gen import generate

    generate(tmp_path, 20, 3000, seed=1, chunk=1000)
    pf = pq.ParquetFile(tmp_path / PODS_FILE)
    assert pf.metadata.num_row_groups >= 3
    assert pa.types.is_dictionary(pf.schema_arrow.field("owner_name").type)
    t = TraceDir(tmp_path).read(PODS_FILE)  # validates every batch
    assert t.num_rows >= 3000


# --- replay semantics -------------------------------------------------------------------------------
def test_departure_frees_capacity(tmp_path):
    tr = small_trace(
        tmp_path / "t",
        {"name": ["a", "b"], "arrival": [0, 1], "duration": [10, 5], "cpu": [1000, 1000], "memory": [GI, GI]},
    )
    res = Replay(tr, SimOptions()).run(tmp_path / "o")
    p = placements(tmp_path / "o")
    assert p["a"]["start"] == 0 and p["a"]["end"] == 10
    assert p["b"]["start"] == 10 and p["b"]["wait"] == 9 and p["b"]["end"] == 15 and p["b"]["node"] == "n1"
    assert res.summary["placements"] == 2 and res.summary["pending_at_end"] == 0


def test_pending_retried_in_priority_then_arrival_order(tmp_path):
    tr = small_trace(
        tmp_path / "t",
        {
            "name": ["run", "low-early", "high", "low-late"],
            "arrival": [0, 1, 2, 3],
            "duration": [10, 10, 10, 10],
            "cpu": [1000] * 4,
            "memory": [GI] * 4,
            "priority": [0, 0, 10, 0],
        },
    )
    Replay(tr, SimOptions()).run(tmp_path / "o")
    p = placements(tmp_path / "o")
    assert [p[n]["start"] for n in ("run", "high", "low-early", "low-late")] == [0, 10, 20, 30]


def test_fixed_departure_of_a_pending_pod_deletes_it(tmp_path):
    tr = small_trace(
        tmp_path / "t",
        {
            "name": ["a", "b"],
            "arrival": [0, 1],
            "departure": [10, 5],
            "cpu": [1000, 1000],
            "memory": [GI, GI],
        },
    )
    res = Replay(tr, SimOptions()).run(tmp_path / "o")
    p = placements(tmp_path / "o")
    assert p["b"]["outcome"] == "deleted-pending" and p["b"]["start"] is None
    assert res.summary["deleted_while_pending"] == 1


def test_node_add_and_failure(tmp_path):
    nodes = {
        "name": ["n1", "n2"],
        "cpu": [1000, 1000],
        "memory": [GI, GI],
        "add_time": [0, 20],
        "fail_time": pa.array([5, None], pa.int64()),
    }
    tr = small_trace(tmp_path / "t", {"name": ["a"], "arrival": [0], "cpu": [500], "memory": [GI]}, nodes)
    res = Replay(tr, SimOptions()).run(tmp_path / "o")
    p = placements(tmp_path / "o")
    assert p["a"]["node"] == "n2" and p["a"]["start"] == 0 and p["a"]["evictions"] == 1
    assert res.summary["node_events"] == {"add": 1, "fail": 1}


def test_pruned_retries_place_exactly_like_retrying_everything(tmp_path):
    from kpack.sim.gen import generate

    generate(tmp_path / "t", 12, 600, seed=5, load=1.2)
    a = Replay(tmp_path / "t", SimOptions(seed=3)).run(tmp_path / "a")
    b = Replay(tmp_path / "t", SimOptions(seed=3, retry_all=True)).run(tmp_path / "b")
    assert a.summary["scheduling_attempts"] < b.summary["scheduling_attempts"]
    assert a.summary["max_pending"] > 0
    pa_, pb_ = placements(tmp_path / "a"), placements(tmp_path / "b")
    assert {k: (v["node"], v["start"]) for k, v in pa_.items()} == {
        k: (v["node"], v["start"]) for k, v in pb_.items()
    }


def test_determinism_byte_identical(tmp_path):
    from kpack.sim.cli import simulate, variant
    from kpack.sim.gen import generate

    generate(tmp_path / "t", 15, 800, seed=2)
    for d in ("o1", "o2"):
        simulate(tmp_path / "t", tmp_path / d, [variant(None, None), variant("best-fit", None)], seed=4)
    files = sorted(p.relative_to(tmp_path / "o1") for p in (tmp_path / "o1").rglob("*") if p.is_file())
    assert len(files) >= 15
    for f in files:
        if f.name == "timing.json":
            continue
        assert (tmp_path / "o1" / f).read_bytes() == (tmp_path / "o2" / f).read_bytes(), f


# --- control plane hook -----------------------------------------------------------------------------
class FakeControlPlane:
    def __init__(self):
        self.calls = []

    def apply(self, manifest):
        self.calls.append(("apply", manifest["kind"], manifest["metadata"]["name"], manifest.get("spec", {})))

    def rollback(self, kind, namespace, name, revision):
        self.calls.append(("rollback", kind, name, revision))

    def delete(self, kind, namespace, name):
        self.calls.append(("delete", kind, name))

    def cordon(self, node):
        self.calls.append(("cordon", node))

    def fail_node(self, node):
        self.calls.append(("fail_node", node))

    def remove_node(self, node):
        self.calls.append(("remove_node", node))

    def step(self, now):
        self.calls.append(("step", now))
        return []


def test_events_feed_a_control_plane(tmp_path):
    nodes = {"name": ["n1", "n2"], "cpu": [1000, 400], "memory": [GI, GI]}
    events = {
        "time": [1, 2, 3, 4, 4, 6],
        "kind": ["Deployment", "Deployment", "Deployment", "Node", "Node", "DaemonSet"],
        "action": ["create", "update", "rollback", "cordon", "fail", "delete"],
        "name": ["web", "web", "web", "n2", "n1", "agent"],
        "replicas": pa.array([3, 5, None, None, None, None], pa.int64()),
        "manifest": [
            json.dumps({"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}}),
            None,
            None,
            None,
            None,
            None,
        ],
    }
    tr = small_trace(
        tmp_path / "t", {"name": ["a"], "arrival": [0], "cpu": [500], "memory": [GI]}, nodes, events
    )
    # without control_plane=, kpack.ControlPlane runs the events: this manifest has no selector or template
    with pytest.raises(TraceError, match=r"events\.parquet: event at time 1: Deployment default/web create: "
                                         r"deployment/web: spec\.selector"):
        Replay(tr, SimOptions()).run(None)
    cp = FakeControlPlane()
    res = Replay(tr, SimOptions(control_plane=cp)).run(None)
    assert cp.calls == [
        ("apply", "Deployment", "web", {"replicas": 3}),
        ("step", 1),
        ("apply", "Deployment", "web", {"replicas": 5}),
        ("step", 2),
        ("rollback", "Deployment", "web", None),
        ("step", 3),
        ("cordon", "n2"),
        ("fail_node", "n1"),
        ("step", 4),
        ("delete", "DaemonSet", "agent"),
        ("step", 6),
    ]
    # n1 failed with the pod on it, n2 is too small: the pod is evicted and stays pending
    assert res.summary["evictions"] == 1 and res.summary["pending_at_end"] == 1


# --- the paper experiment through the trace path -------------------------------------------------------
@pytest.mark.skipif(not (OPENB / "openb_pod_list_default.csv").is_file(), reason="openb trace not available")
def test_openb_import_replays_the_fgd_experiment(tmp_path):
    from kpack.experiments.fgd import run_fgd

    lines = (OPENB / "openb_pod_list_default.csv").read_text().splitlines()
    pods_csv = tmp_path / "openb_pod_list_prefix.csv"
    pods_csv.write_text("\n".join(lines[:1201]) + "\n")  # 1,200 pods
    nodes_csv = OPENB / "openb_node_list_gpu_node.csv"
    for policy, seed in (("fgd", 7), ("best-fit", 3)):
        exp = run_fgd(nodes_csv, pods_csv, policy, seed)
        d = tmp_path / f"trace-{seed}"
        import_openb(nodes_csv, pods_csv, d, experiment_seed=seed)
        res = Replay(d, SimOptions(policy=policy)).run(tmp_path / f"out-{seed}")
        assert res.summary["unallocated_gpu_pct"] == exp.unallocated_gpu_pct
        rows = pq.read_table(tmp_path / f"out-{seed}" / "placements.parquet").sort_by("arrival").to_pylist()
        names = pq.read_table(d / NODES_FILE).column("name").to_pylist()
        want = [names[n] if n >= 0 else None for n in exp.extra["placed"].tolist()]
        assert [r["node"] for r in rows] == want
        assert res.summary["placements"] == exp.n_pods - exp.n_failed


def test_openb_import_times(tmp_path):
    csv = tmp_path / "openb_pod_list_x.csv"
    csv.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
        "deletion_time,scheduled_time\n"
        "p1,1000,100,1,500,,LS,Running,50,70,50\np0,1000,100,0,0,,LS,Running,10,100,10\n"
    )
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,4000,1000,2,V100\n")
    import_openb(nodes, csv, tmp_path / "t")
    t = TraceDir(tmp_path / "t").read(PODS_FILE).to_pylist()
    assert [(r["name"], r["arrival"], r["departure"], r["gpu_milli"]) for r in t] == [
        ("p0", 0, 90, None),
        ("p1", 40, 60, 500),
    ]
    res = Replay(tmp_path / "t", SimOptions()).run(None)
    assert res.summary["placements"] == 2 and res.summary["departures"] == 2


def test_import_manifests(tmp_path):
    from kpack.sim.importers import import_manifests

    f = tmp_path / "nodes.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Node\nmetadata: {name: a, labels: {zone: z1}}\n"
        "spec: {taints: [{key: k, value: v, effect: NoSchedule}]}\n"
        "status: {allocatable: {cpu: '4', memory: 8Gi, pods: '110', example.com/fpga: '2'}}\n"
    )
    import_manifests([f], tmp_path / "t")
    n = TraceDir.__new__(TraceDir)
    row = pq.read_table(tmp_path / "t" / NODES_FILE).to_pylist()[0]
    assert row["cpu"] == 4000 and row["memory"] == 8 * GI and row["example.com/fpga"] == 2
    assert row["labels"] == [("zone", "z1")] and row["taints"][0]["key"] == "k"
    del n


# --- CLI, sweeps, report in a browser -------------------------------------------------------------------
def test_cli_gen_simulate_compare(tmp_path, capsys):
    from kpack.cli import main

    assert (
        main(
            ["gen", "--nodes", "10", "--pods", "300", "--seed", "1", "--out", str(tmp_path / "t"), "--quiet"]
        )
        == 0
    )
    assert (
        main(["simulate", str(tmp_path / "t"), "--out", str(tmp_path / "o"), "--quiet", "--compare", "fgd"])
        == 0
    )
    out = capsys.readouterr().out
    assert "report:" in out
    for f in (
        "report.html",
        "utilisation.png",
        "pending.png",
        "wait.png",
        "default/summary.json",
        "fgd/metrics.parquet",
        "fgd/placements.parquet",
    ):
        assert (tmp_path / "o" / f).is_file(), f
    assert main(["simulate", str(tmp_path / "nope")]) == 2
    assert "not a trace directory" in capsys.readouterr().err


def test_sweep_local_pool(tmp_path):
    from kpack.sim.gen import generate
    from kpack.sim.sweep import run_sweep

    generate(tmp_path / "t", 8, 200, seed=1)
    table, path = run_sweep([str(tmp_path / "t")], ["fgd"], ["default"], [0, 1], tmp_path / "s", workers=2)
    assert path.is_file() and table.num_rows == 2
    assert table.column("variant").to_pylist() == ["fgd", "fgd"] and table.column("seed").to_pylist() == [
        0,
        1,
    ]


def test_sweep_on_ray(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (optional extra kpack[ray])")
    del ray
    from kpack.sim.gen import generate
    from kpack.sim.sweep import run_sweep

    generate(tmp_path / "t", 8, 200, seed=1)
    local, _ = run_sweep([str(tmp_path / "t")], ["best-fit"], ["default"], [0, 1], tmp_path / "a", workers=1)
    table, path = run_sweep(
        [str(tmp_path / "t")], ["best-fit"], ["default"], [0, 1], tmp_path / "s", ray_address="local"
    )
    assert table.drop(["replay_s"]).equals(local.drop(["replay_s"]))


def test_report_renders_in_a_browser(tmp_path):
    import shutil

    chromium = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if chromium is None:
        pytest.skip("no browser: /usr/bin/chromium is missing (apt-get install -y chromium)")
    sync = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    from kpack.sim.cli import simulate, variant
    from kpack.sim.gen import generate
    from kpack.sim.report import fmt, lookup

    generate(tmp_path / "t", 10, 300, seed=1)
    simulate(tmp_path / "t", tmp_path / "o", [variant(None, None), variant("fgd", None)], seed=1)
    summaries = [json.loads((tmp_path / "o" / d / "summary.json").read_text()) for d in ("default", "fgd")]
    with sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto((tmp_path / "o" / "report.html").as_uri())
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete ? e.naturalWidth : 0)")
        assert len(widths) == 3 and min(widths) > 0
        cells = page.eval_on_selector_all(
            "td[data-key]", "els => els.map(e => [e.dataset.run, e.dataset.key, e.textContent])"
        )
        assert len(cells) > 20
        for run, key, text in cells:
            v = lookup(summaries[int(run)], key)
            assert text == (fmt(v) if v is not None else ""), (run, key)
        reasons = page.eval_on_selector_all(
            "table.reasons[data-run='0'] td.num", "els => els.map(e => e.textContent)"
        )
        assert reasons == [str(n) for _, n in summaries[0]["top_pending_reasons"]]
        browser.close()


def test_cluster_unbind_rows_and_compact():
    from kpack import Cluster, Node, Pod

    c = Cluster([Node(name="n", allocatable={"cpu": "4", "memory": "4Gi", "pods": "10"})])
    for i in range(4):
        c.bind(Pod(name=f"p{i}", requests={"cpu": "1"}), "n")
    c.unbind_rows(np.array([0, 2]))
    assert c.requested[0, 0] == 2000 and c.n_bound == 2
    with pytest.raises(Exception, match="rows of bound pods"):
        c.unbind_rows(np.array([0]))
    m = c.compact_pods()
    assert m.tolist() == [-1, 0, -1, 1] and c.node_of("p3") == "n"
    c.unbind("p1")
    assert c.requested[0, 0] == 1000


@pytest.mark.parametrize("fast", [True, False])
def test_metric_samples_honour_samples(tmp_path, fast):
    """Arrivals over 100 s, runs up to ~10,000 s: the sample interval covers the whole replay, not the
    arrivals only (that gave one sample per second for 10,000 s)."""
    rng = np.random.default_rng(0)
    n = 400
    arr = np.sort(rng.integers(0, 100, n))
    dur = rng.integers(1, 10_000, n)
    nodes = {"name": [f"n{i}" for i in range(4)], "cpu": [4000] * 4, "memory": [64 * GI] * 4}
    tr = small_trace(tmp_path / "t", {"name": [f"p{i}" for i in range(n)], "arrival": arr, "duration": dur,
                                      "cpu": [100] * n, "memory": [GI] * n}, nodes)
    res = Replay(tr, SimOptions(samples=50, fast=fast)).run(None)
    t = res.metrics.column("time").to_numpy()
    assert 10 <= len(t) <= 51 and t[-1] >= 5000
