// Rows held by the engine (gc_rows) and the latent data path built on them:
// a step that reads its input embeddings from rows and writes its hidden
// states into rows, with the realignment mapping rows to rows, gives the
// same bits as the host-pointer path (embeds / hidden + gc_realign_apply) on
// the CPU; the buffer API and the step checks refuse what they should.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "gcache/engine.h"
#include "gcache/latent.h"

static const char *const FAMILIES[] = {"tests/data/tiny/qwen3", "tests/data/tiny/qwen2", "tests/data/tiny/llama"};

typedef struct fixture {
    gc_model *m;
    gc_engine *e;
    gc_realign *ra;
    int64_t D, V;
} fixture;

static void fixture_open(fixture *f, const char *dir, bool realign) {
    assert_int_equal(gc_model_load(dir, &f->m), GC_OK);
    assert_int_equal(gc_engine_new(f->m, NULL, &f->e), GC_OK);
    assert_int_equal(gc_realign_new_cached(f->m, realign, NULL, 0, &f->ra), GC_OK);
    gc_model_info info;
    gc_model_get_info(f->m, &info);
    f->D = info.hidden_size;
    f->V = info.vocab_size;
}

static void fixture_close(fixture *f) {
    gc_realign_free(f->ra);
    gc_engine_free(f->e);
    gc_model_free(f->m);
}

static float *xmalloc(size_t n) {
    float *p = malloc(n * sizeof(float));
    assert_non_null(p);
    return p;
}

static void fill(float *x, int64_t n, uint32_t seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((double)(seed >> 8) / (double)(1u << 24) * 2.0 - 1.0);
    }
}

static void test_rows_api(void **st) {
    (void)st;
    fixture f;
    fixture_open(&f, FAMILIES[0], true);
    gc_rows *r = NULL;
    assert_int_equal(gc_rows_new(f.e, 0, &r), GC_ERR_INVALID_ARG);
    assert_null(r);
    assert_int_equal(gc_rows_new(f.e, 3, &r), GC_OK);
    assert_int_equal(gc_rows_count(r), 3);
    float *a = xmalloc((size_t)(3 * f.D)), *b = xmalloc((size_t)(3 * f.D));
    fill(a, 3 * f.D, 7);
    assert_int_equal(gc_rows_set(r, 0, 3, a), GC_OK);
    assert_int_equal(gc_rows_set(r, 1, 2, a), GC_OK);   // rows 1, 2 = a's rows 0, 1
    assert_int_equal(gc_rows_get(r, 0, 3, b), GC_OK);
    assert_memory_equal(b, a, (size_t)f.D * sizeof(float));
    assert_memory_equal(b + f.D, a, (size_t)(2 * f.D) * sizeof(float));
    assert_int_equal(gc_rows_get(r, 2, 2, b), GC_ERR_RANGE);
    assert_int_equal(gc_rows_set(r, -1, 1, a), GC_ERR_RANGE);
    assert_int_equal(gc_rows_get(r, 3, 0, b), GC_OK);   // empty range at the end
    gc_rows_free(r);
    gc_rows_free(NULL);
    free(a);
    free(b);
    fixture_close(&f);
}

