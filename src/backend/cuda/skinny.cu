// Skinny GEMM for decode steps: y(T,N) (+)= x(T,K) · W(N,K)ᵀ, T = 1..16.
// W bf16 row-major (N, K); x bf16 row-major (T, K); y f32 row-major (T, N).
// Floor: N·K·2 bytes of W over HBM bandwidth; x (≤ 16·K·2 bytes) and y are
// small. So the kernels keep many 16-byte W loads in flight per thread and
// spend as few instructions as possible per loaded byte.
//
// Tensor-core path (skinny_tc). One mma.m16n8k16 (bf16 in, f32 accumulate)
// takes A = 16 weight rows × 16 k and B = 16 k × 8 tokens, giving
// C = 16 rows × 8 tokens, i.e. yᵀ. The order of k inside a dot product is
// free, so k is permuted so that each thread's A registers for two
// consecutive mmas come from ONE 16-byte load per row. Per 32-wide k chunk
// (chunk c covers k = 32c .. 32c+31), thread lane = 4g + t (g = lane/4 the
// "group", t = lane%4) loads
//   wa = W[row g  ][32c + 8t .. 32c + 8t + 7]     (int4 = 4 bf16 pairs .x .y .z .w)
//   wb = W[row g+8][32c + 8t .. 32c + 8t + 7]
//   xb = x[token g][32c + 8t .. 32c + 8t + 7]     (0 when token g >= T)
// and issues mma #1 with a0..a3 = wa.x, wb.x, wa.y, wb.y and b0,b1 = xb.x, xb.y,
// and mma #2 with a0..a3 = wa.z, wb.z, wa.w, wb.w and b0,b1 = xb.z, xb.w.
// In the PTX fragment layout a0 = (row g, k 2t..2t+1), a1 = (row g+8, same k),
// a2 = (row g, k 2t+8..2t+9), a3 = (row g+8, same k), b0 = (k 2t..2t+1,
// token g), b1 = (k 2t+8..2t+9, token g): mma #1's logical k {2t, 2t+1,
// 2t+8, 2t+9} are physical k {8t, 8t+1, 8t+2, 8t+3} for A and B alike, and
// mma #2's are {8t+4 .. 8t+7}; over t = 0..3 each physical k of the chunk is
// used exactly once. Accumulators: c0 = (row g, token 2t), c1 = (row g,
// token 2t+1), c2 = (row g+8, token 2t), c3 = (row g+8, token 2t+1).
// Tokens 8..15 (T > 8) take a second B tile (NT = 2), reusing the A registers.
//
// Work split: a block owns RT row tiles (16·RT rows) at a time; its KW warps
// (and, with clusters, the CS blocks of its cluster) split K: slot
// s = rank·KW + warp of S = CS·KW slots takes chunks c ≡ s (mod S), U at a
// time (chunks c, c+S, .., c+(U-1)S), so each thread has U·RT·2 W loads in
// flight. Partials go to shared memory as red[warp][token][row] and are
// summed over warps in warp order (and over cluster ranks in rank order
// through distributed shared memory), so results are bit-identical run to
// run. Blocks stride over row groups when the grid is capped.
//
// CUDA-core path (skinny_cc, T <= 4): a warp owns 2 rows, lanes take 16-byte
// pieces p ≡ lane (mod 32) of each row (U pieces per row in flight), FMA in
// f32, butterfly reduction over the warp (fixed order).
#include "skinny.h"

#include <cooperative_groups.h>

namespace cg = cooperative_groups;

