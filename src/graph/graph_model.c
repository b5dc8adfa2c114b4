// A multi-agent method as a model (gcache/graph_model.h).
#include "gcache/graph_model.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "gcache/chat.h"
#include "gcache/graph.h"
#include "gcache/latent.h"
#include "gcache/learn.h"
#include "gcache/mas.h"
#include "gcache/sched.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gc_graph_model {
    gc_engine *e;
    const gc_tokenizer *tok;
    bool graph;            // the G-cache agent graph (else gc_mas_build)
    gc_mas_params mp;
    gc_graph_params gp;
    gc_topology topo;
    gc_prompt_set *ps;
    gc_realign *ra;        // when agents take latent steps
    gc_policy *pol;        // Learned
    double *role_emb;      // Learned: (N, D) role-description embeddings
    int64_t D;
    bool eval_sample;
    char desc[192];
};

gc_graph_model_spec gc_graph_model_default_spec(void) {
    return (gc_graph_model_spec){.method = "latentmas", .latent_steps = 10, .agent_max_tokens = 256,
                                 .topology = "FullConnected", .agents = 4, .rounds = 1, .fuse = "concat"};
}

void gc_graph_model_free(gc_graph_model *g) {
    if (!g) return;
    gc_prompts_free(g->ps);
    gc_realign_free(g->ra);
    gc_policy_free(g->pol);
    free(g->role_emb);
    free(g);
}

const char *gc_graph_model_describe(const gc_graph_model *g) { return g->desc; }

// The policy must fit this model and graph: N agents, features 2·D, one gate per layer.
static gc_status open_policy(gc_graph_model *g, const char *path) {
    if (!path) return gc_fail(GC_ERR_INVALID_ARG, "graph model: the Learned topology needs a policy checkpoint");
    GC_TRY(gc_policy_load(path, NULL, &g->pol));
    gc_model_info mi;
    gc_model_get_info(gc_engine_model(g->e), &mi);
    const gc_policy_params pp = gc_policy_get_config(g->pol);
    g->D = mi.hidden_size;
    if (pp.n_nodes != g->gp.n_agents || pp.feat_dim != 2 * g->D || pp.n_layers != (int)mi.n_layers)
        return gc_fail(GC_ERR_INVALID_ARG,
                       "%s: a policy for %d agents, %d features, %d layers; this model and graph need %d, %lld, %lld",
                       path, pp.n_nodes, pp.feat_dim, pp.n_layers, g->gp.n_agents, (long long)(2 * g->D),
                       (long long)mi.n_layers);
    const int N = g->gp.n_agents;
    if (!(g->role_emb = malloc((size_t)N * (size_t)g->D * sizeof *g->role_emb))) return gc_fail(GC_ERR_OOM, "out of memory");
    for (int i = 0; i < N; i++)
        GC_TRY(gc_text_embed_model(g->e, g->tok, gc_prompts_role_description(g->ps, i), g->role_emb + (size_t)i * (size_t)g->D));
    return GC_OK;
}

static gc_status open_graph(gc_graph_model *g, const gc_graph_model_spec *s, gc_chat_style style) {
    g->graph = true;
    // The decision node's max_tokens comes with each gc_graph_model_answer.
    const gc_graph_settings gs = {.agents = s->agents, .rounds = s->rounds, .text_mode = s->text_mode,
                                  .latent_steps = s->latent_steps, .max_tokens = gc_graph_default_params().max_tokens,
                                  .agent_max_tokens = s->agent_max_tokens, .think = s->think, .pass = s->pass,
                                  .fuse = s->fuse, .style = style};
    gc_status st = gc_graph_params_from(&gs, &g->gp);
    if (st != GC_OK) return gc_fail_wrap(st, "graph model");
    GC_TRY(gc_topology_from_name(s->topology ? s->topology : "FullConnected", &g->topo));
    if (g->topo == GC_TOPO_LEARNED) GC_TRY(open_policy(g, s->policy));
    g->eval_sample = s->eval_sample;
    snprintf(g->desc, sizeof g->desc, "gcache %s %s, %d agents, %d round%s (%s prompts)", gc_topology_name(g->topo),
             g->gp.cache_mode ? "cache" : "text", g->gp.n_agents, g->gp.rounds, g->gp.rounds == 1 ? "" : "s",
             gc_prompts_family(g->ps));
    return GC_OK;
}

