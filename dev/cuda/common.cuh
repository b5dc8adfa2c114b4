// Shared by the kernel-lab programs of dev/cuda: error checks, deterministic
// bf16 test data on the device, CUDA-graph timing with cudaEvents, and the
// card's floors (the rate a kernel is measured against).
//
// Floors: the bandwidth floor is the device-to-device copy rate measured at
// start-up (bytes read + written per second, over 1 GiB, median of 10), the
// rate a weight-streaming kernel can at best reach; the spec sheet's peak
// (memory clock × bus width) is printed beside it. Decode-sized products are
// bandwidth-bound, so each program reports GB/s of weights and % of the floor.
#ifndef GC_DEV_CUDA_COMMON_CUH
#define GC_DEV_CUDA_COMMON_CUH
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

// ---- bf16 on the host (round to nearest even; inputs are finite)
static inline float lab_bf2f(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint16_t lab_f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

// ---- deterministic N(0, sd) values on the device (Box-Muller over a hash of
// (seed, index)), as bf16 or f32
__device__ __forceinline__ uint32_t lab_mix32(uint64_t v) {
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdull;
    v ^= v >> 33;
    v *= 0xc4ceb9fe1a85ec53ull;
    v ^= v >> 33;
    return (uint32_t)v;
}
__device__ __forceinline__ float lab_normal(uint64_t seed, size_t i, float sd) {
    const uint32_t h1 = lab_mix32(seed * 0x9e3779b97f4a7c15ull + 2 * i);
    const uint32_t h2 = lab_mix32(seed * 0x9e3779b97f4a7c15ull + 2 * i + 1);
    const float u1 = ((h1 >> 8) + 1) * (1.0f / 16777216.0f), u2 = (h2 >> 8) * (1.0f / 16777216.0f);
    return sd * sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
}
__global__ void lab_gen_bf16(uint16_t *p, size_t n, uint64_t seed, float sd) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t u = __float_as_uint(lab_normal(seed, i, sd));
        u += 0x7fffu + ((u >> 16) & 1u);
        p[i] = (uint16_t)(u >> 16);
    }
}
__global__ void lab_gen_f32(float *p, size_t n, uint64_t seed, float sd) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = lab_normal(seed, i, sd);
}

static inline double lab_median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// max |y - base - ref| / max |ref| over n values (base may be NULL).
static inline double lab_rel_err(const float *y, const double *ref, const float *base, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        const double v = base ? (double)y[i] - base[i] : y[i];
        if (std::isnan(v)) return INFINITY;
        md = std::max(md, std::fabs(v - ref[i]));
        mr = std::max(mr, std::fabs(ref[i]));
    }
    return mr > 0 ? md / mr : md;
}

// Times L calls of launch(i), i = 0..L-1, captured into one CUDA graph and
// replayed after 3 warm-up replays: the median over `reps` replays of (replay
// time / L) in microseconds, so the gaps between launches inside a graph are
// included, as in the engine's decode step. Falls back to stream launches
// when capture fails (said on stderr).
template <class F> static double lab_time_calls(cudaStream_t st, int L, int reps, F launch) {
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
    return lab_median(ts);
}

// The device's name and floors, printed once: returns the measured copy
// bandwidth in GB/s (the floor the programs report against).
static inline double lab_device_floor(cudaStream_t st) {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    int clk_khz = 0, bus_bits = 0;
    (void)cudaDeviceGetAttribute(&clk_khz, cudaDevAttrMemoryClockRate, 0);
    (void)cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0);
    (void)cudaGetLastError();
    const double spec = 2.0 * clk_khz * 1e3 * (bus_bits / 8) / 1e9;   // DDR: two transfers per clock
    const size_t bytes = (size_t)1 << 30;
    void *a = nullptr, *b = nullptr;
    CK(cudaMalloc(&a, bytes));
    CK(cudaMalloc(&b, bytes));
    CK(cudaMemsetAsync(a, 1, bytes, st));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    std::vector<double> gbs;
    for (int r = 0; r < 12; r++) {
        CK(cudaEventRecord(e0, st));
        CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, st));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 2) gbs.push_back(2.0 * (double)bytes / (ms * 1e-3) / 1e9);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    CK(cudaFree(a));
    CK(cudaFree(b));
    const double floor = lab_median(gbs);
    printf("# device %s, %d SMs, L2 %d MB; memory: %.0f GB/s spec peak, %.0f GB/s measured copy (the floor)\n",
           prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20, spec, floor);
    return floor;
}
#endif
