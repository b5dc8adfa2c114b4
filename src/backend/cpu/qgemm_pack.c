// Weight panels for the fast matmul (layout in qgemm_panel.h): each dtype's
// blocks are decoded to int8 values with per-group scales and offsets, then
// 16 rows are interleaved 4 bytes at a time.
//
// Every decoded value is exact: q is the stored integer (minus the format's
// zero point), and d·sc / dmin·mn products of the K-quants are exact in f32
// (an 11-bit f16 mantissa times at most 8 bits of sub-scale).
//
// Block layouts read here (GGML; little-endian):
//   Q8_0  34 B : f16 d | i8 qs[32]                      q = qs
//   Q4_0  18 B : f16 d | u8 qs[16]                      q = nib - 8
//   Q4_1  20 B : f16 d | f16 m | u8 qs[16]              q = nib, offset m
//   Q5_0  22 B : f16 d | u8 qh[4] | u8 qs[16]           q = (nib | h<<4) - 16
//   Q5_1  24 B : f16 d | f16 m | u8 qh[4] | u8 qs[16]   q = nib | h<<4, offset m
//     nib of element j: qs[j] & 15 for j < 16, qs[j-16] >> 4 for j >= 16;
//     h of element j: bit j of qh read as a little-endian u32.
//   Q4_K / Q5_K / Q6_K / Q2_K / Q3_K / IQ4_NL / IQ4_XS: see format/quant.c.
#include "backend/cpu/qgemm_panel.h"
#include "format/quant.h"
#include "backend/cpu/qblock_avx2.h"
#include "backend/cpu/qrepack.h"
#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

static float f16(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); }

// ---- decoders of one dtype block of one row: q (be values), d and m per group ----

// Where a decoder finds its block: b, a block in the GGUF layout (il false),
// or (il true, the dtypes of qrepack.h) the block of a repacked group, whose
// field fo of row r is at qg_field_pos(fo) + r·fs from b.
typedef struct qv {
    const uint8_t *b;
    int r;
    bool il;
} qv;
#define AT(v, T, fo, fs) ((v).il ? (v).b + qg_field_pos(GC_DT_##T, fo) + (size_t)(v).r * (fs) : (v).b + (fo))

INLINE void dec_q8_0(qv v, int8_t *q, float *d, float *m) {
    (void)m;
    d[0] = f16(AT(v, Q8_0, 0, 2));
    memcpy(q, AT(v, Q8_0, 2, 32), 32);
}

INLINE void dec_q4_0(qv v, int8_t *q, float *d, float *m) {
    (void)m;
    d[0] = f16(AT(v, Q4_0, 0, 2));
    _mm256_storeu_si256((__m256i *)q, _mm256_sub_epi8(qb_nibbles32(AT(v, Q4_0, 2, 16)), _mm256_set1_epi8(8)));
}

INLINE void dec_q4_1(qv v, int8_t *q, float *d, float *m) {
    d[0] = f16(AT(v, Q4_1, 0, 2));
    m[0] = f16(AT(v, Q4_1, 2, 2));
    _mm256_storeu_si256((__m256i *)q, qb_nibbles32(AT(v, Q4_1, 4, 16)));
}

INLINE void dec_q5_0(qv v, int8_t *q, float *d, float *m) {
    (void)m;
    d[0] = f16(AT(v, Q5_0, 0, 2));
    __m256i x = _mm256_or_si256(qb_nibbles32(AT(v, Q5_0, 6, 16)), qb_bits32(AT(v, Q5_0, 2, 4)));
    _mm256_storeu_si256((__m256i *)q, _mm256_sub_epi8(x, _mm256_set1_epi8(16)));
}

INLINE void dec_q5_1(qv v, int8_t *q, float *d, float *m) {
    d[0] = f16(AT(v, Q5_1, 0, 2));
    m[0] = f16(AT(v, Q5_1, 2, 2));
    _mm256_storeu_si256((__m256i *)q, _mm256_or_si256(qb_nibbles32(AT(v, Q5_1, 8, 16)), qb_bits32(AT(v, Q5_1, 4, 4))));
}

