#include "eval/dataset_internal.h"
#include "core/error.h"
#include "core/json.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gc_status gc_ds_oom(const gc_ds_rec *r) { return gc_fail(GC_ERR_OOM, "%s: out of memory", r->ctx); }

char *gc_ds_dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static bool blank(char c) { return isspace((unsigned char)c) != 0; }

char *gc_ds_trim_dup(const char *s) {
    size_t n = strlen(s);
    while (n > 0 && blank(*s)) { s++; n--; }
    while (n > 0 && blank(s[n - 1])) n--;
    return gc_ds_dupn(s, n);
}

const cJSON *gc_ds_get(const cJSON *obj, const char *key, bool ci) {
    if (!cJSON_IsObject(obj)) return NULL;
    const cJSON *v = ci ? cJSON_GetObjectItem(obj, key) : cJSON_GetObjectItemCaseSensitive(obj, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

gc_status gc_ds_str_value(const gc_ds_rec *r, const char *field, const cJSON *v, const char **out) {
    *out = NULL;
    if (!v) return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": missing", r->ctx, field);
    if (!cJSON_IsString(v) || !v->valuestring)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": expected a string, got %s", r->ctx, field,
                       gc_json_type_name(v));
    const char *s = v->valuestring;
    while (*s && blank(*s)) s++;
    if (!*s) return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": empty", r->ctx, field);
    *out = v->valuestring;
    return GC_OK;
}

gc_status gc_ds_req_str(const gc_ds_rec *r, const cJSON *obj, const char *key, bool ci, const char **out) {
    return gc_ds_str_value(r, key, gc_ds_get(obj, key, ci), out);
}

gc_status gc_ds_id(const gc_ds_rec *r, const char *field, const cJSON *v, char **out) {
    *out = NULL;
    if (!v) return GC_OK;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d) || d != floor(d) || fabs(d) > (double)GC_JSON_MAX_INT)
            return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": expected an integer or a string id, got %.17g", r->ctx,
                           field, d);
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)d);
        *out = gc_ds_dupn(buf, strlen(buf));
        return *out ? GC_OK : gc_ds_oom(r);
    }
    const char *s;
    GC_TRY(gc_ds_str_value(r, field, v, &s));
    *out = gc_ds_trim_dup(s);
    return *out ? GC_OK : gc_ds_oom(r);
}

// Trimmed extent of s[0..n).
static void trim(const char **s, size_t *n) {
    while (*n > 0 && blank(**s)) { (*s)++; (*n)--; }
    while (*n > 0 && blank((*s)[*n - 1])) (*n)--;
}

gc_status gc_ds_choice_text(const gc_ds_rec *r, const char *stem, size_t stem_len,
                            const char *const *opts, int n, char **out) {
    trim(&stem, &stem_len);
    size_t total = stem_len + 1;
    for (int i = 0; i < n; i++) total += strlen(opts[i]) + 4;
    char *t = malloc(total + 1);
    if (!t) return gc_ds_oom(r);
    size_t k = 0;
    memcpy(t, stem, stem_len);
    k = stem_len;
    for (int i = 0; i < n; i++) {
        const char *o = opts[i];
        size_t ol = strlen(o);
        trim(&o, &ol);
        t[k++] = '\n';
        t[k++] = (char)('A' + i);
        t[k++] = '.';
        t[k++] = ' ';
        memcpy(t + k, o, ol);
        k += ol;
    }
    t[k] = 0;
    *out = t;
    return GC_OK;
}

// Line starts with `w` (no indentation).
static bool top_level(const char *line, const char *w) { return strncmp(line, w, strlen(w)) == 0; }

static bool has_top_level(const char *code, const char *w) {
    for (const char *l = code; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (top_level(l, w)) return true;
    return false;
}

char *gc_ds_def_name(const char *code, bool last) {
    const char *found = NULL;
    size_t flen = 0;
    for (const char *l = code; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (!top_level(l, "def ")) continue;
        const char *p = l + 4;
        while (*p == ' ') p++;
        const char *q = p;
        while (isalnum((unsigned char)*q) || *q == '_') q++;
        if (q == p || *q != '(') continue;
        found = p;
        flen = (size_t)(q - p);
        if (!last) break;
    }
    return found ? gc_ds_dupn(found, flen) : NULL;
}

char *gc_ds_test_program(const char *setup, const char *test, const char *entry_point) {
    bool call = entry_point && has_top_level(test, "def check(") && !has_top_level(test, "check(") &&
                !has_top_level(test, "test_check()");
    size_t sl = setup ? strlen(setup) : 0, tl = strlen(test), el = call ? strlen(entry_point) : 0;
    char *p = malloc(sl + 1 + tl + el + 16);
    if (!p) return NULL;
    size_t k = 0;
    if (sl) { memcpy(p, setup, sl); k = sl; p[k++] = '\n'; }
    memcpy(p + k, test, tl);
    k += tl;
    if (call) k += (size_t)sprintf(p + k, "\n\ncheck(%s)\n", entry_point);
    p[k] = 0;
    return p;
}

void gc_question_clear(gc_question *q) {
    free(q->id);
    free(q->question);
    free(q->gold);
    free(q->code_prompt);
    free(q->entry_point);
    memset(q, 0, sizeof *q);
}
