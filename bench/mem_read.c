// The CPU decode floor's denominator: how fast THREADS threads stream-read
// memory that no cache holds. Each thread sums its own contiguous share of a
// 1 GiB buffer (larger than any L3 here) with 64-byte loads, reps times;
// prints the best and the median GB/s. A decode step reads every weight once,
// so batch-1 decode tok/s cannot beat this rate / the weight bytes.
//   cc -O2 -mavx2 -pthread bench/mem_read.c -o build/mem_read
//   ./build/mem_read [threads=1] [reps=7] [MiB=1024]
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct part {
    const __m256i *p;
    size_t n;        // 32-byte vectors, a multiple of 8
    uint64_t sum;    // kept so the loads cannot be dropped
} part;

static void *read_part(void *arg) {
    part *t = arg;
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i < t->n; i += 8) {   // two 64-byte lines per iteration
        a = _mm256_xor_si256(a, _mm256_load_si256(t->p + i));
        b = _mm256_xor_si256(b, _mm256_load_si256(t->p + i + 2));
        c = _mm256_xor_si256(c, _mm256_load_si256(t->p + i + 4));
        d = _mm256_xor_si256(d, _mm256_load_si256(t->p + i + 6));
    }
    __m256i x = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    t->sum = (uint64_t)_mm256_extract_epi64(x, 0);
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 7;
    const size_t mib = argc > 3 ? (size_t)atoll(argv[3]) : 1024;
    if (threads < 1 || threads > 256 || reps < 1 || reps > 1000 || mib < 1) {
        fprintf(stderr, "usage: mem_read [threads 1..256] [reps 1..1000] [MiB >= 1]\n");
        return 2;
    }
    const size_t bytes = mib << 20, nv = bytes / 32, share = nv / (size_t)threads / 8 * 8;
    __m256i *buf = aligned_alloc(64, bytes);
    part *pt = calloc((size_t)threads, sizeof(part));
    pthread_t *th = calloc((size_t)threads, sizeof(pthread_t));
    double *gbs = calloc((size_t)reps, sizeof(double));
    if (!buf || !pt || !th || !gbs) {
        fprintf(stderr, "mem_read: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < nv; i++) buf[i] = _mm256_set1_epi64x((long long)i);   // touch every page
    uint64_t keep = 0;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        for (int k = 0; k < threads; k++) {
            pt[k] = (part){buf + (size_t)k * share, share, 0};
            if (pthread_create(&th[k], NULL, read_part, &pt[k]) != 0) {
                fprintf(stderr, "mem_read: cannot start thread %d\n", k);
                return 1;
            }
        }
        for (int k = 0; k < threads; k++) {
            pthread_join(th[k], NULL);
            keep ^= pt[k].sum;
        }
        gbs[r] = (double)(share * (size_t)threads * 32) / (now() - t0) / 1e9;
    }
    qsort(gbs, (size_t)reps, sizeof(double), cmp);
    printf("{\"threads\": %d, \"MiB\": %zu, \"reps\": %d, \"read_GB_s_best\": %.2f, \"read_GB_s_median\": %.2f, "
           "\"check\": %llu}\n",
           threads, mib, reps, gbs[reps - 1], gbs[reps / 2], (unsigned long long)(keep & 1));
    free(gbs);
    free(th);
    free(pt);
    free(buf);
    return 0;
}
