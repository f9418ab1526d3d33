"""Near-perfect packings for one bin shape: with k bins and a total slack S (k x capacity minus the item
volume, per dimension), every bin of a k-bin packing has slack <= S. When S is small those bins are few
enough to list; a k-bin packing is then an exact cover of the items by them whose slacks sum to <= S."""
from __future__ import annotations

import time

import numpy as np
from numba import njit

FEW = 1                  # columns with fewer rows than this that fit the slack left are covered first
MAX_CELLS = 4_000_000    # patterns x longest pattern listed at most (32 MB)
CHUNK_SECONDS = 0.02     # the search runs in kernel calls of about this long; the deadline is checked between


@njit(cache=True, nogil=True)
def window_setup(w, cap, max_patterns):
    """State for window_step: (out [P, L], suffix, smin, cur, nxt, load, st). L bounds the items of a bin
    (the smallest first-dimension sizes); P is capped so the list stays within MAX_CELLS."""
    n, D = w.shape
    L, acc = 0, 0
    for t in range(n - 1, -1, -1):
        if acc + w[t, 0] > cap[0]:
            break
        acc += w[t, 0]
        L += 1
    L = max(L, 1)
    max_patterns = max(min(max_patterns, MAX_CELLS // L), 1)
    out = np.full((max_patterns, L), -1, dtype=np.int64)
    suffix = np.zeros((n + 1, D), dtype=np.int64)       # total of items t.. per dimension
    smin = np.full((n + 1, D), 1 << 60, dtype=np.int64)  # smallest of items t.. per dimension
    for t in range(n - 1, -1, -1):
        for d in range(D):
            suffix[t, d] = suffix[t + 1, d] + w[t, d]
            smin[t, d] = min(smin[t + 1, d], w[t, d])
    cur = np.zeros(L + 1, dtype=np.int64)
    nxt = np.zeros(L + 1, dtype=np.int64)   # next candidate index to extend with, per depth
    load = np.zeros((L + 2, D), dtype=np.int64)
    st = np.array([0, 1, 0], dtype=np.int64)   # depth, stage (1: list the completions first), patterns
    return out, suffix, smin, cur, nxt, load, st


@njit(cache=True, nogil=True)
def window_step(w, cap, slack, out, suffix, smin, cur, nxt, load, st, steps):
    """Resumable listing of every subset of the items (w [n, D], sorted by w[:, 0] largest first) whose load
    lies within [cap - slack, cap] in every dimension, into `out` (rows padded with -1; st[2] of them).
    Depth-first over subsets in index order; a subset's last item is found by binary search (w[:, 0] is
    sorted), so only subsets with room for one more item are visited. Returns 1 when the list is complete,
    2 when `out` is full (the list is then partial), 0 when `steps` ran out (call again)."""
    n, D = w.shape
    max_patterns, L = out.shape
    depth, stage_new, P = st[0], st[1], st[2]
    nodes = 0
    status = 1
    while depth >= 0:
        if stage_new:
            nodes += 1
            if nodes > steps:
                status = 0
                break
            s = nxt[depth]
            # Completions j >= s: w[j, 0] in [lo, hi] (a contiguous run, w[:, 0] sorted descending).
            hi = cap[0] - load[depth, 0]
            lo = cap[0] - slack[0] - load[depth, 0]
            a, b = s, n
            while a < b:                  # first j with w[j, 0] <= hi
                m = (a + b) // 2
                if w[m, 0] > hi:
                    a = m + 1
                else:
                    b = m
            j = a
            while j < n and w[j, 0] >= lo:
                ok = True
                for d in range(1, D):
                    v = load[depth, d] + w[j, d]
                    if v > cap[d] or v < cap[d] - slack[d]:
                        ok = False
                        break
                if ok:
                    if P >= max_patterns:
                        status = 2
                        break
                    for t in range(depth):
                        out[P, t] = cur[t]
                    out[P, depth] = j
                    P += 1
                j += 1
            if status == 2:
                break
            stage_new = 0
        # Extend with the next index that leaves room for one more item and can still reach the window.
        advanced = False
        if depth + 1 < L:
            j = nxt[depth]
            while j < n - 1:
                ok = True
                for d in range(D):
                    v = load[depth, d] + w[j, d]
                    if v + smin[j + 1, d] > cap[d] or v + suffix[j + 1, d] < cap[d] - slack[d]:
                        ok = False
                        break
                if ok:
                    break
                j += 1
            if j < n - 1:
                nxt[depth] = j + 1
                cur[depth] = j
                for d in range(D):
                    load[depth + 1, d] = load[depth, d] + w[j, d]
                depth += 1
                nxt[depth] = j + 1
                stage_new = 1
                advanced = True
        if not advanced:
            depth -= 1
    st[0], st[1], st[2] = depth, stage_new, P
    return status


def window_patterns(w: np.ndarray, cap: np.ndarray, slack: np.ndarray, max_patterns: int,
                    max_nodes: int) -> tuple[np.ndarray, int, bool]:
    """window_step in one call: (the subsets [P, L] padded with -1, P, complete)."""
    out, suffix, smin, cur, nxt, load, st = window_setup(w, cap, max_patterns)
    status = window_step(w, cap, slack, out, suffix, smin, cur, nxt, load, st, max_nodes)
    return out[:st[2]], int(st[2]), status == 1


@njit(cache=True, nogil=True)
def dlx_build(n, items, lens):
    """Dancing-links arrays for exact cover of columns 0..n-1 by the rows `items` (padded with -1)."""
    P = items.shape[0]
    total = n + 1 + int(lens.sum())
    L = np.empty(total, dtype=np.int64)
    R = np.empty(total, dtype=np.int64)
    U = np.empty(total, dtype=np.int64)
    Dn = np.empty(total, dtype=np.int64)
    C = np.empty(total, dtype=np.int64)
    row = np.full(total, -1, dtype=np.int64)
    size = np.zeros(n + 1, dtype=np.int64)
    # Header n is the root; columns 0..n-1.
    for c in range(n + 1):
        L[c] = c - 1 if c > 0 else n
        R[c] = c + 1 if c < n else 0
        U[c] = c
        Dn[c] = c
        C[c] = c
    # Root links: root = n, columns in a ring after it.
    for c in range(n):
        L[c] = c - 1 if c > 0 else n
        R[c] = c + 1 if c < n - 1 else n
    L[n] = n - 1 if n > 0 else n
    R[n] = 0 if n > 0 else n
    k = n + 1
    for r in range(P):
        first = k
        for t in range(lens[r]):
            c = items[r, t]
            C[k] = c
            row[k] = r
            U[k] = U[c]
            Dn[k] = c
            Dn[U[c]] = k
            U[c] = k
            size[c] += 1
            if t == 0:
                L[k] = k
                R[k] = k
            else:
                L[k] = k - 1
                R[k] = first
                R[k - 1] = k
                L[first] = k
            k += 1
    return L, R, U, Dn, C, row, size


@njit(cache=True, nogil=True)
def _cover(c, L, R, U, Dn, C, size):
    L[R[c]] = L[c]
    R[L[c]] = R[c]
    i = Dn[c]
    while i != c:
        j = R[i]
        while j != i:
            U[Dn[j]] = U[j]
            Dn[U[j]] = Dn[j]
            size[C[j]] -= 1
            j = R[j]
        i = Dn[i]


@njit(cache=True, nogil=True)
def _uncover(c, L, R, U, Dn, C, size):
    i = U[c]
    while i != c:
        j = L[i]
        while j != i:
            size[C[j]] += 1
            U[Dn[j]] = j
            Dn[U[j]] = j
            j = L[j]
        i = U[i]
    L[R[c]] = c
    R[L[c]] = c


@njit(cache=True, nogil=True, inline="always")
def within_budget(used, slack, r, budget, D):
    """Does bin row r's slack fit in what is left of the slack budget, in every dimension?"""
    for d in range(D):
        if used[d] + slack[r, d] > budget[d]:
            return False
    return True


@njit(cache=True, nogil=True)
def dlx_run(n, L, R, U, Dn, C, row, size, slack, budget, used, col_at, node_at, st, steps, few):
    """Resumable Algorithm X with dancing links: exact cover of the n columns by rows whose slacks (slack
    [P, D]) sum to at most budget [D]. The column with the fewest rows is covered first. State between
    calls: used [D], col_at / node_at per level, st = [level, phase] (phase 0: choose a column at this
    level, 1: try the next row of the column). Returns 1 when a cover is found (rows: row[node_at[:level]]),
    2 when none exists, 0 when `steps` ran out (call again)."""
    root = n
    D = budget.shape[0]
    level, phase = st[0], st[1]
    for _ in range(steps):
        if phase == 0:
            if R[root] == root:
                st[0], st[1] = level, 0
                return 1
            # The column with the fewest rows that fit the budget left: a column with fewer than few such
            # rows (counted; rows come tight first, so the count stops early) by that count, else by its
            # row count. None fits: this level fails at once.
            best, c = 1 << 60, R[root]
            j = R[root]
            while j != root:
                if size[j] + few < best:
                    cnt = 0
                    r = Dn[j]
                    while r != j and cnt < few:
                        if within_budget(used, slack, row[r], budget, D):
                            cnt += 1
                        r = Dn[r]
                    key = cnt if r == j else few + size[j]
                    if key < best:
                        best, c = key, j
                        if best == 0:
                            break
                j = R[j]
            _cover(c, L, R, U, Dn, C, size)
            col_at[level] = c
            node_at[level] = Dn[c]
            phase = 1
        else:
            c = col_at[level]
            r = node_at[level]
            # Skip rows whose slack would exceed the budget.
            while r != c:
                if within_budget(used, slack, row[r], budget, D):
                    break
                r = Dn[r]
            if r == c:
                # Column exhausted: back up to the previous level and undo its row.
                _uncover(c, L, R, U, Dn, C, size)
                level -= 1
                if level < 0:
                    st[0], st[1] = 0, 0
                    return 2
                r = node_at[level]
                for d in range(D):
                    used[d] -= slack[row[r], d]
                j = L[r]
                while j != r:
                    _uncover(C[j], L, R, U, Dn, C, size)
                    j = L[j]
                node_at[level] = Dn[r]
                continue
            node_at[level] = r
            for d in range(D):
                used[d] += slack[row[r], d]
            j = R[r]
            while j != r:
                _cover(C[j], L, R, U, Dn, C, size)
                j = R[j]
            level += 1
            phase = 0
    st[0], st[1] = level, phase
    return 0


def next_steps(started: float, steps: int) -> int:
    """Steps for the next kernel call, so that it lasts about CHUNK_SECONDS (the deadline is kept). Steps
    differ in cost (deeper levels cost more), so the count grows at most fourfold per call."""
    per = (time.perf_counter() - started) / steps
    return int(min(max(CHUNK_SECONDS / max(per, 1e-8), 100), 4 * steps, 1_000_000))


class PerfectPacking:
    """A packing into exactly k bins when the total slack k x cap - sum(sizes) is small enough that every
    bin a k-bin packing can use is listed (at most max_patterns of them, by the deadline; not tried when the
    slack exceeds `near` bins in some dimension). `ready` is False when the list
    could not be completed (nothing to search). `run(deadline)` resumes the search: it returns the bins once
    found, else None; `proven` becomes True when the search is exhausted without one (then no k-bin packing
    exists and k + 1 bins is a valid lower bound)."""

    def __init__(self, sizes: np.ndarray, cap: np.ndarray, k: int, deadline: float,
                 max_patterns: int = 400_000, near: float = np.inf):
        sizes = np.ascontiguousarray(sizes, dtype=np.int64)
        cap = np.ascontiguousarray(cap, dtype=np.int64)
        n, D = sizes.shape
        self.n, self.k, self.sizes, self.cap = n, k, sizes, cap
        self.slack = k * cap - sizes.sum(axis=0)
        self.proven = bool(n and (self.slack < 0).any())     # the items do not even fit by volume
        self.ready = False
        self.bins: list[list[int]] | None = None
        if n == 0 or k <= 0 or self.proven or (self.slack > near * cap).any():
            return
        self.order = np.lexsort(tuple(-sizes[:, d] for d in range(D - 1, -1, -1)))   # dim 0, 1, .. desc
        w = np.ascontiguousarray(sizes[self.order])
        state = window_setup(w, cap, max_patterns)
        steps, status = 1000, 0
        while status == 0 and time.perf_counter() < deadline:
            t = time.perf_counter()
            status = window_step(w, cap, self.slack, *state, steps)
            steps = next_steps(t, steps)
        if status != 1:
            return
        P = int(state[-1][2])
        pats = state[0][:P]
        lens = (pats >= 0).sum(axis=1).astype(np.int64)
        pat_slack = np.empty((P, D), dtype=np.int64)
        for d in range(D):
            pat_slack[:, d] = cap[d] - np.where(pats >= 0, w[np.maximum(pats, 0), d], 0).sum(axis=1)
        # Tight bins first: rows are tried in this order within each column.
        rank = np.argsort((pat_slack / np.maximum(cap, 1)).sum(axis=1), kind="stable")
        self.pats, self.lens = pats[rank], lens[rank]
        self.pat_slack = np.ascontiguousarray(pat_slack[rank])
        self.links = dlx_build(n, self.pats, self.lens)
        self.used = np.zeros(D, dtype=np.int64)
        self.col_at = np.zeros(n + 1, dtype=np.int64)
        self.node_at = np.zeros(n + 1, dtype=np.int64)
        self.st = np.zeros(2, dtype=np.int64)
        self.steps = 1000
        self.few = FEW
        self.steps_done = 0
        self.ready = True

    def run(self, deadline: float) -> list[list[int]] | None:
        if not self.ready or self.proven or self.bins is not None:
            return self.bins
        L, R, U, Dn, C, row, size = self.links
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            res = dlx_run(self.n, L, R, U, Dn, C, row, size, self.pat_slack, self.slack, self.used,
                          self.col_at, self.node_at, self.st, self.steps, self.few)
            self.steps_done += self.steps
            self.steps = next_steps(t, self.steps)
            if res == 2:
                self.proven = True
                return None
            if res == 1:
                chosen = row[self.node_at[:self.st[0]]]
                self.bins = [sorted(int(self.order[t]) for t in self.pats[r, :self.lens[r]])
                             for r in chosen.tolist()]
                return self.bins
        return None


def perfect_packing(sizes: np.ndarray, cap: np.ndarray, k: int, deadline: float
                    ) -> tuple[list[list[int]] | None, bool]:
    """One call of PerfectPacking: (bins or None, proven that no k-bin packing exists)."""
    search = PerfectPacking(sizes, cap, k, deadline)
    bins = search.run(deadline)
    return bins, search.proven
