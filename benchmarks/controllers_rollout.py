"""Controller-layer benchmarks: the issue-10 "Done when" rollout (1,000 replicas, 500 nodes, a DaemonSet,
10 node failures, invariants checked every step) and 100 Deployments x 1,000 replicas on 5,000 nodes with two
DaemonSets, all rolled to a new image.

    python benchmarks/controllers_rollout.py [--scenario done-when|fleet|all]

Wall times on a shared machine swing with its load; the fleet scenario also prints process CPU time.
"""

from __future__ import annotations

import argparse
import time

import kpack
from kpack.controllers import ControlPlane


def nodes(n: int, cpu: str = "32", mem: str = "128Gi") -> list[kpack.Node]:
    return [
        kpack.Node(
            name=f"node-{i}",
            allocatable={"cpu": cpu, "memory": mem, "pods": 110},
            labels={"topology.kubernetes.io/zone": f"zone-{i % 3}"},
        )
        for i in range(n)
    ]


def deployment(name: str, replicas: int, image: str, surge="25%", unavailable="25%") -> dict:
    return {
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
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ]
                },
            },
        },
    }


def daemonset(name: str, image: str) -> dict:
    return {
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }


def fleet(n_deploy: int = 100, replicas: int = 1000, n_nodes: int = 5000) -> dict:
    c0 = time.process_time()
    t0 = time.perf_counter()
    cp = ControlPlane(kpack.Cluster(nodes(n_nodes, cpu="64", mem="256Gi")), seed=0)
    cp.apply(
        [daemonset("agent", "agent:1"), daemonset("logs", "logs:1")]
        + [deployment(f"app-{i}", replicas, "app:1") for i in range(n_deploy)]
    )
    s1 = cp.run_until_stable()
    t1 = time.perf_counter()
    for i in range(n_deploy):
        cp.set_image(f"deployment/app-{i}", "app:2")
    s2 = cp.run_until_stable()
    t2 = time.perf_counter()
    ok = all(cp.rollout_status(f"deployment/app-{i}")[1] for i in range(n_deploy))
    return {
        "create_s": t1 - t0,
        "create_steps": s1,
        "rollout_s": t2 - t1,
        "rollout_steps": s2,
        "total_s": t2 - t0,
        "cpu_s": time.process_time() - c0,
        "pods": int(cp.store.n),
        "rolled_out": ok,
    }


def raw_placement(n_deploy: int = 100, replicas: int = 1000, n_nodes: int = 5000) -> dict:
    """Baseline: the same initial pods placed without controllers (daemon pods from kpack.daemonset_pods,
    replicas as one PodBatch), i.e. the scheduling floor under the controller layer's create phase."""
    import numpy as np

    from kpack.batch import PodBatch

    c0, t0 = time.process_time(), time.perf_counter()
    cluster = kpack.Cluster(nodes(n_nodes, cpu="64", mem="256Gi"))
    sched = kpack.Scheduler(seed=0)
    daemon = [p for name in ("agent", "logs") for p in kpack.daemonset_pods(
        cluster, kpack.DaemonSet.from_k8s(daemonset(name, f"{name}:1"))).values()]
    sched.schedule(cluster, daemon)
    specs = [kpack.Deployment.from_k8s(deployment(f"app-{i}", replicas, "app:1")).template_pod(f"app-{i}")
             for i in range(n_deploy)]
    res = sched.schedule_arrays(cluster, PodBatch(specs, np.repeat(np.arange(n_deploy), replicas)))
    return {"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "placed": int(res.scheduled) + len(daemon)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="all", choices=["done-when", "fleet", "all"])
    args = ap.parse_args()
    # warm the Numba caches so the figures are compute, not compilation
    fleet(2, 10, 20)
    if args.scenario in ("done-when", "all"):
        import importlib.util
        import pathlib

        path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "rollout.py"
        spec = importlib.util.spec_from_file_location("rollout_example", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.scenario(replicas=50, n_nodes=25, failures=2)
        res = mod.scenario()      # "seconds": ControlPlane.step / run_until_stable time; checks excluded
        print("done-when:", res)
    if args.scenario in ("fleet", "all"):
        base = raw_placement()
        res = fleet()
        print("fleet:", res)
        print("baseline (placement only, no controllers, initial pods):", base)
        print(f"create phase / placement-only baseline: {res['create_s'] / base['seconds']:.2f}x wall, "
              f"{res['cpu_s'] / base['cpu_s']:.2f}x CPU (whole fleet run incl. rollout vs baseline create)")


if __name__ == "__main__":
    main()
