// Hashed bag-of-words text embedding and hashed node features.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "gcache/learn.h"

#define DIM 256

static double dot(const double *a, const double *b) {
    double d = 0;
    for (int k = 0; k < DIM; k++) d += a[k] * b[k];
    return d;
}

static void test_deterministic_and_normalised(void **state) {
    (void)state;
    double a[DIM], b[DIM];
    const char *t = "A careful mathematician who checks every step of the solution.";
    assert_int_equal(gc_text_embed_hashed(t, DIM, a), GC_OK);
    assert_int_equal(gc_text_embed_hashed(t, DIM, b), GC_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_true(fabs(dot(a, a) - 1) < 1e-12);
    // Signed hashing: some buckets negative.
    int neg = 0;
    for (int k = 0; k < DIM; k++) neg += a[k] < 0;
    assert_true(neg > 0);
}

static void test_tokens_case_and_punctuation(void **state) {
    (void)state;
    double a[DIM], b[DIM], c[DIM];
    assert_int_equal(gc_text_embed_hashed("Hello, World!", DIM, a), GC_OK);
    assert_int_equal(gc_text_embed_hashed("  hello world  ", DIM, b), GC_OK);
    assert_memory_equal(a, b, sizeof a);
    // Word order does not matter, word identity does.
    assert_int_equal(gc_text_embed_hashed("world hello", DIM, c), GC_OK);
    assert_memory_equal(a, c, sizeof a);
    assert_int_equal(gc_text_embed_hashed("hello worlds", DIM, c), GC_OK);
    assert_memory_not_equal(a, c, sizeof a);
    // UTF-8 words are kept whole.
    assert_int_equal(gc_text_embed_hashed("café", DIM, a), GC_OK);
    assert_int_equal(gc_text_embed_hashed("caf", DIM, b), GC_OK);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_similar_texts_are_closer(void **state) {
    (void)state;
    double q1[DIM], q2[DIM], q3[DIM];
    assert_int_equal(gc_text_embed_hashed("How many apples does Tom have after eating three of his ten apples?", DIM, q1), GC_OK);
    assert_int_equal(gc_text_embed_hashed("Tom has ten apples and eats three. How many apples are left?", DIM, q2), GC_OK);
    assert_int_equal(gc_text_embed_hashed("Which gas do plants absorb from the atmosphere during photosynthesis?", DIM, q3), GC_OK);
    assert_true(dot(q1, q2) > 0.4);
    assert_true(dot(q1, q2) > dot(q1, q3) + 0.3);
}

static void test_empty_and_bad_arguments(void **state) {
    (void)state;
    double a[DIM];
    assert_int_equal(gc_text_embed_hashed("  ,.;!  ", DIM, a), GC_OK);
    for (int k = 0; k < DIM; k++) assert_true(a[k] == 0);
    assert_int_equal(gc_text_embed_hashed("x", 0, a), GC_ERR_INVALID_ARG);
    assert_int_equal(gc_text_embed_hashed(NULL, DIM, a), GC_ERR_INVALID_ARG);
    // dim 1: everything lands in one bucket, normalised to ±1.
    assert_int_equal(gc_text_embed_hashed("one two three", 1, a), GC_OK);
    assert_true(fabs(fabs(a[0]) - 1) < 1e-15 || a[0] == 0);
}

static void test_node_features_layout(void **state) {
    (void)state;
    const char *roles[2] = {"Math solver", "Code reviewer"};
    const char *q = "What is 2 + 2?";
    double f[2 * 2 * DIM], r[DIM], qe[DIM];
    assert_int_equal(gc_node_features_hashed(roles, 2, q, DIM, f), GC_OK);
    assert_int_equal(gc_text_embed_hashed(q, DIM, qe), GC_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(gc_text_embed_hashed(roles[i], DIM, r), GC_OK);
        assert_memory_equal(f + i * 2 * DIM, r, sizeof r);
        assert_memory_equal(f + i * 2 * DIM + DIM, qe, sizeof qe);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_and_normalised),
        cmocka_unit_test(test_tokens_case_and_punctuation),
        cmocka_unit_test(test_similar_texts_are_closer),
        cmocka_unit_test(test_empty_and_bad_arguments),
        cmocka_unit_test(test_node_features_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
