// OpenAI-compatible chat client over libcurl (protocol in gcache/api.h).
//
// One easy handle per client, reused across requests so that connections
// (and TLS sessions) are kept alive. A request is retried after transport
// errors, 429 and 5xx with exponential backoff (a 429 / 503 that carries
// Retry-After waits what the server asks instead, bounded); other statuses
// and malformed replies fail at once.
#include "gcache/api.h"
#include "core/error.h"
#include "core/json.h"
#include "core/strbuf.h"
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Replies are a few KiB; anything near this is not a chat completion.
#define MAX_BODY_BYTES ((size_t)16 << 20)
// Default first backoff delay; GC_API_RETRY_BASE_MS overrides it (tests).
#define DEFAULT_RETRY_BASE_MS 1000L
// No single wait is longer than this, however many retries.
#define MAX_RETRY_DELAY_MS 60000L
// How much of a server's error text goes into our message.
#define MAX_SERVER_MSG 300

struct gc_api {
    gc_api_settings s;           // deep copy
    char *url;                   // {base_url}/chat/completions
    CURL *curl;
    struct curl_slist *headers;
    long retry_base_ms;
    char curl_err[CURL_ERROR_SIZE];
};

// ---------------------------------------------------------------- globals

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc = CURLE_OK;

// curl_global_init is not thread-safe and must run once per process.
static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

// ---------------------------------------------------------------- helpers

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

// Copies at most `cap - 1` bytes of s into buf, printable ASCII only (server
// text goes into one-line messages), with "..." when cut.
static void clip(const char *s, size_t len, char *buf, size_t cap) {
    size_t k = 0, i = 0;
    for (; i < len && k + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\n' || c == '\t') ? ' ' : '?';
    }
    if (i < len) { memcpy(buf + k, "...", 3); k += 3; }
    buf[k] = 0;
}

