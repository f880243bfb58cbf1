/*
 * Fused softmax cross-entropy (loss and gradient) and the softmax /
 * log_softmax backward passes, written once for both dtypes.
 *
 * kernels.c includes this file right after dtype_kernels.h, with the same
 * DT / T / LANES definitions, and uses that file's exp_core, stats_block,
 * row_stats and apply_strided.  The formulas are in core/loss_job.h.
 *
 * Memory passes per row: one read pass for the row statistics (maximum,
 * sum of exp, and the u-sums of label smoothing / probability targets) and
 * one pass that reads the row again and writes the gradient.  The loss
 * comes from log-sum-exp, never from log(softmax).  A row reads everything
 * it needs before it writes, so the gradient may overwrite the logits.
 */

#define V         SMC_CAT(DT, v)
#define VOP(op)   SMC_CAT3(DT, _, op)
#define FN(name)  SMC_CAT3(DT, _, name)
#define SPLAT(c)  VOP(set1)((T)(c))
#define BLOCK     (16 * LANES)

/* ---- shared small pieces ----------------------------------------------------- */

/* A contiguous view of `len` elements at p with byte step `step`: p itself
 * when already contiguous, else a copy in buf. */
static inline const T *FN(contig_view)(const char *p, int64_t step, int64_t len, T *buf)
{
    if (step == (int64_t)sizeof(T))
        return (const T *)p;
    FN(gather)(buf, p, step, len);
    return buf;
}

static void FN(fill_zero)(char *p, int64_t step, int64_t n)
{
    T zero = 0;
    for (int64_t i = 0; i < n; i++)
        memcpy(p + i * step, &zero, sizeof zero);
}

/* ---- cross-entropy: the u-sums ----------------------------------------------- */

/* u_j of the loss (see loss_job.h) for LANES classes starting at i. */
static inline V FN(u_vec)(const smc_loss_job *job, const T *q, const T *w, int64_t i)
{
    V u = job->kind == SMC_TARGET_PROBS
              ? VOP(fma)(VOP(load)(q + i), SPLAT(job->q_scale), SPLAT(job->q_shift))
              : SPLAT(1);
    return w ? VOP(mul)(u, VOP(load)(w + i)) : u;
}

static inline double FN(u_scalar)(const smc_loss_job *job, const T *q, const T *w, int64_t i)
{
    T u = job->kind == SMC_TARGET_PROBS ? (T)((T)job->q_scale * q[i] + (T)job->q_shift) : (T)1;
    return w ? (double)(u * w[i]) : (double)u;
}

/* The u-sums of a row so far: U = sum u_j and D = sum u_j * (x_j - ref).
 * ref follows the running maximum, so for u_j >= 0 every term of D is
 * <= 0 and the loss term U * log_sum - D adds two non-negative numbers
 * (no cancellation, unlike sum u_j x_j - m * U). */
typedef struct {
    double u, d, ref;
} FN(usums);

/* Fold one contiguous block of x (and q, w) into s, against s->ref. */
static void FN(usum_block)(const smc_loss_job *job, const T *x, const T *q, const T *w,
                           int64_t len, FN(usums) *s)
{
    V ref = SPLAT(s->ref), zero = SPLAT(0);
    V au0 = zero, au1 = zero, ad0 = zero, ad1 = zero;
    int64_t full = len / LANES * LANES, i = 0;
    for (; i + 2 * LANES <= full; i += 2 * LANES) {
        V u0 = FN(u_vec)(job, q, w, i), u1 = FN(u_vec)(job, q, w, i + LANES);
        au0 = VOP(add)(au0, u0);
        au1 = VOP(add)(au1, u1);
        ad0 = VOP(fma)(u0, VOP(sub)(VOP(load)(x + i), ref), ad0);
        ad1 = VOP(fma)(u1, VOP(sub)(VOP(load)(x + i + LANES), ref), ad1);
    }
    if (i < full) {
        V u0 = FN(u_vec)(job, q, w, i);
        au0 = VOP(add)(au0, u0);
        ad0 = VOP(fma)(u0, VOP(sub)(VOP(load)(x + i), ref), ad0);
    }
    double bu = FN(hsum)(VOP(add)(au0, au1)), bd = FN(hsum)(VOP(add)(ad0, ad1));
    for (i = full; i < len; i++) {
        double u = FN(u_scalar)(job, q, w, i);
        bu += u;
        bd += u * (double)(x[i] - (T)s->ref);
    }
    s->u += bu;
    s->d += bd;
}

