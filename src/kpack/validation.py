"""Edge validation: kube-apiserver field rules, kpack's value ranges and manifest shape checks."""
from __future__ import annotations

import math
import re
import warnings
from typing import Any, Mapping, Optional

from .k8s_fields import ROOTS, TYPES

# Every quantity kpack stores (allocatable, requests; cpu in millicores, the rest in base units) is at most
# 2**53 = 8Pi. Why: the C core works on exact doubles (BalancedAllocation's requested/allocatable) and
# rejects larger values, and the score arithmetic multiplies by MaxNodeScore (100): 2**53 * 100 < 2**60, so
# no int64 product or sum of weighted scores can overflow in any engine. Upstream's own int64 arithmetic
# ((capacity - requested) * 100) overflows from about 92P, so this bound never hides a valid upstream result.
MAX_QUANTITY = 2**53
# nvidia.com/gpu devices per node: kpack keeps a dense [nodes, max devices] table. Real nodes have at most
# 16 GPUs (DGX/HGX); 64 leaves room and matches the openb CSV reader.
MAX_GPU_DEVICES = 64
INT32_MAX = 2**31 - 1
# Replicas per Deployment/ReplicaSet: upstream allows int32; kpack expands every replica into a pod object,
# so it caps a workload at one million replicas (about 2 GB of pod objects) instead of running out of memory.
MAX_REPLICAS = 1_000_000

GPU_RESOURCE = "nvidia.com/gpu"

API_VERSIONS = {"Pod": "v1", "Node": "v1", "Namespace": "v1", "Service": "v1", "ReplicationController": "v1",
                "List": "v1", "Deployment": "apps/v1", "ReplicaSet": "apps/v1", "DaemonSet": "apps/v1",
                "StatefulSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1"}


class ManifestWarning(UserWarning):
    """A manifest field kpack does not know (most likely misspelled); kubectl warns the same way."""


# --- apimachinery/pkg/util/validation ---------------------------------------------------------------------
_QNAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
              "alphanumeric character")


_QUALIFIED: set[str] = set()   # names found valid (resource names, label keys repeat in every manifest)


def qualified_name_errors(value: str) -> list[str]:
    """upstream IsQualifiedName: an optional DNS-subdomain prefix and '/', then a name of at most 63 chars."""
    if type(value) is str and value in _QUALIFIED:
        return []
    errors = _qualified_name_errors(value)
    if not errors and len(_QUALIFIED) < 4096:
        _QUALIFIED.add(value)
    return errors


def _qualified_name_errors(value: str) -> list[str]:
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
        if len(prefix) > 253:
            return ["prefix part must be no more than 253 characters"]
        if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
            return ["prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                    "characters, '-' or '.', and must start and end with an alphanumeric character"]
    else:
        return [f"a qualified name {_QNAME_MSG} with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"]
    if not name:
        return ["name part must be non-empty"]
    if len(name) > 63:
        return ["name part must be no more than 63 characters"]
    if not _QNAME_RE.fullmatch(name):
        return [f"name part {_QNAME_MSG}"]
    return []


def label_value_errors(value: str) -> list[str]:
    """upstream IsValidLabelValue: empty, or at most 63 alphanumerics plus '-', '_', '.' inside."""
    if len(value) > 63:
        return ["must be no more than 63 characters"]
    if value and not _QNAME_RE.fullmatch(value):
        return [f"a valid label must be an empty string or {_QNAME_MSG}"]
    return []


_DNS1123_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                  "'.', and must start and end with an alphanumeric character")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
              "must start and end with an alphanumeric character")


