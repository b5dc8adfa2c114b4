// Tests for format/safetensors: files built byte by byte here (valid, corrupt,
// sharded folders in a mkdtemp directory) and one file written by the
// reference Python package (tools/make_safetensors_fixture.py).
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"
#include "format/safetensors.h"

static void expect_fail(gc_status got, gc_status want, const char *n1, const char *n2) {
    if (got != want) fail_msg("status %s, want %s (msg: %s)", gc_status_name(got), gc_status_name(want), gc_last_error());
    if (n1 && !strstr(gc_last_error(), n1)) fail_msg("message \"%s\" lacks \"%s\"", gc_last_error(), n1);
    if (n2 && !strstr(gc_last_error(), n2)) fail_msg("message \"%s\" lacks \"%s\"", gc_last_error(), n2);
}

// ---- building files ----

// u64 LE strlen(header), header, data. Caller frees.
static uint8_t *st_build(const char *header, const void *data, size_t dlen, size_t *len) {
    size_t hl = strlen(header);
    *len = 8 + hl + dlen;
    uint8_t *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    if (dlen) memcpy(b + 8 + hl, data, dlen);
    return b;
}

static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static char *mk_tmpdir(void) {
    char *t = strdup("/tmp/gc_st_XXXXXX");
    assert_non_null(t);
    assert_non_null(mkdtemp(t));
    return t;
}

static void write_file(const char *dir, const char *name, const void *p, size_t n) {
    char *path = gc_path_join(dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(path);
}

static void write_text(const char *dir, const char *name, const char *text) {
    write_file(dir, name, text, strlen(text));
}

// A string literal that may contain NUL bytes.
#define WRITE_LIT(dir, name, lit) write_file(dir, name, lit, sizeof(lit) - 1)

static void rm_dir(char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *p = gc_path_join(dir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
    free(dir);
}

// ---- checking views ----

static void check_view(const gc_tensor *t, const char *name, gc_dtype dt, int ndim, const int64_t *shape,
                       const void *data, size_t nbytes) {
    assert_non_null(t);
    assert_string_equal(t->name, name);
    assert_int_equal(t->dtype, dt);
    assert_int_equal(t->ndim, ndim);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        assert_int_equal(t->shape[i], shape[i]);
        numel *= shape[i];
    }
    assert_int_equal(gc_tensor_numel(t), numel);
    assert_int_equal(t->nbytes, nbytes);
    assert_non_null(t->data);
    if (nbytes) assert_memory_equal(t->data, data, nbytes);
}

// ---- single buffer ----

#define VALID_HEADER                                                              \
    "{\"__metadata__\":{\"format\":\"pt\"},"                                      \
    "\"w.a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"        \
    "\"w.b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"         \
    "\"emb\":{\"dtype\":\"BF16\",\"shape\":[1,1,2,1],\"data_offsets\":[32,36]},"  \
    "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36,40]},"       \
    "\"empty\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[40,40]}}"

static void test_memory_valid(void **st) {
    (void)st;
    uint8_t data[40];
    for (int i = 0; i < 40; i++) data[i] = (uint8_t)(i * 7 + 1);
    size_t len;
    uint8_t *b = st_build(VALID_HEADER, data, sizeof data, &len);
    const uint8_t *base = b + 8 + strlen(VALID_HEADER);
    gc_weights *w = NULL;
    assert_int_equal(gc_weights_open_memory(b, len, "mem.st", &w), GC_OK);
    assert_int_equal(gc_weights_count(w), 5);
    // Ordered by name.
    const char *order[] = {"emb", "empty", "scalar", "w.a", "w.b"};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(gc_weights_at(w, i)->name, order[i]);
        assert_ptr_equal(gc_weights_find(w, order[i]), gc_weights_at(w, i));
        assert_string_equal(gc_weights_file_of(w, gc_weights_at(w, i)), "mem.st");
    }
    assert_null(gc_weights_at(w, -1));
    assert_null(gc_weights_at(w, 5));
    assert_null(gc_weights_find(w, "w"));
    assert_null(gc_weights_find(w, "w.c"));
    assert_null(gc_weights_find(w, "__metadata__"));
    gc_tensor foreign = *gc_weights_at(w, 0);
    assert_null(gc_weights_file_of(w, &foreign));

    check_view(gc_weights_find(w, "w.a"), "w.a", GC_DT_F32, 2, (const int64_t[]){2, 3}, data, 24);
    check_view(gc_weights_find(w, "w.b"), "w.b", GC_DT_F16, 1, (const int64_t[]){4}, data + 24, 8);
    check_view(gc_weights_find(w, "emb"), "emb", GC_DT_BF16, 4, (const int64_t[]){1, 1, 2, 1}, data + 32, 4);
    check_view(gc_weights_find(w, "scalar"), "scalar", GC_DT_F32, 0, NULL, data + 36, 4);
    check_view(gc_weights_find(w, "empty"), "empty", GC_DT_F32, 2, (const int64_t[]){3, 0}, NULL, 0);
    // Views point into the caller's buffer, not copies.
    assert_ptr_equal(gc_weights_find(w, "w.a")->data, base);
    assert_ptr_equal(gc_weights_find(w, "w.b")->data, base + 24);
    assert_ptr_equal(gc_weights_find(w, "emb")->data, base + 32);
    assert_ptr_equal(gc_weights_find(w, "scalar")->data, base + 36);
    gc_weights_free(w);
    free(b);

    // Header padded with spaces (as writers do for alignment), no metadata,
    // and data after the last tensor that no tensor covers.
    const char *padded = "{\"x\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}      ";
    b = st_build(padded, data, 5, &len);
    assert_int_equal(gc_weights_open_memory(b, len, "pad.st", &w), GC_OK);
    assert_int_equal(gc_weights_count(w), 1);
    check_view(gc_weights_at(w, 0), "x", GC_DT_F16, 1, (const int64_t[]){1}, data, 2);
    gc_weights_free(w);
    free(b);

    // No tensors at all is a valid (empty) file.
    b = st_build("{}", NULL, 0, &len);
    assert_int_equal(gc_weights_open_memory(b, len, "empty.st", &w), GC_OK);
    assert_int_equal(gc_weights_count(w), 0);
    assert_null(gc_weights_find(w, "x"));
    gc_weights_free(w);
    free(b);
    gc_weights_free(NULL);
}

