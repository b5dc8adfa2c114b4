// The CPU backend: f32 host KV blocks and row buffers, the batched forward
// pass (the f32 reference path) and the float64 realignment, behind the
// table of backend/backend.h.
//
// All new positions of all sequences in a step are stacked into one
// activation matrix X (T, D), T = Σ n_s, so every linear layer is one
// matmul over T rows. Attention is per (sequence, KV head, chunk of rows)
// against that sequence's cache, which already holds this step's keys/values.
#include "backend/backend.h"
#include "gcache/sampler.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/qgemm.h"
#include "backend/cpu/kv_wsum.h"
#include "format/quant.h"
#include "backend/kv_q8.h"
#include "core/error.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ---- KV block storage: f32 or q8 host memory (layouts: backend/backend.h) ----

// The backend's state: what it reads of its engine, the KV format and the
// shapes its blocks have.
typedef struct cpu_state {
    gc_backend_env env;    // model, threads, RoPE frequencies, exact, the CPU switches
    gc_kv_dtype dtype;     // GC_KV_F32 or GC_KV_Q8 (env.kv_dtype)
    int64_t hd;            // head_dim: elements per q8 scale
    size_t block_elems;    // elements of every block (the q8 scales start at byte block_elems)
    // The fast matmul's repacked copies of the weights (qrepack.h), made at
    // init: layer l's matrix i (CPU_MATS order) at packed[CPU_MATS·l + i],
    // the LM head last. An entry with data NULL (float or other dtypes,
    // the exact path, gc_cpu_debug.gguf_layout) multiplies the weight in place.
    gc_qweight *packed;
    int64_t n_packed;
} cpu_state;

// The matrices of a layer, in the order of cpu_state.packed.
enum { CPU_WQ, CPU_WK, CPU_WV, CPU_WO, CPU_GATE, CPU_UP, CPU_DOWN, CPU_MATS };
static const gc_tensor *layer_mat(const gc_layer_weights *L, int i) {
    const gc_tensor *w[CPU_MATS] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
    return w[i];
}

// The q8 scales of a block: (block_elems / hd) floats after its int8 values.
static float *q8_scales(const cpu_state *st, const void *data) {
    return (float *)((unsigned char *)data + st->block_elems);
}

static gc_status q8_rows_check(const cpu_state *st, size_t off, size_t n) {
    if (off % (size_t)st->hd || n % (size_t)st->hd)
        return gc_fail(GC_ERR_INVALID_ARG, "q8 KV access [%zu, +%zu) is not whole rows of %lld elements", off, n,
                       (long long)st->hd);
    return GC_OK;
}

static gc_status kv_block_new(void *state, size_t elems, void **data) {
    const cpu_state *st = state;
    const size_t bytes = gc_kv_storage_bytes(st->dtype, elems, st->hd);
    void *d = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!d) return gc_fail(GC_ERR_OOM, "out of memory allocating a KV block");
    *data = d;
    return GC_OK;
}

static void kv_block_free(void *state, void *data) {
    (void)state;
    free(data);
}

static gc_status kv_get(void *state, const void *data, size_t off, size_t n, float *dst) {
    const cpu_state *st = state;
    if (st->dtype == GC_KV_Q8) {
        GC_TRY(q8_rows_check(st, off, n));
        gc_kv_q8_dequantize((const int8_t *)data + off, q8_scales(st, data) + off / (size_t)st->hd,
                            (int64_t)(n / (size_t)st->hd), st->hd, dst);
        return GC_OK;
    }
    memcpy(dst, (const float *)data + off, n * sizeof(float));
    return GC_OK;
}

static gc_status kv_set(void *state, void *data, size_t off, size_t n, const float *src) {
    const cpu_state *st = state;
    if (st->dtype == GC_KV_Q8) {
        GC_TRY(q8_rows_check(st, off, n));
        gc_kv_q8_quantize(src, (int64_t)(n / (size_t)st->hd), st->hd, (int8_t *)data + off,
                          q8_scales(st, data) + off / (size_t)st->hd);
        return GC_OK;
    }
    memcpy((float *)data + off, src, n * sizeof(float));
    return GC_OK;
}

