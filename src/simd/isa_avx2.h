/* AVX2 + FMA backend (same semantics as isa_generic.h). */
#ifndef SMC_ISA_AVX2_H
#define SMC_ISA_AVX2_H
#include <immintrin.h>
#include <stdint.h>

#define SMC_ISA_NAME "avx2"
#define SMC_ISA_HAS_FMA 1
#define SMC_ISA_HAS_SCALEF 0   /* 2^n built from exponent bits (see exp_core_*) */
#define SMC_ISA_HAS_GETEXP 0   /* no exponent / mantissa extraction (see smc_v_log1p_short) */
#define SMC_ISA_HAS_PERMUTE2 0 /* no two-source permute: no exp table (kernels.c) */
#define SMC_ISA_CHEAP_EXP 0   /* exp is not cheap next to a pass over memory (see col_group) */
#define F32_LANES 8
#define F64_LANES 4

typedef __m256  f32v;
typedef __m256  f32m;
typedef __m256d f64v;
typedef __m256d f64m;

SMC_INLINE f32v f32_load(const float *p) { return _mm256_loadu_ps(p); }
SMC_INLINE void f32_store(float *p, f32v a) { _mm256_storeu_ps(p, a); }
SMC_INLINE f32v f32_set1(float a) { return _mm256_set1_ps(a); }
SMC_INLINE f32v f32_add(f32v a, f32v b) { return _mm256_add_ps(a, b); }
SMC_INLINE f32v f32_sub(f32v a, f32v b) { return _mm256_sub_ps(a, b); }
SMC_INLINE f32v f32_mul(f32v a, f32v b) { return _mm256_mul_ps(a, b); }
SMC_INLINE f32v f32_div(f32v a, f32v b) { return _mm256_div_ps(a, b); }
SMC_INLINE f32v f32_fma(f32v a, f32v b, f32v c) { return _mm256_fmadd_ps(a, b, c); }
SMC_INLINE f32v f32_max(f32v a, f32v b) { return _mm256_max_ps(a, b); }
SMC_INLINE f32v f32_min(f32v a, f32v b) { return _mm256_min_ps(a, b); }
SMC_INLINE f32v f32_abs(f32v a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
SMC_INLINE f32m f32_eq(f32v a, f32v b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
SMC_INLINE f32m f32_gt(f32v a, f32v b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
SMC_INLINE f32v f32_select(f32m m, f32v a, f32v b) { return _mm256_blendv_ps(b, a, m); }
SMC_INLINE int  f32_any(f32m m) { return _mm256_movemask_ps(m) != 0; }
SMC_INLINE __m256i f32_first_k(int64_t k)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
SMC_INLINE f32v f32_load_part(const float *p, int64_t k, float fill)
{
    SMC_ASAN_LOAD(p, k * sizeof(float));
    __m256i m = f32_first_k(k);     /* masked-out lanes are not read */
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
SMC_INLINE void f32_store_part(float *p, f32v a, int64_t k)
{
    SMC_ASAN_STORE(p, k * sizeof(float));
    _mm256_maskstore_ps(p, f32_first_k(k), a);
}
SMC_INLINE f32v f32_gather_lanes(const char *p, int32_t stride)
{
    for (int i = 0; i < 8; i++)
        SMC_ASAN_LOAD(p + (int64_t)i * stride, sizeof(float));
    __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    return _mm256_i32gather_ps((const float *)p, off, 1);
}
/* out[t] = element t of each of 8 rows (row l at p + l * row_stride):
 * a 16-byte load per row, rows r and r+4 in z[r], then a 4x4 transpose in
 * each 128-bit half.  Cheaper than four gathers. */
SMC_INLINE void f32_load_steps4(const char *p, int64_t row_stride, f32v out[4])
{
    f32v z[4];
    for (int r = 0; r < 4; r++) {
        const char *q = p + r * row_stride;
        SMC_ASAN_LOAD(q, 16);
        SMC_ASAN_LOAD(q + 4 * row_stride, 16);
        z[r] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps((const float *)q)),
                                    _mm_loadu_ps((const float *)(q + 4 * row_stride)), 1);
    }
    __m256d t0 = _mm256_castps_pd(_mm256_unpacklo_ps(z[0], z[1]));
    __m256d t1 = _mm256_castps_pd(_mm256_unpackhi_ps(z[0], z[1]));
    __m256d t2 = _mm256_castps_pd(_mm256_unpacklo_ps(z[2], z[3]));
    __m256d t3 = _mm256_castps_pd(_mm256_unpackhi_ps(z[2], z[3]));
    out[0] = _mm256_castpd_ps(_mm256_unpacklo_pd(t0, t2));
    out[1] = _mm256_castpd_ps(_mm256_unpackhi_pd(t0, t2));
    out[2] = _mm256_castpd_ps(_mm256_unpacklo_pd(t1, t3));
    out[3] = _mm256_castpd_ps(_mm256_unpackhi_pd(t1, t3));
}
/* The reverse of load_steps4 (the 4x4 transposes undo themselves) */
SMC_INLINE void f32_store_steps4(char *p, int64_t row_stride, const f32v in[4])
{
    __m256d t0 = _mm256_castps_pd(_mm256_unpacklo_ps(in[0], in[1]));
    __m256d t1 = _mm256_castps_pd(_mm256_unpackhi_ps(in[0], in[1]));
    __m256d t2 = _mm256_castps_pd(_mm256_unpacklo_ps(in[2], in[3]));
    __m256d t3 = _mm256_castps_pd(_mm256_unpackhi_ps(in[2], in[3]));
    f32v z[4] = { _mm256_castpd_ps(_mm256_unpacklo_pd(t0, t2)),
                  _mm256_castpd_ps(_mm256_unpackhi_pd(t0, t2)),
                  _mm256_castpd_ps(_mm256_unpacklo_pd(t1, t3)),
                  _mm256_castpd_ps(_mm256_unpackhi_pd(t1, t3)) };
    for (int r = 0; r < 4; r++) {
        char *q = p + r * row_stride;
        SMC_ASAN_STORE(q, 16);
        SMC_ASAN_STORE(q + 4 * row_stride, 16);
        _mm_storeu_ps((float *)q, _mm256_castps256_ps128(z[r]));
        _mm_storeu_ps((float *)(q + 4 * row_stride), _mm256_extractf128_ps(z[r], 1));
    }
}
SMC_INLINE f32v f32_pow2_from_magic(f32v t)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23));
}
typedef __m256i f32i;
SMC_INLINE f32i f32_perm_index(const int32_t *idx) { return _mm256_loadu_si256((const __m256i *)idx); }
SMC_INLINE f32v f32_permute(f32v a, f32i idx) { return _mm256_permutevar8x32_ps(a, idx); }

