"""kpack serve: the kube-scheduler extender verbs answer like Scheduler.explain, over ASGI and real HTTP."""
import copy
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
with warnings.catch_warnings():   # newest starlette prefers httpx2 and warns about httpx; either works
    warnings.simplefilter("ignore")
    TestClient = pytest.importorskip("starlette.testclient").TestClient

import kpack  # noqa: E402
import kpack.server  # noqa: E402
from kpack.server import NodeCache, create_app  # noqa: E402
from kpack.server.extender import REASON_NOT_CACHED  # noqa: E402

DEMO = str(Path(__file__).resolve().parents[1] / "datasets" / "demo")


def k8s_node(name, cpu="4", memory="16Gi", labels=None, taints=None, unschedulable=False, rv="1"):
    """A v1.Node as the API server (and kube-scheduler's extender client, via encoding/json) writes it."""
    spec = {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    res = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"}
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": rv,
                     "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                **(labels or {})},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": spec,
        "status": {"capacity": res, "allocatable": res,
                   "conditions": [{"type": "Ready", "status": "True",
                                   "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                                   "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "KubeletReady",
                                   "message": "kubelet is posting ready status"}],
                   "addresses": [{"type": "InternalIP", "address": "172.18.0.2"},
                                 {"type": "Hostname", "address": name}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                   "nodeInfo": {"kubeletVersion": "v1.35.4", "containerRuntimeVersion": "containerd://2.1.0",
                                "operatingSystem": "linux", "architecture": "amd64"}},
    }


def k8s_pod(name, cpu="500m", memory="1Gi", node_selector=None, tolerations=None, affinity=None, node=None,
            uid=None, namespace="default"):
    """A pending v1.Pod as kube-scheduler sends it (defaulted by the API server)."""
    spec = {
        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": cpu, "memory": memory}},
                        "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "securityContext": {}, "schedulerName": "default-scheduler",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300},
                        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300}] + (tolerations or []),
        "priority": 0, "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
    }
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = affinity
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}",
                         "resourceVersion": "100", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"app": "web"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": "web-5d4f", "uid": "rs-uid", "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": spec, "status": {"phase": "Pending", "qosClass": "Burstable"}}


TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
SOFT_TAINT = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}


def k8s_nodes():
    return [k8s_node("small", cpu="1", memory="2Gi", labels={"zone": "a"}),
            k8s_node("big-0", cpu="8", memory="32Gi", labels={"zone": "a"}),
            k8s_node("big-1", cpu="8", memory="32Gi", labels={"zone": "b"}, taints=[SOFT_TAINT]),
            k8s_node("mid", cpu="4", memory="16Gi", labels={"zone": "b"}),
            k8s_node("tainted", cpu="8", memory="32Gi", labels={"zone": "a"}, taints=[TAINT]),
            k8s_node("cordoned", cpu="8", memory="32Gi", labels={"zone": "b"}, unschedulable=True)]


def bound_pods():
    return [kpack.Pod.from_k8s(k8s_pod("running-0", cpu="3500m", memory="4Gi", node="mid")),
            kpack.Pod.from_k8s(k8s_pod("running-1", cpu="1", memory="1Gi", node="big-0"))]


@pytest.fixture
def cluster():
    return kpack.Cluster([kpack.Node.from_k8s(n) for n in k8s_nodes()], bound_pods())


@pytest.fixture
def client(cluster):
    with TestClient(create_app(kpack.Scheduler(), cluster)) as c:
        yield c


