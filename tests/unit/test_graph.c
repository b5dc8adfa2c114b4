// Topologies, graph unrolling (rounds, temporal edges, memory, decision
// node) and cache fusion (weighted sum + per-layer gates) in the scheduler.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gcache/graph.h"

static int n_edges(const gc_topo *t) {
    int k = 0;
    for (int i = 0; i < t->n; i++) for (int j = 0; j < t->n; j++) k += t->spatial[i][j];
    return k;
}

static bool acyclic(const gc_topo *t) {
    for (int i = 0; i < t->n; i++)
        for (int j = 0; j < t->n; j++)
            if (t->spatial[i][j]) {
                gc_topo c = *t;
                c.spatial[i][j] = 0;
                if (gc_topo_closes_cycle(&c, i, j)) return false;
            }
    return true;
}

static void test_fixed_topologies(void **st) {
    (void)st;
    gc_topo t;
    assert_int_equal(gc_topology_fixed(GC_TOPO_CHAIN, 4, 0, &t), GC_OK);
    assert_int_equal(n_edges(&t), 3);
    assert_true(t.spatial[0][1] && t.spatial[1][2] && t.spatial[2][3]);
    assert_int_equal(gc_topology_fixed(GC_TOPO_FULL, 5, 0, &t), GC_OK);
    assert_int_equal(n_edges(&t), 10);   // i→j for i<j
    for (int i = 0; i < 5; i++) for (int j = 0; j < 5; j++) assert_int_equal(t.spatial[i][j], i < j);
    assert_int_equal(gc_topology_fixed(GC_TOPO_STAR, 4, 0, &t), GC_OK);
    assert_int_equal(n_edges(&t), 3);
    assert_true(t.spatial[0][1] && t.spatial[0][2] && t.spatial[0][3]);
    assert_int_equal(gc_topology_fixed(GC_TOPO_MESH, 5, 0, &t), GC_OK);
    assert_int_equal(n_edges(&t), 7);
    assert_int_equal(gc_topology_fixed(GC_TOPO_LAYERED, 6, 0, &t), GC_OK);
    assert_int_equal(n_edges(&t), 8);   // layers {0,1} {2,3} {4,5}
    assert_true(t.spatial[1][2] && t.spatial[3][4] && !t.spatial[0][4]);
    assert_int_equal(gc_topology_fixed(GC_TOPO_DEBATE, 3, 0, &t), GC_OK);
    assert_int_equal(n_edges(&t), 0);
    assert_true(t.temporal[0][2] && t.temporal[2][2]);
    assert_int_equal(gc_topology_fixed(GC_TOPO_DIRECT, 4, 0, &t), GC_OK);
    assert_int_equal(t.n, 1);
    int total = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        assert_int_equal(gc_topology_fixed(GC_TOPO_RANDOM, 6, seed, &t), GC_OK);
        assert_true(acyclic(&t));
        total += n_edges(&t);
    }
    assert_true(total > 20 * 3 && total < 20 * 13);   // about half of the 15 possible per draw
    gc_topo a, b;
    gc_topology_fixed(GC_TOPO_RANDOM, 6, 7, &a);
    gc_topology_fixed(GC_TOPO_RANDOM, 6, 7, &b);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(gc_topology_fixed(GC_TOPO_LEARNED, 4, 0, &t), GC_ERR_INVALID_ARG);
    assert_int_equal(gc_topology_fixed(GC_TOPO_CHAIN, 99, 0, &t), GC_ERR_INVALID_ARG);
    gc_topology k;
    assert_int_equal(gc_topology_from_name("fullconnected", &k), GC_OK);
    assert_int_equal(k, GC_TOPO_FULL);
    assert_int_equal(gc_topology_from_name("ring", &k), GC_ERR_INVALID_ARG);
}