static bool has_control_chars(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

// GC_API_RETRY_BASE_MS: the first backoff delay in ms (0 allowed).
static gc_status retry_base_from_env(long *out) {
    const char *e = getenv("GC_API_RETRY_BASE_MS");
    *out = DEFAULT_RETRY_BASE_MS;
    if (!e || !*e) return GC_OK;
    char *end = NULL;
    errno = 0;
    long v = strtol(e, &end, 10);
    if (end == e || *end || errno == ERANGE || v < 0 || v > MAX_RETRY_DELAY_MS)
        return gc_fail(GC_ERR_INVALID_ARG, "GC_API_RETRY_BASE_MS: expected milliseconds in [0, %ld], got \"%.32s\"",
                       MAX_RETRY_DELAY_MS, e);
    *out = v;
    return GC_OK;
}

// Delay before retry number `k` (0-based): base * 2^k, capped.
static long backoff_ms(long base, int k) {
    long d = base;
    for (int i = 0; i < k && d < MAX_RETRY_DELAY_MS; i++) d *= 2;
    return d < MAX_RETRY_DELAY_MS ? d : MAX_RETRY_DELAY_MS;
}

// ---------------------------------------------------------------- open / close

static gc_status check_settings(const gc_api_settings *s) {
    if (!s) return gc_fail(GC_ERR_INVALID_ARG, "gc_api_open: NULL settings");
    if (!s->base_url || !*s->base_url || has_control_chars(s->base_url))
        return gc_fail(GC_ERR_INVALID_ARG, "gc_api_open: missing or invalid base_url");
    if (!s->model || !*s->model) return gc_fail(GC_ERR_INVALID_ARG, "gc_api_open: missing model");
    // A key with CR/LF would inject extra HTTP headers.
    if (s->api_key && has_control_chars(s->api_key))
        return gc_fail(GC_ERR_INVALID_ARG, "gc_api_open: api_key contains control characters");
    if (!isfinite(s->timeout_s) || s->timeout_s <= 0 || s->timeout_s > 1e6)
        return gc_fail(GC_ERR_INVALID_ARG, "gc_api_open: timeout_s must be in (0, 1e6], got %g", s->timeout_s);
    if (s->max_retries < 0 || s->max_retries > 1000)
        return gc_fail(GC_ERR_INVALID_ARG, "gc_api_open: max_retries must be in [0, 1000], got %d", s->max_retries);
    if (!isfinite(s->price_in) || s->price_in < 0 || !isfinite(s->price_out) || s->price_out < 0)
        return gc_fail(GC_ERR_INVALID_ARG, "gc_api_open: prices must be finite and >= 0");
    return GC_OK;
}

static gc_status copy_settings(const gc_api_settings *s, gc_api_settings *d) {
    *d = *s;
    d->base_url = strdup(s->base_url);
    d->model = strdup(s->model);
    d->api_key = s->api_key && *s->api_key ? strdup(s->api_key) : NULL;
    bool key_ok = !(s->api_key && *s->api_key) || d->api_key;
    if (!d->base_url || !d->model || !key_ok) return gc_fail(GC_ERR_OOM, "gc_api_open: out of memory");
    return GC_OK;
}

static gc_status build_url(gc_api *a) {
    const char *base = a->s.base_url, *tail = "/chat/completions";
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') n--;
    a->url = malloc(n + strlen(tail) + 1);
    if (!a->url) return gc_fail(GC_ERR_OOM, "gc_api_open: out of memory");
    memcpy(a->url, base, n);
    strcpy(a->url + n, tail);
    return GC_OK;
}

static gc_status build_headers(gc_api *a) {
    // "Expect:" turns off curl's 100-continue round trip for larger bodies.
    const char *fixed[] = {"Content-Type: application/json", "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *h = curl_slist_append(a->headers, fixed[i]);
        if (!h) return gc_fail(GC_ERR_OOM, "gc_api_open: out of memory");
        a->headers = h;
    }
    if (!a->s.api_key) return GC_OK;
    const char *prefix = "Authorization: Bearer ";
    size_t n = strlen(prefix) + strlen(a->s.api_key) + 1;
    char *line = malloc(n);
    if (!line) return gc_fail(GC_ERR_OOM, "gc_api_open: out of memory");
    snprintf(line, n, "%s%s", prefix, a->s.api_key);
    struct curl_slist *h = curl_slist_append(a->headers, line);
    // curl copied the line; wipe ours so the key does not linger in the heap.
    memset(line, 0, n);
    free(line);
    if (!h) return gc_fail(GC_ERR_OOM, "gc_api_open: out of memory");
    a->headers = h;
    return GC_OK;
}

gc_status gc_api_open(const gc_api_settings *s, gc_api **out) {
    if (!out) return gc_fail(GC_ERR_INVALID_ARG, "gc_api_open: NULL output");
    *out = NULL;
    GC_TRY(check_settings(s));
    long retry_base;
    GC_TRY(retry_base_from_env(&retry_base));
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK)
        return gc_fail(GC_ERR_INTERNAL, "curl_global_init failed: %s", curl_easy_strerror(g_curl_init_rc));
    gc_api *a = calloc(1, sizeof *a);
    if (!a) return gc_fail(GC_ERR_OOM, "gc_api_open: out of memory");
    a->retry_base_ms = retry_base;
    gc_status st = copy_settings(s, &a->s);
    if (st == GC_OK) st = build_url(a);
    if (st == GC_OK) st = build_headers(a);
    if (st == GC_OK && !(a->curl = curl_easy_init())) st = gc_fail(GC_ERR_INTERNAL, "curl_easy_init failed");
    if (st != GC_OK) { gc_api_close(a); return st; }
    *out = a;
    return GC_OK;
}

void gc_api_close(gc_api *a) {
    if (!a) return;
    if (a->curl) curl_easy_cleanup(a->curl);
    curl_slist_free_all(a->headers);
    free(a->url);
    if (a->s.api_key) memset(a->s.api_key, 0, strlen(a->s.api_key));
    gc_api_settings_free(&a->s);
    free(a);
}

// ---------------------------------------------------------------- request body

static gc_status check_request(const gc_api_request *r) {
    if (!r) return gc_fail(GC_ERR_INVALID_ARG, "gc_api_chat: NULL request");
    if (r->n_msgs < 1 || !r->msgs) return gc_fail(GC_ERR_INVALID_ARG, "gc_api_chat: no messages");
    for (int i = 0; i < r->n_msgs; i++) {
        const gc_api_msg *m = &r->msgs[i];
        if (!m->role || !*m->role || !m->content)
            return gc_fail(GC_ERR_INVALID_ARG, "gc_api_chat: message %d has no role or content", i);
    }
    if (r->max_tokens <= 0) return gc_fail(GC_ERR_INVALID_ARG, "gc_api_chat: max_tokens must be > 0, got %d", r->max_tokens);
    if (!isfinite(r->temperature) || r->temperature < 0)
        return gc_fail(GC_ERR_INVALID_ARG, "gc_api_chat: temperature must be finite and >= 0, got %g", r->temperature);
    if (!(r->top_p > 0 && r->top_p <= 1))
        return gc_fail(GC_ERR_INVALID_ARG, "gc_api_chat: top_p must be in (0, 1], got %g", r->top_p);
    return GC_OK;
}

