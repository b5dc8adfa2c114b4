// Dataset readers: every supported file form (tests/data/eval/), the gold
// normalization, messages naming file:line and field, lenient vs strict,
// duplicate ids, the RFC 4180 reader, and (when GC_SHARED_DATA is set) the
// real GSM8K / HumanEval / MedQA files.
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcache/eval.h"
#include <cjson/cJSON.h>
#include "eval/csv.h"

#define D "tests/data/eval/"

static gc_dataset *load(gc_task t, const char *path, bool strict, uint64_t seed) {
    gc_dataset_options o = {strict, seed};
    gc_dataset *ds = NULL;
    gc_status s = gc_dataset_load(t, path, &o, &ds);
    if (s != GC_OK) fail_msg("%s: %s", path, gc_last_error());
    return ds;
}

static void expect_fail(gc_status got, const char *n1, const char *n2) {
    if (got != GC_ERR_FORMAT) fail_msg("status %s, want GC_ERR_FORMAT (%s)", gc_status_name(got), gc_last_error());
    if (n1 && !strstr(gc_last_error(), n1)) fail_msg("message \"%s\" lacks \"%s\"", gc_last_error(), n1);
    if (n2 && !strstr(gc_last_error(), n2)) fail_msg("message \"%s\" lacks \"%s\"", gc_last_error(), n2);
}

static const gc_question *q_at(const gc_dataset *ds, size_t i) {
    const gc_question *q = gc_dataset_get(ds, i);
    assert_non_null(q);
    return q;
}

// Warning i contains both needles.
static void expect_warning(const gc_dataset *ds, size_t i, const char *n1, const char *n2) {
    const char *w = gc_dataset_warning(ds, i);
    if (!w) fail_msg("no warning %zu", i);
    if (!strstr(w, n1) || (n2 && !strstr(w, n2))) fail_msg("warning %zu \"%s\" lacks \"%s\" / \"%s\"", i, w, n1, n2 ? n2 : "");
}

static size_t count_of(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

// The text of option `letter` in a formatted question ("\nC. text").
static const char *option_text(const gc_question *q, char letter, char *buf, size_t cap) {
    char tag[5] = {'\n', letter, '.', ' ', 0};
    const char *p = strstr(q->question, tag);
    if (!p) return "";
    p += 4;
    size_t n = strcspn(p, "\n");
    snprintf(buf, cap, "%.*s", (int)n, p);
    return buf;
}

static void test_task_names(void **st) {
    (void)st;
    gc_task t;
    assert_int_equal(gc_task_from_name("GSM8K", &t), GC_OK);
    assert_int_equal(t, GC_TASK_GSM8K);
    assert_int_equal(gc_task_from_name("arc-challenge", &t), GC_OK);
    assert_int_equal(t, GC_TASK_ARC);
    assert_int_equal(gc_task_from_name("humaneval+", &t), GC_OK);
    assert_int_equal(t, GC_TASK_HUMANEVAL);
    assert_int_equal(gc_task_from_name("aime2025", &t), GC_OK);
    assert_int_equal(t, GC_TASK_AIME);
    assert_int_equal(gc_task_from_name("squad", &t), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "squad"));
    assert_string_equal(gc_task_name(GC_TASK_MBPP), "mbpp");
    assert_int_equal(gc_task_answer_kind(GC_TASK_AIME), GC_ANSWER_NUMBER);
    assert_int_equal(gc_task_answer_kind(GC_TASK_GPQA), GC_ANSWER_CHOICE);
    assert_int_equal(gc_task_answer_kind(GC_TASK_MBPP), GC_ANSWER_CODE);
}

static void test_gsm8k(void **st) {
    (void)st;
    gc_dataset *ds = load(GC_TASK_GSM8K, D "gsm8k.jsonl", true, 0);
    assert_int_equal(gc_dataset_count(ds), 4);
    assert_int_equal(gc_dataset_warning_count(ds), 0);
    static const char *const gold[] = {"18", "1250", "-3", "2.5"};
    for (size_t i = 0; i < 4; i++) assert_string_equal(q_at(ds, i)->gold, gold[i]);
    // No id field: the record index; the blank line is not a record.
    assert_string_equal(q_at(ds, 3)->id, "3");
    assert_int_equal(q_at(ds, 3)->line, 5);
    assert_true(strncmp(q_at(ds, 0)->question, "Tom has 5 boxes", 15) == 0);
    assert_int_equal(q_at(ds, 0)->n_choices, 0);
    assert_null(q_at(ds, 0)->entry_point);
    gc_dataset_free(ds);
}