namespace {

// Cache hints for the W stream: 0 = plain ld.global.nc; 1 = no L1
// allocation + 256-byte L2 prefetch; 2 = as 1 and L2 evict-first.
template <int HINT> __device__ __forceinline__ int4 ld_w(const uint16_t *p) {
    int4 v;
    if constexpr (HINT == 0) {
        asm("ld.global.nc.v4.s32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    } else if constexpr (HINT == 1) {
        asm("ld.global.nc.L1::no_allocate.L2::256B.v4.s32 {%0,%1,%2,%3}, [%4];"
            : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
            : "l"(p));
    } else {
        asm("{\n\t.reg .b64 pol;\n\tcreatepolicy.fractional.L2::evict_first.b64 pol, 1.0;\n\t"
            "ld.global.nc.L1::no_allocate.L2::cache_hint.L2::256B.v4.s32 {%0,%1,%2,%3}, [%4], pol;\n\t}"
            : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
            : "l"(p));
    }
    return v;
}

// x is small and re-read by every block: keep it cacheable in L1.
__device__ __forceinline__ int4 ld_x(const uint16_t *p) { return __ldg(reinterpret_cast<const int4 *>(p)); }

__device__ __forceinline__ void mma_bf16(float (&c)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                         unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 16-byte asynchronous copy global → shared (L2 only, 256-byte L2
// prefetch); src_bytes = 0 writes zeros and reads nothing.
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int src_bytes) {
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// One step of U chunks for one warp: loads first (all U·RT·2 W loads and
// U·NT x loads in flight), then 2·U·RT·NT mmas. GUARD: chunks may run past nc.
template <int RT, int NT, int U, int HINT, bool GUARD>
__device__ __forceinline__ void tc_step(float (&acc)[RT][NT][4], const uint16_t *const (&wp)[RT],
                                        const uint16_t *const (&xp)[NT], const bool (&xv)[NT], size_t row8, int c0,
                                        int S, int nc) {
    int4 a[U][RT][2], b[U][NT];
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int c = c0 + u * S;
        const bool ok = !GUARD || c < nc;
        const int off = c * 32;
#pragma unroll
        for (int r = 0; r < RT; r++) {
            a[u][r][0] = ok ? ld_w<HINT>(wp[r] + off) : make_int4(0, 0, 0, 0);
            a[u][r][1] = ok ? ld_w<HINT>(wp[r] + row8 + off) : make_int4(0, 0, 0, 0);
        }
#pragma unroll
        for (int j = 0; j < NT; j++) b[u][j] = ok && xv[j] ? ld_x(xp[j] + off) : make_int4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
        for (int r = 0; r < RT; r++)
#pragma unroll
            for (int j = 0; j < NT; j++) {
                const int4 wa = a[u][r][0], wb = a[u][r][1], xb = b[u][j];
                mma_bf16(acc[r][j], wa.x, wb.x, wa.y, wb.y, xb.x, xb.y);
                mma_bf16(acc[r][j], wa.z, wb.z, wa.w, wb.w, xb.z, xb.w);
            }
}

// The K loop of one warp slot through a per-thread ring of P stages in
// shared memory (cp.async): stage j holds the warp's chunks m = jU .. jU+U-1
// (chunk s + m·S) as U·(2RT + NT) int4 per thread, slot q of stage j at
// ring[((j % P)·U·(2RT+NT) + q)·blockDim + tid], so each thread reads back
// only what it copied itself (no barrier; conflict-free 16-byte accesses).
// P-1 stages are in flight while one is consumed.
template <int RT, int NT, int U, int P>
__device__ __forceinline__ void tc_pipe(float (&acc)[RT][NT][4], int4 *ring, const uint16_t *const (&wp)[RT],
                                        const uint16_t *const (&xp)[NT], const bool (&xv)[NT], size_t row8, int s,
                                        int S, int nc) {
    constexpr int Q = 2 * RT + NT, PER = U * Q;
    const int nth = blockDim.x, tid = threadIdx.x;
    const int ms = s < nc ? (nc - 1 - s) / S + 1 : 0;   // chunks of this slot
    const int nst = (ms + U - 1) / U;
    auto issue = [&](int j) {
        if (j < nst) {
            int4 *st = ring + (size_t)(j % P) * PER * nth + tid;
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int m = j * U + u;
                if (m < ms) {
                    const int off = (s + m * S) * 32;
#pragma unroll
                    for (int r = 0; r < RT; r++) {
                        cp_async16(st + (u * Q + 2 * r) * nth, wp[r] + off, 16);
                        cp_async16(st + (u * Q + 2 * r + 1) * nth, wp[r] + row8 + off, 16);
                    }
#pragma unroll
                    for (int jn = 0; jn < NT; jn++)
                        cp_async16(st + (u * Q + 2 * RT + jn) * nth, xp[jn] + off, xv[jn] ? 16 : 0);
                }
            }
        }
        cp_async_commit();   // possibly empty: keeps the group count uniform
    };
#pragma unroll
    for (int j = 0; j < P - 1; j++) issue(j);
    for (int j = 0; j < nst; j++) {
        issue(j + P - 1);
        cp_async_wait<P - 1>();   // stage j has landed
        const int4 *st = ring + (size_t)(j % P) * PER * nth + tid;
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (j * U + u < ms) {
                int4 b[NT];
#pragma unroll
                for (int jn = 0; jn < NT; jn++) b[jn] = st[(u * Q + 2 * RT + jn) * nth];
#pragma unroll
                for (int r = 0; r < RT; r++) {
                    const int4 wa = st[(u * Q + 2 * r) * nth], wb = st[(u * Q + 2 * r + 1) * nth];
#pragma unroll
                    for (int jn = 0; jn < NT; jn++) {
                        mma_bf16(acc[r][jn], wa.x, wb.x, wa.y, wb.y, b[jn].x, b[jn].y);
                        mma_bf16(acc[r][jn], wa.z, wb.z, wa.w, wb.w, b[jn].z, b[jn].w);
                    }
                }
            }
        }
    }
    cp_async_wait<0>();
}

// Grid: (groups in flight) · cs blocks, cluster (cs,1,1) when cs > 1; block:
// KW warps. P = 0: loads straight to registers (tc_step); P ≥ 2: cp.async
// ring of P stages (tc_pipe), which the reduction buffer then reuses.
// Dynamic shared memory: max(ring, KW · 8NT · (16RT + 4) floats).
template <int RT, int NT, int U, int P, int HINT>
__global__ void __launch_bounds__(256) skinny_tc(float *__restrict__ y, const uint16_t *__restrict__ x,
                                                 const uint16_t *__restrict__ W, int T, int N, int K, int accumulate,
                                                 int cs) {
    constexpr int ROWS = 16 * RT, LD = ROWS + 4, TOK = 8 * NT;   // LD: +4 spreads the fragment stores over banks
    extern __shared__ int4 smem[];
    float *red = reinterpret_cast<float *>(smem);               // [KW][TOK][LD]
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, kw = blockDim.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int rank = cs > 1 ? (int)cg::this_cluster().block_rank() : 0;
    const int ntiles = N >> 4, ngroups = (ntiles + RT - 1) / RT;
    const int S = kw * cs, s = rank * kw + warp, nc = K >> 5;
    const size_t row8 = (size_t)8 * K;

    const uint16_t *xp[NT];
    bool xv[NT];
#pragma unroll
    for (int j = 0; j < NT; j++) {
        const int tok = 8 * j + g;
        xv[j] = tok < T;
        xp[j] = x + (size_t)(xv[j] ? tok : 0) * K + 8 * t;
    }

    for (int grp = blockIdx.x / cs; grp < ngroups; grp += gridDim.x / cs) {
        const int tile0 = grp * RT;
        const uint16_t *wp[RT];
#pragma unroll
        for (int r = 0; r < RT; r++) {
            const int tile = tile0 + r < ntiles ? tile0 + r : tile0;   // past N: re-read a valid tile, not stored
            wp[r] = W + (size_t)(tile * 16 + g) * K + 8 * t;
        }
        float acc[RT][NT][4];
#pragma unroll
        for (int r = 0; r < RT; r++)
#pragma unroll
            for (int j = 0; j < NT; j++)
#pragma unroll
                for (int i = 0; i < 4; i++) acc[r][j][i] = 0.0f;

        if constexpr (P == 0) {
            int c0 = s;
            for (; c0 + (U - 1) * S < nc; c0 += U * S)
                tc_step<RT, NT, U, HINT, false>(acc, wp, xp, xv, row8, c0, S, nc);
            if (c0 < nc) tc_step<RT, NT, U, HINT, true>(acc, wp, xp, xv, row8, c0, S, nc);
        } else {
            tc_pipe<RT, NT, U, P>(acc, smem, wp, xp, xv, row8, s, S, nc);
            __syncthreads();   // the ring becomes the reduction buffer
        }

        float *mine = red + warp * TOK * LD;
#pragma unroll
        for (int r = 0; r < RT; r++)
#pragma unroll
            for (int j = 0; j < NT; j++) {
                const int tok = 8 * j + 2 * t, row = 16 * r + g;
                mine[tok * LD + row] = acc[r][j][0];
                mine[(tok + 1) * LD + row] = acc[r][j][1];
                mine[tok * LD + row + 8] = acc[r][j][2];
                mine[(tok + 1) * LD + row + 8] = acc[r][j][3];
            }
        __syncthreads();
        const int nout = T * ROWS, n0 = tile0 * 16;
        for (int e = threadIdx.x; e < nout; e += blockDim.x) {
            const int tok = e / ROWS, row = e % ROWS;
            float v = red[tok * LD + row];
            for (int w = 1; w < kw; w++) v += red[(w * TOK + tok) * LD + row];
            if (cs > 1) {
                red[tok * LD + row] = v;   // this block's sum, read by the cluster below
            } else if (n0 + row < N) {
                float *o = y + (size_t)tok * N + n0 + row;
                *o = accumulate ? *o + v : v;
            }
        }
        if (cs > 1) {
            cg::cluster_group cluster = cg::this_cluster();
            cluster.sync();
            for (int e = rank * blockDim.x + threadIdx.x; e < nout; e += cs * blockDim.x) {
                const int tok = e / ROWS, row = e % ROWS;
                float v = 0.0f;
                for (int q = 0; q < cs; q++) v += cluster.map_shared_rank(red, q)[tok * LD + row];
                if (n0 + row < N) {
                    float *o = y + (size_t)tok * N + n0 + row;
                    *o = accumulate ? *o + v : v;
                }
            }
            cluster.sync();   // no block may leave or reuse red while others read it
        } else {
            __syncthreads();
        }
    }
}

// CUDA-core path. Block: 8 warps, warp w owns rows 2·(8·blockIdx.x + w) + {0,1}.
template <int TT, int U>
__global__ void __launch_bounds__(256) skinny_cc(float *__restrict__ y, const uint16_t *__restrict__ x,
                                                 const uint16_t *__restrict__ W, int T, int N, int K, int accumulate) {
    constexpr int R = 2;
    const int lane = threadIdx.x & 31;
    const int n0 = (blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5)) * R;
    if (n0 >= N) return;   // N % 16 == 0: a warp's rows are all valid or all past N
    const int np = K >> 3;   // 16-byte pieces per row
    const int4 *wr = reinterpret_cast<const int4 *>(W + (size_t)n0 * K);
    const int4 *xr = reinterpret_cast<const int4 *>(x);
    float acc[R][TT];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int i = 0; i < TT; i++) acc[r][i] = 0.0f;

