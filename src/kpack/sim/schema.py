"""The Parquet trace format (nodes, pods, events .parquet in a directory): schemas, writer, checked reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..resources import BASE_RESOURCES

FORMAT_VERSION = "kpack-trace/1"
GPU = "nvidia.com/gpu"
NODES_FILE, PODS_FILE, EVENTS_FILE = "nodes.parquet", "pods.parquet", "events.parquet"
ROW_GROUP = 262_144  # rows per row group written by kpack (readers accept any)

DICT_STR = pa.dictionary(pa.int32(), pa.string())
TAINT = pa.struct([("key", pa.string()), ("value", pa.string()), ("effect", pa.string())])
TOLERATION = pa.struct(
    [("key", pa.string()), ("operator", pa.string()), ("value", pa.string()), ("effect", pa.string())]
)
LABELS = pa.map_(pa.string(), pa.string())


class TraceError(ValueError):
    """A trace file that does not follow the format; the message names the file and the column."""


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    required: bool
    doc: str


# Resource columns: int64 in base units (cpu millicores, memory/ephemeral-storage bytes, pods and devices
# counts). Any other column whose name contains "/" is an extended resource column (int64).
NODE_COLUMNS = (
    Column("name", DICT_STR, True, "node name (unique)"),
    Column("cpu", pa.int64(), True, "allocatable cpu, millicores"),
    Column("memory", pa.int64(), True, "allocatable memory, bytes"),
    Column("ephemeral-storage", pa.int64(), False, "allocatable ephemeral storage, bytes (default 0)"),
    Column("pods", pa.int64(), False, "allocatable pod count (default 110)"),
    Column(GPU, pa.int64(), False, "GPU devices (1000 milli-GPU each; default 0)"),
    Column("gpu_model", DICT_STR, False, "GPU model, becomes label nvidia.com/gpu.product ('' none)"),
    Column("pool", DICT_STR, False, "node pool (informational; also usable as a label)"),
    Column("labels", LABELS, False, "node labels"),
    Column("taints", pa.list_(TAINT), False, "node taints (effect NoSchedule|PreferNoSchedule|NoExecute)"),
    Column("unschedulable", pa.bool_(), False, "cordoned at start (default false)"),
    Column("add_time", pa.int64(), False, "seconds; the node joins then (null/0: present at start). Sorted"),
    Column("remove_time", pa.int64(), False, "seconds; graceful removal (pods requeued), null: never"),
    Column("fail_time", pa.int64(), False, "seconds; node failure (pods requeued), null: never"),
    Column("tiebreak_rank", pa.int64(), False, "GPU-policy tie-break rank (openb import; lower wins)"),
)
POD_COLUMNS = (
    Column("name", DICT_STR, True, "pod name (namespace/name is the identity)"),
    Column("namespace", DICT_STR, False, "namespace (default 'default')"),
    Column("arrival", pa.int64(), True, "seconds since trace start when the pod is created. Sorted"),
    Column("departure", pa.int64(), False, "seconds; the pod ends (null: runs to the end)"),
    Column("duration", pa.int64(), False, "seconds it runs once bound (alternative to departure)"),
    Column("cpu", pa.int64(), True, "cpu request, millicores"),
    Column("memory", pa.int64(), True, "memory request, bytes"),
    Column("ephemeral-storage", pa.int64(), False, "ephemeral storage request, bytes"),
    Column(GPU, pa.int64(), False, "GPU devices requested (1 with gpu_milli for a share)"),
    Column("gpu_milli", pa.int64(), False, "milli-GPU of one device for a GPU-sharing pod (null: whole)"),
    Column("gpu_models", DICT_STR, False, "accepted GPU models, '|'-separated ('' any)"),
    Column("node_selector", LABELS, False, "spec.nodeSelector"),
    Column("tolerations", pa.list_(TOLERATION), False, "spec.tolerations"),
    Column("priority", pa.int64(), False, "spec.priority (default 0); higher is scheduled first"),
    Column("owner_kind", DICT_STR, False, "owner kind (Deployment, DaemonSet, Job, ...)"),
    Column("owner_name", DICT_STR, False, "owner name"),
    Column("pinned_node", DICT_STR, False, "DaemonSet pin: required matchFields metadata.name In [node]"),
)
EVENT_ACTIONS = {
    "Deployment": ("create", "update", "rollback", "delete"),
    "DaemonSet": ("create", "update", "rollback", "delete"),
    "Node": ("cordon", "uncordon", "fail", "remove"),
}
EVENT_COLUMNS = (
    Column("time", pa.int64(), True, "seconds. Sorted"),
    Column("kind", DICT_STR, True, "Deployment, DaemonSet or Node"),
    Column(
        "action", DICT_STR, True,
        "create, update, rollback, delete (workloads); cordon, uncordon, fail, remove",
    ),
    Column("namespace", DICT_STR, False, "workload namespace (default 'default')"),
    Column("name", DICT_STR, True, "object name"),
    Column("replicas", pa.int64(), False,
           "Deployment replicas: overrides the manifest's; an update with replicas and no manifest scales"),
    Column("revision", pa.int64(), False, "rollback target revision (null/0: previous)"),
    Column("manifest", pa.string(), False,
           "JSON apps/v1 manifest of the Deployment/DaemonSet: required for create, optional for update"),
)
SCHEMAS = {NODES_FILE: NODE_COLUMNS, PODS_FILE: POD_COLUMNS, EVENTS_FILE: EVENT_COLUMNS}
TIME_COLUMN = {NODES_FILE: "add_time", PODS_FILE: "arrival", EVENTS_FILE: "time"}
DEFAULT_ALLOCATABLE_PODS = 110


def is_resource_column(name: str) -> bool:
    return name in BASE_RESOURCES or "/" in name


def arrow_schema(
    file: str, extra_resources: tuple[str, ...] = (), columns: Optional[list[str]] = None
) -> pa.Schema:
    """The Arrow schema kpack writes for `file` (all known columns, or `columns` in that order)."""
    known = {c.name: c.type for c in SCHEMAS[file]}
    for r in extra_resources:
        known.setdefault(r, pa.int64())
    names = columns if columns is not None else list(known)
    return pa.schema([(n, known[n]) for n in names])


def _same_type(actual: pa.DataType, expected: pa.DataType) -> bool:
    if pa.types.is_dictionary(expected):
        return (
            actual == expected
            or (pa.types.is_dictionary(actual) and pa.types.is_string(actual.value_type))
            or pa.types.is_string(actual)
            or pa.types.is_large_string(actual)
        )
    if pa.types.is_integer(expected):
        return pa.types.is_integer(actual)
    if pa.types.is_map(expected):
        return pa.types.is_map(actual)
    if pa.types.is_list(expected):
        return pa.types.is_list(actual) and pa.types.is_struct(actual.value_type)
    return actual == expected


def check_schema(path: Path, schema: pa.Schema, file: str) -> None:
    """Missing or mistyped columns -> TraceError naming the file and the column."""
    spec = {c.name: c for c in SCHEMAS[file]}
    for c in SCHEMAS[file]:
        if c.required and c.name not in schema.names:
            raise TraceError(f"{path}: missing required column {c.name!r} ({c.doc})")
    for f in schema:
        c = spec.get(f.name)
        if c is None:
            if file != EVENTS_FILE and is_resource_column(f.name):
                if not pa.types.is_integer(f.type):
                    raise TraceError(
                        f"{path}: column {f.name!r}: resource columns must be int64, got {f.type}"
                    )
                continue
            raise TraceError(f"{path}: unknown column {f.name!r} (see docs/traces.md)")
        if not _same_type(f.type, c.type):
            raise TraceError(f"{path}: column {f.name!r}: expected {c.type}, got {f.type}")
    if file == PODS_FILE and "departure" in schema.names and "duration" in schema.names:
        raise TraceError(f"{path}: columns 'departure' and 'duration': give one of them, not both")


def check_batch(path: Path, batch: pa.RecordBatch, file: str, last_time: Optional[int]) -> Optional[int]:
    """Values of one record batch: required columns without nulls, sorted times, non-negative
    resources/times. Returns the last time."""
    for c in SCHEMAS[file]:
        if c.required and c.name in batch.schema.names and batch.column(c.name).null_count:
            row = batch.column(c.name).is_null().to_numpy(zero_copy_only=False).argmax()
            raise TraceError(f"{path}: column {c.name!r}: null in a required column (row {int(row)} of a "
                             f"record batch{_row_pod(batch, int(row))})")
    tcol = TIME_COLUMN[file]
    if tcol in batch.schema.names:
        t = batch.column(tcol).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        if len(t):
            if last_time is not None and t[0] < last_time:
                raise TraceError(f"{path}: column {tcol!r}: not sorted (value {int(t[0])} after {last_time})")
            bad = np.flatnonzero(np.diff(t) < 0)
            if len(bad):
                raise TraceError(
                    f"{path}: column {tcol!r}: not sorted (value {int(t[bad[0] + 1])} after {int(t[bad[0]])})"
                )
            if t[0] < 0:
                raise TraceError(f"{path}: column {tcol!r}: negative time {int(t[0])}")
            last_time = int(t[-1])
    for name in batch.schema.names:
        if is_resource_column(name) or name in (
            "gpu_milli",
            "duration",
            "departure",
            "remove_time",
            "fail_time",
            "replicas",
            "revision",
        ):
            a = batch.column(name).to_numpy(zero_copy_only=False)
            a = a[~np.isnan(a)] if a.dtype.kind == "f" else a
            if len(a) and a.min() < 0:
                what = "request" if file == PODS_FILE and is_resource_column(name) else "value"
                raise TraceError(f"{path}: column {name!r}: negative {what} {int(a.min())}")
    if file == PODS_FILE and "departure" in batch.schema.names:
        a = batch.column("arrival").to_numpy(zero_copy_only=False)
        d = batch.column("departure")
        dv = d.fill_null(np.iinfo(np.int64).max).to_numpy(zero_copy_only=False)
        if len(a) and (dv < a).any():
            i = int(np.flatnonzero(dv < a)[0])
            raise TraceError(
                f"{path}: column 'departure': {int(dv[i])} before arrival {int(a[i])} "
                f"(pod {batch.column('name')[i].as_py()!r})"
            )
    if file == EVENTS_FILE:
        kinds = batch.column("kind").to_pylist()
        acts = batch.column("action").to_pylist()
        n = batch.num_rows
        names = batch.schema.names
        man = batch.column("manifest").to_pylist() if "manifest" in names else [None] * n
        reps = batch.column("replicas").to_pylist() if "replicas" in names else [None] * n
        for k, a, m, r, t in zip(kinds, acts, man, reps, batch.column("time").to_pylist()):
            if k != "Node" and a == "create" and not m:
                raise TraceError(f"{path}: column 'manifest': the {k} create at time {t} has no manifest")
            if k != "Node" and a == "update" and not m and r is None:
                raise TraceError(f"{path}: columns 'manifest' and 'replicas': the {k} update at time {t} "
                                 "gives neither a manifest nor replicas")
            if r is not None and k != "Deployment":
                raise TraceError(f"{path}: column 'replicas': set on a {k} event at time {t} "
                                 "(only Deployments have replicas)")
        for k, a in zip(kinds, acts):
            if k not in EVENT_ACTIONS:
                raise TraceError(
                    f"{path}: column 'kind': unknown value {k!r} (known: {', '.join(EVENT_ACTIONS)})"
                )
            if a not in EVENT_ACTIONS[k]:
                raise TraceError(
                    f"{path}: column 'action': {a!r} is not an action of {k} ({', '.join(EVENT_ACTIONS[k])})"
                )
    return last_time


def _row_pod(batch: pa.RecordBatch, row: int) -> str:
    """', pod NAME' when the row has a name, for an error message."""
    if "name" not in batch.schema.names:
        return ""
    name = batch.column("name")[row].as_py()
    return "" if name is None else f", name {name!r}"


class TraceDir:
    """A trace directory opened for reading: schema checked up front, values checked as batches stream."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        if not self.dir.is_dir():
            raise TraceError(f"{self.dir}: not a trace directory")
        for f in (NODES_FILE, PODS_FILE):
            if not (self.dir / f).is_file():
                raise TraceError(f"{self.dir / f}: missing (a trace needs {NODES_FILE} and {PODS_FILE})")
        self.files = {f: pq.ParquetFile(self.dir / f) for f in SCHEMAS if (self.dir / f).is_file()}
        for f, pf in self.files.items():
            check_schema(self.dir / f, pf.schema_arrow, f)
        meta = self.files[PODS_FILE].schema_arrow.metadata or {}
        self.metadata = json.loads(meta.get(b"kpack", b"{}"))

    @property
    def has_events(self) -> bool:
        return EVENTS_FILE in self.files

    def n_rows(self, file: str) -> int:
        pf = self.files.get(file)
        return pf.metadata.num_rows if pf is not None else 0

    def iter_batches(
        self, file: str, batch_size: int = 65_536, columns: Optional[list[str]] = None
    ) -> Iterator[pa.RecordBatch]:
        """Stream `file` (validated batch by batch). An absent optional file yields nothing."""
        pf = self.files.get(file)
        if pf is None:
            return
        last = None
        path = self.dir / file
        for b in pf.iter_batches(batch_size=batch_size, columns=columns):
            last = check_batch(path, b, file, last)
            yield b

    def read(self, file: str) -> pa.Table:
        batches = list(self.iter_batches(file))
        pf = self.files.get(file)
        if pf is None:
            return pa.table({})
        return pa.Table.from_batches(batches, schema=pf.schema_arrow)

    def resource_columns(self, file: str) -> list[str]:
        pf = self.files.get(file)
        return [n for n in pf.schema_arrow.names if is_resource_column(n)] if pf is not None else []


