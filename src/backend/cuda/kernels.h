// Device kernels of the CUDA backend (kernels.cu) and the plain-C structs
// the host fills for them. Every launcher returns the launch's cudaError_t.
// bf16 values travel as uint16_t on the C side.
#ifndef GC_BACKEND_CUDA_KERNELS_H
#define GC_BACKEND_CUDA_KERNELS_H
#include <cuda_runtime_api.h>
#include <stdint.h>
#include "backend/cuda/attn_split.h"   // GCK_MAX_SPLIT, the split rules

#ifdef __cplusplus
extern "C" {
#endif

// One sequence of a step, as the attention sees it.
typedef struct gck_seq {
    int32_t row0;        // first row of its new positions in the (T, ·) activations
    int32_t n;           // new positions
    int32_t ctx_first;   // absolute position of its first new row (= cache length before the step)
    int32_t span0;       // first of its spans in the span table
    int32_t n_spans;
    int32_t pad[3];
} gck_seq;

// A cache span: n positions starting at sequence position `start`, stored at
// block slots off .. off+n-1 of the block (bf16 or q8) at device address `base`.
typedef struct gck_span {
    uint64_t base;
    int32_t off, start, n;
    int32_t mod;         // -1: no modifiers, else row of the modifier table
} gck_span;

// Per-layer span modifiers: mods[mod * n_layers + layer].
typedef struct gck_mod {
    float k_scale, v_scale;
    int32_t hidden, pad;
} gck_mod;

// One attention work item: query positions q0 .. q0+nq-1 of sequence `seq`,
// all query heads of KV head kh, against cache positions [kv_lo, kv_hi).
// part < 0: the item covers the whole visible context and writes the final
// output; otherwise it writes partial results (slot part) and the last split
// of group `group` to finish merges them.
typedef struct gck_item {
    int32_t seq, kh, q0, nq;
    int32_t kv_lo, kv_hi;
    int32_t span_lo, span_hi;   // spans (global indices) that overlap [kv_lo, kv_hi)
    int32_t part, group;
    int32_t pad[2];
} gck_item;

typedef struct gck_group {
    int32_t seq, kh, q0, nq, part0, nsplit, pad[2];
} gck_group;

typedef struct gck_attn_args {
    uint16_t *out;             // (T, H·hd) attention output, bf16
    float *part_o;             // (parts, M, hd) unnormalised partial outputs
    float *part_ml;            // (parts, M, 2) running max and sum
    int32_t *counters;         // (groups) finished splits; left at 0
    const uint16_t *q;         // (T, H·hd) rotated queries, bf16
    const gck_item *items;
    const int32_t *n_items;    // device scalar: blocks past it exit
    const gck_group *groups;
    const gck_seq *seqs;
    const gck_span *spans;
    const gck_mod *mods;
    int32_t layer, n_layers, H, KV, hd;
    float scale;
    int32_t kv_q8;             // 0: bf16 blocks; 1: q8 blocks (backend/backend.h: int8 values, then the f32
                               // row scales from byte n_layers · 2 · 16 · KV · hd on)
} gck_attn_args;

// Programmatic dependent launch for the kernels of this backend (default
// on; common.cuh says what it means for a kernel), for the launches the
// calling host thread makes from now on.
void gck_set_pdl(int on);
int gck_pdl_enabled(void);

// x (T, D) f32 residual from token ids (ids[r] >= 0: row of embd (V, D) bf16)
// or input embeddings (ids[r] < 0: row -ids[r]-1 of emb_in (·, D) f32).
cudaError_t gck_embed(cudaStream_t s, float *x, const uint16_t *embd, const int32_t *ids, const float *emb_in, int T,
                      int D);
// cos/sin (T, half): angle = (float)pos · inv_freq in f32, cos/sin in double.
cudaError_t gck_rope_table(cudaStream_t s, float *cos_t, float *sin_t, const int32_t *pos, const float *inv_freq, int T,
                           int half);
// RMSNorm of n rows of x (D): row i of the outputs is x[rows ? rows[i] : i];
// out_bf (n, D) bf16 and/or out_f (n, D) f32 (either may be NULL).
cudaError_t gck_rmsnorm(cudaStream_t s, uint16_t *out_bf, float *out_f, const float *x, const float *w,
                        const int32_t *rows, int n, int D, float eps);
// q/k/v epilogue: qkv (T, (H+2KV)·hd) f32 (+ bias), per-head RMSNorm of q, k
// (qn/kn may be NULL), RoPE; q to q_out (T, H·hd) bf16, k/v into the KV block
// at slot_base[r] (device address), slot slot_idx[r], layer `layer`: bf16
// when q8_scale_off is 0, else q8 (backend/backend.h: int8 values, and the
// f32 row scales from byte q8_scale_off = the block's element count on),
// quantized by the rule of backend/kv_q8.h.
cudaError_t gck_qkv_post(cudaStream_t s, const float *qkv, const float *bias, const float *qn, const float *kn,
                         const float *cos_t, const float *sin_t, uint16_t *q_out, const uint64_t *slot_base,
                         const int32_t *slot_idx, int layer, int T, int H, int KV, int hd, float eps, int neox,
                         size_t q8_scale_off);
// out (T, F) bf16 = silu(gu[:, :F]) · gu[:, F:].
cudaError_t gck_swiglu(cudaStream_t s, uint16_t *out, const float *gu, int T, int F);
// Paged attention; tile_m 16 (decode: few query rows per KV head) or 64, or
// 1: the decode kernel for items of one query position (G <= 8, hd 64 or
// 128), built and merged like tile 16 (gck_attention_decode_ok says when).
// grid blocks, those past *n_items exit.
cudaError_t gck_attention(cudaStream_t s, int tile_m, const gck_attn_args *a, int grid);
// Dynamic shared memory the attention kernel needs (for checks).
size_t gck_attention_smem(int tile_m, int hd);
// out[i] = argmax of row i of x (n, V) (ties → lowest index). (sample.cu)
cudaError_t gck_argmax(cudaStream_t s, int32_t *out, const float *x, int n, int V);
// One token per row of x (n, V) by draws[i] (device array): temperature <= 0
// → argmax, else the draw of gc_token_draw_row (gcache/sampler.h). (sample.cu)
typedef struct gck_draw {
    float temperature, top_p;
    int32_t top_k;
    float u;   // uniform in [0, 1)
} gck_draw;
cudaError_t gck_sample(cudaStream_t s, int32_t *out, const float *x, const gck_draw *draws, int n, int V);
// e (n, D) *= target / max(‖e_i‖, 1e-6), row-wise (norm in double).
cudaError_t gck_rescale_rows(cudaStream_t s, float *e, int n, int D, double target);
// A KV position for gck_kv_wsum: slot idx (< 16 = GC_KV_BLOCK) of the
// block at device address base, read through row mod of the scale table
// (-1: none).
typedef struct gck_kv_pos {
    uint64_t base;
    int32_t idx, mod;
} gck_kv_pos;
// The weighted sum of KV positions (gc_backend.kv_wsum's rule,
// backend/backend.h), everything in device memory (kv_wsum.cu): for p <
// n_pos, every layer and plane, the row at dst[p] := a_{n_parts}, a_0 = +0,
// a_{i+1} = fmaf(w[i], x_i · scale, a_i), x_i the stored value of
// src[i · n_pos + p] (n_parts, n_pos) and scale = scales[(mod · n_layers +
// layer) · 2 + plane] (1 when mod = -1). bf16 blocks when q8_scale_off is
// 0, else q8 (the f32 row scales from byte q8_scale_off = the block's
// element count on; the sum quantized by q8_store_row). hd <= 256. One warp
// per (position, layer, plane, KV head) row of hd values, 8 warps a block.
cudaError_t gck_kv_wsum(cudaStream_t s, const gck_kv_pos *dst, const gck_kv_pos *src, const float *w,
                        const float *scales, int n_parts, int64_t n_pos, int n_layers, int KV, int hd,
                        size_t q8_scale_off);
// out (n) bf16 = in (n) f32, round to nearest even.
cudaError_t gck_to_bf16(cudaStream_t s, uint16_t *out, const float *in, size_t n);

#ifdef __cplusplus
}
#endif
#endif
