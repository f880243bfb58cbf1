/*
 * libFuzzer harness for the softmax_c C API (issue 6).
 *
 * Each input is decoded into one call of an nd entry point (softmax,
 * log_softmax, logsumexp, weighted logsumexp; float32 or float64; any
 * kernel variant this CPU runs; 0-2 threads) on a random grid: up to three
 * outer dimensions, a row length, and for every operand a byte step and
 * byte strides that may be zero, negative, or not a multiple of the item
 * size.  Every operand lives in a heap block of exactly the bytes it spans,
 * so AddressSanitizer reports any read or write outside it; the output
 * block's unused bytes hold a sentinel that must survive.  Rows whose
 * inputs are all finite are checked against a long double reference.
 * Some inputs instead break one argument (NULL data with work to do,
 * negative sizes, too many dimensions, a bad temperature or thread count)
 * and the call must return the matching SMC_ERR_* code and write nothing.
 *
 * Build and run: fuzz/run.sh [seconds].
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "softmax_c.h"

#define MAX_OUTER 3
#define SENTINEL 0xA5

/* ---- reading the fuzz input ------------------------------------------------
 * A missing byte reads as 0, and 0 always picks the common case: rare
 * choices (long rows, broken arguments, aliasing) need a specific value. */

typedef struct {
    const uint8_t *p;
    size_t left;
} reader;

static unsigned take(reader *r, unsigned bound)  /* a value in [0, bound) */
{
    unsigned v = 0;
    if (r->left) {
        v = *r->p++;
        r->left--;
    }
    return bound ? v % bound : 0;
}

static unsigned take16(reader *r, unsigned bound)
{
    unsigned lo = take(r, 256), hi = take(r, 256);
    return bound ? (lo | hi << 8) % bound : 0;
}

/* ---- operand layouts ---------------------------------------------------------- */

typedef struct {
    int64_t step;                 /* bytes between row elements */
    int64_t strides[MAX_OUTER];   /* bytes per outer index */
    int64_t lo, hi;               /* byte span [lo, hi) relative to element 0 */
    uint8_t *block;               /* exactly hi - lo bytes */
    char *base;                   /* address of element (0, ..., 0) */
} operand;

typedef struct {
    int ndim;
    int64_t shape[MAX_OUTER];
    int64_t n;
} problem_shape;

static void span(operand *o, const problem_shape *s, int64_t itemsize, int has_row)
{
    int64_t lo = 0, hi = 0;
    int empty = has_row && s->n == 0;
    for (int d = 0; d < s->ndim; d++)
        empty |= s->shape[d] == 0;
    if (!empty) {
        if (has_row) {
            int64_t ext = (s->n - 1) * o->step;
            lo += ext < 0 ? ext : 0;
            hi += ext > 0 ? ext : 0;
        }
        for (int d = 0; d < s->ndim; d++) {
            int64_t ext = (s->shape[d] - 1) * o->strides[d];
            lo += ext < 0 ? ext : 0;
            hi += ext > 0 ? ext : 0;
        }
        hi += itemsize;
    }
    o->lo = lo;
    o->hi = hi;
}

/* An input layout: any steps, including 0, negative and unaligned ones. */
static void input_layout(reader *r, operand *o, const problem_shape *s, int64_t itemsize)
{
    static const int64_t mult[] = { 1, 1, 1, 2, -1, 0, 3, -2 };
    int odd = take(r, 4) == 3;               /* strides off the item grid */
    o->step = mult[take(r, 8)] * itemsize + (odd ? (int64_t)take(r, 3) + 1 : 0);
    int64_t dense = s->n * (o->step < 0 ? -o->step : o->step);
    if (dense < itemsize)
        dense = itemsize;
    for (int d = s->ndim - 1; d >= 0; d--) {
        static const int64_t times[] = { 1, 2, 0, -1, 3 };  /* x the dense size */
        int64_t k = times[take(r, 5)];
        o->strides[d] = k * dense + (odd ? (int64_t)take(r, 3) : 0);
        dense *= s->shape[d] ? s->shape[d] : 1;
        if (dense > (1 << 14))                 /* keep blocks small: fast runs */
            dense = 1 << 14;
    }
    span(o, s, itemsize, 1);
}

/* An output layout: elements never overlap each other (the results of
 * different rows must all survive), but the order, direction and gaps
 * are random; unit and non-unit steps, and misalignment. */
