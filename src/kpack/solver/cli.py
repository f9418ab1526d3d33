"""`kpack plan`: capacity planning from manifests (Nodes are the shapes, the rest is the workload)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..manifests import load_manifests
from ..models import DaemonSet, Deployment, Node, Pod, ReplicaSet
from .options import SolverError
from .planning import COST_ANNOTATION, plan


def _files(paths: list[str]) -> list[Path]:
    out = []
    for f in paths:
        p = Path(f)
        out += sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml", ".json")) if p.is_dir() else [p]
    return out


def node_costs(paths: list[str]) -> dict[str, str]:
    """Node name -> kpack.io/cost annotation, from the raw manifests (Node objects drop annotations)."""
    costs: dict[str, str] = {}

    def visit(d) -> None:
        if not isinstance(d, dict):
            return
        if str(d.get("kind", "")).endswith("List"):
            for x in d.get("items") or []:
                visit(x)
        elif d.get("kind") == "Node":
            meta = d.get("metadata") or {}
            ann = meta.get("annotations") or {}
            if COST_ANNOTATION in ann:
                costs[meta.get("name", "")] = ann[COST_ANNOTATION]

    for f in _files(paths):
        if f.exists():
            for d in yaml.safe_load_all(f.read_text()):
                for x in (d if isinstance(d, list) else [d]):
                    visit(x)
    return costs


def cmd_plan(args) -> int:
    objs = [o for f in args.file for o in load_manifests(Path(f))]
    shapes = [o for o in objs if isinstance(o, Node)]
    if not shapes:
        raise SolverError(f"no Node objects in {', '.join(args.file)}: node shapes are given as Nodes")
    work = [o for o in objs if isinstance(o, (Pod, Deployment, ReplicaSet, DaemonSet))]
    raw = node_costs(args.file)
    costs = None
    if raw:
        missing = [s.name for s in shapes if s.name not in raw]
        if missing:
            raise SolverError(f"node {missing[0]}: metadata.annotations[{COST_ANNOTATION}] is missing "
                              "(give a cost to every shape or to none)")
        costs = {}
        for name, v in raw.items():
            try:
                costs[name] = float(v)
            except ValueError:
                raise SolverError(f"node {name}: metadata.annotations[{COST_ANNOTATION}]: must be a number, "
                                  f"got {v!r}") from None
    profile = None
    if args.config:
        from ..profile import Profile
        profile = Profile.from_k8s(Path(args.config).read_text())
    p = plan(work, shapes, time_limit=args.time_limit, costs=costs, workers=args.workers, profile=profile)
    if args.json:
        print(json.dumps({"node_count": p.node_count, "counts": p.counts, "cost": p.cost,
                          "lower_bound": p.lower_bound, "optimal": p.optimal, "seconds": round(p.seconds, 3),
                          "status": p.status, "greedy_cost": p.greedy_cost, "heuristic": p.heuristic,
                          "assignment": {k: list(v) for k, v in p.assignment.items()},
                          "daemon_pods": p.daemon_pods, "notes": p.notes}, indent=2))
        return 0
    what = "cost" if costs is not None else "nodes"
    print(f"{p.node_count} nodes ({', '.join(f'{n}: {c}' for n, c in p.counts.items() if c) or 'none'})"
          + (f", cost {p.cost:g}" if costs is not None else ""))
    print(f"lower bound: {p.lower_bound:g} {what}; {'optimal' if p.optimal else 'not proven optimal'} "
          f"({p.status}, {p.seconds:.2f} s; best greedy packing {p.greedy_cost:g})")
    for note in p.notes:
        print(f"note: {note}")
    if args.assignment:
        for pod, (shape, i) in p.assignment.items():
            print(f"  {pod}  ->  {shape}-{i}")
    return 0


def register(sub) -> None:
    help_ = "capacity planning: the fewest (or cheapest) nodes of the given shapes that fit the workload"
    p = sub.add_parser("plan", help=help_, description=help_ + ". Nodes are the shapes (optional cost in "
                       f"the {COST_ANNOTATION} annotation); Pods, Deployments, ReplicaSets are the workload; "
                       "DaemonSets add one pod per node of each shape that should run them.")
    p.add_argument("-f", "--file", action="append", required=True, metavar="MANIFESTS",
                   help="YAML/JSON manifest file or directory (repeatable)")
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds for the whole plan (default 10)")
    p.add_argument("--workers", type=int, default=2, help="CP-SAT worker threads (default 2)")
    p.add_argument("--config", help="KubeSchedulerConfiguration YAML (filters and ignored resources)")
    p.add_argument("--assignment", action="store_true", help="print where every pod goes")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plan)
