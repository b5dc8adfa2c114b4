// AVX-512 VNNI direct products (qgemv.h): 16 weight rows at a time. Per
// step of 64 elements (two blocks of 32) each row's codes c are decoded into
// one zmm in element order, one VPDPBUSD against the 64 activation bytes
// leaves 16 partial sums of 4 products, and the 16 rows' vectors are reduced
// together (a transpose-and-add tree) to one zmm per block or per group of
// 16, with row r in lane r. From there the f32 steps are the panel kernel's,
// lane for lane (qgemm_avx512.c).
//
// Codes of one step, per dtype (element e of the step in byte e):
//   Q8_0               32 bytes of each block, xor 0x80 (c = q + 128)
//   Q4_0/Q4_1/Q5_x     each block's 16 nibble bytes loaded twice, the second
//                      copy shifted right by 4, masked to 4 bits; Q5_x add 16
//                      where bit e of the block's qh is set (a mask register)
//   Q4_K/Q5_K          one 32-byte chunk of qs loaded twice (low nibbles are
//                      elements 0..31 of the 64, high nibbles 32..63); Q5_K's
//                      fifth bits by a byte test of qh against 1<<2j / 2<<2j
//   Q6_K               64 bytes of ql (low or high nibbles) or'ed with 2 bits
//                      of the 32 qh bytes moved to bits 4..5
// Scales of 16 rows: the f16 d (and m) of a block, or per super-block the
// d/dmin and the packed 6-bit sub-scales, unpacked with the same arithmetic
// as the panel packer (so d·sc is the same f32 value). In the repacked
// layout (qrepack.h, `il`) each is one load of the 16 rows' copies side by
// side; in the GGUF layout a gather (slow on AMD).
//
// Compiled for AVX-512 by function attributes only; qgemm.c calls it after
// checking the CPU.
#include "backend/cpu/qgemv.h"
#include "backend/cpu/qrepack.h"
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET
#define UNROLL _Pragma("GCC unroll 16")

static inline uint32_t ld32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

// Shift counts per 16-bit word: 0 in 128-bit lanes 0 and 2, 4 in 1 and 3
// (two copies of 16 nibble bytes per block), or 0 in the low 256 bits and 4
// in the high (two copies of 32 bytes).
#define SH_LANES _mm512_set_epi64(0x0004000400040004LL, 0x0004000400040004LL, 0, 0, 0x0004000400040004LL, 0x0004000400040004LL, 0, 0)
#define SH_HALVES(lo, hi) _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo)
#define W4 0x0004000400040004LL
#define W2 0x0002000200020002LL

typedef struct rows_ctx {
    const uint8_t *wr[QG_ROWS];   // GGUF layout: each row's start (rows past the end repeat the last)
    __m512i gidx;                 // their byte offsets from the first row
    const uint8_t *g;             // repacked layout (qrepack.h): the group
    const int8_t *aq[QG_GEMV_MAX_C];
    const float *ad[QG_GEMV_MAX_C], *as[QG_GEMV_MAX_C];
    const int32_t *a16[QG_GEMV_MAX_C];
} rows_ctx;

// Row r's copy of the field at byte fo (fs bytes) of the block at byte off
// of a row, in either layout (il: repacked, qrepack.h).
INLINE const uint8_t *fld(const gc_dtype t, const bool il, const rows_ctx *x, int r, size_t off, int fo, int fs) {
    return il ? x->g + 16 * off + qg_field_pos(t, fo) + (size_t)r * (size_t)fs : x->wr[r] + off + fo;
}
// The 16 rows' copies of that field, side by side (repacked layout only).
INLINE const uint8_t *fld16(const gc_dtype t, const rows_ctx *x, size_t off, int fo) {
    return x->g + 16 * off + qg_field_pos(t, fo);
}

