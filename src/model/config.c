// HF config.json (+ generation_config.json) reader for the Llama, Qwen2 and
// Qwen3 families. Defaults for absent optional fields follow transformers'
// LlamaConfig / Qwen2Config / Qwen3Config; the core sizes (vocab, hidden,
// intermediate, layers, heads) are required, since a config without them is
// far more likely broken than meant to take a 7B-size default.
#include "model/config.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Sanity caps: far above any real model, low enough that products of two
// sizes cannot overflow int64.
#define MAX_SIZE (INT64_C(1) << 20)
#define MAX_VOCAB (INT64_C(1) << 24)
#define MAX_COUNT (INT64_C(1) << 16)     // layers, heads, head_dim
#define MAX_POSITION (INT64_C(1) << 24)
// eos_token_id lists are read into this many slots before deduplication.
#define MAX_EOS_RAW 64

const char *gc_arch_name(gc_arch a) {
    switch (a) {
    case GC_ARCH_LLAMA: return "llama";
    case GC_ARCH_QWEN2: return "qwen2";
    case GC_ARCH_QWEN3: return "qwen3";
    }
    return "unknown";
}

// Per-family defaults (transformers' config classes).
typedef struct family {
    const char *model_type;
    const char *architecture;
    gc_arch arch;
    int64_t default_kv_heads;   // 0: same as num_attention_heads
    int64_t default_head_dim;   // 0: hidden_size / num_attention_heads
    int64_t default_max_position;
    int32_t default_bos, default_eos;  // -1: none
} family;

static const family k_families[] = {
    {"llama", "LlamaForCausalLM", GC_ARCH_LLAMA, 0, 0, 2048, 1, 2},
    {"qwen2", "Qwen2ForCausalLM", GC_ARCH_QWEN2, 32, 0, 32768, -1, -1},
    {"qwen3", "Qwen3ForCausalLM", GC_ARCH_QWEN3, 32, 128, 32768, -1, -1},
};
#define N_FAMILIES (sizeof k_families / sizeof k_families[0])

static gc_status find_family(const char *path, const cJSON *root, const family **out) {
    const char *mt = NULL;
    GC_TRY(gc_json_opt_string(path, root, "model_type", NULL, &mt));
    if (mt) {
        for (size_t i = 0; i < N_FAMILIES; i++)
            if (strcmp(mt, k_families[i].model_type) == 0) { *out = &k_families[i]; return GC_OK; }
        return gc_fail(GC_ERR_UNSUPPORTED,
                       "%s: field \"model_type\": \"%s\" is not supported (llama, qwen2, qwen3)", path, mt);
    }
    // Older exports may carry only "architectures".
    const cJSON *archs = gc_json_get(root, "architectures");
    if (!archs) return gc_fail(GC_ERR_FORMAT, "%s: field \"model_type\": missing (and no \"architectures\")", path);
    const char *a0 = NULL;
    if (!cJSON_IsArray(archs) || !archs->child)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"architectures\": expected a non-empty array of strings", path);
    GC_TRY(gc_json_to_string(path, "architectures[0]", archs->child, &a0));
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (strcmp(a0, k_families[i].architecture) == 0) { *out = &k_families[i]; return GC_OK; }
    return gc_fail(GC_ERR_UNSUPPORTED, "%s: field \"architectures\": \"%s\" is not supported", path, a0);
}

// One RoPE parameter object: "rope_parameters" (transformers >= 5) or
// "rope_scaling" (older; also a v5 alias). Only the plain ("default") RoPE
// is implemented. Sets *theta / *have_theta when it carries rope_theta.
static gc_status read_rope_object(const char *path, const cJSON *root, const char *key,
                                  double *theta, bool *have_theta) {
    const cJSON *o = NULL;
    GC_TRY(gc_json_opt_object(path, root, key, &o));
    if (!o) return GC_OK;
    char field[96];
    for (const cJSON *e = o->child; e; e = e->next) {
        // Per-layer-type nesting ({"full_attention": {...}, ...}).
        if (cJSON_IsObject(e))
            return gc_fail(GC_ERR_UNSUPPORTED, "%s: field \"%s.%s\": per-layer-type RoPE parameters are not supported",
                           path, key, e->string ? e->string : "");
    }
    const char *type = NULL;
    const char *type_key = gc_json_get(o, "rope_type") ? "rope_type" : "type";
    snprintf(field, sizeof field, "%s.%s", key, type_key);
    const cJSON *tv = gc_json_get(o, type_key);
    if (tv) GC_TRY(gc_json_to_string(path, field, tv, &type));
    if (type && strcmp(type, "default") != 0)
        return gc_fail(GC_ERR_UNSUPPORTED,
                       "%s: field \"%s\": RoPE type \"%s\" is not supported (only \"default\")", path, field, type);
    const cJSON *pf = gc_json_get(o, "partial_rotary_factor");
    if (pf) {
        double f;
        snprintf(field, sizeof field, "%s.partial_rotary_factor", key);
        GC_TRY(gc_json_to_double(path, field, pf, 0.0, 1.0, &f));
        if (f != 1.0)
            return gc_fail(GC_ERR_UNSUPPORTED, "%s: field \"%s\": partial RoPE (%g) is not supported", path, field, f);
    }
    const cJSON *th = gc_json_get(o, "rope_theta");
    if (th) {
        double t;
        snprintf(field, sizeof field, "%s.rope_theta", key);
        GC_TRY(gc_json_to_double(path, field, th, DBL_MIN, DBL_MAX, &t));
        if (*have_theta && t != *theta)
            return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": %g conflicts with rope_theta %g", path, field, t, *theta);
        *theta = t;
        *have_theta = true;
    }
    return GC_OK;
}

