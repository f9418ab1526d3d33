"""InterPodAffinity: pod (anti-)affinity terms compiled once per pod (namespaces defaulted to the owner's,
the incoming pod's namespaceSelector resolved against Namespace objects) and term matching; the kernel side is
in engine.py."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Pod
from .api import PodAffinityTerm, Selector, selector_matches
from .objects import ObjectIndex

REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"


@dataclass(frozen=True)
class Term:
    """fwk.AffinityTerm: namespaces, namespaceSelector, selector, topologyKey."""

    namespaces: frozenset
    ns_selector: Selector  # None: nothing; (): all namespaces
    selector: Selector
    key: str

    def matches(self, ns: str, labels: dict[str, str], ns_labels: dict[str, str] | None) -> bool:
        """AffinityTerm.Matches(pod, nsLabels)."""
        if ns in self.namespaces or selector_matches(self.ns_selector, ns_labels or {}):
            return selector_matches(self.selector, labels)
        return False


def compile_term(owner_ns: str, t: PodAffinityTerm) -> Term:
    if not t.namespaces and t.namespace_selector is None:
        names = frozenset([owner_ns])
    else:
        names = frozenset(t.namespaces)
    ns_sel = None if t.namespace_selector is None else t.namespace_selector.requirements()
    sel = None if t.label_selector is None else t.label_selector.requirements()
    return Term(names, ns_sel, sel, t.topology_key)


def resolve(term: Term, objects: ObjectIndex) -> Term:
    """The incoming pod's terms: a non-empty namespaceSelector becomes the matching Namespace names."""
    if term.ns_selector is None or term.ns_selector == ():
        return term
    names = term.namespaces | frozenset(objects.namespaces_matching(term.ns_selector))
    return Term(names, None, term.selector, term.key)


@dataclass(frozen=True)
class PodTerms:
    """A pod's compiled terms: required affinity / anti-affinity, preferred (weight, term) of each."""

    req_aff: tuple
    req_anti: tuple
    pref_aff: tuple
    pref_anti: tuple

    @property
    def any(self) -> bool:
        return bool(self.req_aff or self.req_anti or self.pref_aff or self.pref_anti)

    @property
    def has_preferred(self) -> bool:
        return bool(self.pref_aff or self.pref_anti)


EMPTY = PodTerms((), (), (), ())


def pod_terms(pod: Pod, objects: ObjectIndex | None = None) -> PodTerms:
    """Compiled terms; with `objects` (the incoming pod) namespaceSelectors are resolved."""
    if pod.pod_affinity is None and pod.pod_anti_affinity is None:
        return EMPTY
    ns = pod.namespace

    def c(t):
        x = compile_term(ns, t)
        return resolve(x, objects) if objects is not None else x

    a, n = pod.pod_affinity, pod.pod_anti_affinity
    return PodTerms(
        tuple(c(t) for t in a.required) if a else (),
        tuple(c(t) for t in n.required) if n else (),
        tuple((w.weight, c(w.pod_affinity_term)) for w in a.preferred) if a else (),
        tuple((w.weight, c(w.pod_affinity_term)) for w in n.preferred) if n else (),
    )


def has_terms(pod: Pod) -> bool:
    return pod.pod_affinity is not None or pod.pod_anti_affinity is not None
