"""GPU sharing through the normal Scheduler API: per-device state in the Cluster, a device filter, and the
FGD paper's six policies as score plugins that a Profile enables by name, all inside one batch kernel.

API (documented in the README): a node's devices come from `allocatable["nvidia.com/gpu"]` (1000 milli-GPU
each) and its model from the label `nvidia.com/gpu.product`; a pod asks for `nvidia.com/gpu: k` whole
devices, or `nvidia.com/gpu: 1` plus the annotation `kpack.io/gpu-milli: "<1..999>"` for a share of one
device, optionally limited to models by `kpack.io/gpu-models: "A100,V100"`.
"""
from __future__ import annotations

import operator
from typing import Optional, Sequence

import numpy as np
from numba import njit

from .. import kernels as K
from ..models import GPU_MODEL_LABEL, Pod
from ..resources import COL_CPU
from .devices import best_fit_device, random_device
from .fragmentation import node_frag_direct, typical_pods
from .policies import (
    BEST_FIT,
    DOT_PRODUCT,
    FGD,
    GPU_CLUSTERING,
    GPU_PACKING,
    RANDOM,
    best_fit_raw_score,
    dot_product_score,
    fgd_quantise,
    gpu_clustering_score,
    gpu_packing_score,
)
from .tables import PodTable

FULL = 1000
N_TAGS = 9
NO_POLICY = -1
# Score plugin names as in the reference simulator (docs/fgd.md section 6) -> policy code.
GPU_POLICY_CODES = {"RandomScore": RANDOM, "DotProductScore": DOT_PRODUCT,
                    "GpuClusteringScore": GPU_CLUSTERING, "GpuPackingScore": GPU_PACKING,
                    "BestFitScore": BEST_FIT, "FGDScore": FGD}


@njit(cache=True, nogil=True, error_model="numpy")
def reserve_devices(free_row, k, g, device):
    """Take g milli on `device` (sharing), or the k lowest-index fully free devices."""
    if k == 0:
        return
    if g < FULL:
        free_row[device] -= g
        return
    left = k
    for i in range(free_row.shape[0]):
        if left > 0 and free_row[i] == FULL:
            free_row[i] = 0
            left -= 1


@njit(cache=True, nogil=True, error_model="numpy")
def _fgd_choice(free_row, cpu_left, cpu_req, k, g, model, tp_cpu, tp_gpu, tp_num, tp_mask, tp_p, scratch):
    """(quantised FGD score, device): the placement that least increases F_n (docs/fgd.md section 4.6)."""
    before = node_frag_direct(free_row, cpu_left, model, tp_cpu, tp_gpu, tp_num, tp_mask, tp_p)
    if k == 0 or g >= FULL:
        scratch[:] = free_row
        reserve_devices(scratch, k, g, -1)
        after = node_frag_direct(scratch, cpu_left - cpu_req, model, tp_cpu, tp_gpu, tp_num, tp_mask, tp_p)
        return fgd_quantise(before - after), -1
    best_s = np.int64(-1)
    best_i = -1
    for i in range(free_row.shape[0]):
        if free_row[i] < g:
            continue
        scratch[:] = free_row
        scratch[i] -= g
        after = node_frag_direct(scratch, cpu_left - cpu_req, model, tp_cpu, tp_gpu, tp_num, tp_mask, tp_p)
        s = fgd_quantise(before - after)
        if s > best_s:
            best_s = s
            best_i = i
    return best_s, best_i


@njit(cache=True, nogil=True, error_model="numpy")
def _policy_score(policy, n, cpu_left, cpu_req, k, g, free, model, ndev_n, tags, tp_cpu, tp_gpu, tp_num,
                  tp_mask, tp_p, scratch, cpu_max, gpu_max):
    free_row = free[n]
    R = np.int64(0)
    nfull = 0
    for i in range(free_row.shape[0]):
        R += free_row[i]
        if free_row[i] == FULL:
            nfull += 1
    gpu_total = np.int64(k) * g
    if policy == DOT_PRODUCT:
        return dot_product_score(cpu_left, R, cpu_req, gpu_total, cpu_max, gpu_max)
    if policy == GPU_CLUSTERING:
        return gpu_clustering_score(tags[n], R, k, g, gpu_max)
    if policy == GPU_PACKING:
        return gpu_packing_score(free_row, ndev_n, nfull, k, g)
    if policy == BEST_FIT:
        return best_fit_raw_score(cpu_left, R, cpu_req, gpu_total, cpu_max, gpu_max)
    if policy == FGD:
        s, _ = _fgd_choice(free_row, cpu_left, cpu_req, k, g, model[n], tp_cpu, tp_gpu, tp_num, tp_mask, tp_p,
                           scratch)
        return s
    return np.int64(0)


