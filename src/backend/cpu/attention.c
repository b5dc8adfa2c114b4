// Causal attention on the CPU (AVX2+FMA): n_q query rows of the heads of one
// GQA group over a KV cache given as segments (backend/cpu/ops.h).
//
// Every query vector (a row's head) gets the same bits whatever the call
// around it (how many rows and heads, where it sits among them): chunked
// prefill, batching and decode rely on it. The work is shared between vectors
// only through loads — a block of QB vectors (the heads of a GQA group, then
// the next rows) reads each K/V row once —, never through arithmetic. For one
// vector the operations are, in this order:
//   score_p  = hsum(Σ_c q[c]·k_p[c]) · (scale · k_scale): one 8-lane FMA chain
//              over the hd/8 chunks c, then the fixed tree hsum8 reduces it
//              (q8 rows: k_p's int8 widened exactly, and the factor
//              (kd_p · (scale · k_scale)) with the row's stored scale kd_p);
//   e_p      = exp(score_p − max): the polynomial exp8 on lanes of 8
//              consecutive positions counted from position 0 (masked after the
//              last visible one); the sum Σ e_p goes into 8 double lanes, one
//              per position mod 8, added up in a fixed order at the end;
//   w_p      = e_p · (v_scale · (float)(1 / sum))  (q8 rows: then · vd_p);
//   out[d]   = FMA chain over the visible positions p in order:
//              acc = fma(w_p, v_p[d], acc) from +0 (hidden segments skipped;
//              q8 rows: v_p's int8 widened exactly).
// Scores and weights live in scratch: QB rows of round8(ctx_first_q + n_q) floats.
#include "backend/cpu/ops.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

// Query vectors per block: 4 vectors × 2 keys = 8 score accumulators, and
// 4 vectors × 16 dims = 8 output accumulators, both within the 16 ymm registers.
#define QB 4

static int64_t row_floats(int64_t n_ctx) { return (n_ctx + 7) & ~(int64_t)7; }

int64_t gc_cpu_attention_scratch(int64_t n_ctx) { return QB * row_floats(n_ctx); }

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// A cached run's rows are f32 or, in a q8 run, int8 (backend/cpu/ops.h); the
// kernels below take q8 as a constant, so each is compiled once per format.
// 8 elements of a row from element c, int8 widened exactly to f32.
ALWAYS_INLINE __m256 load8(const void *row, int64_t c, bool q8) {
    if (q8) return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((const int8_t *)row + c))));
    return _mm256_loadu_ps((const float *)row + c);
}

// Row j of a run whose rows are stride elements apart.
ALWAYS_INLINE const void *row_at(const void *base, int64_t j, int64_t stride, bool q8) {
    return q8 ? (const void *)((const int8_t *)base + j * stride) : (const void *)((const float *)base + j * stride);
}

// Lane i of the result is the sum of the 8 lanes of a_i, always by the tree
// ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)), whichever argument a_i is.
static inline __m256 hsum8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6,
                           __m256 a7) {
    __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
    __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
    __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);   // lanes: a0..a3 lo4 | a0..a3 hi4, same for a4..a7
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// exp(x) on 8 lanes for x ≤ 0 (−inf included), the Cephes expf scheme:
// x = n·ln2 + r, |r| ≤ ln2/2 (ln2 in two parts, FMA), e^r by a degree-7
// polynomial, times 2^n through the exponent bits. Error ≤ 1.26 ulp over
// [−86.6, 0] (measured against double exp on 1.3e9 floats there). Results
// below 2^-125 (x < −86.6) are flushed to 0: beside the softmax's largest
// term, exp(0) = 1, they are far below f32 resolution.
static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-86.6f);
    __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);   // false for −inf and tiny x; NaN is kept below
    __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    __m256 xc = _mm256_max_ps(x, lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_and_ps(y, keep);
    return _mm256_blendv_ps(y, x, nan);
}

