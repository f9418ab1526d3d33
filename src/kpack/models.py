"""Validated edge objects (Node, Pod, workloads) that accept real Kubernetes manifests."""
from __future__ import annotations

import operator
import typing
from typing import Any, Literal, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_serializer,
    field_validator,
    model_validator,
)

from . import podspec
from .quantity import QuantityError, is_whole, resource_value
from .resources import (
    CPU,
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    MEMORY,
    PODS,
    container_resource_error,
    is_extended,
    is_hugepages,
    is_native,
)
from .topology.api import OwnerReference, PodAffinity, TopologySpreadConstraint, parse, validate_constraints
from .validation import (
    INT32_MAX,
    MAX_REPLICAS,
    check_bool,
    check_gpu_devices,
    check_int,
    check_label_selector,
    check_node_affinity,
    check_object_meta,
    check_quantity,
    check_rolling_update,
    check_shape,
    check_string_map,
    qualified_name_errors,
    selector_matches,
)

TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
GPU_RESOURCE = "nvidia.com/gpu"
GPU_MILLI_ANNOTATION = "kpack.io/gpu-milli"      # milli-GPU per device for a GPU-sharing pod (1..999)
GPU_MODELS_ANNOTATION = "kpack.io/gpu-models"    # comma-separated GPU models the pod accepts
# the node's GPU model (as NVIDIA GPU feature discovery sets it)
GPU_MODEL_LABEL = "nvidia.com/gpu.product"
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=False)


def _resource_map(v: Any, field: str, *, allow_negative: bool = False, node: bool = False) -> dict[str, int]:
    """Resource name -> stored int, validated as the API server does (qualified names, non-negative,
    whole numbers for extended resources and pods) plus kpack's range rule (<= 2**53, GPU devices)."""
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError(f"{field} must be a mapping of resource name to quantity, got {v!r}")
    out: dict[str, int] = {}
    for name, q in v.items():
        if not isinstance(name, str):
            raise ValueError(f"{field}: resource name {name!r} must be a string")
        for msg in qualified_name_errors(name):
            raise ValueError(f"{field}[{name}]: invalid resource name: {msg}")
        try:
            val = resource_value(name, q)
            if (is_extended(name) or name == PODS) and not is_whole(q):
                raise ValueError(f"{field}[{name}]: must be an integer, got {q!r}")
        except QuantityError as e:
            raise ValueError(f"{field}[{name}]: {e}") from None
        if val < 0 and not allow_negative:
            raise ValueError(f"{field}[{name}]: must be non-negative, got {q!r}")
        check_quantity(name, val, field)
        if node and name == GPU_RESOURCE:
            check_gpu_devices(val, field)
        out[name] = val
    return out


