// The batched forward pass on the device.
//
// Same contract and step structure as the CPU path (src/backend/cpu/cpu_forward.c):
// all new positions of all sequences are rows of one (T, ·) activation
// matrix. Per step the host builds one metadata buffer (token ids,
// positions, KV slots, span tables, attention work items), copies it over
// once, and launches embed → L × (norm, QKV GEMM, q/k epilogue + KV write,
// paged attention, O GEMM, norm, gate/up GEMM, SwiGLU, down GEMM) → final
// norm → logits GEMM for the requested rows. Decode steps (every sequence
// adds one position) replay a captured CUDA graph of the whole layer stack.
#ifdef GC_HAVE_CUDA
#include "backend/cuda/cuda_internal.h"
#include "gcache/sampler.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---------------------------------------------------------------- buffers

static void free_step(gc_cuda_ctx *c) {
    cudaFree(c->x); cudaFree(c->qkv); cudaFree(c->gu); cudaFree(c->cos_t); cudaFree(c->sin_t);
    cudaFree(c->xn); cudaFree(c->q); cudaFree(c->att); cudaFree(c->act); cudaFree(c->rows_bf); cudaFree(c->hid);
    c->x = c->qkv = c->gu = c->cos_t = c->sin_t = c->hid = NULL;
    c->xn = c->q = c->att = c->act = c->rows_bf = NULL;
    c->cap_t = 0;
}

static gc_status ensure_step(gc_cuda_ctx *c, int64_t T) {
    if (T <= c->cap_t) return GC_OK;
    int64_t cap = c->cap_t ? c->cap_t : 16;
    while (cap < T) cap *= 2;
    cudaStreamSynchronize(c->stream);
    free_step(c);
    c->gen++;
    const size_t F4 = sizeof(float), B2 = 2;
    const int64_t NQKV = c->qd + 2 * c->kvd;
    GC_TRY(gc_cu_malloc((void **)&c->x, (size_t)(cap * c->D) * F4, "activations"));
    GC_TRY(gc_cu_malloc((void **)&c->qkv, (size_t)(cap * NQKV) * F4, "activations"));
    GC_TRY(gc_cu_malloc((void **)&c->gu, (size_t)(cap * 2 * c->F) * F4, "activations"));
    GC_TRY(gc_cu_malloc((void **)&c->cos_t, (size_t)(cap * c->half) * F4, "RoPE tables"));
    GC_TRY(gc_cu_malloc((void **)&c->sin_t, (size_t)(cap * c->half) * F4, "RoPE tables"));
    GC_TRY(gc_cu_malloc((void **)&c->xn, (size_t)(cap * c->D) * B2, "activations"));
    GC_TRY(gc_cu_malloc((void **)&c->q, (size_t)(cap * c->qd) * B2, "activations"));
    GC_TRY(gc_cu_malloc((void **)&c->att, (size_t)(cap * c->qd) * B2, "activations"));
    GC_TRY(gc_cu_malloc((void **)&c->act, (size_t)(cap * c->F) * B2, "activations"));
    GC_TRY(gc_cu_malloc((void **)&c->rows_bf, (size_t)(cap * c->D) * B2, "output rows"));
    GC_TRY(gc_cu_malloc((void **)&c->hid, (size_t)(cap * c->D) * F4, "output rows"));
    c->cap_t = cap;
    return GC_OK;
}

static gc_status ensure_emb(gc_cuda_ctx *c, int64_t n) {
    if (n <= c->cap_emb) return GC_OK;
    int64_t cap = imax(n, 2 * c->cap_emb);
    cudaStreamSynchronize(c->stream);
    cudaFree(c->emb_in);
    c->emb_in = NULL;
    c->cap_emb = 0;
    c->gen++;
    GC_TRY(gc_cu_malloc((void **)&c->emb_in, (size_t)(cap * c->D) * sizeof(float), "input embeddings"));
    c->cap_emb = cap;
    return GC_OK;
}