// Dots of 4 query vectors with keys k0, k1 (rows of hd elements): lanes
// (q0k0, q0k1, q1k0, q1k1, q2k0, q2k1, q3k0, q3k1).
ALWAYS_INLINE __m256 dots_4x2(const float *q0, const float *q1, const float *q2, const float *q3, const void *k0,
                              const void *k1, int64_t hd, bool q8) {
    __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
    __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps(), a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
    for (int64_t c = 0; c < hd; c += 8) {
        __m256 u = load8(k0, c, q8), v = load8(k1, c, q8), x;
        x = _mm256_loadu_ps(q0 + c); a00 = _mm256_fmadd_ps(x, u, a00); a01 = _mm256_fmadd_ps(x, v, a01);
        x = _mm256_loadu_ps(q1 + c); a10 = _mm256_fmadd_ps(x, u, a10); a11 = _mm256_fmadd_ps(x, v, a11);
        x = _mm256_loadu_ps(q2 + c); a20 = _mm256_fmadd_ps(x, u, a20); a21 = _mm256_fmadd_ps(x, v, a21);
        x = _mm256_loadu_ps(q3 + c); a30 = _mm256_fmadd_ps(x, u, a30); a31 = _mm256_fmadd_ps(x, v, a31);
    }
    return hsum8(a00, a01, a10, a11, a20, a21, a30, a31);
}

// Dots of one query vector with the 8 keys k[0..7]: lane j = q·k_j.
ALWAYS_INLINE __m256 dots_1x8(const float *q, const void *const k[8], int64_t hd, bool q8) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 a4 = _mm256_setzero_ps(), a5 = _mm256_setzero_ps(), a6 = _mm256_setzero_ps(), a7 = _mm256_setzero_ps();
    for (int64_t c = 0; c < hd; c += 8) {
        __m256 x = _mm256_loadu_ps(q + c);
        a0 = _mm256_fmadd_ps(x, load8(k[0], c, q8), a0);
        a1 = _mm256_fmadd_ps(x, load8(k[1], c, q8), a1);
        a2 = _mm256_fmadd_ps(x, load8(k[2], c, q8), a2);
        a3 = _mm256_fmadd_ps(x, load8(k[3], c, q8), a3);
        a4 = _mm256_fmadd_ps(x, load8(k[4], c, q8), a4);
        a5 = _mm256_fmadd_ps(x, load8(k[5], c, q8), a5);
        a6 = _mm256_fmadd_ps(x, load8(k[6], c, q8), a6);
        a7 = _mm256_fmadd_ps(x, load8(k[7], c, q8), a7);
    }
    return hsum8(a0, a1, a2, a3, a4, a5, a6, a7);
}

// acc (4 rows × 16 dims: acc[2r], acc[2r+1]) += w_r[j] · v_j[0..15] for
// j < n in order, v_j = v + j·stride.
ALWAYS_INLINE void vacc_4x16(__m256 acc[8], const float *w0, const float *w1, const float *w2, const float *w3,
                             const void *v, int64_t stride, int64_t n, bool q8) {
    __m256 a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    __m256 a20 = acc[4], a21 = acc[5], a30 = acc[6], a31 = acc[7];
    for (int64_t j = 0; j < n; j++) {
        const void *vj = row_at(v, j, stride, q8);
        __m256 u = load8(vj, 0, q8), t = load8(vj, 8, q8), b;
        b = _mm256_broadcast_ss(w0 + j); a00 = _mm256_fmadd_ps(b, u, a00); a01 = _mm256_fmadd_ps(b, t, a01);
        b = _mm256_broadcast_ss(w1 + j); a10 = _mm256_fmadd_ps(b, u, a10); a11 = _mm256_fmadd_ps(b, t, a11);
        b = _mm256_broadcast_ss(w2 + j); a20 = _mm256_fmadd_ps(b, u, a20); a21 = _mm256_fmadd_ps(b, t, a21);
        b = _mm256_broadcast_ss(w3 + j); a30 = _mm256_fmadd_ps(b, u, a30); a31 = _mm256_fmadd_ps(b, t, a31);
    }
    acc[0] = a00; acc[1] = a01; acc[2] = a10; acc[3] = a11;
    acc[4] = a20; acc[5] = a21; acc[6] = a30; acc[7] = a31;
}

