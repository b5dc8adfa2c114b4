// Device-side helpers shared by the CUDA backend's kernel files: bf16
// conversions, warp constants, the q8 KV row quantizer, and programmatic
// dependent launch (PDL).
//
// PDL (sm_90): a kernel launched with gck_launch may start while the
// kernel before it in the stream is still running; it must call
// gck_pdl_wait() before it reads anything an earlier kernel wrote or writes
// anything an earlier kernel reads. Work before the wait may only touch
// data no kernel of the step writes (weights, launch arguments), e.g. an L2
// prefetch of the weights a GEMM is about to stream. Every kernel calls
// gck_pdl_trigger() once it is running, which lets the next kernel's blocks
// be scheduled (they then sit in their own wait until this grid has
// finished and its writes are visible). Without the launch attribute both
// calls are no-ops, so the kernels stay correct in plain launches.
#ifndef GC_BACKEND_CUDA_COMMON_CUH
#define GC_BACKEND_CUDA_COMMON_CUH
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

#define FULL_MASK 0xffffffffu

static __device__ __forceinline__ float bf2f(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
static __device__ __forceinline__ uint16_t f2bf(float f) { return __bfloat16_as_ushort(__float2bfloat16_rn(f)); }

// The q8 rule of backend/kv_q8.h (gc_kv_q8_quantize, the same f32
// operations: IEEE division, clamp, round to nearest even) on one row of hd
// floats in buf, by one warp: int8 values to q, the row's scale to *scale.
// The one device copy of the rule: every kernel that stores q8 rows calls it
// (kernels.cu: new keys and values; kv_wsum.cu: weighted sums).
static __device__ inline void q8_store_row(const float *buf, int hd, int8_t *q, float *scale, int lane) {
    float amax = 0.0f;
    for (int d = lane; d < hd; d += 32) amax = fmaxf(amax, fabsf(buf[d]));
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(FULL_MASK, amax, o));
    const float s = amax / 127.0f;
    for (int d = lane; d < hd; d += 32) {
        const float v = s > 0.0f ? fminf(fmaxf(buf[d] / s, -127.0f), 127.0f) : 0.0f;
        q[d] = (int8_t)__float2int_rn(v);
    }
    if (lane == 0) *scale = s;
}

static __device__ __forceinline__ void gck_pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
static __device__ __forceinline__ void gck_pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
// Both, at the top of a kernel that has no independent prologue: the next
// kernel may be scheduled once this one runs (not earlier: blocks of a
// kernel two steps ahead, spinning in their wait, were measured to slow the
// running GEMMs by ~10 % on the H200).
static __device__ __forceinline__ void gck_pdl_enter() {
    gck_pdl_wait();
    gck_pdl_trigger();
}

// Whether launches made by the calling host thread ask for PDL (gck_set_pdl
// in pdl.cu).
extern "C" int gck_pdl_enabled(void);

// The launch attribute that allows PDL (for launches that set up their own
// cudaLaunchConfig_t, e.g. with a cluster attribute beside it).
static inline cudaLaunchAttribute gck_pdl_attr(void) {
    cudaLaunchAttribute a;
    a.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    a.val.programmaticStreamSerializationAllowed = 1;
    return a;
}

// Launches kernel k<<<grid, block, smem, s>>>(args...) with the PDL
// attribute when enabled (the kernel must follow the rules above).
template <typename... P, typename... A>
static inline cudaError_t gck_launch(void (*k)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                                     A &&...args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute at[1] = {gck_pdl_attr()};
    cfg.attrs = at;
    cfg.numAttrs = gck_pdl_enabled() ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, k, static_cast<P>(args)...);
}
#endif
