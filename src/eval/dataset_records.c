// Splits a dataset file into records (JSON lines, JSON array elements, CSV
// rows) and parses each on its own, so that one bad record is reported with
// its line and the rest can still be read.
#include "eval/csv.h"
#include "eval/dataset_internal.h"
#include "core/error.h"
#include "core/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Line of absolute offset pos, counting from (base_pos, base_line).
static int64_t line_at(const char *d, size_t base_pos, int64_t base_line, size_t pos) {
    int64_t l = base_line;
    for (size_t i = base_pos; i < pos; i++)
        if (d[i] == '\n') l++;
    return l;
}

static int64_t column_at(const char *d, size_t pos) {
    size_t s = pos;
    while (s > 0 && d[s - 1] != '\n') s--;
    return (int64_t)(pos - s) + 1;
}

// Parses d[a..b) (starting on `line`) as one JSON object.
static gc_status parse_object(const char *path, const char *d, size_t a, size_t b, int64_t line, cJSON **out) {
    *out = NULL;
    size_t n = b - a;
    const char *nul = memchr(d + a, 0, n);
    if (nul) {
        size_t p = (size_t)(nul - d);
        return gc_fail(GC_ERR_FORMAT, "%s:%lld: invalid JSON: NUL byte at column %lld", path,
                       (long long)line_at(d, a, line, p), (long long)column_at(d, p));
    }
    char *buf = malloc(n + 1);
    if (!buf) return gc_fail(GC_ERR_OOM, "%s:%lld: out of memory", path, (long long)line);
    memcpy(buf, d + a, n);
    buf[n] = 0;
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    size_t p = a + (end ? (size_t)(end - buf) : 0);
    if (v) {
        while (p < b && is_ws(d[p])) p++;
    }
    free(buf);
    if (!v || p < b) {
        cJSON_Delete(v);
        if (p > b) p = b;
        char near[28];
        size_t k = 0;
        for (size_t i = p; i < b && k < 20; i++)
            near[k++] = (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '"') ? d[i] : '?';
        near[k] = 0;
        return gc_fail(GC_ERR_FORMAT, "%s:%lld: invalid JSON%s at column %lld (near \"%s\")", path,
                       (long long)line_at(d, a, line, p), v ? ": unexpected data after the value" : "",
                       (long long)column_at(d, p), near);
    }
    if (!cJSON_IsObject(v)) {
        gc_status s = gc_fail(GC_ERR_FORMAT, "%s:%lld: expected a JSON object, got %s", path, (long long)line,
                              gc_json_type_name(v));
        cJSON_Delete(v);
        return s;
    }
    *out = v;
    return GC_OK;
}

static gc_status visit(const char *path, gc_ds_visit fn, void *user, gc_status st, const cJSON *v,
                       int64_t line, size_t index) {
    char ctx[600];
    snprintf(ctx, sizeof ctx, "%s:%lld", path, (long long)line);
    gc_ds_rec r = {v, line, index, ctx};
    return fn(user, st, &r);
}

static size_t skip_bom(const char *d, size_t len) {
    return (len >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
}

gc_status gc_ds_read_jsonl(const char *path, const char *d, size_t len, gc_ds_visit fn, void *user) {
    size_t pos = skip_bom(d, len), index = 0;
    for (int64_t line = 1; pos < len; line++) {
        const char *nl = memchr(d + pos, '\n', len - pos);
        size_t e = nl ? (size_t)(nl - d) : len;
        size_t a = pos, b = e;
        while (a < b && is_ws(d[a])) a++;
        while (b > a && is_ws(d[b - 1])) b--;
        if (a < b) {
            cJSON *v = NULL;
            gc_status st = parse_object(path, d, a, b, line, &v);
            gc_status r = visit(path, fn, user, st, v, line, index++);
            cJSON_Delete(v);
            GC_TRY(r);
        }
        pos = e + 1;
    }
    return GC_OK;
}

// End of the array element starting at d[a]: the ',' or ']' at depth 0
// outside strings, or len when the array never closes.
static size_t element_end(const char *d, size_t len, size_t a) {
    int depth = 0;
    bool str = false;
    for (size_t i = a; i < len; i++) {
        char c = d[i];
        if (str) {
            if (c == '\\') i++;
            else if (c == '"') str = false;
            continue;
        }
        if (c == '"') str = true;
        else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') {
            if (depth == 0) return c == ']' ? i : len;  // a stray '}' ends nothing: malformed
            depth--;
        } else if (c == ',' && depth == 0) return i;
    }
    return len;
}

