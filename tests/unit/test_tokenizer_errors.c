// Tokenizer loading errors and edge cases that need no reference library:
// malformed / unsupported tokenizer.json variants must fail with the right
// status and a message naming the file and the field; a GGUF built in memory
// exercises the tokenizer.ggml.* loader; the streaming detokenizer must never
// split a character and must turn invalid bytes into U+FFFD like Python's
// errors="replace"; bad arguments to encode/decode are refused.
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"
#include "gcache/tokenizer.h"
#include "format/gguf.h"

#define PRE "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}"
#define VOCAB "\"vocab\":{\"a\":0,\"b\":1,\"ab\":2}"

typedef struct bad_case {
    const char *json;
    gc_status status;
    const char *needle;  // must appear in the message (besides the file name)
} bad_case;

static const bad_case BAD[] = {
    {"{not json", GC_ERR_FORMAT, "malformed JSON"},
    {"[]", GC_ERR_FORMAT, "expected a JSON object"},
    {"{" PRE "}", GC_ERR_FORMAT, "model: missing"},
    {"{\"model\":{\"type\":\"WordPiece\"," VOCAB ",\"merges\":[]}," PRE "}", GC_ERR_UNSUPPORTED, "model.type"},
    {"{\"model\":{\"type\":\"BPE\",\"merges\":[]}," PRE "}", GC_ERR_FORMAT, "model.vocab"},
    {"{\"model\":{\"type\":\"BPE\"," VOCAB "}," PRE "}", GC_ERR_FORMAT, "model.merges"},
    {"{\"model\":{" VOCAB ",\"merges\":[\"a c\"]}," PRE "}", GC_ERR_FORMAT, "model.merges[0]: token \"c\""},
    {"{\"model\":{" VOCAB ",\"merges\":[\"a b\",\"a b c\"]}," PRE "}", GC_ERR_FORMAT, "model.merges[1]: expected"},
    {"{\"model\":{" VOCAB ",\"merges\":[\"ab\"]}," PRE "}", GC_ERR_FORMAT, "model.merges[0]: expected"},
    {"{\"model\":{" VOCAB ",\"merges\":[[\"a\"]]}," PRE "}", GC_ERR_FORMAT, "model.merges[0]: expected"},
    {"{\"model\":{\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}," PRE "}", GC_ERR_FORMAT, "merged token \"ab\""},
    {"{\"model\":{\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}," PRE "}", GC_ERR_FORMAT, "duplicate id 0"},
    {"{\"model\":{\"vocab\":{\"a\":0,\"b\":7},\"merges\":[]}," PRE "}", GC_ERR_FORMAT, "model.vocab[\"b\"]: id 7 out of range"},
    {"{\"model\":{\"vocab\":{\"a\":-1},\"merges\":[]}," PRE "}", GC_ERR_FORMAT, "id -1 out of range"},
    {"{\"model\":{\"vocab\":{\"a\":1.5},\"merges\":[]}," PRE "}", GC_ERR_FORMAT, "expected an integer id"},
    {"{\"model\":{\"vocab\":{\"a\":\"0\"},\"merges\":[]}," PRE "}", GC_ERR_FORMAT, "expected an integer id"},
    {"{\"model\":{\"vocab\":{},\"merges\":[]}," PRE "}", GC_ERR_FORMAT, "empty"},
    {"{\"model\":{\"vocab\":{\"a\":0,\"b\":1,\"ab\":3},\"merges\":[]},\"added_tokens\":[{\"id\":0,\"content\":\"a\"}]," PRE "}",
     GC_ERR_FORMAT, "id 2 is missing"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"added_tokens\":[{\"id\":3,\"content\":\"ab\"}]," PRE "}", GC_ERR_FORMAT,
     "added_tokens[0]: content is vocab token 2"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"added_tokens\":[{\"id\":2,\"content\":\"<x>\"}]," PRE "}", GC_ERR_FORMAT,
     "added_tokens[0]: duplicate id 2"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"added_tokens\":[{\"content\":\"<x>\"}]," PRE "}", GC_ERR_FORMAT,
     "added_tokens[0].id"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"added_tokens\":{}," PRE "}", GC_ERR_FORMAT, "added_tokens"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"added_tokens\":[{\"id\":3,\"content\":\"<x>\",\"special\":1}]," PRE "}",
     GC_ERR_FORMAT, "added_tokens[0].special"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"normalizer\":{\"type\":\"Lowercase\"}," PRE "}", GC_ERR_UNSUPPORTED,
     "normalizer.type = \"Lowercase\""},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}", GC_ERR_UNSUPPORTED,
     "pre_tokenizer.type = \"Whitespace\""},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Digits\"}}", GC_ERR_UNSUPPORTED, "no ByteLevel"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"pre_tokenizer\":null}", GC_ERR_UNSUPPORTED, "pre_tokenizer"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"},"
     "{\"type\":\"Digits\"}]}}",
     GC_ERR_UNSUPPORTED, "pre_tokenizer.pretokenizers[1]: a Digits step after ByteLevel"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
     "\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"},{\"type\":\"ByteLevel\"}]}}",
     GC_ERR_UNSUPPORTED, "pre_tokenizer.pretokenizers[0].pattern: regex does not compile"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
     "\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Isolated\",\"invert\":true},{\"type\":\"ByteLevel\"}]}}",
     GC_ERR_UNSUPPORTED, "invert"},
    {"{\"model\":{" VOCAB ",\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
     "\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"MergedWithPrevious\"},{\"type\":\"ByteLevel\"}]}}",
     GC_ERR_UNSUPPORTED, "behavior = \"MergedWithPrevious\""},
    {"{\"model\":{" VOCAB ",\"merges\":[]}," PRE ",\"decoder\":{\"type\":\"WordPiece\"}}", GC_ERR_UNSUPPORTED,
     "decoder.type"},
    {"{\"model\":{" VOCAB ",\"merges\":[],\"byte_fallback\":true}," PRE "}", GC_ERR_UNSUPPORTED, "byte_fallback"},
    {"{\"model\":{" VOCAB ",\"merges\":[],\"dropout\":0.1}," PRE "}", GC_ERR_UNSUPPORTED, "dropout"},
    {"{\"model\":{" VOCAB ",\"merges\":[],\"continuing_subword_prefix\":\"##\"}," PRE "}", GC_ERR_UNSUPPORTED,
     "continuing_subword_prefix"},
    {"{\"model\":{" VOCAB ",\"merges\":[],\"unk_token\":\"<unk>\"}," PRE "}", GC_ERR_FORMAT, "model.unk_token"},
};

