// Tests for core/json: parse errors with positions, typed getters with
// range/type checks, and that every message names the file and field.
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/error.h"
#include "core/json.h"

// Asserts status `want` and that the message contains each non-NULL needle.
static void expect_fail(gc_status got, gc_status want, const char *n1, const char *n2) {
    if (got != want) fail_msg("status %s, want %s (msg: %s)", gc_status_name(got), gc_status_name(want), gc_last_error());
    if (n1 && !strstr(gc_last_error(), n1)) fail_msg("message \"%s\" lacks \"%s\"", gc_last_error(), n1);
    if (n2 && !strstr(gc_last_error(), n2)) fail_msg("message \"%s\" lacks \"%s\"", gc_last_error(), n2);
}

static cJSON *parse_ok(const char *text) {
    cJSON *j = NULL;
    gc_status s = gc_json_parse(text, strlen(text), "t.json", &j);
    if (s != GC_OK) fail_msg("parse failed: %s", gc_last_error());
    assert_non_null(j);
    return j;
}

static void test_parse_valid_and_length(void **st) {
    (void)st;
    cJSON *j = parse_ok("  {\"a\": [1, 2, {\"b\": null}]}\n\t ");
    assert_true(cJSON_IsObject(j));
    cJSON_Delete(j);
    // Only `len` bytes are read: the tail would be trailing garbage.
    const char *buf = "{\"a\":1}XYZ";
    gc_status s = gc_json_parse(buf, 7, "t.json", &j);
    assert_int_equal(s, GC_OK);
    int64_t v = 0;
    assert_int_equal(gc_json_req_int("t.json", j, "a", 0, 10, &v), GC_OK);
    assert_int_equal(v, 1);
    cJSON_Delete(j);
}

static void test_parse_error_position(void **st) {
    (void)st;
    const char *text = "{\n  \"a\": 1,\n  \"b\": ]\n}";
    cJSON *j = (cJSON *)1;
    gc_status s = gc_json_parse(text, strlen(text), "dir/cfg.json", &j);
    expect_fail(s, GC_ERR_FORMAT, "dir/cfg.json", "line 3, column 8");
    assert_null(j);
    // Unterminated object: error at end of line 1.
    s = gc_json_parse("{\"a\": 1", 7, "x.json", &j);
    expect_fail(s, GC_ERR_FORMAT, "x.json", "line 1");
}

static void test_parse_rejects_garbage_nul_empty(void **st) {
    (void)st;
    cJSON *j = NULL;
    expect_fail(gc_json_parse("{} x", 4, "g.json", &j), GC_ERR_FORMAT, "g.json", "after the value");
    assert_null(j);
    expect_fail(gc_json_parse("{\"a\":\"x\0y\"}", 11, "n.json", &j), GC_ERR_FORMAT, "n.json", "NUL byte");
    expect_fail(gc_json_parse("{\"a\":\"x\0y\"}", 11, "n.json", &j), GC_ERR_FORMAT, "column 8", NULL);
    expect_fail(gc_json_parse("", 0, "e.json", &j), GC_ERR_FORMAT, "e.json", "empty");
    expect_fail(gc_json_parse(" \n ", 3, "e.json", &j), GC_ERR_FORMAT, "empty", NULL);
    expect_fail(gc_json_parse("[1,\n2,\n\n x]", 11, "c.json", &j), GC_ERR_FORMAT, "line 4, column 2", NULL);
}

