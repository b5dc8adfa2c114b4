// The learned communication policy (GDesigner topology + G-cache fuser),
// trained with REINFORCE. Everything is double precision and CPU-only; the
// gradients are written by hand (src/learn/backward.c).
//
// Model, for N agents with node features X (N, F):
//   Â  = D^{-1/2} (A + I) D^{-1/2}            A: the role-connection graph (N, N)
//   H1 = ReLU(Â X W1 + b1)                     (N, hidden); inverted dropout on H1 when training
//   H2 = Â H1 W2 + b2                          (N, hidden)
//   Z  = ReLU(H2 V1 + c1) V2 + c2              (N, code_dim); the MLP's hidden width is `hidden`
//   S  = Z Zᵀ (N, N); S' = min-max of S's off-diagonal entries onto [−1, 1]
//   p(i→j) = sigmoid(S'_ij / τ)                spatial edge, i ≠ j
//   q(i→j) = sigmoid(T_ij / τ)                 temporal edge (round r−1 → r), T free (N, N)
//   g_l ~ Bernoulli(sigmoid(α_l / τ_g))        per-layer gate of the received caches
//   s_ij ~ N(μ_ij, σ²) on accepted spatial edges; node j fuses its predecessors'
//          caches with softmax_i(s_ij) over its incoming edges.
// Spatial candidates are visited in row-major order (i, then j ≠ i); one that
// would close a cycle with the edges accepted so far is skipped (no term in
// log p). S is symmetric, so an edge's direction comes from that order: of
// i→j and j→i the lower-index source gets the first chance.
//
// log p(sample) = Σ spatial Bernoulli terms + Σ temporal Bernoulli terms
//               + Σ gate Bernoulli terms + Σ Normal log-densities of s,
// and one REINFORCE loss  −(1/B) Σ_k (u_k − b) log p_k  trains every
// parameter: W1 b1 W2 b2 V1 c1 V2 c2, T, α and μ.
//
// S' is invariant to scaling and shifting S, and in training the codes tend
// to share a large common component, so S ≈ f_i + f_j: hub- and sink-shaped
// DAGs are learned readily, a chain 0→1→2→3 was not (tests/unit/test_learn_train.c).
//
// A policy is not thread-safe (it holds its RNG and scratch buffers).
#ifndef GCACHE_LEARN_H
#define GCACHE_LEARN_H
#include "gcache/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_policy gc_policy;

// Defaults (gc_policy_default_params) in parentheses; n_nodes, feat_dim and
// n_layers must be set by the caller (the defaults 4, 64, 1 are placeholders).
typedef struct gc_policy_params {
    int n_nodes;            // N agents, in [2, GC_MAX_AGENTS]
    int feat_dim;           // F, features per node (e.g. 2 × embedding size), ≤ 2^20
    int n_layers;           // L gated layers, in [1, GC_MAX_LAYERS]
    int hidden;             // GCN and MLP hidden width (16), ≤ 4096
    int code_dim;           // width of the node code Z (16), ≤ 4096
    double temperature;     // τ of the spatial and temporal sigmoids (1), ≥ 1e-3. Note
                            // p(i→j) ∈ [σ(−1/τ), σ(1/τ)]: τ = 1 keeps every p in [0.27, 0.73]
    double gate_temperature;// τ_g of the gates (1), ≥ 1e-3
    double fuse_sigma;      // σ of the fusion-weight samples (0.5), ≥ 1e-6
    double lr;              // Adam step size (0.1); β1 0.9, β2 0.999, eps 1e-8 fixed
    double clip_norm;       // global gradient-norm clip (1.0); 0 = off
    double baseline_beta;   // running-mean baseline decay β (0.9)
    bool use_baseline;      // false: b = 0, i.e. GDesigner's plain REINFORCE
    // A group that is not learned is frozen and deterministic, and adds no
    // term to log p: temporal edges all on, gates all on, equal fusion weights.
    bool learn_temporal, learn_gates, learn_fuse;   // (true, true, true)
    double dropout;         // on H1 while training, in [0, 1) (0.5)
    uint64_t seed;          // initial weights, dropout masks, samples
} gc_policy_params;

