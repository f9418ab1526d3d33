"""Reference scheduler: a slow, obviously-correct, pure-Python re-derivation of kube-scheduler's
decisions as documented in docs/semantics.md (sections 0-7) and kpack's
documented tie/sampling contracts.

It deliberately shares NO code with kpack's kernels or predicates: it only reads the plain
attributes of kpack.Node / kpack.Pod / kpack.Profile objects.  Everything is per pod, per node,
per plugin, with Python ints (Go int64 semantics) and Go float64 where upstream uses floats.

    ref = ReferenceScheduler(profile, seed)
    names, reasons = ref.schedule(nodes, bound_pods, pods)
    ex = ref.explain(nodes, bound_pods, pod)
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Optional

MASK64 = (1 << 64) - 1
MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5

CPU, MEMORY, EPHEMERAL, PODS = "cpu", "memory", "ephemeral-storage", "pods"
UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"

R_UNSCHEDULABLE = "node(s) were unschedulable"
R_NODE_NAME = "node(s) didn't match the requested node name"
R_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
R_CONFLICT = "pod affinity terms conflict"
R_ABSENT = "node(s) didn't satisfy plugin(s) [NodeAffinity]"

FILTER_ORDER = ("NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodeResourcesFit",
                "PodTopologySpread", "InterPodAffinity")
SCORE_PLUGINS = ("NodeResourcesFit", "NodeResourcesBalancedAllocation", "NodeAffinity", "TaintToleration",
                 "PodTopologySpread", "InterPodAffinity")


# --------------------------------------------------------------------------------------------------
# Go helpers
# --------------------------------------------------------------------------------------------------
def go_div(a: int, b: int) -> int:
    """Go integer division (truncates toward zero), exact on Python ints."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def go_round(x: float) -> int:
    """Go math.Round: half away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def splitmix64_next(state: int) -> tuple[int, int]:
    """(new_state, output) of Vigna's splitmix64, all arithmetic mod 2**64."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def num_feasible_nodes_to_find(n: int, pct: Optional[int]) -> int:
    """docs/semantics.md section 7."""
    if n < MIN_FEASIBLE_NODES_TO_FIND:
        return n
    p = pct or 0
    if p == 0:
        p = 50 - go_div(n, 125)
        if p < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND:
            p = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND
    num = go_div(n * p, 100)
    return MIN_FEASIBLE_NODES_TO_FIND if num < MIN_FEASIBLE_NODES_TO_FIND else num


# --------------------------------------------------------------------------------------------------
# Resource names (upstream v1helper / schedutil definitions)
# --------------------------------------------------------------------------------------------------
def is_prefixed_native(name: str) -> bool:
    return "kubernetes.io/" in name


def is_native(name: str) -> bool:
    return "/" not in name or is_prefixed_native(name)


def is_extended(name: str) -> bool:
    return not is_native(name) and not name.startswith("requests.")


def is_scalar(name: str) -> bool:
    return (is_extended(name) or name.startswith("hugepages-") or is_prefixed_native(name)
            or name.startswith("attachable-volumes-"))


# --------------------------------------------------------------------------------------------------
# Label selector semantics (k8s.io/apimachinery labels.NewRequirement + Requirement.Matches)
# --------------------------------------------------------------------------------------------------
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_INT = re.compile(r"[+-]?[0-9]+")


def is_qualified_name(key: str) -> bool:
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix):
            return False
    else:
        return False
    return bool(name) and len(name) <= 63 and bool(_QUALIFIED_NAME_PART.fullmatch(name))


def is_valid_label_value(v: str) -> bool:
    return v == "" or (len(v) <= 63 and bool(_QUALIFIED_NAME_PART.fullmatch(v)))


def go_parse_int64(s: str) -> Optional[int]:
    """strconv.ParseInt(s, 10, 64); None on error. fullmatch: no trailing newline, ASCII digits."""
    if not _INT.fullmatch(s):
        return None
    v = int(s)
    return v if -(1 << 63) <= v <= (1 << 63) - 1 else None


def requirement_valid(key: str, op: str, values: list[str]) -> bool:
    """labels.NewRequirement succeeds."""
    if not is_qualified_name(key):
        return False
    if op in ("In", "NotIn"):
        if len(values) == 0:
            return False
    elif op in ("Exists", "DoesNotExist"):
        if len(values) != 0:
            return False
    elif op in ("Gt", "Lt"):
        if len(values) != 1:
            return False
        if any(go_parse_int64(v) is None for v in values):
            return False
    else:
        return False
    return all(is_valid_label_value(v) for v in values)


