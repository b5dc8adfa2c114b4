// Cache values over the block pool: spans, sharing, slicing, scaling.
#include "kv/kv_internal.h"
#include "engine/engine.h"
#include "core/error.h"
#include "core/vec.h"
#include <stdlib.h>
#include <string.h>

static gc_status grow_spans(gc_kv *kv, int need) {
    if (!GC_VEC_RESERVE(kv->spans, kv->cap_spans, (size_t)need))
        return gc_fail(GC_ERR_OOM, "out of memory growing a KV cache");
    return GC_OK;
}

static void free_mods(gc_kv_span *s) {
    free(s->k_scale);
    free(s->v_scale);
    free(s->gate);
    s->k_scale = s->v_scale = NULL;
    s->gate = NULL;
}

static void *dup_arr(const void *src, size_t bytes, bool *oom) {
    if (!src) return NULL;
    void *d = malloc(bytes);
    if (!d) { *oom = true; return NULL; }
    memcpy(d, src, bytes);
    return d;
}

// Appends a copy of span s (new references to its block, own modifier copies).
static gc_status push_span(gc_kv *kv, const gc_kv_span *s) {
    GC_TRY(grow_spans(kv, kv->n_spans + 1));
    size_t L = (size_t)kv->pool->n_layers;
    bool oom = false;
    gc_kv_span c = *s;
    c.k_scale = dup_arr(s->k_scale, L * sizeof(float), &oom);
    c.v_scale = dup_arr(s->v_scale, L * sizeof(float), &oom);
    c.gate = dup_arr(s->gate, L, &oom);
    if (oom) { free_mods(&c); return gc_fail(GC_ERR_OOM, "out of memory"); }
    c.b->refs++;
    kv->spans[kv->n_spans++] = c;
    return GC_OK;
}

gc_status gc_kv_new(gc_engine *e, gc_kv **out) {
    *out = NULL;
    gc_kv *kv = calloc(1, sizeof *kv);
    if (!kv) return gc_fail(GC_ERR_OOM, "out of memory allocating a KV cache");
    kv->e = e;
    kv->pool = &e->pool;
    *out = kv;
    return GC_OK;
}

void gc_kv_free(gc_kv *kv) {
    if (!kv) return;
    for (int i = 0; i < kv->n_spans; i++) {
        free_mods(&kv->spans[i]);
        gc_kv_block_release(kv->pool, kv->spans[i].b);
    }
    free(kv->spans);
    free(kv);
}

int64_t gc_kv_len(const gc_kv *kv) { return kv->len; }

size_t gc_kv_bytes(const gc_kv *kv) {
    // A block's bytes are GC_KV_BLOCK positions' worth (values and, for q8,
    // their scales), so this divides exactly.
    return (size_t)kv->len * (kv->pool->block_bytes / GC_KV_BLOCK);
}

size_t gc_kv_block_bytes(const gc_kv *kv) {
    size_t n = 0;
    for (int i = 0; i < kv->n_spans; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = kv->spans[j].b == kv->spans[i].b;
        if (!seen) n++;
    }
    return n * kv->pool->block_bytes;
}

static gc_status check_idle(const gc_kv *kv) {
    if (kv->pending) return gc_fail(GC_ERR_INVALID_ARG, "KV cache has an open reservation");
    return GC_OK;
}

gc_status gc_kv_fork(const gc_kv *kv, gc_kv **out) {
    return gc_kv_slice(kv, 0, kv->len, out);
}

