// A multi-agent method as a model (gcache/graph_model.h) on the tiny chat
// model: its answers and summed usage equal building the same graphs with
// gc_mas_build / gc_graph_build and running them on the scheduler; a
// `gcache run` folder's method (run.json, and policy.ckpt for a Learned
// topology) is read back, bad folders are refused by name; and gcache serve
// answers requests for the graph model's name with it.
#include "server_fixture.h"
#include <stdio.h>
#include <unistd.h>
#include "core/error.h"
#include "gcache/graph.h"
#include "gcache/graph_model.h"
#include "gcache/latent.h"
#include "gcache/learn.h"
#include "gcache/mas.h"

static const char *QS[] = {"What is 2+3?", "Name a prime number."};
static const uint64_t SEEDS[] = {11, 12};

// The definition: graphs built by hand, one scheduler run, the decision
// node's text and the per-question sums over nodes.
typedef gc_status (*build_fn)(const fx *f, gc_prompt_set *ps, int q, gc_qgraph *g, void *user);

static void run_by_hand(const fx *f, gc_prompt_set *ps, build_fn build, void *user, bool realign, gc_graph_answer *want) {
    gc_qgraph gs[2], *gp[2];
    memset(gs, 0, sizeof gs);
    for (int q = 0; q < 2; q++) {
        assert_int_equal(build(f, ps, q, &gs[q], user), GC_OK);
        gp[q] = &gs[q];
    }
    gc_realign *ra = NULL;
    if (realign) assert_int_equal(gc_realign_new(f->m, true, 1, &ra), GC_OK);
    gc_sched_params sp;
    memset(&sp, 0, sizeof sp);
    sp.sampling = gc_sampler_default_params();
    sp.realign = ra;
    assert_int_equal(gc_sched_run(f->e, gc_model_tokenizer(f->m), gp, 2, &sp), GC_OK);
    for (int q = 0; q < 2; q++) {
        const gc_node *d = &gs[q].nodes[gs[q].output];
        want[q] = (gc_graph_answer){.text = strdup(d->text ? d->text : ""), .finish = d->finish, .agents = gs[q].n_nodes};
        for (int k = 0; k < gs[q].n_nodes; k++) {
            want[q].prompt_tokens += gs[q].nodes[k].prompt_tokens;
            want[q].completion_tokens += gs[q].nodes[k].out_tokens;
            want[q].latent_steps += gs[q].nodes[k].latent_done;
        }
        gc_mas_clear(&gs[q]);
    }
    gc_realign_free(ra);
}

static void expect_same(gc_graph_model *gm, const gc_graph_answer *want, int max_tokens) {
    gc_graph_answer got[2];
    gc_sampler_params sp = gc_sampler_default_params();
    assert_int_equal(gc_graph_model_answer(gm, QS, SEEDS, 2, &sp, max_tokens, got), GC_OK);
    for (int q = 0; q < 2; q++) {
        assert_string_equal(got[q].text, want[q].text);
        assert_int_equal(got[q].finish, want[q].finish);
        assert_int_equal(got[q].prompt_tokens, want[q].prompt_tokens);
        assert_int_equal(got[q].completion_tokens, want[q].completion_tokens);
        assert_int_equal(got[q].latent_steps, want[q].latent_steps);
        assert_int_equal(got[q].agents, want[q].agents);
        assert_true(got[q].prompt_tokens > 0 && got[q].completion_tokens > 0);
        gc_graph_answer_clear(&got[q]);
    }
}

static int setup_fx(void **st) {
    fx *f = calloc(1, sizeof *f);
    if (!f || gc_model_load(MODEL, &f->m) != GC_OK) return -1;
    gc_engine_params ep = gc_engine_default_params();
    ep.n_threads = 1;
    if (gc_engine_new(f->m, &ep, &f->e) != GC_OK) return -1;
    *st = f;
    return 0;
}

static int teardown_fx(void **st) {
    fx *f = *st;
    gc_engine_free(f->e);
    gc_model_free(f->m);
    free(f);
    return 0;
}

// ---- single / TextMAS / LatentMAS

static gc_status build_mas(const fx *f, gc_prompt_set *ps, int q, gc_qgraph *g, void *user) {
    gc_mas_params mp = *(const gc_mas_params *)user;
    mp.style = gc_chat_detect(gc_tokenizer_chat_template(gc_model_tokenizer(f->m)));
    return gc_mas_build(ps, &mp, QS[q], SEEDS[q], g);
}