    auto fma8 = [](float &a, int4 w, int4 v) {
        const unsigned ws[4] = {(unsigned)w.x, (unsigned)w.y, (unsigned)w.z, (unsigned)w.w};
        const unsigned vs[4] = {(unsigned)v.x, (unsigned)v.y, (unsigned)v.z, (unsigned)v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            a = fmaf(__uint_as_float(ws[i] << 16), __uint_as_float(vs[i] << 16), a);
            a = fmaf(__uint_as_float(ws[i] & 0xffff0000u), __uint_as_float(vs[i] & 0xffff0000u), a);
        }
    };
    int p = lane;
    for (; p + 32 * (U - 1) < np; p += 32 * U) {
        int4 wv[U][R], xv[U][TT];
#pragma unroll
        for (int u = 0; u < U; u++) {
#pragma unroll
            for (int r = 0; r < R; r++) wv[u][r] = ld_w<1>(reinterpret_cast<const uint16_t *>(wr + (size_t)r * np + p + 32 * u));
#pragma unroll
            for (int i = 0; i < TT; i++) xv[u][i] = i < T ? __ldg(xr + (size_t)i * np + p + 32 * u) : make_int4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < U; u++)
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int i = 0; i < TT; i++) fma8(acc[r][i], wv[u][r], xv[u][i]);
    }
    for (; p < np; p += 32) {
#pragma unroll
        for (int r = 0; r < R; r++) {
            const int4 w = ld_w<1>(reinterpret_cast<const uint16_t *>(wr + (size_t)r * np + p));
#pragma unroll
            for (int i = 0; i < TT; i++)
                if (i < T) fma8(acc[r][i], w, __ldg(xr + (size_t)i * np + p));
        }
    }
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int i = 0; i < TT; i++) {
            float v = acc[r][i];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
            if (lane == r * TT + i && i < T) {   // every lane holds the same sum; spread the stores
                float *out = y + (size_t)i * N + n0 + r;
                *out = accumulate ? *out + v : v;
            }
        }
}

