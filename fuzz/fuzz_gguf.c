// libFuzzer target: parse the input as a GGUF buffer, read every key through
// every getter (all array elements included, plus one past the end) and
// dequantise every row of every tensor (of any dtype we read) with both the
// SIMD and the scalar decoder, so any view or length that escapes the buffer
// shows up under ASan; inconsistencies (decoders disagreeing included) abort().
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "format/quant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void gc_dequant_row_scalar(gc_dtype t, const void *src, float *dst, int64_t n);  // quant.c, for tests

static volatile uint64_t sink;

static void walk_key(const gc_gguf *g, int64_t i) {
    const char *key = gc_gguf_key(g, i);
    if (!key || gc_gguf_find_key(g, key) != i) abort();
    int64_t v;
    double d;
    bool b;
    size_t len;
    if (gc_gguf_get_int(g, key, &v)) sink += (uint64_t)v;
    if (gc_gguf_get_float(g, key, &d)) sink += d == d;
    if (gc_gguf_get_bool(g, key, &b)) sink += b;
    const char *s = gc_gguf_get_str(g, key, &len);
    if (s && strlen(s) != len) abort();
    if (s != NULL && gc_gguf_kv_type(g, i) != GC_GGUF_STRING) abort();
    gc_gguf_type et;
    int64_t n;
    if (!gc_gguf_get_arr(g, key, &et, &n)) return;
    if (n < 0) abort();
    for (int64_t j = 0; j <= n; j++) {  // j == n must be refused
        s = gc_gguf_arr_str(g, key, j, &len);
        if (s && (j == n || strlen(s) != len)) abort();
        bool gi = gc_gguf_arr_int(g, key, j, &v), gf = gc_gguf_arr_float(g, key, j, &d);
        if (j == n && (gi || gf)) abort();
        if (gi) sink += (uint64_t)v;
        if (gf) sink += d == d;
    }
}

static void walk_tensor(const gc_gguf *g, int64_t i, const uint8_t *buf, size_t size) {
    const gc_tensor *t = gc_gguf_tensor(g, i);
    if (!t || gc_gguf_find_tensor(g, t->name) != t) abort();
    if (t->ndim < 1 || t->ndim > GC_MAX_DIMS) abort();
    int64_t cols = t->shape[t->ndim - 1], numel = gc_tensor_numel(t);
    size_t rb = gc_dtype_row_bytes(t->dtype, cols);
    if (cols <= 0 || numel <= 0 || rb == 0 || t->nbytes != rb * (size_t)(numel / cols)) abort();
    const uint8_t *p = t->data;
    if (p < buf || t->nbytes > size || p + t->nbytes > buf + size) abort();
    float *row = malloc((size_t)cols * sizeof *row), *ref = malloc((size_t)cols * sizeof *ref);
    if (!row || !ref) {
        free(row);
        free(ref);
        return;
    }
    uint32_t acc = 0;
    for (int64_t r = 0; r < numel / cols; r++, p += rb) {
        gc_dequant_row(t->dtype, p, row, cols);
        gc_dequant_row_scalar(t->dtype, p, ref, cols);
        for (int64_t k = 0; k < cols; k++) {
            uint32_t u, v;
            memcpy(&u, &row[k], 4);
            memcpy(&v, &ref[k], 4);
            // NaN payloads (and signs) may differ between F16C and the bit
            // shifts, and with the operand order of a NaN-producing product.
            if (u != v && !(row[k] != row[k] && ref[k] != ref[k])) abort();
            acc ^= u;
        }
    }
    sink += acc;
    free(row);
    free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // A private copy makes the buffer exactly `size` bytes for ASan.
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    gc_gguf *g = NULL;
    if (gc_gguf_open_memory(buf, size, "fuzz.gguf", &g) == GC_OK) {
        for (int64_t i = 0; i < gc_gguf_n_kv(g); i++) walk_key(g, i);
        for (int64_t i = 0; i < gc_gguf_n_tensors(g); i++) walk_tensor(g, i, buf, size);
        gc_gguf_free(g);
    } else if (g != NULL) {
        abort();
    }
    free(buf);
    return 0;
}
