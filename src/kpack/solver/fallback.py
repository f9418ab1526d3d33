"""CP-SAT fallback after the greedy pass: re-place the batch (and, with max_moves, running pods) so that
more of the pods greedy left pending fit; every answer is re-checked before the cluster changes."""
from __future__ import annotations

import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from ortools.sat.python import cp_model

from ..gpu.plugins import needs_devices
from ..models import GPU_RESOURCE, Pod
from ..predicates import NodeLabels, StaticClass
from ..resources import COL_PODS
from ..scheduler import CompiledCache, CompiledProfile
from ..state import Cluster, assign_devices
from .cluster_ops import bound_pairs, commit_changes
from .repair import Repair

FULL = 1000                      # milli-GPU of one device
MAX_BOUND_WEIGHT = 2 ** 40       # priority tiers above this fall back to weight 1 per pod


@dataclass
class PodGroup:
    """Interchangeable pods: same static class, requests, GPU shape, priority and pool (batch or running)."""
    cls: int
    q: np.ndarray                 # int64 [R] requests (pods column = 1)
    k: int                        # GPU devices
    g: int                        # milli-GPU per device
    priority: int
    running: bool
    members: list[int] = field(default_factory=list)   # batch pod index or bound-pod index, in queue order
    origin: Counter = field(default_factory=Counter)    # node -> members there before the solver
    where: list[int] = field(default_factory=list)      # running: each member's node
    y: dict = field(default_factory=dict)               # node -> CP-SAT count variable
    ub: dict = field(default_factory=dict)              # node -> its upper bound
    stay: dict = field(default_factory=dict)            # running: node -> members that stay
    z: dict = field(default_factory=dict)               # (node, device) -> shared-GPU count variable


class ClassTable:
    """The scheduler's own static classes (`Scheduler.classes`: NodeAffinityArgs.addedAffinity, registered
    static filters, pinned DaemonSet pods sharing one compiled base), compiled once per class key on the
    pre-batch cluster in row order, with each class's statically feasible nodes."""

    def __init__(self, sched, cluster: Cluster, cp: CompiledProfile):
        self.sched, self.cluster = sched, cluster
        self.cache = CompiledCache(("solver",), cp, NodeLabels(cluster))
        self.classes: list[StaticClass] = []
        self.ids: dict[int, int] = {}    # id(StaticClass) -> index (the cache keeps every object alive)
        self.feasible: list[np.ndarray] = []

    def index(self, pod: Pod) -> int:
        return int(self.index_all([pod])[0])

    def index_all(self, pods: Sequence[Pod]) -> np.ndarray:
        compiled, pod_cls = self.sched.classes(self.cluster, pods, self.cache)
        out = np.empty(len(pods), dtype=np.int64)
        local = []
        for cls in compiled:
            c = self.ids.get(id(cls))
            if c is None:
                c = self.ids[id(cls)] = len(self.classes)
                self.classes.append(cls)
                n = len(self.cluster.node_names)
                nodes = (np.arange(n, dtype=np.int64) if cls.candidates is None
                         else np.sort(cls.candidates.astype(np.int64)))
                if cls.conflict:
                    nodes = nodes[:0]
                self.feasible.append(nodes[cls.code[nodes] == 0])
            local.append(c)
        if len(pods):
            out[:] = np.asarray(local, dtype=np.int64)[pod_cls]
        return out

    def ok(self, c: int, node: int) -> bool:
        f = self.feasible[c]
        i = np.searchsorted(f, node)
        return bool(i < len(f) and f[i] == node)


def _tier_weights(priorities: Sequence[int], counts: Sequence[int]) -> dict[int, int]:
    """Weights per priority so that one pod of a higher priority outweighs all pods of lower ones
    (lexicographic by priority); plain counting when that would overflow."""
    total: Counter = Counter()
    for p, c in zip(priorities, counts):
        total[p] += c
    w, acc = {}, 0
    for p in sorted(total):
        w[p] = acc + 1
        acc += total[p] * w[p]
        if acc > MAX_BOUND_WEIGHT:
            return {p: 1 for p in total}
    return w