def check_object_meta(meta: Any, *, namespaced: bool = True) -> tuple[str, str]:
    """upstream ValidateObjectMeta's name rules for a manifest: metadata.name a DNS-1123 subdomain (Pods,
    Nodes, workloads; with only generateName, that prefix minus a trailing '-'), metadata.namespace a
    DNS-1123 label.
    Returns (name, namespace); an empty name is left to the model's own error."""
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise ValueError(f"metadata: must be a mapping, got {_show(meta)}")
    name, field = meta.get("name"), "metadata.name"
    if not name and meta.get("generateName"):
        name, field = meta.get("generateName"), "metadata.generateName"
    name = "" if name is None else name
    if not isinstance(name, str):
        raise ValueError(f"{field}: must be a string, got {_show(name)}")
    shown = name[:-1] if field == "metadata.generateName" and name.endswith("-") else name
    if shown and len(shown) > 253:
        raise ValueError(f"{field}: Invalid value: {name!r}: must be no more than 253 characters")
    if shown and not _DNS1123_SUBDOMAIN_RE.fullmatch(shown):
        raise ValueError(f"{field}: Invalid value: {name!r}: {_SUBDOMAIN_MSG}")
    ns = meta.get("namespace") or "default"
    if not namespaced:
        return name, ns
    if not isinstance(ns, str):
        raise ValueError(f"metadata.namespace: must be a string, got {_show(ns)}")
    if len(ns) > 63:
        raise ValueError(f"metadata.namespace: Invalid value: {ns!r}: must be no more than 63 characters")
    if not _DNS1123_LABEL_RE.fullmatch(ns):
        raise ValueError(f"metadata.namespace: Invalid value: {ns!r}: {_LABEL_MSG}")
    return name, ns


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check_string_map(v: Any, field: str, *, labels: bool = True) -> dict[str, str]:
    """A map of string to string (labels, nodeSelector, annotations); with `labels`, keys and values follow
    the label syntax. Anything else (a YAML `true`, a null, a number, a list) is a field error."""
    if v is None:
        return {}
    if type(v) is not dict and not isinstance(v, Mapping):   # the type test first: ABC checks are slow
        raise ValueError(f"{field}: must be a mapping of string to string, got {_show(v)}")
    out: dict[str, str] = {}
    for k, x in v.items():
        if not isinstance(k, str):
            raise ValueError(f"{field}: key {_show(k)} must be a string")
        if not isinstance(x, str):
            hint = " (quote it in YAML)" if isinstance(x, (bool, int, float)) or x is None else ""
            raise ValueError(f"{field}[{k}]: value must be a string, got {_show(x)}{hint}")
        if labels:
            for msg in qualified_name_errors(k):
                raise ValueError(f"{field}: invalid key {k!r}: {msg}")
            for msg in label_value_errors(x):
                raise ValueError(f"{field}[{k}]: invalid value {x!r}: {msg}")
        out[k] = x
    return out


def check_bool(v: Any, field: str, default: bool = False) -> bool:
    """A JSON boolean; the API server rejects strings such as "false" (Python's bool("false") is True)."""
    if v is None:
        return default
    if not isinstance(v, bool):
        raise ValueError(f"{field}: must be a boolean (true or false), got {_show(v)}")
    return v


def check_int(v: Any, field: str, lo: int, hi: int, default: Optional[int] = None) -> int:
    """An integer in [lo, hi]; integral floats (2.0) are accepted as JSON numbers, 1.7 and "high" are not."""
    if v is None and default is not None:
        return default
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{field}: must be an integer, got {_show(v)}")
    if not lo <= v <= hi:
        raise ValueError(f"{field}: {v} is out of range: must be in [{lo}, {hi}]")
    return v


def check_quantity(name: str, value: int, field: str) -> int:
    """kpack's range rule for one stored quantity (base units, cpu in millicores)."""
    if value > MAX_QUANTITY:
        unit = "millicores" if name == "cpu" else "base units"
        raise ValueError(f"{field}[{name}]: {value} {unit} is above kpack's limit of 2**53 = {MAX_QUANTITY} "
                         f"(8Pi; the largest value every engine computes exactly)")
    return value


def check_gpu_devices(count: int, field: str) -> int:
    if count > MAX_GPU_DEVICES:
        raise ValueError(f"{field}[{GPU_RESOURCE}]: {count} devices is above kpack's limit of "
                         f"{MAX_GPU_DEVICES} GPU devices per node")
    return count


