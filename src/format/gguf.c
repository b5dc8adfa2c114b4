// GGUF v2/v3 reader. The whole header is parsed and validated at open; every
// length is checked against the bytes left before it is used, and arrays are
// only allocated after their counts have been bounded by the file size.
#include "format/gguf.h"
#include "core/error.h"
#include "core/file.h"
#include "core/vec.h"
#include "format/quant.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_DEFAULT_ALIGNMENT 32
// Arrays of arrays are accepted and skipped (no accessor exposes them) up to
// this depth; deeper nesting is rejected so recursion stays bounded.
#define GGUF_MAX_NEST 8
// Smallest possible encodings, to bound counts by the bytes left:
//   key/value: u64 key length + u32 type + 1-byte value
//   tensor info: u64 name length + u32 n_dims + one u64 dim + u32 type + u64 offset
//   array element of an array of arrays: u32 type + u64 count
//   string: u64 length
#define GGUF_MIN_KV_BYTES 13
#define GGUF_MIN_TENSOR_BYTES 32
#define GGUF_MIN_ARRAY_BYTES 12
#define GGUF_MIN_STR_BYTES 8

typedef struct gguf_kv {
    char *key;
    size_t key_off;           // file offset of the key record, for messages
    gc_gguf_type type;
    size_t off;               // file offset of the value, for messages
    const uint8_t *val;       // scalar value or numeric array elements, in the file
    char *str;                // STRING: NUL-terminated copy
    size_t str_len;
    gc_gguf_type elem;        // ARRAY: element type and count
    int64_t n;
    char *blob;               // string ARRAY: n NUL-terminated copies back to back,
    size_t *soff;             //   string i at blob + soff[i], length soff[i+1]-soff[i]-1
} gguf_kv;

// Open-addressing hash of names -> index (-1 = empty slot).
typedef struct gguf_htab {
    int64_t *slot;
    size_t mask;
} gguf_htab;

struct gc_gguf {
    char *name;               // path or caller-given name, for messages
    gc_mapped_file map;       // set when opened from a path
    const uint8_t *data;
    size_t size;
    uint32_t version;
    uint32_t alignment;
    size_t data_start;        // first byte of the (aligned) tensor data section
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    gc_tensor *tensors;
    gguf_htab kv_ht, tensor_ht;
};

// ---- byte reader ----

typedef struct gguf_rd {
    const uint8_t *p;
    size_t size, off;
    const char *file;
    char ctx[160];            // "key #3 'general.name'" etc.
} gguf_rd;

