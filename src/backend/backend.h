// The backend interface: the small table of operations an engine device
// implements (as ggml's backend interface or SQLite's VFS). The engine holds
// one `const gc_backend *` and the state its init made; everything above the
// engine (kv/, latent/, graph/) reaches the device only through this table,
// and only engine/ picks a backend.
//
//   storage   KV blocks are opaque to everyone but their backend: a block
//             holds elems = n_layers · 2 · GC_KV_BLOCK · row elements in the
//             layout [layer][K = 0, V = 1][GC_KV_BLOCK][row], row = kv_heads ·
//             head_dim (gc_kv_block_elem), stored in the engine's KV format
//             (gc_kv_storage_bytes below); elements move in and out as f32.
//   step      the engine validates a batch, reserves every new position's KV
//             slot, hands the backend one plain step plan (each sequence's
//             cache as a list of block spans, each new row's slot), and
//             commits (or, when the backend fails, rolls back) the caches:
//             once, for every backend. Backends never walk a gc_kv.
//   tokens    a step that asks for a token (gc_seq_step.argmax) gets it by the
//             one drawing rule of gcache/sampler.h, on every backend.
//   rows      buffers of f32 rows in the backend's memory (gc_rows of
//             gcache/engine.h): a step reads input embeddings from them and
//             writes hidden states into them, and
//   realign   maps such rows to rows by the LatentMAS realignment, so a
//             latent step's hidden state becomes the next step's input
//             without leaving the device.
//
// Backends: gc_backend_cpu (backend/cpu/, f32, the reference) and
// gc_backend_cuda (backend/cuda/, bf16 weights and KV; in a build without
// nvcc its init fails with GC_ERR_UNSUPPORTED). Both also store KV as q8.
//
// A backend sees no engine internals: init gets what it reads of its engine
// as plain data (gc_backend_env), run_step a plain step plan, and the other
// entries their own state. No file under src/backend includes engine/.
//
// KV formats (gc_kv_dtype; the engine resolves GC_KV_DEFAULT to the
// backend's kv_native before init and hands it over in gc_backend_env).
// Bytes of a block of elems elements:
//   f32   elems × 4: element i at byte 4i.
//   bf16  elems × 2: element i at byte 2i (round to nearest even).
//   q8    elems + (elems / head_dim) × 4: the int8 values q[i] at byte i (the
//         element layout above), then one f32 scale per head_dim elements at
//         byte elems + 4·(i / head_dim), i.e. one per (layer, K/V, position,
//         KV head) in that order. Element i is q[i] · scale[i / head_dim].
//         Symmetric per row: scale = max|x| / 127, q = x / scale rounded to
//         nearest even and clamped to [-127, 127] (an all-zero row: scale 0,
//         q 0); gc_kv_q8_quantize (backend/kv_q8.h) is the one rule every
//         backend follows. Both parts start 16-byte aligned (elems is a
//         multiple of 16 · row). kv_get/kv_set/kv_copy of a q8 block take
//         whole rows: off and n multiples of head_dim (GC_ERR_INVALID_ARG
//         otherwise); kv_set quantizes, kv_get dequantizes.
#ifndef GC_BACKEND_BACKEND_H
#define GC_BACKEND_BACKEND_H
#include "gcache/engine.h"
#include "model/model.h"
#include "core/threads.h"

