/*
 * Fused softmax cross-entropy: argument checks, the label pre-pass (range
 * check and the summed weights that `mean` divides by, so the gradient
 * scale is known before any gradient is written), the parallel row pass,
 * and the batch reduction.
 *
 * Per-row losses go to a buffer of `rows` doubles and are reduced in row
 * order on one thread, so the total is bitwise identical for every thread
 * count.  The batch sums (losses, weights) are two-term (compensated) sums,
 * so a float64 mean stays within an ulp or two of its rows however many
 * there are.  Nothing the size of the logits is ever allocated.
 */
#include <stdlib.h>
#include "loss_job.h"

/* Elements per work item handed to a thread (load balancing). */
#define SMC_LOSS_GRAIN_PER_ITEM 32768

typedef struct {
    const smc_kernels *k;
    const smc_loss_job *job;
    int dt;
    int64_t rows, rows_per_item;
} loss_ctx;

static void loss_item(void *p, int64_t i)
{
    loss_ctx *c = p;
    int64_t r0 = i * c->rows_per_item;
    int64_t r1 = r0 + c->rows_per_item < c->rows ? r0 + c->rows_per_item : c->rows;
    c->k->xent_rows[c->dt](c->job, r0, r1);
}

/* Split-row mode: one phase over the items of all rows, chunk phases in
 * parallel, row phases in row order on this thread. */
typedef struct {
    const smc_kernels *k;
    const smc_loss_job *job;
    int dt, phase;
} split_ctx;

static void split_item(void *p, int64_t i)
{
    split_ctx *c = p;
    c->k->xent_split[c->dt](c->job, c->phase, i);
}

static void run_split(const smc_kernels *k, const smc_loss_job *job, int dt, int64_t rows,
                      int nthreads)
{
    static const int phases[] = { SMC_XENT_ROW_PREP, SMC_XENT_CHUNK_STATS, SMC_XENT_ROW_MERGE,
                                  SMC_XENT_CHUNK_GRAD, SMC_XENT_ROW_FIX };
    split_ctx c = { k, job, dt, 0 };
    for (size_t ph = 0; ph < sizeof phases / sizeof phases[0]; ph++) {
        c.phase = phases[ph];
        if (c.phase == SMC_XENT_CHUNK_STATS || c.phase == SMC_XENT_CHUNK_GRAD)
            smc_parallel_for(rows * job->nchunks, nthreads, split_item, &c);
        else
            for (int64_t r = 0; r < rows; r++)
                k->xent_split[dt](job, c.phase, r);
    }
}

static double weight_of(int dt, const void *weight, int64_t cls)
{
    if (!weight)
        return 1.0;
    if (dt == SMC_F32)
        return ((const float *)weight)[cls];
    return ((const double *)weight)[cls];
}

/* Checks every label (before anything is written) and sums the weights of
 * the rows not ignored, in row order. */
static int check_labels(const smc_loss_job *job, int dt, int64_t rows, double *wsum,
                        int64_t *bad_row)
{
    smc_multi_iter it;
    double s_hi = 0.0, s_lo = 0.0;
    smc_multi_iter_init(&it, &job->g, &job->target, NULL, NULL, 0);
    for (int64_t r = 0; r < rows; r++, smc_multi_iter_next(&it)) {
        int64_t t;
        memcpy(&t, (const char *)job->target.data + it.off[0], sizeof t);
        if (t == job->ignore_index)
            continue;
        if (t < 0 || t >= job->g.n) {
            if (bad_row)
                *bad_row = r;
            return SMC_ERR_LABEL;
        }
        smc_twosum_add(&s_hi, &s_lo, weight_of(dt, job->weight, t));
    }
    *wsum = isfinite(s_hi) ? s_hi + s_lo : s_hi;   /* lo is NaN after inf */
    return SMC_OK;
}

/* Per-row losses into the caller's array, in the logits' dtype. */
static void store_row_losses(int dt, const smc_grid *g, const smc_array *loss,
                             const double *row_loss, int64_t rows)
{
    smc_multi_iter it;
    smc_multi_iter_init(&it, g, loss, NULL, NULL, 0);
    for (int64_t r = 0; r < rows; r++, smc_multi_iter_next(&it)) {
        char *p = (char *)loss->data + it.off[0];
        if (dt == SMC_F32) {
            float v = (float)row_loss[r];
            memcpy(p, &v, sizeof v);
        } else {
            memcpy(p, &row_loss[r], sizeof(double));
        }
    }
}

