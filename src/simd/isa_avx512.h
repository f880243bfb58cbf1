/* AVX-512F backend (same semantics as isa_generic.h).  Masks are k-registers. */
#ifndef SMC_ISA_AVX512_H
#define SMC_ISA_AVX512_H
#include <immintrin.h>
#include <stdint.h>

#define SMC_ISA_NAME "avx512"
#define SMC_ISA_HAS_FMA 1
#define SMC_ISA_CHEAP_EXP 1   /* exp is cheap next to a pass over memory (see col_group) */
#define F32_LANES 16
#define F64_LANES 8

typedef __m512    f32v;
typedef __mmask16 f32m;
typedef __m512d   f64v;
typedef __mmask8  f64m;

SMC_INLINE f32v f32_load(const float *p) { return _mm512_loadu_ps(p); }
SMC_INLINE void f32_store(float *p, f32v a) { _mm512_storeu_ps(p, a); }
SMC_INLINE f32v f32_set1(float a) { return _mm512_set1_ps(a); }
SMC_INLINE f32v f32_add(f32v a, f32v b) { return _mm512_add_ps(a, b); }
SMC_INLINE f32v f32_sub(f32v a, f32v b) { return _mm512_sub_ps(a, b); }
SMC_INLINE f32v f32_mul(f32v a, f32v b) { return _mm512_mul_ps(a, b); }
SMC_INLINE f32v f32_div(f32v a, f32v b) { return _mm512_div_ps(a, b); }
SMC_INLINE f32v f32_fma(f32v a, f32v b, f32v c) { return _mm512_fmadd_ps(a, b, c); }
SMC_INLINE f32v f32_max(f32v a, f32v b) { return _mm512_max_ps(a, b); }
SMC_INLINE f32v f32_min(f32v a, f32v b) { return _mm512_min_ps(a, b); }
SMC_INLINE f32v f32_abs(f32v a) { return _mm512_abs_ps(a); }
SMC_INLINE f32m f32_eq(f32v a, f32v b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
SMC_INLINE f32m f32_gt(f32v a, f32v b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
/* mask_blend(k, x, y) takes y where k is set. */
SMC_INLINE f32v f32_select(f32m m, f32v a, f32v b) { return _mm512_mask_blend_ps(m, b, a); }
SMC_INLINE int  f32_any(f32m m) { return m != 0; }
SMC_INLINE f32v f32_load_part(const float *p, int64_t k, float fill)
{
    SMC_ASAN_LOAD(p, k * sizeof(float));
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), (__mmask16)((1u << k) - 1), p);
}
SMC_INLINE void f32_store_part(float *p, f32v a, int64_t k)
{
    SMC_ASAN_STORE(p, k * sizeof(float));
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << k) - 1), a);
}
SMC_INLINE f32v f32_gather_lanes(const char *p, int32_t stride)
{
    for (int i = 0; i < 16; i++)
        SMC_ASAN_LOAD(p + (int64_t)i * stride, sizeof(float));
    __m512i off = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                     _mm512_set1_epi32(stride));
    return _mm512_i32gather_ps(off, p, 1);
}
/* out[t] = element t of each of 16 rows (row l at p + l * row_stride):
 * four contiguous elements of a row per 16-byte load, four rows per vector
 * (rows r, r+4, r+8, r+12 of z[r]), then a 4x4 transpose in each 128-bit
 * block.  Cheaper than four gathers. */