static void test_bad_json(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        gc_tokenizer *t = (gc_tokenizer *)1;
        gc_status s = gc_tokenizer_load_json(BAD[i].json, strlen(BAD[i].json), "bad.json", &t);
        const char *msg = gc_last_error();
        if (s != BAD[i].status || strncmp(msg, "bad.json: ", 10) != 0 || !strstr(msg, BAD[i].needle))
            fail_msg("case %zu: got %s \"%s\", want %s with \"%s\"", i, gc_status_name(s), msg,
                     gc_status_name(BAD[i].status), BAD[i].needle);
        assert_null(t);
    }
}

static gc_tokenizer *load_ok(const char *json) {
    gc_tokenizer *t;
    if (gc_tokenizer_load_json(json, strlen(json), NULL, &t) != GC_OK) fail_msg("%s", gc_last_error());
    return t;
}

static void test_minimal_and_args(void **state) {
    (void)state;
    // Bytes missing from the vocab are dropped (no unk token), as HF does.
    gc_tokenizer *t = load_ok("{\"model\":{" VOCAB ",\"merges\":[\"a b\"]}," PRE "}");
    int32_t *ids;
    size_t n;
    assert_int_equal(gc_tokenizer_encode(t, "abxab a", 7, true, &ids, &n), GC_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 0);
    free(ids);
    assert_int_equal(gc_tokenizer_encode(t, "", 0, true, &ids, &n), GC_OK);
    assert_non_null(ids);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(gc_tokenizer_encode(t, "a\xff", 2, true, &ids, &n), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "byte 1"));
    assert_int_equal(gc_tokenizer_encode(t, "\xed\xa0\x80", 3, true, &ids, &n), GC_ERR_INVALID_ARG);  // surrogate
    assert_int_equal(gc_tokenizer_encode(t, "\xc0\xaf", 2, true, &ids, &n), GC_ERR_INVALID_ARG);      // overlong
    int32_t bad[] = {0, 3};
    char *text;
    size_t len;
    assert_int_equal(gc_tokenizer_decode(t, bad, 2, false, &text, &len), GC_ERR_INVALID_ARG);
    assert_non_null(strstr(gc_last_error(), "ids[1] = 3"));
    bad[1] = -1;
    assert_int_equal(gc_tokenizer_decode(t, bad, 2, false, &text, &len), GC_ERR_INVALID_ARG);
    assert_int_equal(gc_tokenizer_decode(t, NULL, 0, false, &text, &len), GC_OK);
    assert_string_equal(text, "");
    free(text);
    gc_tokenizer_free(t);

    // unk_token with fuse_unk: a run of unknown bytes becomes one unk.
    t = load_ok("{\"model\":{\"vocab\":{\"<unk>\":0,\"a\":1},\"merges\":[],\"unk_token\":\"<unk>\",\"fuse_unk\":true}," PRE "}");
    assert_int_equal(gc_tokenizer_encode(t, "axyza", 5, true, &ids, &n), GC_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], 0);
    free(ids);
    gc_tokenizer_free(t);
    gc_tokenizer_free(NULL);
}