def _default_requests(res: dict, field: str) -> Any:
    """API defaulting (SetDefaults_Pod), per resource: a resource with a limit but no request is requested
    at its limit (requests {cpu: 1} + limits {nvidia.com/gpu: 1} asks for 1 GPU). Also checks each request
    against its limit as the API server does (<= the limit; equal to it for extended resources and hugepages,
    which cannot be over-committed)."""
    req, lim = res.get("requests"), res.get("limits")
    if not lim or (req is not None and not isinstance(req, dict)):
        return req    # no limits, or a malformed requests section that _resource_map reports
    limits = _resource_map(lim, f"{field}.limits")
    requests = _resource_map(req, f"{field}.requests")
    for r, v in requests.items():
        if r in limits and v > limits[r]:
            raise ValueError(f"{field}.requests[{r}]: {req[r]!r} must be less than or equal to {r} limit of "
                             f"{lim[r]!r}")
        if r in limits and v != limits[r] and (not is_native(r) or is_hugepages(r)):  # !IsOvercommitAllowed
            raise ValueError(f"{field}.requests[{r}]: {req[r]!r} must be equal to {r} limit of {lim[r]!r}")
    return {**lim, **(req or {})}


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
    # Manifests are validated as the API server does (validation.check_node_affinity, called by from_spec).
    # Objects built directly may hold invalid requirements: the scheduler then treats them as kube-scheduler
    # does (an invalid requirement matches no node), and the property tests rely on that.
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
        return cls(required=terms,
                   preferred=spec.get("preferredDuringSchedulingIgnoredDuringExecution") or [])


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
    unschedulable: StrictBool = False

    @field_validator("allocatable", mode="before")
    @classmethod
    def _alloc(cls, v: Any) -> dict[str, int]:
        return _resource_map(v, "allocatable", node=True)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, v: Any) -> dict[str, str]:
        # Types are checked here; label syntax where manifests come in (from_k8s), as the API server does.
        return check_string_map(v, "labels", labels=False)

    @field_serializer("allocatable")
    def _dump_alloc(self, v: dict[str, int]) -> dict[str, str]:
        return quantities(v)

    @classmethod
    def from_k8s(cls, manifest: dict) -> "Node":
        check_shape("Node", manifest)
        meta = manifest.get("metadata") or {}
        check_object_meta(meta, namespaced=False)
        spec = manifest.get("spec") or {}
        status = manifest.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        where = "status.allocatable" if status.get("allocatable") else "status.capacity"
        alloc = _resource_map(alloc, where, node=True)
        return cls(name=meta.get("name", ""), allocatable=quantities(alloc),
                   labels=check_string_map(meta.get("labels"), "metadata.labels"),
                   taints=spec.get("taints") or [],
                   unschedulable=check_bool(spec.get("unschedulable"), "spec.unschedulable"))


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
    # Cached on the Pod (kpack.podspec), dropped by any assignment to it and by any in-place change to its
    # dict and list fields: its spec token and its namespace/name key.
    __slots__ = ("_kp_spec", "_kp_key")

    namespace: str = "default"
    requests: dict[str, int] = Field(default_factory=podspec.TrackedDict)
    scoring_cpu: Optional[int] = None
    scoring_memory: Optional[int] = None
    node_selector: dict[str, str] = Field(default_factory=podspec.TrackedDict)
    affinity: Optional[NodeAffinity] = None
    tolerations: list[Toleration] = Field(default_factory=podspec.TrackedList)
    priority: int = 0
    preemption_policy: Literal["PreemptLowerPriority", "Never"] = "PreemptLowerPriority"
    node_name: Optional[str] = None
    labels: dict[str, str] = Field(default_factory=podspec.TrackedDict)
    host_network: StrictBool = False
    image: Optional[str] = None
    owner: Optional[str] = None
    gpu_milli: Optional[int] = None          # GPU sharing: milli-GPU of one device (with nvidia.com/gpu: 1)
    # GPU models (node label nvidia.com/gpu.product)
    gpu_models: list[str] = Field(default_factory=podspec.TrackedList)
    # PodTopologySpread / InterPodAffinity inputs (kpack.topology); label-key merges applied on validation.
    owner_references: list[OwnerReference] = Field(default_factory=podspec.TrackedList)
    topology_spread_constraints: list[TopologySpreadConstraint] = Field(default_factory=podspec.TrackedList)
    pod_affinity: Optional[PodAffinity] = None
    pod_anti_affinity: Optional[PodAffinity] = None
    deletion_timestamp: Optional[str] = None

    @model_validator(mode="before")
    @classmethod
    def _pod_affinity(cls, data: Any) -> Any:
        # Kubernetes shape: affinity.podAffinity / podAntiAffinity live beside nodeAffinity.
        if isinstance(data, dict) and isinstance(data.get("affinity"), dict) and \
                ("podAffinity" in data["affinity"] or "podAntiAffinity" in data["affinity"]):
            data = dict(data)
            aff = dict(data["affinity"])
            data.setdefault("pod_affinity", aff.pop("podAffinity", None))
            data.setdefault("pod_anti_affinity", aff.pop("podAntiAffinity", None))
            data["affinity"] = aff or None
        return data

    @model_validator(mode="after")
    def _topology_terms(self) -> "Pod":
        # kube-apiserver merges matchLabelKeys / mismatchLabelKeys into the selectors at creation.
        validate_constraints(self.topology_spread_constraints)
        if self.topology_spread_constraints:
            self.topology_spread_constraints = [c.merged(self.labels, f"spec.topologySpreadConstraints[{i}]")
                                                for i, c in enumerate(self.topology_spread_constraints)]
        if self.pod_affinity is not None:
            self.pod_affinity = self.pod_affinity.merged(self.labels, "spec.affinity.podAffinity")
        if self.pod_anti_affinity is not None:
            self.pod_anti_affinity = self.pod_anti_affinity.merged(self.labels,
                                                                   "spec.affinity.podAntiAffinity")
        return self

    @field_validator("requests", mode="before")
    @classmethod
    def _requests(cls, v: Any) -> dict[str, int]:
        out = _resource_map(v, "requests")
        for name in out:
            msg = container_resource_error(name)
            if msg:
                raise ValueError(f"requests[{name}]: {msg}")
        return out

    @field_serializer("requests")
    def _dump_requests(self, v: dict[str, int]) -> dict[str, str]:
        return quantities(v)

    @field_validator("node_selector", "labels", mode="before")
    @classmethod
    def _strmap(cls, v: Any, info) -> dict[str, str]:
        return check_string_map(v, info.field_name, labels=False)

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, v: Any) -> int:
        return check_int(v, "priority", -INT32_MAX - 1, INT32_MAX)

    @field_validator("affinity", mode="before")
    @classmethod
    def _affinity(cls, v: Any) -> Any:
        # Accept the Kubernetes shape ({"nodeAffinity": {...}}) as well as kpack's NodeAffinity.
        if isinstance(v, dict) and ("nodeAffinity" in v
                                    or "requiredDuringSchedulingIgnoredDuringExecution" in v
                                    or "preferredDuringSchedulingIgnoredDuringExecution" in v):
            return NodeAffinity.from_k8s(v.get("nodeAffinity", v))
        return v

    @model_validator(mode="after")
    def _gpu(self) -> "Pod":
        if self.gpu_milli is not None:
            if not 1 <= self.gpu_milli <= 1000:
                raise ValueError(f"gpu_milli ({GPU_MILLI_ANNOTATION}): must be in 1..1000, "
                                 f"got {self.gpu_milli}")
            if self.gpu_milli < 1000 and self.requests.get(GPU_RESOURCE) != 1:
                raise ValueError(f"gpu_milli ({GPU_MILLI_ANNOTATION}) {self.gpu_milli} shares one device: "
                                 f"requests must ask for {GPU_RESOURCE}: 1, "
                                 f"got {self.requests.get(GPU_RESOURCE, 0)}")
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
        k = getattr(self, "_kp_key", None)
        if k is None:
            k = f"{self.namespace}/{self.name}"
            object.__setattr__(self, "_kp_key", k)
        return k

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        object.__setattr__(self, "_kp_spec", None)
        if name in ("name", "namespace"):
            object.__setattr__(self, "_kp_key", None)
            object.__setattr__(self, "_kp_key", self.key)

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        object.__setattr__(self, "_kp_spec", None)
        if hasattr(self, "_kp_key"):
            object.__delattr__(self, "_kp_key")

    def __copy__(self) -> "Pod":
        # A shallow copy shares this Pod's containers (whose changes reach only this Pod's token): no token.
        c = super().__copy__()
        object.__setattr__(c, "_kp_spec", podspec.UNTRACKED)
        return c

    def __deepcopy__(self, memo: Optional[dict] = None) -> "Pod":
        c = super().__deepcopy__(memo)
        object.__setattr__(c, "_kp_spec", podspec.UNTRACKED)
        return c

    def spec_token(self) -> Optional[podspec.SpecToken]:
        """The token Pods equal in every field but the name share (kpack.podspec), or None when this Pod holds
        a value whose in-place changes cannot be seen (then its spec is compared field by field)."""
        return podspec.token(self, _SPEC_SCALARS, _SPEC_DICTS, _SPEC_LISTS)

    @model_validator(mode="after")
    def _cache(self) -> "Pod":
        # Last validator (pydantic runs them in definition order): the fields hold their final values.
        podspec.track(self, POD_TRACKED_FIELDS)
        object.__setattr__(self, "_kp_key", f"{self.namespace}/{self.name}")
        object.__setattr__(self, "_kp_spec", None)
        podspec.token(self, _SPEC_SCALARS, _SPEC_DICTS, _SPEC_LISTS, fresh=_SPEC_MODELS)
        return self

    @classmethod
    def from_k8s(cls, manifest: dict) -> "Pod":
        check_shape("Pod", manifest)
        meta = manifest.get("metadata") or {}
        check_object_meta(meta)
        return cls.from_spec(meta.get("name", ""), manifest.get("spec") or {}, meta=meta)

    @classmethod
    def from_spec(cls, name: str, spec: dict, *, meta: Optional[dict] = None, **extra: Any) -> "Pod":
        """Build from a PodSpec (also used for workload templates); field errors name the manifest path."""
        meta = meta or {}
        if not isinstance(spec, dict):
            raise ValueError(f"spec: must be a mapping (a PodSpec), got {spec!r}")

        def container(c: Any, where: str, i: int) -> dict:
            if not isinstance(c, dict):
                raise ValueError(f"spec.{where}[{i}]: must be a mapping (a Container), got {c!r}")
            res = c.get("resources") or {}
            if not isinstance(res, dict):
                raise ValueError(f"spec.{where}[{i}].resources: must be a mapping, got {res!r}")
            req = _default_requests(res, f"spec.{where}[{i}].resources")
            try:
                parsed = None if req is None else cls._requests(req)
            except ValueError as e:
                raise ValueError(f"spec.{where}[{i}].resources.{e}") from None
            return {"requests": parsed, "restart_always": c.get("restartPolicy") == "Always",
                    "image": c.get("image")}

        def items(key: str) -> list:
            v = spec.get(key)
            if v is not None and not isinstance(v, list):
                raise ValueError(f"spec.{key}: must be a list, got {v!r}")
            return v or []

        containers = [container(c, "containers", i) for i, c in enumerate(items("containers"))]
        inits = [container(c, "initContainers", i) for i, c in enumerate(items("initContainers"))]
        overhead = _resource_map(spec.get("overhead"), "spec.overhead")
        pod_res = spec.get("resources") or {}
        if not isinstance(pod_res, dict):
            raise ValueError(f"spec.resources: must be a mapping, got {pod_res!r}")
        pod_req = _default_requests(pod_res, "spec.resources")
        pod_level = _resource_map(pod_req, "spec.resources.requests")
        real = pod_requests(containers, inits, overhead, pod_level)
        # NodeResourcesFit's scorer (the only reader of the non-zero cpu/memory) ignores pod-level requests in
        # v1.35.4; its filter and BalancedAllocation use them (`real`).
        if containers or inits:
            nz = pod_requests(containers, inits, overhead, None, non_zero=True)
        else:
            nz = pod_requests([], [], overhead)   # zero containers: no defaults (upstream tests rely on this)
        for r, v in {**nz, **real}.items():
            check_quantity(r, v, "spec (total pod requests)")
        nz_cpu, nz_mem = nz.get(CPU, 0), nz.get(MEMORY, 0)
        aff = (spec.get("affinity") or {})
        if not isinstance(aff, dict):
            raise ValueError(f"spec.affinity: must be a mapping, got {aff!r}")
        aff = aff.get("nodeAffinity")
        check_node_affinity(aff, "spec.affinity.nodeAffinity")
        if not isinstance(meta, dict):
            raise ValueError(f"metadata: must be a mapping, got {meta!r}")
        topo = {
            "owner_references": [parse(OwnerReference, r, f"metadata.ownerReferences[{i}]")
                                 for i, r in enumerate(meta.get("ownerReferences") or [])],
            "topology_spread_constraints": [
                parse(TopologySpreadConstraint, c, f"spec.topologySpreadConstraints[{i}]")
                for i, c in enumerate(spec.get("topologySpreadConstraints") or [])],
            "deletion_timestamp": meta.get("deletionTimestamp") or None}
        for k, f in (("podAffinity", "pod_affinity"), ("podAntiAffinity", "pod_anti_affinity")):
            v = (spec.get("affinity") or {}).get(k)
            topo[f] = None if v is None else parse(PodAffinity, v, f"spec.affinity.{k}")
        ann = check_string_map(meta.get("annotations"), "metadata.annotations", labels=False)
        gpu_milli = None
        if GPU_MILLI_ANNOTATION in ann:
            try:
                gpu_milli = int(str(ann[GPU_MILLI_ANNOTATION]).strip())
            except ValueError:
                raise ValueError(f"metadata.annotations[{GPU_MILLI_ANNOTATION}]: must be an integer, "
                                 f"got {ann[GPU_MILLI_ANNOTATION]!r}") from None
        models = [m.strip() for m in str(ann.get(GPU_MODELS_ANNOTATION, "")).replace("|", ",").split(",")
                  if m.strip()]
        priority = check_int(spec.get("priority"), "spec.priority", -INT32_MAX - 1, INT32_MAX, default=0)
        host_network = check_bool(spec.get("hostNetwork"), "spec.hostNetwork")
        node_selector = check_string_map(spec.get("nodeSelector"), "spec.nodeSelector")
        labels = check_string_map(meta.get("labels"), "metadata.labels")
        # `requests` holds base units already; spelt as quantities so the validator reads them back exactly.
        return cls(name=name or meta.get("generateName", ""), namespace=meta.get("namespace") or "default",
                   requests=quantities(real), scoring_cpu=nz_cpu, scoring_memory=nz_mem,
                   node_selector=node_selector, affinity=NodeAffinity.from_k8s(aff),
                   tolerations=spec.get("tolerations") or [], priority=priority,
                   preemption_policy=spec.get("preemptionPolicy") or "PreemptLowerPriority",
                   node_name=spec.get("nodeName") or None, labels=labels,
                   host_network=host_network, gpu_milli=gpu_milli, gpu_models=models,
                   image=containers and (spec["containers"][0].get("image")) or None, **topo, **extra)