static gc_status read_rope(const char *path, const cJSON *root, double *theta) {
    bool have = false;
    const cJSON *top = gc_json_get(root, "rope_theta");
    if (top) {
        GC_TRY(gc_json_to_double(path, "rope_theta", top, DBL_MIN, DBL_MAX, theta));
        have = true;
    }
    GC_TRY(read_rope_object(path, root, "rope_parameters", theta, &have));
    GC_TRY(read_rope_object(path, root, "rope_scaling", theta, &have));
    if (!have) *theta = 10000.0;  // transformers' default_theta
    return GC_OK;
}

// Reads bos/eos from one file's object; fields that are absent leave the
// current values, null clears them (HF: "bos_token_id": null means none).
// vocab_size is known by then, so ids are checked against it here, where the
// message can name the file that set them.
static gc_status read_special_ids(const char *path, const cJSON *root, gc_model_config *c) {
    int64_t max_id = c->vocab_size - 1;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "bos_token_id");
    if (b) {
        if (cJSON_IsNull(b)) {
            c->bos_id = -1;
        } else {
            int64_t v;
            GC_TRY(gc_json_to_int(path, "bos_token_id", b, 0, max_id, &v));
            c->bos_id = (int32_t)v;
        }
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    if (e) {
        int64_t raw[MAX_EOS_RAW];
        int n = 0;
        if (!cJSON_IsNull(e))
            GC_TRY(gc_json_to_int_list(path, "eos_token_id", e, 0, max_id, raw, MAX_EOS_RAW, &n));
        c->n_eos = 0;
        for (int i = 0; i < n; i++) {
            bool dup = false;
            for (int j = 0; j < c->n_eos; j++) dup |= c->eos_ids[j] == (int32_t)raw[i];
            if (dup) continue;
            if (c->n_eos == GC_MAX_EOS)
                return gc_fail(GC_ERR_UNSUPPORTED, "%s: field \"eos_token_id\": more than %d distinct ids",
                               path, GC_MAX_EOS);
            c->eos_ids[c->n_eos++] = (int32_t)raw[i];
        }
    }
    return GC_OK;
}

// Fails with UNSUPPORTED when an optional bool feature flag is true.
static gc_status reject_flag(const char *path, const cJSON *root, const char *key, const char *what) {
    bool v = false;
    GC_TRY(gc_json_opt_bool(path, root, key, false, &v));
    if (v) return gc_fail(GC_ERR_UNSUPPORTED, "%s: field \"%s\": %s is not supported", path, key, what);
    return GC_OK;
}

