// Sampling semantics of the learned policy: DAGs with cycles skipped, the
// probabilities of all DAGs summing to one, greedy and scored log-probs,
// edge-probability structure (symmetric, min-max onto [σ(−1/τ), σ(1/τ)]),
// fusion weights, frozen groups, and argument checks.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gcache/learn.h"

#define F 6
#define L 3

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

static void features(int n, double *x, double phase) {
    for (int k = 0; k < n * F; k++) x[k] = sin(1.3 * k + phase) + 0.1 * k / (n * F);
}

static gc_policy *make(int n, double tau, bool temporal, bool gates, bool fuse) {
    gc_policy_params pp = gc_policy_default_params();
    pp.n_nodes = n, pp.feat_dim = F, pp.n_layers = L, pp.temperature = tau;
    pp.learn_temporal = temporal, pp.learn_gates = gates, pp.learn_fuse = fuse;
    double adj[GC_MAX_AGENTS * GC_MAX_AGENTS] = {0};
    for (int i = 0; i + 1 < n; i++) adj[i * n + i + 1] = adj[(i + 1) * n + i] = 1;
    gc_policy *p;
    assert_int_equal(gc_policy_new(&pp, adj, &p), GC_OK);
    return p;
}

static bool is_dag(const gc_topo *t) {
    int indeg[GC_MAX_AGENTS] = {0}, done = 0;
    bool gone[GC_MAX_AGENTS] = {false};
    for (int i = 0; i < t->n; i++)
        for (int j = 0; j < t->n; j++) indeg[j] += t->spatial[i][j];
    for (bool progress = true; progress;) {
        progress = false;
        for (int i = 0; i < t->n; i++)
            if (!gone[i] && indeg[i] == 0) {
                gone[i] = progress = true;
                done++;
                for (int j = 0; j < t->n; j++) indeg[j] -= t->spatial[i][j];
            }
    }
    return done == t->n;
}

static bool reaches(const gc_topo *t, int from, int to, int depth) {
    if (from == to) return true;
    if (depth > t->n) return false;
    for (int k = 0; k < t->n; k++)
        if (t->spatial[from][k] && reaches(t, k, to, depth + 1)) return true;
    return false;
}

static void test_samples_are_dags_with_normalised_weights(void **state) {
    (void)state;
    const int n = 6;
    gc_policy *p = make(n, 0.4, true, true, true);
    double x[n * F];
    features(n, x, 0.2);
    gc_sample s = {0};
    int edges = 0, gates_on = 0;
    for (int it = 0; it < 200; it++) {
        assert_int_equal(gc_policy_sample(p, x, true, &s), GC_OK);
        assert_int_equal(s.topo.n, n);
        assert_int_equal(s.n_layers, L);
        assert_true(is_dag(&s.topo));
        assert_true(isfinite(s.logp) && s.logp < 0);
        for (int j = 0; j < n; j++) {
            double sum = 0;
            int preds = 0;
            assert_int_equal(s.topo.spatial[j][j], 0);
            for (int i = 0; i < n; i++) {
                sum += s.fuse_w[i][j];
                preds += s.topo.spatial[i][j];
                if (!s.topo.spatial[i][j]) assert_true(s.fuse_w[i][j] == 0);
                // A candidate is skipped only when it would close a cycle
                // (edges accepted later keep the path, so the final graph shows it).
                if (i != j && !s.decided[i][j]) {
                    assert_int_equal(s.topo.spatial[i][j], 0);
                    assert_true(reaches(&s.topo, j, i, 0));
                }
            }
            edges += preds;
            if (preds) assert_true(fabs(sum - 1) < 1e-12);
        }
        for (int l = 0; l < L; l++) gates_on += s.gate[l];
    }
    // Neither empty nor full: the policy explores (gates on with p = σ(1):
    // 600 draws, mean 439, sd 11).
    assert_true(edges > 200 && edges < 200 * n * (n - 1) / 2);
    assert_true(gates_on > 380 && gates_on < 500);
    gc_sample_clear(&s);
    gc_policy_free(p);
}

