// The fast quantized matmul (backend/cpu/qgemm.h) against the exact path:
// dequantised weights (gc_dequant_row, itself checked bit-for-bit against
// gguf-py in test_quant.c) times the f32 activations, summed in double.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/qgemm.h"
#include "backend/cpu/qgemv.h"
#include "backend/cpu/qrepack.h"
#include "format/quant.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 1000001) / 1000000.0f; }

// Where a dtype block keeps its f16 scales and its quantized values.
typedef struct layout {
    gc_dtype t;
    int scale_off[2];     // f16 scale fields (-1: none)
    int q_lo, q_hi;       // bytes [q_lo, q_hi) hold the values
} layout;

static const layout k_types[] = {
    {GC_DT_Q8_0, {0, -1}, 2, 34},   {GC_DT_Q4_0, {0, -1}, 2, 18},     {GC_DT_Q4_1, {0, 2}, 4, 20},
    {GC_DT_Q4_K, {0, 2}, 16, 144},  {GC_DT_Q5_K, {0, 2}, 16, 176},    {GC_DT_Q6_K, {208, -1}, 0, 192},
    {GC_DT_Q5_0, {0, -1}, 2, 22},   {GC_DT_Q5_1, {0, 2}, 4, 24},      {GC_DT_Q2_K, {80, 82}, 16, 80},
    {GC_DT_Q3_K, {108, -1}, 0, 96}, {GC_DT_IQ4_NL, {0, -1}, 2, 18},   {GC_DT_IQ4_XS, {0, -1}, 8, 136},
};
enum { N_TYPES = sizeof k_types / sizeof k_types[0] };

