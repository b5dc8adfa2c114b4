// GGUF reader: fixtures written by gguf-py (tools/make_gguf_fixtures.py) are
// read back key by key and tensor by tensor; corrupt variants of them, and
// hand-built files, must fail with the right status and a message naming the
// file, and never read outside the buffer (run under ASan). With
// GC_SMOL_GGUF / GC_QWEN_GGUF set, the real SmolLM2-135M Q4_1 and
// Qwen2.5-Coder-0.5B Q4_K_M files are checked too.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"
#include "format/gguf.h"
#include "format/quant.h"

#define TINY "tests/data/gguf/tiny.gguf"
#define BAD "corrupt.gguf"

// ---- helpers ----

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf;

static buf load(const char *path) {
    char *p;
    size_t n;
    gc_status s = gc_file_read_all(path, &p, &n);
    if (s != GC_OK) fail_msg("%s", gc_last_error());
    return (buf){(uint8_t *)p, n};
}

static buf copy(buf b) {
    buf c = {malloc(b.n ? b.n : 1), b.n};
    assert_non_null(c.p);
    memcpy(c.p, b.p, b.n);
    return c;
}

static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> 8 * i); }

// Offset just past the on-disk string {u64 len, bytes} equal to s (a key or
// tensor name); fails the test if absent.
static size_t after_str(buf b, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + 8 + n <= b.n; i++) {
        uint64_t len = 0;
        for (int k = 7; k >= 0; k--) len = len << 8 | b.p[i + k];
        if (len == n && memcmp(b.p + i + 8, s, n) == 0) return i + 8 + n;
    }
    fail_msg("string '%s' not found", s);
    return 0;
}

// Opens b (copied into an exact-size heap block so ASan sees any over-read)
// and expects status `want` with a message naming the file and each of the
// NULL-terminated substrings.
static void expect_fail(buf b, gc_status want, ...) {
    uint8_t *exact = malloc(b.n ? b.n : 1);
    assert_non_null(exact);
    memcpy(exact, b.p, b.n);
    gc_gguf *g = (gc_gguf *)1;
    gc_status s = gc_gguf_open_memory(exact, b.n, BAD, &g);
    const char *msg = gc_last_error();
    if (s != want) fail_msg("status %s, want %s (%s)", gc_status_name(s), gc_status_name(want), msg);
    assert_null(g);
    if (!strstr(msg, BAD)) fail_msg("message does not name the file: %s", msg);
    va_list ap;
    va_start(ap, want);
    for (const char *sub; (sub = va_arg(ap, const char *));)
        if (!strstr(msg, sub)) fail_msg("message lacks '%s': %s", sub, msg);
    va_end(ap);
    free(exact);
}

static bool same_f32(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return memcmp(&a, &b, 4) == 0;
}

// Byte builder for hand-made files.
typedef struct bld {
    uint8_t *p;
    size_t n, cap;
} bld;