static void test_build_rounds(void **st) {
    (void)st;
    gc_prompt_set *ps;
    assert_int_equal(gc_prompts_load("math", &ps), GC_OK);
    assert_int_equal(gc_prompts_n_roles(ps), 4);
    assert_string_equal(gc_prompts_role_name(ps, 5), "mathematical analyst");   // roles cycle
    double adj[25];
    gc_prompts_role_adjacency(ps, 5, adj);
    for (int i = 0; i < 5; i++) {
        assert_true(adj[i * 5 + i] == 0);
        for (int j = 0; j < 5; j++) assert_true(adj[i * 5 + j] == adj[j * 5 + i]);
    }
    // Every embedded role graph must leave some agent pairs unconnected: with a
    // complete graph Â = D^-1/2 (A+I) D^-1/2 averages all nodes, every GCN row
    // becomes identical and the learned edge probabilities are all 1/2.
    const char *fams[] = {"math", "choice", "code"};
    for (int f = 0; f < 3; f++) {
        gc_prompt_set *q;
        assert_int_equal(gc_prompts_load(fams[f], &q), GC_OK);
        double a4[16];
        gc_prompts_role_adjacency(q, 4, a4);
        int zeros = 0;
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) zeros += i != j && a4[i * 4 + j] == 0;
        assert_true(zeros > 0);
        gc_prompts_free(q);
    }
    gc_topo t;
    gc_topology_fixed(GC_TOPO_CHAIN, 3, 0, &t);
    t.spatial[0][1] = 0;
    t.spatial[2][0] = 1;   // edges 1→2, 2→0: order 1, 2, 0
    gc_graph_params p = gc_graph_default_params();
    p.n_agents = 3;
    p.rounds = 2;
    p.latent_steps = 2;
    gc_qgraph g;
    assert_int_equal(gc_graph_build(ps, &p, &t, NULL, "q?", 1, &g), GC_OK);
    assert_int_equal(g.n_nodes, 7);
    assert_int_equal(g.output, 6);
    assert_string_equal(g.nodes[0].role, "mathematical analyst");   // agent 1 runs first
    assert_int_equal(g.nodes[1].n_preds, 1);                         // agent 2 ← agent 1
    assert_int_equal(g.nodes[1].preds[0], 0);
    assert_int_equal(g.nodes[2].preds[0], 1);                         // agent 0 ← agent 2
    // Round 2: agent 1 has no spatial pred but remembers itself from round 1.
    assert_int_equal(g.nodes[3].n_preds, 1);
    assert_int_equal(g.nodes[3].preds[0], 0);
    assert_int_equal(g.nodes[4].n_preds, 2);                          // 1 (spatial) + itself (memory)
    assert_int_equal(g.nodes[6].n_preds, 3);                          // decision reads the last round
    assert_true(g.nodes[6].preds[0] >= 3);
    assert_int_equal(g.nodes[2].latent_steps, 2);
    assert_int_equal(g.nodes[6].latent_steps, 0);
    assert_true(g.nodes[6].max_tokens > 0);
    assert_true(g.nodes[4].fuse_w[0] == 0.5f && g.nodes[4].fuse_w[1] == 0.5f);
    assert_null(strstr(g.nodes[4].prompt, "{context}"));              // cache mode: no text hand-over
    gc_mas_clear(&g);
    p.cache_mode = false;
    assert_int_equal(gc_graph_build(ps, &p, &t, NULL, "q?", 1, &g), GC_OK);
    assert_non_null(strstr(g.nodes[4].prompt, "{context}"));
    assert_true(g.nodes[4].text_in);
    assert_int_equal(g.nodes[4].latent_steps, 0);
    gc_mas_clear(&g);
    gc_prompts_free(ps);
}

