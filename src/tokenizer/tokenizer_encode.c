// Encode pipeline, in HF tokenizers' order: added tokens split out of the raw
// text, NFC on what is left, added tokens marked `normalized` split out of
// that, pre-tokenization, BPE per piece (with a per-call piece -> ids cache).
#include "core/error.h"
#include "core/utf8.h"
#include "core/vec.h"
#include "tokenizer/tokenizer.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// Pieces up to this many bytes are cached; longer ones are rare and unlikely
// to repeat.
#define CACHE_MAX_PIECE 64

typedef struct cache_ent {
    uint32_t off, n;
} cache_ent;

typedef struct enc_ctx {
    const gc_tokenizer *t;
    bool parse_special;
    gc_tok_ids out;
    gc_tok_bpe_scratch bpe;
    gc_pretok_scratch *pre;
    gc_tok_strmap cache;  // piece bytes -> index into ent
    gc_tok_arena keys;
    gc_tok_ids pool;  // ids of cached pieces, back to back
    cache_ent *ent;
    size_t n_ent, cap_ent;
} enc_ctx;

static gc_status oom(void) { return gc_fail(GC_ERR_OOM, "out of memory encoding"); }

// The code point at s[0..len) and its length; the text was validated.
static int32_t decode_cp(const char *s, size_t len, size_t *adv) {
    int32_t cp;
    const size_t k = gc_utf8_next(s, len, &cp);
    *adv = k ? k : 1;
    return cp;
}