static void b_raw(bld *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void b_u32(bld *b, uint32_t v) { uint8_t t[4]; put32(t, v); b_raw(b, t, 4); }
static void b_u64(bld *b, uint64_t v) { uint8_t t[8]; put64(t, v); b_raw(b, t, 8); }
static void b_str(bld *b, const char *s) { b_u64(b, strlen(s)); b_raw(b, s, strlen(s)); }
static void b_head(bld *b, uint64_t n_tensors, uint64_t n_kv) {
    b_raw(b, "GGUF", 4);
    b_u32(b, 3);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
static void b_pad(bld *b, size_t align) { while (b->n % align) b_raw(b, "", 1); }
static buf b_buf(bld *b) { return (buf){b->p, b->n}; }

// ---- the good fixture ----

typedef struct want_tensor {
    const char *name;
    gc_dtype dtype;
    int ndim;
    int64_t shape[4];
    size_t offset, nbytes;  // absolute file offset, as gguf-py reports it
} want_tensor;

// From tools/make_gguf_fixtures.py (gguf-py's GGUFReader), shapes row-major.
static const want_tensor k_tiny[] = {
    {"t.f32", GC_DT_F32, 2, {3, 4}, 1568, 48},
    {"t.vec", GC_DT_F32, 1, {5}, 1632, 20},
    {"t.f16_3d", GC_DT_F16, 3, {2, 3, 8}, 1664, 96},
    {"t.f32_4d", GC_DT_F32, 4, {2, 1, 3, 2}, 1760, 48},
    {"t.bf16", GC_DT_BF16, 2, {2, 16}, 1824, 64},
    {"t.q8_0", GC_DT_Q8_0, 2, {2, 64}, 1888, 136},
    {"t.q4_0", GC_DT_Q4_0, 2, {2, 64}, 2048, 72},
    {"t.q4_1", GC_DT_Q4_1, 2, {2, 64}, 2144, 80},
    {"t.q4_k", GC_DT_Q4_K, 2, {2, 256}, 2240, 288},
    {"t.q5_k", GC_DT_Q5_K, 2, {2, 256}, 2528, 352},
    {"t.q6_k", GC_DT_Q6_K, 2, {2, 256}, 2880, 420},
};
#define N_TINY ((int64_t)(sizeof k_tiny / sizeof k_tiny[0]))
#define TINY_DATA_END 3300  // end of t.q6_k's data; the rest is padding

static void test_tiny_metadata(void **st) {
    (void)st;
    gc_gguf *g;
    assert_int_equal(gc_gguf_open(TINY, &g), GC_OK);
    assert_string_equal(gc_gguf_path(g), TINY);
    assert_int_equal(gc_gguf_version(g), 3);
    static const struct { const char *key; gc_gguf_type t; } keys[] = {
        {"general.architecture", GC_GGUF_STRING}, {"test.u8", GC_GGUF_UINT8}, {"test.i8", GC_GGUF_INT8},
        {"test.u16", GC_GGUF_UINT16}, {"test.i16", GC_GGUF_INT16}, {"test.u32", GC_GGUF_UINT32},
        {"test.i32", GC_GGUF_INT32}, {"test.f32", GC_GGUF_FLOAT32}, {"test.true", GC_GGUF_BOOL},
        {"test.false", GC_GGUF_BOOL}, {"test.str", GC_GGUF_STRING}, {"test.empty", GC_GGUF_STRING},
        {"test.u64", GC_GGUF_UINT64}, {"test.u64_big", GC_GGUF_UINT64}, {"test.i64", GC_GGUF_INT64},
        {"test.f64", GC_GGUF_FLOAT64}, {"test.arr_str", GC_GGUF_ARRAY}, {"test.arr_i32", GC_GGUF_ARRAY},
        {"test.arr_u8", GC_GGUF_ARRAY}, {"test.arr_i16", GC_GGUF_ARRAY}, {"test.arr_u64", GC_GGUF_ARRAY},
        {"test.arr_i64", GC_GGUF_ARRAY}, {"test.arr_f32", GC_GGUF_ARRAY}, {"test.arr_f64", GC_GGUF_ARRAY},
        {"test.arr_bool", GC_GGUF_ARRAY}, {"test.nested", GC_GGUF_ARRAY}, {"test.after_nested", GC_GGUF_UINT32},
    };
    int64_t nk = (int64_t)(sizeof keys / sizeof keys[0]);
    assert_int_equal(gc_gguf_n_kv(g), nk);
    for (int64_t i = 0; i < nk; i++) {
        assert_string_equal(gc_gguf_key(g, i), keys[i].key);
        assert_int_equal(gc_gguf_kv_type(g, i), keys[i].t);
        assert_int_equal(gc_gguf_find_key(g, keys[i].key), i);
    }
    assert_null(gc_gguf_key(g, -1));
    assert_null(gc_gguf_key(g, nk));
    assert_int_equal(gc_gguf_find_key(g, "test.missing"), -1);
    assert_int_equal(gc_gguf_find_key(g, "test"), -1);

    int64_t v;
    assert_true(gc_gguf_get_int(g, "test.u8", &v) && v == 200);
    assert_true(gc_gguf_get_int(g, "test.i8", &v) && v == -100);
    assert_true(gc_gguf_get_int(g, "test.u16", &v) && v == 60000);
    assert_true(gc_gguf_get_int(g, "test.i16", &v) && v == -30000);
    assert_true(gc_gguf_get_int(g, "test.u32", &v) && v == 4000000000LL);
    assert_true(gc_gguf_get_int(g, "test.i32", &v) && v == -2000000000LL);
    assert_true(gc_gguf_get_int(g, "test.u64", &v) && v == 123456789012345LL);
    assert_true(gc_gguf_get_int(g, "test.i64", &v) && v == -(1LL << 62) - 3);
    assert_true(gc_gguf_get_int(g, "test.after_nested", &v) && v == 77);  // the nested array was skipped exactly
    assert_false(gc_gguf_get_int(g, "test.u64_big", &v));                  // 2^63 + 5 does not fit
    assert_false(gc_gguf_get_int(g, "test.f32", &v));
    assert_false(gc_gguf_get_int(g, "test.str", &v));
    assert_false(gc_gguf_get_int(g, "test.true", &v));
    assert_false(gc_gguf_get_int(g, "test.arr_i32", &v));
    assert_false(gc_gguf_get_int(g, "test.missing", &v));

    double d;
    assert_true(gc_gguf_get_float(g, "test.f32", &d) && d == (double)0.1f);
    assert_true(gc_gguf_get_float(g, "test.f64", &d) && d == 3.141592653589793);
    assert_false(gc_gguf_get_float(g, "test.u8", &d));
    assert_false(gc_gguf_get_float(g, "test.arr_f32", &d));

    bool b;
    assert_true(gc_gguf_get_bool(g, "test.true", &b) && b);
    assert_true(gc_gguf_get_bool(g, "test.false", &b) && !b);
    assert_false(gc_gguf_get_bool(g, "test.u8", &b));

    size_t len = 99;
    const char *s = gc_gguf_get_str(g, "general.architecture", &len);
    assert_string_equal(s, "llama");
    assert_int_equal(len, 5);
    s = gc_gguf_get_str(g, "test.str", &len);
    assert_string_equal(s, "h\xc3\xa9llo w\xc3\xb6rld");
    assert_int_equal(len, 13);
    s = gc_gguf_get_str(g, "test.empty", &len);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    assert_non_null(gc_gguf_get_str(g, "test.str", NULL));
    assert_null(gc_gguf_get_str(g, "test.u8", &len));
    assert_null(gc_gguf_get_str(g, "test.arr_str", &len));

    gc_gguf_type et;
    int64_t n;
    assert_true(gc_gguf_get_arr(g, "test.arr_str", &et, &n) && et == GC_GGUF_STRING && n == 4);
    static const char *const strs[] = {"a", "", "\xc3\xbcn\xc3\xaf", "a longer string"};
    for (int i = 0; i < 4; i++) {
        s = gc_gguf_arr_str(g, "test.arr_str", i, &len);
        assert_string_equal(s, strs[i]);
        assert_int_equal(len, strlen(strs[i]));
    }
    assert_null(gc_gguf_arr_str(g, "test.arr_str", 4, &len));
    assert_null(gc_gguf_arr_str(g, "test.arr_str", -1, &len));
    assert_null(gc_gguf_arr_str(g, "test.arr_i32", 0, &len));
    assert_null(gc_gguf_arr_str(g, "test.str", 0, &len));
    assert_false(gc_gguf_get_arr(g, "test.str", &et, &n));
    assert_false(gc_gguf_get_arr(g, "test.missing", &et, &n));

    static const struct { const char *key; gc_gguf_type et; int64_t n; int64_t v[3]; bool ok[3]; } ints[] = {
        {"test.arr_i32", GC_GGUF_INT32, 3, {1, -2, 2147483647}, {1, 1, 1}},
        {"test.arr_u8", GC_GGUF_UINT8, 3, {0, 255, 7}, {1, 1, 1}},
        {"test.arr_i16", GC_GGUF_INT16, 2, {-32768, 32767}, {1, 1}},
        {"test.arr_u64", GC_GGUF_UINT64, 2, {0, 42}, {0, 1}},  // 2^64-1 does not fit int64
        {"test.arr_i64", GC_GGUF_INT64, 2, {INT64_MIN, 1LL << 40}, {1, 1}},
        {"test.arr_bool", GC_GGUF_BOOL, 3, {1, 0, 1}, {1, 1, 1}},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        assert_true(gc_gguf_get_arr(g, ints[k].key, &et, &n));
        assert_int_equal(et, ints[k].et);
        assert_int_equal(n, ints[k].n);
        for (int64_t i = 0; i < n; i++) {
            bool ok = gc_gguf_arr_int(g, ints[k].key, i, &v);
            assert_int_equal(ok, ints[k].ok[i]);
            if (ok) assert_int_equal(v, ints[k].v[i]);
            assert_false(gc_gguf_arr_float(g, ints[k].key, i, &d));
        }
        assert_false(gc_gguf_arr_int(g, ints[k].key, n, &v));
        assert_false(gc_gguf_arr_int(g, ints[k].key, -1, &v));
    }
    assert_true(gc_gguf_get_arr(g, "test.arr_f32", &et, &n) && et == GC_GGUF_FLOAT32 && n == 3);
    assert_true(gc_gguf_arr_float(g, "test.arr_f32", 0, &d) && d == 0.5);
    assert_true(gc_gguf_arr_float(g, "test.arr_f32", 1, &d) && d == -2.25);
    assert_true(gc_gguf_arr_float(g, "test.arr_f32", 2, &d) && d == (double)1e-3f);
    assert_false(gc_gguf_arr_float(g, "test.arr_f32", 3, &d));
    assert_false(gc_gguf_arr_int(g, "test.arr_f32", 0, &v));
    assert_true(gc_gguf_get_arr(g, "test.arr_f64", &et, &n) && et == GC_GGUF_FLOAT64 && n == 2);
    assert_true(gc_gguf_arr_float(g, "test.arr_f64", 0, &d) && d == 1.0 / 3.0);
    assert_true(gc_gguf_arr_float(g, "test.arr_f64", 1, &d) && d == -1e300);
    assert_false(gc_gguf_arr_float(g, "test.arr_str", 0, &d));
    // Array of arrays: visible as such, its elements are not exposed.
    assert_true(gc_gguf_get_arr(g, "test.nested", &et, &n) && et == GC_GGUF_ARRAY && n == 3);
    assert_false(gc_gguf_arr_int(g, "test.nested", 0, &v));
    assert_null(gc_gguf_arr_str(g, "test.nested", 0, &len));
    gc_gguf_free(g);
}

// Checks g's tensors against the table k[0..n) and their dequantised values
// against expect_path (gguf-py's, all tensors concatenated as f32).
static void check_tensors(const uint8_t *base, size_t size, gc_gguf *g, const want_tensor *k, int64_t n,
                          const char *expect_path) {
    buf want = load(expect_path);
    size_t at = 0;  // in floats
    assert_int_equal(gc_gguf_n_tensors(g), n);
    for (int64_t i = 0; i < n; i++) {
        const want_tensor *w = &k[i];
        const gc_tensor *t = gc_gguf_tensor(g, i);
        assert_non_null(t);
        assert_ptr_equal(gc_gguf_find_tensor(g, w->name), t);
        assert_string_equal(t->name, w->name);
        assert_int_equal(t->dtype, w->dtype);
        assert_int_equal(t->ndim, w->ndim);
        for (int k = 0; k < w->ndim; k++) assert_int_equal(t->shape[k], w->shape[k]);
        assert_int_equal(t->nbytes, w->nbytes);
        if (base) assert_int_equal((const uint8_t *)t->data - base, w->offset);
        assert_true((const uint8_t *)t->data >= base && (const uint8_t *)t->data + t->nbytes <= base + size);
        // Dequantise row by row and compare with gguf-py.
        int64_t cols = t->shape[t->ndim - 1], rows = gc_tensor_numel(t) / cols;
        size_t rb = gc_dtype_row_bytes(t->dtype, cols);
        assert_int_equal(rb * (size_t)rows, t->nbytes);
        float *row = malloc((size_t)cols * sizeof(float));
        for (int64_t r = 0; r < rows; r++) {
            gc_dequant_row(t->dtype, (const uint8_t *)t->data + r * rb, row, cols);
            for (int64_t c = 0; c < cols; c++, at++) {
                float e;
                assert_true((at + 1) * 4 <= want.n);
                memcpy(&e, want.p + at * 4, 4);
                if (!same_f32(row[c], e)) fail_msg("%s[%lld][%lld] = %g, gguf-py %g", w->name, (long long)r,
                                                   (long long)c, row[c], e);
            }
        }
        free(row);
    }
    assert_int_equal(at * 4, want.n);
    assert_null(gc_gguf_tensor(g, n));
    assert_null(gc_gguf_tensor(g, -1));
    assert_null(gc_gguf_find_tensor(g, "t.missing"));
    free(want.p);
}

static void test_tiny_tensors(void **st) {
    (void)st;
    buf b = load(TINY);
    gc_gguf *g;
    assert_int_equal(gc_gguf_open_memory(b.p, b.n, "tiny", &g), GC_OK);
    assert_string_equal(gc_gguf_path(g), "tiny");
    check_tensors(b.p, b.n, g, k_tiny, N_TINY, "tests/data/gguf/tiny.expect.bin");
    gc_gguf_free(g);
    // Through the mmap path the data must be the same bytes.
    assert_int_equal(gc_gguf_open(TINY, &g), GC_OK);
    for (int64_t i = 0; i < N_TINY; i++) {
        const gc_tensor *t = gc_gguf_tensor(g, i);
        assert_memory_equal(t->data, b.p + k_tiny[i].offset, t->nbytes);
    }
    gc_gguf_free(g);
    free(b.p);
}

static void test_align64(void **st) {
    (void)st;
    buf b = load("tests/data/gguf/align64.gguf");
    gc_gguf *g;
    assert_int_equal(gc_gguf_open_memory(b.p, b.n, "align64", &g), GC_OK);
    int64_t a;
    assert_true(gc_gguf_get_int(g, "general.alignment", &a) && a == 64);
    const gc_tensor *t = gc_gguf_find_tensor(g, "a");
    assert_non_null(t);
    assert_int_equal((const uint8_t *)t->data - b.p, 256);  // infos end at 215 -> 256
    t = gc_gguf_find_tensor(g, "b");
    assert_non_null(t);
    assert_int_equal((const uint8_t *)t->data - b.p, 320);
    assert_int_equal(t->dtype, GC_DT_Q8_0);
    gc_gguf_free(g);

    // Same file read with the default alignment would put the data elsewhere:
    // a non-power-of-two or zero value must be refused.
    size_t v = after_str(b, "general.alignment");
    assert_int_equal(get32(b.p + v), GC_GGUF_UINT32);
    uint32_t bad_vals[] = {48, 0, 3, 0x80000001u};
    for (size_t i = 0; i < sizeof bad_vals / sizeof bad_vals[0]; i++) {
        buf c = copy(b);
        put32(c.p + v + 4, bad_vals[i]);
        expect_fail(c, GC_ERR_FORMAT, "general.alignment", "power of two", "offset", NULL);
        free(c.p);
    }
    buf c = copy(b);
    put32(c.p + v, GC_GGUF_INT32);
    expect_fail(c, GC_ERR_FORMAT, "general.alignment", "uint32", NULL);
    free(c.p);
    // 16 is valid but the tensor offsets (64, from gguf-py) stay valid while
    // the data section moves: the reader must follow the key, not assume 32.
    c = copy(b);
    put32(c.p + v + 4, 16);
    assert_int_equal(gc_gguf_open_memory(c.p, c.n, "a16", &g), GC_OK);
    assert_int_equal((const uint8_t *)gc_gguf_find_tensor(g, "a")->data - c.p, 224);  // 215 -> 224
    gc_gguf_free(g);
    free(c.p);
    free(b.p);
}

static void test_meta_only(void **st) {
    (void)st;
    gc_gguf *g;
    assert_int_equal(gc_gguf_open("tests/data/gguf/meta_only.gguf", &g), GC_OK);
    assert_int_equal(gc_gguf_n_tensors(g), 0);
    assert_int_equal(gc_gguf_n_kv(g), 4);
    assert_string_equal(gc_gguf_get_str(g, "general.architecture", NULL), "qwen2");
    gc_gguf_type et;
    int64_t n;
    assert_true(gc_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) && et == GC_GGUF_STRING && n == 4);
    assert_string_equal(gc_gguf_arr_str(g, "tokenizer.ggml.tokens", 3, NULL), "\xc4\xa0world");
    assert_true(gc_gguf_get_arr(g, "test.nested_str", &et, &n) && et == GC_GGUF_ARRAY && n == 2);
    bool b;
    assert_true(gc_gguf_get_bool(g, "test.flag", &b) && b);
    gc_gguf_free(g);
}

static void test_version2_and_endianness(void **st) {
    (void)st;
    buf b = load(TINY);
    put32(b.p + 4, 2);
    gc_gguf *g;
    assert_int_equal(gc_gguf_open_memory(b.p, b.n, "v2", &g), GC_OK);
    assert_int_equal(gc_gguf_version(g), 2);
    assert_int_equal(gc_gguf_n_tensors(g), N_TINY);
    gc_gguf_free(g);
    put32(b.p + 4, 99);
    expect_fail(b, GC_ERR_UNSUPPORTED, "version 99", NULL);
    put32(b.p + 4, 1);
    expect_fail(b, GC_ERR_UNSUPPORTED, "version 1", NULL);
    put32(b.p + 4, 0x03000000u);  // what a big-endian v3 file reads as
    expect_fail(b, GC_ERR_UNSUPPORTED, "big-endian", NULL);
    put32(b.p + 4, 3);
    memcpy(b.p, "GGUG", 4);
    expect_fail(b, GC_ERR_FORMAT, "magic", "offset 0", NULL);
    memcpy(b.p, "FUGG", 4);
    expect_fail(b, GC_ERR_FORMAT, "magic", NULL);
    free(b.p);
}

static void test_truncated(void **st) {
    (void)st;
    buf b = load(TINY);
    assert_int_equal(b.n, 3328);
    for (size_t len = 0; len < b.n; len++) {
        buf t = {b.p, len};
        if (len < TINY_DATA_END) {
            expect_fail(t, GC_ERR_FORMAT, "offset", NULL);
        } else {  // only trailing padding is missing: still a complete file
            gc_gguf *g;
            uint8_t *exact = malloc(len);
            memcpy(exact, b.p, len);
            assert_int_equal(gc_gguf_open_memory(exact, len, "padless", &g), GC_OK);
            gc_gguf_free(g);
            free(exact);
        }
    }
    buf empty = {b.p, 0};
    expect_fail(empty, GC_ERR_FORMAT, "too short", NULL);
    free(b.p);
}

static void test_huge_counts(void **st) {
    (void)st;
    buf b = load(TINY);
    static const uint64_t huge[] = {UINT64_MAX, 1ull << 63, 1ull << 40, 3328 / 13};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        buf c = copy(b);
        put64(c.p + 16, huge[i]);  // n_kv
        expect_fail(c, GC_ERR_FORMAT, "implausible", NULL);
        memcpy(c.p, b.p, b.n);
        put64(c.p + 8, huge[i]);  // n_tensors
        expect_fail(c, GC_ERR_FORMAT, "implausible", NULL);
        free(c.p);
    }
    // Off by one: the parser runs into the next section and must stop cleanly.
    buf c = copy(b);
    put64(c.p + 16, 28);  // key #27 swallows the first tensor info
    expect_fail(c, GC_ERR_FORMAT, NULL);
    memcpy(c.p, b.p, b.n);
    put64(c.p + 8, 12);
    expect_fail(c, GC_ERR_FORMAT, "tensor #11", NULL);
    memcpy(c.p, b.p, b.n);
    put64(c.p + 8, 10);  // one tensor fewer: infos end early, data offsets then misaligned or past the end
    gc_gguf *g = NULL;
    gc_status s = gc_gguf_open_memory(c.p, c.n, BAD, &g);
    if (s == GC_OK) gc_gguf_free(g);
    free(c.p);
    free(b.p);
}