// cJSON builders return NULL on OOM; this collects the checks in one place.
static cJSON *build_body_json(const gc_api *a, const gc_api_request *r) {
    cJSON *root = cJSON_CreateObject();
    bool ok = root && cJSON_AddStringToObject(root, "model", a->s.model);
    cJSON *msgs = ok ? cJSON_AddArrayToObject(root, "messages") : NULL;
    ok = ok && msgs;
    for (int i = 0; ok && i < r->n_msgs; i++) {
        cJSON *m = cJSON_CreateObject();
        ok = m && cJSON_AddItemToArray(msgs, m);
        if (!ok) { cJSON_Delete(m); break; }
        ok = cJSON_AddStringToObject(m, "role", r->msgs[i].role) && cJSON_AddStringToObject(m, "content", r->msgs[i].content);
    }
    ok = ok && cJSON_AddNumberToObject(root, "max_tokens", r->max_tokens);
    ok = ok && cJSON_AddNumberToObject(root, "temperature", r->temperature);
    if (ok && r->top_p < 1) ok = cJSON_AddNumberToObject(root, "top_p", r->top_p) != NULL;
    if (ok && r->seed >= 0) {
        // Raw text keeps every int64 exact (a cJSON number is a double).
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)r->seed);
        ok = cJSON_AddRawToObject(root, "seed", num) != NULL;
    }
    ok = ok && cJSON_AddFalseToObject(root, "stream");
    if (!ok) { cJSON_Delete(root); return NULL; }
    return root;
}

static gc_status build_body(const gc_api *a, const gc_api_request *r, char **out) {
    cJSON *root = build_body_json(a, r);
    *out = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return *out ? GC_OK : gc_fail(GC_ERR_OOM, "gc_api_chat: out of memory building the request");
}

// ---------------------------------------------------------------- one exchange

typedef struct sink {
    gc_strbuf buf;
    bool too_big, oom;
} sink;

static size_t on_body(char *data, size_t size, size_t n, void *user) {
    sink *k = user;
    size_t bytes = size * n;
    if (bytes > MAX_BODY_BYTES - k->buf.len) { k->too_big = true; return 0; }
    if (!gc_strbuf_append(&k->buf, data, bytes)) { k->oom = true; return 0; }
    return bytes;
}

// What one HTTP exchange gave.
typedef struct exchange {
    CURLcode rc;
    long status;
    long retry_after_s;   // the reply's Retry-After in seconds (a date is turned into a delay); -1: none
    sink body;
} exchange;

static void set_options(gc_api *a, const char *body, exchange *x) {
    CURL *c = a->curl;
    curl_easy_reset(c);   // each request starts from known options; connections stay cached
    curl_easy_setopt(c, CURLOPT_URL, a->url);
#if LIBCURL_VERSION_NUM >= 0x075500   // 7.85 replaced the bitmask option (now deprecated)
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   // no SIGALRM for timeouts: thread-safe
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, a->headers);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ceil(a->s.timeout_s * 1000.0));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_BODY_BYTES);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "gcache");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x->body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, a->curl_err);
}

