// Dtype geometry, f16/bf16 conversions and dequantisation of every dtype,
// checked bit-for-bit against fixtures made by gguf-py
// (tools/make_quant_fixtures.py) and against the CPU's F16C instructions.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "core/error.h"
#include "core/file.h"
#include "format/quant.h"

// Exported by quant.c for tests only (portable decoder the SIMD path must match).
void gc_dequant_row_scalar(gc_dtype t, const void *src, float *dst, int64_t n);

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

// Equal bits, or both NaN with the same sign (NaN payload quieting differs
// between F16C and plain bit shifts and is not part of the contract).
static bool same_f32(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) && signbit(a) == signbit(b);
    return fbits(a) == fbits(b);
}


// ---- geometry ----

static void test_geometry(void **st) {
    (void)st;
    // (name, block elems, block bytes) as in ggml / gguf-py GGML_QUANT_SIZES.
    static const struct { gc_dtype t; const char *name; int64_t be; size_t bb; } k[] = {
        {GC_DT_F32, "F32", 1, 4},       {GC_DT_F16, "F16", 1, 2},     {GC_DT_BF16, "BF16", 1, 2},
        {GC_DT_Q8_0, "Q8_0", 32, 34},   {GC_DT_Q4_0, "Q4_0", 32, 18}, {GC_DT_Q4_1, "Q4_1", 32, 20},
        {GC_DT_Q4_K, "Q4_K", 256, 144}, {GC_DT_Q5_K, "Q5_K", 256, 176}, {GC_DT_Q6_K, "Q6_K", 256, 210},
        {GC_DT_Q5_0, "Q5_0", 32, 22},   {GC_DT_Q5_1, "Q5_1", 32, 24}, {GC_DT_Q2_K, "Q2_K", 256, 84},
        {GC_DT_Q3_K, "Q3_K", 256, 110}, {GC_DT_IQ4_NL, "IQ4_NL", 32, 18}, {GC_DT_IQ4_XS, "IQ4_XS", 256, 136},
    };
    assert_int_equal(sizeof k / sizeof k[0], GC_DT_COUNT);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        assert_string_equal(gc_dtype_name(k[i].t), k[i].name);
        assert_int_equal(gc_dtype_block_elems(k[i].t), k[i].be);
        assert_int_equal(gc_dtype_block_bytes(k[i].t), k[i].bb);
        assert_int_equal(gc_dtype_row_bytes(k[i].t, k[i].be * 3), k[i].bb * 3);
        assert_int_equal(gc_dtype_row_bytes(k[i].t, 0), 0);
        assert_int_equal(gc_dtype_row_bytes(k[i].t, -k[i].be), 0);
        if (k[i].be > 1) assert_int_equal(gc_dtype_row_bytes(k[i].t, k[i].be + 1), 0);
    }
    assert_int_equal(gc_dtype_row_bytes(GC_DT_F32, INT64_MAX), 0);  // bytes overflow
    assert_int_equal(gc_dtype_block_elems(GC_DT_COUNT), 0);
    assert_string_equal(gc_dtype_name((gc_dtype)99), "unknown");
}

// ---- f16 ----

static void test_f16_to_f32_cases(void **st) {
    (void)st;
    assert_true(gc_f16_to_f32(0x3c00) == 1.0f);
    assert_true(gc_f16_to_f32(0xc000) == -2.0f);
    assert_true(gc_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(gc_f16_to_f32(0x0400) == ldexpf(1.0f, -14));        // smallest normal
    assert_true(gc_f16_to_f32(0x0001) == ldexpf(1.0f, -24));        // smallest subnormal
    assert_true(gc_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));     // largest subnormal
    assert_true(gc_f16_to_f32(0x8200) == -ldexpf(1.0f, -15));
    assert_int_equal(fbits(gc_f16_to_f32(0x8000)), 0x80000000u);   // -0
    assert_int_equal(fbits(gc_f16_to_f32(0x7c00)), 0x7f800000u);   // inf
    assert_int_equal(fbits(gc_f16_to_f32(0xfc00)), 0xff800000u);
    assert_true(isnan(gc_f16_to_f32(0x7e00)));
    assert_true(isnan(gc_f16_to_f32(0x7c01)));                      // signalling stays NaN
    assert_true(signbit(gc_f16_to_f32(0xfe00)));
}