// Steps naming rows are checked like every other input, and a refused step
// leaves the cache as it was.
static void test_step_checks(void **st) {
    (void)st;
    fixture f, g;
    fixture_open(&f, FAMILIES[0], true);
    fixture_open(&g, FAMILIES[0], true);
    gc_rows *r, *other;
    assert_int_equal(gc_rows_new(f.e, 3, &r), GC_OK);
    assert_int_equal(gc_rows_new(g.e, 3, &other), GC_OK);
    gc_kv *kv;
    assert_int_equal(gc_kv_new(f.e, &kv), GC_OK);
    int32_t ids[2] = {1, 2};
    float *h = xmalloc((size_t)(2 * f.D));
    gc_seq_step s = {.kv = kv, .n = 2, .ids = ids, .in_rows = r};
    assert_int_equal(gc_engine_forward(f.e, &s, 1), GC_ERR_INVALID_ARG);   // two inputs
    s = (gc_seq_step){.kv = kv, .n = 2, .in_rows = r, .in_row = 2};
    assert_int_equal(gc_engine_forward(f.e, &s, 1), GC_ERR_RANGE);         // rows 2, 3 of 3
    s = (gc_seq_step){.kv = kv, .n = 2, .in_rows = other};
    assert_int_equal(gc_engine_forward(f.e, &s, 1), GC_ERR_INVALID_ARG);   // another engine's rows
    s = (gc_seq_step){.kv = kv, .n = 2, .ids = ids, .hidden_rows = r, .hidden_row = 2, .hidden_all = true};
    assert_int_equal(gc_engine_forward(f.e, &s, 1), GC_ERR_RANGE);         // two hidden rows from row 2
    s = (gc_seq_step){.kv = kv, .n = 2, .ids = ids, .hidden_rows = r, .hidden_row = -1};
    assert_int_equal(gc_engine_forward(f.e, &s, 1), GC_ERR_RANGE);
    assert_int_equal(gc_kv_len(kv), 0);
    // The last row only, without hidden_all; with a host copy as well.
    s = (gc_seq_step){.kv = kv, .n = 2, .ids = ids, .hidden = h, .hidden_rows = r, .hidden_row = 2};
    assert_int_equal(gc_engine_forward(f.e, &s, 1), GC_OK);
    float *got = xmalloc((size_t)f.D);
    assert_int_equal(gc_rows_get(r, 2, 1, got), GC_OK);
    assert_memory_equal(got, h, (size_t)f.D * sizeof(float));
    free(got);
    free(h);
    gc_kv_free(kv);
    gc_rows_free(r);
    gc_rows_free(other);
    fixture_close(&g);
    fixture_close(&f);
}

// gc_realign_rows (out of place and in place), gc_realign_apply_rows with
// and without an engine, and gc_realign_apply: the same bits.
static void realign_case(bool enabled) {
    fixture f;
    fixture_open(&f, FAMILIES[0], enabled);
    const int64_t n = 4, D = f.D;
    float *h = xmalloc((size_t)(n * D)), *ref = xmalloc((size_t)(n * D)), *got = xmalloc((size_t)(n * D));
    fill(h, n * D, 11);
    for (int64_t i = 0; i < n; i++) gc_realign_apply(f.ra, h + i * D, ref + i * D);
    gc_rows *a, *b;
    assert_int_equal(gc_rows_new(f.e, n + 2, &a), GC_OK);
    assert_int_equal(gc_rows_new(f.e, n, &b), GC_OK);
    assert_int_equal(gc_rows_set(a, 1, n, h), GC_OK);
    assert_int_equal(gc_realign_rows(f.ra, a, 1, n, b, 0), GC_OK);
    assert_int_equal(gc_rows_get(b, 0, n, got), GC_OK);
    assert_memory_equal(got, ref, (size_t)(n * D) * sizeof(float));
    assert_int_equal(gc_realign_rows(f.ra, a, 1, n, a, 1), GC_OK);   // in place
    assert_int_equal(gc_rows_get(a, 1, n, got), GC_OK);
    assert_memory_equal(got, ref, (size_t)(n * D) * sizeof(float));
    assert_int_equal(gc_realign_apply_rows(f.ra, f.e, h, n, got), GC_OK);
    assert_memory_equal(got, ref, (size_t)(n * D) * sizeof(float));
    assert_int_equal(gc_realign_apply_rows(f.ra, NULL, h, n, got), GC_OK);
    assert_memory_equal(got, ref, (size_t)(n * D) * sizeof(float));
    // Refused: overlapping ranges other than in place, rows past the end.
    assert_int_equal(gc_realign_rows(f.ra, a, 0, n, a, 1), GC_ERR_INVALID_ARG);
    assert_int_equal(gc_realign_rows(f.ra, a, 3, n, b, 0), GC_ERR_RANGE);
    gc_rows_free(a);
    gc_rows_free(b);
    free(h); free(ref); free(got);
    fixture_close(&f);
}

static void test_realign_rows(void **st) {
    (void)st;
    realign_case(true);
    realign_case(false);
}

enum { NSEQ = 3, LATENT = 4 };

