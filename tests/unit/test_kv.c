// KV cache values against dense references: sharing, slicing, weighted sums,
// scales and gates, save/load, pool exhaustion.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gcache/engine.h"
#include "engine/engine.h"

static gc_model *g_model;
static const char *MODEL = "tests/data/tiny/llama";   // 3 layers, 1 KV head × 16
enum { V = 256, D = 64 };
#include "kv_fixture.h"

static int setup(void **st) {
    (void)st;
    return gc_model_load(MODEL, &g_model) == GC_OK ? 0 : -1;
}
static int teardown(void **st) {
    (void)st;
    gc_model_free(g_model);
    return 0;
}

static gc_engine *engine(size_t pool_bytes) {
    gc_engine_params p = gc_engine_default_params();
    p.kv_pool_bytes = pool_bytes;
    gc_engine *e;
    assert_int_equal(gc_engine_new(g_model, &p, &e), GC_OK);
    return e;
}

// a's position pa equals b's position pb in every layer (exactly).
static void same_pos(const gc_kv *a, int64_t pa, const gc_kv *b, int64_t pb) {
    float k1[64], v1[64], k2[64], v2[64];
    for (int l = 0; l < 3; l++) {
        assert_int_equal(gc_kv_read(a, l, pa, k1, v1), GC_OK);
        assert_int_equal(gc_kv_read(b, l, pb, k2, v2), GC_OK);
        assert_memory_equal(k1, k2, 16 * sizeof(float));
        assert_memory_equal(v1, v2, 16 * sizeof(float));
    }
}

static void test_fork_is_zero_copy_and_isolated(void **st) {
    (void)st;
    gc_engine *e = engine(0);
    gc_kv *a = filled(e, 37, 1), *f;
    int64_t live = e->pool.live_blocks;
    assert_int_equal(gc_kv_fork(a, &f), GC_OK);
    assert_int_equal(e->pool.live_blocks, live);            // no new block
    assert_int_equal(gc_kv_len(f), 37);
    feed(e, f, 5, 2, NULL);                                  // appending to the fork ...
    assert_int_equal(gc_kv_len(a), 37);                      // ... leaves the original alone
    gc_kv *ref = filled(e, 37, 1);
    for (int p = 0; p < 37; p++) same_pos(a, p, ref, p);
    for (int p = 0; p < 37; p++) same_pos(f, p, ref, p);
    feed(e, a, 3, 3, NULL);                                  // and the other way round
    assert_int_equal(gc_kv_len(f), 42);
    for (int p = 0; p < 37; p++) same_pos(f, p, ref, p);
    assert_int_equal(gc_kv_bytes(a), (size_t)40 * 3 * 2 * 16 * 4);
    gc_kv_free(a); gc_kv_free(f); gc_kv_free(ref);
    assert_int_equal(e->pool.live_blocks, 0);                // everything returned
    gc_engine_free(e);
}

static void test_concat_slice_keep(void **st) {
    (void)st;
    gc_engine *e = engine(0);
    gc_kv *a = filled(e, 21, 4), *b = filled(e, 18, 5), *c;
    int64_t live = e->pool.live_blocks;
    gc_kv *parts[] = {a, b, a};
    assert_int_equal(gc_kv_concat(parts, 3, &c), GC_OK);
    assert_int_equal(e->pool.live_blocks, live);
    assert_int_equal(gc_kv_len(c), 60);
    for (int p = 0; p < 21; p++) { same_pos(c, p, a, p); same_pos(c, 39 + p, a, p); }
    for (int p = 0; p < 18; p++) same_pos(c, 21 + p, b, p);
    gc_kv *s;
    assert_int_equal(gc_kv_slice(c, 15, 44, &s), GC_OK);
    assert_int_equal(gc_kv_len(s), 29);
    for (int p = 0; p < 29; p++) same_pos(s, p, c, 15 + p);
    assert_int_equal(gc_kv_keep_last(c, 25), GC_OK);
    assert_int_equal(gc_kv_len(c), 25);
    for (int p = 0; p < 9; p++) same_pos(c, p, s, 20 + p);   // c[p] = old c[35 + p] = s[20 + p]
    gc_kv *bad;
    assert_int_equal(gc_kv_slice(c, 3, 99, &bad), GC_ERR_RANGE);
    assert_null(bad);
    gc_kv_free(a); gc_kv_free(b); gc_kv_free(c);
    assert_int_equal(gc_kv_slice(s, 0, 0, &c), GC_OK);   // empty slice
    assert_int_equal(gc_kv_len(c), 0);
    gc_kv_free(c); gc_kv_free(s);
    assert_int_equal(e->pool.live_blocks, 0);
    gc_engine_free(e);
}

