/*
 * Weighted logsumexp, log|sum(b * exp(x))| with the sign of the sum, as
 * scipy.special.logsumexp(x, b=b, return_sign=...) defines it: terms with
 * b == 0 are dropped (even where x is inf or NaN).  Rarely hot, so this is
 * plain scalar C in double (libm exp), compiled once, threaded over rows.
 */
#include "internal.h"

typedef struct {
    int dt;
    smc_grid g;
    smc_array x, b, y, sign;
} weighted_job;

static double load_as_double(int dt, const char *p)
{
    if (dt == SMC_F32) {
        float v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    double v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void store_from_double(int dt, char *p, double v)
{
    if (dt == SMC_F32) {
        float f = (float)v;
        memcpy(p, &f, sizeof f);
    } else {
        memcpy(p, &v, sizeof v);
    }
}

static int64_t offset_of(const smc_grid *g, const smc_array *a, int64_t row)
{
    int64_t off = 0;
    for (int d = g->ndim - 1; d >= 0; d--) {
        off += row % g->shape[d] * a->strides[d];
        row /= g->shape[d];
    }
    return off;
}

/* Neumaier-compensated running sum. */
typedef struct {
    double s, comp;
} comp_sum;

static void comp_sum_add(comp_sum *a, double term)
{
    double t = a->s + term;
    if (isfinite(t))        /* an overflowed sum has no rounding error to keep */
        a->comp += fabs(a->s) >= fabs(term) ? (a->s - t) + term : (term - t) + a->s;
    a->s = t;
}

/* ln 2 in two parts; k * SMC_LN2_HI is exact for |k| < 2^21. */
#define SMC_LN2_HI 0x1.62e42fee00000p-1
#define SMC_LN2_LO 0x1.a39ef35793c76p-33

/* log|sum(b * exp(x))| and its sign for a row whose largest x is finite and
 * whose weights are all finite.  Each term is scaled by the row's dominant
 * term (the largest x + log|b|) rather than by exp(max x): with weights of
 * very different sizes, b * exp(x - max x) of the dominant term can
 * underflow to 0 (b = 1e300, x 800 below the max) or lose its bits as a
 * subnormal (b = 5e-324).  |b| = f * 2^e (frexp, exact), so the shift is
 * exp(x_d) * 2^e_d and only f * exp(small) is rounded per term. */
static void dominant_shift_sum(const weighted_job *j, const char *x, const char *b,
                               double *value, double *sign)
{
    /* the dominant term, compared by the same difference the sum uses
     * (x + e*ln2 itself would lose e next to a huge x) */
    double xd = 0.0;
    int ed = 0, found = 0;
    for (int64_t i = 0; i < j->g.n; i++) {
        double bi = load_as_double(j->dt, b + i * j->b.step);
        double xi = load_as_double(j->dt, x + i * j->x.step);
        if (bi == 0.0 || !(xi > -INFINITY))
            continue;
        int e;
        frexp(bi, &e);
        int k = e - ed;
        if (!found || ((xi - xd) + k * SMC_LN2_HI) + k * SMC_LN2_LO > 0.0) {
            found = 1;
            xd = xi;
            ed = e;
        }
    }
    comp_sum sum = { 0.0, 0.0 };
    for (int64_t i = 0; i < j->g.n; i++) {
        double bi = load_as_double(j->dt, b + i * j->b.step);
        double xi = load_as_double(j->dt, x + i * j->x.step);
        if (bi == 0.0 || !(xi > -INFINITY))
            continue;
        int e;
        double f = frexp(bi, &e);                 /* signed, 0.5 <= |f| < 1 */
        int k = e - ed;
        double d = ((xi - xd) + k * SMC_LN2_HI) + k * SMC_LN2_LO;
        comp_sum_add(&sum, f * exp(d));
    }
    double s = sum.s + sum.comp;
    *value = (xd + ed * SMC_LN2_HI) + (ed * SMC_LN2_LO + log(fabs(s)));
    *sign = s > 0 ? 1.0 : s < 0 ? -1.0 : 0.0;
}

static void weighted_row(void *ctx, int64_t row)
{
    const weighted_job *j = ctx;
    const char *x = (const char *)j->x.data + offset_of(&j->g, &j->x, row);
    const char *b = (const char *)j->b.data + offset_of(&j->g, &j->b, row);
    double m = -INFINITY;
    int nan = 0, b_finite = 1;
    for (int64_t i = 0; i < j->g.n; i++) {
        double bi = load_as_double(j->dt, b + i * j->b.step);
        double xi = load_as_double(j->dt, x + i * j->x.step);
        if (bi == 0.0)
            continue;
        if (xi != xi || bi != bi)
            nan = 1;
        else if (xi > m)
            m = xi;
        if (isinf(bi))
            b_finite = 0;
    }
    double value, sign;
    if (!nan && b_finite && m > -INFINITY && m < INFINITY) {
        dominant_shift_sum(j, x, b, &value, &sign);
    } else {
        /* special rows: b * exp(x - m), with exp(inf - inf) taken as 1 so
         * that a row whose largest term is +inf sums its weights */
        comp_sum sum = { 0.0, 0.0 };
        if (m > -INFINITY) {
            for (int64_t i = 0; i < j->g.n; i++) {
                double bi = load_as_double(j->dt, b + i * j->b.step);
                double xi = load_as_double(j->dt, x + i * j->x.step);
                if (bi == 0.0 || xi != xi)
                    continue;
                comp_sum_add(&sum, bi * (xi == m ? 1.0 : exp(xi - m)));
            }
        }
        double s = sum.s + sum.comp;
        value = m + log(fabs(s));               /* s == 0 -> -inf (NaN if m == +inf) */
        sign = s > 0 ? 1.0 : s < 0 ? -1.0 : 0.0;
    }
    if (nan || value != value) {
        value = NAN;
        sign = NAN;
    }
    if (!j->sign.data && sign < 0)
        value = NAN;                             /* log of a negative sum */
    int64_t yoff = offset_of(&j->g, &j->y, row);
    store_from_double(j->dt, (char *)j->y.data + yoff, value);
    if (j->sign.data)
        store_from_double(j->dt, (char *)j->sign.data + offset_of(&j->g, &j->sign, row), sign);
}

static int run_weighted(int dt, const smc_grid *g, const smc_array *x, const smc_array *b,
                        const smc_array *y, const smc_array *sign, int threads)
{
    if (!g || !x || !b || !y)
        return SMC_ERR_NULL;
    if (g->n < 0 || g->ndim < 0 || g->ndim > SMC_MAX_DIMS || threads < 0)
        return g->n < 0 || g->ndim < 0 || g->ndim > SMC_MAX_DIMS ? SMC_ERR_SIZE : SMC_ERR_VALUE;
    /* rows = product of the shape, refusing sizes that overflow int64 */
    int64_t rows = 1;
    for (int d = 0; d < g->ndim; d++) {
        if (g->shape[d] < 0)
            return SMC_ERR_SIZE;
        if (g->shape[d] == 0)
            rows = 0;
        else if (rows > INT64_MAX / g->shape[d])
            return SMC_ERR_SIZE;
        else
            rows *= g->shape[d];
    }
    if (g->n > 0 && rows > INT64_MAX / g->n)
        return SMC_ERR_SIZE;
    if (rows == 0)
        return SMC_OK;
    if (!y->data || (g->n > 0 && (!x->data || !b->data)))
        return SMC_ERR_NULL;
    weighted_job j;
    j.dt = dt;
    j.g = *g;
    j.x = *x;
    j.b = *b;
    j.y = *y;
    if (sign)
        j.sign = *sign;
    else
        memset(&j.sign, 0, sizeof j.sign);
    int64_t n = g->n > 0 ? g->n : 1;
    int64_t work = rows * n;            /* scalar libm exp: ~8x the vector cost */
    work = work > INT64_MAX / 8 ? INT64_MAX : work * 8;
    smc_parallel_for(rows, smc_choose_threads(work, threads), weighted_row, &j);
    return SMC_OK;
}

int smc_logsumexp_weighted_nd_f32(const smc_grid *g, const smc_array *x, const smc_array *b,
                                  const smc_array *y, const smc_array *sign, int threads)
{
    return run_weighted(SMC_F32, g, x, b, y, sign, threads);
}

int smc_logsumexp_weighted_nd_f64(const smc_grid *g, const smc_array *x, const smc_array *b,
                                  const smc_array *y, const smc_array *sign, int threads)
{
    return run_weighted(SMC_F64, g, x, b, y, sign, threads);
}
