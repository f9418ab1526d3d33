"""Blocked engine: the reference placement loop answered per block of nodes from cached segment results, for
large clusters where a sampled (or exhaustive) scan visits thousands of nodes per pod.

Nodes are cut into blocks of `1 << BLOCK_SHIFT` consecutive indexes and each block into *segments*: its nodes
of one allocatable group (equal allocatable rows; at most MAX_GROUPS groups). For a pod *spec key* (equal
class, requests and non-zero requests) and a segment the engine caches the number of feasible nodes (static
filters and NodeResourcesFit), the best NodeResourcesFit + BalancedAllocation total among them and how many
nodes reach it. A placement bumps its segment's version, which invalidates that segment for every key; between
two pods of one spec only the few segments that received pods are recomputed. For one pod:

* **Window** (`numFeasibleNodesToFind` feasible nodes from the round-robin start,
  docs/semantics.md section 7): the block of the start is scanned node by node from the start (head) and,
  at the end, up to the start (tail); every
  other block adds its segments' cached counts while the window does not end inside it; the block where the
  count reaches `to_find` is scanned node by node in node order, so the last node and the next start index
  are exactly the scan's.
* **Host**: the best total is the maximum over the scanned nodes and the cached segment maxima; the tied count
  is exact (cached counts of segments at the best, plus scanned nodes), so the splitmix64 draw is the scan's;
  the pick-th tied node is found by walking the parts in visit order and scanning only the one block that
  holds it.

Only classes whose window-normalised scores are constant across nodes are eligible (no preferred node
affinity, no untolerated PreferNoSchedule taint), with the fit filter on and no PreFilter node list;
`eligible` checks this and the caller uses another engine otherwise. A pod with no feasible node is rescanned
for its exact failure counts.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .. import kernels as K
from ..resources import COL_PODS

BLOCK_SHIFT = 9
MAX_GROUPS = 64
MAX_CACHE_ENTRIES = 1 << 24      # (spec key x segment) cache entries, 20 bytes each


def groups(alloc: np.ndarray):
    """(group id per node, allocatable row per group) or None when there are more than MAX_GROUPS."""
    rows, gid = np.unique(alloc, axis=0, return_inverse=True)
    if len(rows) > MAX_GROUPS:
        return None
    return gid.reshape(-1).astype(np.int64), np.ascontiguousarray(rows, dtype=np.int64)


def eligible(cp, arrays, used_classes: np.ndarray) -> bool:
    code, cand_off, cand_len, cand_flat, conflict, aff_row, aff_rows, taint_row, taint_rows = arrays
    if not cp.fit_filter_on:
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
def _score(alloc, req, nz, n, preq, pnz, w_fit, w_bal, bal_on, fit_col, fit_kind, fit_w, strategy, shape_u,
           shape_s, bal_col, bal_kind, buf):
    t = np.int64(0)
    if w_fit > 0:
        if strategy == K.LEAST_ALLOCATED:
            t += w_fit * K.fit_score(alloc, req, nz, n, preq, pnz, fit_col, fit_kind, fit_w,
                                     K.LEAST_ALLOCATED, shape_u, shape_s)
        elif strategy == K.MOST_ALLOCATED:
            t += w_fit * K.fit_score(alloc, req, nz, n, preq, pnz, fit_col, fit_kind, fit_w, K.MOST_ALLOCATED,
                                     shape_u, shape_s)
        else:
            t += w_fit * K.fit_score(alloc, req, nz, n, preq, pnz, fit_col, fit_kind, fit_w,
                                     K.REQUESTED_TO_CAPACITY_RATIO, shape_u, shape_s)
    if bal_on:
        t += w_bal * K.balanced_score_buf(alloc, req, nz, n, preq, pnz, bal_col, bal_kind, buf)
    return t


@njit(cache=True, nogil=True, inline="always")
def _feasible(alloc, req, n, crow, preq, check_col, any_req):
    return crow[n] == 0 and K.fit_failures(alloc, req, n, preq, check_col, any_req) == 0


@njit(cache=True, nogil=True)
def run(alloc, req, nz, check_col, pod_spec, spec_cls, spec_req, spec_nz, spec_key, code, conflict, weights,
        fit_col, fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind, pct, rng, start, out, fail,
        gid, G, bshift, seg_off, seg_nodes, scount, cver, ccnt, cmx, ctc):
    """Place pods in order (see the module docstring); same effects as cycle.schedule.

    Per (spec key, segment) cache, valid while the segment's version is unchanged: feasible nodes, best
    fit+balanced total among them, and how many reach it."""
    N = alloc.shape[0]
    R = alloc.shape[1]
    B = 1 << bshift
    nb = (N + B - 1) >> bshift
    S = nb * G
    segver = np.zeros(S, dtype=np.int64)
    to_find = K.num_feasible_nodes_to_find(N, pct)
    # nodes scanned one by one (head, last block, tail), in order
    ex_node = np.empty(3 * B, dtype=np.int64)
    ex_sc = np.empty(3 * B, dtype=np.int64)
    ex_vb = np.empty(3 * B, dtype=np.int64)          # their visit block: 0 head, i-th block after it, nb tail
    wblk = np.empty(nb, dtype=np.int64)              # blocks wholly inside the window, in visit order
    wvb = np.empty(nb, dtype=np.int64)
    buf = np.empty(max(bal_col.shape[0], 1), dtype=np.float64)
    tmp_fail = np.zeros(R, dtype=np.int32)
    w_fit = weights[K.P_FIT]
    w_bal = weights[K.P_BALANCED]
    for p in range(pod_spec.shape[0]):
        sp = pod_spec[p]
        c = spec_cls[sp]
        key = spec_key[sp]
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
        bal_on = w_bal > 0 and not K.balanced_skip(preq, bal_col, bal_kind)
        s0 = start[0] % N
        b0 = s0 >> bshift
        k = 0
        nex = 0
        nwb = 0
        best = np.int64(-1)
        end_pos = -1
        # 1. head: from the start to the end of its block, node by node
        for n in range(s0, min(N, (b0 + 1) << bshift)):
            if not _feasible(alloc, req, n, crow, preq, check_col, any_req):
                continue
            t = _score(alloc, req, nz, n, preq, pnz, w_fit, w_bal, bal_on, fit_col, fit_kind, fit_w, strategy,
                       shape_u, shape_s, bal_col, bal_kind, buf)
            ex_node[nex] = n
            ex_sc[nex] = t
            ex_vb[nex] = 0
            nex += 1
            if t > best:
                best = t
            k += 1
            if k == to_find:
                end_pos = n - s0
                break
        # 2. whole blocks from the per-segment caches; the block holding the to_find-th node node by node
        if end_pos < 0:
            for bi in range(1, nb):
                b = b0 + bi
                if b >= nb:
                    b -= nb
                kb = 0
                bmx = np.int64(-1)
                for g in range(G):
                    s = b * G + g
                    if scount[c, s] == 0:
                        continue
                    if cver[key, s] != segver[s]:
                        cnt = 0
                        mx = np.int64(-1)
                        tc = 0
                        for i in range(seg_off[s], seg_off[s + 1]):
                            n = seg_nodes[i]
                            if not _feasible(alloc, req, n, crow, preq, check_col, any_req):
                                continue
                            cnt += 1
                            t = _score(alloc, req, nz, n, preq, pnz, w_fit, w_bal, bal_on, fit_col, fit_kind,
                                       fit_w, strategy, shape_u, shape_s, bal_col, bal_kind, buf)
                            if t > mx:
                                mx = t
                                tc = 0
                            if t == mx:
                                tc += 1
                        ccnt[key, s] = cnt
                        cmx[key, s] = mx
                        ctc[key, s] = tc
                        cver[key, s] = segver[s]
                    kb += ccnt[key, s]
                    if cmx[key, s] > bmx:
                        bmx = cmx[key, s]
                if k + kb < to_find:
                    k += kb
                    if kb > 0:
                        wblk[nwb] = b
                        wvb[nwb] = bi
                        nwb += 1
                        if bmx > best:
                            best = bmx
                    continue
                lo = b << bshift
                for n in range(lo, min(N, lo + B)):
                    if not _feasible(alloc, req, n, crow, preq, check_col, any_req):
                        continue
                    t = _score(alloc, req, nz, n, preq, pnz, w_fit, w_bal, bal_on, fit_col, fit_kind, fit_w,
                               strategy, shape_u, shape_s, bal_col, bal_kind, buf)
                    ex_node[nex] = n
                    ex_sc[nex] = t
                    ex_vb[nex] = bi
                    nex += 1
                    if t > best:
                        best = t
                    k += 1
                    if k == to_find:
                        end_pos = n - s0 if n >= s0 else n + N - s0
                        break
                break
        # 3. tail: from the first node of the start's block up to the start
        if end_pos < 0:
            for n in range(b0 << bshift, s0):
                if not _feasible(alloc, req, n, crow, preq, check_col, any_req):
                    continue
                t = _score(alloc, req, nz, n, preq, pnz, w_fit, w_bal, bal_on, fit_col, fit_kind, fit_w,
                           strategy, shape_u, shape_s, bal_col, bal_kind, buf)
                ex_node[nex] = n
                ex_sc[nex] = t
                ex_vb[nex] = nb
                nex += 1
                if t > best:
                    best = t
                k += 1
                if k == to_find:
                    end_pos = n + N - s0
                    break
        processed = N if end_pos < 0 else end_pos + 1
        start[0] = (start[0] + processed) % N
        if k == 0:
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
        # host selection: ties counted per part in visit order, the pick-th found in its part
        nt = 0
        if k == 1:
            nt = 1          # no scoring, no draw: the single feasible node
            best_only = True
        else:
            best_only = False
            for i in range(nex):
                if ex_sc[i] == best:
                    nt += 1
            for j in range(nwb):
                b = wblk[j]
                for g in range(G):
                    s = b * G + g
                    if scount[c, s] != 0 and ccnt[key, s] > 0 and cmx[key, s] == best:
                        nt += ctc[key, s]
        pick = np.int64(0)
        if nt > 1:
            u = K.splitmix64(rng)
            pick = np.int64(u % np.uint64(nt))
        chosen = -1
        i = 0
        for j in range(nwb + 1):
            vbj = wvb[j] if j < nwb else nb + 1
            while i < nex and ex_vb[i] < vbj:
                if best_only or ex_sc[i] == best:
                    if pick == 0:
                        chosen = ex_node[i]
                        break
                    pick -= 1
                i += 1
            if chosen >= 0 or j == nwb:
                break
            b = wblk[j]
            tcb = 0
            for g in range(G):
                s = b * G + g
                if scount[c, s] != 0 and ccnt[key, s] > 0 and (best_only or cmx[key, s] == best):
                    tcb += ccnt[key, s] if best_only else ctc[key, s]
            if pick >= tcb:
                pick -= tcb
                continue
            lo = b << bshift
            for n in range(lo, min(N, lo + B)):
                if not _feasible(alloc, req, n, crow, preq, check_col, any_req):
                    continue
                if not best_only:
                    t = _score(alloc, req, nz, n, preq, pnz, w_fit, w_bal, bal_on, fit_col, fit_kind, fit_w,
                               strategy, shape_u, shape_s, bal_col, bal_kind, buf)
                    if t != best:
                        continue
                if pick == 0:
                    chosen = n
                    break
                pick -= 1
            break
        out[p] = chosen
        for r in range(R):
            req[chosen, r] += preq[r]
        nz[chosen, 0] += pnz[0]
        nz[chosen, 1] += pnz[1]
        segver[(chosen >> bshift) * G + gid[chosen]] += 1