static gc_status ensure_logits(gc_cuda_ctx *c, int64_t rows) {
    if (rows <= c->cap_logit_rows) return GC_OK;
    cudaStreamSynchronize(c->stream);
    cudaFree(c->logits); cudaFree(c->amax); cudaFreeHost(c->amax_h); cudaFree(c->draws); cudaFreeHost(c->draws_h);
    c->logits = NULL; c->amax = NULL; c->amax_h = NULL; c->draws = NULL; c->draws_h = NULL;
    c->cap_logit_rows = 0;
    GC_TRY(gc_cu_malloc((void **)&c->logits, (size_t)(rows * c->V) * sizeof(float), "logits"));
    GC_TRY(gc_cu_malloc((void **)&c->amax, (size_t)rows * sizeof(int32_t), "argmax"));
    CU_TRY(cudaMallocHost((void **)&c->amax_h, (size_t)rows * sizeof(int32_t)));
    GC_TRY(gc_cu_malloc((void **)&c->draws, (size_t)rows * sizeof(gck_draw), "draw parameters"));
    CU_TRY(cudaMallocHost((void **)&c->draws_h, (size_t)rows * sizeof(gck_draw)));
    c->cap_logit_rows = rows;
    return GC_OK;
}

static gc_status ensure_parts(gc_cuda_ctx *c, int64_t parts, int64_t groups, int tile_m) {
    const int64_t need = parts * tile_m;   // partial rows
    if (need > c->cap_parts) {
        int64_t cap = imax(need, 2 * c->cap_parts);
        cudaStreamSynchronize(c->stream);
        cudaFree(c->part_o); cudaFree(c->part_ml);
        c->part_o = c->part_ml = NULL;
        c->cap_parts = 0;
        c->gen++;
        GC_TRY(gc_cu_malloc((void **)&c->part_o, (size_t)(cap * c->hd) * sizeof(float), "attention partials"));
        GC_TRY(gc_cu_malloc((void **)&c->part_ml, (size_t)(cap * 2) * sizeof(float), "attention partials"));
        c->cap_parts = cap;
    }
    if (groups > c->cap_counters) {
        int64_t cap = imax(groups, 2 * c->cap_counters);
        cudaStreamSynchronize(c->stream);
        cudaFree(c->counters);
        c->counters = NULL;
        c->cap_counters = 0;
        c->gen++;
        GC_TRY(gc_cu_malloc((void **)&c->counters, (size_t)cap * sizeof(int32_t), "attention counters"));
        CU_TRY(cudaMemsetAsync(c->counters, 0, (size_t)cap * sizeof(int32_t), c->stream));
        c->cap_counters = cap;
    }
    return GC_OK;
}

static size_t al16(size_t x) { return (x + 15) & ~(size_t)15; }

static gc_status ensure_meta(gc_cuda_ctx *c, int64_t t, int64_t seq, int64_t span, int64_t mod, int64_t item,
                             int64_t group, int64_t out) {
    cu_meta *M = &c->meta;
    if (M->h && t <= M->cap_t && seq <= M->cap_seq && span <= M->cap_span && mod <= M->cap_mod &&
        item <= M->cap_item && group <= M->cap_group && out <= M->cap_out)
        return GC_OK;
    cu_meta N = *M;
#define GROW(f, v) N.f = (v) <= M->f ? M->f : imax((v), 2 * M->f)
    GROW(cap_t, imax(t, 16)); GROW(cap_seq, imax(seq, 4)); GROW(cap_span, imax(span, 64)); GROW(cap_mod, imax(mod, 4));
    GROW(cap_item, imax(item, 64)); GROW(cap_group, imax(group, 16)); GROW(cap_out, imax(out, 16));
#undef GROW
    size_t o = 0;
    N.o_hdr = o; o = al16(o + 64);
    N.o_ids = o; o = al16(o + (size_t)N.cap_t * 4);
    N.o_pos = o; o = al16(o + (size_t)N.cap_t * 4);
    N.o_slot_base = o; o = al16(o + (size_t)N.cap_t * 8);
    N.o_slot_idx = o; o = al16(o + (size_t)N.cap_t * 4);
    N.o_seqs = o; o = al16(o + (size_t)N.cap_seq * sizeof(gck_seq));
    N.o_spans = o; o = al16(o + (size_t)N.cap_span * sizeof(gck_span));
    N.o_mods = o; o = al16(o + (size_t)(N.cap_mod * c->L) * sizeof(gck_mod));
    N.o_items = o; o = al16(o + (size_t)N.cap_item * sizeof(gck_item));
    N.o_groups = o; o = al16(o + (size_t)N.cap_group * sizeof(gck_group));
    N.o_out_rows = o; o = al16(o + (size_t)N.cap_out * 4);
    N.o_hid_rows = o; o = al16(o + (size_t)N.cap_out * 4);
    N.bytes = o;
    cudaStreamSynchronize(c->stream);
    cudaFree(M->d);
    cudaFreeHost(M->h);
    M->d = NULL;
    M->h = NULL;
    c->gen++;
    N.d = NULL;
    N.h = NULL;
    GC_TRY(gc_cu_malloc((void **)&N.d, N.bytes, "step metadata"));
    cudaError_t e = cudaMallocHost((void **)&N.h, N.bytes);
    if (e != cudaSuccess) {
        cudaFree(N.d);
        return gc_cu_fail(e, "cudaMallocHost (step metadata)");
    }
    memset(N.h, 0, N.bytes);
    *M = N;
    return GC_OK;
}