static gc_status kv_copy(void *state, void *dst, size_t dst_off, const void *src, size_t src_off, size_t n) {
    const cpu_state *st = state;
    if (st->dtype == GC_KV_Q8) {
        GC_TRY(q8_rows_check(st, dst_off, n));
        GC_TRY(q8_rows_check(st, src_off, 0));
        const size_t hd = (size_t)st->hd;
        memmove((int8_t *)dst + dst_off, (const int8_t *)src + src_off, n);
        memmove(q8_scales(st, dst) + dst_off / hd, q8_scales(st, src) + src_off / hd, n / hd * sizeof(float));
        return GC_OK;
    }
    memmove((float *)dst + dst_off, (const float *)src + src_off, n * sizeof(float));
    return GC_OK;
}

static gc_status kv_read_bytes(void *state, const void *data, size_t off, size_t n, void *dst) {
    (void)state;
    memcpy(dst, (const unsigned char *)data + off, n);
    return GC_OK;
}

static gc_status kv_write_bytes(void *state, void *data, size_t off, size_t n, const void *src) {
    (void)state;
    memcpy((unsigned char *)data + off, src, n);
    return GC_OK;
}

static gc_status kv_wsum(void *state, const gc_kv_wsum_plan *plan) {
    const cpu_state *st = state;
    const gc_model_config *c = &st->env.m->cfg;
    return gc_cpu_kv_wsum(plan, st->dtype, c->n_layers, c->n_kv_heads * c->head_dim, st->hd, st->block_elems);
}

// Row idx of the K (kind 0) or V (kind 1) plane of layer l of an f32 block,
// rows of kvd floats.
static float *kv_row(const void *data, int64_t kvd, int64_t l, int kind, int64_t idx) {
    return (float *)data + gc_kv_block_elem(kvd, l, kind, idx);
}

// The same row of a q8 block: kvd int8 values, and its KV = kvd / hd scales.
static int8_t *q8_row(const void *data, int64_t kvd, int64_t l, int kind, int64_t idx) {
    return (int8_t *)data + gc_kv_block_elem(kvd, l, kind, idx);
}

static float *q8_row_scales(const cpu_state *st, const void *data, int64_t kvd, int64_t l, int kind, int64_t idx) {
    return q8_scales(st, data) + gc_kv_block_elem(kvd, l, kind, idx) / (size_t)st->hd;
}

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

// 64-byte aligned (whole cache lines), so the kernels' vector loads of a row
// split no more lines than the row's own offset makes them, whatever else the
// heap holds (the arithmetic does not depend on it: unaligned loads, fixed lanes).
static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) & ~(size_t)63); }

static gc_status alloc_bufs(step_bufs *b, const gc_model_config *c, int64_t T) {
    memset(b, 0, sizeof *b);
    int64_t D = c->hidden_size, hd = c->head_dim;
    int64_t qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, F = c->intermediate_size;
    int64_t wide = qd > D ? qd : D;
    b->x = alloc64((size_t)(T * D) * sizeof(float));
    b->xn = alloc64((size_t)(T * D) * sizeof(float));
    b->q = alloc64((size_t)(T * qd) * sizeof(float));
    b->k = alloc64((size_t)(T * kvd) * sizeof(float));
    b->v = alloc64((size_t)(T * kvd) * sizeof(float));
    b->att = alloc64((size_t)(T * wide) * sizeof(float));
    b->tmp = alloc64((size_t)(T * D) * sizeof(float));
    b->gate = alloc64((size_t)(T * F) * sizeof(float));
    b->up = alloc64((size_t)(T * F) * sizeof(float));
    b->cos_t = alloc64((size_t)(T * hd / 2) * sizeof(float));
    b->sin_t = alloc64((size_t)(T * hd / 2) * sizeof(float));
    b->pos = alloc64((size_t)T * sizeof(int64_t));
    if (!b->x || !b->xn || !b->q || !b->k || !b->v || !b->att || !b->tmp || !b->gate || !b->up ||
        !b->cos_t || !b->sin_t || !b->pos) {
        free_bufs(b);
        return gc_fail(GC_ERR_OOM, "out of memory for a step of %lld positions", (long long)T);
    }
    return GC_OK;
}

