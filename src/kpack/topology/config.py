"""PodTopologySpreadArgs and InterPodAffinityArgs: defaults and KubeSchedulerConfiguration validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .api import HOSTNAME_KEY, ZONE_KEY, TopologySpreadConstraint, parse

SPREAD = "PodTopologySpread"
INTERPOD = "InterPodAffinity"
DEFAULT_WEIGHT = 2


@dataclass(frozen=True)
class SpreadArgs:
    defaulting_type: str = "System"
    default_constraints: tuple[TopologySpreadConstraint, ...] = ()

    def defaults(self) -> tuple[TopologySpreadConstraint, ...]:
        """The constraints pods without their own get (before their selector is built)."""
        if self.defaulting_type == "System":
            return SYSTEM_DEFAULT_CONSTRAINTS
        return self.default_constraints


SYSTEM_DEFAULT_CONSTRAINTS = (
    TopologySpreadConstraint(max_skew=3, topology_key=HOSTNAME_KEY, when_unsatisfiable="ScheduleAnyway"),
    TopologySpreadConstraint(max_skew=5, topology_key=ZONE_KEY, when_unsatisfiable="ScheduleAnyway"),
)


@dataclass(frozen=True)
class InterPodArgs:
    hard_pod_affinity_weight: int = 1
    ignore_preferred_terms_of_existing_pods: bool = False


@dataclass
class TopologyArgs:
    spread: SpreadArgs = field(default_factory=SpreadArgs)
    interpod: InterPodArgs = field(default_factory=InterPodArgs)


def parse_spread_args(args: Any, where: str) -> SpreadArgs:
    """PodTopologySpreadArgs (validation_pluginargs.go); raises ValueError naming the field."""
    if not isinstance(args, dict):
        raise ValueError(f"{where}: must be a mapping")
    dtype = args.get("defaultingType", "System") or "System"
    if dtype not in ("System", "List"):
        raise ValueError(
            f'{where}.defaultingType: Unsupported value: {dtype!r}: supported values: "List", "System"'
        )
    raw = args.get("defaultConstraints") or []
    if not isinstance(raw, list):
        raise ValueError(f"{where}.defaultConstraints: must be a list")
    if dtype == "System" and raw:
        raise ValueError(
            f'{where}.defaultingType: Invalid value: "System": when .defaultConstraints are not empty'
        )
    out = []
    seen = set()
    for i, c in enumerate(raw):
        w = f"{where}.defaultConstraints[{i}]"
        if isinstance(c, dict) and c.get("labelSelector") is not None:
            raise ValueError(
                f"{w}.labelSelector: Forbidden: constraint must not define a selector, as they "
                "deduced for each pod"
            )
        if isinstance(c, dict) and isinstance(c.get("maxSkew"), int) and c["maxSkew"] <= 0:
            raise ValueError(f"{w}.maxSkew: Invalid value: {c['maxSkew']}: not in valid range (0, inf)")
        tc = parse(TopologySpreadConstraint, c, w)
        k = (tc.topology_key, tc.when_unsatisfiable)
        if k in seen:
            raise ValueError(f"{w}: Duplicate value: {{{tc.topology_key!r}, {tc.when_unsatisfiable!r}}}")
        seen.add(k)
        out.append(tc)
    return SpreadArgs(dtype, tuple(out))


def parse_interpod_args(args: Any, where: str) -> InterPodArgs:
    if not isinstance(args, dict):
        raise ValueError(f"{where}: must be a mapping")
    w = args.get("hardPodAffinityWeight", 1)
    if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 100:
        raise ValueError(f"{where}.hardPodAffinityWeight: Invalid value: {w!r}: not in valid range [0, 100]")
    ig = args.get("ignorePreferredTermsOfExistingPods", False)
    if not isinstance(ig, bool):
        raise ValueError(
            f"{where}.ignorePreferredTermsOfExistingPods: Invalid value: {ig!r}: must be a boolean"
        )
    return InterPodArgs(w, ig)
