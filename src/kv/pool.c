// The block pool: fixed-size blocks, a free list, an optional byte limit.
#include "kv/kv_internal.h"
#include "backend/cuda/cuda_backend.h"
#include "core/error.h"
#include <stdlib.h>

gc_status gc_kv_pool_init(gc_kv_pool *p, int64_t n_layers, int64_t row, size_t max_bytes) {
    p->n_layers = n_layers;
    p->row = row;
    p->block_floats = (size_t)n_layers * 2 * GC_KV_BLOCK * (size_t)row;
    size_t bb = p->block_floats * sizeof(float);
    p->max_blocks = max_bytes ? (int64_t)(max_bytes / bb) : 0;
    if (max_bytes && p->max_blocks < 1)
        return gc_fail(GC_ERR_INVALID_ARG, "KV pool limit of %zu bytes is below one block (%zu bytes)", max_bytes, bb);
    p->live_blocks = 0;
    p->free_list = NULL;
    p->n_free = 0;
    p->dev = NULL;   // gc_cuda_engine_init moves block storage to the device
    p->elem_bytes = sizeof(float);
    return GC_OK;
}

void gc_kv_pool_destroy(gc_kv_pool *p) {
    gc_kv_block *b = p->free_list;
    while (b) {
        gc_kv_block *n = b->next_free;
        if (!p->dev) free(b->data);   // device storage belongs to the CUDA context's chunks
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
                           (long long)p->max_blocks, p->block_floats * p->elem_bytes);
        b = malloc(sizeof *b);
        if (b && p->dev) {
            void *dd = NULL;
            gc_status st = gc_cuda_kv_block_new(p->dev, p->block_floats, &dd);
            if (st != GC_OK) { free(b); return st; }
            b->data = dd;
        } else {
            float *d = b ? aligned_alloc(64, (p->block_floats * sizeof(float) + 63) & ~(size_t)63) : NULL;
            if (!d) {
                free(b);
                return gc_fail(GC_ERR_OOM, "out of memory allocating a KV block");
            }
            b->data = d;
        }
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