// 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block (packing in quant.c).
INLINE void k_scale_min(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// Q4_K (five = false) and Q5_K: 8 sub-blocks of 32, q unsigned, offset -dmin·mn.
#define AT45(v, fo, fs) (five ? AT(v, Q5_K, fo, fs) : AT(v, Q4_K, fo, fs))
INLINE void dec_k45(qv v, int8_t *q, float *d, float *m, const bool five) {
    float dd = f16(AT45(v, 0, 2)), dmin = f16(AT45(v, 2, 2));
    uint8_t sc[12];   // the packed sub-scales: three dwords, apart when repacked
    UNROLL
    for (int i = 0; i < 3; i++) memcpy(sc + 4 * i, AT45(v, 4 + 4 * i, 4), 4);
    const int qo = five ? 48 : 16;
    const __m256i lo = _mm256_set1_epi8(15), sixteen = _mm256_set1_epi8(16);
    __m256i qh = five ? _mm256_loadu_si256((const __m256i *)AT45(v, 16, 32)) : _mm256_setzero_si256();
    UNROLL
    for (int c = 0; c < 4; c++) {
        const uint8_t *qs = AT45(v, qo + 32 * c, 32);
        UNROLL
        for (int h = 0; h < 2; h++) {
            int s, n;
            k_scale_min(sc, 2 * c + h, &s, &n);
            d[2 * c + h] = dd * (float)s;
            m[2 * c + h] = -(dmin * (float)n);
        }
        __m256i v = _mm256_loadu_si256((const __m256i *)qs);
        __m256i a = _mm256_and_si256(v, lo), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo);
        if (five) {
            __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * c))), b1 = _mm256_set1_epi8((char)(2 << (2 * c)));
            a = _mm256_or_si256(a, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), sixteen));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), sixteen));
        }
        _mm256_storeu_si256((__m256i *)(q + 64 * c), a);
        _mm256_storeu_si256((__m256i *)(q + 64 * c + 32), hi);
    }
}

#undef AT45
INLINE void dec_q4_k(qv v, int8_t *q, float *d, float *m) { dec_k45(v, q, d, m, false); }
INLINE void dec_q5_k(qv v, int8_t *q, float *d, float *m) { dec_k45(v, q, d, m, true); }

// Q6_K: 16 groups of 16, q = 6 bits - 32, scale d·scales[g].
INLINE void dec_q6_k(qv v, int8_t *q, float *d, float *m) {
    (void)m;
    float dd = f16(AT(v, Q6_K, 208, 2));
    int8_t sc[16];   // four dwords, apart when repacked
    UNROLL
    for (int i = 0; i < 4; i++) memcpy(sc + 4 * i, AT(v, Q6_K, 192 + 4 * i, 4), 4);
    UNROLL
    for (int g = 0; g < 16; g++) d[g] = dd * (float)sc[g];
    const __m256i lo = _mm256_set1_epi8(15), three = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    UNROLL
    for (int half = 0; half < 2; half++, q += 128) {
        const uint8_t *ql = AT(v, Q6_K, 64 * half, 64);
        __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        __m256i hb = _mm256_loadu_si256((const __m256i *)AT(v, Q6_K, 128 + 32 * half, 32));
        __m256i r[4] = {_mm256_and_si256(l0, lo), _mm256_and_si256(l1, lo), _mm256_and_si256(_mm256_srli_epi16(l0, 4), lo),
                        _mm256_and_si256(_mm256_srli_epi16(l1, 4), lo)};
        UNROLL
        for (int k = 0; k < 4; k++) {
            __m256i hk = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), three);
            __m256i v = _mm256_sub_epi8(_mm256_or_si256(r[k], _mm256_slli_epi16(hk, 4)), off);
            _mm256_storeu_si256((__m256i *)(q + 32 * k), v);
        }
    }
}

// Q2_K: 16 groups of 16, q 2 bits, scale d·sc and offset -dmin·mn per group.
INLINE void dec_q2_k(qv v, int8_t *q, float *d, float *m) {   // GGUF layout only
    const uint8_t *b = v.b;
    float dd = f16(b + 80), dmin = f16(b + 82);
    UNROLL
    for (int g = 0; g < 16; g++) {
        d[g] = dd * (float)(b[g] & 15);
        m[g] = -(dmin * (float)(b[g] >> 4));
    }
    const __m256i three = _mm256_set1_epi8(3);
    UNROLL
    for (int h = 0; h < 2; h++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * h));
        UNROLL
        for (int r = 0; r < 4; r++)
            _mm256_storeu_si256((__m256i *)(q + 128 * h + 32 * r), _mm256_and_si256(_mm256_srli_epi16(v, 2 * r), three));
    }
}

