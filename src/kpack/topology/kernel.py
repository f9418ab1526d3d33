"""Numba scheduling cycle with PodTopologySpread and InterPodAffinity: kernels.py's fit filter, scores and
host selection plus per-domain match counts (constraint class x topology value, term class x topology value)
that are updated as each pod of the batch binds, so a batch places exactly as one call per pod would."""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import kernels as K
from ..resources import COL_PODS

# Topology filter reason codes (0 = passes), in upstream filter order.
T_OK, T_SPREAD_MISSING, T_SPREAD, T_AFFINITY, T_ANTI, T_EXISTING_ANTI = 0, 1, 2, 3, 4, 5
N_TOPO_REASONS = 6
P_SPREAD, P_INTERPOD = K.N_SCORE_PLUGINS, K.N_SCORE_PLUGINS + 1
N_ALL_PLUGINS = K.N_SCORE_PLUGINS + 2


@njit(cache=True, nogil=True, error_model="numpy")
def recompute_min(cnt, exists, off, size):
    """(min count over existing domains, how many domains hold it); (0, 0) without domains."""
    mn = np.int64(-1)
    nmin = 0
    for d in range(size):
        if exists[off + d]:
            v = cnt[off + d]
            if mn < 0 or v < mn:
                mn = v
                nmin = 1
            elif v == mn:
                nmin += 1
    if mn < 0:
        return np.int64(0), 0
    return mn, nmin


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def go_round(x):
    """math.Round for x >= 0 (half away from zero), exact."""
    f = np.floor(x)
    if x - f >= 0.5:
        f += 1.0
    return np.int64(f)


@njit(cache=True, nogil=True, error_model="numpy")
def spread_scores(
    s, feasible, k, kdom, sc_off, sc_cc, sc_skew, sc_host, reqall, cc_row, cc_off, cnt, mark, stamp, out
):
    """PodTopologySpread PreScore + Score + NormalizeScore over feasible[:k] into out[:k]."""
    ignored = np.zeros(k, dtype=np.bool_)
    nign = 0
    if reqall[s]:
        for i in range(k):
            n = feasible[i]
            for e in range(sc_off[s], sc_off[s + 1]):
                if kdom[cc_row[sc_cc[e]], n] < 0:
                    ignored[i] = True
            if ignored[i]:
                nign += 1
    nsoft = sc_off[s + 1] - sc_off[s]
    wts = np.empty(nsoft, dtype=np.float64)
    for j in range(nsoft):
        e = sc_off[s] + j
        if sc_host[e]:
            size = k - nign
        else:
            stamp[0] += 1
            st = stamp[0]
            size = 0
            row = cc_row[sc_cc[e]]
            for i in range(k):
                if ignored[i]:
                    continue
                slot = kdom[row, feasible[i]] + 1  # slot 0: the missing label registers ""
                if mark[slot] != st:
                    mark[slot] = st
                    size += 1
        wts[j] = np.log(np.float64(size + 2))
    raw = np.zeros(k, dtype=np.int64)
    mx = np.int64(0)
    mn = np.int64(np.iinfo(np.int64).max)
    for i in range(k):
        if ignored[i]:
            continue
        n = feasible[i]
        sc = 0.0
        for j in range(nsoft):
            e = sc_off[s] + j
            c = sc_cc[e]
            d = kdom[cc_row[c], n]
            if d >= 0:
                sc += np.float64(cnt[cc_off[c] + d]) * wts[j] + np.float64(sc_skew[e] - 1)
        r = go_round(sc)
        raw[i] = r
        mx = max(mx, r)
        mn = min(mn, r)
    for i in range(k):
        if ignored[i]:
            out[i] = 0
        elif mx == 0:
            out[i] = K.MAX_NODE_SCORE
        else:
            out[i] = K.MAX_NODE_SCORE * (mx + mn - raw[i]) // mx


