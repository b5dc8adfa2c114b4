// Saving and loading cache values.
//
// File layout (little-endian):
//   "GCKV" | u32 version (1) | u64 model fingerprint | u64 n_layers | u64 row
//   | u64 len | u64 n_spans
//   n_spans × { u32 n | u32 flags (1 k_scale, 2 v_scale, 4 gate)
//               | [f32 k_scale[n_layers]] | [f32 v_scale[n_layers]] | [u8 gate[n_layers]]
//               | f32 data[n_layers][2][n][row] }      (raw, unscaled K then V)
//   | u64 FNV-1a of every preceding byte
// The fingerprint hashes the model's shapes and the first bytes of its
// embedding, so a cache saved with another model is refused.
#include "kv/kv_internal.h"
#include "engine/engine.h"
#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/vec.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { KV_VERSION = 1, F_KS = 1, F_VS = 2, F_GATE = 4 };

static uint64_t fingerprint(const gc_engine *e) {
    const gc_model_config *c = &e->m->cfg;
    int64_t f[] = {c->arch, c->vocab_size, c->hidden_size, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim};
    uint64_t h = gc_fnv1a(GC_FNV_INIT, f, sizeof f);
    h = gc_fnv1a(h, &c->rope_theta, sizeof c->rope_theta);
    size_t n = e->m->tok_embd->nbytes < 4096 ? e->m->tok_embd->nbytes : 4096;
    return gc_fnv1a(h, e->m->tok_embd->data, n);
}

typedef struct wbuf { uint8_t *p; size_t len, cap; bool oom; } wbuf;