static void output_layout(reader *r, operand *o, const problem_shape *s, int64_t itemsize,
                          int has_row)
{
    int64_t unit = itemsize + (take(r, 4) == 3 ? (int64_t)take(r, 3) : 0);
    int64_t stride = unit;
    /* lay out dims innermost-first in a random order: row first or last */
    int row_inner = !has_row || take(r, 2) == 0;
    if (has_row && row_inner) {
        o->step = take(r, 3) == 2 ? -stride : stride;
        stride *= s->n ? s->n : 1;
        stride += take(r, 3) * itemsize;         /* a gap after each row */
    }
    for (int d = s->ndim - 1; d >= 0; d--) {
        o->strides[d] = take(r, 3) == 2 ? -stride : stride;
        stride *= s->shape[d] ? s->shape[d] : 1;
    }
    if (has_row && !row_inner)
        o->step = take(r, 3) == 2 ? -stride : stride;
    if (!has_row)
        o->step = 0;
    span(o, s, itemsize, has_row);
}

static int allocate(operand *o, int misalign)
{
    size_t bytes = (size_t)(o->hi - o->lo);
    /* exactly the span (ASan guards both ends); +misalign shifts the start */
    uint8_t *raw = malloc(bytes + (size_t)misalign + 1);
    if (!raw)
        return 0;
    o->block = raw;
    memset(raw, SENTINEL, bytes + (size_t)misalign + 1);
    o->base = (char *)raw + misalign - o->lo;
    return 1;
}

static uint8_t *block_start(const operand *o) { return (uint8_t *)(o->base + o->lo); }

/* ---- values ------------------------------------------------------------------- */