static void put_f16(uint8_t *p, float v) {
    uint16_t h = gc_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

// N rows of K random elements: random bytes, with finite scales of either sign.
static uint8_t *random_weight(const layout *L, int64_t N, int64_t K, gc_tensor *W) {
    size_t rb = gc_dtype_row_bytes(L->t, K), bb = gc_dtype_block_bytes(L->t);
    uint8_t *w = malloc(rb * (size_t)N);
    assert_non_null(w);
    for (size_t i = 0; i < rb * (size_t)N; i++) w[i] = (uint8_t)rnd();
    for (size_t b = 0; b < rb * (size_t)N / bb; b++)
        for (int s = 0; s < 2; s++)
            if (L->scale_off[s] >= 0) put_f16(w + b * bb + L->scale_off[s], frand(-0.02f, 0.02f));
    *W = (gc_tensor){.name = "w", .dtype = L->t, .ndim = 2, .shape = {N, K}, .data = w, .nbytes = rb * (size_t)N};
    return w;
}

// Row r dequantised (w) and with its values zeroed (w0: the value a code of
// 0 decodes to: the offset m of the formats with one, -zero·d of the others).
static void decode_row(const layout *L, const gc_tensor *W, int64_t r, float *w, float *w0) {
    int64_t K = W->shape[1];
    size_t rb = W->nbytes / (size_t)W->shape[0], bb = gc_dtype_block_bytes(L->t);
    const uint8_t *src = (const uint8_t *)W->data + (size_t)r * rb;
    gc_dequant_row(L->t, src, w, K);
    uint8_t *z = malloc(rb);
    memcpy(z, src, rb);
    for (size_t b = 0; b < rb / bb; b++) memset(z + b * bb + L->q_lo, 0, (size_t)(L->q_hi - L->q_lo));
    gc_dequant_row(L->t, z, w0, K);
    free(z);
}

// Checks y (T, N) from gc_qgemm against the exact product. Returns the
// largest error as a fraction of its bound.
static double check_product(const layout *L, const gc_tensor *W, const float *x, int64_t T, const float *y,
                            bool exact_acts) {
    const int64_t N = W->shape[0], K = W->shape[1];
    float *w = malloc((size_t)K * sizeof(float)), *w0 = malloc((size_t)K * sizeof(float));
    double worst = 0;
    for (int64_t n = 0; n < N; n++) {
        decode_row(L, W, n, w, w0);
        for (int64_t t = 0; t < T; t++) {
            const float *xt = x + t * K;
            double ref = 0, mag = 0, quant = 0;
            for (int64_t b = 0; b < K / 32; b++) {
                double amax = 0, wsum = 0;
                for (int i = 32 * (int)b; i < 32 * (int)b + 32; i++) {
                    ref += (double)w[i] * xt[i];
                    mag += (fabs((double)w[i]) + fabs((double)w0[i])) * fabs((double)xt[i]);
                    amax = fmax(amax, fabs((double)xt[i]));
                    wsum += fabs((double)w[i]);
                }
                quant += amax / 254.0 * wsum;
            }
            // Rounding activations to a = round(x·127/amax) moves each by at most
            // amax/254, and the kernels apply the weights' offsets to the rounded
            // sums too, so the product moves by Σ w (x̂ - x), at most Σ_b
            // (amax_b/254)·Σ_b |w|. On top, f32 rounding of the per-block scaling
            // and the sums (K/32 + a few roundings of at most Σ|w||x| + Σ|m||x|,
            // m = w0 for the offset formats): 1e-5 relative covers K <= 4096.
            double bound = 1e-5 * mag + (exact_acts ? 0 : quant) + 1e-30;
            double err = fabs((double)y[t * N + n] - ref);
            if (err > bound)
                fail_msg("%s: row %lld token %lld: fast %.9g exact %.9g (err %.3g > bound %.3g)", gc_dtype_name(L->t),
                         (long long)n, (long long)t, (double)y[t * N + n], ref, err, bound);
            worst = fmax(worst, err / bound);
        }
    }
    free(w);
    free(w0);
    return worst;
}

static gc_qgemm_isa g_isas[2];
static int g_n_isas;

static int setup(void **st) {
    (void)st;
    g_isas[0] = GC_QISA_AVX2;
    g_n_isas = 1;
    if (gc_qgemm_best_isa() == GC_QISA_AVX512) g_isas[g_n_isas++] = GC_QISA_AVX512;
    return 0;
}

static const gc_qgemm_path k_paths[] = {GC_QPATH_PANELS, GC_QPATH_DIRECT};

// Activations that int8 represents exactly (a·2^-6 with a in [-127, 127] and
// ±127 in every block): the fast product must equal the exact one up to f32
// rounding, which checks the integer kernels, scales, offsets and the +128
// correction (panels) or the zero points (direct products) on their own.
// Both kinds of kernels, at T = 1, 2 and 5.
static void test_exact_activations(void **st) {
    (void)st;
    const int64_t N = 37, K = 512, T = 5;
    for (int ti = 0; ti < N_TYPES; ti++) {
        gc_tensor W;
        uint8_t *w = random_weight(&k_types[ti], N, K, &W);
        float *x = malloc((size_t)(T * K) * sizeof(float)), *y = malloc((size_t)(T * N) * sizeof(float));
        for (int64_t i = 0; i < T * K; i++) {
            int a = (int)(rnd() % 255) - 127;
            if (i % 32 == (i / 32) % 32) a = rnd() & 1 ? 127 : -127;
            x[i] = ldexpf((float)a, -6);
        }
        for (int k = 0; k < g_n_isas; k++)
            for (int p = 0; p < 2; p++)
                for (int64_t t = 1; t <= T; t += t < 2 ? 1 : T - 2) {
                    assert_int_equal(gc_qgemm_with(NULL, y, x, t, &W, NULL, g_isas[k], k_paths[p]), GC_OK);
                    check_product(&k_types[ti], &W, x, t, y, true);
                }
        free(x);
        free(y);
        free(w);
    }
}

// Random activations: within the int8 rounding bound, and not trivially so
// (the error must use a visible part of it, or the bound proves nothing);
// both kinds of kernels, T = 9 (the direct products take it 4 rows at a time).
static void test_random_activations(void **st) {
    (void)st;
    const int64_t N = 40, K = 768, T = 9;
    for (int ti = 0; ti < N_TYPES; ti++) {
        gc_tensor W;
        uint8_t *w = random_weight(&k_types[ti], N, K, &W);
        float *x = malloc((size_t)(T * K) * sizeof(float)), *y = malloc((size_t)(T * N) * sizeof(float));
        for (int64_t i = 0; i < T * K; i++) x[i] = frand(-1, 1) * (i % 97 == 0 ? 8.0f : 1.0f);
        for (int k = 0; k < g_n_isas; k++)
            for (int p = 0; p < 2; p++) {
                assert_int_equal(gc_qgemm_with(NULL, y, x, T, &W, NULL, g_isas[k], k_paths[p]), GC_OK);
                double worst = check_product(&k_types[ti], &W, x, T, y, false);
                assert_true(worst > 0.01);
            }
        free(x);
        free(y);
        free(w);
    }
}

// Many activation rows at once (token tiles, ragged tails), on 3 threads,
// give bit for bit what each row gives alone on one: every row's sums are
// formed by the same f32 operations in the same order whatever tile or thread
// it lands on, and whether its step took the panels (T > GC_QGEMM_DIRECT_T)
// or the direct products (a row alone, T = 2, 3). Ragged N (a last panel of fewer than 16 rows) and a bias are
// included.
static void test_blocked_equals_rows(void **st) {
    (void)st;
    static const int64_t shapes[][2] = {{16, 256}, {37, 512}, {130, 256}};
    static const int64_t Ts[] = {2, 3, 8, 9, 17, 33};
    gc_pool *pool;
    assert_int_equal(gc_pool_new(3, &pool), GC_OK);
    for (int ti = 0; ti < N_TYPES; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int64_t N = shapes[si][0], K = shapes[si][1], T = 33;
            gc_tensor W;
            uint8_t *w = random_weight(&k_types[ti], N, K, &W);
            float *x = malloc((size_t)(T * K) * sizeof(float)), *bias = malloc((size_t)N * sizeof(float));
            float *all = malloc((size_t)(T * N) * sizeof(float)), *one = malloc((size_t)N * sizeof(float));
            for (int64_t i = 0; i < T * K; i++) x[i] = frand(-2, 2);
            for (int64_t i = 0; i < N; i++) bias[i] = frand(-1, 1);
            for (int k = 0; k < g_n_isas; k++)
                for (size_t j = 0; j < sizeof Ts / sizeof Ts[0]; j++) {
                    int64_t t_n = Ts[j];
                    assert_int_equal(gc_qgemm(pool, all, x, t_n, &W, bias, g_isas[k]), GC_OK);
                    for (int64_t t = 0; t < t_n; t++) {
                        assert_int_equal(gc_qgemm(NULL, one, x + t * K, 1, &W, bias, g_isas[k]), GC_OK);
                        if (memcmp(one, all + t * N, (size_t)N * sizeof(float)) != 0)
                            fail_msg("%s N=%lld K=%lld T=%lld isa %d: row %lld differs from its own GEMV",
                                     gc_dtype_name(k_types[ti].t), (long long)N, (long long)K, (long long)t_n,
                                     (int)g_isas[k], (long long)t);
                    }
                }
            free(x);
            free(bias);
            free(all);
            free(one);
            free(w);
        }
    gc_pool_free(pool);
}

// The AVX2 and AVX-512 kernels agree bit for bit: the integer sums are exact
// in both, and the f32 steps per output (convert, scale by the activation's
// d, multiply-add the weight's d, then the offsets) are the same operations in
// the same order, lane by lane.
static void test_isas_agree(void **st) {
    (void)st;
    if (g_n_isas < 2) skip();
    const int64_t N = 48, K = 1024, T = 13;
    for (int ti = 0; ti < N_TYPES; ti++) {
        gc_tensor W;
        uint8_t *w = random_weight(&k_types[ti], N, K, &W);
        float *x = malloc((size_t)(T * K) * sizeof(float));
        float *a = malloc((size_t)(T * N) * sizeof(float)), *b = malloc((size_t)(T * N) * sizeof(float));
        for (int64_t i = 0; i < T * K; i++) x[i] = frand(-3, 3);
        assert_int_equal(gc_qgemm(NULL, a, x, T, &W, NULL, GC_QISA_AVX2), GC_OK);
        assert_int_equal(gc_qgemm(NULL, b, x, T, &W, NULL, GC_QISA_AVX512), GC_OK);
        assert_memory_equal(a, b, (size_t)(T * N) * sizeof(float));
        free(x);
        free(a);
        free(b);
        free(w);
    }
}

// One case of the loop edges below: a random (N, K) weight of one dtype, T
// activation rows and a bias, on a pool of 3 threads.
typedef struct edge_case {
    const gc_tensor *W;
    const float *x, *bias;
    int64_t N, K, T;
    gc_pool *pool;
} edge_case;

// Runs fn on the loop edges of the kernels, for every dtype of k_types
// (repacked: only those with a repacked layout; returns how many dtypes ran):
// N not a multiple of 16 (or of 8, AVX2's row group; N = 1), an odd count of
// 32-blocks (K = 32, 96, 224: the half step of the AVX-512 kernel), super-block
// types at K = 256 and 768, T = 6 rows of activations.
static int for_edge_cases(bool repacked, void (*fn)(const edge_case *)) {
    static const int64_t Ns[] = {1, 7, 17, 45};
    static const int64_t Ks[] = {32, 96, 224, 256, 768};
    const int64_t T = 6;
    gc_pool *pool;
    assert_int_equal(gc_pool_new(3, &pool), GC_OK);
    int types = 0;
    for (int ti = 0; ti < N_TYPES; ti++) {
        if (repacked && !gc_qweight_supports(k_types[ti].t)) continue;
        types++;
        for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
                const int64_t N = Ns[ni], K = Ks[ki];
                if (K % gc_dtype_block_elems(k_types[ti].t)) continue;
                gc_tensor W;
                uint8_t *w = random_weight(&k_types[ti], N, K, &W);
                float *x = malloc((size_t)(T * K) * sizeof(float)), *bias = malloc((size_t)N * sizeof(float));
                for (int64_t i = 0; i < T * K; i++) x[i] = frand(-2, 2);
                for (int64_t i = 0; i < N; i++) bias[i] = frand(-1, 1);
                fn(&(edge_case){.W = &W, .x = x, .bias = bias, .N = N, .K = K, .T = T, .pool = pool});
                free(x);
                free(bias);
                free(w);
            }
    }
    gc_pool_free(pool);
    return types;
}