static gc_status open_mas(gc_graph_model *g, const gc_graph_model_spec *s) {
    g->mp = gc_mas_default_params();
    GC_TRY(gc_method_from_name(s->method, &g->mp.method));
    if (s->mode) GC_TRY(gc_mas_mode_from_name(s->mode, &g->mp.mode));
    if (s->pass) GC_TRY(gc_pass_from_name(s->pass, &g->mp.pass));
    g->mp.latent_steps = s->latent_steps;
    g->mp.agent_max_tokens = s->agent_max_tokens;
    g->mp.think = s->think;
    snprintf(g->desc, sizeof g->desc, "%s%s%s (%s prompts)", gc_method_name(g->mp.method),
             g->mp.method == GC_METHOD_SINGLE ? "" : " ",
             g->mp.method == GC_METHOD_SINGLE ? "" : g->mp.mode == GC_MAS_SEQUENTIAL ? "sequential" : "hierarchical",
             gc_prompts_family(g->ps));
    return GC_OK;
}

gc_status gc_graph_model_open(gc_engine *e, const gc_tokenizer *tok, const gc_graph_model_spec *s, gc_graph_model **out) {
    *out = NULL;
    if (!s->method) return gc_fail(GC_ERR_INVALID_ARG, "graph model: no method");
    if (s->latent_steps < 0 || s->agent_max_tokens < 1)
        return gc_fail(GC_ERR_INVALID_ARG, "graph model: latent steps must be >= 0 and agent max tokens >= 1");
    const gc_chat_style style = gc_chat_detect(gc_tokenizer_chat_template(tok));
    if (style == GC_CHAT_UNKNOWN)
        return gc_fail(GC_ERR_UNSUPPORTED, "graph model: the model's chat template is not one gcache can format");
    gc_graph_model *g = calloc(1, sizeof *g);
    if (!g) return gc_fail(GC_ERR_OOM, "out of memory");
    g->e = e;
    g->tok = tok;
    gc_status st = gc_prompts_load(s->prompts ? s->prompts : "math", &g->ps);
    if (st == GC_OK) st = strcmp(s->method, "gcache") == 0 ? open_graph(g, s, style) : open_mas(g, s);
    g->mp.style = style;
    const bool latent = g->graph ? g->gp.cache_mode && g->gp.latent_steps > 0
                                 : g->mp.method == GC_METHOD_LATENTMAS && g->mp.latent_steps > 0;
    if (st == GC_OK && latent) st = gc_realign_new(gc_engine_model(e), !s->no_realign, gc_engine_n_threads(e), &g->ra);
    if (st != GC_OK) {
        gc_graph_model_free(g);
        return st;
    }
    *out = g;
    return GC_OK;
}

// ---- a run folder

// settings[key] as a string; "default" (how run.json writes an unset one) is NULL.
static const char *setting_str(const cJSON *set, const char *key) {
    const cJSON *v = gc_json_get(set, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, "default") != 0 ? v->valuestring : NULL;
}

static gc_status setting_int(const char *path, const cJSON *set, const char *key, int lo, int hi, int *out) {
    int64_t v;
    GC_TRY(gc_json_opt_int(path, set, key, lo, hi, *out, &v));
    *out = (int)v;
    return GC_OK;
}

