"""Column generation for one bin shape: the Gilmore-Gomory LP bound (set-cover LP over packing patterns,
priced by a 2-D knapsack DP or CP-SAT), then CP-SAT over the generated patterns for an integer packing."""
from __future__ import annotations

import math
import time

import numpy as np
from numba import njit
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

DP_STATES = 250_000        # largest (C1 + 1) * (C2 + 1) priced by the DP; larger shapes use CP-SAT
EPS = 1e-9
TRACE = False
SMOOTH = 0.5              # Wentges smoothing weight of the best dual point
BB_NODES = 500_000         # branch-and-bound nodes per pricing before CP-SAT takes over
EXACT_EVERY = 2            # column generation rounds per exact pricing
HEUR_COLS = 5              # greedy columns added per round
DIVE_NODES = 50_000        # the dive's pricing is a heuristic: no proof needed


@njit(cache=True, nogil=True)
def knapsack_2d(w1, w2, val, c1, c2):
    """0-1 knapsack in two dimensions: the best value and its items (val <= 0 items are skipped)."""
    n = w1.shape[0]
    V = np.zeros((c1 + 1, c2 + 1))
    take = np.zeros((n, c1 + 1, c2 + 1), dtype=np.bool_)
    for i in range(n):
        if val[i] <= 0.0:
            continue
        for a in range(c1, w1[i] - 1, -1):
            for b in range(c2, w2[i] - 1, -1):
                v = V[a - w1[i], b - w2[i]] + val[i]
                if v > V[a, b] + 1e-12:
                    V[a, b] = v
                    take[i, a, b] = True
    items = []
    a, b = c1, c2
    for i in range(n - 1, -1, -1):
        if take[i, a, b]:
            items.append(i)
            a -= w1[i]
            b -= w2[i]
    return V[c1, c2], items


@njit(cache=True, nogil=True)
def knapsack_bb(w, val, cap, max_nodes):
    """0-1 knapsack in D dimensions by depth-first branch and bound. Items must come sorted by value per unit
    of normalised size (sum of w[d] / cap[d]), largest first, with val > 0. The bound at item i is the least
    of: residual normalised volume times item i's density (the largest left), and per dimension the residual
    capacity times the largest value per unit of that dimension among items i.. Returns (best value, its
    items, proven) where proven is False when max_nodes ran out (the value is then only feasible)."""
    n, D = w.shape
    sz = np.zeros(n)
    for i in range(n):
        for d in range(D):
            sz[i] += w[i, d] / cap[d]
    suff = np.zeros((n + 1, D))
    for i in range(n - 1, -1, -1):
        for d in range(D):
            r = val[i] / w[i, d] if w[i, d] > 0 else 1e300
            suff[i, d] = max(suff[i + 1, d], r)
    res = cap.copy()
    cur = np.empty(n, dtype=np.int64)
    best_set = np.empty(n, dtype=np.int64)
    best, val_now = 0.0, 0.0
    k, best_k, nodes, i = 0, 0, 0, 0
    proven = True
    while True:
        if i < n:
            nodes += 1
            if nodes > max_nodes:
                proven = False
                break
            # Dantzig bound on the surrogate (normalised sum) over the items left that fit alone.
            vol = 0.0
            bound = 1e300
            for d in range(D):
                vol += res[d] / cap[d]
                bound = min(bound, res[d] * suff[i, d])
            ub = 0.0
            room = vol
            for j in range(i, n):
                if room <= 0.0:
                    break
                ok = True
                for d in range(D):
                    if w[j, d] > res[d]:
                        ok = False
                        break
                if not ok:
                    continue
                if sz[j] <= room:
                    ub += val[j]
                    room -= sz[j]
                else:
                    ub += val[j] * room / sz[j]
                    room = 0.0
            bound = min(bound, ub)
            if val_now + bound <= best + 1e-9:
                i = n
                continue
            fits = True
            for d in range(D):
                if w[i, d] > res[d]:
                    fits = False
                    break
            if fits:
                cur[k] = i
                k += 1
                val_now += val[i]
                for d in range(D):
                    res[d] -= w[i, d]
                if val_now > best + 1e-12:
                    best = val_now
                    best_k = k
                    best_set[:k] = cur[:k]
            i += 1
        else:
            if k == 0:
                break
            k -= 1
            j = cur[k]
            val_now -= val[j]
            for d in range(D):
                res[d] += w[j, d]
            i = j + 1
    return best, best_set[:best_k].copy(), proven


