// Kernel lab: one Qwen3-style decoder layer for a decode step of T = 1..16 new
// rows, as separate kernels and as one persistent cooperative kernel.
//
// The layer (the product's order, src/backend/cuda/cuda_forward.c launch_step):
//   xn  = bf16(RMSNorm(x) · attn_norm)                     x: f32 residual (T, D)
//   qkv = xn · Wqkvᵀ                                       Wqkv bf16 (H·hd + 2·KV·hd, D), f32 out
//   q, k = RMSNorm per head (q_norm, k_norm: hd) then RoPE (NeoX pairs i, i + hd/2,
//          theta 1e6); k, v written to the bf16 KV cache at the row's position
//   att = bf16(softmax(q·Kᵀ / sqrt(hd)) · V)              per q head, GQA (H / KV q heads per KV head)
//   x  += att · Woᵀ                                        Wo (D, H·hd)
//   xn  = bf16(RMSNorm(x) · ffn_norm)
//   act = bf16(silu(gate) · up), gate|up = xn · Wguᵀ       Wgu (2F, D): gate rows 0..F-1, up rows F..2F-1
//   x  += act · Wdownᵀ                                     Wdown (D, F)
// Shapes (argument 3): 4B D 2560, F 9728, H 32, KV 8, hd 128; 0.6B D 1024,
// F 3072, H 16, KV 8, hd 128 (hd must be 128, H / KV 2 or 4).
// Sequences: "batch" (each row its own sequence of ctx cached positions, the
// row at position ctx: batch decode, the common case) or "one" (all T rows in
// one sequence, row t at position ctx + t, attending to the rows before it).
// KV cache (lab layout): K and V each (S, cap, KV, hd) bf16, cap = ctx + T.
//
// Versions (argument 1; "all" runs every one):
//   1  separate kernels in the product's order, launched into a CUDA graph:
//      rmsnorm → GEMV (qkv) → q/k norm + RoPE + KV write → attention → GEMV
//      (o, + residual) → rmsnorm → GEMV (gate/up, SwiGLU in its epilogue) →
//      GEMV (down, + residual). 8 launches per layer.
//   2  ONE persistent cooperative kernel per layer (grid = resident blocks,
//      grid.sync() between 5 phases): [qkv GEMV, RMSNorm applied while staging
//      x; the warp that finishes a head's last row applies q/k norm + RoPE and
//      writes q / the KV cache] [attention; the last split of a (row, KV head)
//      merges] [o GEMV + residual] [gate/up GEMV, RMSNorm while staging,
//      SwiGLU in the epilogue] [down GEMV + residual]. Activations stay in
//      global memory / L2 (T × D is small).
//   3  version 2 plus an L2 prefetch (cp.async.bulk.prefetch.L2) of the first
//      `pf` KB (argument 4, default 64) of each block's slab of the next
//      phase's matrix when its work in the current phase is done, so the
//      next phase starts on L2 hits while the slowest blocks finish (the
//      ramp/tail of issue 14); the Wo slab is prefetched whole before
//      attention (attention reads no weights).
//
// The GEMV (shared by all versions, so versions differ only in launches,
// syncs and fusion): block b of G owns the contiguous rows [b·N/G, (b+1)·N/G)
// of W (for gate/up: the gate/up row pairs n, F + n); x's T rows are staged
// in shared memory as bf16 in K chunks that fit (all of K when T · K · 2 <=
// the staging buffer); warp w of the block takes the block's rows w, w + 8, …
// and streams each with 16-byte loads, 8 in flight per lane, against the T
// staged rows; its per-row partial sums live in shared memory across chunks
// (same warp, fixed order: deterministic); the owner lane writes the result.
// Attention: item (row, KV head, split of the visible positions); a warp
// takes 32 positions at a time, one per lane (score = dot over hd from a
// 16-byte-loaded K row against q in shared memory), online softmax per q
// head, then V rows with lanes over hd; the block's 8 warps merge in shared
// memory, splits merge in fixed order in the block that finishes last
// (counter per (row, KV head), reset by that block).
//
// Checks, per (model, T, ctx, sequence mode, version): the CPU runs the whole
// layer in float storage with double accumulation on the same bf16 inputs,
// rounding to bf16 where the kernels store bf16 (xn, att, act, K/V); the
// kernels' x delta (x_out - x_in) against the CPU's: max|Δ - ref| / max|ref|
// <= 1e-2 (f32 accumulation in another order can move a staged bf16 input to
// its neighbour, 2^-8 relative, and such flips pass through the following
// products; the typical error is ~1e-3), no NaN in x; a second run from the
// same inputs bit-identical (x and the written KV rows). Beside the check, each
// version's x against the first version run ("== v1": bit-identical, as the
// shared arithmetic should make it; "!=" points at a fusion or ordering bug).
// Timing (common.cuh): one CUDA graph of L layer calls rotating over copies
// of the layer (weights and KV cache) totalling >= 256 MB, so weights come
// from HBM; µs per layer; GB/s counts weight bytes + the KV bytes read (each
// visible cache position once per sequence); % of the measured copy floor.
//
// Build: make -C dev/cuda decode_layer
// Run:   dev/cuda/decode_layer [version|all] [reps] [4B|0.6B|all] [pf KB] [T] [ctx]
// Exit status 1 if a check fails.
#include "../../src/backend/cuda/common.cuh"
#include "common.cuh"

#include <cooperative_groups.h>

namespace cg = cooperative_groups;

static const int MAX_T = 16, HD = 128, WARPS = 8, THREADS = WARPS * 32;

// ---------------------------------------------------------------- parameters

// Everything a layer call reads and writes (device pointers); one copy per
// rotated layer (weights, norms, KV cache), the activations shared.
struct layer_args {
    // shapes
    int T, D, F, H, KV, S, ctx, cap, one_seq;
    float eps, scale;
    // weights (bf16) and norm weights (f32)
    const uint16_t *wqkv, *wo, *wgu, *wdown;
    const float *attn_norm, *ffn_norm, *q_norm, *k_norm, *inv_freq;
    // KV cache (S, cap, KV, hd) bf16
    uint16_t *kc, *vc;
    // activations
    float *x;          // (T, D) residual, in and out
    uint16_t *xn;      // (T, D) bf16, version 1's rmsnorm output
    float *qkv;        // (T, H·hd + 2·KV·hd)
    float *q;          // (T, H, hd) after norm + RoPE
    uint16_t *att;     // (T, H·hd) bf16
    uint16_t *act;     // (T, F) bf16
    float *part;       // attention split partials: (T·KV·nsplit, qpg, hd + 2)
    int *head_cnt;     // (H + 2·KV) rows-done counters, zero between calls
    int *att_cnt;      // (T·KV) splits-done counters, zero between calls
    int nsplit;        // attention splits per (row, KV head)
    int xs_elems;      // bf16 elements of the GEMV staging buffer
    int max_rpb;       // the most GEMV units (rows or row pairs) a block owns
    int pf_bytes;      // version 3: bytes of the next slab prefetched per block
};

