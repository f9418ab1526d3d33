"""Workload expansion as the controllers do it, so default spreading sees real owners: a Deployment's pods are
owned (controller: true) by a ReplicaSet `<name>-<pod-template-hash>` that exists; a ReplicaSet owns pods."""

from __future__ import annotations

import json

from ..models import Deployment, Pod, ReplicaSet
from .api import OwnerReference

TEMPLATE_HASH_LABEL = "pod-template-hash"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict) -> str:
    """A stable pod-template-hash (FNV-32a of the template, encoded like rand.SafeEncodeString); the value is
    kpack's, not the one kube-controller-manager would print."""
    h = 0x811C9DC5
    for b in json.dumps(template, sort_keys=True, default=str).encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[int(c) % len(_SAFE)] for c in str(h))


def deployment_replicaset(d: Deployment) -> ReplicaSet:
    """The ReplicaSet the Deployment controller creates for the current template."""
    h = template_hash(d.template)
    meta = dict(d.template.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    labels[TEMPLATE_HASH_LABEL] = h
    template = dict(d.template, metadata=dict(meta, labels=labels))
    sel = dict(d.selector or {})
    sel["matchLabels"] = dict(sel.get("matchLabels") or {}, **{TEMPLATE_HASH_LABEL: h})
    return ReplicaSet(
        name=f"{d.name}-{h}",
        namespace=d.namespace,
        labels=labels,
        selector=sel,
        template=template,
        annotations=dict(d.annotations),
        replicas=d.replicas,
    )


def owned_pods(rs: ReplicaSet, names: list[str]) -> list[Pod]:
    """Pods of a ReplicaSet (template labels, controller ownerReference to the ReplicaSet)."""
    ref = OwnerReference(
        api_version="apps/v1", kind="ReplicaSet", name=rs.name, controller=True, block_owner_deletion=True
    )
    out = []
    for n in names:
        p = rs.template_pod(n)
        out.append(p.model_copy(update={"owner_references": [ref]}))
    return out
