// The OpenAI-compatible client (gc_api_*) against a mock server that runs
// inside this process (libmicrohttpd on 127.0.0.1, ephemeral port), plus the
// reply parser, the cost, and the settings loader (environment vs .env).
//
// The mock answers from a script (status, body, delay) — the last entry
// repeats — and records what it received, so tests check both directions.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "gcache/api.h"
#include "core/strbuf.h"

// ---------------------------------------------------------------- mock server

typedef struct mock_reply {
    int status;
    const char *body;
    size_t len;          // 0: strlen(body)
    int delay_ms;        // sleep before answering
    const char *retry_after;   // a Retry-After header, or NULL
} mock_reply;

typedef struct mock {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    mock_reply script[8];
    int n_script;
    int served;                     // requests answered
    char *body, *auth, *url, *method, *ctype;   // of the last request; auth NULL when absent
    char *owned;                    // a scripted body freed after the daemon stops
} mock;

static mock M = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char OK_BODY[] =
    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"test-model\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello there.\"},"
    "\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}";

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void mock_forget(void) {
    free(M.body); free(M.auth); free(M.url); free(M.method); free(M.ctype);
    M.body = M.auth = M.url = M.method = M.ctype = NULL;
}

static void mock_script(int n, const mock_reply *r) {
    pthread_mutex_lock(&M.mu);
    memcpy(M.script, r, (size_t)n * sizeof *r);
    M.n_script = n;
    M.served = 0;
    pthread_mutex_unlock(&M.mu);
}

static int mock_served(void) {
    pthread_mutex_lock(&M.mu);
    int n = M.served;
    pthread_mutex_unlock(&M.mu);
    return n;
}

// MHD calls this once with the headers, then per body chunk, then once more
// with *upload_size == 0: that last call answers.
static enum MHD_Result mock_handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                   const char *version, const char *upload, size_t *upload_size, void **req) {
    (void)cls; (void)version;
    gc_strbuf *b = *req;
    if (!b) {
        if (!(b = calloc(1, sizeof *b))) return MHD_NO;
        *req = b;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!gc_strbuf_append(b, upload, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&M.mu);
    mock_forget();
    M.body = strdup(b->s ? b->s : "");
    M.auth = dup_or_null(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
    M.ctype = dup_or_null(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"));
    M.url = strdup(url);
    M.method = strdup(method);
    mock_reply r = M.script[M.served < M.n_script ? M.served : M.n_script - 1];
    M.served++;
    pthread_mutex_unlock(&M.mu);
    if (r.delay_ms) usleep((useconds_t)r.delay_ms * 1000);
    size_t len = r.len ? r.len : strlen(r.body);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)r.body, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (r.retry_after) MHD_add_response_header(resp, "Retry-After", r.retry_after);
    enum MHD_Result q = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return q;
}

static void mock_completed(void *cls, struct MHD_Connection *conn, void **req, enum MHD_RequestTerminationCode why) {
    (void)cls; (void)conn; (void)why;
    gc_strbuf *b = *req;
    if (b) { free(b->s); free(b); }
    *req = NULL;
}

static int mock_start(void **st) {
    (void)st;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    M.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, mock_handle, NULL,
                           MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                           MHD_OPTION_NOTIFY_COMPLETED, mock_completed, NULL,
                           MHD_OPTION_END);
    if (!M.d) return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(M.d, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port) return -1;
    M.port = info->port;
    mock_script(1, (mock_reply[]){{200, OK_BODY, 0, 0, NULL}});
    return 0;
}

static int mock_stop(void **st) {
    (void)st;
    if (M.d) MHD_stop_daemon(M.d);
    M.d = NULL;
    mock_forget();
    // Freed only now: MHD may still be sending it when the client gives up.
    free(M.owned);
    M.owned = NULL;
    return 0;
}

// ---------------------------------------------------------------- helpers

static char g_url[64];

// Settings for the mock: key set, 5 s timeout, 3 retries.
static gc_api_settings mock_settings(void) {
    snprintf(g_url, sizeof g_url, "http://127.0.0.1:%d/v1", M.port);
    return (gc_api_settings){.base_url = g_url, .api_key = "sk-test", .model = "test-model",
                             .timeout_s = 5.0, .max_retries = 3};
}

static const gc_api_msg MSGS[] = {
    {"system", "You are terse."},
    {"user", "Say hi."},
    {"assistant", "Hi."},
    {"user", "Again, with \"quotes\" and\nnewlines."},
};

static gc_api_request base_request(void) {
    return (gc_api_request){.msgs = MSGS, .n_msgs = 4, .max_tokens = 64, .temperature = 0.7, .top_p = 1.0, .seed = 42};
}

// One chat with settings s and request r; returns the status.
static gc_status chat(const gc_api_settings *s, const gc_api_request *r, gc_api_reply *out) {
    gc_api *a = NULL;
    gc_status st = gc_api_open(s, &a);
    if (st != GC_OK) fail_msg("gc_api_open: %s", gc_last_error());
    st = gc_api_chat(a, r, out);
    gc_api_close(a);
    return st;
}

static void assert_error_has(const char *needle) {
    if (!strstr(gc_last_error(), needle)) fail_msg("error \"%s\" lacks \"%s\"", gc_last_error(), needle);
}

// The last request body as JSON (caller deletes).
static cJSON *received_json(void) {
    pthread_mutex_lock(&M.mu);
    cJSON *j = M.body ? cJSON_Parse(M.body) : NULL;
    pthread_mutex_unlock(&M.mu);
    assert_non_null(j);
    return j;
}

// ---------------------------------------------------------------- client tests

// The request carries model, the messages in order, the sampling fields and
// the key; the reply's text, finish_reason and usage come back.
static void test_request_and_reply(void **st) {
    (void)st;
    gc_api_settings s = mock_settings();
    gc_api_request r = base_request();
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_OK);
    assert_string_equal(rep.text, "Hello there.");
    assert_string_equal(rep.finish_reason, "stop");
    assert_int_equal(rep.prompt_tokens, 11);
    assert_int_equal(rep.completion_tokens, 7);
    assert_int_equal(rep.attempts, 1);
    assert_true(rep.seconds > 0 && rep.seconds < 60);  // measured, not a speed claim
    gc_api_reply_free(&rep);

