"""Bad input, one row per class: the CLI exits 2 with one line naming the object and field (or warns), the
API raises a named error, and nothing is changed on error (issue 8 "Edges that hold")."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import kpack
from kpack import cli
from kpack.batch import cluster_from_arrays
from kpack.validation import MAX_QUANTITY

NODE = (
    "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {zone: a}}\n"
    "status: {allocatable: {cpu: '4', memory: 8Gi, pods: '110'}}\n"
)


def pod(spec: str = "containers: [{name: c}]", meta: str = "name: p", api: str = "v1") -> str:
    return f"apiVersion: {api}\nkind: Pod\nmetadata: {{{meta}}}\nspec: {{{spec}}}\n"


def workload(kind: str, spec: str) -> str:
    return f"apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: w}}\nspec: {{{spec}}}\n"


TEMPLATE = "template: {metadata: {labels: {app: w}}, spec: {containers: [{name: c}]}}"
SELECTOR = "selector: {matchLabels: {app: w}}"


def affinity(req: str) -> str:
    return (
        "containers: [{name: c}], affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: "
        f"{{nodeSelectorTerms: [{req}]}}}}}}"
    )


# (id, manifest text (after the valid node NODE), exit code, stderr fragment)
CLI_ROWS = [
    # --- classes that already worked (keep them working) ---
    ("malformed-yaml", "kind: Pod\nmetadata: {name: [unclosed", 2, "malformed YAML"),
    (
        "bad-quantity",
        pod("containers: [{name: c, resources: {requests: {cpu: 1zz}}}]"),
        2,
        "Pod/p: spec.containers[0].resources.requests[cpu]",
    ),
    (
        "negative-quantity",
        pod("containers: [{name: c, resources: {requests: {memory: '-1Gi'}}}]"),
        2,
        "must be non-negative",
    ),
    ("duplicate-node", NODE, 2, "duplicate node name 'n1'"),
    ("unknown-node", pod("nodeName: ghost, containers: [{name: c}]"), 2, "'ghost' is not a node"),
    ("unsupported-kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", 2, "unsupported kind"),
    # --- item 3: strings read as booleans; labels and selectors are strings ---
    (
        "unschedulable-string",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n2}\nspec: {unschedulable: 'false'}\n"
        "status: {allocatable: {cpu: '1'}}\n",
        2,
        "Node/n2: spec.unschedulable: must be a boolean",
    ),
    (
        "hostnetwork-string",
        pod("hostNetwork: 'true', containers: [{name: c}]"),
        2,
        "spec.hostNetwork: must be a boolean",
    ),
    (
        "label-true",
        pod(meta="name: p, labels: {gpu: true}"),
        2,
        "metadata.labels[gpu]: value must be a string",
    ),
    (
        "label-null",
        pod(meta="name: p, labels: {gpu: null}"),
        2,
        "metadata.labels[gpu]: value must be a string",
    ),
    (
        "node-label-true",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n2, labels: {ssd: true}}\n",
        2,
        "Node/n2: metadata.labels[ssd]: value must be a string",
    ),
    (
        "nodeselector-true",
        pod("nodeSelector: {ssd: true}, containers: [{name: c}]"),
        2,
        "spec.nodeSelector[ssd]: value must be a string",
    ),
    (
        "label-key-syntax",
        pod(meta="name: p, labels: {'bad key': x}"),
        2,
        "metadata.labels: invalid key 'bad key'",
    ),
    (
        "label-value-length",
        pod(meta="name: p, labels: {k: " + "v" * 64 + "}"),
        2,
        "no more than 63 characters",
    ),
    (
        "annotation-number",
        pod(meta="name: p, annotations: {kpack.io/gpu-milli: 500}"),
        2,
        "metadata.annotations[kpack.io/gpu-milli]: value must be a string",
    ),
    # --- item 4: big numbers, one range rule ---
    (
        "node-9Pi",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n2}\nstatus: {allocatable: {memory: 9Pi}}\n",
        2,
        "status.allocatable[memory]: 10133099161583616 base units is above kpack's limit of 2**53",
    ),
    (
        "pod-9Pi",
        pod("containers: [{name: c, resources: {requests: {memory: 9Pi}}}]"),
        2,
        "above kpack's limit",
    ),
    (
        "pod-total-over-limit",
        pod(
            "containers: [{name: a, resources: {requests: {memory: 5Pi}}}, "
            "{name: b, resources: {requests: {memory: 5Pi}}}]"
        ),
        2,
        "total pod requests",
    ),
    (
        "gpu-devices",
        "apiVersion: v1\nkind: Node\nmetadata: {name: g}\n"
        "status: {allocatable: {nvidia.com/gpu: '100000000'}}\n",
        2,
        "limit of 64 GPU devices per node",
    ),
    (
        "gpu-fraction",
        pod("containers: [{name: c, resources: {requests: {nvidia.com/gpu: '0.5'}}}]"),
        2,
        "requests[nvidia.com/gpu]: must be an integer",
    ),
    (
        "request-over-limit",
        pod("containers: [{name: c, resources: {requests: {cpu: '2'}, limits: {cpu: '1'}}}]"),
        2,
        "must be less than or equal to cpu limit",
    ),
    (
        "bad-resource-name",
        pod("containers: [{name: c, resources: {requests: {foo: '1'}}}]"),
        2,
        "must be a standard resource for containers",
    ),
    # --- item 5: invalid workloads ---
    (
        "replicas-negative",
        workload("Deployment", f"replicas: -2, {SELECTOR}, {TEMPLATE}"),
        2,
        "Deployment/w: spec.replicas: -2 is out of range",
    ),
    (
        "replicas-int32",
        workload("Deployment", f"replicas: 100000000000, {SELECTOR}, {TEMPLATE}"),
        2,
        "spec.replicas: 100000000000 is out of range",
    ),
    (
        "replicas-cap",
        workload("ReplicaSet", f"replicas: 2000000, {SELECTOR}, {TEMPLATE}"),
        2,
        "above kpack's limit of 1000000 replicas",
    ),
    (
        "replicas-string",
        workload("Deployment", f"replicas: three, {SELECTOR}, {TEMPLATE}"),
        2,
        "spec.replicas: must be an integer",
    ),
    (
        "selector-mismatch",
        workload("Deployment", f"selector: {{matchLabels: {{app: other}}}}, {TEMPLATE}"),
        2,
        "`selector` does not match template `labels`",
    ),
    ("selector-missing", workload("ReplicaSet", TEMPLATE), 2, "spec.selector: Required value"),
    (
        "surge-and-unavailable-0",
        workload(
            "Deployment",
            f"{SELECTOR}, {TEMPLATE}, strategy: {{type: RollingUpdate, "
            "rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}",
        ),
        2,
        "maxUnavailable: may not be 0 when `maxSurge` is 0",
    ),
    (
        "unavailable-over-100",
        workload(
            "Deployment", f"{SELECTOR}, {TEMPLATE}, strategy: {{rollingUpdate: {{maxUnavailable: 150%}}}}"
        ),
        2,
        "must not be greater than 100%",
    ),
    (
        "surge-not-percent",
        workload("Deployment", f"{SELECTOR}, {TEMPLATE}, strategy: {{rollingUpdate: {{maxSurge: lots}}}}"),
        2,
        "must be an integer or percentage",
    ),
    (
        "strategy-type",
        workload("Deployment", f"{SELECTOR}, {TEMPLATE}, strategy: {{type: Sideways}}"),
        2,
        "spec.strategy.type: Unsupported value: 'Sideways'",
    ),
    (
        "recreate-with-rolling",
        workload(
            "Deployment",
            f"{SELECTOR}, {TEMPLATE}, strategy: {{type: Recreate, rollingUpdate: {{maxSurge: 1}}}}",
        ),
        2,
        "may not be specified when strategy",
    ),
    (
        "daemonset-no-template",
        workload("DaemonSet", SELECTOR),
        2,
        "spec.template.metadata.labels: {}: `selector`",
    ),
    (
        "replicaset-no-containers",
        workload(
            "ReplicaSet",
            f"{SELECTOR}, template: {{metadata: {{labels: {{app: w}}}}, spec: {{containers: []}}}}",
        ),
        2,
        "spec.template.spec.containers: Required",
    ),
    (
        "daemonset-strategy",
        workload("DaemonSet", f"{SELECTOR}, {TEMPLATE}, updateStrategy: {{type: Later}}"),
        2,
        "spec.updateStrategy.type: Unsupported value",
    ),
    (
        "template-restart-never",
        workload(
            "Deployment",
            f"{SELECTOR}, template: {{metadata: {{labels: {{app: w}}}}, "
            "spec: {restartPolicy: Never, containers: [{name: c}]}}",
        ),
        2,
        "spec.template.spec.restartPolicy: Unsupported value: 'Never'",
    ),
    # --- item 6: invalid node-affinity requirements ---
    (
        "affinity-in-no-values",
        pod(affinity("{matchExpressions: [{key: zone, operator: In}]}")),
        2,
        "matchExpressions[0].values: must be specified when `operator` is 'In' or 'NotIn'",
    ),
    (
        "affinity-exists-values",
        pod(affinity("{matchExpressions: [{key: zone, operator: Exists, values: [a]}]}")),
        2,
        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
    ),
    (
        "affinity-gt-two-values",
        pod(affinity("{matchExpressions: [{key: n, operator: Gt, values: ['1', '2']}]}")),
        2,
        "must be specified single value when `operator` is 'Lt' or 'Gt'",
    ),
    (
        "affinity-field-key",
        pod(affinity("{matchFields: [{key: metadata.labels, operator: In, values: [a]}]}")),
        2,
        "matchFields[0].key: 'metadata.labels' is not a valid field selector key",
    ),
    (
        "affinity-field-two-values",
        pod(affinity("{matchFields: [{key: metadata.name, operator: In, values: [a, b]}]}")),
        2,
        "must be only one value",
    ),
    (
        "affinity-bad-operator",
        pod(affinity("{matchExpressions: [{key: zone, operator: Near, values: [a]}]}")),
        2,
        "spec.affinity.nodeAffinity",
    ),
    (
        "affinity-no-terms",
        pod(
            "containers: [{name: c}], affinity: {nodeAffinity: "
            "{requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: []}}}"
        ),
        2,
        "must have at least one node selector term",
    ),
    # --- item 7: apiVersion per kind ---
    (
        "apiversion-pod",
        pod(api="apps/v1"),
        2,
        "apiVersion: 'apps/v1' is not valid for kind Pod (expected 'v1')",
    ),
    (
        "apiversion-deployment",
        workload("Deployment", f"{SELECTOR}, {TEMPLATE}").replace("apps/v1", "v1"),
        2,
        "is not valid for kind Deployment (expected 'apps/v1')",
    ),
    # --- item 8: wrong-typed sections give one line, not a traceback ---
    (
        "spec-string",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: hello\n",
        2,
        "Pod/p: spec: must be a mapping (an object), got 'hello'",
    ),
    ("containers-map", pod("containers: {a: {name: c}}"), 2, "spec.containers: must be a list"),
    ("labels-list", pod(meta="name: p, labels: [a, b]"), 2, "metadata.labels: must be a mapping"),
    ("container-string", pod("containers: [hello]"), 2, "spec.containers[0]: must be a mapping"),
    (
        "resources-string",
        pod("containers: [{name: c, resources: lots}]"),
        2,
        "spec.containers[0].resources: must be a mapping",
    ),
    (
        "metadata-string",
        "apiVersion: v1\nkind: Pod\nmetadata: hello\nspec: {containers: [{name: c}]}\n",
        2,
        "metadata: must be a mapping",
    ),
    # --- item 11: priority ---
    (
        "priority-word",
        pod("priority: high, containers: [{name: c}]"),
        2,
        "spec.priority: must be an integer, got 'high'",
    ),
    (
        "priority-fraction",
        pod("priority: 1.7, containers: [{name: c}]"),
        2,
        "spec.priority: must be an integer",
    ),
    (
        "priority-int32",
        pod("priority: 3000000000, containers: [{name: c}]"),
        2,
        "spec.priority: 3000000000 is out",
    ),
    # --- object names: upstream ValidateObjectMeta (DNS-1123 subdomain names, DNS-1123 label namespaces) ---
    ("pod-name-upper", pod(meta="name: Web_1"), 2, "metadata.name: Invalid value: 'Web_1': a lowercase RFC"),
    ("pod-name-long", pod(meta="name: " + "a" * 254), 2, "must be no more than 253 characters"),
    ("pod-name-number", pod(meta="name: 5"), 2, "metadata.name: must be a string, got 5"),
    ("pod-generate-name", pod(meta="generateName: Web-"), 2, "metadata.generateName: Invalid value: 'Web-'"),
    ("pod-namespace", pod(meta="name: p, namespace: my.ns"), 2, "metadata.namespace: Invalid value: 'my.ns'"),
    (
        "node-name",
        "apiVersion: v1\nkind: Node\nmetadata: {name: Node_2}\n",
        2,
        "Node/Node_2: metadata.name: Invalid value: 'Node_2'",
    ),
    (
        "deployment-name",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: -web}\n"
        "spec: {selector: {matchLabels: {a: b}},\n"
        "       template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c}]}}}\n",
        2,
        "metadata.name: Invalid value: '-web'",
    ),
]


def test_valid_object_names_are_accepted():
    """The names upstream accepts stay accepted: dots, digits first, 253 characters, a generateName prefix."""
    for meta, want in [({"name": "a.b-1"}, "a.b-1"), ({"name": "0web"}, "0web"),
                       ({"name": "a" * 253}, "a" * 253), ({"generateName": "web-"}, "web-"),
                       ({"name": "p", "namespace": "kube-system"}, "p")]:
        m = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [{"name": "c"}]}}
        assert kpack.Pod.from_k8s(m).name == want


def run(capsys, argv):
    rc = cli.main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("case, text, code, fragment", CLI_ROWS, ids=[r[0] for r in CLI_ROWS])
def test_cli_bad_manifest(tmp_path, capsys, case, text, code, fragment):
    f = tmp_path / "m.yaml"
    f.write_text(NODE + "---\n" + text)
    rc, out, err = run(capsys, ["schedule", "-f", str(f)])
    assert rc == code, err
    assert err.startswith("kpack: error: ") and err.count("\n") == 1, err  # one line, no traceback
    assert fragment in err
    assert out == ""  # nothing scheduled or printed


def test_cli_duplicate_node_in_two_files(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text(NODE)
    (tmp_path / "b.yaml").write_text(NODE)
    rc, _, err = run(capsys, ["schedule", "-f", str(tmp_path / "a.yaml"), "-f", str(tmp_path / "b.yaml")])
    assert rc == 2 and "duplicate node name 'n1'" in err


def test_gt_with_non_integer_value_is_valid_and_matches_nothing(tmp_path, capsys):
    # API validation accepts it; the scheduler's requirement parsing fails, so no node matches (upstream).
    f = tmp_path / "m.yaml"
    f.write_text(
        NODE + "---\n" + pod(affinity("{matchExpressions: [{key: zone, operator: Gt, values: [abc]}]}"))
    )
    rc, out, _ = run(capsys, ["schedule", "-f", str(f), "--json"])
    assert rc == 0
    assert json.loads(out)["placements"][0]["node"] is None


@pytest.mark.parametrize(
    "text, paths",
    [
        (
            pod("nodeSelecter: {zone: a}, containers: [{name: c, resource: {requests: {cpu: 1}}}]"),
            ["spec.nodeSelecter", "spec.containers[0].resource"],
        ),
        (
            "apiVersion: v1\nkind: Node\nmetadata: {name: n2, lables: {a: b}}\n"
            "status: {allocatabel: {cpu: '1'}}\n",
            ["metadata.lables", "status.allocatabel"],
        ),
        (workload("Deployment", f"{SELECTOR}, {TEMPLATE}, replica: 3"), ["spec.replica"]),
    ],
)
def test_unknown_fields_warn_and_continue(tmp_path, capsys, text, paths):
    f = tmp_path / "m.yaml"
    f.write_text(NODE + "---\n" + text)
    rc, _, err = run(capsys, ["schedule", "-f", str(f)])
    assert rc == 0
    for p in paths:
        assert f"kpack: warning: {f}: " in err and f'unknown field "{p}"' in err


def test_real_manifest_fields_do_not_warn(tmp_path, capsys):
    text = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {app: web}, annotations: {a: b}}
spec:
  replicas: 2
  revisionHistoryLimit: 3
  progressDeadlineSeconds: 300
  minReadySeconds: 5
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
  selector: {matchLabels: {app: web}, matchExpressions: [{key: tier, operator: NotIn, values: [db]}]}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      priorityClassName: high
      terminationGracePeriodSeconds: 30
      securityContext: {runAsNonRoot: true, fsGroup: 2000}
      topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule,
                                   labelSelector: {matchLabels: {app: web}}}]
      volumes: [{name: data, emptyDir: {sizeLimit: 1Gi}}, {name: cfg, configMap: {name: web}}]
      containers:
      - name: web
        image: nginx:1.27
        imagePullPolicy: IfNotPresent
        ports: [{containerPort: 80, name: http, protocol: TCP}]
        env: [{name: A, value: b}, {name: P, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}}
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 5}
        volumeMounts: [{name: data, mountPath: /data}]
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
"""
    f = tmp_path / "m.yaml"
    f.write_text(NODE + "---\n" + text)
    rc, _, err = run(capsys, ["schedule", "-f", str(f)])
    assert rc == 0 and err == ""