// A node with two predecessors, fused by weighted sum and gated in layer 1,
// equals doing the same with the cache operations by hand.
static void test_wsum_gate_fusion(void **st) {
    (void)st;
    gc_model *m;
    gc_engine *e;
    assert_int_equal(gc_model_load("tests/data/tiny/chat", &m), GC_OK);
    assert_int_equal(gc_engine_new(m, NULL, &e), GC_OK);
    const gc_tokenizer *tok = gc_model_tokenizer(m);
    gc_qgraph g;
    memset(&g, 0, sizeof g);
    static const uint8_t gate[2] = {1, 0};
    const char *pa = "<|im_start|>user\nfirst agent<|im_end|>\n", *pb = "<|im_start|>user\nsecond, longer agent text<|im_end|>\n";
    const char *pc = "<|im_start|>user\nfuse<|im_end|>\n<|im_start|>assistant\n";
    g.nodes[0] = (gc_node){.role = "a", .prompt = pa, .pass = GC_PASS_WHOLE};
    g.nodes[1] = (gc_node){.role = "b", .prompt = pb, .pass = GC_PASS_WHOLE};
    g.nodes[2] = (gc_node){.role = "c", .prompt = pc, .n_preds = 2, .preds = {0, 1}, .fuse = GC_FUSE_WSUM,
                           .fuse_w = {0.25f, 0.75f}, .gate = gate, .max_tokens = 6};
    g.n_nodes = 3;
    g.output = 2;
    gc_qgraph *gs[] = {&g};
    gc_sched_params sp;
    memset(&sp, 0, sizeof sp);
    sp.sampling = gc_sampler_default_params();
    assert_int_equal(gc_sched_run(e, tok, gs, 1, &sp), GC_OK);
    // By hand.
    gc_kv *a, *b, *f;
    const char *ps_[] = {pa, pb};
    gc_kv **kvs[] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        int32_t *ids;
        size_t n;
        gc_tokenizer_encode(tok, ps_[i], strlen(ps_[i]), true, &ids, &n);
        gc_kv_new(e, kvs[i]);
        gc_seq_step s = {.kv = *kvs[i], .n = (int64_t)n, .ids = ids};
        assert_int_equal(gc_engine_forward(e, &s, 1), GC_OK);
        free(ids);
    }
    gc_kv *parts[] = {a, b};
    float w[] = {0.25f, 0.75f};
    assert_int_equal(gc_kv_wsum(parts, w, 2, &f), GC_OK);
    assert_int_equal(g.nodes[2].cache_in_len, gc_kv_len(f));
    assert_int_equal(gc_kv_scale(f, 0, gc_kv_len(f), NULL, NULL, gate), GC_OK);
    int32_t *ids;
    size_t n;
    gc_tokenizer_encode(tok, pc, strlen(pc), true, &ids, &n);
    float logits[545];
    gc_seq_step s = {.kv = f, .n = (int64_t)n, .ids = ids, .logits = logits};
    assert_int_equal(gc_engine_forward(e, &s, 1), GC_OK);
    free(ids);
    int32_t out[8];
    int k = 0;
    for (; k < 6; k++) {
        int32_t best = 0;
        for (int v = 1; v < 545; v++) if (logits[v] > logits[best]) best = v;
        if (best == gc_tokenizer_find(tok, "<|im_end|>") || best == gc_tokenizer_find(tok, "<|endoftext|>")) break;
        out[k] = best;
        gc_seq_step d = {.kv = f, .n = 1, .ids = &best, .logits = logits};
        gc_engine_forward(e, &d, 1);
    }
    assert_int_equal(g.nodes[2].out_tokens, k);
    gc_detok *dt = gc_detok_new(tok, true);
    char want[512] = "";
    const char *piece;
    for (int i = 0; i < k; i++) {
        size_t l = gc_detok_push(dt, out[i], &piece);
        strncat(want, piece, l);
    }
    size_t l = gc_detok_flush(dt, &piece);
    strncat(want, piece, l);
    gc_detok_free(dt);
    assert_string_equal(g.nodes[2].text, want);
    gc_kv_free(a); gc_kv_free(b); gc_kv_free(f);
    gc_qgraph_clear(&g);
    gc_engine_free(e);
    gc_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_topologies), cmocka_unit_test(test_build_rounds),
        cmocka_unit_test(test_wsum_gate_fusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
