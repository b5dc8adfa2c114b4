// Shared pieces of the server tests (test_server*.c): a server on loopback
// with the tiny chat model, HTTP over libcurl, local greedy generation to
// compare against, reply parsing.
#ifndef GC_TEST_SERVER_FIXTURE_H
#define GC_TEST_SERVER_FIXTURE_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include "core/json.h"
#include "gcache/chat.h"
#include "gcache/generate.h"
#include "gcache/kv.h"
#include "gcache/server.h"
#include "gcache/tokenizer.h"

// Each test file uses some of these helpers.
#define FX static __attribute__((unused))

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

FX size_t on_data(char *p, size_t sz, size_t n, void *u) {
    resp *r = u;
    char *b = realloc(r->body, r->len + sz * n + 1);
    if (!b) return 0;
    memcpy(b + r->len, p, sz * n);
    r->body = b;
    r->len += sz * n;
    r->body[r->len] = 0;
    return sz * n;
}

// One request with an extra header line (or NULL); body NULL for GET.
FX resp http_h(const fx *f, const char *method, const char *path, const char *body, size_t len, const char *header) {
    resp r = {0};
    char url[256];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (header) h = curl_slist_append(h, header);
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

FX resp http(const fx *f, const char *method, const char *path, const char *body, size_t len) {
    return http_h(f, method, path, body, len, NULL);
}

FX resp post(const fx *f, const char *body) { return http(f, "POST", "/v1/chat/completions", body, strlen(body)); }

FX cJSON *parse(const resp *r) {
    cJSON *o = NULL;
    assert_int_equal(gc_json_parse(r->body ? r->body : "", r->len, "reply", &o), GC_OK);
    return o;
}

// The error reply's message contains `needle`, and the status is `status`.
FX void expect_error(const fx *f, const char *body, long status, const char *needle) {
    resp r = post(f, body);
    assert_int_equal(r.status, status);
    cJSON *o = parse(&r);
    const cJSON *e = gc_json_get(o, "error"), *m = gc_json_get(e, "message");
    assert_true(cJSON_IsString(m));
    if (!strstr(m->valuestring, needle)) fail_msg("error \"%s\" lacks \"%s\"", m->valuestring, needle);
    cJSON_Delete(o);
    free(r.body);
}

FX int setup(void **st) {
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
    o.log = NULL;
    if (gc_server_start(f->m, f->e, &o, &f->s) != GC_OK) return -1;
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", gc_server_port(f->s));
    *st = f;
    return 0;
}

FX int teardown(void **st) {
    fx *f = *st;
    gc_server_stop(f->s);
    gc_engine_free(f->e);
    gc_model_free(f->m);
    free(f);
    return 0;
}

// What local generation (gc_generate) gives for the chat-formatted messages
// with `sampling` (NULL: greedy): the text (malloc'd), and the prompt length,
// reply length and finish reason.
typedef struct local {
    int64_t n_prompt, n_ids;
    gc_finish finish;
} local;

FX char *local_generate(const fx *f, const gc_chat_msg *msgs, size_t n, int max_tokens,
                        const gc_sampler_params *sampling, local *l) {
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
    if (sampling) gp.sampling = *sampling;
    else gp.sampling.temperature = 0;
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

FX char *local_greedy_ex(const fx *f, const gc_chat_msg *msgs, size_t n, int max_tokens, local *l) {
    return local_generate(f, msgs, n, max_tokens, NULL, l);
}

FX char *local_greedy(const fx *f, const gc_chat_msg *msgs, size_t n, int max_tokens, int64_t *n_prompt) {
    local l;
    char *out = local_greedy_ex(f, msgs, n, max_tokens, &l);
    *n_prompt = l.n_prompt;
    return out;
}

// The formatted prompt's token count for one user message.
FX int64_t prompt_tokens(const fx *f, const char *content) {
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

FX const char *finish_name(gc_finish f) { return f == GC_FINISH_LENGTH ? "length" : "stop"; }

// The first choice's content and finish_reason, and usage, of a 200 reply.
typedef struct reply {
    char *content, *finish;
    int64_t prompt, completion, total;
} reply;

FX reply expect_ok(const fx *f, const char *body) {
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

FX void reply_free(reply *r) {
    free(r->content);
    free(r->finish);
}

FX bool valid_utf8(const unsigned char *s, size_t n) {
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

// ---- Server-Sent Events

#define MAX_CHOICES 8

// A streamed reply put back together: per choice the concatenated content
// and the finish reason; the usage chunk (with include_usage).
typedef struct streamed {
    long status;
    char *content[MAX_CHOICES];
    char *finish[MAX_CHOICES];
    int roles;                  // chunks with delta.role
    int chunks;                 // chunk events
    bool done;                  // ended with data: [DONE]
    bool usage_seen;            // a chunk with empty choices and a usage object
    int64_t usage_prompt, usage_completion;
    int null_usage;             // chunks with "usage": null
    char *error;                // message of an error event
    char id[64];
} streamed;

FX void append(char **dst, const char *s) {
    const size_t a = *dst ? strlen(*dst) : 0, b = strlen(s);
    char *p = realloc(*dst, a + b + 1);
    assert_non_null(p);
    memcpy(p + a, s, b + 1);
    *dst = p;
}

// Checks the event stream's shape while reading it: every event is one
// "data: " line; chunks carry one id; the role chunk of a choice comes
// before its content; nothing follows [DONE].
FX streamed parse_stream(const resp *r) {
    streamed out = {.status = r->status};
    const char *p = r->body ? r->body : "";
    while (*p) {
        const char *end = strstr(p, "\n\n");
        if (!end) fail_msg("event without a blank line after it: %s", p);
        if (strncmp(p, "data: ", 6) != 0) fail_msg("event without \"data: \": %.*s", (int)(end - p), p);
        assert_false(out.done);
        const char *d = p + 6;
        const size_t dl = (size_t)(end - d);
        if (dl == 6 && memcmp(d, "[DONE]", 6) == 0) {
            out.done = true;
        } else {
            cJSON *o = NULL;
            assert_int_equal(gc_json_parse(d, dl, "event", &o), GC_OK);
            const cJSON *e = gc_json_get(o, "error");
            if (e) {
                append(&out.error, gc_json_get(e, "message")->valuestring);
                cJSON_Delete(o);
                p = end + 2;
                continue;
            }
            assert_string_equal(gc_json_get(o, "object")->valuestring, "chat.completion.chunk");
            const char *id = gc_json_get(o, "id")->valuestring;
            if (!out.id[0]) snprintf(out.id, sizeof out.id, "%s", id);
            assert_string_equal(id, out.id);
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "usage");
            if (cJSON_IsNull(u)) out.null_usage++;
            const cJSON *chs = gc_json_get(o, "choices");
            assert_true(cJSON_IsArray(chs));
            if (cJSON_GetArraySize(chs) == 0) {
                assert_true(cJSON_IsObject(u));
                out.usage_seen = true;
                out.usage_prompt = (int64_t)gc_json_get(u, "prompt_tokens")->valuedouble;
                out.usage_completion = (int64_t)gc_json_get(u, "completion_tokens")->valuedouble;
            }
            for (const cJSON *ch = chs->child; ch; ch = ch->next) {
                const int k = (int)gc_json_get(ch, "index")->valuedouble;
                assert_true(k >= 0 && k < MAX_CHOICES);
                const cJSON *delta = gc_json_get(ch, "delta"), *fin = gc_json_get(ch, "finish_reason");
                assert_true(cJSON_IsObject(delta));
                if (gc_json_get(delta, "role")) {
                    assert_string_equal(gc_json_get(delta, "role")->valuestring, "assistant");
                    assert_null(out.content[k]);
                    out.roles++;
                    append(&out.content[k], "");
                }
                const cJSON *c = gc_json_get(delta, "content");
                if (c) {
                    assert_non_null(out.content[k]);   // the role chunk came first
                    append(&out.content[k], c->valuestring);
                }
                if (cJSON_IsString(fin)) {
                    assert_null(out.finish[k]);
                    out.finish[k] = strdup(fin->valuestring);
                }
            }
            out.chunks++;
            cJSON_Delete(o);
        }
        p = end + 2;
    }
    return out;
}

FX void streamed_free(streamed *s) {
    for (int k = 0; k < MAX_CHOICES; k++) {
        free(s->content[k]);
        free(s->finish[k]);
    }
    free(s->error);
}

FX streamed post_stream(const fx *f, const char *body) {
    resp r = post(f, body);
    streamed s = parse_stream(&r);
    free(r.body);
    return s;
}

#endif