static void test_wsum_dense(void **st) {
    (void)st;
    gc_engine *e = engine(0);
    gc_kv *a = filled(e, 30, 6), *b = filled(e, 12, 7), *w;
    gc_kv *parts[] = {a, b};
    float wts[] = {0.7f, 0.3f};
    assert_int_equal(gc_kv_wsum(parts, wts, 2, &w), GC_OK);
    assert_int_equal(gc_kv_len(w), 12);
    float ka[16], va[16], kb[16], vb[16], kw[16], vw[16];
    for (int l = 0; l < 3; l++)
        for (int p = 0; p < 12; p++) {
            gc_kv_read(a, l, 18 + p, ka, va);
            gc_kv_read(b, l, p, kb, vb);
            gc_kv_read(w, l, p, kw, vw);
            for (int i = 0; i < 16; i++) {
                assert_true(fabsf(kw[i] - (0.7f * ka[i] + 0.3f * kb[i])) <= 1e-6f * (1 + fabsf(kw[i])));
                assert_true(fabsf(vw[i] - (0.7f * va[i] + 0.3f * vb[i])) <= 1e-6f * (1 + fabsf(vw[i])));
            }
        }
    gc_kv_free(a); gc_kv_free(b); gc_kv_free(w);
    gc_engine_free(e);
}

// Scaling every layer's K and V of the whole cache by s is the same as the
// materialised cache s·K, s·V (wsum with one weight).
static void test_scale_equals_materialised(void **st) {
    (void)st;
    gc_engine *e = engine(0);
    gc_kv *a = filled(e, 25, 8), *m;
    float s[3] = {0.5f, 1.7f, 0.9f}, one = 1.3f;
    gc_kv *parts[] = {a};
    assert_int_equal(gc_kv_wsum(parts, &one, 1, &m), GC_OK);
    float all[3] = {one, one, one};
    assert_int_equal(gc_kv_scale(a, 0, 25, all, all, NULL), GC_OK);
    float l1[V], l2[V];
    feed(e, a, 3, 9, l1);
    feed(e, m, 3, 9, l2);
    assert_true(max_abs_diff(l1, l2, V) < 1e-4);
    // Per-layer scales on a sub-range are applied by gc_kv_read.
    gc_kv *b = filled(e, 20, 10), *ref = filled(e, 20, 10);
    assert_int_equal(gc_kv_scale(b, 5, 12, s, NULL, NULL), GC_OK);
    float k1[16], v1[16], k2[16], v2[16];
    for (int l = 0; l < 3; l++)
        for (int p = 0; p < 20; p++) {
            gc_kv_read(b, l, p, k1, v1);
            gc_kv_read(ref, l, p, k2, v2);
            float f = (p >= 5 && p < 12) ? s[l] : 1.0f;
            for (int i = 0; i < 16; i++) { assert_true(k1[i] == k2[i] * f); assert_true(v1[i] == v2[i]); }
        }
    gc_kv_free(a); gc_kv_free(m); gc_kv_free(b); gc_kv_free(ref);
    gc_engine_free(e);
}

