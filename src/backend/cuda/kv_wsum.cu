// The weighted sum of KV positions on the device (gck_kv_wsum, kernels.h):
// the arithmetic of gc_backend.kv_wsum's rule (backend/backend.h), written
// so that nvcc cannot reassociate or contract it differently (explicit
// __fmul_rn / __fmaf_rn), hence the bits of summing kv_get's values on the
// host and storing them with kv_set.
#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"

// 8 warps a block; hd <= 256 gives each lane at most 8 values of its row.
enum { WSUM_WARPS = 8, WSUM_PER_LANE = 8, WSUM_BLOCK_POS = 16 };

// Warp r of the grid sums row r = ((p · L + l) · 2 + plane) · KV + h: the
// hd values of KV head h, plane `plane` of layer l at position p; lane
// holds values lane, lane + 32, ... in registers. A block's elements are
// [layer][plane][16 slots][KV · hd] (backend/backend.h).
__global__ void __launch_bounds__(WSUM_WARPS * 32)
    kv_wsum_kernel(const gck_kv_pos *dst, const gck_kv_pos *src, const float *w, const float *scales, int n_parts,
                   long long n_pos, int L, int KV, int hd, size_t q8_off) {
    gck_pdl_enter();
    extern __shared__ float wsum_sm[];   // (WSUM_WARPS, hd): a q8 warp's summed row for q8_store_row
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const long long r = (long long)blockIdx.x * WSUM_WARPS + warp;
    if (r >= n_pos * L * 2 * KV) return;   // whole warps only: q8_store_row needs all 32 lanes
    const int h = (int)(r % KV), plane = (int)(r / KV % 2), l = (int)(r / (2 * KV) % L);
    const long long p = r / (2LL * KV * L);
    const size_t row = (size_t)KV * hd, head = (size_t)h * hd;
    float acc[WSUM_PER_LANE];
#pragma unroll
    for (int j = 0; j < WSUM_PER_LANE; j++) acc[j] = 0.0f;
    for (int i = 0; i < n_parts; i++) {
        const gck_kv_pos s = src[(long long)i * n_pos + p];
        const float sc = s.mod < 0 ? 1.0f : scales[((size_t)s.mod * L + l) * 2 + plane];
        const float wi = w[i];
        const size_t e = ((size_t)(l * 2 + plane) * WSUM_BLOCK_POS + s.idx) * row + head;
        const unsigned char *base = (const unsigned char *)(uintptr_t)s.base;
        const float qs = q8_off ? ((const float *)(base + q8_off))[e / hd] : 0.0f;
#pragma unroll
        for (int j = 0; j < WSUM_PER_LANE; j++) {
            const int d = lane + 32 * j;
            if (d < hd) {
                // kv_get's value (bf16 widened exactly, or q · row scale), then the span's scale.
                const float x = q8_off ? __fmul_rn((float)((const int8_t *)base)[e + d], qs)
                                       : bf2f(((const uint16_t *)base)[e + d]);
                acc[j] = __fmaf_rn(wi, __fmul_rn(x, sc), acc[j]);
            }
        }
    }
    const gck_kv_pos o = dst[p];
    unsigned char *ob = (unsigned char *)(uintptr_t)o.base;
    const size_t e = ((size_t)(l * 2 + plane) * WSUM_BLOCK_POS + o.idx) * row + head;
    if (q8_off) {
        float *buf = wsum_sm + (size_t)warp * hd;
#pragma unroll
        for (int j = 0; j < WSUM_PER_LANE; j++)
            if (lane + 32 * j < hd) buf[lane + 32 * j] = acc[j];
        __syncwarp();
        q8_store_row(buf, hd, (int8_t *)(ob + e), (float *)(ob + q8_off) + e / hd, lane);
    } else {
        uint16_t *out = (uint16_t *)ob + e;
#pragma unroll
        for (int j = 0; j < WSUM_PER_LANE; j++)
            if (lane + 32 * j < hd) out[lane + 32 * j] = f2bf(acc[j]);
    }
}

extern "C" cudaError_t gck_kv_wsum(cudaStream_t s, const gck_kv_pos *dst, const gck_kv_pos *src, const float *w,
                                   const float *scales, int n_parts, int64_t n_pos, int n_layers, int KV, int hd,
                                   size_t q8_scale_off) {
    if (n_pos <= 0 || n_parts <= 0) return cudaSuccess;
    if (hd <= 0 || hd > 32 * WSUM_PER_LANE) return cudaErrorInvalidValue;
    const long long rows = (long long)n_pos * n_layers * 2 * KV, blocks = (rows + WSUM_WARPS - 1) / WSUM_WARPS;
    if (blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
    const size_t smem = q8_scale_off ? (size_t)WSUM_WARPS * hd * sizeof(float) : 0;
    gck_launch(kv_wsum_kernel, (unsigned)blocks, WSUM_WARPS * 32, smem, s, dst, src, w, scales, n_parts,
               (long long)n_pos, n_layers, KV, hd, q8_scale_off);
    return cudaGetLastError();
}
