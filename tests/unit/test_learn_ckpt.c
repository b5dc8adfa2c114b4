// Policy checkpoints: exact round trip, bit-identical resume (10 steps
// straight = 5 + save + load + 5), and refusal of corrupt, truncated,
// foreign, mismatched and missing files with a message naming the file.
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "gcache/learn.h"

#define N 5
#define F 7
#define L 4

static char g_dir[64];
static char g_path[128];

static int setup(void **state) {
    (void)state;
    strcpy(g_dir, "/tmp/gc_learn_ckpt_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_path, sizeof g_path, "%s/policy.ckpt", g_dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    DIR *d = opendir(g_dir);
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(g_dir);
    return 0;
}

static gc_policy_params params(void) {
    gc_policy_params pp = gc_policy_default_params();
    pp.n_nodes = N, pp.feat_dim = F, pp.n_layers = L, pp.seed = 77, pp.temperature = 0.5;
    return pp;
}

static double g_x[N * F];

static gc_policy *make(void) {
    double adj[N * N] = {0};
    for (int i = 0; i + 1 < N; i++) adj[i * N + i + 1] = adj[(i + 1) * N + i] = 1;
    for (int k = 0; k < N * F; k++) g_x[k] = sin(0.7 * k + 0.3);
    gc_policy_params pp = params();
    gc_policy *p;
    assert_int_equal(gc_policy_new(&pp, adj, &p), GC_OK);
    return p;
}

// A deterministic utility of the sample: edges i→j with i < j are rewarded.
static double utility(const gc_sample *s) {
    int good = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) good += s->topo.spatial[i][j];
    return good / (double)(N * (N - 1) / 2);
}

// `steps` REINFORCE steps, batch 3, dropout on: every step draws masks,
// edges, temporal edges, gates and fusion samples from the policy's RNG.
static void steps(gc_policy *p, int n) {
    gc_sample s[3];
    gc_sample *b[3];
    double u[3];
    memset(s, 0, sizeof s);
    for (int it = 0; it < n; it++) {
        for (int k = 0; k < 3; k++) {
            b[k] = &s[k];
            assert_int_equal(gc_policy_sample(p, g_x, true, &s[k]), GC_OK);
            u[k] = utility(&s[k]);
        }
        assert_int_equal(gc_policy_update(p, b, u, 3, NULL), GC_OK);
    }
    for (int k = 0; k < 3; k++) gc_sample_clear(&s[k]);
}