static void test_bad_strings(void **st) {
    (void)st;
    buf b = load(TINY);
    size_t v = after_str(b, "test.str");  // u32 type, u64 len, bytes
    static const uint64_t lens[] = {UINT64_MAX, 1ull << 62, 3328, 3328 - 200};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        buf c = copy(b);
        put64(c.p + v + 4, lens[i]);
        // The largest of these still lies inside the file: the parse then
        // fails later, at whatever the string swallowed.
        if (lens[i] > b.n - v - 12) expect_fail(c, GC_ERR_FORMAT, "test.str", "length", NULL);
        else {
            gc_gguf *g = NULL;
            assert_int_not_equal(gc_gguf_open_memory(c.p, c.n, BAD, &g), GC_OK);
        }
        free(c.p);
    }
    buf c = copy(b);
    c.p[v + 12 + 3] = 0;  // "hel\0o..."
    expect_fail(c, GC_ERR_FORMAT, "test.str", "NUL", NULL);
    memcpy(c.p, b.p, b.n);
    // A key's own length field.
    size_t k = after_str(b, "test.u16") - strlen("test.u16") - 8;
    put64(c.p + k, 1ull << 60);
    expect_fail(c, GC_ERR_FORMAT, "key #3", "length", NULL);
    memcpy(c.p, b.p, b.n);
    c.p[k + 8 + 2] = 0;  // NUL inside the key
    expect_fail(c, GC_ERR_FORMAT, "key #3", "NUL", NULL);
    memcpy(c.p, b.p, b.n);
    put64(c.p + k, 0);  // empty key (the parse stops there)
    expect_fail(c, GC_ERR_FORMAT, "empty key", NULL);
    memcpy(c.p, b.p, b.n);
    // String array: count and an element's length.
    v = after_str(b, "test.arr_str");  // u32 ARRAY, u32 STRING, u64 n, strings
    assert_int_equal(get32(b.p + v), GC_GGUF_ARRAY);
    assert_int_equal(get32(b.p + v + 4), GC_GGUF_STRING);
    put64(c.p + v + 8, 1ull << 60);
    expect_fail(c, GC_ERR_FORMAT, "test.arr_str", "array of", NULL);
    memcpy(c.p, b.p, b.n);
    put64(c.p + v + 8, 400);  // fits the byte bound, but the strings run out
    expect_fail(c, GC_ERR_FORMAT, "test.arr_str", NULL);
    memcpy(c.p, b.p, b.n);
    put64(c.p + v + 16, UINT64_MAX - 3);  // first element's length
    expect_fail(c, GC_ERR_FORMAT, "test.arr_str", "length", NULL);
    memcpy(c.p, b.p, b.n);
    c.p[v + 16 + 9 + 8 + 8 + 1] = 0;  // inside "ünï" (after "a" and "")
    expect_fail(c, GC_ERR_FORMAT, "test.arr_str", "NUL", NULL);
    free(c.p);
    free(b.p);
}

