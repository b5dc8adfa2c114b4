// Policy handle: configuration checks, parameter layout, allocation and
// initialisation, flat parameter access and probability queries.
#include "learn/policy.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// Upper bounds keep every size product far from overflow (and a checkpoint's
// claimed sizes from asking for absurd allocations before its length check).
#define MAX_FEAT (1 << 20)
#define MAX_WIDTH 4096

gc_policy_params gc_policy_default_params(void) {
    gc_policy_params p = {
        .n_nodes = 4, .feat_dim = 64, .n_layers = 1, .hidden = 16, .code_dim = 16,
        .temperature = 1.0, .gate_temperature = 1.0, .fuse_sigma = 0.5, .lr = 0.1, .clip_norm = 1.0,
        .baseline_beta = 0.9, .use_baseline = true, .learn_temporal = true, .learn_gates = true,
        .learn_fuse = true, .dropout = 0.5, .seed = 0x9c0ffee,
    };
    return p;
}

static bool pos_finite(double x) { return x > 0 && isfinite(x); }

gc_status gc_policy_check_params(const gc_policy_params *p, const char *ctx) {
    const char *c = ctx ? ctx : "policy";
    if (p->n_nodes < 2 || p->n_nodes > GC_MAX_AGENTS)
        return gc_fail(GC_ERR_INVALID_ARG, "%s: n_nodes must be in [2, %d], got %d", c, GC_MAX_AGENTS, p->n_nodes);
    if (p->feat_dim < 1 || p->feat_dim > MAX_FEAT)
        return gc_fail(GC_ERR_INVALID_ARG, "%s: feat_dim must be in [1, %d], got %d", c, MAX_FEAT, p->feat_dim);
    if (p->n_layers < 1 || p->n_layers > GC_MAX_LAYERS)
        return gc_fail(GC_ERR_INVALID_ARG, "%s: n_layers must be in [1, %d], got %d", c, GC_MAX_LAYERS, p->n_layers);
    if (p->hidden < 1 || p->hidden > MAX_WIDTH || p->code_dim < 1 || p->code_dim > MAX_WIDTH)
        return gc_fail(GC_ERR_INVALID_ARG, "%s: hidden and code_dim must be in [1, %d], got %d and %d", c, MAX_WIDTH,
                       p->hidden, p->code_dim);
    // Lower bounds keep S'/τ and (s − μ)/σ far from overflow.
    if (!(p->temperature >= 1e-3) || !(p->gate_temperature >= 1e-3) || !(p->fuse_sigma >= 1e-6) ||
        !isfinite(p->temperature) || !isfinite(p->gate_temperature) || !isfinite(p->fuse_sigma))
        return gc_fail(GC_ERR_INVALID_ARG,
                       "%s: temperature and gate_temperature must be >= 1e-3 and fuse_sigma >= 1e-6 (finite)", c);
    if (!pos_finite(p->lr)) return gc_fail(GC_ERR_INVALID_ARG, "%s: lr must be positive", c);
    if (!(p->clip_norm >= 0) || !isfinite(p->clip_norm))
        return gc_fail(GC_ERR_INVALID_ARG, "%s: clip_norm must be >= 0 (0 = off)", c);
    if (!(p->baseline_beta >= 0 && p->baseline_beta <= 1))
        return gc_fail(GC_ERR_INVALID_ARG, "%s: baseline_beta must be in [0, 1]", c);
    if (!(p->dropout >= 0 && p->dropout < 1)) return gc_fail(GC_ERR_INVALID_ARG, "%s: dropout must be in [0, 1)", c);
    return GC_OK;
}

gc_layout gc_policy_layout(const gc_policy_params *p) {
    size_t n = (size_t)p->n_nodes, f = (size_t)p->feat_dim, h = (size_t)p->hidden, c = (size_t)p->code_dim;
    size_t len[GC_PG_COUNT] = {
        [GC_PG_W1] = f * h, [GC_PG_B1] = h, [GC_PG_W2] = h * h, [GC_PG_B2] = h,
        [GC_PG_V1] = h * h, [GC_PG_C1] = h, [GC_PG_V2] = h * c, [GC_PG_C2] = c,
        [GC_PG_TEMPORAL] = n * n, [GC_PG_GATE] = (size_t)p->n_layers, [GC_PG_FUSE] = n * (n - 1),
    };
    gc_layout l = {{0}};
    for (int g = 0; g < GC_PG_COUNT; g++) l.off[g + 1] = l.off[g] + len[g];
    return l;
}

const char *gc_param_group_name(gc_param_group g) {
    static const char *names[GC_PG_COUNT] = {"W1", "b1", "W2", "b2", "V1", "c1", "V2", "c2",
                                              "temporal", "gate", "fuse_mu"};
    return (unsigned)g < GC_PG_COUNT ? names[g] : "?";
}

void gc_policy_group_range(const gc_policy *p, gc_param_group g, size_t *offset, size_t *len) {
    *offset = p->lay.off[g];
    *len = p->lay.off[g + 1] - p->lay.off[g];
}