// acc (one row × 16 dims) += w[j] · v_j[0..15], j < n in order.
ALWAYS_INLINE void vacc_1x16(__m256 acc[2], const float *w, const void *v, int64_t stride, int64_t n, bool q8) {
    __m256 a0 = acc[0], a1 = acc[1];
    for (int64_t j = 0; j < n; j++) {
        const void *vj = row_at(v, j, stride, q8);
        __m256 b = _mm256_broadcast_ss(w + j);
        a0 = _mm256_fmadd_ps(b, load8(vj, 0, q8), a0);
        a1 = _mm256_fmadd_ps(b, load8(vj, 8, q8), a1);
    }
    acc[0] = a0; acc[1] = a1;
}

// acc (one row × 64 dims) += w[j] · v_j[0..63], j < n in order (a single
// row gets 8 FMA chains this way instead of 2).
ALWAYS_INLINE void vacc_1x64(__m256 acc[8], const float *w, const void *v, int64_t stride, int64_t n, bool q8) {
    __m256 a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
    for (int64_t j = 0; j < n; j++) {
        const void *v0 = row_at(v, j, stride, q8);
        __m256 b = _mm256_broadcast_ss(w + j);
        a0 = _mm256_fmadd_ps(b, load8(v0, 0, q8), a0);
        a1 = _mm256_fmadd_ps(b, load8(v0, 8, q8), a1);
        a2 = _mm256_fmadd_ps(b, load8(v0, 16, q8), a2);
        a3 = _mm256_fmadd_ps(b, load8(v0, 24, q8), a3);
        a4 = _mm256_fmadd_ps(b, load8(v0, 32, q8), a4);
        a5 = _mm256_fmadd_ps(b, load8(v0, 40, q8), a5);
        a6 = _mm256_fmadd_ps(b, load8(v0, 48, q8), a6);
        a7 = _mm256_fmadd_ps(b, load8(v0, 56, q8), a7);
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5; acc[6] = a6; acc[7] = a7;
}

// Scores of query row q at positions [0, n) (n ≤ its visible count) into s.
static void scores_row(float *s, const float *q, int64_t n, const gc_attn_seg *segs, int n_segs, int64_t kv_stride,
                       int64_t hd, float scale) {
    int64_t p = 0;
    for (int i = 0; i < n_segs && p < n; i++) {
        const gc_attn_seg *g = &segs[i];
        const int64_t m = g->n < n - p ? g->n : n - p;
        if (g->hidden) {
            for (int64_t j = 0; j < m; j++) s[p + j] = -INFINITY;
            p += m;
            continue;
        }
        const float sc = scale * g->k_scale;
        const bool q8 = g->kq != NULL;
        const void *kb = q8 ? (const void *)g->kq : (const void *)g->k;
        for (int64_t j = 0; j < m; j += 8) {
            const int64_t c = m - j < 8 ? m - j : 8;
            const void *k[8];
            float f[8];
            for (int t = 0; t < 8; t++) {   // a short tail repeats its last key
                const int64_t jt = j + (t < c ? t : c - 1);
                k[t] = row_at(kb, jt, kv_stride, q8);
                f[t] = q8 ? g->kd[jt * g->d_stride] * sc : sc;
            }
            __m256 x = _mm256_mul_ps(q8 ? dots_1x8(q, k, hd, true) : dots_1x8(q, k, hd, false), _mm256_loadu_ps(f));
            if (c == 8) {
                _mm256_storeu_ps(s + p + j, x);
            } else {
                float tmp[8];
                _mm256_storeu_ps(tmp, x);
                memcpy(s + p + j, tmp, (size_t)c * sizeof *tmp);
            }
        }
        p += m;
    }
}

// Scores of the QB query vectors q[r] at positions [0, n) into rows
// s + r·rs (positions past a vector's own visible count are computed and
// left unused).
static void scores_block(float *s, int64_t rs, const float *const q[QB], int64_t n, const gc_attn_seg *segs,
                         int n_segs, int64_t kv_stride, int64_t hd, float scale) {
    int64_t p = 0;
    for (int i = 0; i < n_segs && p < n; i++) {
        const gc_attn_seg *g = &segs[i];
        const int64_t m = g->n < n - p ? g->n : n - p;
        if (g->hidden) {
            for (int r = 0; r < QB; r++)
                for (int64_t j = 0; j < m; j++) s[r * rs + p + j] = -INFINITY;
            p += m;
            continue;
        }
        const float sc = scale * g->k_scale;
        float *s0 = s + p, *s1 = s0 + rs, *s2 = s1 + rs, *s3 = s2 + rs;
        int64_t j = 0;
        if (g->kq) {
            const int64_t ds = g->d_stride;
            for (; j + 2 <= m; j += 2) {
                const int8_t *k0 = g->kq + j * kv_stride;
                const float f0 = g->kd[j * ds] * sc, f1 = g->kd[(j + 1) * ds] * sc;
                __m256 x = _mm256_mul_ps(dots_4x2(q[0], q[1], q[2], q[3], k0, k0 + kv_stride, hd, true),
                                         _mm256_setr_ps(f0, f1, f0, f1, f0, f1, f0, f1));
                __m128 lo = _mm256_castps256_ps128(x), hi = _mm256_extractf128_ps(x, 1);
                _mm_storel_pi((__m64 *)(s0 + j), lo);
                _mm_storeh_pi((__m64 *)(s1 + j), lo);
                _mm_storel_pi((__m64 *)(s2 + j), hi);
                _mm_storeh_pi((__m64 *)(s3 + j), hi);
            }
            if (j < m) {
                const int8_t *k0 = g->kq + j * kv_stride;
                float x[8];
                _mm256_storeu_ps(x, _mm256_mul_ps(dots_4x2(q[0], q[1], q[2], q[3], k0, k0, hd, true),
                                                  _mm256_set1_ps(g->kd[j * ds] * sc)));
                s0[j] = x[0]; s1[j] = x[2]; s2[j] = x[4]; s3[j] = x[6];
            }
            p += m;
            continue;
        }
        const __m256 sc8 = _mm256_set1_ps(sc);
        for (; j + 2 <= m; j += 2) {   // each vector's pair of scores: a 64-bit half of one 128-bit lane
            const float *k0 = g->k + j * kv_stride;
            __m256 x = _mm256_mul_ps(dots_4x2(q[0], q[1], q[2], q[3], k0, k0 + kv_stride, hd, false), sc8);
            __m128 lo = _mm256_castps256_ps128(x), hi = _mm256_extractf128_ps(x, 1);
            _mm_storel_pi((__m64 *)(s0 + j), lo);
            _mm_storeh_pi((__m64 *)(s1 + j), lo);
            _mm_storel_pi((__m64 *)(s2 + j), hi);
            _mm_storeh_pi((__m64 *)(s3 + j), hi);
        }
        if (j < m) {   // a last key alone, paired with itself
            const float *k0 = g->k + j * kv_stride;
            float x[8];
            _mm256_storeu_ps(x, _mm256_mul_ps(dots_4x2(q[0], q[1], q[2], q[3], k0, k0, hd, false), sc8));
            s0[j] = x[0]; s1[j] = x[2]; s2[j] = x[4]; s3[j] = x[6];
        }
        p += m;
    }
}

// Turns the scores s[0, n) of one row into softmax weights times each
// segment's v_scale (and a q8 row's vd; positions up to round8(n) are written). Returns false
// when no position is visible (all hidden): the row's output is then 0.
static bool weights_row(float *s, int64_t n, const gc_attn_seg *segs, int n_segs) {
    __m256 mx8 = _mm256_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) mx8 = _mm256_max_ps(mx8, _mm256_loadu_ps(s + j));
    float lanes[8];
    _mm256_storeu_ps(lanes, mx8);
    float mx = -INFINITY;
    for (int t = 0; t < 8; t++) mx = lanes[t] > mx ? lanes[t] : mx;
    for (; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    if (mx == -INFINITY) return false;
    const __m256 m8 = _mm256_set1_ps(mx), ninf = _mm256_set1_ps(-INFINITY);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256d sum_lo = _mm256_setzero_pd(), sum_hi = _mm256_setzero_pd();
    for (j = 0; j < n; j += 8) {
        __m256 x;
        if (j + 8 <= n) {
            x = _mm256_loadu_ps(s + j);
        } else {   // lanes at or past n read nothing and count as −inf
            __m256i in = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - j)), iota);
            x = _mm256_blendv_ps(ninf, _mm256_maskload_ps(s + j, in), _mm256_castsi256_ps(in));
        }
        __m256 e = exp8(_mm256_sub_ps(x, m8));
        _mm256_storeu_ps(s + j, e);
        sum_lo = _mm256_add_pd(sum_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum_hi = _mm256_add_pd(sum_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double d[8];
    _mm256_storeu_pd(d, sum_lo);
    _mm256_storeu_pd(d + 4, sum_hi);
    const double sum = ((d[0] + d[1]) + (d[2] + d[3])) + ((d[4] + d[5]) + (d[6] + d[7]));
    const float inv = (float)(1.0 / sum);
    int64_t p = 0;
    for (int i = 0; i < n_segs && p < n; i++) {
        const gc_attn_seg *g = &segs[i];
        const int64_t m = g->n < n - p ? g->n : n - p;
        const float vs = g->v_scale * inv;
        const __m256 vs8 = _mm256_set1_ps(vs);
        int64_t k = 0;
        for (; k + 8 <= m; k += 8) _mm256_storeu_ps(s + p + k, _mm256_mul_ps(_mm256_loadu_ps(s + p + k), vs8));
        for (; k < m; k++) s[p + k] *= vs;
        if (g->vq && !g->hidden)
            for (k = 0; k < m; k++) s[p + k] *= g->vd[k * g->d_stride];
        p += m;
    }
    return true;
}

// Pieces of the head's dims for the value sums: [d0, d0 + width) for d in
// steps of width; a last piece that would pass hd moves back to end at hd
// (hd ≥ width), redoing some dims with the same arithmetic.
static int64_t piece_start(int64_t d, int64_t width, int64_t hd) { return d + width <= hd ? d : hd - width; }

// out[0, hd) of one row: Σ w[p] · v_p over its n visible positions.
static void values_row(float *out, const float *w, int64_t n, const gc_attn_seg *segs, int n_segs, int64_t kv_stride,
                       int64_t hd) {
    const bool wide = hd >= 64;
    const int64_t width = wide ? 64 : 16;
    for (int64_t d = 0; d < hd; d += width) {
        const int64_t d0 = piece_start(d, width, hd);
        __m256 acc[8];
        for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
        int64_t p = 0;
        for (int i = 0; i < n_segs && p < n; i++) {
            const gc_attn_seg *g = &segs[i];
            const int64_t m = g->n < n - p ? g->n : n - p;
            if (!g->hidden) {
                if (g->vq && wide) vacc_1x64(acc, w + p, g->vq + d0, kv_stride, m, true);
                else if (g->vq) vacc_1x16(acc, w + p, g->vq + d0, kv_stride, m, true);
                else if (wide) vacc_1x64(acc, w + p, g->v + d0, kv_stride, m, false);
                else vacc_1x16(acc, w + p, g->v + d0, kv_stride, m, false);
            }
            p += m;
        }
        for (int t = 0; t < width / 8; t++) _mm256_storeu_ps(out + d0 + 8 * t, acc[t]);
    }
}

// out[r][0, hd) = Σ w_r[p] · v_p over the first n[r] positions, r < QB,
// w_r = w + r·rs, n non-decreasing. Positions seen by all vectors go through
// vacc_4x16 together, the rest of each later vector's through vacc_1x16.
static void values_block(float *const out[QB], const float *w, int64_t rs, const int64_t n[QB],
                         const gc_attn_seg *segs, int n_segs, int64_t kv_stride, int64_t hd) {
    const int64_t n_all = n[QB - 1], n0 = n[0];
    for (int64_t d = 0; d < hd; d += 16) {
        const int64_t d0 = piece_start(d, 16, hd);
        __m256 acc[2 * QB];
        for (int t = 0; t < 2 * QB; t++) acc[t] = _mm256_setzero_ps();
        int64_t p = 0;
        for (int i = 0; i < n_segs && p < n_all; i++) {
            const gc_attn_seg *g = &segs[i];
            const int64_t m = g->n < n_all - p ? g->n : n_all - p;
            if (!g->hidden) {
                const int64_t common = n0 - p < 0 ? 0 : n0 - p < m ? n0 - p : m;
                const bool q8 = g->vq != NULL;
                const void *vb = q8 ? (const void *)(g->vq + d0) : (const void *)(g->v + d0);
                if (q8) vacc_4x16(acc, w + p, w + rs + p, w + 2 * rs + p, w + 3 * rs + p, vb, kv_stride, common, true);
                else vacc_4x16(acc, w + p, w + rs + p, w + 2 * rs + p, w + 3 * rs + p, vb, kv_stride, common, false);
                for (int r = 1; r < QB; r++) {
                    const int64_t end = n[r] - p < m ? n[r] - p : m;
                    if (end <= common) continue;
                    const void *vc = row_at(vb, common, kv_stride, q8);
                    if (q8) vacc_1x16(acc + 2 * r, w + r * rs + p + common, vc, kv_stride, end - common, true);
                    else vacc_1x16(acc + 2 * r, w + r * rs + p + common, vc, kv_stride, end - common, false);
                }
            }
            p += m;
        }
        for (int r = 0; r < QB; r++) {
            _mm256_storeu_ps(out[r] + d0, acc[2 * r]);
            _mm256_storeu_ps(out[r] + d0 + 8, acc[2 * r + 1]);
        }
    }
}

// The plain kernel for head sizes the vector one does not take (hd not a
// multiple of 8, or < 16): per row, a scalar dot per position, expf, a sum
// in double and a scalar value sum (q8 rows with the same factors as above);
// the same per-row independence.
static void attention_scalar(float *out, int64_t o_stride, const float *q, int64_t q_stride, int64_t n_q,
                             int64_t ctx_first_q, const gc_attn_seg *segs, int n_segs, int64_t kv_stride, int64_t hd,
                             float scale, float *s) {
    for (int64_t i = 0; i < n_q; i++) {
        const float *qi = q + i * q_stride;
        float *o = out + i * o_stride;
        const int64_t n = ctx_first_q + i + 1;
        float mx = -INFINITY;
        int64_t p = 0;
        for (int k = 0; k < n_segs && p < n; k++) {
            const gc_attn_seg *g = &segs[k];
            const int64_t m = g->n < n - p ? g->n : n - p;
            const float sc = scale * g->k_scale;
            for (int64_t j = 0; j < m; j++) {
                float x = -INFINITY;
                if (!g->hidden && g->kq) {
                    const int8_t *kj = g->kq + j * kv_stride;
                    float dot = 0;
                    for (int64_t d = 0; d < hd; d++) dot += qi[d] * (float)kj[d];
                    x = dot * (g->kd[j * g->d_stride] * sc);
                } else if (!g->hidden) {
                    const float *kj = g->k + j * kv_stride;
                    float dot = 0;
                    for (int64_t d = 0; d < hd; d++) dot += qi[d] * kj[d];
                    x = dot * sc;
                }
                s[p + j] = x;
                mx = x > mx ? x : mx;
            }
            p += m;
        }
        memset(o, 0, (size_t)hd * sizeof *o);
        if (mx == -INFINITY) continue;
        double sum = 0;
        for (int64_t j = 0; j < p; j++) {
            s[j] = s[j] == -INFINITY ? 0.0f : expf(s[j] - mx);
            sum += s[j];
        }
        const float inv = (float)(1.0 / sum);
        p = 0;
        for (int k = 0; k < n_segs && p < n; k++) {
            const gc_attn_seg *g = &segs[k];
            const int64_t m = g->n < n - p ? g->n : n - p;
            const float vs = g->v_scale * inv;
            for (int64_t j = 0; j < m && !g->hidden; j++) {
                const float wj = s[p + j] * vs;
                if (g->vq) {
                    const float wq = wj * g->vd[j * g->d_stride];
                    const int8_t *vj = g->vq + j * kv_stride;
                    for (int64_t d = 0; d < hd; d++) o[d] += wq * (float)vj[d];
                } else {
                    const float *vj = g->v + j * kv_stride;
                    for (int64_t d = 0; d < hd; d++) o[d] += wj * vj[d];
                }
            }
            p += m;
        }
    }
}

void gc_cpu_attention(float *out, int64_t o_stride, const float *q, int64_t q_stride, int64_t n_q, int64_t n_h,
                      int64_t ctx_first_q, const gc_attn_seg *segs, int n_segs, int64_t kv_stride, int64_t hd,
                      float scale, float *scratch) {
    if (hd % 8 != 0 || hd < 16) {
        for (int64_t g = 0; g < n_h; g++)
            attention_scalar(out + g * hd, o_stride, q + g * hd, q_stride, n_q, ctx_first_q, segs, n_segs, kv_stride,
                             hd, scale, scratch);
        return;
    }
    const int64_t rs = row_floats(ctx_first_q + n_q);   // the last row's visible count bounds every vector's
    // Query vectors u = i·n_h + g (row i, head g) in blocks of QB consecutive
    // ones, so visible counts never decrease within a block. A block short
    // of QB vectors repeats its last one (same arithmetic, same bits written
    // twice); a lone vector takes the one-vector kernels.
    const int64_t n_vec = n_q * n_h;
    for (int64_t u0 = 0; u0 < n_vec; u0 += QB) {
        if (n_vec - u0 == 1) {
            const int64_t i = u0 / n_h, g = u0 % n_h, n = ctx_first_q + i + 1;
            float *o = out + i * o_stride + g * hd;
            scores_row(scratch, q + i * q_stride + g * hd, n, segs, n_segs, kv_stride, hd, scale);
            if (weights_row(scratch, n, segs, n_segs)) values_row(o, scratch, n, segs, n_segs, kv_stride, hd);
            else memset(o, 0, (size_t)hd * sizeof *o);
            break;
        }
        const float *qv[QB];
        float *ov[QB];
        int64_t n[QB];
        for (int r = 0; r < QB; r++) {
            const int64_t u = u0 + r < n_vec ? u0 + r : n_vec - 1, i = u / n_h, g = u % n_h;
            qv[r] = q + i * q_stride + g * hd;
            ov[r] = out + i * o_stride + g * hd;
            n[r] = ctx_first_q + i + 1;
        }
        scores_block(scratch, rs, qv, n[QB - 1], segs, n_segs, kv_stride, hd, scale);
        bool any[QB], all = true;
        for (int r = 0; r < QB; r++) {
            any[r] = weights_row(scratch + r * rs, n[r], segs, n_segs);
            all = all && any[r];
        }
        if (all) {
            values_block(ov, scratch, rs, n, segs, n_segs, kv_stride, hd);
        } else {   // some vector sees only hidden positions (a cache that hides its start)
            for (int r = 0; r < QB; r++) {
                if (any[r]) values_row(ov[r], scratch + r * rs, n[r], segs, n_segs, kv_stride, hd);
                else memset(ov[r], 0, (size_t)hd * sizeof *ov[r]);
            }
        }
    }
}
