// AVX2 direct products (qgemv.h): 8 weight rows at a time, one block of 32
// elements of each row per ymm; in the repacked layout (qrepack.h, `il`)
// the two halves of a group of 16, their scales loaded instead of gathered.
// Per block each row's codes c are decoded in element order, VPMADDUBSW (u8 code × i8 activation → i16 pairs) and
// VPMADDWD by ones leave 8 partial sums of 4 products, and the 8 rows'
// vectors are reduced together (transpose-and-add) to one ymm per block or
// per group of 16, row r in lane r; then the panel kernel's f32 steps
// (qgemm_avx2.c), lane for lane.
//
// VPMADDUBSW saturates at ±32767: codes up to 63 (Q6_K) give pairs of at
// most 2·63·127 = 16002. Q8_0's codes q + 128 would not fit, so Q8_0 takes
// the sign trick instead (|q| as the unsigned operand, a with q's sign as
// the signed one: |pair| ≤ 2·128·127) and no zero point.
#include "backend/cpu/qgemv.h"
#include "backend/cpu/qrepack.h"
#include "backend/cpu/qblock_avx2.h"
#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

enum { ROWS8 = 8 };

typedef struct rows_ctx {
    const uint8_t *wr[ROWS8];   // GGUF layout: each row's start (rows past the end repeat the last)
    __m256i gidx;               // their byte offsets from the first row
    const uint8_t *g;           // repacked layout (qrepack.h): the group
    int r0;                     // and the first of its rows these 8 are (0 or 8)
    const int8_t *aq[QG_GEMV_MAX_C];
    const float *ad[QG_GEMV_MAX_C], *as[QG_GEMV_MAX_C];
    const int32_t *a16[QG_GEMV_MAX_C];
} rows_ctx;

// Row r's copy of the field at byte fo (fs bytes) of the block at byte off
// of a row, in either layout (il: repacked, qrepack.h).
INLINE const uint8_t *fld(const gc_dtype t, const bool il, const rows_ctx *x, int r, size_t off, int fo, int fs) {
    return il ? x->g + 16 * off + qg_field_pos(t, fo) + (size_t)(x->r0 + r) * (size_t)fs : x->wr[r] + off + fo;
}

// The 32 codes of one block of row r (Q8_0: its signed values). off: the
// block, or for the K-quants its super-block, j = the block's index 0..7 in
// it.
INLINE __m256i codes(const gc_dtype t, const bool il, const rows_ctx *x, int r, size_t off, const int j) {
    const __m256i m4 = _mm256_set1_epi8(15);
    switch (t) {
    case GC_DT_Q8_0: return _mm256_loadu_si256((const __m256i *)fld(t, il, x, r, off, 2, 32));
    case GC_DT_Q4_0:
    case GC_DT_Q4_1:
    case GC_DT_Q5_0:
    case GC_DT_Q5_1: {
        const int qo = qg_gemv_block_bytes(t) - 16;
        __m256i c = qb_nibbles32(fld(t, il, x, r, off, qo, 16));
        if (t == GC_DT_Q5_0 || t == GC_DT_Q5_1) c = _mm256_or_si256(c, qb_bits32(fld(t, il, x, r, off, qo - 4, 4)));
        return c;
    }
    case GC_DT_Q4_K:
    case GC_DT_Q5_K: {
        const int qo = t == GC_DT_Q4_K ? 16 : 48;
        __m256i v = _mm256_loadu_si256((const __m256i *)(fld(t, il, x, r, off, qo + 32 * (j / 2), 32)));
        __m256i c = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(v, 4) : v, m4);
        if (t == GC_DT_Q5_K) {
            const __m256i qh = _mm256_loadu_si256((const __m256i *)fld(t, il, x, r, off, 16, 32)), bit = _mm256_set1_epi8((char)(1 << j));
            c = _mm256_or_si256(c, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit), _mm256_set1_epi8(16)));
        }
        return c;
    }
    default: {   // Q6_K: block j = half j/4, quarter k = j%4 of it (layout in qgemm_pack.c)
        const int h = j / 4, k = j % 4;
        __m256i l = _mm256_loadu_si256((const __m256i *)(fld(t, il, x, r, off, 64 * h, 64) + 32 * (k % 2)));
        __m256i hb = _mm256_loadu_si256((const __m256i *)(fld(t, il, x, r, off, 128 + 32 * h, 32)));
        __m256i lo = _mm256_and_si256(k < 2 ? l : _mm256_srli_epi16(l, 4), m4);
        __m256i hi = k == 0 ? _mm256_slli_epi16(hb, 4) : k == 1 ? _mm256_slli_epi16(hb, 2) : k == 2 ? hb : _mm256_srli_epi16(hb, 2);
        return _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(0x30)));
    }
    }
}