static void perform(gc_api *a, const char *body, exchange *x) {
    *x = (exchange){0};
    a->curl_err[0] = 0;
    set_options(a, body, x);
    x->rc = curl_easy_perform(a->curl);
    x->retry_after_s = -1;
    if (x->rc != CURLE_OK) return;
    curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &x->status);
    // curl parses both forms (delta-seconds and an HTTP date); 0 when absent
    // (then "retry now" and a past date also read 0: our backoff applies).
    curl_off_t ra = 0;
    if (curl_easy_getinfo(a->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
        x->retry_after_s = ra > 1000000 ? 1000000 : (long)ra;
}

// The wait before the next try: what a 429 / 503 asks with Retry-After, at
// most MAX_RETRY_DELAY_MS and at most one request timeout (a server asking
// for an hour gets retried sooner, and answers again); else our backoff.
static long retry_delay_ms(const gc_api *a, const exchange *x, int k) {
    if (x->rc == CURLE_OK && (x->status == 429 || x->status == 503) && x->retry_after_s >= 0) {
        double cap = fmin((double)MAX_RETRY_DELAY_MS, ceil(a->s.timeout_s * 1000.0));
        return (long)fmin((double)x->retry_after_s * 1000.0, cap);
    }
    return backoff_ms(a->retry_base_ms, k);
}

static bool retryable(const exchange *x) {
    if (x->body.too_big || x->body.oom) return false;
    if (x->rc != CURLE_OK) return x->rc != CURLE_FILESIZE_EXCEEDED;
    return x->status == 429 || x->status >= 500;
}

// The server's error.message, or the start of the body when there is none.
static void server_message(const sink *b, char *buf, size_t cap) {
    cJSON *root = NULL;
    buf[0] = 0;
    if (!b->buf.len) return;
    if (gc_json_parse(b->buf.s, b->buf.len, "error body", &root) == GC_OK) {
        const cJSON *err = gc_json_get(root, "error");
        const cJSON *msg = gc_json_get(err, "message");
        if (cJSON_IsString(msg) && msg->valuestring) {
            clip(msg->valuestring, strlen(msg->valuestring), buf, cap);
            cJSON_Delete(root);
            return;
        }
        if (cJSON_IsString(err) && err->valuestring) {   // some servers: {"error": "text"}
            clip(err->valuestring, strlen(err->valuestring), buf, cap);
            cJSON_Delete(root);
            return;
        }
        cJSON_Delete(root);
    }
    clip(b->buf.s, b->buf.len, buf, cap);
}

// The error for a failed last exchange.
static gc_status exchange_error(const gc_api *a, const exchange *x, int attempts) {
    if (x->body.too_big || x->rc == CURLE_FILESIZE_EXCEEDED)
        return gc_fail(GC_ERR_FORMAT, "POST %s: response body larger than %zu bytes", a->url, MAX_BODY_BYTES);
    if (x->body.oom) return gc_fail(GC_ERR_OOM, "POST %s: out of memory reading the response", a->url);
    if (x->rc != CURLE_OK) {
        // curl's generic text ("Timeout was reached") and its details, each once.
        const char *what = curl_easy_strerror(x->rc), *detail = a->curl_err;
        if (strstr(detail, what)) what = "";
        return gc_fail(GC_ERR_IO, "POST %s: %s%s%s (%d attempt%s)", a->url, what, what[0] && detail[0] ? ": " : "",
                       detail, attempts, attempts == 1 ? "" : "s");
    }
    char msg[MAX_SERVER_MSG + 1];
    server_message(&x->body, msg, sizeof msg);
    return gc_fail(GC_ERR_IO, "POST %s: HTTP %ld%s%s (%d attempt%s)", a->url, x->status, msg[0] ? ": " : "", msg,
                   attempts, attempts == 1 ? "" : "s");
}

gc_status gc_api_chat(gc_api *a, const gc_api_request *r, gc_api_reply *out) {
    if (!out) return gc_fail(GC_ERR_INVALID_ARG, "gc_api_chat: NULL reply");
    *out = (gc_api_reply){.prompt_tokens = -1, .completion_tokens = -1};
    if (!a) return gc_fail(GC_ERR_INVALID_ARG, "gc_api_chat: NULL client");
    GC_TRY(check_request(r));
    char *body = NULL;
    GC_TRY(build_body(a, r, &body));
    double t0 = now_s();
    exchange x = {0};
    int attempts = 0;
    for (;;) {
        free(x.body.buf.s);
        perform(a, body, &x);
        attempts++;
        bool ok = x.rc == CURLE_OK && x.status >= 200 && x.status < 300;
        if (ok || !retryable(&x) || attempts > a->s.max_retries) break;
        sleep_ms(retry_delay_ms(a, &x, attempts - 1));
    }
    cJSON_free(body);
    gc_status s;
    if (x.rc == CURLE_OK && x.status >= 200 && x.status < 300 && !x.body.too_big && !x.body.oom) {
        s = gc_api_parse_reply(x.body.buf.s ? x.body.buf.s : "", x.body.buf.len, out);
        if (s != GC_OK) s = gc_fail_wrap(s, "POST %s: HTTP %ld", a->url, x.status);
    } else {
        s = exchange_error(a, &x, attempts);
    }
    free(x.body.buf.s);
    // Time and attempts are reported on failure too (for logs).
    out->seconds = now_s() - t0;
    out->attempts = attempts;
    return s;
}

// ---------------------------------------------------------------- reply

// choices[0].message.content and finish_reason, copied into *out.
static gc_status parse_choice(const char *path, const cJSON *root, gc_api_reply *out) {
    const cJSON *choices;
    GC_TRY(gc_json_req_array(path, root, "choices", &choices));
    const cJSON *c0 = cJSON_GetArrayItem(choices, 0);
    if (!c0) return gc_fail(GC_ERR_FORMAT, "%s: field \"choices\": empty array", path);
    if (!cJSON_IsObject(c0))
        return gc_fail(GC_ERR_FORMAT, "%s: field \"choices[0]\": expected an object, got %s", path, gc_json_type_name(c0));
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c0, "message");
    if (!cJSON_IsObject(msg))
        return gc_fail(GC_ERR_FORMAT, "%s: field \"choices[0].message\": expected an object, got %s", path,
                       msg ? gc_json_type_name(msg) : "nothing");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsNull(content))
        return gc_fail(GC_ERR_FORMAT, "%s: field \"choices[0].message.content\": null (no text in the reply)", path);
    const char *text, *finish = "";
    GC_TRY(gc_json_to_string(path, "choices[0].message.content", content, &text));
    const cJSON *fr = gc_json_get(c0, "finish_reason");
    if (fr) GC_TRY(gc_json_to_string(path, "choices[0].finish_reason", fr, &finish));
    out->text = strdup(text);
    out->finish_reason = strdup(finish);
    if (!out->text || !out->finish_reason) return gc_fail(GC_ERR_OOM, "%s: out of memory", path);
    return GC_OK;
}

