// Each question's graph: the multi-agent methods (gc_mas_build), the agent
// graph on a fixed topology, or on one the learned policy picks
// (gc_graph_build), with the layer gates as chosen or forced on / off.
#include "run/run_internal.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

static uint64_t question_seed(const gc_run *r, int64_t qi) { return r->p.seed * 1000003ULL + (uint64_t)qi; }

static gc_status need_realign(gc_run *r) {
    if (r->p.realignment) {
        r->ra = r->p.realignment;
        return GC_OK;
    }
    GC_TRY(gc_realign_new(r->m, r->p.realign, gc_engine_n_threads(r->e), &r->own_ra));
    r->ra = r->own_ra;
    return GC_OK;
}

static gc_status setup_mas(gc_run *r) {
    r->how = RUN_MAS;
    r->mp = gc_mas_default_params();
    // method api: the single-agent prompt, answered by the API alone.
    GC_TRY(gc_method_from_name(strcmp(r->p.method, "api") == 0 ? "single" : r->p.method, &r->mp.method));
    GC_TRY(gc_mas_mode_from_name(r->p.mode, &r->mp.mode));
    if (r->p.pass) GC_TRY(gc_pass_from_name(r->p.pass, &r->mp.pass));
    r->mp.latent_steps = r->p.latent_steps;
    r->mp.think = r->p.think;
    r->mp.max_tokens = r->p.max_tokens;
    r->mp.agent_max_tokens = r->p.agent_max_tokens;
    r->mp.style = r->style;
    if (r->mp.method == GC_METHOD_LATENTMAS && r->m) GC_TRY(need_realign(r));
    return GC_OK;
}

gc_policy_params run_policy_params(const gc_run *r) {
    gc_policy_params pp = gc_policy_default_params();
    pp.n_nodes = r->gp.n_agents;
    pp.feat_dim = (int)(2 * r->D);
    pp.n_layers = (int)r->n_layers;
    pp.lr = r->p.lr;
    pp.temperature = r->p.edge_temperature;
    pp.use_baseline = r->p.baseline;
    pp.learn_gates = r->gp.cache_mode;
    pp.learn_fuse = r->gp.cache_mode && r->gp.fuse == GC_FUSE_WSUM;
    pp.learn_temporal = r->gp.rounds > 1;
    pp.seed = r->p.seed;
    return pp;
}

// Training questions [train_first, + train_n) cycle through iterations;
// evaluation takes those after them, or with train_offset the
// offset / max_samples range, which must be others.
static gc_status setup_ranges(gc_run *r) {
    const gc_run_params *p = &r->p;
    const int64_t total = (int64_t)gc_dataset_count(r->ds);
    r->train_first = p->train_offset >= 0 ? p->train_offset : p->offset;
    r->train_n = r->how == RUN_LEARNED ? p->train_iters * p->batch_size : 0;
    if (r->train_first + r->train_n > total) r->train_n = total > r->train_first ? total - r->train_first : 0;
    const bool after_training = r->how == RUN_LEARNED && p->train_offset < 0 && !p->policy;
    r->eval_first = after_training ? p->offset + r->train_n : p->offset;
    r->eval_count = p->max_samples < 0 ? total : p->max_samples;
    if (r->eval_first + r->eval_count > total) r->eval_count = total > r->eval_first ? total - r->eval_first : 0;
    if (r->how == RUN_LEARNED && !p->policy && p->train_offset >= 0 && r->train_n > 0 && r->eval_count > 0 &&
        r->train_first < r->eval_first + r->eval_count && r->eval_first < r->train_first + r->train_n)
        return gc_fail(GC_ERR_INVALID_ARG, "the training questions [%lld, %lld) overlap the evaluated ones [%lld, %lld)",
                       (long long)r->train_first, (long long)(r->train_first + r->train_n), (long long)r->eval_first,
                       (long long)(r->eval_first + r->eval_count));
    return GC_OK;
}

gc_status run_check_policy(const gc_run *r, const gc_policy *pol) {
    const gc_policy_params want = run_policy_params(r), got = gc_policy_get_config(pol);
    if (got.n_nodes != want.n_nodes || got.feat_dim != want.feat_dim || got.n_layers != want.n_layers)
        return gc_fail(GC_ERR_INVALID_ARG, "the policy is for %d agents, %d features and %d layers; this run has %d "
                                           "agents, %d features (2 × hidden size) and %d layers",
                       got.n_nodes, got.feat_dim, got.n_layers, want.n_nodes, want.feat_dim, want.n_layers);
    return GC_OK;
}