def requirement_matches(key: str, op: str, values: list[str], labels: dict[str, str]) -> bool:
    has = key in labels
    if op == "In":
        return has and labels[key] in values
    if op == "NotIn":
        return (not has) or labels[key] not in values
    if op == "Exists":
        return has
    if op == "DoesNotExist":
        return not has
    # Gt / Lt
    if not has:
        return False
    lv = go_parse_int64(labels[key])
    if lv is None or len(values) != 1:
        return False
    rv = go_parse_int64(values[0])
    if rv is None:
        return False
    return lv > rv if op == "Gt" else lv < rv


def field_valid(key: str, op: str, values: list[str]) -> bool:
    """nodeSelectorRequirementsAsFieldSelector: In/NotIn with exactly one value (key must be
    metadata.name, which API validation enforces)."""
    return key == "metadata.name" and op in ("In", "NotIn") and len(values) == 1


def term_matches(term, node) -> bool:
    """One NodeSelectorTerm: empty -> no match; parse error -> no match; else AND of everything."""
    exprs = list(term.match_expressions)
    fields = list(term.match_fields)
    if not exprs and not fields:
        return False
    for r in exprs:
        if not requirement_valid(r.key, r.operator, list(r.values)):
            return False
    for r in fields:
        if not field_valid(r.key, r.operator, list(r.values)):
            return False
    for r in exprs:
        if not requirement_matches(r.key, r.operator, list(r.values), node.labels):
            return False
    if node.name:   # matchFields only evaluated when the node has a name
        for r in fields:
            hit = node.name == r.values[0]
            if (r.operator == "In") != hit:
                return False
    return True


def required_affinity_matches(pod, node) -> bool:
    for k, v in pod.node_selector.items():
        if node.labels.get(k) != v or k not in node.labels:
            return False
    aff = pod.affinity
    if aff is not None and aff.required is not None:
        return any(term_matches(t, node) for t in aff.required)   # empty list matches nothing
    return True


def prefilter_node_names(pod) -> Optional[set[str]]:
    """NodeAffinity PreFilter: None = no restriction; a (maybe empty) set of node names otherwise."""
    aff = pod.affinity
    if aff is None or aff.required is None or len(aff.required) == 0:
        return None
    result: set[str] = set()
    for t in aff.required:
        term_names: Optional[set[str]] = None
        for r in t.match_fields:
            if r.key == "metadata.name" and r.operator == "In":
                s = set(r.values)
                term_names = s if term_names is None else (term_names & s)
        if term_names is None:
            return None
        result |= term_names
    return result


# --------------------------------------------------------------------------------------------------
# Taints
# --------------------------------------------------------------------------------------------------
def tolerates(tol, taint_key: str, taint_value: str, taint_effect: str) -> bool:
    if tol.effect and tol.effect != taint_effect:
        return False
    if tol.key and tol.key != taint_key:
        return False
    if tol.operator == "Exists":
        return True
    return tol.value == taint_value   # "Equal" or ""


def any_tolerates(tols, taint_key: str, taint_value: str, taint_effect: str) -> bool:
    return any(tolerates(t, taint_key, taint_value, taint_effect) for t in tols)


# --------------------------------------------------------------------------------------------------
# Node state
# --------------------------------------------------------------------------------------------------
@dataclass
class NodeState:
    node: object
    used: dict = field(default_factory=dict)    # real requests of pods on the node
    npods: int = 0
    nz_cpu: int = 0
    nz_mem: int = 0
    pods: list = field(default_factory=list)

    def alloc(self, r: str) -> int:
        return int(self.node.allocatable.get(r, 0))

    def add(self, pod) -> None:
        for r, v in pod.requests.items():
            self.used[r] = self.used.get(r, 0) + int(v)
        self.npods += 1
        self.pods.append(pod)
        self.nz_cpu += int(pod.scoring_cpu)
        self.nz_mem += int(pod.scoring_memory)


def zone_key(node) -> str:
    """upstream GetZoneKey: beta failure-domain labels when present, else topology.kubernetes.io ones."""
    lab = node.labels
    zone = (lab["failure-domain.beta.kubernetes.io/zone"] if "failure-domain.beta.kubernetes.io/zone" in lab
            else lab.get("topology.kubernetes.io/zone", ""))
    region = (lab["failure-domain.beta.kubernetes.io/region"]
              if "failure-domain.beta.kubernetes.io/region" in lab
              else lab.get("topology.kubernetes.io/region", ""))
    return "" if not region and not zone else region + ":\x00:" + zone


