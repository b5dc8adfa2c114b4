// Device-side helpers shared by the CUDA backend's kernel files: bf16
// conversions, warp constants, and programmatic dependent launch (PDL).
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
