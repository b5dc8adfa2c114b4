// Answer extraction and scoring: table-driven cases for numbers, choices and
// code, including outputs that must NOT yield an answer.
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gcache/eval.h"

typedef struct num_case { const char *output, *want; } num_case;

// want NULL: no number may be extracted.
static const num_case k_num[] = {
    {"So the total is \\boxed{18}.", "18"},
    {"Half of it: \\boxed{\\frac{1}{2}}", "0.5"},
    {"\\boxed{-\\frac{3}{4}}", "-0.75"},
    {"\\boxed{\\dfrac{10}{4}}", "2.5"},
    {"\\boxed{\\frac12}", "0.5"},
    {"First \\boxed{3}, then corrected: \\boxed{5}", "5"},
    {"\\boxed{1,234}", "1234"},
    {"\\boxed{1{,}234}", "1234"},
    {"\\boxed{\\$18.00}", "18"},
    {"\\boxed{50\\%}", "50"},
    {"\\boxed{x = 7}", "7"},
    {"\\boxed{3/4}", "0.75"},
    {"\\boxed{1/3000000000000000000000}", "3.33333333333333e-22"},
    {"\\boxed{ \\text{18 dollars} }", "18"},
    {"\\boxed{\\boxed{9}}", "9"},
    {"\\boxed {7} with a space", "7"},
    {"} stray \\boxed{5 and \\boxed{6}", "6"},
    {"\\boxed{-0}", "0"},
    {"\\boxed{\\text{\\{a\\}} 12}", "12"},
    {"The answer is 5, not \\boxed{6}", "6"},
    {"The answer is \\boxed{42", "42"},
    {"The answer is 4. \\boxed{}", "4"},
    {"The answer is 18. We used 3 eggs and 4 muffins.", "18"},
    {"The answer is 18.\n\nNote: 20 would be wrong", "18"},
    {"We have 3 apples and 5 pears, total 8", "8"},
    {"The answer is: $1,234.50", "1234.5"},
    {"Answer: -3.5", "-3.5"},
    {"**Answer:** 256", "256"},
    {"Answer = 007", "7"},
    {"The answer is -$5.", "-5"},
    {"The answer is $-5", "-5"},
    {"The temperature drops to \xe2\x88\x92" "4 degrees", "-4"},
    {"The range is 3-4", "4"},
    {"Therefore, x=-2", "-2"},
    {"#### 72", "72"},
    {"Reasoning 1, 2, 3\n#### 1,000", "1000"},
    {"The final answer is 1,000,000.", "1000000"},
    {"We get 12,345,678 total", "12345678"},
    {"pairs (1,23)", "23"},
    {"It costs .75 dollars", "0.75"},
    {"trailing zeros 2.500", "2.5"},
    {"Price 3.14159", "3.14159"},
    {"Step 1: 2+2=4\nStep 2: 4*3=12\nThe answer is 12", "12"},
    {"The answer is unknown, but we computed 12 then 15", "12"},
    {"I answered 5 questions; total 9", "9"},
    {"1e5", "5"},
    {"", NULL},
    {"No numbers here.", NULL},
    {"The answer is \\boxed{}", NULL},
};

static void test_numbers(void **st) {
    (void)st;
    char out[64];
    for (size_t i = 0; i < sizeof k_num / sizeof *k_num; i++) {
        const num_case *c = &k_num[i];
        bool got = gc_answer_extract_number(c->output, out, sizeof out);
        if (!c->want) {
            if (got) fail_msg("case %zu \"%s\": extracted \"%s\", want nothing", i, c->output, out);
            assert_string_equal(out, "");
            continue;
        }
        if (!got || strcmp(out, c->want) != 0)
            fail_msg("case %zu \"%s\": got %s\"%s\", want \"%s\"", i, c->output, got ? "" : "(none) ", out, c->want);
    }
}

static void test_number_small_buffer_and_null(void **st) {
    (void)st;
    char out[4];
    assert_true(gc_answer_extract_number("\\boxed{123456}", out, sizeof out));
    assert_string_equal(out, "123");  // truncated, still terminated
    assert_false(gc_answer_extract_number(NULL, out, sizeof out));
    assert_string_equal(out, "");
}