static void test_bad_arrays_and_types(void **st) {
    (void)st;
    buf b = load(TINY);
    buf c = copy(b);
    size_t v = after_str(b, "test.arr_i32");
    static const uint64_t counts[] = {UINT64_MAX, 1ull << 62, (1ull << 62) + 1, 3328 / 4};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        memcpy(c.p, b.p, b.n);
        put64(c.p + v + 8, counts[i]);
        expect_fail(c, GC_ERR_FORMAT, "test.arr_i32", "array of", NULL);
    }
    memcpy(c.p, b.p, b.n);
    put32(c.p + v + 4, 13);  // unknown element type
    expect_fail(c, GC_ERR_FORMAT, "test.arr_i32", "element type 13", NULL);
    memcpy(c.p, b.p, b.n);
    v = after_str(b, "test.u8");
    put32(c.p + v, 13);  // unknown value type
    expect_fail(c, GC_ERR_FORMAT, "test.u8", "value type 13", NULL);
    memcpy(c.p, b.p, b.n);
    put32(c.p + v, 0xffffffffu);
    expect_fail(c, GC_ERR_FORMAT, "test.u8", NULL);
    // Nested: inner count too large, inner element type unknown.
    memcpy(c.p, b.p, b.n);
    v = after_str(b, "test.nested");  // u32 ARRAY, u32 ARRAY, u64 3, {u32 INT32, u64 2, ...}
    assert_int_equal(get32(b.p + v + 4), GC_GGUF_ARRAY);
    put64(c.p + v + 16 + 4, 1ull << 61);
    expect_fail(c, GC_ERR_FORMAT, "test.nested", "nested array", NULL);
    memcpy(c.p, b.p, b.n);
    put32(c.p + v + 16, 77);
    expect_fail(c, GC_ERR_FORMAT, "test.nested", "element type 77", NULL);
    memcpy(c.p, b.p, b.n);
    put64(c.p + v + 8, 1ull << 60);  // outer count
    expect_fail(c, GC_ERR_FORMAT, "test.nested", "arrays", NULL);
    free(c.p);
    free(b.p);
}

