// Device kernels of the CUDA backend. Shapes are in kernels.h; numerics
// follow the CPU path (src/backend/cpu/ops.c): f32 arithmetic, bf16 only
// where values are stored for a GEMM or the KV cache.
#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"
#include <math.h>

// Sum over the block (blockDim.x a multiple of 32, <= 1024); sh: 32 doubles.
static __device__ double block_sum(double v, double *sh) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < nw ? sh[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    double r = sh[0];
    __syncthreads();
    return r;
}

// 1 / sqrt(mean(x²) + eps) as the CPU computes it (sum in double).
static __device__ float row_rstd(const float *x, int D, float eps, double *sh) {
    double ss = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) ss += (double)x[i] * x[i];
    ss = block_sum(ss, sh);
    return (float)(1.0 / sqrt(ss / (double)D + (double)eps));
}

static inline unsigned cdiv(long long a, long long b) { return (unsigned)((a + b - 1) / b); }

// ---------------------------------------------------------------- elementwise

__global__ void embed_kernel(float *x, const uint16_t *embd, const int32_t *ids, const float *emb_in, int D) {
    gck_pdl_enter();
    const int r = blockIdx.x;
    const int id = ids[r];
    float *xr = x + (size_t)r * D;
    if (id >= 0) {
        const uint16_t *er = embd + (size_t)id * D;
        for (int i = threadIdx.x; i < D; i += blockDim.x) xr[i] = bf2f(er[i]);
    } else {
        const float *src = emb_in + (size_t)(-id - 1) * D;
        for (int i = threadIdx.x; i < D; i += blockDim.x) xr[i] = src[i];
    }
}

extern "C" cudaError_t gck_embed(cudaStream_t s, float *x, const uint16_t *embd, const int32_t *ids, const float *emb_in,
                                 int T, int D) {
    if (T <= 0) return cudaSuccess;
    gck_launch(embed_kernel, T, 256, 0, s, x, embd, ids, emb_in, D);
    return cudaGetLastError();
}

__global__ void rope_table_kernel(float *cos_t, float *sin_t, const int32_t *pos, const float *inv_freq, int T, int half) {
    gck_pdl_enter();
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)T * half) return;
    const int r = (int)(i / half), j = (int)(i % half);
    const float ang = (float)pos[r] * inv_freq[j];
    cos_t[i] = (float)cos((double)ang);
    sin_t[i] = (float)sin((double)ang);
}

extern "C" cudaError_t gck_rope_table(cudaStream_t s, float *cos_t, float *sin_t, const int32_t *pos,
                                      const float *inv_freq, int T, int half) {
    if (T <= 0) return cudaSuccess;
    gck_launch(rope_table_kernel, cdiv((long long)T * half, 256), 256, 0, s, cos_t, sin_t, pos, inv_freq, T, half);
    return cudaGetLastError();
}

__global__ void rmsnorm_kernel(uint16_t *out_bf, float *out_f, const float *x, const float *w, const int32_t *rows,
                               int D, float eps) {
    gck_pdl_enter();
    __shared__ double sh[32];
    const int i = blockIdx.x;
    const float *xr = x + (size_t)(rows ? rows[i] : i) * D;
    if ((D & 3) == 0) {   // 16-byte accesses
        const float4 *x4 = (const float4 *)xr, *w4 = (const float4 *)w;
        double ss = 0;
        for (int j = threadIdx.x; j < D / 4; j += blockDim.x) {
            const float4 v = x4[j];
            ss += (double)v.x * v.x + (double)v.y * v.y + (double)v.z * v.z + (double)v.w * v.w;
        }
        ss = block_sum(ss, sh);
        const float r = (float)(1.0 / sqrt(ss / (double)D + (double)eps));
        for (int j = threadIdx.x; j < D / 4; j += blockDim.x) {
            const float4 v = x4[j], g = w4[j];
            const float4 o = make_float4(v.x * r * g.x, v.y * r * g.y, v.z * r * g.z, v.w * r * g.w);
            if (out_bf) {
                ushort4 b;
                b.x = f2bf(o.x); b.y = f2bf(o.y); b.z = f2bf(o.z); b.w = f2bf(o.w);
                *(ushort4 *)(out_bf + (size_t)i * D + 4 * j) = b;
            }
            if (out_f) *(float4 *)(out_f + (size_t)i * D + 4 * j) = o;
        }
        return;
    }
    const float r = row_rstd(xr, D, eps, sh);
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        float v = xr[j] * r * w[j];
        if (out_bf) out_bf[(size_t)i * D + j] = f2bf(v);
        if (out_f) out_f[(size_t)i * D + j] = v;
    }
}

