// KV caches as values: an agent's working memory that can be handed over,
// combined, sliced, scaled and stored.
//
// Storage is paged: an engine owns a pool of blocks of GC_KV_BLOCK positions
// (every layer's K and V for those positions). A cache value is a list of
// spans (block, offset, count) plus optional per-layer K/V scales and gates.
// Blocks are reference-counted: fork, concat and slices share storage
// (no copy); appending to a cache never writes into a block another cache
// can see (copy-on-write by starting a new block). Keys are stored after
// RoPE, so every position keeps the rotary position it was computed at; a
// token appended to a cache of length L gets position L.
//
// Ownership: every function that returns a gc_kv * through `out` gives the
// caller a new value to release with gc_kv_free. Values are not thread-safe.
#ifndef GCACHE_KV_H
#define GCACHE_KV_H
#include "gcache/gcache.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GC_KV_BLOCK 16

typedef struct gc_engine gc_engine;
typedef struct gc_kv gc_kv;

// An empty cache on e's pool.
gc_status gc_kv_new(gc_engine *e, gc_kv **out);
void gc_kv_free(gc_kv *kv);

// Positions held; the next appended token gets position gc_kv_len().
int64_t gc_kv_len(const gc_kv *kv);
// Bytes of K and V the value covers, as the engine's device stores them:
// len × layers × 2 × kv_heads × (head_dim × element bytes (4 f32 on the CPU,
// 2 bf16 on CUDA), or head_dim + 4 for q8: int8 values and an f32 scale).
size_t gc_kv_bytes(const gc_kv *kv);
// Bytes of the blocks this value references (counted once each, whole blocks).
size_t gc_kv_block_bytes(const gc_kv *kv);

// A new value sharing kv's storage (zero-copy).
gc_status gc_kv_fork(const gc_kv *kv, gc_kv **out);
// Deep copy into fresh blocks (scales and gates applied stay as metadata).
gc_status gc_kv_clone(const gc_kv *kv, gc_kv **out);
// parts[0] ‖ parts[1] ‖ … along the sequence (zero-copy). All parts must come
// from the same engine; n >= 1.
gc_status gc_kv_concat(gc_kv *const *parts, int n, gc_kv **out);
// Positions [start, end) of kv as a new value (zero-copy).
gc_status gc_kv_slice(const gc_kv *kv, int64_t start, int64_t end, gc_kv **out);
// Keeps only the last n positions, in place (n >= len keeps everything).
gc_status gc_kv_keep_last(gc_kv *kv, int64_t n);
// Σ w_i · parts[i] over the last L = min_i len(parts[i]) positions of each part,
// element-wise on K and V of every layer (scales applied first). Materialised
// into new blocks; the result has length L.
gc_status gc_kv_wsum(gc_kv *const *parts, const float *w, int n, gc_kv **out);
// Multiplies K and V of positions [start, end) by per-layer factors, and
// gates layers: gate[l] = 0 hides those positions from attention in layer l.
// k_scale / v_scale / gate may be NULL (= 1). Metadata only (zero-copy; the
// attention applies it); composes multiplicatively with earlier scales.
gc_status gc_kv_scale(gc_kv *kv, int64_t start, int64_t end, const float *k_scale, const float *v_scale,
                      const uint8_t *gate);

// Reads position p's keys / values of layer l into k / v (kv_heads × head_dim
// floats each), scales applied. For tests and inspection.
gc_status gc_kv_read(const gc_kv *kv, int64_t layer, int64_t p, float *k, float *v);

// Save to / load from a file: versioned, checksummed (a corrupt, truncated or
// foreign file — another model's shapes — is refused with a clear error).
// Saving writes atomically (temp file + fsync + rename).
gc_status gc_kv_save(const gc_kv *kv, const char *path);
gc_status gc_kv_load(gc_engine *e, const char *path, gc_kv **out);

#ifdef __cplusplus
}
#endif
#endif