static gc_status bad(const gguf_rd *r, gc_status s, size_t off, const char *fmt, ...) GC_PRINTF(4, 5);
static gc_status bad(const gguf_rd *r, gc_status s, size_t off, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gc_fail(s, "%s: %s at offset %zu: %s", r->file, r->ctx, off, msg);
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static size_t left(const gguf_rd *r) { return r->size - r->off; }

static gc_status need(const gguf_rd *r, uint64_t n, const char *what) {
    if (n > left(r))
        return bad(r, GC_ERR_FORMAT, r->off, "%s needs %llu bytes but only %zu remain (truncated file?)", what,
                   (unsigned long long)n, left(r));
    return GC_OK;
}

static gc_status rd_u32(gguf_rd *r, uint32_t *v, const char *what) {
    GC_TRY(need(r, 4, what));
    *v = le32(r->p + r->off);
    r->off += 4;
    return GC_OK;
}

static gc_status rd_u64(gguf_rd *r, uint64_t *v, const char *what) {
    GC_TRY(need(r, 8, what));
    *v = le64(r->p + r->off);
    r->off += 8;
    return GC_OK;
}

// A string {u64 len, bytes} left in place; embedded NULs are rejected since
// callers get C strings.
static gc_status rd_str(gguf_rd *r, const uint8_t **s, size_t *len, const char *what) {
    uint64_t n;
    size_t at = r->off;
    GC_TRY(rd_u64(r, &n, what));
    if (n > left(r))
        return bad(r, GC_ERR_FORMAT, at, "%s length %llu exceeds the %zu bytes left in the file", what,
                   (unsigned long long)n, left(r));
    *s = r->p + r->off;
    *len = (size_t)n;
    if (n > 0 && memchr(*s, 0, (size_t)n))
        return bad(r, GC_ERR_FORMAT, at, "%s contains an embedded NUL byte", what);
    r->off += (size_t)n;
    return GC_OK;
}

static char *dup_bytes(const uint8_t *s, size_t n) {
    char *c = malloc(n + 1);
    if (c) {
        if (n) memcpy(c, s, n);
        c[n] = 0;
    }
    return c;
}

static gc_status oom(const gguf_rd *r) { return bad(r, GC_ERR_OOM, r->off, "out of memory"); }

// ---- value types ----

static size_t scalar_size(uint32_t t) {
    switch (t) {
    case GC_GGUF_UINT8: case GC_GGUF_INT8: case GC_GGUF_BOOL: return 1;
    case GC_GGUF_UINT16: case GC_GGUF_INT16: return 2;
    case GC_GGUF_UINT32: case GC_GGUF_INT32: case GC_GGUF_FLOAT32: return 4;
    case GC_GGUF_UINT64: case GC_GGUF_INT64: case GC_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static const char *type_name(uint32_t t) {
    static const char *const names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                        "bool", "string", "array", "uint64", "int64", "float64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

// Integer element as int64 (bool as 0/1 only when allow_bool); false when the
// type is not an integer or a uint64 exceeds INT64_MAX.
static bool as_int(gc_gguf_type t, const uint8_t *p, bool allow_bool, int64_t *out) {
    switch (t) {
    case GC_GGUF_UINT8: *out = p[0]; return true;
    case GC_GGUF_INT8: *out = (int8_t)p[0]; return true;
    case GC_GGUF_UINT16: *out = (uint16_t)(p[0] | p[1] << 8); return true;
    case GC_GGUF_INT16: *out = (int16_t)(uint16_t)(p[0] | p[1] << 8); return true;
    case GC_GGUF_UINT32: *out = le32(p); return true;
    case GC_GGUF_INT32: *out = (int32_t)le32(p); return true;
    case GC_GGUF_INT64: *out = (int64_t)le64(p); return true;
    case GC_GGUF_UINT64: {
        uint64_t v = le64(p);
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
        return true;
    }
    case GC_GGUF_BOOL:
        if (!allow_bool) return false;
        *out = p[0] != 0;
        return true;
    default: return false;
    }
}

static bool as_float(gc_gguf_type t, const uint8_t *p, double *out) {
    if (t == GC_GGUF_FLOAT32) {
        uint32_t u = le32(p);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return true;
    }
    if (t == GC_GGUF_FLOAT64) {
        uint64_t u = le64(p);
        memcpy(out, &u, 8);
        return true;
    }
    return false;
}

// Skips the body of an array nested inside an array (its u32 type and u64
// count are read here). Everything is validated as for top-level values.
static gc_status skip_array(gguf_rd *r, int depth) {
    size_t at = r->off;
    uint32_t et;
    uint64_t n;
    GC_TRY(rd_u32(r, &et, "nested array element type"));
    GC_TRY(rd_u64(r, &n, "nested array count"));
    if (depth > GGUF_MAX_NEST)
        return bad(r, GC_ERR_FORMAT, at, "arrays nested more than %d deep", GGUF_MAX_NEST);
    size_t es = scalar_size(et);
    if (es) {
        if (n > left(r) / es)
            return bad(r, GC_ERR_FORMAT, at, "nested array of %llu %s exceeds the %zu bytes left",
                       (unsigned long long)n, type_name(et), left(r));
        r->off += (size_t)n * es;
        return GC_OK;
    }
    if (et == GC_GGUF_STRING) {
        if (n > left(r) / GGUF_MIN_STR_BYTES)
            return bad(r, GC_ERR_FORMAT, at, "nested array of %llu strings exceeds the %zu bytes left",
                       (unsigned long long)n, left(r));
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *s;
            size_t len;
            GC_TRY(rd_str(r, &s, &len, "nested array string"));
        }
        return GC_OK;
    }
    if (et == GC_GGUF_ARRAY) {
        if (n > left(r) / GGUF_MIN_ARRAY_BYTES)
            return bad(r, GC_ERR_FORMAT, at, "nested array of %llu arrays exceeds the %zu bytes left",
                       (unsigned long long)n, left(r));
        for (uint64_t i = 0; i < n; i++) GC_TRY(skip_array(r, depth + 1));
        return GC_OK;
    }
    return bad(r, GC_ERR_FORMAT, at, "unknown array element type %u", et);
}

static gc_status read_string_array(gguf_rd *r, gguf_kv *kv, uint64_t n, size_t at) {
    if (n > left(r) / GGUF_MIN_STR_BYTES)
        return bad(r, GC_ERR_FORMAT, at, "array of %llu strings exceeds the %zu bytes left",
                   (unsigned long long)n, left(r));
    // Pass 1 validates; the bytes it spans (8 + len per string) bound the
    // copies (len + 1 per string), so the blob never outgrows the file.
    size_t start = r->off;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *s;
        size_t len;
        GC_TRY(rd_str(r, &s, &len, "array string"));
    }
    size_t span = r->off - start;
    kv->blob = malloc(span + 1);
    kv->soff = malloc(((size_t)n + 1) * sizeof *kv->soff);
    if (!kv->blob || !kv->soff) return oom(r);
    size_t q = start, pos = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = (size_t)le64(r->p + q);
        memcpy(kv->blob + pos, r->p + q + 8, len);
        kv->blob[pos + len] = 0;
        kv->soff[i] = pos;
        pos += len + 1;
        q += 8 + len;
    }
    kv->soff[n] = pos;
    return GC_OK;
}

static gc_status read_value(gguf_rd *r, gguf_kv *kv) {
    size_t at = r->off;
    uint32_t t;
    GC_TRY(rd_u32(r, &t, "value type"));
    kv->type = (gc_gguf_type)t;
    kv->off = r->off;
    size_t es = scalar_size(t);
    if (es) {
        GC_TRY(need(r, es, type_name(t)));
        kv->val = r->p + r->off;
        r->off += es;
        return GC_OK;
    }
    if (t == GC_GGUF_STRING) {
        const uint8_t *s;
        GC_TRY(rd_str(r, &s, &kv->str_len, "string value"));
        if (!(kv->str = dup_bytes(s, kv->str_len))) return oom(r);
        return GC_OK;
    }
    if (t != GC_GGUF_ARRAY) return bad(r, GC_ERR_FORMAT, at, "unknown value type %u", t);

    uint32_t et;
    uint64_t n;
    GC_TRY(rd_u32(r, &et, "array element type"));
    GC_TRY(rd_u64(r, &n, "array count"));
    kv->elem = (gc_gguf_type)et;
    es = scalar_size(et);
    if (es) {
        if (n > left(r) / es)
            return bad(r, GC_ERR_FORMAT, kv->off, "array of %llu %s exceeds the %zu bytes left",
                       (unsigned long long)n, type_name(et), left(r));
        kv->val = r->p + r->off;
        r->off += (size_t)n * es;
    } else if (et == GC_GGUF_STRING) {
        GC_TRY(read_string_array(r, kv, n, kv->off));
    } else if (et == GC_GGUF_ARRAY) {
        if (n > left(r) / GGUF_MIN_ARRAY_BYTES)
            return bad(r, GC_ERR_FORMAT, kv->off, "array of %llu arrays exceeds the %zu bytes left",
                       (unsigned long long)n, left(r));
        for (uint64_t i = 0; i < n; i++) GC_TRY(skip_array(r, 2));
    } else {
        return bad(r, GC_ERR_FORMAT, kv->off, "unknown array element type %u", et);
    }
    kv->n = (int64_t)n;
    return GC_OK;
}

// ---- name hash ----

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static bool ht_alloc(gguf_htab *h, int64_t n) {
    size_t cap = 8;
    while (cap < (size_t)n * 2) cap *= 2;
    h->slot = malloc(cap * sizeof *h->slot);
    if (!h->slot) return false;
    for (size_t i = 0; i < cap; i++) h->slot[i] = -1;
    h->mask = cap - 1;
    return true;
}

typedef const char *(*name_fn)(const gc_gguf *g, int64_t i);
static const char *kv_name(const gc_gguf *g, int64_t i) { return g->kv[i].key; }
static const char *tensor_name(const gc_gguf *g, int64_t i) { return g->tensors[i].name; }

// Slot holding `name`, or the empty slot where it would go.
static size_t ht_find(const gc_gguf *g, const gguf_htab *h, name_fn nm, const char *name) {
    size_t i = (size_t)hash_str(name) & h->mask;
    while (h->slot[i] >= 0 && strcmp(nm(g, h->slot[i]), name) != 0) i = (i + 1) & h->mask;
    return i;
}

static int64_t ht_get(const gc_gguf *g, const gguf_htab *h, name_fn nm, const char *name) {
    if (!h->slot || !name) return -1;
    return h->slot[ht_find(g, h, nm, name)];
}

// Indexes names 0..n-1; returns the index of the first repeated name, -1 if
// none, -2 when out of memory.
static int64_t ht_build(const gc_gguf *g, gguf_htab *h, name_fn nm, int64_t n) {
    if (!ht_alloc(h, n)) return -2;
    for (int64_t i = 0; i < n; i++) {
        size_t slot = ht_find(g, h, nm, nm(g, i));
        if (h->slot[slot] >= 0) return i;
        h->slot[slot] = i;
    }
    return -1;
}

// ---- parsing ----

static gc_status parse_header(gguf_rd *r, gc_gguf *g, uint64_t *n_tensors, uint64_t *n_kv) {
    snprintf(r->ctx, sizeof r->ctx, "header");
    if (r->size < 4) return bad(r, GC_ERR_FORMAT, 0, "file is %zu bytes, too short for the GGUF magic", r->size);
    if (memcmp(r->p, "GGUF", 4) != 0)
        return bad(r, GC_ERR_FORMAT, 0, "bad magic %02x %02x %02x %02x (expected \"GGUF\"): not a GGUF file",
                   r->p[0], r->p[1], r->p[2], r->p[3]);
    r->off = 4;
    GC_TRY(rd_u32(r, &g->version, "version"));
    if (g->version != 2 && g->version != 3) {
        uint32_t v = g->version, sw = v >> 24 | (v >> 8 & 0xff00u) | (v << 8 & 0xff0000u) | v << 24;
        if (sw >= 1 && sw <= 3)
            return bad(r, GC_ERR_UNSUPPORTED, 4, "big-endian GGUF (version %u byte-swapped) is not supported", sw);
        return bad(r, GC_ERR_UNSUPPORTED, 4, "GGUF version %u is not supported (only 2 and 3)", v);
    }
    GC_TRY(rd_u64(r, n_tensors, "tensor count"));
    GC_TRY(rd_u64(r, n_kv, "key/value count"));
    size_t rest = left(r);
    if (*n_kv > rest / GGUF_MIN_KV_BYTES)
        return bad(r, GC_ERR_FORMAT, 16, "key/value count %llu is implausible for the %zu bytes after the header "
                   "(truncated or corrupt file?)", (unsigned long long)*n_kv, rest);
    if (*n_tensors > rest / GGUF_MIN_TENSOR_BYTES ||
        *n_kv * GGUF_MIN_KV_BYTES + *n_tensors * GGUF_MIN_TENSOR_BYTES > rest)
        return bad(r, GC_ERR_FORMAT, 8, "tensor count %llu is implausible for the %zu bytes after the header "
                   "(truncated or corrupt file?)", (unsigned long long)*n_tensors, rest);
    return GC_OK;
}

static gc_status parse_kvs(gguf_rd *r, gc_gguf *g, uint64_t n_kv) {
    size_t cap = 0;  // the counts read from the file only bound, never size, the arrays
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!GC_VEC_RESERVE(g->kv, cap, (size_t)g->n_kv + 1)) return oom(r);
        gguf_kv *kv = &g->kv[g->n_kv];
        memset(kv, 0, sizeof *kv);
        snprintf(r->ctx, sizeof r->ctx, "key #%llu", (unsigned long long)i);
        kv->key_off = r->off;
        const uint8_t *s;
        size_t len;
        GC_TRY(rd_str(r, &s, &len, "key"));
        if (len == 0) return bad(r, GC_ERR_FORMAT, kv->key_off, "empty key");
        if (!(kv->key = dup_bytes(s, len))) return oom(r);
        g->n_kv++;
        snprintf(r->ctx, sizeof r->ctx, "key #%llu '%.100s'", (unsigned long long)i, kv->key);
        GC_TRY(read_value(r, kv));
    }
    int64_t dup = ht_build(g, &g->kv_ht, kv_name, g->n_kv);
    if (dup == -2) return oom(r);
    if (dup >= 0) {
        snprintf(r->ctx, sizeof r->ctx, "key #%lld '%.100s'", (long long)dup, g->kv[dup].key);
        return bad(r, GC_ERR_FORMAT, g->kv[dup].key_off, "duplicate key");
    }
    return GC_OK;
}

