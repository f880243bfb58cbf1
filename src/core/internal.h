/*
 * Internal types shared by the driver (api.c, compiled once) and the kernel
 * variants (kernels/kernels.c, compiled once per ISA).  Everything defined
 * here is `static inline` or a plain type, so each ISA object gets its own
 * copy compiled with its own flags (no cross-ISA linker merging).
 */
#ifndef SMC_INTERNAL_H
#define SMC_INTERNAL_H

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "../include/softmax_c.h"

#define SMC_CAT_(a, b) a##b
#define SMC_CAT(a, b) SMC_CAT_(a, b)
#define SMC_CAT3(a, b, c) SMC_CAT(SMC_CAT(a, b), c)

/* A long row is reduced in chunks of this many elements whose partial
 * results are merged in order.  Fixed (not derived from the thread count),
 * so every thread count gives bitwise identical results. */
#define SMC_CHUNK 16384

/* Short rows go through the kernels in groups: each row's statistics end
 * in a serial chain (horizontal reductions, log, division) that its output
 * waits for, and doing each step for several rows before the next step lets
 * those chains overlap.  A group holds at most SMC_GROUP_ROWS rows and
 * SMC_GROUP_BYTES of input: with more, the second pass over a group's rows
 * and outputs no longer finds them in L1 when the arrays are out of cache
 * (4 KiB measured best on 128..1024-element float32 rows of 16 MiB arrays;
 * 32 KiB cost rows of 1024 up to 25%).  Returns the group size for rows of
 * row_bytes; below 2, rows go one at a time. */
#define SMC_GROUP_ROWS 8
#define SMC_GROUP_BYTES 4096
static inline int64_t smc_group_rows(int64_t row_bytes)
{
    if (row_bytes <= SMC_GROUP_BYTES / SMC_GROUP_ROWS)
        return SMC_GROUP_ROWS;
    return SMC_GROUP_BYTES / row_bytes;
}

/* Rows of at most this many vectors are reduced one row per vector lane
 * (see short_group in dtype_kernels.h). */
#define SMC_SHORT_MAX_VECS 4

/* Column mode reduces this many vectors of adjacent rows side by side.
 * Each step of a column walk lands on a new page, so the wider the group
 * the fewer TLB misses per element: 16 vectors measured 1.3-1.4x faster
 * than 4 on a 4096x1024 axis-0 softmax (32: slower again, state spills).
 * The driver aligns column work items to SMC_COL_VECS * lanes. */
#define SMC_COL_VECS 16

/* Hardware prefetchers stop at page boundaries, so walks that touch a new
 * page every step (column mode) prefetch a few steps ahead by hand. */
#if defined(__GNUC__) || defined(__clang__)
#define SMC_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#define SMC_PREFETCH_W(p) __builtin_prefetch((p), 1, 3)
#else
#define SMC_PREFETCH(p) ((void)0)
#define SMC_PREFETCH_W(p) ((void)0)
#endif
#define SMC_PREFETCH_STEPS 8

/* Where the row kernels read and write next (NULL: nothing to prefetch). */
typedef struct smc_ahead {
    const char *x;
    char *y;
} smc_ahead;

/* Branch hint for rare paths (keeps them out of the hot loop's layout). */
#if defined(__GNUC__) || defined(__clang__)
#define SMC_UNLIKELY(c) __builtin_expect(!!(c), 0)
#else
#define SMC_UNLIKELY(c) (c)
#endif

/* Atomic load/store of one aligned word (a pointer or an int) shared by
 * threads; such variables are declared SMC_SHARED.  MSVC has no __atomic
 * builtins, but its volatile accesses of aligned words are atomic with
 * acquire/release order on x86/x64 (/volatile:ms, its default there). */
#if defined(_MSC_VER) && !defined(__clang__)
#define SMC_SHARED volatile
#define SMC_LOAD_ACQUIRE(var) (var)
#define SMC_STORE_RELEASE(var, value) ((var) = (value))
#else
#define SMC_SHARED
#define SMC_LOAD_ACQUIRE(var) __atomic_load_n(&(var), __ATOMIC_ACQUIRE)
#define SMC_STORE_RELEASE(var, value) __atomic_store_n(&(var), (value), __ATOMIC_RELEASE)
#endif

enum smc_dtype { SMC_F32 = 0, SMC_F64 = 1 };
enum smc_op { SMC_OP_SOFTMAX, SMC_OP_LOG_SOFTMAX, SMC_OP_LOGSUMEXP };

