// The CUDA backend against the CPU reference path.
//   kernels: each device kernel on fresh random inputs vs the CPU op
//            (‖out − ref‖ / ‖ref‖ <= 1e-2, the bf16 tolerance; outputs are
//            poisoned with NaN first, so every element must be written);
//   engine:  trace programs on the tiny conformance fixtures vs their
//            float64 references; batched steps with cache operations (fork,
//            scale/gate, concat, wsum, clone, save/load) vs the CPU engine;
//            the weighted-sum kernel (gc_kv_wsum on bf16 and q8 blocks) vs
//            the f32 sum of the parts' rows stored as the format stores it,
//            bit for bit;
//            greedy decoding vs the CPU engine (a token may differ only where
//            the CPU's own margin is within the measured CPU/GPU logit noise),
//            on the fixtures, on $GC_CUDA_TEST_MODEL (a random-weight model of
//            a real shape, made on the GPU machine) and on $GC_SMOL_GGUF;
//   latent:  latent steps through rows the engine keeps on the device vs
//            host pointers (same bits expected), and the scheduler's
//            LatentMAS vs the method step by step (same text).
// Without a GPU every device test skips; the no-device error path is checked.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gcache/engine.h"
#include "gcache/trace.h"
#include "gcache/latent.h"
#include "gcache/sampler.h"
#include "gcache/mas.h"
#include "gcache/graph.h"
#include "engine/engine.h"
#include "engine/gen_internal.h"
#include "backend/cpu/ops.h"
#include "backend/cuda/cuda_backend.h"
#include "cuda_test_ops.h"
#include "format/quant.h"
#include "backend/kv_q8.h"
#include "core/file.h"
#include "wsum_fixture.h"

static const double KTOL = 1e-2;   // kernels: bf16 operands, f32 accumulation

static bool have_gpu(void) { return gc_cuda_device_count() > 0; }
#define NEED_GPU() do { if (!have_gpu()) skip(); } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static float urand(void) {   // uniform in [-1, 1)
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}
static void fill(float *x, int64_t n, float scale) { for (int64_t i = 0; i < n; i++) x[i] = urand() * scale; }
static float bf(float x) { return gc_bf16_to_f32(gc_f32_to_bf16(x)); }
static void round_bf(float *x, int64_t n) { for (int64_t i = 0; i < n; i++) x[i] = bf(x[i]); }