extern "C" cudaError_t gck_rmsnorm(cudaStream_t s, uint16_t *out_bf, float *out_f, const float *x, const float *w,
                                   const int32_t *rows, int n, int D, float eps) {
    if (n <= 0) return cudaSuccess;
    gck_launch(rmsnorm_kernel, n, D >= 2048 ? 512 : 256, 0, s, out_bf, out_f, x, w, rows, D, eps);
    return cudaGetLastError();
}

// Grid (row, head group of 8): one warp per head, through a per-warp smem
// row so RoPE can pair any two dimensions. q8_scale_off > 0: the blocks are
// q8 (int8 values at the element offsets, the row scales from byte
// q8_scale_off on), else bf16.
__global__ void __launch_bounds__(256) qkv_post_kernel(const float *qkv, const float *bias, const float *qn,
                                                       const float *kn, const float *cos_t, const float *sin_t,
                                                       uint16_t *q_out, const uint64_t *slot_base,
                                                       const int32_t *slot_idx, int layer, int H, int KV, int hd,
                                                       float eps, int neox, size_t q8_scale_off) {
    gck_pdl_enter();
    extern __shared__ float qkv_sm[];
    const int r = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int j = blockIdx.y * 8 + warp;   // this warp's head: q heads, then k, then v
    if (j >= H + 2 * KV) return;
    const int half = hd / 2, W3 = (H + 2 * KV) * hd, row = KV * hd;
    float *buf = qkv_sm + warp * hd;
    const float *src = qkv + (size_t)r * W3;
    const float *ct = cos_t + (size_t)r * half, *stab = sin_t + (size_t)r * half;
    uint16_t *blk = slot_base ? (uint16_t *)(uintptr_t)slot_base[r] : NULL;
    const size_t kslot = blk ? ((size_t)(layer * 2) * 16 + slot_idx[r]) * row : 0;
    const size_t vslot = blk ? ((size_t)(layer * 2 + 1) * 16 + slot_idx[r]) * row : 0;
    {
        for (int d = lane; d < hd; d += 32) buf[d] = src[j * hd + d] + (bias ? bias[j * hd + d] : 0.0f);
        __syncwarp();
        if (j < H + KV) {
            const float *nw = j < H ? qn : kn;
            if (nw) {
                double ss = 0;
                for (int d = lane; d < hd; d += 32) ss += (double)buf[d] * buf[d];
                for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(FULL_MASK, ss, o);
                const float rs = (float)(1.0 / sqrt(ss / (double)hd + (double)eps));
                __syncwarp();
                for (int d = lane; d < hd; d += 32) buf[d] = buf[d] * rs * nw[d];
                __syncwarp();
            }
            if (j >= H && q8_scale_off) {   // a q8 key: rotate in place, then quantize the row
                for (int i = lane; i < half; i += 32) {
                    const int ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
                    const float a = buf[ia], b = buf[ib], c = ct[i], sn = stab[i];
                    buf[ia] = a * c - b * sn;
                    buf[ib] = b * c + a * sn;
                }
                __syncwarp();
                unsigned char *base = (unsigned char *)blk;
                const size_t e0 = kslot + (size_t)(j - H) * hd;   // element offset of the row
                q8_store_row(buf, hd, (int8_t *)(base + e0), (float *)(base + q8_scale_off) + e0 / hd, lane);
            } else {
                uint16_t *dst = j < H ? q_out + (size_t)r * H * hd + (size_t)j * hd : blk + kslot + (size_t)(j - H) * hd;
                for (int i = lane; i < half; i += 32) {
                    const int ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
                    const float a = buf[ia], b = buf[ib], c = ct[i], sn = stab[i];
                    dst[ia] = f2bf(a * c - b * sn);
                    dst[ib] = f2bf(b * c + a * sn);
                }
            }
        } else if (q8_scale_off) {
            unsigned char *base = (unsigned char *)blk;
            const size_t e0 = vslot + (size_t)(j - H - KV) * hd;
            q8_store_row(buf, hd, (int8_t *)(base + e0), (float *)(base + q8_scale_off) + e0 / hd, lane);
        } else {
            uint16_t *dst = blk + vslot + (size_t)(j - H - KV) * hd;
            for (int d = lane; d < hd; d += 32) dst[d] = f2bf(buf[d]);
        }
        __syncwarp();
    }
}

