"""The FGD paper's GPU-sharing policies as score plugins (kpack.gpu.plugins computes them in the
device-aware kernel, numba engine only)."""
from __future__ import annotations

from .registry import PluginSpec

NAMES = ("RandomScore", "DotProductScore", "GpuClusteringScore", "GpuPackingScore", "BestFitScore",
         "FGDScore")
SPECS = [PluginSpec(n, score=True, engines=("numba",)) for n in NAMES]
