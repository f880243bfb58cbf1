/*
 * softmax_example.c - use softmax_c from a C program.
 *
 * Computes softmax, log_softmax and logsumexp through the library's row and
 * batch entry points, for float32 and float64, and checks every result
 * against a plain double-precision loop.  The checks run with the variant
 * the library picked for this CPU, then with every other variant this CPU
 * can run.  Prints the active ISA; exits 1 on any mismatch or error code.
 *
 * Build and run:  make check   (or see the Makefile's example rules)
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "softmax_c.h"

#define ROWS 96
#define COLS 1500          /* rows * cols > 65536: automatic calls use threads */

static int failures;

/* ---- reference: plain double-precision loops --------------------------- */

/* Row maximum and a compensated sum of exp(x - max), in double. */
static void ref_stats(int64_t n, const double *x, int64_t step, double *max, double *sum)
{
    double m = -INFINITY, s = 0.0, c = 0.0;
    for (int64_t i = 0; i < n; i++)
        m = x[i * step] > m ? x[i * step] : m;
    for (int64_t i = 0; i < n; i++) {
        double t = exp(x[i * step] - m), u = s + t;
        c += fabs(s) >= fabs(t) ? (s - u) + t : (t - u) + s;
        s = u;
    }
    *max = m;
    *sum = s + c;
}

/* ---- comparison -------------------------------------------------------- */

/* Output type: its epsilon and its smallest subnormal (the ulp of results
 * that underflow into the subnormal range). */
typedef struct { double eps, tiny; } precision;
static const precision F32 = { FLT_EPSILON, FLT_TRUE_MIN };
static const precision F64 = { DBL_EPSILON, DBL_TRUE_MIN };

/* Error bound of an output in ulps of its type, relative to `scale`.  The
 * kernels' exp is within ~2 ulp; rounding x - max (a few more ulp of
 * |x - max|) is amplified by exp, so callers grow `scale` with |x - max|;
 * the compensated double reference adds well under 1 ulp of either type. */
#define ULPS 8.0

static void check(const char *what, int64_t i, double got, double want, double scale,
                  precision p)
{
    double err = fabs(got - want), bound = ULPS * (p.eps * scale + p.tiny);
    if (!(err <= bound)) {                   /* also catches NaN */
        if (failures < 10)
            fprintf(stderr, "MISMATCH %s [%lld]: got %.17g, want %.17g (err %.3g, bound %.3g)\n",
                    what, (long long)i, got, want, err, bound);
        failures++;
    }
}

static void check_rc(const char *what, int rc)
{
    if (rc != SMC_OK) {
        fprintf(stderr, "ERROR %s returned %d\n", what, rc);
        failures++;
    }
}

/* Softmax / log_softmax / logsumexp outputs of one row against the
 * reference.  `got_*` are read through `get`, so both dtypes share it. */
typedef double (*getter)(const void *base, int64_t i);
static double get_f32(const void *p, int64_t i) { return ((const float *)p)[i]; }
static double get_f64(const void *p, int64_t i) { return ((const double *)p)[i]; }

static void check_row(const char *tag, int64_t n, const double *x, int64_t xstep,
                      const void *sm, const void *lsm, int64_t ystep, const void *lse,
                      getter get, precision p)
{
    char what[96];
    double m, s;
    ref_stats(n, x, xstep, &m, &s);
    double log_s = log(s);
    for (int64_t i = 0; i < n; i++) {
        double d = x[i * xstep] - m;                   /* <= 0 */
        if (sm) {
            snprintf(what, sizeof what, "%s softmax", tag);
            double want = exp(d) / s;
            check(what, i, get(sm, i * ystep), want, want * (1.0 - d), p);
        }
        if (lsm) {
            snprintf(what, sizeof what, "%s log_softmax", tag);
            check(what, i, get(lsm, i * ystep), d - log_s, 1.0 - d + log_s, p);
        }
    }
    if (lse) {
        snprintf(what, sizeof what, "%s logsumexp", tag);
        check(what, 0, get(lse, 0), m + log_s, 1.0 + fabs(m) + log_s, p);
    }
}

/* ---- the example ------------------------------------------------------- */

/* Deterministic inputs of mixed magnitudes (no rand(): same on every libc). */
static void fill(double *x, int64_t count)
{
    uint64_t state = 0x9e3779b97f4a7c15u;
    for (int64_t i = 0; i < count; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        double u = (double)(state >> 11) / 9007199254740992.0;  /* [0, 1) */
        x[i] = (u - 0.5) * (i % 7 == 0 ? 60.0 : 8.0) + (i % 3 == 0 ? 40.0 : 0.0);
    }
}

/* One contiguous row of each dtype through the row entry points. */
static void row_examples(const double *xd)
{
    enum { N = 1000 };
    static float xf[N], yf[N], lyf[N];
    static double yd[N], lyd[N];
    float lsef;
    double lsed;
    for (int i = 0; i < N; i++)
        xf[i] = (float)xd[i];
    double xf_as_double[N];
    for (int i = 0; i < N; i++)
        xf_as_double[i] = xf[i];

    check_rc("smc_softmax_row_f32", smc_softmax_row_f32(N, xf, yf));
    check_rc("smc_log_softmax_row_f32", smc_log_softmax_row_f32(N, xf, lyf));
    check_rc("smc_logsumexp_row_f32", smc_logsumexp_row_f32(N, xf, &lsef));
    check_row("row f32", N, xf_as_double, 1, yf, lyf, 1, &lsef, get_f32, F32);

    check_rc("smc_softmax_row_f64", smc_softmax_row_f64(N, xd, yd));
    check_rc("smc_log_softmax_row_f64", smc_log_softmax_row_f64(N, xd, lyd));
    check_rc("smc_logsumexp_row_f64", smc_logsumexp_row_f64(N, xd, &lsed));
    check_row("row f64", N, xd, 1, yd, lyd, 1, &lsed, get_f64, F64);
}