static void test_mas_methods(void **st) {
    fx *f = *st;
    gc_prompt_set *ps;
    assert_int_equal(gc_prompts_load("math", &ps), GC_OK);
    static const struct {
        const char *method, *mode;
    } cases[] = {{"single", NULL}, {"textmas", "sequential"}, {"latentmas", "sequential"}, {"latentmas", "hierarchical"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gc_graph_model_spec s = gc_graph_model_default_spec();
        s.method = cases[i].method;
        s.mode = cases[i].mode;
        s.latent_steps = 3;
        s.agent_max_tokens = 5;
        gc_graph_model *gm = NULL;
        assert_int_equal(gc_graph_model_open(f->e, gc_model_tokenizer(f->m), &s, &gm), GC_OK);
        assert_non_null(strstr(gc_graph_model_describe(gm), cases[i].method));
        gc_mas_params mp = gc_mas_default_params();
        assert_int_equal(gc_method_from_name(cases[i].method, &mp.method), GC_OK);
        if (cases[i].mode) assert_int_equal(gc_mas_mode_from_name(cases[i].mode, &mp.mode), GC_OK);
        mp.latent_steps = 3;
        mp.agent_max_tokens = 5;
        mp.max_tokens = 7;
        gc_graph_answer want[2];
        run_by_hand(f, ps, build_mas, &mp, mp.method == GC_METHOD_LATENTMAS, want);
        expect_same(gm, want, 7);
        if (mp.method == GC_METHOD_LATENTMAS) assert_true(want[0].latent_steps > 0);
        for (int q = 0; q < 2; q++) gc_graph_answer_clear(&want[q]);
        gc_graph_model_free(gm);
    }
    gc_prompts_free(ps);
}

// ---- the agent graph, fixed topologies

typedef struct fixed {
    gc_graph_params gp;
    gc_topology topo;
} fixed;

static gc_status build_fixed(const fx *f, gc_prompt_set *ps, int q, gc_qgraph *g, void *user) {
    fixed *x = user;
    x->gp.style = gc_chat_detect(gc_tokenizer_chat_template(gc_model_tokenizer(f->m)));
    gc_topo t;
    GC_TRY(gc_topology_fixed(x->topo, x->gp.n_agents, SEEDS[q], &t));
    return gc_graph_build(ps, &x->gp, &t, NULL, QS[q], SEEDS[q], g);
}

static void test_graph_fixed(void **st) {
    fx *f = *st;
    gc_prompt_set *ps;
    assert_int_equal(gc_prompts_load("math", &ps), GC_OK);
    for (int text = 0; text < 2; text++) {
        gc_graph_model_spec s = gc_graph_model_default_spec();
        s.method = "gcache";
        s.topology = text ? "Random" : "Chain";
        s.agents = 3;
        s.text_mode = text;
        s.latent_steps = 2;
        s.agent_max_tokens = 4;
        s.fuse = "wsum";
        gc_graph_model *gm = NULL;
        assert_int_equal(gc_graph_model_open(f->e, gc_model_tokenizer(f->m), &s, &gm), GC_OK);
        fixed x = {.gp = gc_graph_default_params()};
        assert_int_equal(gc_topology_from_name(s.topology, &x.topo), GC_OK);
        x.gp.n_agents = 3;
        x.gp.cache_mode = !text;
        x.gp.latent_steps = 2;
        x.gp.agent_max_tokens = 4;
        x.gp.fuse = GC_FUSE_WSUM;
        x.gp.max_tokens = 6;
        gc_graph_answer want[2];
        run_by_hand(f, ps, build_fixed, &x, !text, want);
        expect_same(gm, want, 6);
        for (int q = 0; q < 2; q++) gc_graph_answer_clear(&want[q]);
        gc_graph_model_free(gm);
    }
    // Bad specs are refused by name.
    gc_graph_model_spec s = gc_graph_model_default_spec();
    gc_graph_model *gm = NULL;
    s.method = "gcache";
    s.topology = "Circle";
    assert_int_equal(gc_graph_model_open(f->e, gc_model_tokenizer(f->m), &s, &gm), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "Circle"));
    s.topology = "Learned";
    assert_int_equal(gc_graph_model_open(f->e, gc_model_tokenizer(f->m), &s, &gm), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "policy"));
    s = gc_graph_model_default_spec();
    s.method = "debate";
    assert_int_equal(gc_graph_model_open(f->e, gc_model_tokenizer(f->m), &s, &gm), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "debate"));
    assert_null(gm);
    gc_prompts_free(ps);
}

// ---- a trained run folder (Learned topology)