// Sums of 4 products per dword: codes z times activations a.
INLINE __m256i dot4(const gc_dtype t, __m256i z, __m256i a) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (t == GC_DT_Q8_0) return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(z), _mm256_sign_epi8(a, z)), ones);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(z, a), ones);
}

// f16 in the low (high = false) or high 16 bits of each lane, to f32.
INLINE __m256 f16_lanes(__m256i g, const bool high) {
    __m256i v = high ? _mm256_srli_epi32(g, 16) : _mm256_and_si256(g, _mm256_set1_epi32(0xffff));
    v = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08);   // the 8 words in the low 128 bits
    return _mm256_cvtph_ps(_mm256_castsi256_si128(v));
}

INLINE __m256i gather(__m256i gidx, const uint8_t *p) { return _mm256_i32gather_epi32((const int *)(const void *)p, gidx, 1); }

// The f16 field at byte fo of the block at off, 8 rows, to f32: one load
// repacked, a gather from the GGUF layout (the dword at fo - 2 when hi, so
// that Q6_K's d at 208 is read without passing the block's end).
INLINE __m256 f16_field(const gc_dtype t, const bool il, const rows_ctx *x, const uint8_t *w, size_t off, int fo, const bool hi) {
    if (il) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)fld(t, il, x, 0, off, fo, 2)));
    return f16_lanes(gather(x->gidx, w + off + fo - (hi ? 2 : 0)), hi);
}
// The dword field at byte fo of the block at off, 8 rows.
INLINE __m256i dword_field(const gc_dtype t, const bool il, const rows_ctx *x, const uint8_t *w, size_t off, int fo) {
    if (il) return _mm256_loadu_si256((const __m256i *)fld(t, il, x, 0, off, fo, 4));
    return gather(x->gidx, w + off + fo);
}

// Sub-block scales of the super-block at byte off of the 8 rows (see
// qgemv_avx512.c).
INLINE void super_scales(const gc_dtype t, const bool il, const rows_ctx *x, const uint8_t *w, size_t off,
                         float dg[16][8], float mg[8][8]) {
    if (t == GC_DT_Q6_K) {
        __m256 dd = f16_field(t, il, x, w, off, 208, true);
        UNROLL
        for (int q = 0; q < 4; q++) {
            __m256i s = dword_field(t, il, x, w, off, 192 + 4 * q);
            UNROLL
            for (int i = 0; i < 4; i++) {
                __m256i sc = _mm256_srai_epi32(_mm256_slli_epi32(s, 24 - 8 * i), 24);
                _mm256_store_ps(dg[4 * q + i], _mm256_mul_ps(dd, _mm256_cvtepi32_ps(sc)));
            }
        }
        return;
    }
    __m256 dd, dmin;
    if (il) {
        dd = f16_field(t, il, x, w, off, 0, false);
        dmin = f16_field(t, il, x, w, off, 2, false);
    } else {   // one gather for both
        __m256i g = gather(x->gidx, w + off);
        dd = f16_lanes(g, false);
        dmin = f16_lanes(g, true);
    }
    __m256i s0 = dword_field(t, il, x, w, off, 4), s1 = dword_field(t, il, x, w, off, 8), s2 = dword_field(t, il, x, w, off, 12);
    const __m256i m6 = _mm256_set1_epi32(63), m4 = _mm256_set1_epi32(15), m2 = _mm256_set1_epi32(3);
    const __m256 neg = _mm256_set1_ps(-0.0f);
    UNROLL
    for (int j = 0; j < 8; j++) {
        __m256i sc, mn;
        if (j < 4) {
            sc = _mm256_and_si256(_mm256_srli_epi32(s0, 8 * j), m6);
            mn = _mm256_and_si256(_mm256_srli_epi32(s1, 8 * j), m6);
        } else {
            const int i = j - 4;
            sc = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s2, 8 * i), m4),
                                 _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(s0, 8 * i + 6), m2), 4));
            mn = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s2, 8 * i + 4), m4),
                                 _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(s1, 8 * i + 6), m2), 4));
        }
        _mm256_store_ps(dg[j], _mm256_mul_ps(dd, _mm256_cvtepi32_ps(sc)));
        _mm256_store_ps(mg[j], _mm256_xor_ps(_mm256_mul_ps(dmin, _mm256_cvtepi32_ps(mn)), neg));
    }
}

