"""The six FGD-paper placement policies (integer scores, FGD.md section 4), kpack's own FGD variants,
the policy registry, and ``schedule_trace``: the whole online per-pod loop as one Numba kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .devices import (
    DEVICE_BEST_FIT,
    DEVICE_FGD,
    DEVICE_LOWEST_FREE,
    DEVICE_RANDOM,
    FULL,
    N_TAGS,
    best_fit_device,
    commit,
    node_fits,
    rand_below,
    random_device,
    refresh_node,
)
from .fragmentation import frag_after_change, frag_from_stats

CPU_MAX = 128000  # normaliser: largest node CPU (milli)
GPU_MAX = 8000  # normaliser: largest node GPU (milli)
MAX_SCORE = 100

RANDOM = 0
DOT_PRODUCT = 1
GPU_CLUSTERING = 2
GPU_PACKING = 3
BEST_FIT = 4
FGD = 5
FGD_EXACT = 6  # kpack: exact (unquantised) delta F, best-fit tie-break
FGD_BESTFIT = 7  # kpack: quantised FGD score, ties broken by best fit before the random rank
FGD_DEMAND = 8  # kpack: FGD with typical pods weighted by GPU demand (see Policy.weighting)
FGD_XDEV = 9  # kpack: FGD host choice; sharing-pod device by exact delta F, ties to the fullest device
FGD_LEASTR = 10  # kpack: quantised FGD score, ties -> least free GPU milli, then rank
FGD_USED = 11  # kpack: quantised FGD score, ties -> nodes already hosting GPU work, then rank
FGD_BIN = 16  # kpack: exact delta F binned to floor(delta F / tolerance) milli, ties -> lowest rank
FGD_SEC = 30  # kpack (exploration): quantised FGD score, ties -> secondary score (30 + j), then rank
FGD_SS = 40  # kpack: sharing pods by Sum-of-Squares device-gap packing, then FGD, then rank
FGD_SS2 = 41  # kpack: FGD first, Sum-of-Squares second, then rank
FGD_SSDEV = 42  # kpack: FGD host choice; device by quantised FGD score, ties by Sum-of-Squares
FGD_SS3 = 43  # kpack: FGD first; within a score tie, partial devices by Sum-of-Squares, fresh devices by rank
FGD_SS4 = 44  # kpack: FGD score, then used-before-pristine node, then Sum-of-Squares, then rank
FIRST_FIT = 20  # kpack baseline: every node scores 0, so the random node rank alone decides
FGD_TOL = 12  # kpack: exact delta F; every node within ``tolerance`` milli of the best ties -> lowest rank


@dataclass(frozen=True)
class Policy:
    name: str
    code: int
    sharing_device: int  # DEVICE_* rule for GPU-sharing pods
    paper_label: str
    weighting: str = "count"  # typical-pod weights for the score: "count" (paper) or "demand"
    tolerance: float = 0.0  # FGD_TOL: delta-F band (milli-GPU) treated as a tie
    node_order: str = "random"  # tie-break order: "random" (paper) or a static key, see experiment.node_rank


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy("random", RANDOM, DEVICE_RANDOM, "Random"),
        Policy("dot-product", DOT_PRODUCT, DEVICE_BEST_FIT, "DotProd"),
        Policy("gpu-clustering", GPU_CLUSTERING, DEVICE_BEST_FIT, "Clustering"),
        Policy("gpu-packing", GPU_PACKING, DEVICE_BEST_FIT, "Packing"),
        Policy("best-fit", BEST_FIT, DEVICE_BEST_FIT, "BestFit"),
        Policy("fgd", FGD, DEVICE_FGD, "FGD"),
        Policy("fgd-exact", FGD_EXACT, DEVICE_FGD, "FGD-exact (kpack)"),
        Policy("fgd-bestfit", FGD_BESTFIT, DEVICE_FGD, "FGD+BestFit (kpack)"),
        Policy("fgd-xdev", FGD_XDEV, DEVICE_FGD, "FGD-exact-device (kpack)"),
        Policy("fgd-leastr", FGD_LEASTR, DEVICE_FGD, "FGD+LeastFree (kpack)"),
        Policy("fgd-used", FGD_USED, DEVICE_FGD, "FGD+Used (kpack)"),
        Policy("fgd-bin100", FGD_BIN, DEVICE_FGD, "FGD-bin100 (kpack)", tolerance=100.0),
        Policy("fgd-bin250", FGD_BIN + 1, DEVICE_FGD, "FGD-bin250 (kpack)", tolerance=250.0),
        Policy("fgd-bin500", FGD_BIN + 2, DEVICE_FGD, "FGD-bin500 (kpack)", tolerance=500.0),
        Policy("fgd-bin1000", FGD_BIN + 3, DEVICE_FGD, "FGD-bin1000 (kpack)", tolerance=1000.0),
        Policy("fgd-o-gpuasc", FGD + 100, DEVICE_FGD, "t", node_order="gpu-asc"),
        Policy("fgd-o-gpudesc", FGD + 101, DEVICE_FGD, "t", node_order="gpu-desc"),
        Policy("fgd-o-cpgasc", FGD + 102, DEVICE_FGD, "t", node_order="cpg-asc"),
        Policy("fgd-o-cpgdesc", FGD + 103, DEVICE_FGD, "t", node_order="cpg-desc"),
        Policy("fgd-allm", FGD + 104, DEVICE_FGD, "FGD-allM (kpack)", weighting="all"),
        Policy("fgd-sec-packing", FGD_SEC + 0, DEVICE_FGD, "x"),
        Policy("fgd-sec-clustering", FGD_SEC + 1, DEVICE_FGD, "x"),
        Policy("fgd-sec-dot", FGD_SEC + 2, DEVICE_FGD, "x"),
        Policy("fgd-sec-cpuasc", FGD_SEC + 3, DEVICE_FGD, "x"),
        Policy("fgd-sec-cpudesc", FGD_SEC + 4, DEVICE_FGD, "x"),
        Policy("fgd-sec-nfullasc", FGD_SEC + 5, DEVICE_FGD, "x"),
        Policy("fgd-sec-anyused", FGD_SEC + 6, DEVICE_FGD, "x"),
        Policy("fgd-ss", FGD_SS, DEVICE_FGD, "FGD+SumOfSquares (kpack)"),
        Policy("fgd-ss2", FGD_SS2, DEVICE_FGD, "FGD then SumOfSquares (kpack)"),
        Policy("fgd-ssdev", FGD_SSDEV, DEVICE_FGD, "FGD+SS device (kpack)"),
        Policy("fgd-ss3", FGD_SS3, DEVICE_FGD, "FGD+SS partial (kpack)"),
        Policy("fgd-sec-cpupods-leastr", FGD_SEC + 7, DEVICE_FGD, "x"),
        Policy("fgd-multi", FGD + 105, DEVICE_FGD, "FGD-multiGPU-aware (kpack)", weighting="multi"),
        Policy("fgd-sign", FGD_SEC + 8, DEVICE_FGD, "x"),
        Policy("fgd-nonneg-tie", FGD_SEC + 9, DEVICE_FGD, "x"),
        Policy("fgd-ss4", FGD_SS4, DEVICE_FGD, "FGD+used+SS (kpack)"),
        Policy("fgd-consolidate", FGD_SEC + 20, DEVICE_FGD, "x"),
        Policy("first-fit", FIRST_FIT, DEVICE_BEST_FIT, "FirstFit (kpack)"),
        Policy("fgd-tol20", FGD_TOL, DEVICE_FGD, "FGD-tol20 (kpack)", tolerance=20.0),
        Policy("fgd-tol40", FGD_TOL + 1, DEVICE_FGD, "FGD-tol40 (kpack)", tolerance=40.0),
        Policy("fgd-tol80", FGD_TOL + 2, DEVICE_FGD, "FGD-tol80 (kpack)", tolerance=80.0),
        Policy("fgd-demand", FGD_DEMAND, DEVICE_FGD, "FGD-demand (kpack)", weighting="demand"),
    )
}
PAPER_POLICIES = ("random", "dot-product", "gpu-clustering", "gpu-packing", "best-fit", "fgd")


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"policy: unknown value {name!r} (known: {', '.join(POLICIES)})") from None


# ----------------------------------------------------------------------------------------------
# score kernels (one node, one pod)


@njit(cache=True, nogil=True)
def dot_product_score(cpu_left, R, cpu_req, gpu_req_total):
    dot = (cpu_left / CPU_MAX) * (cpu_req / CPU_MAX) + (R / GPU_MAX) * (gpu_req_total / GPU_MAX)
    return np.int64((1.0 - dot / 2.0) * MAX_SCORE)


@njit(cache=True, nogil=True)
def gpu_clustering_score(tags_row, R, k, g):
    if k == 0:
        return 0
    tag = 0 if g < FULL else (k if k < N_TAGS else N_TAGS - 1)
    b = (MAX_SCORE // 4) * (GPU_MAX - R) // GPU_MAX
    ntags = 0
    for t in range(tags_row.shape[0]):
        if tags_row[t] > 0:
            ntags += 1
    if tags_row[tag] > 0:
        if ntags == 1:
            return b + MAX_SCORE * 3 // 4
        return b + MAX_SCORE * 2 // 4
    if ntags == 0:
        return b + MAX_SCORE // 4
    return b


@njit(cache=True, nogil=True)
def gpu_packing_score(free_row, ndev, nfull, k, g):
    if k == 0:
        return 0
    if nfull == ndev:
        return max(MAX_SCORE // 3 - nfull, nfull)
    # take, in ascending order of free milli, the first k devices that fit
    used = np.zeros(free_row.shape[0], dtype=np.bool_)
    need = k
    full_used = 0
    ratio_sum = 0
    while need > 0:
        best = -1
        for i in range(free_row.shape[0]):
            if not used[i] and free_row[i] >= g and (best < 0 or free_row[i] < free_row[best]):
                best = i
        if best < 0:
            return 0  # cannot happen after the filter
        used[best] = True
        need -= 1
        if free_row[best] == FULL:
            full_used += 1
        ratio_sum += free_row[best] * 100 // FULL
    if full_used > 0:
        return max(MAX_SCORE // 2 - full_used, MAX_SCORE // 3)
    return max(MAX_SCORE - ratio_sum // 10, MAX_SCORE // 2)


@njit(cache=True, nogil=True)
def best_fit_raw_score(cpu_left, R, cpu_req, gpu_req_total):
    s = 0.0
    s += (cpu_left - cpu_req) / CPU_MAX * 0.5
    s += (R - gpu_req_total) / GPU_MAX * 0.5
    return np.int64((1.0 - s) * MAX_SCORE)


@njit(cache=True, nogil=True)
def fgd_quantise(delta_f):
    """floor(100 * sigmoid(delta_F / 1000)) as the reference truncates it."""
    return np.int64(1.0 / (1.0 + math.exp(-delta_f / 1000.0)) * MAX_SCORE)


@njit(cache=True, nogil=True)
def fgd_node(n, cpu_req, k, g, free, cpu, model, R, cnt_ge, sum_lt, Fn, levels,
             tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, out):
    """FGD on node ``n``: out[0] = quantised score, out[1] = device (sharing pods, else -1);
    returns the exact delta F = F_n - F_n' of that choice (the best one for sharing pods)."""
    cpu_after = cpu[n] - cpu_req
    if k == 0 or g >= FULL:
        n_changed = k
        Fp = frag_after_change(R[n], cpu_after, model[n], cnt_ge[n], sum_lt[n], n_changed, FULL if k > 0 else 0,
                               0, tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels)
        d = Fn[n] - Fp
        out[0] = fgd_quantise(d)
        out[1] = -1
        return d
    best_s = -1
    best_i = -1
    best_d = 0.0
    for i in range(free.shape[1]):
        r = free[n, i]
        if r < g:
            continue
        seen = False  # same free value on an earlier device gives the same result and wins ties
        for j in range(i):
            if free[n, j] == r:
                seen = True
                break
        if seen:
            continue
        Fp = frag_after_change(R[n], cpu_after, model[n], cnt_ge[n], sum_lt[n], 1, r, r - g,
                               tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels)
        d = Fn[n] - Fp
        s = fgd_quantise(d)
        if best_i < 0 or s > best_s:
            best_s = s
            best_i = i
            best_d = d
    out[0] = best_s
    out[1] = best_i
    return best_d