// The 64 codes of one step of row r. off: the step's first block
// (two-block dtypes) or its super-block (K-quants, j = the step's index
// 0..3 in it). half: only the first block exists (an odd count of blocks);
// the rest is zero.
INLINE __m512i codes(const gc_dtype t, const bool il, const rows_ctx *x, int r, size_t off, const int j, const bool half) {
    const __m512i m4 = _mm512_set1_epi8(15);
    const size_t bb = (size_t)qg_gemv_block_bytes(t);
    switch (t) {
    case GC_DT_Q8_0: {
        __m256i lo = _mm256_loadu_si256((const __m256i *)fld(t, il, x, r, off, 2, 32));
        __m256i hi = half ? _mm256_setzero_si256() : _mm256_loadu_si256((const __m256i *)fld(t, il, x, r, off + bb, 2, 32));
        return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi8((char)0x80));
    }
    case GC_DT_Q4_0:
    case GC_DT_Q4_1:
    case GC_DT_Q5_0:
    case GC_DT_Q5_1: {
        const int qo = (int)bb - 16;
        __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)fld(t, il, x, r, off, qo, 16)));
        __m256i hi = half ? _mm256_setzero_si256() : _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)fld(t, il, x, r, off + bb, qo, 16)));
        __m512i c = _mm512_and_si512(_mm512_srlv_epi16(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), SH_LANES), m4);
        if (t == GC_DT_Q5_0 || t == GC_DT_Q5_1) {
            const int ho = qo - 4;
            uint64_t h = ld32(fld(t, il, x, r, off, ho, 4)) | (half ? 0 : (uint64_t)ld32(fld(t, il, x, r, off + bb, ho, 4)) << 32);
            c = _mm512_mask_add_epi8(c, _cvtu64_mask64(h), c, _mm512_set1_epi8(16));
        }
        return c;
    }
    case GC_DT_Q4_K:
    case GC_DT_Q5_K: {
        const int qo = t == GC_DT_Q4_K ? 16 : 48;
        __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(fld(t, il, x, r, off, qo + 32 * j, 32))));
        __m512i c = _mm512_and_si512(_mm512_srlv_epi16(v, SH_HALVES(0, W4)), m4);
        if (t == GC_DT_Q5_K) {
            __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)fld(t, il, x, r, off, 16, 32)));
            __m512i bits = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << 2 * j)), _mm256_set1_epi8((char)(2 << 2 * j)), 1);
            c = _mm512_mask_add_epi8(c, _mm512_test_epi8_mask(qh, bits), c, _mm512_set1_epi8(16));
        }
        return c;
    }
    default: {   // Q6_K: step j holds elements 64j..64j+63 of the super-block
        const int h = j / 2;
        __m512i ql = _mm512_loadu_si512((const void *)(fld(t, il, x, r, off, 64 * h, 64)));
        __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(fld(t, il, x, r, off, 128 + 32 * h, 32))));
        __m512i lo, hi;
        if (j % 2 == 0) {   // low nibbles; fifth/sixth bits at 0..1 (first 32) and 2..3 (next 32) of qh
            lo = _mm512_and_si512(ql, m4);
            hi = _mm512_sllv_epi16(hb, SH_HALVES(W4, W2));
        } else {            // high nibbles; those bits at 4..5 and 6..7
            lo = _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4);
            hi = _mm512_srlv_epi16(hb, SH_HALVES(0, W2));
        }
        return _mm512_or_si512(lo, _mm512_and_si512(hi, _mm512_set1_epi8(0x30)));
    }
    }
}

// f16 in the low (high = false) or high 16 bits of each lane, to f32.
INLINE __m512 f16_lanes(__m512i g, const bool high) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(high ? _mm512_srli_epi32(g, 16) : g));
}

// The f16 field at byte fo of the block at off, 16 rows, to f32: one load
// repacked, a gather from the GGUF layout (the dword at fo - 2 when hi, so
// that Q6_K's d at 208 is read without passing the block's end).
INLINE __m512 f16_field(const gc_dtype t, const bool il, const rows_ctx *x, const uint8_t *w, size_t off, int fo, const bool hi) {
    if (il) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)fld16(t, x, off, fo)));
    return f16_lanes(_mm512_i32gather_epi32(x->gidx, w + off + fo - (hi ? 2 : 0), 1), hi);
}
// The dword field at byte fo of the block at off, 16 rows.
INLINE __m512i dword_field(const gc_dtype t, const bool il, const rows_ctx *x, const uint8_t *w, size_t off, int fo) {
    if (il) return _mm512_loadu_si512((const void *)fld16(t, x, off, fo));
    return _mm512_i32gather_epi32(x->gidx, w + off + fo, 1);
}

