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
 * max, sum of exp; each SMC_CHUNK chunk is read twice while it is in
 * cache, see chunk_exp), and for softmax/log_softmax one more pass that
 * writes the output.
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
 * scaling by 2^n.  NaN propagates; -inf gives +0.  Returns exp(r), with
 * n in *n_out and in *biased_n_out n plus EXP_POW2_MAGIC (pow2_from_magic
 * makes 2^n of it). */
SMC_INLINE V FN(exp_poly_of)(V a, V a_err, V *n_out, V *biased_n_out)
{
#ifdef EXP_TABLE
    /* With a table of 2^(j/16) (EXP_TABLE, kernels.c): a = (n/16) ln2 + r,
     * |r| <= ln2/32, so exp(a) = 2^floor(n/16) * 2^((n mod 16)/16) * exp(r).
     * The middle factor is a two-term table entry picked by the low bits of
     * t (n mod 16), exp(r) - 1 is a polynomial of degree 7 (EXP_TABLE_POLY),
     * and *n_out is n/16: vscalef applies 2^floor of it.  Fewer
     * multiply-adds than the degree-11 polynomial on |r| <= ln2/2, and the
     * last rounding is of th + th*q, so about 0.5 ulp. */
    V t = VOP(fma)(a, SPLAT(EXP_LOG2E * 16), SPLAT(EXP_ROUND_MAGIC));
    V n = VOP(sub)(t, SPLAT(EXP_ROUND_MAGIC));
    V r = VOP(fma)(n, SPLAT(-EXP_LN2_HI / 16), a);   /* exact, as below */
    r = VOP(fma)(n, SPLAT(-EXP_LN2_LO / 16), r);
    r = VOP(add)(r, a_err);
    *n_out = *biased_n_out = VOP(mul)(n, SPLAT(1.0 / 16));
    SMC_CAT(DT, i) j = VOP(index_bits)(t);
    V th = VOP(permute2)(VOP(load)(EXP_TABLE), j, VOP(load)(EXP_TABLE + LANES));
    V tl = VOP(permute2)(VOP(load)(EXP_TABLE + 2 * LANES), j, VOP(load)(EXP_TABLE + 3 * LANES));
    V q = VOP(fma)(VOP(mul)(r, r), EXP_TABLE_POLY(r), r);
    return VOP(add)(VOP(fma)(th, q, tl), th);
#else
    /* The rounding constant carries the exponent bias, so the low bits of
     * t are n + bias, and exp_core_normal shifts them into 2^n directly
     * (one addition per vector fewer than from n). */
    V t = VOP(fma)(a, SPLAT(EXP_LOG2E), SPLAT(EXP_POW2_MAGIC));
    V n = VOP(sub)(t, SPLAT(EXP_POW2_MAGIC));   /* round(a / ln2) */
    V r = VOP(fma)(n, SPLAT(-EXP_LN2_HI), a);   /* exact: n*LN2_HI has spare bits */
    r = VOP(fma)(n, SPLAT(-EXP_LN2_LO), r);
    r = VOP(add)(r, a_err);
    *n_out = n;
    *biased_n_out = t;
    return EXP_POLY(r);
#endif
}

/* Far from 0 (results near the ends of the range, +-inf): a clamped to
 * where exp is 0 or overflows, and 2^n applied in two exact-or-once-rounded
 * steps, so that subnormal results are rounded once (not flushed) and
 * results near the top do not overflow early. */
SMC_INLINE V FN(exp_core_wide)(V a, V a_err)
{
    a = VOP(max)(SPLAT(EXP_MIN_ARG), a);        /* NaN stays in `a` */
    a = VOP(min)(SPLAT(EXP_MAX_ARG), a);
    V n, biased_n;
    V p = FN(exp_poly_of)(a, a_err, &n, &biased_n);
#if SMC_ISA_HAS_SCALEF
    return VOP(scalef)(p, n);                   /* the same single rounding */
#else
    V n1 = VOP(max)(SPLAT(EXP_N1_MIN), VOP(min)(SPLAT(EXP_N1_MAX), n));
    V n2 = VOP(sub)(n, n1);
    V s1 = VOP(pow2_from_magic)(VOP(add)(n1, SPLAT(EXP_POW2_MAGIC)));
    V s2 = VOP(pow2_from_magic)(VOP(add)(n2, SPLAT(EXP_POW2_MAGIC)));
    return VOP(mul)(VOP(mul)(p, s1), s2);
#endif
}

/* exp for |a| <= EXP_FAST_LIM (or NaN): 2^n is a normal number and so is
 * the result, so one multiplication by 2^n gives bit for bit what the two
 * steps of exp_core_wide give, for a third fewer instructions. */
SMC_INLINE V FN(exp_core_normal)(V a, V a_err)
{
    V n, biased_n;
    V p = FN(exp_poly_of)(a, a_err, &n, &biased_n);
#if SMC_ISA_HAS_SCALEF
    return VOP(scalef)(p, n);
#else
    return VOP(mul)(p, VOP(pow2_from_magic)(biased_n));
#endif
}

SMC_INLINE V FN(exp_core)(V a, V a_err)
{
    if (SMC_UNLIKELY(VOP(any)(VOP(gt)(VOP(abs)(a), SPLAT(EXP_FAST_LIM)))))
        return FN(exp_core_wide)(a, a_err);
    return FN(exp_core_normal)(a, a_err);
}

/* d = x - m rounded, plus its rounding error (Knuth's TwoSum). */
SMC_INLINE V FN(sub_err)(V x, V m, V d)
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
SMC_INLINE V FN(mul_err)(V a, V b, V p)
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
SMC_INLINE V FN(scaled_diff)(V x, V m, V inv_t, V inv_lo, int use_t, V *err)
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
/* CALL(MODE, COUNT, USE_T) with constants, for the runtime exp mode `mode`
 * and `count` (whether elements equal to the maximum are counted apart):
 * one specialised copy of an inlined loop per combination.  SLOW always
 * counts and is the only mode with a temperature. */
#define SMC_DISPATCH_EXP_MODE(CALL, mode, count, use_t)                       \
    do {                                                                      \
        if ((mode) == SMC_EXP_SLOW)                                           \
            CALL(SMC_EXP_SLOW, 1, use_t);                                     \
        else if ((count) && (mode) == SMC_EXP_M_BIGGER)                       \
            CALL(SMC_EXP_M_BIGGER, 1, 0);                                     \
        else if ((count) && (mode) == SMC_EXP_X_BIGGER)                       \
            CALL(SMC_EXP_X_BIGGER, 1, 0);                                     \
        else if (count)                                                       \
            CALL(SMC_EXP_TWOSUM, 1, 0);                                       \
        else if ((mode) == SMC_EXP_M_BIGGER)                                  \
            CALL(SMC_EXP_M_BIGGER, 0, 0);                                     \
        else if ((mode) == SMC_EXP_X_BIGGER)                                  \
            CALL(SMC_EXP_X_BIGGER, 0, 0);                                     \
        else                                                                  \
            CALL(SMC_EXP_TWOSUM, 0, 0);                                       \
    } while (0)
#endif

/* x - m and (in *err) its exact rounding error, for a block in one of the
 * fast modes (not SLOW): no clamp, and the Fast2Sum modes find the same
 * error in two operations instead of five, so every mode gives the same
 * bits.  exp_diff_fast: exp(x - m) with that error carried in, and no
 * range check. */
SMC_INLINE V FN(diff_fast)(V x, V m, V neg_m, int mode, V *err)
{
    V d = VOP(sub)(x, m);
    if (mode == SMC_EXP_M_BIGGER)
        *err = VOP(sub)(x, VOP(add)(d, m));
    else if (mode == SMC_EXP_X_BIGGER)
        *err = VOP(sub)(neg_m, VOP(sub)(d, x));
    else
        *err = FN(sub_err)(x, m, d);
    return d;
}