/* Row statistics plus u-sums in one read pass over the row. */
static smc_rowstats FN(xent_stats)(const smc_loss_job *job, const char *x, const char *q,
                                   FN(usums) *s)
{
    const int64_t n = job->g.n, xs = job->x.step, qs = job->target.step;
    const T *w = (const T *)job->weight;
    smc_partial st = smc_partial_empty();
    T xbuf[BLOCK], qbuf[BLOCK];
    s->u = s->d = s->ref = 0.0;
    for (int64_t b = 0; b < n; b += BLOCK) {
        int64_t bl = n - b < BLOCK ? n - b : BLOCK;
        const T *xb = FN(contig_view)(x + b * xs, xs, bl, xbuf);
        const T *qb = job->kind == SMC_TARGET_PROBS ? FN(contig_view)(q + b * qs, qs, bl, qbuf)
                                                    : NULL;
        FN(stats_block)((const char *)xb, bl, &st, 1.0, 0);
        if (isfinite(st.m) && st.m != s->ref) {
            /* move D to the new maximum: each term shifts by (ref - m) */
            if (s->u != 0.0)
                s->d += (s->ref - st.m) * s->u;
            s->ref = st.m;
        }
        FN(usum_block)(job, xb, qb, w ? w + b : NULL, bl, s);
    }
    return smc_finalize(&st, 1);
}

/* ---- cross-entropy: the gradient pass ---------------------------------------- */

/* out = A * exp(x - m) - B * u over one contiguous block (out may be x). */
static void FN(xent_grad_block)(const smc_loss_job *job, const T *x, const T *q, const T *w,
                                T *out, int64_t len, V m, V A, V B)
{
    V one = SPLAT(1);
    int64_t full = len / LANES * LANES, k = len - full;
    for (int64_t i = 0; i < full; i += LANES) {
        V p = FN(softmax_vec)(VOP(load)(x + i), m, A, one, 0);
        VOP(store)(out + i, VOP(sub)(p, VOP(mul)(B, FN(u_vec)(job, q, w, i))));
    }
    if (k) {
        /* pad q and w too, so u_vec reads only in-bounds copies */
        T qt[LANES], wt[LANES];
        for (int l = 0; l < LANES; l++)
            qt[l] = wt[l] = 0;
        if (q)
            memcpy(qt, q + full, (size_t)k * sizeof(T));
        if (w)
            memcpy(wt, w + full, (size_t)k * sizeof(T));
        V xv = FN(load_partial)((const char *)(x + full), k, (T)0);
        V p = FN(softmax_vec)(xv, m, A, one, 0);
        V g = VOP(sub)(p, VOP(mul)(B, FN(u_vec)(job, qt, w ? wt : NULL, 0)));
        FN(store_partial)((char *)(out + full), g, k);
    }
}

static void FN(xent_grad_pass)(const smc_loss_job *job, const char *x, const char *q,
                               char *grad, double m, double A, double B)
{
    const int64_t n = job->g.n, xs = job->x.step, qs = job->target.step;
    const int64_t gs = job->grad.step, sz = (int64_t)sizeof(T);
    const T *w = (const T *)job->weight;
    V vm = SPLAT(m), vA = SPLAT(A), vB = SPLAT(B);
    T xbuf[BLOCK], qbuf[BLOCK], obuf[BLOCK];
    for (int64_t b = 0; b < n; b += BLOCK) {
        int64_t bl = n - b < BLOCK ? n - b : BLOCK;
        const T *xb = FN(contig_view)(x + b * xs, xs, bl, xbuf);
        const T *qb = job->kind == SMC_TARGET_PROBS ? FN(contig_view)(q + b * qs, qs, bl, qbuf)
                                                    : NULL;
        T *ob = gs == sz ? (T *)(grad + b * gs) : obuf;
        FN(xent_grad_block)(job, xb, qb, w ? w + b : NULL, ob, bl, vm, vA, vB);
        if (gs != sz)
            FN(scatter)(grad + b * gs, gs, obuf, bl);
    }
}

