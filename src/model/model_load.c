// Assembling a gc_model from a Hugging Face folder or a GGUF file:
// resolve every weight by name, check its shape against the config, and
// copy the small vectors (norms, biases) into f32.
#include "model/model.h"
#include "model/config_gguf.h"
#include "format/safetensors.h"
#include "format/quant.h"
#include "core/error.h"
#include "core/file.h"
#include "gcache/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// Name lookup over whichever container the model came from.
static const gc_tensor *find_tensor(const gc_model *m, const char *name) {
    return m->is_gguf ? gc_gguf_find_tensor(m->gguf, name) : gc_weights_find(m->st, name);
}

static gc_status check_shape(const gc_model *m, const gc_tensor *t, const char *name,
                             int ndim, int64_t d0, int64_t d1) {
    bool ok = t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1);
    if (!ok) {
        char got[96] = "";
        int k = 0;
        for (int i = 0; i < t->ndim && k < 80; i++)
            k += snprintf(got + k, sizeof got - (size_t)k, "%s%lld", i ? "," : "", (long long)t->shape[i]);
        if (ndim == 1)
            return gc_fail(GC_ERR_FORMAT, "%s: tensor '%s' has shape [%s], config implies [%lld]",
                           m->path, name, got, (long long)d0);
        return gc_fail(GC_ERR_FORMAT, "%s: tensor '%s' has shape [%s], config implies [%lld,%lld]",
                       m->path, name, got, (long long)d0, (long long)d1);
    }
    return GC_OK;
}

// A required matrix (out, in).
static gc_status get_mat(gc_model *m, const char *name, int64_t rows, int64_t cols, const gc_tensor **out) {
    const gc_tensor *t = find_tensor(m, name);
    if (!t) return gc_fail(GC_ERR_FORMAT, "%s: missing tensor '%s'", m->path, name);
    GC_TRY(check_shape(m, t, name, 2, rows, cols));
    m->n_params += gc_tensor_numel(t);
    m->weight_bytes += t->nbytes;
    *out = t;
    return GC_OK;
}

// A vector copied to f32. required=false: absent → *out = NULL.
static gc_status get_vec(gc_model *m, const char *name, int64_t n, bool required, float **out) {
    *out = NULL;
    const gc_tensor *t = find_tensor(m, name);
    if (!t) {
        if (required) return gc_fail(GC_ERR_FORMAT, "%s: missing tensor '%s'", m->path, name);
        return GC_OK;
    }
    GC_TRY(check_shape(m, t, name, 1, n, 0));
    if (t->dtype != GC_DT_F32 && t->dtype != GC_DT_F16 && t->dtype != GC_DT_BF16)
        return gc_fail(GC_ERR_UNSUPPORTED, "%s: tensor '%s': quantized vectors (%s) are not supported",
                       m->path, name, gc_dtype_name(t->dtype));
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return gc_fail(GC_ERR_OOM, "out of memory loading '%s'", name);
    gc_dequant_row(t->dtype, t->data, v, n);
    m->n_params += n;
    m->weight_bytes += t->nbytes;
    *out = v;
    return GC_OK;
}

// Tensor names per container; %d is the layer index.
typedef struct names {
    const char *embd, *out, *norm;
    const char *attn_norm, *q, *k, *v, *o, *qb, *kb, *vb, *qn, *kn, *ffn_norm, *gate, *up, *down;
} names;

static const names HF_NAMES = {
    "model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
    "model.layers.%d.input_layernorm.weight", "model.layers.%d.self_attn.q_proj.weight",
    "model.layers.%d.self_attn.k_proj.weight", "model.layers.%d.self_attn.v_proj.weight",
    "model.layers.%d.self_attn.o_proj.weight", "model.layers.%d.self_attn.q_proj.bias",
    "model.layers.%d.self_attn.k_proj.bias", "model.layers.%d.self_attn.v_proj.bias",
    "model.layers.%d.self_attn.q_norm.weight", "model.layers.%d.self_attn.k_norm.weight",
    "model.layers.%d.post_attention_layernorm.weight", "model.layers.%d.mlp.gate_proj.weight",
    "model.layers.%d.mlp.up_proj.weight", "model.layers.%d.mlp.down_proj.weight",
};

static const names GGUF_NAMES = {
    "token_embd.weight", "output.weight", "output_norm.weight",
    "blk.%d.attn_norm.weight", "blk.%d.attn_q.weight", "blk.%d.attn_k.weight",
    "blk.%d.attn_v.weight", "blk.%d.attn_output.weight", "blk.%d.attn_q.bias",
    "blk.%d.attn_k.bias", "blk.%d.attn_v.bias", "blk.%d.attn_q_norm.weight",
    "blk.%d.attn_k_norm.weight", "blk.%d.ffn_norm.weight", "blk.%d.ffn_gate.weight",
    "blk.%d.ffn_up.weight", "blk.%d.ffn_down.weight",
};

