// Code tasks: HumanEval(+) / MultiPL-E and MBPP(+). gold holds the test
// program, which ends by calling the tests (check(<entry_point>) appended
// when the file only defines check()).
#include "eval/dataset_internal.h"
#include "core/error.h"
#include "core/json.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gc_status dup_to(const gc_ds_rec *r, char **dst, const char *s) {
    *dst = gc_ds_dupn(s, strlen(s));
    return *dst ? GC_OK : gc_ds_oom(r);
}

// MultiPL-E names "HumanEval_23_strlen" carry the function name.
static char *name_suffix(const char *name) {
    if (strncmp(name, "HumanEval_", 10) != 0) return NULL;
    const char *p = name + 10;
    if (!isdigit((unsigned char)*p)) return NULL;
    while (isdigit((unsigned char)*p)) p++;
    if (*p != '_' || !p[1]) return NULL;
    return gc_ds_dupn(p + 1, strlen(p + 1));
}

// HumanEval+: {task_id, prompt, entry_point, test}; MultiPL-E: {name,
// prompt, tests|test, entry_point?}. Without entry_point it comes from the
// name, else from the prompt's last top-level def.
gc_status gc_ds_humaneval(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q) {
    const char *prompt, *test;
    GC_TRY(gc_ds_req_str(r, r->v, "prompt", false, &prompt));
    const char *tkey = gc_ds_get(r->v, "test", false) ? "test" : gc_ds_get(r->v, "tests", false) ? "tests" : NULL;
    if (!tkey)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"test\": missing (HumanEval's test program; MultiPL-E calls it \"tests\")",
                       r->ctx);
    GC_TRY(gc_ds_req_str(r, r->v, tkey, false, &test));
    const cJSON *idv = gc_ds_get(r->v, "task_id", false);
    const char *idf = "task_id";
    if (!idv) { idv = gc_ds_get(r->v, "name", false); idf = "name"; }
    GC_TRY(gc_ds_id(r, idf, idv, &q->id));

    const cJSON *ep = gc_ds_get(r->v, "entry_point", false);
    if (ep) {
        const char *s;
        GC_TRY(gc_ds_str_value(r, "entry_point", ep, &s));
        q->entry_point = gc_ds_trim_dup(s);
    } else {
        if (q->id) q->entry_point = name_suffix(q->id);
        if (!q->entry_point) q->entry_point = gc_ds_def_name(prompt, true);
        if (!q->entry_point)
            return gc_fail(GC_ERR_FORMAT, "%s: field \"entry_point\": missing, and the prompt defines no function", r->ctx);
    }
    if (!q->entry_point) return gc_ds_oom(r);
    GC_TRY(dup_to(r, &q->question, prompt));
    GC_TRY(dup_to(r, &q->code_prompt, prompt));
    q->gold = gc_ds_test_program(NULL, test, q->entry_point);
    return q->gold ? GC_OK : gc_ds_oom(r);
}

static bool builtin_call(const char *s, size_t n) {
    static const char *const names[] = {"set", "sorted", "list", "tuple", "abs", "round", "len", "str", "int",
                                        "float", "isclose", "all", "any", "dict", "frozenset", "bool", "sum",
                                        "max", "min", "type", "isinstance", "math", "assert"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == n && memcmp(s, names[i], n) == 0) return true;
    return false;
}

// The first called name in an assert that is not a builtin:
// "assert set(similar_elements((3, 4), (4, 5))) == ..." -> "similar_elements".
static char *called_name(const char *test) {
    const char *p = strstr(test, "assert");
    if (!p) return NULL;
    for (p += 6; *p && *p != '\n'; p++) {
        if (!(isalpha((unsigned char)*p) || *p == '_') || (p > test && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.')))
            continue;
        const char *e = p;
        while (isalnum((unsigned char)*e) || *e == '_') e++;
        if (*e == '(' && !builtin_call(p, (size_t)(e - p))) return gc_ds_dupn(p, (size_t)(e - p));
        p = e - 1;
    }
    return NULL;
}

// Concatenated test_list entries, one per line.
static char *join_lines(const cJSON *arr) {
    size_t total = 1;
    for (const cJSON *t = arr->child; t; t = t->next) total += strlen(t->valuestring) + 1;
    char *s = malloc(total);
    if (!s) return NULL;
    size_t k = 0;
    for (const cJSON *t = arr->child; t; t = t->next) {
        size_t l = strlen(t->valuestring);
        memcpy(s + k, t->valuestring, l);
        k += l;
        s[k++] = '\n';
    }
    s[k] = 0;
    return s;
}

// MBPP(+): {task_id, prompt|text, code?, test_list: [...] | test, test_setup_code?, entry_point?}.
// The original MBPP prompt ("text") gets its tests appended, as in the paper.
gc_status gc_ds_mbpp(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q) {
    const char *pkey = gc_ds_get(r->v, "prompt", false) ? "prompt" : "text";
    const char *prompt, *setup = NULL;
    GC_TRY(gc_ds_req_str(r, r->v, pkey, false, &prompt));
    GC_TRY(gc_ds_id(r, "task_id", gc_ds_get(r->v, "task_id", false), &q->id));
    const cJSON *tl = gc_ds_get(r->v, "test_list", false);
    char *tests = NULL;
    if (tl) {
        if (!cJSON_IsArray(tl) || cJSON_GetArraySize(tl) == 0)
            return gc_fail(GC_ERR_FORMAT, "%s: field \"test_list\": expected a non-empty array of strings", r->ctx);
        int i = 0;
        for (const cJSON *t = tl->child; t; t = t->next, i++) {
            char field[32];
            const char *s;
            snprintf(field, sizeof field, "test_list[%d]", i);
            GC_TRY(gc_ds_str_value(r, field, t, &s));
        }
        tests = join_lines(tl);
    } else {
        const char *t;
        GC_TRY(gc_ds_req_str(r, r->v, "test", false, &t));
        tests = gc_ds_dupn(t, strlen(t));
    }
    if (!tests) return gc_ds_oom(r);
    const cJSON *sv = gc_ds_get(r->v, "test_setup_code", false);
    if (cJSON_IsString(sv) && sv->valuestring[0]) setup = sv->valuestring;

    gc_status st = GC_OK;
    const cJSON *ep = gc_ds_get(r->v, "entry_point", false);
    if (ep) {
        const char *s;
        st = gc_ds_str_value(r, "entry_point", ep, &s);
        if (st == GC_OK) q->entry_point = gc_ds_trim_dup(s);
    } else {
        const cJSON *code = gc_ds_get(r->v, "code", false);
        if (cJSON_IsString(code)) q->entry_point = gc_ds_def_name(code->valuestring, false);
        if (!q->entry_point) q->entry_point = called_name(tests);
    }
    if (st == GC_OK) {
        q->gold = gc_ds_test_program(setup, tests, q->entry_point);
        bool append = tl && !strstr(prompt, "assert");
        const char *intro = "\nYour code should pass these tests:\n";
        size_t pl = strlen(prompt), il = append ? strlen(intro) : 0, tl2 = append ? strlen(tests) : 0;
        q->question = malloc(pl + il + tl2 + 1);
        if (q->question) {
            memcpy(q->question, prompt, pl);
            memcpy(q->question + pl, intro, il);
            memcpy(q->question + pl + il, tests, tl2);
            q->question[pl + il + tl2] = 0;
            size_t n = pl + il + tl2;
            while (n > 0 && isspace((unsigned char)q->question[n - 1])) q->question[--n] = 0;
        }
        if (!q->gold || !q->question) st = gc_ds_oom(r);
    }
    free(tests);
    return st;
}
