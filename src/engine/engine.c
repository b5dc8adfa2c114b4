// The engine: its lifecycle, and one step as every backend runs it.
//
// gc_engine_forward validates the batch, reserves a KV slot for every new
// position (the caches' span lists grow, their lengths do not), hands the
// backend one step plan (backend/backend.h), then commits every cache, or
// rolls every one back when the backend failed: the caches change only
// here, the same way on every device.
#include "engine/engine.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

gc_engine_params gc_engine_default_params(void) {
    gc_engine_params p = {0};
    p.cpu = (gc_cpu_debug){.qgemm_avx2 = false, .gguf_layout = false};
    p.cuda = (gc_cuda_debug){.graphs = true, .decode_attention = true, .pdl_max_t = 1, .attn_blocks_per_sm = 2,
                             .skinny_max_t = 16, .profile = false, .batch_invariant = false};
    return p;
}

gc_status gc_engine_new(const gc_model *m, const gc_engine_params *p, gc_engine **out) {
    gc_engine *e = calloc(1, sizeof *e);
    if (!e) return gc_fail(GC_ERR_OOM, "out of memory");
    e->m = m;
    e->p = p ? *p : gc_engine_default_params();
    if (e->p.device != GC_DEVICE_CPU && e->p.device != GC_DEVICE_CUDA) {
        const int device = e->p.device;
        free(e);
        return gc_fail(GC_ERR_INVALID_ARG, "unknown engine device %d", device);
    }
    e->be = e->p.device == GC_DEVICE_CPU ? &gc_backend_cpu : &gc_backend_cuda;
    // The KV format: the device's own unless asked otherwise; a device stores
    // its own format and q8 (the backend's init reads the resolved value).
    if (e->p.kv_dtype == GC_KV_DEFAULT) e->p.kv_dtype = e->be->kv_native;
    if (e->p.kv_dtype != (int)e->be->kv_native && e->p.kv_dtype != GC_KV_Q8) {
        gc_status bad = e->p.kv_dtype >= GC_KV_F32 && e->p.kv_dtype <= GC_KV_Q8
                            ? gc_fail(GC_ERR_UNSUPPORTED, "the %s device stores the KV cache as %s or q8, not %s",
                                      gc_device_name(e->be->device), gc_kv_dtype_name(e->be->kv_native),
                                      gc_kv_dtype_name((gc_kv_dtype)e->p.kv_dtype))
                            : gc_fail(GC_ERR_INVALID_ARG, "unknown KV format %d", e->p.kv_dtype);
        free(e);
        return bad;
    }
    int64_t hd = m->cfg.head_dim;
    e->inv_freq = malloc((size_t)(hd / 2) * sizeof(float));
    if (!e->inv_freq) { free(e); return gc_fail(GC_ERR_OOM, "out of memory"); }
    // HF: inv_freq = 1 / base ** (arange(0, hd, 2).float() / hd), all in f32.
    for (int64_t i = 0; i < hd / 2; i++) {
        float expo = (float)(2 * i) / (float)hd;
        e->inv_freq[i] = 1.0f / (float)pow(m->cfg.rope_theta, (double)expo);
    }
    gc_status st = gc_pool_new(e->p.n_threads, &e->threads);
    if (st != GC_OK) { free(e->inv_freq); free(e); return st; }
    const gc_backend_env env = {.m = m, .kv_dtype = (gc_kv_dtype)e->p.kv_dtype, .exact = e->p.exact,
                                .cpu = e->p.cpu, .cuda = e->p.cuda, .inv_freq = e->inv_freq, .threads = e->threads};
    st = e->be->init(&env, &e->be_state);   // CUDA: weights to the GPU
    if (st == GC_OK) {
        st = gc_kv_pool_init(&e->pool, m->cfg.n_layers, m->cfg.n_kv_heads, hd, (gc_kv_dtype)e->p.kv_dtype,
                             e->p.kv_pool_bytes, e->be, e->be_state);
        if (st != GC_OK) e->be->free(e->be_state);
    }
    if (st != GC_OK) { gc_pool_free(e->threads); free(e->inv_freq); free(e); return st; }
    *out = e;
    return GC_OK;
}