static void expect_mem_fail(const char *header, size_t dlen, gc_status want, const char *n1, const char *n2) {
    static uint8_t zeros[256];
    size_t len;
    uint8_t *b = st_build(header, zeros, dlen, &len);
    gc_weights *w = (gc_weights *)1;
    expect_fail(gc_weights_open_memory(b, len, "bad.st", &w), want, "bad.st", n1);
    if (n2 && !strstr(gc_last_error(), n2)) fail_msg("message \"%s\" lacks \"%s\"", gc_last_error(), n2);
    assert_null(w);
    free(b);
}

#define T(body) "{\"t\":{" body "}}"

static void test_memory_corrupt_header(void **st) {
    (void)st;
    gc_weights *w = NULL;
    uint8_t small[7] = {2, 0, 0, 0, 0, 0, 0};
    expect_fail(gc_weights_open_memory(small, sizeof small, "short.st", &w), GC_ERR_FORMAT, "short.st", "too short");
    expect_fail(gc_weights_open_memory(small, 0, "zero.st", &w), GC_ERR_FORMAT, "zero.st", "too short");

    size_t len;
    uint8_t *b = st_build("{}", NULL, 0, &len);
    put_le64(b, 1);
    expect_fail(gc_weights_open_memory(b, len, "n1.st", &w), GC_ERR_FORMAT, "n1.st", "below 2");
    put_le64(b, 3);  // one byte past the end
    expect_fail(gc_weights_open_memory(b, len, "past.st", &w), GC_ERR_FORMAT, "past.st", "past the end");
    put_le64(b, UINT64_MAX);
    expect_fail(gc_weights_open_memory(b, len, "huge.st", &w), GC_ERR_FORMAT, "huge.st", "cap");
    put_le64(b, GC_ST_MAX_HEADER + 1ull);
    expect_fail(gc_weights_open_memory(b, len, "cap.st", &w), GC_ERR_FORMAT, "cap.st", "cap");
    free(b);

    // Truncated file: the header says more bytes than remain.
    const char *h = T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]");
    b = st_build(h, "abcd", 4, &len);
    expect_fail(gc_weights_open_memory(b, 8 + strlen(h) / 2, "trunc.st", &w), GC_ERR_FORMAT, "trunc.st",
                "past the end");
    free(b);

    expect_mem_fail("{\"t\": {\"dtype\": \"F32\",}}", 0, GC_ERR_FORMAT, "invalid JSON", "line 1");
    expect_mem_fail("[1, 2, 3]", 0, GC_ERR_FORMAT, "'{'", NULL);
    expect_mem_fail("{} trailing", 0, GC_ERR_FORMAT, "after the value", NULL);
    expect_mem_fail("{\"t\":1}", 0, GC_ERR_FORMAT, "tensor \"t\"", "expected an object");
    expect_mem_fail("{\"__metadata__\":[1]}", 0, GC_ERR_FORMAT, "__metadata__", NULL);
    // A header whose JSON is cut by the length prefix.
    b = st_build("{\"t\":{}}", NULL, 0, &len);
    put_le64(b, 5);
    expect_fail(gc_weights_open_memory(b, len, "cut.st", &w), GC_ERR_FORMAT, "cut.st", "invalid JSON");
    free(b);
}