static void test_gsm8k_lenient_warnings(void **st) {
    (void)st;
    gc_dataset *ds = load(GC_TASK_GSM8K, D "gsm8k_bad.jsonl", false, 0);
    assert_int_equal(gc_dataset_count(ds), 2);
    assert_int_equal(gc_dataset_skipped(ds), 5);
    assert_int_equal(gc_dataset_warning_count(ds), 5);
    expect_warning(ds, 0, "gsm8k_bad.jsonl:2:", "invalid JSON");
    expect_warning(ds, 1, "gsm8k_bad.jsonl:3:", "field \"answer\": missing");
    expect_warning(ds, 2, "gsm8k_bad.jsonl:4:", "\"####\"");
    expect_warning(ds, 3, "gsm8k_bad.jsonl:5:", "not a number");
    expect_warning(ds, 4, "gsm8k_bad.jsonl:6:", "field \"question\": expected a string");
    // Ids are record indices counted over malformed records too.
    assert_string_equal(q_at(ds, 0)->id, "0");
    assert_string_equal(q_at(ds, 1)->id, "6");
    assert_int_equal(q_at(ds, 1)->line, 8);
    assert_string_equal(q_at(ds, 1)->gold, "5");
    gc_dataset_free(ds);
}

static void test_strict_and_empty(void **st) {
    (void)st;
    gc_dataset_options strict = {true, 0};
    gc_dataset *ds = (gc_dataset *)1;
    expect_fail(gc_dataset_load(GC_TASK_GSM8K, D "gsm8k_bad.jsonl", &strict, &ds), "gsm8k_bad.jsonl:2:", "invalid JSON");
    assert_null(ds);
    expect_fail(gc_dataset_parse(GC_TASK_GSM8K, "", 0, "e.jsonl", NULL, &ds), "e.jsonl", "empty");
    expect_fail(gc_dataset_parse(GC_TASK_GSM8K, " \n\t\n", 4, "w.jsonl", NULL, &ds), "w.jsonl", "empty");
    const char *allbad = "{\"question\": \"x\"}\n{\"answer\": \"#### 1\"}\n";
    expect_fail(gc_dataset_parse(GC_TASK_GSM8K, allbad, strlen(allbad), "b.jsonl", NULL, &ds), "no valid questions",
                "b.jsonl:1: field \"answer\"");
    expect_fail(gc_dataset_parse(GC_TASK_GSM8K, "[]", 2, "a.json", NULL, &ds), "a.json", "no questions");
    expect_fail(gc_dataset_parse(GC_TASK_GSM8K, "q,a\n1,2\n", 8, "g.csv", NULL, &ds), "g.csv", "JSON lines");
    assert_int_equal(gc_dataset_load(GC_TASK_GSM8K, D "no_such_file.jsonl", NULL, &ds), GC_ERR_IO);
    assert_non_null(strstr(gc_last_error(), "no_such_file.jsonl"));
    // Strict mode makes a missing field fatal with its line.
    const char *second_bad = "{\"question\": \"a\", \"answer\": \"#### 1\"}\n{\"question\": \"b\", \"answer\": 5}\n";
    expect_fail(gc_dataset_parse(GC_TASK_GSM8K, second_bad, strlen(second_bad), "s.jsonl", &strict, &ds), "s.jsonl:2:",
                "field \"answer\": expected a string, got a number");
}

static void test_aime(void **st) {
    (void)st;
    gc_dataset *ds = load(GC_TASK_AIME, D "aime.jsonl", true, 0);
    assert_int_equal(gc_dataset_count(ds), 3);
    assert_string_equal(q_at(ds, 0)->id, "2024-I-1");  // "ID", "Problem", "Answer"
    assert_string_equal(q_at(ds, 0)->gold, "1");
    assert_true(strstr(q_at(ds, 0)->question, "$7^{4}$") != NULL);
    assert_string_equal(q_at(ds, 1)->gold, "9");        // "009"
    assert_string_equal(q_at(ds, 1)->id, "2");           // integer id
    // The third has no id: its index "2" collides with the second's id.
    assert_string_equal(q_at(ds, 2)->id, "2#2");
    expect_warning(ds, 0, "aime.jsonl:3:", "duplicate id \"2\" renamed to \"2#2\"");
    gc_dataset_free(ds);

    ds = load(GC_TASK_AIME, D "aime.json", true, 0);
    assert_int_equal(gc_dataset_count(ds), 3);
    assert_int_equal(q_at(ds, 0)->line, 2);
    assert_int_equal(q_at(ds, 1)->line, 7);
    assert_int_equal(q_at(ds, 2)->line, 8);
    assert_string_equal(q_at(ds, 1)->gold, "55");
    assert_string_equal(q_at(ds, 0)->id, "A1");
    assert_string_equal(q_at(ds, 2)->id, "A1#2");
    expect_warning(ds, 0, "aime.json:8:", "\"A1#2\"");
    gc_dataset_free(ds);

    ds = load(GC_TASK_AIME, D "aime_bad.json", false, 0);
    assert_int_equal(gc_dataset_count(ds), 2);
    expect_warning(ds, 0, "aime_bad.json:3:", "field \"answer\": missing");
    expect_warning(ds, 1, "aime_bad.json:7:", "field \"problem\": expected a string, got an array");
    assert_string_equal(q_at(ds, 1)->id, "ok2");
    gc_dataset_free(ds);
}