// A linear layer y (T, N) = x (T, K) · Wᵀ (+ bias): the fast matmul on the
// quantized blocks (int8 activations; on the best ISA of this CPU, or on
// AVX2 when the engine's switch says so; on P, W's repacked copy, when it
// has one) unless the engine is exact or W is a float weight, else the exact
// dequantise-then-f32 product.
static gc_status linear(const gc_backend_env *env, float *y, const float *x, int64_t T, const gc_tensor *W,
                        const gc_qweight *P, const float *bias) {
    const gc_qgemm_isa isa = env->cpu.qgemm_avx2 ? GC_QISA_AVX2 : GC_QISA_AUTO;
    if (!env->exact && P && P->data) return gc_qgemm_repacked(env->threads, y, x, T, P, bias, isa, GC_QPATH_AUTO);
    if (!env->exact && gc_qgemm_supports(W->dtype)) return gc_qgemm(env->threads, y, x, T, W, bias, isa);
    return gc_cpu_matmul(env->threads, y, x, T, W, bias);
}

// Q/K per-head RMSNorm (Qwen3): rows of hd floats.
static void head_norm(gc_pool *pool, float *x, int64_t rows, int64_t hd, const float *w, double eps) {
    gc_cpu_rmsnorm(pool, x, x, w, rows, hd, eps);
}

// Attention of one layer: one task per (sequence, KV head, chunk of up to
// ATTN_ROWS rows). A task runs all query heads of its KV head's GQA group,
// so they share each K/V row it reads; chunks spread a long prompt over the
// threads, and a sequence's chunks are numbered last first so that the ones
// with the most context are handed out first. (Which task computes a query
// changes no bits: gc_cpu_attention's results are per query.)
#define ATTN_ROWS 16
typedef struct attn_job {
    const gc_seq_step *st;
    const gc_plan_seq *seqs;  // (n_steps) each sequence's cache as spans
    const int64_t *row0;      // (n_steps) first row of each sequence in the step
    const int64_t *task0;     // (n_steps + 1) first task of each sequence
    int64_t l, H, KV, hd, qd, kvd;
    float scale;
    const cpu_state *kvs;     // the KV format (f32 rows, or q8 rows and scales)
    const float *q;           // (T, qd)
    float *att;               // (T, qd) out
    float *scratch;           // (threads, scratch_n)
    gc_attn_seg *segs;        // (threads, max_spans)
    int64_t scratch_n, max_spans;   // scratch_n = gc_cpu_attention_scratch(max_ctx)
} attn_job;

static void attn_tasks(void *ctx, int64_t t0, int64_t t1, int tid) {
    const attn_job *j = ctx;
    float *scratch = j->scratch + (size_t)tid * (size_t)j->scratch_n;
    gc_attn_seg *segs = j->segs + (size_t)tid * (size_t)j->max_spans;
    const int64_t hd = j->hd, kvd = j->kvd, qd = j->qd, l = j->l, G = j->H / j->KV;
    int s = 0;
    for (int64_t task = t0; task < t1; task++) {
        while (task >= j->task0[s + 1]) s++;
        const int64_t local = task - j->task0[s], n = j->st[s].n;
        const int64_t n_chunks = (n + ATTN_ROWS - 1) / ATTN_ROWS, c = n_chunks - 1 - local / j->KV;
        // GQA: heads [kh·G, kh·G + G) read kv head kh.
        const int64_t kh = local % j->KV, i0 = c * ATTN_ROWS, rows = n - i0 < ATTN_ROWS ? n - i0 : ATTN_ROWS;
        const int64_t r0 = j->row0[s] + i0;
        const gc_plan_seq *kv = &j->seqs[s];
        for (int i = 0; i < kv->n_spans; i++) {
            const gc_plan_span *sp = &kv->spans[i];
            segs[i] = (gc_attn_seg){
                .n = sp->n,
                .k_scale = sp->k_scale ? sp->k_scale[l] : 1.0f,
                .v_scale = sp->v_scale ? sp->v_scale[l] : 1.0f,
                .hidden = sp->gate && !sp->gate[l],
            };
            if (j->kvs->dtype == GC_KV_Q8) {
                // Head kh's values of position off.., and its scales: one per
                // position, KV apart.
                segs[i].kq = q8_row(sp->data, kvd, l, 0, sp->off) + kh * hd;
                segs[i].vq = q8_row(sp->data, kvd, l, 1, sp->off) + kh * hd;
                segs[i].kd = q8_row_scales(j->kvs, sp->data, kvd, l, 0, sp->off) + kh;
                segs[i].vd = q8_row_scales(j->kvs, sp->data, kvd, l, 1, sp->off) + kh;
                segs[i].d_stride = j->KV;
            } else {
                segs[i].k = kv_row(sp->data, kvd, l, 0, sp->off) + kh * hd;
                segs[i].v = kv_row(sp->data, kvd, l, 1, sp->off) + kh * hd;
            }
        }
        gc_cpu_attention(j->att + r0 * qd + kh * G * hd, qd, j->q + r0 * qd + kh * G * hd, qd, rows, G, kv->ctx + i0,
                         segs, kv->n_spans, kvd, hd, j->scale, scratch);
    }
}

