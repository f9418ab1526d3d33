"""Controller layer: fenceposts, Deployments, ReplicaSets, DaemonSets, Jobs, CronJobs, node lifecycle, CLI."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kpack
from kpack.cli import main
from kpack.controllers import ControllerError, ControlPlane, daemonset_fenceposts, resolve_fenceposts

ROOT = Path(__file__).resolve().parents[1]


def cluster(n=6, cpu="8", labels=None, taints=None):
    return kpack.Cluster(
        [
            kpack.Node(
                name=f"n{i}",
                allocatable={"cpu": cpu, "memory": "32Gi", "pods": 110},
                labels=(labels or {}).get(i, {}),
                taints=(taints or {}).get(i, []),
            )
            for i in range(n)
        ]
    )


def deployment(name="web", replicas=4, image="web:1", surge="25%", unavailable="25%", cpu="500m", **spec):
    d = {
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
            },
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "c", "image": image, "resources": {"requests": {"cpu": cpu}}}]
                },
            },
        },
    }
    d["spec"].update(spec)
    return d


def daemonset(name="agent", image="agent:1", cpu="100m", strategy=None, **pod_spec):
    spec = {
        "containers": [{"name": "c", "image": image, "resources": {"requests": {"cpu": cpu}}}],
        **pod_spec,
    }
    d = {
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }
    if strategy:
        d["spec"]["updateStrategy"] = strategy
    return d


def owned(cp, owner):
    t = cp.pods(include_finished=False).to_pandas()
    return t[t.owner == owner]


def no_overcommit(cp):
    c = cp.cluster
    assert (c.requested <= c.allocatable).all()
    assert (c.requested >= 0).all()


# --- fenceposts (K8S_SEMANTICS.md sections 8 and 9) ---------------------------------------------------------
@pytest.mark.parametrize(
    "surge,unav,desired,expect",
    [
        ("39%", "39%", 10, (4, 3)),
        ("25%", "25%", 8, (2, 2)),
        (0, 0, 5, (0, 1)),
        ("0%", "0%", 10, (0, 1)),
        (2, 1, 10, (2, 1)),
        ("25%", "25%", 1, (1, 0)),
        ("100%", "0%", 3, (3, 0)),
        (None, None, 4, (0, 1)),
    ],
)
def test_resolve_fenceposts(surge, unav, desired, expect):
    assert resolve_fenceposts(surge, unav, desired) == expect


def test_daemonset_fenceposts_round_up():
    assert daemonset_fenceposts(0, "50%", 3) == (0, 2)
    assert daemonset_fenceposts("50%", 0, 2) == (1, 0)
    assert daemonset_fenceposts(0, "0%", 4) == (0, 1)
    assert daemonset_fenceposts(0, "0%", 0) == (0, 0)


# --- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mutate,field",
    [
        (
            lambda d: d["spec"]["template"]["metadata"].update(labels={"app": "other"}),
            "spec.template.metadata.labels",
        ),
        (
            lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxSurge=0, maxUnavailable=0),
            "spec.strategy.rollingUpdate.maxUnavailable",
        ),
        (lambda d: d["spec"].update(replicas=-1), "spec.replicas"),
        (
            lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable="101%"),
            "spec.strategy.rollingUpdate.maxUnavailable",
        ),
        (
            lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxSurge="ten"),
            "spec.strategy.rollingUpdate.maxSurge",
        ),
        (lambda d: d["spec"].update(selector={}), "spec.selector"),
    ],
)
def test_bad_deployment_rejected_nothing_changes(mutate, field):
    cp = ControlPlane(cluster())
    bad = deployment("bad")
    mutate(bad)
    with pytest.raises(ControllerError, match=field.replace(".", r"\.")):
        cp.apply([deployment("good"), bad])
    assert cp.deployments == {} and cp.events().num_rows == 0
    cp.run_until_stable()
    assert cp.pods().num_rows == 0


def test_bad_daemonset_and_immutable_selector():
    cp = ControlPlane(cluster())
    ds = daemonset(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}})
    with pytest.raises(ControllerError, match="maxUnavailable"):
        cp.apply(ds)
    cp.apply(deployment())
    other = deployment()
    other["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    other["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    with pytest.raises(ControllerError, match="spec.selector.*immutable"):
        cp.apply(other)


# --- Deployments --------------------------------------------------------------------------------------------
def run_checked(cp, ref, replicas, surge, unav, steps=200):
    """Step until the rollout is done, checking the invariants at every step."""
    for _ in range(steps):
        cp.step()
        pods = owned(cp, ref)
        assert len(pods) <= replicas + surge
        assert int(pods.available.sum()) >= replicas - unav
        no_overcommit(cp)
        if cp.rollout_status(ref)[1] and not cp.busy():
            return
    raise AssertionError("rollout did not finish")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    replicas=st.integers(1, 24),
    surge=st.one_of(st.integers(0, 5), st.sampled_from(["0%", "10%", "25%", "50%", "100%"])),
    unav=st.one_of(st.integers(0, 5), st.sampled_from(["0%", "10%", "25%", "39%", "100%"])),
    min_ready=st.integers(0, 3),
)
def test_rolling_update_invariants(replicas, surge, unav, min_ready):
    if str(surge).rstrip("%") == "0" and str(unav).rstrip("%") == "0":
        surge = 1
    cp = ControlPlane(cluster(8))
    d = deployment(replicas=replicas, surge=surge, unavailable=unav, minReadySeconds=min_ready)
    cp.apply(d)
    cp.run_until_stable()
    assert cp.status("deployment/web")["availableReplicas"] == replicas
    s, u = resolve_fenceposts(surge, unav, replicas)
    u = min(u, replicas)
    cp.set_image("deployment/web", "web:2")
    run_checked(cp, "deployment/web", replicas, s, u)
    pods = owned(cp, "deployment/web")
    assert len(pods) == replicas and set(pods.image) == {"web:2"} and pods.available.all()
    st_ = cp.status("deployment/web")
    assert st_["updatedReplicas"] == replicas
    assert {c["reason"] for c in st_["conditions"]} == {"MinimumReplicasAvailable", "NewReplicaSetAvailable"}


def test_rollout_progress_matches_upstream_arithmetic():
    cp = ControlPlane(cluster(8))
    cp.apply(deployment(replicas=8))
    cp.run_until_stable()
    cp.set_image("deployment/web", "web:2")
    cp.step()
    st_ = cp.status("deployment/web")
    # surge 2, unavailable 2: +2 new, -2 old, +2 new in the same round (upstream re-syncs after each scale)
    assert (st_["replicas"], st_["updatedReplicas"], st_["availableReplicas"]) == (10, 4, 6)
    assert (
        st_["message"]
        == 'Waiting for deployment "web" rollout to finish: 4 out of 8 new replicas have been updated...'
    )


def test_recreate_never_mixes_revisions():
    cp = ControlPlane(cluster())
    d = deployment(replicas=5)
    d["spec"]["strategy"] = {"type": "Recreate"}
    cp.apply(d)
    cp.run_until_stable()
    cp.set_image("deployment/web", "web:2")
    for _ in range(10):
        cp.step()
        assert len(set(owned(cp, "deployment/web").image)) <= 1
    assert set(owned(cp, "deployment/web").image) == {"web:2"}


def test_rollback_restores_template_and_renumbers():
    cp = ControlPlane(cluster())
    cp.apply(deployment())
    cp.run_until_stable()
    original = copy.deepcopy(cp.deployments["deployment/web"].template)
    cp.set_image("deployment/web", "web:2")
    cp.run_until_stable()
    cp.set_image("deployment/web", "web:3")
    cp.run_until_stable()
    assert [h["revision"] for h in cp.history("deployment/web")] == [1, 2, 3]
    assert cp.rollback("deployment/web", to_revision=1) == 1
    cp.run_until_stable()
    assert cp.deployments["deployment/web"].template == original
    hist = cp.history("deployment/web")
    assert [(h["revision"], h["image"]) for h in hist] == [(2, "web:2"), (3, "web:3"), (4, "web:1")]
    assert hist[-1]["revision_history"] == [1]
    assert set(owned(cp, "deployment/web").image) == {"web:1"}
    cp.rollback("deployment/web")  # previous revision: 3
    cp.run_until_stable()
    assert set(owned(cp, "deployment/web").image) == {"web:3"}
    with pytest.raises(ControllerError, match="revision 42"):
        cp.rollback("deployment/web", to_revision=42)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ControllerError, match="max_steps: must be a positive integer"):
            cp.run_until_stable(max_steps=bad)


def test_revision_history_limit():
    cp = ControlPlane(cluster())
    cp.apply(deployment(revisionHistoryLimit=2))
    cp.run_until_stable()
    for i in range(2, 8):
        cp.set_image("deployment/web", f"web:{i}")
        cp.run_until_stable()
        assert len(cp.history("deployment/web")) <= 3  # the current set + 2 old ones
    assert [h["revision"] for h in cp.history("deployment/web")] == [5, 6, 7]


def test_pause_and_resume():
    cp = ControlPlane(cluster())
    cp.apply(deployment())
    cp.run_until_stable()
    cp.pause("deployment/web")
    cp.set_image("deployment/web", "web:2")
    cp.scale("deployment/web", 6)
    cp.run_until_stable()
    pods = owned(cp, "deployment/web")
    assert set(pods.image) == {"web:1"} and len(pods) == 6
    cp.resume("deployment/web")
    cp.run_until_stable()
    assert set(owned(cp, "deployment/web").image) == {"web:2"}


def test_replicaset_scale_down_ranking_and_replacement():
    cp = ControlPlane(cluster(3, cpu="2"))
    rs = {
        "kind": "ReplicaSet",
        "metadata": {"name": "rs"},
        "spec": {
            "replicas": 6,
            "selector": {"matchLabels": {"app": "rs"}},
            "template": {
                "metadata": {"labels": {"app": "rs"}},
                "spec": {
                    "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "1"}}}]
                },
            },
        },
    }
    cp.apply(rs)
    cp.run_until_stable()
    cp.scale("replicaset/rs", 8)  # 2 more than fit: they stay pending
    cp.run_until_stable()
    pods = owned(cp, "replicaset/rs")
    assert len(pods) == 8 and pods.node.isna().sum() == 2
    assert pods.reason.dropna().str.contains("Insufficient cpu").all()
    cp.scale("replicaset/rs", 6)  # the unscheduled ones go first
    cp.step()
    assert owned(cp, "replicaset/rs").node.notna().all()
    cp.remove_node("n0")  # lost pods are re-created (pending: no room left)
    cp.run_until_stable()
    assert len(owned(cp, "replicaset/rs")) == 6
    no_overcommit(cp)


# --- DaemonSets ---------------------------------------------------------------------------------------------
def ds_nodes(cp, name="agent"):
    pods = owned(cp, f"daemonset/{name}")
    return sorted(pods.node.dropna()), pods


def test_daemonset_follows_nodes_taints_and_cordons():
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    cp = ControlPlane(cluster(4, labels={i: {"role": "worker"} for i in range(3)}, taints={2: [taint]}))
    cp.cordon("n1")
    cp.apply(daemonset(nodeSelector={"role": "worker"}))
    cp.run_until_stable()
    nodes, _ = ds_nodes(cp)
    assert nodes == ["n0", "n1"]  # n1 is cordoned (tolerated), n2 tainted, n3 not selected
    cp.add_node(
        kpack.Node(
            name="n9", allocatable={"cpu": "4", "memory": "8Gi", "pods": 10}, labels={"role": "worker"}
        )
    )
    cp.run_until_stable()
    assert ds_nodes(cp)[0] == ["n0", "n1", "n9"]
    cp.update_node(kpack.Node(name="n0", allocatable={"cpu": "8", "memory": "32Gi", "pods": 110}))
    cp.remove_node("n9")
    cp.run_until_stable()
    assert ds_nodes(cp)[0] == ["n1"]
    st_ = cp.status("daemonset/agent")
    assert st_["desiredNumberScheduled"] == 1 and st_["numberAvailable"] == 1


def test_daemonset_pod_that_does_not_fit_reports_scheduler_reason():
    cp = ControlPlane(cluster(2, cpu="1"))
    cp.apply(daemonset(cpu="2"))
    cp.run_until_stable()
    pods = owned(cp, "daemonset/agent")
    assert len(pods) == 2 and pods.node.isna().all()
    assert pods.reason.str.contains("Insufficient cpu").all()
    assert "FailedScheduling" in set(cp.events().column("reason").to_pylist())


@pytest.mark.parametrize(
    "strategy,limit",
    [
        ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}}, ("unavailable", 3)),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "34%"}}, ("surge", 2)),
    ],
)
def test_daemonset_rolling_update(strategy, limit):
    cp = ControlPlane(cluster(5))
    cp.apply(daemonset(strategy=strategy))
    cp.run_until_stable()
    cp.set_image("daemonset/agent", "agent:2")
    for _ in range(30):
        cp.step()
        pods = owned(cp, "daemonset/agent")
        if limit[0] == "unavailable":
            assert 5 - int(pods.available.sum()) <= limit[1]
            assert len(pods) <= 5
        else:
            assert len(pods) <= 5 + limit[1]
            assert pods.groupby("node").size().max() <= 2
        if cp.rollout_status("daemonset/agent")[1] and not cp.busy():
            break
    nodes, pods = ds_nodes(cp)
    assert nodes == [f"n{i}" for i in range(5)] and set(pods.image) == {"agent:2"}
    assert [h["revision"] for h in cp.history("daemonset/agent")] == [1, 2]


def test_daemonset_on_delete():
    cp = ControlPlane(cluster(3))
    cp.apply(daemonset(strategy={"type": "OnDelete"}))
    cp.run_until_stable()
    cp.set_image("daemonset/agent", "agent:2")
    cp.run_until_stable()
    assert set(owned(cp, "daemonset/agent").image) == {"agent:1"}
    cp.remove_node("n0")
    cp.add_node(kpack.Node(name="n0", allocatable={"cpu": "8", "memory": "32Gi", "pods": 110}))
    cp.run_until_stable()
    pods = owned(cp, "daemonset/agent")
    assert dict(zip(pods.node, pods.image))["n0"] == "agent:2" and (pods.image == "agent:1").sum() == 2


# --- node lifecycle -----------------------------------------------------------------------------------------
def test_fail_node_evicts_after_default_toleration():
    cp = ControlPlane(cluster(4))
    cp.apply([deployment(replicas=4), daemonset()])
    cp.run_until_stable()
    victim = owned(cp, "deployment/web").node.iloc[0]
    cp.fail_node(victim)
    cp.step()
    assert not owned(cp, "deployment/web").query("node == @victim").ready.any()
    cp.run(290)
    assert (owned(cp, "deployment/web").node == victim).any()  # 300 s toleration not yet over
    cp.run_until_stable()
    web = owned(cp, "deployment/web")
    assert len(web) == 4 and not (web.node == victim).any() and web.available.all()
    assert (owned(cp, "daemonset/agent").node == victim).sum() == 1  # daemon pods tolerate unreachable
    ev = cp.events().to_pandas()
    t = ev[ev.reason == "TaintManagerEviction"].time.min()
    assert t == pytest.approx(ev[ev.reason == "NodeNotReady"].time.min() + 300)


def test_toleration_seconds_and_no_default():
    cp = ControlPlane(cluster(3), default_toleration_seconds=None)
    d = deployment(replicas=3)
    cp.apply(d)
    cp.run_until_stable()
    cp.fail_node("n0")
    cp.run_until_stable()
    assert not (owned(cp, "deployment/web").node == "n0").any()
    cp2 = ControlPlane(cluster(3))
    d["spec"]["template"]["spec"]["tolerations"] = [
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 10,
        }
    ]
    cp2.apply(d)
    cp2.run_until_stable()
    n = owned(cp2, "deployment/web").node.iloc[0]
    cp2.fail_node(n, at=cp2.time + 5)
    cp2.run_until_stable()
    ev = cp2.events().to_pandas()
    assert (
        ev[ev.reason == "TaintManagerEviction"].time.min() - ev[ev.reason == "NodeNotReady"].time.min() == 10
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(
                ["image", "scale", "fail", "recover", "rollback", "add", "remove", "cordon", "step"]
            ),
            st.integers(0, 9),
        ),
        min_size=1,
        max_size=14,
    )
)
def test_no_node_overcommitted_and_daemonset_exact(ops):
    cp = ControlPlane(cluster(5, cpu="3"), default_toleration_seconds=2)
    cp.apply([deployment(replicas=6, cpu="700m"), daemonset(cpu="200m")])
    cp.run_until_stable()
    added = 0
    for op, k in ops:
        names = list(cp.cluster.node_names)
        try:
            if op == "image":
                cp.set_image("deployment/web", f"web:{k}")
            elif op == "scale":
                cp.scale("deployment/web", k)
            elif op == "fail":
                cp.fail_node(names[k % len(names)])
            elif op == "recover":
                cp.recover_node(names[k % len(names)])
            elif op == "rollback":
                cp.rollback("deployment/web")
            elif op == "add":
                added += 1
                cp.add_node(
                    kpack.Node(name=f"x{added}", allocatable={"cpu": "2", "memory": "8Gi", "pods": 20})
                )
            elif op == "remove" and len(names) > 1:
                cp.remove_node(names[k % len(names)])
            elif op == "cordon":
                cp.cordon(names[k % len(names)])
        except ControllerError:
            pass
        for _ in range(k % 4 + 1):
            cp.step()
            no_overcommit(cp)
    cp.run_until_stable()
    no_overcommit(cp)
    ds = cp.daemonsets["daemonset/agent"]
    run, keep = cp.placement(ds)
    per_node = owned(cp, "daemonset/agent").groupby("node").size().to_dict()
    pend = owned(cp, "daemonset/agent").node.isna().sum()
    for i, name in enumerate(cp.cluster.node_names):
        if run[i]:
            assert per_node.get(name, 0) + pend >= 1 and per_node.get(name, 0) <= 1
        if not keep[i]:
            assert per_node.get(name, 0) == 0


# --- Jobs and CronJobs --------------------------------------------------------------------------------------
def job(name="pi", completions=3, parallelism=2, duration="5s", exit_code=None, backoff=6):
    ann = {"kpack.io/duration": duration}
    if exit_code is not None:
        ann["kpack.io/exit-code"] = str(exit_code)
    return {
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "backoffLimit": backoff,
            "template": {
                "metadata": {"annotations": ann},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "perl", "resources": {"requests": {"cpu": "1"}}}],
                },
            },
        },
    }


def test_job_runs_to_completion_and_frees_resources():
    cp = ControlPlane(cluster(2, cpu="4"))
    cp.apply(job())
    peak = 0
    for _ in range(40):
        cp.step()
        peak = max(peak, int((owned(cp, "job/pi").phase == "Running").sum()))
    st_ = cp.status("job/pi")
    assert st_["succeeded"] == 3 and st_["conditions"][0]["type"] == "Complete" and peak == 2
    assert cp.cluster.requested[:, 0].sum() == 0
    assert cp.status("job/pi")["completionTime"] > 10


def test_job_backoff_limit():
    cp = ControlPlane(cluster(2))
    cp.apply(job(completions=1, parallelism=1, duration="1s", exit_code=1, backoff=2))
    cp.run(300)
    st_ = cp.status("job/pi")
    assert st_["failed"] == 3 and st_["conditions"][0]["reason"] == "BackoffLimitExceeded"


@pytest.mark.parametrize("policy,expect_jobs", [("Allow", 3), ("Forbid", 1), ("Replace", 3)])
def test_cronjob_schedule_and_concurrency(policy, expect_jobs):
    cp = ControlPlane(cluster(3), step_seconds=30)
    tmpl = job(completions=1, parallelism=1, duration="150s")
    cj = {
        "kind": "CronJob",
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "*/1 * * * *",
            "concurrencyPolicy": policy,
            "successfulJobsHistoryLimit": 2,
            "jobTemplate": {"spec": tmpl["spec"]},
        },
    }
    cp.apply(cj)
    cp.run(7)  # 210 s: schedules at 60, 120, 180
    created = [
        e
        for e in cp.events().to_pylist()
        if e["object"] == "cronjob/tick" and e["reason"] == "SuccessfulCreate"
    ]
    assert len(created) == expect_jobs
    assert created[0]["time"] == 60
    cp.run(40)
    done = [j for j in cp.cron_jobs("cronjob/tick") if j.condition == "Complete"]
    assert len(done) <= 2


def test_cronjob_bad_schedule():
    cp = ControlPlane(cluster(1))
    with pytest.raises(ControllerError, match="spec.schedule"):
        cp.apply(
            {
                "kind": "CronJob",
                "metadata": {"name": "x"},
                "spec": {"schedule": "every minute", "jobTemplate": {"spec": job()["spec"]}},
            }
        )


# --- clock, events, tables, persistence, CLI ----------------------------------------------------------------
def test_actions_at_logical_times_are_recorded_in_order():
    cp = ControlPlane(cluster(3))
    cp.apply(deployment(replicas=2), at=5)
    cp.cordon("n2", at=3)
    assert cp.queued_actions == 2
    cp.run(10)
    ev = cp.events().to_pandas()
    assert list(ev.time) == sorted(ev.time)
    assert ev[ev.reason == "NodeNotSchedulable"].time.iloc[0] == 3
    assert ev[ev.object == "deployment/web"].time.iloc[0] == 5
    pods = cp.pods()
    assert {"name", "owner", "controller", "node", "phase", "ready", "revision", "image"} <= set(
        pods.column_names
    )
    assert set(pods.column("owner").to_pylist()) == {"deployment/web"}
    assert set(pods.column("revision").to_pylist()) == {1}


def test_save_and_load_round_trip(tmp_path):
    cp = ControlPlane(cluster(4))
    cp.apply([deployment(), daemonset()])
    cp.run_until_stable()
    cp.set_image("deployment/web", "web:2")
    cp.step()
    cp.save(tmp_path / "s")
    back = ControlPlane.load(tmp_path / "s")
    assert back.status("deployment/web") == cp.status("deployment/web")
    assert back.pods().to_pylist() == cp.pods().to_pylist()
    cp.run_until_stable()
    back.run_until_stable()
    assert back.status("deployment/web")["message"] == 'deployment "web" successfully rolled out'
    assert np.array_equal(back.cluster.requested, cp.cluster.requested)


def test_cli_apply_and_rollout(tmp_path, capsys):
    state = str(tmp_path / "state")
    assert main(["apply", "-f", str(ROOT / "datasets/controllers/v1"), "--state", state]) == 0
    out = capsys.readouterr().out
    assert 'deployment "web" successfully rolled out' in out and "node/node-0 created" in out
    assert main(["apply", "-f", str(ROOT / "datasets/controllers/v2"), "--state", state]) == 0
    out = capsys.readouterr().out
    assert (
        'Waiting for deployment "web" rollout to finish: 2 out of 4 new replicas have been updated...' in out
    )
    assert main(["rollout", "history", "deployment/web", "--state", state, "--json"]) == 0
    hist = json.loads(capsys.readouterr().out)
    assert [h["image"] for h in hist] == ["web:1.0", "web:2.0"]
    assert main(["rollout", "undo", "deployment/web", "--state", state]) == 0
    assert "rolled back" in capsys.readouterr().out
    assert main(["rollout", "status", "deployment/web", "--state", state]) == 0
    assert main(["rollout", "undo", "deployment/web", "--state", state, "--to-revision", "9"]) == 2
    assert "unable to find specified revision 9" in capsys.readouterr().err


def test_rollout_example_small():
    spec = importlib.util.spec_from_file_location("rollout_example", ROOT / "examples" / "rollout.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.scenario(replicas=60, n_nodes=30, failures=3)
    assert res["status"] == {"replicas": 60, "updatedReplicas": 60, "availableReplicas": 60}


def test_proportional_scaling_mid_rollout_as_in_the_kubernetes_docs():
    # 10 replicas, maxSurge 3, maxUnavailable 2; the new template cannot run (here: fits no node), then the
    # Deployment is scaled to 15: 3 of the 5 extra replicas go to the old set, 2 to the new one.
    cp = ControlPlane(cluster(4))
    cp.apply(deployment(replicas=10, surge=3, unavailable=2, cpu="100m"))
    cp.run_until_stable()
    bad = deployment(replicas=10, surge=3, unavailable=2, cpu="100m")
    bad["spec"]["template"]["spec"]["nodeSelector"] = {"no": "such-node"}
    cp.apply(bad)
    cp.run(5)
    new, old = [rs for rs in cp.owned_sets("deployment/web")][::-1]
    assert (old.replicas, new.replicas) == (8, 5)
    cp.scale("deployment/web", 15)
    cp.step()
    assert (old.replicas, new.replicas) == (11, 7)
