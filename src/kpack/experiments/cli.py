"""``kpack experiment fgd`` / ``kpack experiment sweep``: the FGD-paper GPU-sharing experiment from the shell.

``register(subparsers)`` adds the ``experiment`` command to the main kpack parser; ``main()`` runs it
standalone (``python -m kpack.experiments.cli experiment fgd ...``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from ..gpu.policies import POLICIES
from .fgd import TUNE_RATIO, export, parse_policies, parse_seeds, run_fgd, summarize, sweep

PAPER_DEFAULT = {  # docs/fgd.md section 7, median unallocated GPU % on `default`
    "random": 13.75, "dot-product": 9.45, "gpu-clustering": 8.42, "gpu-packing": 8.20, "best-fit": 7.09,
    "fgd": 4.77,
}


def _fail(msg: str) -> "SystemExit":
    return SystemExit(f"kpack experiment: error: {msg}")


def _existing_file(text: str, what: str) -> Path:
    p = Path(text)
    if not p.is_file():
        raise _fail(f"{what}: file not found: {text}")
    return p


def _seeds(args) -> list[int]:
    if args.seed is not None and args.seeds is not None:
        raise _fail("give either --seed or --seeds, not both")
    if args.seed is not None:
        if args.seed < 0:
            raise _fail(f"--seed: must be non-negative, got {args.seed}")
        return [args.seed]
    return parse_seeds(args.seeds if args.seeds is not None else "42")


def _policy_object(policy: str, runs) -> dict:
    u = np.array([r.unallocated_gpu_pct for r in runs])
    return {
        "policy": policy,
        "runs": [{"seed": r.seed, "unallocated_gpu_pct": round(r.unallocated_gpu_pct, 4),
                  "seconds": round(r.seconds, 4)} for r in runs],
        "median_unallocated_gpu_pct": round(float(np.median(u)), 4),
        "mean_unallocated_gpu_pct": round(float(u.mean()), 4),
        "sd_unallocated_gpu_pct": round(float(u.std(ddof=1)), 4) if len(u) > 1 else 0.0,
    }


def _cmd_fgd(args) -> int:
    nodes = _existing_file(args.nodes, "--nodes")
    pods = _existing_file(args.pods, "--pods")
    policies = parse_policies(args.policy)
    seeds = _seeds(args)
    if not (args.tune > 0 and math.isfinite(args.tune)):
        raise _fail(f"--tune: must be a positive number, got {args.tune}")
    from tqdm import tqdm

    grid = [(p, s) for p in policies for s in seeds]
    bar = tqdm(grid, disable=args.quiet or args.json or not sys.stderr.isatty(), unit="run")
    results = []
    for p, s in bar:
        bar.set_postfix_str(f"{p}/{s}")
        results.append(run_fgd(nodes, pods, p, s, args.tune))
    by_policy = {p: [r for r in results if r.policy == p] for p in policies}
    if args.out:
        export(results, args.out)
    if args.plot:
        from .plot import plot_allocation

        plot_allocation(results, args.plot)
    if args.json:
        objs = [_policy_object(p, rs) for p, rs in by_policy.items()]
        print(json.dumps(objs[0] if len(objs) == 1 else objs))
        return 0
    trace = results[0].trace
    print(f"trace {trace}, tune {args.tune}, seeds {seeds[0]}..{seeds[-1]} ({len(seeds)} runs per policy)")
    print(f"{'policy':<16}{'median':>8}{'mean':>8}{'sd':>7}{'paper':>8}{'1st fail':>10}{'s/run':>8}")
    for s in summarize(results):
        paper = PAPER_DEFAULT.get(s["policy"]) if trace == "default" else None
        print(f"{s['policy']:<16}{s['median_unallocated_gpu_pct']:>8.2f}{s['mean_unallocated_gpu_pct']:>8.2f}"
              f"{s['sd_unallocated_gpu_pct']:>7.2f}{(f'{paper:.2f}' if paper is not None else '-'):>8}"
              f"{s['median_first_fail_arrived_pct']:>9.1f}%{s['median_seconds']:>8.3f}")
    print("(unallocated GPU % at arrived = 100 %; '1st fail' = median arrived % at the first failed pod)")
    return 0


def _cmd_sweep(args) -> int:
    trace_dir = Path(args.trace_dir)
    if not trace_dir.is_dir():
        raise _fail(f"--trace-dir: not a directory: {args.trace_dir}")
    traces = [t.strip() for t in args.traces.split(",") if t.strip()]
    if not traces:
        raise _fail(f"--traces: empty value {args.traces!r}")
    policies = parse_policies(args.policies)
    seeds = parse_seeds(args.seeds)
    results = sweep(trace_dir, traces, policies, seeds, out_dir=args.out, tune=args.tune, quiet=args.quiet,
                    nodes_csv=args.nodes)
    if args.plot:
        from .plot import plot_allocation

        plot_allocation([r for r in results if r.trace == traces[0]], args.plot)
    if not args.quiet:
        print(f"{'trace':<14}{'policy':<16}{'median':>8}{'mean':>8}{'sd':>7}")
        for s in summarize(results):
            print(f"{s['trace']:<14}{s['policy']:<16}{s['median_unallocated_gpu_pct']:>8.2f}"
                  f"{s['mean_unallocated_gpu_pct']:>8.2f}{s['sd_unallocated_gpu_pct']:>7.2f}")
        print(f"wrote {Path(args.out) / 'runs.parquet'} and summary.parquet/json, curves.json")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``experiment {fgd,sweep}`` to an argparse subparsers object."""
    exp = subparsers.add_parser("experiment", help="reproducible experiments (FGD GPU-sharing on openb)",
                                description="Reproducible experiments.")
    sub = exp.add_subparsers(dest="experiment", metavar="{fgd,sweep}")
    sub.required = True
    names = ", ".join(POLICIES)

    f = sub.add_parser("fgd", help="FGD-paper runs: one trace, one or more policies and seeds",
                       description=f"Run the FGD experiment (ATC'23) on an openb trace. Policies: {names}.")
    f.add_argument("--nodes", required=True, metavar="NODES.csv", help="openb_node_list_gpu_node.csv")
    f.add_argument("--pods", required=True, metavar="PODS.csv", help="openb_pod_list_<trace>.csv")
    f.add_argument("--policy", required=True, metavar="P", help="policy name or comma list")
    f.add_argument("--seeds", default=None, metavar="A-B", help="seed range 'a-b' or comma list (default 42)")
    f.add_argument("--seed", type=int, default=None, metavar="S", help="a single seed")
    f.add_argument("--tune", type=float, default=TUNE_RATIO,
                   help="inflate demand to this x GPU capacity (1.3)")
    f.add_argument("--json", action="store_true", help="print JSON (one object per policy)")
    f.add_argument("--out", default=None, metavar="DIR",
                   help="write runs/summary Parquet and JSON curves here")
    f.add_argument("--plot", default=None, metavar="PNG", help="allocation vs arrived chart")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=_run_guarded(_cmd_fgd))

    s = sub.add_parser("sweep", help="policies x seeds x traces; tidy Parquet + summary",
                       description=f"Sweep the FGD experiment. Policies: {names}.")
    s.add_argument("--trace-dir", required=True, metavar="DIR", help="folder with the openb CSVs")
    s.add_argument("--traces", default="default", help="comma list, e.g. default,cpu050,gpushare100")
    s.add_argument("--policies", default=",".join(PAPER_DEFAULT), help="comma list of policies")
    s.add_argument("--seeds", default="42-51", help="seed range 'a-b' or comma list")
    s.add_argument("--out", required=True, metavar="DIR", help="output folder")
    s.add_argument("--nodes", default=None, metavar="NODES.csv", help="node list (default: in --trace-dir)")
    s.add_argument("--tune", type=float, default=TUNE_RATIO)
    s.add_argument("--plot", default=None, metavar="PNG", help="chart for the first trace")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_run_guarded(_cmd_sweep))
    return exp


def _run_guarded(fn):
    """Turn input errors (ValueError from the readers/parsers) into a one-line SystemExit."""

    def run(args) -> int:
        try:
            return fn(args)
        except ValueError as exc:
            raise _fail(str(exc).splitlines()[0]) from None

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kpack")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