def test_library_reports_unknown_fields_as_manifest_warning():
    with pytest.warns(kpack.ManifestWarning, match='unknown field "spec.nodeSelecter"'):
        kpack.load_manifests(pod("nodeSelecter: {a: b}, containers: [{name: c}]"))


def test_non_utf8_manifest_and_config(tmp_path, capsys):
    f = tmp_path / "m.yaml"
    f.write_bytes(b"kind: Node\nmetadata: {name: \xff}\n")
    rc, _, err = run(capsys, ["schedule", "-f", str(f)])
    assert rc == 2 and f"{f}: not UTF-8 text" in err
    good = tmp_path / "n.yaml"
    good.write_text(NODE)
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"\xfe\xff")
    rc, _, err = run(capsys, ["schedule", "-f", str(good), "--config", str(cfg)])
    assert rc == 2 and "--config" in err and "not UTF-8" in err


@pytest.mark.parametrize(
    "config, fragment",
    [
        ("profiles: [{plugins: hello}]", "profiles[0].plugins: must be a mapping"),
        ("profiles: hello", "profiles: must be a list"),
        ("profiles: [{pluginConfig: {name: x}}]", "profiles[0].pluginConfig: must be a list"),
        (
            "profiles: [{plugins: {score: {enabled: hello}}}]",
            "profiles[0].plugins.score.enabled: must be a list",
        ),
        (
            "profiles: [{pluginConfig: [{name: NodeResourcesFit, args: hello}]}]",
            "pluginConfig[0].args: must be a mapping",
        ),
        ("percentageOfNodesToScore: 200", "percentageOfNodesToScore"),  # already worked
        ("apiVersion: kubescheduler.config.k8s.io/v1beta1", "apiVersion"),
    ],
)
def test_bad_config_one_line(tmp_path, capsys, config, fragment):
    good = tmp_path / "n.yaml"
    good.write_text(NODE)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config)
    rc, _, err = run(capsys, ["schedule", "-f", str(good), "--config", str(cfg)])
    assert rc == 2 and err.count("\n") == 1 and fragment in err, err


