/*
 * The softmax-family kernels, written once for both dtypes.
 *
 * kernels.c includes this file twice per ISA variant, with
 *   DT     f32 | f64           (prefix of the vector ops in ../simd/)
 *   T      float | double
 *   LANES  vector width of T in this ISA
 *   and the exp constants of T (EXP_*).
 * Every function here is static: each (ISA, dtype) pair gets its own copy.
 *
 * Memory passes per row: one read pass for the statistics (max, count of
 * max, sum of exp) in blocks of BLOCK elements that stay in L1, and for
 * softmax/log_softmax one more read pass that writes the output.
 */

#define V         SMC_CAT(DT, v)
#define VM        SMC_CAT(DT, m)
#define VOP(op)   SMC_CAT3(DT, _, op)
#define FN(name)  SMC_CAT3(DT, _, name)
#define SPLAT(c)  VOP(set1)((T)(c))
#define BLOCK     (16 * LANES)

/* ---- exp ----------------------------------------------------------------- */

/* exp(a + a_err) where a_err is a tiny correction of a (the rounding error
 * of the subtraction that produced a).  Cody-Waite reduction
 * a = n*ln2 + r, |r| <= ln2/2, then a minimax polynomial for exp(r), then
 * scaling by 2^n.  NaN propagates; -inf gives +0. */
static inline V FN(exp_poly_of)(V a, V a_err, V *n_out)
{
    V t = VOP(fma)(a, SPLAT(EXP_LOG2E), SPLAT(EXP_ROUND_MAGIC));
    V n = VOP(sub)(t, SPLAT(EXP_ROUND_MAGIC));  /* round(a / ln2) */
    V r = VOP(fma)(n, SPLAT(-EXP_LN2_HI), a);   /* exact: n*LN2_HI has spare bits */
    r = VOP(fma)(n, SPLAT(-EXP_LN2_LO), r);
    r = VOP(add)(r, a_err);
    *n_out = n;
    return EXP_POLY(r);
}

/* Far from 0 (results near the ends of the range, +-inf): a clamped to
 * where exp is 0 or overflows, and 2^n applied in two exact-or-once-rounded
 * steps, so that subnormal results are rounded once (not flushed) and
 * results near the top do not overflow early. */
static inline V FN(exp_core_wide)(V a, V a_err)
{
    a = VOP(max)(SPLAT(EXP_MIN_ARG), a);        /* NaN stays in `a` */
    a = VOP(min)(SPLAT(EXP_MAX_ARG), a);
    V n;
    V p = FN(exp_poly_of)(a, a_err, &n);
    V n1 = VOP(max)(SPLAT(EXP_N1_MIN), VOP(min)(SPLAT(EXP_N1_MAX), n));
    V n2 = VOP(sub)(n, n1);
    V s1 = VOP(pow2_from_magic)(VOP(add)(n1, SPLAT(EXP_POW2_MAGIC)));
    V s2 = VOP(pow2_from_magic)(VOP(add)(n2, SPLAT(EXP_POW2_MAGIC)));
    return VOP(mul)(VOP(mul)(p, s1), s2);
}

/* exp for |a| <= EXP_FAST_LIM (or NaN): 2^n is a normal number and so is
 * the result, so one multiplication by 2^n gives bit for bit what the two
 * steps of exp_core_wide give, for a third fewer instructions. */
static inline V FN(exp_core_normal)(V a, V a_err)
{
    V n;
    V p = FN(exp_poly_of)(a, a_err, &n);
    return VOP(mul)(p, VOP(pow2_from_magic)(VOP(add)(n, SPLAT(EXP_POW2_MAGIC))));
}

static inline V FN(exp_core)(V a, V a_err)
{
    if (SMC_UNLIKELY(VOP(any)(VOP(gt)(VOP(abs)(a), SPLAT(EXP_FAST_LIM)))))
        return FN(exp_core_wide)(a, a_err);
    return FN(exp_core_normal)(a, a_err);
}

/* d = x - m rounded, plus its rounding error (Knuth's TwoSum). */
static inline V FN(sub_err)(V x, V m, V d)
{
    V bb = VOP(sub)(d, x);
    return VOP(sub)(VOP(sub)(x, VOP(sub)(d, bb)), VOP(add)(m, bb));
}

/* a * b - p exactly, for p = a * b rounded: one FMA, or without FMA
 * Dekker's product of the halves (split at 2^12 / 2^27).  The split
 * constant times an operand near the top of the range (1/T of a tiny
 * temperature, a huge x - m) overflows and the halves become NaN, so an
 * operand above BIG is split scaled by 2^-S (exact for such a number), the
 * scaled product's error is exact and finite (barring underflow, as
 * always), and scaling it back by 2^S is exact again.  Other lanes are
 * scaled by 1: their results keep every bit. */
static inline V FN(mul_err)(V a, V b, V p)
{
#if SMC_ISA_HAS_FMA
    return VOP(fma)(a, b, VOP(sub)(SPLAT(0), p));
#else
    const V split = SPLAT(sizeof(T) == 4 ? 4097.0 : 134217729.0);
    /* BIG * 2^S >= the largest T, and split * BIG does not overflow */
    const V big = SPLAT(sizeof(T) == 4 ? 0x1p100 : 0x1p960);
    const V down = SPLAT(sizeof(T) == 4 ? 0x1p-28 : 0x1p-64);
    const V up = SPLAT(sizeof(T) == 4 ? 0x1p28 : 0x1p64), one = SPLAT(1);
    VM big_a = VOP(gt)(VOP(abs)(a), big), big_b = VOP(gt)(VOP(abs)(b), big);
    a = VOP(mul)(a, VOP(select)(big_a, down, one));
    b = VOP(mul)(b, VOP(select)(big_b, down, one));
    p = VOP(mul)(VOP(mul)(p, VOP(select)(big_a, down, one)), VOP(select)(big_b, down, one));
    V ca = VOP(mul)(split, a), cb = VOP(mul)(split, b);
    V ah = VOP(sub)(ca, VOP(sub)(ca, a)), al = VOP(sub)(a, ah);
    V bh = VOP(sub)(cb, VOP(sub)(cb, b)), bl = VOP(sub)(b, bh);
    V e = VOP(sub)(VOP(mul)(ah, bh), p);
    e = VOP(add)(VOP(add)(e, VOP(mul)(ah, bl)), VOP(mul)(al, bh));
    e = VOP(add)(e, VOP(mul)(al, bl));
    return VOP(mul)(VOP(mul)(e, VOP(select)(big_a, up, one)), VOP(select)(big_b, up, one));
#endif
}

/* (x - m) / T as a value plus a correction term: the rounding error of the
 * subtraction, and with a temperature the product's rounding error and the
 * low part inv_lo of 1/T, so (x - m)/T is known to about twice T's
 * precision even where it is large (a single rounding would cost
 * |x - m|/T / 2 ulp of the result).  The correction is clamped to a tiny
 * range: inf - inf = NaN in the correction of a -inf input must not poison
 * an exact 0 result, nor may the huge rounding error of a huge d. */