# --- selectors ----------------------------------------------------------------------------------------------
def _list_of_str(v: Any, field: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise ValueError(f"{field}: must be a list of strings, got {_show(v)}")
    for i, x in enumerate(v):
        if not isinstance(x, str):
            raise ValueError(f"{field}[{i}]: must be a string, got {_show(x)}")
    return v


def _mapping(v: Any, field: str) -> Mapping:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise ValueError(f"{field}: must be a mapping, got {_show(v)}")
    return v


def _list(v: Any, field: str) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        raise ValueError(f"{field}: must be a list, got {_show(v)}")
    return v


def node_selector_requirement_errors(key: Any, operator: Any, values: list, *,
                                     fields: bool = False) -> list[str]:
    """upstream ValidateNodeSelectorRequirement (matchExpressions) / validateNodeFieldSelectorRequirement
    (matchFields): ["<sub-field>: <message>", ...]."""
    errs = []
    if fields:
        if operator not in ("In", "NotIn"):
            errs.append(f"operator: {operator!r} is not a valid selector operator (matchFields: In or NotIn)")
        elif len(values) != 1:
            errs.append("values: must be only one value when `operator` is 'In' or 'NotIn' for node field "
                        "selector")
        if key != "metadata.name":
            errs.append(f"key: {key!r} is not a valid field selector key (only metadata.name)")
        return errs
    if operator in ("In", "NotIn"):
        if not values:
            errs.append("values: must be specified when `operator` is 'In' or 'NotIn'")
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.append("values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    elif operator in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append("values: must be specified single value when `operator` is 'Lt' or 'Gt'")
    else:
        errs.append(f"operator: {operator!r} is not a valid selector operator")
    if not isinstance(key, str):
        errs.append(f"key: must be a string, got {_show(key)}")
    else:
        errs.extend(f"key: {key!r}: {m}" for m in qualified_name_errors(key))
    return errs


def check_node_selector_terms(terms: Any, field: str) -> None:
    for i, t in enumerate(_list(terms, field)):
        tf = f"{field}[{i}]"
        t = _mapping(t, tf)
        for sub, is_fields in (("matchExpressions", False), ("matchFields", True)):
            for j, r in enumerate(_list(t.get(sub), f"{tf}.{sub}")):
                rf = f"{tf}.{sub}[{j}]"
                r = _mapping(r, rf)
                values = _list_of_str(r.get("values"), f"{rf}.values")
                for msg in node_selector_requirement_errors(r.get("key"), r.get("operator"), values,
                                                            fields=is_fields):
                    raise ValueError(f"{rf}.{msg}")


def check_node_affinity(aff: Any, field: str) -> None:
    """spec.affinity.nodeAffinity as the API server validates it (field paths as in the manifest)."""
    aff = _mapping(aff, field)
    req = aff.get("requiredDuringSchedulingIgnoredDuringExecution")
    if req is not None:
        rf = f"{field}.requiredDuringSchedulingIgnoredDuringExecution"
        req = _mapping(req, rf)
        terms = _list(req.get("nodeSelectorTerms"), f"{rf}.nodeSelectorTerms")
        if not terms:
            raise ValueError(f"{rf}.nodeSelectorTerms: must have at least one node selector term")
        check_node_selector_terms(terms, f"{rf}.nodeSelectorTerms")
    pf = f"{field}.preferredDuringSchedulingIgnoredDuringExecution"
    for i, p in enumerate(_list(aff.get("preferredDuringSchedulingIgnoredDuringExecution"), pf)):
        p = _mapping(p, f"{pf}[{i}]")
        check_node_selector_terms([p.get("preference") or {}], f"{pf}[{i}].preference")
        check_int(p.get("weight"), f"{pf}[{i}].weight", 1, 100)


def check_label_selector(sel: Any, field: str) -> Mapping:
    """metav1 LabelSelector: matchLabels as labels; matchExpressions with In/NotIn (values) or
    Exists/DoesNotExist (no values)."""
    sel = _mapping(sel, field)
    check_string_map(sel.get("matchLabels"), f"{field}.matchLabels")
    for i, r in enumerate(_list(sel.get("matchExpressions"), f"{field}.matchExpressions")):
        rf = f"{field}.matchExpressions[{i}]"
        r = _mapping(r, rf)
        op = r.get("operator")
        values = _list_of_str(r.get("values"), f"{rf}.values")
        if op in ("In", "NotIn"):
            if not values:
                raise ValueError(f"{rf}.values: must be specified when `operator` is 'In' or 'NotIn'")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                raise ValueError(f"{rf}.values: may not be specified when `operator` is 'Exists' or "
                                 "'DoesNotExist'")
        else:
            raise ValueError(f"{rf}.operator: {op!r} is not a valid label selector operator")
        key = r.get("key")
        if not isinstance(key, str):
            raise ValueError(f"{rf}.key: must be a string, got {_show(key)}")
        for msg in qualified_name_errors(key):
            raise ValueError(f"{rf}.key: {key!r}: {msg}")
    return sel


def selector_matches(sel: Mapping, labels: Mapping[str, str]) -> bool:
    """Whether a validated LabelSelector matches `labels` (an empty selector matches everything)."""
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for r in sel.get("matchExpressions") or []:
        k, op, values = r["key"], r["operator"], r.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and k in labels and labels[k] in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def check_int_or_percent(v: Any, field: str) -> tuple[int, bool]:
    """upstream ValidatePositiveIntOrPercent: (value, is_percent)."""
    if isinstance(v, bool):
        raise ValueError(f"{field}: must be an integer or percentage (e.g '5%'), got {_show(v)}")
    if isinstance(v, int):
        if v < 0:
            raise ValueError(f"{field}: must be greater than or equal to 0, got {v}")
        return v, False
    if isinstance(v, str) and re.fullmatch(r"[0-9]+%", v):
        return int(v[:-1]), True
    raise ValueError(f"{field}: must be an integer or percentage (e.g '5%'), got {_show(v)}")


def check_rolling_update(ru: Any, field: str, *, default_surge: Any, default_unavailable: Any) -> None:
    """ValidateRollingUpdateDeployment / validateRollingUpdateDaemonSet after API defaulting."""
    ru = _mapping(ru, field)
    surge = ru.get("maxSurge", default_surge)
    unavailable = ru.get("maxUnavailable", default_unavailable)
    s, s_pct = check_int_or_percent(surge, f"{field}.maxSurge")
    u, u_pct = check_int_or_percent(unavailable, f"{field}.maxUnavailable")
    if u_pct and u > 100:
        raise ValueError(f"{field}.maxUnavailable: {unavailable!r}: must not be greater than 100%")
    if s_pct and s > 100 and default_surge == "25%":
        raise ValueError(f"{field}.maxSurge: {surge!r}: must not be greater than 100%")
    if s == 0 and u == 0:
        raise ValueError(f"{field}.maxUnavailable: may not be 0 when `maxSurge` is 0")


# --- manifest shape -----------------------------------------------------------------------------------------
def check_shape(kind: str, manifest: Mapping, *, warn: bool = True) -> list[str]:
    """Walk a manifest against the Kubernetes schema of `kind`: a section of the wrong type (`spec: hello`,
    containers as a mapping) is a ValueError naming the field; unknown fields are returned (and warned
    about as ManifestWarning when `warn`), as kubectl's server-side field validation does."""
    root = ROOTS.get(kind)
    if root is None:
        return []
    unknown: list[str] = []
    _walk(root, manifest, "", unknown)
    if warn:
        name = (manifest.get("metadata") or {}).get("name", "?") if isinstance(manifest.get("metadata"),
                                                                              Mapping) else "?"
        for path in unknown:
            warnings.warn(f'{kind}/{name}: unknown field "{path}"', ManifestWarning, stacklevel=3)
    return unknown


def _walk(type_name: str, obj: Any, path: str, unknown: list[str]) -> None:
    fields = TYPES[type_name]
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise ValueError(f"{path or '<object>'}: must be a mapping (an object), got {_show(obj)}")
    for k, v in obj.items():
        sub = f"{path}.{k}" if path else str(k)
        if k not in fields:
            unknown.append(sub)
            continue
        t = fields[k]
        if not t or v is None:
            continue
        if t == "bool":
            check_bool(v, sub)
        elif t == "{}":
            if type(v) is not dict and not isinstance(v, Mapping):
                raise ValueError(f"{sub}: must be a mapping, got {_show(v)}")
        elif t.startswith("[]"):
            if not isinstance(v, list):
                raise ValueError(f"{sub}: must be a list, got {_show(v)}")
            if t != "[]":
                for i, item in enumerate(v):
                    _walk(t[2:], item, f"{sub}[{i}]", unknown)
        else:
            _walk(t, v, sub, unknown)


def check_api_version(kind: str, api_version: Any) -> None:
    """apiVersion per kind (v1 Pod/Node/..., apps/v1 workloads, batch/v1 Job/CronJob); a missing one is
    accepted (kpack reads hand-written test manifests)."""
    want = API_VERSIONS.get(kind)
    if api_version is None or want is None:
        return
    if api_version != want:
        raise ValueError(f"apiVersion: {api_version!r} is not valid for kind {kind} (expected {want!r})")


# --- KubeSchedulerConfiguration shape ---------------------------------------------------------------------
_EXTENSION_POINTS = ("multiPoint", "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore",
                     "score", "reserve", "permit", "preBind", "bind", "postBind")
SCHEDULER_CONFIG_API_VERSION = "kubescheduler.config.k8s.io/v1"


def check_config_shape(cfg: Mapping, error: type[Exception] = ValueError) -> None:
    """Section types of a KubeSchedulerConfiguration (profiles, plugins, pluginConfig), so a wrong-typed
    section (`plugins: hello`) is a one-line `error` naming the field rather than a crash deeper in."""
    try:
        api = cfg.get("apiVersion")
        if api is not None and api != SCHEDULER_CONFIG_API_VERSION:
            raise ValueError(f"apiVersion: {api!r} is not supported (expected "
                             f"{SCHEDULER_CONFIG_API_VERSION!r})")
        for i, prof in enumerate(_list(cfg.get("profiles"), "profiles")):
            pf = f"profiles[{i}]"
            prof = _mapping(prof, pf)
            name = prof.get("schedulerName")
            if name is not None and not isinstance(name, str):
                raise ValueError(f"{pf}.schedulerName: must be a string, got {_show(name)}")
            plugins = _mapping(prof.get("plugins"), f"{pf}.plugins")
            for point, sets in plugins.items():
                xf = f"{pf}.plugins.{point}"
                if point not in _EXTENSION_POINTS:
                    points = ", ".join(_EXTENSION_POINTS)
                    raise ValueError(f"{xf}: unknown field (extension points: {points})")
                sets = _mapping(sets, xf)
                for which, entries in sets.items():
                    if which not in ("enabled", "disabled"):
                        raise ValueError(f"{xf}.{which}: unknown field (expected enabled or disabled)")
                    for j, e in enumerate(_list(entries, f"{xf}.{which}")):
                        e = _mapping(e, f"{xf}.{which}[{j}]")
                        if not isinstance(e.get("name"), str) or not e.get("name"):
                            raise ValueError(f"{xf}.{which}[{j}].name: must be a non-empty string, "
                                             f"got {_show(e.get('name'))}")
                        if e.get("weight") is not None:
                            check_int(e.get("weight"), f"{xf}.{which}[{j}].weight", -INT32_MAX - 1, INT32_MAX)
            for j, pc in enumerate(_list(prof.get("pluginConfig"), f"{pf}.pluginConfig")):
                cf = f"{pf}.pluginConfig[{j}]"
                pc = _mapping(pc, cf)
                if not isinstance(pc.get("name"), str) or not pc.get("name"):
                    raise ValueError(f"{cf}.name: must be a non-empty string, got {_show(pc.get('name'))}")
                _mapping(pc.get("args"), f"{cf}.args")
    except ValueError as e:
        if error is ValueError:
            raise
        raise error(str(e)) from None
