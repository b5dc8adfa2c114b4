// The .env grammar of gc_dotenv_parse (gcache/api.h), table-driven: each
// case is a text and either the assignments it yields (in order) or the
// start of the error message ("<path>:<line>: <what>").
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "gcache/api.h"
#include "core/strbuf.h"

// Assignments rendered as "KEY=VALUE|" per call.
static void collect(void *user, const char *key, const char *value) {
    gc_strbuf *b = user;
    assert_true(gc_strbuf_append(b, key, strlen(key)));
    assert_true(gc_strbuf_append(b, "=", 1));
    assert_true(gc_strbuf_append(b, value, strlen(value)));
    assert_true(gc_strbuf_append(b, "|", 1));
}

typedef struct ok_case {
    const char *text;
    const char *want;    // collected assignments
} ok_case;

static const ok_case OK_CASES[] = {
    {"", ""},
    {"A=1\nB=2\n", "A=1|B=2|"},
    {"A=1", "A=1|"},                                     // no final newline
    {"A=1\r\nB=two words\r\n", "A=1|B=two words|"},       // CRLF
    {"A=x\r", "A=x|"},                                   // CR at the end of the text
    {"\r\n\r\nA=1\r\n", "A=1|"},                         // blank CRLF lines
    {"export A=1\nexport\tB=2", "A=1|B=2|"},
    {"export=1\nexport = 2", "export=1|export=2|"},       // a variable named export
    {"  A  =  spaced value  ", "A=spaced value|"},
    {"A=value # comment", "A=value|"},
    {"A=value\t# comment", "A=value|"},
    {"A=val#ue", "A=val#ue|"},                           // '#' not after a blank
    {"A=#x", "A=#x|"},
    {"A= # only a comment", "A=|"},
    {"A=", "A=|"},
    {"A=   ", "A=|"},
    {"A=a=b=c", "A=a=b=c|"},
    {"A='lit \\n $x # not a comment'", "A=lit \\n $x # not a comment|"},
    {"A=\"a\\nb\\tc\\\\d\\\"e\"", "A=a\nb\tc\\d\"e|"},
    {"A=\"# kept\" # dropped", "A=# kept|"},
    {"A='x' # trailing comment", "A=x|"},
    {"A=\"x\"   ", "A=x|"},
    {"A=''", "A=|"},
    {"A=\"\"", "A=|"},
    {"# comment\n\n   \n\t# indented comment\nA=1\n#B=2", "A=1|"},
    {"_a1=ok\nZ9_=ok2", "_a1=ok|Z9_=ok2|"},
    {"A=1\nA=2", "A=1|A=2|"},                           // every assignment is reported
    {"URL=https://api.example.com/v1?x=1#frag", "URL=https://api.example.com/v1?x=1#frag|"},
};

typedef struct err_case {
    const char *text;
    size_t len;          // 0: strlen(text)
    const char *want;    // prefix of gc_last_error()
} err_case;

static const err_case ERR_CASES[] = {
    {"A=1\n1B=2", 0, "t.env:2: expected KEY=VALUE"},
    {"A=1\nB", 0, "t.env:2: expected '='"},
    {"A 1", 0, "t.env:1: expected '='"},
    {"A-B=1", 0, "t.env:1: expected '='"},
    {"=1", 0, "t.env:1: expected KEY=VALUE"},
    {"export ", 0, "t.env:1: expected KEY=VALUE"},
    {"A='x", 0, "t.env:1: unterminated single-quoted value"},
    {"A=\"x", 0, "t.env:1: unterminated double-quoted value"},
    {"A=\"x\\", 0, "t.env:1: unterminated double-quoted value"},
    {"A=\"x\\q\"", 0, "t.env:1: unknown escape"},
    {"A='x' y", 0, "t.env:1: unexpected text after the closing quote"},
    {"A=\"x\"y", 0, "t.env:1: unexpected text after the closing quote"},
    {"A = 'it''s'", 0, "t.env:1: unexpected text after the closing quote"},
    {"A=1\r\nB\r\n", 0, "t.env:2: expected '='"},        // CRLF lines count once
    {"A=1\n\nB=x\0y\n", 11, "t.env:3: NUL byte"},
    {"\0", 1, "t.env:1: NUL byte"},
    {"# ok\n\xef\xbb\xbf" "A=1", 0, "t.env:2: expected KEY=VALUE"},   // a BOM is not a key
};