// Â = D^{-1/2} (A + I) D^{-1/2}, D the degrees of A + I (all ≥ 1).
static void normalise_adjacency(int n, const uint8_t *adj, double *ahat) {
    double dinv[GC_MAX_AGENTS];
    for (int i = 0; i < n; i++) {
        int d = 1;
        for (int j = 0; j < n; j++) d += adj[i * n + j];
        dinv[i] = 1.0 / sqrt((double)d);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) ahat[i * n + j] = ((i == j) + adj[i * n + j]) * dinv[i] * dinv[j];
}

gc_status gc_policy_alloc(const gc_policy_params *cfg, const uint8_t *adj, gc_policy **out) {
    *out = NULL;
    GC_TRY(gc_policy_check_params(cfg, "policy"));
    gc_policy *p = calloc(1, sizeof *p);
    if (!p) return gc_fail(GC_ERR_OOM, "out of memory (policy)");
    p->cfg = *cfg;
    size_t n = (size_t)cfg->n_nodes, f = (size_t)cfg->feat_dim, h = (size_t)cfg->hidden, c = (size_t)cfg->code_dim;
    p->lay = gc_policy_layout(cfg);
    p->n_params = p->lay.off[GC_PG_COUNT];
    // fw: p1 h1 ah1 h2 q1 q (N×H each), z (N×C), s sn (N×N); bw: gs, gz, 4 × N×H; ax_scratch N×F.
    size_t arena = 6 * n * h + n * c + 2 * n * n + n * n + n * c + 4 * n * h + n * f;
    p->adj = calloc(n * n, 1);
    p->ahat = calloc(n * n, sizeof(double));
    p->theta = calloc(p->n_params, sizeof(double));
    p->m = calloc(p->n_params, sizeof(double));
    p->v = calloc(p->n_params, sizeof(double));
    p->grad = calloc(p->n_params, sizeof(double));
    p->arena = calloc(arena, sizeof(double));
    if (!p->adj || !p->ahat || !p->theta || !p->m || !p->v || !p->grad || !p->arena) {
        gc_policy_free(p);
        return gc_fail(GC_ERR_OOM, "out of memory (policy, %zu parameters)", p->n_params);
    }
    double *a = p->arena;
    double **slots[] = {&p->fw.p1, &p->fw.h1, &p->fw.ah1, &p->fw.h2, &p->fw.q1, &p->fw.q};
    for (size_t k = 0; k < 6; k++, a += n * h) *slots[k] = a;
    p->fw.z = a, a += n * c;
    p->fw.s = a, a += n * n;
    p->fw.sn = a, a += n * n;
    p->bw.gs = a, a += n * n;
    p->bw.gz = a, a += n * c;
    double **bslots[] = {&p->bw.gq, &p->bw.gh2, &p->bw.gah1, &p->bw.gp1};
    for (size_t k = 0; k < 4; k++, a += n * h) *bslots[k] = a;
    p->ax_scratch = a;
    if (adj)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) p->adj[i * n + j] = i != j && adj[i * n + j];
    normalise_adjacency((int)n, p->adj, p->ahat);
    p->fw.keep_scale = 1.0;
    *out = p;
    return GC_OK;
}

static void glorot(gc_rng *r, double *w, size_t fan_in, size_t fan_out) {
    double lim = sqrt(6.0 / (double)(fan_in + fan_out));
    for (size_t k = 0; k < fan_in * fan_out; k++) w[k] = (2.0 * gc_rng_uniform(r) - 1.0) * lim;
}

gc_status gc_policy_new(const gc_policy_params *cfg, const double *adj, gc_policy **out) {
    *out = NULL;
    GC_TRY(gc_policy_check_params(cfg, "policy"));
    int n = cfg->n_nodes;
    uint8_t a[GC_MAX_AGENTS * GC_MAX_AGENTS] = {0};
    if (adj)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double v = adj[i * n + j];
                if (i == j) continue;
                if (v != 0 && v != 1)
                    return gc_fail(GC_ERR_INVALID_ARG, "policy: role graph entry (%d, %d) is %g, expected 0 or 1", i, j, v);
                if (v != adj[j * n + i])
                    return gc_fail(GC_ERR_INVALID_ARG, "policy: role graph is not symmetric at (%d, %d)", i, j);
                a[i * n + j] = (uint8_t)v;
            }
    gc_policy *p;
    GC_TRY(gc_policy_alloc(cfg, a, &p));
    gc_rng_seed(&p->rng, cfg->seed);
    size_t f = (size_t)cfg->feat_dim, h = (size_t)cfg->hidden, c = (size_t)cfg->code_dim;
    glorot(&p->rng, p->theta + p->lay.off[GC_PG_W1], f, h);
    glorot(&p->rng, p->theta + p->lay.off[GC_PG_W2], h, h);
    glorot(&p->rng, p->theta + p->lay.off[GC_PG_V1], h, h);
    glorot(&p->rng, p->theta + p->lay.off[GC_PG_V2], h, c);
    // Gates start at α = τ_g, i.e. p = σ(1) ≈ 0.73 (the strongest spatial
    // edge's start): an untrained policy keeps the received caches and
    // training has to learn to hide a layer.
    double *alpha = p->theta + p->lay.off[GC_PG_GATE];
    for (int l = 0; l < cfg->n_layers; l++) alpha[l] = cfg->gate_temperature;
    *out = p;
    return GC_OK;
}

