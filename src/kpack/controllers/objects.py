"""Controller objects: the validated spec of each workload plus the state its controller keeps."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from ..models import DaemonSet, Deployment, Pod, ReplicaSet
from .rollout import (
    ControllerError,
    IntOrPercent,
    canonical,
    check_non_negative,
    check_rolling,
    check_selector,
    selector_matches,
)

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DURATION_ANNOTATION = "kpack.io/duration"  # a pod's run time (Job pods), e.g. "300s"
EXIT_CODE_ANNOTATION = "kpack.io/exit-code"  # a Job pod's exit code when it ends (default 0: Succeeded)


class _Batch(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Job(_Batch):
    """batch/v1 Job (NonIndexed completion mode)."""

    name: str
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    template: dict[str, Any] = Field(default_factory=dict)
    completions: Optional[int] = 1
    parallelism: int = 1
    backoff_limit: int = 6
    active_deadline_seconds: Optional[int] = None
    suspend: bool = False

    @classmethod
    def from_k8s(cls, manifest: dict) -> "Job":
        meta = manifest.get("metadata") or {}
        return cls.from_spec(meta, manifest.get("spec") or {})

    @classmethod
    def from_spec(cls, meta: dict, spec: dict) -> "Job":
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace") or "default",
            labels=meta.get("labels") or {},
            template=spec.get("template") or {},
            completions=spec.get("completions", 1),
            parallelism=spec.get("parallelism", 1),
            backoff_limit=spec.get("backoffLimit", 6),
            active_deadline_seconds=spec.get("activeDeadlineSeconds"),
            suspend=bool(spec.get("suspend")),
        )


class CronJob(_Batch):
    """batch/v1 CronJob."""

    name: str
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    schedule: str
    time_zone: Optional[str] = None
    concurrency_policy: str = "Allow"
    suspend: bool = False
    starting_deadline_seconds: Optional[int] = None
    successful_jobs_history_limit: int = 3
    failed_jobs_history_limit: int = 1
    job_template: dict[str, Any] = Field(default_factory=dict)  # JobTemplateSpec: metadata + spec

    @classmethod
    def from_k8s(cls, manifest: dict) -> "CronJob":
        meta = manifest.get("metadata") or {}
        spec = manifest.get("spec") or {}
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace") or "default",
            labels=meta.get("labels") or {},
            schedule=spec.get("schedule", ""),
            time_zone=spec.get("timeZone"),
            concurrency_policy=spec.get("concurrencyPolicy") or "Allow",
            suspend=bool(spec.get("suspend")),
            starting_deadline_seconds=spec.get("startingDeadlineSeconds"),
            successful_jobs_history_limit=spec.get("successfulJobsHistoryLimit", 3),
            failed_jobs_history_limit=spec.get("failedJobsHistoryLimit", 1),
            job_template=spec.get("jobTemplate") or {},
        )


def _check_template(where: str, selector: dict, template: dict) -> Pod:
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector_matches(selector, {str(k): str(v) for k, v in labels.items()}):
        raise ControllerError(
            f"{where}: spec.template.metadata.labels: Invalid value: {labels!r}: `selector` does "
            "not match template `labels`"
        )
    try:
        return Pod.from_spec("template", template.get("spec") or {}, meta=template.get("metadata") or {})
    except ValueError as e:
        raise ControllerError(f"{where}: spec.template.{e}") from None


def _rolling(strategy: dict) -> dict:
    return (strategy or {}).get("rollingUpdate") or {}


@dataclass
class DeploymentObj:
    name: str
    namespace: str
    selector: dict
    template: dict
    replicas: int
    strategy: str
    max_surge: IntOrPercent
    max_unavailable: IntOrPercent
    revision_history_limit: int
    progress_deadline_seconds: int
    min_ready_seconds: int
    paused: bool
    labels: dict = field(default_factory=dict)
    generation: int = 1
    observed_generation: int = 0
    collision_count: int = 0
    progress: dict = field(default_factory=dict)  # Progressing condition: status, reason, message, since

    @property
    def key(self) -> str:
        return f"deployment/{self.name}"

    def spec_dict(self) -> dict:
        return {
            "replicas": self.replicas,
            "selector": self.selector,
            "template": self.template,
            "strategy": self.strategy,
            "maxSurge": self.max_surge,
            "maxUnavailable": self.max_unavailable,
            "revisionHistoryLimit": self.revision_history_limit,
            "minReadySeconds": self.min_ready_seconds,
            "progressDeadlineSeconds": self.progress_deadline_seconds,
            "paused": self.paused,
        }


def deployment_obj(src: Any) -> DeploymentObj:
    """From a kpack.Deployment or a raw apps/v1 Deployment manifest: defaults, then validation."""
    if isinstance(src, dict):
        spec = src.get("spec") or {}
        meta = src.get("metadata") or {}
        name, ns = meta.get("name", ""), meta.get("namespace") or "default"
        replicas = spec.get("replicas", 1)
        strategy = spec.get("strategy") or {}
        selector, template, labels = (
            spec.get("selector") or {},
            spec.get("template") or {},
            meta.get("labels") or {},
        )
        limit, deadline = spec.get("revisionHistoryLimit", 10), spec.get("progressDeadlineSeconds", 600)
        min_ready, paused = spec.get("minReadySeconds", 0), spec.get("paused", False)
    elif isinstance(src, Deployment):
        name, ns, replicas, strategy = src.name, src.namespace, src.replicas, src.strategy or {}
        selector, template, labels = src.selector, src.template, src.labels
        limit, deadline = src.revision_history_limit, src.progress_deadline_seconds
        min_ready, paused = getattr(src, "min_ready_seconds", 0), getattr(src, "paused", False)
    else:
        raise ControllerError(f"expected a Deployment, got {type(src).__name__}")
    where = f"deployment/{name}"
    if not name:
        raise ControllerError("deployment: metadata.name: Required value")
    check_non_negative(replicas, f"{where}: spec.replicas")
    check_non_negative(limit, f"{where}: spec.revisionHistoryLimit")
    check_non_negative(min_ready, f"{where}: spec.minReadySeconds")
    check_non_negative(deadline, f"{where}: spec.progressDeadlineSeconds")
    if deadline <= min_ready:
        raise ControllerError(
            f"{where}: spec.progressDeadlineSeconds: Invalid value: {deadline}: must be greater "
            "than minReadySeconds"
        )
    check_selector(selector, where)
    _check_template(where, selector, template)
    kind = strategy.get("type") or "RollingUpdate"
    if kind not in ("RollingUpdate", "Recreate"):
        raise ControllerError(
            f"{where}: spec.strategy.type: Unsupported value: {kind!r}: supported values: "
            '"Recreate", "RollingUpdate"'
        )
    ru = _rolling(strategy)
    if kind == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            raise ControllerError(
                f"{where}: spec.strategy.rollingUpdate: Forbidden: may not be specified when "
                "strategy `type` is 'Recreate'"
            )
        surge, unavailable = None, None
    else:
        surge, unavailable = ru.get("maxSurge", "25%"), ru.get("maxUnavailable", "25%")
        check_rolling(f"{where}: spec.strategy.rollingUpdate", surge, unavailable)
    return DeploymentObj(
        name=name,
        namespace=ns,
        selector=copy.deepcopy(selector),
        template=copy.deepcopy(template),
        replicas=replicas,
        strategy=kind,
        max_surge=surge,
        max_unavailable=unavailable,
        revision_history_limit=limit,
        progress_deadline_seconds=deadline,
        min_ready_seconds=min_ready,
        paused=bool(paused),
        labels=dict(labels),
    )


@dataclass
class ReplicaSetObj:
    name: str
    namespace: str
    selector: dict
    template: dict  # with the pod-template-hash label for Deployment-owned sets
    template_key: str  # canonical template without the hash label (upstream EqualIgnoreHash)
    replicas: int
    min_ready_seconds: int = 0
    owner: Optional[str] = None  # "deployment/web"
    revision: int = 0
    revision_history: list = field(default_factory=list)
    hash: str = ""
    created: int = 0  # step
    ctl: int = -1  # index in the control plane's controller list
    spec_id: int = -1  # the spec Pod every pod of this set copies
    next_ordinal: int = 0
    deleted: bool = False
    desired_annotation: Optional[int] = None   # deployment.kubernetes.io/desired-replicas
    max_annotation: Optional[int] = None       # deployment.kubernetes.io/max-replicas

    @property
    def key(self) -> str:
        return f"replicaset/{self.name}"


def replicaset_obj(src: Any) -> ReplicaSetObj:
    if isinstance(src, dict):
        meta, spec = src.get("metadata") or {}, src.get("spec") or {}
        name, ns = meta.get("name", ""), meta.get("namespace") or "default"
        replicas, selector, template = (
            spec.get("replicas", 1),
            spec.get("selector") or {},
            spec.get("template") or {},
        )
        min_ready = spec.get("minReadySeconds", 0)
    elif isinstance(src, ReplicaSet):
        name, ns, replicas, selector, template = (
            src.name,
            src.namespace,
            src.replicas,
            src.selector,
            src.template,
        )
        min_ready = getattr(src, "min_ready_seconds", 0)
    else:
        raise ControllerError(f"expected a ReplicaSet, got {type(src).__name__}")
    where = f"replicaset/{name}"
    check_non_negative(replicas, f"{where}: spec.replicas")
    check_non_negative(min_ready, f"{where}: spec.minReadySeconds")
    check_selector(selector, where)
    _check_template(where, selector, template)
    return ReplicaSetObj(
        name=name,
        namespace=ns,
        selector=copy.deepcopy(selector),
        template=copy.deepcopy(template),
        template_key=canonical(template),
        replicas=replicas,
        min_ready_seconds=min_ready,
    )


@dataclass
class DaemonSetObj:
    name: str
    namespace: str
    selector: dict
    template: dict
    strategy: str
    max_surge: IntOrPercent
    max_unavailable: IntOrPercent
    min_ready_seconds: int
    revision_history_limit: int
    model: DaemonSet  # kpack.DaemonSet for the placement rules (should_run)
    generation: int = 1
    observed_generation: int = 0
    ctl: int = -1
    revisions: dict = field(default_factory=dict)  # template hash -> revision number (ControllerRevisions)
    rev_codes: dict = field(default_factory=dict)  # template hash -> int code used in the pod store
    templates: dict = field(default_factory=dict)  # template hash -> template (for history and rollback)
    current: str = ""  # hash of the current template
    specs: dict = field(default_factory=dict)  # (rev code, node name) -> store spec id
    ordinals: dict = field(default_factory=dict)  # node name -> next ordinal
    base: Optional[Pod] = None  # template pod of the current revision, with daemon tolerations

    @property
    def key(self) -> str:
        return f"daemonset/{self.name}"


def daemonset_obj(src: Any) -> DaemonSetObj:
    if isinstance(src, dict):
        meta, spec = src.get("metadata") or {}, src.get("spec") or {}
        try:
            model = DaemonSet.from_k8s(src)
        except ValueError as e:
            raise ControllerError(f"daemonset/{meta.get('name', '')}: {e}") from None
        min_ready = spec.get("minReadySeconds", 0)
    elif isinstance(src, DaemonSet):
        model, min_ready = src, getattr(src, "min_ready_seconds", 0)
    else:
        raise ControllerError(f"expected a DaemonSet, got {type(src).__name__}")
    where = f"daemonset/{model.name}"
    check_selector(model.selector, where)
    _check_template(where, model.selector, model.template)
    check_non_negative(min_ready, f"{where}: spec.minReadySeconds")
    check_non_negative(model.revision_history_limit, f"{where}: spec.revisionHistoryLimit")
    us = model.update_strategy or {}
    kind = us.get("type") or "RollingUpdate"
    if kind not in ("RollingUpdate", "OnDelete"):
        raise ControllerError(
            f"{where}: spec.updateStrategy.type: Unsupported value: {kind!r}: supported values: "
            '"OnDelete", "RollingUpdate"'
        )
    ru = _rolling({"rollingUpdate": us.get("rollingUpdate")})
    surge, unavailable = ru.get("maxSurge", 0), ru.get("maxUnavailable", 1)
    if kind == "RollingUpdate":
        check_rolling(f"{where}: spec.updateStrategy.rollingUpdate", surge, unavailable)
    return DaemonSetObj(
        name=model.name,
        namespace=model.namespace,
        selector=copy.deepcopy(model.selector),
        template=copy.deepcopy(model.template),
        strategy=kind,
        max_surge=surge,
        max_unavailable=unavailable,
        min_ready_seconds=min_ready,
        revision_history_limit=model.revision_history_limit,
        model=model,
    )


@dataclass
class JobObj:
    spec: Job
    owner: Optional[str] = None  # "cronjob/nightly"
    ctl: int = -1
    spec_id: int = -1
    duration_steps: int = 0
    created: int = 0  # step
    start: Optional[int] = None  # step
    completion: Optional[int] = None  # step
    succeeded: int = 0
    failed: int = 0
    next_ordinal: int = 0
    backoff_until: int = 0  # step before which no replacement pod is created
    condition: Optional[str] = None  # "Complete" / "Failed"
    reason: str = ""
    scheduled_time: Optional[float] = None  # for CronJob-created jobs: the schedule time (logical seconds)
    deleted: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def key(self) -> str:
        return f"job/{self.spec.name}"


def check_job(job: Job) -> None:
    where = f"job/{job.name}"
    if not job.name:
        raise ControllerError("job: metadata.name: Required value")
    if job.completions is not None:
        check_non_negative(job.completions, f"{where}: spec.completions")
    check_non_negative(job.parallelism, f"{where}: spec.parallelism")
    check_non_negative(job.backoff_limit, f"{where}: spec.backoffLimit")
    if job.active_deadline_seconds is not None and job.active_deadline_seconds <= 0:
        raise ControllerError(
            f"{where}: spec.activeDeadlineSeconds: Invalid value: {job.active_deadline_seconds}: "
            "must be greater than 0"
        )
    rp = (job.template.get("spec") or {}).get("restartPolicy")
    if rp not in ("Never", "OnFailure"):
        raise ControllerError(
            f"{where}: spec.template.spec.restartPolicy: Unsupported value: {rp!r}: supported "
            'values: "OnFailure", "Never"'
        )
    try:
        Pod.from_spec("template", job.template.get("spec") or {}, meta=job.template.get("metadata") or {})
    except ValueError as e:
        raise ControllerError(f"{where}: spec.template.{e}") from None


@dataclass
class CronJobObj:
    spec: CronJob
    last_schedule: Optional[float] = None  # logical seconds
    created: float = 0.0  # logical seconds

    @property
    def key(self) -> str:
        return f"cronjob/{self.spec.name}"


def check_cronjob(cj: CronJob) -> None:
    from croniter import croniter

    where = f"cronjob/{cj.name}"
    if not cj.name:
        raise ControllerError("cronjob: metadata.name: Required value")
    if not cj.schedule or not croniter.is_valid(cj.schedule):
        raise ControllerError(
            f"{where}: spec.schedule: Invalid value: {cj.schedule!r}: not a valid cron schedule"
        )
    if cj.concurrency_policy not in ("Allow", "Forbid", "Replace"):
        raise ControllerError(
            f"{where}: spec.concurrencyPolicy: Unsupported value: {cj.concurrency_policy!r}: "
            'supported values: "Allow", "Forbid", "Replace"'
        )
    check_non_negative(cj.successful_jobs_history_limit, f"{where}: spec.successfulJobsHistoryLimit")
    check_non_negative(cj.failed_jobs_history_limit, f"{where}: spec.failedJobsHistoryLimit")
    if cj.time_zone:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(cj.time_zone)
        except Exception:
            raise ControllerError(
                f"{where}: spec.timeZone: Invalid value: {cj.time_zone!r}: unknown time zone"
            ) from None
    check_job(job_from_template(cj, f"{cj.name}-check"))


def job_from_template(cj: CronJob, name: str) -> Job:
    tmpl = cj.job_template or {}
    meta = dict(tmpl.get("metadata") or {})
    meta.update(name=name, namespace=cj.namespace)
    return Job.from_spec(meta, tmpl.get("spec") or {})
