/* Pick the vector backend this translation unit is compiled for. */

/* Masked loads/stores and gathers are invisible to AddressSanitizer: in
 * ASan builds (scripts/sanitize.sh, fuzz/) the backends report the bytes
 * those instructions really touch through these hooks. */
#if defined(__SANITIZE_ADDRESS__)
#define SMC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMC_ASAN 1
#endif
#endif
#if defined(SMC_ASAN)
#include <stddef.h>
void __asan_loadN(void *p, size_t size);
void __asan_storeN(void *p, size_t size);
#define SMC_ASAN_LOAD(p, nbytes) __asan_loadN((void *)(p), (size_t)(nbytes))
#define SMC_ASAN_STORE(p, nbytes) __asan_storeN((void *)(p), (size_t)(nbytes))
#else
#define SMC_ASAN_LOAD(p, nbytes) ((void)0)
#define SMC_ASAN_STORE(p, nbytes) ((void)0)
#endif

/* For the vector ops of the backends and the per-vector helpers of the
 * kernels (exp and its argument): GCC otherwise leaves some of them as
 * calls inside hot loops once the loops are large (always in the baseline
 * variant, whose vectors are structs, and in the cross-entropy pass of the
 * others), and a call spills every vector register the loop keeps its
 * constants in. */
#if defined(__GNUC__) || defined(__clang__)
#define SMC_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define SMC_INLINE static __forceinline
#else
#define SMC_INLINE static inline
#endif

/* Keeps a vector accumulator in a register: the exp loops of the kernels
 * hold a dozen constants, and left alone GCC spills an accumulator instead
 * of one of them, which chains every iteration through a store and a
 * reload. */
#if (defined(SMC_ISA_AVX2) || defined(SMC_ISA_AVX512)) && (defined(__GNUC__) || defined(__clang__))
#define SMC_IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define SMC_IN_REGISTER(v) ((void)0)
#endif

#if defined(SMC_ISA_AVX512)
#include "isa_avx512.h"
#elif defined(SMC_ISA_AVX2)
#include "isa_avx2.h"
#else
#include "isa_generic.h"
#endif
