"""Deployment controller: one ReplicaSet per template (pod-template-hash), RollingUpdate and Recreate
rollouts, revisions and history cleanup, status and conditions (K8S_SEMANTICS.md section 9)."""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Optional

from .objects import HASH_LABEL, DeploymentObj, ReplicaSetObj
from .rollout import canonical, resolve_fenceposts, template_hash

if TYPE_CHECKING:
    from .plane import ControlPlane


def strip_hash(template: dict) -> dict:
    """The template without the pod-template-hash label (what a Deployment's template looks like)."""
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels and HASH_LABEL in labels:
        del labels[HASH_LABEL]
    return t


def max_unavailable(d: DeploymentObj) -> int:
    if d.strategy != "RollingUpdate" or d.replicas == 0:
        return 0
    return min(resolve_fenceposts(d.max_surge, d.max_unavailable, d.replicas)[1], d.replicas)


def max_surge(d: DeploymentObj) -> int:
    if d.strategy != "RollingUpdate":
        return 0
    return resolve_fenceposts(d.max_surge, d.max_unavailable, d.replicas)[0]


def split_sets(cp: "ControlPlane", d: DeploymentObj) -> tuple[Optional[ReplicaSetObj], list[ReplicaSetObj]]:
    """(new RS whose template equals the Deployment's ignoring the hash label, old RSs oldest first)."""
    sets = cp.owned_sets(d.key)
    key = template_key(d)
    new = next((rs for rs in sets if rs.template_key == key), None)
    return new, [rs for rs in sets if rs is not new]


def template_key(d: DeploymentObj) -> str:
    """canonical(d.template), memoised on the template object (templates are replaced, never edited)."""
    memo = d.progress.get("template_key")
    if memo is None or memo[0] is not d.template:
        memo = d.progress["template_key"] = (d.template, canonical(d.template))
    return memo[1]


def new_replicas(d: DeploymentObj, sets: list[ReplicaSetObj], new: Optional[ReplicaSetObj]) -> int:
    """upstream NewRSNewReplicas."""
    cur = new.replicas if new is not None else 0
    if d.strategy == "Recreate":
        return d.replicas
    max_total = d.replicas + max_surge(d)
    total = sum(rs.replicas for rs in sets)
    if total >= max_total:
        return cur
    return cur + min(max_total - total, d.replicas - cur)


def create_new_set(cp: "ControlPlane", d: DeploymentObj, revision: int, replicas: int) -> ReplicaSetObj:
    while True:
        h = template_hash(d.template, d.collision_count)
        name = f"{d.name}-{h}"
        other = cp.replicasets.get(cp.ref("replicaset", d.namespace, name))
        if other is None or other.deleted:
            break
        d.collision_count += (
            1  # a set of that name with another template: hash again (upstream collisionCount)
        )
    tmpl = copy.deepcopy(d.template)
    tmpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
    sel = copy.deepcopy(d.selector)
    sel.setdefault("matchLabels", {})[HASH_LABEL] = h
    rs = ReplicaSetObj(
        name=name,
        namespace=d.namespace,
        selector=sel,
        template=tmpl,
        template_key=canonical(d.template),
        replicas=replicas,
        min_ready_seconds=d.min_ready_seconds,
        owner=d.key,
        revision=revision,
        hash=h,
        created=cp.steps,
    )
    rs.desired_annotation, rs.max_annotation = d.replicas, d.replicas + max_surge(d)
    cp.register_set(rs)
    cp.record(d.key, "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {replicas}")
    return rs


def _scale(cp: "ControlPlane", d: DeploymentObj, rs: ReplicaSetObj, n: int) -> bool:
    """Resize `rs` (and set its desired-/max-replicas annotations, as upstream scaleReplicaSet)."""
    rs.desired_annotation, rs.max_annotation = d.replicas, d.replicas + max_surge(d)
    if rs.replicas == n:
        return False
    verb = "up" if n > rs.replicas else "down"
    cp.record(d.key, "ScalingReplicaSet", f"Scaled {verb} replica set {rs.name} from {rs.replicas} to {n}")
    rs.replicas = n
    return True