static gc_status parse_alignment(gguf_rd *r, gc_gguf *g) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = ht_get(g, &g->kv_ht, kv_name, "general.alignment");
    if (i < 0) return GC_OK;
    const gguf_kv *kv = &g->kv[i];
    snprintf(r->ctx, sizeof r->ctx, "key 'general.alignment'");
    if (kv->type != GC_GGUF_UINT32)
        return bad(r, GC_ERR_FORMAT, kv->off, "has type %s, expected uint32", type_name(kv->type));
    uint32_t a = le32(kv->val);
    if (a == 0 || (a & (a - 1)) != 0)
        return bad(r, GC_ERR_FORMAT, kv->off, "alignment %u is not a power of two", a);
    g->alignment = a;
    return GC_OK;
}

static bool map_ggml_type(uint32_t id, gc_dtype *out) {
    switch (id) {
    case 0: *out = GC_DT_F32; return true;
    case 1: *out = GC_DT_F16; return true;
    case 2: *out = GC_DT_Q4_0; return true;
    case 3: *out = GC_DT_Q4_1; return true;
    case 6: *out = GC_DT_Q5_0; return true;
    case 7: *out = GC_DT_Q5_1; return true;
    case 8: *out = GC_DT_Q8_0; return true;
    case 10: *out = GC_DT_Q2_K; return true;
    case 11: *out = GC_DT_Q3_K; return true;
    case 12: *out = GC_DT_Q4_K; return true;
    case 13: *out = GC_DT_Q5_K; return true;
    case 14: *out = GC_DT_Q6_K; return true;
    case 20: *out = GC_DT_IQ4_NL; return true;
    case 23: *out = GC_DT_IQ4_XS; return true;
    case 30: *out = GC_DT_BF16; return true;
    default: return false;
    }
}

