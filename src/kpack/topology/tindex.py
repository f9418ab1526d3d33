"""Indexed topology path: kernel.schedule_topology answered from node state buckets instead of a node scan.

A bucket is (static type, requested row, non-zero row, node-level counts). The static type fixes allocatable,
taints, the domain of every topology key whose values are shared by several nodes (zone, region) and only the
presence of keys whose values are unique per node (hostname: their per-domain counts are per-node counts, kept
in the bucket key). Every node of a bucket therefore passes the same filters with the same reasons and gets
the same raw scores, evaluated once per bucket on a representative member with the counts read from the
scan kernel's own count arrays (commit_topology updates them). The visit-order questions (the window of
numFeasibleNodesToFind, the k-th tied node) are the indexed engine's bitset selects (engines/indexed.py), so
placements, reasons, rng draws and the start index are the scan kernel's. `run` returns the first pod it could
not place when the bucket table is full."""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import kernels as K
from ..engines import indexed as IX
from ..resources import COL_PODS
from . import kernel as TK

_HMUL = np.uint64(0xFF51AFD7ED558CCD)
_HSEED = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True, inline="always")
def node_counts(n, kdom, hs_arr, hs_off, hs_row, cnt, tcnt, out):
    """The node-level counts of node n (slot j: class count of n's own domain, -1 without the label)."""
    for j in range(hs_arr.shape[0]):
        d = kdom[hs_row[j], n]
        if d < 0:
            out[j] = -1
        elif hs_arr[j] == 0:
            out[j] = cnt[hs_off[j] + d]
        else:
            out[j] = tcnt[hs_off[j] + d]


@njit(cache=True, nogil=True, inline="always")
def bucket_hash(t, row, nzrow, hv):
    h = _HSEED ^ np.uint64(t)
    h *= _HMUL
    for r in range(row.shape[0]):
        h ^= np.uint64(row[r])
        h *= _HMUL
        h ^= h >> np.uint64(29)
    h ^= np.uint64(nzrow[0])
    h *= _HMUL
    h ^= np.uint64(nzrow[1])
    h *= _HMUL
    for j in range(hv.shape[0]):
        h ^= np.uint64(hv[j])
        h *= _HMUL
        h ^= h >> np.uint64(29)
    h ^= h >> np.uint64(32)
    return h


@njit(cache=True, nogil=True, inline="always")
def find_or_add(t, row, nzrow, hv, btype, breq, bnz, bhv, balloc, talloc, htab, nb):
    """Bucket id of state (type, requested, non-zero, node counts), created if new (nb[0] counts buckets)."""
    mask = np.uint64(htab.shape[0] - 1)
    h = bucket_hash(t, row, nzrow, hv) & mask
    R = row.shape[0]
    H = hv.shape[0]
    while True:
        b = htab[h]
        if b < 0:
            b = nb[0]
            nb[0] += 1
            htab[h] = b
            btype[b] = t
            for r in range(R):
                breq[b, r] = row[r]
                balloc[b, r] = talloc[t, r]
            bnz[b, 0] = nzrow[0]
            bnz[b, 1] = nzrow[1]
            for j in range(H):
                bhv[b, j] = hv[j]
            return b
        if btype[b] == t and bnz[b, 0] == nzrow[0] and bnz[b, 1] == nzrow[1]:
            same = True
            for r in range(R):
                if breq[b, r] != row[r]:
                    same = False
                    break
            if same:
                for j in range(H):
                    if bhv[b, j] != hv[j]:
                        same = False
                        break
            if same:
                return b
        h = (h + np.uint64(1)) & mask



# engines/indexed.py's bitset helpers, inlined here: a call passing many arrays pays reference counting on
# each (more than the work itself at a few buckets per pod).
@njit(cache=True, nogil=True, inline="always")
def prefix_count(bits, sbc, b, x):
    """Nodes of bucket b with index < x."""
    w = x >> 6
    sb = x >> IX.SB_SHIFT
    s = np.int64(0)
    for j in range(sb):
        s += sbc[b, j]
    for ww in range(sb * IX.SB_WORDS, w):
        s += IX.popcount(bits[b, ww])
    r = x & 63
    if r:
        s += IX.popcount(bits[b, w] & ((np.uint64(1) << np.uint64(r)) - np.uint64(1)))
    return s


