// Policy checkpoints. Little-endian layout:
//   0   "GCPOLICY"            magic (8 bytes)
//   8   u32 version (1), u32 0
//   16  u64 body length B
//   24  body (B bytes):
//         i32 n_nodes feat_dim n_layers hidden code_dim
//         f64 temperature gate_temperature fuse_sigma lr clip_norm baseline_beta dropout
//         u8  use_baseline learn_temporal learn_gates learn_fuse
//         u64 seed
//         u8  role graph (N, N)
//         u64 RNG state [4]; i64 step; f64 baseline
//         u64 P; f64 θ[P], Adam m[P], Adam v[P]
//   24+B u64 FNV-1a of bytes [0, 24 + B)
// Doubles are stored as their bit patterns, so a load is exact.
#include "learn/policy.h"
#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_MAGIC "GCPOLICY"
#define CKPT_VERSION 1u
#define CKPT_HEADER 24

typedef struct wbuf { uint8_t *p; size_t len; } wbuf;

static void put_u64(wbuf *w, uint64_t v) {
    for (int k = 0; k < 8; k++) w->p[w->len++] = (uint8_t)(v >> (8 * k));
}
static void put_u32(wbuf *w, uint32_t v) {
    for (int k = 0; k < 4; k++) w->p[w->len++] = (uint8_t)(v >> (8 * k));
}
static void put_f64(wbuf *w, double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    put_u64(w, v);
}
static void put_u8(wbuf *w, uint8_t v) { w->p[w->len++] = v; }

static size_t body_size(const gc_policy *p) {
    size_t n = (size_t)p->cfg.n_nodes;
    return 5 * 4 + 7 * 8 + 4 + 8 + n * n + 4 * 8 + 8 + 8 + 8 + 3 * 8 * p->n_params;
}

gc_status gc_policy_serialize(const gc_policy *p, uint8_t **data, size_t *len) {
    size_t body = body_size(p), total = CKPT_HEADER + body + 8;
    wbuf w = {malloc(total), 0};
    if (!w.p) return gc_fail(GC_ERR_OOM, "out of memory (checkpoint, %zu bytes)", total);
    const gc_policy_params *c = &p->cfg;
    memcpy(w.p, CKPT_MAGIC, 8);
    w.len = 8;
    put_u32(&w, CKPT_VERSION);
    put_u32(&w, 0);
    put_u64(&w, body);
    int dims[5] = {c->n_nodes, c->feat_dim, c->n_layers, c->hidden, c->code_dim};
    for (int k = 0; k < 5; k++) put_u32(&w, (uint32_t)dims[k]);
    double reals[7] = {c->temperature, c->gate_temperature, c->fuse_sigma, c->lr, c->clip_norm, c->baseline_beta,
                       c->dropout};
    for (int k = 0; k < 7; k++) put_f64(&w, reals[k]);
    put_u8(&w, c->use_baseline);
    put_u8(&w, c->learn_temporal);
    put_u8(&w, c->learn_gates);
    put_u8(&w, c->learn_fuse);
    put_u64(&w, c->seed);
    for (int k = 0; k < c->n_nodes * c->n_nodes; k++) put_u8(&w, p->adj[k]);
    for (int k = 0; k < 4; k++) put_u64(&w, p->rng.s[k]);
    put_u64(&w, (uint64_t)p->step);
    put_f64(&w, p->baseline);
    put_u64(&w, p->n_params);
    const double *arrays[3] = {p->theta, p->m, p->v};
    for (int a = 0; a < 3; a++)
        for (size_t k = 0; k < p->n_params; k++) put_f64(&w, arrays[a][k]);
    put_u64(&w, gc_fnv1a(GC_FNV_INIT, w.p, w.len));
    *data = w.p;
    *len = w.len;
    return GC_OK;
}

gc_status gc_policy_save(const gc_policy *p, const char *path) {
    uint8_t *data;
    size_t len;
    GC_TRY(gc_policy_serialize(p, &data, &len));
    gc_status s = gc_file_write_atomic(path, data, len);
    free(data);
    return s;
}