    assert_string_equal(M.method, "POST");
    assert_string_equal(M.url, "/v1/chat/completions");
    assert_non_null(M.ctype);
    assert_string_equal(M.ctype, "application/json");
    assert_non_null(M.auth);
    assert_string_equal(M.auth, "Bearer sk-test");
    cJSON *j = received_json();
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "model")->valuestring, "test-model");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 4);
    for (int i = 0; i < 4; i++) {
        const cJSON *m = cJSON_GetArrayItem(msgs, i);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring, MSGS[i].role);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring, MSGS[i].content);
    }
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(j, "max_tokens")->valuedouble, 64);
    assert_true(fabs(cJSON_GetObjectItemCaseSensitive(j, "temperature")->valuedouble - 0.7) < 1e-12);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "top_p"));   // 1 = not sent
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(j, "seed")->valuedouble, 42);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "stream")));
    cJSON_Delete(j);
}

// top_p < 1 is sent, a negative seed is not, no key means no Authorization
// header, and a trailing '/' on the base URL does not double the slash.
static void test_optional_fields_and_no_key(void **st) {
    (void)st;
    gc_api_settings s = mock_settings();
    char url[80];
    snprintf(url, sizeof url, "%s/", s.base_url);
    s.base_url = url;
    s.api_key = NULL;
    gc_api_request r = base_request();
    r.top_p = 0.9;
    r.seed = -1;
    r.n_msgs = 2;
    r.temperature = 0;
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_OK);
    gc_api_reply_free(&rep);
    assert_null(M.auth);
    assert_string_equal(M.url, "/v1/chat/completions");
    cJSON *j = received_json();
    assert_true(fabs(cJSON_GetObjectItemCaseSensitive(j, "top_p")->valuedouble - 0.9) < 1e-12);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "seed"));
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "temperature")->valuedouble == 0.0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "messages")), 2);
    cJSON_Delete(j);
}

// Seeds beyond 2^53 go out digit for digit.
static void test_large_seed_exact(void **st) {
    (void)st;
    gc_api_settings s = mock_settings();
    gc_api_request r = base_request();
    r.seed = 9223372036854775807LL;
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_OK);
    gc_api_reply_free(&rep);
    assert_non_null(strstr(M.body, "\"seed\":9223372036854775807"));
}

// The easy handle is reused: several chats on one client.
static void test_client_reuse(void **st) {
    (void)st;
    gc_api_settings s = mock_settings();
    gc_api_request r = base_request();
    gc_api *a = NULL;
    assert_int_equal(gc_api_open(&s, &a), GC_OK);
    for (int i = 0; i < 3; i++) {
        gc_api_reply rep;
        assert_int_equal(gc_api_chat(a, &r, &rep), GC_OK);
        assert_string_equal(rep.text, "Hello there.");
        assert_int_equal(rep.attempts, 1);
        gc_api_reply_free(&rep);
    }
    gc_api_close(a);
    assert_int_equal(mock_served(), 3);
}

