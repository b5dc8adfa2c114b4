// CPU f32 kernels of the forward pass (AVX2+FMA), spread over the threads of
// a gc_pool (core/threads.h; NULL runs on the caller alone). Each output
// element is computed by one thread in a fixed order, so results are the same
// for every thread count.
// All activations are row-major f32: a (T, D) matrix holds T tokens of width D.
#ifndef GC_BACKEND_CPU_OPS_H
#define GC_BACKEND_CPU_OPS_H
#include "format/tensor.h"
#include "core/threads.h"

// y (T, N) = x (T, K) · Wᵀ (+ bias (N)), W a (N, K) weight of any dtype,
// dequantised one row at a time (each row once per call, whatever T is).
// Fails only with GC_ERR_OOM (per-thread row buffers).
gc_status gc_cpu_matmul(gc_pool *pool, float *y, const float *x, int64_t T, const gc_tensor *W, const float *bias);

// out (T, D) = x / sqrt(mean(x²) + eps) * w. out may alias x.
void gc_cpu_rmsnorm(gc_pool *pool, float *out, const float *x, const float *w, int64_t T, int64_t D, double eps);

// out (T, F) = silu(gate) * up, gate/up (T, F). out may alias gate.
void gc_cpu_swiglu(gc_pool *pool, float *out, const float *gate, const float *up, int64_t n);

// x += y over n floats.
void gc_cpu_add(float *x, const float *y, int64_t n);

// Rotates one head vector x (hd) in place by the angles' cos/sin tables (hd/2).
// neox: pairs (i, i+hd/2); otherwise adjacent pairs (2i, 2i+1).
void gc_cpu_rope_head(float *x, const float *cos_t, const float *sin_t, int64_t hd, bool neox);

// A run of cached keys/values for one KV head: n rows of hd floats at k / v
// with row stride kv_stride; keys scaled by k_scale, values by v_scale;
// hidden runs are masked out of the softmax. A q8 run sets kq / vq instead
// (k, v NULL): n rows of hd int8 with row stride kv_stride, row j scaled by
// kd[j·d_stride] / vd[j·d_stride] (the stored per-row scales) on top.
typedef struct gc_attn_seg {
    const float *k, *v;
    int64_t n;
    float k_scale, v_scale;
    bool hidden;
    const int8_t *kq, *vq;
    const float *kd, *vd;
    int64_t d_stride;
} gc_attn_seg;

// Causal attention of n_q query rows × n_h heads that share one KV head
// (a GQA group) over the concatenation of segs (n_ctx positions in total).
// The query of row i, head g is hd floats at q + i*q_stride + g*hd; row i
// has absolute index ctx_first_q + i and sees positions [0, ctx_first_q + i].
// Its output goes to out + i*o_stride + g*hd; a query that sees only hidden
// positions gets zeros. scratch: gc_cpu_attention_scratch(ctx_first_q + n_q)
// floats. A query's output bits depend on that query and its visible
// positions only, never on n_q, n_h or its place among the others
// (backend/cpu/attention.c).
void gc_cpu_attention(float *out, int64_t o_stride, const float *q, int64_t q_stride, int64_t n_q, int64_t n_h,
                      int64_t ctx_first_q, const gc_attn_seg *segs, int n_segs, int64_t kv_stride, int64_t hd,
                      float scale, float *scratch);

// Floats of scratch gc_cpu_attention needs when its last row sees n_ctx positions.
int64_t gc_cpu_attention_scratch(int64_t n_ctx);

#endif
