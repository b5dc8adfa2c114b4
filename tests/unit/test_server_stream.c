// gcache serve's OpenAI features with the tiny chat model: Server-Sent
// Events that reassemble to the plain reply, stop strings (also across
// stream pieces), n choices, fresh seeds, the API key, the loading and
// draining states, the per-request log line, and a model whose logits are
// NaN (a clear 500, and gc_generate fails too).
#include "server_fixture.h"
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

// The first choice's content of a 200 reply (malloc'd), and its finish reason.
static char *content_of(const fx *f, const char *body, char *finish, size_t flen) {
    resp r = post(f, body);
    if (r.status != 200) fail_msg("status %ld: %s", r.status, r.body ? r.body : "");
    cJSON *o = parse(&r);
    const cJSON *ch = cJSON_GetArrayItem(gc_json_get(o, "choices"), 0);
    char *c = strdup(gc_json_get(gc_json_get(ch, "message"), "content")->valuestring);
    if (finish) snprintf(finish, flen, "%s", gc_json_get(ch, "finish_reason")->valuestring);
    cJSON_Delete(o);
    free(r.body);
    return c;
}

// A request body for one user message "hi" plus extra fields (JSON text
// without braces).
static char *body_with(const char *extra) {
    char *b = malloc(strlen(extra) + 96);
    assert_non_null(b);
    sprintf(b, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]%s%s}", *extra ? "," : "", extra);
    return b;
}

// Streaming at temperature 0 gives the text of the plain reply, piece by
// piece: the role chunk first, one finish chunk, [DONE] last, and with
// include_usage a last chunk with empty choices and the same usage.
static void test_stream_matches_plain(void **st) {
    fx *f = *st;
    for (int mt = 1; mt <= 24; mt += 23) {
        char extra[128];
        snprintf(extra, sizeof extra, "\"max_tokens\":%d,\"temperature\":0", mt);
        char *b = body_with(extra);
        reply want = expect_ok(f, b);
        free(b);
        snprintf(extra, sizeof extra, "\"max_tokens\":%d,\"temperature\":0,\"stream\":true", mt);
        b = body_with(extra);
        streamed s = post_stream(f, b);
        free(b);
        assert_int_equal(s.status, 200);
        assert_true(s.done);
        assert_int_equal(s.roles, 1);
        assert_string_equal(s.content[0], want.content);
        assert_string_equal(s.finish[0], want.finish);
        assert_false(s.usage_seen);
        assert_int_equal(s.null_usage, 0);
        assert_true(strncmp(s.id, "chatcmpl-", 9) == 0);
        streamed_free(&s);
        snprintf(extra, sizeof extra,
                 "\"max_tokens\":%d,\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}", mt);
        b = body_with(extra);
        s = post_stream(f, b);
        free(b);
        assert_true(s.done && s.usage_seen);
        assert_string_equal(s.content[0], want.content);
        assert_int_equal(s.usage_prompt, want.prompt);
        assert_int_equal(s.usage_completion, want.completion);
        assert_int_equal(s.null_usage, s.chunks - 1);   // every other chunk says "usage": null
        streamed_free(&s);
        reply_free(&want);
    }
}

// The body with `stop` set to [never, cut] (cut JSON-escaped by cJSON).
static char *stop_body(const char *cut, bool stream) {
    cJSON *o = cJSON_CreateObject(), *msgs = cJSON_CreateArray(), *m = cJSON_CreateObject(), *stop = cJSON_CreateArray();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", "hi");
    cJSON_AddItemToArray(msgs, m);
    cJSON_AddItemToObject(o, "messages", msgs);
    cJSON_AddNumberToObject(o, "max_tokens", 40);
    cJSON_AddNumberToObject(o, "temperature", 0);
    cJSON_AddItemToArray(stop, cJSON_CreateString("\x01never"));
    cJSON_AddItemToArray(stop, cJSON_CreateString(cut));
    cJSON_AddItemToObject(o, "stop", stop);
    if (stream) cJSON_AddTrueToObject(o, "stream");
    char *b = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return b;
}

