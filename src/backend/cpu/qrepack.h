// The fast matmul's repacked weight layout: the same quant blocks, bytes
// unchanged, moved so that a group of 16 rows reads as one stream and each
// field of a block (scale, offset, high bits, codes) sits side by side for
// the group's 16 rows.
//
// Why: the direct products (qgemv.h) read 16 rows at a time. In the GGUF
// layout that is 16 streams, a few dozen bytes of each per step, and the 16
// rows' f16 scales are 22-210 bytes apart, fetched by one VPGATHERDD per
// block (slow on AMD: replacing it by a broadcast, timing only, took the
// Q5_0 kernel from 12.8 to 16.8 GB/s; bench/RESULTS.md). Repacked, the
// scales of 16 rows are one 32-byte (f16) or 64-byte (packed sub-scales)
// load, and the group's bytes are one sequential stream.
//
// Layout of a repacked (N, K) weight of a dtype with block bytes bb and row
// bytes rb = (K/qk)·bb: ceil(N/16) groups of 16·rb bytes, group g holding
// rows 16g..16g+15 (rows past N are zero bytes). Inside a group, block b
// (the b-th block of every row) takes the 16·bb bytes at 16·bb·b. There the
// block's fields (qg_fields: byte offset and size in the GGUF block) follow
// each other in the order the kernels read them, each taking 16·fs bytes,
// row r's copy at r·fs. So row r's field fo of block b is at 16·bb·b +
// qg_field_pos(fo) + r·fs from the group, where the GGUF layout has it at
// r·rb + bb·b + fo. Fields that a kernel step reads apart (the K-quants'
// codes, 32 or 64 bytes per step) are separate fields, so that each step
// reads one run of bytes: measured, the hardware prefetchers then follow
// the stream alone (bench/RESULTS.md).
#ifndef GC_BACKEND_CPU_QREPACK_H
#define GC_BACKEND_CPU_QREPACK_H
#include "format/tensor.h"
#include <stddef.h>
#include <stdint.h>

// The fields of one block of dtype t in their repacked order, as pairs
// (offset in the GGUF block, size) tiling [0, bb): their count, with *f set;
// 0 for a dtype without a repacked layout (those of qg_gemv_supports have
// one).
static inline int qg_fields(gc_dtype t, const int16_t **f) {
    // The f16 d (and m / dmin) first, then 5th bits, then codes; the
    // K-quants' sub-scales as dwords (three packed 6-bit ones for Q4_K/Q5_K,
    // four of Q6_K's int8 ones), so that one dword of 16 rows is one vector.
    static const int16_t q8_0[] = {0, 2, 2, 32}, q4_0[] = {0, 2, 2, 16}, q4_1[] = {0, 2, 2, 2, 4, 16};
    static const int16_t q5_0[] = {0, 2, 2, 4, 6, 16}, q5_1[] = {0, 2, 2, 2, 4, 4, 8, 16};
    static const int16_t q4_k[] = {0, 2, 2, 2, 4, 4, 8, 4, 12, 4, 16, 32, 48, 32, 80, 32, 112, 32};
    static const int16_t q5_k[] = {0, 2, 2, 2, 4, 4, 8, 4, 12, 4, 16, 32, 48, 32, 80, 32, 112, 32, 144, 32};
    // Q6_K: d, the scales, then per half h of the super-block its 64 ql
    // bytes and 32 qh bytes (ql at 64h, qh at 128 + 32h).
    static const int16_t q6_k[] = {208, 2, 192, 4, 196, 4, 200, 4, 204, 4, 0, 64, 128, 32, 64, 64, 160, 32};
#define QG_F(a) (*f = a, (int)(sizeof a / sizeof a[0]) / 2)
    switch (t) {
    case GC_DT_Q8_0: return QG_F(q8_0);
    case GC_DT_Q4_0: return QG_F(q4_0);
    case GC_DT_Q4_1: return QG_F(q4_1);
    case GC_DT_Q5_0: return QG_F(q5_0);
    case GC_DT_Q5_1: return QG_F(q5_1);
    case GC_DT_Q4_K: return QG_F(q4_k);
    case GC_DT_Q5_K: return QG_F(q5_k);
    case GC_DT_Q6_K: return QG_F(q6_k);
    default: *f = NULL; return 0;
    }
#undef QG_F
}

// Byte offset, in a repacked block of 16 rows, of the field that starts at
// byte fo of the GGUF block: 16 × the sizes of the fields qg_fields puts
// before it. Every dtype but Q6_K keeps its fields in GGUF order, so there
// it is 16·fo. Spelt out so that the kernels' calls (t and fo constants)
// fold to constants (a loop over qg_fields' table did not, and cost half
// the speed); test_qgemm checks it against qg_fields.
static inline __attribute__((always_inline)) size_t qg_field_pos(gc_dtype t, int fo) {
    if (t != GC_DT_Q6_K) return 16 * (size_t)fo;
    switch (fo) {   // d (32 B), 4 scale dwords (64 B each), ql/qh of half 0 (1024 + 512 B), of half 1
    case 208: return 0;
    case 0: return 288;
    case 128: return 1312;
    case 64: return 1824;
    case 160: return 2848;
    default: return 32 + 16 * (size_t)(fo - 192);   // the scale dwords at 192, 196, 200, 204
    }
}

// Bytes of the repacked form of a weight of N rows of rb bytes.
static inline size_t qg_repacked_bytes(int64_t N, size_t rb) { return (size_t)((N + 15) / 16) * 16 * rb; }

// Repacks rows [16·g0, 16·g1) of w (N rows of rb bytes, GGUF layout) into
// the groups g0..g1-1 of dst (the whole repacked buffer).
void qg_repack_groups(gc_dtype t, const uint8_t *w, int64_t N, size_t rb, int64_t g0, int64_t g1, uint8_t *dst);

#endif
