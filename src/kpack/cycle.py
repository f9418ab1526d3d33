"""The Numba engine's one scheduling cycle (filter, score, select, commit per pod) over named bundles.

`schedule` places pods in queue order; `explain` runs the same filter (every candidate, no sampling) and the
same scores for one pod and returns them per node. Both read the bundles of kpack.bundles: the C ABI's five
structs, plus the GPU device bundle (device filter, GPU policy score and device choice; empty for CPU-only
calls) and the registered static score plugins (empty when the profile enables none). The pieces are the
kernels' own (kernels.find_feasible, score_feasible, select_host, commit) and the GPU plugins'
(gpu.plugins.policy_scores, commit_devices): nothing here re-derives a rule.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import kernels as K
from .bundles import NO_POLICY
from .gpu.plugins import FULL, commit_devices, policy_scores
from .resources import COL_PODS


@njit(cache=True, nogil=True, error_model="numpy")
def score_pod(cluster, profile, classes, c, preq, pnz, feasible, k, devices, k_gpu, g, statics, rng, scores,
              scratch):
    """Weighted totals of feasible[:k] for a pod of class c. scores[plugin, i] gets the normalised score of
    each plugin that ran (-1 otherwise): rows 0..3 the kube plugins (kernels.P_*), then one per static score
    plugin, then the GPU policy. The RandomScore policy draws from rng."""
    ar = classes.aff_row[c]
    aff = classes.aff_rows[ar] if ar >= 0 else classes.aff_row[:0]     # [:0]: PreScore skipped
    totals = K.score_feasible(cluster.allocatable, cluster.requested, cluster.nonzero_requested, preq, pnz,
                              feasible, k, aff, classes.taint_rows[classes.taint_row[c]], profile.weights,
                              profile.fit_col, profile.fit_kind, profile.fit_w, profile.strategy,
                              profile.shape_u, profile.shape_s, profile.bal_col, profile.bal_kind, scores)
    x = statics.w.shape[0]
    if x:
        K.add_static_scores(feasible, k, statics.rows[c], statics.mode, statics.w, totals,
                            scores[K.N_SCORE_PLUGINS:])
    if devices.policy != NO_POLICY:
        row = scores[K.N_SCORE_PLUGINS + x]
        policy_scores(devices, cluster.allocatable, cluster.requested, preq, feasible, k, k_gpu, g, rng, row,
                      scratch)
        for i in range(k):
            totals[i] += devices.weight * row[i]
    return totals


@njit(cache=True, nogil=True, error_model="numpy")
def schedule(cluster, profile, classes, pods, state, devices, statics, out_node, fail_counts):
    """Place pods in order; mutates cluster.requested / nonzero_requested, state.rng / start and, for pods on
    devices, devices.free / tags / out_dev. out_node[p] = node or -1; for a pod no node fits,
    fail_counts[p, r] counts the visited nodes failing NodeResourcesFit on column r (device failures on
    devices.col). A pod with one feasible node is not scored (upstream skips scoring then, and so draws
    nothing)."""
    alloc, req, nz = cluster.allocatable, cluster.requested, cluster.nonzero_requested
    N = alloc.shape[0]
    feasible = np.empty(N, dtype=np.int64)
    scores = np.empty((K.N_SCORE_PLUGINS + statics.w.shape[0] + 1, N), dtype=np.int64)
    tmp_fail = np.zeros(alloc.shape[1], dtype=np.int32)
    scratch = np.empty(devices.free.shape[1], dtype=np.int32)
    on_devices = devices.pod_k.shape[0] > 0
    for p in range(pods.cls.shape[0]):
        c = pods.cls[p]
        out_node[p] = -1
        if on_devices:
            devices.out_dev[p] = -1
        if classes.conflict[c] or classes.cand_len[c] == 0:
            continue
        preq = pods.req[p]
        pnz = pods.nonzero[p]
        k_gpu = devices.pod_k[p] if on_devices else 0
        g = devices.pod_g[p] if on_devices else FULL
        k = K.find_feasible(alloc, req, profile.check_col, profile.fit_filter_on, preq, classes.code[c],
                            classes.cand_len[c], classes.cand_flat[classes.cand_off[c]:], profile.pct,
                            state.start, feasible, tmp_fail, devices.free, k_gpu, g, devices.col)
        if k == 0:
            fail_counts[p, :] = tmp_fail
            continue
        if k == 1:
            chosen = feasible[0]
        else:
            totals = score_pod(cluster, profile, classes, c, preq, pnz, feasible, k, devices, k_gpu, g,
                               statics, state.rng, scores, scratch)
            chosen = feasible[K.select_host(totals, k, state.rng, True)]
        out_node[p] = chosen
        if k_gpu > 0:
            commit_devices(devices, p, chosen, alloc, req, preq, k_gpu, g, state.rng, scratch)
        K.commit(req, nz, chosen, preq, pnz)


@njit(cache=True, nogil=True, error_model="numpy")
def explain(cluster, profile, classes, pods, devices, statics, rng):
    """Pod 0 of `pods` on every candidate node of its class, changing nothing but `rng` (pass a copy):
    (fit failure bits per node, device filter failure per node, feasible nodes in candidate order, scores
    [plugin, i] as score_pod lays them out, totals, index into feasible of the host `schedule` picks when
    every node is visited, -1 when none is feasible)."""
    alloc, req = cluster.allocatable, cluster.requested
    N = alloc.shape[0]
    c = pods.cls[0]
    preq = pods.req[0]
    pnz = pods.nonzero[0]
    on_devices = devices.pod_k.shape[0] > 0
    k_gpu = devices.pod_k[0] if on_devices else 0
    g = devices.pod_g[0] if on_devices else FULL
    code = classes.code[c]
    n_cand = classes.cand_len[c]
    cand = classes.cand_flat[classes.cand_off[c]:]
    bits_out = np.zeros(N, dtype=np.int64)
    no_device = np.zeros(N, dtype=np.bool_)
    feasible = np.empty(N, dtype=np.int64)
    any_req = False
    for r in range(alloc.shape[1]):
        if r != COL_PODS and preq[r] != 0:
            any_req = True
    k = 0
    for i in range(N if n_cand < 0 else n_cand):
        n = i if n_cand < 0 else np.int64(cand[i])
        if code[n] != 0:
            continue
        if k_gpu > 0 and not K.devices_fit(devices.free[n], k_gpu, g):
            no_device[n] = True
            continue
        if profile.fit_filter_on:
            b = K.fit_failures(alloc, req, n, preq, profile.check_col, any_req)
            bits_out[n] = b
            if b != 0:
                continue
        feasible[k] = n
        k += 1
    scores = np.full((K.N_SCORE_PLUGINS + statics.w.shape[0] + 1, max(k, 1)), -1, dtype=np.int64)
    totals = np.zeros(max(k, 1), dtype=np.int64)
    pick = -1
    if k > 0:
        scratch = np.empty(devices.free.shape[1], dtype=np.int32)
        totals = score_pod(cluster, profile, classes, c, preq, pnz, feasible, k, devices, k_gpu, g, statics,
                           rng, scores, scratch)
        pick = 0 if k == 1 else K.select_host(totals, k, rng, True)
    return bits_out, no_device, feasible[:k], scores[:, :k], totals[:k], pick
