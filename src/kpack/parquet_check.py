"""Validation of a Cluster.to_parquet directory before Cluster.from_parquet trusts it (file, column, row)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .models import GPU_RESOURCE, Node, Pod, quantities

# Column -> its type, as Cluster.to_parquet writes it.
NODE_COLUMNS = {"name": "string", "unschedulable": "bool", "labels": "map<string, string>",
                "taints": "list<struct<key: string, value: string, effect: string>>",
                "allocatable": "map<string, int64>"}
OPTIONAL_NODE_COLUMNS = {"gpu_free": "list<int32>"}
POD_COLUMNS = {"name": "string", "namespace": "string", "node": "string", "spec": "string"}
OPTIONAL_POD_COLUMNS = {"devices": "list<struct<device, milli>>"}


def _read(path: Path, columns: dict[str, str], optional: dict[str, str],
          error: type[Exception]) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise error(f"{path}: not a readable Parquet file ({msg})") from None
    names = set(table.column_names)
    missing = sorted(set(columns) - names)
    if missing:
        raise error(f"{path}: missing column(s) {missing}")
    for col, want in {**columns, **{k: v for k, v in optional.items() if k in names}}.items():
        got = table.schema.field(col).type
        if not _type_ok(got, want):
            raise error(f"{path}: column {col!r}: expected type {want}, got {got}")
    for col in columns:
        if col in ("name", "node", "spec", "namespace") and table.column(col).null_count:
            raise error(f"{path}: column {col!r}: {table.column(col).null_count} null value(s)")
    return table.to_pylist()


def _type_ok(got: Any, want: str) -> bool:
    import pyarrow as pa
    t = pa.types
    if want == "string":
        return t.is_string(got) or t.is_large_string(got)
    if want == "bool":
        return t.is_boolean(got)
    if want == "map<string, string>":
        return t.is_map(got) and t.is_string(got.key_type) and t.is_string(got.item_type)
    if want == "map<string, int64>":
        return t.is_map(got) and t.is_string(got.key_type) and t.is_integer(got.item_type)
    if want == "list<struct<device, milli>>":
        v = got.value_type if t.is_list(got) else None
        return v is not None and t.is_struct(v) and all(
            v.get_field_index(k) >= 0 and t.is_integer(v.field(k).type) for k in ("device", "milli"))
    if want.startswith("list<struct"):
        v = got.value_type if t.is_list(got) else None
        return v is not None and t.is_struct(v) and all(
            v.get_field_index(k) >= 0 and t.is_string(v.field(k).type) for k in ("key", "value", "effect"))
    return t.is_list(got) and t.is_integer(got.value_type)   # list<int32>


def check_parquet(directory: str | Path, error: type[Exception] = ValueError) -> None:
    """Raise `error` naming the file, column and row if the directory is not a valid Cluster.to_parquet
    output: unreadable or truncated files, wrong column types, invalid nodes or pods, a pod on an unknown
    node, duplicated pod rows, or a GPU device table outside 0..1000 milli-GPU or inconsistent with the
    node's devices and the GPU pods bound there."""
    d = Path(directory)
    nodes_file, pods_file = d / "nodes.parquet", d / "pods.parquet"
    for f in (nodes_file, pods_file):
        if not f.exists():
            raise error(f"{f}: missing (expected a directory written by Cluster.to_parquet)")
    node_rows = _read(nodes_file, NODE_COLUMNS, OPTIONAL_NODE_COLUMNS, error)
    pod_rows = _read(pods_file, POD_COLUMNS, OPTIONAL_POD_COLUMNS, error)
    nodes: dict[str, Node] = {}
    for i, r in enumerate(node_rows):
        where = f"{nodes_file}: row {i}"
        if r["name"] in nodes:
            raise error(f"{where}: column 'name': duplicate node name {r['name']!r}")
        try:
            nodes[r["name"]] = Node(name=r["name"], unschedulable=r["unschedulable"],
                                    labels=dict(r["labels"] or []), taints=r["taints"] or [],
                                    allocatable=quantities(dict(r["allocatable"] or [])))
        except (ValidationError, ValueError) as e:
            raise error(f"{where} (node {r['name']!r}): {_first(e)}") from None
    demand = {n: 0 for n in nodes}   # milli-GPU the bound pods ask for, per node
    held: dict[tuple[str, int], int] = {}   # (node, device) -> milli-GPU held by the bound pods
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(pod_rows):
        where = f"{pods_file}: row {i}"
        key = (r["namespace"], r["name"])
        if key in seen:
            raise error(f"{where}: columns 'namespace'/'name': duplicate pod {r['namespace']}/{r['name']}")
        seen.add(key)
        if r["node"] not in nodes:
            raise error(f"{where}: column 'node': pod {r['namespace']}/{r['name']} is bound to "
                        f"{r['node']!r}, which is not a node in nodes.parquet")
        try:
            json.loads(r["spec"])
            p = Pod.model_validate_json(r["spec"])
        except (ValidationError, ValueError) as e:
            raise error(f"{where}: column 'spec': {_first(e)}") from None
        if (p.namespace, p.name) != key:
            raise error(f"{where}: column 'spec': names pod {p.namespace}/{p.name}, the row says "
                        f"{r['namespace']}/{r['name']}")
        demand[r["node"]] += p.gpu_count * p.gpu_per_device
        if r.get("devices"):
            _check_held(r["devices"], p, nodes[r["node"]], held, f"{where}: column 'devices'", error)
    if not node_rows or "gpu_free" not in node_rows[0]:
        return
    width = max((n.allocatable.get(GPU_RESOURCE, 0) for n in nodes.values()), default=0)
    for i, r in enumerate(node_rows):
        where = f"{nodes_file}: row {i}: column 'gpu_free'"
        free = r["gpu_free"] or []
        if width and len(free) != width:
            raise error(f"{where}: {len(free)} devices, expected {width} (the largest nvidia.com/gpu count)")
        devices = nodes[r["name"]].allocatable.get(GPU_RESOURCE, 0)
        for j, v in enumerate(free):
            if v is None or not 0 <= v <= 1000:
                raise error(f"{where}: device {j}: {v} milli-GPU free is outside 0..1000")
            if j >= devices and v != 0:
                raise error(f"{where}: device {j}: node {r['name']!r} has {devices} GPU(s), so padding "
                            "must be 0")
        used = sum(1000 - v for v in free[:devices])
        if used > demand[r["name"]]:
            raise error(f"{where}: node {r['name']!r}: {used} milli-GPU in use, but the pods bound there ask "
                        f"for {demand[r['name']]}")