static void test_parse_file(void **st) {
    (void)st;
    cJSON *j = NULL;
    expect_fail(gc_json_parse_file("tests/data/no/such/file.json", &j), GC_ERR_IO, "no/such/file.json", NULL);
    char tmpl[] = "/tmp/gc_json_XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    const char *text = "{\"k\": tru}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    expect_fail(gc_json_parse_file(tmpl, &j), GC_ERR_FORMAT, tmpl, "line 1");
    fd = open(tmpl, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    text = "{\"k\": true}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(gc_json_parse_file(tmpl, &j), GC_OK);
    bool b = false;
    assert_int_equal(gc_json_req_bool(tmpl, j, "k", &b), GC_OK);
    assert_true(b);
    cJSON_Delete(j);
    unlink(tmpl);
}

static void test_int(void **st) {
    (void)st;
    cJSON *j = parse_ok("{\"a\": 42, \"neg\": -7, \"frac\": 1.5, \"big\": 9007199254740992,"
                        " \"max\": 9007199254740991, \"exp\": 1e3, \"s\": \"5\", \"n\": null,"
                        " \"t\": true, \"Upper\": 3, \"huge\": 1e400, \"float1\": 2.0}");
    int64_t v = -1;
    assert_int_equal(gc_json_req_int("f.json", j, "a", 0, 100, &v), GC_OK);
    assert_int_equal(v, 42);
    assert_int_equal(gc_json_req_int("f.json", j, "neg", -10, 0, &v), GC_OK);
    assert_int_equal(v, -7);
    assert_int_equal(gc_json_req_int("f.json", j, "exp", 0, 1000, &v), GC_OK);
    assert_int_equal(v, 1000);
    assert_int_equal(gc_json_req_int("f.json", j, "float1", 0, 10, &v), GC_OK);
    assert_int_equal(v, 2);
    assert_int_equal(gc_json_req_int("f.json", j, "max", 0, INT64_MAX, &v), GC_OK);
    assert_true(v == GC_JSON_MAX_INT);

    expect_fail(gc_json_req_int("f.json", j, "a", 0, 41, &v), GC_ERR_FORMAT, "f.json: field \"a\"", "42");
    expect_fail(gc_json_req_int("f.json", j, "a", 43, 100, &v), GC_ERR_FORMAT, "\"a\"", "out of range");
    expect_fail(gc_json_req_int("f.json", j, "neg", 0, 10, &v), GC_ERR_FORMAT, "\"neg\"", "-7");
    expect_fail(gc_json_req_int("f.json", j, "frac", 0, 10, &v), GC_ERR_FORMAT, "\"frac\"", "expected an integer");
    expect_fail(gc_json_req_int("f.json", j, "big", 0, INT64_MAX, &v), GC_ERR_FORMAT, "\"big\"", "2^53");
    expect_fail(gc_json_req_int("f.json", j, "huge", 0, INT64_MAX, &v), GC_ERR_FORMAT, "\"huge\"", NULL);
    expect_fail(gc_json_req_int("f.json", j, "s", 0, 10, &v), GC_ERR_FORMAT, "\"s\"", "got a string");
    expect_fail(gc_json_req_int("f.json", j, "t", 0, 10, &v), GC_ERR_FORMAT, "\"t\"", "got a bool");
    expect_fail(gc_json_req_int("f.json", j, "missing", 0, 10, &v), GC_ERR_FORMAT, "\"missing\"", "missing");
    expect_fail(gc_json_req_int("f.json", j, "n", 0, 10, &v), GC_ERR_FORMAT, "\"n\"", "missing");
    // Lookups are case-sensitive.
    expect_fail(gc_json_req_int("f.json", j, "upper", 0, 10, &v), GC_ERR_FORMAT, "\"upper\"", "missing");

    v = 0;
    assert_int_equal(gc_json_opt_int("f.json", j, "missing", 0, 10, 7, &v), GC_OK);
    assert_int_equal(v, 7);
    assert_int_equal(gc_json_opt_int("f.json", j, "n", 0, 10, 8, &v), GC_OK);
    assert_int_equal(v, 8);
    assert_int_equal(gc_json_opt_int("f.json", j, "a", 0, 100, 8, &v), GC_OK);
    assert_int_equal(v, 42);
    expect_fail(gc_json_opt_int("f.json", j, "frac", 0, 10, 1, &v), GC_ERR_FORMAT, "\"frac\"", NULL);
    cJSON_Delete(j);
}

static void test_double_bool_string(void **st) {
    (void)st;
    cJSON *j = parse_ok("{\"d\": 1e-5, \"i\": 100000, \"s\": \"silu\", \"b\": false, \"one\": 1, \"n\": null}");
    double d = 0;
    assert_int_equal(gc_json_req_double("f.json", j, "d", 0, 1, &d), GC_OK);
    assert_true(d == 1e-5);
    assert_int_equal(gc_json_req_double("f.json", j, "i", 0, 1e9, &d), GC_OK);
    assert_true(d == 100000.0);
    expect_fail(gc_json_req_double("f.json", j, "i", 0, 10, &d), GC_ERR_FORMAT, "\"i\"", "out of range");
    expect_fail(gc_json_req_double("f.json", j, "s", 0, 10, &d), GC_ERR_FORMAT, "\"s\"", "expected a number");
    assert_int_equal(gc_json_opt_double("f.json", j, "n", 0, 10, 2.5, &d), GC_OK);
    assert_true(d == 2.5);

    bool b = true;
    assert_int_equal(gc_json_req_bool("f.json", j, "b", &b), GC_OK);
    assert_false(b);
    expect_fail(gc_json_req_bool("f.json", j, "one", &b), GC_ERR_FORMAT, "\"one\"", "true or false");
    assert_int_equal(gc_json_opt_bool("f.json", j, "zz", true, &b), GC_OK);
    assert_true(b);

    const char *s = NULL;
    assert_int_equal(gc_json_req_string("f.json", j, "s", &s), GC_OK);
    assert_string_equal(s, "silu");
    expect_fail(gc_json_req_string("f.json", j, "b", &s), GC_ERR_FORMAT, "\"b\"", "a string");
    assert_int_equal(gc_json_opt_string("f.json", j, "zz", "dflt", &s), GC_OK);
    assert_string_equal(s, "dflt");
    cJSON_Delete(j);
}

static void test_int_list(void **st) {
    (void)st;
    cJSON *j = parse_ok("{\"one\": 5, \"arr\": [1, 2, 3], \"bad\": [1, \"x\"], \"nul\": [1, null],"
                        " \"frac\": [1, 2.5], \"empty\": [], \"obj\": {}, \"long\": [1,2,3,4,5]}");
    int64_t v[4];
    int n = -1;
    assert_int_equal(gc_json_opt_int_list("f.json", j, "one", 0, 10, v, 4, &n), GC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0], 5);
    assert_int_equal(gc_json_opt_int_list("f.json", j, "arr", 0, 10, v, 4, &n), GC_OK);
    assert_int_equal(n, 3);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 2);
    assert_int_equal(v[2], 3);
    assert_int_equal(gc_json_opt_int_list("f.json", j, "empty", 0, 10, v, 4, &n), GC_OK);
    assert_int_equal(n, 0);
    n = -1;
    assert_int_equal(gc_json_opt_int_list("f.json", j, "absent", 0, 10, v, 4, &n), GC_OK);
    assert_int_equal(n, 0);
    expect_fail(gc_json_opt_int_list("f.json", j, "bad", 0, 10, v, 4, &n), GC_ERR_FORMAT, "\"bad[1]\"", "f.json");
    expect_fail(gc_json_opt_int_list("f.json", j, "nul", 0, 10, v, 4, &n), GC_ERR_FORMAT, "\"nul[1]\"", NULL);
    expect_fail(gc_json_opt_int_list("f.json", j, "frac", 0, 10, v, 4, &n), GC_ERR_FORMAT, "\"frac[1]\"", NULL);
    expect_fail(gc_json_opt_int_list("f.json", j, "arr", 0, 2, v, 4, &n), GC_ERR_FORMAT, "\"arr[2]\"", "3");
    expect_fail(gc_json_opt_int_list("f.json", j, "obj", 0, 10, v, 4, &n), GC_ERR_FORMAT, "\"obj\"", "array of integers");
    expect_fail(gc_json_opt_int_list("f.json", j, "long", 0, 10, v, 4, &n), GC_ERR_UNSUPPORTED, "\"long\"", "more than 4");
    cJSON_Delete(j);
}

