// The CPU thread pool (core/threads.h): every item exactly once, chunk sizes,
// thread ids and per-thread exclusivity, many small and large parallel-fors
// with workers awake and asleep, nested calls, calls from several host
// threads, a pool of one thread, freeing, idle workers that do not burn CPU,
// and the default thread count (affinity mask, cgroup quota). Also run under TSan (make tsan).
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/threads.h"

// Records what a parallel-for did: visits per item, calls per thread, the
// smallest chunk, and whether two calls ever ran on one tid at once.
typedef struct probe {
    int64_t n, grain;
    _Atomic int *visits;         // (n)
    _Atomic int busy[GC_POOL_MAX_THREADS];
    _Atomic int calls[GC_POOL_MAX_THREADS];
    _Atomic int clash, bad_tid, short_chunks;
    int n_threads;
    pthread_t caller;
    _Atomic int tid0_elsewhere;   // tid 0 seen on a thread other than the caller
} probe;

static void probe_body(void *ctx, int64_t b, int64_t e, int tid) {
    probe *p = ctx;
    if (tid < 0 || tid >= p->n_threads) { atomic_fetch_add(&p->bad_tid, 1); return; }
    if (atomic_exchange(&p->busy[tid], 1)) atomic_fetch_add(&p->clash, 1);
    if (tid == 0 && !pthread_equal(pthread_self(), p->caller)) atomic_fetch_add(&p->tid0_elsewhere, 1);
    atomic_fetch_add(&p->calls[tid], 1);
    // Only the chunk that ends the range may be shorter than the grain.
    if (e - b < p->grain && e != p->n) atomic_fetch_add(&p->short_chunks, 1);
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&p->visits[i], 1);
    atomic_store(&p->busy[tid], 0);
}

