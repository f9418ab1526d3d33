"""DaemonSet controller: one pod per node that should run it (pinned, then placed by the scheduler), node
add/remove/label changes, RollingUpdate (maxSurge / maxUnavailable, both rounding up) and OnDelete."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..daemonset import daemon_tolerations
from ..models import NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm
from .objects import DaemonSetObj
from .rollout import daemonset_fenceposts, template_hash

if TYPE_CHECKING:
    from .plane import ControlPlane

REVISION_LABEL = "controller-revision-hash"


def sync_revision(cp: "ControlPlane", ds: DaemonSetObj) -> None:
    """The current template's ControllerRevision: a new template gets the next number; a template that comes
    back gets its old revision renumbered to the highest (as upstream)."""
    if ds.base is not None:
        return  # base is reset whenever the template changes
    h = template_hash(ds.template)
    top = max(ds.revisions.values(), default=0)
    if ds.revisions.get(h, -1) != top or not ds.revisions:
        ds.revisions[h] = top + 1
    ds.rev_codes.setdefault(h, len(ds.rev_codes))
    ds.templates[h] = ds.template
    ds.current = h
    tmpl = ds.model.template_pod(ds.name)
    labels = dict(tmpl.labels)
    labels[REVISION_LABEL] = h
    ds.base = tmpl.model_copy(
        update={"tolerations": daemon_tolerations(tmpl), "labels": labels, "owner": ds.key}
    )
    # revisionHistoryLimit: drop the oldest revisions no pod uses any more
    used = set(np.unique(cp.store.rev[cp.ctl_rows(ds.ctl)]).tolist())
    idle = sorted((r, k) for k, r in ds.revisions.items() if k != h and ds.rev_codes[k] not in used)
    for _, k in idle[: max(0, len(idle) - ds.revision_history_limit)]:
        del ds.revisions[k]
        ds.templates.pop(k, None)


_PIN = NodeAffinity(
    required=[
        NodeSelectorTerm(
            match_fields=[NodeSelectorRequirement(key="metadata.name", operator="In", values=["-"])]
        )
    ]
)


def shallow_copy(model, **update):
    """model_copy(update=...) without copying pydantic's bookkeeping sets (thousands of daemon pods: the
    copied objects are never mutated, as Pod and Node objects are treated as immutable everywhere)."""
    new = model.__class__.__new__(model.__class__)
    d = dict(model.__dict__)
    d.update(update)
    object.__setattr__(new, "__dict__", d)
    object.__setattr__(new, "__pydantic_fields_set__", model.__pydantic_fields_set__)
    object.__setattr__(new, "__pydantic_extra__", None)
    object.__setattr__(new, "__pydantic_private__", None)
    return new


def pinned_affinity(node_name: str, preferred: list, cache: dict) -> NodeAffinity:
    """The DaemonSet controller's node pin (upstream: required terms replaced by matchFields metadata.name In
    [node]; preferred terms kept), copied from one validated template; shared per node (through `cache`)
    when nothing is preferred."""
    aff = cache.get(node_name) if not preferred else None
    if aff is None:
        term = _PIN.required[0]
        req = shallow_copy(term.match_fields[0], values=[node_name])
        aff = shallow_copy(_PIN, required=[shallow_copy(term, match_fields=[req])], preferred=list(preferred))
        if not preferred:
            cache[node_name] = aff
    return aff


def _spec(cp: "ControlPlane", ds: DaemonSetObj, node_name: str) -> int:
    code = ds.rev_codes[ds.current]
    sid = ds.specs.get((code, node_name))
    if sid is None:
        base = ds.base
        preferred = base.affinity.preferred if base.affinity is not None else []
        pod = shallow_copy(
            base, name=f"{ds.name}-{node_name}", affinity=pinned_affinity(node_name, preferred, cp.pins)
        )
        sid = ds.specs[(code, node_name)] = cp.add_spec(pod)
    return sid


def _create(cp: "ControlPlane", ds: DaemonSetObj, node_ids: list[int]) -> np.ndarray:
    if not node_ids:
        return np.zeros(0, np.int64)
    code = ds.rev_codes[ds.current]
    specs, ords = [], []
    for nid in node_ids:
        name = cp.node_name_of[nid]
        o = ds.ordinals.get(name, 0)
        ds.ordinals[name] = o + 1
        ords.append(o)
        specs.append(_spec(cp, ds, name))
    rows = cp.store.add(
        np.array(specs, np.int32),
        np.array(ords, np.int64),
        ds.ctl,
        code,
        np.array(node_ids, np.int32),
        cp.steps,
    )
    cp.record(ds.key, "SuccessfulCreate", f"Created {len(node_ids)} daemon pod(s)")
    return rows


def _delete(cp: "ControlPlane", ds: DaemonSetObj, rows: np.ndarray, why: str) -> None:
    if len(rows):
        cp.delete_pods(rows)
        cp.record(ds.key, "SuccessfulDelete", f"Deleted {len(rows)} daemon pod(s) ({why})")


def desired_nodes(cp: "ControlPlane", ds: DaemonSetObj) -> tuple[np.ndarray, np.ndarray]:
    """(shouldRun, shouldContinueRunning) per node id (False for deleted nodes)."""
    run, keep = cp.placement(ds)
    n = len(cp.node_name_of)
    r = np.zeros(n, np.bool_)
    k = np.zeros(n, np.bool_)
    r[cp.id_of_row] = run
    k[cp.id_of_row] = keep
    return r, k


def sync_daemonset(cp: "ControlPlane", ds: DaemonSetObj, rows: np.ndarray) -> np.ndarray:
    """manage (create / delete per node), then the rolling update; returns the set's active rows."""
    sync_revision(cp, ds)
    st = cp.store
    run, keep = desired_nodes(cp, ds)
    n = len(run)
    tgt = st.target[rows]
    # pods on nodes that should not keep them
    gone = ~keep[tgt]
    if gone.any():
        _delete(cp, ds, rows[gone], "node should not run the daemon pod")
        rows, tgt = rows[~gone], tgt[~gone]
    cur = ds.rev_codes[ds.current]
    surge, unavailable = daemonset_fenceposts(ds.max_surge, ds.max_unavailable, int(run.sum()))
    allows_surge = ds.strategy == "RollingUpdate" and surge > 0
    count = np.bincount(tgt, minlength=n)
    extra = np.flatnonzero(count > 1)
    if len(extra):
        drop = []
        for nid in extra.tolist():
            pods = rows[tgt == nid]
            pods = pods[np.lexsort((pods, st.created[pods]))]  # oldest first
            if not allows_surge:
                drop.extend(pods[1:].tolist())
                continue
            new = [r for r in pods.tolist() if st.rev[r] == cur]
            old = [r for r in pods.tolist() if st.rev[r] != cur]
            drop.extend(new[1:] + old[1:])
            if new and old and (not cp.ready[old[0]] or cp.ready[new[0]]):
                drop.append(old[0])
        if drop:
            d = np.array(sorted(drop), np.int64)
            _delete(cp, ds, d, "excess daemon pods")
            keep_mask = ~np.isin(rows, d)
            rows, tgt = rows[keep_mask], tgt[keep_mask]
            count = np.bincount(tgt, minlength=n)
    missing = np.flatnonzero(run & (count == 0)).tolist()
    if missing:
        rows = np.concatenate([rows, _create(cp, ds, missing)])
    if ds.strategy == "RollingUpdate" and (st.rev[rows] != cur).any():
        rows = _rolling_update(cp, ds, rows, run, surge, unavailable)
    ds.observed_generation = ds.generation
    return rows