@njit(cache=True, nogil=True, inline="always")
def select_global(bits, sbc, blist, nbl, k):
    """Node index of the k-th (0-based, index order) node in the union of buckets blist[:nbl]."""
    nsb = sbc.shape[1]
    nw = bits.shape[1]
    sb = 0
    while sb < nsb:
        tot = np.int64(0)
        for i in range(nbl):
            tot += sbc[blist[i], sb]
        if k < tot:
            break
        k -= tot
        sb += 1
    w = sb * IX.SB_WORDS
    end = min(nw, w + IX.SB_WORDS)
    while w < end:
        tot = np.int64(0)
        for i in range(nbl):
            tot += IX.popcount(bits[blist[i], w])
        if k < tot:
            break
        k -= tot
        w += 1
    word = np.uint64(0)
    for i in range(nbl):
        word |= bits[blist[i], w]
    return w * 64 + IX.select_in_word(word, k)


@njit(cache=True, nogil=True, inline="always")
def select_from_start(bits, sbc, bcount, blist, blo, nbl, k):
    """The k-th (0-based) node of the union of buckets blist[:nbl] in visit order from s0, where blo[i] is
    bucket blist[i]'s node count below s0 (computed once per pod)."""
    below = np.int64(0)
    total = np.int64(0)
    for i in range(nbl):
        total += bcount[blist[i]]
        below += blo[i]
    above = total - below
    if k < above:
        return select_global(bits, sbc, blist, nbl, k + below)
    return select_global(bits, sbc, blist, nbl, k - above)


@njit(cache=True, nogil=True, inline="always")
def window_count(bits, sbc, bcount, b, lo, s0, length, n):
    """Nodes of bucket b among the first `length` nodes of the visit order from s0 (lo: its count below
    s0)."""
    end = s0 + length
    if end <= n:
        return prefix_count(bits, sbc, b, end) - lo
    return bcount[b] - lo + prefix_count(bits, sbc, b, end - n)


@njit(cache=True, nogil=True, inline="always")
def add_node(n, b, t, bits, sbc, bcount, bnext, bprev, thead, brep):
    bits[b, n >> 6] |= np.uint64(1) << np.uint64(n & 63)
    sbc[b, n >> IX.SB_SHIFT] += 1
    bcount[b] += 1
    if bcount[b] == 1:          # a newly non-empty bucket: link it into its type's list
        brep[b] = n
        h = thead[t]
        bnext[b] = h
        bprev[b] = -1
        if h >= 0:
            bprev[h] = b
        thead[t] = b


@njit(cache=True, nogil=True, inline="always")
def remove_node(n, b, t, bits, sbc, bcount, bnext, bprev, thead):
    bits[b, n >> 6] &= ~(np.uint64(1) << np.uint64(n & 63))
    sbc[b, n >> IX.SB_SHIFT] -= 1
    bcount[b] -= 1
    if bcount[b] == 0:
        p = bprev[b]
        q = bnext[b]
        if p >= 0:
            bnext[p] = q
        else:
            thead[t] = q
        if q >= 0:
            bprev[q] = p


@njit(cache=True, nogil=True)
def rehash(htab, btype, breq, bnz, bhv, nb):
    htab[:] = -1
    mask = np.uint64(htab.shape[0] - 1)
    for b in range(nb):
        h = bucket_hash(btype[b], breq[b], bnz[b], bhv[b]) & mask
        while htab[h] >= 0:
            h = (h + np.uint64(1)) & mask
        htab[h] = b


