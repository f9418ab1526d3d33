"""Native C core: parity with the Numba cycle on random inputs (both through kpack.bundles), input validation,
and the C example."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import kpack
from kpack import bundles as B
from kpack import cycle, native
from kpack import kernels as K
from kpack.scheduler import CompiledProfile, class_arrays

pytestmark = pytest.mark.skipif(not native.available(),
                                reason=f"native core not built: {native.load_error()}")

ROOT = Path(__file__).resolve().parents[1]


# --- random array inputs ------------------------------------------------------------------------------
def random_case(rs: np.random.Generator, n: int, strategy: int, pct: int, n_pods: int = 120) -> list:
    """The bundles' fields (cluster, pods, classes, profile, state) and the outputs as one positional list
    (native.schedule_batch_native's arguments), drawn to hit ties, failures and edge paths; see bundles_of."""
    R = 4 + int(rs.integers(0, 4))                       # cpu, memory, ephemeral, pods + 0..3 scalars
    shapes = rs.integers(1, 9, size=(4, R)) * np.array([1000, 2**30, 2**30, 8] + [2] * (R - 4))
    shapes[:, 3] = rs.integers(2, 12, size=4)
    shapes[rs.random((4, R)) < 0.1] = 0                  # some nodes lack a resource entirely
    alloc = shapes[rs.integers(0, 4, size=n)].astype(np.int64)
    req = (alloc * rs.random(alloc.shape) * rs.choice([0, 0.5, 1.0], size=(n, 1))).astype(np.int64)
    req[:, 3] = np.minimum(rs.integers(0, 12, size=n), alloc[:, 3])
    nz = np.stack([req[:, 0] + 100 * req[:, 3], req[:, 1] + 200 * 2**20 * req[:, 3]], axis=1).astype(np.int64)
    check_col = rs.random(R) < 0.85

    specs = rs.integers(0, 4, size=(6, R)) * np.array([250, 2**29, 2**28, 0] + [1] * (R - 4))
    specs[rs.random((6, R)) < 0.4] = 0
    specs[0, :] = 0                                      # a best-effort spec
    specs[:, 3] = 1
    pick = rs.integers(0, 6, size=n_pods)
    pod_req = specs[pick].astype(np.int64)
    pod_nz = np.stack([np.where(pod_req[:, 0] > 0, pod_req[:, 0], 100),
                       np.where(pod_req[:, 1] > 0, pod_req[:, 1], 200 * 2**20)], axis=1).astype(np.int64)
    pod_nz[rs.random(n_pods) < 0.1] = 0                  # zero-container pods get no defaults

    C = 5
    code = (rs.random((C, n)) < rs.choice([0.0, 0.2, 0.6], size=(C, 1))).astype(np.int8)
    code[code != 0] = rs.integers(1, 5, size=int((code != 0).sum()))
    cand_len = np.full(C, -1, dtype=np.int64)
    cand_off = np.zeros(C, dtype=np.int64)
    flats = []
    off = 0
    for c in range(1, C):                                # class 0 always sees every node
        if rs.random() < 0.4:
            m = int(rs.integers(0, min(n, 150) + 1))
            sub = np.sort(rs.choice(n, size=m, replace=False)).astype(np.int32)
            cand_len[c], cand_off[c] = m, off
            off += m
            flats.append(sub)
    cand_flat = np.concatenate(flats) if flats else np.zeros(0, np.int32)
    conflict = np.zeros(C, dtype=np.bool_)
    conflict[C - 1] = rs.random() < 0.3
    aff_rows = rs.integers(0, 3, size=(2, n)) * rs.integers(1, 20)
    aff_rows[1] = 0                                      # preferred terms that match nothing
    aff_row = rs.integers(-1, 2, size=C).astype(np.int64)
    taint_rows = np.stack([np.zeros(n, np.int64), rs.integers(0, 3, size=n), rs.integers(0, 2, size=n)])
    taint_row = rs.integers(0, 3, size=C).astype(np.int64)
    pod_cls = rs.integers(0, C, size=n_pods).astype(np.int64)

    weights = np.array([1, 1, 2, 3], dtype=np.int64)
    weights[rs.random(4) < 0.2] = 0
    nf = int(rs.integers(1, 4))
    fit_col = rs.choice(np.r_[-1, np.arange(R)], size=nf).astype(np.int64)
    fit_kind = rs.integers(0, 5, size=nf).astype(np.int64)
    fit_col[:2], fit_kind[:2] = [0, 1][:nf], [K.KIND_NONZERO_CPU, K.KIND_NONZERO_MEMORY][:nf]
    fit_w = rs.integers(1, 5, size=nf).astype(np.int64)
    npts = int(rs.integers(1, 5))
    shape_u = np.sort(rs.choice(101, size=npts, replace=False)).astype(np.int64)
    shape_s = rs.integers(0, 11, size=npts).astype(np.int64) * 10
    if rs.random() < 0.5:
        shape_s = np.sort(shape_s)[::-1].copy()          # descending: negative interpolation numerator
    nb = int(rs.integers(1, 5))                          # 3+ resources take the population-std path
    bal_col = rs.choice(np.r_[-1, np.arange(R)], size=nb).astype(np.int64)
    bal_col[:2] = [0, 1][:nb]
    bal_kind = np.full(nb, K.KIND_REQUESTED, dtype=np.int64)
    bal_kind[2:] = rs.choice([K.KIND_REQUESTED, K.KIND_SCALAR, K.KIND_ABSENT], size=max(nb - 2, 0))

    rng = np.array([rs.integers(0, 2**63, dtype=np.uint64) * np.uint64(2) + np.uint64(1)], dtype=np.uint64)
    start = np.array([int(rs.integers(0, 3 * n))], dtype=np.int64)   # may exceed N, like a reused Scheduler
    out = np.full(n_pods, -7, dtype=np.int32)
    fail = np.zeros((n_pods, R), dtype=np.int32)
    return [alloc, req, nz, check_col, bool(rs.random() < 0.9), pod_cls, pod_req, pod_nz,
            code, cand_off, cand_len, cand_flat, conflict, aff_row, aff_rows, taint_row, taint_rows, weights,
            fit_col, fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind, pct, rng, start, out,
            fail]


MUTATED = (1, 2, 27, 28, 29, 30)   # req, nz, rng, start, out_node, fail_counts


def bundles_of(args: list) -> tuple:
    """(cluster, profile, classes, pods, state, out_node, fail_counts): kpack.bundles over a random_case list.
    The bundles hold the list's own arrays, so what the cycle or the core writes lands in `args`."""
    return (*B.from_arrays(*args[:29]), args[29], args[30])


def run_cycle(args: list) -> None:
    """The Numba cycle (no devices, no static score plugins) on a random_case list."""
    b = bundles_of(args)
    cycle.schedule(*b[:5], B.NO_DEVICES, B.NO_STATIC, *b[5:])


def run_both(args):
    a = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
    b = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
    run_cycle(a)
    native.schedule_native(*bundles_of(b))
    return a, b


def assert_same(a, b, what=""):
    for i in MUTATED:
        assert np.array_equal(a[i], b[i]), f"{what}: argument {i} differs\nnumba  {a[i]!r}\nnative {b[i]!r}"


@pytest.mark.parametrize("strategy", [K.LEAST_ALLOCATED, K.MOST_ALLOCATED, K.REQUESTED_TO_CAPACITY_RATIO])
@pytest.mark.parametrize("pct", [0, 50, 100])
def test_parity_random_arrays(strategy, pct):
    rs = np.random.default_rng(1000 * strategy + pct)
    placed = ties = 0
    for trial in range(30):
        n = int(rs.choice([1, 3, 40, 150, 400]))
        args = random_case(rs, n, strategy, pct)
        a, b = run_both(args)
        assert_same(a, b, f"trial {trial} n={n}")
        placed += int((a[29] >= 0).sum())
        ties += int(a[27][0] != args[27][0])
    assert placed > 0 and ties > 0   # the cases do place pods and do draw tie-breaks


def test_parity_sampling_large_cluster():
    """> 100 nodes with adaptive and explicit percentages: the early stop and round-robin start."""
    rs = np.random.default_rng(7)
    for pct in (0, 5, 30):
        args = random_case(rs, 1200, K.LEAST_ALLOCATED, pct, n_pods=300)
        a, b = run_both(args)
        assert_same(a, b, f"pct={pct}")
        assert a[28][0] != args[28][0]


# --- through the Scheduler's own compile path ---------------------------------------------------------
def scheduler_inputs(seed: int, profile: kpack.Profile, n_nodes: int = 160, n_pods: int = 300):
    rs = np.random.default_rng(seed)
    zones = ["a", "b", "c"]
    nodes = []
    for i in range(n_nodes):
        alloc = {"cpu": int(rs.choice([2000, 4000, 8000])), "memory": int(rs.choice([4, 8, 16])) * 2**30,
                 "pods": int(rs.choice([4, 110]))}
        if rs.random() < 0.2:
            alloc["example.com/gpu"] = int(rs.integers(1, 5))
        if rs.random() < 0.1:
            alloc["hugepages-2Mi"] = int(rs.integers(1, 4)) * 2**21
        taints = []
        if rs.random() < 0.15:
            taints.append({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})
        if rs.random() < 0.3:
            taints.append({"key": "soft", "value": str(rs.integers(0, 2)), "effect": "PreferNoSchedule"})
        nodes.append(kpack.Node(name=f"n{i}", allocatable=alloc,
                                labels={"zone": zones[i % 3], "disk": str(rs.choice(["ssd", "hdd"]))},
                                taints=taints, unschedulable=bool(rs.random() < 0.05)))
    cluster = kpack.Cluster(nodes)
    pods = []
    for i in range(n_pods):
        kind = int(rs.integers(0, 6))
        req = {"cpu": int(rs.choice([100, 500, 1000])), "memory": int(rs.choice([1, 2])) * 2**29}
        extra: dict = {}
        if kind == 1:
            req["example.com/gpu"] = 1
            extra["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        elif kind == 2:
            extra["node_selector"] = {"zone": zones[i % 3]}
        elif kind == 3:
            extra["affinity"] = {"preferred": [{"weight": 7, "preference": {"matchExpressions": [
                {"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}
        elif kind == 4:
            names = [f"n{j}" for j in rs.choice(n_nodes, size=12, replace=False)]
            extra["affinity"] = {"required": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [nm]}]} for nm in names]}
        elif kind == 5:
            req = {}
        pods.append(kpack.Pod(name=f"p{i}", requests=req, **extra))
    sched = kpack.Scheduler(profile, seed=seed)
    pod_req, pod_nz = cluster.pod_vectors(pods)
    cp = CompiledProfile(profile, cluster)
    classes, pod_cls = sched.classes(cluster, pods)
    arrays = class_arrays(classes, n_nodes)
    out = np.full(n_pods, -1, dtype=np.int32)
    fail = np.zeros((n_pods, len(cluster.resource_names)), dtype=np.int32)
    rng = np.array([np.uint64(seed)], dtype=np.uint64)
    return [cluster.allocatable, cluster.requested.copy(), cluster.nonzero_requested.copy(), cp.check_col,
            cp.fit_filter_on, pod_cls, pod_req, pod_nz, *arrays, cp.weights, cp.fit_col, cp.fit_kind,
            cp.fit_w, cp.strategy, cp.shape_u, cp.shape_s, cp.bal_col, cp.bal_kind, cp.pct, rng,
            np.zeros(1, dtype=np.int64), out, fail]


PROFILES = {
    "default": {},
    "most-allocated-sampled": {"percentageOfNodesToScore": 30,
                               "pluginConfig": [{"name": "NodeResourcesFit", "args": {
        "scoringStrategy": {"type": "MostAllocated", "resources": [
            {"name": "cpu", "weight": 2}, {"name": "memory", "weight": 1},
            {"name": "example.com/gpu", "weight": 5}]}}}]},
    "rtcr-descending": {"pluginConfig": [
        {"name": "NodeResourcesFit", "args": {"ignoredResourceGroups": ["example.com"], "scoringStrategy": {
            "type": "RequestedToCapacityRatio",
            "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 3}],
            "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 10},
                                                   {"utilization": 70, "score": 3},
                                                   {"utilization": 100, "score": 0}]}}}},
        {"name": "NodeResourcesBalancedAllocation", "args": {"resources": [
            {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1},
            {"name": "hugepages-2Mi", "weight": 1}]}}]},
}


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_parity_scheduler_compiled(name):
    profile = kpack.Profile.from_k8s({"profiles": [PROFILES[name]]})
    for seed in range(3):
        args = scheduler_inputs(seed, profile)
        a, b = run_both(args)
        assert_same(a, b, f"{name} seed={seed}")
        assert (a[29] >= 0).sum() > 50


def test_parity_multiple_batches_carry_state():
    """Calls chained through the same rng/start/req arrays stay identical batch after batch."""
    rs = np.random.default_rng(3)
    args = random_case(rs, 300, K.LEAST_ALLOCATED, 0, n_pods=60)
    a = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
    b = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
    for _ in range(5):
        run_cycle(a)
        native.schedule_native(*bundles_of(b))
        assert_same(a, b)


def wide_case():
    """70 resource columns; the pod asks for column 66, which no node has."""
    N, R = 2, 70
    alloc = np.zeros((N, R), np.int64)
    alloc[:, :4] = [4000, 2**33, 2**33, 110]
    pod_req = np.zeros((1, R), np.int64)
    pod_req[0, 3] = pod_req[0, 66] = 1
    return [alloc, np.zeros((N, R), np.int64), np.zeros((N, 2), np.int64), np.ones(R, np.bool_), True,
            np.zeros(1, np.int64), pod_req, np.zeros((1, 2), np.int64), np.zeros((1, N), np.int8),
            np.zeros(1, np.int64), np.full(1, -1, np.int64), np.zeros(0, np.int32), np.zeros(1, np.bool_),
            np.full(1, -1, np.int64), np.zeros((1, N), np.int64), np.zeros(1, np.int64),
            np.zeros((1, N), np.int64), np.array([1, 1, 2, 3]), np.array([0, 1]), np.array([0, 1]),
            np.array([1, 1]), K.LEAST_ALLOCATED, np.array([0]), np.array([0]), np.array([0, 1]),
            np.array([2, 2]), 0, np.zeros(1, np.uint64), np.zeros(1, np.int64), np.full(1, -1, np.int32),
            np.zeros((1, R), np.int32)]


def test_native_fit_filter_beyond_64_columns():
    args = wide_case()
    native.schedule_batch_native(*args)
    assert args[29][0] == -1 and args[30][0, 66] == 2 and args[30][0].sum() == 2


def test_public_api_rejects_more_columns_than_the_numba_bitmask_holds():
    # kernels.fit_failures reports failures as an int64 bitmask (columns 0..63); the C core counts per
    # column and is exact beyond that (test above), but the Python layer refuses wider clusters up front.
    extra = {f"example.com/r{i:02d}": 1 for i in range(70)}
    with pytest.raises(kpack.ClusterError, match="at most 64 resource columns"):
        kpack.Cluster([kpack.Node(name="n", allocatable={"cpu": "4", **extra})])
    c = kpack.Cluster([kpack.Node(name="n", allocatable={"cpu": "4", **dict(list(extra.items())[:60])})])
    before = c.requested.copy()
    with pytest.raises(kpack.ClusterError, match="65 distinct resource names"):
        kpack.Scheduler().schedule(c, [kpack.Pod(name="p", requests={"example.com/zz": 1})])
    assert c.resource_names[-1] == "example.com/r59" and np.array_equal(c.requested, before)


# --- bad input ----------------------------------------------------------------------------------------
BAD = [
    ("pod_cls", 5, lambda x: np.full_like(x, 9), r"pods\.cls\[0\] = 9: class id not in valid range \[0, 5\)"),
    ("fit_col", 18, lambda x: np.r_[x[:-1], 99], r"profile\.fit_col\[\d+\] = 99"),
    ("fit_w", 20, lambda x: -x, r"profile\.fit_w\[0\] = -\d+: not in valid range"),
    ("weights", 17, lambda x: np.array([1, -2, 0, 0]), r"profile\.weights\[1\] = -2"),
    ("shape_u", 22, lambda x: np.zeros(len(x) + 1, np.int64),
     r"profile\.shape_u\[1\] = 0: utilization values must "
                                                               r"be strictly increasing"),
    ("strategy", 21, lambda x: 7, r"profile\.strategy = 7"),
    ("pct", 26, lambda x: 101, r"profile\.pct = 101"),
    ("cand_flat", 11, lambda x: np.r_[x, -3].astype(np.int32), r"classes\.cand_flat\[\d+\] = -3"),
    ("cls_taint_row", 15, lambda x: np.full_like(x, 3),
     r"classes\.taint_row\[0\] = 3: not in valid range \[0, 3\)"),
    ("cls_aff_row", 13, lambda x: np.full_like(x, -2), r"classes\.aff_row\[0\] = -2"),
    ("cls_cand_len", 10, lambda x: np.r_[x[:-1], 10**6], r"classes\.cand_len\[4\] = 1000000"),
    ("alloc", 0, lambda x: np.where(np.arange(x.size).reshape(x.shape) == 5, -1, x),
     r"cluster\.allocatable\[1, \d\] = -1"),
    ("pod_req", 6, lambda x: x - 10**12, r"pods\.req\[0, 0\] = -\d+"),
    ("fit_kind", 19, lambda x: np.full_like(x, 5), r"profile\.fit_kind\[0\] = 5"),
    ("start", 28, lambda x: np.array([-1], np.int64), r"state\.start = -1"),
]


@pytest.mark.parametrize("field,idx,mutate,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_rejected_without_changes(field, idx, mutate, message):
    rs = np.random.default_rng(11)
    args = random_case(rs, 50, K.REQUESTED_TO_CAPACITY_RATIO, 0, n_pods=20)
    # no candidate subsets: cand_len/cand_flat as we set them
    args[10][:] = -1
    args[11] = np.zeros(0, np.int32)
    args[idx] = mutate(args[idx])
    if field == "shape_u":
        args[23] = np.zeros(len(args[22]), np.int64)
    before = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
    with pytest.raises(ValueError, match=message):
        native.schedule_batch_native(*args)
    for i in MUTATED:
        assert np.array_equal(args[i], before[i]), f"argument {i} changed on a rejected call"


def test_bad_shapes_rejected_by_binding():
    rs = np.random.default_rng(12)
    args = random_case(rs, 20, K.LEAST_ALLOCATED, 0, n_pods=5)
    bad = list(args)
    bad[1] = args[1][:-1].copy()
    with pytest.raises(ValueError, match=r"req: shape"):
        native.schedule_batch_native(*bad)
    bad = list(args)
    bad[6] = args[6].astype(np.float64)
    with pytest.raises(ValueError, match=r"pod_req: expected an integer"):
        native.schedule_batch_native(*bad)


def test_noncontiguous_state_written_back():
    rs = np.random.default_rng(13)
    args = random_case(rs, 60, K.MOST_ALLOCATED, 0, n_pods=40)
    a, _ = run_both(args)
    b = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
    b[1] = np.asfortranarray(b[1])
    native.schedule_batch_native(*b)
    assert_same(a, b)


# --- the C example ------------------------------------------------------------------------------------
def test_make_native_test_runs_c_example(tmp_path):
    missing = [t for t in ("make", "cc") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found on PATH: cannot build the C example")
    r = subprocess.run(["make", "-C", str(ROOT / "native"), "test", f"BUILD={tmp_path}"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "web-0  -> node-" in r.stdout
    assert "huge   -> pending" in r.stdout
    assert "bad input -> rc 1" in r.stdout and "pods.cls[2] = 7" in r.stdout
