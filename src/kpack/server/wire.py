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


@dataclass
class ExtenderArgs:
    """ExtenderArgs: the pod, and the candidate nodes as full objects (`nodes`) or as names (`node_names`).

    From a JSON body the pod and each node stay raw JSON (`msgspec.Raw`) until something needs them parsed;
    from a dict they are dicts. `node_heads` holds each node's (name, resourceVersion)."""
    pod: Any
    nodes: Optional[list[Any]]          # NodeList.items when the extender is not nodeCacheCapable
    node_names: Optional[list[str]]     # NodeNames when it is
    node_list_meta: Any = None          # NodeList fields besides items, echoed back in the filter result
    node_heads: Optional[list[tuple[str, str]]] = None


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
        items: list[msgspec.Raw] = []
        metadata: msgspec.Raw = msgspec.Raw()
        kind: Any = None
        apiVersion: Any = None

    class _Args(msgspec.Struct):
        """kube-scheduler's own spelling, in one pass over the body; other casings take the dict path."""
        Pod: msgspec.Raw = msgspec.Raw()
        Nodes: Optional[_NodeList] = None
        NodeNames: Optional[list[str]] = None

    _args_decoder = msgspec.json.Decoder(_Args)
    _head_decoder = msgspec.json.Decoder(_NodeHead)


def _parse_raw(body: bytes) -> Optional[ExtenderArgs]:
    try:
        a = _args_decoder.decode(body)
    except msgspec.ValidationError:
        return None   # a shape the dict path explains better (it names the field)
    except msgspec.DecodeError as e:
        raise WireError(f"malformed JSON: {e}") from None
    if (a.Nodes is None and a.NodeNames is None) or bytes(memoryview(a.Pod)[:1]) != b"{":
        return None
    if a.NodeNames is not None:
        return ExtenderArgs(a.Pod, None, _check_names(a.NodeNames))
    items = a.Nodes.items or []
    heads = []
    for i, raw in enumerate(items):
        try:
            meta = _head_decoder.decode(raw).metadata
        except msgspec.ValidationError:
            raise WireError(f"Nodes.items[{i}]: expected a Node object, got {short(bytes(raw))}") from None
        name = meta.name if meta is not None else None
        if not isinstance(name, str) or not name:
            raise WireError(f"Nodes.items[{i}].metadata.name: Required value (got {short(name)})")
        rv = meta.resourceVersion
        heads.append((name, rv if isinstance(rv, str) else ""))
    meta = {k: getattr(a.Nodes, k) for k in ("kind", "apiVersion") if getattr(a.Nodes, k) is not None}
    if len(a.Nodes.metadata):
        meta["metadata"] = a.Nodes.metadata
    return ExtenderArgs(a.Pod, items, None, meta, heads)


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