// usage.prompt_tokens / completion_tokens; absent ones stay -1.
static gc_status parse_usage(const char *path, const cJSON *root, gc_api_reply *out) {
    const cJSON *usage = gc_json_get(root, "usage");
    if (!usage) return GC_OK;
    if (!cJSON_IsObject(usage))
        return gc_fail(GC_ERR_FORMAT, "%s: field \"usage\": expected an object, got %s", path, gc_json_type_name(usage));
    const cJSON *pt = gc_json_get(usage, "prompt_tokens"), *ct = gc_json_get(usage, "completion_tokens");
    if (pt) GC_TRY(gc_json_to_int(path, "usage.prompt_tokens", pt, 0, GC_JSON_MAX_INT, &out->prompt_tokens));
    if (ct) GC_TRY(gc_json_to_int(path, "usage.completion_tokens", ct, 0, GC_JSON_MAX_INT, &out->completion_tokens));
    return GC_OK;
}

gc_status gc_api_parse_reply(const char *body, size_t len, gc_api_reply *out) {
    const char *path = "chat.completion reply";
    if (!out) return gc_fail(GC_ERR_INVALID_ARG, "gc_api_parse_reply: NULL output");
    *out = (gc_api_reply){.prompt_tokens = -1, .completion_tokens = -1};
    cJSON *root = NULL;
    GC_TRY(gc_json_parse(body, len, path, &root));
    gc_status s = GC_OK;
    if (!cJSON_IsObject(root)) {
        s = gc_fail(GC_ERR_FORMAT, "%s: expected a JSON object, got %s", path, gc_json_type_name(root));
    } else if (!cJSON_GetObjectItemCaseSensitive(root, "choices") && gc_json_get(root, "error")) {
        // A 200 that carries an error object (some proxies do this).
        const cJSON *m = gc_json_get(gc_json_get(root, "error"), "message");
        char msg[MAX_SERVER_MSG + 1] = "";
        if (cJSON_IsString(m) && m->valuestring) clip(m->valuestring, strlen(m->valuestring), msg, sizeof msg);
        s = gc_fail(GC_ERR_FORMAT, "%s: field \"choices\": missing; the server sent an error: %s", path,
                    msg[0] ? msg : "(no message)");
    } else {
        s = parse_choice(path, root, out);
        if (s == GC_OK) s = parse_usage(path, root, out);
    }
    cJSON_Delete(root);
    if (s != GC_OK) gc_api_reply_free(out);
    return s;
}

void gc_api_reply_free(gc_api_reply *r) {
    if (!r) return;
    free(r->text);
    free(r->finish_reason);
    *r = (gc_api_reply){.prompt_tokens = -1, .completion_tokens = -1};
}

double gc_api_cost(const gc_api_settings *s, const gc_api_reply *r) {
    if (!s || !r) return 0.0;
    // Unknown counts (-1) contribute nothing.
    double in = r->prompt_tokens > 0 ? (double)r->prompt_tokens : 0.0;
    double out = r->completion_tokens > 0 ? (double)r->completion_tokens : 0.0;
    return (in * s->price_in + out * s->price_out) / 1e6;
}