// A stop string taken from the middle of the greedy reply cuts the reply
// before its first occurrence, with finish_reason "stop"; streamed, no
// piece of it (not even a prefix that later turned out to be the stop
// string) is sent.
static void test_stop_cuts(void **st) {
    fx *f = *st;
    const gc_chat_msg msgs[] = {{"user", "hi"}};
    local l;
    char *full = local_greedy_ex(f, msgs, 1, 40, &l);
    const size_t n = strlen(full);
    if (n < 8) fail_msg("the tiny model's greedy reply is too short to cut: \"%s\"", full);
    // Stop strings of 1 to 4 bytes from the middle (on UTF-8 boundaries),
    // so that some span two tokens and the stream must hold back a prefix.
    int tried = 0;
    for (size_t at = n / 3; at + 4 <= n && tried < 6; at += 3) {
        if (((unsigned char)full[at] & 0xC0) == 0x80) continue;
        for (size_t len = 1; len <= 4 && tried < 6; len += 3) {
            if (at + len < n && ((unsigned char)full[at + len] & 0xC0) == 0x80) continue;
            char cut[8];
            memcpy(cut, full + at, len);
            cut[len] = 0;
            const size_t first = (size_t)(strstr(full, cut) - full);
            char *b = stop_body(cut, false);
            char fin[16];
            char *got = content_of(f, b, fin, sizeof fin);
            free(b);
            if (strlen(got) != first || strncmp(got, full, first) != 0)
                fail_msg("stop \"%s\": got \"%s\", want the first %zu bytes of \"%s\"", cut, got, first, full);
            assert_string_equal(fin, "stop");
            b = stop_body(cut, true);
            streamed s = post_stream(f, b);
            free(b);
            assert_true(s.done);
            assert_string_equal(s.content[0], got);
            assert_string_equal(s.finish[0], "stop");
            streamed_free(&s);
            free(got);
            tried++;
        }
    }
    assert_true(tried >= 2);
    // A stop string that never occurs changes nothing.
    char *b = stop_body("\x02\x03", false);
    char fin[16];
    char *got = content_of(f, b, fin, sizeof fin);
    assert_string_equal(got, full);
    free(got);
    free(b);
    free(full);
}

// n choices: distinct draws (choice 0 equals the n = 1 reply with the same
// seed), usage over all choices; streamed, each choice's pieces reassemble
// to its plain text.
static void test_n_choices(void **st) {
    fx *f = *st;
    const char *extra = "\"max_tokens\":10,\"temperature\":1.0,\"seed\":42";
    char *b1 = body_with(extra);
    reply one = expect_ok(f, b1);
    free(b1);
    char e3[160];
    snprintf(e3, sizeof e3, "%s,\"n\":3", extra);
    char *b3 = body_with(e3);
    resp r = post(f, b3);
    assert_int_equal(r.status, 200);
    cJSON *o = parse(&r);
    const cJSON *chs = gc_json_get(o, "choices");
    assert_int_equal(cJSON_GetArraySize(chs), 3);
    char *texts[3];
    for (int k = 0; k < 3; k++) {
        const cJSON *ch = cJSON_GetArrayItem(chs, k);
        assert_int_equal((int)gc_json_get(ch, "index")->valuedouble, k);
        texts[k] = strdup(gc_json_get(gc_json_get(ch, "message"), "content")->valuestring);
    }
    assert_string_equal(texts[0], one.content);
    assert_true(strcmp(texts[0], texts[1]) != 0 || strcmp(texts[1], texts[2]) != 0);
    const cJSON *u = gc_json_get(o, "usage");
    assert_int_equal((int64_t)gc_json_get(u, "prompt_tokens")->valuedouble, one.prompt);
    const int64_t comp = (int64_t)gc_json_get(u, "completion_tokens")->valuedouble;
    assert_true(comp >= 3 && comp <= 30 && comp >= one.completion);
    cJSON_Delete(o);
    free(r.body);
    free(b3);
    snprintf(e3, sizeof e3, "%s,\"n\":3,\"stream\":true", extra);
    b3 = body_with(e3);
    streamed s = post_stream(f, b3);
    free(b3);
    assert_true(s.done);
    assert_int_equal(s.roles, 3);
    for (int k = 0; k < 3; k++) {
        assert_string_equal(s.content[k], texts[k]);
        assert_non_null(s.finish[k]);
        free(texts[k]);
    }
    streamed_free(&s);
    reply_free(&one);
}

