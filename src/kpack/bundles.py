"""Named array bundles the Numba scheduling cycle (kpack.cycle) reads: one NamedTuple per C ABI struct.

`ClusterArrays`, `ProfileArrays`, `ClassArrays`, `PodArrays` and `StateArrays` carry the fields of
`kpack_cluster`, `kpack_profile`, `kpack_classes`, `kpack_pods` and `kpack_state` in native/include/kpack.h,
same names, same order; the header's `n_*` counts are the arrays' shapes here (tests/test_bundles.py parses
the header and checks). `DeviceArrays` (GPU devices and the GPU policy) and `StaticScores` (registered static
score plugins) have no C counterpart: the C core has neither; they are empty when a call does not use them.
Every scalar field has one type (bool or int) so the cycle compiles once for every caller.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

NO_POLICY = -1      # DeviceArrays.policy when no GPU policy plugin is enabled


class ClusterArrays(NamedTuple):
    """kpack_cluster: node state; requested and nonzero_requested are updated in place."""
    allocatable: np.ndarray          # int64 [N, R]
    requested: np.ndarray            # int64 [N, R]
    nonzero_requested: np.ndarray    # int64 [N, 2]


class ProfileArrays(NamedTuple):
    """kpack_profile: a compiled scheduler profile (kpack.scheduler.CompiledProfile.arrays)."""
    check_col: np.ndarray      # bool [R]
    fit_filter_on: bool
    strategy: int
    weights: np.ndarray        # int64 [4]
    fit_col: np.ndarray        # int64 [n_fit]
    fit_kind: np.ndarray       # int64 [n_fit]
    fit_w: np.ndarray          # int64 [n_fit]
    shape_u: np.ndarray        # int64 [n_shape]
    shape_s: np.ndarray        # int64 [n_shape]
    bal_col: np.ndarray        # int64 [n_bal]
    bal_kind: np.ndarray       # int64 [n_bal]
    pct: int


class ClassArrays(NamedTuple):
    """kpack_classes: per scheduling class static data."""
    code: np.ndarray         # int8 [C, N]
    cand_off: np.ndarray     # int64 [C]
    cand_len: np.ndarray     # int64 [C]
    cand_flat: np.ndarray    # int32 [n_cand_flat]
    conflict: np.ndarray     # bool [C]
    aff_row: np.ndarray      # int64 [C]
    aff_rows: np.ndarray     # int64 [n_aff_rows, N]
    taint_row: np.ndarray    # int64 [C]
    taint_rows: np.ndarray   # int64 [n_taint_rows, N]


class PodArrays(NamedTuple):
    """kpack_pods: the pods to place, in queue order."""
    cls: np.ndarray          # int64 [P]
    req: np.ndarray          # int64 [P, R]
    nonzero: np.ndarray      # int64 [P, 2]


class StateArrays(NamedTuple):
    """kpack_state: the tie-break rng and nextStartNodeIndex, as one-element arrays updated in place."""
    rng: np.ndarray          # uint64 [1]
    start: np.ndarray        # int64 [1]


class DeviceArrays(NamedTuple):
    """GPU devices (kpack.gpu.plugins): the device filter, the GPU policy score and the device choice.
    Empty (`NO_DEVICES`) when nvidia.com/gpu is an ordinary counted resource."""
    col: int                 # nvidia.com/gpu column: device failures count there
    free: np.ndarray         # int32 [N, D] free milli-GPU per device, updated in place
    model: np.ndarray        # int64 [N] GPU model code, -1 none
    ndev: np.ndarray         # int64 [N] devices per node
    tags: np.ndarray         # int64 [N, 9] GPU pods per kind (GpuClustering), updated in place
    pod_k: np.ndarray        # int64 [P] devices per pod (length 0: no pod uses devices)
    pod_g: np.ndarray        # int64 [P] milli-GPU per device
    out_dev: np.ndarray      # int64 [P] out: the shared device, -1 for whole devices
    policy: int              # gpu.policies code, NO_POLICY when none is enabled
    weight: int              # the policy plugin's weight
    tp_cpu: np.ndarray       # int64 [M] FGD target workload (gpu.plugins.typical_pod_arrays)
    tp_gpu: np.ndarray       # int64 [M]
    tp_num: np.ndarray       # int64 [M]
    tp_mask: np.ndarray      # int64 [M]
    tp_p: np.ndarray         # float64 [M]
    cpu_max: int             # the policies' normalisers (gpu.plugins.normalisers)
    gpu_max: int


class StaticScores(NamedTuple):
    """Registered static score plugins (kpack.plugins.register): raw per-node rows per class, the
    normalisation mode and weight per plugin. X = 0 when the profile enables none."""
    rows: np.ndarray         # int64 [C, X, N]
    mode: np.ndarray         # int64 [X]
    w: np.ndarray            # int64 [X]


_I64 = np.zeros(0, dtype=np.int64)


# The empty device bundle (CPU-only calls): no pod uses devices, no policy. Nothing writes into it.
NO_DEVICES = DeviceArrays(-1, np.zeros((0, 0), np.int32), _I64, _I64, np.zeros((0, 0), np.int64), _I64, _I64,
                          _I64, NO_POLICY, 0, _I64, _I64, _I64, _I64, np.zeros(0, np.float64), 1, 1)


NO_STATIC = StaticScores(np.zeros((0, 0, 0), np.int64), _I64, _I64)

# C struct name -> the NamedTuple carrying its fields (the header test walks this).
BUNDLES = {"kpack_cluster": ClusterArrays, "kpack_profile": ProfileArrays, "kpack_classes": ClassArrays,
           "kpack_pods": PodArrays, "kpack_state": StateArrays}


def cluster_arrays(cluster) -> ClusterArrays:
    """The node state bundle of a kpack.Cluster (its own arrays, updated in place by the cycle)."""
    return ClusterArrays(cluster.allocatable, cluster.requested, cluster.nonzero_requested)


def from_arrays(alloc, req, nz, check_col, fit_filter_on, pod_cls, pod_req, pod_nz, code, cand_off,
                cand_len, cand_flat, conflict, aff_row, aff_rows, taint_row, taint_rows, weights, fit_col,
                fit_kind, fit_w, strategy, shape_u, shape_s, bal_col, bal_kind, pct, rng, start) -> tuple:
    """(cluster, profile, classes, pods, state) over the arrays of native.schedule_batch_native's positional
    arguments (the same arrays: what the cycle writes lands in them); for tests and benchmarks."""
    profile = ProfileArrays(check_col, bool(fit_filter_on), int(strategy), weights, fit_col, fit_kind, fit_w,
                            shape_u, shape_s, bal_col, bal_kind, int(pct))
    classes = ClassArrays(code, cand_off, cand_len, cand_flat, conflict, aff_row, aff_rows, taint_row,
                          taint_rows)
    return (ClusterArrays(alloc, req, nz), profile, classes, pod_arrays(pod_cls, pod_req, pod_nz),
            StateArrays(rng, start))


def pod_arrays(cls: np.ndarray, req: np.ndarray, nonzero: np.ndarray) -> PodArrays:
    """PodArrays with the dtypes and layout the cycle is compiled for."""
    return PodArrays(np.ascontiguousarray(cls, dtype=np.int64), np.ascontiguousarray(req, dtype=np.int64),
                     np.ascontiguousarray(nonzero, dtype=np.int64))
