// Correctness and speed of gck_skinny (src/backend/cuda/skinny.cu) against
// cuBLAS on the decode shapes of Qwen3-4B, -0.6B and -8B, T in {1,2,4,8,16}.
//
// Build (from the repository root):
//   nvcc -O3 -std=c++17 -arch=sm_90 -Xcompiler=-Wall,-Wextra -o build/skinny_bench bench/cuda/skinny_bench.cu src/backend/cuda/skinny.cu -lcublas
// Run:  build/skinny_bench [reps (default 30)] [only-this-model: 4B | 0.6B | 8B]
//
// For every (shape, T, variant): y preset to NaN, run, check no NaN is left in
// y's T rows and nothing past them was touched; max|y - ref| / max|ref| ≤ 1e-3
// against cublasGemmEx (bf16 in, f32 out, f32 compute); a second run on another
// copy of W is bit-identical; accumulate = 1 over a preset pattern gives
// pattern + ref. The cuBLAS reference itself is spot-checked against a host
// dot product in double. Before that, the same checks (no timing) on edge
// shapes (odd T, N not a multiple of a block's rows, K not a multiple of a
// step, tiny N and K) and the argument checks.
// Timing: one CUDA graph of L launches that rotate over copies of W totalling
// ≥ 256 MB (so W comes from HBM, not the 50-60 MB L2), replayed after
// warm-up; median over reps of (graph time / L), so launch gaps inside a
// graph are included. GB/s counts W bytes only. Prints
// `model shape N K T variant us GB/s relerr ok` per line, the best variant per
// (shape, T), then per variant the total time over each model's shapes at
// T = 1 and T = 16 ("oracle" = best variant per shape).
// Exit status 1 if any check fails.
#include "../../src/backend/cuda/skinny.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#define CK(x)                                                                                             \
    do {                                                                                                  \
        cudaError_t e_ = (x);                                                                             \
        if (e_ != cudaSuccess) {                                                                          \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));           \
            exit(2);                                                                                      \
        }                                                                                                 \
    } while (0)
#define CKB(x)                                                                                            \
    do {                                                                                                  \
        cublasStatus_t s_ = (x);                                                                          \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                \
            fprintf(stderr, "%s:%d: %s: cublas status %d\n", __FILE__, __LINE__, #x, (int)s_);            \
            exit(2);                                                                                      \
        }                                                                                                 \
    } while (0)

struct shape {
    const char *model, *name;
    int N, K;
};

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

// ---- deterministic N(0, std) bf16 on the device
__device__ __forceinline__ uint32_t mix32(uint64_t v) {
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdull;
    v ^= v >> 33;
    v *= 0xc4ceb9fe1a85ec53ull;
    v ^= v >> 33;
    return (uint32_t)v;
}

__device__ __forceinline__ uint16_t f2bf(float f) {
    uint32_t u = __float_as_uint(f);
    u += 0x7fffu + ((u >> 16) & 1u);   // round to nearest even (inputs are finite)
    return (uint16_t)(u >> 16);
}

__global__ void gen_normal(uint16_t *p, size_t n, uint64_t seed, float sd) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const uint32_t h1 = mix32(seed * 0x9e3779b97f4a7c15ull + 2 * i), h2 = mix32(seed * 0x9e3779b97f4a7c15ull + 2 * i + 1);
        const float u1 = ((h1 >> 8) + 1) * (1.0f / 16777216.0f), u2 = (h2 >> 8) * (1.0f / 16777216.0f);
        p[i] = f2bf(sd * sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2));
    }
}

