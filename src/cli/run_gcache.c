// gcache run --method gcache: the agent graph (fixed or learned topology),
// text mode or cache mode.
#include "cli/cli.h"
#include "cli/run.h"
#include "core/error.h"
#include "core/file.h"
#include "gcache/eval.h"
#include "gcache/learn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct gopts {
    gc_graph_params gp;
    gc_topology topo;
    bool score;        // score the gold answer on the decision node
    bool likelihood;   // ... and train on it (--reward likelihood)
} gopts;

// The teacher-forced answer the decision node is scored on: its per-token
// probability of "<gold>" right after "The final answer is \boxed{".
static void set_score(run_ctx *c, const gopts *go, int64_t qi, gc_qgraph *g) {
    const char *gold = runio_get(c->data, qi).gold;
    if (!go->score || !gold || !*gold) return;
    g->nodes[g->output].score_prefix = "The final answer is \\boxed{";
    g->nodes[g->output].score_text = gold;
}

static cJSON *topo_json(const gc_topo *t) {
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

static gc_status build_fixed(run_ctx *c, int64_t qi, gc_qgraph *g, void *user) {
    const gopts *go = user;
    gc_topo t;
    uint64_t seed = (uint64_t)c->o->seed * 1000003ULL + (uint64_t)qi;
    GC_TRY(gc_topology_fixed(go->topo, go->gp.n_agents, seed, &t));
    GC_TRY(gc_graph_build(c->ps, &go->gp, &t, NULL, runio_get(c->data, qi).question, seed, g));
    set_score(c, go, qi, g);
    return GC_OK;
}

static void add_fixed_topology(run_ctx *c, int64_t qi, const gc_qgraph *g, cJSON *rec) {
    const gopts *go = c->user;
    gc_topo t;
    if (gc_topology_fixed(go->topo, go->gp.n_agents, (uint64_t)c->o->seed * 1000003ULL + (uint64_t)qi, &t) == GC_OK)
        cJSON_AddItemToObject(rec, "topology", topo_json(&t));
    cJSON_AddStringToObject(rec, "topology_kind", gc_topology_name(go->topo));
    cJSON_AddStringToObject(rec, "mode", go->gp.cache_mode ? "cache" : "text");
}

// ---- the learned topology ----

typedef struct learned {
    gopts *go;
    gc_policy *pol;
    double *role_emb;     // (N, D) role-description embeddings
    int64_t D;
    gc_sample *samples;   // one per question of the batch in flight
    int64_t batch_first;  // index in idx[] of the batch's first question
    const int64_t *idx;
    bool eval;            // evaluating (else training: sampled with dropout)
    bool eval_sample;     // evaluation draws (seeded per question) instead of greedy choices
} learned;

// Node features [embed(role_i) ‖ embed(question)] from the local model.
static gc_status features(run_ctx *c, learned *L, int64_t qi, double *x) {
    const int N = L->go->gp.n_agents;
    const int64_t D = L->D;
    double *q = malloc((size_t)D * sizeof *q);
    if (!q) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_status s = gc_text_embed_model(c->e, c->tok, runio_get(c->data, qi).question, q);
    for (int i = 0; i < N && s == GC_OK; i++) {
        memcpy(x + (size_t)i * 2 * (size_t)D, L->role_emb + (size_t)i * (size_t)D, (size_t)D * sizeof *x);
        memcpy(x + (size_t)i * 2 * (size_t)D + D, q, (size_t)D * sizeof *x);
    }
    free(q);
    return s;
}

static gc_status build_learned(run_ctx *c, int64_t qi, gc_qgraph *g, void *user) {
    learned *L = user;
    int k = 0;
    while (L->idx[L->batch_first + k] != qi) k++;   // position in the batch
    gc_sample *smp = &L->samples[k];
    const int N = L->go->gp.n_agents;
    double *x = malloc((size_t)(N * 2 * L->D) * sizeof *x);
    if (!x) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_status s = features(c, L, qi, x);
    uint64_t seed = (uint64_t)c->o->seed * 1000003ULL + (uint64_t)qi;
    if (s == GC_OK) {
        if (!L->eval) s = gc_policy_sample(L->pol, x, true, smp);
        else if (L->eval_sample) s = gc_policy_sample_seeded(L->pol, x, seed, smp);
        else s = gc_policy_greedy(L->pol, x, smp);
    }
    free(x);
    GC_TRY(s);
    gc_fuser_choice fc = {.gate = L->go->gp.cache_mode ? smp->gate : NULL, .fuse_w = (const double(*)[GC_MAX_AGENTS])smp->fuse_w};
    GC_TRY(gc_graph_build(c->ps, &L->go->gp, &smp->topo, &fc, runio_get(c->data, qi).question, seed, g));
    set_score(c, L->go, qi, g);
    return GC_OK;
}

static void add_learned(run_ctx *c, int64_t qi, const gc_qgraph *g, cJSON *rec) {
    learned *L = c->user;
    int k = 0;
    while (L->idx[L->batch_first + k] != qi) k++;
    const gc_sample *smp = &L->samples[k];
    cJSON_AddItemToObject(rec, "topology", topo_json(&smp->topo));
    cJSON_AddStringToObject(rec, "topology_kind", "Learned");
    cJSON_AddStringToObject(rec, "mode", L->go->gp.cache_mode ? "cache" : "text");
    cJSON *fz = cJSON_CreateObject(), *gates = cJSON_CreateArray();
    for (int l = 0; l < smp->n_layers; l++) cJSON_AddItemToArray(gates, cJSON_CreateNumber(smp->gate[l]));
    cJSON_AddItemToObject(fz, "gates", gates);
    cJSON_AddNumberToObject(fz, "logp", smp->logp);
    cJSON_AddStringToObject(fz, "eval_policy", L->eval_sample ? "sample" : "greedy");
    cJSON_AddItemToObject(rec, "fuser", fz);
}

static cJSON *probs_json(const double *p, int rows, int cols) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < rows; i++) {
        cJSON *r = cols ? cJSON_CreateArray() : NULL;
        if (!cols) { cJSON_AddItemToArray(a, cJSON_CreateNumber(p[i])); continue; }
        for (int j = 0; j < cols; j++) cJSON_AddItemToArray(r, cJSON_CreateNumber(p[i * cols + j]));
        cJSON_AddItemToArray(a, r);
    }
    return a;
}

