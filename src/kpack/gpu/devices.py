"""Per-device GPU state and its Numba kernels: filter, GPU device selection, commit.

State (struct of arrays, node = row index):
  free[N, G]  int32   free milli-GPU per device (1000 = fully free; padding columns beyond a node's
                      GPU count are 0, which never fits, never counts as fully free and adds 0 everywhere)
  ndev[N]     int32   GPU count
  cpu[N], mem[N] int64  CPU (milli) and memory (MiB) left
  model[N]    int32   GPU model code
  nfull[N]    int32   number of fully free devices
  R[N]        int64   total free milli-GPU
  cnt_ge[N, L], sum_lt[N, L]  fragmentation level stats (see fragmentation.py)
  Fn[N]       float64 F_n w.r.t. the typical pods
  tags[N, 9]  int32   GPU-clustering affinity tag counts: [0] share-gpu, [k] k-gpu
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..kernels import splitmix64
from .fragmentation import frag_from_stats, level_stats
from .tables import MILLI_PER_GPU, NodeTable

FULL = MILLI_PER_GPU
N_TAGS = 9  # share + 1..8 GPUs

DEVICE_LOWEST_FREE = 0  # whole / multi GPU: lowest-index fully free devices (all policies)
DEVICE_BEST_FIT = 1  # sharing: least free that fits, ties lowest index
DEVICE_RANDOM = 2  # sharing: uniform among fitting devices
DEVICE_FGD = 3  # sharing: highest (quantised) FGD score, ties lowest index


def empty_device_table(nodes: NodeTable) -> np.ndarray:
    """nodes x max-GPUs int32 table, 1000 on existing devices and 0 on padding."""
    width = max(1, int(nodes.num_gpu.max()))
    free = np.zeros((len(nodes), width), dtype=np.int32)
    for n, g in enumerate(nodes.num_gpu.tolist()):
        free[n, :g] = FULL
    return free


@njit(cache=True, nogil=True)
def rand_below(state, n):
    """Uniform integer in [0, n) (n >= 1) from 53 random bits."""
    u = splitmix64(state) >> np.uint64(11)
    return np.int64((np.float64(u) * (1.0 / 9007199254740992.0)) * n)


@njit(cache=True, nogil=True)
def node_fits(n, cpu_req, mem_req, k, g, mask, free, cpu, mem, model, nfull):
    """Filter of FGD.md 5b for node ``n``."""
    if cpu[n] < cpu_req or mem[n] < mem_req:
        return False
    if k == 0:
        return True
    if model[n] < 0 or not ((mask >> model[n]) & 1):
        return False
    if g < FULL:  # sharing: one device with enough free milli
        for i in range(free.shape[1]):
            if free[n, i] >= g:
                return True
        return False
    return nfull[n] >= k


@njit(cache=True, nogil=True)
def best_fit_device(free_row, g):
    best = -1
    for i in range(free_row.shape[0]):
        r = free_row[i]
        if r >= g and (best < 0 or r < free_row[best]):
            best = i
    return best


@njit(cache=True, nogil=True)
def random_device(free_row, g, rng):
    cnt = 0
    for i in range(free_row.shape[0]):
        if free_row[i] >= g:
            cnt += 1
    if cnt == 0:
        return -1
    pick = rand_below(rng, cnt)
    for i in range(free_row.shape[0]):
        if free_row[i] >= g:
            if pick == 0:
                return i
            pick -= 1
    return -1


@njit(cache=True, nogil=True)
def refresh_node(n, free, cpu, model, nfull, R, cnt_ge, sum_lt, Fn, levels,
                 tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p):
    """Recompute the derived per-node state (nfull, R, level stats, F_n) from free/cpu."""
    s = 0
    f = 0
    for i in range(free.shape[1]):
        s += free[n, i]
        if free[n, i] == FULL:
            f += 1
    R[n] = s
    nfull[n] = f
    level_stats(free[n], levels, cnt_ge[n], sum_lt[n])
    Fn[n] = frag_from_stats(R[n], cpu[n], model[n], cnt_ge[n], sum_lt[n], tp_cpu, tp_gpu, tp_num, tp_mask,
                            tp_level, tp_p)


@njit(cache=True, nogil=True)
def commit(n, device, cpu_req, mem_req, k, g, free, cpu, mem, tags):
    """Reserve the pod on node ``n``: a sharing pod takes ``g`` milli on ``device``; a whole/multi-GPU
    pod takes the ``k`` lowest-index fully free devices. Returns the milli-GPU allocated."""
    cpu[n] -= cpu_req
    mem[n] -= mem_req
    if k == 0:
        return 0
    if g < FULL:
        free[n, device] -= g
        tags[n, 0] += 1
        return g
    left = k
    for i in range(free.shape[1]):
        if left == 0:
            break
        if free[n, i] == FULL:
            free[n, i] = 0
            left -= 1
    tags[n, k if k < N_TAGS else N_TAGS - 1] += 1
    return k * FULL
