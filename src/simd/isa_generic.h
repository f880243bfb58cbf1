/*
 * Portable vector backend: 16-byte vectors, which GCC and Clang compile to
 * SSE2 on x86-64 and NEON on aarch64 (other compilers: lane loops).
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
#define SMC_ISA_HAS_SCALEF 0   /* 2^n built from exponent bits (see exp_core_*) */
#define SMC_ISA_HAS_GETEXP 0   /* no exponent / mantissa extraction (see smc_v_log1p_short) */
#define SMC_ISA_HAS_PERMUTE2 0 /* no two-source permute: no exp table (kernels.c) */
#define SMC_ISA_CHEAP_EXP 0   /* exp is not cheap next to a pass over memory (see col_group) */
#define F32_LANES 4
#define F64_LANES 2

/* Vector types: with GCC and Clang, their vector extensions (elementwise
 * operators, so every operation is one SSE2/NEON instruction whatever the
 * size of the loop around it); elsewhere, structs of lanes and plain loops
 * (left to the compiler's vectoriser; -DSMC_GENERIC_LANE_LOOPS picks them
 * with GCC too, to test them).  LANE(x, i) is lane i of either. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(SMC_GENERIC_LANE_LOOPS)
#define SMC_GENERIC_VECTOR_TYPES(DT, T, IT, W)                                 \
    typedef T DT##v __attribute__((vector_size(W * sizeof(T))));              \
    typedef IT DT##m __attribute__((vector_size(W * sizeof(T))));             \
    typedef int32_t DT##i __attribute__((vector_size(W * sizeof(int32_t))));
#define LANE(x, i) ((x)[i])
/* r = a OP b, lane by lane (OP: + - * / < > ==) */
#define SMC_ELEMENTWISE(r, a, OP, b, W) ((r) = (a) OP (b))
/* comparisons give 0 / -1 lanes of the mask type directly */
#define SMC_COMPARE(r, a, OP, b, W) ((r) = (a) OP (b))
/* r = m ? a : b lane by lane, as bits (a mask lane is 0 or all ones) */
#define SMC_SELECT(r, M, m, V, a, b, W) ((r) = (V)(((m) & (M)(a)) | (~(m) & (M)(b))))
#else
#define SMC_GENERIC_VECTOR_TYPES(DT, T, IT, W)                                 \
    typedef struct { T v[W]; } DT##v;                                          \
    typedef struct { IT v[W]; } DT##m;                                         \
    typedef struct { int32_t v[W]; } DT##i;
#define LANE(x, i) ((x).v[i])
#define SMC_ELEMENTWISE(r, a, OP, b, W)                                        \
    do { for (int i_ = 0; i_ < (W); i_++) LANE(r, i_) = LANE(a, i_) OP LANE(b, i_); } while (0)
#define SMC_COMPARE(r, a, OP, b, W)                                            \
    do { for (int i_ = 0; i_ < (W); i_++) LANE(r, i_) = -(LANE(a, i_) OP LANE(b, i_)); } while (0)
#define SMC_SELECT(r, M, m, V, a, b, W)                                        \
    do { for (int i_ = 0; i_ < (W); i_++) LANE(r, i_) = LANE(m, i_) ? LANE(a, i_) : LANE(b, i_); } while (0)
#endif

