"""Capacity planning: the cheapest set of nodes of given shapes that fits a workload (`kpack.plan`)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Optional

import numpy as np
from ortools.sat.python import cp_model

from ..daemonset import daemonset_pods
from ..models import DaemonSet, Deployment, Node, Pod, ReplicaSet
from ..profile import Profile
from ..resources import COL_PODS
from ..scheduler import CompiledProfile, Scheduler
from ..state import Cluster
from .colgen import column_generation, dive, pattern_cover
from .exactcover import PerfectPacking
from .heuristics import Instance, Packing, best_heuristic, ffd, lower_bound, max_items_per_bin
from .localsearch import empty_bins
from .options import SolverError, check_time_limit, check_workers

COST_ANNOTATION = "kpack.io/cost"
CG_MIN_TIME = 1.0     # seconds: below this, plans skip column generation
LS_SHARE = 0.15       # of the time limit, at most, for the bin-emptying local search from the greedy packing
LIST_SHARE = 0.1      # of the time limit, at most, to list the bins the exact cover may use
NEAR_PERFECT = 0.5    # the exact cover runs when all bins at the bound together have at most this much slack
                      # (in bins, every dimension): there it has few bins to list
EXACT2_SHARE = 0.5    # of what is left after column generation, for the exact cover at the bound
CG_SHARE = 0.7        # of the time limit: the column generation bound ends by then
LS2_SHARE = 0.75      # of what is left after it, for more local search when the gap remains
DIVE_SHARE = 0.6      # of what is left after it, for the price-and-dive upper bound
COVER_SHARE = 0.5     # of what is left after it, for CP-SAT over the generated patterns


@dataclass
class Plan:
    """Nodes to buy: counts per shape, where every pod goes, and how good the answer is proven to be.
    `lower_bound` bounds the objective: the node count without costs, the total cost with costs."""
    node_count: int
    counts: dict[str, int]
    assignment: dict[str, tuple[str, int]]
    lower_bound: float
    optimal: bool
    seconds: float
    cost: float
    status: str = ""
    heuristic: str = ""                                   # the best greedy packing's name
    greedy_cost: float = 0.0                              # the best greedy packing's objective
    ffd_cost: float = 0.0                                 # plain first-fit decreasing
    daemon_pods: dict[str, list[str]] = field(default_factory=dict)   # shape -> daemon pods on each node
    notes: list[str] = field(default_factory=list)


@dataclass
class Solved:
    packing: Packing
    greedy: Packing
    ffd: Packing
    lower_bound: int
    optimal: bool
    status: str


def solve(inst: Instance, time_limit: float, workers: int = 2, seed: int = 0) -> Solved:
    """Heuristics and lower bounds; for one shape, column generation (Gilmore-Gomory bound) and CP-SAT over
    the generated patterns; then the CP-SAT assignment model from the best packing (hinted), all within
    time_limit."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    packings: list[Packing] = []
    start, _ = best_heuristic(inst, collect=packings)
    base = ffd(inst)
    lb, clique = lower_bound(inst)
    best, status = start, "heuristic"
    if best.cost(inst.costs) <= lb:
        return Solved(best, start, base, lb, True, "heuristic meets the lower bound")
    # One shape: the bin-emptying local search first (it reaches the simple bound on most instances where
    # it is the optimum), then column generation (its Gilmore-Gomory/Farley bound is far stronger than the
    # simple bounds and may prove the packing optimal), more local search, the price-and-dive, CP-SAT over
    # the generated patterns (price-and-branch), then the assignment model with what is left. Several
    # shapes: the assignment model.
    single = len(inst.caps) == 1 and inst.costs[0] > 0 and time_limit >= CG_MIN_TIME
    if single:
        unit = int(inst.costs[0])

        def search(until: float, best: Packing, status: str) -> tuple[Packing, str]:
            bins = empty_bins(inst.sizes, inst.caps[0], best.items, lb // unit, until, seed)
            if len(bins) < len(best.shape):
                best = Packing([0] * len(bins), bins, "local search")
                check_packing(inst, best)
                status = "local search"
            return best, status

        best, status = search(t0 + LS_SHARE * time_limit, best, status)
        if best.cost(inst.costs) <= lb:
            return Solved(best, start, base, lb, True, status)
        cols = [b for p in packings + [best] for b in p.items]
        cg_lb, pool = column_generation(inst.sizes, inst.caps[0], cols, t0 + CG_SHARE * time_limit,
                                        target=len(best.shape), workers=workers)
        if cg_lb * unit > lb:
            lb, status = cg_lb * unit, "column generation bound"
        # Near-perfect instances (little slack at the bound): an exact cover by the bins a packing at the
        # bound can use, which either finds one or proves that the bound is one bin short. After column
        # generation, which keeps all of its time.
        list_end = time.perf_counter() + LIST_SHARE * time_limit
        exact = PerfectPacking(inst.sizes, inst.caps[0], lb // unit, list_end, near=NEAR_PERFECT)

        def cover(until: float, best: Packing, lb: int, status: str) -> tuple[Packing, int, str]:
            if (best.cost(inst.costs) != lb + unit or not exact.ready or exact.k * unit != lb
                    or time.perf_counter() > deadline - 0.05):
                return best, lb, status
            bins = exact.run(until)
            if bins is not None and len(bins) < len(best.shape):
                best = Packing([0] * len(bins), bins, "exact cover at the bound")
                check_packing(inst, best)
                status = "exact cover"
            elif exact.proven:
                lb, status = lb + unit, "exact cover proves the bound one short"
            return best, lb, status

        # One bin above the bound, the exact cover decides it either way: it goes first. Further above, the
        # local search comes first and the exact cover gets what it leaves (if it is then one bin above).
        best, lb, status = cover(time.perf_counter() + EXACT2_SHARE * (deadline - time.perf_counter()),
                                 best, lb, status)
        if best.cost(inst.costs) > lb and time.perf_counter() < deadline - 0.05:
            best, status = search(time.perf_counter() + LS2_SHARE * (deadline - time.perf_counter()), best,
                                  status)
        best, lb, status = cover(time.perf_counter() + EXACT2_SHARE * (deadline - time.perf_counter()),
                                 best, lb, status)
        if best.cost(inst.costs) > lb and time.perf_counter() < deadline - 0.05:
            bins = dive(inst.sizes, inst.caps[0], pool, time.perf_counter() + DIVE_SHARE * (
                deadline - time.perf_counter()), workers)
            if bins is not None and len(bins) < len(best.shape):
                best = Packing([0] * len(bins), bins, "column generation dive")
                check_packing(inst, best)
                status = "dive"
        if best.cost(inst.costs) > lb and time.perf_counter() < deadline - 0.05:
            cover_end = time.perf_counter() + COVER_SHARE * (deadline - time.perf_counter())
            bins, _ = pattern_cover(inst.sizes, pool, best.items, lb // unit, cover_end - time.perf_counter(),
                                    workers)
            if bins is not None and len(bins) < len(best.shape):
                best = Packing([0] * len(bins), bins, "cp-sat over generated patterns")
                check_packing(inst, best)
                status = "patterns"
    if best.cost(inst.costs) > lb and time.perf_counter() < deadline - 0.05:
        best, bound, st = improve(inst, best, lb, clique, deadline - time.perf_counter(), workers, seed)
        if bound > lb:
            lb, status = bound, st
        elif best.name.startswith("cp-sat from"):
            status = st
    return Solved(best, start, base, lb, best.cost(inst.costs) <= lb, status)


def improve(inst: Instance, start: Packing, lb: int, clique: list[int], time_limit: float, workers: int,
            seed: int) -> tuple[Packing, int, str]:
    """CP-SAT over bins per shape (x[item, shape, bin] only for compatible pairs; bins of a shape open in
    order; an item may only use bins up to its rank among the shape's items, largest first, which with a
    single shape and the clique ranked first puts clique item r in bin r)."""
    end = time.perf_counter() + time_limit     # model building counts against the limit too
    costs = inst.costs
    S = len(inst.caps)
    H = start.cost(costs)
    key = inst.norm.max(axis=1) + 1e-6 * inst.norm.sum(axis=1)
    order = np.argsort(-key, kind="stable")
    if S == 1:
        order = np.array(clique + [i for i in order.tolist() if i not in set(clique)], dtype=np.int64)
    m = cp_model.CpModel()
    x: dict[tuple[int, int, int], cp_model.IntVar] = {}
    opened: dict[tuple[int, int], cp_model.IntVar] = {}
    rank = np.full((inst.n_items, S), -1, dtype=np.int64)
    for s in range(S):
        members = [i for i in order.tolist() if inst.compat[i, s]]
        n_bins = min(len(members), H // int(costs[s]) if costs[s] > 0 else len(members))
        for b in range(n_bins):
            opened[s, b] = m.NewBoolVar("")
            if b:
                m.Add(opened[s, b] <= opened[s, b - 1])
        for r, i in enumerate(members):
            rank[i, s] = r
            for b in range(min(r + 1, n_bins)):
                x[i, s, b] = m.NewBoolVar("")
    max_per_bin = [max_items_per_bin(inst.sizes[inst.compat[:, s]], inst.caps[s]) for s in range(S)]
    by_item: dict[int, list] = {i: [] for i in range(inst.n_items)}
    by_bin: dict[tuple[int, int], list[int]] = {k: [] for k in opened}
    for (i, s, b), v in x.items():
        by_item[i].append(v)
        by_bin[s, b].append(i)
    for i, vs in by_item.items():
        m.AddExactlyOne(vs)
    for (s, b), members in by_bin.items():
        o = opened[s, b]
        for d in range(inst.sizes.shape[1]):
            w = inst.sizes[members, d]
            if int(w.sum()) > int(inst.caps[s, d]):
                load = sum(int(q) * x[i, s, b] for i, q in zip(members, w.tolist()) if q)
                m.Add(load <= int(inst.caps[s, d]) * o)
        # Links every item to its bin's open flag (capacity rows are left out where they cannot bind) and
        # caps the item count per bin (not implied by the LP relaxation).
        m.Add(sum(x[i, s, b] for i in members) <= min(max_per_bin[s], len(members)) * o)
    if S == 1:
        for r, i in enumerate(clique):
            if (i, 0, r) in x:
                m.Add(x[i, 0, r] == 1)
    objective = sum(int(costs[s]) * o for (s, b), o in opened.items())
    m.Add(objective >= lb)
    m.Minimize(objective)
    # Hint: the heuristic packing, bins of each shape renumbered by their lowest item rank (so the hint
    # satisfies the ordering constraints).
    per_shape: dict[int, list[list[int]]] = {}
    for s, members in zip(start.shape, start.items):
        per_shape.setdefault(s, []).append(members)
    hint_bin: dict[int, tuple[int, int]] = {}
    for s, bins in per_shape.items():
        bins.sort(key=lambda ms: min(rank[i, s] for i in ms))
        for b, members in enumerate(bins):
            for i in members:
                hint_bin[i] = (s, b)
    for (i, s, b), v in x.items():
        m.AddHint(v, hint_bin.get(i) == (s, b))
    used = set(hint_bin.values())
    for k, o in opened.items():
        m.AddHint(o, k in used)
    left = end - time.perf_counter()
    if left < 0.05:
        return start, lb, "no time left for the assignment model"
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(left)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed) & 0x7FFFFFFF
    status = solver.Solve(m)
    name = solver.StatusName(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return start, lb, name
    bound = math.ceil(solver.BestObjectiveBound() - 1e-6)
    if status == cp_model.OPTIMAL:
        bound = int(round(solver.ObjectiveValue()))
    if solver.ObjectiveValue() >= H:
        return start, bound, name
    bins: dict[tuple[int, int], list[int]] = {}
    for (i, s, b), v in x.items():
        if solver.Value(v):
            bins.setdefault((s, b), []).append(i)
    keys = sorted(bins)
    packing = Packing([s for s, _ in keys], [bins[k] for k in keys], f"cp-sat from {start.name}")
    check_packing(inst, packing)
    return packing, bound, name


def check_packing(inst: Instance, p: Packing) -> None:
    """Independent check: every item exactly once, compatible with its bin's shape, capacities respected."""
    seen = np.zeros(inst.n_items, dtype=np.int64)
    for s, members in zip(p.shape, p.items):
        seen[members] += 1
        if not inst.compat[members, s].all() or (inst.sizes[members].sum(axis=0) > inst.caps[s]).any():
            raise AssertionError(f"packing {p.name}: bin of shape {s} is infeasible")
    if (seen != 1).any():
        raise AssertionError(f"packing {p.name}: items placed {sorted(set(seen.tolist()))} times")


# --- kpack objects -> instance ---------------------------------------------------------------------------
def _scaled_costs(shapes: list[Node], costs) -> tuple[np.ndarray, Fraction]:
    """Integer costs for CP-SAT and the unit to turn them back (exact for decimal costs)."""
    if costs is None:
        return np.ones(len(shapes), dtype=np.int64), Fraction(1)
    if not isinstance(costs, dict):
        raise SolverError(f"costs: expected a mapping of shape name to cost, got {type(costs).__name__}")
    names = {s.name for s in shapes}
    unknown = sorted(set(costs) - names)
    if unknown:
        raise SolverError(f"costs: {unknown[0]!r} is not a node shape (shapes: {', '.join(sorted(names))})")
    vals = []
    for s in shapes:
        if s.name not in costs:
            raise SolverError(f"costs: no cost for node shape {s.name!r}")
        c = costs[s.name]
        try:
            f = Fraction(str(c)) if not isinstance(c, bool) else None
        except (ValueError, ZeroDivisionError):
            f = None
        if f is None or f < 0:
            raise SolverError(f"costs[{s.name}]: must be a non-negative number, got {c!r}")
        vals.append(f.limit_denominator(10**6))
    unit = Fraction(1, math.lcm(*[v.denominator for v in vals]))
    ints = np.array([int(v / unit) for v in vals], dtype=np.int64)
    g = math.gcd(*ints.tolist()) or 1
    return ints // g, unit * g


def _expand(objs: Iterable) -> tuple[list[Pod], list[DaemonSet]]:
    pods, daemons = [], []
    for i, o in enumerate(objs):
        if isinstance(o, Pod):
            if o.node_name:
                raise SolverError(f"pods[{i}] {o.name!r}: spec.nodeName is set; a capacity plan places "
                                  "pods on new nodes")
            pods.append(o)
        elif isinstance(o, DaemonSet):
            daemons.append(o)
        elif isinstance(o, (Deployment, ReplicaSet)):
            kind = "deployment" if isinstance(o, Deployment) else "replicaset"
            pods += [o.template_pod(f"{o.name}-{r}").model_copy(update={"owner": f"{kind}/{o.name}"})
                     for r in range(o.replicas)]
        else:
            raise SolverError(f"pods[{i}]: expected kpack.Pod, Deployment, ReplicaSet or DaemonSet, "
                              f"got {type(o).__name__}")
    return pods, daemons


def plan(pods, node_shapes, time_limit: float = 10.0, costs: Optional[dict] = None, *, workers: int = 2,
         seed: int = 0, profile: Optional[Profile] = None) -> Plan:
    """Fewest (or cheapest, with `costs`: shape name -> cost per node) nodes of `node_shapes` that fit `pods`
    (Pods, Deployments, ReplicaSets; DaemonSets add one pod per node of every shape that should run them),
    honouring selectors, affinity, tolerations and the profile's resource checks."""
    t0 = time.perf_counter()
    check_time_limit("time_limit", time_limit)
    check_workers("workers", workers)
    shapes = list(node_shapes)
    if not shapes:
        raise SolverError("node_shapes: at least one node shape is required")
    for i, s in enumerate(shapes):
        if not isinstance(s, Node):
            raise SolverError(f"node_shapes[{i}]: expected kpack.Node, got {type(s).__name__}")
    names = [s.name for s in shapes]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SolverError(f"node_shapes: duplicate shape name {dup!r}")
    single = isinstance(pods, (Pod, DaemonSet, Deployment, ReplicaSet))
    work, daemons = _expand([pods] if single else pods)
    seen: set[str] = set()
    for p in work:
        if p.name in seen:
            raise SolverError(f"pods: duplicate pod name {p.name!r}")
        seen.add(p.name)
    int_costs, unit = _scaled_costs(shapes, costs)
    profile = profile or Profile.default()
    cluster = Cluster([s.model_copy(update={"unschedulable": s.unschedulable}) for s in shapes])
    cluster.ensure_resources(r for p in work for r in p.requests)
    for ds in daemons:
        cluster.ensure_resources(ds.template_pod(ds.name).requests)
    cp = CompiledProfile(profile, cluster)
    cols = [r for r in range(len(cluster.resource_names)) if r == COL_PODS or cp.check_col[r]] \
        if cp.fit_filter_on else [COL_PODS]
    caps = cluster.allocatable.copy()
    notes: list[str] = []
    daemon_names: dict[str, list[str]] = {n: [] for n in names}
    usable = np.ones(len(shapes), dtype=np.bool_)
    for ds in daemons:
        for node, dp in daemonset_pods(cluster, ds).items():
            s = cluster.node_index[node]
            q, _ = cluster.pod_vectors([dp])
            caps[s] -= q[0]
            daemon_names[node].append(dp.name)
    for s in range(len(shapes)):
        if (caps[s, cols] < 0).any():
            usable[s] = False
            notes.append(f"shape {names[s]}: its DaemonSet pods do not fit on it; not used")
    req, _ = cluster.pod_vectors(work)
    # The scheduler's own static classes (addedAffinity, registered static filters, pinned pods).
    compiled, pod_cls = Scheduler(profile).classes(cluster, work)
    ok_cls = np.zeros((len(compiled), len(shapes)), dtype=np.bool_)
    for c, sc in enumerate(compiled):
        ok = (sc.code == 0) & usable
        if sc.candidates is not None:
            ok &= np.isin(np.arange(len(shapes)), sc.candidates)
        if sc.conflict:
            ok[:] = False
        ok_cls[c] = ok
    compat = ok_cls[pod_cls] if len(work) else np.zeros((0, len(shapes)), dtype=np.bool_)
    inst = Instance(req[:, cols], np.maximum(caps[:, cols], 0), compat, int_costs)
    bad = np.flatnonzero(~inst.compat.any(axis=1))
    if len(bad):
        p = work[int(bad[0])]
        raise SolverError(f"pod {p.name!r} fits no node shape (static filters: "
                          f"{[names[s] for s in np.flatnonzero(compat[bad[0]])] or 'none pass'}; "
                          f"resources checked: {[cluster.resource_names[r] for r in cols]})")
    remaining = time_limit - (time.perf_counter() - t0)
    out = solve(inst, max(remaining, 0.05), workers, seed)
    per_shape: dict[int, int] = {}
    assignment: dict[str, tuple[str, int]] = {}
    for s, members in zip(out.packing.shape, out.packing.items):
        ordinal = per_shape.get(s, 0)
        per_shape[s] = ordinal + 1
        for i in members:
            assignment[work[i].name] = (names[s], ordinal)
    counts = {n: per_shape.get(s, 0) for s, n in enumerate(names)}

    def money(v: int) -> float:
        return float(v * unit)

    cost = out.packing.cost(inst.costs)
    lb = out.lower_bound
    return Plan(
        node_count=sum(counts.values()), counts=counts, assignment=assignment,
        lower_bound=int(lb) if costs is None else money(lb), optimal=out.optimal,
        seconds=time.perf_counter() - t0, cost=money(cost), status=out.status, heuristic=out.greedy.name,
        greedy_cost=money(out.greedy.cost(inst.costs)), ffd_cost=money(out.ffd.cost(inst.costs)),
        daemon_pods={n: v for n, v in daemon_names.items() if v and counts[n]}, notes=notes)
