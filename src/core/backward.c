/*
 * Backward passes of softmax and log_softmax: argument checks and the
 * split of rows across threads.  Each row is independent, so any split
 * gives the same bits.
 */
#include "loss_job.h"

#define SMC_BWD_GRAIN_PER_ITEM 32768

typedef struct {
    const smc_kernels *k;
    const smc_bwd_job *job;
    int dt;
    int64_t rows, rows_per_item;
} bwd_ctx;

static void bwd_item(void *p, int64_t i)
{
    bwd_ctx *c = p;
    int64_t r0 = i * c->rows_per_item;
    int64_t r1 = r0 + c->rows_per_item < c->rows ? r0 + c->rows_per_item : c->rows;
    c->k->bwd_rows[c->dt](c->job, r0, r1);
}

static int backward(int op, int dt, const smc_grid *g, const smc_array *y,
                    const smc_array *dy, const smc_array *out, int threads)
{
    int64_t rows = smc_grid_rows(g);
    if (rows < 0)
        return (int)rows;
    if (!y || !dy || !out)
        return SMC_ERR_NULL;
    if (threads < 0)
        return SMC_ERR_VALUE;
    if (rows == 0 || g->n == 0)
        return SMC_OK;
    if (!y->data || !dy->data || !out->data)
        return SMC_ERR_NULL;

    smc_bwd_job job;
    job.op = op;
    job.g = *g;
    job.y = *y;
    job.dy = *dy;
    job.out = *out;
    bwd_ctx c;
    c.k = smc_active_kernels();
    c.job = &job;
    c.dt = dt;
    c.rows = rows;
    c.rows_per_item = SMC_BWD_GRAIN_PER_ITEM / g->n;
    if (c.rows_per_item < 1)
        c.rows_per_item = 1;
    int nthreads = smc_choose_threads(rows * g->n, threads);
    if (nthreads == 1)
        c.k->bwd_rows[dt](&job, 0, rows);
    else
        smc_parallel_for((rows + c.rows_per_item - 1) / c.rows_per_item, nthreads, bwd_item, &c);
    return SMC_OK;
}

int smc_softmax_backward_nd_f32(const smc_grid *g, const smc_array *y, const smc_array *dy,
                                const smc_array *out, int threads)
{
    return backward(SMC_BWD_SOFTMAX, SMC_F32, g, y, dy, out, threads);
}

int smc_softmax_backward_nd_f64(const smc_grid *g, const smc_array *y, const smc_array *dy,
                                const smc_array *out, int threads)
{
    return backward(SMC_BWD_SOFTMAX, SMC_F64, g, y, dy, out, threads);
}

int smc_log_softmax_backward_nd_f32(const smc_grid *g, const smc_array *y, const smc_array *dy,
                                    const smc_array *out, int threads)
{
    return backward(SMC_BWD_LOG_SOFTMAX, SMC_F32, g, y, dy, out, threads);
}

int smc_log_softmax_backward_nd_f64(const smc_grid *g, const smc_array *y, const smc_array *dy,
                                    const smc_array *out, int threads)
{
    return backward(SMC_BWD_LOG_SOFTMAX, SMC_F64, g, y, dy, out, threads);
}