// The direct products give the panels' bits (qgemv.h: the same integer sums
// and the same f32 steps per output) on every edge case, T = 1..6 (tiles of
// 4 and a ragged rest), a bias on odd T, 3 threads. Compared across ISAs
// too: AVX2's direct products equal AVX-512's.
static void direct_equals_panels(const edge_case *e) {
    const int64_t N = e->N;
    float *ref = malloc((size_t)(e->T * N) * sizeof(float)), *y = malloc((size_t)(e->T * N) * sizeof(float));
    float *y2 = malloc((size_t)(e->T * N) * sizeof(float));
    for (int64_t t = 1; t <= e->T; t++)
        for (int k = 0; k < g_n_isas; k++) {
            const float *b = t % 2 ? e->bias : NULL;
            assert_int_equal(gc_qgemm_with(NULL, ref, e->x, t, e->W, b, g_isas[k], GC_QPATH_PANELS), GC_OK);
            assert_int_equal(gc_qgemm_with(e->pool, y, e->x, t, e->W, b, g_isas[k], GC_QPATH_DIRECT), GC_OK);
            if (memcmp(ref, y, (size_t)(t * N) * sizeof(float)) != 0)
                fail_msg("%s N=%lld K=%lld T=%lld isa %d: direct products differ from the panels",
                         gc_dtype_name(e->W->dtype), (long long)N, (long long)e->K, (long long)t, (int)g_isas[k]);
            if (k == 1) {
                assert_int_equal(gc_qgemm_with(NULL, y2, e->x, t, e->W, b, GC_QISA_AVX2, GC_QPATH_DIRECT), GC_OK);
                assert_memory_equal(y, y2, (size_t)(t * N) * sizeof(float));
            }
        }
    free(ref);
    free(y);
    free(y2);
}

