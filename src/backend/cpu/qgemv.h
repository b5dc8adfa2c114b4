// Direct products of the fast matmul for a few activation rows (decode
// steps): each weight block is decoded in registers and dotted with the int8
// activation block right away, with no panel in between (qgemm_panel.h's
// panels cost a decode, a transpose and a store per weight element, paid back
// only when many activation rows reuse them).
//
// Same numbers as the panel kernels, bit for bit: per output and per block of
// 32 (or group of 16) the integer sum Σ a·q is exact in both, and the f32
// steps that follow (convert, scale by the activation's d, multiply-add the
// weight's d, then the offsets, then the bias) are the same operations in the
// same order. So a token's result does not depend on whether its step ran
// here (T small) or through the panels (a batch), nor on the thread count.
//
// The integer sums take the weight's code as the unsigned operand of
// VPDPBUSD / VPMADDUBSW and the signed activation as the other: a weight
// value is q = c - zp with c in [0, 255] (zp the format's zero point: Q5_0's
// 16, Q6_K's 32, Q8_0's 128 ...), so Σ a·q = Σ a·c - zp·Σa, and Σa per 16
// activations is computed once per call, not once per weight row.
#ifndef GC_BACKEND_CPU_QGEMV_H
#define GC_BACKEND_CPU_QGEMV_H
#include "backend/cpu/qgemm_panel.h"
#include <xmmintrin.h>

// Activation rows for the direct products: a = round(x/d) as signed int8
// (the panels store a + 128), quantized exactly as for the panels.
typedef struct qg_vact {
    const int8_t *q;       // (C, K)
    const float *d;        // (C, nb): block scales
    const float *s;        // (C, nb*ng): d·Σa per group, or NULL when the weights have no offsets
    const int32_t *sum16;  // (C, K/16): Σa per 16 elements
    int64_t K, nb;
} qg_vact;

// Largest count of activation rows one call takes.
enum { QG_GEMV_MAX_C = 4 };

// True for the dtypes with a direct product (the others take the panels):
// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K.
bool qg_gemv_supports(gc_dtype t);

// Bytes of one dtype block, and the zero point zp of its codes c = q + zp
// (Q8_0 stores q itself: its codes are q + 128 on AVX-512; the AVX2 kernel
// takes Q8_0's q signed instead, see qgemv_avx2.c).
static inline int qg_gemv_block_bytes(gc_dtype t) {
    switch (t) {
    case GC_DT_Q8_0: return 34;
    case GC_DT_Q4_0: return 18;
    case GC_DT_Q4_1: return 20;
    case GC_DT_Q5_0: return 22;
    case GC_DT_Q5_1: return 24;
    case GC_DT_Q4_K: return 144;
    case GC_DT_Q5_K: return 176;
    case GC_DT_Q6_K: return 210;
    default: return 0;
    }
}
static inline int qg_gemv_zero_point(gc_dtype t) {
    switch (t) {
    case GC_DT_Q8_0: return 128;
    case GC_DT_Q4_0: return 8;
    case GC_DT_Q5_0: return 16;
    case GC_DT_Q6_K: return 32;
    default: return 0;   // Q4_1, Q5_1, Q4_K, Q5_K: unsigned codes with an offset m
    }
}
static inline bool qg_gemv_super(gc_dtype t) { return t == GC_DT_Q4_K || t == GC_DT_Q5_K || t == GC_DT_Q6_K; }

// The rows a call starts for its caller while its own rows run: the first
// bytes of each of n rows from p (stride rb) into L2, `per` bytes of them at
// step i of the call's steps. The kernels' own prefetch runs 256 bytes ahead
// within each row, so without this every call's first steps wait on memory
// (qgemv_avx512.c's rows16 has the measurements). How much of each row
// (qg_ahead_head): rows of up to QG_WHOLE_ROW bytes whole; longer ones their
// first QG_HEAD bytes, or whole on CPUs where that measured faster
// (qg_ahead_whole_rows: AMD). Prefetching never faults and changes no result.
enum { QG_HEAD = 512, QG_WHOLE_ROW = 1024 };
// Whether longer rows are prefetched whole on this CPU (qgemm.c; AMD: yes).
bool qg_ahead_whole_rows(void);
static inline size_t qg_ahead_head(size_t rb) {
    return rb <= QG_WHOLE_ROW || qg_ahead_whole_rows() ? rb : QG_HEAD;
}
typedef struct qg_ahead {
    const char *p;
    size_t rb, head, bytes, per;
} qg_ahead;
static inline qg_ahead qg_ahead_of(const uint8_t *p, size_t rb, int n, int64_t steps) {
    const size_t head = qg_ahead_head(rb);
    qg_ahead a = {(const char *)p, rb, head, (size_t)n * head, 0};
    if (steps > 0) a.per = ((a.bytes + (size_t)steps - 1) / (size_t)steps + 63) & ~(size_t)63;
    return a;
}
static inline void qg_ahead_step(const qg_ahead *a, int64_t i) {
    for (size_t o = (size_t)i * a->per, e = o + a->per; o < e && o < a->bytes; o += 64)
        _mm_prefetch(a->p + o / a->head * a->rb + o % a->head, _MM_HINT_T1);
}

// The repacked layout (qrepack.h) is one stream per group of 16 rows (and
// the groups of a thread's share follow each other), so each iteration of
// the kernels asks L2 for the bytes QG_IL_AHEAD further on than its own.
// An AMD EPYC, one thread, weights streamed from memory (bench/RESULTS.md):
// into L2 4 KB ahead beat into L1 1 KB ahead (Q8_0 at T = 4 19.5 against
// 13.2 GB/s, Q6_K 11.1 against 8.2; T = 1 as good or better) and L2 8-32 KB
// ahead with L1 0.5-1 KB ahead; without any, Q6_K fell to 7 GB/s.
enum { QG_IL_AHEAD = 4096 };

// y[c*ldy + r] = Σ_k W[r][k] x[c][k] (+ bias[r]) for c < C (1..QG_GEMV_MAX_C)
// and r < rows (1..16). W: il false, rows starting at w with stride
// row_bytes (GGUF layout); il true, the repacked group at w (qrepack.h) of
// rows of row_bytes. ahead (GGUF layout): how many rows after these (w +
// rows·row_bytes on) the caller reads next, 0..16; their heads are
// prefetched during this call (qg_ahead).
void qg_gemv_avx2(gc_dtype t, bool il, const uint8_t *w, size_t row_bytes, int rows, const qg_vact *a, int C, float *y,
                  int64_t ldy, const float *bias, int ahead);
// The same with AVX-512 F/BW/VL/VNNI (only on CPUs that have it).
void qg_gemv_avx512(gc_dtype t, bool il, const uint8_t *w, size_t row_bytes, int rows, const qg_vact *a, int C,
                    float *y, int64_t ldy, const float *bias, int ahead);

#endif
