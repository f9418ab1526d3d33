"""Read the Alibaba openb GPU trace CSVs (node list, pod lists) into columnar NumPy arrays.

Only the columns the FGD experiment uses are read; every value is validated and a bad one raises
``ValueError`` naming the file, the row (1-based, header is row 1), the column and the value.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..gpu.tables import MAX_DEVICES_PER_NODE, MILLI_PER_GPU, NodeTable, PodTable

NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
POD_OPTIONAL_COLUMNS = ("gpu_spec",)  # absent in the multigpu* traces; absent means unconstrained


def _read_rows(path: Path, required: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            msg = f"{path}: empty file, expected header with columns {', '.join(required)}"
            raise ValueError(msg) from None
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column {missing[0]!r} (header: {','.join(header)})")
        rows = []
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{path}: row {lineno}: expected {len(header)} fields, got {len(row)}: {','.join(row)!r}"
                )
            rows.append(row)
    return header, rows


def _int_column(path: Path, header: list[str], rows: list[list[str]], column: str,
                lo: int, hi: int) -> np.ndarray:
    j = header.index(column)
    out = np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        text = row[j].strip()
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{path}: row {i + 2}: column {column!r}: not an integer: {text!r}") from None
        if value < lo or value > hi:
            raise ValueError(f"{path}: row {i + 2}: column {column!r}: value {value} outside [{lo}, {hi}]")
        out[i] = value
    return out


def _str_column(header: list[str], rows: list[list[str]], column: str) -> np.ndarray:
    if column not in header:
        return np.array([""] * len(rows), dtype=object)
    j = header.index(column)
    return np.array([row[j].strip() for row in rows], dtype=object)


def read_nodes(path: str | Path) -> NodeTable:
    """Read ``openb_node_list_*.csv`` (sn,cpu_milli,memory_mib,gpu,model)."""
    path = Path(path)
    header, rows = _read_rows(path, NODE_COLUMNS)
    if not rows:
        raise ValueError(f"{path}: no node rows")
    names = _str_column(header, rows, "sn")
    cpu = _int_column(path, header, rows, "cpu_milli", 1, 2**40)
    mem = _int_column(path, header, rows, "memory_mib", 0, 2**40)
    gpu = _int_column(path, header, rows, "gpu", 0, MAX_DEVICES_PER_NODE)
    model = _str_column(header, rows, "model")
    for i in range(len(rows)):
        if names[i] == "":
            raise ValueError(f"{path}: row {i + 2}: column 'sn': empty node name")
        if gpu[i] > 0 and model[i] == "":
            raise ValueError(
                f"{path}: row {i + 2}: column 'model': empty GPU model for a node with {gpu[i]} GPUs")
    if len(set(names.tolist())) != len(names):
        dup = next(n for n in names if (names == n).sum() > 1)
        raise ValueError(f"{path}: column 'sn': duplicate node name {dup!r}")
    models = tuple(sorted({m for m, g in zip(model, gpu) if g > 0}))
    if len(models) > 62:
        raise ValueError(f"{path}: column 'model': {len(models)} distinct GPU models, at most 62 supported")
    code_of = {m: k for k, m in enumerate(models)}
    codes = np.array([code_of[m] if g > 0 else -1 for m, g in zip(model, gpu)], dtype=np.int32)
    return NodeTable(names, cpu, mem, gpu.astype(np.int32), codes, models)


def read_pods(path: str | Path) -> PodTable:
    """Read ``openb_pod_list_*.csv`` (name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec,...]).

    Pod classes: CPU-only (num_gpu=0, gpu_milli=0), GPU-sharing (num_gpu=1, 0<gpu_milli<1000),
    whole GPUs (num_gpu>=1, gpu_milli=1000). Anything else is rejected.
    """
    path = Path(path)
    header, rows = _read_rows(path, POD_COLUMNS)
    names = _str_column(header, rows, "name")
    cpu = _int_column(path, header, rows, "cpu_milli", 0, 2**40)
    mem = _int_column(path, header, rows, "memory_mib", 0, 2**40)
    ngpu = _int_column(path, header, rows, "num_gpu", 0, MAX_DEVICES_PER_NODE)
    gmilli = _int_column(path, header, rows, "gpu_milli", 0, MILLI_PER_GPU)
    spec = _str_column(header, rows, "gpu_spec")
    for i in range(len(rows)):
        if names[i] == "":
            raise ValueError(f"{path}: row {i + 2}: column 'name': empty pod name")
        k, g = ngpu[i], gmilli[i]
        if k == 0 and g != 0:
            raise ValueError(f"{path}: row {i + 2}: column 'gpu_milli': value {g} for a pod with num_gpu=0")
        if k > 0 and g == 0:
            raise ValueError(f"{path}: row {i + 2}: column 'gpu_milli': value 0 for a pod with num_gpu={k}")
        if k > 1 and g != MILLI_PER_GPU:
            raise ValueError(
                f"{path}: row {i + 2}: column 'gpu_milli': value {g} with num_gpu={k} "
                f"(multi-GPU pods must take whole GPUs, gpu_milli=1000)"
            )
        if spec[i] and any(part.strip() == "" for part in spec[i].split("|")):
            raise ValueError(f"{path}: row {i + 2}: column 'gpu_spec': malformed model list {spec[i]!r}")
    return PodTable(names, cpu, mem, ngpu.astype(np.int32), gmilli.astype(np.int32), spec)