def _rolling_update(
    cp: "ControlPlane", ds: DaemonSetObj, rows: np.ndarray, run: np.ndarray, surge: int, unavailable: int
) -> np.ndarray:
    """upstream daemon rollingUpdate, iterating nodes in node order (upstream: map order)."""
    st = cp.store
    cur = ds.rev_codes[ds.current]
    by_node: dict[int, list[int]] = {int(i): [] for i in np.flatnonzero(run)}
    for r, t in zip(rows.tolist(), st.target[rows].tolist()):
        by_node.setdefault(t, []).append(r)
    avail = cp.available
    to_delete: list[int] = []
    create_on: list[int] = []
    if surge == 0:
        num_unavailable = 0
        allowed: list[int] = []
        candidates: list[int] = []
        for nid in sorted(by_node):
            pods = by_node[nid]
            new = [r for r in pods if st.rev[r] == cur]
            old = [r for r in pods if st.rev[r] != cur]
            if len(new) > 1 or len(old) > 1 or (not new and not old) or (new and old):
                num_unavailable += 1
            elif new:
                num_unavailable += 0 if avail[new[0]] else 1
            elif not avail[old[0]]:
                allowed.append(old[0])
            elif num_unavailable < unavailable:
                candidates.append(old[0])
        remaining = min(max(unavailable - num_unavailable, 0), len(candidates))
        to_delete = allowed + candidates[:remaining]
    else:
        num_surge = 0
        allowed_nodes: list[int] = []
        cand_nodes: list[int] = []
        for nid in sorted(by_node):
            pods = by_node[nid]
            new = [r for r in pods if st.rev[r] == cur]
            old = [r for r in pods if st.rev[r] != cur]
            if len(new) > 1 or len(old) > 1:
                num_surge += 1
                continue
            if not old:
                continue
            if not new:
                if not avail[old[0]]:
                    if not run[nid]:
                        to_delete.append(old[0])
                        continue
                    allowed_nodes.append(nid)
                elif num_surge < surge:
                    cand_nodes.append(nid)
            elif not avail[new[0]]:
                num_surge += 1
            else:
                to_delete.append(old[0])
        remaining = min(max(surge - num_surge, 0), len(cand_nodes))
        create_on = allowed_nodes + cand_nodes[:remaining]
    if to_delete:
        d = np.array(sorted(to_delete), np.int64)
        _delete(cp, ds, d, "rolling update")
        rows = rows[~np.isin(rows, d)]
        if surge == 0:
            # the manage loop re-creates them at once (upstream: the next sync, triggered by the deletions)
            rows = np.concatenate([rows, _create(cp, ds, [int(t) for t in st.target[d].tolist() if run[t]])])
    if create_on:
        rows = np.concatenate([rows, _create(cp, ds, create_on)])
    return rows


