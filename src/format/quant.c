// Dtype geometry, IEEE half/bfloat16 conversions and row dequantisation.
//
// On-disk block layouts (GGML; all little-endian, no padding):
//   Q8_0   34 B : f16 d | i8 qs[32]                        x[i] = d*qs[i]
//   Q4_0   18 B : f16 d | u8 qs[16]                        x[i] = d*(nib-8)
//   Q4_1   20 B : f16 d | f16 m | u8 qs[16]                x[i] = d*nib + m
//   IQ4_NL 18 B : f16 d | u8 qs[16]                        x[i] = d*kv[nib]
//     nibble order for these: x[i] = qs[i] & 15, x[i+16] = qs[i] >> 4.
//     kv is GGML's fixed non-linear codebook of 16 signed codes (k_iq4 below).
//   Q5_0   22 B : f16 d | u32 qh | u8 qs[16]               x[i] = d*(q-16)
//   Q5_1   24 B : f16 d | f16 m | u32 qh | u8 qs[16]       x[i] = d*q + m
//     q is 5 bits: bits 0-3 are the nibble (Q4_0 order), bit 4 of element i
//     is bit i of qh.
//   Q4_K  144 B : f16 d | f16 dmin | u8 scales[12] | u8 qs[128]
//   Q5_K  176 B : f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]
//     8 sub-blocks of 32 with a 6-bit scale sc[j] and 6-bit min mn[j]:
//       x = (d*sc[j]) * q - (dmin*mn[j]).
//     qs is read in 4 chunks of 32 bytes; chunk c holds sub-block 2c in the
//     low nibbles and 2c+1 in the high nibbles. Q5_K adds bit 4 of q from qh:
//     sub-block j takes bit j of qh[l] for its element l.
//   Q6_K  210 B : u8 ql[128] | u8 qh[64] | i8 scales[16] | f16 d
//     16 groups of 16 with x = (d*scales[g]) * (q - 32), q 6 bits. Each half
//     of 128 elements uses 64 bytes of ql and 32 of qh; its 4 runs of 32 are
//       run0 = ql[l]&15    | (qh[l]>>0&3)<<4,   run1 = ql[l+32]&15 | (qh[l]>>2&3)<<4,
//       run2 = ql[l]>>4    | (qh[l]>>4&3)<<4,   run3 = ql[l+32]>>4 | (qh[l]>>6&3)<<4.
//   Q2_K   84 B : u8 scales[16] | u8 qs[64] | f16 d | f16 dmin
//     16 groups of 16; scales[g] = sc | mn << 4 (4 bits each) and
//       x = (d*sc) * q - (dmin*mn), q 2 bits.
//     Each half h of 128 elements reads qs[32h .. 32h+31]; its run r (0..3)
//     of 32 elements is x[128h + 32r + l] <- (qs[32h + l] >> 2r) & 3, so the
//     group of element e is e/16 as everywhere.
//   Q3_K  110 B : u8 hmask[32] | u8 qs[64] | u8 scales[12] | f16 d
//     16 groups of 16 with x = (d*(sc[g]-32)) * q, sc 6 bits, q in -4..3:
//     q = (2 bits from qs, placed as in Q2_K) - (4 if the high bit is clear);
//     the high bit of x[32k + l] (k = 4h + r, 0..7) is bit k of hmask[l].
//     sc[g] bits 0-3: low nibble of scales[g] (g < 8) or high nibble of
//     scales[g-8]; bits 4-5: bits 2*(g/4) .. +1 of scales[8 + g%4].
//   IQ4_XS 136 B : f16 d | u16 scales_h | u8 scales_l[4] | u8 qs[128]
//     8 sub-blocks of 32 with x = (d*(ls[j]-32)) * kv[nib], ls 6 bits:
//     bits 0-3 are nibble j%2 (low first) of scales_l[j/2], bits 4-5 are bits
//     2j .. 2j+1 of scales_h. Sub-block j reads qs[16j .. 16j+15] in Q4_0
//     nibble order.
//
// Exactness: every product above is exact in f32. An f16 value has an 11-bit
// significand, and what multiplies it has at most 4 (Q4_0, Q4_1), 5 (Q5_0,
// Q5_1), 7 (Q8_0, IQ4_NL), 4+2 (Q2_K scale, code), 5+2 (Q3_K: |sc-32| <= 32
// and |q| <= 4, the powers of two adding no bits), 6+5 (Q4_K, Q5_K), 7+6
// (Q6_K) or 5+7 (IQ4_XS) significant bits, so no product needs more than 24;
// and nonzero finite f16 magnitudes lie in [2^-24, 2^16), so no product
// overflows or turns subnormal. Each output is thus rounded at most once, by
// the final add (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K) or not at all, and results are
// bit-identical to GGML's and gguf-py's whether or not the compiler fuses
// mul+add and however the factors associate. Association does decide the
// sign of a zero: (d*sc)*0.0f is -0 when d*sc < 0, while d*(float)(sc*0) is
// +0. So the factors are multiplied in float in gguf-py's order,
// (d*scale)*code, never as an integer scale*code.
#include "format/quant.h"
#include <math.h>
#include <string.h>
#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#define GC_QUANT_AVX2 1
#endif