static void test_bad_tensors(void **st) {
    (void)st;
    buf b = load(TINY);
    buf c = copy(b);
    // t.q6_k info: u32 n_dims, u64 ne0, u64 ne1, u32 type, u64 offset (relative to data start 1568).
    size_t q6 = after_str(b, "t.q6_k");
    assert_int_equal(get32(b.p + q6), 2);
    size_t off_field = q6 + 4 + 16 + 4;
    char num[32];
    snprintf(num, sizeof num, "offset %zu", off_field);
    static const uint64_t past[] = {3328 - 1568 - 416, 1ull << 40, UINT64_MAX - 31, 1ull << 63};
    for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
        memcpy(c.p, b.p, b.n);
        put64(c.p + off_field, past[i]);
        expect_fail(c, GC_ERR_FORMAT, "t.q6_k", "past the end", num, NULL);
    }
    memcpy(c.p, b.p, b.n);
    put64(c.p + off_field, 2880 - 1568 + 1);
    expect_fail(c, GC_ERR_FORMAT, "t.q6_k", "alignment", NULL);

    // Unknown / unsupported ggml types.
    size_t q40 = after_str(b, "t.q4_0");
    size_t type_field = q40 + 4 + 16;
    assert_int_equal(get32(b.p + type_field), 2);
    static const uint32_t types[] = {4, 5, 9, 15, 16, 17, 18, 19, 21, 22, 24, 28, 29, 31, 34, 35, 39, 40, 999,
                                     0xffffffffu};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        memcpy(c.p, b.p, b.n);
        put32(c.p + type_field, types[i]);
        char tid[32];
        snprintf(tid, sizeof tid, "type %u", types[i]);
        expect_fail(c, GC_ERR_UNSUPPORTED, "t.q4_0", tid, NULL);
    }
    memcpy(c.p, b.p, b.n);
    put32(c.p + type_field, 16);
    expect_fail(c, GC_ERR_UNSUPPORTED, "IQ2_XXS", NULL);
    put32(c.p + type_field, 39);
    expect_fail(c, GC_ERR_UNSUPPORTED, "MXFP4", NULL);

    // Dimensions.
    static const uint32_t ndims[] = {0, 5, 1000, 0xffffffffu};
    for (size_t i = 0; i < sizeof ndims / sizeof ndims[0]; i++) {
        memcpy(c.p, b.p, b.n);
        put32(c.p + q40, ndims[i]);
        expect_fail(c, GC_ERR_FORMAT, "t.q4_0", "n_dims", NULL);
    }
    memcpy(c.p, b.p, b.n);
    put64(c.p + q40 + 4, 0);
    expect_fail(c, GC_ERR_FORMAT, "t.q4_0", "ne[0]", NULL);
    memcpy(c.p, b.p, b.n);
    put64(c.p + q40 + 12, 1ull << 63);
    expect_fail(c, GC_ERR_FORMAT, "t.q4_0", "ne[1]", NULL);
    memcpy(c.p, b.p, b.n);
    put64(c.p + q40 + 4, 48);  // not a multiple of 32
    expect_fail(c, GC_ERR_FORMAT, "t.q4_0", "multiple", NULL);
    memcpy(c.p, b.p, b.n);
    put64(c.p + q40 + 4, 1ull << 40);
    put64(c.p + q40 + 12, 1ull << 40);  // 2^80 elements
    expect_fail(c, GC_ERR_FORMAT, "t.q4_0", "overflow", NULL);
    memcpy(c.p, b.p, b.n);
    put64(c.p + q40 + 4, 1ull << 30);  // fits int64, not the file
    expect_fail(c, GC_ERR_FORMAT, "t.q4_0", NULL);

    // Duplicates: rename t.vec to t.f32 and test.i8 to test.u8.
    memcpy(c.p, b.p, b.n);
    memcpy(c.p + after_str(b, "t.vec") - 5, "t.f32", 5);
    expect_fail(c, GC_ERR_FORMAT, "t.f32", "duplicate tensor", NULL);
    memcpy(c.p, b.p, b.n);
    memcpy(c.p + after_str(b, "test.i8") - 7, "test.u8", 7);
    expect_fail(c, GC_ERR_FORMAT, "test.u8", "duplicate key", NULL);
    memcpy(c.p, b.p, b.n);
    c.p[after_str(b, "t.f16_3d") - 3] = 0;
    expect_fail(c, GC_ERR_FORMAT, "tensor #2", "NUL", NULL);
    free(c.p);
    free(b.p);
}