#ifdef __cplusplus
extern "C" {
#endif

// Element offset of position idx of the K (kind 0) or V (kind 1) plane of
// layer l inside a KV block whose rows are `row` = kv_heads · head_dim wide.
static inline size_t gc_kv_block_elem(int64_t row, int64_t l, int kind, int64_t idx) {
    return ((size_t)(l * 2 + kind) * GC_KV_BLOCK + (size_t)idx) * (size_t)row;
}

// The LatentMAS realignment of one row, in float64: e (D) = h · W_a, rescaled
// to target_norm / max(‖h · W_a‖, 1e-6); wa_t is W_a transposed (D, D), or
// NULL for W_a = I. The reference every backend's realign_rows follows: the
// CPU backend runs this very function, and so does gc_realign_apply, so that
// rows realigned on the host and on the CPU backend agree bit for bit.
void gc_realign_row(const double *wa_t, int64_t D, double target_norm, const float *h, float *e);

// Bytes a KV block of elems elements takes in format t (never
// GC_KV_DEFAULT), with head_dim hd.
static inline size_t gc_kv_storage_bytes(gc_kv_dtype t, size_t elems, int64_t hd) {
    switch (t) {
    case GC_KV_BF16: return elems * 2;
    case GC_KV_Q8: return elems + elems / (size_t)hd * sizeof(float);
    default: return elems * sizeof(float);
    }
}

// Byte offset, inside a q8 block of block_elems elements, of the scale of
// the row that starts at element elem (a multiple of hd); the row's int8
// values start at byte elem.
static inline size_t gc_kv_q8_scale_byte(size_t block_elems, size_t elem, int64_t hd) {
    return block_elems + elem / (size_t)hd * sizeof(float);
}

// A buffer of gc_rows (gcache/engine.h) as the engine and its backend share
// it: made by the backend's rows_new, read and written by its steps.
struct gc_rows {
    gc_engine *e;   // the owner (opaque to backends)
    float *data;    // (n, D), backend memory (rows_new)
    int64_t n, D;   // D = hidden_size
};

// What a backend reads of its engine, as plain data: init gets it, and a
// backend that needs it after init keeps a copy in its state. Everything it
// points to lives until the backend's free.
typedef struct gc_backend_env {
    const gc_model *m;       // weights and shapes (model/model.h)
    gc_kv_dtype kv_dtype;    // the KV format, resolved: the backend's kv_native or GC_KV_Q8
    bool exact;              // CPU: every product on dequantised f32 weights (gc_engine_params.exact)
    gc_cpu_debug cpu;        // CPU: gc_engine_params.cpu, as given
    gc_cuda_debug cuda;      // CUDA: gc_engine_params.cuda, as given
    const float *inv_freq;   // (head_dim / 2) RoPE inverse frequencies, f32 exactly as HF computes them
    gc_pool *threads;        // the CPU kernels' threads (gc_engine_params.n_threads resolved)
} gc_backend_env;

// A run of a sequence's positions inside one KV block, with per-layer
// modifiers (NULL = identity) that attention applies.
typedef struct gc_plan_span {
    const void *data;                 // the block's storage
    int off, n;                       // block positions [off, off+n)
    const float *k_scale, *v_scale;   // (n_layers) or NULL
    const uint8_t *gate;              // (n_layers): 0 hides the span in that layer; or NULL
} gc_plan_span;

// Where one new position's K/V rows go: position idx of a block.
typedef struct gc_plan_slot {
    void *data;
    int idx;
} gc_plan_slot;

// One sequence of a step: its cache as plain spans. The spans cover the ctx
// cached positions and then the step's n new ones (already reserved), in order.
typedef struct gc_plan_seq {
    int64_t ctx;
    int n_spans;
    const gc_plan_span *spans;
} gc_plan_seq;

// One engine step as a backend runs it: plain data, no cache internals.
// steps[s] (inputs and where outputs go) and seqs[s] (its cache) describe
// sequence s; they are validated (ids in range, context fits, no cache
// twice). slots[r] is where row r of the step (sequences in order, each
// one's positions in order) writes its K/V.
typedef struct gc_step_plan {
    gc_seq_step *steps;
    const gc_plan_seq *seqs;
    int n_steps;
    int64_t T;                        // rows: Σ steps[s].n
    const gc_plan_slot *slots;        // (T)
    int64_t max_ctx;                  // max over s of seqs[s].ctx + steps[s].n
    int max_spans;                    // max over s of seqs[s].n_spans (at least 1)
} gc_step_plan;

// One stored position for kv_wsum: position idx (0 <= idx < GC_KV_BLOCK)
// of a block, read through the per-layer K/V scales of row `mod` of the
// plan's scale table (a span's k_scale / v_scale), or -1 for none.
typedef struct gc_kv_pos {
    void *data;      // the block's storage
    int32_t idx;
    int32_t mod;     // -1, or a row of gc_kv_wsum_plan.scales (ignored in dst)
} gc_kv_pos;

// A weighted sum of cache positions as plain data (gc_kv_wsum): position p
// (< n_pos) of the new cache, in every layer and both planes, element by
// element from the n_parts sources src[i * n_pos + p] (part i's position p).
typedef struct gc_kv_wsum_plan {
    int64_t n_pos;
    int n_parts;
    const float *w;           // (n_parts) weights
    const gc_kv_pos *dst;     // (n_pos) fresh slots: none is also a source position
    const gc_kv_pos *src;     // (n_parts, n_pos)
    const float *scales;      // (n_mods, n_layers, 2): a row's K (0) and V (1) read scale per layer (not read if n_mods = 0)
    int n_mods;
} gc_kv_wsum_plan;

typedef struct gc_backend {
    const char *name;
    gc_device device;
    gc_kv_dtype kv_native;  // the KV format it stores by default (f32 CPU, bf16 CUDA); every backend
                            // also stores GC_KV_Q8, and init reads the engine's choice from env->kv_dtype
    int prompt_rows;        // prompt rows per engine step that a batch run feeds by default
                            // (gc_engine_prompt_rows): where its steps reach their rate

    // Makes the backend's state for an engine described by env (weights
    // uploaded, streams made); *state may be NULL for a backend that needs
    // none. Cleans up on failure.
    gc_status (*init)(const gc_backend_env *env, void **state);
    // Frees the state, after every KV block of the engine has been freed.
    void (*free)(void *state);

    // ---- KV block storage (elements are f32 on the way in and out) ----
    // A block of elems elements; GC_ERR_OOM when the backend's memory is full.
    gc_status (*kv_block_new)(void *state, size_t elems, void **data);
    void (*kv_block_free)(void *state, void *data);
    // Elements [off, off+n) of a block into dst / from src.
    gc_status (*kv_get)(void *state, const void *data, size_t off, size_t n, float *dst);
    gc_status (*kv_set)(void *state, void *data, size_t off, size_t n, const float *src);
    // n elements from one block to another (or within one), on the backend.
    gc_status (*kv_copy)(void *state, void *dst, size_t dst_off, const void *src, size_t src_off, size_t n);
    // Stored bytes [off, off+n) of a block as they are (the format's layout
    // above): saving and loading a q8 cache moves its int8 values and scales
    // unchanged instead of requantizing.
    gc_status (*kv_read_bytes)(void *state, const void *data, size_t off, size_t n, void *dst);
    gc_status (*kv_write_bytes)(void *state, void *data, size_t off, size_t n, const void *src);
    // gc_kv_wsum's sum (a backend without it cannot fuse caches by weighted
    // sum: gc_kv_wsum fails with GC_ERR_UNSUPPORTED). For every position p, layer l, plane k of the plan and element j of
    // its row: x_i = stored value of source i as f32 (kv_get's value) times
    // its scale (one f32 product, 1 when mod = -1); a_0 = +0, a_{i+1} =
    // fmaf(w[i], x_i, a_i) in part order; dst := a_{n_parts} stored as
    // kv_set stores it (bf16: round to nearest even; q8: each row of hd by
    // gc_kv_q8_quantize), so every backend gives the bits of that f32 sum of
    // kv_get's values stored by kv_set. May be queued (CUDA: on the engine's stream, which every
    // later KV access and step follows); the plan's arrays may go on return.
    gc_status (*kv_wsum)(void *state, const gc_kv_wsum_plan *plan);

    // ---- one step ----
    // Runs the plan's rows through the model and fills the steps' outputs
    // (logits, hidden states, tokens). On failure the engine rolls back.
    gc_status (*run_step)(void *state, const gc_step_plan *plan);

    // ---- row buffers (gc_rows): f32 in the backend's memory ----
    // A buffer of n floats; GC_ERR_OOM when the backend's memory is full.
    gc_status (*rows_new)(void *state, size_t n, float **data);
    void (*rows_free)(void *state, float *data);
    // n floats from backend memory src to host dst / from host src to backend dst.
    gc_status (*rows_get)(void *state, const float *src, size_t n, float *dst);
    gc_status (*rows_set)(void *state, float *dst, const float *src, size_t n);

    // ---- latent realignment ----
    // dst (n, D) = src (n, D) realigned row by row (gc_realign_row's formula;
    // the CPU runs it, CUDA computes it in f32). src and dst lie in row
    // buffers of this backend; dst == src realigns in place, any other overlap
    // is not allowed. wa_t: W_a transposed (D, D) float64, or NULL for W_a = I;
    // key names the map (the backend may keep a copy made from wa_t for as
    // long as the key does not change).
    gc_status (*realign_rows)(void *state, uint64_t key, const double *wa_t, int64_t D, double target_norm,
                              const float *src, int64_t n, float *dst);
} gc_backend;

extern const gc_backend gc_backend_cpu;
extern const gc_backend gc_backend_cuda;

#ifdef __cplusplus
}
#endif
#endif
