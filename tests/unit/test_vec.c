// Tests for core/vec: growth by doubling from 8, the count the caller asks
// for when it is larger, and refusals (size overflow) that leave the buffer
// as it was.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "core/vec.h"

typedef struct pair { int64_t a, b; } pair;

static void test_grows_by_doubling(void **st) {
    (void)st;
    int32_t *v = NULL;
    size_t n = 0, cap = 0;
    for (int32_t i = 0; i < 1000; i++) {
        assert_true(GC_VEC_RESERVE(v, cap, n + 1));
        v[n++] = i;
        assert_true(cap >= n);
        assert_true(cap == 8 || (cap & (cap - 1)) == 0);  // 8, 16, 32, ...
    }
    assert_int_equal(cap, 1024);
    for (int32_t i = 0; i < 1000; i++) assert_int_equal(v[i], i);
    assert_true(GC_VEC_RESERVE(v, cap, 5000));  // more than double: exactly what was asked
    assert_int_equal(cap, 5000);
    assert_true(GC_VEC_RESERVE(v, cap, 10));    // already there: nothing changes
    assert_int_equal(cap, 5000);
    free(v);
}

static void test_struct_elements(void **st) {
    (void)st;
    pair *p = NULL;
    size_t cap = 0;
    assert_true(GC_VEC_RESERVE(p, cap, 3));
    assert_int_equal(cap, 8);
    p[2] = (pair){1, 2};
    assert_true(GC_VEC_RESERVE(p, cap, 9));
    assert_int_equal(cap, 16);
    assert_int_equal(p[2].b, 2);
    free(p);
}

static void test_overflow_is_refused(void **st) {
    (void)st;
    pair *p = NULL;
    size_t cap = 0;
    assert_true(GC_VEC_RESERVE(p, cap, 1));
    pair *before = p;
    assert_false(GC_VEC_RESERVE(p, cap, SIZE_MAX / sizeof *p + 1));
    assert_ptr_equal(p, before);
    assert_int_equal(cap, 8);
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_by_doubling),
        cmocka_unit_test(test_struct_elements),
        cmocka_unit_test(test_overflow_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
