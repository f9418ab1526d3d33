"""kube-scheduler plugins: one module per plugin family, and REGISTRY, name -> PluginSpec."""
from __future__ import annotations

from . import (
    gpuscore,
    nodeaffinity,
    nodename,
    noderesources,
    nodeunschedulable,
    tainttoleration,
    topology,
    unmodelled,
)
from .registry import PluginArgsError, PluginSpec

REGISTRY: dict[str, PluginSpec] = {s.name: s for s in [
    nodeunschedulable.SPEC,
    nodename.SPEC,
    tainttoleration.SPEC,
    nodeaffinity.SPEC,
    noderesources.FIT,
    noderesources.BALANCED,
    *gpuscore.SPECS,
    *topology.SPECS,
    *[s for s in unmodelled.SPECS if s.name not in (topology.SPREAD.name, topology.INTERPOD.name)],
]}

# Upstream's filter order (the first failing plugin gives a node's status); kpack evaluates these.
FILTER_ORDER = ("NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodeResourcesFit",
                "PodTopologySpread", "InterPodAffinity")


NORMALIZE_MODES = {"none": 0, "max": 1, "reverse": 2}


def register(spec: PluginSpec) -> None:
    """Add a plugin: a static filter and/or a static score computed per scheduling class (see PluginSpec).
    Its name must be new. Profiles then enable it by name like any plugin; the numba engine computes it
    (auto routes to numba, other engines refuse with an error naming the plugin)."""
    if spec.name in REGISTRY:
        raise ValueError(f"plugin {spec.name!r} is already registered")
    if spec.filter != (spec.static_filter is not None) or spec.score != (spec.static_score is not None):
        raise ValueError(f"plugin {spec.name!r}: a registered filter needs static_filter, "
                         "a score static_score")
    if spec.normalize not in NORMALIZE_MODES:
        raise ValueError(f"plugin {spec.name!r}: normalize must be one of {sorted(NORMALIZE_MODES)}")
    REGISTRY[spec.name] = spec


def unregister(name: str) -> None:
    """Remove a plugin added with `register` (built-in plugins stay)."""
    spec = REGISTRY.get(name)
    if spec is None or (spec.static_filter is None and spec.static_score is None):
        raise ValueError(f"plugin {name!r} was not added with register")
    del REGISTRY[name]


__all__ = ["FILTER_ORDER", "NORMALIZE_MODES", "REGISTRY", "PluginArgsError", "PluginSpec", "register",
           "unregister"]