static const char ERR_500[] = "{\"error\":{\"message\":\"upstream overloaded\",\"type\":\"server_error\"}}";

static void test_retry_after_500(void **st) {
    (void)st;
    mock_script(2, (mock_reply[]){{500, ERR_500, 0, 0, NULL}, {200, OK_BODY, 0, 0, NULL}});
    gc_api_settings s = mock_settings();
    gc_api_request r = base_request();
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_OK);
    assert_int_equal(rep.attempts, 2);
    assert_string_equal(rep.text, "Hello there.");
    gc_api_reply_free(&rep);
    assert_int_equal(mock_served(), 2);
}

// 429 is retried; the waits grow (base 40 ms: 40 + 80 before the third try).
static void test_retry_429_with_backoff(void **st) {
    (void)st;
    static const char ERR_429[] = "{\"error\":{\"message\":\"rate limited\",\"type\":\"rate_limit\"}}";
    mock_script(3, (mock_reply[]){{429, ERR_429, 0, 0, NULL}, {429, ERR_429, 0, 0, NULL}, {200, OK_BODY, 0, 0, NULL}});
    setenv("GC_API_RETRY_BASE_MS", "40", 1);
    gc_api_settings s = mock_settings();
    gc_api_request r = base_request();
    gc_api_reply rep;
    gc_status status = chat(&s, &r, &rep);
    setenv("GC_API_RETRY_BASE_MS", "1", 1);
    assert_int_equal(status, GC_OK);
    assert_int_equal(rep.attempts, 3);
    assert_true(rep.seconds >= 0.119);
    gc_api_reply_free(&rep);
    assert_int_equal(mock_served(), 3);
}

// A 429 with Retry-After waits what it says (1 s here, against a 1 ms backoff).
static void test_retry_after_honoured(void **st) {
    (void)st;
    static const char ERR_429[] = "{\"error\":{\"message\":\"rate limited\"}}";
    mock_script(2, (mock_reply[]){{429, ERR_429, 0, 0, "1"}, {200, OK_BODY, 0, 0, NULL}});
    gc_api_settings s = mock_settings();
    gc_api_request r = base_request();
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_OK);
    assert_int_equal(rep.attempts, 2);
    assert_true(rep.seconds >= 0.95);
    gc_api_reply_free(&rep);

    // The HTTP-date form: three seconds from now (whole seconds: at least 2 s of wait).
    static char date[64];
    time_t t = time(NULL) + 3;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    mock_script(2, (mock_reply[]){{503, ERR_500, 0, 0, date}, {200, OK_BODY, 0, 0, NULL}});
    assert_int_equal(chat(&s, &r, &rep), GC_OK);
    assert_int_equal(rep.attempts, 2);
    assert_true(rep.seconds >= 1.5);
    gc_api_reply_free(&rep);
}

// A Retry-After of an hour is cut to one request timeout (1 s here); one on a
// 500 is not a 429/503 hint, and the (1 ms) backoff applies.
static void test_retry_after_bounded(void **st) {
    (void)st;
    mock_script(2, (mock_reply[]){{503, ERR_500, 0, 0, "3600"}, {200, OK_BODY, 0, 0, NULL}});
    gc_api_settings s = mock_settings();
    s.timeout_s = 1.0;
    gc_api_request r = base_request();
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_OK);
    assert_int_equal(rep.attempts, 2);
    assert_true(rep.seconds >= 0.95 && rep.seconds < 30);
    gc_api_reply_free(&rep);

    mock_script(2, (mock_reply[]){{500, ERR_500, 0, 0, "3600"}, {200, OK_BODY, 0, 0, NULL}});
    assert_int_equal(chat(&s, &r, &rep), GC_OK);
    assert_int_equal(rep.attempts, 2);
    assert_true(rep.seconds < 30);
    gc_api_reply_free(&rep);
}

// A 400 is the caller's fault: one request, and the server's words reported.
static void test_no_retry_on_400(void **st) {
    (void)st;
    static const char ERR_400[] =
        "{\"error\":{\"message\":\"The model `nope` does not exist\",\"type\":\"invalid_request_error\"}}";
    mock_script(1, (mock_reply[]){{400, ERR_400, 0, 0, NULL}});
    gc_api_settings s = mock_settings();
    gc_api_request r = base_request();
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_ERR_IO);
    assert_error_has("HTTP 400");
    assert_error_has("The model `nope` does not exist");
    assert_int_equal(rep.attempts, 1);
    assert_null(rep.text);
    gc_api_reply_free(&rep);
    assert_int_equal(mock_served(), 1);
}