// Q3_K: 16 groups of 16, q in -4..3 (4 taken off where the high bit is
// clear), scale d·(sc-32).
INLINE void dec_q3_k(qv v, int8_t *q, float *d, float *m) {   // GGUF layout only
    const uint8_t *b = v.b;
    (void)m;
    float dd = f16(b + 108);
    const uint8_t *s = b + 96;
    UNROLL
    for (int g = 0; g < 16; g++) {
        int lo = g < 8 ? s[g] & 15 : s[g - 8] >> 4;
        int hi = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
        d[g] = dd * (float)((lo | hi << 4) - 32);
    }
    const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    const __m256i hm = _mm256_loadu_si256((const __m256i *)b);
    UNROLL
    for (int h = 0; h < 2; h++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(b + 32 + 32 * h));
        UNROLL
        for (int r = 0; r < 4; r++) {
            const __m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + r)));
            __m256i clear = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), _mm256_setzero_si256());
            __m256i v2 = _mm256_and_si256(_mm256_srli_epi16(v, 2 * r), three);
            _mm256_storeu_si256((__m256i *)(q + 128 * h + 32 * r), _mm256_sub_epi8(v2, _mm256_and_si256(clear, four)));
        }
    }
}

// GGML's IQ4 codebook, one signed code per nibble.
INLINE __m256i iq4_codes(__m256i nib) {
    const __m256i kv = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
                                        -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
    return _mm256_shuffle_epi8(kv, nib);
}

INLINE void dec_iq4_nl(qv v, int8_t *q, float *d, float *m) {   // GGUF layout only
    const uint8_t *b = v.b;
    (void)m;
    d[0] = f16(b);
    _mm256_storeu_si256((__m256i *)q, iq4_codes(qb_nibbles32(b + 2)));
}

// IQ4_XS: 8 sub-blocks of 32 with scale d·(ls-32).
INLINE void dec_iq4_xs(qv v, int8_t *q, float *d, float *m) {   // GGUF layout only
    const uint8_t *b = v.b;
    (void)m;
    float dd = f16(b);
    unsigned sh = b[2] | b[3] << 8;
    UNROLL
    for (int j = 0; j < 8; j++) {
        int lo = (b[4 + j / 2] >> (4 * (j % 2))) & 15;
        d[j] = dd * (float)((lo | (int)((sh >> (2 * j)) & 3) << 4) - 32);
        _mm256_storeu_si256((__m256i *)(q + 32 * j), iq4_codes(qb_nibbles32(b + 8 + 16 * j)));
    }
}

// Panel format per dtype: groups per block, offsets, wide values.
#define FMT_Q8_0 ((qg_fmt){1, false, true})
#define FMT_Q4_0 ((qg_fmt){1, false, false})
#define FMT_Q4_1 ((qg_fmt){1, true, false})
#define FMT_Q4_K ((qg_fmt){1, true, false})
#define FMT_Q5_K ((qg_fmt){1, true, false})
#define FMT_Q6_K ((qg_fmt){2, false, false})
#define FMT_Q5_0 ((qg_fmt){1, false, false})
#define FMT_Q5_1 ((qg_fmt){1, true, false})
#define FMT_Q2_K ((qg_fmt){2, true, false})
#define FMT_Q3_K ((qg_fmt){2, false, false})
#define FMT_IQ4_NL ((qg_fmt){1, false, true})
#define FMT_IQ4_XS ((qg_fmt){1, false, true})

bool qg_fmt_of(gc_dtype t, qg_fmt *f) {
    switch (t) {
    case GC_DT_Q8_0: *f = FMT_Q8_0; return true;
    case GC_DT_Q4_0: *f = FMT_Q4_0; return true;
    case GC_DT_Q4_1: *f = FMT_Q4_1; return true;
    case GC_DT_Q4_K: *f = FMT_Q4_K; return true;
    case GC_DT_Q5_K: *f = FMT_Q5_K; return true;
    case GC_DT_Q6_K: *f = FMT_Q6_K; return true;
    case GC_DT_Q5_0: *f = FMT_Q5_0; return true;
    case GC_DT_Q5_1: *f = FMT_Q5_1; return true;
    case GC_DT_Q2_K: *f = FMT_Q2_K; return true;
    case GC_DT_Q3_K: *f = FMT_Q3_K; return true;
    case GC_DT_IQ4_NL: *f = FMT_IQ4_NL; return true;
    case GC_DT_IQ4_XS: *f = FMT_IQ4_XS; return true;
    default: return false;
    }
}

typedef void (*dec_fn)(qv v, int8_t *q, float *d, float *m);
// acc + the sum of each 4-byte group of v (signed bytes) in its 32-bit lane.
typedef __m256i (*sum_fn)(__m256i acc, __m256i v);

