// Token sampling: the seeded host sampler (gc_sampler_sample) and the
// device-draw rule (gc_token_draw_row), by their distributions and filters,
// and the engine's token output (gc_seq_step.argmax / draw) on the CPU.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include "gcache/engine.h"
#include "gcache/sampler.h"

enum { V = 8 };
static const float LOGITS[V] = {1.0f, 3.0f, -2.0f, 2.5f, 0.0f, 3.0f, -INFINITY, 1.5f};

// softmax(LOGITS / t) in double.
static void probs(double t, double *p) {
    double mx = 3.0, z = 0;
    for (int i = 0; i < V; i++) z += (p[i] = exp(((double)LOGITS[i] - mx) / t));
    for (int i = 0; i < V; i++) p[i] /= z;
}

// Sweeping u over a fine grid gives each kept id a share equal to its
// renormalised probability (to the grid's resolution).
static void sweep(const gc_token_draw *d0, double *share) {
    const int G = 100000;
    int cnt[V] = {0};
    for (int g = 0; g < G; g++) {
        gc_token_draw d = *d0;
        d.u = (float)((g + 0.5) / G);
        int32_t id = gc_token_draw_row(LOGITS, V, &d);
        assert_true(id >= 0 && id < V);
        cnt[id]++;
    }
    for (int i = 0; i < V; i++) share[i] = (double)cnt[i] / G;
}

static void test_draw_rule(void **st) {
    (void)st;
    double p[V], share[V];
    // Greedy: the first of the tied maxima.
    assert_int_equal(gc_token_draw_row(LOGITS, V, &(gc_token_draw){0}), 1);
    // Plain temperature: every id in proportion.
    probs(0.7, p);
    sweep(&(gc_token_draw){.temperature = 0.7f, .top_p = 1.0f}, share);
    for (int i = 0; i < V; i++) assert_true(fabs(share[i] - p[i]) < 1e-4);
    assert_true(share[6] == 0.0);
    // top-k 3: ids 1, 5 (tied at 3.0) and 3 (2.5), renormalised.
    probs(1.0, p);
    sweep(&(gc_token_draw){.temperature = 1.0f, .top_p = 1.0f, .top_k = 3}, share);
    double z = p[1] + p[5] + p[3];
    for (int i = 0; i < V; i++) {
        double want = (i == 1 || i == 5 || i == 3) ? p[i] / z : 0.0;
        assert_true(fabs(share[i] - want) < 1e-4);
    }
    // top-k 2 keeps both tied maxima, and nothing else.
    sweep(&(gc_token_draw){.temperature = 1.0f, .top_p = 1.0f, .top_k = 2}, share);
    assert_true(fabs(share[1] - 0.5) < 1e-4 && fabs(share[5] - 0.5) < 1e-4);
    // top-p: the smallest set of largest ids reaching the mass. p(3.0) ≈ 0.29
    // each, so 0.5 needs both maxima; 0.7 adds id 3 (2.5).
    sweep(&(gc_token_draw){.temperature = 1.0f, .top_p = 0.5f}, share);
    assert_true(share[1] > 0.49 && share[5] > 0.49 && share[3] == 0.0);
    sweep(&(gc_token_draw){.temperature = 1.0f, .top_p = 0.7f}, share);
    assert_true(share[3] > 0.1 && share[7] == 0.0 && share[0] == 0.0);
    // u = 0 → first kept id in index order.
    assert_int_equal(gc_token_draw_row(LOGITS, V, &(gc_token_draw){.temperature = 1.0f, .top_p = 1.0f, .u = 0.0f}), 0);
}

// The host sampler: reproducible by seed, filters as documented, and its
// draws follow the distribution (frequency within 5 sigma over 20000 draws).
static void test_host_sampler(void **st) {
    (void)st;
    gc_sampler_params sp = {.temperature = 0.8f, .top_p = 1.0f, .top_k = 0, .seed = 42};
    gc_sampler *a, *b;
    assert_int_equal(gc_sampler_new(&sp, V, &a), GC_OK);
    assert_int_equal(gc_sampler_new(&sp, V, &b), GC_OK);
    double p[V];
    probs(0.8, p);
    const int N = 20000;
    int cnt[V] = {0};
    for (int k = 0; k < N; k++) {
        int32_t x = gc_sampler_sample(a, LOGITS), y = gc_sampler_sample(b, LOGITS);
        assert_int_equal(x, y);
        cnt[x]++;
    }
    for (int i = 0; i < V; i++) {
        double sd = sqrt(p[i] * (1 - p[i]) / N) + 1e-9;
        assert_true(fabs((double)cnt[i] / N - p[i]) < 5 * sd);
    }
    assert_int_equal(gc_sampler_get_params(a)->seed, 42);
    double u = gc_sampler_next_unit(a);
    assert_true(u >= 0.0 && u < 1.0);
    gc_sampler_free(a);
    gc_sampler_free(b);
    // top-k 1 is greedy whatever the temperature; bad parameters are refused.
    sp.top_k = 1;
    assert_int_equal(gc_sampler_new(&sp, V, &a), GC_OK);
    for (int k = 0; k < 50; k++) assert_int_equal(gc_sampler_sample(a, LOGITS), 1);
    gc_sampler_free(a);
    sp.top_p = 0.0f;
    assert_int_equal(gc_sampler_new(&sp, V, &a), GC_ERR_INVALID_ARG);
}

// The CPU engine's token output equals the rule applied to its own logits,
// for greedy and drawn steps, with and without logits requested.
static void test_engine_token(void **st) {
    (void)st;
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen3", &m), GC_OK);
    gc_engine_params ep = gc_engine_default_params();
    gc_engine *e;
    assert_int_equal(gc_engine_new(m, &ep, &e), GC_OK);
    gc_model_info info;
    gc_model_get_info(m, &info);
    const int64_t nv = info.vocab_size;
    float *lg = malloc((size_t)nv * sizeof(float));
    assert_non_null(lg);
    const int32_t ids[3] = {5, 17, 3};
    for (int k = 0; k < 4; k++) {
        gc_kv *a, *b;
        assert_int_equal(gc_kv_new(e, &a), GC_OK);
        assert_int_equal(gc_kv_new(e, &b), GC_OK);
        gc_token_draw d = {.temperature = k ? 1.0f : 0.0f, .top_p = k == 2 ? 0.9f : 1.0f, .top_k = k == 3 ? 5 : 0,
                           .u = 0.37f};
        int32_t t1 = -1, t2 = -1;
        gc_seq_step s[2] = {{.kv = a, .n = 3, .ids = ids, .logits = lg, .argmax = &t1, .draw = &d},
                            {.kv = b, .n = 3, .ids = ids, .argmax = &t2, .draw = &d}};
        assert_int_equal(gc_engine_forward(e, s, 2), GC_OK);
        assert_int_equal(t1, gc_token_draw_row(lg, nv, &d));
        assert_int_equal(t1, t2);
        gc_kv_free(a);
        gc_kv_free(b);
    }
    free(lg);
    gc_engine_free(e);
    gc_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_draw_rule),
        cmocka_unit_test(test_host_sampler),
        cmocka_unit_test(test_engine_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
