/* Pick the vector backend this translation unit is compiled for. */
#if defined(SMC_ISA_AVX512)
#include "isa_avx512.h"
#elif defined(SMC_ISA_AVX2)
#include "isa_avx2.h"
#else
#include "isa_generic.h"
#endif
