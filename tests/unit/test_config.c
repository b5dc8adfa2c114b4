// Tests for model/config: HF config.json of the three families in both RoPE
// forms, generation_config.json overrides, per-family defaults, and that
// every validation failure has the right status and names the field.
// Fixtures: tests/data/config/<model>/ (real SmolLM2-135M, Qwen2.5-0.5B and
// Qwen3-0.6B configs); variants are made by patching them with cJSON.
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"
#include "model/config.h"
#include <cjson/cJSON.h>

#define SMOL "tests/data/config/smollm2/config.json"
#define QWEN25 "tests/data/config/qwen25/config.json"
#define QWEN25_GEN "tests/data/config/qwen25/generation_config.json"
#define QWEN3 "tests/data/config/qwen3/config.json"

static void expect_fail(gc_status got, gc_status want, const char *n1, const char *n2) {
    if (got != want) fail_msg("status %s, want %s (msg: %s)", gc_status_name(got), gc_status_name(want), gc_last_error());
    if (n1 && !strstr(gc_last_error(), n1)) fail_msg("message \"%s\" lacks \"%s\"", gc_last_error(), n1);
    if (n2 && !strstr(gc_last_error(), n2)) fail_msg("message \"%s\" lacks \"%s\"", gc_last_error(), n2);
}

static char *read_text(const char *path) {
    char *t = NULL;
    if (gc_file_read_all(path, &t, NULL) != GC_OK) fail_msg("%s", gc_last_error());
    return t;
}

// The file at `path` with key/value pairs applied (value is JSON text; NULL
// deletes the key), terminated by a NULL key. Caller frees with cJSON_free.
static char *patched(const char *path, ...) {
    char *text = read_text(path);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    va_list ap;
    va_start(ap, path);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key) break;
        const char *val = va_arg(ap, const char *);
        cJSON_DeleteItemFromObjectCaseSensitive(root, key);
        if (val) {
            cJSON *v = cJSON_Parse(val);
            if (!v) fail_msg("bad patch value %s", val);
            cJSON_AddItemToObject(root, key, v);
        }
    }
    va_end(ap);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    assert_non_null(out);
    return out;
}

static gc_status parse2(const char *cfg, const char *gen, gc_model_config *c) {
    return gc_config_parse_hf(cfg, strlen(cfg), gen, gen ? strlen(gen) : 0, "m/config.json", c);
}

static void check_eos(const gc_model_config *c, int n, const int32_t *ids) {
    assert_int_equal(c->n_eos, n);
    for (int i = 0; i < n; i++) assert_int_equal(c->eos_ids[i], ids[i]);
}

static void check_smollm2(const gc_model_config *c, double theta) {
    assert_int_equal(c->arch, GC_ARCH_LLAMA);
    assert_int_equal(c->vocab_size, 49152);
    assert_int_equal(c->hidden_size, 576);
    assert_int_equal(c->intermediate_size, 1536);
    assert_int_equal(c->n_layers, 30);
    assert_int_equal(c->n_heads, 9);
    assert_int_equal(c->n_kv_heads, 3);
    assert_int_equal(c->head_dim, 64);
    assert_int_equal(c->max_position, 8192);
    assert_true(c->rope_theta == theta);
    assert_true(c->rms_eps == 1e-5);
    assert_true(c->tie_embeddings);
    assert_false(c->attn_bias);
    assert_int_equal(c->rope_style, GC_ROPE_NEOX);
    assert_int_equal(c->bos_id, 1);
    check_eos(c, 1, (const int32_t[]){2});
}