@njit(cache=True, nogil=True)
def greedy_patterns(w, val, cap, n_starts):
    """Heuristic pricing: for each of the first n_starts items (callers sort by value density), a pattern
    that starts with it and adds the following items in order while they fit. Returns [n_starts, n] item
    lists padded with -1 and each pattern's value."""
    n, D = w.shape
    k = min(n_starts, n)
    out = np.full((k, n), -1, dtype=np.int64)
    value = np.zeros(k)
    res = np.empty(D)
    for s in range(k):
        for d in range(D):
            res[d] = cap[d] - w[s, d]
        out[s, 0] = s
        m = 1
        v = val[s]
        for j in range(n):
            if j == s:
                continue
            ok = True
            for d in range(D):
                if w[j, d] > res[d]:
                    ok = False
                    break
            if ok:
                for d in range(D):
                    res[d] -= w[j, d]
                out[s, m] = j
                m += 1
                v += val[j]
        value[s] = v
    return out, value


class Pricer:
    """Best pattern for duals: DP for two binding dimensions and small capacities, else CP-SAT."""

    def __init__(self, sizes: np.ndarray, cap: np.ndarray, workers: int):
        bind = [d for d in range(sizes.shape[1]) if sizes[:, d].sum() > cap[d]]
        self.sizes, self.cap, self.bind, self.workers = sizes, cap, bind, workers
        self.dp = len(bind) <= 2 and math.prod(int(cap[d]) + 1 for d in bind) <= DP_STATES

    def heuristic(self, duals: np.ndarray, n_starts: int = 40) -> list[list[int]]:
        """Improving patterns (value > 1) from greedy fills, best first; [] when none is found."""
        pos = np.flatnonzero(duals > EPS)
        if not len(pos) or not self.bind:
            return []
        w = self.sizes[pos][:, self.bind].astype(np.float64)
        c = self.cap[self.bind].astype(np.float64)
        order = np.argsort(-(duals[pos] / np.maximum((w / c).sum(axis=1), 1e-12)), kind="stable")
        pats, vals = greedy_patterns(w[order], duals[pos][order].astype(np.float64), c, n_starts)
        out = []
        for r in np.argsort(-vals).tolist():
            if vals[r] <= 1 + 1e-9:
                break
            row = pats[r]
            out.append(pos[order[row[row >= 0]]].tolist())
        return out

    def best(self, duals: np.ndarray, time_limit: float,
             max_nodes: int = 0) -> tuple[float, float, list[int]]:
        """(value of the pattern found, an upper bound on the best value, the pattern's items)."""
        if self.dp:
            dims = self.bind + [self.bind[0]] * (2 - len(self.bind)) if self.bind else None
            if dims is None:
                items = [i for i in range(len(duals)) if duals[i] > 0]
                v = float(duals[items].sum())
                return v, v, items
            d1, d2 = dims
            c2 = int(self.cap[d2]) if d2 != d1 else 0
            w2 = self.sizes[:, d2] if d2 != d1 else np.zeros(len(duals), np.int64)
            v, items = knapsack_2d(self.sizes[:, d1].astype(np.int64), w2.astype(np.int64),
                                   duals.astype(np.float64), int(self.cap[d1]), c2)
            items = list(items)
            return float(duals[items].sum()), float(v) + 1e-9, items
        pos = np.flatnonzero(duals > EPS)
        if len(pos):
            w = self.sizes[pos][:, self.bind].astype(np.float64) if self.bind else np.zeros((len(pos), 1))
            c = self.cap[self.bind].astype(np.float64) if self.bind else np.ones(1)
            if not self.bind:
                v = float(duals[pos].sum())
                return v, v, pos.tolist()
            vol = (w / c).sum(axis=1)
            order = np.argsort(-(duals[pos] / np.maximum(vol, 1e-12)), kind="stable")
            v, sel, proven = knapsack_bb(w[order], duals[pos][order].astype(np.float64), c,
                                         max_nodes or BB_NODES)
            items = pos[order][sel].tolist()
            if proven:
                return float(duals[items].sum()), float(v) + 1e-9, items
            if v > 1 + 1e-9 or max_nodes:   # a column without a proof of the best value
                return float(duals[items].sum()), math.inf, items
        scale = 1e6
        m = cp_model.CpModel()
        pos = [i for i in range(len(duals)) if duals[i] > EPS]
        x = {i: m.NewBoolVar("") for i in pos}
        for d in self.bind:
            m.Add(sum(int(self.sizes[i, d]) * x[i] for i in pos) <= int(self.cap[d]))
        m.Maximize(sum(int(round(duals[i] * scale)) * x[i] for i in pos))
        s = cp_model.CpSolver()
        s.parameters.max_time_in_seconds = max(time_limit, 0.01)
        s.parameters.num_workers = self.workers
        st = s.Solve(m)
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return 0.0, math.inf, []
        items = [i for i in pos if s.Value(x[i])]
        ub = s.BestObjectiveBound() / scale + len(pos) * 0.5 / scale
        return float(duals[items].sum()), ub, items