@njit(cache=True, nogil=True)
def fgd_exact_device(n, cpu_req, g, free, cpu, model, R, cnt_ge, sum_lt, Fn, levels,
                     tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p):
    """Sharing-pod device minimising the exact F_n' (ties: least free, then lowest index)."""
    cpu_after = cpu[n] - cpu_req
    best_i = -1
    best_F = 0.0
    for i in range(free.shape[1]):
        r = free[n, i]
        if r < g:
            continue
        Fp = frag_after_change(R[n], cpu_after, model[n], cnt_ge[n], sum_lt[n], 1, r, r - g,
                               tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels)
        if best_i < 0 or Fp < best_F - 1e-9 or (abs(Fp - best_F) <= 1e-9 and r < free[n, best_i]):
            best_i = i
            best_F = Fp
    return best_i


@njit(cache=True, nogil=True)
def fgd_exact_node(n, cpu_req, k, g, free, cpu, model, R, cnt_ge, sum_lt, Fn, levels,
                   tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, out):
    """Exact best delta F = F_n - min F_n' on node ``n``; out[1] = its device (sharing pods, else -1)."""
    if k == 0 or g >= FULL:
        return fgd_node(n, cpu_req, k, g, free, cpu, model, R, cnt_ge, sum_lt, Fn, levels,
                        tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, out)
    i = fgd_exact_device(n, cpu_req, g, free, cpu, model, R, cnt_ge, sum_lt, Fn, levels,
                         tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p)
    r = free[n, i]
    Fp = frag_after_change(R[n], cpu[n] - cpu_req, model[n], cnt_ge[n], sum_lt[n], 1, r, r - g,
                           tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels)
    out[1] = i
    return Fn[n] - Fp