// Each DAG on 3 nodes comes from exactly one sequence of choices, so the
// scored probabilities of the 25 labelled DAGs sum to 1; cyclic graphs are refused.
static void test_dag_probabilities_sum_to_one(void **state) {
    (void)state;
    const int n = 3;
    gc_policy *p = make(n, 0.6, false, false, false);
    double x[n * F];
    features(n, x, 1.0);
    int pairs[6][2] = {{0, 1}, {0, 2}, {1, 0}, {1, 2}, {2, 0}, {2, 1}};
    double total = 0;
    int dags = 0;
    gc_sample s = {0};
    for (int mask = 0; mask < 64; mask++) {
        gc_topo t;
        memset(&t, 0, sizeof t);
        t.n = n;
        for (int k = 0; k < 6; k++)
            if (mask >> k & 1) t.spatial[pairs[k][0]][pairs[k][1]] = 1;
        gc_status st = gc_policy_score(p, x, &t, NULL, &s);
        if (!is_dag(&t)) {
            assert_int_equal(st, GC_ERR_INVALID_ARG);
            continue;
        }
        assert_int_equal(st, GC_OK);
        assert_memory_equal(s.topo.spatial, t.spatial, sizeof t.spatial);
        total += exp(s.logp);
        dags++;
    }
    assert_int_equal(dags, 25);
    assert_true(fabs(total - 1) < 1e-12);
    gc_sample_clear(&s);
    gc_policy_free(p);
}

// log p of a draw = score(its topology and gates) + Σ log N(s; μ, σ²).
static void test_score_matches_sample(void **state) {
    (void)state;
    const int n = 5;
    gc_policy *p = make(n, 0.8, true, true, true);
    gc_policy_params c = gc_policy_get_config(p);
    double x[n * F], mu[n * n];
    features(n, x, 2.0);
    gc_policy_fuse_means(p, mu);
    gc_sample s = {0}, sc = {0};
    for (int it = 0; it < 20; it++) {
        assert_int_equal(gc_policy_sample(p, x, false, &s), GC_OK);
        assert_int_equal(gc_policy_score(p, x, &s.topo, s.gate, &sc), GC_OK);
        double normal = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (s.topo.spatial[i][j]) {
                    double d = (s.fuse_s[i][j] - mu[i * n + j]) / c.fuse_sigma;
                    normal += -0.5 * d * d - log(c.fuse_sigma) - 0.5 * log(2 * M_PI);
                }
        assert_true(fabs(s.logp - (sc.logp + normal)) < 1e-10);
        assert_memory_equal(&s.topo, &sc.topo, sizeof s.topo);
    }
    gc_sample_clear(&s);
    gc_sample_clear(&sc);
    gc_policy_free(p);
}

static void test_edge_probabilities(void **state) {
    (void)state;
    const int n = 5;
    double tau = 0.5, x[n * F], pr[n * n];
    gc_policy *p = make(n, tau, true, true, true);
    features(n, x, 0.5);
    gc_policy_edge_probs(p, x, pr);
    double lo = 1, hi = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j) { assert_true(pr[i * n + j] == 0); continue; }
            // S = Z Zᵀ is symmetric.
            assert_true(fabs(pr[i * n + j] - pr[j * n + i]) < 1e-15);
            lo = fmin(lo, pr[i * n + j]);
            hi = fmax(hi, pr[i * n + j]);
        }
    // Min-max onto [−1, 1]: the extremes are σ(∓1/τ).
    assert_true(fabs(lo - sig(-1 / tau)) < 1e-12);
    assert_true(fabs(hi - sig(1 / tau)) < 1e-12);
    // Fresh policy: temporal probabilities 1/2, gates σ(1) (α = τ_g), μ = 0.
    double tp[n * n], gp[L], mu[n * n];
    gc_policy_temporal_probs(p, tp);
    gc_policy_gate_probs(p, gp);
    gc_policy_fuse_means(p, mu);
    for (int k = 0; k < n * n; k++) assert_true(tp[k] == 0.5 && mu[k] == 0);
    for (int l = 0; l < L; l++) assert_true(fabs(gp[l] - sig(1)) < 1e-15);
    gc_policy_free(p);
}