#define QK 32
#define QKK 256

typedef struct dtype_info {
    const char *name;
    int64_t block_elems;
    size_t block_bytes;
} dtype_info;

static const dtype_info k_info[GC_DT_COUNT] = {
    [GC_DT_F32] = {"F32", 1, 4},
    [GC_DT_F16] = {"F16", 1, 2},
    [GC_DT_BF16] = {"BF16", 1, 2},
    [GC_DT_Q8_0] = {"Q8_0", QK, 2 + QK},
    [GC_DT_Q4_0] = {"Q4_0", QK, 2 + QK / 2},
    [GC_DT_Q4_1] = {"Q4_1", QK, 4 + QK / 2},
    [GC_DT_Q4_K] = {"Q4_K", QKK, 4 + 12 + QKK / 2},
    [GC_DT_Q5_K] = {"Q5_K", QKK, 4 + 12 + QKK / 8 + QKK / 2},
    [GC_DT_Q6_K] = {"Q6_K", QKK, QKK / 2 + QKK / 4 + QKK / 16 + 2},
    [GC_DT_Q5_0] = {"Q5_0", QK, 2 + 4 + QK / 2},
    [GC_DT_Q5_1] = {"Q5_1", QK, 4 + 4 + QK / 2},
    [GC_DT_Q2_K] = {"Q2_K", QKK, QKK / 16 + QKK / 4 + 4},
    [GC_DT_Q3_K] = {"Q3_K", QKK, QKK / 8 + QKK / 4 + 12 + 2},
    [GC_DT_IQ4_NL] = {"IQ4_NL", QK, 2 + QK / 2},
    [GC_DT_IQ4_XS] = {"IQ4_XS", QKK, 2 + 2 + QKK / 64 + QKK / 2},
};

// IQ4_NL / IQ4_XS codebook (GGML's kvalues_iq4nl): code of each nibble.
static const int8_t k_iq4[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

static bool valid(gc_dtype t) { return (unsigned)t < GC_DT_COUNT; }

const char *gc_dtype_name(gc_dtype t) { return valid(t) ? k_info[t].name : "unknown"; }
int64_t gc_dtype_block_elems(gc_dtype t) { return valid(t) ? k_info[t].block_elems : 0; }
size_t gc_dtype_block_bytes(gc_dtype t) { return valid(t) ? k_info[t].block_bytes : 0; }

size_t gc_dtype_row_bytes(gc_dtype t, int64_t n) {
    if (!valid(t) || n < 0) return 0;
    int64_t be = k_info[t].block_elems;
    if (n % be != 0) return 0;
    uint64_t blocks = (uint64_t)(n / be);
    if (blocks > SIZE_MAX / k_info[t].block_bytes) return 0;
    return (size_t)blocks * k_info[t].block_bytes;
}

// ---- scalar conversions ----

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float gc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13));  // inf, NaN keeps payload
    if (exp != 0) return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
    if (man == 0) return bits_f32(sign);
    // Subnormal man * 2^-24: shift the leading one up to the implicit bit.
    uint32_t e = 113;
    while (!(man & 0x400u)) { man <<= 1; e--; }
    return bits_f32(sign | (e << 23) | ((man & 0x3ffu) << 13));
}