gc_status gc_graph_model_open_run(gc_engine *e, const gc_tokenizer *tok, const char *dir, gc_graph_model **out) {
    *out = NULL;
    char *path = gc_path_join(dir, "run.json"), *ckpt = gc_path_join(dir, "policy.ckpt");
    cJSON *root = NULL;
    gc_status st = !path || !ckpt ? gc_fail(GC_ERR_OOM, "out of memory") : GC_OK;
    if (st == GC_OK && !gc_file_exists(path))
        st = gc_fail(GC_ERR_IO, "%s: not found (a folder written by `gcache run` has one)", path);
    if (st == GC_OK) st = gc_json_parse_file(path, &root);
    gc_graph_model_spec s = gc_graph_model_default_spec();
    const cJSON *set = NULL, *prompts = NULL;
    const char *task = NULL;
    if (st == GC_OK) st = gc_json_req_string(path, root, "method", &s.method);
    if (st == GC_OK && strcmp(s.method, "api") == 0)
        st = gc_fail(GC_ERR_UNSUPPORTED, "%s: method \"api\" runs no local agents", path);
    if (st == GC_OK) st = gc_json_opt_string(path, root, "task", NULL, &task);
    if (st == GC_OK) st = gc_json_req_object(path, root, "settings", &set);
    if (st == GC_OK) {
        // Prompts: a file the run named (its path), or the task's embedded family.
        prompts = gc_json_get(set, "prompts");
        const cJSON *pp = gc_json_get(prompts, "path");
        s.prompts = cJSON_IsString(pp) ? pp->valuestring : NULL;
        s.mode = setting_str(set, "mode");
        s.pass = setting_str(set, "pass");
        s.topology = setting_str(set, "topology") ? setting_str(set, "topology") : s.topology;
        s.fuse = setting_str(set, "fuse") ? setting_str(set, "fuse") : s.fuse;
        // `gcache run --gates on|off` (an ablation) is not served: its answers would silently differ.
        if (setting_str(set, "gates"))
            st = gc_fail(GC_ERR_UNSUPPORTED, "%s: the run forced its layer gates (--gates %s); only runs with the "
                                             "learned gates are served", path, setting_str(set, "gates"));
        const char *ev = setting_str(set, "eval_policy");
        s.eval_sample = ev && strcmp(ev, "sample") == 0;
        bool realign = true;
        if (st == GC_OK) st = gc_json_opt_bool(path, set, "realign", true, &realign);
        s.no_realign = !realign;
        if (st == GC_OK) st = gc_json_opt_bool(path, set, "think", false, &s.think);
        if (st == GC_OK) st = gc_json_opt_bool(path, set, "text_mode", false, &s.text_mode);
        if (st == GC_OK) st = setting_int(path, set, "latent_steps", 0, 1 << 20, &s.latent_steps);
        if (st == GC_OK) st = setting_int(path, set, "agent_max_tokens", 1, 1 << 20, &s.agent_max_tokens);
        if (st == GC_OK) st = setting_int(path, set, "agents", 1, GC_MAX_AGENTS, &s.agents);
        if (st == GC_OK) st = setting_int(path, set, "rounds", 1, GC_MAX_ROUNDS, &s.rounds);
    }
    gc_prompt_set *task_ps = NULL;
    if (st == GC_OK && !s.prompts && task) {   // the embedded family of the run's task
        st = gc_prompts_for_task(task, &task_ps);
        if (st == GC_OK) s.prompts = gc_prompts_family(task_ps);
    }
    if (st == GC_OK && s.topology && strcmp(s.topology, "Learned") == 0) {
        if (!gc_file_exists(ckpt)) st = gc_fail(GC_ERR_IO, "%s: not found (the run's trained policy)", ckpt);
        s.policy = ckpt;
    }
    if (st == GC_OK) st = gc_graph_model_open(e, tok, &s, out);
    gc_prompts_free(task_ps);
    cJSON_Delete(root);
    free(path);
    free(ckpt);
    return st;
}

// ---- answering