static gc_status setup_graph(gc_run *r) {
    const gc_run_params *p = &r->p;
    const gc_graph_settings gs = {.agents = p->agents, .rounds = p->rounds, .text_mode = p->text_mode,
                                  .latent_steps = p->latent_steps, .max_tokens = p->max_tokens,
                                  .agent_max_tokens = p->agent_max_tokens, .think = p->think, .pass = p->pass,
                                  .fuse = p->fuse, .style = r->style};
    GC_TRY(gc_graph_params_from(&gs, &r->gp));
    GC_TRY(gc_topology_from_name(p->topology, &r->topo));
    r->likelihood = strcmp(p->reward, "likelihood") == 0;
    r->score = p->score_answer || r->likelihood;
    r->how = r->topo == GC_TOPO_LEARNED ? RUN_LEARNED : RUN_FIXED;
    r->eval_pick = strcmp(p->eval_policy, "sample") == 0 ? PICK_SAMPLE : PICK_GREEDY;
    if (r->n_layers > GC_MAX_LAYERS)
        return gc_fail(GC_ERR_UNSUPPORTED, "the model has %lld layers; layer gates cover at most %d",
                       (long long)r->n_layers, GC_MAX_LAYERS);
    memset(r->forced_gate, p->gates == GC_RUN_GATES_OFF ? 0 : 1, sizeof r->forced_gate);
    if (r->gp.cache_mode) GC_TRY(need_realign(r));
    if (r->how == RUN_LEARNED) {
        if (p->policy) GC_TRY(run_check_policy(r, p->policy));
        r->policy = p->policy;
        r->n_samples = p->batch;
        if (!(r->samples = calloc((size_t)r->n_samples, sizeof *r->samples))) return gc_fail(GC_ERR_OOM, "out of memory");
    }
    return GC_OK;
}

gc_status run_graph_setup(gc_run *r) {
    GC_TRY(strcmp(r->p.method, "gcache") == 0 ? setup_graph(r) : setup_mas(r));
    return setup_ranges(r);
}

gc_status run_features(gc_run *r, int64_t qi, double *x) {
    const int N = r->gp.n_agents;
    const int64_t D = r->D;
    if (!r->role_emb) {
        if (!(r->role_emb = malloc((size_t)(N * D) * sizeof *r->role_emb))) return gc_fail(GC_ERR_OOM, "out of memory");
        for (int i = 0; i < N; i++) {
            gc_status s = gc_text_embed_model(r->e, r->tok, gc_prompts_role_description(r->ps, i), r->role_emb + (size_t)i * (size_t)D);
            if (s != GC_OK) {
                free(r->role_emb);
                r->role_emb = NULL;
                return s;
            }
        }
    }
    double *q = malloc((size_t)D * sizeof *q);
    if (!q) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_status s = gc_text_embed_model(r->e, r->tok, gc_dataset_get(r->ds, (size_t)qi)->question, q);
    for (int i = 0; i < N && s == GC_OK; i++) {
        memcpy(x + (size_t)i * 2 * (size_t)D, r->role_emb + (size_t)i * (size_t)D, (size_t)D * sizeof *x);
        memcpy(x + (size_t)i * 2 * (size_t)D + D, q, (size_t)D * sizeof *x);
    }
    free(q);
    return s;
}

// The teacher-forced answer the decision node is scored on: its per-token
// probability of "<gold>" right after "The final answer is \boxed{".
static void set_score(const gc_run *r, int64_t qi, gc_qgraph *g) {
    const char *gold = gc_dataset_get(r->ds, (size_t)qi)->gold;
    if (!r->score || r->kind == GC_ANSWER_CODE || !gold || !*gold) return;
    g->nodes[g->output].score_prefix = "The final answer is \\boxed{";
    g->nodes[g->output].score_text = gold;
}

// The evaluation's choice for question qi: greedy, or drawn with the question's seed.
static gc_status pick(gc_run *r, int64_t qi, gc_sample *smp) {
    double *x = malloc((size_t)(r->gp.n_agents * 2 * r->D) * sizeof *x);
    if (!x) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_status s = run_features(r, qi, x);
    if (s == GC_OK && r->eval_pick == PICK_SAMPLE) s = gc_policy_sample_seeded(r->policy, x, question_seed(r, qi), smp);
    else if (s == GC_OK) s = gc_policy_greedy(r->policy, x, smp);
    free(x);
    return s;
}

gc_status run_graph_build_sample(gc_run *r, int64_t qi, const gc_sample *smp, gc_qgraph *g) {
    const char *question = gc_dataset_get(r->ds, (size_t)qi)->question;
    const bool forced = r->p.gates != GC_RUN_GATES_LEARNED;
    const uint8_t *gate = !r->gp.cache_mode ? NULL : forced ? r->forced_gate : smp->gate;
    gc_fuser_choice fc = {.gate = gate, .fuse_w = (const double(*)[GC_MAX_AGENTS])smp->fuse_w};
    GC_TRY(gc_graph_build(r->ps, &r->gp, &smp->topo, &fc, question, question_seed(r, qi), g));
    set_score(r, qi, g);
    return GC_OK;
}