extern "C" cudaError_t gck_qkv_post(cudaStream_t s, const float *qkv, const float *bias, const float *qn,
                                    const float *kn, const float *cos_t, const float *sin_t, uint16_t *q_out,
                                    const uint64_t *slot_base, const int32_t *slot_idx, int layer, int T, int H, int KV,
                                    int hd, float eps, int neox, size_t q8_scale_off) {
    if (T <= 0) return cudaSuccess;
    const dim3 grid((unsigned)T, (unsigned)((H + 2 * KV + 7) / 8));
    gck_launch(qkv_post_kernel, grid, 256, (size_t)8 * hd * sizeof(float), s, qkv, bias, qn, kn, cos_t, sin_t, q_out,
               slot_base, slot_idx, layer, H, KV, hd, eps, neox, q8_scale_off);
    return cudaGetLastError();
}

static __device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }

__global__ void swiglu_kernel(uint16_t *out, const float *gu, int T, int F) {
    gck_pdl_enter();
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)T * F) return;
    const long long r = i / F, j = i % F;
    const float *row = gu + r * 2 * F;
    out[i] = f2bf(silu_mul(row[j], row[F + j]));
}

// Four elements per thread with 16-byte loads (F % 4 == 0).
__global__ void swiglu4_kernel(uint16_t *out, const float *gu, int T, int F) {
    gck_pdl_enter();
    const long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (i >= (long long)T * F) return;
    const long long r = i / F, j = i % F;
    const float4 g = *(const float4 *)(gu + r * 2 * F + j), u = *(const float4 *)(gu + r * 2 * F + F + j);
    ushort4 o;
    o.x = f2bf(silu_mul(g.x, u.x)); o.y = f2bf(silu_mul(g.y, u.y));
    o.z = f2bf(silu_mul(g.z, u.z)); o.w = f2bf(silu_mul(g.w, u.w));
    *(ushort4 *)(out + i) = o;
}

extern "C" cudaError_t gck_swiglu(cudaStream_t s, uint16_t *out, const float *gu, int T, int F) {
    if (T <= 0) return cudaSuccess;
    if (F % 4 == 0) gck_launch(swiglu4_kernel, cdiv((long long)T * F / 4, 256), 256, 0, s, out, gu, T, F);
    else gck_launch(swiglu_kernel, cdiv((long long)T * F, 256), 256, 0, s, out, gu, T, F);
    return cudaGetLastError();
}

__global__ void to_bf16_kernel(uint16_t *out, const float *in, size_t n) {
    gck_pdl_enter();
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = f2bf(in[i]);
}

extern "C" cudaError_t gck_to_bf16(cudaStream_t s, uint16_t *out, const float *in, size_t n) {
    if (!n) return cudaSuccess;
    gck_launch(to_bf16_kernel, cdiv((long long)n, 256), 256, 0, s, out, in, n);
    return cudaGetLastError();
}

__global__ void rescale_rows_kernel(float *e, int D, double target) {
    gck_pdl_enter();
    __shared__ double sh[32];
    float *row = e + (size_t)blockIdx.x * D;
    double ss = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) ss += (double)row[i] * row[i];
    ss = block_sum(ss, sh);
    const double nrm = sqrt(ss);
    const float sc = (float)(target / (nrm > 1e-6 ? nrm : 1e-6));
    for (int i = threadIdx.x; i < D; i += blockDim.x) row[i] *= sc;
}

extern "C" cudaError_t gck_rescale_rows(cudaStream_t s, float *e, int n, int D, double target) {
    if (n <= 0) return cudaSuccess;
    gck_launch(rescale_rows_kernel, n, 256, 0, s, e, D, target);
    return cudaGetLastError();
}