gc_status gc_kv_slice(const gc_kv *kv, int64_t start, int64_t end, gc_kv **out) {
    *out = NULL;
    GC_TRY(check_idle(kv));
    if (start < 0 || end < start || end > kv->len)
        return gc_fail(GC_ERR_RANGE, "KV slice [%lld, %lld) outside a cache of length %lld", (long long)start,
                       (long long)end, (long long)kv->len);
    gc_kv *r;
    GC_TRY(gc_kv_new(kv->e, &r));
    int64_t pos = 0;
    for (int i = 0; i < kv->n_spans && pos < end; i++) {
        const gc_kv_span *s = &kv->spans[i];
        int64_t a = pos, b = pos + s->n;
        pos = b;
        if (b <= start) continue;
        int64_t lo = a > start ? a : start, hi = b < end ? b : end;
        gc_kv_span part = *s;
        part.off = s->off + (int)(lo - a);
        part.n = (int)(hi - lo);
        gc_status st = push_span(r, &part);
        if (st != GC_OK) { gc_kv_free(r); return st; }
    }
    r->len = end - start;
    *out = r;
    return GC_OK;
}

gc_status gc_kv_keep_last(gc_kv *kv, int64_t n) {
    GC_TRY(check_idle(kv));
    if (n < 0) return gc_fail(GC_ERR_INVALID_ARG, "keep_last: n must be >= 0");
    if (n >= kv->len) return GC_OK;
    int64_t drop = kv->len - n;
    int i = 0;
    while (i < kv->n_spans && drop >= kv->spans[i].n) {
        drop -= kv->spans[i].n;
        free_mods(&kv->spans[i]);
        gc_kv_block_release(kv->pool, kv->spans[i].b);
        i++;
    }
    memmove(kv->spans, kv->spans + i, (size_t)(kv->n_spans - i) * sizeof *kv->spans);
    kv->n_spans -= i;
    if (drop > 0) {
        kv->spans[0].off += (int)drop;
        kv->spans[0].n -= (int)drop;
    }
    kv->len = n;
    return GC_OK;
}

gc_status gc_kv_concat(gc_kv *const *parts, int n, gc_kv **out) {
    *out = NULL;
    if (n < 0) return gc_fail(GC_ERR_INVALID_ARG, "concat: negative count");
    if (n == 0) return gc_fail(GC_ERR_INVALID_ARG, "concat: no caches given");
    for (int i = 0; i < n; i++) {
        if (!parts[i]) return gc_fail(GC_ERR_INVALID_ARG, "concat: cache %d is NULL", i);
        if (parts[i]->e != parts[0]->e) return gc_fail(GC_ERR_INVALID_ARG, "concat: cache %d is from another engine", i);
        GC_TRY(check_idle(parts[i]));
    }
    gc_kv *r;
    GC_TRY(gc_kv_new(parts[0]->e, &r));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < parts[i]->n_spans; j++) {
            gc_status st = push_span(r, &parts[i]->spans[j]);
            if (st != GC_OK) { gc_kv_free(r); return st; }
        }
        r->len += parts[i]->len;
    }
    *out = r;
    return GC_OK;
}

// Positions [p0, p0+n) of layer l into k / v (n × row f32), scales applied;
// the elements come through the backend (kv_get).
static gc_status read_range(const gc_kv *kv, int64_t l, int64_t p0, int64_t n, float *k, float *v) {
    const gc_kv_pool *P = kv->pool;
    const int64_t row = P->row;
    int64_t pos = 0;
    for (int i = 0; i < kv->n_spans && pos < p0 + n; i++) {
        const gc_kv_span *s = &kv->spans[i];
        int64_t a = pos > p0 ? pos : p0, b = pos + s->n < p0 + n ? pos + s->n : p0 + n;
        if (b > a) {
            int64_t idx = s->off + (a - pos), m = b - a;
            float *dk = k + (a - p0) * row, *dv = v + (a - p0) * row;
            GC_TRY(P->be->kv_get(P->be_state, s->b->data, gc_kv_plane_off(P, l, 0, idx), (size_t)(m * row), dk));
            GC_TRY(P->be->kv_get(P->be_state, s->b->data, gc_kv_plane_off(P, l, 1, idx), (size_t)(m * row), dv));
            float ks = s->k_scale ? s->k_scale[l] : 1.0f, vs = s->v_scale ? s->v_scale[l] : 1.0f;
            for (int64_t j = 0; j < m * row; j++) {
                dk[j] *= ks;
                dv[j] *= vs;
            }
        }
        pos += s->n;
    }
    return GC_OK;
}