// Block b of the 8 rows (off: byte offset of its block or super-block in a
// row, j: its index in the super-block): products, reduction, then the panel
// kernel's f32 steps in its order.
INLINE void block(const gc_dtype t, const bool il, const int C, const rows_ctx *x, const uint8_t *w, size_t off, const int j,
                  int64_t b, float dg[16][8], float mg[8][8], __m256 *acc) {
    const int zp = t == GC_DT_Q8_0 ? 0 : qg_gemv_zero_point(t);
    const bool mn = t == GC_DT_Q4_1 || t == GC_DT_Q5_1 || t == GC_DT_Q4_K || t == GC_DT_Q5_K;
    __m256i A[QG_GEMV_MAX_C], R2[QG_GEMV_MAX_C][2];
    UNROLL
    for (int c = 0; c < C; c++) A[c] = _mm256_loadu_si256((const __m256i *)(x->aq[c] + 32 * b));
    // Rows 2i, 2i+1 → R1; four rows → R2[q] (per 128-bit lane L: the sums of
    // rows 4q..4q+3 over elements 16L..16L+15).
    UNROLL
    for (int q = 0; q < 2; q++) {
        __m256i R1[QG_GEMV_MAX_C][2];
        UNROLL
        for (int pr = 0; pr < 2; pr++) {
            const int r = 4 * q + 2 * pr;
            __m256i z0 = codes(t, il, x, r, off, j), z1 = codes(t, il, x, r + 1, off, j);
            UNROLL
            for (int c = 0; c < C; c++) {
                __m256i p0 = dot4(t, z0, A[c]), p1 = dot4(t, z1, A[c]);
                R1[c][pr] = _mm256_add_epi32(_mm256_unpacklo_epi32(p0, p1), _mm256_unpackhi_epi32(p0, p1));
            }
        }
        UNROLL
        for (int c = 0; c < C; c++)
            R2[c][q] = _mm256_add_epi32(_mm256_unpacklo_epi64(R1[c][0], R1[c][1]), _mm256_unpackhi_epi64(R1[c][0], R1[c][1]));
    }
    if (t == GC_DT_Q6_K) {
        __m256 d0 = _mm256_load_ps(dg[2 * j]), d1 = _mm256_load_ps(dg[2 * j + 1]);
        UNROLL
        for (int c = 0; c < C; c++) {
            __m256i g0 = _mm256_permute2x128_si256(R2[c][0], R2[c][1], 0x20), g1 = _mm256_permute2x128_si256(R2[c][0], R2[c][1], 0x31);
            g0 = _mm256_sub_epi32(g0, _mm256_set1_epi32(zp * x->a16[c][2 * b]));
            g1 = _mm256_sub_epi32(g1, _mm256_set1_epi32(zp * x->a16[c][2 * b + 1]));
            __m256 s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(g0), d0, _mm256_mul_ps(_mm256_cvtepi32_ps(g1), d1));
            acc[c] = _mm256_fmadd_ps(s, _mm256_set1_ps(x->ad[c][b]), acc[c]);
        }
        return;
    }
    __m256 dv, mv = _mm256_setzero_ps();
    if (qg_gemv_super(t)) {
        dv = _mm256_load_ps(dg[j]);
        mv = _mm256_load_ps(mg[j]);
    } else if (il) {
        dv = f16_field(t, il, x, w, off, 0, false);
        if (mn) mv = f16_field(t, il, x, w, off, 2, false);
    } else {   // one gather for d and m
        __m256i g = gather(x->gidx, w + off);
        dv = f16_lanes(g, false);
        if (mn) mv = f16_lanes(g, true);
    }
    UNROLL
    for (int c = 0; c < C; c++) {
        __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(R2[c][0], R2[c][1], 0x20),
                                     _mm256_permute2x128_si256(R2[c][0], R2[c][1], 0x31));
        if (zp) s = _mm256_sub_epi32(s, _mm256_set1_epi32(zp * (x->a16[c][2 * b] + x->a16[c][2 * b + 1])));
        acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(x->ad[c][b])), dv, acc[c]);
        if (mn) acc[c] = _mm256_fmadd_ps(mv, _mm256_set1_ps(x->as[c][b]), acc[c]);
    }
}

