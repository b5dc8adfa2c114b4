// The agent scheduler and the LatentMAS / TextMAS graphs against a direct,
// step-by-step use of the engine (the definition of the methods), and batch
// invariance: many questions in one batch give the same answers as one by one.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gcache/mas.h"
#include "gcache/graph.h"

static gc_model *g_m;
static gc_engine *g_e;
static gc_realign *g_ra;
static const gc_tokenizer *g_tok;
static gc_prompt_set *g_ps;

static int setup(void **st) {
    (void)st;
    if (gc_model_load("tests/data/tiny/chat", &g_m) != GC_OK) return -1;
    if (gc_engine_new(g_m, NULL, &g_e) != GC_OK) return -1;
    if (gc_realign_new(g_m, true, 0, &g_ra) != GC_OK) return -1;
    g_tok = gc_model_tokenizer(g_m);
    return gc_prompts_load("math", &g_ps) == GC_OK && g_tok ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    gc_prompts_free(g_ps);
    gc_realign_free(g_ra);
    gc_engine_free(g_e);
    gc_model_free(g_m);
    return 0;
}

static gc_mas_params params(gc_method method, gc_mas_mode mode, gc_pass_mode pass) {
    gc_mas_params p = gc_mas_default_params();
    p.method = method;
    p.mode = mode;
    p.pass = pass;
    p.latent_steps = 3;
    p.max_tokens = 12;
    p.agent_max_tokens = 6;
    p.style = gc_chat_detect(gc_tokenizer_chat_template(g_tok));
    return p;
}

static gc_sched_params sched_params(void) {
    gc_sched_params sp;
    memset(&sp, 0, sizeof sp);
    sp.sampling = gc_sampler_default_params();   // greedy
    sp.realign = g_ra;
    return sp;
}

static int32_t argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

// Feeds the prompt of node `nd`, then its latent steps; returns logits/hidden of the last position.
static void manual_node(gc_kv *kv, const char *prompt, int latent, float *logits, float *hidden) {
    int32_t *ids;
    size_t n;
    assert_int_equal(gc_tokenizer_encode(g_tok, prompt, strlen(prompt), true, &ids, &n), GC_OK);
    gc_seq_step s = {.kv = kv, .n = (int64_t)n, .ids = ids, .logits = logits, .hidden = hidden};
    assert_int_equal(gc_engine_forward(g_e, &s, 1), GC_OK);
    free(ids);
    float emb[48];
    for (int k = 0; k < latent; k++) {
        gc_realign_apply(g_ra, hidden, emb);
        gc_seq_step l = {.kv = kv, .n = 1, .embeds = emb, .logits = logits, .hidden = hidden};
        assert_int_equal(gc_engine_forward(g_e, &l, 1), GC_OK);
    }
}

// Greedy decoding until <|im_end|> / max tokens; returns the number of tokens.
static int manual_decode(gc_kv *kv, float *logits, int max, int32_t *out) {
    int n = 0;
    int32_t stop = gc_tokenizer_find(g_tok, "<|im_end|>");
    for (; n < max; n++) {
        int32_t t = argmax(logits, 545);
        if (t == stop || t == gc_tokenizer_find(g_tok, "<|endoftext|>")) break;
        out[n] = t;
        if (n + 1 == max) { n++; break; }
        gc_seq_step d = {.kv = kv, .n = 1, .ids = &t, .logits = logits};
        assert_int_equal(gc_engine_forward(g_e, &d, 1), GC_OK);
    }
    return n;
}

// The scheduler's text is the streaming detokenizer's (invalid UTF-8 from a
// random model becomes U+FFFD), so build the expectation the same way.
static void check_text(const char *text, const int32_t *ids, int n) {
    gc_detok *d = gc_detok_new(g_tok, true);
    char want[4096] = "";
    const char *piece;
    for (int i = 0; i < n; i++) {
        size_t l = gc_detok_push(d, ids[i], &piece);
        strncat(want, piece, l);
    }
    size_t l = gc_detok_flush(d, &piece);
    strncat(want, piece, l);
    gc_detok_free(d);
    assert_string_equal(text, want);
}

