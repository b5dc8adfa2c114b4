// Hashed bag-of-words text embedding: node features without a local model.
#include "gcache/learn.h"
#include "core/error.h"
#include "core/hash.h"
#include <math.h>
#include <string.h>

// Word bytes: ASCII letters and digits, and every non-ASCII byte (so UTF-8
// words stay whole).
static bool word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

// A finaliser (splitmix64's) so that the low bits picking the bucket and the
// top bit picking the sign are well mixed.
static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

gc_status gc_text_embed_hashed(const char *text, int dim, double *out) {
    if (dim < 1 || !out) return gc_fail(GC_ERR_INVALID_ARG, "text embedding: dim must be >= 1, got %d", dim);
    memset(out, 0, (size_t)dim * sizeof *out);
    if (!text) return gc_fail(GC_ERR_INVALID_ARG, "text embedding: text is NULL");
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        if (!word_byte(*s)) { s++; continue; }
        uint64_t h = GC_FNV_INIT;
        for (; *s && word_byte(*s); s++) {
            unsigned char c = (*s >= 'A' && *s <= 'Z') ? (unsigned char)(*s - 'A' + 'a') : *s;
            h = gc_fnv1a(h, &c, 1);
        }
        h = mix(h);
        out[h % (uint64_t)dim] += (h >> 63) ? -1.0 : 1.0;
    }
    double sq = 0;
    for (int k = 0; k < dim; k++) sq += out[k] * out[k];
    if (sq > 0) {
        double inv = 1.0 / sqrt(sq);
        for (int k = 0; k < dim; k++) out[k] *= inv;
    }
    return GC_OK;
}

gc_status gc_node_features_hashed(const char *const *role_desc, int n, const char *question, int dim, double *out) {
    if (n < 1 || !role_desc) return gc_fail(GC_ERR_INVALID_ARG, "node features: need at least one role");
    size_t w = 2 * (size_t)dim;
    for (int i = 0; i < n; i++) {
        GC_TRY(gc_text_embed_hashed(role_desc[i], dim, out + i * w));
        GC_TRY(gc_text_embed_hashed(question, dim, out + i * w + dim));
    }
    return GC_OK;
}