// Without a seed every sampled request draws a fresh one; with one, the
// reply repeats.
static void test_fresh_seeds(void **st) {
    fx *f = *st;
    char *b = body_with("\"max_tokens\":12,\"temperature\":1.0");
    char *a = content_of(f, b, NULL, 0), *c = content_of(f, b, NULL, 0), *d = content_of(f, b, NULL, 0);
    assert_true(strcmp(a, c) != 0 || strcmp(c, d) != 0);
    free(a);
    free(c);
    free(d);
    free(b);
}

// A server of our own on the fixture's model with changed options.
static gc_server *start_with(const fx *f, gc_server_opts o, fx *g) {
    o.port = 0;
    *g = *f;
    assert_int_equal(gc_server_start(f->m, f->e, &o, &g->s), GC_OK);
    snprintf(g->base, sizeof g->base, "http://127.0.0.1:%d", gc_server_port(g->s));
    return g->s;
}

static void test_api_key(void **st) {
    fx *f = *st, g;
    gc_server_opts o = gc_server_default_opts();
    o.api_key = "sekret-key";
    o.log = NULL;
    start_with(f, o, &g);
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}";
    const char *bad[] = {NULL, "Authorization: Bearer wrong", "Authorization: Bearer sekret-ke",
                         "Authorization: Bearer sekret-key2", "Authorization: sekret-key"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        resp r = http_h(&g, "POST", "/v1/chat/completions", body, strlen(body), bad[i]);
        assert_int_equal(r.status, 401);
        cJSON *o2 = parse(&r);
        const cJSON *e = gc_json_get(o2, "error");
        assert_string_equal(gc_json_get(e, "code")->valuestring, "invalid_api_key");
        assert_true(cJSON_IsString(gc_json_get(e, "message")));
        assert_null(strstr(r.body, "sekret"));   // the key is never echoed
        cJSON_Delete(o2);
        free(r.body);
    }
    resp r = http_h(&g, "GET", "/v1/models", NULL, 0, NULL);
    assert_int_equal(r.status, 401);
    free(r.body);
    r = http_h(&g, "POST", "/v1/chat/completions", body, strlen(body), "Authorization: Bearer sekret-key");
    assert_int_equal(r.status, 200);
    free(r.body);
    r = http_h(&g, "GET", "/health", NULL, 0, NULL);   // health needs no key
    assert_int_equal(r.status, 200);
    free(r.body);
    gc_server_stop(g.s);
}

// Before the model is attached: /health 503 "loading", chat 503 with
// Retry-After; after: ready.
static void test_loading_then_ready(void **st) {
    fx *f = *st, g = *f;
    gc_server_opts o = gc_server_default_opts();
    o.port = 0;
    o.log = NULL;
    assert_int_equal(gc_server_open(&o, &g.s), GC_OK);
    snprintf(g.base, sizeof g.base, "http://127.0.0.1:%d", gc_server_port(g.s));
    resp r = http(&g, "GET", "/health", NULL, 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"loading\""));
    free(r.body);
    r = post(&g, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}");
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "loading"));
    free(r.body);
    assert_int_equal(gc_server_attach(g.s, f->m, f->e), GC_OK);
    r = http(&g, "GET", "/health", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"ok\""));
    free(r.body);
    r = post(&g, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}");
    assert_int_equal(r.status, 200);
    free(r.body);
    gc_server_stop(g.s);
}

