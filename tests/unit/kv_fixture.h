// Cache-test helpers shared by test_kv.c and test_kv_q8.c: pseudo-random
// prompts fed through an engine. Include after cmocka.h and gcache/engine.h,
// in a file whose enum defines V (the fixture model's vocabulary size).
#ifndef GC_TESTS_KV_FIXTURE_H
#define GC_TESTS_KV_FIXTURE_H
#include <math.h>
#include <stdint.h>

// ids[i] = (seed · 131 + i · 29) mod vocab: a prompt that differs per seed.
static inline void ids_of(int32_t *ids, int n, int seed, int vocab) {
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((seed * 131 + i * 29) % vocab);
}

// Appends n (<= 512) positions of prompt `seed` to kv in one step; logits
// (V floats) of the last position if not NULL.
static inline void feed(gc_engine *e, gc_kv *kv, int n, int seed, float *logits) {
    int32_t ids[512];
    ids_of(ids, n, seed, V);
    gc_seq_step st = {.kv = kv, .n = n, .ids = ids, .logits = logits};
    assert_int_equal(gc_engine_forward(e, &st, 1), GC_OK);
}

// A new cache of engine e holding n positions of prompt `seed` (caller frees).
static inline gc_kv *filled(gc_engine *e, int n, int seed) {
    gc_kv *kv;
    assert_int_equal(gc_kv_new(e, &kv), GC_OK);
    feed(e, kv, n, seed, NULL);
    return kv;
}

static inline double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}
#endif
