/*
 * kpack native core: kube-scheduler's per-pod scheduling cycle (NodeResourcesFit filter, fit score,
 * BalancedAllocation, NodeAffinity / TaintToleration score normalisation, host selection, commit)
 * over columnar cluster state, behind a stable C ABI.
 *
 * This is a second implementation of kpack.cycle.schedule (the Numba engine). Given the same
 * arrays, profile and seed both engines produce identical placements, failure counts, final random
 * state and round-robin start index; tests/test_native.py checks this on random inputs.
 *
 * ABI rules
 *   - kpack_abi_version() returns KPACK_ABI_VERSION of the library that is loaded. A caller compiled
 *     against major version M must refuse a library whose major (version >> 16) differs. Struct
 *     layouts below are frozen for a major version; minor versions only add functions.
 *   - Ownership: the caller owns every buffer. The core never keeps a pointer after a call returns,
 *     never frees caller memory and never returns memory it allocated. It allocates internal scratch
 *     (O(n_nodes + n_resources)) for the duration of one call and frees it before returning.
 *   - Matrices are dense, row-major (C order), with the row length stated next to each field.
 *   - All integers are int64 except node/class/candidate indices in int32 where noted, int8 static
 *     class codes and uint8 booleans (0 = false, anything else = true).
 *   - Every input is validated before any output or state is written. On error the function returns
 *     a non-zero KPACK_E* code, writes a NUL-terminated message naming the field and value into
 *     err[0..errlen) (if err != NULL and errlen > 0), and leaves requested, nonzero_requested,
 *     state, out_node and fail_counts untouched.
 *   - Thread safety: the core has no global state. Concurrent calls are safe if they do not share
 *     mutable buffers (cluster requested/nonzero_requested, state, outputs).
 *
 * Resource columns: column KPACK_COL_PODS (3) is the pod count; columns 0, 1 and 2 are cpu
 * (millicores), memory (bytes) and ephemeral-storage (bytes) by convention; scalar resources follow.
 * Scoring uses the per-node "non-zero" cpu/memory totals (nonzero_requested[:, 0..1]).
 */
#ifndef KPACK_H
#define KPACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define KPACK_API __declspec(dllexport)
#elif defined(__GNUC__)
#  define KPACK_API __attribute__((visibility("default")))
#else
#  define KPACK_API
#endif

/* (major << 16) | minor */
#define KPACK_ABI_VERSION_MAJOR 1
#define KPACK_ABI_VERSION_MINOR 1
#define KPACK_ABI_VERSION ((KPACK_ABI_VERSION_MAJOR << 16) | KPACK_ABI_VERSION_MINOR)

/* Return codes. */
#define KPACK_OK 0
#define KPACK_EINVAL 1   /* invalid argument; err names the field and value */
#define KPACK_ENOMEM 2   /* internal scratch allocation failed; nothing was changed */

#define KPACK_COL_PODS 3
#define KPACK_MIN_RESOURCES 4
/* Largest accepted resource quantity (allocatable, requested, pod requests): 2^53. Keeps every
 * intermediate product of the score arithmetic inside int64. */
#define KPACK_MAX_QUANTITY (INT64_C(1) << 53)
/* Largest accepted weight (plugin weights and per-resource weights). */
#define KPACK_MAX_WEIGHT INT64_C(1000000)

/* Score plugin slots in kpack_profile.weights. */
#define KPACK_P_FIT 0
#define KPACK_P_BALANCED 1
#define KPACK_P_AFFINITY 2
#define KPACK_P_TAINT 3
#define KPACK_N_SCORE_PLUGINS 4

/* Score strategies (kpack_profile.strategy). */
#define KPACK_LEAST_ALLOCATED 0
#define KPACK_MOST_ALLOCATED 1
#define KPACK_REQUESTED_TO_CAPACITY_RATIO 2

/* Score resource kinds (how a configured score resource reads node and pod values). */
#define KPACK_KIND_NONZERO_CPU 0     /* alloc[col], nonzero_requested[n,0] + pod nonzero[0] */
#define KPACK_KIND_NONZERO_MEMORY 1  /* alloc[col], nonzero_requested[n,1] + pod nonzero[1] */
#define KPACK_KIND_REQUESTED 2       /* alloc[col], requested[n,col] + pod req[col] */
#define KPACK_KIND_SCALAR 3          /* as REQUESTED, skipped when the pod does not request col */
#define KPACK_KIND_ABSENT 4          /* resource the cluster does not have: always skipped */

/* Cluster state. requested and nonzero_requested are updated in place as pods are placed. */
typedef struct kpack_cluster {
    int64_t n_nodes;              /* N >= 0, <= INT32_MAX */
    int64_t n_resources;          /* R >= KPACK_MIN_RESOURCES */
    const int64_t *allocatable;   /* [N * R] */
    int64_t *requested;           /* [N * R], in/out: real requests of bound pods */
    int64_t *nonzero_requested;   /* [N * 2], in/out: cpu, memory with non-zero defaults */
} kpack_cluster;

