// The engine's CPU threads: forward passes (batched prefill with long rows,
// so every kernel takes its parallel path, then decode steps) give the same
// bits for every thread count and when stepped from another host thread;
// so does the realignment matrix. Tiny fixture models, plus SmolLM2 (Q4_1:
// per-thread dequantisation buffers) when GC_SMOL_GGUF is set, on which the
// CPU switches gc_engine_params.cpu.qgemm_avx2 and .gguf_layout (the fast
// matmul on the weights in place instead of their repacked copy) must not
// change a bit either.
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "gcache/model.h"
#include "gcache/engine.h"
#include "gcache/latent.h"
#include "core/threads.h"

enum { N_SEQ = 3, N_DECODE = 3 };

typedef struct run {
    const gc_model *m;
    int n_threads;
    bool avx2;             // gc_engine_params.cpu.qgemm_avx2
    bool gguf;             // gc_engine_params.cpu.gguf_layout
    int64_t lens[N_SEQ];   // prefill lengths
    float *out;            // all logits and hidden states, in a fixed order
    size_t n_out;
    gc_status st;
} run;

static size_t out_floats(const run *r, int64_t V, int64_t D) {
    size_t n = (size_t)(r->lens[0] * V);                    // seq 0: logits of every prefill row
    for (int s = 0; s < N_SEQ; s++) n += (size_t)(r->lens[s] * D);   // hidden of every prefill row
    n += (size_t)(N_SEQ - 1) * (size_t)V;                   // seqs 1..: last prefill logits
    n += (size_t)(N_DECODE * N_SEQ) * (size_t)(V + D);      // decode: logits + hidden
    return n;
}

// Prefill of N_SEQ sequences in one step, then N_DECODE batched greedy steps.
static void *run_main(void *arg) {
    run *r = arg;
    gc_model_info in;
    gc_model_get_info(r->m, &in);
    const int64_t V = in.vocab_size, D = in.hidden_size;
    r->n_out = out_floats(r, V, D);
    r->out = calloc(r->n_out, sizeof(float));
    gc_engine_params p = gc_engine_default_params();
    p.n_threads = r->n_threads;
    p.cpu.qgemm_avx2 = r->avx2;
    p.cpu.gguf_layout = r->gguf;
    gc_engine *e = NULL;
    gc_kv *kv[N_SEQ] = {0};
    int32_t *ids = NULL;
    if ((r->st = gc_engine_new(r->m, &p, &e)) != GC_OK) return NULL;
    if (gc_engine_n_threads(e) != r->n_threads) { r->st = GC_ERR_INTERNAL; goto done; }
    int64_t total = 0;
    for (int s = 0; s < N_SEQ; s++) total += r->lens[s];
    ids = malloc((size_t)total * sizeof *ids);
    for (int64_t i = 0; i < total; i++) ids[i] = (int32_t)((i * 7919 + 13) % V);
    gc_seq_step st[N_SEQ];
    float *o = r->out;
    int32_t next[N_SEQ];
    int64_t off = 0;
    for (int s = 0; s < N_SEQ; s++) {
        if ((r->st = gc_kv_new(e, &kv[s])) != GC_OK) goto done;
        st[s] = (gc_seq_step){.kv = kv[s], .n = r->lens[s], .ids = ids + off, .logits = o, .logits_all = s == 0,
                              .argmax = &next[s]};
        o += s == 0 ? r->lens[0] * V : V;
        off += r->lens[s];
    }
    for (int s = 0; s < N_SEQ; s++) {
        st[s].hidden = o;
        st[s].hidden_all = true;
        o += r->lens[s] * D;
    }
    if ((r->st = gc_engine_forward(e, st, N_SEQ)) != GC_OK) goto done;
    for (int k = 0; k < N_DECODE; k++) {
        for (int s = 0; s < N_SEQ; s++) {
            st[s] = (gc_seq_step){.kv = kv[s], .n = 1, .ids = &next[s], .logits = o, .hidden = o + V, .argmax = &next[s]};
            o += V + D;
        }
        if ((r->st = gc_engine_forward(e, st, N_SEQ)) != GC_OK) goto done;
    }
    if ((size_t)(o - r->out) != r->n_out) r->st = GC_ERR_INTERNAL;
done:
    for (int s = 0; s < N_SEQ; s++) gc_kv_free(kv[s]);
    free(ids);
    gc_engine_free(e);
    return NULL;
}

