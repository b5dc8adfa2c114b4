// The REINFORCE loop of the learned topology (gc_train_*): per iteration, B
// training questions get a topology and fuser sampled with dropout, run
// together on the scheduler, are scored (1/0 correctness or the decision
// node's probability of the gold answer), and the policy takes one Adam step.
#include "run/run_internal.h"
#include "core/error.h"
#include "core/file.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gc_train {
    gc_run *r;
    gc_policy *pol;
    bool own;            // pol is freed with the training
    char *ckpt, *logp;   // policy.ckpt and train_log.jsonl (NULL: no checkpoint folder)
    FILE *log;
    int B, N;
    // Per iteration, reused: question indices (B), graphs (B) and their
    // pointers, utilities (B), sample pointers (B), the batch's mean edge
    // probabilities (N, N), one question's features (N, 2D) and edge probabilities (N, N).
    int64_t *idx;
    gc_qgraph *gs;
    gc_qgraph **gp;
    double *u;
    gc_sample **sp;
    double *edge_mean, *x, *ep;
    char *line;          // the last log line
};

void gc_train_free(gc_train *t) {
    if (!t) return;
    if (t->own) {
        if (t->r->policy == t->pol) t->r->policy = NULL;   // the run no longer evaluates it
        gc_policy_free(t->pol);
    }
    if (t->log) fclose(t->log);
    free(t->ckpt);
    free(t->logp);
    free(t->idx);
    free(t->gs);
    free(t->gp);
    free(t->u);
    free(t->sp);
    free(t->edge_mean);
    free(t->x);
    free(t->ep);
    free(t->line);
    free(t);
}

static gc_status open_policy(gc_train *t, gc_policy *given) {
    gc_run *r = t->r;
    gc_policy_params pp = run_policy_params(r);
    if (given) {
        GC_TRY(run_check_policy(r, given));
        t->pol = given;
        return GC_OK;
    }
    t->own = true;
    if (r->p.resume && t->ckpt && gc_file_exists(t->ckpt)) {
        GC_TRY(gc_policy_load(t->ckpt, &pp, &t->pol));
        run_note(r, "resumed policy from %s (step %lld)", t->ckpt, (long long)gc_policy_step(t->pol));
        return GC_OK;
    }
    double *adj = malloc((size_t)(t->N * t->N) * sizeof *adj);
    if (!adj) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_prompts_role_adjacency(r->ps, t->N, adj);
    gc_status s = gc_policy_new(&pp, adj, &t->pol);
    free(adj);
    return s;
}

gc_status gc_train_open(gc_run *r, gc_policy *policy, gc_train **out) {
    *out = NULL;
    if (r->how != RUN_LEARNED) return gc_fail(GC_ERR_INVALID_ARG, "training needs method gcache with topology Learned");
    gc_train *t = calloc(1, sizeof *t);
    if (!t) return gc_fail(GC_ERR_OOM, "out of memory");
    t->r = r;
    t->B = r->p.batch_size;
    t->N = r->gp.n_agents;
    const size_t B = (size_t)t->B, NN = (size_t)(t->N * t->N);
    t->idx = malloc(B * sizeof *t->idx);
    t->gs = calloc(B, sizeof *t->gs);
    t->gp = calloc(B, sizeof *t->gp);
    t->u = calloc(B, sizeof *t->u);
    t->sp = calloc(B, sizeof *t->sp);
    t->edge_mean = calloc(NN, sizeof *t->edge_mean);
    t->ep = calloc(NN, sizeof *t->ep);
    t->x = malloc((size_t)t->N * 2 * (size_t)r->D * sizeof *t->x);
    gc_status s = GC_OK;
    if (!t->idx || !t->gs || !t->gp || !t->u || !t->sp || !t->edge_mean || !t->ep || !t->x)
        s = gc_fail(GC_ERR_OOM, "out of memory");
    const char *dir = r->p.checkpoint ? r->p.checkpoint : r->out_dir;
    if (s == GC_OK && dir && (!(t->ckpt = gc_path_join(dir, "policy.ckpt")) || !(t->logp = gc_path_join(dir, "train_log.jsonl"))))
        s = gc_fail(GC_ERR_OOM, "out of memory");
    if (s == GC_OK) s = open_policy(t, policy);
    if (s == GC_OK && t->logp && !(t->log = fopen(t->logp, r->p.resume ? "a" : "w")))
        s = gc_fail(GC_ERR_IO, "cannot write %s: %s", t->logp, strerror(errno));
    if (s != GC_OK) {
        gc_train_free(t);
        return s;
    }
    *out = t;
    return GC_OK;
}

static cJSON *probs_json(const double *p, int rows, int cols) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < rows; i++) {
        if (!cols) { cJSON_AddItemToArray(a, cJSON_CreateNumber(p[i])); continue; }
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < cols; j++) cJSON_AddItemToArray(row, cJSON_CreateNumber(p[i * cols + j]));
        cJSON_AddItemToArray(a, row);
    }
    return a;
}

