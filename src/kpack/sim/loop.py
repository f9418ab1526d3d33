"""The fast replay's compiled event loop: departures, pending retries, arrivals and placement, one kernel."""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import kernels as K

NEVER = np.iinfo(np.int64).max
FREE, PENDING, BOUND = 0, 1, 2
# Why `run` returned to Python.
DONE, NEED_DATA, NODE_EVENTS, SAMPLE, FLUSH = 0, 1, 2, 3, 4
# Where the next `run` call resumes inside one time step.
PH_TIME, PH_SCHED, PH_ADMIT = 0, 1, 2
# Scalar state, one int64 vector shared with the driver (indices).
(I_PHASE, I_POS, I_BUFN, I_EXH, I_HEAPN, I_TOP, I_PHEND, I_FREEGEN, I_FREED, I_NE, I_FAILN, I_OUTN, I_SEQ,
 I_RUNLIM, I_T, I_ATTEMPTS, I_PLACEMENTS, I_DEPARTURES, I_DELPEND, I_WAITSUM, I_WAITMAX, I_NREF, I_EVN,
 I_NEXTSAMPLE, I_QN, I_REFCPU, I_REFMEM, I_RETRYALL, I_LOGN, I_CAP, I_NARR, I_STAMP, I_NACT, I_PCYC,
 I_KCYC, I_CHGN, I_MEMON, I_MEMHAND, I_VERIFY, I_VMISS, I_MEMHIT, I_MEMUPD, I_RESCAN, I_MEMFIND,
 I_MEMALL) = range(45)
N_STATE = 45
# Remembered filter verdicts (see `mem_update`): a node outside the class's candidate list, a node a static
# filter rejects; any other value is the node's NodeResourcesFit failure bits (0: feasible).
NOT_CAND, STATIC = -2, -1
# Classes whose candidate list is shorter than this are scanned as before (a pinned pod's scan is one node).
MEM_MIN_CAND = 8
OUT_COMPLETED, OUT_DELETED = 0, 1


@intrinsic
def cycles(typingctx):
    """The CPU's cycle counter (llvm.readcyclecounter): splits kernel time into placement and the rest."""
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter")
        return builder.call(fn, [])
    return types.int64(), codegen


@njit(cache=True, nogil=True)
def tsc():
    return cycles()


def cycles_per_second(span: float = 0.02) -> float:
    """The cycle counter's rate, measured against the wall clock."""
    import time

    tsc()
    t0, c0 = time.perf_counter(), tsc()
    while time.perf_counter() - t0 < span:
        pass
    return (tsc() - c0) / (time.perf_counter() - t0)


@njit(cache=True, nogil=True)
def run(*args):
    """`step` with its cycles counted in ist[I_KCYC] (see `cycles`)."""
    c0 = cycles()
    status = step(*args)
    args[0][I_KCYC] += cycles() - c0
    return status


@njit(cache=True, nogil=True)
def heap_push(ht, hs, hq, ist, t, s, q):
    """Min-heap on time of (time, slot, seq) calendar entries."""
    i = ist[I_HEAPN]
    ist[I_HEAPN] = i + 1
    while i > 0:
        p = (i - 1) >> 1
        if ht[p] <= t:
            break
        ht[i] = ht[p]
        hs[i] = hs[p]
        hq[i] = hq[p]
        i = p
    ht[i] = t
    hs[i] = s
    hq[i] = q