// Sub-block scales of the super-block at byte off of the 16 rows: d·sc per
// group into dg (Q4_K/Q5_K: 8 groups of 32; Q6_K: 16 of 16) and -(dmin·mn)
// into mg (Q4_K/Q5_K).
INLINE void super_scales(const gc_dtype t, const bool il, const rows_ctx *x, const uint8_t *w, size_t off,
                         float dg[16][16], float mg[8][16]) {
    if (t == GC_DT_Q6_K) {
        __m512 dd = f16_field(t, il, x, w, off, 208, true);
        UNROLL
        for (int q = 0; q < 4; q++) {
            __m512i s = dword_field(t, il, x, w, off, 192 + 4 * q);
            UNROLL
            for (int i = 0; i < 4; i++) {
                __m512i sc = _mm512_srai_epi32(_mm512_slli_epi32(s, 24 - 8 * i), 24);
                _mm512_store_ps(dg[4 * q + i], _mm512_mul_ps(dd, _mm512_cvtepi32_ps(sc)));
            }
        }
        return;
    }
    __m512 dd, dmin;
    if (il) {
        dd = f16_field(t, il, x, w, off, 0, false);
        dmin = f16_field(t, il, x, w, off, 2, false);
    } else {   // one gather for both
        __m512i g = _mm512_i32gather_epi32(x->gidx, w + off, 1);
        dd = f16_lanes(g, false);
        dmin = f16_lanes(g, true);
    }
    __m512i s0 = dword_field(t, il, x, w, off, 4), s1 = dword_field(t, il, x, w, off, 8), s2 = dword_field(t, il, x, w, off, 12);
    const __m512i m6 = _mm512_set1_epi32(63), m4 = _mm512_set1_epi32(15), m2 = _mm512_set1_epi32(3);
    const __m512 neg = _mm512_set1_ps(-0.0f);
    UNROLL
    for (int j = 0; j < 8; j++) {
        __m512i sc, mn;
        if (j < 4) {
            sc = _mm512_and_si512(_mm512_srli_epi32(s0, 8 * j), m6);
            mn = _mm512_and_si512(_mm512_srli_epi32(s1, 8 * j), m6);
        } else {
            const int i = j - 4;
            sc = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(s2, 8 * i), m4),
                                 _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(s0, 8 * i + 6), m2), 4));
            mn = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(s2, 8 * i + 4), m4),
                                 _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(s1, 8 * i + 6), m2), 4));
        }
        _mm512_store_ps(dg[j], _mm512_mul_ps(dd, _mm512_cvtepi32_ps(sc)));
        _mm512_store_ps(mg[j], _mm512_xor_ps(_mm512_mul_ps(dmin, _mm512_cvtepi32_ps(mn)), neg));
    }
}

