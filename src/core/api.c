/*
 * Public entry points: check arguments, pick how the rows are walked
 * (row mode, column mode, or split long rows), pick the thread count, and
 * hand the pieces to the active kernel variant.
 */
#include <stdlib.h>
#include "internal.h"

/* Elements of work below which a second thread does not pay. */
#define SMC_GRAIN_PER_THREAD 65536
/* Elements per work item handed to a thread (load balancing). */
#define SMC_GRAIN_PER_ITEM 32768

static int check_grid(const smc_grid *g, int64_t *rows_out)
{
    if (!g)
        return SMC_ERR_NULL;
    if (g->n < 0 || g->ndim < 0 || g->ndim > SMC_MAX_DIMS)
        return SMC_ERR_SIZE;
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
    *rows_out = rows;
    return SMC_OK;
}

/* For the other drivers (loss_job.h): rows of g, or an SMC_ERR_* code. */
int64_t smc_grid_rows(const smc_grid *g)
{
    int64_t rows;
    int rc = check_grid(g, &rows);
    return rc != SMC_OK ? rc : rows;
}

int smc_choose_threads(int64_t work, int threads)
{
    int64_t t = work / SMC_GRAIN_PER_THREAD;
    if (t <= 1)         /* before smc_max_threads: its affinity query is a system call */
        return 1;
    int limit = threads > 0 ? threads : smc_max_threads();
    if (t > limit)
        t = limit;
    return t < 1 ? 1 : (int)t;
}

typedef struct {
    const smc_kernels *k;
    smc_job *job;
    int dt;
    int64_t rows_per_item;              /* row mode */
    int64_t items_per_line, cols_per_item; /* column mode */
    char *consts;                       /* column mode in two phases: per line, */
    int64_t line_bytes, steps_per_item; /* line_bytes of output constants */
} run_ctx;

static void row_item(void *p, int64_t i)
{
    run_ctx *c = p;
    int64_t r0 = i * c->rows_per_item;
    int64_t r1 = r0 + c->rows_per_item < c->job->rows ? r0 + c->rows_per_item : c->job->rows;
    c->k->rows[c->dt](c->job, r0, r1);
}

static void col_item(void *p, int64_t i)
{
    run_ctx *c = p;
    int64_t inner = c->job->g.shape[c->job->g.ndim - 1];
    int64_t line = i / c->items_per_line, j0 = (i % c->items_per_line) * c->cols_per_item;
    int64_t j1 = j0 + c->cols_per_item < inner ? j0 + c->cols_per_item : inner;
    c->k->cols[c->dt](c->job, line, j0, j1);
}

static void col_stats_item(void *p, int64_t i)
{
    run_ctx *c = p;
    int64_t inner = c->job->g.shape[c->job->g.ndim - 1];
    int64_t line = i / c->items_per_line, j0 = (i % c->items_per_line) * c->cols_per_item;
    int64_t j1 = j0 + c->cols_per_item < inner ? j0 + c->cols_per_item : inner;
    c->k->col_stats[c->dt](c->job, line, j0, j1, c->consts + line * c->line_bytes);
}

static void col_output_item(void *p, int64_t i)
{
    run_ctx *c = p;
    int64_t n = c->job->g.n, items = (n + c->steps_per_item - 1) / c->steps_per_item;
    int64_t line = i / items, i0 = (i % items) * c->steps_per_item;
    int64_t i1 = i0 + c->steps_per_item < n ? i0 + c->steps_per_item : n;
    c->k->col_output_steps[c->dt](c->job, line, i0, i1, c->consts + line * c->line_bytes);
}

/* Column mode in two phases (smc_col_two_phase): every group's statistics,
 * then the outputs a run of steps at a time, each step across its whole
 * line.  The same computations as the one-phase path, in another order,
 * so the same bits.  Returns 0 (nothing done) when out of memory. */
