// Internal state of the CUDA backend (host side, plain C over the CUDA
// runtime and cuBLAS). Only built when GC_HAVE_CUDA is defined.
#ifndef GC_BACKEND_CUDA_INTERNAL_H
#define GC_BACKEND_CUDA_INTERNAL_H
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/skinny.h"
#include "model/model.h"

typedef uint16_t bf16_t;

// Failure helpers: a CUDA / cuBLAS status → gc_status with a message
// naming the call; allocation failures map to GC_ERR_OOM.
gc_status gc_cu_fail(cudaError_t e, const char *what);
gc_status gc_cublas_fail(cublasStatus_t e, const char *what);
#define CU_TRY(call) do { cudaError_t cu_e_ = (call); if (cu_e_ != cudaSuccess) return gc_cu_fail(cu_e_, #call); } while (0)
#define CUBLAS_TRY(call) do { cublasStatus_t cb_e_ = (call); if (cb_e_ != CUBLAS_STATUS_SUCCESS) return gc_cublas_fail(cb_e_, #call); } while (0)

typedef struct cu_layer {
    bf16_t *wqkv;     // (qd + 2·kvd, D): q rows, then k, then v
    bf16_t *wo;       // (D, qd)
    bf16_t *wgu;      // (2F, D): gate rows, then up
    bf16_t *wdown;    // (D, F)
    float *attn_norm, *ffn_norm;   // (D)
    float *q_norm, *k_norm;        // (hd) or NULL
    float *bqkv;                   // (qd + 2·kvd) or NULL
} cu_layer;

// Offsets of the per-step metadata arrays inside one pinned host buffer and
// its device twin (one copy per step; addresses stable between growths so
// captured graphs stay valid).
typedef struct cu_meta {
    int64_t cap_t, cap_seq, cap_span, cap_mod, cap_item, cap_group, cap_out;
    size_t o_hdr, o_ids, o_pos, o_slot_base, o_slot_idx, o_seqs, o_spans, o_mods, o_items, o_groups, o_out_rows,
        o_hid_rows, bytes;
    unsigned char *h, *d;
} cu_meta;

// A captured decode step (every sequence adds one position).
typedef struct cu_graph {
    bool used;
    int n_seq, n_out, n_hid, tile_m, attn, grid;
    uint64_t gen, last_use;
    cudaGraphExec_t exec;
} cu_graph;

// CU_BI_SKINNY_VARIANT: the skinny configuration every GEMM of the
// batch-invariant mode runs (gck_skinny_invariant): 32 rows per warp, 4
// chunks in flight, 4 warps, in every preference list of skinny.cu's shape
// rule (second for T <= 8 and for wide N, third for long K).
enum { CU_MAX_GRAPHS = 8, CU_MAX_SPLIT = GCK_MAX_SPLIT, CU_PROF_EV = 1024, CU_PROF_KINDS = 13, CU_BI_SKINNY_VARIANT = 3 };

