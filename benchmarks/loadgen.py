"""A lean HTTP/1.1 load generator for the extender (like wrk): pre-encoded requests on keep-alive sockets.

The client shares the machine's cores with the server, so it does as little as it can per request: request
heads and bodies are bytes built before the clock starts and sent with one `sendmsg` (scatter-gather, no
concatenation); a response is read into one preallocated buffer with `recv_into`, and only its status line
and Content-Length are looked at. The prioritize request of a pair is cut out of the filter answer's bytes
(the NodeNames list, or the Nodes NodeList) without decoding it. Each connection runs whole pairs in turn
(filter, then prioritize on what passed), as kube-scheduler runs one scheduling cycle at a time; `conns` > 1
runs that many connections at once from threads (they wait in recv with the GIL released).

Every run is bounded by a pair count and a time limit, and reports the client's own CPU time
(`resource.getrusage` of this process) next to the wall time, so that the client's share of two shared
cores is known.
"""
from __future__ import annotations

import resource
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

HEAD = b"%s %s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"


def cpu_self() -> tuple[float, float]:
    """User and system CPU seconds of this process (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of another process so far (Linux /proc; 0 elsewhere)."""
    import os
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class Conn:
    """One keep-alive connection: `call(path, parts)` sends the body made of `parts` and returns
    (status, response body as a memoryview into the connection's buffer, valid until the next call)."""

    def __init__(self, port: int, bufsize: int = 1 << 20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray(bufsize)
        self.view = memoryview(self.buf)
        self.n = 0       # bytes in buf
        self.start = 0   # where the next response starts
        self.head = b""  # the last response's status line and headers, lower case
        self.body_at = 0  # the last response's body is buf[body_at:start]

    def call(self, path: bytes, parts: list, method: bytes = b"POST") -> tuple[int, memoryview]:
        size = sum(map(len, parts))
        msg = [HEAD % (method, path, size), *parts]
        total = size + len(msg[0])
        sent = self.sock.sendmsg(msg)
        if sent < total:   # a blocking sendmsg can stop short on large bodies: send the rest
            rest = b"".join(bytes(p) for p in msg)[sent:]
            self.sock.sendall(rest)
        return self.read()

    def read(self) -> tuple[int, memoryview]:
        if self.start:   # drop the previous response (keep-alive: nothing else is pipelined)
            if self.n > self.start:
                self.buf[:self.n - self.start] = self.buf[self.start:self.n]
            self.n -= self.start
            self.start = 0
        while (end := self.buf.find(b"\r\n\r\n", 0, self.n)) < 0:
            self._recv()
        head = self.head = bytes(self.buf[:end]).lower()
        status = int(head[9:12])
        i = head.find(b"\r\ncontent-length:")
        if i < 0:
            raise ConnectionError(f"no content-length in {head[:200]!r}")
        j = head.find(b"\r\n", i + 2)
        length = int(head[i + 17:j if j > 0 else len(head)])
        body_at = end + 4
        need = body_at + length
        if need > len(self.buf):   # grow once for a larger answer (full NodeLists)
            self._grow(need + (1 << 20))
        while self.n < need:
            self._recv()
        self.start, self.body_at = need, body_at
        return status, self.view[body_at:need]

    def _recv(self) -> None:
        if self.n == len(self.buf):
            self._grow(2 * len(self.buf))
        got = self.sock.recv_into(self.view[self.n:])
        if not got:
            raise ConnectionError("server closed the connection")
        self.n += got

    def _grow(self, size: int) -> None:
        # a new buffer, not a resized one: the caller may still hold views of the old one (the request
        # being sent is cut out of the previous answer)
        new = bytearray(size)
        new[:self.n] = self.buf[:self.n]
        self.buf, self.view = new, memoryview(new)

    def close(self) -> None:
        self.sock.close()


def names_of_filter(c: Conn) -> bytes:
    """The NodeNames list of the filter answer `c` just read, as compact JSON (kube-scheduler re-encodes it
    without the spaces kpack may pad it with; node names are DNS names, which hold no spaces)."""
    buf, start, end = c.buf, c.body_at, c.start
    i = buf.index(b'"NodeNames":', start, end) + 12
    j = buf.index(b"]", i, end) + 1
    names = bytes(buf[i:j])
    return names.replace(b" ", b"") if b" " in names else names


def nodes_of_filter(c: Conn) -> memoryview:
    """The Nodes NodeList of the filter answer `c` just read (the passing Node objects), as a span of the
    connection's buffer (valid until its next call)."""
    buf, start, end = c.buf, c.body_at, c.start
    if not buf.startswith(b'{"Nodes":{', start):
        raise ValueError(f"not a filter answer with Nodes: {bytes(buf[start:start + 80])!r}")
    # the answer is {"Nodes":<NodeList>,"NodeNames":null,"FailedNodes":{..},...}: the last ',"NodeNames":'
    # follows the NodeList (FailedNodes and its reasons never hold that text)
    stop = buf.rfind(b',"NodeNames":null', start, end)
    return c.view[start + 9:stop]


@dataclass
class Pair:
    """One pod's filter request body parts and how to make its prioritize body from the filter answer."""
    filter_parts: list
    prioritize_parts: Callable[[Conn], list]    # from the connection that just read the filter answer
    bind: Optional[Callable[[memoryview], bytes]] = None


@dataclass
class Result:
    label: str
    conns: int
    pairs: int
    wall: float
    timing: bool = False   # collect the server's Server-Timing phases (ms, filter + prioritize summed)
    phases: dict = field(default_factory=dict)
    lat: list = field(default_factory=list)
    filter_lat: list = field(default_factory=list)
    prio_lat: list = field(default_factory=list)
    client_cpu: float = 0.0
    client_sys: float = 0.0   # the kernel's part of client_cpu (sending and receiving on loopback)
    server_cpu: float = 0.0
    errors: list = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.pairs / self.wall if self.wall else 0.0

    def pct(self, q: int, xs: Optional[list] = None) -> float:
        xs = self.lat if xs is None else xs
        if len(xs) < 2:
            return xs[0] * 1e3 if xs else float("nan")
        return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] * 1e3

    def line(self) -> str:
        per = 1e3 / max(self.pairs, 1)
        return (f"{self.label:16s} c={self.conns} {self.pairs:5d} pairs {self.rate:7.0f} pairs/s  "
                f"p50 {self.pct(50):7.2f}  p99 {self.pct(99):7.2f} ms  [filter p50 "
                f"{self.pct(50, self.filter_lat):.2f}, prioritize p50 {self.pct(50, self.prio_lat):.2f} ms]  "
                f"CPU/pair: server "
                f"{self.server_cpu * per:.3f} ms, client {self.client_cpu * per:.3f} ms "
                f"({self.client_sys * per:.3f} of it kernel)")