// ahead: rows after these 8 whose heads go into L2 meanwhile (qgemv_avx512.c's rows16 says why).
// Repacked (il): w is the group, r0 the first of its rows these are.
INLINE void rows8(const gc_dtype t, const bool il, const int C, const uint8_t *w, int r0, size_t rb, int rows,
                  const qg_vact *a, float *y, int64_t ldy, const float *bias, int ahead) {
    rows_ctx x;
    int32_t idx[ROWS8];
    UNROLL
    for (int r = 0; r < ROWS8; r++) {
        int rr = r < rows ? r : rows - 1;
        x.wr[r] = w + (size_t)rr * rb;
        idx[r] = (int32_t)((size_t)rr * rb);
    }
    x.gidx = _mm256_loadu_si256((const __m256i *)idx);
    x.g = w;
    x.r0 = r0;
    __m256 acc[QG_GEMV_MAX_C];
    UNROLL
    for (int c = 0; c < C; c++) {
        x.aq[c] = a->q + c * a->K;
        x.ad[c] = a->d + c * a->nb;
        x.as[c] = a->s ? a->s + c * a->nb : NULL;   // the offset formats have one group per block
        x.a16[c] = a->sum16 + c * (a->K / 16);
        acc[c] = _mm256_setzero_ps();
    }
    _Alignas(32) float dg[16][8], mg[8][8];
    const int64_t nb = a->nb;
    const size_t bb = (size_t)qg_gemv_block_bytes(t);
    const qg_ahead nx = qg_ahead_of(w + (size_t)rows * rb, il ? 0 : rb, il ? 0 : ahead, qg_gemv_super(t) ? nb / 8 : (nb + 1) / 2);
    // Repacked: one stream, prefetched into L2 QG_IL_AHEAD bytes ahead (qgemv.h) by
    // the group's first call (the second reads the same bytes again).
    if (qg_gemv_super(t)) {
        for (int64_t u = 0; u < nb / 8; u++) {
            if (il && r0 == 0) {
                for (size_t o = 0; o < 16 * bb; o += 64) _mm_prefetch((const char *)w + 16 * u * bb + QG_IL_AHEAD + o, _MM_HINT_T1);
            } else if (!il) {
                UNROLL
                for (int r = 0; r < ROWS8; r++)   // two super-blocks ahead (see qgemv_avx512.c)
                    for (size_t o = 0; o < bb; o += 64) _mm_prefetch((const char *)x.wr[r] + (u + 2) * bb + o, _MM_HINT_T0);
                qg_ahead_step(&nx, u);
            }
            super_scales(t, il, &x, w, u * bb, dg, mg);
            UNROLL
            for (int j = 0; j < 8; j++) block(t, il, C, &x, w, u * bb, j, 8 * u + j, dg, mg, acc);
        }
    } else {
        for (int64_t b = 0; b < nb; b++) {
            if (b % 2 == 0 && il && r0 == 0) {
                for (size_t o = 0; o < 32 * bb; o += 64) _mm_prefetch((const char *)w + 16 * b * bb + QG_IL_AHEAD + o, _MM_HINT_T1);
            } else if (b % 2 == 0 && !il) {   // 256 bytes ahead, once per 2 blocks (at most 68 bytes)
                UNROLL
                for (int r = 0; r < ROWS8; r++) _mm_prefetch((const char *)x.wr[r] + (size_t)b * bb + 256, _MM_HINT_T0);
                qg_ahead_step(&nx, b / 2);
            }
            block(t, il, C, &x, w, (size_t)b * bb, 0, b, dg, mg, acc);
        }
    }
    float bv[ROWS8] = {0};
    if (bias) memcpy(bv, bias, (size_t)rows * sizeof(float));
    UNROLL
    for (int c = 0; c < C; c++) {
        float out[ROWS8];
        _mm256_storeu_ps(out, _mm256_add_ps(acc[c], _mm256_loadu_ps(bv)));
        memcpy(y + c * ldy, out, (size_t)rows * sizeof(float));
    }
}