PREFER_B = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
    {"weight": 50,
     "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}}]}}


def args(pod, names=None, nodes=None, lower=False):
    """ExtenderArgs exactly as kube-scheduler marshals it: both pointer fields present, one of them null."""
    body = {"Pod": pod, "Nodes": None if nodes is None else {"metadata": {}, "items": nodes},
            "NodeNames": names}
    return {k.lower(): v for k, v in body.items()} if lower else body


def expected_filter(cluster, pod_json, names):
    ex = kpack.Scheduler().explain(cluster, kpack.Pod.from_k8s(pod_json))
    return ex, [n for n in names if ex.filter[n] is None], {n: ex.filter[n] for n in names if ex.filter[n]}


# --- filter ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lower", [False, True])
def test_filter_node_names_matches_explain(client, cluster, lower):
    pod = k8s_pod("web-1", cpu="2", memory="2Gi")
    names = [n["metadata"]["name"] for n in k8s_nodes()]
    r = client.post("/filter", json=args(pod, names=names, lower=lower))
    assert r.status_code == 200, r.text
    out = r.json()
    ex, feasible, failed = expected_filter(cluster, pod, names)
    assert out["NodeNames"] == feasible == ["big-0", "big-1"]
    assert out["Nodes"] is None and out["Error"] == ""
    assert {**out["FailedNodes"], **out["FailedAndUnresolvableNodes"]} == failed
    assert not set(out["FailedNodes"]) & set(out["FailedAndUnresolvableNodes"])
    # mid is full (3.5 of 4 cpu used): preemption can free it. small has 1 cpu < 2 requested: nothing can.
    assert out["FailedNodes"] == {"mid": "Insufficient cpu"}
    assert out["FailedAndUnresolvableNodes"]["small"] == "Insufficient cpu, Insufficient memory" or \
        out["FailedAndUnresolvableNodes"]["small"].startswith("Insufficient cpu")
    assert out["FailedAndUnresolvableNodes"]["cordoned"] == "node(s) were unschedulable"
    assert "untolerated taint" in out["FailedAndUnresolvableNodes"]["tainted"]


def test_filter_camel_case_and_subset(client, cluster):
    pod = k8s_pod("web-2", cpu="100m", node_selector={"zone": "b"})
    body = {"pod": pod, "nodeNames": ["mid", "big-0", "cordoned"]}
    out = client.post("/filter", json=body).json()
    _, feasible, failed = expected_filter(cluster, pod, ["mid", "big-0", "cordoned"])
    assert out["NodeNames"] == feasible == ["mid"]
    assert out["FailedAndUnresolvableNodes"] == failed
    assert failed["big-0"] == "node(s) didn't match Pod's node affinity/selector"


def test_filter_full_nodes_echoes_node_objects(cluster):
    # Not nodeCacheCapable: kube-scheduler sends whole Nodes and expects the passing ones back as a NodeList.
    with TestClient(create_app(kpack.Scheduler(), NodeCache(pods=bound_pods()))) as c:
        nodes = k8s_nodes()
        pod = k8s_pod("web-3", cpu="2", memory="2Gi")
        out = c.post("/filter", json=args(pod, nodes=copy.deepcopy(nodes))).json()
        assert out["NodeNames"] is None
        assert out["Nodes"]["items"] == [n for n in nodes if n["metadata"]["name"] in ("big-0", "big-1")]
        # the bound pods the cache knows (POSTed or bound through it) count on the request's nodes
        assert out["FailedNodes"] == {"mid": "Insufficient cpu"}
        out_lower = c.post("/filter", json=args(pod, nodes=nodes, lower=True)).json()
        assert out_lower == out


def test_filter_unknown_node_is_unresolvable(client):
    out = client.post("/filter", json=args(k8s_pod("p"), names=["big-0", "ghost"])).json()
    assert out["NodeNames"] == ["big-0"]
    assert out["FailedAndUnresolvableNodes"] == {"ghost": REASON_NOT_CACHED}


# --- prioritize ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lower", [False, True])
def test_prioritize_scales_explain_totals(client, cluster, lower):
    pod = k8s_pod("web-4", cpu="1", memory="1Gi", affinity=PREFER_B)
    names = ["small", "big-0", "big-1", "mid", "tainted"]
    r = client.post("/prioritize", json=args(pod, names=names, lower=lower))
    assert r.status_code == 200, r.text
    out = r.json()
    assert [h["Host"] for h in out] == names
    ex = kpack.Scheduler().explain(cluster, kpack.Pod.from_k8s(pod))
    weights = kpack.Profile.default().score_weights
    top = 100 * sum(weights[p] for p in ex.scores)
    assert "NodeAffinity" in ex.scores and top == 100 * 7
    want = {n: ex.total.get(n, 0) * 10 // top for n in names}
    assert {h["Host"]: h["Score"] for h in out} == want
    assert all(0 <= h["Score"] <= 10 and isinstance(h["Score"], int) for h in out)
    assert want["tainted"] == 0 and len(set(want.values())) > 2   # tainted: infeasible, so 0


def test_prioritize_full_nodes(cluster):
    with TestClient(create_app(kpack.Scheduler(), NodeCache(pods=bound_pods()))) as c:
        pod = k8s_pod("web-5", cpu="1", affinity=PREFER_B)
        nodes = [n for n in k8s_nodes() if n["metadata"]["name"] in ("big-0", "big-1", "mid")]
        out = c.post("/prioritize", json=args(pod, nodes=nodes)).json()
        sub = kpack.Cluster([kpack.Node.from_k8s(n) for n in nodes], bound_pods())
        ex = kpack.Scheduler().explain(sub, kpack.Pod.from_k8s(pod))
        top = 100 * sum(kpack.Profile.default().score_weights[p] for p in ex.scores)
        names = [n["metadata"]["name"] for n in nodes]
        assert {h["Host"]: h["Score"] for h in out} == {n: ex.total.get(n, 0) * 10 // top for n in names}
        assert ex.filter["mid"] == "Insufficient cpu" and ex.total["big-0"] > 0


# --- bind ------------------------------------------------------------------------------------------------
def binding(pod, node, lower=False):
    b = {"PodName": pod["metadata"]["name"], "PodNamespace": "default", "PodUID": pod["metadata"]["uid"],
         "Node": node}
    return {k.lower(): v for k, v in b.items()} if lower else b


def test_bind_records_pod_and_is_idempotent(client, cluster):
    ext = client.app.state.extender
    pod = k8s_pod("web-6", cpu="3", memory="1Gi")
    assert client.post("/filter", json=args(pod, names=["big-0"])).json()["NodeNames"] == ["big-0"]
    r = client.post("/bind", json=binding(pod, "big-0"))
    assert r.status_code == 200 and r.json() == {"Error": ""}
    gen = ext.cache.generation
    # the same binding again (kube-scheduler retries): accepted, nothing changes
    assert client.post("/bind", json=binding(pod, "big-0", lower=True)).json() == {"Error": ""}
    assert ext.cache.generation == gen
    # to another node: refused
    r = client.post("/bind", json=binding(pod, "big-1"))
    assert r.status_code == 409 and "already bound to node 'big-0'" in r.json()["Error"]
    # the cache now counts the pod: 1 + 3 of 8 cpu used on big-0, so a 5-cpu pod no longer fits there
    big = k8s_pod("big-pod", cpu="5")
    out = client.post("/filter", json=args(big, names=["big-0", "big-1"])).json()
    cluster.bind([kpack.Pod.from_k8s(pod)], [cluster.node_index["big-0"]])
    _, feasible, failed = expected_filter(cluster, big, ["big-0", "big-1"])
    assert out["NodeNames"] == feasible == ["big-1"] and out["FailedNodes"] == failed
    state = client.get("/state").json()
    assert state["boundPods"] == 3 and state["requests"]["bind"] == 2


def test_bind_errors(client):
    r = client.post("/bind", json=binding(k8s_pod("never-seen"), "big-0"))
    assert r.status_code == 404 and "never-seen" in r.json()["Error"]
    pod = k8s_pod("web-7")
    client.post("/filter", json=args(pod, names=["big-0"]))
    r = client.post("/bind", json=binding(pod, "ghost"))
    assert r.status_code == 404 and "'ghost'" in r.json()["Error"]
    r = client.post("/bind", json={"PodName": "web-7", "Node": ""})
    assert r.status_code == 400 and "ExtenderBindingArgs.Node" in r.json()["Error"]


def test_new_pod_with_same_name_replaces_the_old_binding(client):
    ext = client.app.state.extender
    old = k8s_pod("db-0", uid="uid-a")
    client.post("/filter", json=args(old, names=["big-0"]))
    assert client.post("/bind", json=binding(old, "big-0")).status_code == 200
    new = k8s_pod("db-0", uid="uid-b")      # a StatefulSet pod recreated under the same name
    client.post("/filter", json=args(new, names=["big-1"]))
    assert client.post("/bind", json=binding(new, "big-1")).status_code == 200
    assert ext.cache.pod("default/db-0").node_name == "big-1"


# --- node cache ------------------------------------------------------------------------------------------
def test_nodes_endpoint_adds_replaces_and_removes(client):
    ext = client.app.state.extender
    pod = k8s_pod("web-8", cpu="6")
    assert client.post("/filter", json=args(pod, names=["new"])).json()["FailedAndUnresolvableNodes"] == \
        {"new": REASON_NOT_CACHED}
    r = client.post("/nodes", json={"kind": "NodeList", "apiVersion": "v1",
                                    "items": [k8s_node("new", cpu="16", memory="64Gi")]})
    assert r.status_code == 200 and r.json()["changed"] == ["new"]
    assert client.post("/filter", json=args(pod, names=["new"])).json()["NodeNames"] == ["new"]
    # replace: same name, less cpu
    assert client.post("/nodes", json=k8s_node("new", cpu="2", rv="2")).json()["changed"] == ["new"]
    out = client.post("/filter", json=args(pod, names=["new"])).json()
    assert out["FailedAndUnresolvableNodes"] == {"new": "Insufficient cpu"}
    # posting an equal node changes nothing
    gen = ext.cache.generation
    assert client.post("/nodes", json=k8s_node("new", cpu="2", rv="2")).json()["changed"] == []
    assert ext.cache.generation == gen
    r = client.request("DELETE", "/nodes/mid")
    assert r.status_code == 200 and r.json()["pods"] == ["default/running-0"]
    assert "mid" not in ext.cache and ext.cache.pod("default/running-0") is None
    assert client.request("DELETE", "/nodes/mid").status_code == 404


def test_bad_node_changes_nothing(client):
    ext = client.app.state.extender
    gen, names = ext.cache.generation, ext.cache.node_names
    bad = k8s_node("bad", cpu="lots")
    r = client.post("/nodes", json={"kind": "NodeList", "items": [k8s_node("ok"), bad]})
    assert r.status_code == 400 and "'bad'" in r.json()["Error"] and "cpu" in r.json()["Error"]
    assert ext.cache.generation == gen and ext.cache.node_names == names


def test_pods_endpoint_feeds_bound_pods(client):
    r = client.post("/pods", json=k8s_pod("other", cpu="7", node="big-1"))
    assert r.status_code == 200 and r.json()["changed"] == ["default/other"]
    out = client.post("/filter", json=args(k8s_pod("p", cpu="2"), names=["big-0", "big-1"])).json()
    assert out["NodeNames"] == ["big-0"] and out["FailedNodes"] == {"big-1": "Insufficient cpu"}
    assert client.request("DELETE", "/pods/default/other").status_code == 200
    out = client.post("/filter", json=args(k8s_pod("p", cpu="2"), names=["big-0", "big-1"])).json()
    assert out["NodeNames"] == ["big-0", "big-1"]
    r = client.post("/pods", json=k8s_pod("pending"))
    assert r.status_code == 400 and "spec.nodeName" in r.json()["Error"]


# --- robustness ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "malformed JSON"),
    (b"[]", "expected a JSON object"),
    (b'{"NodeNames": ["a"]}', "ExtenderArgs.Pod"),
    (b'{"Pod": {"metadata": {"name": "p"}, "spec": {}}}', "Nodes (a v1.NodeList) or NodeNames"),
    (b'{"Pod": {"metadata": {"name": "p"}, "spec": {}}, "NodeNames": "big-0"}', "ExtenderArgs.NodeNames"),
    (b'{"Pod": {"metadata": {"name": "p"}, "spec": {}}, "Nodes": {"items": [{"metadata": {}}]}}',
     "Nodes.items[0].metadata.name"),
])
def test_malformed_requests_get_400(client, body, fragment):
    r = client.post("/filter", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and fragment in r.json()["Error"], r.text
    assert client.get("/healthz").text == "ok"


def test_bad_pod_quantity_names_the_field(client):
    pod = k8s_pod("p", cpu="two")
    r = client.post("/prioritize", json=args(pod, names=["big-0"]))
    assert r.status_code == 400
    assert "containers[0].resources" in r.json()["Error"] and "cpu" in r.json()["Error"]


def test_oversized_body_gets_413(cluster):
    with TestClient(create_app(kpack.Scheduler(), cluster, max_body=2000)) as c:
        r = c.post("/filter", json=args(k8s_pod("p"), names=["x" * 50] * 100))
        assert r.status_code == 413 and "2000 bytes" in r.json()["Error"]
        assert c.post("/filter", json=args(k8s_pod("p"), names=["big-0"])).status_code == 200


def test_wrong_method_and_path(client):
    assert client.get("/filter").status_code == 405
    assert client.post("/nope", json={}).status_code == 404


# --- a real server ---------------------------------------------------------------------------------------
@pytest.fixture
def live_server(cluster):
    """uvicorn on a random loopback port in a thread; stopped at teardown (bounded waits)."""
    import uvicorn
    app = create_app(kpack.Scheduler(), cluster)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    # the configuration `kpack serve` runs (httptools with coalesced writes, no proxy headers)
    server = uvicorn.Server(kpack.server.uvicorn_config(app, log_level="error", lifespan="off"))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and t.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield sock.getsockname()[1], app
    server.should_exit = True
    t.join(timeout=10)
    sock.close()


def post(port, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    out = r.status, json.loads(r.read())
    conn.close()
    return out


def test_real_http_server(live_server, cluster):
    port, _ = live_server
    pod = k8s_pod("web-9", cpu="2", memory="2Gi", affinity=PREFER_B)
    names = cluster.node_names
    status, out = post(port, "/filter", args(pod, names=names))
    _, feasible, failed = expected_filter(cluster, pod, names)
    assert status == 200 and out["NodeNames"] == feasible
    assert {**out["FailedNodes"], **out["FailedAndUnresolvableNodes"]} == failed
    status, prio = post(port, "/prioritize", args(pod, names=out["NodeNames"]))
    assert status == 200 and len(prio) == len(feasible)
    assert post(port, "/filter", b"{oops")[0] == 400
    assert post(port, "/bind", binding(pod, "big-1")) == (200, {"Error": ""})


def test_concurrent_binds_are_consistent(live_server):
    port, app = live_server
    errors = []

    def worker(w):
        try:
            for i in range(5):
                pod = k8s_pod(f"w{w}-{i}", cpu="100m", memory="64Mi")
                status, out = post(port, "/filter", args(pod, names=["big-0", "big-1"]))
                assert status == 200
                node = out["NodeNames"][(w + i) % len(out["NodeNames"])]
                assert post(port, "/bind", binding(pod, node))[0] == 200
        except Exception as e:   # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    cache = app.state.extender.cache
    c = cache.cluster()
    assert len(cache.bound_pods()) == 2 + 30
    cpu = c.resource_index["cpu"]
    used = sum(p.requests.get("cpu", 0) for p in cache.bound_pods() if p.node_name in ("big-0", "big-1"))
    assert c.requested[[c.node_index["big-0"], c.node_index["big-1"]], cpu].sum() == used == 1000 + 30 * 100


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_kpack_serve_command(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kpack.cli", "serve", "--port", str(port), "-f", DEMO],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/state")
                state = json.loads(conn.getresponse().read())
                break
            except OSError:
                assert time.monotonic() < deadline, "kpack serve did not come up"
                time.sleep(0.2)
        demo_nodes = [o for o in kpack.load_manifests(DEMO) if isinstance(o, kpack.Node)]
        assert state["nodes"] == len(demo_nodes)
        names = [n.name for n in demo_nodes]
        status, out = post(port, "/filter", args(k8s_pod("x", cpu="100m"), names=names))
        assert status == 200 and out["NodeNames"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_rejects_bad_options(capsys):
    from kpack.cli import main
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err


def test_kube_scheduler_bodies_take_the_raw_fast_path():
    # kube-scheduler's casing decodes in one pass with the Pod and each Node kept as raw JSON; other casings
    # (and anything odd) take the dict path, which gives the same answers (tests above).
    msgspec = pytest.importorskip("msgspec")
    from kpack.server.wire import parse_extender_args
    nodes = k8s_nodes()
    a = parse_extender_args(json.dumps(args(k8s_pod("p"), nodes=nodes)).encode())
    assert isinstance(a.pod, msgspec.Raw) and all(isinstance(n, msgspec.Raw) for n in a.nodes)
    assert a.node_heads == [(n["metadata"]["name"], "1") for n in nodes]
    a = parse_extender_args(json.dumps(args(k8s_pod("p"), names=["big-0"])).encode())
    assert isinstance(a.pod, msgspec.Raw) and a.node_names == ["big-0"]
    a = parse_extender_args(json.dumps(args(k8s_pod("p"), names=["big-0"], lower=True)).encode())
    assert isinstance(a.pod, dict) and a.node_names == ["big-0"]


def test_full_nodes_follow_node_changes(cluster):
    # A new resourceVersion (or, without one, new content) is parsed again; the old parse is not reused.
    with TestClient(create_app(kpack.Scheduler(), NodeCache())) as c:
        pod = k8s_pod("p", cpu="3")
        node = k8s_node("n", cpu="4", rv="7")
        assert c.post("/filter", json=args(pod, nodes=[node])).json()["Nodes"]["items"] == [node]
        smaller = k8s_node("n", cpu="2", rv="8")
        out = c.post("/filter", json=args(pod, nodes=[smaller])).json()
        assert out["Nodes"]["items"] == [] and out["FailedAndUnresolvableNodes"] == {"n": "Insufficient cpu"}
        for n in (node, smaller):
            del n["metadata"]["resourceVersion"]
        assert c.post("/filter", json=args(pod, nodes=[node])).json()["Nodes"]["items"] == [node]
        assert c.post("/filter", json=args(pod, nodes=[smaller])).json()["Nodes"]["items"] == []


def test_in_process_extender_takes_dicts(cluster):
    ext = kpack.server.Extender(kpack.Scheduler(), cluster)
    pod = k8s_pod("p", cpu="2", memory="2Gi")
    out = ext.filter(args(pod, names=cluster.node_names))
    assert out["NodeNames"] == ["big-0", "big-1"]
    prio = ext.prioritize(args(pod, names=out["NodeNames"]))
    assert [h["Host"] for h in prio] == ["big-0", "big-1"]
    assert ext.bind(binding(pod, "big-0")) == {"Error": ""}
    # the caller's cluster is not changed: the extender keeps its own copy
    assert len(cluster.bound_pods()) == 2 and len(ext.cache.bound_pods()) == 3


def test_put_replaces_the_whole_node_and_pod_sets(client):
    # kubectl output (kind: List, items with kind) is accepted as is: the sync recipe in the README
    ext = client.app.state.extender
    nodes = [dict(k8s_node(n, cpu="8"), kind="Node", apiVersion="v1") for n in ("big-0", "mid", "extra")]
    r = client.put("/nodes", json={"kind": "List", "apiVersion": "v1", "items": nodes})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["removed"]) == ["big-1", "cordoned", "small", "tainted"]
    assert sorted(ext.cache.node_names) == ["big-0", "extra", "mid"]
    done = dict(k8s_pod("job-1", node="extra"), kind="Pod")
    done["status"] = {"phase": "Succeeded"}
    pods = [dict(k8s_pod("web-1", cpu="7", node="extra"), kind="Pod"), done]
    r = client.put("/pods", json={"kind": "List", "items": pods})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["removed"]) == ["default/running-0", "default/running-1"]
    assert [p.key for p in ext.cache.bound_pods()] == ["default/web-1"]   # the finished pod holds nothing
    out = client.post("/filter", json=args(k8s_pod("p", cpu="2"), names=["big-0", "mid", "extra"])).json()
    assert out["NodeNames"] == ["big-0", "mid"] and out["FailedNodes"] == {"extra": "Insufficient cpu"}


@pytest.mark.parametrize("full", [False, True])
def test_prioritize_normalises_over_the_request_nodes(full):
    # kube-scheduler may prioritize a sample of the feasible nodes (percentageOfNodesToScore); NodeAffinity
    # normalises over the nodes scored, so [n1] alone must score as a cluster of n1 alone, not as part of all.
    nodes = [k8s_node("n1", cpu="8", labels={"zone": "a", "disk": "ssd"}),
             k8s_node("n2", cpu="8", labels={"zone": "b"})]
    terms = [{"weight": 50, "preference": {"matchExpressions": [
                 {"key": "zone", "operator": "In", "values": ["b"]}]}},
             {"weight": 10, "preference": {"matchExpressions": [
                 {"key": "disk", "operator": "In", "values": ["ssd"]}]}}]
    aff = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}
    pod = k8s_pod("p", cpu="1", affinity=aff)
    kn = [kpack.Node.from_k8s(n) for n in nodes]
    cache = NodeCache() if full else NodeCache(kn)
    with TestClient(create_app(kpack.Scheduler(), cache)) as c:
        def prio(sub):
            body = args(pod, nodes=[n for n in nodes if n["metadata"]["name"] in sub]) if full else \
                args(pod, names=sub)
            return {h["Host"]: h["Score"] for h in c.post("/prioritize", json=body).json()}

        def want(sub):
            sub_cluster = kpack.Cluster([n for n in kn if n.name in sub])
            ex = kpack.Scheduler().explain(sub_cluster, kpack.Pod.from_k8s(pod))
            top = 100 * sum(kpack.Profile.default().score_weights[p] for p in ex.scores)
            return {n: ex.total[n] * 10 // top for n in sub}, ex

        both, ex_both = want(["n1", "n2"])
        alone, ex_alone = want(["n1"])
        assert ex_both.scores["NodeAffinity"]["n1"] == 20 and ex_alone.scores["NodeAffinity"]["n1"] == 100
        assert prio(["n1", "n2"]) == both
        assert prio(["n1"]) == alone


def test_preempt_keeps_nodes_that_fit_without_their_victims(client):
    # mid runs running-0 (3.5 cpu of 4); big-0 runs running-1 (1 of 8). A 4-cpu pod fits mid only if
    # running-0 goes; on small (1 cpu) nothing helps; ghost is unknown to kpack.
    ext = client.app.state.extender
    client.post("/pods", json=k8s_pod("running-0", cpu="3500m", memory="4Gi", node="mid"))   # with its UID
    pod = k8s_pod("urgent", cpu="4", memory="1Gi")
    body = {"Pod": pod, "NodeNameToVictims": None, "NodeNameToMetaVictims": {
        "mid": {"Pods": [{"UID": "uid-running-0"}], "NumPDBViolations": 0},
        "big-0": {"Pods": [], "NumPDBViolations": 0},
        "small": {"Pods": [], "NumPDBViolations": 1},
        "ghost": {"Pods": [{"UID": "x"}], "NumPDBViolations": 0}}}
    r = client.post("/preempt", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"NodeNameToMetaVictims": {
        "mid": {"Pods": [{"UID": "uid-running-0"}], "NumPDBViolations": 0},
        "big-0": {"Pods": [], "NumPDBViolations": 0}}}
    # without the victim, mid stays full; full v1.Pod victims (not nodeCacheCapable) and lowercase keys work
    body = {"pod": pod, "nodenametovictims": {
        "mid": {"pods": [], "numpdbviolations": 0},
        "big-1": {"pods": [k8s_pod("running-1", node="big-0")], "numpdbviolations": 0}}}
    r = client.post("/preempt", json=body)
    assert r.json() == {"NodeNameToMetaVictims": {"big-1": {"Pods": [{"UID": "uid-running-1"}],
                                                           "NumPDBViolations": 0}}}
    assert ext.cache.pod("default/running-0").node_name == "mid"   # preempt changes nothing
    r = client.post("/preempt", json={"Pod": pod})
    assert r.status_code == 400 and "NodeNameToMetaVictims" in r.json()["Error"]


def test_serve_config_sets_kpacks_profile(tmp_path, capsys):
    from kpack.cli import build_parser, main
    from kpack.server.cli import build
    cfg = tmp_path / "sched.yaml"
    cfg.write_text("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n"
                   "- plugins:\n    score:\n      disabled: [{name: '*'}]\n"
                   "      enabled: [{name: NodeResourcesFit, weight: 4}]\n")
    app = build(build_parser().parse_args(["serve", "--config", str(cfg), "-f", DEMO]))
    ext = app.state.extender
    assert ext.scheduler.profile.score_weights == {"NodeResourcesFit": 4}
    names = ext.cache.node_names
    out = ext.prioritize(args(k8s_pod("x", cpu="100m"), names=names))
    ex = ext.scheduler.explain(ext.cache.cluster(), kpack.Pod.from_k8s(k8s_pod("x", cpu="100m")))
    assert {h["Host"]: h["Score"] for h in out} == {n: ex.total.get(n, 0) * 10 // 400 for n in names}
    assert main(["serve", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


# --- the array path, the incremental node cache, the JSON answers ---------------------------------------
def random_cluster(rng, n_nodes=40, n_pods=60):
    """Nodes of a few shapes, zones, taints and cordons, with bound pods filling some of them."""
    zones = ["a", "b", "c"]
    nodes = []
    for i in range(n_nodes):
        taints = []
        if rng.random() < 0.2:
            taints.append(TAINT)
        if rng.random() < 0.2:
            taints.append(SOFT_TAINT)
        nodes.append(kpack.Node.from_k8s(k8s_node(
            f"n{i}", cpu=str(rng.choice([2, 4, 8, 16])), memory=f"{rng.choice([4, 16, 64])}Gi",
            labels={"zone": rng.choice(zones), "disk": rng.choice(["ssd", "hdd"])}, taints=taints,
            unschedulable=rng.random() < 0.05)))
    pods = [kpack.Pod.from_k8s(k8s_pod(f"run-{j}", cpu=f"{rng.choice([250, 1000, 3000])}m",
                                       memory=f"{rng.choice([256, 2048])}Mi",
                                       node=f"n{rng.randrange(n_nodes)}"))
            for j in range(n_pods)]
    return nodes, pods


def random_pod(rng, i):
    kw = {"cpu": f"{rng.choice([100, 1500, 5000, 20000])}m", "memory": f"{rng.choice([128, 4096, 100000])}Mi"}
    r = rng.random()
    if r < 0.25:
        kw["node_selector"] = {"zone": rng.choice(["a", "b", "c"])}
    elif r < 0.45:
        kw["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": rng.choice([10, 50]), "preference": {"matchExpressions": [
                {"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}
    elif r < 0.55:
        kw["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}}
    if rng.random() < 0.3:
        kw["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "gpu",
                              "effect": "NoSchedule"}]
    return kpack.Pod.from_k8s(k8s_pod(f"p{i}", **kw))


def verdict_view(v, n):
    return v.code.tolist(), [v.reasons[r] for r in v.rid.tolist()], v.score[:n].tolist()


def test_array_path_matches_explain():
    # The server's verdicts come from the kernels' arrays; Scheduler.explain is the reference, on the whole
    # cluster (filter) and on clusters of node subsets (prioritize's normalisation over the nodes sent).
    import random

    from kpack.server.verdict import ArrayPath, Verdict
    rng = random.Random(7)
    nodes, pods = random_cluster(rng)
    cluster = kpack.Cluster(nodes, pods)
    sched = kpack.Scheduler()
    ap = ArrayPath(sched)
    for i in range(40):
        pod = random_pod(rng, i)
        v = ap.evaluate(cluster, pod)
        ex = sched.explain(cluster, pod)
        ref = Verdict.from_explanation(cluster, pod, ex, ap.max_total(ex))
        assert verdict_view(v, len(nodes)) == verdict_view(ref, len(nodes)), pod.name
        rows = np.array(sorted(rng.sample(range(len(nodes)), 12)))
        sub = kpack.Cluster([nodes[r] for r in rows], [p for p in pods if p.node_name in
                                                        {nodes[r].name for r in rows}])
        ex_sub = sched.explain(sub, pod)
        ref_sub = Verdict.from_explanation(sub, pod, ex_sub, ap.max_total(ex_sub))
        assert ap.evaluate(cluster, pod, rows).score[rows].tolist() == ref_sub.score[:len(rows)].tolist()
    assert ap.stats["arrays"] == 80 and ap.stats["explain"] == 0
    # a pod the array path leaves to explain (pod anti-affinity: the topology path) gets explain's verdict
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}}
    pod = kpack.Pod.from_k8s(k8s_pod("anti", affinity=anti))
    v = ap.evaluate(cluster, pod)
    ex = sched.explain(cluster, pod)
    assert ap.stats["explain"] == 1
    assert verdict_view(v, len(nodes)) == verdict_view(Verdict.from_explanation(cluster, pod, ex,
                                                                                ap.max_total(ex)), len(nodes))


def cluster_state(c):
    """What filters and scores read, by node name (row order may differ between built and updated)."""
    order = sorted(range(len(c.node_names)), key=c.node_names.__getitem__)
    cols = {r: c.resource_index[r] for r in ("cpu", "memory", "pods")}
    return ([c.node_names[i] for i in order],
            {r: (c.allocatable[order, j].tolist(), c.requested[order, j].tolist()) for r, j in cols.items()},
            c.nonzero_requested[order].tolist(), sorted(p.key for n in c.node_names for p in c.pods_on(n)))


def test_node_cache_follows_changes_in_place():
    # Every change goes through the Cluster's change methods (no rebuild); the result equals a cluster built
    # from scratch, and answers still match Scheduler.explain on that cluster.
    import random
    rng = random.Random(3)
    nodes, pods = random_cluster(rng, n_nodes=20, n_pods=30)
    cache = NodeCache(nodes, pods)
    ext = kpack.server.Extender(kpack.Scheduler(), cache)
    cache.cluster()
    built = cache.stats["rebuild"]
    extra = 0
    for step in range(60):
        op = rng.random()
        names = cache.node_names
        if op < 0.15:
            extra += 1
            cache.put_node(kpack.Node.from_k8s(k8s_node(f"new-{extra}", cpu="8", labels={"zone": "b"})))
        elif op < 0.3 and len(names) > 5:
            old = cache.node(rng.choice(names))
            cache.put_node(old.model_copy(update={"unschedulable": not old.unschedulable}))
        elif op < 0.4 and len(names) > 5:
            cache.remove_node(rng.choice(names))
        elif op < 0.6 and cache.bound_pods():
            cache.remove_pod(rng.choice(cache.bound_pods()).key)
        elif op < 0.7:
            # a pod on a node the cache does not have yet, then the node
            cache.put_pod(kpack.Pod.from_k8s(k8s_pod(f"early-{step}", cpu="1", node=f"late-{step}")))
            cache.put_node(kpack.Node.from_k8s(k8s_node(f"late-{step}", cpu="4")))
        else:
            pod = kpack.Pod.from_k8s(k8s_pod(f"b-{step}", cpu="500m"))
            cache.bind(pod, rng.choice(cache.node_names))
        c = cache.cluster()
        fresh = kpack.Cluster([cache.node(n) for n in cache.node_names],
                              [p for p in cache.bound_pods() if p.node_name in cache])
        assert cluster_state(c) == cluster_state(fresh), step
        if step % 10 == 0:
            body = args(k8s_pod(f"q{step}", cpu="2"), names=cache.node_names)
            out = ext.filter(body)
            _, feasible, failed = expected_filter(fresh, body["Pod"], cache.node_names)
            assert out["NodeNames"] == feasible
            assert {**out["FailedNodes"], **out["FailedAndUnresolvableNodes"]} == failed
    assert cache.stats["rebuild"] == built and cache.stats["node_ops"] > 10 and cache.stats["pod_ops"] > 10


def test_many_node_changes_rebuild_once():
    cache = NodeCache([kpack.Node.from_k8s(k8s_node(f"n{i}")) for i in range(10)])
    cache.cluster()
    for i in range(10):                      # updates apply in place (one row each)
        cache.put_node(kpack.Node.from_k8s(k8s_node(f"n{i}", cpu="8")))
    c = cache.cluster()
    assert cache.stats["rebuild"] == 1 and c.allocatable[:, c.resource_index["cpu"]].tolist() == [8000] * 10
    for i in range(10, 14):                  # a few new nodes: in place
        cache.put_node(kpack.Node.from_k8s(k8s_node(f"n{i}", cpu="2")))
    cache.cluster()
    assert cache.stats["rebuild"] == 1
    for i in range(14, 14 + cache.rebuild_after + 1):     # many at once: one rebuild
        cache.put_node(kpack.Node.from_k8s(k8s_node(f"n{i}", cpu="2")))
    c = cache.cluster()
    assert cache.stats["rebuild"] == 2 and c.allocatable[:, c.resource_index["cpu"]].tolist() == [8000] * 10 \
        + [2000] * (4 + cache.rebuild_after + 1)


def test_full_nodelists_are_read_once():
    # The same NodeList again (kube-scheduler's usual case) is recognised by its bytes: no node is parsed
    # and the cache does not change; a node with a new resourceVersion is taken in place.
    with TestClient(create_app(kpack.Scheduler(), NodeCache(pods=bound_pods()))) as c:
        ext = c.app.state.extender
        nodes = k8s_nodes()
        body = json.dumps(args(k8s_pod("a", cpu="2"), nodes=nodes), separators=(",", ":")).encode()
        first = c.post("/filter", content=body).json()
        gen, rebuilds = ext.cache.generation, ext.cache.stats["rebuild"]
        body2 = json.dumps(args(k8s_pod("b", cpu="2"), nodes=nodes), separators=(",", ":")).encode()
        second = c.post("/filter", content=body2).json()
        assert second == first and ext.stats["same_nodelist"] == 1 and ext.cache.generation == gen
        # the same tail after something that is not one JSON object is not taken for that NodeList
        tail = body[body.index(b',"Nodes":'):]
        r = c.post("/filter", content=b'{"Pod":{"metadata":{"name":"x"}},"Junk":{' + tail)
        assert r.status_code == 400 and "malformed JSON" in r.json()["Error"]
        assert ext.stats["same_nodelist"] == 1
        nodes[1] = k8s_node("big-0", cpu="2", memory="32Gi", labels={"zone": "a"}, rv="2")
        third = c.post("/filter", json=args(k8s_pod("c", cpu="2"), nodes=nodes)).json()
        assert third["NodeNames"] is None and [n["metadata"]["name"] for n in third["Nodes"]["items"]] == \
            ["big-1"]
        assert third["FailedNodes"] == {"mid": "Insufficient cpu", "big-0": "Insufficient cpu"}
        assert ext.cache.stats["rebuild"] == rebuilds and ext.cache.stats["node_ops"] >= 1


def test_json_answers_decode_to_the_same_answers(cluster):
    ext = kpack.server.Extender(kpack.Scheduler(), cluster)
    pod = k8s_pod("j", cpu="2", affinity=PREFER_B)
    body = json.dumps(args(pod, names=cluster.node_names + ["ghost"])).encode()
    raw = ext.filter_json(body)
    out = json.loads(raw)
    _, feasible, failed = expected_filter(cluster, pod, cluster.node_names)
    assert out["NodeNames"] == feasible and out["Nodes"] is None and out["Error"] == ""
    assert {**out["FailedNodes"], **out["FailedAndUnresolvableNodes"]} == \
        {**failed, "ghost": REASON_NOT_CACHED}
    prio = json.loads(ext.prioritize_json(json.dumps(args(pod, names=feasible)).encode()))
    ex = kpack.Scheduler().explain(cluster, kpack.Pod.from_k8s(pod))
    top = 100 * sum(kpack.Profile.default().score_weights[p] for p in ex.scores)
    assert prio == [{"Host": n, "Score": ex.total[n] * 10 // top} for n in feasible]
    assert json.loads(ext.prioritize_json(json.dumps(args(pod, names=[])).encode())) == []


def test_keep_alive_connection_answers_in_order(live_server, cluster):
    # kube-scheduler keeps one connection open: answers (head and body written together) arrive whole and in
    # order, errors included, and a large answer after small ones is not cut.
    port, _ = live_server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    pod = k8s_pod("ka", cpu="1", memory="1Gi")
    names = cluster.node_names
    _, feasible, _ = expected_filter(cluster, pod, names)
    for i in range(3):
        for path, body, status in (("/filter", args(pod, names=names), 200), ("/filter", b"{oops", 400),
                                   ("/prioritize", args(pod, names=feasible), 200)):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            out = json.loads(r.read())
            assert r.status == status, out
            assert r.getheader("server-timing") is not None or status != 200
            if path == "/filter" and status == 200:
                assert out["NodeNames"] == feasible
            if path == "/prioritize":
                assert [h["Host"] for h in out] == feasible
    many = ["big-0"] + [f"ghost-{i:05d}" for i in range(20000)]   # a ~1 MB answer
    conn.request("POST", "/filter", body=json.dumps(args(pod, names=many)).encode())
    r = conn.getresponse()
    out = json.loads(r.read())
    assert r.status == 200 and out["NodeNames"] == ["big-0"]
    assert len(out["FailedAndUnresolvableNodes"]) == 20000
    conn.close()


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def test_repeated_node_name_lists_are_recognised_by_their_bytes(cluster):
    # kube-scheduler sends the same NodeNames again and again: the second body is recognised by its tail
    # (no parse of the list) and answers exactly as a fresh extender that parses everything.
    ext = kpack.server.Extender(kpack.Scheduler(), cluster)
    names = cluster.node_names + ["ghost"]
    seen, repeats = [names], 0
    for i, (cpu, aff) in enumerate([("1", None), ("2", PREFER_B), ("500m", None), ("2", PREFER_B)]):
        pod = k8s_pod(f"r-{i}", cpu=cpu, affinity=aff)
        fresh = kpack.server.Extender(kpack.Scheduler(), cluster)
        body = compact(args(pod, names=names))
        out = json.loads(ext.filter_json(body))
        assert out == json.loads(fresh.filter_json(args(pod, names=names)))
        repeats += (i > 0) + (out["NodeNames"] in seen)
        seen.append(out["NodeNames"])
        body = compact(args(pod, names=out["NodeNames"]))
        assert json.loads(ext.prioritize_json(body)) == json.loads(fresh.prioritize_json(
            args(pod, names=out["NodeNames"])))
    assert ext.stats["same_node_names"] == repeats >= 4
    # a tail that matches after something that is not one JSON object: the normal path (and its 400)
    tail = compact(args(k8s_pod("x"), names=names))
    tail = tail[tail.index(b',"Nodes":null'):]
    with pytest.raises(kpack.server.WireError, match="malformed JSON"):
        ext.filter_json(b'{"Pod":{"metadata":{"name":"x"}},"Junk":{' + tail)
    # a list that is a suffix of a known one is its own list
    out = json.loads(ext.filter_json(compact(args(k8s_pod("s", cpu="1"), names=names[1:]))))
    assert sorted(out["NodeNames"] + list(out["FailedNodes"]) + list(out["FailedAndUnresolvableNodes"])) == \
        sorted(names[1:])


def test_answered_nodelist_comes_back_in_prioritize_unparsed():
    # Not nodeCacheCapable: kube-scheduler sends back, in prioritize, the NodeList kpack answered to filter
    # (Go re-encodes the same objects to the same bytes). kpack recognises it by its bytes, and scores as
    # a fresh extender that parses it.
    nodes = k8s_nodes()
    ext = kpack.server.Extender(kpack.Scheduler(), NodeCache(pods=bound_pods()))
    for i, (cpu, aff) in enumerate([("2", PREFER_B), ("1", None), ("2", PREFER_B)]):
        pod = k8s_pod(f"f-{i}", cpu=cpu, memory="1Gi", affinity=aff)
        answer = ext.filter_json(compact(args(pod, nodes=nodes)))
        passed = json.loads(answer)["Nodes"]
        start = answer.index(b'{"Nodes":') + len(b'{"Nodes":')
        nodelist = answer[start:answer.rindex(b',"NodeNames":null')]
        assert json.loads(nodelist) == passed and passed["items"]
        seen = ext.stats["same_nodelist"]
        prio = json.loads(ext.prioritize_json(b'{"Pod":' + compact(pod) + b',"Nodes":' + nodelist +
                                              b',"NodeNames":null}'))
        assert ext.stats["same_nodelist"] == seen + 1
        fresh = kpack.server.Extender(kpack.Scheduler(), NodeCache(pods=bound_pods()))
        assert prio == fresh.prioritize(args(pod, nodes=passed["items"]))
        assert [h["Host"] for h in prio] == [n["metadata"]["name"] for n in passed["items"]]
    # a node changes: the NodeLists answered before it are not taken as current any more
    nodes[1] = k8s_node("big-0", cpu="2", memory="32Gi", labels={"zone": "a"}, rv="2")
    pod = k8s_pod("g", cpu="2", memory="1Gi")
    out = json.loads(ext.filter_json(compact(args(pod, nodes=nodes))))
    assert [n["metadata"]["name"] for n in out["Nodes"]["items"]] == ["big-1"]


def test_many_answered_nodelists_stay_bounded_and_correct():
    # More passing patterns than kpack keeps NodeLists for: the oldest are dropped, and a prioritize for
    # one of them takes the parsing path and still scores as a fresh extender does.
    nodes = [k8s_node(f"n{i}", cpu="4", memory="8Gi") for i in range(12)]
    ext = kpack.server.Extender(kpack.Scheduler(), NodeCache())
    answered = []
    for i in range(12):
        pod = k8s_pod(f"h-{i}", cpu="1", memory="1Gi", node_selector={"kubernetes.io/hostname": f"n{i}"})
        answer = ext.filter_json(compact(args(pod, nodes=nodes)))
        start = len(b'{"Nodes":')
        nodelist = answer[start:answer.rindex(b',"NodeNames":null')]
        assert [n["metadata"]["name"] for n in json.loads(nodelist)["items"]] == [f"n{i}"]
        answered.append((pod, nodelist))
    # the request's NodeList stays recognised (no parse) however many pods' answers came from it
    assert ext.stats["same_nodelist"] == 11
    assert ext.state()["nodeLists"] == {"recent": 8, "answered": 8}
    for pod, nodelist in (answered[0], answered[-1]):
        body = b'{"Pod":' + compact(pod) + b',"Nodes":' + nodelist + b',"NodeNames":null}'
        fresh = kpack.server.Extender(kpack.Scheduler(), NodeCache())
        assert json.loads(ext.prioritize_json(body)) == fresh.prioritize(
            args(pod, nodes=json.loads(nodelist)["items"]))


def test_filter_answers_are_recalled_by_content():
    # Pods of one class that fail the same nodes for the same reasons share one filter answer (recalled by
    # comparing codes and reasons); every answer is byte for byte what a fresh extender builds.
    import random
    rng = random.Random(11)
    nodes, pods = random_cluster(rng)
    ext = kpack.server.Extender(kpack.Scheduler(), kpack.Cluster(nodes, pods))
    names = [n.name for n in nodes] + ["ghost"]
    for i in range(24):
        cpu = ["100m", "150m", "200m", "30"][i % 4]   # "30" fails every node's fit: other reasons
        sel = {"zone": "a"} if i % 3 == 0 else None
        pod = k8s_pod(f"c-{i}", cpu=cpu, node_selector=sel)
        body = compact(args(pod, names=names))
        fresh = kpack.server.Extender(kpack.Scheduler(), kpack.Cluster(nodes, pods))
        assert ext.filter_json(body) == fresh.filter_json(body), i
        if i == 12:   # a node change: new verdicts, and answers still equal to a fresh extender's
            nodes = nodes[1:]
            ext.remove_node(names[0])
    assert ext.stats["filter_answer_recalled"] >= 6   # 7 with this seed
