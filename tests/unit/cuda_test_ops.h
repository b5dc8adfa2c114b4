// Test-only entry points of the CUDA backend: single kernels on host arrays
// (cuda_test_ops.c). Compiled into test_cuda only (CMake target
// gcache_cuda_test_ops), never into libgcache. Each uploads its inputs, fills
// the device outputs with NaN, runs the kernel the engine uses and copies the
// outputs back as f32. Without CUDA every call returns GC_ERR_UNSUPPORTED.
#ifndef GC_TESTS_CUDA_TEST_OPS_H
#define GC_TESTS_CUDA_TEST_OPS_H
#include "gcache/gcache.h"
#include "format/tensor.h"
#include <stdbool.h>
#include <stdint.h>

// out (T, D) = rmsnorm(x) * w, rounded to bf16 as the GEMMs see it.
gc_status gc_cuda_test_rmsnorm(float *out, const float *x, const float *w, int64_t T, int64_t D, double eps);
// y (T, N) = bf16(x) (T, K) · W (N, K)ᵀ (+ y when accumulate); W of any
// dtype; skinny_variant -1: cuBLAS, v >= 0: the skinny GEMM (skinny.cu)
// variant v (0: the shape rule the engine runs; T <= 16).
gc_status gc_cuda_test_matmul(float *y, const float *x, int64_t T, const gc_tensor *W, bool accumulate,
                              int skinny_variant);
// y (T, N) = bf16(x) (T, K) · W (N, K)ᵀ through the skinny GEMM of the
// engine's batch-invariant mode (gck_skinny_invariant, variant
// CU_BI_SKINNY_VARIANT); T <= 16, N % 16 == 0, K % 64 == 0.
gc_status gc_cuda_test_matmul_invariant(float *y, const float *x, int64_t T, const gc_tensor *W);
// out (T, F) = silu(gu[:, :F]) * gu[:, F:], gu (T, 2F).
gc_status gc_cuda_test_swiglu(float *out, const float *gu, int64_t T, int64_t F);
// The q/k/v epilogue of one layer: qkv (T, (H+2KV)·hd) f32 (+ bias), per-head
// RMSNorm of q and k (q_norm/k_norm (hd) or NULL), RoPE at positions pos (T),
// then q (T, H·hd) out, and k/v (T, KV·hd) out (the engine writes those
// straight into KV blocks; here they land in plain arrays). kv_q8: through
// q8 blocks, k/v come back dequantized.
gc_status gc_cuda_test_qkv(float *q, float *k, float *v, const float *qkv, const float *bias, const float *q_norm,
                           const float *k_norm, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H,
                           int64_t KV, int64_t hd, double eps, bool neox, bool kv_q8);
// Attention of n_q query rows (positions ctx_first .. ctx_first+n_q-1) of all
// H heads over the cache rows of one sequence: k/v (n_ctx, KV·hd) f32 given
// as n_segs segments of seg_n[i] rows with per-segment k/v scale and hidden
// flag. q (n_q, H·hd), out (n_q, H·hd). max_split > 1 allows splitting the
// context (decode path); tile_m 16 or 64 picks the kernel, 1 the one-query
// decode kernel (n_q = 1). kv_q8: the blocks hold k/v as q8 (each row
// quantized on the host by gc_kv_q8_quantize), else as bf16.
gc_status gc_cuda_test_attention(float *out, const float *q, const float *k, const float *v, int64_t n_q,
                                 int64_t ctx_first, const int64_t *seg_n, const float *seg_ks, const float *seg_vs,
                                 const uint8_t *seg_hidden, int n_segs, int64_t H, int64_t KV, int64_t hd,
                                 int max_split, int tile_m, bool kv_q8);
// Number of skinny-GEMM variants (skinny_variant 0 .. n - 1 above); 0 without CUDA.
int gc_cuda_skinny_variants(void);
// argmax of each of n rows of V floats (ties → lowest index).
gc_status gc_cuda_test_argmax(int32_t *out, const float *x, int64_t n, int64_t V);
// One device draw per row of x (n, V) (gck_sample), draws on the host.
struct gc_token_draw;
gc_status gc_cuda_test_sample(int32_t *out, const float *x, const struct gc_token_draw *draws, int64_t n, int64_t V);


#endif
