/*
 * kpack native core: the batch scheduling loop of kpack.cycle.schedule, ported rule for rule.
 *
 * Parity notes (the Numba kernels are the specification):
 *   - All quantities are validated to be in [0, KPACK_MAX_QUANTITY], so every integer division here has
 *     non-negative operands and C's truncating '/' equals Python's floor '//'. The one place upstream
 *     divides a possibly negative numerator (RTCR interpolation on a descending shape) truncates toward
 *     zero in both engines (kernels.trunc_div).
 *   - Float math (BalancedAllocation, RTCR rounding) is written in the same operation order as the
 *     Python; build with -ffp-contract=off so no fused multiply-add changes a result bit.
 *   - splitmix64 uses uint64 wrap-around exactly like the Numba version.
 *   - Integer overflow cannot happen for validated inputs except when the fit filter is off and a node
 *     accumulates far more than its allocatable; build with -fwrapv so that case wraps like Numba.
 */
#include "kpack.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODE_SCORE INT64_C(100)
#define MIN_FEASIBLE_NODES_TO_FIND INT64_C(100)
#define MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND INT64_C(5)

uint32_t kpack_abi_version(void) { return (uint32_t)KPACK_ABI_VERSION; }

const char *kpack_strerror(int code) {
    switch (code) {
    case KPACK_OK: return "ok";
    case KPACK_EINVAL: return "invalid argument";
    case KPACK_ENOMEM: return "out of memory";
    default: return "unknown error";
    }
}

uint64_t kpack_splitmix64(uint64_t *state) {
    uint64_t s = *state + UINT64_C(0x9E3779B97F4A7C15);
    *state = s;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

int64_t kpack_num_feasible_nodes_to_find(int64_t n, int64_t pct) {
    if (n < MIN_FEASIBLE_NODES_TO_FIND) return n;
    int64_t p = pct;
    if (p <= 0) {
        p = 50 - n / 125;
        if (p < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND) p = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
    }
    int64_t num = n * p / 100;
    return num < MIN_FEASIBLE_NODES_TO_FIND ? MIN_FEASIBLE_NODES_TO_FIND : num;
}

/* ------------------------------------------------------------------------------------------------ */
/* Validation                                                                                        */
/* ------------------------------------------------------------------------------------------------ */

static int set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return KPACK_EINVAL;
}

#define FAIL(...) return set_err(err, errlen, __VA_ARGS__)

/* Every element of a[0..n) in [lo, hi]; names the first offender as field[i]. */
static int check_range(const int64_t *a, int64_t n, int64_t lo, int64_t hi, const char *field,
                       char *err, size_t errlen) {
    for (int64_t i = 0; i < n; i++) {
        if (a[i] < lo || a[i] > hi)
            FAIL("%s[%" PRId64 "] = %" PRId64 ": not in valid range [%" PRId64 ", %" PRId64 "]", field, i, a[i],
                 lo, hi);
    }
    return KPACK_OK;
}

/* Same for a row-major matrix, naming the offender as field[row, col]. */
static int check_matrix(const int64_t *a, int64_t rows, int64_t cols, int64_t lo, int64_t hi, const char *field,
                        char *err, size_t errlen) {
    for (int64_t i = 0; i < rows; i++) {
        const int64_t *row = a + i * cols;
        for (int64_t j = 0; j < cols; j++) {
            if (row[j] < lo || row[j] > hi)
                FAIL("%s[%" PRId64 ", %" PRId64 "] = %" PRId64 ": not in valid range [%" PRId64 ", %" PRId64 "]",
                     field, i, j, row[j], lo, hi);
        }
    }
    return KPACK_OK;
}

#define CHECK(call)                      \
    do {                                 \
        int rc_ = (call);                \
        if (rc_ != KPACK_OK) return rc_; \
    } while (0)

#define NEED(ptr, count, name)                                                                      \
    do {                                                                                            \
        if ((ptr) == NULL && (count) > 0) FAIL("%s: NULL pointer with %" PRId64 " elements", name, \
                                               (int64_t)(count));                                  \
    } while (0)