SMC_INLINE void f32_load_steps4(const char *p, int64_t row_stride, f32v out[4])
{
    f32v z[4];
    for (int r = 0; r < 4; r++) {
        const char *q = p + r * row_stride;
        SMC_ASAN_LOAD(q, 16);
        SMC_ASAN_LOAD(q + 4 * row_stride, 16);
        SMC_ASAN_LOAD(q + 8 * row_stride, 16);
        SMC_ASAN_LOAD(q + 12 * row_stride, 16);
        f32v v = _mm512_castps128_ps512(_mm_loadu_ps((const float *)q));
        v = _mm512_insertf32x4(v, _mm_loadu_ps((const float *)(q + 4 * row_stride)), 1);
        v = _mm512_insertf32x4(v, _mm_loadu_ps((const float *)(q + 8 * row_stride)), 2);
        z[r] = _mm512_insertf32x4(v, _mm_loadu_ps((const float *)(q + 12 * row_stride)), 3);
    }
    __m512d t0 = _mm512_castps_pd(_mm512_unpacklo_ps(z[0], z[1]));
    __m512d t1 = _mm512_castps_pd(_mm512_unpackhi_ps(z[0], z[1]));
    __m512d t2 = _mm512_castps_pd(_mm512_unpacklo_ps(z[2], z[3]));
    __m512d t3 = _mm512_castps_pd(_mm512_unpackhi_ps(z[2], z[3]));
    out[0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    out[1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    out[2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    out[3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
}
/* The reverse of load_steps4: element t of each of 16 rows from in[t]
 * (the 4x4 transposes undo themselves), four elements per 16-byte store. */
SMC_INLINE void f32_store_steps4(char *p, int64_t row_stride, const f32v in[4])
{
    __m512d t0 = _mm512_castps_pd(_mm512_unpacklo_ps(in[0], in[1]));
    __m512d t1 = _mm512_castps_pd(_mm512_unpackhi_ps(in[0], in[1]));
    __m512d t2 = _mm512_castps_pd(_mm512_unpacklo_ps(in[2], in[3]));
    __m512d t3 = _mm512_castps_pd(_mm512_unpackhi_ps(in[2], in[3]));
    f32v z[4] = { _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2)),
                  _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2)),
                  _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3)),
                  _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3)) };
    for (int r = 0; r < 4; r++) {
        char *q = p + r * row_stride;
        SMC_ASAN_STORE(q, 16);
        SMC_ASAN_STORE(q + 4 * row_stride, 16);
        SMC_ASAN_STORE(q + 8 * row_stride, 16);
        SMC_ASAN_STORE(q + 12 * row_stride, 16);
        _mm_storeu_ps((float *)q, _mm512_castps512_ps128(z[r]));
        _mm_storeu_ps((float *)(q + 4 * row_stride), _mm512_extractf32x4_ps(z[r], 1));
        _mm_storeu_ps((float *)(q + 8 * row_stride), _mm512_extractf32x4_ps(z[r], 2));
        _mm_storeu_ps((float *)(q + 12 * row_stride), _mm512_extractf32x4_ps(z[r], 3));
    }
}
SMC_INLINE f32v f32_pow2_from_magic(f32v t)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23));
}
/* p * 2^n for integral n, rounded once (subnormal and overflowing results
 * included): one instruction where the other ISAs build 2^n from bits */
#define SMC_ISA_HAS_SCALEF 1
SMC_INLINE f32v f32_scalef(f32v p, f32v n) { return _mm512_scalef_ps(p, n); }
SMC_INLINE f64v f64_scalef(f64v p, f64v n) { return _mm512_scalef_pd(p, n); }
/* a = mant * 2^exp with mant in [1, 2): exp and mant, exact (a > 0 finite) */
#define SMC_ISA_HAS_GETEXP 1
SMC_INLINE f64v f64_getexp(f64v a) { return _mm512_getexp_pd(a); }
SMC_INLINE f64v f64_getmant(f64v a) { return _mm512_getmant_pd(a, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src); }
typedef __m512i f32i;
SMC_INLINE f32i f32_perm_index(const int32_t *idx) { return _mm512_loadu_si512(idx); }
SMC_INLINE f32v f32_permute(f32v a, f32i idx) { return _mm512_permutexvar_ps(idx, a); }

SMC_INLINE f64v f64_load(const double *p) { return _mm512_loadu_pd(p); }
SMC_INLINE void f64_store(double *p, f64v a) { _mm512_storeu_pd(p, a); }
SMC_INLINE f64v f64_set1(double a) { return _mm512_set1_pd(a); }
SMC_INLINE f64v f64_add(f64v a, f64v b) { return _mm512_add_pd(a, b); }
SMC_INLINE f64v f64_sub(f64v a, f64v b) { return _mm512_sub_pd(a, b); }
SMC_INLINE f64v f64_mul(f64v a, f64v b) { return _mm512_mul_pd(a, b); }
SMC_INLINE f64v f64_div(f64v a, f64v b) { return _mm512_div_pd(a, b); }
SMC_INLINE f64v f64_fma(f64v a, f64v b, f64v c) { return _mm512_fmadd_pd(a, b, c); }
SMC_INLINE f64v f64_max(f64v a, f64v b) { return _mm512_max_pd(a, b); }
SMC_INLINE f64v f64_min(f64v a, f64v b) { return _mm512_min_pd(a, b); }
SMC_INLINE f64v f64_abs(f64v a) { return _mm512_abs_pd(a); }
SMC_INLINE f64m f64_eq(f64v a, f64v b) { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
SMC_INLINE f64m f64_gt(f64v a, f64v b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
SMC_INLINE f64v f64_select(f64m m, f64v a, f64v b) { return _mm512_mask_blend_pd(m, b, a); }
SMC_INLINE int  f64_any(f64m m) { return m != 0; }
SMC_INLINE f64v f64_load_part(const double *p, int64_t k, double fill)
{
    SMC_ASAN_LOAD(p, k * sizeof(double));
    return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), (__mmask8)((1u << k) - 1), p);
}
SMC_INLINE void f64_store_part(double *p, f64v a, int64_t k)
{
    SMC_ASAN_STORE(p, k * sizeof(double));
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << k) - 1), a);
}
SMC_INLINE f64v f64_gather_lanes(const char *p, int32_t stride)
{
    for (int i = 0; i < 8; i++)
        SMC_ASAN_LOAD(p + (int64_t)i * stride, sizeof(double));
    __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    return _mm512_i32gather_pd(off, p, 1);
}
/* out[t] = element t of each of 8 rows: a 32-byte load per row, rows r
 * and r+4 in z[r], a 4x4 transpose in each 256-bit half */
