"""Node lifecycle: failure taints (unreachable NoSchedule + NoExecute) and taint-based eviction timing."""

from __future__ import annotations

from typing import Optional

from ..models import Node, Pod, Taint, Toleration

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
FAILURE_TAINTS = (Taint(key=UNREACHABLE, effect="NoSchedule"), Taint(key=UNREACHABLE, effect="NoExecute"))


def failed(node: Node) -> Node:
    """The node as the node lifecycle controller leaves it when its kubelet stops reporting."""
    taints = [t for t in node.taints if t.key != UNREACHABLE] + list(FAILURE_TAINTS)
    return node.model_copy(update={"taints": taints})


def recovered(node: Node) -> Node:
    return node.model_copy(update={"taints": [t for t in node.taints if t.key != UNREACHABLE]})


def noexecute(node: Node) -> list[Taint]:
    return [t for t in node.taints if t.effect == "NoExecute"]


def eviction_delay(pod: Pod, taints: list[Taint], default_seconds: Optional[float]) -> Optional[float]:
    """Seconds after the taints appeared at which the taint manager evicts `pod` (0: at once, None: never).

    upstream: an untolerated NoExecute taint evicts at once; otherwise the smallest tolerationSeconds of the
    tolerations in use (none: never). `default_seconds` plays the DefaultTolerationSeconds admission plugin:
    pods without their own not-ready/unreachable NoExecute toleration get one for that many seconds."""
    tols = list(pod.tolerations)
    if default_seconds is not None:
        for key in (NOT_READY, UNREACHABLE):
            probe = Taint(key=key, effect="NoExecute")
            if not any(t.tolerates(probe) for t in tols):
                tols.append(
                    Toleration(
                        key=key, operator="Exists", effect="NoExecute", tolerationSeconds=int(default_seconds)
                    )
                )
    used: list[Toleration] = []
    for taint in taints:
        match = [t for t in tols if t.tolerates(taint)]
        if not match:
            return 0.0
        used.extend(match)
    secs = [t.toleration_seconds for t in used if t.toleration_seconds is not None]
    if not secs:
        return None
    return float(max(0, min(secs)))