// Hand-built files: nesting, empty tensor list, element-count overflow.
static void test_built_files(void **st) {
    (void)st;
    gc_gguf *g;
    // Array of arrays of (string arrays, empty arrays), then a plain key.
    bld b = {0};
    b_head(&b, 0, 2);
    b_str(&b, "deep");
    b_u32(&b, GC_GGUF_ARRAY);
    b_u32(&b, GC_GGUF_ARRAY);
    b_u64(&b, 2);
    b_u32(&b, GC_GGUF_ARRAY);  // element 0: array of 1 array of strings
    b_u64(&b, 1);
    b_u32(&b, GC_GGUF_STRING);
    b_u64(&b, 2);
    b_str(&b, "x");
    b_str(&b, "yz");
    b_u32(&b, GC_GGUF_FLOAT64);  // element 1: empty float64 array
    b_u64(&b, 0);
    b_str(&b, "after");
    b_u32(&b, GC_GGUF_UINT16);
    b_raw(&b, "\x34\x12", 2);
    assert_int_equal(gc_gguf_open_memory(b.p, b.n, "nested", &g), GC_OK);
    gc_gguf_type et;
    int64_t n, v;
    assert_true(gc_gguf_get_arr(g, "deep", &et, &n) && et == GC_GGUF_ARRAY && n == 2);
    assert_true(gc_gguf_get_int(g, "after", &v) && v == 0x1234);
    assert_int_equal(gc_gguf_n_tensors(g), 0);
    assert_null(gc_gguf_tensor(g, 0));
    gc_gguf_free(g);
    free(b.p);

    // Nesting deeper than the reader accepts.
    b = (bld){0};
    b_head(&b, 0, 1);
    b_str(&b, "abyss");
    b_u32(&b, GC_GGUF_ARRAY);
    for (int i = 0; i < 40; i++) {
        b_u32(&b, GC_GGUF_ARRAY);
        b_u64(&b, 1);
    }
    b_u32(&b, GC_GGUF_UINT8);
    b_u64(&b, 0);
    expect_fail(b_buf(&b), GC_ERR_FORMAT, "abyss", "nested", NULL);
    free(b.p);

    // Zero tensors and zero keys.
    b = (bld){0};
    b_head(&b, 0, 0);
    assert_int_equal(gc_gguf_open_memory(b.p, b.n, "empty", &g), GC_OK);
    assert_int_equal(gc_gguf_n_kv(g), 0);
    assert_int_equal(gc_gguf_find_key(g, "x"), -1);
    gc_gguf_free(g);
    free(b.p);

    // One F32 tensor whose dims multiply past int64; then a valid one with
    // general.alignment = 8 to check data placement.
    b = (bld){0};
    b_head(&b, 1, 0);
    b_str(&b, "big");
    b_u32(&b, 3);
    b_u64(&b, 1ull << 31);
    b_u64(&b, 1ull << 31);
    b_u64(&b, 1ull << 31);
    b_u32(&b, 0);
    b_u64(&b, 0);
    for (int i = 0; i < 8; i++) b_u64(&b, 0);
    expect_fail(b_buf(&b), GC_ERR_FORMAT, "'big'", "overflow", NULL);
    free(b.p);

    b = (bld){0};
    b_head(&b, 1, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, GC_GGUF_UINT32);
    b_u32(&b, 8);
    b_str(&b, "w");
    b_u32(&b, 1);
    b_u64(&b, 2);
    b_u32(&b, 0);
    b_u64(&b, 8);  // second 8-byte slot of the data section
    b_pad(&b, 8);
    size_t data_start = b.n;
    float vals[4] = {0, 0, 1.5f, -2.0f};
    b_raw(&b, vals, sizeof vals);
    assert_int_equal(gc_gguf_open_memory(b.p, b.n, "align8", &g), GC_OK);
    const gc_tensor *t = gc_gguf_find_tensor(g, "w");
    assert_int_equal((const uint8_t *)t->data - b.p, data_start + 8);
    float out[2];
    gc_dequant_row(t->dtype, t->data, out, 2);
    assert_true(out[0] == 1.5f && out[1] == -2.0f);
    gc_gguf_free(g);
    b.n -= 1;  // last byte of the tensor missing
    expect_fail(b_buf(&b), GC_ERR_FORMAT, "'w'", "past the end", NULL);
    free(b.p);
}

// ---- quants.gguf: one tensor of each type read since tiny.gguf was made ----

#define QUANTS "tests/data/gguf/quants.gguf"

// From tools/make_gguf_fixtures.py (gguf-py's GGUFReader), shapes row-major.
static const want_tensor k_quants[] = {
    {"q.q5_0", GC_DT_Q5_0, 2, {3, 64}, 352, 132},
    {"q.q5_1", GC_DT_Q5_1, 2, {2, 96}, 512, 144},
    {"q.iq4_nl", GC_DT_IQ4_NL, 2, {2, 64}, 672, 72},
    {"q.q2_k", GC_DT_Q2_K, 2, {2, 256}, 768, 168},
    {"q.q3_k", GC_DT_Q3_K, 2, {3, 256}, 960, 330},
    {"q.iq4_xs", GC_DT_IQ4_XS, 2, {2, 512}, 1312, 544},
};
#define N_QUANTS ((int64_t)(sizeof k_quants / sizeof k_quants[0]))

