/* The few-row products of large layers, and the SIMD tiles' larger products, on more than one
 * core: a small pool of persistent worker threads that share one product's columns (or rows)
 * with the calling thread.
 *
 * A product with fewer rows than a SIMD tile (batch-1 inference, online learning) reads all of
 * B once and does little arithmetic per value read: its speed is the memory (or last-level
 * cache) bandwidth of the cores that read B. One core reads about 30-40 GB/s from L3 here, two
 * about 50-60, so the columns of C are split into chunks that the caller and the workers take
 * in turn (an atomic counter), each chunk computed by the one-thread kernel on a slice of
 * columns: every value of C is the same sum, in the same order, as on one thread, whatever the
 * number of threads or who took which chunk.
 *
 * nn_few_parallel_{f32,f64}(kernel, threads, trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb,
 *                           beta, C, ldc, bias)
 * nn_tiles_parallel_{f32,f64}(kernel, threads, mr, nr, trans_a, ...)   (the same after nr)
 *     C = kernel(...) as kernel would compute it alone, by up to `threads` threads (the caller
 *     included): the few-row kernel's chunks in cache lines of columns (or blocks of rows for
 *     a small inner dimension), the tiles' (mr x nr each) in whole tiles. The workers are created at the first call that wants them, never per call.
 *     A call that finds the pool in use (another Python thread serving at the same time) runs
 *     on its own thread at once rather than waiting. After fork() the child starts with no
 *     workers (pthread_atfork) and creates its own at its first call.
 *
 * Between jobs a worker spins for a few tens of microseconds (the next layer's product usually
 * follows that soon), then sleeps on a condition variable. A product that finds a worker
 * asleep runs on the caller alone and wakes the workers for the products that follow.
 * nn_pool_splits() counts the products that were shared (for tests).
 *
 * Elsewhere (no SIMD kernels, no POSIX threads) NN_HAVE_POOL is 0 and the kernel runs alone.
 */
#ifndef NNCORE_PARALLEL_H
#define NNCORE_PARALLEL_H

#include <stddef.h>
#include "_simd.h"

typedef void (*nn_few_kernel_f32)(int, int, int, int, int, float, const float*, int,
                                  const float*, int, float, float*, int, const float*);
typedef void (*nn_few_kernel_f64)(int, int, int, int, int, double, const double*, int,
                                  const double*, int, double, double*, int, const double*);

#define NN_POOL_MAX_THREADS 32   /* one chunk each: a bit of a 32-bit mask */

#include <stdint.h>
#include <string.h>

/* one product, split by columns of C: chunk c is columns [c * width, min(n, (c + 1) * width)) */
typedef struct {
    int itemsize;                  /* 4: f32 below, 8: f64 */
    nn_few_kernel_f32 f32;
    nn_few_kernel_f64 f64;
    int trans_a, trans_b, m, n, k, lda, ldb, ldc;
    double alpha, beta;            /* a float converts to double and back exactly */
    const void* A;
    const void* B;
    void* C;
    const void* bias;
    int by_rows;                   /* chunks of rows of C (a small inner dimension), else columns */
    int width, chunks, threads;
} nn_few_job;

/* the few-row kernel's rows of C, written into once per few rows of B, go through a buffer
 * on the stack: a cache line of C that two threads' chunks share (C's rows are rarely aligned
 * to them) is then written once by each, not once per few rows of B */
#define NN_FEW_SCRATCH_BYTES 16384
#define NN_FEW_SCRATCH_ROWS 8
#if defined(__GNUC__) || defined(__clang__)
#define NN_ALIGN64 __attribute__((aligned(64)))
#else
#define NN_ALIGN64
#endif

