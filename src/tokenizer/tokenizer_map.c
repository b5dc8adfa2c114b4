#include "tokenizer/tokenizer_map.h"
#include <stdlib.h>
#include <string.h>

// FNV-1a; token strings are short, so a simple byte hash is enough.
uint32_t gc_tok_hash(const void *key, size_t len) {
    const uint8_t *p = key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static size_t cap_for(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 2) cap <<= 1;
    return cap;
}

bool gc_tok_strmap_init(gc_tok_strmap *m, size_t expected) {
    m->cap = cap_for(expected);
    m->count = 0;
    m->slots = calloc(m->cap, sizeof *m->slots);
    return m->slots != NULL;
}

void gc_tok_strmap_free(gc_tok_strmap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static gc_tok_strslot *str_find(gc_tok_strslot *slots, size_t cap, const char *key, size_t len, uint32_t h) {
    size_t i = h & (cap - 1);
    for (;;) {
        gc_tok_strslot *s = &slots[i];
        if (!s->key) return s;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s;
        i = (i + 1) & (cap - 1);
    }
}

static bool str_grow(gc_tok_strmap *m) {
    size_t ncap = m->cap * 2;
    gc_tok_strslot *ns = calloc(ncap, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < m->cap; i++) {
        gc_tok_strslot *s = &m->slots[i];
        if (s->key) *str_find(ns, ncap, s->key, s->len, s->hash) = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return true;
}

bool gc_tok_strmap_put(gc_tok_strmap *m, const char *key, size_t len, int32_t val, bool *inserted,
                       int32_t *existing) {
    if ((m->count + 1) * 2 > m->cap && !str_grow(m)) return false;
    uint32_t h = gc_tok_hash(key, len);
    gc_tok_strslot *s = str_find(m->slots, m->cap, key, len, h);
    if (s->key) {
        if (existing) *existing = s->val;
        if (inserted) *inserted = false;
        return true;
    }
    s->key = key ? key : "";
    s->len = (uint32_t)len;
    s->hash = h;
    s->val = val;
    m->count++;
    if (inserted) *inserted = true;
    return true;
}

int32_t gc_tok_strmap_get(const gc_tok_strmap *m, const char *key, size_t len) {
    if (!m->slots || len > UINT32_MAX) return -1;
    const gc_tok_strslot *s = str_find(m->slots, m->cap, key, len, gc_tok_hash(key, len));
    return s->key ? s->val : -1;
}

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

// Fibonacci hashing spreads the structured (a, b) keys.
static size_t pair_slot(uint64_t key, size_t cap) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

bool gc_tok_pairmap_init(gc_tok_pairmap *m, size_t expected) {
    m->cap = cap_for(expected);
    m->count = 0;
    m->slots = malloc(m->cap * sizeof *m->slots);
    if (!m->slots) return false;
    for (size_t i = 0; i < m->cap; i++) m->slots[i].key = UINT64_MAX;
    return true;
}

void gc_tok_pairmap_free(gc_tok_pairmap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static gc_tok_pairslot *pair_find(gc_tok_pairslot *slots, size_t cap, uint64_t key) {
    size_t i = pair_slot(key, cap);
    while (slots[i].key != UINT64_MAX && slots[i].key != key) i = (i + 1) & (cap - 1);
    return &slots[i];
}

bool gc_tok_pairmap_put(gc_tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
    if ((m->count + 1) * 2 > m->cap) {
        size_t ncap = m->cap * 2;
        gc_tok_pairslot *ns = malloc(ncap * sizeof *ns);
        if (!ns) return false;
        for (size_t i = 0; i < ncap; i++) ns[i].key = UINT64_MAX;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].key != UINT64_MAX) *pair_find(ns, ncap, m->slots[i].key) = m->slots[i];
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    uint64_t key = pair_key(a, b);
    gc_tok_pairslot *s = pair_find(m->slots, m->cap, key);
    if (s->key == UINT64_MAX) m->count++;
    s->key = key;
    s->rank = rank;
    s->id = id;
    return true;
}

bool gc_tok_pairmap_get(const gc_tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *id) {
    if (!m->slots) return false;
    const gc_tok_pairslot *s = pair_find(m->slots, m->cap, pair_key(a, b));
    if (s->key == UINT64_MAX) return false;
    *rank = s->rank;
    *id = s->id;
    return true;
}
