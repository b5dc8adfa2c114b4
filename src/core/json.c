#include "core/json.h"
#include "core/error.h"
#include "core/file.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// 1-based line and byte column of offset `pos` in text.
static void line_col(const char *text, size_t pos, int64_t *line, int64_t *col) {
    int64_t l = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < pos; i++) {
        if (text[i] == '\n') { l++; line_start = i + 1; }
    }
    *line = l;
    *col = (int64_t)(pos - line_start) + 1;
}

// Up to 24 printable bytes starting at pos, others shown as '?'.
static void snippet(const char *text, size_t len, size_t pos, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t i = pos; i < len && k + 1 < cap && k < 24; i++) {
        unsigned char c = (unsigned char)text[i];
        buf[k++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    buf[k] = 0;
}

static gc_status fail_at(const char *path, const char *text, size_t len, size_t pos, const char *what) {
    int64_t line, col;
    char near[32];
    if (pos > len) pos = len;
    line_col(text, pos, &line, &col);
    snippet(text, len, pos, near, sizeof near);
    return gc_fail(GC_ERR_FORMAT, "%s: %s at line %lld, column %lld (byte %zu, near \"%s\")",
                   path, what, (long long)line, (long long)col, pos, near);
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

gc_status gc_json_parse(const char *text, size_t len, const char *path, cJSON **out) {
    *out = NULL;
    if (len > 0 && !text) return gc_fail(GC_ERR_INVALID_ARG, "%s: NULL JSON text", path);
    // A raw NUL is never valid JSON, and cJSON would truncate a string at it.
    const char *nul = len ? memchr(text, 0, len) : NULL;
    if (nul) return fail_at(path, text, len, (size_t)(nul - text), "invalid JSON: NUL byte");
    size_t skip = 0;
    while (skip < len && is_ws(text[skip])) skip++;
    if (skip == len) return fail_at(path, text, len, len, "invalid JSON: empty document");

    // cJSON honours the length, but a terminated copy makes that not matter.
    char *buf = malloc(len + 1);
    if (!buf) return gc_fail(GC_ERR_OOM, "%s: out of memory parsing JSON (%zu bytes)", path, len);
    memcpy(buf, text, len);
    buf[len] = 0;
    const char *end = NULL;
    // return_parse_end gives the same position as cJSON_GetErrorPtr without
    // reading cJSON's global (which other threads may overwrite).
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        size_t pos = end ? (size_t)(end - buf) : 0;
        free(buf);
        return fail_at(path, text, len, pos, "invalid JSON");
    }
    size_t pos = (size_t)(end - buf);
    while (pos < len && is_ws(buf[pos])) pos++;
    free(buf);
    if (pos < len) {
        cJSON_Delete(root);
        return fail_at(path, text, len, pos, "invalid JSON: unexpected data after the value");
    }
    *out = root;
    return GC_OK;
}

gc_status gc_json_parse_file(const char *path, cJSON **out) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    GC_TRY(gc_file_read_all(path, &text, &len));
    gc_status s = gc_json_parse(text, len, path, out);
    free(text);
    return s;
}

const cJSON *gc_json_get(const cJSON *obj, const char *key) {
    if (!cJSON_IsObject(obj)) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return NULL;
    return v;
}

const char *gc_json_type_name(const cJSON *v) {
    if (!v) return "nothing";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a bool";
    if (cJSON_IsNull(v)) return "null";
    return "an invalid value";
}

static gc_status missing(const char *path, const char *field) {
    return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": missing", path, field);
}

static gc_status wrong_type(const char *path, const char *field, const char *want, const cJSON *v) {
    return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": expected %s, got %s", path, field, want,
                   gc_json_type_name(v));
}

gc_status gc_json_to_int(const char *path, const char *field, const cJSON *v,
                         int64_t min, int64_t max, int64_t *out) {
    if (!v || cJSON_IsNull(v)) return missing(path, field);
    if (!cJSON_IsNumber(v)) return wrong_type(path, field, "an integer", v);
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d))
        return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": expected an integer, got %.17g", path, field, d);
    if (fabs(d) > (double)GC_JSON_MAX_INT)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": integer %.17g is beyond 2^53", path, field, d);
    int64_t x = (int64_t)d;
    if (x < min || x > max)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": %lld is out of range [%lld, %lld]", path, field,
                       (long long)x, (long long)min, (long long)max);
    *out = x;
    return GC_OK;
}

gc_status gc_json_to_double(const char *path, const char *field, const cJSON *v,
                            double min, double max, double *out) {
    if (!v || cJSON_IsNull(v)) return missing(path, field);
    if (!cJSON_IsNumber(v)) return wrong_type(path, field, "a number", v);
    double d = v->valuedouble;
    if (!isfinite(d)) return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": number is not finite", path, field);
    if (d < min || d > max)
        return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": %g is out of range [%g, %g]", path, field, d, min, max);
    *out = d;
    return GC_OK;
}

gc_status gc_json_to_bool(const char *path, const char *field, const cJSON *v, bool *out) {
    if (!v || cJSON_IsNull(v)) return missing(path, field);
    if (!cJSON_IsBool(v)) return wrong_type(path, field, "true or false", v);
    *out = cJSON_IsTrue(v);
    return GC_OK;
}

