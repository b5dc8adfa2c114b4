// How the attention cuts a query tile's visible context into splits: work
// items that walk [lo, hi) of the cache in parallel and are merged after
// (attention.cu, merge_splits). Plain C without CUDA headers, so that the
// CPU test tests/unit/test_attn_split.c checks the rule in builds without
// nvcc; cuda_forward.c builds the work items from it.
//
// A query tile of the step covers positions [vis - nq, vis): its last query
// sees keys [0, vis). Two rules:
//   balanced (default): about `want` splits of whole 64-key tiles, as even as
//     the tiles allow; the boundaries depend on vis (the tile) and on want
//     (the work of the whole step), so a query's keys are cut differently in
//     different steps;
//   fixed (batch-invariant mode): splits of `fixed` keys (a multiple of 64,
//     one value per engine) with boundaries at multiples of it; a query at
//     position p sees the same chunks [k·fixed, (k+1)·fixed) ∩ [0, p] in
//     whatever tile it sits, and the splits a longer tile adds past p are
//     wholly masked for it (they contribute exact zeros to the merge).
#ifndef GC_BACKEND_CUDA_ATTN_SPLIT_H
#define GC_BACKEND_CUDA_ATTN_SPLIT_H
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GCK_MAX_SPLIT 16   // context splits per work item at most
#define GC_ATTN_KEY_TILE 64   // keys per tile of the attention kernels: split boundaries are multiples of it

typedef struct gc_attn_split {
    int64_t ns;      // splits: split k covers keys [k·chunk, min(vis, (k+1)·chunk))
    int64_t chunk;   // keys per split (a multiple of GC_ATTN_KEY_TILE)
    bool merge;      // the splits' partials go through the merge even when ns == 1
} gc_attn_split;

// The fixed chunk for an engine whose contexts hold at most max_ctx
// positions: the smallest multiple of GC_ATTN_KEY_TILE that keeps
// cdiv(max_ctx, chunk) <= GCK_MAX_SPLIT. max_ctx >= 1.
int64_t gc_attn_fixed_chunk(int64_t max_ctx);

// The splits of a tile whose last query sees vis >= 1 keys: fixed > 0 → the
// fixed rule with that chunk (merge always, so a query's arithmetic does not
// depend on whether its tile has one split or several); fixed == 0 → the
// balanced rule aiming at want >= 1 splits (merge only when ns > 1).
gc_attn_split gc_attn_split_of(int64_t vis, int64_t want, int64_t fixed);

// Keys [*lo, *hi) of split k (0 <= k < s.ns) of a tile whose last query sees vis keys.
static inline void gc_attn_split_range(gc_attn_split s, int64_t k, int64_t vis, int64_t *lo, int64_t *hi) {
    *lo = k * s.chunk;
    *hi = *lo + s.chunk < vis ? *lo + s.chunk : vis;
}

#ifdef __cplusplus
}
#endif
#endif
