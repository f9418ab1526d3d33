"""Scheduler profiles: kube-scheduler's default plugins and KubeSchedulerConfiguration v1 parsing, with
plugin names, extension points and args checked against kpack.plugins.REGISTRY."""
from __future__ import annotations

from typing import Any, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field

from .models import NodeAffinity
from .plugins import FILTER_ORDER, REGISTRY, PluginArgsError
from .resources import CPU, MEMORY
from .topology.config import InterPodArgs, SpreadArgs, TopologyArgs
from .validation import check_config_shape

# Upstream's default MultiPoint plugin list (getDefaultPlugins), in order, with score weights.
DEFAULT_MULTIPOINT = (("SchedulingGates", 0), ("PrioritySort", 0), ("NodeUnschedulable", 0), ("NodeName", 0),
                      ("TaintToleration", 3), ("NodeAffinity", 2), ("NodePorts", 0), ("NodeResourcesFit", 1),
                      ("VolumeRestrictions", 0), ("NodeVolumeLimits", 0), ("VolumeBinding", 0),
                      ("VolumeZone", 0), ("PodTopologySpread", 2), ("InterPodAffinity", 2),
                      ("DefaultPreemption", 0), ("NodeResourcesBalancedAllocation", 1), ("ImageLocality", 1),
                      ("DefaultBinder", 0))
FILTER_PLUGINS = FILTER_ORDER
# Score plugins kpack computes (kernel slots) and their default weights.
DEFAULT_SCORE_WEIGHTS = {n: w for n, w in DEFAULT_MULTIPOINT if w and REGISTRY[n].modelled}
GPU_SCORE_PLUGINS = tuple(n for n, s in REGISTRY.items() if s.score and s.engines == ("numba",))
STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")
CONFIG_FIELDS = ("apiVersion", "kind", "parallelism", "leaderElection", "clientConnection",
                 "healthzBindAddress", "metricsBindAddress", "enableProfiling", "enableContentionProfiling",
                 "percentageOfNodesToScore", "podInitialBackoffSeconds", "podMaxBackoffSeconds", "profiles",
                 "extenders", "delayCacheUntilActive")