def _check_held(devices: list, p: Pod, node: Node, held: dict, where: str, error: type[Exception]) -> None:
    """The devices one bound pod holds: real devices of its node, each once, its own share (1000 for whole
    devices), as many as it asks for, and no device held past 1000 milli-GPU in total."""
    count = node.allocatable.get(GPU_RESOURCE, 0)
    seen = set()
    for x in devices:
        d, m = x.get("device"), x.get("milli")
        if d is None or not 0 <= d < count:
            raise error(f"{where}: device {d} is not a GPU of node {node.name!r} ({count} devices)")
        if d in seen:
            raise error(f"{where}: device {d} listed twice")
        seen.add(d)
        if m != p.gpu_per_device:
            raise error(f"{where}: device {d}: {m} milli-GPU, but the pod takes {p.gpu_per_device} per "
                        "device")
        held[(node.name, d)] = held.get((node.name, d), 0) + m
        if held[(node.name, d)] > 1000:
            raise error(f"{where}: device {d} of node {node.name!r} is held past 1000 milli-GPU")
    if len(seen) != p.gpu_count:
        raise error(f"{where}: {len(seen)} device(s) held, but the pod asks for {p.gpu_count}")


def _first(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        return f"{'.'.join(map(str, err['loc']))}: {err['msg'].removeprefix('Value error, ')}"
    return str(e).splitlines()[0] if str(e) else type(e).__name__
