#include "backend/cpu/ops.h"
#include "format/quant.h"
#include "core/error.h"
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

// Register block: 4 weight rows × 2 tokens → 8 accumulators, so every loaded
// vector feeds more than one FMA (the plain dot feeds one per two loads).
static void block_4x2(float *y, int64_t N, const float *x0, const float *x1, int64_t t, const float *w, int64_t K,
                      int64_t n, const float *bias) {
    __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
    __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps(), a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
    const float *w0 = w, *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K;
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 u = _mm256_loadu_ps(x0 + k), v = _mm256_loadu_ps(x1 + k), r;
        r = _mm256_loadu_ps(w0 + k); a00 = _mm256_fmadd_ps(r, u, a00); a01 = _mm256_fmadd_ps(r, v, a01);
        r = _mm256_loadu_ps(w1 + k); a10 = _mm256_fmadd_ps(r, u, a10); a11 = _mm256_fmadd_ps(r, v, a11);
        r = _mm256_loadu_ps(w2 + k); a20 = _mm256_fmadd_ps(r, u, a20); a21 = _mm256_fmadd_ps(r, v, a21);
        r = _mm256_loadu_ps(w3 + k); a30 = _mm256_fmadd_ps(r, u, a30); a31 = _mm256_fmadd_ps(r, v, a31);
    }
    float s[4][2] = {{hsum256(a00), hsum256(a01)}, {hsum256(a10), hsum256(a11)},
                     {hsum256(a20), hsum256(a21)}, {hsum256(a30), hsum256(a31)}};
    for (; k < K; k++)
        for (int r = 0; r < 4; r++) { s[r][0] += w[r * K + k] * x0[k]; s[r][1] += w[r * K + k] * x1[k]; }
    for (int r = 0; r < 4; r++) {
        float b = bias ? bias[n + r] : 0.0f;
        y[t * N + n + r] = s[r][0] + b;
        y[(t + 1) * N + n + r] = s[r][1] + b;
    }
}

// One token against 4 weight rows with exactly the arithmetic of one column
// of block_4x2 (an 8-lane FMA chain per row over k, its horizontal sum, the
// scalar tail, the bias), so a token's product does not depend on whether it
// was paired with a neighbour: results are the same at any batch size.
static void block_4x1(float *y, const float *x0, const float *w, int64_t K, int64_t n, int rows, const float *bias) {
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 u = _mm256_loadu_ps(x0 + k);
        for (int r = 0; r < rows; r++) a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(w + r * K + k), u, a[r]);
    }
    for (int r = 0; r < rows; r++) {
        float s = hsum256(a[r]);
        for (int64_t j = k; j < K; j++) s += w[r * K + j] * x0[j];
        y[n + r] = s + (bias ? bias[n + r] : 0.0f);
    }
}

typedef struct matmul_job {
    float *y;
    const float *x;
    int64_t T, N, K;
    const gc_tensor *W;
    const float *bias;
    size_t row_bytes;
    float *buf;          // (threads, 4K) dequantised rows; NULL for f32 weights
} matmul_job;

// Blocks [nb0, nb1) of 4 weight rows, against every token.
static void matmul_blocks(void *ctx, int64_t nb0, int64_t nb1, int tid) {
    const matmul_job *j = ctx;
    const int64_t N = j->N, K = j->K, T = j->T;
    const uint8_t *base = j->W->data;
    float *buf = j->buf ? j->buf + (size_t)tid * (size_t)(4 * K) : NULL;
    for (int64_t nb = nb0; nb < nb1; nb++) {
        const int64_t n = nb * 4, rows = N - n < 4 ? N - n : 4;
        const float *w;
        if (!buf) {
            w = (const float *)(base + (size_t)n * j->row_bytes);
        } else {
            for (int64_t r = 0; r < rows; r++)
                gc_dequant_row(j->W->dtype, base + (size_t)(n + r) * j->row_bytes, buf + r * K, K);
            w = buf;
        }
        const float *x = j->x, *bias = j->bias;
        float *y = j->y;
        int64_t t = 0;
        if (rows == 4)
            for (; t + 2 <= T; t += 2) block_4x2(y, N, x + t * K, x + (t + 1) * K, t, w, K, n, bias);
        for (; t < T; t++) block_4x1(y + t * N, x + t * K, w, K, n, (int)rows, bias);
    }
}