// A tensor-core configuration: RT row tiles per warp, U chunks in flight,
// KW warps per block, CS blocks per cluster (0: chosen from the shape),
// HINT cache hints for W, BPS blocks per SM in flight at most (0: no cap).
struct tc_cfg {
    int rt, u, kw, cs, hint, bps;
};

template <int RT, int NT, int U, int HINT>
cudaError_t tc_launch(cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K,
                      int accumulate, int kw, int cs, int bps) {
    const int ngroups = (N / 16 + RT - 1) / RT;
    int groups = ngroups;
    if (bps > 0) {
        int dev = 0, sms = 0;
        cudaError_t e = cudaGetDevice(&dev);
        if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
        if (e != cudaSuccess) return e;
        const int cap = sms * bps / cs;
        if (cap > 0 && groups > cap) groups = cap;
    }
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)(groups * cs));
    cfg.blockDim = dim3((unsigned)(kw * 32));
    cfg.dynamicSmemBytes = (size_t)kw * 8 * NT * (16 * RT + 4) * sizeof(float);
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    if (cs > 1) {
        attr[0].id = cudaLaunchAttributeClusterDimension;
        attr[0].val.clusterDim.x = (unsigned)cs;
        attr[0].val.clusterDim.y = 1;
        attr[0].val.clusterDim.z = 1;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
    }
    return cudaLaunchKernelEx(&cfg, skinny_tc<RT, NT, U, HINT>, y, x, W, T, N, K, accumulate, cs);
}