static void test_direct_equals_panels(void **st) {
    (void)st;
    assert_int_equal(for_edge_cases(false, direct_equals_panels), N_TYPES);
}

// Every byte of the repacked copy where qrepack.h's layout puts it: row r's
// field (fo, fs) of block b of group g at g·16·rb + 16·bb·b +
// qg_field_pos(fo) + r·fs, the padding rows of the last group zero.
static void check_layout(const gc_tensor *W, const gc_qweight *R) {
    const int64_t N = W->shape[0];
    const size_t rb = W->nbytes / (size_t)N, bb = gc_dtype_block_bytes(W->dtype);
    const uint8_t *w = W->data;
    const int16_t *f;
    const int nf = qg_fields(W->dtype, &f);
    unsigned char *seen = calloc(R->nbytes, 1);
    for (int64_t g = 0; g < (N + 15) / 16; g++)
        for (int r = 0; r < 16; r++)
            for (size_t b = 0; b < rb / bb; b++)
                for (int i = 0; i < nf; i++) {
                    const size_t fo = (size_t)f[2 * i], fs = (size_t)f[2 * i + 1];
                    const size_t at = (size_t)g * 16 * rb + 16 * bb * b + qg_field_pos(W->dtype, (int)fo) + (size_t)r * fs;
                    for (size_t k = 0; k < fs; k++) {
                        const int64_t n = 16 * g + r;
                        const uint8_t want = n < N ? w[(size_t)n * rb + b * bb + fo + k] : 0;
                        if (R->data[at + k] != want)
                            fail_msg("%s N=%lld: row %lld block %zu field %zu byte %zu misplaced", gc_dtype_name(W->dtype),
                                     (long long)N, (long long)n, b, fo, k);
                        seen[at + k]++;
                    }
                }
    for (size_t i = 0; i < R->nbytes; i++) assert_int_equal(seen[i], 1);   // every byte placed once
    free(seen);
}