static void test_memory_corrupt_tensor(void **st) {
    (void)st;
    // Offsets.
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 4, GC_ERR_FORMAT,
                    "tensor \"t\"", "past the 4 data bytes");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]"), 8, GC_ERR_FORMAT,
                    "tensor \"t\"", "after end");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]"), 8, GC_ERR_FORMAT,
                    "tensor \"t\"", "data_offsets[0]");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]"), 8, GC_ERR_FORMAT,
                    "tensor \"t\"", "data_offsets[1]");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]"), 8, GC_ERR_FORMAT,
                    "tensor \"t\"", "data_offsets");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]"), 8, GC_ERR_FORMAT,
                    "tensor \"t\"", "data_offsets");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1]"), 8, GC_ERR_FORMAT, "tensor \"t\"", "\"data_offsets\": missing");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}"), 8, GC_ERR_FORMAT, "tensor \"t\"",
                    "data_offsets");
    // Size mismatch: 3 x F16 = 6 bytes, 8 given; and one byte short.
    expect_mem_fail(T("\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,8]"), 8, GC_ERR_FORMAT, "tensor \"t\"",
                    "need 6");
    expect_mem_fail(T("\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,7]"), 8, GC_ERR_FORMAT,
                    "tensor \"t\"", "need 8");
    // dtype.
    expect_mem_fail(T("\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]"), 8, GC_ERR_UNSUPPORTED,
                    "tensor \"t\"", "I8");
    expect_mem_fail(T("\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]"), 8, GC_ERR_UNSUPPORTED,
                    "tensor \"t\"", "F64");
    expect_mem_fail(T("\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]"), 8, GC_ERR_FORMAT, "tensor \"t\"",
                    "unknown dtype \"Q4\"");
    expect_mem_fail(T("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"), 8, GC_ERR_FORMAT, "tensor \"t\"",
                    "f32");
    expect_mem_fail(T("\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]"), 8, GC_ERR_FORMAT, "tensor \"t\"",
                    "\"dtype\"");
    expect_mem_fail(T("\"shape\":[1],\"data_offsets\":[0,4]"), 8, GC_ERR_FORMAT, "tensor \"t\"", "\"dtype\"");
    // shape.
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1,-1],\"data_offsets\":[0,4]"), 8, GC_ERR_FORMAT,
                    "tensor \"t\"", "shape[1]");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1,2.5],\"data_offsets\":[0,4]"), 8, GC_ERR_FORMAT,
                    "tensor \"t\"", "shape[1]");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]"), 8, GC_ERR_FORMAT,
                    "tensor \"t\"", "shape[0]");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]"), 8, GC_ERR_FORMAT, "tensor \"t\"",
                    "\"shape\"");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]"), 8, GC_ERR_UNSUPPORTED,
                    "tensor \"t\"", "rank 5");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]"), 8,
                    GC_ERR_FORMAT, "tensor \"t\"", "overflow");
    expect_mem_fail(T("\"dtype\":\"F32\",\"shape\":[9007199254740992],\"data_offsets\":[0,4]"), 8,
                    GC_ERR_FORMAT, "tensor \"t\"", "shape[0]");
    // Duplicate names inside one header.
    expect_mem_fail("{\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                    8, GC_ERR_FORMAT, "tensor \"d\"", "twice");
    // The error names the failing tensor among good ones.
    expect_mem_fail("{\"good\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"bad\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,8]}}",
                    8, GC_ERR_FORMAT, "tensor \"bad\"", "need 8");
}