// Locates position p: span index and offset inside the span.
static void locate(const gc_kv *kv, int64_t p, int *si, int *so) {
    int i = 0;
    while (p >= kv->spans[i].n) p -= kv->spans[i++].n;
    *si = i;
    *so = (int)p;
}

gc_status gc_kv_read(const gc_kv *kv, int64_t l, int64_t p, float *k, float *v) {
    if (l < 0 || l >= kv->pool->n_layers || p < 0 || p >= kv->len)
        return gc_fail(GC_ERR_RANGE, "kv_read: layer %lld / position %lld out of range", (long long)l, (long long)p);
    return read_range(kv, l, p, 1, k, v);
}

// Splits spans so that position p starts a span (p in (0, len)).
static gc_status split_at(gc_kv *kv, int64_t p) {
    if (p <= 0 || p >= kv->len) return GC_OK;
    int si, so;
    locate(kv, p, &si, &so);
    if (so == 0) return GC_OK;
    GC_TRY(grow_spans(kv, kv->n_spans + 1));
    gc_kv_span right = kv->spans[si];
    size_t L = (size_t)kv->pool->n_layers;
    bool oom = false;
    right.k_scale = dup_arr(kv->spans[si].k_scale, L * sizeof(float), &oom);
    right.v_scale = dup_arr(kv->spans[si].v_scale, L * sizeof(float), &oom);
    right.gate = dup_arr(kv->spans[si].gate, L, &oom);
    if (oom) { free_mods(&right); return gc_fail(GC_ERR_OOM, "out of memory"); }
    right.off += so;
    right.n -= so;
    right.b->refs++;
    kv->spans[si].n = so;
    memmove(kv->spans + si + 2, kv->spans + si + 1, (size_t)(kv->n_spans - si - 1) * sizeof *kv->spans);
    kv->spans[si + 1] = right;
    kv->n_spans++;
    return GC_OK;
}

gc_status gc_kv_scale(gc_kv *kv, int64_t start, int64_t end, const float *k_scale, const float *v_scale,
                      const uint8_t *gate) {
    GC_TRY(check_idle(kv));
    if (start < 0 || end < start || end > kv->len)
        return gc_fail(GC_ERR_RANGE, "KV scale range [%lld, %lld) outside a cache of length %lld", (long long)start,
                       (long long)end, (long long)kv->len);
    GC_TRY(split_at(kv, start));
    GC_TRY(split_at(kv, end));
    const int64_t L = kv->pool->n_layers;
    int64_t pos = 0;
    for (int i = 0; i < kv->n_spans; i++) {
        gc_kv_span *s = &kv->spans[i];
        int64_t a = pos;
        pos += s->n;
        if (a < start || a >= end) continue;
        if (k_scale && !s->k_scale) {
            if (!(s->k_scale = malloc((size_t)L * sizeof(float)))) return gc_fail(GC_ERR_OOM, "out of memory");
            for (int64_t l = 0; l < L; l++) s->k_scale[l] = 1.0f;
        }
        if (v_scale && !s->v_scale) {
            if (!(s->v_scale = malloc((size_t)L * sizeof(float)))) return gc_fail(GC_ERR_OOM, "out of memory");
            for (int64_t l = 0; l < L; l++) s->v_scale[l] = 1.0f;
        }
        if (gate && !s->gate) {
            if (!(s->gate = malloc((size_t)L))) return gc_fail(GC_ERR_OOM, "out of memory");
            memset(s->gate, 1, (size_t)L);
        }
        for (int64_t l = 0; l < L; l++) {
            if (k_scale) s->k_scale[l] *= k_scale[l];
            if (v_scale) s->v_scale[l] *= v_scale[l];
            if (gate) s->gate[l] = s->gate[l] && gate[l];
        }
    }
    return GC_OK;
}

// ---- appending (used by the forward pass) ----