/* Pods, state and outputs only: O(P * R). */
static int validate_pods(const kpack_cluster *cl, const kpack_classes *cs, const kpack_pods *pd,
                         const kpack_state *st, const int32_t *out_node, const int32_t *fail_counts, char *err,
                         size_t errlen) {
    const int64_t R = cl->n_resources, C = cs->n_classes, P = pd->n_pods;
    if (P < 0) FAIL("pods.n_pods = %" PRId64 ": must be >= 0", P);
    if (P > INT64_MAX / R) FAIL("pods.n_pods = %" PRId64 ": too large", P);
    NEED(pd->cls, P, "pods.cls");
    NEED(pd->req, P, "pods.req");
    NEED(pd->nonzero, P, "pods.nonzero");
    NEED(out_node, P, "out_node");
    NEED(fail_counts, P, "fail_counts");
    for (int64_t p = 0; p < P; p++) {
        if (pd->cls[p] < 0 || pd->cls[p] >= C)
            FAIL("pods.cls[%" PRId64 "] = %" PRId64 ": class id not in valid range [0, %" PRId64 ")", p, pd->cls[p], C);
    }
    CHECK(check_matrix(pd->req, P, R, 0, KPACK_MAX_QUANTITY, "pods.req", err, errlen));
    CHECK(check_matrix(pd->nonzero, P, 2, 0, KPACK_MAX_QUANTITY, "pods.nonzero", err, errlen));
    if (st->start < 0) FAIL("state.start = %" PRId64 ": must be >= 0", st->start);
    return KPACK_OK;
}

