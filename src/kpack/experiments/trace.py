"""The FGD paper's online trace loop: places an openb pod table one pod at a time under a GPU policy."""

from __future__ import annotations

import numpy as np
from numba import njit

from ..gpu.devices import (
    DEVICE_FGD,
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
from ..gpu.policies import (
    BEST_FIT,
    CPU_MAX,
    DOT_PRODUCT,
    FGD_CONSOLIDATE,
    FGD_EXACT,
    FGD_SOS,
    FIRST_FIT,
    GPU_CLUSTERING,
    GPU_MAX,
    GPU_PACKING,
    MAX_SCORE,
    RANDOM,
    best_fit_raw_score,
    dot_product_score,
    fgd_exact_node,
    fgd_node,
    gpu_clustering_score,
    gpu_packing_score,
    sos_count_gaps,
    sos_delta,
)

# ----------------------------------------------------------------------------------------------
# the online loop


@njit(cache=True, nogil=True)
def schedule_trace(policy, sharing_device, free, ndev, cpu, mem, model, rank,
                   pod_cpu, pod_mem, pod_k, pod_g, pod_mask, pod_spec, n_specs,
                   tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels, rng_seed):
    """Place pods one by one (docs/fgd.md section 2 step 5) on a cluster whose pods all arrive in this call.
    Mutates the node state arrays. See ``schedule_trace_state``."""
    rng = np.empty(1, dtype=np.uint64)
    rng[0] = np.uint64(rng_seed)
    tags = np.zeros((free.shape[0], N_TAGS), dtype=np.int32)
    hosts = np.zeros(free.shape[0], dtype=np.bool_)
    out_dev = np.empty(pod_cpu.shape[0], dtype=np.int64)
    return schedule_trace_state(policy, sharing_device, free, ndev, cpu, mem, model, rank,
                                pod_cpu, pod_mem, pod_k, pod_g, pod_mask, pod_spec, n_specs,
                                tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels, rng, tags, hosts,
                                out_dev)


@njit(cache=True, nogil=True)
def schedule_trace_state(policy, sharing_device, free, ndev, cpu, mem, model, rank,
                         pod_cpu, pod_mem, pod_k, pod_g, pod_mask, pod_spec, n_specs,
                         tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels, rng, tags, hosts, out_dev):
    """Place pods one by one (docs/fgd.md section 2 step 5). Mutates the node state arrays, and the state that
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
                        sc = dot_product_score(cpu[n], R[n], c_p, k * g, CPU_MAX, GPU_MAX)
                    elif policy == GPU_CLUSTERING:
                        sc = gpu_clustering_score(tags[n], R[n], k, g, GPU_MAX)
                    elif policy == GPU_PACKING:
                        sc = gpu_packing_score(free[n], ndev[n], nfull[n], k, g)
                    elif policy == BEST_FIT:
                        sc = best_fit_raw_score(cpu[n], R[n], c_p, k * g, CPU_MAX, GPU_MAX)
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
