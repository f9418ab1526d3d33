"""The topology-aware scheduling path: decides which pods need it, compiles constraint and term classes
to count arrays once per call, and runs kernel.schedule_topology."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..models import Pod
from ..predicates import compile_class, toleration_key
from . import kernel as TK
from . import tindex as TX
from .api import HOSTNAME_KEY, selector_matches
from .config import INTERPOD, SPREAD, TopologyArgs
from .interpod import (
    EMPTY,
    REASON_AFFINITY,
    REASON_ANTI,
    REASON_EXISTING_ANTI,
    PodTerms,
    has_terms,
    pod_terms,
)
from .objects import ObjectIndex, cluster_objects
from .spread import REASON_SPREAD, REASON_SPREAD_MISSING, pod_constraints, spread_key

REASONS = {
    TK.T_SPREAD_MISSING: REASON_SPREAD_MISSING,
    TK.T_SPREAD: REASON_SPREAD,
    TK.T_AFFINITY: REASON_AFFINITY,
    TK.T_ANTI: REASON_ANTI,
    TK.T_EXISTING_ANTI: REASON_EXISTING_ANTI,
}
PLUGINS = (SPREAD, INTERPOD)
TX_MIN_PODS = 32  # below this, a node scan per pod is cheaper than building the bucket index


class TopologyEngineError(ValueError):
    """An engine or feature combination the topology path cannot run (raised before anything changes)."""


@dataclass
class Switches:
    spread_filter: bool
    spread_weight: int
    ipa_filter: bool
    ipa_weight: int
    args: TopologyArgs

    @property
    def any(self) -> bool:
        return self.spread_filter or self.spread_weight > 0 or self.ipa_filter or self.ipa_weight > 0

    @property
    def spread(self) -> bool:
        return self.spread_filter or self.spread_weight > 0

    @property
    def ipa(self) -> bool:
        return self.ipa_filter or self.ipa_weight > 0


def switches(profile) -> Switches:
    w = profile.score_weights
    args = getattr(profile, "topology_args", None) or TopologyArgs()
    return Switches(
        SPREAD in profile.filters,
        int(w.get(SPREAD, 0)),
        INTERPOD in profile.filters,
        int(w.get(INTERPOD, 0)),
        args,
    )


def bound_groups(cluster) -> list[tuple[Pod, np.ndarray]]:
    """Bound pods grouped by spec (equal for both plugins): (spec pod, node rows of its pods)."""
    specs, spec_index, nodes = cluster.bound_columns()
    if not len(spec_index):
        return []
    order = np.argsort(spec_index, kind="stable")
    si = spec_index[order]
    cuts = np.flatnonzero(np.diff(si)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(si)]])
    return [(specs[int(si[a])], nodes[order[a:b]].astype(np.int64)) for a, b in zip(starts, ends)]


def needed(profile, cluster, specs: Sequence[Pod]) -> bool:
    """Whether either plugin can affect these pods: a pod with constraints or pod (anti-)affinity terms, a
    bound
    pod with terms (its anti-affinity or preferences may match), or system-default spreading (a Service,
    ReplicaSet, StatefulSet or ReplicationController selects a pod)."""
    sw = switches(profile)
    if not sw.any:
        return False
    if any(p.topology_spread_constraints or has_terms(p) for p in specs):
        return True
    # Every spec the bound-pod table has seen (a superset of the live ones: cheap, and only ever routes more
    # pods through the exact topology path).
    if sw.ipa and cluster.table.any_spec("pod-affinity-terms", has_terms):
        return True
    objs = cluster_objects(cluster)
    if sw.spread and objs and sw.args.spread.defaults():
        idx = ObjectIndex(objs)
        seen = set()
        for p in specs:
            k = spread_key(p)
            if k in seen:
                continue
            seen.add(k)
            if pod_constraints(p, idx, sw.args.spread)[0]:
                return True
    return False


class _Registry:
    """Classes keyed by identity tuples -> dense index, with per-class payload."""

    def __init__(self):
        self.index: dict[Any, int] = {}
        self.items: list[Any] = []

    def get(self, key, make) -> int:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.items)
            self.items.append(make())
        return i


def _csr(lists: list[list], width: int, dtypes: Sequence) -> list[np.ndarray]:
    off = np.zeros(len(lists) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(x) for x in lists])
    cols = [np.array([e[j] for x in lists for e in x], dtype=dt) for j, dt in zip(range(width), dtypes)]
    return [off] + cols


def _own_items(t: PodTerms, sw: Switches) -> list[tuple]:
    """The (kind, weight, term) items a pod owns that can affect other pods."""
    out = []
    if sw.ipa_filter:
        out += [("anti", 0, x) for x in t.req_anti]
    if sw.ipa_weight > 0:
        if sw.args.interpod.hard_pod_affinity_weight > 0:
            out += [("raff", 0, x) for x in t.req_aff]
        out += [("paff", w, x) for w, x in t.pref_aff]
        out += [("panti", w, x) for w, x in t.pref_anti]
    return out


class Plan:
    """Count arrays and per-topology-spec lists for kernel.schedule_topology."""

    def __init__(
        self, profile, cluster, specs: Sequence[Pod], spec_cls: np.ndarray, order: Optional[np.ndarray] = None
    ):
        sw = self.sw = switches(profile)
        self.objects = ObjectIndex(cluster_objects(cluster))
        N = len(cluster.node_names)
        self.N = N
        # --- topology specs (pods equal for both plugins share one) ---
        keys: dict[Any, int] = {}
        reps: list[tuple[Pod, int]] = []
        spec_topo = np.empty(len(specs), dtype=np.int64)
        for i, p in enumerate(specs):
            k = (spread_key(p), id(p.pod_affinity), id(p.pod_anti_affinity), int(spec_cls[i]))
            t = keys.get(k)
            if t is None:
                t = keys[k] = len(reps)
                reps.append((p, int(spec_cls[i])))
            spec_topo[i] = t
        self.spec_topo = spec_topo
        S = len(reps)
        # --- node key rows ---
        self._rows: dict[str, int] = {}
        self._row_data: list[np.ndarray] = []
        self.cluster = cluster
        # --- bound pods grouped by what the plugins read ---
        merged: dict[Any, list] = {}
        # `cluster` may be a view with permuted node rows (Scheduler.view); bound pods keep their row numbers.
        inv = None
        if order is not None:
            inv = np.empty(len(order), dtype=np.int64)
            inv[order] = np.arange(len(order))
        for p, nodes in bound_groups(cluster):
            if inv is not None:
                nodes = inv[nodes]
            gk = (
                p.namespace,
                tuple(sorted(p.labels.items())),
                p.deletion_timestamp is not None,
                id(p.pod_affinity),
                id(p.pod_anti_affinity),
            )
            merged.setdefault(gk, [p, []])[1].append(nodes)
        bgroups = [
            (p, np.concatenate(ns), pod_terms(p) if has_terms(p) else EMPTY) for p, ns in merged.values()
        ]
        # --- spread constraint classes ---
        ccs = _Registry()
        masks: dict[Any, np.ndarray] = {}
        hard_l: list[list] = []
        soft_l: list[list] = []
        reqall = np.zeros(S, dtype=np.bool_)
        for s, (p, cls) in enumerate(reps):
            hard, soft = [], []
            if sw.spread:
                cons, ra = pod_constraints(p, self.objects, sw.args.spread)
                reqall[s] = ra
                hk = tuple(sorted({c.key for c in cons if c.hard}))
                sk = tuple(sorted({c.key for c in cons if not c.hard})) if ra else ()
                for c in cons:
                    if c.hard and not sw.spread_filter or not c.hard and sw.spread_weight <= 0:
                        continue
                    if not c.hard and c.hostname:
                        cc = ccs.get(
                            ("node", p.namespace, c.selector),
                            lambda c=c, p=p: (p.namespace, c, self.row(None), np.ones(N, np.bool_)),
                        )
                        soft.append((cc, c.max_skew, True))
                        continue
                    mk = (
                        hk if c.hard else sk,
                        cls if c.affinity_honor else None,
                        toleration_key(p) if c.taints_honor else None,
                    )
                    if mk not in masks:
                        masks[mk] = self._mask(p, mk[0], c.affinity_honor, c.taints_honor)
                    cc = ccs.get(
                        ("label", p.namespace, c.selector, c.key, mk),
                        lambda c=c, p=p, mk=mk: (p.namespace, c, self.row(c.key), masks[mk]),
                    )
                    if c.hard:
                        hard.append((cc, c.max_skew, c.min_domains, int(c.self_match(p.labels))))
                    else:
                        soft.append((cc, c.max_skew, False))
            hard_l.append(hard)
            soft_l.append(soft)
        # --- inter-pod term classes ---
        tcs = _Registry()
        ra_l, rn_l, ea_l, ps_l = [], [], [], []
        ra_self = np.zeros(S, dtype=np.bool_)
        ps_on = np.zeros(S, dtype=np.bool_)
        own_terms = [pod_terms(p) if has_terms(p) else EMPTY for p, _ in reps]
        own_items: set = set()
        if sw.ipa:
            for _, _, t in bgroups:
                own_items.update(_own_items(t, sw))
            for t in own_terms:
                own_items.update(_own_items(t, sw))
        own_list = sorted(own_items, key=repr)
        for s, (p, _) in enumerate(reps):
            ra, rn, ea, ps = [], [], [], []
            if sw.ipa:
                q = pod_terms(p, self.objects) if has_terms(p) else EMPTY
                if sw.ipa_filter:
                    grp = q.req_aff
                    for j, t in enumerate(grp):
                        ra.append((tcs.get(("fwd", grp, j), lambda t=t, grp=grp: ("fwd", grp, t.key)),))
                    ra_self[s] = all(t.matches(p.namespace, p.labels, None) for t in grp)
                    for t in q.req_anti:
                        rn.append((tcs.get(("fwd", (t,), 0), lambda t=t: ("fwd", (t,), t.key)),))
                ns_labels = self.objects.ns_labels(p.namespace)
                ignore = sw.args.interpod.ignore_preferred_terms_of_existing_pods and not q.has_preferred
                ps_on[s] = sw.ipa_weight > 0 and not ignore
                for w, t in q.pref_aff:
                    ps.append((tcs.get(("fwd", (t,), 0), lambda t=t: ("fwd", (t,), t.key)), w))
                for w, t in q.pref_anti:
                    ps.append((tcs.get(("fwd", (t,), 0), lambda t=t: ("fwd", (t,), t.key)), -w))
                for item in own_list:
                    kind, w, t = item
                    if not t.matches(p.namespace, p.labels, ns_labels):
                        continue
                    tc = tcs.get(("own", item), lambda item=item: ("own", item, item[2].key))
                    if kind == "anti":
                        ea.append((tc,))
                    elif kind == "raff":
                        ps.append((tc, sw.args.interpod.hard_pod_affinity_weight))
                    elif kind == "paff":
                        ps.append((tc, w))
                    else:
                        ps.append((tc, -w))
            if not ps_on[s]:
                ps = []
            ra_l.append(ra)
            rn_l.append(rn)
            ea_l.append(ea)
            ps_l.append(ps)
        # --- memberships (which classes a pod of each topology spec counts for) ---
        sm_l = [[] for _ in range(S)]
        for ci, (ns, c, row, counted) in enumerate(ccs.items):
            if c.counts_nothing:
                continue
            for s, (p, _) in enumerate(reps):
                if (
                    p.namespace == ns
                    and p.deletion_timestamp is None
                    and selector_matches(c.selector, p.labels)
                ):
                    sm_l[s].append((ci,))
        tm_l = [[] for _ in range(S)]
        for ti, item in enumerate(tcs.items):
            for s, (p, _) in enumerate(reps):
                m = self._member(item, p, own_terms[s])
                if m:
                    tm_l[s].append((ti, m))
        # --- arrays ---
        self.kdom = (
            np.ascontiguousarray(np.stack(self._row_data))
            if self._row_data
            else np.full((1, N), -1, np.int32)
        )
        C = len(ccs.items)
        cc_row = np.array([it[2] for it in ccs.items], dtype=np.int64)
        cc_size = np.array([self._row_size(r) for r in cc_row], dtype=np.int64)
        cc_off = np.zeros(C, dtype=np.int64)
        if C:
            cc_off[1:] = np.cumsum(cc_size)[:-1]
        cnt = np.zeros(int(cc_size.sum()), dtype=np.int64)
        exists = np.zeros(int(cc_size.sum()), dtype=np.bool_)
        cc_counted = np.zeros((max(C, 1), N), dtype=np.bool_)
        for ci, (ns, c, row, counted) in enumerate(ccs.items):
            cc_counted[ci] = counted
            dom = self.kdom[row]
            ok = counted & (dom >= 0)
            exists[cc_off[ci] + dom[ok]] = True
            if c.counts_nothing:
                continue
            for p, nodes, _ in bgroups:
                if (
                    p.namespace != ns
                    or p.deletion_timestamp is not None
                    or not selector_matches(c.selector, p.labels)
                ):
                    continue
                d = dom[nodes[counted[nodes]]]
                d = d[d >= 0]
                np.add.at(cnt, cc_off[ci] + d, 1)
        cc_ndom = np.zeros(C, dtype=np.int64)
        cc_min = np.zeros(C, dtype=np.int64)
        cc_nmin = np.zeros(C, dtype=np.int64)
        for ci in range(C):
            cc_ndom[ci] = int(exists[cc_off[ci] : cc_off[ci] + cc_size[ci]].sum())
            cc_min[ci], cc_nmin[ci] = TK.recompute_min(cnt, exists, cc_off[ci], cc_size[ci])
        T = len(tcs.items)
        tc_row = np.array([self.row(it[2]) for it in tcs.items], dtype=np.int64)
        tc_size = np.array([self._row_size(r) for r in tc_row], dtype=np.int64)
        tc_off = np.zeros(T, dtype=np.int64)
        if T:
            tc_off[1:] = np.cumsum(tc_size)[:-1]
        self.kdom = np.ascontiguousarray(np.stack(self._row_data)) if self._row_data else self.kdom
        tcnt = np.zeros(int(tc_size.sum()), dtype=np.int64)
        tc_total = np.zeros(T, dtype=np.int64)
        for ti, item in enumerate(tcs.items):
            dom = self.kdom[tc_row[ti]]
            for p, nodes, terms in bgroups:
                m = self._member(item, p, terms)
                if not m:
                    continue
                d = dom[nodes]
                d = d[d >= 0]
                np.add.at(tcnt, tc_off[ti] + d, m)
                tc_total[ti] += m * len(d)
        i64, b = np.int64, np.bool_
        self.arrays = (
            self.kdom,
            sw.spread_filter,
            sw.ipa_filter,
            sw.spread_weight,
            sw.ipa_weight,
            *_csr(hard_l, 4, (i64, i64, i64, i64)),
            *_csr(soft_l, 3, (i64, i64, b)),
            reqall,
            *_csr(sm_l, 1, (i64,)),
            cc_row,
            cc_off,
            cc_size,
            cc_counted,
            cnt,
            exists,
            cc_ndom,
            cc_min,
            cc_nmin,
            *_csr(ra_l, 1, (i64,)),
            ra_self,
            *_csr(rn_l, 1, (i64,)),
            *_csr(ea_l, 1, (i64,)),
            *_csr(ps_l, 2, (i64, i64)),
            ps_on,
            *_csr(tm_l, 2, (i64, i64)),
            tc_row,
            tc_off,
            tcnt,
            tc_total,
        )
        self.n_constraint_classes, self.n_term_classes = C, T

    # --- helpers ---
    def row(self, key: str | None) -> int:
        """kdom row of a label key (dense domain ids, -1 absent); None: the node-index row of hostname
        scoring."""
        r = self._rows.get(key)
        if r is None:
            c = self.cluster
            if key is None:
                hk = c.label_key_index.get(HOSTNAME_KEY)
                has = c.label_codes[:, hk] >= 0 if hk is not None else np.zeros(self.N, np.bool_)
                data = np.where(has, np.arange(self.N), -1).astype(np.int32)
            else:
                k = c.label_key_index.get(key)
                data = np.full(self.N, -1, np.int32)
                if k is not None:
                    # dense domain ids 0..D-1 (label value codes are global): count arrays and the global
                    # minimum's rescans are then per domain, not per value of every key
                    col = c.label_codes[:, k]
                    has = col >= 0
                    if has.any():
                        v = col[has]
                        lut = np.cumsum(np.bincount(v) > 0) - 1      # value code -> rank among used codes
                        data[has] = lut[v]
            r = self._rows[key] = len(self._row_data)
            self._row_data.append(data)
        return r

    def _row_size(self, r: int) -> int:
        return max(int(self._row_data[r].max(initial=-1)) + 1, 1)

    def _mask(self, pod: Pod, keys: tuple, affinity: bool, taints: bool) -> np.ndarray:
        m = np.ones(self.N, dtype=np.bool_)
        for k in keys:
            m &= self._row_data[self.row(k)] >= 0
        # Honor: the pod's own nodeSelector and required node affinity (nothing to check without them)
        own = pod.node_selector or (pod.affinity is not None and pod.affinity.required is not None)
        if affinity and own:
            m &= compile_class(self.cluster, pod, filters={"NodeAffinity"}).code == 0
        if taints:
            m &= compile_class(self.cluster, pod, filters={"TaintToleration"}).code == 0
        return m

    @staticmethod
    def _member(item, p: Pod, terms: PodTerms) -> int:
        if item[0] == "fwd":
            return int(all(t.matches(p.namespace, p.labels, None) for t in item[1]))
        kind, w, t = item[1]
        src = {"anti": terms.req_anti, "raff": terms.req_aff}.get(kind)
        if src is not None:
            return sum(1 for x in src if x == t)
        src = terms.pref_aff if kind == "paff" else terms.pref_anti
        return sum(1 for ww, x in src if ww == w and x == t)


def place(
    cluster, cp, arrays, spec_cls, spec_req, spec_nz, pod_spec, rng, start, out, fail, plan: Plan,
    indexed: bool = False, stats=None,
):
    """Place pods in order; returns the per-pod topology reason counts [P, 6]. With `indexed`, pods go through
    the bucket index (tindex.py) when the classes and node types allow it, the rest through the node scan
    (kernel.schedule_topology); both give identical results."""
    topo_fail = np.zeros((len(out), TK.N_TOPO_REASONS), dtype=np.int32)
    N = len(cluster.node_names)
    done = 0
    if indexed and len(out) >= TX_MIN_PODS:
        ix = TX.prepare(cluster, cp, arrays, spec_cls, pod_spec, plan, check_size=True)
        if ix is not None:
            done, nb, nt = TX.place(
                ix, cluster, cp, arrays, spec_cls, spec_req, spec_nz, pod_spec, rng, start, out, fail,
                topo_fail, plan
            )
            if stats is not None:
                stats.indexed_pods, stats.buckets, stats.types = done, nb, nt
    if stats is not None:
        stats.scan_pods = len(out) - done
    if done >= len(out):
        return topo_fail
    pod_spec = pod_spec[done:]
    dummy_i = np.zeros(1, dtype=np.int64)
    dummy_s = np.zeros((1, 1), dtype=np.int64)
    TK.schedule_topology(
        cluster.allocatable,
        cluster.requested,
        cluster.nonzero_requested,
        cp.check_col,
        cp.fit_filter_on,
        np.ascontiguousarray(pod_spec, dtype=np.int64),
        np.ascontiguousarray(spec_cls, dtype=np.int64),
        spec_req,
        spec_nz,
        plan.spec_topo,
        *arrays,
        cp.weights,
        cp.fit_col,
        cp.fit_kind,
        cp.fit_w,
        cp.strategy,
        cp.shape_u,
        cp.shape_s,
        cp.bal_col,
        cp.bal_kind,
        cp.pct,
        rng,
        start,
        *plan.arrays,
        False,
        out[done:],
        fail[done:],
        topo_fail[done:],
        np.zeros(N, np.int64),
        np.zeros(N, np.int64),
        dummy_s,
        dummy_i,
        dummy_i,
    )
    return topo_fail


def explain_pod(cluster, cp, arrays, spec_req, spec_nz, rng, plan: Plan):
    """One pod (spec 0, static class 0) in explain mode: (fit bits [N], topology reason [N], feasible, scores
    [6, k], totals, pick)."""
    N = len(cluster.node_names)
    bits = np.zeros(N, np.int64)
    why = np.zeros(N, np.int64)
    scores = np.full((TK.N_ALL_PLUGINS, N), -1, np.int64)
    totals = np.zeros(N, np.int64)
    feas = np.zeros(N, np.int64)
    out = np.full(1, -1, np.int32)
    k = TK.schedule_topology(
        cluster.allocatable,
        cluster.requested,
        cluster.nonzero_requested,
        cp.check_col,
        cp.fit_filter_on,
        np.zeros(1, np.int64),
        np.zeros(1, np.int64),
        spec_req,
        spec_nz,
        plan.spec_topo,
        *arrays,
        cp.weights,
        cp.fit_col,
        cp.fit_kind,
        cp.fit_w,
        cp.strategy,
        cp.shape_u,
        cp.shape_s,
        cp.bal_col,
        cp.bal_kind,
        100,
        rng.copy(),
        np.zeros(1, np.int64),
        *plan.arrays,
        True,
        out,
        np.zeros((1, len(cluster.resource_names)), np.int32),
        np.zeros((1, TK.N_TOPO_REASONS), np.int32),
        bits,
        why,
        scores,
        totals,
        feas,
    )
    return bits, why, feas[:k], scores[:, :k], totals[:k], int(out[0]) if k else -1


def histogram(topo_row: np.ndarray) -> Counter:
    h: Counter = Counter()
    for code, reason in REASONS.items():
        if topo_row[code]:
            h[reason] += int(topo_row[code])
    return h


TOPOLOGY_ENGINES = ("auto", "numba", "reference")  # engines that run both plugins (the Numba path)


def run_if_needed(
    sched,
    cluster,
    cp,
    arrays,
    specs,
    spec_cls,
    spec_req,
    spec_nz,
    pod_spec,
    out,
    fail,
    with_devices: bool = False,
    order: Optional[np.ndarray] = None,
) -> Optional[np.ndarray]:
    """Place through the topology kernel when either plugin can matter for these pods (see `needed`); returns
    the topology reason counts [P, 6], or None when the caller's engine path applies. `auto` routes here and
    `last_stats.engine` says "topology"; an explicit engine without the plugins raises before any change."""
    if not needed(sched.profile, cluster, specs):
        return None
    from ..engines import EngineStats
    from ..scheduler import SchedulingError

    if sched.engine not in TOPOLOGY_ENGINES:
        raise SchedulingError(
            f"engine={sched.engine!r} does not implement PodTopologySpread / InterPodAffinity, "
            "which these pods need: use engine='auto' (routes them to the Numba topology path) "
            "or 'numba'"
        )
    if with_devices:
        raise SchedulingError(
            "GPU device tracking and PodTopologySpread / InterPodAffinity in one schedule call "
            "are not supported: schedule the GPU pods separately"
        )
    if getattr(cp, "static_names", None):
        raise SchedulingError(
            f"plugin(s) {', '.join(cp.static_names)}: registered static score plugins do not "
            "combine with PodTopologySpread / InterPodAffinity pods yet"
        )
    plan = Plan(sched.profile, cluster, specs, spec_cls, order)
    if pod_spec is None:
        pod_spec = np.arange(len(specs), dtype=np.int64)
    st = EngineStats()
    st.engine = "topology"
    topo_fail = place(
        cluster, cp, arrays, spec_cls, spec_req, spec_nz, pod_spec, sched.rng, sched.start, out, fail, plan,
        indexed=sched.engine == "auto", stats=st,
    )
    st.reference_pods = st.scan_pods
    if not st.indexed_pods:
        st.types = plan.n_constraint_classes + plan.n_term_classes
    sched.last_stats = st
    return topo_fail
