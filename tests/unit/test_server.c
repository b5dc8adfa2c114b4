// gcache serve's server (gcache/server.h) on loopback with the tiny chat
// model: a greedy completion equals local generation on the same
// chat-formatted prompt, usage counts match, the other endpoints answer, bad
// requests get the right status and an error naming the field, and the
// server keeps answering after them. Also gcache's own client against it.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/json.h"
#include "gcache/api.h"
#include "gcache/chat.h"
#include "gcache/generate.h"
#include "gcache/kv.h"
#include "gcache/server.h"
#include "gcache/tokenizer.h"

#define MODEL "tests/data/tiny/chat"

typedef struct fx {
    gc_model *m;
    gc_engine *e;
    gc_server *s;
    char base[64];
} fx;

typedef struct resp {
    long status;
    char *body;
    size_t len;
} resp;

static size_t on_data(char *p, size_t sz, size_t n, void *u) {
    resp *r = u;
    char *b = realloc(r->body, r->len + sz * n + 1);
    if (!b) return 0;
    memcpy(b + r->len, p, sz * n);
    r->body = b;
    r->len += sz * n;
    r->body[r->len] = 0;
    return sz * n;
}

// One request; body NULL for GET. Returns the status and the reply body.
static resp http(const fx *f, const char *method, const char *path, const char *body, size_t len) {
    resp r = {0};
    char url[256];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static resp post(const fx *f, const char *body) { return http(f, "POST", "/v1/chat/completions", body, strlen(body)); }

static cJSON *parse(const resp *r) {
    cJSON *o = NULL;
    assert_int_equal(gc_json_parse(r->body ? r->body : "", r->len, "reply", &o), GC_OK);
    return o;
}

// The error reply's message contains `needle`, and the status is `status`.
static void expect_error(const fx *f, const char *body, long status, const char *needle) {
    resp r = post(f, body);
    assert_int_equal(r.status, status);
    cJSON *o = parse(&r);
    const cJSON *e = gc_json_get(o, "error"), *m = gc_json_get(e, "message");
    assert_true(cJSON_IsString(m));
    if (!strstr(m->valuestring, needle)) fail_msg("error \"%s\" lacks \"%s\"", m->valuestring, needle);
    cJSON_Delete(o);
    free(r.body);
}

static int setup(void **st) {
    fx *f = calloc(1, sizeof *f);
    if (!f || gc_model_load(MODEL, &f->m) != GC_OK) return -1;
    gc_engine_params ep = gc_engine_default_params();
    ep.n_threads = 1;
    if (gc_engine_new(f->m, &ep, &f->e) != GC_OK) return -1;
    gc_server_opts o = gc_server_default_opts();
    o.port = 0;
    o.model_name = "tiny";
    o.max_tokens_limit = 64;
    o.max_body_bytes = 4096;
    if (gc_server_start(f->m, f->e, &o, &f->s) != GC_OK) return -1;
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", gc_server_port(f->s));
    *st = f;
    return 0;
}

static int teardown(void **st) {
    fx *f = *st;
    gc_server_stop(f->s);
    gc_engine_free(f->e);
    gc_model_free(f->m);
    free(f);
    return 0;
}

// What local greedy generation gives for the chat-formatted messages: the
// text (malloc'd), and the prompt length, reply length and finish reason.
typedef struct local {
    int64_t n_prompt, n_ids;
    gc_finish finish;
} local;

static char *local_greedy_ex(const fx *f, const gc_chat_msg *msgs, size_t n, int max_tokens, local *l) {
    const gc_tokenizer *tok = gc_model_tokenizer(f->m);
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    gc_kv *kv = NULL;
    gc_chat_opts co = {.add_generation_prompt = true, .enable_thinking = true};
    assert_int_equal(gc_chat_format(gc_chat_detect(gc_tokenizer_chat_template(tok)), msgs, n, &co, &text, NULL), GC_OK);
    assert_int_equal(gc_tokenizer_encode(tok, text, strlen(text), true, &ids, &n_ids), GC_OK);
    assert_int_equal(gc_kv_new(f->e, &kv), GC_OK);
    gc_gen_params gp = gc_gen_default_params();
    gp.max_tokens = max_tokens;
    gp.sampling.temperature = 0;
    gc_gen_result res = {0};
    assert_int_equal(gc_generate(f->e, kv, tok, ids, (int64_t)n_ids, &gp, NULL, NULL, &res), GC_OK);
    char *out = strdup(res.text ? res.text : "");
    *l = (local){.n_prompt = (int64_t)n_ids, .n_ids = res.n_ids, .finish = res.finish};
    gc_gen_result_free(&res);
    gc_kv_free(kv);
    free(ids);
    free(text);
    return out;
}

static char *local_greedy(const fx *f, const gc_chat_msg *msgs, size_t n, int max_tokens, int64_t *n_prompt) {
    local l;
    char *out = local_greedy_ex(f, msgs, n, max_tokens, &l);
    *n_prompt = l.n_prompt;
    return out;
}

// The formatted prompt's token count for one user message.
static int64_t prompt_tokens(const fx *f, const char *content) {
    const gc_tokenizer *tok = gc_model_tokenizer(f->m);
    const gc_chat_msg msg = {"user", content};
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    assert_int_equal(gc_chat_format(gc_chat_detect(gc_tokenizer_chat_template(tok)), &msg, 1, NULL, &text, NULL), GC_OK);
    assert_int_equal(gc_tokenizer_encode(tok, text, strlen(text), true, &ids, &n_ids), GC_OK);
    free(ids);
    free(text);
    return (int64_t)n_ids;
}

static const char *finish_name(gc_finish f) { return f == GC_FINISH_LENGTH ? "length" : "stop"; }

// The first choice's content and finish_reason, and usage, of a 200 reply.
typedef struct reply {
    char *content, *finish;
    int64_t prompt, completion, total;
} reply;

static reply expect_ok(const fx *f, const char *body) {
    resp r = post(f, body);
    if (r.status != 200) fail_msg("status %ld: %s", r.status, r.body ? r.body : "");
    cJSON *o = parse(&r);
    const cJSON *ch = cJSON_GetArrayItem(gc_json_get(o, "choices"), 0), *u = gc_json_get(o, "usage");
    const cJSON *content = gc_json_get(gc_json_get(ch, "message"), "content"), *fin = gc_json_get(ch, "finish_reason");
    assert_true(cJSON_IsString(content) && cJSON_IsString(fin));
    reply out = {.content = strdup(content->valuestring), .finish = strdup(fin->valuestring)};
    int64_t *dst[] = {&out.prompt, &out.completion, &out.total};
    const char *keys[] = {"prompt_tokens", "completion_tokens", "total_tokens"};
    for (int i = 0; i < 3; i++) assert_int_equal(gc_json_req_int("usage", u, keys[i], 0, GC_JSON_MAX_INT, dst[i]), GC_OK);
    assert_int_equal(out.total, out.prompt + out.completion);
    cJSON_Delete(o);
    free(r.body);
    return out;
}

static void reply_free(reply *r) {
    free(r->content);
    free(r->finish);
}

static void test_completion_matches_local(void **st) {
    fx *f = *st;
    const gc_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "What is two plus two?"}};
    int64_t n_prompt = 0;
    char *want = local_greedy(f, msgs, 2, 7, &n_prompt);
    resp r = post(f, "{\"model\":\"x\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                     "{\"role\":\"user\",\"content\":\"What is two plus two?\"}],\"max_tokens\":7,\"temperature\":0}");
    assert_int_equal(r.status, 200);
    cJSON *o = parse(&r);
    assert_string_equal(gc_json_get(o, "object")->valuestring, "chat.completion");
    assert_string_equal(gc_json_get(o, "model")->valuestring, "tiny");
    const cJSON *ch = cJSON_GetArrayItem(gc_json_get(o, "choices"), 0);
    const cJSON *msg = gc_json_get(ch, "message");
    assert_string_equal(gc_json_get(msg, "role")->valuestring, "assistant");
    assert_string_equal(gc_json_get(msg, "content")->valuestring, want);
    const cJSON *u = gc_json_get(o, "usage");
    assert_int_equal((int64_t)gc_json_get(u, "prompt_tokens")->valuedouble, n_prompt);
    const int64_t done = (int64_t)gc_json_get(u, "completion_tokens")->valuedouble;
    assert_true(done >= 1 && done <= 7);
    assert_string_equal(gc_json_get(ch, "finish_reason")->valuestring, done == 7 ? "length" : "stop");
    cJSON_Delete(o);
    free(r.body);
    // A different conversation gives a different prompt length: the messages are read.
    resp r2 = post(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"What is two plus two?\"}],\"max_tokens\":1}");
    cJSON *o2 = parse(&r2);
    assert_true((int64_t)gc_json_get(gc_json_get(o2, "usage"), "prompt_tokens")->valuedouble < n_prompt);
    cJSON_Delete(o2);
    free(r2.body);
    free(want);
}