// Dynamic shared memory: [sacc: max_rpb · 16 · 2 f32][rs: 16 f32][xs: xs_elems bf16];
// the attention phase reuses it from the start as f32.
static size_t gemv_smem_bytes(int max_rpb, int xs_elems) {
    return (size_t)max_rpb * MAX_T * 2 * 4 + MAX_T * 4 + (size_t)xs_elems * 2;
}
static size_t attn_smem_bytes(int qpg) {
    // q (qpg, hd) + per-warp p (8, qpg, 32) + per-warp partials (8, qpg, hd + 2)
    return ((size_t)qpg * HD + (size_t)WARPS * qpg * 32 + (size_t)WARPS * qpg * (HD + 2)) * 4;
}

// Row t's sequence and position.
static __device__ __forceinline__ void row_pos(const layer_args &a, int t, int &s, int &pos) {
    s = a.one_seq ? 0 : t;
    pos = a.one_seq ? a.ctx + t : a.ctx;
}

// ---------------------------------------------------------------- block helpers

static __device__ double block_sum(double v, double *sh) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    double r = 0;
    for (int w = 0; w < WARPS; w++) r += sh[w];   // every thread, same order
    __syncthreads();
    return r;
}

// 1 / sqrt(mean(x²) + eps) of a row of D floats (sum in double).
static __device__ float row_rstd(const float *x, int D, float eps, double *sh) {
    double ss = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        const float v = __ldcg(x + i);
        ss += (double)v * v;
    }
    ss = block_sum(ss, sh);
    return (float)(1.0 / sqrt(ss / (double)D + (double)eps));
}

static __device__ __forceinline__ void fma8(float &acc, const int4 &w, const int4 &x) {
    const __nv_bfloat162 *wp = (const __nv_bfloat162 *)&w, *xp = (const __nv_bfloat162 *)&x;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float2 a = __bfloat1622float2(wp[i]), b = __bfloat1622float2(xp[i]);
        acc = fmaf(a.x, b.x, acc);
        acc = fmaf(a.y, b.y, acc);
    }
}

static __device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }

// L2 prefetch of [p, p + bytes) (bytes a multiple of 16, p 16-byte aligned):
// one bulk prefetch per 64 KB piece, issued by thread 0.
static __device__ __forceinline__ void prefetch_l2(const void *p, size_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (threadIdx.x != 0) return;
    const char *c = (const char *)p;
    for (size_t o = 0; o < bytes; o += 65536) {
        const unsigned n = (unsigned)min((size_t)65536, bytes - o);
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(c + o), "r"(n) : "memory");
    }
#endif
}

// The units [u0, u1) block b of nb owns out of n.
static __device__ __forceinline__ void owned(int n, int b, int nb, int &u0, int &u1) {
    u0 = (int)((long long)n * b / nb);
    u1 = (int)((long long)n * (b + 1) / nb);
}
// Version 3: prefetch block b's slab of the next matrix W (N, K) (rows_per_unit
// rows per owned unit: 1, or gate and up rows for gate/up, which are two slabs).
static __device__ void prefetch_slab(const uint16_t *W, int nunits, int K, int pair_off, int b, int nb, size_t cap) {
    int u0, u1;
    owned(nunits, b, nb, u0, u1);
    if (u1 <= u0 || cap == 0) return;
    const size_t slab = (size_t)(u1 - u0) * K * 2, bytes = cap < slab ? cap : slab;
    prefetch_l2(W + (size_t)u0 * K, bytes);
    if (pair_off) prefetch_l2(W + ((size_t)pair_off + u0) * K, bytes);
}

// ---------------------------------------------------------------- the GEMV phase

// How the GEMV stages x and finishes its rows.
enum { IN_BF16 = 0, IN_NORM = 1 };                       // x: bf16 (T, K) / f32 residual, RMSNorm · w
enum { OUT_F32 = 0, OUT_RESID = 1, OUT_SWIGLU = 2, OUT_QKV_POST = 3 };

static __device__ void qkv_head_post(const layer_args &a, int j);

