"""Validated edge objects (Node, Pod, workloads) that accept real Kubernetes manifests."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from .quantity import QuantityError, resource_value
from .resources import (CPU, DEFAULT_MEMORY_REQUEST, DEFAULT_MILLI_CPU_REQUEST, MEMORY,
                        is_container_resource)

TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
GPU_RESOURCE = "nvidia.com/gpu"
GPU_MILLI_ANNOTATION = "kpack.io/gpu-milli"      # milli-GPU per device for a GPU-sharing pod (1..999)
GPU_MODELS_ANNOTATION = "kpack.io/gpu-models"    # comma-separated GPU models the pod accepts
GPU_MODEL_LABEL = "nvidia.com/gpu.product"       # the node's GPU model (as NVIDIA GPU feature discovery sets it)
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=False)


def _resource_map(v: Any, field: str, *, allow_negative: bool = False) -> dict[str, int]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError(f"{field} must be a mapping of resource name to quantity, got {v!r}")
    out: dict[str, int] = {}
    for name, q in v.items():
        try:
            val = resource_value(str(name), q)
        except QuantityError as e:
            raise ValueError(f"{field}[{name}]: {e}") from None
        if val < 0 and not allow_negative:
            raise ValueError(f"{field}[{name}]: must be non-negative, got {q!r}")
        out[str(name)] = val
    return out


def quantities(values: dict[str, int]) -> dict[str, str]:
    """Base-unit ints back to quantity strings (cpu as millicores) that the validators read back exactly."""
    return {k: (f"{v}m" if k == CPU else str(v)) for k, v in values.items()}


class Taint(_Model):
    key: str
    value: str = ""
    effect: TaintEffect

    def __str__(self) -> str:
        return f"{{{self.key}: {self.value}}}"


class Toleration(_Model):
    key: str = ""
    operator: Literal["Equal", "Exists", ""] = "Equal"
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] = ""
    toleration_seconds: Optional[int] = Field(default=None, alias="tolerationSeconds")

    @model_validator(mode="after")
    def _check(self) -> "Toleration":
        if self.operator == "":
            self.operator = "Equal"
        if self.operator == "Exists" and self.value:
            raise ValueError(f"toleration value must be empty when operator is 'Exists', got {self.value!r}")
        if not self.key and self.operator != "Exists":
            raise ValueError("toleration operator must be 'Exists' when key is empty")
        return self

    def tolerates(self, taint: Taint) -> bool:
        """upstream Toleration.ToleratesTaint."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.value == taint.value


class NodeSelectorRequirement(_Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] = Field(default_factory=list)


class NodeSelectorTerm(_Model):
    match_expressions: list[NodeSelectorRequirement] = Field(default_factory=list, alias="matchExpressions")
    match_fields: list[NodeSelectorRequirement] = Field(default_factory=list, alias="matchFields")


class PreferredSchedulingTerm(_Model):
    weight: int
    preference: NodeSelectorTerm

    @field_validator("weight")
    @classmethod
    def _w(cls, v: int) -> int:
        if not 1 <= v <= 100:
            raise ValueError(f"weight must be in the range 1-100, got {v}")
        return v


class NodeAffinity(_Model):
    required: Optional[list[NodeSelectorTerm]] = None   # None: no required affinity
    preferred: list[PreferredSchedulingTerm] = Field(default_factory=list)

    @classmethod
    def from_k8s(cls, spec: Optional[dict]) -> Optional["NodeAffinity"]:
        if not spec:
            return None
        req = spec.get("requiredDuringSchedulingIgnoredDuringExecution")
        terms = None if req is None else (req.get("nodeSelectorTerms") or [])
        return cls(required=terms, preferred=spec.get("preferredDuringSchedulingIgnoredDuringExecution") or [])


class _Named(_Model):
    name: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v:
            raise ValueError("metadata.name must not be empty")
        return v