gc_policy_params gc_policy_default_params(void);

// adj: the (N, N) role-connection graph, row-major, symmetric, entries 0 or 1
// (the diagonal is ignored); NULL means no connections (Â = I).
// Weights: Glorot-uniform W1 W2 V1 V2, zero biases, T = μ = 0 (temporal
// probabilities start at 1/2), α = τ_g (gate probabilities start at
// σ(1) ≈ 0.73, as the strongest spatial edge: an untrained policy keeps the
// received caches). Free with gc_policy_free.
gc_status gc_policy_new(const gc_policy_params *p, const double *adj, gc_policy **out);
void gc_policy_free(gc_policy *p);
// The policy's configuration (as created or loaded).
gc_policy_params gc_policy_get_config(const gc_policy *p);

// One sampled (or scored) topology and fuser choice. Zero-initialise a
// gc_sample before its first use; sampling into it again reuses its buffers;
// release them with gc_sample_clear. Pass &topo to gc_graph_build and
// {gate, fuse_w} as its gc_fuser_choice.
typedef struct gc_sample {
    gc_topo topo;                                  // spatial DAG + temporal edges
    int n_layers;
    uint8_t gate[GC_MAX_LAYERS];                   // 1 = layer l of received caches kept
    double fuse_w[GC_MAX_AGENTS][GC_MAX_AGENTS];   // weight of i's cache at j; Σ_i = 1 over j's predecessors
    double logp;                                   // log-prob of every scored choice
    // What log p is made of; the backward pass holds all of it fixed.
    uint8_t decided[GC_MAX_AGENTS][GC_MAX_AGENTS]; // spatial candidate sampled (not skipped)
    double fuse_s[GC_MAX_AGENTS][GC_MAX_AGENTS];   // s_ij on accepted edges
    bool has_temporal, has_gates, has_fuse;        // whether those terms are in logp
    struct gc_sample_priv *priv;                   // Â X and the dropout mask (owned)
} gc_sample;

void gc_sample_clear(gc_sample *s);

// Draws a sample for one question. features: (N, F) row-major, finite.
// train: apply dropout (mask drawn from the policy's RNG). RNG draws, in
// order: dropout mask (N, hidden), spatial candidates, temporal edges, gates,
// fusion samples on accepted edges.
gc_status gc_policy_sample(gc_policy *p, const double *features, bool train, gc_sample *out);
// A sample for evaluation: no dropout, every choice drawn from a generator
// seeded with `seed` alone (the policy's RNG is not touched), so a question's
// draw depends on nothing but the parameters, its features and the seed.
gc_status gc_policy_sample_seeded(gc_policy *p, const double *features, uint64_t seed, gc_sample *out);
// Evaluation: no dropout, every Bernoulli is taken when p ≥ 1/2 (ties go to
// communicating; spatial in the same order, cycles skipped), s = μ; logp is
// the log-prob of these choices.
gc_status gc_policy_greedy(gc_policy *p, const double *features, gc_sample *out);
// Log-prob of a given topology: the spatial edges of `topo` (any DAG; the
// row-major process yields each DAG from exactly one sequence of choices),
// its temporal edges when temporal edges are learned, and `gate` (L entries)
// when non-NULL and gates are learned. Fusion is not scored (s = μ), nor is a
// NULL gate (greedy gates, p ≥ 1/2): logp is then the marginal log-prob of
// the scored parts. A topology with a cycle is GC_ERR_INVALID_ARG.
gc_status gc_policy_score(gc_policy *p, const double *features, const gc_topo *topo, const uint8_t *gate,
                          gc_sample *out);

// Probabilities for logging and pictures (no dropout; features are not
// checked: NaN in, NaN out). edge: (N, N), 0 on the diagonal;
// temporal: (N, N); gate: (L); fuse_means: (N, N) μ, 0 on the diagonal.
void gc_policy_edge_probs(gc_policy *p, const double *features, double *probs);
void gc_policy_temporal_probs(const gc_policy *p, double *probs);
void gc_policy_gate_probs(const gc_policy *p, double *probs);
void gc_policy_fuse_means(const gc_policy *p, double *mu);

