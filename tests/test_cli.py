"""The kpack command line on the bundled demo data and on bad input."""
import json
from pathlib import Path

import pytest

from kpack.cli import main

DEMO = str(Path(__file__).resolve().parents[1] / "datasets" / "demo")


def test_schedule_demo_table(capsys):
    assert main(["schedule", "-f", DEMO]) == 0
    out = capsys.readouterr().out
    assert "default/trainer" in out and "gpu-1" in out
    assert "10/11 pods scheduled onto 5 nodes" in out


def test_schedule_demo_json(capsys):
    assert main(["schedule", "-f", DEMO, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["pod"]: r for r in data["placements"]}
    assert rows["default/trainer"]["node"] == "gpu-1"
    assert rows["default/node-agent-node-b2"]["node"] == "node-b2"      # daemon pods land on cordoned nodes
    assert rows["default/too-big"]["reason"] == ("0/5 nodes are available: "
                                                 "1 node(s) had untolerated taint(s), "
                                                 "1 node(s) were unschedulable, "
                                                 "3 Insufficient cpu.")


def test_explain_demo(capsys):
    assert main(["explain", "-f", DEMO, "--pod", "web-2"]) == 0
    out = capsys.readouterr().out
    assert "NodeResourcesFit(x1)" in out and "node(s) were unschedulable" in out and "* node-a1" in out


def test_explain_json(capsys):
    assert main(["explain", "-f", DEMO, "--pod", "too-big", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["selected"] is None and data["filter"]["node-a1"] == "Insufficient cpu"


@pytest.mark.parametrize("content, match", [
    ("kind: Node\nmetadata: {name: [x\n", "malformed YAML"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, resources: {requests: {cpu: -2}}}]}\n"
     "---\nkind: Node\nmetadata: {name: n}\n", "must be non-negative"),
    ("kind: Node\nmetadata: {name: n}\n---\nkind: Node\nmetadata: {name: n}\n", "duplicate node name 'n'"),
    ("kind: Node\nmetadata: {name: n}\n---\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: ghost}\n",
     "'ghost' is not a node"),
    ("kind: Pod\nmetadata: {name: p}\n", "no Node objects"),
    ("kind: Widget\nmetadata: {name: w}\n", "unsupported kind 'Widget'"),
])
def test_bad_input_one_line_error(tmp_path, capsys, content, match):
    f = tmp_path / "bad.yaml"
    f.write_text(content)
    assert main(["schedule", "-f", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kpack: error: ") and match in err and err.count("\n") == 1


def test_bad_config(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("kind: KubeSchedulerConfiguration\nprofiles:\n- plugins:\n    score:\n"
                   "      enabled: [{name: NodeAffinity, weight: 101}]\n")
    assert main(["schedule", "-f", DEMO, "--config", str(cfg)]) == 2
    assert "weight: Invalid value: 101" in capsys.readouterr().err


def test_unknown_pod(capsys):
    assert main(["explain", "-f", DEMO, "--pod", "nope"]) == 2
    assert "--pod nope: no such pending pod" in capsys.readouterr().err


def test_explain_three_node_example_matches_saved_output(capsys):
    ex = Path(DEMO).parent.parent / "datasets" / "examples"
    assert main(["explain", "-f", str(ex / "three-nodes.yaml"), "--pod", "api"]) == 0
    assert capsys.readouterr().out == (ex / "three-nodes.explain.txt").read_text()
