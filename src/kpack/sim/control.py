"""The replay's control plane: events.parquet workload events into a kpack.ControlPlane that shares the
replay's Cluster and Scheduler, and the pods it creates, binds and deletes back into the replay's outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..controllers import ControllerError, ControlPlane
from ..controllers.store import FAILED, PENDING, RUNNING, SUCCEEDED
from ..manifests import ManifestError
from .schema import TraceError

OWNER_KINDS = {"deployment": "Deployment", "daemonset": "DaemonSet", "replicaset": "ReplicaSet", "job": "Job",
               "cronjob": "CronJob"}


@dataclass
class Ended:
    """Control-plane pods that left in one step: store rows, trace node index (-1: never bound), and the
    outcome codes of the replay's placements.parquet."""

    rows: np.ndarray
    node: np.ndarray
    bound: np.ndarray   # bool: the pod held capacity until now (its node gets capacity back)
    outcome: list


class TraceControl:
    """A ControlPlane driven by the replay's clock (one step per second of trace time at most).

    The replay calls, at one time t: `feed` for each workload event, `node_event` for node changes, then
    `step(t)` if `due(t, freed)`; `step` returns the pods bound and the pods gone in that step. Between
    steps nothing happens in the control plane by itself before `wake` (ControlPlane.next_due), so stepping
    only then gives the same result as stepping every second."""

    def __init__(self, cluster, scheduler, node_names: list, absent: list, events_path: Path):
        self.cp = ControlPlane(cluster, scheduler=scheduler, absent_nodes=absent)
        self.cp.steps = -1     # the clock before the trace starts: the first step may be at time 0
        index = {n: i for i, n in enumerate(node_names)}
        self.node_of_id = np.array([index[n] for n in self.cp.node_name_of], np.int64)
        self.path = events_path
        self.seen = 0                            # store rows handed to the replay so far
        self.tracked = np.zeros(0, np.int64)     # rows pending or running (as of the last step)
        self.started = np.zeros(0, np.bool_)     # per store row: bound at least once
        self.wake: Optional[int] = None
        self.fed: list[str] = []                 # events fed since the last step (for error messages)
        self.pending = 0
        self.running = 0
        self.steps = 0
        self.created = 0
        self.deleted = 0

    # -- inputs ----------------------------------------------------------------------------------------
    def feed(self, t: int, e: dict) -> None:
        """One Deployment/DaemonSet event of events.parquet, applied at the next step (at t)."""
        kind, act, ns, name = e["kind"], e["action"], e.get("namespace") or "default", e["name"]
        what = f"{self.path}: event at time {t}: {kind} {ns}/{name} {act}"
        ref = self.cp.ref(kind.lower(), ns, name)
        try:
            if act == "create" or (act == "update" and e.get("manifest")):
                if not e.get("manifest"):
                    raise TraceError(f"{what}: column 'manifest': a create needs the object's JSON manifest")
                try:
                    m = json.loads(e["manifest"])
                except json.JSONDecodeError as err:
                    raise TraceError(f"{what}: column 'manifest': not JSON ({err})") from None
                if not isinstance(m, dict):
                    raise TraceError(f"{what}: column 'manifest': not a JSON object")
                if m.setdefault("kind", kind) != kind:
                    raise TraceError(f"{what}: column 'manifest': kind {m['kind']!r}, expected {kind!r}")
                meta = m.setdefault("metadata", {})
                m_ns = meta.setdefault("namespace", ns) or "default"
                if meta.setdefault("name", name) != name or m_ns != ns:
                    raise TraceError(f"{what}: column 'manifest': metadata names "
                                     f"{meta.get('namespace')}/{meta.get('name')}, not {ns}/{name}")
                if e.get("replicas") is not None:
                    m.setdefault("spec", {})["replicas"] = int(e["replicas"])
                self.cp.apply(m, at=t)
            elif act == "update":
                if e.get("replicas") is None:
                    raise TraceError(f"{what}: an update needs a 'manifest' or 'replicas'")
                if kind != "Deployment":
                    raise TraceError(f"{what}: column 'replicas': only Deployments have replicas")
                self.cp.scale(ref, int(e["replicas"]), at=t)
            elif act == "rollback":
                self.cp.rollback(ref, e.get("revision") or None, at=t)
            else:
                self.cp.delete(ref, at=t)
        except (ControllerError, ManifestError) as err:
            raise TraceError(f"{what}: {err}") from None
        self.fed.append(f"{kind} {ns}/{name} {act}")

    def node_event(self, t: int, act: str, name: str) -> None:
        """A node change the replay applied to its cluster: what the control plane must know beyond the
        cluster's own state (cordons it reads from the cluster)."""
        if act == "add":
            self.cp.join_node(name, at=t)
        elif act == "remove":
            self.cp.leave_node(name, at=t)
        elif act == "fail":
            self.cp.fail_node(name, at=t)
        else:
            return
        self.fed.append(f"Node {name} {act}")

    def due(self, t: int, freed: bool) -> bool:
        """Step at t: something was fed, something is due, or capacity freed while its pods are pending."""
        return bool(self.fed) or (self.wake is not None and self.wake <= t) or (freed and self.pending > 0)

    # -- one step --------------------------------------------------------------------------------------
    def step(self, t: int) -> tuple[np.ndarray, np.ndarray, Ended]:
        """Step the control plane at t. Returns (rows bound in this step, their trace node index, the pods
        that left)."""
        cp = self.cp
        before = cp.fingerprint()
        try:
            cp.step(at=t)
        except (ControllerError, ManifestError) as err:
            fed = "; ".join(self.fed) or "no event"
            raise TraceError(f"{self.path}: at time {t} ({fed}): {err}") from None
        self.fed = []
        self.steps += 1
        st = cp.store
        n = st.n
        if len(self.started) < n:
            grow = max(n, 2 * len(self.started)) - len(self.started)
            self.started = np.concatenate([self.started, np.zeros(grow, np.bool_)])
        new = np.arange(self.seen, n, dtype=np.int64)
        self.created += len(new)
        self.seen = n
        rows = np.concatenate([self.tracked, new])
        alive = st.alive[rows]
        phase = st.phase[rows]
        bound_now = alive & (phase == RUNNING) & (st.node[rows] >= 0)
        first = bound_now & ~self.started[rows]
        b_rows = rows[first]
        self.started[b_rows] = True
        gone = ~alive | (phase >= SUCCEEDED)
        g_rows = rows[gone]
        was_bound = self.started[g_rows] & (st.node[g_rows] >= 0)
        # a pod ends as completed (a Job pod that ran its time), deleted (a running pod deleted by its
        # controller, a workload delete, a taint eviction or a node removal) or deleted-pending
        out = np.where(st.phase[g_rows] == SUCCEEDED, 0, np.where(st.phase[g_rows] == FAILED, 4,
                                                                 np.where(was_bound, 4, 1)))
        self.deleted += int((out != 0).sum())
        node = np.where(was_bound, self.node_of_id[np.maximum(st.node[g_rows], 0)], -1)
        self.tracked = rows[~gone]
        ph = st.phase[self.tracked]
        self.pending = int((ph == PENDING).sum())
        self.running = int((ph == RUNNING).sum())
        after = cp.fingerprint()
        if after != before:
            self.wake = t + 1            # something moved: a controller may act again at the next step
        else:
            due = cp.next_due()
            self.wake = None if due is None else int(np.ceil(due - 1e-9))
        return b_rows, self.node_of_id[st.node[b_rows]], Ended(g_rows, node, was_bound, out.tolist())

    # -- what the replay writes --------------------------------------------------------------------------
    def records(self, rows: np.ndarray) -> dict:
        """placements.parquet columns of store rows: name, namespace, owner kind and name, arrival, start."""
        cp, st = self.cp, self.cp.store
        owners = [cp.owner_of(c) for c in range(len(cp.ctls))] + [None]
        kinds, names = [], []
        for c in st.ctl[rows].tolist():
            o = owners[c]
            if o is None:
                kinds.append(None)
                names.append(None)
            else:
                k, _, nm = o.partition("/")
                kinds.append(OWNER_KINDS.get(k, k))
                names.append(nm.rsplit("/", 1)[-1])
        step = cp.step_seconds
        return {
            "name": np.array(st.names(rows), dtype=object),
            "ns": np.array([st.specs[s].namespace for s in st.spec[rows].tolist()], dtype=object),
            "owner_kind": np.array(kinds, dtype=object),
            "owner_name": np.array(names, dtype=object),
            "arrival": np.round(st.created[rows] * step).astype(np.int64),
            "start": np.where(st.bound[rows] >= 0, np.round(st.bound[rows] * step), -1).astype(np.int64),
        }

    def live(self) -> tuple[dict, np.ndarray, np.ndarray]:
        """The control plane's pods still pending or running: (records, trace node index or -1, running)."""
        st = self.cp.store
        rows = self.tracked
        running = st.phase[rows] == RUNNING
        node = np.where(running, self.node_of_id[np.maximum(st.node[rows], 0)], -1)
        return self.records(rows), node, running

    def summary(self) -> dict:
        """summary.json's control_plane section."""
        cp = self.cp
        status = {}
        for ref in cp.workloads():
            msg, done = cp.rollout_status(ref)
            status[ref] = {"message": msg, "done": bool(done)}
        return {
            "steps": self.steps,
            "pods_created": self.created,
            "pods_deleted": self.deleted,
            "scheduling_attempts": int(cp.scheduling_attempts),
            "workloads": status,
        }