static const char *ggml_type_name(uint32_t id) {
    static const char *const names[] = {
        "F32", "F16", "Q4_0", "Q4_1", NULL, NULL, "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K",
        "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
        "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16", NULL, NULL, NULL,
        "TQ1_0", "TQ2_0", NULL, NULL, NULL, "MXFP4"};
    const char *n = id < sizeof names / sizeof names[0] ? names[id] : NULL;
    return n ? n : "unknown";
}

// Where a tensor info record and its offset field sit in the file, and the
// offset it gives (relative to the data section).
typedef struct tinfo {
    size_t rec_off, off_field;
    uint64_t rel;
} tinfo;

static gc_status parse_tensor_info(gguf_rd *r, gc_gguf *g, uint64_t i, gc_tensor *t, tinfo *ti) {
    snprintf(r->ctx, sizeof r->ctx, "tensor #%llu", (unsigned long long)i);
    ti->rec_off = r->off;
    const uint8_t *s;
    size_t len;
    GC_TRY(rd_str(r, &s, &len, "tensor name"));
    char *name = dup_bytes(s, len);
    if (!name) return oom(r);
    t->name = name;
    g->n_tensors++;
    snprintf(r->ctx, sizeof r->ctx, "tensor #%llu '%.100s'", (unsigned long long)i, name);

    uint32_t nd;
    size_t at = r->off;
    GC_TRY(rd_u32(r, &nd, "n_dims"));
    if (nd < 1 || nd > GC_MAX_DIMS) return bad(r, GC_ERR_FORMAT, at, "n_dims %u is not in 1..%d", nd, GC_MAX_DIMS);
    t->ndim = (int)nd;
    int64_t numel = 1, ne0 = 0;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t ne;
        at = r->off;
        GC_TRY(rd_u64(r, &ne, "dimension"));
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return bad(r, GC_ERR_FORMAT, at, "ne[%u] = %llu is not a positive int64", d, (unsigned long long)ne);
        if ((int64_t)ne > INT64_MAX / numel)
            return bad(r, GC_ERR_FORMAT, at, "element count overflows int64 at ne[%u] = %llu", d,
                       (unsigned long long)ne);
        numel *= (int64_t)ne;
        t->shape[nd - 1 - d] = (int64_t)ne;  // ne[0] is the contiguous dimension
        if (d == 0) ne0 = (int64_t)ne;
    }
    uint32_t type;
    at = r->off;
    GC_TRY(rd_u32(r, &type, "ggml type"));
    if (!map_ggml_type(type, &t->dtype))
        return bad(r, GC_ERR_UNSUPPORTED, at, "ggml type %u (%s) is not supported", type, ggml_type_name(type));
    int64_t be = gc_dtype_block_elems(t->dtype);
    if (ne0 % be != 0)
        return bad(r, GC_ERR_FORMAT, at, "row length ne[0] = %lld is not a multiple of the %s block size %lld",
                   (long long)ne0, gc_dtype_name(t->dtype), (long long)be);
    uint64_t blocks = (uint64_t)(numel / be);
    size_t bb = gc_dtype_block_bytes(t->dtype);
    if (blocks > r->size / bb)
        return bad(r, GC_ERR_FORMAT, at, "%lld elements of %s need more bytes than the %zu-byte file holds",
                   (long long)numel, gc_dtype_name(t->dtype), r->size);
    t->nbytes = (size_t)blocks * bb;
    ti->off_field = r->off;
    return rd_u64(r, &ti->rel, "data offset");
}