// y (T, N) = x (T, K) · W (N, K)ᵀ over block b's units. OUT_F32: y f32;
// OUT_RESID: y[t][n] += (the residual); OUT_SWIGLU: units are n < F = N,
// rows n and F + n, act[t][n] = bf16(silu(g) · u); OUT_QKV_POST: as OUT_F32
// into a.qkv, then the warp that completes a head's hd rows applies the head
// epilogue (qkv_head_post).
template <int IN, int OUT>
static __device__ void gemv_phase(const layer_args &a, const uint16_t *W, int N, int K, const void *xin,
                                  const float *nw, void *yout, int b, int nb, float *sm, double *shd) {
    const int T = a.T, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int u0, u1;
    owned(N, b, nb, u0, u1);
    if (u1 <= u0) return;
    float *sacc = sm;                                    // (max_rpb, 16, 2)
    float *rs = sm + (size_t)a.max_rpb * MAX_T * 2;      // (16)
    int4 *xs4 = (int4 *)(rs + MAX_T);                    // (T, kc) bf16
    uint16_t *xs = (uint16_t *)xs4;
    const int nrow = OUT == OUT_SWIGLU ? 2 : 1;
    for (int i = threadIdx.x; i < (u1 - u0) * MAX_T * 2; i += blockDim.x) sacc[i] = 0.0f;
    if (IN == IN_NORM)
        for (int t = 0; t < T; t++) {
            const float r = row_rstd((const float *)xin + (size_t)t * K, K, a.eps, shd);
            if (threadIdx.x == 0) rs[t] = r;
        }
    // K chunks: the fewest that fit the staging buffer, equal, multiples of 8.
    const int kmax = (a.xs_elems / T) & ~7;
    const int nch = (K + kmax - 1) / kmax;
    const int kc = ((K + nch - 1) / nch + 7) & ~7;
    for (int k0 = 0; k0 < K; k0 += kc) {
        const int kl = min(kc, K - k0), nc = kl / 8;
        __syncthreads();   // previous chunk's readers done, sacc zeroed, rs written
        if (IN == IN_BF16) {
            const uint16_t *src = (const uint16_t *)xin;
            for (int i = threadIdx.x; i < T * nc; i += blockDim.x) {
                const int t = i / nc, c = i % nc;
                xs4[i] = __ldcg((const int4 *)(src + (size_t)t * K + k0) + c);
            }
        } else {
            const float *src = (const float *)xin;
            for (int i = threadIdx.x; i < T * kl; i += blockDim.x) {
                const int t = i / kl, k = i % kl;
                xs[i] = f2bf(__ldcg(src + (size_t)t * K + k0 + k) * rs[t] * nw[k0 + k]);
            }
        }
        __syncthreads();
        for (int u = u0 + warp; u < u1; u += WARPS) {
            for (int h = 0; h < nrow; h++) {
                const int n = u + h * N;   // gate row n, up row F + n (N = F)
                const int4 *wr = (const int4 *)(W + (size_t)n * K + k0);
                float acc[MAX_T];
#pragma unroll
                for (int t = 0; t < MAX_T; t++) acc[t] = 0.0f;
                int c = lane;
                for (; c + 224 < nc; c += 256) {
                    int4 wv[8];
#pragma unroll
                    for (int i = 0; i < 8; i++) wv[i] = __ldg(wr + c + 32 * i);
#pragma unroll
                    for (int t = 0; t < MAX_T; t++)
                        if (t < T) {
                            const int4 *xt = xs4 + t * nc + c;
#pragma unroll
                            for (int i = 0; i < 8; i++) fma8(acc[t], wv[i], xt[32 * i]);
                        }
                }
                for (; c < nc; c += 32) {
                    const int4 w0 = __ldg(wr + c);
#pragma unroll
                    for (int t = 0; t < MAX_T; t++)
                        if (t < T) fma8(acc[t], w0, xs4[t * nc + c]);
                }
#pragma unroll
                for (int t = 0; t < MAX_T; t++)
                    if (t < T) {
                        float v = acc[t];
                        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
                        if (lane == 0) sacc[((u - u0) * MAX_T + t) * 2 + h] += v;
                    }
            }
        }
    }
    // Epilogue: the warp that accumulated unit u finishes it (lane 0 wrote its sums).
    for (int u = u0 + warp; u < u1; u += WARPS) {
        const float *sa = sacc + (size_t)(u - u0) * MAX_T * 2;
        if (lane == 0)
            for (int t = 0; t < T; t++) {
                if (OUT == OUT_RESID) {
                    float *y = (float *)yout + (size_t)t * N + u;
                    *y = __ldcg(y) + sa[t * 2];
                } else if (OUT == OUT_SWIGLU) {
                    ((uint16_t *)yout)[(size_t)t * N + u] = f2bf(silu_mul(sa[t * 2], sa[t * 2 + 1]));
                } else {
                    ((float *)yout)[(size_t)t * N + u] = sa[t * 2];
                }
            }
        if (OUT == OUT_QKV_POST) {
            int last = 0;
            if (lane == 0) {
                __threadfence();                                   // this row's T outputs before the count
                last = atomicAdd(&a.head_cnt[u / HD], 1) == HD - 1;
                if (last) __threadfence();                         // the other rows' outputs before reading them
            }
            last = __shfl_sync(FULL_MASK, last, 0);
            if (last) qkv_head_post(a, u / HD);
        }
    }
}

// Head j of qkv (q heads, then k, then v) for all T rows, by one warp: RMSNorm
// (q, k) and RoPE, q into a.q (f32), k and v into the cache (bf16) at each
// row's position; resets the head's counter.
static __device__ void qkv_head_post(const layer_args &a, int j) {
    const int lane = threadIdx.x & 31, H = a.H, KV = a.KV, W3 = (H + 2 * KV) * HD, half = HD / 2;
    for (int t = 0; t < a.T; t++) {
        float v[4];   // dims lane, lane + 32, lane + 64, lane + 96: pairs (lane, lane + 64), (lane + 32, lane + 96)
#pragma unroll
        for (int i = 0; i < 4; i++) v[i] = __ldcg(a.qkv + (size_t)t * W3 + (size_t)j * HD + lane + 32 * i);
        int s, pos;
        row_pos(a, t, s, pos);
        if (j < H + KV) {
            const float *nw = j < H ? a.q_norm : a.k_norm;
            double ss = 0;
#pragma unroll
            for (int i = 0; i < 4; i++) ss += (double)v[i] * v[i];
            for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(FULL_MASK, ss, o);
            const float r = (float)(1.0 / sqrt(ss / (double)HD + (double)a.eps));
#pragma unroll
            for (int i = 0; i < 4; i++) v[i] = v[i] * r * nw[lane + 32 * i];
            float o4[4];
#pragma unroll
            for (int p = 0; p < 2; p++) {   // pair (i, i + half), i = lane + 32 p
                float sn, cs;
                sincosf((float)pos * a.inv_freq[lane + 32 * p], &sn, &cs);
                const float x0 = v[p], x1 = v[p + 2];
                o4[p] = x0 * cs - x1 * sn;
                o4[p + 2] = x1 * cs + x0 * sn;
            }
            (void)half;
            if (j < H) {
#pragma unroll
                for (int i = 0; i < 4; i++) a.q[((size_t)t * H + j) * HD + lane + 32 * i] = o4[i];
            } else {
                uint16_t *dst = a.kc + (((size_t)s * a.cap + pos) * KV + (j - H)) * HD;
#pragma unroll
                for (int i = 0; i < 4; i++) dst[lane + 32 * i] = f2bf(o4[i]);
            }
        } else {
            uint16_t *dst = a.vc + (((size_t)s * a.cap + pos) * KV + (j - H - KV)) * HD;
#pragma unroll
            for (int i = 0; i < 4; i++) dst[lane + 32 * i] = f2bf(v[i]);
        }
    }
    if (lane == 0) a.head_cnt[j] = 0;   // every row of this head has arrived: no one else touches it this call
}

// ---------------------------------------------------------------- attention

// Item it = ((t · KV) + g) · nsplit + sp: row t, KV head g, split sp of the
// row's visible positions [0, pos]. Writes the split's (m, l, o) for its qpg
// q heads to a.part; the block finishing the last split merges all in order
// into a.att (bf16).
template <int QPG> static __device__ void attention_item(const layer_args &a, int it, float *sm) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int sp = it % a.nsplit, tg = it / a.nsplit, g = tg % a.KV, t = tg / a.KV;
    int s, pos;
    row_pos(a, t, s, pos);
    const int vis = pos + 1;
    const int chunk = ((vis + a.nsplit - 1) / a.nsplit + 31) & ~31;
    const int p0 = sp * chunk, p1 = min(vis, p0 + chunk);
    float *qs = sm;                                  // (QPG, hd)
    float *pw = qs + QPG * HD;                       // (8, QPG, 32)
    float *wp = pw + WARPS * QPG * 32;               // (8, QPG, hd + 2)
    __syncthreads();   // smem free (previous item / phase)
    for (int i = threadIdx.x; i < QPG * HD; i += blockDim.x)
        qs[i] = __ldcg(a.q + ((size_t)t * a.H + g * QPG) * HD + i);
    __syncthreads();
    float m[QPG], l[QPG], o[QPG][4];
