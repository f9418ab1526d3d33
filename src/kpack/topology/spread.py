"""PodTopologySpread: a pod's effective constraints (its own, or the defaults with DefaultSelector) as
`Constraint`s; the kernel side (counting, filter, score, normalise) is in engine.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import Pod
from .api import HOSTNAME_KEY, Selector, controller_of, selector_matches
from .config import SpreadArgs
from .objects import ObjectIndex, workload_selector

REASON_SPREAD = "node(s) didn't match pod topology spread constraints"
REASON_SPREAD_MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    key: str
    hard: bool
    selector: Selector  # None: matches no pod
    min_domains: int
    affinity_honor: bool  # nodeAffinityPolicy Honor
    taints_honor: bool  # nodeTaintsPolicy Honor

    @property
    def counts_nothing(self) -> bool:
        """countPodsMatchSelector returns 0 for an empty selector (v1.35 `Empty()` quirk); nil: none."""
        return self.selector is None or self.selector == ()

    def self_match(self, labels: dict[str, str]) -> bool:
        return selector_matches(self.selector, labels)

    @property
    def hostname(self) -> bool:
        return self.key == HOSTNAME_KEY


def _compile(c, selector: Selector) -> Constraint:
    return Constraint(
        c.max_skew,
        c.topology_key,
        c.hard,
        selector,
        c.min_domains or 1,
        (c.node_affinity_policy or "Honor") == "Honor",
        (c.node_taints_policy or "Ignore") == "Honor",
    )


def default_selector(pod: Pod, objects: ObjectIndex) -> Selector:
    """helper.DefaultSelector: Services in the pod's namespace that select it, then its controller (RC merges
    map; ReplicaSet / StatefulSet AND their selector's requirements)."""
    label_set: dict[str, str] = {}
    for svc in objects.services.get(pod.namespace, []):
        if svc.selector is None:
            continue
        if all(pod.labels.get(k) == v for k, v in svc.selector.items()):
            label_set.update(svc.selector)
    reqs = [(k, "In", (v,)) for k, v in label_set.items()]
    owner = controller_of(pod.owner_references)
    if owner is not None:
        if owner.api_version == "v1" and owner.kind == "ReplicationController":
            rc = objects.owners.get(("ReplicationController", pod.namespace, owner.name))
            if rc is not None:
                label_set.update(rc.selector or {})
                reqs = [(k, "In", (v,)) for k, v in label_set.items()]
        elif owner.api_version == "apps/v1" and owner.kind in ("ReplicaSet", "StatefulSet"):
            w = objects.owners.get((owner.kind, pod.namespace, owner.name))
            if w is not None:
                sel = workload_selector(w)
                if sel is not None:
                    reqs += list(sel)
    return tuple(sorted(reqs))


def pod_constraints(pod: Pod, objects: ObjectIndex, args: SpreadArgs) -> tuple[list[Constraint], bool]:
    """(constraints, requireAllTopologies): the pod's own constraints, else the default ones with the
    DefaultSelector (none when that selector is empty)."""
    if pod.topology_spread_constraints:
        return [
            _compile(c, None if c.label_selector is None else c.label_selector.requirements())
            for c in pod.topology_spread_constraints
        ], True
    require_all = args.defaulting_type != "System"
    defaults = args.defaults()
    if not defaults:
        return [], require_all
    sel = default_selector(pod, objects)
    if not sel:
        return [], require_all
    return [_compile(c, sel) for c in defaults], require_all


def uses_spread(pod: Pod, objects: ObjectIndex, args: SpreadArgs) -> bool:
    return bool(pod_constraints(pod, objects, args)[0])


def spread_key(pod: Pod) -> Any:
    return (
        pod.namespace,
        tuple(sorted(pod.labels.items())),
        id(pod.topology_spread_constraints),
        tuple((r.api_version, r.kind, r.name, bool(r.controller)) for r in pod.owner_references),
    )
