"""The extender verbs (filter, prioritize, bind) on a NodeCache and a kpack.Scheduler, without HTTP."""
from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter, OrderedDict
from itertools import repeat
from typing import Any, Optional

import numpy as np
from pydantic import ValidationError

from ..models import Node, Pod
from ..scheduler import Explanation, Scheduler, SchedulingError
from ..state import Cluster, ClusterError
from . import wire as W
from .answers import NameList
from .cache import CacheError, NodeCache
from .verdict import FAILED, PASSED, REASON_NOT_CACHED, UNRESOLVABLE, ArrayPath, Verdict, fit_resources
from .wire import ExtenderArgs, node_name, short

__all__ = ["FAILED", "PASSED", "REASON_NOT_CACHED", "UNRESOLVABLE", "Extender", "ExtenderError", "Verdict",
           "fit_resources", "validation_message"]


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


class SeenList:
    """A NodeList seen in a filter request, or sent in a filter answer: its JSON (`raw`: bytes-like), the
    `Extender._full_epoch` at which its nodes were all taken into the cache, its NameList, its items as raw
    JSON spans once split (and the list metadata), and the NodeLists answered for it by passing pattern."""

    __slots__ = ("raw", "epoch", "names", "items", "children")

    def __init__(self, raw: Any, epoch: int, names: NameList, items: Optional[tuple] = None):
        self.raw, self.epoch, self.names, self.items = raw, epoch, names, items
        self.children: dict[bytes, SeenList] = {}

    def pod_of(self, body: bytes) -> Any:
        """The Pod (raw JSON) of kube-scheduler's body {"Pod":<pod>,"Nodes":<this list>,"NodeNames":null}, or
        None for any other body: three comparisons of bytes (memcmp), nothing parsed but the pod."""
        if self.raw is None:
            return None
        size, n = len(self.raw), len(body)
        start = n - len(_FULL_END) - size
        if start < len(_POD) + 2 + len(_NODES) or not body.endswith(_FULL_END) or \
                not body.startswith(_NODES, start - len(_NODES)) or not body.startswith(self.raw, start):
            return None
        return W.raw_object(memoryview(body)[len(_POD):start - len(_NODES)])