def node_tree_order(nodes: list) -> list:
    """The snapshot's node list (node_tree.go): zones in order of first appearance, round robin over them."""
    zones: dict[str, list] = {}
    for n in nodes:
        zones.setdefault(zone_key(n), []).append(n)
    out = []
    lists = list(zones.values())
    for i in range(max((len(x) for x in lists), default=0)):
        out += [x[i] for x in lists if i < len(x)]
    return out


def build_state(nodes, bound_pods) -> list[NodeState]:
    states = [NodeState(n) for n in nodes]
    by_name = {n.name: s for n, s in zip(nodes, states)}
    for p in bound_pods:
        by_name[p.node_name].add(p)
    return states


@dataclass
class RefExplanation:
    filter: dict
    scores: dict
    total: dict
    selected: Optional[str]


# --------------------------------------------------------------------------------------------------
# The scheduler
# --------------------------------------------------------------------------------------------------
class ReferenceScheduler:
    def __init__(self, profile, seed: int = 0):
        self.profile = profile
        self.rng = seed & MASK64
        self.start = 0
        self.states: list = []
        self.objects: list = []
        self.memo: dict = {}     # per-pod PreFilter results of the topology plugins

    # ---- profile views -------------------------------------------------------------------------
    def _filter_on(self, name: str) -> bool:
        return name in self.profile.filters

    def _weight(self, plugin: str) -> int:
        return int(self.profile.score_weights.get(plugin, 0))

    # ---- filters -------------------------------------------------------------------------------
    def filter_node(self, pod, st: NodeState) -> list[str]:
        """Reasons of the first failing filter plugin, [] if the node is feasible."""
        node = st.node
        for plugin in FILTER_ORDER:
            if not self._filter_on(plugin):
                continue
            if plugin == "NodeUnschedulable":
                if node.unschedulable and not any_tolerates(pod.tolerations, UNSCHEDULABLE_TAINT_KEY, "",
                                                           "NoSchedule"):
                    return [R_UNSCHEDULABLE]
            elif plugin == "NodeName":
                if pod.node_name and pod.node_name != node.name:
                    return [R_NODE_NAME]
            elif plugin == "TaintToleration":
                for t in node.taints:
                    if t.effect in ("NoSchedule", "NoExecute") and not any_tolerates(
                            pod.tolerations, t.key, t.value, t.effect):
                        return ["node(s) had untolerated taint(s)"]   # v1.35: key and value not printed
            elif plugin == "NodeAffinity":
                if not required_affinity_matches(pod, node):
                    return [R_AFFINITY]
            elif plugin == "NodeResourcesFit":
                r = self.fit_filter(pod, st)
                if r:
                    return r
            elif plugin == "PodTopologySpread":
                r = ref_spread_filter(pod, st, self.states, self.objects, self.profile, self.memo)
                if r:
                    return [r]
            elif plugin == "InterPodAffinity":
                r = ref_interpod_filter(pod, st, self.states, self.objects, self.profile, self.memo)
                if r:
                    return [r]
        return []

    def fit_filter(self, pod, st: NodeState) -> list[str]:
        reasons = []
        if st.npods + 1 > st.alloc(PODS):
            reasons.append("Too many pods")
        req = {k: int(v) for k, v in pod.requests.items()}
        scalars = sorted(k for k in req if k not in (CPU, MEMORY, EPHEMERAL) and is_scalar(k))
        if (req.get(CPU, 0) == 0 and req.get(MEMORY, 0) == 0 and req.get(EPHEMERAL, 0) == 0
                and not scalars):
            return reasons
        for r in (CPU, MEMORY, EPHEMERAL):
            q = req.get(r, 0)
            if q > 0 and q > st.alloc(r) - st.used.get(r, 0):
                reasons.append(f"Insufficient {r}")
        ignored = set(self.profile.ignored_resources)
        groups = set(self.profile.ignored_resource_groups)
        for r in scalars:
            q = req[r]
            if q == 0:
                continue
            if is_extended(r) and (r in ignored or r.split("/")[0] in groups):
                continue
            if q > st.alloc(r) - st.used.get(r, 0):
                reasons.append(f"Insufficient {r}")
        return reasons

    # ---- scores --------------------------------------------------------------------------------
    @staticmethod
    def _pod_request(pod, res: str, use_requested: bool) -> int:
        if res == CPU and not use_requested:
            return int(pod.scoring_cpu)
        if res == MEMORY and not use_requested:
            return int(pod.scoring_memory)
        return int(pod.requests.get(res, 0))

    def _alloc_req(self, pod, st: NodeState, res: str, use_requested: bool) -> tuple[int, int]:
        """upstream calculateResourceAllocatableRequest."""
        preq = self._pod_request(pod, res, use_requested)
        if preq == 0 and is_scalar(res):
            return 0, 0
        if res == CPU:
            return st.alloc(CPU), (st.used.get(CPU, 0) if use_requested else st.nz_cpu) + preq
        if res == MEMORY:
            return st.alloc(MEMORY), (st.used.get(MEMORY, 0) if use_requested else st.nz_mem) + preq
        if res == EPHEMERAL:
            return st.alloc(EPHEMERAL), st.used.get(EPHEMERAL, 0) + preq
        if is_scalar(res) and res in st.node.allocatable:
            return st.alloc(res), st.used.get(res, 0) + preq
        return 0, 0

    def _broken_linear(self, p: int) -> int:
        shape = [(u, s * 10) for u, s in self.profile.shape]
        for i, (u, s) in enumerate(shape):
            if p <= u:
                if i == 0:
                    return shape[0][1]
                u0, s0 = shape[i - 1]
                return s0 + go_div((s - s0) * (p - u0), u - u0)
        return shape[-1][1]

    def fit_score(self, pod, st: NodeState) -> int:
        strategy = self.profile.scoring_strategy
        num = 0
        wsum = 0
        for res, w in self.profile.fit_resources:
            alloc, req = self._alloc_req(pod, st, res, use_requested=False)
            if alloc == 0:
                continue
            if strategy == "LeastAllocated":
                s = 0 if req > alloc else go_div((alloc - req) * MAX_NODE_SCORE, alloc)
            elif strategy == "MostAllocated":
                s = go_div(min(req, alloc) * MAX_NODE_SCORE, alloc)
            else:
                util = 100 if req > alloc else go_div(req * 100, alloc)
                s = self._broken_linear(util)
                if s == 0:
                    continue
            num += s * w
            wsum += w
        if wsum == 0:
            return 0
        if strategy == "RequestedToCapacityRatio":
            return go_round(float(num) / float(wsum))
        return go_div(num, wsum)

    def balanced_skipped(self, pod) -> bool:
        return all(self._pod_request(pod, res, True) == 0 for res, _ in self.profile.balanced_resources)

    def balanced_score(self, pod, st: NodeState) -> int:
        fractions = []
        for res, _w in self.profile.balanced_resources:
            alloc, req = self._alloc_req(pod, st, res, use_requested=True)
            if alloc == 0:
                continue
            f = float(req) / float(alloc)
            fractions.append(1.0 if f > 1 else f)
        std = 0.0
        if len(fractions) == 2:
            std = abs((fractions[0] - fractions[1]) / 2)
        elif len(fractions) > 2:
            total = 0.0
            for f in fractions:
                total += f
            mean = total / float(len(fractions))
            s = 0.0
            for f in fractions:
                s = s + (f - mean) * (f - mean)
            std = math.sqrt(s / float(len(fractions)))
        return int((1 - std) * float(MAX_NODE_SCORE))

    @staticmethod
    def affinity_skipped(pod) -> bool:
        # upstream PreScore: Skip when the pod has no preferred terms at all (nil list).
        return pod.affinity is None or len(pod.affinity.preferred) == 0

    @staticmethod
    def affinity_raw(pod, node) -> int:
        total = 0
        for p in pod.affinity.preferred:
            if p.weight == 0:
                continue
            if term_matches(p.preference, node):   # empty preference matches nothing
                total += p.weight
        return total

    @staticmethod
    def taint_raw(pod, node) -> int:
        tols = [t for t in pod.tolerations if t.effect in ("", "PreferNoSchedule")]
        return sum(1 for t in node.taints
                   if t.effect == "PreferNoSchedule" and not any_tolerates(tols, t.key, t.value, t.effect))

    @staticmethod
    def _normalize(raw: list[int], reverse: bool) -> list[int]:
        mx = max(raw) if raw else 0
        mx = max(mx, 0)
        if mx == 0:
            return [MAX_NODE_SCORE] * len(raw) if reverse else list(raw)
        out = []
        for r in raw:
            s = go_div(MAX_NODE_SCORE * r, mx)
            out.append(MAX_NODE_SCORE - s if reverse else s)
        return out

    def score_nodes(self, pod, feasible: list[NodeState]) -> tuple[dict, list[int]]:
        """Per plugin normalized scores (plugin -> list aligned with feasible) and weighted totals."""
        plugins: dict[str, list[int]] = {}
        if self._weight("NodeResourcesFit") > 0:
            plugins["NodeResourcesFit"] = [self.fit_score(pod, st) for st in feasible]
        if self._weight("NodeResourcesBalancedAllocation") > 0 and not self.balanced_skipped(pod):
            plugins["NodeResourcesBalancedAllocation"] = [self.balanced_score(pod, st) for st in feasible]
        if self._weight("NodeAffinity") > 0 and not self.affinity_skipped(pod):
            plugins["NodeAffinity"] = self._normalize([self.affinity_raw(pod, st.node) for st in feasible],
                                                      False)
        if self._weight("TaintToleration") > 0:
            plugins["TaintToleration"] = self._normalize([self.taint_raw(pod, st.node) for st in feasible],
                                                         True)
        if self._weight("PodTopologySpread") > 0:
            r = ref_spread_scores(pod, feasible, self.states, self.objects, self.profile)
            if r is not None:
                plugins["PodTopologySpread"] = r
        if self._weight("InterPodAffinity") > 0:
            r = ref_interpod_scores(pod, feasible, self.states, self.objects, self.profile)
            if r is not None:
                plugins["InterPodAffinity"] = r
        totals = [0] * len(feasible)
        for name, vals in plugins.items():
            w = self._weight(name)
            for i, v in enumerate(vals):
                totals[i] += v * w
        return plugins, totals

    def _select(self, totals: list[int], advance: bool) -> int:
        best = max(totals)
        tied = [i for i, t in enumerate(totals) if t == best]
        if len(tied) == 1:
            return tied[0]
        state, u = splitmix64_next(self.rng)
        if advance:
            self.rng = state
        return tied[u % len(tied)]

    # ---- candidates ----------------------------------------------------------------------------
    def _candidates(self, pod, states: list[NodeState]) -> Optional[list[int]]:
        """Node indices to visit (cluster order); None on PreFilter conflict."""
        if not self._filter_on("NodeAffinity"):
            return list(range(len(states)))
        names = prefilter_node_names(pod)
        if names is None:
            return list(range(len(states)))
        if not names:
            return None
        return [i for i, st in enumerate(states) if st.node.name in names]

    @staticmethod
    def fit_error(n_all: int, hist: dict[str, int]) -> str:
        parts = sorted(f"{c} {r}" for r, c in hist.items() if c)
        return f"0/{n_all} nodes are available: " + ", ".join(parts) + "."

    # ---- public --------------------------------------------------------------------------------
    def schedule(self, nodes, bound_pods, pods,
                 objects=()) -> tuple[list[Optional[str]], list[Optional[str]]]:
        states = build_state(node_tree_order(list(nodes)), bound_pods)
        self.states, self.objects = states, list(objects)
        N = len(states)
        names_out: list[Optional[str]] = []
        reasons_out: list[Optional[str]] = []
        for pod in pods:
            self.memo = {}
            if N == 0:
                names_out.append(None)
                reasons_out.append("no nodes available to schedule pods")
                continue
            cand = self._candidates(pod, states)
            if cand is None:
                names_out.append(None)
                reasons_out.append(f"0/{N} nodes are available: {R_CONFLICT}.")
                continue
            n = len(cand)
            to_find = num_feasible_nodes_to_find(n, self.profile.percentage_of_nodes_to_score)
            feasible: list[NodeState] = []
            hist: dict[str, int] = {}
            processed = 0
            for i in range(n):
                st = states[cand[(self.start + i) % n]]
                processed += 1
                reasons = self.filter_node(pod, st)
                if reasons:
                    for r in reasons:
                        hist[r] = hist.get(r, 0) + 1
                else:
                    feasible.append(st)
                    if len(feasible) == to_find:
                        break
            self.start = (self.start + processed) % N
            if not feasible:
                if N > n:
                    hist[R_ABSENT] = hist.get(R_ABSENT, 0) + (N - n)
                names_out.append(None)
                reasons_out.append(self.fit_error(N, hist))
                continue
            if len(feasible) == 1:
                chosen = feasible[0]
            else:
                _, totals = self.score_nodes(pod, feasible)
                chosen = feasible[self._select(totals, advance=True)]
            chosen.add(pod)
            names_out.append(chosen.node.name)
            reasons_out.append(None)
        return names_out, reasons_out

    def explain(self, nodes, bound_pods, pod, objects=()) -> RefExplanation:
        states = build_state(node_tree_order(list(nodes)), bound_pods)
        self.states, self.objects = states, list(objects)
        self.memo = {}
        cand = self._candidates(pod, states)
        if cand is None:
            return RefExplanation({st.node.name: R_CONFLICT for st in states}, {}, {}, None)
        in_cand = set(cand)
        filt: dict[str, Optional[str]] = {}
        feasible: list[NodeState] = []
        for i, st in enumerate(states):
            if i not in in_cand:
                filt[st.node.name] = R_ABSENT
                continue
            reasons = self.filter_node(pod, st)
            if reasons:
                filt[st.node.name] = ", ".join(reasons)
            else:
                filt[st.node.name] = None
                feasible.append(st)
        if not feasible:
            return RefExplanation(filt, {}, {}, None)
        plugins, totals = self.score_nodes(pod, feasible)
        scores = {p: {st.node.name: v for st, v in zip(feasible, vals)} for p, vals in plugins.items()}
        total = {st.node.name: t for st, t in zip(feasible, totals)}
        pick = 0 if len(feasible) == 1 else self._select(totals, advance=False)
        return RefExplanation(filt, scores, total, feasible[pick].node.name)