@njit(cache=True, nogil=True, error_model="numpy")
def schedule_gpu_batch(alloc, req, nz, check_col, fit_filter_on, pod_cls, pod_req, pod_nz,
                       cls_code, cls_cand_off, cls_cand_len, cand_flat, cls_conflict,
                       cls_aff_row, aff_rows, cls_taint_row, taint_rows, weights,
                       fit_col, fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind,
                       pct, rng, start, out_node, fail_counts,
                       gpu_col, free, model, ndev, tags, pod_k, pod_g, policy, policy_w,
                       tp_cpu, tp_gpu, tp_num, tp_mask, tp_p, out_dev, cpu_max, gpu_max):
    """kernels.schedule_batch plus GPU devices: the device filter (its failures count as
    "Insufficient nvidia.com/gpu"), the policy score (weight policy_w, added to the kube plugins'
    total) and the policy's device choice; out_dev[p] is the shared device (-1 for whole devices)."""
    N = alloc.shape[0]
    R = alloc.shape[1]
    feasible = np.empty(N, dtype=np.int64)
    scores = np.empty((K.N_SCORE_PLUGINS, N), dtype=np.int64)
    pscore = np.empty(N, dtype=np.int64)
    tmp_fail = np.zeros(R, dtype=np.int32)
    scratch = np.empty(free.shape[1], dtype=np.int32)
    empty = np.zeros(0, dtype=np.int64)
    for p in range(pod_cls.shape[0]):
        c = pod_cls[p]
        out_node[p] = -1
        out_dev[p] = -1
        if cls_conflict[c]:
            continue
        preq = pod_req[p]
        pnz = pod_nz[p]
        k_gpu = pod_k[p]
        g = pod_g[p]
        if cls_cand_len[c] == 0:
            continue
        k = K.find_feasible(alloc, req, check_col, fit_filter_on, preq, cls_code[c], cls_cand_len[c],
                            cand_flat[cls_cand_off[c]:], pct, start, feasible, tmp_fail, free, k_gpu, g,
                            gpu_col)
        if k == 0:
            fail_counts[p, :] = tmp_fail
            continue
        if k == 1:
            chosen = feasible[0]
        else:
            ar = cls_aff_row[c]
            aff = aff_rows[ar] if ar >= 0 else empty
            totals = K.score_feasible(alloc, req, nz, preq, pnz, feasible, k, aff,
                                      taint_rows[cls_taint_row[c]], weights, fit_col, fit_kind, fit_w,
                                      strategy, shape_u, shape_s, bal_col, bal_kind, scores)
            if policy == RANDOM:
                pick = np.int64(K.splitmix64(rng) % np.uint64(k))
                for i in range(k):
                    totals[i] += policy_w * (100 if i == pick else 0)
            elif policy >= 0:
                for i in range(k):
                    n = feasible[i]
                    pscore[i] = _policy_score(policy, n, alloc[n, COL_CPU] - req[n, COL_CPU], preq[COL_CPU],
                                              k_gpu, g, free, model, ndev[n], tags, tp_cpu, tp_gpu, tp_num,
                                              tp_mask, tp_p, scratch, cpu_max, gpu_max)
                if policy == BEST_FIT:   # integer min-max normalisation over the feasible nodes
                    lo = pscore[0]
                    hi = pscore[0]
                    for i in range(k):
                        lo = min(lo, pscore[i])
                        hi = max(hi, pscore[i])
                    for i in range(k):
                        pscore[i] = 0 if hi == lo else (pscore[i] - lo) * 100 // (hi - lo)
                for i in range(k):
                    totals[i] += policy_w * pscore[i]
            chosen = feasible[K.select_host(totals, k, rng, True)]
        out_node[p] = chosen
        dev = -1
        if k_gpu > 0 and g < FULL:
            if policy == FGD:
                _, dev = _fgd_choice(free[chosen], alloc[chosen, COL_CPU] - req[chosen, COL_CPU],
                                     preq[COL_CPU], k_gpu, g, model[chosen], tp_cpu, tp_gpu, tp_num, tp_mask,
                                     tp_p, scratch)
            elif policy == RANDOM:
                dev = random_device(free[chosen], g, rng)
            else:
                dev = best_fit_device(free[chosen], g)
        reserve_devices(free[chosen], k_gpu, g, dev)
        out_dev[p] = dev
        if k_gpu > 0:
            tags[chosen, 0 if g < FULL else min(k_gpu, N_TAGS - 1)] += 1
        K.commit(req, nz, chosen, preq, pnz)