static void test_json_array_container_errors(void **st) {
    (void)st;
    gc_dataset *ds;
    const char *open = "[\n{\"problem\": \"p\", \"answer\": 1},\n{\"problem\": \"q\", \"answer\": 2}\n";
    expect_fail(gc_dataset_parse(GC_TASK_AIME, open, strlen(open), "o.json", NULL, &ds), "o.json", "unterminated JSON array");
    const char *trail = "[{\"problem\": \"p\", \"answer\": 1}] x";
    expect_fail(gc_dataset_parse(GC_TASK_AIME, trail, strlen(trail), "t.json", NULL, &ds), "t.json:1:", "after the JSON array");
    // A non-object element is one bad record; the rest loads.
    const char *mixed = "[\n 5,\n {\"problem\": \"p\", \"answer\": \"12\"},\n {\"problem\": \"q\" \"answer\": 1}\n]";
    assert_int_equal(gc_dataset_parse(GC_TASK_AIME, mixed, strlen(mixed), "m.json", NULL, &ds), GC_OK);
    assert_int_equal(gc_dataset_count(ds), 1);
    assert_string_equal(q_at(ds, 0)->id, "1");
    expect_warning(ds, 0, "m.json:2:", "expected a JSON object");
    expect_warning(ds, 1, "m.json:4:", "invalid JSON at column 18");
    gc_dataset_free(ds);
}

static void test_arc(void **st) {
    (void)st;
    gc_dataset *ds = load(GC_TASK_ARC, D "arc_hf.jsonl", true, 0);
    assert_int_equal(gc_dataset_count(ds), 4);
    assert_string_equal(q_at(ds, 0)->question,
                        "Which object gives off its own light?\nA. the Moon\nB. the Sun\nC. a mirror\nD. a planet");
    assert_string_equal(q_at(ds, 0)->gold, "B");
    assert_string_equal(q_at(ds, 1)->gold, "C");   // labels 1-4, answerKey "3"
    assert_int_equal(q_at(ds, 2)->n_choices, 3);
    assert_int_equal(q_at(ds, 3)->n_choices, 5);
    assert_string_equal(q_at(ds, 3)->gold, "E");
    assert_string_equal(q_at(ds, 3)->id, "Mercury_4");
    gc_dataset_free(ds);

    ds = load(GC_TASK_ARC, D "arc_ai2.jsonl", false, 0);
    assert_int_equal(gc_dataset_count(ds), 2);
    assert_string_equal(q_at(ds, 0)->gold, "B");
    assert_string_equal(q_at(ds, 1)->gold, "A");   // label "1"
    assert_true(strstr(q_at(ds, 1)->question, "\nA. solid\n") != NULL);
    expect_warning(ds, 0, "arc_ai2.jsonl:3:", "field \"answerKey\": \"Q\" matches no choice label");
    gc_dataset_free(ds);
}

