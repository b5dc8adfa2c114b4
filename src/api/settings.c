// API settings from the environment and a .env file (see gcache/api.h).
//
// Precedence is per variable, as with dotenv loaders: a variable set in the
// environment hides the same variable in the file; the file fills in the
// variables the environment lacks. Then, per setting, the first alias with a
// value wins (API_BASE_URL before BASE_URL before OPENAI_BASE_URL). An empty
// value counts as unset, so "API_KEY=" in a .env means "no key".
#include "gcache/api.h"
#include "core/error.h"
#include "core/file.h"
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// Largest accepted timeout: far beyond any real request, and small enough
// that the client's conversion to milliseconds cannot overflow a long.
#define MAX_TIMEOUT_S 1e6
// More retries than this is surely a typo (backoff would run for years).
#define MAX_RETRIES 30

// The variables of the .env file (later assignments replace earlier ones).
typedef struct env_vars {
    char **keys, **values;
    int n, cap;
    bool oom;
} env_vars;

// Where a value came from, for messages.
typedef struct found {
    const char *name;    // the variable
    const char *value;   // NULL: none of the aliases is set
    const char *where;   // "the environment" or the .env path
} found;

static void vars_free(env_vars *v) {
    for (int i = 0; i < v->n; i++) { free(v->keys[i]); free(v->values[i]); }
    free(v->keys);
    free(v->values);
    memset(v, 0, sizeof *v);
}

static const char *vars_get(const env_vars *v, const char *key) {
    for (int i = v->n - 1; i >= 0; i--)
        if (strcmp(v->keys[i], key) == 0) return v->values[i];
    return NULL;
}

static bool vars_grow(env_vars *v) {
    if (v->n < v->cap) return true;
    int cap = v->cap ? v->cap * 2 : 16;
    char **k = realloc(v->keys, (size_t)cap * sizeof *k);
    if (!k) return false;
    v->keys = k;
    char **val = realloc(v->values, (size_t)cap * sizeof *val);
    if (!val) return false;
    v->values = val;
    v->cap = cap;
    return true;
}

// gc_dotenv_parse callback (it cannot fail, so OOM is remembered).
static void vars_set(void *user, const char *key, const char *value) {
    env_vars *v = user;
    if (v->oom) return;
    char *k = strdup(key), *val = strdup(value);
    if (!k || !val || !vars_grow(v)) {
        free(k);
        free(val);
        v->oom = true;
        return;
    }
    v->keys[v->n] = k;
    v->values[v->n] = val;
    v->n++;
}

// Loads `path` into *v. A file that does not exist leaves *v empty when it
// is the default ./.env (optional), and is an error when the caller named it:
// a mistyped --env-file must not fall back to whatever the shell holds.
static gc_status load_env_file(const char *path, bool named, env_vars *v) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if ((errno == ENOENT || errno == ENOTDIR) && !named) return GC_OK;
        return gc_fail(GC_ERR_IO, "%s: cannot read the settings file: %s", path, strerror(errno));
    }
    char *text = NULL;
    size_t len = 0;
    GC_TRY(gc_file_read_all(path, &text, &len));
    gc_status s = gc_dotenv_parse(text, len, path, vars_set, v);
    free(text);
    if (s == GC_OK && v->oom) s = gc_fail(GC_ERR_OOM, "%s: out of memory", path);
    return s;
}

// The first of `names` (NULL-terminated) with a non-empty value.
static found lookup(const env_vars *file, const char *env_path, const char *const *names) {
    for (int i = 0; names[i]; i++) {
        const char *e = getenv(names[i]);
        if (e) {
            if (*e) return (found){names[i], e, "the environment"};
            continue;   // set but empty: the file cannot un-hide it
        }
        const char *f = vars_get(file, names[i]);
        if (f && *f) return (found){names[i], f, env_path};
    }
    return (found){names[0], NULL, NULL};
}