static void test_llama_both_rope_forms(void **st) {
    (void)st;
    gc_model_config c;
    assert_int_equal(gc_config_load_hf("tests/data/config/smollm2", &c), GC_OK);
    check_smollm2(&c, 100000.0);
    // transformers >= 5: theta inside rope_parameters, no top-level key.
    char *v5 = patched(SMOL, "rope_theta", NULL, "rope_scaling", NULL,
                       "rope_parameters", "{\"rope_type\": \"default\", \"rope_theta\": 500000.0}", NULL);
    assert_int_equal(parse2(v5, NULL, &c), GC_OK);
    check_smollm2(&c, 500000.0);
    cJSON_free(v5);
    // Old-style "type" key with the default value, and both places agreeing.
    v5 = patched(SMOL, "rope_scaling", "{\"type\": \"default\", \"rope_theta\": 100000}", NULL);
    assert_int_equal(parse2(v5, NULL, &c), GC_OK);
    check_smollm2(&c, 100000.0);
    cJSON_free(v5);
}

static void check_qwen25(const gc_model_config *c, double theta) {
    assert_int_equal(c->arch, GC_ARCH_QWEN2);
    assert_int_equal(c->vocab_size, 151936);
    assert_int_equal(c->hidden_size, 896);
    assert_int_equal(c->intermediate_size, 4864);
    assert_int_equal(c->n_layers, 24);
    assert_int_equal(c->n_heads, 14);
    assert_int_equal(c->n_kv_heads, 2);
    assert_int_equal(c->head_dim, 64);
    assert_int_equal(c->max_position, 32768);
    assert_true(c->rope_theta == theta);
    assert_true(c->rms_eps == 1e-6);
    assert_true(c->tie_embeddings);
    assert_true(c->attn_bias);
    assert_int_equal(c->rope_style, GC_ROPE_NEOX);
    assert_int_equal(c->bos_id, 151643);
}

static void test_qwen2_both_rope_forms_and_gen_override(void **st) {
    (void)st;
    gc_model_config c;
    // config.json alone: eos 151645.
    char *cfg = read_text(QWEN25);
    assert_int_equal(parse2(cfg, NULL, &c), GC_OK);
    check_qwen25(&c, 1e6);
    check_eos(&c, 1, (const int32_t[]){151645});
    free(cfg);
    // The folder: generation_config.json's list replaces it.
    assert_int_equal(gc_config_load_hf("tests/data/config/qwen25", &c), GC_OK);
    check_qwen25(&c, 1e6);
    check_eos(&c, 2, (const int32_t[]){151645, 151643});

    char *v5 = patched(QWEN25, "rope_theta", NULL,
                       "rope_parameters", "{\"rope_type\": \"default\", \"rope_theta\": 10000.0}", NULL);
    char *gen = read_text(QWEN25_GEN);
    assert_int_equal(parse2(v5, gen, &c), GC_OK);
    check_qwen25(&c, 10000.0);
    check_eos(&c, 2, (const int32_t[]){151645, 151643});
    free(gen);
    cJSON_free(v5);

    // Qwen2 always has q/k/v bias, whatever attention_bias says.
    char *nb = patched(QWEN25, "attention_bias", "false", NULL);
    assert_int_equal(parse2(nb, NULL, &c), GC_OK);
    assert_true(c.attn_bias);
    cJSON_free(nb);
}

static void check_qwen3(const gc_model_config *c, double theta) {
    assert_int_equal(c->arch, GC_ARCH_QWEN3);
    assert_int_equal(c->vocab_size, 151936);
    assert_int_equal(c->hidden_size, 1024);
    assert_int_equal(c->intermediate_size, 3072);
    assert_int_equal(c->n_layers, 28);
    assert_int_equal(c->n_heads, 16);
    assert_int_equal(c->n_kv_heads, 8);
    assert_int_equal(c->head_dim, 128);  // explicit, != hidden / heads = 64
    assert_int_equal(c->max_position, 40960);
    assert_true(c->rope_theta == theta);
    assert_true(c->rms_eps == 1e-6);
    assert_true(c->tie_embeddings);
    assert_false(c->attn_bias);
    assert_int_equal(c->rope_style, GC_ROPE_NEOX);
    assert_int_equal(c->bos_id, 151643);
}

