"""kube-scheduler extender wire format (k8s.io/kube-scheduler/extender/v1): parsing requests, JSON codec."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

try:   # msgspec: fast JSON, and Raw spans so multi-megabyte NodeLists need not become Python objects
    import msgspec

    _decoder = msgspec.json.Decoder()
    _encoder = msgspec.json.Encoder()
    Raw: Any = msgspec.Raw

    def loads(data: Any) -> Any:
        return _decoder.decode(data)

    def dumps(obj: Any) -> bytes:
        return _encoder.encode(obj)

    JSON_ERRORS: tuple = (msgspec.DecodeError,)
except ImportError:   # pragma: no cover - msgspec is in the serve extra
    import json

    msgspec = None
    Raw = bytes

    def loads(data: Any) -> Any:
        return json.loads(data)

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    JSON_ERRORS = (ValueError, UnicodeDecodeError)

# Upstream's extender types carry no json tags, so Go writes the field names as they are (capitalised) and
# reads them case-insensitively: older kube-schedulers and many extenders use lowercase keys.
MAX_EXTENDER_PRIORITY = 10   # extenderv1.MaxExtenderPriority
MAX_NODE_SCORE = 100         # framework.MaxNodeScore: the top of every score plugin's range


class WireError(ValueError):
    """A request body that is not the extender shape; the message names the field and value."""

    status = 400


def fields(body: Any, what: str) -> dict[str, Any]:
    """Top-level keys folded to lower case, as Go's encoding/json matches struct fields."""
    if not isinstance(body, dict):
        raise WireError(f"{what}: expected a JSON object, got {type(body).__name__}")
    return {str(k).lower(): v for k, v in body.items()}


def short(value: Any, limit: int = 80) -> str:
    s = repr(value)
    return s if len(s) <= limit else s[:limit] + "..."


class ExtenderArgs:
    """ExtenderArgs: the pod, and the candidate nodes as full objects (`nodes`) or as names (`node_names`).

    From kube-scheduler's JSON the pod, the NodeNames and the NodeList stay raw JSON (`names_raw`,
    `nodes_raw`: msgspec.Raw) and are decoded on first use: `node_names`, `node_heads` (each node's name and
    resourceVersion, one typed pass) and `nodes` (each Node as raw JSON). From a dict they are dicts/lists.
    """

    def __init__(self, pod: Any, nodes: Optional[list[Any]] = None, node_names: Optional[list[str]] = None,
                 node_list_meta: Any = None, node_heads: Optional[list[tuple[str, str]]] = None, *,
                 names_raw: Any = None, nodes_raw: Any = None, known: Any = None):
        self.pod = pod
        self.known = known   # the extender's record of this node list, when it recognised the body
        self._nodes, self._names, self._meta, self._heads = nodes, node_names, node_list_meta, node_heads
        self.names_raw, self.nodes_raw = names_raw, nodes_raw

    @property
    def by_name(self) -> bool:
        """nodeCacheCapable: node names only."""
        return self._names is not None or self.names_raw is not None

    @property
    def node_names(self) -> Optional[list[str]]:
        if self._names is None and self.names_raw is not None:
            try:
                names = _names_decoder.decode(self.names_raw)
            except (msgspec.ValidationError, msgspec.DecodeError):
                names = loads(self.names_raw)
            self._names = _check_names(names)
        return self._names

    @property
    def nodes(self) -> Optional[list[Any]]:
        if self._nodes is None and self.nodes_raw is not None:
            self._split()
        return self._nodes

    @property
    def node_list_meta(self) -> Any:
        if self._meta is None and self.nodes_raw is not None:
            self._split()
        return self._meta

    @property
    def node_heads(self) -> Optional[list[tuple[str, str]]]:
        """(name, resourceVersion) of every node, "" for a missing version (raw JSON only: one typed pass)."""
        if self._heads is None and self.nodes_raw is not None:
            try:
                items = _heads_decoder.decode(self.nodes_raw).items
            except msgspec.ValidationError:
                items = None
            if items is None:   # a shape the per-item pass explains (it names the item)
                self._split()
                items = [_head(raw, i) for i, raw in enumerate(self._nodes)]
            heads = []
            for i, h in enumerate(items):
                meta = h.metadata
                name = meta.name if meta is not None else None
                if not isinstance(name, str) or not name:
                    raise WireError(f"Nodes.items[{i}].metadata.name: Required value (got {short(name)})")
                rv = meta.resourceVersion
                heads.append((name, rv if isinstance(rv, str) else ""))
            self._heads = heads
        return self._heads

    def _split(self) -> None:
        try:
            nl = _list_decoder.decode(self.nodes_raw)
        except msgspec.ValidationError as e:
            raise WireError(f"ExtenderArgs.Nodes: expected a v1.NodeList {{items: [..]}}: {e}") from None
        meta = {k: getattr(nl, k) for k in ("kind", "apiVersion") if getattr(nl, k) is not None}
        if len(nl.metadata):
            meta["metadata"] = nl.metadata
        self._nodes, self._meta = nl.items or [], meta