// Identical codes (same features, complete role graph): S is constant, so
// every p is 1/2 and nothing is NaN.
static void test_degenerate_codes(void **state) {
    (void)state;
    const int n = 4;
    gc_policy_params pp = gc_policy_default_params();
    pp.n_nodes = n, pp.feat_dim = F, pp.n_layers = L;
    double adj[n * n], x[n * F], pr[n * n];
    for (int k = 0; k < n * n; k++) adj[k] = k / n != k % n;
    for (int k = 0; k < n * F; k++) x[k] = 0.3 * (k % F) - 0.5;
    gc_policy *p;
    assert_int_equal(gc_policy_new(&pp, adj, &p), GC_OK);
    gc_policy_edge_probs(p, x, pr);
    for (int k = 0; k < n * n; k++) assert_true(pr[k] == (k / n == k % n ? 0 : 0.5));
    gc_sample s = {0};
    gc_sample *b[1] = {&s};
    double u = 1, loss, g[4096];
    assert_true(gc_policy_n_params(p) <= 4096);
    assert_int_equal(gc_policy_greedy(p, x, &s), GC_OK);
    assert_int_equal(gc_policy_loss_grad(p, b, &u, 1, &loss, g), GC_OK);
    for (size_t k = 0; k < gc_policy_n_params(p); k++) assert_true(isfinite(g[k]));
    gc_sample_clear(&s);
    gc_policy_free(p);
}

static void test_greedy_is_deterministic(void **state) {
    (void)state;
    const int n = 5;
    gc_policy *p = make(n, 0.7, true, true, true);
    double x[n * F], pr[n * n];
    features(n, x, 3.0);
    gc_policy_edge_probs(p, x, pr);
    gc_sample a = {0}, b = {0};
    assert_int_equal(gc_policy_greedy(p, x, &a), GC_OK);
    assert_int_equal(gc_policy_greedy(p, x, &b), GC_OK);
    assert_memory_equal(&a.topo, &b.topo, sizeof a.topo);
    assert_true(a.logp == b.logp);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (a.decided[i][j]) assert_int_equal(a.topo.spatial[i][j], pr[i * n + j] >= 0.5);
    gc_sample_clear(&a);
    gc_sample_clear(&b);
    gc_policy_free(p);
}

// Frozen groups: temporal edges and gates all on, equal fusion weights.
static void test_frozen_groups_are_deterministic(void **state) {
    (void)state;
    const int n = 4;
    gc_policy *p = make(n, 1.0, false, false, false);
    double x[n * F];
    features(n, x, 0.1);
    gc_sample s = {0};
    for (int it = 0; it < 20; it++) {
        assert_int_equal(gc_policy_sample(p, x, true, &s), GC_OK);
        for (int l = 0; l < L; l++) assert_int_equal(s.gate[l], 1);
        for (int i = 0; i < n; i++) {
            int preds = 0;
            for (int j = 0; j < n; j++) assert_int_equal(s.topo.temporal[i][j], 1);
            for (int k = 0; k < n; k++) preds += s.topo.spatial[k][i];
            for (int k = 0; k < n; k++)
                if (s.topo.spatial[k][i]) assert_true(fabs(s.fuse_w[k][i] - 1.0 / preds) < 1e-15);
        }
    }
    gc_sample_clear(&s);
    gc_policy_free(p);
}

// The evaluation rule: an untrained policy evaluates with the exchange on —
// every gate (p = σ(1)) and every temporal edge (p = 1/2, a tie) — and with
// all codes alike (every spatial p = 1/2) every candidate that keeps the DAG.
static void test_untrained_policy_evaluates_everything_on(void **state) {
    (void)state;
    const int n = 4;
    gc_policy *p = make(n, 1.0, true, true, true);
    double x[n * F];
    features(n, x, 0.7);
    gc_sample s = {0};
    assert_int_equal(gc_policy_greedy(p, x, &s), GC_OK);
    for (int l = 0; l < L; l++) assert_int_equal(s.gate[l], 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) assert_int_equal(s.topo.temporal[i][j], 1);
    // A NULL gate scores the greedy gates: all on.
    gc_sample sc = {0};
    assert_int_equal(gc_policy_score(p, x, &s.topo, NULL, &sc), GC_OK);
    for (int l = 0; l < L; l++) assert_int_equal(sc.gate[l], 1);
    gc_sample_clear(&sc);
    gc_policy_free(p);

    gc_policy_params pp = gc_policy_default_params();
    pp.n_nodes = n, pp.feat_dim = F, pp.n_layers = L;
    double adj[n * n];
    for (int k = 0; k < n * n; k++) adj[k] = k / n != k % n;
    for (int k = 0; k < n * F; k++) x[k] = 0.3 * (k % F) - 0.5;   // the same features at every node
    assert_int_equal(gc_policy_new(&pp, adj, &p), GC_OK);
    assert_int_equal(gc_policy_greedy(p, x, &s), GC_OK);
    // Row-major candidates: i→j for i < j are taken, each j→i would close a cycle.
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) assert_int_equal(s.topo.spatial[i][j], i < j);
    gc_sample_clear(&s);
    gc_policy_free(p);
}

