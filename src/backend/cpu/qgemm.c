// Driver of the fast matmul: quantizes the activations once per call, then
// either (T ≤ GC_QGEMM_DIRECT_T, or GC_QGEMM_DIRECT_T_REPACKED on repacked
// weights: decode steps) the pool's threads take runs of 16
// weight rows and dot each weight block straight from its stored form
// (qgemv_avx2.c / qgemv_avx512.c), or they take runs of 16-row weight
// panels, unpack each panel once (qgemm_pack.c) and run it against every
// activation row in tiles (qgemm_avx2.c / qgemm_avx512.c). Both give the
// same bits (qgemv.h), so the choice never changes a result.
//
// Error: with activations rounded to a = round(x/d), d = amax/127 per block
// of 32, each element moves by at most d/2 = amax/254, so a row's result
// differs from the exact Σ w·x by at most Σ_blocks (amax_b/254)·Σ_b |w| plus
// f32 rounding. Weight values themselves are exact (qgemm_pack.c).
#include "backend/cpu/qgemm.h"
#include "backend/cpu/qgemm_panel.h"
#include "backend/cpu/qgemv.h"
#include "backend/cpu/qrepack.h"
#include "core/error.h"
#include "format/quant.h"
#include <immintrin.h>
#include <stdlib.h>

bool gc_qgemm_supports(gc_dtype t) {
    qg_fmt f;
    return qg_fmt_of(t, &f);
}

gc_qgemm_isa gc_qgemm_best_isa(void) {
    static int best = 0;   // 0: not known yet; every thread that finds 0 computes the same value
    int b = __atomic_load_n(&best, __ATOMIC_RELAXED);
    if (!b) {
        __builtin_cpu_init();
        bool v512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
                    __builtin_cpu_supports("avx512dq");
        b = v512 ? GC_QISA_AVX512 : GC_QISA_AVX2;
        __atomic_store_n(&best, b, __ATOMIC_RELAXED);
    }
    return (gc_qgemm_isa)b;
}

// The direct products' next-row prefetch (qgemv.h) on rows over
// QG_WHOLE_ROW bytes: whole rows on AMD, where the first QG_HEAD bytes leave
// the rest of each row to the in-row prefetch and it falls behind (an AMD
// EPYC with AVX-512, one thread: Q4_K rows of 2.7 KB 9.3 → 12.4 GB/s, Q6_K
// 4 KB 8.2 → 13.0; bench/RESULTS.md), the first QG_HEAD bytes elsewhere (on
// the Intel Xeon that RESULTS measured, whole long rows were 10-20 % slower).
bool qg_ahead_whole_rows(void) {
    static int whole = 0;   // 0: not known yet; 1: no; 2: yes (every thread finds the same)
    int w = __atomic_load_n(&whole, __ATOMIC_RELAXED);
    if (!w) {
        __builtin_cpu_init();
        w = __builtin_cpu_is("amd") ? 2 : 1;
        __atomic_store_n(&whole, w, __ATOMIC_RELAXED);
    }
    return w == 2;
}

static int32_t hsum8i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

// One activation row of K floats → K/32 blocks of int8 a with scales d; q
// holds a + 128 for the panels (sum16 NULL) or a itself for the direct
// products (which take Σa per 16 elements in sum16). s (non-NULL): d·Σa per
// group of 32/ng. The offset term m·Σx of weights d·q + m uses the rounded
// sum on purpose: then the error of the whole product is Σ (d·q + m)(x̂ - x)
// = Σ w (x̂ - x), while the exact Σx would leave Σ d·q (x̂ - x), larger
// wherever m is far from zero (Q4_1's m ≈ -8d doubles it).
static void quant_row(const float *x, int64_t K, uint8_t *q, float *d, float *s, int ng, int32_t *sum16) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7), flip = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < K / QG_BLK; b++) {
        const float *xb = x + b * QG_BLK;
        __m256 v[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(xb + 8 * i);
        __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                                  _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        d[b] = amax / 127.0f;
        __m256 id = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[0], id)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[1], id));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v[2], id)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v[3], id));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, order);
        if (!sum16) p = _mm256_xor_si256(p, flip);
        _mm256_storeu_si256((__m256i *)(q + b * QG_BLK), p);
        if (s || sum16) {   // exact integer sums, one rounding each for s
            int32_t s0 = hsum8i(_mm256_add_epi32(i0, i1)), s1 = hsum8i(_mm256_add_epi32(i2, i3));
            if (sum16) {
                sum16[2 * b] = s0;
                sum16[2 * b + 1] = s1;
            }
            if (s && ng == 1) {
                s[b] = d[b] * (float)(s0 + s1);
            } else if (s) {
                s[2 * b] = d[b] * (float)s0;
                s[2 * b + 1] = d[b] * (float)s1;
            }
        }
    }
}