// Checks each tensor's data range against the file and sets its pointer.
static gc_status place_tensors(gguf_rd *r, gc_gguf *g, const tinfo *ti) {
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gc_tensor *t = &g->tensors[i];
        uint64_t rel = ti[i].rel;
        snprintf(r->ctx, sizeof r->ctx, "tensor #%lld '%.100s'", (long long)i, t->name);
        if (rel % g->alignment != 0)
            return bad(r, GC_ERR_FORMAT, ti[i].off_field, "data offset %llu is not a multiple of the alignment %u",
                       (unsigned long long)rel, g->alignment);
        if (g->data_start > r->size || rel > r->size - g->data_start || t->nbytes > r->size - g->data_start - rel)
            return bad(r, GC_ERR_FORMAT, ti[i].off_field,
                       "data [%zu + %llu, +%zu bytes) lies past the end of the %zu-byte file", g->data_start,
                       (unsigned long long)rel, t->nbytes, r->size);
        t->data = r->p + g->data_start + rel;
    }
    return GC_OK;
}

static gc_status parse_tensors(gguf_rd *r, gc_gguf *g, uint64_t n_tensors) {
    if (n_tensors > left(r) / GGUF_MIN_TENSOR_BYTES) {
        snprintf(r->ctx, sizeof r->ctx, "tensor infos");
        return bad(r, GC_ERR_FORMAT, r->off, "tensor count %llu is implausible: only %zu bytes remain",
                   (unsigned long long)n_tensors, left(r));
    }
    tinfo *ti = NULL;
    size_t cap = 0, tcap = 0;
    gc_status s = GC_OK;
    for (uint64_t i = 0; i < n_tensors && s == GC_OK; i++) {
        if (!GC_VEC_RESERVE(g->tensors, cap, (size_t)g->n_tensors + 1) ||
            !GC_VEC_RESERVE(ti, tcap, (size_t)g->n_tensors + 1)) {
            s = oom(r);
            break;
        }
        gc_tensor *t = &g->tensors[g->n_tensors];
        memset(t, 0, sizeof *t);
        s = parse_tensor_info(r, g, i, t, &ti[g->n_tensors]);
    }
    if (s == GC_OK) {
        int64_t dup = ht_build(g, &g->tensor_ht, tensor_name, g->n_tensors);
        if (dup == -2) {
            s = oom(r);
        } else if (dup >= 0) {
            snprintf(r->ctx, sizeof r->ctx, "tensor #%lld '%.100s'", (long long)dup, g->tensors[dup].name);
            s = bad(r, GC_ERR_FORMAT, ti[dup].rec_off, "duplicate tensor name");
        }
    }
    if (s == GC_OK) {
        // The data section starts at the end of the infos rounded up to the alignment.
        g->data_start = (r->off + g->alignment - 1) / g->alignment * g->alignment;
        s = place_tensors(r, g, ti);
    }
    free(ti);
    return s;
}