static void test_quants_tensors(void **st) {
    (void)st;
    buf b = load(QUANTS);
    gc_gguf *g;
    assert_int_equal(gc_gguf_open_memory(b.p, b.n, "quants", &g), GC_OK);
    check_tensors(b.p, b.n, g, k_quants, N_QUANTS, "tests/data/gguf/quants.expect.bin");
    gc_gguf_free(g);
    free(b.p);
}

// Cut anywhere, the file fails with a message naming the offset; cut inside
// the data section, the message names a tensor whose data the cut removed.
static void test_quants_truncated(void **st) {
    (void)st;
    buf b = load(QUANTS);
    const want_tensor *last = &k_quants[N_QUANTS - 1];
    assert_int_equal(b.n, last->offset + last->nbytes);
    for (size_t len = 0; len < b.n; len++) {
        buf t = {b.p, len};
        expect_fail(t, GC_ERR_FORMAT, "offset", NULL);
        if (len < k_quants[0].offset) continue;
        const char *msg = gc_last_error();
        int64_t named = -1;
        for (int64_t i = 0; i < N_QUANTS; i++) {
            char q[64];
            snprintf(q, sizeof q, "'%s'", k_quants[i].name);
            if (strstr(msg, q)) named = i;
        }
        if (named < 0) fail_msg("cut at %zu: no tensor named: %s", len, msg);
        if (k_quants[named].offset + k_quants[named].nbytes <= len)
            fail_msg("cut at %zu: names a tensor that is whole: %s", len, msg);
    }
    free(b.p);
}

// Hand-built one-tensor files for each type, sized from GGML's block
// definitions (not from our table): exactly enough bytes opens, one byte
// less fails naming the tensor, a row length off the block fails naming the type.
static void test_quants_sizes(void **st) {
    (void)st;
    static const struct { uint32_t id; gc_dtype t; const char *name; uint64_t be; size_t bb; } k[] = {
        {6, GC_DT_Q5_0, "Q5_0", 32, 22},      {7, GC_DT_Q5_1, "Q5_1", 32, 24},
        {10, GC_DT_Q2_K, "Q2_K", 256, 84},    {11, GC_DT_Q3_K, "Q3_K", 256, 110},
        {20, GC_DT_IQ4_NL, "IQ4_NL", 32, 18}, {23, GC_DT_IQ4_XS, "IQ4_XS", 256, 136},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        for (int bad_row = 0; bad_row < 2; bad_row++) {
            bld b = {0};
            b_head(&b, 1, 0);
            b_str(&b, "w");
            b_u32(&b, 2);
            b_u64(&b, bad_row ? k[i].be + 16 : 2 * k[i].be);  // ne0
            b_u64(&b, 3);                                     // ne1: rows
            b_u32(&b, k[i].id);
            b_u64(&b, 0);
            b_pad(&b, 32);
            for (size_t j = 0; j < 6 * k[i].bb; j++) b_raw(&b, "\x11", 1);
            if (bad_row) {
                expect_fail(b_buf(&b), GC_ERR_FORMAT, "'w'", "multiple", k[i].name, NULL);
                free(b.p);
                continue;
            }
            gc_gguf *g;
            assert_int_equal(gc_gguf_open_memory(b.p, b.n, "one", &g), GC_OK);
            const gc_tensor *t = gc_gguf_find_tensor(g, "w");
            assert_int_equal(t->dtype, k[i].t);
            assert_int_equal(t->nbytes, 6 * k[i].bb);
            assert_string_equal(gc_dtype_name(t->dtype), k[i].name);
            gc_gguf_free(g);
            b.n -= 1;
            expect_fail(b_buf(&b), GC_ERR_FORMAT, "'w'", "past the end", NULL);
            free(b.p);
        }
    }
}

static void test_open_errors(void **st) {
    (void)st;
    gc_gguf *g = (gc_gguf *)1;
    assert_int_equal(gc_gguf_open("tests/data/gguf/does-not-exist.gguf", &g), GC_ERR_IO);
    assert_null(g);
    assert_non_null(strstr(gc_last_error(), "does-not-exist.gguf"));
    assert_int_equal(gc_gguf_open("tests/data/quant/q4_k.bin", &g), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "tests/data/quant/q4_k.bin"));
    assert_int_equal(gc_gguf_open_memory(NULL, 5, "x", &g), GC_ERR_INVALID_ARG);
    gc_gguf_free(NULL);
}

// ---- the real model (optional) ----