def run_fallback(sched, before: Cluster, cluster: Cluster, res) -> None:
    """After `sched`'s greedy pass bound `res.pods` into `cluster` (`before` = the state before the batch):
    try to place more of the pending pods with CP-SAT; on success commit and update `res` in place."""
    pods = res.pods
    greedy = np.asarray(res.node_index, dtype=np.int64)
    res.solver_placed = np.zeros(len(pods), dtype=np.bool_)
    res.moves = []
    sched.last_fallback_stats = {}
    if not len(pods) or (greedy >= 0).all():
        res.solver_optimal = None      # nothing pending: the solver has nothing to do
        return
    t0 = time.perf_counter()
    out = solve_batch(sched, before, pods, greedy, cluster.gpu_free.copy())
    sched.last_fallback_stats = out.stats
    out.stats["seconds"] = time.perf_counter() - t0
    res.solver_optimal = out.optimal
    if out.final is None:
        return
    bound = bound_pairs(before)
    names = cluster.node_names
    problem = commit_changes(cluster, pods, greedy, out.final, out.moves, bound, out.devices)
    if problem:
        warnings.warn(f"kpack solver: the Cluster refused the solver's placement ({problem}); the greedy "
                      "placement stands", RuntimeWarning, stacklevel=3)
        out.stats["rejected"] = problem
        res.solver_optimal = None
        return
    res.node_index = out.final.astype(np.int32)
    res.node_names = [names[i] if i >= 0 else None for i in out.final]
    res.reasons = [None if out.final[i] >= 0 else r for i, r in enumerate(res.reasons)]
    res.solver_placed = (greedy < 0) & (out.final >= 0)
    res.moves = [(bound[b][0], names[bound[b][1]], names[d]) for b, d in out.moves]


@dataclass
class BatchOutcome:
    final: Optional[np.ndarray]         # None: greedy stands
    gpu_free: Optional[np.ndarray]
    moves: list
    optimal: Optional[bool]
    stats: dict
    devices: Optional[dict] = None      # batch pod index -> its GPU devices (the solver's, re-checked)


