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
#include <stdlib.h>
#include <string.h>
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

// What local greedy generation gives for the chat-formatted messages.
static char *local_greedy(const fx *f, const gc_chat_msg *msgs, size_t n, int max_tokens, int64_t *n_prompt) {
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
    *n_prompt = (int64_t)n_ids;
    gc_gen_result_free(&res);
    gc_kv_free(kv);
    free(ids);
    free(text);
    return out;
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
