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
// "group", t = lane%4) of a warp owning row tile R (rows 16R .. 16R+15) loads
//   wa = W[16R + g    ][32c + 8t .. 32c + 8t + 7]   (int4 = 4 bf16 pairs .x .y .z .w)
//   wb = W[16R + g + 8][32c + 8t .. 32c + 8t + 7]
//   xb = x[token g    ][32c + 8t .. 32c + 8t + 7]   (0 when token g >= T)
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
// Work split. A warp owns RT row tiles (16·RT rows); the KW warps of a
// block own the same RT tiles and split K; with clusters, so do the CS
// blocks of a cluster. Slot s = rank·KW + warp of S = CS·KW slots takes
// chunks c ≡ s (mod S), U at a time (c, c+S, .., c+(U-1)S): U·RT·2 W loads
// in flight per thread, straight into registers.
// Reduction: partials go to shared memory as red[warp][token][row] and are
// summed over warps in index order, then over cluster ranks in rank order
// through distributed shared memory: bit-identical results run to run, each
// y element written by one thread.
//
// Variants 1..6 are the configurations the shape rule (auto_run, variant 0,
// what the engine runs) picks from. The others measured (warps splitting rows,
// other cache hints, a cp.async ring in shared memory, a CUDA-core path) live
// in the kernel lab, dev/cuda/skinny_gemm.cu; dev/cuda/README.md has the numbers.
#include "skinny.h"
#include "backend/cuda/common.cuh"

#include <atomic>

#include <cooperative_groups.h>

namespace cg = cooperative_groups;

namespace {

// W (read once): no L1 allocation, 256-byte L2 prefetch and L2 evict-first
// (policy pw), so the W stream does not push x and y out of L2.
__device__ __forceinline__ int4 ld_w(const uint16_t *p, unsigned long long pw) {
    int4 v;
    asm("ld.global.nc.L1::no_allocate.L2::cache_hint.L2::256B.v4.s32 {%0,%1,%2,%3}, [%4], %5;"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p), "l"(pw));
    return v;
}

// x (re-read by every block): cached in L1.
__device__ __forceinline__ int4 ld_x(const uint16_t *p) { return __ldg(reinterpret_cast<const int4 *>(p)); }

__device__ __forceinline__ unsigned long long policy_evict_first() {
    unsigned long long p;
    asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(p));
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

