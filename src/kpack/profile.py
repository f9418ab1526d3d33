"""Scheduler profiles: kube-scheduler's default plugins and KubeSchedulerConfiguration v1 parsing."""
from __future__ import annotations

from typing import Any, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field

from .resources import CPU, MEMORY
from .topology import config as topology_config

# Filter plugins kpack evaluates, in upstream's default order (first failure wins per node).
FILTER_PLUGINS = ("NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodeResourcesFit",
                  "PodTopologySpread", "InterPodAffinity")
# Score plugins kpack computes and upstream's default weights.
DEFAULT_SCORE_WEIGHTS = {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1,
                         "NodeResourcesBalancedAllocation": 1, "PodTopologySpread": 2, "InterPodAffinity": 2}
# Default plugins kpack knows but does not model: they are no-ops for pods without the features they read
# (no topology spread constraints, no inter-pod affinity, no images, no volumes, no host ports).
UNMODELLED_PLUGINS = {"SchedulingGates", "PrioritySort", "NodePorts", "VolumeRestrictions", "NodeVolumeLimits",
                      "VolumeBinding", "VolumeZone", "ImageLocality",
                      "DefaultPreemption", "DefaultBinder", "DynamicResources"}
# GPU-sharing policies of the FGD paper (kpack.gpu.plugins), enabled as score plugins by these names.
GPU_SCORE_PLUGINS = ("RandomScore", "DotProductScore", "GpuClusteringScore", "GpuPackingScore", "BestFitScore",
                     "FGDScore")
KNOWN_PLUGINS = set(FILTER_PLUGINS) | set(DEFAULT_SCORE_WEIGHTS) | UNMODELLED_PLUGINS | set(GPU_SCORE_PLUGINS)
STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")


class ProfileError(ValueError):
    """An invalid KubeSchedulerConfiguration; the message names the field."""