# --------------------------------------------------------------------------------------------------
# PodTopologySpread and InterPodAffinity (K8S_SEMANTICS.md sections 12 and 13), per pod, per node
# --------------------------------------------------------------------------------------------------
R_SPREAD = "node(s) didn't match pod topology spread constraints"
R_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
R_POD_AFFINITY = "node(s) didn't match pod affinity rules"
R_POD_ANTI = "node(s) didn't match pod anti-affinity rules"
R_EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
HOSTNAME = "kubernetes.io/hostname"


def sel_reqs(sel):
    """A metav1.LabelSelector as a list of (key, op, values); None stays None (matches nothing)."""
    if sel is None:
        return None
    out = [(k, "In", [v]) for k, v in sel.match_labels.items()]
    out += [(e.key, e.operator, list(e.values)) for e in sel.match_expressions]
    return out


def sel_match(reqs, labels) -> bool:
    if reqs is None:
        return False
    for k, op, vals in reqs:
        if op == "In" and not (k in labels and labels[k] in vals):
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def ref_default_selector(pod, objects):
    label_set = {}
    for o in objects:
        if getattr(o, "kind", type(o).__name__) == "Service" and o.namespace == pod.namespace \
                and o.selector is not None and all(pod.labels.get(k) == v for k, v in o.selector.items()):
            label_set.update(o.selector)
    reqs = [(k, "In", [v]) for k, v in label_set.items()]
    owner = next((r for r in pod.owner_references if r.controller), None)
    if owner is not None:
        for o in objects:
            kind = getattr(o, "kind", None) or type(o).__name__
            if kind != owner.kind or o.namespace != pod.namespace or o.name != owner.name:
                continue
            if kind == "ReplicationController" and owner.api_version == "v1":
                label_set.update(o.selector or {})
                reqs = [(k, "In", [v]) for k, v in label_set.items()]
            elif kind == "ReplicaSet" and owner.api_version == "apps/v1":
                raw = o.selector or {}
                reqs += [(k, "In", [v]) for k, v in (raw.get("matchLabels") or {}).items()]
                reqs += [(e["key"], e["operator"], list(e.get("values") or []))
                         for e in raw.get("matchExpressions") or []]
            elif kind == "StatefulSet" and owner.api_version == "apps/v1" and o.selector is not None:
                reqs += sel_reqs(o.selector)
    return reqs