static gc_status parse_config(const char *path, const cJSON *root, gc_model_config *c) {
    if (!cJSON_IsObject(root))
        return gc_fail(GC_ERR_FORMAT, "%s: expected a JSON object at top level, got %s", path, gc_json_type_name(root));
    const family *fam = NULL;
    GC_TRY(find_family(path, root, &fam));
    c->arch = fam->arch;
    c->rope_style = GC_ROPE_NEOX;

    GC_TRY(gc_json_req_int(path, root, "vocab_size", 1, MAX_VOCAB, &c->vocab_size));
    GC_TRY(gc_json_req_int(path, root, "hidden_size", 1, MAX_SIZE, &c->hidden_size));
    GC_TRY(gc_json_req_int(path, root, "intermediate_size", 1, MAX_SIZE, &c->intermediate_size));
    GC_TRY(gc_json_req_int(path, root, "num_hidden_layers", 1, MAX_COUNT, &c->n_layers));
    GC_TRY(gc_json_req_int(path, root, "num_attention_heads", 1, MAX_COUNT, &c->n_heads));
    int64_t def_kv = fam->default_kv_heads ? fam->default_kv_heads : c->n_heads;
    GC_TRY(gc_json_opt_int(path, root, "num_key_value_heads", 1, MAX_COUNT, def_kv, &c->n_kv_heads));
    if (c->n_heads % c->n_kv_heads != 0)
        return gc_fail(GC_ERR_FORMAT,
                       "%s: field \"num_key_value_heads\": %lld does not divide num_attention_heads %lld",
                       path, (long long)c->n_kv_heads, (long long)c->n_heads);

    if (gc_json_get(root, "head_dim")) {
        GC_TRY(gc_json_req_int(path, root, "head_dim", 1, MAX_COUNT, &c->head_dim));
    } else if (fam->default_head_dim) {
        c->head_dim = fam->default_head_dim;
    } else {
        if (c->hidden_size % c->n_heads != 0)
            return gc_fail(GC_ERR_FORMAT,
                           "%s: field \"hidden_size\": %lld is not a multiple of num_attention_heads %lld "
                           "(and no head_dim given)",
                           path, (long long)c->hidden_size, (long long)c->n_heads);
        c->head_dim = c->hidden_size / c->n_heads;
    }
    if (c->head_dim % 2 != 0)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"head_dim\": %lld is odd (RoPE rotates pairs)", path,
                       (long long)c->head_dim);

    GC_TRY(gc_json_opt_int(path, root, "max_position_embeddings", 1, MAX_POSITION, fam->default_max_position,
                           &c->max_position));
    GC_TRY(read_rope(path, root, &c->rope_theta));
    GC_TRY(gc_json_opt_double(path, root, "rms_norm_eps", DBL_MIN, 1.0, 1e-6, &c->rms_eps));
    GC_TRY(gc_json_opt_bool(path, root, "tie_word_embeddings", false, &c->tie_embeddings));
    if (c->arch == GC_ARCH_QWEN2) {
        c->attn_bias = true;  // Qwen2Attention hard-codes bias on q, k, v
    } else {
        GC_TRY(gc_json_opt_bool(path, root, "attention_bias", false, &c->attn_bias));
    }

    const char *act = NULL;
    GC_TRY(gc_json_opt_string(path, root, "hidden_act", "silu", &act));
    if (strcmp(act, "silu") != 0)
        return gc_fail(GC_ERR_UNSUPPORTED, "%s: field \"hidden_act\": \"%s\" is not supported (only \"silu\")",
                       path, act);
    GC_TRY(reject_flag(path, root, "mlp_bias", "bias on the MLP projections"));
    GC_TRY(reject_flag(path, root, "use_sliding_window", "sliding-window attention"));

    // Family defaults apply only when they fit the vocabulary.
    c->bos_id = fam->default_bos < c->vocab_size ? fam->default_bos : -1;
    c->n_eos = 0;
    if (fam->default_eos >= 0 && fam->default_eos < c->vocab_size) c->eos_ids[c->n_eos++] = fam->default_eos;
    return read_special_ids(path, root, c);
}

gc_status gc_config_parse_hf(const char *json, size_t len, const char *gen_json, size_t gen_len,
                             const char *path, gc_model_config *out) {
    memset(out, 0, sizeof *out);
    if (!path) path = "config.json";
    // Messages about the generation config name its sibling file.
    char gen_path[1024];
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    snprintf(gen_path, sizeof gen_path, "%.*sgeneration_config.json", dir_len, path);

    gc_model_config c;
    memset(&c, 0, sizeof c);
    cJSON *root = NULL;
    GC_TRY(gc_json_parse(json, len, path, &root));
    gc_status s = parse_config(path, root, &c);
    cJSON_Delete(root);
    if (s != GC_OK) return s;

    if (gen_json) {
        cJSON *gen = NULL;
        GC_TRY(gc_json_parse(gen_json, gen_len, gen_path, &gen));
        if (!cJSON_IsObject(gen)) {
            s = gc_fail(GC_ERR_FORMAT, "%s: expected a JSON object at top level, got %s", gen_path,
                        gc_json_type_name(gen));
        } else {
            s = read_special_ids(gen_path, gen, &c);
        }
        cJSON_Delete(gen);
        if (s != GC_OK) return s;
    }
    *out = c;
    return GC_OK;
}

gc_status gc_config_load_hf(const char *dir, gc_model_config *out) {
    memset(out, 0, sizeof *out);
    char *cfg_path = gc_path_join(dir, "config.json");
    char *gen_path = gc_path_join(dir, "generation_config.json");
    char *cfg = NULL, *gen = NULL;
    size_t cfg_len = 0, gen_len = 0;
    gc_status s = GC_OK;
    if (!cfg_path || !gen_path) {
        s = gc_fail(GC_ERR_OOM, "%s: out of memory", dir);
        goto done;
    }
    s = gc_file_read_all(cfg_path, &cfg, &cfg_len);
    if (s != GC_OK) goto done;
    if (gc_file_exists(gen_path)) {
        s = gc_file_read_all(gen_path, &gen, &gen_len);
        if (s != GC_OK) goto done;
    }
    s = gc_config_parse_hf(cfg, cfg_len, gen, gen_len, cfg_path, out);
done:
    free(cfg);
    free(gen);
    free(cfg_path);
    free(gen_path);
    return s;
}
