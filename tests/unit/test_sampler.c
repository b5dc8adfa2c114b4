// Token sampling: the one drawing rule (gc_token_draw_row, which
// gc_sampler_sample applies) by its distribution, its filters and draw by
// draw against an independent float64 re-implementation,
// and the engine's token output (gc_seq_step.argmax / draw) on the CPU.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
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
    // top-k 1 keeps the tied maxima (ids 1 and 5) whatever the temperature,
    // and is greedy on a row without ties; bad parameters are refused.
    sp.top_k = 1;
    assert_int_equal(gc_sampler_new(&sp, V, &a), GC_OK);
    const float untied[V] = {1.0f, 3.0f, -2.0f, 2.5f, 0.0f, 2.9f, -INFINITY, 1.5f};
    for (int k = 0; k < 50; k++) {
        int32_t x = gc_sampler_sample(a, LOGITS);
        assert_true(x == 1 || x == 5);
        assert_int_equal(gc_sampler_sample(a, untied), 1);
    }
    gc_sampler_free(a);
    sp.top_p = 0.0f;
    assert_int_equal(gc_sampler_new(&sp, V, &a), GC_ERR_INVALID_ARG);
}

// ---- the rule pinned by an independent float64 re-implementation ----
// The stream: xoshiro256** seeded by four splitmix64 outputs of the seed,
// u = (x >> 40) · 2^-24 per draw (gcache/sampler.h).
static uint64_t ref_splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t ref_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static double ref_next_u(uint64_t *s) {
    const uint64_t r = ref_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = ref_rotl(s[3], 45);
    return (double)(r >> 40) / 16777216.0;
}

// The rule stated without sorting: an id is kept when fewer than k ids have
// a strictly larger logit (top-k), and when the mass of the kept ids with a
// strictly larger logit is below top_p of the top-k mass (top-p); then the
// first id whose running kept mass exceeds u · total.
static int32_t ref_draw(const float *l, int n, double t, int k, double top_p, double u) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    if (t <= 0) return best;
    double *p = malloc((size_t)n * sizeof *p);
    bool *keep = malloc((size_t)n);
    double z = 0;
    for (int i = 0; i < n; i++) {
        int above = 0;
        for (int j = 0; j < n; j++) above += l[j] > l[i];
        p[i] = exp(((double)l[i] - (double)l[best]) / t);
        keep[i] = k <= 0 || above < k;
        if (keep[i]) z += p[i];
    }
    bool *keep_p = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        double above = 0;
        for (int j = 0; j < n; j++)
            if (keep[j] && l[j] > l[i]) above += p[j];
        keep_p[i] = keep[i] && (top_p >= 1.0 || above < top_p * z);
    }
    double total = 0, acc = 0;
    for (int i = 0; i < n; i++)
        if (keep_p[i]) total += p[i];
    int32_t r = -1;
    for (int i = 0; i < n && r < 0; i++)
        if (keep_p[i] && (acc += p[i]) > u * total) r = i;
    free(p); free(keep); free(keep_p);
    return r;
}

static void test_rule_pinned(void **st) {
    (void)st;
    enum { N = 50, DRAWS = 200 };
    const struct { float t, top_p; int k; uint64_t seed; } cfg[] = {
        {0.7f, 1.0f, 0, 1}, {1.0f, 1.0f, 5, 2}, {1.3f, 0.9f, 0, 3}, {0.8f, 0.6f, 8, 4}, {0.0f, 1.0f, 0, 5},
    };
    float l[N];
    uint64_t g = 12345;
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        gc_sampler_params sp = {.temperature = cfg[c].t, .top_p = cfg[c].top_p, .top_k = cfg[c].k, .seed = cfg[c].seed};
        gc_sampler *a;
        assert_int_equal(gc_sampler_new(&sp, N, &a), GC_OK);
        uint64_t x = cfg[c].seed, rs[4];
        for (int i = 0; i < 4; i++) rs[i] = ref_splitmix(&x);
        for (int d = 0; d < DRAWS; d++) {
            // Logits on a coarse grid, so ties occur, over a range of 6.
            for (int i = 0; i < N; i++) l[i] = (float)(ref_splitmix(&g) % 25) * 0.25f;
            const double u = cfg[c].t > 0 ? ref_next_u(rs) : 0.0;
            assert_int_equal(gc_sampler_sample(a, l), ref_draw(l, N, cfg[c].t, cfg[c].k, cfg[c].top_p, u));
        }
        gc_sampler_free(a);
    }
    // The sampler's own stream (seed 7, temperature 1, the row LOGITS): its
    // uniforms are the reference stream's, bit for bit, and so are the ids.
    gc_sampler_params sp = {.temperature = 1.0f, .top_p = 1.0f, .seed = 7};
    gc_sampler *a;
    assert_int_equal(gc_sampler_new(&sp, V, &a), GC_OK);
    uint64_t x = 7, rs[4];
    for (int i = 0; i < 4; i++) rs[i] = ref_splitmix(&x);
    for (int d = 0; d < 8; d++) {
        const double u = ref_next_u(rs);
        gc_token_draw dr = gc_sampler_next_draw(a);
        assert_true((double)dr.u == u);
        assert_int_equal(gc_token_draw_row(LOGITS, V, &dr), ref_draw(LOGITS, V, 1.0, 0, 1.0, u));
    }
    gc_sampler_free(a);
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
    assert_int_equal(gc_engine_device(e), GC_DEVICE_CPU);
    assert_string_equal(gc_device_name(gc_engine_device(e)), "cpu");
    assert_string_equal(gc_device_name(GC_DEVICE_CUDA), "cuda");
    assert_string_equal(gc_device_name((gc_device)7), "unknown");
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
        cmocka_unit_test(test_rule_pinned),
        cmocka_unit_test(test_engine_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
