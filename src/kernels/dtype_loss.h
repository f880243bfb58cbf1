/*
 * Fused softmax cross-entropy (loss and gradient) and the softmax /
 * log_softmax backward passes, written once for both dtypes.
 *
 * kernels.c includes this file right after dtype_kernels.h, with the same
 * DT / T / LANES definitions, and uses that file's exp_diff, sub_err,
 * the smc_partial online normaliser and the load/store/gather helpers.
 * The formulas are in core/loss_job.h.
 *
 * Cross-entropy, per row: one read pass over the logits for the online
 * normaliser (and the u-sums of label smoothing / probability targets)
 * that also stores exp(x - running max) in the gradient row, then one pass
 * over the gradient row that rescales it (and subtracts the u term).  One
 * exp per element; the loss comes from log-sum-exp, never log(softmax).
 * The target logit is read before anything is written, so the gradient
 * may overwrite the logits.
 */

#define V         SMC_CAT(DT, v)
#define VM        SMC_CAT(DT, m)
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
SMC_INLINE V FN(u_vec)(const smc_loss_job *job, const T *q, const T *w, int64_t i)
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

/* The u-sums of a chunk so far (in smc_xent_chunk): U = sum u_j and
 * D = sum u_j * (x_j - ref).  ref follows the running maximum, so for
 * u_j >= 0 every term of D is <= 0 and the loss term U * log_sum - D adds
 * two non-negative numbers (no cancellation, unlike sum u_j x_j - m * U).
 * Fold one contiguous block of x (and q, w) into s, against s->ref. */
static void FN(usum_block)(const smc_loss_job *job, const T *x, const T *q, const T *w,
                           int64_t len, smc_xent_chunk *s)
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

/* ---- cross-entropy: the first pass ---------------------------------------------
 * One read pass over the row computes the online normaliser (maximum m,
 * count c of elements equal to m, sum s of the others' exp, as chunk_exp
 * does), the u-sums, and -- when a gradient is wanted -- stores
 * e_j = exp(x_j - m_b) in the gradient row, with m_b the running maximum
 * after the span of x_j (segments in loss_job.h).  The second pass then only rescales what is stored: one
 * exp per element in total instead of two, which is most of the cost. */

/* Raise st's maximum to that of the span (rescaling st); returns the
 * span's minimum and sets *span_max (NaN ignored in both).  block_max[b]
 * and block_min[b] receive the lane-wise maximum and minimum of the b-th
 * BLOCK of the span's full vectors (the tail is not included): exp_sum_span
 * uses them to pick, block by block, the cheapest exact loop. */
static double FN(span_max_update)(const T *x, int64_t len, smc_partial *st, double *span_max,
                                  V *block_max, V *block_min)
{
    int64_t full = len / LANES * LANES, k = len - full;
    V vmax = SPLAT(-INFINITY), vmin = SPLAT(INFINITY);
    for (int64_t b = 0; b < full; b += BLOCK) {
        int64_t end = full - b < BLOCK ? full : b + BLOCK;
        V bmax = SPLAT(-INFINITY), bmin = SPLAT(INFINITY);
        for (int64_t i = b; i < end; i += LANES) {
            V xv = VOP(load)(x + i);
            bmax = VOP(max)(xv, bmax);                  /* NaN ignored */
            bmin = VOP(min)(xv, bmin);
        }
        block_max[b / BLOCK] = bmax;
        block_min[b / BLOCK] = bmin;
        vmax = VOP(max)(bmax, vmax);
        vmin = VOP(min)(bmin, vmin);
    }
    if (k) {
        V xv = FN(load_partial)((const char *)(x + full), k, (T)-INFINITY);
        vmax = VOP(max)(xv, vmax);
        vmin = VOP(min)(FN(load_partial)((const char *)(x + full), k, (T)INFINITY), vmin);
    }
    double bm = FN(hmax)(vmax);
    if (bm > st->m)     /* from -inf: the terms so far become 0 (NaN stays NaN) */
        smc_partial_rescale(st, bm, 1.0, 0.0);
    *span_max = bm;
    return -FN(hmax)(VOP(sub)(SPLAT(0), vmin));
}

/* Below this argument exp's result leaves the normal range of T, so
 * exp_core_normal (dtype_kernels.h) no longer applies. */
#define SMC_EXP_NORMAL_MIN (-(double)EXP_FAST_LIM)

/* exp(x - m) with the rounding error of x - m carried into the exp.
 * Every mode but SLOW has x - m in [SMC_EXP_NORMAL_MIN, 0] (or x NaN), so
 * the error term needs no clamp and exp_core_normal applies; the Fast2Sum modes
 * find the same exact error as TwoSum in two operations instead of five.
 * SLOW: x may be -inf, and where x == m == -inf (all seen so far is -inf)
 * the result is made 1, like exp(0), for a later maximum to rescale to 0. */
SMC_INLINE V FN(exp_shifted)(V xv, V m, V neg_m, VM eq, int mode)
{
    if (mode != SMC_EXP_SLOW)
        return FN(exp_diff_fast)(xv, m, neg_m, mode);
    /* exp_diff clamps the correction: inf - inf = NaN there must not
     * poison the exact 0 of a -inf input */
    V e = FN(exp_diff)(xv, m, SPLAT(1), SPLAT(0), 0);
    return VOP(select)(eq, SPLAT(1), e);
}

/* The exps of one contiguous span, folded into st (against st->m) and
 * stored in e unless e is NULL (e may be x).  fast: every x - m of the
 * span is in exp_core_normal's range (see exp_shifted).  eqs: the span may hold
 * elements equal to m (it set the running maximum); then only the blocks
 * whose block_max reaches m count such elements apart from the sum.  The
 * sum moves from T to double lanes every BLOCK elements (each lane adds
 * BLOCK / LANES / 2 pair sums in T, see chunk_acc), and to a double once
 * per span, like the count (exact in T).  Each block also prefetches a
 * block of next.x (what is read after this span) and of next.y (the
 * gradient written after it, for writing), as chunk_sums does. */