SMC_INLINE V FN(exp_diff_fast)(V x, V m, V neg_m, int mode)
{
    V err, d = FN(diff_fast)(x, m, neg_m, mode, &err);
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

/* exp_mode for LANES lanes at once (column mode), lane l's elements lying
 * in [lo[l], m[l]]: one mode valid for every lane. */
static inline int FN(exp_mode_lanes)(V lo, V m, int use_t)
{
    const V zero = SPLAT(0), one = SPLAT(1);
    /* NaN (+inf - +inf) made -inf, so that it fails like in exp_mode */
    V d = VOP(max)(VOP(sub)(lo, m), SPLAT(-INFINITY));
    if (use_t || VOP(any)(VOP(gt)(SPLAT(1.0 - EXP_FAST_LIM), d)))
        return SMC_EXP_SLOW;
    VM m_neg = VOP(gt)(zero, m);
    if (!VOP(any)(VOP(gt)(VOP(select)(m_neg, zero, one), zero)))
        return SMC_EXP_X_BIGGER;                    /* every m < 0 */
    if (!VOP(any)(m_neg) && !VOP(any)(VOP(gt)(VOP(sub)(zero, m), lo)))
        return SMC_EXP_M_BIGGER;                    /* every m >= 0 and lo >= -m */
    return SMC_EXP_TWOSUM;
}

/* exp((x - m)/T) with the correction carried into the polynomial. */
SMC_INLINE V FN(exp_diff)(V x, V m, V inv_t, V inv_lo, int use_t)
{
    V e;
    V d = FN(scaled_diff)(x, m, inv_t, inv_lo, use_t, &e);
    return FN(exp_core)(d, e);
}

/* exp((x - m)/T) in `mode` (exp_mode): exp_diff_fast, or for SLOW exp_diff.
 * The same bits either way. */
SMC_INLINE V FN(exp_in_mode)(V x, V m, V neg_m, int mode, V inv_t, V inv_lo, int use_t)
{
    if (mode == SMC_EXP_SLOW)
        return FN(exp_diff)(x, m, inv_t, inv_lo, use_t);
    return FN(exp_diff_fast)(x, m, neg_m, mode);
}

/* exp((x - m)/T) * scale with scale = sc_hi + sc_lo: the FMA rounds once
 * where the ISA has it, so 1/sum costs no rounding of its own. */
SMC_INLINE V FN(softmax_vec)(V x, V m, V sc_hi, V sc_lo, V inv_t, V inv_lo, int use_t)
{
    V p = FN(exp_diff)(x, m, inv_t, inv_lo, use_t);
    return VOP(fma)(p, sc_hi, VOP(mul)(p, sc_lo));
}

/* (x - m)/T - log_sum, with log_sum = ls_hi + ls_lo.  Both parts are <= 0,
 * so there is no cancellation. */
SMC_INLINE V FN(log_softmax_vec)(V x, V m, V ls_hi, V ls_lo, V inv_t, V inv_lo, int use_t)
{
    V e;
    V d = FN(scaled_diff)(x, m, inv_t, inv_lo, use_t, &e);
    return VOP(add)(VOP(sub)(d, ls_hi), VOP(sub)(e, ls_lo));
}

/* log_softmax_vec in `mode` (exp_mode): outside SLOW, x - m and its exact
 * error by diff_fast (no clamp; the same bits). */
SMC_INLINE V FN(log_softmax_in_mode)(V x, V m, V neg_m, V ls_hi, V ls_lo, int mode, V inv_t,
                                     V inv_lo, int use_t)
{
    if (mode == SMC_EXP_SLOW)
        return FN(log_softmax_vec)(x, m, ls_hi, ls_lo, inv_t, inv_lo, use_t);
    V err, d = FN(diff_fast)(x, m, neg_m, mode, &err);
    return VOP(add)(VOP(sub)(d, ls_hi), VOP(sub)(err, ls_lo));
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
SMC_INLINE V FN(load_partial)(const char *p, int64_t k, T fill)
{
    return VOP(load_part)((const T *)p, k, fill);
}

SMC_INLINE void FN(store_partial)(char *p, V v, int64_t k)
{
    VOP(store_part)((T *)p, v, k);
}

/* Sum of the lanes in double, and their maximum (no NaN lanes), by the
 * backend's horizontal reductions: a fixed order, so deterministic. */
SMC_INLINE double FN(hsum)(V v) { return VOP(reduce_add)(v); }

/* The sum of the lanes of a and b as hi (returned) + *lo.  float32 lanes
 * summed in double lose nothing that matters; float64 lanes are added in
 * a tree of TwoSums, so the block sum is exact up to the lanes' own
 * roundings (a plain tree loses up to ~2 ulp of the sum in rows whose
 * terms are alike, where nothing averages out). */
static inline double FN(hsum2)(V a, V b, double *lo)
{
    if (sizeof(T) == 4) {
        *lo = 0.0;
        return VOP(reduce_add)(VOP(add)(a, b));
    }
    T buf[2 * LANES];
    VOP(store)(buf, a);
    VOP(store)(buf + LANES, b);
    double e = 0.0;
    for (int w = LANES; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) {
            double err;
            buf[i] = (T)smc_two_sum(buf[i], buf[i + w], &err);
            e += err;
        }
    *lo = e;
    return buf[0];
}
SMC_INLINE double FN(hmax)(V v) { return VOP(reduce_max)(v); }

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

/* ---- chunk statistics ---------------------------------------------------------
 * A row is reduced in chunks of SMC_CHUNK elements (L2-sized).  Pass 1
 * finds the chunk maximum m; pass 2 computes e = exp((x - m)/T) (with the
 * x - m rounding error carried in), sums it and, for softmax, stores it in
 * y.  Both passes read the chunk while it is in cache, so a row is read
 * from memory once, and every exp is taken against the chunk's final
 * maximum: no rescaling inside a chunk, and only blocks holding the
 * maximum count it apart.  softmax then needs one more pass over y per
 * chunk, multiplying by exp((m - M)/T) / S (just 1/S when the row is one
 * chunk), still in cache. */

/* Largest element of a chunk (NaN ignored), in *lo its smallest, and in
 * block_range the lane-wise maxima and minima of each BLOCK (2 * LANES
 * values per block: maxima, then minima; chunk_sums picks each block's
 * cheapest exact loop by them). */
static double FN(chunk_range)(const char *x, int64_t step, int64_t len, double *lo,
                              T *block_range)
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
        V bmax = SPLAT(-INFINITY), bmin = SPLAT(INFINITY);
        for (int64_t i = 0; i < full; i += LANES) {
            V xv = VOP(load)(p + i);
            bmax = VOP(max)(xv, bmax);       /* NaN ignored */
            bmin = VOP(min)(xv, bmin);
        }
        if (full < bl) {
            const char *t = (const char *)(p + full);
            bmax = VOP(max)(FN(load_partial)(t, bl - full, (T)-INFINITY), bmax);
            bmin = VOP(min)(FN(load_partial)(t, bl - full, (T)INFINITY), bmin);
        }
        VOP(store)(block_range + b / BLOCK * 2 * LANES, bmax);
        VOP(store)(block_range + b / BLOCK * 2 * LANES + LANES, bmin);
        vmax = VOP(max)(bmax, vmax);
        vmin = VOP(min)(bmin, vmin);
    }
    *lo = -FN(hmax)(VOP(sub)(SPLAT(0), vmin));
    return FN(hmax)(vmax);
}

/* A chunk's sum of exps and count of maxima, kept in vector lanes across
 * its blocks and reduced once per chunk (a horizontal sum per block cost
 * more than the block's adds in rows of a few thousand).  float32 block
 * sums are added in double lanes; float64 ones in two-term lanes by
 * TwoSum, so the chunk sum is exact up to the blocks' own roundings. */
typedef struct FN(chunk_acc) {
    f64v s0, s1;    /* float32: double sums of the low / high lanes; float64: hi / lo */
    V cnt;
} FN(chunk_acc);

SMC_INLINE void FN(chunk_acc_init)(FN(chunk_acc) *a)
{
    a->s0 = a->s1 = f64_set1(0.0);
    a->cnt = SPLAT(0);
}

SMC_INLINE void FN(chunk_acc_add)(FN(chunk_acc) *a, V acc0, V acc1, V cnt)
{
    a->cnt = VOP(add)(a->cnt, cnt);
#if LANES == F32_LANES
    V b = VOP(add)(acc0, acc1);
    a->s0 = f64_add(a->s0, f32_widen_lo(b));
    a->s1 = f64_add(a->s1, f32_widen_hi(b));
#else
    V parts[2] = { acc0, acc1 };
    for (int i = 0; i < 2; i++) {       /* TwoSum of hi and the part; the error to lo */
        f64v t = f64_add(a->s0, parts[i]), bb = f64_sub(t, a->s0);
        f64v err = f64_add(f64_sub(a->s0, f64_sub(t, bb)), f64_sub(parts[i], bb));
        a->s0 = t;
        a->s1 = f64_add(a->s1, err);
    }
#endif
}

/* The chunk's sum as *sum + *sum_lo, and its count of maxima. */
static inline void FN(chunk_acc_total)(const FN(chunk_acc) *a, double *sum, double *sum_lo,
                                       double *count)
{
#if LANES == F32_LANES
    *sum = f64_reduce_add(f64_add(a->s0, a->s1));
    *sum_lo = 0.0;
#else
    *sum = FN(hsum2)(a->s0, a->s1, sum_lo);
#endif
    *count = FN(hsum)(a->cnt);
}

/* Elements [i, i + len) of what `a` points at, prefetched: a.x for
 * reading, a.y for writing (either may be NULL). */
SMC_INLINE void FN(prefetch_ahead)(smc_ahead a, int64_t i, int64_t len)
{
    const int64_t sz = (int64_t)sizeof(T);
    for (int64_t q = 0; a.x && q < len * sz; q += 64)
        SMC_PREFETCH(a.x + i * sz + q);
    for (int64_t q = 0; a.y && q < len * sz; q += 64)
        SMC_PREFETCH_W(a.y + i * sz + q);
}

/* Pass 2 over len contiguous elements of a chunk (whole blocks, but for a
 * partial last one at the chunk's end), a BLOCK at a time: each block's
 * (sum, count of m) of exp of src against the chunk maximum m, added to
 * the chunk's accumulator, and with `store` (a constant at every call
 * site) the exps themselves in dst.  mode (exp_mode): not SLOW only where
 * the blocks hold no element equal to m, so nothing is counted apart or
 * clamped; the sum is bit for bit the one of the general path.  Runs of
 * blocks go through one call, so that the per-block work is this loop's,
 * not the caller's dispatch.  ahead: what to prefetch (at the offsets of
 * src), a block's worth per block. */