static bool valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xF0 && c < 0xF5 ? 4 : 0;
        if (!k || i + k > n) return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return false;
        i += k;
    }
    return true;
}

static void test_other_endpoints(void **st) {
    fx *f = *st;
    resp r = http(f, "GET", "/v1/models", NULL, 0);
    assert_int_equal(r.status, 200);
    cJSON *o = parse(&r);
    const cJSON *m0 = cJSON_GetArrayItem(gc_json_get(o, "data"), 0);
    assert_string_equal(gc_json_get(m0, "id")->valuestring, "tiny");
    cJSON_Delete(o);
    free(r.body);
    r = http(f, "GET", "/health", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"ok\""));
    free(r.body);
    r = http(f, "GET", "/v1/nothing", NULL, 0);
    assert_int_equal(r.status, 404);
    free(r.body);
    // The path is quoted in the message: bytes that are not UTF-8 must not
    // make the reply invalid JSON text.
    r = http(f, "GET", "/v1/%ff%c3%fe%e2%82", NULL, 0);
    assert_int_equal(r.status, 404);
    assert_true(valid_utf8((const unsigned char *)r.body, r.len));
    cJSON_Delete(parse(&r));
    free(r.body);
    r = http(f, "GET", "/v1/chat/completions", NULL, 0);
    assert_int_equal(r.status, 405);
    free(r.body);
}