def ref_constraints(pod, objects, profile):
    """[(maxSkew, key, hard, selector, minDomains, affinity honor, taints honor)], requireAllTopologies."""
    def conv(c, reqs):
        return (c.max_skew, c.topology_key, c.when_unsatisfiable == "DoNotSchedule", reqs, c.min_domains or 1,
                (c.node_affinity_policy or "Honor") == "Honor", (c.node_taints_policy or "Ignore") == "Honor")
    if pod.topology_spread_constraints:
        return [conv(c, sel_reqs(c.label_selector)) for c in pod.topology_spread_constraints], True
    args = profile.topology_args.spread
    system = args.defaulting_type == "System"
    defaults = [(3, HOSTNAME), (5, "topology.kubernetes.io/zone")] if system else None
    reqs = ref_default_selector(pod, objects)
    if not reqs:
        return [], not system
    if system:
        return [(s, k, False, reqs, 1, True, False) for s, k in defaults], False
    return [conv(c, reqs) for c in args.default_constraints], True


def node_included(pod, node, aff_honor, taint_honor) -> bool:
    if aff_honor and not required_affinity_matches(pod, node):
        return False
    if taint_honor and any(t.effect in ("NoSchedule", "NoExecute") and
                           not any_tolerates(pod.tolerations, t.key, t.value, t.effect) for t in node.taints):
        return False
    return True


