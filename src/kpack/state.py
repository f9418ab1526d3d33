"""ClusterState: nodes as rows of columnar int64 arrays, labels and taints as integer codes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from .models import GPU_RESOURCE, Node, Pod, Taint, quantities
from .podtable import PodTable
from .resources import BASE_RESOURCES, COL_PODS, MAX_RESOURCE_COLUMNS

EFFECT_CODE = {"NoSchedule": 0, "PreferNoSchedule": 1, "NoExecute": 2}
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class ClusterError(ValueError):
    """Invalid cluster input (duplicate node, pod bound to a missing node, ...)."""


GPU_TAGS = 9   # GpuClustering tags: [0] GPU-sharing pods, [k] pods with k whole GPUs (k >= 8 in [8])


def device_table(gpu_alloc: np.ndarray) -> np.ndarray:
    """int32 [N, max devices]: 1000 free milli-GPU on each of a node's devices, 0 on padding columns."""
    width = int(gpu_alloc.max()) if len(gpu_alloc) else 0
    free = np.zeros((len(gpu_alloc), width), dtype=np.int32)
    free[np.arange(width)[None, :] < gpu_alloc[:, None]] = 1000
    return free


def _check_width(columns: int) -> None:
    if columns > MAX_RESOURCE_COLUMNS:
        raise ClusterError(f"{columns} distinct resource names: kpack supports at most "
                           f"{MAX_RESOURCE_COLUMNS} resource columns "
                           f"({MAX_RESOURCE_COLUMNS - len(BASE_RESOURCES)} besides cpu, memory, "
                           "ephemeral-storage and pods)")


REGION_KEYS = ("failure-domain.beta.kubernetes.io/region", "topology.kubernetes.io/region")
ZONE_KEYS = ("failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/zone")


def assign_devices(free_row: np.ndarray, count: int, milli: int) -> bool:
    """Reserve devices for a bound pod (best-fit device for a share, lowest-index free devices otherwise)."""
    if milli < 1000:
        fits = np.flatnonzero(free_row >= milli)
        if not len(fits):
            return False
        d = fits[np.argmin(free_row[fits])]
        free_row[d] -= milli
        return True
    full = np.flatnonzero(free_row == 1000)[:count]
    if len(full) < count:
        return False
    free_row[full] = 0
    return True


