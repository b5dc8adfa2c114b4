// Kernel lab: the skinny GEMM of decode steps, y(T,N) (+)= x(T,K) · W(N,K)ᵀ
// for T = 1..16, W bf16 row-major (N, K), x bf16 row-major (T, K), y f32
// row-major (T, N). Floor: N·K·2 bytes of W over HBM bandwidth.
//
// Versions (argument 1; "all" runs every one and prints the comparison):
//   0   the product: gck_skinny of src/backend/cuda/skinny.cu (linked), which
//       picks one of versions 1..6 by shape (auto_run there)
//   1-6   tensor-core configurations, registers only, K split over the warps:
//         1 rt1 u8 kw4, 2 rt1 u4 kw8, 3 rt2 u4 kw4, 4 rt4 u2 kw4, 5 rt2 u4 kw8,
//         6 rt4 u2 kw8 (rt: 16-row tiles per warp, u: k chunks in flight,
//         kw: warps per block); L2 evict-first on W; the product keeps these
//   7   as 1 with the warps splitting rows instead of K (x read once per block)
//   8   as 2 without the L2 evict-first hint on W
//   9   as 2 with L2 evict-last on x
//   10-12 a cp.async ring of 4 stages in shared memory instead of registers
//         (rt1 u2, rt4 u1, rt2 u2; 4 warps)
//   13  CUDA cores (one warp per 2 rows, 16-byte loads, FMA), T <= 4; larger
//       T runs version 0
//   cublas  cublasGemmEx (bf16 × bf16 → f32, f32 compute), the reference
// README.md says which won and by how much.
//
// Build: make -C dev/cuda skinny_gemm     Run: dev/cuda/skinny_gemm [version|all] [reps] [4B|0.6B|8B]
//
// Checks, for every (shape, T, version): y preset to NaN, no NaN left in y's
// T rows and nothing past them touched; max|y - ref| / max|ref| <= 1e-3; a
// second run on another copy of W bit-identical; accumulate = 1 over a
// preset pattern gives pattern + ref. The reference: on the edge shapes (odd
// T, N not a multiple of a block's rows, K not a multiple of a step, tiny N
// and K) the CPU's product in double; on the timed model shapes cuBLAS, itself
// checked against the CPU on 16 sampled outputs per (shape, T).
// Timing (common.cuh): one CUDA graph of L launches rotating over copies of W
// totalling >= 256 MB (so W comes from HBM, not the 50-60 MB L2); GB/s counts
// W bytes; % is of the measured copy floor. Then the best version per
// (shape, T) and per version the total over each model's shapes at T = 1 and
// T = 16 ("oracle" = best version per shape). Exit status 1 if a check fails.
//
// The kernels below are the lab's copy of every configuration (the product's
// skinny.cu keeps versions 1..6 and the shape rule); skinny.cu's header
// comment explains the mma fragment layout and the work split they share.
#include "../../src/backend/cuda/skinny.h"
#include "../../src/backend/cuda/common.cuh"
#include "common.cuh"

#include <atomic>
#include <string>

#include <cooperative_groups.h>

namespace cg = cooperative_groups;

static const int N_VERSIONS = 14;
namespace lab {

// Cache hints. W (read once): HINT 0 plain ld.global.nc; ≥ 1 no L1
// allocation + 256-byte L2 prefetch; ≥ 2 also L2 evict-first (policy pw), so
// the W stream does not push x and y out of L2. x (re-read by every block):
// cached in L1; HINT 3 also L2 evict-last (policy px).
template <int HINT> __device__ __forceinline__ int4 ld_w(const uint16_t *p, unsigned long long pw) {
    int4 v;
    if constexpr (HINT == 0) {
        asm("ld.global.nc.v4.s32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    } else if constexpr (HINT == 1) {
        asm("ld.global.nc.L1::no_allocate.L2::256B.v4.s32 {%0,%1,%2,%3}, [%4];"
            : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
            : "l"(p));
    } else {
        asm("ld.global.nc.L1::no_allocate.L2::cache_hint.L2::256B.v4.s32 {%0,%1,%2,%3}, [%4], %5;"
            : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
            : "l"(p), "l"(pw));
    }
    return v;
}

template <int HINT> __device__ __forceinline__ int4 ld_x(const uint16_t *p, unsigned long long px) {
    int4 v;
    if constexpr (HINT == 3) {
        asm("ld.global.nc.L2::cache_hint.v4.s32 {%0,%1,%2,%3}, [%4], %5;"
            : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
            : "l"(p), "l"(px));
    } else {
        v = __ldg(reinterpret_cast<const int4 *>(p));
    }
    return v;
}

__device__ __forceinline__ unsigned long long policy_evict_first() {
    unsigned long long p;
    asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(p));
    return p;
}
__device__ __forceinline__ unsigned long long policy_evict_last() {
    unsigned long long p;
    asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(p));
    return p;
}