gc_status gc_cpu_matmul(gc_pool *pool, float *y, const float *x, int64_t T, const gc_tensor *W, const float *bias) {
    matmul_job j = {.y = y, .x = x, .T = T, .N = W->shape[0], .K = W->shape[1], .W = W, .bias = bias,
                    .row_bytes = W->nbytes / (size_t)W->shape[0]};
    if (W->dtype != GC_DT_F32) {
        size_t per = (size_t)(4 * j.K) * sizeof(float);
        j.buf = aligned_alloc(64, ((size_t)gc_pool_size(pool) * per + 63) & ~(size_t)63);
        if (!j.buf) return gc_fail(GC_ERR_OOM, "out of memory for a matmul with rows of %lld", (long long)j.K);
    }
    gc_pool_for(pool, (j.N + 3) / 4, 1, matmul_blocks, &j);
    free(j.buf);
    return GC_OK;
}

typedef struct rmsnorm_job {
    float *out;
    const float *x, *w;
    int64_t D;
    double eps;
} rmsnorm_job;

static void rmsnorm_rows(void *ctx, int64_t t0, int64_t t1, int tid) {
    const rmsnorm_job *j = ctx;
    const int64_t D = j->D;
    for (int64_t t = t0; t < t1; t++) {
        const float *xr = j->x + t * D;
        float *o = j->out + t * D;
        double ss = 0;
        for (int64_t i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float r = (float)(1.0 / sqrt(ss / (double)D + j->eps));
        for (int64_t i = 0; i < D; i++) o[i] = xr[i] * r * j->w[i];
    }
}

// Work below this many floats runs on the caller: waking threads costs more.
enum { PAR_MIN_FLOATS = 32768 };

void gc_cpu_rmsnorm(gc_pool *pool, float *out, const float *x, const float *w, int64_t T, int64_t D, double eps) {
    rmsnorm_job j = {out, x, w, D, eps};
    gc_pool_for(T * D > PAR_MIN_FLOATS ? pool : NULL, T, PAR_MIN_FLOATS / 2 / (D > 0 ? D : 1), rmsnorm_rows, &j);
}

typedef struct swiglu_job {
    float *out;
    const float *gate, *up;
} swiglu_job;

static void swiglu_range(void *ctx, int64_t i0, int64_t i1, int tid) {
    const swiglu_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) {
        float g = j->gate[i];
        j->out[i] = g / (1.0f + expf(-g)) * j->up[i];
    }
}

void gc_cpu_swiglu(gc_pool *pool, float *out, const float *gate, const float *up, int64_t n) {
    swiglu_job j = {out, gate, up};
    gc_pool_for(n > 2 * PAR_MIN_FLOATS ? pool : NULL, n, PAR_MIN_FLOATS / 2, swiglu_range, &j);
}

void gc_cpu_add(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

void gc_cpu_rope_head(float *x, const float *cos_t, const float *sin_t, int64_t hd, bool neox) {
    const int64_t half = hd / 2;
    if (neox) {
        for (int64_t i = 0; i < half; i++) {
            float a = x[i], b = x[i + half];
            x[i] = a * cos_t[i] - b * sin_t[i];
            x[i + half] = b * cos_t[i] + a * sin_t[i];
        }
    } else {
        for (int64_t i = 0; i < half; i++) {
            float a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * cos_t[i] - b * sin_t[i];
            x[2 * i + 1] = b * cos_t[i] + a * sin_t[i];
        }
    }
}