/* ---- cross-entropy: one row ---------------------------------------------------- */

static void FN(xent_row)(const smc_loss_job *job, const char *x, const char *tgt, char *grad,
                         double *loss_out)
{
    const int64_t n = job->g.n;
    const T *w = (const T *)job->weight;
    int64_t label = -1;
    if (job->kind == SMC_TARGET_LABELS) {
        memcpy(&label, tgt, sizeof label);
        if (label == job->ignore_index) {
            *loss_out = 0.0;
            if (grad)
                FN(fill_zero)(grad, job->grad.step, n);
            return;
        }
    }
    /* the target logit, read before the gradient pass may overwrite it */
    double xt = label >= 0 ? (double)FN(load1)(x + label * job->x.step) : 0.0;
    double wt = label >= 0 && w ? (double)w[label] : 1.0;
    double a_t = label >= 0 ? job->one_minus_eps * wt : 0.0;

    FN(usums) us = { 0.0, 0.0, 0.0 };
    smc_rowstats rs = job->need_u ? FN(xent_stats)(job, x, tgt, &us)
                                  : FN(row_stats)(x, job->x.step, n, 1.0, 0, 1);
    /* -log p_t = log_sum - (x_t - m): two non-negative terms */
    double nll = rs.log_sum - (xt - rs.m);
    double loss = label >= 0 ? a_t * nll : 0.0;
    if (job->need_u)
        loss += job->gamma * (us.u * rs.log_sum - us.d);
    *loss_out = loss;
    if (!grad)
        return;

    double gs = job->grad_scale;
    double A = gs * (a_t + job->gamma * us.u) * rs.scale;   /* factor of exp(x - m) */
    if (job->need_u) {
        FN(xent_grad_pass)(job, x, tgt, grad, rs.m, A, gs * job->gamma);
    } else {
        smc_rowstats scaled = rs;
        scaled.scale = A;
        FN(apply_strided)(SMC_OP_SOFTMAX, x, job->x.step, grad, job->grad.step, n, &scaled,
                          1.0, 0);
    }
    if (label >= 0) {
        /* p_t - 1 = expm1(-nll) is exact where p_t is close to 1; the
         * vector pass would have computed it as a difference. */
        double u_t = w ? wt : 1.0;
        double g = gs * (a_t * expm1(-nll) + job->gamma * (us.u * exp(-nll) - u_t));
        FN(store1)(grad + label * job->grad.step, (T)g);
    }
}

static void FN(xent_rows)(const smc_loss_job *job, int64_t r0, int64_t r1)
{
    smc_multi_iter it;
    const smc_array *grad = job->grad.data ? &job->grad : NULL;
    smc_multi_iter_init(&it, &job->g, &job->x, &job->target, grad, r0);
    for (int64_t r = r0; r < r1; r++, smc_multi_iter_next(&it)) {
        const char *x = (const char *)job->x.data + it.off[0];
        const char *t = (const char *)job->target.data + it.off[1];
        char *g = grad ? (char *)grad->data + it.off[2] : NULL;
        FN(xent_row)(job, x, t, g, &job->row_loss[r]);
    }
}

/* ---- softmax / log_softmax backward ---------------------------------------------- */

/* sum(dy * y) (softmax) or sum(dy) (log_softmax) of one contiguous block,
 * in T across lanes, then in double. */