// One function per dtype and activation count, each inlining its kernel
// (one function holding all of them would need megabytes of stack in an
// unoptimised build, where inlined locals are not shared).
#define ROWS_FN(T, C)                                                                                                  \
    static __attribute__((noinline)) void rows_##T##_##C(const uint8_t *w, int r0, size_t rb, int rows,                 \
                                                         const qg_vact *a, float *y, int64_t ldy, const float *bias,    \
                                                         int ahead) {                                                   \
        rows8(GC_DT_##T, false, C, w, r0, rb, rows, a, y, ldy, bias, ahead);                                           \
    }                                                                                                                  \
    static __attribute__((noinline)) void il_##T##_##C(const uint8_t *w, int r0, size_t rb, int rows, const qg_vact *a, \
                                                       float *y, int64_t ldy, const float *bias, int ahead) {          \
        rows8(GC_DT_##T, true, C, w, r0, rb, rows, a, y, ldy, bias, ahead);                                            \
    }
#define ROWS_FNS(T) ROWS_FN(T, 1) ROWS_FN(T, 2) ROWS_FN(T, 3) ROWS_FN(T, 4)
ROWS_FNS(Q8_0) ROWS_FNS(Q4_0) ROWS_FNS(Q4_1) ROWS_FNS(Q5_0) ROWS_FNS(Q5_1) ROWS_FNS(Q4_K) ROWS_FNS(Q5_K) ROWS_FNS(Q6_K)

typedef void (*rows_fn)(const uint8_t *, int, size_t, int, const qg_vact *, float *, int64_t, const float *, int);
#define CASE(T)                                                                                   \
    case GC_DT_##T: {                                                                             \
        static const rows_fn f[2][4] = {{rows_##T##_1, rows_##T##_2, rows_##T##_3, rows_##T##_4}, \
                                        {il_##T##_1, il_##T##_2, il_##T##_3, il_##T##_4}};        \
        f[il][C - 1](w, r0, row_bytes, rows, a, y, ldy, bias, ahead);                             \
        break;                                                                                    \
    }

static void gemv8(gc_dtype t, bool il, const uint8_t *w, int r0, size_t row_bytes, int rows, const qg_vact *a, int C,
                  float *y, int64_t ldy, const float *bias, int ahead) {
    switch (t) {
        CASE(Q8_0) CASE(Q4_0) CASE(Q4_1) CASE(Q5_0) CASE(Q5_1) CASE(Q4_K) CASE(Q5_K) CASE(Q6_K)
    default: break;
    }
}

bool qg_gemv_supports(gc_dtype t) { return qg_gemv_block_bytes(t) > 0; }

// Two calls of 8 rows: each starts the 8 rows after it (the group's second
// half, then the caller's next rows). Repacked, both read the same group.
void qg_gemv_avx2(gc_dtype t, bool il, const uint8_t *w, size_t row_bytes, int rows, const qg_vact *a, int C, float *y,
                  int64_t ldy, const float *bias, int ahead) {
    for (int r0 = 0; r0 < rows; r0 += ROWS8) {
        const int n = rows - r0 < ROWS8 ? rows - r0 : ROWS8, after = rows - r0 - n + ahead;
        gemv8(t, il, il ? w : w + (size_t)r0 * row_bytes, r0, row_bytes, n, a, C, y + r0, ldy, bias ? bias + r0 : NULL,
              after < ROWS8 ? after : ROWS8);
    }
}