# Everything a Pod carries except its name: Pods equal on these schedule alike (one spec).
POD_SPEC_FIELDS = tuple(f for f in Pod.model_fields if f != "name")
POD_TRACKED_FIELDS = tuple(f for f, info in Pod.model_fields.items()
                           if getattr(info.annotation, "__origin__", None) in (dict, list))
_SPEC_SCALARS = operator.itemgetter(*(f for f in POD_SPEC_FIELDS if f not in POD_TRACKED_FIELDS))
# Spec fields outside the containers that hold a model when set (a Pod with one is never given a token).
_SPEC_MODELS = operator.itemgetter(*(
    f for f in POD_SPEC_FIELDS if f not in POD_TRACKED_FIELDS
    and any(isinstance(a, type) and issubclass(a, BaseModel)
            for a in typing.get_args(Pod.model_fields[f].annotation))))
_SPEC_DICTS, _SPEC_LISTS = (operator.itemgetter(*(f for f in POD_TRACKED_FIELDS
                                                    if Pod.model_fields[f].annotation.__origin__ is kind))
                            for kind in (dict, list))


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
    def _common(cls, kind: str, manifest: dict) -> dict:
        """Fields every workload shares, validated as the API server does (ValidateReplicaSetSpec,
        ValidateDeploymentSpec, ValidateDaemonSetSpec): a non-empty selector that matches the template's
        labels, a template with at least one container and restartPolicy Always."""
        check_shape(kind, manifest)
        meta = manifest.get("metadata") or {}
        check_object_meta(meta)
        spec = manifest.get("spec") or {}
        template = spec.get("template") or {}
        tmeta = template.get("metadata") or {}
        tspec = template.get("spec") or {}
        selector = check_label_selector(spec.get("selector"), "spec.selector")
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            raise ValueError("spec.selector: Required value: a non-empty label selector is required")
        tlabels = check_string_map(tmeta.get("labels"), "spec.template.metadata.labels")
        if not selector_matches(selector, tlabels):
            raise ValueError(f"spec.template.metadata.labels: {tlabels}: `selector` does not match template "
                             "`labels`")
        if not tspec.get("containers"):
            raise ValueError("spec.template.spec.containers: Required value: a pod template needs at least "
                             "one container")
        restart = tspec.get("restartPolicy", "Always")
        if restart != "Always":
            raise ValueError(f"spec.template.spec.restartPolicy: Unsupported value: {restart!r}: supported "
                             "values: \"Always\"")
        try:
            Pod.from_spec("template", tspec, meta=tmeta)   # validate the template eagerly
        except ValueError as e:
            raise ValueError(f"spec.template.{e}") from None
        return dict(name=meta.get("name", ""), namespace=meta.get("namespace") or "default",
                    labels=check_string_map(meta.get("labels"), "metadata.labels"),
                    annotations=check_string_map(meta.get("annotations"), "metadata.annotations",
                                                 labels=False),
                    selector=selector, template=template,
                    revision_history_limit=check_int(spec.get("revisionHistoryLimit"),
                                                     "spec.revisionHistoryLimit", 0, INT32_MAX, default=10))


