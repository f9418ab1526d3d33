"""OR-Tools CP-SAT: fallback for pods greedy leaves pending, defragmentation, capacity planning."""
from ..scheduler import register_fallback
from .options import FALLBACKS, SolverError, check_options

__all__ = ["FALLBACKS", "Plan", "SolverError", "check_options", "plan", "run_fallback"]


def _run_cpsat(sched, before, cluster, res) -> None:
    from .fallback import run_fallback  # OR-Tools loads only when the fallback runs
    run_fallback(sched, before, cluster, res)


register_fallback("cpsat", check_options, _run_cpsat)


def __getattr__(name: str):
    # OR-Tools loads only when the solver is used.
    if name == "run_fallback":
        from .fallback import run_fallback
        return run_fallback
    if name in ("plan", "Plan"):
        from . import planning
        return getattr(planning, name)
    raise AttributeError(f"module 'kpack.solver' has no attribute {name!r}")
