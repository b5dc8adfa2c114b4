// Saving and loading cache values.
//
// File layout (little-endian):
//   "GCKV" | u32 version (2) | u64 model fingerprint | u64 n_layers | u64 row
//   | u32 KV format (gc_kv_dtype: 1 f32, 2 bf16, 3 q8) | u32 head_dim
//   | u64 len | u64 n_spans
//   n_spans × { u32 n | u32 flags (1 k_scale, 2 v_scale, 4 gate)
//               | [f32 k_scale[n_layers]] | [f32 v_scale[n_layers]] | [u8 gate[n_layers]]
//               | data }
//   | u64 FNV-1a of every preceding byte
// data, per layer, K then V (raw: the span's k/v scales are not applied):
//   f32, bf16  f32 [n][row] (bf16 values widen exactly)
//   q8         i8 [n][row], then f32 [n][row / head_dim] (the stored values
//              and their per-row scales, unchanged: a q8 cache round-trips
//              bit for bit)
// Version 1 files (no format and head_dim fields, f32 data) still load.
// The fingerprint hashes the model's shapes and the first bytes of its
// embedding, so a cache saved with another model is refused; a q8 file loads
// only into a q8 engine and an f32/bf16 file only into an f32 or bf16 one;
// a q8 scale that is not finite and >= 0, or a value of -128 (which the
// quantizer never writes), is refused as corrupt.
#include "kv/kv_internal.h"
#include "engine/engine.h"
#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/vec.h"
#include "backend/kv_q8.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { KV_VERSION = 2, F_KS = 1, F_VS = 2, F_GATE = 4 };

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

