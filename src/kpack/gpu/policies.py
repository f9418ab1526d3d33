"""The six FGD-paper placement policies (integer scores, FGD.md section 4), kpack's own FGD variants,
the policy registry, and ``schedule_trace``: the whole online per-pod loop as one Numba kernel.

kpack's policies:
- ``first-fit``: every node scores 0, so the seeded random node rank alone decides (baseline). It is
  the hidden ingredient of the paper's scores: ties are broken by that fixed rank, which packs pods onto
  a consistent subset of nodes and keeps the rest pristine.
- ``fgd-exact``: FGD with the exact delta F (no sigmoid quantisation); exact ties go to the rank.
- ``fgd-consolidate``: the paper's quantised FGD score first; among nodes with the same score, nodes
  that already host a pod come before pristine ones, and a CPU-only pod prefers the node with the
  least free GPU; then the rank. It keeps FGD's fragmentation descent and its first-fit packing, but
  opens a pristine node only when no used node is as good, and steers CPU-only pods to nodes whose GPUs
  are already spent, which keeps more whole GPUs (and whole nodes) usable for later GPU pods.
- ``fgd-sos``: fgd-consolidate for CPU-only, whole-GPU, multi-GPU and model-constrained (gpu_spec)
  pods; an unconstrained GPU-sharing pod instead
  goes to the (node, device) that keeps the cluster's open GPU gaps balanced: it minimises the change
  of the sum of squares  sum_r N(r)^2, where N(r) is the number of partially used devices with
  r free milli. Only gaps r >= SOS_MIN_GAP on nodes with CPU left for the smallest typical sharing
  pod count as open (smaller leftovers are closed: almost no pod fits them). That is the Sum-of-Squares online bin-packing rule (Csirik et al.) applied to GPU
  devices. Ties go to the fgd-consolidate node score, then the lowest device index, then the rank.
  Constrained sharing pods keep FGD's choice: the one cluster-wide gap histogram describes the
  unconstrained market (balancing it for them was worse on gpuspec20/25; per-model histograms were
  much worse: thin markets make opening gaps on pristine 8-GPU nodes cheap).
  SOS_MIN_GAP = 100 was chosen on ``default`` (seeds 42-71, mean unallocated %: 50 -> 5.35,
  80 -> 4.45, 100 -> 4.45, 110 -> 4.46, 130 -> 4.52, 160 -> 4.57, 220 -> 5.09; before the CPU rule).
  Thresholds <= 60 count the 60-milli leftovers of 470+470 pairs as open, and 220 closes the 190-milli
  leftovers of the 810-milli pods, which the small pods then no longer seek out.
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
from .fragmentation import frag_after_change

CPU_MAX = 128000  # normaliser: largest node CPU (milli)
GPU_MAX = 8000  # normaliser: largest node GPU (milli)
MAX_SCORE = 100

RANDOM = 0
DOT_PRODUCT = 1
GPU_CLUSTERING = 2
GPU_PACKING = 3
BEST_FIT = 4
FGD = 5
FIRST_FIT = 6
FGD_EXACT = 7
FGD_CONSOLIDATE = 8
FGD_SOS = 9

SOS_MIN_GAP = 100  # fgd-sos: a device gap (free milli) below this counts as closed


@dataclass(frozen=True)
class Policy:
    name: str
    code: int  # integer code the kernel dispatches on
    sharing_device: int  # DEVICE_* rule for GPU-sharing pods (whole GPUs: always lowest-index free)
    label: str  # short label for tables and plots (the paper's name for its six)
    paper: bool  # one of the six policies of the FGD paper


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy("random", RANDOM, DEVICE_RANDOM, "Random", True),
        Policy("dot-product", DOT_PRODUCT, DEVICE_BEST_FIT, "DotProd", True),
        Policy("gpu-clustering", GPU_CLUSTERING, DEVICE_BEST_FIT, "Clustering", True),
        Policy("gpu-packing", GPU_PACKING, DEVICE_BEST_FIT, "Packing", True),
        Policy("best-fit", BEST_FIT, DEVICE_BEST_FIT, "BestFit", True),
        Policy("fgd", FGD, DEVICE_FGD, "FGD", True),
        Policy("first-fit", FIRST_FIT, DEVICE_BEST_FIT, "FirstFit (kpack)", False),
        Policy("fgd-exact", FGD_EXACT, DEVICE_FGD, "FGD-exact (kpack)", False),
        Policy("fgd-consolidate", FGD_CONSOLIDATE, DEVICE_FGD, "FGD-consolidate (kpack)", False),
        Policy("fgd-sos", FGD_SOS, DEVICE_FGD, "FGD-SoS (kpack)", False),
    )
}
PAPER_POLICIES = tuple(name for name, p in POLICIES.items() if p.paper)


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
        old_free = FULL if k > 0 else 0
        Fp = frag_after_change(R[n], cpu_after, model[n], cnt_ge[n], sum_lt[n], n_changed, old_free, 0,
                               tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels)
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


@njit(cache=True, nogil=True)
def sos_delta(gap_count, r, g):
    """Change of sum_r N(r)^2 (open gaps r >= SOS_MIN_GAP only) when a sharing pod of ``g`` milli
    takes a device with ``r`` free milli."""
    d = 0
    if SOS_MIN_GAP <= r < FULL:
        d += 1 - 2 * gap_count[r]
    if r - g >= SOS_MIN_GAP:
        d += 1 + 2 * gap_count[r - g]
    return d


@njit(cache=True, nogil=True)
def sos_count_gaps(gap_count, free_row, cpu_left, min_cpu, sign):
    """Add (sign = 1) or remove (-1) one node's open gaps: devices with SOS_MIN_GAP <= free < FULL, on a
    node with at least ``min_cpu`` CPU left."""
    if cpu_left < min_cpu:
        return
    for i in range(free_row.shape[0]):
        r = free_row[i]
        if SOS_MIN_GAP <= r < FULL:
            gap_count[r] += sign


# ----------------------------------------------------------------------------------------------
# the online loop


@njit(cache=True, nogil=True)
def schedule_trace(policy, sharing_device, free, ndev, cpu, mem, model, rank,
                   pod_cpu, pod_mem, pod_k, pod_g, pod_mask, pod_spec, n_specs,
                   tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels, rng_seed):
    """Place pods one by one (FGD.md section 2 step 5) on a cluster whose pods all arrive in this call.
    Mutates the node state arrays. See ``schedule_trace_state``."""
    rng = np.empty(1, dtype=np.uint64)
    rng[0] = np.uint64(rng_seed)
    tags = np.zeros((free.shape[0], N_TAGS), dtype=np.int32)
    hosts = np.zeros(free.shape[0], dtype=np.bool_)
    out_dev = np.empty(pod_cpu.shape[0], dtype=np.int64)
    return schedule_trace_state(policy, sharing_device, free, ndev, cpu, mem, model, rank,
                                pod_cpu, pod_mem, pod_k, pod_g, pod_mask, pod_spec, n_specs,
                                tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels, rng, tags, hosts, out_dev)


@njit(cache=True, nogil=True)
def schedule_trace_state(policy, sharing_device, free, ndev, cpu, mem, model, rank,
                         pod_cpu, pod_mem, pod_k, pod_g, pod_mask, pod_spec, n_specs,
                         tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels, rng, tags, hosts, out_dev):
    """Place pods one by one (FGD.md section 2 step 5). Mutates the node state arrays, and the state that
    persists between calls of a trace replay (kpack.sim): ``rng`` (uint64[1]), GpuClustering ``tags``,
    ``hosts`` (node hosts a pod). ``out_dev[p]``: the shared device of a GPU-sharing pod, the bit mask of
    the devices a whole-GPU pod took, -1 otherwise (so a replay can release them exactly).

    ``pod_spec`` numbers the distinct (cpu, mem, num_gpu, gpu_milli, model mask) request vectors.
    Filter and score results are cached per (spec, node) and stamped with the node's version, which
    changes only when a pod lands on the node: a placement changes one node, so every other node's
    result for a spec seen before is reused. Results are identical to recomputing everything.
    (Every score here depends only on the node's own state and the request.)

    Returns per-event arrays (arrived milli, allocated milli, cluster F, idle milli) and the chosen
    node per pod (-1 = failed).
    """
    N = free.shape[0]
    L = levels.shape[0]
    P = pod_cpu.shape[0]

    nfull = np.zeros(N, dtype=np.int32)
    R = np.zeros(N, dtype=np.int64)
    cnt_ge = np.zeros((N, max(L, 1)), dtype=np.int32)
    sum_lt = np.zeros((N, max(L, 1)), dtype=np.int64)
    Fn = np.zeros(N, dtype=np.float64)
    capacity = 0
    for n in range(N):
        refresh_node(n, free, cpu, model, nfull, R, cnt_ge, sum_lt, Fn, levels,
                     tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p)
        capacity += R[n]
    F_total = 0.0
    for n in range(N):
        F_total += Fn[n]

    node_ver = np.ones(N, dtype=np.int32)
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
    # fgd-sos: open gaps per free milli, counted on nodes with CPU left for the smallest typical
    # sharing pod (gaps on other nodes are closed too)
    sos = policy == FGD_SOS
    gap_count = np.zeros(FULL + 1, dtype=np.int64)
    sos_cpu = np.int64(2**62)
    for m in range(tp_cpu.shape[0]):
        if 0 < tp_gpu[m] < FULL:
            sos_cpu = min(sos_cpu, tp_cpu[m])
    if sos:
        for n in range(N):
            sos_count_gaps(gap_count, free[n], cpu[n], sos_cpu, 1)

    arrived = 0
    allocated = 0
    for p in range(P):
        out_dev[p] = -1
        c_p = pod_cpu[p]
        m_p = pod_mem[p]
        k = pod_k[p]
        g = pod_g[p]
        sp = pod_spec[p]
        arrived += k * g

        # filter + score, reusing cached results of nodes unchanged since this spec was last seen
        nf = 0
        for n in range(N):
            if c_ver[sp, n] != node_ver[n]:
                c_ver[sp, n] = node_ver[n]
                ok = node_fits(n, c_p, m_p, k, g, pod_mask[p], free, cpu, mem, model, nfull)
                c_fit[sp, n] = ok
                if ok and policy != RANDOM and policy != FIRST_FIT:
                    sc = 0
                    if policy == DOT_PRODUCT:
                        sc = dot_product_score(cpu[n], R[n], c_p, k * g)
                    elif policy == GPU_CLUSTERING:
                        sc = gpu_clustering_score(tags[n], R[n], k, g)
                    elif policy == GPU_PACKING:
                        sc = gpu_packing_score(free[n], ndev[n], nfull[n], k, g)
                    elif policy == BEST_FIT:
                        sc = best_fit_raw_score(cpu[n], R[n], c_p, k * g)
                    elif policy == FGD_EXACT:
                        c_exact[sp, n] = fgd_exact_node(n, c_p, k, g, free, cpu, model, R, cnt_ge, sum_lt,
                                                        Fn, levels, tp_cpu, tp_gpu, tp_num, tp_mask, tp_level,
                                                        tp_p, tmp)
                        c_dev[sp, n] = tmp[1]
                    else:  # FGD, FGD_CONSOLIDATE, FGD_SOS
                        c_exact[sp, n] = fgd_node(n, c_p, k, g, free, cpu, model, R, cnt_ge, sum_lt, Fn,
                                                  levels, tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p,
                                                  tmp)
                        c_dev[sp, n] = tmp[1]
                        sc = tmp[0]
                        if policy == FGD_CONSOLIDATE or policy == FGD_SOS:
                            # lexicographic: FGD score, hosts a pod already, (CPU-only pods) least free GPU
                            sc = sc * 1_000_000 + (100_000 if hosts[n] else 0)
                            if k == 0:
                                sc += 65_000 - R[n]
                    c_score[sp, n] = sc
            if c_fit[sp, n]:
                feas[nf] = n
                nf += 1

        sos_device = -1
        if nf > 0 and policy == FGD_SOS and k == 1 and g < FULL and pod_mask[p] == -1:
            # least increase of the open-gap sum of squares over all (node, device) pairs; ties: node
            # score, lowest device index, rank
            best = -1
            best_d = 0
            for j in range(nf):
                n = feas[j]
                for i in range(free.shape[1]):
                    r = free[n, i]
                    if r < g:
                        continue
                    d = sos_delta(gap_count, r, g)
                    if (best < 0 or d < best_d
                            or (d == best_d and n != best
                                and (c_score[sp, n] > c_score[sp, best]
                                     or (c_score[sp, n] == c_score[sp, best] and rank[n] < rank[best])))):
                        best = n
                        best_d = d
                        sos_device = i
            feas[0] = best
            nf = 1
        if nf > 0:
            # select host: highest score, ties -> smallest random rank (Random: uniform)
            if policy == RANDOM:
                chosen = feas[rand_below(rng, nf)]
            else:
                lo = 0
                hi = 0
                if policy == BEST_FIT:  # integer min-max normalisation over the feasible nodes
                    lo = c_score[sp, feas[0]]
                    hi = lo
                    for j in range(1, nf):
                        v = c_score[sp, feas[j]]
                        lo = min(lo, v)
                        hi = max(hi, v)
                best = feas[0]
                best_s = c_score[sp, best]
                if policy == BEST_FIT:
                    best_s = (best_s - lo) * MAX_SCORE // (hi - lo) if hi > lo else 0
                for j in range(1, nf):
                    n = feas[j]
                    if policy == FGD_EXACT:
                        d = c_exact[sp, n] - c_exact[sp, best]
                        if d > 1e-6 or (d >= -1e-6 and rank[n] < rank[best]):
                            best = n
                        continue
                    v = c_score[sp, n]
                    if policy == BEST_FIT:
                        v = (v - lo) * MAX_SCORE // (hi - lo) if hi > lo else 0
                    if v > best_s or (v == best_s and rank[n] < rank[best]):
                        best = n
                        best_s = v
                chosen = best

            # reserve devices (whole GPUs: lowest-index free ones, inside commit)
            device = -1
            if k > 0 and g < FULL:
                if sharing_device == DEVICE_RANDOM:
                    device = random_device(free[chosen], g, rng)
                elif sos_device >= 0:
                    device = sos_device
                elif sharing_device == DEVICE_FGD:
                    device = c_dev[sp, chosen]
                else:
                    device = best_fit_device(free[chosen], g)
            if k > 0 and g >= FULL:  # the k lowest-index fully free devices, as commit takes them
                bits = np.int64(0)
                left = k
                for i in range(free.shape[1]):
                    if left > 0 and free[chosen, i] == FULL:
                        bits |= np.int64(1) << np.int64(i)
                        left -= 1
                out_dev[p] = bits
            else:
                out_dev[p] = device
            if sos:
                sos_count_gaps(gap_count, free[chosen], cpu[chosen], sos_cpu, -1)
            allocated += commit(chosen, device, c_p, m_p, k, g, free, cpu, mem, tags)
            if sos:
                sos_count_gaps(gap_count, free[chosen], cpu[chosen], sos_cpu, 1)
            old = Fn[chosen]
            refresh_node(chosen, free, cpu, model, nfull, R, cnt_ge, sum_lt, Fn, levels,
                         tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p)
            F_total += Fn[chosen] - old
            node_ver[chosen] += 1
            hosts[chosen] = True
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