SMC_INLINE void FN(block_exp)(const T *src, T *dst, int store, int count_max, int64_t len,
                              V m, V inv_t, V inv_lo, int use_t, int mode, smc_ahead ahead,
                              FN(chunk_acc) *chunk)
{
    V zero = SPLAT(0), one = SPLAT(1), neg_m = VOP(sub)(zero, m);
    for (int64_t b = 0; b < len; b += BLOCK, src += BLOCK, dst += BLOCK) {
        int64_t bl = len - b < BLOCK ? len - b : BLOCK;
        FN(prefetch_ahead)(ahead, b, bl);
        int64_t full = bl / LANES * LANES, k = bl - full;
        V acc0 = zero, acc1 = zero, cnt = zero;
        if (mode != SMC_EXP_SLOW) {
            /* exp_diff_fast gives exactly 1 where x == m, as exp_diff does;
             * count_max: the block holds such elements, counted apart */
#define SMC_ACC(acc, xv, e)                                                   \
            do {                                                              \
                if (count_max) {                                              \
                    VM eq_ = VOP(eq)(xv, m);                                  \
                    acc = VOP(add)(acc, VOP(select)(eq_, zero, e));           \
                    cnt = VOP(add)(cnt, VOP(select)(eq_, one, zero));         \
                } else {                                                      \
                    acc = VOP(add)(acc, e);                                   \
                }                                                             \
            } while (0)
            int64_t i = 0;
            for (; i + 2 * LANES <= full; i += 2 * LANES) {
                V x0 = VOP(load)(src + i), x1 = VOP(load)(src + i + LANES);
                V e0 = FN(exp_diff_fast)(x0, m, neg_m, mode);
                V e1 = FN(exp_diff_fast)(x1, m, neg_m, mode);
                if (store) {
                    VOP(store)(dst + i, e0);
                    VOP(store)(dst + i + LANES, e1);
                }
                SMC_ACC(acc0, x0, e0);
                SMC_ACC(acc1, x1, e1);
                SMC_IN_REGISTER(acc0);
                SMC_IN_REGISTER(acc1);
            }
            if (i < full) {
                V x0 = VOP(load)(src + i);
                V e0 = FN(exp_diff_fast)(x0, m, neg_m, mode);
                if (store)
                    VOP(store)(dst + i, e0);
                SMC_ACC(acc0, x0, e0);
            }
#undef SMC_ACC
        } else {
            for (int64_t i = 0; i < full; i += LANES) {
                V xv = VOP(load)(src + i);
                VM eq = VOP(eq)(xv, m);
                V e = FN(exp_diff)(xv, m, inv_t, inv_lo, use_t);
                if (store)
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
            if (store)
                FN(store_partial)((char *)(dst + full), e, k);
            acc1 = VOP(add)(acc1, VOP(select)(eq, zero, e));
            cnt = VOP(add)(cnt, VOP(select)(eq, one, zero));
        }
        FN(chunk_acc_add)(chunk, acc0, acc1, cnt);
    }
}

/* Pass 2 over one chunk, given pass 1's results (chunk_range): its partial
 * (m, count of m, sum).  y: where the exps go (softmax), or NULL
 * (log_softmax, logsumexp).  next: what the caller reads and writes
 * next (smc_ahead; up to len elements of each are prefetched at the pace
 * of this pass).  Pass 2 computes from cache and leaves the memory bus
 * idle, so without this the next chunk's pass 1 waits for memory and the
 * two never overlap (measured on Zen 3, AVX2: 4096x1024 float32 logsumexp
 * 4.0 -> 2.6 ms; with y, log_softmax 4.5 -> 3.9 ms). */
static smc_partial FN(chunk_sums)(const char *x, int64_t xstep, char *y, int64_t ystep,
                                  int64_t len, double chunk_m, double lo, const T *block_range,
                                  double inv_t_s, double inv_t_lo, int use_t, smc_ahead next)
{
    const int64_t sz = (int64_t)sizeof(T);
    smc_partial st = smc_partial_empty();
    st.m = chunk_m;
    int chunk_mode = FN(exp_mode)(lo, st.m, use_t);
    T ih, il;
    FN(split2)(inv_t_s, inv_t_lo, &ih, &il);
    V m = SPLAT(st.m), inv_t = SPLAT(ih), inv_lo = SPLAT(il);
    T in[BLOCK], out[BLOCK];
    FN(chunk_acc) acc;
    FN(chunk_acc_init)(&acc);
    const V neg_m = VOP(sub)(SPLAT(0), m);
    /* contiguous x and y: runs of blocks alike in mode and count go through
     * one block_exp; otherwise a block at a time, through the gather /
     * scatter buffers */
    const int contiguous = xstep == sz && (!y || ystep == sz);
    for (int64_t b = 0, run; b < len; b += run) {
        /* the blocks holding the maximum count it apart; in a TWOSUM chunk,
         * the blocks of no element below -m take Fast2Sum (M_BIGGER) */
#define SMC_COUNTS(b_) (chunk_mode == SMC_EXP_SLOW ||                                    \
                        VOP(any)(VOP(eq)(VOP(load)(block_range + (b_) / BLOCK * 2 * LANES), m)))
#define SMC_MODE(b_) (chunk_mode == SMC_EXP_TWOSUM &&                                    \
                      !VOP(any)(VOP(gt)(neg_m,                                           \
                                        VOP(load)(block_range + (b_) / BLOCK * 2 * LANES + LANES))) \
                      ? SMC_EXP_M_BIGGER : chunk_mode)
        int count = SMC_COUNTS(b), mode = SMC_MODE(b);
        run = BLOCK;
        while (contiguous && b + run < len && SMC_COUNTS(b + run) == count &&
               SMC_MODE(b + run) == mode)
            run += BLOCK;
#undef SMC_COUNTS
#undef SMC_MODE
        run = len - b < run ? len - b : run;
        const T *src = (const T *)(x + b * xstep);
        if (xstep != sz) {
            FN(gather)(in, x + b * xstep, xstep, run);
            src = in;
        }
        T *dst = y && ystep == sz ? (T *)(y + b * ystep) : out;
        smc_ahead ahead = { next.x ? next.x + b * sz : NULL, next.y ? next.y + b * sz : NULL };
        /* one call site per (store, count, mode): each is specialised */
#define SMC_BLOCK_EXP_STORE(mode_, count_, use_t_)                                           \
        FN(block_exp)(src, dst, 1, count_, run, m, inv_t, inv_lo, use_t_, mode_, ahead, &acc)
#define SMC_BLOCK_EXP_SUM(mode_, count_, use_t_)                                             \
        FN(block_exp)(src, dst, 0, count_, run, m, inv_t, inv_lo, use_t_, mode_, ahead, &acc)
        if (y)
            SMC_DISPATCH_EXP_MODE(SMC_BLOCK_EXP_STORE, mode, count, use_t);
        else
            SMC_DISPATCH_EXP_MODE(SMC_BLOCK_EXP_SUM, mode, count, use_t);
#undef SMC_BLOCK_EXP_STORE
#undef SMC_BLOCK_EXP_SUM
        if (y && ystep != sz)
            FN(scatter)(y + b * ystep, ystep, out, run);
    }
    FN(chunk_acc_total)(&acc, &st.s_hi, &st.s_lo, &st.c);
    /* the -inf padding of a partial last vector equals m = -inf */
    if (len % LANES && st.m == -INFINITY)
        st.c -= (double)(LANES - len % LANES);
    return st;
}

/* Passes 1 and 2 over one chunk; *lo_out (if not NULL): its smallest
 * element; next as in chunk_sums. */
static smc_partial FN(chunk_exp)(const char *x, int64_t xstep, char *y, int64_t ystep,
                                 int64_t len, double inv_t_s, double inv_t_lo, int use_t,
                                 double *lo_out, smc_ahead next)
{
    double lo;
    T block_range[SMC_CHUNK / BLOCK * 2 * LANES];
    double m = FN(chunk_range)(x, xstep, len, &lo, block_range);
    if (lo_out)
        *lo_out = lo;
    return FN(chunk_sums)(x, xstep, y, ystep, len, m, lo, block_range, inv_t_s, inv_t_lo, use_t,
                          next);
}

/* What chunk_sums prefetches after the chunk at c0 of the row x of n
 * elements: the row's next chunk, or after the last one next_row (the
 * start of the row reduced next).  Its y only in a row of one chunk: a
 * longer row is written after all of its chunks are reduced. */
static inline smc_ahead FN(next_chunk)(const char *x, int64_t step, int64_t c0, int64_t n,
                                       smc_ahead next_row)
{
    smc_ahead a = next_row;
    if (n > SMC_CHUNK)
        a.y = NULL;
    if (c0 + SMC_CHUNK < n)
        a.x = step == (int64_t)sizeof(T) ? x + (c0 + SMC_CHUNK) * step : NULL;
    return a;
}

/* Statistics of a whole row: chunk partials merged left to right (the same
 * sequence the multi-threaded split of a long row produces).  next_row as
 * in next_chunk. */