__device__ __forceinline__ void prefetch_l2(const void *p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

__device__ __forceinline__ void mma_bf16(float (&c)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                         unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// 16-byte asynchronous copies global → shared with 256-byte L2 prefetch;
// src_bytes = 0 writes zeros and reads nothing. W: L2 only (.cg); x: also
// L1 (.ca), where the other warps of the block find it.
__device__ __forceinline__ void cp_async_w(void *dst, const void *src) {
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16;\n" ::"r"(d), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_x(void *dst, const void *src, int src_bytes) {
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global.L2::256B [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// One step of U chunks for one warp slot: loads first (U·RT·2 W loads and
// U·NT x loads in flight), then 2·U·RT·NT mmas. GUARD: chunks may run past nc.
template <int RT, int NT, int U, int HINT, bool GUARD>
__device__ __forceinline__ void tc_step(float (&acc)[RT][NT][4], const uint16_t *const (&wp)[RT],
                                        const uint16_t *const (&xp)[NT], const bool (&xv)[NT], size_t row8, int c0,
                                        int S, int nc, unsigned long long pw, unsigned long long px) {
    int4 a[U][RT][2], b[U][NT];
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int c = c0 + u * S;
        const bool ok = !GUARD || c < nc;
        const int off = c * 32;
#pragma unroll
        for (int r = 0; r < RT; r++) {
            a[u][r][0] = ok ? ld_w<HINT>(wp[r] + off, pw) : make_int4(0, 0, 0, 0);
            a[u][r][1] = ok ? ld_w<HINT>(wp[r] + row8 + off, pw) : make_int4(0, 0, 0, 0);
        }
#pragma unroll
        for (int j = 0; j < NT; j++) b[u][j] = ok && xv[j] ? ld_x<HINT>(xp[j] + off, px) : make_int4(0, 0, 0, 0);
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
// shared memory (cp.async): stage j holds the slot's chunks m = jU .. jU+U-1
// (chunk s + m·S) as U·(2RT + NT) int4 per thread, slot q of stage j at
// ring[((j % P)·U·(2RT+NT) + q)·32KW + tid], so each thread reads back only
// what it copied itself (no barrier; conflict-free 16-byte accesses). P-1
// stages are in flight while one is consumed.
template <int RT, int NT, int U, int P, int KW>
__device__ __forceinline__ void tc_pipe(float (&acc)[RT][NT][4], int4 *ring, const uint16_t *const (&wp)[RT],
                                        const uint16_t *const (&xp)[NT], const bool (&xv)[NT], size_t row8, int s,
                                        int S, int nc) {
    constexpr int Q = 2 * RT + NT, PER = U * Q, nth = KW * 32;
    const int tid = threadIdx.x;
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
                        cp_async_w(st + (u * Q + 2 * r) * nth, wp[r] + off);
                        cp_async_w(st + (u * Q + 2 * r + 1) * nth, wp[r] + row8 + off);
                    }
#pragma unroll
                    for (int jn = 0; jn < NT; jn++)
                        cp_async_x(st + (u * Q + 2 * RT + jn) * nth, xp[jn] + off, xv[jn] ? 16 : 0);
                }
            }
        }
        cp_async_commit();   // possibly empty: keeps the group count uniform
    };
#pragma unroll
    for (int j = 0; j < P - 1; j++) issue(j);
    for (int j = 0; j < nst; j++) {
        issue(j + P - 1);   // refills the stage consumed in iteration j-1 (own slots only)
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

// Block geometry shared by kernel and launcher.
template <int RT, int NT, int U, int P, int KW, bool WR> struct tc_geom {
    static constexpr int rows_warp = 16 * RT;
    static constexpr int rows_block = WR ? KW * rows_warp : rows_warp;
    static constexpr int sets = WR ? 1 : KW;                 // partial sums per output
    static constexpr int tok = 8 * NT;
    static constexpr int ld = rows_block + 4;                 // +4 spreads the fragment stores over banks
    static constexpr size_t red_bytes = (size_t)sets * tok * ld * sizeof(float);
    static constexpr size_t ring_bytes = (size_t)P * U * (2 * RT + NT) * 16 * KW * 32;
    static constexpr size_t smem_bytes = ring_bytes > red_bytes ? ring_bytes : red_bytes;
};

// Grid: ceil(N / rows_block) · cs blocks, cluster (cs,1,1) when cs > 1;
// block: KW warps. Dynamic shared memory: tc_geom::smem_bytes (the ring, if
// any, is reused for the reduction).
// (tc_body is the kernel; skinny_tc and skinny_tc2 only differ in the
// register budget: skinny_tc2 keeps 2 blocks of 8 warps per SM.)
template <int RT, int NT, int U, int P, int KW, int HINT, bool WR>
__device__ __forceinline__ void tc_body(float *__restrict__ y, const uint16_t *__restrict__ x,
                                        const uint16_t *__restrict__ W, int T, int N, int K, int accumulate,
                                        int cs) {
    using G = tc_geom<RT, NT, U, P, KW, WR>;
    constexpr int ROWS = G::rows_block, LD = G::ld, TOK = G::tok;
    extern __shared__ int4 smem[];
    float *red = reinterpret_cast<float *>(smem);   // [sets][TOK][LD]
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int rank = cs > 1 ? (int)cg::this_cluster().block_rank() : 0;
    const int grp = blockIdx.x / cs, ntiles = N >> 4, nc = K >> 5;
    const int S = WR ? cs : KW * cs, s = WR ? rank : rank * KW + warp;
    const int tile0 = grp * (ROWS / 16) + (WR ? warp * RT : 0);   // this warp's first tile
    const size_t row8 = (size_t)8 * K;
    unsigned long long pw = 0, px = 0;
    if constexpr (HINT >= 2) pw = policy_evict_first();
    if constexpr (HINT == 3) px = policy_evict_last();

    const uint16_t *xp[NT];
    bool xv[NT];
#pragma unroll
    for (int j = 0; j < NT; j++) {
        const int tok = 8 * j + g;
        xv[j] = tok < T;
        xp[j] = x + (size_t)(xv[j] ? tok : 0) * K + 8 * t;
    }
    const uint16_t *wp[RT];
#pragma unroll
    for (int r = 0; r < RT; r++) {
        const int tile = tile0 + r < ntiles ? tile0 + r : ntiles - 1;   // past N: read a valid tile, store nothing
        wp[r] = W + (size_t)(tile * 16 + g) * K + 8 * t;
    }
    // Before waiting for the kernel that writes x (PDL, common.cuh): ask L2
    // for this thread's first step of weights, which nothing in the step
    // writes. (Prefetching more, a budget of 4-64 MB spread over the blocks
    // with cp.async.bulk.prefetch, was measured slower on the H200.)
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int c = s + u * S;
        if (c < nc)
#pragma unroll
            for (int r = 0; r < RT; r++) {
                prefetch_l2(wp[r] + c * 32);
                prefetch_l2(wp[r] + row8 + c * 32);
            }
    }
    gck_pdl_enter();
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
            tc_step<RT, NT, U, HINT, false>(acc, wp, xp, xv, row8, c0, S, nc, pw, px);
        if (c0 < nc) tc_step<RT, NT, U, HINT, true>(acc, wp, xp, xv, row8, c0, S, nc, pw, px);
    } else {
        tc_pipe<RT, NT, U, P, KW>(acc, smem, wp, xp, xv, row8, s, S, nc);
        __syncthreads();   // the ring becomes the reduction buffer
    }

    // this warp's partials: set `warp` (K split) or columns of set 0 (row split)
    float *mine = WR ? red + warp * G::rows_warp : red + warp * TOK * LD;
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
    const int nout = T * ROWS, n0 = grp * ROWS;
    for (int e = threadIdx.x; e < nout; e += KW * 32) {
        const int tok = e / ROWS, row = e % ROWS;
        float v = red[tok * LD + row];
#pragma unroll
        for (int w = 1; w < G::sets; w++) v += red[(w * TOK + tok) * LD + row];
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
        for (int e = rank * KW * 32 + threadIdx.x; e < nout; e += cs * KW * 32) {
            const int tok = e / ROWS, row = e % ROWS;
            float v = 0.0f;
            for (int q = 0; q < cs; q++) v += cluster.map_shared_rank(red, q)[tok * LD + row];
            if (n0 + row < N) {
                float *o = y + (size_t)tok * N + n0 + row;
                *o = accumulate ? *o + v : v;
            }
        }
        cluster.sync();   // no block may leave while others read its shared memory
    }
}