static int run_cols_two_phase(run_ctx *c, int nthreads, int64_t group)
{
    const smc_grid *g = &c->job->g;
    int64_t cols = g->shape[g->ndim - 1], lines = c->job->rows / cols;
    c->line_bytes = (cols + group - 1) / group * (int64_t)c->k->col_consts_size[c->dt];
    /* the records hold vectors: aligned to 64 bytes by hand (portable) */
    char *raw = malloc((size_t)(lines * c->line_bytes) + 64);
    if (!raw)
        return 0;
    c->consts = raw + (64 - (uintptr_t)raw % 64) % 64;
    smc_parallel_for(lines * c->items_per_line, nthreads, col_stats_item, c);
    c->steps_per_item = SMC_GRAIN_PER_ITEM / cols > 1 ? SMC_GRAIN_PER_ITEM / cols : 1;
    int64_t items = (g->n + c->steps_per_item - 1) / c->steps_per_item;
    smc_parallel_for(lines * items, nthreads, col_output_item, c);
    free(raw);
    return 1;
}

static void stats_item(void *p, int64_t i)
{
    run_ctx *c = p;
    c->k->chunk_stats[c->dt](c->job, i / c->job->nchunks, i % c->job->nchunks);
}

static void apply_item(void *p, int64_t i)
{
    run_ctx *c = p;
    c->k->chunk_apply[c->dt](c->job, i / c->job->nchunks, i % c->job->nchunks);
}

/* Few long rows: every row is cut into SMC_CHUNK pieces processed in
 * parallel; the per-chunk partials are merged in order, exactly as the
 * one-thread row kernel does, so the result is the same bit for bit. */
static int run_split_rows(run_ctx *c, int nthreads)
{
    smc_job *job = c->job;
    job->nchunks = (job->g.n + SMC_CHUNK - 1) / SMC_CHUNK;
    job->partials = malloc((size_t)(job->rows * job->nchunks) * sizeof(smc_partial));
    job->stats = malloc((size_t)job->rows * sizeof(smc_rowstats));
    if (!job->partials || !job->stats) {
        free(job->partials);
        free(job->stats);
        return SMC_ERR_NOMEM;
    }
    int64_t nitems = job->rows * job->nchunks;
    smc_parallel_for(nitems, nthreads, stats_item, c);
    for (int64_t r = 0; r < job->rows; r++) {
        smc_partial acc = job->partials[r * job->nchunks];
        for (int64_t ch = 1; ch < job->nchunks; ch++)
            smc_partial_merge(&acc, &job->partials[r * job->nchunks + ch], job->inv_t,
                              job->inv_t_lo);
        job->stats[r] = smc_finalize(&acc, job->op != SMC_OP_SOFTMAX, c->dt == SMC_F64);
        if (job->op == SMC_OP_LOGSUMEXP) {
            int64_t xoff, yoff;
            smc_offsets(job, r, job->g.ndim, &xoff, &yoff);
            char *y = (char *)job->y.data + yoff;
            if (c->dt == SMC_F32) {
                float v = (float)job->stats[r].lse;
                memcpy(y, &v, sizeof v);
            } else {
                memcpy(y, &job->stats[r].lse, sizeof(double));
            }
        }
    }
    if (job->op != SMC_OP_LOGSUMEXP)
        smc_parallel_for(nitems, nthreads, apply_item, c);
    free(job->partials);
    free(job->stats);
    return SMC_OK;
}

/* The kernels multiply by 1/temperature in the row's dtype: it must be a
 * finite, non-zero value of that dtype after rounding.  (float32: 2^-150
 * rounds to 0 and 2^128 - 2^103 to inf, both ties to even.) */
static int temperature_ok(int dt, double temperature)
{
    if (!(temperature > 0.0 && temperature <= 1.7976931348623157e308))
        return 0;
    double inv_t = 1.0 / temperature;
    if (dt == SMC_F32)
        return inv_t > 0x1p-150 && inv_t < 0x1p128 - 0x1p103;
    return inv_t <= 1.7976931348623157e308;
}