static void test_numbers_equal(void **st) {
    (void)st;
    assert_true(gc_answer_numbers_equal("18", "18.0"));
    assert_true(gc_answer_numbers_equal("1,234", "1234"));
    assert_true(gc_answer_numbers_equal("$5", "5"));
    assert_true(gc_answer_numbers_equal("-0", "0"));
    assert_true(gc_answer_numbers_equal("0.3333333", "1/3"));          // 1e-7 relative
    assert_true(gc_answer_numbers_equal("1000000", "1000000.5"));      // 5e-7 relative
    assert_false(gc_answer_numbers_equal("100", "100.001"));           // 1e-5 relative
    assert_false(gc_answer_numbers_equal("18", "-18"));
    assert_false(gc_answer_numbers_equal("abc", "1"));
    assert_false(gc_answer_numbers_equal("1", NULL));
    assert_false(gc_answer_numbers_equal("0", "0.0000001"));
    // Beyond double precision the text decides.
    assert_true(gc_answer_numbers_equal("123456789012345678901", "123,456,789,012,345,678,901"));

    char out[64];
    assert_true(gc_answer_normalize_number(" 72. ", out, sizeof out));
    assert_string_equal(out, "72");
    assert_true(gc_answer_normalize_number("-003.50", out, sizeof out));
    assert_string_equal(out, "-3.5");
    assert_true(gc_answer_normalize_number("1/4", out, sizeof out));
    assert_string_equal(out, "0.25");
    assert_true(gc_answer_normalize_number("12%", out, sizeof out));
    assert_string_equal(out, "12");
    // Exponents only in whole strings (as "%.15g" writes fractions), and they round-trip.
    assert_true(gc_answer_normalize_number("1e5", out, sizeof out));
    assert_string_equal(out, "100000");
    assert_true(gc_answer_normalize_number("3.33333333333333e-22", out, sizeof out));
    assert_string_equal(out, "3.33333333333333e-22");
    assert_true(gc_answer_numbers_equal("3.33333333333333e-22", "1/3000000000000000000000"));
    assert_false(gc_answer_normalize_number("72 dollars", out, sizeof out));
    assert_false(gc_answer_normalize_number("1/0", out, sizeof out));
    assert_false(gc_answer_normalize_number("", out, sizeof out));
    assert_false(gc_answer_normalize_number("3-4", out, sizeof out));
}

typedef struct choice_case { const char *output; int n; char want; } choice_case;

static const choice_case k_choice[] = {
    {"\\boxed{C}", 4, 'C'},
    {"So \\boxed{\\text{(B) Oral ulcers}}", 4, 'B'},
    {"The answer is (C).", 4, 'C'},
    {"Answer: D", 4, 'D'},
    {"the answer is **B**", 4, 'B'},
    {"The correct answer is option C because it fits.", 4, 'C'},
    {"The answer is C. Actually, wait, the answer is A.", 4, 'A'},
    {"The answer is A.", 4, 'A'},
    {"answer: (F)", 10, 'F'},
    {"(A) is wrong, (B) is wrong, so (D)", 4, 'D'},
    {"After review the best fit is\n**C**", 4, 'C'},
    {"Reasoning...\nB\n", 4, 'B'},
    {"C. Colorectal cancer", 4, 'C'},
    {"  D) none of these", 4, 'D'},
    {"\\boxed{B} although the answer is (C)", 4, 'B'},
    {"Vitamin C deficiency causes scurvy.", 4, 0},
    {"I think the patient has hepatitis B.", 4, 0},
    {"A patient with type B influenza", 4, 0},
    {"So the answer is I think unclear", 10, 0},
    {"Answer: A patient like this needs rest", 4, 0},
    {"The answer is E", 4, 0},
    {"\\boxed{Colorectal cancer}", 4, 0},
    {"the answer is c", 4, 0},
    {"ABCD are all letters", 4, 0},
    {"", 4, 0},
};

static void test_choices(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof k_choice / sizeof *k_choice; i++) {
        const choice_case *c = &k_choice[i];
        char got = gc_answer_extract_choice(c->output, c->n);
        if (got != c->want)
            fail_msg("case %zu \"%s\": got '%c', want '%c'", i, c->output, got ? got : '0', c->want ? c->want : '0');
    }
    assert_int_equal(gc_answer_extract_choice(NULL, 4), 0);
    assert_int_equal(gc_answer_extract_choice("Answer: J", 0), 'J');  // 0 choices -> A..J
}

typedef struct code_case { const char *output, *prompt, *entry, *want; } code_case;