// Gating a range off in every layer is the same as cutting it out (keys keep
// their positions either way).
static void test_gate_equals_cut(void **st) {
    (void)st;
    gc_engine *e = engine(0);
    gc_kv *a = filled(e, 40, 11), *x, *y, *cut;
    uint8_t off[3] = {0, 0, 0};
    assert_int_equal(gc_kv_slice(a, 0, 10, &x), GC_OK);
    assert_int_equal(gc_kv_slice(a, 25, 40, &y), GC_OK);
    gc_kv *parts[] = {x, y};
    assert_int_equal(gc_kv_concat(parts, 2, &cut), GC_OK);
    assert_int_equal(gc_kv_scale(a, 10, 25, NULL, NULL, off), GC_OK);
    // Same positions for the new tokens: pad `cut` so both have length 40.
    float l1[V], l2[V];
    feed(e, a, 4, 12, l1);
    gc_kv *pad;
    assert_int_equal(gc_kv_slice(a, 10, 25, &pad), GC_OK);   // gated copy: shares the gate
    gc_kv *parts2[] = {x, pad, y};
    gc_kv *same;
    assert_int_equal(gc_kv_concat(parts2, 3, &same), GC_OK);
    feed(e, same, 4, 12, l2);
    assert_true(max_abs_diff(l1, l2, V) < 1e-5);
    // A gate on one layer only changes the result, a gate of ones does not.
    gc_kv *b = filled(e, 40, 11), *c = filled(e, 40, 11), *d = filled(e, 40, 11);
    uint8_t one_layer[3] = {1, 0, 1}, ones[3] = {1, 1, 1};
    gc_kv_scale(b, 10, 25, NULL, NULL, one_layer);
    gc_kv_scale(c, 10, 25, NULL, NULL, ones);
    float lb[V], lc[V], ld[V];
    feed(e, b, 4, 12, lb);
    feed(e, c, 4, 12, lc);
    feed(e, d, 4, 12, ld);
    assert_true(max_abs_diff(lc, ld, V) == 0);
    assert_true(max_abs_diff(lb, ld, V) > 1e-3);
    gc_kv_free(a); gc_kv_free(x); gc_kv_free(y); gc_kv_free(cut); gc_kv_free(pad); gc_kv_free(same);
    gc_kv_free(b); gc_kv_free(c); gc_kv_free(d);
    gc_engine_free(e);
}

static void flip_byte(const char *path, long off) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void test_save_load(void **st) {
    (void)st;
    gc_engine *e = engine(0);
    gc_kv *a = filled(e, 33, 13), *b;
    float ks[3] = {0.5f, 1.0f, 2.0f};
    uint8_t g[3] = {1, 0, 1};
    assert_int_equal(gc_kv_scale(a, 3, 20, ks, ks, g), GC_OK);
    char path[] = "/tmp/gc_kv_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(gc_kv_save(a, path), GC_OK);
    assert_int_equal(gc_kv_load(e, path, &b), GC_OK);
    assert_int_equal(gc_kv_len(b), 33);
    for (int p = 0; p < 33; p++) same_pos(a, p, b, p);
    float l1[V], l2[V];
    feed(e, a, 2, 14, l1);
    feed(e, b, 2, 14, l2);
    assert_true(max_abs_diff(l1, l2, V) == 0);   // gates survive too
    gc_kv_free(b);
    // Corruption anywhere is caught by the checksum.
    flip_byte(path, 100);
    assert_int_equal(gc_kv_load(e, path, &b), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "checksum"));
    assert_non_null(strstr(gc_last_error(), path));
    // Truncated / not ours.
    assert_int_equal(truncate(path, 20), 0);
    assert_int_equal(gc_kv_load(e, path, &b), GC_ERR_FORMAT);
    assert_int_equal(gc_kv_load(e, "tests/data/tiny/llama/config.json", &b), GC_ERR_FORMAT);
    assert_int_equal(gc_kv_load(e, "/nonexistent/kv", &b), GC_ERR_IO);
    // A cache of another model is refused.
    gc_kv_free(a);
    a = filled(e, 5, 1);
    assert_int_equal(gc_kv_save(a, path), GC_OK);
    gc_model *q;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen3", &q), GC_OK);
    gc_engine *eq;
    assert_int_equal(gc_engine_new(q, NULL, &eq), GC_OK);
    assert_int_equal(gc_kv_load(eq, path, &b), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "different model"));
    gc_engine_free(eq);
    gc_model_free(q);
    unlink(path);
    gc_kv_free(a);
    gc_engine_free(e);
}