// Round-to-nearest-even of m >> s (s in 1..31).
static uint32_t shift_rne(uint32_t m, unsigned s) {
    uint32_t r = m >> s, rem = m & ((1u << s) - 1), half = 1u << (s - 1);
    if (rem > half || (rem == half && (r & 1))) r++;
    return r;
}

uint16_t gc_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // quiet NaN
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // >= 65520 rounds to inf
    if (ax >= 0x38800000u) {  // normal half: rebias, round 13 dropped bits (a carry bumps exp)
        uint32_t v = ((ax >> 23) - 112u) << 23 | (ax & 0x7fffffu);
        return (uint16_t)(sign | shift_rne(v, 13));
    }
    // Subnormal half: value = m * 2^(E-23) in units of 2^-24 is m >> -(E+1).
    int e = (int)(ax >> 23) - 127;
    unsigned s = (unsigned)(-(e + 1));
    if (s > 24) return sign;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    return (uint16_t)(sign | shift_rne(m, s));
}

float gc_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t gc_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);  // quiet NaN
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// ---- block helpers ----

static float ld_f16(const uint8_t *p) { return gc_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }
static uint32_t ld_u32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

// The 16 signed 6-bit group scales sc[g]-32 of a Q3_K block from its 12 bytes.
static void q3_scales(const uint8_t *s, int8_t out[16]) {
    for (int g = 0; g < 16; g++) {
        int lo = g < 8 ? s[g] & 15 : s[g - 8] >> 4;
        int hi = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
        out[g] = (int8_t)((lo | hi << 4) - 32);
    }
}

// Sub-block scale ls[j]-32 (-32..31) of an IQ4_XS block.
static int iq4xs_scale(const uint8_t *b, int j) {
    unsigned sh = b[2] | b[3] << 8;
    int lo = (b[4 + j / 2] >> (4 * (j % 2))) & 15;
    return (lo | (int)((sh >> (2 * j)) & 3) << 4) - 32;
}

// 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes:
//   bytes 0-3 : scale j (low 6 bits) for j<4; top 2 bits = bits 4-5 of scale j+4
//   bytes 4-7 : min j   (low 6 bits) for j<4; top 2 bits = bits 4-5 of min j+4
//   bytes 8-11: low nibble = bits 0-3 of scale j+4, high nibble = of min j+4
static void k_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
        *mn = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// ---- scalar decoders (reference; the AVX2 versions must match them) ----

static void deq_q8_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 34, y += QK) {
        float d = ld_f16(b);
        for (int l = 0; l < QK; l++) y[l] = d * (float)(int8_t)b[2 + l];
    }
}

static void deq_q4_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 18, y += QK) {
        float d = ld_f16(b);
        const uint8_t *q = b + 2;
        for (int l = 0; l < 16; l++) {
            y[l] = d * (float)((q[l] & 15) - 8);
            y[l + 16] = d * (float)((q[l] >> 4) - 8);
        }
    }
}

static void deq_q4_1(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 20, y += QK) {
        float d = ld_f16(b), m = ld_f16(b + 2);
        const uint8_t *q = b + 4;
        for (int l = 0; l < 16; l++) {
            y[l] = d * (float)(q[l] & 15) + m;
            y[l + 16] = d * (float)(q[l] >> 4) + m;
        }
    }
}

