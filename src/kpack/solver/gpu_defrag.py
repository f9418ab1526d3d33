"""GPU defragmentation on device-level arrays (the openb/FGD trace state): re-place pending GPU pods by
moving a few running pods, and an LP lower bound on the GPU any placement must leave unallocated."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from ortools.linear_solver import pywraplp

FULL = 1000            # milli-GPU of one device
TRACE = False


@dataclass
class GpuState:
    """Nodes (free milli per device, CPU and memory left, GPU model) and the pods running on them.

    free int32 [N, G] (padding devices 0), ndev [N], cpu/mem int64 [N] left, model int32 [N] (-1: no GPU);
    pods: node, cpu, mem, k (GPUs), g (milli per GPU), mask (allowed model bits, -1 any), dev (the shared
    device of a sharing pod, else -1), devmask (the devices a whole-GPU pod holds, bit per device)."""
    free: np.ndarray
    ndev: np.ndarray
    cpu: np.ndarray
    mem: np.ndarray
    model: np.ndarray
    node: np.ndarray
    pcpu: np.ndarray
    pmem: np.ndarray
    k: np.ndarray
    g: np.ndarray
    mask: np.ndarray
    dev: np.ndarray
    devmask: np.ndarray

    def copy(self) -> "GpuState":
        return GpuState(*[getattr(self, f).copy() for f in self.__dataclass_fields__])


@dataclass
class DefragResult:
    placed: list = field(default_factory=list)      # (pending index, node, dev or devmask)
    moves: list = field(default_factory=list)       # (running pod index, from node, to node)
    placed_milli: int = 0
    seconds: float = 0.0
    state: GpuState | None = None
    rounds: int = 0                                 # CP-SAT neighbourhoods solved


@njit(cache=True, nogil=True)
def _fits(n, c, m, k, g, mask, free, ndev, cpu, mem, model, add_cpu, add_mem, add_dev, extra_full):
    """Pod (c, m, k, g, mask) on node n with add_cpu/add_mem/add_dev[d] given back by evicted pods and
    extra_full devices of whole pods freed. Returns the device for a sharing pod (or 0), -1 if it does
    not fit."""
    if cpu[n] + add_cpu < c or mem[n] + add_mem < m:
        return -1
    if k == 0:
        return 0
    if model[n] < 0 or not ((mask >> model[n]) & 1):
        return -1
    if g < FULL:
        best, best_free = -1, 1 << 30
        for d in range(ndev[n]):
            f = free[n, d] + add_dev[d]
            if f >= g and f < best_free:
                best, best_free = d, f
        return best
    full = extra_full
    for d in range(ndev[n]):
        if free[n, d] + add_dev[d] == FULL:
            full += 1
    return 0 if full >= k else -1


@njit(cache=True, nogil=True)
def eviction_sets(c, m, k, g, mask, free, ndev, cpu, mem, model, off, members, pcpu, pmem, pk, pg, pdev,
                  pdevmask, movable, max_size, out):
    """For every node, the smallest sets (size <= max_size, at most 3) of movable running pods whose
    eviction lets the pod fit. Writes rows (node, size, a, b, c, GPU freed) into out; returns the count."""
    G = free.shape[1]
    add = np.zeros(G, dtype=np.int64)
    cnt = 0
    for n in range(free.shape[0]):
        if k > 0 and (model[n] < 0 or not ((mask >> model[n]) & 1) or ndev[n] < k):
            continue
        lo, hi = off[n], off[n + 1]
        found = False
        for size in range(0, max_size + 1):
            if found or cnt >= out.shape[0]:
                break
            # enumerate subsets of `size` members (indices i < j < l)
            idx = np.zeros(3, dtype=np.int64)
            for i in range(lo, hi if size >= 1 else lo + 1):
                for j in range(i + 1 if size >= 2 else lo, hi if size >= 2 else lo + 1):
                    for q in range(j + 1 if size >= 3 else lo, hi if size >= 3 else lo + 1):
                        idx[0], idx[1], idx[2] = i, j, q
                        ok = True
                        add[:] = 0
                        ac, am, xf, freed = 0, 0, 0, 0
                        for t in range(size):
                            p = members[idx[t]]
                            if not movable[p]:
                                ok = False
                                break
                            ac += pcpu[p]
                            am += pmem[p]
                            if pk[p] > 0:
                                freed += pk[p] * pg[p]
                                if pg[p] < FULL:
                                    add[pdev[p]] += pg[p]
                                else:
                                    xf += pk[p]
                        if not ok:
                            continue
                        if _fits(n, c, m, k, g, mask, free, ndev, cpu, mem, model, ac, am, add, xf) >= 0:
                            if cnt < out.shape[0]:
                                out[cnt, 0] = n
                                out[cnt, 1] = size
                                for t in range(3):
                                    out[cnt, 2 + t] = members[idx[t]] if t < size else -1
                                out[cnt, 5] = freed
                                cnt += 1
                            found = True
    return cnt


@njit(cache=True, nogil=True)
def best_target(c, m, k, g, mask, free, ndev, cpu, mem, model, exclude):
    """Best-fit node for a pod without moves (least GPU milli left after it, then least CPU), skipping
    node `exclude`; returns (node, device) or (-1, -1)."""
    G = free.shape[1]
    zero = np.zeros(G, dtype=np.int64)
    best, best_dev, best_key = -1, -1, 1 << 62
    for n in range(free.shape[0]):
        if n == exclude:
            continue
        d = _fits(n, c, m, k, g, mask, free, ndev, cpu, mem, model, 0, 0, zero, 0)
        if d < 0:
            continue
        left = 0
        for e in range(ndev[n]):
            left += free[n, e]
        key = (left - k * g) * 1_000_000 + (cpu[n] - c) // 1000
        if key < best_key:
            best, best_dev, best_key = n, d, key
    return best, best_dev


@njit(cache=True, nogil=True)
def spec_targets(c, m, k, g, mask, free, ndev, cpu, mem, model):
    """Per pod spec: how many nodes fit it without moves (capped at 2) and the first such node."""
    S = c.shape[0]
    G = free.shape[1]
    zero = np.zeros(G, dtype=np.int64)
    count = np.zeros(S, dtype=np.int64)
    first = np.full(S, -1, dtype=np.int64)
    for s in range(S):
        for n in range(free.shape[0]):
            if _fits(n, c[s], m[s], k[s], g[s], mask[s], free, ndev, cpu, mem, model, 0, 0, zero, 0) >= 0:
                if count[s] == 0:
                    first[s] = n
                count[s] += 1
                if count[s] >= 2:
                    break
    return count, first


def _take(s: GpuState, n: int, c: int, m: int, k: int, g: int, dev: int) -> tuple[int, int]:
    """Reserve a pod on node n (the device for a sharing pod; lowest fully free devices for whole pods).
    Returns (dev, devmask)."""
    s.cpu[n] -= c
    s.mem[n] -= m
    if k == 0:
        return -1, 0
    if g < FULL:
        s.free[n, dev] -= g
        return dev, 0
    bits, left = 0, k
    for d in range(int(s.ndev[n])):
        if left and s.free[n, d] == FULL:
            s.free[n, d] = 0
            bits |= 1 << d
            left -= 1
    if left:
        raise AssertionError(f"node {n}: {k} full devices expected")
    return -1, bits


def _release(s: GpuState, p: int) -> None:
    n = int(s.node[p])
    s.cpu[n] += s.pcpu[p]
    s.mem[n] += s.pmem[p]
    if s.k[p] > 0:
        if s.g[p] < FULL:
            s.free[n, s.dev[p]] += s.g[p]
        else:
            for d in range(int(s.ndev[n])):
                if (int(s.devmask[p]) >> d) & 1:
                    s.free[n, d] = FULL
    s.node[p] = -1


def _csr(s: GpuState, movable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    N = len(s.cpu)
    on = np.flatnonzero((s.node >= 0) & movable)
    order = on[np.argsort(s.node[on], kind="stable")]
    off = np.zeros(N + 1, dtype=np.int64)
    np.add.at(off, s.node[order] + 1, 1)
    return np.cumsum(off), order.astype(np.int64)


def defrag(state: GpuState, pending: dict, max_moves: int, time_limit: float = 10.0,
           max_set: int = 2, max_trials: int = 40) -> DefragResult:
    """Place pending GPU pods (dict of arrays cpu, mem, k, g, mask), largest GPU demand first: directly if
    a node fits, else by evicting the smallest set (<= max_set) of running GPU pods from one node, each
    re-placed best-fit elsewhere without further moves, within max_moves moves in total."""
    t0 = time.perf_counter()
    s = state.copy()
    out = DefragResult()
    # Every running pod may move once: sharing pods free device milli, CPU-only pods free CPU (often what a
    # node with GPU room lacks); whole-GPU pods too, though they rarely find a full device elsewhere.
    movable = s.node >= 0
    moved = np.zeros(len(s.node), dtype=np.bool_)
    spec_keys = np.stack([s.pcpu, s.pmem, s.k, s.g, s.mask], axis=1)
    specs, pod_spec = np.unique(spec_keys, axis=0, return_inverse=True)
    pod_spec = pod_spec.reshape(-1)
    replaceable = None      # per pod: some other node takes it without moves (recomputed on a change)
    demand = pending["k"].astype(np.int64) * pending["g"]
    order = np.lexsort((-pending["cpu"], -demand))
    rows = np.zeros((20_000, 6), dtype=np.int64)
    for i in order.tolist():
        if time.perf_counter() - t0 > time_limit:
            break
        c, m, k, g, mask = (int(pending[x][i]) for x in ("cpu", "mem", "k", "g", "mask"))
        n, d = best_target(c, m, k, g, mask, s.free, s.ndev, s.cpu, s.mem, s.model, -1)
        if n >= 0:
            dev, bits = _take(s, int(n), c, m, k, g, int(d))
            replaceable = None
            out.placed.append((i, int(n), dev if g < FULL else bits))
            out.placed_milli += k * g
            continue
        budget = max_moves - len(out.moves)
        if budget <= 0:
            continue
        if replaceable is None:
            cnt_t, first_t = spec_targets(specs[:, 0], specs[:, 1], specs[:, 2], specs[:, 3], specs[:, 4],
                                          s.free, s.ndev, s.cpu, s.mem, s.model)
            replaceable = (cnt_t[pod_spec] >= 2) | ((cnt_t[pod_spec] == 1) & (first_t[pod_spec] != s.node))
            can = movable & ~moved & replaceable & (s.node >= 0)     # a pod moves at most once
            off, members = _csr(s, can)
        cnt = eviction_sets(c, m, k, g, mask, s.free, s.ndev, s.cpu, s.mem, s.model, off, members,
                            s.pcpu, s.pmem, s.k, s.g, s.dev, s.devmask, can, min(max_set, budget), rows)
        cand = rows[:cnt]
        # fewest moves, then the least GPU freed (moving small pods is cheaper to re-place); a few trials
        for r in cand[np.lexsort((cand[:, 5], cand[:, 1]))][:max_trials].tolist():
            node, evict = r[0], [p for p in r[2:5] if p >= 0]
            trial = s.copy()
            for p in evict:
                _release(trial, p)
            # the pending pod first (its fit was checked), then the evicted pods elsewhere
            d = 0
            if k and g < FULL:
                d = _best_device(trial, node, g)
            dev, bits = _take(trial, node, c, m, k, g, d)
            targets = []
            for p in sorted(evict, key=lambda p: -int(s.k[p]) * int(s.g[p])):
                tn, td = best_target(int(s.pcpu[p]), int(s.pmem[p]), int(s.k[p]), int(s.g[p]),
                                     int(s.mask[p]), trial.free, trial.ndev, trial.cpu, trial.mem,
                                     trial.model, node)
                if tn < 0:
                    break
                pd, pb = _take(trial, int(tn), int(s.pcpu[p]), int(s.pmem[p]), int(s.k[p]), int(s.g[p]),
                               int(td))
                trial.node[p], trial.dev[p], trial.devmask[p] = tn, pd, pb
                targets.append((p, int(tn)))
            if len(targets) < len(evict):
                continue
            for p, tn in targets:
                out.moves.append((p, int(s.node[p]), tn))
                moved[p] = True
            s = trial
            replaceable = None
            out.placed.append((i, node, dev if g < FULL else bits))
            out.placed_milli += k * g
            break
    out.seconds = time.perf_counter() - t0
    out.state = s
    return out


def _best_device(s: GpuState, n: int, g: int) -> int:
    best = -1
    for d in range(int(s.ndev[n])):
        f = int(s.free[n, d])
        if f >= g and (best < 0 or f < int(s.free[n, best])):
            best = d
    if best < 0:
        raise AssertionError(f"node {n}: no device with {g} milli free")
    return best


def check_state(s: GpuState, total_cpu: np.ndarray, total_mem: np.ndarray, placed_extra=()) -> None:
    """Independent re-check: rebuild every node's free CPU, memory and device milli from the running pods
    (and `placed_extra`: (node, cpu, mem, k, g, dev, devmask) rows) and compare; every pod on a node of an
    allowed model, no device over-committed."""
    N, G = s.free.shape
    cpu, mem = total_cpu.astype(np.int64).copy(), total_mem.astype(np.int64).copy()
    used = np.zeros((N, G), dtype=np.int64)
    rows = [(int(s.node[p]), int(s.pcpu[p]), int(s.pmem[p]), int(s.k[p]), int(s.g[p]), int(s.dev[p]),
             int(s.devmask[p]), int(s.mask[p])) for p in np.flatnonzero(s.node >= 0)]
    rows += [tuple(r) for r in placed_extra]
    for n, c, m, k, g, dev, bits, mask in rows:
        cpu[n] -= c
        mem[n] -= m
        if k:
            if s.model[n] < 0 or not ((mask >> int(s.model[n])) & 1):
                raise AssertionError(f"pod on node {n}: GPU model not allowed")
            if g < FULL:
                used[n, dev] += g
            else:
                if bin(bits).count("1") != k:
                    raise AssertionError(f"pod on node {n}: holds {bin(bits).count('1')} devices, needs {k}")
                for d in range(G):
                    if (bits >> d) & 1:
                        used[n, d] += FULL
    cap = np.zeros((N, G), dtype=np.int64)
    for n in range(N):
        cap[n, :int(s.ndev[n])] = FULL
    if (used > cap).any() or (cpu < 0).any() or (mem < 0).any():
        raise AssertionError("a node is over-committed")
    if not (np.array_equal(cap - used, s.free) and np.array_equal(cpu, s.cpu) and np.array_equal(mem, s.mem)):
        raise AssertionError("free resources do not match the pods placed")


def _types(ndev, cpu, mem, model, pods: dict) -> tuple[dict, dict]:
    """Node types (devices, cpu, memory, model) and GPU pod types (cpu, mem, k, g, mask), each -> count."""
    ntype: dict[tuple, int] = {}
    for n in range(len(ndev)):
        key = (int(ndev[n]), int(cpu[n]), int(mem[n]), int(model[n]))
        ntype[key] = ntype.get(key, 0) + 1
    ptype: dict[tuple, int] = {}
    for i in range(len(pods["k"])):
        if pods["k"][i] == 0:
            continue
        key = tuple(int(pods[x][i]) for x in ("cpu", "mem", "k", "g", "mask"))
        ptype[key] = ptype.get(key, 0) + 1
    return ntype, ptype


def _fits_type(pt: tuple, nt: tuple) -> bool:
    """A pod type fits alone on an empty node of a node type (resources, device count, GPU model)."""
    c, m, k, g, mask = pt
    nd, nc, nm, mo = nt
    return not (c > nc or m > nm or k > nd or mo < 0 or not ((mask >> mo) & 1))


def unallocated_lower_bound(ndev, cpu, mem, model, pods: dict) -> tuple[float, int]:
    """LP bound on the most GPU milli any placement of `pods` (dict of arrays cpu, mem, k, g, mask) onto
    empty nodes can allocate: pods and nodes aggregated by type, fractional counts, per node type the
    total CPU, memory and GPU milli, a pod type only on node types where one pod fits alone, and whole-GPU
    pods limited to the node type's device count. Returns (GPU milli bound, number of LP columns)."""
    ntype, ptype = _types(ndev, cpu, mem, model, pods)
    lp = pywraplp.Solver.CreateSolver("GLOP")
    obj = lp.Objective()
    obj.SetMaximization()
    cons = {}
    for t, (nd, nc, nm, mo) in enumerate(ntype):
        cnt = ntype[(nd, nc, nm, mo)]
        cons[t] = (lp.Constraint(0, nc * cnt), lp.Constraint(0, nm * cnt), lp.Constraint(0, nd * FULL * cnt))
    per_pod = {key: lp.Constraint(0, q) for key, q in ptype.items()}
    ncols = 0
    for (c, m, k, g, mask) in ptype:
        for t, nt in enumerate(ntype):
            if not _fits_type((c, m, k, g, mask), nt):
                continue
            v = lp.NumVar(0, lp.infinity(), "")
            ncols += 1
            obj.SetCoefficient(v, k * g)
            cons[t][0].SetCoefficient(v, c)
            cons[t][1].SetCoefficient(v, m)
            cons[t][2].SetCoefficient(v, k * g)
            per_pod[(c, m, k, g, mask)].SetCoefficient(v, 1)
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        raise RuntimeError("GPU lower bound LP did not solve")
    return obj.Value(), ncols