static const code_case k_code[] = {
    {"Here:\n```python\ndef f(x):\n    return x\n```\nDone.", NULL, NULL, "def f(x):\n    return x\n"},
    {"```python\ndef f(): return 1\n```\nbetter:\n```python\ndef f(): return 2\n```", NULL, NULL, "def f(): return 2\n"},
    {"```py\nprint(1)\n```", NULL, NULL, "print(1)\n"},
    {"```Python3 title\nx = 1\n```", NULL, NULL, "x = 1\n"},
    {"```python\ndef g():\n    return 3", NULL, NULL, "def g():\n    return 3"},
    {"```\nuntagged = 1\n```\n```bash\nls\n```", NULL, NULL, "untagged = 1\n"},
    {"```bash\nls\n```", NULL, NULL, "```bash\nls\n```"},
    {"x = 42", NULL, NULL, "x = 42"},
    {"    return len(s)\n", "def strlen(s):\n    \"\"\"doc\"\"\"\n", "strlen",
     "def strlen(s):\n    \"\"\"doc\"\"\"\n    return len(s)\n"},
    {"```python\ndef strlen(s):\n    return len(s)\n```", "from typing import List\nimport math\n\ndef strlen(s):\n",
     "strlen", "from typing import List\nimport math\ndef strlen(s):\n    return len(s)\n"},
    // Defines only some other function: read as a continuation of the prompt.
    {"```python\ndef helper():\n    pass\n```", "def target(a):\n", "target", "def target(a):\ndef helper():\n    pass\n"},
};

static void test_code(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof k_code / sizeof *k_code; i++) {
        const code_case *c = &k_code[i];
        char *got = gc_answer_extract_code(c->output, c->prompt, c->entry);
        assert_non_null(got);
        if (strcmp(got, c->want) != 0) fail_msg("case %zu: got\n<<%s>>\nwant\n<<%s>>", i, got, c->want);
        free(got);
    }
}

static void test_score(void **st) {
    (void)st;
    gc_question q = {0};
    q.id = "q1";
    q.gold = "18";
    gc_score s;
    assert_int_equal(gc_answer_score(GC_ANSWER_NUMBER, &q, "so \\boxed{18.0}", &s), GC_OK);
    assert_true(s.extracted);
    assert_true(s.correct);
    assert_string_equal(s.pred, "18");
    assert_int_equal(gc_answer_score(GC_ANSWER_NUMBER, &q, "The answer is 17", &s), GC_OK);
    assert_true(s.extracted);
    assert_false(s.correct);
    assert_int_equal(gc_answer_score(GC_ANSWER_NUMBER, &q, "no idea", &s), GC_OK);
    assert_false(s.extracted);
    assert_false(s.correct);

    q.gold = "C";
    q.n_choices = 4;
    assert_int_equal(gc_answer_score(GC_ANSWER_CHOICE, &q, "The answer is (C)", &s), GC_OK);
    assert_true(s.correct);
    assert_string_equal(s.pred, "C");
    assert_int_equal(gc_answer_score(GC_ANSWER_CHOICE, &q, "Answer: B", &s), GC_OK);
    assert_false(s.correct);
    assert_int_equal(gc_answer_score(GC_ANSWER_CODE, &q, "x", &s), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "q1"));
}

static void test_code_program(void **st) {
    (void)st;
    gc_question q = {0};
    q.code_prompt = "def add(a, b):\n";
    q.entry_point = "add";
    q.gold = "def check(c):\n    assert c(1, 2) == 3\n\ncheck(add)\n";
    char *p = gc_code_program(&q, "```python\n    return a + b\n```");
    assert_string_equal(p, "def add(a, b):\n    return a + b\n\n\ndef check(c):\n    assert c(1, 2) == 3\n\ncheck(add)\n\n");
    free(p);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *repeat(const char *unit, size_t times) {
    size_t ul = strlen(unit);
    char *s = malloc(ul * times + 1);
    assert_non_null(s);
    for (size_t i = 0; i < times; i++) memcpy(s + i * ul, unit, ul);
    s[ul * times] = 0;
    return s;
}

// Degenerate generations (a model stuck repeating itself) stay linear: the
// quadratic versions took seconds on these 280 KB inputs.
static void test_degenerate_outputs_are_fast(void **st) {
    (void)st;
    static const char *const units[] = {"the answer is ", "\\boxed{", "Answer: (", "```python\n"};
    double t0 = now_s();
    char out[64];
    for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
        char *s = repeat(units[u], 280000 / strlen(units[u]));
        assert_false(gc_answer_extract_number(s, out, sizeof out));
        assert_int_equal(gc_answer_extract_choice(s, 4), 0);
        free(gc_answer_extract_code(s, NULL, NULL));
        free(s);
    }
    double dt = now_s() - t0;
    if (dt > 5.0) fail_msg("degenerate inputs took %.2f s (quadratic?)", dt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_number_small_buffer_and_null),
        cmocka_unit_test(test_numbers_equal),
        cmocka_unit_test(test_choices),
        cmocka_unit_test(test_code),
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_code_program),
        cmocka_unit_test(test_degenerate_outputs_are_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
