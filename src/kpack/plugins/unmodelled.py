"""Default kube-scheduler plugins kpack accepts but does not compute: no-ops for what kpack models
(volumes, host ports, images, gates, preemption, binding). Their args are still checked field by field."""
from __future__ import annotations

from .registry import PluginSpec, check_fields


def _fields_only(spec_name: str):
    def parse(args: dict, where: str) -> dict:
        check_fields(args, BY_NAME[spec_name].args_fields, where)
        return {}
    return parse


_ARGS = {
    "VolumeBinding": ("VolumeBindingArgs", {"bindTimeoutSeconds", "shape"}),
    "DefaultPreemption": ("DefaultPreemptionArgs",
                          {"minCandidateNodesPercentage", "minCandidateNodesAbsolute"}),
    "DynamicResources": ("DynamicResourcesArgs", {"filterTimeout", "bindingTimeout"}),
}
_FILTERS = ("NodePorts", "VolumeRestrictions", "NodeVolumeLimits", "VolumeBinding", "VolumeZone",
            "DynamicResources")
_OTHER = ("SchedulingGates", "PrioritySort", "DefaultPreemption", "DefaultBinder")
_SCORES = {"ImageLocality": 1, "VolumeBinding": 0}

SPECS = []
for _n in _FILTERS + _OTHER + ("ImageLocality",):
    kind, fields = _ARGS.get(_n, (None, set()))
    SPECS.append(PluginSpec(_n, filter=_n in _FILTERS,
                            score=_n in _SCORES, default_weight=_SCORES.get(_n, 0), args_kind=kind,
                            args_fields=frozenset(fields), parse_args=_fields_only(_n) if kind else None,
                            modelled=False))
BY_NAME = {s.name: s for s in SPECS}