static void test_smol(void **st) {
    (void)st;
    const char *path = getenv("GC_SMOL_GGUF");
    if (!path || !*path) skip();
    gc_gguf *g;
    if (gc_gguf_open(path, &g) != GC_OK) fail_msg("%s", gc_last_error());
    // Expected values from gguf-py's GGUFReader on the same file.
    assert_int_equal(gc_gguf_version(g), 3);
    assert_int_equal(gc_gguf_n_kv(g), 33);
    assert_int_equal(gc_gguf_n_tensors(g), 272);
    assert_string_equal(gc_gguf_get_str(g, "general.architecture", NULL), "llama");
    assert_string_equal(gc_gguf_get_str(g, "tokenizer.ggml.model", NULL), "gpt2");
    int64_t v;
    assert_true(gc_gguf_get_int(g, "llama.block_count", &v) && v == 30);
    assert_true(gc_gguf_get_int(g, "llama.embedding_length", &v) && v == 576);
    assert_true(gc_gguf_get_int(g, "llama.context_length", &v) && v == 8192);
    assert_true(gc_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &v) && v == 2);
    double d;
    assert_true(gc_gguf_get_float(g, "llama.rope.freq_base", &d) && d == 100000.0);
    assert_true(gc_gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", &d) && d == (double)1e-5f);
    bool b;
    assert_true(gc_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) && !b);
    gc_gguf_type et;
    int64_t n;
    assert_true(gc_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) && et == GC_GGUF_STRING && n == 49152);
    assert_string_equal(gc_gguf_arr_str(g, "tokenizer.ggml.tokens", 0, NULL), "<|endoftext|>");
    assert_string_equal(gc_gguf_arr_str(g, "tokenizer.ggml.tokens", 1, NULL), "<|im_start|>");
    assert_string_equal(gc_gguf_arr_str(g, "tokenizer.ggml.tokens", 49151, NULL), "ectable");
    assert_true(gc_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n) && n == 48900);
    assert_string_equal(gc_gguf_arr_str(g, "tokenizer.ggml.merges", 0, NULL), "\xc4\xa0 t");
    assert_true(gc_gguf_arr_int(g, "tokenizer.ggml.token_type", 0, &v) && v == 3);
    assert_true(gc_gguf_arr_int(g, "tokenizer.ggml.token_type", 100, &v) && v == 1);

    static const want_tensor k_smol[] = {
        {"token_embd.weight", GC_DT_Q8_0, 2, {49152, 576}, 1785664, 30081024},
        {"blk.0.attn_q.weight", GC_DT_Q4_1, 2, {576, 576}, 33806656, 207360},
        {"blk.0.attn_norm.weight", GC_DT_F32, 1, {576}, 31866688, 2304},
        {"blk.0.ffn_down.weight", GC_DT_Q4_1, 2, {576, 1536}, 31868992, 552960},
        {"blk.29.ffn_up.weight", GC_DT_Q4_1, 2, {1536, 576}, 81736768, 552960},
        {"output_norm.weight", GC_DT_F32, 1, {576}, 98360128, 2304},
    };
    const uint8_t *base = gc_gguf_tensor(g, 0)->data;  // token_embd.weight is first
    assert_string_equal(gc_gguf_tensor(g, 0)->name, "token_embd.weight");
    for (size_t i = 0; i < sizeof k_smol / sizeof k_smol[0]; i++) {
        const gc_tensor *t = gc_gguf_find_tensor(g, k_smol[i].name);
        if (!t) fail_msg("missing tensor %s", k_smol[i].name);
        assert_int_equal(t->dtype, k_smol[i].dtype);
        assert_int_equal(t->ndim, k_smol[i].ndim);
        for (int k = 0; k < t->ndim; k++) assert_int_equal(t->shape[k], k_smol[i].shape[k]);
        assert_int_equal(t->nbytes, k_smol[i].nbytes);
        assert_int_equal((const uint8_t *)t->data - base, k_smol[i].offset - k_smol[0].offset);
    }
    static const struct { const char *tensor, *fixture; } rows[] = {
        {"token_embd.weight", "tests/data/gguf/smol_token_embd_row0.f32"},
        {"blk.0.attn_q.weight", "tests/data/gguf/smol_attn_q_row0.f32"},
    };
    for (size_t i = 0; i < 2; i++) {
        const gc_tensor *t = gc_gguf_find_tensor(g, rows[i].tensor);
        buf want = load(rows[i].fixture);
        assert_int_equal(want.n, 576 * 4);
        float row[576];
        gc_dequant_row(t->dtype, t->data, row, 576);
        for (int c = 0; c < 576; c++) {
            float e;
            memcpy(&e, want.p + 4 * c, 4);
            if (!same_f32(row[c], e)) fail_msg("%s[0][%d] = %.9g, gguf-py %.9g", rows[i].tensor, c, row[c], e);
        }
        free(want.p);
    }
    gc_gguf_free(g);
}

// The real Qwen2.5-Coder-0.5B-Instruct Q4_K_M file (GC_QWEN_GGUF; `make
// model` fetches it): its dtype census, and rows of each quant type decoded
// bit-for-bit as gguf-py decodes them (tools/make_gguf_fixtures.py --qwen).
static void test_qwen(void **st) {
    (void)st;
    const char *path = getenv("GC_QWEN_GGUF");
    if (!path || !*path) skip();
    gc_gguf *g;
    if (gc_gguf_open(path, &g) != GC_OK) fail_msg("%s", gc_last_error());
    assert_int_equal(gc_gguf_n_tensors(g), 291);
    int counts[GC_DT_COUNT] = {0};
    for (int64_t i = 0; i < gc_gguf_n_tensors(g); i++) counts[gc_gguf_tensor(g, i)->dtype]++;
    assert_int_equal(counts[GC_DT_Q5_0], 133);
    assert_int_equal(counts[GC_DT_Q8_0], 13);
    assert_int_equal(counts[GC_DT_Q6_K], 12);
    assert_int_equal(counts[GC_DT_Q4_K], 12);
    assert_int_equal(counts[GC_DT_F32], 121);
    static const struct { const char *tensor; int64_t row; gc_dtype t; } rows[] = {
        {"token_embd.weight", 0, GC_DT_Q5_0},      {"token_embd.weight", 151935, GC_DT_Q5_0},
        {"blk.0.attn_k.weight", 127, GC_DT_Q5_0},  {"blk.23.ffn_up.weight", 4863, GC_DT_Q5_0},
        {"blk.0.ffn_down.weight", 0, GC_DT_Q6_K},  {"blk.11.ffn_down.weight", 895, GC_DT_Q4_K},
        {"output.weight", 151644, GC_DT_Q8_0},
    };
    buf want = load("tests/data/gguf/qwen_rows.f32");
    size_t at = 0;  // in floats
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const gc_tensor *t = gc_gguf_find_tensor(g, rows[i].tensor);
        if (!t) fail_msg("missing tensor %s", rows[i].tensor);
        assert_int_equal(t->dtype, rows[i].t);
        int64_t cols = t->shape[1];
        assert_true(rows[i].row < t->shape[0]);
        assert_true((at + (size_t)cols) * 4 <= want.n);
        size_t rb = gc_dtype_row_bytes(t->dtype, cols);
        float *row = malloc((size_t)cols * sizeof *row);
        assert_non_null(row);
        gc_dequant_row(t->dtype, (const uint8_t *)t->data + (size_t)rows[i].row * rb, row, cols);
        for (int64_t c = 0; c < cols; c++, at++) {
            float e;
            memcpy(&e, want.p + 4 * at, 4);
            if (!same_f32(row[c], e))
                fail_msg("%s[%lld][%lld] = %.9g, gguf-py %.9g", rows[i].tensor, (long long)rows[i].row,
                         (long long)c, row[c], e);
        }
        free(row);
    }
    assert_int_equal(at * 4, want.n);
    free(want.p);
    gc_gguf_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_metadata),
        cmocka_unit_test(test_tiny_tensors),
        cmocka_unit_test(test_align64),
        cmocka_unit_test(test_meta_only),
        cmocka_unit_test(test_version2_and_endianness),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_bad_arrays_and_types),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_built_files),
        cmocka_unit_test(test_quants_tensors),
        cmocka_unit_test(test_quants_truncated),
        cmocka_unit_test(test_quants_sizes),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_smol),
        cmocka_unit_test(test_qwen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
