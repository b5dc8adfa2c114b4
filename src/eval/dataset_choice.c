// Multiple-choice tasks: ARC, GPQA, MedQA, MMLU. Options are shown as
// "A. …" lines in file order (GPQA: shuffled), gold is the letter.
#include "eval/dataset_internal.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/json.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHOICES 10

static gc_status finish(const gc_ds_rec *r, gc_question *q, const char *stem, size_t stem_len,
                        const char *const *opts, int n, int gold) {
    GC_TRY(gc_ds_choice_text(r, stem, stem_len, opts, n, &q->question));
    q->n_choices = n;
    char g[2] = {(char)('A' + gold), 0};
    q->gold = gc_ds_dupn(g, 1);
    return q->gold ? GC_OK : gc_ds_oom(r);
}

static gc_status count_ok(const gc_ds_rec *r, const char *field, int n) {
    if (n < 2 || n > MAX_CHOICES)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": %d choices (expected 2 to %d)", r->ctx, field, n, MAX_CHOICES);
    return GC_OK;
}

static bool same_trimmed(const char *a, const char *b) {
    while (isspace((unsigned char)*a)) a++;
    while (isspace((unsigned char)*b)) b++;
    size_t la = strlen(a), lb = strlen(b);
    while (la && isspace((unsigned char)a[la - 1])) la--;
    while (lb && isspace((unsigned char)b[lb - 1])) lb--;
    return la == lb && memcmp(a, b, la) == 0;
}

// A label as text: strings as written, integers in decimal.
static bool label_text(const cJSON *v, char *buf, size_t cap) {
    if (cJSON_IsString(v) && v->valuestring) { snprintf(buf, cap, "%s", v->valuestring); return true; }
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e9) {
        snprintf(buf, cap, "%d", (int)v->valuedouble);
        return true;
    }
    return false;
}

// ---- ARC ----
// HF:  {"id", "question": "...", "choices": {"text": [...], "label": [...]}, "answerKey"}
// AI2: {"id", "question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}
// Labels are matched to answerKey ("1".."4" as well as "A".."E"); letters
// shown follow the position.
gc_status gc_ds_arc(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q) {
    const cJSON *qv = gc_ds_get(r->v, "question", false);
    const char *stem;
    const char *texts[MAX_CHOICES];
    char labels[MAX_CHOICES][16];
    int n = 0;
    if (cJSON_IsObject(qv)) {
        GC_TRY(gc_ds_req_str(r, qv, "stem", false, &stem));
        const cJSON *ch = gc_ds_get(qv, "choices", false);
        if (!cJSON_IsArray(ch))
            return gc_fail(GC_ERR_FORMAT, "%s: field \"question.choices\": expected an array, got %s", r->ctx,
                           gc_json_type_name(ch));
        GC_TRY(count_ok(r, "question.choices", cJSON_GetArraySize(ch)));
        for (const cJSON *c = ch->child; c; c = c->next, n++) {
            char field[64];
            snprintf(field, sizeof field, "question.choices[%d].text", n);
            GC_TRY(gc_ds_str_value(r, field, gc_ds_get(c, "text", false), &texts[n]));
            if (!label_text(gc_ds_get(c, "label", false), labels[n], sizeof labels[n]))
                return gc_fail(GC_ERR_FORMAT, "%s: field \"question.choices[%d].label\": expected a string", r->ctx, n);
        }
    } else {
        GC_TRY(gc_ds_str_value(r, "question", qv, &stem));
        const cJSON *ch = gc_ds_get(r->v, "choices", false);
        if (!cJSON_IsObject(ch))
            return gc_fail(GC_ERR_FORMAT, "%s: field \"choices\": expected an object {text, label}, got %s", r->ctx,
                           gc_json_type_name(ch));
        const cJSON *tx = gc_ds_get(ch, "text", false), *lb = gc_ds_get(ch, "label", false);
        if (!cJSON_IsArray(tx) || !cJSON_IsArray(lb))
            return gc_fail(GC_ERR_FORMAT, "%s: field \"choices\": \"text\" and \"label\" must be arrays", r->ctx);
        if (cJSON_GetArraySize(tx) != cJSON_GetArraySize(lb))
            return gc_fail(GC_ERR_FORMAT, "%s: field \"choices\": %d texts but %d labels", r->ctx,
                           cJSON_GetArraySize(tx), cJSON_GetArraySize(lb));
        GC_TRY(count_ok(r, "choices.text", cJSON_GetArraySize(tx)));
        const cJSON *l = lb->child;
        for (const cJSON *t = tx->child; t; t = t->next, l = l->next, n++) {
            char field[64];
            snprintf(field, sizeof field, "choices.text[%d]", n);
            GC_TRY(gc_ds_str_value(r, field, t, &texts[n]));
            if (!label_text(l, labels[n], sizeof labels[n]))
                return gc_fail(GC_ERR_FORMAT, "%s: field \"choices.label[%d]\": expected a string", r->ctx, n);
        }
    }
    char key[16];
    if (!label_text(gc_ds_get(r->v, "answerKey", false), key, sizeof key))
        return gc_fail(GC_ERR_FORMAT, "%s: field \"answerKey\": missing or not a string", r->ctx);
    int gold = -1;
    for (int i = 0; i < n && gold < 0; i++)
        if (same_trimmed(labels[i], key)) gold = i;
    if (gold < 0) return gc_fail(GC_ERR_FORMAT, "%s: field \"answerKey\": \"%s\" matches no choice label", r->ctx, key);
    GC_TRY(gc_ds_id(r, "id", gc_ds_get(r->v, "id", false), &q->id));
    return finish(r, q, stem, strlen(stem), texts, n, gold);
}