#pragma unroll
    for (int h = 0; h < QPG; h++) {
        m[h] = -INFINITY;
        l[h] = 0.0f;
#pragma unroll
        for (int i = 0; i < 4; i++) o[h][i] = 0.0f;
    }
    // The cache through L1 (plain loads): no block of this kernel has read it before this phase
    // (the new rows were written in the qkv phase, before a grid.sync), so L1 holds no stale line.
    const size_t rstride = (size_t)a.KV * HD;   // elements between positions
    const uint16_t *kb = a.kc + ((size_t)s * a.cap * a.KV + g) * HD;
    const uint16_t *vb = a.vc + ((size_t)s * a.cap * a.KV + g) * HD;
    float *pwarp = pw + warp * QPG * 32;
    for (int base = p0 + warp * 32; base < p1; base += WARPS * 32) {
        const int p = base + lane;
        const bool ok = p < p1;
        float sc[QPG];
#pragma unroll
        for (int h = 0; h < QPG; h++) sc[h] = 0.0f;
        if (ok) {
            const int4 *kr = (const int4 *)(kb + (size_t)p * rstride);
#pragma unroll 4
            for (int c = 0; c < HD / 8; c++) {
                const int4 kv = kr[c];   // plain load: the lane's next 16 bytes hit the same L1 sector
                const __nv_bfloat162 *k2 = (const __nv_bfloat162 *)&kv;
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const float2 kf = __bfloat1622float2(k2[i]);
#pragma unroll
                    for (int h = 0; h < QPG; h++) {
                        const float2 qf = *(const float2 *)(qs + h * HD + c * 8 + 2 * i);
                        sc[h] = fmaf(kf.x, qf.x, sc[h]);
                        sc[h] = fmaf(kf.y, qf.y, sc[h]);
                    }
                }
            }
        }
#pragma unroll
        for (int h = 0; h < QPG; h++) {
            const float sv = ok ? sc[h] * a.scale : -INFINITY;
            float mx = sv;
            for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, off));
            const float mn = fmaxf(m[h], mx);   // finite: lane 0's position is valid
            const float pe = ok ? expf(sv - mn) : 0.0f;
            float ps = pe;
            for (int off = 16; off > 0; off >>= 1) ps += __shfl_xor_sync(FULL_MASK, ps, off);
            const float corr = expf(m[h] - mn);   // 0 on the first tile (m = -inf)
            l[h] = l[h] * corr + ps;
#pragma unroll
            for (int i = 0; i < 4; i++) o[h][i] *= corr;
            m[h] = mn;
            pwarp[h * 32 + lane] = pe;
        }
        __syncwarp();
        const int np = min(32, p1 - base);
        for (int jj = 0; jj < np; jj++) {
            const uint16_t *vr = vb + (size_t)(base + jj) * rstride;
            float vv[4];
#pragma unroll
            for (int i = 0; i < 4; i++) vv[i] = bf2f(vr[lane + 32 * i]);
#pragma unroll
            for (int h = 0; h < QPG; h++) {
                const float pj = pwarp[h * 32 + jj];
#pragma unroll
                for (int i = 0; i < 4; i++) o[h][i] = fmaf(pj, vv[i], o[h][i]);
            }
        }
        __syncwarp();
    }
    // Merge the 8 warps (fixed order) into this split's partial.
#pragma unroll
    for (int h = 0; h < QPG; h++) {
        float *d = wp + (warp * QPG + h) * (HD + 2);
#pragma unroll
        for (int i = 0; i < 4; i++) d[lane + 32 * i] = o[h][i];
        if (lane == 0) d[HD] = m[h], d[HD + 1] = l[h];
    }
    __syncthreads();
    float *dst = a.part + (size_t)it * QPG * (HD + 2);
    for (int e = threadIdx.x; e < QPG * HD; e += blockDim.x) {
        const int h = e / HD, d = e % HD;
        float M = -INFINITY;
        for (int w = 0; w < WARPS; w++) M = fmaxf(M, wp[(w * QPG + h) * (HD + 2) + HD]);
        float L = 0.0f, O = 0.0f;
        for (int w = 0; w < WARPS; w++) {
            const float *src = wp + (w * QPG + h) * (HD + 2);
            const float f = src[HD] == -INFINITY ? 0.0f : expf(src[HD] - M);
            L += src[HD + 1] * f;
            O += src[d] * f;
        }
        if (a.nsplit == 1) {
            a.att[((size_t)t * a.H + g * QPG + h) * HD + d] = f2bf(O / L);
        } else {
            dst[h * (HD + 2) + d] = O;
            if (d == 0) dst[h * (HD + 2) + HD] = M, dst[h * (HD + 2) + HD + 1] = L;
        }
    }
    if (a.nsplit == 1) return;
    __shared__ int last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        last = atomicAdd(&a.att_cnt[tg], 1) == a.nsplit - 1;
        if (last) {
            a.att_cnt[tg] = 0;   // every split of (t, g) is in
            __threadfence();
        }
    }
    __syncthreads();
    if (!last) return;
    const float *pp = a.part + (size_t)tg * a.nsplit * QPG * (HD + 2);
    for (int e = threadIdx.x; e < QPG * HD; e += blockDim.x) {
        const int h = e / HD, d = e % HD;
        float M = -INFINITY;
        for (int k = 0; k < a.nsplit; k++) M = fmaxf(M, __ldcg(pp + (k * QPG + h) * (HD + 2) + HD));
        float L = 0.0f, O = 0.0f;
        for (int k = 0; k < a.nsplit; k++) {
            const float *src = pp + (k * QPG + h) * (HD + 2);
            const float mk = __ldcg(src + HD);
            const float f = mk == -INFINITY ? 0.0f : expf(mk - M);
            L += __ldcg(src + HD + 1) * f;
            O += __ldcg(src + d) * f;
        }
        a.att[((size_t)t * a.H + g * QPG + h) * HD + d] = f2bf(O / L);
    }
}

static __device__ void attention_phase(const layer_args &a, int b, int nb, float *sm) {
    const int n = a.T * a.KV * a.nsplit, qpg = a.H / a.KV;
    for (int it = b; it < n; it += nb) {
        if (qpg == 2) attention_item<2>(a, it, sm);
        else attention_item<4>(a, it, sm);
    }
}

// ---------------------------------------------------------------- version 1: separate kernels

extern __shared__ __align__(16) float dyn_sm[];   // the staging buffer is read as int4

