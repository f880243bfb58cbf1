/* The AVX-512F variant of kernels.c, built with -mavx512f -mfma (every AVX-512F CPU has FMA; without -mfma the scalar two-products of internal.h fall back to Dekker's split). */
#define SMC_ISA_AVX512 1
#include "kernels.c"
