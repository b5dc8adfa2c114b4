// Loader for a GGUF file's tokenizer metadata (llama.cpp's layout):
//   tokenizer.ggml.model       "gpt2" (byte-level BPE) -- the only one supported
//   tokenizer.ggml.pre         pre-tokenizer family, see gc_pretok_preset
//   tokenizer.ggml.tokens      string[n]: byte-level vocab strings; added
//                              tokens hold their content
//   tokenizer.ggml.token_type  int[n]: 1 normal, 2 unknown, 3 control,
//                              4 user-defined, 5 unused, 6 byte (optional)
//   tokenizer.ggml.merges      string[m]: "a b" by rank
//   tokenizer.ggml.{bos,eos}_token_id, tokenizer.chat_template (optional)
#define _GNU_SOURCE
#include "core/error.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

static gc_status load_tokens(gc_tokenizer *t, const gc_gguf *g, int64_t n, bool has_types) {
    for (int64_t i = 0; i < n; i++) {
        char field[64];
        snprintf(field, sizeof field, "tokenizer.ggml.tokens[%lld]", (long long)i);
        size_t len = 0;
        const char *s = gc_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &len);
        if (!s) return gc_fail(GC_ERR_FORMAT, "%s: %s: not a string", t->src, field);
        int64_t type = TT_NORMAL;
        if (has_types && !gc_gguf_arr_int(g, "tokenizer.ggml.token_type", i, &type))
            return gc_fail(GC_ERR_FORMAT, "%s: tokenizer.ggml.token_type[%lld]: not an integer", t->src, (long long)i);
        switch (type) {
        case TT_CONTROL:
            GC_TRY(gc_tok_set_added(t, i, s, len, GC_TOK_SPECIAL, field));
            break;
        case TT_USER_DEFINED:
            GC_TRY(gc_tok_set_added(t, i, s, len, 0, field));
            break;
        case TT_NORMAL:
        case TT_UNKNOWN:
        case TT_UNUSED:
        case TT_BYTE:
            GC_TRY(gc_tok_set_model_token(t, i, s, len, field));
            break;
        default:
            return gc_fail(GC_ERR_FORMAT, "%s: tokenizer.ggml.token_type[%lld] = %lld is not a token type", t->src,
                           (long long)i, (long long)type);
        }
    }
    return GC_OK;
}

static gc_status load_merges(gc_tokenizer *t, const gc_gguf *g, int64_t m) {
    for (int64_t i = 0; i < m; i++) {
        char field[64];
        snprintf(field, sizeof field, "tokenizer.ggml.merges[%lld]", (long long)i);
        size_t len = 0;
        const char *s = gc_gguf_arr_str(g, "tokenizer.ggml.merges", i, &len);
        const char *sp = s ? memchr(s, ' ', len) : NULL;
        if (!sp || sp == s || sp + 1 == s + len || memchr(sp + 1, ' ', (size_t)(s + len - sp - 1)))
            return gc_fail(GC_ERR_FORMAT, "%s: %s: expected \"a b\"", t->src, field);
        GC_TRY(gc_tok_add_merge(t, s, (size_t)(sp - s), sp + 1, (size_t)(s + len - sp - 1), (int32_t)i, field));
    }
    return GC_OK;
}

static int32_t special_id(const gc_gguf *g, const char *key, int32_t n) {
    int64_t v;
    return gc_gguf_get_int(g, key, &v) && v >= 0 && v < n ? (int32_t)v : -1;
}

gc_status gc_tokenizer_load_gguf(const struct gc_gguf *g, gc_tokenizer **out) {
    *out = NULL;
    if (!g) return gc_fail(GC_ERR_INVALID_ARG, "gc_tokenizer_load_gguf: g is NULL");
    const char *src = gc_gguf_path(g);
    if (!src) src = "<gguf>";
    const char *model = gc_gguf_get_str(g, "tokenizer.ggml.model", NULL);
    if (!model) return gc_fail(GC_ERR_FORMAT, "%s: tokenizer.ggml.model: missing", src);
    if (strcmp(model, "gpt2") != 0)
        return gc_fail(GC_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model = \"%s\" is not supported (only gpt2 byte-level BPE)",
                       src, model);
    const char *pre = gc_gguf_get_str(g, "tokenizer.ggml.pre", NULL);
    if (!pre) return gc_fail(GC_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre: missing (the pre-tokenizer is unknown)", src);
    gc_gguf_type et;
    int64_t n = 0, m = 0, nt = 0;
    if (!gc_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) || et != GC_GGUF_STRING)
        return gc_fail(GC_ERR_FORMAT, "%s: tokenizer.ggml.tokens: missing or not a string array", src);
    if (!gc_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &m) || et != GC_GGUF_STRING)
        return gc_fail(GC_ERR_FORMAT, "%s: tokenizer.ggml.merges: missing or not a string array", src);
    if (m > INT32_MAX) return gc_fail(GC_ERR_FORMAT, "%s: tokenizer.ggml.merges: %lld merges is too many", src, (long long)m);
    bool has_types = gc_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &nt);
    if (has_types && nt != n)
        return gc_fail(GC_ERR_FORMAT, "%s: tokenizer.ggml.token_type: %lld entries for %lld tokens", src, (long long)nt,
                       (long long)n);

    gc_tokenizer *t;
    GC_TRY(gc_tok_new(src, n, (size_t)m, &t));
    gc_status s = gc_pretok_preset(pre, &t->pre, &t->nfc, &t->ignore_merges);
    if (s != GC_OK) gc_fail_wrap(s, "%s", src);
    if (s == GC_OK) s = load_tokens(t, g, n, has_types);
    if (s == GC_OK) s = load_merges(t, g, m);
    if (s == GC_OK) s = gc_tok_finish(t);
    if (s == GC_OK) {
        t->bos = special_id(g, "tokenizer.ggml.bos_token_id", t->n);
        t->eos = special_id(g, "tokenizer.ggml.eos_token_id", t->n);
        const char *tmpl = gc_gguf_get_str(g, "tokenizer.chat_template", NULL);
        if (tmpl && !(t->chat_template = strdup(tmpl))) s = gc_fail(GC_ERR_OOM, "out of memory loading %s", src);
    }
    if (s != GC_OK) {
        gc_tokenizer_free(t);
        return s;
    }
    *out = t;
    return GC_OK;
}