@njit(cache=True, nogil=True)
def build(ntype, req, nz, talloc, kdom, hs_arr, hs_off, hs_row, cnt, tcnt, btype, breq, bnz, bhv, balloc,
          htab, nb, nbucket, bits, sbc, bcount, bnext, bprev, thead, brep):
    """Put every node into its bucket; False when the table is too small."""
    cap = btype.shape[0]
    hv = np.empty(hs_arr.shape[0], dtype=np.int64)
    for n in range(ntype.shape[0]):
        if nb[0] >= cap:
            return False
        t = ntype[n]
        node_counts(n, kdom, hs_arr, hs_off, hs_row, cnt, tcnt, hv)
        b = find_or_add(t, req[n], nz[n], hv, btype, breq, bnz, bhv, balloc, talloc, htab, nb)
        nbucket[n] = b
        add_node(n, b, t, bits, sbc, bcount, bnext, bprev, thead, brep)
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def run(
    alloc, req, nz, check_col, fit_filter_on, pod_spec, spec_cls, spec_req, spec_nz, spec_topo,
    cls_conflict, cls_aff_row, cls_taint_row, weights,
    fit_col, fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind, pct, rng, start,
    kdom, spread_on, ipa_on, w_spread, w_ipa,
    hc_off, hc_cc, hc_skew, hc_mindom, hc_self,
    sc_off, sc_cc, sc_skew, sc_host, reqall,
    sm_off, sm_cc, cc_row, cc_off, cc_size, cc_counted, cnt, exists, cc_ndom, cc_min, cc_nmin,
    ra_off, ra_tc, ra_self, rn_off, rn_tc, ea_off, ea_tc, ps_off, ps_tc, ps_coef, ps_on,
    tm_off, tm_tc, tm_mult, tc_row, tc_off, tcnt, tc_total,
    out_node, fail_counts, topo_fail,
    granular, hs_arr, hs_off, hs_row, cls_toff, cls_tflat, talloc, taff, ttaint,
    nbucket, btype, breq, bnz, bhv, balloc, bits, sbc, bcount, bnext, bprev, thead, htab, nb, brep,
    bc_spec, bc_bits, bc_tot, p_begin,
):
    """Place pods p_begin.. in order with the same effects as kernel.schedule_topology (no explain, classes
    without PreFilter node lists). Returns the first pod not placed (len(pod_spec) when done): it stops only
    when the bucket table could overflow, before touching that pod."""
    N = alloc.shape[0]
    R = alloc.shape[1]
    cap = btype.shape[0]
    H = hs_arr.shape[0]
    tmp_fail = np.zeros(R, dtype=np.int64)
    tmp_topo = np.zeros(TK.N_TOPO_REASONS, dtype=np.int64)
    fb = np.empty(cap, dtype=np.int64)          # feasible buckets of the current pod
    fbw = np.empty(cap, dtype=np.int64)         # their node counts inside the window
    fbt = np.empty(cap, dtype=np.int64)         # their totals
    fraw = np.empty(cap, dtype=np.int64)        # a plugin's raw score per feasible bucket
    fign = np.zeros(cap, dtype=np.bool_)        # PodTopologySpread scoring ignores the bucket's nodes
    best = np.empty(cap, dtype=np.int64)
    flo = np.zeros(cap, dtype=np.int64)         # feasible buckets' node counts below s0
    blo = np.zeros(cap, dtype=np.int64)         # the same for the best buckets
    one = np.empty(1, dtype=np.int64)
    newrow = np.empty(R, dtype=np.int64)
    newnz = np.empty(2, dtype=np.int64)
    hv = np.empty(H, dtype=np.int64)
    ra_total = np.zeros(ra_self.shape[0], dtype=np.int64)
    mark = np.zeros((np.int64(kdom.max()) if kdom.size else 0) + 2, dtype=np.int64)
    stamp = np.int64(0)
    wts = np.empty(max(sc_cc.shape[0], 1), dtype=np.float64)
    bal_w = weights[K.P_BALANCED]
    to_find = K.num_feasible_nodes_to_find(N, pct)
    for p in range(p_begin, pod_spec.shape[0]):
        if nb[0] >= cap:
            return p
        sp = pod_spec[p]
        c = spec_cls[sp]
        s = spec_topo[sp]
        out_node[p] = -1
        if cls_conflict[c]:
            continue
        preq = spec_req[sp]
        pnz = spec_nz[sp]
        any_req = False
        for r in range(R):
            if r != COL_PODS and preq[r] != 0:
                any_req = True
        ra_total[s] = 0
        for e in range(ra_off[s], ra_off[s + 1]):
            ra_total[s] += tc_total[ra_tc[e]]
        s0 = start[0] % N
        tmp_fail[:] = 0
        tmp_topo[:] = 0
        nfb = 0
        F = np.int64(0)
        for ti in range(cls_toff[c], cls_toff[c + 1]):
            t = cls_tflat[ti]
            b = thead[t]
            while b >= 0:
                if bc_spec[b] != sp:
                    bc_spec[b] = sp
                    bc_tot[b] = -1
                    bc_bits[b] = 0
                    if fit_filter_on:
                        bc_bits[b] = K.fit_failures(balloc, breq, b, preq, check_col, any_req)
                fbits = bc_bits[b]
                if fbits != 0:
                    for r in range(R):
                        if (fbits >> r) & 1:
                            tmp_fail[r] += bcount[b]
                    b = bnext[b]
                    continue
                # PodTopologySpread.Filter then InterPodAffinity.Filter on a member (the scan kernel's code)
                n = brep[b]
                why = TK.T_OK
                if spread_on:
                    for e in range(hc_off[s], hc_off[s + 1]):
                        cc = hc_cc[e]
                        d = kdom[cc_row[cc], n]
                        if d < 0:
                            why = TK.T_SPREAD_MISSING
                            break
                        gmin = cc_min[cc]
                        if cc_ndom[cc] < hc_mindom[e]:
                            gmin = 0
                        if cnt[cc_off[cc] + d] + hc_self[e] - gmin > hc_skew[e]:
                            why = TK.T_SPREAD
                            break
                if ipa_on and why == TK.T_OK:
                    exist = True
                    for e in range(ra_off[s], ra_off[s + 1]):
                        tt = ra_tc[e]
                        d = kdom[tc_row[tt], n]
                        if d < 0:
                            why = TK.T_AFFINITY
                            break
                        if tcnt[tc_off[tt] + d] <= 0:
                            exist = False
                    if why == TK.T_OK and not exist and (ra_total[s] != 0 or not ra_self[s]):
                        why = TK.T_AFFINITY
                    if why == TK.T_OK:
                        for e in range(rn_off[s], rn_off[s + 1]):
                            tt = rn_tc[e]
                            d = kdom[tc_row[tt], n]
                            if d >= 0 and tcnt[tc_off[tt] + d] > 0:
                                why = TK.T_ANTI
                                break
                    if why == TK.T_OK:
                        for e in range(ea_off[s], ea_off[s + 1]):
                            tt = ea_tc[e]
                            d = kdom[tc_row[tt], n]
                            if d >= 0 and tcnt[tc_off[tt] + d] > 0:
                                why = TK.T_EXISTING_ANTI
                                break
                if why != TK.T_OK:
                    tmp_topo[why] += bcount[b]
                else:
                    fb[nfb] = b
                    nfb += 1
                    F += bcount[b]
                b = bnext[b]
        if F == 0:
            start[0] = s0
            for r in range(R):
                fail_counts[p, r] = tmp_fail[r]
            for r in range(TK.N_TOPO_REASONS):
                topo_fail[p, r] = tmp_topo[r]
            continue
        for i in range(nfb):
            flo[i] = prefix_count(bits, sbc, fb[i], s0) if s0 else 0
        if F == N:
            processed = np.int64(to_find)   # every node feasible: the window is the first to_find visited
            k = np.int64(to_find)
        elif F >= to_find:
            last = select_from_start(bits, sbc, bcount, fb, flo, nfb, to_find - 1)
            processed = (last - s0 + N) % N + 1
            k = np.int64(to_find)
        else:
            processed = N
            k = F
        start[0] = (s0 + processed) % N
        if k == 1:
            chosen = select_from_start(bits, sbc, bcount, fb, flo, nfb, 0)
        else:
            whole = processed == N
            ar = cls_aff_row[c]
            tr = cls_taint_row[c]
            use_aff = weights[K.P_AFFINITY] > 0 and ar >= 0
            mx_aff = np.int64(0)
            mx_taint = np.int64(0)
            for i in range(nfb):
                b = fb[i]
                fbw[i] = bcount[b] if whole else window_count(bits, sbc, bcount, b, flo[i], s0, processed, N)
                if fbw[i] > 0:
                    t = btype[b]
                    if use_aff and taff[ar, t] > mx_aff:
                        mx_aff = taff[ar, t]
                    if ttaint[tr, t] > mx_taint:
                        mx_taint = ttaint[tr, t]
            do_bal = bal_w > 0 and not K.balanced_skip(preq, bal_col, bal_kind)
            for i in range(nfb):
                if fbw[i] == 0:
                    continue
                b = fb[i]
                t = btype[b]
                tot = bc_tot[b]
                if tot < 0:
                    tot = np.int64(0)
                    if weights[K.P_FIT] > 0:
                        tot += K.fit_score(balloc, breq, bnz, b, preq, pnz, fit_col, fit_kind, fit_w,
                                           strategy, shape_u, shape_s) * weights[K.P_FIT]
                    if do_bal:
                        tot += K.balanced_score(balloc, breq, bnz, b, preq, pnz, bal_col, bal_kind) * bal_w
                    bc_tot[b] = tot
                if use_aff:
                    sa = taff[ar, t]
                    if mx_aff > 0:
                        sa = K.MAX_NODE_SCORE * sa // mx_aff
                    tot += sa * weights[K.P_AFFINITY]
                if weights[K.P_TAINT] > 0:
                    st = np.int64(K.MAX_NODE_SCORE)
                    if mx_taint > 0:
                        st = K.MAX_NODE_SCORE - K.MAX_NODE_SCORE * ttaint[tr, t] // mx_taint
                    tot += st * weights[K.P_TAINT]
                fbt[i] = tot
            # PodTopologySpread PreScore/Score/NormalizeScore (kernel.spread_scores, per bucket)
            if w_spread > 0 and sc_off[s + 1] > sc_off[s]:
                nign = np.int64(0)
                for i in range(nfb):
                    fign[i] = False
                    if fbw[i] == 0 or not reqall[s]:
                        continue
                    n = brep[fb[i]]
                    for e in range(sc_off[s], sc_off[s + 1]):
                        if kdom[cc_row[sc_cc[e]], n] < 0:
                            fign[i] = True
                    if fign[i]:
                        nign += fbw[i]
                nsoft = sc_off[s + 1] - sc_off[s]
                for j in range(nsoft):
                    e = sc_off[s] + j
                    row = cc_row[sc_cc[e]]
                    if sc_host[e]:
                        size = k - nign
                    elif granular[row]:
                        # every labelled node is its own domain; unlabelled nodes share the "" slot
                        size = np.int64(0)
                        miss = np.int64(0)
                        for i in range(nfb):
                            if fbw[i] == 0 or fign[i]:
                                continue
                            if kdom[row, brep[fb[i]]] >= 0:
                                size += fbw[i]
                            else:
                                miss = 1
                        size += miss
                    else:
                        stamp += 1
                        size = np.int64(0)
                        for i in range(nfb):
                            if fbw[i] == 0 or fign[i]:
                                continue
                            slot = kdom[row, brep[fb[i]]] + 1
                            if mark[slot] != stamp:
                                mark[slot] = stamp
                                size += 1
                    wts[j] = np.log(np.float64(size + 2))
                mx = np.int64(0)
                mn = np.int64(np.iinfo(np.int64).max)
                for i in range(nfb):
                    if fbw[i] == 0 or fign[i]:
                        continue
                    n = brep[fb[i]]
                    sc = 0.0
                    for j in range(nsoft):
                        e = sc_off[s] + j
                        cc = sc_cc[e]
                        d = kdom[cc_row[cc], n]
                        if d >= 0:
                            sc += np.float64(cnt[cc_off[cc] + d]) * wts[j] + np.float64(sc_skew[e] - 1)
                    r = TK.go_round(sc)
                    fraw[i] = r
                    mx = max(mx, r)
                    mn = min(mn, r)
                for i in range(nfb):
                    if fbw[i] == 0:
                        continue
                    if fign[i]:
                        v = np.int64(0)
                    elif mx == 0:
                        v = np.int64(K.MAX_NODE_SCORE)
                    else:
                        v = K.MAX_NODE_SCORE * (mx + mn - fraw[i]) // mx
                    fbt[i] += v * w_spread
            # InterPodAffinity Score/NormalizeScore (kernel.interpod_scores, per bucket)
            if w_ipa > 0 and ps_on[s] and not TK.interpod_skip(s, ps_off, ps_tc, tc_total):
                mn = np.int64(np.iinfo(np.int64).max)
                mx = np.int64(np.iinfo(np.int64).min)
                for i in range(nfb):
                    if fbw[i] == 0:
                        continue
                    n = brep[fb[i]]
                    v = np.int64(0)
                    for e in range(ps_off[s], ps_off[s + 1]):
                        tt = ps_tc[e]
                        d = kdom[tc_row[tt], n]
                        if d >= 0:
                            v += ps_coef[e] * tcnt[tc_off[tt] + d]
                    fraw[i] = v
                    mx = max(mx, v)
                    mn = min(mn, v)
                diff = mx - mn
                for i in range(nfb):
                    if fbw[i] == 0:
                        continue
                    if diff > 0:
                        frac = np.float64(fraw[i] - mn) / np.float64(diff)
                        v = np.int64(np.float64(K.MAX_NODE_SCORE) * frac)
                    else:
                        v = np.int64(0)
                    fbt[i] += v * w_ipa
            top = np.int64(np.iinfo(np.int64).min)
            for i in range(nfb):
                if fbw[i] > 0 and fbt[i] > top:
                    top = fbt[i]
            nbest = 0
            ties = np.int64(0)
            for i in range(nfb):
                if fbw[i] > 0 and fbt[i] == top:
                    best[nbest] = fb[i]
                    blo[nbest] = flo[i]
                    nbest += 1
                    ties += fbw[i]
            pick = np.int64(0)
            if ties > 1:
                u = K.splitmix64(rng)
                pick = np.int64(u % np.uint64(ties))
            chosen = select_from_start(bits, sbc, bcount, best, blo, nbest, pick)
        # ---- commit: counts, then move the node to the bucket of its new state ----
        out_node[p] = chosen
        K.commit(req, nz, chosen, preq, pnz)
        TK.commit_topology(s, chosen, kdom, sm_off, sm_cc, cc_row, cc_off, cc_size, cc_counted, cnt, exists,
                           cc_min, cc_nmin, tm_off, tm_tc, tm_mult, tc_row, tc_off, tcnt, tc_total)
        b = nbucket[chosen]
        t = btype[b]
        remove_node(chosen, b, t, bits, sbc, bcount, bnext, bprev, thead)
        if bcount[b] > 0 and brep[b] == chosen:
            one[0] = b
            brep[b] = select_global(bits, sbc, one, 1, 0)
        for r in range(R):
            newrow[r] = breq[b, r] + preq[r]
        newnz[0] = bnz[b, 0] + pnz[0]
        newnz[1] = bnz[b, 1] + pnz[1]
        node_counts(chosen, kdom, hs_arr, hs_off, hs_row, cnt, tcnt, hv)
        b2 = find_or_add(t, newrow, newnz, hv, btype, breq, bnz, bhv, balloc, talloc, htab, nb)
        nbucket[chosen] = b2
        add_node(chosen, b2, t, bits, sbc, bcount, bnext, bprev, thead, brep)
    return pod_spec.shape[0]


