"""Vector bin packing heuristics and lower bounds over integer arrays (items x dims, shapes x dims):
first-fit decreasing by several size measures, dot-product and norm best fit, bin-centric dot product."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Packing:
    """Bins in opening order: shape[b] and the items of bin b."""
    shape: list[int]
    items: list[list[int]]
    name: str = ""

    def cost(self, costs: np.ndarray) -> int:
        return int(sum(int(costs[s]) for s in self.shape))


class Instance:
    """sizes int64 [I, D]; caps int64 [S, D]; compat bool [I, S] (static filters and fit on an empty shape);
    costs int64 [S]."""

    def __init__(self, sizes: np.ndarray, caps: np.ndarray, compat: np.ndarray, costs: np.ndarray):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.caps = np.asarray(caps, dtype=np.int64)
        self.costs = np.asarray(costs, dtype=np.int64)
        fits = (self.sizes[:, None, :] <= self.caps[None, :, :]).all(axis=2)
        self.compat = np.asarray(compat, dtype=np.bool_) & fits
        # Normalised sizes: against the largest capacity of each dimension (dimensions nobody has count 0).
        scale = self.caps.max(axis=0).astype(np.float64) if len(self.caps) else np.ones(self.sizes.shape[1])
        scale[scale == 0] = 1.0
        self.norm = self.sizes / scale
        self.cap_norm = self.caps / scale

    @property
    def n_items(self) -> int:
        return len(self.sizes)


def orders(inst: Instance) -> dict[str, np.ndarray]:
    """Item orders (largest first) by several size measures."""
    x = inst.norm
    keys = {"max": x.max(axis=1), "sum": x.sum(axis=1), "sumsq": (x ** 2).sum(axis=1),
            "prod": np.prod(x + 1e-9, axis=1)}
    for d in range(x.shape[1]):
        if x[:, d].any():
            keys[f"dim{d}"] = x[:, d] + 1e-6 * x.sum(axis=1)
    return {k: np.argsort(-v, kind="stable") for k, v in keys.items()}


def _new_shape(inst: Instance, i: int, rule: str) -> int:
    """Shape for a new bin opened for item i: 'cheap' = cheapest per unit of normalised capacity,
    'small' = cheapest then smallest, 'big' = largest capacity per cost."""
    ok = np.flatnonzero(inst.compat[i])
    if len(ok) == 1:
        return int(ok[0])
    cost = inst.costs[ok].astype(np.float64) + 1e-9
    volume = inst.cap_norm[ok].sum(axis=1)
    if rule == "small":
        return int(ok[np.lexsort((volume, cost))[0]])
    if rule == "big":
        return int(ok[np.argmax(volume / cost)])
    return int(ok[np.argmin(cost / volume)])


def item_centric(inst: Instance, order: np.ndarray, fit: str, rule: str) -> Packing:
    """Each item in `order` goes to an open bin: 'first' fit, 'dot' (largest dot product of item and bin
    residual, normalised), 'norm' (smallest residual norm after placing); else a new bin."""
    D = inst.sizes.shape[1]
    cap = max(inst.n_items, 1)
    res = np.zeros((cap, D), dtype=np.int64)
    bshape = np.zeros(cap, dtype=np.int64)
    items: list[list[int]] = []
    nb = 0
    for i in order.tolist():
        q = inst.sizes[i]
        if nb:
            ok = (res[:nb] >= q).all(axis=1) & inst.compat[i, bshape[:nb]]
            cand = np.flatnonzero(ok)
        else:
            cand = np.zeros(0, dtype=np.int64)
        if len(cand):
            if fit == "first":
                b = int(cand[0])
            else:
                scale = inst.caps[bshape[cand]].astype(np.float64)
                scale[scale == 0] = 1.0
                r = res[cand] / scale
                qn = q / scale
                if fit == "dot":
                    b = int(cand[np.argmax((r * qn).sum(axis=1))])
                else:
                    b = int(cand[np.argmin(((r - qn) ** 2).sum(axis=1))])
        else:
            b = nb
            s = _new_shape(inst, i, rule)
            bshape[b] = s
            res[b] = inst.caps[s]
            items.append([])
            nb += 1
        res[b] -= q
        items[b].append(i)
    return Packing(bshape[:nb].tolist(), items, f"{fit}-fit/{rule}")


def bin_centric(inst: Instance, order: np.ndarray, rule: str) -> Packing:
    """Open one bin at a time (shape chosen for the largest item left) and fill it with the fitting item of
    largest dot product with the bin's residual capacity, until nothing fits."""
    left = np.ones(inst.n_items, dtype=np.bool_)
    rank = np.empty(inst.n_items, dtype=np.int64)
    rank[order] = np.arange(inst.n_items)
    shapes, items = [], []
    while left.any():
        first = int(order[left[order]][0])
        s = _new_shape(inst, first, rule)
        res = inst.caps[s].copy()
        scale = res.astype(np.float64)
        scale[scale == 0] = 1.0
        members = []
        while True:
            cand = np.flatnonzero(left & inst.compat[:, s] & (inst.sizes <= res).all(axis=1))
            if not len(cand):
                break
            score = ((inst.sizes[cand] / scale) * (res / scale)).sum(axis=1) - 1e-9 * rank[cand]
            i = int(cand[np.argmax(score)])
            members.append(i)
            left[i] = False
            res -= inst.sizes[i]
        shapes.append(s)
        items.append(members)
    return Packing(shapes, items, f"bin-dot/{rule}")


