// A thread pool for the CPU kernels: n_threads threads in all, n_threads - 1
// workers plus whichever host thread calls gc_pool_for.
//
// Why not OpenMP: libgomp's idle threads spin (for up to ~0.3 s by default,
// set only from the environment at load time), so on a shared machine they
// take the cores that another process, or our own caller thread, needs.
// Here an idle worker spins for a few microseconds (enough to catch the next
// parallel-for of a forward pass) and then sleeps on a futex; the caller does
// the same while it waits for the last chunks.
//
// Work is handed out in chunks from one atomic counter, so a thread that
// loses its core to another process only delays the chunk it holds: the
// others take the remaining chunks.
//
// Usage:
//     static void body(void *ctx, int64_t begin, int64_t end, int tid) { ... items [begin, end) ... }
//     gc_pool_for(pool, n, grain, body, &ctx);
// tid is the running thread's index in [0, gc_pool_size(pool)): 0 is the
// caller, 1.. are workers. A thread runs one chunk at a time, so per-thread
// scratch buffers indexed by tid need no locking.
//
// Results do not depend on the number of threads or on which thread runs
// which chunk as long as each item's result is computed by one call of the
// body (no reductions across items), which is how the kernels use it.
//
// The pool has no global state: each engine owns one. The only static data
// is a thread-local marker that recognises nested calls.
#ifndef GC_CORE_THREADS_H
#define GC_CORE_THREADS_H
#include "gcache/gcache.h"
#include <stdint.h>

typedef struct gc_pool gc_pool;

// Runs items [begin, end) on thread tid (0 <= tid < gc_pool_size()).
typedef void (*gc_pool_fn)(void *ctx, int64_t begin, int64_t end, int tid);

enum { GC_POOL_MAX_THREADS = 256 };

// The threads this process should use by default: the CPUs of its affinity
// mask (sched_getaffinity), lowered to the cgroup CPU quota when one is set
// (cgroup v2 cpu.max or v1 cpu.cfs_quota_us, rounded up); at least 1, at
// most GC_POOL_MAX_THREADS.
int gc_threads_default(void);
// The cgroup CPU quota part of it: CPUs allowed by the quota of the cgroups
// named in <root>/proc/self/cgroup (files under <root>/sys/fs/cgroup; root
// "" is the real system), the smallest over the cgroup and its ancestors; 0
// when none is set or nothing can be read.
int gc_cgroup_cpu_limit(const char *root);

// A pool of n_threads threads in all (starts n_threads - 1 workers);
// n_threads 0 means gc_threads_default(). Fails with GC_ERR_INVALID_ARG
// outside [0, GC_POOL_MAX_THREADS], GC_ERR_OOM if threads cannot start.
// Workers block every signal (signals go to the host's threads).
gc_status gc_pool_new(int n_threads, gc_pool **out);

// Stops and joins the workers. NULL is a no-op. Must not run concurrently
// with a gc_pool_for on the same pool.
void gc_pool_free(gc_pool *p);

// Threads in all (1 for NULL).
int gc_pool_size(const gc_pool *p);

// Calls fn over [0, n) split into chunks of at least `grain` items (grain
// < 1 counts as 1), at most 8 chunks per thread, and returns when all chunks
// are done. Runs everything on the caller (one call of fn with tid 0) when
// p is NULL, has one thread, or there is a single chunk.
// Any host thread may call it; calls on one pool from different host threads
// take turns (a mutex). A nested call (fn itself calling gc_pool_for on the
// same pool) runs serially on the calling thread, with that thread's tid, as
// a single call of fn over [0, n).
void gc_pool_for(gc_pool *p, int64_t n, int64_t grain, gc_pool_fn fn, void *ctx);

#endif
