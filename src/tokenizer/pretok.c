#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretok.h"
#include "core/error.h"
#include "core/utf8.h"
#include "core/vec.h"
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

const char GC_RE_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char GC_RE_QWEN2[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                           "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char GC_RE_LLAMA3[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                            "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

enum step_kind { STEP_SPLIT, STEP_BYTELEVEL };

typedef struct step {
    enum step_kind kind;
    pcre2_code *re;  // NULL for a ByteLevel step without regex
    gc_split_behavior behavior;
    bool add_prefix_space;
} step;

struct gc_pretok {
    step *steps;
    size_t n;
    bool has_bytelevel;
};

struct gc_pretok_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    gc_pieces a, b;
};

// Bounds on one regex match, so a hostile pattern from a tokenizer.json
// fails instead of running for minutes or eating memory.
#define MATCH_LIMIT 10000000u
#define HEAP_LIMIT_KIB (64u * 1024u)

void gc_pieces_free(gc_pieces *p) {
    free(p->buf);
    free(p->v);
    memset(p, 0, sizeof *p);
}

static void pieces_clear(gc_pieces *p) { p->len = p->n = 0; }

static bool pieces_push(gc_pieces *p, const char *s, size_t len, const char *prefix, size_t plen) {
    if (len + plen == 0) return true;
    size_t need = p->len + plen + len;
    if (!GC_VEC_RESERVE(p->buf, p->cap, need) || !GC_VEC_RESERVE(p->v, p->cap_n, p->n + 1)) return false;
    p->v[p->n].off = p->len;
    p->v[p->n].len = plen + len;
    p->n++;
    if (plen) memcpy(p->buf + p->len, prefix, plen);
    memcpy(p->buf + p->len + plen, s, len);
    p->len = need;
    return true;
}

gc_pretok *gc_pretok_new(void) { return calloc(1, sizeof(gc_pretok)); }

void gc_pretok_free(gc_pretok *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) pcre2_code_free(p->steps[i].re);
    free(p->steps);
    free(p);
}

static gc_status compile(const char *pattern, size_t len, bool literal, const char *what, pcre2_code **out) {
    int err = 0;
    PCRE2_SIZE erroff = 0;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &err, &erroff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return gc_fail(GC_ERR_UNSUPPORTED, "%s: regex does not compile at offset %zu: %s", what, (size_t)erroff,
                       (const char *)msg);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // the interpreter is the fallback
    *out = re;
    return GC_OK;
}

static gc_status add_step(gc_pretok *p, step st) {
    if (p->has_bytelevel) {
        pcre2_code_free(st.re);
        return gc_fail(GC_ERR_UNSUPPORTED, "pre-tokenizer: a step after ByteLevel is not supported");
    }
    step *ns = realloc(p->steps, (p->n + 1) * sizeof *ns);
    if (!ns) {
        pcre2_code_free(st.re);
        return gc_fail(GC_ERR_OOM, "out of memory building the pre-tokenizer");
    }
    p->steps = ns;
    p->steps[p->n++] = st;
    if (st.kind == STEP_BYTELEVEL) p->has_bytelevel = true;
    return GC_OK;
}

gc_status gc_pretok_add_split(gc_pretok *p, const char *pattern, size_t len, bool literal,
                              gc_split_behavior behavior, const char *what) {
    step st = {.kind = STEP_SPLIT, .behavior = behavior};
    GC_TRY(compile(pattern, len, literal, what, &st.re));
    return add_step(p, st);
}

gc_status gc_pretok_add_digits(gc_pretok *p, bool individual) {
    const char *re = individual ? "\\p{N}" : "\\p{N}+";
    return gc_pretok_add_split(p, re, strlen(re), false, GC_SPLIT_ISOLATED, "Digits");
}

gc_status gc_pretok_add_bytelevel(gc_pretok *p, bool add_prefix_space, bool use_regex) {
    step st = {.kind = STEP_BYTELEVEL, .behavior = GC_SPLIT_ISOLATED, .add_prefix_space = add_prefix_space};
    if (use_regex) GC_TRY(compile(GC_RE_GPT2, strlen(GC_RE_GPT2), false, "ByteLevel", &st.re));
    return add_step(p, st);
}

bool gc_pretok_has_bytelevel(const gc_pretok *p) { return p->has_bytelevel; }

gc_status gc_pretok_preset(const char *name, gc_pretok **out, bool *nfc, bool *ignore_merges) {
    *out = NULL;
    *nfc = false;
    *ignore_merges = false;
    const char *split = NULL;
    bool digits = false, bl_regex = false;
    if (strcmp(name, "gpt2") == 0) {
        bl_regex = true;
    } else if (strcmp(name, "smollm") == 0) {
        digits = bl_regex = true;  // SmolLM2 / StarCoder2: Digits(individual) + ByteLevel(use_regex)
    } else if (strcmp(name, "qwen2") == 0 || strcmp(name, "deepseek-r1-qwen") == 0) {
        split = GC_RE_QWEN2;
        *nfc = true;
    } else if (strcmp(name, "llama-bpe") == 0) {
        split = GC_RE_LLAMA3;
        *ignore_merges = true;
    } else {
        return gc_fail(GC_ERR_UNSUPPORTED, "tokenizer.ggml.pre = \"%s\" is not supported "
                                           "(known: gpt2, smollm, qwen2, deepseek-r1-qwen, llama-bpe)", name);
    }
    gc_pretok *p = gc_pretok_new();
    if (!p) return gc_fail(GC_ERR_OOM, "out of memory building the pre-tokenizer");
    gc_status s = GC_OK;
    if (split) s = gc_pretok_add_split(p, split, strlen(split), false, GC_SPLIT_ISOLATED, name);
    if (s == GC_OK && digits) s = gc_pretok_add_digits(p, true);
    if (s == GC_OK) s = gc_pretok_add_bytelevel(p, false, bl_regex);
    if (s != GC_OK) {
        gc_pretok_free(p);
        return s;
    }
    *out = p;
    return GC_OK;
}