static void assert_same_state(const gc_policy *a, const gc_policy *b) {
    size_t n = gc_policy_n_params(a);
    assert_int_equal(n, gc_policy_n_params(b));
    double *pa = malloc(n * sizeof *pa), *pb = malloc(n * sizeof *pb);
    gc_policy_get_params(a, pa);
    gc_policy_get_params(b, pb);
    assert_memory_equal(pa, pb, n * sizeof *pa);
    free(pa);
    free(pb);
    double ba = gc_policy_baseline(a), bb = gc_policy_baseline(b);
    assert_memory_equal(&ba, &bb, sizeof ba);
    assert_int_equal(gc_policy_step(a), gc_policy_step(b));
    // Adam moments and RNG state too: the serialisations agree byte for byte.
    uint8_t *sa, *sb;
    size_t la, lb;
    assert_int_equal(gc_policy_serialize(a, &sa, &la), GC_OK);
    assert_int_equal(gc_policy_serialize(b, &sb, &lb), GC_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    free(sa);
    free(sb);
}

static void test_round_trip_exact(void **state) {
    (void)state;
    gc_policy *p = make();
    steps(p, 3);
    assert_int_equal(gc_policy_save(p, g_path), GC_OK);
    gc_policy *q;
    gc_policy_params expect = params();
    assert_int_equal(gc_policy_load(g_path, &expect, &q), GC_OK);
    assert_same_state(p, q);
    gc_policy_params c = gc_policy_get_config(q);
    assert_int_equal(c.n_nodes, N);
    assert_true(c.temperature == 0.5 && c.seed == 77 && c.use_baseline && c.dropout == 0.5);
    // Same next draw.
    gc_sample s1 = {0}, s2 = {0};
    assert_int_equal(gc_policy_sample(p, g_x, true, &s1), GC_OK);
    assert_int_equal(gc_policy_sample(q, g_x, true, &s2), GC_OK);
    assert_memory_equal(&s1.topo, &s2.topo, sizeof s1.topo);
    assert_memory_equal(s1.fuse_s, s2.fuse_s, sizeof s1.fuse_s);
    assert_true(s1.logp == s2.logp);
    gc_sample_clear(&s1);
    gc_sample_clear(&s2);
    gc_policy_free(p);
    gc_policy_free(q);
}

static void test_resume_is_bit_identical(void **state) {
    (void)state;
    gc_policy *straight = make();
    steps(straight, 10);

    gc_policy *first = make();
    steps(first, 5);
    assert_int_equal(gc_policy_save(first, g_path), GC_OK);
    gc_policy_free(first);
    gc_policy *resumed;
    assert_int_equal(gc_policy_load(g_path, NULL, &resumed), GC_OK);
    steps(resumed, 5);

    assert_same_state(straight, resumed);
    assert_int_equal(gc_policy_step(resumed), 10);
    gc_policy_free(straight);
    gc_policy_free(resumed);
}

static void expect_refused(gc_status want, const char *needle) {
    gc_policy *q = (gc_policy *)1;
    gc_status s = gc_policy_load(g_path, NULL, &q);
    if (s != want || !strstr(gc_last_error(), needle) || !strstr(gc_last_error(), g_path))
        fail_msg("status %s, message \"%s\"; wanted %s and \"%s\"", gc_status_name(s), gc_last_error(),
                 gc_status_name(want), needle);
    assert_null(q);
}

static void saved_bytes(uint8_t **data, size_t *len) {
    gc_policy *p = make();
    steps(p, 2);
    assert_int_equal(gc_policy_save(p, g_path), GC_OK);
    gc_policy_free(p);
    char *b;
    assert_int_equal(gc_file_read_all(g_path, &b, len), GC_OK);
    *data = (uint8_t *)b;
}

static void test_corrupt_byte_refused(void **state) {
    (void)state;
    uint8_t *d;
    size_t len;
    saved_bytes(&d, &len);
    // A flipped bit anywhere after the header (parameters, config, checksum).
    size_t where[] = {24, 40, len / 2, len - 9, len - 1};
    for (size_t k = 0; k < sizeof where / sizeof where[0]; k++) {
        d[where[k]] ^= 0x10;
        assert_int_equal(gc_file_write_atomic(g_path, d, len), GC_OK);
        expect_refused(GC_ERR_FORMAT, "checksum");
        d[where[k]] ^= 0x10;
    }
    free(d);
}

static void test_truncated_refused(void **state) {
    (void)state;
    uint8_t *d;
    size_t len;
    saved_bytes(&d, &len);
    size_t cut[] = {3, 20, 31, 100, len / 2, len - 1};
    for (size_t k = 0; k < sizeof cut / sizeof cut[0]; k++) {
        assert_int_equal(gc_file_write_atomic(g_path, d, cut[k]), GC_OK);
        expect_refused(GC_ERR_FORMAT, "truncated");
    }
    assert_int_equal(gc_file_write_atomic(g_path, d, 0), GC_OK);
    expect_refused(GC_ERR_FORMAT, "empty");
    // Trailing garbage is refused too.
    uint8_t *longer = calloc(len + 5, 1);
    memcpy(longer, d, len);
    assert_int_equal(gc_file_write_atomic(g_path, longer, len + 5), GC_OK);
    expect_refused(GC_ERR_FORMAT, "trailing");
    free(longer);
    free(d);
}

static void test_foreign_file_refused(void **state) {
    (void)state;
    const char *text = "{\"not\": \"a checkpoint\"}\n                                         ";
    assert_int_equal(gc_file_write_atomic(g_path, text, strlen(text)), GC_OK);
    expect_refused(GC_ERR_FORMAT, "magic");
    uint8_t *d;
    size_t len;
    saved_bytes(&d, &len);
    d[8] = 9;   // version
    assert_int_equal(gc_file_write_atomic(g_path, d, len), GC_OK);
    expect_refused(GC_ERR_FORMAT, "version");
    free(d);
}

static void test_mismatched_config_refused(void **state) {
    (void)state;
    gc_policy *p = make();
    assert_int_equal(gc_policy_save(p, g_path), GC_OK);
    gc_policy_free(p);
    const char *field[3] = {"n_nodes", "feat_dim", "n_layers"};
    for (int k = 0; k < 3; k++) {
        gc_policy_params e = params();
        if (k == 0) e.n_nodes = N + 1;
        if (k == 1) e.feat_dim = F * 2;
        if (k == 2) e.n_layers = L - 1;
        gc_policy *q = (gc_policy *)1;
        assert_int_equal(gc_policy_load(g_path, &e, &q), GC_ERR_FORMAT);
        assert_null(q);
        assert_non_null(strstr(gc_last_error(), field[k]));
        assert_non_null(strstr(gc_last_error(), "mismatch"));
        assert_non_null(strstr(gc_last_error(), g_path));
    }
    // Hyperparameters other than the shape do not have to match.
    gc_policy_params e = params();
    e.lr = 0.5;
    gc_policy *q;
    assert_int_equal(gc_policy_load(g_path, &e, &q), GC_OK);
    gc_policy_free(q);
}

static void test_missing_file_is_io_error(void **state) {
    (void)state;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope.ckpt", g_dir);
    gc_policy *q = (gc_policy *)1;
    assert_int_equal(gc_policy_load(missing, NULL, &q), GC_ERR_IO);
    assert_null(q);
    assert_non_null(strstr(gc_last_error(), missing));
}

// Saving over an old checkpoint replaces it and leaves no temporary files.
static void test_save_is_atomic_replace(void **state) {
    (void)state;
    gc_policy *p = make();
    assert_int_equal(gc_policy_save(p, g_path), GC_OK);
    steps(p, 1);
    assert_int_equal(gc_policy_save(p, g_path), GC_OK);
    gc_policy *q;
    assert_int_equal(gc_policy_load(g_path, NULL, &q), GC_OK);
    assert_int_equal(gc_policy_step(q), 1);
    gc_policy_free(q);
    gc_policy_free(p);
    int files = 0;
    DIR *d = opendir(g_dir);
    for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 1);
}