gc_status gc_kv_reserve_append(gc_kv *kv, int64_t n, gc_kv_slot *slots) {
    GC_TRY(check_idle(kv));
    kv->spans_before = kv->n_spans;
    kv->tail_n_before = kv->n_spans ? kv->spans[kv->n_spans - 1].n : 0;
    int64_t done = 0;
    while (done < n) {
        gc_kv_span *t = kv->n_spans ? &kv->spans[kv->n_spans - 1] : NULL;
        // The tail block can grow in place only when this span alone sees it,
        // the span ends at the block's written prefix, and it carries no modifiers.
        bool extend = t && t->b->refs == 1 && t->off + t->n == t->b->used && t->b->used < GC_KV_BLOCK &&
                      !t->k_scale && !t->v_scale && !t->gate;
        if (!extend) {
            gc_status st = grow_spans(kv, kv->n_spans + 1);
            gc_kv_block *b = NULL;
            if (st == GC_OK) st = gc_kv_block_alloc(kv->pool, &b);
            if (st != GC_OK) {
                kv->pending = done;
                gc_kv_rollback(kv);
                return st;
            }
            kv->spans[kv->n_spans++] = (gc_kv_span){.b = b, .off = 0, .n = 0};
            t = &kv->spans[kv->n_spans - 1];
        }
        while (done < n && t->b->used < GC_KV_BLOCK) {
            slots[done++] = (gc_kv_slot){t->b, t->b->used};
            t->b->used++;
            t->n++;
        }
    }
    kv->pending = n;
    return GC_OK;
}

void gc_kv_commit(gc_kv *kv, int64_t n) {
    kv->len += n;
    kv->pending = 0;
}

void gc_kv_rollback(gc_kv *kv) {
    // Drop spans created by the reservation, then shrink the old tail back.
    while (kv->n_spans > kv->spans_before) {
        gc_kv_span *s = &kv->spans[--kv->n_spans];
        s->b->used -= s->n;
        gc_kv_block_release(kv->pool, s->b);
    }
    if (kv->n_spans) {
        gc_kv_span *t = &kv->spans[kv->n_spans - 1];
        int grown = t->n - kv->tail_n_before;
        t->n -= grown;
        t->b->used -= grown;
    }
    kv->pending = 0;
}

gc_status gc_kv_clone(const gc_kv *kv, gc_kv **out) {
    *out = NULL;
    GC_TRY(check_idle(kv));
    gc_kv *r;
    GC_TRY(gc_kv_new(kv->e, &r));
    const gc_kv_pool *P = kv->pool;
    const int64_t L = P->n_layers, row = P->row;
    for (int i = 0; i < kv->n_spans; i++) {
        const gc_kv_span *s = &kv->spans[i];
        gc_kv_block *b;
        gc_status st = gc_kv_block_alloc(kv->pool, &b);
        if (st != GC_OK) { gc_kv_free(r); return st; }
        for (int64_t l = 0; l < L; l++) {
            for (int kind = 0; kind < 2 && st == GC_OK; kind++)
                st = P->be->kv_copy(P->be_state, b->data, gc_kv_plane_off(P, l, kind, 0), s->b->data,
                                    gc_kv_plane_off(P, l, kind, s->off), (size_t)(s->n * row));
            if (st != GC_OK) { gc_kv_block_release(kv->pool, b); gc_kv_free(r); return st; }
        }
        b->used = s->n;
        gc_kv_span c = *s;
        c.b = b;
        c.off = 0;
        st = push_span(r, &c);
        gc_kv_block_release(kv->pool, b);   // push_span took its own reference
        if (st != GC_OK) { gc_kv_free(r); return st; }
    }
    r->len = kv->len;
    *out = r;
    return GC_OK;
}

