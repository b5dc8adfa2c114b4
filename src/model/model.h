// Internal layout of a loaded model: config + views of every weight.
#ifndef GC_MODEL_MODEL_H
#define GC_MODEL_MODEL_H
#include "gcache/model.h"
#include "model/config.h"
#include "format/tensor.h"

struct gc_gguf;
struct gc_weights;

// Weights of one decoder layer. Linear weights are (out, in) row-major views
// into the mapped files (any gc_dtype); norm weights and biases are f32 copies.
typedef struct gc_layer_weights {
    const gc_tensor *wq, *wk, *wv, *wo;     // (H*hd, D), (KV*hd, D), (KV*hd, D), (D, H*hd)
    const gc_tensor *w_gate, *w_up, *w_down; // (F, D), (F, D), (D, F)
    float *attn_norm, *ffn_norm;            // (D)
    float *q_norm, *k_norm;                 // (hd) Qwen3 only, else NULL
    float *bq, *bk, *bv;                    // (H*hd), (KV*hd), (KV*hd) when attn_bias, else NULL
} gc_layer_weights;

struct gc_model {
    gc_model_config cfg;
    char *path;
    bool is_gguf;
    struct gc_gguf *gguf;        // owned, when loaded from GGUF
    struct gc_weights *st;       // owned, when loaded from safetensors
    const gc_tensor *tok_embd;   // (V, D)
    const gc_tensor *lm_head;    // (V, D); == tok_embd when tied
    float *final_norm;           // (D)
    gc_layer_weights *layers;    // n_layers
    struct gc_tokenizer *tok;    // owned, may be NULL
    int64_t n_params;
    size_t weight_bytes;
};

#endif