class Node(_Named):
    """A node: allocatable resources (ints in base units), labels, taints, cordon flag."""
    allocatable: dict[str, int] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    unschedulable: bool = False

    @field_validator("allocatable", mode="before")
    @classmethod
    def _alloc(cls, v: Any) -> dict[str, int]:
        return _resource_map(v, "allocatable")

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, v: Any) -> dict[str, str]:
        return {str(k): str(x) for k, x in (v or {}).items()}

    @field_serializer("allocatable")
    def _dump_alloc(self, v: dict[str, int]) -> dict[str, str]:
        return quantities(v)

    @classmethod
    def from_k8s(cls, manifest: dict) -> "Node":
        meta = manifest.get("metadata") or {}
        spec = manifest.get("spec") or {}
        status = manifest.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        return cls(name=meta.get("name", ""), allocatable=alloc, labels=meta.get("labels") or {},
                   taints=spec.get("taints") or [], unschedulable=bool(spec.get("unschedulable", False)))


def pod_requests(containers: list[dict], init_containers: list[dict], overhead: dict[str, int],
                 pod_level: Optional[dict[str, int]] = None, *, non_zero: bool = False) -> dict[str, int]:
    """upstream PodRequests: containers + sidecars vs init containers, pod-level requests, overhead.

    With `non_zero`, a container missing a cpu/memory key counts 100m/200MiB (scoring only).
    Each container is a dict resource name -> int, or None when it has no `requests` key at all.
    """
    def reqs(c: Optional[dict]) -> dict[str, int]:
        r = dict(c or {})
        if non_zero:
            r.setdefault(CPU, DEFAULT_MILLI_CPU_REQUEST)
            r.setdefault(MEMORY, DEFAULT_MEMORY_REQUEST)
        return r

    total: dict[str, int] = {}
    for c in containers:
        for k, v in reqs(c["requests"]).items():
            total[k] = total.get(k, 0) + v
    sidecars: dict[str, int] = {}
    init_max: dict[str, int] = {}
    for c in init_containers:
        r = reqs(c["requests"])
        if c.get("restart_always"):
            for k, v in r.items():
                total[k] = total.get(k, 0) + v
                sidecars[k] = sidecars.get(k, 0) + v
        else:
            for k, v in r.items():
                init_max[k] = max(init_max.get(k, 0), v + sidecars.get(k, 0))
    for k, v in init_max.items():
        total[k] = max(total.get(k, 0), v)
    if pod_level:
        for k, v in pod_level.items():
            if k in (CPU, MEMORY) or k.startswith("hugepages-"):
                total[k] = v
    for k, v in overhead.items():
        total[k] = total.get(k, 0) + v
    return total


