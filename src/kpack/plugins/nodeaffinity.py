"""NodeAffinity (filter + score): nodeSelector, required and preferred node affinity, the plugin's
addedAffinity, and the PreFilter node-name restriction."""
from __future__ import annotations

import functools
import re
from typing import Any, Optional

import numpy as np

from ..kernels import P_AFFINITY
from ..models import GPU_MODEL_LABEL, NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, Pod
from .registry import PluginArgsError, PluginSpec, check_fields

REASON = "node(s) didn't match Pod's node affinity/selector"
REASON_ADDED = "node(s) didn't match scheduler-enforced node affinity"
REASON_CONFLICT = "pod affinity terms conflict"
REASON_ABSENT = "node(s) didn't satisfy plugin(s) [NodeAffinity]"   # outside the PreFilter's node names

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")
_INT_RE = re.compile(r"^[+-]?[0-9]+$")


def parse_int64(s: str) -> Optional[int]:
    """Go strconv.ParseInt(s, 10, 64): None when it fails."""
    if not _INT_RE.fullmatch(s):
        return None
    v = int(s)
    return v if -(2**63) <= v < 2**63 else None


def parse_args(args: dict, where: str) -> dict:
    """NodeAffinityArgs: addedAffinity (required terms filter first, with their own reason; preferred
    terms add to the score)."""
    args = check_fields(args, SPEC.args_fields, where)
    added = args.get("addedAffinity")
    if added is None:
        return {"added_affinity": None}
    if not isinstance(added, dict):
        raise PluginArgsError(f"{where}.addedAffinity: must be a NodeAffinity mapping")
    for k in added:
        if k not in ("requiredDuringSchedulingIgnoredDuringExecution",
                     "preferredDuringSchedulingIgnoredDuringExecution"):
            raise PluginArgsError(f"{where}.addedAffinity.{k}: unknown field {k!r}")
    try:
        return {"added_affinity": NodeAffinity.from_k8s(added)}
    except ValueError as e:
        raise PluginArgsError(f"{where}.addedAffinity: {e}") from None


SPEC = PluginSpec("NodeAffinity", filter=True, score=True, default_weight=2, default_filter=True,
                  args_kind="NodeAffinityArgs", args_fields=frozenset({"addedAffinity"}),
                  parse_args=parse_args, slot=P_AFFINITY)