/* Running summary of a (part of a) row, in the online-normaliser form:
 *   m      largest element seen (NaN never becomes m)
 *   c      how many elements equal m (each contributes exp(0) = 1)
 *   s      sum of exp((x - m) / T) over the elements below m, kept apart
 *          from the c ones so that log(sum) = log1p(c - 1 + s) stays
 *          accurate when the result is near 0.  Two-term (hi + lo) sum.  */
typedef struct smc_partial {
    double m, c, s_hi, s_lo;
} smc_partial;

/* What the output pass of one row needs, derived from its partial.
 * scale and log_sum are two-term values (hi + lo): a float64 result is
 * rounded once from them, so the row constant must carry more than 53 bits
 * or its own rounding adds up to half an ulp to every element. */
typedef struct smc_rowstats {
    double m;        /* the row maximum */
    double scale;    /* 1 / sum(exp((x - m) / T)); NaN for rows that give NaN */
    double log_sum;  /* log(sum(exp((x - m) / T))); NaN likewise */
    double lse;      /* logsumexp of the row (temperature 1) */
    double scale_lo, log_sum_lo;   /* low parts of scale and log_sum */
    double lo;       /* the row's smallest element where known (NaN ignored), else -inf */
} smc_rowstats;

static inline smc_partial smc_partial_empty(void)
{
    smc_partial p = { -INFINITY, 0.0, 0.0, 0.0 };
    return p;
}

/* Error-free s + t: adds t to the two-term sum (hi, lo). */
static inline void smc_twosum_add(double *hi, double *lo, double t)
{
    double s = *hi + t;
    double bb = s - *hi;
    double err = (*hi - (s - bb)) + (t - bb);
    *hi = s;
    *lo += err;
}

/* a + b = s + *err exactly (Knuth's TwoSum; any magnitudes). */
static inline double smc_two_sum(double a, double b, double *err)
{
    double s = a + b;
    double bb = s - a;
    *err = (a - (s - bb)) + (b - bb);
    return s;
}

/* a * b = p + *err exactly (barring overflow and underflow): one fused
 * multiply-add where the compiler targets FMA, else Dekker's product of
 * 26-bit halves.  split * x overflows for |x| > 2^996 (1/T of a tiny
 * temperature), so such an operand is split scaled by 2^-64 and the error
 * scaled back, both exact (as mul_err in kernels/dtype_kernels.h). */
static inline double smc_two_prod(double a, double b, double *err)
{
    double p = a * b;
#if defined(__FMA__) || defined(__aarch64__)
    *err = fma(a, b, -p);
#else
    const double split = 134217729.0;           /* 2^27 + 1 */
    double sa = fabs(a) > 0x1p960 ? 0x1p-64 : 1.0, sb = fabs(b) > 0x1p960 ? 0x1p-64 : 1.0;
    double as = a * sa, bs = b * sb, ps = p * sa * sb;
    double ca = split * as, cb = split * bs;
    double ah = ca - (ca - as), al = as - ah;
    double bh = cb - (cb - bs), bl = bs - bh;
    *err = (((ah * bh - ps) + ah * bl + al * bh) + al * bl) / sa / sb;
#endif
    return p;
}

/* exp((m_from - m_to) / T) as hi + *lo, for m_from <= m_to (0 from -inf).
 * The exponent is formed exactly (TwoSum, 1/T = inv_t + inv_t_lo): rounded
 * to one double it would be off by up to |m_from - m_to| * 2^-53, which
 * costs float64 results |m_from - m_to|/2 ulp wherever such rescaled terms
 * dominate a sum (the entries below a peaked row's maximum).  What is left
 * is the rounding of exp() itself. */
static inline double smc_exp_arg(double m_from, double m_to, double inv_t, double inv_t_lo,
                                 double *a_err)
{
    double d_err, d = smc_two_sum(m_from, -m_to, &d_err);
    *a_err = 0.0;
    if (!(d > -INFINITY))                       /* from -inf, or to +inf */
        return -INFINITY;
    double e, a = smc_two_prod(d, inv_t, &e);
    e += d_err * inv_t + d * inv_t_lo;
    *a_err = isfinite(e) ? e : 0.0;             /* (the product can overflow) */
    return a;
}

static inline double smc_exp_diff(double m_from, double m_to, double inv_t, double inv_t_lo,
                                  double *lo)
{
    double a_err, a = smc_exp_arg(m_from, m_to, inv_t, inv_t_lo, &a_err);
    double f = exp(a);
    *lo = f * a_err;                            /* exp(a + a_err), first order */
    return f;
}