static void test_bad_requests(void **st) {
    fx *f = *st;
    expect_error(f, "{\"messages\": [", 400, "line 1");
    expect_error(f, "[1,2]", 400, "JSON object");
    expect_error(f, "{}", 400, "messages");
    expect_error(f, "{\"messages\":[]}", 400, "empty");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "content");
    expect_error(f, "{\"messages\":[{\"role\":\"user\"}]}", 400, "content");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}", 400, "stream");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":65}", 400, "max_tokens");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":-1}", 400, "temperature");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_p\":0}", 400, "top_p");
    size_t big = 8192;
    char *b = malloc(big + 1);
    memset(b, ' ', big);
    memcpy(b, "{\"messages\":[{\"role\":\"user\",\"content\":\"", 39);
    b[big] = 0;
    resp r = http(f, "POST", "/v1/chat/completions", b, big);
    assert_int_equal(r.status, 413);
    free(r.body);
    free(b);
    // Still serving.
    r = post(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2,\"temperature\":0}");
    assert_int_equal(r.status, 200);
    free(r.body);
}

// finish_reason and the reply follow local generation for several
// max_tokens; max_tokens 1 is cut short ("length").
static void test_finish_reason(void **st) {
    fx *f = *st;
    const gc_chat_msg msgs[] = {{"user", "hi"}};
    for (int mt = 1; mt <= 6; mt++) {
        local l;
        char *want = local_greedy_ex(f, msgs, 1, mt, &l);
        char body[160];
        snprintf(body, sizeof body,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":%d,\"temperature\":0}", mt);
        reply r = expect_ok(f, body);
        assert_string_equal(r.content, want);
        assert_string_equal(r.finish, finish_name(l.finish));
        assert_int_equal(r.completion, l.n_ids);
        assert_int_equal(r.prompt, l.n_prompt);
        if (mt == 1) {
            assert_int_equal(l.finish, GC_FINISH_LENGTH);   // the tiny model's first reply token is not EOS
            assert_string_equal(r.finish, "length");
            assert_int_equal(r.completion, 1);
        }
        reply_free(&r);
        free(want);
    }
}

// Sampling with a seed is reproducible; max_tokens is honoured when sampling too.
static void test_sampling_seed(void **st) {
    fx *f = *st;
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":8,"
                       "\"temperature\":0.9,\"top_p\":0.95,\"top_k\":40,\"seed\":-12345}";
    reply a = expect_ok(f, body), b = expect_ok(f, body);
    assert_string_equal(a.content, b.content);
    assert_true(a.completion <= 8);
    reply_free(&a);
    reply_free(&b);
}

// A user message of `words` distinct words, as a request body (malloc'd).
static char *long_request(int words, int max_tokens, char **content) {
    size_t cap = (size_t)words * 12 + 256;
    char *c = malloc(cap), *b = malloc(cap + 128);
    assert_true(c && b);
    size_t n = 0;
    for (int i = 0; i < words; i++) n += (size_t)snprintf(c + n, cap - n, "w%d ", i);
    snprintf(b, cap + 128, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],\"max_tokens\":%d,\"temperature\":0}", c,
             max_tokens);
    *content = c;
    return b;
}