void gc_policy_free(gc_policy *p) {
    if (!p) return;
    free(p->adj);
    free(p->ahat);
    free(p->theta);
    free(p->m);
    free(p->v);
    free(p->grad);
    free(p->arena);
    free(p);
}

gc_policy_params gc_policy_get_config(const gc_policy *p) { return p->cfg; }
size_t gc_policy_n_params(const gc_policy *p) { return p->n_params; }
void gc_policy_get_params(const gc_policy *p, double *out) { memcpy(out, p->theta, p->n_params * sizeof *out); }
void gc_policy_set_params(gc_policy *p, const double *in) { memcpy(p->theta, in, p->n_params * sizeof *in); }
double gc_policy_baseline(const gc_policy *p) { return p->baseline; }
int64_t gc_policy_step(const gc_policy *p) { return p->step; }

void gc_policy_aggregate(const gc_policy *p, const double *x, double *ax) {
    int n = p->cfg.n_nodes;
    size_t f = (size_t)p->cfg.feat_dim;
    memset(ax, 0, (size_t)n * f * sizeof *ax);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double a = p->ahat[i * n + k];
            if (a == 0) continue;
            for (size_t c = 0; c < f; c++) ax[i * f + c] += a * x[k * f + c];
        }
}

void gc_policy_edge_probs(gc_policy *p, const double *features, double *probs) {
    int n = p->cfg.n_nodes;
    gc_policy_aggregate(p, features, p->ax_scratch);
    p->fw.ax = p->ax_scratch;
    p->fw.keep = NULL;
    p->fw.keep_scale = 1.0;
    gc_policy_forward(p);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) probs[i * n + j] = i == j ? 0 : gc_sigmoid(gc_policy_edge_logit(p, i, j));
}

void gc_policy_temporal_probs(const gc_policy *p, double *probs) {
    const double *t = p->theta + p->lay.off[GC_PG_TEMPORAL];
    for (int k = 0; k < p->cfg.n_nodes * p->cfg.n_nodes; k++) probs[k] = gc_sigmoid(t[k] / p->cfg.temperature);
}

void gc_policy_gate_probs(const gc_policy *p, double *probs) {
    const double *a = p->theta + p->lay.off[GC_PG_GATE];
    for (int l = 0; l < p->cfg.n_layers; l++) probs[l] = gc_sigmoid(a[l] / p->cfg.gate_temperature);
}

void gc_policy_fuse_means(const gc_policy *p, double *mu) {
    int n = p->cfg.n_nodes;
    const double *m = p->theta + p->lay.off[GC_PG_FUSE];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) mu[i * n + j] = i == j ? 0 : *m++;
}

gc_status gc_sample_prepare(const gc_policy *p, gc_sample *out) {
    struct gc_sample_priv *pv = out->priv;
    if (!pv) {
        pv = calloc(1, sizeof *pv);
        if (!pv) return gc_fail(GC_ERR_OOM, "out of memory (sample)");
        out->priv = pv;
    }
    size_t nax = (size_t)p->cfg.n_nodes * (size_t)p->cfg.feat_dim, nk = (size_t)p->cfg.n_nodes * (size_t)p->cfg.hidden;
    if (pv->cap_ax < nax) {
        double *b = realloc(pv->ax, nax * sizeof *b);
        if (!b) return gc_fail(GC_ERR_OOM, "out of memory (sample features)");
        pv->ax = b, pv->cap_ax = nax;
    }
    if (pv->cap_keep < nk) {
        uint8_t *b = realloc(pv->keep, nk);
        if (!b) return gc_fail(GC_ERR_OOM, "out of memory (sample mask)");
        pv->keep = b, pv->cap_keep = nk;
    }
    pv->n = p->cfg.n_nodes, pv->f = p->cfg.feat_dim, pv->h = p->cfg.hidden;
    pv->has_mask = false;
    pv->keep_scale = 1.0;
    return GC_OK;
}

void gc_sample_clear(gc_sample *s) {
    if (!s) return;
    if (s->priv) {
        free(s->priv->ax);
        free(s->priv->keep);
        free(s->priv);
    }
    memset(s, 0, sizeof *s);
}

void gc_policy_bind_sample(gc_policy *p, const gc_sample *s) {
    p->fw.ax = s->priv->ax;
    p->fw.keep = s->priv->has_mask ? s->priv->keep : NULL;
    p->fw.keep_scale = s->priv->keep_scale;
}