class Profile(BaseModel):
    """Which filters and scores run, their weights and arguments. Compiles to integer codes for kernels."""
    model_config = ConfigDict(extra="forbid")

    scheduler_name: str = "default-scheduler"
    filters: list[str] = Field(default_factory=lambda: list(FILTER_PLUGINS))
    score_weights: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_SCORE_WEIGHTS))
    scoring_strategy: str = "LeastAllocated"
    fit_resources: list[tuple[str, int]] = Field(default_factory=lambda: [(CPU, 1), (MEMORY, 1)])
    shape: list[tuple[int, int]] = Field(default_factory=list)   # RTCR (utilization, score 0..10)
    balanced_resources: list[tuple[str, int]] = Field(default_factory=lambda: [(CPU, 1), (MEMORY, 1)])
    ignored_resources: list[str] = Field(default_factory=list)
    ignored_resource_groups: list[str] = Field(default_factory=list)
    percentage_of_nodes_to_score: Optional[int] = None        # None or 0: upstream adaptive default
    # PodTopologySpreadArgs / InterPodAffinityArgs (kpack.topology.config)
    topology_args: topology_config.TopologyArgs = Field(default_factory=topology_config.TopologyArgs)

    @classmethod
    def default(cls) -> "Profile":
        return cls()

    @classmethod
    def from_k8s(cls, cfg: Any) -> "Profile":
        """First profile of a KubeSchedulerConfiguration (dict or YAML text)."""
        if isinstance(cfg, str):
            try:
                cfg = yaml.safe_load(cfg)
            except yaml.YAMLError as e:
                raise ProfileError(f"KubeSchedulerConfiguration is not valid YAML: {e}") from None
        if not isinstance(cfg, dict):
            raise ProfileError("KubeSchedulerConfiguration must be a mapping")
        kind = cfg.get("kind", "KubeSchedulerConfiguration")
        if kind != "KubeSchedulerConfiguration":
            raise ProfileError(f"kind: expected KubeSchedulerConfiguration, got {kind!r}")
        profiles = cfg.get("profiles") or [{}]
        if not isinstance(profiles, list) or not isinstance(profiles[0], dict):
            raise ProfileError("profiles: must be a list of profile mappings")
        prof = profiles[0]
        p = cls()
        p.scheduler_name = prof.get("schedulerName") or "default-scheduler"
        pct = prof.get("percentageOfNodesToScore", cfg.get("percentageOfNodesToScore"))
        if pct is not None:
            where = "profiles[0].percentageOfNodesToScore" if "percentageOfNodesToScore" in prof \
                else "percentageOfNodesToScore"
            if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
                raise ProfileError(f"{where}: Invalid value: {pct!r}: not in valid range [0-100]")
            p.percentage_of_nodes_to_score = pct or None
        p._apply_plugins(prof.get("plugins") or {})
        for i, pc in enumerate(prof.get("pluginConfig") or []):
            p._apply_plugin_config(pc, f"profiles[0].pluginConfig[{i}]")
        p.validate_profile()
        return p

    # --- plugin sets -------------------------------------------------------------------------------
    def _apply_plugins(self, plugins: dict) -> None:
        filters = list(self.filters)
        scores = dict(self.score_weights)
        for point in ("multiPoint", "filter", "score"):
            spec = plugins.get(point) or {}
            base = f"profiles[0].plugins.{point}"
            for j, d in enumerate(spec.get("disabled") or []):
                name = d.get("name") if isinstance(d, dict) else None
                if name == "*":
                    if point in ("multiPoint", "filter"):
                        filters = []
                    if point in ("multiPoint", "score"):
                        scores = {}
                    continue
                self._check_name(name, f"{base}.disabled[{j}].name")
                if point in ("multiPoint", "filter") and name in filters:
                    filters.remove(name)
                if point in ("multiPoint", "score"):
                    scores.pop(name, None)
            for j, e in enumerate(spec.get("enabled") or []):
                name = e.get("name") if isinstance(e, dict) else None
                self._check_name(name, f"{base}.enabled[{j}].name")
                weight = e.get("weight")
                if weight is not None and (not isinstance(weight, int) or isinstance(weight, bool) or weight < 0):
                    raise ProfileError(f"{base}.enabled[{j}].weight: Invalid value: {weight!r}: "
                                       "must be a non-negative integer")
                if weight is not None and weight > 100:
                    raise ProfileError(f"{base}.enabled[{j}].weight: Invalid value: {weight}: "
                                       "not in valid range [1-100]")
                if point in ("multiPoint", "filter") and name in FILTER_PLUGINS and name not in filters:
                    filters.append(name)
                if point in ("multiPoint", "score") and (name in DEFAULT_SCORE_WEIGHTS or name in GPU_SCORE_PLUGINS):
                    # A weight of 0 or none takes the plugin's default (upstream sets 0 to 1, multiPoint
                    # keeps the default weight).
                    scores[name] = weight or DEFAULT_SCORE_WEIGHTS.get(name, 1)
        self.filters = [f for f in FILTER_PLUGINS if f in filters]   # upstream evaluation order
        self.score_weights = scores

    @staticmethod
    def _check_name(name: Any, where: str) -> None:
        if not isinstance(name, str) or not name:
            raise ProfileError(f"{where}: Required value: plugin name")
        if name not in KNOWN_PLUGINS:
            raise ProfileError(f"{where}: Invalid value: {name!r}: unknown plugin")

    # --- plugin args -------------------------------------------------------------------------------
    def _apply_plugin_config(self, pc: Any, where: str) -> None:
        if not isinstance(pc, dict) or "name" not in pc:
            raise ProfileError(f"{where}.name: Required value")
        name, args = pc["name"], pc.get("args") or {}
        self._check_name(name, f"{where}.name")
        where = f"{where}.args"
        if name == "NodeResourcesFit":
            self.ignored_resources = list(args.get("ignoredResources") or [])
            self.ignored_resource_groups = list(args.get("ignoredResourceGroups") or [])
            for k, g in enumerate(self.ignored_resource_groups):
                if "/" in g:
                    raise ProfileError(f"{where}.ignoredResourceGroups[{k}]: Invalid value: {g!r}: "
                                       "resource group name can't contain '/'")
            ss = args.get("scoringStrategy") or {}
            stype = ss.get("type", "LeastAllocated")
            if stype not in STRATEGIES:
                raise ProfileError(f"{where}.scoringStrategy.type: Unsupported value: {stype!r}: "
                                   f"supported values: {', '.join(STRATEGIES)}")
            self.scoring_strategy = stype
            if "resources" in ss:
                self.fit_resources = _resources(ss["resources"], f"{where}.scoringStrategy.resources")
            if stype == "RequestedToCapacityRatio":
                rtcr = ss.get("requestedToCapacityRatio") or {}
                self.shape = _shape(rtcr.get("shape"), f"{where}.scoringStrategy.requestedToCapacityRatio.shape")
        elif name in (topology_config.SPREAD, topology_config.INTERPOD):
            try:
                if name == topology_config.SPREAD:
                    self.topology_args.spread = topology_config.parse_spread_args(args, where)
                else:
                    self.topology_args.interpod = topology_config.parse_interpod_args(args, where)
            except ValueError as e:
                raise ProfileError(str(e)) from None
        elif name == "NodeResourcesBalancedAllocation":
            if "resources" in args:
                self.balanced_resources = _resources(args["resources"], f"{where}.resources")

    def validate_profile(self) -> None:
        gpu = [n for n in self.score_weights if n in GPU_SCORE_PLUGINS]
        if len(gpu) > 1:
            raise ProfileError(f"plugins.score: at most one GPU policy plugin may be enabled, got {gpu}")
        unknown = [n for n in self.score_weights if n not in DEFAULT_SCORE_WEIGHTS and n not in GPU_SCORE_PLUGINS]
        if unknown:
            raise ProfileError(f"plugins.score: Invalid value: {unknown[0]!r}: not a score plugin kpack computes")
        if "NodeResourcesFit" in self.score_weights and not self.fit_resources:
            raise ProfileError("NodeResourcesFit.scoringStrategy.resources: Required value: "
                               "at least one resource is needed to score")
        if self.scoring_strategy == "RequestedToCapacityRatio" and not self.shape:
            raise ProfileError("NodeResourcesFit.scoringStrategy.requestedToCapacityRatio.shape: "
                               "Required value: at least one point must be specified")