static void test_gpqa(void **st) {
    (void)st;
    static const char *const correct[] = {"Photon", "The label", "Na"};
    gc_dataset *ds = load(GC_TASK_GPQA, D "gpqa.csv", true, 7);
    assert_int_equal(gc_dataset_count(ds), 3);
    char buf[128];
    for (size_t i = 0; i < 3; i++) {
        const gc_question *q = q_at(ds, i);
        assert_int_equal(q->n_choices, 4);
        assert_string_equal(option_text(q, q->gold[0], buf, sizeof buf), correct[i]);
    }
    assert_string_equal(q_at(ds, 0)->id, "recA1");
    // Quoted field with a comma, a doubled quote and a line break.
    assert_true(strstr(q_at(ds, 0)->question, "force, according to") != NULL);
    assert_true(strstr(q_at(ds, 1)->question, "labelled \"X\".\nWhat does") != NULL);
    assert_true(strstr(q_at(ds, 1)->question, ". A comma, inside") != NULL);
    // Records start on lines 2, 3 and 5 (the second spans two lines).
    assert_int_equal(q_at(ds, 1)->line, 3);
    assert_int_equal(q_at(ds, 2)->line, 5);

    // Same seed: same order. Over several seeds the orders differ and the
    // gold letter always follows the correct answer.
    gc_dataset *again = load(GC_TASK_GPQA, D "gpqa.csv", true, 7);
    for (size_t i = 0; i < 3; i++) assert_string_equal(q_at(again, i)->question, q_at(ds, i)->question);
    gc_dataset_free(again);
    bool differs = false;
    int gold_seen[4] = {0};
    for (uint64_t seed = 0; seed < 16; seed++) {
        gc_dataset *o = load(GC_TASK_GPQA, D "gpqa.csv", true, seed);
        for (size_t i = 0; i < 3; i++) {
            const gc_question *q = q_at(o, i);
            if (strcmp(q->question, q_at(ds, i)->question) != 0) differs = true;
            assert_string_equal(option_text(q, q->gold[0], buf, sizeof buf), correct[i]);
            gold_seen[q->gold[0] - 'A']++;
        }
        gc_dataset_free(o);
    }
    assert_true(differs);
    for (int k = 0; k < 4; k++) assert_true(gold_seen[k] > 0);  // the correct answer lands everywhere
    gc_dataset_free(ds);

    ds = load(GC_TASK_GPQA, D "gpqa_bad.csv", false, 0);
    assert_int_equal(gc_dataset_count(ds), 2);
    expect_warning(ds, 0, "gpqa_bad.csv:3:", "after the closing quote");
    expect_warning(ds, 1, "gpqa_bad.csv:4:", "field \"Correct Answer\": empty");
    expect_warning(ds, 2, "gpqa_bad.csv:6:", "unterminated quoted field");
    assert_string_equal(q_at(ds, 1)->id, "r4");
    gc_dataset_free(ds);
}

static void test_medqa(void **st) {
    (void)st;
    gc_dataset *ds = load(GC_TASK_MEDQA, D "medqa.json", true, 0);
    assert_int_equal(gc_dataset_count(ds), 2);
    const gc_question *q = q_at(ds, 0);
    // The options repeated in the source text are shown once.
    assert_int_equal(count_of(q->question, "Stress fracture"), 1);
    assert_true(strstr(q->question, "likely cause?\nA. Stress fracture\nB. Gout\nC. Migraine\nD. Asthma") != NULL);
    assert_string_equal(q->gold, "A");
    assert_string_equal(q_at(ds, 1)->gold, "C");
    assert_string_equal(q_at(ds, 0)->id, "0");
    assert_string_equal(q_at(ds, 1)->id, "0#2");
    assert_int_equal(gc_dataset_warning_count(ds), 1);
    gc_dataset_free(ds);

    ds = load(GC_TASK_MEDQA, D "medqa.jsonl", true, 0);
    assert_int_equal(q_at(ds, 0)->n_choices, 5);
    assert_string_equal(q_at(ds, 0)->gold, "E");   // answer_idx
    assert_string_equal(q_at(ds, 1)->gold, "B");   // answer text
    gc_dataset_free(ds);

    const char *bad = "{\"question\": \"q\", \"options\": {\"A\": \"x\", \"C\": \"y\"}, \"answer_idx\": \"A\"}\n"
                      "{\"question\": \"q\", \"options\": [\"x\", \"y\"], \"answer\": \"z\"}\n";
    gc_dataset_options strict = {true, 0};
    expect_fail(gc_dataset_parse(GC_TASK_MEDQA, bad, strlen(bad), "m.jsonl", &strict, &ds), "m.jsonl:1:",
                "key \"C\" where \"B\"");
    assert_int_equal(gc_dataset_parse(GC_TASK_MEDQA, bad, strlen(bad), "m.jsonl", NULL, &ds), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "no valid questions"));
}