// Draining: new requests 503, /health "draining", nothing in flight after.
static void test_drain_refuses_new(void **st) {
    fx *f = *st, g;
    gc_server_opts o = gc_server_default_opts();
    o.log = NULL;
    start_with(f, o, &g);
    gc_server_drain(g.s);
    resp r = post(&g, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}");
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "shutting down"));
    free(r.body);
    r = http(&g, "GET", "/health", NULL, 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"draining\""));
    free(r.body);
    assert_int_equal(gc_server_in_flight(g.s), 0);
    gc_server_stop(g.s);
}

// A queue limit of 0 refuses only requests that would wait: with the batch
// free, requests one after another are served (a full queue is tested with a
// request in flight in tests/cli/serve_openai.py).
static void test_queue_limit_zero(void **st) {
    fx *f = *st, g;
    gc_server_opts o = gc_server_default_opts();
    o.log = NULL;
    o.max_batch = 1;
    o.queue_limit = 0;
    start_with(f, o, &g);
    for (int i = 0; i < 3; i++) {
        resp r = post(&g, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}");
        assert_int_equal(r.status, 200);
        free(r.body);
    }
    // n choices above the batch size still run (alone).
    resp r = post(&g, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2,\"n\":3}");
    assert_int_equal(r.status, 200);
    free(r.body);
    gc_server_stop(g.s);
}

// The log line of a request: its id, status, token counts, n, seed, times
// and finish reasons; with n > 1 every choice ran in the same steps.
static void test_log_line_and_stats(void **st) {
    fx *f = *st, g;
    FILE *log = tmpfile();
    assert_non_null(log);
    gc_server_opts o = gc_server_default_opts();
    o.log = log;
    start_with(f, o, &g);
    resp r = post(&g, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":3,\"n\":4,\"seed\":77,"
                      "\"temperature\":0.7}");
    assert_int_equal(r.status, 200);
    cJSON *o2 = parse(&r);
    char id[64];
    snprintf(id, sizeof id, "%s", gc_json_get(o2, "id")->valuestring);
    const int64_t comp = (int64_t)gc_json_get(gc_json_get(o2, "usage"), "completion_tokens")->valuedouble;
    cJSON_Delete(o2);
    free(r.body);
    gc_server_stats stats;
    gc_server_get_stats(g.s, &stats);
    assert_int_equal(stats.requests, 1);
    assert_true(stats.max_step_seqs >= 2);   // the choices decode together
    assert_int_equal(stats.tokens, comp);
    assert_int_equal(stats.active_seqs, 0);
    gc_server_stop(g.s);
    char line[1024] = "";
    rewind(log);
    assert_non_null(fgets(line, sizeof line, log));
    fclose(log);
    char want[160];
    snprintf(want, sizeof want, "gcache serve: %s 200 ", id);
    if (strncmp(line, want, strlen(want)) != 0) fail_msg("log line \"%s\" does not start with \"%s\"", line, want);
    snprintf(want, sizeof want, " completion=%lld n=4 stream=0 seed=77 ", (long long)comp);
    if (!strstr(line, want)) fail_msg("log line \"%s\" lacks \"%s\"", line, want);
    assert_non_null(strstr(line, " prompt="));
    assert_non_null(strstr(line, " queue="));
    assert_non_null(strstr(line, " total="));
    assert_non_null(strstr(line, " finish="));
}