typedef struct job {
    gc_dtype dt;
    qg_fmt f;
    qg_act a;             // panels: activations as a + 128
    qg_vact va;           // direct products: a itself, with Σa per 16
    const float *x;
    float *y;
    const float *bias;
    const uint8_t *w;
    bool il;              // w in the repacked layout (qrepack.h)
    size_t row_bytes;
    int64_t T, N, K;
    bool direct;
    qg_kernel_fn kern;
    void (*pack)(gc_dtype, bool, const uint8_t *, size_t, int, int64_t, uint8_t *, void *);
    void (*gemv)(gc_dtype, bool, const uint8_t *, size_t, int, const qg_vact *, int, float *, int64_t, const float *, int);
    int tile;
    uint8_t *q;
    float *d, *s;
    int32_t *sum16;
    uint8_t *work;        // panels, per thread: a panel, then the packer's scratch
    size_t panel_bytes, work_bytes;
} job;

static void quant_part(void *ctx, int64_t r0, int64_t r1, int tid) {
    job *j = ctx;
    (void)tid;
    int64_t nb = j->K / QG_BLK;
    for (int64_t t = r0; t < r1; t++)
        quant_row(j->x + t * j->K, j->K, j->q + t * j->K, j->d + t * nb, j->s ? j->s + t * nb * j->f.ng : NULL, j->f.ng,
                  j->sum16 ? j->sum16 + t * (j->K / 16) : NULL);
}

// Panels [p0, p1): each unpacked once, then run against all T rows.
static void gemm_part(void *ctx, int64_t p0, int64_t p1, int tid) {
    job *j = ctx;
    uint8_t *panel = j->work + (size_t)tid * j->work_bytes, *scratch = panel + j->panel_bytes;
    for (int64_t p = p0; p < p1; p++) {
        int64_t n0 = p * QG_ROWS;
        int rows = (int)(j->N - n0 < QG_ROWS ? j->N - n0 : QG_ROWS);
        j->pack(j->dt, j->il, j->w + (size_t)n0 * j->row_bytes, j->row_bytes, rows, j->K, panel, scratch);
        for (int64_t t0 = 0; t0 < j->T; t0 += j->tile) {
            int C = (int)(j->T - t0 < j->tile ? j->T - t0 : j->tile);
            j->kern(panel, &j->f, &j->a, t0, C, j->y + t0 * j->N + n0, j->N, j->bias ? j->bias + n0 : NULL, rows);
        }
    }
}

// Row groups [g0, g1) of 16 weight rows, straight from the weights, against
// the activation rows QG_GEMV_MAX_C at a time.
static void gemv_part(void *ctx, int64_t g0, int64_t g1, int tid) {
    job *j = ctx;
    (void)tid;
    const int64_t nb = j->K / QG_BLK;
    for (int64_t g = g0; g < g1; g++) {
        int64_t n0 = g * QG_ROWS;
        int rows = (int)(j->N - n0 < QG_ROWS ? j->N - n0 : QG_ROWS);
        // This chunk's next rows, started by the last call on these (qg_ahead).
        const int64_t nn = g + 1 < g1 ? j->N - n0 - rows : 0;
        for (int64_t t0 = 0; t0 < j->T; t0 += QG_GEMV_MAX_C) {
            int C = (int)(j->T - t0 < QG_GEMV_MAX_C ? j->T - t0 : QG_GEMV_MAX_C);
            const int ahead = t0 + C < j->T ? 0 : (int)(nn < QG_ROWS ? nn : QG_ROWS);
            qg_vact va = j->va;
            va.q += t0 * j->K;
            va.d += t0 * nb;
            if (va.s) va.s += t0 * nb * j->f.ng;
            va.sum16 += t0 * (j->K / 16);
            j->gemv(j->dt, j->il, j->w + (size_t)n0 * j->row_bytes, j->row_bytes, rows, &va, C, j->y + t0 * j->N + n0, j->N,
                    j->bias ? j->bias + n0 : NULL, ahead);
        }
    }
}

gc_status gc_qgemm(gc_pool *pool, float *y, const float *x, int64_t T, const gc_tensor *W, const float *bias, gc_qgemm_isa isa) {
    return gc_qgemm_with(pool, y, x, T, W, bias, isa, GC_QPATH_AUTO);
}