static void test_mmlu(void **st) {
    (void)st;
    gc_dataset *ds = load(GC_TASK_MMLU, D "mmlu.csv", true, 0);
    assert_int_equal(gc_dataset_count(ds), 3);
    assert_string_equal(q_at(ds, 0)->gold, "B");
    assert_string_equal(q_at(ds, 1)->gold, "D");
    assert_true(strstr(q_at(ds, 1)->question, "prime number, if any?\nA. 9\n") != NULL);
    assert_true(strstr(q_at(ds, 2)->question, "A \"quoted\" word") != NULL);
    gc_dataset_free(ds);

    ds = load(GC_TASK_MMLU, D "mmlu.jsonl", true, 0);
    assert_string_equal(q_at(ds, 0)->gold, "C");   // answer: 2
    assert_string_equal(q_at(ds, 1)->gold, "B");
    gc_dataset_free(ds);

    // A header row is recognized; a short row and a bad letter are reported.
    const char *csv = "question,A,B,C,D,answer\nq1,a,b,c,d,C\nq2,a,b,c,D\nq3,a,b,c,d,Z\nq4,a,b,c,d,0\n";
    assert_int_equal(gc_dataset_parse(GC_TASK_MMLU, csv, strlen(csv), "h.csv", NULL, &ds), GC_OK);
    assert_int_equal(gc_dataset_count(ds), 2);
    assert_string_equal(q_at(ds, 0)->gold, "C");
    assert_string_equal(q_at(ds, 1)->gold, "A");   // numeric string: 0-based index
    expect_warning(ds, 0, "h.csv:3:", "field \"answer\"");
    expect_warning(ds, 1, "h.csv:4:", "\"Z\" is not a choice letter");
    gc_dataset_free(ds);
    const char *noheader = "q1,a,b,c,d,C\nq2,a,b,c,D\n";
    gc_dataset_options strict = {true, 0};
    expect_fail(gc_dataset_parse(GC_TASK_MMLU, noheader, strlen(noheader), "n.csv", &strict, &ds), "n.csv:2:",
                "expected 6 columns");
}

static void test_humaneval(void **st) {
    (void)st;
    gc_dataset *ds = load(GC_TASK_HUMANEVAL, D "humaneval.jsonl", true, 0);
    assert_int_equal(gc_dataset_count(ds), 2);
    const gc_question *q = q_at(ds, 0);
    assert_string_equal(q->id, "HumanEval/0");
    assert_string_equal(q->entry_point, "total");
    assert_string_equal(q->code_prompt, q->question);
    assert_true(strncmp(q->code_prompt, "from typing import List", 23) == 0);
    size_t gl = strlen(q->gold);
    assert_true(gl > 14 && strcmp(q->gold + gl - 14, "\ncheck(total)\n") == 0);
    gc_dataset_free(ds);

    ds = load(GC_TASK_HUMANEVAL, D "humaneval_multipl.jsonl", true, 0);
    q = q_at(ds, 0);
    assert_string_equal(q->id, "HumanEval_7_double");
    assert_string_equal(q->entry_point, "double");          // from the name
    assert_int_equal(count_of(q->gold, "check(double)"), 1);  // test_check() already calls it
    assert_string_equal(q_at(ds, 1)->entry_point, "negate"); // last def of the prompt
    assert_non_null(strstr(q_at(ds, 1)->gold, "\ncheck(negate)\n"));
    gc_dataset_free(ds);

    const char *noep = "{\"task_id\": \"x\", \"prompt\": \"# no function\\n\", \"test\": \"def check(c): pass\"}\n";
    gc_dataset_options strict = {true, 0};
    expect_fail(gc_dataset_parse(GC_TASK_HUMANEVAL, noep, strlen(noep), "h.jsonl", &strict, &ds), "h.jsonl:1:",
                "field \"entry_point\"");
}

static void test_mbpp(void **st) {
    (void)st;
    gc_dataset *ds = load(GC_TASK_MBPP, D "mbpp.jsonl", true, 0);
    assert_int_equal(gc_dataset_count(ds), 4);
    assert_string_equal(q_at(ds, 0)->entry_point, "common_items");  // from "code"
    assert_string_equal(q_at(ds, 0)->gold,
                        "assert set(common_items((1, 2, 3), (2, 3, 4))) == set((2, 3))\n"
                        "assert set(common_items((5,), (6,))) == set()\n");
    assert_null(q_at(ds, 0)->code_prompt);
    assert_string_equal(q_at(ds, 1)->id, "12");
    assert_string_equal(q_at(ds, 1)->question,
                        "Write a function to square a number.\nYour code should pass these tests:\n"
                        "assert square(3) == 9\nassert square(-2) == 4");
    assert_string_equal(q_at(ds, 2)->entry_point, "rev");
    assert_true(strncmp(q_at(ds, 2)->gold, "inputs = ", 9) == 0);
    assert_string_equal(q_at(ds, 3)->entry_point, "add_two");        // from the asserts, past math.isclose
    assert_true(strncmp(q_at(ds, 3)->gold, "import math\nassert", 18) == 0);
    gc_dataset_free(ds);

    const char *bad = "{\"task_id\": 1, \"text\": \"t\", \"test_list\": []}\n{\"task_id\": 2, \"text\": \"t\", \"test_list\": [\"assert f()\", 3]}\n";
    assert_int_equal(gc_dataset_parse(GC_TASK_MBPP, bad, strlen(bad), "b.jsonl", NULL, &ds), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "b.jsonl:1: field \"test_list\""));
}

