// gcache serve's server (gcache/server.h) on loopback with the tiny chat
// model: a greedy completion equals local generation on the same
// chat-formatted prompt, usage counts match, the other endpoints answer, bad
// requests get the right status and an error naming the field, and the
// server keeps answering after them. Also gcache's own client against it,
// and the request parser's handling of every field it reads.
#include "server_fixture.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include "api/server_internal.h"
#include "gcache/api.h"

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
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream_options\":{}}", 400, "stream_options");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logprobs\":true}", 400, "logprobs");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\"}]}", 400, "tools");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_object\"}}", 400,
                 "response_format");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"presence_penalty\":0.5}", 400, "presence_penalty");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":9}", 400, "\"n\"");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":7}", 400, "stop");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":3,\"max_completion_tokens\":4}", 400,
                 "max_completion_tokens");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":65}", 400,
                 "max_completion_tokens");
    expect_error(f, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}", 400,
                 "image_url");
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
    o.log = NULL;
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
        if (r.status == 200 && r.len >= 6 && memcmp(r.body, "data: ", 6) == 0) {   // "stream" became true
            streamed sr = parse_stream(&r);
            assert_true(sr.done && sr.roles == 1 && sr.content[0]);
            streamed_free(&sr);
            free(r.body);
            ok++;
            continue;
        }
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

// ---- the request parser (srv_parse_chat)

static const srv_limits LIM = {.default_max_tokens = 16, .max_tokens_limit = 64, .max_n = 4};

// Parses json with LIM; the status and the parse result; *root keeps the tree
// the request points into (free after srv_request_free).
static gc_status parse_req(const char *json, srv_request *r, unsigned *status, cJSON **root) {
    assert_int_equal(gc_json_parse(json, strlen(json), "request", root), GC_OK);
    return srv_parse_chat(&LIM, *root, r, status);
}

static void test_parse_defaults(void **st) {
    (void)st;
    srv_request r;
    unsigned status;
    cJSON *root;
    assert_int_equal(parse_req("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r, &status, &root), GC_OK);
    assert_int_equal(status, 200);
    assert_int_equal(r.n_msgs, 1);
    assert_string_equal(r.msgs[0].role, "user");
    assert_string_equal(r.msgs[0].content, "hi");
    assert_null(r.model);
    assert_int_equal(r.max_tokens, 16);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.n_stop, 0);
    assert_null(r.stop[0]);
    assert_false(r.stream || r.include_usage || r.seed_given);
    assert_true(r.sampling.temperature == 1.0f && r.sampling.top_p == 1.0f && r.sampling.top_k == 0);
    srv_request_free(&r);
    cJSON_Delete(root);
}

// Every field the server reads, with harmless extras that must be accepted.
static void test_parse_fields(void **st) {
    (void)st;
    srv_request r;
    unsigned status;
    cJSON *root;
    const char *json =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"one\"},{\"type\":\"text\",\"text\":\"two\"}]},"
        "{\"role\":\"assistant\",\"content\":\"ok\",\"tool_calls\":[]},{\"role\":\"user\",\"content\":\"last\"}],"
        "\"max_completion_tokens\":7,\"stop\":\"\\n\",\"n\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"seed\":-5,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":4,"
        "\"user\":\"u\",\"logprobs\":false,\"tool_choice\":\"none\",\"response_format\":{\"type\":\"text\"},"
        "\"presence_penalty\":0,\"frequency_penalty\":0,\"logit_bias\":{},\"tools\":[],\"metadata\":{\"a\":\"b\"}}";
    assert_int_equal(parse_req(json, &r, &status, &root), GC_OK);
    assert_string_equal(r.model, "m");
    assert_int_equal(r.n_msgs, 4);
    assert_string_equal(r.msgs[0].role, "system");   // "developer" is OpenAI's newer name
    assert_string_equal(r.msgs[1].content, "one\ntwo");
    assert_string_equal(srv_last_user(&r), "last");
    assert_int_equal(r.max_tokens, 7);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "\n");
    assert_null(r.stop[1]);
    assert_int_equal(r.n, 3);
    assert_true(r.stream && r.include_usage && r.seed_given);
    assert_true(r.sampling.seed == (uint64_t)-5);
    assert_true(r.sampling.temperature == 0.5f && r.sampling.top_p == 0.9f && r.sampling.top_k == 4);
    srv_request_free(&r);
    cJSON_Delete(root);
    // A list of stop strings; max_tokens and max_completion_tokens may both be given when equal.
    assert_int_equal(parse_req("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"a\",\"bc\",\"d\",\"e\"],"
                               "\"max_tokens\":9,\"max_completion_tokens\":9,\"stream\":false}",
                               &r, &status, &root),
                     GC_OK);
    assert_int_equal(r.n_stop, 4);
    assert_string_equal(r.stop[1], "bc");
    assert_null(r.stop[4]);
    assert_int_equal(r.max_tokens, 9);
    assert_false(r.stream);
    srv_request_free(&r);
    cJSON_Delete(root);
    assert_int_equal(parse_req("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}", &r, &status, &root),
                     GC_OK);
    assert_int_equal(r.max_tokens, 5);
    srv_request_free(&r);
    cJSON_Delete(root);
}

