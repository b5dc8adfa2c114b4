// Skinny GEMM for decode steps (skinny.cu): y(T,N) (+)= x(T,K) · W(N,K)ᵀ
// for T = 1..16 token rows. W bf16 row-major (N rows of K), x bf16 row-major
// (T rows of K), y f32 row-major (T rows of N). A pure weight-bandwidth
// problem: W is read once from HBM, x stays in L1/L2.
// bf16 values travel as uint16_t on the C side.
#ifndef GC_BACKEND_CUDA_SKINNY_H
#define GC_BACKEND_CUDA_SKINNY_H
#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Variants (all deterministic, f32 accumulation, every y element written once):
//   0      what the engine runs: the tensor-core configuration of 1..6 that
//          the shape rule in skinny.cu picks from (T, N, K)
//   1..6   the fixed tensor-core configurations (mma.m16n8k16, W = A operand,
//          K split over a block's warps, and over a thread-block cluster of up
//          to 8 SMs when N is narrow); gck_skinny_variant_name() says which;
//          callable one by one so the tests cover each
// The configurations measured and dropped are versions of the kernel lab,
// dev/cuda/skinny_gemm.cu.
// Requirements: N % 16 == 0, K % 64 == 0, 1 <= T <= 16, x and W 16-byte
// aligned; otherwise cudaErrorInvalidValue. accumulate != 0: y = y + x·Wᵀ.
// No allocation, no synchronisation, capturable in CUDA graphs; concurrent
// launches on different streams don't interfere (no scratch memory). The
// first call of each kernel configuration queries its occupancy (and opts
// in to > 48 KB shared memory where needed) on the host, once per process;
// the answers are cached, so all devices are assumed to be the same GPU.
// Calling each variant once before graph capture keeps those queries out of
// the capture (they are legal inside it, but untested there).
#define GCK_SKINNY_NVARIANTS 7
cudaError_t gck_skinny(cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K,
                       int accumulate, int variant);

// The batch-invariant form of fixed variant 1..6 (same requirements): row
// t of y depends on row t of x alone, bit for bit, whatever T is and
// wherever the row sits among the T. gck_skinny(variant >= 1) picks its
// kernel by T (8 token columns for T <= 8, 16 above); the two kernels have
// their own occupancy, and the number of blocks that split K (a cluster of
// cs blocks, summed in rank order) comes from it, so one row's sum could be
// cut differently at T = 8 and T = 9. This form launches the 16-column
// kernel for every T: cs depends on N, K, that kernel's occupancy and the SM
// count only, and each output element is the same sequence of f32 mma
// accumulations (chunks c ≡ slot mod S in increasing order, then the
// warps' partials in index order, then the cluster ranks' in rank order);
// columns past T read zeros and are not stored. Costs the 16-column
// kernel's time at T <= 8. What the engine's batch-invariant mode runs.
cudaError_t gck_skinny_invariant(cudaStream_t s, float *y, const uint16_t *x, const uint16_t *W, int T, int N, int K,
                                 int accumulate, int variant);

// Short description of a variant (static string; "?" when out of range).
const char *gck_skinny_variant_name(int variant);

#ifdef __cplusplus
}
#endif
#endif