static void FN(exp_sum_span)(const T *x, T *e, int64_t len, smc_partial *st, int fast,
                             int eqs, const V *block_max, const V *block_min, smc_ahead next)
{
    V m = SPLAT(st->m), neg_m = SPLAT(-st->m), zero = SPLAT(0), one = SPLAT(1);
    V cnt = zero;
    FN(chunk_acc) sums;     /* the blocks' sums, reduced once per span */
    FN(chunk_acc_init)(&sums);
    int64_t full = len / LANES * LANES, k = len - full;
    /* the loop over one block, with MODE, STORE and EQS constant in each copy */
#define SMC_EXP_TERM(term, j, MODE, STORE, EQS)                               \
    do {                                                                      \
        V xv_ = VOP(load)(x + (j));                                           \
        VM eq_ = VOP(eq)(xv_, m);                                             \
        V ev_ = FN(exp_shifted)(xv_, m, neg_m, eq_, MODE);                    \
        if (STORE)                                                            \
            VOP(store)(e + (j), ev_);                                         \
        if (EQS) {                                                            \
            ev_ = VOP(select)(eq_, zero, ev_);                                \
            cnt = VOP(add)(cnt, VOP(select)(eq_, one, zero));                 \
        }                                                                     \
        term = ev_;                                                           \
    } while (0)
    /* terms are added in pairs into one accumulator: as few additions in
     * T as two accumulators, and one register less */
#define SMC_EXP_BLOCK(MODE, STORE, EQS)                                       \
    do {                                                                      \
        for (; i + 2 * LANES <= end; i += 2 * LANES) {                        \
            V t0_, t1_;                                                       \
            SMC_EXP_TERM(t0_, i, MODE, STORE, EQS);                           \
            SMC_EXP_TERM(t1_, i + LANES, MODE, STORE, EQS);                   \
            acc = VOP(add)(acc, VOP(add)(t0_, t1_));                          \
            SMC_IN_REGISTER(acc);                                             \
        }                                                                     \
        if (i < end) {                                                        \
            V t0_;                                                            \
            SMC_EXP_TERM(t0_, i, MODE, STORE, EQS);                           \
            acc = VOP(add)(acc, t0_);                                         \
        }                                                                     \
    } while (0)
#define SMC_EXP_BLOCK_STORE(MODE, EQS)                                        \
    do {                                                                      \
        if (e)                                                                \
            SMC_EXP_BLOCK(MODE, 1, EQS);                                      \
        else                                                                  \
            SMC_EXP_BLOCK(MODE, 0, EQS);                                      \
    } while (0)
    for (int64_t b = 0; b < full; b += BLOCK) {
        int64_t end = full - b < BLOCK ? full : b + BLOCK, i = b;
        FN(prefetch_ahead)(next, b, BLOCK);
        V acc = zero;
        int beqs = eqs && VOP(any)(VOP(eq)(block_max[b / BLOCK], m));
        if (!fast) {
            SMC_EXP_BLOCK_STORE(SMC_EXP_SLOW, 1);
        } else if (beqs) {      /* the block holding the maximum: rare */
            SMC_EXP_BLOCK_STORE(SMC_EXP_TWOSUM, 1);
        } else if (st->m < 0.0) {
            SMC_EXP_BLOCK_STORE(SMC_EXP_X_BIGGER, 0);
        } else if (!VOP(any)(VOP(gt)(neg_m, block_min[b / BLOCK]))) {
            SMC_EXP_BLOCK_STORE(SMC_EXP_M_BIGGER, 0);
        } else {
            SMC_EXP_BLOCK_STORE(SMC_EXP_TWOSUM, 0);
        }
        FN(chunk_acc_add)(&sums, acc, zero, zero);
    }
    if (full) {
        double span_sum, span_lo, no_count;
        FN(chunk_acc_total)(&sums, &span_sum, &span_lo, &no_count);
        smc_twosum_add(&st->s_hi, &st->s_lo, span_sum);
        st->s_lo += span_lo;
    }
#undef SMC_EXP_BLOCK_STORE
#undef SMC_EXP_BLOCK
#undef SMC_EXP_TERM
    double bcnt = FN(hsum)(cnt), bsum = 0.0;
    if (k) {
        /* the padding lanes must not count: add the tail lane by lane */
        T ev[LANES], xs[LANES];
        V xv = FN(load_partial)((const char *)(x + full), k, (T)-INFINITY);
        V out = FN(exp_shifted)(xv, m, neg_m, VOP(eq)(xv, m), SMC_EXP_SLOW);
        VOP(store)(ev, out);
        VOP(store)(xs, xv);
        if (e)
            FN(store_partial)((char *)(e + full), out, k);
        for (int64_t l = 0; l < k; l++) {
            if (xs[l] == (T)st->m)
                bcnt += 1.0;
            else
                bsum += ev[l];
        }
        smc_twosum_add(&st->s_hi, &st->s_lo, bsum);
    }
    st->c += bcnt;
}

/* e[i0..i1) <- e * f, then - B * u (when with_u), over the gradient row;
 * q is the probability row (or NULL). */
