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
// Without nvcc the library is built with cuda_stub.c: every entry point
// returns GC_ERR_UNSUPPORTED and gc_cuda_device_count() is 0.
#ifndef GC_BACKEND_CUDA_BACKEND_H
#define GC_BACKEND_CUDA_BACKEND_H
#include "gcache/engine.h"
#include "format/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// Number of usable CUDA devices (0 without a driver, a GPU or CUDA support).
int gc_cuda_device_count(void);

// Called by gc_engine_new when p.device is GC_DEVICE_CUDA: uploads the
// weights, creates the stream and cuBLAS handle, and points the KV pool at
// device storage (e->cuda, e->pool.dev). Cleans up after itself on failure.
gc_status gc_cuda_engine_init(gc_engine *e);
// Frees everything gc_cuda_engine_init made (after the pool is destroyed).
void gc_cuda_engine_free(gc_engine *e);
// gc_engine_forward on the device; same contract as the CPU path.
gc_status gc_cuda_forward(gc_engine *e, gc_seq_step *steps, int n_steps);

// ---- KV block storage (dev = the pool's dev pointer) ----
// A block's storage: elems bf16 elements of device memory, owned by the
// context (freed with it). GC_ERR_OOM when the device is full.
gc_status gc_cuda_kv_block_new(void *dev, size_t elems, void **data);
// Elements [off, off+n) of a block, converted to / from f32 on the host.
gc_status gc_cuda_kv_get(void *dev, const void *data, size_t off, size_t n, float *dst);
gc_status gc_cuda_kv_set(void *dev, void *data, size_t off, size_t n, const float *src);
// Device-to-device copy of n elements between blocks.
gc_status gc_cuda_kv_copy(void *dev, void *dst, size_t dst_off, const void *src, size_t src_off, size_t n);

// ---- latent realignment on the device ----
// e (n, D) = h (n, D) · W_a, each row rescaled to target_norm / max(‖e‖, 1e-6)
// (gc_realign_apply for n rows at once). wa_t is W_a transposed (D, D) in
// float64 as gc_realign keeps it, or NULL for W_a = I. Caller owns *out.
typedef struct gc_cuda_realign gc_cuda_realign;
gc_status gc_cuda_realign_new(gc_engine *e, const double *wa_t, int64_t D, double target_norm, gc_cuda_realign **out);
void gc_cuda_realign_free(gc_cuda_realign *r);
gc_status gc_cuda_realign_apply(gc_cuda_realign *r, const float *h, int64_t n, float *out);
// gc_cuda_realign_apply through a map the engine keeps: made from wa_t on
// the first call with a given key (and remade when the key changes). key:
// an identifier unique to the map's source (gc_realign's id).
gc_status gc_cuda_realign_rows(gc_engine *e, uint64_t key, const double *wa_t, int64_t D, double target_norm,
                               const float *h, int64_t n, float *out);

// ---- single kernels on host arrays, for tests (tests/unit/test_cuda.c) ----
// Each uploads its inputs, fills the device outputs with NaN, runs the kernel
// the engine uses and copies the outputs back as f32.
// out (T, D) = rmsnorm(x) * w, rounded to bf16 as the GEMMs see it.
gc_status gc_cuda_test_rmsnorm(float *out, const float *x, const float *w, int64_t T, int64_t D, double eps);
// y (T, N) = bf16(x) (T, K) · W (N, K)ᵀ (+ y when accumulate); W of any
// dtype; own = 1 forces the small-T kernel, 0 cuBLAS, 2 + v the skinny GEMM
// (skinny.cu) variant v.
gc_status gc_cuda_test_matmul(float *y, const float *x, int64_t T, const gc_tensor *W, bool accumulate, int own);
// The small-T kernel reading f32 inputs it prepares itself: mode 1 RMSNorm
// of x (T, K) with w / eps, mode 2 SwiGLU of x (T, 2K); then · Wᵀ.
gc_status gc_cuda_test_gemv_fused(float *y, const float *x, int mode, const float *w, double eps, int64_t T,
                                  const gc_tensor *W);
// out (T, F) = silu(gu[:, :F]) * gu[:, F:], gu (T, 2F).
gc_status gc_cuda_test_swiglu(float *out, const float *gu, int64_t T, int64_t F);
// The q/k/v epilogue of one layer: qkv (T, (H+2KV)·hd) f32 (+ bias), per-head
// RMSNorm of q and k (q_norm/k_norm (hd) or NULL), RoPE at positions pos (T),
// then q (T, H·hd) out, and k/v (T, KV·hd) out (the engine writes those
// straight into KV blocks; here they land in plain arrays).
gc_status gc_cuda_test_qkv(float *q, float *k, float *v, const float *qkv, const float *bias, const float *q_norm,
                           const float *k_norm, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H,
                           int64_t KV, int64_t hd, double eps, bool neox);
// Attention of n_q query rows (positions ctx_first .. ctx_first+n_q-1) of all
// H heads over the cache rows of one sequence: k/v (n_ctx, KV·hd) f32 given
// as n_segs segments of seg_n[i] rows with per-segment k/v scale and hidden
// flag. q (n_q, H·hd), out (n_q, H·hd). max_split > 1 allows splitting the
// context (decode path); tile_m 16 or 64 picks the kernel, 1 the one-query
// decode kernel (n_q = 1).
gc_status gc_cuda_test_attention(float *out, const float *q, const float *k, const float *v, int64_t n_q,
                                 int64_t ctx_first, const int64_t *seg_n, const float *seg_ks, const float *seg_vs,
                                 const uint8_t *seg_hidden, int n_segs, int64_t H, int64_t KV, int64_t hd,
                                 int max_split, int tile_m);
// Number of skinny-GEMM variants (own = 2 .. 2 + n - 1 above); 0 without CUDA.
int gc_cuda_skinny_variants(void);
// argmax of each of n rows of V floats (ties → lowest index).
gc_status gc_cuda_test_argmax(int32_t *out, const float *x, int64_t n, int64_t V);
// One device draw per row of x (n, V) (gck_sample), draws on the host.
struct gc_token_draw;
gc_status gc_cuda_test_sample(int32_t *out, const float *x, const struct gc_token_draw *draws, int64_t n, int64_t V);

#ifdef __cplusplus
}
#endif
#endif
