"""The baseline a competent user writes first: per pod, vectorised NumPy filter and score over the nodes in
visit order, then kube-scheduler's host selection with kpack's tie-break (t tied nodes: u = next
splitmix64, the (u mod t)-th tied node in visit order). Same semantics as the kernels for the profiles the
benchmarks use (default plugins; LeastAllocated/MostAllocated on cpu+memory, BalancedAllocation on
cpu+memory); static filters use kpack's per-class masks, as a user would vectorise them once too.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..predicates import NodeLabels, class_key, compile_class
from ..profile import Profile
from ..resources import COL_CPU, COL_MEMORY, COL_PODS
from ..state import Cluster

MASK64 = (1 << 64) - 1


def splitmix64(state: int) -> tuple[int, int]:
    s = (state + 0x9E3779B97F4A7C15) & MASK64
    z = s
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return s, z ^ (z >> 31)


def num_feasible_nodes_to_find(n: int, pct: int) -> int:
    if n < 100:
        return n
    p = pct
    if p <= 0:
        p = max(5, 50 - n // 125)
    return max(100, n * p // 100)


class NumpyScheduler:
    """Per-pod NumPy scheduler for the default plugin set; `schedule(cluster, specs, spec_index)`."""

    def __init__(self, profile: Profile, seed: int = 0):
        if [r for r, _ in profile.fit_resources] != ["cpu", "memory"] or \
                [r for r, _ in profile.balanced_resources] != ["cpu", "memory"] or \
                profile.scoring_strategy not in ("LeastAllocated", "MostAllocated"):
            raise ValueError("numpy baseline: only LeastAllocated/MostAllocated and BalancedAllocation "
                             "on cpu, memory")
        self.profile = profile
        self.rng = seed & MASK64
        self.start = 0
        w = profile.score_weights
        self.w_fit = w.get("NodeResourcesFit", 0)
        self.w_bal = w.get("NodeResourcesBalancedAllocation", 0)
        self.w_aff = w.get("NodeAffinity", 0)
        self.w_taint = w.get("TaintToleration", 0)
        self.fit_w = np.array([x for _, x in profile.fit_resources], dtype=np.int64)
        self.pct = int(profile.percentage_of_nodes_to_score or 0)

    def schedule(self, cluster: Cluster, specs, spec_index: np.ndarray) -> np.ndarray:
        """Place pods in order (mutates cluster.requested / nonzero_requested); node index per pod or -1.
        Nodes are visited in kube-scheduler's node-tree order (`Cluster.visit_order`), as the engines do."""
        order = cluster.visit_order()
        if order is None:
            return self.schedule_rows(cluster, specs, spec_index)
        view = cluster.permuted(order)
        out = self.schedule_rows(view, specs, spec_index)
        cluster.requested[order] = view.requested
        cluster.nonzero_requested[order] = view.nonzero_requested
        return np.where(out >= 0, order[np.maximum(out, 0)], -1).astype(np.int32)

    def schedule_rows(self, cluster: Cluster, specs, spec_index: np.ndarray) -> np.ndarray:
        """`schedule` over the cluster's rows in their own order."""
        alloc, req, nzr = cluster.allocatable, cluster.requested, cluster.nonzero_requested
        N = alloc.shape[0]
        labels = NodeLabels(cluster)
        filters = set(self.profile.filters)
        sreq, snz = cluster.pod_vectors(list(specs))
        classes = {}
        spec_cls = []
        for p in specs:
            k = class_key(p)
            if k not in classes:
                classes[k] = compile_class(cluster, p, labels, filters=filters)
            spec_cls.append(classes[k])
        checked = np.ones(alloc.shape[1], dtype=bool)
        checked[COL_PODS] = False
        out = np.full(len(spec_index), -1, dtype=np.int32)
        fit_on = "NodeResourcesFit" in filters
        most = self.profile.scoring_strategy == "MostAllocated"
        for i, s in enumerate(np.asarray(spec_index).tolist()):
            cls = spec_cls[s]
            if cls.conflict:
                continue
            preq, pnz = sreq[s], snz[s]
            cand = cls.candidates
            ncand = N if cand is None else len(cand)
            if ncand == 0:
                continue
            order = (self.start + np.arange(ncand)) % ncand
            nodes = order if cand is None else cand[order].astype(np.int64)
            feas = cls.code[nodes] == 0
            if fit_on:
                fail = req[nodes, COL_PODS] + 1 > alloc[nodes, COL_PODS]
                if (preq[checked] != 0).any():
                    free = alloc[nodes] - req[nodes]
                    fail |= ((preq > 0) & (preq > free) & checked).any(axis=1)
                feas &= ~fail
            to_find = num_feasible_nodes_to_find(ncand, self.pct)
            cum = np.cumsum(feas)
            total = int(cum[-1])
            processed = int(np.searchsorted(cum, to_find)) + 1 if total >= to_find else ncand
            self.start = (self.start + processed) % N
            win = nodes[:processed][feas[:processed]]
            k = len(win)
            if k == 0:
                continue
            if k == 1:
                chosen = int(win[0])
            else:
                a = alloc[win][:, [COL_CPU, COL_MEMORY]]
                totals = np.zeros(k, dtype=np.int64)
                if self.w_fit:
                    r = nzr[win] + pnz
                    if most:
                        rr = np.minimum(r, a)
                        sc = np.where(a > 0, rr * 100 // np.maximum(a, 1), 0)
                    else:
                        sc = np.where((a > 0) & (r <= a), (a - r) * 100 // np.maximum(a, 1), 0)
                    wm = (a > 0) * self.fit_w
                    wsum = wm.sum(axis=1)
                    totals += np.where(wsum > 0, (sc * wm).sum(axis=1) // np.maximum(wsum, 1), 0) * self.w_fit
                if self.w_bal and (preq[COL_CPU] != 0 or preq[COL_MEMORY] != 0):
                    r = req[win][:, [COL_CPU, COL_MEMORY]] + preq[[COL_CPU, COL_MEMORY]]
                    f = np.minimum(r / np.where(a > 0, a, 1), 1.0)
                    both = (a > 0).all(axis=1)
                    std = np.where(both, np.abs((f[:, 0] - f[:, 1]) / 2), 0.0)
                    totals += ((1 - std) * 100).astype(np.int64) * self.w_bal
                if self.w_aff and cls.affinity_raw is not None:
                    raw = cls.affinity_raw[win]
                    mx = raw.max()
                    totals += (100 * raw // mx if mx > 0 else raw) * self.w_aff
                if self.w_taint:
                    raw = cls.taint_raw[win]
                    mx = raw.max()
                    totals += (100 - 100 * raw // mx if mx > 0 else np.full(k, 100)) * self.w_taint
                tied = np.flatnonzero(totals == totals.max())
                if len(tied) == 1:
                    chosen = int(win[tied[0]])
                else:
                    self.rng, u = splitmix64(self.rng)
                    chosen = int(win[tied[u % len(tied)]])
            out[i] = chosen
            req[chosen] += preq
            nzr[chosen] += pnz
        return out


def schedule(cluster: Cluster, profile: Profile, specs, spec_index: np.ndarray, seed: int = 0,
             start: Optional[int] = None) -> np.ndarray:
    s = NumpyScheduler(profile, seed)
    if start is not None:
        s.start = start
    return s.schedule(cluster, specs, spec_index)