static int validate(const kpack_cluster *cl, const kpack_profile *pr, const kpack_classes *cs,
                    const kpack_pods *pd, const kpack_state *st, const int32_t *out_node,
                    const int32_t *fail_counts, char *err, size_t errlen) {
    if (cl == NULL) FAIL("cluster: NULL pointer");
    if (pr == NULL) FAIL("profile: NULL pointer");
    if (cs == NULL) FAIL("classes: NULL pointer");
    if (pd == NULL) FAIL("pods: NULL pointer");
    if (st == NULL) FAIL("state: NULL pointer");

    /* cluster */
    const int64_t N = cl->n_nodes, R = cl->n_resources;
    if (N < 0 || N > INT32_MAX)
        FAIL("cluster.n_nodes = %" PRId64 ": not in valid range [0, %d]", N, INT32_MAX);
    if (R < KPACK_MIN_RESOURCES || R > 4096)
        FAIL("cluster.n_resources = %" PRId64 ": not in valid range [%d, 4096] (column %d is pods)", R,
             KPACK_MIN_RESOURCES, KPACK_COL_PODS);
    NEED(cl->allocatable, N, "cluster.allocatable");
    NEED(cl->requested, N, "cluster.requested");
    NEED(cl->nonzero_requested, N, "cluster.nonzero_requested");
    CHECK(check_matrix(cl->allocatable, N, R, 0, KPACK_MAX_QUANTITY, "cluster.allocatable", err, errlen));
    CHECK(check_matrix(cl->requested, N, R, 0, KPACK_MAX_QUANTITY, "cluster.requested", err, errlen));
    CHECK(check_matrix(cl->nonzero_requested, N, 2, 0, KPACK_MAX_QUANTITY, "cluster.nonzero_requested", err,
                       errlen));

    /* profile */
    NEED(pr->check_col, R, "profile.check_col");
    if (pr->strategy < KPACK_LEAST_ALLOCATED || pr->strategy > KPACK_REQUESTED_TO_CAPACITY_RATIO)
        FAIL("profile.strategy = %d: unknown scoring strategy (0 LeastAllocated, 1 MostAllocated, "
             "2 RequestedToCapacityRatio)", (int)pr->strategy);
    CHECK(check_range(pr->weights, KPACK_N_SCORE_PLUGINS, 0, KPACK_MAX_WEIGHT, "profile.weights", err, errlen));
    if (pr->n_fit < 0) FAIL("profile.n_fit = %" PRId64 ": must be >= 0", pr->n_fit);
    NEED(pr->fit_col, pr->n_fit, "profile.fit_col");
    NEED(pr->fit_kind, pr->n_fit, "profile.fit_kind");
    NEED(pr->fit_w, pr->n_fit, "profile.fit_w");
    CHECK(check_range(pr->fit_col, pr->n_fit, -1, R - 1, "profile.fit_col", err, errlen));
    CHECK(check_range(pr->fit_kind, pr->n_fit, KPACK_KIND_NONZERO_CPU, KPACK_KIND_ABSENT, "profile.fit_kind",
                      err, errlen));
    CHECK(check_range(pr->fit_w, pr->n_fit, 0, KPACK_MAX_WEIGHT, "profile.fit_w", err, errlen));
    if (pr->n_shape < 0) FAIL("profile.n_shape = %" PRId64 ": must be >= 0", pr->n_shape);
    if (pr->strategy == KPACK_REQUESTED_TO_CAPACITY_RATIO && pr->n_shape < 1)
        FAIL("profile.n_shape = %" PRId64 ": RequestedToCapacityRatio needs at least one shape point",
             pr->n_shape);
    NEED(pr->shape_u, pr->n_shape, "profile.shape_u");
    NEED(pr->shape_s, pr->n_shape, "profile.shape_s");
    CHECK(check_range(pr->shape_u, pr->n_shape, 0, 100, "profile.shape_u", err, errlen));
    CHECK(check_range(pr->shape_s, pr->n_shape, 0, 10 * 10, "profile.shape_s", err, errlen));
    for (int64_t i = 1; i < pr->n_shape; i++) {
        if (pr->shape_u[i] <= pr->shape_u[i - 1])
            FAIL("profile.shape_u[%" PRId64 "] = %" PRId64 ": utilization values must be strictly increasing "
                 "(previous %" PRId64 ")", i, pr->shape_u[i], pr->shape_u[i - 1]);
    }
    if (pr->n_bal < 0) FAIL("profile.n_bal = %" PRId64 ": must be >= 0", pr->n_bal);
    NEED(pr->bal_col, pr->n_bal, "profile.bal_col");
    NEED(pr->bal_kind, pr->n_bal, "profile.bal_kind");
    CHECK(check_range(pr->bal_col, pr->n_bal, -1, R - 1, "profile.bal_col", err, errlen));
    CHECK(check_range(pr->bal_kind, pr->n_bal, KPACK_KIND_NONZERO_CPU, KPACK_KIND_ABSENT, "profile.bal_kind",
                      err, errlen));
    if (pr->pct < 0 || pr->pct > 100)
        FAIL("profile.pct = %" PRId64 ": not in valid range [0, 100] (0 = adaptive)", pr->pct);

    /* classes */
    const int64_t C = cs->n_classes;
    if (C < 0) FAIL("classes.n_classes = %" PRId64 ": must be >= 0", C);
    if (N > 0 && C > INT64_MAX / N) FAIL("classes.n_classes = %" PRId64 ": too large", C);
    NEED(cs->code, C * N, "classes.code");
    NEED(cs->cand_off, C, "classes.cand_off");
    NEED(cs->cand_len, C, "classes.cand_len");
    NEED(cs->conflict, C, "classes.conflict");
    NEED(cs->aff_row, C, "classes.aff_row");
    NEED(cs->taint_row, C, "classes.taint_row");
    if (cs->n_cand_flat < 0) FAIL("classes.n_cand_flat = %" PRId64 ": must be >= 0", cs->n_cand_flat);
    NEED(cs->cand_flat, cs->n_cand_flat, "classes.cand_flat");
    if (cs->n_aff_rows < 0) FAIL("classes.n_aff_rows = %" PRId64 ": must be >= 0", cs->n_aff_rows);
    if (cs->n_taint_rows < 0) FAIL("classes.n_taint_rows = %" PRId64 ": must be >= 0", cs->n_taint_rows);
    if (N > 0 && (cs->n_aff_rows > INT64_MAX / N || cs->n_taint_rows > INT64_MAX / N))
        FAIL("classes.n_aff_rows/n_taint_rows: too large");
    NEED(cs->aff_rows, cs->n_aff_rows * N, "classes.aff_rows");
    NEED(cs->taint_rows, cs->n_taint_rows * N, "classes.taint_rows");
    for (int64_t c = 0; c < C; c++) {
        int64_t len = cs->cand_len[c], off = cs->cand_off[c];
        if (len < -1 || len > N)
            FAIL("classes.cand_len[%" PRId64 "] = %" PRId64 ": not in valid range [-1, %" PRId64 "] (-1 = all nodes)",
                 c, len, N);
        if (len >= 0 && (off < 0 || off > cs->n_cand_flat || len > cs->n_cand_flat - off))
            FAIL("classes.cand_off[%" PRId64 "] = %" PRId64 ": candidates [%" PRId64 ", +%" PRId64
                 ") exceed classes.n_cand_flat = %" PRId64, c, off, off, len, cs->n_cand_flat);
        if (cs->aff_row[c] < -1 || cs->aff_row[c] >= cs->n_aff_rows)
            FAIL("classes.aff_row[%" PRId64 "] = %" PRId64 ": not in valid range [-1, %" PRId64 ")", c, cs->aff_row[c],
                 cs->n_aff_rows);
        if (cs->taint_row[c] < 0 || cs->taint_row[c] >= cs->n_taint_rows)
            FAIL("classes.taint_row[%" PRId64 "] = %" PRId64 ": not in valid range [0, %" PRId64 ")", c,
                 cs->taint_row[c], cs->n_taint_rows);
    }
    for (int64_t i = 0; i < cs->n_cand_flat; i++) {
        if (cs->cand_flat[i] < 0 || cs->cand_flat[i] >= N)
            FAIL("classes.cand_flat[%" PRId64 "] = %" PRId32 ": node index not in valid range [0, %" PRId64 ")", i,
                 cs->cand_flat[i], N);
    }
    CHECK(check_matrix(cs->aff_rows, cs->n_aff_rows, N, 0, KPACK_MAX_QUANTITY, "classes.aff_rows", err, errlen));
    CHECK(check_matrix(cs->taint_rows, cs->n_taint_rows, N, 0, KPACK_MAX_QUANTITY, "classes.taint_rows", err,
                       errlen));

    return validate_pods(cl, cs, pd, st, out_node, fail_counts, err, errlen);
}