// Gates learned off are off at evaluation, and exactly at p = 1/2 a gate is on:
// training rewards hiding layer 1 and keeping layers 0 and 2.
static void test_trained_gate_turns_off(void **state) {
    (void)state;
    const int n = 3, B = 8;
    gc_policy *p = make(n, 1.0, false, true, false);
    double x[n * F];
    features(n, x, 1.1);
    gc_sample s[8];
    memset(s, 0, sizeof s);
    gc_sample *b[8];
    double u[8];
    for (int k = 0; k < B; k++) b[k] = &s[k];
    int it = 0;
    double gp[L];
    for (; it < 300; it++) {
        for (int k = 0; k < B; k++) {
            assert_int_equal(gc_policy_sample(p, x, true, &s[k]), GC_OK);
            u[k] = (s[k].gate[0] + (1 - s[k].gate[1]) + s[k].gate[2]) / 3.0;
        }
        assert_int_equal(gc_policy_update(p, b, u, B, NULL), GC_OK);
        gc_policy_gate_probs(p, gp);
        if (gp[0] > 0.9 && gp[1] < 0.1 && gp[2] > 0.9) break;
    }
    assert_true(it < 300);
    gc_sample g = {0};
    assert_int_equal(gc_policy_greedy(p, x, &g), GC_OK);
    assert_int_equal(g.gate[0], 1);
    assert_int_equal(g.gate[1], 0);
    assert_int_equal(g.gate[2], 1);

    // The boundary: α = 0 is on, the next double below it is off.
    size_t off, len;
    gc_policy_group_range(p, GC_PG_GATE, &off, &len);
    assert_int_equal(len, L);
    double th[4096];
    assert_true(gc_policy_n_params(p) <= 4096);
    gc_policy_get_params(p, th);
    th[off + 1] = 0;
    th[off + 2] = -0x1p-1074;
    gc_policy_set_params(p, th);
    assert_int_equal(gc_policy_greedy(p, x, &g), GC_OK);
    assert_int_equal(g.gate[1], 1);
    assert_int_equal(g.gate[2], 0);
    gc_sample_clear(&g);
    for (int k = 0; k < B; k++) gc_sample_clear(&s[k]);
    gc_policy_free(p);
}

// Seeded evaluation draws: the same seed gives the same draw, the policy's
// own RNG is left alone, different seeds explore, and nothing is dropped out
// (the draw's log-prob equals the score of its choices under no dropout).
static void test_seeded_samples(void **state) {
    (void)state;
    const int n = 5;
    gc_policy *p = make(n, 0.8, true, true, true), *q = make(n, 0.8, true, true, true);
    double x[n * F];
    features(n, x, 0.9);
    gc_sample a = {0}, b = {0}, c = {0};
    assert_int_equal(gc_policy_sample_seeded(p, x, 42, &a), GC_OK);
    assert_int_equal(gc_policy_sample(p, x, true, &b), GC_OK);
    assert_int_equal(gc_policy_sample(q, x, true, &c), GC_OK);   // q never drew a seeded sample
    assert_memory_equal(&b.topo, &c.topo, sizeof b.topo);
    assert_true(b.logp == c.logp);
    assert_int_equal(gc_policy_sample_seeded(p, x, 42, &b), GC_OK);
    assert_memory_equal(&a.topo, &b.topo, sizeof a.topo);
    assert_memory_equal(a.gate, b.gate, sizeof a.gate);
    assert_memory_equal(a.fuse_s, b.fuse_s, sizeof a.fuse_s);
    int differ = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        assert_int_equal(gc_policy_sample_seeded(p, x, seed, &b), GC_OK);
        differ += memcmp(&a.topo, &b.topo, sizeof a.topo) != 0 || memcmp(a.gate, b.gate, sizeof a.gate) != 0;
        gc_policy_params cfg = gc_policy_get_config(p);
        double mu[n * n], normal = 0;
        gc_policy_fuse_means(p, mu);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (b.topo.spatial[i][j]) {
                    double d = (b.fuse_s[i][j] - mu[i * n + j]) / cfg.fuse_sigma;
                    normal += -0.5 * d * d - log(cfg.fuse_sigma) - 0.5 * log(2 * M_PI);
                }
        assert_int_equal(gc_policy_score(p, x, &b.topo, b.gate, &c), GC_OK);
        assert_true(fabs(b.logp - (c.logp + normal)) < 1e-10);
    }
    assert_true(differ > 0);
    gc_sample_clear(&a);
    gc_sample_clear(&b);
    gc_sample_clear(&c);
    gc_policy_free(p);
    gc_policy_free(q);
}