static void test_objects(void **st) {
    (void)st;
    cJSON *j = parse_ok("{\"o\": {\"x\": 1}, \"a\": [1], \"n\": null, \"s\": \"str\"}");
    const cJSON *o = NULL;
    assert_int_equal(gc_json_req_object("f.json", j, "o", &o), GC_OK);
    assert_non_null(gc_json_get(o, "x"));
    assert_int_equal(gc_json_opt_object("f.json", j, "n", &o), GC_OK);
    assert_null(o);
    assert_int_equal(gc_json_opt_object("f.json", j, "absent", &o), GC_OK);
    assert_null(o);
    expect_fail(gc_json_req_object("f.json", j, "a", &o), GC_ERR_FORMAT, "\"a\"", "an object");
    expect_fail(gc_json_opt_object("f.json", j, "s", &o), GC_ERR_FORMAT, "\"s\"", "got a string");
    expect_fail(gc_json_req_object("f.json", j, "n", &o), GC_ERR_FORMAT, "\"n\"", "missing");
    const cJSON *a = NULL;
    assert_int_equal(gc_json_req_array("f.json", j, "a", &a), GC_OK);
    assert_int_equal(cJSON_GetArraySize(a), 1);
    expect_fail(gc_json_req_array("f.json", j, "o", &a), GC_ERR_FORMAT, "\"o\"", "an array");
    // Getters on a non-object report the key as missing rather than crash.
    int64_t v;
    expect_fail(gc_json_req_int("f.json", a, "x", 0, 1, &v), GC_ERR_FORMAT, "\"x\"", "missing");
    assert_null(gc_json_get(NULL, "x"));
    assert_null(gc_json_get(j, "n"));
    assert_string_equal(gc_json_type_name(gc_json_get(j, "s")), "a string");
    cJSON_Delete(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid_and_length),
        cmocka_unit_test(test_parse_error_position),
        cmocka_unit_test(test_parse_rejects_garbage_nul_empty),
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_double_bool_string),
        cmocka_unit_test(test_int_list),
        cmocka_unit_test(test_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
