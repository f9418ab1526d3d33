"""Typed pod-level scheduling terms (label selectors, topology spread constraints, pod (anti-)affinity terms,
owner references) validated like kube-apiserver; imported by kpack.models, so it depends on pydantic only."""

from __future__ import annotations

import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LABEL_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
WHEN_UNSATISFIABLE = ("DoNotSchedule", "ScheduleAnyway")
INCLUSION_POLICIES = ("Honor", "Ignore")
HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEY = "topology.kubernetes.io/zone"

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")

# A compiled selector: None matches nothing (nil labelSelector); a tuple of (key, op, values) requirements
# ANDed, where () matches everything.
Requirement = tuple[str, str, tuple[str, ...]]
Selector = Optional[tuple[Requirement, ...]]


def label_key_error(key: Any) -> str | None:
    """Why `key` is not a valid label key (qualified name), or None."""
    if not isinstance(key, str) or not key:
        return "name part must be non-empty"
    if len(key.split("/")[-1]) > 63 or (("/" in key) and len(key.split("/")[0]) > 253):
        return "must be no more than 63 characters (253 for the prefix)"
    if not _KEY_RE.fullmatch(key):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character"
        )
    return None


def requirement_matches(req: Requirement, labels: dict[str, str]) -> bool:
    key, op, values = req
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    return key not in labels


def selector_matches(sel: Selector, labels: dict[str, str]) -> bool:
    """labels.Selector.Matches: None matches nothing, () everything."""
    if sel is None:
        return False
    return all(requirement_matches(r, labels) for r in sel)


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class LabelSelectorRequirement(_Api):
    key: str
    operator: str
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> LabelSelectorRequirement:
        err = label_key_error(self.key)
        if err:
            raise ValueError(f"key: Invalid value: {self.key!r}: {err}")
        if self.operator not in LABEL_SELECTOR_OPERATORS:
            raise ValueError(
                f"operator: Invalid value: {self.operator!r}: not a valid selector operator "
                f"(supported: {', '.join(LABEL_SELECTOR_OPERATORS)})"
            )
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(
                f"values: Required value: must be specified when `operator` is '{self.operator}'"
            )
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"values: Forbidden: may not be specified when `operator` is '{self.operator}'")
        for v in self.values:
            if not _VALUE_RE.fullmatch(v) or len(v) > 63:
                raise ValueError(
                    f"values: Invalid value: {v!r}: a valid label value must be 63 characters or less "
                    "and consist of alphanumeric characters, '-', '_' or '.'"
                )
        return self


class LabelSelector(_Api):
    """metav1.LabelSelector: matchLabels AND matchExpressions."""

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list, alias="matchExpressions")

    @field_validator("match_labels", mode="before")
    @classmethod
    def _labels(cls, v: Any) -> dict[str, str]:
        out = {str(k): str(x) for k, x in (v or {}).items()}
        for k, x in out.items():
            err = label_key_error(k)
            if err:
                raise ValueError(f"matchLabels: Invalid value: {k!r}: {err}")
            if not _VALUE_RE.fullmatch(x) or len(x) > 63:
                raise ValueError(f"matchLabels[{k}]: Invalid value: {x!r}: not a valid label value")
        return out

    def requirements(self) -> tuple[Requirement, ...]:
        """metav1.LabelSelectorAsSelector, sorted by key (labels.Selector keeps requirements sorted)."""
        reqs = [(k, "In", (v,)) for k, v in self.match_labels.items()]
        reqs += [(e.key, e.operator, tuple(sorted(set(e.values)))) for e in self.match_expressions]
        return tuple(sorted(reqs))

    def with_requirement(self, key: str, op: str, value: str) -> LabelSelector:
        exprs = list(self.match_expressions) + [
            LabelSelectorRequirement(key=key, operator=op, values=[value])
        ]
        return LabelSelector(match_labels=dict(self.match_labels), match_expressions=exprs)

    def has_requirement(self, key: str, op: str, value: str) -> bool:
        return any(e.key == key and e.operator == op and e.values == [value] for e in self.match_expressions)

    def keys(self) -> set[str]:
        return set(self.match_labels) | {e.key for e in self.match_expressions}


def compile_selector(sel: LabelSelector | None) -> Selector:
    return None if sel is None else sel.requirements()


