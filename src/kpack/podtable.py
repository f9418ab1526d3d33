"""The bound-pods table of a Cluster: columnar rows (spec, node, ordinal), one identity per namespace/name."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .models import Pod


def split_ordinal(name: str) -> tuple[str, int]:
    """("web", 3) for "web-3"; (name, -1) when the name does not end in a canonical -<int>."""
    stem, sep, tail = name.rpartition("-")
    if sep and tail.isdigit() and str(int(tail)) == tail:
        return stem, int(tail)
    return name, -1


class PodTable:
    """Rows of bound pods. A row is a spec Pod (shared by every pod of a `PodBatch` spec) plus a node and an
    ordinal: ordinal -1 means the pod is the spec itself; otherwise its name is `<spec name>-<ordinal>`, so a
    million array-scheduled pods never become a million Python objects. Rows are never reused; unbinding
    clears `alive`. Pod identity (namespace/name) is unique over alive rows of both kinds."""

    def __init__(self) -> None:
        self.specs: list[Pod] = []
        self.spec_ids: dict[int, int] = {}
        self.n = 0
        self.spec = np.zeros(16, np.int32)
        self.node = np.zeros(16, np.int32)
        self.ordinal = np.zeros(16, np.int64)
        self.alive = np.zeros(16, np.bool_)
        self.key_row: dict[str, int] = {}                      # pods that are their own spec
        # (ns, stem) -> ordinals of such pods' names "<stem>-<int>", for batch-name collisions; rows added
        # since the last read wait in `unstemmed` (indexed on demand: most calls never read it).
        self._stems: dict[tuple[str, str], set[int]] = {}
        self.unstemmed: list[int] = []
        self.groups: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}   # batch rows by spec
        self.devices: dict[int, tuple[tuple[int, int], ...]] = {}   # row -> ((device, milli), ...)
        self.spec_scans: dict[str, tuple[int, bool]] = {}   # any_spec memo: name -> (specs scanned, found)
        # One pod per distinct spec (in order of arrival) for any_spec: pods added as one group of equal
        # specs are scanned once, not once per pod.
        self.scan: list[Pod] = []

    # --- growth -------------------------------------------------------------------------------------
    def _reserve(self, extra: int) -> None:
        need = self.n + extra
        if need <= len(self.spec):
            return
        cap = max(need, 2 * len(self.spec))
        for a in ("spec", "node", "ordinal", "alive"):
            old = getattr(self, a)
            new = np.zeros(cap, old.dtype)
            new[:self.n] = old[:self.n]
            setattr(self, a, new)

    def _spec_index(self, pod: Pod) -> int:
        i = self.spec_ids.get(id(pod))
        if i is None or self.specs[i] is not pod:
            i = self.spec_ids[id(pod)] = len(self.specs)
            self.specs.append(pod)
            self.scan.append(pod)
        return i

    @property
    def stems(self) -> dict[tuple[str, str], set[int]]:
        if self.unstemmed:
            rows, self.unstemmed = self.unstemmed, []
            for r in rows:
                if self.alive[r] and self.ordinal[r] < 0:
                    p = self.specs[self.spec[r]]
                    stem, o = split_ordinal(p.name)
                    if o >= 0:
                        self._stems.setdefault((p.namespace, stem), set()).add(o)
        return self._stems

    # --- identity -----------------------------------------------------------------------------------
    def find(self, key: str) -> int:
        """Row of the alive pod with this namespace/name key, or -1."""
        r = self.key_row.get(key)
        if r is not None:
            return r
        if not self.groups:
            return -1
        ns, _, name = key.partition("/")
        stem, o = split_ordinal(name)
        if o < 0:
            return -1
        for ords, rows in self.groups.get((ns, stem), ()):
            j = int(np.searchsorted(ords, o))
            if j < len(ords) and ords[j] == o and self.alive[rows[j]]:
                return int(rows[j])
        return -1

    def find_many(self, keys: Sequence[str]) -> np.ndarray:
        """Rows of alive pods by namespace/name key (-1 where absent); batch pods are looked up per stem with
        one vectorised search per group instead of one per key."""
        out = np.full(len(keys), -1, np.int64)
        by_stem: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
        for i, key in enumerate(keys):
            r = self.key_row.get(key)
            if r is not None:
                out[i] = r
                continue
            ns, _, name = key.partition("/")
            stem, o = split_ordinal(name)
            if o >= 0:
                idx, ords = by_stem.setdefault((ns, stem), ([], []))
                idx.append(i)
                ords.append(o)
        for (ns, stem), (idx, ords) in by_stem.items():
            ia = np.asarray(idx, np.int64)
            found = self.find_ordinals(ns, stem, np.asarray(ords, np.int64))
            out[ia] = np.where(out[ia] < 0, found, out[ia])
        return out

    def find_ordinals(self, namespace: str, stem: str, ordinals: np.ndarray) -> np.ndarray:
        """Rows of the alive batch pods `<stem>-<ordinal>` in `namespace` (-1 where absent)."""
        oa = np.asarray(ordinals, np.int64)
        out = np.full(len(oa), -1, np.int64)
        for g_ords, g_rows in self.groups.get((namespace, stem), ()):
            j = np.minimum(np.searchsorted(g_ords, oa), len(g_ords) - 1)
            hit = (g_ords[j] == oa) & self.alive[g_rows[j]] & (out < 0)
            out[hit] = g_rows[j[hit]]
        if (out < 0).any() and (namespace, stem) in self.stems:
            for i in np.flatnonzero(out < 0).tolist():
                r = self.key_row.get(f"{namespace}/{stem}-{int(oa[i])}")
                if r is not None:
                    out[i] = r
        return out

    def check_new(self, pods: Sequence[Pod], keys: Optional[list[str]] = None,
                  unique: bool = False) -> Optional[str]:
        """The key of the first pod that is already bound (or repeated in `pods`), else None (`keys`: the
        pods' keys, when the caller has them; `unique`: the caller checked that they are distinct)."""
        keys = [p.key for p in pods] if keys is None else keys
        distinct = unique or len(set(keys)) == len(keys)
        if not self.groups and distinct and self.key_row.keys().isdisjoint(keys):
            return None           # the common case, checked with set operations
        seen: set[str] = set()
        for p in pods:
            k = p.key
            if k in seen or self.find(k) >= 0:
                return k
            seen.add(k)
        return None

    def check_new_batch(self, specs: Sequence[Pod], spec_index: np.ndarray, positions: np.ndarray,
                        ordinals: Optional[np.ndarray] = None) -> Optional[str]:
        """Like `check_new` for batch pods `<spec name>-<position>` (positions sorted ascending), or
        `<spec name>-<ordinals[position]>` when `ordinals` is given."""
        sidx = spec_index[positions]
        if ordinals is not None:
            positions = np.asarray(ordinals, dtype=np.int64)[positions]
        order = np.argsort(sidx, kind="stable")
        cuts = np.flatnonzero(np.diff(sidx[order])) + 1
        for grp in (np.split(order, cuts) if len(order) else []):
            sp = specs[int(sidx[grp[0]])]
            key = (sp.namespace, sp.name)
            if key not in self.stems and key not in self.groups:
                continue
            ords = positions[grp]
            taken = self.stems.get(key, set())
            wanted = set(ords.tolist()) if taken else set()
            hit = [o for o in taken if o in wanted]
            for old, rows in self.groups.get(key, ()):
                both, i_old, _ = np.intersect1d(old, ords, return_indices=True)
                live = both[self.alive[rows[i_old]]]
                if len(live):
                    hit.append(int(live[0]))
            if hit:
                return f"{sp.namespace}/{sp.name}-{min(hit)}"
        return None

    def any_spec(self, name: str, predicate) -> bool:
        """Whether `predicate` holds for any spec this table has seen (a superset of the live pods' specs),
        scanning only the specs added since the last call under the same `name` (specs are append-only)."""
        done, found = self.spec_scans.get(name, (0, False))
        if not found and done < len(self.scan):
            found = any(map(predicate, self.scan[done:]))
        self.spec_scans[name] = (len(self.scan), found)
        return found

    # --- rows ---------------------------------------------------------------------------------------
    def add(self, pods: Sequence[Pod], nodes: np.ndarray, keys: Optional[list[str]] = None,
            distinct: Optional[Sequence[Pod]] = None) -> np.ndarray:
        """Append pods that are their own spec (identity checked by the caller). Returns their rows.
        `distinct`: one pod per spec among `pods` (equal but for the name), when the caller grouped them."""
        k = len(pods)
        self._reserve(k)
        rows = np.arange(self.n, self.n + k, dtype=np.int64)
        s0 = len(self.specs)
        # Each pod object becomes a new spec (a re-bound object too: specs are a superset of the live ones).
        # They are not entered in spec_ids: a later add_batch of one of them as a batch spec appends it again
        # (_spec_index), which costs one list entry instead of one dict entry per pod here.
        self.specs.extend(pods)
        self.scan.extend(pods if distinct is None else distinct)
        self.spec[self.n:self.n + k] = np.arange(s0, s0 + k, dtype=np.int32)
        r_list = range(self.n, self.n + k)
        self.key_row.update(zip([p.key for p in pods] if keys is None else keys, r_list))
        self.unstemmed.extend(r_list)
        self.node[self.n:self.n + k] = nodes
        self.ordinal[self.n:self.n + k] = -1
        self.alive[self.n:self.n + k] = True
        self.n += k
        return rows

    def add_batch(self, specs: Sequence[Pod], spec_index: np.ndarray, positions: np.ndarray,
                  nodes: np.ndarray, ordinals: Optional[np.ndarray] = None) -> np.ndarray:
        """Append batch pods `<spec name>-<position>` (positions ascending), or
        `<spec name>-<ordinals[position]>` (ascending within each spec). Returns their rows."""
        k = len(positions)
        self._reserve(k)
        local = np.array([self._spec_index(p) for p in specs], dtype=np.int32)
        rows = np.arange(self.n, self.n + k, dtype=np.int64)
        sidx = spec_index[positions]
        if ordinals is not None:
            positions = np.asarray(ordinals, dtype=np.int64)[positions]
        self.spec[self.n:self.n + k] = local[sidx]
        self.node[self.n:self.n + k] = nodes
        self.ordinal[self.n:self.n + k] = positions
        self.alive[self.n:self.n + k] = True
        order = np.argsort(sidx, kind="stable")
        bounds = np.flatnonzero(np.diff(sidx[order])) + 1
        for grp in np.split(order, bounds) if k else []:
            sp = specs[int(sidx[grp[0]])]
            self.groups.setdefault((sp.namespace, sp.name), []).append((positions[grp].astype(np.int64),
                                                                         rows[grp]))
        self.n += k
        return rows

    def remove(self, row: int) -> None:
        self.alive[row] = False
        self.devices.pop(row, None)
        if self.ordinal[row] < 0:
            p = self.specs[self.spec[row]]
            self.key_row.pop(p.key, None)
            stem, o = split_ordinal(p.name)
            if o >= 0:
                self.stems.get((p.namespace, stem), set()).discard(o)   # (indexes pending rows first)

    def pod(self, row: int, node_name: Optional[str]) -> Pod:
        """The bound pod of `row` as a Pod object (spec.nodeName set)."""
        spec = self.specs[self.spec[row]]
        upd: dict = {"node_name": node_name}
        if self.ordinal[row] >= 0:
            upd["name"] = f"{spec.name}-{int(self.ordinal[row])}"
        return spec.model_copy(update=upd)

    def name(self, row: int) -> str:
        spec = self.specs[self.spec[row]]
        return spec.name if self.ordinal[row] < 0 else f"{spec.name}-{int(self.ordinal[row])}"

    def live_rows(self) -> np.ndarray:
        return np.flatnonzero(self.alive[:self.n])

    def rows_on(self, node: int) -> np.ndarray:
        return np.flatnonzero(self.alive[:self.n] & (self.node[:self.n] == node))

    def drop_node(self, node: int) -> None:
        """Node `node` was deleted: later node indices shift down by one (its rows must be removed first)."""
        live = self.node[:self.n]
        live[live > node] -= 1

    def compact(self) -> np.ndarray:
        """Keep only alive rows (and the specs they use), renumbered in order. Returns old -> new row."""
        live = self.live_rows()
        mapping = np.full(self.n, -1, dtype=np.int64)
        mapping[live] = np.arange(len(live))
        used, new_spec = np.unique(self.spec[live], return_inverse=True)
        specs = [self.specs[s] for s in used.tolist()]
        self.specs = specs
        self.spec_ids = {id(p): i for i, p in enumerate(specs)}
        self.spec_scans = {}
        self.scan = list(specs)
        k = len(live)
        self.spec = np.ascontiguousarray(new_spec.reshape(-1), dtype=np.int32)
        self.node = self.node[live].copy()
        self.ordinal = self.ordinal[live].copy()
        self.alive = np.ones(k, dtype=np.bool_)
        self.n = k
        self.devices = {int(mapping[r]): h for r, h in self.devices.items()}
        self.key_row = {}
        self._stems = {}
        self.groups = {}
        own = np.flatnonzero(self.ordinal < 0).tolist()
        for r in own:
            self.key_row[specs[self.spec[r]].key] = r
        self.unstemmed = own
        batch = np.flatnonzero(self.ordinal >= 0)
        if len(batch):
            order = batch[np.lexsort((self.ordinal[batch], self.spec[batch]))]
            bounds = np.flatnonzero(np.diff(self.spec[order])) + 1
            for grp in np.split(order, bounds):
                sp = specs[int(self.spec[grp[0]])]
                self.groups.setdefault((sp.namespace, sp.name), []).append(
                    (self.ordinal[grp].astype(np.int64), grp.astype(np.int64)))
        if k < 16:
            self._reserve(16 - k)
        return mapping

    def copy(self) -> "PodTable":
        t = PodTable.__new__(PodTable)
        t.specs = list(self.specs)
        t.spec_ids = dict(self.spec_ids)
        t.n = self.n
        for a in ("spec", "node", "ordinal", "alive"):
            setattr(t, a, getattr(self, a).copy())
        t.key_row = dict(self.key_row)
        t._stems = {k: set(v) for k, v in self.stems.items()}
        t.unstemmed = []
        t.groups = {k: list(v) for k, v in self.groups.items()}   # the arrays inside are never written
        t.devices = dict(self.devices)
        t.spec_scans = dict(self.spec_scans)
        t.scan = list(self.scan)
        return t
