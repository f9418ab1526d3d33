/*
 * schedule_demo: build a 3-node cluster and five pods through the kpack C ABI, schedule them with the
 * default profile (LeastAllocated cpu/memory, BalancedAllocation, TaintToleration, NodeAffinity) and
 * print the placements. Exercises one bad call to show the validation error path.
 *
 *   make -C native test
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kpack.h"

#define N 3 /* nodes */
#define R 4 /* resources: cpu (m), memory (bytes), ephemeral-storage (bytes), pods */
#define P 5 /* pods */
#define GI (INT64_C(1) << 30)

int main(void) {
    if ((kpack_abi_version() >> 16) != KPACK_ABI_VERSION_MAJOR) {
        fprintf(stderr, "libkpack ABI %#x does not match header %#x\n", kpack_abi_version(), KPACK_ABI_VERSION);
        return 1;
    }
    const char *names[N] = {"node-a", "node-b", "node-c"};
    /* node-a 4 cpu / 16Gi, node-b 8 cpu / 32Gi, node-c 2 cpu / 4Gi; 110 pods each. */
    int64_t alloc[N * R] = {4000, 16 * GI, 100 * GI, 110,
                            8000, 32 * GI, 100 * GI, 110,
                            2000, 4 * GI,  100 * GI, 110};
    int64_t requested[N * R] = {0};
    int64_t nonzero[N * 2] = {0};
    kpack_cluster cluster = {N, R, alloc, requested, nonzero};

    /* Default profile. */
    uint8_t check_col[R] = {1, 1, 1, 1};
    int64_t fit_col[2] = {0, 1}, fit_kind[2] = {KPACK_KIND_NONZERO_CPU, KPACK_KIND_NONZERO_MEMORY}, fit_w[2] = {1, 1};
    int64_t bal_col[2] = {0, 1}, bal_kind[2] = {KPACK_KIND_REQUESTED, KPACK_KIND_REQUESTED};
    int64_t shape_u[1] = {0}, shape_s[1] = {0};
    kpack_profile profile = {
        .check_col = check_col, .fit_filter_on = 1, .strategy = KPACK_LEAST_ALLOCATED,
        .weights = {1, 1, 2, 3},  /* NodeResourcesFit, BalancedAllocation, NodeAffinity, TaintToleration */
        .n_fit = 2, .fit_col = fit_col, .fit_kind = fit_kind, .fit_w = fit_w,
        .n_shape = 1, .shape_u = shape_u, .shape_s = shape_s,
        .n_bal = 2, .bal_col = bal_col, .bal_kind = bal_kind, .pct = 0};

    /* Two scheduling classes: 0 = any node; 1 = "not on node-b" (e.g. a nodeSelector). */
    int8_t code[2 * N] = {0, 0, 0,
                          0, 1, 0};
    int64_t cand_off[2] = {0, 0}, cand_len[2] = {-1, -1};
    int32_t cand_flat[1] = {0};
    uint8_t conflict[2] = {0, 0};
    int64_t aff_row[2] = {-1, -1}, taint_row[2] = {0, 0};
    int64_t aff_rows[N] = {0}, taint_rows[N] = {0};
    kpack_classes classes = {2, code, cand_off, cand_len, 0, cand_flat, conflict,
                             aff_row, 0, aff_rows, taint_row, 1, taint_rows};

    /* Pods: requests (cpu m, memory, ephemeral, pods=1) and the non-zero cpu/memory used for scoring. */
    const char *pod_names[P] = {"web-0", "web-1", "batch", "cache", "huge"};
    int64_t pod_cls[P] = {0, 0, 1, 0, 0};
    int64_t pod_req[P * R] = {1000, 2 * GI, 0, 1,
                              1000, 2 * GI, 0, 1,
                              1500, 1 * GI, 0, 1,
                              500,  8 * GI, 0, 1,
                              9000, 1 * GI, 0, 1};
    int64_t pod_nz[P * 2] = {1000, 2 * GI, 1000, 2 * GI, 1500, 1 * GI, 500, 8 * GI, 9000, 1 * GI};
    kpack_pods pods = {P, pod_cls, pod_req, pod_nz};

    kpack_state state = {.rng = 42, .start = 0};
    int32_t out[P];
    int32_t fails[P * R];
    memset(fails, 0, sizeof fails);
    char err[256];
    int rc = kpack_schedule_batch(&cluster, &profile, &classes, &pods, &state, out, fails, err, sizeof err);
    if (rc != KPACK_OK) {
        fprintf(stderr, "kpack_schedule_batch: %s: %s\n", kpack_strerror(rc), err);
        return 1;
    }
    printf("kpack ABI %u.%u\n", kpack_abi_version() >> 16, kpack_abi_version() & 0xffff);
    for (int p = 0; p < P; p++) {
        if (out[p] >= 0) {
            printf("%-6s -> %s\n", pod_names[p], names[out[p]]);
        } else {
            printf("%-6s -> pending (nodes failing: cpu %d, memory %d, pods %d)\n", pod_names[p],
                   fails[p * R + 0], fails[p * R + 1], fails[p * R + 3]);
        }
    }
    for (int n = 0; n < N; n++)
        printf("%s: cpu %" PRId64 "/%" PRId64 "m, memory %" PRId64 "/%" PRId64 "Mi, pods %" PRId64 "\n", names[n],
               requested[n * R], alloc[n * R], requested[n * R + 1] >> 20, alloc[n * R + 1] >> 20,
               requested[n * R + 3]);
    printf("state: rng %" PRIu64 ", start %" PRId64 "\n", state.rng, state.start);

    /* Bad input: a class id out of range is rejected before anything changes. */
    pod_cls[2] = 7;
    int64_t before = requested[0];
    rc = kpack_schedule_batch(&cluster, &profile, &classes, &pods, &state, out, fails, err, sizeof err);
    printf("bad input -> rc %d (%s): %s\n", rc, kpack_strerror(rc), err);
    if (rc != KPACK_EINVAL || requested[0] != before) return 1;
    return 0;
}
