"""NodeCache: the extender's own view of the cluster (nodes, bound pods) and the kpack.Cluster over it."""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable, Optional

from ..models import Node, Pod
from ..state import Cluster


class CacheError(ValueError):
    """A change the cache refuses (a conflicting bind, a pod without a node); `status` is the HTTP code."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


class NodeCache:
    """Nodes by name and bound pods by namespace/name: the only writer of the extender's cluster state.

    Every change bumps `generation`. `cluster()` returns a kpack.Cluster of the cached nodes and the pods
    bound to them, kept up to date with the Cluster's change methods (add_node / update_node / remove_node,
    bind / unbind): each change logs the node or pod it touched, and the next `cluster()` makes the Cluster
    agree with the dicts for just those. Binds, unbinds, pod changes and node updates are cheap in place
    (Cluster.update_node re-encodes one row, ~0.1 ms at 5,000 nodes); adding or removing a node costs more
    (~1 and ~8 ms; a rebuild ~150 ms), so more than `rebuild_after` added or removed nodes at once rebuild
    it instead, as does any change method that fails (the dicts stay the truth).
    `cluster_for(signature, nodes)` builds (and keeps a few of) clusters over other node sets (subsets kube-
    scheduler prioritizes), with the pods this cache knows to be bound on them.
    """

    def __init__(self, nodes: Iterable[Node] = (), pods: Iterable[Pod] = (), *,
                 cluster: Optional[Cluster] = None, rebuild_after: int = 16):
        self._nodes: dict[str, Node] = {}
        self._pods: dict[str, Pod] = {}          # namespace/name -> bound Pod (node_name set)
        self._uids: dict[str, str] = {}          # namespace/name -> pod UID, when known
        self.generation = 0
        self.rebuild_after = rebuild_after
        self.stats = {"rebuild": 0, "node_ops": 0, "pod_ops": 0}
        self._cluster: Optional[Cluster] = None
        self._held: dict[str, Pod] = {}          # the pods the Cluster holds (the very objects)
        self._dirty_nodes: dict[str, None] = {}  # changed since the Cluster last agreed (ordered set)
        self._dirty_pods: dict[str, None] = {}
        self._full: OrderedDict[tuple, Cluster] = OrderedDict()
        if cluster is not None:
            for n in cluster.nodes:
                self._nodes[n.name] = n
            if hasattr(cluster, "pods_on"):   # the columnar Cluster of state.py (bound_pods() is a table)
                pairs = [(p, n) for n in cluster.node_names for p in cluster.pods_on(n)]
            else:
                pairs = cluster.bound_pods()
            for p, node in pairs:
                self._pods[p.key] = p if p.node_name == node else p.model_copy(update={"node_name": node})
        for n in nodes:
            self.put_node(n)
        for p in pods:
            self.put_pod(p)

    @classmethod
    def from_cluster(cls, cluster: Cluster) -> "NodeCache":
        return cls(cluster=cluster)

    # --- reads --------------------------------------------------------------------------------------
    def __contains__(self, node_name: str) -> bool:
        return node_name in self._nodes

    @property
    def node_names(self) -> list[str]:
        return list(self._nodes)

    def node(self, name: str) -> Optional[Node]:
        return self._nodes.get(name)

    def pod(self, key: str) -> Optional[Pod]:
        return self._pods.get(key)

    def uid(self, key: str) -> str:
        return self._uids.get(key, "")

    def bound_pods(self) -> list[Pod]:
        return list(self._pods.values())

    def cluster(self) -> Cluster:
        """The cached nodes and the pods bound to them as a kpack.Cluster, brought up to date with the changes
        since the last call. Treat it as read-only: change state through this class."""
        if self._cluster is not None and not self._dirty_nodes and not self._dirty_pods:
            return self._cluster
        if self._cluster is None or self._structural() > self.rebuild_after:
            return self._rebuild()
        try:
            self._apply()
        except Exception:   # a change the Cluster refuses in place: the dicts are the truth, rebuild
            return self._rebuild()
        return self._cluster

    def _structural(self) -> int:
        """How many of the changed nodes are added or removed (the costly in-place changes)."""
        index = self._cluster.node_index
        return sum((name in index) != (name in self._nodes) for name in self._dirty_nodes)

    def _rebuild(self) -> Cluster:
        self._cluster = None
        self._held = {}
        pods = [p for p in self._pods.values() if p.node_name in self._nodes]
        c = Cluster(list(self._nodes.values()), pods)
        self._cluster, self._held = c, {p.key: p for p in pods}
        self._dirty_nodes.clear()
        self._dirty_pods.clear()
        self.stats["rebuild"] += 1
        return c

    def _apply(self) -> None:
        """Make the Cluster agree with the dicts for the nodes and pods changed since it last did."""
        c = self._cluster
        held = self._held
        for name in list(self._dirty_nodes):
            node = self._nodes.get(name)
            if node is None:
                if name in c.node_index:
                    for p in c.remove_node(name):
                        held.pop(p.key, None)
            elif name not in c.node_index:
                c.add_node(node)
                # pods fed before their node: bound now
                self._dirty_pods.update((p.key, None) for p in self._pods.values() if p.node_name == name)
            elif c.node(name) is not node:
                c.update_node(node)
            self.stats["node_ops"] += 1
            del self._dirty_nodes[name]
        for key in list(self._dirty_pods):
            want = self._pods.get(key)
            if want is not None and want.node_name not in c.node_index:
                want = None
            have = held.get(key)
            if have is not want:
                if have is not None:
                    c.unbind(key)
                    del held[key]
                if want is not None:
                    c.bind(want, want.node_name, force=True)
                    held[key] = want
                self.stats["pod_ops"] += 1
            del self._dirty_pods[key]

    def cluster_for(self, signature: tuple, nodes: list[Node]) -> Cluster:
        """A cluster over `nodes` with the known pods bound on them. `signature` identifies the node set and
        versions; equal signatures (at the same generation) reuse the cluster."""
        key = (signature, self.generation)
        c = self._full.get(key)
        if c is None:
            names = {n.name for n in nodes}
            c = Cluster(nodes, [p for p in self._pods.values() if p.node_name in names])
            self._full[key] = c
            while len(self._full) > 4:
                self._full.popitem(last=False)
        else:
            self._full.move_to_end(key)
        return c

    # --- changes ------------------------------------------------------------------------------------
    def put_node(self, node: Node) -> bool:
        """Add or replace a node (matched by name); False when it equals the cached one (no change)."""
        old = self._nodes.get(node.name)
        if old == node:
            return False
        self._nodes[node.name] = node
        self._dirty_nodes[node.name] = None
        self.generation += 1
        return True

    def remove_node(self, name: str) -> list[Pod]:
        """Forget a node and the pods bound to it (they are returned)."""
        if name not in self._nodes:
            raise CacheError(f"node {name!r} is not in the node cache", 404)
        del self._nodes[name]
        gone = [p for p in self._pods.values() if p.node_name == name]
        for p in gone:
            del self._pods[p.key]
            self._uids.pop(p.key, None)
            self._dirty_pods[p.key] = None
        self._dirty_nodes[name] = None
        self.generation += 1
        return gone

    def put_pod(self, pod: Pod, uid: str = "") -> bool:
        """Add or replace a bound pod (spec.nodeName set), e.g. one kube-scheduler bound itself."""
        if not pod.node_name:
            raise CacheError(f"pod {pod.key!r}: spec.nodeName is required (the cache holds bound pods)", 400)
        if self._pods.get(pod.key) == pod and self._uids.get(pod.key, "") == uid:
            return False
        self._pods[pod.key] = pod
        self._set_uid(pod.key, uid)
        self._dirty_pods[pod.key] = None
        self.generation += 1
        return True

    def remove_pod(self, key: str) -> Pod:
        p = self._pods.pop(key, None)
        if p is None:
            raise CacheError(f"pod {key!r} is not bound in the node cache", 404)
        self._uids.pop(key, None)
        self._dirty_pods[key] = None
        self.generation += 1
        return p

    def bind(self, pod: Pod, node_name: str, uid: str = "") -> bool:
        """Record `pod` as bound to `node_name`. Binding it again to the same node changes nothing (False);
        to another node is a conflict, unless the UID differs: then the name belongs to a new pod (names are
        unique at any one time in Kubernetes) and the old one, whose deletion we missed, is replaced."""
        old = self._pods.get(pod.key)
        if old is not None:
            old_uid = self._uids.get(pod.key, "")
            same_pod = not uid or not old_uid or uid == old_uid
            if same_pod and old.node_name == node_name:
                if uid and not old_uid:
                    self._uids[pod.key] = uid
                return False
            if same_pod:
                raise CacheError(f"pod {pod.key!r} is already bound to node {old.node_name!r}; "
                                 f"cannot bind it to {node_name!r}")
        bound = pod if pod.node_name == node_name else pod.model_copy(update={"node_name": node_name})
        self._pods[pod.key] = bound
        self._set_uid(pod.key, uid)
        self._dirty_pods[pod.key] = None
        self.generation += 1
        return True

    def _set_uid(self, key: str, uid: str) -> None:
        if uid:
            self._uids[key] = uid
        else:
            self._uids.pop(key, None)
