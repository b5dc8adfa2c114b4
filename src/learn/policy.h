// Internals of the learned policy (include/gcache/learn.h): the handle, its
// RNG, and the forward/backward passes shared by sampling, scoring and the
// update. Tests include this header for kink margins.
#ifndef GC_LEARN_POLICY_H
#define GC_LEARN_POLICY_H
#include "gcache/learn.h"

// xoshiro256** (Blackman & Vigna); state seeded by splitmix64. The state is
// part of the checkpoint, so a resumed run draws the same numbers.
typedef struct gc_rng { uint64_t s[4]; } gc_rng;
void gc_rng_seed(gc_rng *r, uint64_t seed);
uint64_t gc_rng_next(gc_rng *r);
double gc_rng_uniform(gc_rng *r);   // [0, 1), 53 bits
double gc_rng_normal(gc_rng *r);    // N(0, 1), Box–Muller (one value per call, nothing cached)

// Activations of one forward pass (policy scratch; sizes N, F, H = hidden,
// C = code_dim). Every matrix is row-major.
typedef struct gc_fwd {
    const double *ax;       // (N, F)  Â X
    const uint8_t *keep;    // (N, H)  dropout mask, NULL = no dropout
    double keep_scale;      // 1 / (1 − dropout) on kept units
    double *p1;             // (N, H)  Â X W1 + b1
    double *h1;             // (N, H)  ReLU(p1) ⊙ mask · keep_scale
    double *ah1;            // (N, H)  Â h1
    double *h2;             // (N, H)  Â h1 W2 + b2
    double *q1;             // (N, H)  h2 V1 + c1
    double *q;              // (N, H)  ReLU(q1)
    double *z;              // (N, C)  q V2 + c2
    double *s;              // (N, N)  Z Zᵀ
    double *sn;             // (N, N)  S' in [−1, 1] off the diagonal, 0 on it
    double range;           // max − min of the off-diagonal S; 0 when degenerate
    int imax, jmax, imin, jmin;   // first row-major off-diagonal argmax / argmin
} gc_fwd;

// Backward scratch, same shapes as the forward's.
typedef struct gc_bwd {
    double *gs;             // (N, N)  ∂L/∂S
    double *gz;             // (N, C)
    double *gq;             // (N, H)  ∂L/∂q1 after the ReLU mask
    double *gh2;            // (N, H)
    double *gah1;           // (N, H)
    double *gp1;            // (N, H)  ∂L/∂p1
} gc_bwd;

struct gc_sample_priv {
    int n, f, h;
    double *ax;             // (N, F)
    uint8_t *keep;          // (N, H), or unused when !has_mask
    bool has_mask;
    double keep_scale;
    size_t cap_ax, cap_keep;
};

// Offsets of the parameter groups in the flat vector (GC_PG_COUNT + 1 entries).
typedef struct gc_layout { size_t off[GC_PG_COUNT + 1]; } gc_layout;

struct gc_policy {
    gc_policy_params cfg;
    uint8_t *adj;           // (N, N) role graph, 0/1, diagonal 0
    double *ahat;           // (N, N) D^{-1/2} (A + I) D^{-1/2}
    gc_layout lay;
    size_t n_params;
    double *theta, *m, *v;  // parameters and Adam moments, n_params each
    double *grad;           // n_params scratch for the update
    int64_t step;
    double baseline;
    gc_rng rng;
    gc_fwd fw;
    gc_bwd bw;
    double *ax_scratch;     // (N, F) for probability queries
    double *arena;          // backing store of fw, bw and ax_scratch
};

// Checks a configuration; the message is prefixed with `ctx`.
gc_status gc_policy_check_params(const gc_policy_params *p, const char *ctx);
gc_layout gc_policy_layout(const gc_policy_params *p);
// Allocates a policy for cfg and adj (uint8 0/1, or NULL) with zeroed
// parameters and moments; gc_policy_new then initialises the weights.
gc_status gc_policy_alloc(const gc_policy_params *cfg, const uint8_t *adj, gc_policy **out);

// ax = Â X: (N, N) · (N, F).
void gc_policy_aggregate(const gc_policy *p, const double *x, double *ax);
// Forward pass up to S' with the given input and mask (set fw.ax, fw.keep,
// fw.keep_scale first).
void gc_policy_forward(gc_policy *p);
// p(i→j) from fw.sn.
static inline double gc_policy_edge_logit(const gc_policy *p, int i, int j) {
    return p->fw.sn[i * p->cfg.n_nodes + j] / p->cfg.temperature;
}
// Given bw.gs holding ∂L/∂S' (off-diagonal), accumulates ∂L/∂θ of the GCN
// and MLP groups into grad (through the min-max, Z Zᵀ, the MLP and the GCN).
void gc_policy_backward(gc_policy *p, double *grad);

// Smallest |pre-activation| over both ReLUs and smallest gap between the
// max (min) and the next distinct-pair value of the off-diagonal S, for the
// last forward pass: finite differences are valid when these are not tiny.
double gc_policy_kink_margin(const gc_policy *p);

// Sample buffers sized for p; (re)allocates out->priv.
gc_status gc_sample_prepare(const gc_policy *p, gc_sample *out);
// Points fw at a sample's stored input and mask.
void gc_policy_bind_sample(gc_policy *p, const gc_sample *s);

// log p of a stored sample at the current parameters, with its choices and
// dropout mask held fixed; when grad is non-NULL adds w · ∂log p/∂θ to it.
double gc_policy_sample_logp(gc_policy *p, const gc_sample *s, double w, double *grad);

// log sigmoid(x), stable.
double gc_log_sigmoid(double x);
double gc_sigmoid(double x);

#endif