def test_missing_file(capsys):
    rc, _, err = run(capsys, ["schedule", "-f", "/nonexistent/m.yaml"])
    assert rc == 2 and "no such file" in err


def test_kpack_bug_keeps_traceback(tmp_path, capsys, monkeypatch):
    def boom(args):
        raise KeyError("oops")

    monkeypatch.setattr(cli, "cmd_schedule", boom)
    f = tmp_path / "n.yaml"
    f.write_text(NODE)
    rc, _, err = run(capsys, ["schedule", "-f", str(f)])
    assert rc == 70 and "Traceback" in err and "KeyError" in err and "kpack bug" in err


def test_value_error_from_deep_inside_is_one_line(tmp_path, capsys, monkeypatch):
    def deep(args):
        raise ValueError("engine: something precise\nsecond line")

    monkeypatch.setattr(cli, "cmd_schedule", deep)
    f = tmp_path / "n.yaml"
    f.write_text(NODE)
    rc, _, err = run(capsys, ["schedule", "-f", str(f)])
    assert rc == 2 and err == "kpack: error: engine: something precise\n"


def test_broken_pipe_is_quiet(tmp_path):
    pods = "".join(f"---\n{pod(meta=f'name: p{i}')}" for i in range(3000))
    f = tmp_path / "m.yaml"
    f.write_text(NODE + pods)
    code = "import sys; from kpack.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "schedule", "-f", str(f)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout.readline().startswith(b"POD")
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception ignored" not in err