// The f32 steps of block b (the panel kernel's, in its order), from the
// integer sums Σ a·c of the block (ng = 1: S[c][0]) or of its two groups
// (S[c][0], S[c][1]).
INLINE void block_f32(const gc_dtype t, const bool il, const int C, const rows_ctx *x, const uint8_t *w, int64_t b, __m512i S[][2],
                      float dg[16][16], float mg[8][16], __m512 *acc) {
    const int zp = qg_gemv_zero_point(t);
    const bool mn = t == GC_DT_Q4_1 || t == GC_DT_Q5_1 || t == GC_DT_Q4_K || t == GC_DT_Q5_K;
    if (t == GC_DT_Q6_K) {
        __m512 d0 = _mm512_load_ps(dg[2 * (b % 8)]), d1 = _mm512_load_ps(dg[2 * (b % 8) + 1]);
        UNROLL
        for (int c = 0; c < C; c++) {
            __m512i i0 = _mm512_sub_epi32(S[c][0], _mm512_set1_epi32(zp * x->a16[c][2 * b]));
            __m512i i1 = _mm512_sub_epi32(S[c][1], _mm512_set1_epi32(zp * x->a16[c][2 * b + 1]));
            __m512 s = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), d0, _mm512_mul_ps(_mm512_cvtepi32_ps(i1), d1));
            acc[c] = _mm512_fmadd_ps(s, _mm512_set1_ps(x->ad[c][b]), acc[c]);
        }
        return;
    }
    __m512 dv, mv = _mm512_setzero_ps();
    if (qg_gemv_super(t)) {
        dv = _mm512_load_ps(dg[b % 8]);
        mv = _mm512_load_ps(mg[b % 8]);
    } else if (il) {
        const size_t off = (size_t)b * (size_t)qg_gemv_block_bytes(t);
        dv = f16_field(t, il, x, w, off, 0, false);
        if (mn) mv = f16_field(t, il, x, w, off, 2, false);
    } else {   // one gather for d and m
        __m512i g = _mm512_i32gather_epi32(x->gidx, w + (size_t)b * (size_t)qg_gemv_block_bytes(t), 1);
        dv = f16_lanes(g, false);
        if (mn) mv = f16_lanes(g, true);
    }
    UNROLL
    for (int c = 0; c < C; c++) {
        __m512i is = S[c][0];
        if (zp) is = _mm512_sub_epi32(is, _mm512_set1_epi32(zp * (x->a16[c][2 * b] + x->a16[c][2 * b + 1])));
        acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(is), _mm512_set1_ps(x->ad[c][b])), dv, acc[c]);
        if (mn) acc[c] = _mm512_fmadd_ps(mv, _mm512_set1_ps(x->as[c][b]), acc[c]);
    }
}

// One step s (elements 64s..64s+63) of the 16 rows: codes at byte offset off
// of each row (j: the step in its super-block), products with every
// activation row, the reduction, then the f32 steps of its blocks.
INLINE void step(const gc_dtype t, const bool il, const int C, const rows_ctx *x, const uint8_t *w, size_t off, const int j,
                 int64_t s, const bool half, float dg[16][16], float mg[8][16], __m512 *acc) {
    __m512i A[QG_GEMV_MAX_C], R2[QG_GEMV_MAX_C][4];
    UNROLL
    for (int c = 0; c < C; c++)
        A[c] = half ? _mm512_maskz_loadu_epi8(0xffffffffULL, x->aq[c] + 64 * s) : _mm512_loadu_si512((const void *)(x->aq[c] + 64 * s));
    // Reduction tree over rows: rows 2i, 2i+1 → R1 (per 128-bit lane: the
    // two rows' dword pairs summed), four rows → R2[q] (per 128-bit lane L:
    // the sums of rows 4q..4q+3 over elements 16L..16L+15).
    UNROLL
    for (int q = 0; q < 4; q++) {
        __m512i R1[QG_GEMV_MAX_C][2];
        UNROLL
        for (int pr = 0; pr < 2; pr++) {
            const int r = 4 * q + 2 * pr;
            __m512i z0 = codes(t, il, x, r, off, j, half), z1 = codes(t, il, x, r + 1, off, j, half);
            UNROLL
            for (int c = 0; c < C; c++) {
                __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z0, A[c]);
                __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), z1, A[c]);
                R1[c][pr] = _mm512_add_epi32(_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1));
            }
        }
        UNROLL
        for (int c = 0; c < C; c++)
            R2[c][q] = _mm512_add_epi32(_mm512_unpacklo_epi64(R1[c][0], R1[c][1]), _mm512_unpackhi_epi64(R1[c][0], R1[c][1]));
    }
    // Lane L of R2[q] to lane q of group L's vector: G_L = (R2[0].L,
    // R2[1].L, R2[2].L, R2[3].L), rows 0..15 in order.
    __m512i S0[QG_GEMV_MAX_C][2], S1[QG_GEMV_MAX_C][2];
    UNROLL
    for (int c = 0; c < C; c++) {
        __m512i ta = _mm512_shuffle_i32x4(R2[c][0], R2[c][1], 0x88), tb = _mm512_shuffle_i32x4(R2[c][0], R2[c][1], 0xdd);
        __m512i ua = _mm512_shuffle_i32x4(R2[c][2], R2[c][3], 0x88), ub = _mm512_shuffle_i32x4(R2[c][2], R2[c][3], 0xdd);
        if (t == GC_DT_Q6_K) {   // groups of 16: G0, G1 (block 2s), G2, G3 (block 2s+1)
            S0[c][0] = _mm512_shuffle_i32x4(ta, ua, 0x88);
            S0[c][1] = _mm512_shuffle_i32x4(tb, ub, 0x88);
            S1[c][0] = _mm512_shuffle_i32x4(ta, ua, 0xdd);
            S1[c][1] = _mm512_shuffle_i32x4(tb, ub, 0xdd);
        } else {                 // blocks of 32: G0 + G1, G2 + G3
            __m512i xa = _mm512_add_epi32(ta, tb), xb = _mm512_add_epi32(ua, ub);
            S0[c][0] = _mm512_shuffle_i32x4(xa, xb, 0x88);
            S1[c][0] = _mm512_shuffle_i32x4(xa, xb, 0xdd);
        }
    }
    block_f32(t, il, C, x, w, 2 * s, S0, dg, mg, acc);
    if (!half) block_f32(t, il, C, x, w, 2 * s + 1, S1, dg, mg, acc);
}