static void test_hf_dir_errors(void **state) {
    (void)state;
    gc_tokenizer *t;
    assert_int_equal(gc_tokenizer_load_hf("tests/data/tokenizer/no-such-dir", &t), GC_ERR_IO);
    assert_non_null(strstr(gc_last_error(), "no-such-dir/tokenizer.json"));
    char dir[] = "/tmp/gc_tok_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    char *json;
    size_t len;
    assert_int_equal(gc_file_read_all("tests/data/tokenizer/tiny/tokenizer.json", &json, &len), GC_OK);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_int_equal(gc_file_write_atomic(path, json, len), GC_OK);
    free(json);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    assert_int_equal(gc_file_write_atomic(path, "{\"chat_template\": 5}", strlen("{\"chat_template\": 5}")), GC_OK);
    assert_int_equal(gc_tokenizer_load_hf(dir, &t), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "tokenizer_config.json: chat_template"));
    const char *cfg = "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
                      "{\"name\": \"default\", \"template\": \"D\"}], \"bos_token\": \"<|endoftext|>\"}";
    assert_int_equal(gc_file_write_atomic(path, cfg, strlen(cfg)), GC_OK);
    assert_int_equal(gc_tokenizer_load_hf(dir, &t), GC_OK);
    assert_string_equal(gc_tokenizer_chat_template(t), "D");
    assert_int_equal(gc_tokenizer_bos(t), gc_tokenizer_find(t, "<|endoftext|>"));
    gc_tokenizer_free(t);
    // chat_template.jinja takes precedence; a path to tokenizer.json works too.
    char jpath[256];
    snprintf(jpath, sizeof jpath, "%s/chat_template.jinja", dir);
    assert_int_equal(gc_file_write_atomic(jpath, "J", 1), GC_OK);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_int_equal(gc_tokenizer_load_hf(path, &t), GC_OK);
    assert_string_equal(gc_tokenizer_chat_template(t), "J");
    gc_tokenizer_free(t);
    unlink(jpath);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
}

// ---- a GGUF written in memory ----

typedef struct gbuf {
    uint8_t *p;
    size_t n, cap;
} gbuf;

static void g_put(gbuf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void g_u32(gbuf *b, uint32_t v) {
    uint8_t x[4];
    for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> 8 * i);
    g_put(b, x, 4);
}
static void g_u64(gbuf *b, uint64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> 8 * i);
    g_put(b, x, 8);
}
static void g_str(gbuf *b, const char *s) {
    g_u64(b, strlen(s));
    g_put(b, s, strlen(s));
}
static void kv_str(gbuf *b, const char *k, const char *v) {
    g_str(b, k);
    g_u32(b, GC_GGUF_STRING);
    g_str(b, v);
}
static void kv_u32(gbuf *b, const char *k, uint32_t v) {
    g_str(b, k);
    g_u32(b, GC_GGUF_UINT32);
    g_u32(b, v);
}
static void kv_strs(gbuf *b, const char *k, const char *const *v, size_t n) {
    g_str(b, k);
    g_u32(b, GC_GGUF_ARRAY);
    g_u32(b, GC_GGUF_STRING);
    g_u64(b, n);
    for (size_t i = 0; i < n; i++) g_str(b, v[i]);
}
static void kv_i32s(gbuf *b, const char *k, const int32_t *v, size_t n) {
    g_str(b, k);
    g_u32(b, GC_GGUF_ARRAY);
    g_u32(b, GC_GGUF_INT32);
    g_u64(b, n);
    for (size_t i = 0; i < n; i++) g_u32(b, (uint32_t)v[i]);
}