static float bf2f(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// y(T,N) row-major is column-major (N,T) with ld N; W row-major (N,K) is
// column-major (K,N) with ld K, so op(A) = transpose; x row-major (T,K) is
// column-major (K,T) with ld K, op(B) = as is. C(N,T) = Wᵀᵀ(N,K) · x(K,T).
static void cublas_ref(cublasHandle_t h, float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K) {
    const float alpha = 1.0f, beta = 0.0f;
    CKB(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &alpha, W, CUDA_R_16BF, K, x, CUDA_R_16BF, K, &beta, y,
                     CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Time `L` calls of launch(i) (i = 0..L-1, W copy i % ncopy) in one graph;
// returns the median per-call microseconds over `reps` replays, or a stream
// loop when capture fails.
template <class F> static double time_calls(cudaStream_t st, int L, int reps, F launch) {
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    bool ok = cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
    if (ok) {
        for (int i = 0; i < L; i++) launch(i);
        ok = cudaStreamEndCapture(st, &graph) == cudaSuccess && graph;
        ok = ok && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
    }
    if (!ok) {
        (void)cudaGetLastError();
        fprintf(stderr, "note: graph capture failed, timing stream launches\n");
    }
    auto once = [&] {
        if (ok)
            CK(cudaGraphLaunch(exec, st));
        else
            for (int i = 0; i < L; i++) launch(i);
    };
    for (int w = 0; w < 3; w++) once();
    CK(cudaStreamSynchronize(st));
    std::vector<double> ts;
    for (int r = 0; r < reps; r++) {
        CK(cudaEventRecord(e0, st));
        once();
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        ts.push_back(ms * 1000.0 / L);
    }
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return median(ts);
}

static double rel_err(const float *y, const float *ref, const float *base, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        const double v = base ? (double)y[i] - base[i] : y[i];
        md = std::max(md, std::fabs(v - ref[i]));
        mr = std::max(mr, (double)std::fabs(ref[i]));
    }
    return mr > 0 ? md / mr : md;
}

// Correctness only, on shapes that exercise the edges: T not a power of two,
// N not a multiple of a block's rows, K not a multiple of a step's chunks,
// tiny N and K; plus argument checks. Returns the number of failures.
static int check_edges(cublasHandle_t hb, cudaStream_t st) {
    struct edge {
        int N, K, T;
    };
    static const edge k_edges[] = {{1040, 1088, 3}, {2576, 4160, 13}, {16, 64, 1}, {48, 192, 16},
                                   {4112, 576, 7}, {272, 12352, 11}, {150016, 128, 5}};
    int failures = 0;
    for (const edge &c : k_edges) {
        const int N = c.N, K = c.K, T = c.T;
        const size_t ny = (size_t)T * N, nall = (size_t)16 * N;
        uint16_t *dW, *dx;
        float *dy, *dref;
        CK(cudaMalloc(&dW, (size_t)N * K * 2));
        CK(cudaMalloc(&dx, (size_t)16 * K * 2));
        CK(cudaMalloc(&dy, nall * 4));
        CK(cudaMalloc(&dref, ny * 4));
        gen_normal<<<256, 256, 0, st>>>(dW, (size_t)N * K, 77 + N, 0.02f);
        gen_normal<<<64, 256, 0, st>>>(dx, (size_t)16 * K, 99 + K, 1.0f);
        CK(cudaGetLastError());
        cublas_ref(hb, dref, dx, dW, T, N, K);
        std::vector<float> href(ny), hy(nall), hy2(ny), hpat(ny);
        for (size_t i = 0; i < ny; i++) hpat[i] = 0.5f * (float)((int)(i % 7) - 3);
        CK(cudaStreamSynchronize(st));
        CK(cudaMemcpy(href.data(), dref, ny * 4, cudaMemcpyDeviceToHost));
        int bad = 0;
        for (int v = 0; v < GCK_SKINNY_NVARIANTS; v++) {
            bool ok = true;
            CK(cudaMemsetAsync(dy, 0xff, nall * 4, st));
            cudaError_t e = gck_skinny(st, dy, dx, dW, T, N, K, 0, v);
            if (e != cudaSuccess) {
                printf("edge N=%d K=%d T=%d variant %d: launch error %s\n", N, K, T, v, cudaGetErrorString(e));
                failures++;
                continue;
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
            const double err = nan ? INFINITY : rel_err(hy.data(), href.data(), nullptr, ny);
            ok = !nan && !touched && err <= 1e-3;
            CK(cudaMemsetAsync(dy, 0xff, nall * 4, st));
            CK(gck_skinny(st, dy, dx, dW, T, N, K, 0, v));
            CK(cudaStreamSynchronize(st));
            CK(cudaMemcpy(hy2.data(), dy, ny * 4, cudaMemcpyDeviceToHost));
            const bool same = !memcmp(hy.data(), hy2.data(), ny * 4);
            CK(cudaMemcpyAsync(dy, hpat.data(), ny * 4, cudaMemcpyHostToDevice, st));
            CK(gck_skinny(st, dy, dx, dW, T, N, K, 1, v));
            CK(cudaStreamSynchronize(st));
            CK(cudaMemcpy(hy2.data(), dy, ny * 4, cudaMemcpyDeviceToHost));
            const double erra = rel_err(hy2.data(), href.data(), hpat.data(), ny);
            ok = ok && same && erra <= 1e-3;
            if (!ok) {
                printf("edge N=%d K=%d T=%d variant %d: FAIL (NaN left %zu, written past T rows %zu, relerr %.3g, "
                       "accumulate relerr %.3g, deterministic %d)\n",
                       N, K, T, v, nan, touched, err, erra, (int)same);
                bad++;
            }
        }
        printf("# edge N=%d K=%d T=%d: %s\n", N, K, T, bad ? "FAIL" : "ok");
        failures += bad;
        cudaFree(dW);
        cudaFree(dx);
        cudaFree(dy);
        cudaFree(dref);
    }
    // invalid arguments are refused before any launch
    float *y = nullptr;
    uint16_t *w = nullptr;
    CK(cudaMalloc(&y, 4096));
    CK(cudaMalloc(&w, 4096));
    const struct {
        int T, N, K;
    } k_bad[] = {{0, 16, 64}, {17, 16, 64}, {1, 8, 64}, {1, 16, 32}, {1, 0, 64}, {1, 16, 0}};
    for (const auto &b : k_bad)
        if (gck_skinny(st, y, w, w, b.T, b.N, b.K, 0, 0) != cudaErrorInvalidValue) {
            printf("argument check T=%d N=%d K=%d not refused\n", b.T, b.N, b.K);
            failures++;
        }
    if (gck_skinny(st, y, w + 1, w, 1, 16, 64, 0, 0) != cudaErrorInvalidValue ||
        gck_skinny(st, y, w, w, 1, 16, 64, 0, GCK_SKINNY_NVARIANTS) != cudaErrorInvalidValue) {
        printf("argument check (misaligned x / unknown variant) not refused\n");
        failures++;
    }
    CK(cudaStreamSynchronize(st));
    cudaFree(y);
    cudaFree(w);
    return failures;
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? std::max(5, atoi(argv[1])) : 30;
    const char *only = argc > 2 ? argv[2] : nullptr;
    // columns: variants 0..NV-1, then cuBLAS
    const int NV = GCK_SKINNY_NVARIANTS, NCOL = NV + 1, CBLAS = NV;

    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("# device %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
    for (int v = 0; v < NV; v++) printf("# variant %2d: %s\n", v, gck_skinny_variant_name(v));

    cudaStream_t st;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
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
    std::vector<float> hy((size_t)16 * maxN), hy2((size_t)16 * maxN), href((size_t)16 * maxN), hpat((size_t)16 * maxN);
    std::vector<uint16_t> hrow(maxK), hxrow(maxK);
    for (size_t i = 0; i < hpat.size(); i++) hpat[i] = 0.25f * (float)((int)(i % 13) - 6);

    // per (shape, T, column) microseconds; < 0 = not measured
    std::vector<double> us((size_t)k_nshapes * k_nT * NCOL, -1.0);
    int failures = check_edges(hb, st);
    printf("%-7s %-8s %6s %6s %2s %7s %9s %8s %10s %s\n", "model", "shape", "N", "K", "T", "variant", "us", "GB/s",
           "relerr", "ok");

    for (int si = 0; si < k_nshapes; si++) {
        const shape &sh = k_shapes[si];
        if (only && strcmp(only, sh.model)) continue;
        const int N = sh.N, K = sh.K;
        const size_t welems = (size_t)N * K, wbytes = welems * 2;
        const int ncopy = (int)std::min<size_t>(64, std::max<size_t>(2, ((size_t)256 << 20) / wbytes + 1));
        uint16_t *dW;
        CK(cudaMalloc(&dW, wbytes * ncopy));
        gen_normal<<<1024, 256, 0, st>>>(dW, welems, 1000 + si, 0.02f);
        gen_normal<<<64, 256, 0, st>>>(dx, (size_t)16 * K, 7 + si, 1.0f);
        CK(cudaGetLastError());
        for (int c = 1; c < ncopy; c++) CK(cudaMemcpyAsync(dW + welems * c, dW, wbytes, cudaMemcpyDeviceToDevice, st));
        CK(cudaStreamSynchronize(st));
        const int L = std::max(ncopy, 8);

        for (int ti = 0; ti < k_nT; ti++) {
            const int T = k_T[ti];
            const size_t ny = (size_t)T * N;
            cublas_ref(hb, dref, dx, dW, T, N, K);
            CK(cudaStreamSynchronize(st));
            CK(cudaMemcpy(href.data(), dref, ny * 4, cudaMemcpyDeviceToHost));
            // spot-check the reference against a host dot product
            double mr = 0;
            for (size_t i = 0; i < ny; i++) mr = std::max(mr, (double)std::fabs(href[i]));
            for (int q = 0; q < 16; q++) {
                const int n = (int)((q * 2654435761u + 12345u) % (unsigned)N), t = q % T;
                CK(cudaMemcpy(hrow.data(), dW + (size_t)n * K, (size_t)K * 2, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(hxrow.data(), dx + (size_t)t * K, (size_t)K * 2, cudaMemcpyDeviceToHost));
                double d = 0;
                for (int k = 0; k < K; k++) d += (double)bf2f(hrow[k]) * bf2f(hxrow[k]);
                if (std::fabs(d - href[(size_t)t * N + n]) > 1e-3 * mr) {
                    printf("REFERENCE MISMATCH N=%d K=%d T=%d t=%d n=%d: cublas %g host %g\n", N, K, T, t, n,
                           href[(size_t)t * N + n], d);
                    failures++;
                }
            }

            for (int v = 0; v < NV; v++) {
                const int col = v;
                const std::string label = std::to_string(v);
                bool ok = true;
                // accumulate = 0 over NaN
                CK(cudaMemsetAsync(dy, 0xff, (size_t)16 * N * 4, st));
                cudaError_t e = gck_skinny(st, dy, dx, dW, T, N, K, 0, v);
                if (e != cudaSuccess) {
                    printf("variant %s: launch error %s\n", label.c_str(), cudaGetErrorString(e));
                    failures++;
                    continue;
                }
                CK(cudaStreamSynchronize(st));
                CK(cudaMemcpy(hy.data(), dy, (size_t)16 * N * 4, cudaMemcpyDeviceToHost));
                size_t nan = 0, touched = 0;
                for (size_t i = 0; i < ny; i++) nan += std::isnan(hy[i]);
                for (size_t i = ny; i < (size_t)16 * N; i++) {
                    uint32_t b;
                    memcpy(&b, &hy[i], 4);
                    touched += b != 0xffffffffu;
                }
                const double err = nan ? INFINITY : rel_err(hy.data(), href.data(), nullptr, ny);
                if (nan || touched || !(err <= 1e-3)) ok = false;
                if (nan || touched) printf("variant %s: %zu NaN left, %zu elements past T rows written\n", label.c_str(), nan, touched);
                // determinism: again, on the last copy of W
                CK(cudaMemsetAsync(dy, 0xff, (size_t)16 * N * 4, st));
                CK(gck_skinny(st, dy, dx, dW + welems * (ncopy - 1), T, N, K, 0, v));
                CK(cudaStreamSynchronize(st));
                CK(cudaMemcpy(hy2.data(), dy, ny * 4, cudaMemcpyDeviceToHost));
                if (memcmp(hy.data(), hy2.data(), ny * 4)) {
                    printf("variant %s: two runs differ\n", label.c_str());
                    ok = false;
                }
                // accumulate = 1 over a pattern
                // (stream-ordered: a pageable cudaMemcpy may return before its DMA lands)
                CK(cudaMemcpyAsync(dy, hpat.data(), ny * 4, cudaMemcpyHostToDevice, st));
                CK(gck_skinny(st, dy, dx, dW, T, N, K, 1, v));
                CK(cudaStreamSynchronize(st));
                CK(cudaMemcpy(hy2.data(), dy, ny * 4, cudaMemcpyDeviceToHost));
                const double erra = rel_err(hy2.data(), href.data(), hpat.data(), ny);
                if (!(erra <= 1e-3)) {
                    printf("variant %s: accumulate relerr %.3g\n", label.c_str(), erra);
                    ok = false;
                }
                failures += !ok;

                const double t_us = time_calls(st, L, reps, [&](int i) {
                    (void)gck_skinny(st, dy, dx, dW + welems * (i % ncopy), T, N, K, 0, v);
                });
                CK(cudaGetLastError());
                us[((size_t)si * k_nT + ti) * NCOL + col] = t_us;
                printf("%-7s %-8s %6d %6d %2d %7s %9.2f %8.1f %10.2e %s\n", sh.model, sh.name, N, K, T, label.c_str(), t_us,
                       wbytes / t_us * 1e-3, std::max(err, erra), ok ? "ok" : "FAIL");
            }
            const double tb = time_calls(st, L, reps, [&](int i) { cublas_ref(hb, dy, dx, dW + welems * (i % ncopy), T, N, K); });
            us[((size_t)si * k_nT + ti) * NCOL + CBLAS] = tb;
            printf("%-7s %-8s %6d %6d %2d %7s %9.2f %8.1f %10.2e %s\n", sh.model, sh.name, N, K, T, "cublas", tb,
                   wbytes / tb * 1e-3, 0.0, "ref");
            // best variant for this (shape, T)
            int best = 0;
            for (int v = 1; v < NV; v++)
                if (us[((size_t)si * k_nT + ti) * NCOL + v] < us[((size_t)si * k_nT + ti) * NCOL + best]) best = v;
            const double tbest = us[((size_t)si * k_nT + ti) * NCOL + best];
            printf("# best %s %s T=%d: variant %d %.2f us %.1f GB/s (auto %.2f us, cublas %.2f us)\n", sh.model,
                   sh.name, T, best, tbest, wbytes / tbest * 1e-3, us[((size_t)si * k_nT + ti) * NCOL], tb);
            fflush(stdout);
        }
        CK(cudaFree(dW));
    }

    // totals per model at T = 1 and T = 16
    printf("\n# total us over each model's shapes (W GB/s in parentheses)\n");
    printf("%-8s %-26s", "column", "name");
    for (const char *m : k_models) printf(" %10s T=1 %10s T=16", m, m);
    printf("\n");
    // rows: the columns, then "oracle" = the best of variants 0..NV-1 per (shape, T)
    for (int col = 0; col <= NCOL; col++) {
        const std::string label = col < NV ? std::to_string(col) : col == CBLAS ? "cublas" : "oracle";
        printf("%-8s %-26s", label.c_str(),
               col < NV ? gck_skinny_variant_name(col) : col == CBLAS ? "cublasGemmEx" : "best variant per shape");
        for (const char *m : k_models)
            for (int ti : {0, k_nT - 1}) {
                double tot = 0, bytes = 0;
                bool have = false;
                for (int si = 0; si < k_nshapes; si++) {
                    if (strcmp(k_shapes[si].model, m)) continue;
                    double u = -1;
                    if (col < NCOL) {
                        u = us[((size_t)si * k_nT + ti) * NCOL + col];
                    } else {
                        for (int v = 0; v < NV; v++) {
                            const double w = us[((size_t)si * k_nT + ti) * NCOL + v];
                            if (w >= 0 && (u < 0 || w < u)) u = w;
                        }
                    }
                    if (u < 0) continue;
                    tot += u;
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