// All 16 rows of a call, step by step. The 16 rows are 16 streams read a
// few dozen bytes per step each; prefetching each one 256 bytes (two
// super-blocks) ahead measured 5-25 % faster than leaving it to the hardware
// on weights streamed from memory (bench/qgemm_timing.c). Prefetches past a
// row's end only touch the next row or unmapped lines, which never faults.
// That alone leaves every call starting cold: a row of 0.6-4 KB is only
// 14-19 steps long, so the first steps of each group of 16 rows wait on
// memory. So the steps also bring the start of each of the next `ahead`
// rows into L2 (qg_ahead: the first 512 bytes): +21 % batch-1 decode on
// Qwen2.5-0.5B at one thread, +20 % at two, +40 % on SmolLM2-135M on an
// Intel Xeon (bench/RESULTS.md). Rows of up to 1 KB now go whole (as good
// there; on an AMD EPYC the 952-byte rows of Qwen2.5's Q8_0 LM head stream
// at 17.9 instead of 8.4 GB/s), and on AMD every row goes whole (there the
// in-row prefetch falls behind on 2.7-4 KB rows: +27 % decode at one and two
// threads). Measured and left: whole long rows on the Xeon (10-20 % slower:
// there the in-row prefetch keeps up and the extra requests only compete),
// and into L1 (hint T0: half the gain).
INLINE void rows16(const gc_dtype t, const bool il, const int C, const uint8_t *w, size_t rb, int rows,
                   const qg_vact *a, float *y, int64_t ldy, const float *bias, int ahead) {
    rows_ctx x;
    int32_t idx[QG_ROWS];
    UNROLL
    for (int r = 0; r < QG_ROWS; r++) {
        int rr = r < rows ? r : rows - 1;
        x.wr[r] = w + (size_t)rr * rb;
        idx[r] = (int32_t)((size_t)rr * rb);
    }
    x.gidx = _mm512_loadu_si512((const void *)idx);
    x.g = w;
    __m512 acc[QG_GEMV_MAX_C];
    UNROLL
    for (int c = 0; c < C; c++) {
        x.aq[c] = a->q + c * a->K;
        x.ad[c] = a->d + c * a->nb;
        x.as[c] = a->s ? a->s + c * a->nb : NULL;
        x.a16[c] = a->sum16 + c * (a->K / 16);
        acc[c] = _mm512_setzero_ps();
    }
    _Alignas(64) float dg[16][16], mg[8][16];
    const int64_t nb = a->nb;
    const size_t bb = (size_t)qg_gemv_block_bytes(t);
    const qg_ahead nx = qg_ahead_of(w + (size_t)rows * rb, il ? 0 : rb, il ? 0 : ahead, qg_gemv_super(t) ? nb / 8 : nb / 2);
    // Repacked: one stream, prefetched into L2 QG_IL_AHEAD bytes ahead of each
    // iteration's bytes (qgemv.h).
    if (qg_gemv_super(t)) {
        for (int64_t u = 0; u < nb / 8; u++) {
            if (il) {
                for (size_t o = 0; o < 16 * bb; o += 64) _mm_prefetch((const char *)w + 16 * u * bb + QG_IL_AHEAD + o, _MM_HINT_T1);
            } else {
                UNROLL
                for (int r = 0; r < QG_ROWS; r++)   // two super-blocks ahead
                    for (size_t o = 0; o < bb; o += 64) _mm_prefetch((const char *)x.wr[r] + (u + 2) * bb + o, _MM_HINT_T0);
                qg_ahead_step(&nx, u);
            }
            super_scales(t, il, &x, w, u * bb, dg, mg);
            UNROLL
            for (int j = 0; j < 4; j++) step(t, il, C, &x, w, u * bb, j, 4 * u + j, false, dg, mg, acc);
        }
    } else {
        for (int64_t s = 0; s < nb / 2; s++) {
            if (il) {
                for (size_t o = 0; o < 32 * bb; o += 64) _mm_prefetch((const char *)w + 32 * s * bb + QG_IL_AHEAD + o, _MM_HINT_T1);
            } else {
                UNROLL
                for (int r = 0; r < QG_ROWS; r++) _mm_prefetch((const char *)x.wr[r] + 2 * s * bb + 256, _MM_HINT_T0);
                qg_ahead_step(&nx, s);
            }
            step(t, il, C, &x, w, 2 * s * bb, 0, s, false, dg, mg, acc);
        }
        if (nb & 1) step(t, il, C, &x, w, (size_t)(nb - 1) * bb, 0, nb / 2, true, dg, mg, acc);
    }
    const __mmask16 km = (__mmask16)((1u << rows) - 1);
    __m512 bv = bias ? _mm512_maskz_loadu_ps(km, bias) : _mm512_setzero_ps();
    UNROLL
    for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(y + c * ldy, km, _mm512_add_ps(acc[c], bv));
}