INLINE __m256i sum4_avx2(__m256i acc, __m256i v) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v), _mm256_set1_epi16(1)));
}

// 8x8 transpose of 32-bit lanes: in[r] holds dwords 0..7 of row r; out[k]
// holds dword k of rows 0..7.
INLINE void transpose8(const __m256i in[8], __m256i out[8]) {
    __m256i t[8], u[8];
    UNROLL
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(in[2 * i], in[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(in[2 * i], in[2 * i + 1]);
    }
    UNROLL
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    UNROLL
    for (int k = 0; k < 4; k++) {
        out[k] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x20);
        out[k + 4] = _mm256_permute2x128_si256(u[k], u[k + 4], 0x31);
    }
}

// The generic packer: be elements per dtype block of bb bytes, groups of
// 32/ng elements, `dec` decoding one block of one row. Rows are decoded one
// after the other into scratch (one linear pass over the panel's contiguous
// rows, which the hardware prefetcher follows; repacked (il), the first row
// brings the group's lines in and the others find them in cache), then
// interleaved.
INLINE void pack_with(dec_fn dec, sum_fn sum4, int be, size_t bb, qg_fmt f, const bool il, const uint8_t *w,
                      size_t row_bytes, int rows, int64_t K, uint8_t *panel, void *scratch) {
    const int64_t ngr = K / 32 * f.ng;   // groups per row
    int8_t *q = scratch;                 // [16][K]
    float *d = (float *)(q + QG_ROWS * K), *m = d + QG_ROWS * ngr;   // [16][ngr] each
    const int gpb = be / 32 * f.ng;      // groups per dtype block
    const size_t stride = qg_block_bytes(&f);
    for (int r = 0; r < QG_ROWS; r++) {
        int8_t *qr = q + r * K;
        float *dr = d + r * ngr, *mr = m + r * ngr;
        if (r >= rows) {   // rows past the weight's end are zero
            memset(qr, 0, (size_t)K);
            memset(dr, 0, (size_t)ngr * sizeof(float));
            memset(mr, 0, (size_t)ngr * sizeof(float));
            continue;
        }
        const uint8_t *wr = w + (size_t)r * row_bytes;
        // Ask for the same row of the next panel now (repacked: the r-th
        // sixteenth of the next group): decode steps (T = 1) stream the
        // weights once, and the decode work between loads keeps the hardware
        // prefetcher from running far enough ahead on its own. (Past the
        // weight's end this only hints at unmapped lines; prefetches never
        // fault.)
        const char *nx = (const char *)wr + QG_ROWS * row_bytes;
        for (size_t o = 0; o < row_bytes; o += 64) _mm_prefetch(nx + o, _MM_HINT_T0);
        for (int64_t j = 0; j < K / be; j++) {
            const qv v = il ? (qv){w + 16 * (size_t)j * bb, r, true} : (qv){wr + (size_t)j * bb, 0, false};
            dec(v, qr + j * be, dr + j * gpb, mr + j * gpb);
        }
    }
    for (int64_t s = 0; s < K / QG_BLK; s++) {
        uint8_t *p = panel + (size_t)s * stride;
        int32_t *init = (int32_t *)(p + 512);
        float *pd = (float *)(p + 512 + 64 * f.ng), *pm = pd + 16 * f.ng;
        UNROLL
        for (int h = 0; h < 2; h++) {   // rows 0..7, then 8..15
            __m256i in[8], out[8];
            UNROLL
            for (int r = 0; r < 8; r++) in[r] = _mm256_loadu_si256((const __m256i *)(q + (8 * h + r) * K + QG_BLK * s));
            transpose8(in, out);
            __m256i sum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
            UNROLL
            for (int k = 0; k < 8; k++) {
                _mm256_store_si256((__m256i *)(p + 64 * k + 32 * h), out[k]);
                if (f.ng == 2 && k >= 4) sum[1] = sum4(sum[1], out[k]);
                else sum[0] = sum4(sum[0], out[k]);
            }
            UNROLL
            for (int g = 0; g < f.ng; g++)
                _mm256_store_si256((__m256i *)(init + 16 * g + 8 * h), _mm256_mullo_epi32(sum[g], _mm256_set1_epi32(-128)));
        }
        UNROLL
        for (int g = 0; g < f.ng; g++)
            UNROLL
            for (int r = 0; r < QG_ROWS; r++) {
                pd[16 * g + r] = d[r * ngr + s * f.ng + g];
                if (f.min) pm[16 * g + r] = m[r * ngr + s * f.ng + g];
            }
    }
}

