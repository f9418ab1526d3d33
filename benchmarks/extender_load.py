"""Load test for `kpack serve` (loopback only, bounded count and time): filter+prioritize pairs, 5,000 nodes.

    python benchmarks/extender_load.py [--nodes 5000] [--pairs 1000] [--max-seconds 60] [--conns 1 2]
                                       [--skip-full] [--skip-breakdown]

Starts `kpack serve` as a child process on a random 127.0.0.1 port and drives it with the lean load
generator in loadgen.py (pre-encoded requests on keep-alive sockets, like wrk). Each connection runs one
scheduling cycle at a time, as kube-scheduler does: filter, then prioritize on the nodes that passed.
pairs/s is pairs done over wall time; latency is a pair's (first byte of the filter sent to the last byte of
the prioritize answer received). Every line gives the server's and the client's CPU time per pair: the two
share the machine's cores. Variants:

  cache/distinct   nodeCacheCapable, NodeNames only, every pod a distinct spec (no explanation reused
                   across pods; prioritize reuses its filter's)
  cache/replicas   nodeCacheCapable, pods of 10 specs (Deployment replicas: explanations reused while the
                   cluster does not change)
  cache/bind       filter + prioritize + bind per pod (every bind changes the cluster: nothing reused; the
                   bind is not timed, kube-scheduler binds asynchronously)
  full/distinct    full Node objects in every request (several MB of JSON), distinct pods, with the
                   server's own phases (Server-Timing: read, parse, pod, cluster, explain, answer)

then the same verbs in-process timed in CPU time (no HTTP, no waiting for a core on a shared machine), and a
breakdown of where one request's time goes (JSON, pydantic, Cluster, explain, answer).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

import loadgen as L
import msgspec

import kpack
from kpack.server import Extender, NodeCache
from kpack.server.extender import Verdict
from kpack.server.wire import parse_extender_args

ENC = msgspec.json.encode
DEC = msgspec.json.decode
ZONES = [f"zone-{i}" for i in range(10)]
SHAPES = [("16", "64Gi"), ("32", "128Gi"), ("64", "256Gi")]


def k8s_node(i: int) -> dict:
    """A v1.Node the size of a real one (labels, conditions, addresses, images: ~3 KB of JSON)."""
    cpu, mem = SHAPES[i % 3]
    name = f"node-{i:05d}"
    res = {"cpu": cpu, "memory": mem, "pods": "110", "ephemeral-storage": "200Gi", "hugepages-2Mi": "0"}
    spec = {"podCIDR": f"10.{i // 256 % 256}.{i % 256}.0/24",
            "providerID": f"aws:///{ZONES[i % 10]}/i-{i:017x}"}
    if i % 10 == 7:
        spec["taints"] = [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]
    if i % 13 == 5:
        spec.setdefault("taints", []).append({"key": "spot", "value": "true", "effect": "PreferNoSchedule"})
    cond = [{"type": t, "status": "False" if t != "Ready" else "True",
             "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z",
             "reason": f"Kubelet{t}", "message": f"kubelet {t}"}
            for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
    images = [{"names": [f"registry.example.com/team-{j}/service-{j}@sha256:{(i * 31 + j):064x}",
                         f"registry.example.com/team-{j}/service-{j}:v1.{j}.0"], "sizeBytes": 10_000_000 + j}
              for j in range(6)]
    return {"metadata": {"name": name, "uid": f"{i:08x}-0000-4000-8000-000000000000",
                         "resourceVersion": str(1000 + i), "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64",
                                    "topology.kubernetes.io/zone": ZONES[i % 10],
                                    "topology.kubernetes.io/region": "region-1",
                                    "node.kubernetes.io/instance-type": f"m5.{4 << (i % 3)}xlarge",
                                    "pool": "batch" if i % 10 == 7 else "general"}},
            "spec": spec,
            "status": {"capacity": res, "allocatable": res, "conditions": cond,
                       "addresses": [{"type": "InternalIP", "address": f"10.0.{i // 256 % 256}.{i % 256}"},
                                     {"type": "Hostname", "address": name}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"kubeletVersion": "v1.35.4",
                                    "containerRuntimeVersion": "containerd://2.1.0", "kernelVersion": "6.8.0",
                                    "osImage": "Ubuntu 24.04", "operatingSystem": "linux",
                                    "architecture": "amd64", "machineID": f"{i:032x}",
                                    "systemUUID": f"{i:032x}", "bootID": f"{i:032x}",
                                    "kubeProxyVersion": "v1.35.4"},
                       "images": images}}


def k8s_pod(name: str, spec_no: int, node: str | None = None) -> dict:
    """A pending v1.Pod; spec_no picks its requests (and, for some, a zone selector or a toleration)."""
    spec = {"containers": [{"name": "app", "image": "registry.example.com/app:v1",
                            "resources": {"requests": {"cpu": f"{100 + spec_no}m",
                                                       "memory": f"{128 + spec_no % 64}Mi"}}}],
            "restartPolicy": "Always", "schedulerName": "default-scheduler", "priority": 0,
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300}]}
    if spec_no % 4 == 1:
        spec["nodeSelector"] = {"topology.kubernetes.io/zone": ZONES[spec_no % 10]}
    if spec_no % 4 == 2:
        spec["tolerations"].append({"key": "dedicated", "operator": "Equal", "value": "batch",
                                    "effect": "NoSchedule"})
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "labels": {"app": "load"}},
            "spec": spec, "status": {"phase": "Pending"}}


def start_server(port: int, extra: tuple = ()) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "kpack.cli", "serve", "--port", str(port),
                             "--log-level", "error", "--max-body-mb", "256", *extra],
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            c = L.Conn(port)
            c.call(b"/healthz", [], b"GET")
            c.close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("kpack serve did not start") from None
            time.sleep(0.2)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def names_pairs(label: str, count: int, spec_of, names_bytes: bytes, bind: bool = False) -> list[L.Pair]:
    """nodeCacheCapable pairs, every body pre-encoded: filter on all node names, prioritize on the names the
    filter passed (cut out of its answer), and for `bind` a bind to the best-scored node (not timed)."""
    out = []
    for i in range(count):
        name = f"{label.replace('/', '-')}-{i}"
        pod = ENC(k8s_pod(name, spec_of(i)))
        head = [b'{"Pod":', pod, b',"Nodes":null,"NodeNames":']

        def prio(conn, head=head):
            return [*head, L.names_of_filter(conn), b"}"]

        def bind_to(answer, name=name):
            prios = DEC(bytes(answer))
            if not prios:
                return b""
            host = max(prios, key=lambda h: h["Score"])["Host"]
            return ENC({"PodName": name, "PodNamespace": "default", "PodUID": f"uid-{name}", "Node": host})
        out.append(L.Pair([*head, names_bytes, b"}"], prio, bind_to if bind else None))
    return out


def full_pairs(label: str, count: int, spec_of, items_bytes: bytes) -> list[L.Pair]:
    """Full-Node pairs: the whole NodeList in every filter, the passing Nodes (cut out of the filter's answer)
    in its prioritize, as kube-scheduler sends them to an extender without nodeCacheCapable."""
    out = []
    for i in range(count):
        pod = ENC(k8s_pod(f"{label.replace('/', '-')}-{i}", spec_of(i)))

        def prio(conn, pod=pod):
            return [b'{"Pod":', pod, b',"Nodes":', L.nodes_of_filter(conn), b',"NodeNames":null}']
        out.append(L.Pair([b'{"Pod":', pod, b',"Nodes":', items_bytes, b',"NodeNames":null}'], prio))
    return out


def report(r: L.Result) -> dict:
    print(r.line(), flush=True)
    for e in r.errors:
        print(f"{'':16s} ERROR: {e}", flush=True)
    if r.phases:
        mean = {k: statistics.mean(v) for k, v in r.phases.items()}
        # "verb" contains parse, pod, cluster and explain; what is left of it is building the answer
        mean["answer"] = mean.get("verb", 0.0) - sum(mean.get(k, 0.0) for k in ("parse", "pod", "cluster",
                                                                                   "explain"))
        print(f"{'':16s} server phases per pair (Server-Timing, mean ms): "
              + ", ".join(f"{k} {mean[k]:.2f}" for k in ("read", "parse", "pod", "cluster", "explain",
                                                          "answer", "encode") if k in mean), flush=True)
    return {"variant": r.label, "conns": r.conns, "pairs": r.pairs, "pairs_per_s": r.rate,
            "p99_ms": r.pct(99), "server_cpu_ms": r.server_cpu / max(r.pairs, 1) * 1e3,
            "client_cpu_ms": r.client_cpu / max(r.pairs, 1) * 1e3}


def filter_json(ext: Extender, body: bytes) -> bytes:
    """The filter answer as the server sends it (main, before the array path, encoded Extender.filter's)."""
    return ext.filter_json(body) if hasattr(ext, "filter_json") else ENC(ext.filter(body))


def prioritize_json(ext: Extender, body: bytes) -> bytes:
    return ext.prioritize_json(body) if hasattr(ext, "prioritize_json") else ENC(ext.prioritize(body))


def cpu_pairs(nodes_json: list[dict], bound: list[dict], pairs: int, full_pairs: int) -> None:
    """The verbs in-process (the server minus HTTP), timed in CPU seconds of this process: on a shared,
    loaded machine the wall-clock figures above include waiting for a core; these do not."""
    names = [n["metadata"]["name"] for n in nodes_json]
    nodes = [kpack.Node.from_k8s(n) for n in nodes_json]
    pods = [kpack.Pod.from_k8s(p) for p in bound]
    ext = Extender(kpack.Scheduler(), NodeCache(nodes, pods))
    names_bytes = ENC(names)
    items = {"metadata": {}, "items": nodes_json}
    print("\nin-process, CPU time per filter+prioritize pair (HTTP not included):")
    for label, spec_of, full, count in (("cache/distinct", lambda i: 30_000 + i, False, pairs),
                                        ("cache/replicas", lambda i: i % 10, False, pairs),
                                        ("full/distinct", lambda i: 40_000 + i, True, full_pairs)):
        cpu = []
        for i in range(count + 3):
            pod = ENC(k8s_pod(f"cpu-{label}-{i}", spec_of(i)))
            nl = ENC(items) if full else names_bytes
            body = b'{"Pod":' + pod + (b',"Nodes":' + nl + b',"NodeNames":null}' if full else
                                      b',"Nodes":null,"NodeNames":' + nl + b"}")
            t0 = time.process_time()
            answer = filter_json(ext, body)
            t1 = time.process_time()
            out = DEC(answer)
            passed = out["Nodes"]["items"] if full else out["NodeNames"]
            pl = ENC({"metadata": {}, "items": passed}) if full else ENC(passed)
            body = b'{"Pod":' + pod + (b',"Nodes":' + pl + b',"NodeNames":null}' if full else
                                      b',"Nodes":null,"NodeNames":' + pl + b"}")
            t2 = time.process_time()
            prioritize_json(ext, body)
            t3 = time.process_time()
            if i >= 3:   # the first pairs build the cluster and parse the nodes
                cpu.append((t1 - t0) + (t3 - t2))
        print(f"  {label:16s} {len(cpu):5d} pairs  mean {statistics.mean(cpu) * 1e3:7.2f} ms  "
              f"p99 {statistics.quantiles(cpu, n=100, method='inclusive')[98] * 1e3:7.2f} ms CPU  "
              f"-> {1 / statistics.mean(cpu):6.0f} pairs/s per core before HTTP", flush=True)


def breakdown(nodes_json: list[dict], bound: list[dict]) -> None:
    """Where one request's time goes, measured in-process on the same code paths the server runs."""
    def t(fn, reps=5):
        fn()
        best = float("inf")
        for _ in range(reps):
            t0 = time.process_time()
            fn()
            best = min(best, time.process_time() - t0)
        return best * 1e3

    names = [n["metadata"]["name"] for n in nodes_json]
    pod = k8s_pod("probe", 3)
    node_list = {"metadata": {}, "items": nodes_json}
    body_full = ENC({"Pod": pod, "Nodes": node_list, "NodeNames": None})
    body_names = ENC({"Pod": pod, "Nodes": None, "NodeNames": names})
    nodes = [kpack.Node.from_k8s(n) for n in nodes_json]
    pods = [kpack.Pod.from_k8s(p) for p in bound]
    cluster = kpack.Cluster(nodes, pods)
    sched = kpack.Scheduler()
    kp = kpack.Pod.from_k8s(pod)
    ext = Extender(sched, NodeCache(nodes, pods))
    filter_json(ext, body_names)
    ex = sched.explain(cluster, kp)
    print(f"\nbreakdown, {len(names)} nodes (best of 5, in-process, CPU ms):")
    filter_json(ext, body_full)
    # the same nodes in another order: a NodeList not seen before (no byte-equal repeat), same versions
    body_full2 = ENC({"Pod": pod, "Nodes": {"metadata": {}, "items": nodes_json[::-1]}, "NodeNames": None})
    filter_json(ext, body_full2)
    state = [False]

    def flip() -> bool:
        state[0] = not state[0]
        return state[0]
    rows = [
        ("msgspec decode, NodeNames body", t(lambda: DEC(body_names)), len(body_names)),
        ("msgspec decode, full Nodes body (all of it)", t(lambda: DEC(body_full)), len(body_full)),
        ("parse_extender_args, full Nodes body (one pass, Nodes kept raw)",
         t(lambda: parse_extender_args(body_full)), len(body_full)),
        ("  + each node's name/resourceVersion (typed pass)",
         t(lambda: parse_extender_args(body_full).node_heads), len(body_full)),
        ("pydantic Node.from_k8s x all nodes", t(lambda: [kpack.Node.from_k8s(n) for n in nodes_json], 2), 0),
        ("kpack.Cluster(nodes, bound pods)", t(lambda: kpack.Cluster(nodes, pods), 2), 0),
        ("Pod.from_k8s (one pod)", t(lambda: kpack.Pod.from_k8s(pod)), 0),
        ("Scheduler.explain (all nodes)", t(lambda: sched.explain(cluster, kp)), 0),
        ("Verdict.from_explanation (explanation -> arrays)",
         t(lambda: Verdict.from_explanation(cluster, kp, ex, ext.max_total(ex))), 0),
        ("ArrayPath.evaluate (kernel -> arrays, the server's path)",
         t(lambda: ext.arrays.evaluate(cluster, kp)), 0),
        ("filter_json, NodeNames body, verdict reused", t(lambda: filter_json(ext, body_names)), 0),
        ("filter_json, full Nodes body, same NodeList + verdict reused",
         t(lambda: filter_json(ext, body_full)), 0),
        ("filter_json, full Nodes body, NodeList changed (heads pass + diff)",
         t(lambda: filter_json(ext, body_full2 if flip() else body_full)), 0),
    ]
    for label, ms, size in rows:
        extra = f"   ({size / 1e6:.1f} MB)" if size else ""
        print(f"  {label:58s} {ms:8.2f}{extra}")
    import cProfile
    import io
    import pstats
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(5):
        sched.explain(cluster, kp)
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(6)
    print("\nScheduler.explain profile (5 calls, by own time):")
    print("\n".join(ln for ln in s.getvalue().splitlines() if ln.strip() and ("{" in ln or ".py" in ln)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--bound", type=int, default=1000, help="pods already running (POSTed to /pods)")
    ap.add_argument("--pairs", type=int, default=1000, help="pairs per variant (at most)")
    ap.add_argument("--full-pairs", type=int, default=100, help="pairs for the full-Nodes variant (at most)")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="time limit per variant")
    ap.add_argument("--conns", type=int, nargs="+", default=[1, 2],
                    help="connections at once for the cache variants (default 1 2: one scheduling cycle at a "
                         "time as kube-scheduler runs them, and two overlapping)")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--skip-cache", action="store_true", help="only the full-Nodes variant over HTTP")
    ap.add_argument("--skip-breakdown", action="store_true")
    ap.add_argument("--skip-server", action="store_true", help="only the in-process CPU-time figures")
    ap.add_argument("--json", help="write the results (list of dicts) to this file")
    a = ap.parse_args()
    nodes_json = [k8s_node(i) for i in range(a.nodes)]
    names = [n["metadata"]["name"] for n in nodes_json]
    bound = [k8s_pod(f"running-{i}", i % 50, node=names[(i * 7) % a.nodes]) for i in range(a.bound)]
    node_list = ENC({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": nodes_json})
    if a.skip_server:
        cpu_pairs(nodes_json, bound, min(a.pairs, 200), min(a.full_pairs, 20))
        breakdown(nodes_json, bound)
        return
    port = free_port()
    print(f"kpack serve on 127.0.0.1:{port}; {a.nodes} nodes ({len(node_list) / 1e6:.1f} MB as a NodeList), "
          f"{a.bound} bound pods; cpus={os.cpu_count()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    proc = start_server(port)
    results = []
    try:
        conn = L.Conn(port)
        t = time.perf_counter()
        st, out = conn.call(b"/nodes", [node_list])
        assert st == 200, bytes(out[:300])
        print(f"POST /nodes ({a.nodes} nodes): {(time.perf_counter() - t) * 1e3:.0f} ms", flush=True)
        t = time.perf_counter()
        st, out = conn.call(b"/pods", [ENC({"kind": "PodList", "items": bound})])
        assert st == 200, bytes(out[:300])
        print(f"POST /pods ({a.bound} bound pods): {(time.perf_counter() - t) * 1e3:.0f} ms", flush=True)
        conn.close()
        names_bytes = ENC(names)
        items_bytes = ENC({"metadata": {}, "items": nodes_json})
        pid = proc.pid

        def go(label, pairs, **kw):
            return L.run(port, pairs, label=label, max_seconds=a.max_seconds, server_pid=pid, **kw)
        # warm-up: Numba kernels, caches (not reported in the results)
        report(go("warmup", names_pairs("warmup", 30, lambda i: 10_000 + i, names_bytes)))
        print(flush=True)
        if not a.skip_cache:
            for c in a.conns:
                # each run its own pod specs, so that no run reuses another's explanations
                base = 100_000 * c
                results.append(report(go("cache/distinct", names_pairs(f"d{c}", a.pairs, lambda i: base + i,
                                                                          names_bytes), conns=c)))
                results.append(report(go("cache/replicas", names_pairs(f"r{c}", a.pairs, lambda i: i % 10,
                                                                          names_bytes), conns=c)))
            results.append(report(go("cache/bind", names_pairs("b", a.pairs, lambda i: 5000 + i, names_bytes,
                                                                 bind=True))))
        if not a.skip_full:
            # warm-up: the first full request parses every node with pydantic (once per node version)
            report(go("full/warmup", full_pairs("fw", 3, lambda i: 60_000 + i, items_bytes)))
            results.append(report(go("full/distinct", full_pairs("f", a.full_pairs, lambda i: 20_000 + i,
                                                                 items_bytes), timing=True)))
        print("\ntargets: cache/* >= 1000 pairs/s with p99 < 10 ms; full/* p99 < 250 ms")
        for r in results:
            ok = (r["pairs_per_s"] >= 1000 and r["p99_ms"] < 10) if r["variant"].startswith("cache") \
                else r["p99_ms"] < 250
            print(f"  {r['variant']:16s} c={r['conns']}  {'met' if ok else 'MISSED'}")
        # the arithmetic: with the pair's CPU on both sides, what two cores allow at most
        for r in results:
            cpu = r["server_cpu_ms"] + r["client_cpu_ms"]
            if cpu:
                print(f"  {r['variant']:16s} c={r['conns']}  server {r['server_cpu_ms']:.3f} + client "
                      f"{r['client_cpu_ms']:.3f} ms CPU per pair: at most {1e3 / r['server_cpu_ms']:.0f} "
                      f"pairs/s (server core), {1e3 / cpu:.0f} pairs/s (client and server on one core)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if a.json:
        with open(a.json, "w") as f:
            f.write(msgspec.json.encode(results).decode())
    if not a.skip_breakdown:
        cpu_pairs(nodes_json, bound, min(a.pairs, 200), min(a.full_pairs, 20))
        breakdown(nodes_json, bound)


if __name__ == "__main__":
    main()