class TraceWriter:
    """Streams one trace file: explicit row groups, dictionary-encoded strings, sorted-time check."""

    def __init__(
        self,
        directory: str | Path,
        file: str,
        schema: pa.Schema,
        metadata: Optional[dict] = None,
        row_group: int = ROW_GROUP,
    ):
        self.path = Path(directory) / file
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = file
        md = {b"kpack": json.dumps({"format": FORMAT_VERSION, **(metadata or {})}, sort_keys=True).encode()}
        self.schema = schema.with_metadata(md)
        check_schema(self.path, self.schema, file)
        self.row_group = row_group
        self.writer = pq.ParquetWriter(
            self.path, self.schema, compression="zstd", use_dictionary=True, write_statistics=True
        )
        self.last: Optional[int] = None
        self.rows = 0

    def write(self, columns: dict) -> None:
        """Append rows given as {column: array/list}; they must continue the time order."""
        t = pa.table({n: columns[n] for n in self.schema.names}, schema=self.schema)
        for b in t.to_batches(max_chunksize=self.row_group):
            self.last = check_batch(self.path, b, self.file, self.last)
        self.writer.write_table(t, row_group_size=self.row_group)
        self.rows += t.num_rows

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_table(directory: str | Path, file: str, columns: dict, metadata: Optional[dict] = None) -> Path:
    """Write a whole (small) trace file from {column: values}; column order as in the schema."""
    order = [c.name for c in SCHEMAS[file] if c.name in columns]
    extra = tuple(sorted(n for n in columns if n not in order))
    schema = arrow_schema(file, extra, order + list(extra))
    with TraceWriter(directory, file, schema, metadata) as w:
        w.write(columns)
    return w.path


def schema_markdown() -> str:
    """The schema tables of docs/traces.md (generated from the definitions above)."""
    out = []
    for f, cols in SCHEMAS.items():
        out.append(f"### {f}\n\n| column | type | required | meaning |\n|---|---|---|---|")
        for c in cols:
            t = "string (dictionary)" if pa.types.is_dictionary(c.type) else str(c.type)
            out.append(f"| `{c.name}` | {t} | {'yes' if c.required else 'no'} | {c.doc} |")
        out.append("")
    return "\n".join(out)