// W's data in the GGUF layout (il false) or repacked (il true, at w).
static gc_status qgemm_run(gc_pool *pool, float *y, const float *x, int64_t T, const gc_tensor *W, const uint8_t *w,
                           bool il, const float *bias, gc_qgemm_isa isa, gc_qgemm_path path) {
    job j = {.dt = W->dtype, .x = x, .y = y, .bias = bias, .w = w, .il = il, .T = T, .N = W->shape[0], .K = W->shape[1]};
    if (!qg_fmt_of(j.dt, &j.f))
        return gc_fail(GC_ERR_UNSUPPORTED, "fast matmul: tensor '%s' of type %s", W->name ? W->name : "?", gc_dtype_name(j.dt));
    if (T <= 0) return GC_OK;
    j.row_bytes = W->nbytes / (size_t)j.N;
    if (isa == GC_QISA_AUTO || gc_qgemm_best_isa() == GC_QISA_AVX2) isa = gc_qgemm_best_isa();
    j.direct = qg_gemv_supports(j.dt) && (path == GC_QPATH_DIRECT || (path == GC_QPATH_AUTO && T <= (il ? GC_QGEMM_DIRECT_T_REPACKED : GC_QGEMM_DIRECT_T)));
    j.kern = isa == GC_QISA_AVX512 ? qg_kernel_avx512 : qg_kernel_avx2;
    j.pack = isa == GC_QISA_AVX512 ? qg_pack_avx512 : qg_pack;
    j.gemv = isa == GC_QISA_AVX512 ? qg_gemv_avx512 : qg_gemv_avx2;
    j.tile = isa == GC_QISA_AVX512 ? QG_TILE_AVX512 : QG_TILE_AVX2;
    const int64_t nb = j.K / QG_BLK;
    const int nth = gc_pool_size(pool);
    j.q = malloc((size_t)(T * j.K));
    j.d = malloc((size_t)(T * nb) * sizeof(float));
    j.s = j.f.min ? malloc((size_t)(T * nb * j.f.ng) * sizeof(float)) : NULL;
    if (j.direct) {
        j.sum16 = malloc((size_t)(T * (j.K / 16)) * sizeof(int32_t));
    } else {
        j.panel_bytes = (size_t)nb * qg_block_bytes(&j.f);
        j.work_bytes = j.panel_bytes + ((qg_pack_scratch_bytes(j.K) + 63) & ~(size_t)63);
        j.work = aligned_alloc(64, (size_t)nth * j.work_bytes);
    }
    if (!j.q || !j.d || (j.f.min && !j.s) || (j.direct ? !j.sum16 : !j.work)) {
        free(j.q); free(j.d); free(j.s); free(j.sum16); free(j.work);
        return gc_fail(GC_ERR_OOM, "out of memory for a matmul of %lld rows", (long long)T);
    }
    j.a = (qg_act){.q = j.q, .d = j.d, .s = j.s, .K = j.K, .nb = nb};
    j.va = (qg_vact){.q = (const int8_t *)j.q, .d = j.d, .s = j.s, .sum16 = j.sum16, .K = j.K, .nb = nb};
    // Quantizing is cheap next to the products: split it only when there is
    // enough of it to pay for waking the threads.
    gc_pool_for(pool, T, (1 << 16) / j.K + 1, quant_part, &j);
    gc_pool_for(pool, (j.N + QG_ROWS - 1) / QG_ROWS, 1, j.direct ? gemv_part : gemm_part, &j);
    free(j.q);
    free(j.d);
    free(j.s);
    free(j.sum16);
    free(j.work);
    return GC_OK;
}

gc_status gc_qgemm_with(gc_pool *pool, float *y, const float *x, int64_t T, const gc_tensor *W, const float *bias,
                        gc_qgemm_isa isa, gc_qgemm_path path) {
    return qgemm_run(pool, y, x, T, W, W->data, false, bias, isa, path);
}

typedef struct repack_job {
    const gc_tensor *W;
    size_t rb;
    uint8_t *dst;
} repack_job;

static void repack_part(void *ctx, int64_t g0, int64_t g1, int tid) {
    const repack_job *r = ctx;
    (void)tid;
    qg_repack_groups(r->W->dtype, r->W->data, r->W->shape[0], r->rb, g0, g1, r->dst);
}

bool gc_qweight_supports(gc_dtype t) {
    const int16_t *f;
    return qg_gemv_supports(t) && qg_fields(t, &f) > 0;
}

gc_status gc_qweight_repack(gc_pool *pool, const gc_tensor *W, gc_qweight *out) {
    *out = (gc_qweight){0};
    if (W->ndim != 2 || !gc_qweight_supports(W->dtype))
        return gc_fail(GC_ERR_UNSUPPORTED, "repacking: tensor '%s' of type %s", W->name ? W->name : "?", gc_dtype_name(W->dtype));
    const int64_t N = W->shape[0];
    const size_t rb = W->nbytes / (size_t)N, bytes = qg_repacked_bytes(N, rb);
    uint8_t *d = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!d)
        return gc_fail(GC_ERR_OOM,
                       "out of memory repacking tensor '%s' (%zu bytes); gc_engine_params.cpu.gguf_layout "
                       "(--cpu-gguf-layout) multiplies the weights in place, without the copy",
                       W->name ? W->name : "?", bytes);
    repack_job r = {W, rb, d};
    gc_pool_for(pool, (N + 15) / 16, 64, repack_part, &r);
    *out = (gc_qweight){.src = W, .data = d, .nbytes = bytes};
    return GC_OK;
}

void gc_qweight_free(gc_qweight *q) {
    if (!q) return;
    free(q->data);
    *q = (gc_qweight){0};
}

gc_status gc_qgemm_repacked(gc_pool *pool, float *y, const float *x, int64_t T, const gc_qweight *W, const float *bias,
                            gc_qgemm_isa isa, gc_qgemm_path path) {
    return qgemm_run(pool, y, x, T, W->src, W->data, true, bias, isa, path);
}