void gc_cu_free_graphs(gc_cuda_ctx *c) {
    for (int i = 0; i < CU_MAX_GRAPHS; i++) {
        if (c->graphs[i].used) cudaGraphExecDestroy(c->graphs[i].exec);
        c->graphs[i].used = false;
    }
}

// ---------------------------------------------------------------- the step

typedef struct plan {
    int64_t T, n_seq, n_out, n_hid;
    int tile_m, grid;
    int attn;   // gck_attention's kernel: tile_m, or 1 for the one-query decode kernel
} plan;

#define MP(c, off, type) ((type)((c)->meta.d + (c)->meta.off))

// Batch-invariant linear: row r of y depends on row r of x alone. Rows go
// in chunks of at most 16 (a step of T rows: ceil(T/16) launches) through
// one fixed skinny configuration whose arithmetic per row does not depend on
// T or on the row's place in the chunk (gck_skinny_invariant, skinny.h says
// why). Shapes the skinny GEMM refuses (N % 16, K % 64, 16-byte alignment)
// go through cuBLAS one row per call: M = 1 on every call, so the same
// algorithm for every row whatever the step holds; slow, but invariant.
static gc_status linear_invariant(gc_cuda_ctx *c, int64_t T, float *y, const bf16_t *x, const bf16_t *W, int64_t N,
                                  int64_t K, bool acc) {
    const bool skinny = N % 16 == 0 && K % 64 == 0 && !(((uintptr_t)x | (uintptr_t)W) & 15);
    for (int64_t r0 = 0; r0 < T; r0 += 16) {
        const int64_t nr = imin(16, T - r0);
        if (skinny) {
            CU_TRY(gck_skinny_invariant(c->stream, y + r0 * N, x + r0 * K, W, (int)nr, (int)N, (int)K, acc,
                                        CU_BI_SKINNY_VARIANT));
            continue;
        }
        for (int64_t r = r0; r < r0 + nr; r++) GC_TRY(gc_cu_gemm(c->blas, y + r * N, x + r * K, 1, W, N, K, acc));
    }
    return GC_OK;
}

// y (T, N) = x · Wᵀ (+= when acc), x bf16 rows (T, K): the skinny GEMM
// (skinny.cu, its shape rule) for steps of at most dbg.skinny_max_t rows on
// the shapes it takes, else cuBLAS; in batch-invariant mode linear_invariant.
static gc_status linear(gc_cuda_ctx *c, const plan *p, float *y, const bf16_t *x, const bf16_t *W, int64_t N,
                        int64_t K, bool acc) {
    if (c->dbg.batch_invariant) return linear_invariant(c, p->T, y, x, W, N, K, acc);
    if (p->T <= c->dbg.skinny_max_t && N % 16 == 0 && K % 64 == 0) {
        CU_TRY(gck_skinny(c->stream, y, x, W, (int)p->T, (int)N, (int)K, acc, 0));
        return GC_OK;
    }
    return gc_cu_gemm(c->blas, y, x, p->T, W, N, K, acc);
}