// Runs one parallel-for of n items and checks the probe.
static void check_for(gc_pool *pool, int64_t n, int64_t grain) {
    probe *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->n = n;
    p->grain = grain < 1 ? 1 : grain;
    p->n_threads = gc_pool_size(pool);
    p->caller = pthread_self();
    p->visits = calloc((size_t)(n > 0 ? n : 1), sizeof *p->visits);
    assert_non_null(p->visits);
    gc_pool_for(pool, n, grain, probe_body, p);
    for (int64_t i = 0; i < n; i++)
        if (p->visits[i] != 1) fail_msg("n=%lld grain=%lld: item %lld visited %d times", (long long)n, (long long)grain,
                                        (long long)i, p->visits[i]);
    assert_int_equal(p->clash, 0);
    assert_int_equal(p->bad_tid, 0);
    assert_int_equal(p->short_chunks, 0);
    assert_int_equal(p->tid0_elsewhere, 0);
    int total = 0;
    for (int t = 0; t < p->n_threads; t++) total += p->calls[t];
    // At most 8 chunks per thread, so a for is never split finer than that.
    assert_true(total <= 8 * p->n_threads || n == 0);
    if (n == 0) assert_int_equal(total, 0);
    free(p->visits);
    free(p);
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void test_sizes_and_grains(void **st) {
    (void)st;
    static const int64_t sizes[] = {0, 1, 2, 3, 7, 16, 17, 64, 1000, 100003};
    static const int64_t grains[] = {0, 1, 3, 1000};
    static const int threads[] = {1, 2, 3, 4, 8};
    for (size_t a = 0; a < sizeof threads / sizeof *threads; a++) {
        gc_pool *pool;
        assert_int_equal(gc_pool_new(threads[a], &pool), GC_OK);
        assert_int_equal(gc_pool_size(pool), threads[a]);
        for (size_t b = 0; b < sizeof sizes / sizeof *sizes; b++)
            for (size_t c = 0; c < sizeof grains / sizeof *grains; c++) check_for(pool, sizes[b], grains[c]);
        gc_pool_free(pool);
    }
    check_for(NULL, 1000, 7);   // no pool: everything on the caller
}

// Thousands of back-to-back small fors (workers still spinning), then some
// separated by sleeps longer than the spin (workers asleep on the futex).
static void test_many_fors(void **st) {
    (void)st;
    gc_pool *pool;
    assert_int_equal(gc_pool_new(4, &pool), GC_OK);
    for (int i = 0; i < 3000; i++) check_for(pool, 1 + i % 97, 1);
    for (int i = 0; i < 40; i++) {
        sleep_us(i % 2 ? 300 : 2000);
        check_for(pool, 50000 + i, 64);
    }
    gc_pool_free(pool);
}

// A pool of one thread runs every body on the caller, tid 0, in one call.
static void test_single_thread(void **st) {
    (void)st;
    gc_pool *pool;
    assert_int_equal(gc_pool_new(1, &pool), GC_OK);
    assert_int_equal(gc_pool_size(pool), 1);
    probe *p = calloc(1, sizeof *p);
    p->n = 5000;
    p->grain = 1;
    p->n_threads = 1;
    p->caller = pthread_self();
    p->visits = calloc(5000, sizeof *p->visits);
    gc_pool_for(pool, 5000, 1, probe_body, p);
    assert_int_equal(p->calls[0], 1);
    assert_int_equal(p->tid0_elsewhere, 0);
    for (int i = 0; i < 5000; i++) assert_int_equal(p->visits[i], 1);
    free(p->visits);
    free(p);
    gc_pool_free(pool);
    assert_int_equal(gc_pool_size(NULL), 1);
}

// Nested: each outer chunk runs an inner for on the same pool, which must
// run inline on the same thread (same tid), covering all its items.
typedef struct nest {
    gc_pool *pool;
    _Atomic int inner_items, wrong_tid, inner_calls;
} nest;
typedef struct nest_inner { nest *n; int tid; } nest_inner;

static void inner_body(void *ctx, int64_t b, int64_t e, int tid) {
    nest_inner *in = ctx;
    if (tid != in->tid) atomic_fetch_add(&in->n->wrong_tid, 1);
    atomic_fetch_add(&in->n->inner_calls, 1);
    atomic_fetch_add(&in->n->inner_items, (int)(e - b));
}

static void outer_body(void *ctx, int64_t b, int64_t e, int tid) {
    nest *n = ctx;
    for (int64_t i = b; i < e; i++) {
        nest_inner in = {n, tid};
        gc_pool_for(n->pool, 100, 1, inner_body, &in);
    }
}

static void test_nested(void **st) {
    (void)st;
    nest n = {0};
    assert_int_equal(gc_pool_new(3, &n.pool), GC_OK);
    gc_pool_for(n.pool, 64, 1, outer_body, &n);
    assert_int_equal(n.inner_items, 64 * 100);
    assert_int_equal(n.inner_calls, 64);   // one call per nested for
    assert_int_equal(n.wrong_tid, 0);
    gc_pool_free(n.pool);
}

// Several host threads share one pool (as an engine stepped from different
// threads over its life): their calls take turns and each is complete.
typedef struct host_arg { gc_pool *pool; int seed; } host_arg;

static void *host_main(void *arg) {
    host_arg *a = arg;
    for (int i = 0; i < 300; i++) check_for(a->pool, 1 + (a->seed * 31 + i * 7) % 5000, 1 + i % 5);
    return NULL;
}

static void test_many_hosts(void **st) {
    (void)st;
    gc_pool *pool;
    assert_int_equal(gc_pool_new(3, &pool), GC_OK);
    pthread_t th[3];
    host_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (host_arg){pool, i};
        assert_int_equal(pthread_create(&th[i], NULL, host_main, &args[i]), 0);
    }
    check_for(pool, 12345, 1);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    gc_pool_free(pool);
}