#define NN_FEW_CHUNK(T, KERNEL, LINE)                                                         \
    do {                                                                                      \
        const T* A = (const T*)jb->A;                                                         \
        const T* B = (const T*)jb->B + (jb->trans_b ? j0 * jb->ldb : j0);                     \
        T* C = (T*)jb->C + j0;                                                                \
        const T* bias = jb->bias ? (const T*)jb->bias + j0 : NULL;                            \
        T alpha = (T)jb->alpha, beta = (T)jb->beta;                                           \
        if (jb->by_rows) {                                                                    \
            A = (const T*)jb->A + (jb->trans_a ? j0 : j0 * jb->lda);                          \
            KERNEL(jb->trans_a, jb->trans_b, cols, jb->n, jb->k, alpha, A, jb->lda,           \
                   (const T*)jb->B, jb->ldb, beta, (T*)jb->C + j0 * jb->ldc, jb->ldc,         \
                   (const T*)jb->bias);                                                       \
        } else if (jb->trans_b || jb->m > NN_FEW_SCRATCH_ROWS) {                              \
            KERNEL(jb->trans_a, jb->trans_b, jb->m, cols, jb->k, alpha, A, jb->lda, B,        \
                   jb->ldb, beta, C, jb->ldc, bias);                                          \
        } else {                                                                              \
            T buf[NN_FEW_SCRATCH_BYTES / sizeof(T)] NN_ALIGN64;                               \
            int w = (int)(NN_FEW_SCRATCH_BYTES / sizeof(T)) / jb->m / (LINE) * (LINE);        \
            int p, i, pc;                                                                     \
            for (p = 0; p < cols; p += w) {                                                   \
                pc = cols - p < w ? cols - p : w;                                             \
                if (beta != 0)                                                                \
                    for (i = 0; i < jb->m; i++)                                               \
                        memcpy(buf + i * pc, C + (ptrdiff_t)i * jb->ldc + p, pc * sizeof(T)); \
                KERNEL(jb->trans_a, 0, jb->m, pc, jb->k, alpha, A, jb->lda, B + p, jb->ldb,   \
                       beta, buf, pc, bias ? bias + p : NULL);                                \
                for (i = 0; i < jb->m; i++)                                                   \
                    memcpy(C + (ptrdiff_t)i * jb->ldc + p, buf + i * pc, pc * sizeof(T));     \
            }                                                                                 \
        }                                                                                     \
    } while (0)

/* chunk c: columns (or rows, by_rows) [c * width, min(n (m), (c + 1) * width)) */
static void nn_few_chunk(const nn_few_job* jb, int c)
{
    ptrdiff_t j0 = (ptrdiff_t)c * jb->width;
    int size = jb->by_rows ? jb->m : jb->n;
    int cols = size - (int)j0 < jb->width ? size - (int)j0 : jb->width;
    if (jb->itemsize == 4)
        NN_FEW_CHUNK(float, jb->f32, 16);
    else
        NN_FEW_CHUNK(double, jb->f64, 8);
}

#if NN_HAVE_SIMD_KERNELS && (defined(__linux__) || defined(__APPLE__))
#define NN_HAVE_POOL 1
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int workers;                   /* started (under lock) */
    uint32_t gen;                  /* number of the job in `job` (under lock) */
    nn_few_job job;                /* (under lock) */
    _Atomic uint32_t posted;       /* gen, for the spinning workers to see */
    /* (gen << 32) | the mask of the chunks taken: a worker that took its copy of an older
     * job can never take a chunk of a newer one */
    _Atomic uint64_t taken;
    _Atomic int done;              /* chunks finished */
    _Atomic int busy;              /* a caller owns the pool */
    int awake;                     /* workers spinning or computing, not asleep (under lock) */
    _Atomic long splits;           /* products shared with the workers */
} nn_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static pthread_once_t nn_pool_once = PTHREAD_ONCE_INIT;

/* the child of fork() has no workers (only the forking thread survives): start anew */
static void nn_pool_after_fork(void)
{
    pthread_mutex_init(&nn_pool.lock, NULL);
    pthread_cond_init(&nn_pool.wake, NULL);
    nn_pool.workers = 0;
    nn_pool.awake = 0;
    atomic_store(&nn_pool.busy, 0);
}

