"""Columnar GPU workload tables (nodes and pods as NumPy columns) and GPU-model masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MILLI_PER_GPU = 1000
MAX_DEVICES_PER_NODE = 64  # device table width guard; openb nodes have at most 8 GPUs



@dataclass(frozen=True)
class NodeTable:
    """The GPU nodes, one row each, in file order."""

    names: np.ndarray  # object (str)
    cpu_milli: np.ndarray  # int64
    memory_mib: np.ndarray  # int64
    num_gpu: np.ndarray  # int32
    model_code: np.ndarray  # int32, index into ``models`` (-1 for a node without GPUs)
    models: tuple[str, ...]  # distinct GPU model names, sorted

    def __len__(self) -> int:
        return len(self.names)

    @property
    def total_gpu_milli(self) -> int:
        return int(self.num_gpu.astype(np.int64).sum()) * MILLI_PER_GPU


@dataclass(frozen=True)
class PodTable:
    """The pods of one trace, one row each, in file order."""

    names: np.ndarray  # object (str)
    cpu_milli: np.ndarray  # int64
    memory_mib: np.ndarray  # int64
    num_gpu: np.ndarray  # int32
    gpu_milli: np.ndarray  # int32, per GPU
    gpu_spec: np.ndarray  # object (str), '' when unconstrained

    def __len__(self) -> int:
        return len(self.names)

    @property
    def gpu_demand_milli(self) -> np.ndarray:
        return self.num_gpu.astype(np.int64) * self.gpu_milli.astype(np.int64)

    def take(self, index: np.ndarray) -> "PodTable":
        """Rows ``index`` (in that order) as a new table."""
        return PodTable(
            self.names[index],
            self.cpu_milli[index],
            self.memory_mib[index],
            self.num_gpu[index],
            self.gpu_milli[index],
            self.gpu_spec[index],
        )


def spec_masks(gpu_spec: np.ndarray, models: tuple[str, ...]) -> np.ndarray:
    """int64 bit mask of allowed model codes per pod; -1 (all bits) when unconstrained.

    A constrained spec that names no model present in the cluster gets mask 0 (fits nowhere).
    """
    code_of = {m: k for k, m in enumerate(models)}
    cache: dict[str, int] = {}
    out = np.empty(len(gpu_spec), dtype=np.int64)
    for i, s in enumerate(gpu_spec):
        if s == "":
            out[i] = -1
            continue
        m = cache.get(s)
        if m is None:
            m = 0
            for part in s.split("|"):
                code = code_of.get(part.strip())
                if code is not None:
                    m |= 1 << code
            cache[s] = m
        out[i] = m
    return out