/* A compiled scheduler profile (see kpack.scheduler.CompiledProfile). */
typedef struct kpack_profile {
    const uint8_t *check_col;     /* [R]: 0 = column ignored by the fit filter (ignoredResources) */
    int32_t fit_filter_on;        /* NodeResourcesFit filter enabled */
    int32_t strategy;             /* KPACK_LEAST_ALLOCATED / _MOST_ALLOCATED / _REQUESTED_TO_CAPACITY_RATIO */
    int64_t weights[KPACK_N_SCORE_PLUGINS];   /* plugin weights, 0 = disabled, 0..KPACK_MAX_WEIGHT */
    int64_t n_fit;                /* fit score resources */
    const int64_t *fit_col;       /* [n_fit]: column, or -1 when the cluster lacks the resource */
    const int64_t *fit_kind;      /* [n_fit]: KPACK_KIND_* */
    const int64_t *fit_w;         /* [n_fit]: 0..KPACK_MAX_WEIGHT */
    int64_t n_shape;              /* RTCR shape points, >= 1 */
    const int64_t *shape_u;       /* [n_shape]: utilisation 0..100, strictly increasing */
    const int64_t *shape_s;       /* [n_shape]: score already multiplied by 10, 0..100 */
    int64_t n_bal;                /* BalancedAllocation resources */
    const int64_t *bal_col;       /* [n_bal]: column or -1 */
    const int64_t *bal_kind;      /* [n_bal]: KPACK_KIND_* */
    int64_t pct;                  /* percentageOfNodesToScore 0..100; 0 = adaptive default */
} kpack_profile;

/* Static per scheduling class data (see kpack.scheduler._class_arrays). C classes. */
typedef struct kpack_classes {
    int64_t n_classes;            /* C >= 0 */
    const int8_t *code;           /* [C * N]: 0 = node passes the static filters */
    const int64_t *cand_off;      /* [C]: offset into cand_flat */
    const int64_t *cand_len;      /* [C]: -1 = every node is a candidate, else number of candidates */
    int64_t n_cand_flat;
    const int32_t *cand_flat;     /* [n_cand_flat]: node indices (NodeAffinity PreFilter result) */
    const uint8_t *conflict;      /* [C]: PreFilter rejected the class (no node is visited) */
    const int64_t *aff_row;       /* [C]: row of aff_rows, -1 = NodeAffinity PreScore skipped */
    int64_t n_aff_rows;
    const int64_t *aff_rows;      /* [n_aff_rows * N]: preferred affinity raw scores, >= 0 */
    const int64_t *taint_row;     /* [C]: row of taint_rows */
    int64_t n_taint_rows;
    const int64_t *taint_rows;    /* [n_taint_rows * N]: untolerated PreferNoSchedule counts, >= 0 */
} kpack_classes;

/* Pods to place, in queue order. */
typedef struct kpack_pods {
    int64_t n_pods;               /* P >= 0 */
    const int64_t *cls;           /* [P]: class id 0..C-1 */
    const int64_t *req;           /* [P * R]: real requests, req[p, KPACK_COL_PODS] normally 1 */
    const int64_t *nonzero;       /* [P * 2]: cpu, memory with non-zero defaults (scoring) */
} kpack_pods;

/* Scheduler state carried across calls. */
typedef struct kpack_state {
    uint64_t rng;                 /* splitmix64 state for tie-breaks; a fresh scheduler uses its seed */
    int64_t start;                /* nextStartNodeIndex, >= 0 */
} kpack_state;

/* Library ABI version, (major << 16) | minor. */
KPACK_API uint32_t kpack_abi_version(void);

/* Human readable name of a return code (static storage; do not free). */
KPACK_API const char *kpack_strerror(int code);

/*
 * Place pods in order. For each pod p: out_node[p] = chosen node or -1. For a pod that found no
 * feasible node after visiting candidates, fail_counts[p * R + r] = number of visited nodes that
 * failed NodeResourcesFit on column r (column KPACK_COL_PODS: "Too many pods"); other rows of
 * fail_counts are left as they were (initialise them to 0). requested, nonzero_requested and state
 * are updated.
 *   out_node:    [P] int32, required when P > 0
 *   fail_counts: [P * R] int32, required when P > 0
 * Returns KPACK_OK, or an error code (nothing changed) with a message in err.
 */
KPACK_API int kpack_schedule_batch(const kpack_cluster *cluster, const kpack_profile *profile,
                                   const kpack_classes *classes, const kpack_pods *pods,
                                   kpack_state *state, int32_t *out_node, int32_t *fail_counts,
                                   char *err, size_t errlen);

/*
 * ABI 1.1. kpack_schedule_batch for a caller that keeps its cluster, profile and classes across calls:
 * validates only pods, state and the outputs (O(P * R) instead of O(N * R + C * N)). The caller
 * guarantees that cluster, profile and classes passed kpack_schedule_batch's validation (a call with
 * n_pods = 0 validates them and places nothing) and have not changed since, except requested and
 * nonzero_requested, which it keeps within [0, KPACK_MAX_QUANTITY]. Same results as
 * kpack_schedule_batch.
 */
KPACK_API int kpack_schedule_batch_prevalidated(const kpack_cluster *cluster, const kpack_profile *profile,
                                                const kpack_classes *classes, const kpack_pods *pods,
                                                kpack_state *state, int32_t *out_node, int32_t *fail_counts,
                                                char *err, size_t errlen);

/* splitmix64 (Vigna): advance *state and return the next output. The tie-break stream. */
KPACK_API uint64_t kpack_splitmix64(uint64_t *state);

/* upstream numFeasibleNodesToFind(n, pct); pct <= 0 selects the adaptive default. */
KPACK_API int64_t kpack_num_feasible_nodes_to_find(int64_t n, int64_t pct);

#ifdef __cplusplus
}
#endif

#endif /* KPACK_H */