def downsize(inst: Instance, p: Packing) -> Packing:
    """Give every bin the cheapest shape its items are all compatible with and fit into."""
    if len(inst.caps) == 1:
        return p               # one shape: nothing to choose (and this is a large share of the greedy time)
    shapes = []
    for s, members in zip(p.shape, p.items):
        load = inst.sizes[members].sum(axis=0)
        ok = inst.compat[members].all(axis=0) & (inst.caps >= load).all(axis=1)
        ok[s] = True
        cand = np.flatnonzero(ok)
        cheapest = int(cand[np.argmin(inst.costs[cand])])
        shapes.append(s if inst.costs[s] <= inst.costs[cheapest] else cheapest)
    return Packing(shapes, p.items, p.name)


def best_heuristic(inst: Instance, collect: list | None = None) -> tuple[Packing, dict[str, int]]:
    """Run every heuristic variant; return the cheapest packing (ties: fewer bins) and all costs by name
    (every packing is appended to `collect` when given)."""
    rules = ["cheap"] if len(inst.caps) == 1 else ["cheap", "small", "big"]
    results: dict[str, int] = {}
    best = None
    for oname, order in orders(inst).items():
        for rule in rules:
            runs = [item_centric(inst, order, f, rule) for f in ("first", "dot", "norm")]
            runs.append(bin_centric(inst, order, rule))
            for p in runs:
                p = downsize(inst, p)
                p.name = f"{p.name}/{oname}"
                c = p.cost(inst.costs)
                results[p.name] = c
                if collect is not None:
                    collect.append(p)
                if best is None or (c, len(p.shape)) < (best.cost(inst.costs), len(best.shape)):
                    best = p
    return best, results


def ffd(inst: Instance) -> Packing:
    """Plain first-fit decreasing by the largest normalised dimension (the classic baseline)."""
    return downsize(inst, item_centric(inst, orders(inst)["max"], "first", "cheap"))


def lower_bound(inst: Instance) -> tuple[int, list[int]]:
    """A proven lower bound on the cost and the clique behind it: cost-weighted volume per dimension, a
    clique of pairwise incompatible items (each needs its own bin); for a single shape also Martello-Toth
    L2 and a cardinality bound on every dimension and on surrogate sums of dimensions."""
    if not inst.n_items:
        return 0, []
    costs = inst.costs.astype(np.float64)
    lb = 0
    for d in range(inst.sizes.shape[1]):
        total = int(inst.sizes[:, d].sum())
        has = inst.caps[:, d] > 0
        if not total or not has.any():
            continue
        per_unit = (costs[has] / inst.caps[has, d]).min()
        lb = max(lb, math.ceil(total * per_unit - 1e-9))
    # Clique: items i, j conflict when they share no shape or exceed every common shape in some dimension.
    min_cost = np.where(inst.compat, inst.costs[None, :], np.iinfo(np.int64).max).min(axis=1)
    order = np.argsort(-inst.norm.max(axis=1), kind="stable")
    clique: list[int] = []
    for i in order.tolist():
        if all(_conflict(inst, i, j) for j in clique):
            clique.append(i)
    lb = max(lb, int(sum(int(min_cost[i]) for i in clique)))
    if len(inst.caps) == 1:
        best = 0
        for w, c in surrogates(inst.sizes, inst.caps[0]):
            best = max(best, _l2(w, c), _cardinality(w, c))
        lb = max(lb, int(inst.costs[0]) * best)
    return lb, clique


def surrogates(sizes: np.ndarray, cap: np.ndarray):
    """1-D relaxations of one bin shape: each dimension, and integer combinations of pairs of dimensions."""
    D = sizes.shape[1]
    for d in range(D):
        yield sizes[:, d], int(cap[d])
    for a in range(D):
        for b in range(a + 1, D):
            for u, v in ((1, 1), (1, 2), (2, 1), (1, 3), (3, 1)):
                yield u * sizes[:, a] + v * sizes[:, b], u * int(cap[a]) + v * int(cap[b])
    if D > 2:
        yield sizes.sum(axis=1), int(cap.sum())


def max_items_per_bin(sizes: np.ndarray, cap: np.ndarray) -> int:
    """An upper bound on how many items share one bin of capacity `cap` (smallest items first, per
    dimension and surrogate)."""
    k = len(sizes)
    for w, c in surrogates(sizes, cap):
        k = min(k, _max_count(w, c))
    return k


def _max_count(w: np.ndarray, c: int) -> int:
    return int(np.searchsorted(np.cumsum(np.sort(w)), c, side="right"))


def _cardinality(w: np.ndarray, c: int) -> int:
    k = _max_count(w, c)
    return math.ceil(len(w) / k) if k else 0


def _conflict(inst: Instance, i: int, j: int) -> bool:
    both = inst.compat[i] & inst.compat[j]
    if not both.any():
        return True
    return bool(((inst.sizes[i] + inst.sizes[j])[None, :] > inst.caps[both]).any(axis=1).all())


def _l2(w: np.ndarray, c: int) -> int:
    """Martello-Toth L2 bound for 1-D bin packing with capacity c."""
    if c <= 0:
        return 0
    w = w[w > 0]
    if not len(w):
        return 0
    best = math.ceil(int(w.sum()) / c)
    for k in np.unique(np.concatenate([[0], w[w <= c // 2]])).tolist():
        n1 = w > c - k
        n2 = (w > c / 2) & ~n1
        n3 = (w >= k) & (w <= c / 2)
        extra = int(w[n3].sum()) - (int(n2.sum()) * c - int(w[n2].sum()))
        best = max(best, int(n1.sum() + n2.sum()) + max(0, math.ceil(extra / c)))
    return best
