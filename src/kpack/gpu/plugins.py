"""GPU sharing through the normal Scheduler API: per-device state in the Cluster, a device filter, and the
FGD paper's six policies as score plugins that a Profile enables by name: the Numba pieces the scheduling
cycle (kpack.cycle) calls, and the Python that builds its device bundle.

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
from ..bundles import NO_POLICY, DeviceArrays
from ..models import GPU_MODEL_LABEL, GPU_RESOURCE, Pod
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
def policy_scores(devices, alloc, req, preq, feasible, k, k_gpu, g, rng, out, scratch):
    """The enabled GPU policy's score of feasible[:k] into out[:k] (devices: a kpack.bundles.DeviceArrays):
    RandomScore gives 100 to one node drawn from rng; BestFitScore is min-max normalised over the feasible
    nodes (integer arithmetic); the others are already 0..100."""
    policy = devices.policy
    if policy == RANDOM:
        pick = np.int64(K.splitmix64(rng) % np.uint64(k))
        for i in range(k):
            out[i] = 100 if i == pick else 0
        return
    # The bundle's fields as locals, once: reading them from the tuple inside the node loop costs a reference
    # count per field per node (measured: +30 % CPU time on FGDScore).
    free, model, ndev, tags = devices.free, devices.model, devices.ndev, devices.tags
    tp_cpu, tp_gpu, tp_num, tp_mask, tp_p = devices.tp_cpu, devices.tp_gpu, devices.tp_num, devices.tp_mask, \
        devices.tp_p
    cpu_max, gpu_max = devices.cpu_max, devices.gpu_max
    for i in range(k):
        n = feasible[i]
        out[i] = _policy_score(policy, n, alloc[n, COL_CPU] - req[n, COL_CPU], preq[COL_CPU], k_gpu, g, free,
                               model, ndev[n], tags, tp_cpu, tp_gpu, tp_num, tp_mask, tp_p, scratch, cpu_max,
                               gpu_max)
    if policy == BEST_FIT:
        lo = out[0]
        hi = out[0]
        for i in range(k):
            lo = min(lo, out[i])
            hi = max(hi, out[i])
        for i in range(k):
            out[i] = 0 if hi == lo else (out[i] - lo) * 100 // (hi - lo)


@njit(cache=True, nogil=True, error_model="numpy")
def commit_devices(devices, p, chosen, alloc, req, preq, k_gpu, g, rng, scratch):
    """Bind pod p's k_gpu > 0 devices on node `chosen` (before its requests are committed): a share goes to
    the device the policy picks (FGD: least fragmentation; Random: drawn from rng; else best fit), whole
    devices to the lowest-index free ones; records the shared device in out_dev[p] and the pod's kind in
    tags."""
    free_row = devices.free[chosen]
    dev = -1
    if g < FULL:
        if devices.policy == FGD:
            _, dev = _fgd_choice(free_row, alloc[chosen, COL_CPU] - req[chosen, COL_CPU], preq[COL_CPU],
                                 k_gpu, g, devices.model[chosen], devices.tp_cpu, devices.tp_gpu,
                                 devices.tp_num, devices.tp_mask, devices.tp_p, scratch)
        elif devices.policy == RANDOM:
            dev = random_device(free_row, g, rng)
        else:
            dev = best_fit_device(free_row, g)
    reserve_devices(free_row, k_gpu, g, dev)
    devices.out_dev[p] = dev
    devices.tags[chosen, 0 if g < FULL else min(k_gpu, N_TAGS - 1)] += 1


def normalisers(cluster) -> tuple[int, int]:
    """(largest node cpu in millicores, largest node GPU in milli-GPU): the policies' normalisers, from the
    cluster itself so every node scores within 0..100 (1 when the cluster has none, to avoid dividing
    by 0)."""
    cpu = int(cluster.allocatable[:, COL_CPU].max()) if len(cluster.node_names) else 0
    gpu = int(cluster.gpu_free.shape[1]) * FULL
    return max(cpu, 1), max(gpu, 1)


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


def policy_name(profile) -> Optional[str]:
    """The GPU policy score plugin the profile enables (the first listed), or None."""
    return next((n for n in profile.score_weights if n in GPU_POLICY_CODES), None)


def device_arrays(cluster, profile, pods: Sequence[Pod], workload: Optional[Sequence[Pod]]) -> DeviceArrays:
    """The device bundle for placing (or explaining) `pods` on `cluster`, whose own gpu_free / gpu_tags the
    cycle updates in place: the profile's GPU policy (the first one enabled) and its weight, FGD's target
    workload (`workload`, else target_workload's default) and the cluster's normalisers."""
    gpu_col = cluster.resource_index[GPU_RESOURCE]
    name = policy_name(profile)
    policy = NO_POLICY if name is None else GPU_POLICY_CODES[name]
    weight = 0 if name is None else int(profile.score_weights[name])
    models = gpu_models(cluster)
    if policy == FGD:
        pods_m, counts = target_workload(cluster, pods, workload)
        tp = typical_pod_arrays(pods_m, models, counts)
    else:
        tp = typical_pod_arrays([], models)
    pod_k, pod_g = pod_gpu_arrays(pods)
    return DeviceArrays(int(gpu_col), cluster.gpu_free, node_model_codes(cluster, models),
                        np.ascontiguousarray(cluster.allocatable[:, gpu_col]), cluster.gpu_tags, pod_k, pod_g,
                        np.full(len(pods), -1, dtype=np.int64), int(policy), weight, *tp,
                        *normalisers(cluster))


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
