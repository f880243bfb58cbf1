/*
 * Internal types shared by the driver (api.c, compiled once) and the kernel
 * variants (kernels/kernels.c, compiled once per ISA).  Everything defined
 * here is `static inline` or a plain type, so each ISA object gets its own
 * copy compiled with its own flags (no cross-ISA linker merging).
 */
#ifndef SMC_INTERNAL_H
#define SMC_INTERNAL_H

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

/* Rows of at most this many vectors are reduced one row per vector lane
 * (see short_group in dtype_kernels.h). */
#define SMC_SHORT_MAX_VECS 4

/* Column mode reduces this many vectors of adjacent rows side by side.
 * The driver aligns column work items to SMC_COL_VECS * lanes. */
#define SMC_COL_VECS 4

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

/* What the output pass of one row needs, derived from its partial. */
typedef struct smc_rowstats {
    double m;        /* the row maximum */
    double scale;    /* 1 / sum(exp((x - m) / T)); NaN for rows that give NaN */
    double log_sum;  /* log(sum(exp((x - m) / T))); NaN likewise */
    double lse;      /* logsumexp of the row (temperature 1) */
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

/* Move p to a larger maximum m_new: every term is multiplied by
 * exp((m - m_new) / T), and the c max-terms join the "below max" sum. */
static inline void smc_partial_rescale(smc_partial *p, double m_new, double inv_t)
{
    /* from -inf every old term is exp(-inf) = 0: skip the libm call */
    double f = p->m == -INFINITY ? 0.0 : exp((p->m - m_new) * inv_t);
    double s = (p->c + p->s_hi) + p->s_lo;
    p->s_hi = s * f;
    p->s_lo = 0.0;
    p->c = 0.0;
    p->m = m_new;
}

/* a <- merge(a, b).  Order matters for bitwise reproducibility: callers
 * always merge chunks left to right. */
static inline void smc_partial_merge(smc_partial *a, const smc_partial *b, double inv_t)
{
    smc_partial bb = *b;
    if (bb.m > a->m)
        smc_partial_rescale(a, bb.m, inv_t);
    else if (a->m > bb.m)
        smc_partial_rescale(&bb, a->m, inv_t);
    /* now a->m == bb.m, or one of them is NaN-free -inf vs -inf */
    a->c += bb.c;
    smc_twosum_add(&a->s_hi, &a->s_lo, bb.s_hi);
    a->s_lo += bb.s_lo;
}

/* need_log: also compute log_sum and lse (log_softmax, logsumexp); softmax
 * only needs the scale, and skipping log1p matters for short rows. */
static inline smc_rowstats smc_finalize(const smc_partial *p, int need_log)
{
    smc_rowstats r;
    double s = p->s_hi + p->s_lo;
    /* sum - 1 without rounding the small part against 1: c is an integer */
    double rest = (p->c - 1.0) + s;
    r.m = p->m;
    r.log_sum = need_log ? log1p(rest) : NAN;
    r.scale = 1.0 / (p->c + s);
    r.lse = p->m + r.log_sum;       /* -inf row -> -inf; empty row -> -inf */
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
    int use_t;              /* inv_t != 1 */
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
typedef struct smc_kernels {
    const char *name;
    int lanes[2];                                   /* [dtype] vector width */
    /* whole rows r0..r1-1 of the flattened outer grid */
    void (*rows[2])(const smc_job *job, int64_t r0, int64_t r1);
    /* column mode: rows are adjacent in memory along the innermost outer
     * dim; columns j0..j1-1 of outer line `line` (j0 a multiple of lanes) */
    void (*cols[2])(const smc_job *job, int64_t line, int64_t j0, int64_t j1);
    /* split-row mode: partial of one chunk, and the output pass of one chunk */
    void (*chunk_stats[2])(const smc_job *job, int64_t row, int64_t chunk);
    void (*chunk_apply[2])(const smc_job *job, int64_t row, int64_t chunk);
    void (*exp[2])(int64_t n, const void *x, void *y);
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