// A q8 span's stored bytes, per layer K then V: its int8 rows, then their scales.
static gc_status put_q8_span(wbuf *b, const gc_kv_pool *P, const gc_kv_span *s) {
    const size_t nv = (size_t)s->n * (size_t)P->row, ns = nv / (size_t)P->hd * sizeof(float);
    unsigned char *tmp = malloc(nv + ns);
    if (!tmp) { b->oom = true; return GC_OK; }
    gc_status st = GC_OK;
    for (int64_t l = 0; l < P->n_layers && st == GC_OK && !b->oom; l++)
        for (int kind = 0; kind < 2 && st == GC_OK; kind++) {
            const size_t e0 = gc_kv_plane_off(P, l, kind, s->off);
            st = P->be->kv_read_bytes(P->be_state, s->b->data, e0, nv, tmp);
            if (st == GC_OK)
                st = P->be->kv_read_bytes(P->be_state, s->b->data, gc_kv_q8_scale_byte(P->block_elems, e0, P->hd), ns,
                                          tmp + nv);
            if (st == GC_OK) put(b, tmp, nv + ns);
        }
    free(tmp);
    return st;
}

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
    put_u32(&b, (uint32_t)P->dtype);
    put_u32(&b, (uint32_t)P->hd);
    put_u64(&b, (uint64_t)kv->len);
    put_u64(&b, (uint64_t)kv->n_spans);
    for (int i = 0; i < kv->n_spans; i++) {
        const gc_kv_span *s = &kv->spans[i];
        put_u32(&b, (uint32_t)s->n);
        put_u32(&b, (s->k_scale ? F_KS : 0) | (s->v_scale ? F_VS : 0) | (s->gate ? F_GATE : 0));
        if (s->k_scale) put(&b, s->k_scale, (size_t)L * sizeof(float));
        if (s->v_scale) put(&b, s->v_scale, (size_t)L * sizeof(float));
        if (s->gate) put(&b, s->gate, (size_t)L);
        if (P->dtype == GC_KV_Q8) {
            gc_status ds = put_q8_span(&b, P, s);
            if (ds != GC_OK) { free(b.p); return ds; }
            continue;
        }
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

// One q8 span's data (put_q8_span's layout, n positions, at src) into its
// reserved slots, after checking every value and scale.
static gc_status load_q8_span(const gc_kv_pool *P, const char *path, uint64_t span, const uint8_t *src, uint32_t n,
                              const gc_kv_slot *slots) {
    const int64_t row = P->row, hd = P->hd, KV = row / hd;
    const size_t nv = (size_t)n * (size_t)row, ns = nv / (size_t)hd;
    float *sc = malloc(ns * sizeof(float));   // src may be unaligned
    if (!sc) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_status s = GC_OK;
    for (int64_t l = 0; l < P->n_layers && s == GC_OK; l++)
        for (int kind = 0; kind < 2 && s == GC_OK; kind++, src += nv + ns * sizeof(float)) {
            const int8_t *q = (const int8_t *)src;
            memcpy(sc, src + nv, ns * sizeof(float));
            for (size_t j = 0; j < ns && s == GC_OK; j++)
                if (!gc_kv_q8_scale_ok(sc[j]))
                    s = gc_fail(GC_ERR_FORMAT, "%s: span %llu, layer %lld, %c: the scale of position %zu, KV head %zu "
                                "is %g (a q8 scale is finite and >= 0): file corrupt", path, (unsigned long long)span,
                                (long long)l, kind ? 'V' : 'K', j / (size_t)KV, j % (size_t)KV, (double)sc[j]);
            for (size_t j = 0; j < nv && s == GC_OK; j++)
                if (q[j] == -128)
                    s = gc_fail(GC_ERR_FORMAT, "%s: span %llu, layer %lld, %c: value -128 at position %zu (q8 values "
                                "are in [-127, 127]): file corrupt", path, (unsigned long long)span, (long long)l,
                                kind ? 'V' : 'K', j / (size_t)row);
            // Each run of consecutive slots in one block: its values, then its scales.
            for (uint32_t j = 0; j < n && s == GC_OK;) {
                uint32_t k = j + 1;
                while (k < n && slots[k].b == slots[j].b && slots[k].idx == slots[k - 1].idx + 1) k++;
                const size_t e0 = gc_kv_plane_off(P, l, kind, slots[j].idx);
                s = P->be->kv_write_bytes(P->be_state, slots[j].b->data, e0, (size_t)(k - j) * (size_t)row,
                                          q + (size_t)j * (size_t)row);
                if (s == GC_OK)
                    s = P->be->kv_write_bytes(P->be_state, slots[j].b->data, gc_kv_q8_scale_byte(P->block_elems, e0, hd),
                                              (size_t)(k - j) * (size_t)KV * sizeof(float), sc + (size_t)j * (size_t)KV);
                j = k;
            }
        }
    free(sc);
    return s;
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
    uint32_t ver, dtype = GC_KV_F32, fhd = (uint32_t)P->hd;
    uint64_t fp = 0, nl = 0, rw = 0, klen = 0, nspans = 0, h;
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
    if (ver != 1 && ver != KV_VERSION) {
        s = gc_fail(GC_ERR_FORMAT, "%s: KV file version %u, expected 1 or %d", path, ver, KV_VERSION);
        goto done;
    }
    get(&r, &fp, 8); get(&r, &nl, 8); get(&r, &rw, 8);
    if (ver >= 2 && (!get(&r, &dtype, 4) || !get(&r, &fhd, 4))) {
        s = gc_fail(GC_ERR_FORMAT, "%s: header too short", path);
        goto done;
    }
    if (!get(&r, &klen, 8) || !get(&r, &nspans, 8)) {
        s = gc_fail(GC_ERR_FORMAT, "%s: header too short", path);
        goto done;
    }
    if (fp != fingerprint(e) || nl != (uint64_t)L || rw != (uint64_t)row || fhd != (uint32_t)P->hd) {
        s = gc_fail(GC_ERR_FORMAT, "%s: cache was saved for a different model (%llu layers × %llu, this model %lld × %lld)",
                    path, (unsigned long long)nl, (unsigned long long)rw, (long long)L, (long long)row);
        goto done;
    }
    if (dtype < GC_KV_F32 || dtype > GC_KV_Q8) {
        s = gc_fail(GC_ERR_FORMAT, "%s: unknown KV format %u", path, dtype);
        goto done;
    }
    // f32 and bf16 files hold the same f32 data; q8 holds int8 and scales.
    if ((dtype == GC_KV_Q8) != (P->dtype == GC_KV_Q8)) {
        s = gc_fail(GC_ERR_FORMAT, "%s: cache was saved with the %s KV format, this engine stores %s (open it with the "
                    "same KV format)", path, gc_kv_dtype_name((gc_kv_dtype)dtype), gc_kv_dtype_name(P->dtype));
        goto done;
    }
    const bool q8 = dtype == GC_KV_Q8;
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
        const size_t n_vals = (size_t)n * (size_t)row, n_scales = n_vals / (size_t)P->hd;
        // Per layer and K/V: f32 values, or int8 values and their f32 scales.
        const size_t plane_bytes = q8 ? n_vals + n_scales * sizeof(float) : n_vals * sizeof(float);
        size_t need = (size_t)L * 2 * plane_bytes;
        if (!ok || need > r.len - r.pos) {
            s = gc_fail(GC_ERR_FORMAT, "%s: span %llu: data past the end", path, (unsigned long long)i);
            break;
        }
        int64_t start = kv->len;
        // Positions go in as plain appends; the span's modifiers are then set
        // on exactly its range (gc_kv_scale splits spans at the boundaries).
        if ((s = gc_kv_reserve_append(kv, n, slots)) != GC_OK) break;
        if (q8) {   // int8 rows and their scales, as saved
            s = load_q8_span(P, path, i, r.p + r.pos, n, slots);
            r.pos += need;
        } else {    // into the backend: each run of consecutive slots in one block is one copy
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