// One step of U chunks for one warp slot: loads first (U·RT·2 W loads and
// U·NT x loads in flight), then 2·U·RT·NT mmas. GUARD: chunks may run past nc.
template <int RT, int NT, int U, bool GUARD>
__device__ __forceinline__ void tc_step(float (&acc)[RT][NT][4], const uint16_t *const (&wp)[RT],
                                        const uint16_t *const (&xp)[NT], const bool (&xv)[NT], size_t row8, int c0,
                                        int S, int nc, unsigned long long pw) {
    int4 a[U][RT][2], b[U][NT];
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int c = c0 + u * S;
        const bool ok = !GUARD || c < nc;
        const int off = c * 32;
#pragma unroll
        for (int r = 0; r < RT; r++) {
            a[u][r][0] = ok ? ld_w(wp[r] + off, pw) : make_int4(0, 0, 0, 0);
            a[u][r][1] = ok ? ld_w(wp[r] + row8 + off, pw) : make_int4(0, 0, 0, 0);
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

// Block geometry shared by kernel and launcher.
template <int RT, int NT, int KW> struct tc_geom {
    static constexpr int rows_block = 16 * RT;
    static constexpr int sets = KW;                          // partial sums per output
    static constexpr int tok = 8 * NT;
    static constexpr int ld = rows_block + 4;                 // +4 spreads the fragment stores over banks
    static constexpr size_t smem_bytes = (size_t)sets * tok * ld * sizeof(float);
};

// Grid: ceil(N / rows_block) · cs blocks, cluster (cs,1,1) when cs > 1;
// block: KW warps. Dynamic shared memory: tc_geom::smem_bytes.
// (tc_body is the kernel; skinny_tc and skinny_tc2 only differ in the
// register budget: skinny_tc2 keeps 2 blocks of 8 warps per SM.)
template <int RT, int NT, int U, int KW>
__device__ __forceinline__ void tc_body(float *__restrict__ y, const uint16_t *__restrict__ x,
                                        const uint16_t *__restrict__ W, int T, int N, int K, int accumulate,
                                        int cs) {
    using G = tc_geom<RT, NT, KW>;
    constexpr int ROWS = G::rows_block, LD = G::ld, TOK = G::tok;
    extern __shared__ int4 smem[];
    float *red = reinterpret_cast<float *>(smem);   // [KW][TOK][LD]
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int rank = cs > 1 ? (int)cg::this_cluster().block_rank() : 0;
    const int grp = blockIdx.x / cs, ntiles = N >> 4, nc = K >> 5;
    const int S = KW * cs, s = rank * KW + warp;
    const int tile0 = grp * (ROWS / 16);   // the block's first tile (all its warps own the same tiles)
    const size_t row8 = (size_t)8 * K;
    const unsigned long long pw = policy_evict_first();

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

    int c0 = s;
    for (; c0 + (U - 1) * S < nc; c0 += U * S) tc_step<RT, NT, U, false>(acc, wp, xp, xv, row8, c0, S, nc, pw);
    if (c0 < nc) tc_step<RT, NT, U, true>(acc, wp, xp, xv, row8, c0, S, nc, pw);

    // this warp's partials: set `warp`
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

template <int RT, int NT, int U, int KW>
__global__ void __launch_bounds__(KW * 32) skinny_tc(float *__restrict__ y, const uint16_t *__restrict__ x,
                                                     const uint16_t *__restrict__ W, int T, int N, int K,
                                                     int accumulate, int cs) {
    tc_body<RT, NT, U, KW>(y, x, W, T, N, K, accumulate, cs);
}
template <int RT, int NT, int U, int KW>
__global__ void __launch_bounds__(KW * 32, 2) skinny_tc2(float *__restrict__ y, const uint16_t *__restrict__ x,
                                                         const uint16_t *__restrict__ W, int T, int N, int K,
                                                         int accumulate, int cs) {
    tc_body<RT, NT, U, KW>(y, x, W, T, N, K, accumulate, cs);
}

// 8 warps of 32 or 64 rows each: cap registers so that 2 blocks fit an SM
// (else ~130 registers leave one).
template <int RT, int NT, int U, int KW> constexpr auto tc_kernel() {
    if constexpr (KW == 8 && RT >= 2)
        return skinny_tc2<RT, NT, U, KW>;
    else
        return skinny_tc<RT, NT, U, KW>;
}

// A tensor-core configuration: RT row tiles per warp, U chunks per load
// step, KW warps per block.
struct tc_cfg {
    int rt, u, kw;
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
template <int RT, int NT, int U, int KW>
cudaError_t tc_launch(bool launch, tc_plan *pl, cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W,
                      int T, int N, int K, int accumulate) {
    using G = tc_geom<RT, NT, KW>;
    auto kern = tc_kernel<RT, NT, U, KW>();
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
    const int ngroups = (N + G::rows_block - 1) / G::rows_block, nc = K / 32, slots = KW;

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

template <int RT, int U, int KW>
cudaError_t tc_launch_nt(bool launch, tc_plan *pl, cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W,
                         int T, int N, int K, int accumulate) {
    if (T <= 8) return tc_launch<RT, 1, U, KW>(launch, pl, s, y, x, W, T, N, K, accumulate);
    return tc_launch<RT, 2, U, KW>(launch, pl, s, y, x, W, T, N, K, accumulate);
}

// Fixed configurations, variants 1..6 (index = variant - 1): registers only,
// K split over the block's warps, L2 evict-first on W.
//                 rt u kw
const tc_cfg k_fixed[6] = {
    {1, 8, 4},   //  1: 16 rows/warp, 8 chunks in flight, 4 warps
    {1, 4, 8},   //  2: 16 rows/warp, 4 chunks, 8 warps
    {2, 4, 4},   //  3: 32 rows/warp, 4 chunks, 4 warps
    {4, 2, 4},   //  4: 64 rows/warp, 2 chunks, 4 warps
    {2, 4, 8},   //  5: 32 rows/warp, 4 chunks, 8 warps
    {4, 2, 8},   //  6: 64 rows/warp, 2 chunks, 8 warps
};

const char *const k_names[GCK_SKINNY_NVARIANTS] = {
    "auto",
    "regs ksplit rt1 u8 kw4",
    "regs ksplit rt1 u4 kw8",
    "regs ksplit rt2 u4 kw4",
    "regs ksplit rt4 u2 kw4",
    "regs ksplit rt2 u4 kw8",
    "regs ksplit rt4 u2 kw8",
};

// The configurations (rows per thread, chunks in flight, warps along K) that
// are instantiated, in k_fixed's order: X(RT, U, KW) for each.
#define GCK_TC_CONFIGS(X) X(1, 8, 4) X(1, 4, 8) X(2, 4, 4) X(4, 2, 4) X(2, 4, 8) X(4, 2, 8)

cudaError_t tc_run(const tc_cfg &c, bool launch, tc_plan *pl, cudaStream_t s, float *y, const uint16_t *x,
                   const uint16_t *W, int T, int N, int K, int accumulate) {
#define GCK_TC(RT_, U_, KW_)                                                                                      \
    if (c.rt == RT_ && c.u == U_ && c.kw == KW_) return tc_launch_nt<RT_, U_, KW_>(launch, pl, s, y, x, W, T, N, K, accumulate);
    GCK_TC_CONFIGS(GCK_TC)
#undef GCK_TC
    return cudaErrorInvalidValue;
}

// tc_run with the 16-token kernel (NT = 2) whatever T is: one kernel per
// configuration, so its occupancy, and the cluster size tc_launch derives
// from it, do not change between T <= 8 and T > 8 (gck_skinny_invariant).
cudaError_t tc_run16(const tc_cfg &c, cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N,
                     int K, int accumulate) {
#define GCK_TC16(RT_, U_, KW_)                                                                                    \
    if (c.rt == RT_ && c.u == U_ && c.kw == KW_) return tc_launch<RT_, 2, U_, KW_>(true, nullptr, s, y, x, W, T, N, K, accumulate);
    GCK_TC_CONFIGS(GCK_TC16)
#undef GCK_TC16
    return cudaErrorInvalidValue;
}

// The default. A preference list by shape, from the H200 measurements of
// the kernel lab's program (dev/cuda/skinny_gemm.cu, then
// bench/cuda/skinny_bench.cu): T ≤ 8 → 16 rows/warp × 8 warps; T > 8 → 64
// rows/warp for wide N (fewer x re-reads), 32 rows/warp × 8 warps for long
// K, else 16 rows/warp × 4 warps with 8 chunks in flight. Of the list, the
// first whose grid runs in one wave or in waves ≥ 85% full; else the one
// with the fullest waves.
cudaError_t auto_run(cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K,
                     int accumulate) {
    static const int small_t[] = {2, 3, 4};
    static const int wide[] = {4, 3, 6};
    static const int long_k[] = {5, 6, 3};
    static const int other[] = {1, 3, 5};
    const int *pref = T <= 8 ? small_t : N >= 16384 ? wide : K >= 8192 ? long_k : other;
    const int npref = 3;
    int best = pref[0];
    double best_fill = -1.0;
    for (int i = 0; i < npref; i++) {
        tc_plan pl;
        const cudaError_t e = tc_run(k_fixed[pref[i] - 1], false, &pl, s, y, x, W, T, N, K, accumulate);
        if (e != cudaSuccess) return e;
        const int waves = (pl.blocks + pl.cap - 1) / pl.cap;
        const double fill = (double)pl.blocks / ((double)waves * pl.cap);
        if (waves == 1 || fill >= 0.85) {
            best = pref[i];
            break;
        }
        if (fill > best_fill) best_fill = fill, best = pref[i];
    }
    return tc_run(k_fixed[best - 1], true, nullptr, s, y, x, W, T, N, K, accumulate);
}

}   // namespace

extern "C" const char *gck_skinny_variant_name(int variant) {
    return variant >= 0 && variant < GCK_SKINNY_NVARIANTS ? k_names[variant] : "?";
}

// The skinny GEMM's shape rule (skinny.h): 1..16 rows, N a multiple of 16,
// K of 64, x and W 16-byte aligned.
static bool skinny_args_ok(const float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K) {
    return y && x && W && T >= 1 && T <= 16 && N > 0 && K > 0 && N % 16 == 0 && K % 64 == 0 &&
           !(((uintptr_t)x | (uintptr_t)W) & 15);
}

extern "C" cudaError_t gck_skinny(cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N,
                                  int K, int accumulate, int variant) {
    if (!skinny_args_ok(y, x, W, T, N, K) || variant < 0 || variant >= GCK_SKINNY_NVARIANTS)
        return cudaErrorInvalidValue;
    if (variant >= 1) return tc_run(k_fixed[variant - 1], true, nullptr, s, y, x, W, T, N, K, accumulate);
    return auto_run(s, y, x, W, T, N, K, accumulate);
}

extern "C" cudaError_t gck_skinny_invariant(cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T,
                                            int N, int K, int accumulate, int variant) {
    if (!skinny_args_ok(y, x, W, T, N, K) || variant < 1 || variant >= GCK_SKINNY_NVARIANTS)
        return cudaErrorInvalidValue;
    return tc_run16(k_fixed[variant - 1], s, y, x, W, T, N, K, accumulate);
}