static void test_ok_cases(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof OK_CASES / sizeof OK_CASES[0]; i++) {
        const ok_case *c = &OK_CASES[i];
        gc_strbuf b = {0};
        gc_status s = gc_dotenv_parse(c->text, strlen(c->text), "t.env", collect, &b);
        if (s != GC_OK) fail_msg("case %zu (%s): %s", i, c->text, gc_last_error());
        assert_string_equal(b.s ? b.s : "", c->want);
        free(b.s);
    }
}

static void test_error_cases(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof ERR_CASES / sizeof ERR_CASES[0]; i++) {
        const err_case *c = &ERR_CASES[i];
        gc_strbuf b = {0};
        gc_status s = gc_dotenv_parse(c->text, c->len ? c->len : strlen(c->text), "t.env", collect, &b);
        if (s != GC_ERR_FORMAT) fail_msg("case %zu (%s): status %s", i, c->text, gc_status_name(s));
        if (strncmp(gc_last_error(), c->want, strlen(c->want)) != 0)
            fail_msg("case %zu: got \"%s\", want prefix \"%s\"", i, gc_last_error(), c->want);
        free(b.s);
    }
}

// Lines before the bad one have been delivered; nothing after it.
static void test_error_stops_parsing(void **st) {
    (void)st;
    gc_strbuf b = {0};
    const char *t = "A=1\nB='open\nC=3\n";
    assert_int_equal(gc_dotenv_parse(t, strlen(t), "x/.env", collect, &b), GC_ERR_FORMAT);
    assert_string_equal(b.s, "A=1|");
    assert_non_null(strstr(gc_last_error(), "x/.env:2:"));
    free(b.s);
}

// The text need not be NUL-terminated: only `len` bytes are read.
static void test_length_bounded(void **st) {
    (void)st;
    const char raw[] = {'A', '=', 'x', 'y', 'z'};
    char *exact = malloc(sizeof raw);
    assert_non_null(exact);
    memcpy(exact, raw, sizeof raw);
    gc_strbuf b = {0};
    assert_int_equal(gc_dotenv_parse(exact, 4, "t.env", collect, &b), GC_OK);
    assert_string_equal(b.s, "A=xy|");
    free(b.s);
    free(exact);
}

// A 4 MiB value, unquoted and double-quoted, survives whole.
static void test_long_line(void **st) {
    (void)st;
    size_t n = (size_t)4 << 20;
    char *t = malloc(n + 16);
    assert_non_null(t);
    for (int quoted = 0; quoted < 2; quoted++) {
        size_t k = 0;
        memcpy(t + k, "BIG=", 4);
        k += 4;
        if (quoted) t[k++] = '"';
        memset(t + k, 'v', n);
        k += n;
        if (quoted) t[k++] = '"';
        t[k++] = '\n';
        gc_strbuf b = {0};
        assert_int_equal(gc_dotenv_parse(t, k, "t.env", collect, &b), GC_OK);
        assert_int_equal(b.len, 4 + n + 1);
        assert_true(b.s[4] == 'v' && b.s[4 + n - 1] == 'v' && b.s[4 + n] == '|');
        free(b.s);
    }
    free(t);
}

static void test_bad_args(void **st) {
    (void)st;
    gc_strbuf b = {0};
    assert_int_equal(gc_dotenv_parse(NULL, 3, "t.env", collect, &b), GC_ERR_INVALID_ARG);
    assert_int_equal(gc_dotenv_parse("A=1", 3, "t.env", NULL, &b), GC_ERR_INVALID_ARG);
    assert_int_equal(gc_dotenv_parse(NULL, 0, "t.env", collect, &b), GC_OK);
    // No path: messages still say where.
    assert_int_equal(gc_dotenv_parse("!", 1, NULL, collect, &b), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), ".env:1:"));
    assert_null(b.s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_cases),
        cmocka_unit_test(test_error_cases),
        cmocka_unit_test(test_error_stops_parsing),
        cmocka_unit_test(test_length_bounded),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
