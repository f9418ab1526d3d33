"""Solver options: names and validation (kept free of OR-Tools so Scheduler() stays cheap to build)."""
from __future__ import annotations

import math

from ..scheduler import SchedulingError

FALLBACKS = ("cpsat",)


class SolverError(SchedulingError):
    """Bad solver input (unknown fallback, negative time limit, ...); the message names the argument."""


def check_time_limit(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise SolverError(f"{name}: must be a positive number of seconds, got {value!r}")


def check_workers(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SolverError(f"{name}: must be a positive integer, got {value!r}")


def check_options(time_limit, max_moves, workers) -> None:
    """Validate the Scheduler's solver arguments; raises SolverError naming the argument and value."""
    check_time_limit("fallback_time_limit", time_limit)
    if isinstance(max_moves, bool) or not isinstance(max_moves, int) or max_moves < 0:
        raise SolverError(f"max_moves: must be a non-negative integer, got {max_moves!r}")
    check_workers("fallback_workers", workers)
