"""The `kpack bench` subcommand: `register(subparsers)` for kpack's CLI, `main(argv)` standalone
(`python -m kpack.bench`)."""
from __future__ import annotations

import argparse
import sys
from typing import Optional


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="scenario name or case-insensitive substring (repeatable); default: all")
    p.add_argument("--runs", type=int, default=3, metavar="N", help="timed runs per engine (median reported)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--no-baselines", action="store_true", help="only kpack's indexed engine")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS child process")
    p.add_argument("--no-cold-start", action="store_true", help="skip the cold-start measurement")
    p.add_argument("--list", action="store_true", help="list scenarios and exit")
    p.set_defaults(func=run)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench", help="throughput scenarios, side by side with baselines",
                              description="Run upstream-style scheduling scenarios through kpack's "
                                          "engines and the NumPy / pure-Python baselines; "
                                          "check placements agree.")
    _add_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    from . import runner, scenarios
    if args.list:
        for name in scenarios.SCENARIOS:
            print(name)
        return 0
    if args.runs < 1:
        print("kpack bench: error: --runs must be >= 1", file=sys.stderr)
        return 2
    try:
        names = scenarios.select(args.scenario)
    except ValueError as e:
        print(f"kpack bench: error: {e}", file=sys.stderr)
        return 2
    return runner.main_run(names, args.runs, args.json, args.quiet, baselines=not args.no_baselines,
                           memory=not args.no_memory, with_cold_start=not args.no_cold_start)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="kpack bench")
    _add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
