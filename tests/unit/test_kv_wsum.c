// gc_kv_wsum on the CPU backend's kv_wsum op (f32 and q8 KV) against
// itself and the sum of gc_kv_read rows as the format stores it
// (wsum_fixture.h says what is compared), on fixtures with one and two KV
// heads and head sizes 12, 16 and 32.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include "gcache/engine.h"
#include "engine/engine.h"
#include "wsum_fixture.h"

static const char *const MODELS[] = {"tests/data/tiny/qwen3", "tests/data/tiny/chat", "tests/data/tiny/llama"};

static void check_format(gc_kv_dtype t) {
    for (size_t i = 0; i < sizeof MODELS / sizeof *MODELS; i++) {
        gc_model *m;
        assert_int_equal(gc_model_load(MODELS[i], &m), GC_OK);
        gc_engine_params p = gc_engine_default_params();
        p.kv_dtype = t;
        gc_engine *e;
        assert_int_equal(gc_engine_new(m, &p, &e), GC_OK);
        char what[128];
        snprintf(what, sizeof what, "cpu %s %s", gc_kv_dtype_name(t), MODELS[i]);
        wsum_check(e, what);
        assert_int_equal(e->pool.live_blocks, 0);
        gc_engine_free(e);
        gc_model_free(m);
    }
}

static void test_wsum_op_f32(void **st) { (void)st; check_format(GC_KV_F32); }
static void test_wsum_op_q8(void **st) { (void)st; check_format(GC_KV_Q8); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wsum_op_f32),
        cmocka_unit_test(test_wsum_op_q8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