static gc_status parse(gc_gguf *g) {
    gguf_rd r = {.p = g->data, .size = g->size, .off = 0, .file = g->name};
    uint64_t n_tensors, n_kv;
    GC_TRY(parse_header(&r, g, &n_tensors, &n_kv));
    GC_TRY(parse_kvs(&r, g, n_kv));
    GC_TRY(parse_alignment(&r, g));
    return parse_tensors(&r, g, n_tensors);
}

static gc_status finish_open(gc_gguf *g, gc_gguf **out) {
    gc_status s = parse(g);
    if (s != GC_OK) {
        gc_gguf_free(g);
        return s;
    }
    *out = g;
    return GC_OK;
}

gc_status gc_gguf_open(const char *path, gc_gguf **out) {
    if (!out || !path) return gc_fail(GC_ERR_INVALID_ARG, "gc_gguf_open: NULL argument");
    *out = NULL;
    gc_gguf *g = calloc(1, sizeof *g);
    if (!g) return gc_fail(GC_ERR_OOM, "%s: out of memory", path);
    gc_status s = gc_file_map(path, &g->map);
    if (s != GC_OK) {
        free(g);
        return s;
    }
    g->data = g->map.data;
    g->size = g->map.size;
    if (!(g->name = dup_bytes((const uint8_t *)path, strlen(path)))) {
        gc_gguf_free(g);
        return gc_fail(GC_ERR_OOM, "%s: out of memory", path);
    }
    return finish_open(g, out);
}

