"""Bin-emptying local search for one bin shape: tabu search over assignments into one bin fewer that may
overflow, minimising the (breakout-weighted) total overflow until the packing is feasible."""
from __future__ import annotations

import time

import numpy as np
from numba import njit

CHUNK_SECONDS = 0.02  # the kernel runs in calls of about this long; the deadline is checked between them
TENURE = 5            # tabu tenure: TENURE + a random number below TENURE_SPREAD iterations
TENURE_SPREAD = 10


@njit(cache=True, nogil=True)
def _over(load, cap, scale):
    v = 0.0
    for d in range(cap.shape[0]):
        if load[d] > cap[d]:
            v += (load[d] - cap[d]) * scale[d]
    return v


@njit(cache=True, nogil=True)
def overflow_kernel(w, cap, scale, bin_of, load, tabu, bw, it0, iters, seed):
    """Tabu search on a complete assignment into K bins that may overflow: minimise the total overflow
    (sum over bins and dimensions of (load - capacity)+ * scale[d]). Moves take an item of an overflowing
    bin: relocate it to another bin, or swap it with an item of another bin; the best non-tabu move is
    taken (a tabu move only when it beats the best overflow seen). An item that leaves bin a may not
    return to a for a random tenure. tabu [n, K]. Moves are judged by the overflow weighted per bin (bw [K]):
    at a local minimum the weights of the overflowing bins grow by one (breakout), which pushes the search
    away from bins it keeps overfilling. Returns (iterations done, unweighted overflow at the end)."""
    n, D = w.shape
    K = load.shape[0]
    np.random.seed(seed)
    over = np.empty(K)
    total = 0.0
    for k in range(K):
        over[k] = _over(load[k], cap, scale)
        total += over[k]
    best_seen = total
    tmp = np.empty(D, dtype=np.int64)
    it = it0
    while it < it0 + iters and total > 1e-12:
        best = 1e300
        n_best = 0
        mi, mj, mb = -1, -1, -1
        for i in range(n):
            a = bin_of[i]
            if over[a] <= 1e-12:
                continue
            # Relocate i: a loses w[i], b gains it.
            for d in range(D):
                tmp[d] = load[a, d] - w[i, d]
            oa = _over(tmp, cap, scale)
            for b in range(K):
                if b == a:
                    continue
                for d in range(D):
                    tmp[d] = load[b, d] + w[i, d]
                ob = _over(tmp, cap, scale)
                delta = bw[a] * (oa - over[a]) + bw[b] * (ob - over[b])
                if tabu[i, b] > it and total + oa - over[a] + ob - over[b] >= best_seen - 1e-12:
                    continue
                if delta < best - 1e-12:
                    best, n_best, mi, mj, mb = delta, 1, i, -1, b
                elif delta < best + 1e-12:
                    n_best += 1
                    if np.random.randint(n_best) == 0:
                        mi, mj, mb = i, -1, b
            # Swap i with j of another bin.
            for j in range(n):
                b = bin_of[j]
                if b == a:
                    continue
                same = True
                for d in range(D):
                    if w[i, d] != w[j, d]:
                        same = False
                        break
                if same:
                    continue
                for d in range(D):
                    tmp[d] = load[a, d] - w[i, d] + w[j, d]
                na = _over(tmp, cap, scale)
                if na >= over[a] - 1e-12:
                    continue      # a swap that does not relieve a is seen from the other bin's side
                for d in range(D):
                    tmp[d] = load[b, d] + w[i, d] - w[j, d]
                nb = _over(tmp, cap, scale)
                delta = bw[a] * (na - over[a]) + bw[b] * (nb - over[b])
                raw = total + na - over[a] + nb - over[b]
                if (tabu[i, b] > it or tabu[j, a] > it) and raw >= best_seen - 1e-12:
                    continue
                if delta < best - 1e-12:
                    best, n_best, mi, mj, mb = delta, 1, i, j, b
                elif delta < best + 1e-12:
                    n_best += 1
                    if np.random.randint(n_best) == 0:
                        mi, mj, mb = i, j, b
        it += 1
        if best >= -1e-12:
            for k in range(K):
                if over[k] > 1e-12:
                    bw[k] += 1.0
        if mi < 0:
            continue
        a = bin_of[mi]
        tenure = TENURE + np.random.randint(TENURE_SPREAD)
        tabu[mi, a] = it + tenure
        for d in range(D):
            load[a, d] -= w[mi, d]
            load[mb, d] += w[mi, d]
        bin_of[mi] = mb
        if mj >= 0:
            tabu[mj, mb] = it + tenure
            for d in range(D):
                load[mb, d] -= w[mj, d]
                load[a, d] += w[mj, d]
            bin_of[mj] = a
        total = 0.0
        for k in range(K):
            over[k] = _over(load[k], cap, scale)
            total += over[k]
        if total < best_seen:
            best_seen = total
    return it - it0, total


def empty_bins(sizes: np.ndarray, cap: np.ndarray, bins: list[list[int]], lb: int, deadline: float,
               seed: int = 0) -> list[list[int]]:
    """From a feasible packing `bins`, look for packings with fewer bins (down to `lb`) until the deadline:
    drop the lightest bin, put each of its items where it overflows least, and let the tabu search remove
    the overflow. Returns the best packing found (the input when nothing better is found)."""
    sizes = np.ascontiguousarray(sizes, dtype=np.int64)
    cap = np.ascontiguousarray(cap, dtype=np.int64)
    n, D = sizes.shape
    scale = 1.0 / np.maximum(cap, 1).astype(np.float64)
    best = [list(b) for b in bins]
    rng = np.random.default_rng(seed)
    chunk = 50
    while len(best) > max(lb, 1) and time.perf_counter() < deadline:
        k = len(best) - 1
        vols = [float((sizes[b] * scale).sum()) for b in best]
        drop = int(np.argmin(vols))
        bin_of = np.full(n, -1, dtype=np.int64)
        load = np.zeros((k, D), dtype=np.int64)
        for j, b in enumerate(x for t, x in enumerate(best) if t != drop):
            bin_of[b] = j
            load[j] = sizes[b].sum(axis=0)
        for i in best[drop]:
            j = int(np.argmin((np.maximum(load + sizes[i] - cap, 0) * scale).sum(axis=1)))
            bin_of[i] = j
            load[j] += sizes[i]
        tabu = np.zeros((n, k), dtype=np.int64)
        bw = np.ones(k)
        it, over = 0, 1.0
        while over > 0 and time.perf_counter() < deadline:
            t = time.perf_counter()
            done, over = overflow_kernel(sizes, cap, scale, bin_of, load, tabu, bw, it, chunk,
                                         int(rng.integers(1 << 30)))
            it += done
            # About CHUNK_SECONDS per call, so the deadline is kept.
            per = (time.perf_counter() - t) / max(done, 1)
            chunk = int(min(max(CHUNK_SECONDS / max(per, 1e-7), 10), 100_000))
        if over > 0:
            break
        out: list[list[int]] = [[] for _ in range(k)]
        for i, b in enumerate(bin_of.tolist()):
            out[b].append(i)
        best = [b for b in out if b]
    return best