void gc_engine_free(gc_engine *e) {
    if (!e) return;
    gc_rows_free(e->scratch);
    gc_kv_pool_destroy(&e->pool);
    e->be->free(e->be_state);
    gc_pool_free(e->threads);
    free(e->inv_freq);
    free(e);
}

const gc_model *gc_engine_model(const gc_engine *e) { return e->m; }

int gc_engine_n_threads(const gc_engine *e) { return gc_pool_size(e->threads); }

gc_device gc_engine_device(const gc_engine *e) { return e->be->device; }

int gc_engine_prompt_rows(const gc_engine *e) { return e->be->prompt_rows; }

const char *gc_device_name(gc_device d) {
    switch (d) {
    case GC_DEVICE_CPU: return "cpu";
    case GC_DEVICE_CUDA: return "cuda";
    }
    return "unknown";
}

int64_t gc_engine_kv_live_blocks(const gc_engine *e) { return e->pool.live_blocks; }

// Rows [first, first+n) of a step's row buffer (NULL: not used) exist and
// belong to this engine.
static gc_status check_rows(const gc_engine *e, const gc_rows *r, int64_t first, int64_t n, int s, const char *what) {
    if (!r) return GC_OK;
    if (r->e != e) return gc_fail(GC_ERR_INVALID_ARG, "step %d: %s rows of another engine", s, what);
    if (first < 0 || first > r->n - n)
        return gc_fail(GC_ERR_RANGE, "step %d: %s rows [%lld, %lld) outside a buffer of %lld", s, what,
                       (long long)first, (long long)(first + n), (long long)r->n);
    return GC_OK;
}

gc_kv_dtype gc_engine_kv_dtype(const gc_engine *e) { return (gc_kv_dtype)e->p.kv_dtype; }

static const char *const kv_dtype_names[] = {"default", "f32", "bf16", "q8"};

const char *gc_kv_dtype_name(gc_kv_dtype t) {
    return (int)t >= 0 && (int)t < 4 ? kv_dtype_names[t] : "unknown";
}

bool gc_kv_dtype_parse(const char *name, gc_kv_dtype *out) {
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, kv_dtype_names[i]) == 0) {
            *out = (gc_kv_dtype)i;
            return true;
        }
    return false;
}

gc_status gc_engine_validate_steps(const gc_engine *e, const gc_seq_step *st, int n_steps, int64_t *T_out) {
    const gc_model_config *c = &e->m->cfg;
    int64_t T = 0;
    for (int s = 0; s < n_steps; s++) {
        const gc_seq_step *q = &st[s];
        if (!q->kv || q->kv->e != e) return gc_fail(GC_ERR_INVALID_ARG, "step %d: cache missing or from another engine", s);
        if (q->n < 1) return gc_fail(GC_ERR_INVALID_ARG, "step %d: no positions", s);
        if ((q->ids != NULL) + (q->embeds != NULL) + (q->in_rows != NULL) != 1)
            return gc_fail(GC_ERR_INVALID_ARG, "step %d: give exactly one of ids / embeds / in_rows", s);
        GC_TRY(check_rows(e, q->in_rows, q->in_row, q->n, s, "input"));
        GC_TRY(check_rows(e, q->hidden_rows, q->hidden_row, q->hidden_all ? q->n : 1, s, "hidden"));
        if (q->kv->pending) return gc_fail(GC_ERR_INVALID_ARG, "step %d: cache has an open reservation", s);
        if (q->kv->len + q->n > c->max_position)
            return gc_fail(GC_ERR_RANGE, "sequence of %lld positions exceeds the model context of %lld",
                           (long long)(q->kv->len + q->n), (long long)c->max_position);
        for (int t = 0; q->ids && t < q->n; t++)
            if (q->ids[t] < 0 || q->ids[t] >= c->vocab_size)
                return gc_fail(GC_ERR_INVALID_ARG, "token id %d out of range [0, %lld)", q->ids[t],
                               (long long)c->vocab_size);
        for (int j = 0; j < s; j++)
            if (st[j].kv == q->kv) return gc_fail(GC_ERR_INVALID_ARG, "steps %d and %d share one cache", j, s);
        T += q->n;
    }
    if (T > INT32_MAX / 2) return gc_fail(GC_ERR_RANGE, "step of %lld positions is too large", (long long)T);
    *T_out = T;
    return GC_OK;
}