def server_timing(head: bytes) -> dict[str, float]:
    """Server-Timing phases of a response head ("read;dur=0.1, verb;dur=1.2"), in ms."""
    i = head.find(b"\r\nserver-timing:")
    if i < 0:
        return {}
    j = head.find(b"\r\n", i + 2)
    value = head[i + 17:j if j > 0 else len(head)]
    pairs = (p.partition(b";dur=") for p in value.split(b",") if p)
    return {k.strip().decode(): float(v) for k, _, v in pairs}


def run(port: int, pairs: list[Pair], *, label: str, conns: int = 1, max_seconds: float = 30.0,
        server_pid: int = 0, bind_path: bytes = b"/bind", timing: bool = False) -> Result:
    """Run `pairs` (in order, spread over `conns` connections) until done or `max_seconds` passed."""
    cs = [Conn(port) for _ in range(conns)]
    lock = threading.Lock()
    it = iter(range(len(pairs)))
    res = Result(label, conns, 0, 0.0, timing=timing)
    deadline = time.perf_counter() + max_seconds

    def worker(c: Conn) -> None:
        lat, fl, pl = [], [], []
        pc = time.perf_counter
        try:
            while pc() < deadline:
                with lock:
                    i = next(it, None)
                if i is None:
                    break
                p = pairs[i]
                t0 = pc()
                st, out = c.call(b"/filter", p.filter_parts)
                if st != 200:
                    raise RuntimeError(f"filter {st}: {bytes(out[:300])!r}")
                t1 = pc()
                head_f = c.head
                parts = p.prioritize_parts(c)
                st, out = c.call(b"/prioritize", parts)
                if st != 200:
                    raise RuntimeError(f"prioritize {st}: {bytes(out[:300])!r}")
                t2 = pc()
                if timing:
                    f, q = server_timing(head_f), server_timing(c.head)
                    for k in f.keys() | q.keys():
                        res.phases.setdefault(k, []).append(f.get(k, 0.0) + q.get(k, 0.0))
                if p.bind is not None:   # not timed: kube-scheduler binds asynchronously
                    body = p.bind(out)
                    if body:
                        st, out = c.call(bind_path, [body])
                        if st != 200:
                            raise RuntimeError(f"bind {st}: {bytes(out[:300])!r}")
                lat.append(t2 - t0)
                fl.append(t1 - t0)
                pl.append(t2 - t1)
        except Exception as e:   # reported, and the run's figures say how many pairs were done
            res.errors.append(repr(e))
        with lock:
            res.lat += lat
            res.filter_lat += fl
            res.prio_lat += pl

    s0, c0, t0 = cpu_of(server_pid), cpu_self(), time.perf_counter()
    if conns == 1:
        worker(cs[0])
    else:
        ts = [threading.Thread(target=worker, args=(c,)) for c in cs]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    res.wall = time.perf_counter() - t0
    c1 = cpu_self()
    res.client_cpu = c1[0] + c1[1] - c0[0] - c0[1]
    res.client_sys = c1[1] - c0[1]
    res.server_cpu = cpu_of(server_pid) - s0 if server_pid else 0.0
    res.pairs = len(res.lat)
    for c in cs:
        c.close()
    return res