static smc_rowstats FN(row_stats)(const char *x, int64_t step, int64_t n,
                                  double inv_t, double inv_t_lo, int use_t, int need_log,
                                  smc_ahead next_row)
{
    smc_partial acc = smc_partial_empty();
    double lo = INFINITY;
    for (int64_t c0 = 0; c0 < n; c0 += SMC_CHUNK) {
        int64_t len = n - c0 < SMC_CHUNK ? n - c0 : SMC_CHUNK;
        double chunk_lo;
        smc_partial p = FN(chunk_exp)(x + c0 * step, step, NULL, 0, len, inv_t, inv_t_lo, use_t,
                                      &chunk_lo, FN(next_chunk)(x, step, c0, n, next_row));
        lo = chunk_lo < lo ? chunk_lo : lo;
        if (c0 == 0)
            acc = p;
        else
            smc_partial_merge(&acc, &p, inv_t, inv_t_lo);
    }
    smc_rowstats st = smc_finalize(&acc, need_log, sizeof(T) == 8);
    st.lo = lo;
    return st;
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
        V ls_hi = SPLAT(hi), ls_lo = SPLAT(lo), neg_m = VOP(sub)(SPLAT(0), m);
        /* where the statistics pass knew the row's range (st->lo), x - m
         * and its rounding error by diff_fast: the same bits, with no clamp
         * and, for the Fast2Sum modes, three operations fewer */
        int mode = FN(exp_mode)(st->lo, st->m, use_t);
#define SMC_LSM_LOOP(MODE)                                                          \
        for (int64_t i = 0; i < full; i += LANES)                                   \
            VOP(store)(y + i, FN(log_softmax_in_mode)(VOP(load)(x + i), m, neg_m, ls_hi, \
                                                      ls_lo, MODE, inv_t, inv_lo, use_t));
        if (mode == SMC_EXP_M_BIGGER) {
            SMC_LSM_LOOP(SMC_EXP_M_BIGGER)
        } else if (mode == SMC_EXP_X_BIGGER) {
            SMC_LSM_LOOP(SMC_EXP_X_BIGGER)
        } else if (mode == SMC_EXP_TWOSUM) {
            SMC_LSM_LOOP(SMC_EXP_TWOSUM)
        } else {
            SMC_LSM_LOOP(SMC_EXP_SLOW)
        }
#undef SMC_LSM_LOOP
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
                            double inv_t, double inv_t_lo, int use_t, smc_ahead next_row)
{
    if (n <= SMC_CHUNK) {
        smc_partial p = FN(chunk_exp)(x, xstep, y, ystep, n, inv_t, inv_t_lo, use_t, NULL,
                                      FN(next_chunk)(x, xstep, 0, n, next_row));
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
        smc_rowstats st = FN(row_stats)(x, xstep, n, inv_t, inv_t_lo, use_t, 0, next_row);
        FN(apply_strided)(SMC_OP_SOFTMAX, x, xstep, y, ystep, n, &st, inv_t, inv_t_lo, use_t);
        return;
    }
    smc_partial acc = smc_partial_empty();
    for (int64_t ch = 0; ch < nchunks; ch++) {
        int64_t c0 = ch * SMC_CHUNK, len = n - c0 < SMC_CHUNK ? n - c0 : SMC_CHUNK;
        smc_partial p = FN(chunk_exp)(x + c0 * xstep, xstep, y + c0 * ystep, ystep, len, inv_t,
                                      inv_t_lo, use_t, NULL,
                                      FN(next_chunk)(x, xstep, c0, n, next_row));
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

/* Lane maxima and minima of the blocks of one row of a group
 * (smc_group_rows: rows of at most SMC_GROUP_BYTES / 2), as chunk_range
 * stores them. */
#define SMC_GROUP_BLOCK_RANGE \
    ((SMC_GROUP_BYTES / 2 / (int64_t)sizeof(T) + BLOCK - 1) / BLOCK * 2 * LANES)

/* The output of one row from its statistics.  softmax: a row of at most
 * one chunk, whose exps y holds, taken against m. */
static inline void FN(row_output)(const smc_job *job, const char *x, char *y, int64_t n,
                                  double m, const smc_rowstats *st)
{
    if (job->op == SMC_OP_SOFTMAX)
        FN(softmax_chunk_scale)(y, job->y.step, n, m, st, job->inv_t, job->inv_t_lo);
    else if (job->op == SMC_OP_LOGSUMEXP)
        FN(store1)(y, (T)st->lse);
    else
        FN(apply_strided)(job->op, x, job->x.step, y, job->y.step, n, st, job->inv_t,
                          job->inv_t_lo, job->use_t);
}

static void FN(rows)(const smc_job *job, int64_t r0, int64_t r1)
{
    smc_row_iter it;
    smc_row_iter_init(&it, job, r0);
    const char *xb = (const char *)job->x.data;
    char *yb = (char *)job->y.data;
    const int64_t n = job->g.n, xstep = job->x.step, ystep = job->y.step;
    const int64_t group = smc_group_rows(n * (int64_t)sizeof(T));
    const int grouped = group >= 2;
    const int op = job->op, need_log = op != SMC_OP_SOFTMAX;
    /* rows are looked up a group ahead (one iterator, never copied: it
     * holds an index per dimension), so that the next group's rows are known
     * while this group is reduced */
    const int64_t per_group = grouped ? group : 1;
    const char *x[SMC_GROUP_ROWS], *nx[SMC_GROUP_ROWS];
    char *y[SMC_GROUP_ROWS], *ny[SMC_GROUP_ROWS];
    int64_t ng = r1 - r0 < per_group ? r1 - r0 : per_group;
    for (int64_t i = 0; i < ng; i++, smc_row_iter_next(&it)) {
        nx[i] = xb + it.xoff;
        ny[i] = yb + it.yoff;
    }
    for (int64_t r = r0; r < r1;) {
        const int64_t g = ng;
        for (int64_t i = 0; i < g; i++) {
            x[i] = nx[i];
            y[i] = ny[i];
        }
        r += g;
        ng = r1 - r < per_group ? r1 - r : per_group;
        for (int64_t i = 0; i < ng; i++, smc_row_iter_next(&it)) {
            nx[i] = xb + it.xoff;
            ny[i] = yb + it.yoff;
        }
        /* the next group's rows, prefetched by chunk_sums while this group
         * is reduced; not a gathered row, nor logsumexp's one output */
        smc_ahead next[SMC_GROUP_ROWS];
        for (int64_t i = 0; i < g; i++) {
            int ahead = i < ng;
            next[i].x = ahead && xstep == (int64_t)sizeof(T) ? nx[i] : NULL;
            next[i].y = ahead && ystep == (int64_t)sizeof(T) && op != SMC_OP_LOGSUMEXP ? ny[i]
                                                                                   : NULL;
        }
        if (!grouped) {
            if (op == SMC_OP_SOFTMAX) {
                FN(softmax_row)(x[0], xstep, y[0], ystep, n, job->inv_t, job->inv_t_lo,
                                job->use_t, next[0]);
            } else {
                smc_rowstats st = FN(row_stats)(x[0], xstep, n, job->inv_t, job->inv_t_lo,
                                                job->use_t, 1, next[0]);
                FN(row_output)(job, x[0], y[0], n, st.m, &st);
            }
            continue;
        }
        /* softmax_row / row_stats (rows of one chunk) stage by stage, each
         * stage over the whole group (smc_group_rows): the same steps per
         * row, so the same bits. */
        double m[SMC_GROUP_ROWS], lo[SMC_GROUP_ROWS];
        T block_range[SMC_GROUP_ROWS][SMC_GROUP_BLOCK_RANGE];
        smc_partial p[SMC_GROUP_ROWS];
        smc_rowstats st[SMC_GROUP_ROWS];
        for (int64_t i = 0; i < g; i++)
            m[i] = FN(chunk_range)(x[i], xstep, n, &lo[i], block_range[i]);
        for (int64_t i = 0; i < g; i++)
            p[i] = FN(chunk_sums)(x[i], xstep, op == SMC_OP_SOFTMAX ? y[i] : NULL, ystep, n,
                                  m[i], lo[i], block_range[i], job->inv_t, job->inv_t_lo,
                                  job->use_t, next[i]);
        for (int64_t i = 0; i < g; i++) {
            st[i] = smc_finalize(&p[i], need_log, sizeof(T) == 8);
            st[i].lo = lo[i];
        }
        for (int64_t i = 0; i < g; i++)
            FN(row_output)(job, x[i], y[i], n, p[i].m, &st[i]);
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
    smc_ahead none = { NULL, NULL };
    smc_ahead next = FN(next_chunk)(x - c0 * job->x.step, job->x.step, c0, job->g.n, none);
    if (job->op == SMC_OP_SOFTMAX) {   /* writes exp to y, as softmax_row does */
        char *y = (char *)job->y.data + yoff + c0 * job->y.step;
        *out = FN(chunk_exp)(x, job->x.step, y, job->y.step, len, job->inv_t,
                                     job->inv_t_lo, job->use_t, NULL, next);
        return;
    }
    *out = FN(chunk_exp)(x, job->x.step, NULL, 0, len, job->inv_t, job->inv_t_lo, job->use_t,
                         NULL, next);
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
#define SMC_COL_CACHED_BYTES (1 << 20)  /* columns up to this size are re-read from L2 */
#define SMC_COL_MEMORY_BYTES (8 << 20) /* arrays above this size are read from memory, not L3 */

/* The k (<= LANES) lanes of one step: lane l at p + l * lane_stride. */
SMC_INLINE V FN(col_load)(const char *p, int64_t k, int64_t lane_stride)
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
SMC_INLINE void FN(col_store)(char *p, V v, int64_t k)
{
    if (k == LANES)
        VOP(store)((T *)p, v);
    else
        FN(store_partial)(p, v, k);
}

/* Vector g of the step at p.  full (a constant at each inlined call
 * site): every vector is LANES contiguous lanes, loaded without the checks
 * of col_load (a third of the max pass's time where they were made). */
SMC_INLINE V FN(col_vec)(const char *p, int g, int full, const int64_t *kv, int64_t ls)
{
    if (full)
        return VOP(load)((const T *)p + g * LANES);
    return FN(col_load)(p + g * LANES * ls, kv[g], ls);
}

/* vmax[g], vmin[g]: also the lane-wise maximum and minimum of the len
 * steps at x (NaN ignored: they keep their values in lanes of only NaN),
 * prefetching SMC_PREFETCH_STEPS ahead within the `left` steps there. */
SMC_INLINE void FN(col_range_of)(const char *x, int64_t xs, int64_t ls, int64_t len,
                                 int64_t left, const int64_t *kv, int nv, int full, V *vmax,
                                 V *vmin)
{
    const int64_t width = ((nv - 1) * LANES + kv[nv - 1]) * ls;   /* bytes of a step */
    for (int64_t i = 0; i < len; i++) {
        if (i + SMC_PREFETCH_STEPS < left)
            for (int64_t b = 0; b < width; b += 64)
                SMC_PREFETCH(x + (i + SMC_PREFETCH_STEPS) * xs + b);
        for (int g = 0; g < nv; g++) {
            V xv = FN(col_vec)(x + i * xs, g, full, kv, ls);
            vmax[g] = VOP(max)(xv, vmax[g]);
            vmin[g] = VOP(min)(xv, vmin[g]);
        }
    }
}
static void FN(col_range)(const char *x, int64_t xs, int64_t ls, int64_t len, int64_t left,
                          const int64_t *kv, int nv, int full, V *vmax, V *vmin)
{
    if (full)
        FN(col_range_of)(x, xs, ls, len, left, kv, nv, 1, vmax, vmin);
    else
        FN(col_range_of)(x, xs, ls, len, left, kv, nv, 0, vmax, vmin);
}

/* The exp mode valid for all of a group's nv vectors (see exp_mode_lanes). */
static int FN(col_mode)(const V *lo, const V *m, int nv, int use_t)
{
    int mode = SMC_EXP_SLOW;
    for (int g = 0; g < nv; g++) {
        int mg = FN(exp_mode_lanes)(lo[g], m[g], use_t);
        if (mg == SMC_EXP_SLOW)
            return SMC_EXP_SLOW;
        mode = g == 0 || mode == mg ? mg : SMC_EXP_TWOSUM;
    }
    return mode;
}

/* The exp pass of col_group over one chunk of len steps: sums of exp
 * against the lanes' maxima m into (hi, lo), counts of m into cnt, and
 * with one_exp the exps into y; count 0: no element equals its lane's
 * maximum (nothing to count, as in block_exp).  Step i also prefetches the span of
 * `width` bytes at pf + i * xs for i < pf_steps (the next chunk, which
 * this pass would otherwise leave for its max pass to wait for).
 * Inlined at one call site per mode. */
SMC_INLINE void FN(col_sums)(const char *xc, char *yc, int64_t xs, int64_t ys, int64_t ls,
                             int64_t ylane, int64_t len, const int64_t *kv, int nv, int one_exp,
                             int mode, int count, const V *m, const V *neg_m, V inv_t, V inv_lo, int use_t,
                             V *hi, V *lo, V *cnt, const char *pf, int64_t pf_steps,
                             int64_t width)
{
    const V zero = SPLAT(0), one = SPLAT(1);
    for (int64_t i0 = 0; i0 < len; i0 += SMC_COL_FLUSH) {
        int64_t i1 = i0 + SMC_COL_FLUSH < len ? i0 + SMC_COL_FLUSH : len;
        V acc[SMC_COL_VECS];
        for (int g = 0; g < nv; g++)
            acc[g] = zero;
        for (int64_t i = i0; i < i1; i++) {
            for (int64_t b = 0; i < pf_steps && b < width; b += 64)
                SMC_PREFETCH(pf + i * xs + b);
            for (int g = 0; g < nv; g++) {
                V xv = FN(col_load)(xc + i * xs + g * LANES * ls, kv[g], ls);
                V e = FN(exp_in_mode)(xv, m[g], neg_m[g], mode, inv_t, inv_lo, use_t);
                if (count) {
                    VM eq = VOP(eq)(xv, m[g]);
                    acc[g] = VOP(add)(acc[g], VOP(select)(eq, zero, e));
                    cnt[g] = VOP(add)(cnt[g], VOP(select)(eq, one, zero));
                } else {
                    acc[g] = VOP(add)(acc[g], e);
                }
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
}

#ifndef SMC_COL_KINDS
#define SMC_COL_KINDS
/* The output kinds of col_group's last pass */
enum { SMC_COL_SCALE_Y = 0, SMC_COL_SOFTMAX, SMC_COL_LOG_SOFTMAX };
#endif

/* One output vector from v: for SMC_COL_SCALE_Y v is y's exp(x - max),
 * scaled by p1 + p2; otherwise v is x, and p1 + p2 the lanes' 1/sum
 * (softmax, as softmax_vec) or log-sum (log_softmax). */
SMC_INLINE V FN(col_out_vec)(int kind, V v, V pm, V neg_pm, V p1, V p2, int mode, V inv_t,
                             V inv_lo, int use_t)
{
    if (kind == SMC_COL_LOG_SOFTMAX)
        return FN(log_softmax_in_mode)(v, pm, neg_pm, p1, p2, mode, inv_t, inv_lo, use_t);
    if (kind == SMC_COL_SOFTMAX)
        v = FN(exp_in_mode)(v, pm, neg_pm, mode, inv_t, inv_lo, use_t);
    return VOP(fma)(v, p1, VOP(mul)(v, p2));
}

/* col_group's output pass over its n steps, of the k lanes in kv[0..nv).
 * Inlined once per kind and exp mode for groups of full contiguous vectors
 * in x and y (full: no per-vector checks; log_softmax over axis 0 from L3
 * 11% faster than through the general loads and stores; per mode, 14%
 * more), and once for the rest. */
SMC_INLINE void FN(col_out)(int kind, int full, const char *x, char *y, int64_t xs, int64_t ys,
                            int64_t ls, int64_t ylane, int64_t n, int64_t k,
                            const int64_t *kv, int nv, int mode, const V *pm, const V *neg_pm,
                            const V *p1, const V *p2, V inv_t, V inv_lo, int use_t)
{
    const int reads_x = kind != SMC_COL_SCALE_Y;
    const int y_contig = ylane == (int64_t)sizeof(T);
    for (int64_t i = 0; i < n; i++) {
        if (i + SMC_PREFETCH_STEPS < n && ls > 0 && ylane > 0) {
            for (int64_t b = 0; reads_x && b < k * ls; b += 64)
                SMC_PREFETCH(x + (i + SMC_PREFETCH_STEPS) * xs + b);
            /* the k lanes' lines: each lane's own where lanes are more than
             * a line apart (every line between them made a wide y lane
             * stride cost k * ylane / 64 prefetches a step: quadratic) */
            for (int64_t b = 0; b < k * ylane; b += ylane > 64 ? ylane : 64)
                SMC_PREFETCH_W(y + (i + SMC_PREFETCH_STEPS) * ys + b);
        }
        for (int g = 0; g < nv; g++) {
            char *yp = y + i * ys + g * LANES * ylane;
            V v;
            if (reads_x)
                v = FN(col_vec)(x + i * xs, g, full, kv, ls);
            else    /* y holds exp(x - max), in contiguous lanes (one_exp) */
                v = full || kv[g] == LANES ? VOP(load)((const T *)yp)
                                           : FN(load_partial)(yp, kv[g], (T)0);
            V out = FN(col_out_vec)(kind, v, pm[g], neg_pm[g], p1[g], p2[g], mode, inv_t, inv_lo,
                                    use_t);
            if (full || y_contig) {
                FN(col_store)(yp, out, full ? LANES : kv[g]);
            } else {
                T o[LANES];
                VOP(store)(o, out);
                for (int l = 0; l < kv[g]; l++)
                    FN(store1)(yp + l * ylane, o[l]);
            }
        }
    }
}

/* What col_group's output pass needs of a group: per lane the maximum pm
 * and the row constant p1 + p2 (1/sum or log-sum), and how to apply them. */
typedef struct {
    V pm[SMC_COL_VECS], neg_pm[SMC_COL_VECS], p1[SMC_COL_VECS], p2[SMC_COL_VECS];
    int64_t kv[SMC_COL_VECS], k;
    int nv, kind, mode, full;
} FN(col_consts);

/* col_group's output pass over n steps of its group at x, y. */
static void FN(col_output)(const smc_job *job, const FN(col_consts) *cc, const char *x, char *y,
                           int64_t n)
{
    const int64_t xs = job->x.step, ys = job->y.step;
    const int64_t ls = job->x.strides[job->g.ndim - 1];
    const int64_t ylane = job->y.strides[job->g.ndim - 1];
    const int use_t = job->use_t;
    T ih, il;
    FN(split2)(job->inv_t, job->inv_t_lo, &ih, &il);
    const V inv_t = SPLAT(ih), inv_lo = SPLAT(il);
#define SMC_COL_OUT(kind_, full_, mode_, use_t_)                                              \
    FN(col_out)(kind_, full_, x, y, xs, ys, ls, ylane, n, cc->k, cc->kv, cc->nv, mode_, cc->pm, \
                cc->neg_pm, cc->p1, cc->p2, inv_t, inv_lo, use_t_)
    /* full contiguous groups: one loop per kind, and per exp mode where the
     * kind takes exps (count: not used) */
#define SMC_COL_OUT_SOFTMAX(mode_, count_, use_t_) SMC_COL_OUT(SMC_COL_SOFTMAX, 1, mode_, use_t_)
#define SMC_COL_OUT_LOG_SOFTMAX(mode_, count_, use_t_)                                        \
    SMC_COL_OUT(SMC_COL_LOG_SOFTMAX, 1, mode_, use_t_)
    if (cc->full && ylane == (int64_t)sizeof(T)) {
        if (cc->kind == SMC_COL_SCALE_Y)
            SMC_COL_OUT(SMC_COL_SCALE_Y, 1, cc->mode, use_t);
        else if (cc->kind == SMC_COL_SOFTMAX)
            SMC_DISPATCH_EXP_MODE(SMC_COL_OUT_SOFTMAX, cc->mode, 1, use_t);
        else
            SMC_DISPATCH_EXP_MODE(SMC_COL_OUT_LOG_SOFTMAX, cc->mode, 1, use_t);
    } else {
        SMC_COL_OUT(cc->kind, 0, cc->mode, use_t);
    }
#undef SMC_COL_OUT_LOG_SOFTMAX
#undef SMC_COL_OUT_SOFTMAX
#undef SMC_COL_OUT
}

/* Reduce k <= SMC_COL_VECS * LANES adjacent rows, SMC_COL_VECS vectors of
 * LANES rows side by side: a step then reads whole cache lines, and the
 * page (TLB entry) of each step is paid once for all of them. */
static void FN(col_group)(const smc_job *job, const char *x, char *y, int64_t k,
                          FN(col_consts) *deferred)
{
    enum { G = SMC_COL_VECS, W = SMC_COL_VECS * LANES };
    const int64_t n = job->g.n, xs = job->x.step, ys = job->y.step;
    const int64_t ls = job->x.strides[job->g.ndim - 1];   /* between lanes */
    const int64_t ylane = job->y.strides[job->g.ndim - 1];
    const int use_t = job->use_t;
    T ih, il;
    FN(split2)(job->inv_t, job->inv_t_lo, &ih, &il);
    const V inv_t = SPLAT(ih), inv_lo = SPLAT(il), zero = SPLAT(0);
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
    /* the smallest element of each lane (of the chunk, of the column) picks
     * the exp mode (exp_mode_lanes); the padding lanes of a partial vector
     * (-inf) count as +inf, so they do not force SLOW */
    V chunk_min[G], col_min[G];
    VM real_lane = VOP(eq)(zero, zero);
    if (k % LANES) {
        T pad[LANES];
        for (int l = 0; l < LANES; l++)
            pad[l] = l < k % LANES ? (T)0 : (T)1;
        real_lane = VOP(eq)(VOP(load)(pad), zero);
    }
    double count[W];
    for (int g = 0; g < G; g++) {
        m[g] = SPLAT(-INFINITY);
        hi[g] = lo[g] = zero;
        col_min[g] = SPLAT(INFINITY);
    }
    for (int l = 0; l < W; l++)
        count[l] = 0.0;
    /* softmax into lanes that are neighbours in y: one exp per element.
     * A first pass finds each lane's final maximum, the statistics pass
     * stores exp(x - max) in y, and the output pass only scales y.  That is
     * one more pass over the group's columns: where the columns do not
     * stay in L2, and exp is cheap (SMC_ISA_CHEAP_EXP) or the array comes
     * from memory, the second exp costs less than the pass (AVX-512,
     * 4096x1024 over axis 0: 20-25% faster with two exps, with 256 steps
     * 30% slower; AVX2 (Zen 3), 4096 steps of float32: 40% slower with
     * 4 MiB of x, even at 8 MiB, 20-25% faster at 12-16 MiB). */
    const int64_t group_bytes = n * k * (int64_t)sizeof(T);
    const int one_exp = job->op == SMC_OP_SOFTMAX && ylane == (int64_t)sizeof(T) &&
                        !(group_bytes > SMC_COL_CACHED_BYTES &&
                          (SMC_ISA_CHEAP_EXP || n * job->rows * (int64_t)sizeof(T) >
                                                    SMC_COL_MEMORY_BYTES));
    const int full = ls == (int64_t)sizeof(T) && k == W;
    if (one_exp) {
        FN(col_range)(x, xs, ls, n, n, kv, nv, full, m, col_min);
        if (k % LANES)
            col_min[nv - 1] = VOP(select)(real_lane, col_min[nv - 1], SPLAT(INFINITY));
    }

    for (int64_t c0 = 0; c0 < n; c0 += SMC_COL_CHUNK) {
        int64_t len = n - c0 < SMC_COL_CHUNK ? n - c0 : SMC_COL_CHUNK;
        const char *xc = x + c0 * xs;
        char *yc = y + c0 * ys;
        V vmax[G];      /* the chunk's own maxima */
        for (int g = 0; g < nv; g++) {
            vmax[g] = one_exp ? m[g] : SPLAT(-INFINITY);
            chunk_min[g] = one_exp ? col_min[g] : SPLAT(INFINITY);
        }
        if (!one_exp) {
            FN(col_range)(xc, xs, ls, len, n - c0, kv, nv, full, vmax, chunk_min);
            if (k % LANES)
                chunk_min[nv - 1] = VOP(select)(real_lane, chunk_min[nv - 1], SPLAT(INFINITY));
            for (int g = 0; g < nv; g++)
                col_min[g] = VOP(min)(chunk_min[g], col_min[g]);
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
            m[g] = VOP(max)(vmax[g], m[g]);
            hi[g] = VOP(load)(h);
            lo[g] = VOP(load)(lw);
        }
        const int mode = FN(col_mode)(chunk_min, m, nv, use_t);
        /* most chunks hold no lane's maximum: then no count (the -inf
         * padding of a partial vector always counts) */
        int holds_max = one_exp || mode == SMC_EXP_SLOW;
        for (int g = 0; g < nv && !holds_max; g++)
            holds_max = VOP(any)(VOP(eq)(vmax[g], m[g]));
        V cnt[G], neg_m[G];
        for (int g = 0; g < nv; g++) {
            cnt[g] = zero;
            neg_m[g] = VOP(sub)(zero, m[g]);
        }
        /* what the exp pass prefetches: the next chunk, or with one_exp
         * (no max pass over the chunk: it comes from memory) its own
         * steps, SMC_PREFETCH_STEPS ahead */
        const char *pf = xc + (one_exp ? SMC_PREFETCH_STEPS : len) * xs;
        int64_t pf_steps = n - c0 - (one_exp ? SMC_PREFETCH_STEPS : len);
        if (ls <= 0)
            pf_steps = 0;
        /* one specialised loop per exp mode and count */
#define SMC_COL_SUMS(mode_, count_, use_t_)                                                   \
        FN(col_sums)(xc, yc, xs, ys, ls, ylane, len, kv, nv, one_exp, mode_, count_, m, neg_m, \
                     inv_t, inv_lo, use_t_, hi, lo, cnt, pf, pf_steps, k * ls)
        SMC_DISPATCH_EXP_MODE(SMC_COL_SUMS, mode, holds_max, use_t);
#undef SMC_COL_SUMS
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
    FN(col_consts) own, *cc = deferred ? deferred : &own;
    for (int g = 0; g < nv; g++) {
        cc->pm[g] = VOP(load)(a + g * LANES);
        cc->p1[g] = VOP(load)(b + g * LANES);
        cc->p2[g] = VOP(load)(c + g * LANES);
        cc->neg_pm[g] = VOP(sub)(zero, cc->pm[g]);
        cc->kv[g] = kv[g];
    }
    cc->k = k;
    cc->nv = nv;
    cc->full = full;
    cc->mode = FN(col_mode)(col_min, cc->pm, nv, use_t);
    cc->kind = one_exp ? SMC_COL_SCALE_Y
               : job->op == SMC_OP_SOFTMAX ? SMC_COL_SOFTMAX : SMC_COL_LOG_SOFTMAX;
    if (!deferred)
        FN(col_output)(job, cc, x, y, n);
}

#ifndef SMC_SHORT_FINALIZE
#define SMC_SHORT_FINALIZE
/* ---- smc_finalize for a vector of rows (short_group) -----------------------------
 * Written once per ISA in double vectors (f64_ ops) for both dtypes: a
 * per-row scalar smc_finalize (a division, and a libm log1p for the log
 * ops) cost more than all the rest of a short row. */

/* a + b = s + *err exactly (TwoSum) */
static inline f64v smc_v_two_sum(f64v a, f64v b, f64v *err)
{
    f64v s = f64_add(a, b);
    f64v bb = f64_sub(s, a);
    *err = f64_add(f64_sub(a, f64_sub(s, bb)), f64_sub(b, bb));
    return s;
}

/* a * b = p + *err exactly: the FMA, or Dekker's product as smc_two_prod */
static inline f64v smc_v_two_prod(f64v a, f64v b, f64v *err)
{
    f64v p = f64_mul(a, b);
#if SMC_ISA_HAS_FMA
    *err = f64_fma(a, b, f64_sub(f64_set1(0.0), p));
#else
    const f64v split = f64_set1(134217729.0);
    f64v ca = f64_mul(split, a), cb = f64_mul(split, b);
    f64v ah = f64_sub(ca, f64_sub(ca, a)), al = f64_sub(a, ah);
    f64v bh = f64_sub(cb, f64_sub(cb, b)), bl = f64_sub(b, bh);
    f64v e = f64_sub(f64_mul(ah, bh), p);
    e = f64_add(f64_add(e, f64_mul(ah, bl)), f64_mul(al, bh));
    *err = f64_add(e, f64_mul(al, bl));
#endif
    return p;
}

/* log1p(r) on the domain of the short rows: r = c - 1 + s with c >= 1
 * maxima and 0 <= s < n other terms, so 1 + r in [1, 2^15.5)
 * (n <= SMC_SHORT_MAX_VECS * LANES), or r = -1 (an empty row: -inf), or
 * NaN (kept).  lo NULL (float32 results): relative error a few 2^-53, far
 * below what a float rounding of the result can see.  Otherwise the result
 * is hi + *lo, to about 2^-60 relative (float64 results need more than one
 * double: libm's log1p alone is off by up to about 0.5 ulp). */
static inline f64v smc_v_log1p_short(f64v r, f64v *lo)
{
    const f64v one = f64_set1(1.0), zero = f64_set1(0.0);
    f64v u_err, u = smc_v_two_sum(one, r, &u_err);
    /* u = 2^k * t with t in (2^-0.5, 2^0.5], sc = 2^-k, all exact */
#if SMC_ISA_HAS_GETEXP
    f64v t = f64_getmant(u), k = f64_getexp(u);
    f64m big = f64_gt(t, f64_set1(1.4142135623730951));
    t = f64_select(big, f64_mul(t, f64_set1(0.5)), t);
    k = f64_select(big, f64_add(k, one), k);
    f64v sc = f64_scalef(one, f64_sub(zero, k));
#else
    /* by exact powers of 2, in four compare-and-scale steps (no integer
     * ops in these backends) */
    f64v t = u, sc = one, k = zero;
    static const double step[4] = { 8, 4, 2, 1 };
    static const double above[4] = { 181.01933598375618, 11.313708498984761,   /* 2^(step - 0.5) */
                                     2.8284271247461903, 1.4142135623730951 };
    for (int i = 0; i < 4; i++) {
        f64m big = f64_gt(t, f64_set1(above[i]));
        f64v down = f64_set1(1.0 / (double)(1 << (int)step[i]));
        t = f64_select(big, f64_mul(t, down), t);
        sc = f64_select(big, f64_mul(sc, down), sc);
        k = f64_select(big, f64_add(k, f64_set1(step[i])), k);
    }
#endif
    f64v t_err = f64_mul(u_err, sc);
    /* log(t + t_err) = 2 atanh(z), z = (t - 1 + t_err) / (t + 1 + t_err);
     * t - 1 is exact (Sterbenz) */
    f64v z, z_lo = zero;
    if (!lo) {
        f64v a = f64_add(f64_sub(t, one), t_err);
        z = f64_div(a, f64_add(f64_add(t, one), t_err));
    } else {
        /* z as z + z_lo: the numerator (t - 1) + t_err exactly, the
         * denominator b + b_lo by TwoSum, and the division's remainder */
        f64v b_lo, b = smc_v_two_sum(t, one, &b_lo);
        b_lo = f64_add(b_lo, t_err);
        f64v a = f64_sub(t, one);
        z = f64_div(f64_add(a, t_err), b);
        f64v rem = f64_fma(f64_sub(zero, z), b, a);      /* (rounded once) */
        rem = f64_sub(f64_add(rem, t_err), f64_mul(z, b_lo));
        z_lo = f64_div(rem, b);
    }
    /* 2 atanh(z) = 2z + z^3 (2/3 + 2/5 z^2 + ...), |z| <= 0.172: the terms
     * up to z^23 leave a relative error below 1e-18; for float32 results
     * (lo NULL) those up to z^15, below 4e-14 */
    f64v w = f64_mul(z, z);
    const int top = lo ? 11 : 7;
    f64v q = f64_set1(2.0 / (2 * top + 1));
    for (int j = top - 1; j >= 1; j--)
        q = f64_fma(q, w, f64_set1(2.0 / (2 * j + 1)));
    /* k ln2 = k LN2_HI (exact: 32-bit LN2_HI) + k LN2_LO */
    const f64v ln2_hi = f64_set1(0x1.62e42fee00000p-1), ln2_lo = f64_set1(0x1.a39ef35793c76p-33);
    f64m empty = f64_eq(u, zero);
    if (!lo) {
        f64v log_t = f64_fma(f64_mul(z, w), q, f64_add(z, z));
        f64v v = f64_fma(k, ln2_lo, log_t);
        v = f64_fma(k, ln2_hi, v);
        return f64_select(empty, f64_set1(-INFINITY), v);
    }
    /* k LN2_HI + 2z exactly by TwoSum; the small terms go to *lo */
    f64v tail = f64_fma(f64_mul(z, w), q, f64_add(z_lo, z_lo));
    f64v e, v = smc_v_two_sum(f64_mul(k, ln2_hi), f64_add(z, z), &e);
    f64v v_lo = f64_add(e, f64_fma(k, ln2_lo, tail));
    f64v hi = f64_add(v, v_lo);                         /* Fast2Sum: |v_lo| << |v| */
    v_lo = f64_sub(v_lo, f64_sub(hi, v));
    *lo = f64_select(empty, zero, v_lo);
    return f64_select(empty, f64_set1(-INFINITY), hi);
}

/* smc_finalize for the rows in the lanes of (m, c, s_hi, s_lo): op's row
 * constant as *hi + *lo (scale, or log_sum), and for logsumexp *lse.
 * The same operations as smc_finalize, so the results are the same bit
 * for bit, except log1p: smc_v_log1p_short, for float64 results (wide)
 * in two terms. */
static inline void smc_v_finalize(int op, int wide, f64v m, f64v c, f64v s_hi,
                                  f64v s_lo, f64v *hi, f64v *lo, f64v *lse)
{
    const f64v zero = f64_set1(0.0), one = f64_set1(1.0), nan = f64_set1(NAN);
    f64v s = f64_add(s_hi, s_lo);
    f64m pinf = f64_eq(m, f64_set1(INFINITY));
    if (op == SMC_OP_SOFTMAX) {
        if (!wide) {
            *hi = f64_div(one, f64_add(c, s));
            *lo = zero;
        } else {
            f64v sum_lo, sum = smc_v_two_sum(c, s_hi, &sum_lo);
            sum_lo = f64_add(sum_lo, s_lo);
            f64v scale = f64_div(one, sum);
            f64v q_err, q = smc_v_two_prod(sum, scale, &q_err);
            *hi = scale;
            *lo = f64_mul(scale, f64_sub(f64_sub(f64_sub(one, q), q_err), f64_mul(sum_lo, scale)));
        }
        *hi = f64_select(pinf, nan, *hi);
        return;
    }
    f64v rest_lo, rest = smc_v_two_sum(f64_sub(c, one), s_hi, &rest_lo);
    rest_lo = f64_add(rest_lo, s_lo);
    f64v log1p_lo = zero;
    f64v log_sum = smc_v_log1p_short(rest, wide ? &log1p_lo : NULL);
    f64v log_sum_lo = f64_select(f64_eq(rest_lo, zero), zero,
                                 f64_div(rest_lo, f64_add(one, rest)));
    if (wide)
        log_sum_lo = f64_add(log_sum_lo, log1p_lo);
    *hi = f64_select(pinf, nan, log_sum);
    *lo = log_sum_lo;
    if (op != SMC_OP_LOGSUMEXP)
        return;
    f64v r = f64_add(m, f64_add(log_sum, log_sum_lo));
    if (wide) {                                 /* m + log_sum rounded once */
        f64v e, t = smc_v_two_sum(m, log_sum, &e);
        f64m finite = f64_gt(f64_set1(INFINITY), f64_abs(r));
        r = f64_select(finite, f64_add(t, f64_add(e, log_sum_lo)), r);
    }
    /* a row holding +inf: +inf, or NaN if it also holds a NaN (s is NaN) */
    *lse = f64_select(pinf, f64_select(f64_eq(s, s), f64_set1(INFINITY), nan), r);
}
#endif

/* The statistics of LANES short rows, one per lane (lane_sums): maximum m,
 * count of m, and the others' sum of exps acc0 + acc1 + lo, kept in T. */
typedef struct FN(lane_stats) {
    V m, cnt, acc0, acc1, lo;
} FN(lane_stats);

/* Lane maxima *m of the n steps xv[0..n), and the exp mode they and the
 * lane minima allow (exp_mode_lanes; NaN ignored, as in col_range). */
static inline int FN(lanes_mode)(const V *xv, int64_t n, int use_t, V *m)
{
    V mx = SPLAT(-INFINITY), lo = SPLAT(INFINITY);
    for (int64_t i = 0; i < n; i++) {
        mx = VOP(max)(xv[i], mx);
        lo = VOP(min)(xv[i], lo);
    }
    *m = mx;
    return FN(exp_mode_lanes)(lo, mx, use_t);
}

/* The lane statistics of the n steps xv[0..n), whose lane maxima are m,
 * with exps in `mode` (exp_mode_lanes): with keep_exp, xv[i] becomes the
 * exps.  compensate: lo keeps the roundings of the sums (Fast2Sum: acc is
 * the larger part once it holds a term).  Inlined once per mode. */
SMC_INLINE void FN(lane_sums)(V *xv, int64_t n, V m, V neg_m, int mode, V inv_t, V inv_lo,
                              int use_t, int keep_exp, int compensate, FN(lane_stats) *st)
{
    const V zero = SPLAT(0), one = SPLAT(1);
    V acc0 = zero, acc1 = zero, lo = zero, cnt = zero;
    for (int64_t i = 0; i < n; i++) {
        VM eq = VOP(eq)(xv[i], m);
        V e = FN(exp_in_mode)(xv[i], m, neg_m, mode, inv_t, inv_lo, use_t);
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
    st->m = m;
    st->cnt = cnt;
    st->acc0 = acc0;
    st->acc1 = acc1;
    st->lo = lo;
}

/* Half h of the lanes of st in double (m, count, sum, its low part), as
 * smc_v_finalize takes them: float32 has two halves, float64 one. */
static inline void FN(lane_stats_half)(const FN(lane_stats) *st, int h, f64v *m, f64v *c,
                                       f64v *s, f64v *lo)
{
#if LANES == F32_LANES
    *m = h ? f32_widen_hi(st->m) : f32_widen_lo(st->m);
    *c = h ? f32_widen_hi(st->cnt) : f32_widen_lo(st->cnt);
    *s = h ? f64_add(f32_widen_hi(st->acc0), f32_widen_hi(st->acc1))
           : f64_add(f32_widen_lo(st->acc0), f32_widen_lo(st->acc1));
    *lo = h ? f32_widen_hi(st->lo) : f32_widen_lo(st->lo);
#else
    (void)h;
    *m = st->m;
    *c = st->cnt;
    *s = f64_add(st->acc0, st->acc1);
    *lo = st->lo;
#endif
}

/* The row constants of short_group's LANES rows as two-term T vectors
 * p1 + p2 (softmax: scale; log_softmax: log_sum) and lse, from their
 * lane statistics.
 * (LANES == F32_LANES: the float32 instantiation.) */
#if LANES == F32_LANES
/* float32: computed in double, one half of the lanes at a time, then
 * split2 vectorised: hi = (float)v, lo = (float)((v - hi) + v_lo). */
static inline void FN(short_finalize)(int op, const FN(lane_stats) *st, V *p1, V *p2, V *lse)
{
    f64v h[2], l[2], e[2] = { f64_set1(0.0), f64_set1(0.0) };
    for (int i = 0; i < 2; i++) {
        f64v m, c, s, lo;
        FN(lane_stats_half)(st, i, &m, &c, &s, &lo);
        smc_v_finalize(op, 0, m, c, s, lo, &h[i], &l[i], &e[i]);
    }
    *lse = f32_narrow(e[0], e[1]);
    *p1 = f32_narrow(h[0], h[1]);
    *p2 = f32_narrow(f64_add(f64_sub(h[0], f32_widen_lo(*p1)), l[0]),
                     f64_add(f64_sub(h[1], f32_widen_hi(*p1)), l[1]));
}
#else
static inline void FN(short_finalize)(int op, const FN(lane_stats) *st, V *p1, V *p2, V *lse)
{
    f64v h, l, m, c, s, lo;
    FN(lane_stats_half)(st, 0, &m, &c, &s, &lo);
    *lse = f64_set1(0.0);
    smc_v_finalize(op, 1, m, c, s, lo, &h, &l, lse);
    *p1 = h;
    *p2 = f64_add(f64_sub(h, h), l);            /* split2 of a double pair */
}
#endif

/* short_group after its loads: statistics of the steps xv (lane maxima
 * m) and the outputs, with exps and differences in `mode`.  Inlined once
 * per mode. */
SMC_INLINE void FN(short_rest)(const smc_job *job, V *xv, V m, const char *x, char *y,
                               int64_t k, const int32_t *perm, int mode, V inv_t, V inv_lo,
                               int use_t)
{
    const int64_t n = job->g.n, ys = job->y.step;
    const int64_t ylane = job->y.strides[job->g.ndim - 1];
    const V neg_m = VOP(sub)(SPLAT(0), m);
    /* the outputs: with perm, from x again, as whole vectors; else four
     * elements of each row per store_steps4 (the reverse of load_steps4;
     * on rows of 10, slower than perm for log_softmax, 9% faster than
     * scalar stores for float64 softmax) */
    const int contig = perm && k == LANES;
    const int steps_out = !contig && ys == (int64_t)sizeof(T) && n >= 4 && k == LANES;
    /* A lane's whole sum is these few terms added in T.  In float32 their
     * roundings cost logsumexp (the 1-ulp op) up to 1.2 ulp, so there they
     * are kept (lane_sums). */
    const int compensate = sizeof(T) == 4 && job->op == SMC_OP_LOGSUMEXP;
    /* softmax keeps each exp for the output instead of computing it twice */
    const int keep_exp = job->op == SMC_OP_SOFTMAX && !contig;
    FN(lane_stats) st;
    FN(lane_sums)(xv, n, m, neg_m, mode, inv_t, inv_lo, use_t, keep_exp, compensate, &st);
    V a, b, lse;
    FN(short_finalize)(job->op, &st, &a, &b, &lse);
    if (job->op == SMC_OP_LOGSUMEXP) {
        if (ylane == (int64_t)sizeof(T)) {
            FN(col_store)(y, lse, k);
        } else {
            T o[LANES];
            VOP(store)(o, lse);
            for (int l = 0; l < k; l++)
                FN(store1)(y + l * ylane, o[l]);
        }
        return;
    }
    if (contig) {
        const T *xc = (const T *)x;
        T *yc = (T *)y;
        for (int64_t j = 0; j < n; j++) {
            SMC_CAT(DT, i) idx = VOP(perm_index)(perm + j * LANES);
            V xj = VOP(load)(xc + j * LANES);
            V mj = VOP(permute)(m, idx), aj = VOP(permute)(a, idx), bj = VOP(permute)(b, idx);
            V neg_mj = VOP(sub)(SPLAT(0), mj), out;
            if (job->op == SMC_OP_SOFTMAX) {
                V e = FN(exp_in_mode)(xj, mj, neg_mj, mode, inv_t, inv_lo, use_t);
                out = VOP(fma)(e, aj, VOP(mul)(e, bj));     /* as softmax_vec */
            } else {
                out = FN(log_softmax_in_mode)(xj, mj, neg_mj, aj, bj, mode, inv_t, inv_lo, use_t);
            }
            VOP(store)(yc + j * LANES, out);
        }
        return;
    }
    for (int64_t i = 0; i < n && steps_out; i++)
        xv[i] = keep_exp ? VOP(fma)(xv[i], a, VOP(mul)(xv[i], b))
                         : FN(log_softmax_in_mode)(xv[i], m, neg_m, a, b, mode, inv_t, inv_lo,
                                                   use_t);
    if (steps_out) {
        int64_t i = 0;
        for (; i + 4 <= n; i += 4)
            VOP(store_steps4)(y + i * ys, ylane, xv + i);
        if (i < n)           /* the row's last four: again steps already stored */
            VOP(store_steps4)(y + (n - 4) * ys, ylane, xv + n - 4);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        V out = keep_exp ? VOP(fma)(xv[i], a, VOP(mul)(xv[i], b))   /* exp * scale */
                         : FN(log_softmax_in_mode)(xv[i], m, neg_m, a, b, mode, inv_t, inv_lo,
                                                   use_t);
        T o[LANES];
        VOP(store)(o, out);
        for (int l = 0; l < k; l++)
            FN(store1)(y + i * ys + l * ylane, o[l]);
    }
}

/* Short rows (n <= SMC_SHORT_MAX_VECS * LANES), one per lane: the whole
 * group stays in registers, so each element is loaded once, and all the
 * bookkeeping of col_group (chunks, rescaling, flushes) is skipped.  The
 * sums have at most SMC_SHORT_MAX_VECS * LANES / 2 terms per accumulator,
 * few enough to keep in T.
 * perm (see cols(); NULL unless x and y hold their rows back to back):
 * perm[j * LANES + t] = (j * LANES + t) / n, the row of each element of a
 * full group's n * LANES contiguous elements, so the output pass reads and
 * writes them as whole vectors, with each row's constants moved to its
 * elements by a permute, instead of one scalar store per element. */
static void FN(short_group)(const smc_job *job, const char *x, char *y, int64_t k,
                            const int32_t *perm)
{
    const int64_t n = job->g.n, xs = job->x.step;
    const int64_t ls = job->x.strides[job->g.ndim - 1];
    const int use_t = job->use_t;
    T ih, il;
    FN(split2)(job->inv_t, job->inv_t_lo, &ih, &il);
    const V inv_t = SPLAT(ih), inv_lo = SPLAT(il);
    V xv[SMC_SHORT_MAX_VECS * LANES];
    if (xs == (int64_t)sizeof(T) && n >= 4 && k == LANES) {
        /* four steps per load_steps4; the last 1-3 from the row's last four */
        int64_t i = 0;
        for (; i + 4 <= n; i += 4)
            VOP(load_steps4)(x + i * xs, ls, xv + i);
        if (i < n) {
            V last[4];
            VOP(load_steps4)(x + (n - 4) * xs, ls, last);
            xv[n - 1] = last[3];
            if (n - i > 1)
                xv[n - 2] = last[2];
            if (n - i > 2)
                xv[n - 3] = last[1];
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            xv[i] = FN(col_load)(x + i * xs, k, ls);
    }
    /* each lane's maximum and smallest element pick the exp mode of the
     * group (exp_mode_lanes), as in col_group: no range checks and cheaper
     * rounding errors of x - m (float32 rows of 10-40: 6-25% faster).  A
     * partial group's padding lanes (-inf) make it SLOW, and so do fewer
     * than 4 steps, where picking costs more than it saves (float64 rows
     * of 3: 7-14% slower). */
    V m;
    const int allowed = FN(lanes_mode)(xv, n, use_t, &m);
    const int mode = k == LANES && n >= 4 ? allowed : SMC_EXP_SLOW;
#define SMC_SHORT_REST(mode_, count_, use_t_)                                                 \
    FN(short_rest)(job, xv, m, x, y, k, perm, mode_, inv_t, inv_lo, use_t_)
    SMC_DISPATCH_EXP_MODE(SMC_SHORT_REST, mode, 1, use_t);
#undef SMC_SHORT_REST
}

static void FN(cols)(const smc_job *job, int64_t line, int64_t j0, int64_t j1)
{
    int inner = job->g.ndim - 1;
    int64_t xoff, yoff;
    smc_offsets(job, line, inner, &xoff, &yoff);
    int64_t xstr = job->x.strides[inner], ystr = job->y.strides[inner];
    const int64_t n = job->g.n, sz = (int64_t)sizeof(T);
    int is_short = n <= SMC_SHORT_MAX_VECS * LANES;
    int64_t width = is_short ? LANES : SMC_COL_VECS * LANES;
    /* log_softmax of short rows back to back in x and y (C order): the row
     * of each element of a group (see short_group).  softmax then computes
     * each exp a second time, in the output pass: for float32 (16 lanes,
     * so 16 scalar stores per vector otherwise) 9-14% faster on rows of
     * 10-30; for float64, 6% slower than keeping the exps. */
    int32_t perm_buf[SMC_SHORT_MAX_VECS * LANES * LANES];
    const int32_t *perm = NULL;
    int vector_out = job->op == SMC_OP_LOG_SOFTMAX ||
                     (job->op == SMC_OP_SOFTMAX && sizeof(T) == 4);
    if (is_short && n > 0 && vector_out && job->x.step == sz &&
        job->y.step == sz && xstr == n * sz && ystr == n * sz) {
        int32_t row = 0, col = 0;
        for (int64_t e = 0; e < n * LANES; e++) {
            perm_buf[e] = row;
            if (++col == n) {
                row++;
                col = 0;
            }
        }
        perm = perm_buf;
    }
    for (int64_t j = j0; j < j1; j += width) {
        int64_t k = j1 - j < width ? j1 - j : width;
        const char *x = (const char *)job->x.data + xoff + j * xstr;
        char *y = (char *)job->y.data + yoff + j * ystr;
        if (is_short)
            FN(short_group)(job, x, y, k, perm);
        else
            FN(col_group)(job, x, y, k, NULL);
    }
}

/* Column mode in two phases (smc_col_two_phase), phase 1: the groups of
 * columns [j0, j1) of a line, each group's output constants into its
 * record of the line's `consts`. */
static void FN(col_stats)(const smc_job *job, int64_t line, int64_t j0, int64_t j1, void *consts)
{
    int64_t xoff, yoff;
    smc_offsets(job, line, job->g.ndim - 1, &xoff, &yoff);
    const int64_t width = SMC_COL_VECS * LANES, sz = (int64_t)sizeof(T);
    FN(col_consts) *cc = (FN(col_consts) *)consts;
    for (int64_t j = j0; j < j1; j += width)
        FN(col_group)(job, (const char *)job->x.data + xoff + j * sz,
                      (char *)job->y.data + yoff + j * sz, j1 - j < width ? j1 - j : width,
                      &cc[j / width]);
}

/* Phase 2: steps [i0, i1) of every group of a line, step by step. */
static void FN(col_output_steps)(const smc_job *job, int64_t line, int64_t i0, int64_t i1,
                                 const void *consts)
{
    int64_t xoff, yoff;
    smc_offsets(job, line, job->g.ndim - 1, &xoff, &yoff);
    const int64_t width = SMC_COL_VECS * LANES, sz = (int64_t)sizeof(T);
    const int64_t cols = job->g.shape[job->g.ndim - 1];
    const FN(col_consts) *cc = (const FN(col_consts) *)consts;
    for (int64_t i = i0; i < i1; i++) {
        const char *x = (const char *)job->x.data + xoff + i * job->x.step;
        char *y = (char *)job->y.data + yoff + i * job->y.step;
        for (int64_t j = 0; j < cols; j += width)
            FN(col_output)(job, &cc[j / width], x + j * sz, y + j * sz, 1);
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
#undef SMC_COL_CACHED_BYTES
#undef SMC_COL_MEMORY_BYTES