// ---- folders ----

// shard 1: a.weight F32 [2], b.weight F16 [3]; shard 2: c.weight BF16 [2,2].
static const float k_a[2] = {1.5f, -2.0f};
static const uint8_t k_b[6] = {1, 2, 3, 4, 5, 6};
static const uint8_t k_c[8] = {9, 8, 7, 6, 5, 4, 3, 2};

static void write_shard1(const char *dir, const char *name) {
    uint8_t data[14];
    memcpy(data, k_a, 8);
    memcpy(data + 8, k_b, 6);
    size_t len;
    uint8_t *b = st_build("{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"b.weight\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[8,14]}}",
                          data, sizeof data, &len);
    write_file(dir, name, b, len);
    free(b);
}

static void write_shard2(const char *dir, const char *name) {
    size_t len;
    uint8_t *b = st_build("{\"__metadata__\":{\"format\":\"pt\"},"
                          "\"c.weight\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}",
                          k_c, sizeof k_c, &len);
    write_file(dir, name, b, len);
    free(b);
}

#define S1 "model-00001-of-00002.safetensors"
#define S2 "model-00002-of-00002.safetensors"
#define INDEX "model.safetensors.index.json"
#define GOOD_INDEX                                                                               \
    "{\"metadata\":{\"total_size\":22},\"weight_map\":{\"a.weight\":\"" S1 "\",\"b.weight\":\"" S1 \
    "\",\"c.weight\":\"" S2 "\"}}"

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_single_file_folder(void **st) {
    (void)st;
    char *dir = mk_tmpdir();
    write_shard1(dir, "model.safetensors");
    // An index beside it naming a missing shard is ignored: model.safetensors wins.
    write_text(dir, INDEX, "{\"weight_map\":{\"x\":\"missing.safetensors\"}}");
    gc_weights *w = NULL;
    assert_int_equal(gc_weights_open_hf(dir, &w), GC_OK);
    assert_int_equal(gc_weights_count(w), 2);
    check_view(gc_weights_at(w, 0), "a.weight", GC_DT_F32, 1, (const int64_t[]){2}, k_a, 8);
    check_view(gc_weights_at(w, 1), "b.weight", GC_DT_F16, 1, (const int64_t[]){3}, k_b, 6);
    assert_true(ends_with(gc_weights_file_of(w, gc_weights_at(w, 1)), "/model.safetensors"));
    gc_weights_free(w);

    // A corrupt file is reported with its path.
    WRITE_LIT(dir, "model.safetensors", "\x10\0\0\0\0\0\0\0{}");
    char *p = gc_path_join(dir, "model.safetensors");
    expect_fail(gc_weights_open_hf(dir, &w), GC_ERR_FORMAT, p, "past the end");
    free(p);
    rm_dir(dir);

    dir = mk_tmpdir();
    expect_fail(gc_weights_open_hf(dir, &w), GC_ERR_IO, dir, "model.safetensors");
    assert_null(w);
    rm_dir(dir);
}

static void test_sharded_folder(void **st) {
    (void)st;
    char *dir = mk_tmpdir();
    write_shard1(dir, S1);
    write_shard2(dir, S2);
    write_text(dir, INDEX, GOOD_INDEX);
    gc_weights *w = NULL;
    assert_int_equal(gc_weights_open_hf(dir, &w), GC_OK);
    assert_int_equal(gc_weights_count(w), 3);
    check_view(gc_weights_at(w, 0), "a.weight", GC_DT_F32, 1, (const int64_t[]){2}, k_a, 8);
    check_view(gc_weights_at(w, 1), "b.weight", GC_DT_F16, 1, (const int64_t[]){3}, k_b, 6);
    check_view(gc_weights_at(w, 2), "c.weight", GC_DT_BF16, 2, (const int64_t[]){2, 2}, k_c, 8);
    assert_ptr_equal(gc_weights_find(w, "c.weight"), gc_weights_at(w, 2));
    assert_true(ends_with(gc_weights_file_of(w, gc_weights_find(w, "a.weight")), "/" S1));
    assert_true(ends_with(gc_weights_file_of(w, gc_weights_find(w, "b.weight")), "/" S1));
    assert_true(ends_with(gc_weights_file_of(w, gc_weights_find(w, "c.weight")), "/" S2));
    assert_null(gc_weights_find(w, "d.weight"));
    gc_weights_free(w);
    rm_dir(dir);
}