static void test_duplicate_ids(void **st) {
    (void)st;
    const char *text = "{\"id\": \"x\", \"problem\": \"p\", \"answer\": 1}\n"
                       "{\"id\": \"x#2\", \"problem\": \"p\", \"answer\": 2}\n"
                       "{\"id\": \"x\", \"problem\": \"p\", \"answer\": 3}\n"
                       "{\"id\": \"y\", \"problem\": \"p\", \"answer\": 4}\n"
                       "{\"id\": \"x\", \"problem\": \"p\", \"answer\": 5}\n";
    gc_dataset *ds;
    assert_int_equal(gc_dataset_parse(GC_TASK_AIME, text, strlen(text), "d.jsonl", NULL, &ds), GC_OK);
    assert_string_equal(q_at(ds, 0)->id, "x");
    assert_string_equal(q_at(ds, 1)->id, "x#2");
    assert_string_equal(q_at(ds, 2)->id, "x#3");  // "x#2" is taken by an original id
    assert_string_equal(q_at(ds, 3)->id, "y");
    assert_string_equal(q_at(ds, 4)->id, "x#4");
    assert_int_equal(gc_dataset_warning_count(ds), 2);
    expect_warning(ds, 0, "d.jsonl:3:", "\"x\" renamed to \"x#3\"");
    expect_warning(ds, 1, "d.jsonl:5:", "\"x#4\"");
    gc_dataset_free(ds);

    // 20000 copies of one id: renamed quickly, all distinct.
    const char *line = "{\"id\": 0, \"problem\": \"p\", \"answer\": 1}\n";
    size_t ll = strlen(line), n = 20000;
    char *big = malloc(ll * n + 1);
    for (size_t i = 0; i < n; i++) memcpy(big + i * ll, line, ll);
    big[ll * n] = 0;
    assert_int_equal(gc_dataset_parse(GC_TASK_AIME, big, ll * n, "big.jsonl", NULL, &ds), GC_OK);
    assert_int_equal(gc_dataset_count(ds), n);
    assert_string_equal(q_at(ds, n - 1)->id, "0#20000");
    assert_int_equal(gc_dataset_warning_count(ds), n - 1);
    gc_dataset_free(ds);
    free(big);
}

static void test_csv_reader(void **st) {
    (void)st;
    const char *text = "\xEF\xBB\xBF" "a,\"b,1\",c\r\n\r\n\"multi\nline\",\"say \"\"hi\"\"\",\n\"\"\nlast,row";
    gc_csv c;
    gc_csv_init(&c, text, strlen(text));
    bool more;
    int64_t line;
    assert_int_equal(gc_csv_next(&c, "t.csv", &more, &line), GC_OK);
    assert_true(more);
    assert_int_equal(line, 1);
    assert_int_equal(gc_csv_count(&c), 3);
    assert_string_equal(gc_csv_field(&c, 0), "a");
    assert_string_equal(gc_csv_field(&c, 1), "b,1");
    assert_string_equal(gc_csv_field(&c, 2), "c");
    assert_int_equal(gc_csv_next(&c, "t.csv", &more, &line), GC_OK);
    assert_int_equal(line, 3);  // the blank line is skipped
    assert_int_equal(gc_csv_count(&c), 3);
    assert_string_equal(gc_csv_field(&c, 0), "multi\nline");
    assert_string_equal(gc_csv_field(&c, 1), "say \"hi\"");
    assert_string_equal(gc_csv_field(&c, 2), "");
    assert_int_equal(gc_csv_next(&c, "t.csv", &more, &line), GC_OK);
    assert_int_equal(line, 5);
    assert_int_equal(gc_csv_count(&c), 1);
    assert_string_equal(gc_csv_field(&c, 0), "");
    assert_int_equal(gc_csv_next(&c, "t.csv", &more, &line), GC_OK);
    assert_int_equal(line, 6);
    assert_string_equal(gc_csv_field(&c, 1), "row");  // no final newline
    assert_int_equal(gc_csv_next(&c, "t.csv", &more, &line), GC_OK);
    assert_false(more);
    gc_csv_free(&c);

    // Errors name the line; reading goes on after the bad record.
    const char *bad = "ok,1\n\"x\"y,2\nfine,3\n\"open,4\n";
    gc_csv_init(&c, bad, strlen(bad));
    assert_int_equal(gc_csv_next(&c, "b.csv", &more, &line), GC_OK);
    assert_int_equal(gc_csv_next(&c, "b.csv", &more, &line), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "b.csv:2: field 1"));
    assert_int_equal(gc_csv_next(&c, "b.csv", &more, &line), GC_OK);
    assert_string_equal(gc_csv_field(&c, 0), "fine");
    assert_int_equal(gc_csv_next(&c, "b.csv", &more, &line), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "b.csv:4: field 1: unterminated"));
    assert_int_equal(gc_csv_next(&c, "b.csv", &more, &line), GC_OK);
    assert_false(more);
    gc_csv_free(&c);
}

