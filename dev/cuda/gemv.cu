// Kernel lab: a small-T GEMV, y(T,N) (+)= x(T,K) · W(N,K)ᵀ for T = 1..8 on
// CUDA cores, with the input rows staged in shared memory as bf16 and,
// optionally, normalised or gated on the way in (so the RMSNorm / SwiGLU
// launch before the product disappears). W bf16 row-major (N, K), y f32
// row-major (T, N). Floor: N·K·2 bytes of W over HBM bandwidth.
//
// Versions (argument 1; "all" runs every one):
//   1  x bf16 (T, K), copied into shared memory
//   2  x the f32 residual (T, K), RMSNorm with weight w (K) and eps applied
//      while staging (the engine's attention / FFN norm fused in)
//   3  x f32 gate|up (T, 2K), silu(gate)·up applied while staging (SwiGLU
//      fused into the down projection)
//   Beside them, on the same shapes: cublasGemmEx and the product's skinny
//   GEMM (gck_skinny, src/backend/cuda/skinny.cu) on bf16 x, for reference.
// The product does not use this kernel: it stayed below cuBLAS and the skinny
// GEMM (README.md has the numbers); it was the engine's GC_CUDA_GEMV_MAX_T path.
//
// Build: make -C dev/cuda gemv     Run: dev/cuda/gemv [version|all] [reps] [blocks per SM (default 4)]
//
// Check, for every (shape, T, version): y preset to NaN; on every 61st row of
// W (and the last), y against the CPU: the staged bf16 inputs formed on the
// host as the kernel forms them, the product in double; max|y - ref| /
// max|ref| <= 1e-3 (version 1) or 1e-2 (2, 3: the host's norm / silu may round
// an input to the neighbouring bf16). Timing as dev/cuda/common.cuh says.
// Exit status 1 if a check fails.
#include "../../src/backend/cuda/skinny.h"
#include "../../src/backend/cuda/common.cuh"
#include "common.cuh"

// How the kernel reads its input rows (the versions above).
enum { X_BF16 = 0, X_NORM = 1, X_SWIGLU = 2 };

static inline unsigned cdiv(long long a, long long b) { return (unsigned)((a + b - 1) / b); }

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

static __device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }

// ---------------------------------------------------------------- small-T GEMV
// Decode-sized products are bound by reading W once: each warp streams whole
// rows of W with 16-byte loads (four in flight per lane) against the T input
// rows, which the block first stages in shared memory as bf16 (normalising
// or applying SwiGLU on the way when asked).

static __device__ __forceinline__ void fma8(float &acc, const int4 &w, const int4 &x) {
    const __nv_bfloat162 *wp = (const __nv_bfloat162 *)&w, *xp = (const __nv_bfloat162 *)&x;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 a = __bfloat1622float2(wp[i]), b = __bfloat1622float2(xp[i]);
        acc = fmaf(a.x, b.x, acc);
        acc = fmaf(a.y, b.y, acc);
    }
}

template <int TT>
__global__ void __launch_bounds__(256) gemv_kernel(float *y, const void *x, int mode, const float *w, float eps,
                                                   const uint16_t *W, int N, int K, int accumulate) {
    gck_pdl_enter();
    extern __shared__ int4 gemv_sm[];
    __shared__ double sh[32];
    uint16_t *xs = (uint16_t *)gemv_sm;
    if (mode == X_BF16) {
        const int4 *src = (const int4 *)x;
        for (int i = threadIdx.x; i < TT * K / 8; i += blockDim.x) gemv_sm[i] = src[i];
    } else if (mode == X_NORM) {
        for (int t = 0; t < TT; t++) {
            const float *xr = (const float *)x + (size_t)t * K;
            const float r = row_rstd(xr, K, eps, sh);
            for (int i = threadIdx.x; i < K; i += blockDim.x) xs[t * K + i] = f2bf(xr[i] * r * w[i]);
        }
    } else {
        for (int i = threadIdx.x; i < TT * K; i += blockDim.x) {
            const int t = i / K, j = i % K;
            const float *row = (const float *)x + (size_t)t * 2 * K;
            xs[i] = f2bf(silu_mul(row[j], row[K + j]));
        }
    }
    __syncthreads();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int nc = K / 8;
    for (int n = blockIdx.x * 8 + warp; n < N; n += gridDim.x * 8) {
        const int4 *wr = (const int4 *)(W + (size_t)n * K);
        float acc[TT];
#pragma unroll
        for (int t = 0; t < TT; t++) acc[t] = 0.0f;
        int c = lane;
        for (; c + 224 < nc; c += 256) {
            int4 wv[8];
#pragma unroll
            for (int u = 0; u < 8; u++) wv[u] = __ldg(wr + c + 32 * u);
#pragma unroll
            for (int t = 0; t < TT; t++) {
                const int4 *xt = gemv_sm + t * nc;
#pragma unroll
                for (int u = 0; u < 8; u++) fma8(acc[t], wv[u], xt[c + 32 * u]);
            }
        }
        for (; c + 96 < nc; c += 128) {
            const int4 w0 = __ldg(wr + c), w1 = __ldg(wr + c + 32), w2 = __ldg(wr + c + 64), w3 = __ldg(wr + c + 96);
#pragma unroll
            for (int t = 0; t < TT; t++) {
                const int4 *xt = gemv_sm + t * nc;
                fma8(acc[t], w0, xt[c]);
                fma8(acc[t], w1, xt[c + 32]);
                fma8(acc[t], w2, xt[c + 64]);
                fma8(acc[t], w3, xt[c + 96]);
            }
        }
        for (; c < nc; c += 32) {
            const int4 w0 = __ldg(wr + c);
#pragma unroll
            for (int t = 0; t < TT; t++) fma8(acc[t], w0, gemv_sm[t * nc + c]);
        }
#pragma unroll
        for (int t = 0; t < TT; t++) {
            float v = acc[t];
            for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
            if (lane == 0) {
                float *yp = y + (size_t)t * N + n;
                *yp = accumulate ? *yp + v : v;
            }
        }
    }
}