// A sharded folder with both good shards and the given index text.
static void expect_index_fail(const char *index, gc_status want, const char *n1, const char *n2) {
    char *dir = mk_tmpdir();
    write_shard1(dir, S1);
    write_shard2(dir, S2);
    write_text(dir, INDEX, index);
    gc_weights *w = (gc_weights *)1;
    expect_fail(gc_weights_open_hf(dir, &w), want, INDEX, n1);
    if (n2 && !strstr(gc_last_error(), n2)) fail_msg("message \"%s\" lacks \"%s\"", gc_last_error(), n2);
    assert_null(w);
    rm_dir(dir);
}

static void test_sharded_failures(void **st) {
    (void)st;
    expect_index_fail("{\"weight_map\":{\"a.weight\":\"../" S1 "\"}}", GC_ERR_FORMAT, "weight_map.a.weight",
                      "../" S1);
    expect_index_fail("{\"weight_map\":{\"a.weight\":\"sub/" S1 "\"}}", GC_ERR_FORMAT, "sub/" S1, NULL);
    expect_index_fail("{\"weight_map\":{\"a.weight\":\"/etc/passwd\"}}", GC_ERR_FORMAT, "/etc/passwd", NULL);
    expect_index_fail("{\"weight_map\":{\"a.weight\":\"..\"}}", GC_ERR_FORMAT, "not a plain file name", NULL);
    expect_index_fail("{\"weight_map\":{\"a.weight\":\"\"}}", GC_ERR_FORMAT, "a.weight", NULL);
    expect_index_fail("{\"weight_map\":{\"a.weight\":\"" S1 "\",\"z.weight\":\"model-00003.safetensors\"}}",
                      GC_ERR_IO, "model-00003.safetensors", "does not exist");
    // Listed for shard 1 but not in it.
    expect_index_fail("{\"weight_map\":{\"a.weight\":\"" S1 "\",\"q.weight\":\"" S1 "\"}}", GC_ERR_FORMAT,
                      "tensor \"q.weight\"", S1);
    // Listed for shard 1 but it is in shard 2.
    expect_index_fail("{\"weight_map\":{\"a.weight\":\"" S1 "\",\"c.weight\":\"" S1 "\",\"b.weight\":\"" S2 "\"}}",
                      GC_ERR_FORMAT, "tensor \"c.weight\"", "it is in");
    expect_index_fail("{\"metadata\":{}}", GC_ERR_FORMAT, "\"weight_map\": missing", NULL);
    expect_index_fail("{\"weight_map\":{}}", GC_ERR_FORMAT, "weight_map", "empty");
    expect_index_fail("{\"weight_map\":[]}", GC_ERR_FORMAT, "weight_map", NULL);
    expect_index_fail("{\"weight_map\":{\"a.weight\":3}}", GC_ERR_FORMAT, "weight_map.a.weight", "string");
    expect_index_fail("{\"weight_map\":{\"a.weight\":", GC_ERR_FORMAT, "invalid JSON", NULL);
    expect_index_fail("[]", GC_ERR_FORMAT, "object", NULL);

    // The same tensor in two shards.
    char *dir = mk_tmpdir();
    write_shard1(dir, S1);
    write_shard1(dir, S2);
    write_text(dir, INDEX, "{\"weight_map\":{\"a.weight\":\"" S1 "\",\"b.weight\":\"" S2 "\"}}");
    gc_weights *w = NULL;
    expect_fail(gc_weights_open_hf(dir, &w), GC_ERR_FORMAT, "appears in both", S2);
    rm_dir(dir);

    // A corrupt shard is reported with its own path.
    dir = mk_tmpdir();
    write_shard1(dir, S1);
    WRITE_LIT(dir, S2, "\x20\0\0\0\0\0\0\0{\"c.weight\":{\"dtype\":\"I8\"}}     ");
    write_text(dir, INDEX, GOOD_INDEX);
    expect_fail(gc_weights_open_hf(dir, &w), GC_ERR_UNSUPPORTED, S2, "tensor \"c.weight\"");
    rm_dir(dir);
}

// ---- the reference writer's file ----

