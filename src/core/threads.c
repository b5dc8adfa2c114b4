// The CPU thread pool (threads.h).
//
// Protocol. A job is published by the caller in three steps: the job fields
// (fn, ctx, n, chunk) and done = 0 are written, then `ticket` is stored with
// release order, then `wake` is bumped and sleeping workers are woken.
// `ticket` packs everything a thread needs to decide whether it may take a
// chunk: job generation (32 bits), number of chunks (16), chunks handed out
// (16). A thread takes chunk c by a compare-and-swap that moves "handed out"
// from c to c + 1 on the ticket it read (generation included); only then does it
// read the job fields (acquire: they were written before the ticket), which
// stay unchanged because the caller waits for every chunk to finish (`done`)
// before it writes the next job. A worker that wakes late for a finished job
// finds its generation gone or no chunk left and touches nothing else.
//
// Waiting. Workers wait for `wake` to change and the caller waits for `done`
// to reach the number of chunks; both spin for SPIN_NS and then sleep on a
// futex. The sleeper first announces itself (`sleepers`, `caller_sleeps`,
// sequentially consistent) and then re-reads the word; the waker changes the
// word and then reads the announcement, so one of the two always sees the
// other and no wake-up is lost (FUTEX_WAIT also re-checks the word itself).
#include "core/threads.h"
#include "core/error.h"
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

// How long a waiting thread spins before it sleeps. Between the
// parallel-fors of one forward pass the caller does a few microseconds of
// serial work, so a spin can save a futex wake-up per kernel, but it burns
// a core that another process (or our other thread) needs. Measured on the
// 2-core VM (bench/RESULTS.md, "Threads on a shared machine"): from 3 to
// 20 µs decode gains 8 % on a free machine and loses 11 % next to a busy
// process; 100 µs loses 23 % there. 3 µs sits between.
#ifndef GC_POOL_SPIN_NS   // overridable at build time for measurements
#define GC_POOL_SPIN_NS 3000
#endif
enum { SPIN_NS = GC_POOL_SPIN_NS, CHUNKS_PER_THREAD = 8 };

struct gc_pool {
    int n;                        // threads in all, caller included
    int n_started;                // workers running
    pthread_t *workers;           // (n - 1)
    pthread_mutex_t call_lock;    // one gc_pool_for at a time

    // The current job; see the protocol above.
    gc_pool_fn fn;
    void *ctx;
    int64_t n_items, chunk;       // (the chunk count lives in the ticket)
    uint32_t gen;                 // caller's side: generation of the last job

    _Alignas(64) _Atomic uint64_t ticket;
    _Alignas(64) _Atomic uint32_t done;
    _Atomic uint32_t caller_sleeps;
    _Alignas(64) _Atomic uint32_t wake;
    _Atomic uint32_t sleepers;
    _Atomic bool stop;
};

// Which pool the current thread is running chunks of, and as which tid.
static _Thread_local struct { const gc_pool *p; int tid; } tl_in;

typedef struct worker_arg { gc_pool *p; int tid; } worker_arg;

static void futex_wait(_Atomic uint32_t *w, uint32_t v) {
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w, int n) {
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// Spins up to SPIN_NS until (*w == v) == equal; false if that did not happen.
static bool spin_until(_Atomic uint32_t *w, uint32_t v, bool equal) {
    int64_t t0 = 0;
    for (int i = 0;; i++) {
        if ((atomic_load_explicit(w, memory_order_acquire) == v) == equal) return true;
        CPU_RELAX();
        if ((i & 63) == 63) {
            int64_t t = now_ns();
            if (t0 == 0) t0 = t;
            else if (t - t0 > SPIN_NS) return false;
        }
    }
}

static inline uint64_t make_ticket(uint32_t gen, uint32_t n_chunks, uint32_t taken) {
    return (uint64_t)gen << 32 | (uint64_t)n_chunks << 16 | taken;
}

// Takes and runs chunks of the current job until none is left. The
// compare-and-swap compares the whole ticket, generation included, so a
// chunk of a finished job can never be taken.
static void run_chunks(gc_pool *p, int tid) {
    uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
    for (;;) {
        uint32_t taken = (uint32_t)(t & 0xffff), n_chunks = (uint32_t)(t >> 16 & 0xffff);
        if (taken >= n_chunks) return;
        if (!atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        int64_t b = (int64_t)taken * p->chunk, e = b + p->chunk;
        if (e > p->n_items) e = p->n_items;
        p->fn(p->ctx, b, e, tid);
        uint32_t d = atomic_fetch_add(&p->done, 1) + 1;
        if (d == n_chunks && atomic_load(&p->caller_sleeps)) futex_wake(&p->done, 1);
        t = atomic_load_explicit(&p->ticket, memory_order_acquire);
    }
}

static void *worker_main(void *arg) {
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    gc_pool *p = a.p;
    tl_in.p = p;
    tl_in.tid = a.tid;
    uint32_t seen = 0;   // wake's value when the pool was made: a job or a stop may precede this thread's start
    for (;;) {
        if (!spin_until(&p->wake, seen, false)) {
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->wake) == seen) futex_wait(&p->wake, seen);
            atomic_fetch_sub(&p->sleepers, 1);
        }
        seen = atomic_load_explicit(&p->wake, memory_order_acquire);
        if (atomic_load(&p->stop)) return NULL;
        run_chunks(p, a.tid);
    }
}

