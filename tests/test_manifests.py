"""load_manifests: multi-document YAML, JSON, kind: List, and clear errors for bad input."""
import json

import pytest

import kpack

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "status": {"allocatable": {"cpu": "1"}}}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"}, "spec": {"containers": [{"name": "c"}]}}


def test_multi_document_yaml_and_list(tmp_path):
    text = """
apiVersion: v1
kind: Node
metadata: {name: a}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c}]}}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: d}
  spec:
    replicas: 3
    selector: {matchLabels: {app: d}}
    template: {metadata: {labels: {app: d}}, spec: {containers: [{name: c}]}}
"""
    f = tmp_path / "m.yaml"
    f.write_text(text)
    objs = kpack.load_manifests(f)
    assert [type(o).__name__ for o in objs] == ["Node", "Pod", "Deployment"]
    assert objs[2].replicas == 3
    assert [type(o).__name__ for o in kpack.load_manifests(text)] == ["Node", "Pod", "Deployment"]


def test_json_and_directory(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"kind": "List", "items": [NODE, POD]}))
    (tmp_path / "b.yaml").write_text("kind: Node\nmetadata: {name: n2}\n")
    objs = kpack.load_manifests(tmp_path)
    assert [o.name for o in objs] == ["n1", "p1", "n2"]


@pytest.mark.parametrize("text, match", [
    ("kind: Node\nmetadata: {name: [unclosed", "malformed YAML"),
    ("kind: Secret\nmetadata: {name: s}\n", "unsupported kind 'Secret'"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, resources: {requests: {cpu: 1zz}}}]}\n",
     r"Pod/p: .*requests\[cpu\]"),
    ("kind: Pod\nmetadata: {name: p}\n"
     "spec: {containers: [{name: c, resources: {requests: {memory: '-1Gi'}}}]}\n",
     "must be non-negative"),
    ("kind: Node\nmetadata: {name: n}\nstatus: {allocatable: {cpu: lots}}\n",
     r"Node/n: status.allocatable\[cpu\]"),
    ("- 1\n- 2\n", "not a mapping"),
])
def test_errors_name_object_and_field(text, match):
    with pytest.raises(kpack.ManifestError, match=match):
        kpack.load_manifests(text)


def test_missing_file():
    with pytest.raises(kpack.ManifestError, match="no such file"):
        kpack.load_manifests("does/not/exist.yaml")


def test_topology_kinds_load():
    objs = kpack.load_manifests(
        "kind: Namespace\nmetadata: {name: team, labels: {t: a}}\n---\n"
        "kind: Service\nmetadata: {name: s, namespace: team}\nspec: {selector: {app: web}}\n---\n"
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\n"
        "spec: {selector: {matchLabels: {app: db}}}\n---\n"
        "kind: ReplicationController\nmetadata: {name: rc}\nspec: {selector: {app: old}}\n")
    assert [o.kind for o in objs] == ["Namespace", "Service", "StatefulSet", "ReplicationController"]
    assert objs[0].labels == {"t": "a"} and objs[1].selector == {"app": "web"} and objs[1].namespace == "team"
