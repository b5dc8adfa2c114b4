// Internal layout shared by the fast matmul's packer (qgemm_pack.c), its
// kernels (qgemm_avx2.c, qgemm_avx512.c) and its driver (qgemm.c).
//
// Weights are unpacked, 16 rows at a time, into a panel of int8 values laid
// out so that one 64-byte vector holds 4 consecutive elements of each of the
// 16 rows: a VPDPBUSD of that vector with 4 broadcast activation bytes leaves
// 16 row sums in 16 lanes, with no horizontal reduction. A panel is a run of
// blocks, one per 32 elements of K, each (all offsets 64-byte multiples):
//   q    [8][16][4] i8   step k, row r, element 4k+j of the block (512 B)
//   init [ng][16]   i32  -128 · Σ q over group g of row r (the activations
//                         are stored as u8 = a + 128, see below)
//   d    [ng][16]   f32  scale of group g of row r
//   m    [ng][16]   f32  (only when fmt.min) offset of group g of row r
// A weight element is d·q + m; groups are 32 elements (ng = 1) or 16 (ng = 2,
// the K-quants with 16-element scales).
//
// Activations are quantized per row in blocks of 32 (Q8_0-like): scale
// d = amax/127, values a = round(x/d) in [-127, 127], stored as u8 a + 128
// (VPDPBUSD / VPMADDUBSW take an unsigned and a signed operand; the +128 is
// taken back by init). Types with offsets also need d·Σa per group.
#ifndef GC_BACKEND_CPU_QGEMM_PANEL_H
#define GC_BACKEND_CPU_QGEMM_PANEL_H
#include "format/tensor.h"
#include <stddef.h>

enum { QG_ROWS = 16, QG_BLK = 32 };

typedef struct qg_fmt {
    int ng;       // groups per block: 1 (32 elements) or 2 (16)
    bool min;     // weights carry an offset m
    bool wide;    // |q| may exceed 64: VPMADDUBSW of u8 activations could saturate
} qg_fmt;

static inline size_t qg_block_bytes(const qg_fmt *f) {
    return 512 + (size_t)f->ng * 128 + (f->min ? (size_t)f->ng * 64 : 0);
}

// Quantized activations of T rows of K elements (nb = K/32 blocks).
typedef struct qg_act {
    const uint8_t *q;   // (T, K): a + 128
    const float *d;     // (T, nb): block scales
    const float *s;     // (T, nb*ng): d·Σa per group, or NULL when the weights have no offsets
    int64_t K, nb;
} qg_act;

// The format of a dtype's panels; false for dtypes without a packer.
bool qg_fmt_of(gc_dtype t, qg_fmt *f);

// Unpacks `rows` (1..16) rows of a (·, K) weight into a panel of K/32
// blocks (64-byte aligned); rows past `rows` are zero. The rows: il false,
// from w on with stride row_bytes (GGUF layout); il true, the repacked group
// at w (qrepack.h) of rows of row_bytes. scratch: qg_pack_scratch_bytes(K)
// bytes.
void qg_pack(gc_dtype t, bool il, const uint8_t *w, size_t row_bytes, int rows, int64_t K, uint8_t *panel,
             void *scratch);
// The same, bit for bit, with AVX-512 F/BW/VL/VNNI (only on CPUs that have it).
void qg_pack_avx512(gc_dtype t, bool il, const uint8_t *w, size_t row_bytes, int rows, int64_t K, uint8_t *panel,
                    void *scratch);
size_t qg_pack_scratch_bytes(int64_t K);

// y[c*ldy + r] = Σ_k W[r][k] x[t0+c][k] (+ bias[r]) for c < C (1..8 on
// AVX-512, any C on AVX2, which tiles it) and r < rows, from one panel of nb
// blocks.
typedef void (*qg_kernel_fn)(const uint8_t *panel, const qg_fmt *f, const qg_act *a, int64_t t0, int C, float *y,
                             int64_t ldy, const float *bias, int rows);
void qg_kernel_avx2(const uint8_t *panel, const qg_fmt *f, const qg_act *a, int64_t t0, int C, float *y, int64_t ldy,
                    const float *bias, int rows);
void qg_kernel_avx512(const uint8_t *panel, const qg_fmt *f, const qg_act *a, int64_t t0, int C, float *y,
                      int64_t ldy, const float *bias, int rows);
// Token tile of each kernel.
enum { QG_TILE_AVX2 = 4, QG_TILE_AVX512 = 8 };

#endif