@njit(cache=True, nogil=True, error_model="numpy")
def interpod_scores(s, feasible, k, kdom, ps_off, ps_tc, ps_coef, tc_row, tc_off, tcnt, out):
    """InterPodAffinity Score + NormalizeScore (range normalisation, float64 then truncation)."""
    raw = np.zeros(k, dtype=np.int64)
    mn = np.int64(np.iinfo(np.int64).max)
    mx = np.int64(np.iinfo(np.int64).min)
    for i in range(k):
        n = feasible[i]
        v = np.int64(0)
        for e in range(ps_off[s], ps_off[s + 1]):
            t = ps_tc[e]
            d = kdom[tc_row[t], n]
            if d >= 0:
                v += ps_coef[e] * tcnt[tc_off[t] + d]
        raw[i] = v
        mx = max(mx, v)
        mn = min(mn, v)
    diff = mx - mn
    for i in range(k):
        if diff > 0:
            out[i] = np.int64(np.float64(K.MAX_NODE_SCORE) * (np.float64(raw[i] - mn) / np.float64(diff)))
        else:
            out[i] = 0


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def interpod_skip(s, ps_off, ps_tc, tc_total):
    """PreScore Skip: no (existing pod, term) pair contributed (pairs that cancel still count)."""
    for e in range(ps_off[s], ps_off[s + 1]):
        if tc_total[ps_tc[e]] > 0:
            return False
    return True


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def commit_topology(
    s,
    m,
    kdom,
    sm_off,
    sm_cc,
    cc_row,
    cc_off,
    cc_size,
    cc_counted,
    cnt,
    exists,
    cc_min,
    cc_nmin,
    tm_off,
    tm_tc,
    tm_mult,
    tc_row,
    tc_off,
    tcnt,
    tc_total,
):
    """A pod of topology spec s binds on node m: bump the domain counts of every class it counts for."""
    for e in range(sm_off[s], sm_off[s + 1]):
        c = sm_cc[e]
        if not cc_counted[c, m]:
            continue
        d = kdom[cc_row[c], m]
        if d < 0:
            continue
        old = cnt[cc_off[c] + d]
        cnt[cc_off[c] + d] = old + 1
        if old == cc_min[c]:
            cc_nmin[c] -= 1
            if cc_nmin[c] <= 0:
                mn, nm = recompute_min(cnt, exists, cc_off[c], cc_size[c])
                cc_min[c] = mn
                cc_nmin[c] = nm
    for e in range(tm_off[s], tm_off[s + 1]):
        t = tm_tc[e]
        d = kdom[tc_row[t], m]
        if d >= 0:
            tcnt[tc_off[t] + d] += tm_mult[e]
            tc_total[t] += tm_mult[e]