static inline V FN(scaled_diff)(V x, V m, V inv_t, V inv_lo, int use_t, V *err)
{
    V d = VOP(sub)(x, m);
    V e = FN(sub_err)(x, m, d);
    if (use_t) {
        V a = VOP(mul)(d, inv_t);
        e = VOP(fma)(e, inv_t, VOP(fma)(d, inv_lo, FN(mul_err)(d, inv_t, a)));
        d = a;
    }
    e = VOP(max)(e, SPLAT(-0x1p-10));           /* NaN -> -2^-10 */
    *err = VOP(min)(e, SPLAT(0x1p-10));
    return d;
}

#ifndef SMC_EXP_MODES
#define SMC_EXP_MODES
/* How a block's exp(x - m) is computed, chosen once per block (exp_mode): */
enum {
    SMC_EXP_SLOW = 0,   /* x may be -inf, or x - m out of exp_core_normal's range */
    SMC_EXP_TWOSUM,     /* x - m in range: its rounding error by TwoSum */
    SMC_EXP_M_BIGGER,   /* ... and every |x| <= |m|: Fast2Sum (-m) + x */
    SMC_EXP_X_BIGGER    /* ... and every |x| >= |m|: Fast2Sum x + (-m) */
};
#endif

/* exp(x - m) with the rounding error of x - m carried in, for a block in
 * one of the fast modes (not SLOW): no clamps, no range check, and the
 * Fast2Sum modes find the same exact error in two operations instead of
 * five, so every mode gives the same bits. */
static inline V FN(exp_diff_fast)(V x, V m, V neg_m, int mode)
{
    V d = VOP(sub)(x, m), err;
    if (mode == SMC_EXP_M_BIGGER)
        err = VOP(sub)(x, VOP(add)(d, m));
    else if (mode == SMC_EXP_X_BIGGER)
        err = VOP(sub)(neg_m, VOP(sub)(d, x));
    else
        err = FN(sub_err)(x, m, d);
    return FN(exp_core_normal)(d, err);
}

/* The mode for a block whose elements lie in [lo, m] (lo its smallest,
 * m the maximum they are shifted by).  A margin of 1 covers the rounding
 * of x - m; -inf, +inf and NaN bounds give SLOW. */
static inline int FN(exp_mode)(double lo, double m, int use_t)
{
    if (use_t || !(lo - m >= 1.0 - EXP_FAST_LIM))
        return SMC_EXP_SLOW;
    if (m < 0.0)
        return SMC_EXP_X_BIGGER;
    return lo >= -m ? SMC_EXP_M_BIGGER : SMC_EXP_TWOSUM;
}

/* exp((x - m)/T) with the correction carried into the polynomial. */
static inline V FN(exp_diff)(V x, V m, V inv_t, V inv_lo, int use_t)
{
    V e;
    V d = FN(scaled_diff)(x, m, inv_t, inv_lo, use_t, &e);
    return FN(exp_core)(d, e);
}

/* exp((x - m)/T) * scale with scale = sc_hi + sc_lo: the FMA rounds once
 * where the ISA has it, so 1/sum costs no rounding of its own. */
static inline V FN(softmax_vec)(V x, V m, V sc_hi, V sc_lo, V inv_t, V inv_lo, int use_t)
{
    V p = FN(exp_diff)(x, m, inv_t, inv_lo, use_t);
    return VOP(fma)(p, sc_hi, VOP(mul)(p, sc_lo));
}

/* (x - m)/T - log_sum, with log_sum = ls_hi + ls_lo.  Both parts are <= 0,
 * so there is no cancellation. */
static inline V FN(log_softmax_vec)(V x, V m, V ls_hi, V ls_lo, V inv_t, V inv_lo, int use_t)
{
    V e;
    V d = FN(scaled_diff)(x, m, inv_t, inv_lo, use_t, &e);
    return VOP(add)(VOP(sub)(d, ls_hi), VOP(sub)(e, ls_lo));
}

/* The T pair hi + lo nearest to the two-term double v + v_lo (for 1/T,
 * the scale and log(sum)). */
static inline void FN(split2)(double v, double v_lo, T *hi, T *lo)
{
    *hi = (T)v;
    *lo = (T)((v - (double)*hi) + v_lo);
}

/* ---- small helpers ------------------------------------------------------- */