static void put(wbuf *b, const void *d, size_t n) {
    if (b->oom) return;
    if (n > SIZE_MAX - b->len || !GC_VEC_RESERVE(b->p, b->cap, b->len + n)) { b->oom = true; return; }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put_u32(wbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(wbuf *b, uint64_t v) { put(b, &v, 8); }

gc_status gc_kv_save(const gc_kv *kv, const char *path) {
    if (kv->pending) return gc_fail(GC_ERR_INVALID_ARG, "kv_save: cache has an open reservation");
    const gc_kv_pool *P = kv->pool;
    const int64_t L = P->n_layers, row = P->row;
    wbuf b = {0};
    put(&b, "GCKV", 4);
    put_u32(&b, KV_VERSION);
    put_u64(&b, fingerprint(kv->e));
    put_u64(&b, (uint64_t)L);
    put_u64(&b, (uint64_t)row);
    put_u64(&b, (uint64_t)kv->len);
    put_u64(&b, (uint64_t)kv->n_spans);
    for (int i = 0; i < kv->n_spans; i++) {
        const gc_kv_span *s = &kv->spans[i];
        put_u32(&b, (uint32_t)s->n);
        put_u32(&b, (s->k_scale ? F_KS : 0) | (s->v_scale ? F_VS : 0) | (s->gate ? F_GATE : 0));
        if (s->k_scale) put(&b, s->k_scale, (size_t)L * sizeof(float));
        if (s->v_scale) put(&b, s->v_scale, (size_t)L * sizeof(float));
        if (s->gate) put(&b, s->gate, (size_t)L);
        // Staged through f32 copies from the backend (bf16 values widen exactly).
        for (int64_t l = 0; l < L && !b.oom; l++) {
            float *tmp = malloc((size_t)(s->n * row) * sizeof(float));
            if (!tmp) { b.oom = true; break; }
            for (int kind = 0; kind < 2; kind++) {
                gc_status ds = P->be->kv_get(P->be_state, s->b->data, gc_kv_plane_off(P, l, kind, s->off),
                                             (size_t)(s->n * row), tmp);
                if (ds != GC_OK) { free(tmp); free(b.p); return ds; }
                put(&b, tmp, (size_t)(s->n * row) * sizeof(float));
            }
            free(tmp);
        }
    }
    uint64_t h = b.oom ? 0 : gc_fnv1a(GC_FNV_INIT, b.p, b.len);
    put_u64(&b, h);
    if (b.oom) { free(b.p); return gc_fail(GC_ERR_OOM, "out of memory saving a KV cache"); }
    gc_status s = gc_file_write_atomic(path, b.p, b.len);
    free(b.p);
    return s;
}

typedef struct rbuf { const uint8_t *p; size_t len, pos; } rbuf;

static bool get(rbuf *r, void *d, size_t n) {
    if (n > r->len - r->pos) return false;
    memcpy(d, r->p + r->pos, n);
    r->pos += n;
    return true;
}

gc_status gc_kv_load(gc_engine *e, const char *path, gc_kv **out) {
    *out = NULL;
    char *data;
    size_t len;
    GC_TRY(gc_file_read_all(path, &data, &len));
    rbuf r = {(const uint8_t *)data, len, 0};
    gc_kv *kv = NULL;
    gc_status s = GC_OK;
    const gc_kv_pool *P = &e->pool;
    const int64_t L = P->n_layers, row = P->row;
    char magic[4];
    uint32_t ver;
    uint64_t fp, nl, rw, klen, nspans, h;
    if (len < 4 + 4 + 8 * 5 + 8 || memcmp(data, "GCKV", 4) != 0) {
        s = gc_fail(GC_ERR_FORMAT, "%s: not a gcache KV file (bad magic or too short)", path);
        goto done;
    }
    memcpy(&h, data + len - 8, 8);
    if (gc_fnv1a(GC_FNV_INIT, data, len - 8) != h) {
        s = gc_fail(GC_ERR_FORMAT, "%s: checksum mismatch (file corrupt or truncated)", path);
        goto done;
    }
    r.len = len - 8;
    get(&r, magic, 4);
    get(&r, &ver, 4);
    if (ver != KV_VERSION) { s = gc_fail(GC_ERR_FORMAT, "%s: KV file version %u, expected %d", path, ver, KV_VERSION); goto done; }
    get(&r, &fp, 8); get(&r, &nl, 8); get(&r, &rw, 8); get(&r, &klen, 8); get(&r, &nspans, 8);
    if (fp != fingerprint(e) || nl != (uint64_t)L || rw != (uint64_t)row) {
        s = gc_fail(GC_ERR_FORMAT, "%s: cache was saved for a different model (%llu layers × %llu, this model %lld × %lld)",
                    path, (unsigned long long)nl, (unsigned long long)rw, (long long)L, (long long)row);
        goto done;
    }
    if ((s = gc_kv_new(e, &kv)) != GC_OK) goto done;
    float *ks = malloc((size_t)L * sizeof(float)), *vs = malloc((size_t)L * sizeof(float));
    uint8_t *gate = malloc((size_t)L);
    gc_kv_slot *slots = malloc(GC_KV_BLOCK * sizeof *slots);
    if (!ks || !vs || !gate || !slots) s = gc_fail(GC_ERR_OOM, "out of memory");
    uint64_t total = 0;
    for (uint64_t i = 0; s == GC_OK && i < nspans; i++) {
        uint32_t n, flags;
        if (!get(&r, &n, 4) || !get(&r, &flags, 4) || n == 0 || n > GC_KV_BLOCK || (flags & ~7u)) {
            s = gc_fail(GC_ERR_FORMAT, "%s: span %llu: bad header", path, (unsigned long long)i);
            break;
        }
        bool ok = (!(flags & F_KS) || get(&r, ks, (size_t)L * sizeof(float))) &&
                  (!(flags & F_VS) || get(&r, vs, (size_t)L * sizeof(float))) &&
                  (!(flags & F_GATE) || get(&r, gate, (size_t)L));
        size_t need = (size_t)L * 2 * n * (size_t)row * sizeof(float);
        if (!ok || need > r.len - r.pos) {
            s = gc_fail(GC_ERR_FORMAT, "%s: span %llu: data past the end", path, (unsigned long long)i);
            break;
        }
        int64_t start = kv->len;
        // Positions go in as plain appends; the span's modifiers are then set
        // on exactly its range (gc_kv_scale splits spans at the boundaries).
        if ((s = gc_kv_reserve_append(kv, n, slots)) != GC_OK) break;
        // Into the backend: each run of consecutive slots in one block is one copy.
        for (int64_t l = 0; l < L && s == GC_OK; l++)
            for (int kind = 0; kind < 2 && s == GC_OK; kind++) {
                const uint8_t *src = r.p + r.pos;
                r.pos += (size_t)n * (size_t)row * sizeof(float);
                for (uint32_t j = 0; j < n && s == GC_OK;) {
                    uint32_t k = j + 1;
                    while (k < n && slots[k].b == slots[j].b && slots[k].idx == slots[k - 1].idx + 1) k++;
                    float *tmp = malloc((size_t)(k - j) * (size_t)row * sizeof(float));   // src may be unaligned
                    if (!tmp) { s = gc_fail(GC_ERR_OOM, "out of memory"); break; }
                    memcpy(tmp, src + (size_t)j * (size_t)row * sizeof(float), (size_t)(k - j) * (size_t)row * sizeof(float));
                    s = P->be->kv_set(P->be_state, slots[j].b->data, gc_kv_plane_off(P, l, kind, slots[j].idx),
                                      (size_t)(k - j) * (size_t)row, tmp);
                    free(tmp);
                    j = k;
                }
            }
        if (s != GC_OK) { gc_kv_rollback(kv); break; }
        gc_kv_commit(kv, n);
        total += n;
        if (flags)
            s = gc_kv_scale(kv, start, kv->len, (flags & F_KS) ? ks : NULL, (flags & F_VS) ? vs : NULL,
                            (flags & F_GATE) ? gate : NULL);
    }
    free(ks); free(vs); free(gate); free(slots);
    if (s == GC_OK && (total != klen || r.pos != r.len))
        s = gc_fail(GC_ERR_FORMAT, "%s: length %llu does not match its spans (%llu) or trailing bytes", path,
                    (unsigned long long)klen, (unsigned long long)total);
done:
    free(data);
    if (s != GC_OK) { gc_kv_free(kv); return s; }
    *out = kv;
    return GC_OK;
}