SMC_INLINE void f64_load_steps4(const char *p, int64_t row_stride, f64v out[4])
{
    f64v z[4];
    for (int r = 0; r < 4; r++) {
        const char *q = p + r * row_stride;
        SMC_ASAN_LOAD(q, 32);
        SMC_ASAN_LOAD(q + 4 * row_stride, 32);
        z[r] = _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_loadu_pd((const double *)q)),
                                  _mm256_loadu_pd((const double *)(q + 4 * row_stride)), 1);
    }
    f64v t0 = _mm512_unpacklo_pd(z[0], z[1]), t1 = _mm512_unpackhi_pd(z[0], z[1]);
    f64v t2 = _mm512_unpacklo_pd(z[2], z[3]), t3 = _mm512_unpackhi_pd(z[2], z[3]);
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    out[0] = _mm512_permutex2var_pd(t0, lo, t2);
    out[1] = _mm512_permutex2var_pd(t1, lo, t3);
    out[2] = _mm512_permutex2var_pd(t0, hi, t2);
    out[3] = _mm512_permutex2var_pd(t1, hi, t3);
}
/* the reverse of load_steps4 */
SMC_INLINE void f64_store_steps4(char *p, int64_t row_stride, const f64v in[4])
{
    f64v t0 = _mm512_unpacklo_pd(in[0], in[1]), t1 = _mm512_unpackhi_pd(in[0], in[1]);
    f64v t2 = _mm512_unpacklo_pd(in[2], in[3]), t3 = _mm512_unpackhi_pd(in[2], in[3]);
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    f64v z[4] = { _mm512_permutex2var_pd(t0, lo, t2), _mm512_permutex2var_pd(t1, lo, t3),
                  _mm512_permutex2var_pd(t0, hi, t2), _mm512_permutex2var_pd(t1, hi, t3) };
    for (int r = 0; r < 4; r++) {
        char *q = p + r * row_stride;
        SMC_ASAN_STORE(q, 32);
        SMC_ASAN_STORE(q + 4 * row_stride, 32);
        _mm256_storeu_pd((double *)q, _mm512_castpd512_pd256(z[r]));
        _mm256_storeu_pd((double *)(q + 4 * row_stride), _mm512_extractf64x4_pd(z[r], 1));
    }
}
SMC_INLINE f64v f64_pow2_from_magic(f64v t)
{
    return _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_castpd_si512(t), 52));
}

/* Horizontal reductions, in a fixed tree order (deterministic).  The
 * inputs of reduce_max never hold NaN (the kernels' running maxima skip
 * it); reduce_add sums in double (float32 lanes are widened first). */
SMC_INLINE double f32_reduce_max(f32v a) { return _mm512_reduce_max_ps(a); }
SMC_INLINE double f64_reduce_max(f64v a) { return _mm512_reduce_max_pd(a); }
SMC_INLINE double f64_reduce_add(f64v a) { return _mm512_reduce_add_pd(a); }
SMC_INLINE double f32_reduce_add(f32v a)
{
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(a));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));   /* lo + hi: exact */
}

typedef __m512i f64i;
SMC_INLINE f64i f64_perm_index(const int32_t *idx)
{
    return _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)idx));
}
SMC_INLINE f64v f64_permute(f64v a, f64i idx) { return _mm512_permutexvar_pd(idx, a); }
/* lane l of (a, b) concatenated: index bits 0-2 pick the lane, bit 3 a or b */
#define SMC_ISA_HAS_PERMUTE2 1
SMC_INLINE f64v f64_permute2(f64v a, f64i idx, f64v b) { return _mm512_permutex2var_pd(a, idx, b); }
SMC_INLINE f64i f64_index_bits(f64v a) { return _mm512_castpd_si512(a); }

SMC_INLINE f64v f32_widen_lo(f32v a) { return _mm512_cvtps_pd(_mm512_castps512_ps256(a)); }
SMC_INLINE f64v f32_widen_hi(f32v a)
{
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
}
SMC_INLINE f32v f32_narrow(f64v lo, f64v hi)
{
    __m512d l = _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)));
    return _mm512_castpd_ps(_mm512_insertf64x4(l, _mm256_castps_pd(_mm512_cvtpd_ps(hi)), 1));
}
#endif