static inline T FN(load1)(const char *p)
{
    T v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void FN(store1)(char *p, T v) { memcpy(p, &v, sizeof v); }

/* First k (0 < k < LANES) elements from p, the other lanes hold `fill`;
 * nothing past p + k is touched. */
static inline V FN(load_partial)(const char *p, int64_t k, T fill)
{
    return VOP(load_part)((const T *)p, k, fill);
}

static inline void FN(store_partial)(char *p, V v, int64_t k)
{
    VOP(store_part)((T *)p, v, k);
}

/* Lanes summed left to right in double (deterministic order). */
static inline double FN(hsum)(V v)
{
    T buf[LANES];
    VOP(store)(buf, v);
    double s = 0.0;
    for (int i = 0; i < LANES; i++)
        s += buf[i];
    return s;
}

static inline double FN(hmax)(V v)
{
    T buf[LANES];
    VOP(store)(buf, v);
    double m = -INFINITY;
    for (int i = 0; i < LANES; i++)
        if (buf[i] > m)
            m = buf[i];
    return m;
}

/* n elements, `step` bytes apart, into a contiguous buffer. */
static inline void FN(gather)(T *buf, const char *p, int64_t step, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        memcpy(&buf[i], p + i * step, sizeof(T));
}

static inline void FN(scatter)(char *p, int64_t step, const T *buf, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        memcpy(p + i * step, &buf[i], sizeof(T));
}

/* ---- row statistics ---------------------------------------------------------- */

/* Sum of exp(x - m) over the full vectors of a block in a fast mode
 * (exp_mode) where no element equals m (so none is counted apart). */
static inline V FN(exp_sum_fast)(const T *x, int64_t full, V m, int mode)
{
    V acc0 = SPLAT(0), acc1 = SPLAT(0), neg_m = VOP(sub)(SPLAT(0), m);
    int64_t i = 0;
    for (; i + 2 * LANES <= full; i += 2 * LANES) {
        acc0 = VOP(add)(acc0, FN(exp_diff_fast)(VOP(load)(x + i), m, neg_m, mode));
        acc1 = VOP(add)(acc1, FN(exp_diff_fast)(VOP(load)(x + i + LANES), m, neg_m, mode));
    }
    if (i < full)
        acc0 = VOP(add)(acc0, FN(exp_diff_fast)(VOP(load)(x + i), m, neg_m, mode));
    return VOP(add)(acc0, acc1);
}

/* Fold one contiguous block (len <= BLOCK) into the running partial st:
 * first the block maximum (and minimum), then the exp-sum against the new
 * maximum. */
static void FN(stats_block)(const char *xb, int64_t len, smc_partial *st,
                            double inv_t_s, double inv_t_lo, int use_t)
{
    const T *x = (const T *)xb;
    int64_t full = len / LANES * LANES, k = len - full;
    V vmax = SPLAT(-INFINITY), vmin = SPLAT(INFINITY);
    for (int64_t i = 0; i < full; i += LANES) {
        V xv = VOP(load)(x + i);
        vmax = VOP(max)(xv, vmax);                    /* NaN ignored */
        vmin = VOP(min)(xv, vmin);
    }
    V tail = SPLAT(-INFINITY);
    if (k)
        tail = FN(load_partial)((const char *)(x + full), k, (T)-INFINITY);
    vmax = VOP(max)(tail, vmax);
    double bm = FN(hmax)(vmax);
    if (bm > st->m)
        smc_partial_rescale(st, bm, inv_t_s, inv_t_lo);

    T ih, il;
    FN(split2)(inv_t_s, inv_t_lo, &ih, &il);
    V m = SPLAT(st->m), inv_t = SPLAT(ih), inv_lo = SPLAT(il);
    V zero = SPLAT(0), one = SPLAT(1);
    V acc0 = zero, acc1 = zero, cnt = zero;
#define SMC_TERM(acc, xv)                                                     \
    do {                                                                      \
        V xv_ = (xv);                                                         \
        VM eq_ = VOP(eq)(xv_, m);                                             \
        V e_ = FN(exp_diff)(xv_, m, inv_t, inv_lo, use_t);                    \
        acc = VOP(add)(acc, VOP(select)(eq_, zero, e_));                      \
        cnt = VOP(add)(cnt, VOP(select)(eq_, one, zero));                     \
    } while (0)
    /* The common block: below the running maximum and within exp's normal
     * range, so no element needs counting apart and no lane a clamp. */
    int mode = bm < st->m ? FN(exp_mode)(-FN(hmax)(VOP(sub)(zero, vmin)), st->m, use_t)
                          : SMC_EXP_SLOW;
    if (mode == SMC_EXP_M_BIGGER) {       /* one call per mode: each is specialised */
        acc0 = FN(exp_sum_fast)(x, full, m, SMC_EXP_M_BIGGER);
    } else if (mode == SMC_EXP_X_BIGGER) {
        acc0 = FN(exp_sum_fast)(x, full, m, SMC_EXP_X_BIGGER);
    } else if (mode == SMC_EXP_TWOSUM) {
        acc0 = FN(exp_sum_fast)(x, full, m, SMC_EXP_TWOSUM);
    } else {
        int64_t i = 0;
        for (; i + 2 * LANES <= full; i += 2 * LANES) {
            SMC_TERM(acc0, VOP(load)(x + i));
            SMC_TERM(acc1, VOP(load)(x + i + LANES));
        }
        if (i < full)
            SMC_TERM(acc0, VOP(load)(x + i));
    }
    if (k)
        SMC_TERM(acc1, tail);
#undef SMC_TERM
    double bsum = FN(hsum)(VOP(add)(acc0, acc1));
    double bcnt = FN(hsum)(cnt);
    /* The -inf padding of the tail adds exp(-inf) = 0 to the sum, but it
     * was counted as a max element when the maximum itself is -inf. */
    if (k && st->m == -INFINITY)
        bcnt -= (double)(LANES - k);
    st->c += bcnt;
    smc_twosum_add(&st->s_hi, &st->s_lo, bsum);
}

/* Partial of one chunk (len <= SMC_CHUNK) of a row with any element step. */
static smc_partial FN(chunk_partial)(const char *x, int64_t step, int64_t len,
                                     double inv_t, double inv_t_lo, int use_t)
{
    smc_partial st = smc_partial_empty();
    T buf[BLOCK];
    for (int64_t b = 0; b < len; b += BLOCK) {
        int64_t bl = len - b < BLOCK ? len - b : BLOCK;
        const char *p = x + b * step;
        if (step != (int64_t)sizeof(T)) {
            FN(gather)(buf, p, step, bl);
            p = (const char *)buf;
        }
        FN(stats_block)(p, bl, &st, inv_t, inv_t_lo, use_t);
    }
    return st;
}

/* Statistics of a whole row: chunk partials merged left to right (the same
 * sequence the multi-threaded split of a long row produces). */
static smc_rowstats FN(row_stats)(const char *x, int64_t step, int64_t n,
                                  double inv_t, double inv_t_lo, int use_t, int need_log)
{
    smc_partial acc = smc_partial_empty();
    for (int64_t c0 = 0; c0 < n; c0 += SMC_CHUNK) {
        int64_t len = n - c0 < SMC_CHUNK ? n - c0 : SMC_CHUNK;
        smc_partial p = FN(chunk_partial)(x + c0 * step, step, len, inv_t, inv_t_lo, use_t);
        if (c0 == 0)
            acc = p;
        else
            smc_partial_merge(&acc, &p, inv_t, inv_t_lo);
    }
    return smc_finalize(&acc, need_log, sizeof(T) == 8);
}

/* ---- output pass ----------------------------------------------------------- */

/* y[i] = f(x[i]) over one contiguous piece (y may be x). */
static void FN(apply_contig)(int op, const T *x, T *y, int64_t len,
                             const smc_rowstats *st, double inv_t_s, double inv_t_lo,
                             int use_t)
{
    T ih, il, hi, lo;
    FN(split2)(inv_t_s, inv_t_lo, &ih, &il);
    V m = SPLAT(st->m), inv_t = SPLAT(ih), inv_lo = SPLAT(il);
    int64_t full = len / LANES * LANES, k = len - full;
    if (op == SMC_OP_SOFTMAX) {
        FN(split2)(st->scale, st->scale_lo, &hi, &lo);
        V sc_hi = SPLAT(hi), sc_lo = SPLAT(lo);
        for (int64_t i = 0; i < full; i += LANES)
            VOP(store)(y + i, FN(softmax_vec)(VOP(load)(x + i), m, sc_hi, sc_lo, inv_t, inv_lo,
                                              use_t));
        if (k) {
            V xv = FN(load_partial)((const char *)(x + full), k, (T)0);
            FN(store_partial)((char *)(y + full),
                              FN(softmax_vec)(xv, m, sc_hi, sc_lo, inv_t, inv_lo, use_t), k);
        }
    } else {
        FN(split2)(st->log_sum, st->log_sum_lo, &hi, &lo);
        V ls_hi = SPLAT(hi), ls_lo = SPLAT(lo);
        for (int64_t i = 0; i < full; i += LANES)
            VOP(store)(y + i, FN(log_softmax_vec)(VOP(load)(x + i), m, ls_hi, ls_lo, inv_t, inv_lo,
                                                  use_t));
        if (k) {
            V xv = FN(load_partial)((const char *)(x + full), k, (T)0);
            FN(store_partial)((char *)(y + full),
                              FN(log_softmax_vec)(xv, m, ls_hi, ls_lo, inv_t, inv_lo, use_t), k);
        }
    }
}

/* Output pass over len elements with any steps, a block at a time. */
static void FN(apply_strided)(int op, const char *x, int64_t xstep, char *y,
                              int64_t ystep, int64_t len, const smc_rowstats *st,
                              double inv_t, double inv_t_lo, int use_t)
{
    const int64_t sz = (int64_t)sizeof(T);
    if (xstep == sz && ystep == sz) {
        FN(apply_contig)(op, (const T *)x, (T *)y, len, st, inv_t, inv_t_lo, use_t);
        return;
    }
    T in[BLOCK], out[BLOCK];
    for (int64_t b = 0; b < len; b += BLOCK) {
        int64_t bl = len - b < BLOCK ? len - b : BLOCK;
        const T *src = (const T *)(x + b * xstep);
        if (xstep != sz) {
            FN(gather)(in, x + b * xstep, xstep, bl);
            src = in;
        }
        T *dst = ystep == sz ? (T *)(y + b * ystep) : out;
        FN(apply_contig)(op, src, dst, bl, st, inv_t, inv_t_lo, use_t);
        if (ystep != sz)
            FN(scatter)(y + b * ystep, ystep, out, bl);
    }
}

/* ---- softmax with one exp per element ------------------------------------------
 * Pass 1 finds the chunk maximum m; pass 2 writes e = exp((x - m)/T) to y
 * (with the x - m rounding error carried in) and sums it; once the row
 * total S is known, pass 3 multiplies each chunk by exp((m - M)/T) / S
 * (just 1/S when the row is one chunk).  The second and third passes run
 * while the chunk is still in cache. */

/* Largest element of a chunk (NaN ignored), in *lo its smallest, and in
 * block_max the lane-wise maxima of each BLOCK (LANES values per block). */
static double FN(chunk_range)(const char *x, int64_t step, int64_t len, double *lo,
                              T *block_max)
{
    T buf[BLOCK];
    V vmax = SPLAT(-INFINITY), vmin = SPLAT(INFINITY);
    for (int64_t b = 0; b < len; b += BLOCK) {
        int64_t bl = len - b < BLOCK ? len - b : BLOCK;
        const T *p = (const T *)(x + b * step);
        if (step != (int64_t)sizeof(T)) {
            FN(gather)(buf, x + b * step, step, bl);
            p = buf;
        }
        int64_t full = bl / LANES * LANES;
        V bmax = SPLAT(-INFINITY);
        for (int64_t i = 0; i < full; i += LANES) {
            V xv = VOP(load)(p + i);
            bmax = VOP(max)(xv, bmax);       /* NaN ignored */
            vmin = VOP(min)(xv, vmin);
        }
        if (full < bl) {
            const char *t = (const char *)(p + full);
            bmax = VOP(max)(FN(load_partial)(t, bl - full, (T)-INFINITY), bmax);
            vmin = VOP(min)(FN(load_partial)(t, bl - full, (T)INFINITY), vmin);
        }
        VOP(store)(block_max + b / BLOCK * LANES, bmax);
        vmax = VOP(max)(bmax, vmax);
    }
    *lo = -FN(hmax)(VOP(sub)(SPLAT(0), vmin));
    return FN(hmax)(vmax);
}

/* Pass 2 over one contiguous block (bl <= BLOCK) of a chunk: dst = exp of
 * src against the chunk maximum m, and the block's (sum, count of m).
 * mode (exp_mode): not SLOW only where the block holds no element equal to
 * m, so nothing is counted apart or clamped; the sum is bit for bit the one
 * of the general path. */
static inline void FN(softmax_block_exp)(const T *src, T *dst, int64_t bl, V m, V inv_t,
                                         V inv_lo, int use_t, int mode, double *sum,
                                         double *count)
{
    V zero = SPLAT(0), one = SPLAT(1), neg_m = VOP(sub)(zero, m);
    int64_t full = bl / LANES * LANES, k = bl - full;
    V acc0 = zero, acc1 = zero, cnt = zero;
    if (mode != SMC_EXP_SLOW) {
        int64_t i = 0;
        for (; i + 2 * LANES <= full; i += 2 * LANES) {
            V e0 = FN(exp_diff_fast)(VOP(load)(src + i), m, neg_m, mode);
            V e1 = FN(exp_diff_fast)(VOP(load)(src + i + LANES), m, neg_m, mode);
            VOP(store)(dst + i, e0);
            VOP(store)(dst + i + LANES, e1);
            acc0 = VOP(add)(acc0, e0);
            acc1 = VOP(add)(acc1, e1);
        }
        if (i < full) {
            V e0 = FN(exp_diff_fast)(VOP(load)(src + i), m, neg_m, mode);
            VOP(store)(dst + i, e0);
            acc0 = VOP(add)(acc0, e0);
        }
    } else {
        for (int64_t i = 0; i < full; i += LANES) {
            V xv = VOP(load)(src + i);
            VM eq = VOP(eq)(xv, m);
            V e = FN(exp_diff)(xv, m, inv_t, inv_lo, use_t);
            VOP(store)(dst + i, e);
            if ((i / LANES) & 1)
                acc1 = VOP(add)(acc1, VOP(select)(eq, zero, e));
            else
                acc0 = VOP(add)(acc0, VOP(select)(eq, zero, e));
            cnt = VOP(add)(cnt, VOP(select)(eq, one, zero));
        }
    }
    if (k) {
        /* padding is -inf: exp gives 0, and it equals m only when m = -inf */
        V xv = FN(load_partial)((const char *)(src + full), k, (T)-INFINITY);
        VM eq = VOP(eq)(xv, m);
        V e = FN(exp_diff)(xv, m, inv_t, inv_lo, use_t);
        FN(store_partial)((char *)(dst + full), e, k);
        acc1 = VOP(add)(acc1, VOP(select)(eq, zero, e));
        cnt = VOP(add)(cnt, VOP(select)(eq, one, zero));
    }
    *sum = FN(hsum)(VOP(add)(acc0, acc1));
    *count = FN(hsum)(cnt);
}

/* Passes 1 and 2 over one chunk; returns its partial (m, count of m, sum). */
static smc_partial FN(softmax_chunk_exp)(const char *x, int64_t xstep, char *y, int64_t ystep,
                                         int64_t len, double inv_t_s, double inv_t_lo, int use_t)
{
    const int64_t sz = (int64_t)sizeof(T);
    smc_partial st = smc_partial_empty();
    double lo;
    T block_max[SMC_CHUNK / BLOCK * LANES];
    st.m = FN(chunk_range)(x, xstep, len, &lo, block_max);
    int chunk_mode = FN(exp_mode)(lo, st.m, use_t);
    T ih, il;
    FN(split2)(inv_t_s, inv_t_lo, &ih, &il);
    V m = SPLAT(st.m), inv_t = SPLAT(ih), inv_lo = SPLAT(il);
    T in[BLOCK], out[BLOCK];
    for (int64_t b = 0; b < len; b += BLOCK) {
        int64_t bl = len - b < BLOCK ? len - b : BLOCK;
        const T *src = (const T *)(x + b * xstep);
        if (xstep != sz) {
            FN(gather)(in, x + b * xstep, xstep, bl);
            src = in;
        }
        T *dst = ystep == sz ? (T *)(y + b * ystep) : out;
        double bsum, bcnt;
        int mode = VOP(any)(VOP(eq)(VOP(load)(block_max + b / BLOCK * LANES), m))
                       ? SMC_EXP_SLOW : chunk_mode;
        /* one call site per mode: each is specialised for its case */
        if (mode == SMC_EXP_M_BIGGER)
            FN(softmax_block_exp)(src, dst, bl, m, inv_t, inv_lo, 0, SMC_EXP_M_BIGGER, &bsum, &bcnt);
        else if (mode == SMC_EXP_X_BIGGER)
            FN(softmax_block_exp)(src, dst, bl, m, inv_t, inv_lo, 0, SMC_EXP_X_BIGGER, &bsum, &bcnt);
        else if (mode == SMC_EXP_TWOSUM)
            FN(softmax_block_exp)(src, dst, bl, m, inv_t, inv_lo, 0, SMC_EXP_TWOSUM, &bsum, &bcnt);
        else
            FN(softmax_block_exp)(src, dst, bl, m, inv_t, inv_lo, use_t, SMC_EXP_SLOW, &bsum,
                                  &bcnt);
        if (bl % LANES && st.m == -INFINITY)
            bcnt -= (double)(LANES - bl % LANES);
        st.c += bcnt;
        smc_twosum_add(&st.s_hi, &st.s_lo, bsum);
        if (ystep != sz)
            FN(scatter)(y + b * ystep, ystep, out, bl);
    }
    return st;
}

/* The factor exp((m_chunk - M)/T) / S (row maximum M, S = 1/scale) as a
 * two-term T value hi + lo.  Returns 1 where the chunk's exps are NaN from
 * -inf - (-inf) (a chunk of only -inf or NaN under a finite row maximum):
 * its results are then the factor itself, 0 (NaN if the row is NaN). */
static int FN(chunk_factor)(double m_chunk, const smc_rowstats *st, double inv_t,
                            double inv_t_lo, T *hi, T *lo)
{
    double f = st->scale, f_lo = st->scale_lo;
    if (m_chunk != st->m) {
        double g_lo, g = smc_exp_diff_extended(m_chunk, st->m, inv_t, inv_t_lo, &g_lo);
        double p_err;
        f = smc_two_prod(g, st->scale, &p_err);
        f_lo = p_err + (g * st->scale_lo + g_lo * st->scale);
        if (f == 0.0 || !isfinite(f_lo))
            f_lo = 0.0;
    }
    FN(split2)(f, f_lo, hi, lo);
    return m_chunk == -INFINITY && st->m != -INFINITY;
}

/* Pass 3: y *= factor over one chunk, where the chunk holds exp((x - m_chunk)/T)
 * and factor = exp((m_chunk - M)/T) / S, both kept two-term (hi + lo) and
 * applied with one FMA, so the result is rounded once more, not three times. */
static void FN(softmax_chunk_scale)(char *y, int64_t ystep, int64_t len, double m_chunk,
                                    const smc_rowstats *st, double inv_t, double inv_t_lo)
{
    T hi, lo;
    int fill = FN(chunk_factor)(m_chunk, st, inv_t, inv_t_lo, &hi, &lo);
    V fv = SPLAT(hi), fv_lo = SPLAT(lo);
    T buf[BLOCK];
    for (int64_t b = 0; b < len; b += BLOCK) {
        int64_t bl = len - b < BLOCK ? len - b : BLOCK;
        T *p = (T *)(y + b * ystep);
        if (ystep != (int64_t)sizeof(T)) {
            FN(gather)(buf, y + b * ystep, ystep, bl);
            p = buf;
        }
        int64_t full = bl / LANES * LANES;
        for (int64_t i = 0; i < full; i += LANES) {
            V v = VOP(load)(p + i);
            VOP(store)(p + i, fill ? fv : VOP(fma)(v, fv, VOP(mul)(v, fv_lo)));
        }
        if (full < bl) {
            V v = FN(load_partial)((const char *)(p + full), bl - full, (T)0);
            FN(store_partial)((char *)(p + full), fill ? fv : VOP(fma)(v, fv, VOP(mul)(v, fv_lo)),
                              bl - full);
        }
        if (ystep != (int64_t)sizeof(T))
            FN(scatter)(y + b * ystep, ystep, buf, bl);
    }
}

static void FN(softmax_row)(const char *x, int64_t xstep, char *y, int64_t ystep, int64_t n,
                            double inv_t, double inv_t_lo, int use_t)
{
    if (n <= SMC_CHUNK) {
        smc_partial p = FN(softmax_chunk_exp)(x, xstep, y, ystep, n, inv_t, inv_t_lo, use_t);
        smc_rowstats st = smc_finalize(&p, 0, sizeof(T) == 8);
        FN(softmax_chunk_scale)(y, ystep, n, p.m, &st, inv_t, inv_t_lo);
        return;
    }
    /* long row: pass 3 needs every chunk's maximum (x may be overwritten
     * by then, when y is x) */
    enum { ON_STACK = 1024 };
    int64_t nchunks = (n + SMC_CHUNK - 1) / SMC_CHUNK;
    double stack_mk[ON_STACK];
    double *mk = nchunks <= ON_STACK ? stack_mk : malloc((size_t)nchunks * sizeof(double));
    if (!mk) {
        /* no memory for the maxima: two exps per element, no scratch */
        smc_rowstats st = FN(row_stats)(x, xstep, n, inv_t, inv_t_lo, use_t, 0);
        FN(apply_strided)(SMC_OP_SOFTMAX, x, xstep, y, ystep, n, &st, inv_t, inv_t_lo, use_t);
        return;
    }
    smc_partial acc = smc_partial_empty();
    for (int64_t ch = 0; ch < nchunks; ch++) {
        int64_t c0 = ch * SMC_CHUNK, len = n - c0 < SMC_CHUNK ? n - c0 : SMC_CHUNK;
        smc_partial p = FN(softmax_chunk_exp)(x + c0 * xstep, xstep, y + c0 * ystep, ystep,
                                              len, inv_t, inv_t_lo, use_t);
        mk[ch] = p.m;
        if (ch == 0)
            acc = p;
        else
            smc_partial_merge(&acc, &p, inv_t, inv_t_lo);
    }
    smc_rowstats st = smc_finalize(&acc, 0, sizeof(T) == 8);
    for (int64_t ch = 0; ch < nchunks; ch++) {
        int64_t c0 = ch * SMC_CHUNK, len = n - c0 < SMC_CHUNK ? n - c0 : SMC_CHUNK;
        FN(softmax_chunk_scale)(y + c0 * ystep, ystep, len, mk[ch], &st, inv_t, inv_t_lo);
    }
    if (mk != stack_mk)
        free(mk);
}

/* ---- entry points of the kernel table -------------------------------------------- */

static void FN(rows)(const smc_job *job, int64_t r0, int64_t r1)
{
    smc_row_iter it;
    smc_row_iter_init(&it, job, r0);
    const char *xb = (const char *)job->x.data;
    char *yb = (char *)job->y.data;
    for (int64_t r = r0; r < r1; r++, smc_row_iter_next(&it)) {
        const char *x = xb + it.xoff;
        char *y = yb + it.yoff;
        if (job->op == SMC_OP_SOFTMAX) {
            FN(softmax_row)(x, job->x.step, y, job->y.step, job->g.n, job->inv_t, job->inv_t_lo,
                            job->use_t);
            continue;
        }
        smc_rowstats st = FN(row_stats)(x, job->x.step, job->g.n, job->inv_t, job->inv_t_lo,
                                        job->use_t, 1);
        if (job->op == SMC_OP_LOGSUMEXP)
            FN(store1)(y, (T)st.lse);
        else
            FN(apply_strided)(job->op, x, job->x.step, y, job->y.step, job->g.n, &st,
                              job->inv_t, job->inv_t_lo, job->use_t);
    }
}

static void FN(chunk_stats)(const smc_job *job, int64_t row, int64_t chunk)
{
    int64_t xoff, yoff;
    smc_offsets(job, row, job->g.ndim, &xoff, &yoff);
    int64_t c0 = chunk * SMC_CHUNK;
    int64_t len = job->g.n - c0 < SMC_CHUNK ? job->g.n - c0 : SMC_CHUNK;
    const char *x = (const char *)job->x.data + xoff + c0 * job->x.step;
    smc_partial *out = &job->partials[row * job->nchunks + chunk];
    if (job->op == SMC_OP_SOFTMAX) {   /* writes exp to y, as softmax_row does */
        char *y = (char *)job->y.data + yoff + c0 * job->y.step;
        *out = FN(softmax_chunk_exp)(x, job->x.step, y, job->y.step, len, job->inv_t,
                                     job->inv_t_lo, job->use_t);
        return;
    }
    *out = FN(chunk_partial)(x, job->x.step, len, job->inv_t, job->inv_t_lo, job->use_t);
}

static void FN(chunk_apply)(const smc_job *job, int64_t row, int64_t chunk)
{
    int64_t xoff, yoff;
    smc_offsets(job, row, job->g.ndim, &xoff, &yoff);
    int64_t c0 = chunk * SMC_CHUNK;
    int64_t len = job->g.n - c0 < SMC_CHUNK ? job->g.n - c0 : SMC_CHUNK;
    const char *x = (const char *)job->x.data + xoff + c0 * job->x.step;
    char *y = (char *)job->y.data + yoff + c0 * job->y.step;
    if (job->op == SMC_OP_SOFTMAX) {
        FN(softmax_chunk_scale)(y, job->y.step, len, job->partials[row * job->nchunks + chunk].m,
                                &job->stats[row], job->inv_t, job->inv_t_lo);
        return;
    }
    FN(apply_strided)(job->op, x, job->x.step, y, job->y.step, len, &job->stats[row],
                      job->inv_t, job->inv_t_lo, job->use_t);
}

/* ---- column mode ------------------------------------------------------------------
 * The reduced axis is not the contiguous one, but neighbouring rows are
 * neighbours in memory: LANES rows are reduced at once, one per lane, so
 * every load is a full contiguous vector instead of a gather. */

#define SMC_COL_CHUNK 64   /* steps re-read from cache by the second pass; small because power-of-two strides map to few cache sets */
#define SMC_COL_FLUSH 8     /* steps summed in T before moving into double */

/* The k (<= LANES) lanes of one step: lane l at p + l * lane_stride. */
static inline V FN(col_load)(const char *p, int64_t k, int64_t lane_stride)
{
    if (lane_stride == (int64_t)sizeof(T))
        return k == LANES ? VOP(load)((const T *)p) : FN(load_partial)(p, k, (T)-INFINITY);
    if (k == LANES && lane_stride > -(INT32_MAX / LANES) && lane_stride < INT32_MAX / LANES)
        return VOP(gather_lanes)(p, (int32_t)lane_stride);
    T buf[LANES];
    for (int l = 0; l < LANES; l++)
        buf[l] = l < k ? FN(load1)(p + l * lane_stride) : (T)-INFINITY;
    return VOP(load)(buf);
}

/* Store the k (<= LANES) lanes of v to neighbouring elements at p. */
static inline void FN(col_store)(char *p, V v, int64_t k)
{
    if (k == LANES)
        VOP(store)((T *)p, v);
    else
        FN(store_partial)(p, v, k);
}

/* m[g] = the lane-wise maximum over all n steps (NaN ignored). */
static void FN(col_max)(const char *x, int64_t xs, int64_t ls, int64_t n, int64_t k,
                        const int64_t *kv, int nv, V *m)
{
    for (int64_t i = 0; i < n; i++) {
        if (i + SMC_PREFETCH_STEPS < n)
            for (int64_t b = 0; b < k * ls; b += 64)
                SMC_PREFETCH(x + (i + SMC_PREFETCH_STEPS) * xs + b);
        for (int g = 0; g < nv; g++)
            m[g] = VOP(max)(FN(col_load)(x + i * xs + g * LANES * ls, kv[g], ls), m[g]);
    }
}

/* Reduce k <= SMC_COL_VECS * LANES adjacent rows, SMC_COL_VECS vectors of
 * LANES rows side by side: a step then reads whole cache lines, and the
 * page (TLB entry) of each step is paid once for all of them. */
static void FN(col_group)(const smc_job *job, const char *x, char *y, int64_t k)
{
    enum { G = SMC_COL_VECS, W = SMC_COL_VECS * LANES };
    const int64_t n = job->g.n, xs = job->x.step, ys = job->y.step;
    const int64_t ls = job->x.strides[job->g.ndim - 1];   /* between lanes */
    const int64_t ylane = job->y.strides[job->g.ndim - 1];
    const int use_t = job->use_t;
    T ih, il;
    FN(split2)(job->inv_t, job->inv_t_lo, &ih, &il);
    const V inv_t = SPLAT(ih), inv_lo = SPLAT(il), zero = SPLAT(0), one = SPLAT(1);
    const int nv = (int)((k + LANES - 1) / LANES);       /* vectors in use */
    int64_t kv[G];                                        /* lanes per vector */
    for (int g = 0; g < G; g++)
        kv[g] = g < nv ? (k - g * LANES < LANES ? k - g * LANES : LANES) : 0;
    /* Per lane: maximum m, and the sum of the other terms as a two-term
     * vector sum (hi + lo, about twice T's precision) updated with an
     * error-free TwoSum every SMC_COL_FLUSH steps; counts of the maximum
     * go to double once per chunk.  Lanes are rescaled one by one, and
     * only when their maximum grows (rare after the first chunks). */
    V m[G], hi[G], lo[G];
    double count[W];
    for (int g = 0; g < G; g++) {
        m[g] = SPLAT(-INFINITY);
        hi[g] = lo[g] = zero;
    }
    for (int l = 0; l < W; l++)
        count[l] = 0.0;
    /* softmax into lanes that are neighbours in y: one exp per element.
     * A first pass finds each lane's final maximum, the statistics pass
     * stores exp(x - max) in y, and the output pass only scales y. */
    const int one_exp = job->op == SMC_OP_SOFTMAX && ylane == (int64_t)sizeof(T);
    if (one_exp)
        FN(col_max)(x, xs, ls, n, k, kv, nv, m);

    for (int64_t c0 = 0; c0 < n; c0 += SMC_COL_CHUNK) {
        int64_t len = n - c0 < SMC_COL_CHUNK ? n - c0 : SMC_COL_CHUNK;
        const char *xc = x + c0 * xs;
        char *yc = y + c0 * ys;
        V vmax[G];
        for (int g = 0; g < nv; g++)
            vmax[g] = m[g];
        for (int64_t i = 0; i < len && !one_exp; i++) {
            if (c0 + i + SMC_PREFETCH_STEPS < n)
                for (int64_t b = 0; b < k * ls; b += 64)
                    SMC_PREFETCH(xc + (i + SMC_PREFETCH_STEPS) * xs + b);
            for (int g = 0; g < nv; g++)
                vmax[g] = VOP(max)(FN(col_load)(xc + i * xs + g * LANES * ls, kv[g], ls), vmax[g]);
        }
        for (int g = 0; g < nv; g++) {
            if (!VOP(any)(VOP(gt)(vmax[g], m[g])))
                continue;
            T mo[LANES], mn[LANES], h[LANES], lw[LANES];
            VOP(store)(mo, m[g]);
            VOP(store)(mn, vmax[g]);
            VOP(store)(h, hi[g]);
            VOP(store)(lw, lo[g]);
            for (int l = 0; l < LANES; l++) {
                if (!(mn[l] > mo[l]))
                    continue;
                smc_partial pl = { mo[l], count[g * LANES + l], h[l], lw[l] };
                smc_partial_rescale(&pl, mn[l], job->inv_t, job->inv_t_lo);
                FN(split2)(pl.s_hi, pl.s_lo, &h[l], &lw[l]);
                count[g * LANES + l] = 0.0;
            }
            m[g] = vmax[g];
            hi[g] = VOP(load)(h);
            lo[g] = VOP(load)(lw);
        }
        V cnt[G];
        for (int g = 0; g < nv; g++)
            cnt[g] = zero;
        for (int64_t i0 = 0; i0 < len; i0 += SMC_COL_FLUSH) {
            int64_t i1 = i0 + SMC_COL_FLUSH < len ? i0 + SMC_COL_FLUSH : len;
            V acc[G];
            for (int g = 0; g < nv; g++)
                acc[g] = zero;
            for (int64_t i = i0; i < i1; i++) {
                for (int g = 0; g < nv; g++) {
                    V xv = FN(col_load)(xc + i * xs + g * LANES * ls, kv[g], ls);
                    VM eq = VOP(eq)(xv, m[g]);
                    V e = FN(exp_diff)(xv, m[g], inv_t, inv_lo, use_t);
                    acc[g] = VOP(add)(acc[g], VOP(select)(eq, zero, e));
                    cnt[g] = VOP(add)(cnt[g], VOP(select)(eq, one, zero));
                    if (one_exp)
                        FN(col_store)(yc + i * ys + g * LANES * ylane, e, kv[g]);
                }
            }
            for (int g = 0; g < nv; g++) {        /* (hi, lo) += acc, TwoSum */
                V s = VOP(add)(hi[g], acc[g]);
                V bb = VOP(sub)(s, hi[g]);
                V err = VOP(add)(VOP(sub)(hi[g], VOP(sub)(s, bb)), VOP(sub)(acc[g], bb));
                hi[g] = s;
                lo[g] = VOP(add)(lo[g], err);
            }
        }
        for (int g = 0; g < nv; g++) {
            T cb[LANES];
            VOP(store)(cb, cnt[g]);
            for (int l = 0; l < LANES; l++)
                count[g * LANES + l] += cb[l];
        }
    }

    smc_partial lane[W];
    for (int g = 0; g < nv; g++) {
        T mb[LANES], h[LANES], lw[LANES];
        VOP(store)(mb, m[g]);
        VOP(store)(h, hi[g]);
        VOP(store)(lw, lo[g]);
        for (int l = 0; l < LANES; l++) {
            smc_partial pl = { mb[l], count[g * LANES + l], h[l], lw[l] };
            lane[g * LANES + l] = pl;
        }
    }
    smc_rowstats st[W];
    for (int l = 0; l < k; l++)
        st[l] = smc_finalize(&lane[l], job->op != SMC_OP_SOFTMAX, sizeof(T) == 8);
    if (job->op == SMC_OP_LOGSUMEXP) {
        for (int l = 0; l < k; l++)
            FN(store1)(y + l * ylane, (T)st[l].lse);
        return;
    }
    /* per lane: the maximum, and the row constant as hi (b) + lo (c) */
    T a[W], b[W], c[W];
    for (int l = 0; l < W; l++) {
        a[l] = b[l] = c[l] = (T)0;
        if (l >= k)
            continue;
        a[l] = (T)st[l].m;
        if (job->op == SMC_OP_SOFTMAX)
            FN(split2)(st[l].scale, st[l].scale_lo, &b[l], &c[l]);
        else
            FN(split2)(st[l].log_sum, st[l].log_sum_lo, &b[l], &c[l]);
    }
    V pm[G], p1[G], p2[G];
    for (int g = 0; g < nv; g++) {
        pm[g] = VOP(load)(a + g * LANES);
        p1[g] = VOP(load)(b + g * LANES);
        p2[g] = VOP(load)(c + g * LANES);
    }
    int y_contig = ylane == (int64_t)sizeof(T);
    for (int64_t i = 0; i < n; i++) {
        if (i + SMC_PREFETCH_STEPS < n && ls > 0 && ylane > 0) {
            for (int64_t b = 0; b < k * ls; b += 64)
                SMC_PREFETCH(x + (i + SMC_PREFETCH_STEPS) * xs + b);
            /* the k lanes' lines: each lane's own where lanes are more than
             * a line apart (every line between them made a wide y lane
             * stride cost k * ylane / 64 prefetches a step: quadratic) */
            for (int64_t b = 0; b < k * ylane; b += ylane > 64 ? ylane : 64)
                SMC_PREFETCH_W(y + (i + SMC_PREFETCH_STEPS) * ys + b);
        }
        for (int g = 0; g < nv; g++) {
            char *yp = y + i * ys + g * LANES * ylane;
            if (one_exp) {               /* y holds exp(x - max): scale it */
                V e = kv[g] == LANES ? VOP(load)((const T *)yp) : FN(load_partial)(yp, kv[g], (T)0);
                FN(col_store)(yp, VOP(fma)(e, p1[g], VOP(mul)(e, p2[g])), kv[g]);
                continue;
            }
            V xv = FN(col_load)(x + i * xs + g * LANES * ls, kv[g], ls);
            V out = job->op == SMC_OP_SOFTMAX
                        ? FN(softmax_vec)(xv, pm[g], p1[g], p2[g], inv_t, inv_lo, use_t)
                        : FN(log_softmax_vec)(xv, pm[g], p1[g], p2[g], inv_t, inv_lo, use_t);
            if (y_contig && kv[g] == LANES) {
                VOP(store)((T *)yp, out);
            } else if (y_contig) {
                FN(store_partial)(yp, out, kv[g]);
            } else {
                T o[LANES];
                VOP(store)(o, out);
                for (int l = 0; l < kv[g]; l++)
                    FN(store1)(yp + l * ylane, o[l]);
            }
        }
    }
}

/* Short rows (n <= SMC_SHORT_MAX_VECS * LANES), one per lane: the whole
 * group stays in registers, so each element is loaded once, and all the
 * bookkeeping of col_group (chunks, rescaling, flushes) is skipped.  The
 * sums have at most SMC_SHORT_MAX_VECS * LANES / 2 terms per accumulator,
 * few enough to keep in T. */
static void FN(short_group)(const smc_job *job, const char *x, char *y, int64_t k)
{
    const int64_t n = job->g.n, xs = job->x.step, ys = job->y.step;
    const int64_t ls = job->x.strides[job->g.ndim - 1];
    const int64_t ylane = job->y.strides[job->g.ndim - 1];
    const int use_t = job->use_t;
    T ih, il;
    FN(split2)(job->inv_t, job->inv_t_lo, &ih, &il);
    const V inv_t = SPLAT(ih), inv_lo = SPLAT(il), zero = SPLAT(0), one = SPLAT(1);
    V xv[SMC_SHORT_MAX_VECS * LANES];
    V m = SPLAT(-INFINITY);
    for (int64_t i = 0; i < n; i++) {
        xv[i] = FN(col_load)(x + i * xs, k, ls);
        m = VOP(max)(xv[i], m);
    }
    /* A lane's whole sum is these few terms added in T.  In float32 their
     * roundings cost logsumexp (the 1-ulp op) up to 1.2 ulp, so there they
     * are kept (Fast2Sum: acc is the larger part once it holds a term). */
    const int compensate = sizeof(T) == 4 && job->op == SMC_OP_LOGSUMEXP;
    /* softmax keeps each exp for the output instead of computing it twice */
    const int keep_exp = job->op == SMC_OP_SOFTMAX;
    V acc0 = zero, acc1 = zero, lo = zero, cnt = zero;
    for (int64_t i = 0; i < n; i++) {
        VM eq = VOP(eq)(xv[i], m);
        V e = FN(exp_diff)(xv[i], m, inv_t, inv_lo, use_t);
        if (keep_exp)
            xv[i] = e;
        e = VOP(select)(eq, zero, e);
        V *acc = (i & 1) ? &acc1 : &acc0;
        V s = VOP(add)(*acc, e);
        if (compensate)
            lo = VOP(add)(lo, VOP(sub)(e, VOP(sub)(s, *acc)));
        *acc = s;
        cnt = VOP(add)(cnt, VOP(select)(eq, one, zero));
    }
    T mb[LANES], sb0[LANES], sb1[LANES], lb[LANES], cb[LANES], p1[LANES], p2[LANES];
    VOP(store)(mb, m);
    VOP(store)(sb0, acc0);
    VOP(store)(sb1, acc1);
    VOP(store)(lb, lo);
    VOP(store)(cb, cnt);
    int need_log = job->op != SMC_OP_SOFTMAX;
    for (int l = 0; l < LANES; l++) {
        smc_partial pl = { mb[l], cb[l], (double)sb0[l] + (double)sb1[l], (double)lb[l] };
        smc_rowstats st = smc_finalize(&pl, need_log && l < k, sizeof(T) == 8);
        if (job->op == SMC_OP_LOGSUMEXP) {
            if (l < k)
                FN(store1)(y + l * ylane, (T)st.lse);
            continue;
        }
        if (job->op == SMC_OP_SOFTMAX)
            FN(split2)(st.scale, st.scale_lo, &p1[l], &p2[l]);
        else
            FN(split2)(st.log_sum, st.log_sum_lo, &p1[l], &p2[l]);
    }
    if (job->op == SMC_OP_LOGSUMEXP)
        return;
    V a = VOP(load)(p1), b = VOP(load)(p2);
    for (int64_t i = 0; i < n; i++) {
        V out = keep_exp ? VOP(fma)(xv[i], a, VOP(mul)(xv[i], b))   /* exp * scale */
                         : FN(log_softmax_vec)(xv[i], m, a, b, inv_t, inv_lo, use_t);
        T o[LANES];
        VOP(store)(o, out);
        for (int l = 0; l < k; l++)
            FN(store1)(y + i * ys + l * ylane, o[l]);
    }
}

static void FN(cols)(const smc_job *job, int64_t line, int64_t j0, int64_t j1)
{
    int inner = job->g.ndim - 1;
    int64_t xoff, yoff;
    smc_offsets(job, line, inner, &xoff, &yoff);
    int64_t xstr = job->x.strides[inner], ystr = job->y.strides[inner];
    int is_short = job->g.n <= SMC_SHORT_MAX_VECS * LANES;
    int64_t width = is_short ? LANES : SMC_COL_VECS * LANES;
    for (int64_t j = j0; j < j1; j += width) {
        int64_t k = j1 - j < width ? j1 - j : width;
        const char *x = (const char *)job->x.data + xoff + j * xstr;
        char *y = (char *)job->y.data + yoff + j * ystr;
        if (is_short)
            FN(short_group)(job, x, y, k);
        else
            FN(col_group)(job, x, y, k);
    }
}

/* Vector exp of a contiguous array (for accuracy tests of exp_core). */
static void FN(exp_array)(int64_t n, const void *xv, void *yv)
{
    const T *x = (const T *)xv;
    T *y = (T *)yv;
    V zero = SPLAT(0);
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        VOP(store)(y + i, FN(exp_core)(VOP(load)(x + i), zero));
    if (i < n)
        FN(store_partial)((char *)(y + i),
                          FN(exp_core)(FN(load_partial)((const char *)(x + i), n - i, (T)0), zero),
                          n - i);
}

#undef V
#undef VM
#undef VOP
#undef FN
#undef SPLAT
#undef BLOCK
#undef SMC_COL_CHUNK
#undef SMC_COL_FLUSH