static void nn_pool_register_fork(void) { pthread_atfork(NULL, NULL, nn_pool_after_fork); }

/* take and compute chunks of job `gen` until none is left: thread `index`'s own chunk first
 * (the caller's is 0), so that each core keeps reading the same part of W from call to call
 * (a layer small enough stays in that core's L2 cache), then any other left */
static void nn_few_take(const nn_few_job* jb, uint32_t gen, int index)
{
    const uint32_t all = jb->chunks >= 32 ? 0xFFFFFFFFu : (1u << jb->chunks) - 1u;
    uint64_t v = atomic_load_explicit(&nn_pool.taken, memory_order_relaxed);
    uint32_t left;
    int c;
    for (;;) {
        left = all & ~(uint32_t)v;
        if ((uint32_t)(v >> 32) != gen || left == 0)
            return;
        c = index >= 0 && index < jb->chunks && (left >> index & 1u) ? index
                                                                      : __builtin_ctz(left);
        if (atomic_compare_exchange_weak(&nn_pool.taken, &v, v | (1u << c))) {
            nn_few_chunk(jb, c);
            atomic_fetch_add_explicit(&nn_pool.done, 1, memory_order_release);
            index = -1;
            v = atomic_load_explicit(&nn_pool.taken, memory_order_relaxed);
        }
    }
}

#define NN_POOL_SPIN 2000   /* pauses (27 us on the Xeon of the docs) before a worker sleeps */

static void* nn_pool_worker(void* arg)
{
    int index = (int)(intptr_t)arg;   /* 1.. (the caller is thread 0) */
    /* not a job number yet: a new worker takes the job posted when it was created (an older
     * job's chunks are all taken, so copying one costs nothing) */
    uint32_t seen = UINT32_MAX;
    nn_few_job jb;
    int i;
    pthread_mutex_lock(&nn_pool.lock);
    nn_pool.awake++;
    pthread_mutex_unlock(&nn_pool.lock);
    for (;;) {
        /* spin while a caller owns the pool (it may post again as soon as it is done) and
         * NN_POOL_SPIN pauses more */
        for (i = 0; i < NN_POOL_SPIN; i++) {
            if (atomic_load_explicit(&nn_pool.posted, memory_order_acquire) != seen)
                break;
            if (atomic_load_explicit(&nn_pool.busy, memory_order_relaxed))
                i = 0;
            _mm_pause();
            if ((i & 255) == 255)
                sched_yield();   /* to a caller that shares this core, if one does */
        }
        pthread_mutex_lock(&nn_pool.lock);
        if (nn_pool.gen == seen) {
            nn_pool.awake--;
            while (nn_pool.gen == seen)
                pthread_cond_wait(&nn_pool.wake, &nn_pool.lock);
            nn_pool.awake++;
        }
        seen = nn_pool.gen;
        jb = nn_pool.job;
        pthread_mutex_unlock(&nn_pool.lock);
        if (index < jb.threads)
            nn_few_take(&jb, seen, index);
    }
    return NULL;
}

/* start workers up to threads - 1 (under the lock); 0 when not all could be started */
static int nn_pool_start(int threads)
{
    pthread_attr_t attr;
    pthread_t t;
    int ok = 1;
    pthread_once(&nn_pool_once, nn_pool_register_fork);
    if (nn_pool.workers >= threads - 1)
        return 1;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    while (nn_pool.workers < threads - 1) {
        if (pthread_create(&t, &attr, nn_pool_worker,
                           (void*)(intptr_t)(nn_pool.workers + 1)) != 0) {
            ok = 0;   /* fewer workers than asked: the products run alone */
            break;
        }
#ifdef __linux__
        pthread_setname_np(t, "nncore-few");   /* as top -H and /proc show it */
#endif
        nn_pool.workers++;
    }
    pthread_attr_destroy(&attr);
    return ok;
}

/* run the job on the pool (or `whole`, the same product as one chunk, on the caller alone
 * while the workers wake); 0 (nothing done) when the pool is in use or has no workers */