// LatentMAS sequential: agents' prompts + latent steps accumulate in one cache;
// with pass=own/latent each agent hands on only its own / latent positions.
static void run_latentmas_vs_manual(gc_pass_mode pass) {
    gc_mas_params p = params(GC_METHOD_LATENTMAS, GC_MAS_SEQUENTIAL, pass);
    gc_qgraph g;
    assert_int_equal(gc_mas_build(g_ps, &p, "what is 2 + 3?", 1, &g), GC_OK);
    assert_int_equal(g.n_nodes, 4);
    gc_qgraph *gs[] = {&g};
    gc_sched_params sp = sched_params();
    assert_int_equal(gc_sched_run(g_e, g_tok, gs, 1, &sp), GC_OK);

    gc_kv *kv;
    assert_int_equal(gc_kv_new(g_e, &kv), GC_OK);
    float logits[545], hidden[48];
    for (int i = 0; i < 3; i++) {
        int64_t before = gc_kv_len(kv);
        manual_node(kv, g.nodes[i].prompt, 3, logits, hidden);
        int64_t keep = pass == GC_PASS_WHOLE ? gc_kv_len(kv) : pass == GC_PASS_OWN ? gc_kv_len(kv) - before : 3;
        assert_int_equal(gc_kv_keep_last(kv, keep), GC_OK);
        assert_int_equal(g.nodes[i].cache_out_len, keep);
        assert_int_equal(g.nodes[i].latent_done, 3);
    }
    assert_int_equal(g.nodes[3].cache_in_len, gc_kv_len(kv));
    manual_node(kv, g.nodes[3].prompt, 0, logits, hidden);
    int32_t out[64];
    int n = manual_decode(kv, logits, 12, out);
    assert_int_equal(g.nodes[3].out_tokens, n);
    check_text(g.nodes[g.output].text, out, n);
    gc_kv_free(kv);
    gc_mas_clear(&g);
}

static void test_latentmas_whole(void **st) { (void)st; run_latentmas_vs_manual(GC_PASS_WHOLE); }
static void test_latentmas_own(void **st) { (void)st; run_latentmas_vs_manual(GC_PASS_OWN); }
static void test_latentmas_latent_only(void **st) { (void)st; run_latentmas_vs_manual(GC_PASS_LATENT); }

// Hierarchical: the summarizer starts from the concatenation of the three
// domain agents' caches (each built from the question alone).
static void test_hierarchical_concat(void **st) {
    (void)st;
    gc_mas_params p = params(GC_METHOD_LATENTMAS, GC_MAS_HIERARCHICAL, GC_PASS_WHOLE);
    gc_qgraph g;
    assert_int_equal(gc_mas_build(g_ps, &p, "what is 2 + 3?", 1, &g), GC_OK);
    gc_qgraph *gs[] = {&g};
    gc_sched_params sp = sched_params();
    assert_int_equal(gc_sched_run(g_e, g_tok, gs, 1, &sp), GC_OK);
    gc_kv *parts[3];
    float logits[545], hidden[48];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gc_kv_new(g_e, &parts[i]), GC_OK);
        manual_node(parts[i], g.nodes[i].prompt, 3, logits, hidden);
        assert_int_equal(g.nodes[i].cache_in_len, 0);
    }
    gc_kv *kv;
    assert_int_equal(gc_kv_concat(parts, 3, &kv), GC_OK);
    assert_int_equal(g.nodes[3].cache_in_len, gc_kv_len(kv));
    manual_node(kv, g.nodes[3].prompt, 0, logits, hidden);
    int32_t out[64];
    int n = manual_decode(kv, logits, 12, out);
    check_text(g.nodes[3].text, out, n);
    for (int i = 0; i < 3; i++) gc_kv_free(parts[i]);
    gc_kv_free(kv);
    gc_mas_clear(&g);
}