static void FN(grad_range)(const smc_loss_job *job, const char *q, char *grad, int64_t i0,
                           int64_t i1, T f, T B, int with_u)
{
    const int64_t gs = job->grad.step, qs = job->target.step, sz = (int64_t)sizeof(T);
    const T *w = (const T *)job->weight;
    const int probs = job->kind == SMC_TARGET_PROBS;
    V vf = SPLAT(f), vB = SPLAT(B);
    T gbuf[BLOCK], qbuf[BLOCK], qt[LANES], wt[LANES];
    for (int64_t b = i0; b < i1; b += BLOCK) {
        int64_t bl = i1 - b < BLOCK ? i1 - b : BLOCK;
        int64_t full = bl / LANES * LANES, k = bl - full;
        T *gb = gs == sz ? (T *)(grad + b * gs) : gbuf;
        if (gb == gbuf)
            FN(gather)(gbuf, grad + b * gs, gs, bl);
        const T *qb = with_u && probs ? FN(contig_view)(q + b * qs, qs, bl, qbuf) : NULL;
        const T *wb = with_u && w ? w + b : NULL;
        for (int64_t i = 0; i < full; i += LANES) {
            V g = VOP(mul)(VOP(load)(gb + i), vf);
            if (with_u)
                g = VOP(sub)(g, VOP(mul)(vB, FN(u_vec)(job, qb, wb, i)));
            VOP(store)(gb + i, g);
        }
        if (k) {
            V g = VOP(mul)(FN(load_partial)((const char *)(gb + full), k, (T)0), vf);
            if (with_u) {
                /* pad q and w, so u_vec reads only in-bounds copies */
                for (int l = 0; l < LANES; l++)
                    qt[l] = wt[l] = 0;
                if (qb)
                    memcpy(qt, qb + full, (size_t)k * sizeof(T));
                if (wb)
                    memcpy(wt, wb + full, (size_t)k * sizeof(T));
                g = VOP(sub)(g, VOP(mul)(vB, FN(u_vec)(job, qt, wb ? wt : NULL, 0)));
            }
            FN(store_partial)((char *)(gb + full), g, k);
        }
        if (gb == gbuf)
            FN(scatter)(grad + b * gs, gs, gbuf, bl);
    }
}

/* exp(a - b) in double with the rounding of a - b carried in (internal.h's
 * smc_exp_diff, hi + lo): rounded to one double, the exponent would cost
 * float64 rows |a - b| / 2 ulp. */
static inline double FN(exp_of_diff)(double a, double b)
{
    if (a == b)
        return 1.0;
    double lo, hi = smc_exp_diff(a, b, 1.0, 0.0, &lo);
    return hi + lo;
}

/* Segment s of the gradient row, as [start, end). */
static inline int64_t FN(segment_end)(const smc_segments *sg, int s, int64_t n)
{
    return s + 1 < sg->n ? sg->start[s + 1] : n;
}

/* A new running maximum st_m from element b on.  With all segments used,
 * the stored part of the chunk (from c_start) is first brought to st_m
 * (rare: rows whose maximum keeps rising, such as sorted ones). */
static void FN(segment_add)(const smc_loss_job *job, char *grad, smc_segments *sg,
                            int64_t c_start, int64_t b, double st_m)
{
    if (sg->n > 0 && sg->m[sg->n - 1] == st_m)
        return;
    if (sg->n == SMC_SEGMENTS) {
        for (int s = 0; s < sg->n; s++)
            FN(grad_range)(job, NULL, grad, sg->start[s], FN(segment_end)(sg, s, b),
                           (T)FN(exp_of_diff)(sg->m[s], st_m), 0, 0);
        sg->n = 0;
        b = c_start;
    }
    sg->start[sg->n] = b;
    sg->m[sg->n] = st_m;
    sg->n++;
}

/* The first pass (see above) over elements [c_start, c_end) of one row
 * (x, q, grad point at the row), into a fresh chunk state.  grad NULL:
 * statistics only.  The maximum is taken over spans of SPAN elements (fewer
 * horizontal reductions on the critical path); sums are flushed to double
 * every BLOCK elements.  Each span is two steps: span_range, then
 * span_exps (xent_group runs the first step of several rows before the
 * second). */
#define SPAN (8192 / (int)sizeof(T))    /* a multiple of BLOCK; x, q, e stay in L1 */

typedef struct FN(span_bounds) {
    double max, min;                    /* NaN ignored */
    V block_max[SPAN / BLOCK], block_min[SPAN / BLOCK];
} FN(span_bounds);

/* Step 1 over the span xc[0..cl): its range, the chunk's normaliser
 * raised to its maximum. */
static inline void FN(span_range)(const T *xc, int64_t cl, smc_xent_chunk *cs,
                                  FN(span_bounds) *sr)
{
    sr->min = FN(span_max_update)(xc, cl, &cs->p, &sr->max, sr->block_max, sr->block_min);
}

/* Step 2 over the span of elements [c0, c0 + cl) (xc: their contiguous
 * view) of the chunk starting at c_start: the u-sums and the exps, into cs.
 * ebuf: room for the span's exps when the gradient row is strided; next:
 * the logits read after this span (prefetched). */
static void FN(span_exps)(const smc_loss_job *job, const T *xc, const char *q, char *grad,
                          T *ebuf, int64_t c_start, int64_t c0, int64_t cl,
                          const FN(span_bounds) *sr, smc_xent_chunk *cs, smc_ahead next)
{
    const int64_t qs = job->target.step, gs = job->grad.step, sz = (int64_t)sizeof(T);
    smc_partial *st = &cs->p;
    const T *w = (const T *)job->weight;
    /* every x - m of the span within exp's normal range: cheap exp */
    int fast = sr->min - st->m >= SMC_EXP_NORMAL_MIN;
    /* below the running maximum, no element equals it */
    int eqs = !(sr->max < st->m);
    if (job->need_u) {
        if (isfinite(st->m) && st->m != cs->ref) {
            /* move D to the new maximum: each term shifts by (ref - m) */
            if (cs->u != 0.0)
                cs->d += (cs->ref - st->m) * cs->u;
            cs->ref = st->m;
        }
        T qbuf[SPAN];
        const T *qc = job->kind == SMC_TARGET_PROBS
                          ? FN(contig_view)(q + c0 * qs, qs, cl, qbuf) : NULL;
        for (int64_t b = 0; b < cl; b += BLOCK)
            FN(usum_block)(job, xc + b, qc ? qc + b : NULL, w ? w + c0 + b : NULL,
                           cl - b < BLOCK ? cl - b : BLOCK, cs);
    }
    T *ec = NULL;
    if (grad) {
        FN(segment_add)(job, grad, &cs->sg, c_start, c0, st->m);
        ec = gs == sz ? (T *)(grad + c0 * gs) : ebuf;
    }
    FN(exp_sum_span)(xc, ec, cl, st, fast, eqs, sr->block_max, sr->block_min, next);
    if (ec == ebuf)
        FN(scatter)(grad + c0 * gs, gs, ebuf, cl);
}

