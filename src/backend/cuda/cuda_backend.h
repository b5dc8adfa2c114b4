// The CUDA backend, callable from C.
//
// Device layout (all row-major):
//   weights   bf16, dequantised on the host (gc_dequant_row) and uploaded once;
//             q/k/v stacked into one (qd + 2·kvd, D) matrix, gate/up into one
//             (2F, D) matrix, so each is one GEMM; norms and biases f32.
//   residual  f32 (T, D) for the whole step; GEMM inputs bf16, outputs f32
//             (o-proj and down-proj accumulate into the residual: beta = 1).
//   KV blocks bf16, same [layer][K/V][GC_KV_BLOCK][kv_heads·head_dim] layout
//             as the host pool, carved out of large device chunks.
// Without nvcc the library is built with cuda_stub.c: every entry point (and
// gc_backend_cuda's init) returns GC_ERR_UNSUPPORTED and gc_cuda_device_count() is 0.
// Private to backend/cuda/ and its tests: nothing above the engine includes it.
// Single kernels on host arrays, for the tests, are in tests/unit/cuda_test_ops.h.
#ifndef GC_BACKEND_CUDA_BACKEND_H
#define GC_BACKEND_CUDA_BACKEND_H
#include "gcache/engine.h"
#include "backend/backend.h"
#include "format/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// Number of usable CUDA devices (0 without a driver, a GPU or CUDA support).
int gc_cuda_device_count(void);

// The engine reaches this backend through gc_backend_cuda (backend/backend.h):
// init uploads the weights and makes the stream and cuBLAS handle; KV blocks
// are bf16 device memory carved out of large chunks; run_step is one step plan
// on the device; realign_rows keeps the engine's realignment map there.

#ifdef __cplusplus
}
#endif
#endif