static void test_qwen3_both_rope_forms(void **st) {
    (void)st;
    gc_model_config c;
    assert_int_equal(gc_config_load_hf("tests/data/config/qwen3", &c), GC_OK);
    check_qwen3(&c, 1e6);
    check_eos(&c, 2, (const int32_t[]){151645, 151643});
    char *v5 = patched(QWEN3, "rope_theta", NULL, "rope_scaling", NULL,
                       "rope_parameters", "{\"rope_theta\": 5000000, \"rope_type\": \"default\"}", NULL);
    assert_int_equal(parse2(v5, NULL, &c), GC_OK);
    check_qwen3(&c, 5e6);
    check_eos(&c, 1, (const int32_t[]){151645});
    cJSON_free(v5);
    char *ab = patched(QWEN3, "attention_bias", "true", NULL);
    assert_int_equal(parse2(ab, NULL, &c), GC_OK);
    assert_true(c.attn_bias);
    cJSON_free(ab);
}

static void test_gen_config_overrides(void **st) {
    (void)st;
    gc_model_config c;
    char *cfg = read_text(SMOL);
    // Duplicates are dropped, order of first appearance kept.
    const char *gen = "{\"bos_token_id\": 0, \"eos_token_id\": [7, 2, 7, 9, 2]}";
    assert_int_equal(parse2(cfg, gen, &c), GC_OK);
    assert_int_equal(c.bos_id, 0);
    check_eos(&c, 3, (const int32_t[]){7, 2, 9});
    // A single int, and fields it lacks keep config.json's values.
    assert_int_equal(parse2(cfg, "{\"eos_token_id\": 5, \"temperature\": 0.2}", &c), GC_OK);
    assert_int_equal(c.bos_id, 1);
    check_eos(&c, 1, (const int32_t[]){5});
    // null clears.
    assert_int_equal(parse2(cfg, "{\"bos_token_id\": null, \"eos_token_id\": null}", &c), GC_OK);
    assert_int_equal(c.bos_id, -1);
    assert_int_equal(c.n_eos, 0);
    // Exactly GC_MAX_EOS distinct ids fit; one more does not.
    assert_int_equal(parse2(cfg, "{\"eos_token_id\": [1,2,3,4,5,6,7,8,8,1]}", &c), GC_OK);
    check_eos(&c, 8, (const int32_t[]){1, 2, 3, 4, 5, 6, 7, 8});
    expect_fail(parse2(cfg, "{\"eos_token_id\": [1,2,3,4,5,6,7,8,9]}", &c), GC_ERR_UNSUPPORTED,
                "m/generation_config.json", "eos_token_id");
    // Errors in the generation config name that file.
    expect_fail(parse2(cfg, "{\"eos_token_id\": [2, 49152]}", &c), GC_ERR_FORMAT, "m/generation_config.json",
                "eos_token_id[1]");
    expect_fail(parse2(cfg, "{\"bos_token_id\": \"1\"}", &c), GC_ERR_FORMAT, "m/generation_config.json",
                "bos_token_id");
    expect_fail(parse2(cfg, "[1]", &c), GC_ERR_FORMAT, "m/generation_config.json", "object");
    expect_fail(parse2(cfg, "{\"eos_token_id\": 2,}", &c), GC_ERR_FORMAT, "m/generation_config.json", "line 1");
    expect_fail(gc_config_load_hf("tests/data/config/bad_gen", &c), GC_ERR_FORMAT,
                "tests/data/config/bad_gen/generation_config.json", "eos_token_id[1]");
    free(cfg);
}