// float -> IEEE half for values exactly representable as normal halves.
static uint16_t f16_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) == 0) return (uint16_t)(x >> 16);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    assert_true(e > 0 && e < 31 && (x & 0x1fffu) == 0);
    return (uint16_t)(sign | ((uint32_t)e << 10) | ((x >> 13) & 0x3ffu));
}

static uint16_t bf16_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    assert_true((x & 0xffffu) == 0);
    return (uint16_t)(x >> 16);
}

static void check_fixture_tensor(const gc_weights *w, const char *name, gc_dtype dt, int ndim,
                                 const int64_t *shape, double (*value)(int)) {
    const gc_tensor *t = gc_weights_find(w, name);
    if (!t) fail_msg("fixture lacks %s", name);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    size_t es = dt == GC_DT_F32 ? 4 : 2;
    uint8_t *want = malloc((size_t)numel * es + 1);
    for (int64_t i = 0; i < numel; i++) {
        float f = (float)value((int)i);
        if (dt == GC_DT_F32) memcpy(want + i * 4, &f, 4);
        uint16_t h = dt == GC_DT_F16 ? f16_bits(f) : dt == GC_DT_BF16 ? bf16_bits(f) : 0;
        if (dt != GC_DT_F32) memcpy(want + i * 2, &h, 2);
    }
    check_view(t, name, dt, ndim, shape, want, (size_t)numel * es);
    free(want);
}

static double v_matrix(int i) { return i * 0.5 - 2.75; }
static double v_scalar(int i) { (void)i; return -1.5; }
static double v_vector(int i) { return (i - 2) * 0.25; }
static double v_rank4(int i) { return i * 1.5 + 0.5; }
static double v_cube(int i) { return (i - 6) * 0.125; }
static double v_q(int i) { return i * 2.0 - 5; }

static void test_reference_writer_fixture(void **st) {
    (void)st;
    const char *path = "tests/data/safetensors/fixture.safetensors";
    gc_mapped_file f;
    if (gc_file_map(path, &f) != GC_OK) fail_msg("%s", gc_last_error());
    gc_weights *w = NULL;
    assert_int_equal(gc_weights_open_memory(f.data, f.size, path, &w), GC_OK);
    assert_int_equal(gc_weights_count(w), 7);
    check_fixture_tensor(w, "f32.matrix", GC_DT_F32, 2, (const int64_t[]){3, 4}, v_matrix);
    check_fixture_tensor(w, "f32.scalar", GC_DT_F32, 0, NULL, v_scalar);
    check_fixture_tensor(w, "f32.empty", GC_DT_F32, 2, (const int64_t[]){0, 3}, v_scalar);
    check_fixture_tensor(w, "f16.vector", GC_DT_F16, 1, (const int64_t[]){5}, v_vector);
    check_fixture_tensor(w, "f16.rank4", GC_DT_F16, 4, (const int64_t[]){1, 2, 1, 3}, v_rank4);
    check_fixture_tensor(w, "bf16.cube", GC_DT_BF16, 3, (const int64_t[]){2, 3, 2}, v_cube);
    check_fixture_tensor(w, "model.layers.0.self_attn.q_proj.weight", GC_DT_BF16, 2, (const int64_t[]){4, 2}, v_q);
    // Every view lies inside the file's data section.
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f.data[i];
    for (int64_t i = 0; i < gc_weights_count(w); i++) {
        const gc_tensor *t = gc_weights_at(w, i);
        const uint8_t *p = t->data;
        assert_true(p >= f.data + 8 + hlen && p + t->nbytes <= f.data + f.size);
    }
    gc_weights_free(w);

    // Through a folder too (as model.safetensors).
    char *dir = mk_tmpdir();
    write_file(dir, "model.safetensors", f.data, f.size);
    assert_int_equal(gc_weights_open_hf(dir, &w), GC_OK);
    check_fixture_tensor(w, "bf16.cube", GC_DT_BF16, 3, (const int64_t[]){2, 3, 2}, v_cube);
    gc_weights_free(w);
    rm_dir(dir);
    gc_file_unmap(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_valid),
        cmocka_unit_test(test_memory_corrupt_header),
        cmocka_unit_test(test_memory_corrupt_tensor),
        cmocka_unit_test(test_single_file_folder),
        cmocka_unit_test(test_sharded_folder),
        cmocka_unit_test(test_sharded_failures),
        cmocka_unit_test(test_reference_writer_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