// G-cache on FullConnected with the default hand-over (each agent passes its
// own segment, the receiver concatenates them in agent order): agent k's own
// segment was computed on top of the segments of agents < k, so the decision
// node's fused cache is exactly one contiguous sequence of the agents'
// prompts and latent steps, and its answer must equal decoding after it.
static void test_gcache_full_own_is_one_sequence(void **st) {
    (void)st;
    gc_graph_params gp = gc_graph_default_params();
    gp.latent_steps = 3;
    gp.max_tokens = 12;
    gp.style = gc_chat_detect(gc_tokenizer_chat_template(g_tok));
    assert_int_equal(gp.pass, GC_PASS_OWN);
    assert_int_equal(gp.fuse, GC_FUSE_CONCAT);
    gc_topo t;
    assert_int_equal(gc_topology_fixed(GC_TOPO_FULL, gp.n_agents, 1, &t), GC_OK);
    gc_qgraph g;
    assert_int_equal(gc_graph_build(g_ps, &gp, &t, NULL, "what is 2 + 3?", 1, &g), GC_OK);
    assert_int_equal(g.n_nodes, gp.n_agents + 1);
    gc_qgraph *gs[] = {&g};
    gc_sched_params sp = sched_params();
    assert_int_equal(gc_sched_run(g_e, g_tok, gs, 1, &sp), GC_OK);

    gc_kv *kv;
    assert_int_equal(gc_kv_new(g_e, &kv), GC_OK);
    float logits[545], hidden[48];
    for (int i = 0; i < gp.n_agents; i++) {
        assert_int_equal(g.nodes[i].cache_in_len, gc_kv_len(kv));
        manual_node(kv, g.nodes[i].prompt, 3, logits, hidden);
    }
    const gc_node *d = &g.nodes[g.output];
    assert_int_equal(d->n_preds, gp.n_agents);
    assert_int_equal(d->cache_in_len, gc_kv_len(kv));
    manual_node(kv, d->prompt, 0, logits, hidden);
    int32_t out[64];
    int n = manual_decode(kv, logits, 12, out);
    assert_int_equal(d->out_tokens, n);
    check_text(d->text, out, n);
    gc_kv_free(kv);
    gc_mas_clear(&g);
}

// TextMAS: every agent decodes text; later agents see it in their prompt.
static void test_textmas_context(void **st) {
    (void)st;
    gc_mas_params p = params(GC_METHOD_TEXTMAS, GC_MAS_SEQUENTIAL, GC_PASS_WHOLE);
    gc_qgraph g;
    assert_int_equal(gc_mas_build(g_ps, &p, "what is 2 + 3?", 1, &g), GC_OK);
    assert_non_null(strstr(g.nodes[3].prompt, "{context}"));
    assert_null(strstr(g.nodes[0].prompt, "{context}"));
    gc_qgraph *gs[] = {&g};
    gc_sched_params sp = sched_params();
    assert_int_equal(gc_sched_run(g_e, g_tok, gs, 1, &sp), GC_OK);
    for (int i = 0; i < 4; i++) {
        assert_non_null(g.nodes[i].text);
        assert_int_equal(g.nodes[i].cache_in_len, 0);   // text mode: no cache handed over
        assert_int_equal(g.nodes[i].latent_done, 0);
    }
    // The judger's prompt grew by the agents' texts: re-encode it by hand.
    char *ctx = calloc(1, 8192);
    for (int i = 0; i < 3; i++) {
        strcat(ctx, "[");
        strcat(ctx, g.nodes[i].role);
        strcat(ctx, "]:\n");
        strcat(ctx, g.nodes[i].text);
        strcat(ctx, "\n\n");
    }
    const char *mark = strstr(g.nodes[3].prompt, "{context}");
    char *full = calloc(1, 16384);
    memcpy(full, g.nodes[3].prompt, (size_t)(mark - g.nodes[3].prompt));
    strcat(full, ctx);
    strcat(full, mark + 9);
    int32_t *ids;
    size_t n;
    assert_int_equal(gc_tokenizer_encode(g_tok, full, strlen(full), true, &ids, &n), GC_OK);
    assert_int_equal(g.nodes[3].prompt_tokens, (int64_t)n);
    free(ids);
    free(full);
    free(ctx);
    gc_mas_clear(&g);
}