template <int RT, int U, int HINT>
cudaError_t tc_launch_nt(cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K,
                         int accumulate, int kw, int cs, int bps) {
    if (T <= 8) return tc_launch<RT, 1, U, HINT>(s, y, x, W, T, N, K, accumulate, kw, cs, bps);
    return tc_launch<RT, 2, U, HINT>(s, y, x, W, T, N, K, accumulate, kw, cs, bps);
}

// Cluster split for cs == 0: the smallest power of two ≤ 8 that gives at
// least ~2 blocks per SM of an H200 (132 SMs), while every warp still gets
// ≥ 2·U chunks.
int auto_cs(int N, int K, int rt, int u, int kw) {
    const int ngroups = (N / 16 + rt - 1) / rt, nc = K / 32;
    int cs = 1;
    while (cs < 8 && ngroups * cs < 2 * 132 && nc >= 2 * cs * kw * 2 * u) cs *= 2;
    return cs;
}

cudaError_t tc_run(const tc_cfg &c, cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N,
                   int K, int accumulate) {
    const int cs = c.cs > 0 ? c.cs : auto_cs(N, K, c.rt, c.u, c.kw);
#define GCK_TC(RT_, U_, H_)                                                                                       \
    if (c.rt == RT_ && c.u == U_ && c.hint == H_)                                                                 \
        return tc_launch_nt<RT_, U_, H_>(s, y, x, W, T, N, K, accumulate, c.kw, cs, c.bps);
    GCK_TC(1, 8, 1)
    GCK_TC(1, 4, 1)
    GCK_TC(2, 4, 1)
    GCK_TC(2, 4, 0)
    GCK_TC(2, 4, 2)
    GCK_TC(2, 2, 1)
    GCK_TC(4, 2, 1)
#undef GCK_TC
    return cudaErrorInvalidValue;
}