static void test_bad_arguments(void **state) {
    (void)state;
    gc_policy_params pp = gc_policy_default_params();
    gc_policy *p = (gc_policy *)1;
    double adj[16] = {0};
    adj[1] = 1;   // 0–1 but not 1–0
    assert_int_equal(gc_policy_new(&pp, adj, &p), GC_ERR_INVALID_ARG);
    assert_null(p);
    adj[4] = 1;
    adj[2] = adj[8] = 0.5;
    assert_int_equal(gc_policy_new(&pp, adj, &p), GC_ERR_INVALID_ARG);
    gc_policy_params bad[5];
    for (int k = 0; k < 5; k++) bad[k] = pp;
    bad[0].n_nodes = GC_MAX_AGENTS + 1;
    bad[1].dropout = 1;
    bad[2].temperature = 0;
    bad[3].n_layers = 0;
    bad[4].baseline_beta = NAN;
    for (int k = 0; k < 5; k++) assert_int_equal(gc_policy_new(&bad[k], NULL, &p), GC_ERR_INVALID_ARG);

    // A batch drawn from a policy of another shape is refused.
    gc_policy *a = make(4, 1, true, true, true), *b = make(5, 1, true, true, true);
    double x[5 * F], u = 1;
    features(5, x, 0);
    gc_sample s = {0};
    gc_sample *batch[1] = {&s};
    assert_int_equal(gc_policy_sample(b, x, true, &s), GC_OK);
    assert_int_equal(gc_policy_update(a, batch, &u, 1, NULL), GC_ERR_INVALID_ARG);
    u = NAN;
    assert_int_equal(gc_policy_update(b, batch, &u, 1, NULL), GC_ERR_INVALID_ARG);
    x[3] = INFINITY;
    assert_int_equal(gc_policy_sample(b, x, true, &s), GC_ERR_INVALID_ARG);
    assert_int_equal(gc_policy_update(b, batch, &u, 0, NULL), GC_ERR_INVALID_ARG);
    gc_sample_clear(&s);
    gc_policy_free(a);
    gc_policy_free(b);
}

// The baseline is a running mean updated after the loss: b₁ = (1 − β)·mean(u₀).
static void test_baseline_running_mean(void **state) {
    (void)state;
    const int n = 4;
    gc_policy *p = make(n, 1, true, true, true);
    double x[n * F], u[2] = {1.0, 0.5};
    features(n, x, 0.4);
    gc_sample s[2];
    memset(s, 0, sizeof s);
    gc_sample *b[2] = {&s[0], &s[1]};
    gc_train_stats st;
    for (int k = 0; k < 2; k++) assert_int_equal(gc_policy_sample(p, x, true, &s[k]), GC_OK);
    assert_int_equal(gc_policy_update(p, b, u, 2, &st), GC_OK);
    assert_true(st.baseline == 0 && st.step == 1 && st.mean_utility == 0.75);
    assert_true(fabs(gc_policy_baseline(p) - 0.1 * 0.75) < 1e-15);
    for (int k = 0; k < 2; k++) assert_int_equal(gc_policy_sample(p, x, true, &s[k]), GC_OK);
    assert_int_equal(gc_policy_update(p, b, u, 2, &st), GC_OK);
    assert_true(fabs(st.baseline - 0.075) < 1e-15);
    assert_true(fabs(gc_policy_baseline(p) - (0.9 * 0.075 + 0.1 * 0.75)) < 1e-15);
    for (int k = 0; k < 2; k++) gc_sample_clear(&s[k]);
    gc_policy_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_are_dags_with_normalised_weights),
        cmocka_unit_test(test_dag_probabilities_sum_to_one),
        cmocka_unit_test(test_score_matches_sample),
        cmocka_unit_test(test_edge_probabilities),
        cmocka_unit_test(test_degenerate_codes),
        cmocka_unit_test(test_greedy_is_deterministic),
        cmocka_unit_test(test_frozen_groups_are_deterministic),
        cmocka_unit_test(test_untrained_policy_evaluates_everything_on),
        cmocka_unit_test(test_trained_gate_turns_off),
        cmocka_unit_test(test_seeded_samples),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_baseline_running_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