// Batch invariance for every method: 3 questions together == one by one.
static void test_batch_invariance(void **st) {
    (void)st;
    const char *qs[] = {"what is 2 + 3?", "a much longer question about apples and oranges and pears", "7 * 8"};
    gc_method methods[] = {GC_METHOD_SINGLE, GC_METHOD_TEXTMAS, GC_METHOD_LATENTMAS};
    for (int mi = 0; mi < 3; mi++) {
        gc_mas_params p = params(methods[mi], GC_MAS_SEQUENTIAL, GC_PASS_WHOLE);
        gc_qgraph batch[3], one[3];
        gc_qgraph *bp[3];
        for (int i = 0; i < 3; i++) {
            assert_int_equal(gc_mas_build(g_ps, &p, qs[i], (uint64_t)i, &batch[i]), GC_OK);
            assert_int_equal(gc_mas_build(g_ps, &p, qs[i], (uint64_t)i, &one[i]), GC_OK);
            bp[i] = &batch[i];
        }
        gc_sched_params sp = sched_params();
        assert_int_equal(gc_sched_run(g_e, g_tok, bp, 3, &sp), GC_OK);
        for (int i = 0; i < 3; i++) {
            gc_qgraph *op[] = {&one[i]};
            assert_int_equal(gc_sched_run(g_e, g_tok, op, 1, &sp), GC_OK);
            assert_string_equal(batch[i].nodes[batch[i].output].text, one[i].nodes[one[i].output].text);
            assert_true(batch[i].t_done > 0);
            gc_mas_clear(&batch[i]);
            gc_mas_clear(&one[i]);
        }
    }
}

// Teacher-forced scoring: the judger's Σ log p(score_text) equals feeding the
// same tokens after its prompt on the manual cache; its decoding is unchanged
// (the scoring runs on a fork); a node that does not decode is scored too.
static double manual_score(gc_kv *kv, const char *prefix, const char *text, int64_t *cnt) {
    int32_t *a, *b;
    size_t na, nb;
    assert_int_equal(gc_tokenizer_encode(g_tok, prefix, strlen(prefix), false, &a, &na), GC_OK);
    assert_int_equal(gc_tokenizer_encode(g_tok, text, strlen(text), false, &b, &nb), GC_OK);
    int32_t ids[128];
    memcpy(ids, a, na * 4);
    memcpy(ids + na, b, nb * 4);
    float *lg = malloc((na + nb) * 545 * sizeof(float));
    gc_kv *f;
    assert_int_equal(gc_kv_fork(kv, &f), GC_OK);
    gc_seq_step s = {.kv = f, .n = (int64_t)(na + nb), .ids = ids, .logits = lg, .logits_all = true};
    assert_int_equal(gc_engine_forward(g_e, &s, 1), GC_OK);
    double sum = 0;
    for (size_t t = na; t < na + nb; t++) {
        const float *row = lg + (t - 1) * 545;
        double mx = row[argmax(row, 545)], z = 0;
        for (int v = 0; v < 545; v++) z += exp((double)row[v] - mx);
        sum += row[ids[t]] - mx - log(z);
    }
    *cnt = (int64_t)nb;
    gc_kv_free(f);
    free(lg); free(a); free(b);
    return sum;
}

static void test_scoring(void **st) {
    (void)st;
    gc_mas_params p = params(GC_METHOD_LATENTMAS, GC_MAS_SEQUENTIAL, GC_PASS_WHOLE);
    gc_qgraph g, plain;
    assert_int_equal(gc_mas_build(g_ps, &p, "what is 2 + 3?", 1, &g), GC_OK);
    assert_int_equal(gc_mas_build(g_ps, &p, "what is 2 + 3?", 1, &plain), GC_OK);
    const char *pre = "The answer is \\boxed{", *ans = "5}";
    g.nodes[3].score_prefix = pre; g.nodes[3].score_text = ans;
    g.nodes[0].score_prefix = pre; g.nodes[0].score_text = "17}";
    gc_qgraph *gs[] = {&g, &plain};
    gc_sched_params sp = sched_params();
    assert_int_equal(gc_sched_run(g_e, g_tok, gs, 2, &sp), GC_OK);
    assert_string_equal(g.nodes[3].text, plain.nodes[3].text);
    assert_int_equal(plain.nodes[3].score_tokens, 0);

    gc_kv *kv;
    assert_int_equal(gc_kv_new(g_e, &kv), GC_OK);
    float logits[545], hidden[48];
    int64_t cnt;
    for (int i = 0; i < 3; i++) {
        manual_node(kv, g.nodes[i].prompt, 3, logits, hidden);
        if (i == 0) {
            double want = manual_score(kv, pre, "17}", &cnt);
            assert_int_equal(g.nodes[0].score_tokens, cnt);
            assert_true(fabs(g.nodes[0].score_logp - want) <= 1e-5 * fabs(want));
        }
    }
    manual_node(kv, g.nodes[3].prompt, 0, logits, hidden);
    double want = manual_score(kv, pre, ans, &cnt);
    print_message("judger: log p(answer) = %.4f over %lld tokens\n", want, (long long)cnt);
    assert_true(cnt >= 2);
    assert_int_equal(g.nodes[3].score_tokens, cnt);
    assert_true(want < 0 && fabs(g.nodes[3].score_logp - want) <= 1e-5 * fabs(want));
    gc_kv_free(kv);
    gc_mas_clear(&g);
    gc_mas_clear(&plain);
}

