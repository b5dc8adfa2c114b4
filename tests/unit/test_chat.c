// Chat formatting: gc_chat_format must equal jinja2's rendering of each
// family's template (tests/data/tokenizer/chat_expected.json, written by
// tools/make_tokenizer_fixtures.py: SmolLM2's template as stored in its GGUF,
// restatements of Qwen2.5's and Qwen3's, plain ChatML), for conversations
// with and without system prompts, think blocks, tool turns, odd roles, and
// with/without the generation prompt and Qwen3's enable_thinking.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"
#include "gcache/chat.h"
#include "gcache/tokenizer.h"
#include "format/gguf.h"

#define FIXTURE "tests/data/tokenizer/chat_expected.json"

static cJSON *load_fixture(void) {
    char *p;
    size_t n;
    if (gc_file_read_all(FIXTURE, &p, &n) != GC_OK) fail_msg("%s", gc_last_error());
    cJSON *j = cJSON_ParseWithLength(p, n);
    free(p);
    if (!j) fail_msg("%s: malformed JSON", FIXTURE);
    return j;
}

static gc_chat_style style_of(const char *name) {
    if (strcmp(name, "chatml") == 0) return GC_CHAT_CHATML;
    if (strcmp(name, "smollm2") == 0) return GC_CHAT_SMOLLM2;
    if (strcmp(name, "qwen25") == 0) return GC_CHAT_QWEN25;
    if (strcmp(name, "qwen3") == 0) return GC_CHAT_QWEN3;
    fail_msg("unknown style %s", name);
    return GC_CHAT_UNKNOWN;
}

static void test_against_jinja(void **state) {
    (void)state;
    cJSON *root = load_fixture();
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    int count = 0, failures = 0;
    bool seen[5] = {0};
    for (const cJSON *c = cases->child; c; c = c->next, count++) {
        gc_chat_style style = style_of(cJSON_GetObjectItem(c, "style")->valuestring);
        seen[style] = true;
        const cJSON *msgs = cJSON_GetObjectItem(c, "messages");
        size_t n = (size_t)cJSON_GetArraySize(msgs), i = 0;
        gc_chat_msg *m = calloc(n ? n : 1, sizeof *m);
        assert_non_null(m);
        for (const cJSON *e = msgs->child; e; e = e->next, i++) {
            m[i].role = cJSON_GetObjectItem(e, "role")->valuestring;
            m[i].content = cJSON_GetObjectItem(e, "content")->valuestring;
        }
        const cJSON *think = cJSON_GetObjectItem(c, "enable_thinking");
        gc_chat_opts o = {.add_generation_prompt = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt")),
                          .enable_thinking = !think || cJSON_IsTrue(think)};
        char *out;
        size_t len;
        assert_int_equal(gc_chat_format(style, m, n, &o, &out, &len), GC_OK);
        const char *want = cJSON_GetObjectItem(c, "expected")->valuestring;
        if (len != strlen(want) || strcmp(out, want) != 0) {
            failures++;
            print_message("case %d (%s, %zu messages, gen=%d, thinking=%d):\n--- got ---\n%s\n--- want ---\n%s\n", count,
                          gc_chat_style_name(style), n, o.add_generation_prompt, o.enable_thinking, out, want);
        }
        free(out);
        free(m);
    }
    print_message("%d chat cases, %d failing\n", count, failures);
    assert_int_equal(failures, 0);
    assert_true(seen[GC_CHAT_CHATML] && seen[GC_CHAT_QWEN25] && seen[GC_CHAT_QWEN3]);
    cJSON_Delete(root);
}

static void test_detect(void **state) {
    (void)state;
    cJSON *root = load_fixture();
    const cJSON *templates = cJSON_GetObjectItem(root, "templates");
    for (const cJSON *t = templates->child; t; t = t->next)
        assert_int_equal(gc_chat_detect(t->valuestring), style_of(t->string));
    cJSON_Delete(root);
    assert_int_equal(gc_chat_detect(NULL), GC_CHAT_CHATML);
    assert_int_equal(gc_chat_detect("{{ bos_token }}{% for m in messages %}[INST]{% endfor %}"), GC_CHAT_UNKNOWN);
    assert_string_equal(gc_chat_default_system(GC_CHAT_QWEN25),
                        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
    assert_null(gc_chat_default_system(GC_CHAT_QWEN3));

    // Templates as loaders hand them out.
    gc_tokenizer *tok;
    assert_int_equal(gc_tokenizer_load_hf("tests/data/tokenizer/tiny", &tok), GC_OK);
    assert_int_equal(gc_chat_detect(gc_tokenizer_chat_template(tok)), GC_CHAT_CHATML);
    gc_tokenizer_free(tok);
    const char *smol = getenv("GC_SMOL_GGUF");
    if (smol && *smol) {
        gc_gguf *g;
        assert_int_equal(gc_gguf_open(smol, &g), GC_OK);
        assert_int_equal(gc_tokenizer_load_gguf(g, &tok), GC_OK);
        gc_gguf_free(g);
        assert_int_equal(gc_chat_detect(gc_tokenizer_chat_template(tok)), GC_CHAT_SMOLLM2);
        gc_tokenizer_free(tok);
    }
}

static void test_errors_and_defaults(void **state) {
    (void)state;
    gc_chat_msg m[2] = {{"user", "hi"}, {"assistant", NULL}};
    char *out;
    size_t len;
    assert_int_equal(gc_chat_format(GC_CHAT_CHATML, m, 2, NULL, &out, &len), GC_ERR_INVALID_ARG);
    assert_null(out);
    assert_non_null(strstr(gc_last_error(), "message 1"));
    assert_int_equal(gc_chat_format(GC_CHAT_UNKNOWN, m, 1, NULL, &out, &len), GC_ERR_UNSUPPORTED);
    // opts NULL: generation prompt on, thinking on.
    assert_int_equal(gc_chat_format(GC_CHAT_QWEN3, m, 1, NULL, &out, NULL), GC_OK);
    assert_string_equal(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    free(out);
    // No messages: SmolLM2 adds nothing (its template loops over messages),
    // Qwen2.5 still opens with its default system prompt.
    assert_int_equal(gc_chat_format(GC_CHAT_SMOLLM2, NULL, 0, NULL, &out, &len), GC_OK);
    assert_string_equal(out, "<|im_start|>assistant\n");
    free(out);
    assert_int_equal(gc_chat_format(GC_CHAT_QWEN25, NULL, 0, &(gc_chat_opts){0}, &out, &len), GC_OK);
    assert_string_equal(out, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                             "assistant.<|im_end|>\n");
    assert_int_equal(len, strlen(out));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_jinja),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_errors_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
