// Element encodings of gc_dtype: block geometry and dequantisation.
// Block layouts follow GGML's definitions (the GGUF on-disk format):
//   Q8_0 : { f16 d; int8 qs[32]; }                          x = d*q
//   Q4_0 : { f16 d; u8 qs[16]; }   x[i]=d*((qs[i]&15)-8), x[i+16]=d*((qs[i]>>4)-8)
//   Q4_1 : { f16 d, m; u8 qs[16]; } x = d*q + m (same nibble order as Q4_0)
//   Q5_0, Q5_1, IQ4_NL: 32-element blocks (see quant.c);
//   Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS: 256-element super-blocks with packed
//   sub-block scales (exact layouts in quant.c).
#ifndef GC_FORMAT_QUANT_H
#define GC_FORMAT_QUANT_H
#include "format/tensor.h"

const char *gc_dtype_name(gc_dtype t);
// Elements per block: 1 for float types, 32 for Q*_0/Q*_1/IQ4_NL, 256 for
// K-quants and IQ4_XS.
int64_t gc_dtype_block_elems(gc_dtype t);
// Bytes per block.
size_t gc_dtype_block_bytes(gc_dtype t);
// Bytes of a row of n elements; returns 0 if n is not a multiple of the block.
size_t gc_dtype_row_bytes(gc_dtype t, int64_t n);

// Decodes n elements (n a multiple of the block size) from src into dst (f32).
void gc_dequant_row(gc_dtype t, const void *src, float *dst, int64_t n);

// IEEE half and bfloat16 conversions.
float gc_f16_to_f32(uint16_t h);
uint16_t gc_f32_to_f16(float f);
float gc_bf16_to_f32(uint16_t h);
uint16_t gc_f32_to_bf16(float f);  // round to nearest even

#endif
