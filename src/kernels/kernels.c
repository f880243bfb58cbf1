/*
 * One kernel variant: compiled once per ISA (see kernels_avx2.c,
 * kernels_avx512.c, and this file alone for the portable baseline), with
 * the float32 and float64 kernels both instantiated from dtype_kernels.h
 * (softmax family) and dtype_loss.h (cross-entropy, backward passes).
 */
#include "../core/internal.h"
#include "../core/loss_job.h"
#include "../simd/isa.h"

#if defined(SMC_ISA_AVX512)
#define SMC_VARIANT avx512
#elif defined(SMC_ISA_AVX2)
#define SMC_VARIANT avx2
#else
#define SMC_VARIANT baseline
#endif

/* ---- float32 ---- */
#define DT f32
#define T float
#define LANES F32_LANES
#define EXP_MIN_ARG (-104.0f)          /* exp(-104) < 2^-150: rounds to 0 */
#define EXP_MAX_ARG 89.0f              /* exp(89) > FLT_MAX: overflows */
#define EXP_LOG2E 0x1.715476p+0f
#define EXP_ROUND_MAGIC 0x1.8p23f      /* adding it rounds to an integer */
#define EXP_LN2_HI 0x1.62e4p-1f        /* 16 bits: n * LN2_HI is exact */
#define EXP_LN2_LO 0x1.7f7d1cp-20f
#define EXP_POW2_MAGIC (0x1.8p23f + 127.0f) /* rounds too, leaving n + bias in the low bits */
#define EXP_N1_MIN (-100.0f)
#define EXP_N1_MAX 127.0f
#define EXP_FAST_LIM 87.0f             /* |a| <= 87: n in [-126, 126], exp(a) normal */
/* exp(r) on |r| <= ln2/2, relative error 3e-9 (fit by tools/fit_exp.py) */
#define EXP_POLY(r)                                                         \
    f32_fma(f32_fma(f32_fma(f32_fma(f32_fma(f32_fma(                        \
        f32_set1(0x1.6a243ep-10f), r, f32_set1(0x1.1239d6p-7f)), r,         \
        f32_set1(0x1.5558f2p-5f)), r, f32_set1(0x1.555492p-3f)), r,          \
        f32_set1(0x1.fffffcp-2f)), r, f32_set1(1.0f)), r, f32_set1(1.0f))
#include "dtype_kernels.h"
#include "dtype_loss.h"
#undef DT
#undef T
#undef LANES
#undef EXP_MIN_ARG
#undef EXP_MAX_ARG
#undef EXP_LOG2E
#undef EXP_ROUND_MAGIC
#undef EXP_LN2_HI
#undef EXP_LN2_LO
#undef EXP_POW2_MAGIC
#undef EXP_N1_MIN
#undef EXP_N1_MAX
#undef EXP_FAST_LIM
#undef EXP_POLY

/* ---- float64 ---- */
#define DT f64
#define T double
#define LANES F64_LANES
#define EXP_MIN_ARG (-746.0)
#define EXP_MAX_ARG 710.0
#define EXP_LOG2E 0x1.71547652b82fep+0
#define EXP_ROUND_MAGIC 0x1.8p52
#define EXP_LN2_HI 0x1.62e42fee00000p-1  /* 32 bits: n * LN2_HI is exact */
#define EXP_LN2_LO 0x1.a39ef35793c76p-33
#define EXP_POW2_MAGIC (0x1.8p52 + 1023.0)  /* rounds too, leaving n + bias in the low bits */
#define EXP_N1_MIN (-1000.0)
#define EXP_N1_MAX 1023.0
#define EXP_FAST_LIM 708.0             /* |a| <= 708: n in [-1022, 1021], exp(a) normal */
/* exp(r) on |r| <= ln2/2, relative error 4e-18 */
#define EXP_C(i) f64_set1(smc_exp_poly_f64[i])
static const double smc_exp_poly_f64[10] = {
    0.5000000000000011, 0.16666666666666413, 0.04166666666653024,
    0.008333333333494336, 0.0013888888943605013, 0.00019841269506799545,
    2.4801493128936518e-05, 2.755758623067882e-06, 2.7630236402177706e-07,
    2.500008788695985e-08,
};
SMC_INLINE f64v smc_exp_poly_eval_f64(f64v r)
{
    f64v p = EXP_C(9);
    for (int i = 8; i >= 0; i--)
        p = f64_fma(p, r, EXP_C(i));
    p = f64_fma(p, r, f64_set1(1.0));
    return f64_fma(p, r, f64_set1(1.0));
}
#define EXP_POLY(r) smc_exp_poly_eval_f64(r)
#if SMC_ISA_HAS_SCALEF && SMC_ISA_HAS_PERMUTE2
/* the table-driven exp (exp_poly_of): 2^(j/16) = hi[j] + lo[j] for
 * j = 0..15 (hi rounded to nearest, lo the rest rounded; mpmath, 300 bits),
 * and the Taylor polynomial of (exp(r) - 1 - r) / r^2 to degree 5: the
 * first omitted term, r^8/8!, is below 1.2e-18 of exp(r) on |r| <= ln2/32 */
static const double smc_exp2_16ths[32] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0,
    0x0.0p+0, 0x1.8a62e4adc610bp-54, -0x1.19041b9d78a76p-55, 0x1.9b07eb6c70573p-54,
    0x1.6f46ad23182e4p-55, 0x1.ada0911f09ebcp-55, 0x1.d4397afec42e2p-56, 0x1.6324c054647adp-54,
    -0x1.bdd3413b26456p-54, -0x1.41577ee04992fp-55, 0x1.6e9f156864b27p-54, 0x1.c7c46b071f2bep-56,
    0x1.7a1cd345dcc81p-54, 0x1.11065895048ddp-55, 0x1.2ed02d75b3707p-55, -0x1.e9c23179c2893p-54,
};
#define EXP_TABLE smc_exp2_16ths
#define EXP_TABLE_POLY(r)                                                           \
    f64_fma(f64_fma(f64_fma(f64_fma(f64_fma(                                        \
        f64_set1(0x1.a01a01a01a01ap-13), r, f64_set1(0x1.6c16c16c16c17p-10)), r,    \
        f64_set1(0x1.1111111111111p-7)), r, f64_set1(0x1.5555555555555p-5)), r,     \
        f64_set1(0x1.5555555555555p-3)), r, f64_set1(0.5))
#endif
#include "dtype_kernels.h"
#include "dtype_loss.h"

const smc_kernels SMC_CAT(smc_kernels__, SMC_VARIANT) = {
    SMC_ISA_NAME,
    { F32_LANES, F64_LANES },
    { f32_rows, f64_rows },
    { f32_cols, f64_cols },
    { f32_col_stats, f64_col_stats },
    { f32_col_output_steps, f64_col_output_steps },
    { sizeof(f32_col_consts), sizeof(f64_col_consts) },
    { f32_chunk_stats, f64_chunk_stats },
    { f32_chunk_apply, f64_chunk_apply },
    { f32_exp_array, f64_exp_array },
    { f32_xent_rows, f64_xent_rows },
    { f32_bwd_rows, f64_bwd_rows },
    { f32_xent_split, f64_xent_split },
};
