// Streaming detokenizer: token bytes are appended to a pending tail and only
// whole UTF-8 characters leave it. Invalid bytes become U+FFFD, one per
// maximal subpart (the Unicode / WHATWG rule, as Python and Rust apply it).
#include "tokenizer/tokenizer.h"
#include "core/utf8.h"
#include "core/vec.h"
#include <stdlib.h>
#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD";

struct gc_detok {
    const gc_tokenizer *t;
    bool skip_special;
    uint8_t pend[4];  // an incomplete but so far valid character (at most 3 bytes)
    size_t npend;
    char *out;
    size_t len, cap;
    uint8_t *in;  // pending + new bytes
    size_t in_cap;
};

gc_detok *gc_detok_new(const gc_tokenizer *t, bool skip_special) {
    gc_detok *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->t = t;
    d->skip_special = skip_special;
    d->cap = 64;
    d->out = malloc(d->cap);
    if (!d->out) {
        free(d);
        return NULL;
    }
    d->out[0] = 0;
    return d;
}

void gc_detok_free(gc_detok *d) {
    if (!d) return;
    free(d->out);
    free(d->in);
    free(d);
}

// On OOM the output is truncated rather than failing: the API has no status.
static void emit(gc_detok *d, const void *s, size_t n) {
    if (n == 0) return;
    if (!GC_VEC_RESERVE(d->out, d->cap, d->len + n + 1)) return;  // n is at most a few tokens' bytes
    memcpy(d->out + d->len, s, n);
    d->len += n;
    d->out[d->len] = 0;
}

// Emits the complete characters of in[0..n); keeps a valid incomplete tail
// pending unless `final`.
static void process(gc_detok *d, const uint8_t *in, size_t n, bool final) {
    size_t i = 0, run = 0;  // [run, i) is valid text not yet emitted
    d->npend = 0;
    if (n == 0) return;
    while (i < n) {
        if (in[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = gc_utf8_next((const char *)in + i, n - i, NULL);
        if (k) {
            i += k;
            continue;
        }
        bool truncated;
        k = gc_utf8_subpart((const char *)in + i, n - i, &truncated);
        if (truncated && !final) {  // incomplete at the end: wait for more
            emit(d, in + run, i - run);
            memcpy(d->pend, in + i, k);
            d->npend = k;
            return;
        }
        emit(d, in + run, i - run);
        emit(d, REPLACEMENT, 3);
        i += k;
        run = i;
    }
    emit(d, in + run, n - run);
}

static size_t feed(gc_detok *d, const uint8_t *bytes, size_t n, bool final, const char **out) {
    d->len = 0;
    d->out[0] = 0;
    size_t total = d->npend + n;
    if (!GC_VEC_RESERVE(d->in, d->in_cap, total)) {
        *out = d->out;
        return 0;
    }
    if (total) {
        memcpy(d->in, d->pend, d->npend);
        if (n) memcpy(d->in + d->npend, bytes, n);
    }
    process(d, d->in, total, final);
    *out = d->out;
    return d->len;
}

size_t gc_detok_push(gc_detok *d, int32_t id, const char **out) {
    const gc_tokenizer *t = d->t;
    if (id < 0 || id >= t->n) return feed(d, (const uint8_t *)REPLACEMENT, 3, false, out);
    const gc_tok_entry *e = &t->tok[id];
    if (d->skip_special && (e->flags & GC_TOK_SPECIAL)) return feed(d, NULL, 0, false, out);
    return feed(d, e->bytes, e->n_bytes, false, out);
}

size_t gc_detok_flush(gc_detok *d, const char **out) { return feed(d, NULL, 0, true, out); }
