"""ControlPlane: the workload controllers, node lifecycle and the scheduler over one Cluster, on a logical
clock (one step = one reconcile round = `step_seconds` of logical time)."""

from __future__ import annotations

import copy
import heapq
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import yaml

from ..batch import PodBatch
from ..daemonset import should_run
from ..manifests import ManifestError, parse_object
from ..models import DaemonSet, Node, Pod, ReplicaSet
from ..profile import Profile
from ..scheduler import Scheduler, SchedulingError
from ..state import Cluster
from . import daemonset as dsc
from . import deployment as dc
from . import job as jc
from .nodes import eviction_delay, failed, noexecute, recovered
from .objects import (
    DURATION_ANNOTATION,
    EXIT_CODE_ANNOTATION,
    CronJob,
    CronJobObj,
    DaemonSetObj,
    DeploymentObj,
    Job,
    JobObj,
    ReplicaSetObj,
    check_cronjob,
    check_job,
    daemonset_obj,
    deployment_obj,
    replicaset_obj,
)
from .replicaset import sync_replicaset
from .rollout import ControllerError, parse_duration, steps_for
from .store import FAILED, PENDING, PHASES, RUNNING, SUCCEEDED, PodStore

DEFAULT_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
_KINDS = ("Node", "Deployment", "ReplicaSet", "DaemonSet", "Job", "CronJob", "Pod")


def load_objects(source: Union[str, Path]) -> list[tuple[str, Any]]:
    """(kind, raw manifest) pairs from a file, a directory of .yaml/.yml/.json files, or manifest text."""
    p = Path(source) if isinstance(source, Path) or "\n" not in str(source) else None
    if p is not None and p.is_dir():
        return [
            o for f in sorted(p.iterdir()) if f.suffix in (".yaml", ".yml", ".json") for o in load_objects(f)
        ]
    if p is not None and p.exists():
        text, where = p.read_text(), str(p)
    elif p is not None and (str(source).endswith((".yaml", ".yml", ".json")) or "/" in str(source)):
        raise ManifestError(f"{source}: no such file")
    else:
        text, where = str(source), "<text>"
    try:
        if text.lstrip().startswith(("{", "[")):
            doc = json.loads(text)
            docs = doc if isinstance(doc, list) else [doc]
        else:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        raise ManifestError(f"{where}: malformed YAML/JSON: {str(e).splitlines()[0]}") from None
    out: list[tuple[str, Any]] = []
    stack = list(docs)
    while stack:
        d = stack.pop(0)
        if not isinstance(d, dict):
            raise ManifestError(f"{where}: a document is not a mapping")
        if str(d.get("kind", "")).endswith("List") and "items" in d:
            stack[:0] = list(d.get("items") or [])
            continue
        kind = d.get("kind")
        if kind not in _KINDS:
            raise ManifestError(
                f"{where}: {kind}/{(d.get('metadata') or {}).get('name', '?')}: unsupported kind "
                f"{kind!r} (supported: {', '.join(_KINDS)})"
            )
        out.append((kind, d))
    return out


