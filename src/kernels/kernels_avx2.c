/* The AVX2+FMA variant of kernels.c (built with -mavx2 -mfma). */
#define SMC_ISA_AVX2 1
#include "kernels.c"