// ---- GPQA ----
static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// Columns "Question", "Correct Answer", "Incorrect Answer 1..3", "Record ID"
// (any case). The four answers are shuffled by a generator seeded from the
// caller's seed and the record id, so an order depends on nothing else.
gc_status gc_ds_gpqa(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q) {
    static const char *const cols[4] = {"Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                                        "Incorrect Answer 3"};
    const char *stem, *opts[4];
    GC_TRY(gc_ds_req_str(r, r->v, "Question", true, &stem));
    for (int i = 0; i < 4; i++) GC_TRY(gc_ds_req_str(r, r->v, cols[i], true, &opts[i]));
    GC_TRY(gc_ds_id(r, "Record ID", gc_ds_get(r->v, "Record ID", true), &q->id));
    char idx[32];
    snprintf(idx, sizeof idx, "%zu", r->index);
    const char *id = q->id ? q->id : idx;

    uint64_t seed = opt ? opt->seed : 0;
    uint8_t sb[8];
    for (int i = 0; i < 8; i++) sb[i] = (uint8_t)(seed >> (8 * i));
    uint64_t state = gc_fnv1a(gc_fnv1a(GC_FNV_INIT, sb, 8), id, strlen(id));
    int perm[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
        int j = (int)(splitmix64(&state) % (uint64_t)(i + 1));
        int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    const char *shown[4];
    int gold = 0;
    for (int i = 0; i < 4; i++) {
        shown[i] = opts[perm[i]];
        if (perm[i] == 0) gold = i;
    }
    return finish(r, q, stem, strlen(stem), shown, 4, gold);
}

// ---- MedQA ----
// "A. text" / "A) text" -> "text" when the letter is the expected one.
static const char *strip_letter(const char *s, int i) {
    while (isspace((unsigned char)*s)) s++;
    if (s[0] == 'A' + i && (s[1] == '.' || s[1] == ')') && s[2] == ' ') return s + 3;
    return s;
}

// Options as an array ("A. text" or "text") or an object {"A": text, ...}.
static gc_status medqa_options(const gc_ds_rec *r, const cJSON *ov, const char **opts, int *n) {
    *n = 0;
    if (cJSON_IsArray(ov)) {
        GC_TRY(count_ok(r, "options", cJSON_GetArraySize(ov)));
        for (const cJSON *o = ov->child; o; o = o->next, (*n)++) {
            char field[32];
            snprintf(field, sizeof field, "options[%d]", *n);
            GC_TRY(gc_ds_str_value(r, field, o, &opts[*n]));
            opts[*n] = strip_letter(opts[*n], *n);
        }
        return GC_OK;
    }
    if (cJSON_IsObject(ov)) {
        GC_TRY(count_ok(r, "options", cJSON_GetArraySize(ov)));
        for (const cJSON *o = ov->child; o; o = o->next, (*n)++) {
            if (!o->string || o->string[0] != 'A' + *n || o->string[1])
                return gc_fail(GC_ERR_FORMAT, "%s: field \"options\": key \"%s\" where \"%c\" was expected", r->ctx,
                               o->string ? o->string : "", 'A' + *n);
            char field[32];
            snprintf(field, sizeof field, "options.%c", 'A' + *n);
            GC_TRY(gc_ds_str_value(r, field, o, &opts[*n]));
        }
        return GC_OK;
    }
    return gc_fail(GC_ERR_FORMAT, "%s: field \"options\": expected an array or an object, got %s", r->ctx,
                   gc_json_type_name(ov));
}

// A letter in range ("C", " c ") -> its index, else -1.
static int letter_index(const char *s, int n) {
    while (isspace((unsigned char)*s)) s++;
    int c = toupper((unsigned char)s[0]);
    if (c < 'A' || c >= 'A' + n) return -1;
    const char *e = s + 1;
    while (isspace((unsigned char)*e)) e++;
    return *e ? -1 : c - 'A';
}

// The JSON-array release: {idx, question (stem + options, sometimes twice),
// options ["A. …"], answer: option text}; the jsonl form: {question,
// options {"A": …}, answer_idx: "C"}. The stem is cut before the first
// "A. <first option>" line, and the options are appended once.
gc_status gc_ds_medqa(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q) {
    const char *question, *opts[MAX_CHOICES];
    int n;
    GC_TRY(gc_ds_req_str(r, r->v, "question", false, &question));
    GC_TRY(medqa_options(r, gc_ds_get(r->v, "options", false), opts, &n));
    int gold = -1;
    const cJSON *ai = gc_ds_get(r->v, "answer_idx", false);
    if (ai) {
        const char *s;
        GC_TRY(gc_ds_str_value(r, "answer_idx", ai, &s));
        gold = letter_index(s, n);
        if (gold < 0) return gc_fail(GC_ERR_FORMAT, "%s: field \"answer_idx\": \"%.20s\" is not a choice letter", r->ctx, s);
    } else {
        const char *a;
        GC_TRY(gc_ds_req_str(r, r->v, "answer", false, &a));
        for (int i = 0; i < n && gold < 0; i++)
            if (same_trimmed(opts[i], a)) gold = i;
        if (gold < 0) gold = letter_index(a, n);
        if (gold < 0) return gc_fail(GC_ERR_FORMAT, "%s: field \"answer\": \"%.40s\" matches no option", r->ctx, a);
    }
    const cJSON *idv = gc_ds_get(r->v, "idx", false);
    GC_TRY(gc_ds_id(r, idv ? "idx" : "id", idv ? idv : gc_ds_get(r->v, "id", false), &q->id));

    size_t stem_len = strlen(question);
    size_t ol = strlen(opts[0]);
    while (ol && isspace((unsigned char)opts[0][ol - 1])) ol--;
    for (const char *p = strstr(question, "\nA. "); p; p = strstr(p + 1, "\nA. ")) {
        if (strncmp(p + 4, opts[0], ol) == 0) { stem_len = (size_t)(p - question); break; }
    }
    return finish(r, q, question, stem_len, opts, n, gold);
}

// ---- MMLU ----
// The original CSV rows (no header): question, A, B, C, D, answer letter.
// HF jsonl: {question, choices: [...], answer: 0-based index}. An answer may
// be a letter, a JSON integer or a numeric string (both 0-based).
static gc_status mmlu_answer(const gc_ds_rec *r, const cJSON *a, int n, int *gold) {
    if (cJSON_IsNumber(a)) {
        double d = a->valuedouble;
        if (d != floor(d) || d < 0 || d >= n)
            return gc_fail(GC_ERR_FORMAT, "%s: field \"answer\": %g is not a choice index 0..%d", r->ctx, d, n - 1);
        *gold = (int)d;
        return GC_OK;
    }
    const char *s;
    GC_TRY(gc_ds_str_value(r, "answer", a, &s));
    *gold = letter_index(s, n);
    if (*gold >= 0) return GC_OK;
    char *end;
    long v = strtol(s, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (end != s && !*end && v >= 0 && v < n) { *gold = (int)v; return GC_OK; }
    return gc_fail(GC_ERR_FORMAT, "%s: field \"answer\": \"%.20s\" is not a choice letter or index", r->ctx, s);
}

gc_status gc_ds_mmlu(const gc_ds_rec *r, const gc_dataset_options *opt, gc_question *q) {
    const char *stem, *opts[MAX_CHOICES];
    int n = 0, gold;
    if (cJSON_IsArray(r->v)) {
        int cols = cJSON_GetArraySize(r->v);
        if (cols != 6)
            return gc_fail(GC_ERR_FORMAT, "%s: expected 6 columns (question,A,B,C,D,answer), got %d", r->ctx, cols);
        static const char *const names[6] = {"question", "A", "B", "C", "D", "answer"};
        const cJSON *c = r->v->child;
        GC_TRY(gc_ds_str_value(r, names[0], c, &stem));
        for (n = 0; n < 4; n++) {
            c = c->next;
            GC_TRY(gc_ds_str_value(r, names[n + 1], c, &opts[n]));
        }
        GC_TRY(mmlu_answer(r, c->next, 4, &gold));
    } else {
        GC_TRY(gc_ds_req_str(r, r->v, "question", false, &stem));
        const cJSON *ch = gc_ds_get(r->v, "choices", false);
        if (cJSON_IsArray(ch)) {
            GC_TRY(count_ok(r, "choices", cJSON_GetArraySize(ch)));
            for (const cJSON *c = ch->child; c; c = c->next, n++) {
                char field[32];
                snprintf(field, sizeof field, "choices[%d]", n);
                GC_TRY(gc_ds_str_value(r, field, c, &opts[n]));
            }
        } else if (ch) {
            return gc_fail(GC_ERR_FORMAT, "%s: field \"choices\": expected an array, got %s", r->ctx,
                           gc_json_type_name(ch));
        } else {
            // A CSV with a header row: columns A, B, C, D, ...
            for (; n < MAX_CHOICES; n++) {
                char key[2] = {(char)('A' + n), 0};
                const cJSON *c = gc_ds_get(r->v, key, false);
                if (!c) break;
                GC_TRY(gc_ds_str_value(r, key, c, &opts[n]));
            }
            GC_TRY(count_ok(r, "choices", n));
        }
        GC_TRY(mmlu_answer(r, gc_ds_get(r->v, "answer", false), n, &gold));
        GC_TRY(gc_ds_id(r, "id", gc_ds_get(r->v, "id", false), &q->id));
    }
    return finish(r, q, stem, strlen(stem), opts, n, gold);
}