def normalisers(cluster) -> tuple[int, int]:
    """(largest node cpu in millicores, largest node GPU in milli-GPU): the policies' normalisers, from the
    cluster itself so every node scores within 0..100 (1 when the cluster has none, to avoid dividing
    by 0)."""
    cpu = int(cluster.allocatable[:, COL_CPU].max()) if len(cluster.node_names) else 0
    gpu = int(cluster.gpu_free.shape[1]) * FULL
    return max(cpu, 1), max(gpu, 1)


def devices_fit_all(free: np.ndarray, k: int, g: int) -> np.ndarray:
    """devices_fit for every node at once (NumPy), for explain."""
    if k == 0:
        return np.ones(len(free), dtype=np.bool_)
    return (free >= g).sum(axis=1) >= (1 if g < FULL else k)


def gpu_models(cluster) -> tuple[str, ...]:
    """Distinct GPU models (label nvidia.com/gpu.product values) in the cluster, sorted."""
    k = cluster.label_key_index.get(GPU_MODEL_LABEL)
    if k is None:
        return ()
    codes = np.unique(cluster.label_codes[:, k])
    return tuple(sorted(cluster.label_values[c] for c in codes if c >= 0))


def node_model_codes(cluster, models: tuple[str, ...]) -> np.ndarray:
    k = cluster.label_key_index.get(GPU_MODEL_LABEL)
    out = np.full(len(cluster.node_names), -1, dtype=np.int64)
    if k is None:
        return out
    code_of = {m: i for i, m in enumerate(models)}
    lut = np.array([code_of.get(v, -1) for v in cluster.label_values] + [-1], dtype=np.int64)
    return lut[cluster.label_codes[:, k]]


def typical_pod_arrays(pods: Sequence[Pod], models: tuple[str, ...],
                       counts: Optional[np.ndarray] = None) -> tuple:
    """FGD's target workload M (docs/fgd.md section 2 step 1) as kernel arrays, from `pods` (pod i counted
    counts[i] times; once each when None)."""
    if counts is None:
        counts = np.ones(len(pods), dtype=np.int64)
    keep = np.flatnonzero(counts > 0)
    if not len(keep):
        z = np.zeros(0, np.int64)
        return z, z, z, z, np.zeros(0, np.float64)
    pods = [pods[i] for i in keep.tolist()]
    rep = counts[keep]
    table = PodTable(np.repeat(np.array([p.name for p in pods], dtype=object), rep),
                     np.repeat(np.array([p.requests.get("cpu", 0) for p in pods], dtype=np.int64), rep),
                     np.zeros(int(rep.sum()), dtype=np.int64),
                     np.repeat(np.array([p.gpu_count for p in pods], dtype=np.int32), rep),
                     np.repeat(np.array([p.gpu_per_device if p.gpu_count else 0 for p in pods],
                                        dtype=np.int32), rep),
                     np.repeat(np.array(["|".join(p.gpu_models) for p in pods], dtype=object), rep))
    tp = typical_pods(table)
    return tp.cpu_milli, tp.gpu_milli, tp.num_gpu, tp.masks(models), tp.popularity


def target_workload(cluster, pods: Sequence[Pod],
                    explicit: Optional[Sequence[Pod]]) -> tuple[list, np.ndarray]:
    """FGD's target workload: `explicit` when given; else the pods bound in the cluster plus the batch, so
    scheduling one pod per call does not shrink the workload to that one pod."""
    if explicit is not None:
        return list(explicit), np.ones(len(explicit), dtype=np.int64)
    specs, spec_idx, _ = cluster.bound_columns()
    counts = np.bincount(spec_idx, minlength=len(specs)).astype(np.int64)
    return list(specs) + list(pods), np.concatenate([counts, np.ones(len(pods), dtype=np.int64)])


def pod_gpu_arrays(pods: Sequence[Pod]) -> tuple[np.ndarray, np.ndarray]:
    k = np.array([p.gpu_count for p in pods], dtype=np.int64)
    g = np.array([p.gpu_per_device for p in pods], dtype=np.int64)
    return k, g


def needs_devices(profile, cluster, pods: Sequence[Pod]) -> bool:
    """The device-aware kernel runs when a GPU policy is enabled, a pod shares a device, or a device is
    already shared; otherwise nvidia.com/gpu is an ordinary counted resource, exactly as upstream."""
    if any(n in GPU_POLICY_CODES for n in profile.score_weights):
        return True
    milli = set(map(operator.attrgetter("gpu_milli"), pods))    # few distinct values: no Python per pod
    milli.discard(None)
    if any(m < FULL for m in milli):
        return True
    free = cluster.gpu_free
    return bool(free.size) and bool(((free > 0) & (free < FULL)).any())