static void stop_workers(gc_pool *p) {
    atomic_store(&p->stop, true);
    atomic_fetch_add(&p->wake, 1);
    futex_wake(&p->wake, INT_MAX);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i], NULL);
    p->n_started = 0;
}

gc_status gc_pool_new(int n_threads, gc_pool **out) {
    *out = NULL;
    if (n_threads < 0 || n_threads > GC_POOL_MAX_THREADS)
        return gc_fail(GC_ERR_INVALID_ARG, "thread count %d outside [0, %d] (0 = the usable cores)", n_threads,
                       GC_POOL_MAX_THREADS);
    if (n_threads == 0) n_threads = gc_threads_default();
    gc_pool *p = calloc(1, sizeof *p);
    if (!p) return gc_fail(GC_ERR_OOM, "out of memory");
    p->n = n_threads;
    if (pthread_mutex_init(&p->call_lock, NULL) != 0) { free(p); return gc_fail(GC_ERR_OOM, "cannot create a mutex"); }
    if (n_threads > 1) {
        p->workers = calloc((size_t)(n_threads - 1), sizeof *p->workers);
        if (!p->workers) { gc_pool_free(p); return gc_fail(GC_ERR_OOM, "out of memory"); }
    }
    // Workers inherit a full signal mask.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = 0;
    for (int i = 1; i < n_threads && !err; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) { err = -1; break; }
        *a = (worker_arg){p, i};
        err = pthread_create(&p->workers[i - 1], NULL, worker_main, a);
        if (err) free(a);
        else p->n_started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        gc_pool_free(p);
        return gc_fail(GC_ERR_OOM, "cannot start %d worker threads", n_threads - 1);
    }
    *out = p;
    return GC_OK;
}

void gc_pool_free(gc_pool *p) {
    if (!p) return;
    stop_workers(p);
    pthread_mutex_destroy(&p->call_lock);
    free(p->workers);
    free(p);
}

int gc_pool_size(const gc_pool *p) { return p ? p->n : 1; }

void gc_pool_for(gc_pool *p, int64_t n, int64_t grain, gc_pool_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (p && tl_in.p == p) {   // nested: this thread already runs chunks of p
        fn(ctx, 0, n, tl_in.tid);
        return;
    }
    int nt = gc_pool_size(p);
    int64_t max_chunks = (int64_t)nt * CHUNKS_PER_THREAD;
    int64_t chunk = (n + max_chunks - 1) / max_chunks;
    if (chunk < grain) chunk = grain;
    int64_t n_chunks = (n + chunk - 1) / chunk;
    if (nt == 1 || n_chunks == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&p->call_lock);
    __typeof__(tl_in) saved = tl_in;
    tl_in.p = p;
    tl_in.tid = 0;
    p->fn = fn;
    p->ctx = ctx;
    p->n_items = n;
    p->chunk = chunk;
    uint32_t gen = ++p->gen;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->ticket, make_ticket(gen, (uint32_t)n_chunks, 0), memory_order_release);
    atomic_fetch_add(&p->wake, 1);
    if (atomic_load(&p->sleepers) > 0) futex_wake(&p->wake, INT_MAX);
    run_chunks(p, 0);
    // Wait for the chunks other threads still hold.
    if (!spin_until(&p->done, (uint32_t)n_chunks, true)) {
        atomic_store(&p->caller_sleeps, 1);
        uint32_t d;
        while ((d = atomic_load(&p->done)) != (uint32_t)n_chunks) futex_wait(&p->done, d);
        atomic_store(&p->caller_sleeps, 0);
    }
    tl_in = saved;
    pthread_mutex_unlock(&p->call_lock);
}
