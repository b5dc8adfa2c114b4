// The real SmolLM2-135M-Instruct Q4_1 GGUF (fetched by `make`, path in
// GC_SMOL_GGUF) against HF transformers reading the same GGUF in float64
// (tools/make_smol_refs.py): chat template, tokenizer ids, next-token logits,
// greedy continuations.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gcache/model.h"
#include "gcache/engine.h"
#include "gcache/tokenizer.h"
#include "gcache/chat.h"
#include "core/file.h"

static void test_smol_vs_hf(void **st) {
    (void)st;
    const char *path = getenv("GC_SMOL_GGUF");
    if (!path || !*path) skip();
    char *js;
    size_t jl;
    assert_int_equal(gc_file_read_all("tests/data/smol/refs.json", &js, &jl), GC_OK);
    cJSON *refs = cJSON_Parse(js);
    assert_non_null(refs);
    gc_model *m;
    gc_status s = gc_model_load(path, &m);
    if (s != GC_OK) fail_msg("%s", gc_last_error());
    gc_engine *e;
    gc_engine_params ep = gc_engine_default_params();
    ep.exact = true;   // the reference path (the fast one has its own test, test_qgemm_models)
    assert_int_equal(gc_engine_new(m, &ep, &e), GC_OK);
    const gc_tokenizer *tok = gc_model_tokenizer(m);
    assert_non_null(tok);
    gc_chat_style style = gc_chat_detect(gc_tokenizer_chat_template(tok));
    assert_int_equal(style, GC_CHAT_SMOLLM2);
    const int V = 49152;
    float *logits = malloc(V * sizeof(float));
    cJSON *prompts = cJSON_GetObjectItem(refs, "prompts");
    int k = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, prompts) {
        const char *prompt = cJSON_GetObjectItem(p, "prompt")->valuestring;
        const char *text = cJSON_GetObjectItem(p, "text")->valuestring;
        // Chat template.
        gc_chat_msg msg = {"user", prompt};
        char *ours;
        assert_int_equal(gc_chat_format(style, &msg, 1, NULL, &ours, NULL), GC_OK);
        assert_string_equal(ours, text);
        free(ours);
        // Tokenizer.
        cJSON *ids = cJSON_GetObjectItem(p, "ids");
        int n = cJSON_GetArraySize(ids);
        int32_t *got;
        size_t ng;
        assert_int_equal(gc_tokenizer_encode(tok, text, strlen(text), true, &got, &ng), GC_OK);
        assert_int_equal((int)ng, n);
        for (int i = 0; i < n; i++) assert_int_equal(got[i], cJSON_GetArrayItem(ids, i)->valueint);
        // Next-token logits.
        gc_kv *kv;
        assert_int_equal(gc_kv_new(e, &kv), GC_OK);
        gc_seq_step step = {.kv = kv, .n = n, .ids = got, .logits = logits};
        assert_int_equal(gc_engine_forward(e, &step, 1), GC_OK);
        char lp[64];
        snprintf(lp, sizeof lp, "tests/data/smol/logits_%d.f32", k);
        char *raw;
        size_t rl;
        assert_int_equal(gc_file_read_all(lp, &raw, &rl), GC_OK);
        assert_int_equal(rl, (size_t)V * 4);
        const float *ref = (const float *)raw;
        double num = 0, den = 0;
        for (int i = 0; i < V; i++) {
            num += ((double)logits[i] - ref[i]) * ((double)logits[i] - ref[i]);
            den += (double)ref[i] * ref[i];
        }
        double rel = sqrt(num / den);
        print_message("prompt %d: %d tokens, last-position logits rel err %.2e\n", k, n, rel);
        assert_true(rel <= 1e-4);
        // Greedy continuation (EOS not treated specially, as in the reference).
        cJSON *greedy = cJSON_GetObjectItem(p, "hf_greedy");
        for (int i = 0; i < cJSON_GetArraySize(greedy); i++) {
            int32_t best = 0;
            for (int v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
            assert_int_equal(best, cJSON_GetArrayItem(greedy, i)->valueint);
            gc_seq_step d = {.kv = kv, .n = 1, .ids = &best, .logits = logits};
            assert_int_equal(gc_engine_forward(e, &d, 1), GC_OK);
        }
        gc_kv_free(kv);
        free(raw);
        free(got);
        k++;
    }
    assert_true(k >= 4);
    free(logits);
    gc_engine_free(e);
    gc_model_free(m);
    cJSON_Delete(refs);
    free(js);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_smol_vs_hf)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