static int cross_entropy(int dt, const smc_grid *g, const smc_array *logits,
                         const smc_array *labels, const smc_array *probs, const void *weight,
                         int64_t ignore_index, double label_smoothing, int reduction,
                         const smc_array *grad, const smc_array *loss, double *total,
                         int64_t *bad_row, int threads)
{
    int64_t rows = smc_grid_rows(g);
    if (rows < 0)
        return (int)rows;
    if (!logits || (!labels) == (!probs))
        return SMC_ERR_NULL;
    if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0) || threads < 0 ||
        reduction < SMC_REDUCE_NONE || reduction > SMC_REDUCE_SUM)
        return SMC_ERR_VALUE;
    if (rows > 0 && g->n == 0)
        return SMC_ERR_SIZE;          /* no classes: the loss is undefined */
    const smc_array *target = labels ? labels : probs;
    int want_grad = grad && grad->data;
    int want_loss = loss && loss->data;
    if (rows > 0 && (!logits->data || !target->data))
        return SMC_ERR_NULL;

    smc_loss_job job;
    memset(&job, 0, sizeof job);
    job.kind = labels ? SMC_TARGET_LABELS : SMC_TARGET_PROBS;
    job.g = *g;
    job.x = *logits;
    job.target = *target;
    if (want_grad)
        job.grad = *grad;
    job.weight = weight;
    job.ignore_index = ignore_index;
    job.one_minus_eps = 1.0 - label_smoothing;
    if (labels) {
        job.gamma = g->n > 0 ? label_smoothing / (double)g->n : 0.0;
    } else {
        job.gamma = 1.0;
        job.q_scale = 1.0 - label_smoothing;
        job.q_shift = label_smoothing / (double)g->n;
    }
    job.need_u = job.gamma != 0.0;

    /* what `mean` divides by: summed weights of the labels not ignored */
    double divisor = (double)rows;
    if (labels) {
        int rc = check_labels(&job, dt, rows, &divisor, bad_row);
        if (rc != SMC_OK)
            return rc;
    }
    job.grad_scale = reduction == SMC_REDUCE_MEAN ? 1.0 / divisor : 1.0;

    double sum = 0.0, sum_lo = 0.0;
    if (rows > 0) {
        const smc_kernels *k = smc_active_kernels();
        int nthreads = smc_choose_threads(rows * g->n, threads);
        /* few long rows: their chunks are shared out instead (as api.c does) */
        int split = nthreads > 1 && rows < 2 * (int64_t)nthreads && g->n >= 2 * SMC_CHUNK;
        job.nchunks = (g->n + SMC_CHUNK - 1) / SMC_CHUNK;
        job.row_loss = malloc((size_t)rows * sizeof(double));
        if (split || job.nchunks > SMC_XENT_STACK_CHUNKS)
            job.chunks = malloc((size_t)(rows * job.nchunks) * sizeof(smc_xent_chunk));
        if (split)
            job.rowinfo = malloc((size_t)rows * sizeof(smc_xent_row));
        if (!job.row_loss || (!job.chunks && (split || job.nchunks > SMC_XENT_STACK_CHUNKS)) ||
            (split && !job.rowinfo)) {
            free(job.row_loss);
            free(job.chunks);
            free(job.rowinfo);
            return SMC_ERR_NOMEM;
        }
        loss_ctx c;
        c.k = k;
        c.job = &job;
        c.dt = dt;
        c.rows = rows;
        c.rows_per_item = SMC_LOSS_GRAIN_PER_ITEM / g->n;
        if (c.rows_per_item < 1)
            c.rows_per_item = 1;
        if (split)
            run_split(k, &job, dt, rows, nthreads);
        else if (nthreads == 1)
            c.k->xent_rows[dt](&job, 0, rows);
        else
            smc_parallel_for((rows + c.rows_per_item - 1) / c.rows_per_item, nthreads,
                             loss_item, &c);
        free(job.chunks);
        free(job.rowinfo);
        for (int64_t r = 0; r < rows; r++)
            smc_twosum_add(&sum, &sum_lo, job.row_loss[r]);
        if (isfinite(sum))
            sum += sum_lo;      /* after an infinite row lo is NaN: keep the inf */
        if (want_loss)
            store_row_losses(dt, g, loss, job.row_loss, rows);
        free(job.row_loss);
    }
    if (total)
        *total = reduction == SMC_REDUCE_MEAN ? sum / divisor : sum;
    return SMC_OK;
}

int smc_cross_entropy_nd_f32(const smc_grid *g, const smc_array *logits,
                             const smc_array *labels, const smc_array *probs,
                             const float *weight, int64_t ignore_index,
                             double label_smoothing, int reduction,
                             const smc_array *grad, const smc_array *loss,
                             double *total, int64_t *bad_row, int threads)
{
    return cross_entropy(SMC_F32, g, logits, labels, probs, weight, ignore_index,
                         label_smoothing, reduction, grad, loss, total, bad_row, threads);
}

int smc_cross_entropy_nd_f64(const smc_grid *g, const smc_array *logits,
                             const smc_array *labels, const smc_array *probs,
                             const double *weight, int64_t ignore_index,
                             double label_smoothing, int reduction,
                             const smc_array *grad, const smc_array *loss,
                             double *total, int64_t *bad_row, int threads)
{
    return cross_entropy(SMC_F64, g, logits, labels, probs, weight, ignore_index,
                         label_smoothing, reduction, grad, loss, total, bad_row, threads);
}