def count_on(st, reqs, ns) -> int:
    if not reqs:       # nil selector or the v1.35 empty-selector quirk: counts nothing
        return 0
    return sum(1 for p in st.pods
               if p.namespace == ns and p.deletion_timestamp is None and sel_match(reqs, p.labels))


def ref_spread_filter(pod, st, states, objects, profile, memo=None) -> Optional[str]:
    """`memo` (a dict reset for every pod) keeps the per-domain counts between the nodes of one pod."""
    memo = {} if memo is None else memo
    if "spread" not in memo:
        memo["spread"] = [c for c in ref_constraints(pod, objects, profile)[0] if c[2]]
    cons = memo["spread"]
    for i, (skew, key, _, reqs, min_dom, ah, th) in enumerate(cons):
        if key not in st.node.labels:
            return R_SPREAD_LABEL
        if ("counts", i) not in memo:
            counts: dict = {}
            for o in states:
                if not all(c[1] in o.node.labels for c in cons) or not node_included(pod, o.node, ah, th):
                    continue
                v = o.node.labels[key]
                counts[v] = counts.get(v, 0) + count_on(o, reqs, pod.namespace)
            memo[("counts", i)] = counts
        counts = memo[("counts", i)]
        gmin = min(counts.values()) if counts else 0
        if len(counts) < min_dom:
            gmin = 0
        self_match = 1 if sel_match(reqs, pod.labels) else 0
        if counts.get(st.node.labels[key], 0) + self_match - gmin > skew:
            return R_SPREAD
    return None


