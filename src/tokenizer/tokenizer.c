// Tokenizer core: the builder the loaders fill, byte-level BPE merging,
// decode and the accessors. The encode pipeline is in tokenizer_encode.c.
#define _GNU_SOURCE
#include "tokenizer/tokenizer.h"
#include "core/error.h"
#include "core/vec.h"
#include "tokenizer/bytelevel.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ---- arena ----

typedef struct gc_tok_chunk {
    struct gc_tok_chunk *next;
    size_t used, cap;
    char data[];
} gc_tok_chunk;

char *gc_tok_arena_dup(gc_tok_arena *a, const void *s, size_t len) {
    gc_tok_chunk *c = a->head;
    if (!c || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > (1u << 20) ? len + 1 : (1u << 20);
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    char *p = c->data + c->used;
    if (len) memcpy(p, s, len);
    p[len] = 0;
    c->used += len + 1;
    return p;
}

void gc_tok_arena_free(gc_tok_arena *a) {
    for (gc_tok_chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    a->head = NULL;
}

// ---- builder ----

gc_status gc_tok_new(const char *src, int64_t cap, size_t n_merges, gc_tokenizer **out) {
    *out = NULL;
    if (!src) src = "<memory>";
    if (cap <= 0) return gc_fail(GC_ERR_FORMAT, "%s: the vocabulary is empty", src);
    if (cap > INT32_MAX) return gc_fail(GC_ERR_FORMAT, "%s: %lld tokens is too many", src, (long long)cap);
    gc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return gc_fail(GC_ERR_OOM, "out of memory loading %s", src);
    t->cap = (int32_t)cap;
    t->unk_id = t->bos = t->eos = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    t->src = strdup(src);
    t->tok = calloc((size_t)cap, sizeof *t->tok);
    if (!t->src || !t->tok || !gc_tok_strmap_init(&t->vocab, (size_t)cap) || !gc_tok_strmap_init(&t->added, 64) ||
        !gc_tok_pairmap_init(&t->merges, n_merges)) {
        gc_tokenizer_free(t);
        return gc_fail(GC_ERR_OOM, "out of memory loading %s", src);
    }
    *out = t;
    return GC_OK;
}

static gc_status check_id(const gc_tokenizer *t, int64_t id, const char *field) {
    if (id < 0 || id >= t->cap)
        return gc_fail(GC_ERR_FORMAT, "%s: %s: id %lld out of range [0, %d)", t->src, field, (long long)id, t->cap);
    return GC_OK;
}

gc_status gc_tok_set_model_token(gc_tokenizer *t, int64_t id, const char *s, size_t len, const char *field) {
    GC_TRY(check_id(t, id, field));
    gc_tok_entry *e = &t->tok[id];
    if (e->str)
        return gc_fail(GC_ERR_FORMAT, "%s: %s: duplicate id %lld (already \"%s\")", t->src, field, (long long)id, e->str);
    if (len > UINT32_MAX) return gc_fail(GC_ERR_FORMAT, "%s: %s: token too long", t->src, field);
    char *copy = gc_tok_arena_dup(&t->arena, s, len);
    bool inserted;
    int32_t prev = -1;
    if (!copy || !gc_tok_strmap_put(&t->vocab, copy, len, (int32_t)id, &inserted, &prev))
        return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
    if (!inserted)
        return gc_fail(GC_ERR_FORMAT, "%s: %s: duplicate token string (also id %d)", t->src, field, prev);
    e->str = copy;
    e->str_len = (uint32_t)len;
    e->flags |= GC_TOK_MODEL;
    return GC_OK;
}

gc_status gc_tok_set_added(gc_tokenizer *t, int64_t id, const char *s, size_t len, uint8_t flags,
                           const char *field) {
    GC_TRY(check_id(t, id, field));
    if (len == 0) return gc_fail(GC_ERR_FORMAT, "%s: %s: empty content", t->src, field);
    if (len > UINT32_MAX) return gc_fail(GC_ERR_FORMAT, "%s: %s: token too long", t->src, field);
    gc_tok_entry *e = &t->tok[id];
    int32_t in_vocab = gc_tok_strmap_get(&t->vocab, s, len);
    if (in_vocab >= 0 && in_vocab != id)
        return gc_fail(GC_ERR_FORMAT, "%s: %s: content is vocab token %d, not id %lld", t->src, field, in_vocab,
                       (long long)id);
    if (e->str && in_vocab != id)
        return gc_fail(GC_ERR_FORMAT, "%s: %s: duplicate id %lld (already \"%s\")", t->src, field, (long long)id, e->str);
    const char *copy = e->str;
    if (!copy && !(copy = gc_tok_arena_dup(&t->arena, s, len)))
        return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
    bool inserted;
    int32_t prev = -1;
    if (!gc_tok_strmap_put(&t->added, copy, len, (int32_t)id, &inserted, &prev))
        return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
    if (!inserted) return gc_fail(GC_ERR_FORMAT, "%s: %s: duplicate added token (also id %d)", t->src, field, prev);
    e->str = copy;
    e->str_len = (uint32_t)len;
    e->flags |= (uint8_t)(flags | GC_TOK_ADDED);
    return GC_OK;
}

gc_status gc_tok_add_merge(gc_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int32_t rank,
                           const char *field) {
    int32_t ia = gc_tok_strmap_get(&t->vocab, a, alen);
    if (ia < 0) return gc_fail(GC_ERR_FORMAT, "%s: %s: token \"%.*s\" is not in the vocab", t->src, field, (int)alen, a);
    int32_t ib = gc_tok_strmap_get(&t->vocab, b, blen);
    if (ib < 0) return gc_fail(GC_ERR_FORMAT, "%s: %s: token \"%.*s\" is not in the vocab", t->src, field, (int)blen, b);
    char small[256];
    char *cat = alen + blen <= sizeof small ? small : malloc(alen + blen);
    if (!cat) return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
    memcpy(cat, a, alen);
    memcpy(cat + alen, b, blen);
    int32_t ic = gc_tok_strmap_get(&t->vocab, cat, alen + blen);
    if (cat != small) free(cat);
    if (ic < 0)
        return gc_fail(GC_ERR_FORMAT, "%s: %s: merged token \"%.*s%.*s\" is not in the vocab", t->src, field, (int)alen,
                       a, (int)blen, b);
    if (!gc_tok_pairmap_put(&t->merges, ia, ib, rank, ic)) return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
    return GC_OK;
}

// Builds one matching class: entries bucketed by first byte, longest first.
static gc_status build_index(gc_tokenizer *t, gc_tok_added_index *ix, bool normalized) {
    size_t count = 0;
    for (int32_t i = 0; i < t->n; i++) {
        uint8_t f = t->tok[i].flags;
        if ((f & GC_TOK_ADDED) && !!(f & GC_TOK_NORMALIZED) == normalized) count++;
    }
    memset(ix->start, 0, sizeof ix->start);
    if (!count) return GC_OK;
    ix->ids = malloc(count * sizeof *ix->ids);
    ix->key = malloc(count * sizeof *ix->key);
    ix->key_len = malloc(count * sizeof *ix->key_len);
    if (!ix->ids || !ix->key || !ix->key_len) return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
    // Keys first (unsorted), then a stable insertion sort into buckets:
    // added-token lists are short (tens), so quadratic work is fine.
    size_t k = 0;
    for (int32_t i = 0; i < t->n; i++) {
        gc_tok_entry *e = &t->tok[i];
        if (!(e->flags & GC_TOK_ADDED) || !!(e->flags & GC_TOK_NORMALIZED) != normalized) continue;
        const char *key = e->str;
        size_t klen = e->str_len;
        if (normalized && t->nfc) {
            utf8proc_uint8_t *nf = NULL;
            utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)e->str, e->str_len, &nf,
                                              UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (r >= 0) {
                key = gc_tok_arena_dup(&t->arena, nf, (size_t)r);
                klen = (size_t)r;
            }
            free(nf);
            if (!key) return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
        }
        if (klen == 0) continue;
        size_t j = k++;
        uint8_t fb = (uint8_t)key[0];
        while (j > 0) {
            uint8_t pb = (uint8_t)ix->key[j - 1][0];
            if (pb < fb || (pb == fb && ix->key_len[j - 1] >= klen)) break;
            ix->ids[j] = ix->ids[j - 1];
            ix->key[j] = ix->key[j - 1];
            ix->key_len[j] = ix->key_len[j - 1];
            j--;
        }
        ix->ids[j] = i;
        ix->key[j] = key;
        ix->key_len[j] = (uint32_t)klen;
    }
    for (size_t j = 0; j < k; j++) ix->start[(uint8_t)ix->key[j][0] + 1]++;
    for (int b = 0; b < 256; b++) ix->start[b + 1] += ix->start[b];
    return GC_OK;
}

gc_status gc_tok_finish(gc_tokenizer *t) {
    int32_t n = 0;
    for (int32_t i = 0; i < t->cap; i++)
        if (t->tok[i].str) n = i + 1;
    for (int32_t i = 0; i < n; i++)
        if (!t->tok[i].str)
            return gc_fail(GC_ERR_FORMAT, "%s: token ids are not contiguous: id %d is missing (largest id %d)", t->src, i,
                           n - 1);
    t->n = n;
    if (!n) return gc_fail(GC_ERR_FORMAT, "%s: the vocabulary is empty", t->src);
    if (t->ignore_merges && !gc_tok_strmap_init(&t->word, (size_t)n))
        return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
    uint8_t *buf = NULL;
    size_t buf_cap = 0;
    for (int32_t i = 0; i < n; i++) {
        gc_tok_entry *e = &t->tok[i];
        e->bytes = (const uint8_t *)e->str;
        e->n_bytes = e->str_len;
        // HF's ByteLevel decoder maps every token, added ones included,
        // through the alphabet; a token with a character outside it is
        // emitted as its UTF-8 text.
        if (e->str_len > buf_cap) {
            free(buf);
            buf_cap = e->str_len * 2;
            if (!(buf = malloc(buf_cap))) return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
        }
        size_t nb;
        if (!gc_bytelevel_decode(e->str, e->str_len, buf, &nb)) continue;
        const char *copy = gc_tok_arena_dup(&t->arena, buf, nb);
        if (!copy) {
            free(buf);
            return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
        }
        e->bytes = (const uint8_t *)copy;
        e->n_bytes = (uint32_t)nb;
        if (t->ignore_merges && nb && (e->flags & GC_TOK_MODEL) && !gc_tok_strmap_put(&t->word, copy, nb, i, NULL, NULL)) {
            free(buf);
            return gc_fail(GC_ERR_OOM, "out of memory loading %s", t->src);
        }
    }
    free(buf);
    for (int b = 0; b < 256; b++) {
        char ch[2];
        size_t l = gc_bytelevel_encode_byte((uint8_t)b, ch);
        t->byte_id[b] = gc_tok_strmap_get(&t->vocab, ch, l);
    }
    GC_TRY(build_index(t, &t->idx_raw, false));
    GC_TRY(build_index(t, &t->idx_norm, true));
    t->has_added = t->added.count > 0;
    return GC_OK;
}

// ---- BPE ----

typedef struct gc_tok_merge {
    int32_t rank, pos, id;
} gc_tok_merge;

// Heap order of HF's merge queue: lowest rank first, then leftmost.
static bool merge_before(const gc_tok_merge *a, const gc_tok_merge *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(gc_tok_merge *h, size_t *n, gc_tok_merge m) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_before(&m, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = m;
}

static gc_tok_merge heap_pop(gc_tok_merge *h, size_t *n) {
    gc_tok_merge top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && merge_before(&h[c + 1], &h[c])) c++;
        if (!merge_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

bool gc_tok_ids_push(gc_tok_ids *v, int32_t id) {
    if (!GC_VEC_RESERVE(v->v, v->cap, v->n + 1)) return false;
    v->v[v->n++] = id;
    return true;
}

void gc_tok_bpe_scratch_free(gc_tok_bpe_scratch *s) {
    free(s->sym);
    free(s->prev);
    free(s->next);
    free(s->heap);
    memset(s, 0, sizeof *s);
}

static bool bpe_reserve(gc_tok_bpe_scratch *s, size_t n) {
    if (n > s->cap) {
        size_t cap = n < 64 ? 64 : n;
        int32_t *a = realloc(s->sym, cap * sizeof *a);
        if (a) s->sym = a;
        int32_t *b = realloc(s->prev, cap * sizeof *b);
        if (b) s->prev = b;
        int32_t *c = realloc(s->next, cap * sizeof *c);
        if (c) s->next = c;
        if (!a || !b || !c) return false;
        s->cap = cap;
    }
    // Each merge pushes at most two new candidates onto the initial n - 1.
    size_t hcap = 3 * n + 1;
    if (hcap > s->heap_cap) {
        gc_tok_merge *h = realloc(s->heap, hcap * sizeof *h);
        if (!h) return false;
        s->heap = h;
        s->heap_cap = hcap;
    }
    return true;
}

gc_status gc_tok_bpe(const gc_tokenizer *t, gc_tok_bpe_scratch *s, const uint8_t *w, size_t n, gc_tok_ids *out) {
    if (n == 0) return GC_OK;
    if (n > INT32_MAX) return gc_fail(GC_ERR_INVALID_ARG, "encode: piece of %zu bytes is too long", n);
    if (t->ignore_merges) {
        int32_t id = gc_tok_strmap_get(&t->word, (const char *)w, n);
        if (id >= 0) return gc_tok_ids_push(out, id) ? GC_OK : gc_fail(GC_ERR_OOM, "out of memory encoding");
    }
    if (!bpe_reserve(s, n)) return gc_fail(GC_ERR_OOM, "out of memory encoding");
    // Initial symbols: one per byte. A byte missing from the vocab becomes
    // unk (runs fused if fuse_unk) or is dropped, as HF does.
    int32_t m = 0;
    bool last_unk = false;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[w[i]];
        if (id < 0) {
            if (t->unk_id < 0) continue;
            if (last_unk && t->fuse_unk) continue;
            id = t->unk_id;
            last_unk = true;
        } else {
            last_unk = false;
        }
        s->sym[m] = id;
        s->prev[m] = m - 1;
        s->next[m] = m + 1;
        m++;
    }
    if (m == 0) return GC_OK;
    s->next[m - 1] = -1;
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < m; i++) {
        gc_tok_merge mg = {.pos = i};
        if (gc_tok_pairmap_get(&t->merges, s->sym[i], s->sym[i + 1], &mg.rank, &mg.id)) heap_push(s->heap, &hn, mg);
    }
    while (hn) {
        gc_tok_merge top = heap_pop(s->heap, &hn);
        int32_t p = top.pos;
        if (s->sym[p] < 0) continue;  // absorbed into its left neighbour
        int32_t q = s->next[p];
        if (q < 0) continue;
        int32_t rank, id;
        // Stale entry: one side was merged since this candidate was queued.
        if (!gc_tok_pairmap_get(&t->merges, s->sym[p], s->sym[q], &rank, &id) || id != top.id) continue;
        s->sym[p] = id;
        s->sym[q] = -1;
        s->next[p] = s->next[q];
        if (s->next[q] >= 0) s->prev[s->next[q]] = p;
        gc_tok_merge mg;
        if (s->prev[p] >= 0 && gc_tok_pairmap_get(&t->merges, s->sym[s->prev[p]], id, &mg.rank, &mg.id)) {
            mg.pos = s->prev[p];
            heap_push(s->heap, &hn, mg);
        }
        if (s->next[p] >= 0 && gc_tok_pairmap_get(&t->merges, id, s->sym[s->next[p]], &mg.rank, &mg.id)) {
            mg.pos = p;
            heap_push(s->heap, &hn, mg);
        }
    }
    for (int32_t i = 0; i >= 0; i = s->next[i])
        if (!gc_tok_ids_push(out, s->sym[i])) return gc_fail(GC_ERR_OOM, "out of memory encoding");
    return GC_OK;
}

// ---- decode and accessors ----

gc_status gc_tokenizer_decode(const gc_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, char **text,
                              size_t *len) {
    *text = NULL;
    *len = 0;
    if (n && !ids) return gc_fail(GC_ERR_INVALID_ARG, "decode: ids is NULL");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n)
            return gc_fail(GC_ERR_INVALID_ARG, "decode: ids[%zu] = %d is out of range [0, %d)", i, ids[i], t->n);
        total += t->tok[ids[i]].n_bytes;
    }
    char *buf = malloc(total + 1);
    if (!buf) return gc_fail(GC_ERR_OOM, "out of memory decoding %zu tokens", n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const gc_tok_entry *e = &t->tok[ids[i]];
        if (skip_special && (e->flags & GC_TOK_SPECIAL)) continue;
        memcpy(buf + k, e->bytes, e->n_bytes);
        k += e->n_bytes;
    }
    buf[k] = 0;
    *text = buf;
    *len = k;
    return GC_OK;
}

