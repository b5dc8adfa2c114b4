// Forward pass: GCN (2 layers) → MLP → node codes Z → edge logits S' (the
// min-max normalised off-diagonal of Z Zᵀ).
#include "learn/policy.h"
#include <math.h>
#include <string.h>

// out (rows, cols) = a (rows, k) · w (k, cols) + bias (cols).
static void affine(const double *a, const double *w, const double *bias, double *out, int rows, size_t k, int cols) {
    for (int r = 0; r < rows; r++) {
        double *o = out + (size_t)r * cols;
        memcpy(o, bias, (size_t)cols * sizeof *o);
        const double *ar = a + (size_t)r * k;
        for (size_t t = 0; t < k; t++) {
            double x = ar[t];
            if (x == 0) continue;
            const double *wr = w + t * (size_t)cols;
            for (int c = 0; c < cols; c++) o[c] += x * wr[c];
        }
    }
}

void gc_policy_forward(gc_policy *p) {
    const gc_policy_params *cfg = &p->cfg;
    int n = cfg->n_nodes, h = cfg->hidden, c = cfg->code_dim;
    const double *th = p->theta;
    const size_t *off = p->lay.off;
    gc_fwd *fw = &p->fw;

    // Layer 1: p1 = (Â X) W1 + b1 (N, H); h1 = ReLU(p1), then the dropout mask.
    affine(fw->ax, th + off[GC_PG_W1], th + off[GC_PG_B1], fw->p1, n, (size_t)cfg->feat_dim, h);
    for (int k = 0; k < n * h; k++) {
        double v = fw->p1[k] > 0 ? fw->p1[k] : 0;
        if (fw->keep) v = fw->keep[k] ? v * fw->keep_scale : 0;
        fw->h1[k] = v;
    }
    // Layer 2: h2 = (Â h1) W2 + b2 (N, H).
    memset(fw->ah1, 0, (size_t)n * h * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double a = p->ahat[i * n + k];
            if (a != 0)
                for (int t = 0; t < h; t++) fw->ah1[i * h + t] += a * fw->h1[k * h + t];
        }
    affine(fw->ah1, th + off[GC_PG_W2], th + off[GC_PG_B2], fw->h2, n, (size_t)h, h);
    // MLP: q = ReLU(h2 V1 + c1) (N, H); Z = q V2 + c2 (N, C).
    affine(fw->h2, th + off[GC_PG_V1], th + off[GC_PG_C1], fw->q1, n, (size_t)h, h);
    for (int k = 0; k < n * h; k++) fw->q[k] = fw->q1[k] > 0 ? fw->q1[k] : 0;
    affine(fw->q, th + off[GC_PG_V2], th + off[GC_PG_C2], fw->z, n, (size_t)h, c);

    // S = Z Zᵀ (N, N); min and max over i ≠ j, first in row-major order.
    // S is symmetric, so the max sits at (a, b) and (b, a): taking the first
    // (a < b) routes its gradient to one entry, which is the same function of Z.
    double mx = -INFINITY, mn = INFINITY;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double d = 0;
            for (int t = 0; t < c; t++) d += fw->z[i * c + t] * fw->z[j * c + t];
            fw->s[i * n + j] = d;
            if (i == j) continue;
            if (d > mx) mx = d, fw->imax = i, fw->jmax = j;
            if (d < mn) mn = d, fw->imin = i, fw->jmin = j;
        }
    // S' = 2 (S − min) / (max − min) − 1; when the range vanishes against the
    // values (all codes alike) every S' is 0: p = 1/2 and no gradient through S.
    double range = mx - mn;
    if (!(range > 1e-12 * (1.0 + fabs(mx) + fabs(mn)))) range = 0;
    fw->range = range;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            fw->sn[i * n + j] = (i == j || range == 0) ? 0 : 2.0 * (fw->s[i * n + j] - mn) / range - 1.0;
}

double gc_policy_kink_margin(const gc_policy *p) {
    const gc_fwd *fw = &p->fw;
    int n = p->cfg.n_nodes, h = p->cfg.hidden;
    double m = INFINITY;
    for (int k = 0; k < n * h; k++) {
        if (fabs(fw->p1[k]) < m) m = fabs(fw->p1[k]);
        if (fabs(fw->q1[k]) < m) m = fabs(fw->q1[k]);
    }
    if (fw->range == 0) return m;
    // Over unordered pairs: the gap from the max (min) to the runner-up.
    double smax = fw->s[fw->imax * n + fw->jmax], smin = fw->s[fw->imin * n + fw->jmin];
    double second_max = -INFINITY, second_min = INFINITY;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            bool is_max = (i == fw->imax && j == fw->jmax) || (i == fw->jmax && j == fw->imax);
            bool is_min = (i == fw->imin && j == fw->jmin) || (i == fw->jmin && j == fw->imin);
            double v = fw->s[i * n + j];
            if (!is_max && v > second_max) second_max = v;
            if (!is_min && v < second_min) second_min = v;
        }
    if (smax - second_max < m) m = smax - second_max;
    if (second_min - smin < m) m = second_min - smin;
    return m;
}