class Pod(_Named):
    """A pod as the scheduler sees it. `requests` is the effective PodRequests vector (real requests).

    `scoring_cpu`/`scoring_memory` are the non-zero-defaulted cpu/memory used by scoring; built directly,
    the pod counts as one container whose requests are `requests`.
    """
    namespace: str = "default"
    requests: dict[str, int] = Field(default_factory=dict)
    scoring_cpu: Optional[int] = None
    scoring_memory: Optional[int] = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    affinity: Optional[NodeAffinity] = None
    tolerations: list[Toleration] = Field(default_factory=list)
    priority: int = 0
    preemption_policy: Literal["PreemptLowerPriority", "Never"] = "PreemptLowerPriority"
    node_name: Optional[str] = None
    labels: dict[str, str] = Field(default_factory=dict)
    host_network: bool = False
    image: Optional[str] = None
    owner: Optional[str] = None
    gpu_milli: Optional[int] = None          # GPU sharing: milli-GPU of one device (with nvidia.com/gpu: 1)
    gpu_models: list[str] = Field(default_factory=list)   # GPU models (node label nvidia.com/gpu.product)

    @field_validator("requests", mode="before")
    @classmethod
    def _requests(cls, v: Any) -> dict[str, int]:
        out = _resource_map(v, "requests")
        for name in out:
            if not is_container_resource(name):
                raise ValueError(f"requests[{name}]: must be a standard resource for containers "
                                 f"(cpu, memory, ephemeral-storage, hugepages-*) or an extended resource")
        return out

    @field_serializer("requests")
    def _dump_requests(self, v: dict[str, int]) -> dict[str, str]:
        return quantities(v)

    @field_validator("node_selector", "labels", mode="before")
    @classmethod
    def _strmap(cls, v: Any) -> dict[str, str]:
        return {str(k): str(x) for k, x in (v or {}).items()}

    @field_validator("affinity", mode="before")
    @classmethod
    def _affinity(cls, v: Any) -> Any:
        # Accept the Kubernetes shape ({"nodeAffinity": {...}}) as well as kpack's NodeAffinity.
        if isinstance(v, dict) and ("nodeAffinity" in v or "requiredDuringSchedulingIgnoredDuringExecution" in v
                                    or "preferredDuringSchedulingIgnoredDuringExecution" in v):
            return NodeAffinity.from_k8s(v.get("nodeAffinity", v))
        return v

    @model_validator(mode="after")
    def _gpu(self) -> "Pod":
        if self.gpu_milli is not None:
            if not 1 <= self.gpu_milli <= 1000:
                raise ValueError(f"gpu_milli ({GPU_MILLI_ANNOTATION}): must be in 1..1000, got {self.gpu_milli}")
            if self.gpu_milli < 1000 and self.requests.get(GPU_RESOURCE) != 1:
                raise ValueError(f"gpu_milli ({GPU_MILLI_ANNOTATION}) {self.gpu_milli} shares one device: requests "
                                 f"must ask for {GPU_RESOURCE}: 1, got {self.requests.get(GPU_RESOURCE, 0)}")
        return self

    @property
    def gpu_count(self) -> int:
        return self.requests.get(GPU_RESOURCE, 0)

    @property
    def gpu_per_device(self) -> int:
        """milli-GPU taken on each device: a fraction for GPU-sharing pods, else 1000 (whole devices)."""
        return 1000 if self.gpu_milli is None else self.gpu_milli

    @model_validator(mode="after")
    def _defaults(self) -> "Pod":
        if self.scoring_cpu is None:
            self.scoring_cpu = self.requests.get(CPU, DEFAULT_MILLI_CPU_REQUEST)
        if self.scoring_memory is None:
            self.scoring_memory = self.requests.get(MEMORY, DEFAULT_MEMORY_REQUEST)
        return self

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_k8s(cls, manifest: dict) -> "Pod":
        meta = manifest.get("metadata") or {}
        return cls.from_spec(meta.get("name", ""), manifest.get("spec") or {}, meta=meta)

    @classmethod
    def from_spec(cls, name: str, spec: dict, *, meta: Optional[dict] = None, **extra: Any) -> "Pod":
        """Build from a PodSpec (also used for workload templates)."""
        meta = meta or {}

        def container(c: dict, where: str, i: int) -> dict:
            res = c.get("resources") or {}
            req = res.get("requests")
            if req is None and res.get("limits"):
                req = res["limits"]   # API defaulting: requests default to limits
            try:
                parsed = None if req is None else cls._requests(req)
            except ValueError as e:
                raise ValueError(f"spec.{where}[{i}].resources.{e}") from None
            return {"requests": parsed, "restart_always": c.get("restartPolicy") == "Always",
                    "image": c.get("image")}

        containers = [container(c, "containers", i) for i, c in enumerate(spec.get("containers") or [])]
        inits = [container(c, "initContainers", i) for i, c in enumerate(spec.get("initContainers") or [])]
        overhead = _resource_map(spec.get("overhead"), "spec.overhead")
        pod_level = _resource_map((spec.get("resources") or {}).get("requests"), "spec.resources.requests")
        real = pod_requests(containers, inits, overhead, pod_level)
        # NodeResourcesFit's scorer (the only reader of the non-zero cpu/memory) ignores pod-level requests in
        # v1.35.4; its filter and BalancedAllocation use them (`real`).
        if containers or inits:
            nz = pod_requests(containers, inits, overhead, None, non_zero=True)
        else:
            nz = pod_requests([], [], overhead)   # zero containers: no defaults (upstream tests rely on this)
        nz_cpu, nz_mem = nz.get(CPU, 0), nz.get(MEMORY, 0)
        aff = (spec.get("affinity") or {}).get("nodeAffinity")
        ann = meta.get("annotations") or {}
        gpu_milli = None
        if GPU_MILLI_ANNOTATION in ann:
            try:
                gpu_milli = int(str(ann[GPU_MILLI_ANNOTATION]).strip())
            except ValueError:
                raise ValueError(f"metadata.annotations[{GPU_MILLI_ANNOTATION}]: must be an integer, "
                                 f"got {ann[GPU_MILLI_ANNOTATION]!r}") from None
        models = [m.strip() for m in str(ann.get(GPU_MODELS_ANNOTATION, "")).replace("|", ",").split(",")
                  if m.strip()]
        # `requests` holds base units already; spell them as quantities so the validator reads them back exactly.
        return cls(name=name or meta.get("generateName", ""), namespace=meta.get("namespace") or "default",
                   requests=quantities(real), scoring_cpu=nz_cpu, scoring_memory=nz_mem,
                   node_selector=spec.get("nodeSelector") or {}, affinity=NodeAffinity.from_k8s(aff),
                   tolerations=spec.get("tolerations") or [], priority=int(spec.get("priority") or 0),
                   preemption_policy=spec.get("preemptionPolicy") or "PreemptLowerPriority",
                   node_name=spec.get("nodeName") or None, labels=meta.get("labels") or {},
                   host_network=bool(spec.get("hostNetwork", False)), gpu_milli=gpu_milli, gpu_models=models,
                   image=containers and (spec["containers"][0].get("image")) or None, **extra)