/* The same with exp() itself to 64 bits where long double has them (x87):
 * for factors applied to whole float64 chunks, whose 0.5-ulp rounding
 * would land on every element.  Once per chunk, so the cost does not show. */
static inline double smc_exp_diff_extended(double m_from, double m_to, double inv_t,
                                           double inv_t_lo, double *lo)
{
#if LDBL_MANT_DIG >= 64
    double a_err, a = smc_exp_arg(m_from, m_to, inv_t, inv_t_lo, &a_err);
    long double f = expl((long double)a + (long double)a_err);
    double hi = (double)f;
    *lo = (double)(f - (long double)hi);
    return hi;
#else
    return smc_exp_diff(m_from, m_to, inv_t, inv_t_lo, lo);
#endif
}

/* Move p to a larger maximum m_new: every term is multiplied by
 * f = exp((m - m_new) / T) (two-term), and the c max-terms join the
 * "below max" sum, which stays two-term. */
static inline void smc_partial_rescale(smc_partial *p, double m_new, double inv_t,
                                       double inv_t_lo)
{
    double f_lo, f = smc_exp_diff(p->m, m_new, inv_t, inv_t_lo, &f_lo);
    p->m = m_new;
    if (f == 0.0) {                 /* from -inf, or underflow: skip the products */
        /* but a NaN seen so far (it lives only in s, never in m) stays:
         * 0 * NaN is NaN, and a later +inf or larger maximum must not
         * turn a NaN row into a number */
        int nan_seen = isnan(p->s_hi) || isnan(p->s_lo);
        p->c = p->s_lo = 0.0;
        p->s_hi = nan_seen ? NAN : 0.0;
        return;
    }
    double s_err, s = smc_two_sum(p->c, p->s_hi, &s_err);
    s_err += p->s_lo;
    double p_err;
    p->s_hi = smc_two_prod(s, f, &p_err);
    p->s_lo = p_err + (s * f_lo + s_err * f);
    p->c = 0.0;
}

/* a <- merge(a, b).  Order matters for bitwise reproducibility: callers
 * always merge chunks left to right. */
static inline void smc_partial_merge(smc_partial *a, const smc_partial *b, double inv_t,
                                     double inv_t_lo)
{
    smc_partial bb = *b;
    if (bb.m > a->m)
        smc_partial_rescale(a, bb.m, inv_t, inv_t_lo);
    else if (a->m > bb.m)
        smc_partial_rescale(&bb, a->m, inv_t, inv_t_lo);
    /* now a->m == bb.m, or one of them is NaN-free -inf vs -inf */
    a->c += bb.c;
    smc_twosum_add(&a->s_hi, &a->s_lo, bb.s_hi);
    a->s_lo += bb.s_lo;
}

/* log1p(x) for float32 results, a few times faster than libm's log1p (a
 * per-row cost that showed in rows of a few hundred): log(1 + x) with the
 * rounding of 1 + x corrected by the factor x / ((1 + x) - 1), exact in the
 * limit (Goldberg, "What every computer scientist should know about
 * floating-point arithmetic", thm. 4).  Relative error a few 2^-53, far
 * below a float rounding.  -1 gives -inf, NaN stays NaN. */
static inline double smc_log1p_narrow(double x)
{
    double u = 1.0 + x;
    if (u == 1.0)
        return x;                 /* |x| < 2^-53: log1p(x) = x to double precision */
    if (u == INFINITY)
        return u;
    return log(u) * (x / (u - 1.0));
}

/* need_log: also compute log_sum and lse (log_softmax, logsumexp); softmax
 * only needs the scale, and skipping log1p matters for short rows.
 * wide: the results are float64, so scale, log_sum and lse must be known
 * beyond double precision (a low part; lse rounded once); for float32
 * results the double values alone are far more precise than needed, and
 * short rows would pay for the extra per-row work. */