// Q4_K and Q5_K: a super-block of 256 weights in 8 sub-blocks of 32, each
// with a 6-bit scale and min (k_scale_min); weight = d·scale·q − dmin·min.
//   Q4_K (144 bytes): d, dmin (f16), 12 scale bytes, 128 bytes of 4-bit q
//   Q5_K (176 bytes): the same, then 32 bytes qh before the 128 bytes of q;
//                     bit c of qh[l] is the 5th bit of sub-block c's weight l.
// The formats differ only in qh (NULL for Q4_K: the 5th bit is 0).
static void deq_k_block(const uint8_t *b, const uint8_t *qh, const uint8_t *q, float *y) {
    const float d = ld_f16(b), dmin = ld_f16(b + 2);
    const uint8_t *sc = b + 4;
    for (int c = 0; c < 4; c++, q += 32, y += 64) {
        uint8_t s0, m0, s1, m1;
        k_scale_min(sc, 2 * c, &s0, &m0);
        k_scale_min(sc, 2 * c + 1, &s1, &m1);
        float d0 = d * s0, n0 = dmin * m0, d1 = d * s1, n1 = dmin * m1;
        for (int l = 0; l < 32; l++) {
            int h0 = qh ? (qh[l] >> (2 * c)) & 1 : 0, h1 = qh ? (qh[l] >> (2 * c + 1)) & 1 : 0;
            y[l] = d0 * (float)((q[l] & 15) | h0 << 4) - n0;
            y[l + 32] = d1 * (float)((q[l] >> 4) | h1 << 4) - n1;
        }
    }
}

static void deq_q4_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 144, y += 256) deq_k_block(b, NULL, b + 16, y);
}

static void deq_q5_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 176, y += 256) deq_k_block(b, b + 16, b + 48, y);
}

static void deq_q6_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 210) {
        float d = ld_f16(b + 208);
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int half = 0; half < 2; half++, y += 128, sc += 8) {
            const uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
            for (int l = 0; l < 32; l++) {
                int g = l / 16;
                int q0 = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
                int q1 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
                int q2 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                int q3 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                y[l] = (d * sc[g]) * (float)q0;
                y[l + 32] = (d * sc[g + 2]) * (float)q1;
                y[l + 64] = (d * sc[g + 4]) * (float)q2;
                y[l + 96] = (d * sc[g + 6]) * (float)q3;
            }
        }
    }
}

static void deq_q5_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 22, y += QK) {
        float d = ld_f16(b);
        uint32_t qh = ld_u32(b + 2);
        const uint8_t *q = b + 6;
        for (int l = 0; l < 16; l++) {
            int q0 = (q[l] & 15) | (int)((qh >> l) & 1) << 4;
            int q1 = (q[l] >> 4) | (int)((qh >> (l + 16)) & 1) << 4;
            y[l] = d * (float)(q0 - 16);
            y[l + 16] = d * (float)(q1 - 16);
        }
    }
}

static void deq_q5_1(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 24, y += QK) {
        float d = ld_f16(b), m = ld_f16(b + 2);
        uint32_t qh = ld_u32(b + 4);
        const uint8_t *q = b + 8;
        for (int l = 0; l < 16; l++) {
            int q0 = (q[l] & 15) | (int)((qh >> l) & 1) << 4;
            int q1 = (q[l] >> 4) | (int)((qh >> (l + 16)) & 1) << 4;
            y[l] = d * (float)q0 + m;
            y[l + 16] = d * (float)q1 + m;
        }
    }
}

static void deq_iq4_nl(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 18, y += QK) {
        float d = ld_f16(b);
        const uint8_t *q = b + 2;
        for (int l = 0; l < 16; l++) {
            y[l] = d * (float)k_iq4[q[l] & 15];
            y[l + 16] = d * (float)k_iq4[q[l] >> 4];
        }
    }
}