SMC_INLINE f64v f64_load(const double *p) { return _mm256_loadu_pd(p); }
SMC_INLINE void f64_store(double *p, f64v a) { _mm256_storeu_pd(p, a); }
SMC_INLINE f64v f64_set1(double a) { return _mm256_set1_pd(a); }
SMC_INLINE f64v f64_add(f64v a, f64v b) { return _mm256_add_pd(a, b); }
SMC_INLINE f64v f64_sub(f64v a, f64v b) { return _mm256_sub_pd(a, b); }
SMC_INLINE f64v f64_mul(f64v a, f64v b) { return _mm256_mul_pd(a, b); }
SMC_INLINE f64v f64_div(f64v a, f64v b) { return _mm256_div_pd(a, b); }
SMC_INLINE f64v f64_fma(f64v a, f64v b, f64v c) { return _mm256_fmadd_pd(a, b, c); }
SMC_INLINE f64v f64_max(f64v a, f64v b) { return _mm256_max_pd(a, b); }
SMC_INLINE f64v f64_min(f64v a, f64v b) { return _mm256_min_pd(a, b); }
SMC_INLINE f64v f64_abs(f64v a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
SMC_INLINE f64m f64_eq(f64v a, f64v b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
SMC_INLINE f64m f64_gt(f64v a, f64v b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
SMC_INLINE f64v f64_select(f64m m, f64v a, f64v b) { return _mm256_blendv_pd(b, a, m); }
SMC_INLINE int  f64_any(f64m m) { return _mm256_movemask_pd(m) != 0; }
SMC_INLINE __m256i f64_first_k(int64_t k)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(k), _mm256_setr_epi64x(0, 1, 2, 3));
}
SMC_INLINE f64v f64_load_part(const double *p, int64_t k, double fill)
{
    SMC_ASAN_LOAD(p, k * sizeof(double));
    __m256i m = f64_first_k(k);
    return _mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m));
}
SMC_INLINE void f64_store_part(double *p, f64v a, int64_t k)
{
    SMC_ASAN_STORE(p, k * sizeof(double));
    _mm256_maskstore_pd(p, f64_first_k(k), a);
}
SMC_INLINE f64v f64_gather_lanes(const char *p, int32_t stride)
{
    for (int i = 0; i < 4; i++)
        SMC_ASAN_LOAD(p + (int64_t)i * stride, sizeof(double));
    __m128i off = _mm_mullo_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32(stride));
    return _mm256_i32gather_pd((const double *)p, off, 1);
}
/* the reverse of load_steps4 */
SMC_INLINE void f64_store_steps4(char *p, int64_t row_stride, const f64v in[4])
{
    f64v t0 = _mm256_unpacklo_pd(in[0], in[1]), t1 = _mm256_unpackhi_pd(in[0], in[1]);
    f64v t2 = _mm256_unpacklo_pd(in[2], in[3]), t3 = _mm256_unpackhi_pd(in[2], in[3]);
    f64v z[4] = { _mm256_permute2f128_pd(t0, t2, 0x20), _mm256_permute2f128_pd(t1, t3, 0x20),
                  _mm256_permute2f128_pd(t0, t2, 0x31), _mm256_permute2f128_pd(t1, t3, 0x31) };
    for (int r = 0; r < 4; r++) {
        SMC_ASAN_STORE(p + r * row_stride, 32);
        _mm256_storeu_pd((double *)(p + r * row_stride), z[r]);
    }
}
/* out[t] = element t of each of 4 rows: a 32-byte load per row, then a
 * 4x4 transpose */