static void write_text(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void remove_in(const char *dir, const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

typedef struct learned {
    gc_graph_params gp;
    gc_policy *pol;
    gc_engine *e;
    const gc_tokenizer *tok;
    gc_sample smp[2];
} learned;

// By hand: [embed(role_i) ‖ embed(question)] features, greedy choices, the graph.
static gc_status build_learned(const fx *f, gc_prompt_set *ps, int q, gc_qgraph *g, void *user) {
    learned *L = user;
    gc_model_info mi;
    gc_model_get_info(f->m, &mi);
    const int64_t D = mi.hidden_size;
    const int N = L->gp.n_agents;
    double *x = calloc((size_t)(N * 2 * D), sizeof *x), *qe = calloc((size_t)D, sizeof *qe);
    GC_TRY(gc_text_embed_model(L->e, L->tok, QS[q], qe));
    for (int i = 0; i < N; i++) {
        GC_TRY(gc_text_embed_model(L->e, L->tok, gc_prompts_role_description(ps, i), x + (size_t)i * 2 * (size_t)D));
        memcpy(x + (size_t)i * 2 * (size_t)D + D, qe, (size_t)D * sizeof *x);
    }
    GC_TRY(gc_policy_greedy(L->pol, x, &L->smp[q]));
    free(x);
    free(qe);
    L->gp.style = gc_chat_detect(gc_tokenizer_chat_template(L->tok));
    gc_fuser_choice fc = {.gate = L->smp[q].gate, .fuse_w = (const double(*)[GC_MAX_AGENTS])L->smp[q].fuse_w};
    return gc_graph_build(ps, &L->gp, &L->smp[q].topo, &fc, QS[q], SEEDS[q], g);
}

static const char *RUN_JSON =
    "{\"method\":\"gcache\",\"task\":\"gsm8k\",\"settings\":{\"seed\":0,\"max_tokens\":512,\"prompts\":\"embedded\","
    "\"pass\":\"default\",\"agent_max_tokens\":4,\"latent_steps\":2,\"realign\":true,\"topology\":\"Learned\","
    "\"agents\":3,\"rounds\":1,\"text_mode\":false,\"fuse\":\"concat\",\"eval_policy\":\"greedy\"}}\n";

static void test_run_folder(void **st) {
    fx *f = *st;
    const gc_tokenizer *tok = gc_model_tokenizer(f->m);
    gc_model_info mi;
    gc_model_get_info(f->m, &mi);
    char dir[] = "/tmp/gc_graph_run_XXXXXX";
    assert_non_null(mkdtemp(dir));
    gc_graph_model *gm = NULL;
    // No run.json: named.
    assert_int_equal(gc_graph_model_open_run(f->e, tok, dir, &gm), GC_ERR_IO);
    assert_non_null(strstr(gc_last_error(), "run.json"));
    // Learned without its policy: named.
    write_text(dir, "run.json", RUN_JSON);
    assert_int_equal(gc_graph_model_open_run(f->e, tok, dir, &gm), GC_ERR_IO);
    assert_non_null(strstr(gc_last_error(), "policy.ckpt"));
    // A policy for another number of agents: refused.
    gc_policy_params pp = gc_policy_default_params();
    pp.n_nodes = 4;
    pp.feat_dim = (int)(2 * mi.hidden_size);
    pp.n_layers = (int)mi.n_layers;
    pp.seed = 5;
    gc_policy *pol = NULL;
    char ck[512];
    snprintf(ck, sizeof ck, "%s/policy.ckpt", dir);
    assert_int_equal(gc_policy_new(&pp, NULL, &pol), GC_OK);
    assert_int_equal(gc_policy_save(pol, ck), GC_OK);
    gc_policy_free(pol);
    assert_int_equal(gc_graph_model_open_run(f->e, tok, dir, &gm), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "policy for 4 agents"));
    // The right policy: answers as the policy's greedy graph built by hand.
    pp.n_nodes = 3;
    assert_int_equal(gc_policy_new(&pp, NULL, &pol), GC_OK);
    assert_int_equal(gc_policy_save(pol, ck), GC_OK);
    assert_int_equal(gc_graph_model_open_run(f->e, tok, dir, &gm), GC_OK);
    assert_non_null(strstr(gc_graph_model_describe(gm), "Learned"));
    learned L = {.gp = gc_graph_default_params(), .pol = pol, .e = f->e, .tok = tok};
    L.gp.n_agents = 3;
    L.gp.latent_steps = 2;
    L.gp.agent_max_tokens = 4;
    L.gp.max_tokens = 6;
    gc_prompt_set *ps;
    assert_int_equal(gc_prompts_for_task("gsm8k", &ps), GC_OK);
    gc_graph_answer want[2];
    run_by_hand(f, ps, build_learned, &L, true, want);
    expect_same(gm, want, 6);
    for (int q = 0; q < 2; q++) {
        gc_graph_answer_clear(&want[q]);
        gc_sample_clear(&L.smp[q]);
    }
    gc_prompts_free(ps);
    gc_graph_model_free(gm);
    gc_policy_free(pol);
    // A run of the API method has no local agents.
    write_text(dir, "run.json", "{\"method\":\"api\",\"task\":\"gsm8k\",\"settings\":{}}");
    assert_int_equal(gc_graph_model_open_run(f->e, tok, dir, &gm), GC_ERR_UNSUPPORTED);
    assert_non_null(strstr(gc_last_error(), "api"));
    remove_in(dir, "run.json");
    remove_in(dir, "policy.ckpt");
    rmdir(dir);
}

// ---- gcache serve with the graph model

static void test_served(void **st) {
    fx *f = *st, g = *f;
    gc_graph_model_spec s = gc_graph_model_default_spec();
    s.method = "latentmas";
    s.latent_steps = 2;
    s.agent_max_tokens = 4;
    gc_graph_model *gm = NULL;
    assert_int_equal(gc_graph_model_open(f->e, gc_model_tokenizer(f->m), &s, &gm), GC_OK);
    gc_server_opts o = gc_server_default_opts();
    o.port = 0;
    o.log = NULL;
    assert_int_equal(gc_server_open(&o, &g.s), GC_OK);
    assert_int_equal(gc_server_set_graph(g.s, "gcache", gm), GC_ERR_INVALID_ARG);   // the model's own name
    assert_int_equal(gc_server_set_graph(g.s, "team", gm), GC_OK);
    assert_int_equal(gc_server_attach(g.s, f->m, f->e), GC_OK);
    snprintf(g.base, sizeof g.base, "http://127.0.0.1:%d", gc_server_port(g.s));
    // What the library answers for the last user message, seed 5, greedy, 6 tokens.
    gc_graph_answer want;
    const char *q = "What is 2+3?";
    const uint64_t seed = 5;
    gc_sampler_params sp = gc_sampler_default_params();
    const char *body = "{\"model\":\"team\",\"messages\":[{\"role\":\"user\",\"content\":\"ignored\"},"
                       "{\"role\":\"assistant\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":\"What is 2+3?\"}],"
                       "\"max_tokens\":6,\"temperature\":0,\"seed\":5}";
    resp r = post(&g, body);
    assert_int_equal(gc_graph_model_answer(gm, &q, &seed, 1, &sp, 6, &want), GC_OK);
    assert_int_equal(r.status, 200);
    cJSON *o2 = parse(&r);
    assert_string_equal(gc_json_get(o2, "model")->valuestring, "team");
    const cJSON *ch = cJSON_GetArrayItem(gc_json_get(o2, "choices"), 0), *u = gc_json_get(o2, "usage");
    assert_string_equal(gc_json_get(gc_json_get(ch, "message"), "content")->valuestring, want.text);
    assert_int_equal((int64_t)gc_json_get(u, "prompt_tokens")->valuedouble, want.prompt_tokens);
    assert_int_equal((int64_t)gc_json_get(u, "completion_tokens")->valuedouble, want.completion_tokens);
    cJSON_Delete(o2);
    free(r.body);
    // Streamed: the same text.
    char sbody[512];
    snprintf(sbody, sizeof sbody, "%.*s,\"stream\":true}", (int)strlen(body) - 1, body);
    streamed sr = post_stream(&g, sbody);
    assert_true(sr.done);
    assert_string_equal(sr.content[0], want.text);
    streamed_free(&sr);
    gc_graph_answer_clear(&want);
    // Listed; fields it cannot honour are refused by name; the plain model still answers.
    r = http(&g, "GET", "/v1/models", NULL, 0);
    assert_non_null(strstr(r.body, "\"team\""));
    assert_non_null(strstr(r.body, "latentmas"));
    free(r.body);
    expect_error(&g, "{\"model\":\"team\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":2}", 400, "\"n\"");
    expect_error(&g, "{\"model\":\"team\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":\"x\"}", 400, "stop");
    expect_error(&g, "{\"model\":\"team\",\"messages\":[{\"role\":\"system\",\"content\":\"hi\"}]}", 400, "user message");
    r = post(&g, "{\"model\":\"gcache\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"model\":\"gcache\""));
    free(r.body);
    gc_server_stop(g.s);
    gc_graph_model_free(gm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mas_methods),
        cmocka_unit_test(test_graph_fixed),
        cmocka_unit_test(test_run_folder),
        cmocka_unit_test(test_served),
    };
    return cmocka_run_group_tests(tests, setup_fx, teardown_fx);
}