gc_status run_graph_build(gc_run *r, int k, int64_t qi, gc_qgraph *g) {
    const char *question = gc_dataset_get(r->ds, (size_t)qi)->question;
    const uint64_t seed = question_seed(r, qi);
    if (r->how == RUN_MAS) return gc_mas_build(r->ps, &r->mp, question, seed, g);
    if (r->how == RUN_FIXED) {
        gc_topo t;
        GC_TRY(gc_topology_fixed(r->topo, r->gp.n_agents, seed, &t));
        // A fixed topology keeps every gate on; only "off" changes that.
        const gc_fuser_choice off = {.gate = r->forced_gate, .fuse_w = NULL};
        const bool gate_off = r->gp.cache_mode && r->p.gates == GC_RUN_GATES_OFF;
        GC_TRY(gc_graph_build(r->ps, &r->gp, &t, gate_off ? &off : NULL, question, seed, g));
        set_score(r, qi, g);
        return GC_OK;
    }
    GC_TRY(pick(r, qi, &r->samples[k]));
    return run_graph_build_sample(r, qi, &r->samples[k], g);
}

cJSON *run_topo_json(const gc_topo *t) {
    cJSON *o = cJSON_CreateObject(), *sp = cJSON_CreateArray(), *tp = cJSON_CreateArray();
    for (int i = 0; i < t->n; i++)
        for (int j = 0; j < t->n; j++) {
            if (t->spatial[i][j]) {
                cJSON *e = cJSON_CreateArray();
                cJSON_AddItemToArray(e, cJSON_CreateNumber(i));
                cJSON_AddItemToArray(e, cJSON_CreateNumber(j));
                cJSON_AddItemToArray(sp, e);
            }
            if (t->temporal[i][j]) {
                cJSON *e = cJSON_CreateArray();
                cJSON_AddItemToArray(e, cJSON_CreateNumber(i));
                cJSON_AddItemToArray(e, cJSON_CreateNumber(j));
                cJSON_AddItemToArray(tp, e);
            }
        }
    cJSON_AddNumberToObject(o, "agents", t->n);
    cJSON_AddItemToObject(o, "spatial", sp);
    cJSON_AddItemToObject(o, "temporal", tp);
    return o;
}

static cJSON *gates_json(const uint8_t *gate, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int l = 0; l < n; l++) cJSON_AddItemToArray(a, cJSON_CreateNumber(gate[l]));
    return a;
}

void run_graph_record(gc_run *r, int k, int64_t qi, cJSON *rec) {
    const bool forced = r->p.gates != GC_RUN_GATES_LEARNED;
    if (r->how == RUN_MAS) return;
    if (r->how == RUN_FIXED) {
        gc_topo t;
        if (gc_topology_fixed(r->topo, r->gp.n_agents, question_seed(r, qi), &t) == GC_OK)
            cJSON_AddItemToObject(rec, "topology", run_topo_json(&t));
        cJSON_AddStringToObject(rec, "topology_kind", gc_topology_name(r->topo));
        cJSON_AddStringToObject(rec, "mode", r->gp.cache_mode ? "cache" : "text");
        if (forced) cJSON_AddStringToObject(rec, "gates_forced", r->p.gates == GC_RUN_GATES_ON ? "on" : "off");
        return;
    }
    const gc_sample *smp = &r->samples[k];
    cJSON_AddItemToObject(rec, "topology", run_topo_json(&smp->topo));
    cJSON_AddStringToObject(rec, "topology_kind", "Learned");
    cJSON_AddStringToObject(rec, "mode", r->gp.cache_mode ? "cache" : "text");
    // gates: what every received cache got; with forced gates the policy's own choice is kept beside.
    cJSON *fz = cJSON_CreateObject();
    cJSON_AddItemToObject(fz, "gates", gates_json(forced ? r->forced_gate : smp->gate, smp->n_layers));
    cJSON_AddNumberToObject(fz, "logp", smp->logp);
    cJSON_AddStringToObject(fz, "eval_policy", r->eval_pick == PICK_SAMPLE ? "sample" : "greedy");
    if (forced) {
        cJSON_AddItemToObject(fz, "policy_gates", gates_json(smp->gate, smp->n_layers));
        cJSON_AddStringToObject(rec, "gates_forced", r->p.gates == GC_RUN_GATES_ON ? "on" : "off");
    }
    cJSON_AddItemToObject(rec, "fuser", fz);
}