static size_t gemv_smem(int T, int K) { return (size_t)T * K * 2; }

template <int TT>
static cudaError_t gemv_launch(cudaStream_t s, float *y, const void *x, int mode, const float *w, float eps,
                               const uint16_t *W, int N, int K, int accumulate, int max_blocks) {
    const size_t smem = gemv_smem(TT, K);
    if (smem > 48 * 1024) {
        cudaError_t e = cudaFuncSetAttribute(gemv_kernel<TT>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
    }
    unsigned grid = cdiv(N, 8);
    if (max_blocks > 0 && grid > (unsigned)max_blocks) grid = (unsigned)max_blocks;
    gck_launch(gemv_kernel<TT>, grid, 256, smem, s, y, x, mode, w, eps, W, N, K, accumulate);
    return cudaGetLastError();
}

static cudaError_t gemv(cudaStream_t s, float *y, const void *x, int mode, const float *w, float eps,
                                const uint16_t *W, int T, int N, int K, int accumulate, int max_blocks) {
    if (K % 8) return cudaErrorInvalidValue;
    switch (T) {
    case 1: return gemv_launch<1>(s, y, x, mode, w, eps, W, N, K, accumulate, max_blocks);
    case 2: return gemv_launch<2>(s, y, x, mode, w, eps, W, N, K, accumulate, max_blocks);
    case 3: return gemv_launch<3>(s, y, x, mode, w, eps, W, N, K, accumulate, max_blocks);
    case 4: return gemv_launch<4>(s, y, x, mode, w, eps, W, N, K, accumulate, max_blocks);
    case 5: return gemv_launch<5>(s, y, x, mode, w, eps, W, N, K, accumulate, max_blocks);
    case 6: return gemv_launch<6>(s, y, x, mode, w, eps, W, N, K, accumulate, max_blocks);
    case 7: return gemv_launch<7>(s, y, x, mode, w, eps, W, N, K, accumulate, max_blocks);
    case 8: return gemv_launch<8>(s, y, x, mode, w, eps, W, N, K, accumulate, max_blocks);
    default: return cudaErrorInvalidValue;
    }
}

// ---------------------------------------------------------------- checks and timing

struct shape {
    const char *model, *name;
    int N, K;
};

// The layer products of Qwen3-4B and -0.6B (q/k/v stacked, gate/up stacked).
static const shape k_shapes[] = {
    {"4B", "qkv", 6144, 2560},   {"4B", "o", 2560, 4096},   {"4B", "gate_up", 19456, 2560},   {"4B", "down", 2560, 9728},
    {"0.6B", "qkv", 4096, 1024}, {"0.6B", "o", 1024, 2048}, {"0.6B", "gate_up", 6144, 1024}, {"0.6B", "down", 1024, 3072},
};
static const int k_T[] = {1, 2, 4, 8};
static const char *const k_names[4] = {"", "bf16 x", "RMSNorm fused", "SwiGLU fused"};

static void cublas_gemm(cublasHandle_t h, float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K) {
    const float alpha = 1.0f, beta = 0.0f;
    CKB(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &alpha, W, CUDA_R_16BF, K, x, CUDA_R_16BF, K, &beta, y,
                     CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// The bf16 rows (T, K) the kernel stages for version v, formed on the host.
static void staged_inputs(int v, int T, int K, const std::vector<uint16_t> &xb, const std::vector<float> &xf,
                          const std::vector<float> &w, float eps, std::vector<float> &xs) {
    for (int t = 0; t < T; t++) {
        if (v == 1) {
            for (int k = 0; k < K; k++) xs[(size_t)t * K + k] = lab_bf2f(xb[(size_t)t * K + k]);
        } else if (v == 2) {
            const float *xr = &xf[(size_t)t * K];
            double ss = 0;
            for (int k = 0; k < K; k++) ss += (double)xr[k] * xr[k];
            const float r = (float)(1.0 / sqrt(ss / (double)K + (double)eps));
            for (int k = 0; k < K; k++) xs[(size_t)t * K + k] = lab_bf2f(lab_f2bf(xr[k] * r * w[k]));
        } else {
            const float *row = &xf[(size_t)t * 2 * K];
            for (int k = 0; k < K; k++) {
                const float g = row[k], u = row[K + k];
                xs[(size_t)t * K + k] = lab_bf2f(lab_f2bf(g / (1.0f + expf(-g)) * u));
            }
        }
    }
}

int main(int argc, char **argv) {
    int v0 = 1, v1 = 3;
    if (argc > 1 && strcmp(argv[1], "all") != 0) {
        v0 = v1 = atoi(argv[1]);
        if (v0 < 1 || v0 > 3) {
            fprintf(stderr, "usage: %s [version 1..3 | all] [reps] [blocks per SM]\n", argv[0]);
            return 2;
        }
    }
    const int reps = argc > 2 ? std::max(5, atoi(argv[2])) : 30;
    const int bps = argc > 3 ? std::max(1, atoi(argv[3])) : 4;
    const float eps = 1e-6f;

    cudaStream_t st;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    const double floor = lab_device_floor(st);
    int n_sm = 0;
    CK(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, 0));
    const int max_blocks = bps * n_sm;
    printf("# grid: at most %d blocks (%d per SM)\n", max_blocks, bps);
    cublasHandle_t hb;
    CKB(cublasCreate(&hb));
    CKB(cublasSetStream(hb, st));
    void *ws = nullptr;
    const size_t ws_bytes = 64u << 20;
    CK(cudaMalloc(&ws, ws_bytes));
    CKB(cublasSetWorkspace(hb, ws, ws_bytes));

    int maxN = 0, maxK = 0;
    for (const shape &s : k_shapes) maxN = std::max(maxN, s.N), maxK = std::max(maxK, s.K);
    uint16_t *dxb;
    float *dxf, *dw, *dy;
    CK(cudaMalloc(&dxb, (size_t)8 * maxK * 2));
    CK(cudaMalloc(&dxf, (size_t)8 * 2 * maxK * 4));
    CK(cudaMalloc(&dw, (size_t)maxK * 4));
    CK(cudaMalloc(&dy, (size_t)8 * maxN * 4));
    int failures = 0;
    printf("%-5s %-8s %6s %6s %2s %-14s %9s %8s %6s %10s %s\n", "model", "shape", "N", "K", "T", "version", "us", "GB/s",
           "floor", "relerr", "ok");
    for (int si = 0; si < (int)(sizeof k_shapes / sizeof k_shapes[0]); si++) {
        const shape &sh = k_shapes[si];
        const int N = sh.N, K = sh.K;
        const size_t welems = (size_t)N * K, wbytes = welems * 2;
        const int ncopy = (int)std::min<size_t>(64, std::max<size_t>(2, ((size_t)256 << 20) / wbytes + 1));
        const int L = std::max(ncopy, 8);
        uint16_t *dW;
        CK(cudaMalloc(&dW, wbytes * ncopy));
        lab_gen_bf16<<<1024, 256, 0, st>>>(dW, welems, 500 + si, 0.02f);
        lab_gen_bf16<<<64, 256, 0, st>>>(dxb, (size_t)8 * K, 11 + si, 1.0f);
        lab_gen_f32<<<64, 256, 0, st>>>(dxf, (size_t)8 * 2 * K, 13 + si, 2.0f);
        lab_gen_f32<<<16, 256, 0, st>>>(dw, (size_t)K, 17 + si, 1.0f);
        CK(cudaGetLastError());
        for (int c = 1; c < ncopy; c++) CK(cudaMemcpyAsync(dW + welems * c, dW, wbytes, cudaMemcpyDeviceToDevice, st));
        std::vector<uint16_t> hW(welems), hxb((size_t)8 * K);
        std::vector<float> hxf((size_t)8 * 2 * K), hw(K), xs((size_t)8 * K), hy((size_t)8 * N);
        CK(cudaStreamSynchronize(st));
        CK(cudaMemcpy(hW.data(), dW, wbytes, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(hxb.data(), dxb, hxb.size() * 2, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(hxf.data(), dxf, hxf.size() * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(hw.data(), dw, hw.size() * 4, cudaMemcpyDeviceToHost));
        std::vector<int> rows;   // the checked rows of W: every 61st and the last
        for (int n = 0; n < N; n += 61) rows.push_back(n);
        if (rows.back() != N - 1) rows.push_back(N - 1);
        for (int T : k_T) {
            for (int v = v0; v <= v1; v++) {
                const void *x = v == 1 ? (const void *)dxb : (const void *)dxf;
                const int mode = v == 1 ? X_BF16 : v == 2 ? X_NORM : X_SWIGLU;
                CK(cudaMemsetAsync(dy, 0xff, (size_t)T * N * 4, st));
                cudaError_t e = gemv(st, dy, x, mode, dw, eps, dW, T, N, K, 0, max_blocks);
                if (e != cudaSuccess) {
                    printf("version %d N=%d K=%d T=%d: launch error %s\n", v, N, K, T, cudaGetErrorString(e));
                    failures++;
                    continue;
                }
                CK(cudaStreamSynchronize(st));
                CK(cudaMemcpy(hy.data(), dy, (size_t)T * N * 4, cudaMemcpyDeviceToHost));
                staged_inputs(v, T, K, hxb, hxf, hw, eps, xs);
                std::vector<float> got;
                std::vector<double> ref;
                size_t nan = 0;
                for (size_t i = 0; i < (size_t)T * N; i++) nan += std::isnan(hy[i]);
                for (int t = 0; t < T; t++)
                    for (int n : rows) {
                        double d = 0;
                        for (int k = 0; k < K; k++) d += (double)lab_bf2f(hW[(size_t)n * K + k]) * xs[(size_t)t * K + k];
                        ref.push_back(d);
                        got.push_back(hy[(size_t)t * N + n]);
                    }
                const double err = nan ? INFINITY : lab_rel_err(got.data(), ref.data(), nullptr, ref.size());
                const bool ok = err <= (v == 1 ? 1e-3 : 1e-2);
                failures += !ok;
                const double t_us = lab_time_calls(st, L, reps, [&](int i) {
                    (void)gemv(st, dy, x, mode, dw, eps, dW + welems * (i % ncopy), T, N, K, 0, max_blocks);
                });
                CK(cudaGetLastError());
                const double gbs = wbytes / t_us * 1e-3;
                printf("%-5s %-8s %6d %6d %2d %d %-12s %9.2f %8.1f %5.0f%% %10.2e %s\n", sh.model, sh.name, N, K, T, v,
                       k_names[v], t_us, gbs, 100.0 * gbs / floor, err, ok ? "ok" : "FAIL");
            }
            const double tb = lab_time_calls(st, L, reps, [&](int i) { cublas_gemm(hb, dy, dxb, dW + welems * (i % ncopy), T, N, K); });
            const double ts = lab_time_calls(st, L, reps, [&](int i) {
                (void)gck_skinny(st, dy, dxb, dW + welems * (i % ncopy), T, N, K, 0, 0);
            });
            CK(cudaGetLastError());
            printf("%-5s %-8s %6d %6d %2d %-14s %9.2f %8.1f %5.0f%%\n", sh.model, sh.name, N, K, T, "cublas", tb,
                   wbytes / tb * 1e-3, 100.0 * wbytes / tb * 1e-3 / floor);
            printf("%-5s %-8s %6d %6d %2d %-14s %9.2f %8.1f %5.0f%%\n", sh.model, sh.name, N, K, T, "skinny (product)",
                   ts, wbytes / ts * 1e-3, 100.0 * wbytes / ts * 1e-3 / floor);
            fflush(stdout);
        }
        CK(cudaFree(dW));
    }
    printf("\n%s: %d check(s) failed\n", failures ? "FAIL" : "PASS", failures);
    cublasDestroy(hb);
    cudaFree(ws);
    cudaFree(dxb);
    cudaFree(dxf);
    cudaFree(dw);
    cudaFree(dy);
    cudaStreamDestroy(st);
    return failures ? 1 : 0;
}
