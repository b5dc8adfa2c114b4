// Choosing the next token on the device: greedy argmax and the seeded draw
// of gc_token_draw_row (include/gcache/sampler.h), so only one int per row
// crosses the bus instead of a V-float logits row.
//
// One block of 1024 threads per row of logits (V floats). Masses and their
// sums are float64 with the host's expression exp(((double)l − m) · (1.0 /
// (double)T)), so device and host draws agree (see gcache/sampler.h). The draw:
//   1. m = max logit; p_i = exp((l_i − m) / temperature), recomputed on
//      every pass (the row, 600 KB at V = 151 936, stays in L2).
//   2. top-k: the k-th largest logit by radix select over order-preserving
//      32-bit keys of the floats (4 passes of 8-bit digits, integer
//      histograms: exact and deterministic). Kept: key >= that key.
//   3. top-p: the largest key threshold whose kept mass reaches top_p of the
//      top-k mass, by radix descent over 4-bit digits (8 passes); each
//      thread sums its elements into 16 register bins, reduced across the
//      block in a fixed order, so the result does not depend on timing.
//   4. The pick: each thread owns a contiguous chunk of ids and sums its
//      kept mass; one thread scans the 1024 chunk sums in order, target =
//      u · total, and the thread whose chunk holds the target walks it in
//      index order (the same additions in the same order as its sum).
#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#define NT 1024
#define NW (NT / 32)

// Order-preserving key: a < b (as floats, NaN excluded) ⇔ key(a) < key(b);
// −0 and +0 get one key, as they compare equal on the host.
static __device__ __forceinline__ uint32_t fkey(float f) {
    const uint32_t b = __float_as_uint(f == 0.0f ? 0.0f : f);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Largest value over the block (blockDim.x == NT), lowest index on ties.
static __device__ void block_argmax(float &best, int &idx, float *bv, int *bi) {
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(FULL_MASK, best, o);
        const int oi = __shfl_xor_sync(FULL_MASK, idx, o);
        if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { bv[warp] = best; bi[warp] = idx; }
    __syncthreads();
    if (warp == 0) {
        best = bv[lane];
        idx = bi[lane];
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(FULL_MASK, best, o);
            const int oi = __shfl_xor_sync(FULL_MASK, idx, o);
            if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
        }
        if (lane == 0) { bv[0] = best; bi[0] = idx; }
    }
    __syncthreads();
    best = bv[0];
    idx = bi[0];
    __syncthreads();
}

// Row argmax with NaN read as −inf (ties → lowest index).
static __device__ int row_argmax(const float *row, int V, float *best_out, float *bv, int *bi) {
    float best = -INFINITY;
    int idx = INT32_MAX;
    for (int v = threadIdx.x; v < V; v += NT) {
        float val = row[v];
        if (val != val) val = -INFINITY;
        if (val > best || idx == INT32_MAX) { best = val; idx = v; }
    }
    block_argmax(best, idx, bv, bi);
    if (best_out) *best_out = best;
    return idx;
}

// Sums NB per-thread values over the block in a fixed order; sh (NW, NB).
template <int NB>
static __device__ void block_sum_bins(double (&v)[NB], double *sh) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int b = 0; b < NB; b++)
        for (int o = 16; o > 0; o >>= 1) v[b] += __shfl_xor_sync(FULL_MASK, v[b], o);
    if (lane == 0)
#pragma unroll
        for (int b = 0; b < NB; b++) sh[warp * NB + b] = v[b];
    __syncthreads();
#pragma unroll
    for (int b = 0; b < NB; b++) {
        double s = 0.0;
        for (int w = 0; w < NW; w++) s += sh[w * NB + b];
        v[b] = s;
    }
    __syncthreads();
}

__global__ void __launch_bounds__(NT) argmax_kernel(int32_t *out, const float *x, int V) {
    gck_pdl_enter();
    __shared__ float bv[NW];
    __shared__ int bi[NW];
    const int idx = row_argmax(x + (size_t)blockIdx.x * V, V, NULL, bv, bi);
    if (threadIdx.x == 0) out[blockIdx.x] = idx;
}

