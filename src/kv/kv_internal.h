// Internal layout of the paged KV pool and cache values.
#ifndef GC_KV_INTERNAL_H
#define GC_KV_INTERNAL_H
#include "gcache/kv.h"
#include "backend/backend.h"

// One block: GC_KV_BLOCK positions of every layer, block_elems elements in
// the layout [layer][0 = K, 1 = V][GC_KV_BLOCK][row], row = kv_heads ×
// head_dim (element offsets: gc_kv_block_elem). data is the backend's storage
// in the engine's KV format (f32 or q8 host memory on the CPU, bf16 or q8
// device memory on CUDA; backend/backend.h): only the backend dereferences
// it; kv/ moves elements through the pool's backend table.
typedef struct gc_kv_block {
    int refs;             // spans (in any value) that reference the block
    int used;             // positions written (a prefix of the block)
    struct gc_kv_block *next_free;
    void *data;
} gc_kv_block;

typedef struct gc_kv_pool {
    int64_t n_layers, row, hd;   // row = kv_heads × head_dim (hd)
    size_t block_elems;          // n_layers × 2 × GC_KV_BLOCK × row
    gc_kv_dtype dtype;           // the format the backend stores (resolved, never DEFAULT)
    size_t block_bytes;          // what one block takes (gc_kv_storage_bytes)
    int64_t max_blocks;          // 0 = no limit
    int64_t live_blocks;         // allocated and not free
    gc_kv_block *free_list;
    int64_t n_free;
    const gc_backend *be;        // owner of the block storage
    void *be_state;
} gc_kv_pool;

// A run of consecutive positions inside one block, with optional per-layer
// modifiers (NULL = identity). Modifier arrays are owned by the span.
typedef struct gc_kv_span {
    gc_kv_block *b;
    int off, n;
    float *k_scale, *v_scale;    // (n_layers)
    uint8_t *gate;               // (n_layers): 0 hides the span in that layer
} gc_kv_span;

struct gc_kv {
    gc_kv_pool *pool;
    gc_engine *e;
    int64_t len;                 // committed positions
    int n_spans;
    size_t cap_spans;
    gc_kv_span *spans;           // cover len + pending positions
    // An open reservation (see gc_kv_reserve_append).
    int64_t pending;
    int spans_before, tail_n_before;
};

// max_bytes caps the bytes the backend stores for blocks (0 = no cap).
gc_status gc_kv_pool_init(gc_kv_pool *p, int64_t n_layers, int64_t kv_heads, int64_t hd, gc_kv_dtype dtype,
                          size_t max_bytes, const gc_backend *be, void *be_state);
void gc_kv_pool_destroy(gc_kv_pool *p);
// A fresh block with refs = 1, used = 0; GC_ERR_OOM when the limit is hit.
gc_status gc_kv_block_alloc(gc_kv_pool *p, gc_kv_block **out);
void gc_kv_block_release(gc_kv_pool *p, gc_kv_block *b);

// Element offset of position idx of the K (kind 0) or V (kind 1) plane of
// layer l inside a block.
static inline size_t gc_kv_plane_off(const gc_kv_pool *p, int64_t l, int kind, int64_t idx) {
    return gc_kv_block_elem(p->row, l, kind, idx);
}

// Where the forward pass writes one new position.
typedef struct gc_kv_slot { gc_kv_block *b; int idx; } gc_kv_slot;

// Reserves n new positions at the end of kv (allocating blocks as needed,
// never writing into a block another span can see) and returns their slots.
// The length is not changed until gc_kv_commit; gc_kv_rollback undoes a
// reservation that is not going to be committed.
gc_status gc_kv_reserve_append(gc_kv *kv, int64_t n, gc_kv_slot *slots);
void gc_kv_commit(gc_kv *kv, int64_t n);
void gc_kv_rollback(gc_kv *kv);

#endif