# ----------------------------------------------------------------------------------------------
# the online loop


@njit(cache=True, nogil=True)
def schedule_trace(policy, sharing_device, free, ndev, cpu, mem, model, rank,
                   pod_cpu, pod_mem, pod_k, pod_g, pod_mask, pod_spec, n_specs,
                   tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, tp_ps, levels, rng_seed, tolerance):
    """Place pods one by one (FGD.md section 2 step 5). Mutates the node state arrays.

    ``pod_spec`` numbers the distinct (cpu, mem, num_gpu, gpu_milli, model mask) request vectors.
    Filter and score results are cached per (spec, node) and stamped with the node's version, which
    changes only when a pod lands on the node: a placement changes one node, so every other node's
    result for a spec seen before is reused. Results are identical to recomputing everything.

    ``tp_p`` is the typical-pod popularity of the fragmentation metric; ``tp_ps`` the one the FGD-family
    scores use (the same array for the paper's FGD).

    Returns per-event arrays (arrived milli, allocated milli, cluster F, idle milli) and the chosen
    node per pod (-1 = failed).
    """
    N = free.shape[0]
    L = levels.shape[0]
    P = pod_cpu.shape[0]
    if FGD + 100 <= policy < FGD + 110:
        policy = FGD
    if FGD_TOL <= policy < FGD_TOL + 4:
        policy = FGD_TOL
    if FGD_BIN <= policy < FGD_BIN + 4:
        policy = FGD_BIN
    rng = np.empty(1, dtype=np.uint64)
    rng[0] = np.uint64(rng_seed)

    nfull = np.zeros(N, dtype=np.int32)
    R = np.zeros(N, dtype=np.int64)
    cnt_ge = np.zeros((N, max(L, 1)), dtype=np.int32)
    sum_lt = np.zeros((N, max(L, 1)), dtype=np.int64)
    Fn = np.zeros(N, dtype=np.float64)
    Fs = np.zeros(N, dtype=np.float64)
    tags = np.zeros((N, N_TAGS), dtype=np.int32)
    capacity = 0
    for n in range(N):
        refresh_node(n, free, cpu, model, nfull, R, cnt_ge, sum_lt, Fn, levels,
                     tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p)
        Fs[n] = frag_from_stats(R[n], cpu[n], model[n], cnt_ge[n], sum_lt[n], tp_cpu, tp_gpu, tp_num, tp_mask,
                                tp_level, tp_ps)
        capacity += R[n]
    F_total = 0.0
    for n in range(N):
        F_total += Fn[n]

    node_ver = np.ones(N, dtype=np.int32)
    cpu_used = np.zeros(N, dtype=np.bool_)
    n_models = 1
    for n in range(N):
        n_models = max(n_models, model[n] + 1)
    gaps = np.zeros((n_models, FULL + 1), dtype=np.int64)  # partially used devices per (model, free milli)
    for n in range(N):
        for i in range(free.shape[1]):
            if 0 < free[n, i] < FULL and model[n] >= 0:
                gaps[model[n], free[n, i]] += 1
    ss_dev = np.empty(N, dtype=np.int64)
    ss_val = np.empty(N, dtype=np.int64)
    c_ver = np.zeros((n_specs, N), dtype=np.int32)
    c_fit = np.zeros((n_specs, N), dtype=np.bool_)
    c_score = np.zeros((n_specs, N), dtype=np.int64)
    c_dev = np.zeros((n_specs, N), dtype=np.int32)
    c_exact = np.zeros((n_specs, N), dtype=np.float64)

    ev_arrived = np.zeros(P, dtype=np.int64)
    ev_alloc = np.zeros(P, dtype=np.int64)
    ev_frag = np.zeros(P, dtype=np.float64)
    ev_idle = np.zeros(P, dtype=np.int64)
    placed = np.full(P, -1, dtype=np.int32)

    feas = np.empty(N, dtype=np.int64)
    tmp = np.empty(2, dtype=np.int64)
    is_fgd = policy == FGD or policy == FGD_EXACT or policy == FGD_BESTFIT or policy == FGD_DEMAND or policy == FGD_XDEV or (FGD_LEASTR <= policy < FIRST_FIT) or policy >= FGD_SEC
    use_ss = policy == FGD_SS or policy == FGD_SS2 or policy == FGD_SS3 or policy == FGD_SS4
    use_ssdev = policy == FGD_SSDEV

    arrived = 0
    allocated = 0
    for p in range(P):
        c_p = pod_cpu[p]
        m_p = pod_mem[p]
        k = pod_k[p]
        g = pod_g[p]
        sp = pod_spec[p]
        arrived += k * g

        nf = 0
        for n in range(N):
            if c_ver[sp, n] != node_ver[n]:
                c_ver[sp, n] = node_ver[n]
                ok = node_fits(n, c_p, m_p, k, g, pod_mask[p], free, cpu, mem, model, nfull)
                c_fit[sp, n] = ok
                if ok and policy != RANDOM:
                    sc = 0
                    if policy == DOT_PRODUCT:
                        sc = dot_product_score(cpu[n], R[n], c_p, k * g)
                    elif policy == GPU_CLUSTERING:
                        sc = gpu_clustering_score(tags[n], R[n], k, g)
                    elif policy == GPU_PACKING:
                        sc = gpu_packing_score(free[n], ndev[n], nfull[n], k, g)
                    elif policy == BEST_FIT or policy == FGD_BESTFIT:
                        sc = best_fit_raw_score(cpu[n], R[n], c_p, k * g)
                    if policy == FGD_EXACT or policy == FGD_TOL or policy == FGD_BIN:
                        c_exact[sp, n] = fgd_exact_node(n, c_p, k, g, free, cpu, model, R, cnt_ge, sum_lt, Fs, levels,
                                                        tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_ps, tmp)
                        c_dev[sp, n] = tmp[1]
                        if policy == FGD_BIN:
                            sc = np.int64(math.floor(c_exact[sp, n] / tolerance))
                    elif is_fgd:
                        c_exact[sp, n] = fgd_node(n, c_p, k, g, free, cpu, model, R, cnt_ge, sum_lt, Fs, levels,
                                                  tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_ps, tmp)
                        c_dev[sp, n] = tmp[1]
                        if policy == FGD or policy == FGD_DEMAND or policy == FGD_XDEV:
                            sc = tmp[0]
                        elif policy == FGD_BESTFIT:
                            # primary: quantised FGD score; secondary: best-fit raw score (0..100)
                            sc = tmp[0] * 1000 + sc
                        elif policy == FGD_LEASTR:
                            sc = tmp[0] * 100000 + (65000 - R[n])
                        elif use_ss or use_ssdev:
                            sc = tmp[0]
                        elif policy >= FGD_SEC:
                            j = policy - FGD_SEC
                            sec = 0
                            if j == 0:
                                sec = gpu_packing_score(free[n], ndev[n], nfull[n], k, g)
                            elif j == 1:
                                sec = gpu_clustering_score(tags[n], R[n], k, g)
                            elif j == 2:
                                sec = dot_product_score(cpu[n], R[n], c_p, k * g)
                            elif j == 3:
                                sec = 200 - cpu[n] // 1000
                            elif j == 4:
                                sec = cpu[n] // 1000
                            elif j == 5:
                                sec = 64 - nfull[n]
                            elif j == 8:
                                sec = 0
                                tmp[0] = 1 if c_exact[sp, n] >= -1e-9 else 0
                            elif j == 9:
                                sec = 0
                                if c_exact[sp, n] >= -1e-9:
                                    tmp[0] = 100
                            elif j == 20:
                                used = 1 if (R[n] < ndev[n] * FULL or cpu_used[n]) else 0
                                sec = used * 100000 + ((65000 - R[n]) if k == 0 else 0)
                            elif j == 7:
                                sec = (65000 - R[n]) if k == 0 else 0
                            elif j == 6:
                                sec = 1 if (R[n] < ndev[n] * FULL or cpu_used[n]) else 0
                            sc = tmp[0] * 1000000 + sec
                        elif policy == FGD_USED:
                            sc = tmp[0] * 10 + (1 if R[n] < ndev[n] * FULL else 0)
                    c_score[sp, n] = sc
            if c_fit[sp, n]:
                feas[nf] = n
                nf += 1

        if nf > 0:
            chosen = -1
            device = -1
            if policy == RANDOM:
                chosen = feas[rand_below(rng, nf)]
            elif use_ss and k > 0 and g < FULL:
                # Sum-of-Squares (Csirik et al.): minimise sum over gap sizes of (#devices with that gap)^2
                best = -1
                for j in range(nf):
                    n = feas[j]
                    gm = gaps[model[n]]
                    bd = -1
                    bv = 0
                    for i in range(free.shape[1]):
                        r = free[n, i]
                        if r < g:
                            continue
                        v = 0
                        if r < FULL:
                            v += 1 - 2 * gm[r]
                        if r - g > 0:
                            v += 2 * gm[r - g] + 1
                        if bd < 0 or v < bv or (v == bv and r < free[n, bd]):
                            bd = i
                            bv = v
                    if policy == FGD_SS3 and free[n, bd] == FULL:
                        bv = 1 << 40  # fresh device: never preferred over a partial one by SS; rank decides
                    ss_dev[n] = bd
                    ss_val[n] = bv
                    if best < 0:
                        best = n
                        continue
                    a1 = -bv
                    b1 = -ss_val[best]
                    a2 = c_score[sp, n]
                    b2 = c_score[sp, best]
                    if policy == FGD_SS2 or policy == FGD_SS3:
                        a1, a2 = a2, a1
                        b1, b2 = b2, b1
                    elif policy == FGD_SS4:
                        un = 1 if (R[n] < ndev[n] * FULL or cpu_used[n]) else 0
                        ub = 1 if (R[best] < ndev[best] * FULL or cpu_used[best]) else 0
                        a1 = c_score[sp, n] * 4 + un * 2
                        b1 = c_score[sp, best] * 4 + ub * 2
                        a2 = -bv
                        b2 = -ss_val[best]
                    if a1 > b1 or (a1 == b1 and (a2 > b2 or (a2 == b2 and rank[n] < rank[best]))):
                        best = n
                chosen = best
                device = ss_dev[best]
            else:
                lo = 0
                hi = 0
                if policy == BEST_FIT:
                    lo = c_score[sp, feas[0]]
                    hi = lo
                    for j in range(1, nf):
                        v = c_score[sp, feas[j]]
                        lo = min(lo, v)
                        hi = max(hi, v)
                if policy == FGD_TOL:
                    top = c_exact[sp, feas[0]]
                    for j in range(1, nf):
                        top = max(top, c_exact[sp, feas[j]])
                    best = -1
                    for j in range(nf):
                        n = feas[j]
                        if c_exact[sp, n] >= top - tolerance - 1e-9 and (best < 0 or rank[n] < rank[best]):
                            best = n
                    nf_sel = 0
                else:
                    nf_sel = nf
                    best = feas[0]
                best_s = c_score[sp, best]
                if policy == BEST_FIT:
                    best_s = (best_s - lo) * MAX_SCORE // (hi - lo) if hi > lo else 0
                for j in range(1, nf_sel):
                    n = feas[j]
                    if policy == FGD_EXACT:
                        d = c_exact[sp, n] - c_exact[sp, best]
                        if d > 1e-6 or (d >= -1e-6 and (R[n] < R[best] or (R[n] == R[best] and rank[n] < rank[best]))):
                            best = n
                        continue
                    v = c_score[sp, n]
                    if policy == BEST_FIT:
                        v = (v - lo) * MAX_SCORE // (hi - lo) if hi > lo else 0
                    if v > best_s or (v == best_s and rank[n] < rank[best]):
                        best = n
                        best_s = v
                chosen = best

            if use_ssdev and k > 0 and g < FULL:
                # devices with the node's best quantised FGD score; among them the smallest SS increase
                cpu_after = cpu[chosen] - c_p
                gm = gaps[model[chosen]]
                bq = -1
                bv = 0
                for i in range(free.shape[1]):
                    r = free[chosen, i]
                    if r < g:
                        continue
                    Fp = frag_after_change(R[chosen], cpu_after, model[chosen], cnt_ge[chosen], sum_lt[chosen], 1,
                                           r, r - g, tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_ps, levels)
                    q = fgd_quantise(Fs[chosen] - Fp)
                    v = 0
                    if r < FULL:
                        v += 1 - 2 * gm[r]
                    if r - g > 0:
                        v += 2 * gm[r - g] + 1
                    if device < 0 or q > bq or (q == bq and v < bv):
                        device = i
                        bq = q
                        bv = v
            if k > 0 and g < FULL and device < 0:
                if sharing_device == DEVICE_RANDOM:
                    device = random_device(free[chosen], g, rng)
                elif sharing_device == DEVICE_FGD:
                    if policy == FGD_EXACT or policy == FGD_TOL or policy == FGD_BIN:
                        device = c_dev[sp, chosen]
                    elif policy == FGD_XDEV:
                        device = fgd_exact_device(chosen, c_p, g, free, cpu, model, R, cnt_ge, sum_lt, Fs, levels,
                                                  tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_ps)
                    elif is_fgd:
                        device = c_dev[sp, chosen]
                    else:
                        fgd_node(chosen, c_p, k, g, free, cpu, model, R, cnt_ge, sum_lt, Fs, levels,
                                 tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_ps, tmp)
                        device = tmp[1]
                else:
                    device = best_fit_device(free[chosen], g)
            if k > 0 and g < FULL and model[chosen] >= 0:
                r = free[chosen, device]
                if r < FULL:
                    gaps[model[chosen], r] -= 1
                if r - g > 0:
                    gaps[model[chosen], r - g] += 1
            allocated += commit(chosen, device, c_p, m_p, k, g, free, cpu, mem, tags)
            old = Fn[chosen]
            refresh_node(chosen, free, cpu, model, nfull, R, cnt_ge, sum_lt, Fn, levels,
                         tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p)
            Fs[chosen] = frag_from_stats(R[chosen], cpu[chosen], model[chosen], cnt_ge[chosen], sum_lt[chosen],
                                         tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_ps)
            F_total += Fn[chosen] - old
            node_ver[chosen] += 1
            cpu_used[chosen] = True
            placed[p] = chosen

        ev_arrived[p] = arrived
        ev_alloc[p] = allocated
        ev_frag[p] = F_total
        ev_idle[p] = capacity - allocated
    return ev_arrived, ev_alloc, ev_frag, ev_idle, placed


DEVICE_RULES = {
    "lowest-free": DEVICE_LOWEST_FREE,
    "best-fit": DEVICE_BEST_FIT,
    "random": DEVICE_RANDOM,
    "fgd": DEVICE_FGD,
}