static double value_from(reader *r, int mode)
{
    unsigned a = take(r, 256);
    switch (mode) {
    case 0:                                   /* moderate values, many ties */
        return ((int)a - 128) / 8.0;
    case 1: {                                 /* wide magnitudes, some -inf */
        if (a < 24)
            return -INFINITY;
        double m = ((int)take(r, 256) - 128) / 16.0;
        return ldexp(m, (int)a / 8 - 12);
    }
    default: {                                /* raw bit patterns */
        uint64_t bits = a;
        for (int i = 0; i < 7; i++)
            bits = bits << 8 | take(r, 256);
        double v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    }
}

static void store_value(char *p, int f32, double v)
{
    if (f32) {
        float f = (float)v;
        if (isnan(v)) {
            f = NAN;
        } else if (v > 3.4028234663852886e38) {   /* no UB in the cast */
            f = INFINITY;
        } else if (v < -3.4028234663852886e38) {
            f = -INFINITY;
        }
        memcpy(p, &f, sizeof f);
    } else {
        memcpy(p, &v, sizeof v);
    }
}

static double load_value(const char *p, int f32)
{
    if (f32) {
        float f;
        memcpy(&f, p, sizeof f);
        return f;
    }
    double v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ---- the reference ------------------------------------------------------------- */

static int64_t offset(const operand *o, const problem_shape *s, int64_t row)
{
    int64_t off = 0;
    for (int d = s->ndim - 1; d >= 0; d--) {
        off += row % s->shape[d] * o->strides[d];
        row /= s->shape[d];
    }
    return off;
}

static void report(const char *what, int64_t row, int64_t i, double got, long double want)
{
    fprintf(stderr, "fuzz_capi: %s: row %lld element %lld: got %.17g, want %.21Lg\n", what,
            (long long)row, (long long)i, got, want);
    abort();
}

/* Tolerance in units of `ulp` (the dtype's epsilon): generous against the
 * issue-2 contract (16 ulp) -- this harness hunts wrong rows, wrong
 * elements and memory errors, not the last bits (the Python suite does). */
#define TOL_ULP 64.0L

static void check_rows(int op, int f32, double t, const problem_shape *s, const operand *x,
                       const operand *b, const operand *y, const char *xcopy_base)
{
    int64_t rows = 1;
    for (int d = 0; d < s->ndim; d++)
        rows *= s->shape[d];
    long double eps = f32 ? 0x1p-24L : 0x1p-53L;
    long double tiny = f32 ? 0x1p-126L : 0x1p-1022L;
    long double dtype_max = f32 ? 3.4028234663852886e38L : 1.7976931348623157e308L;
    long double scale = 1.0L / t;
    for (int64_t r = 0; r < rows; r++) {
        const char *xr = xcopy_base + offset(x, s, r);
        const char *br = b ? b->base + offset(b, s, r) : NULL;
        /* rows of finite values and -inf (masks) are checked; NaN, +inf and
         * non-finite weights have their own rules (tested in Python) */
        long double m = -INFINITY, lowest = INFINITY;
        int ordinary = 1;
        for (int64_t i = 0; i < s->n; i++) {
            double v = load_value(xr + i * x->step, f32);
            double w = br ? load_value(br + i * b->step, f32) : 1.0;
            if (w == 0.0)
                continue;
            if (isnan(v) || v == INFINITY || !isfinite(w) || w < 0)
                ordinary = 0;
            else if (v > -INFINITY) {
                m = v > m ? v : m;
                lowest = v < lowest ? v : lowest;
            }
        }
        if (!ordinary)
            continue;
        /* known limitation (tests/test_fuzz_differential.py): x - max is
         * formed in the dtype before the temperature divides it */
        if (op == 1 && m - lowest > dtype_max)
            continue;
        long double sum = 0.0L;
        if (m > -INFINITY)
            for (int64_t i = 0; i < s->n; i++) {
                double v = load_value(xr + i * x->step, f32);
                double w = br ? load_value(br + i * b->step, f32) : 1.0;
                if (w != 0.0 && v > -INFINITY)
                    sum += w * expl(((long double)v - m) * scale);
            }
        if (op >= 2) {                        /* logsumexp: one value per row */
            double got = load_value(y->base + offset(y, s, r), f32);
            long double lse = m > -INFINITY ? m + logl(sum) : -INFINITY;
            if (lse == -INFINITY) {
                if (got != -INFINITY)
                    report("logsumexp of an empty or all -inf row", r, -1, got, lse);
                continue;
            }
            if (fabsl(lse) > dtype_max)
                continue;                     /* the true value overflows the dtype */
            long double lim = eps * TOL_ULP * (fabsl(lse) + logl((long double)s->n) + 1.0L);
            if (!(fabsl(got - lse) <= lim))
                report("logsumexp", r, -1, got, lse);
            continue;
        }
        for (int64_t i = 0; i < s->n; i++) {
            double v = load_value(xr + i * x->step, f32);
            double got = load_value(y->base + offset(y, s, r) + i * y->step, f32);
            if (m == -INFINITY) {             /* no finite entry: NaN throughout */
                if (!isnan(got))
                    report("row of -inf", r, i, got, NAN);
                continue;
            }
            if (v == -INFINITY) {             /* a mask: exact 0 / -inf */
                if (got != (op == 0 ? 0.0 : -INFINITY))
                    report("masked entry", r, i, got, op == 0 ? 0.0L : -INFINITY);
                continue;
            }
            long double d = ((long double)v - m) * scale;
            if (op == 0) {
                long double want = expl(d) / sum;
                long double lim = want < tiny ? tiny : eps * TOL_ULP * want;
                if (!(fabsl(got - want) <= lim))
                    report("softmax", r, i, got, want);
            } else {
                long double want = d - logl(sum);
                if (fabsl(want) > dtype_max)
                    continue;                 /* rounds to -inf in the dtype */
                long double lim = eps * TOL_ULP * (fabsl(want) + logl((long double)s->n) + 1.0L);
                if (!(fabsl(got - want) <= lim))
                    report("log_softmax", r, i, got, want);
            }
        }
    }
}

/* Bytes of y's block that no element covers must still hold the sentinel. */
static void check_gaps(const operand *y, const problem_shape *s, int64_t itemsize, int has_row,
                       int misalign)
{
    size_t bytes = (size_t)(y->hi - y->lo);
    uint8_t *covered = calloc(bytes + 1, 1);
    if (!covered)
        return;
    int64_t rows = 1;
    for (int d = 0; d < s->ndim; d++)
        rows *= s->shape[d];
    int64_t per_row = has_row ? s->n : 1;
    for (int64_t r = 0; r < rows && per_row > 0; r++)
        for (int64_t i = 0; i < per_row; i++)
            memset(covered + (offset(y, s, r) + i * y->step - y->lo), 1, (size_t)itemsize);
    const uint8_t *blk = block_start(y);
    for (size_t k = 0; k < bytes; k++)
        if (!covered[k] && blk[k] != SENTINEL) {
            fprintf(stderr, "fuzz_capi: byte %zu of the output block was written\n", k);
            abort();
        }
    if (y->block[0] != SENTINEL && misalign > 0) {
        fprintf(stderr, "fuzz_capi: the byte before the output was written\n");
        abort();
    }
    free(covered);
}

/* ---- one input ----------------------------------------------------------------- */

static const char *const ISAS[] = { "baseline", "avx2", "avx512" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader rd = { data, size };
    reader *r = &rd;
    int op = take(r, 4);                      /* softmax, log_softmax, logsumexp, weighted */
    int f32 = take(r, 2);
    int64_t itemsize = f32 ? 4 : 8;
    const char *isa = ISAS[take(r, 3)];
    if (!smc_isa_available(isa))
        isa = "baseline";
    smc_set_isa(isa);
    int threads = (int)take(r, 3);            /* 0 = automatic, 1, 2 */
    int broken = take(r, 8) == 7 ? 1 + (int)take(r, 8) : 0;
    int values_mode = take(r, 3);
    static const double temps[] = { 1.0, 0.0, 0.5, 2.0, 0.25, 4.0, 0x1p-20, 0x1p20 };
    double t = op < 2 ? temps[take(r, 8)] : 1.0;
    if (t == 0.0) {     /* near the ends of the dtype's valid range, 1/T inexact */
        static const double extreme[2][2] = { { 1.37 * 0x1p-1000, 1.37 * 0x1p1000 },
                                              { 1.37 * 0x1p-120, 1.37 * 0x1p100 } };
        t = extreme[f32][take(r, 2)];
    }

    problem_shape s;
    s.ndim = (int)take(r, MAX_OUTER + 1);
    int big = take(r, 32) == 31;               /* long rows: split-row and threaded paths */
    s.n = big ? 32768 + take16(r, 1 << 16) : take16(r, 70);
    for (int d = 0; d < s.ndim; d++)
        s.shape[d] = big ? take(r, 3) : take(r, 10);

    operand x, b, y, sign;
    memset(&b, 0, sizeof b);
    memset(&sign, 0, sizeof sign);
    input_layout(r, &x, &s, itemsize);
    if (big && x.step != 0 && take(r, 2))
        x.step = 0;                           /* long rows cost no input memory */
    span(&x, &s, itemsize, 1);
    if (op == 3)
        input_layout(r, &b, &s, itemsize);
    int alias = op < 2 && take(r, 4) == 3;    /* y = x: same pointer and steps */
    output_layout(r, &y, &s, itemsize, op < 2);
    int want_sign = op == 3 && take(r, 2);
    if (want_sign)
        output_layout(r, &sign, &s, itemsize, 0);
    int misalign = take(r, 4) == 3 ? 1 + (int)take(r, (unsigned)itemsize - 1) : 0;

    if (!allocate(&x, misalign))
        return 0;
    if (op == 3 && !allocate(&b, 0)) {
        free(x.block);
        return 0;
    }
    /* inputs: every byte of the span gets a value (overlapping elements
     * simply share bytes) */
    for (int64_t off = x.lo; off + itemsize <= x.hi; off += itemsize)
        store_value(x.base + off, f32, value_from(r, values_mode));
    if (op == 3)
        for (int64_t off = b.lo; off + itemsize <= b.hi; off += itemsize)
            store_value(b.base + off, f32, take(r, 5) == 0 ? 0.0 : value_from(r, 0) + 16.5);

    /* aliasing needs an input whose elements are distinct, read-write */
    if (alias) {                              /* only dense layouts, rows in order */
        alias = x.step == itemsize || x.step == -itemsize;
        int64_t dense = s.n * itemsize;
        for (int d = s.ndim - 1; d >= 0 && alias; d--) {
            alias &= x.strides[d] == dense;
            dense *= s.shape[d];
        }
    }
    size_t xbytes = (size_t)(x.hi - x.lo);
    uint8_t *xcopy = malloc(xbytes + 1);
    if (!xcopy) {
        free(x.block);
        free(b.block);
        return 0;
    }
    memcpy(xcopy, block_start(&x), xbytes);
    const char *xcopy_base = (const char *)xcopy - x.lo;

    if (alias) {
        y = x;                                /* same block */
    } else if (!allocate(&y, misalign)) {
        free(x.block);
        free(b.block);
        free(xcopy);
        return 0;
    }
    if (want_sign && !allocate(&sign, 0))
        want_sign = 0;

    smc_grid g;
    memset(&g, 0, sizeof g);
    g.n = s.n;
    g.ndim = s.ndim;
    for (int d = 0; d < s.ndim; d++)
        g.shape[d] = s.shape[d];
    smc_array ax, ab, ay, as;
    memset(&ax, 0, sizeof ax);
    memset(&ab, 0, sizeof ab);
    memset(&ay, 0, sizeof ay);
    memset(&as, 0, sizeof as);
    ax.data = x.base;
    ax.step = x.step;
    ab.data = b.base;
    ab.step = b.step;
    ay.data = y.base;
    ay.step = y.step;
    as.data = want_sign ? sign.base : NULL;
    for (int d = 0; d < s.ndim; d++) {
        ax.strides[d] = x.strides[d];
        ab.strides[d] = b.strides[d];
        ay.strides[d] = y.strides[d];
        as.strides[d] = sign.strides[d];
    }

    /* a broken argument: the exact code, and nothing written */
    int expect = SMC_OK;
    int64_t work_rows = 1;
    for (int d = 0; d < s.ndim; d++)
        work_rows *= s.shape[d];
    int has_work = work_rows > 0 && (s.n > 0 || op >= 2);
    switch (broken) {
    case 0: break;
    case 1: g.n = -1 - (int64_t)take(r, 100); expect = SMC_ERR_SIZE; break;
    case 2: g.ndim = SMC_MAX_DIMS + 1 + (int)take(r, 100); expect = SMC_ERR_SIZE; break;
    case 3: g.ndim = -1; expect = SMC_ERR_SIZE; break;
    case 4:
        if (s.ndim > 0) {
            g.shape[0] = -1;
            expect = SMC_ERR_SIZE;
        }
        break;
    case 5:
        if (has_work && s.n > 0) {
            ax.data = NULL;
            expect = SMC_ERR_NULL;
        }
        break;
    case 6:
        if (has_work) {
            ay.data = NULL;
            expect = SMC_ERR_NULL;
        }
        break;
    case 7:
        threads = -1 - (int)take(r, 100);
        expect = SMC_ERR_VALUE;
        break;
    default:
        if (op < 2) {
            static const double bad_t[] = { 0.0, -1.0, NAN, INFINITY, 5e-324, 1e-40 };
            t = bad_t[take(r, 6)];
            if (t == 1e-40 && !f32)
                t = 5e-324;
            expect = SMC_ERR_VALUE;
        }
        break;
    }

    int rc;
    switch (op) {
    case 0:
        rc = f32 ? smc_softmax_nd_f32(&g, &ax, &ay, t, threads)
                 : smc_softmax_nd_f64(&g, &ax, &ay, t, threads);
        break;
    case 1:
        rc = f32 ? smc_log_softmax_nd_f32(&g, &ax, &ay, t, threads)
                 : smc_log_softmax_nd_f64(&g, &ax, &ay, t, threads);
        break;
    case 2:
        rc = f32 ? smc_logsumexp_nd_f32(&g, &ax, &ay, threads)
                 : smc_logsumexp_nd_f64(&g, &ax, &ay, threads);
        break;
    default:
        rc = f32 ? smc_logsumexp_weighted_nd_f32(&g, &ax, &ab, &ay, want_sign ? &as : NULL, threads)
                 : smc_logsumexp_weighted_nd_f64(&g, &ax, &ab, &ay, want_sign ? &as : NULL, threads);
        break;
    }
    if (rc != expect) {
        fprintf(stderr, "fuzz_capi: op %d broken %d: returned %d, expected %d\n", op, broken, rc,
                expect);
        abort();
    }
    if (rc != SMC_OK) {
        /* nothing written: the output block is all sentinel (or, aliased,
         * the input is unchanged) */
        const uint8_t *blk = block_start(&y);
        size_t ybytes = (size_t)(y.hi - y.lo);
        for (size_t k = 0; k < ybytes; k++)
            if (alias ? blk[k] != xcopy[k] : blk[k] != SENTINEL) {
                fprintf(stderr, "fuzz_capi: a rejected call wrote its output\n");
                abort();
            }
    } else {
        if (!alias)
            check_gaps(&y, &s, itemsize, op < 2, misalign);
        if (values_mode < 2 || take(r, 2))
            check_rows(op, f32, t, &s, &x, op == 3 ? &b : NULL, &y, xcopy_base);
    }

    free(xcopy);
    if (!alias)
        free(y.block);
    free(x.block);
    free(b.block);
    free(sign.block);
    return 0;
}
