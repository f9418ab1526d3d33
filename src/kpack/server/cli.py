"""The `kpack serve` subcommand: run kpack as a kube-scheduler HTTP extender (see the README section)."""
from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    desc = ("Serve kube-scheduler's HTTP extender verbs POST /filter, /prioritize, /bind, /preempt under the "
            "server root, plus POST|PUT /nodes, DELETE /nodes/NAME, POST|PUT /pods, DELETE "
            "/pods/NAMESPACE/NAME to feed the node cache, GET /healthz and GET /state.")
    p = subparsers.add_parser("serve", help="kube-scheduler HTTP extender", description=desc)
    p.add_argument("--host", default="127.0.0.1",
                   help="listen address (default 127.0.0.1, loopback only: the API has no authentication)")
    p.add_argument("--port", type=int, default=8888, help="TCP port (default 8888)")
    p.add_argument("--config", help="KubeSchedulerConfiguration YAML for kpack's profile (first profile)")
    p.add_argument("-f", "--file", action="append", default=[], metavar="MANIFESTS",
                   help="YAML/JSON manifests (repeatable): initial Nodes and bound Pods for the node cache")
    p.add_argument("--seed", type=int, default=0, help="tie-break seed (default 0)")
    p.add_argument("--max-body-mb", type=float, default=64.0,
                   help="largest request body accepted, in MiB (default 64); larger ones get 413")
    p.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)
    return p


def build(args: argparse.Namespace):
    """The app `kpack serve` runs (validated configuration, loaded manifests), without starting a server."""
    from ..cli import CliError
    from ..manifests import load_manifests
    from ..models import Node, Pod
    from ..profile import Profile
    from ..scheduler import Scheduler
    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port}: must be in 1..65535")
    if args.max_body_mb <= 0:
        raise CliError(f"--max-body-mb {args.max_body_mb}: must be positive")
    try:
        from .app import create_app
        from .cache import NodeCache
    except ModuleNotFoundError as e:
        raise CliError(f"kpack serve needs {e.name}: pip install 'kpack[serve]'") from None
    objs = [o for f in args.file for o in load_manifests(Path(f))]
    nodes = [o for o in objs if isinstance(o, Node)]
    bound = [o for o in objs if isinstance(o, Pod) and o.node_name]
    cache = NodeCache(nodes, bound)
    profile = Profile.default()
    if args.config:
        try:
            profile = Profile.from_k8s(Path(args.config).read_text())
        except OSError as e:
            raise CliError(f"--config {args.config}: {e.strerror}") from None
    return create_app(Scheduler(profile, seed=args.seed), cache,
                      max_body=int(args.max_body_mb * 1024 * 1024))


def run(args: argparse.Namespace) -> int:
    app = build(args)
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"kpack serve: warning: listening on {args.host}, not loopback: anyone who can reach it can "
              "change the node cache", file=sys.stderr)
    cache = app.state.extender.cache
    print(f"kpack serve: extender on http://{args.host}:{args.port} ({len(cache.node_names)} nodes, "
          f"{len(cache.bound_pods())} bound pods in the node cache)", file=sys.stderr)
    from .app import serve
    serve(app, args.host, args.port, log_level=args.log_level)
    return 0
