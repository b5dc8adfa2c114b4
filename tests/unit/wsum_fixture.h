// gc_kv_wsum through a backend's kv_wsum op, checked on the engine it runs
// on: test_kv_wsum.c (the CPU: f32 and q8 KV) and test_cuda.c (the device:
// bf16 and q8 KV). The op's result is compared with
//   itself, run again (the same bits: nothing depends on timing);
//   a = Σ fmaf(w_i, part_i) over the parts' gc_kv_read rows in f32, the rule
//   backend/backend.h prescribes: the same bits as a stored the way kv_set
//   stores it (f32 as is, bf16 rounded to nearest even, q8 quantized per
//   row of head_dim by gc_kv_q8_quantize), and within 1 bf16 ulp of a for
//   bf16 / one quantization step (max|a| over the row / 127) for q8.
// Include after cmocka.h, gcache/engine.h and engine/engine.h.
#ifndef GC_TESTS_WSUM_FIXTURE_H
#define GC_TESTS_WSUM_FIXTURE_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "backend/kv_q8.h"
#include "format/quant.h"

// Appends n positions of a prompt that differs per seed to kv, in one step.
static inline void wsum_feed(gc_engine *e, gc_kv *kv, int n, int seed) {
    const int64_t vocab = e->m->cfg.vocab_size;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((seed * 131 + i * 29 + 7) % vocab);
    gc_seq_step s = {.kv = kv, .n = n, .ids = ids};
    assert_int_equal(gc_engine_forward(e, &s, 1), GC_OK);
    free(ids);
}

static inline gc_kv *wsum_filled(gc_engine *e, int n, int seed) {
    gc_kv *kv;
    assert_int_equal(gc_kv_new(e, &kv), GC_OK);
    wsum_feed(e, kv, n, seed);
    return kv;
}

// gc_kv_wsum through the backend's op (which the engine must have).
static inline gc_kv *wsum_op(gc_engine *e, gc_kv *const *parts, const float *w, int n) {
    assert_non_null(e->pool.be->kv_wsum);
    gc_kv *r = NULL;
    gc_status s = gc_kv_wsum(parts, w, n, &r);
    if (s != GC_OK) fail_msg("gc_kv_wsum: %s", gc_last_error());
    return r;
}

// a and b hold the same bits at every position of every layer.
static inline void wsum_same_bits(const gc_kv *a, const gc_kv *b, const char *what) {
    const int64_t row = a->pool->row;
    assert_int_equal(gc_kv_len(a), gc_kv_len(b));
    float *k1 = malloc((size_t)row * 4), *v1 = malloc((size_t)row * 4), *k2 = malloc((size_t)row * 4),
          *v2 = malloc((size_t)row * 4);
    assert_true(k1 && v1 && k2 && v2);
    for (int64_t l = 0; l < a->pool->n_layers; l++)
        for (int64_t p = 0; p < gc_kv_len(a); p++) {
            assert_int_equal(gc_kv_read(a, l, p, k1, v1), GC_OK);
            assert_int_equal(gc_kv_read(b, l, p, k2, v2), GC_OK);
            if (memcmp(k1, k2, (size_t)row * 4) || memcmp(v1, v2, (size_t)row * 4))
                fail_msg("%s: layer %lld position %lld differs", what, (long long)l, (long long)p);
        }
    free(k1); free(v1); free(k2); free(v2);
}

// got (hd) against the f32 sum a (hd) of one row, by the pool's format:
// the bits of a as the format stores it, and within its rounding of a.
static inline void wsum_row_close(gc_kv_dtype t, const float *got, const float *a, int64_t hd, int64_t *exact) {
    float *want = malloc((size_t)hd * sizeof *want);
    int8_t *q = malloc((size_t)hd);
    assert_true(want && q);
    if (t == GC_KV_Q8) {
        float sc;
        gc_kv_q8_quantize(a, 1, hd, q, &sc);
        gc_kv_q8_dequantize(q, &sc, 1, hd, want);
    } else {
        for (int64_t j = 0; j < hd; j++) want[j] = t == GC_KV_BF16 ? gc_bf16_to_f32(gc_f32_to_bf16(a[j])) : a[j];
    }
    if (memcmp(got, want, (size_t)hd * sizeof *want))
        fail_msg("wsum row differs from the f32 sum stored as %s", gc_kv_dtype_name(t));
    free(want);
    free(q);
    float amax = 0.0f;
    for (int64_t j = 0; j < hd; j++) amax = fmaxf(amax, fabsf(a[j]));
    for (int64_t j = 0; j < hd; j++) {
        double tol = 0;
        if (t == GC_KV_BF16 && a[j] != 0.0f) {
            int ex;
            frexpf(a[j], &ex);   // |a| in [2^(ex-1), 2^ex): a bf16 ulp there is 2^(ex-8)
            tol = ldexp(1.0, ex - 8);
        } else if (t == GC_KV_Q8) {
            tol = amax / 127.0;
        }
        if (fabs((double)got[j] - a[j]) > tol)
            fail_msg("wsum value %g, f32 sum %g: off by more than %g", got[j], a[j], tol);
        *exact += got[j] == a[j];
    }
}