gc_status gc_gguf_open_memory(const void *data, size_t size, const char *name, gc_gguf **out) {
    if (!out) return gc_fail(GC_ERR_INVALID_ARG, "gc_gguf_open_memory: NULL out");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && size > 0) return gc_fail(GC_ERR_INVALID_ARG, "%s: NULL data with size %zu", name, size);
    gc_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->name = dup_bytes((const uint8_t *)name, strlen(name)))) {
        free(g);
        return gc_fail(GC_ERR_OOM, "%s: out of memory", name);
    }
    g->data = data;
    g->size = size;
    return finish_open(g, out);
}

void gc_gguf_free(gc_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str);
        free(g->kv[i].blob);
        free(g->kv[i].soff);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    free(g->kv_ht.slot);
    free(g->tensor_ht.slot);
    if (g->map.path) gc_file_unmap(&g->map);
    free(g->name);
    free(g);
}

const char *gc_gguf_path(const gc_gguf *g) { return g->name; }
uint32_t gc_gguf_version(const gc_gguf *g) { return g->version; }

// ---- metadata ----

int64_t gc_gguf_n_kv(const gc_gguf *g) { return g->n_kv; }

const char *gc_gguf_key(const gc_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

int64_t gc_gguf_find_key(const gc_gguf *g, const char *key) { return ht_get(g, &g->kv_ht, kv_name, key); }

// (gc_gguf_type)-1 for an index out of range.
gc_gguf_type gc_gguf_kv_type(const gc_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].type : (gc_gguf_type)-1;
}