// All layers of the model over the step's T rows: b->x holds the input
// embeddings before and the last layer's output after. This step's K/V rows
// go into the plan's slots.
static gc_status run_layers(const cpu_state *cs, const gc_step_plan *plan, step_bufs *b) {
    const gc_seq_step *st = plan->steps;
    const gc_plan_slot *slots = plan->slots;
    const int n_steps = plan->n_steps;
    const int64_t T = plan->T;
    const gc_backend_env *env = &cs->env;
    const gc_model *m = env->m;
    const gc_model_config *c = &m->cfg;
    gc_pool *tp = env->threads;
    const int64_t D = c->hidden_size, hd = c->head_dim, H = c->n_heads, KV = c->n_kv_heads;
    const int64_t qd = H * hd, kvd = KV * hd, F = c->intermediate_size, half = hd / 2;
    const bool neox = c->rope_style == GC_ROPE_NEOX;
    const int64_t max_ctx = plan->max_ctx, max_spans = plan->max_spans;
    int64_t *row0 = malloc((size_t)n_steps * sizeof *row0), *task0 = malloc((size_t)(n_steps + 1) * sizeof *task0);
    for (int s = 0, r = 0; s < n_steps && row0; r += (int)st[s].n, s++) row0[s] = r;
    if (task0) task0[0] = 0;
    for (int s = 0; s < n_steps && task0; s++) task0[s + 1] = task0[s] + KV * ((st[s].n + ATTN_ROWS - 1) / ATTN_ROWS);
    const size_t nt = (size_t)gc_pool_size(tp);
    attn_job aj = {.st = st, .seqs = plan->seqs, .row0 = row0, .task0 = task0, .H = H, .KV = KV, .hd = hd, .qd = qd,
                   .kvd = kvd, .kvs = cs, .scale = (float)(1.0 / sqrt((double)hd)), .q = b->q, .att = b->att,
                   .scratch = malloc(nt * (size_t)gc_cpu_attention_scratch(max_ctx) * sizeof(float)),
                   .segs = malloc(nt * (size_t)max_spans * sizeof(gc_attn_seg)),
                   .scratch_n = gc_cpu_attention_scratch(max_ctx), .max_spans = max_spans};
    gc_status s = GC_OK;
    if (!row0 || !task0 || !aj.scratch || !aj.segs) {
        s = gc_fail(GC_ERR_OOM, "out of memory for attention over %lld positions", (long long)max_ctx);
        goto done;
    }
    // y = x · W_i of layer l (with its repacked copy, if any)
#define MM(y, x, i, W, bias) \
    do { if ((s = linear(env, y, x, T, W, &cs->packed[CPU_MATS * l + i], bias)) != GC_OK) goto done; } while (0)
    for (int64_t l = 0; l < c->n_layers; l++) {
        const gc_layer_weights *L = &m->layers[l];
        gc_cpu_rmsnorm(tp, b->xn, b->x, L->attn_norm, T, D, c->rms_eps);
        MM(b->q, b->xn, CPU_WQ, L->wq, L->bq);
        MM(b->k, b->xn, CPU_WK, L->wk, L->bk);
        MM(b->v, b->xn, CPU_WV, L->wv, L->bv);
        if (L->q_norm) head_norm(tp, b->q, T * H, hd, L->q_norm, c->rms_eps);
        if (L->k_norm) head_norm(tp, b->k, T * KV, hd, L->k_norm, c->rms_eps);
        for (int64_t r = 0; r < T; r++) {
            for (int64_t h = 0; h < H; h++) gc_cpu_rope_head(b->q + r * qd + h * hd, b->cos_t + r * half, b->sin_t + r * half, hd, neox);
            for (int64_t h = 0; h < KV; h++) gc_cpu_rope_head(b->k + r * kvd + h * hd, b->cos_t + r * half, b->sin_t + r * half, hd, neox);
        }
        // Write this step's K/V rows into their reserved slots. Attention then
        // reads them back from there, so with q8 the step's own positions are
        // seen quantized, exactly as a later step sees them.
        for (int64_t r = 0; r < T; r++) {
            void *blk = slots[r].data;
            const int idx = slots[r].idx;
            if (cs->dtype == GC_KV_Q8) {
                gc_kv_q8_quantize(b->k + r * kvd, KV, hd, q8_row(blk, kvd, l, 0, idx), q8_row_scales(cs, blk, kvd, l, 0, idx));
                gc_kv_q8_quantize(b->v + r * kvd, KV, hd, q8_row(blk, kvd, l, 1, idx), q8_row_scales(cs, blk, kvd, l, 1, idx));
            } else {
                memcpy(kv_row(blk, kvd, l, 0, idx), b->k + r * kvd, (size_t)kvd * sizeof(float));
                memcpy(kv_row(blk, kvd, l, 1, idx), b->v + r * kvd, (size_t)kvd * sizeof(float));
            }
        }
        aj.l = l;
        gc_pool_for(tp, task0[n_steps], 1, attn_tasks, &aj);
        MM(b->tmp, b->att, CPU_WO, L->wo, NULL);
        gc_cpu_add(b->x, b->tmp, T * D);
        gc_cpu_rmsnorm(tp, b->xn, b->x, L->ffn_norm, T, D, c->rms_eps);
        MM(b->gate, b->xn, CPU_GATE, L->w_gate, NULL);
        MM(b->up, b->xn, CPU_UP, L->w_up, NULL);
        gc_cpu_swiglu(tp, b->gate, b->gate, b->up, T * F);
        MM(b->tmp, b->gate, CPU_DOWN, L->w_down, NULL);
        gc_cpu_add(b->x, b->tmp, T * D);
    }
#undef MM
done:
    free(row0);
    free(task0);
    free(aj.scratch);
    free(aj.segs);
    return s;
}

