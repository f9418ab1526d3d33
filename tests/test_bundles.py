"""Named array bundles: the ctypes Structures of kpack.native and the Numba cycle's NamedTuples
(kpack.bundles) match the C ABI structs of native/include/kpack.h (names, order, types); NativePlan
(bundles kept across calls) equals the Numba cycle; Pod objects grouped into specs and in-place placement
change no result."""
import ctypes as ct
import re
from pathlib import Path

import numpy as np
import pytest
from test_native import bundles_of, random_case, run_cycle

import kpack
from kpack import bundles as B
from kpack import engines as E
from kpack import native
from kpack.scheduler import POD_SPEC_FIELDS, ClassArrays, CompiledProfile, spec_groups

HEADER = Path(__file__).resolve().parents[1] / "native" / "include" / "kpack.h"
C_TYPES = {"int64_t": ct.c_int64, "int32_t": ct.c_int32, "uint64_t": ct.c_uint64, "uint8_t": ct.c_uint8,
           "int8_t": ct.c_int8}


def header_structs() -> dict[str, list[tuple[str, object]]]:
    """struct name -> [(field, ctypes type)] as declared in kpack.h."""
    text = HEADER.read_text()
    defines = {k: int(v) for k, v in re.findall(r"#define (\w+) (\d+)\b", text)}
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = {}
    for name, body in re.findall(r"typedef struct (\w+) \{(.*?)\} \1;", text, flags=re.S):
        fields = []
        for decl in filter(None, (d.strip() for d in body.split(";"))):
            m = re.fullmatch(r"(?:const )?(\w+) (\*?)(\w+)(?:\[(\w+)\])?", " ".join(decl.split()))
            assert m, f"{name}: cannot parse {decl!r}"
            base, ptr, field, dim = m.groups()
            t = C_TYPES[base]
            if ptr:
                t = ct.POINTER(t)
            if dim:
                t = t * (defines[dim] if dim in defines else int(dim))
            fields.append((field, t))
        out[name] = fields
    return out


def same_type(a, b) -> bool:
    if hasattr(a, "_length_"):          # ctypes array
        return hasattr(b, "_length_") and a._length_ == b._length_ and same_type(a._type_, b._type_)
    return a is b


def test_header_parser_sees_every_struct():
    structs = header_structs()
    assert set(structs) == {"kpack_cluster", "kpack_profile", "kpack_classes", "kpack_pods", "kpack_state"}
    assert same_type(dict(structs["kpack_profile"])["weights"], ct.c_int64 * 4)
    assert same_type(dict(structs["kpack_classes"])["code"], ct.POINTER(ct.c_int8))


def test_ctypes_bundles_match_the_header():
    structs = header_structs()
    assert set(native.BUNDLES) == set(structs)
    for name, fields in structs.items():
        bundle = native.BUNDLES[name]
        got = [(f, t) for f, t in bundle._fields_]
        assert [f for f, _ in got] == [f for f, _ in fields], name
        for (f, t), (_, want) in zip(got, fields):
            assert same_type(t, want), f"{name}.{f}: {t} vs {want}"


def test_python_bundles_carry_the_header_fields():
    structs = header_structs()
    # ClassArrays: the array fields of kpack_classes, same names, same order (the n_* counts are shapes)
    arrays = [f for f, t in structs["kpack_classes"] if hasattr(t, "contents")]
    assert list(ClassArrays._fields) == arrays
    # CompiledProfile holds every kpack_profile field but the counts
    c = kpack.Cluster([kpack.Node(name="n", allocatable={"cpu": "1", "memory": "1Gi", "pods": 5})])
    cp = CompiledProfile(kpack.Profile.default(), c)
    for f, _ in structs["kpack_profile"]:
        if not f.startswith("n_"):
            assert hasattr(cp, f), f
    for f, _ in structs["kpack_cluster"]:
        if not f.startswith("n_"):
            assert hasattr(c, f), f


# numpy dtype of each C element type, for the Numba bundles' arrays
NP_TYPES = {ct.c_int64: np.int64, ct.c_int32: np.int32, ct.c_uint64: np.uint64,
            ct.c_uint8: (np.uint8, np.bool_), ct.c_int8: np.int8}


def test_numba_bundles_carry_the_header_fields_in_order():
    structs = header_structs()
    assert set(B.BUNDLES) == set(structs)
    for name, fields in structs.items():
        want = [f for f, _ in fields if not f.startswith("n_")]       # counts are the arrays' shapes
        assert list(B.BUNDLES[name]._fields) == want, name
    assert B.ClassArrays is ClassArrays                                 # the scheduler's is the same bundle


