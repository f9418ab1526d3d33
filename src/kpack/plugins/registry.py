"""The plugin registry's record type: what kpack knows about one kube-scheduler plugin."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

ENGINES_ALL = ("numba", "native", "indexed", "blocked")


class PluginArgsError(ValueError):
    """Invalid plugin args; the message names the field."""


@dataclass(frozen=True)
class PluginSpec:
    """One plugin: its extension points, default weight, args and how kpack computes it.

    `parse_args(args, where)` validates the plugin's args (a dict from pluginConfig) and returns the
    Profile fields it sets; `args_fields` are the args keys upstream's type accepts (anything else is an
    error naming the field). `slot` is the kernels' score slot (None: not a kernel score). `modelled`:
    False for default plugins that are no-ops for what kpack models (volumes, ports, images).
    `engines`: the engines that compute it (auto routes profiles around the others)."""
    name: str
    filter: bool = False
    score: bool = False
    default_weight: int = 0             # weight in the default profile (0: not a default score plugin)
    default_filter: bool = False        # a filter in the default profile
    args_kind: Optional[str] = None
    args_fields: frozenset = field(default_factory=frozenset)
    parse_args: Optional[Callable[[dict, str], dict]] = None
    slot: Optional[int] = None
    modelled: bool = True
    engines: tuple = ENGINES_ALL
    # Registered plugins outside the kernels' slots (kpack.plugins.register), evaluated per scheduling class:
    # static_filter(cluster, pod, labels) -> bool [N] of nodes it rejects, with `reason`;
    # static_score(cluster, pod, labels) -> int64 [N] raw scores (None: PreScore skips), normalised over the
    # feasible nodes as `normalize` says ("none", "max": 100*raw/max, "reverse": 100 - 100*raw/max).
    static_filter: Optional[Callable] = None
    reason: str = ""
    static_score: Optional[Callable] = None
    normalize: str = "none"


def check_fields(args: Any, fields: frozenset, where: str) -> dict:
    """args must be a mapping whose keys are all known (strict decoding, as kube-scheduler's config
    loader)."""
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise PluginArgsError(f"{where}: must be a mapping, got {type(args).__name__}")
    for k in args:
        if k not in fields and k not in ("apiVersion", "kind"):
            raise PluginArgsError(f"{where}.{k}: unknown field {k!r}")
    return args


def int_in(v: Any, lo: int, hi: int, where: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise PluginArgsError(f"{where}: Invalid value: {v!r}: not in valid range [{lo}, {hi}]")
    return v