class NodeLabels:
    """A cluster's node label columns and the int64 parse of each distinct label value."""

    def __init__(self, cluster: Any):
        self.c = cluster

    # Parsed on first use (only Gt/Lt and matchFields read them): 5,000 hostname values cost ~4 ms a cluster.
    @functools.cached_property
    def val_ok(self) -> np.ndarray:
        return np.array([i is not None for i in self.ints] + [False], dtype=np.bool_)

    @functools.cached_property
    def val_int(self) -> np.ndarray:
        return np.array([i or 0 for i in self.ints] + [0], dtype=np.int64)

    @functools.cached_property
    def ints(self) -> list:
        return [parse_int64(v) for v in self.c.label_values]

    @functools.cached_property
    def names(self) -> np.ndarray:
        return np.array(self.c.node_names, dtype=object)

    def column(self, key: str) -> np.ndarray:
        k = self.c.label_key_index.get(key)
        if k is None:
            return np.full(len(self.c.node_names), -1, dtype=np.int32)
        return self.c.label_codes[:, k]

    def requirement(self, r: NodeSelectorRequirement) -> Optional[np.ndarray]:
        """Mask of nodes matching a label requirement; None when it does not parse (the term fails)."""
        if not _KEY_RE.fullmatch(r.key) or not all(_VALUE_RE.fullmatch(v) for v in r.values):
            return None
        col = self.column(r.key)
        op = r.operator
        if op in ("In", "NotIn"):
            if not r.values:
                return None
            codes = [self.c.label_value_index[v] for v in r.values if v in self.c.label_value_index]
            m = np.isin(col, np.array(codes, dtype=np.int32))
            return m if op == "In" else ~m
        if op in ("Exists", "DoesNotExist"):
            if r.values:
                return None
            return col >= 0 if op == "Exists" else col < 0
        if len(r.values) != 1 or parse_int64(r.values[0]) is None:
            return None
        v = parse_int64(r.values[0])
        ok = (col >= 0) & self.val_ok[col]          # col == -1 reads the padding entry (False)
        vals = self.val_int[col]
        return ok & (vals > v if op == "Gt" else vals < v)

    def field(self, r: NodeSelectorRequirement) -> Optional[np.ndarray]:
        if r.key != "metadata.name" or r.operator not in ("In", "NotIn") or len(r.values) != 1:
            return None
        m = self.names == r.values[0]
        return m if r.operator == "In" else ~m

    def term(self, t: NodeSelectorTerm) -> np.ndarray:
        n = len(self.c.node_names)
        if not t.match_expressions and not t.match_fields:
            return np.zeros(n, dtype=np.bool_)
        m = np.ones(n, dtype=np.bool_)
        for r in t.match_expressions:
            x = self.requirement(r)
            if x is None:
                return np.zeros(n, dtype=np.bool_)
            m &= x
        for r in t.match_fields:
            x = self.field(r)
            if x is None:
                return np.zeros(n, dtype=np.bool_)
            m &= x
        return m

    def terms(self, terms: list[NodeSelectorTerm]) -> np.ndarray:
        m = np.zeros(len(self.c.node_names), dtype=np.bool_)
        for t in terms:
            m |= self.term(t)
        return m


def prefilter_names(terms: list[NodeSelectorTerm]) -> Optional[set[str]]:
    """PreFilter: node names when every term pins metadata.name In, else None (no restriction)."""
    names: Optional[set[str]] = None
    for t in terms:
        term_names: Optional[set[str]] = None
        for r in t.match_fields:
            if r.key == "metadata.name" and r.operator == "In":
                term_names = set(r.values) if term_names is None else term_names & set(r.values)
        if term_names is None:
            return None
        names = term_names if names is None else names | term_names
    return names


def required_match(labels: NodeLabels, pod: Pod) -> np.ndarray:
    """bool [N]: nodeSelector AND required terms (AND the implicit GPU-model term of kpack.io/gpu-models)."""
    c = labels.c
    match = np.ones(len(c.node_names), dtype=np.bool_)
    for k, v in pod.node_selector.items():
        match &= labels.column(k) == c.label_value_index.get(v, -2)
    aff = pod.affinity
    if aff is not None and aff.required is not None:
        match &= labels.terms(aff.required)
    if pod.gpu_models and pod.gpu_count:
        codes = [c.label_value_index[m] for m in pod.gpu_models if m in c.label_value_index]
        match &= np.isin(labels.column(GPU_MODEL_LABEL), np.array(codes, dtype=np.int32))
    return match


def added_match(labels: NodeLabels, added: Optional[NodeAffinity]) -> Optional[np.ndarray]:
    """bool [N] of nodes the addedAffinity's required terms accept, None when it has none."""
    if added is None or added.required is None:
        return None
    return labels.terms(added.required)


def raw_score(labels: NodeLabels, pod: Pod, added: Optional[NodeAffinity]) -> Optional[np.ndarray]:
    """int64 [N]: sum of matching preferred-term weights (pod terms plus added terms); None when PreScore
    skips (no preferred terms at all). Terms of weight 0 are ignored; an empty preference matches nothing."""
    prefs = [p for p in (pod.affinity.preferred if pod.affinity is not None else []) if p.weight != 0]
    extra = [p for p in (added.preferred if added is not None else []) if p.weight != 0]
    if not prefs and not extra:
        return None
    raw = np.zeros(len(labels.c.node_names), dtype=np.int64)
    for p in prefs + extra:
        raw += p.weight * labels.term(p.preference)
    return raw
