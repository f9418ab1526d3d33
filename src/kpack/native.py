"""ctypes binding to the native C core (native/, built into the package as `kpack._kpack_native`).

`schedule_native` takes the Numba cycle's bundles (kpack.bundles; `cycle.schedule` without devices or static
score plugins) and produces identical results (placements, failure counts, final rng and start);
`schedule_batch_native` is the same call with the bundles' fields as positional arrays. Bad input raises
ValueError with the core's message and changes nothing. The GIL is released during the call.
"""
from __future__ import annotations

import ctypes as ct
import importlib.machinery
import os
from pathlib import Path
from typing import Optional

import numpy as np

ABI_MAJOR = 1
_HERE = Path(__file__).resolve().parent

_i64p = ct.POINTER(ct.c_int64)
_i32p = ct.POINTER(ct.c_int32)
_i8p = ct.POINTER(ct.c_int8)
_u8p = ct.POINTER(ct.c_uint8)


# Named array bundles: one ctypes Structure per C ABI struct of native/include/kpack.h, same fields in the
# same order (tests/test_bundles.py parses the header and checks). `NativePlan` keeps them across calls.
class ClusterBundle(ct.Structure):
    """kpack_cluster: node state (requested / nonzero_requested are updated in place)."""
    _fields_ = [("n_nodes", ct.c_int64), ("n_resources", ct.c_int64), ("allocatable", _i64p),
                ("requested", _i64p), ("nonzero_requested", _i64p)]


class ProfileBundle(ct.Structure):
    """kpack_profile: a compiled scheduler profile (kpack.scheduler.CompiledProfile)."""
    _fields_ = [("check_col", _u8p), ("fit_filter_on", ct.c_int32), ("strategy", ct.c_int32),
                ("weights", ct.c_int64 * 4), ("n_fit", ct.c_int64), ("fit_col", _i64p), ("fit_kind", _i64p),
                ("fit_w", _i64p), ("n_shape", ct.c_int64), ("shape_u", _i64p), ("shape_s", _i64p),
                ("n_bal", ct.c_int64), ("bal_col", _i64p), ("bal_kind", _i64p), ("pct", ct.c_int64)]


class ClassesBundle(ct.Structure):
    """kpack_classes: static per scheduling class data (kpack.bundles.ClassArrays)."""
    _fields_ = [("n_classes", ct.c_int64), ("code", _i8p), ("cand_off", _i64p), ("cand_len", _i64p),
                ("n_cand_flat", ct.c_int64), ("cand_flat", _i32p), ("conflict", _u8p), ("aff_row", _i64p),
                ("n_aff_rows", ct.c_int64), ("aff_rows", _i64p), ("taint_row", _i64p),
                ("n_taint_rows", ct.c_int64), ("taint_rows", _i64p)]


class PodsBundle(ct.Structure):
    """kpack_pods: pods to place, in queue order."""
    _fields_ = [("n_pods", ct.c_int64), ("cls", _i64p), ("req", _i64p), ("nonzero", _i64p)]


class StateBundle(ct.Structure):
    """kpack_state: tie-break rng and nextStartNodeIndex carried across calls."""
    _fields_ = [("rng", ct.c_uint64), ("start", ct.c_int64)]


# C struct name -> bundle (the header test walks this).
BUNDLES = {"kpack_cluster": ClusterBundle, "kpack_profile": ProfileBundle, "kpack_classes": ClassesBundle,
           "kpack_pods": PodsBundle, "kpack_state": StateBundle}


def _candidates() -> list[Path]:
    env = os.environ.get("KPACK_NATIVE_LIB")
    out = [Path(env)] if env else []
    out += [_HERE / f"_kpack_native{sfx}" for sfx in importlib.machinery.EXTENSION_SUFFIXES]
    out.append(_HERE.parent.parent / "native" / "build" / "libkpack.so")   # source checkout, `make -C native`
    return out


_lib: Optional[ct.CDLL] = None
_load_error: Optional[str] = None