// After max_retries the last status and message are reported.
static void test_retries_exhausted(void **st) {
    (void)st;
    mock_script(1, (mock_reply[]){{503, ERR_500, 0, 0, NULL}});
    gc_api_settings s = mock_settings();
    s.max_retries = 2;
    gc_api_request r = base_request();
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_ERR_IO);
    assert_error_has("HTTP 503");
    assert_error_has("upstream overloaded");
    assert_error_has("3 attempts");
    assert_int_equal(rep.attempts, 3);
    assert_int_equal(mock_served(), 3);
}

// A huge server message is cut; a non-JSON error body is quoted instead.
static void test_error_message_clipped(void **st) {
    (void)st;
    size_t n = 5000;
    char *body = malloc(n + 64);
    assert_non_null(body);
    M.owned = body;
    int k = snprintf(body, 64, "{\"error\":{\"message\":\"");
    memset(body + k, 'x', n);
    strcpy(body + k + n, "\"}}");
    mock_script(1, (mock_reply[]){{404, body, 0, 0, NULL}});
    gc_api_settings s = mock_settings();
    gc_api_request r = base_request();
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_ERR_IO);
    assert_error_has("HTTP 404: xxxx");
    assert_error_has("...");
    assert_true(strlen(gc_last_error()) < 600);

    mock_script(1, (mock_reply[]){{403, "<html>Forbidden</html>", 0, 0, NULL}});
    assert_int_equal(chat(&s, &r, &rep), GC_ERR_IO);
    assert_error_has("HTTP 403: <html>Forbidden</html>");
}

// Malformed 200 replies are errors naming the field, and are not retried.
static void test_malformed_reply_via_server(void **st) {
    (void)st;
    gc_api_settings s = mock_settings();
    gc_api_request r = base_request();
    gc_api_reply rep;
    mock_script(1, (mock_reply[]){{200, "this is not json", 0, 0, NULL}});
    assert_int_equal(chat(&s, &r, &rep), GC_ERR_FORMAT);
    assert_error_has("invalid JSON");
    assert_int_equal(mock_served(), 1);
    mock_script(1, (mock_reply[]){{200, "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null}}]}", 0, 0, NULL}});
    assert_int_equal(chat(&s, &r, &rep), GC_ERR_FORMAT);
    assert_error_has("choices[0].message.content");
    assert_null(rep.text);
}

// A server slower than the timeout: a transport error, reported well before
// the reply would come. The reply is 3 s late so that the upper bound can be
// wide (a busy machine delays the client's wake-up) and still prove the
// 0.2 s timeout, not the reply, ended the request.
static void test_timeout(void **st) {
    (void)st;
    mock_script(1, (mock_reply[]){{200, OK_BODY, 0, 3000, NULL}});
    gc_api_settings s = mock_settings();
    s.timeout_s = 0.2;
    s.max_retries = 0;
    gc_api_request r = base_request();
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_ERR_IO);
    assert_error_has("imeout");
    assert_int_equal(rep.attempts, 1);
    assert_true(rep.seconds >= 0.19 && rep.seconds < 2.5);
}

// Bodies past 16 MiB are refused (and not retried).
static void test_body_cap(void **st) {
    (void)st;
    size_t n = (size_t)17 << 20;
    char *big = M.owned = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    mock_script(1, (mock_reply[]){{200, big, n, 0, NULL}});
    gc_api_settings s = mock_settings();
    gc_api_request r = base_request();
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_ERR_FORMAT);
    assert_error_has("larger than");
    assert_int_equal(rep.attempts, 1);
}

// Nothing listening: transport errors are retried, then reported.
static void test_connection_refused(void **st) {
    (void)st;
    gc_api_settings s = mock_settings();
    MHD_stop_daemon(M.d);   // the port is now closed
    M.d = NULL;
    s.max_retries = 1;
    gc_api_request r = base_request();
    gc_api_reply rep;
    assert_int_equal(chat(&s, &r, &rep), GC_ERR_IO);
    assert_int_equal(rep.attempts, 2);
    assert_error_has(g_url);
    assert_error_has("2 attempts");
}

