"""Per-pod NumPy baseline with PodTopologySpread and InterPodAffinity: numpy_baseline's filter and scores
plus, per pod, per-domain counts recomputed with np.bincount over the pods placed so far (classes and initial
counts from kpack.topology.engine.Plan, as a user would compile selectors once), then vectorised filter,
score and normalisation over the nodes in visit order."""

from __future__ import annotations

import numpy as np

from ..predicates import class_key, compile_class
from ..resources import COL_CPU, COL_MEMORY, COL_PODS
from ..topology.engine import Plan
from .numpy_baseline import NumpyScheduler, num_feasible_nodes_to_find, splitmix64


def _lists(off, *cols):
    return [[tuple(c[e] for c in cols) for e in range(off[s], off[s + 1])] for s in range(len(off) - 1)]


class NumpyTopologyScheduler(NumpyScheduler):
    """`schedule(cluster, specs, spec_index)` for the default profile including both topology plugins."""

    def schedule(self, cluster, specs, spec_index: np.ndarray) -> np.ndarray:
        # kube-scheduler's node visit order (zones interleaved), as kpack's Scheduler.view uses.
        order = cluster.visit_order() if hasattr(cluster, "visit_order") else None
        if order is not None:
            out = self._schedule(cluster.permuted(order), specs, spec_index, order)
            return np.where(out >= 0, order[np.maximum(out, 0)], -1).astype(np.int32)
        return self._schedule(cluster, specs, spec_index, None)

    def _schedule(self, cluster, specs, spec_index: np.ndarray, order) -> np.ndarray:
        alloc, req, nzr = cluster.allocatable, cluster.requested, cluster.nonzero_requested
        N = alloc.shape[0]
        filters = set(self.profile.filters)
        sreq, snz = cluster.pod_vectors(list(specs))
        classes, spec_cls = {}, []
        for p in specs:
            k = class_key(p)
            if k not in classes:
                classes[k] = len(classes)
            spec_cls.append(classes[k])
        compiled = {}
        for p, c in zip(specs, spec_cls):
            if c not in compiled:
                compiled[c] = compile_class(cluster, p, filters=filters)
        plan = Plan(self.profile, cluster, list(specs), np.array(spec_cls), order)
        (
            kdom,
            spread_on,
            ipa_on,
            w_spread,
            w_ipa,
            hc_off,
            hc_cc,
            hc_skew,
            hc_mindom,
            hc_self,
            sc_off,
            sc_cc,
            sc_skew,
            sc_host,
            reqall,
            sm_off,
            sm_cc,
            cc_row,
            cc_off,
            cc_size,
            cc_counted,
            cnt0,
            exists,
            cc_ndom,
            _,
            _,
            ra_off,
            ra_tc,
            ra_self,
            rn_off,
            rn_tc,
            ea_off,
            ea_tc,
            ps_off,
            ps_tc,
            ps_coef,
            ps_on,
            tm_off,
            tm_tc,
            tm_mult,
            tc_row,
            tc_off,
            tcnt0,
            tc_total0,
        ) = plan.arrays

        hard, soft = (
            _lists(hc_off, hc_cc, hc_skew, hc_mindom, hc_self),
            _lists(sc_off, sc_cc, sc_skew, sc_host),
        )
        ra, rn, ea = _lists(ra_off, ra_tc), _lists(rn_off, rn_tc), _lists(ea_off, ea_tc)
        ps, sm, tm = _lists(ps_off, ps_tc, ps_coef), _lists(sm_off, sm_cc), _lists(tm_off, tm_tc, tm_mult)
        cc_member = [
            np.array([s for s in range(len(sm)) if any(e[0] == c for e in sm[s])], np.int64)
            for c in range(len(cc_row))
        ]
        tc_mult = np.zeros((len(tc_row), len(tm)), np.int64)
        for s in range(len(tm)):
            for t, m in tm[s]:
                tc_mult[t, s] += m
        placed_node, placed_topo = [], []
        out = np.full(len(spec_index), -1, dtype=np.int32)
        checked = np.ones(alloc.shape[1], dtype=bool)
        checked[COL_PODS] = False
        most = self.profile.scoring_strategy == "MostAllocated"

        for i, sp in enumerate(np.asarray(spec_index).tolist()):
            cls = compiled[spec_cls[sp]]
            s = int(plan.spec_topo[sp])
            if cls.conflict:
                continue
            preq, pnz = sreq[sp], snz[sp]
            pn = np.array(placed_node, np.int64)
            pt = np.array(placed_topo, np.int64)

            def cc_counts(c):
                off, size = cc_off[c], cc_size[c]
                v = cnt0[off : off + size].copy()
                if len(pn):
                    sel = np.isin(pt, cc_member[c]) & cc_counted[c][pn]
                    d = kdom[cc_row[c]][pn[sel]]
                    v += np.bincount(d[d >= 0], minlength=size)[:size]
                return v

            def tc_counts(t):
                off = tc_off[t]
                size = len(tcnt0[off:]) if t + 1 == len(tc_off) else tc_off[t + 1] - off
                v = tcnt0[off : off + size].copy()
                if len(pn):
                    w = tc_mult[t][pt]
                    d = kdom[tc_row[t]][pn]
                    ok = (d >= 0) & (w > 0)
                    v += np.bincount(d[ok], weights=w[ok], minlength=size)[:size].astype(np.int64)
                return v

            cand = cls.candidates
            ncand = N if cand is None else len(cand)
            if ncand == 0:
                continue
            order = (self.start + np.arange(ncand)) % ncand
            nodes = order if cand is None else cand[order].astype(np.int64)
            feas = cls.code[nodes] == 0
            fail = req[nodes, COL_PODS] + 1 > alloc[nodes, COL_PODS]
            if (preq[checked] != 0).any():
                fail |= ((preq > 0) & (preq > alloc[nodes] - req[nodes]) & checked).any(axis=1)
            feas &= ~fail
            if spread_on:
                for c, skew, mindom, selfm in hard[s]:
                    v = cc_counts(c)
                    ex = exists[cc_off[c] : cc_off[c] + cc_size[c]]
                    gmin = int(v[ex].min()) if ex.sum() >= mindom and ex.any() else 0
                    d = kdom[cc_row[c]][nodes]
                    feas &= (d >= 0) & (v[np.maximum(d, 0)] + selfm - gmin <= skew)
            if ipa_on:
                if ra[s]:
                    counts = [tc_counts(t) for (t,) in ra[s]]
                    total = sum(
                        int(tc_total0[t])
                        + (int(tc_mult[t][pt][kdom[tc_row[t]][pn] >= 0].sum()) if len(pn) else 0)
                        for (t,) in ra[s]
                    )
                    has_all = np.ones(len(nodes), bool)
                    exist = np.ones(len(nodes), bool)
                    for (t,), v in zip(ra[s], counts):
                        d = kdom[tc_row[t]][nodes]
                        has_all &= d >= 0
                        exist &= (d >= 0) & (v[np.maximum(d, 0)] > 0)
                    feas &= has_all & (exist | (total == 0 and bool(ra_self[s])))
                for (t,) in rn[s] + ea[s]:
                    v = tc_counts(t)
                    d = kdom[tc_row[t]][nodes]
                    feas &= ~((d >= 0) & (v[np.maximum(d, 0)] > 0))
            to_find = num_feasible_nodes_to_find(ncand, self.pct)
            cum = np.cumsum(feas)
            processed = int(np.searchsorted(cum, to_find)) + 1 if int(cum[-1]) >= to_find else ncand
            self.start = (self.start + processed) % N
            win = nodes[:processed][feas[:processed]]
            k = len(win)
            if k == 0:
                continue
            if k == 1:
                chosen = int(win[0])
            else:
                a = alloc[win][:, [COL_CPU, COL_MEMORY]]
                totals = np.zeros(k, dtype=np.int64)
                r = nzr[win] + pnz
                if most:
                    sc = np.where(a > 0, np.minimum(r, a) * 100 // np.maximum(a, 1), 0)
                else:
                    sc = np.where((a > 0) & (r <= a), (a - r) * 100 // np.maximum(a, 1), 0)
                wm = (a > 0) * self.fit_w
                wsum = wm.sum(axis=1)
                totals += np.where(wsum > 0, (sc * wm).sum(axis=1) // np.maximum(wsum, 1), 0) * self.w_fit
                if preq[COL_CPU] != 0 or preq[COL_MEMORY] != 0:
                    rr = req[win][:, [COL_CPU, COL_MEMORY]] + preq[[COL_CPU, COL_MEMORY]]
                    f = np.minimum(rr / np.where(a > 0, a, 1), 1.0)
                    std = np.where((a > 0).all(axis=1), np.abs((f[:, 0] - f[:, 1]) / 2), 0.0)
                    totals += ((1 - std) * 100).astype(np.int64) * self.w_bal
                if cls.affinity_raw is not None:
                    raw = cls.affinity_raw[win]
                    mx = raw.max()
                    totals += (100 * raw // mx if mx > 0 else raw) * self.w_aff
                raw = cls.taint_raw[win]
                mx = raw.max()
                totals += (100 - 100 * raw // mx if mx > 0 else np.full(k, 100)) * self.w_taint
                if w_spread and soft[s]:
                    ign = np.zeros(k, bool)
                    if reqall[s]:
                        for c, _, _ in soft[s]:
                            ign |= kdom[cc_row[c]][win] < 0
                    raw = np.zeros(k)
                    for c, skew, host in soft[s]:
                        d = kdom[cc_row[c]][win]
                        size = (k - ign.sum()) if host else len(np.unique(d[~ign]))
                        w = np.log(size + 2.0)
                        v = cc_counts(c)
                        raw += np.where(d >= 0, v[np.maximum(d, 0)] * w + (skew - 1), 0.0)
                    fl = np.floor(raw)
                    raw = (fl + (raw - fl >= 0.5)).astype(np.int64)
                    live = raw[~ign]
                    mx, mn = max(int(live.max(initial=0)), 0), (int(live.min()) if len(live) else 0)
                    norm = np.full(k, 100, np.int64) if mx == 0 else 100 * (mx + mn - raw) // mx
                    totals += np.where(ign, 0, norm) * w_spread
                if w_ipa and ps_on[s] and ps[s]:
                    tots = [
                        int(tc_total0[t])
                        + (int(tc_mult[t][pt][kdom[tc_row[t]][pn] >= 0].sum()) if len(pn) else 0)
                        for t, _ in ps[s]
                    ]
                    if sum(tots) > 0:
                        raw = np.zeros(k, np.int64)
                        for t, coef in ps[s]:
                            d = kdom[tc_row[t]][win]
                            raw += np.where(d >= 0, coef * tc_counts(t)[np.maximum(d, 0)], 0)
                        diff = raw.max() - raw.min()
                        if diff > 0:
                            totals += (100.0 * ((raw - raw.min()) / float(diff))).astype(np.int64) * w_ipa
                tied = np.flatnonzero(totals == totals.max())
                if len(tied) == 1:
                    chosen = int(win[tied[0]])
                else:
                    self.rng, u = splitmix64(self.rng)
                    chosen = int(win[tied[u % len(tied)]])
            out[i] = chosen
            req[chosen] += preq
            nzr[chosen] += pnz
            placed_node.append(chosen)
            placed_topo.append(s)
        return out
