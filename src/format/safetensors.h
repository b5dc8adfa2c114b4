// safetensors weight sets: one file, or an HF sharded folder.
// File layout: u64 little-endian header length N, N bytes of UTF-8 JSON
//   { "<tensor>": {"dtype": "F32"|"F16"|"BF16", "shape": [d0, ...],
//                  "data_offsets": [begin, end]}, ...,
//     "__metadata__": {"<key>": "<value>", ...} }   (optional)
// then the data; offsets are relative to the first byte after the header.
// Shapes are row-major (tensor.h). Views point into the mapped files (or the
// caller's buffer) and live until gc_weights_free.
//
// Alignment: the format does not guarantee any. Writers pad the header so
// the data starts 8-byte aligned in the file, and tensors are usually sized
// so that each stays aligned to its element size, but a view's data may be
// unaligned; code that loads it as float/uint16_t must check or use memcpy.
#ifndef GC_FORMAT_SAFETENSORS_H
#define GC_FORMAT_SAFETENSORS_H
#include "format/tensor.h"

// Largest header accepted (the reference implementation's cap).
#define GC_ST_MAX_HEADER 100000000u

typedef struct gc_weights gc_weights;

// dir holds model.safetensors, or model.safetensors.index.json and the
// shards its "weight_map" names (model.safetensors wins when both exist).
// Shard names must be plain file names in dir; every listed tensor must be
// in the shard the index names; a tensor name may appear in one shard only.
gc_status gc_weights_open_hf(const char *dir, gc_weights **out);
// One safetensors buffer the caller keeps alive until gc_weights_free
// (fuzzing, tests); name is used in messages.
gc_status gc_weights_open_memory(const void *data, size_t size, const char *name, gc_weights **out);
void gc_weights_free(gc_weights *w);

// Tensors are ordered by name (strcmp), across all shards.
int64_t gc_weights_count(const gc_weights *w);
// NULL if i is out of range.
const gc_tensor *gc_weights_at(const gc_weights *w, int64_t i);
// NULL if absent; binary search, O(log n).
const gc_tensor *gc_weights_find(const gc_weights *w, const char *name);
// Path (or memory name) of the file holding t, for messages; NULL if t is
// not from w.
const char *gc_weights_file_of(const gc_weights *w, const gc_tensor *t);

#endif
