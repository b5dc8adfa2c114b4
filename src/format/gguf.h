// GGUF (v2/v3) reader: metadata key/values and tensor views over a mapped file.
// Layout (little-endian): magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
// n_kv x {string key, u32 type, value}, n_tensors x {string name, u32 n_dims,
// u64 ne[n_dims], u32 ggml_type, u64 offset}, padding to general.alignment
// (default 32), tensor data. Strings are {u64 len, bytes} (not NUL-terminated
// on disk; this reader hands out NUL-terminated copies).
// Every count, length and offset is checked against the file size.
#ifndef GC_FORMAT_GGUF_H
#define GC_FORMAT_GGUF_H
#include "format/tensor.h"

typedef enum gc_gguf_type {
    GC_GGUF_UINT8 = 0, GC_GGUF_INT8 = 1, GC_GGUF_UINT16 = 2, GC_GGUF_INT16 = 3,
    GC_GGUF_UINT32 = 4, GC_GGUF_INT32 = 5, GC_GGUF_FLOAT32 = 6, GC_GGUF_BOOL = 7,
    GC_GGUF_STRING = 8, GC_GGUF_ARRAY = 9, GC_GGUF_UINT64 = 10, GC_GGUF_INT64 = 11,
    GC_GGUF_FLOAT64 = 12,
} gc_gguf_type;

typedef struct gc_gguf gc_gguf;

// Maps and parses the file. Release with gc_gguf_free.
gc_status gc_gguf_open(const char *path, gc_gguf **out);
// Parses a buffer the caller keeps alive until gc_gguf_free (fuzzing, tests).
// `name` is used in error messages.
gc_status gc_gguf_open_memory(const void *data, size_t size, const char *name, gc_gguf **out);
void gc_gguf_free(gc_gguf *g);

const char *gc_gguf_path(const gc_gguf *g);
uint32_t gc_gguf_version(const gc_gguf *g);

// ---- metadata ----
int64_t gc_gguf_n_kv(const gc_gguf *g);
const char *gc_gguf_key(const gc_gguf *g, int64_t i);
// Index of key, or -1.
int64_t gc_gguf_find_key(const gc_gguf *g, const char *key);
gc_gguf_type gc_gguf_kv_type(const gc_gguf *g, int64_t i);

// Typed getters by key. Return false if the key is absent or its value has a
// type that cannot be converted losslessly (any integer type converts to
// int64 if in range; float32/float64 convert to double).
bool gc_gguf_get_int(const gc_gguf *g, const char *key, int64_t *out);
bool gc_gguf_get_float(const gc_gguf *g, const char *key, double *out);
bool gc_gguf_get_bool(const gc_gguf *g, const char *key, bool *out);
// NUL-terminated string owned by g (may contain no NULs inside: a string with
// an embedded NUL is rejected at open); *len may be NULL.
const char *gc_gguf_get_str(const gc_gguf *g, const char *key, size_t *len);

// Arrays: element type and count; false if absent or not an array.
bool gc_gguf_get_arr(const gc_gguf *g, const char *key, gc_gguf_type *elem_type, int64_t *n);
// i-th string of a string array (owned by g, NUL-terminated), NULL if not a
// string array or out of range.
const char *gc_gguf_arr_str(const gc_gguf *g, const char *key, int64_t i, size_t *len);
// i-th element of a numeric array as int64 / double; false if out of range or
// not numeric.
bool gc_gguf_arr_int(const gc_gguf *g, const char *key, int64_t i, int64_t *out);
bool gc_gguf_arr_float(const gc_gguf *g, const char *key, int64_t i, double *out);

// ---- tensors ----
int64_t gc_gguf_n_tensors(const gc_gguf *g);
// Views are valid until gc_gguf_free. Shapes are row-major (see tensor.h):
// a GGUF tensor with ne = {in, out} has shape {out, in}.
const gc_tensor *gc_gguf_tensor(const gc_gguf *g, int64_t i);
const gc_tensor *gc_gguf_find_tensor(const gc_gguf *g, const char *name);

#endif