static void test_f16_exhaustive(void **st) {
    (void)st;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = gc_f16_to_f32((uint16_t)h);
#if defined(__F16C__)
        if (!same_f32(f, _cvtsh_ss((unsigned short)h))) fail_msg("f16 %04x -> %08x", h, fbits(f));
#endif
        uint16_t back = gc_f32_to_f16(f);
        if (isnan(f)) {
            if ((back & 0x7c00) != 0x7c00 || (back & 0x3ff) == 0 || (back & 0x8000) != (h & 0x8000))
                fail_msg("NaN f16 %04x round-trips to %04x", h, back);
        } else if (back != h) {
            fail_msg("f16 %04x round-trips to %04x", h, back);
        }
    }
}

static void test_f32_to_f16_cases(void **st) {
    (void)st;
    assert_int_equal(gc_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(gc_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(gc_f32_to_f16(65519.99f), 0x7bff);
    assert_int_equal(gc_f32_to_f16(65520.0f), 0x7c00);             // tie rounds to even = inf
    assert_int_equal(gc_f32_to_f16(-1e9f), 0xfc00);
    assert_int_equal(gc_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(gc_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
    assert_int_equal(gc_f32_to_f16(ldexpf(1.0f, -25)), 0x0000);    // tie to even: 0
    assert_int_equal(gc_f32_to_f16(bitsf(0x33000001)), 0x0001);    // just above the tie
    assert_int_equal(gc_f32_to_f16(ldexpf(3.0f, -25)), 0x0002);    // 1.5 ulp ties up to 2
    assert_int_equal(gc_f32_to_f16(ldexpf(1.0f, -30)), 0x0000);
    assert_int_equal(gc_f32_to_f16(-ldexpf(1.0f, -30)), 0x8000);
    assert_int_equal(gc_f32_to_f16(ldexpf(2047.0f, -25)), 0x0400);  // rounds up into the normals
    assert_int_equal(gc_f32_to_f16(bitsf(0x3f801000)), 0x3c00);    // 1 + half ulp: tie to even
    assert_int_equal(gc_f32_to_f16(bitsf(0x3f803000)), 0x3c02);    // 1 + 1.5 ulp: tie up
    assert_int_equal(gc_f32_to_f16(bitsf(0x3f801001)), 0x3c01);
    uint16_t n = gc_f32_to_f16(NAN);
    assert_true((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0);
    n = gc_f32_to_f16(bitsf(0xff800001));                          // payload only in low bits
    assert_true((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0 && (n & 0x8000));
}

#if defined(__F16C__)
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
#endif

static void test_f32_to_f16_random_hw(void **st) {
    (void)st;
#if defined(__F16C__)
    for (int i = 0; i < 2000000; i++) {
        uint32_t x = rnd32();
        uint16_t want = _cvtss_sh(bitsf(x), _MM_FROUND_TO_NEAREST_INT);
        uint16_t got = gc_f32_to_f16(bitsf(x));
        if (got != want) fail_msg("f32 %08x -> f16 %04x, F16C says %04x", x, got, want);
    }
#else
    skip();
#endif
}

// Fixture: u32 n, n x u32 f32-bits, n x u16 expected.
static void check_conv_fixture(const char *path, uint16_t (*conv)(float)) {
    char *buf; size_t len;
    assert_int_equal(gc_file_read_all(path, &buf, &len), GC_OK);
    const uint8_t *p = (const uint8_t *)buf;
    assert_true(len >= 4);
    uint32_t n = rd32(p);
    assert_int_equal(len, 4 + (size_t)n * 6);
    assert_true(n > 1000);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x = rd32(p + 4 + 4 * i);
        const uint8_t *w = p + 4 + 4 * (size_t)n + 2 * i;
        uint16_t want = (uint16_t)(w[0] | w[1] << 8), got = conv(bitsf(x));
        if (got != want) fail_msg("%s: f32 %08x -> %04x, want %04x", path, x, got, want);
    }
    free(buf);
}

static void test_f32_to_f16_fixture(void **st) {
    (void)st;
    check_conv_fixture("tests/data/quant/f32_to_f16.bin", gc_f32_to_f16);
}

// ---- bf16 ----

static void test_bf16_cases(void **st) {
    (void)st;
    assert_true(gc_bf16_to_f32(0x3f80) == 1.0f);
    assert_int_equal(fbits(gc_bf16_to_f32(0x8001)), 0x80010000u);
    assert_int_equal(gc_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(gc_f32_to_bf16(bitsf(0x3f808000)), 0x3f80);   // tie, even stays
    assert_int_equal(gc_f32_to_bf16(bitsf(0x3f818000)), 0x3f82);   // tie, odd rounds up
    assert_int_equal(gc_f32_to_bf16(bitsf(0x3f808001)), 0x3f81);
    assert_int_equal(gc_f32_to_bf16(bitsf(0xbf80ffff)), 0xbf81);
    assert_int_equal(gc_f32_to_bf16(bitsf(0x7f7fffff)), 0x7f80);   // FLT_MAX rounds to inf
    assert_int_equal(gc_f32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(gc_f32_to_bf16(-INFINITY), 0xff80);
    assert_int_equal(gc_f32_to_bf16(bitsf(0x00000001)), 0x0000);   // tiny subnormal
    assert_int_equal(gc_f32_to_bf16(bitsf(0x00018000)), 0x0002);   // subnormal tie, odd up
    // NaN whose payload lives only in the dropped bits must stay NaN (not inf).
    assert_int_equal(gc_f32_to_bf16(bitsf(0x7f800001)), 0x7fc0);
    assert_int_equal(gc_f32_to_bf16(bitsf(0xffffffff)), 0xffff);
    for (uint32_t h = 0; h < 65536; h++) {
        float f = gc_bf16_to_f32((uint16_t)h);
        assert_int_equal(fbits(f), h << 16);
        if (!isnan(f) && gc_f32_to_bf16(f) != h) fail_msg("bf16 %04x does not round-trip", h);
    }
}

static void test_f32_to_bf16_fixture(void **st) {
    (void)st;
    check_conv_fixture("tests/data/quant/f32_to_bf16.bin", gc_f32_to_bf16);
}

// ---- dequantisation ----

typedef void (*deq_fn)(gc_dtype, const void *, float *, int64_t);

// Fixture: u32 n_elems, u32 n_bytes, blocks, n_elems x f32 (see the tool).
static void check_dequant(gc_dtype t, const char *file, deq_fn fn) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/quant/%s", file);
    char *buf; size_t len;
    assert_int_equal(gc_file_read_all(path, &buf, &len), GC_OK);
    const uint8_t *p = (const uint8_t *)buf;
    assert_true(len >= 8);
    uint32_t n = rd32(p), nbytes = rd32(p + 4);
    assert_int_equal(len, 8 + (size_t)nbytes + 4 * (size_t)n);
    assert_int_equal(gc_dtype_row_bytes(t, n), nbytes);
    const uint8_t *src = p + 8, *want = p + 8 + nbytes;

    // Decode from a deliberately misaligned copy, into a buffer with guards.
    uint8_t *mis = malloc((size_t)nbytes + 1);
    float *out = malloc(((size_t)n + 2) * sizeof(float));
    assert_non_null(mis);
    assert_non_null(out);
    memcpy(mis + 1, src, nbytes);
    const float guard = -12345.5f;
    out[0] = out[n + 1] = guard;
    for (int pass = 0; pass < 2; pass++) {
        fn(t, pass ? (const void *)(mis + 1) : (const void *)src, out + 1, n);
        assert_true(out[0] == guard && out[n + 1] == guard);
        for (uint32_t i = 0; i < n; i++) {
            float w = bitsf(rd32(want + 4 * i));
            if (!same_f32(out[1 + i], w))
                fail_msg("%s: element %u: got %.9g (%08x), gguf-py says %.9g (%08x)", path, i,
                         out[1 + i], fbits(out[1 + i]), w, fbits(w));
        }
    }
    // Decoding one block at a time must agree with decoding the whole row.
    int64_t be = gc_dtype_block_elems(t);
    size_t bb = gc_dtype_block_bytes(t);
    for (uint32_t b = 0; b < n / be; b++) {
        float one[256];
        fn(t, src + b * bb, one, be);
        for (int64_t i = 0; i < be; i++)
            if (!same_f32(one[i], bitsf(rd32(want + 4 * (b * be + i))))) fail_msg("%s: block %u", path, b);
    }
    free(out);
    free(mis);
    free(buf);
}

static const struct { gc_dtype t; const char *file; } k_fix[] = {
    {GC_DT_F32, "f32.bin"},   {GC_DT_F16, "f16.bin"},   {GC_DT_BF16, "bf16.bin"},
    {GC_DT_Q8_0, "q8_0.bin"}, {GC_DT_Q4_0, "q4_0.bin"}, {GC_DT_Q4_1, "q4_1.bin"},
    {GC_DT_Q4_K, "q4_k.bin"}, {GC_DT_Q5_K, "q5_k.bin"}, {GC_DT_Q6_K, "q6_k.bin"},
    {GC_DT_Q5_0, "q5_0.bin"}, {GC_DT_Q5_1, "q5_1.bin"}, {GC_DT_Q2_K, "q2_k.bin"},
    {GC_DT_Q3_K, "q3_k.bin"}, {GC_DT_IQ4_NL, "iq4_nl.bin"}, {GC_DT_IQ4_XS, "iq4_xs.bin"},
};

static void test_dequant_all(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof k_fix / sizeof k_fix[0]; i++) check_dequant(k_fix[i].t, k_fix[i].file, gc_dequant_row);
}

static void test_dequant_scalar_all(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof k_fix / sizeof k_fix[0]; i++)
        check_dequant(k_fix[i].t, k_fix[i].file, gc_dequant_row_scalar);
}

// Hand-built blocks whose values are known without any reference decoder.
static void test_dequant_known_blocks(void **st) {
    (void)st;
    float y[256];
    // Q4_0, d = 0.5: byte l holds codes (l & 15) and (15 - (l & 15)).
    uint8_t q40[18] = {0x00, 0x38};
    for (int l = 0; l < 16; l++) q40[2 + l] = (uint8_t)(l | (15 - l) << 4);
    gc_dequant_row(GC_DT_Q4_0, q40, y, 32);
    for (int l = 0; l < 16; l++) {
        assert_true(y[l] == 0.5f * (float)(l - 8));
        assert_true(y[l + 16] == 0.5f * (float)(7 - l));
    }
    // Q4_K: d = 1, dmin = 2; sub-block j has scale j+1 and min 60-j (j >= 4
    // exercises the split 6-bit packing); every code 3 (low) / 12 (high).
    uint8_t q4k[144] = {0x00, 0x3c, 0x00, 0x40};
    for (int j = 0; j < 8; j++) {
        int sc = j + 1, mn = 60 - j;
        if (j < 4) {
            q4k[4 + j] |= (uint8_t)sc;
            q4k[8 + j] |= (uint8_t)mn;
        } else {
            q4k[12 + j - 4] = (uint8_t)((sc & 15) | (mn & 15) << 4);
            q4k[4 + j - 4] |= (uint8_t)((sc >> 4) << 6);
            q4k[8 + j - 4] |= (uint8_t)((mn >> 4) << 6);
        }
    }
    memset(q4k + 16, 0xc3, 128);
    gc_dequant_row(GC_DT_Q4_K, q4k, y, 256);
    for (int i = 0; i < 256; i++) {
        int j = i / 32, code = (j % 2) ? 12 : 3;
        assert_true(y[i] == (float)((j + 1) * code - 2 * (60 - j)));
    }
    // Q6_K: d = 1, scales[g] = g - 8; ql = 0, qh = 0 -> q - 32 = -32 everywhere.
    uint8_t q6k[210] = {0};
    for (int g = 0; g < 16; g++) q6k[192 + g] = (uint8_t)(int8_t)(g - 8);
    q6k[208] = 0x00; q6k[209] = 0x3c;
    gc_dequant_row(GC_DT_Q6_K, q6k, y, 256);
    for (int i = 0; i < 256; i++) assert_true(y[i] == (float)(-32 * (i / 16 - 8)));
    // Q5_0, d = 0.25: nibble l & 15 (low) / 15 - (l & 15) (high); qh sets bit 4
    // of every odd element, so codes are nibble + 16 * (i odd), minus 16.
    uint8_t q50[22] = {0x00, 0x34, 0xaa, 0xaa, 0xaa, 0xaa};
    for (int l = 0; l < 16; l++) q50[6 + l] = (uint8_t)(l | (15 - l) << 4);
    gc_dequant_row(GC_DT_Q5_0, q50, y, 32);
    for (int i = 0; i < 32; i++) {
        int nib = i < 16 ? i : 31 - i;
        assert_true(y[i] == 0.25f * (float)(nib + 16 * (i & 1) - 16));
    }
    // Q3_K: d = 1; group g has scale g - 8 (stored as g + 24, 6 bits split
    // over the 12 bytes); qs codes are 2 everywhere; hmask sets the high bit
    // only for runs k = 0, 3, 6 (bits 0x49): q = 2 there and -2 elsewhere.
    uint8_t q3k[110] = {0};
    memset(q3k, 0x49, 32);
    memset(q3k + 32, 0xaa, 64);
    for (int g = 0; g < 16; g++) {
        int v = g + 24;
        q3k[96 + g % 8] |= (uint8_t)((v & 15) << (g < 8 ? 0 : 4));
        q3k[104 + g % 4] |= (uint8_t)((v >> 4) << (2 * (g / 4)));
    }
    q3k[108] = 0x00; q3k[109] = 0x3c;
    gc_dequant_row(GC_DT_Q3_K, q3k, y, 256);
    for (int i = 0; i < 256; i++) {
        int k = i / 32, q = (k == 0 || k == 3 || k == 6) ? 2 : -2;
        assert_true(y[i] == (float)((i / 16 - 8) * q));
    }
    // IQ4_XS: d = 2; sub-block j has scale j - 4 (stored as j + 28: low
    // nibble in scales_l, 2 high bits in scales_h); byte l of a sub-block
    // holds nibbles l and 15 - l, decoded through the codebook.
    static const int kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    uint8_t iq[136] = {0x00, 0x40};
    for (int j = 0; j < 8; j++) {
        int v = j + 28;
        iq[4 + j / 2] |= (uint8_t)((v & 15) << (4 * (j % 2)));
        unsigned sh = (unsigned)(iq[2] | iq[3] << 8) | (unsigned)(v >> 4) << (2 * j);
        iq[2] = (uint8_t)sh; iq[3] = (uint8_t)(sh >> 8);
    }
    for (int l = 0; l < 128; l++) iq[8 + l] = (uint8_t)((l & 15) | (15 - (l & 15)) << 4);
    gc_dequant_row(GC_DT_IQ4_XS, iq, y, 256);
    for (int i = 0; i < 256; i++) {
        int j = i / 32, l = i % 32, nib = l < 16 ? l : 15 - (l - 16);
        assert_true(y[i] == 2.0f * (float)(j - 4) * (float)kv[nib]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_f16_to_f32_cases),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_f32_to_f16_cases),
        cmocka_unit_test(test_f32_to_f16_random_hw),
        cmocka_unit_test(test_f32_to_f16_fixture),
        cmocka_unit_test(test_bf16_cases),
        cmocka_unit_test(test_f32_to_bf16_fixture),
        cmocka_unit_test(test_dequant_all),
        cmocka_unit_test(test_dequant_scalar_all),
        cmocka_unit_test(test_dequant_known_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
