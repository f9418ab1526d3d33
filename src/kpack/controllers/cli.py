"""`kpack apply` (run the controllers, print rollout progress like `kubectl rollout status`) and
`kpack rollout status|history|undo` over a saved state directory."""

from __future__ import annotations

import json
from pathlib import Path

from ..cli import CliError
from ..profile import Profile
from ..state import Cluster
from .plane import ControlPlane, load_objects
from .rollout import ControllerError


def _profile(args) -> Profile:
    cfg = getattr(args, "config", None)
    if not cfg:
        return Profile.default()
    try:
        return Profile.from_k8s(Path(cfg).read_text())
    except OSError as e:
        raise CliError(f"--config {cfg}: {e.strerror}") from None


def _open(args, need_state: bool) -> ControlPlane:
    state = Path(args.state) if getattr(args, "state", None) else None
    if state is not None and (state / "controlplane.json").exists():
        return ControlPlane.load(state, _profile(args), seed=args.seed)
    if need_state:
        raise ControllerError(
            f"--state {args.state}: no saved state there (run `kpack apply -f ... --state DIR`)"
        )
    return None


def _progress(cp: ControlPlane, refs: list[str], last: dict, quiet: bool) -> bool:
    done_all = True
    for ref in refs:
        msg, done = cp.rollout_status(ref)
        done_all &= done
        if not quiet and last.get(ref) != msg:
            print(msg)
        last[ref] = msg
    return done_all


def cmd_apply(args) -> int:
    try:
        return _apply(args)
    except ControllerError as e:
        raise CliError(str(e)) from None


def cmd_rollout(args) -> int:
    try:
        return _rollout(args)
    except ControllerError as e:
        raise CliError(str(e)) from None


def _apply(args) -> int:
    cp = _open(args, need_state=False)
    items = [d for f in args.file for _, d in load_objects(Path(f))]
    if cp is None:
        nodes = [d for d in items if d.get("kind") == "Node"]
        if not nodes:
            raise ControllerError(
                f"no Node objects in {', '.join(args.file)} (and no --state): a cluster needs "
                "at least one node"
            )
        cp = ControlPlane(Cluster([]), _profile(args), seed=args.seed, step_seconds=args.step_seconds)
    lines = cp.apply(items)
    if not args.json:
        for line in lines:
            print(line)
    refs = [r for r in lines if r.split()[0].startswith(("deployment/", "daemonset/"))]
    refs = [r.split()[0] for r in refs]
    last: dict = {}
    steps = 0
    limit = args.steps if args.steps is not None else args.max_steps
    done = not refs
    while steps < limit:
        before = cp.fingerprint()
        cp.step()
        steps += 1
        done = _progress(cp, refs, last, args.quiet or args.json)
        if args.steps is None and done and cp.fingerprint() == before and not cp.busy():
            break
    if args.state:
        cp.save(args.state)
    if args.json:
        print(
            json.dumps(
                {
                    "steps": steps,
                    "time": cp.time,
                    "applied": lines,
                    "status": {r: cp.status(r) for r in refs},
                },
                indent=2,
                default=str,
            )
        )
    elif not done and not args.quiet:
        print(f"after {steps} step(s) ({cp.time:g} s logical): rollout not finished")
    return 0


def _rollout(args) -> int:
    cp = _open(args, need_state=True)
    ref = args.ref
    if args.action == "status":
        msg, done = cp.rollout_status(ref)
        print(msg)
        return 0 if done else 1
    if args.action == "history":
        hist = cp.history(ref)
        if args.json:
            print(json.dumps(hist, indent=2, default=str))
            return 0
        kind, name = ref.split("/", 1)
        print(f"{kind}.apps/{name}")
        rows = [["REVISION", "NAME", "IMAGE"]] + [
            [str(h["revision"]), h["name"], h.get("image") or ""] for h in hist
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            print("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
        return 0
    rev = cp.rollback(ref, args.to_revision)
    kind, name = ref.split("/", 1)
    print(f"{kind}.apps/{name} rolled back (to revision {rev})")
    last: dict = {}
    for _ in range(args.steps):
        before = cp.fingerprint()
        cp.step()
        done = _progress(cp, [ref], last, args.quiet)
        if done and cp.fingerprint() == before and not cp.busy():
            break
    cp.save(args.state)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "apply",
        help="apply manifests and run the controllers; prints rollout progress",
        description="Apply Nodes, Deployments, ReplicaSets, DaemonSets, Jobs, CronJobs and Pods, then "
        "step the control plane until stable (or --steps N), printing rollout progress "
        "like `kubectl rollout status`. With --state DIR the control plane is loaded "
        "from and saved to DIR (cluster/ Parquet + controlplane.json).",
    )
    p.add_argument(
        "-f",
        "--file",
        action="append",
        required=True,
        metavar="MANIFESTS",
        help="YAML/JSON manifest file or directory (repeatable)",
    )
    p.add_argument("--steps", type=int, default=None, help="run exactly N steps (default: until stable)")
    p.add_argument("--max-steps", type=int, default=10_000, help="cap when running until stable")
    p.add_argument(
        "--step-seconds", type=float, default=1.0, help="logical seconds per step (new state only)"
    )
    p.add_argument("--state", help="state directory to load from (if present) and save to")
    p.add_argument("--config", help="KubeSchedulerConfiguration YAML (first profile is used)")
    p.add_argument("--seed", type=int, default=0, help="tie-break seed (default 0)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_apply)
    r = sub.add_parser(
        "rollout",
        help="rollout status|history|undo over a saved state",
        description="kubectl-style rollout commands over a state directory written by "
        "`kpack apply --state DIR`.",
    )
    r.add_argument("action", choices=["status", "history", "undo"])
    r.add_argument("ref", help="deployment/NAME or daemonset/NAME")
    r.add_argument("--state", required=True, help="state directory")
    r.add_argument("--to-revision", type=int, default=None, help="undo: the revision to roll back to")
    r.add_argument("--steps", type=int, default=10_000, help="undo: steps to run afterwards (until stable)")
    r.add_argument("--config", help="KubeSchedulerConfiguration YAML (first profile is used)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--json", action="store_true")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_rollout)
