"""Benchmark scenarios named after upstream's scheduler_perf (`SchedulingBasic/5000Nodes/10000Pods`, ...).

A scenario is generated as arrays (node columns, label/taint codes, a few hundred spec Pods and an int32 spec
index per pod), so the timed part can start from arrays; `nodes()` / `pods()` materialise pydantic objects
for the object API and the pure-Python reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..batch import PodBatch, bind_arrays, cluster_from_arrays
from ..models import DaemonSet, Node, Pod, Taint
from ..profile import Profile
from ..resources import BASE_RESOURCES
from ..state import Cluster

GI = 1 << 30
MI = 1 << 20


@dataclass
class Scenario:
    name: str
    node_names: list[str]
    allocatable: np.ndarray                  # int64 [N, 4]: cpu (m), memory (bytes), ephemeral, pods
    label_keys: list[str]
    label_values: list[str]
    label_codes: np.ndarray                  # int32 [N, K]
    taints: list[Taint]
    node_taints: np.ndarray                  # int32 [N, T]
    specs: list[Pod]                         # pod specs to schedule
    spec_index: np.ndarray                   # int32 [P]
    bound_specs: list[Pod] = field(default_factory=list)
    bound_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    bound_node: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    description: str = ""
    # Optional: build the pods from the cluster (DaemonSet pods need the cluster); replaces specs/spec_index.
    make_pods: Optional[Callable[[Cluster], tuple[list[Pod], np.ndarray]]] = None
    objects: list = field(default_factory=list)   # Cluster objects (ReplicaSets, Services, ...) for cluster()

    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    @property
    def n_pods(self) -> int:
        return len(self.spec_index)

    def cluster(self) -> Cluster:
        """The cluster with its pre-bound pods, built from the arrays (this is part of the timed work)."""
        c = cluster_from_arrays(self.node_names, list(BASE_RESOURCES), self.allocatable,
                                label_keys=self.label_keys, label_values=self.label_values,
                                label_codes=self.label_codes, taints=self.taints,
                                node_taints=self.node_taints)
        if len(self.bound_index):
            bind_arrays(c, self.bound_specs, self.bound_index, self.bound_node)
        for o in self.objects:
            c.add_object(o)
        return c

    def batch(self) -> PodBatch:
        return PodBatch(self.specs, self.spec_index)

    def nodes(self) -> list[Node]:
        return list(cluster_from_arrays(self.node_names, list(BASE_RESOURCES), self.allocatable,
                                        label_keys=self.label_keys, label_values=self.label_values,
                                        label_codes=self.label_codes, taints=self.taints,
                                        node_taints=self.node_taints).nodes)

    def bound_pods(self) -> list[Pod]:
        return [self.bound_specs[int(s)].model_copy(update={"name": f"init-{j}",
                                                            "node_name": self.node_names[int(n)]})
                for j, (s, n) in enumerate(zip(self.bound_index, self.bound_node))]

    def pods(self, limit: Optional[int] = None) -> list[Pod]:
        idx = self.spec_index if limit is None else self.spec_index[:limit]
        return [self.specs[int(s)].model_copy(update={"name": f"{self.specs[int(s)].name}-{j}"})
                for j, s in enumerate(idx)]


def _names(n: int) -> list[str]:
    return [f"node-{i:06d}" for i in range(n)]


def _alloc(cpu_cores, mem_gi, pods) -> np.ndarray:
    cpu_cores = np.asarray(cpu_cores)
    a = np.zeros((len(cpu_cores), 4), dtype=np.int64)
    a[:, 0] = cpu_cores * 1000
    a[:, 1] = np.asarray(mem_gi) * GI
    a[:, 3] = pods
    return a


def _pod(name: str, cpu_m: int, mem_mi: int, **kw) -> Pod:
    return Pod(name=name, requests={"cpu": f"{cpu_m}m", "memory": f"{mem_mi}Mi"}, **kw)


# ------------------------------------------------------------------------------------------------------------
def scheduling_basic(n_nodes: int = 5000, n_pods: int = 10000, n_init: int = 1000) -> Scenario:
    """Identical nodes (32 cpu, 128Gi, 110 pods), `n_init` pods pre-bound round robin, identical small pods
    (upstream pod-default: 100m, 500Mi)."""
    pod = _pod("pod", 100, 500)
    return Scenario(
        name=f"SchedulingBasic/{n_nodes}Nodes/{n_pods}Pods", node_names=_names(n_nodes),
        allocatable=_alloc(np.full(n_nodes, 32), np.full(n_nodes, 128), 110),
        label_keys=[], label_values=[], label_codes=np.zeros((n_nodes, 0), np.int32),
        taints=[], node_taints=np.zeros((n_nodes, 0), np.int32),
        specs=[pod], spec_index=np.zeros(n_pods, np.int32),
        bound_specs=[pod.model_copy(update={"name": "init"})], bound_index=np.zeros(n_init, np.int32),
        bound_node=(np.arange(n_init) % n_nodes).astype(np.int32),
        description="identical nodes and pods; default profile")


ZONES = [f"zone-{i}" for i in range(10)]
DISKS = ["ssd", "hdd"]
TEAMS = ["infra", "batch", "ml", "db"]


def _labelled_nodes(rng, n: int, n_zones: int, disks: list[str], tainted_frac: float, teams: list[str],
                    pools: Optional[list[str]] = None):
    keys = ["topology.kubernetes.io/zone", "disktype"] + (["pool"] if pools else [])
    values = ZONES[:n_zones] + disks + (pools or [])
    codes = np.empty((n, len(keys)), np.int32)
    codes[:, 0] = rng.integers(n_zones, size=n)
    codes[:, 1] = n_zones + rng.integers(len(disks), size=n)
    if pools:
        codes[:, 2] = n_zones + len(disks) + rng.integers(len(pools), size=n)
    taints = [Taint(key="dedicated", value=t, effect="NoSchedule") for t in teams]
    node_taints = np.full((n, 1), -1, np.int32)
    tainted = rng.random(n) < tainted_frac
    node_taints[tainted, 0] = rng.integers(len(teams), size=int(tainted.sum()))
    return keys, values, codes, taints, node_taints


def _constrained_spec(rng, i: int, n_zones: int, disks: list[str], teams: list[str]) -> Pod:
    cpu = int(rng.choice([100, 250, 500, 1000, 2000]))
    mem = int(rng.choice([128, 256, 512, 1024, 4096]))
    kw: dict = {}
    if rng.random() < 0.6:
        kw["node_selector"] = {"disktype": disks[rng.integers(len(disks))]}
    if rng.random() < 0.6:
        zones = sorted(rng.choice(n_zones, size=int(rng.integers(2, 6)), replace=False).tolist())
        kw["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                       "values": [ZONES[z] for z in zones]}]}]}}}
    if rng.random() < 0.4:
        kw["tolerations"] = [{"key": "dedicated", "operator": "Equal",
                              "value": teams[rng.integers(len(teams))], "effect": "NoSchedule"}]
    return _pod(f"spec{i}", cpu, mem, **kw)


def node_selector_taints(n_nodes: int = 5000, n_pods: int = 10000, n_specs: int = 50,
                         seed: int = 1) -> Scenario:
    """10 zones, disk labels, 20 % of nodes tainted (dedicated=<team>:NoSchedule), three node shapes;
    pods from `n_specs` specs with nodeSelector, required zone affinity and tolerations."""
    rng = np.random.default_rng(seed)
    keys, values, codes, taints, nt = _labelled_nodes(rng, n_nodes, 10, DISKS, 0.2, TEAMS)
    shape = rng.integers(3, size=n_nodes)
    alloc = _alloc(np.array([16, 32, 64])[shape], np.array([64, 128, 256])[shape], 110)
    specs = [_constrained_spec(rng, i, 10, DISKS, TEAMS) for i in range(n_specs)]
    return Scenario(name=f"NodeSelectorTaints/{n_nodes}Nodes/{n_pods}Pods", node_names=_names(n_nodes),
                    allocatable=alloc, label_keys=keys, label_values=values, label_codes=codes, taints=taints,
                    node_taints=nt, specs=specs,
                    spec_index=rng.integers(n_specs, size=n_pods).astype(np.int32),
                    description="selectors, required affinity, tolerations; 50 specs")


def daemonsets(n_nodes: int = 5000, n_ds: int = 5, replicas: int = 20000, seed: int = 2) -> Scenario:
    """Five DaemonSets (kpack.daemonset_pods: one pinned pod per eligible node) then a Deployment of
    `replicas` identical pods."""
    from ..daemonset import daemonset_pods
    rng = np.random.default_rng(seed)
    keys, values, codes, taints, nt = _labelled_nodes(rng, n_nodes, 10, DISKS, 0.2, TEAMS)
    alloc = _alloc(np.full(n_nodes, 32), np.full(n_nodes, 128), 110)
    ds_specs = [
        {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
        {"containers": [{"name": "c", "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}],
         "tolerations": [{"operator": "Exists"}]},
        {"containers": [{"name": "c", "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}}}],
         "nodeSelector": {"disktype": "ssd"}},
        {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}}}],
         "hostNetwork": True},
        {"containers": [{"name": "c", "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}}],
         "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]},
    ][:n_ds]
    dss = [DaemonSet.from_k8s({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": f"ds{i}"},
                               "spec": {"selector": {"matchLabels": {"app": f"ds{i}"}},
                                        "template": {"metadata": {"labels": {"app": f"ds{i}"}},
                                                     "spec": spec}}})
           for i, spec in enumerate(ds_specs)]
    web = _pod("web", 500, 1024)

    def make(cluster: Cluster) -> tuple[list[Pod], np.ndarray]:
        specs: list[Pod] = []
        for ds in dss:
            specs.extend(daemonset_pods(cluster, ds).values())
        index = np.concatenate([np.arange(len(specs)), np.full(replicas, len(specs))]).astype(np.int32)
        return specs + [web], index

    sc = Scenario(name=f"DaemonSets/{n_nodes}Nodes/{n_ds}DaemonSets", node_names=_names(n_nodes),
                  allocatable=alloc, label_keys=keys, label_values=values, label_codes=codes, taints=taints,
                  node_taints=nt, specs=[web], spec_index=np.zeros(0, np.int32), make_pods=make,
                  description=f"{n_ds} DaemonSets then a Deployment of {replicas} replicas")
    sc.specs, sc.spec_index = make(sc.cluster())
    return sc


# About 20 node shapes: (cpu cores, memory GiB, max pods).
HETERO_SHAPES = [(4, 16, 110), (8, 32, 110), (8, 64, 110), (16, 32, 110), (16, 64, 110), (16, 128, 110),
                 (32, 64, 110), (32, 128, 110), (32, 256, 110), (48, 192, 110), (64, 128, 250),
                 (64, 256, 250), (64, 512, 250), (96, 384, 250), (96, 768, 250), (128, 512, 250),
                 (128, 1024, 250), (192, 768, 250), (8, 16, 58), (2, 8, 29)]
POOLS = ["general", "compute", "memory", "gpu", "batch", "infra"]


def heterogeneous(n_nodes: int = 100_000, n_pods: int = 1_000_000, n_specs: int = 300,
                  seed: int = 3) -> Scenario:
    """~20 node shapes, zone/disk/pool labels, tainted pools (dedicated=<pool>:NoSchedule on gpu, batch and
    infra pools); pods drawn (Zipf-like weights) from `n_specs` specs with selectors, zone affinity and
    tolerations."""
    rng = np.random.default_rng(seed)
    disks = ["ssd", "hdd", "nvme"]
    keys = ["topology.kubernetes.io/zone", "disktype", "pool"]
    values = ZONES + disks + POOLS
    codes = np.empty((n_nodes, 3), np.int32)
    codes[:, 0] = rng.integers(10, size=n_nodes)
    codes[:, 1] = 10 + rng.choice(3, size=n_nodes, p=[0.5, 0.3, 0.2])
    pool = rng.choice(len(POOLS), size=n_nodes, p=[0.5, 0.15, 0.1, 0.05, 0.15, 0.05])
    codes[:, 2] = 13 + pool
    tainted_pools = [3, 4, 5]
    taints = [Taint(key="dedicated", value=POOLS[p], effect="NoSchedule") for p in tainted_pools]
    nt = np.full((n_nodes, 1), -1, np.int32)
    for j, p in enumerate(tainted_pools):
        nt[pool == p, 0] = j
    shape = rng.integers(len(HETERO_SHAPES), size=n_nodes)
    sh = np.array(HETERO_SHAPES)[shape]
    alloc = _alloc(sh[:, 0], sh[:, 1], sh[:, 2])
    specs = []
    for i in range(n_specs):
        cpu = int(rng.choice([50, 100, 200, 250, 500, 1000, 1500, 2000, 4000]))
        mem = int(rng.choice([64, 128, 256, 512, 1024, 2048, 4096, 8192]))
        kw: dict = {}
        target = int(rng.choice(len(POOLS), p=[0.55, 0.15, 0.1, 0.03, 0.12, 0.05]))
        if target != 0 or rng.random() < 0.3:
            kw["node_selector"] = {"pool": POOLS[target]}
        if target in tainted_pools:
            kw["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": POOLS[target],
                                  "effect": "NoSchedule"}]
        if rng.random() < 0.3:
            zones = sorted(rng.choice(10, size=int(rng.integers(3, 8)), replace=False).tolist())
            kw["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "In",
                     "values": [ZONES[z] for z in zones]}]}]}}}
        if rng.random() < 0.2:
            kw.setdefault("node_selector", {})["disktype"] = disks[int(rng.integers(3))]
        specs.append(_pod(f"spec{i}", cpu, mem, **kw))
    w = 1.0 / np.arange(1, n_specs + 1) ** 0.8
    w /= w.sum()
    index = rng.choice(n_specs, size=n_pods, p=w).astype(np.int32)
    return Scenario(name=f"Heterogeneous/{n_nodes}Nodes/{n_pods}Pods", node_names=_names(n_nodes),
                    allocatable=alloc, label_keys=keys, label_values=values, label_codes=codes, taints=taints,
                    node_taints=nt, specs=specs, spec_index=index,
                    description=f"{len(HETERO_SHAPES)} shapes, tainted pools, {n_specs} specs")


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "SchedulingBasic/5000Nodes/10000Pods": scheduling_basic,
    "NodeSelectorTaints/5000Nodes/10000Pods": node_selector_taints,
    "DaemonSets/5000Nodes/5DaemonSets": daemonsets,
    "Heterogeneous/100000Nodes/1000000Pods": heterogeneous,
}


def _add_topology_scenarios() -> None:
    from .topology_scenarios import SCENARIOS as TOPO
    SCENARIOS.update(TOPO)
    TOPOLOGY_SCENARIOS.update(TOPO)


TOPOLOGY_SCENARIOS: dict = {}


_add_topology_scenarios()


def select(patterns: Optional[list[str]]) -> list[str]:
    """Scenario names matching any pattern (exact name or case-insensitive substring); all when empty."""
    if not patterns:
        return list(SCENARIOS)
    out = []
    for p in patterns:
        hits = [n for n in SCENARIOS if n == p] or [n for n in SCENARIOS if p.lower() in n.lower()]
        if not hits:
            raise ValueError(f"--scenario {p!r}: no such scenario (have: {', '.join(SCENARIOS)})")
        out.extend(h for h in hits if h not in out)
    return out


def profile(exhaustive: bool) -> Profile:
    """The default profile; `exhaustive` sets percentageOfNodesToScore = 100."""
    p = Profile.default()
    if exhaustive:
        p.percentage_of_nodes_to_score = 100
    return p