/* Element i of the gradient row, to prefetch for writing before it is
 * written, or NULL: a strided or absent gradient, or the logits themselves
 * (whose lines the prefetch of x brings). */
static inline char *FN(grad_ahead)(const smc_loss_job *job, const char *x, char *grad, int64_t i)
{
    const int64_t sz = (int64_t)sizeof(T);
    return grad && job->grad.step == sz && (const char *)grad != x ? grad + i * sz : NULL;
}

static inline void FN(xent_chunk_init)(smc_xent_chunk *cs)
{
    cs->p = smc_partial_empty();
    cs->u = cs->d = cs->ref = 0.0;
    cs->sg.n = 0;
}

/* ... next: the logits read after the chunk (the next chunk, the next
 * row: see xent_next), prefetched while its last span is reduced. */
static void FN(xent_chunk_pass1)(const smc_loss_job *job, const char *x, const char *q,
                                 char *grad, int64_t c_start, int64_t c_end,
                                 smc_xent_chunk *cs, smc_ahead next)
{
    const int64_t xs = job->x.step;
    T xbuf[SPAN], ebuf[SPAN];
    FN(xent_chunk_init)(cs);
    for (int64_t c0 = c_start; c0 < c_end; c0 += SPAN) {
        int64_t cl = c_end - c0 < SPAN ? c_end - c0 : SPAN;
        const T *xc = FN(contig_view)(x + c0 * xs, xs, cl, xbuf);
        smc_ahead span_next = next;
        if (c0 + cl < c_end) {
            span_next.x = xs == (int64_t)sizeof(T) ? x + (c0 + cl) * xs : NULL;
            span_next.y = FN(grad_ahead)(job, x, grad, c0 + cl);
        }
        FN(span_bounds) sr;
        FN(span_range)(xc, cl, cs, &sr);
        FN(span_exps)(job, xc, q, grad, ebuf, c_start, c0, cl, &sr, cs, span_next);
    }
}

/* What the first pass over chunk ch of the row x prefetches after it: the
 * row's next chunk, or after its last one next_row. */
static inline smc_ahead FN(xent_next)(const smc_loss_job *job, const char *x, char *grad,
                                      int64_t ch, smc_ahead next_row)
{
    smc_ahead a = next_row;
    if ((ch + 1) * SMC_CHUNK < job->g.n) {
        a.x = job->x.step == (int64_t)sizeof(T) ? x + (ch + 1) * SMC_CHUNK * job->x.step : NULL;
        a.y = FN(grad_ahead)(job, x, grad, (ch + 1) * SMC_CHUNK);
    }
    return a;
}

/* ---- cross-entropy: the row steps --------------------------------------------------
 * prep (label, target logit), pass 1 per chunk, merge (loss, gradient
 * factors), pass 2 per chunk, fix (the target's element).  Row mode runs
 * them one row at a time; split-row mode (xent_split) spreads the chunk
 * steps over threads.  Either way the same operations in the same order. */

static inline int64_t FN(chunk_end)(int64_t ch, int64_t n)
{
    return (ch + 1) * SMC_CHUNK < n ? (ch + 1) * SMC_CHUNK : n;
}

static void FN(xent_prep)(const smc_loss_job *job, const char *x, const char *tgt,
                          smc_xent_row *ri)
{
    const T *w = (const T *)job->weight;
    int64_t label = -1;
    ri->ignored = 0;
    if (job->kind == SMC_TARGET_LABELS) {
        memcpy(&label, tgt, sizeof label);
        ri->ignored = label == job->ignore_index;
        if (ri->ignored)
            label = -1;
    }
    ri->label = label;
    /* the target logit, read before the first pass may overwrite it */
    ri->xt = label >= 0 ? (double)FN(load1)(x + label * job->x.step) : 0.0;
    ri->wt = label >= 0 && w ? (double)w[label] : 1.0;
    ri->a_t = label >= 0 ? job->one_minus_eps * ri->wt : 0.0;
}

/* Chunks 0..nch-1 merged left to right; returns the row's loss. */
static double FN(xent_merge)(const smc_loss_job *job, smc_xent_row *ri,
                             const smc_xent_chunk *cs, int64_t nch)
{
    if (ri->ignored)
        return 0.0;
    smc_partial p = cs[0].p;
    for (int64_t ch = 1; ch < nch; ch++)
        smc_partial_merge(&p, &cs[ch].p, 1.0, 0.0);
    double U = 0.0, D = 0.0;
    for (int64_t ch = 0; ch < nch; ch++) {
        double d = cs[ch].d;
        /* D of each chunk moved to the row maximum, as within a chunk */
        if (isfinite(p.m) && cs[ch].ref != p.m && cs[ch].u != 0.0)
            d += (cs[ch].ref - p.m) * cs[ch].u;
        U += cs[ch].u;
        D += d;
    }
    /* wide: float64 rows get the low parts of 1/sum and log(sum) */
    smc_rowstats rs = smc_finalize(&p, 1, sizeof(T) == 8);
    /* -log p_t = log_sum - (x_t - m): two non-negative terms (log_sum_lo
     * is 0 for float32 rows, whose results need no more than a double) */
    double nll = (rs.log_sum - (ri->xt - rs.m)) + rs.log_sum_lo;
    double loss = ri->label >= 0 ? ri->a_t * nll : 0.0;
    if (job->need_u)
        loss += job->gamma * ((U * rs.log_sum - D) + U * rs.log_sum_lo);
    /* gradient = A * exp(x - m) - B * u, from the stored exp(x - m_s) */
    double gs = job->grad_scale;
    double coef = gs * (ri->a_t + job->gamma * U);
    ri->m = rs.m;
    ri->nll = nll;
    ri->u = U;
    ri->A = coef * rs.scale + coef * rs.scale_lo;
    ri->B = gs * job->gamma;
    return loss;
}