static inline smc_rowstats smc_finalize(const smc_partial *p, int need_log, int wide)
{
    smc_rowstats r;
    double s = p->s_hi + p->s_lo;
    r.m = p->m;
    r.scale = 1.0 / (p->c + s);
    r.scale_lo = 0.0;
    if (wide) {
        /* 1 / (S_hi + S_lo) = scale * (1 + residual), the residual exact */
        double sum_lo, sum = smc_two_sum(p->c, p->s_hi, &sum_lo);
        sum_lo += p->s_lo;
        r.scale = 1.0 / sum;
        double q_err, q = smc_two_prod(sum, r.scale, &q_err);
        r.scale_lo = r.scale * (((1.0 - q) - q_err) - sum_lo * r.scale);
    }
    r.log_sum = r.log_sum_lo = r.lse = NAN;
    r.lo = -INFINITY;          /* unknown here: row_stats sets it */
    if (need_log) {
        /* sum - 1 without rounding the small part against 1 (c is an
         * integer), kept two-term like the sum */
        double rest_lo, rest = smc_two_sum(p->c - 1.0, p->s_hi, &rest_lo);
        rest_lo += p->s_lo;
        r.log_sum = wide ? log1p(rest) : smc_log1p_narrow(rest);
        /* d log1p(x) = dx / (1 + x); rest_lo = 0 also for an empty row (rest = -1) */
        r.log_sum_lo = rest_lo != 0.0 ? rest_lo / (1.0 + rest) : 0.0;
        /* -inf row -> -inf; empty row -> -inf */
        r.lse = p->m + (r.log_sum + r.log_sum_lo);
        if (wide && isfinite(r.lse)) {          /* m + log_sum rounded once */
            double lse_err, lse = smc_two_sum(p->m, r.log_sum, &lse_err);
            r.lse = lse + (lse_err + r.log_sum_lo);
        }
    }
    if (p->m == INFINITY) {
        /* exp(inf - inf) is undefined: softmax rows holding +inf are NaN
         * (as in SciPy and PyTorch) while logsumexp is +inf (NaN if a NaN
         * was also present, which made s NaN). */
        r.lse = (s == s) ? INFINITY : NAN;
        r.scale = NAN;
        r.log_sum = NAN;
    }
    return r;
}

/* ---- The job handed from the driver to a kernel variant ------------------ */
typedef struct smc_job {
    int op;                 /* enum smc_op */
    int itemsize;
    smc_grid g;
    smc_array x, y;
    int64_t rows;           /* product of g.shape */
    double inv_t;           /* 1 / temperature */
    int use_t;              /* temperature != 1 */
    double inv_t_lo;        /* 1/temperature - inv_t: 1/T to ~106 bits with inv_t */
    /* split-row mode (few long rows): chunk partials and final row stats */
    int64_t nchunks;
    smc_partial *partials;  /* [rows][nchunks] */
    smc_rowstats *stats;    /* [rows] */
} smc_job;

/* Byte offsets of outer-grid position `idx` (first k dims) in x and y. */
static inline void smc_offsets(const smc_job *job, int64_t idx, int k,
                               int64_t *xoff, int64_t *yoff)
{
    int64_t xo = 0, yo = 0;
    for (int d = k - 1; d >= 0; d--) {
        int64_t ext = job->g.shape[d];
        int64_t i = idx % ext;
        idx /= ext;
        xo += i * job->x.strides[d];
        yo += i * job->y.strides[d];
    }
    *xoff = xo;
    *yoff = yo;
}

/* Walks consecutive rows of the outer grid without a division per row. */
typedef struct smc_row_iter {
    const smc_job *job;
    int64_t idx[SMC_MAX_DIMS];
    int64_t xoff, yoff;
} smc_row_iter;

static inline void smc_row_iter_init(smc_row_iter *it, const smc_job *job, int64_t row)
{
    int nd = job->g.ndim;
    it->job = job;
    for (int d = nd - 1; d >= 0; d--) {
        it->idx[d] = row % job->g.shape[d];
        row /= job->g.shape[d];
    }
    it->xoff = it->yoff = 0;
    for (int d = 0; d < nd; d++) {
        it->xoff += it->idx[d] * job->x.strides[d];
        it->yoff += it->idx[d] * job->y.strides[d];
    }
}

static inline void smc_row_iter_next(smc_row_iter *it)
{
    const smc_job *job = it->job;
    for (int d = job->g.ndim - 1; d >= 0; d--) {
        it->xoff += job->x.strides[d];
        it->yoff += job->y.strides[d];
        if (++it->idx[d] < job->g.shape[d])
            return;
        it->xoff -= it->idx[d] * job->x.strides[d];
        it->yoff -= it->idx[d] * job->y.strides[d];
        it->idx[d] = 0;
    }
}

/* ---- A kernel variant: one per ISA, chosen at runtime ----------------------- */
struct smc_loss_job;    /* loss_job.h */
struct smc_bwd_job;