def status(cp: "ControlPlane", ds: DaemonSetObj) -> dict:
    run, _ = desired_nodes(cp, ds)
    rows = cp.ctl_rows(ds.ctl)
    st = cp.store
    tgt = st.target[rows]
    cur = ds.rev_codes.get(ds.current, -1)
    on = np.zeros(len(run), np.bool_)
    on[tgt[st.node[rows] >= 0]] = True
    wanted = run[tgt]
    return {
        "desiredNumberScheduled": int(run.sum()),
        "currentNumberScheduled": int((on & run).sum()),
        "numberMisscheduled": int((on & ~run).sum()),
        "numberReady": int(cp.ready[rows].sum()),
        "updatedNumberScheduled": int(len(np.unique(tgt[(st.rev[rows] == cur) & wanted]))),
        "numberAvailable": int(cp.available[rows].sum()),
        "numberUnavailable": int(run.sum()) - int(len(np.unique(tgt[cp.available[rows] & wanted]))),
        "observedGeneration": ds.observed_generation,
    }


def rollout_message(ds: DaemonSetObj, st: dict) -> tuple[str, bool]:
    """kubectl rollout status for a DaemonSet: (message, done)."""
    if ds.generation > st["observedGeneration"]:
        return "Waiting for daemon set spec update to be observed...", False
    if ds.strategy != "RollingUpdate":
        return "rollout status is only available for RollingUpdate strategy type", True
    if st["updatedNumberScheduled"] < st["desiredNumberScheduled"]:
        return (
            f'Waiting for daemon set "{ds.name}" rollout to finish: {st["updatedNumberScheduled"]} out of '
            f"{st['desiredNumberScheduled']} new pods have been updated..."
        ), False
    if st["numberAvailable"] < st["desiredNumberScheduled"]:
        return (
            f'Waiting for daemon set "{ds.name}" rollout to finish: {st["numberAvailable"]} of '
            f"{st['desiredNumberScheduled']} updated pods are available..."
        ), False
    return f'daemon set "{ds.name}" successfully rolled out', True