# --- driver ---------------------------------------------------------------------------------------------

NODES_PER_TYPE = 24      # as engines.AUTO_NODES_PER_TYPE: more types than N/24 make the buckets a slower scan
FIND_PER_TYPE = 4        # with sampling: types <= nodes-to-find / 4
INITIAL_BUCKETS = 1024
BUDGET_BYTES = 128 << 20


def granular_rows(kdom: np.ndarray) -> np.ndarray:
    """Per kdom row (dense domain ids): every labelled node has its own domain (hostname-like: its counts are
    per-node counts)."""
    out = np.zeros(kdom.shape[0], dtype=np.bool_)
    for r in range(kdom.shape[0]):
        v = kdom[r][kdom[r] >= 0]
        out[r] = len(v) > 0 and int(np.bincount(v).max()) <= 1
    return out


def node_types(cluster, arrays, full: np.ndarray, kdom: np.ndarray, gran: np.ndarray):
    """Static type per node (see the module docstring) and one representative node per type."""
    code, _, _, _, _, aff_row, aff_rows, taint_row, taint_rows = arrays
    # Labels enter only through what reads them: the topology rows here, the classes' rows checked below.
    parts = [cluster.allocatable, cluster.node_taints.astype(np.int64),
             cluster.unschedulable.astype(np.int64)[:, None],
             np.where(gran[:, None], (kdom >= 0), kdom).T.astype(np.int64)]
    empty = np.zeros(0, dtype=np.int64)
    while True:
        ntype, rep = IX.row_ids(np.ascontiguousarray(np.hstack(parts)))
        bad = []
        for c in full:
            ar = aff_row[c]
            arow = aff_rows[ar] if ar >= 0 else empty
            if not IX.static_types_consistent(ntype, rep, code[c], arow, taint_rows[taint_row[c]]):
                bad.append(c)
        if not bad:
            return ntype, rep
        for c in bad:   # a class reads a per-node value (a hostname in node affinity, matchFields): refine
            parts.append((code[c] == 0).astype(np.int64)[:, None])
            parts.append(taint_rows[taint_row[c]][:, None])
            if aff_row[c] >= 0:
                parts.append(aff_rows[aff_row[c]][:, None])