# --- CSV and experiment inputs (kpack experiment fgd) ------------------------------------------------------
NODES_CSV = "sn,cpu_milli,memory_mib,gpu,model\nn1,64000,262144,2,V100M16\n"
PODS_CSV = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"


@pytest.mark.parametrize(
    "nodes, pods, extra, fragment",
    [
        (NODES_CSV, PODS_CSV.encode(), [], "pods.csv: no pod rows"),  # header only
        (NODES_CSV, PODS_CSV.encode() + b"p\xff,1,1,0,0\n", [], "pods.csv: not UTF-8 text"),
        (NODES_CSV, b"name,cpu_milli\np,1\n", [], "pods.csv: missing column"),  # already worked
        (
            NODES_CSV,
            PODS_CSV.encode() + b"p,1,1,0,0\n",
            ["--seeds", "1-100000000000"],
            "more than 10000 seeds",
        ),
        (
            "sn,cpu_milli,memory_mib,gpu,model\nn1,x,1,1,V100\n",
            PODS_CSV.encode() + b"p,1,1,0,0\n",
            [],
            "nodes.csv: row 2: column 'cpu_milli': not an integer",
        ),  # already worked
    ],
)
def test_experiment_csv_errors_name_the_file(tmp_path, capsys, nodes, pods, extra, fragment):
    (tmp_path / "nodes.csv").write_text(nodes)
    (tmp_path / "pods.csv").write_bytes(pods)
    argv = [
        "experiment",
        "fgd",
        "--nodes",
        str(tmp_path / "nodes.csv"),
        "--pods",
        str(tmp_path / "pods.csv"),
        "--policy",
        "fgd",
    ] + (extra or ["--seed", "1"])
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert fragment in str(e.value)


