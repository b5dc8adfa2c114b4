// Chunked prefill in the agent scheduler: with a prefill budget of a few rows
// per step (prompts and scoring text enter over many steps, mixed with other
// nodes' latent and decode rows) every pipeline gives bit-identical results
// to unlimited prefill on the CPU — texts, finish reasons, token counts,
// exposed cache lengths and teacher-forced scores — because the engine's
// kernels treat rows independently and attention reads the cache. Seeded
// sampling checks that a node draws its first token only after its last chunk.
// Every pipeline runs on the tiny test model; single, TextMAS, LatentMAS and
// G-cache also on SmolLM2-135M (fast quantized path) when GC_SMOL_GGUF names it.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gcache/chat.h"
#include "gcache/graph.h"
#include "gcache/mas.h"

#define NQ 3

typedef struct fx {
    gc_model *m;
    gc_engine *e;
    gc_realign *ra;
    const gc_tokenizer *tok;
    gc_prompt_set *ps;
    gc_chat_style style;
} fx;

static const char *QS[NQ] = {"what is 2 + 3?", "Tom has 3 apples and buys twice as many pears as apples. How many fruits?",
                             "7 * 8"};

// The pipelines: the MAS methods and the agent graph in cache and text mode.
typedef enum pipe { P_SINGLE, P_TEXTMAS, P_LATENTMAS, P_LATENTMAS_HIER, P_GCACHE, P_GCACHE_TEXT, P_COUNT } pipe;
static const char *PIPE_NAMES[P_COUNT] = {"single", "textmas", "latentmas", "latentmas hierarchical", "gcache",
                                          "gcache text"};

static void build(const fx *f, pipe p, int q, gc_qgraph *g) {
    if (p == P_GCACHE || p == P_GCACHE_TEXT) {
        gc_graph_params gp = gc_graph_default_params();
        gp.n_agents = 3;
        gp.cache_mode = p == P_GCACHE;
        gp.latent_steps = 2;
        gp.max_tokens = 8;
        gp.agent_max_tokens = 5;
        gp.style = f->style;
        gc_topo t;
        assert_int_equal(gc_topology_fixed(GC_TOPO_FULL, gp.n_agents, (uint64_t)q, &t), GC_OK);
        assert_int_equal(gc_graph_build(f->ps, &gp, &t, NULL, QS[q], 11 + (uint64_t)q, g), GC_OK);
    } else {
        gc_mas_params mp = gc_mas_default_params();
        mp.method = p == P_SINGLE ? GC_METHOD_SINGLE : p == P_TEXTMAS ? GC_METHOD_TEXTMAS : GC_METHOD_LATENTMAS;
        mp.mode = p == P_LATENTMAS_HIER ? GC_MAS_HIERARCHICAL : GC_MAS_SEQUENTIAL;
        mp.latent_steps = 2;
        mp.max_tokens = 8;
        mp.agent_max_tokens = 5;
        mp.style = f->style;
        assert_int_equal(gc_mas_build(f->ps, &mp, QS[q], 11 + (uint64_t)q, g), GC_OK);
    }
    // The answer is scored too (teacher forcing on a fork, fed like a prompt).
    g->nodes[g->output].score_prefix = "The answer is \\boxed{";
    g->nodes[g->output].score_text = "5} and that is all there is to it.";
}

static void run_all(const fx *f, pipe p, int prefill_rows, gc_qgraph *g) {
    gc_qgraph *gp[NQ];
    for (int q = 0; q < NQ; q++) {
        build(f, p, q, &g[q]);
        gp[q] = &g[q];
    }
    gc_sched_params sp = gc_sched_default_params();
    sp.sampling.temperature = 0.8f;
    sp.sampling.top_p = 0.95f;
    sp.realign = f->ra;
    sp.prefill_rows = prefill_rows;
    if (gc_sched_run(f->e, f->tok, gp, NQ, &sp) != GC_OK) fail_msg("%s: %s", PIPE_NAMES[p], gc_last_error());
}

