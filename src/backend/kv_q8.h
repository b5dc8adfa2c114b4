// The q8 KV format's one quantization rule (layout: backend/backend.h),
// shared by the CPU backend and the CUDA backend's host side; the CUDA
// kernels that write KV rows follow the same formulas (q8_store_row in
// backend/cuda/common.cuh).
#ifndef GC_BACKEND_KV_Q8_H
#define GC_BACKEND_KV_Q8_H
#include <stdint.h>

// Rows of hd floats x (n_rows, hd) → q (n_rows, hd) int8 and scale (n_rows):
// scale = max|x| / 127 (f32 division), q = x / scale rounded to nearest
// even, clamped to [-127, 127]; an all-zero row gives scale 0 and q 0.
void gc_kv_q8_quantize(const float *x, int64_t n_rows, int64_t hd, int8_t *q, float *scale);
// x (n_rows, hd) = q · scale of its row.
void gc_kv_q8_dequantize(const int8_t *q, const float *scale, int64_t n_rows, int64_t hd, float *x);
// A stored row's scale is one the quantizer can produce: finite and >= 0.
static inline int gc_kv_q8_scale_ok(float s) { return s >= 0.0f && s <= 3.4028234663852886e38f; }

#endif
