// CUDA backend: the weighted sum of KV positions (gc_backend.kv_wsum) as one
// upload of the plan and one kernel (gck_kv_wsum, kv_wsum.cu), both queued on
// the engine's stream. No synchronisation: every later reader of the blocks
// (kv_get, kv_read_bytes, a step) runs on that stream after the kernel.
#ifdef GC_HAVE_CUDA
#include "backend/cuda/cuda_internal.h"
#include "core/error.h"
#include <string.h>

_Static_assert(GC_KV_BLOCK == 16, "gck_kv_wsum addresses blocks of 16 positions");

static size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }

void gc_cu_kv_wsum_free(gc_cuda_ctx *c) {
    cudaFree(c->wsum.d);
    cudaFreeHost(c->wsum.h);
    if (c->wsum.ev) cudaEventDestroy(c->wsum.ev);
    memset(&c->wsum, 0, sizeof c->wsum);
}

// The upload buffers hold at least `bytes`, and the host one is free to be
// written (the copy out of it that the last call queued is done).
static gc_status wsum_buffers(gc_cuda_ctx *c, size_t bytes) {
    if (!c->wsum.ev) CU_TRY(cudaEventCreateWithFlags(&c->wsum.ev, cudaEventDisableTiming));
    if (bytes <= c->wsum.cap) {
        CU_TRY(cudaEventSynchronize(c->wsum.ev));   // returns at once when never recorded
        return GC_OK;
    }
    CU_TRY(cudaStreamSynchronize(c->stream));   // queued copies and kernels may still use the old ones
    cudaFree(c->wsum.d);
    cudaFreeHost(c->wsum.h);
    c->wsum.d = c->wsum.h = NULL;
    c->wsum.cap = 0;
    size_t cap = bytes < 65536 ? 65536 : bytes + bytes / 2;
    GC_TRY(gc_cu_malloc((void **)&c->wsum.d, cap, "KV weighted-sum plan"));
    cudaError_t e = cudaMallocHost((void **)&c->wsum.h, cap);
    if (e != cudaSuccess) {
        cudaGetLastError();
        cudaFree(c->wsum.d);
        c->wsum.d = c->wsum.h = NULL;
        return gc_fail(GC_ERR_OOM, "out of pinned host memory for a KV weighted-sum plan (%zu bytes)", cap);
    }
    c->wsum.cap = cap;
    return GC_OK;
}

// Positions as the kernel reads them; GC_ERR_INVALID_ARG for a slot outside
// its block or a scale row outside the table. Destinations (n_mods < 0)
// carry no scale row.
static gc_status wsum_positions(const gc_kv_pos *p, size_t n, int n_mods, gck_kv_pos *out) {
    for (size_t i = 0; i < n; i++) {
        const int32_t mod = n_mods < 0 ? -1 : p[i].mod;
        if (p[i].idx < 0 || p[i].idx >= GC_KV_BLOCK || (n_mods >= 0 && (mod < -1 || mod >= n_mods)))
            return gc_fail(GC_ERR_INVALID_ARG, "kv_wsum: position %zu has slot %d / scale row %d (%d rows)", i,
                           (int)p[i].idx, (int)mod, n_mods);
        out[i] = (gck_kv_pos){.base = (uint64_t)(uintptr_t)p[i].data, .idx = p[i].idx, .mod = mod};
    }
    return GC_OK;
}

// The upload, in one buffer: w (n_parts f32), the scale table (n_mods,
// L, 2) f32, dst (n_pos) and src (n_parts, n_pos) as gck_kv_pos, each part
// starting 16-byte aligned.
gc_status gc_cu_kv_wsum(void *state, const gc_kv_wsum_plan *plan) {
    gc_cuda_ctx *c = state;
    const size_t n = (size_t)plan->n_pos, parts = (size_t)plan->n_parts;
    if (plan->n_pos <= 0 || plan->n_parts <= 0) return GC_OK;
    const size_t o_sc = up16(parts * sizeof(float));
    const size_t o_dst = o_sc + up16((size_t)plan->n_mods * (size_t)c->L * 2 * sizeof(float));
    const size_t o_src = o_dst + n * sizeof(gck_kv_pos), bytes = o_src + parts * n * sizeof(gck_kv_pos);
    GC_TRY(wsum_buffers(c, bytes));
    unsigned char *h = c->wsum.h, *d = c->wsum.d;
    memcpy(h, plan->w, parts * sizeof(float));
    if (plan->n_mods) memcpy(h + o_sc, plan->scales, (size_t)plan->n_mods * (size_t)c->L * 2 * sizeof(float));
    GC_TRY(wsum_positions(plan->dst, n, -1, (gck_kv_pos *)(h + o_dst)));
    GC_TRY(wsum_positions(plan->src, parts * n, plan->n_mods, (gck_kv_pos *)(h + o_src)));
    CU_TRY(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, c->stream));
    CU_TRY(cudaEventRecord(c->wsum.ev, c->stream));
    CU_TRY(gck_kv_wsum(c->stream, (const gck_kv_pos *)(d + o_dst), (const gck_kv_pos *)(d + o_src), (const float *)d,
                       (const float *)(d + o_sc), plan->n_parts, plan->n_pos, (int)c->L, (int)c->KV, (int)c->hd,
                       c->kv_q8 ? c->kv_block_elems : 0));
    return GC_OK;
}
#endif