static int nn_pool_run(nn_few_job* jb, const nn_few_job* whole)
{
    uint32_t gen;
    int alone, i;
    if (atomic_exchange_explicit(&nn_pool.busy, 1, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&nn_pool.lock);
    if (!nn_pool_start(jb->threads)) {
        pthread_mutex_unlock(&nn_pool.lock);
        atomic_store_explicit(&nn_pool.busy, 0, memory_order_release);
        return 0;
    }
    /* a worker asleep takes longer to wake (tens of microseconds or more in a VM) than a chunk
     * takes, and one that starts its chunk late makes the caller wait: then the caller
     * computes this product alone and only wakes the workers, for the products that follow
     * (the next layer's) */
    alone = nn_pool.awake < jb->threads - 1;
    gen = ++nn_pool.gen;
    if (gen == UINT32_MAX)         /* a new worker's `seen` */
        gen = ++nn_pool.gen;
    nn_pool.job = *jb;
    if (alone)
        nn_pool.job.threads = 1;   /* no worker takes a chunk */
    atomic_store_explicit(&nn_pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&nn_pool.taken, (uint64_t)gen << 32, memory_order_relaxed);
    atomic_store_explicit(&nn_pool.posted, gen, memory_order_release);
    pthread_cond_broadcast(&nn_pool.wake);
    pthread_mutex_unlock(&nn_pool.lock);
    if (alone) {
        nn_few_chunk(whole, 0);
        atomic_store_explicit(&nn_pool.busy, 0, memory_order_release);
        return 1;
    }
    atomic_fetch_add_explicit(&nn_pool.splits, 1, memory_order_relaxed);
    nn_few_take(jb, gen, 0);
    /* the chunks the workers took: each one's stores are visible once `done` counts it */
    /* (yielding now and then: a worker descheduled on this core must get it back) */
    for (i = 0; atomic_load_explicit(&nn_pool.done, memory_order_acquire) < jb->chunks; i++) {
        _mm_pause();
        if ((i & 255) == 255)
            sched_yield();
    }
    atomic_store_explicit(&nn_pool.busy, 0, memory_order_release);
    return 1;
}

static inline long nn_pool_splits(void) { return atomic_load(&nn_pool.splits); }
#else
#define NN_HAVE_POOL 0
static inline long nn_pool_splits(void) { return 0; }
#endif

/* the chunk width: one chunk per thread, in whole cache lines. Contiguous halves of W's rows
 * streamed by each core ran faster than finer chunks taken in turn (1024 x 1024 float32, one
 * row: 69 us against 109 with four per thread); a worker that has not woken up when the caller
 * finishes its chunk loses its chunk to the caller, so a late worker costs at most the
 * one-thread time. */
static inline int nn_few_width(int n, int threads, int line)
{
    int w = (n + threads - 1) / threads;
    w = (w + line - 1) / line * line;
    return w < line ? line : w;
}

/* How a product is shared out (in `s`, a copy of the job; s->threads set): the few-row
 * kernel's columns of C in whole cache lines of `line` values, or, for a small inner dimension
 * (op(A) with many rows: the weight gradient or update of a few examples), C streamed once in
 * blocks of rows */
static inline void nn_few_split(nn_few_job* s, int line)
{
    s->by_rows = !s->trans_b && s->m > NN_FEW_SCRATCH_ROWS;
    s->width = s->by_rows ? (s->m + s->threads - 1) / s->threads
                          : nn_few_width(s->n, s->threads, line);
}

/* the SIMD tiles' columns of C in whole tiles of nr (each thread reads its part of op(B): a
 * large layer's W once between the cores), or rows of C in whole tiles of mr when op(B) has
 * fewer tiles of columns than threads (an output layer of a few classes) */
static inline void nn_tiles_split(nn_few_job* s, int mr, int nr)
{
    int panels = (s->n + nr - 1) / nr, tiles = (s->m + mr - 1) / mr;
    s->by_rows = panels < s->threads && tiles > panels;
    s->width = s->by_rows ? (tiles + s->threads - 1) / s->threads * mr
                          : (panels + s->threads - 1) / s->threads * nr;
}

/* share `jb` among `threads` threads, split as the SIMD tiles' (mr x nr) when mr > 0, else as
 * the few-row kernel's (`line` values per cache line); 0 when the caller is to compute it
 * alone: one thread, a single chunk, or the pool in use */
static inline int nn_share(const nn_few_job* jb, int threads, int mr, int nr, int line)
{
    nn_few_job split = *jb;
    if (threads <= 1)
        return 0;
    split.threads = threads;
    if (mr > 0)
        nn_tiles_split(&split, mr, nr);
    else
        nn_few_split(&split, line);
    split.chunks = ((split.by_rows ? split.m : split.n) + split.width - 1) / split.width;
#if NN_HAVE_POOL
    return split.chunks > 1 && nn_pool_run(&split, jb);
#else
    return 0;
#endif
}

/* nn_few_parallel_{f32,f64}(kernel, threads, ...): the few-row kernel's product shared by
 * nn_few_split; nn_tiles_parallel_{f32,f64}(kernel, threads, mr, nr, ...): the SIMD tiles'
 * (kernel, with mr x nr tiles) shared by nn_tiles_split. Either runs on the caller alone when
 * nn_share does not share it (LINE: values per cache line). */
#define NN_PARALLEL_PRODUCTS(T, SUFFIX, KERNEL_T, ITEMSIZE, F32, F64, LINE)                    \
    static inline nn_few_job nn_job_##SUFFIX(KERNEL_T kernel, int trans_a, int trans_b, int m, \
                                             int n, int k, T alpha, const T* A, int lda,       \
                                             const T* B, int ldb, T beta, T* C, int ldc,       \
                                             const T* bias)                                    \
    {                                                                                          \
        nn_few_job jb = {ITEMSIZE, F32, F64, trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha,  \
                         beta, A, B, C, bias, 0, n, 1, 1};                                     \
        return jb;                                                                             \
    }                                                                                          \
    static inline void nn_few_parallel_##SUFFIX(KERNEL_T kernel, int threads, int trans_a,     \
                                                int trans_b, int m, int n, int k, T alpha,     \
                                                const T* A, int lda, const T* B, int ldb,      \
                                                T beta, T* C, int ldc, const T* bias)          \
    {                                                                                          \
        nn_few_job jb = nn_job_##SUFFIX(kernel, trans_a, trans_b, m, n, k, alpha, A, lda, B,   \
                                        ldb, beta, C, ldc, bias);                              \
        /* one thread: the whole product as one chunk (through the same buffer of rows of C) */ \
        if (!nn_share(&jb, threads, 0, 0, LINE))                                               \
            nn_few_chunk(&jb, 0);                                                              \
    }                                                                                          \
    static inline void nn_tiles_parallel_##SUFFIX(KERNEL_T kernel, int threads, int mr, int nr, \
                                                  int trans_a, int trans_b, int m, int n,      \
                                                  int k, T alpha, const T* A, int lda,         \
                                                  const T* B, int ldb, T beta, T* C, int ldc,  \
                                                  const T* bias)                               \
    {                                                                                          \
        nn_few_job jb = nn_job_##SUFFIX(kernel, trans_a, trans_b, m, n, k, alpha, A, lda, B,   \
                                        ldb, beta, C, ldc, bias);                              \
        if (!nn_share(&jb, threads, mr, nr, LINE))                                             \
            kernel(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);      \
    }
NN_PARALLEL_PRODUCTS(float, f32, nn_few_kernel_f32, 4, kernel, NULL, 16)
NN_PARALLEL_PRODUCTS(double, f64, nn_few_kernel_f64, 8, NULL, kernel, 8)
#undef NN_PARALLEL_PRODUCTS

#endif /* NNCORE_PARALLEL_H */
