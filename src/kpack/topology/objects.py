"""Cluster objects the two plugins consult: Namespaces (labels for namespaceSelector) and the selectors of
Services, ReplicaSets, StatefulSets and ReplicationControllers (system-default spreading)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..models import ReplicaSet
from .api import LabelSelector, Selector, parse

TOPOLOGY_KINDS = ("Namespace", "Service", "ReplicaSet", "StatefulSet", "ReplicationController")


class _Object(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, v: Any) -> dict[str, str]:
        return {str(k): str(x) for k, x in (v or {}).items()}

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v:
            raise ValueError("metadata.name must not be empty")
        return v

    @classmethod
    def _meta(cls, manifest: dict) -> dict:
        meta = manifest.get("metadata") or {}
        return {
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace") or "default",
            "labels": meta.get("labels") or {},
        }


class Namespace(_Object):
    kind: str = "Namespace"
    namespace: str = ""

    @classmethod
    def from_k8s(cls, manifest: dict) -> Namespace:
        m = cls._meta(manifest)
        m["namespace"] = ""
        return cls(**m)


class Service(_Object):
    kind: str = "Service"
    selector: dict[str, str] | None = None  # None: selects no pod

    @classmethod
    def from_k8s(cls, manifest: dict) -> Service:
        sel = (manifest.get("spec") or {}).get("selector")
        if sel is not None and not isinstance(sel, dict):
            raise ValueError(f"spec.selector: must be a map of label key to value, got {sel!r}")
        return cls(
            selector=None if sel is None else {str(k): str(v) for k, v in sel.items()}, **cls._meta(manifest)
        )


class ReplicationController(_Object):
    kind: str = "ReplicationController"
    selector: dict[str, str] | None = None

    @classmethod
    def from_k8s(cls, manifest: dict) -> ReplicationController:
        sel = (manifest.get("spec") or {}).get("selector")
        if sel is not None and not isinstance(sel, dict):
            raise ValueError(f"spec.selector: must be a map of label key to value, got {sel!r}")
        return cls(
            selector=None if sel is None else {str(k): str(v) for k, v in sel.items()}, **cls._meta(manifest)
        )


class StatefulSet(_Object):
    kind: str = "StatefulSet"
    selector: LabelSelector | None = None
    replicas: int = 1

    @classmethod
    def from_k8s(cls, manifest: dict) -> StatefulSet:
        spec = manifest.get("spec") or {}
        sel = spec.get("selector")
        return cls(
            selector=None if sel is None else parse(LabelSelector, sel, "spec.selector"),
            replicas=spec.get("replicas", 1),
            **cls._meta(manifest),
        )


def object_kind(obj: Any) -> str:
    return getattr(obj, "kind", None) or type(obj).__name__


def workload_selector(obj: Any) -> Selector:
    """The compiled selector of a ReplicaSet / StatefulSet (metav1.LabelSelector; nil selects nothing)."""
    if isinstance(obj, ReplicaSet):
        return parse(LabelSelector, obj.selector or {}, "spec.selector").requirements()
    sel = getattr(obj, "selector", None)
    if sel is None:
        return None
    return (
        sel.requirements()
        if isinstance(sel, LabelSelector)
        else parse(LabelSelector, sel, "spec.selector").requirements()
    )


def cluster_objects(cluster: Any) -> list[Any]:
    """The objects stored on a Cluster (`cluster.objects`, keyed by (kind, namespace, name)), or none."""
    objs = getattr(cluster, "objects", None)
    if not objs:
        return []
    return list(objs.values()) if isinstance(objs, dict) else list(objs)


class ObjectIndex:
    """Lookups the plugins need, built once per scheduling call."""

    def __init__(self, objects: Iterable[Any]):
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.services: dict[str, list[Service]] = {}
        self.owners: dict[tuple[str, str, str], Any] = {}
        for o in objects:
            k = object_kind(o)
            if k == "Namespace":
                self.namespace_labels[o.name] = dict(o.labels)
            elif k == "Service":
                self.services.setdefault(o.namespace, []).append(o)
            elif k in ("ReplicaSet", "StatefulSet", "ReplicationController"):
                self.owners[(k, o.namespace, o.name)] = o

    def ns_labels(self, ns: str) -> dict[str, str]:
        """Labels of a Namespace object; empty when the object is missing (upstream's snapshot fallback)."""
        return self.namespace_labels.get(ns, {})

    def namespaces_matching(self, sel: Selector) -> list[str]:
        from .api import selector_matches

        return sorted(n for n, labels in self.namespace_labels.items() if selector_matches(sel, labels))