/* ------------------------------------------------------------------------------------------------ */
/* Scoring                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

/* One configured score resource as it applies to the current pod (kernels._alloc_req hoisted out of the
 * node loop): col < 0 means the resource is skipped for this pod whatever the node. */
typedef struct {
    int64_t col;       /* allocatable column */
    int64_t w;         /* weight (fit) */
    int64_t used_col;  /* column of the node's used amount: in requested (>= 0) or nonzero (-1 cpu, -2 mem) */
    int64_t add;       /* the pod's contribution */
} score_res;

typedef struct {
    int64_t N, R;
    const int64_t *alloc;
    const int64_t *req;
    const int64_t *nz;
} view;

static inline void prepare_res(score_res *out, int64_t col, int64_t kind, int64_t w, const int64_t *preq,
                               const int64_t *pnz) {
    out->col = -1;
    out->w = w;
    if (kind == KPACK_KIND_ABSENT || col < 0) return;
    if (kind == KPACK_KIND_SCALAR && preq[col] == 0) return;
    out->col = col;
    if (kind == KPACK_KIND_NONZERO_CPU) {
        out->used_col = -1;
        out->add = pnz[0];
    } else if (kind == KPACK_KIND_NONZERO_MEMORY) {
        out->used_col = -2;
        out->add = pnz[1];
    } else {
        out->used_col = col;
        out->add = preq[col];
    }
}

/* (allocatable, requested-after-placement); allocatable 0 means skip. */
static inline int64_t res_alloc_req(const view *v, int64_t n, const score_res *s, int64_t *r) {
    if (s->col < 0) {
        *r = 0;
        return 0;
    }
    int64_t used;
    if (s->used_col >= 0) used = v->req[n * v->R + s->used_col];
    else if (s->used_col == -1) used = v->nz[n * 2];
    else used = v->nz[n * 2 + 1];
    *r = used + s->add;
    return v->alloc[n * v->R + s->col];
}

static inline int64_t trunc_div(int64_t a, int64_t b) { return a / b; /* C99: truncates toward zero */ }

static inline int64_t broken_linear(int64_t p, const int64_t *u, const int64_t *s, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (p <= u[i]) {
            if (i == 0) return s[0];
            return s[i - 1] + trunc_div((s[i] - s[i - 1]) * (p - u[i - 1]), u[i] - u[i - 1]);
        }
    }
    return s[n - 1];
}