__global__ void __launch_bounds__(THREADS) rmsnorm_kernel(layer_args a, const float *w) {
    __shared__ double shd[WARPS];
    const int t = blockIdx.x;
    const float *x = a.x + (size_t)t * a.D;
    const float r = row_rstd(x, a.D, a.eps, shd);
    for (int i = threadIdx.x; i < a.D; i += blockDim.x) a.xn[(size_t)t * a.D + i] = f2bf(x[i] * r * w[i]);
}

template <int OUT>
__global__ void __launch_bounds__(THREADS, 2) gemv_kernel(layer_args a, const uint16_t *W, int N, int K,
                                                          const uint16_t *xin, void *y) {
    __shared__ double shd[WARPS];
    gemv_phase<IN_BF16, OUT>(a, W, N, K, xin, nullptr, y, blockIdx.x, gridDim.x, dyn_sm, shd);
}

// One warp per (row, head); 8 heads per block.
__global__ void __launch_bounds__(THREADS) qkv_post_kernel(layer_args a) {
    const int nh = a.H + 2 * a.KV, j = blockIdx.x * WARPS + (threadIdx.x >> 5);
    if (j < nh) qkv_head_post(a, j);
}

__global__ void __launch_bounds__(THREADS) attention_kernel(layer_args a) {
    attention_phase(a, blockIdx.x, gridDim.x, dyn_sm);
}

// ---------------------------------------------------------------- versions 2 and 3: one persistent kernel

template <int PREFETCH> __global__ void __launch_bounds__(THREADS, 2) layer_kernel(layer_args a) {
    __shared__ double shd[WARPS];
    cg::grid_group grid = cg::this_grid();
    const int b = blockIdx.x, nb = gridDim.x;
    const int D = a.D, F = a.F, NQKV = (a.H + 2 * a.KV) * HD;
    const size_t pf = PREFETCH ? (size_t)a.pf_bytes : 0;
    gemv_phase<IN_NORM, OUT_QKV_POST>(a, a.wqkv, NQKV, D, a.x, a.attn_norm, a.qkv, b, nb, dyn_sm, shd);
    if (PREFETCH) prefetch_slab(a.wo, D, a.H * HD, 0, b, nb, (size_t)1 << 40);   // whole slab: attention reads no weights
    grid.sync();
    attention_phase(a, b, nb, dyn_sm);
    grid.sync();
    gemv_phase<IN_BF16, OUT_RESID>(a, a.wo, D, a.H * HD, a.att, nullptr, a.x, b, nb, dyn_sm, shd);
    if (PREFETCH) prefetch_slab(a.wgu, F, D, F, b, nb, pf);
    grid.sync();
    gemv_phase<IN_NORM, OUT_SWIGLU>(a, a.wgu, F, D, a.x, a.ffn_norm, a.act, b, nb, dyn_sm, shd);
    if (PREFETCH) prefetch_slab(a.wdown, D, F, 0, b, nb, pf);
    grid.sync();
    gemv_phase<IN_BF16, OUT_RESID>(a, a.wdown, D, F, a.act, nullptr, a.x, b, nb, dyn_sm, shd);
}

// ---------------------------------------------------------------- host: launches

struct model {
    const char *name;
    int D, F, H, KV;
};
static const model k_models[] = {{"4B", 2560, 9728, 32, 8}, {"0.6B", 1024, 3072, 16, 8}};

struct launcher {
    int nb;            // GEMV / persistent grid
    size_t smem;       // dynamic shared memory of the GEMV and persistent kernels
    size_t attn_smem;  // of version 1's attention kernel
};

static cudaError_t run_layer(int version, const launcher &L, const layer_args &a, cudaStream_t st) {
    const int D = a.D, F = a.F, NQKV = (a.H + 2 * a.KV) * HD;
    if (version == 1) {
        rmsnorm_kernel<<<a.T, THREADS, 0, st>>>(a, a.attn_norm);
        gemv_kernel<OUT_F32><<<L.nb, THREADS, L.smem, st>>>(a, a.wqkv, NQKV, D, a.xn, a.qkv);
        qkv_post_kernel<<<(a.H + 2 * a.KV + WARPS - 1) / WARPS, THREADS, 0, st>>>(a);
        attention_kernel<<<a.T * a.KV * a.nsplit, THREADS, L.attn_smem, st>>>(a);
        gemv_kernel<OUT_RESID><<<L.nb, THREADS, L.smem, st>>>(a, a.wo, D, a.H * HD, a.att, a.x);
        rmsnorm_kernel<<<a.T, THREADS, 0, st>>>(a, a.ffn_norm);
        gemv_kernel<OUT_SWIGLU><<<L.nb, THREADS, L.smem, st>>>(a, a.wgu, F, D, a.xn, a.act);
        gemv_kernel<OUT_RESID><<<L.nb, THREADS, L.smem, st>>>(a, a.wdown, D, F, a.act, a.x);
        return cudaGetLastError();
    }
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)L.nb);
    cfg.blockDim = dim3(THREADS);
    cfg.dynamicSmemBytes = L.smem;
    cfg.stream = st;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeCooperative;
    at[0].val.cooperative = 1;
    cfg.attrs = at;
    cfg.numAttrs = 1;
    return version == 2 ? cudaLaunchKernelEx(&cfg, layer_kernel<0>, a) : cudaLaunchKernelEx(&cfg, layer_kernel<1>, a);
}

// ---------------------------------------------------------------- host: the CPU reference

struct host_layer {
    std::vector<float> wqkv, wo, wgu, wdown;   // bf16 weights as float
    std::vector<float> attn_norm, ffn_norm, q_norm, k_norm, inv_freq;
    std::vector<float> kc, vc;                 // the cache's context positions as float (S, cap, KV, hd)
};

static float rbf(float f) { return lab_bf2f(lab_f2bf(f)); }

// y (T, N) = x (T, K) · W (N, K)ᵀ in double, stored as float.
static void ref_gemv(const std::vector<float> &W, int N, int K, const std::vector<float> &x, int T, std::vector<float> &y) {
    y.assign((size_t)T * N, 0.0f);
    for (int n = 0; n < N; n++) {
        const float *w = &W[(size_t)n * K];
        for (int t = 0; t < T; t++) {
            const float *xr = &x[(size_t)t * K];
            double d = 0;
            for (int k = 0; k < K; k++) d += (double)w[k] * xr[k];
            y[(size_t)t * N + n] = (float)d;
        }
    }
}

static void ref_norm(const std::vector<float> &x, int T, int D, const std::vector<float> &w, float eps, std::vector<float> &xn) {
    xn.assign((size_t)T * D, 0.0f);
    for (int t = 0; t < T; t++) {
        const float *xr = &x[(size_t)t * D];
        double ss = 0;
        for (int k = 0; k < D; k++) ss += (double)xr[k] * xr[k];
        const float r = (float)(1.0 / sqrt(ss / (double)D + (double)eps));
        for (int k = 0; k < D; k++) xn[(size_t)t * D + k] = rbf(xr[k] * r * w[k]);
    }
}

