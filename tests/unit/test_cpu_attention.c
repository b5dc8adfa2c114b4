// gc_cpu_attention (backend/cpu/attention.c) against a float64 attention,
// and its invariance: a query's output bits are the same whatever queries
// are computed with it — alone (decode; the one-vector kernels), its head
// alone or with its GQA group (n_h 1, 2, 3, 7), its row among any run of
// rows (any place in a block of 4, a block padded by repeating its last
// query) — for head sizes that take the vector kernel (16, 24, 64, 80, 128:
// whole pieces and overlapping last pieces) and the scalar one (2, 12). The
// cache has segments with k/v scales, a hidden segment, a context before the
// first query (ctx_first_q > 0) and heads interleaved in its rows
// (kv_stride > hd); segments hold f32 rows or q8 rows (int8 and a scale per
// row and head, by the engine's quantizer), all of one kind or mixed. Every
// segment and the query matrix are allocations of their exact size, so
// that ASan sees any read past them.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/ops.h"
#include "backend/kv_q8.h"

static uint64_t g_s = 0x9e3779b97f4a7c15ULL;
static float rnd(void) {   // uniform in [-1, 1)
    g_s ^= g_s << 13; g_s ^= g_s >> 7; g_s ^= g_s << 17;
    return (float)((double)(g_s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

#define MAX_SEGS 5

typedef struct attn_case {
    int64_t hd, n_h, n_q, ctx_first;
    int n_segs;
    int64_t seg_n[MAX_SEGS];   // Σ seg_n = ctx_first + n_q
    float ks[MAX_SEGS], vs[MAX_SEGS];
    bool hidden[MAX_SEGS];
    bool q8[MAX_SEGS];         // the segment's rows are q8
} attn_case;

// Element x of row j of a segment's keys (kind 0) or values (kind 1), as the
// exact value its storage stands for.
static double elem(const gc_attn_seg *g, int kind, int64_t j, int64_t x, int64_t stride) {
    if (g->kq) {
        const int8_t *r = (kind ? g->vq : g->kq) + j * stride;
        return (double)r[x] * (kind ? g->vd : g->kd)[j * g->d_stride];
    }
    return (kind ? g->v : g->k)[j * stride + x];
}

// KV heads per cache row; the tested one is KV head 1, so its vectors start
// hd floats into each row. Query rows hold n_h + 1 heads, the tested group
// from head 1.
enum { KV_HEADS = 3 };

static void run_case(const attn_case *c) {
    const int64_t hd = c->hd, n_h = c->n_h, stride = KV_HEADS * hd, n_ctx = c->ctx_first + c->n_q;
    const int64_t qs = (n_h + 1) * hd;
    float *kv[2][MAX_SEGS], *kvd[2][MAX_SEGS] = {{NULL}};
    int8_t *kvq[2][MAX_SEGS] = {{NULL}};
    gc_attn_seg segs[MAX_SEGS];
    int64_t total = 0;
    for (int i = 0; i < c->n_segs; i++) {
        for (int t = 0; t < 2; t++) {
            kv[t][i] = malloc((size_t)(c->seg_n[i] * stride) * sizeof(float));
            assert_non_null(kv[t][i]);
            for (int64_t x = 0; x < c->seg_n[i] * stride; x++) kv[t][i][x] = t == 0 ? 2.0f * rnd() : rnd();
        }
        segs[i] = (gc_attn_seg){.k = kv[0][i] + hd, .v = kv[1][i] + hd, .n = c->seg_n[i], .k_scale = c->ks[i],
                                .v_scale = c->vs[i], .hidden = c->hidden[i]};
        if (c->q8[i]) {   // the engine's layout: a scale per (position, KV head), KV_HEADS apart
            for (int t = 0; t < 2; t++) {
                kvq[t][i] = malloc((size_t)(c->seg_n[i] * stride));
                kvd[t][i] = malloc((size_t)(c->seg_n[i] * KV_HEADS) * sizeof(float));
                assert_true(kvq[t][i] && kvd[t][i]);
                gc_kv_q8_quantize(kv[t][i], c->seg_n[i] * KV_HEADS, hd, kvq[t][i], kvd[t][i]);
            }
            segs[i].k = segs[i].v = NULL;
            segs[i].kq = kvq[0][i] + hd;
            segs[i].vq = kvq[1][i] + hd;
            segs[i].kd = kvd[0][i] + 1;
            segs[i].vd = kvd[1][i] + 1;
            segs[i].d_stride = KV_HEADS;
        }
        total += c->seg_n[i];
    }
    assert_int_equal(total, n_ctx);
    float *q = malloc((size_t)(c->n_q * qs) * sizeof(float));
    float *out = malloc((size_t)(c->n_q * qs) * sizeof(float));
    float *part = malloc((size_t)(c->n_q * qs) * sizeof(float));
    float *scratch = malloc((size_t)gc_cpu_attention_scratch(n_ctx) * sizeof(float));
    double *w = malloc((size_t)n_ctx * sizeof(double));
    assert_true(q && out && part && scratch && w);
    for (int64_t x = 0; x < c->n_q * qs; x++) q[x] = 2.0f * rnd();
    const float scale = (float)(1.0 / sqrt((double)hd));

    gc_cpu_attention(out + hd, qs, q + hd, qs, c->n_q, n_h, c->ctx_first, segs, c->n_segs, stride, hd, scale,
                     scratch);

    // float64 reference. The error of out[d] is measured against
    // Σ_p w_p·|v_scale·v_p[d]| (the sum without cancellation), to which each
    // f32 step adds rounding errors of a few 2^-24 (6e-8): the scores (FMA
    // chains over hd ≤ 128, then scale·k_scale; scores are O(1) here, so
    // their absolute error is the weights' relative one), exp (≤ 1.3 ulp), the
    // weight (1/sum, ·v_scale) and the FMA chain of the value sum over ≤ 111
    // positions, whose errors add up like a random walk (~√n·2^-24). Measured
    // 0.9e-7 to 6.3e-7 on these inputs (fixed seed); 4e-6 is ~6× that, and
    // a wrong position, scale, mask or weight is off by 1e-2 or more.
    double worst = 0;
    for (int64_t iv = 0; iv < c->n_q * n_h; iv++) {
        const int64_t i = iv / n_h, g = iv % n_h;
        const float *qi = q + i * qs + (1 + g) * hd;
        const int64_t n_vis = c->ctx_first + i + 1;
        double mx = -INFINITY;
        int64_t p = 0;
        for (int s = 0; s < c->n_segs && p < n_vis; s++)
            for (int64_t j = 0; j < c->seg_n[s] && p < n_vis; j++, p++) {
                w[p] = -INFINITY;
                if (c->hidden[s]) continue;
                double d = 0;
                for (int64_t x = 0; x < hd; x++) d += (double)qi[x] * elem(&segs[s], 0, j, x, stride);
                w[p] = d * scale * c->ks[s];
                if (w[p] > mx) mx = w[p];
            }
        const float *o = out + i * qs + (1 + g) * hd;
        if (mx == -INFINITY) {   // sees only hidden positions
            for (int64_t x = 0; x < hd; x++) assert_true(o[x] == 0.0f);
            continue;
        }
        double sum = 0;
        for (p = 0; p < n_vis; p++) sum += (w[p] = w[p] == -INFINITY ? 0.0 : exp(w[p] - mx));
        for (int64_t x = 0; x < hd; x++) {
            double r = 0, bound = 0;
            p = 0;
            for (int s = 0; s < c->n_segs && p < n_vis; s++)
                for (int64_t j = 0; j < c->seg_n[s] && p < n_vis; j++, p++) {
                    double t = w[p] / sum * c->vs[s] * elem(&segs[s], 1, j, x, stride);
                    r += t;
                    bound += fabs(t);
                }
            double e = fabs(o[x] - r) / bound;
            if (e > worst) worst = e;
        }
    }
    print_message("hd %3lld n_h %lld n_q %lld ctx_first %3lld q8 %d%d%d%d%d: worst error / Σ|w·v| = %.2e\n",
                  (long long)hd, (long long)n_h, (long long)c->n_q, (long long)c->ctx_first, c->q8[0], c->q8[1],
                  c->q8[2], c->q8[3], c->q8[4], worst);
    assert_true(worst <= 4e-6);

    // Rows [i, i + len), all heads, on their own give the bits of the whole call.
    const int64_t lens[] = {1, 2, 3, 4, 5, 7, 9};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (int64_t i = 0; i + lens[li] <= c->n_q; i++) {
            memset(part, 0xff, (size_t)(c->n_q * qs) * sizeof(float));
            gc_cpu_attention(part + i * qs + hd, qs, q + i * qs + hd, qs, lens[li], n_h, c->ctx_first + i, segs,
                             c->n_segs, stride, hd, scale, scratch);
            for (int64_t r = i; r < i + lens[li]; r++)
                assert_memory_equal(part + r * qs + hd, out + r * qs + hd, (size_t)(n_h * hd) * sizeof(float));
        }
    // Each head alone: all rows, then each row alone.
    for (int64_t g = 0; g < n_h; g++) {
        memset(part, 0xff, (size_t)(c->n_q * qs) * sizeof(float));
        gc_cpu_attention(part + (1 + g) * hd, qs, q + (1 + g) * hd, qs, c->n_q, 1, c->ctx_first, segs, c->n_segs,
                         stride, hd, scale, scratch);
        for (int64_t i = 0; i < c->n_q; i++) {
            float *o = part + i * qs + (1 + g) * hd;
            assert_memory_equal(o, out + i * qs + (1 + g) * hd, (size_t)hd * sizeof(float));
            memset(o, 0xff, (size_t)hd * sizeof(float));
            gc_cpu_attention(o, qs, q + i * qs + (1 + g) * hd, qs, 1, 1, c->ctx_first + i, segs, c->n_segs, stride,
                             hd, scale, scratch);
            assert_memory_equal(o, out + i * qs + (1 + g) * hd, (size_t)hd * sizeof(float));
        }
    }

    for (int i = 0; i < c->n_segs; i++)
        for (int t = 0; t < 2; t++) { free(kv[t][i]); free(kvq[t][i]); free(kvd[t][i]); }
    free(q); free(out); free(part); free(scratch); free(w);
}

// 37 rows after 70 positions of context: 4 segments with scales, the second
// hidden; the last segment holds the queries' own positions.
static attn_case prefill_after_context(int64_t hd, int64_t n_h) {
    return (attn_case){.hd = hd, .n_h = n_h, .n_q = 37, .ctx_first = 70, .n_segs = 4, .seg_n = {40, 17, 13, 37},
                       .ks = {0.9f, 1.0f, 1.3f, 1.0f}, .vs = {1.1f, 1.0f, 0.7f, 1.0f},
                       .hidden = {false, true, false, false}};
}

static void test_vector_head_sizes(void **state) {
    (void)state;
    const int64_t hds[][2] = {{64, 3}, {64, 7}, {128, 1}, {128, 2}, {16, 7}, {24, 2}, {80, 3}};
    for (size_t i = 0; i < sizeof hds / sizeof hds[0]; i++) {
        attn_case c = prefill_after_context(hds[i][0], hds[i][1]);
        run_case(&c);
    }
}

static void test_scalar_head_sizes(void **state) {
    (void)state;
    attn_case c = prefill_after_context(12, 3);
    run_case(&c);
    c = prefill_after_context(2, 1);
    run_case(&c);
}

// A prompt from position 0 whose segments cut through the blocks of 4 rows,
// the first segment hidden: rows 0-2 see nothing but it (zeros), so the
// block of rows 0-3 mixes a visible row with empty ones.
static void test_hidden_start(void **state) {
    (void)state;
    const int64_t hds[][2] = {{64, 3}, {128, 1}, {12, 2}};
    for (size_t i = 0; i < sizeof hds / sizeof hds[0]; i++) {
        attn_case c = {.hd = hds[i][0], .n_h = hds[i][1], .n_q = 41, .ctx_first = 0, .n_segs = 5, .seg_n = {3, 6, 1, 11, 20},
                       .ks = {1.0f, 0.5f, 2.0f, 1.0f, 1.0f}, .vs = {1.0f, 1.5f, 0.25f, 1.0f, 1.0f},
                       .hidden = {true, false, false, true, false}};
        run_case(&c);
    }
}

// q8 segments: all of them (the engine's q8 cache), and mixed with f32 ones.
static void test_q8(void **state) {
    (void)state;
    const int64_t hds[][2] = {{64, 3}, {128, 7}, {16, 2}, {12, 3}};
    for (size_t i = 0; i < sizeof hds / sizeof hds[0]; i++) {
        attn_case c = prefill_after_context(hds[i][0], hds[i][1]);
        for (int s = 0; s < c.n_segs; s++) c.q8[s] = true;
        run_case(&c);
        c.q8[0] = c.q8[2] = false;
        run_case(&c);
    }
    attn_case d = {.hd = 64, .n_h = 7, .n_q = 1, .ctx_first = 300, .n_segs = 2, .seg_n = {257, 44},
                   .ks = {1.0f, 0.8f}, .vs = {1.0f, 1.2f}, .q8 = {true, true}};
    run_case(&d);
}

// Decode: one row after a long context.
static void test_single_row(void **state) {
    (void)state;
    const int64_t hds[][2] = {{64, 1}, {64, 7}, {128, 3}, {128, 5}};
    for (size_t i = 0; i < sizeof hds / sizeof hds[0]; i++) {
        attn_case c = {.hd = hds[i][0], .n_h = hds[i][1], .n_q = 1, .ctx_first = 300, .n_segs = 2, .seg_n = {257, 44},
                       .ks = {1.0f, 0.8f}, .vs = {1.0f, 1.2f}, .hidden = {false, false}};
        run_case(&c);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_head_sizes),
        cmocka_unit_test(test_scalar_head_sizes),
        cmocka_unit_test(test_hidden_start),
        cmocka_unit_test(test_single_row),
        cmocka_unit_test(test_q8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