@njit(cache=True, nogil=True)
def best_pattern(sizes, value):
    """Unbounded knapsack over one device (FULL milli): the most valuable multiset of sharing sizes (value
    <= 0 sizes are skipped). Returns (value, count per size)."""
    best = np.zeros(FULL + 1)
    pick = np.full(FULL + 1, -1, dtype=np.int64)
    for cap in range(1, FULL + 1):
        best[cap] = best[cap - 1]
        for j in range(sizes.shape[0]):
            w = sizes[j]
            if w <= cap and value[j] > 0 and best[cap - w] + value[j] > best[cap] + 1e-12:
                best[cap] = best[cap - w] + value[j]
                pick[cap] = j
    counts = np.zeros(sizes.shape[0], dtype=np.int64)
    cap = FULL
    while cap > 0:
        if pick[cap] < 0:
            cap -= 1
            continue
        counts[pick[cap]] += 1
        cap -= sizes[pick[cap]]
    return best[FULL], counts


def device_lower_bound(ndev, cpu, mem, model, pods: dict, max_rounds: int = 200) -> tuple[float, int]:
    """Device-aware LP bound on the most GPU milli any placement of `pods` onto empty nodes can allocate.
    As `unallocated_lower_bound` (types, per node type CPU and memory totals, a pod type only where it fits
    alone), but devices are counted one by one: whole-GPU pods take k devices each, and sharing pods
    (g < 1000, one slot of g on each of k devices) must be covered by device patterns, multisets of sharing
    sizes that fit one device (sum <= 1000), at most one pattern per device left. A 810-milli pod thus
    strands 190 milli unless small pods fill them. Patterns come by column generation (a knapsack over the
    sharing sizes per node type); if it stops before the LP optimum, the Lagrangian correction (device count
    times the best reduced cost) keeps the bound valid. Returns (GPU milli bound, number of LP columns)."""
    ntype, ptype = _types(ndev, cpu, mem, model, pods)
    sizes = sorted({g for (_, _, _, g, _) in ptype if g < FULL})
    lp = pywraplp.Solver.CreateSolver("GLOP")
    obj = lp.Objective()
    obj.SetMaximization()
    types = list(ntype)
    res, dev, cover = {}, {}, {}
    for t, (nd, nc, nm, mo) in enumerate(types):
        cnt = ntype[types[t]]
        res[t] = (lp.Constraint(-lp.infinity(), nc * cnt), lp.Constraint(-lp.infinity(), nm * cnt))
        dev[t] = lp.Constraint(-lp.infinity(), nd * cnt)
        cover[t] = [lp.Constraint(-lp.infinity(), 0) for _ in sizes]
    per_pod = {key: lp.Constraint(-lp.infinity(), q) for key, q in ptype.items()}
    ncols = 0
    for pt in ptype:
        c, m, k, g, _ = pt
        for t, nt in enumerate(types):
            if not _fits_type(pt, nt):
                continue
            v = lp.NumVar(0, lp.infinity(), "")
            ncols += 1
            obj.SetCoefficient(v, k * g)
            res[t][0].SetCoefficient(v, c)
            res[t][1].SetCoefficient(v, m)
            per_pod[pt].SetCoefficient(v, 1)
            if g < FULL:
                cover[t][sizes.index(g)].SetCoefficient(v, k)
            else:
                dev[t].SetCoefficient(v, k)

    def add_pattern(t: int, counts: list[int]) -> None:
        nonlocal ncols
        z = lp.NumVar(0, lp.infinity(), "")
        ncols += 1
        dev[t].SetCoefficient(z, 1)
        for j, q in enumerate(counts):
            if q:
                cover[t][j].SetCoefficient(z, -q)

    for t in range(len(types)):           # start: one sharing pod per device
        for j in range(len(sizes)):
            add_pattern(t, [int(i == j) for i in range(len(sizes))])
    size_arr = np.array(sizes, dtype=np.int64)
    correction = 0.0
    for _ in range(max_rounds):
        if lp.Solve() != pywraplp.Solver.OPTIMAL:
            raise RuntimeError("device-aware GPU bound LP did not solve")
        # Price every node type on this LP's duals first (adding a column invalidates them).
        found = []
        correction = 0.0
        for t, nt in enumerate(types):
            # A pattern's reduced cost: its slots' cover duals minus the device dual.
            u = np.array([c.dual_value() for c in cover[t]], dtype=np.float64)
            val, counts = best_pattern(size_arr, u)
            rc = val - dev[t].dual_value()
            if rc > 1e-6:
                found.append((t, counts.tolist()))
                correction += rc * nt[0] * ntype[nt]
        if not found:
            correction = 0.0
            break
        bound_at_stop = obj.Value()
        for t, counts in found:
            add_pattern(t, counts)
    if correction:
        # Stopped at max_rounds: the duals that priced the last columns bound the LP (Lagrangian).
        return bound_at_stop + correction, ncols
    return obj.Value(), ncols


