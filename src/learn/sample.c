// Drawing, greedy decoding and scoring of a topology + fuser choice.
// One routine walks the choices in a fixed order (spatial candidates
// row-major, temporal edges row-major, gates, fusion samples on accepted
// edges row-major); the mode says how each choice is made.
#include "learn/policy.h"
#include "core/error.h"
#include <math.h>
#include <string.h>

typedef enum { MODE_SAMPLE, MODE_GREEDY, MODE_SCORE } walk_mode;

// True if j already reaches i through accepted spatial edges, i.e. adding
// i→j would close a cycle.
static bool reaches(const gc_topo *t, int from, int to, uint32_t *seen) {
    if (from == to) return true;
    *seen |= 1u << from;
    for (int k = 0; k < t->n; k++)
        if (t->spatial[from][k] && !(*seen & (1u << k)) && reaches(t, k, to, seen)) return true;
    return false;
}

static bool closes_cycle(const gc_topo *t, int i, int j) {
    uint32_t seen = 0;
    return reaches(t, j, i, &seen);
}

// log of a Bernoulli(σ(x)) outcome.
static double log_bern(bool on, double x) { return gc_log_sigmoid(on ? x : -x); }

static double log_normal(double s, double mu, double sigma) {
    double d = (s - mu) / sigma;
    return -0.5 * d * d - log(sigma) - 0.5 * log(2.0 * M_PI);
}

// Greedy takes a choice when σ(x) ≥ ½: a tie (an untrained temporal edge,
// all codes alike) goes to communicating.
static bool choose(gc_rng *r, walk_mode m, double x) {
    if (m == MODE_SAMPLE) return gc_rng_uniform(r) < gc_sigmoid(x);
    return x >= 0;
}

static size_t mu_index(int n, int i, int j) { return (size_t)i * (size_t)(n - 1) + (size_t)(j < i ? j : j - 1); }

// fuse_w[i][j] = softmax over j's predecessors i of s_ij (0 where no edge).
static void fuse_weights(gc_sample *s) {
    int n = s->topo.n;
    for (int j = 0; j < n; j++) {
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++)
            if (s->topo.spatial[i][j] && s->fuse_s[i][j] > mx) mx = s->fuse_s[i][j];
        for (int i = 0; i < n; i++) {
            s->fuse_w[i][j] = s->topo.spatial[i][j] ? exp(s->fuse_s[i][j] - mx) : 0;
            sum += s->fuse_w[i][j];
        }
        for (int i = 0; i < n && sum > 0; i++) s->fuse_w[i][j] /= sum;
    }
}

// rng: where sampled choices (and a training dropout mask) come from.
static gc_status walk(gc_policy *p, gc_rng *rng, const double *features, walk_mode mode, bool train,
                      const gc_topo *given, const uint8_t *given_gate, gc_sample *out) {
    const gc_policy_params *cfg = &p->cfg;
    int n = cfg->n_nodes, h = cfg->hidden;
    if (!features) return gc_fail(GC_ERR_INVALID_ARG, "policy: features is NULL");
    for (size_t k = 0; k < (size_t)n * (size_t)cfg->feat_dim; k++)
        if (!isfinite(features[k]))
            return gc_fail(GC_ERR_INVALID_ARG, "policy: feature %zu of node %zu is not finite", k % (size_t)cfg->feat_dim,
                           k / (size_t)cfg->feat_dim);
    if (given && given->n != n)
        return gc_fail(GC_ERR_INVALID_ARG, "policy: topology has %d agents, the policy %d", given->n, n);
    GC_TRY(gc_sample_prepare(p, out));
    struct gc_sample_priv *pv = out->priv;
    gc_policy_aggregate(p, features, pv->ax);
    if (mode == MODE_SAMPLE && train && cfg->dropout > 0) {
        for (int k = 0; k < n * h; k++) pv->keep[k] = gc_rng_uniform(rng) >= cfg->dropout;
        pv->has_mask = true;
        pv->keep_scale = 1.0 / (1.0 - cfg->dropout);
    }
    gc_policy_bind_sample(p, out);
    gc_policy_forward(p);

    struct gc_sample_priv *keep_pv = out->priv;
    memset(out, 0, sizeof *out);
    out->priv = keep_pv;
    out->topo.n = n;
    out->n_layers = cfg->n_layers;
    double logp = 0;

    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j || closes_cycle(&out->topo, i, j)) continue;
            double x = gc_policy_edge_logit(p, i, j);
            bool on = mode == MODE_SCORE ? given->spatial[i][j] != 0 : choose(rng, mode, x);
            out->decided[i][j] = 1;
            out->topo.spatial[i][j] = on;
            logp += log_bern(on, x);
        }
    if (mode == MODE_SCORE)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (given->spatial[i][j] && !out->topo.spatial[i][j])
                    return gc_fail(GC_ERR_INVALID_ARG, "policy: scored topology is not a DAG (edge %d→%d)", i, j);

    const double *tl = p->theta + p->lay.off[GC_PG_TEMPORAL];
    out->has_temporal = cfg->learn_temporal;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (!cfg->learn_temporal) {
                out->topo.temporal[i][j] = mode == MODE_SCORE ? given->temporal[i][j] != 0 : 1;
                continue;
            }
            double x = tl[i * n + j] / cfg->temperature;
            bool on = mode == MODE_SCORE ? given->temporal[i][j] != 0 : choose(rng, mode, x);
            out->topo.temporal[i][j] = on;
            logp += log_bern(on, x);
        }

    const double *al = p->theta + p->lay.off[GC_PG_GATE];
    out->has_gates = cfg->learn_gates && (mode != MODE_SCORE || given_gate);
    for (int l = 0; l < cfg->n_layers; l++) {
        if (!cfg->learn_gates) {
            out->gate[l] = 1;
            continue;
        }
        double x = al[l] / cfg->gate_temperature;
        bool on = mode == MODE_SCORE ? (given_gate ? given_gate[l] != 0 : x >= 0) : choose(rng, mode, x);
        out->gate[l] = on;
        if (out->has_gates) logp += log_bern(on, x);
    }

    const double *mu = p->theta + p->lay.off[GC_PG_FUSE];
    out->has_fuse = cfg->learn_fuse && mode != MODE_SCORE;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (!out->topo.spatial[i][j] || !cfg->learn_fuse) continue;
            double m = mu[mu_index(n, i, j)], s = m;
            if (mode == MODE_SAMPLE) s = m + cfg->fuse_sigma * gc_rng_normal(rng);
            out->fuse_s[i][j] = s;
            if (out->has_fuse) logp += log_normal(s, m, cfg->fuse_sigma);
        }
    fuse_weights(out);
    out->logp = logp;
    return GC_OK;
}

