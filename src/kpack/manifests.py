"""Load multi-document YAML/JSON manifests (and `kind: List`) into typed kpack objects."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import ValidationError

from .models import DaemonSet, Deployment, Node, Pod, ReplicaSet
from .topology.objects import Namespace, ReplicationController, Service, StatefulSet

KINDS = {"Node": Node, "Pod": Pod, "Deployment": Deployment, "ReplicaSet": ReplicaSet, "DaemonSet": DaemonSet,
         "Namespace": Namespace, "Service": Service, "StatefulSet": StatefulSet,
         "ReplicationController": ReplicationController}
Manifest = Union[Node, Pod, Deployment, ReplicaSet, DaemonSet, Namespace, Service, StatefulSet,
                 ReplicationController]


class ManifestError(ValueError):
    """A manifest that cannot be loaded; the message names the source, object and field."""


def _documents(text: str, source: str) -> list[Any]:
    try:
        if text.lstrip().startswith(("{", "[")):
            doc = json.loads(text)
            return doc if isinstance(doc, list) else [doc]
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        msg = str(e).replace("\n", " ")
        raise ManifestError(f"{source}: malformed YAML/JSON: {msg}") from None


def _flatten(docs: list[Any], source: str) -> list[dict]:
    out: list[dict] = []
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            raise ManifestError(f"{source}: document {i + 1} is not a mapping")
        if d.get("kind") == "List" or (str(d.get("kind", "")).endswith("List") and "items" in d):
            out.extend(_flatten(d.get("items") or [], source))
        else:
            out.append(d)
    return out


def parse_object(d: dict, source: str = "<manifest>") -> Manifest:
    kind = d.get("kind")
    name = (d.get("metadata") or {}).get("name", "?")
    cls = KINDS.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ManifestError(f"{source}: {kind or '<missing kind>'}/{name}: unsupported kind {kind!r} "
                            f"(supported: {', '.join(KINDS)})")
    try:
        return cls.from_k8s(d)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        prefix = f"{loc}: " if loc and not msg.startswith(loc) else ""
        raise ManifestError(f"{source}: {kind}/{name}: {prefix}{msg}") from None
    except ValueError as e:
        raise ManifestError(f"{source}: {kind}/{name}: {e}") from None


def load_manifests(path_or_text: Union[str, Path]) -> list[Manifest]:
    """Objects from a file path, a directory of .yaml/.yml/.json files, or manifest text."""
    p = Path(path_or_text) if isinstance(path_or_text, Path) or "\n" not in str(path_or_text) else None
    if p is not None and p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml", ".json"))
        return [o for f in files for o in load_manifests(f)]
    if p is not None and p.exists():
        text, source = p.read_text(), str(p)
    elif isinstance(path_or_text, Path) or (p is not None and (str(path_or_text).endswith((".yaml", ".yml", ".json"))
                                                               or "/" in str(path_or_text))):
        raise ManifestError(f"{path_or_text}: no such file")
    else:
        text, source = str(path_or_text), "<text>"
    return [parse_object(d, source) for d in _flatten(_documents(text, source), source)]