def _spec_groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(keys):
        return np.zeros((0, keys.shape[1]), dtype=np.int64), np.zeros(0, dtype=np.int64)
    specs, inv = np.unique(keys, axis=0, return_inverse=True)
    return specs, inv.reshape(-1)


def repack_neighbourhood(s: GpuState, nodes: np.ndarray, pending: dict, open_pending: np.ndarray,
                         budget: int, time_limit: float, workers: int = 2, seed: int = 0):
    """CP-SAT over a few nodes: their sharing and CPU-only pods may move among them (and change device),
    whole-GPU pods stay; pending pods (indices `open_pending`) may be added. Maximises the GPU milli of
    pending pods placed, then the fewest moves, within `budget` moves. Pods are aggregated by spec: counts
    per (spec, node, device). Returns (placements [(pending i, node, device or -1)], moves [(pod, from node,
    to node, device or -1)]) or None when nothing better than the current state is found."""
    from ortools.sat.python import cp_model

    nodes = np.asarray(nodes, dtype=np.int64)
    where = {int(n): j for j, n in enumerate(nodes)}
    on = np.flatnonzero(np.isin(s.node, nodes))
    share = on[(s.k[on] > 0) & (s.g[on] < FULL)]
    cpuonly = on[s.k[on] == 0]
    # capacity left when the movable pods are lifted off
    cpu = s.cpu[nodes].copy()
    mem = s.mem[nodes].copy()
    dfree = s.free[nodes].astype(np.int64).copy()
    for p in share.tolist():
        j = where[int(s.node[p])]
        cpu[j] += s.pcpu[p]
        mem[j] += s.pmem[p]
        dfree[j, s.dev[p]] += s.g[p]
    for p in cpuonly.tolist():
        j = where[int(s.node[p])]
        cpu[j] += s.pcpu[p]
        mem[j] += s.pmem[p]
    ndev = s.ndev[nodes]
    model = s.model[nodes]
    m = cp_model.CpModel()
    cpu_terms = [[] for _ in nodes]
    mem_terms = [[] for _ in nodes]
    dev_terms = {(j, d): [] for j in range(len(nodes)) for d in range(int(ndev[j]))}
    whole_terms = [[] for _ in nodes]      # GPUs taken by pending whole-GPU pods
    moves_terms = []
    obj_terms = []

    def allowed(mask: int, j: int) -> bool:
        return model[j] >= 0 and bool((mask >> int(model[j])) & 1)

    # running sharing pods by spec
    sk = np.stack([s.pcpu[share], s.pmem[share], s.g[share], s.mask[share]], axis=1) if len(share) else \
        np.zeros((0, 4), dtype=np.int64)
    sspecs, sinv = _spec_groups(sk)
    share_vars = []
    for t, (c, me, g, mask) in enumerate(sspecs.tolist()):
        members = share[sinv == t]
        orig: dict = {}
        for p in members.tolist():
            key = (where[int(s.node[p])], int(s.dev[p]))
            orig[key] = orig.get(key, 0) + 1
        cnt, stays = {}, {}
        for j in range(len(nodes)):
            if not allowed(mask, j) or c > cpu[j] or me > mem[j]:
                continue
            for d in range(int(ndev[j])):
                if dfree[j, d] < g:
                    continue
                v = m.NewIntVar(0, min(len(members), int(dfree[j, d]) // g), "")
                cnt[j, d] = v
                cpu_terms[j].append(c * v)
                mem_terms[j].append(me * v)
                dev_terms[j, d].append(g * v)
                if (j, d) in orig:
                    st = m.NewIntVar(0, orig[j, d], "")
                    m.Add(st <= v)
                    stays[j, d] = st
                    m.AddHint(v, orig[j, d])
                    m.AddHint(st, orig[j, d])
                else:
                    m.AddHint(v, 0)
        m.Add(sum(cnt.values()) == len(members))
        moves_terms.append(len(members) - sum(stays.values()))
        share_vars.append((members, orig, cnt, stays))
    # running CPU-only pods by spec
    ck = np.stack([s.pcpu[cpuonly], s.pmem[cpuonly]], axis=1) if len(cpuonly) else np.zeros((0, 2), np.int64)
    cspecs, cinv = _spec_groups(ck)
    cpu_vars = []
    for t, (c, me) in enumerate(cspecs.tolist()):
        members = cpuonly[cinv == t]
        orig = {}
        for p in members.tolist():
            orig[where[int(s.node[p])]] = orig.get(where[int(s.node[p])], 0) + 1
        cnt, stays = {}, {}
        for j in range(len(nodes)):
            if c > cpu[j] or me > mem[j]:
                continue
            v = m.NewIntVar(0, len(members), "")
            cnt[j] = v
            cpu_terms[j].append(c * v)
            mem_terms[j].append(me * v)
            m.AddHint(v, orig.get(j, 0))
            if j in orig:
                st = m.NewIntVar(0, orig[j], "")
                m.Add(st <= v)
                stays[j] = st
                m.AddHint(st, orig[j])
        m.Add(sum(cnt.values()) == len(members))
        moves_terms.append(len(members) - sum(stays.values()))
        cpu_vars.append((members, orig, cnt, stays))
    # pending pods by spec (optional)
    pk = np.stack([pending[x][open_pending] for x in ("cpu", "mem", "k", "g", "mask")], axis=1) \
        if len(open_pending) else np.zeros((0, 5), np.int64)
    pspecs, pinv = _spec_groups(pk)
    pend_vars = []
    for t, (c, me, k, g, mask) in enumerate(pspecs.tolist()):
        members = open_pending[pinv == t]
        cnt = {}
        for j in range(len(nodes)):
            if not allowed(mask, j) or c > cpu[j] or me > mem[j]:
                continue
            if g < FULL:
                for d in range(int(ndev[j])):
                    if dfree[j, d] >= g:
                        v = m.NewIntVar(0, min(len(members), int(dfree[j, d]) // g), "")
                        cnt[j, d] = v
                        dev_terms[j, d].append(g * v)
                        cpu_terms[j].append(c * v)
                        mem_terms[j].append(me * v)
                        obj_terms.append(g * v)
                        m.AddHint(v, 0)
            else:
                full_now = int(ndev[j])
                if k > full_now:
                    continue
                v = m.NewIntVar(0, min(len(members), full_now // k), "")
                cnt[j, -1] = v
                whole_terms[j].append(k * v)
                cpu_terms[j].append(c * v)
                mem_terms[j].append(me * v)
                obj_terms.append(k * g * v)
                m.AddHint(v, 0)
        if cnt:
            m.Add(sum(cnt.values()) <= len(members))
        pend_vars.append((members, cnt))
    # capacities; whole-GPU pending pods take devices left completely free by the shares
    for j in range(len(nodes)):
        if cpu_terms[j]:
            m.Add(sum(cpu_terms[j]) <= int(cpu[j]))
            m.Add(sum(mem_terms[j]) <= int(mem[j]))
        if whole_terms[j]:
            used = []
            for d in range(int(ndev[j])):
                if dfree[j, d] < FULL:
                    continue
                u = m.NewBoolVar("")
                m.AddHint(u, 0)
                used.append(u)
                if dev_terms[j, d]:
                    m.Add(sum(dev_terms[j, d]) <= FULL * (1 - u))
            m.Add(sum(whole_terms[j]) <= sum(used) if used else sum(whole_terms[j]) <= 0)
        for d in range(int(ndev[j])):
            if dev_terms[j, d]:
                m.Add(sum(dev_terms[j, d]) <= int(dfree[j, d]))
    moves = sum(moves_terms) if moves_terms else 0
    m.Add(moves <= budget)
    if not obj_terms:
        return None
    gain = sum(obj_terms)
    m.Add(gain >= 1)
    m.Maximize(gain * (budget + 1) - moves)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    # decode: pods that stay keep their device; the rest fill the open slots
    placements, moved = [], []
    for members, orig, cnt, stays in share_vars:
        st_val = {key: solver.Value(v) for key, v in stays.items()}
        slots = []
        for key, v in cnt.items():
            slots += [key] * (solver.Value(v) - st_val.get(key, 0))
        kept: dict = {}
        for p in members.tolist():
            key = (where[int(s.node[p])], int(s.dev[p]))
            if kept.get(key, 0) < st_val.get(key, 0):
                kept[key] = kept.get(key, 0) + 1
                continue
            j, d = slots.pop()
            moved.append((p, int(s.node[p]), int(nodes[j]), d))
    for members, orig, cnt, stays in cpu_vars:
        st_val = {j: solver.Value(v) for j, v in stays.items()}
        slots = []
        for j, v in cnt.items():
            slots += [j] * (solver.Value(v) - st_val.get(j, 0))
        kept = {}
        for p in members.tolist():
            j = where[int(s.node[p])]
            if kept.get(j, 0) < st_val.get(j, 0):
                kept[j] = kept.get(j, 0) + 1
                continue
            moved.append((p, int(s.node[p]), int(nodes[slots.pop()]), -1))
    for members, cnt in pend_vars:
        left = members.tolist()
        for (j, d), v in cnt.items():
            for _ in range(solver.Value(v)):
                placements.append((left.pop(), int(nodes[j]), d))
    return placements, moved


def apply_repack(s: GpuState, pending: dict, placements, moved) -> tuple[GpuState, list, int]:
    """Apply a neighbourhood answer to a copy of `s`: lift the moved pods, put them on their new node and
    device, then add the pending pods. Returns (new state, placed rows (i, node, dev or devmask), milli)."""
    t = s.copy()
    for p, _, _, _ in moved:
        _release(t, p)
    for p, _, n, d in moved:
        dev, bits = _take(t, n, int(s.pcpu[p]), int(s.pmem[p]), int(s.k[p]), int(s.g[p]), d)
        t.node[p], t.dev[p], t.devmask[p] = n, dev, bits
    rows, milli = [], 0
    # pending sharing pods before whole-GPU ones (these take the lowest fully free devices)
    for i, n, d in sorted(placements, key=lambda r: int(pending["g"][r[0]]) >= FULL):
        k, g = int(pending["k"][i]), int(pending["g"][i])
        dev, bits = _take(t, n, int(pending["cpu"][i]), int(pending["mem"][i]), k, g, d)
        rows.append((i, n, dev if g < FULL else bits))
        milli += k * g
    return t, rows, milli


def defrag_lns(state: GpuState, pending: dict, max_moves: int, time_limit: float = 60.0, hood: int = 16,
               step_time: float = 1.0, workers: int = 2, seed: int = 0,
               cpu_frac: float = 0.25, round_moves: int = 24) -> DefragResult:
    """Move-based repair (`defrag`), then CP-SAT over neighbourhoods of `hood` nodes (the untried nodes with
    the most free GPU milli first, plus a `cpu_frac` share of the nodes with the most free CPU) until the
    time limit, the move budget or the nodes run out; at most `round_moves` moves per neighbourhood."""
    t0 = time.perf_counter()
    out = defrag(state, pending, max_moves, time_limit=time_limit / 4)
    s = out.state
    done = np.zeros(len(pending["k"]), dtype=np.bool_)
    for i, _, _ in out.placed:
        done[i] = True
    tried = np.zeros(len(s.cpu), dtype=np.bool_)
    moved_once = np.zeros(len(s.node), dtype=np.bool_)
    for p, _, _ in out.moves:
        moved_once[p] = True
    rounds = 0
    while time.perf_counter() - t0 < time_limit - 0.2 and len(out.moves) < max_moves:
        open_pending = np.flatnonzero(~done & (pending["k"] > 0))
        if not len(open_pending):
            break
        # Most of the neighbourhood: untried nodes with the most free GPU milli; the rest: nodes with the
        # most free CPU, where CPU-only pods can go to make room (GPU gaps often sit on CPU-full nodes).
        score = s.free.astype(np.int64).sum(axis=1) * 1000 + s.cpu // 1000
        score[tried | (s.ndev == 0)] = -1
        n_gpu = hood - int(cpu_frac * hood)
        pick = np.argsort(-score, kind="stable")[:n_gpu]
        pick = pick[score[pick] >= 0]
        if not len(pick):
            break
        tried[pick] = True
        if n_gpu < hood:
            spare = s.cpu.astype(np.float64).copy()
            spare[pick] = -1.0
            extra = np.argsort(-spare, kind="stable")[:hood - n_gpu]
            pick = np.concatenate([pick, extra[spare[extra] > 0]])
        rounds += 1
        left = min(step_time, time_limit - (time.perf_counter() - t0))
        # A per-neighbourhood move cap: the objective is lexicographic (GPU placed, then moves), so within
        # a short limit CP-SAT's answer may spend many moves for little; the cap keeps each round frugal.
        cap = min(max_moves - len(out.moves), round_moves)
        ans = repack_neighbourhood(s, pick, pending, open_pending, cap, left, workers, seed + rounds)
        if ans is None:
            continue
        placements, moved = ans
        s, rows, milli = apply_repack(s, pending, placements, moved)
        if TRACE:
            print(f"round {rounds}: +{len(rows)} pods ({milli} milli), {len(moved)} moves, "
                  f"t={time.perf_counter() - t0:.1f}s")
        for p, a, b, _ in moved:
            out.moves.append((p, a, b))
            moved_once[p] = True
        for r in rows:
            done[r[0]] = True
        out.placed += rows
        out.placed_milli += milli
    out.state = s
    out.seconds = time.perf_counter() - t0
    out.rounds = rounds
    return out