def _replicas(spec: dict) -> int:
    """spec.replicas: int32 and non-negative upstream; kpack also caps it (pods are objects in memory)."""
    v = check_int(spec.get("replicas"), "spec.replicas", 0, INT32_MAX, default=1)
    if v > MAX_REPLICAS:
        raise ValueError(f"spec.replicas: {v} is above kpack's limit of {MAX_REPLICAS} replicas per workload")
    return v


class ReplicaSet(_Workload):
    replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    revision_history_limit: int = 10

    @classmethod
    def from_k8s(cls, manifest: dict) -> "ReplicaSet":
        common = cls._common("ReplicaSet", manifest)
        common.pop("revision_history_limit")
        return cls(replicas=_replicas(manifest.get("spec") or {}), **common)


class Deployment(_Workload):
    replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    strategy: dict[str, Any] = Field(default_factory=lambda: {"type": "RollingUpdate"})
    revision_history_limit: int = 10
    progress_deadline_seconds: int = 600

    @classmethod
    def from_k8s(cls, manifest: dict) -> "Deployment":
        common = cls._common("Deployment", manifest)
        spec = manifest.get("spec") or {}
        strategy = spec.get("strategy") or {"type": "RollingUpdate"}
        stype = strategy.get("type") or "RollingUpdate"
        if stype == "Recreate":
            if strategy.get("rollingUpdate") is not None:
                raise ValueError("spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy "
                                 "`type` is 'Recreate'")
        elif stype == "RollingUpdate":
            check_rolling_update(strategy.get("rollingUpdate"), "spec.strategy.rollingUpdate",
                                 default_surge="25%", default_unavailable="25%")
        else:
            raise ValueError(f"spec.strategy.type: Unsupported value: {stype!r}: supported values: "
                             "\"Recreate\", \"RollingUpdate\"")
        min_ready = check_int(spec.get("minReadySeconds"), "spec.minReadySeconds", 0, INT32_MAX, default=0)
        deadline = check_int(spec.get("progressDeadlineSeconds"), "spec.progressDeadlineSeconds", 0,
                             INT32_MAX, default=600)
        if deadline <= min_ready:
            raise ValueError(f"spec.progressDeadlineSeconds: {deadline}: must be greater than "
                             "minReadySeconds")
        return cls(replicas=_replicas(spec), strategy={**strategy, "type": stype},
                   progress_deadline_seconds=deadline, **common)


class DaemonSet(_Workload):
    update_strategy: dict[str, Any] = Field(default_factory=lambda: {"type": "RollingUpdate"})
    revision_history_limit: int = 10

    @classmethod
    def from_k8s(cls, manifest: dict) -> "DaemonSet":
        common = cls._common("DaemonSet", manifest)
        spec = manifest.get("spec") or {}
        strategy = spec.get("updateStrategy") or {"type": "RollingUpdate"}
        stype = strategy.get("type") or "RollingUpdate"
        if stype == "RollingUpdate":
            check_rolling_update(strategy.get("rollingUpdate"), "spec.updateStrategy.rollingUpdate",
                                 default_surge=0, default_unavailable=1)
        elif stype != "OnDelete":
            raise ValueError(f"spec.updateStrategy.type: Unsupported value: {stype!r}: supported values: "
                             "\"OnDelete\", \"RollingUpdate\"")
        check_int(spec.get("minReadySeconds"), "spec.minReadySeconds", 0, INT32_MAX, default=0)
        return cls(update_strategy={**strategy, "type": stype}, **common)
