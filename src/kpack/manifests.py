"""Load multi-document YAML/JSON manifests (and `kind: List`) into typed kpack objects."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from pydantic import ValidationError

from .models import DaemonSet, Deployment, Node, Pod, ReplicaSet
from .topology.objects import Namespace, ReplicationController, Service, StatefulSet
from .validation import ManifestWarning, check_api_version

# libyaml's loader is about 10x faster than the pure-Python one; its errors carry the same line marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

KINDS = {"Node": Node, "Pod": Pod, "Deployment": Deployment, "ReplicaSet": ReplicaSet, "DaemonSet": DaemonSet,
         "Namespace": Namespace, "Service": Service, "StatefulSet": StatefulSet,
         "ReplicationController": ReplicationController}
Manifest = Union[Node, Pod, Deployment, ReplicaSet, DaemonSet, Namespace, Service, StatefulSet,
                 ReplicationController]


class ManifestError(ValueError):
    """A manifest that cannot be loaded; the message names the source, object and field."""


def _documents(text: str, source: str) -> list[Any]:
    if text.lstrip().startswith(("{", "[")):
        try:
            doc = json.loads(text)
            return doc if isinstance(doc, list) else [doc]
        except json.JSONDecodeError:
            pass   # YAML flow style ({kind: Pod, ...}) is YAML, not JSON
    try:
        return [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
    except yaml.YAMLError as e:
        msg = str(e).replace("\n", " ")
        raise ManifestError(f"{source}: malformed YAML/JSON: {msg}") from None


def _flatten(docs: list[Any], source: str) -> list[dict]:
    out: list[dict] = []
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            raise ManifestError(f"{source}: document {i + 1} is not a mapping")
        if d.get("kind") == "List" or (str(d.get("kind", "")).endswith("List") and "items" in d):
            items = d.get("items") or []
            if not isinstance(items, list):
                raise ManifestError(f"{source}: document {i + 1}: items: must be a list, got {items!r}")
            out.extend(_flatten(items, source))
        else:
            out.append(d)
    return out


def parse_object(d: dict, source: str = "<manifest>") -> Manifest:
    """One manifest object as a typed kpack object. Unknown fields are reported as ManifestWarning
    (`<source>: <Kind>/<name>: unknown field "spec.nodeSelecter"`); bad ones raise ManifestError."""
    kind = d.get("kind")
    meta = d.get("metadata")
    name = meta.get("name", "?") if isinstance(meta, dict) else "?"
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ManifestError(f"{source}: {kind or '<missing kind>'}/{name}: unsupported kind {kind!r} "
                            f"(supported: {', '.join(KINDS)})")
    try:
        check_api_version(kind, d.get("apiVersion"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ManifestWarning)
            obj = cls.from_k8s(d)
        for w in caught:
            text = f"{source}: {w.message}" if issubclass(w.category, ManifestWarning) else w.message
            warnings.warn(text, w.category, stacklevel=2)
        return obj
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        prefix = f"{loc}: " if loc and not msg.startswith(loc) else ""
        raise ManifestError(f"{source}: {kind}/{name}: {prefix}{msg}") from None
    except ValueError as e:
        raise ManifestError(f"{source}: {kind}/{name}: {e}") from None


def _read(p: Path) -> str:
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ManifestError(f"{p}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ManifestError(f"{p}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None


def load_manifests(path_or_text: Union[str, Path]) -> list[Manifest]:
    """Objects from a file path, a directory of .yaml/.yml/.json files, or manifest text.

    A string that is not an existing path is text when it parses as JSON or YAML documents (a
    `json.dumps(manifest)` one-liner too); otherwise it is reported as a missing file.
    """
    if isinstance(path_or_text, Path):
        p: Optional[Path] = path_or_text
    else:
        s = str(path_or_text)
        try:
            p = Path(s) if "\n" not in s and len(s) < 4096 and Path(s).exists() else None
        except OSError:   # a name too long for the file system, ...
            p = None
        if p is None:
            looks_like_path = "\n" not in s and s.strip().endswith((".yaml", ".yml", ".json"))
            try:
                docs = _documents(s, "<text>")
            except ManifestError:
                if looks_like_path:
                    raise ManifestError(f"{s}: no such file") from None
                raise
            if docs and all(isinstance(d, (dict, list)) for d in docs):
                return [parse_object(d, "<text>") for d in _flatten(docs, "<text>")]
            raise ManifestError(f"{s}: no such file (and not YAML/JSON manifest text)")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml", ".json"))
        return [o for f in files for o in load_manifests(f)]
    if not p.exists():
        raise ManifestError(f"{p}: no such file")
    source = str(p)
    return [parse_object(d, source) for d in _flatten(_documents(_read(p), source), source)]