// Bounds-checked little-endian reader over the body.
typedef struct rbuf { const uint8_t *p; size_t len, pos; bool short_read; } rbuf;

static uint64_t get_u64(rbuf *r) {
    if (r->len - r->pos < 8) { r->short_read = true; return 0; }
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v |= (uint64_t)r->p[r->pos + k] << (8 * k);
    r->pos += 8;
    return v;
}
static uint32_t get_u32(rbuf *r) {
    if (r->len - r->pos < 4) { r->short_read = true; return 0; }
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) v |= (uint32_t)r->p[r->pos + k] << (8 * k);
    r->pos += 4;
    return v;
}
static double get_f64(rbuf *r) {
    uint64_t v = get_u64(r);
    double d;
    memcpy(&d, &v, 8);
    return d;
}
static uint8_t get_u8(rbuf *r) {
    if (r->pos >= r->len) { r->short_read = true; return 0; }
    return r->p[r->pos++];
}

static gc_status bad(const char *name, const char *what) {
    return gc_fail(GC_ERR_FORMAT, "%s: policy checkpoint %s", name, what);
}

static gc_status read_flag(rbuf *r, const char *name, const char *field, bool *out) {
    uint8_t v = get_u8(r);
    if (v > 1) return gc_fail(GC_ERR_FORMAT, "%s: policy checkpoint field %s is %u, expected 0 or 1", name, field, v);
    *out = v;
    return GC_OK;
}

static gc_status check_expect(const gc_policy_params *c, const gc_policy_params *e, const char *name) {
    const char *field[5] = {"n_nodes", "feat_dim", "n_layers", "hidden", "code_dim"};
    int got[5] = {c->n_nodes, c->feat_dim, c->n_layers, c->hidden, c->code_dim};
    int want[5] = {e->n_nodes, e->feat_dim, e->n_layers, e->hidden, e->code_dim};
    for (int k = 0; k < 5; k++)
        if (got[k] != want[k])
            return gc_fail(GC_ERR_FORMAT, "%s: policy checkpoint has %s = %d, expected %d (config mismatch)", name,
                           field[k], got[k], want[k]);
    return GC_OK;
}

static gc_status parse_body(rbuf *r, const char *name, const gc_policy_params *expect, gc_policy **out) {
    gc_policy_params c;
    memset(&c, 0, sizeof c);
    int *dims[5] = {&c.n_nodes, &c.feat_dim, &c.n_layers, &c.hidden, &c.code_dim};
    for (int k = 0; k < 5; k++) {
        uint32_t v = get_u32(r);
        *dims[k] = v > 0x7fffffffu ? -1 : (int)v;
    }
    double *reals[7] = {&c.temperature, &c.gate_temperature, &c.fuse_sigma, &c.lr, &c.clip_norm, &c.baseline_beta,
                        &c.dropout};
    for (int k = 0; k < 7; k++) *reals[k] = get_f64(r);
    GC_TRY(read_flag(r, name, "use_baseline", &c.use_baseline));
    GC_TRY(read_flag(r, name, "learn_temporal", &c.learn_temporal));
    GC_TRY(read_flag(r, name, "learn_gates", &c.learn_gates));
    GC_TRY(read_flag(r, name, "learn_fuse", &c.learn_fuse));
    c.seed = get_u64(r);
    if (r->short_read) return bad(name, "body is truncated");
    if (gc_policy_check_params(&c, "config") != GC_OK) return gc_fail_wrap(GC_ERR_FORMAT, "%s: policy checkpoint", name);
    if (expect) GC_TRY(check_expect(&c, expect, name));

    int n = c.n_nodes;
    uint8_t adj[GC_MAX_AGENTS * GC_MAX_AGENTS];
    for (int k = 0; k < n * n; k++) adj[k] = get_u8(r);
    if (r->short_read) return bad(name, "body is truncated");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (adj[i * n + j] > 1 || adj[i * n + j] != adj[j * n + i] || (i == j && adj[i * n + j]))
                return bad(name, "role graph is not a symmetric 0/1 matrix with a zero diagonal");
    gc_rng rng;
    for (int k = 0; k < 4; k++) rng.s[k] = get_u64(r);
    int64_t step = (int64_t)get_u64(r);
    double baseline = get_f64(r);
    uint64_t np = get_u64(r);
    if (r->short_read) return bad(name, "body is truncated");
    if (!(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3])) return bad(name, "RNG state is all zero");
    if (step < 0) return bad(name, "step is negative");
    if (!isfinite(baseline)) return bad(name, "baseline is not finite");
    gc_layout lay = gc_policy_layout(&c);
    if (np != lay.off[GC_PG_COUNT]) return bad(name, "parameter count does not match its config");
    if ((r->len - r->pos) / 24 != np || (r->len - r->pos) % 24 != 0) return bad(name, "parameter block has the wrong size");

    gc_policy *p;
    GC_TRY(gc_policy_alloc(&c, adj, &p));
    double *arrays[3] = {p->theta, p->m, p->v};
    for (int a = 0; a < 3; a++)
        for (size_t k = 0; k < np; k++) {
            double d = get_f64(r);
            if (!isfinite(d) || (a == 2 && d < 0)) {
                gc_policy_free(p);
                return bad(name, a == 2 ? "Adam second moment is negative or not finite" : "holds a non-finite value");
            }
            arrays[a][k] = d;
        }
    p->rng = rng;
    p->step = step;
    p->baseline = baseline;
    *out = p;
    return GC_OK;
}