static gc_status bind_layer(gc_model *m, const names *nm, int l) {
    const gc_model_config *c = &m->cfg;
    gc_layer_weights *L = &m->layers[l];
    int64_t D = c->hidden_size, F = c->intermediate_size, hd = c->head_dim;
    int64_t qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    char n[128];
#define NAME(fmt) (snprintf(n, sizeof n, (fmt), l), n)
    GC_TRY(get_vec(m, NAME(nm->attn_norm), D, true, &L->attn_norm));
    GC_TRY(get_mat(m, NAME(nm->q), qd, D, &L->wq));
    GC_TRY(get_mat(m, NAME(nm->k), kvd, D, &L->wk));
    GC_TRY(get_mat(m, NAME(nm->v), kvd, D, &L->wv));
    GC_TRY(get_mat(m, NAME(nm->o), D, qd, &L->wo));
    GC_TRY(get_vec(m, NAME(nm->qb), qd, c->attn_bias, &L->bq));
    GC_TRY(get_vec(m, NAME(nm->kb), kvd, c->attn_bias, &L->bk));
    GC_TRY(get_vec(m, NAME(nm->vb), kvd, c->attn_bias, &L->bv));
    bool qk_norm = c->arch == GC_ARCH_QWEN3;
    GC_TRY(get_vec(m, NAME(nm->qn), hd, qk_norm, &L->q_norm));
    GC_TRY(get_vec(m, NAME(nm->kn), hd, qk_norm, &L->k_norm));
    GC_TRY(get_vec(m, NAME(nm->ffn_norm), D, true, &L->ffn_norm));
    GC_TRY(get_mat(m, NAME(nm->gate), F, D, &L->w_gate));
    GC_TRY(get_mat(m, NAME(nm->up), F, D, &L->w_up));
    GC_TRY(get_mat(m, NAME(nm->down), D, F, &L->w_down));
#undef NAME
    return GC_OK;
}

static gc_status bind_all(gc_model *m, const names *nm) {
    const gc_model_config *c = &m->cfg;
    GC_TRY(get_mat(m, nm->embd, c->vocab_size, c->hidden_size, &m->tok_embd));
    const gc_tensor *out = find_tensor(m, nm->out);
    if (c->tie_embeddings || !out) {
        if (!c->tie_embeddings && !m->is_gguf)
            return gc_fail(GC_ERR_FORMAT, "%s: missing tensor '%s' (tie_word_embeddings is false)",
                           m->path, nm->out);
        m->lm_head = m->tok_embd;   // GGUF omits output.weight when tied
        m->cfg.tie_embeddings = true;
    } else {
        GC_TRY(get_mat(m, nm->out, c->vocab_size, c->hidden_size, &m->lm_head));
    }
    GC_TRY(get_vec(m, nm->norm, c->hidden_size, true, &m->final_norm));
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return gc_fail(GC_ERR_OOM, "out of memory");
    for (int l = 0; l < c->n_layers; l++) GC_TRY(bind_layer(m, nm, l));
    return GC_OK;
}



static gc_status load_hf(gc_model *m) {
    GC_TRY(gc_config_load_hf(m->path, &m->cfg));
    GC_TRY(gc_weights_open_hf(m->path, &m->st));
    GC_TRY(bind_all(m, &HF_NAMES));
    char *tj = gc_path_join(m->path, "tokenizer.json");
    if (!tj) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_status s = GC_OK;
    if (gc_file_exists(tj)) s = gc_tokenizer_load_hf(m->path, &m->tok);
    free(tj);
    return s;
}

static gc_status load_gguf(gc_model *m) {
    GC_TRY(gc_gguf_open(m->path, &m->gguf));
    GC_TRY(gc_config_from_gguf(m->gguf, &m->cfg));
    GC_TRY(bind_all(m, &GGUF_NAMES));
    if (gc_gguf_find_key(m->gguf, "tokenizer.ggml.tokens") >= 0)
        GC_TRY(gc_tokenizer_load_gguf(m->gguf, &m->tok));
    return GC_OK;
}

gc_status gc_model_load(const char *path, gc_model **out) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return gc_fail(GC_ERR_IO, "%s: no such file or directory", path);
    gc_model *m = calloc(1, sizeof *m);
    if (!m) return gc_fail(GC_ERR_OOM, "out of memory");
    m->path = strdup(path);
    if (!m->path) { free(m); return gc_fail(GC_ERR_OOM, "out of memory"); }
    m->is_gguf = !S_ISDIR(st.st_mode);
    gc_status s = m->is_gguf ? load_gguf(m) : load_hf(m);
    if (s != GC_OK) { gc_model_free(m); return s; }
    *out = m;
    return GC_OK;
}

void gc_model_free(gc_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->cfg.n_layers; l++) {
            gc_layer_weights *L = &m->layers[l];
            free(L->attn_norm); free(L->ffn_norm); free(L->q_norm); free(L->k_norm);
            free(L->bq); free(L->bk); free(L->bv);
        }
        free(m->layers);
    }
    free(m->final_norm);
    if (m->tok) gc_tokenizer_free(m->tok);
    if (m->gguf) gc_gguf_free(m->gguf);
    if (m->st) gc_weights_free(m->st);
    free(m->path);
    free(m);
}

void gc_model_get_info(const gc_model *m, gc_model_info *info) {
    const gc_model_config *c = &m->cfg;
    memset(info, 0, sizeof *info);
    info->arch = gc_arch_name(c->arch);
    info->source = m->is_gguf ? "gguf" : "hf";
    info->vocab_size = c->vocab_size;
    info->hidden_size = c->hidden_size;
    info->intermediate_size = c->intermediate_size;
    info->n_layers = c->n_layers;
    info->n_heads = c->n_heads;
    info->n_kv_heads = c->n_kv_heads;
    info->head_dim = c->head_dim;
    info->max_position = c->max_position;
    info->rope_theta = c->rope_theta;
    info->rms_eps = c->rms_eps;
    info->tie_embeddings = c->tie_embeddings;
    info->weight_dtype = m->layers ? gc_dtype_name(m->layers[0].wq->dtype) : "?";
    info->n_params = m->n_params;
    info->weight_bytes = m->weight_bytes;
}

const struct gc_tokenizer *gc_model_tokenizer(const gc_model *m) { return m->tok; }

const int32_t *gc_model_eos_ids(const gc_model *m, int *n) {
    *n = m->cfg.n_eos;
    return m->cfg.eos_ids;
}