static void deq_q2_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 84) {
        float d = ld_f16(b + 80), dmin = ld_f16(b + 82);
        const uint8_t *sc = b, *qs = b + 16;
        for (int h = 0; h < 2; h++, qs += 32) {
            for (int r = 0; r < 4; r++, y += 32, sc += 2) {
                for (int l = 0; l < 32; l++) {
                    int s = sc[l / 16];
                    float dl = d * (float)(s & 15), ml = dmin * (float)(s >> 4);
                    y[l] = dl * (float)((qs[l] >> (2 * r)) & 3) - ml;
                }
            }
        }
    }
}

static void deq_q3_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 110) {
        float d = ld_f16(b + 108);
        int8_t sc[16];
        q3_scales(b + 96, sc);
        const uint8_t *hm = b, *qs = b + 32;
        for (int h = 0; h < 2; h++, qs += 32) {
            for (int r = 0; r < 4; r++, y += 32) {
                int k = 4 * h + r;
                for (int l = 0; l < 32; l++) {
                    float dl = d * (float)sc[2 * k + l / 16];
                    int q = ((qs[l] >> (2 * r)) & 3) - (((hm[l] >> k) & 1) ? 0 : 4);
                    y[l] = dl * (float)q;
                }
            }
        }
    }
}

static void deq_iq4_xs(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 136) {
        float d = ld_f16(b);
        const uint8_t *q = b + 8;
        for (int j = 0; j < 8; j++, q += 16, y += 32) {
            float dl = d * (float)iq4xs_scale(b, j);
            for (int l = 0; l < 16; l++) {
                y[l] = dl * (float)k_iq4[q[l] & 15];
                y[l + 16] = dl * (float)k_iq4[q[l] >> 4];
            }
        }
    }
}

static void deq_f16(const uint8_t *b, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ld_f16(b + 2 * i);
}

static void deq_bf16(const uint8_t *b, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = gc_bf16_to_f32((uint16_t)(b[2 * i] | b[2 * i + 1] << 8));
}

// Not declared in quant.h: the portable decoder, exported so tests can hold
// the SIMD path to it. Same contract as gc_dequant_row.
void gc_dequant_row_scalar(gc_dtype t, const void *src, float *dst, int64_t n);
void gc_dequant_row_scalar(gc_dtype t, const void *src, float *dst, int64_t n) {
    if (!valid(t) || n <= 0) return;
    const uint8_t *b = src;
    int64_t nb = n / k_info[t].block_elems;
    switch (t) {
    case GC_DT_F32: memcpy(dst, b, (size_t)nb * 4); break;
    case GC_DT_F16: deq_f16(b, dst, nb); break;
    case GC_DT_BF16: deq_bf16(b, dst, nb); break;
    case GC_DT_Q8_0: deq_q8_0(b, dst, nb); break;
    case GC_DT_Q4_0: deq_q4_0(b, dst, nb); break;
    case GC_DT_Q4_1: deq_q4_1(b, dst, nb); break;
    case GC_DT_Q4_K: deq_q4_k(b, dst, nb); break;
    case GC_DT_Q5_K: deq_q5_k(b, dst, nb); break;
    case GC_DT_Q6_K: deq_q6_k(b, dst, nb); break;
    case GC_DT_Q5_0: deq_q5_0(b, dst, nb); break;
    case GC_DT_Q5_1: deq_q5_1(b, dst, nb); break;
    case GC_DT_Q2_K: deq_q2_k(b, dst, nb); break;
    case GC_DT_Q3_K: deq_q3_k(b, dst, nb); break;
    case GC_DT_IQ4_NL: deq_iq4_nl(b, dst, nb); break;
    case GC_DT_IQ4_XS: deq_iq4_xs(b, dst, nb); break;
    case GC_DT_COUNT: break;
    }
}

#ifdef GC_QUANT_AVX2
// y[0..15] = d * q for 16 signed bytes.
static inline void put16_s8(__m128i q, __m256 d, float *y) {
    __m256 a = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
    __m256 b = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
    _mm256_storeu_ps(y, _mm256_mul_ps(d, a));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(d, b));
}