// The plain view of the reserved caches a backend runs on: each sequence's
// spans (new positions included) and each new row's slot. One allocation,
// freed by the caller (*mem).
static gc_status build_plan(gc_seq_step *st, int n_steps, int64_t T, const gc_kv_slot *ks, gc_step_plan *plan,
                            void **mem) {
    size_t n_spans = 0;
    for (int s = 0; s < n_steps; s++) n_spans += (size_t)st[s].kv->n_spans;
    const size_t seq_b = (size_t)(n_steps > 0 ? n_steps : 1) * sizeof(gc_plan_seq);
    const size_t span_b = (n_spans > 0 ? n_spans : 1) * sizeof(gc_plan_span);
    unsigned char *m = malloc(seq_b + span_b + (size_t)(T > 0 ? T : 1) * sizeof(gc_plan_slot));
    if (!m) return gc_fail(GC_ERR_OOM, "out of memory for a step plan");
    gc_plan_seq *seqs = (gc_plan_seq *)m;
    gc_plan_span *spans = (gc_plan_span *)(m + seq_b);
    gc_plan_slot *slots = (gc_plan_slot *)(m + seq_b + span_b);
    *plan = (gc_step_plan){.steps = st, .seqs = seqs, .n_steps = n_steps, .T = T, .slots = slots, .max_spans = 1};
    for (int s = 0; s < n_steps; s++) {
        const gc_kv *kv = st[s].kv;
        seqs[s] = (gc_plan_seq){.ctx = kv->len, .n_spans = kv->n_spans, .spans = spans};
        for (int i = 0; i < kv->n_spans; i++) {
            const gc_kv_span *x = &kv->spans[i];
            spans[i] = (gc_plan_span){.data = x->b->data, .off = x->off, .n = x->n, .k_scale = x->k_scale,
                                      .v_scale = x->v_scale, .gate = x->gate};
        }
        spans += kv->n_spans;
        if (kv->len + st[s].n > plan->max_ctx) plan->max_ctx = kv->len + st[s].n;
        if (kv->n_spans > plan->max_spans) plan->max_spans = kv->n_spans;
    }
    for (int64_t r = 0; r < T; r++) slots[r] = (gc_plan_slot){.data = ks[r].b->data, .idx = ks[r].idx};
    *mem = m;
    return GC_OK;
}

gc_status gc_engine_forward(gc_engine *e, gc_seq_step *st, int n_steps) {
    int64_t T = 0;
    GC_TRY(gc_engine_validate_steps(e, st, n_steps, &T));
    // Slots for the new positions of every sequence (rolled back on failure).
    gc_kv_slot *slots = malloc((size_t)(T > 0 ? T : 1) * sizeof *slots);
    if (!slots) return gc_fail(GC_ERR_OOM, "out of memory");
    for (int s = 0, r = 0; s < n_steps; r += (int)st[s].n, s++) {
        gc_status rs = gc_kv_reserve_append(st[s].kv, st[s].n, slots + r);
        if (rs != GC_OK) {
            for (int j = 0; j < s; j++) gc_kv_rollback(st[j].kv);
            free(slots);
            return rs;
        }
    }
    gc_step_plan plan;
    void *mem = NULL;
    gc_status status = build_plan(st, n_steps, T, slots, &plan, &mem);
    if (status == GC_OK) status = e->be->run_step(e->be_state, &plan);
    for (int s = 0; s < n_steps; s++) {
        if (status == GC_OK) gc_kv_commit(st[s].kv, st[s].n);
        else gc_kv_rollback(st[s].kv);
    }
    free(mem);
    free(slots);
    return status;
}