def test_numba_bundles_built_by_the_scheduler_have_the_header_types():
    """Pointer fields are arrays of the C element type; scalars are Python scalars; uint8 flags are bool."""
    c = kpack.Cluster([kpack.Node(name=f"n{i}", allocatable={"cpu": "1", "memory": "1Gi", "pods": 5})
                       for i in range(3)])
    s = kpack.Scheduler()
    view, _, cache = s.view(c)
    classes, pod_cls = s.classes(view, [kpack.Pod(name="p", requests={"cpu": "1"})], cache)
    pod_req, pod_nz = view.pod_vectors([kpack.Pod(name="p")])
    built = {"kpack_cluster": B.cluster_arrays(view), "kpack_profile": cache.profile.arrays,
             "kpack_classes": cache.class_arrays(classes, 3),
             "kpack_pods": B.pod_arrays(pod_cls, pod_req, pod_nz),
             "kpack_state": B.StateArrays(s.rng, s.start)}
    structs = header_structs()
    for name, bundle in built.items():
        types = dict(structs[name])
        for f in bundle._fields:
            v, t = getattr(bundle, f), types[f]
            if hasattr(t, "contents"):                 # pointer: an array of that element type
                ok = np.atleast_1d(NP_TYPES[t._type_])
                assert isinstance(v, np.ndarray) and v.dtype in ok, f"{name}.{f}"
            elif hasattr(t, "_length_"):               # fixed array (weights)
                assert isinstance(v, np.ndarray) and v.shape == (t._length_,), f"{name}.{f}"
            elif name == "kpack_state":                # rng / start are one-element arrays updated in place
                assert isinstance(v, np.ndarray) and v.shape == (1,), f"{name}.{f}"
                assert v.dtype == NP_TYPES[t], f"{name}.{f}"
            else:
                assert isinstance(v, (bool, int)) and not isinstance(v, np.generic), f"{name}.{f}"


def test_abi_minor_matches_the_header():
    text = HEADER.read_text()
    major = int(re.search(r"KPACK_ABI_VERSION_MAJOR (\d+)", text).group(1))
    minor = int(re.search(r"KPACK_ABI_VERSION_MINOR (\d+)", text).group(1))
    if not native.available():
        pytest.skip(native.load_error())
    assert native.abi_version() == (major, minor)


@pytest.mark.skipif(not native.available(), reason="native core not built")
@pytest.mark.parametrize("seed", range(6))
def test_native_plan_equals_the_numba_kernel_across_calls(seed):
    rs = np.random.default_rng(seed)
    args = random_case(rs, int(rs.integers(5, 60)), int(rs.integers(0, 3)), int(rs.choice([0, 30, 100])))
    (alloc, req, nz, check_col, ffo, pod_cls, pod_req, pod_nz, *arrays) = args[:17]
    _, profile, classes, *_ = bundles_of(args)
    rng, start, out, fail = args[27:]
    plan = native.NativePlan(alloc, profile, classes)
    ref = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    run_cycle(ref)
    req_n, nz_n, rng_n, start_n = req.copy(), nz.copy(), rng.copy(), start.copy()
    out_n, fail_n = np.full_like(out, -1), np.zeros_like(fail)
    # several calls over the same bundles (the first validates everything, the rest only the pods)
    cuts = sorted({0, len(pod_cls), *rs.integers(0, len(pod_cls), size=3).tolist()})
    for a, b in zip(cuts, cuts[1:]):
        plan.run(req_n, nz_n, pod_cls[a:b], pod_req[a:b], pod_nz[a:b], rng_n, start_n, out_n[a:b],
                 fail_n[a:b])
    assert plan.validated
    for got, want in ((req_n, ref[1]), (nz_n, ref[2]), (out_n, ref[29]), (fail_n, ref[30]), (rng_n, ref[27]),
                      (start_n, ref[28])):
        np.testing.assert_array_equal(got, want)


@pytest.mark.skipif(not native.available(), reason="native core not built")
def test_native_plan_rejects_bad_pods_and_changes_nothing():
    rs = np.random.default_rng(3)
    args = random_case(rs, 20, 0, 0, n_pods=5)
    (alloc, req, nz, check_col, ffo, pod_cls, pod_req, pod_nz, *arrays) = args[:17]
    _, profile, classes, *_ = bundles_of(args)
    plan = native.NativePlan(alloc, profile, classes)
    rng, start, out, fail = args[27:]
    plan.run(req, nz, pod_cls[:1], pod_req[:1], pod_nz[:1], rng, start, out[:1], fail[:1])
    before = req.copy(), nz.copy(), rng.copy(), start.copy()
    bad = pod_cls[:2].copy()
    bad[1] = 99
    with pytest.raises(ValueError, match=r"pods.cls\[1\] = 99"):
        plan.run(req, nz, bad, pod_req[:2], pod_nz[:2], rng, start, out[:2], fail[:2])
    neg = pod_req[:1].copy()
    neg[0, 0] = -1
    with pytest.raises(ValueError, match=r"pods.req\[0, 0\] = -1"):
        plan.run(req, nz, pod_cls[:1], neg, pod_nz[:1], rng, start, out[:1], fail[:1])
    for got, want in zip((req, nz, rng, start), before):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="req: shape"):
        plan.run(req[:-1].copy(), nz, pod_cls[:1], pod_req[:1], pod_nz[:1], rng, start, out[:1], fail[:1])