// One line of the training log: utility, loss, baseline and the policy's
// probabilities (edges averaged over the batch's questions).
static gc_status log_line(gc_train *t, int64_t it, const gc_train_stats *st) {
    const int N = t->N;
    gc_policy_params pp = gc_policy_get_config(t->pol);
    double gates[GC_MAX_LAYERS], temporal[GC_MAX_AGENTS * GC_MAX_AGENTS];
    gc_policy_gate_probs(t->pol, gates);
    gc_policy_temporal_probs(t->pol, temporal);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "iter", (double)it);
    cJSON_AddNumberToObject(o, "utility", st->mean_utility);
    cJSON_AddNumberToObject(o, "loss", st->loss);
    cJSON_AddNumberToObject(o, "baseline", st->baseline);
    cJSON_AddNumberToObject(o, "grad_norm", st->grad_norm);
    cJSON_AddNumberToObject(o, "mean_logp", st->mean_logp);
    cJSON_AddItemToObject(o, "edge_probs", probs_json(t->edge_mean, N, N));
    cJSON_AddItemToObject(o, "temporal_probs", probs_json(temporal, N, N));
    cJSON_AddItemToObject(o, "gate_probs", probs_json(gates, pp.n_layers, 0));
    cJSON *roles = cJSON_CreateArray();
    for (int i = 0; i < N; i++) cJSON_AddItemToArray(roles, cJSON_CreateString(gc_prompts_role_name(t->r->ps, i)));
    cJSON_AddItemToObject(o, "roles", roles);
    free(t->line);
    t->line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!t->line) return gc_fail(GC_ERR_OOM, "out of memory");
    if (t->log) {
        fputs(t->line, t->log);
        fputc('\n', t->log);
        if (fflush(t->log) != 0) return gc_fail(GC_ERR_IO, "cannot write %s: %s", t->logp, strerror(errno));
    }
    return GC_OK;
}

// Utility of question k of the batch: 1/0 correctness, or exp(mean log p) of the gold answer.
static gc_status utility(gc_train *t, int k, double *u) {
    const gc_qgraph *g = &t->gs[k];
    const gc_node *out = &g->nodes[g->output];
    char *pred = NULL;
    cJSON *scratch = cJSON_CreateObject();
    *u = run_score(t->r, t->idx[k], out->text ? out->text : "", &pred, scratch) ? 1.0 : 0.0;
    cJSON_Delete(scratch);
    free(pred);
    if (!t->r->likelihood) return GC_OK;
    if (out->score_tokens < 1)
        return gc_fail(GC_ERR_INVALID_ARG, "question %lld: no gold answer to score", (long long)t->idx[k]);
    *u = exp(out->score_logp / (double)out->score_tokens);
    return GC_OK;
}

gc_status gc_train_step(gc_train *t, gc_train_iter *info, bool *took) {
    gc_run *r = t->r;
    const int64_t it = gc_policy_step(t->pol);
    *took = false;
    if (it >= r->p.train_iters || r->train_n <= 0) return GC_OK;
    const int B = t->B, NN = t->N * t->N;
    // Iteration `it` uses questions t0 + it·B … (cycling through the training range).
    for (int k = 0; k < B; k++) t->idx[k] = r->train_first + (it * B + k) % r->train_n;
    r->policy = t->pol;
    memset(t->edge_mean, 0, (size_t)NN * sizeof *t->edge_mean);
    gc_status s = GC_OK;
    int built = 0;
    for (int k = 0; k < B && s == GC_OK; k++, built++) {
        if ((s = run_features(r, t->idx[k], t->x)) != GC_OK) break;
        s = run_graph_build(r, k, t->idx[k], PICK_TRAIN, t->x, &t->gs[k]);
        t->gp[k] = &t->gs[k];
        t->sp[k] = &r->samples[k];
        if (s != GC_OK) break;
        gc_policy_edge_probs(t->pol, t->x, t->ep);
        for (int e = 0; e < NN; e++) t->edge_mean[e] += t->ep[e] / (double)B;
    }
    if (s == GC_OK) s = gc_sched_run(r->e, r->tok, t->gp, B, &r->sp);
    for (int k = 0; k < B && s == GC_OK; k++) s = utility(t, k, &t->u[k]);
    gc_train_stats st = {0};
    if (s == GC_OK) s = gc_policy_update(t->pol, t->sp, t->u, B, &st);
    if (s == GC_OK && t->ckpt) s = gc_policy_save(t->pol, t->ckpt);   // atomic: an interrupted run resumes here
    if (s == GC_OK) s = log_line(t, it, &st);
    for (int k = 0; k < built; k++) gc_mas_clear(&t->gs[k]);
    GC_TRY(s);
    *took = true;
    if (info) *info = (gc_train_iter){.iter = it, .n_iters = r->p.train_iters, .stats = st, .log_line = t->line};
    return GC_OK;
}

gc_status gc_train_all(gc_train *t, gc_train_iter_fn on_iter, void *user) {
    for (;;) {
        gc_train_iter info;
        bool took = false;
        GC_TRY(gc_train_step(t, &info, &took));
        if (!took) return GC_OK;
        if (on_iter) on_iter(user, &info);
    }
}

gc_policy *gc_train_policy(const gc_train *t) { return t->pol; }

gc_policy *gc_train_take_policy(gc_train *t) {
    if (!t->own) return NULL;
    t->own = false;
    return t->pol;
}

int64_t gc_train_next_offset(const gc_train *t) { return t->r->train_first + t->r->train_n; }
int64_t gc_train_iters_done(const gc_train *t) { return gc_policy_step(t->pol); }