static void test_defaults(void **st) {
    (void)st;
    gc_model_config c;
    const char *llama = "{\"model_type\": \"llama\", \"vocab_size\": 100, \"hidden_size\": 64,"
                        " \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4}";
    assert_int_equal(parse2(llama, NULL, &c), GC_OK);
    assert_int_equal(c.arch, GC_ARCH_LLAMA);
    assert_int_equal(c.n_kv_heads, 4);
    assert_int_equal(c.head_dim, 16);
    assert_int_equal(c.max_position, 2048);
    assert_true(c.rope_theta == 10000.0);
    assert_true(c.rms_eps == 1e-6);
    assert_false(c.tie_embeddings);
    assert_false(c.attn_bias);
    assert_int_equal(c.rope_style, GC_ROPE_NEOX);
    assert_int_equal(c.bos_id, 1);  // LlamaConfig's bos/eos defaults
    check_eos(&c, 1, (const int32_t[]){2});

    const char *qwen2 = "{\"model_type\": \"qwen2\", \"vocab_size\": 100, \"hidden_size\": 128,"
                        " \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 64}";
    assert_int_equal(parse2(qwen2, NULL, &c), GC_OK);
    assert_int_equal(c.arch, GC_ARCH_QWEN2);
    assert_int_equal(c.n_kv_heads, 32);  // Qwen2Config: num_key_value_heads = 32
    assert_int_equal(c.head_dim, 2);
    assert_int_equal(c.max_position, 32768);
    assert_true(c.attn_bias);
    assert_false(c.tie_embeddings);
    assert_int_equal(c.bos_id, -1);
    assert_int_equal(c.n_eos, 0);

    const char *qwen3 = "{\"model_type\": \"qwen3\", \"vocab_size\": 100, \"hidden_size\": 64,"
                        " \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 32}";
    assert_int_equal(parse2(qwen3, NULL, &c), GC_OK);
    assert_int_equal(c.arch, GC_ARCH_QWEN3);
    assert_int_equal(c.n_kv_heads, 32);
    assert_int_equal(c.head_dim, 128);  // Qwen3Config default
    assert_int_equal(c.max_position, 32768);
    assert_false(c.attn_bias);
    assert_false(c.tie_embeddings);
    assert_int_equal(c.bos_id, -1);
    assert_int_equal(c.n_eos, 0);

    // No model_type: "architectures" decides.
    char *arch_only = patched(QWEN25, "model_type", NULL, NULL);
    assert_int_equal(parse2(arch_only, NULL, &c), GC_OK);
    check_qwen25(&c, 1e6);
    cJSON_free(arch_only);
    // Llama defaults that do not fit a tiny vocabulary are dropped, not errors.
    const char *tiny = "{\"model_type\": \"llama\", \"vocab_size\": 2, \"hidden_size\": 8,"
                       " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 1}";
    assert_int_equal(parse2(tiny, NULL, &c), GC_OK);
    assert_int_equal(c.bos_id, 1);
    assert_int_equal(c.n_eos, 0);
    assert_string_equal(gc_arch_name(GC_ARCH_LLAMA), "llama");
    assert_string_equal(gc_arch_name(GC_ARCH_QWEN2), "qwen2");
    assert_string_equal(gc_arch_name(GC_ARCH_QWEN3), "qwen3");
}

// One invalid variant of a fixture: key set to value (NULL: removed).
typedef struct bad_case {
    const char *base, *key, *value;
    gc_status want;
    const char *needle;  // besides the file name
} bad_case;

