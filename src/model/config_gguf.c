// gc_model_config from GGUF metadata ("<arch>.*" keys, tokenizer.ggml.*).
#include "model/config_gguf.h"
#include "format/gguf.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

static gc_status req_int(const gc_gguf *g, const char *arch, const char *key, int64_t lo, int64_t hi,
                         int64_t *out) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!gc_gguf_get_int(g, k, out))
        return gc_fail(GC_ERR_FORMAT, "%s: missing or non-integer metadata '%s'", gc_gguf_path(g), k);
    if (*out < lo || *out > hi)
        return gc_fail(GC_ERR_FORMAT, "%s: metadata '%s' = %lld out of range [%lld, %lld]",
                       gc_gguf_path(g), k, (long long)*out, (long long)lo, (long long)hi);
    return GC_OK;
}

static bool opt_int(const gc_gguf *g, const char *arch, const char *key, int64_t *out) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return gc_gguf_get_int(g, k, out);
}

static bool opt_float(const gc_gguf *g, const char *arch, const char *key, double *out) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return gc_gguf_get_float(g, k, out);
}

gc_status gc_config_from_gguf(const gc_gguf *g, gc_model_config *c) {
    memset(c, 0, sizeof *c);
    const char *path = gc_gguf_path(g);
    const char *arch = gc_gguf_get_str(g, "general.architecture", NULL);
    if (!arch) return gc_fail(GC_ERR_FORMAT, "%s: missing metadata 'general.architecture'", path);
    if (strcmp(arch, "llama") == 0) {
        c->arch = GC_ARCH_LLAMA;
        c->rope_style = GC_ROPE_NORM;   // llama.cpp's converter permutes q/k for interleaved RoPE
    } else if (strcmp(arch, "qwen2") == 0) {
        c->arch = GC_ARCH_QWEN2;
        c->rope_style = GC_ROPE_NEOX;
    } else if (strcmp(arch, "qwen3") == 0) {
        c->arch = GC_ARCH_QWEN3;
        c->rope_style = GC_ROPE_NEOX;
    } else {
        return gc_fail(GC_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (llama, qwen2, qwen3)",
                       path, arch);
    }
    const int64_t BIG = 1 << 20;
    GC_TRY(req_int(g, arch, "embedding_length", 1, BIG, &c->hidden_size));
    GC_TRY(req_int(g, arch, "block_count", 1, 4096, &c->n_layers));
    GC_TRY(req_int(g, arch, "feed_forward_length", 1, BIG, &c->intermediate_size));
    GC_TRY(req_int(g, arch, "attention.head_count", 1, 4096, &c->n_heads));
    if (!opt_int(g, arch, "attention.head_count_kv", &c->n_kv_heads)) c->n_kv_heads = c->n_heads;
    if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads != 0)
        return gc_fail(GC_ERR_FORMAT, "%s: %s.attention.head_count_kv = %lld does not divide head_count %lld",
                       path, arch, (long long)c->n_kv_heads, (long long)c->n_heads);
    if (!opt_int(g, arch, "attention.key_length", &c->head_dim)) c->head_dim = c->hidden_size / c->n_heads;
    if (c->head_dim < 2 || c->head_dim % 2 || c->head_dim > 4096)
        return gc_fail(GC_ERR_FORMAT, "%s: head dimension %lld must be even and in [2, 4096]", path,
                       (long long)c->head_dim);
    if (!opt_int(g, arch, "context_length", &c->max_position)) c->max_position = 4096;
    if (c->max_position < 1) return gc_fail(GC_ERR_FORMAT, "%s: %s.context_length < 1", path, arch);
    if (!opt_float(g, arch, "rope.freq_base", &c->rope_theta)) c->rope_theta = 10000.0;
    if (!(c->rope_theta > 0)) return gc_fail(GC_ERR_FORMAT, "%s: %s.rope.freq_base must be > 0", path, arch);
    if (!opt_float(g, arch, "attention.layer_norm_rms_epsilon", &c->rms_eps)) c->rms_eps = 1e-6;
    if (!(c->rms_eps > 0 && c->rms_eps < 1))
        return gc_fail(GC_ERR_FORMAT, "%s: %s.attention.layer_norm_rms_epsilon out of range", path, arch);

    // Vocabulary: explicit key, else the token list, else the embedding rows.
    if (!opt_int(g, arch, "vocab_size", &c->vocab_size)) {
        gc_gguf_type et;
        if (!gc_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &c->vocab_size)) {
            const gc_tensor *e = gc_gguf_find_tensor(g, "token_embd.weight");
            if (!e) return gc_fail(GC_ERR_FORMAT, "%s: missing tensor 'token_embd.weight'", path);
            c->vocab_size = e->shape[0];
        }
    }
    if (c->vocab_size < 1 || c->vocab_size > (1 << 24))
        return gc_fail(GC_ERR_FORMAT, "%s: vocabulary size %lld out of range", path, (long long)c->vocab_size);
    c->attn_bias = gc_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    c->tie_embeddings = gc_gguf_find_tensor(g, "output.weight") == NULL;

    int64_t id;
    c->bos_id = -1;
    if (gc_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &id) && id >= 0 && id < c->vocab_size)
        c->bos_id = (int32_t)id;
    const char *eos_keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"};
    for (int i = 0; i < 2; i++) {
        if (!gc_gguf_get_int(g, eos_keys[i], &id)) continue;
        if (id < 0 || id >= c->vocab_size)
            return gc_fail(GC_ERR_FORMAT, "%s: %s = %lld out of vocabulary", path, eos_keys[i], (long long)id);
        bool dup = false;
        for (int j = 0; j < c->n_eos; j++) dup |= c->eos_ids[j] == id;
        if (!dup) c->eos_ids[c->n_eos++] = (int32_t)id;
    }
    return GC_OK;
}
