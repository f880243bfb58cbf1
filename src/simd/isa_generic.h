/*
 * Portable vector backend: short fixed-size lane arrays and plain loops.
 * GCC and Clang turn these into SSE2 on x86-64 and NEON on aarch64.
 * Semantics every backend must match (the kernels rely on them):
 *   max(a, b) = a > b ? a : b   and   min(a, b) = a < b ? a : b
 *     (so a NaN in `a` yields b: callers pass the value to keep second);
 *   comparisons are ordered (false when either side is NaN);
 *   fma(a, b, c) = a * b + c, fused where the ISA has FMA;
 *   div(a, b) = a / b, correctly rounded;
 *   permute(v, perm_index(idx)): lane t of the result is lane idx[t] of v
 *     (idx: lanes int32 values in [0, lanes));
 *   f32_widen_lo / f32_widen_hi: the low / high F64_LANES float lanes as
 *     double (F32_LANES = 2 * F64_LANES in every backend); f32_narrow(lo, hi)
 *     the reverse, each lane rounded to nearest.
 */
#ifndef SMC_ISA_GENERIC_H
#define SMC_ISA_GENERIC_H
#include <stdint.h>
#include <string.h>

#define SMC_ISA_NAME "baseline"
#define SMC_ISA_HAS_FMA 0
#define SMC_ISA_CHEAP_EXP 0   /* exp is not cheap next to a pass over memory (see col_group) */
#define F32_LANES 4
#define F64_LANES 2

/* Operations written once for both dtypes with a lane loop. */
#define SMC_GENERIC_TYPES(DT, T, IT, W)                                        \
    typedef struct { T v[W]; } DT##v;                                          \
    typedef struct { IT v[W]; } DT##m;                                         \
    static inline DT##v DT##_load(const T *p) { DT##v r; memcpy(r.v, p, sizeof r.v); return r; } \
    static inline void DT##_store(T *p, DT##v a) { memcpy(p, a.v, sizeof a.v); } \
    static inline DT##v DT##_set1(T a) { DT##v r; for (int i = 0; i < W; i++) r.v[i] = a; return r; } \
    static inline DT##v DT##_add(DT##v a, DT##v b) { for (int i = 0; i < W; i++) a.v[i] += b.v[i]; return a; } \
    static inline DT##v DT##_sub(DT##v a, DT##v b) { for (int i = 0; i < W; i++) a.v[i] -= b.v[i]; return a; } \
    static inline DT##v DT##_mul(DT##v a, DT##v b) { for (int i = 0; i < W; i++) a.v[i] *= b.v[i]; return a; } \
    static inline DT##v DT##_div(DT##v a, DT##v b) { for (int i = 0; i < W; i++) a.v[i] /= b.v[i]; return a; } \
    static inline DT##v DT##_fma(DT##v a, DT##v b, DT##v c) { for (int i = 0; i < W; i++) a.v[i] = a.v[i] * b.v[i] + c.v[i]; return a; } \
    static inline DT##v DT##_max(DT##v a, DT##v b) { for (int i = 0; i < W; i++) a.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i]; return a; } \
    static inline DT##v DT##_min(DT##v a, DT##v b) { for (int i = 0; i < W; i++) a.v[i] = a.v[i] < b.v[i] ? a.v[i] : b.v[i]; return a; } \
    static inline DT##v DT##_abs(DT##v a) { for (int i = 0; i < W; i++) a.v[i] = a.v[i] < 0 ? -a.v[i] : a.v[i]; return a; } \
    static inline DT##m DT##_eq(DT##v a, DT##v b) { DT##m r; for (int i = 0; i < W; i++) r.v[i] = -(IT)(a.v[i] == b.v[i]); return r; } \
    static inline DT##m DT##_gt(DT##v a, DT##v b) { DT##m r; for (int i = 0; i < W; i++) r.v[i] = -(IT)(a.v[i] > b.v[i]); return r; } \
    static inline DT##v DT##_select(DT##m m, DT##v a, DT##v b) { for (int i = 0; i < W; i++) a.v[i] = m.v[i] ? a.v[i] : b.v[i]; return a; } \
    static inline int DT##_any(DT##m m) { IT r = 0; for (int i = 0; i < W; i++) r |= m.v[i]; return r != 0; } \
    /* first k (0 < k < lanes) elements; the other lanes hold `fill` */          \
    static inline DT##v DT##_load_part(const T *p, int64_t k, T fill) { DT##v r; for (int i = 0; i < W; i++) r.v[i] = fill; memcpy(r.v, p, (size_t)k * sizeof(T)); return r; } \
    static inline void DT##_store_part(T *p, DT##v a, int64_t k) { memcpy(p, a.v, (size_t)k * sizeof(T)); } \
    /* lane l from p + l * stride bytes (stride < 2^31 / lanes) */             \
    static inline DT##v DT##_gather_lanes(const char *p, int32_t stride) { DT##v r; for (int i = 0; i < W; i++) memcpy(&r.v[i], p + (int64_t)i * stride, sizeof(T)); return r; } \
    typedef struct { int32_t v[W]; } DT##i;                                    \
    static inline DT##i DT##_perm_index(const int32_t *idx) { DT##i r; memcpy(r.v, idx, sizeof r.v); return r; } \
    static inline DT##v DT##_permute(DT##v a, DT##i idx) { DT##v r; for (int i = 0; i < W; i++) r.v[i] = a.v[idx.v[i]]; return r; }

SMC_GENERIC_TYPES(f32, float, int32_t, F32_LANES)
SMC_GENERIC_TYPES(f64, double, int64_t, F64_LANES)

static inline f64v f32_widen_lo(f32v a) { f64v r; for (int i = 0; i < F64_LANES; i++) r.v[i] = a.v[i]; return r; }
static inline f64v f32_widen_hi(f32v a) { f64v r; for (int i = 0; i < F64_LANES; i++) r.v[i] = a.v[F64_LANES + i]; return r; }
static inline f32v f32_narrow(f64v lo, f64v hi)
{
    f32v r;
    for (int i = 0; i < F64_LANES; i++) {
        r.v[i] = (float)lo.v[i];
        r.v[F64_LANES + i] = (float)hi.v[i];
    }
    return r;
}

/* 2^k from t = k + (1.5 * 2^mantissa_bits + bias): shift the low bits of t
 * into the exponent field. */
static inline f32v f32_pow2_from_magic(f32v t)
{
    for (int i = 0; i < F32_LANES; i++) {
        uint32_t b; memcpy(&b, &t.v[i], 4); b <<= 23; memcpy(&t.v[i], &b, 4);
    }
    return t;
}
static inline f64v f64_pow2_from_magic(f64v t)
{
    for (int i = 0; i < F64_LANES; i++) {
        uint64_t b; memcpy(&b, &t.v[i], 8); b <<= 52; memcpy(&t.v[i], &b, 8);
    }
    return t;
}

/* Horizontal reductions (the vector backends use a fixed tree order; here
 * lanes go left to right).  reduce_max's inputs never hold NaN; reduce_add
 * sums in double. */
#define SMC_GENERIC_REDUCE(DT, W)                                                \
    static inline double DT##_reduce_add(DT##v a) { double s = 0.0; for (int i = 0; i < W; i++) s += a.v[i]; return s; } \
    static inline double DT##_reduce_max(DT##v a) { double m = a.v[0]; for (int i = 1; i < W; i++) m = a.v[i] > m ? a.v[i] : m; return m; }
SMC_GENERIC_REDUCE(f32, F32_LANES)
SMC_GENERIC_REDUCE(f64, F64_LANES)
#endif