def _resources(items: Any, where: str) -> list[tuple[str, int]]:
    if not isinstance(items, list):
        raise ProfileError(f"{where}: must be a list of {{name, weight}}")
    out = []
    for i, r in enumerate(items):
        if not isinstance(r, dict) or not r.get("name"):
            raise ProfileError(f"{where}[{i}].name: Required value")
        w = r.get("weight", 1)
        if not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= 100:
            raise ProfileError(f"{where}[{i}].weight: Invalid value: {w!r}: resource weight of "
                               f"{r['name']} not in valid range [1, 100]")
        out.append((str(r["name"]), w))
    return out


def _shape(points: Any, where: str) -> list[tuple[int, int]]:
    if not isinstance(points, list) or not points:
        raise ProfileError(f"{where}: Required value: at least one point must be specified")
    out: list[tuple[int, int]] = []
    for i, pt in enumerate(points):
        u, s = (pt or {}).get("utilization"), (pt or {}).get("score")
        if not isinstance(u, int) or not 0 <= u <= 100:
            raise ProfileError(f"{where}[{i}].utilization: Invalid value: {u!r}: not in valid range [0, 100]")
        if out and u <= out[-1][0]:
            raise ProfileError(f"{where}[{i}].utilization: Invalid value: {u}: utilization values must be "
                               "sorted in increasing order")
        if not isinstance(s, int) or not 0 <= s <= 10:
            raise ProfileError(f"{where}[{i}].score: Invalid value: {s!r}: not in valid range [0, 10]")
        out.append((u, s))
    return out