static const gguf_kv *find(const gc_gguf *g, const char *key) {
    int64_t i = gc_gguf_find_key(g, key);
    return i >= 0 ? &g->kv[i] : NULL;
}

bool gc_gguf_get_int(const gc_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = find(g, key);
    return kv && kv->type != GC_GGUF_ARRAY && kv->val && as_int(kv->type, kv->val, false, out);
}

bool gc_gguf_get_float(const gc_gguf *g, const char *key, double *out) {
    const gguf_kv *kv = find(g, key);
    return kv && kv->type != GC_GGUF_ARRAY && kv->val && as_float(kv->type, kv->val, out);
}

// Any nonzero byte reads as true.
bool gc_gguf_get_bool(const gc_gguf *g, const char *key, bool *out) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != GC_GGUF_BOOL) return false;
    *out = kv->val[0] != 0;
    return true;
}

const char *gc_gguf_get_str(const gc_gguf *g, const char *key, size_t *len) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != GC_GGUF_STRING) return NULL;
    if (len) *len = kv->str_len;
    return kv->str;
}

bool gc_gguf_get_arr(const gc_gguf *g, const char *key, gc_gguf_type *elem_type, int64_t *n) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != GC_GGUF_ARRAY) return false;
    if (elem_type) *elem_type = kv->elem;
    if (n) *n = kv->n;
    return true;
}

const char *gc_gguf_arr_str(const gc_gguf *g, const char *key, int64_t i, size_t *len) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != GC_GGUF_ARRAY || kv->elem != GC_GGUF_STRING || i < 0 || i >= kv->n) return NULL;
    if (len) *len = kv->soff[i + 1] - kv->soff[i] - 1;
    return kv->blob + kv->soff[i];
}

// Integer arrays; bool arrays read as 0/1 here since no other accessor exists.
bool gc_gguf_arr_int(const gc_gguf *g, const char *key, int64_t i, int64_t *out) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != GC_GGUF_ARRAY || i < 0 || i >= kv->n) return false;
    size_t es = scalar_size(kv->elem);
    return es && as_int(kv->elem, kv->val + (size_t)i * es, true, out);
}

bool gc_gguf_arr_float(const gc_gguf *g, const char *key, int64_t i, double *out) {
    const gguf_kv *kv = find(g, key);
    if (!kv || kv->type != GC_GGUF_ARRAY || i < 0 || i >= kv->n) return false;
    size_t es = scalar_size(kv->elem);
    return es && as_float(kv->elem, kv->val + (size_t)i * es, out);
}

// ---- tensors ----

int64_t gc_gguf_n_tensors(const gc_gguf *g) { return g->n_tensors; }

const gc_tensor *gc_gguf_tensor(const gc_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gc_tensor *gc_gguf_find_tensor(const gc_gguf *g, const char *name) {
    int64_t i = ht_get(g, &g->tensor_ht, tensor_name, name);
    return i >= 0 ? &g->tensors[i] : NULL;
}