@njit(cache=True, nogil=True)
def heap_pop(ht, hs, hq, ist):
    """Remove the top entry (the caller read it first)."""
    n = ist[I_HEAPN] - 1
    ist[I_HEAPN] = n
    if n == 0:
        return
    t, s, q = ht[n], hs[n], hq[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and ht[c + 1] < ht[c]:
            c += 1
        if ht[c] >= t:
            break
        ht[i] = ht[c]
        hs[i] = hs[c]
        hq[i] = hq[c]
        i = c
    ht[i] = t
    hs[i] = s
    hq[i] = q


@njit(cache=True, nogil=True, inline="always")
def before(a, b, t, use_eff, prio, arrival, seq):
    """Queue order of slots a, b: (max(arrival, t) if use_eff), priority high first, arrival, trace order."""
    if use_eff:
        ea = arrival[a] if arrival[a] > t else t
        eb = arrival[b] if arrival[b] > t else t
        if ea != eb:
            return ea < eb
    if prio[a] != prio[b]:
        return prio[a] > prio[b]
    if arrival[a] != arrival[b]:
        return arrival[a] < arrival[b]
    return seq[a] < seq[b]


@njit(cache=True, nogil=True)
def sort_slots(idx, n, tmp, t, use_eff, prio, arrival, seq):
    """Bottom-up merge sort of idx[:n] by `before` (a total order: seq is unique)."""
    width = 1
    src = idx
    dst = tmp
    in_tmp = False
    while width < n:
        i = 0
        while i < n:
            mid = min(i + width, n)
            hi = min(i + 2 * width, n)
            a, b, k = i, mid, i
            while a < mid and b < hi:
                if before(src[b], src[a], t, use_eff, prio, arrival, seq):
                    dst[k] = src[b]
                    b += 1
                else:
                    dst[k] = src[a]
                    a += 1
                k += 1
            while a < mid:
                dst[k] = src[a]
                a += 1
                k += 1
            while b < hi:
                dst[k] = src[b]
                b += 1
                k += 1
            i += 2 * width
        src, dst = dst, src
        in_tmp = not in_tmp
        width *= 2
    if in_tmp:
        idx[:n] = src[:n]


@njit(cache=True, nogil=True)
def wait_bin(edges, w):
    """np.searchsorted(edges, w, side="right") - 1, clipped to the last bin."""
    lo, hi = 0, edges.shape[0]
    while lo < hi:
        m = (lo + hi) >> 1
        if edges[m] <= w:
            lo = m + 1
        else:
            hi = m
    b = lo - 1
    return b if b < edges.shape[0] else edges.shape[0] - 1


@njit(cache=True, nogil=True)
def fit_bound(c, creq, alloc, req, log_gen, log_node, logn, g, mark, stamp, from_pos):
    """How many pods of class c the nodes freed after free generation g could hold, by resources alone
    (the replay's KubeBackend.fit_bound; whole-GPU pods count fully free devices = free GPUs). Log entries
    before from_pos are known to hold nothing (see zc_pos in `run`)."""
    lo, hi = 0, logn
    while lo < hi:
        m = (lo + hi) >> 1
        if log_gen[m] <= g:
            lo = m + 1
        else:
            hi = m
    total = np.int64(0)
    R = alloc.shape[1]
    N = alloc.shape[0]
    if g >= 0 and from_pos > lo:
        lo = from_pos
    span = N if g < 0 else logn - lo     # a class that never failed: every node (node_freed_at >= 0 > g)
    for j in range(span):
        n = j if g < 0 else log_node[lo + j]
        if mark[n] == stamp:
            continue
        mark[n] = stamp
        per = np.int64(1) << 62
        for r in range(R):
            v = creq[c, r]
            if v > 0:
                f = (alloc[n, r] - req[n, r]) // v
                if f < per:
                    per = f
        if per > 0:
            total += per
    return total


@njit(cache=True, nogil=True)
def pend_push(c, s, q, ph_slot, ph_seq, c_off, c_cap, c_n, act, act_pos, ist):
    """Add pending slot s (seq q) to class c's min-heap on seq; a full region moves to the end of the pool
    (the driver compacts the pool between steps)."""
    n = c_n[c]
    if n == c_cap[c]:
        new_cap = 2 * (n + 2)
        off = ist[I_PHEND]
        for i in range(n):
            ph_slot[off + i] = ph_slot[c_off[c] + i]
            ph_seq[off + i] = ph_seq[c_off[c] + i]
        c_off[c] = off
        c_cap[c] = new_cap
        ist[I_PHEND] = off + new_cap
    o = c_off[c]
    i = n
    while i > 0:
        p = (i - 1) >> 1
        if ph_seq[o + p] <= q:
            break
        ph_slot[o + i] = ph_slot[o + p]
        ph_seq[o + i] = ph_seq[o + p]
        i = p
    ph_slot[o + i] = s
    ph_seq[o + i] = q
    c_n[c] = n + 1
    if n == 0 and act_pos[c] < 0:
        act_pos[c] = ist[I_NACT]
        act[ist[I_NACT]] = c
        ist[I_NACT] += 1


@njit(cache=True, nogil=True)
def pend_pop(c, ph_slot, ph_seq, c_off, c_n):
    """Remove and return the lowest-seq slot of class c's heap (the caller checks it is still pending)."""
    o = c_off[c]
    top = ph_slot[o]
    n = c_n[c] - 1
    c_n[c] = n
    if n > 0:
        s, q = ph_slot[o + n], ph_seq[o + n]
        i = 0
        while True:
            ch = 2 * i + 1
            if ch >= n:
                break
            if ch + 1 < n and ph_seq[o + ch + 1] < ph_seq[o + ch]:
                ch += 1
            if ph_seq[o + ch] >= q:
                break
            ph_slot[o + i] = ph_slot[o + ch]
            ph_seq[o + i] = ph_seq[o + ch]
            i = ch
        ph_slot[o + i] = s
        ph_seq[o + i] = q
    return top


@njit(cache=True, nogil=True)
def any_freed_since(log_gen, logn, g):
    return g < 0 or (logn > 0 and log_gen[logn - 1] > g)


@njit(cache=True, nogil=True, inline="always")
def chg_log(chg, ist, n):
    """Append node n to the node change log (a ring; ist[I_CHGN] counts every entry ever appended). Every
    change of a node's requests, allocatable, static filter codes or presence is logged here: the remembered
    verdicts of `mem_update` are exact only because of it."""
    p = ist[I_CHGN]
    chg[p & (chg.shape[0] - 1)] = n
    ist[I_CHGN] = p + 1


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def node_reason(alloc, req, n, preq, check_col, fit_filter_on, any_req, code):
    """find_feasible's verdict on node n as one code: STATIC (a static filter rejects it: skipped, not
    counted), else the NodeResourcesFit failure bits it counts (0: feasible)."""
    if code[n] != 0:
        return STATIC
    if not fit_filter_on:
        return 0
    return K.fit_failures(alloc, req, n, preq, check_col, any_req)


@njit(cache=True, nogil=True, inline="always")
def reason_count(hist, bits, sign):
    """Add (sign 1) or remove (-1) one node's failure bits to a per-column failure histogram."""
    if bits > 0:
        for r in range(hist.shape[0]):
            if (bits >> r) & 1:
                hist[r] += sign


@njit(cache=True, nogil=True)
def any_requests(preq):
    for r in range(preq.shape[0]):
        if r != K.COL_PODS and preq[r] != 0:
            return True
    return False


@njit(cache=True, nogil=True)
def mem_rescan(sl, alloc, req, preq, check_col, fit_filter_on, code, cand_len, cand, mem_bits, mem_hist,
               mem_nfeas):
    """Every candidate node's verdict for one class into memory slot sl, as a full find_feasible pass that
    finds no node would count them. False if the candidate list repeats a node (not remembered then)."""
    row = mem_bits[sl]
    hist = mem_hist[sl]
    hist[:] = 0
    any_req = any_requests(preq)
    nf = 0
    N = alloc.shape[0]
    if cand_len >= 0:
        row[:] = NOT_CAND
    for j in range(N if cand_len < 0 else cand_len):
        n = j if cand_len < 0 else cand[j]
        if cand_len >= 0 and row[n] != NOT_CAND:
            return False
        b = node_reason(alloc, req, n, preq, check_col, fit_filter_on, any_req, code)
        row[n] = b
        if b == 0:
            nf += 1
        else:
            reason_count(hist, b, 1)
    mem_nfeas[sl] = nf
    return True


@njit(cache=True, nogil=True)
def mem_update(sl, from_pos, chg, ist, mark, alloc, req, preq, check_col, fit_filter_on, code, mem_bits,
               mem_hist, mem_nfeas):
    """Bring memory slot sl up to date: re-filter only the nodes logged since from_pos. A node not logged
    since has the requests, allocatable and codes it had when its verdict was taken, so the same verdict.
    The histogram is updated exactly (the old reason out, the new one in)."""
    ist[I_STAMP] += 1
    stamp = ist[I_STAMP]
    row = mem_bits[sl]
    hist = mem_hist[sl]
    any_req = any_requests(preq)
    nf = mem_nfeas[sl]
    mask = chg.shape[0] - 1
    for p in range(from_pos, ist[I_CHGN]):
        n = chg[p & mask]
        if mark[n] == stamp:
            continue
        mark[n] = stamp
        old = row[n]
        if old == NOT_CAND:
            continue
        b = node_reason(alloc, req, n, preq, check_col, fit_filter_on, any_req, code)
        if b != old:
            if old == 0:
                nf -= 1
            else:
                reason_count(hist, old, -1)
            if b == 0:
                nf += 1
            else:
                reason_count(hist, b, 1)
            row[n] = b
    mem_nfeas[sl] = nf


@njit(cache=True, nogil=True)
def mem_check(sl, alloc, req, preq, check_col, fit_filter_on, code, cand_len, cand, mem_bits, mem_hist,
              mem_nfeas):
    """Verification (tests): does slot sl equal a fresh `mem_rescan`? Counts the nodes that differ."""
    N = alloc.shape[0]
    bits = np.empty((1, N), mem_bits.dtype)
    hist = np.zeros((1, mem_hist.shape[1]), mem_hist.dtype)
    nf = np.zeros(1, np.int64)
    mem_rescan(0, alloc, req, preq, check_col, fit_filter_on, code, cand_len, cand, bits, hist, nf)
    bad = 0
    for n in range(N):
        if bits[0, n] != mem_bits[sl, n]:
            bad += 1
    for r in range(hist.shape[1]):
        if hist[0, r] != mem_hist[sl, r]:
            bad += 1
    if nf[0] != mem_nfeas[sl]:
        bad += 1
    return bad


@njit(cache=True, nogil=True)
def mem_find(sl, mem_bits, cand_len, cand, pct, start, feasible, N):
    """find_feasible for a class whose memory slot sl is up to date: the same visit order from start[0],
    the same stop after numFeasibleNodesToFind, the same start advance; a remembered verdict of 0 is a node
    find_feasible finds feasible."""
    row = mem_bits[sl]
    ncand = N if cand_len < 0 else cand_len
    to_find = K.num_feasible_nodes_to_find(ncand, pct)
    s0 = start[0]
    b = s0 % ncand
    k = 0
    processed = 0
    for i in range(ncand):
        j = b + i
        if j >= ncand:
            j -= ncand
        n = j if cand_len < 0 else cand[j]
        processed += 1
        if row[n] == 0:
            feasible[k] = n
            k += 1
            if k == to_find:
                break
    start[0] = (s0 + processed) % N
    return k


@njit(cache=True, nogil=True)
def mem_find_check(k, alloc, req, check_col, fit_filter_on, preq, code, cand_len, cand, pct, start, s0,
                   feasible, R):
    """Verification (tests): does `mem_find`'s answer equal find_feasible's from the same start?"""
    f2 = np.empty(alloc.shape[0], np.int64)
    st = np.array([s0], np.int64)
    tf = np.zeros(R, np.int32)
    k2 = K.find_feasible(alloc, req, check_col, fit_filter_on, preq, code, cand_len, cand, pct, st, f2, tf,
                         np.zeros((alloc.shape[0], 0), np.int32), 0, 1000, 0)
    bad = 0
    if k2 != k or st[0] != start[0]:
        bad += 1
    else:
        for i in range(k):
            if f2[i] != feasible[i]:
                bad += 1
    return bad


@njit(cache=True, nogil=True)
def mem_acquire(c, mem_slot, mem_cls, ist):
    """A memory slot for class c: the next one round robin (its previous class forgets, and scans in full
    again the next time it fails)."""
    h = ist[I_MEMHAND]
    ist[I_MEMHAND] = (h + 1) % mem_cls.shape[0]
    old = mem_cls[h]
    if old >= 0:
        mem_slot[old] = -1
    mem_cls[h] = c
    mem_slot[c] = h
    return h


@njit(cache=True, nogil=True)
def step(ist, ref, rng, start,
        # the arrival buffer (trace order)
        b_arr, b_dep, b_dur, b_cls,
        # slots
        state, cls, node, evict, arrival, dep, dur, start_t, end_t, seq, fstack, queue, qtmp, evq,
        # pending pods: a min-heap on seq per class in one pool, and the classes that have any
        ph_slot, ph_seq, c_off, c_cap, c_n, act, act_pos, zc_pos, zc_g,
        # calendar
        ht, hs, hq,
        # node state (visit order)
        alloc, req, nz, node_freed_at, log_gen, log_node, mark, nev_t,
        # classes
        creq, cnz, cprio, cpinned, ccm, fail_g,
        crow, code_rows, cand_off, cand_len, cand_flat, conflict, aff_row, aff_rows, taint_row, taint_rows,
        # compiled profile
        check_col, fit_filter_on, weights, fit_col, fit_kind, fit_w, strategy, shape_u, shape_s,
        bal_col, bal_kind, pct,
        # the node change log and the remembered verdicts of failed classes (see mem_update)
        chg, mem_slot, mem_pos, mem_cls, mem_bits, mem_hist, mem_nfeas,
        # outputs
        o_seq, o_node, o_arr, o_start, o_end, o_evict, o_out, f_cls, f_rows, wait_hist, wait_edges):
    """Advance the replay until it needs Python (see the status codes). Every per-pod decision is made by
    kernels.find_feasible / score_feasible / select_host / commit, as the Scheduler's engines make it."""
    N = alloc.shape[0]
    R = alloc.shape[1]
    feasible = np.empty(N, dtype=np.int64)
    scores = np.empty((K.N_SCORE_PLUGINS, N), dtype=np.int64)
    tmp_fail = np.zeros(R, dtype=np.int32)
    empty = np.zeros(0, dtype=np.int64)
    no_devices = np.zeros((N, 0), dtype=np.int32)
    cap = ist[I_CAP]
    while True:
        ph = ist[I_PHASE]
        if ph == PH_TIME:
            # room for one step's records (at most one per slot) and calendar entries (two per slot)
            if (o_seq.shape[0] - ist[I_OUTN] < cap or f_cls.shape[0] - ist[I_FAILN] < cap
                    or ht.shape[0] - ist[I_HEAPN] < 2 * cap or log_gen.shape[0] - ist[I_LOGN] < cap
                    or ph_slot.shape[0] - ist[I_PHEND] < 4 * cap + 8 * creq.shape[0]):
                return FLUSH
            pos = ist[I_POS]
            if pos >= ist[I_BUFN]:
                if ist[I_EXH] == 0:
                    return NEED_DATA
                t_arr = NEVER
            else:
                t_arr = b_arr[pos]
            t = t_arr
            if ist[I_HEAPN] > 0 and ht[0] < t:
                t = ht[0]
            ne = ist[I_NE]
            if ne < nev_t.shape[0] and nev_t[ne] < t:
                t = nev_t[ne]
            if t == NEVER:
                return DONE
            ist[I_T] = t
            # 1. departures at t
            any_done = False
            while ist[I_HEAPN] > 0 and ht[0] == t:
                s = hs[0]
                q = hq[0]
                heap_pop(ht, hs, hq, ist)
                if seq[s] != q:
                    continue      # the slot was reused: a stale entry
                if state[s] == BOUND and end_t[s] == t:
                    if not any_done:
                        ist[I_FREEGEN] += 1
                        any_done = True
                    n = node[s]
                    node_freed_at[n] = ist[I_FREEGEN]
                    ln = ist[I_LOGN]
                    log_gen[ln] = ist[I_FREEGEN]
                    log_node[ln] = n
                    ist[I_LOGN] = ln + 1
                    c = cls[s]
                    for r in range(R):
                        req[n, r] -= creq[c, r]
                    chg_log(chg, ist, n)
                    nz[n, 0] -= cnz[c, 0]
                    nz[n, 1] -= cnz[c, 1]
                    ist[I_DEPARTURES] += 1
                    k = ist[I_OUTN]
                    o_seq[k], o_node[k], o_arr[k], o_start[k] = seq[s], n, arrival[s], start_t[s]
                    o_end[k], o_evict[k], o_out[k] = t, evict[s], OUT_COMPLETED
                    ist[I_OUTN] = k + 1
                    state[s] = FREE
                    seq[s] = -1
                    fstack[ist[I_TOP]] = s
                    ist[I_TOP] += 1
                    ist[I_FREED] = 1
                elif state[s] == PENDING and dep[s] == t:
                    ist[I_DELPEND] += 1
                    k = ist[I_OUTN]
                    o_seq[k], o_node[k], o_arr[k], o_start[k] = seq[s], -1, arrival[s], start_t[s]
                    o_end[k], o_evict[k], o_out[k] = t, evict[s], OUT_DELETED
                    ist[I_OUTN] = k + 1
                    state[s] = FREE
                    seq[s] = -1
                    fstack[ist[I_TOP]] = s
                    ist[I_TOP] += 1
            ist[I_PHASE] = PH_SCHED
            if ne < nev_t.shape[0] and nev_t[ne] == t:
                return NODE_EVENTS     # node changes (and evictions) are applied by the driver
            ph = PH_SCHED
        t = ist[I_T]
        if ph == PH_SCHED:
            # 3. the call's queue: pending pods worth retrying (if capacity was freed), evicted, arrivals
            t_next = NEVER
            if ist[I_HEAPN] > 0:
                t_next = ht[0]
            ne = ist[I_NE]
            if ne < nev_t.shape[0] and nev_t[ne] < t_next:
                t_next = nev_t[ne]
            qn = 0
            if ist[I_FREED] != 0 and ist[I_NACT] > 0:
                # Per class, the first pods in (arrival, trace) order, as many as the freed nodes could hold
                # (Replay._retry_set; a class has one priority, so this is its share of the global order).
                na = ist[I_NACT]
                j = 0
                while j < na:
                    c = act[j]
                    if cpinned[c] != 0 or ist[I_RETRYALL] != 0:
                        b = np.int64(1) << 62
                    elif not any_freed_since(log_gen, ist[I_LOGN], fail_g[c]):
                        b = 0
                    else:
                        ist[I_STAMP] += 1
                        zp = zc_pos[c] if zc_g[c] == fail_g[c] else -1
                        b = fit_bound(c, creq, alloc, req, log_gen, log_node, ist[I_LOGN], fail_g[c], mark,
                                      ist[I_STAMP], zp)
                        if b == 0:
                            # every node freed since the failure holds none: until a node is freed again
                            # (logged) or emptied by an eviction (the driver resets zc_pos), it stays so
                            zc_pos[c] = ist[I_LOGN]
                            zc_g[c] = fail_g[c]
                    while b > 0 and c_n[c] > 0:
                        o = c_off[c]
                        s = ph_slot[o]
                        q = ph_seq[o]
                        pend_pop(c, ph_slot, ph_seq, c_off, c_n)
                        if seq[s] != q or state[s] != PENDING:
                            continue   # deleted while pending (its slot may hold another pod now)
                        queue[qn] = s
                        qn += 1
                        b -= 1
                    # drop stale heads so an emptied class leaves the active list
                    while c_n[c] > 0:
                        o = c_off[c]
                        s = ph_slot[o]
                        if seq[s] == ph_seq[o] and state[s] == PENDING:
                            break
                        pend_pop(c, ph_slot, ph_seq, c_off, c_n)
                    if c_n[c] == 0:
                        na -= 1
                        last = act[na]
                        act[j] = last
                        act_pos[last] = j
                        act_pos[c] = -1
                        ist[I_NACT] = na
                    else:
                        j += 1
                mind = NEVER
                for i in range(qn):
                    d = dur[queue[i]]
                    if d >= 0 and d < mind:
                        mind = d
                if mind != NEVER and t + mind < t_next:
                    t_next = t + mind
            for i in range(ist[I_EVN]):
                queue[qn] = evq[i]
                qn += 1
            ist[I_EVN] = 0
            ist[I_QN] = qn
            ist[I_RUNLIM] = t_next
            ist[I_NARR] = 0
            ist[I_REFCPU] = 0
            ist[I_REFMEM] = 0
            ist[I_PHASE] = PH_ADMIT
            ph = PH_ADMIT
        # admission: arrivals before the limit, stopping where an admitted pod may end first
        lim = ist[I_RUNLIM]
        qn = ist[I_QN]
        while True:
            pos = ist[I_POS]
            if pos >= ist[I_BUFN]:
                if ist[I_EXH] == 0:
                    ist[I_RUNLIM] = lim
                    ist[I_QN] = qn
                    return NEED_DATA
                break
            a = b_arr[pos]
            if not a < lim:
                break
            ist[I_TOP] -= 1
            s = fstack[ist[I_TOP]]
            c = b_cls[pos]
            state[s] = PENDING
            cls[s] = c
            arrival[s] = a
            dep[s] = b_dep[pos]
            dur[s] = b_dur[pos]
            seq[s] = ist[I_SEQ]
            ist[I_SEQ] += 1
            start_t[s] = -1
            end_t[s] = NEVER
            evict[s] = 0
            node[s] = -1
            if dep[s] != NEVER:
                heap_push(ht, hs, hq, ist, dep[s], s, seq[s])
            e = a + (dur[s] if dur[s] > 0 else 0) if dur[s] >= 0 else dep[s]
            if e < lim:
                lim = e
            queue[qn] = s
            qn += 1
            ist[I_NARR] += 1
            ist[I_REFCPU] += ccm[c, 0]
            ist[I_REFMEM] += ccm[c, 1]
            ist[I_POS] = pos + 1
        if ist[I_NARR] > 0:
            ref[0] += np.float64(ist[I_REFCPU])
            ref[1] += np.float64(ist[I_REFMEM])
            ist[I_NREF] += ist[I_NARR]
        # place the queue in order
        if qn > 0:
            sort_queue(queue, qn, qtmp, t, cprio, cls, arrival, seq)
            fgen = ist[I_FREEGEN]
            for i in range(qn):
                s = queue[i]
                c = cls[s]
                ist[I_ATTEMPTS] += 1
                chosen = -1
                k = -1
                c0 = cycles()
                tmp_fail[:] = 0
                preq = creq[c]
                scan = conflict[c] == 0 and cand_len[c] != 0
                cl = cand_len[c]
                # (mem_slot -2: the class's candidate list repeats a node, never remembered)
                use_mem = scan and ist[I_MEMON] != 0 and (cl < 0 or cl >= MEM_MIN_CAND) and mem_slot[c] != -2
                if use_mem and mem_slot[c] < 0 and ist[I_MEMALL] != 0:
                    # remember every class from its first attempt, not only from its first failure
                    sl = mem_acquire(c, mem_slot, mem_cls, ist)
                    mem_pos[c] = ist[I_CHGN] - N - 1     # stale: rescanned below
                if use_mem and mem_slot[c] >= 0:
                    # the class's verdicts are remembered: re-filter the changed nodes only
                    sl = mem_slot[c]
                    code = code_rows[crow[c]]
                    if ist[I_CHGN] - mem_pos[c] <= N:
                        mem_update(sl, mem_pos[c], chg, ist, mark, alloc, req, preq, check_col, fit_filter_on,
                                   code, mem_bits, mem_hist, mem_nfeas)
                        ist[I_MEMUPD] += 1
                    elif mem_rescan(sl, alloc, req, preq, check_col, fit_filter_on, code, cl,
                                    cand_flat[cand_off[c]:], mem_bits, mem_hist, mem_nfeas):
                        ist[I_RESCAN] += 1
                    else:
                        mem_slot[c] = -2
                        mem_cls[sl] = -1
                        use_mem = False
                if use_mem and mem_slot[c] >= 0:
                    mem_pos[c] = ist[I_CHGN]
                    if ist[I_VERIFY] != 0:
                        ist[I_VMISS] += mem_check(sl, alloc, req, preq, check_col, fit_filter_on, code, cl,
                                                  cand_flat[cand_off[c]:], mem_bits, mem_hist, mem_nfeas)
                    if mem_nfeas[sl] == 0:
                        # no feasible node: exactly find_feasible's failure (its counts, its start advance)
                        k = 0
                        for r in range(R):
                            tmp_fail[r] = mem_hist[sl, r]
                        if ist[I_VERIFY] != 0:
                            s0 = start[0]
                            k2 = K.find_feasible(alloc, req, check_col, fit_filter_on, preq, code, cl,
                                                 cand_flat[cand_off[c]:], pct, start, feasible, tmp_fail,
                                                 no_devices, 0, 1000, 0)
                            if k2 != 0:
                                ist[I_VMISS] += 1
                            for r in range(R):
                                if tmp_fail[r] != mem_hist[sl, r]:
                                    ist[I_VMISS] += 1
                            start[0] = s0
                        ncand = N if cl < 0 else cl
                        start[0] = (start[0] + ncand) % N
                        ist[I_MEMHIT] += 1
                    else:
                        # feasible nodes exist: find_feasible's pass over the remembered verdicts
                        s0 = start[0]
                        k = mem_find(sl, mem_bits, cl, cand_flat[cand_off[c]:], pct, start, feasible, N)
                        ist[I_MEMFIND] += 1
                        if ist[I_VERIFY] != 0:
                            ist[I_VMISS] += mem_find_check(k, alloc, req, check_col, fit_filter_on, preq,
                                                           code, cl, cand_flat[cand_off[c]:], pct, start,
                                                           s0, feasible, R)
                if scan and k < 0:
                    k = K.find_feasible(alloc, req, check_col, fit_filter_on, preq, code_rows[crow[c]],
                                        cand_len[c], cand_flat[cand_off[c]:], pct, start, feasible, tmp_fail,
                                        no_devices, 0, 1000, 0)
                    if k == 0 and use_mem:
                        # a failed full scan: remember every node's verdict (a slot that said "feasible" here
                        # would be a missed change: counted, and taken afresh)
                        sl = mem_slot[c]
                        if sl >= 0:
                            ist[I_VMISS] += 1
                        else:
                            sl = mem_acquire(c, mem_slot, mem_cls, ist)
                        if mem_rescan(sl, alloc, req, preq, check_col, fit_filter_on, code_rows[crow[c]], cl,
                                      cand_flat[cand_off[c]:], mem_bits, mem_hist, mem_nfeas):
                            mem_pos[c] = ist[I_CHGN]
                            ist[I_RESCAN] += 1
                            if ist[I_VERIFY] != 0:
                                for r in range(R):
                                    if tmp_fail[r] != mem_hist[sl, r]:
                                        ist[I_VMISS] += 1
                                if mem_nfeas[sl] != 0:
                                    ist[I_VMISS] += 1
                        else:
                            mem_slot[c] = -2
                            mem_cls[sl] = -1
                if k == 1:
                    chosen = feasible[0]
                elif k > 1:
                    ar = aff_row[c]
                    aff = aff_rows[ar] if ar >= 0 else empty
                    totals = K.score_feasible(alloc, req, nz, preq, cnz[c], feasible, k, aff,
                                              taint_rows[taint_row[c]], weights, fit_col, fit_kind, fit_w,
                                              strategy, shape_u, shape_s, bal_col, bal_kind, scores)
                    chosen = feasible[K.select_host(totals, k, rng, True)]
                if chosen >= 0:
                    K.commit(req, nz, chosen, preq, cnz[c])
                    chg_log(chg, ist, chosen)
                ist[I_PCYC] += cycles() - c0
                if chosen >= 0:
                    st = arrival[s] if arrival[s] > t else t
                    state[s] = BOUND
                    node[s] = chosen
                    if start_t[s] < 0:
                        start_t[s] = st
                        w = st - arrival[s]
                        wait_hist[wait_bin(wait_edges, np.float64(w))] += 1
                        ist[I_WAITSUM] += w
                        if w > ist[I_WAITMAX]:
                            ist[I_WAITMAX] = w
                    if dur[s] >= 0:
                        end_t[s] = st + (dur[s] if dur[s] > 0 else 0)
                        heap_push(ht, hs, hq, ist, end_t[s], s, seq[s])
                    else:
                        end_t[s] = dep[s]
                    ist[I_PLACEMENTS] += 1
                else:
                    fn = ist[I_FAILN]
                    f_cls[fn] = c
                    if k == 0 and scan:
                        f_rows[fn, :] = tmp_fail
                    else:
                        f_rows[fn, :] = 0
                    ist[I_FAILN] = fn + 1
                    fail_g[c] = fgen
                    pend_push(c, s, seq[s], ph_slot, ph_seq, c_off, c_cap, c_n, act, act_pos, ist)
            ist[I_FREED] = 0
        ist[I_QN] = 0
        ist[I_PHASE] = PH_TIME
        if t >= ist[I_NEXTSAMPLE]:
            return SAMPLE


@njit(cache=True, nogil=True)
def sort_queue(idx, n, tmp, t, cprio, cls, arrival, seq):
    """Call order: max(arrival, t), priority (high first), arrival, trace order."""
    prio = np.empty(n, dtype=np.int64)
    keys_a = np.empty(n, dtype=np.int64)
    keys_s = np.empty(n, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        order[i] = i
        prio[i] = cprio[cls[idx[i]]]
        keys_a[i] = arrival[idx[i]]
        keys_s[i] = seq[idx[i]]
    sort_slots(order, n, tmp, t, True, prio, keys_a, keys_s)
    for i in range(n):
        tmp[i] = idx[order[i]]
    idx[:n] = tmp[:n]