// ---- a model with NaN weights

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_true(a && b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

// A copy of the tiny model in dir whose final norm weights are NaN (bf16).
static void make_nan_model(const char *dir) {
    static const char *files[] = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                                  "tokenizer_config.json"};
    char a[512], b[512];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(a, sizeof a, "%s/%s", MODEL, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        copy_file(a, b);
    }
    snprintf(b, sizeof b, "%s/model.safetensors", dir);
    FILE *fp = fopen(b, "r+b");
    assert_non_null(fp);
    uint64_t hl = 0;
    assert_int_equal(fread(&hl, 8, 1, fp), 1);   // little-endian header length
    char *h = malloc(hl);
    assert_int_equal(fread(h, 1, hl, fp), hl);
    cJSON *hdr = NULL;
    assert_int_equal(gc_json_parse(h, hl, "header", &hdr), GC_OK);
    const cJSON *t = gc_json_get(hdr, "model.norm.weight");
    assert_string_equal(gc_json_get(t, "dtype")->valuestring, "BF16");
    const cJSON *off = gc_json_get(t, "data_offsets");
    const long start = (long)cJSON_GetArrayItem(off, 0)->valuedouble, end = (long)cJSON_GetArrayItem(off, 1)->valuedouble;
    assert_int_equal(fseek(fp, 8 + (long)hl + start, SEEK_SET), 0);
    const unsigned char nan_bf16[2] = {0xC0, 0x7F};   // 0x7FC0, little-endian
    for (long k = start; k < end; k += 2) assert_int_equal(fwrite(nan_bf16, 1, 2, fp), 2);
    fclose(fp);
    cJSON_Delete(hdr);
    free(h);
}

static void test_nonfinite_logits(void **st) {
    (void)st;
    char dir[] = "/tmp/gc_nan_model_XXXXXX";
    assert_non_null(mkdtemp(dir));
    make_nan_model(dir);
    gc_model *m = NULL;
    gc_engine *e = NULL;
    assert_int_equal(gc_model_load(dir, &m), GC_OK);
    gc_engine_params ep = gc_engine_default_params();
    ep.n_threads = 1;
    assert_int_equal(gc_engine_new(m, &ep, &e), GC_OK);
    // Local generation fails and says why.
    const gc_tokenizer *tok = gc_model_tokenizer(m);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    assert_int_equal(gc_tokenizer_encode(tok, "hello", 5, true, &ids, &n_ids), GC_OK);
    gc_kv *kv = NULL;
    assert_int_equal(gc_kv_new(e, &kv), GC_OK);
    gc_gen_params gp = gc_gen_default_params();
    gp.max_tokens = 4;
    gc_gen_result res = {0};
    assert_int_equal(gc_generate(e, kv, tok, ids, (int64_t)n_ids, &gp, NULL, NULL, &res), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "not finite"));
    gc_gen_result_free(&res);
    gc_kv_free(kv);
    free(ids);
    // The server answers 500 with the reason, plain and streamed.
    fx g = {.m = m, .e = e};
    gc_server_opts o = gc_server_default_opts();
    o.port = 0;
    o.log = NULL;
    assert_int_equal(gc_server_start(m, e, &o, &g.s), GC_OK);
    snprintf(g.base, sizeof g.base, "http://127.0.0.1:%d", gc_server_port(g.s));
    expect_error(&g, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}", 500, "not finite");
    expect_error(&g, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4,\"stream\":true}", 500,
                 "not finite");
    gc_server_stop(g.s);
    gc_engine_free(e);
    gc_model_free(m);
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                           "tokenizer_config.json"};
    for (size_t i = 0; i < 5; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_matches_plain), cmocka_unit_test(test_stop_cuts),
        cmocka_unit_test(test_n_choices),            cmocka_unit_test(test_fresh_seeds),
        cmocka_unit_test(test_api_key),              cmocka_unit_test(test_loading_then_ready),
        cmocka_unit_test(test_drain_refuses_new),    cmocka_unit_test(test_log_line_and_stats),
        cmocka_unit_test(test_queue_limit_zero),     cmocka_unit_test(test_nonfinite_logits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