// Fixed configurations, variants 1..10 (index = variant - 1).
const tc_cfg k_fixed[10] = {
    {1, 8, 4, 1, 1, 0},   //  1: 16 rows/warp, 8 chunks in flight, 4 warps split K
    {1, 4, 8, 1, 1, 0},   //  2: 16 rows/warp, 4 chunks, 8 warps split K
    {2, 4, 4, 1, 1, 0},   //  3: 32 rows/warp, 4 chunks, 4 warps
    {2, 4, 8, 1, 1, 0},   //  4: 32 rows/warp, 4 chunks, 8 warps
    {4, 2, 8, 1, 1, 0},   //  5: 64 rows/warp, 2 chunks, 8 warps
    {2, 4, 4, 0, 1, 0},   //  6: as 3, K also split over a cluster of up to 8 SMs (auto)
    {4, 2, 4, 0, 1, 0},   //  7: 64 rows/warp, 2 chunks, 4 warps, cluster split (auto)
    {2, 4, 4, 1, 0, 0},   //  8: as 3 without cache hints
    {2, 4, 4, 1, 2, 0},   //  9: as 3 with L2 evict-first on W
    {2, 4, 4, 1, 1, 4},   // 10: as 3, grid capped at 4 blocks/SM, blocks stride over row groups
};

const char *const k_names[GCK_SKINNY_NVARIANTS] = {
    "auto",
    "tc rt1 u8 kw4",
    "tc rt1 u4 kw8",
    "tc rt2 u4 kw4",
    "tc rt2 u4 kw8",
    "tc rt4 u2 kw8",
    "tc rt2 u4 kw4 cluster",
    "tc rt4 u2 kw4 cluster",
    "tc rt2 u4 kw4 nohint",
    "tc rt2 u4 kw4 evict_first",
    "tc rt2 u4 kw4 cap4/SM",
    "cuda-core 2 rows/warp",
};

// The default: chosen per shape (see the bench's per-shape results).
tc_cfg auto_cfg(int T, int N, int K) {
    (void)T;
    (void)K;
    if (N / 16 >= 4 * 132) return k_fixed[2];   // many row tiles: no cluster needed
    return k_fixed[5];
}

template <int TT>
cudaError_t cc_launch(cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K,
                      int accumulate) {
    const unsigned blocks = (unsigned)((N / 2 + 7) / 8);
    skinny_cc<TT, 4><<<blocks, 256, 0, s>>>(y, x, W, T, N, K, accumulate);
    return cudaGetLastError();
}

}   // namespace

extern "C" const char *gck_skinny_variant_name(int variant) {
    return variant >= 0 && variant < GCK_SKINNY_NVARIANTS ? k_names[variant] : "?";
}

extern "C" cudaError_t gck_skinny(cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N,
                                  int K, int accumulate, int variant) {
    if (!y || !x || !W || T < 1 || T > 16 || N <= 0 || K <= 0 || N % 16 || K % 64) return cudaErrorInvalidValue;
    if (((uintptr_t)x | (uintptr_t)W) & 15) return cudaErrorInvalidValue;
    if (variant < 0 || variant >= GCK_SKINNY_NVARIANTS) return cudaErrorInvalidValue;
    if (variant == 11 && T <= 4) {
        if (T == 1) return cc_launch<1>(s, y, x, W, T, N, K, accumulate);
        if (T == 2) return cc_launch<2>(s, y, x, W, T, N, K, accumulate);
        return cc_launch<4>(s, y, x, W, T, N, K, accumulate);
    }
    const tc_cfg c = variant >= 1 && variant <= 10 ? k_fixed[variant - 1] : auto_cfg(T, N, K);
    return tc_run(c, s, y, x, W, T, N, K, accumulate);
}