def _load() -> Optional[ct.CDLL]:
    global _lib, _load_error
    if _lib is not None or _load_error is not None:
        return _lib
    errors = []
    for path in _candidates():
        if not path.is_file():
            continue
        try:
            lib = ct.CDLL(str(path))
        except OSError as e:
            errors.append(f"{path}: {e}")
            continue
        lib.kpack_abi_version.restype = ct.c_uint32
        version = lib.kpack_abi_version()
        if version >> 16 != ABI_MAJOR:
            errors.append(f"{path}: ABI {version >> 16}.{version & 0xffff}, expected major {ABI_MAJOR}")
            continue
        argtypes = [ct.POINTER(ClusterBundle), ct.POINTER(ProfileBundle), ct.POINTER(ClassesBundle),
                    ct.POINTER(PodsBundle), ct.POINTER(StateBundle), _i32p, _i32p, ct.c_char_p, ct.c_size_t]
        lib.kpack_schedule_batch.restype = ct.c_int
        lib.kpack_schedule_batch.argtypes = argtypes
        # ABI 1.1 (a 1.0 library lacks it: NativePlan then validates everything on every call)
        pre = getattr(lib, "kpack_schedule_batch_prevalidated", None)
        if pre is not None:
            pre.restype = ct.c_int
            pre.argtypes = argtypes
        _lib = lib
        return lib
    _load_error = "; ".join(errors) or ("native library not found (looked for "
                                        + ", ".join(str(p) for p in _candidates()) + ")")
    return None


def available() -> bool:
    """True when the compiled core can be loaded (built by `pip install` or `make -C native`)."""
    return _load() is not None


def load_error() -> Optional[str]:
    """Why `available()` is False, or None."""
    _load()
    return _load_error


def library_path() -> Optional[str]:
    lib = _load()
    return None if lib is None else lib._name


def abi_version() -> tuple[int, int]:
    lib = _require()
    v = lib.kpack_abi_version()
    return v >> 16, v & 0xFFFF


def _require() -> ct.CDLL:
    lib = _load()
    if lib is None:
        raise RuntimeError(f"kpack native core unavailable: {_load_error}")
    return lib