gc_status gc_json_to_string(const char *path, const char *field, const cJSON *v, const char **out) {
    if (!v || cJSON_IsNull(v)) return missing(path, field);
    if (!cJSON_IsString(v) || !v->valuestring) return wrong_type(path, field, "a string", v);
    *out = v->valuestring;
    return GC_OK;
}

gc_status gc_json_to_int_list(const char *path, const char *field, const cJSON *v,
                              int64_t min, int64_t max, int64_t *out, int cap, int *n) {
    *n = 0;
    if (!v || cJSON_IsNull(v)) return missing(path, field);
    if (cJSON_IsNumber(v)) {
        if (cap < 1) return gc_fail(GC_ERR_UNSUPPORTED, "%s: field \"%s\": more than %d values", path, field, cap);
        GC_TRY(gc_json_to_int(path, field, v, min, max, &out[0]));
        *n = 1;
        return GC_OK;
    }
    if (!cJSON_IsArray(v)) return wrong_type(path, field, "an integer or an array of integers", v);
    int k = 0;
    for (const cJSON *e = v->child; e; e = e->next, k++) {
        if (k >= cap)
            return gc_fail(GC_ERR_UNSUPPORTED, "%s: field \"%s\": more than %d values", path, field, cap);
        char name[256];
        snprintf(name, sizeof name, "%s[%d]", field, k);
        if (cJSON_IsNull(e)) return gc_fail(GC_ERR_FORMAT, "%s: field \"%s\": expected an integer, got null", path, name);
        GC_TRY(gc_json_to_int(path, name, e, min, max, &out[k]));
    }
    *n = k;
    return GC_OK;
}

static const cJSON *member(const cJSON *obj, const char *key) {
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

gc_status gc_json_req_int(const char *path, const cJSON *obj, const char *key,
                          int64_t min, int64_t max, int64_t *out) {
    return gc_json_to_int(path, key, member(obj, key), min, max, out);
}

gc_status gc_json_opt_int(const char *path, const cJSON *obj, const char *key,
                          int64_t min, int64_t max, int64_t def, int64_t *out) {
    const cJSON *v = gc_json_get(obj, key);
    if (!v) { *out = def; return GC_OK; }
    return gc_json_to_int(path, key, v, min, max, out);
}

gc_status gc_json_req_double(const char *path, const cJSON *obj, const char *key,
                             double min, double max, double *out) {
    return gc_json_to_double(path, key, member(obj, key), min, max, out);
}

gc_status gc_json_opt_double(const char *path, const cJSON *obj, const char *key,
                             double min, double max, double def, double *out) {
    const cJSON *v = gc_json_get(obj, key);
    if (!v) { *out = def; return GC_OK; }
    return gc_json_to_double(path, key, v, min, max, out);
}

gc_status gc_json_req_bool(const char *path, const cJSON *obj, const char *key, bool *out) {
    return gc_json_to_bool(path, key, member(obj, key), out);
}

gc_status gc_json_opt_bool(const char *path, const cJSON *obj, const char *key, bool def, bool *out) {
    const cJSON *v = gc_json_get(obj, key);
    if (!v) { *out = def; return GC_OK; }
    return gc_json_to_bool(path, key, v, out);
}

gc_status gc_json_req_string(const char *path, const cJSON *obj, const char *key, const char **out) {
    return gc_json_to_string(path, key, member(obj, key), out);
}

gc_status gc_json_opt_string(const char *path, const cJSON *obj, const char *key,
                             const char *def, const char **out) {
    const cJSON *v = gc_json_get(obj, key);
    if (!v) { *out = def; return GC_OK; }
    return gc_json_to_string(path, key, v, out);
}

gc_status gc_json_opt_int_list(const char *path, const cJSON *obj, const char *key,
                               int64_t min, int64_t max, int64_t *out, int cap, int *n) {
    *n = 0;
    const cJSON *v = gc_json_get(obj, key);
    if (!v) return GC_OK;
    return gc_json_to_int_list(path, key, v, min, max, out, cap, n);
}

gc_status gc_json_req_object(const char *path, const cJSON *obj, const char *key, const cJSON **out) {
    *out = NULL;
    const cJSON *v = member(obj, key);
    if (!v || cJSON_IsNull(v)) return missing(path, key);
    if (!cJSON_IsObject(v)) return wrong_type(path, key, "an object", v);
    *out = v;
    return GC_OK;
}

gc_status gc_json_opt_object(const char *path, const cJSON *obj, const char *key, const cJSON **out) {
    *out = NULL;
    const cJSON *v = gc_json_get(obj, key);
    if (!v) return GC_OK;
    if (!cJSON_IsObject(v)) return wrong_type(path, key, "an object", v);
    *out = v;
    return GC_OK;
}

gc_status gc_json_req_array(const char *path, const cJSON *obj, const char *key, const cJSON **out) {
    *out = NULL;
    const cJSON *v = member(obj, key);
    if (!v || cJSON_IsNull(v)) return missing(path, key);
    if (!cJSON_IsArray(v)) return wrong_type(path, key, "an array", v);
    *out = v;
    return GC_OK;
}