class ControlPlane:
    """Workload controllers (Deployment, ReplicaSet, DaemonSet, Job, CronJob), node lifecycle, the scheduler
    over `cluster`, which it changes only through the Cluster's own methods.

    Clock: `step()` advances one step of `step_seconds` logical seconds: queued actions due by then run,
    finished Job pods end, taint evictions fall due, every controller reconciles, and all pending pods are
    placed in one scheduling batch. A pod bound in step s is Ready from step s+1 and Available once it has
    been Ready for minReadySeconds. Every mutating call takes `at=` (logical seconds): a later time queues it.
    """

    def __init__(
        self,
        cluster: Cluster,
        profile: Optional[Profile] = None,
        seed: int = 0,
        *,
        step_seconds: float = 1.0,
        default_toleration_seconds: Optional[float] = 300,
        start_time: datetime = DEFAULT_START,
        engine: str = "auto",
        scheduler: Optional[Scheduler] = None,
        absent_nodes: Any = (),
    ):
        if not isinstance(cluster, Cluster):
            raise ControllerError(f"cluster: expected kpack.Cluster, got {type(cluster).__name__}")
        if not step_seconds > 0:
            raise ControllerError(f"step_seconds: must be > 0, got {step_seconds!r}")
        self.cluster = cluster
        # a caller that places other pods on the same cluster (a trace replay) shares its Scheduler: one
        # round-robin start and one rng for every pod, as in one kube-scheduler
        self.scheduler = scheduler if scheduler is not None else Scheduler(profile, seed=seed, engine=engine)
        self.step_seconds = float(step_seconds)
        self.default_toleration_seconds = default_toleration_seconds
        self.start_time = start_time
        self.steps = 0
        self.store = PodStore()
        self.deployments: dict[str, DeploymentObj] = {}
        self.replicasets: dict[str, ReplicaSetObj] = {}
        self.daemonsets: dict[str, DaemonSetObj] = {}
        self.jobs: dict[str, JobObj] = {}
        self.cronjobs: dict[str, CronJobObj] = {}
        self.ctls: list[Any] = []  # controller index -> RS / DS / Job object
        self.bare: dict[str, int] = {}  # "namespace/name" of bare pods -> store row
        self.node_ids: dict[str, int] = {}
        self.node_name_of: list[str] = []
        self.node_failed = np.zeros(0, np.bool_)
        self.noexec_since: dict[str, float] = {}  # node -> logical time its NoExecute taints last changed
        self.spec_duration: list[int] = []  # per store spec: run time in steps (-1: runs until deleted)
        self.spec_exit: list[int] = []
        self.reasons: dict[int, str] = {}  # pending row -> scheduler reason
        self._events: list[tuple] = []
        self._queue: list[tuple] = []
        self._seq = 0
        self._rows: Optional[dict[int, np.ndarray]] = None
        self._ready = np.zeros(0, np.bool_)
        self._available = np.zeros(0, np.bool_)
        self._placement: dict[int, tuple] = {}
        self._evict_cache: dict[tuple[int, str], Optional[float]] = {}
        self._owned: Optional[dict[str, list]] = None   # owner -> its ReplicaSets (rebuilt when sets change)
        self.pins: dict[str, Any] = {}  # node name -> the DaemonSet pin affinity (shared)
        self.scheduling_attempts = 0  # pods tried by the scheduling batches (a pending pod once per step)
        self.failure_reasons: dict[str, int] = {}  # scheduler message -> failed attempts
        self._node_gen = -1
        self._refresh_nodes()
        # nodes that are rows of `cluster` but not (or no longer) part of it: a trace replay keeps every
        # node of its trace in the cluster, cordoned while absent (see leave_node / join_node)
        self.node_absent = np.zeros(len(self.node_name_of), np.bool_)
        self._absent_gen = 0
        for name in absent_nodes:
            if name not in self.node_ids:
                raise ControllerError(f"absent_nodes: {name!r} is not a node of the cluster")
            self.node_absent[self.node_ids[name]] = True

    # --- clock ------------------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        return self.steps * self.step_seconds

    def step(self, at: Optional[float] = None) -> None:
        """One reconcile round (see the class docstring). With `at` (logical seconds, a later multiple of
        `step_seconds`) the clock first jumps to `at`: the steps in between are skipped, which changes nothing
        when the caller steps at every `next_due()` and after each of its own actions."""
        if at is not None:
            k = int(round(float(at) / self.step_seconds))
            if k <= self.steps or abs(k * self.step_seconds - float(at)) > 1e-6:
                raise ControllerError(
                    f"step(at={at!r}): must be a multiple of step_seconds ({self.step_seconds}) after the "
                    f"current time {self.time}"
                )
            self.steps = k - 1
        self.steps += 1
        while self._queue and self._queue[0][0] <= self.time + 1e-9:
            _, _, method, args, kwargs = heapq.heappop(self._queue)
            getattr(self, method)(*args, **kwargs)
        self._refresh_nodes()
        self._lifecycle()
        self._compute_masks()
        self._reconcile()
        self._schedule_pending()
        for d in self.deployments.values():
            st = dc.status(self, d)
            dc.update_conditions(self, d, st)
            if dc.complete(d, st) or d.paused:
                dc.cleanup(self, d)

    def run(self, steps: int) -> None:
        for _ in range(int(steps)):
            self.step()

    def run_until_stable(self, max_steps: int = 10_000) -> int:
        """Step until a step changes nothing and nothing is due later (queued actions, pods becoming Ready or
        Available, running Job pods, pending evictions). CronJob schedules do not keep it running.
        Returns the number of steps taken."""
        if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
            raise ControllerError(f"max_steps: must be a positive integer, got {max_steps!r}")
        for i in range(1, max_steps + 1):
            before = self.fingerprint()
            self.step()
            if self.fingerprint() == before and not self.busy():
                return i
        return max_steps

    def fingerprint(self) -> tuple:
        """A cheap summary of the state; equal before and after a step means the step changed nothing."""
        n = self.store.n
        return (
            n,
            len(self._events),
            int(self.store.alive[:n].sum()),
            int(self.ready.sum()),
            int(self.available.sum()),
            int((self.store.node[:n] >= 0).sum()),
        )

    def busy(self) -> bool:
        """True if something is due later: queued actions, pods about to become Ready/Available, running Job
        pods, pending evictions."""
        if self._queue:
            return True
        st, n = self.store, self.store.n
        running = st.alive[:n] & (st.phase[:n] == RUNNING)
        if (running & ~self.available[:n] & ~self.node_failed[np.maximum(st.node[:n], 0)]).any():
            return True
        dur = np.asarray(self.spec_duration, np.int64)
        if len(dur) and (running & (dur[st.spec[:n]] >= 0)).any():
            return True
        return len(self._eviction_times(future=True)) > 0

    def next_due(self) -> Optional[float]:
        """The earliest logical time after now at which a step changes something by itself, or None: a
        queued action, a pod turning Ready or Available, a Job pod ending, a taint eviction. Not included:
        pending pods (retried at every step; a caller stepping on its own schedule retries them when capacity
        frees), CronJob schedules and the Progressing deadline (a condition only)."""
        due = [self._queue[0][0]] if self._queue else []
        st, n = self.store, self.store.n
        running = st.alive[:n] & (st.phase[:n] == RUNNING) & (st.bound[:n] >= 0)
        up = running & ~self.node_failed[np.maximum(st.node[:n], 0)] & ~self.available[:n]
        if up.any():
            mr = np.array(
                [steps_for(getattr(c, "min_ready_seconds", 0), self.step_seconds) for c in self.ctls] + [0],
                dtype=np.int64,
            )
            rows = np.flatnonzero(up)
            b = st.bound[rows]
            at = np.where(self.ready[rows], b + 1 + mr[st.ctl[rows]], b + 1)
            due.append(float(max(int(at.min()), self.steps + 1)) * self.step_seconds)
        dur = np.asarray(self.spec_duration, np.int64)
        if len(dur):
            d = dur[st.spec[:n]]
            job = running & (d >= 0)
            if job.any():
                end = int((st.bound[:n][job] + d[job]).min())
                due.append(float(max(end, self.steps + 1)) * self.step_seconds)
        _, at = self._eviction_due()
        later = at[at > self.time + 1e-9]
        if len(later):
            # evictions are checked at steps: the first step at or after the due time
            due.append(float(np.ceil(later.min() / self.step_seconds - 1e-9)) * self.step_seconds)
        return min(due) if due else None

    @property
    def queued_actions(self) -> int:
        """Actions given with a future `at=` that have not run yet."""
        return len(self._queue)

    def _defer(self, at: Optional[float], method: str, *args: Any, **kwargs: Any) -> bool:
        if at is None or at <= self.time + 1e-9:
            return False
        heapq.heappush(self._queue, (float(at), self._seq, method, args, kwargs))
        self._seq += 1
        return True

    # --- events -----------------------------------------------------------------------------------------
    def record(self, obj: str, reason: str, message: str) -> None:
        self._events.append((self.time, self.steps, obj, reason, message))

    def events(self):
        """pyarrow.Table of what happened, in order: time (logical seconds), step, object, reason, message."""
        import pyarrow as pa

        cols = list(zip(*self._events)) if self._events else [[], [], [], [], []]
        return pa.table(
            {
                "time": pa.array(cols[0], pa.float64()),
                "step": pa.array(cols[1], pa.int64()),
                "object": pa.array(cols[2], pa.string()),
                "reason": pa.array(cols[3], pa.string()),
                "message": pa.array(cols[4], pa.string()),
            }
        )

    # --- names ------------------------------------------------------------------------------------------
    @staticmethod
    def ref(kind: str, namespace: str, name: str) -> str:
        return f"{kind}/{name}" if namespace in ("", "default") else f"{kind}/{namespace}/{name}"

    def _lookup(self, ref: str) -> tuple[str, Any]:
        kind = ref.split("/", 1)[0].lower() if "/" in ref else ""
        kind = {
            "deploy": "deployment",
            "deployments": "deployment",
            "rs": "replicaset",
            "ds": "daemonset",
            "jobs": "job",
            "cj": "cronjob",
        }.get(kind, kind)
        table = {
            "deployment": self.deployments,
            "replicaset": self.replicasets,
            "daemonset": self.daemonsets,
            "job": self.jobs,
            "cronjob": self.cronjobs,
        }.get(kind)
        if table is None:
            raise ControllerError(
                f"{ref!r}: expected kind/name with kind deployment, replicaset, daemonset, job or cronjob"
            )
        key = f"{kind}/{ref.split('/', 1)[1]}"
        obj = table.get(key)
        if obj is None or getattr(obj, "deleted", False):
            raise ControllerError(f"{ref}: not found")
        return kind, obj

    # --- nodes ------------------------------------------------------------------------------------------
    def _refresh_nodes(self) -> None:
        c = self.cluster
        if c.node_generation == self._node_gen and len(self.node_name_of) >= len(c.node_names):
            return
        for name in c.node_names:
            if name not in self.node_ids:
                self.node_ids[name] = len(self.node_name_of)
                self.node_name_of.append(name)
        self.id_of_row = np.array([self.node_ids[n] for n in c.node_names], dtype=np.int32)
        if len(self.node_failed) < len(self.node_name_of):
            self.node_failed = np.concatenate(
                [self.node_failed, np.zeros(len(self.node_name_of) - len(self.node_failed), np.bool_)]
            )
        absent = getattr(self, "node_absent", None)
        if absent is not None and len(absent) < len(self.node_name_of):
            self.node_absent = np.concatenate(
                [absent, np.zeros(len(self.node_name_of) - len(absent), np.bool_)]
            )
        self._node_gen = c.node_generation
        self._placement.clear()

    def placement(self, ds: DaemonSetObj) -> tuple[np.ndarray, np.ndarray]:
        """should_run per cluster row for `ds`, cached per node generation and template."""
        self._refresh_nodes()
        key = (self.cluster.node_generation, ds.current, self._absent_gen)
        hit = self._placement.get(ds.ctl)
        if hit is None or hit[0] != key:
            run, keep = should_run(self.cluster, ds.model)
            if self.node_absent.any():
                gone = self.node_absent[self.id_of_row]
                run, keep = run & ~gone, keep & ~gone
            hit = self._placement[ds.ctl] = (key, (run, keep))
        return hit[1]

    def _node_changed(self, name: str) -> None:
        self._refresh_nodes()
        self._evict_cache.clear()
        taints = noexecute(self.cluster.node(name))
        if taints:
            self.noexec_since[name] = self.time
        else:
            self.noexec_since.pop(name, None)

    def add_node(self, node: Node, at: Optional[float] = None) -> None:
        if self._defer(at, "add_node", node):
            return
        self.cluster.add_node(node)
        self._node_changed(node.name)
        self.node_failed[self.node_ids[node.name]] = False
        self.record(f"node/{node.name}", "RegisteredNode", f"Node {node.name} event: Registered Node")

    def update_node(self, node: Node, at: Optional[float] = None) -> None:
        if self._defer(at, "update_node", node):
            return
        before = noexecute(self.cluster.node(node.name))
        self.cluster.update_node(node)
        if noexecute(node) != before:
            self._node_changed(node.name)
        self._refresh_nodes()
        self.record(f"node/{node.name}", "NodeUpdated", "labels, taints or allocatable changed")

    def cordon(self, name: str, at: Optional[float] = None) -> None:
        if self._defer(at, "cordon", name):
            return
        self.cluster.cordon(name)
        self.record(f"node/{name}", "NodeNotSchedulable", f"Node {name} status is now: NodeNotSchedulable")

    def uncordon(self, name: str, at: Optional[float] = None) -> None:
        if self._defer(at, "uncordon", name):
            return
        self.cluster.uncordon(name)
        self.record(f"node/{name}", "NodeSchedulable", f"Node {name} status is now: NodeSchedulable")

    def fail_node(self, name: str, at: Optional[float] = None) -> None:
        """The node stops reporting: NotReady, tainted unreachable NoSchedule + NoExecute; its pods stop being
        Ready at once and are evicted when their toleration runs out (see `default_toleration_seconds`)."""
        if self._defer(at, "fail_node", name):
            return
        self.cluster.update_node(failed(self.cluster.node(name)))
        self._node_changed(name)
        self.node_failed[self.node_ids[name]] = True
        self.record(f"node/{name}", "NodeNotReady", f"Node {name} status is now: NodeNotReady")

    def recover_node(self, name: str, at: Optional[float] = None) -> None:
        if self._defer(at, "recover_node", name):
            return
        self.cluster.update_node(recovered(self.cluster.node(name)))
        self._node_changed(name)
        self.node_failed[self.node_ids[name]] = False
        self.record(f"node/{name}", "NodeReady", f"Node {name} status is now: NodeReady")

    def remove_node(self, name: str, at: Optional[float] = None) -> None:
        """Delete the node; every pod bound there (its DaemonSet pods too) is deleted, and controllers replace
        what they own elsewhere."""
        if self._defer(at, "remove_node", name):
            return
        if name not in self.cluster.node_index:
            raise ControllerError(f"node {name!r}: not a node of this cluster")
        nid = self.node_ids[name]
        st, n = self.store, self.store.n
        on = np.flatnonzero(
            st.alive[:n] & (st.phase[:n] <= RUNNING) & ((st.node[:n] == nid) | (st.target[:n] == nid))
        )
        self.cluster.remove_node(name)
        self._refresh_nodes()
        self.noexec_since.pop(name, None)
        self._kill(on, unbound=True, disrupted=True)
        self.record(
            f"node/{name}", "RemovingNode", f"Node {name} event: Removing Node {name} from Controller"
        )

    def leave_node(self, name: str, at: Optional[float] = None) -> None:
        """The node leaves but keeps its row in `cluster` (a trace replay keeps every node of its trace and
        cordons the ones that are gone): every pod bound or pinned there is deleted as by `remove_node`, and
        DaemonSets stop wanting it, until `join_node`."""
        if self._defer(at, "leave_node", name):
            return
        if name not in self.node_ids:
            raise ControllerError(f"node {name!r}: not a node of this cluster")
        nid = self.node_ids[name]
        st, n = self.store, self.store.n
        on = np.flatnonzero(
            st.alive[:n] & (st.phase[:n] <= RUNNING) & ((st.node[:n] == nid) | (st.target[:n] == nid))
        )
        self.node_absent[nid] = True
        self._absent_gen += 1
        self.noexec_since.pop(name, None)
        self._kill(on, unbound=False, disrupted=True)
        self.record(
            f"node/{name}", "RemovingNode", f"Node {name} event: Removing Node {name} from Controller"
        )

    def join_node(self, name: str, at: Optional[float] = None) -> None:
        """A node of `cluster` that was absent (see `leave_node`, `absent_nodes`) joins."""
        if self._defer(at, "join_node", name):
            return
        if name not in self.node_ids:
            raise ControllerError(f"node {name!r}: not a node of this cluster")
        nid = self.node_ids[name]
        self.node_absent[nid] = False
        self.node_failed[nid] = False
        self._absent_gen += 1
        self.record(f"node/{name}", "RegisteredNode", f"Node {name} event: Registered Node")

    # --- pods -------------------------------------------------------------------------------------------
    @property
    def ready(self) -> np.ndarray:
        if len(self._ready) < self.store.n:
            self._ready = np.concatenate([self._ready, np.zeros(self.store.n - len(self._ready), np.bool_)])
        return self._ready

    @property
    def available(self) -> np.ndarray:
        if len(self._available) < self.store.n:
            self._available = np.concatenate(
                [self._available, np.zeros(self.store.n - len(self._available), np.bool_)]
            )
        return self._available

    def _compute_masks(self) -> None:
        st, n = self.store, self.store.n
        bound = st.bound[:n]
        node = st.node[:n]
        ready = (
            st.alive[:n]
            & (st.phase[:n] == RUNNING)
            & (bound >= 0)
            & (self.steps >= bound + 1)
            & ~self.node_failed[np.maximum(node, 0)]
        )
        mr = np.array(
            [steps_for(getattr(c, "min_ready_seconds", 0), self.step_seconds) for c in self.ctls] + [0],
            dtype=np.int64,
        )
        self._ready = ready
        self._available = ready & (self.steps >= bound + 1 + mr[st.ctl[:n]])

    def ctl_rows(self, ctl: int) -> np.ndarray:
        """Active (Pending or Running) rows of controller `ctl`."""
        if self._rows is None:
            act = self.store.active()
            c = self.store.ctl[act]
            order = np.argsort(c, kind="stable")
            act, c = act[order], c[order]
            cuts = np.flatnonzero(np.diff(c)) + 1
            self._rows = {int(g[0]): r for g, r in zip(np.split(c, cuts), np.split(act, cuts)) if len(g)}
        return self._rows.get(ctl, np.zeros(0, np.int64))

    def set_rows(self, rs: ReplicaSetObj) -> np.ndarray:
        return self.ctl_rows(rs.ctl)

    def set_status(self, rs: ReplicaSetObj) -> tuple[int, int, int]:
        rows = self.ctl_rows(rs.ctl)
        return len(rows), int(self.ready[rows].sum()), int(self.available[rows].sum())

    def delete_pods(self, rows: np.ndarray) -> None:
        """Delete pod objects (bound ones are unbound first)."""
        self._kill(np.asarray(rows, np.int64), unbound=False)

    def unbind(self, rows: np.ndarray) -> None:
        """Unbind store rows from the cluster: batch-named pods one vectorised call per spec."""
        st = self.store
        bare = rows[st.ordinal[rows] < 0]
        if len(bare):
            self.cluster.unbind_many(st.keys(bare))
        named = rows[st.ordinal[rows] >= 0]
        if not len(named):
            return
        sp = st.spec[named]
        order = np.argsort(sp, kind="stable")
        cuts = np.flatnonzero(np.diff(sp[order])) + 1
        by_stem: dict[tuple[str, str], list[np.ndarray]] = {}
        for grp in np.split(named[order], cuts):
            spec = st.specs[int(st.spec[grp[0]])]
            by_stem.setdefault((spec.namespace, spec.name), []).append(st.ordinal[grp])
        for (ns, stem), ords in by_stem.items():
            self.cluster.unbind_ordinals(ns, stem, np.concatenate(ords))

    def _kill(self, rows: np.ndarray, *, unbound: bool, disrupted: bool = False) -> None:
        if not len(rows):
            return
        st = self.store
        bound = rows[(st.node[rows] >= 0) & (st.phase[rows] == RUNNING)]
        if len(bound) and not unbound:
            self.unbind(bound)
        st.alive[rows] = False
        for r in rows.tolist():
            self.reasons.pop(r, None)
        for r in rows[st.ctl[rows] < 0].tolist():
            self.bare.pop(st.keys([r])[0], None)
        # Job pods that die before finishing count as failed (upstream: a deleted running pod is a failure)
        for ctl in np.unique(st.ctl[rows]).tolist():
            obj = self.ctls[ctl] if ctl >= 0 else None
            if isinstance(obj, JobObj) and obj.condition is None and not obj.deleted and disrupted:
                jc.pod_ended(self, obj, int((st.ctl[rows] == ctl).sum()), 0)
            if self._rows is not None and ctl in self._rows:
                self._rows[ctl] = self._rows[ctl][st.alive[self._rows[ctl]]]

    # --- lifecycle --------------------------------------------------------------------------------------
    def _lifecycle(self) -> None:
        """Job pods that ran their time end; pods on NoExecute-tainted nodes are evicted when due."""
        st, n = self.store, self.store.n
        dur = np.asarray(self.spec_duration, np.int64)
        if len(dur):
            running = st.alive[:n] & (st.phase[:n] == RUNNING)
            d = dur[st.spec[:n]]
            done = np.flatnonzero(running & (d >= 0) & (self.steps >= st.bound[:n] + d))
            if len(done):
                self.unbind(done)
                fails = np.asarray(self.spec_exit, np.int64)[st.spec[done]] != 0
                st.phase[done] = np.where(fails, FAILED, SUCCEEDED)
                st.ended[done] = self.steps
                for ctl in np.unique(st.ctl[done]).tolist():
                    m = st.ctl[done] == ctl
                    job = self.ctls[ctl]
                    jc.pod_ended(self, job, int((m & fails).sum()), int((m & ~fails).sum()))
                self._rows = None
        due = self._eviction_times(future=False)
        if len(due):
            for ctl in np.unique(self.store.ctl[due]).tolist():
                obj = self.ctls[ctl] if ctl >= 0 else None
                self.record(
                    obj.key if obj is not None else "pod",
                    "TaintManagerEviction",
                    f"Evicted {int((self.store.ctl[due] == ctl).sum())} pod(s) from NoExecute-tainted "
                    "node(s)",
                )
            self._kill(due, unbound=False, disrupted=True)

    def _eviction_times(self, *, future: bool) -> np.ndarray:
        """Rows whose taint eviction is due now (future=False), or rows with an eviction still to come."""
        rows, at = self._eviction_due()
        return rows[(at > self.time + 1e-9) == future]

    def _eviction_due(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, logical time of their taint eviction) for running pods on NoExecute-tainted nodes."""
        if not self.noexec_since:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        st, n = self.store, self.store.n
        ids = np.array([self.node_ids[x] for x in self.noexec_since], np.int32)
        rows = np.flatnonzero(st.alive[:n] & (st.phase[:n] == RUNNING) & np.isin(st.node[:n], ids))
        out, when = [], []
        cache = self._evict_cache
        for r, s, nid in zip(rows.tolist(), st.spec[rows].tolist(), st.node[rows].tolist()):
            name = self.node_name_of[nid]
            key = (s, name)
            if key not in cache:
                cache[key] = eviction_delay(
                    self.store.specs[s], noexecute(self.cluster.node(name)), self.default_toleration_seconds
                )
            delay = cache[key]
            if delay is None:
                continue
            out.append(r)
            when.append(max(self.noexec_since[name], st.bound[r] * self.step_seconds) + delay)
        return np.array(out, np.int64), np.array(when, np.float64)

    # --- reconcile ----------------------------------------------------------------------------------------
    def owned_sets(self, owner: str) -> list[ReplicaSetObj]:
        """The ReplicaSets `owner` ("deployment/web") owns, oldest first."""
        if self._owned is None:
            self._owned = {}
            for rs in sorted(self.replicasets.values(), key=lambda rs: (rs.created, rs.ctl)):
                if rs.owner is not None and not rs.deleted:
                    self._owned.setdefault(rs.owner, []).append(rs)
        return list(self._owned.get(owner, ()))

    def register_set(self, rs: ReplicaSetObj) -> None:
        self._owned = None
        rs.ctl = len(self.ctls)
        self.ctls.append(rs)
        tmpl = rs.template
        pod = Pod.from_spec(
            rs.name, tmpl.get("spec") or {}, meta={**(tmpl.get("metadata") or {}), "namespace": rs.namespace}
        )
        rs.spec_id = self.add_spec(pod.model_copy(update={"owner": rs.owner or rs.key}))
        self.replicasets[self.ref("replicaset", rs.namespace, rs.name)] = rs
        # the scheduler's default topology spreading finds a pod's owners among the cluster's objects
        self.cluster.add_object(
            ReplicaSet(
                name=rs.name,
                namespace=rs.namespace,
                selector=rs.selector,
                template=rs.template,
                replicas=rs.replicas,
            )
        )

    def delete_set(self, rs: ReplicaSetObj) -> None:
        self.delete_pods(self.ctl_rows(rs.ctl))
        self._forget_set(rs)
        self.record(
            rs.owner or rs.key, "DeletedReplicaSet", f"Deleted old replica set {rs.name} (history limit)"
        )

    def _forget_set(self, rs: ReplicaSetObj) -> None:
        self._owned = None
        rs.deleted = True
        del self.replicasets[self.ref("replicaset", rs.namespace, rs.name)]
        if ("ReplicaSet", rs.namespace, rs.name) in self.cluster.objects:
            self.cluster.remove_object("ReplicaSet", rs.namespace, rs.name)

    def add_spec(self, pod: Pod, duration: int = -1, exit_code: int = 0) -> int:
        self.spec_duration.append(duration)
        self.spec_exit.append(exit_code)
        return self.store.add_spec(pod)

    def _reconcile(self) -> None:
        self._rows = None
        for d in list(self.deployments.values()):
            for _ in range(4):  # upstream re-syncs at once after each scale; a handful of rounds settles
                changed = dc.sync_deployment(self, d)
                related = np.concatenate(
                    [self.set_rows(rs) for rs in self.owned_sets(d.key)] or [np.zeros(0, np.int64)]
                )
                for rs in self.owned_sets(d.key):
                    self._sync_set(rs, related)
                if not changed:
                    break
        for rs in list(self.replicasets.values()):
            if rs.owner is None:
                self._sync_set(rs, None)
        for ds in list(self.daemonsets.values()):
            rows = dsc.sync_daemonset(self, ds, self.ctl_rows(ds.ctl))
            self._set_cached(ds.ctl, rows)
        for cj in list(self.cronjobs.values()):
            jc.sync_cronjob(self, cj)
        for job in list(self.jobs.values()):
            rows = jc.sync_job(self, job, self.ctl_rows(job.ctl))
            self._set_cached(job.ctl, rows)
        for cj in list(self.cronjobs.values()):
            jc.cleanup(self, cj, self.cron_jobs(cj.key))  # jobs that just finished (history limits)

    def _sync_set(self, rs: ReplicaSetObj, related: Optional[np.ndarray]) -> None:
        rows = sync_replicaset(self, rs, self.ctl_rows(rs.ctl), related)
        self._set_cached(rs.ctl, rows)

    def _set_cached(self, ctl: int, rows: np.ndarray) -> None:
        self.ctl_rows(ctl)
        self._rows[ctl] = rows

    # --- scheduling ---------------------------------------------------------------------------------------
    def _schedule_pending(self) -> None:
        st, n = self.store, self.store.n
        self._refresh_nodes()
        pend = np.flatnonzero(st.alive[:n] & (st.phase[:n] == PENDING) & (st.node[:n] < 0))
        if not len(pend):
            return
        prio = np.array([p.priority for p in st.specs], np.int64)
        pend = pend[np.lexsort((pend, st.created[pend], -prio[st.spec[pend]]))]
        self.scheduling_attempts += len(pend)
        bare = pend[st.ordinal[pend] < 0]
        batch = pend[st.ordinal[pend] >= 0]
        placed = 0
        if len(bare):
            res = self.scheduler.schedule(self.cluster, [st.specs[s] for s in st.spec[bare].tolist()])
            placed += self._bound(bare, res.node_index, res.reasons)
        if len(batch):
            uniq, inv = np.unique(st.spec[batch], return_inverse=True)
            specs = [st.specs[s] for s in uniq.tolist()]
            try:
                if any(p.gpu_count for p in specs):
                    raise SchedulingError("GPU pods")
                res = self.scheduler.schedule_arrays(
                    self.cluster, PodBatch(specs, inv.reshape(-1), st.ordinal[batch])
                )
            except SchedulingError:
                # GPU devices are tracked only by the per-pod path: materialise these pods
                pods = [
                    st.specs[s].model_copy(update={"name": f"{st.specs[s].name}-{o}"})
                    for s, o in zip(st.spec[batch].tolist(), st.ordinal[batch].tolist())
                ]
                res = self.scheduler.schedule(self.cluster, pods)
            placed += self._bound(batch, res.node_index, res.reasons)
        if placed:
            self.record("scheduler", "Scheduled", f"Bound {placed} pod(s)")

    def _bound(self, rows: np.ndarray, out: np.ndarray, reasons: list) -> int:
        st = self.store
        ok = out >= 0
        r = rows[ok]
        st.node[r] = self.id_of_row[out[ok]]
        st.bound[r] = self.steps
        st.phase[r] = RUNNING
        for row in r.tolist():
            self.reasons.pop(row, None)
        fails: dict[str, list] = {}
        for row, why in zip(rows[~ok].tolist(), [x for x, k in zip(reasons, ok.tolist()) if not k]):
            self.failure_reasons[why] = self.failure_reasons.get(why, 0) + 1
            if self.reasons.get(row) != why:
                self.reasons[row] = why
                c = int(st.ctl[row])
                fails.setdefault(self.ctls[c].key if c >= 0 else f"pod/{st.name(row)}", []).append(why)
        for obj, whys in fails.items():
            self.record(obj, "FailedScheduling", f"{len(whys)} pod(s): {whys[0]}")
        return int(ok.sum())

    # --- apply ----------------------------------------------------------------------------------------------
    def apply(self, objs: Any, at: Optional[float] = None) -> list[str]:
        """Create or update Nodes, Deployments, ReplicaSets, DaemonSets, Jobs, CronJobs, bare Pods, from typed
        objects, raw manifests (dicts), or a manifest path / directory / text. Everything is validated first;
        on an error nothing changes. Returns kubectl-style lines ("deployment/web created")."""
        items = self._parse(objs)
        self._precheck(items)
        if self._defer(at, "_apply_items", items):
            return [f"{self._item_ref(k, o)} scheduled at {at}" for k, o in items]
        return self._apply_items(items)

    @staticmethod
    def _item_ref(kind: str, o: Any) -> str:
        ns = getattr(o, "namespace", "default")
        return ControlPlane.ref(kind.lower(), ns, o.name)

    def _parse(self, objs: Any) -> list[tuple[str, Any]]:
        if isinstance(objs, (str, Path)):
            raw: list[Any] = [d for _, d in load_objects(objs)]
        elif isinstance(objs, (list, tuple)):
            raw = list(objs)
        else:
            raw = [objs]
        items = []
        for o in raw:
            kind = o.get("kind") if isinstance(o, dict) else type(o).__name__
            if kind == "Deployment":
                items.append(("Deployment", deployment_obj(o)))
            elif kind == "ReplicaSet":
                items.append(("ReplicaSet", replicaset_obj(o)))
            elif kind == "DaemonSet":
                items.append(("DaemonSet", daemonset_obj(o)))
            elif kind == "Job":
                j = Job.from_k8s(o) if isinstance(o, dict) else o
                check_job(j)
                items.append(("Job", j))
            elif kind == "CronJob":
                cj = CronJob.from_k8s(o) if isinstance(o, dict) else o
                check_cronjob(cj)
                items.append(("CronJob", cj))
            elif kind in ("Node", "Pod"):
                items.append((kind, parse_object(o) if isinstance(o, dict) else o))
            else:
                raise ControllerError(f"apply: unsupported object {kind!r} (supported: {', '.join(_KINDS)})")
        order = {k: i for i, k in enumerate(_KINDS)}
        return sorted(items, key=lambda kv: order[kv[0]])

    def _precheck(self, items: list[tuple[str, Any]]) -> None:
        """Checks against existing objects (immutable fields), before anything changes."""
        for kind, o in items:
            if kind == "Deployment":
                old = self.deployments.get(self._item_ref(kind, o))
                if old is not None and old.selector != o.selector:
                    raise ControllerError(
                        f"deployment/{o.name}: spec.selector: Invalid value: {o.selector!r}: field "
                        "is immutable"
                    )
            elif kind == "DaemonSet":
                old = self.daemonsets.get(self._item_ref(kind, o))
                if old is not None and old.selector != o.selector:
                    raise ControllerError(
                        f"daemonset/{o.name}: spec.selector: Invalid value: {o.selector!r}: field "
                        "is immutable"
                    )
            elif kind == "Job":
                old = self.jobs.get(self._item_ref(kind, o))
                if old is not None and (
                    old.spec.template != o.template or old.spec.completions != o.completions
                ):
                    raise ControllerError(f"job/{o.name}: spec.template: Invalid value: field is immutable")
            elif kind == "Pod" and o.node_name and o.node_name not in self.cluster.node_index:
                if not any(k == "Node" and n.name == o.node_name for k, n in items):
                    raise ControllerError(f"pod/{o.name}: spec.nodeName: {o.node_name!r} is not a node")

    def _apply_items(self, items: list[tuple[str, Any]]) -> list[str]:
        out = []
        for kind, o in items:
            ref = self._item_ref(kind, o)
            verb = getattr(self, f"_apply_{kind.lower()}")(ref, o)
            out.append(f"{ref} {verb}")
            if verb != "unchanged":
                self.record(ref, "Applied", verb)
        self._rows = None
        return out

    def _apply_node(self, ref: str, node: Node) -> str:
        if node.name not in self.cluster.node_index:
            self.add_node(node)
            return "created"
        if self.cluster.node(node.name) == node:
            return "unchanged"
        self.update_node(node)
        return "configured"

    def _apply_deployment(self, ref: str, d: DeploymentObj) -> str:
        old = self.deployments.get(ref)
        if old is None:
            self.deployments[ref] = d
            return "created"
        if old.spec_dict() == d.spec_dict():
            return "unchanged"
        for f in (
            "template",
            "replicas",
            "strategy",
            "max_surge",
            "max_unavailable",
            "revision_history_limit",
            "progress_deadline_seconds",
            "min_ready_seconds",
            "paused",
            "labels",
        ):
            setattr(old, f, getattr(d, f))
        old.generation += 1
        return "configured"

    def _apply_replicaset(self, ref: str, rs: ReplicaSetObj) -> str:
        old = self.replicasets.get(ref)
        if old is None:
            self.register_set(rs)
            return "created"
        if old.owner is not None:
            raise ControllerError(f"{ref}: owned by {old.owner}; change the Deployment instead")
        if (old.replicas, old.template_key, old.min_ready_seconds) == (
            rs.replicas,
            rs.template_key,
            rs.min_ready_seconds,
        ):
            return "unchanged"
        old.replicas, old.min_ready_seconds = rs.replicas, rs.min_ready_seconds
        if old.template_key != rs.template_key:
            # a ReplicaSet's template change affects only pods it creates from now on (as upstream)
            old.template, old.template_key = rs.template, rs.template_key
            tmpl = rs.template
            pod = Pod.from_spec(
                old.name,
                tmpl.get("spec") or {},
                meta={**(tmpl.get("metadata") or {}), "namespace": old.namespace},
            )
            old.spec_id = self.add_spec(pod.model_copy(update={"owner": old.key}))
        return "configured"

    def _apply_daemonset(self, ref: str, ds: DaemonSetObj) -> str:
        old = self.daemonsets.get(ref)
        if old is None:
            ds.ctl = len(self.ctls)
            self.ctls.append(ds)
            self.daemonsets[ref] = ds
            return "created"
        same = (
            old.template,
            old.strategy,
            old.max_surge,
            old.max_unavailable,
            old.min_ready_seconds,
            old.revision_history_limit,
        ) == (
            ds.template,
            ds.strategy,
            ds.max_surge,
            ds.max_unavailable,
            ds.min_ready_seconds,
            ds.revision_history_limit,
        )
        if same:
            return "unchanged"
        for f in (
            "template",
            "strategy",
            "max_surge",
            "max_unavailable",
            "min_ready_seconds",
            "revision_history_limit",
            "model",
        ):
            setattr(old, f, getattr(ds, f))
        old.generation += 1
        old.base = None
        return "configured"

    def _apply_job(self, ref: str, job: Job) -> str:
        old = self.jobs.get(ref)
        if old is not None:
            if old.spec == job:
                return "unchanged"
            old.spec = job
            return "configured"
        self.create_job(job)
        return "created"

    def create_job(
        self, job: Job, owner: Optional[str] = None, scheduled_time: Optional[float] = None
    ) -> JobObj:
        tmpl = job.template
        meta = {**(tmpl.get("metadata") or {}), "namespace": job.namespace}
        ann = meta.get("annotations") or {}
        secs = parse_duration(
            ann.get(DURATION_ANNOTATION, 0),
            f"job/{job.name}: spec.template.metadata.annotations[{DURATION_ANNOTATION}]",
        )
        try:
            code = int(ann.get(EXIT_CODE_ANNOTATION, 0))
        except ValueError:
            raise ControllerError(
                f"job/{job.name}: spec.template.metadata.annotations[{EXIT_CODE_ANNOTATION}]: "
                f"must be an integer, got {ann[EXIT_CODE_ANNOTATION]!r}"
            ) from None
        obj = JobObj(
            spec=job,
            owner=owner,
            created=self.steps,
            scheduled_time=scheduled_time,
            duration_steps=max(1, steps_for(secs, self.step_seconds)),
        )
        obj.ctl = len(self.ctls)
        self.ctls.append(obj)
        pod = Pod.from_spec(job.name, tmpl.get("spec") or {}, meta=meta)
        obj.spec_id = self.add_spec(pod.model_copy(update={"owner": obj.key}), obj.duration_steps, code)
        self.jobs[self.ref("job", job.namespace, job.name)] = obj
        return obj

    def delete_job(self, job: JobObj) -> None:
        st = self.store
        rows = np.flatnonzero(st.alive[: st.n] & (st.ctl[: st.n] == job.ctl))
        self.delete_pods(rows)
        job.deleted = True
        self.jobs.pop(self.ref("job", job.spec.namespace, job.name), None)

    def cron_jobs(self, owner: str) -> list[JobObj]:
        return [j for j in self.jobs.values() if j.owner == owner and not j.deleted]

    def _apply_cronjob(self, ref: str, cj: CronJob) -> str:
        old = self.cronjobs.get(ref)
        if old is None:
            self.cronjobs[ref] = CronJobObj(spec=cj, created=self.time)
            return "created"
        if old.spec == cj:
            return "unchanged"
        old.spec = cj
        return "configured"

    def _apply_pod(self, ref: str, pod: Pod) -> str:
        if pod.key in self.bare:
            return "unchanged"
        if self.cluster.table.find(pod.key) >= 0:
            raise ControllerError(f"pod/{pod.name}: already bound in the cluster")
        sid = self.add_spec(pod.model_copy(update={"node_name": None}))
        row = int(self.store.add(sid, np.array([-1], np.int64), -1, -1, -1, self.steps)[0])
        self.bare[pod.key] = row
        if pod.node_name:
            self.cluster.bind(pod, pod.node_name, force=True)
            self._refresh_nodes()
            self.store.node[row] = self.node_ids[pod.node_name]
            self.store.bound[row] = self.steps
            self.store.phase[row] = RUNNING
        return "created"

    def delete(self, ref: str, at: Optional[float] = None) -> None:
        """Delete a workload and its pods (a Deployment with its ReplicaSets; a CronJob with its Jobs)."""
        if self._defer(at, "delete", ref):
            return
        kind, obj = self._lookup(ref)
        if kind == "deployment":
            for rs in self.owned_sets(obj.key):
                self.delete_pods(self.ctl_rows(rs.ctl))
                self._forget_set(rs)
            del self.deployments[ref if ref in self.deployments else obj.key]
        elif kind == "replicaset":
            self.delete_pods(self.ctl_rows(obj.ctl))
            self._forget_set(obj)
        elif kind == "daemonset":
            self.delete_pods(self.ctl_rows(obj.ctl))
            obj.deleted = True
            del self.daemonsets[self.ref(kind, obj.namespace, obj.name)]
        elif kind == "job":
            self.delete_job(obj)
        else:
            for j in self.cron_jobs(obj.key):
                self.delete_job(j)
            del self.cronjobs[self.ref("cronjob", obj.spec.namespace, obj.spec.name)]
        self.record(ref, "Deleted", "deleted with its pods")

    # --- kubectl-like verbs ---------------------------------------------------------------------------------
    def scale(self, ref: str, replicas: int, at: Optional[float] = None) -> None:
        if self._defer(at, "scale", ref, replicas):
            return
        kind, obj = self._lookup(ref)
        if (
            kind not in ("deployment", "replicaset")
            or isinstance(replicas, bool)
            or not isinstance(replicas, int)
            or replicas < 0
        ):
            raise ControllerError(
                f"{ref}: spec.replicas: Invalid value: {replicas!r}: must be a non-negative "
                "integer on a deployment or replicaset"
            )
        if obj.replicas != replicas:
            obj.replicas = replicas
            if kind == "deployment":
                obj.generation += 1
            self.record(ref, "Scaled", f"replicas set to {replicas}")

    def set_image(
        self, ref: str, image: str, container: Optional[str] = None, at: Optional[float] = None
    ) -> None:
        """kubectl set image: a new image for one container (default: the first) of the pod template."""
        if self._defer(at, "set_image", ref, image, container):
            return
        kind, obj = self._lookup(ref)
        if kind not in ("deployment", "daemonset"):
            raise ControllerError(f"{ref}: set_image works on deployments and daemonsets")
        tmpl = copy.deepcopy(obj.template)
        cs = (tmpl.get("spec") or {}).get("containers") or []
        target = next((c for c in cs if container is None or c.get("name") == container), None)
        if target is None:
            raise ControllerError(f"{ref}: spec.template.spec.containers: no container named {container!r}")
        if target.get("image") == image:
            return
        target["image"] = image
        self._set_template(kind, obj, tmpl)
        self.record(ref, "ImageUpdated", f"image set to {image}")

    def _set_template(self, kind: str, obj: Any, tmpl: dict) -> None:
        obj.template = tmpl
        obj.generation += 1
        if kind == "daemonset":
            obj.model = DaemonSet(**{**obj.model.model_dump(), "template": tmpl})
            obj.base = None

    def pause(self, ref: str, at: Optional[float] = None) -> None:
        if self._defer(at, "pause", ref):
            return
        self._set_paused(ref, True)

    def resume(self, ref: str, at: Optional[float] = None) -> None:
        if self._defer(at, "resume", ref):
            return
        self._set_paused(ref, False)

    def _set_paused(self, ref: str, paused: bool) -> None:
        kind, d = self._lookup(ref)
        if kind != "deployment":
            raise ControllerError(f"{ref}: only deployments can be paused or resumed")
        if d.paused != paused:
            d.paused = paused
            d.generation += 1
            self.record(ref, "Paused" if paused else "Resumed", "")

    def history(self, ref: str) -> list[dict]:
        """Revisions, oldest first: revision, name (ReplicaSet or revision hash), image, template."""
        kind, obj = self._lookup(ref)
        if kind == "deployment":
            sets = sorted(self.owned_sets(obj.key), key=lambda rs: rs.revision)
            return [
                {
                    "revision": rs.revision,
                    "name": rs.name,
                    "replicas": rs.replicas,
                    "image": _image(rs.template),
                    "template": dc.strip_hash(rs.template),
                    "revision_history": list(rs.revision_history),
                }
                for rs in sets
            ]
        if kind == "daemonset":
            return [
                {
                    "revision": r,
                    "name": f"{obj.name}-{h}",
                    "image": _image(obj.templates.get(h, {})),
                    "template": obj.templates.get(h),
                }
                for h, r in sorted(obj.revisions.items(), key=lambda x: x[1])
            ]
        raise ControllerError(f"{ref}: rollout history works on deployments and daemonsets")

    def rollback(self, ref: str, to_revision: Optional[int] = None, at: Optional[float] = None) -> int:
        """kubectl rollout undo: copy the template of `to_revision` (default: the previous revision) into the
        Deployment or DaemonSet. Returns the revision rolled back to (0 when deferred)."""
        if self._defer(at, "rollback", ref, to_revision):
            return 0
        kind, obj = self._lookup(ref)
        hist = self.history(ref)
        if kind == "deployment" and obj.paused:
            raise ControllerError(f"{ref}: you cannot rollback a paused deployment; resume it first")
        if to_revision is None:
            if len(hist) < 2:
                raise ControllerError(f"{ref}: no rollout history found")
            target = hist[-2]
        else:
            target = next((h for h in hist if h["revision"] == to_revision), None)
            if target is None:
                raise ControllerError(f"{ref}: unable to find specified revision {to_revision} in history")
        tmpl = copy.deepcopy(target["template"])
        if tmpl == obj.template:
            self.record(
                ref, "RollbackSkipped", f"current template already matches revision {target['revision']}"
            )
            return target["revision"]
        self._set_template(kind, obj, tmpl)
        self.record(
            ref,
            "DeploymentRollback" if kind == "deployment" else "RolledBack",
            f"Rolled back to revision {target['revision']}",
        )
        return target["revision"]

    # --- views --------------------------------------------------------------------------------------------
    def status(self, ref: str) -> dict:
        kind, obj = self._lookup(ref)
        if kind == "deployment":
            st = dc.status(self, obj)
            return {**st, "conditions": dc.conditions(obj, st), "message": dc.rollout_message(obj, st)[0]}
        if kind == "daemonset":
            st = dsc.status(self, obj)
            return {**st, "message": dsc.rollout_message(obj, st)[0]}
        if kind == "replicaset":
            r, rd, av = self.set_status(obj)
            return {"replicas": r, "readyReplicas": rd, "availableReplicas": av, "desired": obj.replicas}
        if kind == "job":
            return jc.job_status(self, obj)
        return {
            "active": [j.name for j in self.cron_jobs(obj.key) if j.condition is None],
            "lastScheduleTime": None
            if obj.last_schedule is None
            else jc.wall_clock(self, obj.last_schedule).isoformat(),
        }

    def rollout_status(self, ref: str) -> tuple[str, bool]:
        """kubectl rollout status: (message, done)."""
        kind, obj = self._lookup(ref)
        if kind == "deployment":
            return dc.rollout_message(obj, dc.status(self, obj))
        if kind == "daemonset":
            return dsc.rollout_message(obj, dsc.status(self, obj))
        raise ControllerError(f"{ref}: rollout status works on deployments and daemonsets")

    def workloads(self) -> list[str]:
        return sorted(self.deployments) + sorted(self.daemonsets)

    def owner_of(self, ctl: int) -> Optional[str]:
        if ctl < 0:
            return None
        obj = self.ctls[ctl]
        return getattr(obj, "owner", None) or obj.key

    def pods(self, include_finished: bool = True):
        """pyarrow.Table of the pods the control plane manages: name, namespace, owner ("deployment/web"),
        controller ("replicaset/web-..."), node, phase, ready, available, revision, image, created (logical
        seconds), reason (why a pending pod is not scheduled)."""
        import pyarrow as pa

        st = self.store
        rows = st.live() if include_finished else st.active()
        ctl = st.ctl[rows]
        owners = [self.owner_of(c) for c in range(len(self.ctls))] + [None]
        keys = [c.key for c in self.ctls] + [None]
        # revision per row: the ReplicaSet's revision, or the DaemonSet revision of the pod's template hash
        rev_of = np.full(len(self.ctls) + 1, -1, np.int64)
        ds_rev: dict[int, np.ndarray] = {}
        for i, c in enumerate(self.ctls):
            if isinstance(c, ReplicaSetObj):
                rev_of[i] = c.revision
            elif isinstance(c, DaemonSetObj):
                table = np.full(len(c.rev_codes) + 1, -1, np.int64)
                for h, code in c.rev_codes.items():
                    table[code] = c.revisions.get(h, -1)
                ds_rev[i] = table
        rev = rev_of[ctl]
        for i, table in ds_rev.items():
            m = ctl == i
            rev[m] = table[st.rev[rows][m]]
        specs = st.specs
        sp = st.spec[rows].tolist()
        names = self.node_name_of + [None]
        node = st.node[rows]
        return pa.table(
            {
                "name": st.names(rows),
                "namespace": [specs[s].namespace for s in sp],
                "owner": [owners[c] for c in ctl.tolist()],
                "controller": [keys[c] for c in ctl.tolist()],
                "node": [names[x] for x in node.tolist()],
                "phase": [PHASES[p] for p in st.phase[rows].tolist()],
                "ready": pa.array(self.ready[rows], pa.bool_()),
                "available": pa.array(self.available[rows], pa.bool_()),
                "revision": pa.array(rev, pa.int64(), mask=rev < 0),
                "image": [specs[s].image for s in sp],
                "created": pa.array(st.created[rows] * self.step_seconds, pa.float64()),
                "reason": [self.reasons.get(r) for r in rows.tolist()],
            }
        )

    # --- persistence -------------------------------------------------------------------------------------
    def save(self, directory: Union[str, Path]) -> None:
        from .persist import save

        save(self, Path(directory))

    @classmethod
    def load(
        cls, directory: Union[str, Path], profile: Optional[Profile] = None, seed: int = 0
    ) -> "ControlPlane":
        from .persist import load

        return load(cls, Path(directory), profile, seed)


def _image(template: dict) -> Optional[str]:
    cs = (template.get("spec") or {}).get("containers") or []
    return cs[0].get("image") if cs else None
