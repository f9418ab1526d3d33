"""NodeResourcesFit (filter + score) and NodeResourcesBalancedAllocation (score): args and reasons.
The arithmetic lives in kpack.kernels (one implementation shared by every engine through the C ABI)."""
from __future__ import annotations

from typing import Any

from ..kernels import P_BALANCED, P_FIT
from .registry import PluginArgsError, PluginSpec, check_fields, int_in

DEFAULT_RESOURCES = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")
REASON_TOO_MANY_PODS = "Too many pods"


def reason_insufficient(resource: str) -> str:
    return f"Insufficient {resource}"


def _strings(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise PluginArgsError(f"{where}: must be a list of strings, got {v!r}")
    return list(v)


def _resources(items: Any, where: str, *, must_be_one: bool = False) -> list[tuple[str, int]]:
    if not isinstance(items, list):
        raise PluginArgsError(f"{where}: must be a list of {{name, weight}}")
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for i, r in enumerate(items):
        if not isinstance(r, dict) or not r.get("name"):
            raise PluginArgsError(f"{where}[{i}].name: Required value")
        for k in r:
            if k not in ("name", "weight"):
                raise PluginArgsError(f"{where}[{i}].{k}: unknown field {k!r}")
        name = r["name"]
        if not isinstance(name, str):
            raise PluginArgsError(f"{where}[{i}].name: Invalid value: {name!r}: must be a string")
        w = r.get("weight", 0)
        if not isinstance(w, int) or isinstance(w, bool):
            raise PluginArgsError(f"{where}[{i}].weight: Invalid value: {w!r}: must be an integer")
        w = w or 1                      # v1 defaulting: a weight of 0 (or none) is 1
        if name in seen:
            raise PluginArgsError(f"{where}[{i}].name: Duplicate value: {name!r}")
        seen.add(name)
        if must_be_one and w != 1:
            raise PluginArgsError(f"{where}[{i}].weight: Invalid value: {w}: must be 1")
        if not 1 <= w <= 100:
            raise PluginArgsError(f"{where}[{i}].weight: Invalid value: {w}: "
                                  f"resource weight of {name} not in valid range [1, 100]")
        out.append((name, w))
    return out


def _shape(points: Any, where: str) -> list[tuple[int, int]]:
    if not isinstance(points, list) or not points:
        raise PluginArgsError(f"{where}: Required value: at least one point must be specified")
    out: list[tuple[int, int]] = []
    for i, pt in enumerate(points):
        if not isinstance(pt, dict):
            raise PluginArgsError(f"{where}[{i}]: must be a mapping {{utilization, score}}")
        check_fields(pt, frozenset({"utilization", "score"}), f"{where}[{i}]")
        u = int_in(pt.get("utilization"), 0, 100, f"{where}[{i}].utilization")
        if out and u <= out[-1][0]:
            raise PluginArgsError(f"{where}[{i}].utilization: Invalid value: {u}: utilization values must be "
                                  "sorted in increasing order")
        s = int_in(pt.get("score"), 0, 10, f"{where}[{i}].score")
        out.append((u, s))
    return out


def parse_fit_args(args: dict, where: str) -> dict:
    """NodeResourcesFitArgs: ignoredResources, ignoredResourceGroups, scoringStrategy."""
    args = check_fields(args, FIT.args_fields, where)
    out: dict = {"ignored_resources": _strings(args.get("ignoredResources"), f"{where}.ignoredResources"),
                 "ignored_resource_groups": _strings(args.get("ignoredResourceGroups"),
                                                     f"{where}.ignoredResourceGroups")}
    for k, g in enumerate(out["ignored_resource_groups"]):
        if "/" in g:
            raise PluginArgsError(f"{where}.ignoredResourceGroups[{k}]: Invalid value: {g!r}: "
                                  "resource group name can't contain '/'")
    ss = args.get("scoringStrategy")
    if ss is None:
        return out
    ss = check_fields(ss, frozenset({"type", "resources", "requestedToCapacityRatio"}),
                      f"{where}.scoringStrategy")
    stype = ss.get("type", "")
    if stype not in STRATEGIES:
        raise PluginArgsError(f"{where}.scoringStrategy.type: Unsupported value: {stype!r}: "
                              f"supported values: {', '.join(STRATEGIES)}")
    out["scoring_strategy"] = stype
    # v1 defaulting: no (or an empty) resource list means cpu:1, memory:1.
    out["fit_resources"] = _resources(ss.get("resources") or DEFAULT_RESOURCES,
                                      f"{where}.scoringStrategy.resources")
    rtcr = ss.get("requestedToCapacityRatio")
    if stype == "RequestedToCapacityRatio":
        rtcr = check_fields(rtcr or {}, frozenset({"shape"}),
                            f"{where}.scoringStrategy.requestedToCapacityRatio")
        out["shape"] = _shape(rtcr.get("shape"), f"{where}.scoringStrategy.requestedToCapacityRatio.shape")
    return out


def parse_balanced_args(args: dict, where: str) -> dict:
    """NodeResourcesBalancedAllocationArgs: resources, each weight 1 (upstream rejects others)."""
    args = check_fields(args, BALANCED.args_fields, where)
    return {"balanced_resources": _resources(args.get("resources") or DEFAULT_RESOURCES, f"{where}.resources",
                                             must_be_one=True)}


FIT = PluginSpec("NodeResourcesFit", filter=True, score=True, default_weight=1, default_filter=True,
                 args_kind="NodeResourcesFitArgs",
                 args_fields=frozenset({"ignoredResources", "ignoredResourceGroups", "scoringStrategy"}),
                 parse_args=parse_fit_args, slot=P_FIT)
BALANCED = PluginSpec("NodeResourcesBalancedAllocation", score=True, default_weight=1,
                      args_kind="NodeResourcesBalancedAllocationArgs", args_fields=frozenset({"resources"}),
                      parse_args=parse_balanced_args, slot=P_BALANCED)
