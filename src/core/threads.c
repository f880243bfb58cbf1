/*
 * A small persistent thread pool.  One call at a time uses it: a caller
 * that finds it busy (another Python thread is inside a call) runs its
 * work on its own thread instead of waiting or oversubscribing.  Work is
 * handed out item by item through an atomic counter, so uneven items
 * balance themselves.  Results never depend on which thread ran an item.
 */
#define _GNU_SOURCE 1 /* sched_getaffinity, CPU_COUNT */
#include <stdlib.h>
#include "internal.h"

#define SMC_POOL_MAX 256

static int default_threads(void);
static SMC_SHARED int max_threads_setting;            /* 0: not set yet */

int smc_max_threads(void)
{
    int n = SMC_LOAD_ACQUIRE(max_threads_setting);
    return n > 0 ? n : default_threads();
}

int smc_set_num_threads(int n)
{
    if (n < 1)
        return SMC_ERR_VALUE;
    SMC_STORE_RELEASE(max_threads_setting, n > SMC_POOL_MAX ? SMC_POOL_MAX : n);
    return SMC_OK;
}

int smc_get_num_threads(void) { return smc_max_threads(); }

static void run_serial(int64_t nitems, smc_task_fn fn, void *ctx)
{
    for (int64_t i = 0; i < nitems; i++)
        fn(ctx, i);
}

#if defined(_WIN32)
/* TODO(windows): a Win32 pool; until then Windows runs on one thread. */
static int default_threads(void) { return 1; }
void smc_parallel_for(int64_t nitems, int nthreads, smc_task_fn fn, void *ctx)
{
    (void)nthreads;
    run_serial(nitems, fn, ctx);
}
#else

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

static int default_threads(void)
{
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n < SMC_POOL_MAX ? n : SMC_POOL_MAX) : 1;
}

static struct {
    pthread_mutex_t busy;        /* held by the caller that owns the pool */
    pthread_mutex_t lock;        /* guards the fields below */
    pthread_cond_t wake, done;
    int nworkers;                /* threads started so far */
    int64_t generation;          /* bumped for every job */
    int nactive;                 /* workers taking part in this job */
    int finished;                /* of those, how many are done */
    smc_task_fn fn;
    void *ctx;
    int64_t nitems, next;
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
           PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0,
           NULL, NULL, 0, 0 };

static void drain(void)
{
    for (;;) {
        int64_t i = __atomic_fetch_add(&pool.next, 1, __ATOMIC_RELAXED);
        if (i >= pool.nitems)
            return;
        pool.fn(pool.ctx, i);
    }
}

/* Generation current when each worker was created: a worker started for a
 * job must take part in that very job, even if it first gets the lock after
 * the job was announced. */
static int64_t born_in_generation[SMC_POOL_MAX];

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    pthread_mutex_lock(&pool.lock);
    int64_t seen = born_in_generation[id];
    for (;;) {
        while (pool.generation == seen)
            pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.generation;
        if (id >= pool.nactive)
            continue;
        pthread_mutex_unlock(&pool.lock);
        drain();
        pthread_mutex_lock(&pool.lock);
        if (++pool.finished == pool.nactive)
            pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* After fork() only the forking thread exists: forget the old workers. */
static void after_fork_child(void)
{
    pthread_mutex_init(&pool.busy, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.nworkers = 0;
    pool.nactive = 0;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, after_fork_child); }

void smc_parallel_for(int64_t nitems, int nthreads, smc_task_fn fn, void *ctx)
{
    if (nthreads > nitems)
        nthreads = (int)nitems;
    if (nthreads > SMC_POOL_MAX)
        nthreads = SMC_POOL_MAX;
    if (nthreads <= 1 || pthread_mutex_trylock(&pool.busy) != 0) {
        run_serial(nitems, fn, ctx);
        return;
    }
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&pool.lock);
    while (pool.nworkers < nthreads - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 1 << 20);
        born_in_generation[pool.nworkers] = pool.generation;
        int rc = pthread_create(&t, &attr, worker, (void *)(intptr_t)pool.nworkers);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        pool.nworkers++;
    }
    int helpers = nthreads - 1 < pool.nworkers ? nthreads - 1 : pool.nworkers;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.nitems = nitems;
    pool.next = 0;
    pool.nactive = helpers;
    pool.finished = 0;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    drain();

    pthread_mutex_lock(&pool.lock);
    while (pool.finished < pool.nactive)
        pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
}
#endif