template <int RT, int NT, int U, int P, int KW, int HINT, bool WR>
__global__ void __launch_bounds__(KW * 32) skinny_tc(float *__restrict__ y, const uint16_t *__restrict__ x,
                                                     const uint16_t *__restrict__ W, int T, int N, int K,
                                                     int accumulate, int cs) {
    tc_body<RT, NT, U, P, KW, HINT, WR>(y, x, W, T, N, K, accumulate, cs);
}
template <int RT, int NT, int U, int P, int KW, int HINT, bool WR>
__global__ void __launch_bounds__(KW * 32, 2) skinny_tc2(float *__restrict__ y, const uint16_t *__restrict__ x,
                                                         const uint16_t *__restrict__ W, int T, int N, int K,
                                                         int accumulate, int cs) {
    tc_body<RT, NT, U, P, KW, HINT, WR>(y, x, W, T, N, K, accumulate, cs);
}

// 8 warps of 32 or 64 rows each: cap registers so that 2 blocks fit an SM
// (else ~130 registers leave one).
template <int RT, int NT, int U, int P, int KW, int HINT, bool WR> constexpr auto tc_kernel() {
    if constexpr (KW == 8 && RT >= 2)
        return skinny_tc2<RT, NT, U, P, KW, HINT, WR>;
    else
        return skinny_tc<RT, NT, U, P, KW, HINT, WR>;
}

