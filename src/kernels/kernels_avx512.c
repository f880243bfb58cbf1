/* The AVX-512F variant of kernels.c (built with -mavx512f). */
#define SMC_ISA_AVX512 1
#include "kernels.c"