/* A ROWS x COLS row-major matrix, reduced along each row (contiguous rows)
 * and along each column (element stride = one row), with threads = 0. */
static void batch_examples_f64(const double *x)
{
    size_t bytes = sizeof(double) * ROWS * COLS;
    double *y = malloc(bytes), *ly = malloc(bytes), *lse = malloc(sizeof(double) * COLS);
    if (!y || !ly || !lse) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    const int64_t es = sizeof(double), rs = COLS * sizeof(double);
    /* along rows: row r starts r * rs bytes in, elements es apart */
    check_rc("smc_softmax_f64", smc_softmax_f64(ROWS, COLS, x, rs, es, y, rs, es, 1.0, 0));
    check_rc("smc_log_softmax_f64", smc_log_softmax_f64(ROWS, COLS, x, rs, es, ly, rs, es, 1.0, 0));
    check_rc("smc_logsumexp_f64", smc_logsumexp_f64(ROWS, COLS, x, rs, es, lse, es, 0));
    for (int r = 0; r < ROWS; r++)
        check_row("batch f64 rows", COLS, x + r * COLS, 1, y + r * COLS, ly + r * COLS, 1,
                  lse + r, get_f64, F64);
    /* along columns: column c starts c * es bytes in, elements rs apart */
    check_rc("smc_softmax_f64 cols", smc_softmax_f64(COLS, ROWS, x, es, rs, y, es, rs, 1.0, 0));
    check_rc("smc_log_softmax_f64 cols",
             smc_log_softmax_f64(COLS, ROWS, x, es, rs, ly, es, rs, 1.0, 0));
    check_rc("smc_logsumexp_f64 cols", smc_logsumexp_f64(COLS, ROWS, x, es, rs, lse, es, 0));
    for (int c = 0; c < COLS; c++)
        check_row("batch f64 cols", ROWS, x + c, COLS, y + c, ly + c, COLS, lse + c, get_f64,
                  F64);
    free(y);
    free(ly);
    free(lse);
}

/* The same for float32, with the reference on the float inputs widened. */
static void batch_examples_f32(const double *xd)
{
    size_t count = (size_t)ROWS * COLS;
    float *x = malloc(count * sizeof(float)), *y = malloc(count * sizeof(float));
    float *ly = malloc(count * sizeof(float)), *lse = malloc(COLS * sizeof(float));
    double *xw = malloc(count * sizeof(double));
    if (!x || !y || !ly || !lse || !xw) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < count; i++) {
        x[i] = (float)xd[i];
        xw[i] = x[i];
    }
    const int64_t es = sizeof(float), rs = COLS * sizeof(float);
    check_rc("smc_softmax_f32", smc_softmax_f32(ROWS, COLS, x, rs, es, y, rs, es, 1.0, 0));
    check_rc("smc_log_softmax_f32", smc_log_softmax_f32(ROWS, COLS, x, rs, es, ly, rs, es, 1.0, 0));
    check_rc("smc_logsumexp_f32", smc_logsumexp_f32(ROWS, COLS, x, rs, es, lse, es, 0));
    for (int r = 0; r < ROWS; r++)
        check_row("batch f32 rows", COLS, xw + r * COLS, 1, y + r * COLS, ly + r * COLS, 1,
                  lse + r, get_f32, F32);
    check_rc("smc_softmax_f32 cols", smc_softmax_f32(COLS, ROWS, x, es, rs, y, es, rs, 1.0, 0));
    check_rc("smc_log_softmax_f32 cols",
             smc_log_softmax_f32(COLS, ROWS, x, es, rs, ly, es, rs, 1.0, 0));
    check_rc("smc_logsumexp_f32 cols", smc_logsumexp_f32(COLS, ROWS, x, es, rs, lse, es, 0));
    for (int c = 0; c < COLS; c++)
        check_row("batch f32 cols", ROWS, xw + c, COLS, y + c, ly + c, COLS, lse + c, get_f32,
                  F32);
    free(x);
    free(y);
    free(ly);
    free(lse);
    free(xw);
}

static void run_all(const double *x)
{
    row_examples(x);
    batch_examples_f64(x);
    batch_examples_f32(x);
}

int main(void)
{
    double *x = malloc(sizeof(double) * ROWS * COLS);
    if (!x)
        return 2;
    fill(x, (int64_t)ROWS * COLS);

    const char *chosen = smc_active_isa();
    printf("softmax_c %s, active ISA: %s\n", SOFTMAX_C_VERSION, chosen);
    run_all(x);

    /* Every other variant this CPU can run must agree with the reference too. */
    static const char *const variants[] = { "baseline", "avx2", "avx512" };
    printf("variants checked: %s", chosen);
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        if (strcmp(variants[v], chosen) == 0 || !smc_isa_available(variants[v]))
            continue;
        check_rc("smc_set_isa", smc_set_isa(variants[v]));
        run_all(x);
        printf(" %s", variants[v]);
    }
    printf("\n");
    check_rc("smc_set_isa back", smc_set_isa(chosen));
    free(x);

    if (failures) {
        printf("FAILED: %d mismatches\n", failures);
        return 1;
    }
    printf("OK: softmax, log_softmax and logsumexp match the double-precision reference\n");
    return 0;
}