static void test_pool_exhaustion(void **st) {
    (void)st;
    size_t block = (size_t)3 * 2 * GC_KV_BLOCK * 16 * sizeof(float);
    gc_engine *e = engine(4 * block);   // 64 positions in all
    gc_kv *a, *b;
    assert_int_equal(gc_kv_new(e, &a), GC_OK);
    int32_t ids[100] = {0};
    gc_seq_step s = {.kv = a, .n = 100, .ids = ids};
    assert_int_equal(gc_engine_forward(e, &s, 1), GC_ERR_OOM);
    assert_non_null(strstr(gc_last_error(), "exhausted"));
    assert_int_equal(gc_kv_len(a), 0);                 // nothing half-appended
    assert_int_equal(e->pool.live_blocks, 0);
    feed(e, a, 40, 1, NULL);                           // still usable
    assert_int_equal(gc_kv_new(e, &b), GC_OK);
    gc_seq_step two[2] = {{.kv = a, .n = 10, .ids = ids}, {.kv = b, .n = 20, .ids = ids}};
    assert_int_equal(gc_engine_forward(e, two, 2), GC_ERR_OOM);   // 3 + 2 blocks > 4
    assert_int_equal(gc_kv_len(a), 40);
    assert_int_equal(gc_kv_len(b), 0);
    assert_int_equal(e->pool.live_blocks, 3);
    gc_kv_free(a); gc_kv_free(b);
    assert_int_equal(e->pool.live_blocks, 0);
    gc_engine_free(e);
}

// Batched forward of several sequences equals running them one by one.
static void test_batch_equals_single(void **st) {
    (void)st;
    gc_engine *e = engine(0);
    gc_kv *a = filled(e, 9, 1), *b = filled(e, 30, 2), *c, *a1 = filled(e, 9, 1), *b1 = filled(e, 30, 2), *c1;
    gc_kv_new(e, &c);
    gc_kv_new(e, &c1);
    int32_t ia[3] = {5, 6, 7}, ib[1] = {8}, ic[5] = {1, 2, 3, 4, 5};
    float la[3 * V], lb[V], lc[V], ra[3 * V], rb[V], rc[V];
    gc_seq_step steps[3] = {{.kv = a, .n = 3, .ids = ia, .logits = la, .logits_all = true},
                            {.kv = b, .n = 1, .ids = ib, .logits = lb},
                            {.kv = c, .n = 5, .ids = ic, .logits = lc}};
    assert_int_equal(gc_engine_forward(e, steps, 3), GC_OK);
    gc_seq_step s1 = {.kv = a1, .n = 3, .ids = ia, .logits = ra, .logits_all = true};
    gc_seq_step s2 = {.kv = b1, .n = 1, .ids = ib, .logits = rb};
    gc_seq_step s3 = {.kv = c1, .n = 5, .ids = ic, .logits = rc};
    gc_engine_forward(e, &s1, 1);
    gc_engine_forward(e, &s2, 1);
    gc_engine_forward(e, &s3, 1);
    assert_true(max_abs_diff(la, ra, 3 * V) < 1e-5);
    assert_true(max_abs_diff(lb, rb, V) < 1e-5);
    assert_true(max_abs_diff(lc, rc, V) < 1e-5);
    gc_seq_step dup[2] = {{.kv = a, .n = 1, .ids = ib}, {.kv = a, .n = 1, .ids = ib}};
    assert_int_equal(gc_engine_forward(e, dup, 2), GC_ERR_INVALID_ARG);
    gc_kv_free(a); gc_kv_free(b); gc_kv_free(c); gc_kv_free(a1); gc_kv_free(b1); gc_kv_free(c1);
    gc_engine_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_is_zero_copy_and_isolated),
        cmocka_unit_test(test_concat_slice_keep),
        cmocka_unit_test(test_wsum_dense),
        cmocka_unit_test(test_scale_equals_materialised),
        cmocka_unit_test(test_gate_equals_cut),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_pool_exhaustion),
        cmocka_unit_test(test_batch_equals_single),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