// Pools created and freed: never used, freed right after a for, freed while
// the workers are asleep; bad sizes refused; 0 = the default.
static void test_lifecycle(void **st) {
    (void)st;
    for (int i = 0; i < 50; i++) {
        gc_pool *pool;
        assert_int_equal(gc_pool_new(1 + i % 5, &pool), GC_OK);
        if (i % 3 == 1) check_for(pool, 1000, 1);
        if (i % 3 == 2) { check_for(pool, 1000, 1); sleep_us(1000); }
        gc_pool_free(pool);
    }
    gc_pool_free(NULL);
    gc_pool *pool = (gc_pool *)&pool;
    assert_int_equal(gc_pool_new(-1, &pool), GC_ERR_INVALID_ARG);
    assert_null(pool);
    assert_int_equal(gc_pool_new(GC_POOL_MAX_THREADS + 1, &pool), GC_ERR_INVALID_ARG);
    assert_int_equal(gc_pool_new(0, &pool), GC_OK);
    assert_int_equal(gc_pool_size(pool), gc_threads_default());
    gc_pool_free(pool);
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Idle workers sleep: over 300 ms of idling, 7 spinning workers would use
// ~2 CPU-seconds (on 2 cores ~0.6); sleeping ones use next to nothing. The
// bound (0.1 s) is far from both, so machine load cannot flip the result.
static void test_idle_workers_sleep(void **st) {
    (void)st;
    gc_pool *pool;
    assert_int_equal(gc_pool_new(8, &pool), GC_OK);
    check_for(pool, 100000, 1);
    sleep_us(20000);   // past the spin window
    double c0 = cpu_seconds();
    sleep_us(300000);
    double used = cpu_seconds() - c0;
    print_message("CPU time of an idle pool of 8 over 300 ms: %.4f s\n", used);
    assert_true(used < 0.1);
    gc_pool_free(pool);
}

// The default follows the affinity mask: pinned to one CPU, it is 1.
static void test_default_threads(void **st) {
    (void)st;
    cpu_set_t all;
    assert_int_equal(sched_getaffinity(0, sizeof all, &all), 0);
    int n = gc_threads_default();
    assert_true(n >= 1 && n <= CPU_COUNT(&all));
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &all)) first = c;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    int pinned = gc_threads_default();
    assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);
    assert_int_equal(pinned, 1);
}

// Writes text to root/rel, creating the folders on the way.
static void put(const char *root, const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *q = path + strlen(root) + 1; (q = strchr(q, '/')); q++) {
        *q = '\0';
        mkdir(path, 0700);
        *q = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

// cgroup quotas from a fake /proc and /sys tree: v2 with limits on the
// cgroup and an ancestor (the smaller wins, rounded up), "max" = none, v1's
// cpu controller under either mount name, unreadable or malformed files.
static void test_cgroup_quota(void **st) {
    (void)st;
    char root[] = "/tmp/gc_cgroup_XXXXXX";
    assert_non_null(mkdtemp(root));
    assert_int_equal(gc_cgroup_cpu_limit(root), 0);   // no /proc/self/cgroup
    put(root, "proc/self/cgroup", "0::/a/b\n");
    assert_int_equal(gc_cgroup_cpu_limit(root), 0);   // no cpu.max anywhere
    put(root, "sys/fs/cgroup/a/b/cpu.max", "max 100000\n");
    assert_int_equal(gc_cgroup_cpu_limit(root), 0);
    put(root, "sys/fs/cgroup/a/cpu.max", "350000 100000\n");
    assert_int_equal(gc_cgroup_cpu_limit(root), 4);   // 3.5 CPUs -> 4
    put(root, "sys/fs/cgroup/a/b/cpu.max", "150000 100000\n");
    assert_int_equal(gc_cgroup_cpu_limit(root), 2);
    put(root, "sys/fs/cgroup/cpu.max", "100000 100000\n");
    assert_int_equal(gc_cgroup_cpu_limit(root), 1);   // the root cgroup's too
    put(root, "sys/fs/cgroup/cpu.max", "garbage\n");
    put(root, "sys/fs/cgroup/a/b/cpu.max", "-5 100000\n");
    assert_int_equal(gc_cgroup_cpu_limit(root), 4);
    // cgroup v1: "<id>:cpu,cpuacct:<path>"
    put(root, "proc/self/cgroup", "4:memory:/m\n3:cpu,cpuacct:/x\n");
    assert_int_equal(gc_cgroup_cpu_limit(root), 0);
    put(root, "sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_quota_us", "50000\n");
    put(root, "sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_period_us", "100000\n");
    assert_int_equal(gc_cgroup_cpu_limit(root), 1);
    put(root, "sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_quota_us", "-1\n");
    assert_int_equal(gc_cgroup_cpu_limit(root), 0);
    put(root, "proc/self/cgroup", "2:cpu:/\n");
    put(root, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "250000\n");
    put(root, "sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
    assert_int_equal(gc_cgroup_cpu_limit(root), 3);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_and_grains),
        cmocka_unit_test(test_many_fors),
        cmocka_unit_test(test_single_thread),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_many_hosts),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_idle_workers_sleep),
        cmocka_unit_test(test_default_threads),
        cmocka_unit_test(test_cgroup_quota),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