// GPT-2 alphabet character of byte b, as UTF-8.
static void alphabet(int b, char out[3]) {
    static int table[256];
    static bool init;
    if (!init) {
        int extra = 0;
        for (int c = 0; c < 256; c++) {
            bool keep = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
            table[c] = keep ? c : 0x100 + extra++;
        }
        init = true;
    }
    int cp = table[b];
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

// Vocab: the 256 bytes, "ab" (256), control <|im_start|> (257), user-defined
// <think> (258), control <|endoftext|> (259); merge "a b".
static gc_status gguf_tokenizer(const char *model, const char *pre, const char *merge, int types_n, gc_tokenizer **out) {
    static char chars[256][3];
    const char *tokens[260];
    int32_t types[260];
    for (int b = 0; b < 256; b++) {
        alphabet(b, chars[b]);
        tokens[b] = chars[b];
        types[b] = b == 0 ? 6 : 1;
    }
    tokens[256] = "ab", types[256] = 1;
    tokens[257] = "<|im_start|>", types[257] = 3;
    tokens[258] = "<think>", types[258] = 4;
    tokens[259] = "<|endoftext|>", types[259] = 3;
    gbuf b = {0};
    g_put(&b, "GGUF", 4);
    g_u32(&b, 3);
    g_u64(&b, 0);  // tensors
    g_u64(&b, 8);  // key/values
    kv_str(&b, "general.architecture", "qwen2");
    kv_str(&b, "tokenizer.ggml.model", model);
    kv_str(&b, "tokenizer.ggml.pre", pre);
    kv_strs(&b, "tokenizer.ggml.tokens", tokens, 260);
    kv_i32s(&b, "tokenizer.ggml.token_type", types, (size_t)types_n);
    kv_strs(&b, "tokenizer.ggml.merges", &merge, 1);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", 259);
    kv_str(&b, "tokenizer.chat_template", "{{ '<|im_start|>' }}{% if enable_thinking %}{% endif %}");
    gc_gguf *g;
    gc_status s = gc_gguf_open_memory(b.p, b.n, "mem.gguf", &g);
    if (s != GC_OK) fail_msg("%s", gc_last_error());
    s = gc_tokenizer_load_gguf(g, out);
    gc_gguf_free(g);
    free(b.p);
    return s;
}

static void test_gguf(void **state) {
    (void)state;
    gc_tokenizer *t;
    if (gguf_tokenizer("gpt2", "qwen2", "a b", 260, &t) != GC_OK) fail_msg("%s", gc_last_error());
    assert_int_equal(gc_tokenizer_vocab_size(t), 260);
    assert_int_equal(gc_tokenizer_eos(t), 259);
    assert_int_equal(gc_tokenizer_bos(t), -1);
    assert_true(gc_tokenizer_is_special(t, 257));
    assert_false(gc_tokenizer_is_special(t, 258));
    assert_non_null(strstr(gc_tokenizer_chat_template(t), "enable_thinking"));
    int32_t *ids;
    size_t n;
    const char *text = "<|im_start|>ab<think>x";
    assert_int_equal(gc_tokenizer_encode(t, text, strlen(text), true, &ids, &n), GC_OK);
    int32_t want[] = {257, 256, 258, 'x'};
    assert_int_equal(n, 4);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    // Without parse_special the control token is text; <think> (user-defined) still matches.
    assert_int_equal(gc_tokenizer_encode(t, text, strlen(text), false, &ids, &n), GC_OK);
    assert_int_equal(n, 12 + 1 + 2);
    assert_int_equal(ids[0], '<');
    assert_int_equal(ids[12], 256);
    assert_int_equal(ids[13], 258);
    char *dec;
    size_t len;
    assert_int_equal(gc_tokenizer_decode(t, ids, n, false, &dec, &len), GC_OK);
    assert_string_equal(dec, text);
    free(dec);
    free(ids);
    gc_tokenizer_free(t);

    assert_int_equal(gguf_tokenizer("gpt2", "falcon", "a b", 260, &t), GC_ERR_UNSUPPORTED);
    assert_non_null(strstr(gc_last_error(), "mem.gguf: tokenizer.ggml.pre = \"falcon\""));
    assert_null(t);
    assert_int_equal(gguf_tokenizer("llama", "qwen2", "a b", 260, &t), GC_ERR_UNSUPPORTED);
    assert_non_null(strstr(gc_last_error(), "mem.gguf: tokenizer.ggml.model = \"llama\""));
    assert_int_equal(gguf_tokenizer("gpt2", "qwen2", "a zz", 260, &t), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "mem.gguf: tokenizer.ggml.merges[0]: token \"zz\""));
    assert_int_equal(gguf_tokenizer("gpt2", "qwen2", "ab", 260, &t), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "tokenizer.ggml.merges[0]: expected \"a b\""));
    assert_int_equal(gguf_tokenizer("gpt2", "qwen2", "a b", 259, &t), GC_ERR_FORMAT);
    assert_non_null(strstr(gc_last_error(), "mem.gguf: tokenizer.ggml.token_type"));
    for (const char *const *p = (const char *const[]){"gpt2", "smollm", "llama-bpe", "deepseek-r1-qwen", NULL}; *p; p++) {
        if (gguf_tokenizer("gpt2", *p, "a b", 260, &t) != GC_OK) fail_msg("%s: %s", *p, gc_last_error());
        gc_tokenizer_free(t);
    }
}

