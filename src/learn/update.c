// REINFORCE loss and gradient over a batch, global-norm clipping, Adam, and
// the running-mean baseline.
#include "learn/policy.h"
#include "core/error.h"
#include <math.h>
#include <string.h>

#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8

static gc_status check_batch(const gc_policy *p, gc_sample *const *batch, const double *u, int n) {
    if (n < 1 || !batch || !u) return gc_fail(GC_ERR_INVALID_ARG, "policy update: empty batch");
    for (int k = 0; k < n; k++) {
        const gc_sample *s = batch[k];
        if (!s || !s->priv) return gc_fail(GC_ERR_INVALID_ARG, "policy update: batch[%d] is not a sample", k);
        const struct gc_sample_priv *pv = s->priv;
        if (pv->n != p->cfg.n_nodes || pv->f != p->cfg.feat_dim || pv->h != p->cfg.hidden ||
            s->topo.n != p->cfg.n_nodes || s->n_layers != p->cfg.n_layers)
            return gc_fail(GC_ERR_INVALID_ARG, "policy update: batch[%d] was drawn from a policy of another shape", k);
        if (!isfinite(u[k])) return gc_fail(GC_ERR_INVALID_ARG, "policy update: utility[%d] is not finite", k);
    }
    return GC_OK;
}

static void zero_group(gc_policy *p, double *grad, gc_param_group g) {
    memset(grad + p->lay.off[g], 0, (p->lay.off[g + 1] - p->lay.off[g]) * sizeof *grad);
}

// loss = −(1/B) Σ_k (u_k − b) log p_k, so sample k's log p enters with weight
// w_k = −(u_k − b)/B.
static double loss_grad(gc_policy *p, gc_sample *const *batch, const double *u, int n, double *grad) {
    double b = p->cfg.use_baseline ? p->baseline : 0.0, loss = 0;
    if (grad) memset(grad, 0, p->n_params * sizeof *grad);
    for (int k = 0; k < n; k++) {
        double w = -(u[k] - b) / n;
        loss += w * gc_policy_sample_logp(p, batch[k], w, grad);
    }
    if (grad) {
        if (!p->cfg.learn_temporal) zero_group(p, grad, GC_PG_TEMPORAL);
        if (!p->cfg.learn_gates) zero_group(p, grad, GC_PG_GATE);
        if (!p->cfg.learn_fuse) zero_group(p, grad, GC_PG_FUSE);
    }
    return loss;
}

gc_status gc_policy_loss_grad(gc_policy *p, gc_sample *const *batch, const double *utilities, int n, double *loss,
                              double *grad) {
    GC_TRY(check_batch(p, batch, utilities, n));
    double l = loss_grad(p, batch, utilities, n, grad);
    if (loss) *loss = l;
    return GC_OK;
}

gc_status gc_policy_update(gc_policy *p, gc_sample *const *batch, const double *utilities, int n,
                           gc_train_stats *st) {
    GC_TRY(check_batch(p, batch, utilities, n));
    double *g = p->grad;
    double loss = loss_grad(p, batch, utilities, n, g);
    double sq = 0, mean_u = 0, mean_lp = 0;
    for (size_t k = 0; k < p->n_params; k++) sq += g[k] * g[k];
    double norm = sqrt(sq);
    if (!isfinite(norm)) return gc_fail(GC_ERR_INTERNAL, "policy update: gradient is not finite");
    double scale = p->cfg.clip_norm > 0 && norm > p->cfg.clip_norm ? p->cfg.clip_norm / norm : 1.0;

    p->step++;
    double c1 = 1.0 - pow(ADAM_B1, (double)p->step), c2 = 1.0 - pow(ADAM_B2, (double)p->step);
    for (size_t k = 0; k < p->n_params; k++) {
        double gk = g[k] * scale;
        p->m[k] = ADAM_B1 * p->m[k] + (1.0 - ADAM_B1) * gk;
        p->v[k] = ADAM_B2 * p->v[k] + (1.0 - ADAM_B2) * gk * gk;
        p->theta[k] -= p->cfg.lr * (p->m[k] / c1) / (sqrt(p->v[k] / c2) + ADAM_EPS);
    }

    for (int k = 0; k < n; k++) mean_u += utilities[k], mean_lp += batch[k]->logp;
    mean_u /= n, mean_lp /= n;
    double b_used = p->cfg.use_baseline ? p->baseline : 0.0;
    // The baseline moves after the loss is formed, so it never depends on this batch.
    if (p->cfg.use_baseline) p->baseline = p->cfg.baseline_beta * p->baseline + (1.0 - p->cfg.baseline_beta) * mean_u;
    if (st) {
        st->step = p->step;
        st->loss = loss;
        st->mean_utility = mean_u;
        st->baseline = b_used;
        st->mean_logp = mean_lp;
        st->grad_norm = norm;
    }
    return GC_OK;
}