def _merge_keys(
    sel: LabelSelector | None, keys: list[str], op: str, labels: dict[str, str], where: str
) -> LabelSelector | None:
    """kube-apiserver's merge of matchLabelKeys (op In) / mismatchLabelKeys (op NotIn) into the selector, for
    the keys the owner pod has. A requirement already merged (same key, op, value) is not added twice; a key
    the selector already constrains otherwise is the API server's "exists in both" error."""
    if not keys:
        return sel
    if sel is None:
        raise ValueError(f"{where}: Forbidden: must not be specified when labelSelector is not set")
    for i, k in enumerate(keys):
        err = label_key_error(k)
        if err:
            raise ValueError(f"{where}[{i}]: Invalid value: {k!r}: {err}")
        if k in labels and sel.has_requirement(k, op, labels[k]):
            continue
        if k in sel.keys():
            raise ValueError(
                f"{where}[{i}]: Invalid value: {k!r}: exists in both {where.split('.')[-1]} and labelSelector"
            )
    for k in keys:
        if k in labels and not sel.has_requirement(k, op, labels[k]):
            sel = sel.with_requirement(k, op, labels[k])
    return sel


class TopologySpreadConstraint(_Api):
    max_skew: int = Field(alias="maxSkew")
    topology_key: str = Field(alias="topologyKey")
    when_unsatisfiable: str = Field(alias="whenUnsatisfiable")
    label_selector: LabelSelector | None = Field(default=None, alias="labelSelector")
    min_domains: int | None = Field(default=None, alias="minDomains")
    node_affinity_policy: str | None = Field(default=None, alias="nodeAffinityPolicy")
    node_taints_policy: str | None = Field(default=None, alias="nodeTaintsPolicy")
    match_label_keys: list[str] = Field(default_factory=list, alias="matchLabelKeys")

    @model_validator(mode="after")
    def _check(self) -> TopologySpreadConstraint:
        if isinstance(self.max_skew, bool) or self.max_skew <= 0:
            raise ValueError(f"maxSkew: Invalid value: {self.max_skew}: must be greater than zero")
        if not self.topology_key:
            raise ValueError("topologyKey: Required value: can not be empty")
        err = label_key_error(self.topology_key)
        if err:
            raise ValueError(f"topologyKey: Invalid value: {self.topology_key!r}: {err}")
        if self.when_unsatisfiable not in WHEN_UNSATISFIABLE:
            raise ValueError(
                f"whenUnsatisfiable: Unsupported value: {self.when_unsatisfiable!r}: supported "
                f'values: "DoNotSchedule", "ScheduleAnyway"'
            )
        if self.min_domains is not None:
            if self.min_domains <= 0:
                raise ValueError(f"minDomains: Invalid value: {self.min_domains}: must be greater than zero")
            if self.when_unsatisfiable != "DoNotSchedule":
                raise ValueError(
                    f"minDomains: Invalid value: {self.min_domains}: can only use minDomains if "
                    "whenUnsatisfiable=DoNotSchedule"
                )
        for f, v in (
            ("nodeAffinityPolicy", self.node_affinity_policy),
            ("nodeTaintsPolicy", self.node_taints_policy),
        ):
            if v is not None and v not in INCLUSION_POLICIES:
                raise ValueError(f'{f}: Unsupported value: {v!r}: supported values: "Honor", "Ignore"')
        return self

    @property
    def hard(self) -> bool:
        return self.when_unsatisfiable == "DoNotSchedule"

    def merged(self, labels: dict[str, str], where: str) -> TopologySpreadConstraint:
        sel = _merge_keys(self.label_selector, self.match_label_keys, "In", labels, f"{where}.matchLabelKeys")
        return self if sel is self.label_selector else self.model_copy(update={"label_selector": sel})


def validate_constraints(
    cs: list[TopologySpreadConstraint], where: str = "spec.topologySpreadConstraints"
) -> None:
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(cs):
        k = (c.topology_key, c.when_unsatisfiable)
        if k in seen:
            raise ValueError(
                f"{where}[{i}]: Duplicate value: {{{c.topology_key!r}, {c.when_unsatisfiable!r}}}"
            )
        seen.add(k)