def sync_deployment(cp: "ControlPlane", d: DeploymentObj) -> bool:
    """One reconcile of the Deployment's ReplicaSet sizes (pods follow in the ReplicaSet sync). True if any
    ReplicaSet was created or resized."""
    new, old = split_sets(cp, d)
    max_old = max((rs.revision for rs in old), default=0)
    changed = False
    if new is not None and new.revision <= max_old:
        # An older template came back (rollback): that set becomes the newest revision.
        new.revision_history.append(new.revision)
        new.revision = max_old + 1
        new.min_ready_seconds = d.min_ready_seconds
        changed = True
    if d.paused or _is_scaling_event(d, new, old):
        changed |= _scale_proportionally(cp, d, new, old)
        d.observed_generation = d.generation
        return changed
    if d.strategy == "Recreate":
        for rs in old:
            changed |= _scale(cp, d, rs, 0)
        if any(len(cp.set_rows(rs)) for rs in old):
            d.observed_generation = d.generation
            return changed
        if new is None:
            create_new_set(cp, d, max_old + 1, d.replicas)
            changed = True
        else:
            changed |= _scale(cp, d, new, d.replicas)
        d.observed_generation = d.generation
        return changed
    if new is None:
        create_new_set(cp, d, max_old + 1, new_replicas(d, old, None))
        d.observed_generation = d.generation
        return True
    all_sets = old + [new]
    # reconcileNewReplicaSet
    if new.replicas > d.replicas:
        changed |= _scale(cp, d, new, d.replicas)
    elif new.replicas < d.replicas:
        changed |= _scale(cp, d, new, new_replicas(d, all_sets, new))
    d.observed_generation = d.generation
    if changed:
        return True  # upstream returns after a scale-up; the next sync scales down
    return _reconcile_old(cp, d, new, old)


def _reconcile_old(
    cp: "ControlPlane", d: DeploymentObj, new: ReplicaSetObj, old: list[ReplicaSetObj]
) -> bool:
    """upstream reconcileOldReplicaSets: unhealthy old pods first, then old pods above minAvailable."""
    if sum(rs.replicas for rs in old) == 0:
        return False
    all_pods = sum(rs.replicas for rs in old) + new.replicas
    min_available = d.replicas - max_unavailable(d)
    new_unavailable = new.replicas - cp.set_status(new)[2]
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    changed = False
    total = 0
    for rs in old:
        if total >= max_scaled_down:
            break
        if rs.replicas == 0:
            continue
        avail = cp.set_status(rs)[2]
        if rs.replicas == avail:
            continue
        k = min(max_scaled_down - total, rs.replicas - avail)
        changed |= _scale(cp, d, rs, rs.replicas - k)
        total += k
    available = sum(cp.set_status(rs)[2] for rs in old + [new])
    if available > min_available:
        budget, done = available - min_available, 0
        for rs in old:
            if done >= budget:
                break
            if rs.replicas == 0:
                continue
            k = min(rs.replicas, budget - done)
            changed |= _scale(cp, d, rs, rs.replicas - k)
            done += k
    return changed


def _is_scaling_event(d: DeploymentObj, new: Optional[ReplicaSetObj], old: list[ReplicaSetObj]) -> bool:
    """upstream isScalingEvent: an active set whose desired-replicas annotation differs from `replicas`."""
    return any(rs.replicas > 0 and rs.desired_annotation is not None and rs.desired_annotation != d.replicas
               for rs in old + ([new] if new is not None else []))


def _round(x: float) -> int:
    """Go math.Round (half away from zero)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def _scale_proportionally(cp: "ControlPlane", d: DeploymentObj, new: Optional[ReplicaSetObj],
                          old: list[ReplicaSetObj]) -> bool:
    """upstream DeploymentController.scale: one active (or the latest) set takes `replicas`; a saturated new
    set scales the old ones to 0; otherwise (RollingUpdate) the difference to replicas + maxSurge is split in
    proportion to the sets' sizes (getProportion), leftovers to the largest."""
    active = [rs for rs in old + ([new] if new is not None else []) if rs.replicas > 0]
    if len(active) <= 1:
        target = active[0] if active else (new if new is not None else (old[-1] if old else None))
        return _scale(cp, d, target, d.replicas) if target is not None else False
    if (new is not None and new.desired_annotation == d.replicas and new.replicas == d.replicas
            and cp.set_status(new)[2] == d.replicas):
        changed = False
        for rs in old:
            if rs.replicas > 0:
                changed |= _scale(cp, d, rs, 0)
        return changed
    if d.strategy != "RollingUpdate":
        return False
    allowed = d.replicas + max_surge(d) if d.replicas > 0 else 0
    to_add = allowed - sum(rs.replicas for rs in active)
    if to_add > 0:       # larger first; ties: newer first when scaling up, older first when scaling down
        active.sort(key=lambda rs: (-rs.replicas, -rs.created, -rs.ctl))
    elif to_add < 0:
        active.sort(key=lambda rs: (-rs.replicas, rs.created, rs.ctl))
    added = 0
    sizes = []
    for rs in active:
        prop = 0
        if to_add != 0 and to_add != added:
            if d.replicas == 0:
                fraction = -rs.replicas
            else:
                annotated = rs.max_annotation or sum(r.replicas for r in active)
                fraction = _round(rs.replicas * (d.replicas + max_surge(d)) / annotated) - rs.replicas
            room = to_add - added
            prop = min(fraction, room) if to_add > 0 else max(fraction, room)
        sizes.append(rs.replicas + prop)
        added += prop
    if to_add != 0:
        sizes[0] = max(0, sizes[0] + to_add - added)
    changed = False
    for rs, n in zip(active, sizes):
        changed |= _scale(cp, d, rs, n)
    return changed