static double FN(bwd_block_sum)(int op, const T *y, const T *dy, int64_t len)
{
    V zero = SPLAT(0), a0 = zero, a1 = zero;
    int64_t full = len / LANES * LANES, i = 0;
    if (op == SMC_BWD_SOFTMAX) {
        for (; i + 2 * LANES <= full; i += 2 * LANES) {
            a0 = VOP(fma)(VOP(load)(y + i), VOP(load)(dy + i), a0);
            a1 = VOP(fma)(VOP(load)(y + i + LANES), VOP(load)(dy + i + LANES), a1);
        }
        if (i < full)
            a0 = VOP(fma)(VOP(load)(y + i), VOP(load)(dy + i), a0);
    } else {
        for (; i + 2 * LANES <= full; i += 2 * LANES) {
            a0 = VOP(add)(a0, VOP(load)(dy + i));
            a1 = VOP(add)(a1, VOP(load)(dy + i + LANES));
        }
        if (i < full)
            a0 = VOP(add)(a0, VOP(load)(dy + i));
    }
    double s = FN(hsum)(VOP(add)(a0, a1));
    for (i = full; i < len; i++)
        s += op == SMC_BWD_SOFTMAX ? (double)y[i] * (double)dy[i] : (double)dy[i];
    return s;
}

/* out = y * (dy - s)  (softmax, s = s_hi + s_lo)  or  dy - exp(y) * s. */
static void FN(bwd_block_apply)(int op, const T *y, const T *dy, T *out, int64_t len,
                                V s_hi, V s_lo)
{
    V zero = SPLAT(0);
    int64_t full = len / LANES * LANES, k = len - full;
    for (int64_t i = 0; i <= full; i += LANES) {
        int last = i == full;
        if (last && !k)
            break;
        V yv = last ? FN(load_partial)((const char *)(y + i), k, (T)0) : VOP(load)(y + i);
        V dv = last ? FN(load_partial)((const char *)(dy + i), k, (T)0) : VOP(load)(dy + i);
        V r;
        if (op == SMC_BWD_SOFTMAX)
            r = VOP(mul)(yv, VOP(sub)(VOP(sub)(dv, s_hi), s_lo));
        else {
            V neg_e = VOP(sub)(zero, FN(exp_core)(yv, zero));
            r = VOP(fma)(neg_e, s_lo, VOP(fma)(neg_e, s_hi, dv));
        }
        if (last)
            FN(store_partial)((char *)(out + i), r, k);
        else
            VOP(store)(out + i, r);
    }
}

static void FN(bwd_row)(const smc_bwd_job *job, const char *y, const char *dy, char *out)
{
    const int64_t n = job->g.n, ys = job->y.step, ds = job->dy.step, os = job->out.step;
    T ybuf[BLOCK], dbuf[BLOCK], obuf[BLOCK];
    double s_hi = 0.0, s_lo = 0.0;
    for (int64_t b = 0; b < n; b += BLOCK) {
        int64_t bl = n - b < BLOCK ? n - b : BLOCK;
        const T *yb = FN(contig_view)(y + b * ys, ys, bl, ybuf);
        const T *db = FN(contig_view)(dy + b * ds, ds, bl, dbuf);
        smc_twosum_add(&s_hi, &s_lo, FN(bwd_block_sum)(job->op, yb, db, bl));
    }
    double s = s_hi + s_lo;
    T hi = (T)s, lo = (T)(s - (double)hi);
    V vhi = SPLAT(hi), vlo = SPLAT(lo);
    for (int64_t b = 0; b < n; b += BLOCK) {
        int64_t bl = n - b < BLOCK ? n - b : BLOCK;
        const T *yb = FN(contig_view)(y + b * ys, ys, bl, ybuf);
        const T *db = FN(contig_view)(dy + b * ds, ds, bl, dbuf);
        T *ob = os == (int64_t)sizeof(T) ? (T *)(out + b * os) : obuf;
        FN(bwd_block_apply)(job->op, yb, db, ob, bl, vhi, vlo);
        if (ob == obuf)
            FN(scatter)(out + b * os, os, obuf, bl);
    }
}

static void FN(bwd_rows)(const smc_bwd_job *job, int64_t r0, int64_t r1)
{
    smc_multi_iter it;
    smc_multi_iter_init(&it, &job->g, &job->y, &job->dy, &job->out, r0);
    for (int64_t r = r0; r < r1; r++, smc_multi_iter_next(&it))
        FN(bwd_row)(job, (const char *)job->y.data + it.off[0],
                    (const char *)job->dy.data + it.off[1], (char *)job->out.data + it.off[2]);
}

#undef V
#undef VOP
#undef FN
#undef SPLAT
#undef BLOCK