// y[0..15] = d * q + m for 16 unsigned bytes.
static inline void put16_u8(__m128i q, __m256 d, __m256 m, float *y) {
    __m256 a = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q));
    __m256 b = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q, 8)));
    _mm256_storeu_ps(y, _mm256_add_ps(_mm256_mul_ps(d, a), m));
    _mm256_storeu_ps(y + 8, _mm256_add_ps(_mm256_mul_ps(d, b), m));
}

// y[0..31] = d * q + m for 32 unsigned bytes.
static inline void put32_u8(__m256i q, __m256 d, __m256 m, float *y) {
    put16_u8(_mm256_castsi256_si128(q), d, m, y);
    put16_u8(_mm256_extracti128_si256(q, 1), d, m, y + 16);
}

static void simd_q8_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 34, y += QK) {
        __m256 d = _mm256_set1_ps(ld_f16(b));
        put16_s8(_mm_loadu_si128((const __m128i *)(b + 2)), d, y);
        put16_s8(_mm_loadu_si128((const __m128i *)(b + 18)), d, y + 16);
    }
}

static void simd_q4_0(const uint8_t *b, float *y, int64_t nb) {
    const __m128i lo = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    for (int64_t i = 0; i < nb; i++, b += 18, y += QK) {
        __m256 d = _mm256_set1_ps(ld_f16(b));
        __m128i q = _mm_loadu_si128((const __m128i *)(b + 2));
        put16_s8(_mm_sub_epi8(_mm_and_si128(q, lo), eight), d, y);
        put16_s8(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), lo), eight), d, y + 16);
    }
}

static void simd_q4_1(const uint8_t *b, float *y, int64_t nb) {
    const __m128i lo = _mm_set1_epi8(15);
    for (int64_t i = 0; i < nb; i++, b += 20, y += QK) {
        __m256 d = _mm256_set1_ps(ld_f16(b)), m = _mm256_set1_ps(ld_f16(b + 2));
        __m128i q = _mm_loadu_si128((const __m128i *)(b + 4));
        put16_u8(_mm_and_si128(q, lo), d, m, y);
        put16_u8(_mm_and_si128(_mm_srli_epi16(q, 4), lo), d, m, y + 16);
    }
}

// Q4_K and Q5_K share everything but the fifth bit; qh is NULL for Q4_K.
static void simd_k45(const uint8_t *b, float *y, int64_t nb, size_t bbytes, bool five) {
    const __m256i lo = _mm256_set1_epi8(15), sixteen = _mm256_set1_epi8(16);
    for (int64_t i = 0; i < nb; i++, b += bbytes) {
        float d = ld_f16(b), dmin = ld_f16(b + 2);
        const uint8_t *sc = b + 4, *q = b + (five ? 48 : 16);
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(b + 16)) : _mm256_setzero_si256();
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            uint8_t s0, m0, s1, m1;
            k_scale_min(sc, 2 * c, &s0, &m0);
            k_scale_min(sc, 2 * c + 1, &s1, &m1);
            __m256i v = _mm256_loadu_si256((const __m256i *)q);
            __m256i a = _mm256_and_si256(v, lo);
            __m256i h = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo);
            if (five) {
                __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * c)));
                __m256i b1 = _mm256_set1_epi8((char)(2 << (2 * c)));
                a = _mm256_or_si256(a, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), sixteen));
                h = _mm256_or_si256(h, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), sixteen));
            }
            put32_u8(a, _mm256_set1_ps(d * s0), _mm256_set1_ps(-(dmin * m0)), y);
            put32_u8(h, _mm256_set1_ps(d * s1), _mm256_set1_ps(-(dmin * m1)), y + 32);
        }
    }
}