int64_t gc_tokenizer_vocab_size(const gc_tokenizer *t) { return t->n; }

int32_t gc_tokenizer_find(const gc_tokenizer *t, const char *token) {
    if (!token) return -1;
    size_t len = strlen(token);
    int32_t id = gc_tok_strmap_get(&t->added, token, len);
    return id >= 0 ? id : gc_tok_strmap_get(&t->vocab, token, len);
}

bool gc_tokenizer_is_special(const gc_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n && (t->tok[id].flags & GC_TOK_SPECIAL);
}

const char *gc_tokenizer_token_bytes(const gc_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n) return NULL;
    if (len) *len = t->tok[id].n_bytes;
    return (const char *)t->tok[id].bytes;
}

int32_t gc_tokenizer_bos(const gc_tokenizer *t) { return t->bos; }
int32_t gc_tokenizer_eos(const gc_tokenizer *t) { return t->eos; }
const char *gc_tokenizer_chat_template(const gc_tokenizer *t) { return t->chat_template; }

static void index_free(gc_tok_added_index *ix) {
    free(ix->ids);
    free(ix->key);
    free(ix->key_len);
}

void gc_tokenizer_free(gc_tokenizer *t) {
    if (!t) return;
    free(t->src);
    free(t->tok);
    gc_tok_strmap_free(&t->vocab);
    gc_tok_strmap_free(&t->added);
    gc_tok_strmap_free(&t->word);
    gc_tok_pairmap_free(&t->merges);
    gc_pretok_free(t->pre);
    index_free(&t->idx_raw);
    index_free(&t->idx_norm);
    free(t->chat_template);
    gc_tok_arena_free(&t->arena);
    free(t);
}