// Unicode White_Space (Rust's char::is_whitespace).
static bool is_ws(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static bool is_word_char(int32_t c) {
    if (c == '_') return true;
    utf8proc_category_t cat = utf8proc_category(c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

static gc_status encode_piece(enc_ctx *c, const char *p, size_t len) {
    if (len > CACHE_MAX_PIECE) return gc_tok_bpe(c->t, &c->bpe, (const uint8_t *)p, len, &c->out);
    int32_t hit = gc_tok_strmap_get(&c->cache, p, len);
    if (hit >= 0) {
        cache_ent e = c->ent[hit];
        for (uint32_t i = 0; i < e.n; i++)
            if (!gc_tok_ids_push(&c->out, c->pool.v[e.off + i])) return oom();
        return GC_OK;
    }
    size_t first = c->out.n;
    GC_TRY(gc_tok_bpe(c->t, &c->bpe, (const uint8_t *)p, len, &c->out));
    if (!GC_VEC_RESERVE(c->ent, c->cap_ent, c->n_ent + 1)) return oom();
    const char *key = gc_tok_arena_dup(&c->keys, p, len);
    if (!key || !gc_tok_strmap_put(&c->cache, key, len, (int32_t)c->n_ent, NULL, NULL)) return oom();
    c->ent[c->n_ent].off = (uint32_t)c->pool.n;
    c->ent[c->n_ent].n = (uint32_t)(c->out.n - first);
    c->n_ent++;
    for (size_t i = first; i < c->out.n; i++)
        if (!gc_tok_ids_push(&c->pool, c->out.v[i])) return oom();
    return GC_OK;
}

static gc_status pretokenize(enc_ctx *c, const char *s, size_t len) {
    const gc_pieces *pc;
    GC_TRY(gc_pretok_run(c->t->pre, c->pre, s, len, &pc));
    for (size_t i = 0; i < pc->n; i++) GC_TRY(encode_piece(c, pc->buf + pc->v[i].off, pc->v[i].len));
    return GC_OK;
}

typedef gc_status (*text_fn)(enc_ctx *c, const char *s, size_t len);

// HF's AddedVocabulary::find_matches: leftmost-longest matches scanned left
// to right; a match that is dropped (special while !parse_special, or a
// single_word token inside a word) still consumes its text.
static gc_status split_added(enc_ctx *c, const gc_tok_added_index *ix, const char *s, size_t len, text_fn text) {
    const gc_tokenizer *t = c->t;
    size_t done = 0, i = 0;
    while (i < len) {
        uint8_t fb = (uint8_t)s[i];
        uint32_t k = ix->start[fb], end = ix->start[fb + 1];
        for (; k < end; k++)
            if (ix->key_len[k] <= len - i && memcmp(ix->key[k], s + i, ix->key_len[k]) == 0) break;
        if (k == end) {
            i++;
            continue;
        }
        size_t mb = i, me = i + ix->key_len[k];
        i = me;
        int32_t id = ix->ids[k];
        uint8_t f = t->tok[id].flags;
        if ((f & GC_TOK_SPECIAL) && !c->parse_special) continue;
        size_t adv;
        if (f & GC_TOK_SINGLE_WORD) {
            if (mb > 0 && is_word_char(decode_cp(s + gc_utf8_prev(s, mb), mb - gc_utf8_prev(s, mb), &adv))) continue;
            if (me < len && is_word_char(decode_cp(s + me, len - me, &adv))) continue;
        }
        if (f & GC_TOK_LSTRIP) {
            while (mb > done) {
                size_t p = gc_utf8_prev(s, mb);
                if (!is_ws(decode_cp(s + p, mb - p, &adv))) break;
                mb = p;
            }
        }
        if (f & GC_TOK_RSTRIP) {
            while (me < len && is_ws(decode_cp(s + me, len - me, &adv))) me += adv;
            if (i < me) i = me;
        }
        if (done < mb) GC_TRY(text(c, s + done, mb - done));
        if (!gc_tok_ids_push(&c->out, id)) return oom();
        done = me;
    }
    if (done < len) GC_TRY(text(c, s + done, len - done));
    return GC_OK;
}

static gc_status normalized_text(enc_ctx *c, const char *s, size_t len) {
    if (c->t->idx_norm.ids) return split_added(c, &c->t->idx_norm, s, len, pretokenize);
    return pretokenize(c, s, len);
}

static gc_status raw_text(enc_ctx *c, const char *s, size_t len) {
    if (!c->t->nfc) return normalized_text(c, s, len);
    bool ascii = true;  // ASCII is NFC already
    for (size_t i = 0; i < len && ascii; i++) ascii = (uint8_t)s[i] < 0x80;
    if (ascii) return normalized_text(c, s, len);
    utf8proc_uint8_t *nf = NULL;
    utf8proc_ssize_t r =
        utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &nf, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (r < 0) return r == UTF8PROC_ERROR_NOMEM ? oom() : gc_fail(GC_ERR_INVALID_ARG, "encode: NFC failed: %s",
                                                                   utf8proc_errmsg(r));
    gc_status st = normalized_text(c, (const char *)nf, (size_t)r);
    free(nf);
    return st;
}

gc_status gc_tokenizer_encode(const gc_tokenizer *t, const char *text, size_t len, bool parse_special, int32_t **ids,
                              size_t *n) {
    *ids = NULL;
    *n = 0;
    if (!text && len) return gc_fail(GC_ERR_INVALID_ARG, "encode: text is NULL");
    size_t bad = gc_utf8_invalid_at(text, len);
    if (bad < len) return gc_fail(GC_ERR_INVALID_ARG, "encode: text is not valid UTF-8 at byte %zu", bad);
    enc_ctx c = {.t = t, .parse_special = parse_special};
    gc_status st = GC_OK;
    if (!(c.pre = gc_pretok_scratch_new(t->pre)) || !gc_tok_strmap_init(&c.cache, 1024) ||
        !gc_tok_ids_push(&c.out, 0)) {
        st = oom();
        goto done;
    }
    c.out.n = 0;  // the push above only made sure the result is never NULL
    if (len) st = t->idx_raw.ids ? split_added(&c, &t->idx_raw, text, len, raw_text) : raw_text(&c, text, len);
done:
    gc_tok_bpe_scratch_free(&c.bpe);
    gc_pretok_scratch_free(c.pre);
    gc_tok_strmap_free(&c.cache);
    gc_tok_arena_free(&c.keys);
    free(c.pool.v);
    free(c.ent);
    if (st != GC_OK) {
        free(c.out.v);
        return st;
    }
    *ids = c.out.v;
    *n = c.out.n;
    return GC_OK;
}