static void simd_q6_k(const uint8_t *b, float *y, int64_t nb) {
    const __m256i lo = _mm256_set1_epi8(15), three = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < nb; i++, b += 210) {
        float d = ld_f16(b + 208);
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int half = 0; half < 2; half++, y += 128, sc += 8) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(b + 64 * half));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(b + 64 * half + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * half));
            __m256i r[4];
            r[0] = _mm256_and_si256(l0, lo);
            r[1] = _mm256_and_si256(l1, lo);
            r[2] = _mm256_and_si256(_mm256_srli_epi16(l0, 4), lo);
            r[3] = _mm256_and_si256(_mm256_srli_epi16(l1, 4), lo);
            for (int k = 0; k < 4; k++) {
                // bits 2k..2k+1 of each qh byte -> bits 4..5 (the masks keep
                // neighbouring bytes' bits out of the 16-bit shifts)
                __m256i hk = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), three);
                __m256i qk = _mm256_sub_epi8(_mm256_or_si256(r[k], _mm256_slli_epi16(hk, 4)), off);
                put16_s8(_mm256_castsi256_si128(qk), _mm256_set1_ps(d * sc[2 * k]), y + 32 * k);
                put16_s8(_mm256_extracti128_si256(qk, 1), _mm256_set1_ps(d * sc[2 * k + 1]), y + 32 * k + 16);
            }
        }
    }
}

// Both 128-bit halves as one 256-bit vector (lo = bytes 0-15).
static inline __m256i join128(__m128i lo, __m128i hi) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

// The 32 5-bit codes of a Q5_0/Q5_1 block (byte i = element i): nibbles of
// q in Q4_0 order, plus 16 where bit i of qh is set.
static inline __m256i q5_codes(const uint8_t *q, uint32_t qh) {
    // byte i of lane L picks byte 2L + i/8 of qh, then tests bit i%8
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), pick);
    h = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), _mm256_set1_epi8(16));
    const __m128i lo = _mm_set1_epi8(15);
    __m128i v = _mm_loadu_si128((const __m128i *)q);
    __m256i n = join128(_mm_and_si128(v, lo), _mm_and_si128(_mm_srli_epi16(v, 4), lo));
    return _mm256_or_si256(n, h);
}

static void simd_q5_0(const uint8_t *b, float *y, int64_t nb) {
    const __m256i sixteen = _mm256_set1_epi8(16);
    for (int64_t i = 0; i < nb; i++, b += 22, y += QK) {
        __m256 d = _mm256_set1_ps(ld_f16(b));
        __m256i q = _mm256_sub_epi8(q5_codes(b + 6, ld_u32(b + 2)), sixteen);
        put16_s8(_mm256_castsi256_si128(q), d, y);
        put16_s8(_mm256_extracti128_si256(q, 1), d, y + 16);
    }
}

static void simd_q5_1(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 24, y += QK)
        put32_u8(q5_codes(b + 8, ld_u32(b + 4)), _mm256_set1_ps(ld_f16(b)), _mm256_set1_ps(ld_f16(b + 2)), y);
}

// y[0..31] = d * kv[nibble] for 16 bytes of IQ4 nibbles (Q4_0 order).
static inline void put32_iq4(const uint8_t *q, __m256 d, float *y) {
    const __m128i kv = _mm_loadu_si128((const __m128i *)k_iq4), lo = _mm_set1_epi8(15);
    __m128i v = _mm_loadu_si128((const __m128i *)q);
    put16_s8(_mm_shuffle_epi8(kv, _mm_and_si128(v, lo)), d, y);
    put16_s8(_mm_shuffle_epi8(kv, _mm_and_si128(_mm_srli_epi16(v, 4), lo)), d, y + 16);
}

static void simd_iq4_nl(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 18, y += QK) put32_iq4(b + 2, _mm256_set1_ps(ld_f16(b)), y);
}

static void simd_iq4_xs(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 136) {
        float d = ld_f16(b);
        for (int j = 0; j < 8; j++, y += 32) put32_iq4(b + 8 + 16 * j, _mm256_set1_ps(d * (float)iq4xs_scale(b, j)), y);
    }
}