def solve_batch(sched, before: Cluster, pods: Sequence[Pod], greedy: np.ndarray,
                after_free: np.ndarray) -> BatchOutcome:
    """Build and solve the model; return the verified new placement or None (greedy stands)."""
    t_start = time.perf_counter()
    profile = sched.profile
    cp = CompiledProfile(profile, before)
    dev_mode = needs_devices(profile, before, pods)
    check_col = cp.check_col.copy()
    gpu_col = before.resource_index.get(GPU_RESOURCE)
    if dev_mode and gpu_col is not None:
        check_col[gpu_col] = False
    N, R = before.allocatable.shape
    cols = [r for r in range(R) if r == COL_PODS or check_col[r]] if cp.fit_filter_on else []
    table = ClassTable(sched, before, cp)
    req, _ = before.pod_vectors(pods)

    # Pools of interchangeable pods: the batch (free to re-place, greedy-placed ones stay placed) ...
    groups: list[PodGroup] = []
    gkey: dict[tuple, int] = {}
    pod_cls = table.index_all(pods)
    for i, p in enumerate(pods):
        c = int(pod_cls[i])
        key = ("batch", c, req[i].tobytes(), p.gpu_count, p.gpu_per_device, p.priority)
        j = gkey.get(key)
        if j is None:
            j = gkey[key] = len(groups)
            groups.append(PodGroup(c, req[i], p.gpu_count, p.gpu_per_device, p.priority, False))
        groups[j].members.append(i)
        if greedy[i] >= 0:
            groups[j].origin[int(greedy[i])] += 1
    # ... and, for defragmentation, running pods (moves are counted against max_moves).
    fixed = before.requested.copy()
    bound = bound_pairs(before)
    bound_req = np.zeros((0, R), dtype=np.int64)
    if sched.max_moves > 0 and bound:
        bound_req, _ = before.pod_vectors([p for p, _ in bound])
        over = np.zeros(N, dtype=np.bool_)
        if cols:
            over = (before.requested[:, cols] > before.allocatable[:, cols]).any(axis=1)
        for b, (p, n) in enumerate(bound):
            # Not movable: GPU pods (the table does not record which devices they hold) and pods on an
            # over-committed node (the model's capacity rows would start infeasible there).
            if p.gpu_count or over[n]:
                continue
            c = table.index(p.model_copy(update={"node_name": None}))
            key = ("run", c, bound_req[b].tobytes(), p.priority)
            j = gkey.get(key)
            if j is None:
                j = gkey[key] = len(groups)
                groups.append(PodGroup(c, bound_req[b], 0, FULL, p.priority, True))
            groups[j].members.append(b)
            groups[j].where.append(n)
            groups[j].origin[n] += 1
            fixed[n] -= bound_req[b]
    cap = np.maximum(before.allocatable - fixed, 0)
    free = before.gpu_free

    m = cp_model.CpModel()
    # Variables only on statically feasible nodes where at least one pod of the group fits.
    for t in groups:
        nodes = table.feasible[t.cls]
        ub = np.full(len(nodes), len(t.members), dtype=np.int64)
        for r in cols:
            if t.q[r] > 0:
                ub = np.minimum(ub, cap[nodes, r] // t.q[r])
        if dev_mode and t.k and free.shape[1]:
            fr = free[nodes]
            if t.g < FULL:
                ub = np.minimum(ub, (fr // t.g).sum(axis=1))
            else:
                ub = np.minimum(ub, (fr == FULL).sum(axis=1) // t.k)
        for n, u in zip(nodes.tolist(), ub.tolist()):
            if t.running and n in t.origin:
                u = max(u, t.origin[n])
            if u > 0:
                t.y[n] = m.NewIntVar(0, int(u), "")
                t.ub[n] = int(u)
        if t.running:
            for n, c in t.origin.items():
                if n not in t.y:        # its node no longer passes the static filters: it may only stay
                    t.y[n] = m.NewIntVar(0, c, "")
                    t.ub[n] = c
    batch = [t for t in groups if not t.running]
    if not any(t.y and len(t.members) > sum(t.origin.values()) for t in batch):
        # No pending pod has a node it could use even on its own: nothing can improve (proven).
        return BatchOutcome(None, None, [], True, {"status": "no candidate nodes", "groups": len(groups)})
    # Pool sizes.
    running = [t for t in groups if t.running]
    for t in batch:
        placed_before = sum(t.origin.values())
        m.Add(sum(t.y.values()) >= placed_before)
        m.Add(sum(t.y.values()) <= len(t.members))
    moves_terms = []
    for t in running:
        m.Add(sum(t.y.values()) == len(t.members))
        for n, c in t.origin.items():
            s = t.stay[n] = m.NewIntVar(0, c, "")
            m.Add(s <= t.y[n])
            moves_terms.append(c - s)
    if running:
        m.Add(sum(moves_terms) <= sched.max_moves)
    # Capacity per node and resource column (only where the variables' bounds could exceed it).
    on_node: dict[int, list[PodGroup]] = defaultdict(list)
    for t in groups:
        for n in t.y:
            on_node[n].append(t)
    for n, ts in on_node.items():
        for r in cols:
            terms = [(int(t.q[r]), t.y[n], t.ub[n]) for t in ts if t.q[r] > 0]
            if terms and sum(q * u for q, _, u in terms) > cap[n, r]:
                m.Add(sum(q * v for q, v, _ in terms) <= int(cap[n, r]))
        if dev_mode:
            _device_rows(m, n, [t for t in ts if t.k], free[n] if free.shape[1] else np.zeros(0, np.int32))
    # Objective: priority-weighted pods placed >> fewer moves >> agreement with greedy.
    w = _tier_weights([t.priority for t in batch], [len(t.members) for t in batch])
    placed = sum(w[t.priority] * sum(t.y.values()) for t in batch)
    agree, agree_at = [], []
    for j, t in enumerate(groups):
        if t.running:
            continue
        for n, c in t.origin.items():
            if n in t.y:
                a = m.NewIntVar(0, c, "")
                m.Add(a <= t.y[n])
                agree.append(a)
                agree_at.append((j, n))
    m2 = sum(len(t.members) for t in batch) + 1
    m1 = (sched.max_moves + 1) * m2
    m.Maximize(m1 * placed - m2 * sum(moves_terms) + sum(agree))
    greedy_score = sum(w[t.priority] * sum(t.origin.values()) for t in batch)
    # Repair heuristic (best-fit re-pack, then a few moves): the hint, and the answer if CP-SAT finds
    # nothing better in time. It leaves GPU groups where greedy put them when devices are tracked.
    t_rep = time.perf_counter()
    rep = Repair(groups, cap, cols, w, skip_gpu=dev_mode)
    rep.repack()
    rep.defrag(sched.max_moves)
    hy, hs = rep.values()
    h_agree = sum(min(c, hy[j].get(n, 0)) for j, t in enumerate(groups) if not t.running
                  for n, c in t.origin.items() if n in t.y)
    h_obj = m1 * rep.score() - m2 * rep.moves() + h_agree
    repair_s = time.perf_counter() - t_rep
    for j, t in enumerate(groups):
        for n, v in t.y.items():
            m.AddHint(v, hy[j].get(n, 0))
        for n, s in t.stay.items():
            m.AddHint(s, hs[j][n])
    for a, (j, n) in zip(agree, agree_at):
        m.AddHint(a, min(groups[j].origin[n], hy[j].get(n, 0)))
    solver = cp_model.CpSolver()
    # The time limit covers the whole fallback (model building and the heuristic included).
    left = float(sched.fallback_time_limit) - (time.perf_counter() - t_start)
    solver.parameters.max_time_in_seconds = max(left - 0.05, 0.02)   # leave room to re-check and commit
    solver.parameters.num_workers = int(sched.fallback_workers)
    solver.parameters.random_seed = int(sched.seed) & 0x7FFFFFFF
    status = solver.Solve(m)
    stats = {"status": solver.StatusName(status), "groups": len(groups),
             "variables": len(m.Proto().variables), "constraints": len(m.Proto().constraints),
             "movable_pods": sum(len(t.members) for t in running), "wall": solver.WallTime(),
             "repair_seconds": repair_s, "repair_gain": rep.score() - greedy_score,
             "repair_moves": rep.moves()}
    optimal = status == cp_model.OPTIMAL
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    if found and solver.ObjectiveValue() >= h_obj:
        yv = [{n: solver.Value(v) for n, v in t.y.items()} for t in groups]
        sv = [{n: solver.Value(s) for n, s in t.stay.items()} for t in groups]
        value, score = solver.Value, sum(w[t.priority] * sum(yv[j].values()) for j, t in enumerate(groups)
                                         if not t.running)
        stats["answer"] = "cp-sat"
    else:
        yv, sv, value, score = hy, hs, None, rep.score()
        stats["answer"] = "repair heuristic"
        optimal = optimal and solver.ObjectiveValue() <= h_obj
    if score <= greedy_score:
        return BatchOutcome(None, None, [], optimal, stats)     # nothing better: greedy stands
    final, moves, devices = _concretize(groups, greedy, dev_mode, yv, sv, value)
    gpu_free, problem = verify(before, table, pods, pod_cls, req, final, bound, bound_req, moves, devices,
                               cols, dev_mode, sched.max_moves, greedy, after_free)
    if problem:
        warnings.warn(f"kpack solver: discarded a CP-SAT answer that failed re-checking ({problem}); "
                      "the greedy placement stands", RuntimeWarning, stacklevel=3)
        stats["rejected"] = problem
        return BatchOutcome(None, None, [], None, stats)
    return BatchOutcome(final, gpu_free, moves, optimal, stats, devices)


def _device_rows(m: cp_model.CpModel, n: int, ts: list[PodGroup], free_row: np.ndarray) -> None:
    """GPU devices on node n: whole-device pods take fully free devices (w), shares split the rest (z)."""
    whole = [t for t in ts if t.g >= FULL]
    share = [t for t in ts if t.g < FULL]
    w = {}
    if whole:
        for d in np.flatnonzero(free_row == FULL).tolist():
            w[d] = m.NewBoolVar("")
        m.Add(sum(w.values()) == sum(t.k * t.y[n] for t in whole))
        for t in whole:
            t.z[(n, "whole")] = w
    for t in share:
        for d in np.flatnonzero(free_row >= t.g).tolist():
            t.z[(n, d)] = m.NewIntVar(0, int(free_row[d] // t.g), "")
        m.Add(sum(v for (nn, d), v in t.z.items() if nn == n and d != "whole") == t.y[n])
    for d in range(len(free_row)):
        terms = [t.g * t.z[(n, d)] for t in share if (n, d) in t.z]
        if d in w:
            terms.append(FULL * w[d])
        if terms:
            m.Add(sum(terms) <= int(free_row[d]))


def _concretize(groups, greedy, dev_mode, yv, sv, value=None):
    """Counts (yv/sv: per group, node -> count / staying count) back to pods: greedy-placed pods keep their
    node when a slot is left there; displaced ones first, then pending ones in queue order, take the
    remaining slots. Running pods beyond the staying count move to nodes with spare slots. With `value`
    (CP-SAT's), shared-GPU pods get devices from the z counts, whole-GPU pods the devices marked taken;
    without it, devices is None (GPU pods must then be where greedy put them)."""
    final = greedy.copy()
    moves: list[tuple[int, int]] = []
    devices: dict[int, list[int]] = {} if value is not None else None
    whole_taken: dict[int, list[int]] = {}
    for j, t in enumerate(groups):
        slots = {n: c for n, c in yv[j].items() if c}
        if not t.running:
            displaced, pending = [], []
            for i in t.members:
                g = int(greedy[i])
                if g >= 0 and slots.get(g, 0) > 0:
                    slots[g] -= 1
                    final[i] = g
                elif g >= 0:
                    displaced.append(i)
                else:
                    pending.append(i)
            open_slots = [n for n in sorted(slots) for _ in range(slots[n])]
            for i in displaced + pending:
                final[i] = open_slots.pop(0) if open_slots else -1
            if dev_mode and t.k and value is not None:
                by_node: dict[int, list[int]] = defaultdict(list)
                for i in t.members:
                    if final[i] >= 0:
                        by_node[int(final[i])].append(i)
                for n, members in by_node.items():
                    if t.g < FULL:
                        devs = [d for (nn, d), v in t.z.items() if nn == n
                                for _ in range(value(v))]
                        for i, d in zip(members, devs):
                            devices[i] = [d]
                    else:
                        if n not in whole_taken:
                            w = t.z[(n, "whole")]
                            whole_taken[n] = [d for d, v in sorted(w.items()) if value(v)]
                        for i in members:
                            devices[i] = [whole_taken[n].pop(0) for _ in range(t.k)]
        else:
            stay = sv[j]
            by_origin: dict[int, list[int]] = defaultdict(list)
            for b, n in zip(t.members, t.where):
                by_origin[n].append(b)
            leaving = []
            for n, members in by_origin.items():
                leaving += members[stay[n]:]
            open_slots = [n for n in sorted(slots) for _ in range(slots[n] - stay.get(n, 0))]
            moves += list(zip(leaving, open_slots))
    return final, moves, devices


def verify(before: Cluster, table: ClassTable, pods, pod_cls, req, final, bound, bound_req, moves, devices,
           cols, dev_mode, max_moves, greedy, after_free) -> tuple[Optional[np.ndarray], Optional[str]]:
    """Independent re-check of a proposed state: static feasibility of every new placement, resource fit
    on every node that receives a pod, GPU devices replayed one pod at a time, the move budget.
    Returns (device table after the changes, None) or (None, what failed)."""
    if len(moves) > max_moves:
        return None, f"{len(moves)} moves > max_moves {max_moves}"
    alloc = before.allocatable
    new = before.requested.copy()
    arriving: dict[int, np.ndarray] = {}

    def arrive(n: int, q: np.ndarray) -> None:
        arriving[n] = np.maximum(arriving.get(n, np.zeros_like(q)), q)

    for b, d in moves:
        p, src = bound[b]
        if not table.ok(table.index(p.model_copy(update={"node_name": None})), d):
            return None, f"pod {p.key} cannot move to {before.node_names[d]} (static filters)"
        new[src] -= bound_req[b]
        new[d] += bound_req[b]
        arrive(d, bound_req[b])
    for i, p in enumerate(pods):
        d = int(final[i])
        if d < 0:
            continue
        if not table.ok(int(pod_cls[i]), d):
            return None, f"pod {p.key} on {before.node_names[d]} fails the static filters"
        new[d] += req[i]
        arrive(d, req[i])
    for n, q in arriving.items():
        for r in cols:
            if (r == COL_PODS or q[r] > 0) and new[n, r] > alloc[n, r]:
                return None, f"node {before.node_names[n]}: {before.resource_names[r]} over allocatable"
    if dev_mode and devices is None:
        # Devices as greedy chose them: valid only if every GPU pod is where greedy put it.
        if any(p.gpu_count and final[i] != greedy[i] for i, p in enumerate(pods)):
            return None, "a GPU pod changed node without a device choice"
        return after_free.copy(), None
    free = before.gpu_free.copy()
    for i, p in enumerate(pods):
        d = int(final[i])
        if d < 0 or not p.gpu_count:
            continue
        if not dev_mode:
            assign_devices(free[d], p.gpu_count, FULL)     # counted resource: devices as greedy assigns them
            continue
        devs = devices.get(i, [])
        g = p.gpu_per_device
        if len(devs) != (1 if g < FULL else p.gpu_count) or len(set(devs)) != len(devs):
            return None, f"pod {p.key}: wrong number of GPU devices"
        for dv in devs:
            if free[d, dv] < g or (g >= FULL and free[d, dv] != FULL):
                return None, f"pod {p.key}: GPU device {dv} of {before.node_names[d]} lacks room"
            free[d, dv] -= g
    return free, None