_POD, _NODES, _FULL_END = b'{"Pod":', b',"Nodes":', b',"NodeNames":null}'


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
        self._explained: OrderedDict[tuple, Verdict] = OrderedDict()
        self._explain_cache = explain_cache
        self._pods: OrderedDict[bytes, tuple[Pod, bytes, str]] = OrderedDict()   # digest->Pod,key,uid
        self._shapes: OrderedDict[bytes, tuple[Pod, bytes]] = OrderedDict()       # pod_shape -> Pod, key
        self._pending: OrderedDict[str, tuple[Pod, str]] = OrderedDict()  # pods seen by filter/prioritize
        self._pending_max = pending_pods
        self.arrays = ArrayPath(self.scheduler)
        self._lists: OrderedDict[bytes, NameList] = OrderedDict()   # NodeNames JSON -> NameList
        # the same lists as the tails of kube-scheduler's bodies, most recent first: (tail, NameList)
        self._name_tails: list[tuple[bytes, NameList]] = []
        # full Node objects: the version of each node last taken into the cache, and recent NodeLists (the
        # ones kube-scheduler sent in filters, and the ones kpack answered, which come back in prioritize)
        self._versions: dict[str, Any] = {}
        self._full_epoch = 0
        self._recent_full: list[SeenList] = []
        self.timing: list[tuple[str, float]] = []   # phases of the last filter/prioritize call, seconds

    # --- verbs ---------------------------------------------------------------------------------------
    def filter(self, body: Any) -> dict:
        """ExtenderArgs -> ExtenderFilterResult (decoded; `filter_json` is the encoded answer)."""
        return W.loads(self.filter_json(body))

    def prioritize(self, body: Any) -> list[dict]:
        """ExtenderArgs -> HostPriorityList (decoded; `prioritize_json` is the encoded answer)."""
        return W.loads(self.prioritize_json(body))

    def filter_json(self, body: Any) -> bytes:
        """ExtenderArgs -> ExtenderFilterResult as JSON: NodeNames (nodeCacheCapable) or Nodes (the passing
        Node objects as they were sent), FailedNodes, FailedAndUnresolvableNodes, built only for the nodes
        that fail."""
        t0 = time.perf_counter()
        args = self._known_body(body) or W.parse_extender_args(body)
        with self.lock:
            v, idx, nl, entry = self._evaluate(args, t0)
            self.stats["filter"] += 1
            # a NodeNames answer is reused as it is; a Nodes answer is rebuilt (its NodeList must become the
            # most recent one again for the prioritize that follows, and 256 of them would take gigabytes)
            hit = v.answer("filter", idx) if args.by_name else None
            if hit is not None:
                return hit
            code = v.code[idx]
            if args.by_name:
                reasons, all_rids = tuple(v.reasons), v.rid[idx]
                out = nl.recall(reasons, code, all_rids)
                if out is not None:
                    self.stats["filter_answer_recalled"] += 1
                    v.remember("filter", idx, out)
                    return out
            ok = code == PASSED
            bad = np.flatnonzero(~ok)
            kinds = code[bad]
            rids = v.rid[idx[bad]]
            reason_json = [W.dumps(r) for r in v.reasons]
            failed = nl.failed_json(bad[kinds == FAILED], reason_json, rids[kinds == FAILED])
            unres = nl.failed_json(bad[kinds != FAILED], reason_json, rids[kinds != FAILED])
            if not args.by_name:
                return self._nodes_answer(entry, args, ok, failed, unres)
            out = b"".join([b'{"Nodes":null,"NodeNames":', nl.names_json(ok), b',"FailedNodes":', failed,
                            b',"FailedAndUnresolvableNodes":', unres, b',"Error":""}'])
            v.remember("filter", idx, out)
            nl.keep(reasons, code, all_rids, out)
        return out

    def prioritize_json(self, body: Any) -> bytes:
        """ExtenderArgs -> HostPriorityList as JSON: kpack's weighted total scaled to 0..10 (`Verdict`)."""
        t0 = time.perf_counter()
        args = self._known_body(body) or W.parse_extender_args(body)
        with self.lock:
            v, idx, nl, _ = self._evaluate(args, t0, scoring=True)
            self.stats["prioritize"] += 1
            out = v.answer("prioritize", idx)
            if out is None:
                out = nl.priorities_json(v.score[idx])
                v.remember("prioritize", idx, out)
        return out

    def bind(self, body: Any) -> dict:
        """ExtenderBindingArgs -> ExtenderBindingResult. Records the pod as bound in kpack's node cache and
        nothing else: kpack has no Kubernetes client, so no Binding is created in the API server (see the
        README's "Binding": leave bindVerb unset on a real cluster)."""
        b = W.parse_binding_args(body)
        with self.lock:
            seen = self._pending.get(b.key)
            pod = seen[0] if seen is not None else self.cache.pod(b.key)
            if pod is None:
                raise ExtenderError(f"pod {b.key!r} is unknown: kpack binds pods it saw in a filter or "
                                    "prioritize call (or bound pods POSTed to /pods)", 404)
            if b.node not in self.cache:
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
            recent = self._recent_full
            return {"nodes": len(self.cache.node_names), "boundPods": len(bound),
                    "generation": self.cache.generation, "pendingPods": len(self._pending),
                    "requests": dict(self.stats),
                    # full-Node NodeLists kept for recognising bodies: recent ones, and answered ones
                    "nodeLists": {"recent": len(recent), "answered": sum(len(e.children) for e in recent)}}

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

    def _parse_pod(self, d: dict, where: str) -> Pod:
        try:
            return Pod.from_k8s(d)
        except ValidationError as e:
            raise ExtenderError(validation_message(e, where)) from None
        except (ValueError, TypeError, AttributeError) as e:
            raise ExtenderError(f"{where}: {e}") from None

    def _pod(self, raw: Any) -> tuple[Pod, bytes, str]:
        """The Pod for a v1.Pod (raw JSON or dict), parsed once per distinct body, its class key (the pod
        minus its name, which no filter or score reads) and its UID. Replicas of one workload differ only in
        per-pod metadata (`wire.pod_shape`): the second one is a copy of the first under its own name."""
        d = _digest(raw)
        hit = self._pods.get(d)
        if hit is not None:
            self._pods.move_to_end(d)
            return hit
        shape = W.pod_shape(raw)
        tmpl = self._shapes.get(shape[0]) if shape is not None else None
        if tmpl is not None:
            self._shapes.move_to_end(shape[0])
            pod, key, uid = tmpl[0].model_copy(update={"name": shape[1]}), tmpl[1], shape[2]
            self.stats["pod_shape_reused"] += 1
        else:
            obj = W.as_dict(raw)
            if not isinstance(obj, dict):
                raise ExtenderError(f"ExtenderArgs.Pod: Required value: a v1.Pod object (got {short(obj)})")
            pod = self._parse_pod(obj, "ExtenderArgs.Pod")
            key = pod.model_dump_json(exclude={"name"}).encode()
            meta = obj.get("metadata")
            uid = str(meta.get("uid") or "") if isinstance(meta, dict) else ""
            if shape is not None:
                self._shapes[shape[0]] = (pod, key)
                if len(self._shapes) > self._explain_cache:
                    self._shapes.popitem(last=False)
        self._pods[d] = hit = (pod, key, uid)
        if len(self._pods) > self._explain_cache:
            self._pods.popitem(last=False)
        return hit

    def _names(self, args: ExtenderArgs) -> NameList:
        """The NameList of a NodeNames request; kube-scheduler repeats the same lists (all nodes to filter,
        the passing ones to prioritize), so lists are kept by their JSON and a repeat costs one lookup (or
        none: `_known_body` found it by the body's tail)."""
        if args.known is not None:
            return args.known
        key = bytes(args.names_raw) if args.names_raw is not None else W.dumps(args.node_names)
        nl = self._lists.get(key)
        if nl is None:
            nl = self._lists[key] = NameList(args.node_names)
            while len(self._lists) > 16:
                self._lists.popitem(last=False)
        else:
            self._lists.move_to_end(key)
        if args.names_raw is not None and all(t[1] is not nl for t in self._name_tails):
            tail = b',"Nodes":null,"NodeNames":' + key + b"}"
            self._name_tails = [(tail, nl), *self._name_tails[:15]]
        return nl

    def _known_body(self, body: Any) -> Optional[ExtenderArgs]:
        """kube-scheduler's body for a node list it sent before: {"Pod":<pod>,"Nodes":null,"NodeNames":<the
        same bytes>} or {"Pod":<pod>,"Nodes":<the same bytes>,"NodeNames":null}. Recognised by comparing the
        body's tail with the recent lists' (one memcmp each; a list that differs usually differs early), so
        that the list is neither scanned, copied nor hashed again; only the pod is parsed (it must be one
        JSON object, or the body takes the normal path). The lists are snapshots (a list copy is atomic),
        so no lock is needed."""
        if not isinstance(body, bytes) or not body.startswith(b'{"Pod":{'):
            return None
        n = len(body)
        for tail, nl in self._name_tails:
            if n > len(tail) + 8 and body.endswith(tail):
                pod = W.raw_object(memoryview(body)[7:n - len(tail)])
                if pod is not None:
                    self.stats["same_node_names"] += 1
                    return ExtenderArgs(pod, node_names=nl.names, known=nl)
        for e in self._recent_full:
            pod = e.pod_of(body)
            if pod is not None:
                self.stats["same_nodelist"] += 1
                return ExtenderArgs(pod, nodes_raw=e.raw)
        return None

    def _nodes_answer(self, entry: "SeenList", args: ExtenderArgs, ok: np.ndarray, failed: bytes,
                      unres: bytes) -> bytes:
        """A filter answer with full Node objects: the passing ones exactly as they were sent. The NodeList
        answered is remembered, because kube-scheduler sends it back (re-encoded by Go, byte for byte the
        same) in the prioritize call that follows."""
        if entry.items is None:   # the items as raw JSON spans (or dicts), split once per NodeList
            entry.items = (args.nodes, dict(args.node_list_meta or {}))
        items, list_meta = entry.items
        keep = np.flatnonzero(ok).tolist()
        head = b'{"Nodes":'
        if not items or not isinstance(items[0], W.Raw):
            nodes = [W.dumps({**list_meta, "items": [items[i] for i in keep]})]
            return b"".join([head, *nodes, b',"NodeNames":null,"FailedNodes":', failed,
                             b',"FailedAndUnresolvableNodes":', unres, b',"Error":""}'])
        # the passing Node objects exactly as sent, as pieces of the one join below (msgspec would copy each
        # span; a join per level would copy the megabytes once more)
        meta = W.dumps(list_meta)
        nodes = [meta[:-1], b"," if len(meta) > 2 else b"", b'"items":[']
        for i in keep:
            nodes += (items[i], b",")
        if keep:
            nodes.pop()
        nodes.append(b"]}")
        out = b"".join([head, *nodes, b',"NodeNames":null,"FailedNodes":', failed,
                        b',"FailedAndUnresolvableNodes":', unres, b',"Error":""}'])
        size = sum(map(len, nodes))
        sig = ok.tobytes()
        child = entry.children.get(sig)
        if child is None or child.epoch != entry.epoch:
            # the answer's NodeList, as a span of the answer itself (no copy)
            child = SeenList(memoryview(out)[len(head):len(head) + size], entry.epoch,
                             entry.names.subset(keep), ([items[i] for i in keep], list_meta))
            entry.children[sig] = child
            while len(entry.children) > 8:   # each holds an answer of megabytes
                entry.children.pop(next(iter(entry.children)))
        self._remember(child, entry)
        return out

    def _remember(self, e: "SeenList", parent: Optional["SeenList"] = None) -> None:
        """Puts a NodeList first among the recent ones (at most 8 are kept), and `parent` (the request's
        NodeList an answered one came from) right after it: kube-scheduler sends the parent with every
        filter, so answers for many pods must not push it out."""
        first = [e] if parent is None or parent is e else [e, parent]
        rest = [x for x in self._recent_full if x is not e and x is not parent]
        self._recent_full = [*first, *rest[:8 - len(first)]]

    def _full_nodes(self, args: ExtenderArgs) -> "SeenList":
        """Full Node objects: takes every node whose resourceVersion (or, without one, whose JSON) is new into
        the node cache (parsed, then compared: an equal node changes nothing) and returns the NodeList's entry
        (SeenList). A NodeList equal to a recent one, with no node version taken since,
        costs one comparison of its bytes."""
        raw = args.nodes_raw
        if raw is not None:
            for e in self._recent_full:
                if e.epoch == self._full_epoch and (e.raw is raw or (
                        isinstance(e.raw, W.Raw) and isinstance(raw, W.Raw) and e.raw == raw)):
                    return e
        heads = args.node_heads
        if heads is None:   # the dict path: items are dicts
            heads = [(node_name(d, i), str((d.get("metadata") or {}).get("resourceVersion") or ""))
                     for i, d in enumerate(args.nodes or [])]
        versions = self._versions
        todo = [i for i, (name, rv) in enumerate(heads) if not rv or versions.get(name) != rv
                or name not in self.cache]
        if todo:
            items = args.nodes
            parsed = []
            for i in todo:
                name, rv = heads[i]
                # kube-scheduler's nodes carry resourceVersion; without one the body itself is the version
                rv = rv or _digest(items[i])
                if versions.get(name) == rv and name in self.cache:
                    continue
                try:
                    node = Node.from_k8s(W.as_dict(items[i]))
                except ValidationError as e:
                    raise ExtenderError(validation_message(e, f"Nodes.items[{i}] ({name})")) from None
                except (ValueError, TypeError, AttributeError) as e:
                    raise ExtenderError(f"Nodes.items[{i}] ({name}): {e}") from None
                if node.name != name:
                    raise ExtenderError(f"Nodes.items[{i}].metadata.name: {node.name!r} != {name!r}")
                parsed.append((name, rv, node))
            changed = False
            for name, rv, node in parsed:   # all parsed before any is taken: a bad node changes nothing
                changed |= self.cache.put_node(node)
                versions[name] = rv
            if parsed:
                self._full_epoch += 1
            if changed:
                self._after_change()
        entry = SeenList(raw, self._full_epoch, NameList([h[0] for h in heads]))
        if raw is not None:
            self._remember(entry)
        return entry

    def _rows(self, cluster: Cluster, nl: NameList) -> np.ndarray:
        """Rows of the list's names in `cluster`, len(cluster) for names it lacks; the same array object while
        the cluster's node set holds, so that answers for it can be reused (Verdict.answer)."""
        hit = nl.rows.get(id(cluster))
        if hit is not None and hit[0] is cluster and hit[1] == cluster.node_generation:
            return hit[2]
        rows = np.fromiter(map(cluster.node_index.get, nl.names, repeat(len(cluster))), dtype=np.int64,
                           count=len(nl.names))
        nl.rows[id(cluster)] = (cluster, cluster.node_generation, rows)
        return rows

    def _verdict(self, pod: Pod, key: bytes, cluster: Cluster, token: tuple,
                 subset: Optional[np.ndarray] = None) -> Optional["Verdict"]:
        """The pod's verdict on the cluster (memoised per pod class key and cluster state), or with `subset`
        (sorted rows) the verdict scored over exactly those nodes; None when only `_exact` can give that."""
        ck = (key, token) if subset is None else (key, token, subset.tobytes())
        v = self._explained.get(ck)
        if v is None:
            try:
                v = self.arrays.evaluate(cluster, pod, subset)
            except (SchedulingError, ClusterError) as e:
                raise ExtenderError(f"ExtenderArgs.Pod: {e}") from None
            if v is None:
                return None
            self._explained[ck] = v
            if len(self._explained) > self._explain_cache:
                self._explained.popitem(last=False)
            self.stats["explain"] += 1
        else:
            self._explained.move_to_end(ck)
            self.stats["explain_cached"] += 1
        return v

    def _exact(self, pod: Pod, key: bytes, cluster: Cluster, token: tuple, nl: NameList,
               idx: np.ndarray) -> tuple["Verdict", np.ndarray]:
        """The verdict on a cluster of exactly the request's nodes (pods the array path does not take)."""
        rows = list(dict.fromkeys(idx[idx < len(cluster)].tolist()))
        sub = self.cache.cluster_for(("subset", token, tuple(rows)), [cluster.node(cluster.node_names[i])
                                                                      for i in rows])
        sub_token = ("subset", token, hash(tuple(rows)))
        ck = (key, sub_token)
        v = self._explained.get(ck)
        if v is None:
            try:
                ex = self.scheduler.explain(sub, pod)
            except (SchedulingError, ClusterError) as e:
                raise ExtenderError(f"ExtenderArgs.Pod: {e}") from None
            v = self._explained[ck] = Verdict.from_explanation(sub, pod, ex, self.max_total(ex))
            self.stats["explain"] += 1
        return v, self._rows(sub, nl)

    def _evaluate(self, args: ExtenderArgs, t0: float, *, scoring: bool = False
                  ) -> tuple["Verdict", np.ndarray, NameList, Optional["SeenList"]]:
        """The verdict for the request's pod, the request's nodes as rows of its cluster, their NameList and
        (full Node objects) the NodeList's entry.

        Filtering is per node, so the cache's cluster answers any request. Scores are exact only when the
        nodes kpack finds feasible among the request's are all it finds feasible in that cluster (the usual
        prioritize after kpack's own filter); otherwise they are scored over exactly the request's nodes.
        `timing` keeps where the time went: parse (JSON, ExtenderArgs), pod (pydantic), cluster (node names
        or Node objects into the cache, its Cluster, name lookup), explain (the verdict, 0 when reused)."""
        t1 = time.perf_counter()
        pod, key, uid = self._pod(args.pod)
        t2 = time.perf_counter()
        entry = None
        if args.by_name:
            nl = self._names(args)
        else:
            entry = self._full_nodes(args)
            nl = entry.names
        cluster = self.cache.cluster()
        token = ("cache", self.cache.generation)
        idx = self._rows(cluster, nl)
        t3 = time.perf_counter()
        v = self._verdict(pod, key, cluster, token)
        if scoring and not v.covers(idx):
            self.stats["prioritize_subset"] += 1
            subset = np.unique(idx[idx < len(cluster)])
            sv = self._verdict(pod, key, cluster, token, subset)
            if sv is not None:
                v = sv
            else:
                v, idx = self._exact(pod, key, cluster, token, nl, idx)
        self._pending[pod.key] = (pod, uid)
        self._pending.move_to_end(pod.key)
        if len(self._pending) > self._pending_max:
            self._pending.popitem(last=False)
        t4 = time.perf_counter()
        self.timing = [("parse", t1 - t0), ("pod", t2 - t1), ("cluster", t3 - t2), ("explain", t4 - t3)]
        return v, idx, nl, entry