/* Pass 2 over one chunk [c_start, c_end) of the gradient row. */
static void FN(xent_chunk_grad)(const smc_loss_job *job, const char *q, char *grad,
                                const smc_xent_row *ri, const smc_xent_chunk *cs,
                                int64_t c_start, int64_t c_end)
{
    if (ri->ignored) {
        FN(fill_zero)(grad + c_start * job->grad.step, job->grad.step, c_end - c_start);
        return;
    }
    for (int s = 0; s < cs->sg.n; s++)
        FN(grad_range)(job, q, grad, cs->sg.start[s], FN(segment_end)(&cs->sg, s, c_end),
                       (T)(ri->A * FN(exp_of_diff)(cs->sg.m[s], ri->m)), (T)ri->B,
                       job->need_u);
}

static void FN(xent_fix)(const smc_loss_job *job, char *grad, const smc_xent_row *ri)
{
    if (ri->label < 0)
        return;
    /* p_t - 1 = expm1(-nll) is exact where p_t is close to 1; the vector
     * pass would have computed it as a difference. */
    double u_t = job->weight ? ri->wt : 1.0;
    double g = ri->a_t * expm1(-ri->nll);
    if (job->gamma != 0.0)      /* smoothing or probabilities: the u term */
        g += job->gamma * (ri->u * exp(-ri->nll) - u_t);
    g *= job->grad_scale;
    FN(store1)(grad + ri->label * job->grad.step, (T)g);
}

static void FN(xent_row)(const smc_loss_job *job, const char *x, const char *tgt, char *grad,
                         smc_xent_chunk *cs, double *loss_out, smc_ahead next_row)
{
    const int64_t n = job->g.n, nch = (n + SMC_CHUNK - 1) / SMC_CHUNK;
    smc_xent_row ri;
    FN(xent_prep)(job, x, tgt, &ri);
    if (ri.ignored) {
        *loss_out = 0.0;
        if (grad)
            FN(fill_zero)(grad, job->grad.step, n);
        return;
    }
    for (int64_t ch = 0; ch < nch; ch++)
        FN(xent_chunk_pass1)(job, x, tgt, grad, ch * SMC_CHUNK, FN(chunk_end)(ch, n), &cs[ch],
                             FN(xent_next)(job, x, grad, ch, next_row));
    *loss_out = FN(xent_merge)(job, &ri, cs, nch);
    if (!grad)
        return;
    for (int64_t ch = 0; ch < nch; ch++)
        FN(xent_chunk_grad)(job, tgt, grad, &ri, &cs[ch], ch * SMC_CHUNK, FN(chunk_end)(ch, n));
    FN(xent_fix)(job, grad, &ri);
}

/* Rows of one span (1 <= n <= SPAN) with contiguous logits, in groups
 * (smc_group_rows): xent_row step by step, each step over the whole group.
 * The same steps per row as xent_row: the same bits.  next[i]: row i of
 * the next group and its gradient (NULLs: none), prefetched. */
static void FN(xent_group)(const smc_loss_job *job, int64_t k, const char *const *x,
                           const char *const *tgt, char *const *grad, double *loss,
                           const smc_ahead *next)
{
    const int64_t n = job->g.n;
    smc_xent_row ri[SMC_GROUP_ROWS];
    smc_xent_chunk cs[SMC_GROUP_ROWS];
    FN(span_bounds) sr[SMC_GROUP_ROWS];
    T ebuf[SPAN];
    for (int64_t i = 0; i < k; i++) {
        FN(xent_prep)(job, x[i], tgt[i], &ri[i]);
        FN(xent_chunk_init)(&cs[i]);
        if (!ri[i].ignored)
            FN(span_range)((const T *)x[i], n, &cs[i], &sr[i]);
    }
    for (int64_t i = 0; i < k; i++)
        if (!ri[i].ignored)
            FN(span_exps)(job, (const T *)x[i], tgt[i], grad[i], ebuf, 0, 0, n, &sr[i], &cs[i],
                          next[i]);
    for (int64_t i = 0; i < k; i++)
        loss[i] = FN(xent_merge)(job, &ri[i], &cs[i], 1);
    for (int64_t i = 0; i < k; i++)
        if (grad[i])
            FN(xent_chunk_grad)(job, tgt[i], grad[i], &ri[i], &cs[i], 0, n);
    for (int64_t i = 0; i < k; i++)
        if (grad[i])
            FN(xent_fix)(job, grad[i], &ri[i]);
}

/* The group size for job's rows (xent_group), or 0: a row at a time. */
static inline int64_t FN(xent_group_rows)(const smc_loss_job *job)
{
    int64_t g = smc_group_rows(job->g.n * (int64_t)sizeof(T));
    int ok = job->g.n >= 1 && job->g.n <= SPAN && job->x.step == (int64_t)sizeof(T);
    return ok && g >= 2 ? g : 0;
}

/* ---- cross-entropy: short rows, one row per vector lane ----------------------------
 * Rows of up to SMC_XENT_SHORT_MAX classes cost a row at a time about 200
 * cycles each (horizontal reductions, the tail lanes one by one, a scalar
 * log and division per row), far more than their exps.  With integer
 * labels and no smoothing, LANES rows go at once, one per lane, like
 * short_group: the statistics and the gradient as vectors, the loss and
 * the target's gradient per lane from the lanes' constants.  A row that
 * holds +-inf or NaN, or is ignored, goes through xent_row instead: which
 * way a row goes depends on that row alone, never on its neighbours.
 * Up to 2 * LANES classes, and at least 16 where lane_sums allows it
 * (4 * LANES): rows of 10 float64 with AVX2 (4 lanes) went a row at a
 * time, at 0.7 of PyTorch's speed. */
#define SMC_XENT_SHORT_MAX (2 * LANES >= 16 ? 2 * LANES : 4 * LANES < 16 ? 4 * LANES : 16)

static inline int FN(xent_short_ok)(const smc_loss_job *job)
{
    return job->kind == SMC_TARGET_LABELS && !job->need_u && job->g.n >= 1 &&
           job->g.n <= SMC_XENT_SHORT_MAX && job->x.step == (int64_t)sizeof(T) &&
           (!job->grad.data || job->grad.step == (int64_t)sizeof(T));
}