gc_status gc_policy_sample(gc_policy *p, const double *features, bool train, gc_sample *out) {
    return walk(p, &p->rng, features, MODE_SAMPLE, train, NULL, NULL, out);
}

gc_status gc_policy_sample_seeded(gc_policy *p, const double *features, uint64_t seed, gc_sample *out) {
    gc_rng r;
    gc_rng_seed(&r, seed);
    return walk(p, &r, features, MODE_SAMPLE, false, NULL, NULL, out);
}

gc_status gc_policy_greedy(gc_policy *p, const double *features, gc_sample *out) {
    return walk(p, NULL, features, MODE_GREEDY, false, NULL, NULL, out);
}

gc_status gc_policy_score(gc_policy *p, const double *features, const gc_topo *topo, const uint8_t *gate,
                          gc_sample *out) {
    if (!topo) return gc_fail(GC_ERR_INVALID_ARG, "policy: topology to score is NULL");
    for (int i = 0; i < topo->n && i < GC_MAX_AGENTS; i++)
        if (topo->spatial[i][i]) return gc_fail(GC_ERR_INVALID_ARG, "policy: scored topology has a self-loop at %d", i);
    return walk(p, NULL, features, MODE_SCORE, false, topo, gate, out);
}

// log p of a stored sample at the current parameters, with its choices and
// dropout mask held fixed; when grad is non-NULL adds w · ∂log p/∂θ to it.
double gc_policy_sample_logp(gc_policy *p, const gc_sample *s, double w, double *grad) {
    const gc_policy_params *cfg = &p->cfg;
    int n = cfg->n_nodes;
    gc_policy_bind_sample(p, s);
    gc_policy_forward(p);
    double logp = 0, tau = cfg->temperature;
    memset(p->bw.gs, 0, (size_t)n * n * sizeof(double));
    // ∂/∂x of log Bernoulli(a; σ(x)) is a − σ(x); x = S'/τ.
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (!s->decided[i][j]) continue;
            double x = gc_policy_edge_logit(p, i, j);
            bool on = s->topo.spatial[i][j];
            logp += log_bern(on, x);
            p->bw.gs[i * n + j] = w * ((double)on - gc_sigmoid(x)) / tau;
        }
    if (grad) gc_policy_backward(p, grad);

    const double *tl = p->theta + p->lay.off[GC_PG_TEMPORAL];
    double *gt = grad ? grad + p->lay.off[GC_PG_TEMPORAL] : NULL;
    if (s->has_temporal)
        for (int k = 0; k < n * n; k++) {
            double x = tl[k] / tau;
            bool on = s->topo.temporal[k / n][k % n];
            logp += log_bern(on, x);
            if (gt) gt[k] += w * ((double)on - gc_sigmoid(x)) / tau;
        }
    const double *al = p->theta + p->lay.off[GC_PG_GATE];
    double *ga = grad ? grad + p->lay.off[GC_PG_GATE] : NULL;
    if (s->has_gates)
        for (int l = 0; l < cfg->n_layers; l++) {
            double x = al[l] / cfg->gate_temperature;
            logp += log_bern(s->gate[l], x);
            if (ga) ga[l] += w * ((double)s->gate[l] - gc_sigmoid(x)) / cfg->gate_temperature;
        }
    // ∂/∂μ of log N(s; μ, σ²) is (s − μ)/σ².
    const double *mu = p->theta + p->lay.off[GC_PG_FUSE];
    double *gm = grad ? grad + p->lay.off[GC_PG_FUSE] : NULL, sg = cfg->fuse_sigma;
    if (s->has_fuse)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                if (!s->topo.spatial[i][j]) continue;
                size_t k = mu_index(n, i, j);
                logp += log_normal(s->fuse_s[i][j], mu[k], sg);
                if (gm) gm[k] += w * (s->fuse_s[i][j] - mu[k]) / (sg * sg);
            }
    return logp;
}