SMC_INLINE void f64_load_steps4(const char *p, int64_t row_stride, f64v out[4])
{
    f64v z[4];
    for (int r = 0; r < 4; r++) {
        SMC_ASAN_LOAD(p + r * row_stride, 32);
        z[r] = _mm256_loadu_pd((const double *)(p + r * row_stride));
    }
    f64v t0 = _mm256_unpacklo_pd(z[0], z[1]), t1 = _mm256_unpackhi_pd(z[0], z[1]);
    f64v t2 = _mm256_unpacklo_pd(z[2], z[3]), t3 = _mm256_unpackhi_pd(z[2], z[3]);
    out[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    out[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    out[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    out[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}
SMC_INLINE f64v f64_pow2_from_magic(f64v t)
{
    return _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(t), 52));
}

/* Horizontal reductions, in a fixed tree order (deterministic).  The
 * inputs of reduce_max never hold NaN (the kernels' running maxima skip
 * it); reduce_add sums in double (float32 lanes are widened first). */
SMC_INLINE double smc_avx2_sum4d(__m256d s)
{
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
}
SMC_INLINE double f64_reduce_add(f64v a) { return smc_avx2_sum4d(a); }
SMC_INLINE double f32_reduce_add(f32v a)
{
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(a));
    __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1));
    return smc_avx2_sum4d(_mm256_add_pd(lo, hi));          /* lo + hi: exact */
}
SMC_INLINE double f32_reduce_max(f32v a)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}
SMC_INLINE double f64_reduce_max(f64v a)
{
    __m128d m = _mm_max_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_max_sd(m, _mm_unpackhi_pd(m, m)));
}

/* AVX2 has no cross-lane permute of doubles by a variable index: double
 * lane i is moved as the float lanes 2i and 2i + 1. */
typedef __m256i f64i;
SMC_INLINE f64i f64_perm_index(const int32_t *idx)
{
    __m256i i2 = _mm256_slli_epi64(_mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)idx)), 1);
    return _mm256_or_si256(_mm256_or_si256(i2, _mm256_slli_epi64(i2, 32)),
                           _mm256_set1_epi64x((int64_t)1 << 32));
}
SMC_INLINE f64v f64_permute(f64v a, f64i idx)
{
    return _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(a), idx));
}

SMC_INLINE f64v f32_widen_lo(f32v a) { return _mm256_cvtps_pd(_mm256_castps256_ps128(a)); }
SMC_INLINE f64v f32_widen_hi(f32v a) { return _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)); }
SMC_INLINE f32v f32_narrow(f64v lo, f64v hi)
{
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
}
#endif