class PodAffinityTerm(_Api):
    label_selector: LabelSelector | None = Field(default=None, alias="labelSelector")
    namespaces: list[str] = Field(default_factory=list)
    topology_key: str = Field(default="", alias="topologyKey")
    namespace_selector: LabelSelector | None = Field(default=None, alias="namespaceSelector")
    match_label_keys: list[str] = Field(default_factory=list, alias="matchLabelKeys")
    mismatch_label_keys: list[str] = Field(default_factory=list, alias="mismatchLabelKeys")

    @model_validator(mode="after")
    def _check(self) -> PodAffinityTerm:
        if not self.topology_key:
            raise ValueError("topologyKey: Required value: can not be empty")
        err = label_key_error(self.topology_key)
        if err:
            raise ValueError(f"topologyKey: Invalid value: {self.topology_key!r}: {err}")
        both = set(self.match_label_keys) & set(self.mismatch_label_keys)
        if both:
            raise ValueError(
                f"matchLabelKeys: Invalid value: {sorted(both)[0]!r}: exists in both matchLabelKeys "
                "and mismatchLabelKeys"
            )
        return self

    def merged(self, labels: dict[str, str], where: str) -> PodAffinityTerm:
        sel = _merge_keys(self.label_selector, self.match_label_keys, "In", labels, f"{where}.matchLabelKeys")
        sel = _merge_keys(sel, self.mismatch_label_keys, "NotIn", labels, f"{where}.mismatchLabelKeys")
        return self if sel is self.label_selector else self.model_copy(update={"label_selector": sel})


class WeightedPodAffinityTerm(_Api):
    weight: int
    pod_affinity_term: PodAffinityTerm = Field(alias="podAffinityTerm")

    @field_validator("weight")
    @classmethod
    def _w(cls, v: int) -> int:
        if not 1 <= v <= 100:
            raise ValueError(f"weight: Invalid value: {v}: must be in the range 1-100")
        return v


class PodAffinity(_Api):
    """podAffinity or podAntiAffinity: required and preferred terms."""

    required: list[PodAffinityTerm] = Field(
        default_factory=list, alias="requiredDuringSchedulingIgnoredDuringExecution"
    )
    preferred: list[WeightedPodAffinityTerm] = Field(
        default_factory=list, alias="preferredDuringSchedulingIgnoredDuringExecution"
    )

    @field_validator("required", "preferred", mode="before")
    @classmethod
    def _none(cls, v: Any) -> Any:
        return v or []

    def merged(self, labels: dict[str, str], where: str) -> PodAffinity:
        req = [
            t.merged(labels, f"{where}.requiredDuringSchedulingIgnoredDuringExecution[{i}]")
            for i, t in enumerate(self.required)
        ]
        pref = [
            w
            if (
                m := w.pod_affinity_term.merged(
                    labels, f"{where}.preferredDuringSchedulingIgnoredDuringExecution[{i}].podAffinityTerm"
                )
            )
            is w.pod_affinity_term
            else w.model_copy(update={"pod_affinity_term": m})
            for i, w in enumerate(self.preferred)
        ]
        return self.model_copy(update={"required": req, "preferred": pref})


class OwnerReference(_Api):
    api_version: str = Field(default="", alias="apiVersion")
    kind: str
    name: str
    uid: str = ""
    controller: bool | None = None
    block_owner_deletion: bool | None = Field(default=None, alias="blockOwnerDeletion")


def controller_of(refs: list[OwnerReference]) -> OwnerReference | None:
    """metav1.GetControllerOf: the owner reference with controller: true."""
    for r in refs:
        if r.controller:
            return r
    return None


def term_where(kind: str, required: bool, i: int) -> str:
    part = (
        "requiredDuringSchedulingIgnoredDuringExecution"
        if required
        else "preferredDuringSchedulingIgnoredDuringExecution"
    )
    return f"spec.affinity.{kind}.{part}[{i}]"


Policy = Literal["Honor", "Ignore"]


def parse(cls, data: Any, where: str):
    """cls.model_validate(data) with errors prefixed by the manifest field path `where`."""
    from pydantic import ValidationError

    if isinstance(data, cls):
        return data
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(_camel(x) if isinstance(x, str) else f"[{x}]" for x in err["loc"]).replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        raise ValueError(f"{where}{'.' + loc if loc else ''}: {msg}".replace(": : ", ": ")) from None


def _camel(s: str) -> str:
    head, *rest = s.split("_")
    return head + "".join(w.title() for w in rest)