gc_pretok_scratch *gc_pretok_scratch_new(const gc_pretok *p) {
    gc_pretok_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->md = pcre2_match_data_create(8, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->md || !s->mctx) {
        gc_pretok_scratch_free(s);
        return NULL;
    }
    pcre2_set_match_limit(s->mctx, MATCH_LIMIT);
    pcre2_set_heap_limit(s->mctx, HEAP_LIMIT_KIB);
    return s;
}

void gc_pretok_scratch_free(gc_pretok_scratch *s) {
    if (!s) return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    gc_pieces_free(&s->a);
    gc_pieces_free(&s->b);
    free(s);
}

// One regex search from `start`. Returns 1 and the match bounds, 0 for no
// match, or fails. The subject was validated as UTF-8 by the caller.
static gc_status search(const pcre2_code *re, gc_pretok_scratch *s, const char *subj, size_t len, size_t start,
                        int *found, size_t *mb, size_t *me) {
    int rc = pcre2_match(re, (PCRE2_SPTR)subj, len, start, PCRE2_NO_UTF_CHECK, s->md, s->mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(re, (PCRE2_SPTR)subj, len, start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, s->md, s->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) {
        *found = 0;
        return GC_OK;
    }
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return gc_fail(GC_ERR_UNSUPPORTED, "pre-tokenizer regex failed on a %zu-byte piece: %s", len,
                       (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
    if (ov[0] < start || ov[1] < ov[0] || ov[1] > len)  // \K games: refuse rather than loop
        return gc_fail(GC_ERR_UNSUPPORTED, "pre-tokenizer regex reported a match outside the searched text");
    *found = 1;
    *mb = ov[0];
    *me = ov[1];
    return GC_OK;
}

// Applies one Split-like step to a piece, appending the results to out.
static gc_status split_piece(const step *st, gc_pretok_scratch *s, const char *subj, size_t len, gc_pieces *out) {
    size_t pos = 0, last = 0;  // pos: where the next search starts; last: end of the last emitted text
    while (pos <= len) {
        int found;
        size_t mb, me;
        GC_TRY(search(st->re, s, subj, len, pos, &found, &mb, &me));
        if (!found) break;
        if (me == mb) {  // empty match: nothing to cut here, step over one character
            if (mb >= len) break;
            pos = mb + gc_utf8_lead_len((unsigned char)subj[mb]);
            continue;
        }
        if (mb > last && !pieces_push(out, subj + last, mb - last, NULL, 0)) goto oom;
        if (st->behavior == GC_SPLIT_ISOLATED && !pieces_push(out, subj + mb, me - mb, NULL, 0)) goto oom;
        last = pos = me;
    }
    if (last < len && !pieces_push(out, subj + last, len - last, NULL, 0)) goto oom;
    return GC_OK;
oom:
    return gc_fail(GC_ERR_OOM, "out of memory pre-tokenizing");
}

gc_status gc_pretok_run(const gc_pretok *p, gc_pretok_scratch *s, const char *text, size_t len,
                        const gc_pieces **out) {
    gc_pieces *cur = &s->a, *next = &s->b;
    pieces_clear(cur);
    if (!pieces_push(cur, text, len, NULL, 0)) return gc_fail(GC_ERR_OOM, "out of memory pre-tokenizing");
    for (size_t i = 0; i < p->n; i++) {
        const step *st = &p->steps[i];
        pieces_clear(next);
        for (size_t j = 0; j < cur->n; j++) {
            const char *subj = cur->buf + cur->v[j].off;
            size_t n = cur->v[j].len;
            if (st->kind == STEP_BYTELEVEL && st->add_prefix_space && subj[0] != ' ') {
                // HF prepends the space to the piece before the GPT-2 split.
                if (!st->re) {
                    if (!pieces_push(next, subj, n, " ", 1)) return gc_fail(GC_ERR_OOM, "out of memory pre-tokenizing");
                    continue;
                }
                gc_pieces one = {0};
                if (!pieces_push(&one, subj, n, " ", 1)) {
                    gc_pieces_free(&one);
                    return gc_fail(GC_ERR_OOM, "out of memory pre-tokenizing");
                }
                gc_status r = split_piece(st, s, one.buf, one.len, next);
                gc_pieces_free(&one);
                GC_TRY(r);
                continue;
            }
            if (!st->re) {
                if (!pieces_push(next, subj, n, NULL, 0)) return gc_fail(GC_ERR_OOM, "out of memory pre-tokenizing");
                continue;
            }
            GC_TRY(split_piece(st, s, subj, n, next));
        }
        gc_pieces *t = cur;
        cur = next;
        next = t;
    }
    *out = cur;
    return GC_OK;
}
