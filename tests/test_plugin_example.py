"""Adding a plugin touches one module and the registry: an example static filter and static score plugin,
registered from a test, enabled by a KubeSchedulerConfiguration, computed by the numba engine (auto routes
there; the other engines refuse by name)."""
import numpy as np
import pytest

import kpack
from kpack import plugins
from kpack.batch import PodBatch
from kpack.plugins import PluginSpec

ARCH = "kubernetes.io/arch"


# --- the example plugin "module": two functions and two specs ---------------------------------------
def wrong_arch(cluster, pod, labels):
    """Filter: a pod labelled arch=<a> only fits nodes whose kubernetes.io/arch label is <a>."""
    want = pod.labels.get("arch")
    if want is None:
        return np.zeros(len(cluster.node_names), dtype=bool)
    return labels.column(ARCH) != cluster.label_value_index.get(want, -2)


def free_slots(cluster, pod, labels):
    """Score: nodes with a larger `example.com/slots` label score higher (max-normalised)."""
    col = labels.column("example.com/slots")
    vals = np.array([int(v) if v.isdigit() else 0 for v in cluster.label_values] + [0], dtype=np.int64)
    return vals[col]


ARCH_FILTER = PluginSpec("ExampleArch", filter=True, static_filter=wrong_arch,
                         reason="node(s) had the wrong arch")
SLOTS_SCORE = PluginSpec("ExampleSlots", score=True, static_score=free_slots, normalize="max")


@pytest.fixture
def registered():
    plugins.register(ARCH_FILTER)
    plugins.register(SLOTS_SCORE)
    yield
    plugins.unregister("ExampleArch")
    plugins.unregister("ExampleSlots")


def profile():
    return kpack.Profile.from_k8s({"profiles": [{"plugins": {"multiPoint": {"enabled": [
        {"name": "ExampleArch"}, {"name": "ExampleSlots", "weight": 5}]}}}]})


def cluster():
    nodes = [kpack.Node(name=f"n{i}", allocatable={"cpu": "8", "memory": "16Gi", "pods": 10},
                        labels={ARCH: "arm64" if i % 3 == 0 else "amd64", "example.com/slots": str(i % 4)})
             for i in range(12)]
    return kpack.Cluster(nodes)


def test_registered_plugins_filter_and_score(registered):
    prof = profile()
    assert "ExampleArch" in prof.filters and prof.score_weights["ExampleSlots"] == 5
    s = kpack.Scheduler(prof)
    c = cluster()
    pod = kpack.Pod(name="p", labels={"arch": "arm64"}, requests={"cpu": "1"})
    ex = s.explain(c, pod)
    assert {n for n, r in ex.filter.items() if r is None} == {"n0", "n3", "n6", "n9"}
    assert ex.filter["n1"] == "node(s) had the wrong arch"
    # slots 0, 3, 2, 1 on n0, n3, n6, n9: max-normalised to 0, 100, 66, 33
    assert ex.scores["ExampleSlots"] == {"n0": 0, "n3": 100, "n6": 66, "n9": 33}
    assert ex.selected == "n3"
    res = s.schedule(c, [pod])
    assert res.node_names == ["n3"] and s.last_stats.engine == "numba"
    bad = kpack.Scheduler(prof).schedule(cluster(), [kpack.Pod(name="q", labels={"arch": "riscv"})])
    assert bad.reasons == ["0/12 nodes are available: 12 node(s) had the wrong arch."]


def test_totals_match_a_hand_computation(registered):
    s = kpack.Scheduler(profile())
    c = cluster()
    pods = [kpack.Pod(name=f"p{i}", requests={"cpu": "3"}) for i in range(10)]
    for p in pods:
        ex = s.explain(c, p)
        best = max(ex.total.values())
        assert ex.total[ex.selected] == best
        for n, t in ex.total.items():
            assert t == sum(ex.scores[k][n] * w for k, w in s.profile.score_weights.items() if k in ex.scores)
        assert s.schedule(c, [p]).node_names == [ex.selected]


def test_other_engines_refuse_by_name(registered):
    for engine in ("native", "indexed"):
        with pytest.raises(ValueError, match="ExampleSlots"):
            kpack.Scheduler(profile(), engine=engine).schedule(cluster(), [kpack.Pod(name="p")])
    s = kpack.Scheduler(profile(), engine="auto")
    s.schedule_arrays(cluster(),
                      PodBatch([kpack.Pod(name="w", requests={"cpu": "1"})], np.zeros(20, np.int32)))
    assert s.last_stats.engine == "numba"


def test_register_checks():
    with pytest.raises(ValueError, match="already registered"):
        plugins.register(PluginSpec("NodeAffinity", filter=True, static_filter=wrong_arch))
    with pytest.raises(ValueError, match="static_score"):
        plugins.register(PluginSpec("Nope", score=True))
    with pytest.raises(kpack.ProfileError, match="unknown plugin"):
        kpack.Profile.from_k8s({"profiles": [
            {"plugins": {"score": {"enabled": [{"name": "ExampleSlots"}]}}}]})