# --- Python API ---------------------------------------------------------------------------------------------
def small_cluster(**kw):
    return kpack.Cluster(
        [
            kpack.Node(name="a", allocatable={"cpu": "4", "memory": "8Gi", "pods": 10}),
            kpack.Node(name="b", allocatable={"cpu": "2", "memory": "4Gi", "pods": 10}),
        ],
        **kw,
    )


def snapshot(c: kpack.Cluster):
    return (
        list(c.resource_names),
        c.allocatable.tobytes(),
        c.requested.tobytes(),
        c.nonzero_requested.tobytes(),
        c.gpu_free.tobytes(),
        len(c.bound_pods()),
        c.unschedulable.tobytes(),
    )


API_ROWS = [
    (
        "node-labels-true",
        lambda: kpack.Node(name="n", labels={"gpu": True}),
        "labels[gpu]: value must be a string",
    ),
    ("node-labels-none", lambda: kpack.Node(name="n", labels={"gpu": None}), "value must be a string"),
    ("node-unschedulable-string", lambda: kpack.Node(name="n", unschedulable="false"), "unschedulable"),
    ("pod-selector-true", lambda: kpack.Pod(name="p", node_selector={"ssd": True}), "node_selector[ssd]"),
    ("pod-hostnetwork-string", lambda: kpack.Pod(name="p", host_network="yes"), "host_network"),
    ("pod-priority-word", lambda: kpack.Pod(name="p", priority="high"), "priority: must be an integer"),
    ("pod-priority-fraction", lambda: kpack.Pod(name="p", priority=1.7), "priority: must be an integer"),
    ("node-9Pi", lambda: kpack.Node(name="n", allocatable={"memory": "9Pi"}), "above kpack's limit of 2**53"),
    (
        "node-gpu-devices",
        lambda: kpack.Node(name="n", allocatable={"nvidia.com/gpu": 100_000_000}),
        "GPU devices per node",
    ),
    (
        "pod-gpu-fraction",
        lambda: kpack.Pod(name="p", requests={"nvidia.com/gpu": "1.5"}),
        "must be an integer",
    ),
    ("deployment-replicas", lambda: kpack.Deployment(name="d", replicas=-2), "replicas"),
    ("scheduler-seed", lambda: kpack.Scheduler(seed=1.5), "seed: must be an integer, got 1.5"),
    ("scheduler-seed-string", lambda: kpack.Scheduler(seed="7"), "seed: must be an integer"),
    ("load-missing-file", lambda: kpack.load_manifests("missing.yaml"), "missing.yaml: no such file"),
    ("load-scalar-text", lambda: kpack.load_manifests("just words"), "no such file (and not YAML/JSON"),
]


@pytest.mark.parametrize("case, call, fragment", API_ROWS, ids=[r[0] for r in API_ROWS])
def test_api_bad_input(case, call, fragment):
    with pytest.raises(ValueError) as e:
        call()
    assert fragment in str(e.value)


def test_load_manifests_json_one_liner():
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}},
        },
    }
    (obj,) = kpack.load_manifests(json.dumps(manifest))
    assert isinstance(obj, kpack.Deployment) and obj.name == "web"
    (obj,) = kpack.load_manifests(
        "{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c}]}}"
    )
    assert isinstance(obj, kpack.Pod)


def test_kpack_batch_after_import():
    code = "import kpack; print(kpack.batch.PodBatch.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "PodBatch"


# --- issue 7 fidelity: limits default requests per resource; kubernetes.io/ resources -----------------------
def test_limits_default_requests_per_resource():
    p = kpack.Pod.from_k8s(
        {
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "resources": {
                            "requests": {"cpu": "1"},
                            "limits": {"nvidia.com/gpu": 1, "memory": "2Gi"},
                        },
                    }
                ]
            },
        }
    )
    assert p.requests == {"cpu": 1000, "nvidia.com/gpu": 1, "memory": 2 * 2**30}
    # limits only: requests = limits (cpu missing -> the scoring default applies, as upstream)
    p = kpack.Pod.from_k8s(
        {
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "1Gi"}}}]},
        }
    )
    assert p.requests == {"memory": 2**30} and p.scoring_cpu == 100
    # pod-level resources default the same way
    p = kpack.Pod.from_k8s(
        {
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "resources": {"requests": {"memory": "1Gi"}, "limits": {"cpu": "2"}},
                "containers": [{"name": "c"}],
            },
        }
    )
    assert p.requests["cpu"] == 2000 and p.requests["memory"] == 2**30


