// Contiguous f32 KV cache (CPU reference path).
#include "engine/engine.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

gc_status gc_kv_new(gc_engine *e, gc_kv **out) {
    const gc_model_config *c = &e->m->cfg;
    gc_kv *kv = calloc(1, sizeof *kv);
    if (!kv) return gc_fail(GC_ERR_OOM, "out of memory allocating a KV cache");
    kv->e = e;
    kv->row = c->n_kv_heads * c->head_dim;
    kv->n_layers = c->n_layers;
    kv->k = calloc((size_t)kv->n_layers, sizeof *kv->k);
    kv->v = calloc((size_t)kv->n_layers, sizeof *kv->v);
    if (!kv->k || !kv->v) { gc_kv_free(kv); return gc_fail(GC_ERR_OOM, "out of memory allocating a KV cache"); }
    *out = kv;
    return GC_OK;
}

void gc_kv_free(gc_kv *kv) {
    if (!kv) return;
    for (int64_t l = 0; kv->k && l < kv->n_layers; l++) free(kv->k[l]);
    for (int64_t l = 0; kv->v && l < kv->n_layers; l++) free(kv->v[l]);
    free(kv->k);
    free(kv->v);
    free(kv);
}

int64_t gc_kv_len(const gc_kv *kv) { return kv->len; }

size_t gc_kv_bytes(const gc_kv *kv) {
    return (size_t)kv->len * (size_t)kv->n_layers * 2 * (size_t)kv->row * sizeof(float);
}

gc_status gc_kv_reserve(gc_kv *kv, int64_t need) {
    if (need <= kv->cap) return GC_OK;
    int64_t cap = kv->cap ? kv->cap : 64;
    while (cap < need) cap *= 2;
    size_t bytes = (size_t)cap * (size_t)kv->row * sizeof(float);
    for (int64_t l = 0; l < kv->n_layers; l++) {
        float *nk = realloc(kv->k[l], bytes);
        if (!nk) return gc_fail(GC_ERR_OOM, "out of memory growing a KV cache to %lld positions", (long long)cap);
        kv->k[l] = nk;
        float *nv = realloc(kv->v[l], bytes);
        if (!nv) return gc_fail(GC_ERR_OOM, "out of memory growing a KV cache to %lld positions", (long long)cap);
        kv->v[l] = nv;
    }
    kv->cap = cap;
    return GC_OK;
}

gc_status gc_kv_clone(const gc_kv *kv, gc_kv **out) {
    gc_kv *c;
    GC_TRY(gc_kv_new(kv->e, &c));
    gc_status s = gc_kv_reserve(c, kv->len);
    if (s != GC_OK) { gc_kv_free(c); return s; }
    size_t bytes = (size_t)kv->len * (size_t)kv->row * sizeof(float);
    for (int64_t l = 0; l < kv->n_layers; l++) {
        if (bytes) memcpy(c->k[l], kv->k[l], bytes);
        if (bytes) memcpy(c->v[l], kv->v[l], bytes);
    }
    c->len = kv->len;
    *out = c;
    return GC_OK;
}