def column_generation(sizes: np.ndarray, cap: np.ndarray, columns: list[list[int]], deadline: float,
                      target: int, workers: int = 2) -> tuple[int, list[list[int]]]:
    """Gilmore-Gomory bound by column generation from `columns` (feasible patterns). Stops at the deadline,
    at LP optimality, or once the bound reaches `target`. Returns (proven lower bound, all patterns)."""
    n = len(sizes)
    lp = pywraplp.Solver.CreateSolver("GLOP")
    rows = [lp.Constraint(1, lp.infinity()) for _ in range(n)]
    obj = lp.Objective()
    obj.SetMinimization()
    seen: set[tuple[int, ...]] = set()
    pool: list[list[int]] = []

    def add(pattern: list[int]) -> None:
        key = tuple(sorted(pattern))
        if not key or key in seen:
            return
        seen.add(key)
        pool.append(list(key))
        v = lp.NumVar(0, lp.infinity(), "")
        obj.SetCoefficient(v, 1)
        for i in key:
            rows[i].SetCoefficient(v, 1)

    for p in columns:
        add(p)
    for i in range(n):          # singletons keep the LP feasible
        add([i])
    pricer = Pricer(sizes, cap, workers)
    lb = 0
    center: np.ndarray | None = None     # the duals with the best Farley bound so far (stabilisation)
    best_farley = 0.0
    it = 0
    while time.perf_counter() < deadline:
        if lp.Solve() != pywraplp.Solver.OPTIMAL:
            break
        duals = np.array([max(r.dual_value(), 0.0) for r in rows])
        z = obj.Value()
        it += 1
        # Cheap greedy pricing most rounds (several columns at once); the exact pricer every EXACT_EVERY
        # rounds (for Farley's bound) and whenever the greedy one finds nothing.
        if it % EXACT_EVERY:
            found = pricer.heuristic(duals)
            if found:
                for p in found[:HEUR_COLS]:
                    add(p)
                continue
        # Wentges smoothing: price at a point between the best dual point so far and the LP's duals, which
        # cuts the tailing-off of plain column generation. Any non-negative duals give a Farley bound.
        for point in ("smoothed", "plain"):
            if point == "smoothed":
                if center is None:
                    continue
                pi = SMOOTH * center + (1.0 - SMOOTH) * duals
            else:
                pi = duals
            val, ub, items = pricer.best(pi, min(deadline - time.perf_counter(), 0.3))
            if math.isfinite(ub) and ub > 0:
                f = float(pi.sum()) / max(ub, 1.0)
                lb = max(lb, math.ceil(f - 1e-6))       # Farley's bound, valid for any duals >= 0
                if f > best_farley:
                    best_farley, center = f, pi.copy()
            if float(duals[items].sum()) > 1 + 1e-9:  # improving for the LP: stop pricing this round
                break
            if point == "plain" and ub <= 1 + 1e-7:
                lb = max(lb, math.ceil(z - 1e-6))        # LP optimal: the Gilmore-Gomory bound
        else:
            break
        if TRACE:
            print(f"cg it z={z:.3f} farley={best_farley:.3f} val={val:.3f} lb={lb} cols={len(pool)}")
        # The restricted LP value z bounds the LP optimum from above: once lb = ceil(z) no bound can rise.
        if lb >= target or lb >= math.ceil(z - 1e-6):
            break
        add(items)
        # A second column: the same duals with the first pattern's items excluded (cheap diversity).
        if time.perf_counter() < deadline:
            d2 = duals.copy()
            d2[items] = 0.0
            v2, _, items2 = pricer.best(d2, min(deadline - time.perf_counter(), 0.3))
            if v2 > 1 + 1e-9:
                add(items2)
    return lb, pool