// Prompts at or past the model's context are the request's fault (400); a
// reply that would run past it stops there with "length".
static void test_context_limit(void **st) {
    fx *f = *st;
    gc_model_info mi;
    gc_model_get_info(f->m, &mi);
    const int64_t ctx = mi.max_position;
    fx g = *f;
    gc_server_opts o = gc_server_default_opts();
    o.port = 0;
    o.max_tokens_limit = (int)ctx * 2;
    assert_int_equal(gc_server_start(f->m, f->e, &o, &g.s), GC_OK);
    snprintf(g.base, sizeof g.base, "http://127.0.0.1:%d", gc_server_port(g.s));
    // The largest word count whose prompt still fits, by bisection.
    int lo = 1, hi = (int)ctx;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        char *c, *b = long_request(mid, 1, &c);
        const int64_t n = prompt_tokens(f, c);
        free(b);
        free(c);
        if (n < ctx) lo = mid;
        else hi = mid - 1;
    }
    char *c, *b = long_request(lo, (int)ctx, &c);
    const int64_t n = prompt_tokens(f, c);
    assert_true(n < ctx && n > ctx - 16);
    reply r = expect_ok(&g, b);
    assert_int_equal(r.prompt, n);
    assert_true(r.completion <= ctx - n);
    if (strcmp(r.finish, "length") == 0) assert_int_equal(r.total, ctx);
    reply_free(&r);
    free(b);
    free(c);
    b = long_request(lo + 8, 4, &c);
    assert_true(prompt_tokens(f, c) >= ctx);
    expect_error(&g, b, 400, "context");
    free(b);
    free(c);
    gc_server_stop(g.s);
}

static uint64_t rng_next(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

// Mutated requests (truncated, bytes flipped / inserted, values swapped for
// other types): every reply is 200 or 400, valid UTF-8 JSON with choices or
// an error message.
static void test_mutated_requests(void **st) {
    fx *f = *st;
    static const char *seeds[] = {
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
        "\"caf\\u00e9 \xc3\xa9\"}],\"max_tokens\":3,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":5,\"seed\":7,\"stream\":false}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}",
    };
    static const char *values[] = {"null", "true", "-1", "1e400", "\"x\"", "[]", "{}", "[{}]", "0.5", "\"\\ud800\"",
                                   "9007199254740993", "\xff\xfe"};
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char buf[1024];
    int ok = 0, bad = 0;
    for (int it = 0; it < 300; it++) {
        const char *seed = seeds[it % 2];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        switch (rng_next(&x) % 4) {
        case 0: n = rng_next(&x) % n; break;   // truncated
        case 1: buf[rng_next(&x) % n] = (char)(rng_next(&x) & 0xFF); break;
        case 2: {   // a byte inserted
            size_t at = rng_next(&x) % n;
            memmove(buf + at + 1, buf + at, n - at);
            buf[at] = (char)(rng_next(&x) & 0xFF);
            n++;
            break;
        }
        default: {   // the value after some ':' replaced
            size_t at = rng_next(&x) % n;
            while (at < n && buf[at] != ':') at++;
            if (at == n) break;
            size_t end = ++at;
            int depth = 0;
            while (end < n && (depth > 0 || (buf[end] != ',' && buf[end] != '}' && buf[end] != ']'))) {
                depth += buf[end] == '[' || buf[end] == '{';
                depth -= buf[end] == ']' || buf[end] == '}';
                end++;
            }
            const char *v = values[rng_next(&x) % (sizeof values / sizeof *values)];
            size_t vl = strlen(v);
            memmove(buf + at + vl, buf + end, n - end);
            memcpy(buf + at, v, vl);
            n = at + vl + (n - end);
        }
        }
        resp r = http(f, "POST", "/v1/chat/completions", buf, n);
        if (r.status != 200 && r.status != 400) fail_msg("status %ld for %.*s", r.status, (int)n, buf);
        assert_true(valid_utf8((const unsigned char *)r.body, r.len));
        cJSON *o = parse(&r);
        if (r.status == 200) {
            assert_non_null(gc_json_get(o, "choices"));
            ok++;
        } else {
            assert_true(cJSON_IsString(gc_json_get(gc_json_get(o, "error"), "message")));
            bad++;
        }
        cJSON_Delete(o);
        free(r.body);
    }
    assert_true(ok > 0 && bad > 0);
}

// Writes `text` on a fresh connection, reads what comes back (up to 10 s),
// closes; returns the bytes read.
static size_t raw_exchange(const fx *f, const char *text, bool read_reply) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gc_server_port(f->s))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t got = 0;
    if (text) assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
    if (read_reply) {
        char b[4096];
        ssize_t k;
        while ((k = recv(fd, b, sizeof b, 0)) > 0) got += (size_t)k;
    }
    close(fd);
    return got;
}

