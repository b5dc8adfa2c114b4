// The backend interface: the small table of operations an engine device
// implements (as ggml's backend interface or SQLite's VFS). The engine holds
// one `const gc_backend *` and the state its init made; everything above the
// engine (kv/, latent/, graph/) reaches the device only through this table,
// and only engine/ picks a backend.
//
//   storage   KV blocks are opaque to everyone but their backend: a block is
//             kv_elem_bytes × elems bytes of backend memory holding the layout
//             [layer][K = 0, V = 1][GC_KV_BLOCK][kv_heads · head_dim] (see
//             kv/kv_internal.h); elements move in and out as f32.
//   step      the engine validates a batch, reserves every new position's KV
//             slot, hands the backend one step plan, and commits (or, when the
//             backend fails, rolls back) the caches: once, for every backend.
//   tokens    a step that asks for a token (gc_seq_step.argmax) gets it by the
//             one drawing rule of gcache/sampler.h, on every backend.
//   realign   optional: the LatentMAS realignment of n rows where the backend
//             keeps its own copy of the map (NULL: the caller computes on the host).
//
// Backends: gc_backend_cpu (backend/cpu/, f32, the reference) and
// gc_backend_cuda (backend/cuda/, bf16 weights and KV; in a build without
// nvcc its init fails with GC_ERR_UNSUPPORTED).
#ifndef GC_BACKEND_BACKEND_H
#define GC_BACKEND_BACKEND_H
#include "gcache/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gc_kv_slot;

// One engine step as a backend runs it. steps[] are validated (caches of this
// engine, ids in range, context fits, no cache twice) and every cache's spans
// already cover its new positions (reserved, not committed: kv->len is the
// first new position). slots[r] is where row r of the step (steps in order,
// each step's positions in order) writes its K/V.
typedef struct gc_step_plan {
    gc_seq_step *steps;
    int n_steps;
    int64_t T;                        // rows: Σ steps[s].n
    const struct gc_kv_slot *slots;   // (T)
} gc_step_plan;

typedef struct gc_backend {
    const char *name;
    gc_device device;
    size_t kv_elem_bytes;   // bytes the backend stores per KV element (4: f32, 2: bf16)

    // Makes the backend's state for engine e (weights uploaded, streams made);
    // *state may be NULL for a backend that needs none. Cleans up on failure.
    gc_status (*init)(gc_engine *e, void **state);
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

    // ---- one step ----
    // Runs the plan's rows through the model and fills the steps' outputs
    // (logits, hidden states, tokens). On failure the engine rolls back.
    gc_status (*run_step)(gc_engine *e, void *state, const gc_step_plan *plan);

    // ---- latent realignment (may be NULL) ----
    // out (n, D) = h (n, D) · W_a, each row rescaled to target_norm / max(‖row‖,
    // 1e-6) (gc_realign_apply's formula). wa_t: W_a transposed (D, D) float64,
    // or NULL for W_a = I; key names the map (the backend may keep a copy made
    // from wa_t for as long as the key does not change).
    gc_status (*realign_rows)(void *state, uint64_t key, const double *wa_t, int64_t D, double target_norm,
                              const float *h, int64_t n, float *out);
} gc_backend;

extern const gc_backend gc_backend_cpu;
extern const gc_backend gc_backend_cuda;

#ifdef __cplusplus
}
#endif
#endif