def pattern_cover(sizes: np.ndarray, pool: list[list[int]], hint: list[list[int]], lb: int,
                  time_limit: float, workers: int = 2) -> tuple[list[list[int]] | None, bool]:
    """CP-SAT: fewest patterns of `pool` covering every item (then each item kept in one of its patterns).
    Returns (bins or None, proven optimal over the pool)."""
    n = len(sizes)
    m = cp_model.CpModel()
    x = [m.NewBoolVar("") for _ in pool]
    cover: list[list] = [[] for _ in range(n)]
    for v, p in zip(x, pool):
        for i in p:
            cover[i].append(v)
    for i in range(n):
        m.AddBoolOr(cover[i])
    m.Add(sum(x) >= lb)
    m.Minimize(sum(x))
    hint_keys = {tuple(sorted(b)) for b in hint}
    for v, p in zip(x, pool):
        m.AddHint(v, tuple(p) in hint_keys)
    s = cp_model.CpSolver()
    s.parameters.max_time_in_seconds = max(time_limit, 0.01)
    s.parameters.num_workers = workers
    st = s.Solve(m)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    owner = [-1] * n
    bins: list[list[int]] = []
    for v, p in zip(x, pool):
        if s.Value(v):
            members = [i for i in p if owner[i] < 0]
            for i in members:
                owner[i] = len(bins)
            if members:
                bins.append(members)
    return bins, st == cp_model.OPTIMAL


def dive(sizes: np.ndarray, cap: np.ndarray, pool: list[list[int]], deadline: float, workers: int = 2,
         rounds: int = 5) -> list[list[int]] | None:
    """Price-and-dive upper bound: solve the set-cover LP over the items left (pool patterns cut down to
    them, plus a few pricing rounds), fix every column at 1 (or the largest one), repeat on what is left;
    at the deadline the items left go first-fit decreasing. Returns the bins (None if no LP solves)."""
    pricer = Pricer(sizes, cap, workers)
    left = np.ones(len(sizes), dtype=np.bool_)
    bins: list[list[int]] = []
    patterns = [list(p) for p in pool]
    while left.any():
        if time.perf_counter() >= deadline:
            # Out of time: the items left go first-fit decreasing into new bins (still a packing).
            rest = np.flatnonzero(left)
            rest = rest[np.argsort(-(sizes[rest] / np.maximum(cap, 1)).max(axis=1), kind="stable")]
            opened: list[list[int]] = []
            loads: list[np.ndarray] = []
            for i in rest.tolist():
                for b, load in enumerate(loads):
                    if (load + sizes[i] <= cap).all():
                        opened[b].append(i)
                        loads[b] = load + sizes[i]
                        break
                else:
                    opened.append([i])
                    loads.append(sizes[i].copy())
            return bins + opened
        items = np.flatnonzero(left)
        pos = {int(i): k for k, i in enumerate(items)}
        lp = pywraplp.Solver.CreateSolver("GLOP")
        rows = [lp.Constraint(1, lp.infinity()) for _ in items]
        obj = lp.Objective()
        obj.SetMinimization()
        cols: list[tuple[list[int], object]] = []
        seen: set[tuple[int, ...]] = set()

        def add(pattern) -> None:
            key = tuple(sorted(int(i) for i in pattern if left[i]))
            if not key or key in seen:
                return
            seen.add(key)
            v = lp.NumVar(0, lp.infinity(), "")
            obj.SetCoefficient(v, 1)
            for i in key:
                rows[pos[i]].SetCoefficient(v, 1)
            cols.append((list(key), v))

        for p in patterns:
            add(p)
        for i in items:
            add([int(i)])
        for _ in range(rounds):
            if lp.Solve() != pywraplp.Solver.OPTIMAL or time.perf_counter() >= deadline:
                break
            duals = np.zeros(len(sizes))
            duals[items] = [max(r.dual_value(), 0.0) for r in rows]
            val, _, new = pricer.best(duals, min(deadline - time.perf_counter(), 0.1), DIVE_NODES)
            if val <= 1 + 1e-9:
                break
            patterns.append(new)
            add(new)
        if lp.Solve() != pywraplp.Solver.OPTIMAL:
            return None
        vals = [(v.solution_value(), p) for p, v in cols]
        vals.sort(key=lambda t: -t[0])
        fixed = [p for x, p in vals if x >= 1 - 1e-6] or [vals[0][1]]
        for p in fixed:
            p = [i for i in p if left[i]]
            if p:
                bins.append(p)
                left[p] = False
    return bins