static int64_t fit_score(const view *v, int64_t n, const score_res *res, int64_t nres, const kpack_profile *pr) {
    int64_t num = 0, wsum = 0;
    const int strategy = pr->strategy;
    for (int64_t i = 0; i < nres; i++) {
        int64_t r;
        int64_t a = res_alloc_req(v, n, &res[i], &r);
        if (a == 0) continue;
        int64_t w = res[i].w, s;
        if (strategy == KPACK_LEAST_ALLOCATED) {
            s = r > a ? 0 : (a - r) * MAX_NODE_SCORE / a;
        } else if (strategy == KPACK_MOST_ALLOCATED) {
            int64_t rr = r > a ? a : r;
            s = rr * MAX_NODE_SCORE / a;
        } else {
            int64_t u = r > a ? 100 : r * 100 / a;
            s = broken_linear(u, pr->shape_u, pr->shape_s, pr->n_shape);
            if (s <= 0) continue; /* RTCR drops zero-scored resources from the average */
        }
        num += s * w;
        wsum += w;
    }
    if (wsum == 0) return 0;
    if (strategy == KPACK_REQUESTED_TO_CAPACITY_RATIO)
        return (int64_t)floor((double)num / (double)wsum + 0.5); /* math.Round, x >= 0 */
    return num / wsum;
}

static int64_t balanced_score(const view *v, int64_t n, const score_res *res, int64_t nres, double *frac) {
    double fr0 = 0.0, fr1 = 0.0, total = 0.0;
    int64_t count = 0;
    for (int64_t i = 0; i < nres; i++) {
        int64_t r;
        int64_t a = res_alloc_req(v, n, &res[i], &r);
        if (a == 0) continue;
        double f = (double)r / (double)a;
        if (f > 1.0) f = 1.0;
        if (count == 0) fr0 = f;
        else if (count == 1) fr1 = f;
        frac[count] = f;
        total += f;
        count++;
    }
    double std = 0.0;
    if (count == 2) {
        std = fabs((fr0 - fr1) / 2);
    } else if (count > 2) {
        double mean = total / (double)count;
        double s = 0.0;
        for (int64_t i = 0; i < count; i++) s = s + (frac[i] - mean) * (frac[i] - mean);
        std = sqrt(s / (double)count);
    }
    return (int64_t)((1 - std) * (double)MAX_NODE_SCORE);
}

