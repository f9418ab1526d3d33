"""PodTopologySpread and InterPodAffinity: registry entries (args parsed by kpack.topology.config; the plugins
themselves run on kpack.topology's path, which `auto` routes the pods they affect to)."""

from __future__ import annotations

from ..topology import config as C
from .registry import PluginArgsError, PluginSpec, check_fields

SPREAD_FIELDS = frozenset({"defaultConstraints", "defaultingType"})
INTERPOD_FIELDS = frozenset({"hardPodAffinityWeight", "ignorePreferredTermsOfExistingPods"})


def parse_spread_args(args: dict, where: str) -> dict:
    args = check_fields(args, SPREAD_FIELDS, where)
    try:
        return {"spread_args": C.parse_spread_args(args, where)}
    except PluginArgsError:
        raise
    except ValueError as e:
        raise PluginArgsError(str(e)) from None


def parse_interpod_args(args: dict, where: str) -> dict:
    args = check_fields(args, INTERPOD_FIELDS, where)
    try:
        return {"interpod_args": C.parse_interpod_args(args, where)}
    except ValueError as e:
        raise PluginArgsError(str(e)) from None


SPREAD = PluginSpec(
    C.SPREAD,
    filter=True,
    score=True,
    default_weight=C.DEFAULT_WEIGHT,
    default_filter=True,
    args_kind="PodTopologySpreadArgs",
    args_fields=SPREAD_FIELDS,
    parse_args=parse_spread_args,
)
INTERPOD = PluginSpec(
    C.INTERPOD,
    filter=True,
    score=True,
    default_weight=C.DEFAULT_WEIGHT,
    default_filter=True,
    args_kind="InterPodAffinityArgs",
    args_fields=INTERPOD_FIELDS,
    parse_args=parse_interpod_args,
)
SPECS = [SPREAD, INTERPOD]
