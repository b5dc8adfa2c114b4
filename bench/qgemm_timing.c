// Times the fast matmul's two kinds of kernels (panels, direct products) on
// random weights of one dtype: ns per weight element and GB/s of weight
// bytes, per path, layout (GGUF, repacked), ISA and T. A measuring tool for choosing
// GC_QGEMM_DIRECT_T, not a test. Build after the library:
//   cc -O2 -mavx2 -mfma -mf16c -Iinclude -Isrc bench/qgemm_timing.c build/libgcache.a -lm -lpthread \
//      $(pkg-config --libs libcjson libpcre2-8 libutf8proc) -o build/qgemm_timing
//   ./build/qgemm_timing [dtype=q5_0] [N=4864] [K=896] [threads=1] [reps=20] [both|panels|direct]
// Weights of more than the last-level cache (N·K large) show the streaming
// case of a decode step; small ones the in-cache one.
#define _POSIX_C_SOURCE 200809L
#include "backend/cpu/qgemm.h"
#include "format/quant.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

// One thread: this thread's CPU time (a shared machine's other processes
// then cost only cache and memory bandwidth, not whole time slices); more:
// wall time.
static clockid_t g_clock = CLOCK_MONOTONIC;
static double now(void) {
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *tn = argc > 1 ? argv[1] : "q5_0";
    int64_t N = argc > 2 ? atoll(argv[2]) : 4864, K = argc > 3 ? atoll(argv[3]) : 896;
    int threads = argc > 4 ? atoi(argv[4]) : 1, reps = argc > 5 ? atoi(argv[5]) : 20;
    const char *only = argc > 6 ? argv[6] : "both";   // both, panels or direct
    gc_dtype t = GC_DT_COUNT;
    for (int i = 0; i < GC_DT_COUNT; i++)
        if (strcasecmp(gc_dtype_name((gc_dtype)i), tn) == 0) t = (gc_dtype)i;
    if (t == GC_DT_COUNT || !gc_qgemm_supports(t)) {
        fprintf(stderr, "unknown or unsupported dtype %s\n", tn);
        return 1;
    }
    size_t rb = gc_dtype_row_bytes(t, K), nbytes = rb * (size_t)N, bb = gc_dtype_block_bytes(t);
    uint8_t *w = malloc(nbytes);
    srand(1);
    for (size_t i = 0; i < nbytes; i++) w[i] = (uint8_t)rand();
    // Small finite f16 scales in the fields every dtype keeps at 0, 2 (or 208 for Q6_K).
    for (size_t b = 0; b < nbytes / bb; b++) {
        uint16_t h = gc_f32_to_f16(0.01f);
        size_t o = t == GC_DT_Q6_K ? 208 : 0;
        memcpy(w + b * bb + o, &h, 2);
        if (t != GC_DT_Q6_K && t != GC_DT_Q8_0) memcpy(w + b * bb + 2, &h, 2);
    }
    gc_tensor W = {.name = "w", .dtype = t, .ndim = 2, .shape = {N, K}, .data = w, .nbytes = nbytes};
    float *x = malloc((size_t)(32 * K) * sizeof(float)), *y = malloc((size_t)(32 * N) * sizeof(float));
    for (int64_t i = 0; i < 32 * K; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
    gc_pool *pool = NULL;
    if (threads == 1) g_clock = CLOCK_THREAD_CPUTIME_ID;
    if (threads > 1 && gc_pool_new(threads, &pool) != GC_OK) return 1;
    gc_qweight R;
    if (gc_qweight_repack(pool, &W, &R) != GC_OK) return 1;
    printf("%s N=%lld K=%lld (%.1f MB) threads %d\n", gc_dtype_name(t), (long long)N, (long long)K, nbytes / 1e6, threads);
    static const int Ts[] = {1, 2, 3, 4, 8, 16, 32};
    for (int isa = GC_QISA_AVX2; isa <= GC_QISA_AVX512; isa++) {
        if (isa == GC_QISA_AVX512 && gc_qgemm_best_isa() != GC_QISA_AVX512) break;
        for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++)
            for (int path = GC_QPATH_PANELS; path <= GC_QPATH_DIRECT; path++)
                for (int il = 0; il < 2; il++) {   // GGUF layout, then repacked (qrepack.h)
                    if (strcmp(only, "both") && strcmp(only, path == GC_QPATH_PANELS ? "panels" : "direct")) continue;
                    int T = Ts[ti];
                    const gc_qgemm_isa is = (gc_qgemm_isa)isa;
                    const gc_qgemm_path pa = (gc_qgemm_path)path;
                    double best = 1e30;
                    for (int r = -1; r < reps; r++) {   // r = -1: warm-up
                        double t0 = now();
                        if (il)
                            gc_qgemm_repacked(pool, y, x, T, &R, NULL, is, pa);
                        else
                            gc_qgemm_with(pool, y, x, T, &W, NULL, is, pa);
                        double dt = now() - t0;
                        if (r >= 0 && dt < best) best = dt;
                    }
                    printf("%-6s T=%d %-6s %-8s %8.3f ms  %6.3f ns/weight/token  %6.2f GB/s\n",
                           isa == GC_QISA_AVX2 ? "avx2" : "avx512", T, path == GC_QPATH_PANELS ? "panels" : "direct",
                           il ? "repacked" : "gguf", best * 1e3, best * 1e9 / ((double)N * K * T), nbytes / best / 1e9);
                }
    }
    gc_qweight_free(&R);
    gc_pool_free(pool);
    free(w);
    free(x);
    free(y);
    return 0;
}