// One line of the training log: utility, loss, baseline and the policy's
// probabilities (edges averaged over the batch's questions).
static void log_iter(run_ctx *c, learned *L, FILE *log, int it, const gc_train_stats *st, const double *edge_mean) {
    const int N = L->go->gp.n_agents;
    gc_policy_params pp = gc_policy_get_config(L->pol);
    double gates[GC_MAX_LAYERS], temporal[GC_MAX_AGENTS * GC_MAX_AGENTS];
    gc_policy_gate_probs(L->pol, gates);
    gc_policy_temporal_probs(L->pol, temporal);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "iter", it);
    cJSON_AddNumberToObject(o, "utility", st->mean_utility);
    cJSON_AddNumberToObject(o, "loss", st->loss);
    cJSON_AddNumberToObject(o, "baseline", st->baseline);
    cJSON_AddNumberToObject(o, "grad_norm", st->grad_norm);
    cJSON_AddNumberToObject(o, "mean_logp", st->mean_logp);
    cJSON_AddItemToObject(o, "edge_probs", probs_json(edge_mean, N, N));
    cJSON_AddItemToObject(o, "temporal_probs", probs_json(temporal, N, N));
    cJSON_AddItemToObject(o, "gate_probs", probs_json(gates, pp.n_layers, 0));
    cJSON *roles = cJSON_CreateArray();
    for (int i = 0; i < N; i++) cJSON_AddItemToArray(roles, cJSON_CreateString(gc_prompts_role_name(c->ps, i)));
    cJSON_AddItemToObject(o, "roles", roles);
    char *line = cJSON_PrintUnformatted(o);
    if (line) { fputs(line, log); fputc('\n', log); fflush(log); }
    free(line);
    cJSON_Delete(o);
}

