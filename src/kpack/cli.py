"""Command line: `kpack schedule`, `kpack explain`, and the subcommands other modules register."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Optional, Sequence

from pydantic import ValidationError

from .daemonset import daemonset_pods
from .manifests import ManifestError, load_manifests
from .models import DaemonSet, Deployment, Node, Pod, ReplicaSet
from .profile import Profile, ProfileError
from .scheduler import Scheduler, SchedulingError
from .state import Cluster, ClusterError
from .topology.objects import TOPOLOGY_KINDS
from .topology.workloads import deployment_replicaset, owned_pods
from .validation import ManifestWarning

# Modules that add their own subcommands with register(subparsers); missing ones are skipped.
_PLUGINS = ("kpack.experiments.cli", "kpack.bench.cli", "kpack.server.cli", "kpack.solver.cli",
            "kpack.controllers.cli", "kpack.sim.cli")
# Every error kpack raises for bad input is one of these (all ValueError subclasses, plus OSError for files):
# the CLI prints them as one line. Anything else is a kpack bug and keeps its traceback.
_ERRORS = (ManifestError, ProfileError, ClusterError, SchedulingError, ValidationError, ValueError, OSError)
BUG_REPORT = "this is a kpack bug: please report it with the command line and the input files"


class CliError(Exception):
    """A one-line error for the user."""


def _load(files: Sequence[str]) -> tuple[list[Node], list[Pod], list]:
    """Nodes, bound pods, and the pending pods and workload objects in manifest order."""
    objs = [o for f in files for o in load_manifests(Path(f))]
    nodes = [o for o in objs if isinstance(o, Node)]
    if not nodes:
        raise CliError(f"no Node objects in {', '.join(files)}: a cluster needs at least one node")
    bound = [o for o in objs if isinstance(o, Pod) and o.node_name]
    sources = [o for o in objs if (isinstance(o, Pod) and not o.node_name)
               or isinstance(o, (Deployment, ReplicaSet, DaemonSet))]
    # Namespaces, Services, StatefulSets, ReplicationControllers: objects PodTopologySpread/InterPodAffinity
    # read
    others = [o for o in objs if getattr(o, "kind", None) in TOPOLOGY_KINDS and not isinstance(o, ReplicaSet)]
    return nodes, bound, sources, others


def _expand(cluster: Cluster, sources: list) -> list[Pod]:
    """Pending pods and the pods workloads would create, in queue order (PrioritySort: priority desc,
    then manifest order). DaemonSet pods are pinned per node like the DaemonSet controller does; a
    Deployment's pods are owned by its ReplicaSet, added to the cluster's objects (default spreading
    reads it)."""
    out: list[Pod] = []
    for w in sources:
        if isinstance(w, Pod):
            out.append(w)
        elif isinstance(w, DaemonSet):
            out.extend(daemonset_pods(cluster, w).values())
        else:
            kind = "deployment" if isinstance(w, Deployment) else "replicaset"
            rs = deployment_replicaset(w) if isinstance(w, Deployment) else w
            if ("ReplicaSet", rs.namespace, rs.name) not in cluster.objects:
                cluster.add_object(rs)
            for p in owned_pods(rs, [f"{w.name}-{i}" for i in range(w.replicas)]):
                out.append(p.model_copy(update={"owner": f"{kind}/{w.name}"}))
    return sorted(out, key=lambda p: -p.priority)     # stable: manifest order within a priority


def _profile(config: Optional[str]) -> Profile:
    if not config:
        return Profile.default()
    try:
        text = Path(config).read_bytes().decode("utf-8")
    except OSError as e:
        raise CliError(f"--config {config}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise CliError(f"--config {config}: not UTF-8 text (offset {e.start})") from None
    try:
        return Profile.from_k8s(text)
    except ValueError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CliError(f"--config {config}: {first}") from None


def _setup(args) -> tuple[Cluster, list[Pod], Scheduler]:
    nodes, bound, sources, others = _load(args.file)
    cluster = Cluster(nodes, pods=bound, objects=others)
    queue = _expand(cluster, sources)
    solver = dict(fallback=args.fallback, fallback_time_limit=args.fallback_time_limit,
                  max_moves=args.max_moves) if getattr(args, "fallback", None) else {}
    return cluster, queue, Scheduler(_profile(args.config), seed=args.seed, **solver)


def cmd_schedule(args) -> int:
    cluster, queue, sched = _setup(args)
    res = sched.schedule(cluster, queue)
    rows = [{"pod": p.key, "node": n, "reason": r} for p, n, r in zip(queue, res.node_names, res.reasons)]
    moves = [{"pod": p.key, "from": a, "to": b} for p, a, b in res.moves]
    if args.fallback:
        for r, s in zip(rows, res.solver_placed.tolist()):
            r["solver"] = s
    if args.json:
        out = {"scheduled": res.scheduled, "unschedulable": len(queue) - res.scheduled, "placements": rows}
        if args.fallback:
            out.update(solver_placed=int(res.solver_placed.sum()), solver_optimal=res.solver_optimal,
                       moves=moves)
        print(json.dumps(out, indent=2))
        return 0
    head = ["POD", "NODE"] + (["SOLVER"] if args.fallback else []) + ["REASON"]
    _table(head, [[r["pod"], r["node"] or "<pending>"] + (["placed" if r["solver"] else ""] if args.fallback
                                                         else []) + [r["reason"] or ""] for r in rows])
    for m in moves:
        print(f"moved {m['pod']}: {m['from']} -> {m['to']}")
    print(f"\n{res.scheduled}/{len(queue)} pods scheduled onto {len(cluster)} nodes")
    if args.fallback:
        print(f"solver ({args.fallback}): placed {int(res.solver_placed.sum())} pods greedy left pending, "
              f"{len(moves)} moves, optimal: {res.solver_optimal}")
    return 0


def cmd_explain(args) -> int:
    cluster, queue, sched = _setup(args)
    matches = [i for i, p in enumerate(queue) if args.pod in (p.name, p.key)]
    if not matches:
        raise CliError(f"--pod {args.pod}: no such pending pod "
                       f"(known: {', '.join(p.name for p in queue[:10])}"
                       f"{', ...' if len(queue) > 10 else ''})")
    i = matches[0]
    sched.schedule(cluster, queue[:i])          # the queue ahead of the pod, as `schedule` would place it
    ex = sched.explain(cluster, queue[i])
    if args.json:
        print(json.dumps({"pod": queue[i].key, "filter": ex.filter, "scores": ex.scores, "total": ex.total,
                          "selected": ex.selected}, indent=2))
        return 0
    plugins = list(ex.scores)
    rows = []
    for n in cluster.node_names:
        reason = ex.filter[n]
        rows.append([("* " if n == ex.selected else "  ") + n, "feasible" if reason is None else reason]
                    + [str(ex.scores[p].get(n, "")) for p in plugins] + [str(ex.total.get(n, ""))])
    weights = sched.profile.score_weights
    print(f"pod {queue[i].key}: {len(ex.total)}/{len(cluster)} nodes feasible; "
          f"selected: {ex.selected or '<none>'}")
    _table(["NODE", "FILTER"] + [f"{p}(x{weights.get(p, 0)})" for p in plugins] + ["TOTAL"], rows)
    return 0


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = ([max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows
              else [len(h) for h in header])
    for r in [header] + rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip())


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kpack",
                                 description="Fast, faithful Kubernetes scheduling and bin packing.")
    sub = ap.add_subparsers(dest="command", required=True)
    for name, fn, help_ in (("schedule", cmd_schedule, "dry-run placement: a table of pod -> node/reason"),
                            ("explain", cmd_explain,
                             "filter reasons and per-plugin scores per node for one pod")):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("-f", "--file", action="append", required=True, metavar="MANIFESTS",
                       help="YAML/JSON manifest file or directory (repeatable): Nodes, Pods, Deployments, "
                            "ReplicaSets, DaemonSets")
        p.add_argument("--config", help="KubeSchedulerConfiguration YAML (first profile is used)")
        p.add_argument("--seed", type=int, default=0, help="tie-break seed (default 0)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "explain":
            p.add_argument("--pod", required=True, help="pod name (or namespace/name) to explain")
        else:
            p.add_argument("--fallback", choices=["cpsat"],
                           help="CP-SAT places pods the greedy pass left pending (column SOLVER)")
            p.add_argument("--fallback-time-limit", type=float, default=1.0,
                           help="solver seconds (default 1)")
            p.add_argument("--max-moves", type=int, default=0,
                           help="running pods the solver may move (default 0)")
        p.set_defaults(func=fn)
    for mod in _PLUGINS:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name and mod.startswith(e.name):
                continue
            raise
        m.register(sub)
    return ap


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, ManifestWarning):
        print(f"kpack: warning: {message}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", ManifestWarning)
            warnings.showwarning = _show_warning
            rc = int(args.func(args) or 0)
            sys.stdout.flush()   # a closed pipe shows up here, not at interpreter exit
            return rc
    except BrokenPipeError:
        # The reader went away (`kpack schedule ... | head -1`): stop quietly. Point stdout at /dev/null so
        # the interpreter's final flush does not report the broken pipe again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except (CliError, *_ERRORS) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, ValidationError):
            err = e.errors()[0]
            msg = f"{'.'.join(map(str, err['loc']))}: {err['msg'].removeprefix('Value error, ')}"
        elif isinstance(e, OSError) and e.strerror:
            msg = f"{e.filename}: {e.strerror}" if e.filename else e.strerror
        print(f"kpack: error: {msg}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print(f"kpack: internal error: {BUG_REPORT}", file=sys.stderr)
        return 70   # EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
