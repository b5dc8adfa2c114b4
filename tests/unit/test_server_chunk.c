// gcache serve's engine thread with the tiny chat model: the engine draws
// every token (the one rule of gcache/sampler.h), so a seeded sampled reply
// equals gc_generate's with the same settings; and chunked prefill (a few
// prompt rows per step) gives the same replies and streams as whole prompts,
// also while another reply streams and with n choices forked from a chunked
// prompt.
#include "server_fixture.h"
#include <pthread.h>
#include <stdio.h>

// gc_generate on the chat-formatted user message `content` with `sampling`:
// the text (malloc'd) and its token count.
static char *local_sampled(const fx *f, const char *content, const gc_sampler_params *sampling, int max_tokens,
                           int64_t *n_ids) {
    const gc_chat_msg msg = {"user", content};
    local l;
    char *out = local_generate(f, &msg, 1, max_tokens, sampling, &l);
    *n_ids = l.n_ids;
    return out;
}

// A user message of `words` distinct words (malloc'd).
static char *words(int n) {
    char *c = malloc((size_t)n * 12 + 1);
    assert_non_null(c);
    size_t k = 0;
    c[0] = 0;
    for (int i = 0; i < n; i++) k += (size_t)sprintf(c + k, "w%d ", i);
    return c;
}

static char *body(const char *content, const char *extra) {
    char *b = malloc(strlen(content) + strlen(extra) + 96);
    assert_non_null(b);
    sprintf(b, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],%s}", content, extra);
    return b;
}

// A server on the fixture's engine with this prefill budget (the fixture's
// own server is idle meanwhile: one engine step at a time).
static fx server_with(const fx *f, int prefill_rows) {
    fx g = *f;
    gc_server_opts o = gc_server_default_opts();
    o.port = 0;
    o.log = NULL;
    o.prefill_rows = prefill_rows;
    assert_int_equal(gc_server_start(f->m, f->e, &o, &g.s), GC_OK);
    snprintf(g.base, sizeof g.base, "http://127.0.0.1:%d", gc_server_port(g.s));
    return g;
}

static void test_sampled_matches_generate(void **st) {
    fx *f = *st;
    char *content = words(40);
    const gc_sampler_params sp = {.temperature = 0.9f, .top_p = 0.95f, .top_k = 40, .seed = 4242};
    int64_t n_want = 0;
    char *want = local_sampled(f, content, &sp, 16, &n_want);
    char *b = body(content, "\"max_tokens\":16,\"temperature\":0.9,\"top_p\":0.95,\"top_k\":40,\"seed\":4242");
    for (int rows = 0; rows <= 5; rows += 5) {   // whole prompt, then 5 rows a step
        fx g = server_with(f, rows);
        reply r = expect_ok(&g, b);
        assert_string_equal(r.content, want);
        assert_int_equal(r.completion, n_want);
        reply_free(&r);
        gc_server_stop(g.s);
    }
    free(b);
    free(want);
    free(content);
}

// One streamed request, run on its own thread.
typedef struct client {
    const fx *f;
    const char *body;
    streamed out;
} client;

static void *stream_one(void *arg) {
    client *c = arg;
    c->out = post_stream(c->f, c->body);
    return NULL;
}

// A short request streams while a long prompt with 2 choices arrives; the
// same pair with and without a prefill budget.
typedef struct pair_result {
    streamed a, b;
    gc_server_stats stats;
} pair_result;

static pair_result run_pair(const fx *f, int prefill_rows, const char *short_body, const char *long_body) {
    fx g = server_with(f, prefill_rows);
    client a = {.f = &g, .body = short_body}, b = {.f = &g, .body = long_body};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, stream_one, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, stream_one, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pair_result r = {.a = a.out, .b = b.out};
    gc_server_get_stats(g.s, &r.stats);
    gc_server_stop(g.s);
    return r;
}

static void test_chunked_streams_same(void **st) {
    fx *f = *st;
    char *longc = words(150);
    const int64_t n_long = prompt_tokens(f, longc);
    char *sb = body("hi", "\"max_tokens\":30,\"temperature\":0.9,\"seed\":7,\"stream\":true");
    char *lb = body(longc, "\"max_tokens\":8,\"temperature\":0.8,\"seed\":9,\"n\":2,\"stream\":true");
    pair_result whole = run_pair(f, 0, sb, lb), chunked = run_pair(f, 3, sb, lb);
    const streamed *w[] = {&whole.a, &whole.b}, *c[] = {&chunked.a, &chunked.b};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(w[k]->status, 200);
        assert_int_equal(c[k]->status, 200);
        assert_true(w[k]->done && c[k]->done);
        for (int ch = 0; ch < (k ? 2 : 1); ch++) {
            assert_non_null(w[k]->content[ch]);
            assert_string_equal(c[k]->content[ch], w[k]->content[ch]);
            assert_string_equal(c[k]->finish[ch], w[k]->finish[ch]);
        }
    }
    // The chunked prompt took at least ⌈n / 3⌉ steps (a count, not a time).
    assert_true(n_long > 100);
    assert_true(chunked.stats.steps >= (n_long + 2) / 3);
    // Choice 0 of the long request is gc_generate's reply with its seed.
    const gc_sampler_params sp = {.temperature = 0.8f, .top_p = 1.0f, .top_k = 0, .seed = 9};
    int64_t n_want = 0;
    char *want = local_sampled(f, longc, &sp, 8, &n_want);
    assert_string_equal(chunked.b.content[0], want);
    free(want);
    streamed_free(&whole.a);
    streamed_free(&whole.b);
    streamed_free(&chunked.a);
    streamed_free(&chunked.b);
    free(sb);
    free(lb);
    free(longc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampled_matches_generate),
        cmocka_unit_test(test_chunked_streams_same),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
