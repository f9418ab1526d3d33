"""A ControlPlane on disk: `cluster/` (Cluster.to_parquet) plus `controlplane.json` (controller objects, the
pod store's columns and specs, node lifecycle, clock and events)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Optional

import numpy as np

from ..models import DaemonSet, Pod, ReplicaSet
from ..profile import Profile
from ..state import Cluster
from .objects import CronJob, CronJobObj, DaemonSetObj, DeploymentObj, Job, JobObj, ReplicaSetObj
from .rollout import ControllerError
from .store import PodStore

FORMAT = 1


def _plain(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _progress(p: dict) -> dict:
    return {k: v for k, v in p.items() if k != "template_key"}     # a memo, not state


def save(cp, d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    cp.cluster.to_parquet(d / "cluster")
    ctls = []
    for c in cp.ctls:
        if isinstance(c, ReplicaSetObj):
            ctls.append({"kind": "ReplicaSet", **_plain(c)})
        elif isinstance(c, DaemonSetObj):
            x = _plain(c)
            x.update(
                model=c.model.model_dump(), base=None, specs=[[k[0], k[1], v] for k, v in c.specs.items()]
            )
            ctls.append({"kind": "DaemonSet", **x})
        else:
            x = _plain(c)
            x["spec"] = c.spec.model_dump()
            ctls.append({"kind": "Job", **x})
    state = {
        "format": FORMAT,
        "steps": cp.steps,
        "step_seconds": cp.step_seconds,
        "default_toleration_seconds": cp.default_toleration_seconds,
        "start_time": cp.start_time.isoformat(),
        "deployments": [{**_plain(x), "progress": _progress(x.progress)} for x in cp.deployments.values()],
        "cronjobs": [
            {"spec": c.spec.model_dump(), "last_schedule": c.last_schedule, "created": c.created}
            for c in cp.cronjobs.values()
        ],
        "ctls": ctls,
        "live": {
            "replicasets": list(cp.replicasets),
            "daemonsets": list(cp.daemonsets),
            "jobs": list(cp.jobs),
        },
        "bare": cp.bare,
        "node_name_of": cp.node_name_of,
        "node_failed": cp.node_failed.tolist(),
        "noexec_since": cp.noexec_since,
        "spec_duration": cp.spec_duration,
        "spec_exit": cp.spec_exit,
        "reasons": {str(k): v for k, v in cp.reasons.items()},
        "specs": [p.model_dump(mode="json") for p in cp.store.specs],
        "store": cp.store.columns(),
        "events": cp._events,
        "queue": [[a, s, m, list(args), kw] for a, s, m, args, kw in cp._queue if m != "_apply_items"],
    }
    (d / "controlplane.json").write_text(json.dumps(state, default=str))


def load(cls, d: Path, profile: Optional[Profile], seed: int):
    f = d / "controlplane.json"
    if not f.exists():
        raise ControllerError(f"{f}: missing (expected a state directory written by ControlPlane.save)")
    state = json.loads(f.read_text())
    if state.get("format") != FORMAT:
        raise ControllerError(f"{f}: unknown format {state.get('format')!r}")
    cluster = Cluster.from_parquet(d / "cluster")
    cp = cls(
        cluster,
        profile,
        seed,
        step_seconds=state["step_seconds"],
        default_toleration_seconds=state["default_toleration_seconds"],
        start_time=datetime.fromisoformat(state["start_time"]),
    )
    cp.steps = state["steps"]
    for x in state["deployments"]:
        dep = DeploymentObj(**x)
        cp.deployments[cp.ref("deployment", dep.namespace, dep.name)] = dep
    for c in state["ctls"]:
        kind = c.pop("kind")
        if kind == "ReplicaSet":
            obj = ReplicaSetObj(**c)
        elif kind == "DaemonSet":
            specs = {(a, b): v for a, b, v in c.pop("specs")}
            obj = DaemonSetObj(**{**c, "model": DaemonSet(**c["model"]), "specs": specs})
        else:
            obj = JobObj(**{**c, "spec": Job(**c["spec"])})
        cp.ctls.append(obj)
    live = state["live"]
    by_ref = {}
    for c in cp.ctls:
        if isinstance(c, ReplicaSetObj):
            by_ref[cp.ref("replicaset", c.namespace, c.name)] = c
        elif isinstance(c, DaemonSetObj):
            by_ref[cp.ref("daemonset", c.namespace, c.name)] = c
        else:
            by_ref[cp.ref("job", c.spec.namespace, c.spec.name)] = c
    cp.replicasets = {k: by_ref[k] for k in live["replicasets"]}
    for rs in cp.replicasets.values():     # Cluster.to_parquet keeps nodes and pods, not objects
        cluster.add_object(ReplicaSet(name=rs.name, namespace=rs.namespace, selector=rs.selector,
                                      template=rs.template, replicas=rs.replicas))
    cp.daemonsets = {k: by_ref[k] for k in live["daemonsets"]}
    cp.jobs = {k: by_ref[k] for k in live["jobs"]}
    for x in state["cronjobs"]:
        cj = CronJobObj(spec=CronJob(**x["spec"]), last_schedule=x["last_schedule"], created=x["created"])
        cp.cronjobs[cp.ref("cronjob", cj.spec.namespace, cj.spec.name)] = cj
    cp.bare = dict(state["bare"])
    cp.node_name_of = list(state["node_name_of"])
    cp.node_ids = {n: i for i, n in enumerate(cp.node_name_of)}
    cp.node_failed = np.array(state["node_failed"], np.bool_)
    cp.noexec_since = dict(state["noexec_since"])
    cp.spec_duration, cp.spec_exit = list(state["spec_duration"]), list(state["spec_exit"])
    cp.reasons = {int(k): v for k, v in state["reasons"].items()}
    cp.store = PodStore.from_columns([Pod.model_validate(p) for p in state["specs"]], state["store"])
    cp._events = [tuple(e) for e in state["events"]]
    cp._queue = [(a, s, m, tuple(args), kw) for a, s, m, args, kw in state["queue"]]
    cp._node_gen = -1
    cp._refresh_nodes()
    cp._compute_masks()
    return cp