static const bad_case k_bad[] = {
    {SMOL, "vocab_size", NULL, GC_ERR_FORMAT, "\"vocab_size\": missing"},
    {SMOL, "vocab_size", "0", GC_ERR_FORMAT, "\"vocab_size\""},
    {SMOL, "vocab_size", "16777217", GC_ERR_FORMAT, "\"vocab_size\""},
    {SMOL, "hidden_size", "\"576\"", GC_ERR_FORMAT, "\"hidden_size\": expected an integer"},
    {SMOL, "hidden_size", "576.5", GC_ERR_FORMAT, "\"hidden_size\""},
    {SMOL, "hidden_size", "-576", GC_ERR_FORMAT, "\"hidden_size\""},
    {SMOL, "hidden_size", "1048577", GC_ERR_FORMAT, "\"hidden_size\""},
    {SMOL, "intermediate_size", NULL, GC_ERR_FORMAT, "\"intermediate_size\""},
    {SMOL, "intermediate_size", "1e30", GC_ERR_FORMAT, "\"intermediate_size\""},
    {SMOL, "num_hidden_layers", "0", GC_ERR_FORMAT, "\"num_hidden_layers\""},
    {SMOL, "num_hidden_layers", "true", GC_ERR_FORMAT, "\"num_hidden_layers\""},
    {SMOL, "num_attention_heads", NULL, GC_ERR_FORMAT, "\"num_attention_heads\""},
    {SMOL, "num_key_value_heads", "2", GC_ERR_FORMAT, "\"num_key_value_heads\""},
    {SMOL, "num_key_value_heads", "18", GC_ERR_FORMAT, "\"num_key_value_heads\""},
    {SMOL, "num_key_value_heads", "0", GC_ERR_FORMAT, "\"num_key_value_heads\""},
    {SMOL, "head_dim", "63", GC_ERR_FORMAT, "\"head_dim\""},
    {SMOL, "head_dim", "0", GC_ERR_FORMAT, "\"head_dim\""},
    {SMOL, "head_dim", "[64]", GC_ERR_FORMAT, "\"head_dim\""},
    {SMOL, "max_position_embeddings", "0", GC_ERR_FORMAT, "\"max_position_embeddings\""},
    {SMOL, "rope_theta", "-1", GC_ERR_FORMAT, "\"rope_theta\""},
    {SMOL, "rope_theta", "0", GC_ERR_FORMAT, "\"rope_theta\""},
    {SMOL, "rope_theta", "\"1e4\"", GC_ERR_FORMAT, "\"rope_theta\""},
    {SMOL, "rope_scaling", "{\"type\": \"linear\", \"factor\": 2.0}", GC_ERR_UNSUPPORTED, "\"linear\""},
    {SMOL, "rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8.0}", GC_ERR_UNSUPPORTED,
     "\"rope_scaling.rope_type\": RoPE type \"llama3\""},
    {SMOL, "rope_scaling", "{\"rope_type\": \"default\", \"rope_theta\": 5}", GC_ERR_FORMAT,
     "\"rope_scaling.rope_theta\""},
    {SMOL, "rope_scaling", "[1]", GC_ERR_FORMAT, "\"rope_scaling\""},
    {SMOL, "rope_scaling", "{\"rope_type\": 3}", GC_ERR_FORMAT, "\"rope_scaling.rope_type\""},
    {SMOL, "rope_parameters", "{\"rope_type\": \"yarn\", \"factor\": 4.0}", GC_ERR_UNSUPPORTED, "\"yarn\""},
    {SMOL, "rope_parameters", "{\"full_attention\": {\"rope_type\": \"default\"}}", GC_ERR_UNSUPPORTED,
     "\"rope_parameters.full_attention\""},
    {SMOL, "rope_parameters", "{\"partial_rotary_factor\": 0.5}", GC_ERR_UNSUPPORTED,
     "\"rope_parameters.partial_rotary_factor\""},
    {SMOL, "rms_norm_eps", "0", GC_ERR_FORMAT, "\"rms_norm_eps\""},
    {SMOL, "rms_norm_eps", "2", GC_ERR_FORMAT, "\"rms_norm_eps\""},
    {SMOL, "tie_word_embeddings", "\"yes\"", GC_ERR_FORMAT, "\"tie_word_embeddings\""},
    {SMOL, "attention_bias", "1", GC_ERR_FORMAT, "\"attention_bias\""},
    {SMOL, "bos_token_id", "49152", GC_ERR_FORMAT, "\"bos_token_id\""},
    {SMOL, "bos_token_id", "-1", GC_ERR_FORMAT, "\"bos_token_id\""},
    {SMOL, "eos_token_id", "[2, 1.5]", GC_ERR_FORMAT, "\"eos_token_id[1]\""},
    {SMOL, "eos_token_id", "\"2\"", GC_ERR_FORMAT, "\"eos_token_id\""},
    {SMOL, "eos_token_id", "99999", GC_ERR_FORMAT, "\"eos_token_id\""},
    {SMOL, "model_type", "\"mistral\"", GC_ERR_UNSUPPORTED, "\"mistral\""},
    {SMOL, "model_type", "7", GC_ERR_FORMAT, "\"model_type\""},
    {SMOL, "hidden_act", "\"gelu\"", GC_ERR_UNSUPPORTED, "\"hidden_act\": \"gelu\""},
    {SMOL, "mlp_bias", "true", GC_ERR_UNSUPPORTED, "\"mlp_bias\""},
    {QWEN25, "use_sliding_window", "true", GC_ERR_UNSUPPORTED, "\"use_sliding_window\""},
    {QWEN25, "num_attention_heads", "13", GC_ERR_FORMAT, "\"num_key_value_heads\""},
    {QWEN3, "head_dim", "127", GC_ERR_FORMAT, "\"head_dim\""},
};