static int train_and_eval(run_ctx *c, gopts *go) {
    const run_opts *o = c->o;
    const int N = go->gp.n_agents;
    // Training: iteration `it` uses questions t0 + it·B … (cycling through the training range).
    const int64_t B = o->batch_size, total = runio_count(c->data);
    const int64_t t0 = o->train_offset >= 0 ? o->train_offset : o->offset;
    int64_t train_n = o->train_iters * B;
    if (t0 + train_n > total) train_n = total > t0 ? total - t0 : 0;
    // Evaluation: the questions after the training range, or with
    // --train-offset those of --offset / --max-samples, which must be others.
    int64_t eval_first = o->train_offset >= 0 ? o->offset : o->offset + train_n;
    int64_t eval_count = o->max_samples < 0 ? total : o->max_samples;
    if (eval_first + eval_count > total) eval_count = total > eval_first ? total - eval_first : 0;
    if (o->train_offset >= 0 && train_n > 0 && eval_count > 0 && t0 < eval_first + eval_count &&
        eval_first < t0 + train_n) {
        fprintf(stderr, "gcache run: the training questions [%lld, %lld) overlap the evaluated ones [%lld, %lld)\n",
                (long long)t0, (long long)(t0 + train_n), (long long)eval_first, (long long)(eval_first + eval_count));
        return 2;
    }
    gc_model_info mi;
    gc_model_get_info(c->m, &mi);
    learned L = {.go = go, .D = mi.hidden_size, .eval_sample = strcmp(o->eval_policy, "sample") == 0};
    const char *ckdir = o->checkpoint ? o->checkpoint : c->out_dir;
    char *ckpt = gc_path_join(ckdir, "policy.ckpt"), *logp = gc_path_join(ckdir, "train_log.jsonl");
    gc_policy_params pp = gc_policy_default_params();
    pp.n_nodes = N;
    pp.feat_dim = (int)(2 * L.D);
    pp.n_layers = (int)mi.n_layers;
    pp.lr = o->lr;
    pp.temperature = o->edge_temperature;
    pp.use_baseline = !o->no_baseline;
    pp.learn_gates = go->gp.cache_mode;
    pp.learn_fuse = go->gp.cache_mode && go->gp.fuse == GC_FUSE_WSUM;
    pp.learn_temporal = go->gp.rounds > 1;
    pp.seed = (uint64_t)o->seed;
    double *adj = malloc((size_t)(N * N) * sizeof *adj);
    L.role_emb = malloc((size_t)(N * L.D) * sizeof *L.role_emb);
    L.samples = calloc((size_t)(o->batch_size > o->batch ? o->batch_size : o->batch), sizeof *L.samples);
    int rc = 0;
    gc_status s = (!ckpt || !logp || !adj || !L.role_emb || !L.samples) ? gc_fail(GC_ERR_OOM, "out of memory") : GC_OK;
    for (int i = 0; i < N && s == GC_OK; i++)
        s = gc_text_embed_model(c->e, c->tok, gc_prompts_role_description(c->ps, i), L.role_emb + (size_t)i * (size_t)L.D);
    if (s == GC_OK) {
        gc_prompts_role_adjacency(c->ps, N, adj);
        if (o->resume && gc_file_exists(ckpt)) {
            s = gc_policy_load(ckpt, &pp, &L.pol);
            if (s == GC_OK) fprintf(stderr, "gcache run: resumed policy from %s (step %lld)\n", ckpt, (long long)gc_policy_step(L.pol));
        } else {
            s = gc_policy_new(&pp, adj, &L.pol);
        }
    }
    if (s != GC_OK) rc = cli_error("run", s);
    FILE *log = rc ? NULL : fopen(logp, o->resume ? "a" : "w");
    if (!rc && !log) { fprintf(stderr, "gcache run: cannot write %s\n", logp); rc = 1; }

    int64_t *idx = malloc((size_t)(total + B + 1) * sizeof *idx);
    if (!idx) rc = 1;
    int first_it = L.pol ? (int)gc_policy_step(L.pol) : 0;
    runio_progress *pb = rc ? NULL : runio_progress_new(o->train_iters, first_it, "training the policy", "it");
    for (int it = first_it; !rc && it < o->train_iters && train_n > 0; it++) {
        for (int64_t k = 0; k < B; k++) idx[k] = t0 + (it * B + k) % train_n;
        L.idx = idx;
        L.batch_first = 0;
        L.eval = false;
        gc_qgraph *gs = calloc((size_t)B, sizeof *gs), **gp = calloc((size_t)B, sizeof *gp);
        double *u = calloc((size_t)B, sizeof *u), *edge_mean = calloc((size_t)(N * N), sizeof *edge_mean);
        double *x = malloc((size_t)(N * 2 * L.D) * sizeof *x), *ep = malloc((size_t)(N * N) * sizeof *ep);
        if (!gs || !gp || !u || !edge_mean || !x || !ep) s = gc_fail(GC_ERR_OOM, "out of memory");
        int built = 0;
        for (int64_t k = 0; k < B && s == GC_OK; k++, built++) {
            s = build_learned(c, idx[k], &gs[k], &L);
            gp[k] = &gs[k];
            if (s == GC_OK && (s = features(c, &L, idx[k], x)) == GC_OK) {
                gc_policy_edge_probs(L.pol, x, ep);
                for (int e = 0; e < N * N; e++) edge_mean[e] += ep[e] / (double)B;
            }
        }
        if (s == GC_OK) s = gc_sched_run(c->e, c->tok, gp, (int)B, &c->sp);
        for (int64_t k = 0; k < B && s == GC_OK; k++) {
            const char *text = gs[k].nodes[gs[k].output].text;
            char *pred = NULL;
            cJSON *scratch = cJSON_CreateObject();
            u[k] = runio_score(o->task, c->data, idx[k], text ? text : "", &pred, scratch) ? 1.0 : 0.0;
            if (go->likelihood) {
                const gc_node *out = &gs[k].nodes[gs[k].output];
                if (out->score_tokens < 1) s = gc_fail(GC_ERR_INVALID_ARG, "question %lld: no gold answer to score", (long long)idx[k]);
                else u[k] = exp(out->score_logp / (double)out->score_tokens);
            }
            cJSON_Delete(scratch);
            free(pred);
        }
        gc_train_stats st = {0};
        gc_sample *sp[4096];
        for (int64_t k = 0; k < B; k++) sp[k] = &L.samples[k];
        if (s == GC_OK) s = gc_policy_update(L.pol, sp, u, (int)B, &st);
        if (s == GC_OK) s = gc_policy_save(L.pol, ckpt);   // atomic: an interrupted run resumes here
        if (s == GC_OK) log_iter(c, &L, log, it, &st, edge_mean);
        for (int k = 0; k < built; k++) gc_mas_clear(&gs[k]);
        free(gs); free(gp); free(u); free(edge_mean); free(x); free(ep);
        if (s != GC_OK) { rc = cli_error("run", s); break; }
        char extra[96];
        snprintf(extra, sizeof extra, "utility %.2f loss %.3f", st.mean_utility, st.loss);
        runio_progress_tick(pb, it + 1, extra);
    }
    if (pb) runio_progress_done(pb);
    if (log) fclose(log);

    // Evaluation with the trained policy on the questions after the training range.
    if (!rc) {
        int64_t n = run_pending(c, eval_first, eval_count, idx);
        int64_t done = runio_results_count(c->res);
        runio_progress *ev = runio_progress_new(done + n, done, "evaluating the learned topology", "q");
        c->on_record = add_learned;
        c->user = &L;
        L.eval = true;
        L.idx = idx;
        // run_batches builds the batches in order; keep batch_first in step.
        for (int64_t b0 = 0; !rc && b0 < n; b0 += o->batch) {
            L.batch_first = b0;
            int64_t nb = n - b0 < o->batch ? n - b0 : o->batch;
            rc = run_batches(c, idx + b0, nb, build_learned, &L, ev, &done);
        }
        runio_progress_done(ev);
    }
    for (int64_t k = 0; L.samples && k < (o->batch_size > o->batch ? o->batch_size : o->batch); k++) gc_sample_clear(&L.samples[k]);
    free(L.samples);
    gc_policy_free(L.pol);
    free(L.role_emb);
    free(adj);
    free(idx);
    free(ckpt);
    free(logp);
    return rc;
}

