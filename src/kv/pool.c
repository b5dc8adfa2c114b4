// The block pool: fixed-size blocks, a free list, an optional byte limit.
// Block storage comes from the engine's backend (backend/backend.h).
#include "kv/kv_internal.h"
#include "core/error.h"
#include <stdlib.h>

gc_status gc_kv_pool_init(gc_kv_pool *p, int64_t n_layers, int64_t kv_heads, int64_t hd, gc_kv_dtype dtype,
                          size_t max_bytes, const gc_backend *be, void *be_state) {
    p->n_layers = n_layers;
    p->row = kv_heads * hd;
    p->hd = hd;
    p->block_elems = (size_t)n_layers * 2 * GC_KV_BLOCK * (size_t)p->row;
    p->dtype = dtype;
    p->block_bytes = gc_kv_storage_bytes(dtype, p->block_elems, hd);
    p->be = be;
    p->be_state = be_state;
    size_t bb = p->block_bytes;
    p->max_blocks = max_bytes ? (int64_t)(max_bytes / bb) : 0;
    if (max_bytes && p->max_blocks < 1)
        return gc_fail(GC_ERR_INVALID_ARG, "KV pool limit of %zu bytes is below one block (%zu bytes)", max_bytes, bb);
    p->live_blocks = 0;
    p->free_list = NULL;
    p->n_free = 0;
    return GC_OK;
}

void gc_kv_pool_destroy(gc_kv_pool *p) {
    gc_kv_block *b = p->free_list;
    while (b) {
        gc_kv_block *n = b->next_free;
        p->be->kv_block_free(p->be_state, b->data);
        free(b);
        b = n;
    }
    p->free_list = NULL;
    p->n_free = 0;
}

gc_status gc_kv_block_alloc(gc_kv_pool *p, gc_kv_block **out) {
    gc_kv_block *b = p->free_list;
    if (b) {
        p->free_list = b->next_free;
        p->n_free--;
    } else {
        if (p->max_blocks && p->live_blocks >= p->max_blocks)
            return gc_fail(GC_ERR_OOM, "KV pool exhausted: all %lld blocks (%zu bytes each) are in use",
                           (long long)p->max_blocks, p->block_bytes);
        if (!(b = malloc(sizeof *b))) return gc_fail(GC_ERR_OOM, "out of memory allocating a KV block");
        gc_status st = p->be->kv_block_new(p->be_state, p->block_elems, &b->data);
        if (st != GC_OK) { free(b); return st; }
    }
    b->refs = 1;
    b->used = 0;
    b->next_free = NULL;
    p->live_blocks++;
    *out = b;
    return GC_OK;
}

void gc_kv_block_release(gc_kv_pool *p, gc_kv_block *b) {
    if (--b->refs > 0) return;
    p->live_blocks--;
    b->next_free = p->free_list;
    p->free_list = b;
    p->n_free++;
}
