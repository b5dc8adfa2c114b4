// The batched forward pass on the CPU (f32 reference path).
//
// All new positions of all sequences in a step are stacked into one
// activation matrix X (T, D), T = Σ n_s, so every linear layer is one
// matmul over T rows. Attention is per (sequence, head) against that
// sequence's cache, which already holds this step's keys/values.
#include "engine/engine.h"
#include "gcache/sampler.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/qgemm.h"
#include "backend/cuda/cuda_backend.h"
#include "format/quant.h"
#include "core/error.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

gc_engine_params gc_engine_default_params(void) {
    gc_engine_params p = {0};
    return p;
}

gc_status gc_engine_new(const gc_model *m, const gc_engine_params *p, gc_engine **out) {
    gc_engine *e = calloc(1, sizeof *e);
    if (!e) return gc_fail(GC_ERR_OOM, "out of memory");
    e->m = m;
    e->p = p ? *p : gc_engine_default_params();
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
    st = gc_kv_pool_init(&e->pool, m->cfg.n_layers, m->cfg.n_kv_heads * hd, e->p.kv_pool_bytes);
    if (st == GC_OK && e->p.device != GC_DEVICE_CPU) st = gc_cuda_engine_init(e);   // weights + KV blocks to the GPU
    if (st != GC_OK) { gc_pool_free(e->threads); free(e->inv_freq); free(e); return st; }
    *out = e;
    return GC_OK;
}

void gc_engine_free(gc_engine *e) {
    if (!e) return;
    gc_kv_pool_destroy(&e->pool);
    gc_cuda_engine_free(e);
    gc_pool_free(e->threads);
    free(e->inv_freq);
    free(e);
}

const gc_model *gc_engine_model(const gc_engine *e) { return e->m; }

int gc_engine_n_threads(const gc_engine *e) { return gc_pool_size(e->threads); }

// Scratch for one step; every buffer is (T, width).
typedef struct step_bufs {
    float *x, *xn, *q, *k, *v, *att, *tmp, *gate, *up;
    float *cos_t, *sin_t;     // (T, hd/2)
    int64_t *pos;             // (T) absolute position of each row
} step_bufs;

static void free_bufs(step_bufs *b) {
    free(b->x); free(b->xn); free(b->q); free(b->k); free(b->v); free(b->att);
    free(b->tmp); free(b->gate); free(b->up); free(b->cos_t); free(b->sin_t); free(b->pos);
}

gc_device gc_engine_device(const gc_engine *e) { return e->cuda ? GC_DEVICE_CUDA : GC_DEVICE_CPU; }

int64_t gc_engine_kv_live_blocks(const gc_engine *e) { return e->pool.live_blocks; }

static gc_status alloc_bufs(step_bufs *b, const gc_model_config *c, int64_t T) {
    memset(b, 0, sizeof *b);
    int64_t D = c->hidden_size, hd = c->head_dim;
    int64_t qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, F = c->intermediate_size;
    int64_t wide = qd > D ? qd : D;
    b->x = malloc((size_t)(T * D) * sizeof(float));
    b->xn = malloc((size_t)(T * D) * sizeof(float));
    b->q = malloc((size_t)(T * qd) * sizeof(float));
    b->k = malloc((size_t)(T * kvd) * sizeof(float));
    b->v = malloc((size_t)(T * kvd) * sizeof(float));
    b->att = malloc((size_t)(T * wide) * sizeof(float));
    b->tmp = malloc((size_t)(T * D) * sizeof(float));
    b->gate = malloc((size_t)(T * F) * sizeof(float));
    b->up = malloc((size_t)(T * F) * sizeof(float));
    b->cos_t = malloc((size_t)(T * hd / 2) * sizeof(float));
    b->sin_t = malloc((size_t)(T * hd / 2) * sizeof(float));
    b->pos = malloc((size_t)T * sizeof(int64_t));
    if (!b->x || !b->xn || !b->q || !b->k || !b->v || !b->att || !b->tmp || !b->gate || !b->up ||
        !b->cos_t || !b->sin_t || !b->pos) {
        free_bufs(b);
        return gc_fail(GC_ERR_OOM, "out of memory for a step of %lld positions", (long long)T);
    }
    return GC_OK;
}