static void expect_same(pipe p, const gc_qgraph *a, const gc_qgraph *b) {
    for (int q = 0; q < NQ; q++) {
        assert_int_equal(a[q].n_nodes, b[q].n_nodes);
        for (int i = 0; i < a[q].n_nodes; i++) {
            const gc_node *x = &a[q].nodes[i], *y = &b[q].nodes[i];
            if ((x->text == NULL) != (y->text == NULL) || (x->text && strcmp(x->text, y->text) != 0))
                fail_msg("%s q%d node %d: '%s' vs '%s'", PIPE_NAMES[p], q, i, x->text ? x->text : "(none)",
                         y->text ? y->text : "(none)");
            assert_int_equal(x->finish, y->finish);
            assert_int_equal(x->prompt_tokens, y->prompt_tokens);
            assert_int_equal(x->out_tokens, y->out_tokens);
            assert_int_equal(x->latent_done, y->latent_done);
            assert_int_equal(x->cache_in_len, y->cache_in_len);
            assert_int_equal(x->cache_out_len, y->cache_out_len);
            assert_int_equal(x->score_tokens, y->score_tokens);
            if (x->score_logp != y->score_logp)
                fail_msg("%s q%d node %d: score %.17g vs %.17g", PIPE_NAMES[p], q, i, x->score_logp, y->score_logp);
        }
    }
}

// Every pipeline on the tiny model; on SmolLM2 (slower) the four methods.
static void check_model(fx *f, bool all) {
    f->tok = gc_model_tokenizer(f->m);
    assert_non_null(f->tok);
    f->style = gc_chat_detect(gc_tokenizer_chat_template(f->tok));
    assert_int_equal(gc_realign_new(f->m, true, 0, &f->ra), GC_OK);
    assert_int_equal(gc_prompts_load("math", &f->ps), GC_OK);
    for (int p = 0; p < P_COUNT; p++) {
        if (!all && (p == P_LATENTMAS_HIER || p == P_GCACHE_TEXT)) continue;
        gc_qgraph whole[NQ], chunked[NQ];
        run_all(f, (pipe)p, 0, whole);
        run_all(f, (pipe)p, 7, chunked);
        int64_t longest = 0;
        for (int q = 0; q < NQ; q++)
            for (int i = 0; i < whole[q].n_nodes; i++)
                if (whole[q].nodes[i].prompt_tokens > longest) longest = whole[q].nodes[i].prompt_tokens;
        assert_true(longest > 7);   // the budget splits prompts
        expect_same((pipe)p, whole, chunked);
        assert_true(whole[0].nodes[whole[0].output].score_tokens > 0);
        for (int q = 0; q < NQ; q++) {
            gc_mas_clear(&whole[q]);
            gc_mas_clear(&chunked[q]);
        }
    }
    gc_prompts_free(f->ps);
    gc_realign_free(f->ra);
    gc_engine_free(f->e);
    gc_model_free(f->m);
}

static void test_tiny(void **st) {
    (void)st;
    fx f = {0};
    assert_int_equal(gc_model_load("tests/data/tiny/chat", &f.m), GC_OK);
    assert_int_equal(gc_engine_new(f.m, NULL, &f.e), GC_OK);
    check_model(&f, true);
}

static void test_smol(void **st) {
    (void)st;
    const char *path = getenv("GC_SMOL_GGUF");
    if (!path || !*path) skip();
    fx f = {0};
    if (gc_model_load(path, &f.m) != GC_OK) fail_msg("%s", gc_last_error());
    gc_engine_params ep = gc_engine_default_params();   // the fast path: int8 activations on quantized blocks
    assert_int_equal(gc_engine_new(f.m, &ep, &f.e), GC_OK);
    check_model(&f, false);
}

// A budget of one row still runs everything (every step feeds one prompt row
// next to the decoding nodes).
static void test_one_row(void **st) {
    (void)st;
    fx f = {0};
    assert_int_equal(gc_model_load("tests/data/tiny/chat", &f.m), GC_OK);
    assert_int_equal(gc_engine_new(f.m, NULL, &f.e), GC_OK);
    f.tok = gc_model_tokenizer(f.m);
    f.style = gc_chat_detect(gc_tokenizer_chat_template(f.tok));
    assert_int_equal(gc_realign_new(f.m, true, 0, &f.ra), GC_OK);
    assert_int_equal(gc_prompts_load("math", &f.ps), GC_OK);
    gc_qgraph whole[NQ], chunked[NQ];
    run_all(&f, P_LATENTMAS, 0, whole);
    run_all(&f, P_LATENTMAS, 1, chunked);
    expect_same(P_LATENTMAS, whole, chunked);
    for (int q = 0; q < NQ; q++) {
        gc_mas_clear(&whole[q]);
        gc_mas_clear(&chunked[q]);
    }
    gc_prompts_free(f.ps);
    gc_realign_free(f.ra);
    gc_engine_free(f.e);
    gc_model_free(f.m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_one_row),
        cmocka_unit_test(test_smol),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