// q [16][K] plus d and m [16][K/16] (at most two groups per 32 elements).
size_t qg_pack_scratch_bytes(int64_t K) { return (size_t)(QG_ROWS * K) + 2 * (size_t)(QG_ROWS * (K / 16)) * sizeof(float); }

// The packers of every dtype with a decoder and a lane-sum function; IL:
// the repacked layout (only the dtypes of qrepack.h get there).
#define PACK_ONE(DEC, SUM, BE, BB, FMT, IL) pack_with(DEC, SUM, BE, BB, FMT, IL, w, row_bytes, rows, K, panel, scratch)
#define PACK_CASES(Q50, SUM, IL)                                                                       \
    switch (t) {                                                                                       \
    case GC_DT_Q8_0: PACK_ONE(dec_q8_0, SUM, 32, 34, FMT_Q8_0, IL); break;                             \
    case GC_DT_Q4_0: PACK_ONE(dec_q4_0, SUM, 32, 18, FMT_Q4_0, IL); break;                             \
    case GC_DT_Q4_1: PACK_ONE(dec_q4_1, SUM, 32, 20, FMT_Q4_1, IL); break;                             \
    case GC_DT_Q4_K: PACK_ONE(dec_q4_k, SUM, 256, 144, FMT_Q4_K, IL); break;                           \
    case GC_DT_Q5_K: PACK_ONE(dec_q5_k, SUM, 256, 176, FMT_Q5_K, IL); break;                           \
    case GC_DT_Q6_K: PACK_ONE(dec_q6_k, SUM, 256, 210, FMT_Q6_K, IL); break;                           \
    case GC_DT_Q5_0: PACK_ONE(Q50, SUM, 32, 22, FMT_Q5_0, IL); break;                                  \
    case GC_DT_Q5_1: PACK_ONE(dec_q5_1, SUM, 32, 24, FMT_Q5_1, IL); break;                             \
    case GC_DT_Q2_K: if (!IL) PACK_ONE(dec_q2_k, SUM, 256, 84, FMT_Q2_K, false); break;                \
    case GC_DT_Q3_K: if (!IL) PACK_ONE(dec_q3_k, SUM, 256, 110, FMT_Q3_K, false); break;               \
    case GC_DT_IQ4_NL: if (!IL) PACK_ONE(dec_iq4_nl, SUM, 32, 18, FMT_IQ4_NL, false); break;           \
    case GC_DT_IQ4_XS: if (!IL) PACK_ONE(dec_iq4_xs, SUM, 256, 136, FMT_IQ4_XS, false); break;         \
    default: break;                                                                                    \
    }

void qg_pack(gc_dtype t, bool il, const uint8_t *w, size_t row_bytes, int rows, int64_t K, uint8_t *panel,
             void *scratch) {
    if (il)
        PACK_CASES(dec_q5_0, sum4_avx2, true)
    else
        PACK_CASES(dec_q5_0, sum4_avx2, false)
}

// The same panels with AVX-512: VPDPBUSD for the lane sums, mask registers
// for Q5_0's fifth bits (kmov of the 32 bits, one masked add).
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma,f16c")))

static inline __attribute__((always_inline)) T512 __m256i sum4_avx512(__m256i acc, __m256i v) {
    return _mm256_dpbusd_epi32(acc, _mm256_set1_epi8(1), v);
}

static inline __attribute__((always_inline)) T512 void dec_q5_0_avx512(qv v, int8_t *q, float *d, float *m) {
    (void)m;
    d[0] = f16(AT(v, Q5_0, 0, 2));
    uint32_t h;
    memcpy(&h, AT(v, Q5_0, 2, 4), 4);
    __m256i x = _mm256_sub_epi8(qb_nibbles32(AT(v, Q5_0, 6, 16)), _mm256_set1_epi8(16));
    x = _mm256_mask_add_epi8(x, (__mmask32)h, x, _mm256_set1_epi8(16));
    _mm256_storeu_si256((__m256i *)q, x);
}

T512 void qg_pack_avx512(gc_dtype t, bool il, const uint8_t *w, size_t row_bytes, int rows, int64_t K, uint8_t *panel,
                         void *scratch) {
    if (il)
        PACK_CASES(dec_q5_0_avx512, sum4_avx512, true)
    else
        PACK_CASES(dec_q5_0_avx512, sum4_avx512, false)
}
