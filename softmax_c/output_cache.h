/*
 * A cache of freed data blocks for the large arrays softmax_c allocates.
 *
 * Without it an allocating call on a large array (softmax(x), no out=)
 * gets fresh pages every time -- glibc maps each block above 32 MiB anew
 * and unmaps it on free -- and the OS zeroes every page on first touch:
 * 3.2 of the 8.7 ms of a float64 4096x1024 softmax on a Zen 4.  This NumPy
 * memory handler (NEP 49) keeps up to SMC_CACHE_SLOTS freed blocks of at
 * least SMC_CACHE_MIN_BYTES, at most the cache limit in total, and hands
 * one back to the next request of the same size.  It is installed only
 * around softmax_c's own allocations (see _core.pyx), and only in place
 * of NumPy's default handler; an array remembers its handler, so its block
 * comes back here when the array is freed.
 * Everything else goes to the C library's malloc and free.
 *
 * The functions may run on any thread (NumPy frees an array wherever it
 * dies), so the slots are guarded by a lock of their own.
 */
#ifndef SOFTMAX_C_OUTPUT_CACHE_H
#define SOFTMAX_C_OUTPUT_CACHE_H

#include <Python.h>
#include <pythread.h>
#include <stdlib.h>
#include <string.h>
#include <numpy/arrayobject.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* Smaller blocks are left to malloc, which reuses them well enough. */
#define SMC_CACHE_MIN_BYTES ((size_t)1 << 20)
#define SMC_CACHE_SLOTS 4

typedef struct {
    PyThread_type_lock lock;
    size_t limit;                     /* most bytes kept; 0: no cache */
    size_t bytes;                     /* bytes kept now */
    int n;                            /* slots in use, oldest first */
    void *block[SMC_CACHE_SLOTS];
    size_t size[SMC_CACHE_SLOTS];
    unsigned long long hits, misses;  /* requests of cacheable size */
} smc_output_cache;

static smc_output_cache smc_cache;

static void smc_cache_remove(int i)
{
    smc_cache.bytes -= smc_cache.size[i];
    for (int j = i + 1; j < smc_cache.n; j++) {
        smc_cache.block[j - 1] = smc_cache.block[j];
        smc_cache.size[j - 1] = smc_cache.size[j];
    }
    smc_cache.n--;
}

/* A new block asks for transparent huge pages, as NumPy's own allocator
 * does from 4 MiB: 4 KiB pages made a float32 4096x1024 softmax into such
 * a block 15% slower (TLB misses). */
static void *smc_cache_new_block(size_t size)
{
    void *p = malloc(size);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t page = 4096;
    if (p && size >= ((size_t)4 << 20)) {
        size_t skip = (page - (size_t)p % page) % page;
        madvise((char *)p + skip, (size - skip) / page * page, MADV_HUGEPAGE);   /* a hint */
    }
#endif
    return p;
}

static void *smc_cache_malloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size >= SMC_CACHE_MIN_BYTES) {
        void *p = NULL;
        PyThread_acquire_lock(smc_cache.lock, WAIT_LOCK);
        for (int i = smc_cache.n - 1; i >= 0 && !p; i--) {    /* newest first */
            if (smc_cache.size[i] == size) {
                p = smc_cache.block[i];
                smc_cache_remove(i);
            }
        }
        if (p)
            smc_cache.hits++;
        else
            smc_cache.misses++;
        PyThread_release_lock(smc_cache.lock);
        return p ? p : smc_cache_new_block(size);
    }
    return malloc(size ? size : 1);
}

static void *smc_cache_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    return calloc(nelem ? nelem : 1, elsize ? elsize : 1);
}

static void *smc_cache_realloc(void *ctx, void *ptr, size_t new_size)
{
    (void)ctx;
    return realloc(ptr, new_size ? new_size : 1);
}

/* Keeps ptr (size bytes, as NumPy passes it back) in the newest slot,
 * evicting the oldest blocks to make room. */
static void smc_cache_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    void *evicted[SMC_CACHE_SLOTS + 1];
    int n_evicted = 0;
    if (ptr && size >= SMC_CACHE_MIN_BYTES) {
        PyThread_acquire_lock(smc_cache.lock, WAIT_LOCK);
        if (size <= smc_cache.limit) {
            /* ends by n == 0 at the latest, where bytes is 0 */
            while (smc_cache.n == SMC_CACHE_SLOTS || smc_cache.bytes + size > smc_cache.limit) {
                evicted[n_evicted++] = smc_cache.block[0];
                smc_cache_remove(0);
            }
            smc_cache.block[smc_cache.n] = ptr;
            smc_cache.size[smc_cache.n] = size;
            smc_cache.n++;
            smc_cache.bytes += size;
            ptr = NULL;
        }
        PyThread_release_lock(smc_cache.lock);
    }
    for (int i = 0; i < n_evicted; i++)
        free(evicted[i]);
    free(ptr);
}

static PyDataMem_Handler smc_cache_handler = {
    "softmax_c_output_cache",
    1,
    { NULL, smc_cache_malloc, smc_cache_calloc, smc_cache_realloc, smc_cache_free },
};

/* The handler as the capsule PyDataMem_SetHandler takes, with the cache
 * limited to limit bytes (0: no caching); NULL with an exception set. */
static PyObject *smc_output_cache_create(size_t limit)
{
    if (!smc_cache.lock && !(smc_cache.lock = PyThread_allocate_lock()))
        return PyErr_NoMemory();
    smc_cache.limit = limit;
    return PyCapsule_New(&smc_cache_handler, "mem_handler", NULL);
}

/* Whether handler (a "mem_handler" capsule) is NumPy's default one: a
 * handler the program installed itself is left in charge of its arrays. */
static int smc_handler_is_numpy_default(PyObject *handler)
{
    const PyDataMem_Handler *h =
        (const PyDataMem_Handler *)PyCapsule_GetPointer(handler, "mem_handler");
    if (!h) {
        PyErr_Clear();
        return 0;
    }
    return strcmp(h->name, "default_allocator") == 0;
}

/* Frees every kept block and sets a new limit. */
static void smc_output_cache_reset(size_t limit)
{
    void *blocks[SMC_CACHE_SLOTS];
    PyThread_acquire_lock(smc_cache.lock, WAIT_LOCK);
    int n = smc_cache.n;
    memcpy(blocks, smc_cache.block, sizeof blocks);
    smc_cache.n = 0;
    smc_cache.bytes = 0;
    smc_cache.limit = limit;
    PyThread_release_lock(smc_cache.lock);
    for (int i = 0; i < n; i++)
        free(blocks[i]);
}

#endif
