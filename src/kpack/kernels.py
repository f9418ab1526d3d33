"""Numba kernels: NodeResourcesFit filter, the score plugins, host selection and commit (the pieces of the
scheduling cycle, kpack.cycle, and of the other engines).

Every function here is the single source of truth for its rule; tests/reference.py re-derives the same
rules in plain Python and property tests prove both agree.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .resources import COL_PODS

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5

# Score resource kinds (how a configured resource reads node and pod values; see docs/semantics.md section 3).
KIND_NONZERO_CPU, KIND_NONZERO_MEMORY, KIND_REQUESTED, KIND_SCALAR, KIND_ABSENT = 0, 1, 2, 3, 4
LEAST_ALLOCATED, MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO = 0, 1, 2
# Plugin slots in the weights vector and in explain's score matrix.
P_FIT, P_BALANCED, P_AFFINITY, P_TAINT = 0, 1, 2, 3
N_SCORE_PLUGINS = 4

# Hot per-node helpers are inlined: a non-inlined call that takes a dozen arrays pays NRT reference
# counting on each of them, which cost ~20x the arithmetic (measured: 240 ns vs 9 ns per node).
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True, error_model="numpy")
def splitmix64(state):
    """Advance the uint64 state in state[0] and return the next output (Vigna's splitmix64)."""
    s = state[0] + _GOLDEN
    state[0] = s
    z = s
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, error_model="numpy")
def num_feasible_nodes_to_find(n, pct):
    """upstream numFeasibleNodesToFind; pct <= 0 selects the adaptive default."""
    if n < MIN_FEASIBLE_NODES_TO_FIND:
        return n
    p = pct
    if p <= 0:
        p = 50 - n // 125
        if p < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND:
            p = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND
    num = n * p // 100
    if num < MIN_FEASIBLE_NODES_TO_FIND:
        return MIN_FEASIBLE_NODES_TO_FIND
    return num


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def trunc_div(a, b):
    """Go integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def fit_failures(alloc, req, n, preq, check_col, any_req):
    """NodeResourcesFit.Filter on node n: bitmask of failing columns (bit COL_PODS = "Too many pods")."""
    bits = np.int64(0)
    if req[n, COL_PODS] + 1 > alloc[n, COL_PODS]:
        bits |= np.int64(1) << COL_PODS
    if not any_req:
        return bits
    for r in range(alloc.shape[1]):
        if r == COL_PODS or not check_col[r]:
            continue
        q = preq[r]
        if q > 0 and q > alloc[n, r] - req[n, r]:
            bits |= np.int64(1) << r
    return bits


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def broken_linear(p, shape_u, shape_s):
    """RTCR shape function; scores already scaled by 10."""
    for i in range(shape_u.shape[0]):
        if p <= shape_u[i]:
            if i == 0:
                return shape_s[0]
            return shape_s[i - 1] + trunc_div((shape_s[i] - shape_s[i - 1]) * (p - shape_u[i - 1]),
                                              shape_u[i] - shape_u[i - 1])
    return shape_s[shape_s.shape[0] - 1]


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _alloc_req(alloc, req, nz, n, preq, pnz, col, kind):
    """(allocatable, requested-after-placement) for one score resource; allocatable 0 means skip."""
    if kind == KIND_ABSENT or col < 0:
        return np.int64(0), np.int64(0)
    if kind == KIND_SCALAR and preq[col] == 0:
        return np.int64(0), np.int64(0)
    a = alloc[n, col]
    if kind == KIND_NONZERO_CPU:
        return a, nz[n, 0] + pnz[0]
    if kind == KIND_NONZERO_MEMORY:
        return a, nz[n, 1] + pnz[1]
    return a, req[n, col] + preq[col]


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def fit_score(alloc, req, nz, n, preq, pnz, fit_col, fit_kind, fit_w, strategy, shape_u, shape_s):
    """NodeResourcesFit.Score: LeastAllocated, MostAllocated or RequestedToCapacityRatio."""
    num = np.int64(0)
    wsum = np.int64(0)
    for i in range(fit_col.shape[0]):
        a, r = _alloc_req(alloc, req, nz, n, preq, pnz, fit_col[i], fit_kind[i])
        if a == 0:
            continue
        w = fit_w[i]
        if strategy == LEAST_ALLOCATED:
            s = np.int64(0) if r > a else (a - r) * MAX_NODE_SCORE // a
        elif strategy == MOST_ALLOCATED:
            rr = a if r > a else r
            s = rr * MAX_NODE_SCORE // a
        else:
            u = np.int64(100) if r > a else r * 100 // a
            s = broken_linear(u, shape_u, shape_s)
            if s <= 0:
                continue   # RTCR drops zero-scored resources from the average
        num += s * w
        wsum += w
    if wsum == 0:
        return np.int64(0)
    if strategy == REQUESTED_TO_CAPACITY_RATIO:
        return np.int64(np.floor(num / wsum + 0.5))   # math.Round, half away from zero (x >= 0)
    return num // wsum


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def balanced_skip(preq, bal_col, bal_kind):
    """BalancedAllocation.PreScore: Skip when every configured real request is 0."""
    for i in range(bal_col.shape[0]):
        c = bal_col[i]
        if c >= 0 and bal_kind[i] != KIND_ABSENT and preq[c] != 0:
            return False
    return True


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _fraction(alloc, req, nz, n, preq, pnz, col, kind):
    """min(1, requested/allocatable) as float64, or -1.0 when the resource is skipped (allocatable 0)."""
    a, r = _alloc_req(alloc, req, nz, n, preq, pnz, col, kind)
    if a == 0:
        return -1.0
    f = np.float64(r) / np.float64(a)
    return 1.0 if f > 1.0 else f


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def balanced_score_buf(alloc, req, nz, n, preq, pnz, bal_col, bal_kind, buf):
    """NodeResourcesBalancedAllocation.Score on real requests; `buf` is float64 scratch of len(bal_col)
    (passing it in keeps the hot loop free of allocation and of a second pass over the resources)."""
    count = 0
    total = 0.0
    for i in range(bal_col.shape[0]):
        f = _fraction(alloc, req, nz, n, preq, pnz, bal_col[i], bal_kind[i])
        if f < 0.0:
            continue
        buf[count] = f
        total += f
        count += 1
    std = 0.0
    if count == 2:
        std = abs((buf[0] - buf[1]) / 2)
    elif count > 2:
        mean = total / count
        s = 0.0
        for i in range(count):
            s = s + (buf[i] - mean) * (buf[i] - mean)
        std = np.sqrt(s / count)
    return np.int64((1 - std) * MAX_NODE_SCORE)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def balanced_score(alloc, req, nz, n, preq, pnz, bal_col, bal_kind):
    """balanced_score_buf with its own scratch (convenient, slower)."""
    return balanced_score_buf(alloc, req, nz, n, preq, pnz, bal_col, bal_kind,
                              np.empty(bal_col.shape[0], dtype=np.float64))


@njit(cache=True, nogil=True, error_model="numpy")
def score_feasible(alloc, req, nz, preq, pnz, feasible, k, aff, taint, weights,
                   fit_col, fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind, out):
    """Per-plugin normalized scores of feasible[:k] into out[plugin, i]; returns the weighted totals.

    `aff` is the class's preferred-affinity raw scores (length 0 when PreScore skips), `taint` its
    untolerated PreferNoSchedule counts. A skipped or disabled plugin leaves its row at -1.
    """
    totals = np.zeros(k, dtype=np.int64)
    out[:, :k] = -1
    if weights[P_FIT] > 0:
        # One loop per strategy with the strategy as a compile-time constant: the inlined fit_score then
        # folds its branches (a runtime strategy made the per-node score ~10x slower).
        if strategy == LEAST_ALLOCATED:
            for i in range(k):
                out[P_FIT, i] = fit_score(alloc, req, nz, feasible[i], preq, pnz, fit_col, fit_kind, fit_w,
                                          LEAST_ALLOCATED, shape_u, shape_s)
        elif strategy == MOST_ALLOCATED:
            for i in range(k):
                out[P_FIT, i] = fit_score(alloc, req, nz, feasible[i], preq, pnz, fit_col, fit_kind, fit_w,
                                          MOST_ALLOCATED, shape_u, shape_s)
        else:
            for i in range(k):
                out[P_FIT, i] = fit_score(alloc, req, nz, feasible[i], preq, pnz, fit_col, fit_kind, fit_w,
                                          REQUESTED_TO_CAPACITY_RATIO, shape_u, shape_s)
        for i in range(k):
            totals[i] += out[P_FIT, i] * weights[P_FIT]
    if weights[P_BALANCED] > 0 and not balanced_skip(preq, bal_col, bal_kind):
        buf = np.empty(bal_col.shape[0], dtype=np.float64)
        for i in range(k):
            s = balanced_score_buf(alloc, req, nz, feasible[i], preq, pnz, bal_col, bal_kind, buf)
            out[P_BALANCED, i] = s
            totals[i] += s * weights[P_BALANCED]
    if weights[P_AFFINITY] > 0 and aff.shape[0] > 0:
        mx = np.int64(0)
        for i in range(k):
            if aff[feasible[i]] > mx:
                mx = aff[feasible[i]]
        for i in range(k):
            s = aff[feasible[i]]
            if mx > 0:
                s = MAX_NODE_SCORE * s // mx
            out[P_AFFINITY, i] = s
            totals[i] += s * weights[P_AFFINITY]
    if weights[P_TAINT] > 0:
        mx = np.int64(0)
        for i in range(k):
            if taint[feasible[i]] > mx:
                mx = taint[feasible[i]]
        for i in range(k):
            s = np.int64(MAX_NODE_SCORE)
            if mx > 0:
                s = MAX_NODE_SCORE - MAX_NODE_SCORE * taint[feasible[i]] // mx
            out[P_TAINT, i] = s
            totals[i] += s * weights[P_TAINT]
    return totals


@njit(cache=True, nogil=True, error_model="numpy")
def select_host(totals, k, rng, advance):
    """Index into feasible[:k] of the best total; ties: the (u mod t)-th tied node in visit order,
    u the next splitmix64 output (drawn only when t > 1). Uniform among ties, like upstream's reservoir."""
    best = totals[0]
    ties = 1
    for i in range(1, k):
        if totals[i] > best:
            best = totals[i]
            ties = 1
        elif totals[i] == best:
            ties += 1
    if ties == 1:
        for i in range(k):
            if totals[i] == best:
                return i
    if advance:
        u = splitmix64(rng)
    else:
        tmp = rng.copy()
        u = splitmix64(tmp)
    pick = np.int64(u % np.uint64(ties))
    seen = 0
    for i in range(k):
        if totals[i] == best:
            if seen == pick:
                return i
            seen += 1
    return -1


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def devices_fit(free_row, k, g):
    """GPU devices (free milli-GPU each): a share (g < 1000) needs one device with g free; k whole devices
    need k fully free ones. Pods without GPUs (k == 0) always fit."""
    if k == 0:
        return True
    c = 0
    for i in range(free_row.shape[0]):
        if free_row[i] >= g:
            c += 1
    return c >= (1 if g < 1000 else k)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def find_feasible(alloc, req, check_col, fit_filter_on, preq, code, cand_len, cand, pct, start, feasible,
                  tmp_fail, free, k_gpu, g, gpu_col):
    """One pod's filter pass: visit candidates round robin from start[0] (cand_len < 0: every node, else
    cand[:cand_len]), stop after numFeasibleNodesToFind feasible nodes, advance start[0] by the nodes
    processed. Fills feasible[:k] in visit order, counts NodeResourcesFit failures per column in tmp_fail
    (device failures on gpu_col) and returns k. `free` holds GPU devices ([N, 0] when not tracked)."""
    N = alloc.shape[0]
    R = alloc.shape[1]
    any_req = False
    for r in range(R):
        if r != COL_PODS and preq[r] != 0:
            any_req = True
    ncand = N if cand_len < 0 else cand_len
    to_find = num_feasible_nodes_to_find(ncand, pct)
    tmp_fail[:] = 0
    k = 0
    processed = 0
    s0 = start[0]
    for i in range(ncand):
        j = (s0 + i) % ncand
        n = j if cand_len < 0 else cand[j]
        processed += 1
        if code[n] != 0:
            continue
        ok = True
        if fit_filter_on:
            bits = fit_failures(alloc, req, n, preq, check_col, any_req)
            ok = bits == 0
            if not ok:
                for r in range(R):
                    if (bits >> r) & 1:
                        tmp_fail[r] += 1
        # The device filter stands on its own: disabling NodeResourcesFit must not let devices go negative.
        if k_gpu > 0 and not devices_fit(free[n], k_gpu, g):
            tmp_fail[gpu_col] += 1
            ok = False
        if not ok:
            continue
        feasible[k] = n
        k += 1
        if k == to_find:
            break
    start[0] = (s0 + processed) % N
    return k


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def commit(req, nz, node, preq, pnz):
    """Bind: add the pod's requests (pods column included) and its non-zero cpu/memory to the node."""
    for r in range(req.shape[1]):
        req[node, r] += preq[r]
    nz[node, 0] += pnz[0]
    nz[node, 1] += pnz[1]


@njit(cache=True, nogil=True, error_model="numpy")
def add_static_scores(feasible, k, rows, mode, w, totals, out):
    """Registered static score plugins (kpack.plugins.register): raw per-node rows[x] normalised over the
    feasible nodes (mode 0: as is; 1: 100*raw/max; 2: 100 - 100*raw/max, 100 when max is 0) into out[x],
    weighted into totals. A row of -1 is a plugin whose PreScore skipped the pod: it adds nothing (out[x]
    is left as it was)."""
    for x in range(rows.shape[0]):
        if rows[x, feasible[0]] < 0:
            continue    # PreScore skipped this plugin for the pod
        mx = np.int64(0)
        for i in range(k):
            v = rows[x, feasible[i]]
            if v > mx:
                mx = v
        for i in range(k):
            v = rows[x, feasible[i]]
            if mode[x] == 1:
                v = v if mx == 0 else MAX_NODE_SCORE * v // mx
            elif mode[x] == 2:
                v = MAX_NODE_SCORE if mx == 0 else MAX_NODE_SCORE - MAX_NODE_SCORE * v // mx
            out[x, i] = v
            totals[i] += w[x] * v