static bool has_control_chars(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

// A finite number >= 0 (> 0 when `positive`), at most `max`.
static gc_status parse_number(const found *f, bool positive, double max, double *out) {
    char *end = NULL;
    errno = 0;
    double d = strtod(f->value, &end);
    if (end == f->value || *end != 0 || errno == ERANGE || !isfinite(d) || d < 0 || (positive && d == 0) || d > max)
        return gc_fail(GC_ERR_INVALID_ARG, "%s (from %s): expected a finite number %s 0 and <= %g, got \"%.64s\"",
                       f->name, f->where, positive ? ">" : ">=", max, f->value);
    *out = d;
    return GC_OK;
}

// A decimal integer in [0, max].
static gc_status parse_count(const found *f, int max, int *out) {
    char *end = NULL;
    errno = 0;
    long x = strtol(f->value, &end, 10);
    if (end == f->value || *end != 0 || errno == ERANGE || x < 0 || x > max)
        return gc_fail(GC_ERR_INVALID_ARG, "%s (from %s): expected an integer in [0, %d], got \"%.64s\"",
                       f->name, f->where, max, f->value);
    *out = (int)x;
    return GC_OK;
}

// http(s)://host[...], no blanks or control characters; trailing '/' dropped.
static gc_status take_base_url(const found *f, char **out) {
    const char *v = f->value;
    size_t scheme = strncmp(v, "https://", 8) == 0 ? 8 : strncmp(v, "http://", 7) == 0 ? 7 : 0;
    if (!scheme || !v[scheme] || v[scheme] == '/' || strchr(v, ' ') || has_control_chars(v))
        return gc_fail(GC_ERR_INVALID_ARG,
                       "%s (from %s): expected an http:// or https:// URL such as https://api.openai.com/v1, got \"%.128s\"",
                       f->name, f->where, v);
    size_t n = strlen(v);
    while (n > scheme && v[n - 1] == '/') n--;
    *out = strndup(v, n);
    return *out ? GC_OK : gc_fail(GC_ERR_OOM, "out of memory");
}

static gc_status take_string(const found *f, char **out) {
    if (has_control_chars(f->value))
        return gc_fail(GC_ERR_INVALID_ARG, "%s (from %s): contains control characters", f->name, f->where);
    *out = strdup(f->value);
    return *out ? GC_OK : gc_fail(GC_ERR_OOM, "out of memory");
}

static const char *const BASE_URL_VARS[] = {"API_BASE_URL", "BASE_URL", "OPENAI_BASE_URL", NULL};
static const char *const KEY_VARS[] = {"API_KEY", "OPENAI_API_KEY", NULL};
static const char *const MODEL_VARS[] = {"API_MODEL", "MODEL_NAME", NULL};

// Fills *out from the merged variables; out holds defaults on entry.
static gc_status read_settings(const env_vars *file, const char *path, gc_api_settings *out) {
    found f = lookup(file, path, BASE_URL_VARS);
    if (!f.value)
        return gc_fail(GC_ERR_INVALID_ARG,
                       "no API base URL: set API_BASE_URL (or BASE_URL / OPENAI_BASE_URL) in the environment or in %s, "
                       "e.g. API_BASE_URL=https://api.openai.com/v1", path);
    GC_TRY(take_base_url(&f, &out->base_url));
    f = lookup(file, path, MODEL_VARS);
    if (!f.value)
        return gc_fail(GC_ERR_INVALID_ARG,
                       "no API model: set API_MODEL (or MODEL_NAME) in the environment or in %s, e.g. API_MODEL=gpt-4o-mini",
                       path);
    GC_TRY(take_string(&f, &out->model));
    f = lookup(file, path, KEY_VARS);
    if (f.value) GC_TRY(take_string(&f, &out->api_key));

    static const char *const timeout[] = {"API_TIMEOUT", NULL}, *const retries[] = {"API_MAX_RETRIES", NULL};
    static const char *const pin[] = {"API_PRICE_IN", NULL}, *const pout[] = {"API_PRICE_OUT", NULL};
    if ((f = lookup(file, path, timeout)).value) GC_TRY(parse_number(&f, true, MAX_TIMEOUT_S, &out->timeout_s));
    if ((f = lookup(file, path, retries)).value) GC_TRY(parse_count(&f, MAX_RETRIES, &out->max_retries));
    if ((f = lookup(file, path, pin)).value) GC_TRY(parse_number(&f, false, 1e12, &out->price_in));
    if ((f = lookup(file, path, pout)).value) GC_TRY(parse_number(&f, false, 1e12, &out->price_out));
    return GC_OK;
}

gc_status gc_api_settings_load(const char *env_file, gc_api_settings *out) {
    if (!out) return gc_fail(GC_ERR_INVALID_ARG, "gc_api_settings_load: NULL output");
    *out = (gc_api_settings){.timeout_s = 120.0, .max_retries = 3};
    const char *path = env_file ? env_file : "./.env";
    env_vars file = {0};
    gc_status s = load_env_file(path, env_file != NULL, &file);
    if (s == GC_OK) s = read_settings(&file, path, out);
    vars_free(&file);
    if (s != GC_OK) gc_api_settings_free(out);
    return s;
}

void gc_api_settings_free(gc_api_settings *s) {
    if (!s) return;
    free(s->base_url);
    free(s->api_key);
    free(s->model);
    memset(s, 0, sizeof *s);
}
