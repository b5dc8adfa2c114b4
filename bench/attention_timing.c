// Times the CPU attention kernel (gc_cpu_attention) on one KV head: a
// prefill of N positions as the CPU forward runs it (chunks of 16 rows, each
// against the cache up to its rows) and one decode row at context N, with
// G query heads per KV head (3: SmolLM2, 7: Qwen2.5-0.5B), hd 64, f32 or q8
// rows. Prints this thread's CPU time (best of 3), ns per (query vector,
// position) pair and GFLOP/s (4·hd flops a pair: the q·k and p·v FMAs).
// A measuring tool, not a test. Build after the library:
//   cc -O2 -mavx2 -mfma -Iinclude -Isrc bench/attention_timing.c build/libgcache.a -lm -lpthread
//      $(pkg-config --libs libcjson libpcre2-8 libutf8proc) -o build/attention_timing      (one line)
//   ./build/attention_timing [N=1536] [G=3] [f32|q8]
#define _POSIX_C_SOURCE 200809L
#include "backend/cpu/ops.h"
#include "backend/kv_q8.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) & ~(size_t)63); }

int main(int argc, char **argv) {
    const int64_t N = argc > 1 ? atoll(argv[1]) : 1536, G = argc > 2 ? atoll(argv[2]) : 3, hd = 64, KV = 3;
    const int q8 = argc > 3 && strcmp(argv[3], "q8") == 0;
    if (N < 1 || G < 1) return fprintf(stderr, "usage: attention_timing [N] [G] [f32|q8]\n"), 2;
    // Cache rows hold KV heads of hd (the engine's layout); KV head 1 is timed.
    const int64_t kvd = KV * hd, qd = G * hd;
    // 64-byte aligned like the engine's KV blocks and step buffers.
    float *k = alloc64((size_t)(N * kvd) * sizeof(float)), *v = alloc64((size_t)(N * kvd) * sizeof(float));
    float *q = alloc64((size_t)(N * qd) * sizeof(float)), *o = alloc64((size_t)(N * qd) * sizeof(float));
    float *scratch = alloc64((size_t)gc_cpu_attention_scratch(N) * sizeof(float));
    int8_t *kq = alloc64((size_t)(N * kvd)), *vq = alloc64((size_t)(N * kvd));
    float *kd = alloc64((size_t)(N * KV) * sizeof(float)), *vd = alloc64((size_t)(N * KV) * sizeof(float));
    if (!k || !v || !q || !o || !scratch || !kq || !vq || !kd || !vd) return fprintf(stderr, "out of memory\n"), 1;
    uint64_t s = 0x2545f4914f6cdd1dULL;
    for (int64_t i = 0; i < N * kvd; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        k[i] = (float)(s >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
        v[i] = (float)((s >> 16) & 0xffffff) / (float)(1 << 24) * 2.0f - 1.0f;
    }
    for (int64_t i = 0; i < N * qd; i++) q[i] = k[(i * 7) % (N * kvd)] * 2.0f;
    gc_attn_seg seg = {.n = N, .k_scale = 1.0f, .v_scale = 1.0f};
    if (q8) {
        gc_kv_q8_quantize(k, N * KV, hd, kq, kd);
        gc_kv_q8_quantize(v, N * KV, hd, vq, vd);
        seg.kq = kq + hd; seg.vq = vq + hd; seg.kd = kd + 1; seg.vd = vd + 1; seg.d_stride = KV;
    } else {
        seg.k = k + hd; seg.v = v + hd;
    }
    const float scale = 0.125f;
    double pre = 1e30, dec = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cpu_s();
        for (int64_t i0 = 0; i0 < N; i0 += 16)
            gc_cpu_attention(o + i0 * qd, qd, q + i0 * qd, qd, N - i0 < 16 ? N - i0 : 16, G, i0, &seg, 1, kvd, hd,
                             scale, scratch);
        double t1 = cpu_s();
        for (int r = 0; r < 20; r++)
            gc_cpu_attention(o, qd, q + (N - 1) * qd, qd, 1, G, N - 1, &seg, 1, kvd, hd, scale, scratch);
        double t2 = cpu_s();
        if (t1 - t0 < pre) pre = t1 - t0;
        if ((t2 - t1) / 20 < dec) dec = (t2 - t1) / 20;
    }
    const double pairs = (double)N * (double)(N + 1) / 2 * (double)G;
    printf("N %lld G %lld %s: prefill %.2f ms (%.2f ns/pair, %.1f GFLOP/s), decode row %.1f us (%.2f ns/pair)\n",
           (long long)N, (long long)G, q8 ? "q8" : "f32", pre * 1e3, pre / pairs * 1e9,
           pairs * 4.0 * (double)hd / pre * 1e-9, dec * 1e6, dec / ((double)N * (double)G) * 1e9);
    free(k); free(v); free(q); free(o); free(scratch); free(kq); free(vq); free(kd); free(vd);
    return 0;
}