def node_name(node: Any, i: int) -> str:
    if not isinstance(node, dict):
        raise WireError(f"Nodes.items[{i}]: expected a Node object, got {short(node)}")
    name = (node.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise WireError(f"Nodes.items[{i}].metadata.name: Required value (got {short(name)})")
    return name


def _check_names(names: Any) -> list[str]:
    if not isinstance(names, list) or set(map(type, names)) - {str} or "" in names:
        raise WireError(f"ExtenderArgs.NodeNames: expected a list of node names, got {short(names)}")
    return names


def parse_extender_args(body: Any) -> ExtenderArgs:
    """ExtenderArgs from a decoded dict or from the raw JSON body (bytes)."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        if msgspec is not None:
            fast = _parse_raw(body)
            if fast is not None:
                return fast
        try:
            body = loads(body)
        except JSON_ERRORS as e:
            raise WireError(f"malformed JSON: {e}") from None
    f = fields(body, "ExtenderArgs")
    pod = f.get("pod")
    if not isinstance(pod, dict):
        raise WireError(f"ExtenderArgs.Pod: Required value: a v1.Pod object (got {short(pod)})")
    names = f.get("nodenames")
    node_list = f.get("nodes")
    if names is not None:
        return ExtenderArgs(pod, None, _check_names(names))
    if node_list is None:
        raise WireError("ExtenderArgs: Required value: Nodes (a v1.NodeList) or NodeNames (nodeCacheCapable)")
    if not isinstance(node_list, dict) or not isinstance(node_list.get("items", []), list):
        raise WireError(f"ExtenderArgs.Nodes: expected a v1.NodeList {{items: [..]}}, got {short(node_list)}")
    items = node_list.get("items") or []
    meta = {k: v for k, v in node_list.items() if k != "items"}
    return ExtenderArgs(pod, items, None, meta)


if msgspec is not None:
    class _Meta(msgspec.Struct, frozen=True):
        name: Any = None
        resourceVersion: Any = None

    class _NodeHead(msgspec.Struct):
        metadata: Optional[_Meta] = None

    # msgspec.Raw cannot sit in a Union (Optional): an absent value is Raw(b"") and null is Raw(b"null").
    class _NodeList(msgspec.Struct):
        items: Optional[list[msgspec.Raw]] = None
        metadata: msgspec.Raw = msgspec.Raw()
        kind: Any = None
        apiVersion: Any = None

    class _HeadList(msgspec.Struct):
        items: Optional[list[_NodeHead]] = None

    class _Args(msgspec.Struct):
        """kube-scheduler's own spelling, in one pass over the body that keeps the Pod, NodeNames and the
        NodeList as raw JSON; other casings take the dict path."""
        Pod: msgspec.Raw = msgspec.Raw()
        Nodes: msgspec.Raw = msgspec.Raw()
        NodeNames: msgspec.Raw = msgspec.Raw()

    _args_decoder = msgspec.json.Decoder(_Args)
    _head_decoder = msgspec.json.Decoder(_NodeHead)
    _heads_decoder = msgspec.json.Decoder(_HeadList)
    _list_decoder = msgspec.json.Decoder(_NodeList)
    _names_decoder = msgspec.json.Decoder(list[str])

    class _PodParts(msgspec.Struct):
        metadata: Optional[dict] = None
        spec: msgspec.Raw = msgspec.Raw()
        status: msgspec.Raw = msgspec.Raw()

    _pod_parts_decoder = msgspec.json.Decoder(_PodParts)
    _raw_decoder = msgspec.json.Decoder(msgspec.Raw)


def _head(raw: Any, i: int) -> Any:
    try:
        return _head_decoder.decode(raw)
    except msgspec.ValidationError:
        raise WireError(f"Nodes.items[{i}]: expected a Node object, got {short(bytes(raw))}") from None


def _present(raw: Any) -> bool:
    return len(raw) > 0 and bytes(memoryview(raw)[:4]) != b"null"


def _parse_raw(body: bytes) -> Optional[ExtenderArgs]:
    try:
        a = _args_decoder.decode(body)
    except msgspec.ValidationError:
        return None   # a shape the dict path explains better (it names the field)
    except msgspec.DecodeError as e:
        raise WireError(f"malformed JSON: {e}") from None
    if bytes(memoryview(a.Pod)[:1]) != b"{":
        return None
    if _present(a.NodeNames):
        if bytes(memoryview(a.NodeNames)[:1]) != b"[":
            return None
        return ExtenderArgs(a.Pod, names_raw=a.NodeNames)
    if bytes(memoryview(a.Nodes)[:1]) != b"{":
        return None
    return ExtenderArgs(a.Pod, nodes_raw=a.Nodes)   # the NodeList is read on first use


# metadata no filter or score reads and that differs between replicas of one workload
_PER_POD_META = ("name", "uid", "resourceVersion", "creationTimestamp", "managedFields")


def pod_shape(raw: Any) -> Optional[tuple[bytes, str, str]]:
    """A raw v1.Pod's (shape key, name, uid): the key is its spec, status and metadata without the fields
    that differ between replicas (name, uid, resourceVersion, creationTimestamp, managedFields), so pods
    of one workload share it. None when the body is not that shape (the full parse explains why)."""
    if msgspec is None or not isinstance(raw, Raw):
        return None
    try:
        parts = _pod_parts_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    meta = parts.metadata or {}
    name, uid = meta.get("name"), meta.get("uid")
    if not isinstance(name, str) or not isinstance(uid, (str, type(None))):
        return None
    rest = {k: v for k, v in meta.items() if k not in _PER_POD_META}
    key = b"\0".join((dumps(rest), bytes(parts.spec), bytes(parts.status)))
    return key, name, uid or ""


def raw_object(data: Any) -> Any:
    """`data` as raw JSON if it is exactly one JSON object (nothing before or after it), else None."""
    try:
        raw = _raw_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return raw if bytes(memoryview(raw)[:1]) == b"{" else None


def as_dict(obj: Any) -> Any:
    """A raw JSON value (msgspec.Raw) decoded; anything else as it is."""
    return loads(obj) if isinstance(obj, Raw) else obj


def decode(body: Any) -> Any:
    """A request body: raw JSON bytes decoded (malformed JSON is a WireError), or an object as it is."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            return loads(body)
        except JSON_ERRORS as e:
            raise WireError(f"malformed JSON: {e}") from None
    return body


@dataclass
class BindingArgs:
    pod_name: str
    pod_namespace: str
    pod_uid: str
    node: str

    @property
    def key(self) -> str:
        return f"{self.pod_namespace}/{self.pod_name}"


def parse_binding_args(body: Any) -> BindingArgs:
    f = fields(decode(body), "ExtenderBindingArgs")
    out = {}
    for field, required in (("PodName", True), ("PodNamespace", False), ("PodUID", False), ("Node", True)):
        v = f.get(field.lower())
        if v is None and not required:
            v = ""
        if not isinstance(v, str) or (required and not v):
            raise WireError(f"ExtenderBindingArgs.{field}: Required value: non-empty string, got {short(v)}")
        out[field] = v
    return BindingArgs(out["PodName"], out["PodNamespace"] or "default", out["PodUID"], out["Node"])


def scaled_score(total: int, max_total: int) -> int:
    """kpack's weighted total (0..max_total) as an extender priority 0..MaxExtenderPriority, rounded down."""
    if max_total <= 0:
        return 0
    return max(0, min(MAX_EXTENDER_PRIORITY, total * MAX_EXTENDER_PRIORITY // max_total))
