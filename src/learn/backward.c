// Backward pass from ∂L/∂S' to the GCN and MLP parameters, by hand:
// min-max normalisation → S = Z Zᵀ → MLP → GCN layer 2 → dropout/ReLU → layer 1.
#include "learn/policy.h"
#include <string.h>

// grad_w (k, cols) += aᵀ (rows, k) · g (rows, cols); grad_b (cols) += Σ_rows g.
static void affine_grad(const double *a, const double *g, double *grad_w, double *grad_b, int rows, size_t k,
                        int cols) {
    for (int r = 0; r < rows; r++) {
        const double *gr = g + (size_t)r * cols, *ar = a + (size_t)r * k;
        for (int c = 0; c < cols; c++) grad_b[c] += gr[c];
        for (size_t t = 0; t < k; t++) {
            double x = ar[t];
            if (x == 0) continue;
            double *gw = grad_w + t * (size_t)cols;
            for (int c = 0; c < cols; c++) gw[c] += x * gr[c];
        }
    }
}

// out (rows, k) = g (rows, cols) · wᵀ, w (k, cols).
static void times_wt(const double *g, const double *w, double *out, int rows, int k, int cols) {
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < k; t++) {
            double d = 0;
            for (int c = 0; c < cols; c++) d += g[r * cols + c] * w[t * cols + c];
            out[r * k + t] = d;
        }
}

void gc_policy_backward(gc_policy *p, double *grad) {
    const gc_policy_params *cfg = &p->cfg;
    int n = cfg->n_nodes, h = cfg->hidden, c = cfg->code_dim;
    const double *th = p->theta;
    const size_t *off = p->lay.off;
    const gc_fwd *fw = &p->fw;
    gc_bwd *bw = &p->bw;
    double r = fw->range;
    if (r == 0) return;   // S' ≡ 0: nothing upstream of it is reached

    // Min-max: S'_kl = 2 (S_kl − m)/R − 1 with R = M − m, so
    //   ∂S'_kl/∂S_kl = 2/R,  ∂S'_kl/∂M = −(S'_kl + 1)/R,  ∂S'_kl/∂m = (S'_kl − 1)/R,
    // and M, m pass their gradient to the entries they were taken from.
    double g_max = 0, g_min = 0;
    for (int k = 0; k < n * n; k++) {
        double g = bw->gs[k];
        if (g == 0) continue;
        g_max -= g * (fw->sn[k] + 1.0) / r;
        g_min += g * (fw->sn[k] - 1.0) / r;
        bw->gs[k] = 2.0 * g / r;
    }
    bw->gs[fw->imax * n + fw->jmax] += g_max;
    bw->gs[fw->imin * n + fw->jmin] += g_min;

    // S = Z Zᵀ: ∂L/∂Z = (G + Gᵀ) Z, (N, C).
    for (int i = 0; i < n; i++)
        for (int t = 0; t < c; t++) {
            double d = 0;
            for (int j = 0; j < n; j++) d += (bw->gs[i * n + j] + bw->gs[j * n + i]) * fw->z[j * c + t];
            bw->gz[i * c + t] = d;
        }
    // Z = q V2 + c2; q = ReLU(q1).
    affine_grad(fw->q, bw->gz, grad + off[GC_PG_V2], grad + off[GC_PG_C2], n, (size_t)h, c);
    times_wt(bw->gz, th + off[GC_PG_V2], bw->gq, n, h, c);
    for (int k = 0; k < n * h; k++)
        if (!(fw->q1[k] > 0)) bw->gq[k] = 0;
    // q1 = h2 V1 + c1.
    affine_grad(fw->h2, bw->gq, grad + off[GC_PG_V1], grad + off[GC_PG_C1], n, (size_t)h, h);
    times_wt(bw->gq, th + off[GC_PG_V1], bw->gh2, n, h, h);
    // h2 = (Â h1) W2 + b2.
    affine_grad(fw->ah1, bw->gh2, grad + off[GC_PG_W2], grad + off[GC_PG_B2], n, (size_t)h, h);
    times_wt(bw->gh2, th + off[GC_PG_W2], bw->gah1, n, h, h);
    // ∂L/∂h1 = Âᵀ ∂L/∂(Â h1) (Â is symmetric); then through the mask and the ReLU of p1.
    for (int i = 0; i < n; i++)
        for (int t = 0; t < h; t++) {
            double d = 0;
            for (int k = 0; k < n; k++) d += p->ahat[k * n + i] * bw->gah1[k * h + t];
            int idx = i * h + t;
            if (!(fw->p1[idx] > 0)) d = 0;
            else if (fw->keep) d = fw->keep[idx] ? d * fw->keep_scale : 0;
            bw->gp1[idx] = d;
        }
    // p1 = (Â X) W1 + b1.
    affine_grad(fw->ax, bw->gp1, grad + off[GC_PG_W1], grad + off[GC_PG_B1], n, (size_t)cfg->feat_dim, h);
}