// The learned graph of one question: node features [embed(role_i) ‖ embed(q)],
// then the policy's greedy choices (or a draw seeded by the question's seed).
static gc_status build_learned(gc_graph_model *g, const char *q, uint64_t seed, gc_sample *smp, gc_qgraph *out) {
    const int N = g->gp.n_agents;
    const int64_t D = g->D;
    double *x = malloc((size_t)N * 2 * (size_t)D * sizeof *x), *qe = malloc((size_t)D * sizeof *qe);
    gc_status st = !x || !qe ? gc_fail(GC_ERR_OOM, "out of memory") : GC_OK;
    if (st == GC_OK) st = gc_text_embed_model(g->e, g->tok, q, qe);
    for (int i = 0; i < N && st == GC_OK; i++) {
        memcpy(x + (size_t)i * 2 * (size_t)D, g->role_emb + (size_t)i * (size_t)D, (size_t)D * sizeof *x);
        memcpy(x + (size_t)i * 2 * (size_t)D + D, qe, (size_t)D * sizeof *x);
    }
    if (st == GC_OK) st = g->eval_sample ? gc_policy_sample_seeded(g->pol, x, seed, smp) : gc_policy_greedy(g->pol, x, smp);
    free(x);
    free(qe);
    GC_TRY(st);
    gc_fuser_choice fc = {.gate = g->gp.cache_mode ? smp->gate : NULL, .fuse_w = (const double(*)[GC_MAX_AGENTS])smp->fuse_w};
    return gc_graph_build(g->ps, &g->gp, &smp->topo, &fc, q, seed, out);
}

static gc_status build(gc_graph_model *g, const char *q, uint64_t seed, int max_tokens, gc_sample *smp, gc_qgraph *out) {
    if (!g->graph) {
        gc_mas_params mp = g->mp;
        mp.max_tokens = max_tokens;
        return gc_mas_build(g->ps, &mp, q, seed, out);
    }
    g->gp.max_tokens = max_tokens;
    if (g->topo == GC_TOPO_LEARNED) return build_learned(g, q, seed, smp, out);
    gc_topo t;
    GC_TRY(gc_topology_fixed(g->topo, g->gp.n_agents, seed, &t));
    return gc_graph_build(g->ps, &g->gp, &t, NULL, q, seed, out);
}

void gc_graph_answer_clear(gc_graph_answer *a) {
    free(a->text);
    memset(a, 0, sizeof *a);
}

gc_status gc_graph_model_answer(gc_graph_model *g, const char *const *questions, const uint64_t *seeds, int n,
                                const gc_sampler_params *sampling, int max_tokens, gc_graph_answer *out) {
    memset(out, 0, (size_t)n * sizeof *out);
    if (n < 1) return GC_OK;
    if (max_tokens < 1) return gc_fail(GC_ERR_INVALID_ARG, "graph model: max_tokens must be >= 1");
    gc_qgraph *gs = calloc((size_t)n, sizeof *gs);
    gc_qgraph **gp = calloc((size_t)n, sizeof *gp);
    gc_sample *smp = calloc((size_t)n, sizeof *smp);
    gc_status st = !gs || !gp || !smp ? gc_fail(GC_ERR_OOM, "out of memory") : GC_OK;
    int built = 0;
    for (; built < n && st == GC_OK; built++) {
        gp[built] = &gs[built];
        st = build(g, questions[built], seeds[built], max_tokens, &smp[built], &gs[built]);
    }
    gc_sched_params sp = gc_sched_default_params();
    sp.sampling = *sampling;
    sp.realign = g->ra;
    if (st == GC_OK) st = gc_sched_run(g->e, g->tok, gp, n, &sp);
    for (int i = 0; i < n && st == GC_OK; i++) {
        const gc_node *d = &gs[i].nodes[gs[i].output];
        if (!(out[i].text = strdup(d->text ? d->text : ""))) st = gc_fail(GC_ERR_OOM, "out of memory");
        out[i].finish = d->finish;
        out[i].agents = gs[i].n_nodes;
        for (int k = 0; k < gs[i].n_nodes; k++) {
            out[i].prompt_tokens += gs[i].nodes[k].prompt_tokens;
            out[i].completion_tokens += gs[i].nodes[k].out_tokens;
            out[i].latent_steps += gs[i].nodes[k].latent_done;
        }
    }
    for (int i = 0; gs && i < built; i++) gc_mas_clear(&gs[i]);   // prompts and texts
    for (int i = 0; smp && i < n; i++) gc_sample_clear(&smp[i]);
    free(gs);
    free(gp);
    free(smp);
    return st;
}
