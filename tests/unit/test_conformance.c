// Conformance of the CPU engine with HF transformers (float64 reference):
// tiny random-weight models of each family, trace programs with and without
// latent steps (300+ positions). Fixtures: tools/make_fixtures.py.
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
#include "gcache/trace.h"
#include "core/file.h"

static const double TOL = 1e-4;

static double rel_err(const float *a, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static void check_ref(const char *family, int k) {
    char dir[256], jpath[300], bpath[300];
    snprintf(dir, sizeof dir, "tests/data/tiny/%s", family);
    snprintf(jpath, sizeof jpath, "%s/ref_%d.json", dir, k);
    snprintf(bpath, sizeof bpath, "%s/ref_%d.f32", dir, k);
    char *js;
    size_t jl;
    assert_int_equal(gc_file_read_all(jpath, &js, &jl), GC_OK);
    cJSON *meta = cJSON_Parse(js);
    assert_non_null(meta);
    char *bin;
    size_t bl;
    assert_int_equal(gc_file_read_all(bpath, &bin, &bl), GC_OK);
    const float *ref = (const float *)bin;
    int64_t n_floats = (int64_t)cJSON_GetObjectItem(meta, "n_floats")->valuedouble;
    assert_int_equal((int64_t)(bl / 4), n_floats);

    gc_model *m;
    gc_status s = gc_model_load(dir, &m);
    if (s != GC_OK) fail_msg("load %s: %s", dir, gc_last_error());
    gc_engine *e;
    assert_int_equal(gc_engine_new(m, NULL, &e), GC_OK);
    gc_trace_opts o = {.realign = cJSON_IsTrue(cJSON_GetObjectItem(meta, "realign"))};
    gc_trace *t;
    s = gc_trace_run(e, cJSON_GetObjectItem(meta, "program")->valuestring, &o, &t);
    if (s != GC_OK) fail_msg("trace: %s", gc_last_error());

    cJSON *segs = cJSON_GetObjectItem(meta, "segments");
    assert_int_equal(t->n_segs, cJSON_GetArraySize(segs));
    int64_t off = 0, V = t->vocab, D = t->dim;
    for (int i = 0; i < t->n_segs; i++) {
        cJSON *rs = cJSON_GetArrayItem(segs, i);
        const char *type = cJSON_GetObjectItem(rs, "type")->valuestring;
        gc_trace_seg *sg = &t->segs[i];
        if (strcmp(type, "ids") == 0) {
            assert_int_equal(sg->type, GC_SEG_IDS);
            double e1 = rel_err(sg->logits, ref + off, sg->n * V);
            off += sg->n * V;
            double e2 = rel_err(sg->hidden, ref + off, D);
            off += D;
            print_message("%s ref_%d seg %d ids n=%lld: logits rel err %.2e, hidden_last %.2e\n", family, k, i,
                          (long long)sg->n, e1, e2);
            assert_true(e1 <= TOL);
            assert_true(e2 <= TOL);
        } else if (strcmp(type, "latent") == 0) {
            assert_int_equal(sg->type, GC_SEG_LATENT);
            double e1 = rel_err(sg->hidden, ref + off, sg->n * D);
            off += sg->n * D;
            double e2 = rel_err(sg->logits_last, ref + off, V);
            off += V;
            print_message("%s ref_%d seg %d latent n=%lld: hidden rel err %.2e, logits_last %.2e\n", family, k, i,
                          (long long)sg->n, e1, e2);
            assert_true(e1 <= TOL);
            assert_true(e2 <= TOL);
        } else if (strcmp(type, "greedy") == 0) {
            assert_int_equal(sg->type, GC_SEG_GREEDY);
            cJSON *ids = cJSON_GetObjectItem(rs, "ids");
            assert_int_equal(sg->n, cJSON_GetArraySize(ids));
            for (int j = 0; j < sg->n; j++) assert_int_equal(sg->ids[j], cJSON_GetArrayItem(ids, j)->valueint);
        } else {   // cache operations carry no arrays; their effect shows in later segments
            static const char *const names[] = {"save", "reset", "concat", "keep", "wsum"};
            assert_string_equal(type, names[sg->type - GC_SEG_SAVE]);
        }
    }
    assert_int_equal(off, n_floats);
    gc_trace_free(t);
    gc_engine_free(e);
    gc_model_free(m);
    cJSON_Delete(meta);
    free(js);
    free(bin);
}

// Every ref_<k>.json of the family; programs 0-2 exercise ids/latent/greedy,
// program 3 the KV cache operations (save/reset/concat/keep/wsum).
static void check_family(const char *fam) {
    int k = 0;
    for (;; k++) {
        char p[256];
        snprintf(p, sizeof p, "tests/data/tiny/%s/ref_%d.json", fam, k);
        if (!gc_file_exists(p)) break;
        check_ref(fam, k);
    }
    assert_true(k >= 4);
}

static void test_qwen3(void **st) { (void)st; check_family("qwen3"); }
static void test_qwen2(void **st) { (void)st; check_family("qwen2"); }
static void test_llama(void **st) { (void)st; check_family("llama"); }

// Loader facts the fixtures pin down: tied embeddings, eos ids from
// generation_config.json, both rope_theta spellings.
static void test_loader_facts(void **st) {
    (void)st;
    gc_model *m;
    gc_model_info info;
    int n;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen3", &m), GC_OK);
    gc_model_get_info(m, &info);
    assert_true(info.tie_embeddings);
    assert_int_equal(info.head_dim, 32);
    assert_true(fabs(info.rope_theta - 1e6) < 1e-3);
    assert_null(gc_model_tokenizer(m));
    const int32_t *eos = gc_model_eos_ids(m, &n);
    assert_int_equal(n, 2);
    assert_int_equal(eos[0], 2);
    assert_int_equal(eos[1], 3);
    gc_model_free(m);
    assert_int_equal(gc_model_load("tests/data/tiny/qwen2", &m), GC_OK);   // top-level rope_theta
    gc_model_get_info(m, &info);
    assert_false(info.tie_embeddings);
    assert_true(fabs(info.rope_theta - 1e4) < 1e-6);
    gc_model_free(m);
    assert_int_equal(gc_model_load("tests/data/tiny/llama", &m), GC_OK);
    gc_model_get_info(m, &info);
    assert_int_equal(info.n_kv_heads, 1);
    assert_string_equal(info.weight_dtype, "BF16");
    gc_model_free(m);
    assert_int_not_equal(gc_model_load("tests/data/tiny/no-such-model", &m), GC_OK);
    assert_non_null(strstr(gc_last_error(), "no-such-model"));
}

// Bad programs fail before running and name the problem.
static void test_bad_programs(void **st) {
    (void)st;
    gc_model *m;
    gc_engine *e;
    gc_trace *t;
    assert_int_equal(gc_model_load("tests/data/tiny/llama", &m), GC_OK);
    assert_int_equal(gc_engine_new(m, NULL, &e), GC_OK);
    gc_trace_opts o = {.realign = true};
    const char *bad[] = {"", "ids:", "ids:1,x", "ids:256", "ids:-1", "latent:2", "ids:1;bogus:3", "ids:1;greedy:0",
                         "ids:1;greedy:abc", "ids:1,,2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(gc_trace_run(e, bad[i], &o, &t), GC_ERR_INVALID_ARG);
        assert_true(strlen(gc_last_error()) > 0);
    }
    gc_engine_free(e);
    gc_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loader_facts), cmocka_unit_test(test_bad_programs),
        cmocka_unit_test(test_qwen3), cmocka_unit_test(test_qwen2), cmocka_unit_test(test_llama),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