def cleanup(cp: "ControlPlane", d: DeploymentObj) -> None:
    """revisionHistoryLimit: delete the oldest-revision old sets that have no replicas and no pods."""
    new, old = split_sets(cp, d)
    idle = sorted(
        (rs for rs in old if rs.replicas == 0 and not len(cp.set_rows(rs))), key=lambda rs: rs.revision
    )
    for rs in idle[: max(0, len(idle) - d.revision_history_limit)]:
        cp.delete_set(rs)


def status(cp: "ControlPlane", d: DeploymentObj) -> dict:
    new, old = split_sets(cp, d)
    replicas = ready = available = 0
    for rs in old + ([new] if new is not None else []):
        r, rd, av = cp.set_status(rs)
        replicas, ready, available = replicas + r, ready + rd, available + av
    updated = cp.set_status(new)[0] if new is not None else 0
    return {
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": max(d.replicas - available, 0),
        "observedGeneration": d.observed_generation,
    }


def complete(d: DeploymentObj, st: dict) -> bool:
    return (
        st["updatedReplicas"] == d.replicas
        and st["replicas"] == d.replicas
        and st["availableReplicas"] == d.replicas
        and st["observedGeneration"] >= d.generation
    )


def update_conditions(cp: "ControlPlane", d: DeploymentObj, st: dict) -> None:
    """Progressing: NewReplicaSetAvailable, ReplicaSetUpdated, ProgressDeadlineExceeded, DeploymentPaused."""
    p = d.progress
    last = p.get("last")
    now = cp.time
    new, _ = split_sets(cp, d)
    rs_name = new.name if new is not None else ""
    if d.paused:
        p.update(status="Unknown", reason="DeploymentPaused", message="Deployment is paused", since=now)
    elif complete(d, st):
        if p.get("reason") != "NewReplicaSetAvailable":
            cp.record(d.key, "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
        p.update(
            status="True",
            reason="NewReplicaSetAvailable",
            message=f'ReplicaSet "{rs_name}" has successfully progressed.',
            since=now,
        )
    else:
        progressed = last is None or (
            st["updatedReplicas"] > last["updatedReplicas"]
            or st["replicas"] - st["updatedReplicas"] < last["replicas"] - last["updatedReplicas"]
            or st["readyReplicas"] > last["readyReplicas"]
            or st["availableReplicas"] > last["availableReplicas"]
        )
        if progressed or p.get("reason") in (None, "NewReplicaSetAvailable", "DeploymentPaused"):
            p.update(
                status="True",
                reason="ReplicaSetUpdated",
                message=f'ReplicaSet "{rs_name}" is progressing.',
                since=now,
            )
        elif now - p["since"] > d.progress_deadline_seconds and p.get("reason") != "ProgressDeadlineExceeded":
            p.update(
                status="False",
                reason="ProgressDeadlineExceeded",
                message=f'ReplicaSet "{rs_name}" has timed out progressing.',
                since=now,
            )
            cp.record(d.key, "ProgressDeadlineExceeded", p["message"])
    p["last"] = dict(st)


def conditions(d: DeploymentObj, st: dict) -> list[dict]:
    min_avail = d.replicas - max_unavailable(d)
    ok = st["availableReplicas"] >= min_avail
    out = [
        {
            "type": "Available",
            "status": "True" if ok else "False",
            "reason": "MinimumReplicasAvailable" if ok else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability."
            if ok
            else "Deployment does not have minimum availability.",
        }
    ]
    p = d.progress
    if p.get("reason"):
        out.append(
            {"type": "Progressing", "status": p["status"], "reason": p["reason"], "message": p["message"]}
        )
    return out


def rollout_message(d: DeploymentObj, st: dict) -> tuple[str, bool]:
    """kubectl rollout status for a Deployment: (message, done)."""
    if d.generation > st["observedGeneration"]:
        return "Waiting for deployment spec update to be observed...", False
    if d.progress.get("reason") == "ProgressDeadlineExceeded":
        return f'error: deployment "{d.name}" exceeded its progress deadline', True
    if st["updatedReplicas"] < d.replicas:
        return (
            f'Waiting for deployment "{d.name}" rollout to finish: {st["updatedReplicas"]} out of '
            f"{d.replicas} new replicas have been updated..."
        ), False
    if st["replicas"] > st["updatedReplicas"]:
        return (
            f'Waiting for deployment "{d.name}" rollout to finish: {st["replicas"] - st["updatedReplicas"]} '
            "old replicas are pending termination..."
        ), False
    if st["availableReplicas"] < st["updatedReplicas"]:
        return (
            f'Waiting for deployment "{d.name}" rollout to finish: {st["availableReplicas"]} of '
            f"{st['updatedReplicas']} updated replicas are available..."
        ), False
    return f'deployment "{d.name}" successfully rolled out', True
