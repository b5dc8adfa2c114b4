// Tensor views over weight files (safetensors / GGUF) and the dtypes we read.
#ifndef GC_FORMAT_TENSOR_H
#define GC_FORMAT_TENSOR_H
#include "gcache/gcache.h"

// Storage types of weights. Quantized types are stored in blocks along the
// contiguous (last) dimension; see quant.h for block sizes.
typedef enum gc_dtype {
    GC_DT_F32 = 0,
    GC_DT_F16,
    GC_DT_BF16,
    GC_DT_Q8_0,  // 32 elems: f16 scale + 32 x int8
    GC_DT_Q4_0,  // 32 elems: f16 scale + 16 bytes of nibbles
    GC_DT_Q4_1,  // 32 elems: f16 scale, f16 min + 16 bytes of nibbles
    GC_DT_Q4_K,  // 256 elems super-block
    GC_DT_Q5_K,  // 256 elems super-block
    GC_DT_Q6_K,  // 256 elems super-block
    GC_DT_Q5_0,  // 32 elems: f16 scale, 32 high bits + 16 bytes of nibbles
    GC_DT_Q5_1,  // 32 elems: f16 scale, f16 min, 32 high bits + 16 bytes of nibbles
    GC_DT_Q2_K,  // 256 elems super-block
    GC_DT_Q3_K,  // 256 elems super-block
    GC_DT_IQ4_NL,  // 32 elems: f16 scale + 16 bytes of codebook indices
    GC_DT_IQ4_XS,  // 256 elems super-block of codebook indices
    GC_DT_COUNT
} gc_dtype;

#define GC_MAX_DIMS 4

// A read-only view of a weight tensor; data points into a mapped file.
// shape is ROW-MAJOR (as in PyTorch / safetensors): shape[ndim-1] is the
// contiguous dimension. GGUF's ne[] order is reversed on load to match, so a
// linear layer's weight is always (out_features, in_features).
typedef struct gc_tensor {
    const char *name;  // not owned; lives as long as the file handle
    gc_dtype dtype;
    int ndim;
    int64_t shape[GC_MAX_DIMS];
    const void *data;
    size_t nbytes;
} gc_tensor;

static inline int64_t gc_tensor_numel(const gc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

#endif
