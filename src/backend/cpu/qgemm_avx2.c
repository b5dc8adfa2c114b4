// AVX2 kernel of the fast matmul: one 16-row panel (qgemm_panel.h) times up
// to QG_TILE_AVX2 activation rows, as two halves of 8 rows (one ymm lane per
// row). Per 4-element step: VPMADDUBSW (u8 activation × i8 weight → i16
// pairs) and VPMADDWD by ones (→ i32 per row).
//
// VPMADDUBSW saturates at ±32767: a pair of u8 ≤ 255 times |q| ≤ 64 stays
// below (2·255·64 = 32640), so panels with wider values (fmt.wide: Q8_0)
// take the sign trick instead: |q| (u8) times the activation a = u8 - 128
// with q's sign moved onto it, |pair| ≤ 2·128·127 = 32512.
#include "backend/cpu/qgemm_panel.h"
#include <immintrin.h>
#include <string.h>

#define UNROLL _Pragma("GCC unroll 8")
#define INLINE static inline __attribute__((always_inline))

static inline int32_t ld32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

INLINE void body(const uint8_t *panel, const qg_act *a, int64_t t0, const int C, const int ng, const bool mn,
                 const bool wide, float *y, int64_t ldy, const float *bias, int rows, int h) {
    qg_fmt f = {ng, mn, wide};
    const size_t stride = qg_block_bytes(&f);
    const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
    const uint8_t *aq[QG_TILE_AVX2];
    const float *ad[QG_TILE_AVX2], *as[QG_TILE_AVX2];
    __m256 acc[QG_TILE_AVX2];
    UNROLL
    for (int c = 0; c < C; c++) {
        aq[c] = a->q + (t0 + c) * a->K;
        ad[c] = a->d + (t0 + c) * a->nb;
        as[c] = mn ? a->s + (t0 + c) * a->nb * ng : NULL;
        acc[c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < a->nb; b++) {
        const uint8_t *p = panel + (size_t)b * stride;
        const float *pd = (const float *)(p + 512 + 64 * ng) + 8 * h;
        __m256i ia[2][QG_TILE_AVX2];
        UNROLL
        for (int g = 0; g < ng; g++) {
            __m256i init = wide ? _mm256_setzero_si256() : _mm256_load_si256((const __m256i *)(p + 512 + 64 * g + 32 * h));
            UNROLL
            for (int c = 0; c < C; c++) ia[g][c] = init;
        }
        UNROLL
        for (int k = 0; k < 8; k++) {
            const int g = ng == 2 ? k / 4 : 0;
            __m256i w = _mm256_load_si256((const __m256i *)(p + 64 * k + 32 * h));
            if (wide) {
                __m256i aw = _mm256_abs_epi8(w);
                UNROLL
                for (int c = 0; c < C; c++) {
                    __m256i av = _mm256_xor_si256(_mm256_set1_epi32(ld32(aq[c] + 32 * b + 4 * k)), flip);
                    __m256i pr = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(av, w));
                    ia[g][c] = _mm256_add_epi32(ia[g][c], _mm256_madd_epi16(pr, ones));
                }
            } else {
                UNROLL
                for (int c = 0; c < C; c++) {
                    __m256i pr = _mm256_maddubs_epi16(_mm256_set1_epi32(ld32(aq[c] + 32 * b + 4 * k)), w);
                    ia[g][c] = _mm256_add_epi32(ia[g][c], _mm256_madd_epi16(pr, ones));
                }
            }
        }
        if (ng == 1) {
            __m256 dv = _mm256_load_ps(pd);
            UNROLL
            for (int c = 0; c < C; c++)
                acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(ia[0][c]), _mm256_set1_ps(ad[c][b])), dv, acc[c]);
        } else {
            __m256 d0 = _mm256_load_ps(pd), d1 = _mm256_load_ps(pd + 16);
            UNROLL
            for (int c = 0; c < C; c++) {
                __m256 s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[0][c]), d0, _mm256_mul_ps(_mm256_cvtepi32_ps(ia[1][c]), d1));
                acc[c] = _mm256_fmadd_ps(s, _mm256_set1_ps(ad[c][b]), acc[c]);
            }
        }
        if (mn) {
            const float *pm = pd + 16 * ng;
            UNROLL
            for (int g = 0; g < ng; g++) {
                __m256 mv = _mm256_load_ps(pm + 16 * g);
                UNROLL
                for (int c = 0; c < C; c++) acc[c] = _mm256_fmadd_ps(mv, _mm256_set1_ps(as[c][b * ng + g]), acc[c]);
            }
        }
    }
    const int n = rows - 8 * h < 8 ? rows - 8 * h : 8;
    if (n <= 0) return;
    __m256 bv = _mm256_setzero_ps();
    if (bias) {
        float tmp[8] = {0};
        memcpy(tmp, bias + 8 * h, (size_t)n * sizeof(float));
        bv = _mm256_loadu_ps(tmp);
    }
    UNROLL
    for (int c = 0; c < C; c++) {
        float *yo = y + c * ldy + 8 * h;
        __m256 v = _mm256_add_ps(acc[c], bv);
        if (n == 8) {
            _mm256_storeu_ps(yo, v);
        } else {
            float tmp[8];
            _mm256_storeu_ps(tmp, v);
            memcpy(yo, tmp, (size_t)n * sizeof(float));
        }
    }
}

#define BODY(C, NG, MN, WIDE) \
    for (int h = 0; h < 2; h++) body(panel, a, t0, C, NG, MN, WIDE, y, ldy, bias, rows, h)

#define BY_C(NG, MN, WIDE)                                   \
    switch (C) {                                             \
    case 1: BODY(1, NG, MN, WIDE); break;                    \
    case 2: BODY(2, NG, MN, WIDE); break;                    \
    case 3: BODY(3, NG, MN, WIDE); break;                    \
    default: BODY(4, NG, MN, WIDE); break;                   \
    }

void qg_kernel_avx2(const uint8_t *panel, const qg_fmt *f, const qg_act *a, int64_t t0, int C, float *y, int64_t ldy,
                    const float *bias, int rows) {
    if (f->wide) {
        if (f->ng == 1 && !f->min) BY_C(1, false, true)
        else if (f->ng == 1) BY_C(1, true, true)
        else if (!f->min) BY_C(2, false, true)
        else BY_C(2, true, true)
    } else {
        if (f->ng == 1 && !f->min) BY_C(1, false, false)
        else if (f->ng == 1) BY_C(1, true, false)
        else if (!f->min) BY_C(2, false, false)
        else BY_C(2, true, false)
    }
}