EXTENSION_POINTS = ("multiPoint", "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore",
                    "score", "reserve", "permit", "preBind", "bind", "postBind")


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
    added_affinity: Optional[NodeAffinity] = None              # NodeAffinityArgs.addedAffinity
    spread_args: SpreadArgs = Field(default_factory=SpreadArgs)         # PodTopologySpreadArgs
    interpod_args: InterPodArgs = Field(default_factory=InterPodArgs)   # InterPodAffinityArgs
    plugin_args: dict[str, dict] = Field(default_factory=dict)   # validated args as given, by plugin name

    @property
    def topology_args(self) -> TopologyArgs:
        return TopologyArgs(self.spread_args, self.interpod_args)

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
        check_config_shape(cfg, ProfileError)   # wrong-typed sections: one-line error (kpack.validation)
        kind = cfg.get("kind", "KubeSchedulerConfiguration")
        if kind != "KubeSchedulerConfiguration":
            raise ProfileError(f"kind: expected KubeSchedulerConfiguration, got {kind!r}")
        api = cfg.get("apiVersion", "kubescheduler.config.k8s.io/v1")
        if api != "kubescheduler.config.k8s.io/v1":
            raise ProfileError(f"apiVersion: Unsupported value: {api!r}: supported values: "
                               "\"kubescheduler.config.k8s.io/v1\"")
        for k in cfg:
            if k not in CONFIG_FIELDS:
                raise ProfileError(f"{k}: unknown field {k!r}")
        profiles = cfg.get("profiles") or [{}]
        if not isinstance(profiles, list) or not all(isinstance(x, dict) for x in profiles):
            raise ProfileError("profiles: must be a list of profile mappings")
        # kpack schedules with the first profile; every profile is validated, as kube-scheduler does.
        built, names = [], set()
        for i, prof in enumerate(profiles):
            name = prof.get("schedulerName")
            if name is None and len(profiles) == 1:
                name = "default-scheduler"    # upstream defaults the name of a lone profile only
            if not name:
                raise ProfileError(f"profiles[{i}].schedulerName: Required value")
            if name in names:
                raise ProfileError(f"profiles[{i}].schedulerName: Duplicate value: {name!r}")
            names.add(name)
            built.append(cls._one_profile(cfg, prof, f"profiles[{i}]", name))
        return built[0]

    @classmethod
    def _one_profile(cls, cfg: dict, prof: dict, path: str, name: str) -> "Profile":
        for k in prof:
            if k not in ("schedulerName", "percentageOfNodesToScore", "plugins", "pluginConfig"):
                raise ProfileError(f"{path}.{k}: unknown field {k!r}")
        p = cls()
        p.scheduler_name = name
        pct = prof.get("percentageOfNodesToScore", cfg.get("percentageOfNodesToScore"))
        if pct is not None:
            where = f"{path}.percentageOfNodesToScore" if "percentageOfNodesToScore" in prof \
                else "percentageOfNodesToScore"
            if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
                raise ProfileError(f"{where}: Invalid value: {pct!r}: not in valid range [0-100]")
            p.percentage_of_nodes_to_score = pct or None
        p._apply_plugins(prof.get("plugins") or {}, f"{path}.plugins")
        p._apply_plugin_configs(prof.get("pluginConfig"), f"{path}.pluginConfig")
        p.validate_profile()
        return p

    # --- plugin sets -------------------------------------------------------------------------------
    def _apply_plugins(self, plugins: Any, base: str = "profiles[0].plugins") -> None:
        """Upstream's merge (mergePluginSet) of the custom sets into the default MultiPoint set, then the
        framework's MultiPoint expansion for the filter and score extension points and getScoreWeights:
        a specific extension point's entry overrides MultiPoint's, a re-listed default replaces the
        default entry, and a weight of 0 (or none) means 1."""
        if not isinstance(plugins, dict):
            raise ProfileError(f"{base}: must be a mapping of extension point to plugin set, got {plugins!r}")
        for k in plugins:
            if k not in EXTENSION_POINTS:
                raise ProfileError(f"{base}.{k}: unknown field {k!r}")
        sets = {}
        for point in EXTENSION_POINTS:
            sets[point] = self._plugin_set(plugins.get(point), f"{base}.{point}")
        multi = _merge([(n, w) for n, w in DEFAULT_MULTIPOINT], *sets["multiPoint"])
        seen: set[str] = set()
        for name, _ in multi:
            if name in seen:
                raise ProfileError(f"{base}.multiPoint.enabled: Duplicate value: {name!r}: plugin already "
                                   "registered")
            seen.add(name)
        filters = self._expand(multi, sets["filter"], "filter")
        scores = self._expand(multi, sets["score"], "score")
        weights: dict[str, int] = {}
        for name, w in sets["score"][0] + multi:
            if name in scores and name not in weights:
                weights[name] = w or 1
        # upstream evaluation order for the built-in filters; registered static filters after them
        self.filters = ([f for f in FILTER_ORDER if f in filters]
                        + [f for f in filters if REGISTRY[f].static_filter])
        self.score_weights = {n: w for n, w in weights.items() if REGISTRY[n].modelled}

    @staticmethod
    def _expand(multi: list, point_set: tuple, kind: str) -> list[str]:
        enabled, disabled = point_set
        names = [n for n, _ in enabled]
        if "*" in disabled:
            return names
        for n, _ in multi:
            if getattr(REGISTRY[n], kind) and n not in disabled and n not in names:
                names.append(n)
        return [n for n in names if getattr(REGISTRY[n], kind)]

    def _plugin_set(self, spec: Any, where: str) -> tuple[list[tuple[str, int]], set[str]]:
        if spec is None:
            return [], set()
        if not isinstance(spec, dict):
            raise ProfileError(f"{where}: must be a mapping with enabled/disabled lists, got {spec!r}")
        for k in spec:
            if k not in ("enabled", "disabled"):
                raise ProfileError(f"{where}.{k}: unknown field {k!r}")
        enabled, disabled = [], set()
        for part in ("disabled", "enabled"):
            items = spec.get(part) or []
            if not isinstance(items, list):
                raise ProfileError(f"{where}.{part}: must be a list of plugins, got {items!r}")
            for j, e in enumerate(items):
                at = f"{where}.{part}[{j}]"
                if not isinstance(e, dict):
                    raise ProfileError(f"{at}: must be a mapping {{name, weight}}, got {e!r}")
                for k in e:
                    if k not in ("name", "weight"):
                        raise ProfileError(f"{at}.{k}: unknown field {k!r}")
                name = e.get("name")
                if part == "disabled" and name == "*":
                    disabled.add("*")
                    continue
                self._check_name(name, f"{at}.name")
                if part == "disabled":
                    disabled.add(name)
                    continue
                weight = e.get("weight")
                if weight is not None and (not isinstance(weight, int) or isinstance(weight, bool)
                                           or weight < 0):
                    raise ProfileError(f"{at}.weight: Invalid value: {weight!r}: "
                                       "must be a non-negative integer")
                if weight is not None and weight > 100:
                    raise ProfileError(f"{at}.weight: Invalid value: {weight}: not in valid range [1-100]")
                enabled.append((name, weight or 0))
        return enabled, disabled

    @staticmethod
    def _check_name(name: Any, where: str) -> None:
        if not isinstance(name, str) or not name:
            raise ProfileError(f"{where}: Required value: plugin name")
        if name not in REGISTRY:
            raise ProfileError(f"{where}: Invalid value: {name!r}: unknown plugin")

    @property
    def static_scores(self) -> list[str]:
        """Enabled registered static score plugins (kpack.plugins.register), in weight order."""
        return [n for n in self.score_weights if n in REGISTRY and REGISTRY[n].static_score]

    # --- plugin args -------------------------------------------------------------------------------
    def _apply_plugin_configs(self, configs: Any, where: str) -> None:
        if configs is None:
            return
        if not isinstance(configs, list):
            raise ProfileError(f"{where}: must be a list of {{name, args}}, got {configs!r}")
        seen: dict[str, int] = {}
        for i, pc in enumerate(configs):
            at = f"{where}[{i}]"
            if not isinstance(pc, dict) or "name" not in pc:
                raise ProfileError(f"{at}.name: Required value")
            for k in pc:
                if k not in ("name", "args"):
                    raise ProfileError(f"{at}.{k}: unknown field {k!r}")
            name = pc["name"]
            self._check_name(name, f"{at}.name")
            if name in seen:
                raise ProfileError(f"{at}.name: Duplicate value: {name!r} (also {where}[{seen[name]}])")
            seen[name] = i
            spec = REGISTRY[name]
            args = pc.get("args")
            if spec.parse_args is None:
                if args:
                    raise ProfileError(f"{at}.args: plugin {name} takes no args")
                continue
            try:
                updates = spec.parse_args(args if args is not None else {}, f"{at}.args")
            except PluginArgsError as e:
                raise ProfileError(str(e)) from None
            for k, v in updates.items():
                setattr(self, k, v)
            self.plugin_args[name] = dict(args or {})

    def validate_profile(self) -> None:
        gpu = [n for n in self.score_weights if n in GPU_SCORE_PLUGINS]
        if len(gpu) > 1:
            raise ProfileError(f"plugins.score: at most one GPU policy plugin may be enabled, got {gpu}")
        unknown = [n for n in self.score_weights
                   if n not in DEFAULT_SCORE_WEIGHTS and n not in GPU_SCORE_PLUGINS
                   and not (n in REGISTRY and REGISTRY[n].static_score)]
        if unknown:
            raise ProfileError(f"plugins.score: Invalid value: {unknown[0]!r}: "
                               "not a score plugin kpack computes")
        if "NodeResourcesFit" in self.score_weights and not self.fit_resources:
            raise ProfileError("NodeResourcesFit.scoringStrategy.resources: Required value: "
                               "at least one resource is needed to score")
        if self.scoring_strategy == "RequestedToCapacityRatio" and not self.shape:
            raise ProfileError("NodeResourcesFit.scoringStrategy.requestedToCapacityRatio.shape: "
                               "Required value: at least one point must be specified")



def _merge(default: list[tuple[str, int]], enabled: list[tuple[str, int]], disabled: set[str]) -> list:
    """upstream mergePluginSet: defaults minus disabled (all with "*"), a re-listed default replaced in place
    by the custom entry, then the other custom entries in order."""
    custom = {n: (i, (n, w)) for i, (n, w) in enumerate(enabled)}
    out, replaced = [], set()
    if "*" not in disabled:
        for n, w in default:
            if n in disabled:
                continue
            if n in custom:
                i, entry = custom[n]
                replaced.add(i)
                out.append(entry)
            else:
                out.append((n, w))
    out += [e for i, e in enumerate(enabled) if i not in replaced]
    return out