static void simd_q2_k(const uint8_t *b, float *y, int64_t nb) {
    const __m256i three = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < nb; i++, b += 84) {
        float d = ld_f16(b + 80), dmin = ld_f16(b + 82);
        const uint8_t *sc = b;
        for (int h = 0; h < 2; h++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * h));
            for (int r = 0; r < 4; r++, y += 32, sc += 2) {
                // the mask keeps the neighbouring byte's bits out of the 16-bit shift
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(v, 2 * r), three);
                put16_u8(_mm256_castsi256_si128(q), _mm256_set1_ps(d * (float)(sc[0] & 15)),
                         _mm256_set1_ps(-(dmin * (float)(sc[0] >> 4))), y);
                put16_u8(_mm256_extracti128_si256(q, 1), _mm256_set1_ps(d * (float)(sc[1] & 15)),
                         _mm256_set1_ps(-(dmin * (float)(sc[1] >> 4))), y + 16);
            }
        }
    }
}

static void simd_q3_k(const uint8_t *b, float *y, int64_t nb) {
    const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    for (int64_t i = 0; i < nb; i++, b += 110) {
        float d = ld_f16(b + 108);
        int8_t sc[16];
        q3_scales(b + 96, sc);
        __m256i hm = _mm256_loadu_si256((const __m256i *)b);
        for (int h = 0; h < 2; h++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(b + 32 + 32 * h));
            for (int r = 0; r < 4; r++, y += 32) {
                int k = 4 * h + r;
                __m256i bit = _mm256_set1_epi8((char)(1 << k));
                __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
                __m256i q = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 2 * r), three),
                                            _mm256_andnot_si256(set, four));
                put16_s8(_mm256_castsi256_si128(q), _mm256_set1_ps(d * (float)sc[2 * k]), y);
                put16_s8(_mm256_extracti128_si256(q, 1), _mm256_set1_ps(d * (float)sc[2 * k + 1]), y + 16);
            }
        }
    }
}

static void simd_f16(const uint8_t *b, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + 2 * i))));
    deq_f16(b + 2 * i, y + i, n - i);
}

static void simd_bf16(const uint8_t *b, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(b + 2 * i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    deq_bf16(b + 2 * i, y + i, n - i);
}
#endif

// A trailing partial block (n not a multiple of the block: a caller bug) is
// left unwritten rather than read past the row.
void gc_dequant_row(gc_dtype t, const void *src, float *dst, int64_t n) {
#ifdef GC_QUANT_AVX2
    if (!valid(t) || n <= 0) return;
    const uint8_t *b = src;
    int64_t nb = n / k_info[t].block_elems;
    switch (t) {
    case GC_DT_F16: simd_f16(b, dst, nb); return;
    case GC_DT_BF16: simd_bf16(b, dst, nb); return;
    case GC_DT_Q8_0: simd_q8_0(b, dst, nb); return;
    case GC_DT_Q4_0: simd_q4_0(b, dst, nb); return;
    case GC_DT_Q4_1: simd_q4_1(b, dst, nb); return;
    case GC_DT_Q4_K: simd_k45(b, dst, nb, 144, false); return;
    case GC_DT_Q5_K: simd_k45(b, dst, nb, 176, true); return;
    case GC_DT_Q6_K: simd_q6_k(b, dst, nb); return;
    case GC_DT_Q5_0: simd_q5_0(b, dst, nb); return;
    case GC_DT_Q5_1: simd_q5_1(b, dst, nb); return;
    case GC_DT_Q2_K: simd_q2_k(b, dst, nb); return;
    case GC_DT_Q3_K: simd_q3_k(b, dst, nb); return;
    case GC_DT_IQ4_NL: simd_iq4_nl(b, dst, nb); return;
    case GC_DT_IQ4_XS: simd_iq4_xs(b, dst, nb); return;
    default: break;
    }
#endif
    gc_dequant_row_scalar(t, src, dst, n);
}