// Bad settings and requests fail before any request is made.
static void test_invalid_args(void **st) {
    (void)st;
    gc_api_settings s = mock_settings();
    gc_api *a = NULL;
    gc_api_settings bad = s;
    bad.model = NULL;
    assert_int_equal(gc_api_open(&bad, &a), GC_ERR_INVALID_ARG);
    bad = s;
    bad.timeout_s = NAN;
    assert_int_equal(gc_api_open(&bad, &a), GC_ERR_INVALID_ARG);
    bad = s;
    bad.api_key = "sk\r\nX-Evil: 1";
    assert_int_equal(gc_api_open(&bad, &a), GC_ERR_INVALID_ARG);
    setenv("GC_API_RETRY_BASE_MS", "soon", 1);
    assert_int_equal(gc_api_open(&s, &a), GC_ERR_INVALID_ARG);
    assert_error_has("GC_API_RETRY_BASE_MS");
    setenv("GC_API_RETRY_BASE_MS", "1", 1);
    assert_null(a);

    assert_int_equal(gc_api_open(&s, &a), GC_OK);
    gc_api_reply rep;
    gc_api_request r = base_request();
    r.max_tokens = 0;
    assert_int_equal(gc_api_chat(a, &r, &rep), GC_ERR_INVALID_ARG);
    r = base_request();
    r.top_p = 0;
    assert_int_equal(gc_api_chat(a, &r, &rep), GC_ERR_INVALID_ARG);
    r = base_request();
    r.temperature = -1;
    assert_int_equal(gc_api_chat(a, &r, &rep), GC_ERR_INVALID_ARG);
    r = base_request();
    r.n_msgs = 0;
    assert_int_equal(gc_api_chat(a, &r, &rep), GC_ERR_INVALID_ARG);
    gc_api_msg m = {"user", NULL};
    r.msgs = &m;
    r.n_msgs = 1;
    assert_int_equal(gc_api_chat(a, &r, &rep), GC_ERR_INVALID_ARG);
    gc_api_close(a);
    assert_int_equal(mock_served(), 0);
}

// ---------------------------------------------------------------- parser

typedef struct reply_case {
    const char *body;
    gc_status want;
    const char *needle;   // in the error message (or the text on success)
} reply_case;

static const reply_case REPLIES[] = {
    {"not json", GC_ERR_FORMAT, "invalid JSON"},
    {"", GC_ERR_FORMAT, "empty document"},
    {"[1,2]", GC_ERR_FORMAT, "expected a JSON object"},
    {"{}", GC_ERR_FORMAT, "\"choices\": missing"},
    {"{\"choices\":{}}", GC_ERR_FORMAT, "\"choices\": expected an array"},
    {"{\"choices\":[]}", GC_ERR_FORMAT, "\"choices\": empty array"},
    {"{\"choices\":[3]}", GC_ERR_FORMAT, "\"choices[0]\": expected an object"},
    {"{\"choices\":[{}]}", GC_ERR_FORMAT, "\"choices[0].message\": expected an object, got nothing"},
    {"{\"choices\":[{\"message\":{}}]}", GC_ERR_FORMAT, "\"choices[0].message.content\": missing"},
    {"{\"choices\":[{\"message\":{\"content\":null}}]}", GC_ERR_FORMAT, "\"choices[0].message.content\": null"},
    {"{\"choices\":[{\"message\":{\"content\":7}}]}", GC_ERR_FORMAT, "\"choices[0].message.content\": expected a string"},
    {"{\"choices\":[{\"message\":{\"content\":\"a\"},\"finish_reason\":1}]}", GC_ERR_FORMAT, "choices[0].finish_reason"},
    {"{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{\"prompt_tokens\":-1}}", GC_ERR_FORMAT,
     "\"usage.prompt_tokens\""},
    {"{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{\"completion_tokens\":1.5}}", GC_ERR_FORMAT,
     "\"usage.completion_tokens\""},
    {"{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":[]}", GC_ERR_FORMAT, "\"usage\": expected an object"},
    {"{\"error\":{\"message\":\"quota exceeded\"}}", GC_ERR_FORMAT, "quota exceeded"},
    {"{\"choices\":[{\"message\":{\"content\":\"\"}}]}", GC_OK, ""},
    {"{\"choices\":[{\"message\":{\"content\":\"caf\\u00e9\"},\"finish_reason\":null}],\"usage\":null}", GC_OK, "caf\xc3\xa9"},
};

