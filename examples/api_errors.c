/*
 * api_errors.c - every public entry point rejects bad arguments with its
 * documented error code, writes nothing when it does, and accepts the
 * degenerate-but-legal cases (no rows, empty rows with NULL input).
 *
 * Build and run:  make check
 * Exits 1 and names each failed expectation on stderr.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "softmax_c.h"

static int failures, checks;

#define EXPECT(call, want)                                                         \
    do {                                                                           \
        int got_ = (call);                                                         \
        checks++;                                                                  \
        if (got_ != (want)) {                                                      \
            fprintf(stderr, "line %d: %s returned %d, expected %s (%d)\n", __LINE__, \
                    #call, got_, #want, (want));                                   \
            failures++;                                                            \
        }                                                                          \
    } while (0)

#define EXPECT_TRUE(cond)                                                          \
    do {                                                                           \
        checks++;                                                                  \
        if (!(cond)) {                                                             \
            fprintf(stderr, "line %d: expected %s\n", __LINE__, #cond);            \
            failures++;                                                            \
        }                                                                          \
    } while (0)

/* Output buffers start as a sentinel; an error must leave them so. */
#define SENTINEL 12345.0
#define N 8

/* The row and batch entry points of one dtype, written once and
 * instantiated for float and double. */
#define DEFINE_ROW_AND_BATCH_CHECKS(DT, T)                                         \
    static int untouched_##DT(const T *y, int n)                                   \
    {                                                                              \
        for (int i = 0; i < n; i++)                                                \
            if (y[i] != (T)SENTINEL)                                               \
                return 0;                                                          \
        return 1;                                                                  \
    }                                                                              \
    static void row_and_batch_checks_##DT(void)                                    \
    {                                                                              \
        T x[N], y[N], r;                                                           \
        const int64_t s = sizeof(T), rs = N * sizeof(T);                           \
        for (int i = 0; i < N; i++) {                                              \
            x[i] = (T)i;                                                           \
            y[i] = (T)SENTINEL;                                                    \
        }                                                                          \
        r = (T)SENTINEL;                                                           \
        /* row entry points: NULL with n > 0, negative n */                        \
        EXPECT(smc_softmax_row_##DT(N, NULL, y), SMC_ERR_NULL);                     \
        EXPECT(smc_softmax_row_##DT(N, x, NULL), SMC_ERR_NULL);                     \
        EXPECT(smc_softmax_row_##DT(-1, x, y), SMC_ERR_SIZE);                       \
        EXPECT(smc_log_softmax_row_##DT(N, NULL, y), SMC_ERR_NULL);                 \
        EXPECT(smc_log_softmax_row_##DT(N, x, NULL), SMC_ERR_NULL);                 \
        EXPECT(smc_log_softmax_row_##DT(-1, x, y), SMC_ERR_SIZE);                   \
        EXPECT(smc_logsumexp_row_##DT(N, NULL, &r), SMC_ERR_NULL);                  \
        EXPECT(smc_logsumexp_row_##DT(N, x, NULL), SMC_ERR_NULL);                   \
        EXPECT(smc_logsumexp_row_##DT(0, x, NULL), SMC_ERR_NULL);                   \
        EXPECT(smc_logsumexp_row_##DT(-1, x, &r), SMC_ERR_SIZE);                    \
        EXPECT(smc_exp_##DT(N, NULL, y), SMC_ERR_NULL);                             \
        EXPECT(smc_exp_##DT(N, x, NULL), SMC_ERR_NULL);                             \
        EXPECT(smc_exp_##DT(-1, x, y), SMC_ERR_SIZE);                               \
        /* batch entry points */                                                   \
        EXPECT(smc_softmax_##DT(1, N, NULL, rs, s, y, rs, s, 1.0, 0), SMC_ERR_NULL); \
        EXPECT(smc_softmax_##DT(1, N, x, rs, s, NULL, rs, s, 1.0, 0), SMC_ERR_NULL); \
        EXPECT(smc_softmax_##DT(-1, N, x, rs, s, y, rs, s, 1.0, 0), SMC_ERR_SIZE);  \
        EXPECT(smc_softmax_##DT(1, -1, x, rs, s, y, rs, s, 1.0, 0), SMC_ERR_SIZE);  \
        EXPECT(smc_softmax_##DT(INT64_MAX, 2, x, rs, s, y, rs, s, 1.0, 0), SMC_ERR_SIZE); \
        EXPECT(smc_softmax_##DT(1, N, x, rs, s, y, rs, s, 0.0, 0), SMC_ERR_VALUE);  \
        EXPECT(smc_softmax_##DT(1, N, x, rs, s, y, rs, s, -1.0, 0), SMC_ERR_VALUE); \
        EXPECT(smc_softmax_##DT(1, N, x, rs, s, y, rs, s, NAN, 0), SMC_ERR_VALUE);  \
        EXPECT(smc_softmax_##DT(1, N, x, rs, s, y, rs, s, INFINITY, 0), SMC_ERR_VALUE); \
        EXPECT(smc_softmax_##DT(1, N, x, rs, s, y, rs, s, 1.0, -1), SMC_ERR_VALUE); \
        EXPECT(smc_log_softmax_##DT(1, N, NULL, rs, s, y, rs, s, 1.0, 0), SMC_ERR_NULL); \
        EXPECT(smc_log_softmax_##DT(1, N, x, rs, s, NULL, rs, s, 1.0, 0), SMC_ERR_NULL); \
        EXPECT(smc_log_softmax_##DT(-1, N, x, rs, s, y, rs, s, 1.0, 0), SMC_ERR_SIZE); \
        EXPECT(smc_log_softmax_##DT(1, -1, x, rs, s, y, rs, s, 1.0, 0), SMC_ERR_SIZE); \
        EXPECT(smc_log_softmax_##DT(1, N, x, rs, s, y, rs, s, 0.0, 0), SMC_ERR_VALUE); \
        EXPECT(smc_log_softmax_##DT(1, N, x, rs, s, y, rs, s, 1.0, -1), SMC_ERR_VALUE); \
        EXPECT(smc_logsumexp_##DT(1, N, NULL, rs, s, y, s, 0), SMC_ERR_NULL);       \
        EXPECT(smc_logsumexp_##DT(1, N, x, rs, s, NULL, s, 0), SMC_ERR_NULL);       \
        EXPECT(smc_logsumexp_##DT(1, 0, x, rs, s, NULL, s, 0), SMC_ERR_NULL);       \
        EXPECT(smc_logsumexp_##DT(-1, N, x, rs, s, y, s, 0), SMC_ERR_SIZE);         \
        EXPECT(smc_logsumexp_##DT(1, -1, x, rs, s, y, s, 0), SMC_ERR_SIZE);         \
        EXPECT(smc_logsumexp_##DT(INT64_MAX, 2, x, rs, s, y, s, 0), SMC_ERR_SIZE);  \
        EXPECT(smc_logsumexp_##DT(1, N, x, rs, s, y, s, -1), SMC_ERR_VALUE);        \
        EXPECT_TRUE(untouched_##DT(y, N) && r == (T)SENTINEL);                     \
        /* legal degenerate calls: nothing to read or write */                     \
        EXPECT(smc_softmax_row_##DT(0, NULL, NULL), SMC_OK);                        \
        EXPECT(smc_log_softmax_row_##DT(0, NULL, NULL), SMC_OK);                    \
        EXPECT(smc_exp_##DT(0, NULL, NULL), SMC_OK);                                \
        EXPECT(smc_softmax_##DT(0, N, NULL, rs, s, NULL, rs, s, 1.0, 0), SMC_OK);   \
        EXPECT(smc_softmax_##DT(3, 0, NULL, rs, s, NULL, rs, s, 1.0, 0), SMC_OK);   \
        EXPECT(smc_log_softmax_##DT(0, N, NULL, rs, s, NULL, rs, s, 1.0, 0), SMC_OK); \
        EXPECT(smc_logsumexp_##DT(0, N, NULL, rs, s, NULL, s, 0), SMC_OK);          \
        /* an empty row has logsumexp -inf, and x may then be NULL */               \
        EXPECT(smc_logsumexp_row_##DT(0, NULL, &r), SMC_OK);                        \
        EXPECT_TRUE(r == -(T)INFINITY);                                            \
        EXPECT(smc_logsumexp_##DT(2, 0, NULL, rs, s, y, s, 0), SMC_OK);             \
        EXPECT_TRUE(y[0] == -(T)INFINITY && y[1] == -(T)INFINITY && y[2] == (T)SENTINEL); \
    }

DEFINE_ROW_AND_BATCH_CHECKS(f32, float)
DEFINE_ROW_AND_BATCH_CHECKS(f64, double)

/* The nd entry points, through the double versions (the checks are shared
 * by both dtypes in the library: one driver function). */
static void nd_checks(void)
{
    double x[N], y[N], b[N], sign[N];
    for (int i = 0; i < N; i++) {
        x[i] = i;
        b[i] = 1.0;
        y[i] = sign[i] = SENTINEL;
    }
    smc_grid g;
    memset(&g, 0, sizeof g);
    g.n = N;
    g.ndim = 1;
    g.shape[0] = 1;
    smc_array ax, ay, ab, as, anull;
    memset(&ax, 0, sizeof ax);
    ax.data = x;
    ax.step = sizeof(double);
    ay = ax;
    ay.data = y;
    ab = ax;
    ab.data = b;
    as = ax;
    as.data = sign;
    anull = ax;
    anull.data = NULL;

    /* NULL structs and NULL data */
    EXPECT(smc_softmax_nd_f64(NULL, &ax, &ay, 1.0, 0), SMC_ERR_NULL);
    EXPECT(smc_softmax_nd_f64(&g, NULL, &ay, 1.0, 0), SMC_ERR_NULL);
    EXPECT(smc_softmax_nd_f64(&g, &ax, NULL, 1.0, 0), SMC_ERR_NULL);
    EXPECT(smc_softmax_nd_f64(&g, &anull, &ay, 1.0, 0), SMC_ERR_NULL);
    EXPECT(smc_softmax_nd_f32(&g, &ax, &anull, 1.0, 0), SMC_ERR_NULL);
    EXPECT(smc_log_softmax_nd_f64(&g, &anull, &ay, 1.0, 0), SMC_ERR_NULL);
    EXPECT(smc_log_softmax_nd_f32(NULL, &ax, &ay, 1.0, 0), SMC_ERR_NULL);
    EXPECT(smc_logsumexp_nd_f64(&g, &ax, &anull, 0), SMC_ERR_NULL);
    EXPECT(smc_logsumexp_nd_f32(&g, NULL, &ay, 0), SMC_ERR_NULL);
    EXPECT(smc_logsumexp_weighted_nd_f64(NULL, &ax, &ab, &ay, NULL, 0), SMC_ERR_NULL);
    EXPECT(smc_logsumexp_weighted_nd_f64(&g, &ax, NULL, &ay, NULL, 0), SMC_ERR_NULL);
    EXPECT(smc_logsumexp_weighted_nd_f64(&g, &ax, &anull, &ay, NULL, 0), SMC_ERR_NULL);
    EXPECT(smc_logsumexp_weighted_nd_f32(&g, &anull, &ab, &ay, NULL, 0), SMC_ERR_NULL);
    EXPECT(smc_logsumexp_weighted_nd_f32(&g, &ax, &ab, &anull, NULL, 0), SMC_ERR_NULL);

    /* bad sizes: negative n, negative extent, ndim outside 0..SMC_MAX_DIMS,
     * a row count times n above INT64_MAX */
    smc_grid bad = g;
    bad.n = -1;
    EXPECT(smc_softmax_nd_f64(&bad, &ax, &ay, 1.0, 0), SMC_ERR_SIZE);
    EXPECT(smc_logsumexp_weighted_nd_f64(&bad, &ax, &ab, &ay, &as, 0), SMC_ERR_SIZE);
    bad = g;
    bad.shape[0] = -2;
    EXPECT(smc_log_softmax_nd_f64(&bad, &ax, &ay, 1.0, 0), SMC_ERR_SIZE);
    EXPECT(smc_logsumexp_weighted_nd_f32(&bad, &ax, &ab, &ay, &as, 0), SMC_ERR_SIZE);
    bad = g;
    bad.ndim = -1;
    EXPECT(smc_logsumexp_nd_f64(&bad, &ax, &ay, 0), SMC_ERR_SIZE);
    bad.ndim = SMC_MAX_DIMS + 1;
    EXPECT(smc_logsumexp_nd_f32(&bad, &ax, &ay, 0), SMC_ERR_SIZE);
    EXPECT(smc_logsumexp_weighted_nd_f64(&bad, &ax, &ab, &ay, &as, 0), SMC_ERR_SIZE);
    bad = g;
    bad.ndim = 2;
    bad.shape[0] = INT64_MAX / 2;
    bad.shape[1] = 3;
    EXPECT(smc_softmax_nd_f32(&bad, &ax, &ay, 1.0, 0), SMC_ERR_SIZE);
    EXPECT(smc_logsumexp_weighted_nd_f64(&bad, &ax, &ab, &ay, &as, 0), SMC_ERR_SIZE);

    /* bad values */
    EXPECT(smc_softmax_nd_f64(&g, &ax, &ay, -INFINITY, 0), SMC_ERR_VALUE);
    EXPECT(smc_log_softmax_nd_f64(&g, &ax, &ay, 1.0, -3), SMC_ERR_VALUE);
    EXPECT(smc_logsumexp_nd_f64(&g, &ax, &ay, -1), SMC_ERR_VALUE);
    EXPECT(smc_logsumexp_weighted_nd_f64(&g, &ax, &ab, &ay, &as, -1), SMC_ERR_VALUE);
    EXPECT_TRUE(untouched_f64(y, N) && untouched_f64(sign, N));

    /* legal: zero rows need no data; the sign output is optional */
    smc_grid none = g;
    none.shape[0] = 0;
    EXPECT(smc_softmax_nd_f64(&none, &anull, &anull, 1.0, 0), SMC_OK);
    EXPECT(smc_logsumexp_weighted_nd_f64(&none, &anull, &anull, &anull, NULL, 0), SMC_OK);
    EXPECT(smc_logsumexp_weighted_nd_f64(&g, &ax, &ab, &ay, NULL, 0), SMC_OK);
    EXPECT_TRUE(fabs(y[0] - (7.0 + log1p(exp(-1.0) * (1 - exp(-7.0)) / (1 - exp(-1.0))))) < 1e-14);
}

static void runtime_checks(void)
{
    const char *isa = smc_active_isa();
    EXPECT_TRUE(isa != NULL && smc_isa_available(isa) == 1);
    EXPECT_TRUE(smc_isa_available("baseline") == 1);
    EXPECT_TRUE(smc_isa_available(NULL) == 0);
    EXPECT_TRUE(smc_isa_available("sse9") == 0);
    EXPECT(smc_set_isa(NULL), SMC_ERR_VALUE);
    EXPECT(smc_set_isa("sse9"), SMC_ERR_VALUE);
    EXPECT(smc_set_isa(""), SMC_ERR_VALUE);
    EXPECT_TRUE(strcmp(smc_active_isa(), isa) == 0);   /* failed switch changes nothing */
    EXPECT(smc_set_isa("baseline"), SMC_OK);
    EXPECT_TRUE(strcmp(smc_active_isa(), "baseline") == 0);
    EXPECT(smc_set_isa(isa), SMC_OK);

    int threads = smc_get_num_threads();
    EXPECT_TRUE(threads >= 1);
    EXPECT(smc_set_num_threads(0), SMC_ERR_VALUE);
    EXPECT(smc_set_num_threads(-5), SMC_ERR_VALUE);
    EXPECT_TRUE(smc_get_num_threads() == threads);
    EXPECT(smc_set_num_threads(3), SMC_OK);
    EXPECT_TRUE(smc_get_num_threads() == 3);
    EXPECT(smc_set_num_threads(threads), SMC_OK);
}

int main(void)
{
    row_and_batch_checks_f32();
    row_and_batch_checks_f64();
    nd_checks();
    runtime_checks();
    if (failures) {
        printf("api_errors: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("api_errors: all %d checks passed\n", checks);
    return 0;
}