// A checkpoint from before the gates started at σ(1) holds α = 0 (p = 1/2) for
// layers training never moved; the format is unchanged (version 1), so it
// loads as it was saved, and the evaluation rule p ≥ 1/2 keeps those gates on.
static void test_old_start_checkpoint_loads_gates_on(void **state) {
    (void)state;
    gc_policy *p = make();
    size_t off, len, np = gc_policy_n_params(p);
    gc_policy_group_range(p, GC_PG_GATE, &off, &len);
    double *th = malloc(np * sizeof *th);
    assert_non_null(th);
    gc_policy_get_params(p, th);
    for (size_t l = 0; l < len; l++) th[off + l] = 0;
    th[off + 1] = -0.25;   // one layer trained off
    gc_policy_set_params(p, th);
    assert_int_equal(gc_policy_save(p, g_path), GC_OK);
    gc_policy_params pp = params();
    gc_policy *q;
    assert_int_equal(gc_policy_load(g_path, &pp, &q), GC_OK);
    gc_sample s = {0};
    assert_int_equal(gc_policy_greedy(q, g_x, &s), GC_OK);
    for (int l = 0; l < L; l++) assert_int_equal(s.gate[l], l != 1);
    gc_sample_clear(&s);
    free(th);
    gc_policy_free(p);
    gc_policy_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_is_bit_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_byte_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mismatched_config_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file_is_io_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_is_atomic_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_start_checkpoint_loads_gates_on, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