// Positions [p0, p0 + n) of kv as backend positions out (n), walking its
// spans as read_range does; a span with scales adds its row (n_layers, 2)
// to the scale table (row *n_mods, then counted).
static void table_range(const gc_kv *kv, int64_t p0, int64_t n, gc_kv_pos *out, float *scales, int *n_mods) {
    const int64_t L = kv->pool->n_layers;
    int64_t pos = 0;
    for (int i = 0; i < kv->n_spans && pos < p0 + n; pos += kv->spans[i++].n) {
        const gc_kv_span *s = &kv->spans[i];
        int64_t a = pos > p0 ? pos : p0, b = pos + s->n < p0 + n ? pos + s->n : p0 + n;
        if (b <= a) continue;
        int32_t mod = -1;
        if (s->k_scale || s->v_scale) {
            mod = (*n_mods)++;
            for (int64_t l = 0; l < L; l++) {
                scales[(mod * L + l) * 2] = s->k_scale ? s->k_scale[l] : 1.0f;
                scales[(mod * L + l) * 2 + 1] = s->v_scale ? s->v_scale[l] : 1.0f;
            }
        }
        for (int64_t p = a; p < b; p++)
            out[p - p0] = (gc_kv_pos){.data = s->b->data, .idx = (int32_t)(s->off + (p - pos)), .mod = mod};
    }
}

// The sum as one plan for the backend's kv_wsum: every reserved slot and
// every part's last Lmin positions. The scale table has room for a row per
// span of every part (an upper bound on the spans with scales).
static gc_status wsum_backend(gc_kv *const *parts, const float *w, int n, int64_t Lmin, gc_kv_pool *pool,
                              const gc_kv_slot *slots) {
    int64_t spans = 0;
    for (int i = 0; i < n; i++) spans += parts[i]->n_spans;
    gc_kv_pos *dst = malloc((size_t)(n + 1) * (size_t)Lmin * sizeof *dst);
    float *scales = malloc((size_t)spans * (size_t)pool->n_layers * 2 * sizeof(float));
    if (!dst || !scales) {
        free(dst); free(scales);
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    gc_kv_pos *src = dst + Lmin;
    for (int64_t p = 0; p < Lmin; p++) dst[p] = (gc_kv_pos){.data = slots[p].b->data, .idx = slots[p].idx, .mod = -1};
    int n_mods = 0;
    for (int i = 0; i < n; i++)
        table_range(parts[i], parts[i]->len - Lmin, Lmin, src + (size_t)i * (size_t)Lmin, scales, &n_mods);
    const gc_kv_wsum_plan plan = {
        .n_pos = Lmin, .n_parts = n, .w = w, .dst = dst, .src = src, .scales = scales, .n_mods = n_mods};
    gc_status st = pool->be->kv_wsum(pool->be_state, &plan);
    free(dst);
    free(scales);
    return st;
}

gc_status gc_kv_wsum(gc_kv *const *parts, const float *w, int n, gc_kv **out) {
    *out = NULL;
    if (n < 1) return gc_fail(GC_ERR_INVALID_ARG, "wsum: no caches given");
    int64_t Lmin = parts[0]->len;
    for (int i = 0; i < n; i++) {
        if (parts[i]->e != parts[0]->e) return gc_fail(GC_ERR_INVALID_ARG, "wsum: cache %d is from another engine", i);
        GC_TRY(check_idle(parts[i]));
        if (parts[i]->len < Lmin) Lmin = parts[i]->len;
    }
    if (!parts[0]->pool->be->kv_wsum)
        return gc_fail(GC_ERR_UNSUPPORTED, "wsum: the %s backend has no weighted sum", parts[0]->pool->be->name);
    gc_kv *r;
    GC_TRY(gc_kv_new(parts[0]->e, &r));
    if (Lmin == 0) { *out = r; return GC_OK; }
    gc_kv_pool *pool = r->pool;
    gc_kv_slot *slots = malloc((size_t)Lmin * sizeof *slots);
    gc_status st = slots ? GC_OK : gc_fail(GC_ERR_OOM, "out of memory");
    if (st == GC_OK) st = gc_kv_reserve_append(r, Lmin, slots);
    if (st == GC_OK) st = wsum_backend(parts, w, n, Lmin, pool, slots);
    if (st == GC_OK) gc_kv_commit(r, Lmin);
    free(slots);
    if (st != GC_OK) { gc_kv_free(r); return st; }
    *out = r;
    return GC_OK;
}
