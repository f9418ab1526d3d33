"""Blocked engine: the reference placement loop with per-block summaries, for large clusters where a sampled
(or exhaustive) scan visits thousands of nodes per pod and the node states are too diverse for `indexed`.

Nodes are cut into blocks of `1 << BLOCK_SHIFT` consecutive indexes, and each block into *segments*: its nodes
of one allocatable group (equal allocatable rows; at most MAX_GROUPS groups). Per segment the engine keeps the
min and max of every requested column and of the non-zero cpu/memory, and per (class, segment) the count of
statically feasible nodes. For one pod:

* **Window** (`numFeasibleNodesToFind` feasible nodes from the round-robin start, K8S_SEMANTICS 7): the first
  block (from the start) and the last (from its first node up to the start) are scanned node by node; every
  other block adds its segments' counts: a segment whose *least* free node fits the pod contributes all its
  statically feasible nodes, one whose *most* free node does not contributes none, and only a mixed segment
  is scanned. The block where the count reaches `to_find` is rescanned in node order to find the exact last
  node (this sets the next start index exactly like the scan).
* **Score**: nodes found by scanning are scored exactly. Each all-fit segment gets an upper bound of
  NodeResourcesFit (monotone in the requested amounts: LeastAllocated from the segment minimum, MostAllocated
  from the maximum) plus BalancedAllocation (from the distance of the two fraction intervals, +1 for float
  slack; 100 when not exactly two resources); segments are scored exactly in decreasing bound order while the
  bound is >= the best total so far. A skipped segment's bound is below the final best, so it holds no best
  and no tied node: the best total, the exact tied set, its visit order and the splitmix64 draw are those of
  `kernels.schedule_batch`.

Only classes whose window-normalised scores are constant are eligible (no preferred node affinity, no
untolerated PreferNoSchedule taint), with the fit filter on, LeastAllocated or MostAllocated, and no PreFilter
node list; `eligible` checks this and the caller uses another engine otherwise. A pod with no feasible node is
rescanned node by node for its exact failure counts.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .. import kernels as K
from ..resources import COL_PODS

BLOCK_SHIFT = 9
MAX_GROUPS = 64
ALL, NONE, MIXED = 0, 1, 2


def groups(alloc: np.ndarray):
    """(group id per node, allocatable row per group) or None when there are more than MAX_GROUPS."""
    rows, gid = np.unique(alloc, axis=0, return_inverse=True)
    if len(rows) > MAX_GROUPS:
        return None
    return gid.reshape(-1).astype(np.int64), np.ascontiguousarray(rows, dtype=np.int64)


def eligible(cp, arrays, used_classes: np.ndarray) -> bool:
    code, cand_off, cand_len, cand_flat, conflict, aff_row, aff_rows, taint_row, taint_rows = arrays
    if not cp.fit_filter_on or cp.strategy not in (K.LEAST_ALLOCATED, K.MOST_ALLOCATED):
        return False
    for c in used_classes:
        if cand_len[c] >= 0:
            return False
        if cp.weights[K.P_AFFINITY] > 0 and aff_row[c] >= 0:
            return False
        if cp.weights[K.P_TAINT] > 0 and taint_rows[taint_row[c]].any():
            return False
    return True


@njit(cache=True, nogil=True)
def build(gid, G, code, used, nb, bshift, seg_off, seg_nodes, scount):
    """Segment node lists (seg = block * G + group, nodes ascending) and static counts per used class."""
    N = gid.shape[0]
    cnt = np.zeros(nb * G + 1, dtype=np.int64)
    for n in range(N):
        cnt[(n >> bshift) * G + gid[n] + 1] += 1
    for s in range(nb * G):
        cnt[s + 1] += cnt[s]
    seg_off[:] = cnt
    fill = cnt[:-1].copy()
    for n in range(N):
        s = (n >> bshift) * G + gid[n]
        seg_nodes[fill[s]] = n
        fill[s] += 1
    for c in used:
        row = code[c]
        for s in range(nb * G):
            k = 0
            for i in range(seg_off[s], seg_off[s + 1]):
                if row[seg_nodes[i]] == 0:
                    k += 1
            scount[c, s] = k


@njit(cache=True, nogil=True, inline="always")
def _refresh(s, req, nz, seg_off, seg_nodes, mnr, mxr, mnz, mxz):
    R = req.shape[1]
    for r in range(R):
        mnr[s, r] = np.iinfo(np.int64).max
        mxr[s, r] = np.iinfo(np.int64).min
    for j in range(2):
        mnz[s, j] = np.iinfo(np.int64).max
        mxz[s, j] = np.iinfo(np.int64).min
    for i in range(seg_off[s], seg_off[s + 1]):
        n = seg_nodes[i]
        for r in range(R):
            v = req[n, r]
            if v < mnr[s, r]:
                mnr[s, r] = v
            if v > mxr[s, r]:
                mxr[s, r] = v
        for j in range(2):
            v = nz[n, j]
            if v < mnz[s, j]:
                mnz[s, j] = v
            if v > mxz[s, j]:
                mxz[s, j] = v


@njit(cache=True, nogil=True, inline="always")
def _status(s, g, galloc, mnr, mxr, preq, check_col):
    """ALL: every node of the segment fits; NONE: none does; else MIXED (NodeResourcesFit filter)."""
    res = ALL
    if galloc[g, COL_PODS] - mxr[s, COL_PODS] < 1:
        res = MIXED
    if galloc[g, COL_PODS] - mnr[s, COL_PODS] < 1:
        return NONE
    for r in range(galloc.shape[1]):
        if r == COL_PODS or not check_col[r]:
            continue
        q = preq[r]
        if q > 0:
            if galloc[g, r] - mnr[s, r] < q:
                return NONE
            if galloc[g, r] - mxr[s, r] < q:
                res = MIXED
    return res


@njit(cache=True, nogil=True, inline="always")
def _ar_bound(a_row, mnr, mxr, mnz, mxz, s, preq, pnz, col, kind, use_max):
    """(allocatable, requested-after-placement) bound of one score resource over segment s, like _alloc_req."""
    if kind == K.KIND_ABSENT or col < 0:
        return np.int64(0), np.int64(0)
    if kind == K.KIND_SCALAR and preq[col] == 0:
        return np.int64(0), np.int64(0)
    a = a_row[col]
    if kind == K.KIND_NONZERO_CPU:
        return a, (mxz[s, 0] if use_max else mnz[s, 0]) + pnz[0]
    if kind == K.KIND_NONZERO_MEMORY:
        return a, (mxz[s, 1] if use_max else mnz[s, 1]) + pnz[1]
    return a, (mxr[s, col] if use_max else mnr[s, col]) + preq[col]


@njit(cache=True, nogil=True, inline="always")
def _fit_ub(a_row, mnr, mxr, mnz, mxz, s, preq, pnz, fit_col, fit_kind, fit_w, strategy):
    num = np.int64(0)
    wsum = np.int64(0)
    most = strategy == K.MOST_ALLOCATED
    for i in range(fit_col.shape[0]):
        a, r = _ar_bound(a_row, mnr, mxr, mnz, mxz, s, preq, pnz, fit_col[i], fit_kind[i], most)
        if a == 0:
            continue
        if most:
            rr = a if r > a else r
            sc = rr * K.MAX_NODE_SCORE // a
        else:
            sc = np.int64(0) if r > a else (a - r) * K.MAX_NODE_SCORE // a
        num += sc * fit_w[i]
        wsum += fit_w[i]
    if wsum == 0:
        return np.int64(0)
    return num // wsum


@njit(cache=True, nogil=True, inline="always")
def _bal_ub(a_row, mnr, mxr, mnz, mxz, s, preq, pnz, bal_col, bal_kind):
    cnt = 0
    lo0 = hi0 = lo1 = hi1 = 0.0
    for i in range(bal_col.shape[0]):
        a, rlo = _ar_bound(a_row, mnr, mxr, mnz, mxz, s, preq, pnz, bal_col[i], bal_kind[i], False)
        if a == 0:
            continue
        _, rhi = _ar_bound(a_row, mnr, mxr, mnz, mxz, s, preq, pnz, bal_col[i], bal_kind[i], True)
        flo = np.float64(rlo) / np.float64(a)
        fhi = np.float64(rhi) / np.float64(a)
        flo = 1.0 if flo > 1.0 else flo
        fhi = 1.0 if fhi > 1.0 else fhi
        if cnt == 0:
            lo0, hi0 = flo, fhi
        else:
            lo1, hi1 = flo, fhi
        cnt += 1
    if cnt != 2:
        return np.int64(K.MAX_NODE_SCORE)
    d = 0.0
    if lo0 - hi1 > d:
        d = lo0 - hi1
    if lo1 - hi0 > d:
        d = lo1 - hi0
    ub = np.int64((1 - d / 2) * K.MAX_NODE_SCORE) + 1
    return ub if ub < K.MAX_NODE_SCORE else np.int64(K.MAX_NODE_SCORE)


@njit(cache=True, nogil=True, inline="always")
def _uniform(s, mnr, mxr, mnz, mxz):
    for r in range(mnr.shape[1]):
        if mnr[s, r] != mxr[s, r]:
            return False
    return mnz[s, 0] == mxz[s, 0] and mnz[s, 1] == mxz[s, 1]


@njit(cache=True, nogil=True, inline="always")
def _vblock(n, s0, b0, nb, bshift):
    """Visit-order block of node n: 0 for the head (block of the start, from the start), then the following
    blocks, nb for the tail (block of the start, before the start)."""
    b = n >> bshift
    if b == b0:
        return 0 if n >= s0 else nb
    return b - b0 if b > b0 else b + nb - b0


@njit(cache=True, nogil=True, inline="always")
def _score(alloc, req, nz, n, preq, pnz, w_fit, w_bal, bal_on, fit_col, fit_kind, fit_w, strategy, shape_u,
           shape_s, bal_col, bal_kind, buf):
    t = np.int64(0)
    if w_fit > 0:
        if strategy == K.LEAST_ALLOCATED:
            t += w_fit * K.fit_score(alloc, req, nz, n, preq, pnz, fit_col, fit_kind, fit_w, K.LEAST_ALLOCATED,
                                     shape_u, shape_s)
        else:
            t += w_fit * K.fit_score(alloc, req, nz, n, preq, pnz, fit_col, fit_kind, fit_w, K.MOST_ALLOCATED,
                                     shape_u, shape_s)
    if bal_on:
        t += w_bal * K.balanced_score_buf(alloc, req, nz, n, preq, pnz, bal_col, bal_kind, buf)
    return t


@njit(cache=True, nogil=True)
def run(alloc, req, nz, check_col, pod_spec, spec_cls, spec_req, spec_nz, code, conflict, weights,
        fit_col, fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind, pct, rng, start, out, fail,
        gid, galloc, bshift, seg_off, seg_nodes, scount):
    """Place pods in order (see the module docstring); same effects as kernels.schedule_batch."""
    N = alloc.shape[0]
    R = alloc.shape[1]
    G = galloc.shape[0]
    B = 1 << bshift
    nb = (N + B - 1) >> bshift
    S = nb * G
    mnr = np.empty((S, R), dtype=np.int64)
    mxr = np.empty((S, R), dtype=np.int64)
    mnz = np.empty((S, 2), dtype=np.int64)
    mxz = np.empty((S, 2), dtype=np.int64)
    for s in range(S):
        _refresh(s, req, nz, seg_off, seg_nodes, mnr, mxr, mnz, mxz)
    to_find = K.num_feasible_nodes_to_find(N, pct)
    ex_node = np.empty(N + B, dtype=np.int64)        # nodes found by scanning (feasible, in any order)
    win_seg = np.empty(S, dtype=np.int64)            # all-fit segments inside the window
    win_ub = np.empty(S, dtype=np.int64)
    win_uni = np.empty(S, dtype=np.bool_)
    sort_key = np.empty(S, dtype=np.int64)
    ex_score = np.empty(N + B, dtype=np.int64)
    vb_cnt = np.zeros(nb + 1, dtype=np.int64)
    cand = np.empty(B, dtype=np.int64)
    buf = np.empty(max(bal_col.shape[0], 1), dtype=np.float64)
    tmp_fail = np.zeros(R, dtype=np.int32)
    w_fit = weights[K.P_FIT]
    w_bal = weights[K.P_BALANCED]
    for p in range(pod_spec.shape[0]):
        sp = pod_spec[p]
        c = spec_cls[sp]
        out[p] = -1
        if conflict[c]:
            continue
        preq = spec_req[sp]
        pnz = spec_nz[sp]
        crow = code[c]
        any_req = False
        for r in range(R):
            if r != COL_PODS and preq[r] != 0:
                any_req = True
        s0 = start[0] % N
        b0 = s0 >> bshift
        k = 0                      # feasible nodes in the window so far
        nex = 0
        nwin = 0
        end_pos = -1               # visit position of the to_find-th feasible node
        # 1. head: s0 .. end of its block, node by node
        hi = min(N, (b0 + 1) << bshift)
        for n in range(s0, hi):
            if crow[n] != 0:
                continue
            if K.fit_failures(alloc, req, n, preq, check_col, any_req) != 0:
                continue
            ex_node[nex] = n
            nex += 1
            k += 1
            if k == to_find:
                end_pos = n - s0
                break
        # 2. whole blocks b0+1 .. nb-1, 0 .. b0-1 from summaries
        if end_pos < 0:
            for bi in range(1, nb):
                b = b0 + bi
                if b >= nb:
                    b -= nb
                nex_b = nex
                nwin_b = nwin
                kb = 0
                for g in range(G):
                    s = b * G + g
                    sc = scount[c, s]
                    if sc == 0:
                        continue
                    st = _status(s, g, galloc, mnr, mxr, preq, check_col)
                    if st == NONE:
                        continue
                    if st == ALL:
                        win_seg[nwin] = s
                        nwin += 1
                        kb += sc
                    else:
                        for i in range(seg_off[s], seg_off[s + 1]):
                            n = seg_nodes[i]
                            if crow[n] == 0 and K.fit_failures(alloc, req, n, preq, check_col, any_req) == 0:
                                ex_node[nex] = n
                                nex += 1
                                kb += 1
                if k + kb < to_find:
                    k += kb
                    continue
                # the window ends in this block: rescan it in node order
                nex = nex_b
                nwin = nwin_b
                lo = b << bshift
                for n in range(lo, min(N, lo + B)):
                    if crow[n] != 0:
                        continue
                    if K.fit_failures(alloc, req, n, preq, check_col, any_req) != 0:
                        continue
                    ex_node[nex] = n
                    nex += 1
                    k += 1
                    if k == to_find:
                        end_pos = n - s0 if n >= s0 else n + N - s0
                        break
                break
        # 3. tail: start of block b0 .. s0
        if end_pos < 0:
            for n in range(b0 << bshift, s0):
                if crow[n] != 0:
                    continue
                if K.fit_failures(alloc, req, n, preq, check_col, any_req) != 0:
                    continue
                ex_node[nex] = n
                nex += 1
                k += 1
                if k == to_find:
                    end_pos = n + N - s0
                    break
        processed = N if end_pos < 0 else end_pos + 1
        start[0] = (start[0] + processed) % N
        if k == 0:
            # exact failure counts over every candidate (the scan visited them all)
            tmp_fail[:] = 0
            for n in range(N):
                if crow[n] != 0:
                    continue
                bits = K.fit_failures(alloc, req, n, preq, check_col, any_req)
                for r in range(R):
                    if (bits >> r) & 1:
                        tmp_fail[r] += 1
            fail[p, :] = tmp_fail
            continue
        if k == 1:
            if nex == 1:
                chosen = ex_node[0]
            else:   # the single feasible node sits in an all-fit segment
                s = win_seg[0]
                chosen = -1
                for i in range(seg_off[s], seg_off[s + 1]):
                    if crow[seg_nodes[i]] == 0:
                        chosen = seg_nodes[i]
                        break
        else:
            bal_on = w_bal > 0 and not K.balanced_skip(preq, bal_col, bal_kind)
            best = np.int64(-1)
            for i in range(nex):
                t = _score(alloc, req, nz, ex_node[i], preq, pnz, w_fit, w_bal, bal_on, fit_col, fit_kind, fit_w,
                           strategy, shape_u, shape_s, bal_col, bal_kind, buf)
                ex_score[i] = t
                if t > best:
                    best = t
            # all-fit segments: a uniform one (every node in the same state) is scored on one node, exactly
            for j in range(nwin):
                s = win_seg[j]
                g = s % G
                if _uniform(s, mnr, mxr, mnz, mxz):
                    win_uni[j] = True
                    t = _score(alloc, req, nz, seg_nodes[seg_off[s]], preq, pnz, w_fit, w_bal, bal_on, fit_col,
                               fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind, buf)
                    if t > best:
                        best = t
                    win_ub[j] = t
                    continue
                else:
                    win_uni[j] = False
                    t = np.int64(0)
                    if w_fit > 0:
                        t += w_fit * _fit_ub(galloc[g], mnr, mxr, mnz, mxz, s, preq, pnz, fit_col, fit_kind, fit_w,
                                             strategy)
                    if bal_on:
                        t += w_bal * _bal_ub(galloc[g], mnr, mxr, mnz, mxz, s, preq, pnz, bal_col, bal_kind)
                win_ub[j] = t
            # the other segments in decreasing bound order, node by node, while the bound can reach the best
            nsort = 0
            for j in range(nwin):
                if not win_uni[j] and win_ub[j] >= best:
                    sort_key[nsort] = -win_ub[j] * (nwin + 1) + j
                    nsort += 1
            keys = np.sort(sort_key[:nsort])
            for jj in range(nsort):
                j = keys[jj] % (nwin + 1)
                if win_ub[j] < best:
                    break
                s = win_seg[j]
                for i in range(seg_off[s], seg_off[s + 1]):
                    n = seg_nodes[i]
                    if crow[n] != 0:
                        continue
                    t = _score(alloc, req, nz, n, preq, pnz, w_fit, w_bal, bal_on, fit_col, fit_kind, fit_w,
                               strategy, shape_u, shape_s, bal_col, bal_kind, buf)
                    ex_node[nex] = n
                    ex_score[nex] = t
                    nex += 1
                    if t > best:
                        best = t
            # tied nodes: counted per visit block (0 = head, nb = tail), then the pick-th is found in its block
            vb_cnt[: nb + 1] = 0
            nt = 0
            for i in range(nex):
                if ex_score[i] == best:
                    vb_cnt[_vblock(ex_node[i], s0, b0, nb, bshift)] += 1
                    nt += 1
            for j in range(nwin):
                if win_uni[j] and win_ub[j] == best:
                    s = win_seg[j]
                    vb_cnt[_vblock(seg_nodes[seg_off[s]], s0, b0, nb, bshift)] += scount[c, s]
                    nt += scount[c, s]
            pick = np.int64(0)
            if nt > 1:
                u = K.splitmix64(rng)
                pick = np.int64(u % np.uint64(nt))
            vb = 0
            while pick >= vb_cnt[vb]:
                pick -= vb_cnt[vb]
                vb += 1
            m = 0
            for i in range(nex):
                if ex_score[i] == best and _vblock(ex_node[i], s0, b0, nb, bshift) == vb:
                    cand[m] = ex_node[i]
                    m += 1
            for j in range(nwin):
                if win_uni[j] and win_ub[j] == best:
                    s = win_seg[j]
                    if _vblock(seg_nodes[seg_off[s]], s0, b0, nb, bshift) == vb:
                        for i in range(seg_off[s], seg_off[s + 1]):
                            if crow[seg_nodes[i]] == 0:
                                cand[m] = seg_nodes[i]
                                m += 1
            chosen = np.sort(cand[:m])[pick]
        out[p] = chosen
        for r in range(R):
            req[chosen, r] += preq[r]
        nz[chosen, 0] += pnz[0]
        nz[chosen, 1] += pnz[1]
        _refresh((chosen >> bshift) * G + gid[chosen], req, nz, seg_off, seg_nodes, mnr, mxr, mnz, mxz)