// CUDA-core path. Block: 8 warps, warp w owns rows 2·(8·blockIdx.x + w) + {0,1}.
template <int TT, int U>
__global__ void __launch_bounds__(256) skinny_cc(float *__restrict__ y, const uint16_t *__restrict__ x,
                                                 const uint16_t *__restrict__ W, int T, int N, int K, int accumulate) {
    constexpr int R = 2;
    gck_pdl_enter();
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
            for (int r = 0; r < R; r++) wv[u][r] = ld_w<1>(reinterpret_cast<const uint16_t *>(wr + (size_t)r * np + p + 32 * u), 0);
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
            const int4 w = ld_w<1>(reinterpret_cast<const uint16_t *>(wr + (size_t)r * np + p), 0);
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

// A tensor-core configuration: RT row tiles per warp, U chunks per load
// step, P ring stages (0: registers only), KW warps per block, HINT cache
// hints (P = 0 only), WR row split (else K split) across the block's warps.
struct tc_cfg {
    int rt, u, p, kw, hint, wr;
};

// How a configuration runs on a shape: cs blocks per cluster, blocks in the
// grid, cap = blocks the GPU holds at once.
struct tc_plan {
    int cs, blocks, cap;
};

int sm_count() {
    static std::atomic<int> sms{-1};
    int v = sms.load(std::memory_order_relaxed);
    if (v < 0) {
        int dev = 0;
        if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
            v = 132;
        sms.store(v, std::memory_order_relaxed);
    }
    return v;
}

// Plans and (launch = true) launches one kernel. The cluster size is the
// largest cs ≤ 8 that keeps the whole grid resident at once (one wave) and
// leaves every warp slot ≥ U chunks (one full step); clusters split K when N is too
// narrow to fill the GPU. Occupancies are queried once per kernel (and
// cluster size) and cached; the result is the same on every call.
template <int RT, int NT, int U, int P, int KW, int HINT, bool WR>
cudaError_t tc_launch(bool launch, tc_plan *pl, cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W,
                      int T, int N, int K, int accumulate) {
    using G = tc_geom<RT, NT, U, P, KW, WR>;
    auto kern = tc_kernel<RT, NT, U, P, KW, HINT, WR>();
    static std::atomic<int> occ{-1};               // blocks per SM
    static std::atomic<int> clusters[9] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};   // active clusters per cs
    int bps = occ.load(std::memory_order_relaxed);
    if (bps < 0) {
        if (G::smem_bytes > 48 * 1024) {   // opt in to large dynamic shared memory
            int dev = 0, optin = 0;
            cudaError_t e = cudaGetDevice(&dev);
            if (e == cudaSuccess) e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
            if (e == cudaSuccess) e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, optin);
            if (e != cudaSuccess) return e;
        }
        cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&bps, kern, KW * 32, G::smem_bytes);
        if (e != cudaSuccess) return e;
        if (bps < 1) return cudaErrorInvalidConfiguration;
        occ.store(bps, std::memory_order_relaxed);
    }
    const int cap = bps * sm_count();
    const int ngroups = (N + G::rows_block - 1) / G::rows_block, nc = K / 32, slots = WR ? 1 : KW;

    cudaLaunchConfig_t cfg = {};
    cfg.blockDim = dim3((unsigned)(KW * 32));
    cfg.dynamicSmemBytes = G::smem_bytes;
    cfg.stream = s;
    cudaLaunchAttribute attr[2];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    attr[1] = gck_pdl_attr();
    const unsigned pdl = gck_pdl_enabled() ? 1 : 0;
    int cs = 1;
    for (int c = 8; c > 1; c--) {
        if (ngroups * c > cap || nc < c * slots * U) continue;
        int act = clusters[c].load(std::memory_order_relaxed);
        if (act < 0) {
            attr[0].val.clusterDim.x = (unsigned)c;
            cfg.gridDim = dim3((unsigned)(ngroups * c));
            cfg.attrs = attr;
            cfg.numAttrs = 1;
            if (cudaOccupancyMaxActiveClusters(&act, kern, &cfg) != cudaSuccess) {
                (void)cudaGetLastError();
                act = 0;
            }
            clusters[c].store(act, std::memory_order_relaxed);
        }
        if (act >= ngroups) {
            cs = c;
            break;
        }
    }
    if (pl) *pl = {cs, ngroups * cs, cap};
    if (!launch) return cudaSuccess;
    cfg.gridDim = dim3((unsigned)(ngroups * cs));
    if (cs > 1) {
        attr[0].val.clusterDim.x = (unsigned)cs;
        cfg.attrs = attr;
        cfg.numAttrs = 1 + pdl;
    } else {
        cfg.attrs = attr + 1;
        cfg.numAttrs = pdl;
    }
    return cudaLaunchKernelEx(&cfg, kern, y, x, W, T, N, K, accumulate, cs);
}

template <int RT, int U, int P, int KW, int HINT, bool WR>
cudaError_t tc_launch_nt(bool launch, tc_plan *pl, cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W,
                         int T, int N, int K, int accumulate) {
    if (T <= 8) return tc_launch<RT, 1, U, P, KW, HINT, WR>(launch, pl, s, y, x, W, T, N, K, accumulate);
    return tc_launch<RT, 2, U, P, KW, HINT, WR>(launch, pl, s, y, x, W, T, N, K, accumulate);
}

// Fixed configurations, versions 1..12 (index = version - 1).
//                 rt u  p kw hint wr
const tc_cfg k_fixed[12] = {
    {1, 8, 0, 4, 2, 0},   //  1: regs, K split, 16 rows/warp, 8 chunks in flight, 4 warps
    {1, 4, 0, 8, 2, 0},   //  2: regs, K split, 16 rows/warp, 4 chunks, 8 warps
    {2, 4, 0, 4, 2, 0},   //  3: regs, K split, 32 rows/warp, 4 chunks, 4 warps
    {4, 2, 0, 4, 2, 0},   //  4: regs, K split, 64 rows/warp, 2 chunks, 4 warps
    {2, 4, 0, 8, 2, 0},   //  5: regs, K split, 32 rows/warp, 4 chunks, 8 warps
    {4, 2, 0, 8, 2, 0},   //  6: regs, K split, 64 rows/warp, 2 chunks, 8 warps
    {1, 8, 0, 4, 2, 1},   //  7: regs, row split, 16 rows/warp (64/block), 8 chunks, 4 warps
    {1, 4, 0, 8, 1, 0},   //  8: as 2 without L2 evict-first on W
    {1, 4, 0, 8, 3, 0},   //  9: as 2 with L2 evict-last on x
    {1, 2, 4, 4, 1, 0},   // 10: ring, K split, 16 rows/warp, 4 stages of 2 chunks, 4 warps
    {4, 1, 4, 4, 1, 0},   // 11: ring, K split, 64 rows/warp, 4 stages of 1 chunk, 4 warps
    {2, 2, 4, 4, 1, 0},   // 12: ring, K split, 32 rows/warp, 4 stages of 2 chunks, 4 warps
};