static gc_status launch_step(gc_cuda_ctx *c, const plan *p) {
    const int T = (int)p->T, D = (int)c->D, F = (int)c->F;
    const int64_t NQKV = c->qd + 2 * c->kvd;
    CU_TRY(gck_embed(c->stream, c->x, c->embd, MP(c, o_ids, const int32_t *), c->emb_in, T, D));
    CU_TRY(gck_rope_table(c->stream, c->cos_t, c->sin_t, MP(c, o_pos, const int32_t *), c->inv_freq, T, (int)c->half));
    gc_cu_prof_mark(c, 0);
    gck_attn_args a = {
        .out = c->att, .part_o = c->part_o, .part_ml = c->part_ml, .counters = c->counters, .q = c->q,
        .items = MP(c, o_items, const gck_item *), .n_items = MP(c, o_hdr, const int32_t *),
        .groups = MP(c, o_groups, const gck_group *), .seqs = MP(c, o_seqs, const gck_seq *),
        .spans = MP(c, o_spans, const gck_span *), .mods = MP(c, o_mods, const gck_mod *),
        .n_layers = (int)c->L, .H = (int)c->H, .KV = (int)c->KV, .hd = (int)c->hd, .kv_q8 = c->kv_q8,
        .scale = (float)(1.0 / sqrt((double)c->hd)),
    };
    for (int64_t l = 0; l < c->L; l++) {
        const cu_layer *Ly = &c->layers[l];
        CU_TRY(gck_rmsnorm(c->stream, c->xn, NULL, c->x, Ly->attn_norm, NULL, T, D, c->eps));
        gc_cu_prof_mark(c, 1);
        GC_TRY(linear(c, p, c->qkv, c->xn, Ly->wqkv, NQKV, D, false));
        gc_cu_prof_mark(c, 2);
        CU_TRY(gck_qkv_post(c->stream, c->qkv, Ly->bqkv, Ly->q_norm, Ly->k_norm, c->cos_t, c->sin_t, c->q,
                            MP(c, o_slot_base, const uint64_t *), MP(c, o_slot_idx, const int32_t *), (int)l, T,
                            (int)c->H, (int)c->KV, (int)c->hd, c->eps, c->neox, c->kv_q8 ? c->kv_block_elems : 0));
        gc_cu_prof_mark(c, 3);
        a.layer = (int)l;
        CU_TRY(gck_attention(c->stream, p->attn, &a, p->grid));
        gc_cu_prof_mark(c, 4);
        GC_TRY(linear(c, p, c->x, c->att, Ly->wo, D, c->qd, true));
        gc_cu_prof_mark(c, 5);
        CU_TRY(gck_rmsnorm(c->stream, c->xn, NULL, c->x, Ly->ffn_norm, NULL, T, D, c->eps));
        gc_cu_prof_mark(c, 1);
        GC_TRY(linear(c, p, c->gu, c->xn, Ly->wgu, 2 * F, D, false));
        gc_cu_prof_mark(c, 6);
        CU_TRY(gck_swiglu(c->stream, c->act, c->gu, T, F));
        gc_cu_prof_mark(c, 7);
        GC_TRY(linear(c, p, c->x, c->act, Ly->wdown, D, F, true));
        gc_cu_prof_mark(c, 8);
    }
    CU_TRY(gck_rmsnorm(c->stream, c->rows_bf, NULL, c->x, c->final_norm, MP(c, o_out_rows, const int32_t *),
                       (int)p->n_out, D, c->eps));
    CU_TRY(gck_rmsnorm(c->stream, NULL, c->hid, c->x, c->final_norm, MP(c, o_hid_rows, const int32_t *),
                       (int)p->n_hid, D, c->eps));
    gc_cu_prof_mark(c, 9);
    return GC_OK;
}

// Runs the step, through a captured graph for decode steps.
static gc_status run_step(gc_cuda_ctx *c, const plan *p, bool graph) {
    if (!graph) return launch_step(c, p);
    cu_graph *g = NULL, *victim = &c->graphs[0];
    for (int i = 0; i < CU_MAX_GRAPHS; i++) {
        cu_graph *h = &c->graphs[i];
        if (h->used && h->gen != c->gen) {   // a buffer it uses has moved
            cudaGraphExecDestroy(h->exec);
            h->used = false;
        }
        if (h->used && h->n_seq == p->n_seq && h->n_out == p->n_out && h->n_hid == p->n_hid &&
            h->tile_m == p->tile_m && h->attn == p->attn && h->grid == p->grid)
            g = h;
        if (!h->used || (victim->used && h->last_use < victim->last_use)) victim = h;
    }
    if (!g) {
        if (victim->used) cudaGraphExecDestroy(victim->exec);
        victim->used = false;
        CU_TRY(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed));
        gc_status s = launch_step(c, p);
        cudaGraph_t gr = NULL;
        cudaError_t e = cudaStreamEndCapture(c->stream, &gr);
        if (s != GC_OK) {
            if (gr) cudaGraphDestroy(gr);
            return s;
        }
        if (e != cudaSuccess) return gc_cu_fail(e, "cudaStreamEndCapture");
        e = cudaGraphInstantiate(&victim->exec, gr, 0);
        cudaGraphDestroy(gr);
        if (e != cudaSuccess) return gc_cu_fail(e, "cudaGraphInstantiate");
        victim->used = true;
        victim->n_seq = (int)p->n_seq; victim->n_out = (int)p->n_out; victim->n_hid = (int)p->n_hid;
        victim->tile_m = p->tile_m; victim->attn = p->attn; victim->grid = p->grid;
        victim->gen = c->gen;
        g = victim;
    }
    g->last_use = ++c->clock;
    CU_TRY(cudaGraphLaunch(g->exec, c->stream));
    return GC_OK;
}