__global__ void __launch_bounds__(NT) sample_kernel(int32_t *out, const float *x, const gck_draw *draws, int V) {
    gck_pdl_enter();
    __shared__ float bv[NW];
    __shared__ int bi[NW];
    __shared__ int hist[256];
    __shared__ double bins[NW * 16];
    __shared__ uint32_t sel;
    __shared__ int found;
    const float *row = x + (size_t)blockIdx.x * V;
    const gck_draw d = draws[blockIdx.x];
    float m;
    const int amax = row_argmax(row, V, &m, bv, bi);
    if (!(d.temperature > 0.0f) || !(m > -INFINITY)) {
        if (threadIdx.x == 0) out[blockIdx.x] = amax;
        return;
    }
    const double inv_t = 1.0 / (double)d.temperature, md = (double)m;
    const int tid = threadIdx.x;

    // ---- top-k: key of the k-th largest logit ----
    uint32_t tk = 0;
    if (d.top_k > 0 && d.top_k < V) {
        uint32_t prefix = 0, mask = 0;
        int need = d.top_k;
        for (int shift = 24; shift >= 0; shift -= 8) {
            if (tid < 256) hist[tid] = 0;
            __syncthreads();
            for (int v = tid; v < V; v += NT) {
                const float l = row[v];
                if (l != l) continue;
                const uint32_t k = fkey(l);
                if ((k & mask) == prefix) atomicAdd(&hist[(k >> shift) & 255u], 1);
            }
            __syncthreads();
            if (tid == 0) {
                int acc = 0;
                uint32_t dsel = 0;
                for (int g = 255; g >= 0; g--) {
                    if (acc + hist[g] >= need) { dsel = (uint32_t)g; need -= acc; break; }
                    acc += hist[g];
                }
                sel = dsel;
            }
            __syncthreads();
            prefix |= sel << shift;
            mask |= 255u << shift;
            __syncthreads();
        }
        tk = prefix;
    }

    // ---- top-p: threshold key reaching top_p of the kept mass ----
    uint32_t tp = 0;
    if (d.top_p < 1.0f) {
        double z[1] = {0.0};
        for (int v = tid; v < V; v += NT) {
            const float l = row[v];
            if (l == l && fkey(l) >= tk) z[0] += exp(((double)l - md) * inv_t);
        }
        block_sum_bins<1>(z, bins);
        const double target = (double)d.top_p * z[0];
        uint32_t prefix = 0, mask = 0;
        double above = 0.0;
        for (int shift = 28; shift >= 0; shift -= 4) {
            double b[16];
#pragma unroll
            for (int g = 0; g < 16; g++) b[g] = 0.0;
            for (int v = tid; v < V; v += NT) {
                const float l = row[v];
                if (l != l) continue;
                const uint32_t k = fkey(l);
                if ((k & mask) != prefix || k < tk) continue;
                const double p = exp(((double)l - md) * inv_t);
                const uint32_t g = (k >> shift) & 15u;
#pragma unroll
                for (int j = 0; j < 16; j++) b[j] += (g == (uint32_t)j) ? p : 0.0;
            }
            block_sum_bins<16>(b, bins);
            // Every thread holds the same totals: descend identically.
            uint32_t dsel = 0;
            for (int g = 15; g >= 0; g--) {
                if (above + b[g] >= target) { dsel = (uint32_t)g; break; }
                above += b[g];
            }
            prefix |= dsel << shift;
            mask |= 15u << shift;
        }
        tp = prefix;
    }
    const uint32_t thr = tk > tp ? tk : tp;

    // ---- the pick, in index order ----
    const int chunk = (V + NT - 1) / NT, lo = tid * chunk, hi = min(V, lo + chunk);
    double s = 0.0;
    for (int v = lo; v < hi; v++) {
        const float l = row[v];
        if (l == l && fkey(l) >= thr) s += exp(((double)l - md) * inv_t);
    }
    // Thread 0 scans the 1024 chunk sums in order (monotone, deterministic)
    // and names the chunk that holds target = u · total.
    __shared__ double csum[NT];
    __shared__ double cbefore;
    csum[tid] = s;
    __syncthreads();
    if (tid == 0) {
        double total = 0.0;
        for (int t = 0; t < NT; t++) total += csum[t];
        const float u = fminf(fmaxf(d.u, 0.0f), 0x1.fffffep-1f);
        const double target = (double)u * total;
        double acc = 0.0;
        int pick = -1, last = -1;
        double pick_before = 0.0;
        for (int t = 0; t < NT; t++) {
            if (csum[t] > 0.0) {
                last = t;
                if (pick < 0 && target < acc + csum[t]) { pick = t; pick_before = acc; }
            }
            acc += csum[t];
        }
        if (pick < 0) { pick = last; pick_before = acc - (last >= 0 ? csum[last] : 0.0); }
        found = pick;   // the chunk, for now
        cbefore = target - pick_before;
    }
    __syncthreads();
    if (tid == found) {
        // Same additions in the same order as the chunk sum; past the end
        // (rounding) the chunk's last id with mass is taken.
        double acc = 0.0;
        int r = -1;
        for (int v = lo; v < hi; v++) {
            const float l = row[v];
            if (l == l && fkey(l) >= thr) {
                const double p = exp(((double)l - md) * inv_t);
                if (!(p > 0.0)) continue;
                acc += p;
                r = v;
                if (cbefore < acc) break;
            }
        }
        out[blockIdx.x] = r;
    } else if (tid == 0 && found < 0) {
        out[blockIdx.x] = amax;   // nothing kept (cannot happen: the max is always kept)
    }
}

extern "C" cudaError_t gck_argmax(cudaStream_t s, int32_t *out, const float *x, int n, int V) {
    if (n <= 0) return cudaSuccess;
    gck_launch(argmax_kernel, n, NT, 0, s, out, x, V);
    return cudaGetLastError();
}

extern "C" cudaError_t gck_sample(cudaStream_t s, int32_t *out, const float *x, const gck_draw *draws, int n, int V) {
    if (n <= 0) return cudaSuccess;
    gck_launch(sample_kernel, n, NT, 0, s, out, x, draws, V);
    return cudaGetLastError();
}