class Cluster:
    """Columnar cluster state, and the only writer of it.

    allocatable/requested are int64 [N, R]; `nonzero_requested` [N, 2] holds the cpu/memory totals with
    upstream's non-zero defaults (scoring only). requested[:, pods] counts bound pods.
    Labels: `label_keys` vocabulary and `label_codes` int32 [N, K] (-1 = absent) into `label_values`.
    Taints: `taints` table (unique key/value/effect) and `node_taints` int32 [N, T] (-1 padded, node order).
    Bound pods live in a `PodTable` (rows, identity by namespace/name, the GPU devices each pod holds).
    `generation` is bumped by every change; `node_generation` only by changes that can alter a static
    filter or score (nodes, labels, taints, cordons, resource columns), so compiled classes survive binds.
    """

    def __init__(self, nodes: Iterable[Node], pods: Iterable[Pod] = (), objects: Optional[Iterable] = None):
        nodes = list(nodes)
        pods = list(pods)
        for i, n in enumerate(nodes):
            if not isinstance(n, Node):
                raise ClusterError(f"nodes[{i}]: expected kpack.Node, got {type(n).__name__}")
        names = [n.name for n in nodes]
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise ClusterError(f"duplicate node name {n!r}")
            seen.add(n)
        extra = sorted({r for n in nodes for r in n.allocatable} - set(BASE_RESOURCES))
        _check_width(len(BASE_RESOURCES) + len(extra))
        self.resource_names: list[str] = list(BASE_RESOURCES) + extra
        self.resource_index: dict[str, int] = {r: i for i, r in enumerate(self.resource_names)}
        N, R = len(nodes), len(self.resource_names)
        self.requested = np.zeros((N, R), dtype=np.int64)
        self.nonzero_requested = np.zeros((N, 2), dtype=np.int64)
        self.gpu_tags = np.zeros((N, GPU_TAGS), dtype=np.int64)   # GpuClustering: GPU pods per kind
        self.table = PodTable()
        self.objects: dict[tuple[str, str, str], Any] = {}
        self.generation = 0
        self.node_generation = 0
        self._set_nodes(nodes)
        self._order_init()
        for o in objects or ():
            self.add_object(o)
        if pods:
            for i, p in enumerate(pods):
                if not isinstance(p, Pod):
                    raise ClusterError(f"pods[{i}]: expected kpack.Pod, got {type(p).__name__}")
            unbound = [p.name for p in pods if not p.node_name]
            if unbound:
                raise ClusterError(f"pod {unbound[0]!r}: spec.nodeName is required for pods passed to "
                                   "Cluster (unbound pods go to Scheduler.schedule)")
            idx = []
            for p in pods:
                if p.node_name not in self.node_index:
                    raise ClusterError(f"pod {p.name!r}: spec.nodeName {p.node_name!r} "
                                       "is not a node of this cluster")
                idx.append(self.node_index[p.node_name])
            self.bind_many(pods, np.asarray(idx, dtype=np.int32))

    # --- encoding -----------------------------------------------------------------------------------
    def _set_nodes(self, nodes: list[Node]) -> None:
        """(Re)build every per-node array except requested/nonzero_requested/gpu_tags from Node objects."""
        self._nodes: Sequence[Node] = nodes
        self.node_names: list[str] = [n.name for n in nodes]
        self.node_index: dict[str, int] = {n: i for i, n in enumerate(self.node_names)}
        N = len(nodes)
        self.allocatable = np.zeros((N, len(self.resource_names)), dtype=np.int64)
        for i, n in enumerate(nodes):
            for r, v in n.allocatable.items():
                self.allocatable[i, self.resource_index[r]] = v
        self.unschedulable = np.array([n.unschedulable for n in nodes], dtype=np.bool_)
        self._encode_labels()
        self._encode_taints()
        self._rebuild_devices()

    def _rebuild_devices(self) -> None:
        """GPU devices (nvidia.com/gpu) with free milli-GPU per device, less what bound pods hold."""
        gi = self.resource_index.get(GPU_RESOURCE)
        N = len(self.node_names)
        self.gpu_free = device_table(self.allocatable[:, gi] if gi is not None else np.zeros(N, np.int64))
        t = self.table
        for row, held in list(t.devices.items()):
            n = int(t.node[row])
            kept = tuple((d, m) for d, m in held if d < self.gpu_free.shape[1] and self.gpu_free[n, d] >= m)
            for d, m in kept:
                self.gpu_free[n, d] -= m
            if kept:
                t.devices[row] = kept
            else:
                del t.devices[row]   # the node lost those devices: the pod stays bound, holding none

    def _encode_labels(self) -> None:
        nodes = self._nodes
        keys = sorted({k for n in nodes for k in n.labels})
        self.label_keys: list[str] = keys
        self.label_key_index = {k: i for i, k in enumerate(keys)}
        values: dict[str, int] = {}
        codes = np.full((len(nodes), len(keys)), -1, dtype=np.int32)
        for i, n in enumerate(nodes):
            for k, v in n.labels.items():
                codes[i, self.label_key_index[k]] = values.setdefault(v, len(values))
        self.label_values: list[str] = list(values)
        self.label_value_index = values
        self.label_codes = codes

    def _encode_taints(self) -> None:
        nodes = self._nodes
        table: dict[tuple[str, str, str], int] = {}
        width = max((len(n.taints) for n in nodes), default=0)
        node_taints = np.full((len(nodes), width), -1, dtype=np.int32)
        for i, n in enumerate(nodes):
            for j, t in enumerate(n.taints):
                node_taints[i, j] = table.setdefault((t.key, t.value, t.effect), len(table))
        self.taints: list[Taint] = [Taint(key=k, value=v, effect=e) for (k, v, e) in table]
        self.taint_effect = np.array([EFFECT_CODE[t.effect] for t in self.taints], dtype=np.int8)
        self.node_taints = node_taints

    def _touch(self, nodes_changed: bool) -> None:
        self.generation += 1
        if nodes_changed:
            self.node_generation += 1

    # --- node order (kube-scheduler's node tree) ---------------------------------------------------
    def zone_keys(self) -> list[str]:
        """Each node's zone key as upstream utilnode.GetZoneKey: region + ":\\x00:" + zone (the beta
        failure-domain labels when present, else the topology.kubernetes.io ones), "" when both are empty."""
        keys, idx = self.zone_key_ids()
        return [keys[i] for i in idx.tolist()]

    def zone_key_ids(self) -> tuple[list[str], np.ndarray]:
        """(distinct zone key strings, index into them per node): zone_keys without a string per node."""
        n = len(self.node_names)

        def first(keys: tuple[str, ...]) -> np.ndarray:
            out = np.full(n, -1, dtype=np.int64)
            for k in keys:
                col = self.label_key_index.get(k)
                if col is not None:
                    codes = self.label_codes[:, col]
                    take = (out < 0) & (codes >= 0)      # present (even if empty) wins, as upstream
                    out[take] = codes[take]
            return out
        region, zone = first(REGION_KEYS), first(ZONE_KEYS)
        if (region < 0).all() and (zone < 0).all():
            return [""], np.zeros(n, dtype=np.int64)
        vals = self.label_values
        pair = (region + 1) * (len(vals) + 1) + (zone + 1)
        upair, inv = np.unique(pair, return_inverse=True)
        keys = []
        for p in upair.tolist():
            r, z = p // (len(vals) + 1) - 1, p % (len(vals) + 1) - 1
            rv, zv = (vals[r] if r >= 0 else ""), (vals[z] if z >= 0 else "")
            keys.append(rv + ":\x00:" + zv if rv or zv else "")
        return keys, inv.reshape(-1).astype(np.int64)

    def _order_init(self) -> None:
        self._node_seq = list(range(len(self.node_names)))
        self._zone_seq: dict[str, int] = {}
        keys, idx = self.zone_key_ids()
        _, first = np.unique(idx, return_index=True)
        for i in np.argsort(first, kind="stable").tolist():     # zones in order of their first node
            self._zone_seq.setdefault(keys[i], len(self._zone_seq))
        self._next_seq = len(self._node_seq) + len(self._zone_seq)
        self._order_cache: tuple = (-1, None)

    def _order_update(self, old_zones: list[str], old_seq: list[int], keep: np.ndarray) -> None:
        """After a node change: kept nodes keep their place unless their zone changed (then they move to the
        end of the new zone); new nodes go to the end of their zone; zones keep their order, new zones
        go last, emptied zones are dropped."""
        seq = []
        zkeys = self.zone_keys()
        for j, z in enumerate(zkeys):
            if j < len(keep) and z == old_zones[keep[j]]:
                seq.append(old_seq[keep[j]])
            else:
                seq.append(self._next_seq)
                self._next_seq += 1
        self._node_seq = seq
        zones = {}
        for j in sorted(range(len(seq)), key=seq.__getitem__):
            z = zkeys[j]
            if z not in zones:
                zones[z] = self._zone_seq.get(z)
                if zones[z] is None:
                    zones[z] = self._next_seq
                    self._next_seq += 1
        self._zone_seq = zones
        self._order_cache = (-1, None)

    def visit_order(self) -> Optional[np.ndarray]:
        """Node rows in kube-scheduler's visit order (zones round robin: the first node of every zone, then
        the second, ...), or None when that is the row order (one zone, or no zone labels)."""
        gen, order = self._order_cache
        if gen == self.node_generation:
            return order
        order = None
        if len(self._zone_seq) > 1:
            # Round robin over zones (in _zone_seq order), each zone's nodes in _node_seq order: sort by
            # (position within the zone, zone rank).
            keys, idx = self.zone_key_ids()
            zrank = np.array([self._zone_seq[k] for k in keys], dtype=np.int64)[idx]
            by_seq = np.argsort(np.asarray(self._node_seq, dtype=np.int64), kind="stable")
            zs = zrank[by_seq]
            grouped = np.argsort(zs, kind="stable")
            gz = zs[grouped]
            starts = np.flatnonzero(np.r_[True, gz[1:] != gz[:-1]])
            pos = np.empty(len(zs), dtype=np.int64)
            pos[grouped] = np.arange(len(zs)) - np.repeat(starts, np.diff(np.r_[starts, len(zs)]))
            arr = by_seq[np.lexsort((zs, pos))]
            order = None if np.array_equal(arr, np.arange(len(arr))) else arr
        self._order_cache = (self.node_generation, order)
        return order

    def permuted(self, order: np.ndarray) -> "Cluster":
        """A working copy whose node rows are in `order` (see `visit_order`); `unpermute` maps it back."""
        w = self.working(private=False)
        for a in ("requested", "nonzero_requested", "gpu_free", "gpu_tags"):
            setattr(w, a, np.ascontiguousarray(getattr(self, a)[order]))
        # What only node changes alter is permuted once per node generation and order (shared read-only).
        static = getattr(self, "_permuted_static", None)
        if static is None or static[0] != self.node_generation or static[1] is not order:
            arrays = {a: np.ascontiguousarray(getattr(self, a)[order])
                      for a in ("allocatable", "unschedulable", "label_codes", "node_taints")}
            names = [self.node_names[i] for i in order.tolist()]
            static = self._permuted_static = (self.node_generation, order, arrays, names,
                                              {n: i for i, n in enumerate(names)})
        for a, v in static[2].items():
            setattr(w, a, v)
        w.node_names, w.node_index = static[3], static[4]
        # Lazily built node lists (array-built clusters) stay lazy: they read the permuted arrays.
        w._nodes = ([self._nodes[i] for i in order.tolist()] if isinstance(self._nodes, list)
                    else self._nodes.rebind(w))
        return w

    def unpermute(self, work: "Cluster", order: np.ndarray) -> "Cluster":
        """A working copy in row order holding what `work` (from `permuted(order)`) placed."""
        w = self.working()
        for a in ("requested", "nonzero_requested", "gpu_free", "gpu_tags"):
            getattr(w, a)[order] = getattr(work, a)
        return w

    # --- node changes -------------------------------------------------------------------------------
    def _node_row(self, name: str) -> int:
        i = self.node_index.get(name) if isinstance(name, str) else None
        if i is None:
            raise ClusterError(f"node {name!r}: not a node of this cluster")
        return i

    def add_node(self, node: Node) -> None:
        """Add a new node (its name must be new)."""
        if not isinstance(node, Node):
            raise ClusterError(f"node: expected kpack.Node, got {type(node).__name__}")
        if node.name in self.node_index:
            raise ClusterError(f"node {node.name!r}: already exists (use update_node)")
        if self._add_row(node):
            self._touch(True)
            return
        self._replace_nodes(list(self._nodes) + [node], keep=np.arange(len(self.node_names)))

    def _add_row(self, node: Node) -> bool:
        """Append node as a new row without re-encoding the others: an empty row is added, then
        `_update_row` encodes it. False (nothing changed) when a full re-encode is needed (see there)."""
        if not isinstance(self._nodes, list) or not len(self.node_names):
            return False
        if len(node.taints) > self.node_taints.shape[1]:
            return False
        if any(k not in self.label_key_index for k in node.labels):
            return False
        if any(r not in self.resource_index for r in node.allocatable):
            return False
        gi = self.resource_index.get(GPU_RESOURCE)
        gpus = node.allocatable.get(GPU_RESOURCE, 0)
        if gpus > self.gpu_free.shape[1]:
            return False
        state = {a: self.__dict__[a] for a in ("allocatable", "requested", "nonzero_requested", "gpu_tags",
                                               "gpu_free", "unschedulable", "label_codes", "node_taints")}
        grown = {a: np.concatenate([v, np.zeros((1,) + v.shape[1:], v.dtype)]) for a, v in state.items()}
        grown["label_codes"][-1] = -1
        grown["node_taints"][-1] = -1
        if gi is not None:
            grown["gpu_free"][-1, :gpus] = 1000
        blank = Node(name=node.name, allocatable={GPU_RESOURCE: gpus} if gpus else {})
        names = self.node_names + [node.name]
        self.__dict__.update(grown, node_names=names, _nodes=self._nodes + [blank],
                             node_index={**self.node_index, node.name: len(names) - 1})
        self._update_row(len(names) - 1, node, zone_checked=True)   # cannot refuse: checked above
        z = self.zone_key_of(node)      # node tree: a new node goes last in its zone, a new zone last
        self._node_seq = self._node_seq + [self._next_seq]
        self._next_seq += 1
        if z not in self._zone_seq:
            self._zone_seq = {**self._zone_seq, z: self._next_seq}
            self._next_seq += 1
        self._order_cache = (-1, None)
        return True

    @staticmethod
    def zone_key_of(node: Node) -> str:
        """`zone_keys` for one node, from its labels."""
        def first(keys: tuple[str, ...]) -> str:
            for k in keys:
                if k in node.labels:
                    return node.labels[k]
            return ""
        rv, zv = first(REGION_KEYS), first(ZONE_KEYS)
        return rv + ":\x00:" + zv if rv or zv else ""

    def update_node(self, node: Node) -> None:
        """Replace a node's labels, taints, allocatable and cordon flag. Bound pods stay bound, even if they
        no longer fit (as upstream: the scheduler never evicts)."""
        if not isinstance(node, Node):
            raise ClusterError(f"node: expected kpack.Node, got {type(node).__name__}")
        i = self._node_row(node.name)
        if self._update_row(i, node):
            self._touch(True)
            return
        nodes = list(self._nodes)
        nodes[i] = node
        self._replace_nodes(nodes, keep=np.arange(len(nodes)))

    def _update_row(self, i: int, node: Node, zone_checked: bool = False) -> bool:
        """Re-encode node row i in O(labels + taints + resources) instead of every node; False (nothing
        changed) when only a full re-encode can do it: a new label key or resource name, more taints than
        the taint table is wide, another GPU count, another zone, or an array-built (lazy) node list.
        Changed arrays are replaced, never written in place: working views and copies keep what they saw."""
        old = self._nodes[i] if isinstance(self._nodes, list) else None
        if old is None:
            return False
        moved = any(node.labels.get(k) != old.labels.get(k) for k in REGION_KEYS + ZONE_KEYS)
        if moved and not zone_checked:
            return False                      # the node moves in the zone round robin: the full path does it
        ri, ki = self.resource_index, self.label_key_index
        if any(r not in ri for r in node.allocatable) or any(k not in ki for k in node.labels):
            return False
        if len(node.taints) > self.node_taints.shape[1]:
            return False
        if node.allocatable.get(GPU_RESOURCE, 0) != old.allocatable.get(GPU_RESOURCE, 0):
            return False
        alloc = self.allocatable.copy()
        alloc[i] = 0
        for r, v in node.allocatable.items():
            alloc[i, ri[r]] = v
        values, value_index = self.label_values, self.label_value_index
        fresh = [v for v in dict.fromkeys(node.labels.values()) if v not in value_index]
        if fresh:                              # new codes are appended: existing codes keep their meaning
            values, value_index = values + fresh, dict(value_index)
            value_index.update((v, len(self.label_values) + j) for j, v in enumerate(fresh))
        codes = self.label_codes.copy()
        codes[i] = -1
        for k, v in node.labels.items():
            codes[i, ki[k]] = value_index[v]
        taints, effects = self.taints, self.taint_effect
        known = {(t.key, t.value, t.effect): j for j, t in enumerate(taints)}
        new_taints = [t for t in node.taints if (t.key, t.value, t.effect) not in known]
        if new_taints:
            taints = taints + [Taint(key=t.key, value=t.value, effect=t.effect) for t in new_taints]
            effects = np.concatenate([effects, np.array([EFFECT_CODE[t.effect] for t in new_taints],
                                                        dtype=np.int8)])
            known.update(((t.key, t.value, t.effect), len(self.taints) + j) for j, t in enumerate(new_taints))
        node_taints = self.node_taints.copy()
        node_taints[i] = -1
        for j, t in enumerate(node.taints):
            node_taints[i, j] = known[(t.key, t.value, t.effect)]
        unschedulable = self.unschedulable.copy()
        unschedulable[i] = node.unschedulable
        nodes = list(self._nodes)
        nodes[i] = node
        self.__dict__.update(allocatable=alloc, label_values=values, label_value_index=value_index,
                             label_codes=codes, taints=taints, taint_effect=effects, node_taints=node_taints,
                             unschedulable=unschedulable, _nodes=nodes)
        return True

    def cordon(self, name: str) -> None:
        i = self._node_row(name)
        self.update_node(self._nodes[i].model_copy(update={"unschedulable": True}))

    def uncordon(self, name: str) -> None:
        i = self._node_row(name)
        self.update_node(self._nodes[i].model_copy(update={"unschedulable": False}))

    def remove_node(self, name: str) -> list[Pod]:
        """Delete a node. Returns the pods that were bound there, now unbound (spec.nodeName cleared)."""
        i = self._node_row(name)
        rows = self.table.rows_on(i)
        freed = [self.table.pod(int(r), None) for r in rows]
        for r in rows.tolist():
            self.table.remove(r)
        self.table.drop_node(i)
        if self._delete_row(i):
            self._touch(True)
            return freed
        keep = np.delete(np.arange(len(self.node_names)), i)
        nodes = [n for j, n in enumerate(self._nodes) if j != i]
        self.requested[i] = 0
        self.nonzero_requested[i] = 0
        self._replace_nodes(nodes, keep=keep)
        return freed

    def _delete_row(self, i: int) -> bool:
        """Drop node row i (its pods already unbound) without re-encoding the other rows; False (nothing
        changed) for an array-built (lazy) node list."""
        if not isinstance(self._nodes, list):
            return False
        zone = self.zone_key_of(self._nodes[i])
        rows = {a: np.delete(self.__dict__[a], i, axis=0)
                for a in ("allocatable", "requested", "nonzero_requested", "gpu_tags", "gpu_free",
                          "unschedulable", "label_codes", "node_taints")}
        gi = self.resource_index.get(GPU_RESOURCE)
        width = int(rows["allocatable"][:, gi].max()) if gi is not None and len(rows["allocatable"]) else 0
        rows["gpu_free"] = np.ascontiguousarray(rows["gpu_free"][:, :width])   # as device_table sizes it
        names = self.node_names[:i] + self.node_names[i + 1:]
        self.__dict__.update(rows, node_names=names, node_index={n: j for j, n in enumerate(names)},
                             _nodes=self._nodes[:i] + self._nodes[i + 1:],
                             _node_seq=self._node_seq[:i] + self._node_seq[i + 1:])
        if zone not in self.zone_keys():       # node tree: an emptied zone leaves the round robin
            self._zone_seq = {z: q for z, q in self._zone_seq.items() if z != zone}
        self._order_cache = (-1, None)
        return True

    def _replace_nodes(self, nodes: list[Node], keep: np.ndarray) -> None:
        """New node list; row j of the kept state moves from old row keep[j]. All-or-nothing."""
        extra = sorted({r for n in nodes for r in n.allocatable} - set(self.resource_index))
        _check_width(len(self.resource_names) + len(extra))
        snapshot = dict(self.__dict__)
        try:
            if extra:
                self.ensure_resources(extra)
            N = len(nodes)
            moved = {}
            for a, width in (("requested", len(self.resource_names)), ("nonzero_requested", 2),
                             ("gpu_tags", GPU_TAGS)):
                old = getattr(self, a)
                new = np.zeros((N, width), dtype=old.dtype)
                new[:len(keep)] = old[keep]
                moved[a] = new
            self.__dict__.update(moved)
            old_zones, old_seq = self.zone_keys(), self._node_seq
            self._set_nodes(nodes)
            self._order_update(old_zones, old_seq, keep)
        except Exception:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise
        self._touch(True)

    # --- pod changes --------------------------------------------------------------------------------
    def _unit_vectors(self, pods: Sequence[Pod]) -> tuple[np.ndarray, np.ndarray]:
        missing = {r for p in pods for r in p.requests} - set(self.resource_index)
        if missing:
            self.ensure_resources(missing)
        return self.pod_vectors(pods)

    def bind(self, pod: Pod, node_name: str, *, force: bool = False, devices=None) -> None:
        """Bind one pending pod to a node. Refuses a pod that is already bound (by namespace/name), and one
        that does not fit (resources, pod count, GPU devices) unless `force` (a fact, as bound pods are).
        `devices` (GPU pods only): the device indices the pod takes on that node, one for a GPU-sharing
        pod, `gpu_count` distinct ones for whole GPUs; each must exist and have room (checked even with
        `force`). Without it the usual rule picks them (best-fit share, lowest-index free devices).

        The round-1 form `bind(pods, node_index_array)` still works and means `bind_many`."""
        if isinstance(pod, (list, tuple)) and not isinstance(node_name, str):
            self.bind_many(pod, node_name)
            return
        if not isinstance(pod, Pod):
            raise ClusterError(f"pod: expected kpack.Pod, got {type(pod).__name__}")
        n = self._node_row(node_name)
        if self.table.find(pod.key) >= 0:
            raise ClusterError(f"pod {pod.key!r}: already bound to node {self.node_of(pod.key)!r}")
        held = None if devices is None else self._explicit_devices(pod, n, devices)
        if not force:
            why = self.misfit(pod, n)
            if why:
                raise ClusterError(f"pod {pod.key!r} does not fit node {node_name!r}: {why}")
        self._commit([pod], np.array([n], dtype=np.int32), None, None if held is None else [held])

    def _explicit_devices(self, pod: Pod, n: int, devices) -> tuple:
        """Validate an explicit device list for `pod` on node row `n`; returns the (device, milli) pairs."""
        node = self.node_names[n]
        if not pod.gpu_count:
            raise ClusterError(f"devices: pod {pod.key!r} requests no {GPU_RESOURCE}; "
                               f"got devices={devices!r}")
        if isinstance(devices, (str, bytes)) or not hasattr(devices, "__iter__"):
            raise ClusterError(f"devices: expected a list of device indices, got {devices!r}")
        devs = list(devices)
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in devs):
            raise ClusterError(f"devices: expected integer device indices, got {devices!r}")
        g = pod.gpu_per_device
        want = 1 if g < 1000 else pod.gpu_count
        if len(devs) != want or len(set(devs)) != len(devs):
            raise ClusterError(f"devices: pod {pod.key!r} needs {want} distinct device(s) "
                               f"({pod.gpu_count} x {g} milli), got {devices!r}")
        gi = self.resource_index.get(GPU_RESOURCE)
        count = int(self.allocatable[n, gi]) if gi is not None else 0
        for d in devs:
            if not 0 <= int(d) < count:
                raise ClusterError(f"devices: device {int(d)} does not exist on node {node!r} "
                                   f"({count} device(s))")
            free = int(self.gpu_free[n, int(d)])
            if free < g:
                raise ClusterError(f"devices: device {int(d)} on node {node!r} has {free} milli free, "
                                   f"pod {pod.key!r} needs {g}")
        return tuple((int(d), g) for d in devs)

    def misfit(self, pod: Pod, n: int) -> Optional[str]:
        """Why `pod` does not fit node row `n` (resources, pods, GPU devices), or None."""
        need = {r: v for r, v in pod.requests.items() if v}
        if pod.gpu_count:
            # devices decide, as in the device-aware filter (sharing pods count 1 each)
            need.pop(GPU_RESOURCE)
        for r, v in need.items():
            c = self.resource_index.get(r)
            have = 0 if c is None else int(self.allocatable[n, c] - self.requested[n, c])
            if v > have:
                return f"Insufficient {r}"
        if self.requested[n, COL_PODS] + 1 > self.allocatable[n, COL_PODS]:
            return "Too many pods"
        if pod.gpu_count:
            row = self.gpu_free[n].copy() if self.gpu_free.shape[1] else np.zeros(0, np.int32)
            if not assign_devices(row, pod.gpu_count, pod.gpu_per_device):
                return f"Insufficient {GPU_RESOURCE} (no free device)"
        return None

    def bind_many(self, pods: Sequence[Pod], node_index: np.ndarray) -> None:
        """Bind pods as facts (no fit check): bound pods from manifests, Parquet, or a placement this
        cluster's own working copy computed. -1 entries are skipped. All-or-nothing."""
        node_index = np.asarray(node_index, dtype=np.int32)
        ok = node_index >= 0
        placed = [p for p, k in zip(pods, ok.tolist()) if k]
        if not placed:
            return
        dup = self.table.check_new(placed)
        if dup is not None:
            raise ClusterError(f"pod {dup!r}: already bound (pod identity is namespace/name)")
        nodes = node_index[ok]
        if len(nodes) and (nodes.max() >= len(self.node_names)):
            raise ClusterError(f"node index {int(nodes.max())} out of range")
        self._commit(placed, nodes, None, None)

    def _commit(self, placed: Sequence[Pod], nodes: np.ndarray, shared: Optional[np.ndarray],
                held: Optional[list]) -> None:
        """Add validated placements: requests, the pod table, GPU devices (see `_take_devices`)."""
        req, nz = self._unit_vectors(placed)
        np.add.at(self.requested, nodes, req)
        np.add.at(self.nonzero_requested, nodes, nz)
        rows = self.table.add(placed, nodes)
        self._take_devices(placed, nodes, rows, shared, held)
        self._touch(False)

    def _take_devices(self, pods: Sequence[Pod], nodes: np.ndarray, rows: np.ndarray,
                      shared: Optional[np.ndarray], explicit: Optional[list] = None) -> None:
        """Reserve GPU devices for newly bound pods, in order, and record which device each holds. A pod
        takes `explicit[i]` ((device, milli) pairs, validated by the caller) when given; a sharing pod
        takes `shared[i]` when given (the GPU policy's choice), else the best-fit device; whole-GPU pods
        take the lowest-index fully free devices (the rule every kernel uses). A bound pod that finds no
        free device is still bound (a fact, like over-committed cpu), holding none."""
        for i, p in enumerate(pods):
            if not p.gpu_count:
                continue
            n, g = int(nodes[i]), p.gpu_per_device
            free = self.gpu_free[n]
            if explicit is not None and explicit[i] is not None:
                held = explicit[i]
            elif g < 1000:
                d = int(shared[i]) if shared is not None and shared[i] >= 0 else -1
                if d < 0 or free[d] < g:
                    fits = np.flatnonzero(free >= g)
                    d = int(fits[np.argmin(free[fits])]) if len(fits) else -1
                held = ((d, g),) if d >= 0 else ()
            else:
                full = np.flatnonzero(free == 1000)[:p.gpu_count]
                held = tuple((int(d), 1000) for d in full) if len(full) == p.gpu_count else ()
            for d, m in held:
                free[d] -= m
            if held:
                self.table.devices[int(rows[i])] = held
            self.gpu_tags[n, 0 if g < 1000 else min(p.gpu_count, GPU_TAGS - 1)] += 1

    def unbind(self, pod_name: str) -> Pod:
        """Unbind a pod ("namespace/name", or a name in namespace default): releases its resources and the
        GPU devices it holds exactly. Returns the pod as it was bound."""
        row = self._pod_row(pod_name)
        t = self.table
        n = int(t.node[row])
        spec = t.specs[t.spec[row]]
        req, nz = self.pod_vectors([spec])
        for d, m in t.devices.get(row, ()):
            self.gpu_free[n, d] += m
        if spec.gpu_count:
            self.gpu_tags[n, 0 if spec.gpu_per_device < 1000 else min(spec.gpu_count, GPU_TAGS - 1)] -= 1
        self.requested[n] -= req[0]
        self.nonzero_requested[n] -= nz[0]
        pod = t.pod(row, self.node_names[n])
        t.remove(row)
        self._touch(False)
        return pod

    def unbind_many(self, pod_names: Sequence[str]) -> int:
        """Unbind several pods at once, as `unbind` does one (without returning them). All-or-nothing: every
        name is looked up before anything changes. Returns how many were unbound."""
        names = list(pod_names)
        for n in names:
            if not isinstance(n, str) or not n:
                raise ClusterError(f"pod name: expected 'namespace/name' or 'name', got {n!r}")
        keys = [n if "/" in n else f"default/{n}" for n in names]
        rows = self.table.find_many(keys)
        if (rows < 0).any():
            raise ClusterError(f"pod {keys[int(np.flatnonzero(rows < 0)[0])]!r}: not bound in this cluster")
        return self._release_rows(rows)

    def unbind_ordinals(self, namespace: str, stem: str, ordinals: Sequence[int]) -> int:
        """`unbind_many` for the pods `<stem>-<ordinal>` of one namespace (PodBatch-named pods), looked up
        with one vectorised search. All-or-nothing. Returns how many were unbound."""
        rows = self.table.find_ordinals(namespace, stem, np.asarray(ordinals, np.int64))
        if (rows < 0).any():
            bad = int(np.asarray(ordinals)[int(np.flatnonzero(rows < 0)[0])])
            raise ClusterError(f"pod {namespace}/{stem}-{bad!r}: not bound in this cluster")
        return self._release_rows(rows)

    def _release_rows(self, rows: np.ndarray) -> int:
        """Release bound rows' resources and devices exactly and drop them from the table."""
        if not len(rows):
            return 0
        if len(np.unique(rows)) != len(rows):
            raise ClusterError("unbind: a pod is named twice")
        t = self.table
        uniq, inv = np.unique(t.spec[rows], return_inverse=True)
        inv = inv.reshape(-1)
        specs = [t.specs[s] for s in uniq.tolist()]
        req, nz = self.pod_vectors(specs)
        nodes = t.node[rows]
        np.subtract.at(self.requested, nodes, req[inv])
        np.subtract.at(self.nonzero_requested, nodes, nz[inv])
        gpu = np.array([p.gpu_count > 0 for p in specs], np.bool_)[inv]
        for r, s, n in zip(rows[gpu].tolist(), inv[gpu].tolist(), nodes[gpu].tolist()):
            spec = specs[s]
            for d, m in t.devices.get(r, ()):
                self.gpu_free[n, d] += m
            self.gpu_tags[n, 0 if spec.gpu_per_device < 1000 else min(spec.gpu_count, GPU_TAGS - 1)] -= 1
        for r in rows.tolist():
            t.remove(r)
        self._touch(False)
        return len(rows)

    def _pod_row(self, pod_name: str) -> int:
        if not isinstance(pod_name, str) or not pod_name:
            raise ClusterError(f"pod name: expected 'namespace/name' or 'name', got {pod_name!r}")
        key = pod_name if "/" in pod_name else f"default/{pod_name}"
        row = self.table.find(key)
        if row < 0:
            raise ClusterError(f"pod {key!r}: not bound in this cluster")
        return row

    # --- batched changes for trace replay (kpack.sim, issue 11) ------------------------------------
    def unbind_rows(self, rows: np.ndarray) -> None:
        """Unbind many pods at once by pod-table row (rows as `bind`/`commit_*` appended them: a caller that
        knows `table.n` before a commit knows its pods' rows). Releases resources and GPU devices exactly
        like `unbind`; vectorised except for pods that hold GPU devices. Refuses dead or repeated rows."""
        t = self.table
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        if (rows.min() < 0 or rows.max() >= t.n or not t.alive[rows].all()
                or len(np.unique(rows)) != len(rows)):
            raise ClusterError("unbind_rows: rows must be distinct rows of bound pods")
        specs = t.specs
        sp = t.spec[rows]
        uniq, inv = np.unique(sp, return_inverse=True)
        req, nz = self.pod_vectors([specs[s] for s in uniq.tolist()])
        nodes = t.node[rows]
        np.subtract.at(self.requested, nodes, req[inv])
        np.subtract.at(self.nonzero_requested, nodes, nz[inv])
        gpu = np.array([specs[s].gpu_count > 0 for s in uniq.tolist()], dtype=np.bool_)[inv]
        for r, n, s in zip(rows[gpu].tolist(), nodes[gpu].tolist(), sp[gpu].tolist()):
            for d, m in t.devices.get(r, ()):
                self.gpu_free[n, d] += m
            g = specs[s].gpu_per_device
            self.gpu_tags[n, 0 if g < 1000 else min(specs[s].gpu_count, GPU_TAGS - 1)] -= 1
        own = t.ordinal[rows] < 0
        t.alive[rows] = False
        for r in rows[own | gpu].tolist():
            t.alive[r] = True      # remove() expects a live row (it clears the identity and devices)
            t.remove(r)
        self._touch(False)

    def set_unschedulable(self, names: Sequence[str], unschedulable: bool) -> None:
        """`cordon`/`uncordon` for many nodes without re-encoding the cluster (only the flag changes)."""
        idx = [self._node_row(n) for n in names]
        if not idx:
            return
        self.unschedulable = self.unschedulable.copy()
        self.unschedulable[idx] = unschedulable
        if isinstance(self._nodes, list):
            for i in idx:
                self._nodes[i] = self._nodes[i].model_copy(update={"unschedulable": unschedulable})
        self._touch(True)

    def compact_pods(self) -> np.ndarray:
        """Drop the rows of unbound pods from the pod table (rows are otherwise never reused, so a long
        replay would grow with every pod ever bound). Returns old row -> new row (-1: dropped)."""
        mapping = self.table.compact()
        self._touch(False)
        return mapping

    # --- objects (Namespaces, Services, ReplicaSets, ...) ------------------------------------------
    def add_object(self, obj: Any) -> None:
        """Add or replace an API object other pods' scheduling consults (kind, namespace, name)."""
        kind = getattr(obj, "kind", None) or type(obj).__name__
        name = getattr(obj, "name", None)
        if not name:
            raise ClusterError(f"object {obj!r}: has no name")
        ns = getattr(obj, "namespace", "") or ""
        if kind == "Namespace":
            ns = ""
        self.objects[(kind, ns, name)] = obj
        self._touch(True)

    def remove_object(self, kind: str, namespace: str, name: str) -> None:
        key = (kind, "" if kind == "Namespace" else (namespace or ""), name)
        if key not in self.objects:
            raise ClusterError(f"{kind} {namespace}/{name}: no such object")
        del self.objects[key]
        self._touch(True)

    # --- columns ------------------------------------------------------------------------------------
    def ensure_resources(self, names: Iterable[str]) -> None:
        """Add zero columns for resource names the cluster has not seen (a pod asking for a new one)."""
        new = sorted(set(names) - set(self.resource_index))
        if not new:
            return
        _check_width(len(self.resource_names) + len(new))
        self.resource_names = self.resource_names + new
        self.resource_index = {r: i for i, r in enumerate(self.resource_names)}
        pad = np.zeros((len(self.node_names), len(new)), dtype=np.int64)
        self.allocatable = np.ascontiguousarray(np.hstack([self.allocatable, pad]))
        self.requested = np.ascontiguousarray(np.hstack([self.requested, pad]))
        self._touch(True)

    def pod_vectors(self, pods: Sequence[Pod]) -> tuple[np.ndarray, np.ndarray]:
        """Request matrix [P, R] (pods column = 1) and non-zero cpu/memory [P, 2] for `pods`."""
        names = {r for p in pods for r in p.requests}
        if not names <= self.resource_index.keys():
            self.ensure_resources(names)
        req = np.zeros((len(pods), len(self.resource_names)), dtype=np.int64)
        nz = np.zeros((len(pods), 2), dtype=np.int64)
        ri = self.resource_index
        for i, p in enumerate(pods):
            for r, v in p.requests.items():
                req[i, ri[r]] = v
            nz[i, 0], nz[i, 1] = p.scoring_cpu, p.scoring_memory
        req[:, COL_PODS] = 1
        return req, nz

    # --- placement by the scheduler -----------------------------------------------------------------
    def working(self, private: bool = True) -> "Cluster":
        """A view for one placement run: the same nodes, with private copies of what placement writes
        (requested, nonzero_requested, gpu_free, gpu_tags). `commit_*` takes its outcome back.
        `private=False` shares those arrays (the caller undoes its writes if it does not commit)."""
        w = Cluster.__new__(Cluster)
        w.__dict__.update(self.__dict__)
        if private:
            for a in ("requested", "nonzero_requested", "gpu_free", "gpu_tags"):
                setattr(w, a, getattr(self, a).copy())
        return w

    def commit_pods(self, work: "Cluster", pods: Sequence[Pod], out: np.ndarray,
                    shared_devices: Optional[np.ndarray] = None, *, checked: bool = False,
                    keys: Optional[list[str]] = None, any_gpu: Optional[bool] = None,
                    distinct: Optional[Sequence[Pod]] = None) -> None:
        """Take a placement computed on `work` (from `working()` of this cluster at this generation):
        pods[i] goes to node out[i] (-1: pending). Identity is checked before anything changes, unless the
        caller checked `pods` with `check_new` against this same generation (`checked`). `keys`, `any_gpu`
        and `distinct`: the pods' keys, whether any asks for a GPU, and one pod per spec among them (equal but
        for the name), when the caller already knows them."""
        self._check_work(work)
        ok = out >= 0
        every = bool(ok.all())
        placed = list(pods) if every else [p for p, k in zip(pods, ok.tolist()) if k]
        if keys is not None and not every:
            keys = [k for k, o in zip(keys, ok.tolist()) if o]
        dup = None if checked else self.table.check_new(placed, keys)
        if dup is not None:
            raise ClusterError(f"pod {dup!r}: already bound (pod identity is namespace/name)")
        nodes = out if every else out[ok]
        self.requested, self.nonzero_requested = work.requested, work.nonzero_requested
        rows = self.table.add(placed, nodes, keys, distinct)
        if any_gpu is None:
            any_gpu = any(p.gpu_count for p in placed)
        if any_gpu and placed:
            self._take_devices(placed, nodes, rows, None if shared_devices is None else shared_devices[ok])
        if placed:
            self._touch(False)

    def commit_batch(self, work: "Cluster", specs: Sequence[Pod], spec_index: np.ndarray,
                     out: np.ndarray, ordinals: Optional[np.ndarray] = None) -> None:
        """`commit_pods` for a PodBatch: pod i is `<spec name>-<i>`, or `<spec name>-<ordinals[i]>` (no GPU
        pods: checked by the caller)."""
        self._check_work(work)
        positions = np.flatnonzero(out >= 0)
        dup = self.table.check_new_batch(specs, spec_index, positions, ordinals)
        if dup is not None:
            raise ClusterError(f"pod {dup!r}: already bound (pod identity is namespace/name)")
        self.requested, self.nonzero_requested = work.requested, work.nonzero_requested
        self.table.add_batch(specs, spec_index, positions, out[positions], ordinals)
        if len(positions):
            self._touch(False)

    def check_new(self, pods: Sequence[Pod], keys: Optional[list[str]] = None,
                  unique: bool = False) -> Optional[str]:
        """The key of the first of `pods` already bound here (or repeated), else None (`keys`: their keys,
        when the caller has them; `unique`: the caller checked that they are distinct)."""
        return self.table.check_new(pods, keys, unique)

    def _check_work(self, work: "Cluster") -> None:
        if work.generation != self.generation or work.table is not self.table:
            raise ClusterError("placement was computed on a stale copy of this cluster")

    # --- views --------------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes)

    def node(self, name: str) -> Node:
        return self._nodes[self._node_row(name)]

    def pod(self, name: str) -> Pod:
        """A bound pod by "namespace/name" (or name in namespace default), spec.nodeName set."""
        row = self._pod_row(name)
        return self.table.pod(row, self.node_names[int(self.table.node[row])])

    def node_of(self, pod_name: str) -> str:
        return self.node_names[int(self.table.node[self._pod_row(pod_name)])]

    def pods_on(self, node_name: str) -> list[Pod]:
        n = self._node_row(node_name)
        return [self.table.pod(int(r), node_name) for r in self.table.rows_on(n)]

    def bound(self) -> list[tuple[Pod, int]]:
        """Every bound pod (spec.nodeName set) with its node row, in bind order."""
        t = self.table
        return [(t.pod(r, self.node_names[int(t.node[r])]), int(t.node[r])) for r in t.live_rows().tolist()]

    def bound_columns(self) -> tuple[list[Pod], np.ndarray, np.ndarray]:
        """Bound pods without materialising them: (spec pods, spec index per pod, node row per pod)."""
        t = self.table
        rows = t.live_rows()
        return t.specs, t.spec[rows].copy(), t.node[rows].copy()

    @property
    def n_bound(self) -> int:
        return int(self.table.alive[:self.table.n].sum())

    def bound_pods(self):
        """pyarrow.Table of bound pods: pod, namespace, node, owner, priority, one int64 column per
        resource (real requests, base units) and gpu_devices (the device indices the pod holds)."""
        import pyarrow as pa
        t = self.table
        rows = t.live_rows()
        specs = t.specs
        sp = t.spec[rows]
        req, _ = self.pod_vectors(specs) if specs else (np.zeros((0, len(self.resource_names)), np.int64),
                                                        None)
        cols = {
            "pod": [t.name(r) for r in rows.tolist()],
            "namespace": [specs[s].namespace for s in sp.tolist()],
            "node": [self.node_names[n] for n in t.node[rows].tolist()],
            "owner": [specs[s].owner for s in sp.tolist()],
            "priority": pa.array([specs[s].priority for s in sp.tolist()], pa.int64()),
        }
        for j, r in enumerate(self.resource_names):
            cols[r] = pa.array(req[sp, j] if len(sp) else np.zeros(0, np.int64), pa.int64())
            if r == "pods":
                cols[r] = pa.array(np.ones(len(rows), np.int64), pa.int64())
        cols["gpu_devices"] = pa.array([[d for d, _ in t.devices.get(r, ())] for r in rows.tolist()],
                                       pa.list_(pa.int32()))
        return pa.table(cols)

    def copy(self) -> "Cluster":
        """A fork for what-if runs that shares nothing mutable with its parent (Node and Pod objects are
        treated as immutable)."""
        c = Cluster.__new__(Cluster)
        c.__dict__.update(self.__dict__)
        for a in ("allocatable", "requested", "nonzero_requested", "unschedulable", "label_codes",
                  "node_taints", "gpu_free", "gpu_tags", "taint_effect"):
            setattr(c, a, getattr(self, a).copy())
        for a in ("resource_names", "node_names", "label_keys", "label_values", "taints"):
            setattr(c, a, list(getattr(self, a)))
        c._node_seq = list(self._node_seq)
        for a in ("resource_index", "node_index", "label_key_index", "label_value_index", "objects",
                  "_zone_seq"):
            setattr(c, a, dict(getattr(self, a)))
        c._nodes = list(self._nodes) if isinstance(self._nodes, list) else self._nodes.rebind(c)
        c.table = self.table.copy()
        c._permuted_static = None
        return c

    @property
    def node_name_array(self) -> np.ndarray:
        """Node names as an object array with a trailing None, so that `array[out]` maps a placement's -1
        (pending) to None; rebuilt when `node_names` is replaced (every node change replaces the list)."""
        cached = self.__dict__.get("_name_array")
        if cached is None or cached[0] is not self.node_names:
            cached = self.__dict__["_name_array"] = (self.node_names,
                                                     np.array(self.node_names + [None], dtype=object))
        return cached[1]

    def __len__(self) -> int:
        return len(self.node_names)

    def __repr__(self) -> str:
        return f"Cluster({len(self)} nodes, {self.n_bound} bound pods, resources={self.resource_names})"

    # --- persistence --------------------------------------------------------------------------------
    def to_parquet(self, directory: str | Path) -> None:
        """Write nodes.parquet and pods.parquet; `from_parquet` restores an equal cluster."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        nodes = pa.table({
            "name": self.node_names,
            "unschedulable": [n.unschedulable for n in self._nodes],
            "labels": pa.array([list(n.labels.items()) for n in self._nodes],
                               pa.map_(pa.string(), pa.string())),
            "taints": pa.array([[t.model_dump() for t in n.taints] for n in self._nodes],
                               pa.list_(pa.struct([("key", pa.string()), ("value", pa.string()),
                                                   ("effect", pa.string())]))),
            "allocatable": pa.array([list(n.allocatable.items()) for n in self._nodes],
                                    pa.map_(pa.string(), pa.int64())),
            "gpu_free": pa.array(self.gpu_free.tolist(), pa.list_(pa.int32())),
        })
        pq.write_table(nodes, d / "nodes.parquet")
        t = self.table
        rows = t.live_rows().tolist()
        bound = [t.pod(r, self.node_names[int(t.node[r])]) for r in rows]
        dev_type = pa.list_(pa.struct([("device", pa.int32()), ("milli", pa.int32())]))
        pods = pa.table({
            "name": [p.name for p in bound],
            "namespace": [p.namespace for p in bound],
            "node": [p.node_name for p in bound],
            "spec": [p.model_dump_json() for p in bound],
            "devices": pa.array([[{"device": d, "milli": m} for d, m in t.devices.get(r, ())] for r in rows],
                                dev_type),
        }, schema=pa.schema([("name", pa.string()), ("namespace", pa.string()), ("node", pa.string()),
                             ("spec", pa.string()), ("devices", dev_type)]))
        pq.write_table(pods, d / "pods.parquet")

    @classmethod
    def from_parquet(cls, directory: str | Path) -> "Cluster":
        import pyarrow.parquet as pq

        from .parquet_check import check_parquet  # files, column types, rows, device table (named errors)
        d = Path(directory)
        check_parquet(d, ClusterError)
        t = pq.read_table(d / "nodes.parquet").to_pylist()
        need = {"name", "unschedulable", "labels", "taints", "allocatable"}
        if t and need - set(t[0]):
            raise ClusterError(f"{d / 'nodes.parquet'}: missing column(s) {sorted(need - set(t[0]))}")
        nodes = [Node(name=r["name"], unschedulable=r["unschedulable"], labels=dict(r["labels"] or []),
                      taints=r["taints"] or [], allocatable=quantities(dict(r["allocatable"] or [])))
                 for r in t]
        pods, held = [], []
        for r in pq.read_table(d / "pods.parquet").to_pylist():
            p = Pod.model_validate_json(r["spec"])
            pods.append(p.model_copy(update={"node_name": r["node"]}))
            held.append(tuple((x["device"], x["milli"]) for x in r.get("devices") or ()))
        c = cls(nodes)
        if pods:
            c.bind_many(pods, np.array([c.node_index[p.node_name] for p in pods], dtype=np.int32))
            # The devices each pod held, exactly as written (not re-derived by the assignment rule).
            c.table.devices = {r: h for r, h in zip(c.table.live_rows().tolist(), held) if h}
            c._rebuild_devices()
        return c