// Version names; version 0 is the product's gck_skinny (shape rule over versions 1..6).
const char *const k_names[N_VERSIONS] = {
    "product (auto over 1-6)",
    "regs ksplit rt1 u8 kw4",
    "regs ksplit rt1 u4 kw8",
    "regs ksplit rt2 u4 kw4",
    "regs ksplit rt4 u2 kw4",
    "regs ksplit rt2 u4 kw8",
    "regs ksplit rt4 u2 kw8",
    "regs rows rt1 u8 kw4",
    "regs ksplit rt1 u4 kw8 noEF",
    "regs ksplit rt1 u4 kw8 xEL",
    "ring ksplit rt1 u2 p4 kw4",
    "ring ksplit rt4 u1 p4 kw4",
    "ring ksplit rt2 u2 p4 kw4",
    "cuda-core 2 rows/warp",
};

cudaError_t tc_run(const tc_cfg &c, bool launch, tc_plan *pl, cudaStream_t s, float *y, const uint16_t *x,
                   const uint16_t *W, int T, int N, int K, int accumulate) {
#define GCK_TC(RT_, U_, P_, KW_, H_, WR_)                                                                         \
    if (c.rt == RT_ && c.u == U_ && c.p == P_ && c.kw == KW_ && c.hint == H_ && c.wr == WR_)                      \
        return tc_launch_nt<RT_, U_, P_, KW_, H_, WR_>(launch, pl, s, y, x, W, T, N, K, accumulate);
    GCK_TC(1, 8, 0, 4, 2, 0)
    GCK_TC(1, 4, 0, 8, 2, 0)
    GCK_TC(2, 4, 0, 4, 2, 0)
    GCK_TC(4, 2, 0, 4, 2, 0)
    GCK_TC(2, 4, 0, 8, 2, 0)
    GCK_TC(4, 2, 0, 8, 2, 0)
    GCK_TC(1, 8, 0, 4, 2, 1)
    GCK_TC(1, 4, 0, 8, 1, 0)
    GCK_TC(1, 4, 0, 8, 3, 0)
    GCK_TC(1, 2, 4, 4, 1, 0)
    GCK_TC(4, 1, 4, 4, 1, 0)
    GCK_TC(2, 2, 4, 4, 1, 0)
#undef GCK_TC
    return cudaErrorInvalidValue;
}

template <int TT>
cudaError_t cc_launch(cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K,
                      int accumulate) {
    const unsigned blocks = (unsigned)((N / 2 + 7) / 8);
    return gck_launch(skinny_cc<TT, 4>, blocks, 256, 0, s, y, x, W, T, N, K, accumulate);
}

}   // namespace lab

// Runs version v (0..13) once; cudaErrorInvalidValue for arguments the
// product's gck_skinny refuses too.
static cudaError_t skinny_version(int v, cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N,
                                  int K, int accumulate) {
    if (v == 0) return gck_skinny(s, y, x, W, T, N, K, accumulate, 0);
    if (!y || !x || !W || T < 1 || T > 16 || N <= 0 || K <= 0 || N % 16 || K % 64) return cudaErrorInvalidValue;
    if (((uintptr_t)x | (uintptr_t)W) & 15) return cudaErrorInvalidValue;
    if (v < 0 || v >= N_VERSIONS) return cudaErrorInvalidValue;
    if (v == 13) {
        if (T == 1) return lab::cc_launch<1>(s, y, x, W, T, N, K, accumulate);
        if (T == 2) return lab::cc_launch<2>(s, y, x, W, T, N, K, accumulate);
        if (T <= 4) return lab::cc_launch<4>(s, y, x, W, T, N, K, accumulate);
        return gck_skinny(s, y, x, W, T, N, K, accumulate, 0);
    }
    return lab::tc_run(lab::k_fixed[v - 1], true, nullptr, s, y, x, W, T, N, K, accumulate);
}

// ---------------------------------------------------------------- checks and timing

struct shape {
    const char *model, *name;
    int N, K;
};

// The decode products of Qwen3-4B, -0.6B and -8B (q/k/v stacked, gate/up stacked).
static const shape k_shapes[] = {
    {"4B", "qkv", 6144, 2560},        {"4B", "o", 2560, 4096},        {"4B", "gate_up", 19456, 2560},
    {"4B", "down", 2560, 9728},       {"4B", "lm_head", 151936, 2560}, {"0.6B", "qkv", 4096, 1024},
    {"0.6B", "o", 1024, 2048},        {"0.6B", "gate_up", 6144, 1024}, {"0.6B", "down", 1024, 3072},
    {"0.6B", "lm_head", 151936, 1024}, {"8B", "qkv", 6144, 4096},      {"8B", "o", 4096, 4096},
    {"8B", "gate_up", 24576, 4096},   {"8B", "down", 4096, 12288},
};
static const int k_nshapes = (int)(sizeof k_shapes / sizeof k_shapes[0]);
static const int k_T[] = {1, 2, 4, 8, 16};
static const int k_nT = 5;
static const char *const k_models[] = {"4B", "0.6B", "8B"};

