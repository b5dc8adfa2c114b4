// AVX-512 VNNI kernel of the fast matmul: one 16-row panel (qgemm_panel.h,
// one zmm lane per row) times up to QG_TILE_AVX512 activation rows. Per
// 4-element step one VPDPBUSD (u8 activation broadcast × i8 weights, summed
// into i32 without saturation) per activation row; per block one convert and
// two multiply-adds per activation row.
//
// Compiled for AVX-512 F/BW/VL/VNNI by function attributes only, so the rest
// of the build stays AVX2; qgemm.c calls it after checking the CPU.
#include "backend/cpu/qgemm_panel.h"
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma")))
#define UNROLL _Pragma("GCC unroll 8")
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE int32_t ld32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

INLINE void body(const uint8_t *panel, const qg_act *a, int64_t t0, const int C, const int ng, const bool mn,
                 float *y, int64_t ldy, const float *bias, int rows) {
    qg_fmt f = {ng, mn, false};
    const size_t stride = qg_block_bytes(&f);
    const uint8_t *aq[QG_TILE_AVX512];
    const float *ad[QG_TILE_AVX512], *as[QG_TILE_AVX512];
    __m512 acc[QG_TILE_AVX512];
    UNROLL
    for (int c = 0; c < C; c++) {
        aq[c] = a->q + (t0 + c) * a->K;
        ad[c] = a->d + (t0 + c) * a->nb;
        as[c] = mn ? a->s + (t0 + c) * a->nb * ng : NULL;
        acc[c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < a->nb; b++) {
        const uint8_t *p = panel + (size_t)b * stride;
        const float *pd = (const float *)(p + 512 + 64 * ng);
        __m512i ia[2][QG_TILE_AVX512];
        UNROLL
        for (int g = 0; g < ng; g++) {
            __m512i init = _mm512_load_si512((const void *)(p + 512 + 64 * g));
            UNROLL
            for (int c = 0; c < C; c++) ia[g][c] = init;
        }
        UNROLL
        for (int k = 0; k < 8; k++) {
            const int g = ng == 2 ? k / 4 : 0;
            __m512i w = _mm512_load_si512((const void *)(p + 64 * k));
            UNROLL
            for (int c = 0; c < C; c++)
                ia[g][c] = _mm512_dpbusd_epi32(ia[g][c], _mm512_set1_epi32(ld32(aq[c] + 32 * b + 4 * k)), w);
        }
        if (ng == 1) {
            __m512 dv = _mm512_load_ps(pd);
            UNROLL
            for (int c = 0; c < C; c++)
                acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(ia[0][c]), _mm512_set1_ps(ad[c][b])), dv, acc[c]);
        } else {
            __m512 d0 = _mm512_load_ps(pd), d1 = _mm512_load_ps(pd + 16);
            UNROLL
            for (int c = 0; c < C; c++) {
                __m512 s = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[0][c]), d0, _mm512_mul_ps(_mm512_cvtepi32_ps(ia[1][c]), d1));
                acc[c] = _mm512_fmadd_ps(s, _mm512_set1_ps(ad[c][b]), acc[c]);
            }
        }
        if (mn) {
            const float *pm = pd + 16 * ng;
            UNROLL
            for (int g = 0; g < ng; g++) {
                __m512 mv = _mm512_load_ps(pm + 16 * g);
                UNROLL
                for (int c = 0; c < C; c++) acc[c] = _mm512_fmadd_ps(mv, _mm512_set1_ps(as[c][b * ng + g]), acc[c]);
            }
        }
    }
    const __mmask16 km = (__mmask16)((1u << rows) - 1);
    __m512 bv = bias ? _mm512_maskz_loadu_ps(km, bias) : _mm512_setzero_ps();
    UNROLL
    for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(y + c * ldy, km, _mm512_add_ps(acc[c], bv));
}

#define BY_C(NG, MN)                                           \
    switch (C) {                                               \
    case 1: body(panel, a, t0, 1, NG, MN, y, ldy, bias, rows); break; \
    case 2: body(panel, a, t0, 2, NG, MN, y, ldy, bias, rows); break; \
    case 3: body(panel, a, t0, 3, NG, MN, y, ldy, bias, rows); break; \
    case 4: body(panel, a, t0, 4, NG, MN, y, ldy, bias, rows); break; \
    case 5: body(panel, a, t0, 5, NG, MN, y, ldy, bias, rows); break; \
    case 6: body(panel, a, t0, 6, NG, MN, y, ldy, bias, rows); break; \
    case 7: body(panel, a, t0, 7, NG, MN, y, ldy, bias, rows); break; \
    default: body(panel, a, t0, 8, NG, MN, y, ldy, bias, rows); break; \
    }

// fmt.wide needs nothing here: VPDPBUSD does not saturate.
TARGET void qg_kernel_avx512(const uint8_t *panel, const qg_fmt *f, const qg_act *a, int64_t t0, int C, float *y,
                             int64_t ldy, const float *bias, int rows) {
    if (f->ng == 1 && !f->min) BY_C(1, false)
    else if (f->ng == 1) BY_C(1, true)
    else if (!f->min) BY_C(2, false)
    else BY_C(2, true)
}