// The repacked layout (qrepack.h) gives the GGUF layout's bits on both kinds
// of kernels on every edge case (N not a multiple of 16: the last group's
// zero rows), T = 1..6 with a bias on odd T, both ISAs, 3 threads; and every
// byte is where the layout says.
static void repacked_equals_gguf(const edge_case *e) {
    const int64_t N = e->N;
    gc_qweight R;
    assert_int_equal(gc_qweight_repack(e->pool, e->W, &R), GC_OK);
    assert_int_equal(R.nbytes, (size_t)((N + 15) / 16) * 16 * (e->W->nbytes / (size_t)N));
    check_layout(e->W, &R);
    float *ref = malloc((size_t)(e->T * N) * sizeof(float)), *y = malloc((size_t)(e->T * N) * sizeof(float));
    for (int64_t t = 1; t <= e->T; t++)
        for (int k = 0; k < g_n_isas; k++)
            for (size_t pi = 0; pi < sizeof k_paths / sizeof k_paths[0]; pi++) {
                const float *b = t % 2 ? e->bias : NULL;
                assert_int_equal(gc_qgemm_with(NULL, ref, e->x, t, e->W, b, g_isas[k], k_paths[pi]), GC_OK);
                assert_int_equal(gc_qgemm_repacked(e->pool, y, e->x, t, &R, b, g_isas[k], k_paths[pi]), GC_OK);
                if (memcmp(ref, y, (size_t)(t * N) * sizeof(float)) != 0)
                    fail_msg("%s N=%lld K=%lld T=%lld isa %d path %d: repacked differs", gc_dtype_name(e->W->dtype),
                             (long long)N, (long long)e->K, (long long)t, (int)g_isas[k], (int)k_paths[pi]);
            }
    gc_qweight_free(&R);
    assert_null(R.data);
    free(ref);
    free(y);
}