/* k <= LANES rows of xent_batch (the same arguments). */
static void FN(xent_short)(const smc_loss_job *job, int64_t k, const char *const *x,
                           const char *const *tgt, char *const *grad, double *loss)
{
    const int64_t n = job->g.n;
    const V zero = SPLAT(0), one = SPLAT(1);
    smc_xent_row ri[LANES];
    int lane_ok[LANES];
    T xt[SMC_XENT_SHORT_MAX * LANES];       /* xt[j * LANES + l]: class j of row l */
    for (int l = 0; l < LANES; l++) {
        lane_ok[l] = 0;
        if (l < k) {
            FN(xent_prep)(job, x[l], tgt[l], &ri[l]);
            int finite = !ri[l].ignored;
            for (int64_t j = 0; j < n; j++) {
                T v = FN(load1)(x[l] + j * (int64_t)sizeof(T));
                finite &= isfinite(v) != 0;
                xt[j * LANES + l] = v;
            }
            lane_ok[l] = finite;
        }
        if (!lane_ok[l])
            for (int64_t j = 0; j < n; j++)
                xt[j * LANES + l] = (T)0;
    }
    /* the lanes' statistics (the exps kept in xv for the gradient; float32
     * sums compensated, as logsumexp's in short_group), then per lane in
     * double: m, log(sum) and 1/sum, each as hi + lo */
    V xv[SMC_XENT_SHORT_MAX];
    for (int64_t j = 0; j < n; j++)
        xv[j] = VOP(load)(xt + j * LANES);
    V m;
    const int mode = FN(lanes_mode)(xv, n, 0, &m);     /* every lane finite */
    const V neg_m = VOP(sub)(zero, m);
    FN(lane_stats) st;
#define SMC_XENT_LANE_SUMS(mode_, count_, use_t_)                                              \
    FN(lane_sums)(xv, n, m, neg_m, mode_, one, zero, use_t_, 1, sizeof(T) == 4, &st)
    SMC_DISPATCH_EXP_MODE(SMC_XENT_LANE_SUMS, mode, 1, 0);
#undef SMC_XENT_LANE_SUMS
    double md[LANES], ls_hi[LANES], ls_lo[LANES], sc_hi[LANES], sc_lo[LANES];
    const int wide = sizeof(T) == 8;
    for (int h = 0; h < LANES / F64_LANES; h++) {
        f64v hm, hc, hs, hl, a, b, unused = f64_set1(0.0);
        FN(lane_stats_half)(&st, h, &hm, &hc, &hs, &hl);
        f64_store(md + h * F64_LANES, hm);
        smc_v_finalize(SMC_OP_LOG_SOFTMAX, wide, hm, hc, hs, hl, &a, &b, &unused);
        f64_store(ls_hi + h * F64_LANES, a);
        f64_store(ls_lo + h * F64_LANES, b);
        smc_v_finalize(SMC_OP_SOFTMAX, wide, hm, hc, hs, hl, &a, &b, &unused);
        f64_store(sc_hi + h * F64_LANES, a);
        f64_store(sc_lo + h * F64_LANES, b);
    }
    /* the loss and gradient factor of each row, as xent_merge computes them
     * (no u term: no smoothing) */
    T factor[LANES];
    for (int l = 0; l < LANES; l++) {
        factor[l] = (T)0;
        if (!lane_ok[l])
            continue;
        double nll = (ls_hi[l] - (ri[l].xt - md[l])) + ls_lo[l];
        loss[l] = ri[l].label >= 0 ? ri[l].a_t * nll : 0.0;
        double coef = job->grad_scale * ri[l].a_t;
        ri[l].m = md[l];
        ri[l].nll = nll;
        ri[l].u = 0.0;
        ri[l].A = coef * sc_hi[l] + coef * sc_lo[l];
        ri[l].B = 0.0;
        factor[l] = (T)ri[l].A;
    }
    if (job->grad.data) {
        V f = VOP(load)(factor);
        for (int64_t j = 0; j < n; j++)
            VOP(store)(xt + j * LANES, VOP(mul)(xv[j], f));
        for (int l = 0; l < k; l++) {
            if (!lane_ok[l])
                continue;
            for (int64_t j = 0; j < n; j++)
                FN(store1)(grad[l] + j * (int64_t)sizeof(T), xt[j * LANES + l]);
            FN(xent_fix)(job, grad[l], &ri[l]);
        }
    }
    /* the rows left to xent_row (one chunk: n <= SMC_CHUNK) */
    for (int l = 0; l < k; l++) {
        if (lane_ok[l])
            continue;
        smc_xent_chunk cs;
        FN(xent_row)(job, x[l], tgt[l], grad[l], &cs, &loss[l], (smc_ahead){ NULL, NULL });
    }
}

/* k rows given by their pointers (loss[i]: row i's loss): in groups where
 * the rows allow it, else one at a time.  far_chunks: the chunk states of
 * rows with more chunks than fit on the stack (k * nchunks of them). */
static void FN(xent_batch)(const smc_loss_job *job, int64_t k, const char *const *x,
                           const char *const *tgt, char *const *grad, double *loss,
                           smc_xent_chunk *far_chunks)
{
    if (FN(xent_short_ok)(job)) {
        for (int64_t i = 0; i < k; i += LANES)
            FN(xent_short)(job, k - i < LANES ? k - i : LANES, x + i, tgt + i, grad + i,
                           loss + i);
        return;
    }
    /* each row prefetches the one after it (contiguous logits only) */
    const int contig = job->x.step == (int64_t)sizeof(T);
    const int64_t group = FN(xent_group_rows)(job);
    if (group) {
        for (int64_t i = 0; i < k; i += group) {
            smc_ahead next[SMC_GROUP_ROWS];
            for (int64_t j = 0, r = i + group; j < group; j++, r++) {
                next[j].x = r < k ? x[r] : NULL;
                next[j].y = r < k ? FN(grad_ahead)(job, x[r], grad[r], 0) : NULL;
            }
            FN(xent_group)(job, k - i < group ? k - i : group, x + i, tgt + i, grad + i,
                           loss + i, next);
        }
        return;
    }
    const int64_t nch = (job->g.n + SMC_CHUNK - 1) / SMC_CHUNK;
    smc_xent_chunk local[SMC_XENT_STACK_CHUNKS];
    for (int64_t i = 0; i < k; i++) {
        /* the next row's gradient lines are fetched for writing while this
         * row's exps are computed */
        smc_ahead next = { contig && i + 1 < k ? x[i + 1] : NULL, NULL };
        if (next.x)
            next.y = FN(grad_ahead)(job, x[i + 1], grad[i + 1], 0);
        FN(xent_row)(job, x[i], tgt[i], grad[i],
                     nch <= SMC_XENT_STACK_CHUNKS ? local : far_chunks + i * nch, &loss[i],
                     next);
    }
}
#undef SPAN