// Refused requests: 400, and the message names the field.
static void test_parse_errors(void **st) {
    (void)st;
    static const struct {
        const char *fields, *needle;
    } cases[] = {
        {"\"n\":5", "\"n\""},
        {"\"n\":0", "\"n\""},
        {"\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop"},
        {"\"stop\":[\"a\",3]", "stop[1]"},
        {"\"stop\":\"\"", "stop"},
        {"\"stop\":{}", "stop"},
        {"\"stop\":\"a\xff\"", "UTF-8"},
        {"\"stream_options\":{\"include_usage\":true}", "stream_options"},
        {"\"stream\":true,\"stream_options\":{\"include_usage\":1}", "include_usage"},
        {"\"stream\":\"yes\"", "stream"},
        {"\"max_completion_tokens\":0", "max_completion_tokens"},
        {"\"max_completion_tokens\":65", "max_completion_tokens"},
        {"\"max_tokens\":3,\"max_completion_tokens\":4", "max_completion_tokens"},
        {"\"logprobs\":true", "logprobs"},
        {"\"top_logprobs\":2", "top_logprobs"},
        {"\"tools\":[{\"type\":\"function\"}]", "tools"},
        {"\"tool_choice\":\"required\"", "tool_choice"},
        {"\"functions\":[{}]", "functions"},
        {"\"response_format\":{\"type\":\"json_object\"}", "response_format"},
        {"\"logit_bias\":{\"5\":10}", "logit_bias"},
        {"\"presence_penalty\":0.5", "presence_penalty"},
        {"\"frequency_penalty\":-1", "frequency_penalty"},
        {"\"min_p\":0.1", "min_p"},
        {"\"modalities\":[\"text\",\"audio\"]", "modalities"},
        {"\"audio\":{}", "audio"},
        {"\"reasoning_effort\":\"low\"", "reasoning_effort"},
        {"\"temperature\":-0.1", "temperature"},
        {"\"top_p\":1.5", "top_p"},
        {"\"seed\":1.5", "seed"},
        {"\"model\":3", "model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],%s}", cases[i].fields);
        srv_request r;
        unsigned status;
        cJSON *root;
        if (parse_req(json, &r, &status, &root) == GC_OK) fail_msg("accepted: %s", json);
        assert_int_equal(status, 400);
        if (!strstr(gc_last_error(), cases[i].needle)) fail_msg("%s: \"%s\" lacks %s", json, gc_last_error(), cases[i].needle);
        srv_request_free(&r);
        cJSON_Delete(root);
    }
    static const struct {
        const char *json, *needle;
    } msgs[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}", "messages[0].content[0]"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", "text"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[7]}]}", "messages[0].content[0]"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\","
         "\"tool_calls\":[{\"id\":\"x\"}]}]}", "messages[1]"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":null}]}", "content"},
    };
    for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
        srv_request r;
        unsigned status;
        cJSON *root;
        if (parse_req(msgs[i].json, &r, &status, &root) == GC_OK) fail_msg("accepted: %s", msgs[i].json);
        assert_int_equal(status, 400);
        if (!strstr(gc_last_error(), msgs[i].needle)) fail_msg("%s: \"%s\" lacks %s", msgs[i].json, gc_last_error(), msgs[i].needle);
        srv_request_free(&r);
        cJSON_Delete(root);
    }
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
        cmocka_unit_test(test_parse_defaults),
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
