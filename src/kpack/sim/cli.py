"""`kpack gen`, `kpack import openb|manifests`, `kpack simulate` (one run, --compare, --sweep)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

from pydantic import ValidationError

from .schema import TraceError


def _profile(path: Optional[str]):
    from ..profile import Profile

    if not path or path == "default":
        return None
    p = Path(path)
    if not p.is_file():
        raise TraceError(f"--config {path}: file not found")
    return Profile.from_k8s(p.read_text())


def variant(text: Optional[str], config: Optional[str]) -> tuple[str, dict]:
    """(label, SimOptions keywords) for a policy name, a profile file, or 'default'."""
    from ..gpu.policies import get_policy

    if text and Path(text).is_file():
        return Path(text).stem, {"profile": _profile(text)}
    if text and text != "default":
        get_policy(text)
        return text, {"policy": text}
    if config:
        return Path(config).stem, {"profile": _profile(config)}
    return "default", {}


def simulate(
    trace: str | Path,
    out: str | Path,
    variants: list[tuple[str, dict]],
    seed: int = 0,
    window: int = 0,
    engine: str = "auto",
    quiet: bool = True,
    samples: int = 600,
    fast: bool = True,
) -> dict:
    """Replay `trace` once per variant; one run writes into `out`, several into out/<label>/ plus one
    report.html comparing them side by side in `out`."""
    from .metrics import write_outputs
    from .plots import write_plots
    from .replay import Replay, SimOptions
    from .report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    labels = [label for label, _ in variants]
    if len(set(labels)) != len(labels):
        labels = [f"{label}-{k}" for k, label in enumerate(labels)]
    for label, (_, kw) in zip(labels, variants):
        d = out if len(variants) == 1 else out / label
        opts = SimOptions(
            seed=seed, window=window, engine=engine, quiet=quiet, samples=samples, label=label, fast=fast,
            **kw,
        )
        res = Replay(trace, opts).run(d)
        write_outputs(res, d)
        if len(variants) > 1:
            write_plots([(label, res.metrics, res.wait)], d)
        runs.append((label, res))
    plots = write_plots([(label, r.metrics, r.wait) for label, r in runs], out)
    report = write_report(
        [(label, r.summary) for label, r in runs],
        plots,
        out / "report.html",
        title=f"kpack simulate: {Path(trace).name}",
    )
    return {
        "report": str(report),
        "runs": {label: {"summary": r.summary, "timing": r.timing} for label, r in runs},
    }


def cmd_gen(args) -> int:
    from tqdm import tqdm

    from .gen import generate

    bar = tqdm(total=args.pods, unit="pod", disable=args.quiet or not sys.stderr.isatty(), desc="gen")
    done = [0]

    def progress(n):
        bar.update(n - done[0])
        done[0] = n

    info = generate(args.out, args.nodes, args.pods, seed=args.seed, load=args.load, progress=progress,
                    workloads=args.workloads)
    bar.close()
    print(json.dumps(info))
    return 0


def cmd_import(args) -> int:
    from .importers import import_manifests, import_openb

    if args.source == "openb":
        if not args.pods:
            raise TraceError("import openb: --pods CSV is required")
        nodes = args.nodes or str(Path(args.pods).with_name("openb_node_list_gpu_node.csv"))
        info = import_openb(nodes, args.pods, args.out, experiment_seed=args.experiment_seed, tune=args.tune)
    else:
        if not args.file:
            raise TraceError("import manifests: -f FILE is required")
        info = import_manifests(args.file, args.out)
    print(json.dumps(info))
    return 0


def cmd_simulate(args) -> int:
    t0 = time.perf_counter()
    if args.sweep:
        from .sweep import parse_list, run_sweep

        configs = args.config or ["default"]
        policies = parse_list(args.policy) if args.policy else []
        from ..experiments.fgd import parse_seeds

        seeds = parse_seeds(args.seeds) if args.seeds else [args.seed]
        table, path = run_sweep(
            args.trace,
            policies,
            configs,
            seeds,
            args.out or "sim-sweep",
            window=args.window,
            workers=args.workers,
            ray_address=args.ray,
        )
        print(f"{table.num_rows} runs -> {path}")
        return 0
    if len(args.trace) != 1:
        raise TraceError("simulate: give one TRACE_DIR (or --sweep for several)")
    if args.config and len(args.config) > 1:
        raise TraceError("simulate: give one --config (or --sweep for several)")
    config = args.config[0] if args.config else None
    variants = [variant(args.policy, config)]
    if args.compare:
        variants.append(variant(args.compare, None))
    trace = args.trace[0]
    out = args.out or str(Path("sim-out") / Path(trace).name)
    info = simulate(
        trace,
        out,
        variants,
        seed=args.seed,
        window=args.window,
        engine=args.engine,
        quiet=args.quiet,
        samples=args.samples,
        fast=not args.python_loop,
    )
    total = time.perf_counter() - t0
    for label, r in info["runs"].items():
        s, tm = r["summary"], r["timing"]
        print(
            f"{label}: {s['pods']} pods, {s['events']} events, {s['placements']} placements, "
            f"{s['pending_at_end']} pending at end, mean wait {s['wait_s']['mean']:.1f} s; "
            f"replay {tm['run_s']:.2f} s ({tm['events_per_s']:,.0f} events/s, "
            f"placement {tm['placement_s']:.2f} s; "
            + ("compiled event loop)" if tm.get("path") == "fast"
               else f"Python event loop: {tm.get('fast_path_skipped')})")
        )
    print(f"report: {info['report']}")
    print(
        f"plots:  {', '.join(str(Path(out) / f'{k}.png') for k in ('utilisation', 'pending', 'wait'))}  "
        f"(metrics.parquet, placements.parquet, summary.json beside them; {total:.2f} s in all)"
    )
    return 0


def _user_errors(fn):
    """Bad input (ValueError, TraceError) becomes kpack's one-line CLI error."""

    def run(args):
        from ..cli import CliError

        try:
            return fn(args)
        except ValidationError:
            raise   # kpack's CLI prints the failing field and its message, not pydantic's header line
        except ValueError as e:
            raise CliError(str(e)) from None

    return run