/* Rows whose class axis is strided (cross-entropy over a leading axis):
 * read one element per cache line, a row at a time is 10-20x slower than
 * NumPy.  Several rows at once are moved through a contiguous buffer
 * instead, class by class, so rows that are neighbours in memory are read
 * (and their gradients written) a cache line at a time and each page is
 * visited once per tile, not once per row; each row is then the same
 * contiguous computation as before (bitwise the same).  Integer labels
 * only (probabilities would need a tile of their own).  Returns the rows
 * per tile, 0 for a row at a time. */
#ifndef SMC_XENT_TILE_MAX
#define SMC_XENT_TILE_MAX 64
#define SMC_XENT_TILE_MIN 8
/* both buffers of one tile.  Each tile visits every page of its rows'
 * classes (a page per class, on the leading axis of a C array): more rows
 * per tile, fewer visits.  4096 classes over axis 0, float32: 1 MiB (31
 * rows) 8.8 ms, 4 MiB (64 rows) 5.9 ms, 8 MiB (128 rows) 5.5 ms. */
#define SMC_XENT_TILE_BYTES (1 << 22)
#endif

/* Elements between a tile's rows: one cache line more than n, since n a
 * multiple of 1024 would put a column of the tile in one set of the L1
 * cache. */
static inline int64_t FN(xent_tile_pitch)(int64_t n)
{
    return n + 64 / (int64_t)sizeof(T);
}

static int64_t FN(xent_tile_rows)(const smc_loss_job *job)
{
    if (job->x.step == (int64_t)sizeof(T) || job->kind != SMC_TARGET_LABELS || job->g.n <= 0)
        return 0;
    int64_t rows = SMC_XENT_TILE_BYTES / (2 * FN(xent_tile_pitch)(job->g.n) * (int64_t)sizeof(T));
    rows = rows < SMC_XENT_TILE_MAX ? rows : SMC_XENT_TILE_MAX;
    return rows >= SMC_XENT_TILE_MIN ? rows : 0;
}

/* The k rows at r[i] (class j at r[i] + j * step) are neighbours in memory,
 * r[i] = r[0] + i * sizeof(T), as on the leading axis of a C array. */
static int FN(rows_adjacent)(const char *const *r, int64_t k)
{
    for (int64_t i = 1; i < k; i++)
        if (r[i] != r[0] + i * (int64_t)sizeof(T))
            return 0;
    return 1;
}

/* Copies between the k rows at r (class j at r[i] + j * step) and the tile
 * rows tile + i * pitch: to the tile (in), or back (!in).  Rows that are
 * neighbours go four at a time for LANES classes at once through
 * load_steps4 / store_steps4 (the last four rows again where k is not a
 * multiple of 4: the same values): one element at a time, the copies cost
 * several times the kernel (4096 classes over axis 0: 16 ms against 2.7 ms
 * for the same rows contiguous). */
static void FN(tile_copy)(int in, T *tile, int64_t pitch, char *const *r, int64_t k,
                          int64_t n, int64_t step)
{
    int64_t j0 = 0;
    if (k >= 4 && FN(rows_adjacent)((const char *const *)r, k)) {
        for (; j0 + LANES <= n; j0 += LANES) {
            for (int64_t i = 0; i < k; i += 4) {
                int64_t i0 = i + 4 <= k ? i : k - 4;
                char *p = r[0] + j0 * step + i0 * (int64_t)sizeof(T);
                V v[4];
                if (in) {
                    VOP(load_steps4)(p, step, v);
                    for (int t = 0; t < 4; t++)
                        VOP(store)(tile + (i0 + t) * pitch + j0, v[t]);
                } else {
                    for (int t = 0; t < 4; t++)
                        v[t] = VOP(load)(tile + (i0 + t) * pitch + j0);
                    VOP(store_steps4)(p, step, v);
                }
            }
        }
    }
    for (int64_t j = j0; j < n; j++)
        for (int64_t i = 0; i < k; i++) {
            if (in)
                tile[i * pitch + j] = FN(load1)(r[i] + j * step);
            else
                FN(store1)(r[i] + j * step, tile[i * pitch + j]);
        }
}