static void compare_thread_counts(const gc_model *m, const int64_t lens[N_SEQ]) {
    run base = {.m = m, .n_threads = 1};
    memcpy(base.lens, lens, sizeof base.lens);
    run_main(&base);
    assert_int_equal(base.st, GC_OK);
    static const int counts[] = {2, 3, 5};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
        run r = base;
        r.n_threads = counts[i];
        r.out = NULL;
        run_main(&r);
        assert_int_equal(r.st, GC_OK);
        assert_int_equal(r.n_out, base.n_out);
        if (memcmp(r.out, base.out, r.n_out * sizeof(float)) != 0) fail_msg("%d threads: outputs differ from 1 thread", r.n_threads);
        free(r.out);
    }
    // The same engine work on another host thread (as gcache serve steps it).
    run r = base;
    r.n_threads = 2;
    r.out = NULL;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_main, &r), 0);
    pthread_join(th, NULL);
    assert_int_equal(r.st, GC_OK);
    assert_memory_equal(r.out, base.out, r.n_out * sizeof(float));
    free(r.out);
    free(base.out);
}

static void test_tiny_models(void **st) {
    (void)st;
    // Qwen3 (q/k norms) with 600 rows in one step: rmsnorm (T·D > 32768) and
    // SwiGLU (T·F > 65536) go parallel too; the others (biases, one KV head) shorter.
    static const struct { const char *dir; int64_t lens[N_SEQ]; } cases[] = {
        {"tests/data/tiny/qwen3", {300, 200, 100}},
        {"tests/data/tiny/llama", {40, 17, 1}},
        {"tests/data/tiny/qwen2", {40, 17, 1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gc_model *m;
        assert_int_equal(gc_model_load(cases[i].dir, &m), GC_OK);
        compare_thread_counts(m, cases[i].lens);
        gc_model_free(m);
    }
}

static void test_smol(void **st) {
    (void)st;
    const char *path = getenv("GC_SMOL_GGUF");
    if (!path || !*path) skip();
    gc_model *m;
    assert_int_equal(gc_model_load(path, &m), GC_OK);
    static const int64_t lens[N_SEQ] = {24, 9, 1};
    compare_thread_counts(m, lens);
    gc_model_free(m);
}

// The fast matmul on its AVX2 kernels gives the bits of the best ISA (on a
// CPU without AVX-512 VNNI both runs take AVX2), and on the weights in the
// file's layout those of their repacked copy (Q4_1 layers, Q8_0 LM head).
static void test_smol_switches(void **st) {
    (void)st;
    const char *path = getenv("GC_SMOL_GGUF");
    if (!path || !*path) skip();
    gc_model *m;
    assert_int_equal(gc_model_load(path, &m), GC_OK);
    run base = {.m = m, .n_threads = 2, .lens = {24, 9, 1}};
    run_main(&base);
    assert_int_equal(base.st, GC_OK);
    for (int v = 1; v < 4; v++) {
        run r = base;
        r.out = NULL;
        r.avx2 = v & 1;
        r.gguf = v & 2;
        run_main(&r);
        assert_int_equal(r.st, GC_OK);
        assert_int_equal(r.n_out, base.n_out);
        if (memcmp(r.out, base.out, r.n_out * sizeof(float)) != 0)
            fail_msg("avx2 %d, GGUF layout %d: outputs differ from the defaults", r.avx2, r.gguf);
        free(r.out);
    }
    free(base.out);
    gc_model_free(m);
}

static void test_realign(void **st) {
    (void)st;
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen2", &m), GC_OK);
    gc_realign *r1, *r4;
    assert_int_equal(gc_realign_new_cached(m, true, NULL, 1, &r1), GC_OK);
    assert_int_equal(gc_realign_new_cached(m, true, NULL, 4, &r4), GC_OK);
    float h[64], e1[64], e4[64];
    for (int k = 0; k < 8; k++) {
        for (int i = 0; i < 64; i++) h[i] = (float)(((i + 3 * k) * 37) % 11) - 5.0f + 0.125f * (float)k;
        gc_realign_apply(r1, h, e1);
        gc_realign_apply(r4, h, e4);
        assert_memory_equal(e1, e4, sizeof e1);
    }
    gc_realign_free(r1);
    gc_realign_free(r4);
    gc_realign *bad = NULL;
    assert_int_equal(gc_realign_new_cached(m, true, NULL, -2, &bad), GC_ERR_INVALID_ARG);
    assert_null(bad);
    gc_model_free(m);
}

static void test_params(void **st) {
    (void)st;
    gc_model *m;
    assert_int_equal(gc_model_load("tests/data/tiny/qwen3", &m), GC_OK);
    gc_engine_params p = gc_engine_default_params();
    gc_engine *e = NULL;
    assert_int_equal(gc_engine_new(m, &p, &e), GC_OK);
    assert_int_equal(gc_engine_n_threads(e), gc_threads_default());
    gc_engine_free(e);
    p.n_threads = -1;
    assert_int_equal(gc_engine_new(m, &p, &e), GC_ERR_INVALID_ARG);
    p.n_threads = GC_POOL_MAX_THREADS + 1;
    assert_int_equal(gc_engine_new(m, &p, &e), GC_ERR_INVALID_ARG);
    gc_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_models),
        cmocka_unit_test(test_smol),
        cmocka_unit_test(test_smol_switches),
        cmocka_unit_test(test_realign),
        cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