int run_gcache(const run_opts *o) {
    gopts go;
    go.gp = gc_graph_default_params();
    gc_status s = gc_topology_from_name(o->topology, &go.topo);
    if (s == GC_OK && o->pass) s = gc_pass_from_name(o->pass, &go.gp.pass);
    if (s == GC_OK && strcmp(o->fuse, "concat") != 0 && strcmp(o->fuse, "wsum") != 0)
        s = gc_fail(GC_ERR_INVALID_ARG, "unknown fusion '%s' (concat, wsum)", o->fuse);
    if (s != GC_OK) return cli_usage_error("run", "%s", gc_last_error());
    go.gp.fuse = strcmp(o->fuse, "wsum") == 0 ? GC_FUSE_WSUM : GC_FUSE_CONCAT;
    go.gp.n_agents = (int)o->agents;
    go.gp.rounds = (int)o->rounds;
    go.gp.cache_mode = !o->text_mode;
    go.gp.latent_steps = (int)o->latent_steps;
    go.gp.max_tokens = (int)o->max_tokens;
    go.gp.agent_max_tokens = (int)o->agent_max_tokens;
    go.gp.think = o->think;
    go.likelihood = strcmp(o->reward, "likelihood") == 0;
    go.score = o->score_answer || go.likelihood;
    if (!go.likelihood && strcmp(o->reward, "correct") != 0)
        return cli_usage_error("run", "unknown reward '%s' (correct, likelihood)", o->reward);
    if (strcmp(o->eval_policy, "greedy") != 0 && strcmp(o->eval_policy, "sample") != 0)
        return cli_usage_error("run", "--eval-policy: expected greedy or sample, got '%s'", o->eval_policy);
    gc_task task;   // an unknown task name is reported by run_open
    if (go.score && gc_task_from_name(o->task, &task) == GC_OK && gc_task_answer_kind(task) == GC_ANSWER_CODE)
        return cli_usage_error("run", "--reward likelihood / --score-answer need a task with a short gold answer "
                               "(not code tasks)");
    run_ctx c;
    int rc = run_open(&c, o);
    if (!rc) {
        go.gp.style = c.style;
        if (go.gp.cache_mode && (s = gc_realign_new(c.m, !o->no_realign, gc_engine_n_threads(c.e), &c.ra)) != GC_OK) rc = cli_error("run", s);
    }
    if (!rc && go.topo == GC_TOPO_LEARNED) {
        c.sp = run_sched_params(&c);
        char label[128];
        snprintf(label, sizeof label, "gcache Learned %s %s", go.gp.cache_mode ? "cache" : "text", o->task);
        rc = train_and_eval(&c, &go);
        gc_status s2;
        if (!rc && (s2 = runio_results_summary(c.res, label, c.manifest)) != GC_OK) rc = cli_error("run", s2);
        run_close(&c);
        return rc;
    }
    if (!rc) {
        c.sp = run_sched_params(&c);
        c.on_record = add_fixed_topology;
        c.user = &go;
        int64_t total = runio_count(c.data), count = o->max_samples < 0 ? total : o->max_samples;
        int64_t *idx = malloc((size_t)(total + 1) * sizeof *idx);
        int64_t n = idx ? run_pending(&c, o->offset, count, idx) : 0;
        int64_t done = runio_results_count(c.res);
        char label[128];
        snprintf(label, sizeof label, "gcache %s %s %s", gc_topology_name(go.topo), go.gp.cache_mode ? "cache" : "text", o->task);
        runio_progress *pb = runio_progress_new(done + n, done, label, "q");
        rc = idx ? run_batches(&c, idx, n, build_fixed, &go, pb, &done) : 1;
        runio_progress_done(pb);
        free(idx);
        if (!rc && (s = runio_results_summary(c.res, label, c.manifest)) != GC_OK) rc = cli_error("run", s);
    }
    run_close(&c);
    return rc;
}