// One step of the plan on the CPU; the engine commits or rolls back.
static gc_status run_step(void *state, const gc_step_plan *plan) {
    const cpu_state *cs = state;
    const gc_backend_env *env = &cs->env;
    gc_seq_step *st = plan->steps;
    const int n_steps = plan->n_steps;
    const int64_t T = plan->T;
    const gc_model *m = env->m;
    const gc_model_config *c = &m->cfg;
    step_bufs b;
    GC_TRY(alloc_bufs(&b, c, T));
    const int64_t D = c->hidden_size, half = c->head_dim / 2;

    // Inputs and positions.
    const size_t erow = m->tok_embd->nbytes / (size_t)c->vocab_size;
    for (int s = 0, r = 0; s < n_steps; s++) {
        for (int64_t i = 0; i < st[s].n; i++, r++) {
            float *xr = b.x + r * D;
            if (st[s].ids)
                gc_dequant_row(m->tok_embd->dtype, (const uint8_t *)m->tok_embd->data + (size_t)st[s].ids[i] * erow, xr, D);
            else if (st[s].embeds)
                memcpy(xr, st[s].embeds + i * D, (size_t)D * sizeof(float));
            else   // rows held by the engine are host memory here
                memcpy(xr, st[s].in_rows->data + (st[s].in_row + i) * D, (size_t)D * sizeof(float));
            b.pos[r] = plan->seqs[s].ctx + i;
        }
    }
    // RoPE tables; HF computes angle = pos * inv_freq in f32, then cos/sin.
    for (int64_t r = 0; r < T; r++)
        for (int64_t i = 0; i < half; i++) {
            float ang = (float)b.pos[r] * env->inv_freq[i];
            b.cos_t[r * half + i] = (float)cos((double)ang);
            b.sin_t[r * half + i] = (float)sin((double)ang);
        }

    gc_status status = run_layers(cs, plan, &b);
    if (status == GC_OK) gc_cpu_rmsnorm(env->threads, b.xn, b.x, m->final_norm, T, D, c->rms_eps);

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
            status = linear(env, lg, rows, n_out, m->lm_head, &cs->packed[cs->n_packed - 1], NULL);
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
        int64_t first = st[s].hidden_all ? 0 : st[s].n - 1;
        const size_t bytes = (size_t)((st[s].n - first) * D) * sizeof(float);
        if (st[s].hidden) memcpy(st[s].hidden, b.xn + (r + first) * D, bytes);
        if (st[s].hidden_rows) memcpy(st[s].hidden_rows->data + st[s].hidden_row * D, b.xn + (r + first) * D, bytes);
    }
    free_bufs(&b);
    return status;
}