// The layer on x (T, D) in place; hl.kc / hl.vc get the new rows.
static void ref_layer(const model &M, int T, int ctx, int one_seq, float eps, host_layer &hl, std::vector<float> &x) {
    const int D = M.D, F = M.F, H = M.H, KV = M.KV, NQKV = (H + 2 * KV) * HD, cap = ctx + T, qpg = H / KV;
    const double scale = 1.0 / sqrt((double)HD);
    std::vector<float> xn, qkv, q((size_t)T * H * HD), att((size_t)T * H * HD), y, gu, act((size_t)T * F);
    ref_norm(x, T, D, hl.attn_norm, eps, xn);
    ref_gemv(hl.wqkv, NQKV, D, xn, T, qkv);
    for (int t = 0; t < T; t++) {
        const int s = one_seq ? 0 : t, pos = one_seq ? ctx + t : ctx;
        for (int j = 0; j < H + 2 * KV; j++) {
            float v[HD];
            for (int d = 0; d < HD; d++) v[d] = qkv[(size_t)t * NQKV + (size_t)j * HD + d];
            if (j < H + KV) {
                const std::vector<float> &nw = j < H ? hl.q_norm : hl.k_norm;
                double ss = 0;
                for (int d = 0; d < HD; d++) ss += (double)v[d] * v[d];
                const float r = (float)(1.0 / sqrt(ss / (double)HD + (double)eps));
                for (int d = 0; d < HD; d++) v[d] = v[d] * r * nw[d];
                float o[HD];
                for (int i = 0; i < HD / 2; i++) {
                    const double ang = (double)pos * hl.inv_freq[i], c = cos(ang), sn = sin(ang);
                    o[i] = (float)(v[i] * c - v[i + HD / 2] * sn);
                    o[i + HD / 2] = (float)(v[i + HD / 2] * c + v[i] * sn);
                }
                if (j < H)
                    for (int d = 0; d < HD; d++) q[((size_t)t * H + j) * HD + d] = o[d];
                else
                    for (int d = 0; d < HD; d++) hl.kc[(((size_t)s * cap + pos) * KV + j - H) * HD + d] = rbf(o[d]);
            } else {
                for (int d = 0; d < HD; d++) hl.vc[(((size_t)s * cap + pos) * KV + j - H - KV) * HD + d] = rbf(v[d]);
            }
        }
    }
    for (int t = 0; t < T; t++) {   // after every row's K/V is in (one sequence: later rows see earlier ones)
        const int s = one_seq ? 0 : t, pos = one_seq ? ctx + t : ctx;
        for (int h = 0; h < H; h++) {
            const int g = h / qpg;
            const float *qv = &q[((size_t)t * H + h) * HD];
            std::vector<double> sc(pos + 1);
            double mx = -INFINITY;
            for (int p = 0; p <= pos; p++) {
                const float *kr = &hl.kc[(((size_t)s * cap + p) * KV + g) * HD];
                double d = 0;
                for (int e = 0; e < HD; e++) d += (double)qv[e] * kr[e];
                sc[p] = d * scale;
                mx = std::max(mx, sc[p]);
            }
            double l = 0;
            for (int p = 0; p <= pos; p++) l += (sc[p] = exp(sc[p] - mx));
            for (int e = 0; e < HD; e++) {
                double o = 0;
                for (int p = 0; p <= pos; p++) o += sc[p] * hl.vc[(((size_t)s * cap + p) * KV + g) * HD + e];
                att[((size_t)t * H + h) * HD + e] = rbf((float)(o / l));
            }
        }
    }
    ref_gemv(hl.wo, D, H * HD, att, T, y);
    for (size_t i = 0; i < x.size(); i++) x[i] += y[i];
    ref_norm(x, T, D, hl.ffn_norm, eps, xn);
    ref_gemv(hl.wgu, 2 * F, D, xn, T, gu);
    for (int t = 0; t < T; t++)
        for (int n = 0; n < F; n++) {
            const float g = gu[(size_t)t * 2 * F + n], u = gu[(size_t)t * 2 * F + F + n];
            act[(size_t)t * F + n] = rbf(g / (1.0f + expf(-g)) * u);
        }
    ref_gemv(hl.wdown, D, F, act, T, y);
    for (size_t i = 0; i < x.size(); i++) x[i] += y[i];
}

// ---------------------------------------------------------------- host: setup, checks, timing

static void to_host_f(std::vector<float> &dst, const uint16_t *src, size_t n) {
    std::vector<uint16_t> tmp(n);
    CK(cudaMemcpy(tmp.data(), src, n * 2, cudaMemcpyDeviceToHost));
    dst.resize(n);
    for (size_t i = 0; i < n; i++) dst[i] = lab_bf2f(tmp[i]);
}
static void to_host_f32(std::vector<float> &dst, const float *src, size_t n) {
    dst.resize(n);
    CK(cudaMemcpy(dst.data(), src, n * 4, cudaMemcpyDeviceToHost));
}