gc_status gc_policy_load_memory(const void *data, size_t len, const char *name, const gc_policy_params *expect,
                                gc_policy **out) {
    *out = NULL;
    const uint8_t *b = data;
    if (!name) name = "<memory>";
    if (len == 0) return bad(name, "is empty");
    if (len < 8 || memcmp(b, CKPT_MAGIC, 8) != 0) {
        if (len < 8 && memcmp(b, CKPT_MAGIC, len) == 0) return bad(name, "is truncated (no header)");
        return gc_fail(GC_ERR_FORMAT, "%s: not a gcache policy checkpoint (bad magic)", name);
    }
    if (len < CKPT_HEADER + 8) return gc_fail(GC_ERR_FORMAT, "%s: policy checkpoint is truncated (%zu bytes)", name, len);
    rbuf h = {b, len, 8, false};
    uint32_t version = get_u32(&h), flags = get_u32(&h);
    uint64_t body = get_u64(&h);
    if (version != CKPT_VERSION || flags != 0)
        return gc_fail(GC_ERR_FORMAT, "%s: policy checkpoint version %u (flags %u) unsupported, expected %u", name,
                       version, flags, CKPT_VERSION);
    if (body > len - CKPT_HEADER - 8)
        return gc_fail(GC_ERR_FORMAT, "%s: policy checkpoint is truncated (%zu bytes, header says %llu)", name, len,
                       (unsigned long long)(body + CKPT_HEADER + 8));
    if (body < len - CKPT_HEADER - 8)
        return gc_fail(GC_ERR_FORMAT, "%s: policy checkpoint has %zu trailing bytes", name,
                       (size_t)(len - CKPT_HEADER - 8 - body));
    rbuf t = {b, len, CKPT_HEADER + (size_t)body, false};
    uint64_t stored = get_u64(&t), actual = gc_fnv1a(GC_FNV_INIT, b, CKPT_HEADER + (size_t)body);
    if (stored != actual)
        return gc_fail(GC_ERR_FORMAT, "%s: policy checkpoint checksum mismatch (stored %016llx, computed %016llx)",
                       name, (unsigned long long)stored, (unsigned long long)actual);
    rbuf r = {b + CKPT_HEADER, (size_t)body, 0, false};
    return parse_body(&r, name, expect, out);
}

gc_status gc_policy_load(const char *path, const gc_policy_params *expect, gc_policy **out) {
    *out = NULL;
    char *data;
    size_t len;
    GC_TRY(gc_file_read_all(path, &data, &len));
    gc_status s = gc_policy_load_memory(data, len, path, expect, out);
    free(data);
    return s;
}