/* Column mode in two phases: where one group's walk down its columns
 * touches more pages than the TLB holds (a page a step where steps are a
 * page or more apart), all groups' statistics come first, then the output
 * of every group of a line step by step, row-major, so that each page is
 * entered once for all of them instead of once per group, and threads
 * split the output by steps (AVX-512 Zen 4, axis 0 of 16-32 MiB arrays of
 * 4096-16384 steps: 1.1-1.7x faster on one thread, 1.25-1.75x more on two;
 * with 2048 steps the groups' own passes stay 5-15% faster, finding their
 * columns still in L3).  lanes: the kernel's vector width (short rows,
 * which stay in registers, never go this way). */
#define SMC_COL_TLB_PAGES 2048
static inline int smc_col_two_phase(const smc_job *job, int64_t lanes)
{
    const int inner = job->g.ndim - 1;
    const int64_t page = 4096, sz = job->itemsize;
    const int64_t xstep = job->x.step < 0 ? -job->x.step : job->x.step;
    return job->g.ndim >= 1 && job->g.n > SMC_SHORT_MAX_VECS * lanes &&
           job->op != SMC_OP_LOGSUMEXP && job->x.strides[inner] == sz &&
           job->y.strides[inner] == sz &&
           job->g.n * (xstep < page ? xstep : page) > SMC_COL_TLB_PAGES * page;
}

typedef struct smc_kernels {
    const char *name;
    int lanes[2];                                   /* [dtype] vector width */
    /* whole rows r0..r1-1 of the flattened outer grid */
    void (*rows[2])(const smc_job *job, int64_t r0, int64_t r1);
    /* column mode: rows are adjacent in memory along the innermost outer
     * dim; columns j0..j1-1 of outer line `line` (j0 a multiple of lanes) */
    void (*cols[2])(const smc_job *job, int64_t line, int64_t j0, int64_t j1);
    /* column mode in two phases (smc_col_two_phase): the statistics of the
     * groups of columns j0..j1-1 of a line into its output constants, one
     * col_consts_size[dtype] record per group of the line (j0 a multiple of
     * SMC_COL_VECS * lanes); then the output of steps i0..i1-1 of the line */
    void (*col_stats[2])(const smc_job *job, int64_t line, int64_t j0, int64_t j1, void *consts);
    void (*col_output_steps[2])(const smc_job *job, int64_t line, int64_t i0, int64_t i1,
                                const void *consts);
    size_t col_consts_size[2];
    /* split-row mode: partial of one chunk, and the output pass of one chunk */
    void (*chunk_stats[2])(const smc_job *job, int64_t row, int64_t chunk);
    void (*chunk_apply[2])(const smc_job *job, int64_t row, int64_t chunk);
    void (*exp[2])(int64_t n, const void *x, void *y);
    /* cross-entropy rows r0..r1-1 (loss.c), backward passes (backward.c) */
    void (*xent_rows[2])(const struct smc_loss_job *job, int64_t r0, int64_t r1);
    void (*bwd_rows[2])(const struct smc_bwd_job *job, int64_t r0, int64_t r1);
    /* cross-entropy split-row mode: one phase for one row or chunk item */
    void (*xent_split[2])(const struct smc_loss_job *job, int phase, int64_t item);
} smc_kernels;

extern const smc_kernels smc_kernels__baseline;
#if defined(__x86_64__) || defined(_M_X64)
#define SMC_HAVE_X86_VARIANTS 1
extern const smc_kernels smc_kernels__avx2;
/* AVX-512 only where it has been tested: GCC/Clang builds, not MSVC. */
#if !defined(_MSC_VER) || defined(__clang__)
#define SMC_HAVE_AVX512_VARIANT 1
extern const smc_kernels smc_kernels__avx512;
#endif
#endif

/* dispatch.c */
const smc_kernels *smc_active_kernels(void);

/* threads.c: run fn(ctx, i) for i in [0, nitems) on up to nthreads threads
 * (the caller is one of them).  Falls back to the calling thread alone when
 * the pool is busy with another caller. */
typedef void (*smc_task_fn)(void *ctx, int64_t item);
void smc_parallel_for(int64_t nitems, int nthreads, smc_task_fn fn, void *ctx);
int smc_max_threads(void);
/* api.c: threads to use for `work` elements under a caller's limit (0: auto). */
int smc_choose_threads(int64_t work, int threads);

#endif