static void test_repacked_equals_gguf(void **st) {
    (void)st;
    assert_int_equal(for_edge_cases(true, repacked_equals_gguf), 8);   // every dtype of the direct products
}

// Each repacked dtype's fields tile its block exactly, and qg_field_pos (the
// kernels' spelt-out offsets) is 16 × the sizes of the fields listed before.
static void test_repack_fields(void **st) {
    (void)st;
    for (int t = 0; t < GC_DT_COUNT; t++) {
        const int16_t *f;
        const int n = qg_fields((gc_dtype)t, &f);
        assert_int_equal(n > 0, qg_gemv_supports((gc_dtype)t));
        if (!n) continue;
        const size_t bb = gc_dtype_block_bytes((gc_dtype)t);
        unsigned char cover[256] = {0};
        size_t pos = 0;
        for (int i = 0; i < n; i++) {
            for (int b = f[2 * i]; b < f[2 * i] + f[2 * i + 1]; b++) {
                assert_true((size_t)b < bb);
                cover[b]++;
            }
            if (qg_field_pos((gc_dtype)t, f[2 * i]) != pos)
                fail_msg("%s: field at %d placed at %zu, listed at %zu", gc_dtype_name((gc_dtype)t), f[2 * i],
                         qg_field_pos((gc_dtype)t, f[2 * i]), pos);
            pos += 16 * (size_t)f[2 * i + 1];
        }
        assert_int_equal(pos, 16 * bb);
        for (size_t b = 0; b < bb; b++) assert_int_equal(cover[b], 1);
    }
    float w[64] = {0};
    gc_tensor W = {.name = "f32w", .dtype = GC_DT_F32, .ndim = 2, .shape = {2, 32}, .data = w, .nbytes = sizeof w};
    gc_qweight R;
    assert_int_equal(gc_qweight_repack(NULL, &W, &R), GC_ERR_UNSUPPORTED);
    assert_null(R.data);
}

static void test_unsupported(void **st) {
    (void)st;
    float w[64] = {0}, x[64] = {0}, y[2];
    gc_tensor W = {.name = "f32w", .dtype = GC_DT_F32, .ndim = 2, .shape = {2, 32}, .data = w, .nbytes = sizeof w};
    assert_false(gc_qgemm_supports(GC_DT_F32));
    assert_false(gc_qgemm_supports(GC_DT_BF16));
    assert_true(gc_qgemm_supports(GC_DT_Q4_K));
    assert_int_equal(gc_qgemm(NULL, y, x, 1, &W, NULL, GC_QISA_AUTO), GC_ERR_UNSUPPORTED);
}

// The direct products keep their own inline table of block sizes (so the
// kernels' switch folds to a constant); it must agree with the format's.
static void test_direct_block_sizes(void **st) {
    (void)st;
    int direct = 0;
    for (int t = 0; t < GC_DT_COUNT; t++) {
        if (!qg_gemv_supports((gc_dtype)t)) continue;
        direct++;
        assert_int_equal((size_t)qg_gemv_block_bytes((gc_dtype)t), gc_dtype_block_bytes((gc_dtype)t));
    }
    assert_int_equal(direct, 8);   // Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_activations), cmocka_unit_test(test_random_activations),
        cmocka_unit_test(test_blocked_equals_rows), cmocka_unit_test(test_isas_agree),
        cmocka_unit_test(test_direct_equals_panels), cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_direct_block_sizes), cmocka_unit_test(test_repacked_equals_gguf),
        cmocka_unit_test(test_repack_fields),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