// A bad record of each task names the file, the line and the field, and
// says what was expected (strict mode: the first bad record is fatal).
static void test_field_errors(void **st) {
    (void)st;
    static const struct { gc_task t; const char *text, *n1, *n2; } cases[] = {
        {GC_TASK_GSM8K, "{\"question\": \"q\", \"answer\": \"no marker\"}", "field \"answer\"", "\"####\""},
        {GC_TASK_AIME, "{\"problem\": \"p\", \"answer\": \"twelve\"}", "field \"answer\"", "not a number"},
        {GC_TASK_HUMANEVAL, "{\"task_id\": \"H/0\", \"prompt\": \"def f():\\n\", \"entry_point\": \"f\"}",
         "field \"test\": missing", NULL},
        {GC_TASK_HUMANEVAL, "{\"task_id\": \"H/0\", \"test\": \"def check(c): pass\", \"entry_point\": \"f\"}",
         "field \"prompt\": missing", NULL},
        {GC_TASK_HUMANEVAL, "{\"task_id\": 3.5, \"prompt\": \"def f():\\n\", \"test\": \"x\", \"entry_point\": \"f\"}",
         "field \"task_id\"", "3.5"},
        {GC_TASK_MBPP, "{\"task_id\": 1, \"text\": \"t\"}", "field \"test", "missing"},
        {GC_TASK_MEDQA, "{\"question\": \"q?\", \"options\": {\"A\": \"x\", \"B\": \"y\"}, \"answer_idx\": \"E\"}",
         "field \"answer_idx\"", "\"E\" is not a choice letter"},
        {GC_TASK_MEDQA, "{\"question\": \"q?\", \"options\": [\"A. x\", \"B. y\"], \"answer\": \"zzz\"}",
         "field \"answer\"", "matches no option"},
        {GC_TASK_MEDQA, "{\"question\": \"q?\", \"answer_idx\": \"A\"}", "field \"options\"", NULL},
        {GC_TASK_ARC, "{\"id\": \"a\", \"question\": \"q\", \"choices\": [1,2], \"answerKey\": \"A\"}",
         "field \"choices\"", "got an array"},
        {GC_TASK_ARC, "{\"id\": \"a\", \"question\": \"q\", \"choices\": {\"text\": [\"x\",\"y\"], \"label\": [\"A\",\"B\"]}}",
         "field \"answerKey\"", NULL},
        {GC_TASK_MMLU, "{\"question\": \"q\", \"choices\": [\"a\",\"b\"], \"answer\": 7}", "field \"answer\"",
         "not a choice index"},
    };
    gc_dataset_options strict = {true, 0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gc_dataset *ds = NULL;
        gc_status s = gc_dataset_parse(cases[i].t, cases[i].text, strlen(cases[i].text), "f.jsonl", &strict, &ds);
        if (s != GC_ERR_FORMAT) fail_msg("case %zu accepted (%s)", i, gc_status_name(s));
        if (!strstr(gc_last_error(), "f.jsonl:1: ")) fail_msg("case %zu: \"%s\" lacks the line", i, gc_last_error());
        if (!strstr(gc_last_error(), cases[i].n1) || (cases[i].n2 && !strstr(gc_last_error(), cases[i].n2)))
            fail_msg("case %zu: \"%s\" lacks \"%s\" / \"%s\"", i, gc_last_error(), cases[i].n1, cases[i].n2 ? cases[i].n2 : "");
        assert_null(ds);
    }
    // A compressed file (HumanEval ships as .jsonl.gz) is named as such.
    const char gz[] = "\x1f\x8b\x08\x00rest";
    gc_dataset *ds = NULL;
    expect_fail(gc_dataset_parse(GC_TASK_HUMANEVAL, gz, sizeof gz - 1, "HumanEval.jsonl.gz", NULL, &ds), "gzip",
                "gunzip -k HumanEval.jsonl.gz");
}