static void test_parse_reply_table(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof REPLIES / sizeof REPLIES[0]; i++) {
        const reply_case *c = &REPLIES[i];
        gc_api_reply rep;
        gc_status s = gc_api_parse_reply(c->body, strlen(c->body), &rep);
        if (s != c->want) fail_msg("case %zu (%s): %s: %s", i, c->body, gc_status_name(s), gc_last_error());
        if (s == GC_OK) {
            assert_string_equal(rep.text, c->needle);
            assert_string_equal(rep.finish_reason, "");
            assert_int_equal(rep.prompt_tokens, -1);
            assert_int_equal(rep.completion_tokens, -1);
        } else {
            assert_null(rep.text);
            if (!strstr(gc_last_error(), c->needle))
                fail_msg("case %zu: \"%s\" lacks \"%s\"", i, gc_last_error(), c->needle);
        }
        gc_api_reply_free(&rep);
    }
}

// Usage fields are independent; a partial usage keeps -1 for the other.
static void test_parse_reply_fields(void **st) {
    (void)st;
    const char *b = "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":\"length\"},"
                    "{\"message\":{\"content\":\"second\"}}],\"usage\":{\"completion_tokens\":0}}";
    gc_api_reply rep;
    assert_int_equal(gc_api_parse_reply(b, strlen(b), &rep), GC_OK);
    assert_string_equal(rep.text, "x");
    assert_string_equal(rep.finish_reason, "length");
    assert_int_equal(rep.prompt_tokens, -1);
    assert_int_equal(rep.completion_tokens, 0);
    assert_int_equal(rep.attempts, 0);
    gc_api_reply_free(&rep);
    assert_null(rep.text);
}

static void test_cost(void **st) {
    (void)st;
    gc_api_settings s = {.price_in = 2.5, .price_out = 10.0};
    gc_api_reply r = {.prompt_tokens = 1000, .completion_tokens = 500};
    assert_true(fabs(gc_api_cost(&s, &r) - 0.0075) < 1e-15);
    r.prompt_tokens = r.completion_tokens = -1;
    assert_true(gc_api_cost(&s, &r) == 0.0);
    r.completion_tokens = 2000000;   // prompt unknown: only the known part counts
    assert_true(fabs(gc_api_cost(&s, &r) - 20.0) < 1e-12);
    s.price_in = s.price_out = 0;
    r.prompt_tokens = 1000;
    assert_true(gc_api_cost(&s, &r) == 0.0);
}

// ---------------------------------------------------------------- settings

static const char *const ALL_VARS[] = {"API_BASE_URL", "BASE_URL", "OPENAI_BASE_URL", "API_KEY", "OPENAI_API_KEY",
                                       "API_MODEL", "MODEL_NAME", "API_TIMEOUT", "API_MAX_RETRIES", "API_PRICE_IN",
                                       "API_PRICE_OUT", NULL};

static char g_dir[64];
static char g_env[96];

