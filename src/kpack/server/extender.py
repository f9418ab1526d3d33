"""The extender verbs (filter, prioritize, bind) on a NodeCache and a kpack.Scheduler, without HTTP."""
from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter, OrderedDict
from itertools import compress, repeat
from typing import Any, Optional

import numpy as np
from pydantic import ValidationError

from ..models import Node, Pod
from ..scheduler import Explanation, Scheduler, SchedulingError
from ..state import Cluster, ClusterError
from . import wire as W
from .cache import CacheError, NodeCache
from .wire import ExtenderArgs, node_name, short

REASON_NOT_CACHED = "node is not in kpack's node cache (POST it to /nodes)"
_FIT_PREFIX = "Insufficient "
_TOO_MANY_PODS = "Too many pods"


class ExtenderError(ValueError):
    """A request the extender refuses; `status` is the HTTP status code to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def validation_message(e: ValidationError, where: str) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {loc + ': ' if loc and not msg.startswith(loc) else ''}{msg}"


def _digest(obj: Any) -> bytes:
    """A digest of a JSON value: of its raw bytes as received, or of a decoded value re-encoded."""
    data = obj if isinstance(obj, W.Raw) else W.dumps(obj)
    return hashlib.blake2b(data, digest_size=16).digest()


class Extender:
    """kube-scheduler's HTTP extender verbs on kpack's filters and scores. Thread-safe: one lock around state.
    Verbs take a decoded body (dict) or the raw JSON bytes; treat the answers' inner objects as read-only
    (repeated requests share them).

    Explanations are cached per (pod without its name, cluster state), so the prioritize call that follows
    a filter call for the same pod, and identical replicas while nothing changed, cost one explain.
    """

    def __init__(self, scheduler: Optional[Scheduler] = None, cache: Optional[NodeCache | Cluster] = None,
                 *, explain_cache: int = 256, pending_pods: int = 10_000):
        self.scheduler = scheduler or Scheduler()
        if cache is None:
            cache = NodeCache()
        elif isinstance(cache, Cluster):
            cache = NodeCache.from_cluster(cache)
        self.cache: NodeCache = cache
        self.lock = threading.RLock()
        self.stats: Counter = Counter()
        self._explained: OrderedDict[tuple, Explanation] = OrderedDict()
        self._explain_cache = explain_cache
        self._pods: OrderedDict[bytes, tuple[Pod, bytes, str]] = OrderedDict()   # digest->Pod,key,uid
        self._pending: OrderedDict[str, tuple[Pod, str]] = OrderedDict()  # pods seen by filter/prioritize
        self._pending_max = pending_pods
        self._parsed: dict[str, tuple[Any, Node]] = {}   # full-mode nodes: name -> (version, Node)
        self._seen_full: set[str] = set()                 # node names kube-scheduler sent in full
        self._recent_rows: list[tuple[Cluster, list[str], np.ndarray]] = []
        self._last_full: Optional[tuple[Cluster, tuple, dict]] = None   # full-Nodes cluster, token, versions
        self.timing: list[tuple[str, float]] = []   # phases of the last filter/prioritize call, seconds

    # --- verbs --------------------------------------------------------------------------------------
    def filter(self, body: Any) -> dict:
        """ExtenderArgs -> ExtenderFilterResult."""
        t0 = time.perf_counter()
        args = W.parse_extender_args(body)
        with self.lock:
            v, idx, names = self._evaluate(args, t0)
            self.stats["filter"] += 1
            hit = v.answer("filter", idx)
            if hit is not None and args.node_names is not None:
                return {**hit, "NodeNames": list(hit["NodeNames"])}
            code = v.code[idx]
            passed = list(compress(range(len(names)), (code == PASSED).tolist()))
            bad = np.flatnonzero(code != PASSED)
            failed: dict[str, str] = {}
            unresolvable: dict[str, str] = {}
            for i, r, k in zip(bad.tolist(), v.reason[idx[bad]].tolist(), code[bad].tolist()):
                (failed if k == FAILED else unresolvable)[names[i]] = r
            if args.node_names is not None:
                out = {"Nodes": None, "NodeNames": [names[i] for i in passed], "FailedNodes": failed,
                       "FailedAndUnresolvableNodes": unresolvable, "Error": ""}
                v.remember("filter", idx, out)
                return {**out, "NodeNames": list(out["NodeNames"])}
        items = args.nodes or []
        node_list = dict(args.node_list_meta or {})
        node_list["items"] = [items[i] for i in passed]
        return {"Nodes": node_list, "NodeNames": None, "FailedNodes": failed,
                "FailedAndUnresolvableNodes": unresolvable, "Error": ""}

    def prioritize(self, body: Any) -> list[dict]:
        """ExtenderArgs -> HostPriorityList: kpack's weighted total scaled to 0..10 (see `Verdict`)."""
        t0 = time.perf_counter()
        args = W.parse_extender_args(body)
        with self.lock:
            v, idx, names = self._evaluate(args, t0, scoring=True)
            self.stats["prioritize"] += 1
            out = v.answer("prioritize", idx)
            if out is None:
                out = [{"Host": n, "Score": s} for n, s in zip(names, v.score[idx].tolist())]
                v.remember("prioritize", idx, out)
        return list(out)

    def bind(self, body: Any) -> dict:
        """ExtenderBindingArgs -> ExtenderBindingResult; records the binding in the node cache."""
        b = W.parse_binding_args(body)
        with self.lock:
            seen = self._pending.get(b.key)
            pod = seen[0] if seen is not None else self.cache.pod(b.key)
            if pod is None:
                raise ExtenderError(f"pod {b.key!r} is unknown: kpack binds pods it saw in a filter or "
                                    "prioritize call (or bound pods POSTed to /pods)", 404)
            if b.node not in self.cache and b.node not in self._seen_full:
                raise ExtenderError(f"node {b.node!r} is unknown to kpack (not in the node cache and not in "
                                    "any request's Nodes)", 404)
            uid = b.pod_uid or (seen[1] if seen is not None else "")
            try:
                changed = self.cache.bind(pod, b.node, uid)
            except CacheError as e:
                raise ExtenderError(str(e), e.status) from None
            self._pending.pop(b.key, None)
            self.stats["bind"] += 1
            self.stats["bind_changed" if changed else "bind_repeated"] += 1
        return {"Error": ""}

    def preempt(self, body: Any) -> dict:
        """ExtenderPreemptionArgs -> ExtenderPreemptionResult: keeps the candidate nodes where kpack's filters
        pass for the pod once the proposed victims are gone, with the same victims (as MetaVictims: UIDs);
        drops the others, and nodes kpack does not know."""
        f = W.fields(W.decode(body), "ExtenderPreemptionArgs")
        raw_pod = f.get("pod")
        if not isinstance(raw_pod, dict):
            raise ExtenderError(f"ExtenderPreemptionArgs.Pod: Required value: a v1.Pod, got {short(raw_pod)}")
        meta = f.get("nodenametometavictims")
        full = f.get("nodenametovictims")
        where = "NodeNameToMetaVictims" if meta is not None else "NodeNameToVictims"
        given = meta if meta is not None else full
        if not isinstance(given, dict):
            raise ExtenderError("ExtenderPreemptionArgs: Required value: NodeNameToMetaVictims "
                                "(nodeCacheCapable) or NodeNameToVictims")
        victims: dict[str, tuple[list[dict], int, set[str], set[str]]] = {}
        for node, v in given.items():
            v = W.fields(v if v is not None else {}, f"{where}[{node}]")
            pods = v.get("pods") or []
            if not isinstance(pods, list):
                raise ExtenderError(f"{where}[{node}].Pods: expected a list, got {short(pods)}")
            uids, keys = set(), set()
            out = []
            for j, p in enumerate(pods):
                if not isinstance(p, dict):
                    raise ExtenderError(f"{where}[{node}].Pods[{j}]: expected an object, got {short(p)}")
                if meta is not None:
                    uid = W.fields(p, f"{where}[{node}].Pods[{j}]").get("uid")
                else:
                    m = p.get("metadata") or {}
                    uid = m.get("uid")
                    keys.add(f"{m.get('namespace') or 'default'}/{m.get('name')}")
                if not isinstance(uid, str) or not uid:
                    raise ExtenderError(f"{where}[{node}].Pods[{j}]: Required value: UID")
                uids.add(uid)
                out.append({"UID": uid})
            pdb = v.get("numpdbviolations") or 0
            if not isinstance(pdb, int):
                raise ExtenderError(f"{where}[{node}].NumPDBViolations: expected an integer, got {pdb!r}")
            victims[str(node)] = (out, pdb, uids, keys)
        with self.lock:
            pod, _, _ = self._pod(raw_pod)
            nodes = []
            for name in victims:
                n = self.cache.node(name)
                if n is None and name in self._parsed:
                    n = self._parsed[name][1]
                if n is not None:
                    nodes.append(n)
            names = {n.name for n in nodes}

            def stays(p: Pod) -> bool:
                _, _, uids, keys = victims[p.node_name]
                return p.key not in keys and (not self.cache.uid(p.key) or self.cache.uid(p.key) not in uids)

            # What-if: only the candidate nodes, without their victims. kpack's filters judge each node on its
            # own pods, so one cluster serves every candidate.
            rest = [p for p in self.cache.bound_pods() if p.node_name in names and stays(p)]
            try:
                ex = self.scheduler.explain(Cluster(nodes, rest), pod) if nodes else None
            except (SchedulingError, ClusterError) as e:
                raise ExtenderError(f"ExtenderPreemptionArgs.Pod: {e}") from None
            keep = {name: {"Pods": out, "NumPDBViolations": pdb}
                    for name, (out, pdb, _, _) in victims.items()
                    if ex is not None and name in names and ex.filter.get(name, "") is None}
            self.stats["preempt"] += 1
        return {"NodeNameToMetaVictims": keep}

    # --- node cache feeding -------------------------------------------------------------------------
    def put_nodes(self, body: Any, *, replace: bool = False) -> dict:
        """A v1.Node or a v1.NodeList: add or replace each node (all validated before any is stored). With
        `replace` the list is the whole truth: cached nodes missing from it are removed, with their pods."""
        items = self._items(W.decode(body), "Node")
        nodes = []
        for i, d in enumerate(items):
            name = node_name(d, i)
            try:
                nodes.append(Node.from_k8s(d))
            except ValidationError as e:
                raise ExtenderError(validation_message(e, f"Node {name!r}")) from None
            except (ValueError, TypeError, AttributeError) as e:
                raise ExtenderError(f"Node {name!r}: {e}") from None
        with self.lock:
            changed = [n.name for n in nodes if self.cache.put_node(n)]
            removed = []
            if replace:
                keep = {n.name for n in nodes}
                removed = [x for x in self.cache.node_names if x not in keep]
                for x in removed:
                    self.cache.remove_node(x)
            self._after_change()
        return {"nodes": len(nodes), "changed": changed, "removed": removed,
                "generation": self.cache.generation}

    def replace_nodes(self, body: Any) -> dict:
        return self.put_nodes(body, replace=True)

    def remove_node(self, name: str) -> dict:
        with self.lock:
            try:
                gone = self.cache.remove_node(name)
            except CacheError as e:
                raise ExtenderError(str(e), e.status) from None
            self._after_change()
        return {"removed": name, "pods": [p.key for p in gone], "generation": self.cache.generation}

    def put_pods(self, body: Any, *, replace: bool = False) -> dict:
        """A bound v1.Pod or a v1.PodList (pods kube-scheduler or others bound): add or replace each. Pods
        that finished (status.phase Succeeded or Failed) hold no resources and are dropped. With `replace`
        the list is the whole truth: bound pods missing from it are forgotten."""
        items = self._items(W.decode(body), "Pod")
        pods = []
        for i, d in enumerate(items):
            if not isinstance(d, dict):
                raise ExtenderError(f"items[{i}]: expected a Pod object, got {type(d).__name__}")
            pod = self._parse_pod(d, f"items[{i}]")
            if (d.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            if not pod.node_name:
                raise ExtenderError(f"Pod {pod.key!r}: spec.nodeName: Required value (only bound pods go to "
                                    "/pods; pending pods come in filter requests)")
            pods.append((pod, str((d.get("metadata") or {}).get("uid") or "")))
        with self.lock:
            changed = [p.key for p, uid in pods if self.cache.put_pod(p, uid)]
            removed = []
            if replace:
                keep = {p.key for p, _ in pods}
                removed = [p.key for p in self.cache.bound_pods() if p.key not in keep]
                for k in removed:
                    self.cache.remove_pod(k)
            self._after_change()
        return {"pods": len(pods), "changed": changed, "removed": removed,
                "generation": self.cache.generation}

    def replace_pods(self, body: Any) -> dict:
        return self.put_pods(body, replace=True)

    def remove_pod(self, namespace: str, name: str) -> dict:
        with self.lock:
            try:
                self.cache.remove_pod(f"{namespace}/{name}")
            except CacheError as e:
                raise ExtenderError(str(e), e.status) from None
            self._after_change()
        return {"removed": f"{namespace}/{name}", "generation": self.cache.generation}

    def state(self) -> dict:
        with self.lock:
            bound = self.cache.bound_pods()
            return {"nodes": len(self.cache.node_names), "boundPods": len(bound),
                    "generation": self.cache.generation, "pendingPods": len(self._pending),
                    "requests": dict(self.stats)}

    # --- internals ----------------------------------------------------------------------------------
    def max_total(self, ex: Explanation) -> int:
        """The largest weighted total a node can get: MaxNodeScore x the weights of the plugins that ran."""
        weights = self.scheduler.profile.score_weights
        top = W.MAX_NODE_SCORE * sum(weights.get(p, 0) for p in ex.scores)
        return max([top, *ex.total.values()])

    def _items(self, body: Any, kind: str) -> list:
        if not isinstance(body, dict):
            raise ExtenderError(f"expected a {kind} or {kind}List object, got {type(body).__name__}")
        k = body.get("kind")
        if "items" in body or k == f"{kind}List" or k == "List":
            items = body.get("items")
            if not isinstance(items, list):
                raise ExtenderError(f"{k or kind + 'List'}.items: expected a list, got {short(items)}")
            bad = [i for i, d in enumerate(items) if not isinstance(d, dict) or d.get("kind", kind) != kind]
            if bad:
                raise ExtenderError(f"items[{bad[0]}]: expected kind {kind}")
            return items
        if k not in (None, kind):
            raise ExtenderError(f"kind: expected {kind} or {kind}List, got {k!r}")
        return [body]

    def _after_change(self) -> None:
        self._explained.clear()
        self._recent_rows.clear()
        self._last_full = None

    def _parse_pod(self, d: dict, where: str) -> Pod:
        try:
            return Pod.from_k8s(d)
        except ValidationError as e:
            raise ExtenderError(validation_message(e, where)) from None
        except (ValueError, TypeError, AttributeError) as e:
            raise ExtenderError(f"{where}: {e}") from None

    def _pod(self, raw: Any) -> tuple[Pod, bytes, str]:
        """The Pod for a v1.Pod (raw JSON or dict), parsed once per distinct body, its class key (the pod
        minus its name, which no filter or score reads) and its UID."""
        d = _digest(raw)
        hit = self._pods.get(d)
        if hit is not None:
            self._pods.move_to_end(d)
            return hit
        obj = W.as_dict(raw)
        if not isinstance(obj, dict):
            raise ExtenderError(f"ExtenderArgs.Pod: Required value: a v1.Pod object (got {short(obj)})")
        pod = self._parse_pod(obj, "ExtenderArgs.Pod")
        key = pod.model_dump_json(exclude={"name"}).encode()
        meta = obj.get("metadata")
        uid = str(meta.get("uid") or "") if isinstance(meta, dict) else ""
        self._pods[d] = hit = (pod, key, uid)
        if len(self._pods) > self._explain_cache:
            self._pods.popitem(last=False)
        return hit

    def _cluster(self, args: ExtenderArgs) -> tuple[Cluster, tuple, list[str], np.ndarray]:
        """The cluster a request is about, its cache token, and the request's node names and their rows
        (row len(cluster) for names the cluster does not have)."""
        if args.node_names is not None:
            cluster, names = self.cache.cluster(), args.node_names
            return cluster, ("cache", self.cache.generation), names, self._rows(cluster, names)
        nodes, signature = [], []
        heads = args.node_heads
        for i, d in enumerate(args.nodes or []):
            if heads is not None:
                name, version = heads[i]
            else:
                name = node_name(d, i)
                version = (d.get("metadata") or {}).get("resourceVersion")
            # kube-scheduler's nodes carry resourceVersion; without one the body itself is the version.
            version = version or _digest(d)
            hit = self._parsed.get(name)
            if hit is None or hit[0] != version:
                d = W.as_dict(d)
                try:
                    node = Node.from_k8s(d)
                except ValidationError as e:
                    raise ExtenderError(validation_message(e, f"Nodes.items[{i}] ({name})")) from None
                except (ValueError, TypeError, AttributeError) as e:
                    raise ExtenderError(f"Nodes.items[{i}] ({name}): {e}") from None
                if len(self._parsed) > 1_000_000:
                    self._parsed.clear()
                self._parsed[name] = hit = (version, node)
            nodes.append(hit[1])
            signature.append((name, version))
        self._seen_full.update(n for n, _ in signature)
        names = [n for n, _ in signature]
        last = self._last_full
        if last is not None and last[1][2] == self.cache.generation and \
                all(last[2].get(n) == v for n, v in signature):
            # the nodes of a larger request (the filter before this prioritize), at the same versions
            cluster, token = last[0], last[1]
        else:
            sig = tuple(signature)
            try:
                cluster = self.cache.cluster_for(sig, nodes)
            except ClusterError as e:
                raise ExtenderError(f"ExtenderArgs.Nodes: {e}") from None
            token = ("full", hash(sig), self.cache.generation)
            self._last_full = (cluster, token, dict(signature))
        return cluster, token, names, self._rows(cluster, names)

    def _exact(self, pod: Pod, key: bytes, cluster: Cluster, token: tuple, names: list[str],
               idx: np.ndarray) -> tuple["Verdict", np.ndarray]:
        """The verdict on a cluster of exactly the request's nodes: NodeAffinity and TaintToleration
        normalise over the nodes being scored, which upstream are the nodes kube-scheduler sends."""
        rows = list(dict.fromkeys(idx[idx < len(cluster)].tolist()))
        all_nodes = cluster.nodes
        sub = self.cache.cluster_for(("subset", token, tuple(rows)), [all_nodes[i] for i in rows])
        return self._verdict(pod, key, sub, ("subset", token, hash(tuple(rows)))), self._rows(sub, names)

    def _verdict(self, pod: Pod, key: bytes, cluster: Cluster, token: tuple) -> "Verdict":
        ck = (key, token)
        v = self._explained.get(ck)
        if v is None:
            try:
                ex = self.scheduler.explain(cluster, pod)
            except (SchedulingError, ClusterError) as e:
                raise ExtenderError(f"ExtenderArgs.Pod: {e}") from None
            v = Verdict(cluster, pod, ex, self.max_total(ex))
            self._explained[ck] = v
            if len(self._explained) > self._explain_cache:
                self._explained.popitem(last=False)
            self.stats["explain"] += 1
        else:
            self._explained.move_to_end(ck)
            self.stats["explain_cached"] += 1
        return v

    def _rows(self, cluster: Cluster, names: list[str]) -> np.ndarray:
        """Rows of `names` in `cluster`, len(cluster) for names it lacks. kube-scheduler sends much the same
        lists again and again (all nodes to filter, the passing ones to prioritize): comparing a list with
        the last few is cheaper than mapping it, and the same rows object lets answers be reused."""
        for i, (c, seen, rows) in enumerate(self._recent_rows):
            if c is cluster and len(seen) == len(names) and seen == names:
                if i:
                    self._recent_rows.insert(0, self._recent_rows.pop(i))
                return rows
        rows = np.fromiter(map(cluster.node_index.get, names, repeat(len(cluster))), dtype=np.int64,
                           count=len(names))
        self._recent_rows.insert(0, (cluster, names, rows))
        del self._recent_rows[8:]
        return rows

    def _evaluate(self, args: ExtenderArgs, t0: float, *, scoring: bool = False
                  ) -> tuple["Verdict", np.ndarray, list[str]]:
        """The verdict for the request's pod on its cluster, and the request's nodes as rows of it.

        Filtering is per node, so any cluster holding the request's nodes answers it. Scores are exact only
        when the nodes kpack finds feasible among the request's are all it finds feasible in that cluster
        (the usual prioritize after kpack's own filter); otherwise they come from a cluster of exactly the
        request's nodes. `timing` keeps where the time went: parse (JSON, ExtenderArgs), pod (pydantic),
        cluster (nodes' pydantic, Cluster, name lookup), explain (Scheduler.explain and its Verdict,
        0 when reused)."""
        t1 = time.perf_counter()
        pod, key, uid = self._pod(args.pod)
        t2 = time.perf_counter()
        cluster, token, names, idx = self._cluster(args)
        t3 = time.perf_counter()
        v = self._verdict(pod, key, cluster, token)
        if scoring and not v.covers(idx):
            self.stats["prioritize_subset"] += 1
            v, idx = self._exact(pod, key, cluster, token, names, idx)
        self._pending[pod.key] = (pod, uid)
        self._pending.move_to_end(pod.key)
        if len(self._pending) > self._pending_max:
            self._pending.popitem(last=False)
        t4 = time.perf_counter()
        self.timing = [("parse", t1 - t0), ("pod", t2 - t1), ("cluster", t3 - t2), ("explain", t4 - t3)]
        return v, idx, names


PASSED, FAILED, UNRESOLVABLE = 0, 1, 2


class Verdict:
    """One Explanation as arrays over the cluster's node rows (plus a last row for nodes it does not have), so
    that answering for thousands of node names is array indexing, not a Python loop over nodes.

    code: PASSED, FAILED (upstream Unschedulable: preemption may help) or UNRESOLVABLE (upstream
    UnschedulableAndUnresolvable). Only NodeResourcesFit failures are resolvable, and only when every short
    resource fits the empty node (a request above allocatable is unresolvable, K8S_SEMANTICS.md section 2).
    score: the weighted total as an extender priority, total * 10 // max_total (rounded down, 0..10), where
    max_total = 100 x the sum of the weights of the score plugins that ran (`Extender.max_total`).
    """

    def __init__(self, cluster: Cluster, pod: Pod, ex: Explanation, max_total: int):
        names = cluster.node_names
        n = len(names)
        filt = ex.filter
        reasons = [filt.get(x, REASON_NOT_CACHED) for x in names] + [REASON_NOT_CACHED]
        self.reason = np.array(reasons, dtype=object)
        ids: dict[Optional[str], int] = {}
        rid = np.fromiter((ids.setdefault(r, len(ids)) for r in reasons), dtype=np.int64, count=n + 1)
        self.code = np.full(n + 1, UNRESOLVABLE, dtype=np.int8)
        if None in ids:
            self.code[rid == ids[None]] = PASSED
        self.passed = int((self.code == PASSED).sum())
        for r, k in ids.items():
            short_of = fit_resources(r) if r is not None else None
            if short_of is None:
                continue
            rows = rid[:n] == k
            for res in short_of:
                col = cluster.resource_index.get(res)
                req = pod.requests.get(res, 0)
                rows &= False if col is None else cluster.allocatable[:, col] >= req
            self.code[:n][rows] = FAILED
        total = ex.total
        totals = np.fromiter((total.get(x, 0) for x in names), dtype=np.int64, count=n)
        self.score = np.zeros(n + 1, dtype=np.int64)
        if max_total > 0:
            top = W.MAX_EXTENDER_PRIORITY
            self.score[:n] = np.clip(totals * top // max_total, 0, top)
        self._answers: dict[str, tuple[np.ndarray, Any]] = {}

    def covers(self, rows: np.ndarray) -> bool:
        """Whether `rows` hold every node this verdict finds feasible (then its scores, normalised over the
        feasible nodes, are the scores of a cluster of just those rows)."""
        ok = rows[self.code[rows] == PASSED]
        return len(ok) == self.passed and (len(ok) < 2 or len(np.unique(ok)) == self.passed)

    def answer(self, verb: str, rows: np.ndarray) -> Any:
        """The last answer for `verb` if it was for these very rows (the same object from Extender._rows)."""
        hit = self._answers.get(verb)
        return hit[1] if hit is not None and hit[0] is rows else None

    def remember(self, verb: str, rows: np.ndarray, answer: Any) -> None:
        self._answers[verb] = (rows, answer)


def fit_resources(reason: str) -> Optional[list[str]]:
    """The resources a NodeResourcesFit reason says are short ("Insufficient cpu, Too many pods" ->
    ["cpu"]), or None when the reason comes from another filter."""
    out = []
    for part in reason.split(", "):
        if part == _TOO_MANY_PODS:
            continue   # never unresolvable upstream
        if not part.startswith(_FIT_PREFIX):
            return None
        out.append(part[len(_FIT_PREFIX):])
    return out