// y(T,N) row-major is column-major (N,T) with ld N; W row-major (N,K) is
// column-major (K,N) with ld K, so op(A) = transpose; x row-major (T,K) is
// column-major (K,T) with ld K, op(B) = as is.
static void cublas_ref(cublasHandle_t h, float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K) {
    const float alpha = 1.0f, beta = 0.0f;
    CKB(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &alpha, W, CUDA_R_16BF, K, x, CUDA_R_16BF, K, &beta, y,
                     CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// The four checks of one version on one (N, K, T): ref (T, N) in double.
// dy holds 16·N floats. Returns true when all pass (a line says why not).
static bool check_version(int v, cudaStream_t st, float *dy, const uint16_t *dx, const uint16_t *dW,
                          const uint16_t *dW2, int T, int N, int K, const double *ref, double *err_out) {
    const size_t ny = (size_t)T * N, nall = (size_t)16 * N;
    std::vector<float> hy(nall), hy2(ny), hpat(ny);
    for (size_t i = 0; i < ny; i++) hpat[i] = 0.25f * (float)((int)(i % 13) - 6);
    CK(cudaMemsetAsync(dy, 0xff, nall * 4, st));
    cudaError_t e = skinny_version(v, st, dy, dx, dW, T, N, K, 0);
    if (e != cudaSuccess) {
        printf("version %d N=%d K=%d T=%d: launch error %s\n", v, N, K, T, cudaGetErrorString(e));
        return false;
    }
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(hy.data(), dy, nall * 4, cudaMemcpyDeviceToHost));
    size_t nan = 0, touched = 0;
    for (size_t i = 0; i < ny; i++) nan += std::isnan(hy[i]);
    for (size_t i = ny; i < nall; i++) {
        uint32_t b;
        memcpy(&b, &hy[i], 4);
        touched += b != 0xffffffffu;
    }
    const double err = lab_rel_err(hy.data(), ref, nullptr, ny);
    // determinism: again, on another copy of W with the same values
    CK(cudaMemsetAsync(dy, 0xff, nall * 4, st));
    CK(skinny_version(v, st, dy, dx, dW2, T, N, K, 0));
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(hy2.data(), dy, ny * 4, cudaMemcpyDeviceToHost));
    const bool same = !memcmp(hy.data(), hy2.data(), ny * 4);
    // accumulate = 1 over a pattern (stream-ordered copy: a pageable
    // cudaMemcpy may return before its DMA lands)
    CK(cudaMemcpyAsync(dy, hpat.data(), ny * 4, cudaMemcpyHostToDevice, st));
    CK(skinny_version(v, st, dy, dx, dW, T, N, K, 1));
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(hy2.data(), dy, ny * 4, cudaMemcpyDeviceToHost));
    const double erra = lab_rel_err(hy2.data(), ref, hpat.data(), ny);
    *err_out = std::max(err, erra);
    const bool ok = !nan && !touched && err <= 1e-3 && same && erra <= 1e-3;
    if (!ok)
        printf("version %d N=%d K=%d T=%d: FAIL (NaN left %zu, written past T rows %zu, relerr %.3g, accumulate "
               "relerr %.3g, deterministic %d)\n",
               v, N, K, T, nan, touched, err, erra, (int)same);
    return ok;
}

// Correctness only, against the CPU, on shapes that exercise the edges; then
// the argument checks. Returns the number of failures.
static int check_edges(cudaStream_t st, int v0, int v1) {
    struct edge {
        int N, K, T;
    };
    static const edge k_edges[] = {{1040, 1088, 3}, {2576, 4160, 13}, {16, 64, 1}, {48, 192, 16},
                                   {4112, 576, 7}, {272, 12352, 11}, {150016, 128, 5}};
    int failures = 0;
    for (const edge &c : k_edges) {
        const int N = c.N, K = c.K, T = c.T;
        uint16_t *dW, *dx;
        float *dy;
        CK(cudaMalloc(&dW, (size_t)N * K * 2 * 2));
        CK(cudaMalloc(&dx, (size_t)16 * K * 2));
        CK(cudaMalloc(&dy, (size_t)16 * N * 4));
        lab_gen_bf16<<<256, 256, 0, st>>>(dW, (size_t)N * K, 77 + N, 0.02f);
        lab_gen_bf16<<<64, 256, 0, st>>>(dx, (size_t)16 * K, 99 + K, 1.0f);
        CK(cudaGetLastError());
        CK(cudaMemcpyAsync(dW + (size_t)N * K, dW, (size_t)N * K * 2, cudaMemcpyDeviceToDevice, st));
        std::vector<uint16_t> hW((size_t)N * K), hx((size_t)T * K);
        CK(cudaStreamSynchronize(st));
        CK(cudaMemcpy(hW.data(), dW, hW.size() * 2, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(hx.data(), dx, hx.size() * 2, cudaMemcpyDeviceToHost));
        std::vector<double> ref((size_t)T * N);
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                double d = 0;
                for (int k = 0; k < K; k++) d += (double)lab_bf2f(hW[(size_t)n * K + k]) * lab_bf2f(hx[(size_t)t * K + k]);
                ref[(size_t)t * N + n] = d;
            }
        int bad = 0;
        for (int v = v0; v <= v1; v++) {
            double err;
            bad += !check_version(v, st, dy, dx, dW, dW + (size_t)N * K, T, N, K, ref.data(), &err);
        }
        printf("# edge N=%d K=%d T=%d (CPU reference): %s\n", N, K, T, bad ? "FAIL" : "ok");
        failures += bad;
        cudaFree(dW);
        cudaFree(dx);
        cudaFree(dy);
    }
    // invalid arguments are refused before any launch
    float *y = nullptr;
    uint16_t *w = nullptr;
    CK(cudaMalloc(&y, 4096));
    CK(cudaMalloc(&w, 4096));
    const struct {
        int T, N, K;
    } k_bad[] = {{0, 16, 64}, {17, 16, 64}, {1, 8, 64}, {1, 16, 32}, {1, 0, 64}, {1, 16, 0}};
    for (int v = v0; v <= v1; v++) {
        for (const auto &b : k_bad)
            if (skinny_version(v, st, y, w, w, b.T, b.N, b.K, 0) != cudaErrorInvalidValue) {
                printf("version %d: argument check T=%d N=%d K=%d not refused\n", v, b.T, b.N, b.K);
                failures++;
            }
        if (skinny_version(v, st, y, w + 1, w, 1, 16, 64, 0) != cudaErrorInvalidValue) {
            printf("version %d: misaligned x not refused\n", v);
            failures++;
        }
    }
    if (gck_skinny(st, y, w, w, 1, 16, 64, 0, GCK_SKINNY_NVARIANTS) != cudaErrorInvalidValue) {
        printf("the product's gck_skinny: unknown variant not refused\n");
        failures++;
    }
    CK(cudaStreamSynchronize(st));
    cudaFree(y);
    cudaFree(w);
    return failures;
}

