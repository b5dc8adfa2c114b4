// The REINFORCE loop (gc_train_*): per iteration, B training questions get a
// choice (topology and fuser) sampled with dropout, the environment returns
// their utilities, and the policy takes one Adam step; then the checkpoint
// and a log line. A run's environment runs the sampled graphs together on the
// scheduler and scores them (1/0 correctness or the decision node's
// probability of the gold answer).
#include "run/run_internal.h"
#include "core/error.h"
#include "core/file.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gc_train {
    gc_train_env env;    // its strings point into the copies below
    char *ckpt, *logp;
    gc_policy *pol;
    bool own;            // pol is freed with the training
    gc_run *r;           // the run it trains for (NULL: another environment)
    const char **run_roles;   // a run's role names (they live in its prompt set)
    FILE *log;
    int B, N, F;
    // Per iteration, reused: question indices (B), samples (B) and pointers
    // to them, utilities (B), the batch's mean edge probabilities (N, N), one
    // question's features (N, F) and edge probabilities (N, N).
    int64_t *idx;
    gc_sample *samples;
    gc_sample **sp;
    double *u, *edge_mean, *x, *ep;
    char *line;          // the last log line
    // A run's environment: its graphs (B) and their pointers for the scheduler.
    gc_qgraph *gs;
    gc_qgraph **gp;
};

void gc_train_free(gc_train *t) {
    if (!t) return;
    if (t->own) {
        if (t->r && t->r->policy == t->pol) t->r->policy = NULL;   // the run no longer evaluates it
        gc_policy_free(t->pol);
    }
    if (t->log) fclose(t->log);
    for (int k = 0; t->samples && k < t->B; k++) gc_sample_clear(&t->samples[k]);
    free(t->samples);
    free(t->ckpt);
    free(t->logp);
    free(t->idx);
    free(t->sp);
    free(t->u);
    free(t->edge_mean);
    free(t->x);
    free(t->ep);
    free(t->line);
    free(t->gs);
    free(t->gp);
    free(t->run_roles);
    free(t);
}

gc_status gc_train_open_env(gc_policy *policy, const gc_train_env *env, int batch_size, gc_train **out) {
    *out = NULL;
    if (!policy || !env || !env->features || !env->utilities || env->n < 0 || env->first < 0 || batch_size < 1)
        return gc_fail(GC_ERR_INVALID_ARG, "a training loop needs a policy, features, utilities, questions and a "
                                           "batch size >= 1");
    gc_train *t = calloc(1, sizeof *t);
    if (!t) return gc_fail(GC_ERR_OOM, "out of memory");
    const gc_policy_params pp = gc_policy_get_config(policy);
    t->env = *env;
    t->pol = policy;
    t->B = batch_size;
    t->N = pp.n_nodes;
    t->F = pp.feat_dim;
    const size_t B = (size_t)t->B, NN = (size_t)(t->N * t->N);
    t->idx = malloc(B * sizeof *t->idx);
    t->samples = calloc(B, sizeof *t->samples);
    t->sp = calloc(B, sizeof *t->sp);
    t->u = calloc(B, sizeof *t->u);
    t->edge_mean = calloc(NN, sizeof *t->edge_mean);
    t->ep = calloc(NN, sizeof *t->ep);
    t->x = malloc((size_t)t->N * (size_t)t->F * sizeof *t->x);
    gc_status s = GC_OK;
    if (!t->idx || !t->samples || !t->sp || !t->u || !t->edge_mean || !t->ep || !t->x)
        s = gc_fail(GC_ERR_OOM, "out of memory");
    for (size_t k = 0; s == GC_OK && k < B; k++) t->sp[k] = &t->samples[k];
    if (s == GC_OK && env->policy_path && !(t->ckpt = strdup(env->policy_path))) s = gc_fail(GC_ERR_OOM, "out of memory");
    if (s == GC_OK && env->log_path && !(t->logp = strdup(env->log_path))) s = gc_fail(GC_ERR_OOM, "out of memory");
    t->env.policy_path = t->ckpt;
    t->env.log_path = t->logp;
    if (s == GC_OK && t->logp && !(t->log = fopen(t->logp, env->append_log ? "a" : "w")))
        s = gc_fail(GC_ERR_IO, "cannot write %s: %s", t->logp, strerror(errno));
    if (s != GC_OK) {
        gc_train_free(t);
        return s;
    }
    *out = t;
    return GC_OK;
}

// ---- a run as the environment ----

static gc_status run_env_features(void *user, int64_t q, double *x) {
    gc_train *t = user;
    return run_features(t->r, q, x);
}

// Utility of question k of the batch: 1/0 correctness, or exp(mean log p) of the gold answer.
static gc_status utility(gc_run *r, int64_t qi, const gc_qgraph *g, double *u) {
    const gc_node *out = &g->nodes[g->output];
    char *pred = NULL;
    cJSON *scratch = cJSON_CreateObject();
    *u = run_score(r, qi, out->text ? out->text : "", &pred, scratch) ? 1.0 : 0.0;
    cJSON_Delete(scratch);
    free(pred);
    if (!r->likelihood) return GC_OK;
    if (out->score_tokens < 1) return gc_fail(GC_ERR_INVALID_ARG, "question %lld: no gold answer to score", (long long)qi);
    *u = exp(out->score_logp / (double)out->score_tokens);
    return GC_OK;
}