static void test_validation_failures(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
        const bad_case *b = &k_bad[i];
        char *cfg = patched(b->base, b->key, b->value, NULL);
        gc_model_config c;
        gc_status s = parse2(cfg, NULL, &c);
        if (s != b->want || !strstr(gc_last_error(), "m/config.json") || !strstr(gc_last_error(), b->needle))
            fail_msg("case %zu (%s = %s): got %s \"%s\", want %s with \"%s\"", i, b->key,
                     b->value ? b->value : "<removed>", gc_status_name(s), gc_last_error(),
                     gc_status_name(b->want), b->needle);
        cJSON_free(cfg);
    }
}

static void test_structural_failures(void **st) {
    (void)st;
    gc_model_config c;
    // hidden not divisible by heads is only an error when head_dim is derived.
    char *cfg = patched(SMOL, "head_dim", NULL, "num_attention_heads", "7", "num_key_value_heads", "7", NULL);
    expect_fail(parse2(cfg, NULL, &c), GC_ERR_FORMAT, "m/config.json", "\"hidden_size\"");
    cJSON_free(cfg);
    cfg = patched(SMOL, "num_attention_heads", "8", "num_key_value_heads", "4", NULL);
    assert_int_equal(parse2(cfg, NULL, &c), GC_OK);  // explicit head_dim 64, 576 % 8 == 0 anyway
    cJSON_free(cfg);
    cfg = patched(SMOL, "model_type", NULL, "architectures", NULL, NULL);
    expect_fail(parse2(cfg, NULL, &c), GC_ERR_FORMAT, "m/config.json", "\"model_type\"");
    cJSON_free(cfg);
    cfg = patched(SMOL, "model_type", NULL, "architectures", "[\"MistralForCausalLM\"]", NULL);
    expect_fail(parse2(cfg, NULL, &c), GC_ERR_UNSUPPORTED, "m/config.json", "MistralForCausalLM");
    cJSON_free(cfg);
    cfg = patched(SMOL, "model_type", NULL, "architectures", "[]", NULL);
    expect_fail(parse2(cfg, NULL, &c), GC_ERR_FORMAT, "m/config.json", "\"architectures\"");
    cJSON_free(cfg);
    cfg = patched(SMOL, "rope_theta", "10000", "rope_parameters", "{\"rope_theta\": 20000}", NULL);
    expect_fail(parse2(cfg, NULL, &c), GC_ERR_FORMAT, "m/config.json", "conflicts");
    cJSON_free(cfg);

    expect_fail(parse2("[1, 2]", NULL, &c), GC_ERR_FORMAT, "m/config.json", "object");
    expect_fail(parse2("{\"model_type\": \"llama\",\n \"vocab_size\": }", NULL, &c), GC_ERR_FORMAT,
                "m/config.json", "line 2");
    expect_fail(parse2("", NULL, &c), GC_ERR_FORMAT, "m/config.json", NULL);
    expect_fail(gc_config_load_hf("tests/data/config/does_not_exist", &c), GC_ERR_IO,
                "tests/data/config/does_not_exist/config.json", NULL);
    // The output is zeroed on failure, not half-filled.
    assert_int_equal(c.vocab_size, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_both_rope_forms),
        cmocka_unit_test(test_qwen2_both_rope_forms_and_gen_override),
        cmocka_unit_test(test_qwen3_both_rope_forms),
        cmocka_unit_test(test_gen_config_overrides),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_validation_failures),
        cmocka_unit_test(test_structural_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