# --- argument marshalling ------------------------------------------------------------------------------
def _in(a, dtype, name: str, ndim: int) -> np.ndarray:
    """Read-only input as a C-contiguous array of `dtype` (integer or bool sources only)."""
    a = np.asarray(a)
    if a.dtype.kind not in "biu":
        raise ValueError(f"{name}: expected an integer or bool array, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimension(s), got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=dtype)


def _inout(a, dtype, name: str, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """(buffer the core writes, the caller's array). Zero-copy when dtype and layout already match."""
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array (it is updated in place), got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimension(s), got shape {a.shape}")
    if not a.flags.writeable:
        raise ValueError(f"{name}: array is read-only (it is updated in place)")
    if a.dtype == dtype and a.flags.c_contiguous:
        return a, a
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected an integer array, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype), a


def _shape(a: np.ndarray, expect: tuple, name: str) -> None:
    if a.shape != expect:
        raise ValueError(f"{name}: shape {a.shape}, expected {expect}")


def _p(a: np.ndarray, ptype):
    return a.ctypes.data_as(ptype)


def _static_bundles(alloc, check_col, fit_filter_on, cls_code, cls_cand_off, cls_cand_len, cand_flat,
                    cls_conflict, cls_aff_row, aff_rows, cls_taint_row, taint_rows, weights, fit_col,
                    fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind, pct):
    """(cluster bundle without requested pointers, profile bundle, classes bundle, arrays they point into):
    the inputs checked for dtype and shape; the core checks values."""
    alloc = _in(alloc, np.int64, "alloc", 2)
    N, R = alloc.shape
    check_col = _in(check_col, np.uint8, "check_col", 1)
    _shape(check_col, (R,), "check_col")
    cls_code = _in(cls_code, np.int8, "cls_code", 2)
    C = cls_code.shape[0]
    _shape(cls_code, (C, N), "cls_code")
    per_class = {}
    for name, arr, dt in (("cls_cand_off", cls_cand_off, np.int64), ("cls_cand_len", cls_cand_len, np.int64),
                          ("cls_conflict", cls_conflict, np.uint8), ("cls_aff_row", cls_aff_row, np.int64),
                          ("cls_taint_row", cls_taint_row, np.int64)):
        per_class[name] = _in(arr, dt, name, 1)
        _shape(per_class[name], (C,), name)
    cand_flat = _in(cand_flat, np.int32, "cand_flat", 1)
    aff_rows = _in(aff_rows, np.int64, "aff_rows", 2)
    if aff_rows.shape[1] != N:
        raise ValueError(f"aff_rows: shape {aff_rows.shape}, expected (rows, {N})")
    taint_rows = _in(taint_rows, np.int64, "taint_rows", 2)
    if taint_rows.shape[1] != N:
        raise ValueError(f"taint_rows: shape {taint_rows.shape}, expected (rows, {N})")
    weights = _in(weights, np.int64, "weights", 1)
    _shape(weights, (4,), "weights")
    fit_col = _in(fit_col, np.int64, "fit_col", 1)
    fit_kind = _in(fit_kind, np.int64, "fit_kind", 1)
    fit_w = _in(fit_w, np.int64, "fit_w", 1)
    _shape(fit_kind, fit_col.shape, "fit_kind")
    _shape(fit_w, fit_col.shape, "fit_w")
    shape_u = _in(shape_u, np.int64, "shape_u", 1)
    shape_s = _in(shape_s, np.int64, "shape_s", 1)
    _shape(shape_s, shape_u.shape, "shape_s")
    bal_col = _in(bal_col, np.int64, "bal_col", 1)
    bal_kind = _in(bal_kind, np.int64, "bal_kind", 1)
    _shape(bal_kind, bal_col.shape, "bal_kind")
    for name, v in (("strategy", strategy), ("pct", pct)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise ValueError(f"{name}: expected an integer, got {v!r}")
    if not -2**31 <= int(strategy) < 2**31:
        raise ValueError(f"strategy = {int(strategy)}: unknown scoring strategy")
    if not -2**63 <= int(pct) < 2**63:
        raise ValueError(f"pct = {int(pct)}: not in valid range [0, 100]")
    cluster = ClusterBundle(N, R, _p(alloc, _i64p), None, None)
    profile = ProfileBundle(_p(check_col, _u8p), 1 if fit_filter_on else 0, int(strategy),
                            (ct.c_int64 * 4)(*(int(x) for x in weights)), fit_col.shape[0],
                            _p(fit_col, _i64p), _p(fit_kind, _i64p), _p(fit_w, _i64p), shape_u.shape[0],
                            _p(shape_u, _i64p),
                            _p(shape_s, _i64p), bal_col.shape[0], _p(bal_col, _i64p), _p(bal_kind, _i64p),
                            int(pct))
    classes = ClassesBundle(C, _p(cls_code, _i8p), _p(per_class["cls_cand_off"], _i64p),
                            _p(per_class["cls_cand_len"], _i64p), cand_flat.shape[0], _p(cand_flat, _i32p),
                            _p(per_class["cls_conflict"], _u8p), _p(per_class["cls_aff_row"], _i64p),
                            aff_rows.shape[0], _p(aff_rows, _i64p), _p(per_class["cls_taint_row"], _i64p),
                            taint_rows.shape[0], _p(taint_rows, _i64p))
    keep = (alloc, check_col, cls_code, per_class, cand_flat, aff_rows, taint_rows, fit_col, fit_kind, fit_w,
            shape_u, shape_s, bal_col, bal_kind)
    return cluster, profile, classes, keep


def _plan_bundles(alloc, profile, classes):
    """_static_bundles from a kpack.bundles ProfileArrays and ClassArrays."""
    return _static_bundles(alloc, profile.check_col, profile.fit_filter_on, *classes, profile.weights,
                           profile.fit_col, profile.fit_kind, profile.fit_w, profile.strategy,
                           profile.shape_u, profile.shape_s, profile.bal_col, profile.bal_kind, profile.pct)


def _raise(rc: int, err) -> None:
    if rc == 2:
        raise MemoryError(err.value.decode(errors="replace") or "kpack native core: out of memory")
    if rc != 0:
        raise ValueError(err.value.decode(errors="replace") or f"kpack native core: error {rc}")


def schedule_batch_native(alloc, req, nz, check_col, fit_filter_on, pod_cls, pod_req, pod_nz,
                          cls_code, cls_cand_off, cls_cand_len, cand_flat, cls_conflict,
                          cls_aff_row, aff_rows, cls_taint_row, taint_rows, weights,
                          fit_col, fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind,
                          pct, rng, start, out_node, fail_counts) -> None:
    """`schedule_native` with the bundles' fields as positional arrays (kernel argument names in errors):
    mutates req/nz/rng/start, writes out_node and fail_counts. Raises ValueError (nothing changed) on bad
    input."""
    lib = _require()
    cluster, profile, classes, keep = _static_bundles(
        alloc, check_col, fit_filter_on, cls_code, cls_cand_off, cls_cand_len, cand_flat, cls_conflict,
        cls_aff_row, aff_rows, cls_taint_row, taint_rows, weights, fit_col, fit_kind, fit_w, strategy,
        shape_u, shape_s, bal_col, bal_kind, pct)
    N, R = keep[0].shape
    req_b, req_o = _inout(req, np.int64, "req", 2)
    _shape(req_b, (N, R), "req")
    nz_b, nz_o = _inout(nz, np.int64, "nz", 2)
    _shape(nz_b, (N, 2), "nz")
    pod_cls = _in(pod_cls, np.int64, "pod_cls", 1)
    P = pod_cls.shape[0]
    pod_req = _in(pod_req, np.int64, "pod_req", 2)
    _shape(pod_req, (P, R), "pod_req")
    pod_nz = _in(pod_nz, np.int64, "pod_nz", 2)
    _shape(pod_nz, (P, 2), "pod_nz")
    rng_b, rng_o = _inout(rng, np.uint64, "rng", 1)
    start_b, start_o = _inout(start, np.int64, "start", 1)
    if rng_b.shape[0] < 1 or start_b.shape[0] < 1:
        raise ValueError("rng and start must each hold at least one element")
    out_b, out_o = _inout(out_node, np.int32, "out_node", 1)
    _shape(out_b, (P,), "out_node")
    fail_b, fail_o = _inout(fail_counts, np.int32, "fail_counts", 2)
    _shape(fail_b, (P, R), "fail_counts")
    cluster.requested = _p(req_b, _i64p)
    cluster.nonzero_requested = _p(nz_b, _i64p)
    pods = PodsBundle(P, _p(pod_cls, _i64p), _p(pod_req, _i64p), _p(pod_nz, _i64p))
    state = StateBundle(int(rng_b[0]), int(start_b[0]))
    err = ct.create_string_buffer(512)
    rc = lib.kpack_schedule_batch(ct.byref(cluster), ct.byref(profile), ct.byref(classes), ct.byref(pods),
                                  ct.byref(state), _p(out_b, _i32p), _p(fail_b, _i32p), err, len(err))
    _raise(rc, err)
    rng_b[0] = state.rng
    start_b[0] = state.start
    for buf, orig in ((req_b, req_o), (nz_b, nz_o), (rng_b, rng_o), (start_b, start_o), (out_b, out_o),
                      (fail_b, fail_o)):
        if buf is not orig:
            orig[...] = buf


def schedule_native(cluster, profile, classes, pods, state, out_node, fail_counts) -> None:
    """The C core over kpack.bundles' ClusterArrays, ProfileArrays, ClassArrays, PodArrays and StateArrays:
    the same effects as `cycle.schedule` with no devices and no static score plugins."""
    schedule_batch_native(cluster.allocatable, cluster.requested, cluster.nonzero_requested,
                          profile.check_col, profile.fit_filter_on, pods.cls, pods.req, pods.nonzero,
                          *classes, profile.weights, profile.fit_col, profile.fit_kind, profile.fit_w,
                          profile.strategy, profile.shape_u, profile.shape_s, profile.bal_col,
                          profile.bal_kind, profile.pct, state.rng, state.start, out_node, fail_counts)


class NativePlan:
    """The C core's bundles for one compiled profile and class set, kept across calls: built and validated
    once, after which a call marshals only the pods (copied into buffers the bundles already point to) and
    re-points requested / nonzero_requested when the caller passes other arrays. Same results as
    `schedule_native` with the same bundles.

    The caller keeps requested / nonzero_requested within [0, 2**53] (engines.c_range_ok); the core then
    checks only the pods on each call (kpack_schedule_batch_prevalidated, ABI 1.1)."""

    def __init__(self, alloc, profile, classes):
        """alloc: int64 [N, R]; profile, classes: kpack.bundles ProfileArrays and ClassArrays."""
        self.lib = _require()
        self.cluster, self.profile, self.classes, self._keep = _plan_bundles(alloc, profile, classes)
        self.n_nodes, self.n_resources = self._keep[0].shape
        self.pods = PodsBundle()
        self.state = StateBundle()
        self.err = ct.create_string_buffer(512)
        self._req = self._nz = None
        self._cap = 0
        self._grow(8)
        self._refs = (ct.byref(self.cluster), ct.byref(self.profile), ct.byref(self.classes),
                      ct.byref(self.pods), ct.byref(self.state))
        self._pre = getattr(self.lib, "kpack_schedule_batch_prevalidated", None)
        self.validated = False   # the first call validates everything (kpack_schedule_batch)

    def _grow(self, cap: int) -> None:
        R = self.n_resources
        self._cls = np.zeros(cap, np.int64)
        self._preq = np.zeros((cap, R), np.int64)
        self._pnz = np.zeros((cap, 2), np.int64)
        self._out = np.zeros(cap, np.int32)
        self._fail = np.zeros((cap, R), np.int32)
        self.pods.cls, self.pods.req = _p(self._cls, _i64p), _p(self._preq, _i64p)
        self.pods.nonzero = _p(self._pnz, _i64p)
        self._out_p, self._fail_p = _p(self._out, _i32p), _p(self._fail, _i32p)
        self._cap = cap

    def run(self, req: np.ndarray, nz: np.ndarray, pod_cls, pod_req, pod_nz, rng: np.ndarray,
            start: np.ndarray, out: np.ndarray, fail: np.ndarray) -> None:
        """`schedule_batch_native`'s pod, state and output arguments; req / nz are updated in place (they
        must be C-contiguous int64 arrays of this plan's shape)."""
        if req is not self._req or nz is not self._nz:
            shapes = (("req", req, (self.n_nodes, self.n_resources)), ("nz", nz, (self.n_nodes, 2)))
            for name, a, shape in shapes:
                if not (isinstance(a, np.ndarray) and a.dtype == np.int64 and a.flags.c_contiguous
                        and a.flags.writeable):
                    raise ValueError(f"{name}: expected a writeable C-contiguous int64 array")
                _shape(a, shape, name)
            self.cluster.requested, self.cluster.nonzero_requested = _p(req, _i64p), _p(nz, _i64p)
            self._req, self._nz = req, nz
        P = len(pod_cls)
        if P > self._cap:
            self._grow(max(P, 2 * self._cap))
        self._cls[:P] = pod_cls
        self._preq[:P] = pod_req
        self._pnz[:P] = pod_nz
        self._fail[:P] = 0
        self.pods.n_pods = P
        self.state.rng = int(rng[0])
        self.state.start = int(start[0])
        fn = self._pre if self.validated and self._pre is not None else self.lib.kpack_schedule_batch
        rc = fn(*self._refs, self._out_p, self._fail_p, self.err, 512)
        _raise(rc, self.err)
        self.validated = True
        rng[0] = self.state.rng
        start[0] = self.state.start
        out[:] = self._out[:P]
        fail[:] = self._fail[:P]