class Table:
    """Bucket arrays of `run`; `grown` copies them into a larger table."""
    FIELDS = (("btype", 0, np.int64), ("breq", "R", np.int64), ("bnz", 2, np.int64), ("bhv", "H", np.int64),
              ("balloc", "R", np.int64), ("bits", "nw", np.uint64), ("sbc", "nsb", np.int32),
              ("bcount", 0, np.int64), ("bnext", -1, np.int64), ("bprev", -1, np.int64),
              ("brep", -1, np.int64), ("bc_spec", -1, np.int64), ("bc_bits", 0, np.int64),
              ("bc_tot", 0, np.int64))

    def __init__(self, cap: int, N: int, R: int, H: int, T: int):
        self.cap, self.N, self.R, self.H, self.T = cap, N, R, H, T
        width = {"R": R, "nw": (N + 63) // 64, "nsb": (N >> IX.SB_SHIFT) + 1, "H": H, 2: 2}
        IX.allocate_fields(self, self.FIELDS, cap, width)
        self.htab = np.full(1 << int(2 * cap - 1).bit_length(), -1, dtype=np.int64)
        self.thead = np.full(T, -1, dtype=np.int64)
        self.nb = np.zeros(1, dtype=np.int64)
        self.nbucket = np.zeros(N, dtype=np.int64)

    @staticmethod
    def max_cap(N: int, R: int, H: int) -> int:
        per = (N + 63) // 64 * 8 + ((N >> IX.SB_SHIFT) + 1) * 4 + (3 * R + H) * 8 + 120
        return int(min(1 << 20, max(256, BUDGET_BYTES // per)))

    def grown(self, cap: int) -> "Table":
        new = Table(cap, self.N, self.R, self.H, self.T)
        for name, _, _ in self.FIELDS:
            getattr(new, name)[: self.cap] = getattr(self, name)
        new.thead[:] = self.thead
        new.nb[:] = self.nb
        new.nbucket[:] = self.nbucket
        rehash(new.htab, new.btype, new.breq, new.bnz, new.bhv, int(new.nb[0]))
        return new


class Index:
    """Everything `run` needs besides the plan: types, per-class type lists, node-level count slots."""

    def __init__(self, ntype, rep, cluster, arrays, full, gran, hs):
        code, _, _, _, _, aff_row, aff_rows, taint_row, taint_rows = arrays
        self.ntype, self.T = ntype, len(rep)
        self.talloc = np.ascontiguousarray(cluster.allocatable[rep])
        C = len(code)
        lists = [np.zeros(0, np.int64)] * C
        for c in full:
            lists[c] = np.flatnonzero(code[c][rep] == 0)
        self.cls_toff = np.zeros(C + 1, dtype=np.int64)
        self.cls_toff[1:] = np.cumsum([len(x) for x in lists])
        self.cls_tflat = np.concatenate(lists).astype(np.int64) if C else np.zeros(0, np.int64)
        self.taff = np.ascontiguousarray(aff_rows[:, rep])
        self.ttaint = np.ascontiguousarray(taint_rows[:, rep])
        self.gran = gran
        self.hs_arr, self.hs_off, self.hs_row = hs


def prepare(cluster, cp, arrays, spec_cls, pod_spec, plan, check_size: bool) -> "Index | None":
    """The index for these pods, or None when the scan is the better (or only) path: a class with a PreFilter
    node list, or (check_size) too many static types for the nodes one pod visits."""
    _, _, cand_len, _, conflict = arrays[:5]
    used = np.unique(spec_cls[np.unique(pod_spec)])
    if not len(cluster.node_names) or (cand_len[used] >= 0).any():
        return None
    full = used[~conflict[used]]
    a = dict(zip(ARG_NAMES, plan.arrays))
    kdom = a["kdom"]
    gran = granular_rows(kdom)
    ntype, rep = node_types(cluster, arrays, full, kdom, gran)
    N, T = len(ntype), len(rep)
    if check_size:
        to_find = int(K.num_feasible_nodes_to_find(N, cp.pct))
        if T * NODES_PER_TYPE > N or (to_find < N and T * FIND_PER_TYPE > to_find):
            return None
    slots = [(0, int(a["cc_off"][c]), int(a["cc_row"][c])) for c in range(len(a["cc_row"]))
             if gran[a["cc_row"][c]]]
    slots += [(1, int(a["tc_off"][t]), int(a["tc_row"][t])) for t in range(len(a["tc_row"]))
              if gran[a["tc_row"][t]]]
    hs = tuple(np.array([x[j] for x in slots], dtype=np.int64) for j in range(3))
    return Index(ntype, rep, cluster, arrays, full, gran, hs)


# Plan.arrays order (engine.Plan): the count arrays the index reads by name.
ARG_NAMES = ("kdom", "spread_on", "ipa_on", "w_spread", "w_ipa", "hc_off", "hc_cc", "hc_skew", "hc_mindom",
             "hc_self", "sc_off", "sc_cc", "sc_skew", "sc_host", "reqall", "sm_off", "sm_cc", "cc_row",
             "cc_off", "cc_size", "cc_counted", "cnt", "exists", "cc_ndom", "cc_min", "cc_nmin", "ra_off",
             "ra_tc", "ra_self", "rn_off", "rn_tc", "ea_off", "ea_tc", "ps_off", "ps_tc", "ps_coef", "ps_on",
             "tm_off", "tm_tc", "tm_mult", "tc_row", "tc_off", "tcnt", "tc_total")


def place(ix: Index, cluster, cp, arrays, spec_cls, spec_req, spec_nz, pod_spec, rng, start, out, fail,
          topo_fail, plan) -> tuple[int, int, int]:
    """Place pods in order through `run`, growing the bucket table (x4) while states diverge; returns (pods
    placed by the index, buckets, types). Pods after a full table are left to the caller's scan."""
    alloc, req, nz = cluster.allocatable, cluster.requested, cluster.nonzero_requested
    N, R = alloc.shape
    H = len(ix.hs_arr)
    cls_conflict, cls_aff_row, cls_taint_row = arrays[4], arrays[5], arrays[7]
    max_cap = Table.max_cap(N, R, H)
    cap = min(max_cap, INITIAL_BUCKETS)
    a = dict(zip(ARG_NAMES, plan.arrays))
    tab = Table(cap, N, R, H, ix.T)
    while not build(ix.ntype, req, nz, ix.talloc, a["kdom"], ix.hs_arr, ix.hs_off, ix.hs_row, a["cnt"],
                    a["tcnt"], tab.btype, tab.breq, tab.bnz, tab.bhv, tab.balloc, tab.htab, tab.nb,
                    tab.nbucket, tab.bits, tab.sbc, tab.bcount, tab.bnext, tab.bprev, tab.thead, tab.brep):
        if cap >= max_cap:
            return 0, int(tab.nb[0]), ix.T
        cap = min(max_cap, cap * 4)
        tab = Table(cap, N, R, H, ix.T)
    pod_spec = np.ascontiguousarray(pod_spec, dtype=np.int64)
    spec_cls = np.ascontiguousarray(spec_cls, dtype=np.int64)
    done = 0
    while True:
        done = int(run(alloc, req, nz, cp.check_col, cp.fit_filter_on, pod_spec, spec_cls, spec_req, spec_nz,
                       plan.spec_topo, cls_conflict, cls_aff_row, cls_taint_row, cp.weights, cp.fit_col,
                       cp.fit_kind, cp.fit_w, cp.strategy, cp.shape_u, cp.shape_s, cp.bal_col, cp.bal_kind,
                       cp.pct, rng, start, *plan.arrays, out, fail, topo_fail, ix.gran, ix.hs_arr, ix.hs_off,
                       ix.hs_row, ix.cls_toff, ix.cls_tflat, ix.talloc, ix.taff, ix.ttaint, tab.nbucket,
                       tab.btype, tab.breq, tab.bnz, tab.bhv, tab.balloc, tab.bits, tab.sbc, tab.bcount,
                       tab.bnext, tab.bprev, tab.thead, tab.htab, tab.nb, tab.brep, tab.bc_spec, tab.bc_bits,
                       tab.bc_tot, done))
        if done >= len(pod_spec) or cap >= max_cap:
            break
        cap = min(max_cap, cap * 4)
        tab = tab.grown(cap)
    return done, int(tab.nb[0]), ix.T