// Caches nobody will read are let go at once: in sequential TextMAS every
// successor reads text, so when a node finishes no KV block stays live.
static int64_t live_at_done[8];
static int n_done;
static void on_done(void *user, const gc_sched_event *ev) {
    if (ev->kind == GC_EV_NODE_DONE && n_done < 8) live_at_done[n_done++] = gc_engine_kv_live_blocks(user);
}

static void test_caches_released(void **st) {
    (void)st;
    gc_mas_params p = params(GC_METHOD_TEXTMAS, GC_MAS_SEQUENTIAL, GC_PASS_WHOLE);
    gc_qgraph g;
    assert_int_equal(gc_mas_build(g_ps, &p, "what is 2 + 3?", 1, &g), GC_OK);
    gc_qgraph *gs[] = {&g};
    gc_sched_params sp = sched_params();
    sp.on_event = on_done;
    sp.user = g_e;
    n_done = 0;
    assert_int_equal(gc_sched_run(g_e, g_tok, gs, 1, &sp), GC_OK);
    assert_int_equal(n_done, g.n_nodes);
    for (int i = 0; i < n_done; i++) assert_int_equal(live_at_done[i], 0);
    assert_int_equal(gc_engine_kv_live_blocks(g_e), 0);
    gc_mas_clear(&g);
}

static void test_bad_graphs(void **st) {
    (void)st;
    gc_qgraph g;
    memset(&g, 0, sizeof g);
    gc_qgraph *gs[] = {&g};
    gc_sched_params sp = sched_params();
    assert_int_equal(gc_sched_run(g_e, g_tok, gs, 1, &sp), GC_ERR_INVALID_ARG);   // no nodes
    g.n_nodes = 2;
    g.nodes[0].prompt = "<|im_start|>user\nhi<|im_end|>\n";
    g.nodes[1].prompt = "x";
    g.nodes[1].n_preds = 1;
    g.nodes[1].preds[0] = 1;   // itself: not an earlier node
    assert_int_equal(gc_sched_run(g_e, g_tok, gs, 1, &sp), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "predecessor"));
    gc_mas_params p = params(GC_METHOD_LATENTMAS, GC_MAS_SEQUENTIAL, GC_PASS_WHOLE);
    assert_int_equal(gc_mas_build(g_ps, &p, "q", 1, &g), GC_OK);
    sp.realign = NULL;   // latent steps without a realignment map
    assert_int_equal(gc_sched_run(g_e, g_tok, gs, 1, &sp), GC_ERR_INVALID_ARG);
    gc_mas_clear(&g);
    gc_prompt_set *ps;
    assert_int_equal(gc_prompts_load("nonsense", &ps), GC_ERR_INVALID_ARG);
    assert_int_equal(gc_prompts_for_task("gsm8k", &ps), GC_OK);
    assert_string_equal(gc_prompts_family(ps), "math");
    gc_prompts_free(ps);
    assert_int_equal(gc_prompts_for_task("humaneval", &ps), GC_OK);
    assert_string_equal(gc_prompts_family(ps), "code");
    gc_prompts_free(ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latentmas_whole), cmocka_unit_test(test_latentmas_own),
        cmocka_unit_test(test_latentmas_latent_only), cmocka_unit_test(test_hierarchical_concat),
        cmocka_unit_test(test_gcache_full_own_is_one_sequence),
        cmocka_unit_test(test_textmas_context), cmocka_unit_test(test_batch_invariance),
        cmocka_unit_test(test_bad_graphs), cmocka_unit_test(test_scoring),
        cmocka_unit_test(test_caches_released),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