gc_status gc_ds_read_json_array(const char *path, const char *d, size_t len, gc_ds_visit fn, void *user) {
    size_t pos = skip_bom(d, len);
    int64_t line = 1;
    while (pos < len && is_ws(d[pos])) { if (d[pos] == '\n') line++; pos++; }
    if (pos >= len || d[pos] != '[') return gc_fail(GC_ERR_FORMAT, "%s:%lld: expected a JSON array", path, (long long)line);
    pos++;
    size_t index = 0;
    for (;;) {
        while (pos < len && is_ws(d[pos])) { if (d[pos] == '\n') line++; pos++; }
        if (pos >= len)
            return gc_fail(GC_ERR_FORMAT, "%s:%lld: unterminated JSON array (missing ']')", path, (long long)line);
        if (d[pos] == ']' && index == 0) { pos++; break; }
        size_t e = element_end(d, len, pos);
        size_t b = e;
        while (b > pos && is_ws(d[b - 1])) b--;
        cJSON *v = NULL;
        gc_status st = b > pos ? parse_object(path, d, pos, b, line, &v)
                               : gc_fail(GC_ERR_FORMAT, "%s:%lld: empty array element", path, (long long)line);
        gc_status r = visit(path, fn, user, st, v, line, index++);
        cJSON_Delete(v);
        GC_TRY(r);
        line = line_at(d, pos, line, e);
        if (e >= len)
            return gc_fail(GC_ERR_FORMAT, "%s:%lld: unterminated JSON array (missing ']')", path, (long long)line);
        pos = e + 1;
        if (d[e] == ']') break;
    }
    while (pos < len && is_ws(d[pos])) { if (d[pos] == '\n') line++; pos++; }
    if (pos < len)
        return gc_fail(GC_ERR_FORMAT, "%s:%lld: unexpected data after the JSON array", path, (long long)line);
    return GC_OK;
}

// The row as an object keyed by the header's names (extra fields get
// positional names "#5"), or as an array of strings without a header.
static cJSON *row_value(const gc_csv *c, char *const *names, size_t n_names, bool header) {
    cJSON *v = header ? cJSON_CreateObject() : cJSON_CreateArray();
    if (!v) return NULL;
    for (size_t i = 0; i < gc_csv_count(c); i++) {
        cJSON *s = cJSON_CreateString(gc_csv_field(c, i));
        if (!s) { cJSON_Delete(v); return NULL; }
        if (!header) { cJSON_AddItemToArray(v, s); continue; }
        char name[32];
        const char *key = name;
        if (i < n_names) key = names[i];
        else snprintf(name, sizeof name, "#%zu", i);
        cJSON_AddItemToObject(v, key, s);
    }
    return v;
}

// MMLU's release has no header; a first row ending in "answer" is one.
static bool looks_like_mmlu_header(const gc_csv *c) {
    size_t n = gc_csv_count(c);
    return n >= 2 && strcasecmp(gc_csv_field(c, n - 1), "answer") == 0;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

gc_status gc_ds_read_csv(const char *path, const char *d, size_t len, gc_csv_header hdr,
                         gc_ds_visit fn, void *user) {
    gc_csv c;
    gc_csv_init(&c, d, len);
    char **names = NULL;
    size_t n_names = 0, index = 0;
    bool have_header = false, first = true;
    gc_status ret = GC_OK;
    for (;;) {
        bool more = false;
        int64_t line = c.line;
        gc_status st = gc_csv_next(&c, path, &more, &line);
        if (st == GC_ERR_OOM) { ret = st; break; }
        if (st == GC_OK && !more) break;
        if (first && hdr == GC_CSV_HEADER && st != GC_OK) { ret = st; break; }
        if (st == GC_OK && first && (hdr == GC_CSV_HEADER || (hdr == GC_CSV_DETECT_MMLU && looks_like_mmlu_header(&c)))) {
            first = false;
            have_header = true;
            names = calloc(gc_csv_count(&c), sizeof *names);
            if (!names) { ret = gc_fail(GC_ERR_OOM, "%s: out of memory", path); break; }
            for (n_names = 0; n_names < gc_csv_count(&c); n_names++) {
                names[n_names] = gc_ds_trim_dup(gc_csv_field(&c, n_names));
                if (!names[n_names]) { ret = gc_fail(GC_ERR_OOM, "%s: out of memory", path); break; }
            }
            if (ret != GC_OK) break;
            continue;
        }
        first = false;
        cJSON *v = NULL;
        if (st == GC_OK) {
            v = row_value(&c, names, n_names, have_header);
            if (!v) { ret = gc_fail(GC_ERR_OOM, "%s:%lld: out of memory", path, (long long)line); break; }
        }
        ret = visit(path, fn, user, st, v, line, index++);
        cJSON_Delete(v);
        if (ret != GC_OK) break;
    }
    free_names(names, n_names);
    gc_csv_free(&c);
    return ret;
}