int main(int argc, char **argv) {
    // versions v0..v1 (one, or all), then cuBLAS
    int v0 = 0, v1 = N_VERSIONS - 1;
    if (argc > 1 && strcmp(argv[1], "all") != 0) {
        v0 = v1 = atoi(argv[1]);
        if (v0 < 0 || v0 >= N_VERSIONS) {
            fprintf(stderr, "usage: %s [version 0..%d | all] [reps] [4B|0.6B|8B]\n", argv[0], N_VERSIONS - 1);
            return 2;
        }
    }
    const int reps = argc > 2 ? std::max(5, atoi(argv[2])) : 30;
    const char *only = argc > 3 ? argv[3] : nullptr;
    const int NCOL = N_VERSIONS + 1, CBLAS = N_VERSIONS;   // columns: versions, then cuBLAS

    cudaStream_t st;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    const double floor = lab_device_floor(st);
    for (int v = v0; v <= v1; v++) printf("# version %2d: %s\n", v, lab::k_names[v]);
    cublasHandle_t hb;
    CKB(cublasCreate(&hb));
    CKB(cublasSetStream(hb, st));
    void *ws = nullptr;
    const size_t ws_bytes = 64u << 20;
    CK(cudaMalloc(&ws, ws_bytes));
    CKB(cublasSetWorkspace(hb, ws, ws_bytes));

    int maxN = 0, maxK = 0;
    for (int i = 0; i < k_nshapes; i++) maxN = std::max(maxN, k_shapes[i].N), maxK = std::max(maxK, k_shapes[i].K);
    uint16_t *dx;
    float *dy, *dref;
    CK(cudaMalloc(&dx, (size_t)16 * maxK * 2));
    CK(cudaMalloc(&dy, (size_t)16 * maxN * 4));
    CK(cudaMalloc(&dref, (size_t)16 * maxN * 4));
    std::vector<float> href((size_t)16 * maxN);
    std::vector<double> refd((size_t)16 * maxN);
    std::vector<uint16_t> hrow(maxK), hxrow(maxK);

    // per (shape, T, column) microseconds; < 0 = not measured
    std::vector<double> us((size_t)k_nshapes * k_nT * NCOL, -1.0);
    int failures = check_edges(st, v0, v1);
    printf("%-7s %-8s %6s %6s %2s %7s %9s %8s %6s %10s %s\n", "model", "shape", "N", "K", "T", "version", "us", "GB/s",
           "floor", "relerr", "ok");

    for (int si = 0; si < k_nshapes; si++) {
        const shape &sh = k_shapes[si];
        if (only && strcmp(only, sh.model)) continue;
        const int N = sh.N, K = sh.K;
        const size_t welems = (size_t)N * K, wbytes = welems * 2;
        const int ncopy = (int)std::min<size_t>(64, std::max<size_t>(2, ((size_t)256 << 20) / wbytes + 1));
        uint16_t *dW;
        CK(cudaMalloc(&dW, wbytes * ncopy));
        lab_gen_bf16<<<1024, 256, 0, st>>>(dW, welems, 1000 + si, 0.02f);
        lab_gen_bf16<<<64, 256, 0, st>>>(dx, (size_t)16 * K, 7 + si, 1.0f);
        CK(cudaGetLastError());
        for (int c = 1; c < ncopy; c++) CK(cudaMemcpyAsync(dW + welems * c, dW, wbytes, cudaMemcpyDeviceToDevice, st));
        CK(cudaStreamSynchronize(st));
        const int L = std::max(ncopy, 8);

        for (int ti = 0; ti < k_nT; ti++) {
            const int T = k_T[ti];
            const size_t ny = (size_t)T * N;
            double *u = &us[((size_t)si * k_nT + ti) * NCOL];
            cublas_ref(hb, dref, dx, dW, T, N, K);
            CK(cudaStreamSynchronize(st));
            CK(cudaMemcpy(href.data(), dref, ny * 4, cudaMemcpyDeviceToHost));
            for (size_t i = 0; i < ny; i++) refd[i] = href[i];
            // the cuBLAS reference against the CPU on 16 sampled outputs
            double mr = 0;
            for (size_t i = 0; i < ny; i++) mr = std::max(mr, (double)std::fabs(href[i]));
            for (int q = 0; q < 16; q++) {
                const int n = (int)((q * 2654435761u + 12345u) % (unsigned)N), t = q % T;
                CK(cudaMemcpy(hrow.data(), dW + (size_t)n * K, (size_t)K * 2, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(hxrow.data(), dx + (size_t)t * K, (size_t)K * 2, cudaMemcpyDeviceToHost));
                double d = 0;
                for (int k = 0; k < K; k++) d += (double)lab_bf2f(hrow[k]) * lab_bf2f(hxrow[k]);
                if (std::fabs(d - href[(size_t)t * N + n]) > 1e-3 * mr) {
                    printf("REFERENCE MISMATCH N=%d K=%d T=%d t=%d n=%d: cublas %g CPU %g\n", N, K, T, t, n,
                           href[(size_t)t * N + n], d);
                    failures++;
                }
            }
            for (int v = v0; v <= v1; v++) {
                double err = 0;
                const bool ok = check_version(v, st, dy, dx, dW, dW + welems * (ncopy - 1), T, N, K, refd.data(), &err);
                failures += !ok;
                const double t_us = lab_time_calls(st, L, reps, [&](int i) {
                    (void)skinny_version(v, st, dy, dx, dW + welems * (i % ncopy), T, N, K, 0);
                });
                CK(cudaGetLastError());
                u[v] = t_us;
                const double gbs = wbytes / t_us * 1e-3;
                printf("%-7s %-8s %6d %6d %2d %7d %9.2f %8.1f %5.0f%% %10.2e %s\n", sh.model, sh.name, N, K, T, v, t_us,
                       gbs, 100.0 * gbs / floor, err, ok ? "ok" : "FAIL");
            }
            const double tb =
                lab_time_calls(st, L, reps, [&](int i) { cublas_ref(hb, dy, dx, dW + welems * (i % ncopy), T, N, K); });
            u[CBLAS] = tb;
            printf("%-7s %-8s %6d %6d %2d %7s %9.2f %8.1f %5.0f%% %10.2e %s\n", sh.model, sh.name, N, K, T, "cublas", tb,
                   wbytes / tb * 1e-3, 100.0 * wbytes / tb * 1e-3 / floor, 0.0, "ref");
            int best = v0;
            for (int v = v0 + 1; v <= v1; v++)
                if (u[v] < u[best]) best = v;
            printf("# best %s %s T=%d: version %d %.2f us %.1f GB/s (cublas %.2f us)\n", sh.model, sh.name, T, best,
                   u[best], wbytes / u[best] * 1e-3, tb);
            fflush(stdout);
        }
        CK(cudaFree(dW));
    }

    // totals per model at T = 1 and T = 16; rows: the versions, cuBLAS, then
    // "oracle" = the best version per (shape, T)
    printf("\n# total us over each model's shapes (W GB/s in parentheses)\n");
    printf("%-8s %-26s", "version", "name");
    for (const char *m : k_models) printf(" %10s T=1 %10s T=16", m, m);
    printf("\n");
    for (int col = v0; col <= NCOL; col++) {
        if (col > v1 && col < CBLAS) continue;
        const std::string label = col < N_VERSIONS ? std::to_string(col) : col == CBLAS ? "cublas" : "oracle";
        printf("%-8s %-26s", label.c_str(),
               col < N_VERSIONS ? lab::k_names[col] : col == CBLAS ? "cublasGemmEx" : "best version per shape");
        for (const char *m : k_models)
            for (int ti : {0, k_nT - 1}) {
                double tot = 0, bytes = 0;
                bool have = false;
                for (int si = 0; si < k_nshapes; si++) {
                    if (strcmp(k_shapes[si].model, m)) continue;
                    const double *u = &us[((size_t)si * k_nT + ti) * NCOL];
                    double t = -1;
                    if (col < NCOL) {
                        t = u[col];
                    } else {
                        for (int v = v0; v <= v1; v++)
                            if (u[v] >= 0 && (t < 0 || u[v] < t)) t = u[v];
                    }
                    if (t < 0) continue;
                    tot += t;
                    bytes += (double)k_shapes[si].N * k_shapes[si].K * 2;
                    have = true;
                }
                if (have)
                    printf(" %8.1f(%5.0f)", tot, bytes / tot * 1e-3);
                else
                    printf(" %15s", "-");
            }
        printf("\n");
    }
    printf("\n%s: %d check(s) failed\n", failures ? "FAIL" : "PASS", failures);
    cublasDestroy(hb);
    cudaFree(ws);
    cudaFree(dx);
    cudaFree(dy);
    cudaFree(dref);
    cudaStreamDestroy(st);
    return failures ? 1 : 0;
}