/* Index into feasible[0..k) of the best total; ties: the (u mod t)-th tied node in visit order. */
static int64_t select_host(const int64_t *totals, int64_t k, uint64_t *rng) {
    int64_t best = totals[0], ties = 1;
    for (int64_t i = 1; i < k; i++) {
        if (totals[i] > best) {
            best = totals[i];
            ties = 1;
        } else if (totals[i] == best) {
            ties++;
        }
    }
    if (ties == 1) {
        for (int64_t i = 0; i < k; i++)
            if (totals[i] == best) return i;
    }
    uint64_t u = kpack_splitmix64(rng);
    int64_t pick = (int64_t)(u % (uint64_t)ties);
    int64_t seen = 0;
    for (int64_t i = 0; i < k; i++) {
        if (totals[i] == best) {
            if (seen == pick) return i;
            seen++;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------------------------------ */
/* Batch loop                                                                                        */
/* ------------------------------------------------------------------------------------------------ */

static int run_batch(const kpack_cluster *cluster, const kpack_profile *profile, const kpack_classes *classes,
                     const kpack_pods *pods, kpack_state *state, int32_t *out_node, int32_t *fail_counts,
                     char *err, size_t errlen);

int kpack_schedule_batch(const kpack_cluster *cluster, const kpack_profile *profile, const kpack_classes *classes,
                         const kpack_pods *pods, kpack_state *state, int32_t *out_node, int32_t *fail_counts,
                         char *err, size_t errlen) {
    if (err != NULL && errlen > 0) err[0] = '\0';
    int rc = validate(cluster, profile, classes, pods, state, out_node, fail_counts, err, errlen);
    if (rc != KPACK_OK) return rc;
    return run_batch(cluster, profile, classes, pods, state, out_node, fail_counts, err, errlen);
}

int kpack_schedule_batch_prevalidated(const kpack_cluster *cluster, const kpack_profile *profile,
                                      const kpack_classes *classes, const kpack_pods *pods, kpack_state *state,
                                      int32_t *out_node, int32_t *fail_counts, char *err, size_t errlen) {
    if (err != NULL && errlen > 0) err[0] = '\0';
    if (cluster == NULL || profile == NULL || classes == NULL || pods == NULL || state == NULL)
        FAIL("cluster, profile, classes, pods and state: NULL pointer");
    if (cluster->n_resources < KPACK_MIN_RESOURCES || cluster->n_resources > 4096)
        FAIL("cluster.n_resources = %" PRId64 ": not in valid range [%d, 4096]", cluster->n_resources,
             KPACK_MIN_RESOURCES);
    int rc = validate_pods(cluster, classes, pods, state, out_node, fail_counts, err, errlen);
    if (rc != KPACK_OK) return rc;
    return run_batch(cluster, profile, classes, pods, state, out_node, fail_counts, err, errlen);
}

static int run_batch(const kpack_cluster *cluster, const kpack_profile *profile, const kpack_classes *classes,
                     const kpack_pods *pods, kpack_state *state, int32_t *out_node, int32_t *fail_counts,
                     char *err, size_t errlen) {

    const int64_t N = cluster->n_nodes, R = cluster->n_resources, P = pods->n_pods;
    const int64_t nfit = profile->n_fit, nbal = profile->n_bal;
    const int64_t *alloc = cluster->allocatable;
    int64_t *req = cluster->requested;
    int64_t *nz = cluster->nonzero_requested;
    const uint8_t *check_col = profile->check_col;
    const int64_t *w = profile->weights;

    /* Scratch, freed before returning. */
    size_t nn = (size_t)(N > 0 ? N : 1);
    int64_t *feasible = malloc(nn * sizeof(int64_t));
    int64_t *totals = malloc(nn * sizeof(int64_t));
    int32_t *tmp_fail = malloc((size_t)R * sizeof(int32_t));
    int64_t *active = malloc((size_t)R * sizeof(int64_t));
    score_res *fit_res = malloc((size_t)(nfit > 0 ? nfit : 1) * sizeof(score_res));
    score_res *bal_res = malloc((size_t)(nbal > 0 ? nbal : 1) * sizeof(score_res));
    double *frac = malloc((size_t)(nbal > 0 ? nbal : 1) * sizeof(double));
    if (!feasible || !totals || !tmp_fail || !active || !fit_res || !bal_res || !frac) {
        free(feasible); free(totals); free(tmp_fail); free(active); free(fit_res); free(bal_res); free(frac);
        if (err != NULL && errlen > 0) snprintf(err, errlen, "out of memory allocating scratch for %" PRId64 " nodes", N);
        return KPACK_ENOMEM;
    }

    const view v = {N, R, alloc, req, nz};
    const int fit_filter_on = profile->fit_filter_on != 0;
    uint64_t rng = state->rng;
    int64_t start = state->start;

    for (int64_t p = 0; p < P; p++) {
        const int64_t c = pods->cls[p];
        out_node[p] = -1;
        if (classes->conflict[c]) continue; /* PreFilter rejected: no node visited, start unchanged */
        const int64_t *preq = pods->req + p * R;
        const int64_t *pnz = pods->nonzero + p * 2;
        /* Columns the fit filter checks for this pod (kernels.fit_failures: q > 0, check_col, not pods). */
        int any_req = 0;
        int64_t nactive = 0;
        for (int64_t r = 0; r < R; r++) {
            if (r == KPACK_COL_PODS) continue;
            if (preq[r] != 0) any_req = 1;
            if (check_col[r] && preq[r] > 0) active[nactive++] = r;
        }
        if (!any_req) nactive = 0;
        const int64_t clen = classes->cand_len[c];
        const int64_t ncand = clen < 0 ? N : clen;
        if (ncand == 0) continue;
        const int32_t *cand = clen < 0 ? NULL : classes->cand_flat + classes->cand_off[c];
        const int64_t to_find = kpack_num_feasible_nodes_to_find(ncand, profile->pct);
        const int8_t *code = classes->code + c * N;
        memset(tmp_fail, 0, (size_t)R * sizeof(int32_t));
        int64_t k = 0, processed = 0;
        int64_t j = start % ncand; /* (start + i) % ncand without overflow */
        for (int64_t i = 0; i < ncand; i++, j++) {
            if (j == ncand) j = 0;
            const int64_t n = clen < 0 ? j : (int64_t)cand[j];
            processed++;
            if (code[n] != 0) continue;
            if (fit_filter_on) {
                const int64_t *a = alloc + n * R;
                const int64_t *u = req + n * R;
                int failed = 0;
                if (u[KPACK_COL_PODS] + 1 > a[KPACK_COL_PODS]) {
                    tmp_fail[KPACK_COL_PODS]++;
                    failed = 1;
                }
                for (int64_t t = 0; t < nactive; t++) {
                    const int64_t r = active[t];
                    if (preq[r] > a[r] - u[r]) {
                        tmp_fail[r]++;
                        failed = 1;
                    }
                }
                if (failed) continue;
            }
            feasible[k++] = n;
            if (k == to_find) break;
        }
        start = (start % N + processed) % N;
        if (k == 0) {
            memcpy(fail_counts + p * R, tmp_fail, (size_t)R * sizeof(int32_t));
            continue;
        }
        int64_t chosen;
        if (k == 1) {
            chosen = feasible[0];
        } else {
            /* kernels.score_feasible */
            memset(totals, 0, (size_t)k * sizeof(int64_t));
            if (w[KPACK_P_FIT] > 0) {
                for (int64_t i = 0; i < nfit; i++)
                    prepare_res(&fit_res[i], profile->fit_col[i], profile->fit_kind[i], profile->fit_w[i], preq, pnz);
                for (int64_t i = 0; i < k; i++)
                    totals[i] += fit_score(&v, feasible[i], fit_res, nfit, profile) * w[KPACK_P_FIT];
            }
            if (w[KPACK_P_BALANCED] > 0) {
                int skip = 1; /* PreScore Skip when every configured real request is 0 */
                for (int64_t i = 0; i < nbal; i++) {
                    const int64_t col = profile->bal_col[i];
                    if (col >= 0 && profile->bal_kind[i] != KPACK_KIND_ABSENT && preq[col] != 0) skip = 0;
                }
                if (!skip) {
                    for (int64_t i = 0; i < nbal; i++)
                        prepare_res(&bal_res[i], profile->bal_col[i], profile->bal_kind[i], 0, preq, pnz);
                    for (int64_t i = 0; i < k; i++)
                        totals[i] += balanced_score(&v, feasible[i], bal_res, nbal, frac) * w[KPACK_P_BALANCED];
                }
            }
            const int64_t ar = classes->aff_row[c];
            if (w[KPACK_P_AFFINITY] > 0 && ar >= 0 && N > 0) {
                const int64_t *aff = classes->aff_rows + ar * N;
                int64_t mx = 0;
                for (int64_t i = 0; i < k; i++)
                    if (aff[feasible[i]] > mx) mx = aff[feasible[i]];
                for (int64_t i = 0; i < k; i++) {
                    int64_t s = aff[feasible[i]];
                    if (mx > 0) s = MAX_NODE_SCORE * s / mx;
                    totals[i] += s * w[KPACK_P_AFFINITY];
                }
            }
            if (w[KPACK_P_TAINT] > 0) {
                const int64_t *taint = classes->taint_rows + classes->taint_row[c] * N;
                int64_t mx = 0;
                for (int64_t i = 0; i < k; i++)
                    if (taint[feasible[i]] > mx) mx = taint[feasible[i]];
                for (int64_t i = 0; i < k; i++) {
                    int64_t s = MAX_NODE_SCORE;
                    if (mx > 0) s = MAX_NODE_SCORE - MAX_NODE_SCORE * taint[feasible[i]] / mx;
                    totals[i] += s * w[KPACK_P_TAINT];
                }
            }
            chosen = feasible[select_host(totals, k, &rng)];
        }
        out_node[p] = (int32_t)chosen;
        int64_t *u = req + chosen * R;
        for (int64_t r = 0; r < R; r++) u[r] += preq[r];
        nz[chosen * 2] += pnz[0];
        nz[chosen * 2 + 1] += pnz[1];
    }

    state->rng = rng;
    state->start = start;
    free(feasible); free(totals); free(tmp_fail); free(active); free(fit_res); free(bal_res); free(frac);
    return KPACK_OK;
}