def register(sub) -> None:
    g = sub.add_parser(
        "gen",
        help="write a seeded synthetic Parquet trace",
        description="Write a seeded synthetic trace (nodes.parquet, pods.parquet) to --out.",
    )
    g.add_argument("--nodes", type=int, required=True)
    g.add_argument(
        "--pods", type=int, required=True, help="pods (each gives an arrival and a departure event)"
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--load", type=float, default=0.7, help="target mean cpu load (default 0.7)")
    g.add_argument("--workloads", type=int, default=0, metavar="N",
                   help="also write events.parquet: N Deployments with rollouts, rollbacks and scaling, and "
                        "one DaemonSet (replayed through kpack.ControlPlane; default 0: no events.parquet)")
    g.add_argument("--out", required=True)
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=_user_errors(cmd_gen))

    i = sub.add_parser(
        "import", help="convert openb CSVs or Kubernetes manifests to the Parquet trace format"
    )
    i.add_argument("source", choices=("openb", "manifests"))
    i.add_argument("--pods", help="openb pod list CSV")
    i.add_argument(
        "--nodes", help="openb node list CSV (default: openb_node_list_gpu_node.csv beside --pods)"
    )
    i.add_argument(
        "--experiment-seed", type=int, help="write the workload of `kpack experiment fgd --seed S`"
    )
    i.add_argument("--tune", type=float, help="inflation ratio with --experiment-seed (default 1.3)")
    i.add_argument("-f", "--file", action="append", help="manifest file or directory (repeatable)")
    i.add_argument("--out", required=True)
    i.set_defaults(func=_user_errors(cmd_import))

    s = sub.add_parser(
        "simulate",
        help="replay a Parquet trace: metrics, placements, plots, report.html",
        description="Discrete-event replay of a trace directory through the scheduler.",
    )
    s.add_argument("trace", nargs="+", metavar="TRACE_DIR")
    s.add_argument(
        "--config",
        action="append",
        help="KubeSchedulerConfiguration YAML ('default': built-in); repeatable with --sweep",
    )
    s.add_argument("--policy", help="FGD-paper GPU policy (fgd, best-fit, ...); comma list with --sweep")
    s.add_argument("--compare", metavar="POLICY_OR_CONFIG", help="a second policy, config file or 'default'")
    s.add_argument("--out", help="output directory (default sim-out/<trace name>)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--seeds", help="seeds for --sweep ('0-3' or '1,5')")
    s.add_argument(
        "--window",
        type=int,
        default=0,
        help="batch events into windows of this many seconds (0: exact event order)",
    )
    s.add_argument("--engine", default="auto")
    s.add_argument("--samples", type=int, default=600, help="metric samples over the trace (default 600)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument(
        "--python-loop",
        action="store_true",
        help="replay on the Python event loop (the reference the compiled loop is tested against; slower)",
    )
    s.add_argument(
        "--sweep", action="store_true", help="every trace x policy/config x seed; one Parquet table"
    )
    s.add_argument("--workers", type=int, help="local processes for --sweep (default: cores)")
    s.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run --sweep on Ray (a cluster ADDRESS, or a local Ray instance)",
    )
    s.set_defaults(func=_user_errors(cmd_simulate))