static int run(int op, int dt, const smc_grid *g, const smc_array *x,
               const smc_array *y, double temperature, int threads)
{
    int64_t rows;
    int rc = check_grid(g, &rows);
    if (rc != SMC_OK)
        return rc;
    if (!x || !y)
        return SMC_ERR_NULL;
    if (op != SMC_OP_LOGSUMEXP && !temperature_ok(dt, temperature))
        return SMC_ERR_VALUE;
    if (threads < 0)
        return SMC_ERR_VALUE;
    int writes = op == SMC_OP_LOGSUMEXP ? rows > 0 : rows > 0 && g->n > 0;
    if (writes && (!y->data || (g->n > 0 && !x->data)))
        return SMC_ERR_NULL;
    if (!writes)
        return SMC_OK;

    smc_job job;
    memset(&job, 0, sizeof job);
    job.op = op;
    job.itemsize = dt == SMC_F32 ? 4 : 8;
    job.g = *g;
    job.x = *x;
    job.y = *y;
    job.rows = rows;
    if (op == SMC_OP_LOGSUMEXP)
        temperature = 1.0;
    job.inv_t = 1.0 / temperature;
    /* 1/T - inv_t from the exact residual 1 - T * inv_t: with it the
     * kernels scale by 1/T to ~106 bits (a rounded 1/T alone costs float64
     * results up to |x - max|/T / 2 ulp, float32 ones as much through a
     * float inv_t) */
    job.inv_t_lo = fma(-temperature, job.inv_t, 1.0) / temperature;
    job.use_t = temperature != 1.0;

    run_ctx c;
    memset(&c, 0, sizeof c);
    c.k = smc_active_kernels();
    c.job = &job;
    c.dt = dt;

    int64_t n = g->n > 0 ? g->n : 1;
    int nthreads = smc_choose_threads(rows * n, threads);
    int lanes = c.k->lanes[dt];
    int inner = g->ndim - 1;

    /* Column mode, one row per vector lane: when the rows are neighbours in
     * memory and the reduced axis is not (so every step is one contiguous
     * vector load), and for short rows, where a row alone fills too few
     * lanes to hide the latency of exp. */
    int rows_adjacent = g->ndim >= 1 && x->strides[inner] == job.itemsize && x->step != job.itemsize;
    int short_rows = g->ndim >= 1 && g->n <= SMC_SHORT_MAX_VECS * lanes;
    if ((rows_adjacent || short_rows) && g->ndim >= 1 && g->shape[inner] >= lanes) {
        /* column mode: items are runs of whole vector groups of one line */
        int64_t group = SMC_COL_VECS * lanes;   /* a multiple of every kernel width */
        int64_t groups_per_item = SMC_GRAIN_PER_ITEM / (n * group);
        if (groups_per_item < 1)
            groups_per_item = 1;
        c.cols_per_item = groups_per_item * group;
        c.items_per_line = (g->shape[inner] + c.cols_per_item - 1) / c.cols_per_item;
        if (smc_col_two_phase(&job, lanes) && run_cols_two_phase(&c, nthreads, group))
            return SMC_OK;
        smc_parallel_for(rows / g->shape[inner] * c.items_per_line, nthreads, col_item, &c);
        return SMC_OK;
    }
    if (nthreads > 1 && rows < 2 * (int64_t)nthreads && g->n >= 2 * SMC_CHUNK)
        return run_split_rows(&c, nthreads);

    c.rows_per_item = SMC_GRAIN_PER_ITEM / n;
    if (c.rows_per_item < 1)
        c.rows_per_item = 1;
    if (nthreads == 1) {
        c.k->rows[dt](&job, 0, rows);
        return SMC_OK;
    }
    smc_parallel_for((rows + c.rows_per_item - 1) / c.rows_per_item, nthreads, row_item, &c);
    return SMC_OK;
}

/* ---- the public functions: thin wrappers over run() ---------------------- */

static void batch(int64_t rows, int64_t n, const void *x, int64_t xrs, int64_t xs,
                  void *y, int64_t yrs, int64_t ys, smc_grid *g, smc_array *ax, smc_array *ay)
{
    g->n = n;
    g->ndim = 1;
    g->shape[0] = rows;
    ax->data = (void *)x;
    ax->step = xs;
    ax->strides[0] = xrs;
    ay->data = y;
    ay->step = ys;
    ay->strides[0] = yrs;
}