// The official HumanEval release (GC_HUMANEVAL: `make data` puts it in
// .cache/data/HumanEval.jsonl): 164 problems read strictly; the canonical
// solutions of the first few pass their tests in the sandbox, a wrong body fails.
static void test_humaneval_release(void **st) {
    (void)st;
    const char *path = getenv("GC_HUMANEVAL");
    if (!path || !*path) skip();
    gc_dataset *ds = load(GC_TASK_HUMANEVAL, path, true, 0);
    assert_int_equal(gc_dataset_count(ds), 164);
    assert_int_equal(gc_dataset_warning_count(ds), 0);
    assert_string_equal(q_at(ds, 0)->id, "HumanEval/0");
    assert_string_equal(q_at(ds, 0)->entry_point, "has_close_elements");
    assert_string_equal(q_at(ds, 163)->id, "HumanEval/163");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < 4 && getline(&line, &cap, f) > 0; i++) {
        cJSON *rec = cJSON_Parse(line);
        const cJSON *sol = cJSON_GetObjectItem(rec, "canonical_solution");
        assert_true(cJSON_IsString(sol));
        const gc_question *q = q_at(ds, i);
        for (int wrong = 0; wrong < 2; wrong++) {
            size_t n = strlen(q->code_prompt) + strlen(sol->valuestring) + 64;
            char *out = malloc(n);
            snprintf(out, n, "```python\n%s%s\n```\n", q->code_prompt, wrong ? "    return None\n" : sol->valuestring);
            char *prog = gc_code_program(q, out);
            gc_sandbox_limits lim;
            gc_sandbox_limits_default(&lim);
            gc_sandbox_result r;
            memset(&r, 0, sizeof r);
            assert_int_equal(gc_sandbox_run(prog, &lim, &r), GC_OK);
            if (r.passed == (bool)wrong) fail_msg("%s: %s solution %s (%s)", q->id, wrong ? "wrong" : "canonical",
                                                  r.passed ? "passed" : "failed", r.reason);
            gc_sandbox_result_free(&r);
            free(prog);
            free(out);
        }
        cJSON_Delete(rec);
    }
    free(line);
    fclose(f);
    gc_dataset_free(ds);
}

// The real files, when the shared data directory is given.
static void test_shared_data(void **st) {
    (void)st;
    const char *dir = getenv("GC_SHARED_DATA");
    if (!dir || !*dir) skip();
    char path[1024];
    gc_dataset *ds;
    snprintf(path, sizeof path, "%s/gsm8k/test.jsonl", dir);
    ds = load(GC_TASK_GSM8K, path, true, 0);
    assert_int_equal(gc_dataset_count(ds), 1319);
    assert_string_equal(q_at(ds, 0)->gold, "18");
    gc_dataset_free(ds);
    snprintf(path, sizeof path, "%s/humaneval/humaneval-py.jsonl", dir);
    ds = load(GC_TASK_HUMANEVAL, path, true, 0);
    assert_int_equal(gc_dataset_count(ds), 161);
    gc_dataset_free(ds);
    snprintf(path, sizeof path, "%s/medqa/medqa.json", dir);
    ds = load(GC_TASK_MEDQA, path, true, 0);
    assert_int_equal(gc_dataset_count(ds), 300);
    for (size_t i = 0; i < 300; i++) {
        const gc_question *q = q_at(ds, i);
        assert_int_equal(q->n_choices, 4);
        assert_int_equal(count_of(q->question, "\nA. "), 1);
    }
    gc_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_names),
        cmocka_unit_test(test_gsm8k),
        cmocka_unit_test(test_gsm8k_lenient_warnings),
        cmocka_unit_test(test_strict_and_empty),
        cmocka_unit_test(test_aime),
        cmocka_unit_test(test_json_array_container_errors),
        cmocka_unit_test(test_arc),
        cmocka_unit_test(test_gpqa),
        cmocka_unit_test(test_medqa),
        cmocka_unit_test(test_mmlu),
        cmocka_unit_test(test_humaneval),
        cmocka_unit_test(test_mbpp),
        cmocka_unit_test(test_duplicate_ids),
        cmocka_unit_test(test_csv_reader),
        cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_humaneval_release),
        cmocka_unit_test(test_shared_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
