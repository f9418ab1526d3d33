"""GPU fragmentation measure of the FGD paper: typical pods M, f(n, m), F_n = sum_m p_m f(n, m), cluster F.

Per node we keep, for every distinct per-GPU milli level g_l among the typical pods, the number of
devices with free >= g_l (``cnt_ge``) and the free milli summed over devices with free < g_l
(``sum_lt``). With those, f(n, m) is O(1) and the effect of a hypothetical placement on F_n is
O(|M|), which is what makes the FGD score cheap enough to evaluate on every node for every pod.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .tables import PodTable, spec_masks

POPULARITY_THRESHOLD = 0.95


@dataclass(frozen=True)
class TypicalPods:
    """The target workload M: one row per kept (cpu, gpu_milli, num_gpu, gpu_spec) group."""

    cpu_milli: np.ndarray  # int64
    gpu_milli: np.ndarray  # int64
    num_gpu: np.ndarray  # int64
    gpu_spec: np.ndarray  # object (str)
    count: np.ndarray  # int64, pods in the group
    popularity: np.ndarray  # float64, p_m, sums to 1
    levels: np.ndarray  # int64, sorted distinct gpu_milli > 0 of the kept groups
    level_of: np.ndarray  # int64, index into ``levels`` per group (-1 for CPU-only groups)

    def __len__(self) -> int:
        return len(self.cpu_milli)

    def masks(self, models: tuple[str, ...]) -> np.ndarray:
        return spec_masks(self.gpu_spec, models)


def typical_pods(pods: PodTable, threshold: float = POPULARITY_THRESHOLD) -> TypicalPods:
    """docs/fgd.md section 2 step 1: group by (cpu, gpu_milli, num_gpu, gpu_spec) (memory excluded), keep
    the most popular groups until they cover >= ``threshold`` of the pods, renormalise to sum 1.

    Equal counts keep the order of first appearance in ``pods`` (the reference sorts a Go map, so its
    order among equal counts is unspecified; only the groups at the threshold depend on it, e.g.
    gpuspec33's empty-cluster F/C ranges 35.41-35.49 % over tie orders, first appearance gives 35.49).
    """
    if len(pods) == 0:
        raise ValueError("typical_pods: empty pod table")
    counts: dict[tuple[int, int, int, str], int] = {}
    cols = (pods.cpu_milli.tolist(), pods.gpu_milli.tolist(), pods.num_gpu.tolist(), pods.gpu_spec)
    for c, g, k, s in zip(*cols):
        key = (c, g, k, s)
        counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: dict keeps first-appearance order
    total = len(pods)
    need = threshold * total
    kept = []
    cum = 0
    for key, n in ordered:
        if cum >= need:
            break
        kept.append((key, n))
        cum += n
    cpu = np.array([k[0] for k, _ in kept], dtype=np.int64)
    gm = np.array([k[1] for k, _ in kept], dtype=np.int64)
    ng = np.array([k[2] for k, _ in kept], dtype=np.int64)
    spec = np.array([k[3] for k, _ in kept], dtype=object)
    cnt = np.array([n for _, n in kept], dtype=np.int64)
    pop = cnt / float(cum)
    levels = np.unique(gm[gm > 0]).astype(np.int64)
    level_of = np.array([int(np.searchsorted(levels, g)) if g > 0 else -1 for g in gm], dtype=np.int64)
    return TypicalPods(cpu, gm, ng, spec, cnt, pop, levels, level_of)


# ----------------------------------------------------------------------------------------------
# kernels


@njit(cache=True, nogil=True)
def level_stats(free_row, levels, cnt_ge_out, sum_lt_out):
    """Fill per-level device counts / sliver sums for one node's device row."""
    for lv in range(levels.shape[0]):
        g = levels[lv]
        c = 0
        s = 0
        for i in range(free_row.shape[0]):
            r = free_row[i]
            if r >= g:
                c += 1
            else:
                s += r
        cnt_ge_out[lv] = c
        sum_lt_out[lv] = s


@njit(cache=True, nogil=True)
def frag_from_stats(R, cpu_left, model, cnt_ge, sum_lt, tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p):
    """F_n in milli-GPU from a node's level stats (docs/fgd.md section 4.6)."""
    if R == 0:
        return 0.0
    F = 0.0
    for m in range(tp_cpu.shape[0]):
        f = R
        if tp_gpu[m] > 0 and model >= 0 and (tp_mask[m] >> model) & 1:
            lv = tp_level[m]
            if cnt_ge[lv] >= tp_num[m] and cpu_left >= tp_cpu[m]:
                f = sum_lt[lv]
        F += tp_p[m] * f
    return F


@njit(cache=True, nogil=True)
def frag_after_change(R, cpu_after, model, cnt_ge, sum_lt, n_changed, old_free, new_free,
                      tp_cpu, tp_gpu, tp_num, tp_mask, tp_level, tp_p, levels):
    """F_n after ``n_changed`` devices go from ``old_free`` to ``new_free`` milli and CPU left becomes
    ``cpu_after`` (the node's stats themselves are not modified)."""
    R2 = R - n_changed * (old_free - new_free)
    if R2 == 0:
        return 0.0
    F = 0.0
    for m in range(tp_cpu.shape[0]):
        f = R2
        if tp_gpu[m] > 0 and model >= 0 and (tp_mask[m] >> model) & 1:
            lv = tp_level[m]
            g = levels[lv]
            c = cnt_ge[lv]
            s = sum_lt[lv]
            if old_free >= g:
                c -= n_changed
            else:
                s -= n_changed * old_free
            if new_free >= g:
                c += n_changed
            else:
                s += n_changed * new_free
            if c >= tp_num[m] and cpu_after >= tp_cpu[m]:
                f = s
        F += tp_p[m] * f
    return F


@njit(cache=True, nogil=True)
def node_frag_direct(free_row, cpu_left, model, tp_cpu, tp_gpu, tp_num, tp_mask, tp_p):
    """F_n straight from the definition (no level stats); the oracle for tests."""
    R = 0
    for i in range(free_row.shape[0]):
        R += free_row[i]
    if R == 0:
        return 0.0
    F = 0.0
    for m in range(tp_cpu.shape[0]):
        f = R
        if tp_gpu[m] > 0 and model >= 0 and (tp_mask[m] >> model) & 1:
            c = 0
            s = 0
            for i in range(free_row.shape[0]):
                if free_row[i] >= tp_gpu[m]:
                    c += 1
                else:
                    s += free_row[i]
            if c >= tp_num[m] and cpu_left >= tp_cpu[m]:
                f = s
        F += tp_p[m] * f
    return F


@njit(cache=True, nogil=True)
def cluster_frag_direct(free, cpu_left, model, tp_cpu, tp_gpu, tp_num, tp_mask, tp_p):
    total = 0.0
    for n in range(free.shape[0]):
        total += node_frag_direct(free[n], cpu_left[n], model[n], tp_cpu, tp_gpu, tp_num, tp_mask, tp_p)
    return total


def empty_cluster_fragmentation_pct(nodes, pods: PodTable) -> float:
    """100 * F / C for the empty cluster, with M from ``pods`` (docs/fgd.md section 5 sanity check)."""
    from .devices import empty_device_table

    tp = typical_pods(pods)
    free = empty_device_table(nodes)
    F = cluster_frag_direct(
        free, nodes.cpu_milli, nodes.model_code, tp.cpu_milli, tp.gpu_milli, tp.num_gpu,
        tp.masks(nodes.models), tp.popularity,
    )
    return 100.0 * F / nodes.total_gpu_milli