// ---- streaming detokenizer (tiny's byte tokens have id == byte value) ----

static void expect_push(gc_detok *d, int32_t id, const char *want) {
    const char *out;
    size_t n = gc_detok_push(d, id, &out);
    assert_non_null(out);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

static void expect_flush(gc_detok *d, const char *want) {
    const char *out;
    size_t n = gc_detok_flush(d, &out);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

#define FFFD "\xef\xbf\xbd"

static void test_detok(void **state) {
    (void)state;
    gc_tokenizer *t;
    assert_int_equal(gc_tokenizer_load_hf("tests/data/tokenizer/tiny", &t), GC_OK);
    int32_t im = gc_tokenizer_find(t, "<|im_start|>");
    gc_detok *d = gc_detok_new(t, false);
    assert_non_null(d);
    expect_push(d, 0xC3, "");  // é split across two tokens
    expect_push(d, 0xA9, "\xc3\xa9");
    expect_push(d, 0xF0, "");  // 4-byte emoji, one byte at a time
    expect_push(d, 0x9F, "");
    expect_push(d, 0x98, "");
    expect_push(d, 0x80, "\xf0\x9f\x98\x80");
    expect_push(d, 'a', "a");
    expect_push(d, 0xFF, FFFD);            // never valid
    expect_push(d, 0xC3, "");              // lead byte, then ASCII
    expect_push(d, 'b', FFFD "b");
    expect_push(d, 0xED, "");              // surrogate: ED A0 80 -> three U+FFFD
    expect_push(d, 0xA0, FFFD FFFD);
    expect_push(d, 0x80, FFFD);
    expect_push(d, 0xF0, "");              // one U+FFFD for the maximal subpart F0 9F 98
    expect_push(d, 0x9F, "");
    expect_push(d, 0x98, "");
    expect_push(d, 'c', FFFD "c");
    expect_push(d, 0xC3, "");              // an added token between the bytes breaks the char
    expect_push(d, im, FFFD "<|im_start|>");
    expect_push(d, 0xA9, FFFD);
    expect_push(d, 0xE2, "");
    expect_push(d, 0x82, "");
    expect_flush(d, FFFD);                 // incomplete at the end
    expect_flush(d, "");
    expect_push(d, -5, FFFD);              // bad id
    expect_push(d, 1000000, FFFD);
    gc_detok_free(d);

    d = gc_detok_new(t, true);
    expect_push(d, 0xC3, "");
    expect_push(d, im, "");  // skipped specials do not break a pending character
    expect_push(d, 0xA9, "\xc3\xa9");
    expect_flush(d, "");
    gc_detok_free(d);
    gc_detok_free(NULL);
    gc_tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_json), cmocka_unit_test(test_minimal_and_args), cmocka_unit_test(test_hf_dir_errors),
        cmocka_unit_test(test_gguf),     cmocka_unit_test(test_detok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