@njit(cache=True, nogil=True, error_model="numpy")
def schedule_topology(
    alloc,
    req,
    nz,
    check_col,
    fit_filter_on,
    pod_spec,
    spec_cls,
    spec_req,
    spec_nz,
    spec_topo,
    cls_code,
    cls_cand_off,
    cls_cand_len,
    cand_flat,
    cls_conflict,
    cls_aff_row,
    aff_rows,
    cls_taint_row,
    taint_rows,
    weights,
    fit_col,
    fit_kind,
    fit_w,
    strategy,
    shape_u,
    shape_s,
    bal_col,
    bal_kind,
    pct,
    rng,
    start,
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
    cnt,
    exists,
    cc_ndom,
    cc_min,
    cc_nmin,
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
    tcnt,
    tc_total,
    explain,
    out_node,
    fail_counts,
    topo_fail,
    ex_bits,
    ex_reason,
    ex_scores,
    ex_totals,
    ex_feasible,
):
    """Place pods in order (pod p is spec pod_spec[p], of topology spec spec_topo[spec]); mutates
    req/nz/rng/start and the counts.

    With `explain` (one pod): every candidate is visited, nothing is committed, the rng is not advanced, and
    ex_bits / ex_reason (per node), ex_scores [plugin, i] / ex_totals / ex_feasible (per feasible node) are
    filled; returns the number of feasible nodes and out_node[0] is the pick."""
    N = alloc.shape[0]
    R = alloc.shape[1]
    feasible = np.empty(N, dtype=np.int64)
    scores = np.empty((K.N_SCORE_PLUGINS, N), dtype=np.int64)
    extra = np.empty(N, dtype=np.int64)
    tmp_fail = np.zeros(R, dtype=np.int32)
    tmp_topo = np.zeros(N_TOPO_REASONS, dtype=np.int32)
    empty = np.zeros(0, dtype=np.int64)
    no_devices = np.zeros((N, 0), dtype=np.int32)
    ra_total = np.zeros(ra_self.shape[0], dtype=np.int64)
    mark = np.zeros((np.int64(kdom.max()) if kdom.size else 0) + 2, dtype=np.int64)
    stamp = np.zeros(1, dtype=np.int64)
    k = 0
    for p in range(pod_spec.shape[0]):
        sp = pod_spec[p]
        c = spec_cls[sp]
        s = spec_topo[sp]
        out_node[p] = -1
        if cls_conflict[c]:
            continue
        cand_len = cls_cand_len[c]
        if cand_len == 0:
            continue
        preq = spec_req[sp]
        pnz = spec_nz[sp]
        code = cls_code[c]
        cand = cand_flat[cls_cand_off[c] :]
        any_req = False
        for r in range(R):
            if r != COL_PODS and preq[r] != 0:
                any_req = True
        ncand = N if cand_len < 0 else cand_len
        to_find = ncand if explain else K.num_feasible_nodes_to_find(ncand, pct)
        tmp_fail[:] = 0
        tmp_topo[:] = 0
        k = 0
        processed = 0
        s0 = 0 if explain else start[0]
        ra_total[s] = 0
        for e in range(ra_off[s], ra_off[s + 1]):
            ra_total[s] += tc_total[ra_tc[e]]
        no_topo_filter = (not spread_on or hc_off[s + 1] == hc_off[s]) and (
            not ipa_on
            or (ra_off[s + 1] == ra_off[s] and rn_off[s + 1] == rn_off[s] and ea_off[s + 1] == ea_off[s])
        )
        if no_topo_filter and not explain:
            # Nothing topological to filter: kernels.find_feasible is the same pass (and faster).
            k = K.find_feasible(
                alloc,
                req,
                check_col,
                fit_filter_on,
                preq,
                code,
                cand_len,
                cand,
                pct,
                start,
                feasible,
                tmp_fail,
                no_devices,
                0,
                1000,
                0,
            )
            ncand = 0
        for i in range(ncand):
            j = (s0 + i) % ncand
            n = j if cand_len < 0 else cand[j]
            processed += 1
            if code[n] != 0:
                continue
            if fit_filter_on:
                bits = K.fit_failures(alloc, req, n, preq, check_col, any_req)
                if bits != 0:
                    for r in range(R):
                        if (bits >> r) & 1:
                            tmp_fail[r] += 1
                    if explain:
                        ex_bits[n] = bits
                    continue
            # PodTopologySpread.Filter then InterPodAffinity.Filter, written out in the loop: a call passing
            # many arrays per node costs more than the checks (Numba reference-counts each array).
            why = T_OK
            if spread_on:
                for e in range(hc_off[s], hc_off[s + 1]):
                    cc = hc_cc[e]
                    d = kdom[cc_row[cc], n]
                    if d < 0:
                        why = T_SPREAD_MISSING
                        break
                    gmin = cc_min[cc]
                    if cc_ndom[cc] < hc_mindom[e]:
                        gmin = 0
                    if cnt[cc_off[cc] + d] + hc_self[e] - gmin > hc_skew[e]:
                        why = T_SPREAD
                        break
            if ipa_on and why == T_OK:
                exist = True
                for e in range(ra_off[s], ra_off[s + 1]):
                    t = ra_tc[e]
                    d = kdom[tc_row[t], n]
                    if d < 0:
                        why = T_AFFINITY
                        break
                    if tcnt[tc_off[t] + d] <= 0:
                        exist = False
                if why == T_OK and not exist and (ra_total[s] != 0 or not ra_self[s]):
                    why = T_AFFINITY
                if why == T_OK:
                    for e in range(rn_off[s], rn_off[s + 1]):
                        t = rn_tc[e]
                        d = kdom[tc_row[t], n]
                        if d >= 0 and tcnt[tc_off[t] + d] > 0:
                            why = T_ANTI
                            break
                if why == T_OK:
                    for e in range(ea_off[s], ea_off[s + 1]):
                        t = ea_tc[e]
                        d = kdom[tc_row[t], n]
                        if d >= 0 and tcnt[tc_off[t] + d] > 0:
                            why = T_EXISTING_ANTI
                            break
            if why != T_OK:
                tmp_topo[why] += 1
                if explain:
                    ex_reason[n] = why
                continue
            feasible[k] = n
            k += 1
            if k == to_find:
                break
        if not explain and not (no_topo_filter and not explain):
            start[0] = (s0 + processed) % N
        if k == 0:
            fail_counts[p, :] = tmp_fail
            topo_fail[p, :] = tmp_topo
            continue
        if k == 1 and not explain:
            chosen = feasible[0]
        else:
            ar = cls_aff_row[c]
            aff = aff_rows[ar] if ar >= 0 else empty
            taint = taint_rows[cls_taint_row[c]]
            totals = K.score_feasible(
                alloc,
                req,
                nz,
                preq,
                pnz,
                feasible,
                k,
                aff,
                taint,
                weights,
                fit_col,
                fit_kind,
                fit_w,
                strategy,
                shape_u,
                shape_s,
                bal_col,
                bal_kind,
                scores,
            )
            if explain:
                ex_scores[: K.N_SCORE_PLUGINS, :k] = scores[:, :k]
                ex_scores[P_SPREAD, :k] = -1
                ex_scores[P_INTERPOD, :k] = -1
            if w_spread > 0 and sc_off[s + 1] > sc_off[s]:
                spread_scores(
                    s,
                    feasible,
                    k,
                    kdom,
                    sc_off,
                    sc_cc,
                    sc_skew,
                    sc_host,
                    reqall,
                    cc_row,
                    cc_off,
                    cnt,
                    mark,
                    stamp,
                    extra,
                )
                for i in range(k):
                    totals[i] += extra[i] * w_spread
                if explain:
                    ex_scores[P_SPREAD, :k] = extra[:k]
            if w_ipa > 0 and ps_on[s] and not interpod_skip(s, ps_off, ps_tc, tc_total):
                interpod_scores(s, feasible, k, kdom, ps_off, ps_tc, ps_coef, tc_row, tc_off, tcnt, extra)
                for i in range(k):
                    totals[i] += extra[i] * w_ipa
                if explain:
                    ex_scores[P_INTERPOD, :k] = extra[:k]
            if explain:
                ex_totals[:k] = totals[:k]
                ex_feasible[:k] = feasible[:k]
                out_node[p] = 0 if k == 1 else K.select_host(totals, k, rng, False)
                return k
            chosen = feasible[K.select_host(totals, k, rng, True)]
        out_node[p] = chosen
        K.commit(req, nz, chosen, preq, pnz)
        commit_topology(
            s,
            chosen,
            kdom,
            sm_off,
            sm_cc,
            cc_row,
            cc_off,
            cc_size,
            cc_counted,
            cnt,
            exists,
            cc_min,
            cc_nmin,
            tm_off,
            tm_tc,
            tm_mult,
            tc_row,
            tc_off,
            tcnt,
            tc_total,
        )
    return k
