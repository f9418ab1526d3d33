"""Load test for `kpack serve` (loopback only, bounded count and time): filter+prioritize pairs, 5,000 nodes.

    python benchmarks/extender_load.py [--nodes 5000] [--pairs 1000] [--max-seconds 60] [--skip-full]

Starts `kpack serve` as a child process on a random 127.0.0.1 port and drives it from one keep-alive
connection, as kube-scheduler does (one scheduling cycle at a time: filter, then prioritize on the nodes that
passed). Reports pairs/s and p50/p95/p99 latency of a pair (the sum of both requests' round trips, measured
from the first byte sent to the last byte received; preparing bodies is not counted) for:

  cache/distinct   nodeCacheCapable, NodeNames only, every pod a distinct spec (no explanation reused
                   across pods; prioritize reuses its filter's)
  cache/replicas   nodeCacheCapable, pods of 10 specs (Deployment replicas: explanations reused while the
                   cluster does not change)
  cache/bind       filter + prioritize + bind per pod (every bind changes the cluster: nothing reused)
  full/distinct    full Node objects in every request (several MB of JSON), distinct pods

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


class Connection:
    """A minimal HTTP/1.1 keep-alive client (so that the client's own overhead stays small)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes, float]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        t0 = time.perf_counter()
        self.sock.sendall(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.sock.sendall(body)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._recv()
        lines = bytes(self.buf[:end]).split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
        length = int(headers[b"content-length"])
        # Server-Timing: "read;dur=0.1, json;dur=0.4, verb;dur=1.2, encode;dur=0.2" (milliseconds)
        self.timing = {k.strip().decode(): float(v) for k, _, v in
                       (p.partition(b";dur=") for p in headers.get(b"server-timing", b"").split(b",") if p)}
        del self.buf[:end + 4]
        while len(self.buf) < length:
            self._recv()
        data = bytes(self.buf[:length])
        del self.buf[:length]
        return status, data, time.perf_counter() - t0

    def _recv(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "kpack.cli", "serve", "--port", str(port),
                             "--log-level", "error", "--max-body-mb", "256"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            Connection(port).request("GET", "/healthz")
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


def percentiles(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return f"p50 {q[49] * 1e3:7.2f} ms  p95 {q[94] * 1e3:7.2f} ms  p99 {q[98] * 1e3:7.2f} ms"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def run_variant(conn: Connection, label: str, pairs: int, max_seconds: float, make_body, spec_of, bind=False,
                full=False, pid: int = 0) -> dict:
    lat, req_f, req_p = [], [], []
    cpu0 = cpu_seconds(pid)
    phases: dict[str, list[float]] = {}
    start = time.perf_counter()
    done = 0
    for i in range(pairs):
        name = f"{label.replace('/', '-')}-{i}"
        pod = ENC(k8s_pod(name, spec_of(i)))
        st, out, tf = conn.request("POST", "/filter", make_body(pod, None))
        assert st == 200, out[:300]
        server_f = conn.timing
        res = DEC(out)
        passed = res["Nodes"]["items"] if full else res["NodeNames"]
        st, out, tp = conn.request("POST", "/prioritize", make_body(pod, passed))
        assert st == 200, out[:300]
        for k in server_f.keys() | conn.timing.keys():
            phases.setdefault(k, []).append(server_f.get(k, 0.0) + conn.timing.get(k, 0.0))
        if bind and passed:
            prio = DEC(out)
            host = max(prio, key=lambda h: h["Score"])["Host"]
            binding = {"PodName": name, "PodNamespace": "default", "PodUID": f"uid-{name}", "Node": host}
            st, out, _ = conn.request("POST", "/bind", ENC(binding))
            assert st == 200, out[:300]
        lat.append(tf + tp)
        req_f.append(tf)
        req_p.append(tp)
        done += 1
        if time.perf_counter() - start > max_seconds:
            break
    wall = time.perf_counter() - start
    server_cpu = cpu_seconds(pid) - cpu0
    # Throughput counts the server's time only (the pair latencies), so the client's body building, which
    # kube-scheduler does in Go, does not count against kpack; the wall-clock figure is given too.
    rate = done / sum(lat)
    print(f"{label:16s} {done:5d} pairs  {rate:8.0f} pairs/s (wall {done / wall:6.0f}/s)  {percentiles(lat)} "
          f"[filter p50 {statistics.median(req_f) * 1e3:.2f} ms, prioritize p50 "
          f"{statistics.median(req_p) * 1e3:.2f} ms]", flush=True)
    mean = {k: sum(v) / len(v) for k, v in phases.items()}
    # "verb" contains parse, pod, cluster and explain; what is left of it is building the answer
    parts = ("parse", "pod", "cluster", "explain")
    mean["answer"] = mean.get("verb", 0.0) - sum(mean.get(k, 0.0) for k in parts)
    inside = mean.get("read", 0.0) + mean.get("verb", 0.0) + mean.get("encode", 0.0)
    # the server process's own CPU time (all of it: HTTP stack included; binds too in cache/bind), which
    # waiting for a core on a loaded machine does not inflate
    print(f"{'':16s} server process CPU per pair: {server_cpu / done * 1e3:.2f} ms "
          f"(-> {done / server_cpu if server_cpu else float('inf'):.0f} pairs/s per core)")
    print(f"{'':16s} inside kpack per pair (Server-Timing, mean ms): {inside:.2f} = "
          + ", ".join(f"{k} {mean[k]:.2f}" for k in ("read", "parse", "pod", "cluster", "explain", "answer",
                                                      "encode") if k in mean), flush=True)
    p99 = statistics.quantiles(lat, n=100, method="inclusive")[98] * 1e3
    return {"variant": label, "pairs": done, "pairs_per_s": rate, "p99_ms": p99,
            "server_cpu_ms": server_cpu / done * 1e3}


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
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--skip-cache", action="store_true", help="only the full-Nodes variant over HTTP")
    ap.add_argument("--skip-breakdown", action="store_true")
    ap.add_argument("--skip-server", action="store_true", help="only the in-process CPU-time figures")
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
          f"{a.bound} bound pods; cpus={os.cpu_count()}", flush=True)
    proc = start_server(port)
    try:
        conn = Connection(port)
        st, out, dt = conn.request("POST", "/nodes", node_list)
        assert st == 200, out[:300]
        print(f"POST /nodes ({a.nodes} nodes): {dt * 1e3:.0f} ms", flush=True)
        st, out, dt = conn.request("POST", "/pods", ENC({"kind": "PodList", "items": bound}))
        assert st == 200, out[:300]
        print(f"POST /pods ({a.bound} bound pods): {dt * 1e3:.0f} ms", flush=True)
        names_bytes = ENC(names)

        def names_body(pod: bytes, passed):
            nn = names_bytes if passed is None else ENC(passed)
            return b'{"Pod":' + pod + b',"Nodes":null,"NodeNames":' + nn + b"}"

        items_bytes = ENC({"metadata": {}, "items": nodes_json})

        def full_body(pod: bytes, passed):
            nl = items_bytes if passed is None else ENC({"metadata": {}, "items": passed})
            return b'{"Pod":' + pod + b',"Nodes":' + nl + b',"NodeNames":null}'

        # warm-up: Numba kernels, caches
        run_variant(conn, "warmup", 20, 30, names_body, lambda i: 10_000 + i, pid=proc.pid)
        print()
        results = [] if a.skip_cache else [
            run_variant(conn, "cache/distinct", a.pairs, a.max_seconds, names_body, lambda i: 1000 + i,
                        pid=proc.pid),
            run_variant(conn, "cache/replicas", a.pairs, a.max_seconds, names_body, lambda i: i % 10,
                        pid=proc.pid),
            run_variant(conn, "cache/bind", a.pairs, a.max_seconds, names_body, lambda i: 5000 + i,
                        bind=True, pid=proc.pid),
        ]
        if not a.skip_full:
            # warm-up: the first full request parses every node with pydantic (once per node version)
            run_variant(conn, "full/warmup", 3, a.max_seconds, full_body, lambda i: 60_000 + i, full=True,
                        pid=proc.pid)
            results.append(run_variant(conn, "full/distinct", a.full_pairs, a.max_seconds, full_body,
                                       lambda i: 20_000 + i, full=True, pid=proc.pid))
        print("\ntargets: cache/* >= 1000 pairs/s with p99 < 10 ms; full/* p99 < 250 ms")
        for r in results:
            ok = (r["pairs_per_s"] >= 1000 and r["p99_ms"] < 10) if r["variant"].startswith("cache") \
                else r["p99_ms"] < 250
            print(f"  {r['variant']:16s} {'met' if ok else 'MISSED'}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if not a.skip_breakdown:
        cpu_pairs(nodes_json, bound, min(a.pairs, 200), min(a.full_pairs, 20))
        breakdown(nodes_json, bound)


if __name__ == "__main__":
    main()