def test_spec_groups_share_only_pods_equal_but_for_the_name():
    base = dict(requests={"cpu": "100m"}, labels={"app": "web"})
    pods = [kpack.Pod(name=f"a-{i}", **base) for i in range(3)]
    pods += [kpack.Pod(name="b", requests={"cpu": "200m"}, labels={"app": "web"})]
    pods += [kpack.Pod(name=f"c-{i}", **base) for i in range(2)]                  # back to spec 0
    pods += [kpack.Pod(name="d", namespace="other", **base)]                         # namespace differs
    pods += [kpack.Pod(name="e", tolerations=[{"key": "k", "operator": "Exists"}], **base)]
    specs, idx = spec_groups(pods)
    assert idx.tolist() == [0, 0, 0, 1, 0, 0, 2, 3]
    assert [p.name for p in specs] == ["a-0", "b", "d", "e"]
    assert "name" not in POD_SPEC_FIELDS and "namespace" in POD_SPEC_FIELDS


def test_grouped_schedule_equals_one_pod_per_call():
    def world():
        nodes = [kpack.Node(name=f"n{i}", allocatable={"cpu": str(2 + i % 3), "memory": "8Gi", "pods": 4},
                            labels={"zone": "a" if i % 2 else "b"}) for i in range(30)]
        return kpack.Cluster(nodes)
    rs = np.random.default_rng(0)
    pods = []
    for i in range(120):
        k = int(rs.integers(0, 3))
        extra = {"node_selector": {"zone": "a"}} if k == 1 else {}
        pods.append(kpack.Pod(name=f"p{i}", requests={"cpu": ["500m", "1", "250m"][k], "memory": "1Gi"},
                              **extra))
    c1, c2 = world(), world()
    s1, s2 = kpack.Scheduler(seed=4), kpack.Scheduler(seed=4)
    r1 = s1.schedule(c1, pods)
    one = [s2.schedule(c2, [p]) for p in pods]
    assert r1.node_names == [r.node_names[0] for r in one]
    assert r1.reasons == [r.reasons[0] for r in one]
    np.testing.assert_array_equal(c1.requested, c2.requested)


def test_in_place_placement_is_taken_back_on_failure(monkeypatch):
    nodes = [kpack.Node(name=f"n{i}", allocatable={"cpu": "4", "memory": "8Gi", "pods": 10})
             for i in range(5)]
    c = kpack.Cluster(nodes)
    s = kpack.Scheduler()
    s.schedule(c, [kpack.Pod(name="first", requests={"cpu": "1"})])
    req, nz, gen, n = c.requested.copy(), c.nonzero_requested.copy(), c.generation, c.n_bound
    real = E.place

    def place_then_fail(*a, **k):
        real(*a, **k)
        assert (a[10] >= 0).any()          # something was placed in place...
        raise RuntimeError("boom")

    monkeypatch.setattr(E, "place", place_then_fail)
    with pytest.raises(RuntimeError, match="boom"):
        s.schedule(c, [kpack.Pod(name=f"p{i}", requests={"cpu": "1"}) for i in range(20)])
    np.testing.assert_array_equal(c.requested, req)     # ...and taken back
    np.testing.assert_array_equal(c.nonzero_requested, nz)
    assert (c.generation, c.n_bound) == (gen, n)


@pytest.mark.parametrize("engine", ["auto", "numba", "native", "indexed"])
def test_gpu_pods_say_which_engine_ran_them(engine):
    nodes = [kpack.Node(name=f"g{i}", allocatable={"cpu": "8", "memory": "32Gi", "pods": 10,
                                                    "nvidia.com/gpu": 2}) for i in range(3)]
    c = kpack.Cluster(nodes)
    s = kpack.Scheduler(engine=engine)
    s.schedule(c, [kpack.Pod(name="a", requests={"cpu": "1"})])        # a plain call first
    res = s.schedule(c, [kpack.Pod(name="share", requests={"cpu": "1", "nvidia.com/gpu": 1}, gpu_milli=500)])
    assert res.scheduled == 1
    assert s.last_stats.engine == "numba"
    if engine in ("auto", "numba"):
        assert s.last_stats.note == ""
    else:
        assert f"engine={engine!r}" in s.last_stats.note and "GPU" in s.last_stats.note