typedef struct gc_train_stats {
    int64_t step;        // Adam steps taken, this one included
    double loss;         // −(1/B) Σ (u_k − b) log p_k
    double mean_utility;
    double baseline;     // b used in this loss (before its update)
    double mean_logp;
    double grad_norm;    // global norm before clipping
} gc_train_stats;

// One REINFORCE + Adam step on a batch of n samples drawn from this policy
// and their utilities (finite, normally in [0, 1]). Then b ← β b + (1 − β) mean(u)
// when the baseline is on. st may be NULL.
gc_status gc_policy_update(gc_policy *p, gc_sample *const *batch, const double *utilities, int n,
                           gc_train_stats *st);
// The loss and, when grad is non-NULL, its gradient (gc_policy_n_params
// entries) at the current parameters, with every choice and dropout mask of
// the batch held fixed. Frozen groups get a zero gradient. No state changes.
gc_status gc_policy_loss_grad(gc_policy *p, gc_sample *const *batch, const double *utilities, int n,
                              double *loss, double *grad);

// Flat parameter vector: W1 (F, hidden), b1, W2 (hidden, hidden), b2,
// V1 (hidden, hidden), c1, V2 (hidden, code_dim), c2, T (N, N),
// α (L), μ (N(N−1): row-major, diagonal left out). Matrices row-major.
typedef enum gc_param_group {
    GC_PG_W1 = 0, GC_PG_B1, GC_PG_W2, GC_PG_B2, GC_PG_V1, GC_PG_C1, GC_PG_V2, GC_PG_C2,
    GC_PG_TEMPORAL, GC_PG_GATE, GC_PG_FUSE, GC_PG_COUNT
} gc_param_group;
const char *gc_param_group_name(gc_param_group g);
void gc_policy_group_range(const gc_policy *p, gc_param_group g, size_t *offset, size_t *len);
size_t gc_policy_n_params(const gc_policy *p);
void gc_policy_get_params(const gc_policy *p, double *out);
void gc_policy_set_params(gc_policy *p, const double *in);
double gc_policy_baseline(const gc_policy *p);
int64_t gc_policy_step(const gc_policy *p);

// Checkpoint: config, role graph, parameters, Adam moments, step, baseline
// and RNG state in one checksummed file, written atomically. Loading refuses
// a corrupt, truncated or foreign file (GC_ERR_FORMAT, message names the
// file), a missing one (GC_ERR_IO), and, when expect is non-NULL, one whose
// n_nodes / feat_dim / n_layers / hidden / code_dim differ (GC_ERR_FORMAT).
// A loaded policy continues exactly as the saved one would have (save
// between updates; samples in flight are not part of a checkpoint).
gc_status gc_policy_save(const gc_policy *p, const char *path);
gc_status gc_policy_load(const char *path, const gc_policy_params *expect, gc_policy **out);
// The same from memory; name is used in messages.
gc_status gc_policy_load_memory(const void *data, size_t len, const char *name, const gc_policy_params *expect,
                                gc_policy **out);
// The serialised checkpoint (malloc'd, caller frees).
gc_status gc_policy_serialize(const gc_policy *p, uint8_t **data, size_t *len);

// Deterministic hashed bag-of-words embedding, for runs without a local
// model: lower-cased word tokens (runs of ASCII letters/digits and non-ASCII
// bytes), each adds ±1 to bucket h mod dim, h = mix(FNV-1a(token)), the sign
// from h's top bit; then L2-normalised. Text without tokens gives all zeros.
gc_status gc_text_embed_hashed(const char *text, int dim, double *out);
// Node features [hashed(role_desc[i]) ‖ hashed(question)]: out is (n, 2·dim).
gc_status gc_node_features_hashed(const char *const *role_desc, int n, const char *question, int dim,
                                  double *out);

#ifdef __cplusplus
}
#endif
#endif