def ref_spread_scores(pod, feasible, states, objects, profile) -> Optional[list[int]]:
    cons, require_all = ref_constraints(pod, objects, profile)
    soft = [c for c in cons if not c[2]]
    if not soft or not states:
        return None
    ignored = [require_all and not all(c[1] in st.node.labels for c in soft) for st in feasible]
    weights = []
    for c in soft:
        if c[1] == HOSTNAME:
            size = sum(1 for i in ignored if not i)
        else:
            size = len({st.node.labels.get(c[1], "") for st, ig in zip(feasible, ignored) if not ig})
        weights.append(math.log(size + 2))
    raw = []
    for st, ig in zip(feasible, ignored):
        if ig:
            raw.append(0)
            continue
        total = 0.0
        for (skew, key, _, reqs, _, ah, th), w in zip(soft, weights):
            if key not in st.node.labels:
                continue
            if key == HOSTNAME:
                cnt = count_on(st, reqs, pod.namespace)
            else:
                cnt = 0
                for o in states:
                    if require_all and not all(c[1] in o.node.labels for c in soft):
                        continue
                    if o.node.labels.get(key) == st.node.labels[key] and node_included(pod, o.node, ah, th):
                        cnt += count_on(o, reqs, pod.namespace)
            total += float(cnt) * w + float(skew - 1)
        raw.append(go_round(total))
    live = [r for r, ig in zip(raw, ignored) if not ig]
    mx, mn = max([0] + live), min(live) if live else 0
    return [0 if ig else (MAX_NODE_SCORE if mx == 0 else MAX_NODE_SCORE * (mx + mn - r) // mx)
            for r, ig in zip(raw, ignored)]


def ref_terms(pod, objects, incoming: bool):
    """{kind: [(weight, namespaces, ns selector reqs, selector reqs, key)]} with namespaces defaulted and, for
    the incoming pod, non-empty namespace selectors resolved to Namespace names."""
    out = {"raff": [], "ranti": [], "paff": [], "panti": []}
    kinds = ((pod.pod_affinity, "raff", "paff"), (pod.pod_anti_affinity, "ranti", "panti"))
    for src, req_kind, pref_kind in kinds:
        if src is None:
            continue
        items = [(0, t, req_kind) for t in src.required] + [(w.weight, w.pod_affinity_term, pref_kind)
                                                             for w in src.preferred]
        for w, t, kind in items:
            default = not t.namespaces and t.namespace_selector is None
            names = {pod.namespace} if default else set(t.namespaces)
            nsel = sel_reqs(t.namespace_selector)
            if incoming and nsel:
                names |= {o.name for o in objects
                          if getattr(o, "kind", "") == "Namespace" and sel_match(nsel, o.labels)}
                nsel = None
            out[kind].append((w, names, nsel, sel_reqs(t.label_selector), t.topology_key))
    return out


def ref_ns_labels(ns, objects):
    for o in objects:
        if getattr(o, "kind", "") == "Namespace" and o.name == ns:
            return dict(o.labels)
    return {}


def term_hits(term, pod, ns_labels) -> bool:
    _, names, nsel, sel, _ = term
    return (pod.namespace in names or (nsel is not None and sel_match(nsel, ns_labels or {}))) and \
        sel_match(sel, pod.labels)


def ref_interpod_filter(pod, st, states, objects, profile, memo=None) -> Optional[str]:
    memo = {} if memo is None else memo
    if "ipa" not in memo:
        memo["ipa"] = ref_interpod_maps(pod, states, objects)
    mine, aff_counts, anti_counts, existing = memo["ipa"]
    labels = st.node.labels
    exist = True
    for t in mine["raff"]:
        if t[4] not in labels:
            return R_POD_AFFINITY
        if aff_counts.get((t[4], labels[t[4]]), 0) <= 0:
            exist = False
    if not exist and not (not aff_counts and all(term_hits(t, pod, None) for t in mine["raff"])):
        return R_POD_AFFINITY
    for t in mine["ranti"]:
        if t[4] in labels and anti_counts.get((t[4], labels[t[4]]), 0) > 0:
            return R_POD_ANTI
    if any(existing.get((k, v), 0) > 0 for k, v in labels.items()):
        return R_EXISTING_ANTI
    return None


def ref_interpod_maps(pod, states, objects):
    """InterPodAffinity PreFilter: the incoming pod's terms and the affinity, anti and existingAnti maps."""
    mine = ref_terms(pod, objects, True)
    ns_labels = ref_ns_labels(pod.namespace, objects)
    aff_counts: dict = {}
    anti_counts: dict = {}
    existing: dict = {}
    for o in states:
        for p in o.pods:
            for t in ref_terms(p, objects, False)["ranti"]:
                if term_hits(t, pod, ns_labels) and t[4] in o.node.labels:
                    k = (t[4], o.node.labels[t[4]])
                    existing[k] = existing.get(k, 0) + 1
            if mine["raff"] and all(term_hits(t, p, None) for t in mine["raff"]):
                for t in mine["raff"]:
                    if t[4] in o.node.labels:
                        k = (t[4], o.node.labels[t[4]])
                        aff_counts[k] = aff_counts.get(k, 0) + 1
            for t in mine["ranti"]:
                if term_hits(t, p, None) and t[4] in o.node.labels:
                    k = (t[4], o.node.labels[t[4]])
                    anti_counts[k] = anti_counts.get(k, 0) + 1
    return mine, aff_counts, anti_counts, existing


def ref_interpod_scores(pod, feasible, states, objects, profile) -> Optional[list[int]]:
    args = profile.topology_args.interpod
    mine = ref_terms(pod, objects, True)
    has_pref = bool(mine["paff"] or mine["panti"])
    if args.ignore_preferred_terms_of_existing_pods and not has_pref:
        return None
    ns_labels = ref_ns_labels(pod.namespace, objects)
    topo: dict = {}

    def add(key, node, w):
        if key in node.labels:
            k = (key, node.labels[key])
            topo[k] = topo.get(k, 0) + w

    for o in states:
        if not o.node.labels:
            continue
        for p in o.pods:
            theirs = ref_terms(p, objects, False)
            for t in mine["paff"]:
                if term_hits(t, p, None):
                    add(t[4], o.node, t[0])
            for t in mine["panti"]:
                if term_hits(t, p, None):
                    add(t[4], o.node, -t[0])
            if args.hard_pod_affinity_weight > 0:
                for t in theirs["raff"]:
                    if term_hits(t, pod, ns_labels):
                        add(t[4], o.node, args.hard_pod_affinity_weight)
            for t in theirs["paff"]:
                if term_hits(t, pod, ns_labels):
                    add(t[4], o.node, t[0])
            for t in theirs["panti"]:
                if term_hits(t, pod, ns_labels):
                    add(t[4], o.node, -t[0])
    if not topo:
        return None
    raw = [sum(topo.get((k, v), 0) for k, v in st.node.labels.items()) for st in feasible]
    mn, mx = min(raw), max(raw)
    return [int(float(MAX_NODE_SCORE) * (float(r - mn) / float(mx - mn))) if mx - mn > 0 else 0 for r in raw]
