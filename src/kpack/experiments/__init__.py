"""The FGD paper experiment (USENIX ATC '23) on the Alibaba openb trace: CSV reader, trace loop, sweep,
exports and plots. Nothing in kpack's core imports this package."""

from .fgd import RunResult, export, run_fgd, summarize, sweep
from .openb import read_nodes, read_pods

__all__ = ["RunResult", "export", "read_nodes", "read_pods", "run_fgd", "summarize", "sweep"]