// Broken HTTP: garbage, bodies cut off by a closed connection, idle
// connections, a chunked upload. The server keeps answering.
static void test_broken_connections(void **st) {
    fx *f = *st;
    raw_exchange(f, NULL, false);
    raw_exchange(f, "\x01\x02 GARBAGE\r\n\r\n", true);
    raw_exchange(f, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mess", false);
    raw_exchange(f, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{", false);
    raw_exchange(f, "GET /health HTTP/1.1\r\nHost: x\r\n", false);
    const size_t n = raw_exchange(f,
                                  "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                  "Connection: close\r\n\r\n"
                                  "10\r\n{\"messages\":[{\"r\r\n"
                                  "2c\r\nole\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1}\r\n0\r\n\r\n",
                                  true);
    assert_true(n > 0);
    const gc_chat_msg msgs[] = {{"user", "hi"}};
    int64_t np;
    char *want = local_greedy(f, msgs, 1, 2, &np);
    reply r = expect_ok(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2,\"temperature\":0}");
    assert_string_equal(r.content, want);
    reply_free(&r);
    free(want);
}

typedef struct worker {
    const fx *f;
    int ok;
    char *content[3];
} worker;

static void *work(void *u) {
    worker *w = u;
    for (int i = 0; i < 3; i++) {
        resp r = {0};
        char url[128];
        snprintf(url, sizeof url, "%s/v1/chat/completions", w->f->base);
        const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"What is two plus two?\"}],"
                           "\"max_tokens\":5,\"temperature\":0}";
        CURL *c = curl_easy_init();
        if (!c) continue;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
        if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        curl_easy_cleanup(c);
        cJSON *o = NULL;
        if (r.status == 200 && gc_json_parse(r.body, r.len, "reply", &o) == GC_OK) {
            const cJSON *m = gc_json_get(gc_json_get(cJSON_GetArrayItem(gc_json_get(o, "choices"), 0), "message"), "content");
            if (cJSON_IsString(m)) {
                w->content[i] = strdup(m->valuestring);
                w->ok++;
            }
        }
        cJSON_Delete(o);
        free(r.body);
    }
    return NULL;
}

// Clients at once: each gets the same reply as local generation.
static void test_concurrent_clients(void **st) {
    fx *f = *st;
    const gc_chat_msg msgs[] = {{"user", "What is two plus two?"}};
    int64_t np;
    char *want = local_greedy(f, msgs, 1, 5, &np);
    enum { N = 4 };
    worker w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){.f = f};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(w[i].ok, 3);
        for (int k = 0; k < 3; k++) {
            assert_string_equal(w[i].content[k], want);
            free(w[i].content[k]);
        }
    }
    free(want);
}

// gcache's own client against the server: settings, request, usage.
static void test_own_client(void **st) {
    fx *f = *st;
    char url[96];
    snprintf(url, sizeof url, "%s/v1", f->base);
    gc_api_settings s = {.base_url = url, .model = "tiny", .timeout_s = 60, .max_retries = 0, .price_in = 1e6, .price_out = 0};
    gc_api *a = NULL;
    assert_int_equal(gc_api_open(&s, &a), GC_OK);
    const gc_api_msg msgs[] = {{"user", "What is two plus two?"}};
    gc_api_request rq = {.msgs = msgs, .n_msgs = 1, .max_tokens = 3, .temperature = 0, .top_p = 1, .seed = -1};
    gc_api_reply rep = {0};
    assert_int_equal(gc_api_chat(a, &rq, &rep), GC_OK);
    const gc_chat_msg cm[] = {{"user", "What is two plus two?"}};
    int64_t n_prompt = 0;
    char *want = local_greedy(f, cm, 1, 3, &n_prompt);
    assert_string_equal(rep.text, want);
    assert_int_equal(rep.prompt_tokens, n_prompt);
    assert_true(gc_api_cost(&s, &rep) == (double)n_prompt);   // price_in 1e6 per 1M: one unit per prompt token
    free(want);
    gc_api_reply_free(&rep);
    gc_api_close(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completion_matches_local),
        cmocka_unit_test(test_other_endpoints),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_own_client),
        cmocka_unit_test(test_finish_reason),
        cmocka_unit_test(test_sampling_seed),
        cmocka_unit_test(test_context_limit),
        cmocka_unit_test(test_mutated_requests),
        cmocka_unit_test(test_broken_connections),
        cmocka_unit_test(test_concurrent_clients),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