#define SMC_DEFINE_OPS(DT, T, DTYPE)                                                        \
    int smc_softmax_nd_##DT(const smc_grid *g, const smc_array *x, const smc_array *y,      \
                            double temperature, int threads)                                \
    {                                                                                       \
        return run(SMC_OP_SOFTMAX, DTYPE, g, x, y, temperature, threads);                   \
    }                                                                                       \
    int smc_log_softmax_nd_##DT(const smc_grid *g, const smc_array *x, const smc_array *y,  \
                                double temperature, int threads)                            \
    {                                                                                       \
        return run(SMC_OP_LOG_SOFTMAX, DTYPE, g, x, y, temperature, threads);               \
    }                                                                                       \
    int smc_logsumexp_nd_##DT(const smc_grid *g, const smc_array *x, const smc_array *y,    \
                              int threads)                                                  \
    {                                                                                       \
        return run(SMC_OP_LOGSUMEXP, DTYPE, g, x, y, 1.0, threads);                         \
    }                                                                                       \
    int smc_softmax_##DT(int64_t rows, int64_t n, const T *x, int64_t xrs, int64_t xs,      \
                         T *y, int64_t yrs, int64_t ys, double temperature, int threads)    \
    {                                                                                       \
        smc_grid g; smc_array ax, ay;                                                       \
        batch(rows, n, x, xrs, xs, y, yrs, ys, &g, &ax, &ay);                               \
        return run(SMC_OP_SOFTMAX, DTYPE, &g, &ax, &ay, temperature, threads);              \
    }                                                                                       \
    int smc_log_softmax_##DT(int64_t rows, int64_t n, const T *x, int64_t xrs, int64_t xs,  \
                             T *y, int64_t yrs, int64_t ys, double temperature, int threads)\
    {                                                                                       \
        smc_grid g; smc_array ax, ay;                                                       \
        batch(rows, n, x, xrs, xs, y, yrs, ys, &g, &ax, &ay);                               \
        return run(SMC_OP_LOG_SOFTMAX, DTYPE, &g, &ax, &ay, temperature, threads);          \
    }                                                                                       \
    int smc_logsumexp_##DT(int64_t rows, int64_t n, const T *x, int64_t xrs, int64_t xs,    \
                           T *y, int64_t yrs, int threads)                                  \
    {                                                                                       \
        smc_grid g; smc_array ax, ay;                                                       \
        batch(rows, n, x, xrs, xs, y, yrs, 0, &g, &ax, &ay);                                \
        return run(SMC_OP_LOGSUMEXP, DTYPE, &g, &ax, &ay, 1.0, threads);                    \
    }                                                                                       \
    int smc_softmax_row_##DT(int64_t n, const T *x, T *y)                                   \
    {                                                                                       \
        return smc_softmax_##DT(1, n, x, 0, sizeof(T), y, 0, sizeof(T), 1.0, 1);            \
    }                                                                                       \
    int smc_log_softmax_row_##DT(int64_t n, const T *x, T *y)                               \
    {                                                                                       \
        return smc_log_softmax_##DT(1, n, x, 0, sizeof(T), y, 0, sizeof(T), 1.0, 1);        \
    }                                                                                       \
    int smc_logsumexp_row_##DT(int64_t n, const T *x, T *result)                            \
    {                                                                                       \
        return smc_logsumexp_##DT(1, n, x, 0, sizeof(T), result, 0, 1);                     \
    }                                                                                       \
    int smc_exp_##DT(int64_t n, const T *x, T *y)                                           \
    {                                                                                       \
        if (n < 0)                                                                          \
            return SMC_ERR_SIZE;                                                            \
        if (n > 0 && (!x || !y))                                                            \
            return SMC_ERR_NULL;                                                            \
        smc_active_kernels()->exp[DTYPE](n, x, y);                                          \
        return SMC_OK;                                                                      \
    }

SMC_DEFINE_OPS(f32, float, SMC_F32)
SMC_DEFINE_OPS(f64, double, SMC_F64)