// r (= wsum of parts by w) against the sum of the parts' gc_kv_read rows.
static inline void wsum_vs_reads(const gc_kv *r, gc_kv *const *parts, const float *w, int n, const char *what) {
    const gc_kv_pool *P = r->pool;
    const int64_t row = P->row, hd = P->hd, len = gc_kv_len(r);
    float *k = malloc((size_t)row * 4), *v = malloc((size_t)row * 4), *ak = malloc((size_t)row * 4),
          *av = malloc((size_t)row * 4);
    assert_true(k && v && ak && av);
    int64_t exact = 0, total = 0;
    for (int64_t l = 0; l < P->n_layers; l++)
        for (int64_t p = 0; p < len; p++) {
            memset(ak, 0, (size_t)row * 4);
            memset(av, 0, (size_t)row * 4);
            for (int i = 0; i < n; i++) {
                assert_int_equal(gc_kv_read(parts[i], l, gc_kv_len(parts[i]) - len + p, k, v), GC_OK);
                for (int64_t j = 0; j < row; j++) {
                    ak[j] = fmaf(w[i], k[j], ak[j]);
                    av[j] = fmaf(w[i], v[j], av[j]);
                }
            }
            assert_int_equal(gc_kv_read(r, l, p, k, v), GC_OK);
            for (int64_t h = 0; h < row; h += hd) {
                wsum_row_close(P->dtype, k + h, ak + h, hd, &exact);
                wsum_row_close(P->dtype, v + h, av + h, hd, &exact);
            }
            total += 2 * row;
        }
    print_message("%s: the f32 sum as stored, bit for bit; %lld of %lld values equal to the f32 sum itself\n", what,
                  (long long)exact, (long long)total);
    free(k); free(v); free(ak); free(av);
}

// The op on parts: twice, and against the gc_kv_read sum.
static inline void wsum_compare(gc_engine *e, gc_kv *const *parts, const float *w, int n, int64_t want_len,
                                const char *what) {
    gc_kv *r1 = wsum_op(e, parts, w, n), *r2 = wsum_op(e, parts, w, n);
    assert_int_equal(gc_kv_len(r1), want_len);
    wsum_same_bits(r1, r2, "wsum run twice");
    wsum_vs_reads(r1, parts, w, n, what);
    gc_kv_free(r1); gc_kv_free(r2);
}

// Three parts of different lengths whose last 37 positions cross block
// boundaries and start inside blocks, one with per-layer scales:
//   a: 45 positions; its last 37 start at slot 8 of its first block;
//   b: a fork of a cut to a's last 30 (keep_last: a first span of slot 15
//      of a shared block), then 9 positions of its own in a new block (the
//      shared tail block is not written): 39, the last 37 from slot 1 of
//      a's second block on;
//   c: 37 positions, K scales on [3, 20), V scales on [12, 30) (spans with
//      K only, both, V only), and a gate on [5, 9), which wsum ignores.
// Weights not summing to 1, one negative. Then a plan larger than the CUDA
// backend's first upload buffer (7 parts, repeats allowed, of 600+ positions).
static inline void wsum_check(gc_engine *e, const char *what) {
    const int64_t L = e->pool.n_layers;
    assert_true(L <= 8);
    gc_kv *a = wsum_filled(e, 45, 1), *b, *c = wsum_filled(e, 37, 3);
    assert_int_equal(gc_kv_fork(a, &b), GC_OK);
    assert_int_equal(gc_kv_keep_last(b, 30), GC_OK);
    wsum_feed(e, b, 9, 2);
    float ks[8], vs[8];
    uint8_t gate[8];
    for (int64_t l = 0; l < L; l++) {
        ks[l] = 0.75f + 0.125f * (float)l;
        vs[l] = 1.3f - 0.2f * (float)l;
        gate[l] = l != 0;
    }
    assert_int_equal(gc_kv_scale(c, 3, 20, ks, NULL, NULL), GC_OK);
    assert_int_equal(gc_kv_scale(c, 12, 30, NULL, vs, NULL), GC_OK);
    assert_int_equal(gc_kv_scale(c, 5, 9, NULL, NULL, gate), GC_OK);
    gc_kv *parts[3] = {a, b, c};
    const float w[3] = {0.55f, -0.3f, 0.9f};
    wsum_compare(e, parts, w, 3, 37, what);

    gc_kv *x = wsum_filled(e, 640, 4), *y = wsum_filled(e, 601, 5);
    gc_kv *many[7] = {x, y, x, c, y, x, y};
    const float wm[7] = {0.25f, 1.5f, -0.75f, 0.1f, 0.3f, 0.2f, -0.6f};
    wsum_compare(e, many, wm, 7, 37, what);
    gc_kv *big[7] = {x, y, x, y, y, x, y};
    wsum_compare(e, big, wm, 7, 601, what);
    gc_kv_free(a); gc_kv_free(b); gc_kv_free(c); gc_kv_free(x); gc_kv_free(y);
}
#endif