// Copies the used part of each metadata array (adjacent ones merged).
static gc_status upload_meta(gc_cuda_ctx *c, const size_t *off, const size_t *used, int n) {
    size_t a = 0, b = 0;
    bool open = false;
    for (int i = 0; i <= n; i++) {
        bool flush = i == n || (open && off[i] > b + 8192);
        if (flush && open && b > a)
            CU_TRY(cudaMemcpyAsync(c->meta.d + a, c->meta.h + a, b - a, cudaMemcpyHostToDevice, c->stream));
        if (i == n) break;
        if (!used[i]) continue;
        if (flush || !open) { a = off[i]; open = true; }
        b = off[i] + used[i];
    }
    return GC_OK;
}


void gc_cu_count_items(int64_t n, int64_t ctx_first, int64_t qt, int64_t KV, int64_t want, int64_t fixed,
                       int64_t *items, int64_t *groups, int64_t *parts) {
    for (int64_t q0 = 0; q0 < n; q0 += qt) {
        const gc_attn_split sp = gc_attn_split_of(ctx_first + imin(q0 + qt, n), want, fixed);
        *items += KV * sp.ns;
        if (sp.merge) { *groups += KV; *parts += KV * sp.ns; }
    }
}

void gc_cu_build_items(const gck_span *spans, int64_t sp0, int64_t sp_end, int seq, int64_t n, int64_t ctx_first,
                       int64_t qt, int64_t KV, int64_t want, int64_t fixed, gck_item *items, int64_t *it,
                       gck_group *groups, int64_t *gr, int64_t *part) {
    for (int64_t q0 = 0; q0 < n; q0 += qt) {
        const int64_t nq = imin(qt, n - q0), vis = ctx_first + q0 + nq;
        const gc_attn_split sp = gc_attn_split_of(vis, want, fixed);
        for (int64_t kh = 0; kh < KV; kh++) {
            const int64_t g = sp.merge ? (*gr)++ : -1;
            if (g >= 0)
                groups[g] = (gck_group){.seq = seq, .kh = (int32_t)kh, .q0 = (int32_t)q0, .nq = (int32_t)nq,
                                        .part0 = (int32_t)*part, .nsplit = (int32_t)sp.ns};
            int64_t si = sp0;   // spans are sorted by start: walk forward
            for (int64_t k = 0; k < sp.ns; k++) {
                int64_t lo, hi;
                gc_attn_split_range(sp, k, vis, &lo, &hi);
                while (si + 1 < sp_end && spans[si].start + spans[si].n <= lo) si++;
                int64_t sj = si;
                while (sj < sp_end && spans[sj].start < hi) sj++;
                items[(*it)++] = (gck_item){.seq = seq, .kh = (int32_t)kh, .q0 = (int32_t)q0, .nq = (int32_t)nq,
                                            .kv_lo = (int32_t)lo, .kv_hi = (int32_t)hi, .span_lo = (int32_t)si,
                                            .span_hi = (int32_t)sj, .part = g >= 0 ? (int32_t)((*part)++) : -1,
                                            .group = (int32_t)g};
            }
        }
    }
}

// Per-step bookkeeping of where each sequence's outputs sit.
typedef struct seq_out { int64_t out0, n_out, hid0, n_hid; } seq_out;

