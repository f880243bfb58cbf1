/*
 * Jobs of the fused cross-entropy and of the softmax / log_softmax backward
 * passes: what the drivers (loss.c, backward.c) hand to the kernel variants
 * (kernels/dtype_loss.h).  Plain types and static inline helpers only, as
 * in internal.h, so each ISA object gets its own copy.
 */
#ifndef SMC_LOSS_JOB_H
#define SMC_LOSS_JOB_H

#include "internal.h"

enum smc_target_kind { SMC_TARGET_LABELS = 0, SMC_TARGET_PROBS = 1 };

/* Per row, with p = softmax(x), lse = logsumexp(x) and (for labels) t the
 * class index, the loss is
 *     a_t * (lse - x_t)  +  gamma * sum_j u_j * (lse - x_j)
 * and its gradient (times grad_scale) is
 *     p_k * (a_t + gamma * sum_j u_j)  -  gamma * u_k  -  a_t * [k == t]
 * where
 *   labels: a_t = (1 - eps) * w_t, gamma = eps / n, u_j = w_j
 *           (the label-smoothing form of PyTorch, weights included);
 *   probs:  a_t = 0, gamma = 1, u_j = w_j * ((1 - eps) * q_j + eps / n)
 *           (q the target probabilities);
 * and w_j = 1 without class weights. */
struct smc_xent_chunk;
struct smc_xent_row;

typedef struct smc_loss_job {
    int kind;                 /* enum smc_target_kind */
    smc_grid g;
    smc_array x;              /* logits */
    smc_array target;         /* labels: int64 per row (step unused); probs: x's layout */
    smc_array grad;           /* x's layout; data NULL: no gradient */
    const void *weight;       /* n values of the logits' dtype, or NULL */
    int64_t ignore_index;     /* labels equal to it give loss 0, gradient 0 */
    double one_minus_eps;     /* 1 - label_smoothing */
    double gamma;             /* factor of the u-sum term (see above) */
    double q_scale, q_shift;  /* probs: u_j = w_j * (q_scale * q_j + q_shift) */
    int need_u;               /* the u-sum term is present (gamma != 0) */
    double grad_scale;        /* 1 / (summed weights) for mean, else 1 */
    double *row_loss;         /* [rows] per-row losses, in grid row order */
    /* split-row mode only (few long rows, see loss.c): */
    int64_t nchunks;                  /* SMC_CHUNK-element chunks per row */
    struct smc_xent_chunk *chunks;    /* [rows * nchunks] */
    struct smc_xent_row *rowinfo;     /* [rows] */
} smc_loss_job;

/* After the first pass over a row, the gradient row holds e_j = exp(x_j - m_s)
 * where m_s is the running maximum when its block was read: segment s covers
 * elements start[s] .. start[s+1]-1.  The second pass multiplies segment s
 * by exp(m_s - m).  The running maximum settles early in most rows, so a
 * few segments suffice; when they run out, the prefix is rescaled at once. */
#define SMC_SEGMENTS 32

typedef struct smc_segments {
    int n;
    int64_t start[SMC_SEGMENTS];
    double m[SMC_SEGMENTS];
} smc_segments;

/* A row is reduced as chunks of SMC_CHUNK elements, each with its own
 * state, merged left to right: the same sums whether one thread walks the
 * row or several share its chunks (split-row mode), so the same bits. */
typedef struct smc_xent_chunk {
    smc_partial p;            /* online normaliser of the chunk */
    double u, d, ref;         /* u-sums: U = sum u_j, D = sum u_j (x_j - ref) */
    smc_segments sg;          /* what the gradient row holds (above) */
} smc_xent_chunk;

/* Row mode keeps the chunk states of a row on the stack up to this many
 * chunks; beyond it (and in split-row mode) the driver provides
 * job->chunks. */
#define SMC_XENT_STACK_CHUNKS 8

/* Per row, between the passes. */
typedef struct smc_xent_row {
    int64_t label;            /* class index, -1 for probabilities */
    int ignored;              /* label == ignore_index */
    double xt, wt, a_t;       /* target logit and weight, (1 - eps) * wt */
    double m;                 /* row maximum */
    double nll, u;            /* -log p_t, summed u */
    double A, B;              /* gradient = A * exp(x - m) - B * u */
} smc_xent_row;

/* Phases of split-row mode: per row (serial) or per chunk (parallel),
 * run in this order over all rows / chunks. */
enum {
    SMC_XENT_ROW_PREP = 0,    /* read the label and the target logit */
    SMC_XENT_CHUNK_STATS,     /* first pass over one chunk */
    SMC_XENT_ROW_MERGE,       /* merge the chunks: loss, gradient factors */
    SMC_XENT_CHUNK_GRAD,      /* second pass over one chunk */
    SMC_XENT_ROW_FIX          /* the target's gradient element */
};

/* out = softmax_backward(y, dy) or log_softmax_backward(y, dy) per row. */
enum smc_bwd_op { SMC_BWD_SOFTMAX = 0, SMC_BWD_LOG_SOFTMAX = 1 };

typedef struct smc_bwd_job {
    int op;                   /* enum smc_bwd_op */
    smc_grid g;
    smc_array y, dy, out;
} smc_bwd_job;

/* ---- walking the outer grid with several arrays ---------------------------- */

#define SMC_ITER_ARRAYS 3

/* Consecutive rows of the outer grid, tracking the byte offset of each of
 * up to SMC_ITER_ARRAYS arrays (NULL entries stay at offset 0). */
typedef struct smc_multi_iter {
    const smc_grid *g;
    const smc_array *a[SMC_ITER_ARRAYS];
    int64_t off[SMC_ITER_ARRAYS];
    int64_t idx[SMC_MAX_DIMS];
} smc_multi_iter;

static inline void smc_multi_iter_init(smc_multi_iter *it, const smc_grid *g,
                                       const smc_array *a0, const smc_array *a1,
                                       const smc_array *a2, int64_t row)
{
    it->g = g;
    it->a[0] = a0;
    it->a[1] = a1;
    it->a[2] = a2;
    for (int d = g->ndim - 1; d >= 0; d--) {
        /* an empty grid has no rows to walk, but callers may still set up
         * row 0 of it: no division by its zero extent */
        int64_t ext = g->shape[d] > 0 ? g->shape[d] : 1;
        it->idx[d] = row % ext;
        row /= ext;
    }
    for (int k = 0; k < SMC_ITER_ARRAYS; k++) {
        it->off[k] = 0;
        if (it->a[k])
            for (int d = 0; d < g->ndim; d++)
                it->off[k] += it->idx[d] * it->a[k]->strides[d];
    }
}

static inline void smc_multi_iter_next(smc_multi_iter *it)
{
    for (int d = it->g->ndim - 1; d >= 0; d--) {
        int wrap = ++it->idx[d] == it->g->shape[d];
        for (int k = 0; k < SMC_ITER_ARRAYS; k++)
            if (it->a[k])
                it->off[k] += (wrap ? 1 - it->g->shape[d] : 1) * it->a[k]->strides[d];
        if (!wrap)
            return;
        it->idx[d] = 0;
    }
}

/* loss.c / backward.c: rows of the grid, or an SMC_ERR_* code (< 0). */
int64_t smc_grid_rows(const smc_grid *g);

#endif