// ---- row buffers: f32 host memory ----

static gc_status rows_new(void *state, size_t n, float **data) {
    (void)state;
    *data = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
    return *data ? GC_OK : gc_fail(GC_ERR_OOM, "out of memory for %zu floats of rows", n);
}

static void rows_free(void *state, float *data) {
    (void)state;
    free(data);
}

static gc_status rows_get(void *state, const float *src, size_t n, float *dst) {
    (void)state;
    memcpy(dst, src, n * sizeof(float));
    return GC_OK;
}

static gc_status rows_set(void *state, float *dst, const float *src, size_t n) {
    (void)state;
    memcpy(dst, src, n * sizeof(float));
    return GC_OK;
}

// The realignment in float64, row by row (gc_realign_row, the reference);
// in place through one row of scratch.
static gc_status realign_rows(void *state, uint64_t key, const double *wa_t, int64_t D, double target_norm,
                              const float *src, int64_t n, float *dst) {
    (void)state; (void)key;
    float *row = NULL;
    if (src == dst && !(row = malloc((size_t)D * sizeof(float)))) return gc_fail(GC_ERR_OOM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        gc_realign_row(wa_t, D, target_norm, src + i * D, row ? row : dst + i * D);
        if (row) memcpy(dst + i * D, row, (size_t)D * sizeof(float));
    }
    free(row);
    return GC_OK;
}

static void release(void *state);

// The state: the engine's description (the forward pass works on its model
// and threads), the KV format, and the fast matmul's repacked weights.
static gc_status init(const gc_backend_env *env, void **state) {
    *state = NULL;
    const gc_model_config *c = &env->m->cfg;
    if (env->kv_dtype != GC_KV_F32 && env->kv_dtype != GC_KV_Q8)
        return gc_fail(GC_ERR_UNSUPPORTED, "the CPU stores the KV cache as f32 or q8, not %s",
                       gc_kv_dtype_name(env->kv_dtype));
    cpu_state *st = calloc(1, sizeof *st);
    if (!st) return gc_fail(GC_ERR_OOM, "out of memory");
    st->env = *env;
    st->dtype = env->kv_dtype;
    st->hd = c->head_dim;
    st->block_elems = (size_t)c->n_layers * 2 * GC_KV_BLOCK * (size_t)(c->n_kv_heads * c->head_dim);
    st->n_packed = c->n_layers * CPU_MATS + 1;
    if (!(st->packed = calloc((size_t)st->n_packed, sizeof *st->packed))) {
        free(st);
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    *state = st;
    if (env->exact || env->cpu.gguf_layout) return GC_OK;
    for (int64_t i = 0; i < st->n_packed; i++) {
        const gc_tensor *W = i + 1 < st->n_packed ? layer_mat(&env->m->layers[i / CPU_MATS], (int)(i % CPU_MATS))
                                                  : env->m->lm_head;
        if (!gc_qweight_supports(W->dtype)) continue;
        gc_status s = gc_qweight_repack(env->threads, W, &st->packed[i]);
        if (s != GC_OK) {
            release(st);
            *state = NULL;
            return s;
        }
    }
    return GC_OK;
}

static void release(void *state) {
    cpu_state *st = state;
    if (!st) return;
    for (int64_t i = 0; i < st->n_packed && st->packed; i++) gc_qweight_free(&st->packed[i]);
    free(st->packed);
    free(st);
}

const gc_backend gc_backend_cpu = {
    .name = "cpu",
    .device = GC_DEVICE_CPU,
    .kv_native = GC_KV_F32,
    .prompt_rows = 512,   // the scheduler's default (GC_SCHED_PREFILL_ROWS)
    .init = init,
    .free = release,
    .kv_block_new = kv_block_new,
    .kv_block_free = kv_block_free,
    .kv_get = kv_get,
    .kv_set = kv_set,
    .kv_copy = kv_copy,
    .kv_read_bytes = kv_read_bytes,
    .kv_write_bytes = kv_write_bytes,
    .kv_wsum = kv_wsum,
    .run_step = run_step,
    .rows_new = rows_new,
    .rows_free = rows_free,
    .rows_get = rows_get,
    .rows_set = rows_set,
    .realign_rows = realign_rows,
};