static gc_status forward(gc_cuda_ctx *c, const gc_step_plan *pl, seq_out *so) {
    gc_seq_step *st = pl->steps;
    const int n_steps = pl->n_steps;
    const int64_t T = pl->T;
    const gc_plan_slot *slots = pl->slots;
    const int64_t G = c->H / c->KV, L = c->L;
    int64_t n_span = 0, n_mod = 0, n_out = 0, n_hid = 0, n_emb = 0;
    bool decode = true, any_argmax = false, any_draw = false;
    // Batch-invariant mode: the attention's tile size depends on the model
    // only (16 query rows when the G heads of a position fit, else 64).
    const bool bi = c->dbg.batch_invariant;
    int tile_m = bi && G > 16 ? 64 : 16;
    for (int s = 0; s < n_steps; s++) {
        const gc_seq_step *q = &st[s];
        const gc_plan_seq *kv = &pl->seqs[s];
        n_span += kv->n_spans;
        for (int i = 0; i < kv->n_spans; i++)
            if (kv->spans[i].k_scale || kv->spans[i].v_scale || kv->spans[i].gate) n_mod++;
        so[s].out0 = n_out;
        so[s].n_out = q->logits ? (q->logits_all ? q->n : 1) : (q->argmax ? 1 : 0);
        n_out += so[s].n_out;
        so[s].hid0 = n_hid;
        so[s].n_hid = q->hidden || q->hidden_rows ? (q->hidden_all ? q->n : 1) : 0;
        n_hid += so[s].n_hid;
        if (!q->ids) n_emb += q->n;   // embeds or in_rows
        if (q->n != 1) decode = false;
        if (!bi && q->n * G > 16) tile_m = 64;
        any_argmax |= q->argmax != NULL;
        any_draw |= q->argmax && q->draw && q->draw->temperature > 0.0f;
    }
    const int64_t qt = tile_m / G;   // query positions per item
    int64_t n_base = 0;
    for (int s = 0; s < n_steps; s++) n_base += c->KV * cdiv(st[s].n, qt);
    const bool graph = c->dbg.graphs && decode && !c->prof;
    gck_set_pdl(T <= c->dbg.pdl_max_t);   // this thread's launches (and a graph captured now) from here on
    // Split long contexts so that about attn_blocks_per_sm blocks per
    // multiprocessor run; in batch-invariant mode at fixed multiples of
    // c->bi_chunk (attn_split.h), want then being the most splits a tile of
    // this engine can have.
    const int64_t want =
        bi ? c->bi_splits : imax(1, imin(CU_MAX_SPLIT, cdiv((int64_t)c->dbg.attn_blocks_per_sm * c->n_sm, n_base)));
    const int64_t fixed = bi ? c->bi_chunk : 0;
    int64_t n_items = 0, n_groups = 0, n_parts = 0;
    for (int s = 0; s < n_steps; s++)
        gc_cu_count_items(st[s].n, pl->seqs[s].ctx, qt, c->KV, want, fixed, &n_items, &n_groups, &n_parts);
    // A graph is replayed while contexts grow, so it launches the most blocks
    // any step of it can need (n_base · want; those past *n_items exit).
    const int grid = (int)(graph ? n_base * want : n_items);
    GC_TRY(ensure_step(c, T));
    GC_TRY(ensure_emb(c, imax(n_emb, 1)));
    GC_TRY(ensure_meta(c, T, n_steps, n_span, n_mod, n_items, n_groups, imax(n_out, n_hid)));
    GC_TRY(ensure_parts(c, graph ? n_base * want : imax(n_parts, 1), graph ? n_base : imax(n_groups, 1), tile_m));

    // ---- metadata ----
    cu_meta *M = &c->meta;
    int32_t *hdr = (int32_t *)(M->h + M->o_hdr);
    int32_t *ids = (int32_t *)(M->h + M->o_ids), *pos = (int32_t *)(M->h + M->o_pos);
    uint64_t *sbase = (uint64_t *)(M->h + M->o_slot_base);
    int32_t *sidx = (int32_t *)(M->h + M->o_slot_idx);
    gck_seq *seqs = (gck_seq *)(M->h + M->o_seqs);
    gck_span *spans = (gck_span *)(M->h + M->o_spans);
    gck_mod *mods = (gck_mod *)(M->h + M->o_mods);
    gck_item *items = (gck_item *)(M->h + M->o_items);
    gck_group *groups = (gck_group *)(M->h + M->o_groups);
    int32_t *out_rows = (int32_t *)(M->h + M->o_out_rows), *hid_rows = (int32_t *)(M->h + M->o_hid_rows);
    int64_t r = 0, emb_row = 0, sp = 0, md = 0, it = 0, gr = 0, part = 0;
    for (int s = 0; s < n_steps; s++) {
        const gc_seq_step *q = &st[s];
        const gc_plan_seq *kv = &pl->seqs[s];
        const int64_t r0 = r;
        // Input embeddings: host rows up, or rows the engine holds on the device copied over.
        if (q->embeds)
            CU_TRY(cudaMemcpyAsync(c->emb_in + emb_row * c->D, q->embeds, (size_t)(q->n * c->D) * sizeof(float),
                                   cudaMemcpyHostToDevice, c->stream));
        if (q->in_rows)
            CU_TRY(cudaMemcpyAsync(c->emb_in + emb_row * c->D, q->in_rows->data + q->in_row * c->D,
                                   (size_t)(q->n * c->D) * sizeof(float), cudaMemcpyDeviceToDevice, c->stream));
        for (int64_t i = 0; i < q->n; i++, r++) {
            ids[r] = q->ids ? q->ids[i] : (int32_t)(-(emb_row + i) - 1);
            pos[r] = (int32_t)(kv->ctx + i);
            sbase[r] = (uint64_t)(uintptr_t)slots[r].data;
            sidx[r] = slots[r].idx;
        }
        if (!q->ids) emb_row += q->n;
        int64_t start = 0;
        const int64_t sp0 = sp;
        for (int i = 0; i < kv->n_spans; i++) {
            const gc_plan_span *x = &kv->spans[i];
            if (x->n == 0) continue;
            int32_t mi = -1;
            if (x->k_scale || x->v_scale || x->gate) {
                mi = (int32_t)md++;
                for (int64_t l = 0; l < L; l++)
                    mods[mi * L + l] = (gck_mod){.k_scale = x->k_scale ? x->k_scale[l] : 1.0f,
                                                 .v_scale = x->v_scale ? x->v_scale[l] : 1.0f,
                                                 .hidden = x->gate && !x->gate[l]};
            }
            spans[sp++] = (gck_span){.base = (uint64_t)(uintptr_t)x->data, .off = x->off, .start = (int32_t)start,
                                     .n = x->n, .mod = mi};
            start += x->n;
        }
        seqs[s] = (gck_seq){.row0 = (int32_t)r0, .n = (int32_t)q->n, .ctx_first = (int32_t)kv->ctx,
                            .span0 = (int32_t)sp0, .n_spans = (int32_t)(sp - sp0)};
        gc_cu_build_items(spans, sp0, sp, s, q->n, kv->ctx, qt, c->KV, want, fixed, items, &it, groups, &gr, &part);
        for (int64_t i = 0; i < so[s].n_out; i++) out_rows[so[s].out0 + i] = (int32_t)(r - so[s].n_out + i);
        for (int64_t i = 0; i < so[s].n_hid; i++) hid_rows[so[s].hid0 + i] = (int32_t)(r - so[s].n_hid + i);
    }
    hdr[0] = (int32_t)it;
    hdr[1] = (int32_t)gr;
    const size_t offs[] = {M->o_hdr, M->o_ids, M->o_pos, M->o_slot_base, M->o_slot_idx, M->o_seqs, M->o_spans,
                           M->o_mods, M->o_items, M->o_groups, M->o_out_rows, M->o_hid_rows};
    const size_t used[] = {8, (size_t)T * 4, (size_t)T * 4, (size_t)T * 8, (size_t)T * 4,
                           (size_t)n_steps * sizeof(gck_seq), (size_t)sp * sizeof(gck_span),
                           (size_t)(md * L) * sizeof(gck_mod), (size_t)it * sizeof(gck_item),
                           (size_t)gr * sizeof(gck_group), (size_t)n_out * 4, (size_t)n_hid * 4};
    GC_TRY(upload_meta(c, offs, used, 12));
    c->prof_cls = T > 64;
    gc_cu_prof_mark(c, -1);

    // ---- layers ----
    // The one-query decode kernel only when every sequence adds one position
    // (never in batch-invariant mode: whether it runs would depend on the
    // other sequences of the step).
    const int attn = !bi && decode && tile_m == 16 && c->dbg.decode_attention && G <= 8 && (c->hd == 64 || c->hd == 128)
                         ? 1
                         : tile_m;
    plan p = {.T = T, .n_seq = n_steps, .n_out = n_out, .n_hid = n_hid, .tile_m = tile_m, .attn = attn, .grid = grid};
    GC_TRY(run_step(c, &p, graph));

    // ---- outputs ----
    if (n_out > 0) {
        const int64_t chunk = imax(1, imin(n_out, (int64_t)(256 << 20) / (c->V * 4)));
        GC_TRY(ensure_logits(c, chunk));
        for (int64_t k0 = 0; k0 < n_out; k0 += chunk) {
            const int64_t k1 = imin(n_out, k0 + chunk), nk = k1 - k0;
            plan lp = p;
            lp.T = nk;
            GC_TRY(linear(c, &lp, c->logits, c->rows_bf + k0 * c->D, c->lm_head, c->V, c->D, false));
            gc_cu_prof_mark(c, 10);
            if (any_draw) {
                // Rows that draw get their parameters, every other row is greedy.
                for (int64_t k = 0; k < nk; k++) c->draws_h[k] = (gck_draw){0};
                for (int s = 0; s < n_steps; s++) {
                    const int64_t last = so[s].out0 + so[s].n_out - 1;
                    const gc_token_draw *d = st[s].draw;
                    if (st[s].argmax && d && so[s].n_out > 0 && last >= k0 && last < k1)
                        c->draws_h[last - k0] = (gck_draw){.temperature = d->temperature, .top_p = d->top_p,
                                                           .top_k = d->top_k, .u = d->u};
                }
                CU_TRY(cudaMemcpyAsync(c->draws, c->draws_h, (size_t)nk * sizeof(gck_draw), cudaMemcpyHostToDevice,
                                       c->stream));
                CU_TRY(gck_sample(c->stream, c->amax, c->logits, c->draws, (int)nk, (int)c->V));
                gc_cu_prof_mark(c, 11);
                CU_TRY(cudaMemcpyAsync(c->amax_h, c->amax, (size_t)nk * 4, cudaMemcpyDeviceToHost, c->stream));
            } else if (any_argmax) {
                CU_TRY(gck_argmax(c->stream, c->amax, c->logits, (int)nk, (int)c->V));
                gc_cu_prof_mark(c, 11);
                CU_TRY(cudaMemcpyAsync(c->amax_h, c->amax, (size_t)nk * 4, cudaMemcpyDeviceToHost, c->stream));
            }
            for (int s = 0; s < n_steps; s++) {
                const int64_t a = imax(k0, so[s].out0), b = imin(k1, so[s].out0 + so[s].n_out);
                if (b <= a) continue;
                if (st[s].logits)
                    CU_TRY(cudaMemcpyAsync(st[s].logits + (a - so[s].out0) * c->V, c->logits + (a - k0) * c->V,
                                           (size_t)((b - a) * c->V) * sizeof(float), cudaMemcpyDeviceToHost, c->stream));
            }
            CU_TRY(cudaStreamSynchronize(c->stream));
            for (int s = 0; s < n_steps && any_argmax; s++) {
                const int64_t last = so[s].out0 + so[s].n_out - 1;
                if (st[s].argmax && so[s].n_out > 0 && last >= k0 && last < k1) *st[s].argmax = c->amax_h[last - k0];
            }
        }
    }
    for (int s = 0; s < n_steps; s++) {
        const size_t bytes = (size_t)(so[s].n_hid * c->D) * sizeof(float);
        if (st[s].hidden)
            CU_TRY(cudaMemcpyAsync(st[s].hidden, c->hid + so[s].hid0 * c->D, bytes, cudaMemcpyDeviceToHost, c->stream));
        if (st[s].hidden_rows)   // stays on the device, in the engine's rows
            CU_TRY(cudaMemcpyAsync(st[s].hidden_rows->data + st[s].hidden_row * c->D, c->hid + so[s].hid0 * c->D,
                                   bytes, cudaMemcpyDeviceToDevice, c->stream));
    }
    gc_cu_prof_mark(c, 12);
    CU_TRY(cudaStreamSynchronize(c->stream));
    CU_TRY(cudaGetLastError());
    gc_cu_prof_collect(c);
    return GC_OK;
}

// The table's run_step: the engine has validated the steps and reserved
// their slots, and commits or rolls back after.
gc_status gc_cu_run_step(void *state, const gc_step_plan *pl) {
    gc_cuda_ctx *c = state;   // everything the step needs is in the plan and the context
    seq_out *so = malloc((size_t)(pl->n_steps > 0 ? pl->n_steps : 1) * sizeof *so);
    if (!so) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_status status = forward(c, pl, so);
    if (status != GC_OK) {
        // Leave the device usable: finish what was queued, reset the split counters.
        cudaStreamSynchronize(c->stream);
        cudaGetLastError();
        if (c->counters) cudaMemset(c->counters, 0, (size_t)c->cap_counters * sizeof(int32_t));
    }
    free(so);
    return status;
}

#endif
