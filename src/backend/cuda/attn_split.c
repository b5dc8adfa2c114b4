// The attention's split rules (attn_split.h). Compiled in every build, with
// or without CUDA: nothing here touches the device.
#include "backend/cuda/attn_split.h"

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t gc_attn_fixed_chunk(int64_t max_ctx) {
    if (max_ctx < 1) max_ctx = 1;
    return cdiv(cdiv(max_ctx, GCK_MAX_SPLIT), GC_ATTN_KEY_TILE) * GC_ATTN_KEY_TILE;
}

gc_attn_split gc_attn_split_of(int64_t vis, int64_t want, int64_t fixed) {
    if (fixed > 0) return (gc_attn_split){.ns = cdiv(vis, fixed), .chunk = fixed, .merge = true};
    // At most want splits, at least one key tile each; the chunk rounded up
    // to whole tiles may leave fewer splits than asked for.
    int64_t ns = cdiv(vis, GC_ATTN_KEY_TILE);
    if (want < ns) ns = want;
    if (ns < 1) ns = 1;
    const int64_t chunk = cdiv(cdiv(vis, ns), GC_ATTN_KEY_TILE) * GC_ATTN_KEY_TILE;
    ns = cdiv(vis, chunk);
    return (gc_attn_split){.ns = ns, .chunk = chunk, .merge = ns > 1};
}