// NSEQ sequences in one batch: a prompt each, then LATENT latent steps, once
// through host pointers (hidden → gc_realign_apply → embeds) and once
// through rows (hidden_rows → gc_realign_rows → in_rows, the scheduler's
// path). Every hidden state and every logit agree bit for bit.
static void latent_both_ways(const char *dir) {
    fixture f;
    fixture_open(&f, dir, true);
    const int64_t D = f.D, V = f.V;
    gc_kv *kh[NSEQ], *kr[NSEQ];
    float *hh = xmalloc((size_t)(NSEQ * D)), *emb = xmalloc((size_t)(NSEQ * D)), *hr = xmalloc((size_t)(NSEQ * D));
    float *lh = xmalloc((size_t)(NSEQ * V)), *lr = xmalloc((size_t)(NSEQ * V));
    gc_rows *hid, *in;
    assert_int_equal(gc_rows_new(f.e, NSEQ + 1, &hid), GC_OK);   // rows 1.. used: offsets are exercised
    assert_int_equal(gc_rows_new(f.e, NSEQ + 1, &in), GC_OK);
    int32_t ids[NSEQ][7];
    gc_seq_step a[NSEQ], b[NSEQ];
    for (int s = 0; s < NSEQ; s++) {
        assert_int_equal(gc_kv_new(f.e, &kh[s]), GC_OK);
        assert_int_equal(gc_kv_new(f.e, &kr[s]), GC_OK);
        for (int i = 0; i < 7; i++) ids[s][i] = (int32_t)((s * 37 + i * 11 + 5) % V);
        a[s] = (gc_seq_step){.kv = kh[s], .n = 5 + s, .ids = ids[s], .hidden = hh + s * D};
        b[s] = (gc_seq_step){.kv = kr[s], .n = 5 + s, .ids = ids[s], .hidden_rows = hid, .hidden_row = 1 + s};
    }
    assert_int_equal(gc_engine_forward(f.e, a, NSEQ), GC_OK);
    assert_int_equal(gc_engine_forward(f.e, b, NSEQ), GC_OK);
    for (int k = 0; k < LATENT; k++) {
        assert_int_equal(gc_rows_get(hid, 1, NSEQ, hr), GC_OK);
        assert_memory_equal(hr, hh, (size_t)(NSEQ * D) * sizeof(float));
        for (int s = 0; s < NSEQ; s++) gc_realign_apply(f.ra, hh + s * D, emb + s * D);
        assert_int_equal(gc_realign_rows(f.ra, hid, 1, NSEQ, in, 1), GC_OK);
        for (int s = 0; s < NSEQ; s++) {
            a[s] = (gc_seq_step){.kv = kh[s], .n = 1, .embeds = emb + s * D, .hidden = hh + s * D, .logits = lh + s * V};
            b[s] = (gc_seq_step){.kv = kr[s], .n = 1, .in_rows = in, .in_row = 1 + s, .hidden_rows = hid,
                                 .hidden_row = 1 + s, .logits = lr + s * V};
        }
        assert_int_equal(gc_engine_forward(f.e, a, NSEQ), GC_OK);
        assert_int_equal(gc_engine_forward(f.e, b, NSEQ), GC_OK);
        assert_memory_equal(lr, lh, (size_t)(NSEQ * V) * sizeof(float));
    }
    assert_int_equal(gc_rows_get(hid, 1, NSEQ, hr), GC_OK);
    assert_memory_equal(hr, hh, (size_t)(NSEQ * D) * sizeof(float));
    for (int s = 0; s < NSEQ; s++) {
        assert_int_equal(gc_kv_len(kr[s]), 5 + s + LATENT);
        gc_kv_free(kh[s]);
        gc_kv_free(kr[s]);
    }
    gc_rows_free(hid);
    gc_rows_free(in);
    free(hh); free(emb); free(hr); free(lh); free(lr);
    fixture_close(&f);
}

static void test_latent_both_ways(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof FAMILIES / sizeof *FAMILIES; i++) latent_both_ways(FAMILIES[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_api),
        cmocka_unit_test(test_step_checks),
        cmocka_unit_test(test_realign_rows),
        cmocka_unit_test(test_latent_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