static void FN(xent_rows)(const smc_loss_job *job, int64_t r0, int64_t r1)
{
    smc_multi_iter it;
    const smc_array *grad = job->grad.data ? &job->grad : NULL;
    const int64_t n = job->g.n, nch = (n + SMC_CHUNK - 1) / SMC_CHUNK;
    smc_multi_iter_init(&it, &job->g, &job->x, &job->target, grad, r0);
    const int64_t tile = FN(xent_tile_rows)(job);
    const int64_t pitch = FN(xent_tile_pitch)(n);
    T *buf = tile ? malloc((size_t)(2 * tile * pitch) * sizeof(T)) : NULL;
    smc_loss_job tj = *job;          /* the same rows, contiguous in buf */
    tj.x.step = tj.grad.step = (int64_t)sizeof(T);
    const int64_t xs = job->x.step, gs = job->grad.step;
    T *tx = buf, *tg = buf ? buf + tile * pitch : NULL;
    /* without a tile (none needed, or no memory for one) the rows in place */
    const int64_t batch = buf ? tile : SMC_XENT_TILE_MAX;
    for (int64_t r = r0; r < r1;) {
        int64_t k = r1 - r < batch ? r1 - r : batch;
        const char *xr[SMC_XENT_TILE_MAX], *tr[SMC_XENT_TILE_MAX];
        char *gr[SMC_XENT_TILE_MAX];
        for (int64_t i = 0; i < k; i++, smc_multi_iter_next(&it)) {
            xr[i] = (const char *)job->x.data + it.off[0];
            tr[i] = (const char *)job->target.data + it.off[1];
            gr[i] = grad ? (char *)grad->data + it.off[2] : NULL;
        }
        smc_xent_chunk *far = nch > SMC_XENT_STACK_CHUNKS ? job->chunks + r * nch : NULL;
        double *loss = &job->row_loss[r];
        r += k;
        if (!buf) {
            FN(xent_batch)(job, k, xr, tr, gr, loss, far);
            continue;
        }
        FN(tile_copy)(1, tx, pitch, (char *const *)xr, k, n, xs);
        const char *txr[SMC_XENT_TILE_MAX];
        char *tgr[SMC_XENT_TILE_MAX];
        for (int64_t i = 0; i < k; i++) {
            txr[i] = (const char *)(tx + i * pitch);
            tgr[i] = grad ? (char *)(tg + i * pitch) : NULL;
        }
        FN(xent_batch)(&tj, k, txr, tr, tgr, loss, far);
        if (grad)       /* all of the tile's x was read: grad may be x itself */
            FN(tile_copy)(0, tg, pitch, gr, k, n, gs);
    }
    free(buf);
}

static void FN(xent_split)(const smc_loss_job *job, int phase, int64_t item)
{
    const int per_row = phase == SMC_XENT_ROW_PREP || phase == SMC_XENT_ROW_MERGE ||
                        phase == SMC_XENT_ROW_FIX;
    const int64_t n = job->g.n, nch = job->nchunks;
    const int64_t row = per_row ? item : item / nch, ch = per_row ? 0 : item % nch;
    smc_multi_iter it;
    const smc_array *grad = job->grad.data ? &job->grad : NULL;
    smc_multi_iter_init(&it, &job->g, &job->x, &job->target, grad, row);
    const char *x = (const char *)job->x.data + it.off[0];
    const char *t = (const char *)job->target.data + it.off[1];
    char *g = grad ? (char *)grad->data + it.off[2] : NULL;
    smc_xent_row *ri = &job->rowinfo[row];
    smc_xent_chunk *cs = job->chunks + row * nch;
    switch (phase) {
    case SMC_XENT_ROW_PREP:
        FN(xent_prep)(job, x, t, ri);
        break;
    case SMC_XENT_CHUNK_STATS:
        if (!ri->ignored)
            FN(xent_chunk_pass1)(job, x, t, g, ch * SMC_CHUNK, FN(chunk_end)(ch, n), &cs[ch],
                                 FN(xent_next)(job, x, g, ch, (smc_ahead){ NULL, NULL }));
        break;
    case SMC_XENT_ROW_MERGE:
        job->row_loss[row] = FN(xent_merge)(job, ri, cs, nch);
        break;
    case SMC_XENT_CHUNK_GRAD:
        if (g)
            FN(xent_chunk_grad)(job, t, g, ri, &cs[ch], ch * SMC_CHUNK, FN(chunk_end)(ch, n));
        break;
    default:
        if (g)
            FN(xent_fix)(job, g, ri);
        break;
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

/* Whether every y of the block (len <= BLOCK) lies in
 * [SMC_EXP_NORMAL_MIN, -SMC_EXP_NORMAL_MIN] (NaN aside), where exp_core_normal
 * gives the very result of exp_core: a normal one, scaled by 2^n in one
 * step (log_softmax outputs nearly always are). */
static int FN(exp_normal_ok)(const T *y, int64_t len)
{
    int64_t full = len / LANES * LANES, k = len - full;
    V lo = SPLAT(0), hi = SPLAT(0);
    for (int64_t i = 0; i < full; i += LANES) {
        V yv = VOP(load)(y + i);
        lo = VOP(min)(yv, lo);          /* NaN ignored: exp_core_normal keeps it NaN */
        hi = VOP(max)(yv, hi);
    }
    if (k) {
        V yv = FN(load_partial)((const char *)(y + full), k, (T)0);
        lo = VOP(min)(yv, lo);
        hi = VOP(max)(yv, hi);
    }
    return !VOP(any)(VOP(gt)(SPLAT(SMC_EXP_NORMAL_MIN), lo)) &&
           !VOP(any)(VOP(gt)(hi, SPLAT(-SMC_EXP_NORMAL_MIN)));
}

/* out = y * (dy - s)  (softmax, s = s_hi + s_lo)  or  dy - exp(y) * s. */
static void FN(bwd_block_apply)(int op, const T *y, const T *dy, T *out, int64_t len,
                                V s_hi, V s_lo)
{
    V zero = SPLAT(0);
    int64_t full = len / LANES * LANES, k = len - full;
    int normal = op == SMC_BWD_LOG_SOFTMAX && FN(exp_normal_ok)(y, len);
    for (int64_t i = 0; i <= full; i += LANES) {
        int last = i == full;
        if (last && !k)
            break;
        V yv = last ? FN(load_partial)((const char *)(y + i), k, (T)0) : VOP(load)(y + i);
        V dv = last ? FN(load_partial)((const char *)(dy + i), k, (T)0) : VOP(load)(dy + i);
        V r;
        if (op == SMC_BWD_SOFTMAX) {
            r = VOP(mul)(yv, VOP(sub)(VOP(sub)(dv, s_hi), s_lo));
        } else {
            V ev = normal ? FN(exp_core_normal)(yv, zero) : FN(exp_core)(yv, zero);
            V neg_e = VOP(sub)(zero, ev);
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
#undef VM
#undef VOP
#undef FN
#undef SPLAT
#undef BLOCK
#undef SMC_EXP_NORMAL_MIN
