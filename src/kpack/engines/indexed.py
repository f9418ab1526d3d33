"""Indexed engine: the reference placement loop answered from node *state classes* instead of a node scan.

Nodes whose static type (allocatable, labels, taints, cordon flag: everything a scheduling class reads) and
dynamic state (requested, non-zero requested) are equal filter and score identically, so each pod filters
and scores once per non-empty (type, state) bucket. Every bucket keeps its nodes as a bitset over node index
with per-1024-node counts, which answers the two order questions the reference loop asks in visit order
(nodes `(start + i) % N`):

* sampled mode: where is the `numFeasibleNodesToFind`-th feasible node from `start` (this sets the
  window and the next start index), and how many nodes of each bucket lie in that window;
* host selection: with `t` tied nodes and `u` the next splitmix64 output, the `(u mod t)`-th tied node in
  visit order (the union of the best buckets, restricted to the window; the window is a prefix of the
  visit order, so this is a select on the union from `start`).

The arithmetic is the reference kernels' own functions (`fit_failures`, `fit_score`, `balanced_score`)
applied to bucket rows, so decisions, rng draws and the start index are identical to
`cycle.schedule`. Classes with a PreFilter node list (DaemonSet pods pinned by matchFields) run the
reference per-pod loop on their few candidates. When the number of distinct buckets would exceed the
capacity (states diverge: heterogeneous pods on many nodes), `run` stops and returns the index of the first
pod it did not place; the caller finishes with the reference kernel on the same, already-updated arrays.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .. import kernels as K
from ..resources import COL_PODS

_U1 = np.uint64(1)
_M55 = np.uint64(0x5555555555555555)
_M33 = np.uint64(0x3333333333333333)
_M0F = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_HMUL = np.uint64(0xFF51AFD7ED558CCD)
_HSEED = np.uint64(0x9E3779B97F4A7C15)
WORD_BITS = 64
# superblock = 1024 nodes = 16 words: per-bucket counts make selects skip whole superblocks
SB_SHIFT = 10
SB_WORDS = 1 << (SB_SHIFT - 6)



def allocate_fields(obj, fields, cap: int, width: dict) -> None:
    """Set obj.<name> for each (name, spec, dtype) of `fields`: [cap, width[spec]] zeros when spec is a key
    of `width`, [cap] filled with -1 when spec is -1, else [cap] zeros (the bucket tables' columns)."""
    for name, spec, dt in fields:
        if spec in width:
            setattr(obj, name, np.zeros((cap, width[spec]), dtype=dt))
        elif spec == -1:
            setattr(obj, name, np.full(cap, -1, dtype=dt))
        else:
            setattr(obj, name, np.zeros(cap, dtype=dt))


def row_ids(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int64 row id per row, first row of each id) for an integer matrix: a 64-bit row hash, 1-D unique,
    then an exact equality check against each id's first row (np.unique(axis=0), several times slower,
    only on a hash collision). Node types of the indexed engine and of the topology index."""
    h = np.full(mat.shape[0], 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(mat.shape[1]):
            h ^= mat[:, j].astype(np.uint64)
            h *= np.uint64(0xFF51AFD7ED558CCD)
            h ^= h >> np.uint64(29)
    _, rep, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    if not np.array_equal(mat, mat[rep[inv]]):
        _, rep, inv = np.unique(mat, axis=0, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
    return inv.astype(np.int64), rep.astype(np.int64)

@njit(cache=True, nogil=True, inline="always")
def popcount(x):
    x = x - ((x >> np.uint64(1)) & _M55)
    x = (x & _M33) + ((x >> np.uint64(2)) & _M33)
    x = (x + (x >> np.uint64(4))) & _M0F
    return np.int64((x * _H01) >> np.uint64(56))


@njit(cache=True, nogil=True)
def select_in_word(x, k):
    """Bit position of the k-th (0-based) set bit of x."""
    for _ in range(k):
        x &= x - _U1
    low = x & (~x + _U1)
    return popcount(low - _U1)


@njit(cache=True, nogil=True)
def prefix_count(bits, sbc, b, x):
    """Nodes of bucket b with index < x."""
    w = x >> 6
    sb = x >> SB_SHIFT
    s = np.int64(0)
    for j in range(sb):
        s += sbc[b, j]
    for ww in range(sb * SB_WORDS, w):
        s += popcount(bits[b, ww])
    r = x & 63
    if r:
        s += popcount(bits[b, w] & ((_U1 << np.uint64(r)) - _U1))
    return s


@njit(cache=True, nogil=True)
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
    w = sb * SB_WORDS
    end = min(nw, w + SB_WORDS)
    while w < end:
        tot = np.int64(0)
        for i in range(nbl):
            tot += popcount(bits[blist[i], w])
        if k < tot:
            break
        k -= tot
        w += 1
    word = np.uint64(0)
    for i in range(nbl):
        word |= bits[blist[i], w]
    return w * WORD_BITS + select_in_word(word, k)


@njit(cache=True, nogil=True)
def select_from_start(bits, sbc, bcount, blist, nbl, s0, k):
    """Node of the k-th (0-based) node of the union in visit order (s0, s0+1, ..., N-1, 0, ..., s0-1)."""
    below = np.int64(0)
    total = np.int64(0)
    for i in range(nbl):
        b = blist[i]
        total += bcount[b]
        if s0:
            below += prefix_count(bits, sbc, b, s0)
    above = total - below
    if k < above:
        return select_global(bits, sbc, blist, nbl, k + below)
    return select_global(bits, sbc, blist, nbl, k - above)


@njit(cache=True, nogil=True)
def window_count(bits, sbc, bcount, b, s0, length, n):
    """Nodes of bucket b among the first `length` nodes of the visit order from s0."""
    lo = prefix_count(bits, sbc, b, s0) if s0 else np.int64(0)
    end = s0 + length
    if end <= n:
        return prefix_count(bits, sbc, b, end) - lo
    return bcount[b] - lo + prefix_count(bits, sbc, b, end - n)


@njit(cache=True, nogil=True)
def state_hash(t, row, nzrow):
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
    h ^= h >> np.uint64(32)
    return h


@njit(cache=True, nogil=True)
def find_or_add_bucket(t, row, nzrow, btype, breq, bnz, balloc, talloc, htab, nb):
    """Bucket id of state (type t, requested row, non-zero row), creating it if new (nb[0] counts buckets)."""
    mask = np.uint64(htab.shape[0] - 1)
    h = state_hash(t, row, nzrow) & mask
    R = row.shape[0]
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
            return b
        if btype[b] == t and bnz[b, 0] == nzrow[0] and bnz[b, 1] == nzrow[1]:
            same = True
            for r in range(R):
                if breq[b, r] != row[r]:
                    same = False
                    break
            if same:
                return b
        h = (h + _U1) & mask


@njit(cache=True, nogil=True)
def add_node(n, b, t, bits, sbc, bcount, bnext, bprev, thead):
    bits[b, n >> 6] |= _U1 << np.uint64(n & 63)
    sbc[b, n >> SB_SHIFT] += 1
    bcount[b] += 1
    if bcount[b] == 1:          # link a newly non-empty bucket into its type's list
        h = thead[t]
        bnext[b] = h
        bprev[b] = -1
        if h >= 0:
            bprev[h] = b
        thead[t] = b


@njit(cache=True, nogil=True)
def remove_node(n, b, t, bits, sbc, bcount, bnext, bprev, thead):
    bits[b, n >> 6] &= ~(_U1 << np.uint64(n & 63))
    sbc[b, n >> SB_SHIFT] -= 1
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
def build_index(ntype, req, nz, talloc, btype, breq, bnz, balloc, htab, nb, nbucket, bits, sbc, bcount,
                bnext, bprev, thead):
    """Put every node into its (type, state) bucket; returns False if the capacity is too small."""
    cap = btype.shape[0]
    for n in range(ntype.shape[0]):
        if nb[0] >= cap:
            return False
        t = ntype[n]
        b = find_or_add_bucket(t, req[n], nz[n], btype, breq, bnz, balloc, talloc, htab, nb)
        nbucket[n] = b
        add_node(n, b, t, bits, sbc, bcount, bnext, bprev, thead)
    return True


@njit(cache=True, nogil=True)
def run(alloc, req, nz, check_col, fit_filter_on, pod_spec, spec_cls, spec_req, spec_nz,
        cls_code, cls_cand_off, cls_cand_len, cand_flat, cls_conflict,
        cls_aff_row, aff_rows, cls_taint_row, taint_rows, weights,
        fit_col, fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind,
        pct, rng, start, out_node, fail_counts,
        ntype, talloc, cls_toff, cls_tflat, taff, ttaint,
        nbucket, btype, breq, bnz, balloc, bits, sbc, bcount, bnext, bprev, thead, htab, nb,
        bc_spec, bc_bits, bc_tot, bt_spec, bt_to, p_begin):
    """Place pods p_begin.. in order (pod p has spec pod_spec[p]); same effects as cycle.schedule.

    Returns the index of the first pod not placed (== len(pod_spec) when done); it stops early only when
    the bucket table is full, before touching that pod. A bucket's state never changes (nodes move between
    buckets), so its fit bits and resource scores for the last spec seen (bc_*) and its successor state
    under the last spec placed on it (bt_*) are cached.
    """
    N = alloc.shape[0]
    R = alloc.shape[1]
    cap = btype.shape[0]
    feasible = np.empty(N, dtype=np.int64)
    scores = np.empty((K.N_SCORE_PLUGINS, N), dtype=np.int64)
    tmp_fail = np.zeros(R, dtype=np.int64)
    fb = np.empty(cap, dtype=np.int64)          # feasible buckets of the current pod
    fbw = np.empty(cap, dtype=np.int64)         # their node counts inside the window
    fbt = np.empty(cap, dtype=np.int64)         # their totals
    best = np.empty(cap, dtype=np.int64)
    newrow = np.empty(R, dtype=np.int64)
    newnz = np.empty(2, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    no_devices = np.zeros((N, 0), dtype=np.int32)
    bal_w = weights[K.P_BALANCED]
    for p in range(p_begin, pod_spec.shape[0]):
        if nb[0] >= cap:
            return p
        s = pod_spec[p]
        c = spec_cls[s]
        out_node[p] = -1
        if cls_conflict[c]:
            continue
        preq = spec_req[s]
        pnz = spec_nz[s]
        any_req = False
        for r in range(R):
            if r != COL_PODS and preq[r] != 0:
                any_req = True
        chosen = -1
        if cls_cand_len[c] >= 0:
            # ---- PreFilter node list: the reference loop over the (few) candidates ----
            if cls_cand_len[c] == 0:
                continue
            k = K.find_feasible(alloc, req, check_col, fit_filter_on, preq, cls_code[c], cls_cand_len[c],
                                cand_flat[cls_cand_off[c]:], pct, start, feasible, tmp_fail, no_devices, 0,
                                1000, 0)
            if k == 0:
                for r in range(R):
                    fail_counts[p, r] = tmp_fail[r]
                continue
            if k == 1:
                chosen = feasible[0]
            else:
                ar = cls_aff_row[c]
                aff = aff_rows[ar] if ar >= 0 else empty
                totals = K.score_feasible(alloc, req, nz, preq, pnz, feasible, k, aff,
                                          taint_rows[cls_taint_row[c]], weights, fit_col, fit_kind, fit_w,
                                          strategy, shape_u, shape_s, bal_col, bal_kind, scores)
                chosen = feasible[K.select_host(totals, k, rng, True)]
        else:
            # ---- all nodes: one filter and score per (type, state) bucket ----
            to_find = K.num_feasible_nodes_to_find(N, pct)
            s0 = start[0] % N
            tmp_fail[:] = 0
            nfb = 0
            F = np.int64(0)
            for ti in range(cls_toff[c], cls_toff[c + 1]):
                t = cls_tflat[ti]
                b = thead[t]
                while b >= 0:
                    if bc_spec[b] != s:
                        bc_spec[b] = s
                        bc_tot[b] = -1
                        bc_bits[b] = 0
                        if fit_filter_on:
                            bc_bits[b] = K.fit_failures(balloc, breq, b, preq, check_col, any_req)
                    fbits = bc_bits[b]
                    if fbits != 0:
                        for r in range(R):
                            if (fbits >> r) & 1:
                                tmp_fail[r] += bcount[b]
                    else:
                        fb[nfb] = b
                        nfb += 1
                        F += bcount[b]
                    b = bnext[b]
            if F == 0:
                start[0] = s0
                for r in range(R):
                    fail_counts[p, r] = tmp_fail[r]
                continue
            if F >= to_find:
                last = select_from_start(bits, sbc, bcount, fb, nfb, s0, to_find - 1)
                processed = (last - s0 + N) % N + 1
                k = to_find
            else:
                processed = N
                k = F
            start[0] = (s0 + processed) % N
            if k == 1:
                chosen = select_from_start(bits, sbc, bcount, fb, nfb, s0, 0)
            else:
                whole = processed == N
                ar = cls_aff_row[c]
                tr = cls_taint_row[c]
                use_aff = weights[K.P_AFFINITY] > 0 and ar >= 0
                mx_aff = np.int64(0)
                mx_taint = np.int64(0)
                for i in range(nfb):
                    b = fb[i]
                    fbw[i] = bcount[b] if whole else window_count(bits, sbc, bcount, b, s0, processed, N)
                    if fbw[i] > 0:
                        t = btype[b]
                        if use_aff and taff[ar, t] > mx_aff:
                            mx_aff = taff[ar, t]
                        if ttaint[tr, t] > mx_taint:
                            mx_taint = ttaint[tr, t]
                do_bal = bal_w > 0 and not K.balanced_skip(preq, bal_col, bal_kind)
                top = np.int64(-1)
                for i in range(nfb):
                    if fbw[i] == 0:
                        continue
                    b = fb[i]
                    t = btype[b]
                    tot = bc_tot[b]            # resource scores: a function of (bucket state, spec) only
                    if tot < 0:
                        tot = np.int64(0)
                        if weights[K.P_FIT] > 0:
                            tot += K.fit_score(balloc, breq, bnz, b, preq, pnz, fit_col, fit_kind, fit_w,
                                               strategy, shape_u, shape_s) * weights[K.P_FIT]
                        if do_bal:
                            tot += K.balanced_score(balloc, breq, bnz, b, preq, pnz, bal_col,
                                                    bal_kind) * bal_w
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
                    if tot > top:
                        top = tot
                nbest = 0
                ties = np.int64(0)
                for i in range(nfb):
                    if fbw[i] > 0 and fbt[i] == top:
                        best[nbest] = fb[i]
                        nbest += 1
                        ties += fbw[i]
                pick = np.int64(0)
                if ties > 1:
                    u = K.splitmix64(rng)
                    pick = np.int64(u % np.uint64(ties))
                chosen = select_from_start(bits, sbc, bcount, best, nbest, s0, pick)
        # ---- commit: move the node to the bucket of its new state ----
        out_node[p] = chosen
        for r in range(R):
            req[chosen, r] += preq[r]
        nz[chosen, 0] += pnz[0]
        nz[chosen, 1] += pnz[1]
        b = nbucket[chosen]
        t = btype[b]
        remove_node(chosen, b, t, bits, sbc, bcount, bnext, bprev, thead)
        if bt_spec[b] == s:
            b2 = bt_to[b]
        else:
            for r in range(R):
                newrow[r] = breq[b, r] + preq[r]
            newnz[0] = bnz[b, 0] + pnz[0]
            newnz[1] = bnz[b, 1] + pnz[1]
            b2 = find_or_add_bucket(t, newrow, newnz, btype, breq, bnz, balloc, talloc, htab, nb)
            bt_spec[b] = s
            bt_to[b] = b2
        nbucket[chosen] = b2
        add_node(chosen, b2, t, bits, sbc, bcount, bnext, bprev, thead)
    return pod_spec.shape[0]


@njit(cache=True, nogil=True)
def static_types_consistent(ntype, rep, code_row, aff_row, taint_row):
    """True when the class row values are constant on every static type (checked against its first node)."""
    for n in range(ntype.shape[0]):
        r = rep[ntype[n]]
        if (code_row[n] == 0) != (code_row[r] == 0):
            return False
        if aff_row.shape[0] and aff_row[n] != aff_row[r]:
            return False
        if taint_row[n] != taint_row[r]:
            return False
    return True


@njit(cache=True, nogil=True)
def rehash(htab, btype, breq, bnz, nb):
    """Rebuild the open-addressing table for buckets 0..nb-1 (after the bucket arrays grew)."""
    htab[:] = -1
    mask = np.uint64(htab.shape[0] - 1)
    for b in range(nb):
        h = state_hash(btype[b], breq[b], bnz[b]) & mask
        while htab[h] >= 0:
            h = (h + _U1) & mask
        htab[h] = b