// The sampled graphs of the batch run together; each answer is scored.
static gc_status run_env_utilities(void *user, const int64_t *q, gc_sample *const *samples, int n, double *u) {
    gc_train *t = user;
    gc_run *r = t->r;
    gc_status s = GC_OK;
    int built = 0;
    for (int k = 0; k < n && s == GC_OK; k++, built++) {
        s = run_graph_build_sample(r, q[k], samples[k], &t->gs[k]);
        t->gp[k] = &t->gs[k];
    }
    if (s == GC_OK) s = gc_sched_run(r->e, r->tok, t->gp, n, &r->sp);
    for (int k = 0; k < n && s == GC_OK; k++) s = utility(r, q[k], &t->gs[k], &u[k]);
    for (int k = 0; k < built; k++) gc_mas_clear(&t->gs[k]);
    return s;
}

static gc_status open_policy(gc_run *r, const char *ckpt, gc_policy *given, gc_policy **pol) {
    gc_policy_params pp = run_policy_params(r);
    if (given) {
        GC_TRY(run_check_policy(r, given));
        *pol = given;
        return GC_OK;
    }
    if (r->p.resume && ckpt && gc_file_exists(ckpt)) {
        GC_TRY(gc_policy_load(ckpt, &pp, pol));
        run_note(r, "resumed policy from %s (step %lld)", ckpt, (long long)gc_policy_step(*pol));
        return GC_OK;
    }
    const int N = r->gp.n_agents;
    double *adj = malloc((size_t)(N * N) * sizeof *adj);
    if (!adj) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_prompts_role_adjacency(r->ps, N, adj);
    gc_status s = gc_policy_new(&pp, adj, pol);
    free(adj);
    return s;
}

gc_status gc_train_open(gc_run *r, gc_policy *policy, gc_train **out) {
    *out = NULL;
    if (r->how != RUN_LEARNED) return gc_fail(GC_ERR_INVALID_ARG, "training needs method gcache with topology Learned");
    const char *dir = r->p.checkpoint ? r->p.checkpoint : r->out_dir;
    char *ckpt = dir ? gc_path_join(dir, "policy.ckpt") : NULL, *logp = dir ? gc_path_join(dir, "train_log.jsonl") : NULL;
    const int N = r->gp.n_agents;
    const char **roles = calloc((size_t)N, sizeof *roles);
    gc_policy *pol = NULL;
    gc_status s = (dir && (!ckpt || !logp)) || !roles ? gc_fail(GC_ERR_OOM, "out of memory") : GC_OK;
    for (int i = 0; i < N && roles; i++) roles[i] = gc_prompts_role_name(r->ps, i);
    if (s == GC_OK) s = open_policy(r, ckpt, policy, &pol);
    // Both callbacks get the training (user is set once it exists).
    gc_train_env env = {.first = r->train_first, .n = r->train_n, .n_iters = r->p.train_iters,
                        .features = run_env_features, .utilities = run_env_utilities, .roles = roles,
                        .policy_path = ckpt, .log_path = logp, .append_log = r->p.resume};
    gc_train *t = NULL;
    if (s == GC_OK) s = gc_train_open_env(pol, &env, r->p.batch_size, &t);
    if (t) {
        t->own = pol != policy;
        t->r = r;
        t->env.user = t;
        t->run_roles = roles;
        roles = NULL;
        t->gs = calloc((size_t)t->B, sizeof *t->gs);
        t->gp = calloc((size_t)t->B, sizeof *t->gp);
        if (!t->gs || !t->gp) s = gc_fail(GC_ERR_OOM, "out of memory");
    } else if (pol != policy) {
        gc_policy_free(pol);
    }
    free(roles);
    free(ckpt);
    free(logp);
    if (s != GC_OK) {
        gc_train_free(t);
        return s;
    }
    *out = t;
    return GC_OK;
}

// ---- the loop ----

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
    if (t->env.roles) {
        cJSON *roles = cJSON_CreateArray();
        for (int i = 0; i < N; i++) cJSON_AddItemToArray(roles, cJSON_CreateString(t->env.roles[i]));
        cJSON_AddItemToObject(o, "roles", roles);
    }
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

gc_status gc_train_step(gc_train *t, gc_train_iter *info, bool *took) {
    const gc_train_env *env = &t->env;
    const int64_t it = gc_policy_step(t->pol);
    *took = false;
    if (it >= env->n_iters || env->n < 1) return GC_OK;
    const int B = t->B, NN = t->N * t->N;
    // Iteration `it` uses questions first + it·B … (cycling through the training range).
    for (int k = 0; k < B; k++) t->idx[k] = env->first + (it * B + k) % env->n;
    if (t->r) t->r->policy = t->pol;
    memset(t->edge_mean, 0, (size_t)NN * sizeof *t->edge_mean);
    gc_status s = GC_OK;
    for (int k = 0; k < B && s == GC_OK; k++) {
        if ((s = env->features(env->user, t->idx[k], t->x)) != GC_OK) break;
        if ((s = gc_policy_sample(t->pol, t->x, true, &t->samples[k])) != GC_OK) break;
        gc_policy_edge_probs(t->pol, t->x, t->ep);
        for (int e = 0; e < NN; e++) t->edge_mean[e] += t->ep[e] / (double)B;
    }
    if (s == GC_OK) s = env->utilities(env->user, t->idx, t->sp, B, t->u);
    gc_train_stats st = {0};
    if (s == GC_OK) s = gc_policy_update(t->pol, t->sp, t->u, B, &st);
    if (s == GC_OK && t->ckpt) s = gc_policy_save(t->pol, t->ckpt);   // atomic: an interrupted run resumes here
    if (s == GC_OK) s = log_line(t, it, &st);
    GC_TRY(s);
    *took = true;
    if (info) *info = (gc_train_iter){.iter = it, .n_iters = env->n_iters, .stats = st, .log_line = t->line};
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

int64_t gc_train_next_offset(const gc_train *t) { return t->env.first + t->env.n; }
int64_t gc_train_iters_done(const gc_train *t) { return gc_policy_step(t->pol); }
