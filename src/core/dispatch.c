/*
 * Runtime choice of the kernel variant: the best one this CPU *and* OS
 * support (cpuid for the instructions, xgetbv for the register state the
 * OS saves), chosen once.  SOFTMAX_C_ISA=baseline|avx2|avx512 asks for a
 * lower one; a request this machine cannot run is ignored (the Python
 * layer warns about it).
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#if defined(SMC_HAVE_X86_VARIANTS)
#if defined(_MSC_VER)
#include <intrin.h>
static void cpuid(int leaf, int sub, unsigned r[4])
{
    int v[4];
    __cpuidex(v, leaf, sub);
    for (int i = 0; i < 4; i++)
        r[i] = (unsigned)v[i];
}
static unsigned long long xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void cpuid(int leaf, int sub, unsigned r[4])
{
    r[0] = r[1] = r[2] = r[3] = 0;
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
static unsigned long long xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

static int cpu_has_avx2_fma(void)
{
    unsigned r[4];
    cpuid(0, 0, r);
    if (r[0] < 7)
        return 0;
    cpuid(1, 0, r);
    int osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1, fma = (r[2] >> 12) & 1;
    if (!(osxsave && avx && fma))
        return 0;
    if ((xgetbv0() & 0x6) != 0x6)          /* XMM and YMM state enabled */
        return 0;
    cpuid(7, 0, r);
    return (r[1] >> 5) & 1;                /* AVX2 */
}

static int cpu_has_avx512f(void)
{
    if (!cpu_has_avx2_fma())
        return 0;
    if ((xgetbv0() & 0xe6) != 0xe6)        /* + opmask, ZMM_Hi256, Hi16_ZMM */
        return 0;
    unsigned r[4];
    cpuid(7, 0, r);
    return (r[1] >> 16) & 1;               /* AVX512F */
}
#endif

/* Variants from best to baseline. */
static const smc_kernels *const variants[] = {
#if defined(SMC_HAVE_AVX512_VARIANT)
    &smc_kernels__avx512,
#endif
#if defined(SMC_HAVE_X86_VARIANTS)
    &smc_kernels__avx2,
#endif
    &smc_kernels__baseline,
};
#define NVARIANTS ((int)(sizeof variants / sizeof variants[0]))

static int variant_supported(const smc_kernels *k)
{
#if defined(SMC_HAVE_AVX512_VARIANT)
    if (k == &smc_kernels__avx512)
        return cpu_has_avx512f();
#endif
#if defined(SMC_HAVE_X86_VARIANTS)
    if (k == &smc_kernels__avx2)
        return cpu_has_avx2_fma();
#endif
    return k == &smc_kernels__baseline;
}

static const smc_kernels *find(const char *name)
{
    for (int i = 0; i < NVARIANTS; i++)
        if (name && strcmp(variants[i]->name, name) == 0)
            return variants[i];
    return NULL;
}

static const smc_kernels *choose(void)
{
    const smc_kernels *want = find(getenv("SOFTMAX_C_ISA"));
    if (want && variant_supported(want))
        return want;
    for (int i = 0; i < NVARIANTS; i++)
        if (variant_supported(variants[i]))
            return variants[i];
    return &smc_kernels__baseline;
}

static const smc_kernels *SMC_SHARED active;

const smc_kernels *smc_active_kernels(void)
{
    const smc_kernels *k = SMC_LOAD_ACQUIRE(active);
    if (!k) {
        k = choose();                      /* idempotent: racing callers agree */
        SMC_STORE_RELEASE(active, k);
    }
    return k;
}

const char *smc_active_isa(void) { return smc_active_kernels()->name; }

int smc_isa_available(const char *name)
{
    const smc_kernels *k = find(name);
    return k != NULL && variant_supported(k);
}

int smc_set_isa(const char *name)
{
    const smc_kernels *k = find(name);
    if (!k || !variant_supported(k))
        return SMC_ERR_VALUE;
    SMC_STORE_RELEASE(active, k);
    return SMC_OK;
}
