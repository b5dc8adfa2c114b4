// The fast CPU matmul: products on the quantized weight blocks with
// int8-quantized activations (as llama.cpp does), AVX2 or AVX-512 VNNI chosen
// at run time. Not bit-exact: each activation row is rounded to 8 bits per
// block of 32 (error ≤ amax/254 per element; see qgemm.c); the exact
// dequantise-then-f32 path is gc_cpu_matmul.
#ifndef GC_BACKEND_CPU_QGEMM_H
#define GC_BACKEND_CPU_QGEMM_H
#include "format/tensor.h"
#include "core/threads.h"

// Instruction sets of the kernels. AUTO: the best one this CPU has.
typedef enum gc_qgemm_isa { GC_QISA_AUTO = 0, GC_QISA_AVX2, GC_QISA_AVX512 } gc_qgemm_isa;

// True when gc_qgemm takes weights of this dtype (the block-quantized ones;
// float weights stay on gc_cpu_matmul).
bool gc_qgemm_supports(gc_dtype t);

// The ISA that AUTO resolves to on this CPU (GC_QISA_AVX512 needs AVX-512
// F/BW/VL/VNNI/DQ). The CPU backend asks for GC_QISA_AVX2 instead when the
// engine's gc_engine_params.cpu.qgemm_avx2 is set.
gc_qgemm_isa gc_qgemm_best_isa(void);

// y (T, N) = x (T, K) · Wᵀ (+ bias (N)) for a (N, K) weight of a supported
// dtype, on the threads of pool (NULL: the caller alone). isa GC_QISA_AVX512
// on a CPU without it falls back to AVX2. Fails on an unsupported dtype or
// no memory. Each output is computed by one thread in a fixed order, so the
// result does not depend on the thread count.
gc_status gc_qgemm(gc_pool *pool, float *y, const float *x, int64_t T, const gc_tensor *W, const float *bias, gc_qgemm_isa isa);

// Which kernels compute the product. Both give the same bits (so AUTO's
// choice never changes a result); they differ in speed only:
//   PANELS  each 16-row weight panel unpacked to int8 once, then run against
//           every activation row (prefill, batched decode);
//   DIRECT  each weight block decoded in registers and dotted with the
//           activation rows right away (decode at batch 1), for the dtypes
//           of qg_gemv_supports (qgemv.h); the others take the panels;
//   AUTO    DIRECT for T <= GC_QGEMM_DIRECT_T (GGUF layout) or
//           GC_QGEMM_DIRECT_T_REPACKED (gc_qgemm_repacked), else PANELS.
typedef enum gc_qgemm_path { GC_QPATH_AUTO = 0, GC_QPATH_PANELS, GC_QPATH_DIRECT } gc_qgemm_path;
// Measured (bench/qgemm_timing.c, bench/RESULTS.md): the direct products
// beat the panels up to T = 4 on the GGUF layout, and up to T = 8 on the
// repacked one (batched decode of 6-8 sequences +40 %; at T = 16 the
// panels win or tie).
enum { GC_QGEMM_DIRECT_T = 4, GC_QGEMM_DIRECT_T_REPACKED = 8 };
gc_status gc_qgemm_with(gc_pool *pool, float *y, const float *x, int64_t T, const gc_tensor *W, const float *bias,
                        gc_qgemm_isa isa, gc_qgemm_path path);

// A weight of a direct-product dtype (qg_gemv_supports) copied into the
// repacked layout (qrepack.h: each group of 16 rows one stream, each block
// field of the 16 rows side by side, so their scales are one load instead
// of a gather). Same bytes, so the same products, bit for bit, in both
// layouts. The CPU backend makes one per matmul weight at init.
typedef struct gc_qweight {
    const gc_tensor *src;   // the GGUF-layout tensor it copies (dtype, shape, name); not owned
    uint8_t *data;          // nbytes, 64-byte aligned; owned
    size_t nbytes;
} gc_qweight;
// True for the dtypes with a repacked layout.
bool gc_qweight_supports(gc_dtype t);
// Fails with GC_ERR_UNSUPPORTED for a dtype without the layout, GC_ERR_OOM.
gc_status gc_qweight_repack(gc_pool *pool, const gc_tensor *W, gc_qweight *out);
void gc_qweight_free(gc_qweight *q);   // leaves *q zeroed; NULL or zeroed: nothing
// gc_qgemm_with on a repacked weight: the same results, bit for bit.
gc_status gc_qgemm_repacked(gc_pool *pool, float *y, const float *x, int64_t T, const gc_qweight *W, const float *bias,
                            gc_qgemm_isa isa, gc_qgemm_path path);

#endif
