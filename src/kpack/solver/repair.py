"""A fast repair heuristic for the fallback model (pod groups x nodes): re-pack the batch best-fit
decreasing, then free room for pods still pending by moving a few running pods. Its answer is the CP-SAT
hint and stands in for CP-SAT when CP-SAT finds nothing better in time."""
from __future__ import annotations

import numpy as np


class Repair:
    """Counts per (group, node) over the model's feasible pairs; `cap` [N, C] is what the model's pods
    may use on each node in the checked columns `cols`."""

    def __init__(self, groups, cap: np.ndarray, cols: list[int], weights: dict[int, int], skip_gpu: bool):
        self.groups = groups
        self.cols = cols
        self.cap = cap[:, cols].astype(np.int64)
        self.scale = np.maximum(self.cap.max(axis=0), 1).astype(np.float64)
        self.w = weights
        # Groups the heuristic leaves where greedy put them (GPU groups when devices are tracked).
        self.frozen = [bool(skip_gpu and t.k) for t in groups]
        self.q = [t.q[cols].astype(np.int64) for t in groups]
        self.nodes = [np.array(sorted(t.y), dtype=np.int64) for t in groups]
        self.cnt = [dict(t.origin) for t in groups]
        self.moved_out = [dict() for _ in groups]
        self.moved_in = [dict() for _ in groups]
        self.load = np.zeros_like(self.cap)
        for j, t in enumerate(groups):
            for n, c in t.origin.items():
                self.load[n] += c * self.q[j]

    def placed(self, j: int) -> int:
        return sum(self.cnt[j].values())

    def score(self) -> int:
        return sum(self.w[t.priority] * self.placed(j) for j, t in enumerate(self.groups) if not t.running)

    def moves(self) -> int:
        return sum(sum(m.values()) for m in self.moved_out)

    def _best_fit(self, j: int, exclude: int = -1) -> int:
        nodes = self.nodes[j]
        if not len(nodes):
            return -1
        left = self.cap[nodes] - self.load[nodes] - self.q[j]
        ok = (left >= 0).all(axis=1)
        if exclude >= 0:
            ok &= nodes != exclude
        if not ok.any():
            return -1
        waste = (left / self.scale).sum(axis=1)
        waste[~ok] = np.inf
        return int(nodes[np.argmin(waste)])

    def _fits(self, j: int, n: int) -> int:
        q = self.q[j]
        pos = q > 0
        if not pos.any():
            return len(self.groups[j].members)
        return int(((self.cap[n] - self.load[n])[pos] // q[pos]).min())

    def _add(self, j: int, n: int, k: int = 1) -> None:
        self.cnt[j][n] = self.cnt[j].get(n, 0) + k
        self.load[n] += k * self.q[j]

    def repack(self) -> None:
        """Best-fit decreasing of the whole batch (priority first, then size); kept only if every pod greedy
        placed is placed again and the weighted count improves."""
        batch = [j for j, t in enumerate(self.groups) if not t.running and not self.frozen[j]]
        if not batch:
            return
        saved = ([dict(c) for c in self.cnt], self.load.copy(), self.score())
        for j in batch:
            for n, c in self.cnt[j].items():
                self.load[n] -= c * self.q[j]
            self.cnt[j] = {}
        order = sorted(batch, key=lambda j: (-self.groups[j].priority, -(self.q[j] / self.scale).max()))
        for j in order:
            left = len(self.groups[j].members)
            while left > 0:
                n = self._best_fit(j)
                if n < 0:
                    break
                # Best fit keeps choosing n while the next pod fits there (its waste only shrinks).
                k = min(left, self._fits(j, n))
                self._add(j, n, k)
                left -= k
        ok = all(self.placed(j) >= sum(self.groups[j].origin.values()) for j in batch)
        if not ok or self.score() <= saved[2]:
            self.cnt, self.load = saved[0], saved[1]

    def defrag(self, max_moves: int, candidates: int = 8) -> None:
        """For each batch pod still pending (priority first, largest first): on the candidate nodes with the
        smallest shortfall, evict running pods (largest first, each at most once) until it fits, re-place them
        best-fit elsewhere; take the node needing the fewest moves while the budget lasts."""
        running = [j for j, t in enumerate(self.groups) if t.running]
        if not running or max_moves <= 0:
            return
        pend = [j for j, t in enumerate(self.groups) if not t.running and not self.frozen[j]]
        pend.sort(key=lambda j: (-self.groups[j].priority, -(self.q[j] / self.scale).max()))
        for j in pend:
            while self.placed(j) < len(self.groups[j].members) and self.moves() < max_moves:
                if not self._free_room(j, max_moves - self.moves(), candidates):
                    break

    def _free_room(self, j: int, budget: int, candidates: int) -> bool:
        nodes = self.nodes[j]
        if not len(nodes):
            return False
        short = np.maximum(self.load[nodes] + self.q[j] - self.cap[nodes], 0)
        rank = np.argsort((short / self.scale).sum(axis=1), kind="stable")[:candidates]
        best = None
        for n in nodes[rank].tolist():
            plan = self._evictions(j, n, budget if best is None else min(budget, len(best[1]) - 1))
            if plan is not None and (best is None or len(plan) < len(best[1])):
                best = (n, plan)
        if best is None:
            return False
        n, plan = best
        for g, dst in plan:
            self.cnt[g][n] -= 1
            self.load[n] -= self.q[g]
            self.moved_out[g][n] = self.moved_out[g].get(n, 0) + 1
            self._add(g, dst)
            self.moved_in[g][dst] = self.moved_in[g].get(dst, 0) + 1
        self._add(j, n)
        return True

    def _evictions(self, j: int, n: int, budget: int):
        """Running pods to move off node n (group, destination) so that one pod of group j fits; None if it
        takes more than `budget` moves or the evicted pods find no room."""
        need = self.load[n] + self.q[j] - self.cap[n]
        if (need <= 0).all():
            return []
        movable = []
        for g in range(len(self.groups)):
            if not self.groups[g].running:
                continue
            k = min(self.cnt[g].get(n, 0), self.groups[g].origin.get(n, 0) - self.moved_out[g].get(n, 0))
            movable += [g] * max(k, 0)
        movable.sort(key=lambda g: -(np.maximum(self.q[g], 0) * (need > 0) / self.scale).sum())
        plan, saved_load = [], self.load.copy()
        for g in movable:
            if (need <= 0).all():
                break
            if len(plan) >= budget or not (self.q[g][need > 0] > 0).any():
                continue
            self.load[n] -= self.q[g]
            dst = self._best_fit(g, exclude=n)
            if dst < 0:
                self.load[n] += self.q[g]
                continue
            self.load[dst] += self.q[g]
            plan.append((g, dst))
            need = need - self.q[g]
        self.load = saved_load
        return plan if (need <= 0).all() else None


    def values(self) -> tuple[list[dict], list[dict]]:
        """(counts per group and node, staying running pods per group and node)."""
        stay = []
        for j, t in enumerate(self.groups):
            out = {n: c - self.moved_out[j].get(n, 0) for n, c in t.origin.items()}
            stay.append(out if t.running else {})
        return [dict(c) for c in self.cnt], stay