static double rel_err(const float *a, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;   // unwritten (NaN poison) or broken
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

// ------------------------------------------------------------------ no device

static void test_unavailable_is_an_error(void **st) {
    (void)st;
    if (have_gpu()) skip();
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen3", &m), GC_OK);
    gc_engine_params p = gc_engine_default_params();
    assert_int_equal(p.device, GC_DEVICE_CPU);
    p.device = GC_DEVICE_CUDA;
    gc_engine *e = NULL;
    gc_status s = gc_engine_new(m, &p, &e);
    assert_int_equal(s, GC_ERR_UNSUPPORTED);
    assert_null(e);
    assert_true(strlen(gc_last_error()) > 10);
    assert_false(gc_engine_cuda_available());
    gc_model_free(m);
}

// ------------------------------------------------------------------ kernels

static void test_rmsnorm(void **st) {
    (void)st;
    NEED_GPU();
    const int64_t shapes[][2] = {{1, 64}, {7, 2560}, {33, 1000}};
    for (int k = 0; k < 3; k++) {
        int64_t T = shapes[k][0], D = shapes[k][1];
        float *x = xmalloc(T * D * 4), *w = xmalloc(D * 4), *ref = xmalloc(T * D * 4), *out = xmalloc(T * D * 4);
        fill(x, T * D, 3.0f);
        fill(w, D, 1.0f);
        gc_cpu_rmsnorm(NULL, ref, x, w, T, D, 1e-6);
        assert_int_equal(gc_cuda_test_rmsnorm(out, x, w, T, D, 1e-6), GC_OK);
        double e = rel_err(out, ref, T * D);
        print_message("rmsnorm T=%lld D=%lld: rel err %.2e\n", (long long)T, (long long)D, e);
        assert_true(e <= KTOL);
        free(x); free(w); free(ref); free(out);
    }
}

// A random (N, K) weight of the given dtype (raw blocks for the quantised ones).
static gc_tensor make_weight(gc_dtype dt, int64_t N, int64_t K, void **storage) {
    size_t rb = gc_dtype_row_bytes(dt, K);
    uint8_t *d = xmalloc(rb * (size_t)N);
    for (int64_t r = 0; r < N; r++) {
        uint8_t *row = d + (size_t)r * rb;
        switch (dt) {
        case GC_DT_F32: for (int64_t i = 0; i < K; i++) ((float *)row)[i] = urand() * 0.1f; break;
        case GC_DT_BF16: for (int64_t i = 0; i < K; i++) ((uint16_t *)row)[i] = gc_f32_to_bf16(urand() * 0.1f); break;
        case GC_DT_F16: for (int64_t i = 0; i < K; i++) ((uint16_t *)row)[i] = gc_f32_to_f16(urand() * 0.1f); break;
        case GC_DT_Q8_0:
            for (int64_t b = 0; b < K / 32; b++) {
                uint8_t *blk = row + b * 34;
                uint16_t h = gc_f32_to_f16(0.001f * (1.0f + urand() * 0.5f));
                memcpy(blk, &h, 2);
                for (int i = 0; i < 32; i++) blk[2 + i] = (uint8_t)(int8_t)(urand() * 127.0f);
            }
            break;
        case GC_DT_Q4_1:
            for (int64_t b = 0; b < K / 32; b++) {
                uint8_t *blk = row + b * 20;
                uint16_t h = gc_f32_to_f16(0.01f * (1.0f + urand() * 0.5f)), mn = gc_f32_to_f16(-0.08f + urand() * 0.01f);
                memcpy(blk, &h, 2);
                memcpy(blk + 2, &mn, 2);
                for (int i = 0; i < 16; i++) blk[4 + i] = (uint8_t)(rng >> (i * 3));
                urand();
            }
            break;
        case GC_DT_Q5_0:  // the real Qwen GGUF's main type: f16 d, u32 high bits, 16 nibble bytes
            for (int64_t b = 0; b < K / 32; b++) {
                uint8_t *blk = row + b * 22;
                uint16_t h = gc_f32_to_f16(0.005f * (1.0f + urand() * 0.5f));
                memcpy(blk, &h, 2);
                for (int i = 0; i < 20; i++) blk[2 + i] = (uint8_t)(rng >> (i % 8 * 7));
                urand();
            }
            break;
        default: fail_msg("dtype not covered");
        }
    }
    *storage = d;
    gc_tensor t = {.name = "w", .dtype = dt, .ndim = 2, .shape = {N, K}, .data = d, .nbytes = rb * (size_t)N};
    return t;
}

// Weights of every dtype uploaded as bf16, through cuBLAS (skinny = -1) and,
// where the engine would use it (T <= 16, N % 16 == 0), the skinny GEMM.
static void test_matmul(void **st) {
    (void)st;
    NEED_GPU();
    const gc_dtype dts[] = {GC_DT_BF16, GC_DT_F32, GC_DT_F16, GC_DT_Q8_0, GC_DT_Q4_1, GC_DT_Q5_0};
    const int64_t Ts[] = {1, 3, 8, 37};
    for (int di = 0; di < (int)(sizeof dts / sizeof dts[0]); di++)
        for (int ti = 0; ti < 4; ti++)
            for (int skinny = -1; skinny < 1; skinny++)
                for (int acc = 0; acc < 2; acc++) {
                    int64_t T = Ts[ti], N = 200 + 8 * di, K = 256;
                    if (skinny >= 0 && (T > 16 || N % 16)) continue;
                    void *stor;
                    gc_tensor W = make_weight(dts[di], N, K, &stor);
                    float *x = xmalloc(T * K * 4), *ref = xmalloc(T * N * 4), *y = xmalloc(T * N * 4), *y0 = xmalloc(T * N * 4);
                    fill(x, T * K, 1.0f);
                    fill(y0, T * N, 1.0f);
                    gc_cpu_matmul(NULL, ref, x, T, &W, NULL);
                    if (acc) for (int64_t i = 0; i < T * N; i++) ref[i] += y0[i];
                    memcpy(y, y0, T * N * 4);
                    gc_status s = gc_cuda_test_matmul(y, x, T, &W, acc, skinny);
                    if (s != GC_OK) fail_msg("%s", gc_last_error());
                    double e = rel_err(y, ref, T * N);
                    if (e > KTOL || (ti == 1 && !acc))
                        print_message("matmul %s T=%lld skinny=%d acc=%d: rel err %.2e\n", gc_dtype_name(dts[di]),
                                      (long long)T, skinny, acc, e);
                    assert_true(e <= KTOL);
                    free(stor); free(x); free(ref); free(y); free(y0);
                }
}

// The skinny GEMM (decode-sized products) against the CPU: the shape rule the
// engine runs (variant 0) and each configuration it picks from (1..6).
static void test_skinny(void **st) {
    (void)st;
    NEED_GPU();
    const int64_t shapes[][2] = {{208, 256}, {1040, 640}, {96, 2560}};
    const int Ts[] = {1, 2, 5, 8, 9, 16};
    for (int si = 0; si < 3; si++)
        for (int ti = 0; ti < 6; ti++) {
            const int64_t N = shapes[si][0], K = shapes[si][1], T = Ts[ti];
            void *stor;
            gc_tensor W = make_weight(GC_DT_BF16, N, K, &stor);
            float *x = xmalloc(T * K * 4), *ref = xmalloc(T * N * 4), *y = xmalloc(T * N * 4), *y0 = xmalloc(T * N * 4);
            fill(x, T * K, 1.0f);
            fill(y0, T * N, 1.0f);
            gc_cpu_matmul(NULL, ref, x, T, &W, NULL);
            for (int v = 0; v < gc_cuda_skinny_variants(); v++)
                for (int acc = 0; acc < 2; acc++) {
                    memcpy(y, y0, T * N * 4);
                    gc_status s = gc_cuda_test_matmul(y, x, T, &W, acc, v);
                    if (s != GC_OK) fail_msg("skinny variant %d: %s", v, gc_last_error());
                    if (acc) for (int64_t i = 0; i < T * N; i++) y[i] -= y0[i];
                    double e = rel_err(y, ref, T * N);
                    if (e > KTOL) print_message("skinny N=%lld K=%lld T=%lld variant %d acc %d: rel err %.2e\n",
                                                (long long)N, (long long)K, (long long)T, v, acc, e);
                    assert_true(e <= KTOL);
                }
            free(stor); free(x); free(ref); free(y); free(y0);
        }
}

// The batch-invariant mode's skinny GEMM (gck_skinny_invariant): T rows of
// x (T on both sides of 8, where gck_skinny changes kernel) give, bit for
// bit, what the same rows get in a product of 16 rows, wherever they sit
// (windows at the start and at the end of the 16); and the values are the
// product (vs the CPU). The shapes include long K with narrow N, where K is
// split over a cluster of blocks. Beside it, the engine's default (variant
// 0) is printed for T = 8 vs 16.
static void test_skinny_invariant(void **st) {
    (void)st;
    NEED_GPU();
    const int64_t shapes[][2] = {{208, 256}, {1040, 640}, {96, 2560}, {64, 4864}};
    for (int si = 0; si < 4; si++) {
        const int64_t N = shapes[si][0], K = shapes[si][1];
        void *stor;
        gc_tensor W = make_weight(GC_DT_BF16, N, K, &stor);
        float *x = xmalloc(16 * K * 4), *ref = xmalloc(16 * N * 4), *y16 = xmalloc(16 * N * 4),
              *y = xmalloc(16 * N * 4);
        fill(x, 16 * K, 1.0f);
        gc_cpu_matmul(NULL, ref, x, 16, &W, NULL);
        if (gc_cuda_test_matmul_invariant(y16, x, 16, &W) != GC_OK) fail_msg("skinny invariant: %s", gc_last_error());
        const double e = rel_err(y16, ref, 16 * N);
        assert_true(e <= KTOL);
        long differ = 0;
        static const int64_t Ts[] = {1, 2, 3, 7, 8, 9, 13, 16};   // both sides of the 8-column kernel
        for (int ti = 0; ti < 8; ti++)
            for (int at_end = 0; at_end < 2; at_end++) {
                const int64_t T = Ts[ti];
                const int64_t r0 = at_end ? 16 - T : 0;
                assert_int_equal(gc_cuda_test_matmul_invariant(y, x + r0 * K, T, &W), GC_OK);
                if (memcmp(y, y16 + r0 * N, (size_t)(T * N) * 4) != 0)
                    fail_msg("skinny invariant N=%lld K=%lld: rows %lld..%lld alone differ from the same rows of 16",
                             (long long)N, (long long)K, (long long)r0, (long long)(r0 + T - 1));
            }
        // Variant 0 picks its configuration by T: rows 0..7 at T = 8 and at T = 16.
        float *a = xmalloc(16 * N * 4), *b = xmalloc(8 * N * 4);
        assert_int_equal(gc_cuda_test_matmul(a, x, 16, &W, false, 0), GC_OK);
        assert_int_equal(gc_cuda_test_matmul(b, x, 8, &W, false, 0), GC_OK);
        for (int64_t i = 0; i < 8 * N; i++) differ += memcmp(a + i, b + i, 4) != 0;
        print_message("skinny invariant N=%lld K=%lld: T of 1..16 bit-identical to T = 16 (rel err %.2e); "
                      "variant 0: %ld of %lld values differ between T = 8 and T = 16\n",
                      (long long)N, (long long)K, e, differ, (long long)(8 * N));
        free(a); free(b);
        free(stor); free(x); free(ref); free(y16); free(y);
    }
}

static void test_swiglu(void **st) {
    (void)st;
    NEED_GPU();
    const int64_t T = 9, F = 777;
    float *gu = xmalloc(T * 2 * F * 4), *ref = xmalloc(T * F * 4), *out = xmalloc(T * F * 4);
    fill(gu, T * 2 * F, 4.0f);
    for (int64_t t = 0; t < T; t++) gc_cpu_swiglu(NULL, ref + t * F, gu + t * 2 * F, gu + t * 2 * F + F, F);
    assert_int_equal(gc_cuda_test_swiglu(out, gu, T, F), GC_OK);
    double e = rel_err(out, ref, T * F);
    print_message("swiglu: rel err %.2e\n", e);
    assert_true(e <= KTOL);
    free(gu); free(ref); free(out);
}

// q8: the k/v rows go into q8 blocks, compared with the reference rows
// quantized by the same rule (backend/kv_q8.h).
static void qkv_case_kv(int64_t T, int64_t H, int64_t KV, int64_t hd, bool norm, bool bias, bool neox, bool q8) {
    const int64_t W3 = (H + 2 * KV) * hd, half = hd / 2, qd = H * hd, kvd = KV * hd;
    float *qkv = xmalloc(T * W3 * 4), *b = xmalloc(W3 * 4), *qn = xmalloc(hd * 4), *kn = xmalloc(hd * 4);
    float *inv = xmalloc(half * 4), *q = xmalloc(T * qd * 4), *k = xmalloc(T * kvd * 4), *v = xmalloc(T * kvd * 4);
    float *rq = xmalloc(T * qd * 4), *rk = xmalloc(T * kvd * 4), *rv = xmalloc(T * kvd * 4);
    float *ct = xmalloc(half * 4), *stt = xmalloc(half * 4);
    int32_t *pos = xmalloc(T * 4);
    fill(qkv, T * W3, 2.0f);
    fill(b, W3, 0.5f);
    fill(qn, hd, 1.0f);
    fill(kn, hd, 1.0f);
    for (int64_t i = 0; i < half; i++) inv[i] = 1.0f / (float)pow(1e6, (double)(2 * i) / (double)hd);
    for (int64_t r = 0; r < T; r++) pos[r] = (int32_t)(r * 37 + 5);
    for (int64_t r = 0; r < T; r++) {
        for (int64_t i = 0; i < half; i++) {
            float ang = (float)pos[r] * inv[i];
            ct[i] = (float)cos((double)ang);
            stt[i] = (float)sin((double)ang);
        }
        for (int64_t j = 0; j < W3; j++) {
            float x = qkv[r * W3 + j] + (bias ? b[j] : 0.0f);
            if (j < qd) rq[r * qd + j] = x;
            else if (j < qd + kvd) rk[r * kvd + j - qd] = x;
            else rv[r * kvd + j - qd - kvd] = x;
        }
        for (int64_t h = 0; h < H; h++) {
            if (norm) gc_cpu_rmsnorm(NULL, rq + r * qd + h * hd, rq + r * qd + h * hd, qn, 1, hd, 1e-6);
            gc_cpu_rope_head(rq + r * qd + h * hd, ct, stt, hd, neox);
        }
        for (int64_t h = 0; h < KV; h++) {
            if (norm) gc_cpu_rmsnorm(NULL, rk + r * kvd + h * hd, rk + r * kvd + h * hd, kn, 1, hd, 1e-6);
            gc_cpu_rope_head(rk + r * kvd + h * hd, ct, stt, hd, neox);
        }
    }
    gc_status s = gc_cuda_test_qkv(q, k, v, qkv, bias ? b : NULL, norm ? qn : NULL, norm ? kn : NULL, pos, inv, T, H,
                                   KV, hd, 1e-6, neox, q8);
    if (s != GC_OK) fail_msg("%s", gc_last_error());
    if (q8) {
        int8_t *qb = xmalloc(T * kvd);
        float *sc = xmalloc(T * KV * 4);
        gc_kv_q8_quantize(rk, T * KV, hd, qb, sc);
        gc_kv_q8_dequantize(qb, sc, T * KV, hd, rk);
        gc_kv_q8_quantize(rv, T * KV, hd, qb, sc);
        gc_kv_q8_dequantize(qb, sc, T * KV, hd, rv);
        free(qb);
        free(sc);
    }
    double eq = rel_err(q, rq, T * qd), ek = rel_err(k, rk, T * kvd), ev = rel_err(v, rv, T * kvd);
    print_message("qkv%s T=%lld H=%lld KV=%lld hd=%lld norm=%d bias=%d neox=%d: q %.2e k %.2e v %.2e\n", q8 ? " q8" : "",
                  (long long)T, (long long)H, (long long)KV, (long long)hd, norm, bias, neox, eq, ek, ev);
    assert_true(eq <= KTOL && ek <= KTOL && ev <= KTOL);
    free(qkv); free(b); free(qn); free(kn); free(inv); free(q); free(k); free(v); free(rq); free(rk); free(rv);
    free(ct); free(stt); free(pos);
}

static void qkv_case(int64_t T, int64_t H, int64_t KV, int64_t hd, bool norm, bool bias, bool neox) {
    qkv_case_kv(T, H, KV, hd, norm, bias, neox, false);
}

static void test_qkv(void **st) {
    (void)st;
    NEED_GPU();
    qkv_case(5, 32, 8, 128, true, false, true);     // Qwen3-4B heads
    qkv_case(19, 4, 2, 12, false, true, true);      // Qwen2-like, odd head size
    qkv_case(3, 9, 3, 64, false, false, false);     // GGUF llama rope pairing
    qkv_case(40, 2, 1, 256, true, true, false);
}

// The q/k/v epilogue writing q8 blocks: each K/V row quantized by the rule.
static void test_qkv_q8(void **st) {
    (void)st;
    NEED_GPU();
    qkv_case_kv(5, 32, 8, 128, true, false, true, true);
    qkv_case_kv(19, 4, 2, 12, false, true, true, true);
    qkv_case_kv(3, 9, 3, 64, false, false, false, true);
}

typedef struct attn_case {
    int64_t n_q, ctx_first, H, KV, hd;
    int n_segs;
    int64_t seg_n[6];
    float ks[6], vs[6];
    uint8_t hidden[6];
    int max_split, tile_m;
    bool q8;   // q8 blocks (the reference then attends over the dequantized rows)
} attn_case;

static void attn_run(const attn_case *c) {
    const int64_t n_ctx = c->ctx_first + c->n_q, row = c->KV * c->hd, qd = c->H * c->hd, G = c->H / c->KV;
    float *q = xmalloc(c->n_q * qd * 4), *k = xmalloc(n_ctx * row * 4), *v = xmalloc(n_ctx * row * 4);
    float *out = xmalloc(c->n_q * qd * 4), *ref = xmalloc(c->n_q * qd * 4);
    float *scratch = xmalloc(gc_cpu_attention_scratch(n_ctx) * 4);
    fill(q, c->n_q * qd, 2.0f);
    fill(k, n_ctx * row, 2.0f);
    fill(v, n_ctx * row, 1.0f);
    round_bf(q, c->n_q * qd);   // both sides see the same bf16 inputs
    round_bf(k, n_ctx * row);
    round_bf(v, n_ctx * row);
    // q8: the device quantizes k, v by the rule (gc_kv_q8_quantize); the
    // reference reads the values that rule stores.
    float *kr = k, *vr = v;
    if (c->q8) {
        kr = xmalloc(n_ctx * row * 4);
        vr = xmalloc(n_ctx * row * 4);
        int8_t *qb = xmalloc(n_ctx * row);
        float *sc = xmalloc(n_ctx * c->KV * 4);
        gc_kv_q8_quantize(k, n_ctx * c->KV, c->hd, qb, sc);
        gc_kv_q8_dequantize(qb, sc, n_ctx * c->KV, c->hd, kr);
        gc_kv_q8_quantize(v, n_ctx * c->KV, c->hd, qb, sc);
        gc_kv_q8_dequantize(qb, sc, n_ctx * c->KV, c->hd, vr);
        free(qb);
        free(sc);
    }
    gc_attn_seg segs[6];
    const float scale = (float)(1.0 / sqrt((double)c->hd));
    for (int64_t h = 0; h < c->H; h++) {
        int64_t kh = h / G, p = 0;
        for (int i = 0; i < c->n_segs; i++) {
            segs[i] = (gc_attn_seg){.k = kr + p * row + kh * c->hd, .v = vr + p * row + kh * c->hd, .n = c->seg_n[i],
                                    .k_scale = c->ks[i], .v_scale = c->vs[i], .hidden = c->hidden[i]};
            p += c->seg_n[i];
        }
        gc_cpu_attention(ref + h * c->hd, qd, q + h * c->hd, qd, c->n_q, 1, c->ctx_first, segs, c->n_segs, row, c->hd,
                         scale, scratch);
    }
    gc_status s = gc_cuda_test_attention(out, q, k, v, c->n_q, c->ctx_first, c->seg_n, c->ks, c->vs, c->hidden,
                                         c->n_segs, c->H, c->KV, c->hd, c->max_split, c->tile_m, c->q8);
    if (s != GC_OK) fail_msg("%s", gc_last_error());
    double e = rel_err(out, ref, c->n_q * qd);
    print_message("attention%s n_q=%lld ctx=%lld H=%lld KV=%lld hd=%lld segs=%d split<=%d tile=%d: rel err %.2e\n",
                  c->q8 ? " q8" : "", (long long)c->n_q, (long long)n_ctx, (long long)c->H, (long long)c->KV,
                  (long long)c->hd, c->n_segs, c->max_split, c->tile_m, e);
    assert_true(e <= KTOL);
    if (c->q8) { free(kr); free(vr); }
    free(q); free(k); free(v); free(out); free(ref); free(scratch);
}

static void test_attention(void **st) {
    (void)st;
    NEED_GPU();
    const attn_case cases[] = {
        // prefill from empty, Qwen3-4B heads
        {.n_q = 100, .ctx_first = 0, .H = 32, .KV = 8, .hd = 128, .n_segs = 1, .seg_n = {100}, .ks = {1}, .vs = {1},
         .max_split = 1, .tile_m = 64},
        // prefill after a cache of several modified spans (scales, a gated span)
        {.n_q = 70, .ctx_first = 150, .H = 16, .KV = 8, .hd = 128, .n_segs = 4, .seg_n = {40, 33, 77, 70},
         .ks = {1, 0.5f, 1.3f, 1}, .vs = {1, 2.0f, 0.7f, 1}, .hidden = {0, 0, 1, 0}, .max_split = 1, .tile_m = 64},
        // decode with a long context, split over the context, tile 16
        {.n_q = 1, .ctx_first = 999, .H = 32, .KV = 8, .hd = 128, .n_segs = 3, .seg_n = {500, 300, 200},
         .ks = {1, 0.8f, 1}, .vs = {1.5f, 1, 1}, .hidden = {0, 0, 0}, .max_split = 16, .tile_m = 16},
        // a few query rows, split, odd head size, GQA 2
        {.n_q = 3, .ctx_first = 260, .H = 4, .KV = 2, .hd = 12, .n_segs = 2, .seg_n = {131, 132}, .ks = {1, 1},
         .vs = {1, 1}, .max_split = 4, .tile_m = 16},
        // many query heads per KV head (G = 8) and tile 64 with splits
        {.n_q = 9, .ctx_first = 400, .H = 8, .KV = 1, .hd = 64, .n_segs = 1, .seg_n = {409}, .ks = {1}, .vs = {1},
         .max_split = 5, .tile_m = 64},
        // head size 256
        {.n_q = 20, .ctx_first = 10, .H = 2, .KV = 1, .hd = 256, .n_segs = 2, .seg_n = {17, 13}, .ks = {0.9f, 1},
         .vs = {1.1f, 1}, .max_split = 2, .tile_m = 64},
        // the one-query decode kernel: long context split 16 ways with scaled and hidden spans (Qwen3-4B heads)
        {.n_q = 1, .ctx_first = 999, .H = 32, .KV = 8, .hd = 128, .n_segs = 4, .seg_n = {500, 150, 150, 200},
         .ks = {1, 0.8f, 1.2f, 1}, .vs = {1.5f, 1, 1, 0.5f}, .hidden = {0, 1, 0, 0}, .max_split = 16, .tile_m = 1},
        // ... SmolLM2 heads (G = 3, hd 64), unsplit; Qwen3-0.6B heads (G = 2) under one chunk
        {.n_q = 1, .ctx_first = 300, .H = 9, .KV = 3, .hd = 64, .n_segs = 2, .seg_n = {120, 181}, .ks = {1, 1},
         .vs = {1, 1}, .max_split = 1, .tile_m = 1},
        {.n_q = 1, .ctx_first = 36, .H = 16, .KV = 8, .hd = 128, .n_segs = 1, .seg_n = {37}, .ks = {1}, .vs = {1},
         .max_split = 16, .tile_m = 1},
        // ... G = 8, three splits; the very first position
        {.n_q = 1, .ctx_first = 700, .H = 8, .KV = 1, .hd = 128, .n_segs = 1, .seg_n = {701}, .ks = {1}, .vs = {1},
         .max_split = 3, .tile_m = 1},
        {.n_q = 1, .ctx_first = 0, .H = 32, .KV = 8, .hd = 128, .n_segs = 1, .seg_n = {1}, .ks = {1}, .vs = {1},
         .max_split = 4, .tile_m = 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) attn_run(&cases[i]);
}

// The same kernels on q8 blocks: int8 rows widened to bf16 as they are
// staged, row scales folded into the key / value factors.
static void test_attention_q8(void **st) {
    (void)st;
    NEED_GPU();
    const attn_case cases[] = {
        // tile 64 prefill after modified spans (scales, a gated span)
        {.n_q = 70, .ctx_first = 150, .H = 16, .KV = 8, .hd = 128, .n_segs = 4, .seg_n = {40, 33, 77, 70},
         .ks = {1, 0.5f, 1.3f, 1}, .vs = {1, 2.0f, 0.7f, 1}, .hidden = {0, 0, 1, 0}, .max_split = 1, .tile_m = 64,
         .q8 = true},
        // tile 16, split; odd head size (the 2-element staging path)
        {.n_q = 1, .ctx_first = 999, .H = 32, .KV = 8, .hd = 128, .n_segs = 3, .seg_n = {500, 300, 200},
         .ks = {1, 0.8f, 1}, .vs = {1.5f, 1, 1}, .hidden = {0, 0, 0}, .max_split = 16, .tile_m = 16, .q8 = true},
        {.n_q = 3, .ctx_first = 260, .H = 4, .KV = 2, .hd = 12, .n_segs = 2, .seg_n = {131, 132}, .ks = {1, 1},
         .vs = {1, 1}, .max_split = 4, .tile_m = 16, .q8 = true},
        // the decode kernel: hd 128 split 16 ways with scaled and hidden spans; SmolLM2 heads (hd 64);
        // G = 8 with three splits; the very first position
        {.n_q = 1, .ctx_first = 999, .H = 32, .KV = 8, .hd = 128, .n_segs = 4, .seg_n = {500, 150, 150, 200},
         .ks = {1, 0.8f, 1.2f, 1}, .vs = {1.5f, 1, 1, 0.5f}, .hidden = {0, 1, 0, 0}, .max_split = 16, .tile_m = 1,
         .q8 = true},
        {.n_q = 1, .ctx_first = 300, .H = 9, .KV = 3, .hd = 64, .n_segs = 2, .seg_n = {120, 181}, .ks = {1, 1},
         .vs = {1, 1}, .max_split = 1, .tile_m = 1, .q8 = true},
        {.n_q = 1, .ctx_first = 700, .H = 8, .KV = 1, .hd = 128, .n_segs = 1, .seg_n = {701}, .ks = {1}, .vs = {1},
         .max_split = 3, .tile_m = 1, .q8 = true},
        {.n_q = 1, .ctx_first = 0, .H = 32, .KV = 8, .hd = 128, .n_segs = 1, .seg_n = {1}, .ks = {1}, .vs = {1},
         .max_split = 4, .tile_m = 1, .q8 = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) attn_run(&cases[i]);
}

static void test_argmax(void **st) {
    (void)st;
    NEED_GPU();
    const int64_t n = 5, V = 151936;
    float *x = xmalloc(n * V * 4);
    fill(x, n * V, 10.0f);
    x[0 * V + 77777] = 50.0f;
    x[1 * V + 3] = 50.0f; x[1 * V + 150000] = 50.0f;            // tie → lowest id
    for (int64_t i = 0; i < V; i++) x[2 * V + i] = -1.0f;          // all equal → 0
    x[3 * V + V - 1] = 99.0f;
    x[4 * V + 12] = NAN; x[4 * V + 13] = 60.0f;                    // NaN never wins
    int32_t out[5];
    assert_int_equal(gc_cuda_test_argmax(out, x, n, V), GC_OK);
    assert_int_equal(out[0], 77777);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 0);
    assert_int_equal(out[3], V - 1);
    assert_int_equal(out[4], 13);
    free(x);
}

// Device draws against gc_token_draw_row, draw by draw: both compute the one
// rule of gcache/sampler.h in float64, so every id must be the host's (a
// boundary within ~1e-15 of the target is the only way to differ, far below
// one in these 900 draws). A different rule on either side (probability order
// instead of index order, f32 masses over 150 000 flat ids, ties at the top-k
// boundary dropped) fails this. Logits: peaked (a few dozen ids matter),
// flat (random weights: tens of thousands of ids kept), and on a coarse grid
// (many ties at the top-k and top-p boundaries, −0 and +0 among them). u comes from seeded samplers'
// streams, as the engine's draws do.
static void test_device_sample(void **st) {
    (void)st;
    NEED_GPU();
    const int64_t V = 151936, n = 300;
    float *x = xmalloc(n * V * 4);
    gc_token_draw *d = xmalloc(n * sizeof *d);
    int32_t *got = xmalloc(n * 4);
    for (int shape = 0; shape < 3; shape++) {
        fill(x, n * V, shape == 1 ? 2.0f : 1.0f);
        if (shape == 2)   // a grid of 0.25 with −0 beside +0 (equal on the host, so on the device too)
            for (int64_t i = 0; i < n * V; i++) x[i] = (i & 1) && x[i] >= 0.0f && x[i] < 0.125f ? -0.0f : floorf(x[i] * 8.0f) * 0.25f;
        for (int64_t r = 0; r < n; r++) {
            if (shape == 0)
                for (int j = 0; j < 40; j++) x[r * V + (int64_t)((urand() + 1.0f) * 0.5f * (float)(V - 1))] += 8.0f + 4.0f * urand();
            const int kind = (int)(r % 6);
            gc_sampler_params sp = {.temperature = kind == 0 ? 0.0f : 0.3f + 0.2f * (float)kind,
                                    .top_p = kind >= 3 ? 0.5f + 0.1f * (float)kind : 1.0f,
                                    .top_k = kind == 2 || kind == 5 ? 50 * kind : 0,
                                    .seed = (uint64_t)(shape * 1000 + r)};
            gc_sampler *smp;
            assert_int_equal(gc_sampler_new(&sp, V, &smp), GC_OK);
            d[r] = gc_sampler_next_draw(smp);
            gc_sampler_free(smp);
        }
        assert_int_equal(gc_cuda_test_sample(got, x, d, n, V), GC_OK);
        int same = 0;
        for (int64_t r = 0; r < n; r++) {
            const int32_t ref = gc_token_draw_row(x + r * V, V, &d[r]);
            same += got[r] == ref;
            if (got[r] != ref)
                print_message("row %lld (T %.1f top-p %.2f top-k %d u %.7f): device %d, host %d\n", (long long)r,
                              (double)d[r].temperature, (double)d[r].top_p, d[r].top_k, (double)d[r].u, got[r], ref);
        }
        print_message("device draws (%s logits): %d of %lld equal to the host's\n",
                      shape == 0 ? "peaked" : shape == 1 ? "flat" : "tied", same, (long long)n);
        assert_int_equal(same, n);
    }
    // top_k = 1 and a tiny top_p always give the argmax; u at the ends stays in range.
    fill(x, 4 * V, 3.0f);
    gc_token_draw e[4] = {{1.0f, 1.0f, 1, 0.999f}, {1.0f, 1e-6f, 0, 0.5f}, {0.7f, 1.0f, 0, 0.0f}, {0.7f, 1.0f, 0, 1.0f}};
    assert_int_equal(gc_cuda_test_sample(got, x, e, 4, V), GC_OK);
    for (int r = 0; r < 2; r++) assert_int_equal(got[r], gc_token_draw_row(x + r * V, V, &(gc_token_draw){0}));
    for (int r = 2; r < 4; r++) assert_true(got[r] >= 0 && got[r] < V);
    free(x); free(d); free(got);
}

// ------------------------------------------------------------------ engine

// The KV format engine_on gives every engine (the q8 tests set it, then reset it).
static int g_kv = GC_KV_DEFAULT;

static gc_engine *engine_on(gc_model *m, int device) {
    gc_engine_params p = gc_engine_default_params();
    p.device = device;
    p.kv_dtype = g_kv;
    gc_engine *e;
    gc_status s = gc_engine_new(m, &p, &e);
    if (s != GC_OK) fail_msg("engine: %s", gc_last_error());
    return e;
}

static const double TRACE_TOL = 3e-2;    // bf16 activations through every layer, vs float64
static const double LATENT_FIRST_TOL = 5e-2;   // first latent step (its input carries the ids' error, realigned)
static const double LATENT_TOL = 0.5;          // later steps: only catches garbage (see trace_ref, test_latent_vs_cpu)
// Engine outputs vs the CPU engine: bf16 weights are exact on these fixtures,
// but activations, q/k/v and the KV cache are bf16 (as in HF's bf16 path);
// on the tiny random models the logits are small next to the activations, so
// relative logit errors reach a few 1e-2 (kernels alone stay near 2e-3).
static const double ENGINE_TOL = 5e-2;

static void trace_ref(const char *family, int k) {
    char dir[256], jpath[300], bpath[300];
    snprintf(dir, sizeof dir, "tests/data/tiny/%s", family);
    snprintf(jpath, sizeof jpath, "%s/ref_%d.json", dir, k);
    snprintf(bpath, sizeof bpath, "%s/ref_%d.f32", dir, k);
    char *js, *bin;
    size_t jl, bl;
    assert_int_equal(gc_file_read_all(jpath, &js, &jl), GC_OK);
    assert_int_equal(gc_file_read_all(bpath, &bin, &bl), GC_OK);
    cJSON *meta = cJSON_Parse(js);
    assert_non_null(meta);
    const float *ref = (const float *)bin;
    gc_model *m;
    assert_int_equal(gc_model_load(dir, &m), GC_OK);
    gc_engine *e = engine_on(m, GC_DEVICE_CUDA);
    gc_trace_opts o = {.realign = cJSON_IsTrue(cJSON_GetObjectItem(meta, "realign"))};
    gc_trace *t;
    gc_status s = gc_trace_run(e, cJSON_GetObjectItem(meta, "program")->valuestring, &o, &t);
    if (s != GC_OK) fail_msg("trace: %s", gc_last_error());
    cJSON *segs = cJSON_GetObjectItem(meta, "segments");
    assert_int_equal(t->n_segs, cJSON_GetArraySize(segs));
    int64_t off = 0, V = t->vocab, D = t->dim;
    for (int i = 0; i < t->n_segs; i++) {
        cJSON *rs = cJSON_GetArrayItem(segs, i);
        const char *type = cJSON_GetObjectItem(rs, "type")->valuestring;
        gc_trace_seg *sg = &t->segs[i];
        if (strcmp(type, "ids") == 0) {
            double e1 = rel_err(sg->logits, ref + off, sg->n * V);
            off += sg->n * V;
            double e2 = rel_err(sg->hidden, ref + off, D);
            off += D;
            print_message("cuda %s ref_%d seg %d ids n=%lld: logits %.2e hidden_last %.2e\n", family, k, i,
                          (long long)sg->n, e1, e2);
            assert_true(e1 <= TRACE_TOL && e2 <= TRACE_TOL);
        } else if (strcmp(type, "latent") == 0) {
            // A latent step feeds the last hidden state back as the next input,
            // so bf16 differences compound from step to step (x1.5-2 per step on
            // these random tiny models, seen on the H200: llama 3e-2 → 3.6e-1
            // over 6 steps; the f32 CPU path starts at 1e-7 and stays below
            // 1e-4). Per-step accuracy with equal inputs is test_latent_vs_cpu.
            char buf[256];
            int len = 0;
            double first = 0, worst = 0;
            for (int64_t j = 0; j < sg->n; j++) {
                double ej = rel_err(sg->hidden + j * D, ref + off + j * D, D);
                if (j == 0) first = ej;
                worst = fmax(worst, ej);
                if (len < 200) len += snprintf(buf + len, sizeof buf - (size_t)len, " %.1e", ej);
            }
            off += sg->n * D;
            double e2 = rel_err(sg->logits_last, ref + off, V);
            off += V;
            print_message("cuda %s ref_%d seg %d latent n=%lld: hidden per step%s; logits_last %.2e\n", family, k, i,
                          (long long)sg->n, buf, e2);
            assert_true(first <= LATENT_FIRST_TOL);
            assert_true(worst <= LATENT_TOL && e2 <= LATENT_TOL);
        } else if (strcmp(type, "greedy") == 0) {
            // Greedy ids can part ways at a near-tie; test_greedy_* checks them properly.
            cJSON *ids = cJSON_GetObjectItem(rs, "ids");
            int same = 0;
            while (same < sg->n && sg->ids[same] == cJSON_GetArrayItem(ids, same)->valueint) same++;
            print_message("cuda %s ref_%d seg %d greedy: first %d of %lld ids equal the reference\n", family, k, i,
                          same, (long long)sg->n);
        }
    }
    assert_int_equal(off, (int64_t)(bl / 4));
    gc_trace_free(t);
    gc_engine_free(e);
    gc_model_free(m);
    cJSON_Delete(meta);
    free(js);
    free(bin);
}

static void test_trace_conformance(void **st) {
    (void)st;
    NEED_GPU();
    const char *fams[] = {"qwen3", "qwen2", "llama"};
    for (int f = 0; f < 3; f++)
        for (int k = 0;; k++) {
            char p[256];
            snprintf(p, sizeof p, "tests/data/tiny/%s/ref_%d.json", fams[f], k);
            if (!gc_file_exists(p)) break;
            trace_ref(fams[f], k);
        }
}

// Greedy decoding on both engines, the CPU's token fed to both. Where the
// argmaxes differ, the CPU's margin between its token and the GPU's must be
// within 3× the RMS CPU/GPU logit difference of that step (a near-tie).
// Two sequences run as one batch on each engine. Returns the agreement.
static double greedy_compare(gc_model *m, int n_prompt, int n_steps) {
    gc_model_info in;
    gc_model_get_info(m, &in);
    const int64_t V = in.vocab_size;
    gc_engine *ec = engine_on(m, GC_DEVICE_CPU), *eg = engine_on(m, GC_DEVICE_CUDA);
    gc_kv *kc[2], *kg[2];
    int32_t *prompt = xmalloc(2 * n_prompt * 4), tok[2], amax[2];
    float *lc = xmalloc(2 * V * 4), *lg = xmalloc(2 * V * 4);
    for (int i = 0; i < 2 * n_prompt; i++) prompt[i] = (int32_t)((i * 7919 + 13) % V);
    for (int b = 0; b < 2; b++) {
        assert_int_equal(gc_kv_new(ec, &kc[b]), GC_OK);
        assert_int_equal(gc_kv_new(eg, &kg[b]), GC_OK);
    }
    int agree = 0, total = 0;
    double worst = 0;
    for (int step = 0; step <= n_steps; step++) {
        gc_seq_step sc[2], sg[2];
        for (int b = 0; b < 2; b++) {
            const int32_t *ids = step == 0 ? prompt + b * n_prompt : &tok[b];
            int64_t n = step == 0 ? n_prompt - b * 3 : 1;   // different lengths in one batch
            sc[b] = (gc_seq_step){.kv = kc[b], .n = n, .ids = ids, .logits = lc + b * V};
            sg[b] = (gc_seq_step){.kv = kg[b], .n = n, .ids = ids, .logits = lg + b * V, .argmax = &amax[b]};
        }
        assert_int_equal(gc_engine_forward(ec, sc, 2), GC_OK);
        gc_status s = gc_engine_forward(eg, sg, 2);
        if (s != GC_OK) fail_msg("cuda forward: %s", gc_last_error());
        for (int b = 0; b < 2; b++) {
            const float *c = lc + b * V, *g = lg + b * V;
            int32_t bc = 0, bg = 0;
            double d2 = 0;
            for (int64_t v = 0; v < V; v++) {
                if (c[v] > c[bc]) bc = (int32_t)v;
                if (g[v] > g[bg]) bg = (int32_t)v;
                d2 += ((double)c[v] - g[v]) * ((double)c[v] - g[v]);
            }
            assert_int_equal(amax[b], bg);   // the device argmax is the argmax of the returned logits
            double noise = sqrt(d2 / (double)V), e = rel_err(g, c, V);
            worst = fmax(worst, e);
            total++;
            if (bc == bg) agree++;
            else {
                double margin = (double)c[bc] - c[bg];
                print_message("greedy step %d seq %d: cpu %d gpu %d, cpu margin %.3g, logit noise %.3g\n", step, b, bc,
                              bg, margin, noise);
                assert_true(margin <= 3 * noise);
            }
            tok[b] = bc;
        }
    }
    print_message("greedy %s: %d/%d argmax equal, worst logits rel err %.2e\n", in.arch, agree, total, worst);
    assert_true(worst <= ENGINE_TOL);
    for (int b = 0; b < 2; b++) { gc_kv_free(kc[b]); gc_kv_free(kg[b]); }
    gc_engine_free(ec);
    gc_engine_free(eg);
    free(prompt); free(lc); free(lg);
    return (double)agree / total;
}

static void test_greedy_fixtures(void **st) {
    (void)st;
    NEED_GPU();
    const char *dirs[] = {"tests/data/tiny/qwen3", "tests/data/tiny/qwen2", "tests/data/tiny/llama"};
    for (int i = 0; i < 3; i++) {
        gc_model *m;
        assert_int_equal(gc_model_load(dirs[i], &m), GC_OK);
        greedy_compare(m, 40, 30);
        gc_model_free(m);
    }
}

static void greedy_env(const char *var) {
    const char *path = getenv(var);
    if (!have_gpu() || !path || !*path) skip();
    gc_model *m;
    gc_status s = gc_model_load(path, &m);
    if (s != GC_OK) fail_msg("%s: %s", path, gc_last_error());
    greedy_compare(m, 48, 24);
    gc_model_free(m);
}
static void test_greedy_random_model(void **st) { (void)st; greedy_env("GC_CUDA_TEST_MODEL"); }
static void test_greedy_smol(void **st) { (void)st; greedy_env("GC_SMOL_GGUF"); }

// Latent steps with equal inputs: both engines get the embedding realigned
// from the CPU's hidden state, so each step's error is the backend's own.
static void test_latent_vs_cpu(void **st) {
    (void)st;
    NEED_GPU();
    const char *dirs[] = {"tests/data/tiny/qwen3", "tests/data/tiny/qwen2", "tests/data/tiny/llama"};
    for (int f = 0; f < 3; f++) {
        gc_model *m;
        assert_int_equal(gc_model_load(dirs[f], &m), GC_OK);
        const int64_t V = m->cfg.vocab_size, D = m->cfg.hidden_size;
        gc_realign *ra;
        assert_int_equal(gc_realign_new_cached(m, true, NULL, 0, &ra), GC_OK);
        gc_engine *ec = engine_on(m, GC_DEVICE_CPU), *eg = engine_on(m, GC_DEVICE_CUDA);
        gc_kv *kc, *kg;
        gc_kv_new(ec, &kc);
        gc_kv_new(eg, &kg);
        float *hc = xmalloc(D * 4), *hg = xmalloc(D * 4), *emb = xmalloc(D * 4), *lc = xmalloc(V * 4), *lg = xmalloc(V * 4);
        int32_t ids[30];
        for (int i = 0; i < 30; i++) ids[i] = (int32_t)((i * 71 + 3) % V);
        gc_seq_step a = {.kv = kc, .n = 30, .ids = ids, .hidden = hc}, b = {.kv = kg, .n = 30, .ids = ids, .hidden = hg};
        assert_int_equal(gc_engine_forward(ec, &a, 1), GC_OK);
        assert_int_equal(gc_engine_forward(eg, &b, 1), GC_OK);
        double worst = rel_err(hg, hc, D);
        for (int step = 0; step < 8; step++) {
            gc_realign_apply(ra, hc, emb);
            a = (gc_seq_step){.kv = kc, .n = 1, .embeds = emb, .hidden = hc, .logits = lc};
            b = (gc_seq_step){.kv = kg, .n = 1, .embeds = emb, .hidden = hg, .logits = lg};
            assert_int_equal(gc_engine_forward(ec, &a, 1), GC_OK);
            assert_int_equal(gc_engine_forward(eg, &b, 1), GC_OK);
            worst = fmax(worst, fmax(rel_err(hg, hc, D), rel_err(lg, lc, V)));
        }
        print_message("%s latent steps with equal inputs: worst rel err %.2e\n", dirs[f], worst);
        assert_true(worst <= ENGINE_TOL);
        gc_kv_free(kc); gc_kv_free(kg);
        gc_engine_free(ec); gc_engine_free(eg);
        gc_realign_free(ra);
        free(hc); free(hg); free(emb); free(lc); free(lg);
        gc_model_free(m);
    }
}

// Cache operations on device blocks: every derived cache, decoded on, gives
// the CPU engine's logits (within bf16 tolerance); gc_kv_read agrees too.
typedef struct both { gc_engine *e; gc_kv *a, *b, *f, *c, *w, *d, *l; } both;

static void ops_run(gc_model *m, int device, both *x, float *out, int64_t V, const char *tmp) {
    x->e = engine_on(m, device);
    gc_kv_new(x->e, &x->a);
    gc_kv_new(x->e, &x->b);
    int32_t ids[64];
    for (int i = 0; i < 64; i++) ids[i] = (int32_t)((i * 37 + 11) % V);
    gc_seq_step s2[2] = {{.kv = x->a, .n = 40, .ids = ids}, {.kv = x->b, .n = 23, .ids = ids + 40}};
    assert_int_equal(gc_engine_forward(x->e, s2, 2), GC_OK);
    assert_int_equal(gc_kv_fork(x->a, &x->f), GC_OK);
    const int64_t L = m->cfg.n_layers;
    float ks[8], vs[8];
    uint8_t gate[8];
    for (int l = 0; l < L; l++) { ks[l] = 0.5f + 0.1f * l; vs[l] = 1.5f - 0.2f * l; gate[l] = l != 1; }
    assert_int_equal(gc_kv_scale(x->f, 5, 20, ks, vs, NULL), GC_OK);
    assert_int_equal(gc_kv_scale(x->f, 25, 31, NULL, NULL, gate), GC_OK);
    gc_kv *parts[2] = {x->f, x->b};
    assert_int_equal(gc_kv_concat(parts, 2, &x->c), GC_OK);
    float w[2] = {0.7f, 0.3f};
    assert_int_equal(gc_kv_wsum(parts, w, 2, &x->w), GC_OK);
    assert_int_equal(gc_kv_clone(x->c, &x->d), GC_OK);
    assert_int_equal(gc_kv_save(x->d, tmp), GC_OK);
    assert_int_equal(gc_kv_load(x->e, tmp, &x->l), GC_OK);
    assert_int_equal(gc_kv_keep_last(x->l, 50), GC_OK);
    // One batch: a 5-token chunk on c, single tokens on w, d, l and b.
    gc_seq_step s5[5] = {
        {.kv = x->c, .n = 5, .ids = ids + 1, .logits = out, .logits_all = true},
        {.kv = x->w, .n = 1, .ids = ids + 2, .logits = out + 5 * V},
        {.kv = x->d, .n = 1, .ids = ids + 3, .logits = out + 6 * V},
        {.kv = x->l, .n = 1, .ids = ids + 4, .logits = out + 7 * V},
        {.kv = x->b, .n = 1, .ids = ids + 5, .logits = out + 8 * V},
    };
    assert_int_equal(gc_engine_forward(x->e, s5, 5), GC_OK);
    // Then decode steps, every sequence one token (the graph path on CUDA).
    for (int t = 0; t < 3; t++) {
        gc_seq_step s4[4] = {
            {.kv = x->c, .n = 1, .ids = ids + 10 + t, .logits = out + (9 + 4 * t) * V},
            {.kv = x->w, .n = 1, .ids = ids + 20 + t, .logits = out + (10 + 4 * t) * V},
            {.kv = x->d, .n = 1, .ids = ids + 30 + t, .logits = out + (11 + 4 * t) * V},
            {.kv = x->l, .n = 1, .ids = ids + 40 + t, .logits = out + (12 + 4 * t) * V},
        };
        assert_int_equal(gc_engine_forward(x->e, s4, 4), GC_OK);
    }
}

static void ops_free(both *x) {
    gc_kv_free(x->a); gc_kv_free(x->b); gc_kv_free(x->f); gc_kv_free(x->c);
    gc_kv_free(x->w); gc_kv_free(x->d); gc_kv_free(x->l);
    assert_int_equal(x->e->pool.live_blocks, 0);
    gc_engine_free(x->e);
}

// ops_run on both engines of a fixture: the logits and the
// gc_kv_read rows agree within the engine tolerance; with q8 KV the rows
// within ENGINE_TOL + sqrt(hd) / 127 (see the q8 test).
static void cache_ops_compare(const char *dir) {
    gc_model *m;
    assert_int_equal(gc_model_load(dir, &m), GC_OK);
    const int64_t V = m->cfg.vocab_size, row = m->cfg.n_kv_heads * m->cfg.head_dim, rows = 21;
    float *oc = xmalloc(rows * V * 4), *og = xmalloc(rows * V * 4);
    char tmp[] = "/tmp/gc_cuda_kv_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    both c, g;
    ops_run(m, GC_DEVICE_CPU, &c, oc, V, tmp);
    for (int64_t j = 0; j < rows * V; j++) og[j] = NAN;
    ops_run(m, GC_DEVICE_CUDA, &g, og, V, tmp);
    for (int64_t r = 0; r < rows; r++) {
        double e = rel_err(og + r * V, oc + r * V, V);
        if (e > ENGINE_TOL || r % 5 == 0) print_message("%s cache ops row %lld: logits rel err %.2e\n", dir, (long long)r, e);
        assert_true(e <= ENGINE_TOL);
    }
    // gc_kv_read on device blocks (scales applied) vs host blocks.
    float *k1 = xmalloc(row * 4), *v1 = xmalloc(row * 4), *k2 = xmalloc(row * 4), *v2 = xmalloc(row * 4);
    double worst = 0;
    for (int64_t l = 0; l < m->cfg.n_layers; l++)
        for (int64_t p = 0; p < gc_kv_len(c.w); p += 3) {
            assert_int_equal(gc_kv_read(c.w, l, p, k1, v1), GC_OK);
            assert_int_equal(gc_kv_read(g.w, l, p, k2, v2), GC_OK);
            worst = fmax(worst, fmax(rel_err(k2, k1, row), rel_err(v2, v1, row)));
            assert_int_equal(gc_kv_read(c.c, l, p + 10, k1, v1), GC_OK);
            assert_int_equal(gc_kv_read(g.c, l, p + 10, k2, v2), GC_OK);
            worst = fmax(worst, fmax(rel_err(k2, k1, row), rel_err(v2, v1, row)));
        }
    const double kv_tol = g_kv == GC_KV_Q8 ? ENGINE_TOL + sqrt((double)m->cfg.head_dim) / 127.0 : ENGINE_TOL;
    print_message("%s gc_kv_read device vs host: worst rel err %.2e (tolerance %.2e)\n", dir, worst, kv_tol);
    assert_true(worst <= kv_tol);
    free(k1); free(v1); free(k2); free(v2);
    ops_free(&c);
    ops_free(&g);
    unlink(tmp);
    free(oc); free(og);
    gc_model_free(m);
}

static void test_cache_ops_vs_cpu(void **st) {
    (void)st;
    NEED_GPU();
    const char *dirs[] = {"tests/data/tiny/qwen3", "tests/data/tiny/llama"};
    for (int i = 0; i < 2; i++) cache_ops_compare(dirs[i]);
}

// q8 KV on the device against q8 on the CPU: cache operations (fork, scale,
// gate, concat, wsum, clone, save/load, keep_last) on the tiny fixtures;
// greedy decoding on the fixtures (tile kernels) and, with GC_SMOL_GGUF /
// GC_CUDA_TEST_MODEL, on real head sizes (the decode kernel). Both engines
// quantize by the same rule, but their inputs differ by the bf16 error, and
// a value near a rounding boundary then lands one step (max|row| / 127) apart:
// over a row of hd values with max <= sqrt(hd) * rms that adds at most
// sqrt(hd) / 127 to the norm-relative difference of a stored row (0.031 for
// the tiny fixtures' hd = 16, measured 0.055 against 0.025 with bf16 KV on
// the tiny llama). Logits keep the engine tolerance.
static void test_kv_q8_vs_cpu(void **st) {
    (void)st;
    NEED_GPU();
    g_kv = GC_KV_Q8;
    const char *dirs[] = {"tests/data/tiny/qwen3", "tests/data/tiny/llama", "tests/data/tiny/qwen2"};
    for (int i = 0; i < 2; i++) cache_ops_compare(dirs[i]);
    for (int i = 0; i < 3; i++) {
        gc_model *m;
        assert_int_equal(gc_model_load(dirs[i], &m), GC_OK);
        greedy_compare(m, 40, 30);
        gc_model_free(m);
    }
    const char *vars[] = {"GC_SMOL_GGUF", "GC_CUDA_TEST_MODEL"};
    for (int i = 0; i < 2; i++) {
        const char *path = getenv(vars[i]);
        if (!path || !*path) continue;
        gc_model *m;
        if (gc_model_load(path, &m) != GC_OK) fail_msg("%s: %s", path, gc_last_error());
        greedy_compare(m, 48, 24);
        gc_model_free(m);
    }
    g_kv = GC_KV_DEFAULT;
}

// gc_kv_wsum through the device's kv_wsum kernel, bf16 and q8 KV, on
// fixtures of head_dim 32 (2 KV heads), 16 (2) and 16 (1): the same bits as
// itself run again and as the f32 sum of the parts' gc_kv_read rows stored
// the way kv_set stores it, and within 1 bf16 ulp / one q8 step of that sum
// (wsum_fixture.h: parts of 45, 39 and 37 positions starting inside blocks,
// per-layer scales, a gate; then 7 parts of 600+ positions, a plan larger
// than the first upload buffer).
static void test_kv_wsum_device(void **st) {
    (void)st;
    NEED_GPU();
    const char *dirs[] = {"tests/data/tiny/qwen3", "tests/data/tiny/qwen2", "tests/data/tiny/llama"};
    const gc_kv_dtype kinds[2] = {GC_KV_BF16, GC_KV_Q8};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++) {
            gc_model *m;
            assert_int_equal(gc_model_load(dirs[i], &m), GC_OK);
            g_kv = kinds[k];
            gc_engine *e = engine_on(m, GC_DEVICE_CUDA);
            char what[128];
            snprintf(what, sizeof what, "cuda %s %s", gc_kv_dtype_name(kinds[k]), dirs[i]);
            wsum_check(e, what);
            assert_int_equal(e->pool.live_blocks, 0);
            gc_engine_free(e);
            gc_model_free(m);
        }
    g_kv = GC_KV_DEFAULT;
}

// On a real model (GC_SMOL_GGUF, else GC_CUDA_TEST_MODEL; skipped without):
// the decode kernel and the tile-16 kernel read the same q8 blocks alike;
// q8 against bf16 on the device differs (the option acts) but stays close;
// the block bytes are q8's.
static void test_kv_q8_decode_paths(void **st) {
    (void)st;
    const char *path = getenv("GC_SMOL_GGUF");
    if (!path || !*path) path = getenv("GC_CUDA_TEST_MODEL");
    if (!have_gpu() || !path || !*path) skip();
    gc_model *m;
    if (gc_model_load(path, &m) != GC_OK) fail_msg("%s: %s", path, gc_last_error());
    const int64_t V = m->cfg.vocab_size, hd = m->cfg.head_dim;
    enum { B = 3, STEPS = 8 };
    const int kv[3] = {GC_KV_Q8, GC_KV_Q8, GC_KV_BF16};
    const bool decode_attention[3] = {true, false, true};
    float *out[3];
    size_t bytes[3];
    int32_t ids[200];
    for (int i = 0; i < 200; i++) ids[i] = (int32_t)((i * 7919 + 13) % V);
    for (int k = 0; k < 3; k++) {
        gc_engine_params p = gc_engine_default_params();
        p.device = GC_DEVICE_CUDA;
        p.kv_dtype = kv[k];
        p.cuda.decode_attention = decode_attention[k];
        gc_engine *e;
        if (gc_engine_new(m, &p, &e) != GC_OK) fail_msg("engine: %s", gc_last_error());
        out[k] = xmalloc(STEPS * B * V * 4);
        gc_kv *c[B];
        for (int b = 0; b < B; b++) {
            assert_int_equal(gc_kv_new(e, &c[b]), GC_OK);
            gc_seq_step s = {.kv = c[b], .n = 90 + 17 * b, .ids = ids + b};
            assert_int_equal(gc_engine_forward(e, &s, 1), GC_OK);
        }
        for (int t = 0; t < STEPS; t++) {
            gc_seq_step s[B];
            for (int b = 0; b < B; b++)
                s[b] = (gc_seq_step){.kv = c[b], .n = 1, .ids = ids + 150 + t + b, .logits = out[k] + (t * B + b) * V};
            assert_int_equal(gc_engine_forward(e, s, B), GC_OK);
        }
        bytes[k] = gc_kv_bytes(c[0]);
        for (int b = 0; b < B; b++) gc_kv_free(c[b]);
        gc_engine_free(e);
    }
    const double kern = rel_err(out[0], out[1], STEPS * B * V), prec = rel_err(out[0], out[2], STEPS * B * V);
    print_message("q8 KV: decode kernel vs tile-16 rel err %.2e; q8 vs bf16 KV rel err %.2e; KV bytes %zu vs %zu\n",
                  kern, prec, bytes[0], bytes[2]);
    assert_true(kern <= 2e-2);
    assert_true(prec > 0 && prec <= 0.1);
    assert_int_equal(bytes[0] * (size_t)(2 * hd), bytes[2] * (size_t)(hd + 4));
    for (int k = 0; k < 3; k++) free(out[k]);
    gc_model_free(m);
}

// The engine's CUDA switches (gc_engine_params.cuda) on the same batched
// prefill + 12 decode steps: graph replay, programmatic dependent launch and
// profiling (graphs off, events around every launch) run the same kernels, so
// the logits are bit-identical; the tile-16 attention for one-query steps,
// more context splits and cuBLAS for every GEMM compute the same values in
// another order (bf16 noise).
static void test_engine_switches(void **st) {
    (void)st;
    NEED_GPU();
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen3", &m), GC_OK);
    const int64_t V = m->cfg.vocab_size;
    enum { N_MODES = 7 };
    static const char *const names[N_MODES] = {"default", "graphs off", "pdl for every step", "profile",
                                               "tile-16 attention", "8 attention blocks per SM", "cuBLAS only"};
    float *out[N_MODES];
    for (int k = 0; k < N_MODES; k++) {
        gc_engine_params p = gc_engine_default_params();
        p.device = GC_DEVICE_CUDA;
        if (k == 1) p.cuda.graphs = false;
        if (k == 2) p.cuda.pdl_max_t = 16;
        if (k == 3) p.cuda.profile = true;
        if (k == 4) p.cuda.decode_attention = false;
        if (k == 5) p.cuda.attn_blocks_per_sm = 8;
        if (k == 6) p.cuda.skinny_max_t = 0;
        gc_engine *e;
        if (gc_engine_new(m, &p, &e) != GC_OK) fail_msg("engine (%s): %s", names[k], gc_last_error());
        out[k] = xmalloc(12 * 3 * V * 4);
        gc_kv *kv[3];
        int32_t ids[40];
        for (int i = 0; i < 40; i++) ids[i] = (int32_t)((i * 53 + 7) % V);
        for (int b = 0; b < 3; b++) {
            gc_kv_new(e, &kv[b]);
            gc_seq_step s = {.kv = kv[b], .n = 10 + b, .ids = ids + b};
            assert_int_equal(gc_engine_forward(e, &s, 1), GC_OK);
        }
        for (int t = 0; t < 12; t++) {
            gc_seq_step s[3];
            for (int b = 0; b < 3; b++) s[b] = (gc_seq_step){.kv = kv[b], .n = 1, .ids = ids + 20 + t + b, .logits = out[k] + (t * 3 + b) * V};
            assert_int_equal(gc_engine_forward(e, s, 3), GC_OK);
        }
        for (int b = 0; b < 3; b++) gc_kv_free(kv[b]);
        gc_engine_free(e);
    }
    for (int k = 1; k < N_MODES; k++) {
        double e = rel_err(out[k], out[0], 12 * 3 * V);
        print_message("engine switches: %s vs default: logits rel err %.2e\n", names[k], e);
        if (k <= 3) assert_memory_equal(out[k], out[0], 12 * 3 * V * 4);
        else assert_true(e <= 2e-2);
    }
    for (int k = 0; k < N_MODES; k++) free(out[k]);
    gc_model_free(m);
}

// Batch-invariant mode (gc_cuda_debug.batch_invariant) end to end, on the
// tiny qwen3 (max_position 1024, so context splits of 64 keys; 2 query heads
// per KV head, so attention tiles of 8 positions). A sequence runs alone: a
// prefill of BI_PROMPT positions, then greedy decode steps (one-row steps,
// replayed as a graph). Then the same sequence, fed the same tokens, runs in
// steps with 15 others of other lengths: prefill chunks of 2..24 rows and
// decode rows mixed, some wanting the logits of every row, the sequence's
// rows at another place of the step each time; the last BI_ALL_DECODE steps
// decode all 16 (a graph of 16). Its logits and final hidden state must be
// the same bits in every step. With the switch off the largest difference
// is printed, not asserted: it shows what the switch changes.
enum { BI_SEQS = 16, BI_PROMPT = 70, BI_STEPS = 10, BI_ALL_DECODE = 2, BI_MAX_CHUNK = 24 };

// Logits (BI_STEPS, V) and hidden states (BI_STEPS, D) of the sequence,
// alone (toks: the greedy tokens it picks, written) and in the mixed steps
// (toks read: the same inputs).
static void bi_run(gc_model *m, bool invariant, int kv_dtype, float *logits, float *hidden, int32_t *toks,
                   bool mixed) {
    const int64_t V = m->cfg.vocab_size;
    gc_engine_params p = gc_engine_default_params();
    p.device = GC_DEVICE_CUDA;
    p.kv_dtype = kv_dtype;
    p.cuda.batch_invariant = invariant;
    gc_engine *e;
    if (gc_engine_new(m, &p, &e) != GC_OK) fail_msg("engine: %s", gc_last_error());
    int32_t prompt[BI_PROMPT], ids[BI_SEQS][BI_MAX_CHUNK];
    for (int i = 0; i < BI_PROMPT; i++) prompt[i] = (int32_t)((i * 37 + 11) % V);
    gc_kv *kv[BI_SEQS];
    for (int o = 0; o < BI_SEQS; o++) assert_int_equal(gc_kv_new(e, &kv[o]), GC_OK);
    float *scratch = xmalloc((size_t)(BI_SEQS * BI_MAX_CHUNK * V) * 4);   // the others' logits
    if (mixed) {   // the others' contexts: 19 .. 145 positions, in one step
        gc_seq_step pre[BI_SEQS - 1];
        int32_t *pids = xmalloc(BI_SEQS * 160 * 4);
        for (int o = 1; o < BI_SEQS; o++) {
            for (int i = 0; i < 10 + 9 * o; i++) pids[o * 160 + i] = (int32_t)((i * 13 + o * 7) % V);
            pre[o - 1] = (gc_seq_step){.kv = kv[o], .n = 10 + 9 * o, .ids = pids + o * 160};
        }
        assert_int_equal(gc_engine_forward(e, pre, BI_SEQS - 1), GC_OK);
        free(pids);
    }
    for (int s = 0; s < BI_STEPS; s++) {
        gc_seq_step st[BI_SEQS];
        int n_st = 0;
        const int at = mixed ? (s * 5 + 3) % BI_SEQS : 0;   // the sequence's place in the step
        int64_t sc = 0;                                     // rows of scratch handed out
        for (int k = 0; k < (mixed ? BI_SEQS : 1); k++) {
            if (k == at) {
                st[n_st++] = (gc_seq_step){.kv = kv[0], .n = s == 0 ? BI_PROMPT : 1,
                                           .ids = s == 0 ? prompt : &toks[s - 1], .logits = logits + s * V,
                                           .hidden = hidden + s * m->cfg.hidden_size};
                continue;
            }
            const int o = k < at ? k + 1 : k;   // others 1..15
            const bool decode = s >= BI_STEPS - BI_ALL_DECODE || (o + s) % 2 == 0;
            const int64_t n = decode ? 1 : 2 + (o * 7 + s * 3) % (BI_MAX_CHUNK - 1);
            for (int64_t i = 0; i < n; i++) ids[o][i] = (int32_t)((o * 31 + s * 17 + i * 5) % V);
            gc_seq_step q = {.kv = kv[o], .n = n, .ids = ids[o]};
            if (o % 3 == 0 || o % 5 == 0) {   // logits: of the last row, or (o % 5) of every row
                q.logits = scratch + sc * V;
                q.logits_all = o % 5 == 0;
                sc += q.logits_all ? n : 1;
            }
            st[n_st++] = q;
        }
        gc_status r = gc_engine_forward(e, st, n_st);
        if (r != GC_OK) fail_msg("batch-invariant step %d: %s", s, gc_last_error());
        if (!mixed) {   // greedy: the argmax of its own logits
            int32_t best = 0;
            for (int64_t v = 1; v < V; v++)
                if (logits[s * V + v] > logits[s * V + best]) best = (int32_t)v;
            toks[s] = best;
        }
    }
    for (int o = 0; o < BI_SEQS; o++) gc_kv_free(kv[o]);
    free(scratch);
    gc_engine_free(e);
}

static void test_batch_invariant(void **st) {
    (void)st;
    NEED_GPU();
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen3", &m), GC_OK);
    const int64_t V = m->cfg.vocab_size, D = m->cfg.hidden_size;
    float *la = xmalloc(BI_STEPS * V * 4), *lm = xmalloc(BI_STEPS * V * 4);
    float *ha = xmalloc(BI_STEPS * D * 4), *hm = xmalloc(BI_STEPS * D * 4);
    int32_t toks[BI_STEPS];
    static const int kvs[] = {GC_KV_DEFAULT, GC_KV_Q8};
    for (int mode = 0; mode < 3; mode++) {   // on (bf16 KV), on (q8 KV), off (bf16 KV)
        const bool on = mode < 2;
        const int kv = kvs[mode == 1];
        bi_run(m, on, kv, la, ha, toks, false);
        bi_run(m, on, kv, lm, hm, toks, true);
        double worst = 0;
        int differ = 0;
        for (int s = 0; s < BI_STEPS; s++) {
            const bool same = memcmp(la + s * V, lm + s * V, (size_t)V * 4) == 0 &&
                              memcmp(ha + s * D, hm + s * D, (size_t)D * 4) == 0;
            double d = 0;
            for (int64_t v = 0; v < V; v++) d = fmax(d, fabs((double)la[s * V + v] - lm[s * V + v]));
            worst = fmax(worst, d);
            differ += !same;
            if (on && !same)
                fail_msg("batch-invariant (%s KV): step %d differs alone and among 16 (max |dlogit| %.3g)",
                         mode == 1 ? "q8" : "bf16", s, d);
        }
        print_message("batch-invariant %s (%s KV): %d of %d steps differ alone vs among 16, max |dlogit| %.3g\n",
                      on ? "on" : "off", mode == 1 ? "q8" : "bf16", differ, BI_STEPS, worst);
    }
    free(la); free(lm); free(ha); free(hm);
    gc_model_free(m);
}

// Out of KV memory is an error value and leaves the caches as they were.
static void test_pool_limit(void **st) {
    (void)st;
    NEED_GPU();
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/llama", &m), GC_OK);
    gc_engine_params p = gc_engine_default_params();
    p.device = GC_DEVICE_CUDA;
    const size_t block = (size_t)m->cfg.n_layers * 2 * GC_KV_BLOCK * (size_t)(m->cfg.n_kv_heads * m->cfg.head_dim) * 2;
    p.kv_pool_bytes = 3 * block;
    gc_engine *e;
    assert_int_equal(gc_engine_new(m, &p, &e), GC_OK);
    gc_kv *kv;
    gc_kv_new(e, &kv);
    int32_t ids[64] = {0};
    gc_seq_step s = {.kv = kv, .n = 40, .ids = ids};
    assert_int_equal(gc_engine_forward(e, &s, 1), GC_OK);
    s.n = 20;
    assert_int_equal(gc_engine_forward(e, &s, 1), GC_ERR_OOM);
    assert_int_equal(gc_kv_len(kv), 40);
    s.n = 8;
    assert_int_equal(gc_engine_forward(e, &s, 1), GC_OK);
    gc_kv_free(kv);
    gc_engine_free(e);
    gc_model_free(m);
}

// The CUDA engine's token output is the rule applied to its own logits, draw
// by draw (the same check test_sampler makes of the CPU engine), for greedy
// and drawn steps, batched with steps that want logits only.
static void test_engine_draws(void **st) {
    (void)st;
    NEED_GPU();
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen3", &m), GC_OK);
    gc_engine *e = engine_on(m, GC_DEVICE_CUDA);
    gc_model_info info;
    gc_model_get_info(m, &info);
    const int64_t nv = info.vocab_size;
    float *lg = xmalloc((size_t)nv * 4), *lg2 = xmalloc((size_t)nv * 4);
    const int32_t ids[3] = {5, 17, 3};
    int agree = 0, total = 0;
    for (int k = 0; k < 24; k++) {
        gc_kv *a, *b;
        assert_int_equal(gc_kv_new(e, &a), GC_OK);
        assert_int_equal(gc_kv_new(e, &b), GC_OK);
        gc_sampler_params sp = {.temperature = k % 4 ? 0.5f + 0.25f * (float)(k % 4) : 0.0f,
                                .top_p = k % 3 == 1 ? 0.9f : 1.0f, .top_k = k % 5 == 2 ? 7 : 0, .seed = (uint64_t)k};
        gc_sampler *smp;
        assert_int_equal(gc_sampler_new(&sp, nv, &smp), GC_OK);
        gc_token_draw d = gc_sampler_next_draw(smp);
        int32_t t = -1;
        gc_seq_step s2[2] = {{.kv = a, .n = 3, .ids = ids, .logits = lg, .argmax = &t, .draw = &d},
                             {.kv = b, .n = 2, .ids = ids, .logits = lg2}};
        assert_int_equal(gc_engine_forward(e, s2, 2), GC_OK);
        agree += t == gc_token_draw_row(lg, nv, &d);
        total++;
        gc_sampler_free(smp);
        gc_kv_free(a);
        gc_kv_free(b);
    }
    print_message("engine draws: %d of %d equal to the rule on the returned logits\n", agree, total);
    assert_int_equal(agree, total);
    free(lg); free(lg2);
    gc_engine_free(e);
    gc_model_free(m);
}

// Latent realignment on the device (the backend's realign_rows on rows the
// engine holds, into other rows and in place) vs gc_realign_apply's formula
// in float64. Each map has its own key, so the backend makes it afresh.
static void test_realign(void **st) {
    (void)st;
    NEED_GPU();
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen3", &m), GC_OK);
    gc_engine *e = engine_on(m, GC_DEVICE_CUDA);
    const int64_t D = 64, n = 5;
    assert_int_equal(m->cfg.hidden_size, D);
    double *wa_t = xmalloc(D * D * 8);
    float *h = xmalloc(n * D * 4), *out = xmalloc(n * D * 4), *ref = xmalloc(n * D * 4);
    for (int64_t i = 0; i < D * D; i++) wa_t[i] = urand() * 0.2;
    fill(h, n * D, 3.0f);
    gc_rows *src, *dst;
    assert_int_equal(gc_rows_new(e, n, &src), GC_OK);
    assert_int_equal(gc_rows_new(e, n, &dst), GC_OK);
    for (int ident = 0; ident < 2; ident++) {
        for (int64_t r = 0; r < n; r++) {
            double ss = 0, acc[64];
            for (int64_t j = 0; j < D; j++) {
                acc[j] = 0;
                for (int64_t i = 0; i < D; i++) acc[j] += (double)h[r * D + i] * (ident ? (i == j) : wa_t[j * D + i]);
                ss += acc[j] * acc[j];
            }
            for (int64_t j = 0; j < D; j++) ref[r * D + j] = (float)(acc[j] * 7.5 / fmax(sqrt(ss), 1e-6));
        }
        for (int in_place = 0; in_place < 2; in_place++) {
            gc_rows *to = in_place ? src : dst;
            assert_int_equal(gc_rows_set(src, 0, n, h), GC_OK);
            assert_int_equal(e->be->realign_rows(e->be_state, (uint64_t)(1 + ident), ident ? NULL : wa_t, D, 7.5,
                                                 src->data, n, to->data), GC_OK);
            assert_int_equal(gc_rows_get(to, 0, n, out), GC_OK);
            double err = rel_err(out, ref, n * D);
            print_message("realign (identity=%d, in place=%d): rel err %.2e\n", ident, in_place, err);
            assert_true(err <= 1e-5);
        }
    }
    gc_rows_free(src);
    gc_rows_free(dst);
    free(wa_t); free(h); free(out); free(ref);
    gc_engine_free(e);
    gc_model_free(m);
}

// Realignment in batch-invariant mode: a row realigned among 16 is, bit for
// bit, the row realigned alone (one cuBLAS call per row).
static void test_batch_invariant_realign(void **st) {
    (void)st;
    NEED_GPU();
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen3", &m), GC_OK);
    gc_engine_params p = gc_engine_default_params();
    p.device = GC_DEVICE_CUDA;
    p.cuda.batch_invariant = true;
    gc_engine *e;
    assert_int_equal(gc_engine_new(m, &p, &e), GC_OK);
    const int64_t D = m->cfg.hidden_size, n = 16;
    double *wa_t = xmalloc(D * D * 8);
    float *h = xmalloc(n * D * 4), *all = xmalloc(n * D * 4), *one = xmalloc(D * 4);
    for (int64_t i = 0; i < D * D; i++) wa_t[i] = urand() * 0.2;
    fill(h, n * D, 3.0f);
    gc_rows *src, *dst;
    assert_int_equal(gc_rows_new(e, n, &src), GC_OK);
    assert_int_equal(gc_rows_new(e, n, &dst), GC_OK);
    assert_int_equal(gc_rows_set(src, 0, n, h), GC_OK);
    assert_int_equal(e->be->realign_rows(e->be_state, 7, wa_t, D, 7.5, src->data, n, dst->data), GC_OK);
    assert_int_equal(gc_rows_get(dst, 0, n, all), GC_OK);
    for (int64_t r = 0; r < n; r += 5) {
        assert_int_equal(e->be->realign_rows(e->be_state, 7, wa_t, D, 7.5, src->data + r * D, 1, dst->data), GC_OK);
        assert_int_equal(gc_rows_get(dst, 0, 1, one), GC_OK);
        assert_memory_equal(one, all + r * D, (size_t)D * 4);
    }
    gc_rows_free(src);
    gc_rows_free(dst);
    free(wa_t); free(h); free(all); free(one);
    gc_engine_free(e);
    gc_model_free(m);
}

// Latent steps on the device both ways, NSEQ sequences per step: host
// pointers (hidden → gc_realign_apply_rows on the device → embeds) and rows
// the engine holds (hidden_rows → gc_realign_rows → in_rows, the scheduler's
// path). The arithmetic is the same, so the same bits are expected; the
// check allows 1e-6 (cuBLAS may pick its kernel by the pointers' alignment)
// and says whether every value was identical. A wrong or stale row would be
// off by O(1).
static double latent_cmp(const float *a, const float *ref, int64_t n, long *differ) {
    for (int64_t i = 0; i < n; i++) *differ += memcmp(a + i, ref + i, sizeof(float)) != 0;
    return rel_err(a, ref, n);
}

static void test_latent_rows_on_device(void **st) {
    (void)st;
    NEED_GPU();
    enum { NSEQ = 3, STEPS = 6 };
    const char *dirs[] = {"tests/data/tiny/qwen3", "tests/data/tiny/qwen2", "tests/data/tiny/llama"};
    for (int f = 0; f < 3; f++) {
        gc_model *m;
        assert_int_equal(gc_model_load(dirs[f], &m), GC_OK);
        const int64_t V = m->cfg.vocab_size, D = m->cfg.hidden_size;
        gc_realign *ra;
        assert_int_equal(gc_realign_new_cached(m, true, NULL, 0, &ra), GC_OK);
        gc_engine *e = engine_on(m, GC_DEVICE_CUDA);
        gc_rows *hid, *in;
        assert_int_equal(gc_rows_new(e, NSEQ + 1, &hid), GC_OK);   // rows 1..NSEQ: offsets are exercised
        assert_int_equal(gc_rows_new(e, NSEQ + 1, &in), GC_OK);
        float *hh = xmalloc(NSEQ * D * 4), *emb = xmalloc(NSEQ * D * 4), *hr = xmalloc(NSEQ * D * 4);
        float *lh = xmalloc(NSEQ * V * 4), *lr = xmalloc(NSEQ * V * 4);
        gc_kv *kh[NSEQ], *kr[NSEQ];
        int32_t ids[NSEQ][24];
        gc_seq_step a[NSEQ], b[NSEQ];
        for (int s = 0; s < NSEQ; s++) {
            gc_kv_new(e, &kh[s]);
            gc_kv_new(e, &kr[s]);
            for (int i = 0; i < 24; i++) ids[s][i] = (int32_t)((s * 53 + i * 71 + 3) % V);
            a[s] = (gc_seq_step){.kv = kh[s], .n = 20 + s, .ids = ids[s], .hidden = hh + s * D};
            b[s] = (gc_seq_step){.kv = kr[s], .n = 20 + s, .ids = ids[s], .hidden_rows = hid, .hidden_row = 1 + s};
        }
        assert_int_equal(gc_engine_forward(e, a, NSEQ), GC_OK);
        assert_int_equal(gc_engine_forward(e, b, NSEQ), GC_OK);
        double worst = 0;
        long differ = 0;
        for (int k = 0; k < STEPS; k++) {
            assert_int_equal(gc_rows_get(hid, 1, NSEQ, hr), GC_OK);
            worst = fmax(worst, latent_cmp(hr, hh, NSEQ * D, &differ));
            assert_int_equal(gc_realign_apply_rows(ra, e, hh, NSEQ, emb), GC_OK);
            assert_int_equal(gc_realign_rows(ra, hid, 1, NSEQ, in, 1), GC_OK);
            for (int s = 0; s < NSEQ; s++) {
                a[s] = (gc_seq_step){.kv = kh[s], .n = 1, .embeds = emb + s * D, .hidden = hh + s * D, .logits = lh + s * V};
                b[s] = (gc_seq_step){.kv = kr[s], .n = 1, .in_rows = in, .in_row = 1 + s, .hidden_rows = hid,
                                     .hidden_row = 1 + s, .logits = lr + s * V};
            }
            assert_int_equal(gc_engine_forward(e, a, NSEQ), GC_OK);
            assert_int_equal(gc_engine_forward(e, b, NSEQ), GC_OK);
            worst = fmax(worst, latent_cmp(lr, lh, NSEQ * V, &differ));
        }
        assert_int_equal(gc_rows_get(hid, 1, NSEQ, hr), GC_OK);
        worst = fmax(worst, latent_cmp(hr, hh, NSEQ * D, &differ));
        // In place on the device: the same rows as out of place.
        assert_int_equal(gc_realign_rows(ra, hid, 1, NSEQ, in, 1), GC_OK);
        assert_int_equal(gc_realign_rows(ra, hid, 1, NSEQ, hid, 1), GC_OK);
        assert_int_equal(gc_rows_get(in, 1, NSEQ, emb), GC_OK);
        assert_int_equal(gc_rows_get(hid, 1, NSEQ, hr), GC_OK);
        worst = fmax(worst, latent_cmp(hr, emb, NSEQ * D, &differ));
        print_message("%s latent steps, host pointers vs device rows: worst rel err %.2e, %ld values differ%s\n",
                      dirs[f], worst, differ, differ ? "" : " (bit-identical)");
        assert_true(worst <= 1e-6);
        for (int s = 0; s < NSEQ; s++) {
            assert_int_equal(gc_kv_len(kr[s]), 20 + s + STEPS);
            gc_kv_free(kh[s]);
            gc_kv_free(kr[s]);
        }
        gc_rows_free(hid);
        gc_rows_free(in);
        free(hh); free(emb); free(hr); free(lh); free(lr);
        gc_engine_free(e);
        gc_realign_free(ra);
        gc_model_free(m);
    }
}

// The scheduler's LatentMAS on the device (its latent rows never leave the
// device) against the method step by step through host pointers on the same
// engine (test_sched's definition): the same text. On $GC_SMOL_GGUF, else on
// $GC_CUDA_TEST_MODEL when its folder has a tokenizer (random weights: the
// answer runs to max_tokens); skipped without either.
static void test_sched_latent_on_device(void **st) {
    (void)st;
    const char *path = getenv("GC_SMOL_GGUF");
    if (!path || !*path) path = getenv("GC_CUDA_TEST_MODEL");
    if (!have_gpu() || !path || !*path) skip();
    gc_model *m;
    gc_status ls = gc_model_load(path, &m);
    if (ls != GC_OK) fail_msg("%s: %s", path, gc_last_error());
    const gc_tokenizer *tok = gc_model_tokenizer(m);
    if (!tok) {
        print_message("%s has no tokenizer: scheduler test skipped\n", path);
        gc_model_free(m);
        skip();
    }
    const int64_t V = m->cfg.vocab_size, D = m->cfg.hidden_size;
    gc_prompt_set *ps;
    assert_int_equal(gc_prompts_load("math", &ps), GC_OK);
    gc_realign *ra;
    assert_int_equal(gc_realign_new(m, true, 0, &ra), GC_OK);
    gc_engine *e = engine_on(m, GC_DEVICE_CUDA);
    gc_mas_params p = gc_mas_default_params();
    p.method = GC_METHOD_LATENTMAS;
    p.mode = GC_MAS_SEQUENTIAL;
    p.pass = GC_PASS_WHOLE;
    p.latent_steps = 4;
    p.max_tokens = 24;
    p.style = gc_chat_detect(gc_tokenizer_chat_template(tok));
    gc_qgraph g;
    assert_int_equal(gc_mas_build(ps, &p, "Tom has 3 apples and buys 5 more. How many apples does he have?", 1, &g),
                     GC_OK);
    gc_qgraph *gs[] = {&g};
    gc_sched_params sp;
    memset(&sp, 0, sizeof sp);
    sp.sampling = gc_sampler_default_params();   // greedy
    sp.realign = ra;
    assert_int_equal(gc_sched_run(e, tok, gs, 1, &sp), GC_OK);

    gc_kv *kv;
    assert_int_equal(gc_kv_new(e, &kv), GC_OK);
    float *logits = xmalloc(V * 4), *hidden = xmalloc(D * 4), *emb = xmalloc(D * 4);
    for (int i = 0; i < g.n_nodes; i++) {
        const gc_node *nd = &g.nodes[i];
        assert_int_equal(gc_kv_len(kv), nd->cache_in_len);
        int32_t *ids;
        size_t n;
        assert_int_equal(gc_tokenizer_encode(tok, nd->prompt, strlen(nd->prompt), true, &ids, &n), GC_OK);
        gc_seq_step s = {.kv = kv, .n = (int64_t)n, .ids = ids, .logits = logits, .hidden = hidden};
        assert_int_equal(gc_engine_forward(e, &s, 1), GC_OK);
        free(ids);
        for (int k = 0; k < nd->latent_steps; k++) {
            assert_int_equal(gc_realign_apply_rows(ra, e, hidden, 1, emb), GC_OK);
            s = (gc_seq_step){.kv = kv, .n = 1, .embeds = emb, .logits = logits, .hidden = hidden};
            assert_int_equal(gc_engine_forward(e, &s, 1), GC_OK);
        }
        if (i != g.output) continue;
        // Greedy decoding (ties → lowest id, as the device's rule) until a stop token or max_tokens.
        gc_detok *dt = gc_detok_new(tok, true);
        char want[8192] = "";
        const char *piece;
        int out = 0;
        for (;;) {
            int32_t t = 0;
            for (int64_t v = 1; v < V; v++) if (logits[v] > logits[t]) t = (int32_t)v;
            if (gc_gen_is_stop_id(e, tok, t)) break;
            size_t l = gc_detok_push(dt, t, &piece);
            strncat(want, piece, l);
            if (++out >= nd->max_tokens) break;
            s = (gc_seq_step){.kv = kv, .n = 1, .ids = &t, .logits = logits};
            assert_int_equal(gc_engine_forward(e, &s, 1), GC_OK);
        }
        size_t l = gc_detok_flush(dt, &piece);
        strncat(want, piece, l);
        gc_detok_free(dt);
        print_message("LatentMAS on the device (%s), %d nodes: %d answer tokens\n", path, g.n_nodes, out);
        assert_int_equal(nd->out_tokens, out);
        assert_string_equal(nd->text, want);
    }
    gc_kv_free(kv);
    free(logits); free(hidden); free(emb);
    gc_mas_clear(&g);
    gc_engine_free(e);
    gc_realign_free(ra);
    gc_prompts_free(ps);
    gc_model_free(m);
}

int main(void) {
    if (!have_gpu())
        print_message("test_cuda: no CUDA device (a build without nvcc, or no GPU visible): every device test "
                      "is skipped; only the no-device error path is checked\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unavailable_is_an_error),
        cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_skinny),
        cmocka_unit_test(test_skinny_invariant),
        cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_qkv),
        cmocka_unit_test(test_qkv_q8),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_q8),
        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_device_sample),
        cmocka_unit_test(test_trace_conformance),
        cmocka_unit_test(test_greedy_fixtures),
        cmocka_unit_test(test_latent_vs_cpu),
        cmocka_unit_test(test_cache_ops_vs_cpu),
        cmocka_unit_test(test_engine_switches),
        cmocka_unit_test(test_batch_invariant),
        cmocka_unit_test(test_kv_q8_vs_cpu),
        cmocka_unit_test(test_kv_q8_decode_paths),
        cmocka_unit_test(test_kv_wsum_device),
        cmocka_unit_test(test_pool_limit),
        cmocka_unit_test(test_realign),
        cmocka_unit_test(test_batch_invariant_realign),
        cmocka_unit_test(test_engine_draws),
        cmocka_unit_test(test_greedy_random_model),
        cmocka_unit_test(test_greedy_smol),
        cmocka_unit_test(test_latent_rows_on_device),
        cmocka_unit_test(test_sched_latent_on_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