gc_status gc_engine_validate_steps(const gc_engine *e, const gc_seq_step *st, int n_steps, int64_t *T_out) {
    const gc_model_config *c = &e->m->cfg;
    int64_t T = 0;
    for (int s = 0; s < n_steps; s++) {
        const gc_seq_step *q = &st[s];
        if (!q->kv || q->kv->e != e) return gc_fail(GC_ERR_INVALID_ARG, "step %d: cache missing or from another engine", s);
        if (q->n < 1) return gc_fail(GC_ERR_INVALID_ARG, "step %d: no positions", s);
        if ((q->ids == NULL) == (q->embeds == NULL))
            return gc_fail(GC_ERR_INVALID_ARG, "step %d: give exactly one of ids / embeds", s);
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

// A linear layer y (T, N) = x (T, K) · Wᵀ (+ bias): the fast matmul on the
// quantized blocks (int8 activations) unless the engine is exact or W is a
// float weight, else the exact dequantise-then-f32 product.
static gc_status linear(const gc_engine *e, float *y, const float *x, int64_t T, const gc_tensor *W, const float *bias) {
    if (!e->p.exact && gc_qgemm_supports(W->dtype)) return gc_qgemm(e->threads, y, x, T, W, bias, GC_QISA_AUTO);
    return gc_cpu_matmul(e->threads, y, x, T, W, bias);
}

// Q/K per-head RMSNorm (Qwen3): rows of hd floats.
static void head_norm(gc_pool *pool, float *x, int64_t rows, int64_t hd, const float *w, double eps) {
    gc_cpu_rmsnorm(pool, x, x, w, rows, hd, eps);
}

// Attention of one layer: one task per (sequence, head).
typedef struct attn_job {
    const gc_engine *e;
    const gc_seq_step *st;
    const int64_t *row0;      // (n_steps) first row of each sequence in the step
    int64_t l, H, KV, hd, qd, kvd;
    float scale;
    const float *q;           // (T, qd)
    float *att;               // (T, qd) out
    float *scratch;           // (threads, max_ctx)
    gc_attn_seg *segs;        // (threads, max_spans)
    int64_t max_ctx, max_spans;
} attn_job;

static void attn_tasks(void *ctx, int64_t t0, int64_t t1, int tid) {
    const attn_job *j = ctx;
    const gc_kv_pool *pool = &j->e->pool;
    float *scratch = j->scratch + (size_t)tid * (size_t)j->max_ctx;
    gc_attn_seg *segs = j->segs + (size_t)tid * (size_t)j->max_spans;
    const int64_t hd = j->hd, kvd = j->kvd, qd = j->qd, l = j->l;
    for (int64_t task = t0; task < t1; task++) {
        int s = (int)(task / j->H);
        // GQA maps head h to kv head h / (H/KV).
        int64_t h = task % j->H, kh = h / (j->H / j->KV), r0 = j->row0[s];
        const gc_kv *kv = j->st[s].kv;
        for (int i = 0; i < kv->n_spans; i++) {
            const gc_kv_span *sp = &kv->spans[i];
            segs[i] = (gc_attn_seg){
                .k = gc_kv_block_k(pool, sp->b, l) + sp->off * kvd + kh * hd,
                .v = gc_kv_block_v(pool, sp->b, l) + sp->off * kvd + kh * hd,
                .n = sp->n,
                .k_scale = sp->k_scale ? sp->k_scale[l] : 1.0f,
                .v_scale = sp->v_scale ? sp->v_scale[l] : 1.0f,
                .hidden = sp->gate && !sp->gate[l],
            };
        }
        gc_cpu_attention(j->att + r0 * qd + h * hd, qd, j->q + r0 * qd + h * hd, qd, j->st[s].n, kv->len, segs,
                         kv->n_spans, kvd, hd, j->scale, scratch);
    }
}

// All layers of the model over the step's T rows: b->x holds the input
// embeddings before and the last layer's output after. This step's K/V rows
// go into `slots`.
static gc_status run_layers(gc_engine *e, const gc_seq_step *st, int n_steps, int64_t T, step_bufs *b,
                            const gc_kv_slot *slots) {
    const gc_model *m = e->m;
    const gc_model_config *c = &m->cfg;
    gc_pool *tp = e->threads;
    const int64_t D = c->hidden_size, hd = c->head_dim, H = c->n_heads, KV = c->n_kv_heads;
    const int64_t qd = H * hd, kvd = KV * hd, F = c->intermediate_size, half = hd / 2;
    const bool neox = c->rope_style == GC_ROPE_NEOX;
    int64_t max_ctx = 0, max_spans = 1;
    int64_t *row0 = malloc((size_t)n_steps * sizeof *row0);
    for (int s = 0, r = 0; s < n_steps; r += (int)st[s].n, s++) {
        if (row0) row0[s] = r;
        if (st[s].kv->len + st[s].n > max_ctx) max_ctx = st[s].kv->len + st[s].n;
        if (st[s].kv->n_spans > max_spans) max_spans = st[s].kv->n_spans;
    }
    const size_t nt = (size_t)gc_pool_size(tp);
    attn_job aj = {.e = e, .st = st, .row0 = row0, .H = H, .KV = KV, .hd = hd, .qd = qd, .kvd = kvd,
                   .scale = (float)(1.0 / sqrt((double)hd)), .q = b->q, .att = b->att,
                   .scratch = malloc(nt * (size_t)max_ctx * sizeof(float)),
                   .segs = malloc(nt * (size_t)max_spans * sizeof(gc_attn_seg)), .max_ctx = max_ctx, .max_spans = max_spans};
    gc_status s = GC_OK;
    if (!row0 || !aj.scratch || !aj.segs) {
        s = gc_fail(GC_ERR_OOM, "out of memory for attention over %lld positions", (long long)max_ctx);
        goto done;
    }
#define MM(...) do { if ((s = linear(e, __VA_ARGS__)) != GC_OK) goto done; } while (0)
    for (int64_t l = 0; l < c->n_layers; l++) {
        const gc_layer_weights *L = &m->layers[l];
        gc_cpu_rmsnorm(tp, b->xn, b->x, L->attn_norm, T, D, c->rms_eps);
        MM(b->q, b->xn, T, L->wq, L->bq);
        MM(b->k, b->xn, T, L->wk, L->bk);
        MM(b->v, b->xn, T, L->wv, L->bv);
        if (L->q_norm) head_norm(tp, b->q, T * H, hd, L->q_norm, c->rms_eps);
        if (L->k_norm) head_norm(tp, b->k, T * KV, hd, L->k_norm, c->rms_eps);
        for (int64_t r = 0; r < T; r++) {
            for (int64_t h = 0; h < H; h++) gc_cpu_rope_head(b->q + r * qd + h * hd, b->cos_t + r * half, b->sin_t + r * half, hd, neox);
            for (int64_t h = 0; h < KV; h++) gc_cpu_rope_head(b->k + r * kvd + h * hd, b->cos_t + r * half, b->sin_t + r * half, hd, neox);
        }
        // Write this step's K/V rows into their reserved slots.
        for (int64_t r = 0; r < T; r++) {
            memcpy(gc_kv_block_k(&e->pool, slots[r].b, l) + slots[r].idx * kvd, b->k + r * kvd, (size_t)kvd * sizeof(float));
            memcpy(gc_kv_block_v(&e->pool, slots[r].b, l) + slots[r].idx * kvd, b->v + r * kvd, (size_t)kvd * sizeof(float));
        }
        aj.l = l;
        gc_pool_for(tp, (int64_t)n_steps * H, 1, attn_tasks, &aj);
        MM(b->tmp, b->att, T, L->wo, NULL);
        gc_cpu_add(b->x, b->tmp, T * D);
        gc_cpu_rmsnorm(tp, b->xn, b->x, L->ffn_norm, T, D, c->rms_eps);
        MM(b->gate, b->xn, T, L->w_gate, NULL);
        MM(b->up, b->xn, T, L->w_up, NULL);
        gc_cpu_swiglu(tp, b->gate, b->gate, b->up, T * F);
        MM(b->tmp, b->gate, T, L->w_down, NULL);
        gc_cpu_add(b->x, b->tmp, T * D);
    }
#undef MM
done:
    free(row0);
    free(aj.scratch);
    free(aj.segs);
    return s;
}

gc_status gc_engine_forward(gc_engine *e, gc_seq_step *st, int n_steps) {
    if (e->cuda) return gc_cuda_forward(e, st, n_steps);
    const gc_model *m = e->m;
    const gc_model_config *c = &m->cfg;
    int64_t T = 0;
    GC_TRY(gc_engine_validate_steps(e, st, n_steps, &T));
    step_bufs b;
    GC_TRY(alloc_bufs(&b, c, T));
    // Slots for the new positions of every sequence (rolled back on failure).
    gc_kv_slot *slots = malloc((size_t)T * sizeof *slots);
    if (!slots) { free_bufs(&b); return gc_fail(GC_ERR_OOM, "out of memory"); }
    for (int s = 0, r = 0; s < n_steps; r += (int)st[s].n, s++) {
        gc_status rs = gc_kv_reserve_append(st[s].kv, st[s].n, slots + r);
        if (rs != GC_OK) {
            for (int j = 0; j < s; j++) gc_kv_rollback(st[j].kv);
            free(slots);
            free_bufs(&b);
            return rs;
        }
    }
    const int64_t D = c->hidden_size, half = c->head_dim / 2;

    // Inputs and positions.
    const size_t erow = m->tok_embd->nbytes / (size_t)c->vocab_size;
    for (int s = 0, r = 0; s < n_steps; s++) {
        for (int64_t i = 0; i < st[s].n; i++, r++) {
            float *xr = b.x + r * D;
            if (st[s].ids)
                gc_dequant_row(m->tok_embd->dtype, (const uint8_t *)m->tok_embd->data + (size_t)st[s].ids[i] * erow, xr, D);
            else
                memcpy(xr, st[s].embeds + i * D, (size_t)D * sizeof(float));
            b.pos[r] = st[s].kv->len + i;
        }
    }
    // RoPE tables; HF computes angle = pos * inv_freq in f32, then cos/sin.
    for (int64_t r = 0; r < T; r++)
        for (int64_t i = 0; i < half; i++) {
            float ang = (float)b.pos[r] * e->inv_freq[i];
            b.cos_t[r * half + i] = (float)cos((double)ang);
            b.sin_t[r * half + i] = (float)sin((double)ang);
        }

    gc_status status = run_layers(e, st, n_steps, T, &b, slots);
    if (status == GC_OK) gc_cpu_rmsnorm(e->threads, b.xn, b.x, m->final_norm, T, D, c->rms_eps);

    // Outputs: gather the rows whose logits are wanted, one matmul for all.
    int64_t n_out = 0;
    // A step needs its rows' logits when it asks for them or for a token.
    for (int s = 0; s < n_steps; s++)
        if (st[s].logits || st[s].argmax) n_out += st[s].logits && st[s].logits_all ? st[s].n : 1;
    if (status == GC_OK && n_out > 0) {
        float *rows = malloc((size_t)(n_out * D) * sizeof(float));
        float *lg = malloc((size_t)(n_out * c->vocab_size) * sizeof(float));
        if (!rows || !lg) {
            status = gc_fail(GC_ERR_OOM, "out of memory for logits");
        } else {
            int64_t k = 0, r = 0;
            for (int s = 0; s < n_steps; r += st[s].n, s++) {
                if (!st[s].logits && !st[s].argmax) continue;
                int64_t first = st[s].logits && st[s].logits_all ? 0 : st[s].n - 1;
                for (int64_t i = first; i < st[s].n; i++, k++) memcpy(rows + k * D, b.xn + (r + i) * D, (size_t)D * sizeof(float));
            }
            status = linear(e, lg, rows, n_out, m->lm_head, NULL);
            k = 0;
            for (int s = 0; s < n_steps && status == GC_OK; s++) {
                if (!st[s].logits && !st[s].argmax) continue;
                int64_t cnt = st[s].logits && st[s].logits_all ? st[s].n : 1;
                if (st[s].logits)
                    memcpy(st[s].logits, lg + k * c->vocab_size, (size_t)(cnt * c->vocab_size) * sizeof(float));
                if (st[s].argmax) {
                    const gc_token_draw greedy = {0};
                    *st[s].argmax = gc_token_draw_row(lg + (k + cnt - 1) * c->vocab_size, c->vocab_size,
                                                      st[s].draw ? st[s].draw : &greedy);
                }
                k += cnt;
            }
        }
        free(rows);
        free(lg);
    }
    for (int s = 0, r = 0; s < n_steps && status == GC_OK; r += (int)st[s].n, s++) {
        if (!st[s].hidden) continue;
        int64_t first = st[s].hidden_all ? 0 : st[s].n - 1;
        memcpy(st[s].hidden, b.xn + (r + first) * D, (size_t)((st[s].n - first) * D) * sizeof(float));
    }
    for (int s = 0; s < n_steps; s++) {
        if (status == GC_OK) gc_kv_commit(st[s].kv, st[s].n);
        else gc_kv_rollback(st[s].kv);
    }
    free(slots);
    free_bufs(&b);
    return status;
}