def test_extended_request_must_equal_limit():
    with pytest.raises(
        ValueError, match=r"requests\[example.com/dev\]: 1 must be equal to example.com/dev limit"
    ):
        kpack.Pod.from_k8s(
            {
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "resources": {
                                "requests": {"example.com/dev": 1},
                                "limits": {"example.com/dev": 2},
                            },
                        }
                    ]
                },
            }
        )


def test_kubernetes_io_prefixed_resource_is_checked_by_fit():
    p = kpack.Pod.from_k8s(
        {
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "c", "resources": {"requests": {"kubernetes.io/something": 2}}}]
            },
        }
    )
    assert p.requests == {"kubernetes.io/something": 2}
    c = kpack.Cluster(
        [
            kpack.Node(name="has", allocatable={"cpu": "1", "pods": 5, "kubernetes.io/something": 1}),
            kpack.Node(name="more", allocatable={"cpu": "1", "pods": 5, "kubernetes.io/something": 4}),
        ]
    )
    ex = kpack.Scheduler().explain(c, p)
    assert ex.filter == {"has": "Insufficient kubernetes.io/something", "more": None}
    from kpack.resources import is_extended, is_scalar

    assert is_scalar("kubernetes.io/something") and not is_extended("kubernetes.io/something")


# --- state unchanged on error -------------------------------------------------------------------------------
def test_too_many_resource_columns_changes_nothing():
    c = kpack.Cluster(
        [kpack.Node(name="a", allocatable={"cpu": "4", "pods": 10, **{f"ex.io/r{i}": 1 for i in range(58)}})]
    )
    before = snapshot(c)
    pods = [kpack.Pod(name="p", requests={f"ex.io/new{i}": 1 for i in range(5)})]
    with pytest.raises(kpack.ClusterError, match="at most 64 resource columns"):
        kpack.Scheduler().schedule(c, pods)
    assert snapshot(c) == before


def test_bound_pod_overcommitting_its_node_is_accepted_as_upstream():
    # kube-scheduler takes bound pods as facts: a node may be over-committed by pods already there.
    big = kpack.Pod(name="big", requests={"cpu": "8"}, node_name="b")
    c = small_cluster(pods=[big])
    b = c.node_index["b"]
    assert c.requested[b, 0] == 8000 > c.allocatable[b, 0]
    res = kpack.Scheduler().schedule(c, [kpack.Pod(name="p", requests={"cpu": "1"})])
    assert res.node_names == ["a"]  # nothing more lands on the over-committed node


