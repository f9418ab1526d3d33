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


class Pricer:
    """Best pattern for duals: DP for two binding dimensions and small capacities, else CP-SAT."""

    def __init__(self, sizes: np.ndarray, cap: np.ndarray, workers: int):
        bind = [d for d in range(sizes.shape[1]) if sizes[:, d].sum() > cap[d]]
        self.sizes, self.cap, self.bind, self.workers = sizes, cap, bind, workers
        self.dp = len(bind) <= 2 and math.prod(int(cap[d]) + 1 for d in bind) <= DP_STATES

    def best(self, duals: np.ndarray, time_limit: float) -> tuple[float, float, list[int]]:
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
    while time.perf_counter() < deadline:
        if lp.Solve() != pywraplp.Solver.OPTIMAL:
            break
        duals = np.array([max(r.dual_value(), 0.0) for r in rows])
        z = obj.Value()
        val, ub, items = pricer.best(duals, min(deadline - time.perf_counter(), 0.3))
        if ub <= 1 + 1e-7:
            lb = max(lb, math.ceil(z - 1e-6))            # LP optimal: the Gilmore-Gomory bound
            break
        if math.isfinite(ub):
            lb = max(lb, math.ceil(duals.sum() / ub - 1e-6))   # Farley's bound, valid at every iteration
        if lb >= target or val <= 1 + 1e-9:
            break
        add(items)
        # A second column: the same duals with the first pattern's items excluded (cheap diversity).
        if pricer.dp and time.perf_counter() < deadline:
            d2 = duals.copy()
            d2[items] = 0.0
            v2, _, items2 = pricer.best(d2, deadline - time.perf_counter())
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
