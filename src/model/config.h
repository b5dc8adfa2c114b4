// Model hyper-parameters, read from config.json (+ generation_config.json)
// or from GGUF metadata. All sizes are element counts.
#ifndef GC_MODEL_CONFIG_H
#define GC_MODEL_CONFIG_H
#include "gcache/gcache.h"

typedef enum gc_arch {
    GC_ARCH_LLAMA = 0,  // Llama / SmolLM2: plain attention
    GC_ARCH_QWEN2,      // Qwen2 / Qwen2.5: bias on q, k, v projections
    GC_ARCH_QWEN3,      // Qwen3: per-head RMSNorm on q and k, no bias
} gc_arch;

// How RoPE pairs the dimensions of a head.
typedef enum gc_rope_style {
    GC_ROPE_NEOX = 0,   // HF rotate_half: pairs (i, i + d/2)  — HF weights, GGUF qwen2/qwen3
    GC_ROPE_NORM,       // pairs (2i, 2i+1) — GGUF llama (its converter permuted q/k rows)
} gc_rope_style;

#define GC_MAX_EOS 8

typedef struct gc_model_config {
    gc_arch arch;
    int64_t vocab_size;
    int64_t hidden_size;         // D
    int64_t intermediate_size;   // F (SwiGLU inner size)
    int64_t n_layers;
    int64_t n_heads;             // query heads
    int64_t n_kv_heads;          // key/value heads (GQA: n_heads % n_kv_heads == 0)
    int64_t head_dim;            // usually D / n_heads; Qwen3 sets it explicitly
    int64_t max_position;        // context length
    double rope_theta;
    double rms_eps;
    bool tie_embeddings;         // lm_head shares embed_tokens
    bool attn_bias;              // q,k,v projections carry a bias (Qwen2)
    gc_rope_style rope_style;
    int32_t bos_id;              // -1 if none
    int32_t eos_ids[GC_MAX_EOS]; // from generation_config.json / config.json / GGUF
    int n_eos;
} gc_model_config;

const char *gc_arch_name(gc_arch a);

// Parses <dir>/config.json and, when present, <dir>/generation_config.json.
// Validates every field it uses (type, range, divisibility) and names the
// file and field in the error.
gc_status gc_config_load_hf(const char *dir, gc_model_config *out);

// Parses from JSON text already in memory (path used only in messages).
// gen_json may be NULL.
gc_status gc_config_parse_hf(const char *json, size_t len, const char *gen_json, size_t gen_len,
                             const char *path, gc_model_config *out);

#endif