int main(int argc, char **argv) {
    int v0 = 1, v1 = 3;
    if (argc > 1 && strcmp(argv[1], "all") != 0) {
        v0 = v1 = atoi(argv[1]);
        if (v0 < 1 || v0 > 3) {
            fprintf(stderr, "usage: %s [version 1..3 | all] [reps] [4B|0.6B|all] [pf KB] [T] [ctx]\n", argv[0]);
            return 2;
        }
    }
    const int reps = argc > 2 ? std::max(5, atoi(argv[2])) : 30;
    const char *which = argc > 3 ? argv[3] : "all";
    const int pf_kb = argc > 4 ? std::max(0, atoi(argv[4])) : 64;
    const int only_T = argc > 5 ? atoi(argv[5]) : 0, only_ctx = argc > 6 ? atoi(argv[6]) : 0;
    if (only_T < 0 || only_T > MAX_T || only_ctx < 0) {
        fprintf(stderr, "T must be 1..%d, ctx >= 1\n", MAX_T);
        return 2;
    }
    const float eps = 1e-6f;
    std::vector<int> Ts = {1, 2, 4, 8, 16}, ctxs = {256, 1024};   // or the one T / ctx asked for
    if (only_T) Ts = {only_T};
    if (only_ctx) ctxs = {only_ctx};

    cudaStream_t st;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    const double floor = lab_device_floor(st);
    int n_sm = 0, coop = 0;
    CK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, 0));
    CK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, 0));
    if (!coop) fprintf(stderr, "note: no cooperative launch on this device\n");

    int failures = 0;
    printf("%-5s %2s %5s %-5s %-22s %5s %9s %8s %6s %10s %s\n", "model", "T", "ctx", "seqs", "version", "grid", "us/layer",
           "GB/s", "floor", "relerr", "ok");
    for (int mi = 0; mi < 2; mi++) {
        const model &M = k_models[mi];
        if (strcmp(which, "all") != 0 && strcmp(which, M.name) != 0) continue;
        const int D = M.D, F = M.F, H = M.H, KV = M.KV, NQKV = (H + 2 * KV) * HD, qpg = H / KV;
        const size_t n_qkv = (size_t)NQKV * D, n_o = (size_t)D * H * HD, n_gu = (size_t)2 * F * D, n_dn = (size_t)D * F;
        const size_t wbytes = (n_qkv + n_o + n_gu + n_dn) * 2;
        // Grid and shared memory: 2 blocks of 256 threads per SM, each with up to ~100 KB.
        const int nb = 2 * n_sm;
        // sacc sized for a grid of one block per SM (the smallest the occupancy fallback below gives)
        const int max_rpb = (std::max(std::max(NQKV, D), F) + n_sm - 1) / n_sm + 1;
        const size_t budget = 100 * 1024;
        const int xs_elems = (int)((budget - gemv_smem_bytes(max_rpb, 0)) / 2) & ~7;
        launcher Lc = {nb, std::max(gemv_smem_bytes(max_rpb, xs_elems), attn_smem_bytes(qpg)), attn_smem_bytes(qpg)};
        CK(cudaFuncSetAttribute(gemv_kernel<OUT_F32>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)Lc.smem));
        CK(cudaFuncSetAttribute(gemv_kernel<OUT_RESID>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)Lc.smem));
        CK(cudaFuncSetAttribute(gemv_kernel<OUT_SWIGLU>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)Lc.smem));
        CK(cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)Lc.attn_smem));
        CK(cudaFuncSetAttribute(layer_kernel<0>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)Lc.smem));
        CK(cudaFuncSetAttribute(layer_kernel<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)Lc.smem));
        int occ0 = 0, occ1 = 0;
        CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ0, layer_kernel<0>, THREADS, Lc.smem));
        CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ1, layer_kernel<1>, THREADS, Lc.smem));
        if (std::min(occ0, occ1) * n_sm < nb) {   // a cooperative grid must be resident at once
            Lc.nb = std::max(1, std::min(occ0, occ1)) * n_sm;
            fprintf(stderr, "note: %d resident blocks per SM, grid %d\n", std::min(occ0, occ1), Lc.nb);
        }
        for (int ctx : ctxs) {
            for (int T : Ts) {
                for (int one_seq = 0; one_seq < 2; one_seq++) {
                    const int S = one_seq ? 1 : T, cap = ctx + T;
                    const size_t n_kv = (size_t)S * cap * KV * HD;
                    const size_t kv_read = (size_t)(one_seq ? ctx + T : T * (ctx + 1)) * KV * HD * 2 * 2;
                    const size_t copy_bytes = wbytes + 2 * n_kv * 2;
                    const int ncopy = (int)std::min<size_t>(64, std::max<size_t>(2, ((size_t)256 << 20) / copy_bytes + 1));
                    const int Lcalls = std::max(ncopy, 8);
                    // One allocation per copy: weights, norms, cache.
                    std::vector<layer_args> args(ncopy);
                    std::vector<void *> allocs;
                    auto dalloc = [&](size_t bytes) {
                        void *p = nullptr;
                        CK(cudaMalloc(&p, bytes));
                        allocs.push_back(p);
                        return p;
                    };
                    // activations (shared by the copies)
                    float *x = (float *)dalloc((size_t)T * D * 4), *x0 = (float *)dalloc((size_t)T * D * 4);
                    uint16_t *xn = (uint16_t *)dalloc((size_t)T * D * 2);
                    float *qkv = (float *)dalloc((size_t)T * NQKV * 4), *q = (float *)dalloc((size_t)T * H * HD * 4);
                    uint16_t *att = (uint16_t *)dalloc((size_t)T * H * HD * 2), *act = (uint16_t *)dalloc((size_t)T * F * 2);
                    // attention splits: about one item per block, >= 64 positions a split
                    const int vis_max = one_seq ? ctx + T : ctx + 1;
                    int nsplit = std::max(1, std::min((Lc.nb + T * KV - 1) / (T * KV), (vis_max + 63) / 64));
                    float *part = (float *)dalloc((size_t)T * KV * nsplit * qpg * (HD + 2) * 4);
                    int *head_cnt = (int *)dalloc((size_t)(H + 2 * KV) * 4), *att_cnt = (int *)dalloc((size_t)T * KV * 4);
                    CK(cudaMemset(head_cnt, 0, (size_t)(H + 2 * KV) * 4));
                    CK(cudaMemset(att_cnt, 0, (size_t)T * KV * 4));
                    lab_gen_f32<<<64, 256, 0, st>>>(x0, (size_t)T * D, 7 + T + ctx, 1.0f);
                    std::vector<float> invf(HD / 2);
                    for (int i = 0; i < HD / 2; i++) invf[i] = (float)pow(1e6, -2.0 * i / HD);
                    for (int c = 0; c < ncopy; c++) {
                        layer_args &a = args[c];
                        a = layer_args{};
                        a.T = T, a.D = D, a.F = F, a.H = H, a.KV = KV, a.S = S, a.ctx = ctx, a.cap = cap, a.one_seq = one_seq;
                        a.eps = eps, a.scale = (float)(1.0 / sqrt((double)HD));
                        uint16_t *w = (uint16_t *)dalloc(wbytes);
                        a.wqkv = w, a.wo = w + n_qkv, a.wgu = w + n_qkv + n_o, a.wdown = w + n_qkv + n_o + n_gu;
                        float *nf = (float *)dalloc((size_t)(2 * D + 2 * HD + HD / 2) * 4);
                        a.attn_norm = nf, a.ffn_norm = nf + D, a.q_norm = nf + 2 * D, a.k_norm = nf + 2 * D + HD;
                        a.inv_freq = nf + 2 * D + 2 * HD;
                        a.kc = (uint16_t *)dalloc(n_kv * 2), a.vc = (uint16_t *)dalloc(n_kv * 2);
                        a.x = x, a.xn = xn, a.qkv = qkv, a.q = q, a.att = att, a.act = act, a.part = part;
                        a.head_cnt = head_cnt, a.att_cnt = att_cnt, a.nsplit = nsplit;
                        a.xs_elems = xs_elems, a.max_rpb = max_rpb, a.pf_bytes = pf_kb * 1024;
                        if (c == 0) {   // copy 0 generated; the others copied from it
                            lab_gen_bf16<<<1024, 256, 0, st>>>(w, wbytes / 2, 100 + mi, 0.02f);
                            lab_gen_f32<<<16, 256, 0, st>>>(nf, (size_t)2 * D + 2 * HD, 200 + mi, 0.3f);
                            lab_gen_bf16<<<512, 256, 0, st>>>(a.kc, n_kv, 300 + ctx, 1.0f);
                            lab_gen_bf16<<<512, 256, 0, st>>>(a.vc, n_kv, 400 + ctx, 1.0f);
                            CK(cudaGetLastError());
                            CK(cudaStreamSynchronize(st));
                            // norm weights 1 + N(0, 0.3); inv_freq from the host
                            std::vector<float> h(2 * D + 2 * HD);
                            CK(cudaMemcpy(h.data(), nf, h.size() * 4, cudaMemcpyDeviceToHost));
                            for (float &v : h) v += 1.0f;
                            CK(cudaMemcpy(nf, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
                            CK(cudaMemcpy(nf + 2 * D + 2 * HD, invf.data(), invf.size() * 4, cudaMemcpyHostToDevice));
                        } else {
                            const layer_args &a0 = args[0];
                            CK(cudaMemcpyAsync(w, a0.wqkv, wbytes, cudaMemcpyDeviceToDevice, st));
                            CK(cudaMemcpyAsync(nf, a0.attn_norm, (size_t)(2 * D + 2 * HD + HD / 2) * 4, cudaMemcpyDeviceToDevice, st));
                            CK(cudaMemcpyAsync(a.kc, a0.kc, n_kv * 2, cudaMemcpyDeviceToDevice, st));
                            CK(cudaMemcpyAsync(a.vc, a0.vc, n_kv * 2, cudaMemcpyDeviceToDevice, st));
                        }
                    }
                    CK(cudaStreamSynchronize(st));
                    // The CPU reference from copy 0's inputs (its cache as generated).
                    host_layer hl;
                    to_host_f(hl.wqkv, args[0].wqkv, n_qkv);
                    to_host_f(hl.wo, args[0].wo, n_o);
                    to_host_f(hl.wgu, args[0].wgu, n_gu);
                    to_host_f(hl.wdown, args[0].wdown, n_dn);
                    to_host_f32(hl.attn_norm, args[0].attn_norm, D);
                    to_host_f32(hl.ffn_norm, args[0].ffn_norm, D);
                    to_host_f32(hl.q_norm, args[0].q_norm, HD);
                    to_host_f32(hl.k_norm, args[0].k_norm, HD);
                    hl.inv_freq = invf;
                    to_host_f(hl.kc, args[0].kc, n_kv);
                    to_host_f(hl.vc, args[0].vc, n_kv);
                    std::vector<float> hx0, ref;
                    to_host_f32(hx0, x0, (size_t)T * D);
                    ref = hx0;
                    ref_layer(M, T, ctx, one_seq, eps, hl, ref);
                    std::vector<double> dref(ref.size());
                    for (size_t i = 0; i < ref.size(); i++) dref[i] = (double)ref[i] - hx0[i];
                    std::vector<float> first_out;   // x after the first version run here
                    int first_v = 0;
                    for (int v = v0; v <= v1; v++) {
                        if (v >= 2 && !coop) continue;
                        // Two runs from the same inputs (copy 0), compared bitwise.
                        std::vector<float> out[2];
                        std::vector<uint16_t> kv_out[2];
                        bool launched = true;
                        for (int r = 0; r < 2; r++) {
                            CK(cudaMemcpyAsync(x, x0, (size_t)T * D * 4, cudaMemcpyDeviceToDevice, st));
                            CK(cudaMemsetAsync(qkv, 0xff, (size_t)T * NQKV * 4, st));
                            CK(cudaMemsetAsync(att, 0xff, (size_t)T * H * HD * 2, st));
                            CK(cudaMemsetAsync(act, 0xff, (size_t)T * F * 2, st));
                            const cudaError_t e = run_layer(v, Lc, args[0], st);
                            if (e != cudaSuccess) {
                                printf("%-5s %2d %5d %-5s version %d: launch error %s\n", M.name, T, ctx, one_seq ? "one" : "batch", v,
                                       cudaGetErrorString(e));
                                launched = false;
                                break;
                            }
                            CK(cudaStreamSynchronize(st));
                            to_host_f32(out[r], x, (size_t)T * D);
                            kv_out[r].resize(2 * n_kv);
                            CK(cudaMemcpy(kv_out[r].data(), args[0].kc, n_kv * 2, cudaMemcpyDeviceToHost));
                            CK(cudaMemcpy(kv_out[r].data() + n_kv, args[0].vc, n_kv * 2, cudaMemcpyDeviceToHost));
                        }
                        if (!launched) {
                            failures++;
                            continue;
                        }
                        const double err = lab_rel_err(out[0].data(), dref.data(), hx0.data(), out[0].size());
                        const bool same = memcmp(out[0].data(), out[1].data(), out[0].size() * 4) == 0 &&
                                          kv_out[0] == kv_out[1];
                        const bool ok = err <= 1e-2 && same;
                        failures += !ok;
                        const double t_us = lab_time_calls(st, Lcalls, reps, [&](int i) {
                            (void)run_layer(v, Lc, args[i % ncopy], st);
                        });
                        CK(cudaGetLastError());
                        const double gbs = (double)(wbytes + kv_read) / t_us * 1e-3;
                        // The versions share their arithmetic (same GEMV, norm, attention code and
                        // orders), so they should agree bit for bit: said, not counted as a failure.
                        char agree[32] = "";
                        if (first_v == 0) {
                            first_out = out[0];
                            first_v = v;
                        } else {
                            snprintf(agree, sizeof agree, " %s v%d", first_out == out[0] ? "==" : "!=", first_v);
                        }
                        char name[64];
                        snprintf(name, sizeof name, "%d %s", v, v == 1 ? "8 kernels" : v == 2 ? "persistent" : "persistent+L2 pf");
                        printf("%-5s %2d %5d %-5s %-22s %5d %9.2f %8.1f %5.0f%% %10.2e %s%s%s\n", M.name, T, ctx,
                               one_seq ? "one" : "batch", name, Lc.nb, t_us, gbs, 100.0 * gbs / floor, err,
                               ok ? "ok" : "FAIL", same ? "" : " (runs differ)", agree);
                        fflush(stdout);
                    }
                    for (void *p : allocs) CK(cudaFree(p));
                }
            }
        }
    }
    printf("\n%s: %d check(s) failed\n", failures ? "FAIL" : "PASS", failures);
    cudaStreamDestroy(st);
    return failures ? 1 : 0;
}
