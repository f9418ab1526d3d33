"""kube-scheduler extender wire format (k8s.io/kube-scheduler/extender/v1): parsing requests, JSON codec."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

try:   # orjson is several times faster on the multi-megabyte NodeList bodies; json is the fallback
    import orjson

    def loads(data: bytes) -> Any:
        return orjson.loads(data)

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    JSON_ERRORS: tuple = (orjson.JSONDecodeError,)
except ImportError:   # pragma: no cover - orjson is in the serve extra
    import json

    def loads(data: bytes) -> Any:
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
    """ExtenderArgs: the pod, and the candidate nodes as full objects (`nodes`) or as names (`node_names`)."""
    pod: dict
    nodes: Optional[list[dict]]        # NodeList.items when the extender is not nodeCacheCapable
    node_names: Optional[list[str]]    # NodeNames when it is
    node_list_meta: Any = None         # NodeList metadata/apiVersion/kind, echoed back in the filter result

    @property
    def names(self) -> list[str]:
        if self.node_names is not None:
            return self.node_names
        return [node_name(n, i) for i, n in enumerate(self.nodes or [])]


def node_name(node: Any, i: int) -> str:
    if not isinstance(node, dict):
        raise WireError(f"Nodes.items[{i}]: expected a Node object, got {short(node)}")
    name = (node.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise WireError(f"Nodes.items[{i}].metadata.name: Required value (got {short(name)})")
    return name


def parse_extender_args(body: Any) -> ExtenderArgs:
    f = fields(body, "ExtenderArgs")
    pod = f.get("pod")
    if not isinstance(pod, dict):
        raise WireError(f"ExtenderArgs.Pod: Required value: a v1.Pod object (got {short(pod)})")
    names = f.get("nodenames")
    node_list = f.get("nodes")
    if names is not None:
        if not isinstance(names, list) or set(map(type, names)) - {str} or "" in names:
            raise WireError(f"ExtenderArgs.NodeNames: expected a list of node names, got {short(names)}")
        return ExtenderArgs(pod, None, names)
    if node_list is None:
        raise WireError("ExtenderArgs: Required value: Nodes (a v1.NodeList) or NodeNames (nodeCacheCapable)")
    if not isinstance(node_list, dict) or not isinstance(node_list.get("items", []), list):
        raise WireError(f"ExtenderArgs.Nodes: expected a v1.NodeList {{items: [..]}}, got {short(node_list)}")
    items = node_list.get("items") or []
    meta = {k: v for k, v in node_list.items() if k != "items"}
    return ExtenderArgs(pod, items, None, meta)


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
    f = fields(body, "ExtenderBindingArgs")
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
