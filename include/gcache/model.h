// Loading a model: a Hugging Face folder (config.json + safetensors [+ tokenizer])
// or a single GGUF file. The handle owns the mapped weight files.
#ifndef GCACHE_MODEL_H
#define GCACHE_MODEL_H
#include "gcache/gcache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_model gc_model;
struct gc_tokenizer;

typedef struct gc_model_info {
    const char *arch;         // "llama", "qwen2", "qwen3"
    const char *source;       // "hf" or "gguf"
    int64_t vocab_size, hidden_size, intermediate_size;
    int64_t n_layers, n_heads, n_kv_heads, head_dim, max_position;
    double rope_theta, rms_eps;
    bool tie_embeddings;
    const char *weight_dtype; // dtype of the first layer's q projection ("bf16", "q4_1", ...)
    int64_t n_params;         // parameters (elements) over all weight tensors
    size_t weight_bytes;      // bytes of all weight tensors as stored
} gc_model_info;

// path: a directory (HF folder) or a .gguf file. A folder without
// tokenizer.json loads fine; gc_model_tokenizer() is then NULL.
// On success *out is owned by the caller: release with gc_model_free.
gc_status gc_model_load(const char *path, gc_model **out);
void gc_model_free(gc_model *m);

void gc_model_get_info(const gc_model *m, gc_model_info *info);
// Borrowed; NULL when the model came without a tokenizer.
const struct gc_tokenizer *gc_model_tokenizer(const gc_model *m);
// End-of-sequence ids (generation_config.json / GGUF); borrowed.
const int32_t *gc_model_eos_ids(const gc_model *m, int *n);

#ifdef __cplusplus
}
#endif
#endif