// One function per dtype and activation count, each inlining its kernel
// (one function holding all of them would need megabytes of stack in an
// unoptimised build, where inlined locals are not shared).
#define ROWS_FN(T, C)                                                                                                  \
    static TARGET __attribute__((noinline)) void rows_##T##_##C(const uint8_t *w, size_t rb, int rows, const qg_vact *a, \
                                                                float *y, int64_t ldy, const float *bias,               \
                                                                int ahead) {                                           \
        rows16(GC_DT_##T, false, C, w, rb, rows, a, y, ldy, bias, ahead);                                              \
    }                                                                                                                  \
    static TARGET __attribute__((noinline)) void il_##T##_##C(const uint8_t *w, size_t rb, int rows, const qg_vact *a,   \
                                                              float *y, int64_t ldy, const float *bias, int ahead) {     \
        rows16(GC_DT_##T, true, C, w, rb, rows, a, y, ldy, bias, ahead);                                               \
    }
#define ROWS_FNS(T) ROWS_FN(T, 1) ROWS_FN(T, 2) ROWS_FN(T, 3) ROWS_FN(T, 4)
ROWS_FNS(Q8_0) ROWS_FNS(Q4_0) ROWS_FNS(Q4_1) ROWS_FNS(Q5_0) ROWS_FNS(Q5_1) ROWS_FNS(Q4_K) ROWS_FNS(Q5_K) ROWS_FNS(Q6_K)

typedef void (*rows_fn)(const uint8_t *, size_t, int, const qg_vact *, float *, int64_t, const float *, int);
#define CASE(T)                                                                                   \
    case GC_DT_##T: {                                                                             \
        static const rows_fn f[2][4] = {{rows_##T##_1, rows_##T##_2, rows_##T##_3, rows_##T##_4}, \
                                        {il_##T##_1, il_##T##_2, il_##T##_3, il_##T##_4}};        \
        f[il][C - 1](w, row_bytes, rows, a, y, ldy, bias, ahead);                                 \
        break;                                                                                    \
    }

TARGET void qg_gemv_avx512(gc_dtype t, bool il, const uint8_t *w, size_t row_bytes, int rows, const qg_vact *a, int C,
                           float *y, int64_t ldy, const float *bias, int ahead) {
    switch (t) {
        CASE(Q8_0) CASE(Q4_0) CASE(Q4_1) CASE(Q5_0) CASE(Q5_1) CASE(Q4_K) CASE(Q5_K) CASE(Q6_K)
    default: break;
    }
}