/* Operations written once for both dtypes. */
#define SMC_GENERIC_TYPES(DT, T, IT, W)                                        \
    SMC_GENERIC_VECTOR_TYPES(DT, T, IT, W)                                     \
    SMC_INLINE DT##v DT##_load(const T *p) { DT##v r; memcpy(&r, p, sizeof r); return r; } \
    SMC_INLINE void DT##_store(T *p, DT##v a) { memcpy(p, &a, sizeof a); }     \
    SMC_INLINE DT##v DT##_set1(T a) { DT##v r; for (int i = 0; i < W; i++) LANE(r, i) = a; return r; } \
    SMC_INLINE DT##v DT##_add(DT##v a, DT##v b) { DT##v r; SMC_ELEMENTWISE(r, a, +, b, W); return r; } \
    SMC_INLINE DT##v DT##_sub(DT##v a, DT##v b) { DT##v r; SMC_ELEMENTWISE(r, a, -, b, W); return r; } \
    SMC_INLINE DT##v DT##_mul(DT##v a, DT##v b) { DT##v r; SMC_ELEMENTWISE(r, a, *, b, W); return r; } \
    SMC_INLINE DT##v DT##_div(DT##v a, DT##v b) { DT##v r; SMC_ELEMENTWISE(r, a, /, b, W); return r; } \
    /* not fused: -ffp-contract=off keeps the product rounded */               \
    SMC_INLINE DT##v DT##_fma(DT##v a, DT##v b, DT##v c) { return DT##_add(DT##_mul(a, b), c); } \
    SMC_INLINE DT##m DT##_eq(DT##v a, DT##v b) { DT##m r; SMC_COMPARE(r, a, ==, b, W); return r; } \
    SMC_INLINE DT##m DT##_gt(DT##v a, DT##v b) { DT##m r; SMC_COMPARE(r, a, >, b, W); return r; } \
    SMC_INLINE DT##m DT##_lt(DT##v a, DT##v b) { DT##m r; SMC_COMPARE(r, a, <, b, W); return r; } \
    SMC_INLINE DT##v DT##_select(DT##m m, DT##v a, DT##v b) { DT##v r; SMC_SELECT(r, DT##m, m, DT##v, a, b, W); return r; } \
    SMC_INLINE DT##v DT##_max(DT##v a, DT##v b) { return DT##_select(DT##_gt(a, b), a, b); } \
    SMC_INLINE DT##v DT##_min(DT##v a, DT##v b) { return DT##_select(DT##_lt(a, b), a, b); } \
    SMC_INLINE DT##v DT##_abs(DT##v a) { return DT##_select(DT##_lt(a, DT##_set1(0)), DT##_sub(DT##_set1(0), a), a); } \
    SMC_INLINE int DT##_any(DT##m m) { IT r = 0; for (int i = 0; i < W; i++) r |= LANE(m, i); return r != 0; } \
    /* first k (0 < k < lanes) elements; the other lanes hold `fill` */          \
    /* (p may be unaligned: bytes are copied, never a T dereferenced) */        \
    SMC_INLINE DT##v DT##_load_part(const T *p, int64_t k, T fill) { T t[W]; for (int i = 0; i < W; i++) t[i] = fill; memcpy(t, p, (size_t)k * sizeof(T)); DT##v r; memcpy(&r, t, sizeof r); return r; } \
    SMC_INLINE void DT##_store_part(T *p, DT##v a, int64_t k) { memcpy(p, &a, (size_t)k * sizeof(T)); } \
    /* out[t] = element t of each of W rows (row l at p + l * row_stride) */ \
    SMC_INLINE void DT##_load_steps4(const char *p, int64_t row_stride, DT##v out[4]) { for (int t = 0; t < 4; t++) for (int i = 0; i < W; i++) { T v; memcpy(&v, p + i * row_stride + t * (int64_t)sizeof v, sizeof v); LANE(out[t], i) = v; } } \
    /* the reverse of load_steps4 */                                          \
    SMC_INLINE void DT##_store_steps4(char *p, int64_t row_stride, const DT##v in[4]) { for (int t = 0; t < 4; t++) for (int i = 0; i < W; i++) { T v = LANE(in[t], i); memcpy(p + i * row_stride + t * (int64_t)sizeof v, &v, sizeof v); } } \
    /* lane l from p + l * stride bytes (stride < 2^31 / lanes) */             \
    SMC_INLINE DT##v DT##_gather_lanes(const char *p, int32_t stride) { DT##v r; for (int i = 0; i < W; i++) { T t; memcpy(&t, p + (int64_t)i * stride, sizeof t); LANE(r, i) = t; } return r; } \
    SMC_INLINE DT##i DT##_perm_index(const int32_t *idx) { DT##i r; for (int i = 0; i < W; i++) LANE(r, i) = idx[i]; return r; } \
    SMC_INLINE DT##v DT##_permute(DT##v a, DT##i idx) { DT##v r; for (int i = 0; i < W; i++) LANE(r, i) = LANE(a, LANE(idx, i)); return r; }

SMC_GENERIC_TYPES(f32, float, int32_t, F32_LANES)
SMC_GENERIC_TYPES(f64, double, int64_t, F64_LANES)

SMC_INLINE f64v f32_widen_lo(f32v a) { f64v r; for (int i = 0; i < F64_LANES; i++) LANE(r, i) = LANE(a, i); return r; }
SMC_INLINE f64v f32_widen_hi(f32v a) { f64v r; for (int i = 0; i < F64_LANES; i++) LANE(r, i) = LANE(a, F64_LANES + i); return r; }
SMC_INLINE f32v f32_narrow(f64v lo, f64v hi)
{
    f32v r;
    for (int i = 0; i < F64_LANES; i++) {
        LANE(r, i) = (float)LANE(lo, i);
        LANE(r, F64_LANES + i) = (float)LANE(hi, i);
    }
    return r;
}

/* 2^k from t = k + (1.5 * 2^mantissa_bits + bias): shift the low bits of t
 * into the exponent field. */
SMC_INLINE f32v f32_pow2_from_magic(f32v t)
{
    uint32_t b[F32_LANES];
    memcpy(b, &t, sizeof b);
    for (int i = 0; i < F32_LANES; i++)
        b[i] <<= 23;
    memcpy(&t, b, sizeof b);
    return t;
}
SMC_INLINE f64v f64_pow2_from_magic(f64v t)
{
    uint64_t b[F64_LANES];
    memcpy(b, &t, sizeof b);
    for (int i = 0; i < F64_LANES; i++)
        b[i] <<= 52;
    memcpy(&t, b, sizeof b);
    return t;
}

/* Horizontal reductions (the vector backends use a fixed tree order; here
 * lanes go left to right).  reduce_max's inputs never hold NaN; reduce_add
 * sums in double. */
#define SMC_GENERIC_REDUCE(DT, W)                                                \
    SMC_INLINE double DT##_reduce_add(DT##v a) { double s = 0.0; for (int i = 0; i < W; i++) s += LANE(a, i); return s; } \
    SMC_INLINE double DT##_reduce_max(DT##v a) { double m = LANE(a, 0); for (int i = 1; i < W; i++) m = LANE(a, i) > m ? LANE(a, i) : m; return m; }
SMC_GENERIC_REDUCE(f32, F32_LANES)
SMC_GENERIC_REDUCE(f64, F64_LANES)
#undef LANE
#endif