# --- item 4: one range rule; every engine exact at the bound ------------------------------------------------
def test_every_engine_agrees_at_the_quantity_bound():
    nodes = [
        kpack.Node(name=f"n{i}", allocatable={"cpu": "64", "memory": f"{m}Pi", "pods": 110})
        for i, m in enumerate([8, 4, 1, 2, 8, 6])
    ]
    assert nodes[0].allocatable["memory"] == MAX_QUANTITY
    pods = [
        kpack.Pod(name=f"p{i}", requests={"cpu": "1", "memory": f"{r}Pi"})
        for i, r in enumerate([1, 3, 2, 5, 1])
    ]
    results = {}
    for engine in ("reference", "native", "indexed", "blocked"):
        for strategy in ("LeastAllocated", "MostAllocated"):
            profile = kpack.Profile.from_k8s(
                {
                    "profiles": [
                        {
                            "pluginConfig": [
                                {
                                    "name": "NodeResourcesFit",
                                    "args": {
                                        "scoringStrategy": {
                                            "type": strategy,
                                            "resources": [
                                                {"name": "cpu", "weight": 1},
                                                {"name": "memory", "weight": 3},
                                            ],
                                        }
                                    },
                                }
                            ]
                        }
                    ]
                }
            )
            c = kpack.Cluster(nodes)
            s = kpack.Scheduler(profile, seed=3, engine=engine)
            ex = s.explain(c, pods[0])
            res = s.schedule(c, pods)
            results[(engine, strategy)] = (res.node_names, ex.scores["NodeResourcesFit"])
    for strategy in ("LeastAllocated", "MostAllocated"):
        assert len({repr(v) for (e, s), v in results.items() if s == strategy}) == 1
    # LeastAllocated, exactly: ((cpu score) * 1 + (memory score) * 3) // 4 with Python ints
    scores = results[("reference", "LeastAllocated")][1]
    for n in nodes:
        a_mem = n.allocatable["memory"]
        exact = ((64000 - 1000) * 100 // 64000 + 3 * ((a_mem - 2**50) * 100 // a_mem)) // 4
        assert scores[n.name] == exact


# --- item 9: parquet input is validated ---------------------------------------------------------------------
@pytest.fixture
def parquet_dir(tmp_path):
    nodes = [
        kpack.Node(name="g1", allocatable={"cpu": "8", "nvidia.com/gpu": 2, "pods": 10}),
        kpack.Node(name="c1", allocatable={"cpu": "8", "pods": 10}),
    ]
    c = kpack.Cluster(
        nodes, pods=[kpack.Pod(name="a", requests={"nvidia.com/gpu": 1}, gpu_milli=900, node_name="g1")]
    )
    c.to_parquet(tmp_path / "ok")
    kpack.Cluster.from_parquet(tmp_path / "ok")  # the round trip itself is valid
    return tmp_path / "ok"


def _rewrite(path, fn):
    t = pq.read_table(path)
    pq.write_table(fn(t), path)


PARQUET_ROWS = [
    (
        "truncated",
        "nodes.parquet",
        lambda p: open(p, "r+b").truncate(40),
        "nodes.parquet: not a readable Parquet",
    ),
    ("garbage", "pods.parquet", lambda p: p.write_bytes(b"hello"), "pods.parquet: not a readable Parquet"),
    (
        "column-type",
        "nodes.parquet",
        lambda p: _rewrite(
            p,
            lambda t: t.set_column(
                t.schema.get_field_index("unschedulable"), "unschedulable", pa.array(["no", "no"])
            ),
        ),
        "nodes.parquet: column 'unschedulable': expected type bool",
    ),
    (
        "missing-column",
        "pods.parquet",
        lambda p: _rewrite(p, lambda t: t.drop_columns(["node"])),
        "pods.parquet: missing column(s) ['node']",
    ),
    (
        "unknown-node",
        "pods.parquet",
        lambda p: _rewrite(
            p, lambda t: t.set_column(t.schema.get_field_index("node"), "node", pa.array(["zz"]))
        ),
        "column 'node': pod default/a is bound to 'zz'",
    ),
    (
        "duplicate-pod",
        "pods.parquet",
        lambda p: _rewrite(p, lambda t: pa.concat_tables([t, t])),
        "row 1: columns 'namespace'/'name': duplicate pod default/a",
    ),
    (
        "gpu-free-range",
        "nodes.parquet",
        lambda p: _rewrite(
            p,
            lambda t: t.set_column(
                t.schema.get_field_index("gpu_free"),
                "gpu_free",
                pa.array([[5000, 1000], [0, 0]], pa.list_(pa.int32())),
            ),
        ),
        "column 'gpu_free': device 0: 5000 milli-GPU free is outside 0..1000",
    ),
    (
        "gpu-free-inconsistent",
        "nodes.parquet",
        lambda p: _rewrite(
            p,
            lambda t: t.set_column(
                t.schema.get_field_index("gpu_free"),
                "gpu_free",
                pa.array([[0, 0], [0, 0]], pa.list_(pa.int32())),
            ),
        ),
        "2000 milli-GPU in use, but the pods bound there ask for 900",
    ),
    (
        "bad-spec",
        "pods.parquet",
        lambda p: _rewrite(
            p, lambda t: t.set_column(t.schema.get_field_index("spec"), "spec", pa.array(["{not json"]))
        ),
        "column 'spec'",
    ),
]


DEV_TYPE = pa.list_(pa.struct([("device", pa.int32()), ("milli", pa.int32())]))
PARQUET_ROWS += [
    ("device-index", "pods.parquet", lambda p: _rewrite(p, lambda t: t.set_column(
        t.schema.get_field_index("devices"), "devices", pa.array([[{"device": 5, "milli": 900}]], DEV_TYPE))),
     "column 'devices': device 5 is not a GPU of node 'g1' (2 devices)"),
    ("device-milli", "pods.parquet", lambda p: _rewrite(p, lambda t: t.set_column(
        t.schema.get_field_index("devices"), "devices", pa.array([[{"device": 0, "milli": 100}]], DEV_TYPE))),
     "device 0: 100 milli-GPU, but the pod takes 900 per device"),
    ("device-count", "pods.parquet", lambda p: _rewrite(p, lambda t: t.set_column(
        t.schema.get_field_index("devices"), "devices", pa.array([[{"device": 0, "milli": 900},
                                                                   {"device": 1, "milli": 900}]], DEV_TYPE))),
     "2 device(s) held, but the pod asks for 1"),
]


@pytest.mark.parametrize("case, file, mutate, fragment", PARQUET_ROWS, ids=[r[0] for r in PARQUET_ROWS])
def test_from_parquet_validates(parquet_dir, case, file, mutate, fragment):
    mutate(parquet_dir / file)
    with pytest.raises(kpack.ClusterError) as e:
        kpack.Cluster.from_parquet(parquet_dir)
    assert fragment in str(e.value)


# --- item 10: cluster_from_arrays ---------------------------------------------------------------------------
RN = ["cpu", "memory", "ephemeral-storage", "pods"]
ALLOC = np.array([[1000, 10, 0, 10], [2000, 10, 0, 10]], dtype=np.int64)
ARRAY_ROWS = [
    ("unschedulable-length", dict(unschedulable=np.array([True])), "unschedulable: expected shape (2,)"),
    (
        "label-code-range",
        dict(label_keys=["k"], label_values=["v"], label_codes=np.array([[0], [5]])),
        "label_codes[1, 0]: 5 is not -1 (absent) or an index into label_values",
    ),
    (
        "label-code-negative",
        dict(label_keys=["k"], label_values=["v"], label_codes=np.array([[0], [-7]])),
        "label_codes[1, 0]: -7",
    ),
    (
        "taint-index",
        dict(taints=[kpack.Taint(key="k", effect="NoSchedule")], node_taints=np.array([[0], [3]])),
        "node_taints[1, 0]: 3 is not -1",
    ),
    ("float-allocatable", dict(allocatable=ALLOC.astype(float) + 0.5), "is not a whole number of base units"),
    (
        "too-many-columns",
        dict(
            resource_names=RN + [f"x.io/r{i}" for i in range(61)],
            allocatable=np.zeros((2, 65), dtype=np.int64),
        ),
        "at most 64 resource columns",
    ),
    ("over-bound", dict(allocatable=ALLOC * 0 + MAX_QUANTITY + 1), "above kpack's limit of 2**53"),
    (
        "gpu-devices",
        dict(resource_names=RN + ["nvidia.com/gpu"], allocatable=np.hstack([ALLOC, [[1], [65]]])),
        "65 devices is above kpack's limit of 64",
    ),
    (
        "duplicate-label-value",
        dict(label_keys=["k"], label_values=["v", "v"], label_codes=np.array([[0], [1]])),
        "label_values: duplicate entry 'v'",
    ),
]


@pytest.mark.parametrize("case, kw, fragment", ARRAY_ROWS, ids=[r[0] for r in ARRAY_ROWS])
def test_cluster_from_arrays_checks(case, kw, fragment):
    args = dict(node_names=["a", "b"], resource_names=RN, allocatable=ALLOC)
    args.update(kw)
    with pytest.raises(kpack.ClusterError) as e:
        cluster_from_arrays(**args)
    assert fragment in str(e.value)


def test_cluster_from_arrays_accepts_whole_floats():
    c = cluster_from_arrays(["a", "b"], RN, ALLOC.astype(float))
    assert c.allocatable.dtype == np.int64 and c.allocatable[1, 0] == 2000


def test_no_warning_for_valid_demo():
    with warnings.catch_warnings():
        warnings.simplefilter("error", kpack.ManifestWarning)
        from pathlib import Path

        kpack.load_manifests(Path(__file__).resolve().parents[1] / "datasets" / "demo")


def test_bound_pods_past_the_bound_same_answer_on_every_scan():
    # Bound pods are facts, so a node's total may pass 2**53; the C core cannot hold that, so "auto" (and the
    # indexed/blocked hand-over) scan with the Numba kernel instead; an explicit engine="native" says why.
    nodes = [
        kpack.Node(name="a", allocatable={"cpu": "4", "memory": "8Pi", "pods": 100}),
        kpack.Node(name="b", allocatable={"cpu": "40", "memory": "1Gi", "pods": 100}),
    ]
    bound = [kpack.Pod(name=f"x{i}", requests={"memory": "5Pi"}, node_name="a") for i in range(2)]
    pods = [kpack.Pod(name=f"p{i}", requests={"cpu": "1"}) for i in range(40)]
    answers = set()
    for engine in ("reference", "indexed", "blocked", "auto"):
        res = kpack.Scheduler(engine=engine).schedule(kpack.Cluster(nodes, pods=bound), pods)
        answers.add(tuple(res.node_names))
    assert len(answers) == 1
    c = kpack.Cluster(nodes, pods=bound)
    before = snapshot(c)
    with pytest.raises(ValueError, match=r"cluster.requested\[0, 1\]"):
        kpack.Scheduler(engine="native").schedule(c, pods)
    assert snapshot(c) == before


# --- fuzz: any damaged manifest gives a named ValueError (or loads), never another exception ----------------
JUNK = ["hello", 7, -1, 1.7, True, None, [], {}, ["a"], {"a": 1}, "9Pi", "", 2**70, "-3", {"x": None}]


def _paths(o, p=()):
    yield p
    if isinstance(o, dict):
        for k, v in o.items():
            yield from _paths(v, p + (k,))
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield from _paths(v, p + (i,))


def test_damaged_manifests_raise_only_named_errors():
    import copy
    import random
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1] / "datasets"
    docs = [d for f in [*sorted((root / "demo").iterdir()), root / "gpu-sharing" / "cluster.yaml"]
            for d in yaml.safe_load_all(f.read_text()) if d]
    base = [kpack.Node(name=n, allocatable={"cpu": "8", "memory": "32Gi", "pods": 110, "nvidia.com/gpu": 2})
            for n in ("node-a1", "gpu-1", "node-b2")]
    rnd = random.Random(8)
    loaded = failed = 0
    for _ in range(400):
        d = copy.deepcopy(rnd.choice(docs))
        for _ in range(rnd.choice([1, 1, 2])):
            path = rnd.choice([p for p in _paths(d) if p])
            target = d
            for k in path[:-1]:
                target = target[k]
            target[path[-1]] = copy.deepcopy(rnd.choice(JUNK))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                objs = kpack.load_manifests(yaml.safe_dump_all([d]))
                nodes = [o for o in objs if isinstance(o, kpack.Node)]
                pods = [o for o in objs if isinstance(o, kpack.Pod)]
                names = {n.name for n in nodes}
                c = kpack.Cluster(nodes + [b for b in base if b.name not in names],
                                  pods=[p for p in pods if p.node_name])
                kpack.Scheduler().schedule(c, [p for p in pods if not p.node_name])
                loaded += 1
            except ValueError as e:          # ManifestError, ClusterError, SchedulingError, ValidationError
                assert str(e)
                failed += 1
    assert loaded and failed


def test_hugepages_request_must_equal_limit_but_cpu_may_be_lower():
    def make(res):
        return kpack.Pod.from_k8s({"kind": "Pod", "metadata": {"name": "p"},
                                   "spec": {"containers": [{"name": "c", "resources": res}]}})
    with pytest.raises(ValueError, match=r"hugepages-2Mi\]: .2Mi. must be equal to hugepages-2Mi limit"):
        make({"requests": {"hugepages-2Mi": "2Mi"}, "limits": {"hugepages-2Mi": "4Mi"}})
    assert make({"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}).requests == {"cpu": 1000}