static int settings_setup(void **st) {
    (void)st;
    for (int i = 0; ALL_VARS[i]; i++) unsetenv(ALL_VARS[i]);
    strcpy(g_dir, "/tmp/gc_api_test_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_env, sizeof g_env, "%s/.env", g_dir);
    return 0;
}

static int settings_teardown(void **st) {
    (void)st;
    for (int i = 0; ALL_VARS[i]; i++) unsetenv(ALL_VARS[i]);
    unlink(g_env);
    rmdir(g_dir);
    return 0;
}

static void write_env(const char *text) {
    FILE *f = fopen(g_env, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

// The environment hides the file per variable; the file fills the gaps;
// unset numbers take their defaults; the trailing '/' goes.
static void test_settings_env_over_file(void **st) {
    (void)st;
    write_env("# test\nAPI_BASE_URL=http://from-file:8000/v1/\nAPI_MODEL=file-model\nAPI_KEY='sk-file'\n");
    setenv("API_MODEL", "env-model", 1);
    gc_api_settings s;
    assert_int_equal(gc_api_settings_load(g_env, &s), GC_OK);
    assert_string_equal(s.model, "env-model");
    assert_string_equal(s.base_url, "http://from-file:8000/v1");
    assert_string_equal(s.api_key, "sk-file");
    assert_true(s.timeout_s == 120.0);
    assert_int_equal(s.max_retries, 3);
    assert_true(s.price_in == 0 && s.price_out == 0);
    gc_api_settings_free(&s);
    assert_null(s.model);

    setenv("API_KEY", "sk-env", 1);
    setenv("API_BASE_URL", "https://env.example/v1//", 1);
    assert_int_equal(gc_api_settings_load(g_env, &s), GC_OK);
    assert_string_equal(s.api_key, "sk-env");
    assert_string_equal(s.base_url, "https://env.example/v1");
    gc_api_settings_free(&s);
}

// Aliases: the first name with a value wins; an empty value is unset.
static void test_settings_aliases(void **st) {
    (void)st;
    write_env("OPENAI_BASE_URL=http://openai-alias/v1\nMODEL_NAME=alias-model\nOPENAI_API_KEY=sk-alias\nAPI_KEY=\n");
    setenv("BASE_URL", "http://base-alias/v1", 1);
    gc_api_settings s;
    assert_int_equal(gc_api_settings_load(g_env, &s), GC_OK);
    assert_string_equal(s.base_url, "http://base-alias/v1");
    assert_string_equal(s.model, "alias-model");
    assert_string_equal(s.api_key, "sk-alias");
    gc_api_settings_free(&s);
    // No key anywhere: NULL (local servers).
    write_env("API_BASE_URL=http://localhost:8080/v1\nAPI_MODEL=m\n");
    unsetenv("BASE_URL");
    assert_int_equal(gc_api_settings_load(g_env, &s), GC_OK);
    assert_null(s.api_key);
    gc_api_settings_free(&s);
}

static void test_settings_numbers(void **st) {
    (void)st;
    write_env("API_BASE_URL=http://h/v1\nAPI_MODEL=m\nAPI_TIMEOUT=30.5\nAPI_MAX_RETRIES=0\n"
              "API_PRICE_IN=0.15\nexport API_PRICE_OUT=\"0.6\"\n");
    gc_api_settings s;
    assert_int_equal(gc_api_settings_load(g_env, &s), GC_OK);
    assert_true(s.timeout_s == 30.5);
    assert_int_equal(s.max_retries, 0);
    assert_true(s.price_in == 0.15 && s.price_out == 0.6);
    gc_api_settings_free(&s);
}

static void test_settings_missing(void **st) {
    (void)st;
    gc_api_settings s;
    write_env("API_MODEL=m\n");
    assert_int_equal(gc_api_settings_load(g_env, &s), GC_ERR_INVALID_ARG);
    assert_error_has("API_BASE_URL");
    assert_error_has(g_env);
    assert_null(s.model);
    write_env("API_BASE_URL=http://h/v1\n");
    assert_int_equal(gc_api_settings_load(g_env, &s), GC_ERR_INVALID_ARG);
    assert_error_has("API_MODEL");
    assert_null(s.base_url);
}

typedef struct bad_var { const char *name, *value; } bad_var;

static void test_settings_bad_values(void **st) {
    (void)st;
    static const bad_var BAD[] = {
        {"API_TIMEOUT", "abc"}, {"API_TIMEOUT", "-1"}, {"API_TIMEOUT", "0"}, {"API_TIMEOUT", "nan"},
        {"API_TIMEOUT", "inf"}, {"API_TIMEOUT", "1e400"}, {"API_TIMEOUT", "10s"}, {"API_MAX_RETRIES", "1.5"},
        {"API_MAX_RETRIES", "-1"}, {"API_MAX_RETRIES", "x"}, {"API_MAX_RETRIES", "99999"},
        {"API_PRICE_IN", "-0.5"}, {"API_PRICE_OUT", "NaN"}, {"API_PRICE_OUT", "1,5"},
        {"API_BASE_URL", "ftp://h/v1"}, {"API_BASE_URL", "api.openai.com/v1"}, {"API_BASE_URL", "http://"},
    };
    write_env("API_BASE_URL=http://h/v1\nAPI_MODEL=m\n");
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        setenv(BAD[i].name, BAD[i].value, 1);
        gc_api_settings s;
        gc_status r = gc_api_settings_load(g_env, &s);
        unsetenv(BAD[i].name);
        if (r != GC_ERR_INVALID_ARG) fail_msg("%s=%s accepted", BAD[i].name, BAD[i].value);
        assert_error_has(BAD[i].name);
        assert_error_has(BAD[i].value);
        assert_error_has("the environment");
    }
    // The same from the file names the file.
    write_env("API_BASE_URL=http://h/v1\nAPI_MODEL=m\nAPI_TIMEOUT=soon\n");
    gc_api_settings s;
    assert_int_equal(gc_api_settings_load(g_env, &s), GC_ERR_INVALID_ARG);
    assert_error_has("API_TIMEOUT (from ");
    assert_error_has(g_env);
}

// A named file that does not exist is an error even when the environment
// holds every setting (a typo must not fall back to the shell's endpoint);
// a malformed one names file and line.
static void test_settings_files(void **st) {
    (void)st;
    gc_api_settings s;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope.env", g_dir);
    setenv("API_BASE_URL", "http://env/v1", 1);
    setenv("API_MODEL", "env-model", 1);
    assert_int_equal(gc_api_settings_load(missing, &s), GC_ERR_IO);
    assert_error_has(missing);
    assert_error_has("No such file");
    assert_null(s.model);

    write_env("API_MODEL=m\nthis is not an assignment\n");
    assert_int_equal(gc_api_settings_load(g_env, &s), GC_ERR_FORMAT);
    char where[128];
    snprintf(where, sizeof where, "%s:2:", g_env);
    assert_error_has(where);

    // A directory is not a readable .env.
    assert_int_equal(gc_api_settings_load(g_dir, &s), GC_ERR_IO);
    assert_error_has(g_dir);
}

// NULL reads ./.env, which may be absent.
static void test_settings_default_path(void **st) {
    (void)st;
    char cwd0[4096];
    assert_non_null(getcwd(cwd0, sizeof cwd0));
    assert_int_equal(chdir(g_dir), 0);
    setenv("API_BASE_URL", "http://env/v1", 1);
    setenv("API_MODEL", "env-model", 1);
    gc_api_settings s0;
    gc_status r0 = gc_api_settings_load(NULL, &s0);
    assert_int_equal(chdir(cwd0), 0);
    unsetenv("API_BASE_URL");
    unsetenv("API_MODEL");
    assert_int_equal(r0, GC_OK);
    assert_string_equal(s0.model, "env-model");
    gc_api_settings_free(&s0);

    write_env("API_BASE_URL=http://cwd/v1\nAPI_MODEL=cwd-model\n");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(g_dir), 0);
    gc_api_settings s;
    gc_status r = gc_api_settings_load(NULL, &s);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(r, GC_OK);
    assert_string_equal(s.model, "cwd-model");
    gc_api_settings_free(&s);
}

// Settings loaded from a file drive a real exchange.
static void test_settings_to_chat(void **st) {
    (void)st;
    assert_int_equal(settings_setup(NULL), 0);
    char text[256];
    snprintf(text, sizeof text, "API_BASE_URL=http://127.0.0.1:%d/v1/\nAPI_MODEL=from-env-file\nAPI_KEY=sk-dotenv\n", M.port);
    write_env(text);
    gc_api_settings s;
    assert_int_equal(gc_api_settings_load(g_env, &s), GC_OK);
    gc_api_request r = base_request();
    gc_api_reply rep;
    gc_status st2 = chat(&s, &r, &rep);
    settings_teardown(NULL);
    assert_int_equal(st2, GC_OK);
    gc_api_reply_free(&rep);
    gc_api_settings_free(&s);
    assert_string_equal(M.auth, "Bearer sk-dotenv");
    assert_non_null(strstr(M.body, "\"model\":\"from-env-file\""));
}

int main(void) {
    // Fast retries, and loopback requests must not go through a proxy.
    setenv("GC_API_RETRY_BASE_MS", "1", 1);
    static const char *const proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) unsetenv(proxies[i]);
#define MOCK(t) cmocka_unit_test_setup_teardown(t, mock_start, mock_stop)
#define SETTINGS(t) cmocka_unit_test_setup_teardown(t, settings_setup, settings_teardown)
    const struct CMUnitTest tests[] = {
        MOCK(test_request_and_reply),
        MOCK(test_optional_fields_and_no_key),
        MOCK(test_large_seed_exact),
        MOCK(test_client_reuse),
        MOCK(test_retry_after_500),
        MOCK(test_retry_429_with_backoff),
        MOCK(test_retry_after_honoured),
        MOCK(test_retry_after_bounded),
        MOCK(test_no_retry_on_400),
        MOCK(test_retries_exhausted),
        MOCK(test_error_message_clipped),
        MOCK(test_malformed_reply_via_server),
        MOCK(test_timeout),
        MOCK(test_body_cap),
        MOCK(test_connection_refused),
        MOCK(test_invalid_args),
        cmocka_unit_test(test_parse_reply_table),
        cmocka_unit_test(test_parse_reply_fields),
        cmocka_unit_test(test_cost),
        SETTINGS(test_settings_env_over_file),
        SETTINGS(test_settings_aliases),
        SETTINGS(test_settings_numbers),
        SETTINGS(test_settings_missing),
        SETTINGS(test_settings_bad_values),
        SETTINGS(test_settings_files),
        SETTINGS(test_settings_default_path),
        MOCK(test_settings_to_chat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