typedef struct gc_cuda_ctx {
    int device, n_sm;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    // shapes
    int64_t D, H, KV, hd, F, V, L, qd, kvd, half;
    float eps;
    bool neox;
    // weights
    bf16_t *embd, *lm_head;   // lm_head == embd when tied
    float *final_norm, *inv_freq;
    cu_layer *layers;
    size_t weight_bytes;
    // KV block storage: chunks of blocks, handed out in order, never returned
    // (the pool recycles blocks through its free list).
    void **chunks;
    int n_chunks, cap_chunks;
    unsigned char *chunk_cur;
    size_t chunk_left, next_chunk_blocks, kv_bytes;
    bool kv_q8;               // the KV format: q8 (int8 values and f32 row scales, backend.h) or bf16
    size_t kv_block_elems;    // elements of every block; a q8 block's scales start at byte kv_block_elems
    // step buffers, (cap_t, ·)
    int64_t cap_t;
    float *x, *qkv, *gu, *cos_t, *sin_t;
    bf16_t *xn, *q, *att, *act;
    int64_t cap_emb;
    float *emb_in;            // (cap_emb, D) input embeddings of the step
    int64_t cap_rows;
    bf16_t *rows_bf;          // (cap_rows, D) final-norm rows that get logits
    float *hid;               // (cap_rows, D) final-norm rows returned as hidden states
    int64_t cap_logit_rows;
    float *logits;            // (cap_logit_rows, V)
    int32_t *amax;            // (cap_logit_rows)
    int32_t *amax_h;          // pinned (cap_logit_rows)
    gck_draw *draws, *draws_h;  // (cap_logit_rows) per-row draw parameters, device / pinned host
    int64_t cap_parts, cap_counters;
    float *part_o, *part_ml;
    int32_t *counters;
    cu_meta meta;
    struct cu_realign *ra;    // the realignment map last used through gc_backend_cuda.realign_rows (cuda_ctx.c)
    uint64_t ra_key;          // ... and the key it was made for
    // kv_wsum's plan upload (cuda_kv_wsum.c): a pinned host buffer and its
    // device twin, cap bytes each; ev follows the last copy out of h, which
    // must be done before h is written again.
    struct { unsigned char *h, *d; size_t cap; cudaEvent_t ev; } wsum;
    uint64_t gen;             // bumped whenever a buffer a graph uses moves
    uint64_t clock;
    cu_graph graphs[CU_MAX_GRAPHS];
    // gc_engine_params.cuda (gcache/engine.h says what each switch does),
    // copied from gc_backend_env at init; skinny_max_t clamped to 16, attn_blocks_per_sm to >= 1.
    gc_cuda_debug dbg;
    // dbg.batch_invariant: the attention's fixed split length for contexts of
    // up to max_position keys (gc_attn_fixed_chunk) and the most splits a
    // tile can then have, cdiv(max_position, bi_chunk) <= CU_MAX_SPLIT; 0 when off.
    int64_t bi_chunk, bi_splits;
    // Profiling (dbg.profile): CUDA events recorded by gc_cu_prof_mark, device
    // time per kind of launch, printed to stderr when the engine is freed.
    bool prof;
    int n_ev;
    cudaEvent_t prof_ev[CU_PROF_EV];
    int prof_kind[CU_PROF_EV];
    int prof_cls;                       // 0: steps of <= 64 rows (decode-like), 1: larger
    double prof_ms[2][CU_PROF_KINDS];
    long prof_n[2][CU_PROF_KINDS], prof_steps[2];
} gc_cuda_ctx;

// Uploads W (N, K) of any dtype as bf16 rows into dst (device), through a
// pinned staging buffer.
gc_status gc_cu_upload_matrix(cudaStream_t s, bf16_t *dst, const gc_tensor *W, int64_t N, int64_t K, const char *name);
// y (T, N) f32 (= or +=) x (T, K) bf16 · W (N, K)ᵀ through cuBLAS.
gc_status gc_cu_gemm(cublasHandle_t h, float *y, const bf16_t *x, int64_t T, const bf16_t *W, int64_t N, int64_t K,
                     bool accumulate);
// Device allocation with a clear message; *p NULL on failure.
gc_status gc_cu_malloc(void **p, size_t bytes, const char *what);
void gc_cu_free_graphs(gc_cuda_ctx *c);
// gc_backend_cuda's kv_wsum (cuda_kv_wsum.c): the plan uploaded, one kernel
// queued on the stream; and what it keeps, freed with the context.
gc_status gc_cu_kv_wsum(void *state, const gc_kv_wsum_plan *plan);
void gc_cu_kv_wsum_free(gc_cuda_ctx *c);
// gc_backend_cuda's run_step (cuda_forward.c): one step plan on the device.
gc_status gc_cu_run_step(void *state, const gc_step_plan *plan);
// Profiling marks: with c->prof, the device time since the previous mark is
// charged to `kind` (an event recorded on the stream; kind -1 starts a step);
// gc_cu_prof_collect adds them up after the stream is synchronised. Off (the
// default), a mark costs one predictable branch on a field the step reads anyway.
void gc_cu_prof_record(gc_cuda_ctx *c, int kind);
static inline void gc_cu_prof_mark(gc_cuda_ctx *c, int kind) {
    if (c->prof) gc_cu_prof_record(c, kind);
}
void gc_cu_prof_collect(gc_cuda_ctx *c);
void gc_cu_prof_print(gc_cuda_ctx *c);

// Attention work items of one sequence with n new positions after ctx_first
// cached ones: query tiles of qt positions × KV heads × the context splits
// of gc_attn_split_of(vis, want, fixed) (attn_split.h: fixed 0, the balanced
// rule aiming at `want` splits; fixed > 0, splits of that many keys at
// multiples of it). count_items adds to the totals; build_items appends
// (spans sp0 .. sp_end-1 are the sequence's, by start).
void gc_cu_count_items(int64_t n, int64_t ctx_first, int64_t qt, int64_t KV, int64_t want, int64_t fixed,
                       int64_t *items, int64_t *groups, int64_t *parts);
void gc_cu_build_items(const gck_span *spans, int64_t sp0, int64_t sp_end, int seq, int64_t n, int64_t ctx_first,
                       int64_t qt, int64_t KV, int64_t want, int64_t fixed, gck_item *items, int64_t *it,
                       gck_group *groups, int64_t *gr, int64_t *part);

#endif
