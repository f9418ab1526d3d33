"""kube-scheduler plugins: one module per plugin family, and REGISTRY, name -> PluginSpec."""
from __future__ import annotations

from . import gpuscore, nodeaffinity, nodename, noderesources, nodeunschedulable, tainttoleration, unmodelled
from .registry import PluginArgsError, PluginSpec

REGISTRY: dict[str, PluginSpec] = {s.name: s for s in [
    nodeunschedulable.SPEC,
    nodename.SPEC,
    tainttoleration.SPEC,
    nodeaffinity.SPEC,
    noderesources.FIT,
    noderesources.BALANCED,
    *gpuscore.SPECS,
    *unmodelled.SPECS,
]}

# Upstream's filter order (the first failing plugin gives a node's status); kpack evaluates these.
FILTER_ORDER = ("NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodeResourcesFit")


def register(spec: PluginSpec) -> None:
    """Add a plugin (tests and extensions). Its name must be new."""
    if spec.name in REGISTRY:
        raise ValueError(f"plugin {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec


__all__ = ["FILTER_ORDER", "REGISTRY", "PluginArgsError", "PluginSpec", "register"]