class _Workload(_Named):
    name: str
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    selector: dict[str, Any] = Field(default_factory=dict)
    template: dict[str, Any] = Field(default_factory=dict)    # the raw PodTemplateSpec
    annotations: dict[str, str] = Field(default_factory=dict)

    def template_pod(self, name: str) -> Pod:
        meta = dict(self.template.get("metadata") or {})
        meta["namespace"] = self.namespace
        return Pod.from_spec(name, self.template.get("spec") or {}, meta=meta)

    @classmethod
    def _common(cls, manifest: dict) -> dict:
        meta = manifest.get("metadata") or {}
        spec = manifest.get("spec") or {}
        template = spec.get("template") or {}
        if not isinstance(template, dict) or not isinstance(template.get("spec") or {}, dict):
            raise ValueError("spec.template must be a PodTemplateSpec mapping")
        try:
            Pod.from_spec("template", template.get("spec") or {})   # validate the template eagerly
        except ValueError as e:
            raise ValueError(f"spec.template.{e}") from None
        return dict(name=meta.get("name", ""), namespace=meta.get("namespace") or "default",
                    labels=meta.get("labels") or {}, annotations=meta.get("annotations") or {},
                    selector=spec.get("selector") or {}, template=template)


class ReplicaSet(_Workload):
    replicas: int = 1

    @classmethod
    def from_k8s(cls, manifest: dict) -> "ReplicaSet":
        spec = manifest.get("spec") or {}
        return cls(replicas=spec.get("replicas", 1), **cls._common(manifest))


class Deployment(_Workload):
    replicas: int = 1
    strategy: dict[str, Any] = Field(default_factory=lambda: {"type": "RollingUpdate"})
    revision_history_limit: int = 10
    progress_deadline_seconds: int = 600

    @classmethod
    def from_k8s(cls, manifest: dict) -> "Deployment":
        spec = manifest.get("spec") or {}
        return cls(replicas=spec.get("replicas", 1), strategy=spec.get("strategy") or {"type": "RollingUpdate"},
                   revision_history_limit=spec.get("revisionHistoryLimit", 10),
                   progress_deadline_seconds=spec.get("progressDeadlineSeconds", 600), **cls._common(manifest))


class DaemonSet(_Workload):
    update_strategy: dict[str, Any] = Field(default_factory=lambda: {"type": "RollingUpdate"})
    revision_history_limit: int = 10

    @classmethod
    def from_k8s(cls, manifest: dict) -> "DaemonSet":
        spec = manifest.get("spec") or {}
        return cls(update_strategy=spec.get("updateStrategy") or {"type": "RollingUpdate"},
                   revision_history_limit=spec.get("revisionHistoryLimit", 10), **cls._common(manifest))
